"""A raw Diameter peer for the tests (RFC 6733 §3 header, §4 AVPs): builds
and parses messages byte by byte, so a test can also send what no
Diameter stack would (bad lengths, unknown mandatory AVPs, huge values).
Cx codes: TS 29.229 §6."""
import socket
import struct
import time

VENDOR_3GPP = 10415
CX_APP = 16777216

FLAG_R, FLAG_P, FLAG_E = 0x80, 0x40, 0x20
AVP_V, AVP_M = 0x80, 0x40

# Base protocol AVP codes (RFC 6733 §4.5).
USER_NAME = 1
HOST_IP_ADDRESS = 257
AUTH_APPLICATION_ID = 258
VSAI = 260
VENDOR_ID = 266
FIRMWARE_REVISION = 267
RESULT_CODE = 268
PRODUCT_NAME = 269
SESSION_ID = 263
ORIGIN_HOST = 264
SUPPORTED_VENDOR_ID = 265
AUTH_SESSION_STATE = 277
FAILED_AVP = 279
DEST_REALM = 283
DEST_HOST = 293
ORIGIN_REALM = 296
EXPERIMENTAL_RESULT = 297
EXPERIMENTAL_RESULT_CODE = 298
ORIGIN_STATE_ID = 278
INBAND_SECURITY_ID = 299

# Cx (vendor 10415), TS 29.229 §6.3.
VISITED_NETWORK_ID = 600
PUBLIC_IDENTITY = 601
SERVER_NAME = 602
SERVER_CAPABILITIES = 603
USER_DATA = 606
SIP_NUMBER_AUTH_ITEMS = 607
SIP_AUTH_SCHEME = 608
SIP_AUTHENTICATE = 609
SIP_AUTHORIZATION = 610
SIP_AUTH_DATA_ITEM = 612
SIP_ITEM_NUMBER = 613
SERVER_ASSIGNMENT_TYPE = 614
USER_AUTHORIZATION_TYPE = 623
USER_DATA_ALREADY_AVAILABLE = 624
CONFIDENTIALITY_KEY = 625
INTEGRITY_KEY = 626
SIP_DIGEST_AUTHENTICATE = 635
# RFC 4740 (vendor 0).
DIGEST_REALM = 104
DIGEST_QOP = 110
DIGEST_ALGORITHM = 111
DIGEST_USERNAME = 115
DIGEST_HA1 = 121

CMD_CE, CMD_DW, CMD_DP = 257, 280, 282
CMD_UA, CMD_SA, CMD_LI, CMD_MA = 300, 301, 302, 303

GROUPED = {VSAI, EXPERIMENTAL_RESULT, FAILED_AVP, SERVER_CAPABILITIES,
           SIP_AUTH_DATA_ITEM, SIP_DIGEST_AUTHENTICATE}


def avp(code, data, vendor=None, flags=None):
    """One AVP; data is bytes, str, int (Unsigned32) or a list of AVPs
    (grouped). vendor None: 10415 for Cx codes (600..699), else 0."""
    if vendor is None:
        vendor = VENDOR_3GPP if 600 <= code < 700 else 0
    if isinstance(data, list):
        data = b"".join(data)
    elif isinstance(data, str):
        data = data.encode()
    elif isinstance(data, int):
        data = struct.pack("!I", data)
    if flags is None:
        flags = AVP_M
    if vendor:
        flags |= AVP_V
    hlen = 12 if vendor else 8
    length = hlen + len(data)
    out = struct.pack("!IB", code, flags) + length.to_bytes(3, "big")
    if vendor:
        out += struct.pack("!I", vendor)
    out += data
    out += b"\0" * ((4 - length % 4) % 4)
    return out


def message(cmd, avps, app=CX_APP, flags=FLAG_R | FLAG_P, hbh=1, e2e=1):
    body = b"".join(avps)
    length = 20 + len(body)
    return (bytes([1]) + length.to_bytes(3, "big") + bytes([flags]) +
            cmd.to_bytes(3, "big") + struct.pack("!III", app, hbh, e2e) + body)


def parse_avps(data):
    """[(code, vendor, flags, value bytes)]; raises ValueError on a bad
    length."""
    out = []
    i = 0
    while i + 8 <= len(data):
        code, flags = struct.unpack("!IB", data[i:i + 5])
        length = int.from_bytes(data[i + 5:i + 8], "big")
        vendor = 0
        h = 8
        if flags & AVP_V:
            vendor = struct.unpack("!I", data[i + 8:i + 12])[0]
            h = 12
        if length < h or i + length > len(data):
            raise ValueError("bad AVP length")
        out.append((code, vendor, flags, data[i + h:i + length]))
        i += (length + 3) & ~3
    return out


