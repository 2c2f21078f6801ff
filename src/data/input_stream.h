// Corpus files as byte streams: plain, gzip (.gz, zlib) or zstd (.zst, libzstd), decompressed on
// the fly so a corpus is never unpacked to disk. Corpora ship compressed, and at paper scale
// (OpenWebMath, ~14B tokens) an unpacked copy is tens of gigabytes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rho {

enum class Compression { None, Gzip, Zstd };
// By the file name's last suffix: .gz, .zst, else none.
Compression compression_of(const std::string& path);
// The name without a compression suffix ("a.jsonl.gz" -> "a.jsonl").
std::string without_compression_suffix(const std::string& path);

class InputStream {
 public:
  // UserError "<path>: cannot open: ..." when the file cannot be opened.
  explicit InputStream(const std::string& path);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Up to n decompressed bytes; 0 only at the end of the data. Damaged or truncated compressed
  // data is a UserError on one line naming the file and the compressed and uncompressed byte
  // offsets where the decoder noticed it.
  size_t read(char* buf, size_t n);
  // The next line without its '\n' (a '\r' before it is kept: callers decide). False at the end.
  bool getline(std::string& line);
  // Everything left.
  std::string read_all();

  const std::string& path() const { return path_; }
  uint64_t file_bytes_read() const;     // bytes of the file consumed so far (progress, ETA)
  uint64_t data_bytes_read() const { return out_total_; }  // decompressed bytes handed out

  struct Decoder;  // one per compression (input_stream.cpp)

 private:
  bool fill();  // refills buf_ from the decoder; false at the end
  std::string path_;
  std::unique_ptr<Decoder> dec_;
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;
  uint64_t out_total_ = 0;  // bytes returned by read()/getline()
};

}  // namespace rho
