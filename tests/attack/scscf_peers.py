#!/usr/bin/env python3
"""The S-CSCF trusts only authenticated core peers (TS 33.210 mutual TLS,
TS 33.310 certificates, RFC 3325 trust domain, TS 24.229 §5.4).

An attacker who can reach the S-CSCF's port tries what worked before:
a REGISTER with valid credentials and a forged Path sent straight to it,
a MESSAGE with a forged P-Asserted-Identity, TLS with a self-signed, an
expired, a wrongly named and a non-partner certificate, TLS without a
certificate, and plain TCP from an address that is not listed. Each is
refused (connection closed, or 403) with a log line naming the peer; a
good node certificate of the home operator (and of a roaming partner) is
served, and the S-CSCF delivers towards a UE only to the P-CSCF that
registered it, over TLS with its own certificate.
"""
import re
import socket
import ssl
import threading
import time

from attacklib import (HOME, Conn, Lab, digest_param, hdr, impu, register,
                       request, response_to, status)

PCSCF1 = "pcscf1." + HOME
SCSCF = "scscf." + HOME
VISITED_NODE = "pcscf1.ims.mnc002.mcc001.3gppnetwork.org"
OTHER_NODE = "pcscf1.ims.mnc003.mcc001.3gppnetwork.org"


class TlsPcscf:
    """A P-CSCF's TLS core listener on 127.0.0.1 that requires a client
    certificate (the S-CSCF's) and records every message it gets; it
    answers requests with 200."""

    def __init__(self, cert, key, ca):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.msgs = []
        self.peers = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                s, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        try:
            s.settimeout(5)
            t = self.ctx.wrap_socket(s, server_side=True)
            cert = t.getpeercert()
            self.peers.append(cert)
            c = Conn(t)
            while not self.stop:
                m = c.recv_or_none(0.5)
                if m is None:
                    continue
                self.msgs.append(m)
                if status(m) == 0:
                    c.send(response_to(m, 200, "OK"))
        except (OSError, ssl.SSLError, EOFError):
            pass

    def close(self):
        self.stop = True
        self.sock.close()


def connect_from(port, src):
    """Plain TCP to the S-CSCF from source address `src` (loopback)."""
    s = socket.create_connection(("127.0.0.1", port), 5,
                                 source_address=(src, 0))
    return Conn(s)


def tls_or_none(lab, port, cert=None, key=None):
    try:
        return lab.connect_tls(port, cert=cert, key=key)
    except (ssl.SSLError, OSError):
        return None


def refused(conn, msg):
    """True when the S-CSCF closes `conn` without answering `msg`."""
    if conn is None:
        return True
    try:
        conn.send(msg)
    except OSError:
        return True
    r = conn.recv_or_none(3.0)
    if r is not None and status(r) in (401, 200):
        return False
    closed = r is not None or conn.closed_within(3.0)
    conn.close()
    return closed


def register_through(lab, conn, n, path, integrity='"tls-yes"', cseq=1):
    """A whole registration of subscriber n on `conn`, as a P-CSCF forwards
    it: Path, and integrity-protected in the Authorization. The final
    status."""
    extra = "Path: %s\r\n" % path
    ip = ',integrity-protected=%s' % integrity if integrity else ""
    first = register(n, cseq=cseq, extra=extra, via_tp="TCP")
    first = first.replace('response=""', 'response=""' + ip)
    conn.send(first)
    r = conn.recv(5)
    if status(r) != 401:
        return status(r)
    auth = lab.aka_authorization(n, hdr(r, "WWW-Authenticate")) + ip
    conn.send(register(n, cseq=cseq + 1, auth=auth, extra=extra,
                       via_tp="TCP"))
    return status(conn.recv(5))


def message(to_n, pai, cseq=1):
    return request("MESSAGE", impu(to_n), "sip:anyone@" + HOME, impu(to_n),
                   "msg%d@atk" % cseq, cseq, via_tp="TCP",
                   headers=("P-Asserted-Identity: <%s>\r\n"
                            "Content-Type: text/plain\r\n") % pai,
                   body="forged")


