#!/usr/bin/env python3
"""The generator itself: SIP Digest (MD5) registrations over plain TCP
made per generator CPU-second, Debian's SIPp 3.6.1 (`sipp -t tn`, the
scenario tests/bench/sipp/register_md5.xml) against
`imsec bench run --mode tcp`, on the same target in one run: the bench's
Kamailio (tests/bench/kamailio/, its TCP listener), with the same
subscribers (`imsec bench provision --scheme digest`; SIPp reads them
from an injection file made from the bench's credentials file).

Both generators open a new TCP connection per registration (SIPp -t tn,
the bench's --register new) and do the whole of it: REGISTER, 401,
REGISTER with the MD5 answer (qop=auth), 200. Two loads, each on both
generators, one after the other, the order alternating per round:

- the same offered rate (open loop): SIPp -r R -m R*S, the bench
  -r R -n R*S; the figure that compares like with like;
- each one's saturation (closed loop, C registrations in flight): SIPp
  -l C with a rate it never reaches and -timeout S, the bench -c C -t S.

A generator's CPU is what os.wait4 reports for it when it ends (user +
system, its reaped children included: the bench's --procs workers); its
registrations are the successful ones (SIPp: SuccessfulCall of its
-trace_stat file; the bench: totals.ok of its JSON), so the figure is
successful registrations per generator CPU-second. The report also
shows each run's rate and Kamailio's CPU per registration (its main
process and workers, from /proc), which says whether the target was the
limit. The ratio imsec / SIPp per load is the median over the rounds.
Target: imsec >= SIPp (ratio >= 1).

    tests/bench/generators.py [--imsec BUILD/imsec] [-n SUBSCRIBERS]
        [--seconds S] [--rate R] [--conc C] [--rounds K] [--procs P]
        [--only sipp|imsec] [--json FILE] [--keep]

Defaults: 2000 subscribers, 5 s per run, rate 500/s, 32 in flight,
3 rounds, 1 bench process. Exit 0 when every run ran (the figures, and
whether the target is met, are in the report), 1 when something could
not run, 77 when SIPp or Kamailio is missing (scripts/packages.txt:
sip-tester, kamailio).
"""
import argparse
import csv
import os
import subprocess
import sys
import time

import genlib
from genlib import HOME, Lab, die, median

sys.path.insert(0, os.path.join(genlib.HERE, "kamailio"))
import kamrun  # noqa: E402  (tests/bench/kamailio/kamrun.py)

SCENARIO = os.path.join(genlib.HERE, "sipp", "register_md5.xml")


def sipp_csv(lab, creds):
    """SIPp's injection file (0600: passwords) from the bench credentials
    file: SEQUENTIAL, then IMPI;IMPU;PASSWORD;USER per subscriber, USER
    the IMPI's user part (the Contact's)."""
    scheme, domain, ues = genlib.read_creds(creds)
    if scheme != "digest":
        die("%s: scheme %s, SIPp needs digest" % (creds, scheme))
    path = lab.path("sipp.csv")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("SEQUENTIAL\n")
        for impi, impu, rest in ues:
            pw = rest[0]
            # SIPp's field separator, and what would end the quoted
            # username/password of [authentication ...]: none in a
            # provisioned password (base64), refused all the same.
            if any(c in pw + impi + impu for c in ';"\\'):
                die("a credential SIPp cannot carry: %s" % impi)
            f.write("%s;%s;%s;%s\n" % (impi, impu, pw, impi.split("@")[0]))
    return path, domain


