#!/usr/bin/env bash
# imsec pcscf: usage and configuration errors (exit 2, one line naming the
# option or the file, line and key), and a loopback run of the daemon with
# a TLS UE and a TCP S-CSCF (tests/cli/pcscf_peer.py) through a whole
# sec-agree registration and a request to the UE over its bound flow.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
HOME_DOMAIN=ims.mnc001.mcc001.3gppnetwork.org

expect_exit 0 "$IMSEC" pcscf --help
expect_err "--listen is required" "$IMSEC" pcscf
expect_exit 2 "$IMSEC" pcscf
expect_err "--listen 'tcp:127.0.0.1:5060' is not tls" \
  "$IMSEC" pcscf --listen tcp:127.0.0.1:5060
expect_err "--cert is required" "$IMSEC" pcscf --listen tls:127.0.0.1:0
expect_err "--route is required" "$IMSEC" pcscf --listen tls:127.0.0.1:0 \
  --cert c --key k
expect_err "--route 'nowhere' is not DOMAIN" "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route nowhere
expect_err "unknown option '--bogus'" "$IMSEC" pcscf --bogus
expect_err "--log-level must be" "$IMSEC" pcscf --listen tls:127.0.0.1:0 \
  --cert c --key k --route a=tcp:127.0.0.1:1 --insecure-core --log-level loud

expect_err "--core needs an address" "$IMSEC" pcscf --listen tls:0.0.0.0:0 \
  --cert c --key k --route a=tcp:127.0.0.1:1 --insecure-core
# (timeout: a daemon that takes what it should refuse would run on.)
# Mw (TS 33.210): plain TCP only when asked for; TLS never against the
# default store; a name to check when a tls: route dials an address.
expect_err "is plain TCP to the S-CSCF: use tls:HOST:PORT, or add --insecure-core" \
  timeout 5 "$IMSEC" pcscf --listen tls:127.0.0.1:0 --cert c --key k \
  --route a=tcp:127.0.0.1:1
expect_exit 2 timeout 5 "$IMSEC" pcscf --listen tls:127.0.0.1:0 --cert c --key k \
  --route a=tcp:127.0.0.1:1
expect_err "--core tcp:... is plain TCP" timeout 5 "$IMSEC" pcscf --listen tls:127.0.0.1:0 \
  --cert c --key k --route "a=tls:127.0.0.1:1;name=s.a" --core tcp:127.0.0.1:0
expect_err "TLS on the core side needs --core-ca" timeout 5 "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route "a=tls:127.0.0.1:1;name=s.a" \
  --core-cert c --core-key k
expect_exit 2 timeout 5 "$IMSEC" pcscf --listen tls:127.0.0.1:0 --cert c --key k \
  --route "a=tls:127.0.0.1:1;name=s.a" --core-cert c --core-key k
expect_err "TLS on the core side needs --core-cert and --core-key" timeout 5 "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route "a=tls:127.0.0.1:1;name=s.a" \
  --core-ca ca
expect_err "a tls: route to an IP address needs ;name=NAME" timeout 5 "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route a=tls:127.0.0.1:1 \
  --core-ca ca --core-cert c --core-key k
expect_err "--route 'a=tls:127.0.0.1:1;nom=x' is not DOMAIN" timeout 5 "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route "a=tls:127.0.0.1:1;nom=x"
expect_err "--peer-addr 'nowhere' is not an IP address" timeout 5 "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route a=tcp:127.0.0.1:1 \
  --insecure-core --peer-addr nowhere
expect_err "a plain core listener \(--insecure-core\) needs --peer-addr" \
  timeout 5 "$IMSEC" pcscf --listen tls:127.0.0.1:0 --cert c --key k \
  --route a=tcp:127.0.0.1:1 --insecure-core
expect_err "--peer-addr applies to a plain core listener" timeout 5 "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route "a=tls:127.0.0.1:1;name=s.a" \
  --core-ca ca --core-cert c --core-key k --peer-addr 127.0.0.1
expect_err "^imsec pcscf: --core-ca $T_TMP/none.pem: No such file" timeout 5 "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route "a=tls:127.0.0.1:1;name=s.a" \
  --core-ca "$T_TMP/none.pem" --core-cert c --core-key k
