"""Guessing responses for one IMPI: after N failed responses the IMPI is
locked for the configured time: every REGISTER gets 403, even one that
carries the right response; the refusals are logged once, not per
request. When the lock expires the subscriber registers again."""
import time

from attacklib import (Lab, HOME, digest_param, hdr, impi, initial_auth,
                       register, start_scscf_direct, status)

N = 3
LOCK_S = 2

with Lab() as lab:
    lab.hss_add(1)
    sc = start_scscf_direct(lab, "--impi-failures", str(N),
                            "--lockout", str(LOCK_S))
    c = lab.connect_tcp(sc.port)
    cseq = [0]

    def send(auth):
        cseq[0] += 1
        c.send(register(1, cseq=cseq[0], auth=auth))
        return c.recv(5.0)

    right = None
    for i in range(N):
        r = send(initial_auth(1))
        lab.check(status(r) == 401, "try %d: challenged" % (i + 1))
        www = hdr(r, "WWW-Authenticate")
        # What the subscriber would answer, kept for later.
        right = lab.aka_authorization(1, www) + ',integrity-protected="tls-yes"'
        wrong = ('Digest username="%s",realm="%s",nonce="%s",uri="sip:%s",'
                 'response="%s",algorithm=AKAv1-MD5,'
                 'integrity-protected="tls-yes"' %
                 (impi(1), HOME, digest_param(www, "nonce"), HOME,
                  "%032x" % (i + 1)))
        lab.check(status(send(wrong)) == 403, "try %d: wrong response 403" %
                  (i + 1))
    lab.check(sc.wait_log(r"IMPI locked for %d s" % LOCK_S, 2.0),
              "the lock is logged")
    r = send(initial_auth(1))
    lab.check(status(r) == 403, "locked: a new REGISTER gets 403, not 401 "
              "(got %d)" % status(r))
    r = send(right)
    lab.check(status(r) == 403, "locked: even the right response gets 403 "
              "(got %d)" % status(r))
    for _ in range(20):
        send(initial_auth(1))
    n = len([l for l in sc.log_text().splitlines() if "locked" in l])
    lab.check(1 <= n <= 2, "22 refusals, %d log lines about the lock "
              "(once per window, not per request)" % n)

    time.sleep(LOCK_S + 0.3)
    r = send(initial_auth(1))
    lab.check(status(r) == 401, "lock expired: challenged again (got %d)" %
              status(r))
    auth = lab.aka_authorization(1, hdr(r, "WWW-Authenticate"))
    r = send(auth + ',integrity-protected="tls-yes"')
    lab.check(status(r) == 200, "and the right response registers (got %d)" %
              status(r))
    c.close()
