"""`imsec hss add` with an IMPI or IMPU holding a control character,
whitespace or a quote (RFC 7542 NAI, RFC 3261 URI grammar): refused with
one line on stderr and exit 2, and nothing is stored. Such an identity
would later break the Digest username quoted-string, a To header or a log
line."""
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
