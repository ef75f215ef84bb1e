"""SIP Digest in the S-CSCF daemon (docs/DIGEST.md "S-CSCF"), seen from
its P-CSCF side: this program on the core port (plain TCP from 127.0.0.1
with --insecure-core) registers a subscriber that `imsec hss add --scheme
digest` made. Checks: the 401 carries SHA-256 then MD5 (RFC 8760 §3); the
right password gets 200 with the rspauth RFC 7616 §3.5 computes; the
nonce used again with nc 2 and the user-part username is accepted, its
replay refused (403); after kill -9 and a restart with --digest-proxy-auth
the registration is back and its MESSAGE gets 407, then goes on with
Proxy-Authorization; after `imsec hss passwd` the old password gets 403
and the new one 200; a SIGHUP that changes digest_algorithms in the -c
file applies it (the next 401 offers MD5 alone), and one that changes
max_digest_nonces says it needs a restart."""
import hashlib
import os
import re
import signal
import time

from attacklib import (HOME, Lab, hdr, hdrs, request, status,
                       start_scscf_direct, digest_param)

IMPI = "carol@" + HOME
IMPU = "sip:carol@" + HOME

def H(alg, s):
    return (hashlib.sha256 if alg == "SHA-256" else hashlib.md5)(s.encode()).hexdigest()

def creds(ch, pw, nc, user=IMPI, alg="SHA-256", method="REGISTER", uri="sip:" + HOME):
    realm = digest_param(ch, "realm"); nonce = digest_param(ch, "nonce")
    ha1 = H(alg, "%s:%s:%s" % (user, realm, pw))
    ha2 = H(alg, "%s:%s" % (method, uri))
    resp = H(alg, "%s:%s:%s:c0ffee:auth:%s" % (ha1, nonce, nc, ha2))
    rsp = H(alg, "%s:%s:%s:c0ffee:auth:%s" % (ha1, nonce, nc, H(alg, ":" + uri)))
    return ('Digest username="%s",realm="%s",nonce="%s",uri="%s",response="%s",'
            'algorithm=%s,qop=auth,nc=%s,cnonce="c0ffee",'
            'integrity-protected="tls-pending"' % (user, realm, nonce, uri, resp, alg, nc)), rsp

def listening_port(sc):
    return int(re.search(r"listening on tcp:127\.0\.0\.1:(\d+)",
                         sc.log_text()).group(1))


def reg(c, cseq, auth):
    m = request("REGISTER", "sip:" + HOME, IMPU, IMPU, "dg1@smoke", cseq, via_tp="TCP",
                headers="Contact: <sip:carol@127.0.0.1:5999;transport=tls>;expires=600\r\n%s" %
                ("Authorization: %s\r\n" % auth if auth else ""))
    c.send(m)
    return c.recv(5)

