"""SIP Digest over TLS with the real daemons and the UE CLI on loopback
(TS 33.203 Annexes N, O, P, Q; docs/DIGEST.md): `imsec scscf` with its
HSS, a home `imsec pcscf`, a softphone without an ISIM (`imsec isim new
--digest`: a profile naming a password file) and an ISIM UE.

- `isim new --digest` draws the password into a new file (one line, mode
  0600) and the profile only names it; `hss add --scheme digest` takes
  the same file and keeps H(A1), never the password (`hss list` and
  `hss show` show the scheme and realm, neither H(A1) nor the password).
- The softphone registers (trusted home, P-CSCF bound its IMPI), sends a
  MESSAGE to the ISIM UE (asserted as the softphone's IMPU) and calls it
  (INVITE ... BYE 200); then the other way: the ISIM UE's MESSAGE and
  call reach the softphone running `ue run`.
- The S-CSCF is killed (SIGKILL) and started again on the same database:
  the softphone's registration is still there (a MESSAGE for it is
  delivered), and its next re-REGISTER, whose nonce the new S-CSCF cannot
  have issued, gets a fresh challenge and succeeds.
- `hss passwd` changes the password: the old one is then refused (403,
  `ue register` exits 1), the new one registers.
"""
import os
import re
import signal
import stat
import subprocess
import time

from attacklib import (HOME, TRUST_DOMAIN, Lab, file_text, impi, impu,
                       start_bg, start_pcscf_plain_core, ue_profile, wait_text)

PCSCF = "pcscf." + HOME
ISIM, SOFT = 1, 2
LADDER = [r"-> INVITE ", r"<- 180 ", r"<- 200 ", r"-> ACK ", r"-> BYE ",
          r"<- 200 "]


def start_scscf(lab, port):
    """The S-CSCF on a fixed port (so that it comes back where the P-CSCF
    routes), plain TCP from loopback, short registrations allowed."""
    return lab.start("scscf", "--listen", "tcp:127.0.0.1:%d" % port,
                     "--domain", HOME, "--db", lab.path("hss.db"),
                     "--insecure-core", "--peer-addr", "127.0.0.1",
                     "--expires-min", "1", "--log-level", "debug",
                     name="scscf%d" % len(lab.procs),
                     ready=r"listening on tcp:127\.0\.0\.1:(\d+)")


def softphone_profile(lab, pki, name, password_file):
    """`imsec isim new --digest`: a profile for the softphone's subscriber
    naming `password_file` (made with a random password when missing)."""
    path = lab.path(name)
    lab.run("isim", "new", "--digest", "--impi", impi(SOFT), "--impu",
            impu(SOFT), "--home-domain", HOME, "--trust-domain", TRUST_DOMAIN,
            "--anchors", os.path.join(pki, "root.crt"), "--home-ca",
            os.path.join(pki, "op-mcc001-mnc001.crt"), "--password-file",
            password_file, "--out", path)
    return path


