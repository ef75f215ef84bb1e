"""Mw over mutual TLS with a real peer (TS 33.210 Za/Zb, certificates as
TS 33.310 profiles them): Kamailio, with its tls module requiring and
verifying client certificates against the trust-domain root, plays the
S-CSCF behind `imsec pcscf --route HOME=tls:IP:PORT;name=NAME`.

- Good case: the UE's REGISTER crosses the P-CSCF to Kamailio over TLS and
  Kamailio's 200 comes back to the UE; Kamailio logs the P-CSCF's client
  certificate subject with verified=1, and the P-CSCF logs the S-CSCF's
  verified name.
- Kamailio with a certificate of another name: the P-CSCF refuses it
  (name mismatch), no SIP byte reaches it, the UE gets 503.
- A P-CSCF whose core certificate has no EKU clientAuth (a `pki rogue
  --kind outside` server certificate), or one that chains to no trust
  anchor: Kamailio refuses the handshake, nothing reaches its script, the
  UE gets 503.

Kamailio runs as the invoking user in the foreground (-DD -E), with its
own runtime folder, pid file and small memory pools, listening on one
loopback TLS port only. It is a dependency of `make test`
(scripts/packages.txt): when it is missing the test says so and fails.
"""
import os
import re
import shutil
import subprocess
import time

from attacklib import HOME, Lab, Proc, register, status

SCSCF = "scscf." + HOME
PCSCF = "pcscf." + HOME

TLS_CFG = """# Kamailio tls module: the S-CSCF side of Mw (TS 33.210).
[server:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
verify_depth = 3
certificate = {cert}
private_key = {key}
ca_list = {ca}
"""

# Only the modules the route needs; no UDP or TCP listener, no control
# socket, no DNS.
KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
dns=no
rev_dns=no
disable_sctp=yes
enable_tls=yes
listen=tls:127.0.0.1:{port}

loadmodule "tls.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
modparam("tls", "config", "{tls_cfg}")

