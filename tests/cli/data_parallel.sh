# Data-parallel training over loopback with Gloo: `rho launch -n 2 -- train` with micro-batches
# of B and accumulation A against one process with accumulation 2A (the same global batch):
# the same tokens selected at every step and the same weights after several steps, within
# fp32 tolerance (gradients are summed in another order). A resume keeps the global batch
# (processes x --grad-accum); tests/cli/sharded.sh resumes at other world sizes. The same with
# --master-weights fp32.
# Usage: bash data_parallel.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
COMPARE="python3 $(dirname "$0")/lib/compare_weights.py"
# Builds against PyTorch 2.x wheels have no gloo headers, so no CPU process group: skip (ctest
# reports exit 77 as skipped), with the reason.
if "$RHO" --version | grep -q "gloo no"; then
  skip "$("$RHO" --version): CPU data parallelism needs Gloo, which this build lacks"
fi

for i in $(seq 1 300); do echo "{\"text\": \"row $i: $((i * 7)) apples and $((i % 13)) pears make $((i * 7 + i % 13)) fruits; the cat sat.\"}"; done >"$WORK/c.jsonl"
train_tokenizer "$WORK/c.jsonl" "$WORK/tok.model" 300
"$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/c.jsonl" --out-dir "$WORK/shards" >/dev/null 2>&1 || { echo "FAIL: tokenize"; exit 1; }
"$RHO" train --data "$WORK/shards" --out "$WORK/base" --preset debug --steps 3 --seq-len 16 --batch 4 >/dev/null 2>&1 || { echo "FAIL: base"; exit 1; }
# The reference differs from the base (base + 6 steps), so excess losses are not all near 0:
# near-ties would let fp32 rounding differences (the summation order) flip tokens.
"$RHO" train --data "$WORK/shards" --out "$WORK/ref" --init-from "$WORK/base/final" --steps 6 --seq-len 16 --batch 4 --lr 1e-2 >/dev/null 2>&1 || { echo "FAIL: ref"; exit 1; }
"$RHO" score --model "$WORK/ref/final" --data "$WORK/shards" --out "$WORK/scores" --seq-len 16 >/dev/null 2>&1 || { echo "FAIL: score"; exit 1; }

COMMON=(--data "$WORK/shards" --init-from "$WORK/base/final" --seq-len 16 --batch 2 --steps 6 --warmup 1 --lr 3e-3 --log-every 1 --val-every 0)
SLM=(--objective slm --ratio 0.4 --ref-scores "$WORK/scores")
"$RHO" train "${COMMON[@]}" "${SLM[@]}" --grad-accum 4 --out "$WORK/one" >"$WORK/one.log" 2>&1
check "one process trains" test $? -eq 0
"$RHO" launch -n 2 -- train "${COMMON[@]}" "${SLM[@]}" --grad-accum 2 --out "$WORK/two" >"$WORK/two.log" 2>&1
check "two processes train" test $? -eq 0 || sed 's/^/  | /' "$WORK/two.log"
check "SLM: same weights after 6 steps (fp32 tolerance 2e-5)" $COMPARE "$WORK/one/final" "$WORK/two/final" 2e-5
# Per step: how many tokens were kept and a checksum of which (shard positions, summed over ranks).
selected() { python3 -c "import json,sys; print([(j['selected'], j['selected_checksum']) for j in map(json.loads, open(sys.argv[1]))])" "$1"; }
check "SLM: same tokens kept at every step" test "$(selected "$WORK/one/metrics.jsonl")" = "$(selected "$WORK/two/metrics.jsonl")"
check "SLM: rank 0 writes the summary with the world size" grep -q '"world": 2' "$WORK/two/summary.json"

"$RHO" train "${COMMON[@]}" --grad-accum 4 --out "$WORK/one-clm" >/dev/null 2>&1
"$RHO" launch -n 2 -- train "${COMMON[@]}" --grad-accum 2 --out "$WORK/two-clm" >/dev/null 2>&1
check "CLM: same weights after 6 steps (fp32 tolerance 2e-5)" $COMPARE "$WORK/one-clm/final" "$WORK/two-clm/final" 2e-5

# --master-weights fp32 (bf16 parameters, fp32 masters): the masters' gradients are what the
# processes sum.
MASTER=(--precision bf16 --master-weights fp32)
"$RHO" train "${COMMON[@]}" "${SLM[@]}" "${MASTER[@]}" --grad-accum 4 --out "$WORK/one-master" >/dev/null 2>&1
"$RHO" launch -n 2 -- train "${COMMON[@]}" "${SLM[@]}" "${MASTER[@]}" --grad-accum 2 --out "$WORK/two-master" >/dev/null 2>&1
check "--master-weights fp32: same weights after 6 steps (2e-5)" $COMPARE "$WORK/one-master/final" "$WORK/two-master/final" 2e-5

# Interrupted at step 3 and resumed with the same world size: the same weights as straight through.
"$RHO" launch -n 2 -- train "${COMMON[@]}" "${SLM[@]}" --grad-accum 2 --out "$WORK/resumed" --stop-after 3 >/dev/null 2>&1
expect_error "resume with another global batch (1 x 2 instead of 2 x 2) is refused" "global batch" -- train "${COMMON[@]}" "${SLM[@]}" --grad-accum 2 --out "$WORK/resumed" --resume
"$RHO" launch -n 2 -- train "${COMMON[@]}" "${SLM[@]}" --grad-accum 2 --out "$WORK/resumed" --resume >/dev/null 2>&1
check "resumed run equals the straight one exactly" $COMPARE "$WORK/two/final" "$WORK/resumed/final" 0

# A failing rank stops the launch with its exit code and a one-line reason.
"$RHO" launch -n 2 -- train --data "$WORK/nowhere" --out "$WORK/bad" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "a failing rank fails the launch" test "$rc" -ne 0
check "the launch names the failing rank" grep -q "launch: rank [01] exited with code" "$WORK/err"
finish
