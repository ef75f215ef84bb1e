#!/usr/bin/env python3
"""The cost of the cluster stores: the CPU one registration takes when the
S-CSCF asks an HSS over Diameter Cx and keeps its registrations in Redis,
against the same registration with the embedded stores (the HSS and the
registration store in SQLite files inside the S-CSCF), in one run on one
machine.

Two stacks run at once, each `imsec pcscf` in front of an `imsec scscf`:

- embedded: `imsec scscf --db hss-emb.db` (the HSS in SQLite, SQN
  reserved a range at a time, TS 33.102 C.3) with its default SQLite
  registration store (each registration durable before its 200);
- cluster: `imsec scscf --hss diameter:H:P --registrations redis://H:P/0`
  against `imsec hss serve --db hss-cx.db --diameter tcp:H:P` (Cx, TS
  29.228/29.229: MAR for the vector, SAR before the 200) and a
  redis-server of its own (appendonly, `--redis-fsync` as asked).

Both HSS files are copies of one provisioned file (`imsec bench
provision`), so the subscribers and their keys are the same. Per round
and per load the two stacks are driven in turn by `imsec bench run` (who
goes first changes every round). The figure of a run is the CPU (user +
system from /proc/PID/stat, before and after) of every process of the
stack over its successful registrations: P-CSCF + S-CSCF for the
embedded stack, P-CSCF + S-CSCF + HSS + redis-server for the cluster
stack. The ratio cluster / embedded is the median of the per-round
ratios, for the whole stack (the target, at most 1.5x) and for the
S-CSCF side alone (S-CSCF + HSS + Redis against the S-CSCF, which holds
its stores). Loads:

- aka-new:  --mode m1 --register new, IMS AKA: a new TLS connection,
            REGISTER, 401 with a vector (Cx MAR), REGISTER with RES,
            200 (Cx SAR, Redis save);
- aka-open: IMS AKA re-REGISTERs on open connections (--ues 64: no TLS
            handshake, so the stores weigh most; the 64 first
            registrations, inside -t, are in the CPU too, in both stacks);
- digest-open: SIP Digest re-REGISTERs on open connections (MAR for
            SIP-Digest-Authenticate when the S-CSCF asks for H(A1)).

    tests/bench/cluster_cost.py [--imsec BUILD/imsec] [-n SUBSCRIBERS]
        [--seconds S] [--conc C | --rate R] [--rounds K] [--loads L1,L2]
        [--diameter tcp|tls] [--redis-fsync always|everysec|no|off]
        [--stacks emb,cx] [--json FILE] [--keep]

`--rate R` drives both stacks open loop at the same offered rate (`imsec
bench run -r R`), so that neither figure is moved by the other stack
running faster (the embedded stack waits on its fsyncs, the cluster
stack does not). Defaults: 2000 subscribers, 5 s per run, 16 in flight
(closed loop), 3 rounds, loads
aka-new and aka-open, Diameter over TCP, Redis appendfsync everysec
(`off`: no append-only file at all), both stacks (`--stacks emb` alone
checks the set-up without the cluster parts).
Exit 0 when every run ran (the figures and whether the target is met are
in the report), 1 when something could not run.
"""
import argparse
import os
import shutil

import genlib
from genlib import HOME, Lab, die, median

LIMITS = ["--impi-challenges", "1000000", "--source-challenges", "100000000",
          "--impi-failures", "1000000", "--source-failures", "100000000",
          "--max-flows-per-ip", "1000000"]
LOADS = {
    "aka-new": ("aka", ["--register", "new"]),
    "aka-open": ("aka", ["--register", "open", "--ues", "64"]),
    "digest-open": ("digest", ["--register", "open", "--ues", "64"]),
}
HSS_ID = "hss." + HOME
SCSCF_ID = "scscf." + HOME
TARGET = 1.5


