#!/usr/bin/env python3
"""The cost of security: the CPU the imsec P-CSCF and S-CSCF spend on one
IMS AKA registration over a new TLS connection, against the CPU a bare
TLS server spends on the handshake alone, in one run on one machine.

- Registration: `imsec bench run --mode m1 --register new` (a new TLS
  1.3 connection per registration, full handshake, REGISTER, 401 with
  the AKA challenge, REGISTER with RES, 200; TS 33.203 Annexes N and O)
  against `imsec pcscf` (the trust domain's P-CSCF certificate from
  `imsec pki`: EC P-256) in front of `imsec scscf` with its HSS (SQLite,
  `imsec bench provision --scheme aka`) and registration store; the
  core link is plain TCP on loopback (--insecure-core), one long-lived
  connection. The figure: the P-CSCF's and the S-CSCF's CPU (user +
  system from /proc/PID/stat, before and after the run) over the
  successful registrations. The bench's own "server" section (its
  --server-pid sampling) is shown beside it.
- Handshake: tests/bench/net_tls.c's imsec server alone (`net_tls_bench
  --serve imsec`: imsec_net, one loop, session tickets, EC P-256, TLS
  1.3) under `net_tls_bench --gen` with no resumption, the same number
  in flight; its CPU the same way over the handshakes the generator
  completed (one counts once the client holds the server's ticket: the
  server's whole part is done).

Same key type and curve (P-256), same TLS version (1.3), same loopback;
the P-CSCF sends its chain (leaf and operator CA), net_tls_bench a
self-signed leaf. The two alternate per round (who goes first
changes), and the ratio is the median of the rounds' ratios: the
figure least moved by the shared machine's other load. Target: at most
1.3x (the SIP, AKA and HSS work is under a third of a handshake).

    tests/bench/security_cost.py [--imsec BUILD/imsec]
        [--net-tls-bench BUILD/tests/bench/net_tls_bench] [-n SUBSCRIBERS]
        [--seconds S] [--conc C] [--rounds K] [--procs P] [--json FILE]
        [--keep]

Defaults: 2000 subscribers, 5 s per phase, 16 in flight, 3 rounds,
1 bench process. net_tls_bench is built with -DIMSEC_BENCH=ON
(`cmake --build build --target net_tls_bench`). Exit 0 when every phase
ran (the figures and whether the target is met are in the report), 1
when something could not run.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

import genlib
from genlib import HOME, Lab, die, median

LIMITS = ["--impi-challenges", "1000000", "--source-challenges", "100000000",
          "--impi-failures", "1000000", "--source-failures", "100000000"]


def find_net_tls_bench(given):
    for p in (given, os.environ.get("NET_TLS_BENCH"),
              os.path.join(genlib.ROOT, "build", "tests", "bench",
                           "net_tls_bench"),
              os.path.join(genlib.ROOT, "build", "net_tls_bench")):
        if p and os.access(p, os.X_OK):
            return os.path.abspath(p)
    die("no net_tls_bench (cmake -DIMSEC_BENCH=ON, then cmake --build build "
        "--target net_tls_bench; or give --net-tls-bench)")


class TlsServer:
    """`net_tls_bench --serve imsec SECONDS`: one imsec_net TLS server
    alone, its port and certificate folder on its first line."""

    def __init__(self, lab, binary, seconds):
        self.lab = lab
        self.binary = binary
        self.p = genlib.Proc("net_tls_serve", [binary, "--serve", "imsec",
                                               "%d" % seconds],
                             lab.path("net_tls_serve.log"), lab.dir)
        lab.procs.append(self.p)
        m = self.p.wait_log(r"^(\d+) (/\S+)$", 15)
        if not m:
            die("net_tls_bench --serve did not start:\n" + self.p.text())
        self.port, self.certdir = int(m.group(1)), m.group(2)

    def handshakes(self, seconds, conc):
        """One generator run against the server: (handshakes, server CPU
        seconds over it, wall seconds)."""
        g = subprocess.Popen([self.binary, "--gen", str(self.port),
                              "%g" % seconds, str(conc), "0"],
                             cwd=self.lab.dir, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        line = g.stdout.readline()
        if line.strip() != "ready":
            die("net_tls_bench --gen: %s %s" % (line, g.stderr.read()))
        c0 = genlib.cpu_s(self.p.pid)
        g.stdin.write("g")
        g.stdin.close()
        out = g.stdout.readline()
        c1 = genlib.cpu_s(self.p.pid)
        err = g.stderr.read()
        g.wait(30)
        m = re.match(r"(\d+) ([\d.]+)", out)
        if not m:
            die("net_tls_bench --gen: no result (%s %s)" % (out, err))
        if err.strip():
            sys.stderr.write("# " + err)
        return int(m.group(1)), c1 - c0, float(m.group(2))

    def stop(self):
        self.p.stop()
        # --serve removes its certificates when it ends by itself only.
        if self.certdir.startswith("/tmp/imsec-bench-"):
            shutil.rmtree(self.certdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imsec")
    ap.add_argument("--net-tls-bench")
    ap.add_argument("-n", type=int, default=2000, help="subscribers")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.n < 1 or a.seconds <= 0 or a.conc < 1 or a.conc > 1024 or \
            a.rounds < 1 or a.procs < 1:
        ap.error("counts and seconds must be positive (--conc at most 1024)")
    imsec = genlib.find_imsec(a.imsec)
    ntb = find_net_tls_bench(a.net_tls_bench)
    genlib.raise_nofile()

    with Lab(imsec, a.keep) as lab:
        pki = lab.path("pki")
        lab.run("pki", "init", "--dir", pki, "--trust-domain",
                genlib.TRUST_DOMAIN)
        lab.run("pki", "operator", "--dir", pki, "--mcc", "001", "--mnc",
                "001")
        lab.run("pki", "pcscf", "--dir", pki, "--mcc", "001", "--mnc", "001")
        creds = lab.provision(a.n, "aka")
        sc = lab.start("scscf", [
            "scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME, "--db",
            lab.path("hss.db"), "--insecure-core", "--peer-addr", "127.0.0.1",
            "--log-level", "warn", "--max-flows-per-ip", "1000000",
            # The HSS database under load on a shared machine: wait for
            # it rather than answer 500 (a failed registration).
            "--store-timeout", "5000"] + LIMITS,
            ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
        pc = lab.start("pcscf", [
            "pcscf", "--listen", "tls:127.0.0.1:0",
            "--cert", os.path.join(pki, "pcscf.%s.chain.pem" % HOME),
            "--key", os.path.join(pki, "pcscf.%s.key" % HOME),
            "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc.port),
            "--core", "tcp:127.0.0.1:0", "--insecure-core", "--peer-addr",
            "127.0.0.1", "--log-level", "warn", "--max-flows-per-ip",
            "1000000"],
            ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\)")
        # The bare handshake server lives through every round.
        srv = TlsServer(lab, ntb, int(a.rounds * (3 * a.seconds + 60) + 60))

        print("# security_cost: %d AKA subscribers, %g s per phase, %d in "
              "flight, %d rounds; P-CSCF pid %d, S-CSCF pid %d, bare TLS "
              "server (net_tls_bench --serve imsec) pid %d" %
              (a.n, a.seconds, a.conc, a.rounds, pc.pid, sc.pid, srv.p.pid),
              flush=True)
        print("%-5s %-9s %8s %6s %8s %10s %12s %12s" %
              ("round", "phase", "ok", "fail", "ops/s", "server_s",
               "server_us/op", "bench_us/op"), flush=True)
        rows = []
        try:
            for r in range(a.rounds):
                order = ("handshake", "register")
                if r % 2:
                    order = order[::-1]
                for phase in order:
                    if phase == "handshake":
                        n, cpu, wall = srv.handshakes(a.seconds, a.conc)
                        row = {"ok": n, "failed": 0, "wall_s": wall,
                               "server_cpu_s": cpu, "bench_us_per_op": None}
                    else:
                        p0, s0 = genlib.cpu_s(pc.pid), genlib.cpu_s(sc.pid)
                        rep, rc, gcpu, wall = lab.bench_run(
                            "register-%d" % r,
                            ["--target", "tls:127.0.0.1:%d" % pc.port,
                             "--creds", creds, "--ca",
                             os.path.join(pki, "root.crt"), "--mode", "m1",
                             "--register", "new", "-c", str(a.conc), "-t",
                             "%g" % a.seconds, "--procs", str(a.procs),
                             "--server-pid", "%d,%d" % (pc.pid, sc.pid)],
                            a.seconds * 3 + 60)
                        pcpu = genlib.cpu_s(pc.pid) - p0
                        scpu = genlib.cpu_s(sc.pid) - s0
                        cpu = pcpu + scpu
                        tot = rep.get("totals", {})
                        fails = tot.get("failures", {})
                        failed = sum(v for v in fails.values()
                                     if isinstance(v, (int, float))) \
                            if isinstance(fails, dict) else int(fails or 0)
                        srvs = rep.get("server") or []
                        bus = [s.get("cpu_us_per_op") for s in srvs]
                        row = {"ok": int(tot.get("ok", 0)),
                               "failed": int(failed), "wall_s": wall,
                               "run_s": tot.get("duration_s"),
                               "server_cpu_s": cpu, "exit": rc,
                               "pcscf_cpu_s": pcpu, "scscf_cpu_s": scpu,
                               "generator_cpu_s": gcpu,
                               "bench_us_per_op":
                               sum(bus) if bus and None not in bus else None,
                               "p99_us": rep.get("latency_us", {}).get("p99"),
                               "failures": {k: v for k, v in fails.items()
                                            if v} if isinstance(fails, dict)
                               else fails}
                    row.update(round=r, phase=phase)
                    row["us_per_op"] = row["server_cpu_s"] * 1e6 / row["ok"] \
                        if row["ok"] else None
                    rows.append(row)
                    rate = row["ok"] / (row.get("run_s") or row["wall_s"])
                    print("%-5d %-9s %8d %6d %8.0f %10.2f %12s %12s" %
                          (r, phase, row["ok"], row["failed"], rate,
                           row["server_cpu_s"],
                           "%.0f" % row["us_per_op"] if row["us_per_op"]
                           else "-",
                           "%.0f" % row["bench_us_per_op"]
                           if row["bench_us_per_op"] else "-"), flush=True)
                    for p in (pc, sc, srv.p):
                        if not p.alive():
                            die("%s died:\n%s" % (p.name, p.text()[-2000:]))
        finally:
            srv.stop()

        ratios = []
        for r in range(a.rounds):
            x = {x["phase"]: x for x in rows if x["round"] == r}
            if x["handshake"]["us_per_op"] and x["register"]["us_per_op"]:
                ratios.append(x["register"]["us_per_op"] /
                              x["handshake"]["us_per_op"])
        hs = median([x["us_per_op"] for x in rows if x["phase"] ==
                     "handshake"])
        rg = median([x["us_per_op"] for x in rows if x["phase"] ==
                     "register"])
        q = median(ratios)
        regs = [x for x in rows if x["phase"] == "register" and x["ok"]]
        pcu = median([x["pcscf_cpu_s"] * 1e6 / x["ok"] for x in regs])
        scu = median([x["scscf_cpu_s"] * 1e6 / x["ok"] for x in regs])
        failed = sum(x["failed"] for x in rows)
        if q is None:
            print("no figure: a phase completed nothing")
        else:
            print("P-CSCF + S-CSCF: %.0f us per new-TLS AKA registration "
                  "(P-CSCF %.0f, S-CSCF %.0f); bare TLS server: %.0f us per "
                  "full handshake; ratio %.2fx (median of rounds; target "
                  "<= 1.3: %s)%s" %
                  (rg, pcu, scu, hs, q, "met" if q <= 1.3 else "NOT met",
                   "; %d registrations failed: %s" % (failed, [
                       x.get("failures") for x in rows if x["failed"]])
                   if failed else ""))
        genlib.write_json(a.json, {
            "options": {"subscribers": a.n, "seconds": a.seconds,
                        "conc": a.conc, "rounds": a.rounds,
                        "procs": a.procs},
            "rows": rows,
            "summary": {"register_us": rg, "pcscf_us": pcu, "scscf_us": scu,
                        "handshake_us": hs, "ratio": q,
                        "target": 1.3}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
