#include "data/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "shards are little-endian and are read by mapping them as they are");

namespace {

constexpr char kMagic[8] = {'R', 'H', 'O', 'T', 'O', 'K', 'S', '1'};

template <class T>
void put(unsigned char* buf, size_t offset, T v) {
  std::memcpy(buf + offset, &v, sizeof v);
}
template <class T>
T get(const unsigned char* buf, size_t offset) {
  T v;
  std::memcpy(&v, buf + offset, sizeof v);
  return v;
}

void encode_header(const ShardHeader& h, unsigned char* buf) {
  std::memset(buf, 0, kShardHeaderBytes);
  std::memcpy(buf, kMagic, sizeof kMagic);
  put<uint32_t>(buf, 8, h.version);
  put<uint32_t>(buf, 12, h.token_bytes);
  put<uint64_t>(buf, 16, h.n_tokens);
  put<uint64_t>(buf, 24, h.tokenizer_fingerprint);
  put<uint32_t>(buf, 32, h.vocab_size);
  put<uint32_t>(buf, 36, h.eos_id);
  put<uint64_t>(buf, 40, h.content_fingerprint);
}

ShardHeader decode_header(const unsigned char* buf) {
  ShardHeader h;
  h.version = get<uint32_t>(buf, 8);
  h.token_bytes = get<uint32_t>(buf, 12);
  h.n_tokens = get<uint64_t>(buf, 16);
  h.tokenizer_fingerprint = get<uint64_t>(buf, 24);
  h.vocab_size = get<uint32_t>(buf, 32);
  h.eos_id = get<uint32_t>(buf, 36);
  h.content_fingerprint = h.version >= 2 ? get<uint64_t>(buf, 40) : 0;
  return h;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

uint64_t shard_fingerprint_start(uint64_t n_tokens, uint64_t tokenizer_fingerprint) {
  return fnv1a64(&tokenizer_fingerprint, sizeof tokenizer_fingerprint, fnv1a64(&n_tokens, sizeof n_tokens));
}

uint64_t shard_fingerprint_add(uint64_t fp, const int32_t* tokens, size_t n) {
  return fnv1a64(tokens, n * sizeof(int32_t), fp);
}

// ---- writing ----

ShardWriter::ShardWriter(std::string path, uint64_t tokenizer_fingerprint, uint32_t vocab_size,
                         uint32_t eos_id)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())) {
  if (vocab_size == 0) fail_file(path_, "cannot write a shard for an empty vocabulary");
  if (eos_id >= vocab_size)
    fail_file(path_, "eos_id " + std::to_string(eos_id) + " is outside the vocabulary of " +
                         std::to_string(vocab_size));
  header_.token_bytes = vocab_size <= 65536 ? 2 : 4;
  header_.tokenizer_fingerprint = tokenizer_fingerprint;
  header_.vocab_size = vocab_size;
  header_.eos_id = eos_id;
  f_ = std::fopen(tmp_.c_str(), "w+b")  /* read back by finish() */;
  if (!f_) fail_file(path_, errno_text("cannot create"));
  // A placeholder header: n_tokens is only known at finish().
  unsigned char buf[kShardHeaderBytes];
  encode_header(header_, buf);
  try {
    fwrite_checked(f_, buf, sizeof buf, path_);
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    std::fclose(f_);
    std::remove(tmp_.c_str());
    throw;
  }
}

ShardWriter::~ShardWriter() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

void ShardWriter::append(const int32_t* tokens, size_t n) {
  if (!f_) fail_file(path_, "append after finish");
  // Narrow in fixed-size chunks so one huge document does not need a second full-size buffer.
  constexpr size_t kChunk = 1 << 16;
  std::vector<unsigned char> buf(std::min(n, kChunk) * header_.token_bytes);
  for (size_t done = 0; done < n;) {
    const size_t m = std::min(n - done, kChunk);
    for (size_t i = 0; i < m; ++i) {
      const int32_t t = tokens[done + i];
      if (t < 0 || uint32_t(t) >= header_.vocab_size)
        fail_file(path_, "token " + std::to_string(t) + " is outside the vocabulary of " +
                             std::to_string(header_.vocab_size));
      if (header_.token_bytes == 2)
        put<uint16_t>(buf.data(), 2 * i, uint16_t(t));
      else
        put<uint32_t>(buf.data(), 4 * i, uint32_t(t));
    }
    fwrite_checked(f_, buf.data(), m * header_.token_bytes, path_);
    done += m;
  }
  header_.n_tokens += n;
}

