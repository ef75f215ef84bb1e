"""SIGHUP: a daemon reloads its certificate, key and -c file without
dropping flows, refuses a broken reload while it keeps serving, and is
never killed by the signal.

P-CSCF: started with certificate A; a UE-side TLS connection stays open;
the files are replaced with certificate B and SIGHUP sent: a new handshake
(python ssl and `openssl s_client`) sees B, the old connection still gets
answers, the daemon lives. Then a broken key, then a key of another
certificate: "reload failed", still B, still alive. Its YAML file: a new
route and a new log level are applied, a new listen address is reported as
needing a restart, a broken file is refused.

S-CSCF with a tls: listener (mutual TLS: its peer shows a network-element
certificate): the same certificate swap, an OPTIONS answered on the
connection from before, a broken key refused; its expiry settings from the
YAML file applied; its CA files read again (a peer of the old root is
refused once the YAML file names another root; with two CA files a peer
of the second root is trusted once a reload lists its name in peers).

P-CSCF core side: the --core-cert files replaced and SIGHUP sent: the next
core TLS connection (to an `openssl s_server -Verify` stand-in S-CSCF)
presents the new network-element certificate.
"""
import os
import re
import shutil
import signal
import ssl
import subprocess
import time

from attacklib import (HOME, TRUST_DOMAIN, VISITED, Lab, openssl_s_server,
                       register, request, status)

A = "pcscf.ims.mnc001.mcc001.3gppnetwork.org"
B = "pcscf-b.ims.mnc001.mcc001.3gppnetwork.org"
SCSCF = "scscf." + HOME
CORE1 = "pcscf-core1." + HOME
CORE2 = "pcscf-core2." + HOME
# Plain TCP on the core side is an explicit exception (TS 33.210), from
# listed addresses only.
INSECURE = ("--insecure-core", "--peer-addr", "127.0.0.1")


def node(lab, host):
    """A network-element certificate (EKU serverAuth and clientAuth) of the
    home operator: (chain, key) paths (made once)."""
    base = lab.path("pki", "node-" + host)
    if os.path.exists(base + ".chain.pem"):
        return base + ".chain.pem", base + ".key"
    cp = lab.run("pki", "node", "--dir", lab.path("pki"), "--mcc", "001",
                 "--mnc", "001", "--host", host)
    files = dict(re.findall(r"^(\w+)=(.*)$", cp.stdout, re.M))
    return tuple(f if f.startswith("/") else os.path.join(lab.dir, f)
                 for f in (files["chain"], files["key"]))


def der_of(pem_file):
    """DER of the first certificate in a PEM file."""
    with open(pem_file) as f:
        text = f.read()
    end = text.index("-----END CERTIFICATE-----") + len(
        "-----END CERTIFICATE-----")
    return ssl.PEM_cert_to_DER_cert(text[:end] + "\n")


def seen_cert(lab, port, peer=None):
    """The leaf a fresh TLS handshake shows (DER), or None. `peer`: the
    (chain, key) to present as a client certificate."""
    try:
        c = lab.connect_tls(port, cert=peer[0] if peer else None,
                            key=peer[1] if peer else None)
    except (OSError, ssl.SSLError):
        return None
    try:
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def s_client_subject(port):
    """The subject line `openssl s_client -showcerts` prints for the
    server's leaf, or None (no openssl, no handshake)."""
    if not shutil.which("openssl"):
        return None
    try:
        cp = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
             "-showcerts"], input="", capture_output=True, text=True,
            timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in cp.stdout.splitlines():
        if line.startswith("subject=") or line.strip().startswith("0 s:"):
            return line
    return None


def install(lab, name, live):
    """Copy P-CSCF certificate `name` (chain, key) into live/cert.pem and
    live/key.pem: what an operator does before the SIGHUP."""
    d = lab.path("pki")
    shutil.copyfile(os.path.join(d, name + ".chain.pem"),
                    os.path.join(live, "cert.pem"))
    shutil.copyfile(os.path.join(d, name + ".key"),
                    os.path.join(live, "key.pem"))


def hup(lab, proc, want, count):
    """SIGHUP, then wait for the `count`-th line matching `want`."""
    proc.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if len(re.findall(want, proc.log_text(), re.M)) >= count:
            return True
        if not proc.alive():
            return False
        time.sleep(0.05)
    return False


