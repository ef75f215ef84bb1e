"""The P-CSCF's core side (Mw) over mutual TLS, TS 33.210 Za/Zb with
certificates as TS 33.310 profiles them.

- `openssl s_server` stands in for a TLS S-CSCF that requires a client
  certificate (-Verify, -CAfile): the P-CSCF's forwarded REGISTER reaches it
  over TLS, with the P-CSCF's network-element certificate (its subject in
  s_server's output) and a Path that says transport=tls.
- The same s_server with a certificate of the wrong name, of a CA outside
  the anchors and an expired one: the UE gets 503 and the P-CSCF's log says
  why (name mismatch, chain invalid, certificate expired).
- The P-CSCF's TLS core listener wants a client certificate from the core
  CA; a plain core listener (--insecure-core) takes connections from the
  --peer-addr addresses only.
"""
import os
import re
import socket
import ssl

from attacklib import exit_within
from attacklib import (HOME, Lab, openssl_s_server, register, request,
                       status)

SCSCF = "scscf." + HOME
PCSCF = "pcscf." + HOME


def node_cert(lab, host):
    """A network-element certificate (EKU serverAuth and clientAuth) for
    `host` under the operator CA of MNC 01, from `imsec pki node` (made
    once): (chain, key) paths."""
    d = lab.path("pki")
    base = os.path.join(d, "node-" + host)
    if not os.path.exists(base + ".chain.pem"):
        lab.run("pki", "node", "--dir", d, "--mcc", "001", "--mnc", "01",
                "--host", host)
    return base + ".chain.pem", base + ".key"


def server_cert(lab, kind):
    """S-CSCF certificates for s_server: (cert, key, chain-or-None)."""
    d = lab.path("pki")
    if kind == "good":
        # s_server reads the leaf of the chain file; the CA goes apart.
        return node_cert(lab, SCSCF) + (os.path.join(d, "op-mcc001-mnc001.crt"),)
    if kind == "wrong-name":
        # Valid under the operator CA, but it names another host.
        lab.run("pki", "pcscf", "--dir", d, "--mcc", "001", "--mnc", "01",
                "--host", "other." + HOME)
        b = os.path.join(d, "other." + HOME)
        return b + ".crt", b + ".key", os.path.join(d, "op-mcc001-mnc001.crt")
    args = ["pki", "rogue", "--dir", d, "--kind", kind, "--host", SCSCF]
    if kind == "expired":
        args += ["--mcc", "001", "--mnc", "01"]
    lab.run(*args)
    b = os.path.join(d, "rogue-" + kind)
    chain = os.path.join(d, "op-mcc001-mnc001.crt") if kind == "expired" \
        else None
    return b + ".crt", b + ".key", chain


def pcscf(lab, route, *extra, name=None):
    return lab.start(
        "pcscf", "--listen", "tls:127.0.0.1:0",
        "--cert", lab.path("pki", PCSCF + ".chain.pem"),
        "--key", lab.path("pki", PCSCF + ".key"),
        "--route", route, "--log-level", "debug", *extra, name=name,
        ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
              r"(?:tls|tcp):127\.0\.0\.1:(\d+)")


def core_args(lab, node):
    return ("--core-cert", node[0], "--core-key", node[1],
            "--core-ca", lab.path("pki", "root.crt"))


def ue_register(lab, pc, n=1):
    """A UE's initial REGISTER through the P-CSCF: the answer or None."""
    c = lab.connect_tls(pc.ports[0])
    try:
        c.send(register(n))
        return c.recv_or_none(8.0)
    finally:
        c.close()


def expect_no_answer(lab, port, call_id, what, **tls):
    """A TLS client (lab.connect_tls with `tls`) that the listener must not
    serve: the handshake fails, or (TLS 1.3: a refused client certificate
    shows on the first read) its OPTIONS gets no answer."""
    try:
        c = lab.connect_tls(port, **tls)
        c.send(request("OPTIONS", "sip:x@" + HOME, "sip:a@" + HOME,
                       "sip:x@" + HOME, call_id, 1))
        lab.check(c.recv_or_none(3) is None, what)
        c.close()
    except (ssl.SSLError, OSError):
        lab.check(True, what)


