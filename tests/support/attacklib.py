"""Shared helpers for the attack tests (tests/attack/*.py): start real imsec
daemons on loopback in a temporary folder, talk SIP to them over TCP or TLS
as an attacker would, and count results as "N passed, N failed".

Everything binds to 127.0.0.1; every wait is bounded; every process started
here is stopped by its pid in Lab.close() (also on an exception).

A test looks like:

    from attacklib import Lab, HOME
    with Lab() as lab:
        lab.pki()                       # root, operator CAs, P-CSCF certs
        lab.hss_add(1)                  # subscriber 00101000000000{1}
        sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", ...,
                       ready=r"listening on tcp:127.0.0.1:(\\d+)")
        c = lab.connect_tcp(sc.port)
        c.send(lab.register(1))
        r = c.recv()
        lab.check(status(r) == 401, "challenged")
    # Lab.__exit__ prints the summary and exits 0 or 1.
"""
import base64
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HOME = "ims.mnc001.mcc001.3gppnetwork.org"
VISITED = "ims.mnc002.mcc001.3gppnetwork.org"
TRUST_DOMAIN = "3gppnetwork.org"
# TS 35.208 test set 1 (K, OPc), as the demo and the CLI tests use.
K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
AMF = "8000"


def imsi(n):
    return "00101%010d" % n


def impi(n, domain=HOME):
    return "%s@%s" % (imsi(n), domain)


def impu(n, domain=HOME):
    return "sip:%s@%s" % (imsi(n), domain)


# ------------------------------------------------------------------ SIP text

def status(msg):
    """The status code of a response, or 0 for a request / nothing."""
    if not msg or not msg.startswith("SIP/2.0 "):
        return 0
    return int(msg.split(" ", 2)[1])


def hdrs(msg, name):
    """Every value of header `name` (case-insensitive), in order."""
    out = []
    for line in msg.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def hdr(msg, name):
    v = hdrs(msg, name)
    return v[0] if v else None


def digest_param(value, name):
    m = re.search(r'(?i)\b%s\s*=\s*("([^"]*)"|[^,\s]+)' % re.escape(name),
                  value or "")
    if not m:
        return None
    return m.group(2) if m.group(2) is not None else m.group(1)


def response_to(req, code, reason, extra=""):
    """A response to request text `req` (Via, From, To + tag, Call-ID, CSeq)."""
    keep = [l for l in req.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
            if l.split(":", 1)[0].strip().lower() in ("via", "from", "call-id",
                                                      "cseq")]
    to = hdr(req, "To") or ""
    if ";tag=" not in to:
        to += ";tag=atk"
    return ("SIP/2.0 %d %s\r\n" % (code, reason) + "\r\n".join(keep) +
            "\r\nTo: " + to + "\r\n" + extra + "Content-Length: 0\r\n\r\n")


_branch = [0]


def branch():
    _branch[0] += 1
    return "z9hG4bKatk%d.%d" % (os.getpid(), _branch[0])


def request(method, ruri, frm, to, call_id, cseq, via_host="127.0.0.1:5999",
            via_tp="TLS", headers="", body=""):
    """A request with the usual headers; `headers` is extra header text with
    CRLFs; Content-Length is computed."""
    b = body.encode() if isinstance(body, str) else body
    return ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <%s>;tag=f%s\r\nTo: <%s>\r\n"
            "Call-ID: %s\r\nCSeq: %d %s\r\n%s"
            "Content-Length: %d\r\n\r\n%s") % (
                method, ruri, via_tp, via_host, branch(), frm,
                re.sub(r"[^A-Za-z0-9]", "", call_id)[:24], to,
                call_id, cseq, method, headers, len(b),
                b.decode(errors="replace"))


SEC_CLIENT = ("Security-Client: tls\r\nRequire: sec-agree\r\n"
              "Proxy-Require: sec-agree\r\n")