def sipp_run(lab, name, sipp, port, inf, domain, load, seconds, conc, rate,
             source):
    """One SIPp run to its end: a result dict."""
    stf = lab.path(name + ".stat.csv")
    args = [sipp, "127.0.0.1:%d" % port, "-sf", SCENARIO, "-t", "tn",
            "-i", source, "-inf", inf, "-key", "domain", domain,
            "-auth_uri", domain, "-max_socket", "10000", "-nostdin",
            "-trace_stat", "-stf", stf, "-fd", "1", "-trace_err",
            "-error_file", lab.path(name + ".errors.log")]
    if load == "rate":
        args += ["-r", "%g" % rate, "-m", str(int(rate * seconds))]
    else:
        # Closed loop: at most `conc` registrations in flight, a call
        # rate it never reaches, stopped after `seconds`.
        args += ["-l", str(conc), "-r", "100000", "-m", "1000000000",
                 "-timeout", "%gs" % seconds]
    t0 = time.monotonic()
    with open(lab.path(name + ".log"), "w") as lf:
        p = subprocess.Popen(args, cwd=lab.dir, stdin=subprocess.DEVNULL,
                             stdout=lf, stderr=subprocess.STDOUT)
    rc, ru = genlib.wait_bounded(p, seconds * 3 + 30)
    wall = time.monotonic() - t0
    try:
        with open(stf, newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
        head, last = rows[0], rows[-1]
        ok = int(last[head.index("SuccessfulCall(C)")])
        failed = int(last[head.index("FailedCall(C)")])
    except (OSError, ValueError, IndexError) as e:
        die("sipp (%s) exit %s, no statistics (%s): %s" %
            (name, rc, e, open(lab.path(name + ".log"),
                               errors="replace").read()[-1500:]))
    return {"ok": ok, "failed": failed, "wall_s": wall, "exit": rc,
            "cpu_s": ru.ru_utime + ru.ru_stime}


def imsec_run(lab, name, port, creds, load, seconds, conc, rate, procs,
              source):
    args = ["--target", "tcp:127.0.0.1:%d" % port, "--creds", creds,
            "--mode", "tcp", "--register", "new", "--procs", str(procs),
            "--timeout", "5000", "--sources", source]
    if load == "rate":
        args += ["-r", "%g" % rate, "-n", str(int(rate * seconds)), "-t",
                 "%g" % (seconds * 3 + 10)]
    else:
        args += ["-c", str(conc), "-t", "%g" % seconds]
    rep, rc, cpu, wall = lab.bench_run(name, args, seconds * 3 + 60)
    tot = rep.get("totals", {})
    fails = tot.get("failures", {})
    failed = sum(v for v in fails.values() if isinstance(v, (int, float))) \
        if isinstance(fails, dict) else int(fails or 0)
    gen = rep.get("generator", {})
    return {"ok": int(tot.get("ok", 0)), "failed": int(failed),
            "wall_s": wall, "exit": rc, "cpu_s": cpu,
            "run_s": tot.get("duration_s"),
            "json_generator_cpu_s": gen.get("cpu_s"),
            "p99_us": rep.get("latency_us", {}).get("p99"),
            "failures": {k: v for k, v in fails.items() if v}
            if isinstance(fails, dict) else fails}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imsec")
    ap.add_argument("-n", type=int, default=2000, help="subscribers")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--conc", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--only", choices=("sipp", "imsec"))
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.n < 1 or a.seconds <= 0 or a.rate <= 0 or a.conc < 1 or \
            a.rounds < 1 or a.procs < 1:
        ap.error("counts, rate and seconds must be positive")

    sipp = genlib.find_tool("sipp", "SIPP")
    kam = kamrun.find_kamailio()
    if not sipp or not kam:
        print("SKIP: %s missing (scripts/packages.txt: sip-tester, kamailio)"
              % ("sipp" if not sipp else "kamailio"))
        return 77
    imsec = genlib.find_imsec(a.imsec)
    genlib.raise_nofile()
    gens = ("sipp", "imsec") if not a.only else (a.only,)

    with Lab(imsec, a.keep) as lab:
        creds = lab.provision(a.n, "digest")
        inf, domain = sipp_csv(lab, creds)
        pki = lab.path("pki")
        lab.run("pki", "init", "--dir", pki, "--trust-domain",
                genlib.TRUST_DOMAIN)
        lab.run("pki", "operator", "--dir", pki, "--mcc", "001", "--mnc",
                "001")
        lab.run("pki", "pcscf", "--dir", pki, "--mcc", "001", "--mnc", "001")
        try:
            k = kamrun.start(lab.path("kamailio"), creds,
                             os.path.join(pki, "pcscf.%s.chain.pem" % HOME),
                             os.path.join(pki, "pcscf.%s.key" % HOME),
                             binary=kam, timeout=60)
        except RuntimeError as e:
            die(str(e)[-2000:])
        try:
            kpids = k.pids()
            print("# generators: %d digest subscribers, Kamailio on "
                  "tcp:127.0.0.1:%d (%d processes), %g s per run, %d "
                  "rounds; load 'rate' = %g/s offered, 'saturation' = %d "
                  "in flight; bench --procs %d" %
                  (a.n, k.tcp_port, len(kpids), a.seconds,
                   a.rounds, a.rate, a.conc, a.procs), flush=True)
            print("%-5s %-10s %-6s %8s %6s %8s %8s %12s %12s" %
                  ("round", "load", "gen", "ok", "fail", "regs/s", "gen_cpu",
                   "regs/gen_cpu", "kam_us/reg"), flush=True)
            runs = []
            for r in range(a.rounds):
                for load in ("rate", "saturation"):
                    order = gens if r % 2 == 0 else tuple(reversed(gens))
                    for g in order:
                        name = "%s-%s-%d" % (g, load, r)
                        # A source address of its own per run: no run
                        # meets the previous runs' connections in
                        # TIME_WAIT (the kernel's search for a free port
                        # grows with them, in the generator's CPU).
                        source = "127.0.0.%d" % (10 + len(runs) % 240)
                        k0 = genlib.tree_cpu_s(kpids)
                        if g == "sipp":
                            res = sipp_run(lab, name, sipp, k.tcp_port, inf,
                                           domain, load, a.seconds, a.conc,
                                           a.rate, source)
                        else:
                            res = imsec_run(lab, name, k.tcp_port, creds,
                                            load, a.seconds, a.conc, a.rate,
                                            a.procs, source)
                        kcpu = genlib.tree_cpu_s(kpids) - k0
                        res.update(round=r, load=load, gen=g,
                                   target_cpu_s=kcpu, source=source)
                        res["regs_per_s"] = res["ok"] / res["wall_s"]
                        res["regs_per_cpu_s"] = res["ok"] / res["cpu_s"] \
                            if res["cpu_s"] > 0 else None
                        res["target_us_per_reg"] = kcpu * 1e6 / res["ok"] \
                            if res["ok"] else None
                        runs.append(res)
                        print("%-5d %-10s %-6s %8d %6d %8.0f %8.2f %12s %12s"
                              % (r, load, g, res["ok"], res["failed"],
                                 res["regs_per_s"], res["cpu_s"],
                                 "%.0f" % res["regs_per_cpu_s"]
                                 if res["regs_per_cpu_s"] else "-",
                                 "%.0f" % res["target_us_per_reg"]
                                 if res["target_us_per_reg"] else "-"),
                              flush=True)
                        if not k.alive():
                            die("kamailio died:\n" + k.log_text()[-2000:])
        finally:
            k.stop()

        summary = {}
        for load in ("rate", "saturation"):
            per = {}
            for g in gens:
                rs = [x for x in runs if x["load"] == load and x["gen"] == g]
                per[g] = {
                    "regs_per_cpu_s": median([x["regs_per_cpu_s"]
                                              for x in rs]),
                    "regs_per_s": median([x["regs_per_s"] for x in rs]),
                    "failed": sum(x["failed"] for x in rs)}
            ratios = []
            for r in range(a.rounds):
                x = {x["gen"]: x for x in runs if x["load"] == load and
                     x["round"] == r}
                if "sipp" in x and "imsec" in x and \
                        x["sipp"]["regs_per_cpu_s"] and \
                        x["imsec"]["regs_per_cpu_s"]:
                    ratios.append(x["imsec"]["regs_per_cpu_s"] /
                                  x["sipp"]["regs_per_cpu_s"])
            per["ratio_imsec_over_sipp"] = median(ratios)
            summary[load] = per
            line = "%s: " % load + ", ".join(
                "%s %.0f regs per generator CPU-second (%.0f/s)" %
                (g, per[g]["regs_per_cpu_s"] or 0, per[g]["regs_per_s"] or 0)
                for g in gens)
            if per["ratio_imsec_over_sipp"] is not None:
                q = per["ratio_imsec_over_sipp"]
                line += "; imsec / SIPp = %.2fx (median of rounds; target " \
                        ">= 1: %s)" % (q, "met" if q >= 1 else "NOT met")
            print(line)
        bad = [x for x in runs if x["failed"] or x["ok"] == 0]
        if bad:
            print("# runs with failures: " + ", ".join(
                "%s %s round %d: %d failed %s" % (
                    x["gen"], x["load"], x["round"], x["failed"],
                    x.get("failures") or "")
                for x in bad))
        genlib.write_json(a.json, {
            "options": {"subscribers": a.n, "seconds": a.seconds,
                        "rate": a.rate, "conc": a.conc, "rounds": a.rounds,
                        "procs": a.procs},
            "runs": runs, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
