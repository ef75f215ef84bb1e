"""SIP over DTLS (draft-jennings-sip-dtls) between the real daemons: an
S-CSCF (plain TCP core, as the other labs run it), a P-CSCF listening on
tls: and dtls: at once (--listen repeated), and `imsec ue register --pcscf
dtls:...`: the UE makes the same trust decision on the P-CSCF's
certificate, registers with Digest AKA over the DTLS association, and the
REGISTER carries Via SIP/2.0/DTLS-UDP and Contact ;transport=dtls-udp.
The same UE profile registers over tls: on the same P-CSCF too. Through a
lossy relay that drops the first SIP record each way, the UE's Timer E
retransmission gets the registration through and the P-CSCF absorbs the
copy and sends its lost answer again (RFC 3261 §17).

The real peer: `openssl s_client -dtls1_2` completes the handshake with
the P-CSCF's DTLS listener (stateless cookie exchange, RFC 6347 §4.2.1),
and a ClientHello from a source that never answers the HelloVerifyRequest
(as a spoofed address would not) gets only that request back and creates
no flow at the P-CSCF."""
import os
import re
import shutil
import socket
import select
import subprocess
import threading
import time

from attacklib import HOME, K, OPC, TRUST_DOMAIN, Lab, start_scscf_direct

PCSCF_NAME = "pcscf." + HOME


def ue_profile(lab, pki):
    path = lab.path("ue.yaml")
    lab.run("isim", "new", "--imsi", "001010000000001", "--mnc-len", "2",
            "--trust-domain", TRUST_DOMAIN, "--anchors",
            os.path.join(pki, "root.crt"), "--home-ca",
            os.path.join(pki, "op-mcc001-mnc001.crt"), "--out", path)
    with open(path) as f:
        text = f.read()
    text = re.sub(r'(?m)^k: .*$', 'k: "%s"' % K, text)
    text = re.sub(r'(?m)^opc: .*$', 'opc: "%s"' % OPC, text)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def ue_register(lab, profile, addr, *extra, timeout_s=10, name=PCSCF_NAME):
    cp = subprocess.run([lab.imsec, "ue", "register", "-c", profile,
                         "--pcscf", addr, "--pcscf-name", name,
                         "--timeout", str(timeout_s), "--ladder"] +
                        list(extra), cwd=lab.dir, capture_output=True,
                        text=True, timeout=timeout_s + 20)
    return cp.returncode, cp.stdout, cp.stderr


class LossyRelay:
    """A UDP relay between one UE and the P-CSCF's DTLS listener that
    drops the first DTLS application-data record (content type 23) in each
    direction, as a lossy network would: the UE's first REGISTER and the
    P-CSCF's first answer never arrive."""

    def __init__(self, target_port):
        self.down = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.down.bind(("127.0.0.1", 0))
        self.port = self.down.getsockname()[1]
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.bind(("127.0.0.1", 0))
        self.up.connect(("127.0.0.1", target_port))
        self.ue = None
        self.dropped = {"up": 0, "down": 0}
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def lose(self, way, data):
        if data[:1] == b"\x17" and not self.dropped[way]:
            self.dropped[way] = 1
            return True
        return False

    def run(self):
        while not self.stop:
            r, _, _ = select.select([self.down, self.up], [], [], 0.2)
            for s in r:
                try:
                    if s is self.down:
                        data, self.ue = s.recvfrom(65536)
                        if not self.lose("up", data):
                            self.up.send(data)
                    else:
                        data = s.recv(65536)
                        if self.ue and not self.lose("down", data):
                            self.down.sendto(data, self.ue)
                except OSError:
                    pass

    def close(self):
        self.stop = True


