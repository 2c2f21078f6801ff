// Flags shared by the commands that read text or JSONL documents.
#pragma once
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "data/documents.h"

namespace rho::cli {

// Shells pass `\n` through single quotes as two characters; templates and separators almost
// always mean the newline, so the common escapes are decoded here.
inline std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[i + 1];
      if (c == 'n' || c == 't' || c == '\\') {
        out += c == 'n' ? '\n' : c == 't' ? '\t' : '\\';
        ++i;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The document-format flags of every command that reads text or JSONL (tokenizer train,
// tokenize, eval loss, analyze dynamics).
struct FormatFlags {
  std::vector<std::string> fields = {"text"};
  std::string template_;
  std::string field_sep = "\\n";
  bool split_blank_lines = false;

  void add_to(CLI::App* sub) {
    sub->add_option("--fields", fields, "JSONL: fields joined into each document")
        ->delimiter(',')
        ->capture_default_str();
    sub->add_option("--template", template_,
                    "JSONL: document text with {field} replaced, e.g. 'Question: {question}\\nAnswer: {answer}'");
    sub->add_option("--field-sep", field_sep, "JSONL: separator between --fields")->capture_default_str();
    sub->add_flag("--split-blank-lines", split_blank_lines,
                  "plain text: each block between blank lines is a document (default: the whole file)");
  }
  DocFormat format() const {
    DocFormat f;
    f.fields = fields;
    f.template_ = unescape(template_);
    f.field_sep = unescape(field_sep);
    f.split_blank_lines = split_blank_lines;
    return f;
  }
};

}  // namespace rho::cli