def register(n, cseq=1, call_id=None, auth=None, extra="", domain=HOME,
             contact="<sip:ue@127.0.0.1:5999;transport=tls;ob>",
             via_tp="TLS", expires=600):
    """A REGISTER for subscriber n. `auth` is a whole Authorization value or
    None for the initial one (empty nonce and response)."""
    if auth is None:
        auth = ('Digest username="%s",realm="%s",nonce="",uri="sip:%s",'
                'response=""' % (impi(n, domain), domain, domain))
    return request("REGISTER", "sip:" + domain, impu(n, domain),
                   impu(n, domain), call_id or "reg%d@atk" % n, cseq,
                   via_tp=via_tp,
                   headers=("Contact: %s;expires=%d\r\nAuthorization: %s\r\n"
                            "Supported: path, outbound\r\nExpires: %d\r\n%s") %
                   (contact, expires, auth, expires, extra))


# ------------------------------------------------------------------ sockets

class Conn:
    """One SIP stream connection (TCP or TLS) with a framing reader.
    `received` counts every octet read, `sent` every octet written."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.sent = 0
        self.received = 0

    def send(self, text):
        data = text.encode() if isinstance(text, str) else text
        self.sock.sendall(data)
        self.sent += len(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no message within the time")
        self.sock.settimeout(left)
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.received += len(d)
        self.buf += d

    def recv(self, timeout=5.0):
        """The next whole SIP message (str). Skips CRLF keepalives. Raises
        TimeoutError or EOFError."""
        deadline = time.monotonic() + timeout
        while True:
            while self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
            while b"\r\n\r\n" not in self.buf:
                self._fill(deadline)
                while self.buf.startswith(b"\r\n"):
                    self.buf = self.buf[2:]
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            while len(rest) < n:
                self._fill(deadline)
                head, rest = self.buf.split(b"\r\n\r\n", 1)
            self.buf = rest[n:]
            return (head + b"\r\n\r\n" + rest[:n]).decode(errors="replace")

    def recv_or_none(self, timeout=1.0):
        try:
            return self.recv(timeout)
        except (TimeoutError, socket.timeout, EOFError, OSError):
            return None

    def closed_within(self, timeout=3.0):
        """True when the peer closes the connection within `timeout`
        (whatever it sends first is read and dropped)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            return True
        except (TimeoutError, socket.timeout):
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tls_context(cert=None, key=None, ca=None, verify=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    if verify and ca:
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


# ------------------------------------------------------------------ the lab

class Proc:
    def __init__(self, name, popen, log):
        self.name = name
        self.p = popen
        self.log = log
        self.port = None
        self.ports = []

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, regex, timeout=5.0):
        """The first match of `regex` in the process's stderr, waiting up to
        `timeout` seconds; None when it never shows."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(regex, self.log_text(), re.M)
            if m or time.monotonic() > deadline:
                return m
            if self.p.poll() is not None:
                return re.search(regex, self.log_text(), re.M)
            time.sleep(0.05)

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def stop(self, timeout=5.0):
        """SIGTERM, wait; SIGKILL when it does not stop. The exit code."""
        if self.alive():
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                return self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                return self.p.wait(timeout)
        return self.p.returncode


class Lab:
    """A temporary folder, the processes started in it and the check
    counters. Use as a context manager: on exit every process is stopped,
    logs of a failed run are printed, the summary line is printed and the
    program exits 0 (all passed) or 1."""

    def __init__(self, name=None):
        self.imsec = os.environ.get("IMSEC")
        if not self.imsec:
            sys.exit("IMSEC must name the imsec binary")
        self.name = name or os.path.basename(sys.argv[0])
        self.dir = tempfile.mkdtemp(prefix="imsec-attack-")
        self.procs = []
        self.passed = 0
        self.failed = 0

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and et is not SystemExit:
            import traceback
            traceback.print_exception(et, ev, tb)
            self.failed += 1
        for p in self.procs:
            p.stop()
        if self.failed:
            for p in self.procs:
                print("---- %s log (%s)" % (p.name, p.log))
                sys.stdout.write("".join("  | " + l + "\n" for l in
                                         p.log_text().splitlines()[-40:]))
        if os.environ.get("ATTACK_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)

    # ---------------------------------------------------------- checks
    def check(self, ok, what):
        if ok:
            self.passed += 1
            print("ok   " + what, flush=True)
        else:
            self.failed += 1
            print("FAIL " + what, flush=True)
        return ok

    # ---------------------------------------------------------- commands
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def run(self, *args, check=True, stdin=None):
        """Run `imsec ARGS` to completion in the lab folder; the
        CompletedProcess (text). With check, a non-zero exit fails the run."""
        cp = subprocess.run([self.imsec] + list(args), cwd=self.dir,
                            capture_output=True, text=True, timeout=60,
                            input=stdin)
        if check and cp.returncode != 0:
            raise RuntimeError("imsec %s: exit %d: %s" %
                               (" ".join(args), cp.returncode, cp.stderr))
        return cp

    def start(self, *args, name=None, ready=None, timeout=10.0, env=None,
              log_identities=True):
        """Start `imsec ARGS` (stderr to NAME.log in the lab folder; NAME
        defaults to the subcommand, with a number when repeated). With
        `ready`, a regex: wait for it in the log; its groups that are digits
        become .ports (and the first .port). Fails the run when it does not
        show. A daemon (pcscf, scscf, hss serve) logs identities as they
        are (--log-identities): the labs follow their made-up subscribers
        by name; log_identities=False leaves the pseudonyms."""
        if log_identities and (args[:1] in (("pcscf",), ("scscf",)) or
                               tuple(args[:2]) == ("hss", "serve")):
            args = tuple(args) + ("--log-identities",)
        if name is None:
            name = args[0]
            taken = {p.name for p in self.procs}
            k = 2
            while name in taken:
                name = "%s%d" % (args[0], k)
                k += 1
        log = self.path(name + ".log")
        e = dict(os.environ)
        if env:
            e.update(env)
        with open(log, "w") as lf:
            p = subprocess.Popen([self.imsec] + list(args), cwd=self.dir,
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=lf, env=e)
        proc = Proc(name, p, log)
        self.procs.append(proc)
        if ready:
            m = proc.wait_log(ready, timeout)
            if not m:
                raise RuntimeError("%s did not start (no /%s/ in its log):\n%s"
                                   % (name, ready, proc.log_text()))
            proc.ports = [int(g) for g in m.groups() if g and g.isdigit()]
            proc.port = proc.ports[0] if proc.ports else None
        return proc

    def pki(self, operators=("001", "002")):
        """pki/: the IMS root CA, one operator CA per MNC in `operators`
        (MCC 001) and one P-CSCF certificate per operator."""
        d = self.path("pki")
        self.run("pki", "init", "--dir", d, "--trust-domain", TRUST_DOMAIN)
        for mnc in operators:
            self.run("pki", "operator", "--dir", d, "--mcc", "001",
                     "--mnc", mnc)
            self.run("pki", "pcscf", "--dir", d, "--mcc", "001", "--mnc", mnc)
        return d

    def hss_add(self, n, db="hss.db", domain=HOME):
        self.run("hss", "add", "--db", self.path(db), "--impi", impi(n, domain),
                 "--impu", impu(n, domain), "--k", K, "--opc", OPC, "--amf",
                 AMF)

    def hss_sqn(self, n, db="hss.db", domain=HOME):
        """The subscriber's current SQN (hex) as `imsec hss list` shows it."""
        out = self.run("hss", "list", "--db", self.path(db)).stdout
        for line in out.splitlines():
            if impi(n, domain) in line:
                m = re.search(r"sqn=([0-9a-fA-F]+)", line)
                if m:
                    return m.group(1)
        return None

    def challenge_sqn(self, raw_nonce):
        """The SQN a challenge carries, as a UE reads it (TS 33.102 §6.3.3):
        AUTN's first six octets are SQN xor AK, AK = f5(RAND). The HSS
        store holds only a reserved mark (SQN ranges), not the SQN of the
        last vector, so the challenge is where the SQN is."""
        rand, autn = raw_nonce[:16].hex(), raw_nonce[16:32]
        out = self.run("aka", "milenage", "--k", K, "--opc", OPC, "--rand",
                       rand, "--sqn", "000000000000", "--amf", AMF).stdout
        ak = bytes.fromhex(re.search(r"^ak=([0-9a-f]+)$", out, re.M).group(1))
        return bytes(a ^ b for a, b in zip(autn[:6], ak)).hex()

    def aka_authorization(self, n, challenge, method="REGISTER", uri=None,
                          sqn=None, db="hss.db", domain=HOME):
        """The Authorization value answering a 401's WWW-Authenticate for
        subscriber n with the real K (an attacker who holds valid
        credentials). SQN: given, else the HSS's current one."""
        realm = digest_param(challenge, "realm")
        nonce = digest_param(challenge, "nonce")
        alg = digest_param(challenge, "algorithm") or "AKAv1-MD5"
        raw = base64.b64decode(nonce)
        rand = raw[:16].hex()
        sqn = sqn or self.challenge_sqn(raw)
        uri = uri or "sip:" + domain
        out = self.run("aka", "digest", "--alg", alg, "--k", K, "--opc", OPC,
                       "--rand", rand, "--sqn", sqn, "--amf", AMF,
                       "--username", impi(n, domain), "--realm", realm,
                       "--method", method, "--uri", uri).stdout
        resp = re.search(r"^response=([0-9a-f]+)$", out, re.M).group(1)
        opaque = digest_param(challenge, "opaque")
        return ('Digest username="%s",realm="%s",nonce="%s",uri="%s",'
                'response="%s",algorithm=%s%s' %
                (impi(n, domain), realm, nonce, uri, resp, alg,
                 ',opaque="%s"' % opaque if opaque else ""))

    def connect_tcp(self, port, host="127.0.0.1", timeout=5.0):
        return Conn(socket.create_connection((host, port), timeout))

    def connect_tls(self, port, host="127.0.0.1", cert=None, key=None,
                    ca=None, server_name=None, timeout=5.0):
        """TLS to host:port, presenting cert/key when given, verifying the
        server only when `ca` is given. Raises ssl.SSLError when the
        handshake fails (a refused client certificate, say)."""
        ctx = tls_context(cert, key, ca, verify=bool(ca))
        s = socket.create_connection((host, port), timeout)
        try:
            t = ctx.wrap_socket(s, server_hostname=server_name)
        except Exception:
            s.close()
            raise
        return Conn(t)

    @staticmethod
    def free_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        return p


