#!/usr/bin/env bash
# imsec scscf: usage and configuration errors (one line naming file, line
# and key; exit 2), and a smoke run on loopback: a REGISTER over TCP gets
# the AKA challenge, SIGTERM stops it with exit 0.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

D=ims.mnc001.mcc001.3gppnetwork.org
DB="$T_TMP/hss.db"
"$IMSEC" hss add --db "$DB" --impi "1@$D" --impu "sip:1@$D" \
  --k 465b5ce8b199b49faa5f0a2ee238a6bc --opc cd63cb71954a9f4e48a5994e37a02baf \
  --amf 8000 >/dev/null

expect_exit 0 "$IMSEC" scscf --help
expect_err "missing --domain" "$IMSEC" scscf --listen tcp:127.0.0.1:0 --db "$DB"
expect_err "missing --db" "$IMSEC" scscf --listen tcp:127.0.0.1:0 --domain $D
expect_err "missing --listen" "$IMSEC" scscf --domain $D --db "$DB"
expect_err "--listen: expected" "$IMSEC" scscf --listen udp:1.2.3.4:5 --domain $D --db "$DB"
expect_err "tls: listener needs --cert and --key" "$IMSEC" scscf \
  --listen tls:127.0.0.1:0 --domain $D --db "$DB"
expect_err "--nonce-lifetime: expected seconds" "$IMSEC" scscf \
  --listen tcp:127.0.0.1:0 --domain $D --db "$DB" --nonce-lifetime x
expect_err "--db .*none.db.*imsec hss add" "$IMSEC" scscf \
  --listen tcp:127.0.0.1:0 --domain $D --db "$T_TMP/none.db" \
  --insecure-core --peer-addr 127.0.0.1

# The core side: mutual TLS, or plain TCP only when asked for, from listed
# addresses.
expect_err "plain TCP on the core side needs --insecure-core" "$IMSEC" scscf \
  --listen tcp:127.0.0.1:0 --domain $D --db "$DB"
expect_exit 2 "$IMSEC" scscf --listen tcp:127.0.0.1:0 --domain $D --db "$DB"
expect_err "--insecure-core needs --peer-addr" "$IMSEC" scscf \
  --listen tcp:127.0.0.1:0 --domain $D --db "$DB" --insecure-core
expect_err "--peer-addr: expected an IP address, got 'pcscf.example'" \
  "$IMSEC" scscf --listen tcp:127.0.0.1:0 --domain $D --db "$DB" \
  --insecure-core --peer-addr pcscf.example
expect_err "--insecure-core takes no value" "$IMSEC" scscf --insecure-core=1
expect_err "--peer: 'a b' is not a host name" "$IMSEC" scscf \
  --listen tcp:127.0.0.1:0 --domain $D --db "$DB" --insecure-core \
  --peer-addr 127.0.0.1 --peer "a b"
"$IMSEC" pki init --dir "$T_TMP/pki" >/dev/null
"$IMSEC" pki operator --dir "$T_TMP/pki" --mcc 001 --mnc 01 >/dev/null
"$IMSEC" pki node --dir "$T_TMP/pki" --mcc 001 --mnc 01 --host scscf.$D >/dev/null
N="$T_TMP/pki/node-scscf.$D"
expect_err "a tls: listener needs --ca FILE" "$IMSEC" scscf \
  --listen tls:127.0.0.1:0 --domain $D --db "$DB" --cert "$N.chain.pem" \
  --key "$N.key"
expect_err "--ca .*nothere.pem: No such file" "$IMSEC" scscf \
  --listen tls:127.0.0.1:0 --domain $D --db "$DB" --cert "$N.chain.pem" \
  --key "$N.key" --ca "$T_TMP/nothere.pem"
expect_err "--cert .*nothere.crt: No such file" "$IMSEC" scscf \
  --listen tls:127.0.0.1:0 --domain $D --db "$DB" --cert "$T_TMP/nothere.crt" \
  --key "$N.key" --ca "$T_TMP/pki/root.crt"
expect_err "--home-ca .*the --cert file holds no issuer" "$IMSEC" scscf \
  --listen tls:127.0.0.1:0 --domain $D --db "$DB" --cert "$N.crt" \
  --key "$N.key" --ca "$T_TMP/pki/root.crt"
