"""Modes M2a and M2b with the real daemons and the UE CLI on loopback
(DESIGN.md §2, seed §3.2).

`imsec pcscf --client-cert request --dial-ue`; UE 1 (`imsec ue run
--listen tls:... --close-after-register`, its profile's cert_file and
key_file from `imsec pki ue --server`) registers showing its certificate
(M2a), then closes its connection. A rogue TLS client (a network element
certificate of another name) dialling UE 1's listener is refused by the
UE's trust decision. UE 2 (no certificate: M1 under `request`) sends UE 1
a MESSAGE: the P-CSCF dials UE 1's listener (M2b), UE 1 takes the
connection from the P-CSCF it registered through and receives the MESSAGE.
"""
import os
import re
import subprocess

from attacklib import (HOME, K, OPC, TRUST_DOMAIN, Lab, impi, impu,
                       start_pcscf_plain_core, start_scscf_direct)

PCSCF = "pcscf." + HOME


def profile(lab, d, n, cert=None):
    path = lab.path("ue%d.yaml" % n)
    lab.run("isim", "new", "--imsi", "00101%010d" % n, "--mnc-len", "2",
            "--trust-domain", TRUST_DOMAIN, "--anchors",
            os.path.join(d, "root.crt"), "--home-ca",
            os.path.join(d, "op-mcc001-mnc001.crt"), "--out", path)
    with open(path) as f:
        text = f.read()
    text = re.sub(r'(?m)^k: .*$', 'k: "%s"' % K, text)
    text = re.sub(r'(?m)^opc: .*$', 'opc: "%s"' % OPC, text)
    if cert:
        text += "cert_file: %s\nkey_file: %s\n" % cert
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


with Lab() as lab:
    d = lab.pki(operators=("001",))
    lab.hss_add(1)
    lab.hss_add(2)
    sc = start_scscf_direct(lab)
    p = start_pcscf_plain_core(lab, d, sc.port, "--client-cert", "request",
                               "--dial-ue", "--ue-ca",
                               os.path.join(d, "root.crt"), "--ue-ca",
                               os.path.join(d, "op-mcc001-mnc001.crt"))
    lab.run("pki", "ue", "--dir", d, "--mcc", "001", "--mnc", "001",
            "--impi", impi(1), "--server")
    base = os.path.join(d, "ue-" + impi(1))
    ue1 = profile(lab, d, 1, (base + ".chain.pem", base + ".key"))
    ue2 = profile(lab, d, 2)
    # A client-only certificate cannot serve: refused at start.
    lab.run("pki", "ue", "--dir", d, "--mcc", "001", "--mnc", "001",
            "--impi", impi(3))
    b3 = os.path.join(d, "ue-" + impi(3))
    ue3 = profile(lab, d, 3, (b3 + ".chain.pem", b3 + ".key"))
    lport = lab.free_port()
    cp = lab.run("ue", "run", "-c", ue3, "--pcscf", "127.0.0.1:%d" % p.port,
                 "--pcscf-name", PCSCF, "--listen",
                 "tls:127.0.0.1:%d" % lport, check=False)
    lab.check(cp.returncode == 2 and "no EKU serverAuth" in cp.stderr,
              "a UE certificate without serverAuth cannot serve --listen")

    u1 = lab.start("ue", "run", "-c", ue1, "--pcscf", "127.0.0.1:%d" % p.port,
                   "--pcscf-name", PCSCF, "--listen",
                   "tls:127.0.0.1:%d" % lport, "--close-after-register",
                   name="ue1",
                   ready=r"connection closed \(close-after-register\)")
    lab.check(p.wait_log(r"presents the certificate of IMPI %s" %
                         re.escape(impi(1))) is not None,
              "M2a: the P-CSCF took UE 1's client certificate")
    lab.check(p.wait_log(r"registered IMPI %s .*" % re.escape(impi(1)))
              is not None and
              p.wait_log(r"kept until expiry without a flow") is not None,
              "M2b: UE 1 registered and closed; its binding stays")

    # A TLS client that is not the P-CSCF: refused by the UE.
    lab.run("pki", "node", "--dir", d, "--mcc", "001", "--mnc", "001",
            "--host", "rogue." + HOME)
    rb = os.path.join(d, "node-rogue." + HOME)
    s = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % lport, "-cert", rb + ".chain.pem",
                        "-cert_chain", rb + ".chain.pem", "-key",
                        rb + ".key", "-quiet"], input=b"OPTIONS x\r\n\r\n",
                       capture_output=True, timeout=10)
    lab.check(u1.wait_log(r"refused inbound connection from .*not the "
                          r"P-CSCF %s \[name-mismatch\]" % re.escape(PCSCF))
              is not None,
              "M2b: UE 1 refuses a client certificate of another name")

    cp = lab.run("ue", "message", "-c", ue2, "--pcscf",
                 "127.0.0.1:%d" % p.port, "--pcscf-name", PCSCF, "--to",
                 impu(1), "--timeout", "15", "hello M2b", check=False)
    lab.check(cp.returncode == 0 and "delivered" in cp.stdout,
              "M2b: UE 2's MESSAGE to UE 1 is delivered (%s)" %
              cp.stdout.strip().splitlines()[-1:])
    lab.check(p.wait_log(r"presents IMPI %s: binding moved there" %
                         re.escape(impi(1))) is not None,
              "M2b: the P-CSCF dialled UE 1 and checked its certificate")
    lab.check(u1.wait_log(r"inbound connection from .*: P-CSCF %s trusted" %
                          re.escape(PCSCF)) is not None,
              "M2b: UE 1 trusted the P-CSCF's client certificate")
    lab.check(u1.wait_log(r"<- MESSAGE from %s" % re.escape(impu(2)))
              is not None, "M2b: UE 1 received the MESSAGE")
    # Stopping UE 1 while parked: it connects again and de-registers, so
    # the P-CSCF stops dialling it.
    u1.stop()
    lab.check(p.wait_log(r"de-registered IMPI %s" % re.escape(impi(1)), 8)
              is not None, "M2b: UE 1 de-registers on its way out")
