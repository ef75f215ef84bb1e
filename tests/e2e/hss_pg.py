"""The HSS subscriber store in PostgreSQL, as processes use it: a private
server on loopback (tests/support/servers.py), `imsec hss` managing its
subscribers through `--db postgresql://...`, and two S-CSCFs (two HSS
front-ends) on that one database challenging the same IMPI at once: every
challenge's SQN, read from AUTN as the UE reads it, is a different one
(TS 33.102 C.3), each S-CSCF still completes a registration, and the
stored SQN mark covers every challenge. A password in the URI never shows
in an error; a PostgreSQL --db without --registrations is refused."""
import base64
import os
import re
import sys
import threading

from attacklib import (AMF, HOME, INTEGRITY, K, OPC, Lab, hdr, impi, impu,
                       initial_auth, register, status)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)) +
                "/../support")
from servers import Postgres, Unavailable  # noqa: E402

PER_SCSCF = 8


def challenges(lab, port, n, count, out, errors):
    """`count` registrations of user n, each answering its 401 (so the
    next one needs a new vector: a pending challenge would be sent again):
    the SQN of each challenge's AUTN."""
    try:
        c = lab.connect_tcp(port)
        path = "Path: <sip:127.0.0.1:9;lr>\r\n"
        for i in range(count):
            cid = "pg%d-%d@e2e" % (port, i)
            c.send(register(n, cseq=1, call_id=cid, auth=initial_auth(n),
                            via_tp="TCP", extra=path))
            r = c.recv(10)
            if status(r) != 401:
                errors.append("%d: %s" % (port, r.splitlines()[0] if r
                                          else "no answer"))
                continue
            ch = hdr(r, "WWW-Authenticate")
            nonce = re.search(r'nonce="([^"]+)"', ch).group(1)
            sqn = lab.challenge_sqn(base64.b64decode(nonce))
            out.append(int(sqn, 16))
            auth = lab.aka_authorization(n, ch, sqn=sqn) + INTEGRITY
            c.send(register(n, cseq=2, call_id=cid, auth=auth, via_tp="TCP",
                            extra=path))
            r = c.recv(10)
            if status(r) != 200:
                errors.append("%d: answer %s" % (port, status(r)))
    except Exception as e:  # noqa: BLE001 - reported as a check
        errors.append("%d: %r" % (port, e))


def full_register(lab, port, n):
    c = lab.connect_tcp(port)
    path = "Path: <sip:127.0.0.1:9;lr>\r\n"
    c.send(register(n, auth=initial_auth(n), via_tp="TCP", extra=path))
    r = c.recv(10)
    if status(r) != 401:
        return status(r)
    auth = lab.aka_authorization(n, hdr(r, "WWW-Authenticate")) + INTEGRITY
    c.send(register(n, cseq=2, auth=auth, via_tp="TCP", extra=path))
    return status(c.recv(10))


def main():
    try:
        pg = Postgres()
    except Unavailable as e:
        print("skip:", e)
        return 77
    with pg, Lab() as lab:
        url = pg.url

        # ---------------------------------------------- imsec hss --db URL
        for n in (1, 2):
            lab.run("hss", "add", "--db", url, "--impi", impi(n), "--impu",
                    impu(n), "--k", K, "--opc", OPC, "--amf", AMF)
        cp = lab.run("hss", "add", "--db", url, "--impi", impi(1), "--impu",
                     impu(3), "--k", K, "--opc", OPC, "--amf", AMF,
                     check=False)
        lab.check(cp.returncode == 2 and "exists already" in cp.stderr,
                  "hss add: an IMPI already in PostgreSQL is refused")
        cp = lab.run("hss", "show", "--db", url, "--impi", impi(1))
        lab.check("impu: %s" % impu(1) in cp.stdout and K not in cp.stdout
                  and OPC not in cp.stdout,
                  "hss show: the record from PostgreSQL, no secret")
        lab.check(pg.psql("SELECT count(*) FROM subscriber").strip() == "2",
                  "the subscribers are rows of the server's table")
        cp = lab.run("hss", "list", "--db",
                     "postgresql://imsec:Hunter2secret@127.0.0.1:%d/nope"
                     % lab.free_port(), check=False)
        lab.check(cp.returncode == 2 and "cannot connect" in cp.stderr and
                  "Hunter2secret" not in cp.stderr + cp.stdout,
                  "no server: exit 2, and the URI's password is not shown")
        lab.run("hss", "add", "--db", url, "--impi", impi(9), "--impu",
                impu(9), "--k", K, "--opc", OPC, "--amf", AMF)
        cp = lab.run("hss", "del", "--db", url, "--impi", impi(9))
        lab.check(pg.psql("SELECT count(*) FROM impu WHERE impi = '%s'"
                          % impi(9)).strip() == "0",
                  "hss del: the subscriber and its IMPUs are gone")

        cp = lab.run("scscf", "--listen", "tcp:127.0.0.1:0", "--domain",
                     HOME, "--db", url, "--insecure-core", "--peer-addr",
                     "127.0.0.1", check=False)
        lab.check(cp.returncode == 2 and "--registrations" in cp.stderr,
                  "scscf: a PostgreSQL --db without --registrations is "
                  "refused")

        # ------------------------------ two front-ends, one IMPI, at once
        limits = ("--impi-challenges", "1000", "--source-challenges", "1000")
        s1, s2 = (lab.start("scscf", "--listen", "tcp:127.0.0.1:0",
                            "--domain", HOME, "--db", url, "--insecure-core",
                            "--peer-addr", "127.0.0.1", "--registrations",
                            lab.path("s%d.reg.db" % k), *limits,
                            ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
                  for k in (1, 2))
        got = [[], []]
        errors = []
        ts = [threading.Thread(target=challenges,
                               args=(lab, s.port, 1, PER_SCSCF, got[i],
                                     errors))
              for i, s in enumerate((s1, s2))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        lab.check(not errors, "every REGISTER got its challenge %s"
                  % errors[:3])
        seqs = [x >> 5 for x in got[0] + got[1]]
        lab.check(len(seqs) == 2 * PER_SCSCF and len(set(seqs)) == len(seqs),
                  "two S-CSCFs on one PostgreSQL: %d challenges, no SQN "
                  "twice" % len(seqs))
        lab.check(all(b > a for g in got for a, b in zip(g, g[1:])),
                  "each S-CSCF's SQNs only go up")
        stored = lab.run("hss", "show", "--db", url, "--impi", impi(1)).stdout
        m = re.search(r"^sqn: ([0-9a-f]+)$", stored, re.M)
        lab.check(m and int(m.group(1), 16) >> 5 >= max(seqs),
                  "the stored SQN mark covers every challenge")
        lab.check(full_register(lab, s1.port, 2) == 200,
                  "a registration through S-CSCF 1 completes")
        lab.check(full_register(lab, s2.port, 1) == 200,
                  "a registration through S-CSCF 2 completes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
