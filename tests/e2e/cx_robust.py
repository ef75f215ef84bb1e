"""`imsec hss serve` as a Diameter Cx server (docs/CX.md), driven by a raw
Diameter peer (tests/support/diameter.py).

Procedures (TS 29.228 §6.1, §6.3): UAR before registration gets
DIAMETER_FIRST_REGISTRATION; MAR gives IMS AKA vectors that Milenage
(`imsec aka milenage`) confirms, resynchronises from RAND||AUTS (the next
SQN is above SQN_MS; a wrong AUTS is refused), gives SIP Digest H(A1)
for a Digest subscriber, refuses the wrong scheme, an unknown user and a
public identity of someone else; SAR REGISTRATION stores the S-CSCF and
returns the implicit set as User-Data; UAR then answers
SUBSEQUENT_REGISTRATION and LIR names the S-CSCF; de-registration by
another S-CSCF changes nothing, by the one stored clears it.

Robustness (RFC 6733 §7): an unknown AVP with the M bit gets
DIAMETER_AVP_UNSUPPORTED with Failed-AVP, without it is ignored; a
missing required AVP DIAMETER_MISSING_AVP; an oversized identity and an
unknown Server-Assignment-Type DIAMETER_INVALID_AVP_VALUE; an unknown
command DIAMETER_COMMAND_UNSUPPORTED; an AVP length past the message end,
a message longer than it says, a wrong version and a 16 MB length are
answered or cut off (a message over 64 kB too: freeDiameter's bound);
after all of it the server still answers."""
import hashlib
import re
import ssl
import subprocess

from attacklib import Lab
import diameter as d

K = "000102030405060708090a0b0c0d0e0f"
OPC = "0f0e0d0c0b0a09080706050403020100"
ALICE = "alice@ims.test"
ALICE_IMPUS = ["sip:alice@ims.test", "tel:+15550001"]
BOB = "bob@ims.test"
SCSCF1 = "sip:scscf1.ims.test:6060"
SCSCF2 = "sip:scscf2.ims.test:6060"


def kv(text):
    return dict(l.split("=", 1) for l in text.split() if "=" in l)


def uar(p, impi, impu, uat=None, extra=()):
    a = p.cx_head() + [d.avp(d.USER_NAME, impi), d.avp(d.PUBLIC_IDENTITY, impu),
                       d.avp(d.VISITED_NETWORK_ID, "ims.test")]
    if uat is not None:
        a.append(d.avp(d.USER_AUTHORIZATION_TYPE, uat))
    return p.request(d.CMD_UA, a + list(extra))


def mar(p, impi, impu, scheme, n=1, authz=None, server=SCSCF1):
    item = [d.avp(d.SIP_AUTH_SCHEME, scheme)]
    if authz is not None:
        item.append(d.avp(d.SIP_AUTHORIZATION, authz))
    return p.request(d.CMD_MA, p.cx_head() + [
        d.avp(d.USER_NAME, impi), d.avp(d.PUBLIC_IDENTITY, impu),
        d.avp(d.SIP_AUTH_DATA_ITEM, item), d.avp(d.SIP_NUMBER_AUTH_ITEMS, n),
        d.avp(d.SERVER_NAME, server)])


def sar(p, impi, impu, sat, server=SCSCF1):
    a = p.cx_head()
    if impi:
        a.append(d.avp(d.USER_NAME, impi))
    if impu:
        a.append(d.avp(d.PUBLIC_IDENTITY, impu))
    return p.request(d.CMD_SA, a + [
        d.avp(d.SERVER_NAME, server), d.avp(d.SERVER_ASSIGNMENT_TYPE, sat),
        d.avp(d.USER_DATA_ALREADY_AVAILABLE, 0)])


def lir(p, impu):
    return p.request(d.CMD_LI, p.cx_head() + [d.avp(d.PUBLIC_IDENTITY, impu)])


