#include "data/input_stream.h"

#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace rho {
namespace {

constexpr size_t kBufBytes = 1 << 20;

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The file's raw bytes, in buffers, with a count of what the decoder has consumed.
class RawFile {
 public:
  explicit RawFile(const std::string& path) : path_(path), buf_(kBufBytes) {
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) fail_file(path, std::string("cannot open: ") + std::strerror(errno));
  }
  ~RawFile() { std::fclose(f_); }
  // Reads the next buffer; false at the end of the file.
  bool refill(const char*& data, size_t& n) {
    n = std::fread(buf_.data(), 1, buf_.size(), f_);
    if (n == 0 && std::ferror(f_)) fail_file(path_, std::string("read failed: ") + std::strerror(errno));
    data = buf_.data();
    read_ += n;
    return n > 0;
  }
  // Bytes of the file read into buffers so far.
  uint64_t read() const { return read_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  std::vector<char> buf_;
  uint64_t read_ = 0;
};

[[noreturn]] void corrupt(const std::string& path, const char* format, uint64_t in_off, uint64_t out_off,
                          const std::string& why) {
  fail_file(path, std::string("corrupt ") + format + " data at compressed byte " + std::to_string(in_off) +
                      " (uncompressed byte " + std::to_string(out_off) + "): " + why);
}
[[noreturn]] void truncated(const std::string& path, const char* format, uint64_t in_off, uint64_t out_off) {
  fail_file(path, std::string("truncated ") + format + " data: the file ends at compressed byte " +
                      std::to_string(in_off) + " inside a compressed stream (uncompressed byte " +
                      std::to_string(out_off) + ")");
}

}  // namespace

struct InputStream::Decoder {
  virtual ~Decoder() = default;
  // Fills out[0, cap) with the next decompressed bytes; 0 at the end. `produced` is the
  // uncompressed offset so far, for error messages.
  virtual size_t decode(char* out, size_t cap, uint64_t produced) = 0;
  virtual uint64_t file_bytes() const = 0;
};

namespace {

class PlainDecoder : public InputStream::Decoder {
 public:
  explicit PlainDecoder(const std::string& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) fail_file(path, std::string("cannot open: ") + std::strerror(errno));
  }
  ~PlainDecoder() override { std::fclose(f_); }
  size_t decode(char* out, size_t cap, uint64_t) override {
    const size_t n = std::fread(out, 1, cap, f_);
    if (n == 0 && std::ferror(f_)) fail_file(path_, std::string("read failed: ") + std::strerror(errno));
    read_ += n;
    return n;
  }
  uint64_t file_bytes() const override { return read_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  uint64_t read_ = 0;
};

// gzip, and concatenated gzip members (pigz, `cat a.gz b.gz`) as one stream, as gzip -d does.
class GzipDecoder : public InputStream::Decoder {
 public:
  explicit GzipDecoder(const std::string& path) : path_(path), file_(path) {
    std::memset(&zs_, 0, sizeof zs_);
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) fail_file(path, "cannot start the gzip decoder");
  }
  ~GzipDecoder() override { inflateEnd(&zs_); }
  size_t decode(char* out, size_t cap, uint64_t produced) override {
    zs_.next_out = reinterpret_cast<Bytef*>(out);
    zs_.avail_out = uInt(cap);
    while (zs_.avail_out == cap) {
      if (zs_.avail_in == 0) {
        const char* data;
        size_t n;
        if (!file_.refill(data, n)) {
          if (in_member_) truncated(path_, "gzip", file_.read(), produced);
          return 0;
        }
        zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
        zs_.avail_in = uInt(n);
      }
      in_member_ = true;
      const int r = inflate(&zs_, Z_NO_FLUSH);
      if (r == Z_STREAM_END) {
        // Another member may follow: start it fresh.
        in_member_ = false;
        if (inflateReset(&zs_) != Z_OK) fail_file(path_, "cannot restart the gzip decoder");
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        corrupt(path_, "gzip", file_bytes(), produced + (cap - zs_.avail_out), zs_.msg ? zs_.msg : zError(r));
      }
    }
    return cap - zs_.avail_out;
  }
  uint64_t file_bytes() const override { return file_.read() - zs_.avail_in; }

