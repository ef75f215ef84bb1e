"""A real softphone with a password: Debian's baresip (package
baresip-core, 1.0.0 on libre 1.1.0), headless, registers with SIP Digest
over TLS through the imsec P-CSCF to the imsec S-CSCF (and its HSS), all
daemons on loopback (TS 33.203 Annexes N, O; docs/DIGEST.md "Real
softphones").

baresip runs with a config folder of its own in the lab (`baresip -f
DIR`): `config` (SIP on 127.0.0.1 only, `sip_cafile` the trust domain's
root, modules g711, aubridge for audio without a sound card, stdio as
the UI, menu and ctrl_tcp) and `accounts` (one line: the IMPU with
`;transport=tls`, `auth_user` the IMPI, `auth_pass`, `outbound` the
P-CSCF's TLS listener). It is driven over ctrl_tcp (JSON in netstrings
on a loopback port: `dial`, `hangup`, `uadel`, `uanew`, `quit`, and its
events REGISTER_OK, REGISTER_FAIL, CALL_ESTABLISHED, CALL_CLOSED); `-s`
puts its SIP trace on stdout, where the stdio UI also prints the
MESSAGEs it gets.

What baresip 1.0.0 needs from imsec, found out here:
- MD5 only. libre 1.1.0 answers MD5 and nothing else, and it gives up
  at the first WWW-Authenticate it does not know ("Register: Function
  not implemented") instead of taking the next one (RFC 8760 §3 asks
  the client to use the first it supports). Behind the S-CSCF's default
  challenge (SHA-256 first, then MD5) it cannot register; with
  `--digest-algorithms md5` it does. Its credentials carry no
  `algorithm` (RFC 7616: MD5), qop=auth, nc and a cnonce.
- The Request-URI is `sip:HOME;transport=tls` and the Digest uri the
  same text: the S-CSCF compares them as SIP URIs.
- The first REGISTER has no Authorization (the S-CSCF finds the
  subscriber by To), a `Route` naming the P-CSCF (the outbound proxy;
  the P-CSCF drops it), a Contact with `;transport=tls` and `;expires=`.
- libre 1.1.0 loads `sip_cafile` but never verifies the server's
  certificate on a SIP TLS connection (no SSL_VERIFY_PEER on the client
  side, no host name check): the trust decision an imsec UE makes before
  it speaks is not made by this phone. Checked here as a fact of the
  peer, so that a newer Debian package that does verify is noticed.
- It retries a refused registration only after 30 to 60 s (libre's
  back-off), so the test retries at once by deleting the user agent and
  making it again (ctrl_tcp `uadel`, `uanew`): each is a fresh REGISTER,
  401, wrong response, 403.

Cases: baresip registers (200 OK; the S-CSCF challenged it with MD5
only and took the response; the P-CSCF bound the IMPI to baresip's TLS
flow), and so does an account without auth_user (username the user
part); `imsec ue message` from an ISIM UE reaches it (200 to the UE,
the text on baresip's console, the sender's IMPU as From); baresip
calls an `imsec ue run --answer auto` (CALL_ESTABLISHED, its BYE ends
the call, the UE prints both) through both daemons; `imsec ue call`
calls baresip (auto-answer) and hangs up; a baresip with the wrong
password gets 403, retried until the S-CSCF locks the IMPI for this
source, after which even the right password gets 403 with no challenge;
the two facts of the peer above (no answer behind the default 401,
registration through a P-CSCF of another root); the passwords are in no
daemon log. baresip is a dependency of `make test`
(scripts/packages.txt: baresip-core): when missing the test says so and
fails.
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time

from attacklib import (HOME, TRUST_DOMAIN, Lab, Proc, file_text, impi, impu, imsi,
                       start_bg, start_pcscf_plain_core, start_scscf_direct,
                       ue_profile, wait_text)

PCSCF = "pcscf." + HOME
# Subscribers: SIP Digest ones for baresip, ISIM (IMS AKA) ones for the
# imsec UEs.
BARESIP, WRONG, USER_PART = 20, 21, 22
UE_CALLEE, UE_SENDER, UE_CALLER = 1, 2, 3
FAILURES = 3  # --impi-failures: the lock comes after this many
MODULES = "/usr/lib/baresip/modules"


def new_password(lab, n):
    """A password file (0600) for subscriber n. URL-safe characters only:
    baresip's accounts line takes `;auth_pass=` up to the next ';'."""
    pw = secrets.token_urlsafe(18)
    path = lab.path("pw%d" % n)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pw + "\n")
    return pw, path


