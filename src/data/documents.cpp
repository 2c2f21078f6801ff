#include "data/documents.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\v\f") == std::string::npos;
}

// Opens `path` for streaming; a missing or empty file is an error here so every caller reports it
// the same way.
std::ifstream open_input(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_file(path, std::string("cannot open: ") + std::strerror(errno));
  if (in.peek() == std::ifstream::traits_type::eof()) fail_file(path, "empty file");
  return in;
}

}  // namespace

void for_each_record(const std::string& path,
                     const std::function<void(const nlohmann::json&, int64_t)>& fn) {
  std::ifstream in = open_input(path);
  std::string line;
  int64_t line_no = 0, records = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // files from Windows
    if (is_blank(line)) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number overflow
      // nlohmann's message starts with "[json.exception.parse_error.101] parse error at line 1,
      // column N:"; keep only the column and the reason since the line is ours.
      std::string what = e.what();
      auto at = what.find("column");
      fail_file(path, "line " + std::to_string(line_no) + ": invalid JSON (" +
                          (at == std::string::npos ? what : what.substr(at)) + ")");
    }
    if (!record.is_object())
      fail_file(path, "line " + std::to_string(line_no) + ": not a JSON object");
    ++records;
    fn(record, line_no);
  }
  if (records == 0) fail_file(path, "no JSON records");
}

namespace {

const std::string& string_field(const nlohmann::json& record, const std::string& field,
                                const std::string& path, int64_t line_no) {
  auto it = record.find(field);
  if (it == record.end())
    fail_file(path, "line " + std::to_string(line_no) + ": no field \"" + field + "\"");
  if (!it->is_string())
    fail_file(path, "line " + std::to_string(line_no) + ": field \"" + field + "\" is a " +
                        it->type_name() + ", not a string");
  return it->get_ref<const std::string&>();
}

// A template split once into literal text and field names, so each record only concatenates.
// `{name}` is a field when name is a plain identifier; any other brace is literal text, which
// keeps templates containing JSON or LaTeX usable.
struct CompiledTemplate {
  std::vector<std::string> literals;  // literals.size() == fields.size() + 1
  std::vector<std::string> fields;
};

CompiledTemplate compile_template(const std::string& tpl) {
  auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  };
  CompiledTemplate out;
  std::string literal;
  for (size_t i = 0; i < tpl.size();) {
    if (tpl[i] == '{') {
      size_t j = i + 1;
      while (j < tpl.size() && is_name_char(tpl[j])) ++j;
      if (j < tpl.size() && tpl[j] == '}' && j > i + 1) {
        out.literals.push_back(literal);
        literal.clear();
        out.fields.push_back(tpl.substr(i + 1, j - i - 1));
        i = j + 1;
        continue;
      }
    }
    literal += tpl[i++];
  }
  out.literals.push_back(literal);
  if (out.fields.empty()) fail("template \"" + tpl + "\" names no {field}");
  return out;
}

void for_each_jsonl_document(const std::string& path, const DocFormat& format,
                             const std::function<void(const std::string&)>& fn) {
  if (format.template_.empty() && format.fields.empty()) fail("no JSONL fields given");
  const bool templated = !format.template_.empty();
  const CompiledTemplate tpl = templated ? compile_template(format.template_) : CompiledTemplate{};
  std::string text;
  for_each_record(path, [&](const nlohmann::json& record, int64_t line_no) {
    text.clear();
    if (templated) {
      for (size_t k = 0; k < tpl.fields.size(); ++k)
        text += tpl.literals[k] + string_field(record, tpl.fields[k], path, line_no);
      text += tpl.literals.back();
    } else {
      for (size_t k = 0; k < format.fields.size(); ++k) {
        if (k) text += format.field_sep;
        text += string_field(record, format.fields[k], path, line_no);
      }
    }
    fn(text);
  });
}

void for_each_text_document(const std::string& path, const DocFormat& format,
                            const std::function<void(const std::string&)>& fn) {
  if (!format.split_blank_lines) {
    open_input(path);  // same missing/empty errors as the streaming path
    fn(read_file(path));
    return;
  }
  std::ifstream in = open_input(path);
  std::string line, block;
  int64_t blocks = 0;
  auto flush = [&] {
    if (block.empty()) return;
    ++blocks;
    fn(block);
    block.clear();
  };
  while (std::getline(in, line)) {
    if (is_blank(line)) {
      flush();
      continue;
    }
    if (!block.empty()) block += '\n';
    block += line;
  }
  flush();
  if (blocks == 0) fail_file(path, "no text, only blank lines");
}

}  // namespace

bool is_jsonl_path(const std::string& path) {
  return ends_with(path, ".jsonl") || ends_with(path, ".json");
}

void for_each_document(const std::string& path, const DocFormat& format,
                       const std::function<void(const std::string&)>& fn) {
  if (is_jsonl_path(path))
    for_each_jsonl_document(path, format, fn);
  else
    for_each_text_document(path, format, fn);
}

void for_each_document(const std::vector<std::string>& paths, const DocFormat& format,
                       const std::function<void(const std::string&)>& fn) {
  for (const auto& path : paths) for_each_document(path, format, fn);
}

std::vector<std::string> read_jsonl_field(const std::string& path, const std::string& field) {
  std::vector<std::string> values;
  for_each_record(path, [&](const nlohmann::json& record, int64_t line_no) {
    values.push_back(string_field(record, field, path, line_no));
  });
  return values;
}

}  // namespace rho
