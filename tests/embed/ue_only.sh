#!/usr/bin/env bash
# Embedding only the UE: after `cmake --install`, tests/embed/ue_only.c
# (include/imsec/ue.h and the OpenSSL crypto backend) builds with
# `pkg-config --cflags --libs imsec-core imsec-crypto` and nothing else,
# registers up to the answer to a 401, and pulls in no libuv, SQLite or
# libyaml. The core library itself calls nothing outside itself but libc.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
: "${IMSEC_BUILD:?}" "${IMSEC_SRC:?}"
prefix="$T_TMP/prefix"
expect_exit 0 cmake --install "$IMSEC_BUILD" --prefix "$prefix"
pc=$(dirname "$(find "$prefix" -name imsec-core.pc | head -1)")
libdir=$(dirname "$pc")
export PKG_CONFIG_PATH="$pc"

flags=$(pkg-config --cflags --libs imsec-core imsec-crypto)
if [ -n "$flags" ]; then t_ok; else t_bad "pkg-config imsec-core imsec-crypto failed"; fi
if grep -Eq -- '-l(uv|sqlite3|yaml)\b' <<<"$flags"; then
  t_bad "imsec-core imsec-crypto link more than they need: $flags"
else
  t_ok
fi
# The compiler and sanitizer flags of the build that made the library.
expect_exit 0 "${IMSEC_CC:-cc}" ${IMSEC_CFLAGS:-} -std=c11 \
  "$IMSEC_SRC/tests/embed/ue_only.c" $flags -o "$T_TMP/ue_only"
expect_out '^answered the challenge: challenged, P-CSCF trusted \(home\)$' \
  "$T_TMP/ue_only"

# Nothing of libuv, SQLite or libyaml in the program, linked or loaded.
if [ -x "$T_TMP/ue_only" ]; then
  syms=$(nm "$T_TMP/ue_only" | grep -E ' (uv_|sqlite3_|yaml_)' | head -5)
  if [ -z "$syms" ]; then t_ok; else t_bad "the UE program holds: $syms"; fi
  libs=$(ldd "$T_TMP/ue_only" | grep -E 'libuv|libsqlite3|libyaml')
  if [ -z "$libs" ]; then t_ok; else t_bad "the UE program loads: $libs"; fi
  imsec=$(nm "$T_TMP/ue_only" | grep -cE ' T imsec_ue_new$')
  if [ "$imsec" -eq 1 ]; then t_ok; else t_bad "no imsec_ue_new in the program"; fi
fi

# libimsec-core.a: every symbol it needs is its own or libc's (no OpenSSL,
# no call up into crypto/, conf/, net/ or store/).
core="$libdir/libimsec-core.a"
if [ -f "$core" ]; then
  nm -g --defined-only "$core" 2>/dev/null | awk 'NF == 3 {print $3}' |
    sort -u >"$T_TMP/def"
  nm -u "$core" 2>/dev/null | awk '{print $NF}' | grep -v ':$' | sort -u \
    >"$T_TMP/und"
  up=$(comm -23 "$T_TMP/und" "$T_TMP/def" |
    grep -E '^(imsec_|EVP_|OSSL_|OPENSSL_|SSL_|X509|BIO_|ERR_|RAND_|uv_|sqlite3_|yaml_)' |
    head -10)
  if [ -z "$up" ]; then t_ok; else t_bad "libimsec-core.a needs: $up"; fi
else
  t_bad "no libimsec-core.a installed"
fi
finish
