#!/usr/bin/env bash
# imsec hss add|list|del over a SQLite file: secrets never printed, file
# 0600, one-line errors with exit 2.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

DB="$T_TMP/hss.db"
K=465b5ce8b199b49faa5f0a2ee238a6bc
OPC=cd63cb71954a9f4e48a5994e37a02baf
OP=cdc202d5123e20f62b6d676ac72cb318
D=ims.mnc001.mcc001.3gppnetwork.org

expect_exit 0 "$IMSEC" hss --help
expect_out "imsec hss add" "$IMSEC" hss --help
expect_exit 2 "$IMSEC" hss
expect_exit 2 "$IMSEC" hss frob
expect_err "unknown verb 'frob'" "$IMSEC" hss frob

expect_out "^added 001010000000001@$D \(2 IMPUs\)" "$IMSEC" hss add --db "$DB" \
  --impi "001010000000001@$D" \
  --impu "sip:001010000000001@$D, tel:+15550001" --k $K --opc $OPC --amf 8000
expect_exit 0 "$IMSEC" hss add --db "$DB" \
  --impi "001010000000002@$D" --impu "sip:bob@$D" --k $K --op $OP --amf 8000 \
  --sqn 0000000000a1 --aka v2
if [ "$(stat -c %a "$DB")" = 600 ]; then t_ok; else t_bad "db mode $(stat -c %a "$DB")"; fi

expect_exit 0 "$IMSEC" hss list --db "$DB"
expect_out "^001010000000001@$D impu=sip:001010000000001@$D,tel:\+15550001 aka=v1 opc amf=8000 sqn=000000000000$" \
  "$IMSEC" hss list --db "$DB"
expect_out "^001010000000002@$D impu=sip:bob@$D aka=v2 op amf=8000 sqn=0000000000a1$" \
  "$IMSEC" hss list --db "$DB"
"$IMSEC" hss list --db "$DB" >"$T_TMP/list" 2>&1
if grep -qiE "$K|$OPC|$OP" "$T_TMP/list"; then t_bad "list printed a secret"; else t_ok; fi
if [ "$(wc -l <"$T_TMP/list")" -eq 2 ]; then t_ok; else t_bad "list lines"; fi

# Errors: one line on stderr, exit 2, naming the option.
expect_exit 2 "$IMSEC" hss add --db "$DB" --impi "001010000000001@$D" \
  --impu "sip:x@$D" --k $K --opc $OPC --amf 8000
expect_err "exists already" "$IMSEC" hss add --db "$DB" --impi "x@$D" \
  --impu "tel:+15550001" --k $K --opc $OPC --amf 8000
expect_err "^imsec hss: .*--k" "$IMSEC" hss add --db "$DB" --impi "y@$D" \
  --impu "sip:y@$D" --k 1234 --opc $OPC --amf 8000
expect_err "give --op or --opc, not both" "$IMSEC" hss add --db "$DB" \
  --impi "y@$D" --impu "sip:y@$D" --k $K --op $OP --opc $OPC --amf 8000
expect_err "missing --op or --opc" "$IMSEC" hss add --db "$DB" \
  --impi "y@$D" --impu "sip:y@$D" --k $K --amf 8000
expect_err "missing --amf" "$IMSEC" hss add --db "$DB" \
  --impi "y@$D" --impu "sip:y@$D" --k $K --opc $OPC
expect_err "--aka: expected v1 or v2" "$IMSEC" hss add --db "$DB" \
  --impi "y@$D" --impu "sip:y@$D" --k $K --opc $OPC --amf 8000 --aka v3
expect_err "--impu: 'y' is not a sip" "$IMSEC" hss add --db "$DB" \
  --impi "y@$D" --impu "y" --k $K --opc $OPC --amf 8000
expect_err "--impu: empty URI" "$IMSEC" hss add --db "$DB" \
  --impi "y@$D" --impu "sip:y@$D,," --k $K --opc $OPC --amf 8000
expect_err "--sqn: expected 6 octets" "$IMSEC" hss add --db "$DB" \
  --impi "y@$D" --impu "sip:y@$D" --k $K --opc $OPC --amf 8000 --sqn 01
expect_exit 2 "$IMSEC" hss list --db "$T_TMP/none.db"
expect_err "^imsec hss: --db .*none.db" "$IMSEC" hss list --db "$T_TMP/none.db"
expect_err "unknown option '--k'" "$IMSEC" hss list --db "$DB" --k $K
"$IMSEC" hss add --db "$DB" --impi "y@$D" --impu "sip:y@$D" --k 12 --opc $OPC --amf 8000 2>"$T_TMP/e"
if [ "$(wc -l <"$T_TMP/e")" -eq 1 ]; then t_ok; else t_bad "error not one line"; fi

# del
expect_out "^deleted 001010000000002@$D" "$IMSEC" hss del --db "$DB" --impi "001010000000002@$D"
expect_err "no such subscriber" "$IMSEC" hss del --db "$DB" --impi "001010000000002@$D"
expect_exit 2 "$IMSEC" hss del --db "$DB" --impi "001010000000002@$D"
"$IMSEC" hss list --db "$DB" >"$T_TMP/list" 2>&1
if [ "$(wc -l <"$T_TMP/list")" -eq 1 ]; then t_ok; else t_bad "list after del"; fi

# A world-readable database is refused.
chmod 644 "$DB"
expect_err "readable by others" "$IMSEC" hss list --db "$DB"
chmod 600 "$DB"
# Not a database.
echo "garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage" >"$T_TMP/junk.db"
chmod 600 "$T_TMP/junk.db"
expect_exit 2 "$IMSEC" hss list --db "$T_TMP/junk.db"
finish
