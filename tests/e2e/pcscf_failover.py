"""P-CSCF failover between two real S-CSCFs on loopback sharing one HSS
file: `imsec pcscf --route DOMAIN=tcp:S1,tcp:S2` (plain core, loopback),
OPTIONS pings every second, a REGISTER waits 1 s for a member.

- Both up: a UE registers (200) through the first S-CSCF.
- The first hangs (SIGSTOP): the next UE's REGISTER still gets 200 (the
  P-CSCF's kept copy goes to the second when the first does not answer,
  or the pings found it dead first); the P-CSCF logs it dead.
- The first is killed (SIGKILL): a REGISTER gets 200 through the second.
- The first is started again on its port: the pings notice (logged live
  again) and REGISTERs go to it again.
"""
import os
import re
import signal
import subprocess

from attacklib import (HOME, Lab, file_text, start_pcscf_plain_core,
                       ue_profile, wait_text)

PCSCF = "pcscf." + HOME


def start_scscf(lab, port, name):
    return lab.start("scscf", "--listen", "tcp:127.0.0.1:%d" % port,
                     "--domain", HOME, "--db", lab.path("hss.db"),
                     "--registrations", lab.path(name + "-reg.db"),
                     "--insecure-core", "--peer-addr", "127.0.0.1",
                     "--log-level", "debug", name=name,
                     ready=r"listening on tcp:127\.0\.0\.1:(\d+)")


def register(lab, prof):
    """`imsec ue register`: 1 when it printed its registration."""
    try:
        cp = subprocess.run(
            [lab.imsec, "ue", "register", "-c", prof, "--pcscf",
             "127.0.0.1:%d" % lab.home_port, "--pcscf-name", PCSCF,
             "--timeout", "10"],
            cwd=lab.dir, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return 0, "killed after its time"
    ok = cp.returncode == 0 and re.search(r"^registered: ", cp.stdout, re.M)
    return (1 if ok else 0), " | ".join(
        (cp.stdout.strip().splitlines() + cp.stderr.strip().splitlines())[-3:])


def registers_seen(path):
    return len(re.findall(r"REGISTER", file_text(path)))


with Lab() as lab:
    d = lab.pki(operators=("001",))
    for n in (1, 2):
        lab.hss_add(n)
    prof = {n: ue_profile(lab, d, n) for n in (1, 2)}
    p1, p2 = lab.free_port(), lab.free_port()
    s1 = start_scscf(lab, p1, "scscf1")
    s2 = start_scscf(lab, p2, "scscf2")
    pc = start_pcscf_plain_core(
        lab, d, p1, "--route", "%s=tcp:127.0.0.1:%d" % (HOME, p2),
        "--options-interval", "1", "--failover-timeout-ms", "1000",
        "--log-level", "debug")
    lab.home_port = pc.port

    ok, why = register(lab, prof[1])
    lab.check(ok, "both S-CSCFs up: UE 1 registers (%s)" % why)
    lab.check(registers_seen(s1.log) > 0 and registers_seen(s2.log) == 0,
              "  through the first member")

    os.kill(s1.p.pid, signal.SIGSTOP)
    ok, why = register(lab, prof[2])
    lab.check(ok, "the first S-CSCF hangs (SIGSTOP): UE 2 still registers "
              "(%s)" % why)
    lab.check(registers_seen(s2.log) > 0, "  through the second member")
    lab.check(wait_text(pc.log, r"S-CSCF tcp:127\.0\.0\.1:%d marked dead" %
                        p1, 3) is not None,
              "  the P-CSCF marked the first dead")

    os.kill(s1.p.pid, signal.SIGKILL)
    os.kill(s1.p.pid, signal.SIGCONT)
    s1.p.wait(5)
    ok, why = register(lab, prof[1])
    lab.check(ok, "the first S-CSCF killed (SIGKILL): UE 1 registers through "
              "the second (%s)" % why)

    s1b = start_scscf(lab, p1, "scscf1b")
    lab.check(wait_text(pc.log, r"S-CSCF tcp:127\.0\.0\.1:%d answers again" %
                        p1, 5) is not None,
              "the first S-CSCF restarted: the OPTIONS pings find it live")
    ok, why = register(lab, prof[2])
    lab.check(ok and registers_seen(s1b.log) > 0,
              "  REGISTERs go to it again (%s)" % why)
