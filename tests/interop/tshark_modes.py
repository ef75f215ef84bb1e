"""A real dissector reads what the daemons send: tshark decrypts each
deployment mode's UE leg with the key log the UE writes (SSLKEYLOGFILE, the
NSS key log format net/ appends to), and its SIP dissector shows the
REGISTER and the answers.

The real daemons run on loopback: an HSS database with one subscriber, the
S-CSCF (plain TCP from 127.0.0.1, --insecure-core), the P-CSCF in front of
it, and `imsec ue register` with SSLKEYLOGFILE set. dumpcap captures on
`lo` only, filtered to the P-CSCF's UE port, for at most 30 s; tshark then
reads the file with the key log and must show, decrypted, the REGISTER
(Request-URI the home domain), the 401 and the 200. The same capture read
without the key log must show no REGISTER (the bytes on the wire are
encrypted).

The decrypted handshake must be the mode's: M1 the P-CSCF's Certificate
alone; M2a a Certificate from each end (the UE's client certificate, `imsec
pki ue`); M3 configured a ServerHello that took the PSK (pre_shared_key)
and no Certificate at all; DTLS a HelloVerifyRequest from the P-CSCF (the
cookie exchange) and the same SIP checks over DTLS 1.2. The SIP
over TLS is dissected by port (`-d tls.port==PORT,sip`).

Exit 77 (ctest SKIP) only when tshark or dumpcap is absent or cannot
capture on lo here; scripts/packages.txt installs tshark for `make test`.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from attacklib import (HOME, K, OPC, TRUST_DOMAIN, Lab, impi,
                       start_pcscf_plain_core, start_scscf_direct)

PCSCF = "pcscf." + HOME
SKIP = 77


def can_capture():
    """dumpcap and tshark exist and dumpcap can open lo (root, or the
    capture capabilities)."""
    if not shutil.which("dumpcap") or not shutil.which("tshark"):
        return "tshark/dumpcap not installed"
    try:
        cp = subprocess.run(["dumpcap", "-i", "lo", "-f", "udp port 9",
                             "-a", "duration:1", "-w", "/dev/null", "-q"],
                            capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "dumpcap: %s" % e
    if cp.returncode != 0:
        return "dumpcap cannot capture on lo: %s" % cp.stderr.strip()[:200]
    return None


why = can_capture()
if why:
    print("skip: %s" % why)
    sys.exit(SKIP)


def ue_profile(lab, pki):
    """Subscriber 1's ISIM profile trusting the home operator, with the
    lab's K and OPc."""
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


class Capture:
    """dumpcap on lo with a capture filter, bounded by `limit` seconds;
    stopped by its pid."""

    def __init__(self, lab, name, bpf, limit=30):
        self.file = lab.path(name + ".pcapng")
        self.log = lab.path(name + ".dumpcap.log")
        with open(self.log, "w") as lf:
            self.p = subprocess.Popen(
                ["dumpcap", "-i", "lo", "-f", bpf, "-a",
                 "duration:%d" % limit, "-w", self.file],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=lf)
        # Capturing once it says so (the file exists and the line shows).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(self.log) as f:
                if "Capturing on" in f.read():
                    break
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # the filter is attached after the line

    def stop(self):
        time.sleep(0.5)  # the last segments reach the ring buffer
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)


def tshark_sip(capture, keylog, decode):
    """Every SIP message tshark dissects in the capture: (method or status,
    request URI) per line. `decode` are the -d options, or a Lua line (no
    "==") run with -X lua_script; keylog None reads without keys."""
    args = ["tshark", "-n", "-r", capture.file, "-Y", "sip"]
    for d in decode:
        if "==" in d:
            args += ["-d", d]
        else:
            lua = capture.file + ".lua"
            with open(lua, "w") as f:
                f.write(d + "\n")
            args += ["-X", "lua_script:" + lua]
    if keylog:
        args += ["-o", "tls.keylog_file:" + keylog]
    args += ["-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code",
             "-e", "sip.r-uri", "-E", "separator=|"]
    cp = subprocess.run(args, capture_output=True, text=True, timeout=60)
    rows = []
    for line in cp.stdout.splitlines():
        method, code, ruri = (line.split("|") + ["", "", ""])[:3]
        rows.append((method or code, ruri))
    return rows, cp.stderr