# ------------------------------------------------------------ S-CSCF direct

# The Authorization of an initial REGISTER as a P-CSCF forwards it over TLS
# (TS 24.229: integrity-protected set by the P-CSCF).
INTEGRITY = ',integrity-protected="tls-yes"'


def start_scscf_direct(lab, *extra, db="hss.db", name=None, ready=True):
    """An S-CSCF on a loopback tcp: listener that the tests talk to
    directly, as a P-CSCF would (REGISTERs carry integrity-protected; plain
    TCP from 127.0.0.1 is allowed with --insecure-core). The
    one place that says how such an S-CSCF is started; `extra` are more
    flags. With ready=False it does not wait (for start-up failures)."""
    args = ["scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
            "--db", lab.path(db), "--insecure-core", "--peer-addr",
            "127.0.0.1"] + list(extra)
    return lab.start(*args, name=name,
                     ready=r"listening on tcp:127\.0\.0\.1:(\d+)"
                     if ready else None)


def initial_auth(n, domain=HOME, uri=None):
    """The Authorization of a first REGISTER (empty nonce and response)."""
    return ('Digest username="%s",realm="%s",nonce="",uri="%s",'
            'response=""%s' % (impi(n, domain), domain,
                               uri or "sip:" + domain, INTEGRITY))


