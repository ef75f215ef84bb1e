#!/usr/bin/env python3
"""Bad input at the edge, as an attacker sends it to a real P-CSCF (TLS
towards UEs) with a fake S-CSCF (python, plain TCP) behind it, and to a real
S-CSCF:

  - a 70 kB REGISTER gets 513 Message Too Large, then the connection closes;
  - a REGISTER with a 20 kB header line gets 400;
  - responses from the S-CSCF side with a bare LF or a bare CR in a header
    are dropped and logged, never relayed to the UE;
  - the UE's Via reaches the S-CSCF with received and rport (RFC 3581);
  - the P-CSCF's Via on a MESSAGE towards the UE names its TLS listener;
  - the S-CSCF marks the Via of what it receives the same way;
  - connections past --max-flows-per-ip from one address are refused, and
    logged at most once a second with a count of those held back.
"""
import re
import socket
import time

from attacklib import start_pcscf_plain_core
from attacklib import (HOME, Conn, Lab, hdr, hdrs, impu, register, request,
                       response_to, status)

MAX_PER_IP = 4


def start_daemons(lab, scscf_port):
    """Every daemon this test runs, started in one place: the P-CSCF in
    front of the fake S-CSCF on `scscf_port`, and a real S-CSCF."""
    pki = lab.pki(operators=("001",))
    pc = start_pcscf_plain_core(lab, pki, scscf_port,
                                "--max-flows-per-ip", str(MAX_PER_IP))
    lab.hss_add(1)
    sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"), "--insecure-core",
                   "--peer-addr", "127.0.0.1",
                   ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    return pc, sc


def via_params(via):
    return dict((m.group(1).lower(), m.group(3))
                for m in re.finditer(r";\s*([\w.-]+)(\s*=\s*([^;,\s]+))?", via))


