"""The UE decides before it speaks: `imsec ue register` against rogue TLS
P-CSCFs (RFC 3261 §26.3.2.1, RFC 5922 §7, DESIGN.md §3).

Each rogue is a TLS server of this script holding a certificate the UE must
refuse (self-signed, expired, named outside the trust domain, issued by an
operator that is no roaming partner, naming another host than the one
dialled, a partner's under strict-home). It counts every octet of
application data it receives after the handshake and answers a REGISTER
with a 401 of the home realm, as a rogue fishing for the IMPI would. The UE
must refuse each with the right reason and the rogue must have received
0 octets (so never the IMPI), on one connection (a trust refusal is final,
not retried). A P-CSCF with a good certificate whose challenge carries a
foreign realm is refused at the 401, after the one REGISTER.

Then the retries of `imsec ue register` within --timeout: a P-CSCF that
starts listening late, a 503 with Retry-After (honoured), a Retry-After
beyond --timeout (given up at once), a server that never finishes the
handshake (retried after the handshake timeout), and a host name that does
not resolve (one line, exit 2).
"""
import os
import re
import socket
import ssl
import subprocess
import threading
import time

from attacklib import (Lab, HOME, VISITED, TRUST_DOMAIN, K, OPC, impi,
                       hdr, response_to)

PCSCF_HOME = "pcscf." + HOME
PCSCF_VISITED = "pcscf." + VISITED
OTHER = "ims.mnc003.mcc001.3gppnetwork.org"
PCSCF_OTHER = "pcscf." + OTHER


class FakePcscf(threading.Thread):
    """A TLS server on 127.0.0.1 playing a P-CSCF. `answer(msg, conn_no,
    nth)` gives the response text for each SIP message received (None:
    no answer). Counts handshakes, connections, application octets and
    keeps every octet received. `port` 0 picks one; `delay` waits before
    listening (a P-CSCF that starts late). With `tls` False it accepts TCP
    and never speaks (a handshake that never completes)."""

    def __init__(self, chain, key, answer=None, port=0, delay=0.0, tls=True):
        super().__init__(daemon=True)
        self.answer = answer
        self.delay = delay
        self.tls = tls
        self.lock = threading.Lock()
        self.octets = 0
        self.data = b""
        self.connections = 0
        self.handshakes = 0
        self.messages = []  # (monotonic time, connection number, text)
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(chain, key)
        self.port = port
        if port == 0:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
            s.close()
        self.sock = None
        self.threads = []

    def run(self):
        if self.delay:
            self.stopping.wait(self.delay)
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        ls.settimeout(0.1)
        self.sock = ls
        self.ready.set()
        n = 0
        while not self.stopping.is_set():
            try:
                c, _ = ls.accept()
            except (socket.timeout, OSError):
                continue
            n += 1
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=self.serve, args=(c, n), daemon=True)
            t.start()
            self.threads.append(t)
        ls.close()

    def serve(self, c, conn_no):
        try:
            if not self.tls:
                c.settimeout(0.2)
                while not self.stopping.is_set():
                    try:
                        if not c.recv(4096):
                            return
                    except socket.timeout:
                        continue
                return
            c.settimeout(5)
            try:
                t = self.ctx.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError):
                return
            with self.lock:
                self.handshakes += 1
            t.settimeout(0.2)
            buf = b""
            nth = 0
            while not self.stopping.is_set():
                try:
                    d = t.recv(65536)
                except socket.timeout:
                    continue
                except (ssl.SSLError, OSError):
                    return
                if not d:
                    return
                with self.lock:
                    self.octets += len(d)
                    self.data += d
                buf += d
                while b"\r\n\r\n" in buf:
                    head, rest = buf.split(b"\r\n\r\n", 1)
                    m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)",
                                  head)
                    n = int(m.group(1)) if m else 0
                    if len(rest) < n:
                        break
                    msg = (head + b"\r\n\r\n" + rest[:n]).decode(
                        errors="replace")
                    buf = rest[n:]
                    nth += 1
                    with self.lock:
                        self.messages.append((time.monotonic(), conn_no, msg))
                    if self.answer:
                        out = self.answer(msg, conn_no, nth)
                        if out:
                            t.sendall(out.encode())
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.join(5)
        for t in self.threads:
            t.join(5)


def challenge_401(realm):
    """A 401 with a Digest AKA challenge of `realm` (the nonce is random:
    the UE decides on the realm before it looks at it)."""
    def answer(msg, conn_no, nth):
        if not msg.startswith("REGISTER "):
            return None
        ch = ('Digest realm="%s",nonce="%s",algorithm=AKAv1-MD5,qop="auth"'
              % (realm, "A" * 44))
        return response_to(msg, 401, "Unauthorized",
                           "WWW-Authenticate: %s\r\n"
                           "Security-Server: tls;q=0.1\r\n" % ch)
    return answer


