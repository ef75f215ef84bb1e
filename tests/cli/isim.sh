#!/usr/bin/env bash
# imsec isim: derive, new, check.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

# TS 23.003 §13: a two-digit MNC is padded.
expect_out "^impi=234150999999999@ims.mnc015.mcc234.3gppnetwork.org$" \
  "$IMSEC" isim derive --imsi 234150999999999 --mnc-len 2
expect_out "^home_domain=ims.mnc015.mcc234.3gppnetwork.org$" \
  "$IMSEC" isim derive --imsi 234150999999999 --mnc-len 2
expect_out "^impu=sip:234150999999999@ims.mnc015.mcc234.3gppnetwork.org$" \
  "$IMSEC" isim derive --imsi 234150999999999 --mnc-len 2
expect_out "^home_domain=ims.mnc150.mcc234.3gppnetwork.org$" \
  "$IMSEC" isim derive --imsi 234150999999999 --mnc-len 3
expect_exit 2 "$IMSEC" isim derive --imsi 12ab --mnc-len 2
expect_err "--mnc-len must be 2 or 3" "$IMSEC" isim derive --imsi 234150999999999 --mnc-len 4
expect_err "--imsi is required" "$IMSEC" isim derive --mnc-len 2

D="$T_TMP/pki"
"$IMSEC" pki init --dir "$D" >/dev/null &&
  "$IMSEC" pki operator --dir "$D" --mcc 001 --mnc 01 >/dev/null &&
  "$IMSEC" pki operator --dir "$D" --mcc 001 --mnc 02 >/dev/null || t_bad "pki setup"
P="$T_TMP/ue.yaml"
new() {
  "$IMSEC" isim new --imsi 001010000000001 --mnc-len 2 --trust-domain 3gppnetwork.org \
    --anchors "$D/root.crt" --home-ca "$D/op-mcc001-mnc001.crt" \
    --partner "$D/op-mcc001-mnc002.crt" "$@"
}
expect_out "^impi=001010000000001@ims.mnc001.mcc001.3gppnetwork.org$" new --out "$P"
[ "$(stat -c %a "$P")" = 600 ] && t_ok || t_bad "profile not 0600"
expect_exit 2 new --out "$P"
expect_err "exists" new --out "$P"
# Fresh K and OPc each time.
new --out "$T_TMP/ue2.yaml" >/dev/null
k1=$(grep '^k:' "$P"); k2=$(grep '^k:' "$T_TMP/ue2.yaml")
[ -n "$k1" ] && [ "$k1" != "$k2" ] && t_ok || t_bad "K not fresh ($k1 / $k2)"
grep -q '^opc: "[0-9a-f]\{32\}"$' "$P" && t_ok || t_bad "no OPc"
expect_exit 0 "$IMSEC" isim check "$P"
expect_out "^ok:" "$IMSEC" isim check "$P"

# Every violation and inconsistency, not only the first.
B="$T_TMP/bad.yaml"
cat >"$B" <<YAML
impi: 001010000000001@ims.mnc001.mcc001.evil3gppnetwork.org
impus:
  - sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org
  - sip:alice@example.com
home_domain: ims.mnc001.mcc001.3gppnetwork.org
trust_domain: 3gppnetwork.org
k: 465b5ce8b199b49faa5f0a2ee238a6bc
anchors: [pki/root.crt]
home_ca: pki/op-mcc001-mnc002.crt
partners: [pki/nonexistent.crt]
YAML
expect_exit 1 "$IMSEC" isim check "$B"
"$IMSEC" isim check "$B" >"$T_TMP/check.out"
[ "$(grep -c '^violation:' "$T_TMP/check.out")" = 2 ] && t_ok || { t_bad "want 2 violations"; cat "$T_TMP/check.out"; }
grep -q "evil3gppnetwork.org' does not lie within" "$T_TMP/check.out" && t_ok || t_bad "IMPI realm violation"
grep -q "IMPU #2 'sip:alice@example.com'" "$T_TMP/check.out" && t_ok || t_bad "IMPU violation"
grep -q "^inconsistent: no operator variant key" "$T_TMP/check.out" && t_ok || t_bad "no op/opc"
grep -q "^inconsistent: the IMPI's realm" "$T_TMP/check.out" && t_ok || t_bad "realm vs home"
grep -q "^inconsistent: roaming partner CA #1 .*cannot be read" "$T_TMP/check.out" && t_ok || t_bad "partner file"
grep -q "^inconsistent: the home CA is the CA of 'ims.mnc002" "$T_TMP/check.out" && t_ok || t_bad "home CA domain"