cfg="$T_TMP/pcscf.yaml"
printf 'listen: tls:127.0.0.1:0\ncert: c\nkey: k\nroutes: [a=tcp:127.0.0.1:1]\n' >"$cfg"
expect_err "is plain TCP to the S-CSCF" timeout 5 "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\ncert: c\nkey: k\nroutes: [a=tls:127.0.0.1:1;name=s.a]\ncore_cert: c\ncore_key: k\n' >"$cfg"
expect_err "needs --core-ca" timeout 5 "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\ninsecure_core: maybe\n' >"$cfg"
expect_err "pcscf.yaml:2: key 'insecure_core': expected true or false" \
  timeout 5 "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\ncore_ca: [a, [b]]\n' >"$cfg"
expect_err "pcscf.yaml:2: key 'core_ca'" "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\nroutes:\n  - a.example=tcp:127.0.0.1:1\n  - nonsense\n' >"$cfg"
expect_err "pcscf.yaml:4: key 'routes': 'nonsense'" "$IMSEC" pcscf -c "$cfg"
expect_exit 2 "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\ncore_peers: [s.a, "*.a"]\n' >"$cfg"
expect_err "pcscf.yaml:2: key 'core_peers': expected a host name" \
  "$IMSEC" pcscf -c "$cfg"
expect_err "--core-peer: a host name" timeout 5 "$IMSEC" pcscf \
  --listen tls:127.0.0.1:0 --cert c --key k --route "a=tls:127.0.0.1:1;name=s.a" \
  --core-peer "*.a"
printf 'listen: tls:127.0.0.1:0\nmax_flows: many\n' >"$cfg"
expect_err "pcscf.yaml:2: key 'max_flows'" "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\nlisten: tls:127.0.0.1:0\n' >"$cfg"
expect_err "pcscf.yaml:2: key 'listen': given twice" "$IMSEC" pcscf -c "$cfg"
printf 'listen: [a, b\n' >"$cfg"
expect_err "pcscf.yaml:[0-9]+: not valid YAML" "$IMSEC" pcscf -c "$cfg"
expect_err "nothere.yaml:0: cannot open" "$IMSEC" pcscf -c "$T_TMP/nothere.yaml"
# A certificate that does not load: one line, exit 2.
expect_err "^imsec pcscf: " "$IMSEC" pcscf --listen tls:127.0.0.1:0 \
  --cert "$T_TMP/none.pem" --key "$T_TMP/none.key" --route a=tcp:127.0.0.1:1 \
  --insecure-core --peer-addr 127.0.0.1
expect_exit 2 "$IMSEC" pcscf --listen tls:127.0.0.1:0 \
  --cert "$T_TMP/none.pem" --key "$T_TMP/none.key" --route a=tcp:127.0.0.1:1 \
  --insecure-core --peer-addr 127.0.0.1

# ---------------------------------------------------------------- loopback
if ! command -v python3 >/dev/null; then
  echo "python3 missing: loopback part skipped"
  finish
fi
pki="$T_TMP/pki"
"$IMSEC" pki init --dir "$pki" >/dev/null &&
  "$IMSEC" pki operator --dir "$pki" --mcc 001 --mnc 01 >/dev/null &&
  "$IMSEC" pki pcscf --dir "$pki" --mcc 001 --mnc 01 >/dev/null ||
  t_bad "pki setup"
P="$pki/pcscf.$HOME_DOMAIN"
# The Mw keys in YAML (paths relative to the file): a TLS core listener.
cfg="$T_TMP/mw.yaml"
cat >"$cfg" <<YAML
listen: tls:127.0.0.1:0
cert: pki/pcscf.$HOME_DOMAIN.chain.pem
key: pki/pcscf.$HOME_DOMAIN.key
routes:
  - $HOME_DOMAIN=tls:127.0.0.1:1;name=scscf.$HOME_DOMAIN
