#!/usr/bin/env python3
"""Two builds of the S-CSCF side by side in one run: its CPU per
registration under the same `imsec bench` load, for comparing a change
to it (before / after) on a shared, noisy machine where only ratios
measured together hold.

Two stacks run at once, each `imsec pcscf` (the same binary, --imsec) in
front of an `imsec scscf` (--before or --after) with an HSS file of its
own (copies of one provisioned file: AKA and SIP Digest subscribers)
and its default durable registration store. Per round and per load the
two are driven in turn (who goes first changes every round), and each
one's S-CSCF CPU (user + system from /proc) is divided by its
successful registrations. Loads:

- aka-new:     --mode m1 --register new, IMS AKA (new TLS connection,
               REGISTER, 401 with a vector, REGISTER with RES, 200);
- digest-new:  the same with SIP Digest subscribers (MD5 and SHA-256);
- digest-open: SIP Digest re-REGISTERs on open connections (the last
               nonce, nc + 1), --ues 200 (their first registration,
               inside -t, is in the CPU too).

    tests/bench/scscf_ab.py --before OLD/imsec --after NEW/imsec
        [--imsec BIN] [-n SUBS] [--seconds S] [--conc C] [--rounds K]
        [--json FILE] [--keep]

Prints a row per run and the medians per load with the ratio
after / before (below 1: the change costs less). Exit 0 when every run
ran, 1 when something could not.
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
    "digest-new": ("digest", ["--register", "new"]),
    "digest-open": ("digest", ["--register", "open", "--ues", "200"]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--imsec")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loads", default=",".join(LOADS))
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    loads = a.loads.split(",")
    if any(x not in LOADS for x in loads):
        ap.error("--loads: one or more of %s" % ",".join(LOADS))
    imsec = genlib.find_imsec(a.imsec)
    builds = {"before": os.path.abspath(a.before),
              "after": os.path.abspath(a.after)}
    for b in builds.values():
        if not os.access(b, os.X_OK):
            die("%s: not an executable" % b)
    genlib.raise_nofile()

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
        lab.run("bench", "provision", "--db", db, "--out", creds["digest"],
                "-n", str(a.n), "--scheme", "digest", "--domain", HOME,
                "--first-imsi", "001010100000001")
        stacks = {}
        for name, binary in builds.items():
            hss = lab.path("hss-%s.db" % name)
            shutil.copy(db, hss)
            os.chmod(hss, 0o600)
            sc = lab.start("scscf-" + name, [
                binary, "scscf", "--listen", "tcp:127.0.0.1:0", "--domain",
                HOME, "--db", hss, "--registrations",
                lab.path("reg-%s.db" % name), "--insecure-core",
                "--peer-addr", "127.0.0.1", "--log-level", "warn",
                "--store-timeout", "5000"] + LIMITS,
                ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
            pc = lab.start("pcscf-" + name, [
                "pcscf", "--listen", "tls:127.0.0.1:0",
                "--cert", os.path.join(pki, "pcscf.%s.chain.pem" % HOME),
                "--key", os.path.join(pki, "pcscf.%s.key" % HOME),
                "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc.port),
                "--core", "tcp:127.0.0.1:0", "--insecure-core",
                "--peer-addr", "127.0.0.1", "--log-level", "warn",
                "--max-flows-per-ip", "1000000"],
                ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\)")
            stacks[name] = (pc, sc)
        print("# scscf_ab: %d AKA + %d digest subscribers, %g s per run, %d "
              "in flight, %d rounds; before %s (S-CSCF pid %d), after %s "
              "(S-CSCF pid %d)" %
              (a.n, a.n, a.seconds, a.conc, a.rounds, builds["before"],
               stacks["before"][1].pid, builds["after"],
               stacks["after"][1].pid), flush=True)
        print("%-5s %-12s %-7s %7s %5s %8s %14s %14s" %
              ("round", "load", "build", "ok", "fail", "reg/s",
               "scscf_us/reg", "pcscf_us/reg"), flush=True)
        rows = []
        for r in range(a.rounds):
            for load in loads:
                order = ["before", "after"]
                if r % 2:
                    order.reverse()
                scheme, extra = LOADS[load]
                for name in order:
                    pc, sc = stacks[name]
                    p0, s0 = genlib.cpu_s(pc.pid), genlib.cpu_s(sc.pid)
                    rep, rc, _, wall = lab.bench_run(
                        "%s-%s-%d" % (load, name, r),
                        ["--target", "tls:127.0.0.1:%d" % pc.port,
                         "--creds", creds[scheme], "--ca",
                         os.path.join(pki, "root.crt"), "--mode", "m1",
                         "-c", str(a.conc), "-t", "%g" % a.seconds] + extra,
                        a.seconds * 3 + 60)
                    pcpu = genlib.cpu_s(pc.pid) - p0
                    scpu = genlib.cpu_s(sc.pid) - s0
                    tot = rep.get("totals", {})
                    ok = int(tot.get("ok", 0))
                    fails = tot.get("failures", {})
                    failed = sum(v for v in fails.values()
                                 if isinstance(v, (int, float))) \
                        if isinstance(fails, dict) else 0
                    row = {"round": r, "load": load, "build": name, "ok": ok,
                           "failed": failed, "exit": rc,
                           "rate": ok / (tot.get("duration_s") or wall),
                           "scscf_us": scpu * 1e6 / ok if ok else None,
                           "pcscf_us": pcpu * 1e6 / ok if ok else None}
                    rows.append(row)
                    print("%-5d %-12s %-7s %7d %5d %8.0f %14s %14s" %
                          (r, load, name, ok, failed, row["rate"],
                           "%.0f" % row["scscf_us"] if ok else "-",
                           "%.0f" % row["pcscf_us"] if ok else "-"),
                          flush=True)
                    for p in (pc, sc):
                        if not p.alive():
                            die("%s died:\n%s" % (p.name, p.text()[-2000:]))
        summary = {}
        print("\nmedians (S-CSCF CPU per registration; after / before is "
              "the median of the per-round ratios):")
        for load in loads:
            med = {}
            for name in builds:
                med[name] = median([x["scscf_us"] for x in rows
                                    if x["load"] == load and
                                    x["build"] == name and x["scscf_us"]])
            ratios = []
            for r in range(a.rounds):
                x = {y["build"]: y for y in rows
                     if y["round"] == r and y["load"] == load}
                if x["before"]["scscf_us"] and x["after"]["scscf_us"]:
                    ratios.append(x["after"]["scscf_us"] /
                                  x["before"]["scscf_us"])
            q = median(ratios)
            summary[load] = {"before_us": med["before"],
                             "after_us": med["after"], "ratio": q,
                             "ratios": ratios}
            print("  %-12s before %6s us  after %6s us  after/before %s "
                  "(rounds %s)" %
                  (load, "%.0f" % med["before"] if med["before"] else "-",
                   "%.0f" % med["after"] if med["after"] else "-",
                   "%.2f" % q if q else "-",
                   ", ".join("%.2f" % x for x in ratios)))
        failed = sum(x["failed"] for x in rows)
        if failed:
            print("%d registrations failed" % failed)
        genlib.write_json(a.json, {
            "options": {"subscribers": a.n, "seconds": a.seconds,
                        "conc": a.conc, "rounds": a.rounds,
                        "before": builds["before"],
                        "after": builds["after"]},
            "rows": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