def tshark_rows(capture, keylog, decode, flt, fields):
    """Rows of `fields` for the packets matching display filter `flt`."""
    args = ["tshark", "-n", "-r", capture.file, "-Y", flt,
            "-o", "tls.keylog_file:" + keylog]
    for d in decode:
        if "==" in d:
            args += ["-d", d]
    for f in fields:
        args += ["-e", f]
    cp = subprocess.run(args + ["-T", "fields", "-E", "separator=|"],
                        capture_output=True, text=True, timeout=60)
    return [l.split("|") for l in cp.stdout.splitlines() if l.strip()]


def check_handshake(lab, mode, port, cap, keylog, decode):
    """What the decrypted handshake shows is the mode's: who sent a
    Certificate (type 11), and whether the ServerHello took a PSK
    (pre_shared_key, extension 41)."""
    if mode == "DTLS":
        certs = []
    else:
        certs = tshark_rows(cap, keylog, decode, "tls.handshake.type == 11",
                            ["tcp.srcport"])
    from_ue = [r for r in certs if r[0] and int(r[0]) != port]
    from_pcscf = [r for r in certs if r[0] and int(r[0]) == port]
    psk = tshark_rows(cap, keylog, decode, "tls.handshake.type == 2 && "
                      "tls.handshake.extension.type == 41", ["frame.number"])
    if mode == "M1":
        lab.check(from_pcscf and not from_ue and not psk,
                  "M1: the P-CSCF's Certificate alone, no PSK")
    elif mode == "M2a":
        lab.check(from_pcscf and from_ue and not psk,
                  "M2a: a Certificate from each end (UE %d, P-CSCF %d)" %
                  (len(from_ue), len(from_pcscf)))
    elif mode == "DTLS":
        hvr = tshark_rows(cap, keylog, decode, "dtls.handshake.type == 3",
                          ["udp.srcport"])
        lab.check(hvr and all(int(r[0]) == port for r in hvr),
                  "DTLS: the P-CSCF sent a HelloVerifyRequest (the cookie "
                  "exchange, RFC 6347 §4.2.1; %d)" % len(hvr))
    elif mode == "M3":
        lab.check(psk and not certs,
                  "M3: the ServerHello takes the PSK (%d), no Certificate "
                  "at all (%d)" % (len(psk), len(certs)))


def check_mode(lab, mode, port, cap, keylog, decode, rc, ue_err):
    lab.check(rc == 0, "%s: the UE registered (exit %d%s)" %
              (mode, rc, (": " + ue_err.strip()[-200:]) if rc else ""))
    lab.check(os.path.exists(keylog) and os.path.getsize(keylog) > 0,
              "%s: the UE wrote its key log" % mode)
    rows, err = tshark_sip(cap, keylog, decode)
    regs = [r for r in rows if r[0] == "REGISTER"]
    lab.check(len(regs) >= 2 and all(r[1] == "sip:" + HOME for r in regs),
              "%s: tshark decrypts both REGISTERs to sip:%s (%s)" %
              (mode, HOME, rows or err.strip()[:200]))
    codes = [r[0] for r in rows]
    lab.check("401" in codes and "200" in codes,
              "%s: and the 401 and the 200 (%s)" % (mode, codes))
    check_handshake(lab, mode, port, cap, keylog, decode)
    plain, _ = tshark_sip(cap, None, decode)
    lab.check(not [r for r in plain if r[0] == "REGISTER"],
              "%s: without the key log tshark sees no REGISTER" % mode)


def profile_add(lab, src, name, extra):
    """A copy of profile `src` with YAML lines `extra` appended."""
    path = lab.path(name)
    with open(src) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n" + "".join(
            "%s: \"%s\"\n" % kv for kv in extra))
    os.chmod(path, 0o600)
    return path


