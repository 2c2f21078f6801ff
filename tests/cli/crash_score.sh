# `rho score` killed with SIGKILL at random moments (and inside score file writes), restarted
# until done: finished shards are skipped, a shard cut short resumes at its last progress record
# (saved every batch here), no score file is ever half-written, and the final files equal an
# uninterrupted run's byte for byte.
# Usage: bash crash_score.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
source "$(dirname "$0")/lib/crash.sh"
make_shards 400 600
"$RHO" train --data "$WORK/shards" --out "$WORK/refmodel" --preset debug --steps 2 --seq-len 16 --batch 2 \
  >/dev/null 2>&1 || { echo "FAIL: train"; exit 1; }
n_shards=$(ls "$WORK/shards"/*.bin | wc -l)
ARGS=(score --model "$WORK/refmodel/final" --data "$WORK/shards" --seq-len 16 --batch 4 --threads 1 --save-every 2)
t0=$(now_ms)
"$RHO" "${ARGS[@]}" --out "$WORK/ref" 2>"$WORK/ref.log" || { echo "FAIL: reference scoring"; cat "$WORK/ref.log"; exit 1; }
dur=$(( $(now_ms) - t0 ))
echo "uninterrupted scoring of $n_shards shards: ${dur} ms"

fails=0
# Every score file present is complete: its size is the header's count of scores.
check_scores() {
  python3 - "$1" <<'PY'
import os, struct, sys
d = sys.argv[1]
for f in os.listdir(d) if os.path.isdir(d) else []:
    if ".tmp." in f or f.endswith(".part") or f.endswith(".progress"):
        continue  # temporaries, and a rank's windows with its progress record
    raw = open(os.path.join(d, f), "rb").read()
    n = struct.unpack("<Q", raw[16:24])[0]
    if raw[:8] != b"RHOSCOR1" or len(raw) != 64 + 4 * n:
        sys.exit(f"FAIL: {f} is half-written ({len(raw)} bytes for {n} scores)")
PY
}
same_as_ref() {
  local f ok=0
  for f in "$WORK/ref"/*.scores; do
    cmp -s "$f" "$1/$(basename "$f")" || { echo "FAIL: $2: $(basename "$f") differs"; ok=1; }
  done
  [ "$(ls "$1" | wc -l)" -eq "$n_shards" ] || { echo "FAIL: $2: $(ls "$1" | wc -l) files for $n_shards shards"; ok=1; }
  no_temporaries "$1" || ok=1
  return $ok
}

kill_randomly "$WORK/kill.log" check_scores "$WORK/kill" "$RHO" "${ARGS[@]}" --out "$WORK/kill"
skipped=$(grep -c "done already, skipped" "$WORK/kill.log")
resumed=$(grep -c "resuming at batch" "$WORK/kill.log")
echo "random kills: $kills SIGKILLs over $starts starts; $skipped finished shards skipped on restart, $resumed resumed mid-shard"
same_as_ref "$WORK/kill" "random kills" || fails=$((fails + 1))

# Random moments may all miss the inside of a shard (on a loaded machine most land in start-up),
# so a kill there is made sure of: SIGKILL as soon as a progress record appears (a shard has
# ~10 batches and the first record comes at batch 2), restart, and the restart must resume
# mid-shard. A round that loses the race (the shard finished first) is tried again, up to 3.
mid=0
for round in 1 2 3; do
  dir=$WORK/pkill$round
  kill_in_writes 1 "$dir/*.progress" "$dir.log" check_scores "$dir" "$RHO" "${ARGS[@]}" --out "$dir"
  same_as_ref "$dir" "mid-shard kill" || fails=$((fails + 1))
  if grep -q "resuming at batch" "$dir.log"; then mid=$round; break; fi
done
echo "mid-shard kill: resumed inside a shard in round $mid of 3"
[ "$mid" -ge 1 ] || { echo "FAIL: no restart resumed inside a shard"; fails=$((fails + 1)); }

# Kills inside score file writes: wait for a temporary to appear.
kill_in_writes 3 "$WORK/wkill/*.tmp.*" "$WORK/wkill.log" check_scores "$WORK/wkill" "$RHO" "${ARGS[@]}" --out "$WORK/wkill"
echo "score-write kills: $caught of $write_starts left a temporary behind"
[ "$caught" -ge 1 ] || { echo "FAIL: no kill landed inside a score file write"; fails=$((fails + 1)); }
same_as_ref "$WORK/wkill" "kills in score writes" || fails=$((fails + 1))

echo "$fails failures"
[ "$fails" -eq 0 ]
