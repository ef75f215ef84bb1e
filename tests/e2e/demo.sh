#!/usr/bin/env bash
# `imsec demo` end to end: real imsec scscf/pcscf/hss processes on loopback,
# in-process UEs. Checks the exit status, every row of the final table per
# deployment mode, the time budget, `--mode` (each mode alone), that no
# child outlives the demo and that the temporary folder is gone.
source "$IMSEC_SRC/tests/support/sh_util.sh"

# A build without the element daemons (a branch before the merge) has only
# their planned stubs: nothing to run yet.
for sub in scscf pcscf ue; do
  if "$IMSEC" "$sub" --help 2>&1 | grep -q "^Planned"; then
    echo "skipped: imsec $sub is not part of this build"
    finish
  fi
done

expect_exit 2 "$IMSEC" demo --no-such-option
expect_exit 2 "$IMSEC" demo --mode m9
expect_out 'usage: imsec demo \[--mode m1\|m2a\|m2b\|m3\|dtls\|call\|digest\]' "$IMSEC" demo --help

# Rows of the final table each mode's scenes record.
declare -A ROWS=([m1]=7 [m2a]=2 [m2b]=2 [m3]=3 [dtls]=2 [call]=2 [digest]=5)
ALL_MODES="m1 m2a m2b m3 dtls call digest"

# run_demo OUT ARGS...: run it, check exit 0; sets MS (elapsed ms).
run_demo() {
  local out=$1; shift
  local start end rc
  start=$(date +%s%N)
  "$IMSEC" demo "$@" >"$out" 2>"$out.err" </dev/null
  rc=$?
  end=$(date +%s%N)
  MS=$(((end - start) / 1000000))
  if [ "$rc" -eq 0 ]; then t_ok; else
    t_bad "imsec demo $* exited $rc"
    sed 's/^/  | /' "$out" | tail -30
    sed 's/^/  ! /' "$out.err" | tail -20
  fi
}

# check_rows OUT MODE: every row of MODE in the table says ok.
check_rows() {
  local n bad
  n=$(grep -cE "^  [0-9]+ +$2 +.* ok: " "$1")
  bad=$(grep -cE "^  [0-9]+ +$2 +.* FAILED: " "$1")
  if [ "$n" -eq "${ROWS[$2]}" ] && [ "$bad" -eq 0 ]; then t_ok; else
    t_bad "mode $2: $n of ${ROWS[$2]} rows ok, $bad FAILED"
    grep -E "^  [0-9]+ +$2 " "$1" | sed 's/^/  | /'
  fi
}

# want OUT REGEX...: each extended regex matches a line of OUT.
want() {
  local out=$1 re; shift
  for re in "$@"; do
    if grep -Eq -- "$re" "$out"; then t_ok; else t_bad "output lacks /$re/"; fi
  done
}

