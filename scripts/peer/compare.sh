#!/usr/bin/env bash
# rho's SLM step against the public Python way (scripts/peer/slm_peer.py) on the same model,
# batch and machine. Rounds alternate rho and the peer so drift in the machine's speed hits both;
# each round is a fresh process of each, and the medians over the rounds' medians are compared.
# Usage: scripts/peer/compare.sh [PRESET] [ROUNDS] [STEPS]   (default demo 3 5; needs build/rho)
set -euo pipefail
cd "$(dirname "$0")/../.."
PRESET=${1:-demo} ROUNDS=${2:-3} STEPS=${3:-5} B=${B:-8} T=${T:-256}
RHO=${RHO:-build/rho}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); preset $PRESET B $B T $T, $ROUNDS rounds x $STEPS steps"
for r in $(seq "$ROUNDS"); do
  "$RHO" bench --preset "$PRESET" --batch "$B" --seq-len "$T" --objective slm --steps "$STEPS" --warmup 1 | tee "$tmp/rho.$r"
  "$PY" scripts/peer/slm_peer.py --preset "$PRESET" --batch "$B" --seq-len "$T" --steps "$STEPS" --warmup 1 | tee "$tmp/peer.$r"
done
"$PY" - "$tmp" "$ROUNDS" <<'PYEOF'
import re, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
pats = {  # (file, wall-time pattern, CPU-time pattern)
    "rho CLM": ("rho", r"train step median\s+([\d.]+) ms", r"^\s+clm\s+([\d.]+) ms"),
    "rho SLM offline": ("rho", r"SLM step, offline\s+([\d.]+) ms", r"^\s+slm-offline\s+([\d.]+) ms"),
    "rho SLM online": ("rho", r"SLM step, online\s+([\d.]+) ms", r"^\s+slm-online\s+([\d.]+) ms"),
    "peer SLM": ("peer", r"peer slm step median ([\d.]+) ms", r"peer slm step .* CPU time ([\d.]+) ms"),
    "peer CLM": ("peer", r"peer clm step median ([\d.]+) ms", r"peer clm step .* CPU time ([\d.]+) ms"),
}
def grab(path, pattern):
    return float(re.search(pattern, open(path).read(), re.M).group(1))
for kind, col in (("wall time", 1), ("process CPU time", 2)):
    rows = {k: [grab(f"{d}/{p[0]}.{r}", p[col]) for r in range(1, n + 1)] for k, p in pats.items()}
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\n## step {kind}, median over rounds")
    for k, v in rows.items():
        print(f"{k:16s} {med[k]:8.1f} ms   (rounds: {', '.join(f'{x:.1f}' for x in v)})")
    print(f"peer SLM / rho SLM offline = {med['peer SLM'] / med['rho SLM offline']:.2f}x  (rho's normal SLM: offline scores)")
    print(f"peer SLM / rho SLM online  = {med['peer SLM'] / med['rho SLM online']:.2f}x  (like for like: reference forward in the step)")
    print(f"peer CLM / rho CLM         = {med['peer CLM'] / med['rho CLM']:.2f}x")
PYEOF
