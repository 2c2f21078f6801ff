#!/usr/bin/env bash
# On the GPU machine (PyTorch 2.x with CUDA, transformers): builds rho against PyTorch's libtorch,
# runs the test suite, and the parity check against transformers. Figures go to $OUT/gpu-check.txt
# (or ./gpu-check.txt). Usage: bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT:-.}
REPORT=$OUT_DIR/gpu-check.txt
exec > >(tee "$REPORT") 2>&1
echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
echo "== build"
t0=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" >build-gpu.log 2>&1 &&
  cmake --build build-gpu -j"$(nproc)" >>build-gpu.log 2>&1
rc=$?; echo "build rc $rc in $(( $(date +%s) - t0 )) s"
if [ $rc -ne 0 ]; then grep -E "error|Error" build-gpu.log | head -40; exit 1; fi
echo "== parity with transformers: the Llama case for the tests, then every family through rho model logits and rho export"
python3 scripts/gpu/hf_parity.py "$PWD/build-gpu/hf_parity" "$PWD/build-gpu/rho"
echo "== tests"
(cd build-gpu && RHO_HF_PARITY_DIR=$PWD/hf_parity ctest --output-on-failure -j8 --timeout 600 2>&1 | tail -40)
echo "== parity detail"
RHO_HF_PARITY_DIR=$PWD/build-gpu/hf_parity build-gpu/tests/rho_tests --gtest_filter='HfParity*:ModelParity*:ModelFamilies*' 2>&1 | grep -E "parity|max abs|error|OK|FAIL"
echo "== rho export loads in transformers (sharded)"
rm -rf build-gpu/hf_export && build-gpu/rho export build-gpu/hf_parity --out build-gpu/hf_export --max-shard-size 200KB \
    --allow-unrecorded-tokenizer &&
  python3 scripts/gpu/hf_export_check.py build-gpu/hf_parity build-gpu/hf_export
echo "== bench (CPU path on this machine's cores)"
build-gpu/rho bench --preset demo-s --steps 5 --objective slm 2>&1
