#!/usr/bin/env bash
# The imsec command's contract: help, version, usage errors exit 2.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

expect_exit 0 "$IMSEC" --help
expect_out "subcommands:" "$IMSEC" --help
for sub in pcscf scscf hss ue pki isim trust aka sip demo bench; do
  expect_out "  $sub " "$IMSEC" --help
  expect_exit 0 "$IMSEC" "$sub" --help
done
expect_exit 0 "$IMSEC" version
expect_out "^imsec [0-9]+\.[0-9]+\.[0-9]+$" "$IMSEC" version
expect_exit 2 "$IMSEC"
expect_exit 2 "$IMSEC" nonsense
expect_err "unknown subcommand 'nonsense'" "$IMSEC" nonsense
expect_exit 2 "$IMSEC" --bogus
expect_err "unknown option '--bogus'" "$IMSEC" --bogus
expect_exit 2 "$IMSEC" version extra
finish
