#!/usr/bin/env bash
# imsec pki: the trust-domain PKI of DESIGN.md §6 on disk.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
D="$T_TMP/pki"
HOME_D=ims.mnc001.mcc001.3gppnetwork.org
H=pcscf.$HOME_D
IMPI=001010000000001@$HOME_D

expect_out "^cert=$D/root.crt$" "$IMSEC" pki init --dir "$D" --trust-domain 3gppnetwork.org
[ "$(stat -c %a "$D/root.key")" = 600 ] && t_ok || t_bad "root.key not 0600"
# Nothing is overwritten without --force.
expect_exit 2 "$IMSEC" pki init --dir "$D"
expect_err "exists \(use --force" "$IMSEC" pki init --dir "$D"
expect_exit 0 "$IMSEC" pki init --dir "$D" --force
expect_out "^key=$D/op-mcc001-mnc001.key$" "$IMSEC" pki operator --dir "$D" --mcc 001 --mnc 01
expect_exit 0 "$IMSEC" pki operator --dir "$D" --mcc 001 --mnc 02
expect_out "^chain=$D/$H.chain.pem$" "$IMSEC" pki pcscf --dir "$D" --mcc 001 --mnc 01 --host "$H"
expect_exit 2 "$IMSEC" pki pcscf --dir "$D" --mcc 001 --mnc 01 --host "$H"
# The default host, and RSA.
expect_out "^cert=$D/pcscf.ims.mnc002.mcc001.3gppnetwork.org.crt$" \
  "$IMSEC" pki pcscf --dir "$D" --mcc 001 --mnc 02 --rsa
expect_exit 0 "$IMSEC" pki ue --dir "$D" --mcc 001 --mnc 01 --impi "$IMPI" --server
for k in outside selfsigned; do
  expect_out "^chain=$D/rogue-$k.chain.pem$" "$IMSEC" pki rogue --dir "$D" --kind $k --host pcscf.evil.example
