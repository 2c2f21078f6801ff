# Shared by the crash tests (after lib/setup.sh): seeded randomness and checks of what a killed
# run may leave on disk.

# Seeded so a failure can be replayed: RHO_CRASH_SEED=<seed printed below> bash <test> ...
CRASH_SEED=${RHO_CRASH_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$CRASH_SEED
echo "crash test seed: $CRASH_SEED (replay with RHO_CRASH_SEED=$CRASH_SEED)"

now_ms() { date +%s%3N; }

# A run directory after a kill: `latest` (if any) names a checkpoint with every part present,
# and nothing half-written sits under a final name (only *.tmp.<pid> may be partial).
check_run_dir() {
  local ck=$1/checkpoints name
  [ -f "$ck/latest" ] || return 0
  name=$(cat "$ck/latest")
  for f in config.json model.safetensors optimizer.pt rng.safetensors trainer_state.json; do
    [ -s "$ck/$name/$f" ] || { echo "FAIL: latest -> $name lacks $f"; return 1; }
  done
  python3 - "$ck" <<'PY' || return 1
import json, os, struct, sys
ck = sys.argv[1]
for d in sorted(os.listdir(ck)):
    p = os.path.join(ck, d)
    if ".tmp." in d or not os.path.isdir(p):
        continue
    json.load(open(os.path.join(p, "trainer_state.json")))
    json.load(open(os.path.join(p, "config.json")))
    for st in ("model.safetensors", "rng.safetensors"):
        raw = open(os.path.join(p, st), "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
        if 8 + n + end != len(raw):
            sys.exit(f"FAIL: {p}/{st} is {len(raw)} bytes, its header says {8 + n + end}")
PY
}

no_temporaries() {  # no_temporaries DIR: nothing named *.tmp.<pid> is left
  local left
  left=$(find "$1" -name '*.tmp.*' | head -5)
  [ -z "$left" ] || { echo "FAIL: temporaries left behind: $left"; return 1; }
}

# kill_randomly LOG CHECK DIR CMD...: runs CMD (writing into DIR) again and again, SIGKILLing
# each of the first 8 starts at a random moment within the first third of an uninterrupted run
# ($dur ms; restarts skip finished work, so later starts end sooner) and calling `CHECK DIR`
# after each kill, until a start runs to the end. Sets kills and starts; failures add to $fails.
kill_randomly() {
  local log=$1 check=$2 dir=$3 pid rc delay
  shift 3
  kills=0 starts=0
  while :; do
    starts=$((starts + 1))
    "$@" 2>>"$log" &
    pid=$!
    if ((kills < 8)); then
      delay=$(( RANDOM % (dur / 3 + 200) ))
      sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
    fi
    if ((kills < 8)) && kill -KILL "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      kills=$((kills + 1))
      "$check" "$dir" || fails=$((fails + 1))
    else
      wait "$pid"; rc=$?
      [ "$rc" -eq 0 ] && break
      echo "FAIL: restart exited $rc"; tail -3 "$log"; fails=$((fails + 1)); break
    fi
  done
}

# kill_in_writes ROUNDS PATTERN LOG CHECK DIR CMD...: starts CMD ROUNDS times and SIGKILLs it as
# soon as a path matching PATTERN (a temporary being written, or a record that marks a phase)
# appears, calling `CHECK DIR` after each kill; then runs CMD once more to the end. Sets caught
# (kills after which PATTERN still matched) and write_starts (the starts made).
# A write can finish between seeing its temporary and the kill (more often on a loaded machine):
# while no kill has been caught, up to ROUNDS more starts are made.
kill_in_writes() {
  local rounds=$1 pattern=$2 log=$3 check=$4 dir=$5 pid round
  shift 5
  caught=0
  for round in $(seq 1 $((2 * rounds))); do
    ((round > rounds && caught > 0)) && break
    write_starts=$round
    "$@" 2>>"$log" &
    pid=$!
    until compgen -G "$pattern" >/dev/null || ! kill -0 "$pid" 2>/dev/null; do :; done
    if kill -KILL "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      compgen -G "$pattern" >/dev/null && caught=$((caught + 1))
      "$check" "$dir" || fails=$((fails + 1))
    else
      wait "$pid"
    fi
  done
  "$@" 2>>"$log" || { echo "FAIL: final restart"; fails=$((fails + 1)); }
}