def hss_add_digest(lab, n):
    pw, path = new_password(lab, n)
    lab.run("hss", "add", "--db", lab.path("hss.db"), "--impi", impi(n),
            "--impu", impu(n), "--scheme", "digest", "--password-file", path)
    return pw


def account(n, password, pcscf_port, auth_user=True):
    """baresip's account line for subscriber n through the P-CSCF; without
    auth_user baresip's digest username is the user part of the URI."""
    return ('<%s;transport=tls>;%sauth_pass=%s;'
            'outbound="sip:127.0.0.1:%d;transport=tls";regint=600;'
            'answermode=auto;audio_codecs=pcmu' %
            (impu(n), "auth_user=%s;" % impi(n) if auth_user else "",
             password, pcscf_port))


class Ctrl:
    """baresip's ctrl_tcp: commands and their responses, and the events
    (kept in order in .events), netstring-framed JSON."""

    def __init__(self, port, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), 2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.sock.settimeout(None)
        self.lock = threading.Condition()
        self.events = []
        self.responses = {}
        self.closed = False
        self.n = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                buf += d
                while True:
                    m = re.match(rb"(\d+):", buf)
                    if not m or len(buf) < m.end() + int(m.group(1)) + 1:
                        break
                    n = int(m.group(1))
                    body = buf[m.end():m.end() + n]
                    buf = buf[m.end() + n + 1:]
                    try:
                        obj = json.loads(body.decode(errors="replace"))
                    except ValueError:
                        continue
                    with self.lock:
                        if obj.get("event"):
                            self.events.append(obj)
                        elif obj.get("response"):
                            self.responses[obj.get("token")] = obj
                        self.lock.notify_all()
        except OSError:
            pass
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def command(self, cmd, params="", timeout=5.0):
        """The response object ({"ok": ..., "data": ...}) or None."""
        self.n += 1
        token = "t%d" % self.n
        body = json.dumps({"command": cmd, "params": params,
                           "token": token}).encode()
        self.sock.sendall(b"%d:%s," % (len(body), body))
        deadline = time.monotonic() + timeout
        with self.lock:
            while token not in self.responses and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.lock.wait(left)
            return self.responses.get(token)

    def wait_event(self, types, start=0, timeout=10.0, match=None):
        """The first event from index `start` on whose type is in
        `types` (and for which match(event) holds): (index, event), or
        (None, None) after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for i in range(start, len(self.events)):
                    ev = self.events[i]
                    if ev.get("type") in types and (match is None or
                                                    match(ev)):
                        return i, ev
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None, None
                self.lock.wait(left)

    def mark(self):
        with self.lock:
            return len(self.events)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Baresip:
    """One baresip process with its own config folder in the lab."""

    def __init__(self, lab, name, accounts, cafile, pcscf_port):
        self.lab = lab
        self.peer = "127.0.0.1:%d" % pcscf_port
        self.name = name
        self.dir = lab.path(name)
        os.makedirs(self.dir)
        for attempt in range(5):
            # sip_listen takes the port for UDP and TCP and the next one
            # for TLS; the ctrl port is another.
            sip = lab.free_port()
            ctrl = lab.free_port()
            if abs(ctrl - sip) <= 1:
                continue
            with open(os.path.join(self.dir, "config"), "w") as f:
                f.write(CONFIG % {"sip": sip, "ctrl": ctrl, "ca": cafile,
                                  "modules": MODULES})
            fd = os.open(os.path.join(self.dir, "accounts"),
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("".join(a + "\n" for a in accounts))
            self.log = lab.path("%s.%d.log" % (name, attempt) if attempt
                                else name + ".log")
            with open(self.log, "w") as lf:
                # stdin stays an open pipe: the stdio UI needs a readable
                # descriptor (/dev/null cannot be polled) and gets no key.
                p = subprocess.Popen(["baresip", "-f", self.dir, "-s", "-v"],
                                     cwd=self.dir, stdin=subprocess.PIPE,
                                     stdout=lf, stderr=subprocess.STDOUT)
            self.proc = Proc(name, p, self.log)
            lab.procs.append(self.proc)
            if self.proc.wait_log(r"ctrl_tcp: TCP socket listening|"
                                  r"baresip init failed|"
                                  r"Address already in use", 10) and \
                    "ctrl_tcp: TCP socket listening" in self.proc.log_text() \
                    and "Address already in use" not in \
                    self.proc.log_text():
                self.ctrl = Ctrl(ctrl)
                return
            self.proc.stop()
        raise RuntimeError("baresip did not start:\n" + self.proc.log_text())

    def text(self):
        return self.proc.log_text()

    def sip_trace(self):
        """The SIP messages of baresip's -s trace: (direction, text);
        direction 'out' for what baresip sent."""
        out = []
        # Each traced message: "#\nTLS A -> B\n<message>\n" between colour
        # escapes; the first address is the sender.
        for m in re.finditer(r"#\n(TLS|TCP|UDP) (\S+) -> (\S+)\n(.*?)"
                             r"\x1b\[;m", self.text(), re.S):
            out.append((m.group(2), m.group(4)))
        return out

    def sent(self, start):
        """What baresip sent whose text starts with `start`."""
        return [t for src, t in self.sip_trace()
                if t.startswith(start) and src != self.peer]

    def received(self, start):
        """What baresip got from the P-CSCF whose text starts with
        `start`."""
        return [t for src, t in self.sip_trace()
                if t.startswith(start) and src == self.peer]

    def stop(self):
        if self.proc.alive():
            self.ctrl.command("quit", timeout=2)
            try:
                self.proc.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.ctrl.close()
        return self.proc.stop()


CONFIG = """# baresip for one test run: loopback only, no sound card.
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:%(sip)d
net_interface\t\t127.0.0.1
sip_cafile\t\t%(ca)s
call_local_timeout\t30
call_max_calls\t\t4
audio_player\t\taubridge,play
audio_source\t\taubridge,play
audio_alert\t\taubridge,alert
statmode_default\toff
ringback_disabled\tyes
module_path\t\t%(modules)s
module\t\t\tstdio.so
module\t\t\tg711.so
module\t\t\taubridge.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:%(ctrl)d
"""


def evs(ev):
    """An event for a check's text."""
    return "none" if ev is None else "%s %s" % (ev.get("type"),
                                                ev.get("param", ""))


