# `rho train` killed with SIGKILL at random moments (and inside checkpoint writes), restarted with
# --resume each time: every restart finds a complete checkpoint, and the final model, the last
# checkpoint and the logged losses equal an uninterrupted run's, byte for byte. SIGTERM and
# SIGINT checkpoint and exit with 143 / 130.
# Usage: bash crash_train.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
source "$(dirname "$0")/lib/crash.sh"
make_shards 120 100000

ARGS=(train --data "$WORK/shards" --preset debug --steps 60 --seq-len 16 --batch 2 --grad-accum 2
      --ckpt-every 4 --keep-last 2 --threads 1 --seed 5 --log-every 1000 --lr 3e-3)
t0=$(now_ms)
"$RHO" "${ARGS[@]}" --out "$WORK/ref" 2>"$WORK/ref.log" || { echo "FAIL: reference run"; cat "$WORK/ref.log"; exit 1; }
dur=$(( $(now_ms) - t0 ))
echo "uninterrupted run: ${dur} ms"

same_as_ref() {  # same_as_ref RUN_DIR LABEL
  local ok=0 last
  cmp -s "$WORK/ref/final/model.safetensors" "$1/final/model.safetensors" || { echo "FAIL: $2: final weights differ"; ok=1; }
  last=$(cat "$WORK/ref/checkpoints/latest")
  [ "$(cat "$1/checkpoints/latest")" = "$last" ] || { echo "FAIL: $2: latest is not $last"; ok=1; }
  for f in model.safetensors rng.safetensors trainer_state.json; do
    cmp -s "$WORK/ref/checkpoints/$last/$f" "$1/checkpoints/$last/$f" || { echo "FAIL: $2: $last/$f differs"; ok=1; }
  done
  # optimizer.pt is not byte-reproducible even between two uninterrupted runs (libtorch keys the
  # AdamW state by tensor addresses): compare its tensor records as a multiset of CRC-32s.
  python3 - "$WORK/ref/checkpoints/$last/optimizer.pt" "$1/checkpoints/$last/optimizer.pt" <<'PY' || { echo "FAIL: $2: optimizer state differs"; ok=1; }
import sys, zipfile
crcs = [sorted(i.CRC for i in zipfile.ZipFile(p).infolist() if "/data/" in i.filename) for p in sys.argv[1:]]
sys.exit(0 if crcs[0] == crcs[1] and crcs[0] else 1)
PY
  # The loss curve too (tokens_per_s is a timing): metrics.jsonl reads as one uninterrupted run.
  python3 - "$WORK/ref/metrics.jsonl" "$1/metrics.jsonl" <<'PY' || { echo "FAIL: $2: metrics differ"; ok=1; }
import json, sys
rows = [[{k: v for k, v in json.loads(l).items() if k != "tokens_per_s"} for l in open(p)] for p in sys.argv[1:]]
sys.exit(0 if rows[0] == rows[1] and len(rows[0]) == 60 else f"{len(rows[0])} vs {len(rows[1])} rows")
PY
  no_temporaries "$1" || ok=1
  return $ok
}

fails=0
# 1. SIGKILL at random moments until the run completes.
kill_randomly "$WORK/kill.log" check_run_dir "$WORK/kill" "$RHO" "${ARGS[@]}" --out "$WORK/kill" --resume
echo "random kills: $kills SIGKILLs over $starts starts"
same_as_ref "$WORK/kill" "random kills" || fails=$((fails + 1))

# 2. SIGKILL inside checkpoint writes: wait for a checkpoint's temporary directory to appear.
kill_in_writes 4 "$WORK/ckkill/checkpoints/step_*.tmp.*" "$WORK/ckkill.log" check_run_dir "$WORK/ckkill" \
  "$RHO" "${ARGS[@]}" --out "$WORK/ckkill" --resume
echo "checkpoint-write kills: $caught of $write_starts left a partial checkpoint behind"
[ "$caught" -ge 1 ] || { echo "FAIL: no kill landed inside a checkpoint write"; fails=$((fails + 1)); }
same_as_ref "$WORK/ckkill" "kills in checkpoint writes" || fails=$((fails + 1))

# 3. SIGTERM / SIGINT: a checkpoint of the step reached, exit 128+signal, then resume to the end.
for sig in TERM INT; do
  out=$WORK/sig$sig
  "$RHO" "${ARGS[@]}" --out "$out" 2>"$out.log" &
  pid=$!
  until [ -s "$out/metrics.jsonl" ] && [ "$(wc -l <"$out/metrics.jsonl")" -ge 6 ]; do sleep 0.01; done
  kill -"$sig" "$pid"
  wait "$pid"; rc=$?
  want=$([ "$sig" = TERM ] && echo 143 || echo 130)
  step=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' \
         "$out/checkpoints/$(cat "$out/checkpoints/latest")/trainer_state.json" 2>/dev/null)
  logged=$(wc -l <"$out/metrics.jsonl")
  if [ "$rc" -ne "$want" ] || ! grep -q "stopped by SIG$sig after step $step/60" "$out.log" || [ "$step" != "$logged" ]; then
    echo "FAIL: SIG$sig: exit $rc (want $want), checkpoint step '$step', $logged steps logged"; tail -2 "$out.log"
    fails=$((fails + 1))
  fi
  "$RHO" "${ARGS[@]}" --out "$out" --resume 2>>"$out.log" || { echo "FAIL: resume after SIG$sig"; fails=$((fails + 1)); }
  same_as_ref "$out" "SIG$sig then resume" || fails=$((fails + 1))
  echo "SIG$sig: stopped at step $step with exit $rc, resumed to the end"
done

echo "$fails failures"
[ "$fails" -eq 0 ]
