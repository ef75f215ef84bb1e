#!/usr/bin/env bash
# imsec bench run / hold: usage and input errors exit 2 with one line on
# stderr naming what is wrong, before anything runs; credentials that do
# not fit the mode exit 1; --help shows the options. Nothing here sends a
# packet: the runs against daemons are tests/e2e/bench_daemons.py.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

# expect_usage REGEX ARGS...: exit 2 and exactly one stderr line matching.
expect_usage() {
  local re=$1; shift
  "$IMSEC" "$@" >"$T_TMP/out" 2>"$T_TMP/err" </dev/null
  local got=$?
  local lines
  lines=$(wc -l <"$T_TMP/err")
  if [ "$got" -eq 2 ] && [ "$lines" -eq 1 ] && grep -Eq -- "$re" "$T_TMP/err"
  then t_ok; else
    t_bad "'imsec $*' exit $got, $lines stderr lines, want 2, 1 line /$re/"
    sed 's/^/  | /' "$T_TMP/err" | head -5
  fi
}

expect_exit 0 "$IMSEC" bench --help
expect_out "^       imsec bench run --target" "$IMSEC" bench --help
expect_exit 0 "$IMSEC" bench run --help
expect_out "--server-pid PID" "$IMSEC" bench run --help
expect_out "--register new\|resumed\|open" "$IMSEC" bench hold -h
# No longer planned.
if "$IMSEC" --help | grep -E '^  bench ' | grep -q planned; then
  t_bad "imsec --help still says bench is planned"; else t_ok; fi

expect_usage "^imsec bench: want provision, run or hold" bench
expect_usage "^imsec bench: unknown verb 'go'" bench go
expect_usage "^imsec bench run: --target HOST:PORT is required$" bench run
expect_usage "^imsec bench run: --creds FILE is required" bench run \
  --target 127.0.0.1:5061
expect_usage "^imsec bench run: --ca ROOT.pem is required \(mode m1\)$" bench \
  run --target 127.0.0.1:5061 --creds c
expect_usage "^imsec bench run: --target: want \[tls:\|dtls:\|tcp:\]HOST:PORT, not 'x'$" \
  bench run --target x --creds c --ca r
expect_usage "^imsec bench run: --target: mode m1 wants tls:HOST:PORT$" bench \
  run --target tcp:127.0.0.1:5060 --creds c --ca r --mode m1
expect_usage "^imsec bench run: --ca: mode tcp has no TLS$" bench run \
  --target tcp:127.0.0.1:5060 --creds c --ca r
expect_usage "^imsec bench run: unknown option '--bogus'$" bench run --bogus
expect_usage "^imsec bench run: -c: want 1\.\.1000000, not 'lots'$" bench run \
  --target 127.0.0.1:5061 --creds c --ca r -c lots
expect_usage "^imsec bench run: -c and -r: closed loop or open loop" bench run \
  --target 127.0.0.1:5061 --creds c --ca r -c 5 -r 100
expect_usage "^imsec bench run: --ramp: only with -r$" bench run \
  --target 127.0.0.1:5061 --creds c --ca r --ramp 3
expect_usage "^imsec bench run: --scenario: no scenario 'sms'" bench run \
  --target 127.0.0.1:5061 --creds c --ca r --scenario register=1,sms=2
expect_usage "^imsec bench run: --mode: want m1, m2a, m3, dtls or tcp" bench \
  run --target 127.0.0.1:5061 --creds c --ca r --mode m4
expect_usage "^imsec bench run: --sources: '127.0.0.300' is not an IP" bench \
  run --target 127.0.0.1:5061 --creds c --ca r --sources 127.0.0.300
expect_usage "^imsec bench run: --procs: want 1\.\.64, not '100'$" bench run \
  --target 127.0.0.1:5061 --creds c --ca r --procs 100
expect_usage "^imsec bench run: --json: missing its value$" bench run \
  --target 127.0.0.1:5061 --creds c --ca r --json
expect_usage "^imsec bench hold: -n N \(the UEs to hold\) is required$" bench \
  hold --target 127.0.0.1:5061 --creds c --ca r
expect_usage "^imsec bench hold: --scenario: hold only registers$" bench hold \
  --target 127.0.0.1:5061 --creds c --ca r -n 5 --scenario message

# Input: the credentials file.
expect_usage "^imsec bench run: --creds: .*nosuch" bench run \
  --target 127.0.0.1:5061 --creds "$T_TMP/nosuch" --ca r
"$IMSEC" bench provision --db "$T_TMP/hss.db" --out "$T_TMP/d.creds" -n 3 \
  --scheme digest >/dev/null
"$IMSEC" bench provision --db "$T_TMP/hss.db" --out "$T_TMP/a.creds" -n 3 \
  --first-imsi 001010000100001 >/dev/null
cp "$T_TMP/d.creds" "$T_TMP/open.creds" && chmod 644 "$T_TMP/open.creds"
expect_usage "^imsec bench run: --creds: " bench run --target 127.0.0.1:5061 \
  --creds "$T_TMP/open.creds" --ca r
expect_usage "^imsec bench run: --ues 4: .* holds 3 UEs$" bench run \
  --target 127.0.0.1:5061 --creds "$T_TMP/d.creds" --ca r --ues 4
expect_usage "^imsec bench hold: -n 9: .* holds 3 UEs$" bench hold \
  --target 127.0.0.1:5061 --creds "$T_TMP/d.creds" --ca r -n 9
expect_usage "^imsec bench run: --procs 4: more processes than UEs \(3\)$" \
  bench run --target 127.0.0.1:5061 --creds "$T_TMP/d.creds" --ca r --procs 4
expect_usage "^imsec bench run: --server-pid 2147483600: no such process" \
  bench run --target 127.0.0.1:5061 --creds "$T_TMP/d.creds" --ca r \
  --server-pid 2147483600
expect_usage "^imsec bench run: cannot write $T_TMP/no/dir/r.json" bench run \
  --target 127.0.0.1:5061 --creds "$T_TMP/d.creds" --ca r --json \
  "$T_TMP/no/dir/r.json"

# Credentials that do not fit the mode: could not run, exit 1.
expect_exit 1 "$IMSEC" bench run --target tcp:127.0.0.1:5060 \
  --creds "$T_TMP/a.creds"
expect_err "^imsec bench run: --mode tcp: SIP Digest only" "$IMSEC" bench run \
  --target tcp:127.0.0.1:5060 --creds "$T_TMP/a.creds"
expect_exit 1 "$IMSEC" bench run --target 127.0.0.1:5061 --creds \
  "$T_TMP/a.creds" --ca r --mode m3
expect_err "--mode m3: UE 001010000100001@.* has no psk=" "$IMSEC" bench run \
  --target 127.0.0.1:5061 --creds "$T_TMP/a.creds" --ca r --mode m3
# A CA file that does not load: exit 1, one line, no report.
expect_exit 1 "$IMSEC" bench run --target 127.0.0.1:5061 --creds \
  "$T_TMP/d.creds" --ca "$T_TMP/nosuch.pem" -n 1 --no-status
finish
