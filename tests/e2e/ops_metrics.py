"""/metrics of real daemons: a P-CSCF and an S-CSCF started with
--metrics tcp:127.0.0.1:0 (the port they picked read from the line they
print), a UE registered through them with `imsec ue register`, then both
scraped with curl:

- 200, Content-Type text/plain; version=0.0.4;
- `promtool check metrics` (Debian's prometheus) exits 0 and reports
  nothing, lint included;
- the process's figures (CPU, RSS, virtual memory, open and max fds,
  start time) and imsec_build_info with sane values;
- what the registration did: TLS handshakes, flows, SIP requests and
  responses by method and class, REGISTER outcomes, challenges,
  registrations and bindings active, HSS requests and their latency;
- another path 404, another method 405 with Allow."""
import os
import re
import shutil
import subprocess
import time

from attacklib import HOME, Lab, Proc, start_bg, ue_profile, wait_text

PCSCF = "pcscf." + HOME


def start(lab, name, *args):
    """`imsec ARGS --metrics tcp:127.0.0.1:0`, stdout to NAME.out and
    stderr to NAME.log; waits for "listening" in the log and the metrics
    line on stdout. .ports from the log, .metrics the scrape URL."""
    log, out = lab.path(name + ".log"), lab.path(name + ".out")
    with open(log, "w") as lf, open(out, "w") as of:
        p = subprocess.Popen([lab.imsec] + list(args) +
                             ["--metrics", "tcp:127.0.0.1:0"], cwd=lab.dir,
                             stdin=subprocess.DEVNULL, stdout=of, stderr=lf)
    proc = Proc(name, p, log)
    lab.procs.append(proc)
    m = proc.wait_log(r"listening on \w+:127\.0\.0\.1:(\d+)", 10)
    if not m:
        raise RuntimeError("%s did not start:\n%s" % (name, proc.log_text()))
    proc.port = int(m.group(1))
    m = wait_text(out, r"^(?:imsec )?%s: metrics on (http://127\.0\.0\.1:(\d+)/metrics)$"
                  % args[0], 5)
    if not m:
        raise RuntimeError("%s printed no metrics line:\n%s" %
                           (name, proc.log_text()))
    proc.metrics = m.group(1)
    proc.metrics_port = int(m.group(2))
    return proc


def curl(*args):
    """curl's status code, headers and body (text)."""
    cp = subprocess.run(["curl", "-sS", "--max-time", "5", "-D", "-"] +
                        list(args), capture_output=True, text=True,
                        timeout=10)
    if cp.returncode != 0:
        return 0, "", cp.stderr
    # text mode reads CRLF as LF: the blank line ends the header
    head, _, body = cp.stdout.partition("\n\n")
    m = re.match(r"HTTP/[\d.]+ (\d+)", head)
    return (int(m.group(1)) if m else 0), head, body


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {label: value}, float)] of a text-format page."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def total(samples, name, **want):
    """The sum of the samples of `name` whose labels include `want`; None
    when the family has none."""
    vals = [v for n, l, v in samples if n == name and
            all(l.get(k) == w for k, w in want.items())]
    return sum(vals) if vals else None


def promtool(lab, name, body):
    path = lab.path(name + ".prom")
    with open(path, "w") as f:
        f.write(body)
    with open(path) as f:
        cp = subprocess.run(["promtool", "check", "metrics"], stdin=f,
                            capture_output=True, text=True, timeout=30)
    return cp.returncode, (cp.stdout + cp.stderr).strip()


def scrape(lab, proc):
    code, head, body = curl(proc.metrics)
    lab.check(code == 200, "%s: GET /metrics 200 (%d)" % (proc.name, code))
    lab.check(re.search(r"(?im)^content-type: text/plain; version=0\.0\.4",
                        head) is not None,
              "%s:   Content-Type text/plain; version=0.0.4" % proc.name)
    rc, out = promtool(lab, proc.name, body)
    lab.check(rc == 0 and out == "",
              "%s:   promtool check metrics: exit %d, %s" %
              (proc.name, rc, out or "no problems"))
    return parse(body)


def process_sane(lab, proc, s):
    now = time.time()
    cpu = total(s, "process_cpu_seconds_total")
    rss = total(s, "process_resident_memory_bytes")
    vsz = total(s, "process_virtual_memory_bytes")
    fds = total(s, "process_open_fds")
    maxfds = total(s, "process_max_fds")
    start_t = total(s, "process_start_time_seconds")
    lab.check(cpu is not None and 0 <= cpu < 600,
              "%s: process_cpu_seconds_total %s" % (proc.name, cpu))
    lab.check(rss is not None and 1e6 < rss < 4e9,
              "%s: process_resident_memory_bytes %s" % (proc.name, rss))
    lab.check(vsz is not None and rss is not None and vsz >= rss,
              "%s: process_virtual_memory_bytes %s >= RSS" % (proc.name, vsz))
    real = len(os.listdir("/proc/%d/fd" % proc.p.pid))
    lab.check(fds is not None and 3 <= fds and abs(fds - real) <= 4,
              "%s: process_open_fds %s (ls /proc/PID/fd: %d)" %
              (proc.name, fds, real))
    lab.check(maxfds is not None and fds is not None and maxfds >= fds,
              "%s: process_max_fds %s" % (proc.name, maxfds))
    lab.check(start_t is not None and now - 120 < start_t <= now + 2,
              "%s: process_start_time_seconds %s (now %.0f)" %
              (proc.name, start_t, now))
    info = [l for n, l, v in s if n == "imsec_build_info" and v == 1]
    lab.check(len(info) == 1 and re.match(r"^\d+\.\d+", info[0].get(
        "version", "")),
        "%s: imsec_build_info{version=%s} 1" %
        (proc.name, info[0].get("version") if info else None))


