#!/usr/bin/env bash
# The man pages (docs/man/*.scd, made by scdoc in the build) render with
# man(1) without a warning, imsec(1) names every subcommand, and each
# subcommand's page names every option that `imsec SUB --help` and
# `imsec SUB CMD --help` print: the --help texts and the pages say the
# same things. What is missing is listed, page by page.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
: "${IMSEC_BUILD:?}"
pages="$IMSEC_BUILD/docs/man"
if ! ls "$pages"/*.1 >/dev/null 2>&1; then
  t_bad "no man pages in $pages (is scdoc installed? cmake --build makes them)"
  finish
fi
export MANWIDTH=80 LC_ALL=C.UTF-8

# Every page renders, without a warning from man or groff (the pages
# in parallel: man takes most of this test's time).
for page in "$pages"/*.[0-9]; do
  name=$(basename "$page")
  { man --warnings -l "$page" >"$T_TMP/render-$name" 2>"$T_TMP/warn-$name"
    echo $? >"$T_TMP/rc-$name"; } &
done
wait
for page in "$pages"/*.[0-9]; do
  name=$(basename "$page")
  if [ "$(cat "$T_TMP/rc-$name")" != 0 ]; then
    t_bad "man -l $name failed"; sed 's/^/  | /' "$T_TMP/warn-$name" | head -5
  elif [ -s "$T_TMP/warn-$name" ]; then
    t_bad "man --warnings -l $name warns:"; sed 's/^/  | /' "$T_TMP/warn-$name" | head -5
  elif ! grep -q '^NAME' "$T_TMP/render-$name"; then
    t_bad "man -l $name rendered no NAME section"
  else t_ok; fi
done

# The text of a page as roff gives it, font changes and zero-width
# escapes removed (scdoc leaves '-' as it is).
page_text() {
  sed -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e "s/\\\\(aq/'/g" "$1"
}
# The options a help text names: --long ones, and -x ones standing alone.
help_opts() {
  { grep -oE -- '--[a-z0-9]([a-z0-9-]*[a-z0-9])?' "$1"
    grep -oE -- '(^|[][ (|,])-[A-Za-z]([] ,|)=]|$)' "$1" |
      grep -oE -- '-[A-Za-z]'; } | sort -u
}
# The options a page names: every --long and -x token of its text.
page_opts() {
  page_text "$1" | grep -oE -- '(^|[^A-Za-z0-9-])--?[A-Za-z0-9][A-Za-z0-9-]*' |
    sed -E 's/^[^-]*//; s/-+$//' | sort -u
}
# check_help PAGE WHAT HELPFILE: every option of HELPFILE is in PAGE.
check_help() {
  local page=$1 what=$2 help=$3 name=${1##*/} missing
  [ -f "$T_TMP/opts-$name" ] || page_opts "$page" >"$T_TMP/opts-$name"
  missing=$(help_opts "$help" | comm -23 - "$T_TMP/opts-$name" | tr '\n' ' ')
  if [ -n "$missing" ]; then
    t_bad "$name lacks what '$what' names: $missing"
  else t_ok; fi
}

"$IMSEC" --help >"$T_TMP/help" 2>&1
subs=$(sed -n '/^subcommands:/,$p' "$T_TMP/help" | awk 'NR > 1 { print $1 }' |
  grep -v '^version$')
[ -n "$subs" ] || t_bad "imsec --help lists no subcommands"
if [ -f "$pages/imsec.1" ]; then
  check_help "$pages/imsec.1" "imsec --help" "$T_TMP/help"
  page_text "$pages/imsec.1" >"$T_TMP/page"
  for sub in $subs; do
    grep -q -- "imsec-$sub" "$T_TMP/page" || t_bad "imsec.1 does not name imsec-$sub(1)"
  done
else t_bad "no imsec.1"; fi

# run_help NAME ARGS...: `imsec ARGS... --help` into $T_TMP/h-NAME, its exit
# status into $T_TMP/rc-h-NAME (run in the background, then waited for).
run_help() {
  local name=$1; shift
  timeout 10 "$IMSEC" "$@" --help >"$T_TMP/h-$name" 2>&1 </dev/null
  echo $? >"$T_TMP/rc-h-$name"
}
for sub in $subs; do run_help "$sub" "$sub" & done
wait
# The commands each usage names (imsec hss serve, imsec bench provision,
# ...): their own --help may say more.
for sub in $subs; do
  for cmd in $(grep -oE -- "imsec $sub [a-z][a-z-]*" "$T_TMP/h-$sub" |
    awk '{ print $3 }' | sort -u); do
    echo "$sub $cmd" >>"$T_TMP/cmds"
    run_help "$sub-$cmd" "$sub" "$cmd" &
  done
done
wait
touch "$T_TMP/cmds"

for sub in $subs; do
  page="$pages/imsec-$sub.1"
  if [ ! -f "$page" ]; then
    t_bad "imsec $sub has no page imsec-$sub.1 (docs/man/imsec-$sub.1.scd)"
    continue
  fi
  if [ "$(cat "$T_TMP/rc-h-$sub")" != 0 ]; then
    t_bad "imsec $sub --help did not exit 0"
    continue
  fi
  check_help "$page" "imsec $sub --help" "$T_TMP/h-$sub"
  while read -r _ cmd; do
    if [ "$(cat "$T_TMP/rc-h-$sub-$cmd")" != 0 ]; then
      t_bad "imsec $sub $cmd --help did not exit 0"
    elif ! cmp -s "$T_TMP/h-$sub" "$T_TMP/h-$sub-$cmd"; then
      check_help "$page" "imsec $sub $cmd --help" "$T_TMP/h-$sub-$cmd"
    fi
  done < <(grep "^$sub " "$T_TMP/cmds")
done
finish
