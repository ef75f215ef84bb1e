"""Online password guessing with a real tool: sipvicious' svcrack (Debian
package sipvicious, 0.3.3) runs a wordlist that holds the right password
against a SIP Digest subscriber, through the imsec P-CSCF to the S-CSCF
with its default challenge and the per-IMPI failure lock
(docs/LIMITS.md, docs/DIGEST.md "Real softphones"). It must get nowhere
within the test's budget.

What svcrack can do, found out here:
- UDP only: "tcp", "tls", "ws" and "wss" targets are refused ("not
  supported in SIPVicious OSS"). The P-CSCF takes SIP Digest over TLS
  only (TS 33.203 Annex O), so the attacker adds a relay of its own, as
  anyone would: each datagram from svcrack goes over one TLS connection
  (the P-CSCF's certificate checked against the IMS root and its name)
  from 127.0.0.2, the attacker's address, and each SIP message back
  becomes one datagram.
- MD5 only, and it reads the first WWW-Authenticate: behind the
  S-CSCF's default 401 (SHA-256 first, then MD5, RFC 8760 §3) it would
  stop at "Unknown algorithm". The relay drops the SHA-256 challenge:
  the MD5 one is offered all the same, so this is the attacker's choice
  of algorithm, not a weaker server.
- A guess costs two REGISTERs (one without credentials for a fresh
  challenge, one with the response); svcrack goes to the next word only
  when it has a challenge. A 403 to the first REGISTER (the lock) gives
  it none, so it keeps asking and never tries another word.

Cases:
- Control: the same set-up against a subscriber whose password is the
  first word: svcrack reports it (the relay, svcrack's requests and the
  S-CSCF's MD5 path work, so the next case fails for the right reason).
- The attack: the right password is word FAILURES + 2. After FAILURES
  wrong responses the S-CSCF locks the IMPI for the attacker's source
  (403 to every REGISTER from there, no challenge, logged once); svcrack
  never tries the right word within the budget, never gets a 200, and
  reports nothing. Any response the relay saw computed with the right
  password was refused.
- The subscriber from its own address (127.0.0.1) is still challenged
  and registers with the right password: the lock is per source.
"""
import hashlib
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

from attacklib import (HOME, Lab, connect_tls_from, digest_param, hdr, hdrs,
                       impi, impu, imsi, register, start_pcscf_plain_core,
                       start_scscf_direct, status)

PCSCF = "pcscf." + HOME
VICTIM, CONTROL = 30, 31
ATTACKER = "127.0.0.2"
FAILURES = 5       # --impi-failures
BUDGET_S = 10      # how long svcrack may run against the victim
WORDS = 60


def password_file(lab, n, pw):
    path = lab.path("pw%d" % n)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pw + "\n")
    return path


def h(alg, text):
    return hashlib.new("sha256" if alg == "SHA-256" else "md5",
                       text.encode()).hexdigest()


