#!/usr/bin/env python3
"""Memory per registered idle UE at the P-CSCF and the S-CSCF, TLS flow
included: provision N subscribers (`imsec bench provision`), start `imsec
scscf` and `imsec pcscf` on loopback with their descriptor limits raised
(they raise the soft limit themselves; as root the hard one is raised here
too when the system allows it), register N UEs that stay connected and
idle, then read each daemon's RSS from /proc and print KiB per UE.

    tests/bench/hold_mem.py -n 100000 [--procs P] [--pcscfs K]
                            [--sources A-B[,..]] [--scheme digest|aka]
                            [-t S] [-c N] [--json F] [--keep]
                            [--generator bench|py] [--imsec BIN]
                            [--wrap-pcscf 'heaptrack -o F']

A process holds one descriptor per UE, and where the hard RLIMIT_NOFILE
cannot be raised (20,000 in the development sandbox, even for root) one
P-CSCF cannot hold 100,000 TLS flows: K P-CSCF processes (default one per
15,000 UEs) listen on the same port with SO_REUSEPORT (net/ sets it; the
kernel spreads the connections by 4-tuple), all routing to one S-CSCF, and
the P-CSCF figure is their summed RSS growth over the UEs. The generator
is `imsec bench hold` with P processes (default one per 15,000 UEs, at
least 2) and sources across 127.0.0.0/8 (default 127.0.0.2-127.0.0.41);
--generator py holds the UEs with a small asyncio SIP Digest client in
this script instead (one process; a few thousand UEs).

The figures: each daemon's VmRSS once both are up and idle, and when
every UE is registered (the P-CSCFs' descriptors stop growing, then 2 s
more), then the hold goes on -t S seconds and the bench is stopped with
SIGINT. "KiB per UE" is (held - idle) / registered; "anon/UE" the same
from /proc/PID/smaps_rollup Anonymous (the heap). The lab (PKI, HSS,
stores, logs) goes to /dev/shm (--lab): the S-CSCF's SQLite stores sync
every registration and this measures memory, not a disk. Exit 0 when
every UE registered, 1 when some did not, 77 without an `imsec` binary.
"""
import argparse
import asyncio
import hashlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TRUST_DOMAIN = "3gppnetwork.org"
MCC, MNC = "001", "001"
HOME = "ims.mnc%s.mcc%s.%s" % (MNC, MCC, TRUST_DOMAIN)
PCSCF = "pcscf." + HOME
NOFILE = 1048576


def find_imsec(given):
    if given:
        return given
    for c in (os.environ.get("IMSEC"),
              os.path.join(HERE, "..", "..", "build", "imsec")):
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return shutil.which("imsec")


def raise_nofile():
    """Children inherit it: as root the hard limit too (fs.nr_open)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE
    try:
        with open("/proc/sys/fs/nr_open") as f:
            want = min(want, int(f.read()))
    except OSError:
        pass
    if os.geteuid() == 0 and hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_sources(text):
    """127.0.0.2-127.0.0.40[,A[-B]..] -> a list of IPv4 literals."""
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        pa = [int(x) for x in a.split(".")]
        va = (pa[0] << 24) | (pa[1] << 16) | (pa[2] << 8) | pa[3]
        vb = va
        if b:
            pb = [int(x) for x in b.split(".")]
            vb = (pb[0] << 24) | (pb[1] << 16) | (pb[2] << 8) | pb[3]
        for v in range(va, vb + 1):
            out.append("%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255,
                                        (v >> 8) & 255, v & 255))
    return out


def proc_kib(pid, key, path="status"):
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem(pid):
    return {"rss_kib": proc_kib(pid, "VmRSS"),
            "anon_kib": proc_kib(pid, "Anonymous", "smaps_rollup"),
            "fds": len(os.listdir("/proc/%d/fd" % pid))}


def children(pid):
    """The processes whose parent is `pid` (the bench's generators)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
                if int(st[st.rindex(")") + 2:].split()[1]) == pid:
                    out.append(int(d))
            except (OSError, ValueError):
                pass
    return out


def registrations(path):
    """The registrations the S-CSCF's store holds (its SQLite file, read
    beside it): what was really registered when the memory was read."""
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
        try:
            return db.execute("SELECT count(*) FROM registration").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return None


class Daemon:
    def __init__(self, name, argv, cwd, ready):
        self.name = name
        self.log = os.path.join(cwd, name + ".log")
        with open(self.log, "w") as lf:
            self.p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=lf)
        deadline = time.monotonic() + 15
        self.ports = None
        while time.monotonic() < deadline:
            with open(self.log) as f:
                m = re.search(ready, f.read())
            if m:
                self.ports = [int(g) for g in m.groups()]
                break
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        if not self.ports:
            with open(self.log) as f:
                sys.exit("%s did not start: %s" % (name, f.read()[-2000:]))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def run(imsec, args, cwd):
    cp = subprocess.run([imsec] + args, cwd=cwd, capture_output=True,
                        text=True)
    if cp.returncode != 0:
        sys.exit("imsec %s: %s" % (" ".join(args[:3]), cp.stderr.strip()))
    return cp.stdout