def secret_file(lab, name, text):
    path = lab.path(name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def run_mode(lab, mode, pc, port, proto, profile, pcscf_arg, decode,
             *ue_extra):
    """Capture `proto` port `port` on lo while `imsec ue register` runs
    against the P-CSCF `pc` with SSLKEYLOGFILE set, then check what
    tshark reads."""
    cap = Capture(lab, mode, "%s port %d" % (proto, port))
    keylog = lab.path(mode + ".keys")
    cp = subprocess.run([lab.imsec, "ue", "register", "-c", profile,
                         "--pcscf", pcscf_arg, "--pcscf-name", PCSCF,
                         "--timeout", "10"] + list(ue_extra), cwd=lab.dir,
                        capture_output=True, text=True, timeout=40,
                        env=dict(os.environ, SSLKEYLOGFILE=keylog))
    cap.stop()
    check_mode(lab, mode, port, cap, keylog, decode, cp.returncode,
               cp.stderr)
    pc.stop()


def tls_decode(port):
    return ["tcp.port==%d,tls" % port, "tls.port==%d,sip" % port]


with Lab() as lab:
    pki = lab.pki(operators=("001",))
    lab.hss_add(1)
    profile = ue_profile(lab, pki)
    sc = start_scscf_direct(lab)
    op_ca = os.path.join(pki, "op-mcc001-mnc001.crt")

    # ------------------------------------------------------------ M1
    # TLS 1.3 with the P-CSCF's certificate.
    pc = start_pcscf_plain_core(lab, pki, sc.port, name="pcscf-m1")
    port = pc.ports[0]
    run_mode(lab, "M1", pc, port, "tcp", profile, "127.0.0.1:%d" % port,
             tls_decode(port))

    # ------------------------------------------------------------ M2a
    # The UE shows its certificate (imsec pki ue) when the P-CSCF asks.
    out = lab.run("pki", "ue", "--dir", pki, "--mcc", "001", "--mnc",
                  "001", "--impi", impi(1)).stdout
    chain = re.search(r"(?m)^chain=(.*)$", out).group(1)
    key = re.search(r"(?m)^key=(.*)$", out).group(1)
    prof = profile_add(lab, profile, "ue-m2a.yaml",
                       [("cert_file", chain), ("key_file", key)])
    pc = start_pcscf_plain_core(
        lab, pki, sc.port, "--client-cert", "require", "--ue-ca",
        os.path.join(pki, "root.crt"), "--ue-ca", op_ca,
        name="pcscf-m2a")
    port = pc.ports[0]
    run_mode(lab, "M2a", pc, port, "tcp", prof, "127.0.0.1:%d" % port,
             tls_decode(port))

    # ------------------------------------------------------------ M3
    # Shared-key TLS, the key configured at both ends: the TLS 1.3
    # external PSK handshake decrypts with the key log as well.
    hexkey = "00112233445566778899aabbccddeeff" * 2
    pskf = secret_file(lab, "pcscf.psk", "# IMPI key\n%s %s\n" %
                       (impi(1), hexkey))
    uekey = secret_file(lab, "ue.psk", hexkey + "\n")
    prof = profile_add(lab, profile, "ue-m3.yaml",
                       [("psk_identity", impi(1)), ("psk_file", uekey)])
    pc = start_pcscf_plain_core(lab, pki, sc.port, "--psk-file", pskf,
                                name="pcscf-m3")
    port = pc.ports[0]
    run_mode(lab, "M3", pc, port, "tcp", prof, "127.0.0.1:%d" % port,
             tls_decode(port), "--psk")

    # ------------------------------------------------------------ DTLS
    # SIP over DTLS 1.2 on UDP: tshark decodes DTLS on the port (-d) and,
    # with the key log, SIP inside it. tshark 4.0 has no "Decode As" from
    # DTLS to SIP (its dtls.port table offers CoAP, Diameter and a few
    # others), so a one-line Lua script adds SIP to that table.
    pc = start_pcscf_plain_core(lab, pki, sc.port, "--listen",
                                "dtls:127.0.0.1:0", name="pcscf-dtls")
    m = pc.wait_log(r"dtls:127\.0\.0\.1:(\d+)", 5)
    lab.check(m is not None, "DTLS: the P-CSCF listens on dtls:")
    if m:
        port = int(m.group(1))
        run_mode(lab, "DTLS", pc, port, "udp", profile,
                 "dtls:127.0.0.1:%d" % port,
                 ["udp.port==%d,dtls" % port,
                  'DissectorTable.get("dtls.port"):add(%d, '
                  'Dissector.get("sip"))' % port])
