"""A stranger with no K, through a real P-CSCF from its own address, sends
wrong responses for someone else's IMPI, more than the per-IMPI failure
limit. The lock that follows holds for the stranger's source only: the
subscriber, from its own address, is still challenged and registers with
the right response, and the stranger keeps getting 403 (and the refusals
are logged). A lock any stranger could set for everyone would be a tool to
shut any subscriber out."""
from attacklib import start_pcscf_plain_core
from attacklib import (HOME, Lab, connect_tls_from, digest_param, hdr, impi,
                       register, status)

N = 10  # the default per-IMPI failure limit

with Lab() as lab:
    pki = lab.pki(operators=("001",))
    lab.hss_add(1)
    sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"), "--insecure-core",
                   "--peer-addr", "127.0.0.1",
                   ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    pc = start_pcscf_plain_core(lab, pki, sc.port)
    STRANGER = "127.0.0.2"

    def stranger_try(i):
        a = connect_tls_from(pc.ports[0], STRANGER)
        a.send(register(1, cseq=1, call_id="atk%d@x" % i))
        r = a.recv(5)
        if status(r) != 401:
            a.close()
            return status(r), None
        nonce = digest_param(hdr(r, "WWW-Authenticate"), "nonce")
        wrong = ('Digest username="%s",realm="%s",nonce="%s",uri="sip:%s",'
                 'response="%032x",algorithm=AKAv1-MD5' %
                 (impi(1), HOME, nonce, HOME, i + 1))
        a.send(register(1, cseq=2, call_id="atk%d@x" % i, auth=wrong))
        got = status(a.recv(5))
        a.close()
        return 401, got

    got = [stranger_try(i)[1] for i in range(N)]
    lab.check(got == [403] * N, "the stranger's %d wrong responses: 403 "
              "(got %s)" % (N, got))
    lab.check(sc.wait_log(r"IMPI locked for 300 s for requests from "
                          r"127\.0\.0\.2", 3.0),
              "the lock, for the stranger's source, is logged")
    first, _ = stranger_try(N)
    lab.check(first == 403, "the stranger is refused now: 403 (got %s)" %
              first)

    u = lab.connect_tls(pc.ports[0])
    u.send(register(1, cseq=1, call_id="owner@x"))
    r = u.recv(5)
    lab.check(status(r) == 401, "the subscriber, from its own address, is "
              "challenged (got %d)" % status(r))
    if status(r) == 401:
        u.send(register(1, cseq=2, call_id="owner@x",
                        auth=lab.aka_authorization(
                            1, hdr(r, "WWW-Authenticate"))))
        r = u.recv(5)
        lab.check(status(r) == 200, "and registers with the right response "
                  "(got %d)" % status(r))
    u.close()
