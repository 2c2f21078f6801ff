#include "common/fileio.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace rho {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_file(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void fwrite_checked(std::FILE* f, const void* data, size_t bytes, const std::string& path) {
  if (bytes && std::fwrite(data, 1, bytes, f) != bytes)
    fail_file(path, std::string("write failed: ") + std::strerror(errno));
}

void close_checked(std::FILE* f, const std::string& path) {
  // A full disk shows up here, not at fwrite: the data sat in stdio's buffer or the page cache.
  int e = 0;
  if (std::fflush(f) != 0) e = errno;
  else if (::fsync(::fileno(f)) != 0 && errno != EINVAL) e = errno;  // EINVAL: fsync-less files (pipes)
  if (std::fclose(f) != 0 && !e) e = errno;
  if (e) fail_file(path, std::string("write failed: ") + std::strerror(e));
}

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer) {
  // Renaming over a device or a directory would replace it (as root, /dev/full itself).
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    fail_file(path, "exists and is not a regular file; refusing to replace it");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail_file(path, std::string("cannot create: ") + std::strerror(errno));
  try {
    writer(f);
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  try {
    close_checked(f, path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    fail_file(path, std::string("rename failed: ") + std::strerror(e));
  }
  const auto parent = std::filesystem::path(path).parent_path().string();
  fsync_dir(parent.empty() ? "." : parent);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, [&](std::FILE* f) { fwrite_checked(f, contents.data(), contents.size(), path); });
}

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

int remove_stale_temps(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto at = name.rfind(".tmp.");
    if (at == std::string::npos || at + 5 >= name.size()) continue;
    const std::string digits = name.substr(at + 5);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = pid_t(std::stol(digits));
    // The pid may since belong to another process: then the temporary is kept, which is only
    // untidy, never unsafe.
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    fs::remove_all(entry.path(), rm);
    if (!rm) ++removed;
  }
  return removed;
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail_file(path, "cannot create directory: " + ec.message());
}

void remove_file_if_exists(const std::string& path) {
  if (std::remove(path.c_str()) != 0 && errno != ENOENT)
    fail_file(path, std::string("cannot remove: ") + std::strerror(errno));
}

}  // namespace rho