# Each mode's own checks beyond its rows being ok.
check_mode() {
  local out=$1
  case $2 in
  m1)
    want "$out" 'refused: name-outside-trust-domain' 'refused: not-a-roaming-partner' \
      'refused: realm-mismatch' 'trusted \(partner\)' \
      '1 sync failure, 2 challenges, 3 REGISTERs on 1 connection' \
      'pcscf-home      -> ue-B            MESSAGE'
    # A rogue P-CSCF with a bad certificate is refused at the TLS
    # handshake: the UE sent it nothing, and the rogue's own ladder agrees.
    want "$out" \
      'ok: refused: name-outside-trust-domain at the TLS handshake; 0 message\(s\) sent to rogue-outside, 0 received by it' \
      'ok: refused: not-a-roaming-partner at the TLS handshake; 0 message\(s\) sent to rogue-other, 0 received by it' \
      'ok: refused: realm-mismatch at the 401; 1 message\(s\) sent to rogue-realm, 1 received by it'
    # The home and visited P-CSCFs reach the S-CSCF over mutual TLS.
    local n
    n=$(grep -c 'P-CSCF .*; Mw over mutual TLS as pcscf-mw\.' "$out")
    if [ "$n" -ge 2 ]; then t_ok; else t_bad "$n of 2 P-CSCFs on mutual TLS"; fi
    ;;
  m2a)
    want "$out" 'm2a +M2a: client certificate .* ok: registered, trusted \(home\); 2 REGISTERs relayed; certificate of 0010100000000' \
      'm2a +M2a refused.* ok: failed, 403; 0 REGISTERs relayed; the P-CSCF logged why' \
      'pcscf-m2a: .*is not the IMPI of the client certificate'
    ;;
  m2b)
    want "$out" "m2b +M2b: P-CSCF dials UE G .* ok: 200; registration connection closed; G got it on the P-CSCF's connection" \
      'm2b +M2b refused.* ok: 480 to the caller; H got nothing; the P-CSCF logged impi-mismatch' \
      'pcscf-m2b +-> ue-G +MESSAGE'
    ;;
  m3)
    want "$out" 'm3 +M3: configured PSK .* ok: registered, tls: psk \(configured\)' \
      'm3 +M3 refused.* ok: failed.*0 message\(s\) sent, 0 received' \
      'm3 +M3: AKA-derived PSK .* ok: first certificate, then psk \(derived\); 2 REGISTERs, 1 challenge\(s\); MESSAGE 200, came back over the new flow'
    ;;
  dtls)
    want "$out" 'dtls +DTLS registration .* ok: registered.*1 datagram lost, 3 REGISTERs sent' \
      'dtls +DTLS: ClientHello.* ok: 1 datagram\(s\) back: 1 HelloVerifyRequest' \
      'lossy-link +-> pcscf-dtls +\(lost: '
    ;;
  call)
    # Read from the UEs' call state: the caller's 200 and its BYE's 200,
    # the callee's view of the same call, its answers on its registered
    # flow; every message of the call on the ladder, both proxies in it.
    want "$out" \
      'call +call A -> B \(home\) .* ok: 200, hung up \(BYE\) 200; ue-B: call from sip:[0-9]+@ims\.[a-z0-9.]+ answered, ended by the other side.s BYE; ue-A sent INVITE 1, ACK 1, BYE 1; ue-B sent SIP/2\.0 180 1, SIP/2\.0 200 [2-9] on its registered flow' \
      'call +call C -> B \(roaming\) .* ok: 200, hung up \(BYE\) 200; ue-B: call from sip:[0-9]+@ims\.[a-z0-9.]+ answered, ended by the other side.s BYE; ue-C sent INVITE 1, ACK 1, BYE 1' \
      'ue-A +-> pcscf-home +INVITE sip:' 'pcscf-home +-> scscf +INVITE sip:' \
      'scscf +-> pcscf-home +INVITE sip:' 'pcscf-home +-> ue-B +INVITE sip:' \
      'ue-B +-> pcscf-home +SIP/2\.0 180 ' 'pcscf-home +-> ue-A +SIP/2\.0 200 ' \
      'pcscf-home +-> ue-B +ACK sip:' 'pcscf-home +-> ue-B +BYE sip:' \
      'ue-C +-> pcscf-visited +INVITE sip:' 'pcscf-visited +-> scscf +INVITE sip:' \
      'pcscf-visited +-> ue-C +SIP/2\.0 200 '
    ;;
  digest)
    # The softphone's exchange as it saw it (its own ladder), and the
    # MESSAGEs and calls read from both UEs' state.
    want "$out" \
      'digest +softphone: a wrong password .* ok: .*, 403; trusted \(home\); 401 offered SHA-256,MD5; answered SHA-256 qop=auth' \
      'digest +softphone registration .* ok: registered, trusted \(home\); 401 offered SHA-256,MD5; answered SHA-256 qop=auth as [0-9]+@ims\.[a-z0-9.]+; 200 with rspauth; 2 REGISTERs on 1 connection' \
      'digest +MESSAGE M -> B and B -> M .* ok: ue-M -> ue-B: 200, asserted sip:[0-9]+@[a-z0-9.]+; ue-B -> ue-M: 200, asserted sip:' \
      'digest +call M -> B .* ok: 200, hung up \(BYE\) 200; ue-B: call from sip:[0-9]+@ims\.[a-z0-9.]+ answered, ended by the other side.s BYE; ue-M sent INVITE 1, ACK 1, BYE 1' \
      'digest +call B -> M .* ok: 200, hung up \(BYE\) 200; ue-M: call from sip:[0-9]+@ims\.[a-z0-9.]+ answered, ended by the other side.s BYE; ue-B sent INVITE 1, ACK 1, BYE 1; ue-M sent SIP/2\.0 180 1, SIP/2\.0 200 [2-9] on its registered flow' \
      'scscf +-> pcscf-home +SIP/2\.0 401 ' 'pcscf-home +-> ue-M +SIP/2\.0 401 ' \
      'scscf +-> pcscf-home +SIP/2\.0 403 ' 'pcscf-home +-> ue-M +MESSAGE sip:' \
      'pcscf-home +-> ue-M +INVITE sip:'
    ;;
  esac
}


# The whole demo.
BUILT=""
run_demo "$T_TMP/demo.out"
echo "imsec demo: ${MS} ms (budget 10 s; this test allows 30 s on a shared machine)"
grep '^  time: ' "$T_TMP/demo.out"
if [ "$MS" -lt 30000 ]; then t_ok; else t_bad "imsec demo took ${MS} ms"; fi
for m in $ALL_MODES; do
  if grep -Eq "^  mode $m +not in this build" "$T_TMP/demo.out"; then
    echo "mode $m: not in this build"
    expect_exit 1 "$IMSEC" demo --mode "$m"
    if grep -Eq "^  [0-9]+ +$m " "$T_TMP/demo.out"; then
      t_bad "mode $m is not in this build but has rows"
    else t_ok; fi
    continue
  fi
  BUILT="$BUILT $m"
  check_rows "$T_TMP/demo.out" "$m"
  check_mode "$T_TMP/demo.out" "$m"
done
if grep -q 'FAILED' "$T_TMP/demo.out"; then t_bad "a FAILED row"; else t_ok; fi
want "$T_TMP/demo.out" 'every scene went as it should'

# Nothing left behind: no process of the demo's folder, no folder.
check_gone() {
  local dir
  dir=$(sed -n 's/^  folder //p' "$1")
  if [ -n "$dir" ] && [ ! -e "$dir" ]; then t_ok; else t_bad "folder '$dir' left"; fi
  if [ -n "$dir" ] && pgrep -f -- "$dir" >/dev/null; then
    t_bad "children of the demo still run"
  else
    t_ok
  fi
}
check_gone "$T_TMP/demo.out"

# Each mode alone: its scenes stand on their own, no other mode's row.
for m in $BUILT; do
  run_demo "$T_TMP/$m.out" --mode "$m"
  echo "imsec demo --mode $m: ${MS} ms"
  check_rows "$T_TMP/$m.out" "$m"
  check_mode "$T_TMP/$m.out" "$m"
  n=$(grep -cE "^  [0-9]+ +[a-z0-9]+ +.* (ok|FAILED): " "$T_TMP/$m.out")
  if [ "$n" -eq "${ROWS[$m]}" ]; then t_ok; else
    t_bad "--mode $m: $n rows, want ${ROWS[$m]}"
  fi
  check_gone "$T_TMP/$m.out"
done
finish