def client_hello_dtls12():
    """A minimal DTLS 1.2 ClientHello (RFC 6347 §4.2.2, no cookie): what a
    spoofed source sends; the answer goes to an address that never
    replies."""
    body = bytearray()
    body += b"\xfe\xfd"                      # client_version DTLS 1.2
    body += os.urandom(32)                   # random
    body += b"\x00"                          # session_id
    body += b"\x00"                          # cookie (empty)
    suites = b"\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30"
    body += len(suites).to_bytes(2, "big") + suites
    body += b"\x01\x00"                      # compression: null
    ext = bytearray()
    groups = b"\x00\x04\x00\x17\x00\x1d"     # supported_groups
    ext += b"\x00\x0a" + len(groups).to_bytes(2, "big") + groups
    sigs = b"\x00\x04\x04\x03\x08\x04"       # signature_algorithms
    ext += b"\x00\x0d" + len(sigs).to_bytes(2, "big") + sigs
    ext += b"\x00\x0b\x00\x02\x01\x00"       # ec_point_formats
    ext += b"\x00\x17\x00\x00"               # extended_master_secret
    body += len(ext).to_bytes(2, "big") + ext
    n = len(body)
    hs = b"\x01" + n.to_bytes(3, "big") + b"\x00\x00" + b"\x00\x00\x00" + \
        n.to_bytes(3, "big") + bytes(body)
    rec = b"\x16\xfe\xff" + b"\x00\x00" + b"\x00" * 6 + \
        len(hs).to_bytes(2, "big") + hs
    return rec


