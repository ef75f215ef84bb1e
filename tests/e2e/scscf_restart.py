"""Registrations survive an S-CSCF crash. Two users register through a
"P-CSCF" (this program on the S-CSCF's core port, plain TCP from 127.0.0.1
with --insecure-core); user 1 for ten minutes, user 2 for two seconds. The
S-CSCF is killed with SIGKILL right after the last 200 (a registration is
durable before its 200 leaves), stays down until user 2's registration has
expired, and is started again on the same port and database. A MESSAGE
for user 1 still reaches its contact via its Path; one for user 2 gets
480 (known, no longer registered): expired bindings do not come back. The
registration store is a file only its owner can read."""
import os
import signal
import socket
import stat
import threading
import time

from attacklib import (HOME, INTEGRITY, Conn, Lab, hdr, impu, initial_auth,
                       register, request, response_to, status)


class Contact:
    """The UE side: a plain TCP listener named by the Path; answers every
    request 200 and keeps what it got."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.msgs = []
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def serve(self, c):
        while not self.stop:
            m = c.recv_or_none(0.3)
            if m and not m.startswith("SIP/2.0"):
                self.msgs.append(m)
                c.send(response_to(m, 200, "OK"))

    def run(self):
        while not self.stop:
            try:
                s, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.serve, args=(Conn(s),),
                             daemon=True).start()

    def close(self):
        self.stop = True
        self.sock.close()


def start(lab, port):
    return lab.start("scscf", "--listen", "tcp:127.0.0.1:%d" % port,
                     "--domain", HOME, "--db", lab.path("hss.db"),
                     "--insecure-core", "--peer-addr", "127.0.0.1",
                     "--expires-min", "1",
                     ready=r"listening on tcp:127\.0\.0\.1:(\d+)")


def do_register(lab, c, n, path, expires):
    c.send(register(n, auth=initial_auth(n), via_tp="TCP", expires=expires,
                    extra="Path: %s\r\n" % path))
    r = c.recv(5)
    if status(r) != 401:
        return status(r)
    auth = lab.aka_authorization(n, hdr(r, "WWW-Authenticate")) + INTEGRITY
    c.send(register(n, cseq=2, auth=auth, via_tp="TCP", expires=expires,
                    extra="Path: %s\r\n" % path))
    return status(c.recv(5))


def message(c, n, k):
    c.send(request("MESSAGE", impu(n), "sip:alice@" + HOME, impu(n),
                   "restart%d-%d@e2e" % (n, k), 1, via_tp="TCP",
                   headers="P-Asserted-Identity: <sip:alice@%s>\r\n"
                   "Content-Type: text/plain\r\n" % HOME,
                   body="after the restart %d" % k))
    r = c.recv_or_none(5)
    return status(r) if r else 0


with Lab() as lab:
    lab.hss_add(1)
    lab.hss_add(2)
    ue = Contact()
    path = "<sip:term@127.0.0.1:%d;transport=tcp;lr>" % ue.port
    port = lab.free_port()
    sc = start(lab, port)
    try:
        c = lab.connect_tcp(port)
        lab.check(do_register(lab, c, 1, path, 600) == 200,
                  "user 1 registered for 600 s")
        lab.check(do_register(lab, c, 2, path, 2) == 200,
                  "user 2 registered for 2 s")
        lab.check(message(c, 1, 0) == 200 and len(ue.msgs) == 1,
                  "a MESSAGE for user 1 reaches its contact")
        # Crash right after the last 200, no clean shutdown.
        os.kill(sc.p.pid, signal.SIGKILL)
        sc.p.wait(5)
        c.close()
        time.sleep(3)  # user 2's registration expires meanwhile

        sc2 = start(lab, port)
        c = lab.connect_tcp(port)
        lab.check(message(c, 1, 1) == 200,
                  "after kill -9 and a restart, a MESSAGE for user 1 is "
                  "answered 200")
        got = [m for m in ue.msgs if "after the restart 1" in m]
        lab.check(len(got) == 1, "  and reached user 1's contact via the "
                  "stored Path")
        lab.check(message(c, 2, 2) == 480,
                  "user 2's registration expired while the S-CSCF was down: "
                  "480")
        regs = [f for f in os.listdir(lab.dir) if "reg" in f and
                f.endswith(".db")]
        lab.check(len(regs) == 1, "one registration store file (%s)" % regs)
        if regs:
            mode = stat.S_IMODE(os.stat(lab.path(regs[0])).st_mode)
            lab.check(mode & 0o077 == 0, "  readable by its owner only "
                      "(mode %o)" % mode)
        c.close()
    finally:
        ue.close()
