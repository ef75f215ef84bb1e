#!/usr/bin/env bash
# The systemd units and the sysusers.d file as `cmake --install` writes
# them: `systemd-analyze verify` takes each unit without a word (ExecStart
# names the installed binary), the hardening stays at its exposure level,
# each daemon is Type=notify with a watchdog, runs as imsec, reloads
# through its control socket in a runtime folder of its own (one unit
# stopping never removes another's), and systemd-sysusers makes the user
# in a scratch root.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
: "${IMSEC_BUILD:?}"
command -v systemd-analyze >/dev/null || {
  echo "SKIP: no systemd-analyze"
  exit 77
}
prefix="$T_TMP/prefix"
expect_exit 0 cmake --install "$IMSEC_BUILD" --prefix "$prefix"
udir="$prefix/lib/systemd/system"
units="imsec-pcscf.service imsec-scscf@.service imsec-hss.service"
for u in $units; do
  if [ -f "$udir/$u" ]; then t_ok; else t_bad "$u not installed in $udir"; fi
done
[ -f "$prefix/lib/sysusers.d/imsec.conf" ] && t_ok ||
  t_bad "sysusers.d/imsec.conf not installed"

# verify loads a template only through an instance.
mkdir -p "$T_TMP/u"
cp "$udir/imsec-pcscf.service" "$udir/imsec-hss.service" "$T_TMP/u/"
cp "$udir/imsec-scscf@.service" "$T_TMP/u/imsec-scscf@a.service"
cp "$udir/imsec-scscf@.service" "$T_TMP/u/imsec-scscf@b.service"
list=("$T_TMP"/u/*.service)
# Warnings (an unknown key, a missing binary) leave the status 0: any
# output fails. Documentation= is checked against the pages this install
# carries (MANPATH), when the build made them (scdoc).
man=(--man=no)
[ -f "$prefix/share/man/man1/imsec.1" ] && man=(--man=yes)
(cd "$T_TMP/u" && MANPATH="$prefix/share/man" systemd-analyze verify "${man[@]}" "${list[@]}") \
  >"$T_TMP/verify" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$T_TMP/verify" ]; then t_ok; else
  t_bad "systemd-analyze verify: status $rc"
  sed 's/^/  | /' "$T_TMP/verify" | head -20
fi
# The installed binary is the one ExecStart and ExecReload name.
for f in "${list[@]}"; do
  if grep -q "^ExecStart=$prefix/bin/imsec " "$f" &&
    grep -q "^ExecReload=$prefix/bin/imsec ctl --socket " "$f"; then t_ok; else
    t_bad "$(basename "$f"): ExecStart/ExecReload do not name $prefix/bin/imsec"
  fi
done

# systemd-analyze security: 0 (locked down) .. 10; these units are at
# about 1.2. Above 2 a hardening line went missing.
for f in "${list[@]}"; do
  if systemd-analyze security --offline=yes --threshold=20 "$f" \
    >"$T_TMP/sec" 2>&1; then t_ok; else
    t_bad "$(basename "$f"): exposure above 2.0"
    grep -E "Overall|✗" "$T_TMP/sec" | head -12 | sed 's/^/  | /'
  fi
done

# What each unit must say (systemd-analyze dumps the parsed unit).
key() { # key UNITFILE NAME: the last value of NAME= in the file
  sed -n "s/^$2=//p" "$1" | tail -1
}
declare -A rundir
for f in "${list[@]}"; do
  n=$(basename "$f")
  for want in "Type=notify" "NotifyAccess=main" "User=imsec" "Group=imsec" \
    "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
    "PrivateDevices=yes" "NoNewPrivileges=yes" "CapabilityBoundingSet=" \
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
    "SystemCallFilter=@system-service" "ConfigurationDirectory=imsec"; do
    if grep -qx -- "$want" "$f"; then t_ok; else t_bad "$n: no '$want'"; fi
  done
  w=$(key "$f" WatchdogSec)
  [ -n "$w" ] && t_ok || t_bad "$n: no WatchdogSec"
  # RuntimeDirectory=imsec/NAME: /run/imsec itself is never a unit's
  # (stopping it would remove the others' sockets), and no two units or
  # instances share one.
  r=$(key "$f" RuntimeDirectory)
  case "$r" in
  imsec/?*) t_ok ;;
  *) t_bad "$n: RuntimeDirectory '$r' is not imsec/NAME" ;;
  esac
  inst=${n#*@}
  inst=${inst%.service}
  [ "$inst" = "$n" ] && inst=
  rr=${r//%i/$inst}
  if [ -n "${rundir[$rr]:-}" ]; then
    t_bad "$n and ${rundir[$rr]} share RuntimeDirectory $rr"
  else
    t_ok
  fi
  rundir[$rr]=$n
  # systemctl reload asks the control socket in that folder (the
  # daemons' default: $RUNTIME_DIRECTORY/NAME.ctl).
  sock=$(key "$f" ExecReload | sed -n 's/.* --socket \([^ ]*\) reload$/\1/p')
  case "$n" in
  imsec-pcscf.service) base=pcscf ;;
  imsec-hss.service) base=hss ;;
  *) base=scscf ;;
  esac
  if [ "$sock" = "%t/$r/$base.ctl" ]; then t_ok; else
    t_bad "$n: ExecReload's socket '$sock', want '%t/$r/$base.ctl'"
  fi
done
# The template's instances differ in their runtime folder and file.
if grep -q '^RuntimeDirectory=imsec/scscf-%i$' "$udir/imsec-scscf@.service" &&
  grep -q 'scscf -c %E/imsec/scscf-%i.yaml$' "$udir/imsec-scscf@.service"; then
  t_ok
else
  t_bad "imsec-scscf@.service: runtime folder or settings file not per instance"
fi

# The user and group, made offline in a scratch root.
root="$T_TMP/root"
mkdir -p "$root/etc"
expect_exit 0 systemd-sysusers --root="$root" "$prefix/lib/sysusers.d/imsec.conf"
if grep -q '^imsec:x:[0-9]*:[0-9]*:' "$root/etc/passwd" &&
  grep -q '^imsec:x:[0-9]*:' "$root/etc/group"; then t_ok; else
  t_bad "systemd-sysusers made no user imsec"
fi
finish
