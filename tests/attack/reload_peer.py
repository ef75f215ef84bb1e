#!/usr/bin/env python3
"""A reload that drops a core peer revokes it on the flows it already has
(TS 33.210 §5.2), not only on its next connection.

  - plain TCP (--insecure-core): a peer of peer_addrs connected and was
    answered; a reload that keeps it listed leaves its connection alone;
    a reload whose peer_addrs no longer name it closes that connection
    with one line "core peer ... no longer trusted after reload: ...",
    and a new connection from it is refused;
  - mutual TLS: a peer of another operator trusted by its name (peers)
    is answered; a reload that removes the name closes its connection
    the same way.

Limit (documented in imsec_scscf_recheck_peers): a reload that removes a
CA cannot re-verify the chains of flows already up from the facts kept.
"""
import os
import re
import signal
import ssl
import time

from attacklib import HOME, Lab, request, status

GONE = r"core peer %s:127\.0\.0\.1:\d+ '%s' no longer trusted after reload: %s"


def hup(proc, count):
    """SIGHUP, then wait for the `count`-th "reloaded" line."""
    proc.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if len(re.findall(r"scscf info: reloaded", proc.log_text())) >= count:
            return True
        time.sleep(0.05)
    return False


def options(i):
    return request("OPTIONS", "sip:" + HOME, "sip:p@" + HOME, "sip:" + HOME,
                   "o%d@x" % i, i, via_tp="TCP")


def tcp_part(lab):
    cfg = lab.path("tcp.yaml")

    def write(addrs):
        with open(cfg, "w") as f:
            f.write("listen: tcp:127.0.0.1:0\ndomain: %s\ndb: %s\n"
                    "insecure_core: true\npeer_addrs: [%s]\n" %
                    (HOME, lab.path("hss.db"), addrs))

    write("127.0.0.1")
    sc = lab.start("scscf", "-c", cfg, name="scscf-tcp",
                   ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    c = lab.connect_tcp(sc.port)
    c.send(options(1))
    lab.check(status(c.recv(3)) == 200, "TCP peer: OPTIONS answered 200")
    write("127.0.0.1, 127.0.0.8")
    lab.check(hup(sc, 1), "a reload that keeps it listed: 'reloaded'")
    c.send(options(2))
    lab.check(status(c.recv_or_none(3)) == 200,
              "still listed: its connection is still served")
    write("127.0.0.9")
    lab.check(hup(sc, 2), "a reload that drops its address: 'reloaded'")
    lab.check(sc.wait_log(GONE % ("tcp", r"127\.0\.0\.1",
                                  "address-not-listed"), 3) is not None,
              "one line: no longer trusted after reload")
    lab.check(c.closed_within(3), "its connection is closed")
    d = lab.connect_tcp(sc.port)
    d.send(options(3))
    r = d.recv_or_none(3)
    lab.check(r is None or status(r) != 200,
              "a new connection from it is refused")
    lab.check(len(re.findall(r"no longer trusted", sc.log_text())) == 1,
              "one line for the one flow")
    lab.check(sc.alive(), "S-CSCF (TCP) alive")


def tls_part(lab):
    pki = lab.pki(operators=("001", "002"))
    far = "pcscf.ims.mnc002.mcc001.3gppnetwork.org"
    cp = lab.run("pki", "node", "--dir", pki, "--mcc", "001", "--mnc", "002",
                 "--host", far)
    files = dict(re.findall(r"^(\w+)=(.*)$", cp.stdout, re.M))
    them = tuple(f if f.startswith("/") else os.path.join(lab.dir, f)
                 for f in (files["chain"], files["key"]))
    cfg = lab.path("tls.yaml")

    def write(peers):
        with open(cfg, "w") as f:
            f.write("ca: %s\npeers: [%s]\n" %
                    (os.path.join(pki, "root.crt"), peers))

    write(far)
    own = os.path.join(pki, "pcscf.%s" % HOME)
    sc = lab.start("scscf", "--listen", "tls:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"), "--cert", own + ".chain.pem",
                   "--key", own + ".key", "-c", cfg, name="scscf-tls",
                   ready=r"listening on tls:127\.0\.0\.1:(\d+)")
    c = lab.connect_tls(sc.port, cert=them[0], key=them[1])
    c.send(options(1).replace("SIP/2.0/TCP", "SIP/2.0/TLS"))
    r = c.recv_or_none(5)
    lab.check(r is not None and status(r) == 200,
              "TLS peer listed by name: OPTIONS answered 200")
    write("other.ims.mnc003.mcc001.3gppnetwork.org")
    lab.check(hup(sc, 1), "a reload that drops its name: 'reloaded'")
    lab.check(sc.wait_log(GONE % ("tls", re.escape(far), r"\S+"), 3)
              is not None, "one line: no longer trusted after reload")
    lab.check(c.closed_within(3), "its TLS connection is closed")
    lab.check(sc.alive(), "S-CSCF (TLS) alive")


def main():
    with Lab() as lab:
        lab.hss_add(1)
        for part in (tcp_part, tls_part):
            try:
                part(lab)
            except (OSError, ssl.SSLError, RuntimeError, EOFError,
                    TimeoutError) as e:
                lab.check(False, "%s: %s: %s" % (part.__name__,
                                                 type(e).__name__, e))


if __name__ == "__main__":
    main()
