"""A UE names the source the S-CSCF counts its flood limits by. Through a
real P-CSCF it writes `received=` on its own Via next to its real sent-by
(no rport), or adds a Via of its own below with a received of its choice.
The P-CSCF must always replace the received of the UE's Via with the real
address (RFC 3581 §4), and the S-CSCF must read the Via directly below the
P-CSCF's, never the bottom one: every try counts against the one real
source, so once its challenge limit is used up the forgeries get 503 too,
and no forged address shows up in the S-CSCF's log."""
import re

from attacklib import start_pcscf_plain_core
from attacklib import HOME, Lab, register, status

with Lab() as lab:
    pki = lab.pki(operators=("001",))
    for n in range(1, 8):
        lab.hss_add(n)
    sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"), "--insecure-core",
                   "--peer-addr", "127.0.0.1", "--source-challenges", "3",
                   ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    pc = start_pcscf_plain_core(lab, pki, sc.port)

    def reg(n, forge=None, extra_via=None):
        ue = lab.connect_tls(pc.ports[0])
        m = register(n, call_id="c%d@x" % n)
        if forge:
            # sent-by is the real address and no rport: received= of our own
            m2 = re.sub(r"(Via: SIP/2.0/TLS 127\.0\.0\.1:5999;branch=[^;\r]+)"
                        r";rport", r"\1;received=" + forge, m)
            lab.check(m2 != m, "the forged Via is in place")
            m = m2
        if extra_via:
            m = m.replace("Max-Forwards:", "Via: SIP/2.0/TLS 10.0.0.1:5060;"
                          "branch=z9hG4bKx%d;received=%s\r\nMax-Forwards:" %
                          (n, extra_via))
        ue.send(m)
        r = ue.recv_or_none(5)
        ue.close()
        return status(r) if r else None

    for n in (1, 2, 3):
        lab.check(reg(n) == 401, "honest REGISTER %d: challenged" % n)
    lab.check(reg(4) == 503, "the source's challenge limit (3) is used up")
    for n in (5, 6):
        got = reg(n, forge="10.66.0.%d" % n)
        lab.check(got == 503, "a received= of its own (no rport) counts "
                  "against the real source: 503 (got %s)" % got)
    got = reg(7, extra_via="10.77.0.7")
    lab.check(got == 503, "a forged bottom Via counts against the real "
              "source: 503 (got %s)" % got)
    log = sc.log_text()
    lab.check("10.66." not in log and "10.77." not in log,
              "no forged address in the S-CSCF log")
