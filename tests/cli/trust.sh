#!/usr/bin/env bash
# imsec trust check: the decision of DESIGN.md §3 on a generated PKI.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
D="$T_TMP/pki"
HD=ims.mnc001.mcc001.3gppnetwork.org
VD=ims.mnc002.mcc001.3gppnetwork.org
OD=ims.mnc003.mcc001.3gppnetwork.org
{
  "$IMSEC" pki init --dir "$D"
  for m in 01 02 03; do "$IMSEC" pki operator --dir "$D" --mcc 001 --mnc $m; done
  for m in 01 02 03; do "$IMSEC" pki pcscf --dir "$D" --mcc 001 --mnc $m; done
  "$IMSEC" pki rogue --dir "$D" --kind outside --host pcscf.evil.example
  "$IMSEC" pki rogue --dir "$D" --kind expired --mcc 001 --mnc 01 --host pcscf.$HD
  "$IMSEC" pki rogue --dir "$D" --kind selfsigned --host pcscf.$HD
  "$IMSEC" pki ue --dir "$D" --mcc 001 --mnc 01 --impi 001010000000001@$HD
  "$IMSEC" isim new --imsi 001010000000001 --mnc-len 2 --trust-domain 3gppnetwork.org \
    --anchors "$D/root.crt" --home-ca "$D/op-mcc001-mnc001.crt" \
    --partner "$D/op-mcc001-mnc002.crt" --out "$T_TMP/ue.yaml"
} >/dev/null || t_bad "setup"

# check EXIT REASON CHAIN HOST [REALM] [extra...]
check() {
  local want=$1 reason=$2 chain=$3 host=$4 realm=${5:-$HD}
  shift 5 2>/dev/null || shift $#
  expect_exit "$want" "$IMSEC" trust check --chain "$chain" --profile "$T_TMP/ue.yaml" \
    --pcscf "$host" --realm "$realm" "$@"
  grep -q "^reason=$reason$" "$T_TMP/out" && t_ok || { t_bad "$chain $host $*: want reason=$reason"; cat "$T_TMP/out"; }
}
C() { echo "$D/$1.chain.pem"; }

# Home, roaming partner, non-partner under both policies.
check 0 ok "$(C pcscf.$HD)" pcscf.$HD $HD
grep -q '^decision=trusted$' "$T_TMP/out" && t_ok || t_bad "home not trusted"
check 0 ok "$(C pcscf.$HD)" pcscf.$HD $HD --policy strict-home
check 0 ok "$(C pcscf.$VD)" pcscf.$VD $HD
grep -q "^partner=$VD$" "$T_TMP/out" && t_ok || t_bad "partner= line"
grep -q '^why=.*roaming partner' "$T_TMP/out" && t_ok || t_bad "why= line"
check 1 name-outside-home-domain "$(C pcscf.$VD)" pcscf.$VD $HD --policy strict-home
check 1 not-a-roaming-partner "$(C pcscf.$OD)" pcscf.$OD $HD
grep -q '^decision=rejected$' "$T_TMP/out" && t_ok || t_bad "non-partner not rejected"
check 1 name-outside-home-domain "$(C pcscf.$OD)" pcscf.$OD $HD --policy strict-home

# The other reasons.
check 1 chain-invalid "$(C rogue-selfsigned)" pcscf.$HD $HD
check 1 expired "$(C rogue-expired)" pcscf.$HD $HD
check 1 name-outside-trust-domain "$(C rogue-outside)" pcscf.evil.example $HD
check 1 name-mismatch "$(C pcscf.$HD)" other.$HD $HD
check 1 realm-mismatch "$(C pcscf.$HD)" pcscf.$HD $VD
check 1 realm-outside-trust-domain "$(C pcscf.$HD)" pcscf.$HD ims.example.com
check 1 not-server-auth "$(C ue-001010000000001@$HD)" pcscf.$HD $HD
# RFC 5922: case and a trailing dot do not matter.
check 0 ok "$(C pcscf.$HD)" PCSCF.IMS.mnc001.MCC001.3gppNetwork.org. $HD

# Usage errors: exit 2, one line naming the option.
expect_exit 2 "$IMSEC" trust check --profile "$T_TMP/ue.yaml" --pcscf a.b --realm $HD
expect_err "--chain is required" "$IMSEC" trust check --profile "$T_TMP/ue.yaml" --pcscf a.b --realm $HD
expect_err "--policy must be" "$IMSEC" trust check --chain x --profile y --pcscf a.b --realm c --policy lax
expect_err "--pcscf 'a_b' is not a host name" "$IMSEC" trust check --chain x --profile y --pcscf a_b --realm c
expect_exit 2 "$IMSEC" trust check --chain "$T_TMP/none.pem" --profile "$T_TMP/ue.yaml" --pcscf a.b --realm $HD
expect_exit 2 "$IMSEC" trust check --chain "$(C pcscf.$HD)" --profile "$T_TMP/none.yaml" --pcscf a.b --realm $HD
expect_exit 2 "$IMSEC" trust check --chain "$T_TMP/ue.yaml" --profile "$T_TMP/ue.yaml" --pcscf a.b --realm $HD
expect_exit 2 "$IMSEC" trust
expect_exit 2 "$IMSEC" trust frob
finish
