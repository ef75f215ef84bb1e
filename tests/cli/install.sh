#!/usr/bin/env bash
# `cmake --install` gives a usable library: headers, libimsec.a, imsec.pc
# (relocatable) and the binary; a program builds against it with pkg-config.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
: "${IMSEC_BUILD:?}"
prefix="$T_TMP/prefix"
expect_exit 0 cmake --install "$IMSEC_BUILD" --prefix "$prefix"
libdir=$(dirname "$(find "$prefix" -name libimsec.a | head -1)")
cat >"$T_TMP/t.c" <<'C'
#include <imsec/base.h>
#include <imsec/version.h>
#include <stdio.h>
int main(void) {
  printf("%s %s\n", IMSEC_VERSION_STRING, imsec_errname(IMSEC_ERR_PARSE));
  return 0;
}
C
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs --static imsec)
# The compiler and sanitizer flags of the build that made the library.
expect_exit 0 "${IMSEC_CC:-cc}" ${IMSEC_CFLAGS:-} "$T_TMP/t.c" $flags -o "$T_TMP/t"
expect_out "^[0-9.]+ IMSEC_ERR_PARSE$" "$T_TMP/t"
expect_exit 0 "$prefix/bin/imsec" version
finish
