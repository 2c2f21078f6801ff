# ZeRO sharding under `rho launch` (Gloo over loopback): --shard optimizer and gradients give the
# weights of unsharded data parallelism; a run checkpointed by 4 ranks resumes on 2 (and on 1
# process, unsharded) and ends where the straight run ends; a rank killed (SIGKILL) during a
# save leaves the previous checkpoint, which 1 and 4 processes both resume; `rho export` writes
# the checkpoint's whole model; bad input is refused by name.
# Usage: bash sharded.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
COMPARE="python3 $(dirname "$0")/lib/compare_weights.py"
if "$RHO" --version | grep -q "gloo no"; then
  skip "$("$RHO" --version): CPU data parallelism needs Gloo, which this build lacks"
fi

make_shards 200 100000
"$RHO" train --data "$WORK/shards" --out "$WORK/base" --preset debug --steps 2 --seq-len 16 --batch 4 >/dev/null 2>&1 || { echo "FAIL: base"; exit 1; }
# Global batch: 4 micro-batches of 2 sequences, split 4 x 1, 2 x 2 or 1 x 4.
COMMON=(--data "$WORK/shards" --init-from "$WORK/base/final" --seq-len 16 --batch 2 --steps 6 --warmup 1 --lr 3e-3
        --log-every 1 --val-every 0 --objective slm --ratio 0.4 --score current-loss --keep-last 0)
launch() { local n=$1; shift; "$RHO" launch -n "$n" -- train "${COMMON[@]}" "$@"; }

launch 2 --grad-accum 2 --out "$WORK/plain" >"$WORK/plain.log" 2>&1
check "unsharded data parallelism trains" test $? -eq 0
launch 2 --grad-accum 2 --shard optimizer --out "$WORK/z1" >"$WORK/z1.log" 2>&1
check "--shard optimizer trains" test $? -eq 0 || sed 's/^/  | /' "$WORK/z1.log"
check "--shard optimizer: the weights of unsharded data parallelism (1e-6)" $COMPARE "$WORK/plain/final" "$WORK/z1/final" 1e-6
check "the log names Gloo's reduce-scatter fallback" grep -q "reduce-scatter as one reduce per rank" "$WORK/z1.log"

# (4 x 1 against 4 x 1: over 4 ranks the sums are associated otherwise than over 2 x 2.)
launch 4 --out "$WORK/plain4" >/dev/null 2>&1
launch 4 --shard gradients --out "$WORK/z2" >"$WORK/z2.log" 2>&1
check "--shard gradients on 4 processes trains" test $? -eq 0 || sed 's/^/  | /' "$WORK/z2.log"
check "--shard gradients: the weights of unsharded data parallelism (1e-6)" $COMPARE "$WORK/plain4/final" "$WORK/z2/final" 1e-6
check "a sharded checkpoint has a manifest and one file of slices per rank" \
  test -f "$WORK/z2/checkpoints/step_0000006/optimizer/manifest.json" -a -f "$WORK/z2/checkpoints/step_0000006/optimizer/rank_00003.safetensors"
check "summary.json records each rank's memory" grep -q '"optimizer_bytes"' "$WORK/z2/summary.json"

# Checkpointed by 4 ranks at step 3, resumed on 2 (sharded, accumulating 2) and on 1 (unsharded, 4).
launch 4 --shard gradients --out "$WORK/r4" --stop-after 3 >/dev/null 2>&1
cp -r "$WORK/r4" "$WORK/r1"
launch 2 --grad-accum 2 --shard optimizer --out "$WORK/r4" --resume >"$WORK/r2.log" 2>&1
check "4 ranks' checkpoint resumes on 2" test $? -eq 0 || sed 's/^/  | /' "$WORK/r2.log"
check "... and ends where the straight run ends (1e-6)" $COMPARE "$WORK/z2/final" "$WORK/r4/final" 1e-6
"$RHO" train "${COMMON[@]}" --grad-accum 4 --out "$WORK/r1" --resume >"$WORK/r1.log" 2>&1
check "4 ranks' checkpoint resumes in one unsharded process" test $? -eq 0 || sed 's/^/  | /' "$WORK/r1.log"
check "... and ends where the straight run ends (1e-6)" $COMPARE "$WORK/z2/final" "$WORK/r1/final" 1e-6
expect_error "a resume that changes the global batch is refused" "global batch" -- \
  train "${COMMON[@]}" --grad-accum 2 --out "$WORK/r1" --resume

