#!/usr/bin/env python3
"""Refused input must not let one address hold sockets past its cap.

An oversized message gets its answer, then the daemon lingers up to two
seconds reading and dropping what the peer still sends (so the answer is
not destroyed by a reset). A lingering socket is still a socket: it keeps
counting against --max-flows-per-ip (and the total cap) until it is
closed. 200 TLS connections from one address, each sending a 66 kB
message, to a P-CSCF with a per-address cap of 4: the daemon's open file
descriptors stay bounded, and once the lingering ends the address can
connect again.
"""
import os
import socket
import time

from attacklib import start_pcscf_plain_core
from attacklib import HOME, Lab, impu, request

MAX_PER_IP = 4
ATTEMPTS = 200


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    with Lab() as lab:
        pki = lab.pki(operators=("001",))
        fake = socket.socket()
        fake.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        fake.bind(("127.0.0.1", 0))
        fake.listen(8)
        pc = start_pcscf_plain_core(lab, pki, fake.getsockname()[1],
                                    "--max-flows-per-ip", str(MAX_PER_IP))
        pid = pc.p.pid
        base = fds(pid)
        big = request("OPTIONS", "sip:" + HOME, impu(1), impu(1), "big@atk",
                      1, body="a" * 70000)[:66000]
        conns = []
        for _ in range(ATTEMPTS):
            try:
                c = lab.connect_tls(pc.ports[0], timeout=2.0)
                c.send(big)
                conns.append(c)
            except Exception:
                pass  # refused at the cap: what we want
        time.sleep(0.3)
        held = fds(pid) - base
        lab.check(held <= MAX_PER_IP + 4,
                  "%d connections each sending an oversized message: the "
                  "daemon holds %d more descriptors (cap %d per address)" %
                  (ATTEMPTS, held, MAX_PER_IP))
        lab.check(len(conns) <= MAX_PER_IP + 2,
                  "handshakes completed past the cap while others linger: "
                  "%d (cap %d)" % (len(conns), MAX_PER_IP))
        for c in conns:
            c.close()
        # Once the lingering sockets close, their places come back.
        time.sleep(2.5)
        ok = 0
        again = []
        for _ in range(MAX_PER_IP):
            try:
                again.append(lab.connect_tls(pc.ports[0], timeout=2.0))
                ok += 1
            except Exception:
                pass
        lab.check(ok == MAX_PER_IP,
                  "after the linger the address connects again: %d of %d"
                  % (ok, MAX_PER_IP))
        for c in again:
            c.close()
        lab.check(pc.alive(), "P-CSCF alive")
        fake.close()


if __name__ == "__main__":
    main()
