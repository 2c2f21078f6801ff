// Documents from plain text and JSONL files: the one reader that tokenizer training,
// tokenization and evaluation share.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace rho {

struct DocFormat {
  // JSONL: each line is one JSON object and one document. Its text is `template_` with `{field}`
  // replaced by that field's string value, or, without a template, the `fields` joined by
  // `field_sep`. A missing or non-string field is a UserError naming file:line and the field.
  std::vector<std::string> fields = {"text"};
  std::string template_;
  std::string field_sep = "\n";
  // Plain text: the whole file is one document, or with split_blank_lines each block of text
  // between blank lines is one.
  bool split_blank_lines = false;
};

// A file is JSONL when its name ends in .jsonl or .json, plain text otherwise.
bool is_jsonl_path(const std::string& path);

// Calls fn(text) for every document of `path`, in file order. UserError naming the file when it
// is missing, empty, or (JSONL) a line is not a JSON object.
void for_each_document(const std::string& path, const DocFormat& format,
                       const std::function<void(const std::string&)>& fn);

// Every document of every file of `paths`, in order.
void for_each_document(const std::vector<std::string>& paths, const DocFormat& format,
                       const std::function<void(const std::string&)>& fn);

// Calls fn(record, line_number) for every non-blank line of a JSONL file: each a JSON object
// (eval reads the math harness's records whole). Same errors as above, naming file and line.
void for_each_record(const std::string& path, const std::function<void(const nlohmann::json&, int64_t)>& fn);

// JSONL records as parsed objects (eval needs the fields separately). Same errors as above.
std::vector<std::string> read_jsonl_field(const std::string& path, const std::string& field);

}  // namespace rho
