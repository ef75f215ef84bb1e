#!/usr/bin/env bash
# `imsec ue call` and `imsec ue run`'s answer options on the command line:
# each usage error is exit 2 with one line naming the option; the help
# names the verb and the options. Nothing here needs a network.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
P=(-c ue.yaml --pcscf 127.0.0.1:5061)

expect_exit 2 "$IMSEC" ue call "${P[@]}"
expect_err "missing --to IMPU" "$IMSEC" ue call "${P[@]}"
expect_exit 2 "$IMSEC" ue call "${P[@]}" --to sip:b@x --hold x
expect_err "--hold must be a number of seconds from 0 to 86400, not 'x'" \
  "$IMSEC" ue call "${P[@]}" --to sip:b@x --hold x
expect_err "--hold must be a number" "$IMSEC" ue call "${P[@]}" --to sip:b@x \
  --hold -1
expect_err "--hold needs a value" "$IMSEC" ue call "${P[@]}" --to sip:b@x --hold
expect_err "--cancel-after must be a number of seconds from 1 to 86400" \
  "$IMSEC" ue call "${P[@]}" --to sip:b@x --cancel-after 0
expect_exit 2 "$IMSEC" ue call "${P[@]}" --to sip:b@x --busy
expect_err "unknown option '--hold'" "$IMSEC" ue run "${P[@]}" --hold 3
expect_err "--answer must be auto, busy or ring, not 'maybe'" \
  "$IMSEC" ue run "${P[@]}" --answer maybe
expect_err "--answer-delay-ms must be a number from 0 to 3600000" \
  "$IMSEC" ue run "${P[@]}" --answer-delay-ms soon
expect_err "unknown verb 'dial' \(register, run, message or call\)" \
  "$IMSEC" ue dial "${P[@]}"
# Past the options: the profile is read (and missing here): still usage.
expect_exit 2 "$IMSEC" ue call "${P[@]}" --to sip:b@x --hold 0 \
  --cancel-after 5
expect_exit 2 "$IMSEC" ue run "${P[@]}" --answer ring --answer-delay-ms 500
expect_out "imsec ue call +-c PROFILE.yaml --pcscf ADDR --to IMPU" \
  "$IMSEC" ue --help
expect_out "--answer auto\|busy\|ring" "$IMSEC" ue --help
expect_out "call: ended cleanly \(BYE 200\)|ended cleanly" "$IMSEC" ue --help
finish
