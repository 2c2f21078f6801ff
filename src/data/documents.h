// Documents from plain text and JSONL files: the one reader that tokenizer training,
// tokenization and evaluation share. Files may be gzip (.gz) or zstd (.zst) compressed
// (data/input_stream.h); arguments may name directories and globs of many files.
#pragma once
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace rho {

class InputStream;

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

// A file is JSONL when its name, without .gz/.zst, ends in .jsonl or .json; plain text otherwise.
bool is_jsonl_path(const std::string& path);

// The input files named by command-line arguments, in argument order: a file as it is; a
// directory, every .jsonl/.json/.txt file under it (also .gz/.zst compressed), recursively,
// sorted by path; an argument with * ? or [ a glob, its matches sorted. UserError naming the
// argument when a file is missing or a directory or glob yields no file.
std::vector<std::string> list_inputs(const std::vector<std::string>& args);

// One document before it is turned into text: a JSONL line (parsed later, possibly on another
// thread) or a plain-text document. Knows where it came from for error messages.
struct RawDocument {
  std::string bytes;
  uint32_t file = 0;  // index into DocumentReader::files()
  int64_t line = 0;   // JSONL: 1-based line number
};

// Reads the files in order, one thread, and cuts them into raw documents; text() then makes
// each one's text, on any thread. Reading and parsing are split so that tokenizing can parse
// and encode on every core while the documents keep their file order.
class DocumentReader {
 public:
  // `files` as list_inputs gives them. UserError on a bad format (template without a field).
  DocumentReader(std::vector<std::string> files, DocFormat format);
  ~DocumentReader();
  // Appends raw documents to `out` until about `max_bytes` are gathered; false once every file
  // is read. UserError naming the file when it is missing, empty, or damaged (compressed data),
  // or a JSONL file has no records.
  bool next(std::vector<RawDocument>& out, size_t max_bytes);
  // The document's text. UserError naming file:line when a JSONL line is not a JSON object
  // with the fields the format needs. Thread-safe.
  void text(const RawDocument& raw, std::string& out) const;
  // Rethrows `error`, which text() raised for a document of file `file`, unless that file is
  // compressed and damaged: gzip finds damage only at a member's checksum, so garbled text may
  // fail to parse first. Then the damage, with its offsets, is the error (the file is read to its
  // end once more to find it). Thread-safe.
  [[noreturn]] void rethrow_document_error(uint32_t file, std::exception_ptr error) const;

  const std::vector<std::string>& files() const { return files_; }
  uint64_t file_bytes_total() const { return total_bytes_; }  // on disk, all files
  uint64_t file_bytes_read() const;                             // on disk, consumed so far
  uint64_t data_bytes_read() const;                             // decompressed, so far

  struct Template;

 private:
  bool open_next_file();
  std::vector<std::string> files_;
  DocFormat format_;
  std::unique_ptr<Template> template_;
  uint64_t total_bytes_ = 0, done_file_bytes_ = 0, done_data_bytes_ = 0;
  size_t next_file_ = 0;
  std::unique_ptr<InputStream> in_;
  uint32_t cur_ = 0;
  bool cur_jsonl_ = false;
  int64_t line_no_ = 0, docs_in_file_ = 0;
  std::string line_, block_;
};

// Calls fn(text) for every document of `path`, in file order (errors as above).
void for_each_document(const std::string& path, const DocFormat& format,
                       const std::function<void(const std::string&)>& fn);

// Every document of every input named by `args` (list_inputs), in order.
void for_each_document(const std::vector<std::string>& args, const DocFormat& format,
                       const std::function<void(const std::string&)>& fn);

// Calls fn(record, line_number) for every non-blank line of a JSONL file (plain or compressed):
// each a JSON object (eval reads the math harness's records whole). Same errors as above.
void for_each_record(const std::string& path, const std::function<void(const nlohmann::json&, int64_t)>& fn);

// One string field of every record of a JSONL file (evaluation data). Same errors as above.
std::vector<std::string> read_jsonl_field(const std::string& path, const std::string& field);

}  // namespace rho
