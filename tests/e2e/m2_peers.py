"""Modes M2a and M2b between the real P-CSCF and real TLS peers on
loopback (DESIGN.md §2, seed §3.2).

- M2a: `openssl s_client` with a UE client certificate (`imsec pki ue`)
  against `imsec pcscf --client-cert require`: accepted, its REGISTER is
  forwarded and the S-CSCF's 401 comes back; a self-signed certificate is
  refused at the handshake; a certificate of another IMPI gets 403 for the
  REGISTER and one log line; no certificate at all: no handshake.
- M2b: `openssl s_server -Verify 1` with a UE server certificate (`imsec
  pki ue --server`) stands for a UE listener. A UE registers (Digest AKA)
  with a Contact naming that port and drops its connection; a MESSAGE to
  it makes `imsec pcscf --dial-ue` open TLS to s_server with its own
  certificate as client certificate (s_server verifies it against the
  root), check the server certificate's sip:IMPI, and deliver: s_server
  prints the MESSAGE. A server certificate of another IMPI gets the caller
  480 and one log line.
"""
import os
import subprocess
import time

from attacklib import (HOME, Lab, digest_param, hdr, impi, impu, register,
                       request, start_pcscf_plain_core, start_scscf_direct,
                       status)


def ue_cert(lab, n, server=False):
    d = lab.path("pki")
    args = ["pki", "ue", "--dir", d, "--mcc", "001", "--mnc", "001",
            "--impi", impi(n), "--force"]
    if server:
        args.append("--server")
    lab.run(*args)
    b = os.path.join(d, "ue-" + impi(n))
    return b + ".chain.pem", b + ".key"