# ------------------------------------------------------------ TLS peers

def openssl_s_server(lab, name, cert, key, chain=None, sni=None):
    """`openssl s_server` on 127.0.0.1 as a TLS server that requires a
    client certificate from the IMS root (lab pki/root.crt); stdin stays
    open (EOF would end its connection). `chain` adds intermediate CA
    certificates. With `sni`, s_server logs the SNI it receives (it then
    answers with a second context that has no chain: only the SNI is of
    use). A Proc in the lab, with .port."""
    port = lab.free_port()
    log = lab.path(name + ".log")
    args = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
            "-cert", cert, "-key", key, "-Verify", "2",
            "-CAfile", lab.path("pki", "root.crt")]
    if chain:
        args += ["-cert_chain", chain]
    if sni:
        args += ["-servername", sni, "-cert2", cert, "-key2", key]
    with open(log, "w") as lf:
        p = subprocess.Popen(args, cwd=lab.dir, stdin=subprocess.PIPE,
                             stdout=lf, stderr=subprocess.STDOUT)
    proc = Proc(name, p, log)
    lab.procs.append(proc)
    if not proc.wait_log(r"^ACCEPT", 10):
        raise RuntimeError("s_server did not start:\n" + proc.log_text())
    proc.port = port
    return proc


# ------------------------------------------------------------ other sources