def start_scscf(lab, *extra):
    """The S-CSCF of the home network: tcp listener for the P-CSCF (and any
    tls: listeners in `extra`). All start-up flags in one place."""
    return lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                     "--db", lab.path("hss.db"), *INSECURE, *extra,
                     ready=r"listening on tcp:127.0.0.1:(\d+)")


def start_pcscf(lab, *args):
    return lab.start("pcscf", "--listen", "tls:127.0.0.1:0", *args,
                     ready=r"listening on tls:127.0.0.1:(\d+)")


def pcscf_part(lab, sc):
    live = lab.path("live")
    os.makedirs(live)
    install(lab, A, live)
    cert, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
    pc = start_pcscf(lab, "--cert", cert, "--key", key, "--route",
                     "%s=tcp:127.0.0.1:%d" % (HOME, sc.port), *INSECURE)
    der_a = der_of(cert)
    lab.check(seen_cert(lab, pc.port) == der_a, "P-CSCF shows certificate A")

    ue = lab.connect_tls(pc.port)
    ue.send(lab_register(1, 1))
    r = ue.recv_or_none(5)
    lab.check(status(r) == 401,
              "a REGISTER over the first connection is challenged")

    install(lab, B, live)
    der_b = der_of(cert)
    lab.check(hup(lab, pc, r"pcscf info: reloaded", 1),
              "SIGHUP: the P-CSCF logs 'reloaded'")
    lab.check(pc.alive(), "SIGHUP does not kill the P-CSCF")
    lab.check(seen_cert(lab, pc.port) == der_b,
              "a new handshake after the reload sees certificate B")
    if shutil.which("openssl"):
        subj = s_client_subject(pc.port) or ""
        lab.check(B in subj, "openssl s_client -showcerts sees B: " + subj)
    ue.send(lab_register(1, 2))
    r = ue.recv_or_none(5)
    lab.check(status(r) == 401,
              "the connection from before the reload still gets answers")

    # A broken key: refused, B kept.
    with open(key, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nbroken\n"
                "-----END PRIVATE KEY-----\n")
    lab.check(hup(lab, pc, r"pcscf error: reload failed: .*"
                  r"keeping the running configuration", 1),
              "a broken key: 'reload failed ... keeping the running "
              "configuration'")
    lab.check(pc.alive(), "the P-CSCF survives a failed reload")
    lab.check(seen_cert(lab, pc.port) == der_b, "still certificate B")
    # The key of certificate A beside certificate B: refused.
    shutil.copyfile(os.path.join(lab.path("pki"), A + ".key"), key)
    lab.check(hup(lab, pc, r"reload failed: .*does not match", 1),
              "a key of another certificate: 'reload failed', says why")
    lab.check(seen_cert(lab, pc.port) == der_b, "still certificate B")
    ue.send(lab_register(1, 3))
    r = ue.recv_or_none(5)
    lab.check(status(r) == 401,
              "the first connection still works after two failed reloads")
    lab.check(pc.alive(), "the P-CSCF is alive")
    ue.close()


def pcscf_yaml_part(lab, sc):
    """-c FILE: routes and log level applied; listen needs a restart; a
    broken file refused."""
    d = lab.path("pki")
    conf = lab.path("pcscf.yaml")

    def write(extra_routes, level, listen="tls:127.0.0.1:0"):
        with open(conf, "w") as f:
            f.write("listen: %s\ncert: %s\nkey: %s\nlog_level: %s\n"
                    "insecure_core: true\npeer_addrs: [127.0.0.1]\n"
                    "routes:\n  - %s=tcp:127.0.0.1:%d\n%s" %
                    (listen, os.path.join(d, A + ".chain.pem"),
                     os.path.join(d, A + ".key"), level, HOME, sc.port,
                     "".join("  - %s\n" % r for r in extra_routes)))

    write([], "info")
    pc = lab.start("pcscf", "-c", conf, name="pcscf-yaml",
                   ready=r"listening on tls:127.0.0.1:(\d+)")
    ue = lab.connect_tls(pc.port)
    ue.send(lab_register(2, 1, domain=VISITED))
    r = ue.recv_or_none(5)
    lab.check(status(r) == 403 and "Domain not served" in r,
              "before: a REGISTER for a domain not in the table gets 403")

    write(["%s=tcp:127.0.0.1:%d" % (VISITED, sc.port)], "debug")
    lab.check(hup(lab, pc, r"pcscf info: reloaded$", 1),
              "YAML reload with a new route and log level: 'reloaded'")
    routed = r"REGISTER from flow \d+ IMPI \S+@%s -> " % re.escape(VISITED)
    ue.send(lab_register(2, 2, domain=VISITED))
    ue.recv_or_none(5)
    lab.check(len(re.findall(routed, pc.log_text())) == 1,
              "after: the new route is followed (forwarded to the S-CSCF)")
    seen_cert(lab, pc.port)  # a new flow, logged at debug level only
    lab.check(pc.wait_log(r"pcscf debug: ", 5) is not None,
              "after: the new log level (debug lines)")

    write(["%s=tcp:127.0.0.1:%d" % (VISITED, sc.port)], "debug",
          listen="tls:127.0.0.1:1")
    lab.check(hup(lab, pc, r"reloaded; needs a restart: listen", 1),
              "a new listen address: 'needs a restart: listen'")

    with open(conf, "w") as f:
        f.write("listen: [unclosed\n")
    lab.check(hup(lab, pc, r"reload failed: .*pcscf.yaml.*keeping", 1),
              "a broken YAML file: 'reload failed' naming the file")
    ue.send(lab_register(2, 3, domain=VISITED))
    ue.recv_or_none(5)
    lab.check(len(re.findall(routed, pc.log_text())) == 2,
              "the running configuration is kept (the route stays)")
    lab.check(pc.alive(), "the P-CSCF is alive")
    ue.close()