def ok_200(msg):
    contact = hdr(msg, "Contact") or ""
    expires = "0" if "expires=0" in contact else "600"
    uri = re.search(r"<([^>]*)>", contact)
    return response_to(msg, 200, "OK",
                       "Contact: <%s>;expires=%s\r\n" %
                       (uri.group(1) if uri else "sip:ue@invalid", expires))


def ue_profile(lab, pki):
    """An ISIM profile of subscriber 1 trusting the home operator and
    partner 002, with the lab's K and OPc."""
    path = lab.path("ue.yaml")
    lab.run("isim", "new", "--imsi", "001010000000001", "--mnc-len", "2",
            "--trust-domain", TRUST_DOMAIN, "--anchors",
            os.path.join(pki, "root.crt"), "--home-ca",
            os.path.join(pki, "op-mcc001-mnc001.crt"), "--partner",
            os.path.join(pki, "op-mcc001-mnc002.crt"), "--out", path)
    with open(path) as f:
        text = f.read()
    text = re.sub(r'(?m)^k: .*$', 'k: "%s"' % K, text)
    text = re.sub(r'(?m)^opc: .*$', 'opc: "%s"' % OPC, text)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def ue_register(lab, profile, port, name, *extra, timeout_s=10):
    """Run `imsec ue register` to completion: (exit code, stdout, stderr,
    seconds it took)."""
    t0 = time.monotonic()
    cp = subprocess.run([lab.imsec, "ue", "register", "-c", profile,
                         "--pcscf", "127.0.0.1:%d" % port, "--pcscf-name",
                         name, "--timeout", str(timeout_s)] + list(extra),
                        cwd=lab.dir, capture_output=True, text=True,
                        timeout=timeout_s + 30)
    return cp.returncode, cp.stdout, cp.stderr, time.monotonic() - t0



def register_with(lab, profile, srv, name, *extra, timeout_s=10,
                  wait_ready=True, settle=0.0):
    """Start the fake P-CSCF `srv` (waiting until it listens unless
    wait_ready is off), run ue_register against it, give late octets
    `settle` seconds to arrive, and stop it: ue_register's result."""
    srv.start()
    if wait_ready:
        srv.ready.wait(5)
    try:
        r = ue_register(lab, profile, srv.port, name, *extra,
                        timeout_s=timeout_s)
        if settle:
            time.sleep(settle)
    finally:
        srv.stop()
    return r

