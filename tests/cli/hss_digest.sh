#!/usr/bin/env bash
# imsec hss with SIP Digest subscribers (TS 33.203 Annex N): add
# --scheme digest --password-file [--realm], passwd, show, list. The
# store keeps H(A1) for MD5 and SHA-256 (RFC 7616 §3.4.2, checked against
# Python's hashlib), never the password; nothing prints either; the
# password file must be one line in a 0600 file of this user; a version-1
# database is upgraded in place with its subscribers.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

DB="$T_TMP/hss.db"
K=465b5ce8b199b49faa5f0a2ee238a6bc
OPC=cd63cb71954a9f4e48a5994e37a02baf
D=ims.mnc001.mcc001.3gppnetwork.org
PW='c0rrect h0rse:battery'

# pwfile NAME CONTENT (printf format): a private file.
pwfile() {
  printf "$2" >"$T_TMP/$1"
  chmod 600 "$T_TMP/$1"
  echo "$T_TMP/$1"
}

# ha1_dump: every stored H(A1) column into $T_TMP/ha1 (one Python run:
# "IMPI ha1_md5 ha1_sha256" per line, hex); ha1_col IMPI COLUMN reads it.
ha1_dump() {
  python3 - "$DB" >"$T_TMP/ha1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for impi, m, s in db.execute("SELECT impi, ha1_md5, ha1_sha256 FROM subscriber"):
    print(impi, m.hex() if m else "none", s.hex() if s else "none")
EOF
}
ha1_col() {
  awk -v i="$1" -v c="$2" '$1 == i { print (c == "ha1_md5" ? $2 : $3) }' "$T_TMP/ha1"
}

# want_ha1 ALG USER REALM PASSWORD: RFC 7616 H(A1), hex.
want_ha1() {
  printf '%s:%s:%s' "$2" "$3" "$4" | "${1}sum" | cut -d' ' -f1
}

expect_out "--scheme digest" "$IMSEC" hss --help
expect_out "imsec hss passwd" "$IMSEC" hss --help
expect_out "imsec hss show" "$IMSEC" hss --help

F=$(pwfile pw "$PW\n")
C="carol@$D"
expect_out "^added $C \(2 IMPUs, SIP Digest, realm $D\)$" "$IMSEC" hss add \
  --db "$DB" --impi "$C" --impu "sip:carol@$D" --impu "tel:+15550003" \
  --scheme digest --password-file "$F"
if [ "$(stat -c %a "$DB")" = 600 ]; then t_ok; else t_bad "db mode $(stat -c %a "$DB")"; fi

ha1_dump
# What is stored: H(A1) of the IMPI then of its user part, per algorithm.
M=$(want_ha1 md5 "$C" "$D" "$PW")$(want_ha1 md5 carol "$D" "$PW")
S=$(want_ha1 sha256 "$C" "$D" "$PW")$(want_ha1 sha256 carol "$D" "$PW")
if [ "$(ha1_col "$C" ha1_md5)" = "$M" ]; then t_ok; else t_bad "ha1_md5 $(ha1_col "$C" ha1_md5) want $M"; fi
if [ "$(ha1_col "$C" ha1_sha256)" = "$S" ]; then t_ok; else t_bad "ha1_sha256 wrong"; fi
if grep -qa "c0rrect" "$DB"; then t_bad "the password is in the database"; else t_ok; fi

# An AKA subscriber beside it, as before.
expect_exit 0 "$IMSEC" hss add --db "$DB" --impi "alice@$D" \
  --impu "sip:alice@$D" --k $K --opc $OPC --amf 8000
expect_exit 0 "$IMSEC" hss add --db "$DB" --impi "bob@$D" \
  --impu "sip:bob@$D" --scheme aka --k $K --opc $OPC --amf 8000

# show and list: scheme and realm, never a secret.
expect_out "^scheme: digest$" "$IMSEC" hss show --db "$DB" --impi "$C"
expect_out "^realm: $D$" "$IMSEC" hss show --db "$DB" --impi "$C"
expect_out "^impu: tel:\+15550003$" "$IMSEC" hss show --db "$DB" --impi "$C"
expect_out "^scheme: aka$" "$IMSEC" hss show --db "$DB" --impi "alice@$D"
expect_out "^sqn: 000000000000$" "$IMSEC" hss show --db "$DB" --impi "alice@$D"
expect_err "no such subscriber" "$IMSEC" hss show --db "$DB" --impi "nobody@$D"
expect_exit 2 "$IMSEC" hss show --db "$DB" --impi "nobody@$D"
expect_out "^$C impu=sip:carol@$D,tel:\+15550003 scheme: digest realm: $D$" \
  "$IMSEC" hss list --db "$DB"