# ------------------------------------------------ the asyncio Digest holder

def read_creds(path):
    ues = []
    with open(path) as f:
        head = f.readline()
        if "scheme=digest" not in head:
            sys.exit("--generator py needs --scheme digest")
        for line in f:
            t = line.split()
            if len(t) >= 3:
                ues.append((t[0], t[1], t[2]))
    return ues


async def read_msg(r):
    head = await r.readuntil(b"\r\n\r\n")
    text = head.decode("utf-8", "replace")
    m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", text)
    if m and int(m.group(1)):
        await r.readexactly(int(m.group(1)))
    return text


def digest_response(alg, impi, realm, password, nonce, uri, cnonce, nc):
    h = hashlib.sha256 if alg == "SHA-256" else hashlib.md5

    def H(s):
        return h(s.encode()).hexdigest()
    ha1 = H("%s:%s:%s" % (impi, realm, password))
    ha2 = H("REGISTER:%s" % uri)
    return H("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))


def register_msg(ue, local, cseq, call_id, tag, authz, inst):
    impi, impu, _ = ue
    host, port = local
    return ("REGISTER sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/TLS %s:%d;branch=z9hG4bK%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <%s>;tag=%s\r\n"
            "To: <%s>\r\n"
            "Call-ID: %s\r\n"
            "CSeq: %d REGISTER\r\n"
            "Contact: <sip:ue@%s:%d;transport=tls;ob>;+sip.instance="
            "\"<urn:uuid:%s>\";reg-id=1;expires=7200\r\n"
            "Authorization: %s\r\n"
            "Supported: path, outbound\r\n"
            "Expires: 7200\r\n"
            "Content-Length: 0\r\n\r\n" %
            (HOME, host, port, secrets.token_hex(12), impu, tag, impu,
             call_id, cseq, host, port, inst, authz)).encode()


async def py_register(ue, port, ctx, src, held):
    impi, _, password = ue
    uri = "sip:" + HOME
    r, w = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname=PCSCF,
        local_addr=(src, 0) if src else None)
    local = w.get_extra_info("sockname")[:2]
    call_id, tag = secrets.token_hex(16), secrets.token_hex(8)
    inst = "%s-%s-%s-%s-%s" % tuple(
        secrets.token_hex(n) for n in (4, 2, 2, 2, 6))
    authz = ('Digest username="%s", realm="%s", nonce="", uri="%s", '
             'response=""' % (impi, HOME, uri))
    w.write(register_msg(ue, local, 1, call_id, tag, authz, inst))
    text = await read_msg(r)
    if not text.startswith("SIP/2.0 401"):
        w.close()
        raise RuntimeError(text.split("\r\n")[0])
    chals = re.findall(r"(?im)^WWW-Authenticate:\s*Digest (.*)$", text)
    best = None
    for c in chals:
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', c))
        alg = p.get("algorithm", "MD5")
        if best is None or alg == "SHA-256":
            best = (alg, p)
    alg, p = best
    cnonce, nc = secrets.token_hex(8), "00000001"
    resp = digest_response(alg, impi, p["realm"], password, p["nonce"], uri,
                           cnonce, nc)
    authz = ('Digest username="%s", realm="%s", nonce="%s", uri="%s", '
             'response="%s", algorithm=%s, qop=auth, cnonce="%s", nc=%s%s' %
             (impi, p["realm"], p["nonce"], uri, resp, alg, cnonce, nc,
              ', opaque="%s"' % p["opaque"] if "opaque" in p else ""))
    w.write(register_msg(ue, local, 2, call_id, tag, authz, inst))
    text = await read_msg(r)
    if not text.startswith("SIP/2.0 200"):
        w.close()
        raise RuntimeError(text.split("\r\n")[0])
    held.append((r, w))


