#!/usr/bin/env bash
# The second, longer command: the demo plus SLM at k = 40, 60, 80 and 100% (seed 1) and one
# CLM run three times as long, which measures how many steps CLM needs to reach SLM's loss.
# Reuses every finished stage of scripts/demo.sh in the same run folder.
# Usage: scripts/ratio-sweep.sh [RUN_DIR]   (default runs/demo); settings as for scripts/demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-200}
SWEEP_RATIOS=${SWEEP_RATIOS:-"0.4 0.6 0.8 1.0"} CLM_LONG_STEPS=${CLM_LONG_STEPS:-$((3 * STEPS))} STEPS=$STEPS \
  exec bash scripts/demo.sh "$@"