# Bad YAML or a bad key: one clear line naming file, line and key; exit 2.
printf 'impi: a@b.c\nk: 12\n' >"$T_TMP/badkey.yaml"
expect_exit 2 "$IMSEC" isim check "$T_TMP/badkey.yaml"
expect_err "badkey.yaml:2: key 'k': expected 32 hex digits" "$IMSEC" isim check "$T_TMP/badkey.yaml"
printf 'impi: [unclosed\n' >"$T_TMP/broken.yaml"
expect_err "broken.yaml:[0-9]+: YAML" "$IMSEC" isim check "$T_TMP/broken.yaml"
# A secret file readable by others is refused.
printf '465b5ce8b199b49faa5f0a2ee238a6bc\n' >"$T_TMP/k.hex"
chmod 644 "$T_TMP/k.hex"
printf 'k_file: k.hex\n' >"$T_TMP/sec.yaml"
expect_exit 2 "$IMSEC" isim check "$T_TMP/sec.yaml"
expect_err "sec.yaml:1: key 'k_file': secret file .*k.hex is readable by group or others \(mode 0644\)" \
  "$IMSEC" isim check "$T_TMP/sec.yaml"
chmod 600 "$T_TMP/k.hex"
expect_exit 1 "$IMSEC" isim check "$T_TMP/sec.yaml"
expect_exit 2 "$IMSEC" isim check "$T_TMP/none.yaml"
expect_exit 2 "$IMSEC" isim check
expect_exit 2 "$IMSEC" isim frob
expect_err "--trust-domain is required" "$IMSEC" isim new --imsi 001010000000001 --mnc-len 2

# SIP Digest (TS 33.203 Annex N): a profile without an ISIM. A missing
# password file is created (0600, 24 base64 characters); the profile names
# it and never holds the password; isim check says how the UE will
# authenticate.
dnew() {
  "$IMSEC" isim new --digest --trust-domain 3gppnetwork.org \
    --anchors "$D/root.crt" --home-ca "$D/op-mcc001-mnc001.crt" "$@"
}
DP="$T_TMP/alice.yaml"
PW="$T_TMP/alice.pw"
expect_out "^password_file_created=yes$" dnew \
  --impi alice@ims.mnc001.mcc001.3gppnetwork.org \
  --impu sip:alice@ims.mnc001.mcc001.3gppnetwork.org \
  --password-file "$PW" --digest-username alice --out "$DP"
[ "$(stat -c %a "$PW")" = 600 ] && t_ok || t_bad "password file not 0600"
grep -qx '[A-Za-z0-9+/]\{24\}' "$PW" && t_ok || t_bad "not 24 base64 characters"
[ "$(wc -l <"$PW")" = 1 ] && t_ok || t_bad "password file not one line"
grep -q "^password_file: \"$PW\"$" "$DP" && t_ok || t_bad "password_file not in profile"
grep -q '^digest_username: "alice"$' "$DP" && t_ok || t_bad "digest_username"
grep -qF "$(cat "$PW")" "$DP" && t_bad "password written into the profile" || t_ok
grep -q '^k:\|^opc:\|^sqn:' "$DP" && t_bad "ISIM keys in a digest profile" || t_ok
expect_out "^digest: no ISIM; SIP Digest over TLS as alice" "$IMSEC" isim check "$DP"
# An existing file is used as it is; from --imsi too.
cp "$PW" "$T_TMP/pw.before"
expect_out "^password_file_created=no$" dnew --imsi 001010000000009 --mnc-len 2 \
  --password-file "$PW" --out "$T_TMP/imsi.yaml"