# Rank 1 killed (SIGKILL) while saving step 6's checkpoint: step 3's stays the latest, whole.
RHO_FAULT_KILL_IN_SAVE=1:6 launch 2 --grad-accum 2 --shard gradients --ckpt-every 3 --out "$WORK/k" >"$WORK/k.log" 2>&1
check "the launch fails when a rank is killed" test $? -ne 0
check "the launch names the killed rank" grep -q "rank 1 was killed by signal 9" "$WORK/k.log"
check "latest still names step 3" grep -q "step_0000003" "$WORK/k/checkpoints/latest"
check "step 6 was never renamed into place" test ! -e "$WORK/k/checkpoints/step_0000006"
cp -r "$WORK/k" "$WORK/k4"
"$RHO" train "${COMMON[@]}" --grad-accum 4 --out "$WORK/k" --resume >"$WORK/k1.log" 2>&1
check "one process resumes it" test $? -eq 0 || sed 's/^/  | /' "$WORK/k1.log"
check "... to the straight run's weights (1e-6)" $COMPARE "$WORK/plain/final" "$WORK/k/final" 1e-6
launch 4 --shard gradients --out "$WORK/k4" --resume >"$WORK/k4.log" 2>&1
check "four processes resume it" test $? -eq 0 || sed 's/^/  | /' "$WORK/k4.log"
check "... to the straight run's weights (1e-6)" $COMPARE "$WORK/plain/final" "$WORK/k4/final" 1e-6
check "the killed save's temporary was cleared" test -z "$(ls "$WORK/k4/checkpoints" | grep tmp)"

# rho export of a sharded checkpoint: the whole model, as training left it.
"$RHO" export "$WORK/z2/checkpoints/step_0000006" --out "$WORK/hf" >/dev/null 2>"$WORK/export.err"
check "rho export writes a sharded run's checkpoint" test $? -eq 0 || cat "$WORK/export.err"
check "... with the run's final weights" $COMPARE "$WORK/z2/final" "$WORK/hf" 0

# rho plan: a row per --shard, the 7B verdicts of docs/data-parallel.md, bad input refused.
"$RHO" plan --preset mistral-7b --gpus 8 --gpu-memory 80GiB --seq-len 4096 --batch 1 --grad-accum 4 --objective slm \
  --ref offline --selection-scope micro-batch >"$WORK/plan.txt" 2>&1
check "rho plan: 7B on 8 x 80 GiB does not fit unsharded" grep -q "^--shard none .* no (" "$WORK/plan.txt"
check "rho plan: ... and fits with --shard gradients" grep -q "^--shard gradients .* yes$" "$WORK/plan.txt"
"$RHO" plan --model "$WORK/base/final" --gpus 2 --seq-len 16 --batch 2 --device cpu --json >"$WORK/plan.json" 2>&1
check "rho plan --model reads the model's config" python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert [x['shard'] for x in r]==['none','optimizer','gradients'] and r[1]['optimizer']*2 <= r[0]['optimizer']+16" "$WORK/plan.json"
expect_error "rho plan: --model and --preset together are refused" "one of them" -- plan --model "$WORK/base/final" --preset debug
expect_error "rho plan: a memory that is not a size is refused" "--gpu-memory" -- plan --preset debug --gpu-memory 80G

# Bad input.
expect_error "--shard in one process says what it needs" "needs several" -- train "${COMMON[@]}" --shard optimizer --out "$WORK/one"
echo step_0000003 >"$WORK/r1/checkpoints/latest"
M="$WORK/r1/checkpoints/step_0000003/optimizer/manifest.json"
cp "$M" "$WORK/manifest.json"
sed -i 's/"slice": \([0-9]*\)/"slice": 1\1/' "$M"
expect_error "a manifest whose slice sizes are not its layout's is refused by name" "manifest.json" -- \
  train "${COMMON[@]}" --grad-accum 4 --out "$WORK/r1" --resume
cp "$WORK/manifest.json" "$M"
cp "$WORK/k/checkpoints/step_0000003/optimizer/rank_00000.safetensors" "$WORK/r1/checkpoints/step_0000003/optimizer/"
expect_error "slices that are not the manifest's (another world size's file) are refused by name" "rank_00000.safetensors" -- \
  train "${COMMON[@]}" --grad-accum 4 --out "$WORK/r1" --resume
finish