def main():
    with Lab() as lab:
        fake = socket.socket()
        fake.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        fake.bind(("127.0.0.1", 0))
        fake.listen(8)
        fake.settimeout(10)
        pc, sc = start_daemons(lab, fake.getsockname()[1])
        tls_port, core_port = pc.ports[0], pc.ports[1]

        # ---------------------------------------------- too large as a whole
        ue = lab.connect_tls(tls_port)
        big = request("REGISTER", "sip:" + HOME, impu(1), impu(1), "big@atk",
                      1, headers="Expires: 600\r\n", body="a" * 70000)
        ue.send(big)
        r = ue.recv_or_none(5)
        lab.check(status(r) == 513 and "Message Too Large" in (r or ""),
                  "a 70 kB REGISTER gets 513 Message Too Large (got %r)" %
                  (r or "")[:40])
        lab.check(r is not None and hdr(r, "Call-ID") == "big@atk" and
                  hdr(r, "CSeq") == "1 REGISTER",
                  "the 513 answers that request (Call-ID, CSeq copied)")
        lab.check(ue.closed_within(3), "then the connection closes")
        ue.close()
        lab.check(bool(pc.wait_log(r"refused REGISTER on flow \d+: 513 "
                                   r"Message Too Large \(message over the "
                                   r"size limit\)", 3)),
                  "the refusal is logged with its reason")

        # ---------------------------------------------- one header too long
        ue = lab.connect_tls(tls_port)
        ue.send(register(1, call_id="long@atk",
                         extra="X-Long: " + "b" * 20000 + "\r\n"))
        r = ue.recv_or_none(5)
        lab.check(status(r) == 400 and hdr(r, "Call-ID") == "long@atk",
                  "a 20 kB header line gets 400 (got %r)" % (r or "")[:40])
        lab.check(ue.closed_within(3), "then the connection closes")
        lab.check(bool(pc.wait_log(r"refused REGISTER on flow \d+: 400 "
                                   r"Header field too long", 3)),
                  "logged: 400 Header field too long")
        ue.close()

        # ---------------------------------------------- registration
        ue = lab.connect_tls(tls_port)
        ue_port = ue.sock.getsockname()[1]
        ue.send(register(1, call_id="reg@atk").replace(
            "Via: SIP/2.0/TLS 127.0.0.1:5999;", "Via: SIP/2.0/TLS ue.invalid:5999;"))
        s, _ = fake.accept()
        s.settimeout(10)
        core = Conn(s)
        fwd = core.recv(5)
        vias = hdrs(fwd, "Via")
        ue_via = vias[1] if len(vias) > 1 else ""
        p = via_params(ue_via)
        lab.check(p.get("rport") == str(ue_port) and
                  p.get("received") == "127.0.0.1",
                  "the UE's Via reaches the S-CSCF with rport=%d;received="
                  "127.0.0.1 (got %r)" % (ue_port, ue_via))
        lab.check(bool(vias) and (":%d;" % core_port) in vias[0],
                  "the P-CSCF's Via towards the S-CSCF names its core port")
        token = re.search(r"<sip:([0-9a-f]+)@", hdr(fwd, "Path") or "")
        core.send(response_to(
            fwd, 200, "OK",
            "Contact: <sip:ue@127.0.0.1:5999;transport=tls;ob>;expires=600\r\n"
            "Service-Route: <sip:orig@127.0.0.1:%d;transport=tcp;lr>\r\n"
            "P-Associated-URI: <%s>\r\n" % (fake.getsockname()[1], impu(1))))
        r = ue.recv(5)
        lab.check(status(r) == 200 and token is not None, "registered")

        # ---------------------------------------------- Via towards the UE
        msg = ("MESSAGE sip:ue@127.0.0.1:5999;transport=tls SIP/2.0\r\n"
               "Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKfake1\r\n"
               "Route: <sip:%s@127.0.0.1:%d;transport=tcp;lr;ob>\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:b@%s>;tag=b\r\nTo: <%s>\r\n"
               "Call-ID: m1@fake\r\nCSeq: 1 MESSAGE\r\n"
               "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi" %
               (token.group(1) if token else "0", core_port, HOME, impu(1)))
        core.send(msg)
        m = ue.recv(5)
        top = (hdrs(m, "Via") or [""])[0]
        lab.check(top.startswith("SIP/2.0/TLS 127.0.0.1:%d;" % tls_port),
                  "the P-CSCF's Via on a MESSAGE to the UE names its TLS "
                  "listener 127.0.0.1:%d (got %r)" % (tls_port, top))
        ue.send(response_to(m, 200, "OK"))
        lab.check(status(core.recv(5)) == 200, "the UE's 200 goes back")

        # ---------------------------------------------- bad responses
        for n, (what, evil) in enumerate((("bare LF", "X-Evil: a\nInjected: 1"),
                                          ("bare CR", "X-Evil: a\rInjected: 1")),
                                         start=2):
            ue.send(request("MESSAGE", "sip:b@" + HOME, impu(1), "sip:b@" + HOME,
                            "out%d@atk" % n, n, headers="Content-Type: "
                            "text/plain\r\n", body="yo"))
            out = core.recv(5)
            bad = response_to(out, 200, "OK", evil + "\r\n")
            core.send(bad)
            time.sleep(0.3)
            core.send(response_to(out, 202, "Accepted"))
            r = ue.recv_or_none(5)
            lab.check(status(r) == 202 and "Injected" not in r and
                      "X-Evil" not in r,
                      "a response with a %s is not relayed; the good one is "
                      "(got %r)" % (what, (r or "")[:30]))
        lab.check(len(re.findall(r"dropped input on flow \d+ .*a response, "
                                 r"not relayed", pc.log_text())) >= 2,
                  "each bad response is logged as dropped")

        # ---------------------------------------------- S-CSCF marks Via
        c = lab.connect_tcp(sc.port)
        c.send(register(1, call_id="direct@atk", via_tp="TCP"))
        r = c.recv_or_none(5)
        p = via_params((hdrs(r or "", "Via") or [""])[0])
        lab.check(p.get("rport") == str(c.sock.getsockname()[1]) and
                  p.get("received") == "127.0.0.1",
                  "the S-CSCF fills rport and received on the Via it gets "
                  "(got %r)" % (hdrs(r or "", "Via") or [""])[0])
        c.close()

        # ---------------------------------------------- per-source cap
        open_now = 1  # the registered UE's flow
        conns = []
        for _ in range(10):
            s2 = socket.create_connection(("127.0.0.1", tls_port), 5)
            # The TLS listener accepts once octets arrive (TCP_DEFER_ACCEPT):
            # the first octet of a ClientHello.
            s2.sendall(b"\x16")
            conns.append(s2)
        refused = 0
        for s2 in conns:
            s2.settimeout(1.5)
            try:
                if s2.recv(1) == b"":
                    refused += 1
            except socket.timeout:
                pass
            except OSError:
                refused += 1
        lab.check(refused == 10 - (MAX_PER_IP - open_now),
                  "--max-flows-per-ip %d: %d of 10 more connections refused "
                  "(want %d)" % (MAX_PER_IP, refused,
                                 10 - (MAX_PER_IP - open_now)))
        # net/'s line through the daemon's logger: "pcscf warn: net: ...".
        pat = (r"warn: net: refused connection from 127\.0\.0\.1:\d+: %d flows "
               r"from this address" % MAX_PER_IP)
        pc.wait_log(pat, 2)
        lines = re.findall(pat, pc.log_text())
        lab.check(len(lines) == 1,
                  "the refusals are logged once, not %d times (%d lines)" %
                  (refused, len(lines)))
        time.sleep(1.1)
        extra = socket.create_connection(("127.0.0.1", tls_port), 5)
        extra.sendall(b"\x16")
        held = pc.wait_log(pat + r".*; (\d+) more refusals held back", 3)
        lab.check(held is not None and int(held.group(1)) == refused - 1,
                  "a second later the next line counts the %d held back" %
                  (refused - 1))
        extra.close()
        for s2 in conns:
            s2.close()
        ue.close()
        core.close()
        fake.close()


if __name__ == "__main__":
    main()