 private:
  std::string path_;
  RawFile file_;
  z_stream zs_;
  bool in_member_ = false;
};

// zstd frames, one or many (zstd concatenates them the same way).
class ZstdDecoder : public InputStream::Decoder {
 public:
  explicit ZstdDecoder(const std::string& path) : path_(path), file_(path), dctx_(ZSTD_createDCtx()) {
    if (!dctx_) fail_file(path, "cannot start the zstd decoder");
  }
  ~ZstdDecoder() override { ZSTD_freeDCtx(dctx_); }
  size_t decode(char* out, size_t cap, uint64_t produced) override {
    ZSTD_outBuffer o{out, cap, 0};
    for (;;) {
      if (in_.pos == in_.size && !eof_) {
        const char* data;
        size_t n;
        eof_ = !file_.refill(data, n);
        in_ = {data, n, 0};
      }
      const size_t in_before = in_.pos;
      // Called with empty input too: the decoder may still hold output to flush.
      const size_t r = ZSTD_decompressStream(dctx_, &o, &in_);
      if (ZSTD_isError(r)) corrupt(path_, "zstd", file_bytes(), produced + o.pos, ZSTD_getErrorName(r));
      // 0 once a frame is complete and flushed; anything else leaves a frame open.
      if (in_.pos > in_before || o.pos > 0) open_frame_ = r != 0;
      if (o.pos > 0) return o.pos;
      if (eof_ && in_.pos == in_.size) {
        if (open_frame_) truncated(path_, "zstd", file_.read(), produced);
        return 0;
      }
    }
  }
  uint64_t file_bytes() const override { return file_.read() - (in_.size - in_.pos); }

 private:
  std::string path_;
  RawFile file_;
  ZSTD_DCtx* dctx_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  bool eof_ = false, open_frame_ = false;
};

}  // namespace

Compression compression_of(const std::string& path) {
  if (ends_with(path, ".gz")) return Compression::Gzip;
  if (ends_with(path, ".zst")) return Compression::Zstd;
  return Compression::None;
}

std::string without_compression_suffix(const std::string& path) {
  switch (compression_of(path)) {
    case Compression::Gzip: return path.substr(0, path.size() - 3);
    case Compression::Zstd: return path.substr(0, path.size() - 4);
    case Compression::None: break;
  }
  return path;
}

InputStream::InputStream(const std::string& path) : path_(path), buf_(kBufBytes) {
  switch (compression_of(path)) {
    case Compression::Gzip: dec_ = std::make_unique<GzipDecoder>(path); break;
    case Compression::Zstd: dec_ = std::make_unique<ZstdDecoder>(path); break;
    case Compression::None: dec_ = std::make_unique<PlainDecoder>(path); break;
  }
}

InputStream::~InputStream() = default;

uint64_t InputStream::file_bytes_read() const { return dec_->file_bytes(); }

bool InputStream::fill() {
  const uint64_t produced = out_total_ + (end_ - pos_);
  end_ = dec_->decode(buf_.data(), buf_.size(), produced);
  pos_ = 0;
  return end_ > 0;
}

size_t InputStream::read(char* out, size_t n) {
  if (pos_ == end_ && !fill()) return 0;
  const size_t m = std::min(n, end_ - pos_);
  std::memcpy(out, buf_.data() + pos_, m);
  pos_ += m;
  out_total_ += m;
  return m;
}

bool InputStream::getline(std::string& line) {
  line.clear();
  bool any = false;
  for (;;) {
    if (pos_ == end_ && !fill()) return any;
    any = true;
    const char* start = buf_.data() + pos_;
    const void* nl = std::memchr(start, '\n', end_ - pos_);
    const size_t take = nl ? size_t(static_cast<const char*>(nl) - start) : end_ - pos_;
    line.append(start, take);
    pos_ += take;
    out_total_ += take;
    if (nl) {
      ++pos_;
      ++out_total_;
      return true;
    }
  }
}

std::string InputStream::read_all() {
  std::string out;
  char chunk[1 << 16];
  for (size_t n; (n = read(chunk, sizeof chunk)) > 0;) out.append(chunk, n);
  return out;
}

}  // namespace rho
