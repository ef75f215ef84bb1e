"""Private redis-server and PostgreSQL instances for tests: each one in its
own temporary folder, listening on 127.0.0.1 on a free port (and, for
PostgreSQL, a unix socket in that folder), never a system service.

Every wait is bounded; every server is stopped by its own pid (the context
manager, stop(), or at interpreter exit for one a test forgot), and its
folder removed unless KEEP_SERVERS is set in the environment.

    from servers import Redis, Postgres

    with Redis() as r:
        r.url                      # "redis://127.0.0.1:PORT/0"
        r.command("DBSIZE")        # 0  (RESP over a socket, no client lib)
        r.keys("reg:*")            # [b"reg:...", ...]

    with Postgres() as pg:
        pg.url                     # "postgresql://postgres@127.0.0.1:PORT/imsec"
        pg.psql("SELECT 1")        # "1\n"  (psql -At, raises on error)

Both raise Unavailable when the server's programs are not installed (a
test may turn that into a skip, exit 77), and RuntimeError when a server
does not come up in time (its log is in the message).

PostgreSQL refuses to run as root: when the test runs as root, initdb and
postgres run as the `postgres` user (the folder is handed to it); when the
test runs as any other user, they run as that user.
"""
import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = ["Unavailable", "Redis", "Postgres", "free_port"]


class Unavailable(RuntimeError):
    """The server's programs are not on this machine."""


def free_port():
    """A TCP port on 127.0.0.1 free right now. Another process may take it
    before the server binds it: the starters retry with a new port when
    the server exits early."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


_live = []


def _stop_all():
    for srv in list(_live):
        srv.stop()


atexit.register(_stop_all)


def _tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class _Server:
    """What both servers share: the folder, the process, stop()."""

    def __init__(self, prefix):
        # Short prefix under /tmp: a unix socket path must stay under ~100
        # bytes.
        self.dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self.proc = None
        self.port = None
        self.log = os.path.join(self.dir, "server.log")

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.stop()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.proc else None

    def log_text(self):
        return _tail(self.log, 10**6)

    def _signal_wait(self, sig, timeout):
        if not self.alive():
            return True
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:
            return True
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _shutdown(self):
        """Stop the process: the server's own polite signal first."""
        if not self._signal_wait(signal.SIGTERM, 10):
            self._signal_wait(signal.SIGKILL, 5)

    def stop(self):
        """Stop the server (by its pid) and remove its folder. Idempotent."""
        if self.proc is not None:
            self._shutdown()
            self.proc = None
        if self in _live:
            _live.remove(self)
        if self.dir and os.path.isdir(self.dir):
            if os.environ.get("KEEP_SERVERS"):
                print("kept", self.dir, flush=True)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def _start_retrying(self, launch, ready, timeout):
        """launch(port) -> Popen; ready() -> bool. A new port when the
        process exits before it is ready (the port was taken meanwhile),
        three tries in all, `timeout` seconds each."""
        last = ""
        for _ in range(3):
            self.port = free_port()
            self.proc = launch(self.port)
            _live.append(self)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if ready():
                        return
                except OSError:
                    pass
                time.sleep(0.05)
            last = self.log_text()[-3000:]
            exited = self.proc.poll() is not None
            self._shutdown()
            self.proc = None
            _live.remove(self)
            if not exited:
                break  # up but never ready: a new port will not help
        d = self.dir
        self.stop()
        raise RuntimeError("%s did not start (3 tries, %ss each; folder %s); "
                           "its log:\n%s" % (type(self).__name__, timeout, d,
                                             last))


# --------------------------------------------------------------------- Redis

def _resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _RespReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError("redis: unexpected reply %r" % line[:40])


class RedisError(RuntimeError):
    """An error reply (-ERR ...) from redis."""


class Redis(_Server):
    """A redis-server on 127.0.0.1:PORT, nothing saved to disk."""

    def __init__(self, timeout=10.0, extra=()):
        exe = shutil.which("redis-server")
        if not exe:
            raise Unavailable("redis-server is not installed")
        super().__init__("imsec-redis-")

        def launch(port):
            args = [exe, "--port", str(port), "--bind", "127.0.0.1",
                    "--dir", self.dir, "--save", "", "--appendonly", "no",
                    "--protected-mode", "yes", "--daemonize", "no",
                    "--logfile", ""] + list(extra)
            with open(self.log, "a") as lf:
                return subprocess.Popen(args, cwd=self.dir,
                                        stdin=subprocess.DEVNULL, stdout=lf,
                                        stderr=subprocess.STDOUT)

        self._start_retrying(launch, lambda: self.command("PING") == "PONG",
                             timeout)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def url_db(self, db):
        return "redis://127.0.0.1:%d/%d" % (self.port, db)

    def command(self, *args, db=0, timeout=5.0):
        """One command on a fresh connection; the decoded reply (str for
        status, int, bytes for bulk, list, None). RedisError on -ERR."""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout) as s:
            r = _RespReader(s)
            if db:
                s.sendall(_resp_encode(["SELECT", db]))
                r.read()
            s.sendall(_resp_encode(list(args)))
            return r.read()

    def keys(self, pattern="*", db=0):
        """Every key matching `pattern` (SCAN, so a big set does not block
        the server), sorted."""
        out, cursor = set(), b"0"
        while True:
            cursor, batch = self.command("SCAN", cursor, "MATCH", pattern,
                                         "COUNT", 1000, db=db)
            out.update(batch)
            if cursor in (b"0", 0):
                return sorted(out)

    def flush(self):
        self.command("FLUSHALL")

    def _shutdown(self):
        # SIGTERM: redis exits at once (nothing to save here).
        if not self._signal_wait(signal.SIGTERM, 10):
            self._signal_wait(signal.SIGKILL, 5)


