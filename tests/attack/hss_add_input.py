"""`imsec hss add` with an IMPI or IMPU holding a control character,
whitespace or a quote (RFC 7542 NAI, RFC 3261 URI grammar): refused with
one line on stderr and exit 2, and nothing is stored. Such an identity
would later break the Digest username quoted-string, a To header or a log
line.

SIP Digest subscribers (`--scheme digest --password-file F`): a password
file that others may read or write, that another user owns, that is
empty, longer than 128 octets, holds more than one line (a second line
is not part of the password), a NUL, or is not a regular file (a FIFO
must not hang the command, a huge file is not read whole) is refused
with one line on stderr and exit 2, never echoing the password, and
nothing is stored. Octets a password may hold (quotes, backslash,
colon, UTF-8) are kept as they are: only H(A1) is stored."""
import hashlib
import os
import sqlite3
import time

from attacklib import Lab, HOME, K, OPC, AMF

BAD = [("space", "a b"), ("tab", "a\tb"), ("quote", 'a"b'),
       ("apostrophe", "a'b"), ("control 0x01", "a\x01b"),
       ("CR LF", "a\r\nVia: x"), ("DEL", "a\x7fb")]

with Lab() as lab:
    db = lab.path("hss.db")

    def add(impi, impu):
        return lab.run("hss", "add", "--db", db, "--impi", impi, "--impu",
                       impu, "--k", K, "--opc", OPC, "--amf", AMF,
                       check=False)

    cp = add("ok@" + HOME, "sip:ok@" + HOME)
    lab.check(cp.returncode == 0, "a clean identity is added")
    why = "no control characters, whitespace or quotes"
    for i, (what, bad) in enumerate(BAD):
        # Every other identity is fresh: only the bad one can refuse it.
        cp = add(bad.replace("b", "x%d" % i) + "@" + HOME,
                 "sip:x%d@%s" % (i, HOME))
        lines = cp.stderr.strip().splitlines()
        lab.check(cp.returncode == 2 and len(lines) == 1 and
                  "--impi" in cp.stderr and why in cp.stderr,
                  "IMPI with %s: exit %d, %d line(s): %s" %
                  (what, cp.returncode, len(lines), cp.stderr.strip()[:100]))
        cp = add("y%d@%s" % (i, HOME), "sip:" + bad + "@" + HOME)
        lines = cp.stderr.strip().splitlines()
        lab.check(cp.returncode == 2 and len(lines) == 1 and
                  "--impu" in cp.stderr and why in cp.stderr,
                  "IMPU with %s: exit %d, %d line(s): %s" %
                  (what, cp.returncode, len(lines), cp.stderr.strip()[:100]))
    out = lab.run("hss", "list", "--db", db).stdout
    lab.check(out.count("\n") == 1 and out.startswith("ok@"),
              "only the clean subscriber is stored: %r" % out[:200])

    # ------------------------------------------------ SIP Digest passwords
    SECRET = "Zq7-s3cr3t-pw"

    def pwfile(name, data, mode=0o600):
        path = lab.path(name)
        if isinstance(data, str):
            data = data.encode()
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def add_digest(impi, path):
        return lab.run("hss", "add", "--db", db, "--impi", impi, "--impu",
                       "sip:" + impi, "--scheme", "digest",
                       "--password-file", path, check=False)

    fifo = lab.path("fifo")
    os.mkfifo(fifo, 0o600)
    huge = pwfile("huge", b"")
    with open(huge, "wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: cheap to make, costly to read
    link = lab.path("link")
    os.symlink(pwfile("wl", SECRET, 0o644), link)
    BADPW = [
        ("group-readable", pwfile("g", SECRET, 0o640), "chmod 600"),
        ("world-readable", pwfile("w", SECRET, 0o644), "chmod 600"),
        ("group-writable", pwfile("gw", SECRET, 0o620), "chmod 600"),
        ("empty", pwfile("e", b""), "empty"),
        ("only a newline", pwfile("n", b"\r\n"), "empty"),
        ("129 octets", pwfile("l", "a" * 129), "longer than 128"),
        ("second line", pwfile("t", SECRET + "\nVia: x\n"),
         "more than one line"),
        ("bare CR inside", pwfile("c", SECRET + "\rX"), "more than one line"),
        ("NUL inside", pwfile("z", SECRET.encode() + b"\0tail"), "NUL"),
        ("FIFO", fifo, "not a regular file"),
        ("64 MiB file", huge, "longer than 128"),
        ("folder", lab.dir, "not a regular file"),
        ("symlink to a world-readable file", link, "chmod 600"),
    ]
    if os.geteuid() == 0:
        other = pwfile("o", SECRET)
        os.chown(other, 65534, 65534)
        BADPW.append(("owned by another user", other, "owned by uid 65534"))
    for i, (what, path, why) in enumerate(BADPW):
        t0 = time.monotonic()
        cp = add_digest("pw%d@%s" % (i, HOME), path)
        took = time.monotonic() - t0
        lines = cp.stderr.strip().splitlines()
        lab.check(cp.returncode == 2 and len(lines) == 1 and
                  "--password-file" in cp.stderr and why in cp.stderr and
                  took < 5,
                  "password file %s: exit %d in %.1f s, %d line(s): %s" %
                  (what, cp.returncode, took, len(lines),
                   cp.stderr.strip()[:120]))
        lab.check(SECRET not in cp.stderr + cp.stdout,
                  "password file %s: the password is not echoed" % what)

    # What a password may hold is kept octet for octet (H(A1) checked).
    odd = 'q"uo\\te:co\'lon \u00e9\t'
    ok_impi = "odd@" + HOME
    cp = add_digest(ok_impi, pwfile("odd", odd + "\n"))
    lab.check(cp.returncode == 0, "a password with quotes, backslash, colon, "
              "tab and UTF-8 is taken: %s" % cp.stderr.strip()[:100])
    row = sqlite3.connect(db).execute(
        "SELECT ha1_sha256 FROM subscriber WHERE impi = ?",
        (ok_impi,)).fetchone()
    want = hashlib.sha256(("%s:%s:%s" % (ok_impi, HOME, odd)).encode())
    lab.check(row is not None and row[0][:32] == want.digest(),
              "its SHA-256 H(A1) is of the exact octets")
    # passwd on an AKA subscriber does not make it a digest one.
    cp = lab.run("hss", "passwd", "--db", db, "--impi", "ok@" + HOME,
                 "--password-file", lab.path("odd"), check=False)
    lab.check(cp.returncode == 2 and "no password" in cp.stderr,
              "passwd on an AKA subscriber is refused: %s" %
              cp.stderr.strip()[:100])
    out = lab.run("hss", "list", "--db", db).stdout
    lab.check(out.count("\n") == 2 and "ok@%s impu=sip:ok@%s aka=v1" %
              (HOME, HOME) in out and "odd@" in out and "pw0@" not in out,
              "only the clean subscribers are stored: %r" % out[:300])
