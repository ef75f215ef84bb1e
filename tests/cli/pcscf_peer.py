#!/usr/bin/env python3
"""Test peers for tests/cli/pcscf.sh: a UE over TLS and a fake S-CSCF over
TCP, driving one registration through a running `imsec pcscf`:

  UE REGISTER (sec-agree) -> 401 with Security-Server -> REGISTER with the
  echo -> 200 (bound) -> a MESSAGE from the S-CSCF through the Path token
  reaches the UE's TLS connection; a MESSAGE with a forged token gets 430.

Usage: pcscf_peer.py SCSCF_PORT PCSCF_TLS_PORT CORE_PORT
(the fake S-CSCF listens on SCSCF_PORT, the P-CSCF's route).
Prints one line per step; exit 0 when every step went as it should."""
import re
import socket
import ssl
import sys

HOME = "ims.mnc001.mcc001.3gppnetwork.org"
IMPI = "001010000000001@" + HOME
IMPU = "sip:001010000000001@" + HOME


def read_msg(sock, buf):
    while b"\r\n\r\n" not in buf[0]:
        d = sock.recv(65536)
        if not d:
            raise EOFError("closed")
        buf[0] += d
    head, rest = buf[0].split(b"\r\n\r\n", 1)
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        d = sock.recv(65536)
        if not d:
            raise EOFError("closed")
        rest += d
    buf[0] = rest[n:]
    return (head + b"\r\n\r\n" + rest[:n]).decode()


def hdrs(msg, name):
    return [l.split(":", 1)[1].strip() for l in msg.split("\r\n")
            if l.lower().startswith(name.lower() + ":")]


def response(req, code, reason, extra=""):
    lines = [l for l in req.split("\r\n")
             if l.split(":", 1)[0].lower() in ("via", "from", "call-id", "cseq")]
    to = hdrs(req, "To")[0]
    if ";tag=" not in to:
        to += ";tag=s1"
    return ("SIP/2.0 %d %s\r\n" % (code, reason) + "\r\n".join(lines) +
            "\r\nTo: " + to + "\r\n" + extra + "Content-Length: 0\r\n\r\n")


def register(seq, resp, sec):
    return ("REGISTER sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKue%d;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <%s>;tag=u1\r\nTo: <%s>\r\n"
            "Call-ID: reg@ue\r\nCSeq: %d REGISTER\r\n"
            "Contact: <sip:ue@127.0.0.1:5999;transport=tls;ob>;reg-id=1;"
            "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\""
            ";expires=600\r\n"
            "Authorization: Digest username=\"%s\",realm=\"%s\",nonce=\"\","
            "uri=\"sip:%s\",response=\"%s\"\r\n%s"
            "Supported: path, outbound\r\nExpires: 600\r\n"
            "Content-Length: 0\r\n\r\n") % (HOME, seq, IMPU, IMPU, seq, IMPI,
                                            HOME, HOME, resp, sec)


SC = "Security-Client: tls\r\nRequire: sec-agree\r\nProxy-Require: sec-agree\r\n"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def main():
    sc_port, tls_port, core_port = (int(a) for a in sys.argv[1:4])
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", sc_port))
    lsock.listen(4)
    lsock.settimeout(10)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ue = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), 10))
    ue.settimeout(10)
    ub, sb = [b""], [b""]
    ue.sendall(register(1, "", SC).encode())
    core, _ = lsock.accept()
    core.settimeout(10)
    r1 = read_msg(core, sb)
    path = hdrs(r1, "Path")
    check(bool(path) and ";lr;ob>" in path[0], "REGISTER forwarded with Path ;lr;ob")
    check("Security-Client" not in r1 and "sec-agree" not in r1,
          "Security-Client and sec-agree stripped")
    check('integrity-protected="tls-pending"' in r1, "tls-pending")
    core.sendall(response(r1, 401, "Unauthorized",
                          "WWW-Authenticate: Digest realm=\"%s\", nonce=\"AAAA\", "
                          "algorithm=AKAv1-MD5, qop=\"auth\"\r\n" % HOME).encode())
    a1 = read_msg(ue, ub)
    check(a1.startswith("SIP/2.0 401") and hdrs(a1, "Security-Server") == ["tls;q=0.1"],
          "401 with Security-Server: tls;q=0.1 on the UE's connection")
    ue.sendall(register(2, "00112233445566778899aabbccddeeff",
                        SC + "Security-Verify: tls;q=0.1\r\n").encode())
    r2 = read_msg(core, sb)
    check('integrity-protected="tls-yes"' in r2, "tls-yes after the echo")
    token = re.search(r"<sip:([0-9a-f]+)@", hdrs(r2, "Path")[0]).group(1)
    core.sendall(response(r2, 200, "OK",
                          "Contact: <sip:ue@127.0.0.1:5999;transport=tls;ob>;expires=600\r\n"
                          "Service-Route: <sip:orig@127.0.0.1:1;transport=tcp;lr>\r\n"
                          "P-Associated-URI: <%s>\r\n" % IMPU).encode())
    a2 = read_msg(ue, ub)
    check(a2.startswith("SIP/2.0 200"), "200 OK reaches the UE")
    msg = ("MESSAGE sip:ue@127.0.0.1:5999;transport=tls SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKs%d\r\n"
           "Route: <sip:%s@127.0.0.1:%d;transport=tcp;lr;ob>\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:b@%s>;tag=b\r\nTo: <%s>\r\n"
           "Call-ID: m%d@b\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
           "Content-Length: 2\r\n\r\nhi")
    core.sendall((msg % (1, token, core_port, HOME, IMPU, 1)).encode())
    m = read_msg(ue, ub)
    check(m.startswith("MESSAGE ") and m.endswith("hi"),
          "MESSAGE via the Path token arrives on the UE's TLS connection")
    ue.sendall(response(m, 200, "OK").encode())
    a3 = read_msg(core, sb)
    check(a3.startswith("SIP/2.0 200") and "z9hG4bKs1" in a3,
          "the UE's 200 goes back to the S-CSCF")
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    core.sendall((msg % (2, forged, core_port, HOME, IMPU, 2)).encode())
    a4 = read_msg(core, sb)
    check(a4.startswith("SIP/2.0 430"), "a forged token gets 430 Flow Failed")
    ue.close()
    core.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
