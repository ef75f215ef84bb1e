#!/usr/bin/env python3
"""Test peers for tests/cli/pcscf_digest.sh: a SIP Digest softphone over TLS
(the shape baresip sends: no sec-agree, no Authorization at first, the
P-CSCF as outbound proxy in a Route, Contact with transport=tls and
;expires=) and a fake S-CSCF over TCP, through a running `imsec pcscf`.

  other: REGISTER -> 401 with two WWW-Authenticate (SHA-256, MD5) relayed
         as written -> REGISTER with Digest credentials, marked tls-pending
         -> 200 with Authentication-Info relayed as written (bound) ->
         MESSAGE from the softphone asserted from the binding, routed by
         the Service-Route.
  3gpp:  Digest credentials get 403 and never reach the S-CSCF; a 401
         offering SIP Digest only becomes 403.

Usage: pcscf_digest_peer.py other|3gpp SCSCF_PORT PCSCF_TLS_PORT
Prints one line per step; exit 0 when every step went as it should."""
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcscf_peer import hdrs, read_msg, response  # noqa: E402

HOME = "ims.mnc001.mcc001.3gppnetwork.org"
ALICE = "sip:alice@" + HOME
NONCE = "AAAAAAAAAAAbbbbCCCCdddd="
CH_SHA = ('Digest realm="%s", nonce="%s", algorithm=SHA-256, qop="auth", '
          'opaque="op1"' % (HOME, NONCE))
CH_MD5 = ('Digest realm="%s",nonce="%s",algorithm=MD5,qop="auth",'
          'opaque="op1"' % (HOME, NONCE))
AUTH_INFO = ('qop=auth, rspauth="' + "ab" * 32 +
             '", cnonce="c0ffee", nc=00000001')


def register(seq, tls_port, auth=None):
    return ("REGISTER sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKsp%d;rport\r\n"
            "Contact: <sip:alice-0x55d1@127.0.0.1:5999;transport=tls>"
            ";expires=600\r\n"
            "Max-Forwards: 70\r\nTo: <%s>\r\nFrom: <%s>;tag=bs1\r\n"
            "Call-ID: sp@softphone\r\nCSeq: %d REGISTER\r\n"
            "User-Agent: baresip\r\n"
            "Route: <sip:127.0.0.1:%d;transport=tls;lr>\r\n%s"
            "Content-Length: 0\r\n\r\n") % (
                HOME, seq, ALICE, ALICE, seq, tls_port,
                "Authorization: %s\r\n" % auth if auth else "")


def credentials(alg):
    return ('Digest username="alice",realm="%s",nonce="%s",uri="sip:%s",'
            'response="%s",algorithm=%s,cnonce="c0ffee",opaque="op1",'
            'qop=auth,nc=00000001' % (HOME, NONCE, HOME, "0" * 64, alg))


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def other(ue, ub, core, sb, tls_port):
    r1 = read_msg(core, sb)
    check(not hdrs(r1, "Route") and hdrs(r1, "Path"),
          "REGISTER forwarded with Path, without the softphone's Route")
    check(hdrs(r1, "Contact")[0].endswith(";transport=tls>;expires=600"),
          "Contact with transport=tls and ;expires= forwarded")
    core.sendall(response(r1, 401, "Unauthorized",
                          "WWW-Authenticate: %s\r\nWWW-Authenticate: %s\r\n"
                          % (CH_SHA, CH_MD5)).encode())
    a1 = read_msg(ue, ub)
    check(a1.startswith("SIP/2.0 401") and
          hdrs(a1, "WWW-Authenticate") == [CH_SHA, CH_MD5],
          "401 with both challenges as written, SHA-256 first")
    check(not hdrs(a1, "Security-Server"), "no sec-agree in the 401")
    ue.sendall(register(2, tls_port, credentials("SHA-256")).encode())
    r2 = read_msg(core, sb)
    check('integrity-protected="tls-pending"' in r2 and not hdrs(r2, "Route"),
          "credentials forwarded marked tls-pending")
    core.sendall(response(r2, 200, "OK",
                          "Contact: <sip:alice-0x55d1@127.0.0.1:5999;"
                          "transport=tls>;expires=600\r\n"
                          "Service-Route: <sip:orig@127.0.0.1:1;transport=tcp;lr>\r\n"
                          "P-Associated-URI: <%s>\r\n"
                          "Authentication-Info: %s\r\n" % (ALICE, AUTH_INFO))
              .encode())
    a2 = read_msg(ue, ub)
    check(a2.startswith("SIP/2.0 200") and
          hdrs(a2, "Authentication-Info") == [AUTH_INFO],
          "200 with Authentication-Info as written")
    msg = ("MESSAGE sip:bob@%s SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKspm1;rport\r\n"
           "Max-Forwards: 70\r\nTo: <sip:bob@%s>\r\nFrom: <%s>;tag=m1\r\n"
           "Call-ID: m1@softphone\r\nCSeq: 1 MESSAGE\r\n"
           "Route: <sip:127.0.0.1:%d;transport=tls;lr>\r\n"
           "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
           % (HOME, HOME, ALICE, tls_port))
    ue.sendall(msg.encode())
    m = read_msg(core, sb)
    check(m.startswith("MESSAGE ") and
          hdrs(m, "P-Asserted-Identity") == ["<%s>" % ALICE] and
          hdrs(m, "Route") == ["<sip:orig@127.0.0.1:1;transport=tcp;lr>"],
          "MESSAGE asserted from the binding, along the Service-Route")


def gpp(ue, ub, core, sb, tls_port):
    r1 = read_msg(core, sb)
    core.sendall(response(r1, 401, "Unauthorized",
                          "WWW-Authenticate: %s\r\nWWW-Authenticate: %s\r\n"
                          % (CH_SHA, CH_MD5)).encode())
    a1 = read_msg(ue, ub)
    check(a1.startswith("SIP/2.0 403") and not hdrs(a1, "WWW-Authenticate"),
          "a 401 offering SIP Digest only becomes 403")
    ue.sendall(register(2, tls_port, credentials("MD5")).encode())
    a2 = read_msg(ue, ub)
    check(a2.startswith("SIP/2.0 403"), "Digest credentials get 403")
    core.settimeout(0.5)
    try:
        extra = core.recv(65536)
    except socket.timeout:
        extra = b""
    check(not extra, "nothing reached the S-CSCF")


def main():
    mode = sys.argv[1]
    sc_port, tls_port = (int(a) for a in sys.argv[2:4])
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
    ue.sendall(register(1, tls_port).encode())
    core, _ = lsock.accept()
    core.settimeout(10)
    (other if mode == "other" else gpp)(ue, ub, core, sb, tls_port)
    ue.close()
    core.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
