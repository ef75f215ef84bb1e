"""`imsec bench` against the real daemons on loopback, a short bounded run:
`imsec bench provision` writes 200 SIP Digest and 200 AKA subscribers into
one HSS database, `imsec scscf` and `imsec pcscf` run on it (limits raised
for a load test), and

- `imsec bench run` registers every UE of each credentials file over
  new TLS connections from two generator processes: every registration
  succeeds, and the JSON report is well formed with the keys scripts
  read (options, totals, latency_us, series, server with both daemons'
  pids, generator);
- re-REGISTERs on open connections, with --csv and --plot: every one
  succeeds, the CSV and the SVG are written;
- `imsec bench hold` keeps 50 UEs registered for a few seconds: all 50 held,
  the hold section gives each daemon's memory before and while holding.

It asserts outcomes and the report's shape, never a speed.
"""
import json
import os
import subprocess

from attacklib import HOME, Lab, start_pcscf_plain_core

PCSCF = "pcscf." + HOME
BIG = "1000000"


def bench(lab, verb, *args, timeout=60):
    """`imsec bench VERB ARGS` to completion: the CompletedProcess, None
    when it had to be killed."""
    try:
        return subprocess.run([lab.imsec, "bench", verb] + list(args),
                              cwd=lab.dir, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def show(cp):
    if cp is None:
        return "killed after its time"
    return "exit %d: %s" % (cp.returncode, " | ".join(
        (cp.stdout.strip().splitlines() + cp.stderr.strip().splitlines())[-6:]))


def why(lab):
    """The daemons' warnings and errors, for a run that failed."""
    for p in lab.procs:
        for line in p.log_text().splitlines():
            if " warn:" in line or " error:" in line or " 50" in line:
                print("  | %s" % line)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"error": str(e)}


def shape(d, pids, procs):
    """What is wrong with a run's report (a list of complaints)."""
    bad = []
    for key in ("options", "totals", "latency_us", "statuses", "series",
                "server", "generator"):
        if key not in d:
            bad.append("no %s" % key)
    t = d.get("totals", {})
    for key in ("attempts", "ok", "failures", "rate", "duration_s"):
        if key not in t:
            bad.append("no totals.%s" % key)
    lat = d.get("latency_us", {})
    order = [lat.get(k) for k in ("min", "p50", "p90", "p99", "p999", "max")]
    if None in order or order != sorted(order) or "mean" not in lat:
        bad.append("latency_us %s" % lat)
    series = d.get("series", [])
    if sum(s.get("attempts", 0) for s in series) != t.get("attempts"):
        bad.append("the series does not add up to the attempts")
    srv = d.get("server", [])
    if sorted(s.get("pid") for s in srv) != sorted(pids):
        bad.append("server pids %s" % [s.get("pid") for s in srv])
    for s in srv:
        for key in ("cpu_s", "cpu_us_per_op", "rss_kib_start", "rss_kib_end",
                    "rss_kib_max"):
            if not isinstance(s.get(key), (int, float)):
                bad.append("server %s %s=%s" % (s.get("pid"), key,
                                                 s.get(key)))
    g = d.get("generator", {})
    if g.get("procs") != procs or not isinstance(g.get("cpu_s"), float):
        bad.append("generator %s" % g)
    return bad


