#!/usr/bin/env python3
"""Two builds of the P-CSCF side by side: the CPU one `imsec pcscf`
spends per registration, for a base binary and a candidate, in one run
on one machine (the shared 2-core machine's load moves absolute figures
from minute to minute; the ratio of two runs taken turn about holds).

One S-CSCF (the candidate's `imsec scscf`, registrations in memory, MD5
for digest) behind two P-CSCFs on loopback, the base's and the
candidate's, each with the same trust-domain certificate chain from
`imsec pki` and the same options. Per round and per load, `imsec bench
run` drives each P-CSCF in turn (who goes first changes every round),
and the figure is the P-CSCF's CPU over the measured period (the bench's
own --server-pid sampling, which leaves out the warm-up of `--register
open`) over the successful registrations. Loads:

- new-aka: `--register new` with IMS AKA subscribers (a new TLS 1.3
  connection, REGISTER, 401, REGISTER, 200), -c 16;
- new-digest: the same with SIP Digest subscribers;
- open-digest: `--register open`: re-REGISTER on open connections, -c 100.

    tests/bench/pcscf_ab.py --base OLD/imsec [--imsec NEW/imsec]
        [-n SUBS] [--seconds S] [--rounds K] [--loads a,b] [--json FILE]

Exit 0 when every run ran (figures in the report), 1 otherwise.
"""
import argparse
import os
import sys

import genlib
from genlib import HOME, Lab, die, median

BIG = "100000000"
LIMITS = ["--impi-challenges", "1000000", "--source-challenges", BIG,
          "--impi-failures", "1000000", "--source-failures", BIG,
          "--max-flows-per-ip", "1000000"]