expect_out "^alice@$D impu=sip:alice@$D aka=v1 opc amf=8000 sqn=000000000000$" \
  "$IMSEC" hss list --db "$DB"
{
  "$IMSEC" hss list --db "$DB"
  "$IMSEC" hss show --db "$DB" --impi "$C"
} >"$T_TMP/shown" 2>&1
for secret in "${M:0:32}" "${M:32:32}" "${S:0:64}" "${S:64:64}" "c0rrect" $K $OPC; do
  if grep -qi -- "$secret" "$T_TMP/shown"; then t_bad "printed a secret"; else t_ok; fi
done

# --realm names another realm; the IMPI's domain is the default.
F2=$(pwfile pw2 "other pw")
expect_out "realm home.example" "$IMSEC" hss add --db "$DB" --impi "dave@$D" \
  --impu "sip:dave@$D" --scheme digest --password-file "$F2" --realm home.example
ha1_dump
if [ "$(ha1_col "dave@$D" ha1_md5)" = "$(want_ha1 md5 "dave@$D" home.example "other pw")$(want_ha1 md5 dave home.example "other pw")" ]; then
  t_ok; else t_bad "ha1 with --realm"; fi
expect_err "no realm" "$IMSEC" hss add --db "$DB" --impi "nodomain" \
  --impu "sip:nodomain@$D" --scheme digest --password-file "$F"
expect_exit 0 "$IMSEC" hss add --db "$DB" --impi "nodomain" \
  --impu "sip:nodomain@$D" --scheme digest --password-file "$F" --realm "$D"
expect_err "--realm: whitespace" "$IMSEC" hss add --db "$DB" --impi "e@$D" \
  --impu "sip:e@$D" --scheme digest --password-file "$F" --realm "a b"

# Options of the other scheme are refused, with one line and exit 2.
expect_err "--k does not go with --scheme digest" "$IMSEC" hss add --db "$DB" \
  --impi "e@$D" --impu "sip:e@$D" --scheme digest --password-file "$F" --k $K
expect_exit 2 "$IMSEC" hss add --db "$DB" --impi "e@$D" --impu "sip:e@$D" \
  --scheme digest --password-file "$F" --opc $OPC
expect_err "--password-file does not go with --scheme aka" "$IMSEC" hss add \
  --db "$DB" --impi "e@$D" --impu "sip:e@$D" --k $K --opc $OPC --amf 8000 \
  --password-file "$F"
expect_err "--realm does not go with --scheme aka" "$IMSEC" hss add \
  --db "$DB" --impi "e@$D" --impu "sip:e@$D" --k $K --opc $OPC --amf 8000 \
  --realm x
expect_err "missing --password-file" "$IMSEC" hss add --db "$DB" \
  --impi "e@$D" --impu "sip:e@$D" --scheme digest
expect_err "--scheme: expected aka or digest" "$IMSEC" hss add --db "$DB" \
  --impi "e@$D" --impu "sip:e@$D" --scheme md5 --password-file "$F"
expect_err "exists already" "$IMSEC" hss add --db "$DB" --impi "$C" \
  --impu "sip:c2@$D" --scheme digest --password-file "$F"

# Password files that are refused (one line, exit 2, never the content).
bad_file() { # WHY-REGEX FILE
  "$IMSEC" hss add --db "$DB" --impi "e@$D" --impu "sip:e@$D" \
    --scheme digest --password-file "$2" >"$T_TMP/o" 2>"$T_TMP/e" </dev/null
  local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T_TMP/e")" -eq 1 ] &&
    grep -Eq -- "--password-file .*$1" "$T_TMP/e"; then t_ok; else
    t_bad "password file $2: exit $rc: $(cat "$T_TMP/e")"; fi
  if grep -q "s3cr3t" "$T_TMP/e"; then t_bad "error printed the password"; else t_ok; fi
}
G=$(pwfile group "s3cr3t\n")
chmod 640 "$G"
bad_file "mode 0640.*chmod 600" "$G"
O=$(pwfile other "s3cr3t\n")
chmod 604 "$O"
bad_file "mode 0604" "$O"
bad_file "empty" "$(pwfile empty "")"
bad_file "empty" "$(pwfile lf "\n")"
bad_file "more than one line" "$(pwfile two "s3cr3t\nsecond\n")"
bad_file "more than one line" "$(pwfile cr "s3cr3t\rx")"
bad_file "NUL" "$(pwfile nul "s3cr3t\0x\n")"
bad_file "longer than 128" "$(pwfile long "$(printf 'a%.0s' $(seq 129))\n")"
bad_file "cannot read" "$T_TMP/missing"
bad_file "not a regular file" "$T_TMP"
if [ "$(id -u)" = 0 ]; then
  N=$(pwfile notmine "s3cr3t\n")
  chown 65534 "$N"
  bad_file "owned by uid 65534" "$N"
fi
expect_exit 0 "$IMSEC" hss add --db "$DB" --impi "max@$D" --impu "sip:max@$D" \
  --scheme digest --password-file "$(pwfile max "$(printf 'b%.0s' $(seq 128))")"
