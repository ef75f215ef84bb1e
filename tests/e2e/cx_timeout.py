#!/usr/bin/env python3
"""An S-CSCF whose HSS is reached over Diameter Cx (`--hss diameter:`)
when that HSS stops answering, dies, and comes back.

- an HSS that keeps its connection open but never answers (SIGSTOP): the
  REGISTER gets 504 Server Time-out (RFC 3261 §21.5.5) within the
  --hss-timeout plus a little, never a hang; the S-CSCF stays up;
- an HSS that is gone (SIGKILL): no peer open, 504 at once;
- an HSS started again on the same address: the S-CSCF's Cx client
  reconnects by itself (RFC 6733 §2.1, §5.5) and REGISTERs are
  challenged again.
"""
import signal
import time

from attacklib import (HOME, Lab, initial_auth, register, status)

HSS_TIMEOUT_MS = 800


def start_hss(lab, port, name):
    return lab.start("hss", "serve", "--db", lab.path("hss.db"),
                     "--diameter", "tcp:127.0.0.1:%d" % port,
                     "--diameter-identity", "hss." + HOME,
                     "--diameter-realm", HOME, name=name,
                     ready=r"hss info: listening on diameter tcp:127\.0\.0\.1:\d+")


def reg_status(lab, port, n, call_id, timeout=6.0):
    """Send an initial REGISTER for subscriber n; (status, seconds)."""
    c = lab.connect_tcp(port)
    t0 = time.monotonic()
    c.send(register(n, call_id=call_id, auth=initial_auth(n), via_tp="TCP"))
    r = c.recv_or_none(timeout)
    took = time.monotonic() - t0
    c.close()
    return (status(r) if r else 0), took


with Lab() as lab:
    for n in (1, 2, 3, 4):
        lab.hss_add(n)
    hss_port = lab.free_port()
    hss = start_hss(lab, hss_port, "hss")
    sc = lab.start(
        "scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
        "--hss", "diameter:127.0.0.1:%d" % hss_port,
        "--diameter-identity", "scscf." + HOME, "--diameter-realm", HOME,
        "--hss-identity", "hss." + HOME,
        "--hss-timeout", str(HSS_TIMEOUT_MS),
        "--registrations", lab.path("reg.db"),
        "--insecure-core", "--peer-addr", "127.0.0.1", name="scscf",
        ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    port = sc.port

    st, _ = reg_status(lab, port, 1, "cx1@t")
    lab.check(st == 401, "through Cx: the first REGISTER is challenged (%s)"
              % st)

    # ------------------------------------------------ an HSS that hangs
    hss.signal(signal.SIGSTOP)
    st, took = reg_status(lab, port, 2, "cx2@t")
    lab.check(st == 504, "HSS not answering: 504 Server Time-out (%s)" % st)
    lab.check(took < HSS_TIMEOUT_MS / 1000.0 + 2.0,
              "  within the HSS timeout and a little (%.2f s)" % took)
    lab.check(sc.alive(), "  the S-CSCF is still up")
    hss.signal(signal.SIGCONT)
    st, _ = reg_status(lab, port, 3, "cx3@t")
    lab.check(st == 401, "the HSS answers again: challenged (%s)" % st)

    # ------------------------------------------------ an HSS that dies
    hss.signal(signal.SIGKILL)
    time.sleep(0.3)
    st, took = reg_status(lab, port, 4, "cx4@t")
    lab.check(st == 504, "HSS gone: 504 (%s)" % st)
    lab.check(took < 1.0, "  at once, no wait for an answer that cannot "
              "come (%.2f s)" % took)

    # ------------------------------------------------ and comes back
    hss2 = start_hss(lab, hss_port, "hss2")
    deadline = time.monotonic() + 15
    st = 0
    i = 0
    while time.monotonic() < deadline:
        i += 1
        st, _ = reg_status(lab, port, 4, "cx4-%d@t" % i)
        if st == 401:
            break
        time.sleep(0.3)
    lab.check(st == 401, "HSS back on the same address: the S-CSCF "
              "reconnected and challenges again (%s)" % st)
    lab.check(sc.alive(), "the S-CSCF stayed up throughout")