with Lab() as lab:
    pki = lab.pki(operators=("001",))
    lab.hss_add(1)
    scscf = start_scscf_direct(lab)
    pcscf = lab.start(
        "pcscf", "--listen", "tls:127.0.0.1:0", "--listen", "dtls:127.0.0.1:0",
        "--cert", "%s/pcscf.%s.chain.pem" % (pki, HOME),
        "--key", "%s/pcscf.%s.key" % (pki, HOME),
        "--route", "%s=tcp:127.0.0.1:%d" % (HOME, scscf.port),
        "--core", "tcp:127.0.0.1:0", "--insecure-core",
        "--peer-addr", "127.0.0.1", "--log-level", "debug",
        ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
        r"tcp:127\.0\.0\.1:(\d+)")
    m = pcscf.wait_log(r"listening on dtls:127\.0\.0\.1:(\d+) \(UEs\)", 5)
    lab.check(m is not None, "the P-CSCF listens on dtls: besides tls:")
    dport = int(m.group(1)) if m else 0
    profile = ue_profile(lab, pki)

    rc, out, err = ue_register(lab, profile, "dtls:127.0.0.1:%d" % dport)
    lab.check(rc == 0, "imsec ue register --pcscf dtls: registers (exit %d)"
              % rc)
    if rc != 0:
        print(err)
    lab.check("DTLS flow up to" in err, "the UE's flow is DTLS")
    lab.check("Via: SIP/2.0/DTLS-UDP" in err,
              "the REGISTER's Via names DTLS-UDP")
    lab.check(";transport=dtls-udp" in err,
              "the Contact names transport=dtls-udp")
    lab.check("trust: trusted (home)" in out,
              "the UE's trust decision accepts the home P-CSCF over DTLS")

    # The same trust decision refuses a P-CSCF name the certificate does
    # not carry: nothing registers.
    rc2, out2, _ = ue_register(lab, profile, "dtls:127.0.0.1:%d" % dport,
                               name="pcscf.elsewhere.example", timeout_s=5)
    lab.check(rc2 != 0 and "trust: rejected" in out2,
              "a DTLS P-CSCF failing the trust decision is refused")

    # A lossy path: the first REGISTER and the first answer are lost; the
    # UE sends the REGISTER again on Timer E (T1 = 500 ms), the P-CSCF
    # absorbs the copy or sends its answer again, and the registration
    # completes.
    relay = LossyRelay(dport)
    t0 = time.monotonic()
    rc, out, err = ue_register(lab, profile, "dtls:127.0.0.1:%d" % relay.port)
    took = time.monotonic() - t0
    relay.close()
    lab.check(rc == 0 and relay.dropped == {"up": 1, "down": 1},
              "a REGISTER and an answer lost on the way: registered anyway "
              "(exit %d, %.1f s)" % (rc, took))
    lab.check("sent again (Timer E" in err,
              "the UE retransmitted on Timer E")
    lab.check(pcscf.wait_log(r"retransmitted REGISTER on flow \d+ absorbed",
                             3) is not None,
              "the P-CSCF absorbed the retransmitted REGISTER")
    lab.check(pcscf.wait_log(r"REGISTER on flow \d+ absorbed; answer sent "
                             r"again", 3) is not None,
              "the P-CSCF sent its lost answer again")

    # A MESSAGE to itself: out over DTLS, forked back by the S-CSCF, in
    # over the same association (the P-CSCF's client transaction towards
    # the UE) and answered.
    cp = subprocess.run([lab.imsec, "ue", "message", "-c", profile,
                         "--pcscf", "dtls:127.0.0.1:%d" % dport,
                         "--pcscf-name", PCSCF_NAME, "--timeout", "10",
                         "--to", "sip:001010000000001@" + HOME, "hello dtls"],
                        cwd=lab.dir, capture_output=True, text=True,
                        timeout=30)
    lab.check(cp.returncode == 0 and "hello dtls" in cp.stdout,
              "imsec ue message over DTLS reaches the UE and is answered "
              "(exit %d)" % cp.returncode)
    if cp.returncode != 0:
        print(cp.stdout, cp.stderr)

    rc, out, err = ue_register(lab, profile, "tls:127.0.0.1:%d" % pcscf.port)
    lab.check(rc == 0, "the same P-CSCF registers a UE over tls: (exit %d)"
              % rc)

    # --listen takes tls: and dtls: only; YAML listen: takes a list.
    cp = subprocess.run([lab.imsec, "pcscf", "--listen", "udp:127.0.0.1:0"],
                        cwd=lab.dir, capture_output=True, text=True,
                        timeout=10)
    lab.check(cp.returncode == 2 and "is not tls:HOST:PORT or dtls:HOST:PORT"
              in cp.stderr, "--listen udp: refused (exit 2)")
    yml = lab.path("pcscf.yaml")
    with open(yml, "w") as f:
        f.write("listen: [tls:127.0.0.1:0, dtls:127.0.0.1:0]\n"
                "cert: %s/pcscf.%s.chain.pem\nkey: %s/pcscf.%s.key\n"
                "routes: [%s=tcp:127.0.0.1:%d]\ncore: tcp:127.0.0.1:0\n"
                "insecure_core: true\npeer_addrs: 127.0.0.1\n"
                % (pki, HOME, pki, HOME, HOME, scscf.port))
    p2 = lab.start("pcscf", "-c", yml, name="pcscf_yaml",
                   ready=r"listening on dtls:127\.0\.0\.1:(\d+) \(UEs\)")
    lab.check("listening on tls:127.0.0.1:" in p2.log_text(),
              "YAML listen: [tls:..., dtls:...] opens both listeners")
    p2.stop()

    # The real peer: openssl s_client -dtls1_2 through the cookie exchange.
    if shutil.which("openssl"):
        p = subprocess.run(
            ["openssl", "s_client", "-dtls1_2", "-connect",
             "127.0.0.1:%d" % dport, "-servername", PCSCF_NAME,
             "-CAfile", os.path.join(pki, "root.crt"), "-verify_return_error",
             "-msg"],
            input="", capture_output=True, text=True, timeout=15)
        both = p.stdout + p.stderr
        open(lab.path("s_client.out"), "w").write(both)
        # -msg dumps DTLS handshake messages raw: the first one received
        # is of type 3, HelloVerifyRequest, and a second ClientHello (type
        # 1, message_seq 1) carries the cookie.
        got = re.findall(r"^<<< .*content_type=22.*\n\s+([0-9a-f]{2}) ", both,
                         re.M)
        sent = re.findall(r"^>>> .*content_type=22.*\n\s+([0-9a-f]{2}) ", both,
                          re.M)
        lab.check(got[:1] == ["03"] and sent[:2] == ["01", "01"],
                  "s_client got a HelloVerifyRequest and sent its cookie "
                  "(stateless cookie exchange)")
        lab.check(re.search(r"Verify return code: 0 \(ok\)", both) is not None
                  and "DTLSv1.2" in both,
                  "openssl s_client -dtls1_2 completes the handshake")
    else:
        lab.check(False, "openssl is installed")

    # A ClientHello from a source that never answers the cookie: only a
    # HelloVerifyRequest comes back, and the P-CSCF has no flow for it.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    src = s.getsockname()[1]
    s.sendto(client_hello_dtls12(), ("127.0.0.1", dport))
    try:
        data, _ = s.recvfrom(4096)
    except socket.timeout:
        data = b""
    lab.check(len(data) > 13 and data[0] == 0x16 and data[13] == 3,
              "a cookieless ClientHello gets a HelloVerifyRequest")
    time.sleep(0.5)
    s.close()
    log = pcscf.log_text()
    lab.check(("127.0.0.1:%d" % src) not in log,
              "no flow from the unanswered source at the P-CSCF")
