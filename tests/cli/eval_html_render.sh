# The selection view (`rho analyze select`) rendered by headless Chromium: the screenshot must not
# be blank (coloured tokens on white) and the browser must report no script or console errors.
# Chromium comes from scripts/setup.sh (Debian package `chromium`); without it the test exits 77
# (ctest: skipped).
# Usage: bash eval_html_render.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  skip "chromium not installed (scripts/setup.sh installs it)"
fi
if ! command -v python3 >/dev/null; then
  skip "python3 not installed (needed to read the screenshot)"
fi

# Two tiny models of one tokenizer: 1 and 2 steps of a debug run.
for i in $(seq 1 40); do
  echo "{\"question\": \"Tom has $i apples and buys $((i * 3)) more. How many apples now?\", \"answer\": \"$i + $((i * 3)) = $((i * 4))\\n#### $((i * 4))\"}"
done >"$WORK/gsm.jsonl"
setup() {
  "$RHO_TOK" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/tok.model" --vocab-size 384 \
    --template 'Question: {question}\nAnswer: {answer}' &&
  "$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/gsm.jsonl" --out-dir "$WORK/shards" \
    --template 'Question: {question}\nAnswer: {answer}' &&
  "$RHO" train --data "$WORK/shards" --out "$WORK/run" --preset debug --steps 2 --seq-len 32 --batch 2 \
    --warmup 1 --ckpt-every 1 --keep-last 0 --lr 1e-2
}
if ! setup >"$WORK/setup.log" 2>&1; then
  echo "FAIL: setting up the test models:"
  cat "$WORK/setup.log"
  exit 1
fi
printf 'Question: Tom has 7 apples & buys 21 more. <How> many "apples" now?\nAnswer: 7 + 21 = 28\n#### 28\n\nCaf\xc3\xa9 \xe2\x82\xac 3.50\n' >"$WORK/text.txt"
if ! "$RHO" analyze select --model "$WORK/run/checkpoints/step_0000002" --ref "$WORK/run/checkpoints/step_0000001" \
    --tokenizer "$WORK/tok.model" --text-file "$WORK/text.txt" --ratio 0.6 --out "$WORK/page.html" >"$WORK/select.log" 2>&1; then
  echo "FAIL: rho analyze select:"
  cat "$WORK/select.log"
  exit 1
fi

timeout 180 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$WORK/profile" \
  --enable-logging=stderr --v=0 --hide-scrollbars --screenshot="$WORK/shot.png" --window-size=1200,900 \
  "file://$WORK/page.html" >"$WORK/chromium.out" 2>"$WORK/chromium.err"
rc=$?
if [ ! -s "$WORK/shot.png" ]; then
  echo "FAIL: chromium wrote no screenshot (exit $rc):"
  tail -20 "$WORK/chromium.err"
  exit 1
fi
if grep -E "Uncaught|:CONSOLE" "$WORK/chromium.err"; then
  echo "FAIL: the page logged console errors (above)"
  exit 1
fi

# Reads the PNG with the standard library only (zlib + the five PNG row filters) and checks it is
# not blank: enough non-white pixels, enough distinct colours, and enough saturated (token
# background) pixels, i.e. the excess-loss colouring was drawn and not just black text.
python3 - "$WORK/shot.png" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, width = 8, b"", 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and colour in (2, 6), f"unexpected PNG format depth={depth} colour={colour}"
        bpp = 3 if colour == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
stride = width * bpp
prev = bytearray(stride)
non_white, saturated, colours, total = 0, 0, set(), 0
for y in range(height):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride): line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        for i in range(stride): line[i] = (line[i] + prev[i]) & 255
    elif f == 3:
        for i in range(stride): line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp * 2):  # every other pixel is plenty
        px = bytes(line[x:x + 3])
        total += 1
        colours.add(px)
        if px != b"\xff\xff\xff": non_white += 1
        if max(px) - min(px) > 40: saturated += 1
    prev = line
share, coloured = non_white / total, saturated / total
print(f"screenshot {width}x{height}: {share:.1%} non-white, {coloured:.1%} coloured, {len(colours)} distinct colours")
if share < 0.02 or coloured < 0.005 or len(colours) < 20:
    print("FAIL: the screenshot looks blank")
    sys.exit(1)
EOF
status=$?
[ "$status" -eq 0 ] && echo "eval_html_render: passed"
exit "$status"
