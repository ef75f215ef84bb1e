#!/usr/bin/env bash
# imsec bench provision: N subscribers into an HSS database and one 0600
# credentials file that matches it, for both schemes.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

DB="$T_TMP/hss.db"
D=ims.mnc001.mcc001.3gppnetwork.org

expect_exit 0 "$IMSEC" bench provision --help
expect_out "--first-imsi" "$IMSEC" bench provision --help
expect_exit 2 "$IMSEC" bench run
expect_err "--target HOST:PORT is required" "$IMSEC" bench run
expect_err "required" "$IMSEC" bench provision --db "$DB" -n 5
expect_err "^imsec bench provision: -n: want" "$IMSEC" bench provision \
  --db "$DB" --out "$T_TMP/x" -n 0
expect_err "--scheme: want aka or digest" "$IMSEC" bench provision \
  --db "$DB" --out "$T_TMP/x" -n 1 --scheme sms
expect_err "--mnc: want" "$IMSEC" bench provision --db "$DB" --out "$T_TMP/x" \
  -n 1 --mnc 1
expect_err "runs out of digits" "$IMSEC" bench provision --db "$DB" \
  --out "$T_TMP/x" -n 2 --first-imsi 999999999999999

# AKA: 1000 subscribers, default identities.
expect_out "^provisioned 1000 aka subscribers 001010000000001\.\.001010000001000@$D" \
  "$IMSEC" bench provision --db "$DB" --out "$T_TMP/aka.creds" -n 1000
C="$T_TMP/aka.creds"
if [ "$(stat -c %a "$C")" = 600 ]; then t_ok; else t_bad "creds mode $(stat -c %a "$C")"; fi
if [ "$(stat -c %a "$DB")" = 600 ]; then t_ok; else t_bad "db mode"; fi
if [ "$(head -1 "$C")" = "imsec-bench-creds 1 scheme=aka domain=$D" ]; then t_ok; else
  t_bad "header: $(head -1 "$C")"; fi
if [ "$(wc -l <"$C")" -eq 1001 ]; then t_ok; else t_bad "creds lines $(wc -l <"$C")"; fi
if [ "$(sed -n 2p "$C" | grep -cE "^001010000000001@$D sip:001010000000001@$D [0-9a-f]{32} [0-9a-f]{32} 000000000000$")" = 1 ]; then
  t_ok; else t_bad "aka line: $(sed -n 2p "$C" | cut -c1-80)"; fi
# Fresh K per subscriber.
if [ "$(tail -n +2 "$C" | cut -d' ' -f3 | sort -u | wc -l)" -eq 1000 ]; then t_ok; else t_bad "K repeated"; fi
expect_out "^scheme: aka" "$IMSEC" hss show --db "$DB" --impi "001010000000500@$D"
expect_out "^impu: sip:001010000001000@$D" "$IMSEC" hss show --db "$DB" \
  --impi "001010000001000@$D"
# The HSS holds the K and OPc the file gives the UE (`imsec hss` never
# prints secrets, so read the store's table directly).
I=001010000000777@$D
want=$(grep "^$I " "$C" | cut -d' ' -f3,4)
got=$(sqlite3 "$DB" "SELECT lower(hex(k)) || ' ' || lower(hex(op)) FROM subscriber WHERE impi='$I' AND op_is_opc=1")
if [ -n "$want" ] && [ "$want" = "$got" ]; then t_ok; else t_bad "HSS K/OPc differ from the file"; fi

# The same IMSIs again: refused, the new file removed, the old one kept.
expect_err "exists already" "$IMSEC" bench provision --db "$DB" \
  --out "$T_TMP/again.creds" -n 3
if [ ! -e "$T_TMP/again.creds" ]; then t_ok; else t_bad "creds file left after failure"; fi

# Digest: 1000 more in the same database, own IMSI range and domain.
expect_out "^provisioned 1000 digest subscribers 001019000000000\.\.001019000000999@bench\.example\.org" \
  "$IMSEC" bench provision --db "$DB" --out "$T_TMP/dg.creds" -n 1000 \
  --scheme digest --domain bench.example.org --first-imsi 001019000000000
G="$T_TMP/dg.creds"
if [ "$(stat -c %a "$G")" = 600 ]; then t_ok; else t_bad "digest creds mode"; fi
if [ "$(head -1 "$G")" = "imsec-bench-creds 1 scheme=digest domain=bench.example.org" ]; then
  t_ok; else t_bad "digest header"; fi
if [ "$(tail -n +2 "$G" | grep -cE '^[0-9]{15}@bench\.example\.org sip:[0-9]{15}@bench\.example\.org [A-Za-z0-9+/]{24}$')" -eq 1000 ]; then
  t_ok; else t_bad "digest lines"; fi
expect_out "^realm: bench\.example\.org" "$IMSEC" hss show --db "$DB" \
  --impi "001019000000042@bench.example.org"
expect_out "^scheme: digest" "$IMSEC" hss show --db "$DB" \
  --impi "001019000000042@bench.example.org"
# H(A1) = MD5(IMPI:realm:password) (RFC 7616 §3.4.2) matches the file's
# password.
I=001019000000042@bench.example.org
pw=$(grep "^$I " "$G" | cut -d' ' -f3)
want=$(printf '%s' "$I:bench.example.org:$pw" | md5sum | cut -c1-32)
got=$(sqlite3 "$DB" "SELECT lower(hex(substr(ha1_md5, 1, 16))) FROM subscriber WHERE impi='$I'")
if [ -n "$pw" ] && [ "$want" = "$got" ]; then t_ok; else t_bad "H(A1) does not match the password"; fi
if [ "$("$IMSEC" hss list --db "$DB" | wc -l)" -eq 2000 ]; then t_ok; else t_bad "hss list count"; fi

# A 3-digit MNC makes the default domain and IMSI prefix.
expect_out "001999000000001\.\.001999000000002@ims\.mnc999\.mcc001\.3gppnetwork\.org" \
  "$IMSEC" bench provision --db "$T_TMP/m.db" --out "$T_TMP/m.creds" -n 2 --mnc 999

# An existing --out others may read becomes 0600 before secrets go in.
: >"$T_TMP/open.creds"
chmod 644 "$T_TMP/open.creds"
expect_exit 0 "$IMSEC" bench provision --db "$T_TMP/o.db" --out "$T_TMP/open.creds" -n 1
if [ "$(stat -c %a "$T_TMP/open.creds")" = 600 ]; then t_ok; else t_bad "existing out mode"; fi

finish
