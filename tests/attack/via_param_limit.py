"""A UE sends a top Via that holds exactly as many parameters as a SIP
parser here accepts (64). Marking it with received (RFC 3581 §4) would
push it past that limit, and the next hop could not parse the request the
P-CSCF forwarded. The P-CSCF answers 400 "Via has too many parameters"
itself; a Via with one parameter less is marked and served as usual."""
from attacklib import start_pcscf_plain_core
from attacklib import HOME, Lab, register, status

with Lab() as lab:
    pki = lab.pki(operators=("001",))
    lab.hss_add(1)
    sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"), "--insecure-core",
                   "--peer-addr", "127.0.0.1",
                   ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    pc = start_pcscf_plain_core(lab, pki, sc.port)

    def try_params(total, call_id):
        # branch and rport are 2 of them
        extra = "".join(";p%d=1" % i for i in range(total - 2))
        m = register(1, call_id=call_id).replace(";rport\r\n",
                                                 ";rport" + extra + "\r\n", 1)
        ue = lab.connect_tls(pc.ports[0])
        ue.send(m)
        r = ue.recv_or_none(5)
        ue.close()
        return r

    r = try_params(64, "full@x")
    lab.check(r is not None and status(r) == 400 and
              "Via has too many parameters" in r.splitlines()[0],
              "64 parameters, received would make 65: 400 from the P-CSCF "
              "(got %r)" % (r.splitlines()[0] if r else None))
    r = try_params(63, "room@x")
    lab.check(r is not None and status(r) == 401,
              "63 parameters: marked and challenged (got %r)" %
              (r.splitlines()[0] if r else None))
    lab.check(pc.alive() and sc.alive(), "both still running")
