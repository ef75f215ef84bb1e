#!/usr/bin/env bash
# imsec pcscf and SIP Digest over TLS (TS 33.203 Annexes N, O, P, Q):
# --access / YAML access (usage errors exit 2 with one line), then the
# daemon on loopback with a softphone-shaped UE over TLS and a fake TCP
# S-CSCF (tests/cli/pcscf_digest_peer.py): access other registers it
# without sec-agree and asserts its identity from the binding; access 3gpp
# refuses SIP Digest both ways with one log line.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
HOME_DOMAIN=ims.mnc001.mcc001.3gppnetwork.org

expect_err "--access must be 3gpp or other, not '5g'" "$IMSEC" pcscf \
  --access 5g
expect_exit 2 "$IMSEC" pcscf --access 5g
expect_err "--access needs a value" "$IMSEC" pcscf --access
"$IMSEC" pcscf --help | grep -q -- "--access 3gpp|other" && t_ok ||
  t_bad "--help lacks --access"
cfg="$T_TMP/bad.yaml"
printf 'listen: tls:127.0.0.1:0\naccess: 5g\n' >"$cfg"
expect_err "bad.yaml:2: key 'access': expected 3gpp or other" \
  "$IMSEC" pcscf -c "$cfg"
expect_exit 2 "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\naccess: 3gpp\nmax_dialogs: 5\naccess: other\n' \
  >"$cfg"
expect_err "bad.yaml:4: key 'access': given twice" "$IMSEC" pcscf -c "$cfg"
printf 'max_dialogs: 5\nlisten: tls:127.0.0.1:0\nmax_dialogs: 6\n' >"$cfg"
expect_err "bad.yaml:3: key 'max_dialogs': given twice" "$IMSEC" pcscf -c "$cfg"

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

# run MODE ACCESS_YAML [FLAGS...]: one daemon, one peer run.
run() {
  local mode=$1 access=$2
  shift 2
  local port_sc
  port_sc=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  local cfg="$T_TMP/$mode.yaml" log="$T_TMP/$mode.log"
  cat >"$cfg" <<YAML
listen: tls:127.0.0.1:0
cert: pki/pcscf.$HOME_DOMAIN.chain.pem
key: pki/pcscf.$HOME_DOMAIN.key
routes:
  - $HOME_DOMAIN=tcp:127.0.0.1:$port_sc
insecure_core: true
peer_addrs: 127.0.0.1
log_identities: true
$access
YAML
  timeout 30 "$IMSEC" pcscf -c "$cfg" "$@" 2>"$log" &
  local pid=$!
  t_wait_log "listening on" "$log"
  local tls_port
  tls_port=$(sed -n 's/.*listening on tls:127.0.0.1:\([0-9]*\) .*/\1/p' "$log")
  if [ -z "$tls_port" ]; then
    t_bad "$mode: pcscf did not start"
    sed 's/^/  | /' "$log"
  else
    timeout 20 python3 "$HERE/pcscf_digest_peer.py" "$mode" "$port_sc" \
      "$tls_port" >"$T_TMP/$mode.out" 2>&1 && t_ok || {
      t_bad "$mode: softphone steps"
      sed 's/^/  | /' "$T_TMP/$mode.out"
    }
  fi
  kill -TERM $pid 2>/dev/null
  wait $pid
  local rc=$?
  [ $rc -eq 0 ] && t_ok || t_bad "$mode: pcscf exit $rc after SIGTERM"
}

run other "access: other"
n=$(grep -c '^ok ' "$T_TMP/other.out")
[ "$n" -eq 7 ] && t_ok || t_bad "other: peer steps ok: $n of 7"
grep -q "pcscf info: registered IMPI alice@$HOME_DOMAIN .* bound to flow" \
  "$T_TMP/other.log" && t_ok || t_bad "other: no registration log line"

# The flag over the file: 3gpp.
run 3gpp "access: other" --access 3gpp
n=$(grep -c '^ok ' "$T_TMP/3gpp.out")
[ "$n" -eq 3 ] && t_ok || t_bad "3gpp: peer steps ok: $n of 3"
n=$(grep -c "offers SIP Digest only, not allowed on 3GPP access" "$T_TMP/3gpp.log")
[ "$n" -eq 1 ] && t_ok || t_bad "3gpp: 401 refusal lines: $n, want 1"
n=$(grep -c "403 SIP Digest not allowed on 3GPP access" "$T_TMP/3gpp.log")
[ "$n" -eq 1 ] && t_ok || t_bad "3gpp: credentials refusal lines: $n, want 1"
finish