with Lab() as lab:
    d = lab.pki(("001", "002", "003"))
    P = lambda *a: lab.path("pki", *a)
    for mnc, host in (("01", SCSCF), ("01", PCSCF1), ("02", VISITED_NODE),
                      ("03", OTHER_NODE)):
        lab.run("pki", "node", "--dir", d, "--mcc", "001", "--mnc", mnc,
                "--host", host)
    lab.run("pki", "node", "--dir", d, "--mcc", "001", "--mnc", "01",
            "--host", PCSCF1, "--expired")
    lab.run("pki", "rogue", "--dir", d, "--kind", "selfsigned", "--node",
            "--host", PCSCF1)
    lab.run("pki", "rogue", "--dir", d, "--kind", "outside", "--node",
            "--host", "pcscf.evil.example.com")
    lab.run("pki", "rogue", "--dir", d, "--kind", "serveronly", "--mcc",
            "001", "--mnc", "01", "--host", PCSCF1)
    for n in (1, 2):
        lab.hss_add(n)
        lab.hss_add(n, db="hss2.db")

    # ---- plain TCP only with --insecure-core, and only from the list.
    tcp = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                    "--db", lab.path("hss2.db"), "--insecure-core",
                    "--peer-addr", "127.0.0.2", name="scscf-tcp",
                    ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    lab.check(tcp.wait_log(r"warn: --insecure-core: plain TCP accepted on "
                           r"the core side from 127\.0\.0\.2", 2) is not None,
              "--insecure-core is warned about at start")
    # The attack: valid credentials, a forged Path, straight to the S-CSCF.
    c = lab.connect_tcp(tcp.port)
    evil_path = "<sip:evil@127.0.0.1:5999;transport=tcp;lr>"
    lab.check(refused(c, register(1, extra="Path: %s\r\n" % evil_path,
                                  via_tp="TCP")),
              "direct REGISTER with a forged Path from an unlisted address: "
              "closed, no challenge")
    lab.check(tcp.wait_log(r"refused core peer tcp:127\.0\.0\.1:\d+ name "
                           r"'127\.0\.0\.1': address-not-listed", 3)
              is not None, "the refusal names the peer and the reason")
    c = lab.connect_tcp(tcp.port)
    lab.check(refused(c, message(1, "sip:anyone@" + HOME)),
              "direct MESSAGE with a forged P-Asserted-Identity from an "
              "unlisted address: closed")
    # From the listed address the S-CSCF answers (the control), but a
    # REGISTER that did not come through a P-CSCF's TLS flow (no
    # integrity-protected) is not registered.
    c = connect_from(tcp.port, "127.0.0.2")
    st = register_through(lab, c, 2, evil_path, integrity=None)
    lab.check(st == 403, "listed address, no integrity-protected: 403 "
              "(got %d)" % st)
    c.close()

    # ---- mutual TLS: the S-CSCF of the home operator.
    pc = TlsPcscf(P("node-" + PCSCF1 + ".chain.pem"), P("node-" + PCSCF1 + ".key"),
                  P("root.crt"))
    sc = lab.start("scscf", "--listen", "tls:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"), "--cert",
                   P("node-" + SCSCF + ".chain.pem"), "--key", P("node-" + SCSCF + ".key"),
                   "--ca", P("root.crt"), "--partner-ca",
                   P("op-mcc001-mnc002.crt"),
                   ready=r"listening on tls:127\.0\.0\.1:(\d+)")
    try:
        rogues = [
            ("rogue-node-selfsigned", "a self-signed certificate",
             "chain-invalid"),
            ("node-" + PCSCF1 + "-expired", "an expired node certificate", "expired"),
            ("rogue-node-outside", "a name outside the trust domain",
             "name-outside-trust-domain"),
            ("node-" + OTHER_NODE, "a node of an operator that is no roaming partner",
             "not-a-roaming-partner"),
            ("rogue-serveronly", "an operator certificate without clientAuth",
             "not-client-auth"),
        ]
        for stem, what, code in rogues:
            chain = P(stem + ".chain.pem")
            c = tls_or_none(lab, sc.port, chain, P(stem + ".key"))
            lab.check(refused(c, register(1, via_tp="TCP")),
                      "mutual TLS with %s: closed" % what)
            lab.check(sc.wait_log(r"refused core peer tls:127\.0\.0\.1:\d+ "
                                  r"name '[^']*': %s" % re.escape(code), 3)
                      is not None, "  logged with its reason '%s'" % code)
        c = tls_or_none(lab, sc.port)
        lab.check(refused(c, register(1, via_tp="TCP")),
                  "TLS without a client certificate: refused")
        lab.check(sc.wait_log(r"TLS handshake failed.*(certificate|alert)",
                              3) is not None,
                  "  the failed handshake is logged with the peer")

        # A good node certificate of the home operator: served.
        good = lab.connect_tls(sc.port, cert=P("node-" + PCSCF1 + ".chain.pem"),
                               key=P("node-" + PCSCF1 + ".key"))
        path = "<sip:tok1@127.0.0.1:%d;transport=tls;lr>" % pc.port
        st = register_through(lab, good, 1, path)
        lab.check(st == 200, "home operator's node certificate: registered "
                  "(got %d)" % st)
        lab.check(sc.wait_log(r"core peer tls:127\.0\.0\.1:\d+ '%s' trusted "
                              r"\(home\)" % re.escape(PCSCF1), 2) is not None,
                  "  logged as a trusted home peer")
        # A roaming partner's node: served too.
        vis = lab.connect_tls(sc.port, cert=P("node-" + VISITED_NODE + ".chain.pem"),
                              key=P("node-" + VISITED_NODE + ".key"))
        vis.send(register(2, via_tp="TCP"))
        r = vis.recv_or_none(5)
        lab.check(r is not None and status(r) == 401,
                  "roaming partner's node certificate: challenged")
        vis.close()
        # The same P-CSCF, no integrity-protected: 403.
        good2 = lab.connect_tls(sc.port, cert=P("node-" + PCSCF1 + ".chain.pem"),
                                key=P("node-" + PCSCF1 + ".key"))
        st = register_through(lab, good2, 2, path, integrity=None, cseq=11)
        lab.check(st == 403, "trusted peer, REGISTER without "
                  "integrity-protected: 403 (got %d)" % st)
        good2.close()

        # Terminating: the MESSAGE from the trusted peer reaches the UE's
        # P-CSCF over TLS with the S-CSCF's certificate (the control) ...
        good.send(message(1, impu(2), cseq=5))
        r = good.recv_or_none(8)
        lab.check(r is not None and status(r) == 200,
                  "MESSAGE through the trusted peer: delivered, 200")
        got = [m for m in pc.msgs if m.startswith("MESSAGE ")]
        lab.check(len(got) == 1 and
                  "P-Asserted-Identity: <%s>" % impu(2) in got[0],
                  "  the UE's P-CSCF got it over TLS")
        names = [v for p in pc.peers for k, v in p.get("subjectAltName", ())
                 if k == "DNS"]
        lab.check(SCSCF in names, "  the S-CSCF presented its node "
                  "certificate")
        # Towards a UE the S-CSCF talks only to the P-CSCF that registered
        # it: another valid node (a roaming partner's) at the Path's
        # address gets nothing.
        pc2 = TlsPcscf(P("node-" + VISITED_NODE + ".chain.pem"),
                       P("node-" + VISITED_NODE + ".key"), P("root.crt"))
        try:
            path2 = "<sip:tok2@127.0.0.1:%d;transport=tls;lr>" % pc2.port
            st = register_through(lab, good, 2, path2, cseq=21)
            lab.check(st == 200, "user 2 registered through the home peer")
            good.send(message(2, impu(1), cseq=7))
            r = good.recv_or_none(8)
            lab.check(r is not None and status(r) >= 500,
                      "MESSAGE towards a Path hop with another name: not "
                      "delivered (%s)" % (r.split("\r\n")[0] if r else None))
            lab.check(not [m for m in pc2.msgs if m.startswith("MESSAGE")],
                      "  the other node got nothing")
            lab.check(sc.wait_log(r"refused core peer tls:127\.0\.0\.1:%d "
                                  r"name '%s': name-mismatch" %
                                  (pc2.port, re.escape(VISITED_NODE)), 3)
                      is not None, "  logged as name-mismatch")
        finally:
            pc2.close()
        # ... and the forged one from a rogue peer never gets there.
        before = len(pc.msgs)
        c = tls_or_none(lab, sc.port, P("rogue-node-selfsigned.chain.pem"),
                        P("rogue-node-selfsigned.key"))
        lab.check(refused(c, message(1, "sip:anyone@" + HOME, cseq=6)),
                  "forged P-Asserted-Identity over a rogue TLS peer: closed")
        time.sleep(1.0)
        lab.check(len(pc.msgs) == before, "  nothing delivered to the UE")
        good.close()
    finally:
        pc.close()
