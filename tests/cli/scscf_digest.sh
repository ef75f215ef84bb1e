#!/usr/bin/env bash
# The S-CSCF's SIP Digest options (docs/DIGEST.md): --digest-nonce-ms,
# --digest-username, --digest-proxy-auth, --max-digest-nonces and their
# YAML keys. Each bad value is one line on stderr and exit 2; good ones
# pass on to the next check; the help names them all.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

# expect_usage REGEX CMD...: exit 2, exactly one line on stderr, matching.
expect_usage() {
  local re=$1; shift
  "$@" >"$T_TMP/out" 2>"$T_TMP/err" </dev/null
  local got=$? lines
  lines=$(wc -l <"$T_TMP/err")
  if [ "$got" -eq 2 ] && [ "$lines" -eq 1 ] && grep -Eq -- "$re" "$T_TMP/err"; then
    t_ok
  else
    t_bad "'$*': exit $got, $lines stderr line(s), want 2, 1 line /$re/"
    sed 's/^/  | /' "$T_TMP/err" | head -5
  fi
}

for v in 0 5s -1 86400001; do
  expect_usage "--digest-nonce-ms: expected 1..86400000, got '$v'" \
    "$IMSEC" scscf --digest-nonce-ms "$v"
done
for v in 0 x 100000001; do
  expect_usage "--max-digest-nonces: expected 1..100000000, got '$v'" \
    "$IMSEC" scscf --max-digest-nonces="$v"
done
expect_usage "--digest-username: expected any, impi or user, got 'IMPU'" \
  "$IMSEC" scscf --digest-username IMPU
expect_usage "--digest-username given twice" \
  "$IMSEC" scscf --digest-username any --digest-username user
expect_usage "--digest-algorithms: expected SHA-256, MD5 or SHA-256,MD5, got 'SHA-1'" \
  "$IMSEC" scscf --digest-algorithms SHA-1
expect_usage "--digest-algorithms given twice" \
  "$IMSEC" scscf --digest-algorithms MD5 --digest-algorithms MD5
expect_usage "--digest-proxy-auth takes no value" \
  "$IMSEC" scscf --digest-proxy-auth=yes
expect_usage "--digest-nonce-ms needs a value" "$IMSEC" scscf --digest-nonce-ms
# Good values are taken: the next complaint is about something else.
expect_usage "missing --domain" "$IMSEC" scscf --digest-nonce-ms 60000 \
  --max-digest-nonces 1000 --digest-username user --digest-proxy-auth

cfg="$T_TMP/scscf.yaml"
printf 'domain: ims.example.org\ndigest_nonce_ms: 0\n' >"$cfg"
expect_usage "scscf.yaml:2: key 'digest_nonce_ms': expected 1..86400000" \
  "$IMSEC" scscf -c "$cfg"
printf 'domain: ims.example.org\ndigest_algorithms: MD5,MD5\n' >"$cfg"
expect_usage "scscf.yaml:2: key 'digest_algorithms': expected SHA-256, MD5 or \"SHA-256,MD5\"" \
  "$IMSEC" scscf -c "$cfg"
printf 'domain: ims.example.org\ndigest_username: both\n' >"$cfg"
expect_usage "scscf.yaml:2: key 'digest_username': expected any, impi or user" \
  "$IMSEC" scscf -c "$cfg"
printf 'domain: ims.example.org\ndigest_proxy_auth: maybe\n' >"$cfg"
expect_usage "scscf.yaml:2: key 'digest_proxy_auth': expected true or false" \
  "$IMSEC" scscf -c "$cfg"
printf 'max_digest_nonces: 10\nmax_digest_nonces: 20\n' >"$cfg"
expect_usage "scscf.yaml:2: key 'max_digest_nonces': given twice" \
  "$IMSEC" scscf -c "$cfg"
printf 'digest_nonce_ms: 1000\nmax_digest_nonces: 10\ndigest_username: impi\ndigest_proxy_auth: true\n' >"$cfg"
expect_usage "missing --domain" "$IMSEC" scscf -c "$cfg"

for w in "--digest-nonce-ms N" "--digest-username M" "--digest-proxy-auth" \
  "--max-digest-nonces N" "digest_nonce_ms, digest_username, digest_proxy_auth"; do
  expect_out "$w" "$IMSEC" scscf --help
done
finish