# ---------------------------------------------------------------- PostgreSQL

def _pg_bindir():
    """The folder holding initdb and postgres: the newest Debian cluster
    version, else whatever is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in
                                  p.split("/")[4].split(".")])
    if found:
        return os.path.dirname(found[-1])
    exe = shutil.which("postgres")
    if exe:
        return os.path.dirname(os.path.realpath(exe))
    raise Unavailable("postgres is not installed")


class Postgres(_Server):
    """A private PostgreSQL: initdb in a temporary folder, trust auth for
    the superuser `postgres` on 127.0.0.1 and a unix socket in the folder,
    fsync off (a test's data is thrown away), one database `dbname`."""

    def __init__(self, dbname="imsec", timeout=30.0, settings=None):
        self.bindir = _pg_bindir()
        for prog in ("initdb", "postgres", "psql"):
            if not os.access(os.path.join(self.bindir, prog), os.X_OK):
                raise Unavailable("%s is not installed" % prog)
        super().__init__("imsec-pg-")
        self.dbname = dbname
        self.data = os.path.join(self.dir, "data")
        self.sockdir = self.dir
        self._as = {}
        if os.geteuid() == 0:
            # postgres will not run as root: the folder goes to `postgres`.
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                self.stop()
                raise Unavailable("running as root and no user postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as = {"user": pw.pw_uid, "group": pw.pw_gid,
                        "extra_groups": []}
        with open(self.log, "w"):
            pass
        if self._as:
            os.chown(self.log, self._as["user"], self._as["group"])
        init = subprocess.run(
            [os.path.join(self.bindir, "initdb"), "-D", self.data,
             "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            cwd=self.dir, capture_output=True, text=True, timeout=120,
            stdin=subprocess.DEVNULL, **self._as)
        if init.returncode != 0:
            d = self.dir
            self.stop()
            raise RuntimeError("initdb failed (folder %s): %s%s" %
                               (d, init.stdout[-2000:], init.stderr[-2000:]))
        # -c takes the bare value (no quotes as in postgresql.conf).
        conf = {"listen_addresses": "127.0.0.1",
                "unix_socket_directories": self.sockdir,
                "fsync": "off", "synchronous_commit": "off",
                "full_page_writes": "off", "shared_buffers": "16MB",
                "max_connections": "60", "logging_collector": "off",
                "log_min_messages": "warning"}
        conf.update(settings or {})

        def launch(port):
            args = [os.path.join(self.bindir, "postgres"), "-D", self.data,
                    "-p", str(port)]
            for k, v in conf.items():
                args += ["-c", "%s=%s" % (k, v)]
            with open(self.log, "a") as lf:
                return subprocess.Popen(args, cwd=self.dir,
                                        stdin=subprocess.DEVNULL, stdout=lf,
                                        stderr=subprocess.STDOUT,
                                        start_new_session=True, **self._as)

        def ready():
            cp = subprocess.run(
                [os.path.join(self.bindir, "psql"), "-h", "127.0.0.1",
                 "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                 "-At", "-c", "SELECT 1"],
                capture_output=True, text=True, timeout=10,
                stdin=subprocess.DEVNULL)
            return cp.returncode == 0

        self._start_retrying(launch, ready, timeout)
        if dbname != "postgres":
            self.psql('CREATE DATABASE "%s"' % dbname, db="postgres")

    @property
    def url(self):
        return self.url_db(self.dbname)

    def url_db(self, db):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    @property
    def socket_url(self):
        """The same database over the unix socket in the folder."""
        return "postgresql://postgres@/%s?host=%s&port=%d" % (
            self.dbname, self.sockdir, self.port)

    def psql(self, sql, db=None, check=True):
        """Run SQL with psql -At (unaligned, tuples only); its stdout.
        RuntimeError on an error when `check`."""
        cp = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", db or self.dbname,
             "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise RuntimeError("psql %r: exit %d: %s" %
                               (sql[:200], cp.returncode, cp.stderr))
        return cp.stdout

    def _shutdown(self):
        # SIGINT: "fast" shutdown (SIGTERM would wait for every client to
        # leave); SIGQUIT is the immediate one; SIGKILL the last resort
        # (shared memory of a killed postmaster is released by the kernel
        # when the children die, and the folder is thrown away anyway).
        if self._signal_wait(signal.SIGINT, 10):
            return
        if self._signal_wait(signal.SIGQUIT, 5):
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._signal_wait(signal.SIGKILL, 5)


if __name__ == "__main__":
    # Self-check: python3 tests/support/servers.py
    with Redis() as r:
        assert r.command("SET", "a", "1") == "OK"
        assert r.command("GET", "a") == b"1"
        assert r.keys("a*") == [b"a"]
        print("redis ok", r.url)
    with Postgres() as pg:
        pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
        assert pg.psql("SELECT x FROM t").strip() == "7"
        print("postgres ok", pg.url)
