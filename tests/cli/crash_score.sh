# `rho score` killed with SIGKILL at random moments (and inside score file writes), restarted
# until done: finished shards are skipped, no score file is ever half-written, and the final
# files equal an uninterrupted run's byte for byte.
# Usage: bash crash_score.sh RHO_BINARY SOURCE_DIR
set -u
RHO=$1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/lib/crash.sh"
make_shards 400 600
"$RHO" train --data "$WORK/shards" --out "$WORK/refmodel" --preset debug --steps 2 --seq-len 16 --batch 2 \
  >/dev/null 2>&1 || { echo "FAIL: train"; exit 1; }
n_shards=$(ls "$WORK/shards" | wc -l)
ARGS=(score --model "$WORK/refmodel/final" --data "$WORK/shards" --seq-len 16 --batch 4 --threads 1)
t0=$(now_ms)
"$RHO" "${ARGS[@]}" --out "$WORK/ref" 2>"$WORK/ref.log" || { echo "FAIL: reference scoring"; cat "$WORK/ref.log"; exit 1; }
dur=$(( $(now_ms) - t0 ))
echo "uninterrupted scoring of $n_shards shards: ${dur} ms"

fails=0
# Every score file present is complete: its size is the header's count of scores.
check_scores() {
  python3 - "$1" <<'PY' || fails=$((fails + 1))
import os, struct, sys
d = sys.argv[1]
for f in os.listdir(d) if os.path.isdir(d) else []:
    if ".tmp." in f:
        continue
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

kills=0 starts=0
while :; do
  starts=$((starts + 1))
  "$RHO" "${ARGS[@]}" --out "$WORK/kill" 2>>"$WORK/kill.log" &
  pid=$!
  if ((kills < 8)); then
    # Restarts skip finished work, so later starts end sooner: kill within the first third.
    delay=$(( RANDOM % (dur / 3 + 200) ))
    sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
  fi
  if ((kills < 8)) && kill -KILL "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    check_scores "$WORK/kill"
  else
    wait "$pid"; rc=$?
    [ "$rc" -eq 0 ] && break
    echo "FAIL: restart exited $rc"; tail -3 "$WORK/kill.log"; fails=$((fails + 1)); break
  fi
done
skipped=$(grep -c "done already, skipped" "$WORK/kill.log")
echo "random kills: $kills SIGKILLs over $starts starts; $skipped finished shards skipped on restart"
same_as_ref "$WORK/kill" "random kills" || fails=$((fails + 1))

# Kills inside score file writes: wait for a temporary to appear.
caught=0
for round in 1 2 3; do
  "$RHO" "${ARGS[@]}" --out "$WORK/wkill" 2>>"$WORK/wkill.log" &
  pid=$!
  until compgen -G "$WORK/wkill/*.tmp.*" >/dev/null || ! kill -0 "$pid" 2>/dev/null; do :; done
  if kill -KILL "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    compgen -G "$WORK/wkill/*.tmp.*" >/dev/null && caught=$((caught + 1))
    check_scores "$WORK/wkill"
  else
    wait "$pid"
  fi
done
"$RHO" "${ARGS[@]}" --out "$WORK/wkill" 2>>"$WORK/wkill.log" || { echo "FAIL: final restart"; fails=$((fails + 1)); }
echo "score-write kills: $caught of 3 left a temporary behind"
[ "$caught" -ge 1 ] || { echo "FAIL: no kill landed inside a score file write"; fails=$((fails + 1)); }
same_as_ref "$WORK/wkill" "kills in score writes" || fails=$((fails + 1))

echo "$fails failures"
[ "$fails" -eq 0 ]