# Calls: --route (the P-CSCF's syntax) and --timer-c-ms; every error is
# one line and exit 2.
usage1() {
  local re=$1; shift
  "$IMSEC" scscf "$@" >"$T_TMP/out" 2>"$T_TMP/err" </dev/null
  local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T_TMP/err")" -eq 1 ] &&
    grep -Eq -- "$re" "$T_TMP/err"; then t_ok; else
    t_bad "'$*': exit $rc, stderr not one line matching /$re/"
    sed 's/^/  | /' "$T_TMP/err" | head -5
  fi
}
L="--listen tcp:127.0.0.1:0 --domain $D --db $DB --insecure-core --peer-addr 127.0.0.1"
NOT="is not DOMAIN=tls:HOST:PORT\[;name=NAME\]"
usage1 "--route 'bogus' $NOT" $L --route bogus
usage1 "--route '=tls:h.example:5061' $NOT" $L --route =tls:h.example:5061
usage1 "--route 'o.example=tls:h.example' $NOT" $L --route o.example=tls:h.example
usage1 "--route 'o.example=h.example:5061' $NOT" $L --route o.example=h.example:5061
usage1 "--route 'o.example=tls:h.example:5061;nam=x' $NOT" $L \
  --route "o.example=tls:h.example:5061;nam=x"
usage1 "--route 'o ex=tls:h.example:5061' $NOT" $L --route "o ex=tls:h.example:5061"
usage1 "--route needs a value" $L --route
usage1 "--route o.example: the next hop is reached over tcp or tls" $L \
  --route o.example=udp:h.example:5060
usage1 "--route o.example: a tls: route to an IP address needs ;name=NAME" $L \
  --route o.example=tls:192.0.2.1:5061
R33=
for i in $(seq 33); do R33="$R33 --route d$i.example=tls:h.example:5061"; done
# shellcheck disable=SC2086
usage1 "--route: at most 32 routes" $L $R33
usage1 "--timer-c-ms: expected 1\.\.3600000, got '0'" $L --timer-c-ms 0
usage1 "--timer-c-ms: expected 1\.\.3600000, got 'x'" $L --timer-c-ms=x
usage1 "--timer-c-ms given twice" $L --timer-c-ms 1000 --timer-c-ms 2000
printf 'routes: [bogus]\n' >"$T_TMP/r1.yaml"
usage1 "r1.yaml:1: key 'routes': 'bogus' $NOT" -c "$T_TMP/r1.yaml"
printf 'routes:\n  o.example: tls:192.0.2.1\n' >"$T_TMP/r2.yaml"
usage1 "r2.yaml:2: key 'routes': 'o.example=tls:192.0.2.1' $NOT" -c "$T_TMP/r2.yaml"
printf 'timer_c_ms: 0\n' >"$T_TMP/r3.yaml"
usage1 "r3.yaml:1: key 'timer_c_ms': expected 1\.\.3600000" -c "$T_TMP/r3.yaml"

# The same from YAML (paths relative to the file), up and listening.
printf 'domain: %s\ndb: ../hss.db\nlisten: tls:127.0.0.1:0\ncert: node-scscf.%s.chain.pem\nkey: node-scscf.%s.key\nca: [root.crt]\npartner_ca: op-mcc001-mnc001.crt\ntrust_domain: 3gppnetwork.org\npeers: [icscf.example.net]\n' $D $D $D >"$T_TMP/pki/tls.yaml"
# TS 33.210: a plain TCP next hop only with --insecure-core.
usage1 "--route o.example=tcp:... is plain TCP to the next hop" \
  --listen tls:127.0.0.1:0 --domain $D --db "$DB" --cert "$N.chain.pem" \
  --key "$N.key" --ca "$T_TMP/pki/root.crt" --route o.example=tcp:127.0.0.1:7070
"$IMSEC" scscf -c "$T_TMP/pki/tls.yaml" 2>"$T_TMP/tlslog" &
TPID=$!
for _ in $(seq 50); do
  grep -q "listening on tls:127.0.0.1:" "$T_TMP/tlslog" && break
  sleep 0.1
done
if grep -q "listening on tls:127.0.0.1:" "$T_TMP/tlslog"; then t_ok; else t_bad "YAML tls S-CSCF did not start"; cat "$T_TMP/tlslog"; fi
kill -TERM $TPID
wait $TPID
printf 'ca: {a: b}\n' >"$T_TMP/c6.yaml"
expect_err "c6.yaml:1: key 'ca': expected a value or a list" "$IMSEC" scscf -c "$T_TMP/c6.yaml"
printf 'insecure_core: maybe\n' >"$T_TMP/c7.yaml"
expect_err "c7.yaml:1: key 'insecure_core': expected true or false" "$IMSEC" scscf -c "$T_TMP/c7.yaml"
printf 'peers: [a]\npeers: [b]\n' >"$T_TMP/c8.yaml"
expect_err "c8.yaml:2: key 'peers': given twice" "$IMSEC" scscf -c "$T_TMP/c8.yaml"
expect_exit 2 "$IMSEC" scscf --listen tcp:127.0.0.1:0 --domain "bad domain" --db "$DB"
expect_err "unknown option '--bogus'" "$IMSEC" scscf --bogus
# Flood limits and the store's lock wait.
expect_err "--store-timeout: expected a whole number" "$IMSEC" scscf \
  --listen tcp:127.0.0.1:0 --domain $D --db "$DB" --store-timeout soon
