"""An impostor S-CSCF on the P-CSCF's core side (TS 33.210 §5.2, RFC 3325
§2.3, RFC 5922 §7, RFC 3261 §18.1.2).

- A UE's certificate from `imsec pki ue` verifies against the core CA, but
  it is no network element: the TLS core listener refuses it at flow up
  with one log line, and the forged 200s it sends for a victim's REGISTER
  (branches guessed: slot and generation) bind nothing.
- A network-element certificate whose name is no S-CSCF the P-CSCF knows
  (neither a tls: route's name nor a --core-peer) is refused the same way.
- A listed --core-peer is a core flow, but even it cannot answer a REGISTER
  that went to another S-CSCF, not even with the real branch: responses
  are taken only from the flow the request went out on.
- A UE listener on the core listener's port at another address: UE flows
  stay UE flows. Two listeners on one port that cannot be told apart (a
  wildcard, a name) are refused at start (exit 2).
- The P-CSCF's own 503 (S-CSCF unreachable) carries Retry-After.
"""
import os
import re
import socket
import threading

from attacklib import exit_within
from attacklib import HOME, Lab, hdr, impi, impu, register, request, status

PCSCF = "pcscf." + HOME
SCSCF = "scscf." + HOME
EXTRA = "extra." + HOME
ROGUE = "rogue." + HOME


def node_cert(lab, host):
    d = lab.path("pki")
    base = os.path.join(d, "node-" + host)
    if not os.path.exists(base + ".chain.pem"):
        lab.run("pki", "node", "--dir", d, "--mcc", "001", "--mnc", "01",
                "--host", host)
    return base + ".chain.pem", base + ".key"


def ue_cert(lab, n):
    out = lab.run("pki", "ue", "--dir", lab.path("pki"), "--mcc", "001",
                  "--mnc", "01", "--impi", impi(n)).stdout
    return (re.search(r"chain=(\S+)", out).group(1),
            re.search(r"key=(\S+)", out).group(1))


