"""Mode M3, shared-key TLS, with the real daemons on loopback and real
peers (docs/M3.md).

World: `imsec pki` (root, operator CAs, P-CSCF and node certificates),
`imsec hss add`, an S-CSCF on a TLS core (so it gives CK and IK to the
certificate-authenticated P-CSCF), a P-CSCF with --psk-file and --aka-psk,
`imsec isim new` profiles for the UE.

- Configured: `imsec ue register --psk` registers on the profile's PSK
  (no certificate), "tls: psk (configured)"; a UE with the wrong key gets
  no registration; a psk file readable by others is refused at start
  (one line, exit 2).
- AKA-derived: `imsec ue message --aka-psk --reconnect` registers (over
  the certificate), drops the connection, comes back on the derived PSK
  ("reconnected: tls: psk (derived)") and a MESSAGE to itself goes out and
  comes back over the new connection: the P-CSCF moved the binding. The
  401 never showed ck=/ik= to the UE.
- Real peer: `openssl s_client` with -psk_identity/-psk over TLS 1.3 and
  TLS 1.2 ECDHE-PSK-CHACHA20-POLY1305: the handshake is accepted and a
  REGISTER of the identity's IMPI gets an answer (401); another IMPI gets
  403; a wrong key is refused in the handshake.
"""
import os
import re
import shutil
import signal
import subprocess
import time

from attacklib import HOME, K, OPC, TRUST_DOMAIN, Lab, impi, register, status

PCSCF = "pcscf." + HOME
SCSCF = "scscf." + HOME
PSK_HEX = "8c5f0e7a1b2d3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6"
WRONG_HEX = "00" * 32


def node_cert(lab, host):
    cp = lab.run("pki", "node", "--dir", lab.path("pki"), "--mcc", "001",
                 "--mnc", "01", "--host", host)
    files = dict(re.findall(r"^(\w+)=(.*)$", cp.stdout, re.M))
    return tuple(f if f.startswith("/") else lab.path(f)
                 for f in (files["chain"], files["key"]))


