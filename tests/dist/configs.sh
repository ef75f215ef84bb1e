#!/usr/bin/env bash
# dist/etc/imsec/{pcscf,scscf,hss}.yaml: each names every key its daemon
# reads (set, or commented out as "#key: default") and no other, and
# passes the daemon's --check-config once its certificates and database
# exist: a PKI from `imsec pki` and an HSS database from `imsec hss add`,
# under a scratch root the files' /etc/imsec and /var/lib/imsec are
# pointed at.
set -u
. "$(dirname "$0")/../support/sh_util.sh"
: "${IMSEC_SRC:?}"
ex="$IMSEC_SRC/dist/etc/imsec"
D=ims.mnc001.mcc001.3gppnetwork.org

# ---------------------------------------------------------- the keys
cat >"$T_TMP/keys.py" <<'PY'
import re, sys
src, yaml_file, arrays = sys.argv[1], sys.argv[2], sys.argv[3:]
def c_keys(path, name):
    text = open(path).read()
    m = re.search(r"\b%s\[[A-Z_0-9]*\]\s*=\s*\{(.*?)\};" % re.escape(name), text, re.S)
    if not m:
        sys.exit(f"no {name}[] in {path}")
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    return re.findall(r'"([a-z0-9_]+)"', body)
def ops_keys():
    # The keys every daemon takes: daemon_ops_yaml_key's (apps/daemon_ops.c).
    text = open(f"{src}/apps/daemon_ops.c").read()
    m = re.search(r"\nint daemon_ops_yaml_key\(.*?\n}\n", text, re.S)
    if not m:
        sys.exit("no daemon_ops_yaml_key in apps/daemon_ops.c")
    return re.findall(r'strcmp\(key, "([a-z0-9_]+)"\)', m.group(0))
want = set()
for a in arrays:
    if a == "ops":
        want |= set(ops_keys())
    else:
        path, name = a.split(":")
        want |= set(c_keys(f"{src}/{path}", name))
have = set()
for line in open(yaml_file):
    m = re.match(r"^#?([a-z][a-z0-9_]*):(\s|$)", line)
    if m:
        have.add(m.group(1))
bad = 0
for k in sorted(want - have):
    print(f"FAIL: {yaml_file}: key '{k}' not described"); bad = 1
for k in sorted(have - want):
    print(f"FAIL: {yaml_file}: key '{k}' is no key of the daemon"); bad = 1
sys.exit(bad)
PY
keys_ok() {
  if python3 "$T_TMP/keys.py" "$IMSEC_SRC" "$@" >"$T_TMP/keys" 2>&1; then t_ok; else
    T_FAIL=$((T_FAIL + 1))
    cat "$T_TMP/keys"
  fi
}
keys_ok "$ex/pcscf.yaml" conf/pcscf.c:keys conf/conf_util.c:imsec_conf_ops_keys
keys_ok "$ex/scscf.yaml" conf/scscf_conf.c:keys conf/scscf_conf.c:core_keys \
  conf/scscf_conf.c:cluster_keys conf/conf_util.c:imsec_conf_ops_keys
keys_ok "$ex/hss.yaml" apps/hss_serve.c:skeys ops

# ------------------------------------------------- --check-config
# One scratch root per daemon (each host has its own node certificate).
setup() { # setup NAME NODEHOST: $T_TMP/NAME/{etc/imsec/pki,var/lib/imsec}
  local r="$T_TMP/$1"
  mkdir -p "$r/etc/imsec/pki" "$r/var/lib/imsec"
  sed -e "s|/etc/imsec/|$r/etc/imsec/|g" -e "s|/var/lib/imsec/|$r/var/lib/imsec/|g" \
    "$ex/$1.yaml" >"$r/etc/imsec/$1.yaml"
  cp "$T_TMP/pki/root.crt" "$r/etc/imsec/pki/root.crt"
  cp "$T_TMP/pki/node-$2.$D.chain.pem" "$r/etc/imsec/pki/node.chain.pem"
  cp "$T_TMP/pki/node-$2.$D.key" "$r/etc/imsec/pki/node.key"
}
P="$T_TMP/pki"
{
  "$IMSEC" pki init --dir "$P" --trust-domain 3gppnetwork.org &&
    "$IMSEC" pki operator --dir "$P" --mcc 001 --mnc 001 &&
    "$IMSEC" pki pcscf --dir "$P" --mcc 001 --mnc 001 --host "pcscf-a.$D" &&
    for h in pcscf-a scscf-a hss-a; do
      "$IMSEC" pki node --dir "$P" --mcc 001 --mnc 001 --host "$h.$D" || exit 1
    done
} >/dev/null 2>"$T_TMP/pki.err" && t_ok || {
  t_bad "imsec pki"
  cat "$T_TMP/pki.err"
}
setup pcscf pcscf-a
cp "$P/pcscf-a.$D.chain.pem" "$T_TMP/pcscf/etc/imsec/pki/pcscf.chain.pem"
cp "$P/pcscf-a.$D.key" "$T_TMP/pcscf/etc/imsec/pki/pcscf.key"
setup scscf scscf-a
setup hss hss-a
for r in scscf hss; do
  expect_exit 0 "$IMSEC" hss add --db "$T_TMP/$r/var/lib/imsec/hss.db" \
    --impi "001010000000001@$D" --impu "sip:001010000000001@$D" \
    --k 465b5ce8b199b49faa5f0a2ee238a6bc --opc cd63cb71954a9f4e48a5994e37a02baf \
    --amf 8000
done

skipped=
check() { # check NAME CMD...: --check-config on the example
  local name=$1
  shift
  if ! "$@" --help 2>&1 | grep -q -- --check-config; then
    skipped="$skipped $name"
    return
  fi
  "$@" -c "$T_TMP/$name/etc/imsec/$name.yaml" --check-config \
    >"$T_TMP/out" 2>"$T_TMP/err" </dev/null
  local rc=$?
  if [ $rc -eq 0 ] && grep -q "configuration ok" "$T_TMP/out" "$T_TMP/err"; then
    t_ok
  else
    t_bad "$* --check-config on dist/etc/imsec/$name.yaml: exit $rc"
    sed 's/^/  | /' "$T_TMP/err" | head -5
  fi
}
check pcscf timeout 20 "$IMSEC" pcscf
check scscf timeout 20 "$IMSEC" scscf
check hss timeout 20 "$IMSEC" hss serve
[ -z "$skipped" ] ||
  echo "note: no --check-config yet in:$skipped (their example not run)"
finish