class Msg:
    def __init__(self, raw):
        self.raw = raw
        self.flags = raw[4]
        self.cmd = int.from_bytes(raw[5:8], "big")
        self.app, self.hbh, self.e2e = struct.unpack("!III", raw[8:20])
        self.avps = parse_avps(raw[20:])

    def all(self, code, avps=None):
        return [v for (c, _, _, v) in (self.avps if avps is None else avps)
                if c == code]

    def get(self, code, avps=None):
        a = self.all(code, avps)
        return a[0] if a else None

    def u32(self, code, avps=None):
        v = self.get(code, avps)
        return struct.unpack("!I", v)[0] if v is not None else None

    def group(self, code, avps=None):
        v = self.get(code, avps)
        return parse_avps(v) if v is not None else None

    def result(self):
        """(code, experimental)"""
        rc = self.u32(RESULT_CODE)
        if rc is not None:
            return rc, False
        g = self.group(EXPERIMENTAL_RESULT)
        if g is not None:
            return self.u32(EXPERIMENTAL_RESULT_CODE, g), True
        return None, False


class Peer:
    """A Diameter client over TCP that did the capabilities exchange."""

    def __init__(self, port, host="127.0.0.1", origin="scscf.ims.test",
                 realm="ims.test", timeout=5.0, cer=True, tls=None,
                 server_hostname=None):
        """tls: an ssl.SSLContext for TLS from the first octet (RFC 6733
        §2.1), verifying the server as server_hostname."""
        self.origin = origin
        self.realm = realm
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock,
                                        server_hostname=server_hostname)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.hbh = 100
        self.sid = 0
        if cer:
            a = self.request(CMD_CE, [
                avp(ORIGIN_HOST, origin), avp(ORIGIN_REALM, realm),
                avp(HOST_IP_ADDRESS, b"\x00\x01\x7f\x00\x00\x01"),
                avp(VENDOR_ID, 0), avp(PRODUCT_NAME, "cx-test", flags=0),
                avp(SUPPORTED_VENDOR_ID, VENDOR_3GPP),
                # RFC 3588 §6.10 NO_INBAND_SECURITY: plain TCP, or TLS
                # from the first octet (RFC 6733 §2.1).
                avp(INBAND_SECURITY_ID, 0),
                avp(VSAI, [avp(VENDOR_ID, VENDOR_3GPP),
                           avp(AUTH_APPLICATION_ID, CX_APP)])],
                app=0, flags=FLAG_R)
            if a.u32(RESULT_CODE) != 2001:
                raise RuntimeError("CER refused: %r" % (a.result(),))

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=5.0):
        """The next message that is not a watchdog (DWRs are answered)."""
        deadline = time.time() + timeout
        while True:
            while len(self.buf) < 4 or len(self.buf) < int.from_bytes(
                    self.buf[1:4], "big"):
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError("no answer")
                self.sock.settimeout(left)
                d = self.sock.recv(65536)
                if not d:
                    raise ConnectionError("closed")
                self.buf += d
            n = int.from_bytes(self.buf[1:4], "big")
            m = Msg(self.buf[:n])
            self.buf = self.buf[n:]
            if m.cmd == CMD_DW and m.flags & FLAG_R:
                self.send_raw(message(CMD_DW, [
                    avp(RESULT_CODE, 2001), avp(ORIGIN_HOST, self.origin),
                    avp(ORIGIN_REALM, self.realm)], app=0, flags=0,
                    hbh=m.hbh, e2e=m.e2e))
                continue
            return m

    def closed_within(self, timeout=3.0):
        try:
            while True:
                self.recv(timeout)
        except ConnectionError:
            return True
        except (TimeoutError, socket.timeout):
            return False
        except OSError:
            return True

    def request(self, cmd, avps, app=CX_APP, flags=FLAG_R | FLAG_P,
                timeout=5.0):
        self.hbh += 1
        self.send_raw(message(cmd, avps, app=app, flags=flags, hbh=self.hbh,
                              e2e=self.hbh))
        while True:
            m = self.recv(timeout)
            if m.hbh == self.hbh:
                return m

    def session(self):
        self.sid += 1
        return avp(SESSION_ID, "%s;%d;%d" % (self.origin, int(time.time()),
                                             self.sid))

    def cx_head(self, dest_realm="ims.test"):
        """Session-Id, VSAI, Auth-Session-State, origin and destination
        realm: the head of every Cx request (TS 29.229 §6.1)."""
        return [self.session(),
                avp(VSAI, [avp(VENDOR_ID, VENDOR_3GPP),
                           avp(AUTH_APPLICATION_ID, CX_APP)]),
                avp(AUTH_SESSION_STATE, 1),
                avp(ORIGIN_HOST, self.origin), avp(ORIGIN_REALM, self.realm),
                avp(DEST_REALM, dest_realm)]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