with Lab() as lab:
    pw = lab.path("pw")
    with open(pw, "w") as f: f.write("s3cret-pass\n")
    os.chmod(pw, 0o600)
    lab.run("hss", "add", "--db", lab.path("hss.db"), "--impi", IMPI, "--impu", IMPU,
            "--scheme", "digest", "--password-file", pw)
    sc = start_scscf_direct(lab)
    port = listening_port(sc)
    c = lab.connect_tcp(port)
    r = reg(c, 1, None)
    ws = hdrs(r, "WWW-Authenticate")
    lab.check(status(r) == 401 and len(ws) == 2 and "SHA-256" in ws[0] and "MD5" in ws[1], "401 with SHA-256 then MD5")
    a, rsp = creds(ws[0], "s3cret-pass", "00000001")
    r = reg(c, 2, a)
    lab.check(status(r) == 200, "200 with the password (%d)" % status(r))
    ai = hdr(r, "Authentication-Info") or ""
    lab.check(('rspauth="%s"' % rsp) in ai, "rspauth right: " + ai)
    a2, _ = creds(ws[0], "s3cret-pass", "00000002", user="carol", alg="SHA-256")
    r = reg(c, 3, a2)
    lab.check(status(r) == 200, "nonce reused, nc 2, user part: 200 (%d)" % status(r))
    r = reg(c, 4, a2)
    lab.check(status(r) == 403, "replayed: 403 (%d)" % status(r))
    # restart keeps the registration (with its digest mark)
    os.kill(sc.p.pid, signal.SIGKILL); sc.p.wait(5); c.close()
    sc = start_scscf_direct(lab, "--digest-proxy-auth")
    port = listening_port(sc)
    # The host starts the element (the load) just after it listens.
    lab.check(sc.wait_log(r"1 registration\(s\) loaded") is not None,
              "the restarted S-CSCF loads the registration")
    c = lab.connect_tcp(port)
    msg = request("MESSAGE", "sip:nobody@" + HOME, IMPU, "sip:nobody@" + HOME, "m1@smoke", 1,
                  via_tp="TCP", headers="Route: <sip:orig@127.0.0.1:%d;transport=tcp;lr>\r\n"
                  "P-Asserted-Identity: <%s>\r\nContent-Type: text/plain\r\n" % (port, IMPU), body="hi")
    c.send(msg)
    r = c.recv(5)
    lab.check(status(r) == 407 and len(hdrs(r, "Proxy-Authenticate")) == 2,
              "after a restart the digest user's MESSAGE gets 407 (%d)" % status(r))
    pa, _ = creds(hdrs(r, "Proxy-Authenticate")[1], "s3cret-pass", "00000001", alg="MD5",
                  method="MESSAGE", uri="sip:nobody@" + HOME)
    c.send(request("MESSAGE", "sip:nobody@" + HOME, IMPU, "sip:nobody@" + HOME, "m2@smoke", 1,
                   via_tp="TCP", headers="Route: <sip:orig@127.0.0.1:%d;transport=tcp;lr>\r\n"
                   "P-Asserted-Identity: <%s>\r\nProxy-Authorization: %s\r\n"
                   "Content-Type: text/plain\r\n" % (port, IMPU, pa), body="hi"))
    r = c.recv(5)
    lab.check(status(r) == 404, "with Proxy-Authorization it goes on (404 for nobody: %d)" % status(r))
    # password change: the old one is refused
    with open(pw, "w") as f: f.write("new-pass\n")
    lab.run("hss", "passwd", "--db", lab.path("hss.db"), "--impi", IMPI, "--password-file", pw)
    r = reg(c, 5, None)
    ws = hdrs(r, "WWW-Authenticate")
    a, _ = creds(ws[1], "s3cret-pass", "00000001", alg="MD5")
    r = reg(c, 6, a)
    lab.check(status(r) == 403, "old password after hss passwd: 403 (%d)" % status(r))
    a, _ = creds(ws[1], "new-pass", "00000002", alg="MD5")
    r = reg(c, 7, a)
    lab.check(status(r) == 200, "new password: 200 (%d)" % status(r))
    c.close()
    # SIGHUP applies the digest settings of the -c file.
    os.kill(sc.p.pid, signal.SIGTERM); sc.p.wait(5)
    cfg = lab.path("scscf.yaml")
    with open(cfg, "w") as f: f.write('digest_algorithms: "SHA-256,MD5"\n')
    sc = start_scscf_direct(lab, "-c", cfg)
    port = listening_port(sc)
    lab.check(sc.wait_log(r"registration\(s\) loaded") is not None, "restarted with -c")
    c = lab.connect_tcp(port)
    r = reg(c, 8, None)
    lab.check(len(hdrs(r, "WWW-Authenticate")) == 2, "the file's two algorithms")
    with open(cfg, "w") as f: f.write("digest_algorithms: MD5\nmax_digest_nonces: 10\n")
    sc.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "reloaded" not in sc.log_text():
        time.sleep(0.05)
    lab.check(re.search(r"reloaded.*max_digest_nonces", sc.log_text()) is not None,
              "reload: max_digest_nonces needs a restart")
    r = reg(c, 9, None)
    ws = hdrs(r, "WWW-Authenticate")
    lab.check(status(r) == 401 and len(ws) == 1 and "algorithm=MD5" in ws[0],
              "after SIGHUP the 401 offers MD5 alone: %s" % ws)
    c.close()