def try_options(lab, port, cred, call_id, cseq):
    """One OPTIONS over a new mutual-TLS connection as `cred` (cert, key);
    a refused handshake or no answer is fine: the S-CSCF's log says what
    it decided."""
    try:
        c = lab.connect_tls(port, cert=cred[0], key=cred[1])
        c.send(request("OPTIONS", "sip:" + HOME, "sip:p@" + HOME,
                       "sip:" + HOME, call_id, cseq))
        c.recv_or_none(3)
        c.close()
    except (OSError, ssl.SSLError):
        pass


def scscf_part(lab):
    live = lab.path("live-s")
    os.makedirs(live)
    install(lab, A, live)
    cert, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
    conf = lab.path("scscf.yaml")
    root = lab.path("pki", "root.crt")

    def write(text, ca=root):
        with open(conf, "w") as f:
            f.write("ca: %s\n%s" % (ca, text))

    write("expires_min: 60\n")
    sc = lab.start("scscf", "--listen", "tls:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"), "--cert", cert, "--key", key,
                   "-c", conf, name="scscf-tls",
                   ready=r"listening on tls:127.0.0.1:(\d+)")
    # A core peer (TS 33.210): mutual TLS with a network-element
    # certificate of the home operator.
    me = node(lab, CORE1)
    der_a = der_of(cert)
    lab.check(seen_cert(lab, sc.port, me) == der_a,
              "S-CSCF shows certificate A")
    peer = lab.connect_tls(sc.port, cert=me[0], key=me[1])
    opts = request("OPTIONS", "sip:" + HOME, "sip:p@" + HOME, "sip:" + HOME,
                   "o1@x", 1)
    peer.send(opts)
    r = peer.recv_or_none(5)
    lab.check(status(r) > 0 and status(r) != 403,
              "an OPTIONS over mutual TLS to the S-CSCF is answered")

    install(lab, B, live)
    write("expires_min: 120\n")
    lab.check(hup(lab, sc, r"scscf info: reloaded", 1),
              "SIGHUP: the S-CSCF logs 'reloaded'")
    lab.check(sc.alive(), "SIGHUP does not kill the S-CSCF")
    lab.check(seen_cert(lab, sc.port, me) == der_of(cert),
              "a new handshake with the S-CSCF sees certificate B")
    peer.send(request("OPTIONS", "sip:" + HOME, "sip:p@" + HOME,
                      "sip:" + HOME, "o2@x", 2))
    r = peer.recv_or_none(5)
    lab.check(status(r) > 0,
              "the S-CSCF connection from before the reload still answers")

    with open(key, "w") as f:
        f.write("not a key\n")
    lab.check(hup(lab, sc, r"scscf error: reload failed: .*keeping", 1),
              "S-CSCF broken key: 'reload failed'")
    lab.check(sc.alive(), "the S-CSCF survives a failed reload")
    lab.check(seen_cert(lab, sc.port, me) == der_of(
        os.path.join(lab.path("pki"), B + ".chain.pem")),
        "the S-CSCF still shows certificate B")
    write("expires_min: 700\nexpires_max: 600\n")
    install(lab, B, live)
    lab.check(hup(lab, sc, r"reload failed: expiry settings", 1),
              "S-CSCF expires_min above expires_max: 'reload failed'")
    write("expires_min: 60\nadvertise: tcp:127.0.0.1:9\n")
    lab.check(hup(lab, sc, r"reloaded; needs a restart: advertise", 1),
              "S-CSCF new advertise address: 'needs a restart: advertise'")
    write("expires_min: 60\nadvertise: tcp:127.0.0.1:9\n"
          "aliases: [127.0.0.2:5062]\n")
    lab.check(hup(lab, sc, r"reloaded; needs a restart: .*aliases", 1),
              "S-CSCF new sibling aliases: 'needs a restart: ... aliases'")

    # The CA files are read again: under another root the same peer's
    # chain no longer validates, and a new connection of it is refused.
    refused = r"refused core peer tls:127\.0\.0\.1:\d+"
    lab.check(not re.search(refused, sc.log_text()),
              "before: the peer is trusted")
    other = lab.path("pki-other")
    lab.run("pki", "init", "--dir", other, "--trust-domain", TRUST_DOMAIN)
    write("expires_min: 60\nadvertise: tcp:127.0.0.1:9\n",
          ca=os.path.join(other, "root.crt"))
    lab.check(hup(lab, sc, r"scscf info: reloaded", 4),
              "a new CA file: 'reloaded'")
    try_options(lab, sc.port, me, "o3@x", 3)
    lab.check(sc.wait_log(refused, 5) is not None,
              "after: a peer of the old root is refused (new anchors)")
    peer.send(request("OPTIONS", "sip:" + HOME, "sip:p@" + HOME,
                      "sip:" + HOME, "o4@x", 4))
    r = peer.recv_or_none(5)
    lab.check(status(r) > 0 and status(r) != 403,
              "the connection judged before the reload keeps its verdict")
    n_refused = len(re.findall(refused, sc.log_text()))
    write("expires_min: 60\nadvertise: tcp:127.0.0.1:9\n")
    lab.check(hup(lab, sc, r"scscf info: reloaded", 5),
              "the home root again: 'reloaded'")
    c = lab.connect_tls(sc.port, cert=me[0], key=me[1])
    c.send(request("OPTIONS", "sip:" + HOME, "sip:p@" + HOME, "sip:" + HOME,
                   "o5@x", 5))
    r = c.recv_or_none(5)
    c.close()
    lab.check(status(r) > 0 and status(r) != 403 and
              len(re.findall(refused, sc.log_text())) == n_refused,
              "the peer is trusted again")

    # Two CA files, and a peer of the second root trusted by its name
    # only once a reload lists it (--peer, YAML peers).
    lab.run("pki", "operator", "--dir", other, "--mcc", "001", "--mnc", "002")
    far = "pcscf.ims.mnc002.mcc001.3gppnetwork.org"
    cp = lab.run("pki", "node", "--dir", other, "--mcc", "001", "--mnc", "002",
                 "--host", far)
    files = dict(re.findall(r"^(\w+)=(.*)$", cp.stdout, re.M))
    them = tuple(f if f.startswith("/") else os.path.join(lab.dir, f)
                 for f in (files["chain"], files["key"]))
    both = "[%s, %s]" % (root, os.path.join(other, "root.crt"))
    listed = r"core peer tls:127\.0\.0\.1:\d+ '%s' trusted" % re.escape(far)

    def far_peer():
        try_options(lab, sc.port, them, "o6@x", 6)

    write("expires_min: 60\nadvertise: tcp:127.0.0.1:9\n", ca=both)
    lab.check(hup(lab, sc, r"scscf info: reloaded", 6),
              "two CA files: 'reloaded'")
    far_peer()
    lab.check(sc.wait_log(refused + r" name '%s'" % re.escape(far), 5)
              is not None and not re.search(listed, sc.log_text()),
              "a peer of the second root, not listed: refused")
    write("expires_min: 60\nadvertise: tcp:127.0.0.1:9\npeers: [%s]\n" % far,
          ca=both)
    lab.check(hup(lab, sc, r"scscf info: reloaded", 7),
              "its name in peers: 'reloaded'")
    far_peer()
    lab.check(sc.wait_log(listed, 5) is not None,
              "after: the listed peer of the second CA file is trusted")
    lab.check(sc.alive(), "the S-CSCF is alive")
    peer.close()