def digest_response(alg, user, realm, pw, nonce, nc, cnonce, method, uri):
    """RFC 7616 §3.4.1 with qop=auth."""
    ha1 = h(alg, "%s:%s:%s" % (user, realm, pw))
    ha2 = h(alg, "%s:%s" % (method, uri))
    return h(alg, "%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))


def top_branch(msg):
    v = hdr(msg, "Via") or hdr(msg, "v") or ""
    m = re.search(r";branch=([^;,\s]+)", v)
    return m.group(1) if m else None


class Relay:
    """svcrack's UDP to the P-CSCF's TLS, from ATTACKER: a datagram is one
    request; each message back is one datagram to the last sender. The
    401's SHA-256 challenge is dropped (svcrack answers MD5 only). Keeps
    what it saw: .requests (with or without credentials), .statuses (in
    order), and per branch whether the credentials were computed with
    `right` (the password the attacker is after)."""

    def __init__(self, lab, pcscf_port, victim_user, right):
        self.lab = lab
        self.pcscf_port = pcscf_port
        self.user = victim_user
        self.right = right
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.load_verify_locations(lab.path("pki", "root.crt"))
        self.tls = None
        self.peer = None
        self.buf = b""
        self.requests = []     # (branch, has credentials, right password)
        self.statuses = []     # (branch, status)
        self.connections = 0
        self.verified = False
        self.stopping = False
        self.error = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        s.bind((ATTACKER, 0))
        s.connect(("127.0.0.1", self.pcscf_port))
        self.tls = self.ctx.wrap_socket(s, server_hostname=PCSCF)
        self.verified = self.verified or bool(self.tls.getpeercert())
        self.tls.settimeout(5)
        self.buf = b""
        self.connections += 1

    def note_request(self, text):
        auth = None
        for line in text.split("\r\n\r\n", 1)[0].split("\r\n"):
            k, _, v = line.partition(":")
            if k.strip().lower() == "authorization":
                auth = v.strip()
        right = False
        if auth:
            p = {k: digest_param(auth, k) for k in
                 ("username", "realm", "nonce", "uri", "nc", "cnonce",
                  "response", "algorithm")}
            alg = (p["algorithm"] or "MD5").upper()
            right = p["response"] == digest_response(
                alg, p["username"] or "", p["realm"] or "", self.right,
                p["nonce"] or "", p["nc"] or "", p["cnonce"] or "",
                "REGISTER", p["uri"] or "")
        self.requests.append((top_branch(text), bool(auth), right))

    def strip_sha256(self, msg):
        if status(msg) not in (401, 407):
            return msg
        head, _, body = msg.partition("\r\n\r\n")
        keep = [l for l in head.split("\r\n")
                if not (re.match(r"(?i)(www|proxy)-authenticate\s*:", l) and
                        re.search(r"(?i)algorithm=\"?SHA-256", l))]
        return "\r\n".join(keep) + "\r\n\r\n" + body

    def pump_tls(self):
        d = self.tls.recv(65536)
        if not d:
            self.tls.close()
            self.tls = None
            return
        self.buf += d
        while True:
            while self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
            if b"\r\n\r\n" not in self.buf:
                return
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            if len(rest) < n:
                return
            msg = (head + b"\r\n\r\n" + rest[:n]).decode(errors="replace")
            self.buf = rest[n:]
            if status(msg):
                self.statuses.append((top_branch(msg), status(msg)))
                if self.peer:
                    self.udp.sendto(self.strip_sha256(msg).encode(),
                                    self.peer)

    def run(self):
        try:
            while not self.stopping:
                socks = [self.udp] + ([self.tls] if self.tls else [])
                if self.tls and self.tls.pending():
                    r = [self.tls]
                else:
                    r, _, _ = select.select(socks, [], [], 0.2)
                if self.udp in r:
                    data, self.peer = self.udp.recvfrom(65536)
                    text = data.decode(errors="replace")
                    if re.match(r"[A-Z]+ \S+ SIP/2\.0\r\n", text):
                        self.note_request(text)
                        if not self.tls:
                            self.connect()
                        self.tls.sendall(data)
                if self.tls and self.tls in r:
                    self.pump_tls()
        except Exception as e:  # reported by the test
            self.error = repr(e)

    def answered(self, branch):
        for b, st in self.statuses:
            if b == branch:
                return st
        return None

    def stop(self):
        self.stopping = True
        self.t.join(3)
        if self.tls:
            self.tls.close()
        self.udp.close()


def svcrack(lab, name, n, wordlist, relay, budget):
    """svcrack against subscriber n through the relay: (exit code or None
    when stopped at the budget, stdout+stderr)."""
    out = lab.path(name + ".out")
    args = ["svcrack", "-u", impi(n), "-e", imsi(n), "--domain", HOME,
            "-d", wordlist, "-p", str(relay.port), "-b", "127.0.0.1",
            "-x", "127.0.0.1", "-P", str(lab.free_port()),
            "-t", "0.02", "--maximumtime", "5", "127.0.0.1"]
    with open(out, "w") as f:
        p = subprocess.Popen(args, cwd=lab.dir, stdin=subprocess.DEVNULL,
                             stdout=f, stderr=subprocess.STDOUT)
        try:
            rc = p.wait(budget)
        except subprocess.TimeoutExpired:
            # SIGINT: svcrack stops as on ^C and still prints its result.
            p.send_signal(signal.SIGINT)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            rc = None
    with open(out, errors="replace") as f:
        return rc, f.read()


def words(path, right, at):
    ws = ["guess%02d" % i for i in range(WORDS)]
    ws.insert(at, right)
    with open(path, "w") as f:
        f.write("".join(w + "\n" for w in ws))
    return path


def sha256_register(lab, pc_port, n, pw):
    """The subscriber itself from 127.0.0.1 with the right password: the
    final status (401 then the answer)."""
    c = lab.connect_tls(pc_port)
    try:
        c.send(register(n, cseq=1, call_id="own%d@ue" % n, auth=None))
        r = c.recv(5)
        if status(r) != 401:
            return status(r)
        ch = [v for v in hdrs(r, "WWW-Authenticate") if "SHA-256" in v]
        if not ch:
            return -1
        realm, nonce = digest_param(ch[0], "realm"), digest_param(ch[0],
                                                                   "nonce")
        opaque, uri, cnonce, nc = (digest_param(ch[0], "opaque"),
                                   "sip:" + HOME, "0a4f113b", "00000001")
        resp = digest_response("SHA-256", impi(n), realm, pw, nonce, nc,
                               cnonce, "REGISTER", uri)
        auth = ('Digest username="%s",realm="%s",nonce="%s",uri="%s",'
                'response="%s",algorithm=SHA-256,qop=auth,nc=%s,'
                'cnonce="%s",opaque="%s"' % (impi(n), realm, nonce, uri, resp,
                                             nc, cnonce, opaque))
        c.send(register(n, cseq=2, call_id="own%d@ue" % n, auth=auth))
        return status(c.recv(5))
    finally:
        c.close()


if not shutil.which("svcrack"):
    with Lab() as lab:
        lab.check(False, "svcrack installed (scripts/packages.txt: "
                  "sipvicious)")
    raise SystemExit(1)

with Lab() as lab:
    pki = lab.pki(operators=("001",))
    # Passwords a wordlist can hold: the point is the lock, not strength.
    pw = {VICTIM: "winter2024", CONTROL: "summer2025"}
    for n in (VICTIM, CONTROL):
        lab.run("hss", "add", "--db", lab.path("hss.db"), "--impi", impi(n),
                "--impu", impu(n), "--scheme", "digest", "--password-file",
                password_file(lab, n, pw[n]))
    sc = start_scscf_direct(lab, "--impi-failures", str(FAILURES),
                            "--lockout", "300")
    pc = start_pcscf_plain_core(lab, pki, sc.port)

    # --------------------------------------------------------- control
    relay = Relay(lab, pc.port, impi(CONTROL), pw[CONTROL])
    rc, out = svcrack(lab, "svcrack-control", CONTROL,
                      words(lab.path("control.txt"), pw[CONTROL], 0), relay,
                      30)
    relay.stop()
    lab.check(relay.error is None and relay.verified,
              "control: the relay spoke TLS to the P-CSCF, its certificate "
              "verified (%s)" % relay.error)
    lab.check(re.search(r"(?m)^\|?\s*%s\s*\|\s*%s\s*\|?\s*$" %
                        (re.escape(impi(CONTROL)), re.escape(pw[CONTROL])),
                        out) is not None and
              any(st == 200 for _, st in relay.statuses),
              "control: svcrack finds a password that is its first word "
              "(exit %s: %s)" % (rc, out.strip()[-400:]))

    # -------------------------------------------------------- the attack
    relay = Relay(lab, pc.port, impi(VICTIM), pw[VICTIM])
    t0 = time.monotonic()
    rc, out = svcrack(lab, "svcrack", VICTIM,
                      words(lab.path("words.txt"), pw[VICTIM], FAILURES + 1),
                      relay, BUDGET_S)
    took = time.monotonic() - t0
    relay.stop()
    lab.check(relay.error is None, "the relay ran to the end (%s)" %
              relay.error)
    guesses = [r for r in relay.requests if r[1]]
    refused = [relay.answered(b) for b, _, _ in guesses]
    lab.check(len(guesses) == FAILURES and refused == [403] * FAILURES,
              "svcrack made %d guesses, each refused 403 (got %d: %s)" %
              (FAILURES, len(guesses), refused))
    plain = [relay.answered(b) for b, has, _ in relay.requests if not has]
    lab.check(plain[:FAILURES] == [401] * FAILURES,
              "each guess started from a fresh challenge (401): %s" %
              plain[:FAILURES])
    after = plain[FAILURES:]
    lab.check(len(after) >= 3 and set(after) == {403},
              "then every REGISTER from the attacker got 403 without a "
              "challenge: %d of them in %.0f s" % (len(after), took))
    right = [relay.answered(b) for b, _, ok in relay.requests if ok]
    lab.check(all(st != 200 for st in right),
              "the right password never got through (tried %d times: %s)" %
              (len(right), right))
    lab.check(not any(st == 200 for _, st in relay.statuses) and
              pw[VICTIM] not in out and
              re.search(r"found nothing", out) is not None,
              "svcrack reports nothing within %d s (exit %s: %s)" %
              (BUDGET_S, rc, out.strip()[-300:]))
    lab.check(sc.wait_log(r"IMPI locked for 300 s for requests from "
                          r"127\.0\.0\.2", 2) is not None,
              "the S-CSCF locked the IMPI for the attacker's source and "
              "logged it")
    n_lock = len([l for l in sc.log_text().splitlines()
                  if "locked" in l and imsi(VICTIM) in l])
    lab.check(1 <= n_lock <= 3,
              "%d refusals, %d log lines about the lock (not one per "
              "request)" % (len(after), n_lock))

    # ------------------------------------- the subscriber is not locked out
    lab.check(sha256_register(lab, pc.port, VICTIM, pw[VICTIM]) == 200,
              "the subscriber from its own address registers with the right "
              "password (SHA-256): the lock holds for the attacker's source")