expect_err "--lockout given twice" "$IMSEC" scscf --listen tcp:127.0.0.1:0 \
  --domain $D --db "$DB" --lockout 5 --lockout=6
expect_err "--impi-failures needs a value" "$IMSEC" scscf --impi-failures
# 0 is not a limit (it used to mean the default, silently).
for f in --store-timeout --limit-window --impi-challenges --source-challenges \
  --impi-failures --source-failures --lockout; do
  expect_err "^imsec scscf: $f: expected a whole number \(1\.\." "$IMSEC" scscf \
    --listen tcp:127.0.0.1:0 --domain $D --db "$DB" $f 0
  expect_exit 2 "$IMSEC" scscf --listen tcp:127.0.0.1:0 --domain $D \
    --db "$DB" $f=0
done
for k in store_timeout limit_window impi_challenge_limit source_challenge_limit \
  impi_failure_limit source_failure_limit lockout; do
  printf '%s: 0\n' $k >"$T_TMP/c9.yaml"
  expect_err "c9.yaml:1: key '$k': expected 1\.\.[0-9]+$" "$IMSEC" scscf \
    -c "$T_TMP/c9.yaml"
  expect_exit 2 "$IMSEC" scscf -c "$T_TMP/c9.yaml"
done
printf 'impi_failure_limit: -1\n' >"$T_TMP/c6.yaml"
expect_err "c6.yaml:1: key 'impi_failure_limit': expected a whole number" \
  "$IMSEC" scscf -c "$T_TMP/c6.yaml"

# Config files: file, line and key in one line.
printf 'domain: %s\ndb: hss.db\nlisten: tcp:127.0.0.1:0\nbogus: 1\n' $D >"$T_TMP/c1.yaml"
expect_err "c1.yaml:4: key 'bogus': unknown key" "$IMSEC" scscf -c "$T_TMP/c1.yaml"
expect_exit 2 "$IMSEC" scscf -c "$T_TMP/c1.yaml"
printf 'domain: %s\nexpires_min: soon\n' $D >"$T_TMP/c2.yaml"
expect_err "c2.yaml:2: key 'expires_min': expected a whole number" "$IMSEC" scscf -c "$T_TMP/c2.yaml"
printf 'domain: [a\n' >"$T_TMP/c3.yaml"
expect_err "c3.yaml:[0-9]+: YAML" "$IMSEC" scscf -c "$T_TMP/c3.yaml"
printf 'domain: a\ndomain: b\n' >"$T_TMP/c4.yaml"
expect_err "c4.yaml:2: key 'domain': given twice" "$IMSEC" scscf -c "$T_TMP/c4.yaml"
expect_err "nothere.yaml.*cannot read" "$IMSEC" scscf -c "$T_TMP/nothere.yaml"
"$IMSEC" scscf -c "$T_TMP/c1.yaml" 2>"$T_TMP/e"
if [ "$(wc -l <"$T_TMP/e")" -eq 1 ]; then t_ok; else t_bad "config error not one line"; fi

# A core past one machine: the Cx and Redis flags, their keys.
CL="--listen tcp:127.0.0.1:0 --domain $D --insecure-core --peer-addr 127.0.0.1"
expect_err "--hss: expected diameter:HOST:PORT" "$IMSEC" scscf $CL \
  --hss tcp:127.0.0.1:3868 --registrations "$T_TMP/r.db"
expect_err "--hss needs --diameter-identity" "$IMSEC" scscf $CL \
  --hss diameter:127.0.0.1:3868 --registrations "$T_TMP/r.db"
expect_err "--db and --hss diameter" "$IMSEC" scscf $CL --db "$DB" \
  --hss diameter:127.0.0.1:3868 --diameter-identity s.$D --diameter-realm $D
expect_err "--hss diameter: needs --registrations" "$IMSEC" scscf $CL \
  --hss diameter:127.0.0.1:3868 --diameter-identity s.$D --diameter-realm $D
expect_err "diameter\+tls: needs --diameter-cert" "$IMSEC" scscf $CL \
  --hss diameter+tls:127.0.0.1:3868 --diameter-identity s.$D \
  --diameter-realm $D --registrations "$T_TMP/r.db"
expect_err "--hss-timeout: expected 1..600000" "$IMSEC" scscf $CL --db "$DB" \
  --hss-timeout 0
