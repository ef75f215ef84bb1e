#!/usr/bin/env python3
"""A REGISTER and a MESSAGE sent straight to the S-CSCF's plain-TCP port.

The attack, as it worked before: with valid credentials, a REGISTER sent
to the S-CSCF directly (no P-CSCF, no TLS) carries a forged Path naming
the attacker; it gets 200, so the user's terminating requests then go in
clear to the attacker; and a MESSAGE with `P-Asserted-Identity:
<sip:anyone@home>` is delivered as coming from `anyone`.

Now an S-CSCF started that way (a tcp: listener, no --insecure-core)
refuses to start at all, with one line and exit 2; what it accepts on the
core side is mutual TLS (tests/attack/scscf_peers.py) or plain TCP from
listed addresses only. Should it start anyway, the attack is played to the
end and every step that works is a failure.
"""
import socket
import threading
import time

from attacklib import (HOME, Conn, Lab, hdr, impu, register, request,
                       status)


class Sink:
    """A plain TCP listener on 127.0.0.1: the attacker's forged Path."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.msgs = []
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                s, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            c = Conn(s)
            while not self.stop:
                m = c.recv_or_none(0.3)
                if m:
                    self.msgs.append(m)

    def close(self):
        self.stop = True
        self.sock.close()


with Lab() as lab:
    lab.hss_add(1)
    lab.hss_add(2)
    sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"))
    m = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sc.alive() and not m:
        m = sc.wait_log(r"listening on tcp:127\.0\.0\.1:(\d+)", 0.2)
    if not sc.alive():
        lab.check(sc.p.returncode == 2, "an S-CSCF with a plain-TCP core "
                  "port and no --insecure-core does not start (exit %s)" %
                  sc.p.returncode)
        lines = sc.log_text().strip().splitlines()
        lab.check(len(lines) == 1 and "--insecure-core" in lines[0],
                  "  and says why in one line")
    else:
        lab.check(False, "an S-CSCF with a plain-TCP core port and no "
                  "--insecure-core does not start")
        port = int(m.group(1))
        sink = Sink()
        try:
            path = "<sip:evil@127.0.0.1:%d;transport=tcp;lr>" % sink.port
            c = lab.connect_tcp(port)
            c.send(register(1, extra="Path: %s\r\n" % path, via_tp="TCP"))
            r = c.recv_or_none(3)
            st = 0
            if r is not None and status(r) == 401:
                auth = lab.aka_authorization(1, hdr(r, "WWW-Authenticate"))
                c.send(register(1, cseq=2, auth=auth,
                                extra="Path: %s\r\n" % path, via_tp="TCP"))
                r = c.recv_or_none(3)
                st = status(r) if r else 0
            lab.check(st != 200, "direct REGISTER with valid credentials and "
                      "a forged Path is not registered (got %d)" % st)
            c.send(request("MESSAGE", impu(1), "sip:anyone@" + HOME, impu(1),
                           "m1@atk", 1, via_tp="TCP",
                           headers="P-Asserted-Identity: <sip:anyone@%s>\r\n"
                           "Content-Type: text/plain\r\n" % HOME,
                           body="forged"))
            time.sleep(1.5)
            got = [x for x in sink.msgs if x.startswith("MESSAGE ")]
            lab.check(not got, "a MESSAGE with a forged P-Asserted-Identity "
                      "is not delivered (in clear, to the forged Path)")
        finally:
            sink.close()
