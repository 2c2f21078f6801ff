#include "cli/tokenizer_io.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"

namespace rho::cli {
namespace {

bool is_jsonl(const std::string& path) {
  auto ends = [&](const char* e) {
    const size_t n = std::strlen(e);
    return path.size() >= n && path.compare(path.size() - n, n, e) == 0;
  };
  return ends(".jsonl") || ends(".json");
}

// Reads FILE line by line (POSIX getline: any line length, no per-line allocation).
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "rb")) {
    if (!f_) fail_file(path, std::string("cannot open: ") + std::strerror(errno));
  }
  ~LineReader() {
    std::free(buf_);
    std::fclose(f_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  // The next line without its '\n'; false at the end of the file.
  bool next(std::string_view* line) {
    errno = 0;
    const ssize_t n = ::getline(&buf_, &cap_, f_);
    if (n < 0) {
      if (errno != 0 && !std::feof(f_)) fail_file(path_, std::string("read failed: ") + std::strerror(errno));
      return false;
    }
    ++line_no_;
    *line = std::string_view(buf_, size_t(n));
    if (!line->empty() && line->back() == '\n') line->remove_suffix(1);
    return true;
  }
  [[noreturn]] void fail_here(const std::string& why) const { fail_file(path_ + ":" + std::to_string(line_no_), why); }

 private:
  std::string path_;
  std::FILE* f_;
  char* buf_ = nullptr;
  size_t cap_ = 0;
  size_t line_no_ = 0;
};

// Buffered stdout: one fwrite per megabyte.
class Out {
 public:
  ~Out() { flush(); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= (1 << 20)) flush();
  }
  void flush() {
    fwrite_checked(stdout, buf_.data(), buf_.size(), "<stdout>");
    buf_.clear();
  }

 private:
  std::string buf_;
};

void append_ids(std::string& out, const std::vector<int32_t>& ids) {
  out += '[';
  char num[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    const int n = std::snprintf(num, sizeof num, "%d", ids[i]);
    out.append(num, size_t(n));
  }
  out += "]\n";
}

}  // namespace

void encode_file(const Tokenizer& tok, const std::string& path, const std::string& field, bool add_special) {
  LineReader in(path);
  Out out;
  const bool jsonl = is_jsonl(path);
  std::string_view line;
  while (in.next(&line)) {
    if (!jsonl) {
      append_ids(out.buf(), tok.encode(line, add_special));
    } else {
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank line
      nlohmann::json rec;
      try {
        rec = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        in.fail_here(std::string("not valid JSON: ") + e.what());
      }
      if (!rec.is_object() || !rec.contains(field) || !rec[field].is_string())
        in.fail_here("record has no string field \"" + field + "\"");
      append_ids(out.buf(), tok.encode(rec[field].get_ref<const std::string&>(), add_special));
    }
    out.maybe_flush();
  }
}

void decode_file(const Tokenizer& tok, const std::string& path) {
  LineReader in(path);
  Out out;
  std::string_view line;
  while (in.next(&line)) {
    std::vector<int32_t> ids;
    try {
      const auto arr = nlohmann::json::parse(line);
      if (!arr.is_array()) in.fail_here("not a JSON array of token ids");
      for (const auto& v : arr) {
        if (!v.is_number_integer()) in.fail_here("not a JSON array of token ids");
        const int64_t id = v.get<int64_t>();
        if (id < 0 || id >= tok.vocab_size())
          in.fail_here("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(tok.vocab_size()));
        ids.push_back(int32_t(id));
      }
    } catch (const nlohmann::json::exception& e) {
      in.fail_here(std::string("not valid JSON: ") + e.what());
    }
    // Invalid UTF-8 in a decoded text (ids that split a character) is written as U+FFFD.
    out.buf() += nlohmann::json(tok.decode(ids)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.buf() += '\n';
    out.maybe_flush();
  }
}

}  // namespace rho::cli
