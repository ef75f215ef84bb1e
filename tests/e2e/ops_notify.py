"""The daemons speak to their service manager (sd_notify(3)) on a
NOTIFY_SOCKET of this test's own, a Unix datagram socket in the lab
folder, as systemd listens with Type=notify:

- READY=1 once the daemon listens;
- on SIGHUP, RELOADING=1 with MONOTONIC_USEC (the reload's start on
  CLOCK_MONOTONIC, between the signal and the message), then READY=1;
- on SIGTERM, STOPPING=1, and the daemon exits 0;
- with WATCHDOG_USEC set, WATCHDOG=1 about every half period while the
  loop answers; without it, no pings.

One S-CSCF (watchdog asked) and one P-CSCF (none asked)."""
import os
import signal
import socket
import threading
import time

from attacklib import HOME, Lab, start_scscf_direct


class Manager:
    """The service manager's end: every datagram with its arrival time
    (CLOCK_MONOTONIC, as MONOTONIC_USEC counts)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode(
                    errors="replace")))

    def since(self, k):
        with self.lock:
            return list(self.msgs[k:])

    def count(self):
        with self.lock:
            return len(self.msgs)

    def wait(self, pred, k=0, timeout=5.0):
        """The first message from index k on that pred accepts (its
        fields as a dict), waiting up to timeout; None when none came."""
        deadline = time.monotonic() + timeout
        while True:
            for _, m in self.since(k):
                f = fields(m)
                if pred(f):
                    return f
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def close(self):
        self.stop = True
        self.sock.close()


def fields(msg):
    """sd_notify's newline-separated VAR=VALUE assignments."""
    out = {}
    for line in msg.split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def is_(var):
    return lambda f: f.get(var) == "1"


def lifecycle(lab, mgr, proc, what):
    """READY, then SIGHUP's RELOADING + MONOTONIC_USEC and READY, then
    SIGTERM's STOPPING and a clean exit."""
    lab.check(mgr.wait(is_("READY")) is not None,
              "%s: READY=1 once it listens" % what)
    k = mgr.count()
    before = int(time.monotonic() * 1e6)
    proc.signal(signal.SIGHUP)
    f = mgr.wait(is_("RELOADING"), k)
    after = int(time.monotonic() * 1e6)
    lab.check(f is not None, "%s: SIGHUP: RELOADING=1" % what)
    usec = int((f or {}).get("MONOTONIC_USEC", "0") or 0)
    lab.check(before <= usec <= after,
              "%s:   with MONOTONIC_USEC on CLOCK_MONOTONIC (%d in [%d, %d])"
              % (what, usec, before, after))
    # READY=1 after RELOADING=1: search past the RELOADING message.
    idx = None
    for i, (_, m) in enumerate(mgr.since(k)):
        if fields(m).get("RELOADING") == "1":
            idx = k + i + 1
            break
    lab.check(idx is not None and mgr.wait(is_("READY"), idx) is not None,
              "%s:   then READY=1 when the reload is done" % what)
    k = mgr.count()
    proc.signal(signal.SIGTERM)
    lab.check(mgr.wait(is_("STOPPING"), k) is not None,
              "%s: SIGTERM: STOPPING=1" % what)
    try:
        rc = proc.p.wait(5)
    except Exception:
        rc = None
    lab.check(rc == 0, "%s:   and it exits 0 (%s)" % (what, rc))


with Lab() as lab:
    lab.hss_add(1)

    # The S-CSCF with a 400 ms watchdog: pings every ~200 ms.
    mgr = Manager(lab.path("scscf.notify"))
    try:
        sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain",
                       HOME, "--db", lab.path("hss.db"), "--insecure-core",
                       "--peer-addr", "127.0.0.1",
                       env={"NOTIFY_SOCKET": mgr.path,
                            "WATCHDOG_USEC": "400000"},
                       ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
        lab.check(mgr.wait(is_("READY")) is not None,
                  "scscf started under a manager")
        k = mgr.count()
        time.sleep(1.1)
        pings = [t for t, m in mgr.since(k) if fields(m).get("WATCHDOG")
                 == "1"]
        lab.check(3 <= len(pings) <= 12,
                  "scscf: WATCHDOG=1 pings with WATCHDOG_USEC=400000 "
                  "(%d in 1.1 s)" % len(pings))
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        lab.check(gaps and max(gaps) < 0.4,
                  "scscf:   each within the period (largest gap %.3f s)"
                  % (max(gaps) if gaps else -1))
        lifecycle(lab, mgr, sc, "scscf")
    finally:
        mgr.close()

    # The P-CSCF with no watchdog asked: no pings.
    d = lab.pki(operators=("001",))
    sc2 = start_scscf_direct(lab, name="scscf2")
    mgr = Manager(lab.path("pcscf.notify"))
    pc = lab.start("pcscf", "--listen", "tls:127.0.0.1:0",
                   "--cert", "%s/pcscf.%s.chain.pem" % (d, HOME),
                   "--key", "%s/pcscf.%s.key" % (d, HOME),
                   "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc2.port),
                   "--core", "tcp:127.0.0.1:0", "--insecure-core",
                   "--peer-addr", "127.0.0.1", name="pcscf-notify",
                   env={"NOTIFY_SOCKET": mgr.path},
                   ready=r"listening on tls:127\.0\.0\.1:(\d+)")
    try:
        lifecycle(lab, mgr, pc, "pcscf")
        lab.check(not any(fields(m).get("WATCHDOG") for _, m in mgr.since(0)),
                  "pcscf: no WATCHDOG_USEC, no pings")
    finally:
        mgr.close()
