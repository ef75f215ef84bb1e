"""Start the bench's Kamailio (kamailio.cfg next to this file) from a
folder of its own: the db_text tables made from an `imsec bench
provision` credentials file (digest scheme), the tls module's profile
with a certificate from `imsec pki`, then Kamailio in the foreground
(-DD -E) as the invoking user, loopback listeners only, its pid file in
the folder. Used by tests/bench/side_by_side.py, tests/interop/
bench_kamailio.py and the generator comparison (tests/bench/generators.py,
against its TCP listener).

    import kamrun
    k = kamrun.start(folder, creds, cert_chain, key, tls_port=0, tcp_port=0)
    k.pids()      # the main process and its workers (for --server-pid)
    k.stop()

Ports 0 pick free loopback ports (k.tls_port, k.tcp_port). Memory: `-m`
shm_mb of shared memory with the f_malloc manager (-x fm, Kamailio's
fast allocator; OpenSSL's many small allocations per handshake go
there), `-M` pkg_mb per process.
"""
import hashlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CFG = os.path.join(HERE, "kamailio.cfg")

# The table versions Kamailio 5.6's schema gives these tables (its
# db_text `version` table must name them).
SUBSCRIBER_VERSION = 7

TLS_CFG = """# Kamailio tls module profile for the bench (written by kamrun.py).
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = {cert}
private_key = {key}
"""


def find_kamailio():
    """The kamailio binary: $KAMAILIO, else kamailio on the PATH or in
    /usr/sbin (outside a user's PATH); None when missing."""
    if os.environ.get("KAMAILIO"):
        return shutil.which(os.environ["KAMAILIO"])
    path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin"
    return shutil.which("kamailio", path=path)


def tls_module_present():
    """Whether the tls module (kamailio-tls-modules) is installed next to
    the other modules of this kamailio."""
    for d in ("/usr/lib/x86_64-linux-gnu/kamailio/modules",
              "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules",
              "/usr/local/lib/kamailio/modules"):
        if os.path.exists(os.path.join(d, "tls.so")):
            return True
    return False


def read_creds(path):
    """(domain, [(impi, impu, password)]) of a digest bench credentials
    file (apps/bench/creds.h)."""
    with open(path) as f:
        head = f.readline().split()
        if len(head) < 3 or head[0] != "imsec-bench-creds":
            raise ValueError("%s: not a bench credentials file" % path)
        fields = dict(x.split("=", 1) for x in head[2:] if "=" in x)
        if fields.get("scheme") != "digest":
            raise ValueError("%s: scheme %s, Kamailio needs digest" %
                             (path, fields.get("scheme")))
        subs = []
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                subs.append((parts[0], parts[1], parts[2]))
        return fields.get("domain"), subs


def _dbt(value):
    """A db_text string field: ':' and '\\' escaped, no line breaks."""
    if "\n" in value or "\r" in value:
        raise ValueError("line break in a db_text value")
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _md5hex(text):
    return hashlib.md5(text.encode()).hexdigest()


def write_db(folder, creds):
    """db/subscriber (H(A1) only, RFC 7616 §3.4.2, realm = the home
    domain) and db/version.
    Returns (domain, number of subscribers)."""
    domain, subs = read_creds(creds)
    db = os.path.join(folder, "db")
    os.makedirs(db, exist_ok=True)
    rows = ["id(int,auto) username(string) domain(string) ha1(string) "
            "ha1b(string)"]
    for i, (impi, _impu, pw) in enumerate(subs, 1):
        user, _, dom = impi.partition("@")
        # auth_db: ha1 when the digest username is the user part alone,
        # ha1b (H(A1) over user@domain) when it is the whole IMPI, as an
        # imsec UE sends it (TS 24.229 §5.1.1.2.1).
        ha1 = _md5hex("%s:%s:%s" % (user, domain, pw))
        ha1b = _md5hex("%s:%s:%s" % (impi, domain, pw))
        rows.append("%d:%s:%s:%s:%s" % (i, _dbt(user), _dbt(dom or domain),
                                         ha1, ha1b))
    fd = os.open(os.path.join(db, "subscriber"),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(db, "version"), "w") as f:
        f.write("id(int,auto) table_name(string) table_version(int)\n"
                "1:version:1\n2:subscriber:%d\n" % SUBSCRIBER_VERSION)
    return domain, len(subs)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listening(port):
    """Whether 127.0.0.1:port is in LISTEN state, without connecting (a
    probe would show in Kamailio's log as a failed handshake)."""
    want = "0100007F:%04X" % port
    try:
        with open("/proc/net/tcp") as f:
            return any(line.split()[1] == want and line.split()[3] == "0A"
                       for line in f.readlines()[1:])
    except OSError:
        return False


