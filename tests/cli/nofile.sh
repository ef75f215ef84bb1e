#!/usr/bin/env bash
# The daemons raise their open-files limit: started with a soft
# RLIMIT_NOFILE of 256 (under the hard one), `imsec scscf` and `imsec pcscf`
# run with the soft limit at the hard one (each registered UE holds a
# descriptor; 100,000 of them need far more than a default soft limit).
# A bad configuration still gets its one line, the limit note not before
# it.
set -u
. "$(dirname "$0")/../support/sh_util.sh"

D=ims.mnc001.mcc001.3gppnetwork.org
DB="$T_TMP/hss.db"
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -le 256 ]; then
  echo "hard open-files limit $HARD: nothing to raise, skipped"
  exit 77
fi
"$IMSEC" hss add --db "$DB" --impi "1@$D" --impu "sip:1@$D" \
  --k 465b5ce8b199b49faa5f0a2ee238a6bc --opc cd63cb71954a9f4e48a5994e37a02baf \
  --amf 8000 >/dev/null
"$IMSEC" pki init --dir "$T_TMP/pki" --trust-domain 3gppnetwork.org >/dev/null
"$IMSEC" pki operator --dir "$T_TMP/pki" --mcc 001 --mnc 001 >/dev/null
"$IMSEC" pki pcscf --dir "$T_TMP/pki" --mcc 001 --mnc 001 >/dev/null

# soft_of PID: the soft "Max open files" of a running process.
soft_of() {
  awk '/^Max open files/ {print $4}' "/proc/$1/limits"
}

# check NAME LOG ARGS...: start `imsec ARGS` with a soft limit of 256, wait
# for its "listening on" line, compare its soft limit with the hard one.
check() {
  local name=$1 log=$2; shift 2
  (ulimit -Sn 256 && exec "$IMSEC" "$@") 2>"$log" &
  local pid=$!
  if t_wait_log "listening on" "$log"; then
    local soft
    soft=$(soft_of $pid)
    if [ "$soft" = "$HARD" ]; then t_ok; else
      t_bad "$name runs with a soft open-files limit of $soft, hard $HARD"
    fi
  else
    t_bad "$name did not start"
    sed 's/^/  | /' "$log" | head -5
  fi
  kill -TERM $pid 2>/dev/null
  wait $pid 2>/dev/null
}

check scscf "$T_TMP/scscf.log" scscf --listen tcp:127.0.0.1:0 --domain $D \
  --db "$DB" --insecure-core --peer-addr 127.0.0.1
check pcscf "$T_TMP/pcscf.log" pcscf --listen tls:127.0.0.1:0 \
  --cert "$T_TMP/pki/pcscf.$D.chain.pem" --key "$T_TMP/pki/pcscf.$D.key" \
  --route "$D=tcp:127.0.0.1:9" --core tcp:127.0.0.1:0 --insecure-core \
  --peer-addr 127.0.0.1

# A configuration error: one line, whatever the limits.
(ulimit -Sn 256 && exec "$IMSEC" scscf --listen tcp:127.0.0.1:0 --domain $D \
  --db "$DB") >/dev/null 2>"$T_TMP/err" </dev/null
if [ "$(wc -l <"$T_TMP/err")" -eq 1 ]; then t_ok; else
  t_bad "a bad S-CSCF configuration printed more than one line"
  sed 's/^/  | /' "$T_TMP/err"
fi
finish