expect_err "--alias: expected HOST:PORT, got 'x'" "$IMSEC" scscf $CL \
  --db "$DB" --alias x
printf 'hss: diameter:127.0.0.1:3868\nhss_timeout: 0\n' >"$T_TMP/c6.yaml"
expect_err "c6.yaml:2: key 'hss_timeout': expected 1..600000" "$IMSEC" scscf \
  -c "$T_TMP/c6.yaml"
printf 'aliases: [a:1]\naliases: [b:2]\n' >"$T_TMP/c7.yaml"
expect_err "c7.yaml:2: key 'aliases': given twice" "$IMSEC" scscf \
  -c "$T_TMP/c7.yaml"

# Smoke run from a config file (db relative to it).
printf 'txn_timeout: 99999\n' >"$T_TMP/c5.yaml"
expect_err "c5.yaml:1: key 'txn_timeout': expected a whole number up to 3600" "$IMSEC" scscf -c "$T_TMP/c5.yaml"
printf 'domain: %s\ndb: hss.db\nlisten: [tcp:127.0.0.1:0]\nnonce_lifetime: 5\ntxn_timeout: 10\nmax_txns: 100\ninsecure_core: true\npeer_addrs: 127.0.0.1\nstore_timeout: 250\nlimit_window: 60\nimpi_challenge_limit: 5\nsource_challenge_limit: 100\nimpi_failure_limit: 5\nsource_failure_limit: 50\nlockout: 60\nroutes: [other.example.net=tcp:127.0.0.1:7070]\ntimer_c_ms: 5000\naliases: [scscf2.example.org:6060]\n' $D >"$T_TMP/ok.yaml"
"$IMSEC" scscf -c "$T_TMP/ok.yaml" \
  --route "third.example.org=tls:192.0.2.9:5061;name=icscf.third.example.org" \
  2>"$T_TMP/log" &
PID=$!
PORT=
for _ in $(seq 50); do
  PORT=$(sed -n 's/.*listening on tcp:127.0.0.1:\([0-9]*\).*/\1/p' "$T_TMP/log")
  [ -n "$PORT" ] && break
  sleep 0.1
done
if [ -n "$PORT" ]; then t_ok; else t_bad "no listening line"; cat "$T_TMP/log"; fi
if exec 3<>"/dev/tcp/127.0.0.1/$PORT"; then
  printf 'REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:1@%s>;tag=a\r\nTo: <sip:1@%s>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContact: <sip:ue@127.0.0.1:5999>\r\nAuthorization: Digest username="1@%s",realm="%s",nonce="",uri="sip:%s",response=""\r\nContent-Length: 0\r\n\r\n' \
    $D $D $D $D $D $D >&3
  timeout 1 cat <&3 >"$T_TMP/resp"
  exec 3>&-
fi
if grep -q "^SIP/2.0 401 Unauthorized" "$T_TMP/resp" &&
  grep -q 'algorithm=AKAv1-MD5' "$T_TMP/resp"; then t_ok; else
  t_bad "no 401 challenge"; cat "$T_TMP/resp"
fi
kill -TERM $PID
wait $PID
rc=$?
if [ $rc -eq 0 ]; then t_ok; else t_bad "SIGTERM exit $rc"; fi
if grep -q "401 AKAv1-MD5 challenge" "$T_TMP/log"; then t_ok; else t_bad "no log line"; cat "$T_TMP/log"; fi
# The file's routes and the flag's, both announced at start.
if grep -q "route other.example.net -> tcp:127.0.0.1:7070" "$T_TMP/log" &&
  grep -q "route third.example.org -> tls:192.0.2.9:5061 name icscf.third.example.org" "$T_TMP/log"; then
  t_ok; else t_bad "routes not announced"; cat "$T_TMP/log"; fi
if grep -q "warn: --insecure-core: plain TCP accepted on the core side from 127.0.0.1" "$T_TMP/log"; then t_ok; else t_bad "no insecure-core warning"; cat "$T_TMP/log"; fi
# The SQN of that challenge (SEQ 1) is covered by the durable mark on disk:
# the HSS reserves a range of SEQ per write (TS 33.102 C.3), so the mark
# is at least SEQ 1 and at most a range (32) ahead.
MARK=$("$IMSEC" hss list --db "$DB" | sed -n 's/.*sqn=\([0-9a-f]*\)$/\1/p')
SEQ=$(( 16#${MARK:-0} >> 5 ))
if [ "$SEQ" -ge 1 ] && [ "$SEQ" -le 32 ]; then t_ok; else
  t_bad "stored SQN mark $MARK (SEQ $SEQ) does not cover SEQ 1 within a range"
fi
finish
