#!/usr/bin/env bash
# The DTLS timing settings on the command line (docs/DTLS.md): the
# P-CSCF's --t1-ms, --t2-ms, --t4-ms, --dtls-idle-timeout-ms (YAML t1_ms,
# t2_ms, t4_ms, dtls_idle_timeout_ms) and the UE's --keepalive S and
# --t1-ms, --t2-ms, --t4-ms. Each bad value is one line on stderr and exit
# 2; good ones start the P-CSCF, which says what it runs with.
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
BASE=(--listen dtls:127.0.0.1:0 --route "$HOME_DOMAIN=tcp:127.0.0.1:1"
  --core tcp:127.0.0.1:0 --insecure-core --peer-addr 127.0.0.1)

# --- P-CSCF flags
for f in --t1-ms --t2-ms --t4-ms --dtls-idle-timeout-ms; do
  expect_usage "$f must be a number of milliseconds from 1 to [0-9]+, not '0'" \
    timeout 5 "$IMSEC" pcscf --cert c --key k "${BASE[@]}" "$f" 0
  expect_usage "$f must be a number of milliseconds" \
    timeout 5 "$IMSEC" pcscf --cert c --key k "${BASE[@]}" "$f" 5s
  expect_usage "$f must be a number of milliseconds" \
    timeout 5 "$IMSEC" pcscf --cert c --key k "${BASE[@]}" "$f" -1
  expect_usage "$f needs a value" "$IMSEC" pcscf "$f"
done
expect_usage "--t1-ms must be a number of milliseconds from 1 to 60000, not '60001'" \
  timeout 5 "$IMSEC" pcscf --cert c --key k "${BASE[@]}" --t1-ms 60001
expect_usage "--dtls-idle-timeout-ms must be a number of milliseconds from 1 to 86400000" \
  timeout 5 "$IMSEC" pcscf --cert c --key k "${BASE[@]}" --dtls-idle-timeout-ms 86400001
# RFC 3261 §17.1.2.2: the interval grows from T1 up to T2.
expect_usage "T2 \(--t2-ms/t2_ms, 400 ms\) must not be below T1 \(--t1-ms/t1_ms, 500 ms\)" \
  timeout 5 "$IMSEC" pcscf --cert c --key k "${BASE[@]}" --t2-ms 400
expect_usage "T2 \(--t2-ms/t2_ms, 4000 ms\) must not be below T1 \(--t1-ms/t1_ms, 5000 ms\)" \
  timeout 5 "$IMSEC" pcscf --cert c --key k "${BASE[@]}" --t1-ms 5000

# --- P-CSCF YAML keys
cfg="$T_TMP/pcscf.yaml"
for k in t1_ms t2_ms t4_ms dtls_idle_timeout_ms; do
  printf 'listen: dtls:127.0.0.1:0\n%s: soon\n' "$k" >"$cfg"
  expect_usage "pcscf.yaml:2: key '$k': expected a number from 1 to [0-9]+" \
    "$IMSEC" pcscf -c "$cfg"
  printf 'listen: dtls:127.0.0.1:0\n%s: 0\n' "$k" >"$cfg"
  expect_usage "pcscf.yaml:2: key '$k': expected a number" "$IMSEC" pcscf -c "$cfg"
done
printf 'listen: dtls:127.0.0.1:0\nt1_ms: 100\nt1_ms: 200\n' >"$cfg"
expect_usage "pcscf.yaml:3: key 't1_ms': given twice" "$IMSEC" pcscf -c "$cfg"

# A P-CSCF with them starts and says what it runs with; flags override
# the file.
pki="$T_TMP/pki"
"$IMSEC" pki init --dir "$pki" >/dev/null &&
  "$IMSEC" pki operator --dir "$pki" --mcc 001 --mnc 01 >/dev/null &&
  "$IMSEC" pki pcscf --dir "$pki" --mcc 001 --mnc 01 >/dev/null || t_bad "pki"
