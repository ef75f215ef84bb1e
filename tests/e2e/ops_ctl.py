"""The control socket and `imsec ctl` against real daemons on loopback
(docs/OPERATIONS.md, "Control socket and `imsec ctl`").

A P-CSCF (its ops keys from a -c file: ctl_socket, drain_timeout_ms; its
socket path left stale by a killed predecessor) and an S-CSCF
(--ctl-socket), one UE registering with `imsec ue register` and one
staying registered with `imsec ue run`. Then every command, in text and
with --json: stats (the metrics snapshot, name{labels} value), flows,
registrations, bindings, peers, reload (its result, a failed one too),
log-level (the level really changes: an info line is left out at error),
drain (the daemon exits 0). Also: the socket is mode 0600, a
second daemon on a live socket path is refused, --check-config passes
and fails in one line, usage and connection errors exit 2, a daemon's
error exits 1.
"""
import json
import os
import re
import socket
import stat
import subprocess
import time

from attacklib import (HOME, Lab, exit_within, impi, start_bg,
                       start_scscf_direct, ue_profile)

PCSCF = "pcscf." + HOME
T0 = time.monotonic()


def step(what):
    print("%5.1f s  %s" % (time.monotonic() - T0, what), flush=True)


def ctl(lab, sock, *args, json_out=False, timeout=20):
    cmd = [lab.imsec, "ctl", "--socket", sock]
    if json_out:
        cmd.append("--json")
    return subprocess.run(cmd + list(args), cwd=lab.dir, capture_output=True,
                          text=True, timeout=timeout)


def ok_json(cp):
    try:
        return json.loads(cp.stdout)
    except ValueError:
        return None


def rows(text):
    """The data rows of a text table (the header line left out)."""
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[1:]