request_route {{
    # $tls_peer_subject is <null> in Kamailio 5.6 with OpenSSL 3: the
    # subject is logged by its parts.
    xlog("L_NOTICE", "imsec-interop: $rm $ru from $si proto=$pr $tls_version sni=[$tls_peer_server_name] peer=[O=$tls_peer_subject_organization, CN=$tls_peer_subject_cn] san=[$tls_peer_san_uri] verified=$tls_peer_verified path=[$hdr(Path)]\\n");
    if ($rm == "REGISTER") {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


def find_kamailio():
    """The kamailio binary: $KAMAILIO, else kamailio on the PATH or in
    /usr/sbin (outside a user's PATH)."""
    if os.environ.get("KAMAILIO"):
        return shutil.which(os.environ["KAMAILIO"])
    path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin"
    return shutil.which("kamailio", path=path)


def listening(port):
    """Whether 127.0.0.1:port is in LISTEN state, without connecting (a
    probe connection would show in Kamailio's log as a failed handshake)."""
    want = "0100007F:%04X" % port
    try:
        with open("/proc/net/tcp") as f:
            return any(line.split()[1] == want and line.split()[3] == "0A"
                       for line in f.readlines()[1:])
    except OSError:
        return False


def node(lab, d, host):
    """`imsec pki node` for `host` in pki folder d: (chain, key)."""
    out = lab.run("pki", "node", "--dir", d, "--mcc", "001", "--mnc", "001",
                  "--host", host).stdout
    files = dict(re.findall(r"^(\w+)=(.*)$", out, re.M))
    return (os.path.join(lab.dir, files["chain"]),
            os.path.join(lab.dir, files["key"]))


def kamailio(lab, binary, name, cert, key):
    """Kamailio as a TLS S-CSCF on a free loopback port: a Proc in the lab
    (stopped by its pid with the lab), with .port."""
    port = lab.free_port()
    d = lab.path(name)
    os.makedirs(os.path.join(d, "run"))
    tls_cfg = os.path.join(d, "tls.cfg")
    with open(tls_cfg, "w") as f:
        f.write(TLS_CFG.format(cert=cert, key=key,
                               ca=lab.path("pki", "root.crt")))
    cfg = os.path.join(d, "kamailio.cfg")
    with open(cfg, "w") as f:
        f.write(KAMAILIO_CFG.format(port=port, tls_cfg=tls_cfg))
    log = lab.path(name + ".log")
    with open(log, "w") as lf:
        p = subprocess.Popen(
            [binary, "-f", cfg, "-DD", "-E", "-m", "64", "-M", "8",
             "-Y", os.path.join(d, "run"), "-P", os.path.join(d, "run",
                                                              "kamailio.pid")],
            cwd=d, stdin=subprocess.DEVNULL, stdout=lf,
            stderr=subprocess.STDOUT)
    proc = Proc(name, p, log)
    lab.procs.append(proc)
    deadline = time.monotonic() + 10
    while not listening(port):
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError("kamailio did not start:\n" + proc.log_text())
        time.sleep(0.05)
    proc.port = port
    return proc


def children(pid):
    """The pids whose parent is `pid` (Kamailio's workers)."""
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    st = f.read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(e))
    return out


def wait_count(proc, regex, n, timeout):
    """How often `regex` is in proc's log, waiting up to `timeout` s for n."""
    deadline = time.monotonic() + timeout
    while True:
        got = len(re.findall(regex, proc.log_text(), re.M))
        if got >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def pcscf(lab, name, kport, core):
    """A P-CSCF whose home route is Kamailio, showing `core` (chain, key)."""
    return lab.start(
        "pcscf", "--listen", "tls:127.0.0.1:0",
        "--cert", lab.path("pki", PCSCF + ".chain.pem"),
        "--key", lab.path("pki", PCSCF + ".key"),
        "--route", "%s=tls:127.0.0.1:%d;name=%s" % (HOME, kport, SCSCF),
        "--core-cert", core[0], "--core-key", core[1],
        "--core-ca", lab.path("pki", "root.crt"), "--log-level", "debug",
        name=name,
        ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
              r"tls:127\.0\.0\.1:(\d+)")


def ue_register(lab, pc, n=1):
    """A UE's initial REGISTER over TLS to the P-CSCF: the answer or None."""
    c = lab.connect_tls(pc.ports[0])
    try:
        c.send(register(n))
        return c.recv_or_none(8.0)
    finally:
        c.close()


def first_line(r):
    return r.split("\r\n", 1)[0] if r else "nothing"


def stop_kamailio(lab, k):
    """Stop Kamailio by its pid; its workers go with it."""
    workers = children(k.p.pid)
    rc = k.stop()
    deadline = time.monotonic() + 5
    while any(os.path.exists("/proc/%d" % w) for w in workers) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if os.path.exists("/proc/%d" % w)]
    lab.check(rc == 0 and workers and not left,
              "%s and its %d workers stopped on SIGTERM (exit %s, left %s)"
              % (k.name, len(workers), rc, left))


binary = find_kamailio()
with Lab() as lab:
    if not binary:
        lab.check(False, "kamailio is installed (scripts/deps installs "
                  "kamailio and kamailio-tls-modules)")
        raise SystemExit(1)
    d = lab.pki(operators=("001",))
    # Kamailio's node certificate, and one with another name.
    sc_good = node(lab, d, SCSCF)
    sc_other = node(lab, d, "other." + HOME)
    # The P-CSCF's network-element certificate for Mw, under the same name
    # as its UE-side certificate (pki/pcscf.HOME.*, EKU serverAuth only):
    # pki/node-pcscf.HOME.*.
    pc_node = node(lab, d, PCSCF)

    # ------------------------------------------------------ good case
    k = kamailio(lab, binary, "kamailio", *sc_good)
    lab.check(re.search(r"^Listening on\s*\n\s*tls: 127\.0\.0\.1 "
                        r"\[127\.0\.0\.1\]:%d\s*\nAliases:" % k.port,
                        k.log_text(), re.M) is not None,
              "Kamailio listens on tls:127.0.0.1:%d only" % k.port)
    pc = pcscf(lab, "pcscf-good", k.port, pc_node)
    r = ue_register(lab, pc)
    lab.check(status(r) == 200,
              "the UE gets Kamailio's answer through the P-CSCF (got %s)"
              % first_line(r))
    lab.check(r is not None and re.search(r"(?im)^Server: kamailio", r)
              is not None, "the 200 is Kamailio's (its Server header)")
    m = k.wait_log(r"imsec-interop: REGISTER sip:%s from 127\.0\.0\.1 "
                   r"proto=tls (\S+) sni=\[([^\]]*)\] peer=\[([^\]]*)\] "
                   r"san=\[([^\]]*)\] verified=(\S+)" % re.escape(HOME), 3)
    lab.check(m is not None, "the REGISTER reached Kamailio over TLS (%s)"
              % (m.group(1) if m else "-"))
    lab.check(m is not None and m.group(2) == SCSCF,
              "Kamailio got the route's name as SNI (%s)"
              % (m.group(2) if m else "-"))
    lab.check(m is not None and m.group(3) == "O=%s, CN=%s" % (HOME, PCSCF)
              and m.group(4) == "sip:" + PCSCF,
              "Kamailio saw the P-CSCF's client certificate (%s)"
              % (", ".join(m.group(3, 4)) if m else "-"))
    lab.check(m is not None and m.group(5) == "1",
              "Kamailio verified it against the trust-domain root "
              "(verified=%s)" % (m.group(5) if m else "-"))
    lab.check(k.wait_log(r"path=\[<sip:[0-9a-f]+@127\.0\.0\.1:%d;"
                         r"transport=tls;" % pc.ports[1], 1) is not None,
              "the Path Kamailio got names the P-CSCF's TLS core listener")
    lab.check(pc.wait_log(r"S-CSCF tls:127\.0\.0\.1:%d presented %s"
                          % (k.port, re.escape(SCSCF)), 3) is not None,
              "the P-CSCF logged Kamailio's verified name")
    pc.stop()

    # -------------------- P-CSCFs that Kamailio must refuse (same Kamailio)
    lab.run("pki", "rogue", "--dir", d, "--kind", "selfsigned", "--host",
            PCSCF, "--node")
    rogue = (os.path.join(d, "rogue-node-selfsigned.chain.pem"),
             os.path.join(d, "rogue-node-selfsigned.key"))
    # A server certificate without EKU clientAuth that chains to the root
    # (the `pki pcscf` one carries clientAuth for mode M2b).
    lab.run("pki", "rogue", "--dir", d, "--kind", "outside", "--host",
            "pcscf.example.net")
    no_client = (os.path.join(d, "rogue-outside.chain.pem"),
                 os.path.join(d, "rogue-outside.key"))
    # TLS 1.3: the P-CSCF's handshake completes before Kamailio checks its
    # certificate; Kamailio's alert comes on the first read, after the
    # REGISTER went out, and the P-CSCF answers it 503 (RFC 3261 §16.9).
    for what, core, alert in (("a core certificate without EKU clientAuth",
                               no_client, "unsupported certificate"),
                              ("a self-signed core certificate", rogue,
                               "unknown ca")):
        before = len(re.findall(r"imsec-interop: ", k.log_text()))
        refused = r"TLS accept:.*certificate verify failed"
        refusals = len(re.findall(refused, k.log_text()))
        p = pcscf(lab, "pcscf-refused%d" % (2 if core is rogue else 1),
                  k.port, core)
        r = ue_register(lab, p)
        lab.check(status(r) == 503, "P-CSCF with %s: the UE gets 503 (got %s)"
                  % (what, first_line(r)))
        lab.check(p.wait_log(r"TLS 127\.0\.0\.1:%d: .*alert %s(?: \[flow=\d+\])?$"
                             % (k.port, alert), 2) is not None and
                  p.wait_log(r"flow \d+: 1 request\(s\) sent to the S-CSCF "
                             r"on it answered 503", 1) is not None,
                  "P-CSCF with %s: its log shows Kamailio's alert (%s) and "
                  "the 503" % (what, alert))
        lab.check(wait_count(k, refused, refusals + 1, 2) == refusals + 1,
                  "P-CSCF with %s: Kamailio logged the failed verification"
                  % what)
        lab.check(len(re.findall(r"imsec-interop: ", k.log_text())) == before,
                  "P-CSCF with %s: Kamailio's script saw no request" % what)
        p.stop()
    stop_kamailio(lab, k)

    # ------------------------------------ Kamailio with the wrong name
    k2 = kamailio(lab, binary, "kamailio-other", *sc_other)
    p = pcscf(lab, "pcscf-wrong-name", k2.port, pc_node)
    r = ue_register(lab, p)
    lab.check(status(r) == 503,
              "Kamailio named other.%s: the UE gets 503 (got %s)"
              % (HOME, first_line(r)))
    lab.check(p.wait_log(r"refused S-CSCF tls:127\.0\.0\.1:%d on flow \d+: "
                         r"name mismatch \(other\.%s, expected %s\)"
                         % (k2.port, re.escape(HOME), re.escape(SCSCF)), 3)
              is not None, "the P-CSCF's log says name mismatch")
    lab.check(not re.search(r"imsec-interop: ", k2.log_text()),
              "Kamailio named other.%s: no SIP request reached it" % HOME)
    p.stop()
    stop_kamailio(lab, k2)
