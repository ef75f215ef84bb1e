#!/usr/bin/env bash
# The P-CSCF's bound on dialogs (docs/CALLS.md): --max-dialogs N and the
# YAML key max_dialogs. A bad value is one line on stderr and exit 2; a
# good one is taken (the parse goes on to the next setting).
set -u
. "$(dirname "$0")/../support/sh_util.sh"

expect_usage() {
  local re=$1; shift
  "$@" >"$T_TMP/out" 2>"$T_TMP/err" </dev/null
  local got=$? lines
  lines=$(wc -l <"$T_TMP/err")
  if [ "$got" -eq 2 ] && [ "$lines" -eq 1 ] && grep -Eq -- "$re" "$T_TMP/err"; then
    t_ok
  else
    t_bad "'$*': exit $got, $lines stderr line(s), want 2, 1 line /$re/"
    sed 's/^/  | /' "$T_TMP/err" | head -5
  fi
}

for v in 0 -1 many 10000001 ""; do
  expect_usage "--max-dialogs: expected a number from 1 to 10000000" \
    "$IMSEC" pcscf --max-dialogs "$v"
done
expect_usage "--max-dialogs: expected a number" "$IMSEC" pcscf --max-dialogs
# taken: the next flag is the one refused
expect_usage "unknown option '--bogus'" "$IMSEC" pcscf --max-dialogs 5 --bogus

cfg="$T_TMP/pcscf.yaml"
for v in 0 many 10000001; do
  printf 'max_dialogs: %s\n' "$v" >"$cfg"
  expect_usage "pcscf.yaml:1: key 'max_dialogs': expected a number from 1 to 10000000" \
    "$IMSEC" pcscf -c "$cfg"
done
printf 'max_dialogs: 5\nbogus: 1\n' >"$cfg"
expect_usage "pcscf.yaml:2: key 'bogus'" "$IMSEC" pcscf -c "$cfg"

expect_out "--max-dialogs N" "$IMSEC" pcscf --help
expect_out "max_dialogs" "$IMSEC" pcscf --help
finish