def private(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def ue_profile(lab, name, psk_hex=None):
    pki = lab.path("pki")
    path = lab.path(name + ".yaml")
    lab.run("isim", "new", "--imsi", "001010000000001", "--mnc-len", "2",
            "--trust-domain", TRUST_DOMAIN, "--anchors",
            os.path.join(pki, "root.crt"), "--home-ca",
            os.path.join(pki, "op-mcc001-mnc001.crt"), "--out", path)
    with open(path) as f:
        text = f.read()
    text = re.sub(r'(?m)^k: .*$', 'k: "%s"' % K, text)
    text = re.sub(r'(?m)^opc: .*$', 'opc: "%s"' % OPC, text)
    if psk_hex:
        private(lab.path(name + ".psk"), psk_hex + "\n")
        text += "psk_identity: %s\npsk_file: %s\n" % (impi(1),
                                                     name + ".psk")
    private(path, text)
    return path


def ue(lab, *args, timeout_s=15):
    return subprocess.run([lab.imsec, "ue"] + list(args), cwd=lab.dir,
                          capture_output=True, text=True,
                          timeout=timeout_s + 30)


def s_client(lab, port, version, identity, key, msg=None, cipher=None,
             wait=r"SIP/2\.0 \d{3}", timeout=8.0, extra=()):
    """openssl s_client with a PSK and no certificate: (handshake ok, the
    SIP answer's status or 0, its output)."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
            version, "-psk_identity", identity, "-psk", key, "-crlf",
            "-ign_eof", "-nocommands"] + list(extra)
    if cipher:
        args += ["-cipher", cipher]
    p = subprocess.Popen(args, cwd=lab.dir, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(p.stdout.fileno(), False)
    out = b""
    deadline = time.monotonic() + timeout
    sent = False
    code = 0
    while time.monotonic() < deadline:
        try:
            chunk = p.stdout.read()
        except (BlockingIOError, TypeError):
            chunk = None
        if chunk:
            out += chunk
        text = out.decode(errors="replace")
        if not sent and msg and re.search(r"(?m)^(---|Verify return|"
                                          r"Protocol\s*:)", text):
            try:
                p.stdin.write(msg.replace("\r\n", "\n").encode())
                p.stdin.flush()
            except OSError:
                pass  # s_client is gone: the handshake failed
            sent = True
        m = re.search(wait, text) if sent else None
        if m:
            code = status(m.group(0) + " x")
            break
        if p.poll() is not None:
            try:
                rest = p.stdout.read()
                out += rest or b""
            except (BlockingIOError, TypeError):
                pass
            break
        time.sleep(0.05)
    if p.poll() is None:
        p.kill()
    p.wait()
    text = out.decode(errors="replace")
    # An external PSK shows as "Reused" in s_client's summary.
    ok = bool(re.search(r"(?m)^(New|Reused), TLSv1\.[23]", text)) and \
        not re.search(r"alert|handshake failure|errno", text, re.I)
    return ok, code, text


def main():
    with Lab() as lab:
        lab.pki(operators=("001",))
        lab.hss_add(1)
        sc_cert = node_cert(lab, SCSCF)
        pc_core = node_cert(lab, PCSCF)
        root = lab.path("pki", "root.crt")
        sc = lab.start("scscf", "--listen", "tls:127.0.0.1:0", "--domain",
                       HOME, "--db", lab.path("hss.db"), "--cert", sc_cert[0],
                       "--key", sc_cert[1], "--ca", root,
                       "--log-level", "debug",
                       ready=r"listening on tls:127\.0\.0\.1:(\d+)")
        psk_file = private(lab.path("pcscf.psk"),
                           "# IMPI key\n%s %s\n" % (impi(1), PSK_HEX))

        # A PSK file others can read is refused at start, in one line.
        loose = lab.path("loose.psk")
        shutil.copy(psk_file, loose)
        os.chmod(loose, 0o644)
        base = ["pcscf", "--listen", "tls:127.0.0.1:0",
                "--cert", lab.path("pki", PCSCF + ".chain.pem"),
                "--key", lab.path("pki", PCSCF + ".key"),
                "--route", "%s=tls:127.0.0.1:%d;name=%s" % (HOME, sc.port,
                                                            SCSCF),
                "--core", "tls:127.0.0.1:0", "--core-cert", pc_core[0],
                "--core-key", pc_core[1], "--core-ca", root]
        cp = lab.run(*(base + ["--psk-file", loose]), check=False)
        lines = [l for l in cp.stderr.splitlines() if l.strip()]
        lab.check(cp.returncode == 2 and len(lines) == 1 and
                  "chmod 600" in cp.stderr,
                  "a psk file readable by others: one line, exit 2")

        for name, text, why in (
                ("badhex.psk", "# ok\n%s zz11\n" % impi(1), r":2: key is not hex"),
                ("twice.psk", "%s %s\n%s %s\n" % (impi(1), PSK_HEX, impi(1),
                                                  PSK_HEX), r":2: identity given twice"),
                ("nokey.psk", "%s\n" % impi(1), r":1: no key"),
                # 64 bits: too short to stand an offline search
                ("short.psk", "%s 0011223344556677\n" % impi(1),
                 r":1: key is not hex of 16 to 64 octets")):
            f = private(lab.path(name), text)
            cp = lab.run(*(base + ["--psk-file", f]), check=False)
            lab.check(cp.returncode == 2 and re.search(why, cp.stderr) and
                      len(cp.stderr.strip().splitlines()) == 1,
                      "psk file %s refused: %s" % (name, why))

        # The same from the YAML settings (psk_file, aka_psk).
        yml = lab.path("pcscf-bad.yaml")
        with open(yml, "w") as f:
            f.write("aka_psk: maybe\n")
        cp = lab.run(*(base + ["-c", yml]), check=False)
        lab.check(cp.returncode == 2 and "aka_psk" in cp.stderr,
                  "YAML aka_psk: maybe is refused")
        with open(yml, "w") as f:
            f.write("aka_psk: true\npsk_file: loose.psk\n")
        cp = lab.run(*(base + ["-c", yml]), check=False)
        lab.check(cp.returncode == 2 and "chmod 600" in cp.stderr,
                  "YAML psk_file (relative to the file) is held to mode 0600")

        pc = lab.start(*(base + ["--psk-file", psk_file, "--aka-psk",
                                 "--log-level", "debug"]),
                       ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) "
                             r"and tls:127\.0\.0\.1:(\d+)")
        port = pc.ports[0]
        lab.check(pc.wait_log(r"1 configured PSK\(s\)", 3) is not None,
                  "P-CSCF loaded the configured PSK")

        # ---- configured, with the UE
        prof = ue_profile(lab, "ue-psk", PSK_HEX)
        cp = ue(lab, "register", "-c", prof, "--pcscf", "127.0.0.1:%d" % port,
                "--pcscf-name", PCSCF, "--psk", "--timeout", "15")
        lab.check(cp.returncode == 0 and "registered: " in cp.stdout,
                  "ue register --psk: registered")
        lab.check("tls: psk (configured)" in cp.stdout,
                  "its output says tls: psk (configured)")
        lab.check("trust: trusted" not in cp.stdout,
                  "no certificate decision on the PSK connection")
        bad = ue_profile(lab, "ue-bad", WRONG_HEX)
        cp = ue(lab, "register", "-c", bad, "--pcscf", "127.0.0.1:%d" % port,
                "--pcscf-name", PCSCF, "--psk", "--timeout", "3",
                timeout_s=3)
        lab.check(cp.returncode == 1 and "registered: " not in cp.stdout,
                  "ue register --psk with the wrong key: no registration")

        # ---- AKA-derived, reconnect, MESSAGE over the moved binding
        plain = ue_profile(lab, "ue")
        me = "sip:001010000000001@" + HOME
        cp = ue(lab, "message", "-c", plain, "--pcscf",
                "127.0.0.1:%d" % port, "--pcscf-name", PCSCF, "--aka-psk",
                "--reconnect", "--to", me, "--timeout", "20",
                "hello over the derived PSK", timeout_s=20)
        lab.check(cp.returncode == 0, "ue message --aka-psk --reconnect: exit 0")
        lab.check("reconnected: tls: psk (derived)" in cp.stdout,
                  "reconnected on the derived PSK")
        lab.check("message: delivered" in cp.stdout,
                  "the MESSAGE went out over the new connection")
        lab.check("MESSAGE from" in cp.stdout and
                  "hello over the derived PSK" in cp.stdout,
                  "and came back to the UE over it (the binding moved)")
        lab.check(re.search(r"AKA-derived PSK imsec-aka-[0-9a-f]{32} "
                            r"installed", pc.log_text()) is not None,
                  "the P-CSCF derived and installed the PSK")
        lab.check(re.search(r"binding moved", pc.log_text()) is not None,
                  "the P-CSCF moved the binding to the PSK connection")
        lab.check(not re.search(r'\b(ck|ik)="', cp.stderr),
                  "the UE never saw ck=/ik=")
        if cp.returncode != 0:
            print(cp.stdout, cp.stderr)

        # ---- openssl s_client, the real peer
        reg1 = register(1)
        for ver, cipher in (("-tls1_3", None),
                            ("-tls1_2", "ECDHE-PSK-CHACHA20-POLY1305")):
            ok, code, out = s_client(lab, port, ver, impi(1), PSK_HEX, reg1,
                                     cipher, extra=("-msg",))
            lab.check(ok and code == 401,
                      "s_client %s PSK: handshake accepted, REGISTER "
                      "answered 401 (got %d)" % (ver, code))
            lab.check("no peer certificate available" in out,
                      "s_client %s PSK: no certificate exchanged" % ver)
            if ver == "-tls1_3":
                # A PSK client keeps no session: no ticket is made for it.
                lab.check("NewSessionTicket" not in out,
                          "s_client %s PSK: no session ticket sent" % ver)
            if not (ok and code == 401):
                print(out[-1500:])
        ok, code, out = s_client(lab, port, "-tls1_3", impi(1), PSK_HEX,
                                 register(2))
        lab.check(code == 403,
                  "s_client: a REGISTER of another IMPI on the PSK: 403 "
                  "(got %d)" % code)
        for ver, cipher in (("-tls1_3", None),
                            ("-tls1_2", "ECDHE-PSK-CHACHA20-POLY1305")):
            ok, code, out = s_client(lab, port, ver, impi(1), WRONG_HEX,
                                     reg1, cipher, timeout=4.0)
            lab.check(code == 0 and not ok,
                      "s_client %s with a wrong key: refused" % ver)

        # ---- SIGHUP reads the PSK file again; a loose one is refused
        new_hex = "5a" * 32
        private(psk_file, "%s %s\n" % (impi(1), new_hex))
        pc.signal(signal.SIGHUP)
        lab.check(pc.wait_log(r"pcscf info: reloaded", 5) is not None,
                  "SIGHUP: reloaded")
        ok, code, out = s_client(lab, port, "-tls1_3", impi(1), new_hex, reg1)
        lab.check(ok and code == 401, "after the reload the new key works")
        ok, code, out = s_client(lab, port, "-tls1_3", impi(1), PSK_HEX, reg1,
                                 timeout=4.0)
        lab.check(code == 0 and not ok, "and the old key is refused")
        os.chmod(psk_file, 0o644)
        pc.signal(signal.SIGHUP)
        lab.check(pc.wait_log(r"reload failed: .*chmod 600", 5) is not None,
                  "SIGHUP with a psk file readable by others: reload failed")
        ok, code, out = s_client(lab, port, "-tls1_3", impi(1), new_hex, reg1)
        lab.check(ok and code == 401, "the running keys stay")
        lab.check(pc.alive() and sc.alive(), "daemons alive")


if __name__ == "__main__":
    main()
