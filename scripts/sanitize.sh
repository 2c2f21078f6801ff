#!/usr/bin/env bash
# The test suite again under AddressSanitizer + UndefinedBehaviorSanitizer (gcc, -O1 -g1, line
# tables being all a report needs; build-asan), then every libFuzzer target for a bounded time
# (clang, build-fuzz). Called by scripts/test.sh
# after the normal build; run it alone once scripts/setup.sh has installed everything.
# Usage: scripts/sanitize.sh [fuzz seconds for every target; default: each target's own,
#        fuzz/CMakeLists.txt's RHO_FUZZ_PLAN]
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${1:-}
ROOT=$PWD
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)


# libtorch, OpenBLAS and libgomp are not instrumented; LeakSanitizer reports only what they keep in
# process-lifetime globals, which fuzz/lsan.supp suppresses (by library, nothing of rho's).
# A 16 MB quarantine instead of 256: libtorch's start-up frees and allocates so much that the
# default keeps faulting in fresh pages; `rho --help` took 3.6 s of CPU instead of 4.5 (every
# test starts rho or the test binary, often many times). Use-after-free of a block is still
# caught until 16 MB more have been freed after it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0:quarantine_size_mb=16
export LSAN_OPTIONS=suppressions=$ROOT/fuzz/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f build-asan/CMakeCache.txt ]; then
  # RHO_SPM_NO_DEEPBIND: ASan refuses dlopen(RTLD_DEEPBIND) (src/tokenizer/spm_library.cpp).
  cmake -S . -B build-asan "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS="$SAN -DRHO_SPM_NO_DEEPBIND" \
    -DCMAKE_EXE_LINKER_FLAGS="$SAN" -DCMAKE_SHARED_LINKER_FLAGS="$SAN" -DCMAKE_MODULE_LINKER_FLAGS="$SAN"
fi
cmake --build build-asan -j"$(nproc)"
t0=$(date +%s)
# Every test runs here. Tokenizers are trained by the normal build (RHO_TOK): sentencepiece's
# trainer carries protobuf 3.14, which binds to libtorch's 3.21 and aborts ("compiled against
# version 3.14.0") unless loaded with RTLD_DEEPBIND, which ASan refuses. Loading and encoding with
# a tokenizer is rho's own code and runs sanitized (tests/cli/lib/setup.sh, tests/test_util.h).
export RHO_TOK=$ROOT/build/rho
(cd build-asan && ctest --output-on-failure -j"$(nproc)" --timeout 2400)
echo "[sanitize] ASan+UBSan test suite: $(( $(date +%s) - t0 )) s"

if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S . -B build-fuzz "${GEN[@]}" -DRHO_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake -S . -B build-fuzz -DRHO_FUZZ_SECONDS="$FUZZ_SECONDS" >/dev/null
cmake --build build-fuzz -j"$(nproc)"
t0=$(date +%s)
(cd build-fuzz && ctest --output-on-failure -j"$(nproc)" --timeout 600)
echo "[sanitize] fuzzing: $(( $(date +%s) - t0 )) s"