LOADS = {
    "new-aka": ("aka", "new", ["-c", "16"]),
    "new-digest": ("digest", "new", ["-c", "16"]),
    "open-digest": ("digest", "open", ["-c", "100"]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the base imsec binary")
    ap.add_argument("--imsec", help="the candidate (default build/imsec)")
    ap.add_argument("-n", type=int, default=1000,
                    help="subscribers per scheme")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loads", default="new-aka,new-digest,open-digest")
    ap.add_argument("--json")
    a = ap.parse_args()
    loads = [x for x in a.loads.split(",") if x]
    if any(x not in LOADS for x in loads) or a.n < 1 or a.rounds < 1:
        ap.error("--loads from %s; counts positive" % ",".join(LOADS))
    cand = genlib.find_imsec(a.imsec)
    base = os.path.abspath(a.base)
    if not os.access(base, os.X_OK):
        die("--base %s: not an executable" % a.base)
    genlib.raise_nofile()

    with Lab(cand, False) as lab:
        pki = lab.path("pki")
        lab.run("pki", "init", "--dir", pki, "--trust-domain",
                genlib.TRUST_DOMAIN)
        lab.run("pki", "operator", "--dir", pki, "--mcc", "001", "--mnc",
                "001")
        lab.run("pki", "pcscf", "--dir", pki, "--mcc", "001", "--mnc", "001")
        creds = {}
        for i, scheme in enumerate(("aka", "digest")):
            creds[scheme] = lab.path("%s.creds" % scheme)
            lab.run("bench", "provision", "--db", lab.path("hss.db"),
                    "--out", creds[scheme], "-n", str(a.n), "--scheme",
                    scheme, "--domain", HOME, "--first-imsi",
                    "0010100%08d" % (i * 1000000 + 1))
        sc = lab.start("scscf", [
            "scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME, "--db",
            lab.path("hss.db"), "--registrations", ":memory:",
            "--digest-algorithms", "MD5", "--insecure-core", "--peer-addr",
            "127.0.0.1", "--log-level", "warn", "--store-timeout", "5000"] +
            LIMITS, ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
        pcs = {}
        for name, binary in (("base", base), ("candidate", cand)):
            pcs[name] = lab.start("pcscf-" + name, [
                binary, "pcscf", "--listen", "tls:127.0.0.1:0",
                "--cert", os.path.join(pki, "pcscf.%s.chain.pem" % HOME),
                "--key", os.path.join(pki, "pcscf.%s.key" % HOME),
                "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc.port),
                "--core", "tcp:127.0.0.1:0", "--insecure-core",
                "--peer-addr", "127.0.0.1", "--log-level", "warn",
                "--max-flows-per-ip", "1000000"],
                ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\)")
        print("# pcscf_ab: base %s (pid %d), candidate %s (pid %d), S-CSCF "
              "pid %d; %d subscribers per scheme, %g s per run, %d rounds" %
              (base, pcs["base"].pid, cand, pcs["candidate"].pid, sc.pid,
               a.n, a.seconds, a.rounds), flush=True)
        print("%-5s %-12s %-9s %7s %5s %8s %12s" % (
            "round", "load", "pcscf", "ok", "fail", "ok/s", "pcscf_us/reg"),
            flush=True)
        rows = []
        for r in range(a.rounds):
            for load in loads:
                scheme, register, extra = LOADS[load]
                order = ["base", "candidate"]
                if r % 2:
                    order.reverse()
                for name in order:
                    pc = pcs[name]
                    # open: the warm-up registers the busy UEs first.
                    secs = a.seconds + (12 if register == "open" else 0)
                    rep, rc, _, _ = lab.bench_run(
                        "%s-%s-%d" % (load, name, r),
                        ["--target", "tls:127.0.0.1:%d" % pc.port,
                         "--creds", creds[scheme], "--ca",
                         os.path.join(pki, "root.crt"), "--mode", "m1",
                         "--register", register, "-t", "%g" % secs,
                         "--server-pid", "%d" % pc.pid] + extra,
                        secs * 3 + 60)
                    tot = rep.get("totals", {})
                    ok = int(tot.get("ok", 0))
                    failed = int(tot.get("failed", 0))
                    srv = (rep.get("server") or [{}])[0]
                    us = srv.get("cpu_us_per_op")
                    rows.append({"round": r, "load": load, "pcscf": name,
                                 "ok": ok, "failed": failed, "exit": rc,
                                 "rate": tot.get("rate"),
                                 "pcscf_cpu_s": srv.get("cpu_s"),
                                 "pcscf_us_per_reg": us})
                    print("%-5d %-12s %-9s %7d %5d %8.0f %12s" % (
                        r, load, name, ok, failed, tot.get("rate") or 0,
                        "%.0f" % us if us else "-"), flush=True)
                    for p in list(pcs.values()) + [sc]:
                        if not p.alive():
                            die("%s died:\n%s" % (p.name, p.text()[-2000:]))
        summary = {}
        print("\n%-12s %12s %12s %8s" % ("load", "base us/reg",
                                         "cand. us/reg", "cand/base"))
        for load in loads:
            b = median([x["pcscf_us_per_reg"] for x in rows
                        if x["load"] == load and x["pcscf"] == "base"])
            c = median([x["pcscf_us_per_reg"] for x in rows
                        if x["load"] == load and x["pcscf"] == "candidate"])
            per = []
            for r in range(a.rounds):
                x = {y["pcscf"]: y["pcscf_us_per_reg"] for y in rows
                     if y["round"] == r and y["load"] == load}
                if x.get("base") and x.get("candidate"):
                    per.append(x["candidate"] / x["base"])
            q = median(per)
            summary[load] = {"base_us": b, "candidate_us": c,
                             "ratio": q, "ratios": per}
            print("%-12s %12s %12s %8s   (rounds: %s)" % (
                load, "%.0f" % b if b else "-", "%.0f" % c if c else "-",
                "%.2f" % q if q else "-",
                " ".join("%.2f" % x for x in per)))
        failed = sum(x["failed"] for x in rows)
        if failed:
            print("%d registrations failed" % failed)
        genlib.write_json(a.json, {
            "options": {"base": base, "candidate": cand, "subscribers": a.n,
                        "seconds": a.seconds, "rounds": a.rounds,
                        "loads": loads},
            "rows": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