def line(text, regex):
    m = re.search(regex, text, re.M)
    return m.group(0) if m else None


if not shutil.which("baresip"):
    with Lab() as lab:
        lab.check(False, "baresip installed (scripts/packages.txt: "
                  "baresip-core)")
    raise SystemExit(1)

with Lab() as lab:
    d = lab.pki(operators=("001",))
    root = os.path.join(d, "root.crt")
    pw = hss_add_digest(lab, BARESIP)
    pw_wrong_sub = hss_add_digest(lab, WRONG)
    pw_part = hss_add_digest(lab, USER_PART)
    for n in (UE_CALLEE, UE_SENDER, UE_CALLER):
        lab.hss_add(n)
    sc = start_scscf_direct(lab, "--log-level", "debug", "--digest-algorithms",
                            "md5", "--impi-failures", str(FAILURES),
                            "--lockout", "300")
    pc = start_pcscf_plain_core(lab, d, sc.port, "--log-level", "debug")
    pc_addr = "127.0.0.1:%d" % pc.port

    # ---------------------------------------------------- 1. registration
    b = Baresip(lab, "baresip", [account(BARESIP, pw, pc.port)], root,
                pc.port)
    # The first registration may end before the ctrl connection is up:
    # baresip's own line says how it went.
    reg = wait_text(b.log, r"^%s: \{0/TLS/v4\} (\d+ [^(\n]*)|"
                    r"reg: %s: ([^\x1b\n]*)" % (re.escape(impi(BARESIP)),
                                          re.escape(impu(BARESIP))), 15)
    lab.check(reg is not None and (reg.group(1) or "").startswith("200 OK"),
              "baresip registers with SIP Digest over TLS through the "
              "P-CSCF: 200 OK (%s)" % (reg and reg.group(0)))
    regs = b.sent("REGISTER ")
    lab.check(len(regs) >= 2 and "Authorization:" not in regs[0] and
              re.search(r"(?m)^Route: <sip:127\.0\.0\.1:%d;transport=tls;lr>"
                        % pc.port, regs[0]) is not None and
              re.search(r"(?m)^Contact: <[^>]*;transport=tls>;expires=600",
                        regs[0]) is not None,
              "its first REGISTER: no Authorization, Route to the P-CSCF, "
              "Contact with ;transport=tls and ;expires=")
    chal = [r for r in b.received("SIP/2.0 401 ")
            if re.search(r"(?m)^CSeq: \d+ REGISTER", r)]
    www = re.findall(r"(?mi)^WWW-Authenticate: (.*)$", chal[0]) if chal \
        else []
    lab.check(len(www) == 1 and "algorithm=MD5" in www[0] and
              'qop="auth"' in www[0] and
              'realm="%s"' % HOME in www[0],
              "the 401 baresip got offers MD5 only, qop=auth, the home "
              "realm (%s)" % www)
    auth = re.search(r"(?m)^Authorization: (.*)$", regs[1]) if len(regs) > 1 \
        else None
    lab.check(auth is not None and
              'username="%s"' % impi(BARESIP) in auth.group(1) and
              "qop=auth" in auth.group(1) and
              "nc=00000001" in auth.group(1),
              "baresip answered with the IMPI as username, qop=auth, nc=1 "
              "(%s)" % (auth and auth.group(1)[:200]))
    lab.check(sc.wait_log(r"REGISTER %s: 401 SIP Digest challenge" %
                          re.escape(impi(BARESIP)), 2) is not None and
              sc.wait_log(r"REGISTER %s: SIP Digest MD5 response right" %
                          re.escape(impi(BARESIP)), 2) is not None,
              "the S-CSCF challenged baresip and took its MD5 response")
    bound = pc.wait_log(r"registered IMPI %s IMPUs %s bound to flow (\d+) "
                        r"\(tls:127\.0\.0\.1:" % (re.escape(impi(BARESIP)),
                                                re.escape(impu(BARESIP))), 3)
    lab.check(bound is not None,
              "the P-CSCF bound baresip's IMPI and IMPU to its TLS flow")

    # The account without auth_user: the username is the IMPI's user part,
    # which the S-CSCF reads as user@DOMAIN (--digest-username any).
    # baresip names its account by the address of record without "sip:".
    bu = Baresip(lab, "baresip-user", [account(USER_PART, pw_part, pc.port,
                                               auth_user=False)],
                 root, pc.port)
    reg = wait_text(bu.log, r"^%s: \{0/TLS/v4\} (\d+ [^(\n]*)|"
                    r"reg: %s: ([^\x1b\n]*)" % (re.escape(impi(USER_PART)),
                                                re.escape(impu(USER_PART))),
                    15)
    regs = bu.sent("REGISTER ")
    lab.check(reg is not None and (reg.group(1) or "").startswith("200") and
              len(regs) >= 2 and
              'username="%s"' % imsi(USER_PART) in regs[1] and
              pc.wait_log(r"registered IMPI %s " %
                          re.escape(impi(USER_PART)), 2) is not None,
              "without auth_user baresip sends the user part as username "
              "and registers; the P-CSCF binds it as the IMPI (%s)" %
              (reg and reg.group(0)))
    bu.stop()

    # ---------------------------------- 2. a MESSAGE from an imsec UE
    prof_s = ue_profile(lab, d, UE_SENDER)
    text = "hello baresip %s" % secrets.token_hex(4)
    cp = subprocess.run([lab.imsec, "ue", "message", "-c", prof_s, "--pcscf",
                         pc_addr, "--pcscf-name", PCSCF, "--to",
                         impu(BARESIP), text], cwd=lab.dir,
                        capture_output=True, text=True, timeout=40)
    lab.check(cp.returncode == 0 and re.search(r"\b200\b", cp.stdout),
              "imsec ue message -> baresip: exit 0, 200 (exit %d: %s)" %
              (cp.returncode, (cp.stdout + cp.stderr).strip()[-300:]))
    shown = wait_text(b.log, r'^(sip:\S+): "%s"$' % re.escape(text), 3)
    lab.check(shown is not None and imsi(UE_SENDER) in shown.group(1),
              "baresip printed the MESSAGE with the sender's IMPU (%s)" %
              (shown and shown.group(0)))
    got = [m for m in b.received("MESSAGE ") if text in m]
    lab.check(len(got) == 1 and
              re.search(r"(?m)^Content-Type: text/plain", got[0]) is not None,
              "the MESSAGE reached baresip once, text/plain, over its TLS "
              "flow")

    # --------------------------------- 3. baresip calls imsec ue run
    prof_c = ue_profile(lab, d, UE_CALLEE)
    ux = start_bg(lab, "ue-run", "ue", "run", "-c", prof_c, "--pcscf",
                  pc_addr, "--pcscf-name", PCSCF, "--answer", "auto")
    lab.check(pc.wait_log(r"registered IMPI %s " % re.escape(impi(UE_CALLEE)),
                          10) is not None, "imsec ue run registered")
    mark = b.ctrl.mark()
    r = b.ctrl.command("dial", impu(UE_CALLEE))
    lab.check(r is not None and r.get("ok"), "baresip takes the dial command")
    _, ev = b.ctrl.wait_event({"CALL_ESTABLISHED", "CALL_CLOSED"}, mark,
                              timeout=15)
    lab.check(ev is not None and ev["type"] == "CALL_ESTABLISHED",
              "baresip -> imsec ue run: the call is established (%s)" %
              evs(ev))
    time.sleep(1)
    mark = b.ctrl.mark()
    b.ctrl.command("hangup")
    _, ev = b.ctrl.wait_event({"CALL_CLOSED"}, mark, timeout=5)
    lab.check(ev is not None, "baresip hung up (CALL_CLOSED)")
    lab.check(wait_text(ux.out, r"^call from sip:%s@%s.*: answered" %
                        (imsi(BARESIP), re.escape(HOME)), 3) is not None,
              "imsec ue run printed the call from baresip as answered")
    lab.check(wait_text(ux.out, r"^call ended \(remote-bye\)", 3) is not None,
              "imsec ue run printed the end of the call (baresip's BYE)")
    fc = bound.group(1) if bound else "?"
    orig = pc.wait_log(r"INVITE from flow %s as %s -> " %
                       (fc, re.escape(impu(BARESIP))), 2)
    lab.check(orig is not None,
              "the P-CSCF took the INVITE on baresip's registered flow %s "
              "and asserted its IMPU" % fc)
    lab.check(sc.wait_log(r"INVITE to %s via " %
                          re.escape(impu(UE_CALLEE)[len("sip:"):]), 2)
              is not None, "the S-CSCF routed the INVITE to the UE")
    ok200 = [m for m in b.received("SIP/2.0 200 ")
             if re.search(r"(?m)^CSeq: \d+ INVITE", m)]
    lab.check(ok200 and re.search(r"(?mi)^Record-Route:.*127\.0\.0\.1:%d"
                                  % pc.port, ok200[0]) is not None,
              "the 200 baresip got is Record-Routed through the P-CSCF")

    # --------------------------------- 4. imsec ue call calls baresip
    prof_k = ue_profile(lab, d, UE_CALLER)
    mark = b.ctrl.mark()
    cp = subprocess.run([lab.imsec, "ue", "call", "-c", prof_k, "--pcscf",
                         pc_addr, "--pcscf-name", PCSCF, "--to",
                         impu(BARESIP), "--hold", "1", "--timeout", "15"],
                        cwd=lab.dir, capture_output=True, text=True,
                        timeout=40)
    lab.check(cp.returncode == 0 and
              "call: ended cleanly (BYE 200)" in cp.stdout,
              "imsec ue call -> baresip (auto-answer): exit 0, ended cleanly "
              "(exit %d: %s)" % (cp.returncode, " | ".join(
                  l for l in cp.stdout.splitlines() if l.startswith("call:"))
                  or cp.stderr.strip()[-300:]))
    _, ev = b.ctrl.wait_event({"CALL_CLOSED"}, mark, timeout=5)
    lab.check(ev is not None, "baresip saw the caller's BYE (CALL_CLOSED)")
    b.stop()
    ux.stop()

    # ------------------- 5. a wrong password, retried to the lockout
    # No account at start: each try is a user agent made over ctrl_tcp
    # (uanew), so that its events are all seen; the previous one is
    # deleted first (uadel).
    wrong_pw = pw_wrong_sub[::-1] + "x"
    w = Baresip(lab, "baresip-wrong", [], root, pc.port)
    aor = impu(WRONG)
    fails = []
    for attempt in range(FAILURES):
        if attempt:
            w.ctrl.command("uadel", aor)
        start = w.ctrl.mark()
        w.ctrl.command("uanew", account(WRONG, wrong_pw, pc.port))
        _, ev = w.ctrl.wait_event({"REGISTER_OK", "REGISTER_FAIL"}, start,
                                  timeout=10)
        fails.append(ev and (ev["type"], ev.get("param")))
    lab.check(all(f and f[0] == "REGISTER_FAIL" and "403" in (f[1] or "")
                  for f in fails),
              "%d tries with the wrong password: each REGISTER_FAIL 403 "
              "(%s)" % (FAILURES, fails))
    lab.check(len(w.received("SIP/2.0 401 ")) >= FAILURES,
              "each try was challenged first (401), then refused")
    lab.check(sc.wait_log(r"IMPI locked for 300 s for requests from "
                          r"127\.0\.0\.1", 3) is not None,
              "the S-CSCF locked the IMPI for baresip's source, and said so")
    # Now the right password, from the same place: locked, no challenge.
    n401 = len(w.received("SIP/2.0 401 "))
    w.ctrl.command("uadel", aor)
    start = w.ctrl.mark()
    w.ctrl.command("uanew", account(WRONG, pw_wrong_sub, pc.port))
    _, ev = w.ctrl.wait_event({"REGISTER_OK", "REGISTER_FAIL"}, start,
                              timeout=10)
    lab.check(ev is not None and ev["type"] == "REGISTER_FAIL" and
              "403" in (ev.get("param") or "") and
              len(w.received("SIP/2.0 401 ")) == n401,
              "locked: even the right password gets 403, without a "
              "challenge (%s)" % evs(ev))
    w.stop()

    # ----------------------------------- 6. facts of this peer (libre 1.1.0)
    # The S-CSCF's default 401 (SHA-256, then MD5): baresip stops at the
    # first challenge and gives up instead of answering the MD5 one.
    shutil.copy(lab.path("hss.db"), lab.path("hss-default.db"))
    sc_def = start_scscf_direct(lab, db="hss-default.db",
                                name="scscf-default")
    pc_def = start_pcscf_plain_core(lab, d, sc_def.port, name="pcscf-default")
    bd = Baresip(lab, "baresip-default", [account(BARESIP, pw, pc_def.port)],
                 root, pc_def.port)
    gave_up = wait_text(bd.log, r"reg: %s: Register: ([^\x1b\n]*)" %
                        re.escape(impu(BARESIP)), 10)
    chal = bd.received("SIP/2.0 401 ")
    www = re.findall(r"(?mi)^WWW-Authenticate: .*algorithm=([\w-]+)",
                     chal[0]) if chal else []
    lab.check(www == ["SHA-256", "MD5"] and gave_up is not None and
              gave_up.group(1) == "Function not implemented" and
              not bd.sent("REGISTER ")[1:],
              "behind the default challenge (SHA-256, then MD5: %s) baresip "
              "1.0.0 gives up without answering: %s (hence "
              "--digest-algorithms md5)" % (www, gave_up and gave_up.group(0)))
    bd.stop()
    # A P-CSCF whose certificate is not from the trust domain's root (the
    # same name, another root): baresip registers through it all the same,
    # though sip_cafile names the real root.
    rogue = lab.path("rogue")
    lab.run("pki", "init", "--dir", rogue, "--trust-domain", TRUST_DOMAIN)
    lab.run("pki", "operator", "--dir", rogue, "--mcc", "001", "--mnc", "001")
    lab.run("pki", "pcscf", "--dir", rogue, "--mcc", "001", "--mnc", "001")
    pc_rogue = start_pcscf_plain_core(lab, rogue, sc.port, name="pcscf-rogue")
    br = Baresip(lab, "baresip-rogue", [account(BARESIP, pw, pc_rogue.port)],
                 root, pc_rogue.port)
    reg = wait_text(br.log, r"^%s: \{0/TLS/v4\} (\d+ [^(\n]*)|"
                    r"reg: %s: ([^\x1b\n]*)" % (re.escape(impi(BARESIP)),
                                          re.escape(impu(BARESIP))), 15)
    lab.check(reg is not None and (reg.group(1) or "").startswith("200"),
              "baresip 1.0.0 does not check the P-CSCF's certificate: it "
              "registered through one from another root (%s)" %
              (reg and reg.group(0)))
    br.stop()

    # -------------------------------------------------- 7. secrets
    logs = "".join(p.log_text() for p in lab.procs
                   if not p.name.startswith("baresip"))
    lab.check(pw not in logs and pw_wrong_sub not in logs and
              wrong_pw not in logs and pw_part not in logs,
              "no password in any imsec daemon's or UE's log")
