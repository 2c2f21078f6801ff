# The README and docs/ against the tree and the binary (scripts/check-docs.py): the real pages
# pass, and a fixture with a broken link, a broken anchor, a renamed flag and a misspelt
# subcommand fails, naming each.
# Usage: bash docs.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
CHECK="python3 $SRC/scripts/check-docs.py"

(cd "$SRC" && $CHECK "$RHO" README.md docs/*.md) >"$WORK/real" 2>&1
check "README.md and docs/ pass" test $? -eq 0 || cat "$WORK/real"

$CHECK "$RHO" "$SRC/tests/fixtures/docs/broken.md" >"$WORK/out" 2>&1
check "the broken fixture fails" test $? -ne 0
for want in "no-such-page.md does not exist" "no heading '#no-such-heading'" "has no flag --ratios" "rho trian\`: no such subcommand"; do
  check "it names: $want" grep -qF "$want" "$WORK/out"
done
check "and only those four problems" grep -q "4 problems" "$WORK/out"
finish
