"""What tests/bench/generators.py and tests/bench/security_cost.py share:
a private temporary folder, `imsec bench provision`, daemons started on
loopback and stopped by their pid, CPU time read from /proc, and
`imsec bench run` with its JSON report.

CPU figures: a process's user + system time from /proc/PID/stat (fields
14 and 15, in clock ticks), read before and after a measured phase; a
generator run to completion is measured by os.wait4, whose rusage holds
the child's time and that of every descendant it waited for (the
`imsec bench run --procs` workers included).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HOME = "ims.mnc001.mcc001.3gppnetwork.org"
TRUST_DOMAIN = "3gppnetwork.org"
TICK = os.sysconf("SC_CLK_TCK")


def die(msg):
    sys.stderr.write("%s: %s\n" % (os.path.basename(sys.argv[0]), msg))
    sys.exit(1)


def find_imsec(given=None):
    """The imsec binary: --imsec, $IMSEC, else build/imsec of this tree."""
    for p in (given, os.environ.get("IMSEC"),
              os.path.join(ROOT, "build", "imsec")):
        if p and os.access(p, os.X_OK):
            return os.path.abspath(p)
    die("no imsec binary (build it, or give --imsec or $IMSEC)")


def find_tool(name, env=None):
    """A program on the PATH or in /usr/sbin ($ENV overrides), or None."""
    if env and os.environ.get(env):
        return shutil.which(os.environ[env])
    path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin"
    return shutil.which(name, path=path)


def cpu_s(pid):
    """User + system CPU seconds of `pid` so far (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return 0.0
    fields = st.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid):
    """The pids whose parent is `pid`."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(e))
    return out


def tree_cpu_s(pids):
    """The CPU seconds of all `pids` together."""
    return sum(cpu_s(p) for p in pids)


def listening(port):
    """Whether 127.0.0.1:port is in LISTEN state (no probe connection)."""
    want = "0100007F:%04X" % port
    try:
        with open("/proc/net/tcp") as f:
            return any(l.split()[1] == want and l.split()[3] == "0A"
                       for l in f.readlines()[1:])
    except OSError:
        return False


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit, for us and our children
    (new connections per registration: many sockets in TIME_WAIT and in
    flight)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Proc:
    """A background process with its log file; stopped by its pid."""

    def __init__(self, name, args, log, cwd, env=None):
        self.name = name
        self.log = log
        with open(log, "w") as lf:
            self.p = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=lf, stderr=subprocess.STDOUT,
                                      env=env)
        self.pid = self.p.pid
        self.port = None
        self.ports = []

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, regex, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(regex, self.text(), re.M)
            if m or time.monotonic() > deadline or self.p.poll() is not None:
                return m or re.search(regex, self.text(), re.M)
            time.sleep(0.05)

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=5.0):
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(timeout)
        return self.p.returncode


class Lab:
    """A private temporary folder (0700) and the processes started in it,
    all stopped on exit; the folder is removed unless --keep."""

    def __init__(self, imsec, keep=False):
        self.imsec = imsec
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="imsec-bench-")
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        for p in reversed(self.procs):
            p.stop()
        if et is not None and et is not SystemExit:
            for p in self.procs:
                sys.stderr.write("---- %s (%s)\n" % (p.name, p.log))
                sys.stderr.write("".join("  | " + l + "\n" for l in
                                         p.text().splitlines()[-20:]))
        if self.keep:
            sys.stderr.write("kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def run(self, *args, timeout=600):
        """`imsec ARGS` to completion; its stdout. Any failure ends the
        script with imsec's stderr."""
        cp = subprocess.run([self.imsec] + list(args), cwd=self.dir,
                            capture_output=True, text=True, timeout=timeout)
        if cp.returncode != 0:
            die("imsec %s: exit %d: %s" % (" ".join(args[:3]), cp.returncode,
                                           cp.stderr.strip()))
        return cp.stdout

    def start(self, name, args, ready=None, timeout=15.0):
        """Start ARGS (a list; an imsec subcommand when args[0] is not a
        path) with its output in NAME.log; with `ready` (a regex) wait for
        it, its digit groups becoming .ports."""
        if not os.path.isabs(args[0]):
            args = [self.imsec] + list(args)
        p = Proc(name, args, self.path(name + ".log"), self.dir)
        self.procs.append(p)
        if ready:
            m = p.wait_log(ready, timeout)
            if not m:
                die("%s did not start:\n%s" % (name, p.text()[-2000:]))
            p.ports = [int(g) for g in m.groups() if g and g.isdigit()]
            p.port = p.ports[0] if p.ports else None
        return p

    def provision(self, n, scheme):
        """`imsec bench provision`: n subscribers of `scheme` into
        hss.db, their credentials into creds (0600). The path of creds."""
        creds = self.path("creds")
        self.run("bench", "provision", "--db", self.path("hss.db"), "--out",
                 creds, "-n", str(n), "--scheme", scheme, "--domain", HOME)
        return creds

    def bench_run(self, name, args, timeout):
        """`imsec bench run ARGS --json F -q --no-status` to completion:
        (report dict, exit code, the CPU seconds of the whole generator
        (the runner and its workers, by wait4), wall seconds)."""
        out = self.path(name + ".json")
        log = self.path(name + ".log")
        argv = [self.imsec, "bench", "run"] + list(args) + [
            "--json", out, "-q", "--no-status"]
        t0 = time.monotonic()
        with open(log, "w") as lf:
            p = subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                 stdout=lf, stderr=subprocess.STDOUT)
        rc, ru = wait_bounded(p, timeout)
        wall = time.monotonic() - t0
        try:
            with open(out) as f:
                rep = json.load(f)
        except (OSError, ValueError) as e:
            with open(log, errors="replace") as f:
                die("imsec bench run %s: exit %s, no JSON report (%s):\n%s" %
                    (" ".join(args), rc, e, f.read()[-2000:]))
        return rep, rc, ru.ru_utime + ru.ru_stime, wall


def wait_bounded(p, timeout):
    """Wait for Popen `p` (killed by its pid after `timeout` s): (exit
    code, rusage of it and its waited-for descendants)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return p.returncode, ru
        if time.monotonic() > deadline:
            os.kill(p.pid, signal.SIGKILL)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            return p.returncode, ru
        time.sleep(0.02)


def read_creds(path):
    """The bench credentials file: (scheme, domain, [(IMPI, IMPU, rest)])."""
    with open(path) as f:
        head = f.readline().split()
        if len(head) < 4 or head[0] != "imsec-bench-creds":
            die("%s: not a bench credentials file" % path)
        kv = dict(x.split("=", 1) for x in head[2:] if "=" in x)
        ues = []
        for line in f:
            t = line.split()
            if len(t) >= 3:
                ues.append((t[0], t[1], t[2:]))
    return kv.get("scheme"), kv.get("domain"), ues


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def write_json(path, obj):
    if path:
        with open(path, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