with Lab() as lab:
    d = lab.pki(operators=("001",))
    lab.hss_add(1)
    lab.hss_add(2)
    sc_sock = lab.path("scscf.ctl")
    pc_sock = lab.path("pcscf.ctl")

    sc = start_scscf_direct(lab, "--ctl-socket", sc_sock,
                            "--drain-timeout-ms", "3000")
    # The P-CSCF's socket path holds a stale socket (a daemon killed
    # before it could remove it): replaced, not refused.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(pc_sock)
    stale.close()
    conf = lab.path("pcscf.yaml")
    conf_text = ("listen: tls:127.0.0.1:0\n"
                 "cert: %s/pcscf.%s.chain.pem\n"
                 "key: %s/pcscf.%s.key\n"
                 "routes: [%s=tcp:127.0.0.1:%d]\n"
                 "core: tcp:127.0.0.1:0\n"
                 "insecure_core: true\n"
                 "peer_addrs: [127.0.0.1]\n"
                 "ctl_socket: %s\n"
                 "drain_timeout_ms: 3000\n" %
                 (d, HOME, d, HOME, HOME, sc.port, pc_sock))
    with open(conf, "w") as f:
        f.write(conf_text)

    cp = lab.run("pcscf", "-c", conf, "--check-config", check=False)
    lab.check(cp.returncode == 0 and
              "imsec pcscf: configuration ok" in cp.stdout,
              "pcscf --check-config: configuration ok (%s)" %
              (cp.stdout + cp.stderr).strip())
    cp = lab.run("pcscf", "-c", conf, "--check-config", "--key",
                 lab.path("missing.key"), check=False)
    lab.check(cp.returncode == 2 and
              len(cp.stderr.strip().splitlines()) == 1 and
              "missing.key" in cp.stderr,
              "pcscf --check-config with a missing key: one line, exit 2 "
              "(%s)" % cp.stderr.strip())
    cp = lab.run("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                 "--db", lab.path("hss.db"), "--insecure-core",
                 "--peer-addr", "127.0.0.1", "--check-config", check=False)
    lab.check(cp.returncode == 0 and "configuration ok" in cp.stdout and
              not cp.stderr,
              "scscf --check-config: configuration ok, nothing else said (%s)"
              % cp.stderr.strip())
    cp = lab.run("pcscf", "-c", conf, "--check-config", "--metrics",
                 "udp:1.2.3.4:5", check=False)
    lab.check(cp.returncode == 2 and "--metrics" in cp.stderr,
              "a bad --metrics value is a usage error")

    pc = lab.start("pcscf", "-c", conf,
                   ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\)")
    lab.check(pc.wait_log(r"control socket " + re.escape(pc_sock), 3)
              is not None, "the P-CSCF took the stale socket path over")
    for path, who in ((pc_sock, "pcscf"), (sc_sock, "scscf")):
        st = os.stat(path)
        lab.check(stat.S_ISSOCK(st.st_mode) and
                  stat.S_IMODE(st.st_mode) == 0o600,
                  "%s: the control socket is mode 0600 (%o)" %
                  (who, stat.S_IMODE(st.st_mode)))
    step("daemons up")

    # A second daemon on a live socket: refused, one line, exit 2.
    code, err = exit_within(lab, ["scscf", "--listen", "tcp:127.0.0.1:0",
                                  "--domain", HOME, "--db",
                                  lab.path("hss.db"), "--insecure-core",
                                  "--peer-addr", "127.0.0.1",
                                  "--ctl-socket", sc_sock], 8)
    lab.check(code == 2 and "another daemon answers" in err,
              "a second S-CSCF on the same control socket is refused (%s)" %
              err.strip()[-200:])
    lab.check(ctl(lab, sc_sock, "stats").returncode == 0,
              "  and the first one still answers on it")

    # A registration through both (register, then de-register), and a UE
    # that stays registered.
    u1 = ue_profile(lab, d, 1)
    u2 = ue_profile(lab, d, 2)
    cp = subprocess.run([lab.imsec, "ue", "register", "-c", u1, "--pcscf",
                         "127.0.0.1:%d" % pc.port, "--pcscf-name", PCSCF,
                         "--timeout", "10"], cwd=lab.dir,
                        capture_output=True, text=True, timeout=30)
    lab.check(cp.returncode == 0, "imsec ue register through both daemons")
    ue2 = start_bg(lab, "ue2", "ue", "run", "-c", u2, "--pcscf",
                   "127.0.0.1:%d" % pc.port, "--pcscf-name", PCSCF)
    lab.check(ue2.wait_log(r"<- 200 OK: registered", 15) is not None,
              "imsec ue run stays registered")
    step("UEs registered")

    # ---------------------------------------------------------- stats
    for sock, who in ((pc_sock, "pcscf"), (sc_sock, "scscf")):
        cp = ctl(lab, sock, "stats")
        lab.check(cp.returncode == 0 and
                  re.search(r"^metric\s+value", cp.stdout, re.M) and
                  re.search(r"^process_open_fds\s+\d+$", cp.stdout, re.M),
                  "%s: ctl stats, a table of name{labels} value" % who)
        j = ok_json(ctl(lab, sock, "stats", json_out=True))
        lab.check(isinstance(j, dict) and
                  j.get("process_open_fds", {}).get("type") == "gauge",
                  "%s: ctl --json stats, the families as JSON" % who)
        if j and "imsec_sip_requests_total" in j:
            reg = [s for s in j["imsec_sip_requests_total"]["samples"]
                   if s["labels"].get("method") == "REGISTER"]
            lab.check(sum(s["value"] for s in reg) >= 2,
                      "%s: REGISTERs counted in the snapshot" % who)
    cp = ctl(lab, sc_sock, "stats")
    m = re.search(r"^imsec_registrations_active\s+(\d+)", cp.stdout, re.M)
    if m:
        lab.check(int(m.group(1)) == 1,
                  "scscf: one registration active (%s)" % m.group(1))

    # ------------------------------------------------------- listings
    for sock, who, what, need in (
            (pc_sock, "pcscf", "flows", 2),
            (sc_sock, "scscf", "flows", 1),
            (pc_sock, "pcscf", "registrations", 1),
            (sc_sock, "scscf", "registrations", 1),
            (pc_sock, "pcscf", "bindings", 1),
            (sc_sock, "scscf", "bindings", 1),
            (pc_sock, "pcscf", "peers", 1),
            (sc_sock, "scscf", "peers", 1)):
        cp = ctl(lab, sock, what)
        j = ok_json(ctl(lab, sock, what, json_out=True))
        lab.check(cp.returncode == 0 and len(rows(cp.stdout)) >= need and
                  isinstance(j, list) and len(j) >= need and
                  all(isinstance(r, dict) for r in j),
                  "%s: ctl %s lists %d row(s) (text and --json)%s" %
                  (who, what, len(rows(cp.stdout)),
                   "" if cp.returncode == 0 else ": " + cp.stderr.strip()))
        if what == "registrations" and cp.returncode == 0:
            lab.check(impi(2) in cp.stdout or "id-" in cp.stdout,
                      "%s: the registered UE is listed" % who)
    step("stats and listings")

    # --------------------------------------------------------- reload
    cp = ctl(lab, pc_sock, "reload")
    lab.check(cp.returncode == 0 and cp.stdout.startswith("reloaded"),
              "pcscf: ctl reload says reloaded (%s)" % cp.stdout.strip())
    lab.check(pc.wait_log(r"control socket: reloading", 3) is not None and
              pc.wait_log(r"reloaded", 3) is not None,
              "  and the daemon logged it as SIGHUP's reload")
    j = ok_json(ctl(lab, sc_sock, "reload", json_out=True))
    lab.check(isinstance(j, dict) and j.get("result") == "reloaded",
              "scscf: ctl --json reload: result reloaded (%s)" % j)
    with open(conf, "w") as f:
        f.write(conf_text + "max_dialogs: lots\n")
    cp = ctl(lab, pc_sock, "reload")
    lab.check(cp.returncode == 1 and "reload failed" in cp.stderr and
              "max_dialogs" in cp.stderr and not cp.stdout,
              "pcscf: a reload that fails exits 1 and says why (%s)" %
              cp.stderr.strip())
    # The operations keys are taken at start: a changed one is said.
    with open(conf, "w") as f:
        f.write(conf_text.replace("drain_timeout_ms: 3000",
                                  "drain_timeout_ms: 4000"))
    cp = ctl(lab, pc_sock, "reload")
    lab.check(cp.returncode == 0 and
              re.search(r"needs a restart: drain_timeout_ms", cp.stdout),
              "pcscf: a changed operations key needs a restart (%s)" %
              cp.stdout.strip())
    with open(conf, "w") as f:
        f.write(conf_text)

    # ------------------------------------------------------ log level
    cp = ctl(lab, sc_sock, "log-level", "error")
    lab.check(cp.returncode == 0 and cp.stdout.strip() == "log level error",
              "scscf: ctl log-level error")
    # The reload's first line is at info: left out at level error. The
    # reload then sets the configured level (info) again, so its last
    # line shows.
    def count(pat):
        return len(re.findall(pat, sc.log_text()))
    before = count(r"control socket: reloading")
    done = count(r"reloaded")
    lab.check(ctl(lab, sc_sock, "reload").returncode == 0 and
              sc.wait_log(r"(?s)(reloaded.*){%d}" % (done + 1), 3)
              is not None and count(r"control socket: reloading") == before,
              "  at level error an info line is not logged; the reload "
              "sets the configured level again")
    cp = ctl(lab, sc_sock, "log-level", "debug")
    j = ok_json(ctl(lab, sc_sock, "log-level", "info", json_out=True))
    lab.check(cp.returncode == 0 and j == {"log_level": "info"},
              "scscf: ctl log-level debug, ctl --json log-level info")
    lab.check(ctl(lab, sc_sock, "reload").returncode == 0 and
              sc.wait_log(r"(?s)(control socket: reloading.*){%d}" %
                          (before + 1), 3) is not None,
              "  at info the reload's first line is logged again")
    cp = ctl(lab, sc_sock, "log-level", "loud")
    lab.check(cp.returncode == 1 and "log-level" in cp.stderr,
              "a level the daemon does not know: its error, exit 1")

    # ------------------------------------------------- client errors
    cp = ctl(lab, sc_sock, "frobnicate")
    lab.check(cp.returncode == 2 and len(cp.stderr.strip().splitlines()) == 1,
              "an unknown command: usage error, exit 2")
    cp = ctl(lab, lab.path("nobody.ctl"), "stats")
    lab.check(cp.returncode == 2 and "no control socket" in cp.stderr,
              "no daemon at the path: exit 2, one line (%s)" %
              cp.stderr.strip())
    step("reload, log-level, errors")

    # ---------------------------------------------------------- drain
    cp = ctl(lab, sc_sock, "drain")
    lab.check(cp.returncode == 0 and cp.stdout.startswith("draining"),
              "scscf: ctl drain answers draining (%s)" % cp.stdout.strip())
    try:
        rc = sc.p.wait(6)
    except subprocess.TimeoutExpired:
        rc = None
    lab.check(rc == 0, "  the S-CSCF exits 0 after the drain (%s)" % rc)
    lab.check(re.search(r"drain", sc.log_text()) is not None and
              not os.path.exists(sc_sock),
              "  it logged the drain and removed its socket")
    ue2.stop()
    j = ok_json(ctl(lab, pc_sock, "drain", json_out=True))
    lab.check(isinstance(j, dict) and j.get("result") == "draining" and
              j.get("timeout_ms") == 3000,
              "pcscf: ctl --json drain (drain_timeout_ms from the file)")
    try:
        rc = pc.p.wait(6)
    except subprocess.TimeoutExpired:
        rc = None
    lab.check(rc == 0, "  the P-CSCF exits 0 after the drain (%s)" % rc)
    step("drained")