with Lab() as lab:
    pki = lab.pki(operators=("001", "002", "003"))
    P = lambda *a: os.path.join(pki, *a)  # noqa: E731
    lab.run("pki", "rogue", "--dir", pki, "--kind", "selfsigned", "--host",
            PCSCF_HOME)
    lab.run("pki", "rogue", "--dir", pki, "--kind", "outside", "--host",
            "pcscf.rogue.example")
    lab.run("pki", "rogue", "--dir", pki, "--kind", "expired", "--host",
            PCSCF_HOME, "--mcc", "001", "--mnc", "01")
    profile = ue_profile(lab, pki)
    home = (P(PCSCF_HOME + ".chain.pem"), P(PCSCF_HOME + ".key"))
    me = impi(1).encode()

    # ------------------------------------------------ certificate rogues
    rogues = [
        ("self-signed", P("rogue-selfsigned.chain.pem"),
         P("rogue-selfsigned.key"), PCSCF_HOME, (), "chain-invalid"),
        ("expired", P("rogue-expired.chain.pem"), P("rogue-expired.key"),
         PCSCF_HOME, (), "expired"),
        ("outside the trust domain", P("rogue-outside.chain.pem"),
         P("rogue-outside.key"), "pcscf.rogue.example", (),
         "name-outside-trust-domain"),
        ("not a roaming partner", P(PCSCF_OTHER + ".chain.pem"),
         P(PCSCF_OTHER + ".key"), PCSCF_OTHER, (), "not-a-roaming-partner"),
        ("wrong name (home certificate, other host dialled)", home[0],
         home[1], "pcscf2." + HOME, (), "name-mismatch"),
        ("partner under strict-home", P(PCSCF_VISITED + ".chain.pem"),
         P(PCSCF_VISITED + ".key"), PCSCF_VISITED,
         ("--policy", "strict-home"), "name-outside-home-domain"),
    ]
    for what, chain, key, name, extra, reason in rogues:
        srv = FakePcscf(chain, key, challenge_401(HOME))
        rc, out, err, _ = register_with(lab, profile, srv, name, *extra,
                                        settle=0.2)
        lab.check(rc == 1, "%s: imsec ue register exits 1 (got %d)" %
                  (what, rc))
        lab.check("trust: rejected [%s]" % reason in out,
                  "%s: decision line 'trust: rejected [%s]' (got %r)" %
                  (what, reason, out.strip().splitlines()[:1]))
        lab.check("refused: P-CSCF not trusted [%s]" % reason in out,
                  "%s: refused with the reason" % what)
        lab.check(srv.octets == 0,
                  "%s: the rogue received 0 application octets (got %d)" %
                  (what, srv.octets))
        lab.check(me not in srv.data,
                  "%s: the IMPI never reached the rogue" % what)
        lab.check(srv.connections == 1,
                  "%s: refused for good, no retry (%d connections)" %
                  (what, srv.connections))

    # ------------------------------------ a foreign realm: at the 401 only
    srv = FakePcscf(home[0], home[1], challenge_401(VISITED))
    rc, out, err, _ = register_with(lab, profile, srv, PCSCF_HOME, settle=0.2)
    lab.check(rc == 1 and "trust: rejected [realm-mismatch]" in out,
              "realm mismatch: refused at the 401 (rc %d, %r)" %
              (rc, out.strip().splitlines()[:1]))
    regs = [m for _, _, m in srv.messages if m.startswith("REGISTER ")]
    lab.check(len(srv.messages) == 1 and len(regs) == 1,
              "realm mismatch: exactly the one REGISTER that asked for the "
              "challenge (%d messages)" % len(srv.messages))
    lab.check(all('response=""' in (hdr(m, "Authorization") or "")
                  for m in regs),
              "realm mismatch: no credentials sent")

    # ------------------------------------------------------------ retries
    # A P-CSCF that starts listening 2 s after the UE: connections refused,
    # retried with back-off, registered within --timeout.
    srv = FakePcscf(home[0], home[1], lambda m, c, n: ok_200(m),
                    port=Lab.free_port(), delay=2.0)
    rc, out, err, took = register_with(lab, profile, srv, PCSCF_HOME,
                                       timeout_s=15, wait_ready=False)
    lab.check(rc == 0 and "registered: " in out,
              "late P-CSCF: registered within --timeout (rc %d, %.1f s)" %
              (rc, took))
    lab.check(re.search(r"connection failed \(.*\); retry 1 in 500 ms", err)
              is not None and "; retry 2 in 1000 ms" in err,
              "late P-CSCF: each retry logged, with back-off")
    lab.check("trust: trusted (home)" in out, "late P-CSCF: trusted (home)")

    # A 503 with Retry-After: 2 on the first connection: the next REGISTER
    # comes on a new connection, not before 2 s.
    def busy_once(msg, conn_no, nth):
        if conn_no == 1:
            return response_to(msg, 503, "Service Unavailable",
                               "Retry-After: 2\r\n")
        return ok_200(msg)
    srv = FakePcscf(home[0], home[1], busy_once)
    rc, out, err, took = register_with(lab, profile, srv, PCSCF_HOME,
                                       timeout_s=15)
    regs = [(t, c) for t, c, m in srv.messages if m.startswith("REGISTER ")]
    lab.check(rc == 0 and "registered: " in out,
              "503 Retry-After 2: registered on retry (rc %d)" % rc)
    lab.check(len(regs) >= 2 and regs[1][1] == 2 and
              regs[1][0] - regs[0][0] >= 1.9,
              "503 Retry-After 2: the next REGISTER on a new connection after "
              "%.2f s" % (regs[1][0] - regs[0][0] if len(regs) >= 2 else -1))
    lab.check("503 from the P-CSCF (Retry-After 2 s); retry 1 in 2000 ms"
              in err, "503 Retry-After 2: the retry is logged")

    # A Retry-After beyond --timeout: given up at once, not waited for.
    srv = FakePcscf(home[0], home[1],
                    lambda m, c, n: response_to(m, 503, "Service Unavailable",
                                                "Retry-After: 120\r\n"))
    rc, out, err, took = register_with(lab, profile, srv, PCSCF_HOME,
                                       timeout_s=6)
    lab.check(rc == 1 and took < 5 and
              "(Retry-After 120 s); the next attempt would come later" in out,
              "503 Retry-After 120 > --timeout 6: failed at once (rc %d, "
              "%.1f s, %r)" % (rc, took, out.strip().splitlines()[-1:]))
    lab.check(srv.connections == 1, "503 Retry-After 120: one connection")

    # A server that accepts TCP and never answers the TLS handshake: the
    # handshake times out (--timeout / 3) and is retried.
    srv = FakePcscf(None, None, tls=False)
    rc, out, err, took = register_with(lab, profile, srv, PCSCF_HOME,
                                       timeout_s=6)
    lab.check(rc == 1 and srv.connections >= 2 and "; retry 1 in" in err,
              "silent server: the handshake timeout is retried (%d "
              "connections, rc %d, %.1f s)" % (srv.connections, rc, took))
    lab.check(took < 8, "silent server: ends within --timeout")

    # A host name that does not resolve: one line, exit 2, at once.
    cp = lab.run("ue", "register", "-c", profile, "--pcscf",
                 "pcscf.no-such-host.invalid:5061", check=False)
    lines = cp.stderr.strip().splitlines()
    lab.check(cp.returncode == 2 and len(lines) == 1 and
              lines[0].startswith(
                  "imsec ue: cannot resolve pcscf.no-such-host.invalid: "),
              "unresolvable P-CSCF: one line, exit 2 (rc %d, %r)" %
              (cp.returncode, lines))