# Nothing of the refused adds was stored.
if "$IMSEC" hss list --db "$DB" | grep -q "^e@"; then t_bad "a refused add was stored"; else t_ok; fi

# passwd: new H(A1)s (CRLF ends the line as LF does); the realm stays.
F3=$(pwfile new "n3w pw\r\n")
expect_out "^changed the password of $C \(realm $D\)$" "$IMSEC" hss passwd \
  --db "$DB" --impi "$C" --password-file "$F3"
ha1_dump
if [ "$(ha1_col "$C" ha1_sha256)" = "$(want_ha1 sha256 "$C" "$D" "n3w pw")$(want_ha1 sha256 carol "$D" "n3w pw")" ]; then
  t_ok; else t_bad "passwd did not store the new H(A1)"; fi
expect_out "^impu: tel:\+15550003$" "$IMSEC" hss show --db "$DB" --impi "$C"
expect_out "realm other.example" "$IMSEC" hss passwd --db "$DB" --impi "$C" \
  --password-file "$F3" --realm other.example
expect_out "^realm: other.example$" "$IMSEC" hss show --db "$DB" --impi "$C"
expect_err "IMS AKA subscriber has no password" "$IMSEC" hss passwd \
  --db "$DB" --impi "alice@$D" --password-file "$F3"
expect_exit 2 "$IMSEC" hss passwd --db "$DB" --impi "alice@$D" --password-file "$F3"
expect_err "no such subscriber" "$IMSEC" hss passwd --db "$DB" \
  --impi "nobody@$D" --password-file "$F3"
expect_exit 2 "$IMSEC" hss passwd --db "$DB" --impi "nobody@$D" --password-file "$F3"
expect_err "missing --password-file" "$IMSEC" hss passwd --db "$DB" --impi "$C"
expect_err "unknown option '--k'" "$IMSEC" hss passwd --db "$DB" --impi "$C" \
  --password-file "$F3" --k $K
B=$(pwfile badnew "x\n")
chmod 644 "$B"
expect_exit 2 "$IMSEC" hss passwd --db "$DB" --impi "$C" --password-file "$B"
expect_exit 2 "$IMSEC" hss passwd --db "$T_TMP/none.db" --impi "$C" --password-file "$F3"
ha1_dump
# Refused changes left the last good one.
if [ "$(ha1_col "$C" ha1_md5)" = "$(want_ha1 md5 "$C" other.example "n3w pw")$(want_ha1 md5 carol other.example "n3w pw")" ]; then
  t_ok; else t_bad "a refused passwd changed the H(A1)"; fi

# A version-1 database (IMS AKA only) is upgraded when opened, its
# subscribers kept.
V1="$T_TMP/v1.db"
python3 - "$V1" "$K" "$OPC" "$D" <<'EOF'
import sqlite3, sys
path, k, opc, d = sys.argv[1:]
db = sqlite3.connect(path)
db.executescript("""
CREATE TABLE subscriber(impi TEXT PRIMARY KEY NOT NULL,
 k BLOB NOT NULL CHECK(length(k) = 16), op BLOB NOT NULL CHECK(length(op) = 16),
 op_is_opc INTEGER NOT NULL, amf BLOB NOT NULL CHECK(length(amf) = 2),
 seq INTEGER NOT NULL, ind_next INTEGER NOT NULL, aka INTEGER NOT NULL);
CREATE TABLE impu(impu TEXT PRIMARY KEY NOT NULL,
 impi TEXT NOT NULL REFERENCES subscriber(impi) ON DELETE CASCADE,
 pos INTEGER NOT NULL);
CREATE INDEX impu_by_impi ON impu(impi, pos);
PRAGMA user_version = 1;
""")
db.execute("INSERT INTO subscriber VALUES(?,?,?,1,?,5,6,1)",
           ("old@" + d, bytes.fromhex(k), bytes.fromhex(opc), b"\x80\x00"))
db.execute("INSERT INTO impu VALUES(?,?,0)", ("sip:old@" + d, "old@" + d))
db.commit()
EOF
chmod 600 "$V1"
expect_out "^old@$D impu=sip:old@$D aka=v1 opc amf=8000 sqn=0000000000a5$" \
  "$IMSEC" hss list --db "$V1"
expect_exit 0 "$IMSEC" hss add --db "$V1" --impi "$C" --impu "sip:carol@$D" \
  --scheme digest --password-file "$F"
expect_out "^scheme: digest$" "$IMSEC" hss show --db "$V1" --impi "$C"
expect_out "^scheme: aka$" "$IMSEC" hss show --db "$V1" --impi "old@$D"
if [ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA user_version").fetchone()[0])' "$V1")" = 2 ]; then t_ok; else t_bad "v1 file not at version 2"; fi
finish
