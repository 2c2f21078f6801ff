# Shared by the CLI tests: `expect_error NAME NAMED -- rho ARGS...` runs rho and passes when it
# exits nonzero with exactly one line on stderr that contains NAMED. `finish` prints the
# "N passed, N failed" line and sets the exit status. Needs $RHO and $WORK.
passed=0
failed=0

expect_error() {
  local name=$1 named=$2
  shift 3
  "$RHO" "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$? lines
  lines=$(wc -l <"$WORK/err")
  if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep -qF -- "$named" "$WORK/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name (exit $rc, $lines stderr lines, expected one naming $named):"
    sed 's/^/  | /' "$WORK/err"
  fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# `check DESCRIPTION COMMAND...` counts a pass when the command succeeds.
check() {
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}
