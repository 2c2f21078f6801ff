#!/usr/bin/env bash
# The GPU machine's one prepared check (PyTorch 2.x with CUDA, transformers): builds rho against
# PyTorch's libtorch, runs the whole test suite there (the CUDA set in tests/test_cuda.cpp runs,
# everything else as on the CPU), the transformers parity cases (scripts/gpu/hf_parity.py: the
# Llama case the tests read, then every model family through rho model logits and rho export;
# scripts/gpu/hf_tokenizer_check.py: AutoTokenizer on an export of a model trained from rho's own
# tokenizer gives rho's ids, and a tied head saved by safetensors.save_model loads in rho),
# then the benchmarks with the Python peer (../shared/bench/gpu_peer.py) in the same call,
# interleaved: rho B=4, rho B=4 with --master-weights fp32, peer B=4, twice, then rho at B=8; the first
# round profiles rho's and the peer's steps (rho bench --profile, scripts/gpu/profile_peer.py). Everything goes to $OUT/gpu-check.txt (or ./gpu-check.txt).
# Budget: about 10 minutes, so it can run twice in 15 minutes of GPU time. QUICK=1 (about 5
# minutes) keeps what matters most: the build, the CUDA set, one round of rho and the peer.
# Usage: [QUICK=1] bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT:-.}
mkdir -p "$OUT_DIR"
REPORT=$OUT_DIR/gpu-check.txt
exec > >(tee "$REPORT") 2>&1
t_all=$(date +%s)
stamp() { echo "== $* ($(( $(date +%s) - t_all )) s)"; }
stamp machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')

stamp build
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" >build-gpu.log 2>&1 &&
  cmake --build build-gpu -j"$(nproc)" >>build-gpu.log 2>&1
rc=$?
if [ $rc -ne 0 ]; then grep -E "error|Error" build-gpu.log | head -40; echo "build failed"; exit 1; fi
RHO=$PWD/build-gpu/rho
"$RHO" --version

stamp "parity with transformers: the Llama case for the tests, then every family through rho model logits and rho export"
python3 scripts/gpu/hf_parity.py "$PWD/build-gpu/hf_parity" "$RHO"

stamp "transformers loads rho's tokenizer from an export (AutoTokenizer, same ids), and rho a tied head by safetensors.save_model"
python3 scripts/gpu/hf_tokenizer_check.py "$RHO" "$PWD" "$PWD/build-gpu/hf_tokenizer"

stamp "CUDA set and parity, with figures"
RHO_HF_PARITY_DIR=$PWD/build-gpu/hf_parity build-gpu/tests/rho_tests --gtest_filter='Cuda.*:HfParity*:ModelParity*:ModelFamilies*:Compute.*' 2>&1 |
  grep -E "^\[ *(OK|FAILED|SKIPPED) *\]|parity|max abs|vs |resume on|rho score|fused|master|AdamW|Failure|Expected|Which is" | head -60


# TinyLlama-1.1B's shape at T = 2,048: CLM, SLM with offline scores, SLM with an online bf16
# reference, and `rho score`'s forward, each timed over 10 steps after 3 warm-up steps.
BENCH=(bench --device cuda --precision bf16 --preset tinyllama-1.1b --seq-len 2048 --objective slm --score
       --steps 10 --warmup 3)
PEER=../shared/bench/gpu_peer.py
[ -f "$PEER" ] || PEER=scripts/gpu/gpu_peer_shared.py  # a copy carried along where ../shared is not beside
rounds="1 2"; [ "${QUICK:-0}" = 1 ] && rounds=1
for round in $rounds; do
  stamp "round $round: rho, B=4"
  # Round 1 also profiles 3 more steps of each variant (tables here, traces in build-gpu/profile-rho).
  profile=(); [ "$round" = 1 ] && profile=(--profile build-gpu/profile-rho --profile-steps 3)
  "$RHO" "${BENCH[@]}" --batch 4 "${profile[@]}" 2>&1
  stamp "round $round: rho, B=4, --master-weights fp32 (bf16 parameters, fp32 masters)"
  "$RHO" "${BENCH[@]}" --batch 4 --master-weights fp32 2>&1
  stamp "round $round: peer (transformers + torch), B=4"
  python3 "$PEER" 4 2>&1 | grep -v Warning
  if [ "$round" = 1 ]; then
    stamp "the peer's steps under torch.profiler, B=4 (the table rho bench --profile prints)"
    python3 scripts/gpu/profile_peer.py "$PEER" 4 build-gpu/profile-peer 3 2>&1 | grep -v Warning
  fi
done
if [ "${QUICK:-0}" != 1 ]; then
  stamp "rho, B=8 (the larger micro-batch rho fits)"
  "$RHO" "${BENCH[@]}" --batch 8 2>&1
  stamp "the whole test suite on this build"
  (cd build-gpu && RHO_HF_PARITY_DIR=$PWD/hf_parity ctest -j8 --timeout 600 2>&1 | tail -25)
  stamp "rho export loads in transformers (sharded)"
  rm -rf build-gpu/hf_export && "$RHO" export build-gpu/hf_parity --out build-gpu/hf_export --max-shard-size 200KB \
    --allow-unrecorded-tokenizer 2>/dev/null && python3 scripts/gpu/hf_export_check.py build-gpu/hf_parity build-gpu/hf_export
fi
stamp "done"
