# Writes that fail: a file size limit (EFBIG, the way a filling disk fails a write partway) while
# a checkpoint is written, an output path that cannot be created, a device as output. Each gives
# one error line naming the file, and the previous checkpoint stays usable.
# Usage: bash write_failures.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
source "$(dirname "$0")/lib/crash.sh"
make_shards 60 100000
ARGS=(train --data "$WORK/shards" --preset debug --seq-len 16 --batch 2 --ckpt-every 2 --keep-last 2 --threads 1 --log-every 1000)
"$RHO" "${ARGS[@]}" --out "$WORK/run" --steps 4 >/dev/null 2>&1 || { echo "FAIL: first run"; exit 1; }

# The checkpoint of step 6 cannot be written: files are capped at 200 KiB, model.safetensors is larger.
( ulimit -f 200; trap '' XFSZ; exec "$RHO" "${ARGS[@]}" --out "$WORK/run" --steps 8 --resume ) >/dev/null 2>"$WORK/err"
rc=$?
last=$(tail -1 "$WORK/err")
if [ "$rc" -ne 0 ] && [[ "$last" == "rho: error: $WORK/run/checkpoints/step_0000006.tmp."*"/model.safetensors: write failed: File too large" ]]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: full disk during a checkpoint (exit $rc): $last"
fi
if [ "$(cat "$WORK/run/checkpoints/latest")" = step_0000004 ] && check_run_dir "$WORK/run" && no_temporaries "$WORK/run"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: the previous checkpoint was not kept intact"
fi
if "$RHO" "${ARGS[@]}" --out "$WORK/run" --steps 8 --resume >/dev/null 2>&1 && [ "$(cat "$WORK/run/checkpoints/latest")" = step_0000008 ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: resuming after the failed write"
fi

# Paths that cannot be written.
echo x >"$WORK/afile"
expect_error "train: output below a regular file" "$WORK/afile/run" -- "${ARGS[@]}" --out "$WORK/afile/run" --steps 1
expect_error "score: output below a regular file" "$WORK/afile/s" -- score --model "$WORK/run/final" --data "$WORK/shards" --out "$WORK/afile/s" --seq-len 16
expect_error "tokenize: output below a regular file" "$WORK/afile/t" -- tokenize --tokenizer "$WORK/tok.model" --input "$WORK/c.jsonl" --out-dir "$WORK/afile/t"
expect_error "a device as output is not replaced" "/dev/full: exists and is not a regular file" -- \
  analyze select --model "$WORK/run/final" --ref "$WORK/run/final" --tokenizer "$WORK/tok.model" --text "the cat" --out /dev/full
[ -c /dev/full ] || { failed=$((failed + 1)); echo "FAIL: /dev/full is no longer a device"; }
finish