class FakeScscf:
    """A plain TCP stand-in S-CSCF that records what it receives and never
    answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        c.settimeout(20)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                with self.lock:
                    self.seen.append(b.decode(errors="replace"))
        except OSError:
            pass
        finally:
            c.close()

    def text(self):
        with self.lock:
            return "".join(self.seen)

    def close(self):
        self.sock.close()


def forged_200(branch, via_ue, call_id, victim):
    return ("SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=%s\r\n"
            "Via: %s\r\nFrom: <%s>;tag=f1\r\nTo: <%s>;tag=t1\r\n"
            "Call-ID: %s\r\nCSeq: 1 REGISTER\r\n"
            "Contact: <sip:ue@127.0.0.1:5999;transport=tls;ob>;expires=600\r\n"
            "P-Associated-URI: <%s>, <sip:ceo@%s>\r\nContent-Length: 0\r\n\r\n"
            % (branch, via_ue, victim, victim, call_id, victim, HOME))


def pcscf(lab, fake_port, *extra, name=None, listen="tls:127.0.0.1:0",
          core="tls:127.0.0.1:0", ready=None):
    node = node_cert(lab, PCSCF)
    return lab.start(
        "pcscf", "--listen", listen,
        "--cert", lab.path("pki", PCSCF + ".chain.pem"),
        "--key", lab.path("pki", PCSCF + ".key"),
        "--route", "%s=tcp:127.0.0.1:%d" % (HOME, fake_port),
        "--route", "other.example=tls:127.0.0.1:9;name=%s" % SCSCF,
        "--insecure-core", "--core", core,
        "--core-cert", node[0], "--core-key", node[1],
        "--core-ca", lab.path("pki", "root.crt"), "--log-level", "debug",
        *extra, name=name,
        ready=ready or r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
                       r"tls:127\.0\.0\.1:(\d+)")


def first_line(r):
    return r.split("\r\n", 1)[0] if r else "nothing"


with Lab() as lab:
    lab.pki(operators=("001",))
    uchain, ukey = ue_cert(lab, 7)
    rogue = node_cert(lab, ROGUE)
    extra = node_cert(lab, EXTRA)

    # ------------------------ a UE's certificate poses as an S-CSCF
    fake = FakeScscf()
    pc = pcscf(lab, fake.port, "--core-peer", EXTRA, name="pcscf-impostor")
    ue = lab.connect_tls(pc.ports[0])             # the attacker's UE flow
    reg = register(1, call_id="hijack@atk")       # for the victim's IMPI
    ue.send(reg)
    lab.check(pc.wait_log(r"REGISTER from flow", 5) is not None,
              "the REGISTER went to the route's S-CSCF")
    core = None
    try:
        core = lab.connect_tls(pc.ports[1], cert=uchain, key=ukey)
        via_ue = hdr(reg, "Via")
        core.send("".join(
            forged_200("z9hG4bKpc%08x%08x" % (slot, gen), via_ue,
                       "hijack@atk", impu(1))
            for slot in range(4) for gen in range(4)))
    except OSError:
        pass
    lab.check(pc.wait_log(r"refused core flow \d+ from tls:127\.0\.0\.1:\d+ "
                          r"\(.*\): not a network element certificate", 5)
              is not None,
              "a UE's certificate on the core listener: refused at flow up, "
              "logged with its address and the reason")
    r = ue.recv_or_none(2)
    lab.check(r is None or status(r) != 200,
              "the forged 200s reach no UE (got %s)" % first_line(r))
    ue.send(request("MESSAGE", "sip:x@" + HOME, impu(1), "sip:x@" + HOME,
                    "m1@atk", 1, via_tp="TLS"))
    r = ue.recv_or_none(5)
    lab.check(status(r) == 403,
              "the victim's identity is not bound to the attacker's flow "
              "(MESSAGE: %s)" % first_line(r))
    if core:
        core.close()

    # ---------------------- a network element that is no known S-CSCF
    try:
        c = lab.connect_tls(pc.ports[1], cert=rogue[0], key=rogue[1])
        c.send(request("OPTIONS", "sip:x@" + HOME, "sip:a@" + HOME,
                       "sip:x@" + HOME, "rogue@atk", 1))
        lab.check(c.recv_or_none(3) is None,
                  "a node certificate of another name: nothing answered")
        c.close()
    except OSError:
        lab.check(True, "a node certificate of another name: nothing answered")
    lab.check(pc.wait_log(r"refused core flow \d+ from tls:127\.0\.0\.1:\d+ "
                          r"\(" + re.escape(ROGUE) + r"\): not a known S-CSCF",
                          3) is not None,
              "a node certificate of another name: refused, named in the log")

    # ------------ a listed core peer answers a REGISTER sent elsewhere
    ue2 = lab.connect_tls(pc.ports[0])
    reg2 = register(2, call_id="elsewhere@atk")
    before = len(fake.text())
    ue2.send(reg2)
    m = None
    for _ in range(50):
        m = re.search(r"REGISTER sip:[^\r]*\r\n(?:[^\r]*\r\n)*?Via: [^\r]*"
                      r"branch=(z9hG4bKpc[0-9a-f]+)", fake.text()[before:])
        if m:
            break
        threading.Event().wait(0.1)
    lab.check(m is not None, "the second REGISTER reached the route's S-CSCF")
    lab.check(m is not None and len(m.group(1)) == 9 + 16 + 24,
              "our branch carries a MAC (%s)" % (m and m.group(1)))
    peer = lab.connect_tls(pc.ports[1], cert=extra[0], key=extra[1])
    peer.send(request("MESSAGE", "sip:001010000000001@" + HOME,
                      "sip:a@" + HOME, "sip:001010000000001@" + HOME,
                      "peer@atk", 1, via_host="127.0.0.1:5061",
                      headers="Route: <sip:%s@127.0.0.1:%d;lr>\r\n" %
                      ("0" * 40, pc.ports[1])))
    r = peer.recv_or_none(5)
    lab.check(status(r) == 430,
              "a --core-peer is a core flow (token request: %s)"
              % first_line(r))
    lab.check(pc.wait_log(r"core flow \d+ from tls:127\.0\.0\.1:\d+ presents "
                          + re.escape(EXTRA), 2) is not None,
              "the listed core peer's name is logged")
    if m:
        peer.send(forged_200(m.group(1), hdr(reg2, "Via"), "elsewhere@atk",
                             impu(2)))
    r = ue2.recv_or_none(2)
    lab.check(r is None or status(r) != 200,
              "a 200 with the real branch from another core flow reaches "
              "no UE (got %s)" % first_line(r))
    lab.check(pc.wait_log(r"for a transaction sent elsewhere; dropped", 2)
              is not None, "the misplaced response is logged and dropped")
    peer.close()
    ue.close()
    ue2.close()
    pc.stop()
    fake.close()

    # ------------------------------ one port, two addresses
    fake = FakeScscf()
    port = lab.free_port()
    pc = pcscf(lab, fake.port, name="pcscf-sameport",
               listen="tls:127.0.0.1:%d" % port,
               core="tls:127.0.0.2:%d" % port,
               ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
                     r"tls:127\.0\.0\.2:(\d+)")
    u = lab.connect_tls(port)
    u.send(register(1))
    lab.check(pc.wait_log(r"REGISTER from flow \d+ IMPI", 5) is not None,
              "UE listener on the core's port at another address: the UE's "
              "REGISTER is forwarded")
    lab.check(re.search(r"UE flow \d+ up", pc.log_text()) is not None and
              not re.search(r"refused core flow", pc.log_text()),
              "... as a UE flow, not a core flow")
    u.close()
    pc.stop()
    fake.close()
    for listen, core in (("tls:0.0.0.0:%d" % port, "tls:127.0.0.1:%d" % port),
                         ("tls:127.0.0.1:%d" % port,
                          "tls:localhost:%d" % port)):
        rc, err = exit_within(lab, [
            "pcscf", "--listen", listen,
            "--cert", lab.path("pki", PCSCF + ".chain.pem"),
            "--key", lab.path("pki", PCSCF + ".key"),
            "--route", "%s=tls:127.0.0.1:9;name=%s" % (HOME, SCSCF),
            "--core", core, "--core-cert", node_cert(lab, PCSCF)[0],
            "--core-key", node_cert(lab, PCSCF)[1],
            "--core-ca", lab.path("pki", "root.crt")])
        lab.check(rc == 2 and "cannot be told apart" in err,
                  "--listen %s --core %s: exit 2 (got %s)" % (listen, core, rc))

    # ------------------------------ Retry-After on the P-CSCF's own 503
    dead = lab.free_port()
    pc = lab.start("pcscf", "--listen", "tls:127.0.0.1:0",
                   "--cert", lab.path("pki", PCSCF + ".chain.pem"),
                   "--key", lab.path("pki", PCSCF + ".key"),
                   "--route", "%s=tcp:127.0.0.1:%d" % (HOME, dead),
                   "--core", "tcp:127.0.0.1:0", "--insecure-core",
                   "--peer-addr", "127.0.0.1", name="pcscf-503",
                   ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
                         r"tcp:127\.0\.0\.1:(\d+)")
    u = lab.connect_tls(pc.ports[0])
    u.send(register(1))
    r = u.recv_or_none(8)
    lab.check(status(r) == 503 and hdr(r, "Retry-After") == "30",
              "S-CSCF unreachable: 503 with Retry-After: 30 (got %s, %s)"
              % (first_line(r), r and hdr(r, "Retry-After")))
    u.close()
    pc.stop()
