"""`imsec hss serve` for its operator (docs/OPERATIONS.md): a -c YAML
file, --check-config (ok, and a broken file: exit 2, one line), the
control socket and /metrics with an S-CSCF connected over Cx.

After an S-CSCF's REGISTER (SAR and MAR over Cx) and a raw MAR for an
unknown user, `imsec ctl peers` lists the S-CSCF open, `imsec ctl stats`
and /metrics (curl, `promtool check metrics`) count the Cx requests by
command and result with their latency, the peer up and the store's
queue; a reload applies log_level and names what needs a restart; a
drain ends the HSS with exit 0. With log_format json every stderr line of
the HSS, freeDiameter's included, is one JSON object."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from attacklib import Lab, HOME, impi, register, status
import diameter as d


def ctl(lab, sock, *args):
    return subprocess.run([lab.imsec, "ctl", "--socket", sock] + list(args),
                          cwd=lab.dir, capture_output=True, text=True,
                          timeout=20)


def openssl(lab, *args):
    subprocess.run(["openssl"] + list(args), cwd=lab.dir, check=True,
                   capture_output=True, timeout=30)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


with Lab() as lab:
    lab.hss_add(1)
    port, mport = lab.free_port(), lab.free_port()
    while mport == port:
        mport = lab.free_port()
    sock = lab.path("hss.ctl")
    conf = lab.path("hss.yaml")
    base = ("# the HSS for hss_ops.py\n"
            "db: hss.db\n"
            "diameter: tcp:127.0.0.1:%d\n"
            "diameter_identity: hss.%s\n"
            "diameter_realm: %s\n"
            "ctl_socket: %s\n"
            "metrics: tcp:127.0.0.1:%d\n"
            "log_format: json\n"
            "drain_timeout_ms: 3000\n" % (port, HOME, HOME, sock, mport))
    write(conf, base + "log_level: info\n")
    checked = lab.path("checked.yaml")

    # ------------------------------------------------- the HSS, an S-CSCF
    hss = lab.start("hss", "serve", "-c", conf,
                    ready=r'"msg":"listening on diameter '
                    r'tcp:127\.0\.0\.1:\d+"')
    sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                   "--hss", "diameter:127.0.0.1:%d" % port,
                   "--diameter-identity", "scscf." + HOME,
                   "--diameter-realm", HOME, "--hss-identity", "hss." + HOME,
                   "--registrations", lab.path("reg.db"),
                   "--insecure-core", "--peer-addr", "127.0.0.1",
                   "--ctl-socket", lab.path("scscf.ctl"))

    # ------------------------------------------------------ --check-config
    # (An S-CSCF connects meanwhile.) A copy of the file whose socket is
    # not the running HSS's: the check must bind nothing.
    write(checked, base.replace(sock, lab.path("check.ctl")) +
          "log_level: info\n")
    cp = lab.run("hss", "serve", "-c", checked, "--check-config",
                 check=False)
    lab.check(cp.returncode == 0 and
              cp.stdout.strip() == "imsec hss serve: configuration ok",
              "--check-config on a good file: ok, exit 0 (%d %r %r)" %
              (cp.returncode, cp.stdout, cp.stderr))
    lab.check(not os.path.exists(lab.path("check.ctl")),
              "  and it bound nothing")
    broken = lab.path("broken.yaml")
    write(broken, base + "log_level: info\ndiameter_certs: x.pem\n")
    cp = lab.run("hss", "serve", "-c", broken, "--check-config", check=False)
    lines = cp.stderr.strip().splitlines()
    lab.check(cp.returncode == 2 and len(lines) == 1 and
              re.search(r"broken\.yaml:11: .*diameter_certs", lines[0]),
              "an unknown key: exit 2, one line naming file, line and key "
              "(%d %r)" % (cp.returncode, cp.stderr))
    write(broken, base.replace("db: hss.db", "db: nothere.db"))
    cp = lab.run("hss", "serve", "-c", broken, "--check-config", check=False)
    lab.check(cp.returncode == 2 and len(cp.stderr.strip().splitlines()) == 1
              and "nothere.db" in cp.stderr,
              "a database that is not there: exit 2, one line (%r)" %
              cp.stderr)
    write(broken, base.replace("metrics: tcp:", "metrics: udp:"))
    cp = lab.run("hss", "serve", "-c", broken, "--check-config", check=False)
    lab.check(cp.returncode == 2 and len(cp.stderr.strip().splitlines()) == 1
              and "metrics" in cp.stderr,
              "a bad operations key: exit 2, one line (%r)" % cp.stderr)

    # Diameter over TLS: the certificate, key and CA are loaded and
    # matched by the check (freeDiameter would find out only at start).
    openssl(lab, "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-subj", "/CN=ca", "-days", "2")
    for name in ("hss", "other"):
        openssl(lab, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                name + ".key", "-out", name + ".pem", "-subj",
                "/CN=hss." + HOME, "-days", "2", "-CA", "ca.pem", "-CAkey",
                "ca.key")
    tls = base.replace("diameter: tcp:", "diameter: tls:") + (
        "diameter_cert: hss.pem\ndiameter_key: %s\ndiameter_ca: ca.pem\n")
    write(broken, tls % "hss.key")
    cp = lab.run("hss", "serve", "-c", broken, "--check-config", check=False)
    lab.check(cp.returncode == 0, "--check-config with tls: and matching "
              "files: ok (%r)" % cp.stderr)
    write(broken, tls % "other.key")
    cp = lab.run("hss", "serve", "-c", broken, "--check-config", check=False)
    lab.check(cp.returncode == 2 and len(cp.stderr.strip().splitlines()) == 1
              and "diameter TLS" in cp.stderr,
              "--check-config with a key of another certificate: exit 2, "
              "one line (%r)" % cp.stderr)

    m = sc.wait_log(r"listening on tcp:127\.0\.0\.1:(\d+)", 15)
    if not m:
        raise RuntimeError("the S-CSCF did not start:\n" + sc.log_text())
    sc.port = int(m.group(1))
    c = lab.connect_tcp(sc.port)
    c.send(register(1, via_tp="TCP"))
    r = c.recv(10)
    lab.check(status(r) == 401,
              "a REGISTER through the S-CSCF is challenged (SAR, MAR over Cx)")
    # A raw peer's MAR for somebody the HSS does not know.
    p = d.Peer(port, origin="raw." + HOME, realm=HOME)
    a = p.request(d.CMD_MA, p.cx_head(HOME) + [
        d.avp(d.USER_NAME, "nobody@" + HOME),
        d.avp(d.PUBLIC_IDENTITY, "sip:nobody@" + HOME),
        d.avp(d.SIP_AUTH_DATA_ITEM,
              [d.avp(d.SIP_AUTH_SCHEME, "Digest-AKAv1-MD5")]),
        d.avp(d.SIP_NUMBER_AUTH_ITEMS, 1),
        d.avp(d.SERVER_NAME, "sip:raw." + HOME)])
    lab.check(a.result() == (5001, True), "a raw MAR for an unknown user: "
              "DIAMETER_ERROR_USER_UNKNOWN")

    # ------------------------------------------------------------ ctl
    cp = ctl(lab, sock, "peers")
    row = [l for l in cp.stdout.splitlines() if l.startswith("scscf." + HOME)]
    lab.check(cp.returncode == 0 and row and re.search(r"\bdiameter\s+open\b",
                                                       row[0]),
              "ctl peers: the S-CSCF, open (%r)" % cp.stdout)
    cp = ctl(lab, sock, "--json", "peers")
    try:
        peers = {x["peer"]: x for x in json.loads(cp.stdout)}
    except ValueError:
        peers = {}
    lab.check(cp.returncode == 0 and
              peers.get("scscf." + HOME, {}).get("state") == "open" and
              peers.get("raw." + HOME, {}).get("state") == "open",
              "ctl --json peers: both peers open (%r)" % cp.stdout)
    cp = ctl(lab, sock, "stats")
    out = cp.stdout
    lab.check(cp.returncode == 0 and
              re.search(r'imsec_cx_requests_total\{command="SAR",'
                        r'result="2001"\}\s+[1-9]', out) and
              re.search(r'imsec_cx_requests_total\{command="MAR",'
                        r'result="2001"\}\s+[1-9]', out) and
              re.search(r'imsec_cx_requests_total\{command="MAR",'
                        r'result="5001"\}\s+1\b', out),
              "ctl stats: Cx requests by command and result (%r)" %
              out[:1500])
    # The S-CSCF's side of Cx: its exchanges and the HSS peer.
    cp = ctl(lab, lab.path("scscf.ctl"), "stats")
    lab.check(cp.returncode == 0 and
              re.search(r'imsec_cx_client_requests_total\{command="MAR",'
                        r'result="2001"\}\s+[1-9]', cp.stdout) and
              re.search(r'imsec_diameter_peer_up\{peer="hss\.%s"\}\s+1' %
                        re.escape(HOME), cp.stdout),
              "the S-CSCF's ctl stats: its Cx requests and the HSS peer up "
              "(%r)" % cp.stdout[-1500:])
    cp = ctl(lab, lab.path("scscf.ctl"), "--json", "peers")
    try:
        rows = json.loads(cp.stdout)
    except ValueError:
        rows = []
    lab.check(cp.returncode == 0 and any(
        x.get("peer") == "hss." + HOME and x.get("kind") == "diameter" and
        x.get("state") == "open" for x in rows),
        "the S-CSCF's ctl peers: the HSS, open (%r)" % cp.stdout[-800:])
    cp = ctl(lab, sock, "registrations")
    lab.check(cp.returncode == 1 and cp.stderr.strip(),
              "ctl registrations: the HSS has none, exit 1 with a line")

    # ---------------------------------------------------------- /metrics
    curl = shutil.which("curl")
    cp = subprocess.run([curl, "-sf", "http://127.0.0.1:%d/metrics" % mport],
                        capture_output=True, text=True, timeout=10)
    text = cp.stdout
    lab.check(cp.returncode == 0 and text, "curl /metrics")
    prom = shutil.which("promtool")
    if prom:
        pc = subprocess.run([prom, "check", "metrics"], input=text,
                            capture_output=True, text=True, timeout=20)
        lab.check(pc.returncode == 0,
                  "promtool check metrics: clean (%s)" %
                  (pc.stdout + pc.stderr).strip()[:800])
    else:
        lab.check(False, "promtool is installed")
    want = [
        r'^imsec_cx_requests_total\{command="SAR",result="2001"\} [1-9]',
        r'^imsec_cx_request_duration_seconds_bucket\{command="MAR",'
        r'le="\+Inf"\} [1-9]',
        r'^imsec_cx_request_duration_seconds_count\{command="SAR"\} [1-9]',
        r'^imsec_diameter_peer_up\{peer="scscf\.%s"\} 1' % re.escape(HOME),
        r'^imsec_store_queue_depth\{store="hss"\} 0',
        r'^imsec_cx_requests_in_flight 0',
        r'^# TYPE imsec_cx_request_duration_seconds histogram',
        r'^process_open_fds [1-9]',
    ]
    for w in want:
        lab.check(re.search(w, text, re.M) is not None,
                  "/metrics: /%s/" % w)

    # ------------------------------------------------------------ reload
    write(conf, base.replace("tcp:127.0.0.1:%d\n" % port,
                             "tcp:127.0.0.1:%d\n" % (port + 1), 1) +
          "log_level: debug\n")
    cp = ctl(lab, sock, "reload")
    lab.check(cp.returncode == 0 and "log_level debug" in cp.stdout and
              re.search(r"needs a restart: diameter\b", cp.stdout),
              "ctl reload: log_level applied, diameter needs a restart (%r)"
              % (cp.stdout + cp.stderr))
    write(conf, base + "log_level: [not, a, value]\n")
    cp = ctl(lab, sock, "reload")
    lab.check(cp.returncode == 1 and "hss.yaml" in cp.stderr,
              "ctl reload of a broken file: exit 1, the running settings "
              "kept (%r)" % cp.stderr)
    write(conf, base + "log_level: info\n")
    checked = lab.path("checked.yaml")
    hss.signal(signal.SIGHUP)
    lab.check(hss.wait_log(r"reloaded: .*log_level info", 5) is not None,
              "SIGHUP reloads the -c file")
    cp = ctl(lab, sock, "log-level", "debug")
    lab.check(cp.returncode == 0, "ctl log-level debug")

    # ------------------------------------------------------------- drain
    # The raw peer answers no DPR: gone first, so the HSS need not wait
    # for its answer on the way out (the S-CSCF answers its own).
    p.close()
    cp = ctl(lab, sock, "drain")
    lab.check(cp.returncode == 0, "ctl drain answered (%r)" % cp.stderr)
    try:
        rc = hss.p.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    lab.check(rc == 0, "the drained HSS exits 0 (%r)" % rc)
    lab.check(re.search(r'"msg":"drained"', hss.log_text()) is not None,
              "  and says it drained")
    # log_format json: every line of the HSS's stderr one JSON object,
    # freeDiameter's own (debug for a while above) included.
    lines = hss.log_text().splitlines()
    bad = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            bad.append(line)
    lab.check(lines and not bad and any('"elem":"diameter"' in l
                                        for l in lines),
              "every stderr line of the HSS is JSON, freeDiameter's too "
              "(%d lines; not: %r)" % (len(lines), bad[:3]))
    lab.check(not os.path.exists(sock), "  and removed its control socket")
    c.close()