def s_client(lab, port, cert, key, text, want, timeout=4.0):
    """openssl s_client with cert/key to 127.0.0.1:port; sends `text`;
    returns (its output, whether `want` showed within the time)."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
            "-quiet"]  # -quiet: keeps reading after stdin's end
    if cert:
        args += ["-cert", cert, "-key", key, "-cert_chain", cert]
    p = subprocess.Popen(args, cwd=lab.dir, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    try:
        p.stdin.write(text.encode())
        p.stdin.close()
        os.set_blocking(p.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and want.encode() not in out:
            if p.poll() is not None:
                rest = p.stdout.read()
                out += rest or b""
                break
            chunk = p.stdout.read()
            if chunk:
                out += chunk
            else:
                time.sleep(0.05)
    finally:
        p.kill()
        p.wait()
    text = out.decode(errors="replace")
    return text, want in text


def m2a(lab, sc, d):
    p = start_pcscf_plain_core(lab, d, sc.port, "--client-cert", "require",
                               "--ue-ca", os.path.join(d, "root.crt"),
                               "--ue-ca", os.path.join(d, "op-mcc001-mnc001.crt"),
                               name="pcscf-m2a")
    cert, key = ue_cert(lab, 1)
    out, ok = s_client(lab, p.port, cert, key, register(1), "SIP/2.0 401")
    lab.check(ok, "M2a: s_client with the UE's certificate gets the 401")
    lab.check(p.wait_log(r"presents the certificate of IMPI %s" %
                         impi(1).replace(".", r"\.")) is not None,
              "M2a: the P-CSCF logs the certificate's IMPI")
    # another IMPI's certificate: 403, one line
    cert2, key2 = ue_cert(lab, 2)
    out, ok = s_client(lab, p.port, cert2, key2, register(1), "SIP/2.0 403")
    lab.check(ok, "M2a: a certificate of another IMPI gets 403")
    lab.check(p.wait_log(r"403 Authorization username '%s' is not the IMPI "
                         r"of the client certificate" %
                         impi(1).replace(".", r"\.")) is not None,
              "M2a: the 403 is logged with both names")
    # a self-signed certificate: refused at the handshake
    lab.run("pki", "rogue", "--dir", d, "--kind", "selfsigned", "--host",
            "ue.example.net")
    rc = os.path.join(d, "rogue-selfsigned.chain.pem")
    rk = os.path.join(d, "rogue-selfsigned.key")
    out, ok = s_client(lab, p.port, rc, rk, register(1), "SIP/2.0")
    lab.check(not ok, "M2a: a self-signed client certificate gets no answer")
    lab.check(p.wait_log(r"refused UE flow \d+ .*chain-invalid") is not None,
              "M2a: the refusal is logged (chain-invalid)")
    out, ok = s_client(lab, p.port, None, None, register(1), "SIP/2.0")
    lab.check(not ok, "M2a: no certificate, no answer")
    p.stop()


def aka_register(lab, conn, n, contact):
    conn.send(register(n, contact=contact))
    r = conn.recv()
    if status(r) != 401:
        return r
    auth = lab.aka_authorization(n, hdr(r, "WWW-Authenticate"))
    conn.send(register(n, cseq=2, auth=auth, contact=contact))
    return conn.recv()


def s_server(lab, name, cert, key):
    port = lab.free_port()
    log = lab.path(name + ".log")
    args = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
            "-cert", cert, "-key", key, "-cert_chain", cert,
            "-Verify", "1", "-CAfile", lab.path("pki", "root.crt")]
    from attacklib import Proc
    with open(log, "w") as lf:
        pr = subprocess.Popen(args, cwd=lab.dir, stdin=subprocess.PIPE,
                              stdout=lf, stderr=subprocess.STDOUT)
    proc = Proc(name, pr, log)
    lab.procs.append(proc)
    if not proc.wait_log(r"^ACCEPT", 10):
        raise RuntimeError("s_server did not start:\n" + proc.log_text())
    proc.port = port
    return proc


def m2b(lab, sc, d):
    p = start_pcscf_plain_core(lab, d, sc.port, "--dial-ue",
                               "--ue-ca", os.path.join(d, "root.crt"),
                               "--ue-ca", os.path.join(d, "op-mcc001-mnc001.crt"),
                               name="pcscf-m2b")
    cert, key = ue_cert(lab, 1, server=True)
    srv = s_server(lab, "s_server-ue1", cert, key)
    ue1 = lab.connect_tls(p.port)
    r = aka_register(lab, ue1, 1,
                     "<sip:ue@127.0.0.1:%d;transport=tls>" % srv.port)
    lab.check(status(r) == 200, "M2b: UE 1 registered with its TLS listener "
              "as Contact (got %s)" % r.splitlines()[0] if r else None)
    ue1.close()
    lab.check(p.wait_log(r"kept until expiry without a flow") is not None,
              "M2b: its binding outlives the closed connection")
    ue2 = lab.connect_tls(p.port)
    r = aka_register(lab, ue2, 2, "<sip:ue2@127.0.0.1:5999;transport=tls>")
    lab.check(status(r) == 200, "M2b: UE 2 registered")
    ue2.send(request("MESSAGE", impu(1), impu(2), impu(1), "m2b-1@ue2", 1,
                     headers="Content-Type: text/plain\r\n",
                     body="hello over M2b"))
    lab.check(srv.wait_log(r"MESSAGE sip:", 8) is not None and
              srv.wait_log(r"hello over M2b", 2) is not None,
              "M2b: the P-CSCF dialled s_server, which prints the MESSAGE")
    lab.check(p.wait_log(r"presents IMPI %s: binding moved there" %
                         impi(1).replace(".", r"\.")) is not None,
              "M2b: the P-CSCF checked the UE's server certificate")
    lab.check(srv.wait_log(r"verify return:1", 1) is not None,
              "M2b: s_server verified the P-CSCF's client certificate")
    srv.stop()
    # A UE listener whose certificate names another IMPI: 480, logged.
    lab.hss_add(3)
    cert4, key4 = ue_cert(lab, 4, server=True)
    bad = s_server(lab, "s_server-wrong", cert4, key4)
    ue3 = lab.connect_tls(p.port)
    r = aka_register(lab, ue3, 3,
                     "<sip:ue@127.0.0.1:%d;transport=tls>" % bad.port)
    lab.check(status(r) == 200, "M2b: UE 3 registered")
    ue3.close()
    time.sleep(0.3)
    ue2.send(request("MESSAGE", impu(3), impu(2), impu(3), "m2b-2@ue2", 2,
                     headers="Content-Type: text/plain\r\n", body="nope"))
    r = None
    for _ in range(3):
        r = ue2.recv_or_none(8)
        if r is None or status(r) >= 200:
            break
    lab.check(status(r) == 480, "M2b: a UE certificate of another IMPI: "
              "480 to the caller (got %s)" % (r.splitlines()[0] if r else None))
    lab.check(p.wait_log(r"impi-mismatch.*answered 480") is not None,
              "M2b: the refusal is logged")
    lab.check(bad.wait_log(r"nope", 0.5) is None,
              "M2b: nothing reached the wrong UE")
    ue2.close()
    p.stop()


with Lab() as lab:
    d = lab.pki(operators=("001",))
    lab.hss_add(1)
    lab.hss_add(2)
    sc = start_scscf_direct(lab)
    m2a(lab, sc, d)
    m2b(lab, sc, d)