cmp -s "$PW" "$T_TMP/pw.before" && t_ok || t_bad "existing password file changed"
expect_out "^impi=001010000000009@ims.mnc001.mcc001.3gppnetwork.org$" \
  "$IMSEC" isim new --digest --trust-domain 3gppnetwork.org \
  --anchors "$D/root.crt" --home-ca "$D/op-mcc001-mnc001.crt" \
  --imsi 001010000000009 --mnc-len 2 --password-file "$PW" \
  --out "$T_TMP/imsi.yaml" --force
# Refusals: one line, exit 2, no profile written.
chmod 640 "$PW"
expect_exit 2 dnew --impi bob@ims.mnc001.mcc001.3gppnetwork.org \
  --impu sip:bob@ims.mnc001.mcc001.3gppnetwork.org --password-file "$PW" \
  --out "$T_TMP/bob.yaml"
expect_err "readable or writable by group or others \(mode 0640\)" dnew \
  --impi bob@ims.mnc001.mcc001.3gppnetwork.org \
  --impu sip:bob@ims.mnc001.mcc001.3gppnetwork.org --password-file "$PW" \
  --out "$T_TMP/bob.yaml"
[ -e "$T_TMP/bob.yaml" ] && t_bad "profile written despite the refusal" || t_ok
# A profile naming a group-readable password file does not load.
expect_exit 2 "$IMSEC" isim check "$DP"
expect_err "key 'password_file': .*readable or writable by group or others \(mode 0640\)" \
  "$IMSEC" isim check "$DP"
chmod 600 "$PW"
printf '' >"$T_TMP/empty.pw"
chmod 600 "$T_TMP/empty.pw"
expect_err "--password-file .*empty" dnew --impi bob@ims.mnc001.mcc001.3gppnetwork.org \
  --impu sip:bob@ims.mnc001.mcc001.3gppnetwork.org \
  --password-file "$T_TMP/empty.pw" --out "$T_TMP/bob.yaml"
expect_err "--digest needs --password-file" dnew \
  --impi bob@ims.mnc001.mcc001.3gppnetwork.org \
  --impu sip:bob@ims.mnc001.mcc001.3gppnetwork.org --out "$T_TMP/bob.yaml"
expect_err "--digest needs --impu" dnew --impi bob@ims.mnc001.mcc001.3gppnetwork.org \
  --password-file "$PW" --out "$T_TMP/bob.yaml"
expect_err "is not user@realm" dnew --impi bob --impu sip:bob@x.org \
  --password-file "$PW" --out "$T_TMP/bob.yaml"
expect_err "--digest takes no --cert-file" dnew --impi bob@ims.mnc001.mcc001.3gppnetwork.org \
  --impu sip:bob@ims.mnc001.mcc001.3gppnetwork.org --password-file "$PW" \
  --cert-file "$D/root.crt" --key-file "$D/root.key" --out "$T_TMP/bob.yaml"
expect_err "go with --digest" new --password-file "$PW" --out "$T_TMP/bob.yaml"
expect_exit 2 dnew --impi bob@ims.mnc001.mcc001.3gppnetwork.org \
  --impu sip:bob@ims.mnc001.mcc001.3gppnetwork.org --password-file "$PW" \
  --out "$DP"
# A username the S-CSCF cannot map is an inconsistency.
sed 's/^digest_username: "alice"$/digest_username: "mallory"/' "$DP" >"$T_TMP/mal.yaml"
chmod 600 "$T_TMP/mal.yaml"
expect_exit 1 "$IMSEC" isim check "$T_TMP/mal.yaml"
expect_out "^inconsistent: digest_username 'mallory' is neither the IMPI" \
  "$IMSEC" isim check "$T_TMP/mal.yaml"
finish
