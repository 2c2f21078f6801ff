# Sourced by the data-parallel benchmarks: bench_shards WORK RHO makes WORK/shards (and
# WORK/c.jsonl, WORK/tok.model, a 4,096-token sentencepiece) from text the machine has (licences
# and package docs), so a benchmark needs nothing downloaded. Does nothing when WORK/shards exists.
bench_shards() {
  local work=$1 rho=$2
  [ -d "$work/shards" ] && return 0
  { find /usr/share/common-licenses /usr/share/doc -name '*.txt' -o -name 'copyright' 2>/dev/null || true; } | head -400 |
    python3 -c 'import json,sys; [print(json.dumps({"text": open(p.strip(), errors="replace").read()[:20000]})) for p in sys.stdin]' >"$work/c.jsonl"
  "$rho" tokenizer train --input "$work/c.jsonl" --out "$work/tok.model" --vocab-size 4096 >/dev/null 2>&1
  "$rho" tokenize --tokenizer "$work/tok.model" --input "$work/c.jsonl" --out-dir "$work/shards" >/dev/null 2>&1
}
