#!/usr/bin/env python3
"""imsec and Kamailio side by side under the same `imsec bench run` SIP
Digest load, in one run on one machine (docs/BENCHMARKS.md "Against
Kamailio").

The two servers:
- Kamailio 5.6 (Debian kamailio + kamailio-tls-modules) as a TLS
  registrar: auth_db digest over db_text, usrloc in memory
  (tests/bench/kamailio/kamailio.cfg, started by kamrun.py), one tcp
  worker (--workers; two crash Kamailio 5.6.3's tls module with OpenSSL
  3 within minutes, kamailio.cfg says why), so one core for its TLS and
  SIP work as for the imsec P-CSCF's one loop;
- the imsec P-CSCF + S-CSCF daemons (`imsec pcscf`, `imsec scscf`, the
  HSS in the S-CSCF's SQLite file), the P-CSCF reaching the S-CSCF over
  loopback TCP (--insecure-core), limits raised so that no flood guard
  answers the bench.
Both show the same certificate (pcscf.DOMAIN from `imsec pki`, under the
trust-domain root), challenge with MD5 and qop=auth (the S-CSCF with
--digest-algorithms MD5, Kamailio's only choice) and send
Authentication-Info with rspauth on the 200; the subscribers are the
same (`imsec bench provision --scheme digest`), H(A1) in both databases.

For each server and each --register mode (new TLS connection per
registration; re-REGISTER on the open connection):
  (a) saturation: closed loop, -c CONC in flight, for -t SECONDS:
      registrations/s;
  (b) the server's CPU per registration during (a) (the bench's
      --server-pid: Kamailio's main process and all its workers, the
      P-CSCF and the S-CSCF), and registrations per server CPU-second;
  (c) p99 latency at half of saturation: open loop, -r = (a) / 2.
It prints one table, the ratios imsec / Kamailio of registrations per
server CPU-second (target >= 2x for both modes) and of saturation, and
writes everything to --json.

The generator runs on the same 2 cores as the server, so the saturation
rate is the machine's (generator + server), not the server's alone;
CPU per registration is the server's own and is the figure the target is
about. Only one server runs at a time.

Usage (a Release build is the one to quote):
  python3 tests/bench/side_by_side.py --imsec build-bench/imsec \\
      [-n SUBS] [-t SECONDS] [-c CONC] [--procs P] [--modes new,open]
      [--workers W] [--json FILE] [--keep]
Exit: 0 ran (figures printed, target or not), 1 could not run, 77
kamailio (or its tls module) missing.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "kamailio"))
import kamrun  # noqa: E402

MCC, MNC = "001", "01"
HOME = "ims.mnc%s.mcc%s.3gppnetwork.org" % (MNC.zfill(3), MCC)
TRUST_DOMAIN = "3gppnetwork.org"
PCSCF = "pcscf." + HOME
MAX_SERVER_PIDS = 8  # apps/bench/opts.h BENCH_MAX_SERVER_PIDS


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def proc_cpu_s(pids):
    """utime + stime of these processes, in seconds (gone ones count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
            total += int(st[11]) + int(st[12])
        except OSError:
            pass
    return total / tick


class Daemon:
    def __init__(self, name, p, log_path):
        self.name, self.p, self.log = name, p, log_path

    def alive(self):
        return self.p.poll() is None

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.alive():
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


class Bench:
    def __init__(self, args, folder):
        self.a = args
        self.dir = folder
        self.imsec = os.path.abspath(args.imsec)
        self.daemons = []

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def run(self, *args):
        cp = subprocess.run([self.imsec] + list(args), cwd=self.dir,
                            capture_output=True, text=True, timeout=600)
        if cp.returncode != 0:
            raise RuntimeError("imsec %s: exit %d: %s" %
                               (" ".join(args), cp.returncode,
                                cp.stderr.strip()))
        return cp.stdout

    def setup(self):
        d = self.path("pki")
        self.run("pki", "init", "--dir", d, "--trust-domain", TRUST_DOMAIN)
        self.run("pki", "operator", "--dir", d, "--mcc", MCC, "--mnc", MNC)
        self.run("pki", "pcscf", "--dir", d, "--mcc", MCC, "--mnc", MNC)
        self.root = os.path.join(d, "root.crt")
        self.chain = os.path.join(d, PCSCF + ".chain.pem")
        self.key = os.path.join(d, PCSCF + ".key")
        self.creds = self.path("creds")
        self.db = self.path("hss.db")
        t0 = time.monotonic()
        self.run("bench", "provision", "--db", self.db, "--out", self.creds,
                 "-n", str(self.a.subscribers), "--scheme", "digest",
                 "--mcc", MCC, "--mnc", MNC)
        log("provisioned %d digest subscribers in %.1f s" %
            (self.a.subscribers, time.monotonic() - t0))

    # ------------------------------------------------------------ servers
    def start_kamailio(self):
        k = kamrun.start(self.path("kamailio"), self.creds, self.chain,
                         self.key, workers=self.a.workers)
        pids = k.pids()
        log("kamailio %s: tls:127.0.0.1:%d, %d processes (pids %s)" %
            (kamrun.find_kamailio(), k.tls_port, len(pids),
             ",".join(map(str, pids))))
        return k, k.tls_port, pids

    def daemon(self, name, args, port):
        logp = self.path(name + ".log")
        with open(logp, "w") as lf:
            p = subprocess.Popen([self.imsec] + args, cwd=self.dir,
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=lf,
                                 preexec_fn=raise_nofile)
        d = Daemon(name, p, logp)
        self.daemons.append(d)
        deadline = time.monotonic() + 15
        while not kamrun.listening(port):
            if not d.alive() or time.monotonic() > deadline:
                raise RuntimeError("%s did not start:\n%s" %
                                   (name, d.log_text()))
            time.sleep(0.05)
        return d

    def start_imsec(self, regs):
        """The P-CSCF and S-CSCF; regs "memory": the S-CSCF's registration
        store is an in-memory SQLite database (as Kamailio's usrloc
        db_mode 0), "disk": its default file, every registration synced
        to disk before the 200 (the daemon's durable default)."""
        sport, pport, cport = (kamrun.free_port(), kamrun.free_port(),
                               kamrun.free_port())
        big = "100000000"
        reg_db = (":memory:" if regs == "memory" else
                  self.path("registrations-%d.db" % sport))
        # An HSS file per S-CSCF: each opens it for writing.
        hss = self.path("hss-%s.db" % regs)
        shutil.copy(self.db, hss)
        sc = self.daemon("scscf", [
            "scscf", "--listen", "tcp:127.0.0.1:%d" % sport, "--domain", HOME,
            "--db", hss, "--registrations", reg_db,
            "--insecure-core", "--peer-addr", "127.0.0.1",
            "--digest-algorithms", "MD5", "--log-level", "warn",
            "--store-timeout", "5000",
            "--impi-challenges", "1000000", "--source-challenges", big,
            "--impi-failures", "1000000", "--source-failures", big,
            "--max-flows-per-ip", "1000000"], sport)
        pc = self.daemon("pcscf", [
            "pcscf", "--listen", "tls:127.0.0.1:%d" % pport, "--cert",
            self.chain, "--key", self.key, "--route",
            "%s=tcp:127.0.0.1:%d" % (HOME, sport), "--core",
            "tcp:127.0.0.1:%d" % cport, "--insecure-core", "--peer-addr",
            "127.0.0.1", "--max-flows-per-ip", "1000000", "--log-level",
            "warn"], pport)
        log("imsec: P-CSCF tls:127.0.0.1:%d (pid %d), S-CSCF "
            "tcp:127.0.0.1:%d (pid %d)" % (pport, pc.p.pid, sport,
                                           sc.p.pid))
        return (pc, sc), pport, [pc.p.pid, sc.p.pid]

    # ------------------------------------------------------------ the bench
    def bench(self, tag, port, pids, register, load, warm_s=0):
        """One `imsec bench run` of -t duration + warm_s; returns its JSON
        with our own samples of the server processes' CPU."""
        out = self.path("%s.json" % tag)
        args = ["bench", "run", "--target", "tls:127.0.0.1:%d" % port,
                "--creds", self.creds, "--ca", self.root, "--server-name",
                PCSCF, "--trust-domain", TRUST_DOMAIN, "--scenario",
                "register", "--register", register, "-t",
                str(self.a.duration + warm_s), "--timeout",
                str(self.a.timeout_ms),
                "--procs", str(self.a.procs), "--server-pid",
                ",".join(map(str, pids[:MAX_SERVER_PIDS])), "--json", out,
                "--no-status",
                "-q"] + load
        if self.a.sources:
            args += ["--sources", self.a.sources]
        # The server's CPU sampled every 50 ms from our side, so that the
        # steady part of the run (whole seconds of the bench's series)
        # can be told from a warm-up (--register open registers its UEs
        # first, inside -t) and from the first and last partial seconds.
        err_path = self.path("%s.stderr" % tag)
        samples = []
        with open(err_path, "w") as ef:
            t0 = time.monotonic()
            samples.append((0.0, proc_cpu_s(pids)))
            p = subprocess.Popen([self.imsec] + args, cwd=self.dir,
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=ef,
                                 preexec_fn=raise_nofile)
            limit = t0 + self.a.duration * 4 + 120
            while p.poll() is None:
                if time.monotonic() > limit:
                    p.kill()
                    p.wait()
                    raise RuntimeError("imsec bench run did not end")
                time.sleep(0.05)
                samples.append((time.monotonic() - t0, proc_cpu_s(pids)))
        with open(err_path) as ef:
            err = ef.read()
        if p.returncode != 0:
            raise RuntimeError("imsec %s: exit %d: %s" %
                               (" ".join(args), p.returncode,
                                err.strip()[-2000:]))
        with open(out) as f:
            j = json.load(f)
        j["_whole"] = {"server_cpu_s": samples[-1][1] - samples[0][1],
                       "wall_s": samples[-1][0], "n_pids": len(pids),
                       "samples": samples}
        return j


def cpu_at(samples, t):
    """The server CPU seconds at time t (s since the bench started),
    interpolated between our samples."""
    prev = samples[0]
    for cur in samples:
        if cur[0] >= t:
            if cur[0] == prev[0]:
                return cur[1]
            f = (t - prev[0]) / (cur[0] - prev[0])
            return prev[1] + f * (cur[1] - prev[1])
        prev = cur
    return samples[-1][1]


def steady(j):
    """The steady part of a run: the whole seconds of the series after
    the first second with attempts (a partial one, and the end of a
    warm-up) and before the last one (partial). Returns (seconds, ok,
    server CPU s over them) or None when fewer than 2 seconds remain."""
    series = j.get("series") or []
    busy = [s["t"] for s in series if s.get("attempts")]
    if not busy:
        return None
    first, last = busy[0] + 1, busy[-1]  # [first, last)
    if last - first < 2:
        return None
    ok = sum(s.get("ok", s.get("successes", 0)) for s in series
             if first <= s["t"] < last)
    samples = j["_whole"]["samples"]
    cpu = cpu_at(samples, last) - cpu_at(samples, first)
    return last - first, ok, cpu


def totals(j):
    t = j.get("totals", {})
    ok = int(t.get("ok", 0))
    attempts = int(t.get("attempts", 0))
    dur = float(t.get("duration_s") or 0) or 1e-9
    fails = t.get("failures", {})
    # The bench samples the server over the measured period only; when it
    # could not take every pid (BENCH_MAX_SERVER_PIDS), our own figure
    # over the whole command stands in (it includes a warm-up, if any).
    server_cpu = sum(float(s.get("cpu_s", 0)) for s in j.get("server", []))
    if len(j.get("server", [])) < j["_whole"]["n_pids"]:
        server_cpu = j["_whole"]["server_cpu_s"]
    whole = {"rate": ok / dur, "server_cpu_s": server_cpu,
             "server_cpu_us_per_reg": server_cpu * 1e6 / ok if ok else None}
    st = steady(j)
    if st:
        secs, st_ok, st_cpu = st
        rate, cpu_per = st_ok / secs, (st_cpu * 1e6 / st_ok if st_ok
                                       else None)
        per_cpu_s = st_ok / st_cpu if st_cpu else None
    else:
        secs, rate, cpu_per = None, whole["rate"], \
            whole["server_cpu_us_per_reg"]
        per_cpu_s = ok / server_cpu if server_cpu else None
    return {
        "attempts": attempts, "ok": ok,
        "failures": fails if isinstance(fails, dict) else {"all": fails},
        "duration_s": dur, "steady_s": secs, "rate": rate,
        "server_cpu_us_per_reg": cpu_per,
        "regs_per_server_cpu_s": per_cpu_s,
        "whole_run": whole,
        "generator_cpu_us_per_op": j.get("generator", {}).get(
            "cpu_us_per_op"),
        "latency_us": j.get("latency_us", {}),
        "server": j.get("server", []),
        "server_cpu_s_whole_command": j["_whole"]["server_cpu_s"],
        "series": j.get("series", []),
    }


def warm_s(register, units, new_rate):
    """Seconds to add to -t for the bench's warm-up: --register open first
    registers the UEs it keeps busy (closed loop: 2 x -c; open loop: two
    seconds of the rate) over new connections, inside -t."""
    if register != "open":
        return 0
    return int(units / max(new_rate or 50.0, 20.0) * 1.5) + 2


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def summary(runs):
    """The medians over rounds of one server, mode and phase."""
    return {
        "rate": median([r["rate"] for r in runs]),
        "server_cpu_us_per_reg": median([r["server_cpu_us_per_reg"]
                                         for r in runs]),
        "regs_per_server_cpu_s": median([r["regs_per_server_cpu_s"]
                                         for r in runs]),
        "p99_us": median([r["latency_us"].get("p99") for r in runs]),
        "p50_us": median([r["latency_us"].get("p50") for r in runs]),
        "attempts": sum(r["attempts"] for r in runs),
        "ok": sum(r["ok"] for r in runs),
        "failures": {k: sum(r["failures"].get(k, 0) for r in runs)
                     for k in runs[0]["failures"]},
        "rounds": runs,
    }


def measure(b, servers, modes, rounds):
    """Every server under the same loads, interleaved: per round and mode,
    the saturation run of each server, then each one's half-rate run, so
    that the machine's other load falls on all of them alike."""
    runs = {n: {m: {"saturation": [], "half": []} for m in modes}
            for n in servers}
    for rnd in range(rounds):
        for register in modes:
            c = b.a.concurrency
            for name, (port, pids) in servers.items():
                new = runs[name].get("new", {}).get("saturation")
                new_rate = median([r["rate"] for r in new]) if new else None
                w = warm_s(register, min(2 * c, b.a.subscribers), new_rate)
                log("round %d, %s, --register %s: saturation (-c %d, %d s%s)"
                    % (rnd + 1, name, register, c, b.a.duration,
                       " + %d s warm-up" % w if w else ""))
                sat = totals(b.bench("%s-%s-sat-%d" % (name, register, rnd),
                                     port, pids, register, ["-c", str(c)],
                                     w))
                log("  %.0f reg/s, %s us server CPU per registration" %
                    (sat["rate"], fmt(sat["server_cpu_us_per_reg"], "%.0f")))
                runs[name][register]["saturation"].append(sat)
            for name, (port, pids) in servers.items():
                new = runs[name].get("new", {}).get("saturation")
                new_rate = median([r["rate"] for r in new]) if new else None
                half_rate = max(1.0, runs[name][register]["saturation"][-1]
                                ["rate"] / 2)
                w = warm_s(register, min(2 * half_rate + 16,
                                         b.a.subscribers), new_rate)
                log("round %d, %s, --register %s: half (-r %.0f)" %
                    (rnd + 1, name, register, half_rate))
                half = totals(b.bench("%s-%s-half-%d" % (name, register, rnd),
                                      port, pids, register,
                                      ["-r", "%.1f" % half_rate], w))
                half["offered_rate"] = half_rate
                log("  p99 %s us" % half["latency_us"].get("p99"))
                runs[name][register]["half"].append(half)
    return {n: {m: {ph: summary(v) for ph, v in per.items()}
                for m, per in by_mode.items()}
            for n, by_mode in runs.items()}


def fmt(v, f):
    return "-" if v is None else f % v


def failures_text(t):
    bad = {k: v for k, v in t["failures"].items() if v}
    return ",".join("%s=%s" % kv for kv in sorted(bad.items())) or "0"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--imsec", default=os.environ.get("IMSEC") or
                    os.path.join(HERE, "..", "..", "build", "imsec"))
    ap.add_argument("-n", "--subscribers", type=int, default=2000)
    ap.add_argument("-t", "--duration", type=int, default=10)
    ap.add_argument("-c", "--concurrency", type=int, default=200)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1,
                    help="interleaved rounds; the table shows medians")
    ap.add_argument("--timeout-ms", type=int, default=10000)
    ap.add_argument("--sources", default="")
    ap.add_argument("--modes", default="new,open",
                    help="--register modes, new before open (open's "
                    "warm-up is sized from new's rate)")
    ap.add_argument("--workers", type=int, default=1,
                    help="Kamailio tcp_children (default 1: more are not "
                    "stable over TLS in 5.6.3 with OpenSSL 3)")
    ap.add_argument("--only", choices=("kamailio", "imsec"))
    ap.add_argument("--imsec-regs", choices=("memory", "disk", "both"),
                    default="both",
                    help="the S-CSCF's registration store: in memory (as "
                    "Kamailio's usrloc here; the ratio uses it), on disk "
                    "(its durable default), or both")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    if not kamrun.find_kamailio() or not kamrun.tls_module_present():
        log("kamailio or kamailio-tls-modules is not installed "
            "(scripts/packages.txt)")
        return 77
    if not os.access(a.imsec, os.X_OK):
        log("no imsec binary at %s (--imsec)" % a.imsec)
        return 1
    folder = tempfile.mkdtemp(prefix="imsec-side-by-side-")
    b = Bench(a, folder)
    results = {}
    k = None
    try:
        b.setup()
        servers = {}
        if a.only != "imsec":
            k, port, pids = b.start_kamailio()
            servers["kamailio"] = (port, pids)
        if a.only != "kamailio":
            for regs in (["memory", "disk"] if a.imsec_regs == "both"
                         else [a.imsec_regs]):
                name = "imsec" if regs == "memory" else "imsec-disk"
                _, port, pids = b.start_imsec(regs)
                servers[name] = (port, pids)
        results = measure(b, servers, modes, a.rounds)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) \
            as e:
        log("side_by_side: %s" % e)
        log("(files kept in %s)" % folder)
        return 1
    finally:
        if k:
            k.stop()
        for d in b.daemons:
            d.stop()

    print("%-10s %-5s %9s %9s %10s %10s %11s %9s" %
          ("server", "reg", "sat/s", "failures", "cpu us/reg",
           "reg/cpu-s", "p99@half ms", "half/s"))
    for server, per in results.items():
        for register, r in per.items():
            s, h = r["saturation"], r["half"]
            p99 = h["p99_us"]
            print("%-10s %-5s %9.0f %9s %10s %10s %11s %9.0f" %
                  (server, register, s["rate"] or 0, failures_text(s),
                   fmt(s["server_cpu_us_per_reg"], "%.0f"),
                   fmt(s["regs_per_server_cpu_s"], "%.0f"),
                   fmt(p99 / 1000 if p99 is not None else None, "%.2f"),
                   h["rate"] or 0))
    ratios = {}
    for name in ("imsec", "imsec-disk"):
        if "kamailio" not in results or name not in results:
            continue
        for register in modes:
            k = results["kamailio"][register]
            i = results[name][register]
            r = {}
            kc = k["saturation"]["regs_per_server_cpu_s"]
            ic = i["saturation"]["regs_per_server_cpu_s"]
            if kc and ic:
                r["regs_per_server_cpu_s"] = ic / kc
            if k["saturation"]["rate"] and i["saturation"]["rate"]:
                r["saturation"] = i["saturation"]["rate"] / \
                    k["saturation"]["rate"]
            if k["half"]["p99_us"] and i["half"]["p99_us"]:
                r["p99_at_half"] = i["half"]["p99_us"] / k["half"]["p99_us"]
            ratios.setdefault(name, {})[register] = r
            print("ratio %s/kamailio, --register %-4s: reg per server "
                  "CPU-s %sx (target >= 2x: %s), saturation %sx, p99 at "
                  "half %sx" %
                  (name, register, fmt(r.get("regs_per_server_cpu_s"), "%.2f"),
                   "met" if r.get("regs_per_server_cpu_s", 0) >= 2 else
                   "NOT met", fmt(r.get("saturation"), "%.2f"),
                   fmt(r.get("p99_at_half"), "%.2f")))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({
                "options": vars(a),
                "machine": {"cpus": os.cpu_count(),
                            "loadavg_end": os.getloadavg(),
                            "kamailio": subprocess.run(
                                [kamrun.find_kamailio(), "-v"],
                                capture_output=True, text=True)
                            .stdout.splitlines()[0]},
                "results": results, "ratios": ratios}, f, indent=1)
    if a.keep:
        log("files kept in %s" % folder)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
