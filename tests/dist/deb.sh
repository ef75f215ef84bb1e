#!/usr/bin/env bash
# `make deb` (scripts/mkdeb) on this build: the .deb carries the binary,
# libraries, headers, .pc files, units, sysusers.d, example settings as
# conffiles, dashboard and manual pages; lintian reports no error (its
# warnings are printed); dpkg installs it into a scratch root (never this
# machine's /: --root, maintainer scripts run with DPKG_ROOT), where the
# postinst makes the user imsec, and a purge leaves nothing of it but the
# user (Debian keeps system users).
set -u
. "$(dirname "$0")/../support/sh_util.sh"
: "${IMSEC_BUILD:?}" "${IMSEC_SRC:?}"
for tool in dpkg-deb dpkg-shlibdeps dpkg; do
  command -v $tool >/dev/null || {
    echo "SKIP: no $tool"
    exit 77
  }
done

# gzip -1: xz -6 costs 15 s on a busy machine and tests nothing more.
MKDEB_DEBFLAGS="-Zgzip -z1" "$IMSEC_SRC/scripts/mkdeb" "$IMSEC_BUILD" "$T_TMP" >"$T_TMP/mkdeb.out" 2>"$T_TMP/mkdeb.err"
rc=$?
deb=$(tail -1 "$T_TMP/mkdeb.out")
if [ $rc -eq 0 ] && [ -f "$deb" ]; then t_ok; else
  t_bad "scripts/mkdeb exited $rc"
  sed 's/^/  | /' "$T_TMP/mkdeb.err" | head -10
  
# ------------------------------------------------------------- lintian
if [ -n "$lint_pid" ]; then
  wait "$lint_pid"
  lrc=$? # 0 clean, 1 tags at --fail-on (error), 2 lintian itself failed
  if grep -q '^E:' "$T_TMP/lintian" || [ $lrc -ne 0 ]; then
    t_bad "lintian: status $lrc"
    grep -v '^[WIPNO]:' "$T_TMP/lintian" | sed 's/^/  | /' | head -20
  else
    t_ok
  fi
  grep '^W:' "$T_TMP/lintian" | sed 's/^/lintian warning: /'
else
  echo "note: no lintian"
fi
finish
fi

# lintian takes the longest: it runs while the rest is checked.
lint_pid=
if command -v lintian >/dev/null; then
  lintian --no-tag-display-limit "$deb" >"$T_TMP/lintian" 2>&1 &
  lint_pid=$!
fi

# ------------------------------------------------------------ contents
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$T_TMP/files"
want="/usr/bin/imsec /usr/include/imsec/base.h /usr/include/imsec/version.h
/usr/lib/systemd/system/imsec-pcscf.service
/usr/lib/systemd/system/imsec-scscf@.service
/usr/lib/systemd/system/imsec-hss.service /usr/lib/sysusers.d/imsec.conf
/etc/imsec/pcscf.yaml /etc/imsec/scscf-a.yaml /etc/imsec/hss.yaml
/usr/share/doc/imsec/examples/pcscf.yaml
/usr/share/doc/imsec/examples/scscf.yaml
/usr/share/doc/imsec/examples/hss.yaml
/usr/share/imsec/grafana/imsec-dashboard.json
/usr/share/doc/imsec/copyright /usr/share/doc/imsec/changelog.Debian.gz"
for f in $want; do
  grep -qxF "$f" "$T_TMP/files" && t_ok || t_bad "the .deb has no $f"
done
for pat in "^/usr/lib/$ma/libimsec-core\.a$" "^/usr/lib/$ma/pkgconfig/imsec\.pc$" \
  "^/usr/lib/$ma/pkgconfig/imsec-core\.pc$"; do
  grep -qE "$pat" "$T_TMP/files" && t_ok || t_bad "the .deb has no $pat"
done
# Manual pages, once the tree has them: compressed, as Debian wants.
if ls "$IMSEC_SRC"/docs/man/*.scd >/dev/null 2>&1; then
  grep -qE '^/usr/share/man/man1/imsec\.1\.gz$' "$T_TMP/files" && t_ok ||
    t_bad "the .deb has no /usr/share/man/man1/imsec.1.gz"
fi
# The units name the installed binary.
dpkg-deb -x "$deb" "$T_TMP/x"
grep -q '^ExecStart=/usr/bin/imsec pcscf ' "$T_TMP/x/usr/lib/systemd/system/imsec-pcscf.service" &&
  t_ok || t_bad "imsec-pcscf.service does not run /usr/bin/imsec"
# Depends names the package of every shared library the binary needs.
dpkg-deb -f "$deb" Depends >"$T_TMP/depends"
objdump -p "$T_TMP/x/usr/bin/imsec" | awk '$1 == "NEEDED" {print $2}' >"$T_TMP/needed"
[ -s "$T_TMP/needed" ] && t_ok || t_bad "no NEEDED entries in the binary"
# shellcheck disable=SC2046
dpkg -S $(sed "s|^|*/$ma/|" "$T_TMP/needed") 2>/dev/null | cut -d: -f1 | sort -u >"$T_TMP/pkgs"
while read -r p; do
  grep -qE "(^|, )$p( |,|$)" "$T_TMP/depends" && t_ok ||
    t_bad "Depends lacks $p: $(cat "$T_TMP/depends")"
