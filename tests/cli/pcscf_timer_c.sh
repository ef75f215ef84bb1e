#!/usr/bin/env bash
# The P-CSCF's Timer C for INVITEs it forwards (RFC 3261 §16.6 step 11):
# --timer-c-ms MS and the YAML key timer_c_ms. Each bad value is one line
# on stderr and exit 2; the help names both.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

# expect_usage REGEX CMD...: exit 2, exactly one line on stderr, matching.
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

HOME_DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
BASE=(--listen tls:127.0.0.1:0 --route "$HOME_DOMAIN=tcp:127.0.0.1:1"
  --core tcp:127.0.0.1:0 --insecure-core --peer-addr 127.0.0.1)

for v in 0 5s -1 3600001; do
  expect_usage "--timer-c-ms must be a number of milliseconds from 1 to 3600000, not '$v'" \
    timeout 5 "$IMSEC" pcscf --cert c --key k "${BASE[@]}" --timer-c-ms "$v"
done
expect_usage "--timer-c-ms needs a value" "$IMSEC" pcscf --timer-c-ms

cfg="$T_TMP/pcscf.yaml"
printf 'listen: tls:127.0.0.1:0\ntimer_c_ms: soon\n' >"$cfg"
expect_usage "pcscf.yaml:2: key 'timer_c_ms': expected a number" \
  "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\ntimer_c_ms: 4000000\n' >"$cfg"
expect_usage "pcscf.yaml:2: key 'timer_c_ms': expected a number" \
  "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\ntimer_c_ms: 100\ntimer_c_ms: 200\n' >"$cfg"
expect_usage "pcscf.yaml:3: key 'timer_c_ms': given twice" "$IMSEC" pcscf -c "$cfg"

expect_out "--timer-c-ms MS" "$IMSEC" pcscf --help
expect_out "dtls_idle_timeout_ms, timer_c_ms" "$IMSEC" pcscf --help
finish