done
expect_exit 0 "$IMSEC" pki rogue --dir "$D" --kind expired --mcc 001 --mnc 01 --host "$H"
for f in "$D"/*.key; do
  [ "$(stat -c %a "$f")" = 600 ] && t_ok || t_bad "$f not 0600"
done

# The certificates as openssl sees them.
if command -v openssl >/dev/null; then
  expect_out "OK" openssl verify -CAfile "$D/root.crt" -untrusted "$D/op-mcc001-mnc001.crt" -purpose sslserver "$D/$H.crt"
  expect_out "DNS:$H, URI:sip:$H" openssl x509 -in "$D/$H.crt" -noout -ext subjectAltName
  expect_out "TLS Web Server Authentication" openssl x509 -in "$D/$H.crt" -noout -ext extendedKeyUsage
  expect_out "Permitted:" openssl x509 -in "$D/op-mcc001-mnc001.crt" -noout -ext nameConstraints
  expect_out "DNS:$HOME_D" openssl x509 -in "$D/op-mcc001-mnc001.crt" -noout -ext nameConstraints
  expect_out "TLS Web Client Authentication" openssl x509 -in "$D/ue-$IMPI.crt" -noout -ext extendedKeyUsage
  expect_out "TLS Web Server Authentication" openssl x509 -in "$D/ue-$IMPI.crt" -noout -ext extendedKeyUsage
  expect_out "rsaEncryption" openssl x509 -in "$D/pcscf.ims.mnc002.mcc001.3gppnetwork.org.crt" -noout -text
  expect_out "id-ecPublicKey" openssl x509 -in "$D/$H.crt" -noout -text
  # The chain file: leaf first, then the operator CA.
  first=$(openssl x509 -in "$D/$H.chain.pem" -noout -subject)
  case "$first" in *"$H"*) t_ok ;; *) t_bad "chain does not start with the leaf: $first" ;; esac
  [ "$(grep -c 'BEGIN CERTIFICATE' "$D/$H.chain.pem")" = 2 ] && t_ok || t_bad "chain has not 2 certs"
  expect_out "expired|error" sh -c "openssl verify -CAfile '$D/root.crt' -untrusted '$D/op-mcc001-mnc001.crt' '$D/rogue-expired.crt' 2>&1"
  expect_out "self-signed|error" sh -c "openssl verify -CAfile '$D/root.crt' '$D/rogue-selfsigned.crt' 2>&1"
  expect_out "OK" openssl verify -CAfile "$D/root.crt" "$D/rogue-outside.crt"
fi

# Usage errors name the option.
expect_exit 2 "$IMSEC" pki
expect_exit 2 "$IMSEC" pki bogus --dir "$D"
expect_err "--dir is required" "$IMSEC" pki init
expect_err "--mcc and --mnc" "$IMSEC" pki operator --dir "$D"
expect_err "--mcc must be 3 digits" "$IMSEC" pki operator --dir "$D" --mcc 1 --mnc 01
expect_err "outside the operator domain" "$IMSEC" pki pcscf --dir "$D" --mcc 001 --mnc 01 --host pcscf.ims.mnc002.mcc001.3gppnetwork.org
expect_err "--kind must be" "$IMSEC" pki rogue --dir "$D" --kind nice --host a.b
expect_err "inside the trust domain" "$IMSEC" pki rogue --dir "$D" --kind outside --host "$H" --force
expect_err "no IMS root CA" "$IMSEC" pki operator --dir "$T_TMP/empty" --mcc 001 --mnc 01
expect_err "not a NAI" "$IMSEC" pki ue --dir "$D" --mcc 001 --mnc 01 --impi nobody
# Network elements of the core side (TS 33.210, TS 33.310 §6.1.3c).
N=scscf.$HOME_D
expect_out "chain=$D/node-$N.chain.pem" "$IMSEC" pki node --dir "$D" --mcc 001 --mnc 01 --host "$N"
if command -v openssl >/dev/null; then
  expect_out "TLS Web Server Authentication, TLS Web Client Authentication" openssl x509 -in "$D/node-$N.crt" -noout -ext extendedKeyUsage
  expect_out "DNS:$N, URI:sip:$N" openssl x509 -in "$D/node-$N.crt" -noout -ext subjectAltName
  expect_out "OK" openssl verify -CAfile "$D/root.crt" -untrusted "$D/op-mcc001-mnc001.crt" -purpose sslclient "$D/node-$N.crt"
  "$IMSEC" pki node --dir "$D" --mcc 001 --mnc 01 --host "$N" --expired >/dev/null
  expect_out "expired|error" sh -c "openssl verify -CAfile '$D/root.crt' -untrusted '$D/op-mcc001-mnc001.crt' '$D/node-$N-expired.crt' 2>&1"
  "$IMSEC" pki rogue --dir "$D" --kind selfsigned --node --host "$N" >/dev/null
  expect_out "TLS Web Client Authentication" openssl x509 -in "$D/rogue-node-selfsigned.crt" -noout -ext extendedKeyUsage
fi
[ "$(stat -c %a "$D/node-$N.key")" = 600 ] && t_ok || t_bad "node key not 0600"
expect_exit 2 "$IMSEC" pki node --dir "$D" --mcc 001 --mnc 01 --host evil.example.com
expect_err "--host 'evil.example.com' lies outside the operator domain '$HOME_D'" "$IMSEC" pki node --dir "$D" --mcc 001 --mnc 01 --host evil.example.com
expect_err "node: --host is required" "$IMSEC" pki node --dir "$D" --mcc 001 --mnc 01
expect_err "exists .*--force" "$IMSEC" pki node --dir "$D" --mcc 001 --mnc 01 --host "$N"
chmod 644 "$D/root.key"
expect_err "readable by group or others" "$IMSEC" pki operator --dir "$D" --mcc 001 --mnc 03
finish
