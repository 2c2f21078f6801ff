#include "tokenizer/spm_library.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"

namespace rho {
namespace {

std::string exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, size_t(n));
  return p.substr(0, p.find_last_of('/'));
}

// AddressSanitizer refuses RTLD_DEEPBIND (it would bypass ASan's malloc); the sanitizer build
// (scripts/test.sh, build-asan) defines RHO_SPM_NO_DEEPBIND and relies on RTLD_LOCAL alone.
#ifdef RHO_SPM_NO_DEEPBIND
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#else
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif

SpmLibrary load_library() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("RHO_SPM_LIB")) candidates.push_back(env);
  candidates.push_back(exe_dir() + "/librho_spm.so");
  candidates.push_back(exe_dir() + "/../librho_spm.so");
#ifdef RHO_SPM_LIB_PATH
  candidates.push_back(RHO_SPM_LIB_PATH);
#endif
  void* h = nullptr;
  std::string tried;
  for (auto& c : candidates) {
    h = ::dlopen(c.c_str(), kDlopenFlags);
    if (h) break;
    tried += (tried.empty() ? "" : ", ") + c;
  }
  if (!h) fail("cannot load the sentencepiece wrapper librho_spm.so (tried " + tried + "): " + ::dlerror());
  SpmLibrary lib{};
  auto sym = [&](const char* name) {
    void* p = ::dlsym(h, name);
    if (!p) fail(std::string("librho_spm.so lacks ") + name);
    return p;
  };
#define RHO_SPM_SYM(field, name) lib.field = reinterpret_cast<decltype(lib.field)>(sym(#name))
  RHO_SPM_SYM(load, rho_spm_load);
  RHO_SPM_SYM(free, rho_spm_free);
  RHO_SPM_SYM(encode, rho_spm_encode);
  RHO_SPM_SYM(decode, rho_spm_decode);
  RHO_SPM_SYM(piece, rho_spm_piece);
  RHO_SPM_SYM(score, rho_spm_score);
  RHO_SPM_SYM(size, rho_spm_size);
  RHO_SPM_SYM(bos, rho_spm_bos);
  RHO_SPM_SYM(eos, rho_spm_eos);
  RHO_SPM_SYM(train, rho_spm_train);
  RHO_SPM_SYM(free_buf, rho_spm_free_buf);
#undef RHO_SPM_SYM
  return lib;
}

}  // namespace

const SpmLibrary& spm_library() {
  static std::once_flag once;
  static SpmLibrary lib;
  static std::string error;
  std::call_once(once, [] {
    try {
      lib = load_library();
    } catch (const UserError& e) {
      error = e.what();
    }
  });
  if (!error.empty()) fail(error);
  return lib;
}

}  // namespace rho