def start_redis(lab, fsync):
    """A private redis-server on a free loopback port, its data in the lab
    folder (no system service, nothing outside the folder)."""
    exe = genlib.find_tool("redis-server", "REDIS_SERVER")
    if not exe:
        die("no redis-server (apt-get install redis-server)")
    d = lab.path("redis")
    os.makedirs(d, mode=0o700, exist_ok=True)
    port = genlib.free_port()
    p = lab.start("redis", [
        exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
        "--save", "", "--appendonly", "yes" if fsync != "off" else "no",
        "--appendfsync", fsync if fsync != "off" else "no",
        "--daemonize", "no", "--logfile", "",
        "--protected-mode", "yes"],
        ready=r"Ready to accept connections")
    p.port = port
    return p


def start_stacks(lab, a, pki, db):
    """The embedded and the cluster stacks: {name: [procs]} with the
    P-CSCF first and the S-CSCF second."""
    tls = a.diameter == "tls"

    def dcert(host):
        if not tls:
            return []
        return ["--diameter-cert",
                os.path.join(pki, "node-%s.chain.pem" % host),
                "--diameter-key", os.path.join(pki, "node-%s.key" % host),
                "--diameter-ca", os.path.join(pki, "root.crt")]
    if tls:
        # Diameter over TLS (RFC 6733 §13): both ends show a node
        # certificate of the operator naming their Diameter identity.
        for host in (HSS_ID, SCSCF_ID):
            lab.run("pki", "node", "--dir", pki, "--mcc", "001", "--mnc",
                    "001", "--host", host)
    stacks = {}
    for name in a.stacks:
        hss = lab.path("hss-%s.db" % name)
        shutil.copy(db, hss)
        os.chmod(hss, 0o600)
        extra = []
        if name == "emb":
            store = ["--db", hss, "--registrations",
                     lab.path("reg-emb.db")]
        else:
            redis = start_redis(lab, a.redis_fsync)
            dport = genlib.free_port()
            hs = lab.start("hss", [
                "hss", "serve", "--db", hss, "--diameter",
                "%s:127.0.0.1:%d" % (a.diameter, dport),
                "--diameter-identity", HSS_ID, "--diameter-realm", HOME,
                "--log-level", "warn"] + dcert(HSS_ID),
                ready=r"hss info: listening on diameter")
            store = ["--hss", "diameter%s:127.0.0.1:%d" %
                     ("+tls" if tls else "", dport),
                     "--diameter-identity", SCSCF_ID, "--diameter-realm",
                     HOME, "--hss-identity", HSS_ID,
                     "--registrations", "redis://127.0.0.1:%d/0" %
                     redis.port] + dcert(SCSCF_ID)
            extra = [hs, redis]
        sc = lab.start("scscf-" + name, [
            "scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
            "--insecure-core", "--peer-addr", "127.0.0.1", "--log-level",
            "warn", "--store-timeout", "5000"] + store + LIMITS,
            ready=r"listening on tcp:127\.0\.0\.1:(\d+)", timeout=30)
        pc = lab.start("pcscf-" + name, [
            "pcscf", "--listen", "tls:127.0.0.1:0",
            "--cert", os.path.join(pki, "pcscf.%s.chain.pem" % HOME),
            "--key", os.path.join(pki, "pcscf.%s.key" % HOME),
            "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc.port),
            "--core", "tcp:127.0.0.1:0", "--insecure-core",
            "--peer-addr", "127.0.0.1", "--log-level", "warn",
            "--max-flows-per-ip", "1000000"],
            ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\)")
        stacks[name] = [pc, sc] + extra
    return stacks


def failures(rep):
    fails = rep.get("totals", {}).get("failures", {})
    if isinstance(fails, dict):
        return sum(v for v in fails.values() if isinstance(v, (int, float))), \
            {k: v for k, v in fails.items() if v}
    return int(fails or 0), fails