with Lab() as lab:
    lab.pki(operators=("001",))
    node = node_cert(lab, PCSCF)

    # ------------------------------------------------ a good TLS S-CSCF
    good = openssl_s_server(lab, "s_server-good", *server_cert(lab, "good"))
    pc = pcscf(lab, "%s=tls:127.0.0.1:%d;name=%s" % (HOME, good.port, SCSCF),
               *core_args(lab, node), name="pcscf-good")
    lab.check(re.search(r"and tls:127\.0\.0\.1:\d+ \(S-CSCFs\)",
                        pc.log_text()) is not None,
              "the core listener runs TLS by default")
    c = lab.connect_tls(pc.ports[0])
    c.send(register(1))
    got = good.wait_log(r"^REGISTER sip:" + re.escape(HOME), 8)
    lab.check(got is not None, "the REGISTER reached the TLS S-CSCF")
    out = good.log_text()
    lab.check(re.search(r"^subject=.*CN ?= ?" + re.escape(PCSCF), out, re.M)
              is not None,
              "s_server saw the P-CSCF's client certificate (%s)" % PCSCF)
    lab.check(re.search(r"^Path: <sip:[0-9a-f]+@127\.0\.0\.1:%d;transport=tls;"
                        % pc.ports[1], out, re.M) is not None,
              "the Path names the TLS core listener (transport=tls)")
    lab.check(pc.wait_log(r"S-CSCF tls:127\.0\.0\.1:%d presented %s" %
                          (good.port, re.escape(SCSCF)), 3) is not None,
              "the P-CSCF logged the S-CSCF's verified name")
    c.close()
    pc.stop()  # s_server serves one connection at a time

    # --------------------------------------- S-CSCFs that must be refused
    for kind, reason in (("wrong-name", r"name mismatch \(other\."),
                         ("selfsigned", r"chain invalid"),
                         ("expired", r"certificate expired")):
        srv = openssl_s_server(lab, "s_server-" + kind,
                               *server_cert(lab, kind))
        p = pcscf(lab, "%s=tls:127.0.0.1:%d;name=%s" % (HOME, srv.port, SCSCF),
                  *core_args(lab, node), name="pcscf-" + kind)
        r = ue_register(lab, p)
        lab.check(status(r) == 503,
                  "%s S-CSCF: the UE gets 503 (got %s)" %
                  (kind, r.split("\r\n", 1)[0] if r else "nothing"))
        lab.check(p.wait_log(r"refused S-CSCF tls:127\.0\.0\.1:%d on flow \d+: "
                             % srv.port + reason, 3) is not None,
                  "%s S-CSCF: one log line says why (/%s/)" % (kind, reason))
        lab.check(not re.search(r"^REGISTER ", srv.log_text(), re.M),
                  "%s S-CSCF: no SIP byte reached it" % kind)
        p.stop()
        srv.stop()

    # The route's name goes out as SNI.
    srv = openssl_s_server(lab, "s_server-sni", *server_cert(lab, "good"),
                           sni=SCSCF)
    p = pcscf(lab, "%s=tls:127.0.0.1:%d;name=%s" % (HOME, srv.port, SCSCF),
              *core_args(lab, node), name="pcscf-sni")
    ue_register(lab, p)
    lab.check(srv.wait_log(r'Hostname in TLS extension: "%s"' %
                           re.escape(SCSCF), 3) is not None,
              "the route's name is the SNI")
    p.stop()
    srv.stop()

    # A route that names the host itself (resolved with getaddrinfo, the
    # first answer dialled: s_server listens on 127.0.0.1 only).
    first = socket.getaddrinfo("localhost", good.port, 0,
                               socket.SOCK_STREAM)[0][4][0]
    p = pcscf(lab, "%s=tls:localhost:%d" % (HOME, good.port),
              *core_args(lab, node), name="pcscf-hostname")
    r = ue_register(lab, p)
    lab.check(status(r) == 503 and (first != "127.0.0.1" or p.wait_log(
        r"refused S-CSCF tls:localhost:%d on flow \d+: name mismatch" %
        good.port, 3) is not None),
        "tls:localhost:PORT checks the name 'localhost' (mismatch, 503)")
    p.stop()

    # ------------------------------------------------- refused at start
    rc, err = exit_within(lab, ["pcscf", "--listen", "tls:127.0.0.1:0",
                                "--cert", lab.path("pki", PCSCF + ".chain.pem"),
                                "--key", lab.path("pki", PCSCF + ".key"),
                                "--route", "%s=tls:127.0.0.1:1;name=%s" %
                                (HOME, SCSCF),
                                "--core-cert", node[0], "--core-key", node[1]])
    lab.check(rc == 2 and "--core-ca" in err,
              "a tls: route without --core-ca: exit 2 (got %s)" % rc)
    rc, err = exit_within(lab, ["pcscf", "--listen", "tls:127.0.0.1:0",
                                "--cert", lab.path("pki", PCSCF + ".chain.pem"),
                                "--key", lab.path("pki", PCSCF + ".key"),
                                "--route", "%s=tcp:127.0.0.1:1" % HOME])
    lab.check(rc == 2 and "--insecure-core" in err,
              "a tcp: route without --insecure-core: exit 2 (got %s)" % rc)
    rc, err = exit_within(lab, ["pcscf", "--listen", "tls:127.0.0.1:0",
                                "--cert", lab.path("pki", PCSCF + ".chain.pem"),
                                "--key", lab.path("pki", PCSCF + ".key"),
                                "--route", "%s=tcp:127.0.0.1:1" % HOME,
                                "--insecure-core"])
    lab.check(rc == 2 and "--peer-addr" in err,
              "--insecure-core without --peer-addr: exit 2 (got %s)" % rc)

    # ------------------------------------------ the TLS core listener
    sc_node = node_cert(lab, SCSCF)
    p = pcscf(lab, "%s=tls:127.0.0.1:1;name=%s" % (HOME, SCSCF),
              *core_args(lab, node), name="pcscf-listener")
    core_port = p.ports[1]
    expect_no_answer(lab, core_port, "nocert@atk",
                     "core listener: no client certificate, no answer",
                     ca=lab.path("pki", "root.crt"))
    d = lab.path("pki")
    lab.run("pki", "rogue", "--dir", d, "--kind", "selfsigned", "--host",
            SCSCF, "--force")
    expect_no_answer(lab, core_port, "rogue@atk",
                     "core listener: an untrusted client certificate, no "
                     "answer",
                     cert=os.path.join(d, "rogue-selfsigned.crt"),
                     key=os.path.join(d, "rogue-selfsigned.key"))
    sc = lab.connect_tls(core_port, cert=sc_node[0], key=sc_node[1],
                         ca=lab.path("pki", "root.crt"))
    # A request for a UE with a token that names no flow: a core flow gets
    # 430 (RFC 5626 §5.3); a UE's flow would get 403.
    sc.send(request("MESSAGE", "sip:001010000000001@" + HOME,
                    "sip:a@" + HOME, "sip:001010000000001@" + HOME,
                    "core@atk", 1, via_host="127.0.0.1:5061",
                    headers="Route: <sip:%s@127.0.0.1:%d;lr>\r\n" %
                    ("0" * 40, core_port)))
    r = sc.recv_or_none(5)
    lab.check(status(r) == 430,
              "core listener: the S-CSCF's certificate is accepted and its "
              "request treated as from the core (got %s)" %
              (r.split("\r\n", 1)[0] if r else "nothing"))
    lab.check(p.wait_log(r"core flow \d+ from tls:127\.0\.0\.1:\d+ presents "
                         + re.escape(SCSCF), 2) is not None,
              "core listener: the S-CSCF's name is logged")
    sc.close()
    p.stop()

    # ------------------------------ a plain core listener, peers by address
    p = pcscf(lab, "%s=tcp:127.0.0.1:1" % HOME, "--insecure-core",
              "--peer-addr", "127.0.0.2", name="pcscf-insecure")
    lab.check(p.wait_log(r"warn: --insecure-core: plain TCP allowed .* "
                         r"accepted from 127\.0\.0\.2$", 2) is not None,
              "--insecure-core logs a warning at start")
    lab.check(re.search(r"and tcp:127\.0\.0\.1:\d+ \(S-CSCFs\)",
                        p.log_text()) is not None,
              "--insecure-core: the core listener is plain TCP")
    t = lab.connect_tcp(p.ports[1])
    t.send(request("OPTIONS", "sip:x@" + HOME, "sip:a@" + HOME,
                   "sip:x@" + HOME, "peer@atk", 1, via_tp="TCP"))
    lab.check(t.closed_within(3) and t.received == 0,
              "plain core listener: 127.0.0.1 is no --peer-addr: closed, "
              "nothing answered")
    lab.check(p.wait_log(r"refused core flow \d+ from tcp:127\.0\.0\.1:\d+: "
                         r"not a configured peer address", 2) is not None,
              "plain core listener: the refusal is logged")
    t.close()
    p.stop()
    # A listed address is served.
    p = pcscf(lab, "%s=tcp:127.0.0.1:1" % HOME, "--insecure-core",
              "--peer-addr", "127.0.0.1", name="pcscf-insecure2")
    t = lab.connect_tcp(p.ports[1])
    t.send(request("OPTIONS", "sip:x@" + HOME, "sip:a@" + HOME,
                   "sip:x@" + HOME, "peer2@atk", 1, via_tp="TCP",
                   headers="Route: <sip:%s@127.0.0.1:%d;lr>\r\n" %
                   ("0" * 40, p.ports[1])))
    r = t.recv_or_none(5)
    lab.check(r is not None and status(r) != 0,
              "plain core listener: a --peer-addr address is served (%s)"
              % (r.split("\r\n", 1)[0] if r else "nothing"))
    t.close()
    p.stop()