cat >"$cfg" <<EOC
listen: [tls:127.0.0.1:0, dtls:127.0.0.1:0]
cert: $pki/pcscf.$HOME_DOMAIN.chain.pem
key: $pki/pcscf.$HOME_DOMAIN.key
routes: [$HOME_DOMAIN=tcp:127.0.0.1:1]
core: tcp:127.0.0.1:0
insecure_core: true
peer_addrs: [127.0.0.1]
t1_ms: 200
t2_ms: 1600
t4_ms: 2500
dtls_idle_timeout_ms: 30000
EOC
start_pcscf() {
  timeout 5 "$IMSEC" pcscf "$@" 2>"$T_TMP/pcscf.log" &
  local pid=$!
  t_wait_log "DTLS: T1" "$T_TMP/pcscf.log"
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
start_pcscf -c "$cfg"
grep -q "pcscf info: DTLS: T1 200 ms, T2 1600 ms, T4 2500 ms; an association quiet for 30000 ms is closed" \
  "$T_TMP/pcscf.log" && t_ok || t_bad "YAML timers not in force: $(cat "$T_TMP/pcscf.log")"
start_pcscf -c "$cfg" --t1-ms 100 --dtls-idle-timeout-ms 5000
grep -q "DTLS: T1 100 ms, T2 1600 ms, T4 2500 ms; an association quiet for 5000 ms" \
  "$T_TMP/pcscf.log" && t_ok || t_bad "flags do not override YAML: $(cat "$T_TMP/pcscf.log")"
# The defaults when nothing is said.
start_pcscf --cert "$pki/pcscf.$HOME_DOMAIN.chain.pem" \
  --key "$pki/pcscf.$HOME_DOMAIN.key" "${BASE[@]}"
grep -q "DTLS: T1 500 ms, T2 4000 ms, T4 5000 ms; an association quiet for 90000 ms" \
  "$T_TMP/pcscf.log" && t_ok || t_bad "defaults: $(cat "$T_TMP/pcscf.log")"

# --- UE flags
prof="$T_TMP/ue.yaml"
"$IMSEC" isim new --imsi 001010000000001 --mnc-len 2 \
  --trust-domain 3gppnetwork.org --anchors "$pki/root.crt" \
  --home-ca "$pki/op-mcc001-mnc001.crt" --out "$prof" >/dev/null || t_bad "isim"
ue() { "$IMSEC" ue register -c "$prof" --timeout 1 "$@"; }
for v in 1x -5 3601 ""; do
  expect_usage "--keepalive must be a number of seconds from 1 to 3600, or off \(0\), not '$v'" \
    ue --pcscf dtls:127.0.0.1:1 --keepalive "$v"
done
expect_usage "--keepalive needs a value" ue --pcscf dtls:127.0.0.1:1 --keepalive
for f in --t1-ms --t2-ms --t4-ms; do
  expect_usage "$f must be a number of milliseconds from 1 to [0-9]+, not 'x'" \
    ue --pcscf dtls:127.0.0.1:1 "$f" x
  expect_usage "$f needs a value" ue --pcscf dtls:127.0.0.1:1 "$f"
done
expect_usage "T2 \(--t2-ms, 100 ms\) must not be below T1 \(--t1-ms, 500 ms\)" \
  ue --pcscf dtls:127.0.0.1:1 --t2-ms 100
# Over TLS nothing retransmits and no STUN runs: refused, not ignored.
expect_usage "--keepalive applies to a DTLS P-CSCF only" \
  ue --pcscf tls:127.0.0.1:1 --keepalive 5
expect_usage "--t1-ms applies to a DTLS P-CSCF only" \
  ue --pcscf 127.0.0.1:1 --t1-ms 100 --keepalive off
# Good values are taken: the UE gets as far as trying to connect.
for ka in 5 off 0; do
  expect_exit 1 ue --pcscf dtls:127.0.0.1:1 --keepalive "$ka" --t1-ms 100 \
    --t2-ms 400 --t4-ms 1000
done

# --- help
expect_out "--dtls-idle-timeout-ms MS" "$IMSEC" pcscf --help
expect_out "t4_ms, dtls_idle_timeout_ms" "$IMSEC" pcscf --help
expect_out "--keepalive S" "$IMSEC" ue --help
expect_out "--t1-ms MS, --t2-ms MS, --t4-ms MS" "$IMSEC" ue --help
finish