void ShardWriter::finish() {
  if (!f_) fail_file(path_, "finish called twice");
  // The tokens back from the temporary, in blocks, for the content fingerprint.
  if (std::fflush(f_) != 0) fail_file(path_, errno_text("write failed"));
  {
    const int fd = ::fileno(f_);
    const size_t w = header_.token_bytes;
    std::vector<unsigned char> raw((size_t(1) << 16) * w);
    std::vector<int32_t> block(size_t(1) << 16);
    uint64_t fp = shard_fingerprint_start(header_.n_tokens, header_.tokenizer_fingerprint);
    for (uint64_t i = 0; i < header_.n_tokens;) {
      const size_t m = size_t(std::min<uint64_t>(block.size(), header_.n_tokens - i));
      const off_t at = off_t(kShardHeaderBytes + i * w);
      for (size_t got = 0; got < m * w;) {
        const ssize_t r = ::pread(fd, raw.data() + got, m * w - got, at + off_t(got));
        if (r <= 0) fail_file(path_, errno_text("cannot read back the shard being written"));
        got += size_t(r);
      }
      for (size_t j = 0; j < m; ++j)
        block[j] = w == 2 ? int32_t(get<uint16_t>(raw.data(), 2 * j)) : int32_t(get<uint32_t>(raw.data(), 4 * j));
      fp = shard_fingerprint_add(fp, block.data(), m);
      i += m;
    }
    header_.content_fingerprint = fp;
  }
  unsigned char buf[kShardHeaderBytes];
  encode_header(header_, buf);
  if (std::fseek(f_, 0, SEEK_SET) != 0) fail_file(path_, errno_text("seek failed"));
  fwrite_checked(f_, buf, sizeof buf, path_);
  std::FILE* f = f_;
  f_ = nullptr;
  try {
    close_checked(f, path_);
  } catch (...) {
    std::remove(tmp_.c_str());
    throw;
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string problem = errno_text("rename failed");
    std::remove(tmp_.c_str());
    fail_file(path_, problem);
  }
}

// ---- reading ----

std::shared_ptr<Shard> Shard::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_file(path, errno_text("cannot open shard"));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const std::string problem = errno_text("cannot stat shard");
    ::close(fd);
    fail_file(path, problem);
  }
  const auto file_bytes = uint64_t(st.st_size);
  if (file_bytes < kShardHeaderBytes) {
    ::close(fd);
    fail_file(path, "truncated: " + std::to_string(file_bytes) + " bytes, shorter than the " +
                        std::to_string(kShardHeaderBytes) + "-byte shard header");
  }
  void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) fail_file(path, std::string("cannot map shard: ") + std::strerror(map_errno));

  // From here the shard owns the mapping, so a validation failure below unmaps it.
  std::shared_ptr<Shard> shard(new Shard());
  shard->path_ = path;
  shard->map_ = static_cast<const unsigned char*>(map);
  shard->map_bytes_ = file_bytes;
  shard->data_ = shard->map_ + kShardHeaderBytes;

  if (std::memcmp(shard->map_, kMagic, sizeof kMagic) != 0)
    fail_file(path, "not a rho token shard (bad magic, expected \"RHOTOKS1\")");
  const ShardHeader h = decode_header(shard->map_);
  shard->header_ = h;
  if (h.version != 1 && h.version != kShardVersion)
    fail_file(path, "unsupported shard version " + std::to_string(h.version) + " (this rho reads 1 and " +
                        std::to_string(kShardVersion) + ")");
  if (h.token_bytes != 2 && h.token_bytes != 4)
    fail_file(path, "bad token width " + std::to_string(h.token_bytes) + " (expected 2 or 4 bytes)");
  if (h.vocab_size == 0) fail_file(path, "header has vocab_size 0");
  if (h.token_bytes == 2 && h.vocab_size > 65536)
    fail_file(path, "vocab_size " + std::to_string(h.vocab_size) + " does not fit 2-byte tokens");
  if (h.eos_id >= h.vocab_size)
    fail_file(path, "eos_id " + std::to_string(h.eos_id) + " >= vocab_size " + std::to_string(h.vocab_size));
  const uint64_t payload = file_bytes - kShardHeaderBytes;
  if (h.n_tokens > payload / h.token_bytes)
    fail_file(path, "truncated: header says " + std::to_string(h.n_tokens) + " tokens but the file holds " +
                        std::to_string(payload / h.token_bytes));
  if (payload != h.n_tokens * h.token_bytes)
    fail_file(path, "size mismatch: " + std::to_string(payload - h.n_tokens * h.token_bytes) +
                        " bytes after the " + std::to_string(h.n_tokens) + " tokens the header declares");

  return shard;
}