def fmt(x):
    return "%.0f" % x if x else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imsec")
    ap.add_argument("-n", type=int, default=2000, help="subscribers")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float,
                    help="open loop at this many registrations/s (bench "
                    "-r) instead of --conc in flight")
    ap.add_argument("--loads", default="aka-new,aka-open")
    ap.add_argument("--diameter", choices=("tcp", "tls"), default="tcp")
    ap.add_argument("--redis-fsync", default="everysec",
                    choices=("always", "everysec", "no", "off"))
    ap.add_argument("--stacks", default="emb,cx",
                    help="emb, cx or both (one alone: a check of the set-up)")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    loads = a.loads.split(",")
    a.stacks = a.stacks.split(",")
    if not a.stacks or any(x not in ("emb", "cx") for x in a.stacks):
        ap.error("--stacks: emb, cx or emb,cx")
    if any(x not in LOADS for x in loads):
        ap.error("--loads: one or more of %s" % ",".join(LOADS))
    if a.n < 1 or a.seconds <= 0 or a.conc < 1 or a.conc > 1024 or \
            a.rounds < 1:
        ap.error("counts and seconds must be positive (--conc at most 1024)")
    imsec = genlib.find_imsec(a.imsec)
    genlib.raise_nofile()
    need_digest = any(LOADS[x][0] == "digest" for x in loads)

    with Lab(imsec, a.keep) as lab:
        pki = lab.path("pki")
        lab.run("pki", "init", "--dir", pki, "--trust-domain",
                genlib.TRUST_DOMAIN)
        lab.run("pki", "operator", "--dir", pki, "--mcc", "001", "--mnc",
                "001")
        lab.run("pki", "pcscf", "--dir", pki, "--mcc", "001", "--mnc", "001")
        db = lab.path("hss.db")
        creds = {"aka": lab.path("aka.creds"),
                 "digest": lab.path("digest.creds")}
        lab.run("bench", "provision", "--db", db, "--out", creds["aka"],
                "-n", str(a.n), "--scheme", "aka", "--domain", HOME)
        if need_digest:
            lab.run("bench", "provision", "--db", db, "--out",
                    creds["digest"], "-n", str(a.n), "--scheme", "digest",
                    "--domain", HOME, "--first-imsi", "001010100000001")
        stacks = start_stacks(lab, a, pki, db)
        print("# cluster_cost: %d subscribers per scheme, %g s per run, %s, "
              "%d rounds, Diameter over %s, Redis appendfsync %s; pids: %s" %
              (a.n, a.seconds, "%g registrations/s offered" % a.rate
               if a.rate else "%d in flight" % a.conc, a.rounds,
               a.diameter.upper(),
               a.redis_fsync, ", ".join("%s %d" % (p.name, p.pid)
                                        for s in stacks.values()
                                        for p in s)), flush=True)
        print("%-5s %-11s %-5s %7s %5s %7s %10s %10s %10s %10s %10s" %
              ("round", "load", "stack", "ok", "fail", "reg/s", "total_us",
               "pcscf_us", "scscf_us", "hss_us", "redis_us"), flush=True)
        load_args = ["-r", "%g" % a.rate] if a.rate else ["-c", str(a.conc)]
        rows = []
        for r in range(a.rounds):
            for load in loads:
                order = list(a.stacks)
                if r % 2:
                    order.reverse()
                scheme, extra = LOADS[load]
                for name in order:
                    procs = stacks[name]
                    c0 = [genlib.cpu_s(p.pid) for p in procs]
                    rep, rc, _, wall = lab.bench_run(
                        "%s-%s-%d" % (load, name, r),
                        ["--target", "tls:127.0.0.1:%d" % procs[0].port,
                         "--creds", creds[scheme], "--ca",
                         os.path.join(pki, "root.crt"), "--mode", "m1",
                         "-t", "%g" % a.seconds] + load_args + extra,
                        a.seconds * 3 + 60)
                    cpu = [genlib.cpu_s(p.pid) - c for p, c in
                           zip(procs, c0)]
                    tot = rep.get("totals", {})
                    ok = int(tot.get("ok", 0))
                    nfail, why = failures(rep)
                    per = [x * 1e6 / ok if ok else None for x in cpu]
                    row = {"round": r, "load": load, "stack": name, "ok": ok,
                           "failed": nfail, "failures": why, "exit": rc,
                           "rate": ok / (tot.get("duration_s") or wall),
                           "p99_us": rep.get("latency_us", {}).get("p99"),
                           "pcscf_us": per[0], "scscf_us": per[1],
                           "hss_us": per[2] if name == "cx" else None,
                           "redis_us": per[3] if name == "cx" else None,
                           "total_us": sum(cpu) * 1e6 / ok if ok else None,
                           "core_us": sum(cpu[1:]) * 1e6 / ok if ok
                           else None}
                    rows.append(row)
                    print("%-5d %-11s %-5s %7d %5d %7.0f %10s %10s %10s %10s "
                          "%10s" % (r, load, name, ok, nfail, row["rate"],
                                    fmt(row["total_us"]),
                                    fmt(row["pcscf_us"]),
                                    fmt(row["scscf_us"]), fmt(row["hss_us"]),
                                    fmt(row["redis_us"])), flush=True)
                    for s in stacks.values():
                        for p in s:
                            if not p.alive():
                                die("%s died:\n%s" % (p.name,
                                                      p.text()[-2000:]))

        summary = {}
        met = True
        print("\nmedians (CPU per registration; cluster / embedded is the "
              "median of the per-round ratios; target <= %.1fx on the whole "
              "stack):" % TARGET)
        for load in loads:
            s = {}
            for key in ("total_us", "core_us", "pcscf_us", "scscf_us",
                        "hss_us", "redis_us", "rate"):
                for name in ("emb", "cx"):
                    s["%s_%s" % (name, key)] = median(
                        [x[key] for x in rows if x["load"] == load and
                         x["stack"] == name])
            for key in ("total_us", "core_us"):
                rs = []
                for r in range(a.rounds):
                    x = {y["stack"]: y for y in rows
                         if y["round"] == r and y["load"] == load}
                    if "emb" in x and "cx" in x and x["emb"][key] and \
                            x["cx"][key]:
                        rs.append(x["cx"][key] / x["emb"][key])
                s["ratio_" + key] = median(rs)
                s["ratios_" + key] = rs
            q = s["ratio_total_us"]
            met = met and q is not None and q <= TARGET
            summary[load] = s
            print("  %-11s whole stack: embedded %s us, cluster %s us "
                  "(P-CSCF %s, S-CSCF %s, HSS %s, Redis %s): %s (rounds %s)"
                  % (load, fmt(s["emb_total_us"]), fmt(s["cx_total_us"]),
                     fmt(s["cx_pcscf_us"]), fmt(s["cx_scscf_us"]),
                     fmt(s["cx_hss_us"]), fmt(s["cx_redis_us"]),
                     "%.2fx" % q if q else "-",
                     ", ".join("%.2f" % x for x in s["ratios_total_us"])))
            qc = s["ratio_core_us"]
            print("  %-11s S-CSCF side: embedded S-CSCF %s us, cluster "
                  "S-CSCF + HSS + Redis %s us: %s (rounds %s)" %
                  ("", fmt(s["emb_core_us"]), fmt(s["cx_core_us"]),
                   "%.2fx" % qc if qc else "-",
                   ", ".join("%.2f" % x for x in s["ratios_core_us"])))
        failed = sum(x["failed"] for x in rows)
        print("target (whole stack <= %.1fx in every load): %s%s" %
              (TARGET, "met" if met else "NOT met",
               "; %d registrations failed: %s" %
               (failed, [x["failures"] for x in rows if x["failed"]])
               if failed else ""))
        genlib.write_json(a.json, {
            "options": {"subscribers": a.n, "seconds": a.seconds,
                        "conc": a.conc, "rate": a.rate,
                        "rounds": a.rounds, "loads": loads,
                        "diameter": a.diameter,
                        "redis_fsync": a.redis_fsync},
            "rows": rows, "summary": summary, "target": TARGET,
            "met": met})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