done <"$T_TMP/pkgs"
# Cx loads freeDiameter's dictionaries with dlopen.
grep -q "freediameter-extensions" "$T_TMP/depends" && t_ok ||
  t_bad "Depends lacks freediameter-extensions"
# The .pc files name the installed folders.
expect_out "^/usr/lib/$ma\$" env PKG_CONFIG_SYSROOT_DIR= PKG_CONFIG_LIBDIR="$T_TMP/x/usr/lib/$ma/pkgconfig" \
  pkg-config --variable=libdir imsec-core
dpkg-deb -I "$deb" conffiles >"$T_TMP/conffiles"
for f in /etc/imsec/pcscf.yaml /etc/imsec/scscf-a.yaml /etc/imsec/hss.yaml; do
  grep -qxF "$f" "$T_TMP/conffiles" && t_ok || t_bad "$f is no conffile"
done

# ------------------------------------- install and purge in a scratch root
R="$T_TMP/root"
mkdir -p "$R/etc" "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/log"
: >"$R/var/lib/dpkg/status"
(cd "$R" && find . | sort) >"$T_TMP/before"
host_user=$(getent passwd imsec || true)
dpkg_r() {
  dpkg --root="$R" --log="$T_TMP/dpkg.log" --force-script-chrootless \
    --force-depends --force-not-root "$@"
}
expect_exit 0 dpkg_r -i "$deb"
for f in usr/bin/imsec usr/lib/systemd/system/imsec-pcscf.service etc/imsec/pcscf.yaml; do
  [ -e "$R/$f" ] && t_ok || t_bad "not installed: /$f"
done
# The postinst made the user and group (systemd-sysusers --root), and
# gave the settings to its group.
if grep -q '^imsec:' "$R/etc/passwd" && grep -q '^imsec:' "$R/etc/group"; then t_ok; else
  t_bad "postinst made no user imsec in the scratch root"
fi
gid=$(awk -F: '$1 == "imsec" {print $3}' "$R/etc/group")
if [ -n "$gid" ] && [ "$(stat -c '%a %g' "$R/etc/imsec/pcscf.yaml")" = "640 $gid" ]; then t_ok; else
  t_bad "/etc/imsec/pcscf.yaml is $(stat -c '%a %g' "$R/etc/imsec/pcscf.yaml"), want 640 $gid"
fi
uid=$(awk -F: '$1 == "imsec" {print $3}' "$R/etc/passwd")
if [ "$(stat -c '%a %u %g' "$R/var/lib/imsec" 2>&1)" = "750 $uid $gid" ]; then t_ok; else
  t_bad "/var/lib/imsec is $(stat -c '%a %u %g' "$R/var/lib/imsec" 2>&1), want 750 $uid $gid"
fi
# Nothing reached this machine's own users.
[ "$(getent passwd imsec || true)" = "$host_user" ] && t_ok ||
  t_bad "the postinst changed this machine's /etc/passwd"
expect_exit 0 dpkg_r --purge imsec
# dpkg forgot it (dpkg-query finds no such package).
expect_exit 1 dpkg-query --admindir="$R/var/lib/dpkg" -W imsec
# Left behind: the user's lines only (etc/passwd, group, shadow, gshadow,
# their backups and the lock systemd-sysusers takes), dpkg's own records.
(cd "$R" && find . | sort) >"$T_TMP/after"
comm -13 "$T_TMP/before" "$T_TMP/after" |
  grep -vE '^\./etc/(passwd|group|shadow|gshadow)-?$|^\./etc/\.pwd\.lock$|^\./var/lib/dpkg/' >"$T_TMP/left" || true
if [ ! -s "$T_TMP/left" ]; then t_ok; else
  t_bad "left after purge:"
  sed 's/^/  | /' "$T_TMP/left" | head -20
fi

# ------------------------------------------------------------- lintian
if [ -n "$lint_pid" ]; then
  wait "$lint_pid"
  lrc=$? # 0 clean, 1 tags at --fail-on (error), 2 lintian itself failed
  if grep -q '^E:' "$T_TMP/lintian" || [ $lrc -ne 0 ]; then
    t_bad "lintian: status $lrc"
    grep -v '^[WIPNO]:' "$T_TMP/lintian" | sed 's/^/  | /' | head -20
  else
    t_ok
  fi
  grep '^W:' "$T_TMP/lintian" | sed 's/^/lintian warning: /'
else
  echo "note: no lintian"
fi
finish
