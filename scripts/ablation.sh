#!/usr/bin/env bash
# The ablation a skeptical reader asks for first: every SLM score function side by side, and the
# variants beyond the paper: softmax weights at two temperatures, the stream threshold at k = 60%,
# and a reference with its own tokenizer (scripts/demo/variants.py).
# From the demo's cached stages (same run folder: base, reference, scores, CLM and SLM at k = 60%),
# SLM with --score excess, ref-loss and current-loss at k = 40, 60 and 80% and random at 60%,
# for every seed, same steps and data order as CLM; then the report gets a table (held-out GSM8K
# loss and arithmetic accuracy, mean over seeds with 95% intervals) and a plot of held-out loss
# against tokens trained, one line per variant (report/ablation_loss.png).
# Usage: scripts/ablation.sh [RUN_DIR]   (default runs/demo; SEEDS="1 2 3" by default here)
# Settings as for scripts/demo.sh; ABLATION overrides the variants (KIND:VALUE,... entries: scripts/demo/variants.py).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"1 2 3"} ABLATION=${ABLATION:-"excess:0.4,0.6,0.8 ref-loss:0.4,0.6,0.8 current-loss:0.4,0.6,0.8 random:0.6 softmax:1,4 stream:0.6 xtok:0.6"} \
  exec bash scripts/demo.sh "$@"
