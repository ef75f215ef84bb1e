#!/usr/bin/env bash
# imsec aka digest known answers (tests/vectors/SOURCES.md) and the usage
# errors of every imsec aka operation.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

K=465b5ce8b199b49faa5f0a2ee238a6bc
OP=cdc202d5123e20f62b6d676ac72cb318
OPC=cd63cb71954a9f4e48a5994e37a02baf
RAND=23553cbe9637a89d218ae64dae47bf35
common=(--k $K --rand $RAND --sqn ff9bb4d0b607 --amf b9b9
        --username 234150999999999@ims.mnc015.mcc234.3gppnetwork.org
        --realm ims.mnc015.mcc234.3gppnetwork.org --method REGISTER
        --uri sip:ims.mnc015.mcc234.3gppnetwork.org)
qop=(--qop auth --nc 00000001 --cnonce 0a4f113b)

v1="nonce=I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=
res=a54211d5e3ba50bf
response=ac938deae93ef334838716c625aa85c0"
got=$("$IMSEC" aka digest --alg AKAv1-MD5 --op $OP "${common[@]}" "${qop[@]}")
[ "$got" = "$v1" ] && t_ok || t_bad "AKAv1: $got"
got=$("$IMSEC" aka digest --alg akav1-md5 --opc $OPC "${common[@]}" "${qop[@]}")
[ "$got" = "$v1" ] && t_ok || t_bad "AKAv1 (opc, lower-case alg): $got"

v2="nonce=I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=
res=a54211d5e3ba50bf
password=shzt3q8CWaZnCAWqs3WmEQ==
response=2405b88528810f744bf4f764d59d5f73"
got=$("$IMSEC" aka digest --alg AKAv2-MD5 --opc $OPC "${common[@]}" "${qop[@]}")
[ "$got" = "$v2" ] && t_ok || t_bad "AKAv2: $got"
# Without qop, and auth-int with a body, a response is still printed.
expect_out "^response=[0-9a-f]{32}$" "$IMSEC" aka digest --alg AKAv1-MD5 \
  --opc $OPC "${common[@]}"
expect_out "^response=[0-9a-f]{32}$" "$IMSEC" aka digest --alg AKAv1-MD5 \
  --opc $OPC "${common[@]}" --qop auth-int --nc 00000001 --cnonce x --body hi

# Usage and input errors: exit 2, one line naming the option.
M=(--rand $RAND --sqn ff9bb4d0b607 --amf b9b9)
check2() { # REGEX ARGS...
  local re=$1; shift
  expect_exit 2 "$IMSEC" aka "$@"
  expect_err "$re" "$IMSEC" aka "$@"
  local n; n=$(wc -l <"$T_TMP/err")
  [ "$n" -eq 1 ] && t_ok || t_bad "'$*' printed $n lines on stderr"
}
check2 "--k: odd number" milenage --k ${K}0 --op $OP "${M[@]}"
check2 "--k: expected 16 octets" milenage --k ${K}00 --op $OP "${M[@]}"
check2 "--op: not hex" milenage --k $K --op ${OP/c/x} "${M[@]}"
check2 "--rand: expected 16" milenage --k $K --op $OP --rand 00 --sqn ff9bb4d0b607 --amf b9b9
check2 "--sqn: expected 6" milenage --k $K --op $OP --rand $RAND --sqn ff --amf b9b9
check2 "--amf: odd" milenage --k $K --op $OP --rand $RAND --sqn ff9bb4d0b607 --amf b9b
check2 "missing --amf" milenage --k $K --op $OP --rand $RAND --sqn ff9bb4d0b607
check2 "missing --op or --opc" milenage --k $K "${M[@]}"
check2 "not both" milenage --k $K --op $OP --opc $OPC "${M[@]}"
check2 "unknown option '--bogus'" milenage --k $K --op $OP "${M[@]}" --bogus 1
check2 "--k given twice" milenage --k $K --k $K --op $OP "${M[@]}"
check2 "--amf needs a value" milenage --k $K --op $OP --rand $RAND --sqn ff9bb4d0b607 --amf
check2 "unknown option '--sqn'" auts --k $K --op $OP --rand $RAND --sqn ff9bb4d0b607
check2 "missing --sqn-ms" auts --k $K --op $OP --rand $RAND
check2 "--auts: expected 14 octets" resync --k $K --op $OP --rand $RAND --auts 00
check2 "--alg: expected AKAv1-MD5 or AKAv2-MD5" digest --alg MD5 --op $OP "${common[@]}"
check2 "missing --alg" digest --op $OP "${common[@]}"
check2 "--qop: expected auth or auth-int" digest --alg AKAv1-MD5 --op $OP "${common[@]}" --qop x --nc 00000001 --cnonce c
check2 "missing --nc" digest --alg AKAv1-MD5 --op $OP "${common[@]}" --qop auth --cnonce c
check2 "--nc: expected 8 hex digits" digest --alg AKAv1-MD5 --op $OP "${common[@]}" --qop auth --nc 1 --cnonce c
check2 "--cnonce needs --qop" digest --alg AKAv1-MD5 --op $OP "${common[@]}" --cnonce c
check2 "unknown operation 'bogus'" bogus
check2 "missing operation"
expect_exit 0 "$IMSEC" aka --help
expect_out "imsec aka milenage" "$IMSEC" aka milenage --help
finish
