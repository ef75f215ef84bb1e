#!/usr/bin/env python3
"""Cx over TLS (RFC 6733 §2.1, §13: TLS from the first octet, mutual
certificates): `imsec hss serve --diameter tls:` and `imsec scscf --hss
diameter+tls:` with certificates from one CA; a REGISTER is challenged
through it. An S-CSCF whose certificate another CA issued is not let in:
its REGISTERs get 504, never a challenge.
"""
import subprocess

from attacklib import HOME, Lab, initial_auth, register, status


def openssl(lab, *args):
    subprocess.run(["openssl"] + list(args), cwd=lab.dir, check=True,
                   capture_output=True, timeout=30)


def make_ca(lab, name):
    openssl(lab, "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
            "-out", name + ".pem", "-subj", "/CN=" + name, "-days", "2")


def make_cert(lab, ca, name, cn):
    openssl(lab, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + cn)
    with open(lab.path(name + ".ext"), "w") as f:
        f.write("subjectAltName=DNS:%s\n" % cn)
    openssl(lab, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
            "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".pem",
            "-days", "2", "-extfile", name + ".ext")


def start_scscf(lab, hss_port, cert, ca, name):
    return lab.start(
        "scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
        "--hss", "diameter+tls:127.0.0.1:%d" % hss_port,
        "--diameter-identity", "scscf." + HOME, "--diameter-realm", HOME,
        "--hss-identity", "hss." + HOME, "--hss-timeout", "1000",
        "--diameter-cert", lab.path(cert + ".pem"),
        "--diameter-key", lab.path(cert + ".key"),
        "--diameter-ca", lab.path(ca + ".pem"),
        "--registrations", lab.path(name + "-reg.db"),
        "--insecure-core", "--peer-addr", "127.0.0.1", name=name,
        ready=r"listening on tcp:127\.0\.0\.1:(\d+)", timeout=20)


def reg(lab, port, n, call_id):
    c = lab.connect_tcp(port)
    c.send(register(n, call_id=call_id, auth=initial_auth(n), via_tp="TCP"))
    r = c.recv_or_none(6)
    c.close()
    return status(r) if r else 0


with Lab() as lab:
    lab.hss_add(1)
    make_ca(lab, "ca")
    make_ca(lab, "rogue-ca")
    make_cert(lab, "ca", "hss", "hss." + HOME)
    make_cert(lab, "ca", "scscf", "scscf." + HOME)
    make_cert(lab, "rogue-ca", "rogue", "scscf." + HOME)
    port = lab.free_port()
    hss = lab.start("hss", "serve", "--db", lab.path("hss.db"),
                    "--diameter", "tls:127.0.0.1:%d" % port,
                    "--diameter-identity", "hss." + HOME,
                    "--diameter-realm", HOME,
                    "--diameter-cert", lab.path("hss.pem"),
                    "--diameter-key", lab.path("hss.key"),
                    "--diameter-ca", lab.path("ca.pem"),
                    ready=r"hss info: listening on diameter tls:127\.0\.0\.1:\d+")

    sc = start_scscf(lab, port, "scscf", "ca", "scscf")
    lab.check("HSS peer open" in sc.log_text(),
              "the S-CSCF opens its TLS peer to the HSS")
    st = reg(lab, sc.port, 1, "tls1@t")
    lab.check(st == 401, "a REGISTER is challenged over Cx on TLS (%s)" % st)
    sc.stop()

    # The rogue certificate names the same identity; freeDiameter wants
    # its own chain in its CA file, so the rogue trusts its own CA.
    bad = start_scscf(lab, port, "rogue", "rogue-ca", "rogue")
    lab.check("HSS peer open" not in bad.log_text(),
              "an S-CSCF with a certificate of another CA is not let in")
    st = reg(lab, bad.port, 1, "tls2@t")
    lab.check(st == 504, "  its REGISTERs get 504 (%s)" % st)
    lab.check(hss.alive(), "the HSS is still up")
