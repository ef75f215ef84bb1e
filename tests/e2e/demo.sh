#!/usr/bin/env bash
# `imsec demo` end to end: real imsec scscf/pcscf/hss processes on loopback,
# in-process UEs. Checks the exit status, every row of the final table, the
# time budget (10 s), that no child outlives the demo and that the temporary
# folder is gone.
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
expect_out 'usage: imsec demo' "$IMSEC" demo --help

start=$(date +%s%N)
"$IMSEC" demo >"$T_TMP/demo.out" 2>"$T_TMP/demo.err" </dev/null
rc=$?
end=$(date +%s%N)
ms=$(((end - start) / 1000000))
if [ "$rc" -eq 0 ]; then t_ok; else
  t_bad "imsec demo exited $rc"
  sed 's/^/  | /' "$T_TMP/demo.out" | tail -30
  sed 's/^/  ! /' "$T_TMP/demo.err" | tail -20
fi
if [ "$ms" -lt 10000 ]; then t_ok; else t_bad "imsec demo took ${ms} ms (> 10 s)"; fi

rows=$(grep -cE '^  [1-7] +.* ok: ' "$T_TMP/demo.out")
if [ "$rows" -eq 7 ]; then t_ok; else t_bad "$rows of 7 table rows ok"; fi
if grep -q 'FAILED' "$T_TMP/demo.out"; then t_bad "a FAILED row"; else t_ok; fi
if grep -q 'every scene went as it should' "$T_TMP/demo.out"; then t_ok; else
  t_bad "no success line"
fi
for want in 'refused: name-outside-trust-domain' 'refused: not-a-roaming-partner' \
  'refused: realm-mismatch' 'trusted \(partner\)' '1 sync failure, 2 challenges, 3 REGISTERs on 1 connection' \
  'pcscf-home      -> ue-B            MESSAGE'; do
  if grep -Eq -- "$want" "$T_TMP/demo.out"; then t_ok; else t_bad "output lacks /$want/"; fi
done

# A rogue P-CSCF with a bad certificate is refused at the TLS handshake:
# the UE sent it nothing, and the rogue's own ladder agrees (0 received).
for want in \
  'ok: refused: name-outside-trust-domain at the TLS handshake; 0 message\(s\) sent to rogue-outside, 0 received by it' \
  'ok: refused: not-a-roaming-partner at the TLS handshake; 0 message\(s\) sent to rogue-other, 0 received by it' \
  'ok: refused: realm-mismatch at the 401; 1 message\(s\) sent to rogue-realm, 1 received by it'; do
  if grep -Eq -- "$want" "$T_TMP/demo.out"; then t_ok; else t_bad "output lacks /$want/"; fi
done
# The home and visited P-CSCFs reach the S-CSCF over mutual TLS (TS 33.210).
n=$(grep -c 'P-CSCF .*; Mw over mutual TLS as pcscf-mw\.' "$T_TMP/demo.out")
if [ "$n" -eq 2 ]; then t_ok; else t_bad "$n of 2 P-CSCFs on mutual TLS"; fi

# Nothing left behind: no process of the demo's folder, no folder.
dir=$(sed -n 's/^  folder //p' "$T_TMP/demo.out")
if [ -n "$dir" ] && [ ! -e "$dir" ]; then t_ok; else t_bad "folder '$dir' left"; fi
if [ -n "$dir" ] && pgrep -f -- "$dir" >/dev/null; then
  t_bad "children of the demo still run"
else
  t_ok
fi
finish