def s_server(lab, name, cert, key):
    """`openssl s_server` as a TLS S-CSCF with the home operator's CA in its
    chain; it prints the client certificate's subject."""
    return openssl_s_server(lab, name, cert, key,
                            lab.path("pki", "op-mcc001-mnc001.crt"))


def pcscf_core_part(lab):
    """The core side's certificate (--core-cert, --core-key) reloaded: the
    next core TLS connection presents the new one (TS 33.210 §5.2)."""
    if not shutil.which("openssl"):
        print("SKIP pcscf_core_part: no openssl")
        return
    d = lab.path("pki")
    core1, core2, scscf = node(lab, CORE1), node(lab, CORE2), node(lab, SCSCF)
    live = lab.path("live-core")
    os.makedirs(live)
    ccert, ckey = os.path.join(live, "core.pem"), os.path.join(live, "core.key")

    def put(n):
        shutil.copyfile(n[0], ccert)
        shutil.copyfile(n[1], ckey)

    conf = lab.path("pcscf-core.yaml")

    def route(port):
        with open(conf, "w") as f:
            f.write("routes:\n  - %s=tls:127.0.0.1:%d;name=%s\n" %
                    (HOME, port, SCSCF))

    put(core1)
    srv1 = s_server(lab, "s_server-1", scscf[0], scscf[1])
    route(srv1.port)
    pc = lab.start("pcscf", "--listen", "tls:127.0.0.1:0",
                   "--cert", os.path.join(d, A + ".chain.pem"),
                   "--key", os.path.join(d, A + ".key"),
                   "--core-cert", ccert, "--core-key", ckey,
                   "--core-ca", os.path.join(d, "root.crt"), "-c", conf,
                   name="pcscf-core",
                   ready=r"listening on tls:127.0.0.1:(\d+)")
    subject = r"^subject=.*CN ?= ?%s"
    ue = lab.connect_tls(pc.port)
    ue.send(lab_register(1, 1))
    lab.check(srv1.wait_log(r"^REGISTER sip:", 8) is not None,
              "the REGISTER reached the TLS S-CSCF stand-in")
    lab.check(re.search(subject % re.escape(CORE1), srv1.log_text(), re.M)
              is not None, "before: the core connection presents " + CORE1)
    ue.close()

    put(core2)
    srv2 = s_server(lab, "s_server-2", scscf[0], scscf[1])
    route(srv2.port)
    lab.check(hup(lab, pc, r"pcscf info: reloaded", 1),
              "SIGHUP with a new core certificate: 'reloaded'")
    ue = lab.connect_tls(pc.port)
    ue.send(lab_register(1, 2))
    lab.check(srv2.wait_log(r"^REGISTER sip:", 8) is not None,
              "after: the REGISTER reached the new route")
    out = srv2.log_text()
    lab.check(re.search(subject % re.escape(CORE2), out, re.M) is not None
              and re.search(subject % re.escape(CORE1), out, re.M) is None,
              "after: the next core TLS connection presents " + CORE2)
    ue.close()

    # A core key of another certificate: refused, the running one kept.
    shutil.copyfile(core1[1], ckey)
    lab.check(hup(lab, pc, r"reload failed: core listener: .*does not match",
                  1), "a core key of another certificate: 'reload failed'")
    lab.check(pc.alive(), "the P-CSCF is alive")


def lab_register(n, cseq, domain=HOME):
    return register(n, cseq=cseq, call_id="reload-%d-%s" % (n, domain),
                    domain=domain)


with Lab() as lab:
    lab.pki(operators=("001",))
    lab.run("pki", "pcscf", "--dir", lab.path("pki"), "--mcc", "001",
            "--mnc", "001", "--host", B)
    lab.hss_add(1)
    sc = start_scscf(lab)
    # Each part on its own: a daemon killed in one still lets the others
    # show what they show.
    for part, args in ((pcscf_part, (lab, sc)), (pcscf_yaml_part, (lab, sc)),
                       (scscf_part, (lab,)), (pcscf_core_part, (lab,))):
        try:
            part(*args)
        except (OSError, ssl.SSLError, RuntimeError, EOFError,
                TimeoutError) as e:
            lab.check(False, "%s: %s: %s" % (part.__name__,
                                             type(e).__name__, e))
    lab.check(sc.alive(), "the S-CSCF is alive")