def children(pid):
    """The pids whose parent is `pid`."""
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    st = f.read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(e))
    return out


def _raise_nofile():
    """In the child before exec: file descriptors up to the hard limit
    (one per TLS flow)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Kamailio:
    def __init__(self, popen, folder, log, tls_port, tcp_port, domain, n):
        self.p = popen
        self.folder = folder
        self.log = log
        self.tls_port = tls_port
        self.tcp_port = tcp_port
        self.domain = domain
        self.subscribers = n

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def pids(self):
        """The main process and its workers: all of Kamailio's CPU."""
        return [self.p.pid] + sorted(children(self.p.pid))

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=10.0):
        """SIGTERM to the main process (it ends its workers), wait for
        them all; SIGKILL what is left. The main process's exit code."""
        workers = children(self.p.pid) if self.alive() else []
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout)
        deadline = time.monotonic() + timeout
        while any(os.path.exists("/proc/%d" % w) for w in workers) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        for w in workers:
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
        return self.p.returncode


def start(folder, creds, cert, key, tls_port=0, tcp_port=0, workers=1,
          shm_mb=256, pkg_mb=16, log_level=0, binary=None, timeout=60.0,
          extra_defines=(), mem="fm"):
    """Write the folder (db/, tls.cfg, run/) and start Kamailio; returns a
    Kamailio once both listeners are up, raises RuntimeError (with its
    log) when it does not come up. `workers`: tcp_children; more than one
    is not stable over TLS with Debian 12's Kamailio 5.6.3 and OpenSSL 3
    (kamailio.cfg says why). `creds`: a digest bench credentials
    file; `cert`: a PEM chain for pcscf.DOMAIN, `key` its key."""
    binary = binary or find_kamailio()
    if not binary:
        raise RuntimeError("kamailio not installed")
    folder = os.path.abspath(folder)
    run = os.path.join(folder, "run")
    os.makedirs(run, exist_ok=True)
    domain, n = write_db(folder, creds)
    tls_cfg = os.path.join(folder, "tls.cfg")
    with open(tls_cfg, "w") as f:
        f.write(TLS_CFG.format(cert=os.path.abspath(cert),
                               key=os.path.abspath(key)))
    tls_port = tls_port or free_port()
    tcp_port = tcp_port or free_port()
    defines = ["TLS_PORT=%d" % tls_port, "TCP_PORT=%d" % tcp_port,
               'DB_URL="text://%s"' % os.path.join(folder, "db"),
               'TLS_CFG="%s"' % tls_cfg, 'REALM="%s"' % domain,
               "WORKERS=%d" % workers, "LOG_LEVEL=%d" % log_level]
    defines += list(extra_defines)
    args = [binary, "-f", CFG, "-DD", "-E", "-m", str(shm_mb), "-M",
            str(pkg_mb), "-x", mem, "-Y", run, "-P", os.path.join(run, "kamailio.pid")]
    for d in defines:
        args += ["-A", d]
    log = os.path.join(folder, "kamailio.log")
    with open(log, "w") as lf:
        p = subprocess.Popen(args, cwd=folder, stdin=subprocess.DEVNULL,
                             stdout=lf, stderr=subprocess.STDOUT,
                             preexec_fn=_raise_nofile)
    k = Kamailio(p, folder, log, tls_port, tcp_port, domain, n)
    deadline = time.monotonic() + timeout
    while not (listening(tls_port) and listening(tcp_port)):
        if not k.alive() or time.monotonic() > deadline:
            k.stop()
            raise RuntimeError("kamailio did not start:\n" + k.log_text())
        time.sleep(0.05)
    # The listeners are bound before the workers are forked: wait for
    # the workers (tcp_children, the timers, the tcp main process), then
    # until their number holds still.
    last, stable = -1, time.monotonic()
    while True:
        n_children = len(children(k.pid))
        if n_children != last:
            last, stable = n_children, time.monotonic()
        if n_children > workers and time.monotonic() - stable > 0.3:
            break
        if not k.alive() or time.monotonic() > deadline:
            k.stop()
            raise RuntimeError("kamailio workers did not start:\n" +
                               k.log_text())
        time.sleep(0.05)
    return k
