#!/usr/bin/env bash
# Peak RSS of `rho score` at TinyLlama's vocabulary (32,000) and T = 2,048 on a debug-sized body
# (2 layers, hidden 64), batch 4: what the LM head costs when scoring. Prints one line:
#   score-memory vocab 32000 T 2048 batch 4: peak RSS <MiB> MiB (<s> s)
# Usage: scripts/bench-score-memory.sh [RHO_BINARY] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RHO=${1:-build/rho}
WORK=${2:-$(mktemp -d /tmp/rho-score-mem-XXXXXX)}
V=32000 T=2048 B=4
mkdir -p "$WORK"
if [ ! -d "$WORK/shards" ]; then
  python3 - "$WORK/c.txt" <<'PY'
import random, sys
r = random.Random(7)
words = ["alpha", "beta", "gamma", "delta", "number", "the", "cat", "sat", "on", "mat", "and", "counted"]
with open(sys.argv[1], "w") as f:
    for i in range(6000):
        f.write(" ".join(r.choice(words) + str(r.randint(0, 99)) for _ in range(12)) + "\n")
PY
  "$RHO" tokenizer train --input "$WORK/c.txt" --vocab-size 300 --out "$WORK/tok.model" >/dev/null
  "$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/c.txt" --out-dir "$WORK/shards" >/dev/null
fi
# The model: debug body, vocab 32,000, 2,048 positions, random weights; it records the shards'
# tokenizer (rho.json) so rho's tokenizer check accepts it.
/usr/bin/python3 - "$WORK/model" "$WORK/shards" "$V" "$T" <<'PY'
import glob, json, os, struct, sys
sys.path.insert(0, "tests/fixtures")
import torch
from make_llama_fixture import param_shapes, save_safetensors
out, shards, V, T = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out, exist_ok=True)
c = dict(vocab_size=V, hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
         num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=T,
         tie_word_embeddings=False)
g = torch.Generator().manual_seed(1)
save_safetensors(os.path.join(out, "model.safetensors"),
                 {n: (0.02 * torch.randn(s, generator=g)).float() if len(s) > 1 else torch.ones(s)
                  for n, s in param_shapes(c).items()}, {"format": "pt"})
json.dump(dict(c, architectures=["LlamaForCausalLM"], model_type="llama"), open(os.path.join(out, "config.json"), "w"))
head = open(sorted(glob.glob(os.path.join(shards, "*.bin")))[0], "rb").read(64)
fp, vocab = struct.unpack_from("<Q", head, 24)[0], struct.unpack_from("<I", head, 32)[0]
json.dump({"tokenizer": {"fingerprint": "%016x" % fp, "vocab_size": vocab}}, open(os.path.join(out, "rho.json"), "w"))
PY
rm -rf "$WORK/scores"
/usr/bin/time -f "%M %e" -o "$WORK/time.txt" "$RHO" score --model "$WORK/model" --data "$WORK/shards" \
  --out "$WORK/scores" --seq-len "$T" --batch "$B" >/dev/null 2>"$WORK/score.log" || { cat "$WORK/score.log"; exit 1; }
read -r kb secs <"$WORK/time.txt"
echo "score-memory vocab $V T $T batch $B: peak RSS $((kb / 1024)) MiB ($secs s) [$RHO]"