def ue(lab, verb, prof, *extra, timeout=30):
    """`imsec ue VERB` to completion: the CompletedProcess, None when it had
    to be killed."""
    try:
        return subprocess.run(
            [lab.imsec, "ue", verb, "-c", prof, "--pcscf",
             "127.0.0.1:%d" % lab.home_port, "--pcscf-name", PCSCF,
             "--timeout", "15"] + list(extra),
            cwd=lab.dir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def show(cp):
    if cp is None:
        return "killed after its time"
    return "exit %d: %s" % (cp.returncode, " | ".join(
        (cp.stdout.strip().splitlines() + cp.stderr.strip().splitlines())[-4:]))


def in_order(out, patterns):
    """The first pattern not found in order in the lines of `out`, or
    None."""
    lines = out.splitlines()
    i = 0
    for pat in patterns:
        while i < len(lines) and not re.search(pat, lines[i]):
            i += 1
        if i == len(lines):
            return pat
        i += 1
    return None


def count(proc, regex):
    return len(re.findall(regex, proc.log_text(), re.M))


def wait_count(proc, regex, n, timeout):
    """Wait until `regex` matched at least n times in the log."""
    deadline = time.monotonic() + timeout
    while count(proc, regex) < n:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def bound(who):
    """The P-CSCF's log line on a registration bound to a TLS flow."""
    return r"registered IMPI %s IMPUs .* bound to flow" % re.escape(impi(who))


with Lab() as lab:
    d = lab.pki(operators=("001",))
    lab.hss_add(ISIM)

    # ------------------------------------------- the softphone's password
    pw = lab.path("softphone.password")
    soft = softphone_profile(lab, d, "softphone.yaml", pw)
    mode = stat.S_IMODE(os.stat(pw).st_mode) if os.path.exists(pw) else None
    secret = file_text(pw)
    lab.check(mode is not None and mode & 0o077 == 0,
              "isim new --digest drew a password into a new file of mode "
              "0600 (mode %s)" % (oct(mode) if mode is not None else "-"))
    lab.check(re.fullmatch(r"[A-Za-z0-9+/]{24}\n?", secret) is not None,
              "  one line, 24 base64 characters")
    ptext = file_text(soft)
    lab.check(secret.strip() != "" and secret.strip() not in ptext and
              "password_file" in ptext and re.search(r"(?m)^k:", ptext)
              is None,
              "the profile names the password file, holds no password and "
              "no K")
    lab.run("hss", "add", "--db", lab.path("hss.db"), "--impi", impi(SOFT),
            "--impu", impu(SOFT), "--scheme", "digest", "--password-file", pw)
    listed = lab.run("hss", "list", "--db", lab.path("hss.db")).stdout
    line = [l for l in listed.splitlines() if impi(SOFT) in l]
    lab.check(bool(line) and "digest" in line[0] and
              secret.strip() not in listed,
              "hss list shows the softphone's subscriber as digest, not its "
              "password (%s)" % (line[0] if line else "no line"))
    shown = lab.run("hss", "show", "--db", lab.path("hss.db"), "--impi",
                    impi(SOFT)).stdout
    lab.check(re.search(r"(?m)^scheme: digest$", shown) is not None and
              re.search(r"(?m)^realm: %s$" % re.escape(HOME), shown)
              is not None and
              re.search(r"[0-9a-fA-F]{32}", shown) is None and
              secret.strip() not in shown,
              "hss show: scheme digest in the home realm, no H(A1), no "
              "password")

    # ---------------------------------------------------------- daemons
    port = lab.free_port()
    sc = start_scscf(lab, port)
    home = start_pcscf_plain_core(lab, d, port, "--log-level", "debug",
                                  name="pcscf")
    lab.home_port = home.port
    isim = ue_profile(lab, d, ISIM)

    # ------------------------ the softphone calls and writes to the ISIM UE
    isim_run = start_bg(lab, "isim-run", "ue", "run", "-c", isim, "--pcscf",
                        "127.0.0.1:%d" % home.port, "--pcscf-name", PCSCF)
    lab.check(home.wait_log(bound(ISIM), 10) is not None,
              "the ISIM UE (ue run) registered")
    cp = ue(lab, "message", soft, "--to", impu(ISIM), "hello from a softphone")
    lab.check(cp is not None and cp.returncode == 0,
              "softphone -> ISIM UE: ue message exits 0 (%s)" % show(cp))
    lab.check(cp is not None and
              re.search(r"^trust: trusted \(home\)", cp.stdout, re.M)
              is not None,
              "  the softphone trusted the P-CSCF (home) before it spoke")
    lab.check(home.wait_log(bound(SOFT), 3) is not None,
              "  the P-CSCF bound the softphone's IMPI to its TLS flow "
              "(Annex O)")
    lab.check(wait_text(isim_run.out, r"^MESSAGE from .*\(asserted %s\): "
                        r"hello from a softphone$" % re.escape(impu(SOFT)),
                        3) is not None,
              "  the ISIM UE got it, asserted as the softphone's IMPU "
              "(Annex Q)")

    cp = ue(lab, "call", soft, "--to", impu(ISIM), "--hold", "1", "--ladder")
    lab.check(cp is not None and cp.returncode == 0 and
              "call: ended cleanly (BYE 200)" in cp.stdout,
              "softphone -> ISIM UE: a call, ended cleanly (%s)" % show(cp))
    missing = in_order(cp.stdout if cp else "", LADDER)
    lab.check(missing is None, "  the ladder: INVITE, 180, 200, ACK, BYE, "
              "200 (missing: %s)" % missing)
    lab.check(wait_text(isim_run.out, r"^call from %s.*: answered" %
                        re.escape(impu(SOFT)), 3) is not None,
              "  the ISIM UE answered the softphone's call")

    # Its registration ends (SIGTERM: de-register) before the softphone
    # runs: one UE of each kind at a time.
    isim_run.stop()

    # ------------------------ the ISIM UE calls and writes to the softphone
    regs = count(home, bound(SOFT))
    soft_run = start_bg(lab, "soft-run", "ue", "run", "-c", soft, "--pcscf",
                        "127.0.0.1:%d" % home.port, "--pcscf-name", PCSCF,
                        "--expires", "8")
    lab.check(wait_count(home, bound(SOFT), regs + 1, 10),
              "the softphone (ue run) registered")
    lab.check(wait_text(soft_run.out, r"^registered: ", 3) is not None,
              "  and says so")
    cp = ue(lab, "message", isim, "--to", impu(SOFT), "hello softphone")
    lab.check(cp is not None and cp.returncode == 0,
              "ISIM UE -> softphone: ue message exits 0 (%s)" % show(cp))
    lab.check(wait_text(soft_run.out, r"^MESSAGE from .*\(asserted %s\): "
                        r"hello softphone$" % re.escape(impu(ISIM)), 3)
              is not None, "  the softphone got it")
    cp = ue(lab, "call", isim, "--to", impu(SOFT), "--hold", "1", "--ladder")
    lab.check(cp is not None and cp.returncode == 0 and
              "call: ended cleanly (BYE 200)" in cp.stdout,
              "ISIM UE -> softphone: a call, ended cleanly (%s)" % show(cp))
    lab.check(wait_text(soft_run.out, r"^call from %s.*: answered" %
                        re.escape(impu(ISIM)), 3) is not None and
              wait_text(soft_run.out, r"^call ended \(remote-bye\)", 3)
              is not None,
              "  the softphone answered, then saw the BYE")

    # ------------------------------------------ S-CSCF restart (kill -9)
    regs_before = count(home, bound(SOFT))
    os.kill(sc.p.pid, signal.SIGKILL)
    sc.p.wait(5)
    sc = start_scscf(lab, port)
    lab.check(sc.wait_log(r"1 registration\(s\) loaded", 3) is not None,
              "the restarted S-CSCF loaded the softphone's registration")
    cp = ue(lab, "message", isim, "--to", impu(SOFT), "after the restart")
    lab.check(cp is not None and cp.returncode == 0,
              "after kill -9 and a restart, a MESSAGE to the softphone is "
              "answered (%s)" % show(cp))
    lab.check(wait_text(soft_run.out, r"^MESSAGE from .*: after the restart$",
                        3) is not None,
              "  and reached it: its registration survived")
    # Its next re-REGISTER (8 s registrations) carries a nonce from the
    # S-CSCF before the restart, whose key is gone: a fresh challenge, not
    # a failure.
    lab.check(wait_count(home, bound(SOFT), regs_before + 1, 15),
              "the softphone re-registered with the restarted S-CSCF")
    lab.check(re.search(r"REGISTER %s: 401 [^\n]*\n(?:[^\n]*\n)*?[^\n]*"
                        r"REGISTER %s: 200 registered" %
                        ((re.escape(impi(SOFT)),) * 2), sc.log_text())
              is not None,
              "  after a fresh challenge: the old nonce's key died with the "
              "old S-CSCF")
    lab.check(soft_run.alive() and
              re.search(r"^(failed|refused)", file_text(soft_run.out), re.M)
              is None, "  and still runs, nothing failed")
    soft_run.stop()

    # -------------------------------------------- a new password (hss passwd)
    pw2 = lab.path("softphone-new.password")
    fd = os.open(pw2, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"another-password-for-M\n")
    os.close(fd)
    cp = lab.run("hss", "passwd", "--db", lab.path("hss.db"), "--impi",
                 impi(SOFT), "--password-file", pw2, check=False)
    lab.check(cp.returncode == 0, "hss passwd: exit 0 (%s)" %
              cp.stderr.strip())
    soft2 = softphone_profile(lab, d, "softphone-new.yaml", pw2)
    cp = ue(lab, "register", soft)
    lab.check(cp is not None and cp.returncode == 1 and
              "403" in cp.stdout + cp.stderr,
              "the old password is refused: ue register exits 1 with 403 "
              "(%s)" % show(cp))
    cp = ue(lab, "register", soft2)
    lab.check(cp is not None and cp.returncode == 0 and
              re.search(r"^registered: ", cp.stdout, re.M) is not None,
              "the new password registers (%s)" % show(cp))
    lab.check(secret.strip() not in sc.log_text() + home.log_text() and
              "another-password-for-M" not in sc.log_text() +
              home.log_text(),
              "no password in the S-CSCF's or the P-CSCF's log")
