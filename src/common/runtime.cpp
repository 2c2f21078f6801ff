#include "common/runtime.h"

#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <torch/torch.h>

namespace rho {

std::string loaded_blas_path() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name && std::strstr(info->dlpi_name, "libblas.so")) {
          char real[PATH_MAX];
          if (realpath(info->dlpi_name, real)) *static_cast<std::string*>(out) = real;
        }
        return 0;
      },
      &found);
  return found;
}

void warn_if_reference_blas() {
  const std::string blas = loaded_blas_path();
  if (!blas.empty() && blas.find("openblas") == std::string::npos && blas.find("mkl") == std::string::npos &&
      blas.find("blis") == std::string::npos)
    std::fprintf(stderr,
                 "rho: warning: running on the reference BLAS (%s), about 20x slower; install "
                 "libopenblas0-pthread (scripts/setup.sh does)\n",
                 blas.c_str());
}

bool tune_allocator() {
  // glibc caps the mmap threshold at 32 MiB (64-bit); blocks above it are still mapped, but
  // trimming is off, so freed heap memory is reused rather than faulted in again.
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  ok &= mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  ok &= mallopt(M_TOP_PAD, 64 << 20) == 1;
  return ok;
}

void configure_threads(int torch_threads) {
  if (torch_threads > 0) torch::set_num_threads(torch_threads);
}

namespace {
template <class F>
F openblas_symbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}
}  // namespace

bool configure_blas_threads(int n) {
  auto set = openblas_symbol<void (*)(int)>("openblas_set_num_threads");
  if (!set) return false;
  if (n > 0) set(n);
  return true;
}

int blas_threads() {
  auto get = openblas_symbol<int (*)()>("openblas_get_num_threads");
  return get ? get() : 0;
}

int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return int64_t(u.ru_maxrss) * 1024;
}

int64_t current_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  const bool ok = std::fscanf(f, "%lld %lld", &size, &resident) == 2;
  std::fclose(f);
  return ok ? int64_t(resident) * int64_t(sysconf(_SC_PAGESIZE)) : 0;
}

std::string format_duration(double s) {
  char buf[32];
  if (s < 0 || s != s) return "?";
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}

std::string format_count(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace rho