core_cert: pki/pcscf.$HOME_DOMAIN.chain.pem
core_key: pki/pcscf.$HOME_DOMAIN.key
core_ca: [pki/root.crt, pki/op-mcc001-mnc001.crt]
insecure_core: false
YAML
timeout 10 "$IMSEC" pcscf -c "$cfg" 2>"$T_TMP/mw.log" &
mw=$!
t_wait_log "listening on" "$T_TMP/mw.log"
grep -Eq "listening on tls:127.0.0.1:[0-9]+ \(UEs\) and tls:127.0.0.1:[0-9]+ \(S-CSCFs\)" \
  "$T_TMP/mw.log" && t_ok || {
  t_bad "YAML core_cert/core_key/core_ca: no TLS core listener"
  sed 's/^/  | /' "$T_TMP/mw.log"
}
grep -q "insecure-core" "$T_TMP/mw.log" && t_bad "insecure warning without it" || t_ok
kill -TERM $mw 2>/dev/null
wait $mw
# A free port for the fake S-CSCF (it binds it once the P-CSCF runs).
port_sc=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cfg="$T_TMP/run.yaml"
cat >"$cfg" <<YAML
listen: tls:127.0.0.1:0
cert: pki/pcscf.$HOME_DOMAIN.chain.pem
key: pki/pcscf.$HOME_DOMAIN.key
routes:
  - $HOME_DOMAIN=tcp:127.0.0.1:$port_sc
insecure_core: true
peer_addrs: 127.0.0.1
log_level: debug
YAML
"$IMSEC" pcscf -c "$cfg" 2>"$T_TMP/pcscf.log" &
pid=$!
t_wait_log "listening on" "$T_TMP/pcscf.log"
tls_port=$(sed -n 's/.*listening on tls:127.0.0.1:\([0-9]*\) .*/\1/p' "$T_TMP/pcscf.log")
core_port=$(sed -n 's/.* and tcp:127.0.0.1:\([0-9]*\) .*/\1/p' "$T_TMP/pcscf.log")
if [ -z "$tls_port" ] || [ -z "$core_port" ]; then
  t_bad "pcscf did not start"; sed 's/^/  | /' "$T_TMP/pcscf.log"
else
  t_ok
  python3 "$HERE/pcscf_peer.py" "$port_sc" "$tls_port" "$core_port" \
    >"$T_TMP/peer.out" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then t_ok; else
    t_bad "loopback registration (peer exit $rc)"
    sed 's/^/  | /' "$T_TMP/peer.out"
  fi
  n=$(grep -c '^ok ' "$T_TMP/peer.out")
  [ "$n" -eq 9 ] && t_ok || t_bad "peer steps ok: $n of 9"
  grep -q "pcscf warn: --insecure-core: plain TCP allowed .* from 127.0.0.1$" \
    "$T_TMP/pcscf.log" && t_ok || t_bad "no --insecure-core warning"
  # The IMPI as its pseudonym (no --log-identities), and nowhere in clear.
  grep -Eq "pcscf info: registered IMPI id-[0-9a-f]{12} " \
    "$T_TMP/pcscf.log" && t_ok || t_bad "no registration log line"
  grep -q "001010000000001@" "$T_TMP/pcscf.log" &&
    t_bad "an IMPI in clear in the log" || t_ok
  grep -q "pcscf warn: refused MESSAGE .*430 Flow Failed" "$T_TMP/pcscf.log" &&
    t_ok || t_bad "no 430 log line"
  # The UE's connection closed: its binding goes with it.
  t_wait_log "binding(s) removed" "$T_TMP/pcscf.log"
  grep -q "binding(s) removed" "$T_TMP/pcscf.log" && t_ok ||
    t_bad "binding not removed on flow loss"
fi
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
[ $rc -eq 0 ] && t_ok || t_bad "pcscf exit $rc after SIGTERM"
grep -q "stopped by signal" "$T_TMP/pcscf.log" && t_ok || {
  t_bad "no clean stop"; tail -5 "$T_TMP/pcscf.log" | sed 's/^/  | /'
}
[ -n "${PCSCF_TEST_KEEP:-}" ] && cp -r "$T_TMP" "$PCSCF_TEST_KEEP"
finish