with Lab() as lab:
    db = lab.path("hss.db")
    lab.run("hss", "add", "--db", db, "--impi", ALICE, "--impu",
            ",".join(ALICE_IMPUS), "--k", K, "--opc", OPC, "--amf", "8000")
    pw = lab.path("pw")
    with open(pw, "w") as f:
        f.write("bob-secret\n")
    import os
    os.chmod(pw, 0o600)
    lab.run("hss", "add", "--db", db, "--impi", BOB, "--impu",
            "sip:bob@ims.test", "--scheme", "digest", "--password-file", pw)
    port = lab.free_port()
    hss = lab.start("hss", "serve", "--db", db, "--diameter",
                    "tcp:127.0.0.1:%d" % port, "--diameter-identity",
                    "hss.ims.test", "--diameter-realm", "ims.test",
                    ready=r"hss info: listening on diameter tcp:127\.0\.0\.1:(\d+)")
    p = d.Peer(port)

    # ------------------------------------------------------------ UAR
    a = uar(p, ALICE, ALICE_IMPUS[0])
    lab.check(a.result() == (2001, True) and
              a.get(d.SERVER_CAPABILITIES) is not None,
              "UAR before registration: DIAMETER_FIRST_REGISTRATION with "
              "Server-Capabilities")
    lab.check(a.get(d.SESSION_ID) is not None and
              a.get(d.ORIGIN_HOST) == b"hss.ims.test" and
              a.u32(d.AUTH_SESSION_STATE) == 1 and a.flags & d.FLAG_P,
              "UAA carries Session-Id, Origin-Host, Auth-Session-State, P bit")
    a = uar(p, "nobody@ims.test", "sip:nobody@ims.test")
    lab.check(a.result() == (5001, True),
              "UAR unknown user: DIAMETER_ERROR_USER_UNKNOWN")
    a = uar(p, ALICE, "sip:bob@ims.test")
    lab.check(a.result() == (5002, True),
              "UAR another's IMPU: DIAMETER_ERROR_IDENTITIES_DONT_MATCH")
    a = uar(p, ALICE, ALICE_IMPUS[0], uat=1)
    lab.check(a.result() == (5003, True),
              "UAR de-registration of an unregistered user: "
              "DIAMETER_ERROR_IDENTITY_NOT_REGISTERED")

    # ------------------------------------------------------------ MAR AKA
    a = mar(p, ALICE, ALICE_IMPUS[0], "Digest-AKAv1-MD5", n=2)
    items = [d.parse_avps(v) for v in a.all(d.SIP_AUTH_DATA_ITEM)]
    lab.check(a.result() == (2001, False) and len(items) == 2 and
              a.u32(d.SIP_NUMBER_AUTH_ITEMS) == 2,
              "MAR for 2 AKA vectors: 2 SIP-Auth-Data-Items")
    ok = True
    sqns = []
    for it in items:
        chal = a.get(d.SIP_AUTHENTICATE, it)
        rand, autn = chal[:16].hex(), chal[16:].hex()
        ak = kv(lab.run("aka", "milenage", "--k", K, "--opc", OPC, "--rand",
                        rand, "--sqn", "000000000000", "--amf",
                        "8000").stdout)["ak"]
        sqn = "%012x" % (int(autn[:12], 16) ^ int(ak, 16))
        sqns.append(int(sqn, 16))
        m = kv(lab.run("aka", "milenage", "--k", K, "--opc", OPC, "--rand",
                       rand, "--sqn", sqn, "--amf", "8000").stdout)
        ok = ok and (m["autn"] == autn and
                     m["res"] == a.get(d.SIP_AUTHORIZATION, it).hex() and
                     m["ck"] == a.get(d.CONFIDENTIALITY_KEY, it).hex() and
                     m["ik"] == a.get(d.INTEGRITY_KEY, it).hex() and
                     a.get(d.SIP_AUTH_SCHEME, it) == b"Digest-AKAv1-MD5")
    lab.check(ok and sqns[1] > sqns[0],
              "MAR vectors: RAND||AUTN, XRES, CK, IK as Milenage computes, "
              "SQN rising")
    # Resynchronisation (TS 33.102 §6.3.5): the UE's SQN_MS far ahead.
    rand = "11" * 16
    sqn_ms = "%012x" % (sqns[1] + (1 << 20))
    auts = kv(lab.run("aka", "auts", "--k", K, "--opc", OPC, "--rand", rand,
                      "--sqn-ms", sqn_ms).stdout)["auts"]
    a = mar(p, ALICE, ALICE_IMPUS[0], "Digest-AKAv1-MD5",
            authz=bytes.fromhex(rand + auts))
    it = d.parse_avps(a.get(d.SIP_AUTH_DATA_ITEM) or b"")
    new_sqn = None
    if it:
        chal = a.get(d.SIP_AUTHENTICATE, it)
        ak = kv(lab.run("aka", "milenage", "--k", K, "--opc", OPC, "--rand",
                        chal[:16].hex(), "--sqn", "000000000000", "--amf",
                        "8000").stdout)["ak"]
        new_sqn = int(chal[16:22].hex(), 16) ^ int(ak, 16)
    lab.check(a.result() == (2001, False) and new_sqn is not None and
              new_sqn > int(sqn_ms, 16),
              "MAR with RAND||AUTS: resynchronised, the new vector's SQN "
              "above SQN_MS")
    bad = bytearray(bytes.fromhex(rand + auts))
    bad[-1] ^= 1
    a = mar(p, ALICE, ALICE_IMPUS[0], "Digest-AKAv1-MD5", authz=bytes(bad))
    lab.check(a.result() == (5003, False) and
              a.get(d.SIP_AUTH_DATA_ITEM) is None,
              "MAR with a wrong AUTS: DIAMETER_AUTHORIZATION_REJECTED, no "
              "vector")
    a = mar(p, ALICE, ALICE_IMPUS[0], "Digest-AKAv1-MD5", authz=b"\x01" * 7)
    lab.check(a.result() == (5004, False) and a.get(d.FAILED_AVP) is not None,
              "MAR with a SIP-Authorization of the wrong length: "
              "DIAMETER_INVALID_AVP_VALUE with Failed-AVP")
    a = mar(p, ALICE, ALICE_IMPUS[0], "SIP Digest")
    lab.check(a.result() == (5006, True),
              "MAR SIP Digest for an AKA subscriber: "
              "DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED")
    a = mar(p, "nobody@ims.test", "sip:nobody@ims.test", "Digest-AKAv1-MD5")
    lab.check(a.result() == (5001, True),
              "MAR unknown user: DIAMETER_ERROR_USER_UNKNOWN")
    a = mar(p, ALICE, "sip:bob@ims.test", "Digest-AKAv1-MD5")
    lab.check(a.result() == (5002, True),
              "MAR another's IMPU: DIAMETER_ERROR_IDENTITIES_DONT_MATCH")
    a = mar(p, ALICE, "", "Digest-AKAv1-MD5")
    lab.check(a.result() == (2001, False),
              "MAR with an empty Public-Identity (IMPU unknown to the "
              "S-CSCF): the IMPI's vector")
    a = lir(p, "")
    lab.check(a.result() == (5005, False),
              "LIR with an empty Public-Identity: DIAMETER_MISSING_AVP")

    # ------------------------------------------------------------ MAR Digest
    for scheme in ("SIP Digest", "Unknown"):
        a = mar(p, BOB, "sip:bob@ims.test", scheme)
        items = [d.parse_avps(v) for v in a.all(d.SIP_AUTH_DATA_ITEM)]
        first = d.parse_avps(a.get(d.SIP_DIGEST_AUTHENTICATE, items[0])) \
            if items else []
        ha1 = hashlib.md5(b"bob@ims.test:ims.test:bob-secret").hexdigest()
        lab.check(a.result() == (2001, False) and first and
                  a.get(d.SIP_AUTH_SCHEME, items[0]) == b"SIP Digest" and
                  a.get(d.DIGEST_HA1, first) == ha1.encode() and
                  a.get(d.DIGEST_REALM, first) == b"ims.test" and
                  a.get(d.DIGEST_ALGORITHM, first) == b"MD5" and
                  a.get(d.DIGEST_QOP, first) == b"auth",
                  "MAR %s for a Digest subscriber: SIP-Digest-Authenticate "
                  "with Digest-HA1 = MD5(IMPI:realm:password)" % scheme)
    sha = [d.parse_avps(a.get(d.SIP_DIGEST_AUTHENTICATE, it)) for it in items]
    lab.check(any(a.get(d.DIGEST_ALGORITHM, s) == b"SHA-256" and
                  a.get(d.DIGEST_HA1, s) == hashlib.sha256(
                      b"bob@ims.test:ims.test:bob-secret").hexdigest().encode()
                  for s in sha) and
              any(a.get(d.DIGEST_USERNAME, s) == b"bob" for s in sha),
              "MAR Digest: also SHA-256 and the user-part username forms")

    # ------------------------------------------------------------ SAR / LIR
    a = sar(p, ALICE, ALICE_IMPUS[0], 1)
    ud = (a.get(d.USER_DATA) or b"").decode()
    ids = re.findall(r"<Identity>([^<]*)</Identity>", ud)
    lab.check(a.result() == (2001, False) and ids == ALICE_IMPUS and
              "<PrivateID>alice@ims.test</PrivateID>" in ud,
              "SAR REGISTRATION: User-Data with the implicit set "
              "(TS 29.228 Annex E)")
    a = uar(p, ALICE, ALICE_IMPUS[1])
    lab.check(a.result() == (2002, True) and
              a.get(d.SERVER_NAME) == SCSCF1.encode(),
              "UAR after registration: DIAMETER_SUBSEQUENT_REGISTRATION "
              "naming the S-CSCF")
    a = lir(p, ALICE_IMPUS[1])
    lab.check(a.result() == (2001, False) and
              a.get(d.SERVER_NAME) == SCSCF1.encode(),
              "LIR for an IMPU of the set: the S-CSCF")
    a = sar(p, None, ALICE_IMPUS[1], 0, server=SCSCF2)
    lab.check(a.result() == (2001, False) and b"tel:+15550001" in
              (a.get(d.USER_DATA) or b""),
              "SAR NO_ASSIGNMENT by IMPU alone: the profile")
    a = sar(p, ALICE, ALICE_IMPUS[0], 5, server=SCSCF2)
    b = lir(p, ALICE_IMPUS[0])
    lab.check(a.result() == (2001, False) and
              b.get(d.SERVER_NAME) == SCSCF1.encode(),
              "SAR USER_DEREGISTRATION from another S-CSCF keeps the "
              "assignment")
    a = sar(p, ALICE, ALICE_IMPUS[0], 4)
    b = lir(p, ALICE_IMPUS[0])
    lab.check(a.result() == (2001, False) and b.result() == (5003, True),
              "SAR TIMEOUT_DEREGISTRATION by the S-CSCF stored: LIR then "
              "DIAMETER_ERROR_IDENTITY_NOT_REGISTERED")
    a = lir(p, "sip:nobody@ims.test")
    lab.check(a.result() == (5001, True),
              "LIR unknown IMPU: DIAMETER_ERROR_USER_UNKNOWN")

    # ------------------------------------------------------------ robustness
    unknown_m = d.avp(4242, b"junk", vendor=d.VENDOR_3GPP, flags=d.AVP_M)
    a = uar(p, ALICE, ALICE_IMPUS[0], extra=[unknown_m])
    fa = a.group(d.FAILED_AVP)
    lab.check(a.result() == (5001, False) and fa and fa[0][0] == 4242,
              "unknown AVP with the M bit: DIAMETER_AVP_UNSUPPORTED, "
              "Failed-AVP names it")
    unknown = d.avp(4243, b"junk", vendor=d.VENDOR_3GPP, flags=0)
    a = uar(p, ALICE, ALICE_IMPUS[0], extra=[unknown])
    lab.check(a.result() == (2001, True),
              "unknown AVP without the M bit: ignored")
    a = p.request(d.CMD_UA, p.cx_head() + [
        d.avp(d.USER_NAME, ALICE), d.avp(d.VISITED_NETWORK_ID, "ims.test")])
    fa = a.group(d.FAILED_AVP)
    lab.check(a.result() == (5005, False) and fa and
              fa[0][0] == d.PUBLIC_IDENTITY,
              "UAR without Public-Identity: DIAMETER_MISSING_AVP naming it")
    a = uar(p, "x" * 300 + "@ims.test", ALICE_IMPUS[0])
    lab.check(a.result() == (5004, False) and a.get(d.FAILED_AVP) is not None,
              "a 309-octet User-Name: DIAMETER_INVALID_AVP_VALUE")
    # Past 64 kB freeDiameter takes the header for garbage and drops the
    # connection (its bound on a message): the peer reconnects.
    q = d.Peer(port, origin="big.ims.test")
    try:
        a = uar(q, ALICE, "sip:" + "y" * 70000 + "@ims.test")
        res = a.result()[0]
    except (ConnectionError, OSError):
        res = "closed"
    q.close()
    lab.check(res in (5004, 5014, "closed") and hss.alive(),
              "a 70 kB message: %s, server alive" % res)
    a = sar(p, ALICE, ALICE_IMPUS[0], 99)
    lab.check(a.result() == (5004, False),
              "SAR with an unknown Server-Assignment-Type: "
              "DIAMETER_INVALID_AVP_VALUE")
    a = p.request(399, p.cx_head())
    lab.check(a.result()[0] == 3001 and a.flags & d.FLAG_E,
              "unknown Cx command: DIAMETER_COMMAND_UNSUPPORTED (E bit)")
    a = mar(p, ALICE, ALICE_IMPUS[0], "Digest-AKAv1-MD5", n=1000)
    lab.check(a.result() == (2001, False) and
              len(a.all(d.SIP_AUTH_DATA_ITEM)) <= 5,
              "MAR asking 1000 vectors: at most 5")

    # Framing errors, each on its own connection: answered or cut off,
    # never a crash.
    probes = [0]

    def framing(data, what):
        # A Diameter identity per connection: freeDiameter refuses a
        # second connection of an identity it has open (RFC 6733 §5.6.4).
        probes[0] += 1
        q = d.Peer(port, origin="probe%d.ims.test" % probes[0])
        q.send_raw(data)
        try:
            m = q.recv(3)
            res = m.result()[0]
        except (ConnectionError, OSError):
            res = "closed"
        except TimeoutError:
            res = "silent"
        q.close()
        lab.check(res in (5014, 5015, 3008, 3009, 5009, "closed") and
                  hss.alive(), "%s: %s, server alive" % (what, res))

    good = d.message(d.CMD_UA, p.cx_head() + [
        d.avp(d.USER_NAME, ALICE), d.avp(d.PUBLIC_IDENTITY, ALICE_IMPUS[0]),
        d.avp(d.VISITED_NETWORK_ID, "ims.test")], hbh=7, e2e=7)
    # An AVP whose length runs past the message.
    bad = bytearray(good)
    i = 20 + len(p.cx_head()[0])  # the AVP after Session-Id
    bad[i + 5:i + 8] = (0xfff0).to_bytes(3, "big")
    framing(bytes(bad), "AVP length past the message end")
    # A zero AVP length (shorter than its header).
    bad = bytearray(good)
    bad[i + 5:i + 8] = (0).to_bytes(3, "big")
    framing(bytes(bad), "AVP length below its header")
    # Version 2.
    framing(b"\x02" + good[1:], "Diameter version 2")
    # A message claiming 16 MB and sending little.
    framing(b"\x01\xff\xff\xff" + good[4:], "a 16 MB message length")
    # A length not a multiple of 4 / smaller than the header.
    framing(b"\x01\x00\x00\x0c" + good[4:12], "a 12-octet message length")

    a = uar(p, ALICE, ALICE_IMPUS[0])
    lab.check(a.result()[0] == 2001 and hss.alive(),
              "after all of it the first peer still gets answers")
    p.close()
    q = d.Peer(port, origin="late.ims.test")
    a = lir(q, ALICE_IMPUS[0])
    lab.check(a.result() == (5003, True), "a new peer still gets answers")
    q.close()
    rc = hss.stop()
    lab.check(rc == 0 and "Sanitizer" not in hss.log_text(),
              "SIGTERM: exit 0 (no leak under the sanitizers)")

    # ------------------------------------------------------------ TLS
    # Mutual TLS from the first octet (RFC 6733 §2.1, §13): a CA, the
    # HSS's and an S-CSCF's certificates naming their Diameter identities.
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=lab.dir, check=True,
                       capture_output=True, timeout=30)

    def ca(name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
                "-out", name + ".pem", "-subj", "/CN=" + name, "-days", "2")

    def cert(name, by):
        ext = lab.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\n" % name)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", by + ".pem",
                "-CAkey", by + ".key", "-CAcreateserial", "-out",
                name + ".pem", "-days", "2", "-extfile", ext)

    ca("cx-ca")
    ca("rogue-ca")
    cert("hss.ims.test", "cx-ca")
    cert("scscf.ims.test", "cx-ca")
    cert("scscf2.ims.test", "rogue-ca")
    tport = lab.free_port()
    ths = lab.start("hss", "serve", "--db", db, "--diameter",
                    "tls:127.0.0.1:%d" % tport, "--diameter-identity",
                    "hss.ims.test", "--diameter-realm", "ims.test",
                    "--diameter-cert", lab.path("hss.ims.test.pem"),
                    "--diameter-key", lab.path("hss.ims.test.key"),
                    "--diameter-ca", lab.path("cx-ca.pem"), name="hss-tls",
                    ready=r"hss info: listening on diameter tls:127\.0\.0\.1:(\d+)")

    def tls_ctx(name):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(lab.path("cx-ca.pem"))
        c.load_cert_chain(lab.path(name + ".pem"), lab.path(name + ".key"))
        return c

    t = d.Peer(tport, tls=tls_ctx("scscf.ims.test"),
               server_hostname="hss.ims.test")
    a = mar(t, ALICE, ALICE_IMPUS[0], "Digest-AKAv1-MD5")
    lab.check(a.result() == (2001, False) and
              a.get(d.SIP_AUTH_DATA_ITEM) is not None,
              "over TLS with a certificate from the CA: MAR answered")
    t.close()
    try:
        r = d.Peer(tport, origin="scscf2.ims.test",
                   tls=tls_ctx("scscf2.ims.test"),
                   server_hostname="hss.ims.test")
        refused = r.closed_within(3)
    except (OSError, RuntimeError, ConnectionError):
        refused = True
    lab.check(refused and ths.alive(),
              "a client certificate from another CA: refused")
    try:
        r = d.Peer(tport, origin="plain.ims.test")
        refused = r.closed_within(3)
    except (OSError, RuntimeError, ConnectionError, TimeoutError):
        refused = True
    lab.check(refused and ths.alive(), "plain Diameter on the TLS port: "
              "refused")
    rc = ths.stop()
    lab.check(rc == 0 and "Sanitizer" not in ths.log_text(),
              "TLS server: SIGTERM, exit 0")
