#!/usr/bin/env bash
# imsec isim new with the mode keys (--cert-file, --key-file for M2a/M2b;
# --psk-file, --psk-identity for M3) and what isim check says about them.
# Every refusal is one line on stderr and exit 2; nothing is written then.
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
IMPI="001010000000001@$HOME_DOMAIN"
D="$T_TMP/pki"
"$IMSEC" pki init --dir "$D" >/dev/null &&
  "$IMSEC" pki operator --dir "$D" --mcc 001 --mnc 01 >/dev/null &&
  "$IMSEC" pki ue --dir "$D" --mcc 001 --mnc 01 --impi "$IMPI" >/dev/null &&
  "$IMSEC" pki ue --dir "$D" --mcc 001 --mnc 01 \
    --impi "001010000000009@$HOME_DOMAIN" --server >/dev/null || t_bad "pki setup"
U="$D/ue-$IMPI"
S="$D/ue-001010000000009@$HOME_DOMAIN"
PSK="$T_TMP/ue.psk"
printf '00112233445566778899aabbccddeeff\n' >"$PSK"
chmod 600 "$PSK"
P="$T_TMP/ue.yaml"
new() {
  "$IMSEC" isim new --imsi 001010000000001 --mnc-len 2 --trust-domain 3gppnetwork.org \
    --anchors "$D/root.crt" --home-ca "$D/op-mcc001-mnc001.crt" "$@"
}

# All four keys, written absolute; the PSK identity defaults to the IMPI.
expect_out "^cert_file=$U.chain.pem$" new --out "$P" --cert-file "$U.chain.pem" \
  --key-file "$U.key" --psk-file "$PSK"
grep -qx "cert_file: \"$U.chain.pem\"" "$P" && t_ok || t_bad "cert_file not written"
grep -qx "key_file: \"$U.key\"" "$P" && t_ok || t_bad "key_file not written"
grep -qx "psk_identity: \"$IMPI\"" "$P" && t_ok || t_bad "psk_identity not the IMPI"
grep -qx "psk_file: \"$PSK\"" "$P" && t_ok || t_bad "psk_file not written"
grep -q 00112233445566778899aabbccddeeff "$P" && t_bad "the PSK went inline" || t_ok
[ "$(stat -c %a "$P")" = 600 ] && t_ok || t_bad "profile not 0600"
expect_exit 0 "$IMSEC" isim check "$P"
expect_out "^m2: cert_file .*\(M2a\); not for imsec ue --listen" "$IMSEC" isim check "$P"
expect_out "^m3: psk_identity $IMPI with a 16-octet key from $PSK" "$IMSEC" isim check "$P"
# Relative paths are taken from where the command runs.
(cd "$T_TMP" && "$IMSEC" isim new --imsi 001010000000001 --mnc-len 2 \
  --trust-domain 3gppnetwork.org --anchors pki/root.crt \
  --home-ca pki/op-mcc001-mnc001.crt --psk-file ue.psk \
  --psk-identity "$IMPI" --out rel.yaml >/dev/null) || t_bad "relative paths"
grep -qx "psk_file: \"$PSK\"" "$T_TMP/rel.yaml" && t_ok || t_bad "psk_file not absolute"

# Refusals: one line, exit 2, no file.
R="$T_TMP/refused.yaml"
expect_usage "--cert-file needs --key-file" new --out "$R" --cert-file "$U.chain.pem"
expect_usage "--key-file needs --cert-file" new --out "$R" --key-file "$U.key"
expect_usage "--cert-file .*root.key: no PEM certificate" new --out "$R" \
  --cert-file "$D/root.key" --key-file "$U.key"
expect_usage "--cert-file .*none.pem: no such file" new --out "$R" \
  --cert-file "$T_TMP/none.pem" --key-file "$U.key"
expect_usage "--key-file .*none.key: no such file" new --out "$R" \
  --cert-file "$U.chain.pem" --key-file "$T_TMP/none.key"
chmod 640 "$U.key"
expect_usage "--key-file: secret file .*is readable by group or others \(mode 0640\); chmod 600 it" \
  new --out "$R" --cert-file "$U.chain.pem" --key-file "$U.key"
chmod 600 "$U.key"
expect_usage "--psk-identity needs --psk-file" new --out "$R" --psk-identity "$IMPI"
expect_usage "--psk-identity 'a b' is not 1 to 127 printable" new --out "$R" \
  --psk-file "$PSK" --psk-identity "a b"
expect_usage "--psk-identity needs a value" new --out "$R" --psk-file "$PSK" --psk-identity
printf 'zz\n' >"$T_TMP/bad.psk"
chmod 600 "$T_TMP/bad.psk"
expect_usage "--psk-file: .*bad.psk must hold 32 to 128 hex digits" new --out "$R" \
  --psk-file "$T_TMP/bad.psk"
chmod 644 "$PSK"
expect_usage "--psk-file: secret file .*ue.psk is readable by group or others \(mode 0644\)" \
  new --out "$R" --psk-file "$PSK"
chmod 600 "$PSK"
[ -e "$R" ] && t_bad "a refused profile was written" || t_ok

# isim check on the mode keys.
# A certificate that names another IMPI: the P-CSCF would refuse it.
new --out "$T_TMP/other.yaml" --cert-file "$S.chain.pem" --key-file "$S.key" \
  >/dev/null 2>"$T_TMP/warn" || t_bad "new with another UE's certificate"
grep -q "names sip:001010000000009@$HOME_DOMAIN, not the IMPI" "$T_TMP/warn" && t_ok ||
  t_bad "new does not warn about another IMPI's certificate"
expect_exit 1 "$IMSEC" isim check "$T_TMP/other.yaml"
expect_out "^inconsistent: UE certificate \(cert_file\) .* names sip:001010000000009@" \
  "$IMSEC" isim check "$T_TMP/other.yaml"
# A PSK identity other than the IMPI.
new --out "$T_TMP/id.yaml" --psk-file "$PSK" --psk-identity "x@$HOME_DOMAIN" \
  >/dev/null 2>&1 || t_bad "new with another PSK identity"
expect_out "^inconsistent: psk_identity 'x@$HOME_DOMAIN' is not the IMPI" \
  "$IMSEC" isim check "$T_TMP/id.yaml"
# A server certificate (imsec pki ue --server) of the right IMPI serves M2b.
"$IMSEC" pki ue --dir "$D" --mcc 001 --mnc 01 --impi "$IMPI" --server --force >/dev/null ||
  t_bad "pki ue --server"
expect_out "^m2: .*served on imsec ue --listen \(M2b\)" "$IMSEC" isim check "$P"
# A key file that became readable by others, or went away: exit 2, one line.
chmod 644 "$U.key"
expect_usage "key 'key_file': secret file .* chmod 600 it" "$IMSEC" isim check "$P"
chmod 600 "$U.key"
mv "$PSK" "$PSK.away"
expect_usage "key 'psk_file': cannot read .*ue.psk" "$IMSEC" isim check "$P"
mv "$PSK.away" "$PSK"
# The certificate file gone: a finding, exit 1.
cp "$U.chain.pem" "$T_TMP/moved.pem"
sed -i "s|^cert_file: .*|cert_file: \"$T_TMP/moved.pem\"|" "$P"
rm "$T_TMP/moved.pem"
expect_exit 1 "$IMSEC" isim check "$P"
expect_out "^inconsistent: UE certificate \(cert_file\) .*moved.pem: cannot be read" \
  "$IMSEC" isim check "$P"
expect_out "--cert-file" "$IMSEC" isim --help
expect_out "--psk-identity" "$IMSEC" isim --help
finish