void Shard::read(uint64_t start, uint64_t n, int64_t* out) const {
  if (start > size() || n > size() - start)
    fail_file(path_, "tokens " + std::to_string(start) + ".." + std::to_string(start + n) + " run past the shard's " +
                         std::to_string(size()) + " tokens");
  const uint32_t vocab = header_.vocab_size;
  for (uint64_t i = 0; i < n; ++i) {
    const int32_t t = token(start + i);
    // Checked here, as windows are read, instead of a scan of every token when the shard opens.
    if (t < 0 || uint32_t(t) >= vocab)
      fail_file(path_, "token " + std::to_string(uint32_t(t)) + " at position " + std::to_string(start + i) +
                           " >= vocab_size " + std::to_string(vocab) + " (damaged shard?)");
    out[i] = t;
  }
}

void release_mapped(const unsigned char* map, size_t map_bytes, uint64_t begin, uint64_t end) {
  static const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
  begin = begin / page * page;
  end = std::min<uint64_t>(end, map_bytes);
  if (begin < end) ::madvise(const_cast<unsigned char*>(map) + begin, size_t(end - begin), MADV_DONTNEED);
}

void Shard::release(uint64_t start, uint64_t n) const {
  const uint64_t w = header_.token_bytes;
  release_mapped(map_, map_bytes_, kShardHeaderBytes + start * w, kShardHeaderBytes + (start + n) * w);
}

uint64_t Shard::content_fingerprint() const {
  if (header_.version >= 2) return header_.content_fingerprint;
  std::call_once(fingerprint_once_, [&] {
    uint64_t fp = shard_fingerprint_start(header_.n_tokens, header_.tokenizer_fingerprint);
    std::vector<int32_t> block(size_t(1) << 16);
    for (uint64_t i = 0; i < size(); i += block.size()) {
      const size_t n = size_t(std::min<uint64_t>(block.size(), size() - i));
      for (size_t j = 0; j < n; ++j) block[j] = token(i + j);
      fp = shard_fingerprint_add(fp, block.data(), n);
      release(i, n);
    }
    fingerprint_ = fp;
  });
  return fingerprint_;
}

Shard::~Shard() {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), map_bytes_);
}

std::string tokenizer_copy_dir(const std::string& shard_dir, uint64_t fingerprint) {
  return (std::filesystem::path(shard_dir) / ("tokenizer-" + hex64(fingerprint))).string();
}

std::shared_ptr<const TokenizerFiles> tokenizer_beside(const std::vector<std::string>& shard_paths,
                                                       uint64_t fingerprint) {
  namespace fs = std::filesystem;
  std::set<std::string> seen;
  for (const auto& shard : shard_paths) {
    const std::string parent = fs::path(shard).parent_path().string();
    const std::string dir = tokenizer_copy_dir(parent.empty() ? "." : parent, fingerprint);
    if (!seen.insert(dir).second || !fs::is_directory(dir)) continue;
    auto files = read_tokenizer_files(dir);
    if (files->fingerprint != fingerprint)
      fail_file(dir + "/" + files->tokenizer_name(), "is tokenizer " + hex64(files->fingerprint) +
                                                         ", not the one its directory is named for");
    return files;
  }
  return nullptr;
}

std::vector<std::string> list_shards(const std::string& path_or_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path_or_dir, ec)) {
    std::vector<std::string> paths;
    for (const auto& entry : fs::directory_iterator(path_or_dir, ec))
      if (entry.path().extension() == ".bin" && entry.is_regular_file()) paths.push_back(entry.path().string());
    if (ec) fail_file(path_or_dir, "cannot list directory: " + ec.message());
    if (paths.empty()) fail_file(path_or_dir, "no *.bin shards in this directory");
    std::sort(paths.begin(), paths.end());
    return paths;
  }
  if (fs::exists(path_or_dir, ec)) return {path_or_dir};
  fail_file(path_or_dir, "no such shard file or directory");
}

std::vector<std::string> list_shards(const std::vector<std::string>& paths_or_dirs) {
  std::vector<std::string> files;
  for (const auto& p : paths_or_dirs)
    for (auto& f : list_shards(p)) files.push_back(std::move(f));
  return files;
}

}  // namespace rho
