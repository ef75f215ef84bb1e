#!/usr/bin/env bash
# Modes M2a and M2b on the command line: the P-CSCF's --client-cert,
# --ue-ca, --dial-ue (YAML client_cert, ue_ca, dial_ue) and the UE's
# --listen, --close-after-register and profile cert_file/key_file: each
# usage error is exit 2 with one line naming the option or key; a P-CSCF
# with them starts and says so.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
HOME_DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
BASE=(--listen tls:127.0.0.1:0 --route "$HOME_DOMAIN=tcp:127.0.0.1:1"
  --core tcp:127.0.0.1:0 --insecure-core --peer-addr 127.0.0.1)

expect_err "--client-cert must be none, request or require" timeout 5 \
  "$IMSEC" pcscf --cert c --key k "${BASE[@]}" --client-cert maybe
expect_err "--client-cert needs --ue-ca" timeout 5 \
  "$IMSEC" pcscf --cert c --key k "${BASE[@]}" --client-cert require
expect_err "--dial-ue needs --ue-ca" timeout 5 \
  "$IMSEC" pcscf --cert c --key k "${BASE[@]}" --dial-ue
expect_err "--ue-ca needs a value" "$IMSEC" pcscf --ue-ca
cfg="$T_TMP/pcscf.yaml"
printf 'listen: tls:127.0.0.1:0\nclient_cert: sometimes\n' >"$cfg"
expect_err "pcscf.yaml:2: key 'client_cert': expected none, request or require" \
  "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\ndial_ue: perhaps\n' >"$cfg"
expect_err "pcscf.yaml:2: key 'dial_ue': expected true or false" \
  "$IMSEC" pcscf -c "$cfg"
printf 'listen: tls:127.0.0.1:0\nue_ca: [a, [b]]\n' >"$cfg"
expect_err "pcscf.yaml:2: key 'ue_ca'" "$IMSEC" pcscf -c "$cfg"

# A PKI, then a P-CSCF from YAML with the M2 keys: it starts.
pki="$T_TMP/pki"
"$IMSEC" pki init --dir "$pki" >/dev/null &&
  "$IMSEC" pki operator --dir "$pki" --mcc 001 --mnc 01 >/dev/null &&
  "$IMSEC" pki pcscf --dir "$pki" --mcc 001 --mnc 01 >/dev/null ||
  t_bad "pki"
expect_err "--ue-ca $T_TMP/none.pem: No such file" timeout 5 \
  "$IMSEC" pcscf --cert "$pki/pcscf.$HOME_DOMAIN.chain.pem" \
  --key "$pki/pcscf.$HOME_DOMAIN.key" "${BASE[@]}" --dial-ue \
  --ue-ca "$T_TMP/none.pem"
cat >"$cfg" <<EOC
listen: tls:127.0.0.1:0
cert: $pki/pcscf.$HOME_DOMAIN.chain.pem
key: $pki/pcscf.$HOME_DOMAIN.key
routes: [$HOME_DOMAIN=tcp:127.0.0.1:1]
core: tcp:127.0.0.1:0
insecure_core: true
peer_addrs: [127.0.0.1]
client_cert: require
ue_ca: [$pki/root.crt, $pki/op-mcc001-mnc001.crt]
dial_ue: true
EOC
timeout 5 "$IMSEC" pcscf -c "$cfg" 2>"$T_TMP/pcscf.log" &
pid=$!
t_wait_log "listening on" "$T_TMP/pcscf.log"
grep -q "listening on tls:127.0.0.1" "$T_TMP/pcscf.log" && t_ok ||
  t_bad "P-CSCF with client_cert, ue_ca, dial_ue did not start: $(cat "$T_TMP/pcscf.log")"
# SIGHUP reloads the UE listener (with its UE CA files) and the "ue" profile.
kill -HUP "$pid" 2>/dev/null
t_wait_log "reload" "$T_TMP/pcscf.log"
t_wait_log "reloaded" "$T_TMP/pcscf.log"
grep -q "info: reloaded" "$T_TMP/pcscf.log" && t_ok ||
  t_bad "SIGHUP with the M2 settings: $(tail -2 "$T_TMP/pcscf.log")"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# The UE: flags and profile keys.
prof="$T_TMP/ue.yaml"
"$IMSEC" isim new --imsi 001010000000001 --mnc-len 2 \
  --trust-domain 3gppnetwork.org --anchors "$pki/root.crt" \
  --home-ca "$pki/op-mcc001-mnc001.crt" --out "$prof" >/dev/null || t_bad "isim"
expect_err "--close-after-register needs --listen" \
  "$IMSEC" ue run -c "$prof" --pcscf 127.0.0.1:1 --close-after-register
expect_err "--listen needs cert_file and key_file" \
  "$IMSEC" ue run -c "$prof" --pcscf 127.0.0.1:1 --listen tls:127.0.0.1:5999
"$IMSEC" pki ue --dir "$pki" --mcc 001 --mnc 01 \
  --impi "001010000000001@$HOME_DOMAIN" --server >/dev/null || t_bad "pki ue"
u="$pki/ue-001010000000001@$HOME_DOMAIN"
printf 'cert_file: %s\nkey_file: %s\n' "$u.chain.pem" "$u.key" >>"$prof"
expect_err "--listen 'tls:0.0.0.0:5999' is not tls:IP:PORT" \
  "$IMSEC" ue run -c "$prof" --pcscf 127.0.0.1:1 --listen tls:0.0.0.0:5999
expect_err "--listen 'tls:127.0.0.1:0' is not tls:IP:PORT" \
  "$IMSEC" ue run -c "$prof" --pcscf 127.0.0.1:1 --listen tls:127.0.0.1:0
chmod 644 "$u.key"
expect_err "key 'key_file': secret file .* chmod 600" \
  "$IMSEC" ue register -c "$prof" --pcscf 127.0.0.1:1
chmod 600 "$u.key"
expect_exit 0 "$IMSEC" pki --help
"$IMSEC" pki --help | grep -q "clientAuth for dialling UEs" && t_ok ||
  t_bad "pki --help does not say the P-CSCF certificate has clientAuth"
openssl x509 -in "$pki/pcscf.$HOME_DOMAIN.crt" -noout -ext extendedKeyUsage |
  grep -q "TLS Web Client Authentication" && t_ok ||
  t_bad "pki pcscf certificate lacks EKU clientAuth"
finish