def connect_tls_from(port, src_host, host="127.0.0.1", timeout=5.0):
    """TLS (no client certificate, server not verified) to host:port from
    the local address `src_host` (another loopback address, 127.0.0.2 say),
    so one lab can play UEs at different source addresses."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((src_host, 0))
        s.connect((host, port))
        t = tls_context().wrap_socket(s)
    except Exception:
        s.close()
        raise
    return Conn(t)


def start_pcscf_plain_core(lab, pki, scscf_port, *extra, name=None):
    """A P-CSCF (the home operator's certificate from `pki`) whose route to
    HOME is plain TCP to 127.0.0.1:`scscf_port` with --insecure-core and a
    plain core listener taking 127.0.0.1 only: the one place that says how
    the tests run the P-CSCF in front of a direct-TCP S-CSCF or a fake one.
    .ports = [UE TLS port, core TCP port]."""
    return lab.start("pcscf", "--listen", "tls:127.0.0.1:0",
                     "--cert", "%s/pcscf.%s.chain.pem" % (pki, HOME),
                     "--key", "%s/pcscf.%s.key" % (pki, HOME),
                     "--route", "%s=tcp:127.0.0.1:%d" % (HOME, scscf_port),
                     "--core", "tcp:127.0.0.1:0", "--insecure-core",
                     "--peer-addr", "127.0.0.1", *extra, name=name,
                     ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
                     r"tcp:127\.0\.0\.1:(\d+)")


def exit_within(lab, args, timeout=5.0):
    """`imsec ARGS`' exit code and stderr; (None, ...) when it is still
    running after `timeout` (then it is killed)."""
    p = subprocess.Popen([lab.imsec] + list(args), cwd=lab.dir,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=timeout)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err


def ue_profile(lab, pki, n, partners=()):
    """An ISIM profile for subscriber n (`imsec isim new`, then K and OPc
    of this module), the PKI in folder `pki`; `partners`: the file names
    of roaming partners' operator CAs there. Mode 0600."""
    path = lab.path("ue%d.yaml" % n)
    args = ["isim", "new", "--imsi", imsi(n), "--mnc-len", "2",
            "--trust-domain", TRUST_DOMAIN, "--anchors",
            os.path.join(pki, "root.crt"), "--home-ca",
            os.path.join(pki, "op-mcc001-mnc001.crt")]
    for ca in partners:
        args += ["--partner", os.path.join(pki, ca)]
    lab.run(*(args + ["--out", path]))
    with open(path) as f:
        text = f.read()
    text = re.sub(r'(?m)^k: .*$', 'k: "%s"' % K, text)
    text = re.sub(r'(?m)^opc: .*$', 'opc: "%s"' % OPC, text)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def start_bg(lab, name, *args):
    """`imsec ARGS` in the background: stdout to NAME.out, stderr to
    NAME.log; a Proc of the lab with .out (the stdout file)."""
    log, out = lab.path(name + ".log"), lab.path(name + ".out")
    with open(log, "w") as lf, open(out, "w") as of:
        p = subprocess.Popen([lab.imsec] + list(args), cwd=lab.dir,
                             stdin=subprocess.DEVNULL, stdout=of, stderr=lf)
    proc = Proc(name, p, log)
    proc.out = out
    lab.procs.append(proc)
    return proc


def file_text(path):
    """A file's text, "" when it cannot be read (yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_text(path, regex, timeout):
    """Wait up to `timeout` s for `regex` (multi-line) in the file: the
    match, or None."""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(regex, file_text(path), re.M)
        if m or time.monotonic() > deadline:
            return m
        time.sleep(0.05)
