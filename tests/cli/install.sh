#!/usr/bin/env bash
# `cmake --install` gives a usable library: headers, one static library and
# one relocatable .pc per area (imsec-core, -crypto, -net, -store, -conf;
# imsec-host once host/ exists), the umbrella imsec.pc and the binary; a
# program builds against the umbrella with pkg-config.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
: "${IMSEC_BUILD:?}"
prefix="$T_TMP/prefix"
expect_exit 0 cmake --install "$IMSEC_BUILD" --prefix "$prefix"
libdir=$(dirname "$(dirname "$(find "$prefix" -name imsec.pc | head -1)")")
for area in core crypto net store conf; do
  if [ -f "$libdir/libimsec-$area.a" ] && [ -f "$libdir/pkgconfig/imsec-$area.pc" ]; then
    t_ok
  else
    t_bad "no libimsec-$area.a with imsec-$area.pc installed"
  fi
done
if [ -d "$IMSEC_SRC/host" ] && ls "$IMSEC_SRC"/host/*.c >/dev/null 2>&1; then
  if [ -f "$libdir/pkgconfig/imsec-host.pc" ]; then t_ok; else
    t_bad "host/ has sources but no imsec-host.pc"
  fi
fi
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