with Lab() as lab:
    pki = lab.pki(operators=("001",))
    db = lab.path("hss.db")
    lab.run("bench", "provision", "--db", db, "--out", lab.path("d.creds"),
            "-n", "200", "--scheme", "digest")
    lab.run("bench", "provision", "--db", db, "--out", lab.path("a.creds"),
            "-n", "200", "--first-imsi", "001010000100001")

    # The daemons, their flood limits far above a load test's.
    sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                   "--db", db, "--insecure-core", "--peer-addr", "127.0.0.1",
                   "--impi-challenges", BIG, "--source-challenges", BIG,
                   "--impi-failures", BIG, "--source-failures", BIG,
                   # A loaded test machine's SQLite commits may take longer
                   # than the default quarter second.
                   "--store-timeout", "10000",
                   ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    pc = start_pcscf_plain_core(lab, pki, sc.port, "--max-flows-per-ip",
                                "100000")
    pids = [pc.p.pid, sc.p.pid]
    common = ["--target", "127.0.0.1:%d" % pc.port, "--ca",
              os.path.join(pki, "root.crt"), "--server-name", PCSCF,
              "--server-pid", "%d,%d" % tuple(pids), "--no-status",
              "--timeout", "5000"]

    # ------------------------------------------- 400 new-TLS registrations
    for scheme in ("digest", "aka"):
        out = lab.path("%s.json" % scheme)
        cp = bench(lab, "run", "--creds", lab.path("%s.creds" % scheme[0]),
                   "-n", "200", "-c", "20", "--procs", "2", "--json", out,
                   *common)
        lab.check(cp is not None and cp.returncode == 0,
                  "%s: bench run -n 200 --procs 2 exits 0 (%s)" %
                  (scheme, show(cp)))
        d = load(out)
        t = d.get("totals", {})
        if not lab.check(t.get("attempts") == 200 and t.get("ok") == 200 and
                         not any(t.get("failures", {"?": 1}).values()),
                         "  every registration succeeded (%s)" % t):
            why(lab)
        bad = shape(d, pids, 2)
        lab.check(not bad, "  the JSON report is well formed (%s)" %
                  "; ".join(bad))
        o = d.get("options", {})
        lab.check(o.get("scheme") == scheme and o.get("register") == "new"
                  and o.get("mode") == "m1",
                  "  it echoes the options (%s)" % o)
        lab.check(cp is not None and "successes  200 (100.00%)" in cp.stdout,
                  "  the table on stdout says 200 successes")

    # ------------------------------------ re-REGISTER on open connections
    csv, svg = lab.path("open.csv"), lab.path("open.svg")
    out = lab.path("open.json")
    cp = bench(lab, "run", "--creds", lab.path("a.creds"), "--register",
               "open", "-n", "100", "-c", "20", "--json", out, "--csv", csv,
               "--plot", svg, "-q", *common)
    lab.check(cp is not None and cp.returncode == 0 and cp.stdout == "",
              "open: bench run -q exits 0, no table (%s)" % show(cp))
    t = load(out).get("totals", {})
    lab.check(t.get("attempts") == 100 and t.get("ok") == 100,
              "  every re-REGISTER succeeded (%s)" % t)
    head = open(csv).readline() if os.path.exists(csv) else ""
    lab.check(head.startswith("second,attempts,successes"),
              "  the CSV series is written (%r)" % head)
    pic = open(svg).read() if os.path.exists(svg) else ""
    lab.check(pic.startswith("<?xml") and "</svg>" in pic,
              "  the SVG plot is written")

    # ----------------------------------------------------- hold 50 UEs
    out = lab.path("hold.json")
    # -t counts from the start: time enough to register them all on a
    # loaded machine, then hold.
    cp = bench(lab, "hold", "--creds", lab.path("d.creds"), "-n", "50", "-t",
               "5", "-c", "25", "--procs", "2", "--json", out, *common)
    lab.check(cp is not None and cp.returncode == 0,
              "hold -n 50: exits 0 (%s)" % show(cp))
    d = load(out)
    h = d.get("hold", {})
    lab.check(h.get("ues") == 50 and h.get("registered") == 50,
              "  all 50 UEs held at once (%s)" % h)
    hs = h.get("servers", [])
    lab.check(sorted(s.get("pid") for s in hs) == sorted(pids) and all(
        isinstance(s.get(k), (int, float)) for s in hs
        for k in ("rss_kib_idle_before", "rss_kib_after", "kib_per_ue")),
              "  each daemon's memory before and while holding (%s)" % hs)
    lab.check(d.get("totals", {}).get("failed") == 0,
              "  no registration failed (%s)" % d.get("totals"))
    lab.check(pc.alive() and sc.alive(), "both daemons still run")
