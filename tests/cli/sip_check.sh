#!/usr/bin/env bash
# imsec sip check / dump: output format and exit codes.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
V="$IMSEC_VECTORS/rfc4475"

expect_exit 0 "$IMSEC" sip check "$V/wsinv.dat"
expect_out "^$V/wsinv.dat: ok$" "$IMSEC" sip check "$V/wsinv.dat"
expect_exit 0 "$IMSEC" sip check "$V/wsinv.dat" "$V/esc01.dat" "$V/intmeth.dat"
expect_exit 1 "$IMSEC" sip check "$V/wsinv.dat" "$V/badvers.dat"
expect_out "^$V/badvers.dat: reject 505 Version Not Supported \(line 1\)$" \
  "$IMSEC" sip check "$V/badvers.dat"
expect_out "^$V/bext01.dat: reject 420 Bad Extension \(line 7\)$" \
  "$IMSEC" sip check "$V/bext01.dat"
expect_out "^$V/unkscm.dat: reject 416 " "$IMSEC" sip check "$V/unkscm.dat"
expect_out "^$V/insuf.dat: reject 400 Missing From" "$IMSEC" sip check "$V/insuf.dat"
expect_out "^$V/mismatch01.dat: reject 400 CSeq method does not match \(line 6\)$" \
  "$IMSEC" sip check "$V/mismatch01.dat"

# every RFC 4475 §3.1.2 message is rejected, every §3.1.1 one accepted
while IFS=$'\t' read -r file section title class rest; do
  case "$class" in
  valid) expect_exit 0 "$IMSEC" sip check "$V/$file" ;;
  invalid) expect_exit 1 "$IMSEC" sip check "$V/$file" ;;
  semantic-parse-ok | not-in-rfc)
    "$IMSEC" sip check "$V/$file" >/dev/null 2>&1
    rc=$?
    if [ $rc -le 1 ]; then t_ok; else t_bad "$file exited $rc"; fi ;;
  esac
done < <(tail -n +2 "$V/INDEX.tsv")

# oversized message: 513 Message Too Large (RFC 3261 §21.5.14)
head -c 70000 /dev/zero | tr '\0' 'a' >"$T_TMP/big.sip"
expect_out "reject 513 " "$IMSEC" sip check "$T_TMP/big.sip"

# usage errors
expect_exit 2 "$IMSEC" sip
expect_exit 2 "$IMSEC" sip check
expect_exit 2 "$IMSEC" sip frobnicate
expect_err "unknown action 'frobnicate'" "$IMSEC" sip frobnicate
expect_exit 2 "$IMSEC" sip check "$T_TMP/does-not-exist"
expect_exit 2 "$IMSEC" sip dump
expect_exit 0 "$IMSEC" sip --help

# dump
expect_exit 0 "$IMSEC" sip dump "$V/wsinv.dat"
expect_out "^request: method=INVITE version=SIP/2.0$" "$IMSEC" sip dump "$V/wsinv.dat"
expect_out "via: SIP/2.0/TCP host=spindle.example.com branch=z9hG4bK9ikj8" \
  "$IMSEC" sip dump "$V/wsinv.dat"
expect_out "addr: display\(quoted\)=Quoted string .* q=0.330" "$IMSEC" sip dump "$V/wsinv.dat"
expect_out "^check: ok$" "$IMSEC" sip dump "$V/wsinv.dat"
expect_out "^response: version=SIP/2.0 status=100 reason=$" "$IMSEC" sip dump "$V/noreason.dat"
expect_out "^check: reject 400 " "$IMSEC" sip dump "$V/badinv01.dat"
finish
