# Helpers for shell tests (sourced). Each check prints one line on failure;
# `finish` prints "N passed, N failed" and exits non-zero on any failure.
: "${IMSEC:?IMSEC must name the imsec binary}"
T_PASS=0
T_FAIL=0
T_TMP=$(mktemp -d)
trap 'rm -rf "$T_TMP"' EXIT

t_ok() { T_PASS=$((T_PASS + 1)); }
t_bad() { T_FAIL=$((T_FAIL + 1)); echo "FAIL: $*"; }

# expect_exit CODE CMD...
expect_exit() {
  local want=$1; shift
  "$@" >"$T_TMP/out" 2>"$T_TMP/err" </dev/null
  local got=$?
  if [ "$got" -eq "$want" ]; then t_ok; else
    t_bad "'$*' exited $got, want $want"; sed 's/^/  | /' "$T_TMP/err" | head -5
  fi
}
# expect_out REGEX CMD...  (stdout matches an extended regex)
expect_out() {
  local re=$1; shift
  "$@" >"$T_TMP/out" 2>"$T_TMP/err" </dev/null
  if grep -Eq -- "$re" "$T_TMP/out"; then t_ok; else
    t_bad "'$*' stdout lacks /$re/"; sed 's/^/  | /' "$T_TMP/out" | head -10
  fi
}
# expect_err REGEX CMD...  (stderr matches)
expect_err() {
  local re=$1; shift
  "$@" >"$T_TMP/out" 2>"$T_TMP/err" </dev/null
  if grep -Eq -- "$re" "$T_TMP/err"; then t_ok; else
    t_bad "'$*' stderr lacks /$re/"; sed 's/^/  | /' "$T_TMP/err" | head -10
  fi
}
# t_wait_log PATTERN FILE: wait up to 5 s for a line of FILE matching
# PATTERN (grep); 0 when it came.
t_wait_log() {
  for _ in $(seq 50); do
    grep -q -- "$1" "$2" && return 0
    sleep 0.1
  done
  return 1
}
finish() {
  echo "$T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" -eq 0 ]
  exit $?
}
