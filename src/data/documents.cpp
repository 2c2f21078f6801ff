#include "data/documents.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/input_stream.h"

namespace rho {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\v\f") == std::string::npos;
}

bool is_corpus_file_name(const std::string& path) {
  const std::string plain = without_compression_suffix(path);
  return ends_with(plain, ".jsonl") || ends_with(plain, ".json") || ends_with(plain, ".txt");
}

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

nlohmann::json parse_record(const std::string& line, const std::string& path, int64_t line_no) {
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
  if (!record.is_object()) fail_file(path, "line " + std::to_string(line_no) + ": not a JSON object");
  return record;
}

}  // namespace

// A template split once into literal text and field names, so each record only concatenates.
// `{name}` is a field when name is a plain identifier; any other brace is literal text, which
// keeps templates containing JSON or LaTeX usable.
struct DocumentReader::Template {
  std::vector<std::string> literals;  // literals.size() == fields.size() + 1
  std::vector<std::string> fields;

  explicit Template(const std::string& tpl) {
    auto is_name_char = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    };
    std::string literal;
    for (size_t i = 0; i < tpl.size();) {
      if (tpl[i] == '{') {
        size_t j = i + 1;
        while (j < tpl.size() && is_name_char(tpl[j])) ++j;
        if (j < tpl.size() && tpl[j] == '}' && j > i + 1) {
          literals.push_back(literal);
          literal.clear();
          fields.push_back(tpl.substr(i + 1, j - i - 1));
          i = j + 1;
          continue;
        }
      }
      literal += tpl[i++];
    }
    literals.push_back(literal);
    if (fields.empty()) fail("template \"" + tpl + "\" names no {field}");
  }
};

bool is_jsonl_path(const std::string& path) {
  const std::string plain = without_compression_suffix(path);
  return ends_with(plain, ".jsonl") || ends_with(plain, ".json");
}

std::vector<std::string> list_inputs(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& arg : args) {
    std::error_code ec;
    if (arg.find_first_of("*?[") != std::string::npos && !fs::exists(arg, ec)) {
      glob_t g{};
      const int r = ::glob(arg.c_str(), GLOB_ERR, nullptr, &g);
      std::vector<std::string> matches;
      for (size_t i = 0; r == 0 && i < g.gl_pathc; ++i)
        if (fs::is_regular_file(g.gl_pathv[i], ec)) matches.push_back(g.gl_pathv[i]);
      ::globfree(&g);
      if (matches.empty()) fail_file(arg, "no input file matches this pattern");
      std::sort(matches.begin(), matches.end());
      files.insert(files.end(), matches.begin(), matches.end());
    } else if (fs::is_directory(arg, ec)) {
      std::vector<std::string> found;
      for (fs::recursive_directory_iterator it(arg, fs::directory_options::follow_directory_symlink, ec), end;
           !ec && it != end; it.increment(ec))
        if (it->is_regular_file() && is_corpus_file_name(it->path().string())) found.push_back(it->path().string());
      if (ec) fail_file(arg, "cannot list directory: " + ec.message());
      if (found.empty()) fail_file(arg, "no .jsonl, .json or .txt files (plain, .gz or .zst) in this directory");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(arg, ec)) {
      files.push_back(arg);
    } else {
      fail_file(arg, "no such input file");
    }
  }
  return files;
}

DocumentReader::DocumentReader(std::vector<std::string> files, DocFormat format)
    : files_(std::move(files)), format_(std::move(format)) {
  namespace fs = std::filesystem;
  bool any_jsonl = false;
  for (const auto& f : files_) {
    any_jsonl |= is_jsonl_path(f);
    std::error_code ec;
    const auto size = fs::file_size(f, ec);
    if (!ec) total_bytes_ += size;
  }
  if (any_jsonl) {
    if (!format_.template_.empty()) template_ = std::make_unique<Template>(format_.template_);
    else if (format_.fields.empty()) fail("no JSONL fields given");
  }
}

DocumentReader::~DocumentReader() = default;

uint64_t DocumentReader::file_bytes_read() const { return done_file_bytes_ + (in_ ? in_->file_bytes_read() : 0); }
uint64_t DocumentReader::data_bytes_read() const { return done_data_bytes_ + (in_ ? in_->data_bytes_read() : 0); }

bool DocumentReader::open_next_file() {
  if (next_file_ == files_.size()) return false;
  cur_ = uint32_t(next_file_++);
  in_ = std::make_unique<InputStream>(files_[cur_]);
  cur_jsonl_ = is_jsonl_path(files_[cur_]);
  line_no_ = docs_in_file_ = 0;
  block_.clear();
  return true;
}