def ge(lab, s, what, name, least, **want):
    v = total(s, name, **want)
    lab.check(v is not None and v >= least, "%s: %s%s >= %s (%s)" % (
        what, name, "{%s}" % ",".join('%s="%s"' % kv for kv in want.items())
        if want else "", least, v))


with Lab() as lab:
    if not shutil.which("promtool") or not shutil.which("curl"):
        lab.check(False, "promtool and curl are installed")
    d = lab.pki(operators=("001",))
    lab.hss_add(1)
    prof = ue_profile(lab, d, 1)
    sc = start(lab, "scscf", "scscf", "--listen", "tcp:127.0.0.1:0",
               "--domain", HOME, "--db", lab.path("hss.db"),
               "--insecure-core", "--peer-addr", "127.0.0.1")
    pc = start(lab, "pcscf", "pcscf", "--listen", "tls:127.0.0.1:0",
               "--cert", "%s/pcscf.%s.chain.pem" % (d, HOME),
               "--key", "%s/pcscf.%s.key" % (d, HOME),
               "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc.port),
               "--core", "tcp:127.0.0.1:0", "--insecure-core",
               "--peer-addr", "127.0.0.1")
    lab.check(sc.metrics_port != 0 and pc.metrics_port != 0 and
              sc.metrics_port != pc.metrics_port,
              "port 0 asked: each daemon printed the port it took (%d, %d)"
              % (sc.metrics_port, pc.metrics_port))

    # `ue run` stays registered (`ue register` de-registers as it ends), so
    # the gauges have something to show.
    ue = start_bg(lab, "ue", "ue", "run", "-c", prof, "--pcscf",
                  "127.0.0.1:%d" % pc.port, "--pcscf-name", PCSCF)
    lab.check(wait_text(ue.out, r"^registered: ", 10) is not None,
              "a UE registers through the P-CSCF and the S-CSCF (ue run)")

    p = scrape(lab, pc)
    process_sane(lab, pc, p)
    ge(lab, p, "pcscf", "imsec_tls_handshakes_total", 1, transport="tls",
       result="ok")
    ge(lab, p, "pcscf", "imsec_tls_handshake_duration_seconds_count", 1,
       transport="tls")
    ge(lab, p, "pcscf", "imsec_flows_accepted_total", 1, transport="tls")
    lab.check(total(p, "imsec_flows_open") is not None,
              "pcscf: imsec_flows_open present")
    ge(lab, p, "pcscf", "imsec_sip_requests_total", 2, direction="in",
       method="REGISTER")
    ge(lab, p, "pcscf", "imsec_sip_responses_total", 1, method="REGISTER",
       **{"class": "2xx"})
    ge(lab, p, "pcscf", "imsec_sip_responses_total", 1, method="REGISTER",
       **{"class": "4xx"})
    ge(lab, p, "pcscf", "imsec_registrations_active", 1)

    s = scrape(lab, sc)
    process_sane(lab, sc, s)
    ge(lab, s, "scscf", "imsec_register_outcomes_total", 1,
       outcome="challenged")
    ge(lab, s, "scscf", "imsec_register_outcomes_total", 1,
       outcome="registered")
    ge(lab, s, "scscf", "imsec_auth_challenges_total", 1, scheme="aka")
    ge(lab, s, "scscf", "imsec_registrations_active", 1)
    ge(lab, s, "scscf", "imsec_bindings_active", 1)
    ge(lab, s, "scscf", "imsec_sip_requests_total", 2, direction="in",
       method="REGISTER")
    ge(lab, s, "scscf", "imsec_store_requests_total", 1, store="hss",
       result="ok")
    ge(lab, s, "scscf", "imsec_store_request_duration_seconds_count", 1,
       store="hss")
    # Each HSS series (one per op): buckets cumulative, +Inf = _count.
    series = {}
    for n, l, v in s:
        if n == "imsec_store_request_duration_seconds_bucket" and \
                l.get("store") == "hss":
            key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
            series.setdefault(key, []).append((float(l["le"]), v))
    good = bool(series)
    for key, b in series.items():
        b.sort()
        count = total(s, "imsec_store_request_duration_seconds_count",
                      **dict(key))
        good = good and len(b) == 15 and b[-1][0] == float("inf") and \
            all(x[1] <= y[1] for x, y in zip(b, b[1:])) and b[-1][1] == count
    lab.check(good, "scscf:   HSS latency: %d series of 15 buckets, "
              "cumulative, +Inf = _count" % len(series))

    code, _, _ = curl("http://127.0.0.1:%d/" % pc.metrics_port)
    lab.check(code == 404, "GET / 404 (%d)" % code)
    code, _, _ = curl("http://127.0.0.1:%d/metricsx" % pc.metrics_port)
    lab.check(code == 404, "GET /metricsx 404 (%d)" % code)
    code, head, _ = curl("-X", "POST", "--data", "x", pc.metrics)
    lab.check(code == 405 and re.search(r"(?im)^allow: GET", head),
              "POST /metrics 405 with Allow (%d)" % code)
    code, _, _ = curl("-X", "DELETE", sc.metrics)
    lab.check(code == 405, "DELETE /metrics 405 (%d)" % code)