async def py_hold(creds, port, ca, sources, n, hold_s, on_registered):
    ues = read_creds(creds)[:n]
    ctx = ssl.create_default_context(cafile=ca)
    held, failed = [], []
    sem = asyncio.Semaphore(200)

    async def one(i, ue):
        async with sem:
            try:
                await py_register(ue, port, ctx,
                                  sources[i % len(sources)] if sources
                                  else None, held)
            except Exception as e:  # noqa: BLE001 - counted, shown once
                failed.append(str(e))
    await asyncio.gather(*(one(i, ue) for i, ue in enumerate(ues)))
    on_registered(len(held), failed)
    await asyncio.sleep(hold_s)
    for _, w in held:
        w.close()
    return len(held), failed


# ----------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-t", type=float, default=5.0, help="seconds held")
    ap.add_argument("--procs", type=int, default=0,
                    help="generator processes (default: one per 15000 UEs, "
                    "at least 2: each holds one descriptor per UE)")
    ap.add_argument("--pcscfs", type=int, default=0,
                    help="P-CSCF processes sharing the port (SO_REUSEPORT); "
                    "default one per 15000 UEs: a process holds one "
                    "descriptor per UE and the hard limit may be low")
    ap.add_argument("-c", type=int, default=100,
                    help="registrations in flight while filling up")
    ap.add_argument("--lab", default="/dev/shm" if os.path.isdir("/dev/shm")
                    else None, help="where the lab folder goes (default "
                    "/dev/shm: the S-CSCF's SQLite stores sync every "
                    "registration, and this measures memory, not a disk)")
    ap.add_argument("--sources", default="127.0.0.2-127.0.0.41")
    ap.add_argument("--scheme", default="digest", choices=("digest", "aka"))
    ap.add_argument("--generator", default="bench", choices=("bench", "py"))
    ap.add_argument("--imsec")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true",
                    help="keep the lab folder (logs, databases)")
    ap.add_argument("--wrap-pcscf", default="",
                    help="a command the P-CSCF runs under, e.g. 'heaptrack "
                    "-o /tmp/pcscf' (where its bytes go)")
    a = ap.parse_args()
    per_proc = 15000
    if not a.pcscfs:
        a.pcscfs = max(1, -(-a.n // per_proc))
    if not a.procs:
        a.procs = max(2, -(-a.n // per_proc))
    imsec = find_imsec(a.imsec)
    if not imsec:
        print("no imsec binary: skipped")
        return 77
    raise_nofile()
    lab = tempfile.mkdtemp(prefix="hold_mem.", dir=a.lab)
    daemons = []
    try:
        pki = os.path.join(lab, "pki")
        run(imsec, ["pki", "init", "--dir", pki, "--trust-domain",
                    TRUST_DOMAIN], lab)
        run(imsec, ["pki", "operator", "--dir", pki, "--mcc", MCC, "--mnc",
                    MNC], lab)
        run(imsec, ["pki", "pcscf", "--dir", pki, "--mcc", MCC, "--mnc", MNC],
            lab)
        db, creds = os.path.join(lab, "hss.db"), os.path.join(lab, "creds")
        t0 = time.monotonic()
        run(imsec, ["bench", "provision", "--db", db, "--out", creds, "-n",
                    str(a.n), "--scheme", a.scheme, "--mcc", MCC, "--mnc",
                    MNC], lab)
        print("provisioned %d %s subscribers in %.1f s" %
              (a.n, a.scheme, time.monotonic() - t0))
        big = str(max(1000000, 2 * a.n))
        sc = Daemon("scscf", [
            imsec, "scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
            "--db", db, "--insecure-core", "--peer-addr", "127.0.0.1",
            "--expires-max", "7200", "--log-level", "warn",
            "--max-flows-per-ip", "1000000", "--source-challenges", big,
            "--impi-challenges", "1000", "--source-failures", big,
            # A loaded machine (the generators take most of it) must not
            # turn a slow HSS store into 500s: this measures memory.
            "--store-timeout", "10000"],
            lab, r"listening on tcp:127\.0\.0\.1:(\d+)")
        daemons.append(sc)
        # One port for every P-CSCF process (net/ listens with
        # SO_REUSEPORT; the kernel spreads the connections).
        import socket
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            port = so.getsockname()[1]
        pcs = []
        for i in range(a.pcscfs):
            pc = Daemon("pcscf%d" % i, (a.wrap_pcscf.split() if i == 0
                                        else []) + [
                imsec, "pcscf", "--listen", "tls:127.0.0.1:%d" % port,
                "--cert", os.path.join(pki, PCSCF + ".chain.pem"),
                "--key", os.path.join(pki, PCSCF + ".key"),
                "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc.ports[0]),
                "--core", "tcp:127.0.0.1:0", "--insecure-core",
                "--peer-addr", "127.0.0.1", "--log-level", "warn",
                "--max-flows-per-ip", "1000000"],
                lab, r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
                r"tcp:127\.0\.0\.1:(\d+)")
            daemons.append(pc)
            pcs.append(pc)
        time.sleep(0.5)

        def pmem():
            m = [mem(p.p.pid) for p in pcs]
            return {k: sum(x[k] for x in m) for k in m[0]}
        before = {"pcscf": pmem(), "scscf": mem(sc.p.pid)}
        print("idle: P-CSCF RSS %d KiB, S-CSCF RSS %d KiB" %
              (before["pcscf"]["rss_kib"], before["scscf"]["rss_kib"]))
        at_reg = {}
        result = {"n": a.n, "scheme": a.scheme, "generator": a.generator,
                  "pcscf_procs": a.pcscfs, "generator_procs": a.procs,
                  "before": before}

        def on_registered(nreg, failed):
            at_reg["t"] = time.monotonic()
            at_reg["n"] = nreg
            at_reg["pcscf"] = pmem()
            at_reg["scscf"] = mem(sc.p.pid)
            at_reg["scscf_registrations"] = registrations(
                os.path.join(lab, "hss.reg.db"))
            print("registered %d of %d in %.1f s%s (the S-CSCF's store: %s)" %
                  (nreg, a.n, at_reg["t"] - t1,
                   "; first failure: " + failed[0] if failed else "",
                   at_reg["scscf_registrations"]))

        sources = parse_sources(a.sources) if a.sources else []
        t1 = time.monotonic()
        if a.generator == "py":
            nreg, failed = asyncio.run(py_hold(
                creds, port, os.path.join(pki, "root.crt"), sources,
                a.n, a.t, on_registered))
        else:
            out = os.path.join(lab, "hold.json")
            argv = [imsec, "bench", "hold", "--target",
                    "tls:127.0.0.1:%d" % port, "--creds", creds,
                    "--ca", os.path.join(pki, "root.crt"), "--server-name",
                    PCSCF, "--trust-domain", TRUST_DOMAIN, "-n", str(a.n),
                    # -t bounds the fill-up too: far more than it needs;
                    # SIGINT ends the hold once measured.
                    "--procs", str(a.procs), "-c", str(a.c), "-t",
                    str(int(a.t + a.n / 10 + 60)), "--server-pid",
                    ",".join(str(p.p.pid) for p in pcs + [sc]), "--json",
                    out, "--expires", "7200", "--no-status"]
            if a.sources:
                argv += ["--sources", a.sources]
            # Its own process group: whatever becomes of the runner, its
            # generators are stopped with it at the end.
            glog = os.path.join(lab, "bench.log")
            with open(glog, "w") as lf:
                g = subprocess.Popen(argv, cwd=lab, stdout=lf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
            # The registrations are done when the P-CSCF holds N flows (or
            # stops growing): sample it while the generator holds them.
            last, still, full = -1, 0, None
            base = before["pcscf"]["fds"]
            while g.poll() is None:
                fds = pmem()["fds"] - base
                still = still + 1 if fds == last and fds > 0 else 0
                last = fds
                if full is None and (fds >= a.n or still >= 20):
                    full = time.monotonic()
                # Two seconds more for the last REGISTERs in flight.
                if "t" not in at_reg and full and \
                        time.monotonic() - full > 2:
                    on_registered(fds, [])
                    gen = [mem(c) for c in children(g.pid)]
                    result["generator_rss_kib"] = sum(x["rss_kib"]
                                                      for x in gen)
                    print("generator: %d processes, RSS %d KiB: %.2f KiB "
                          "per UE" % (len(gen), result["generator_rss_kib"],
                                      result["generator_rss_kib"] /
                                      max(1, fds)))
                if "t" in at_reg and time.monotonic() - at_reg["t"] >= a.t:
                    g.send_signal(signal.SIGINT)
                    break
                time.sleep(0.25)
            # The runner forwards the SIGINT; its generators de-register
            # their UEs (a while for 100,000), then everything goes.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and (
                    g.poll() is None or children(g.pid)):
                time.sleep(0.5)
            try:
                os.killpg(g.pid, signal.SIGKILL)
            except OSError:
                pass
            g.wait()
            with open(glog) as f:
                print(f.read().strip()[-3000:])
            try:
                with open(out) as f:
                    result["bench"] = json.load(f)
                hold = result["bench"].get("hold", {})
                nreg = int(hold.get("registered", at_reg.get("n", 0)))
            except (OSError, ValueError):
                # No report (the run was cut short): what the S-CSCF held
                # when measured, else the flows the P-CSCFs held.
                nreg = at_reg.get("scscf_registrations") or at_reg.get("n", 0)
            failed = [] if nreg >= a.n else ["see the bench output"]
            if "t" not in at_reg:
                on_registered(nreg, failed)
        after = {"pcscf": pmem(), "scscf": mem(sc.p.pid)}
        result.update({"registered": nreg, "at_registered": at_reg,
                       "after_hold": after})
        print("%-7s %12s %12s %12s %10s" % ("", "idle KiB", "held KiB",
                                            "KiB per UE", "anon/UE"))
        # Per UE: over the registrations the S-CSCF held when the memory
        # was read (else what the generator counted).
        ues = at_reg.get("scscf_registrations") or nreg
        result["ues_measured"] = ues
        for who in ("pcscf", "scscf"):
            b, h = before[who], at_reg.get(who, after[who])
            per = (h["rss_kib"] - b["rss_kib"]) / ues if ues else 0.0
            anon = (h["anon_kib"] - b["anon_kib"]) / ues if ues else 0.0
            result[who + "_kib_per_ue"] = round(per, 2)
            print("%-7s %12d %12d %12.2f %10.2f" %
                  (who, b["rss_kib"], h["rss_kib"], per, anon))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(result, f, indent=1)
        return 0 if (at_reg.get("scscf_registrations") or nreg) >= a.n else 1
    finally:
        for d in reversed(daemons):
            d.stop()
        if a.keep:
            print("lab kept in", lab)
        else:
            shutil.rmtree(lab, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