bool DocumentReader::next(std::vector<RawDocument>& out, size_t max_bytes) {
  const size_t before = out.size();
  size_t gathered = 0;
  auto emit = [&](std::string&& bytes, int64_t line) {
    gathered += bytes.size() + 1;
    out.push_back({std::move(bytes), cur_, line});
    ++docs_in_file_;
  };
  while (gathered < max_bytes) {
    if (!in_ && !open_next_file()) break;
    const std::string& path = files_[cur_];
    bool more = true;
    if (cur_jsonl_) {
      more = in_->getline(line_);
      if (more) {
        ++line_no_;
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();  // files from Windows
        if (!is_blank(line_)) emit(std::move(line_), line_no_);
      }
    } else if (!format_.split_blank_lines) {
      std::string all = in_->read_all();
      if (!all.empty()) emit(std::move(all), 0);
      more = false;
    } else {
      more = in_->getline(line_);
      if (more && !is_blank(line_)) {
        if (!block_.empty()) block_ += '\n';
        block_ += line_;
      } else if (!block_.empty()) {
        emit(std::move(block_), 0);
        block_.clear();
      }
    }
    if (more) continue;
    // The end of this file.
    if (in_->data_bytes_read() == 0) fail_file(path, "empty file");
    if (docs_in_file_ == 0) fail_file(path, cur_jsonl_ ? "no JSON records" : "no text, only blank lines");
    done_file_bytes_ += in_->file_bytes_read();
    done_data_bytes_ += in_->data_bytes_read();
    in_.reset();
  }
  return out.size() > before;
}

void DocumentReader::text(const RawDocument& raw, std::string& out) const {
  const std::string& path = files_[raw.file];
  if (!is_jsonl_path(path)) {
    out = raw.bytes;
    return;
  }
  const nlohmann::json record = parse_record(raw.bytes, path, raw.line);
  out.clear();
  if (template_) {
    for (size_t k = 0; k < template_->fields.size(); ++k)
      out += template_->literals[k] + string_field(record, template_->fields[k], path, raw.line);
    out += template_->literals.back();
  } else {
    for (size_t k = 0; k < format_.fields.size(); ++k) {
      if (k) out += format_.field_sep;
      out += string_field(record, format_.fields[k], path, raw.line);
    }
  }
}

void DocumentReader::rethrow_document_error(uint32_t file, std::exception_ptr error) const {
  if (file < files_.size() && compression_of(files_[file]) != Compression::None) {
    InputStream in(files_[file]);  // throws the damage, naming the file and the offsets
    std::vector<char> buf(1 << 20);
    while (in.read(buf.data(), buf.size()) > 0) {
    }
  }
  std::rethrow_exception(error);
}

namespace {

void read_documents(std::vector<std::string> files, const DocFormat& format,
                    const std::function<void(const std::string&)>& fn) {
  DocumentReader reader(std::move(files), format);
  std::vector<RawDocument> batch;
  std::string text;
  while (reader.next(batch, 1 << 20)) {
    for (const auto& raw : batch) {
      try {
        reader.text(raw, text);
      } catch (const UserError&) {
        reader.rethrow_document_error(raw.file, std::current_exception());
      }
      fn(text);
    }
    batch.clear();
  }
}

}  // namespace

void for_each_document(const std::string& path, const DocFormat& format,
                       const std::function<void(const std::string&)>& fn) {
  read_documents({path}, format, fn);
}

void for_each_document(const std::vector<std::string>& args, const DocFormat& format,
                       const std::function<void(const std::string&)>& fn) {
  read_documents(list_inputs(args), format, fn);
}

void for_each_record(const std::string& path, const std::function<void(const nlohmann::json&, int64_t)>& fn) {
  InputStream in(path);  // plain or compressed, like corpora
  std::string line;
  int64_t line_no = 0, records = 0;
  while (in.getline(line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // files from Windows
    if (is_blank(line)) continue;
    const nlohmann::json record = parse_record(line, path, line_no);
    ++records;
    fn(record, line_no);
  }
  if (in.data_bytes_read() == 0) fail_file(path, "empty file");
  if (records == 0) fail_file(path, "no JSON records");
}

std::vector<std::string> read_jsonl_field(const std::string& path, const std::string& field) {
  if (!is_jsonl_path(path)) fail_file(path, "not a JSONL file (expected a .jsonl or .json name)");
  DocFormat format;
  format.fields = {field};
  std::vector<std::string> values;
  for_each_document(path, format, [&](const std::string& v) { values.push_back(v); });
  return values;
}

}  // namespace rho
