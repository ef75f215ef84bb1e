"""`imsec bench run` against a real registrar that is not imsec: Debian's
Kamailio 5.6 with the bench's config (tests/bench/kamailio/kamailio.cfg:
TLS listener with the pcscf.DOMAIN certificate of the lab's trust domain,
auth_db digest over db_text, usrloc in memory), SIP Digest subscribers
from `imsec bench provision --scheme digest` (TS 33.203 Annexes N, O).

First one `imsec ue register` with a SIP Digest profile (`imsec isim new
--digest`) of the first subscriber: it registers, the realm of Kamailio's
401 passes its trust decision, and Kamailio's rspauth verifies. Then a
few seconds of load, never a speed:
- --register new: every registration on a new TLS connection (the UEs'
  trust decision on Kamailio's certificate, 401 MD5 qop=auth with the home
  realm, the answer, 200 with rspauth): all succeed, the JSON is well
  formed and has the keys the scripts read;
- --register open: re-REGISTERs on the UEs' open connections (the nonce
  used again with nc + 1): all succeed;
- Kamailio saw the registrations: its log has no auth refusal.
Exit 77 when kamailio or its tls module (kamailio-tls-modules) is not
installed.
"""
import json
import os
import sys

from attacklib import HOME, TRUST_DOMAIN, Lab

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "bench", "kamailio"))
import kamrun  # noqa: E402

PCSCF = "pcscf." + HOME
SUBS = 40
OPS = 80

if not kamrun.find_kamailio() or not kamrun.tls_module_present():
    print("kamailio or kamailio-tls-modules not installed: skipped")
    sys.exit(77)


def bench(lab, port, register, out):
    """One bounded `imsec bench run`: (exit code, stderr, JSON or None)."""
    cp = lab.run("bench", "run", "--target", "tls:127.0.0.1:%d" % port,
                 "--creds", lab.path("creds"), "--ca",
                 lab.path("pki", "root.crt"), "--server-name", PCSCF,
                 "--trust-domain", TRUST_DOMAIN, "--register", register, "-c", "8", "-n", str(OPS),
                 "-t", "20", "--timeout", "5000", "--server-pid",
                 ",".join(map(str, k.pids()[:8])), "--json", lab.path(out),
                 "--no-status", "-q", check=False)
    try:
        with open(lab.path(out)) as f:
            j = json.load(f)
    except (OSError, ValueError):
        j = None
    return cp.returncode, cp.stderr, j


def all_ok(j):
    t = (j or {}).get("totals", {})
    fails = t.get("failures", {})
    n_fail = sum(fails.values()) if isinstance(fails, dict) else fails
    return t.get("attempts") == OPS and t.get("ok") == OPS and not n_fail, t


with Lab() as lab:
    d = lab.pki(operators=("001",))
    lab.run("bench", "provision", "--db", lab.path("hss.db"), "--out",
            lab.path("creds"), "-n", str(SUBS), "--scheme", "digest")
    k = kamrun.start(lab.path("kamailio"), lab.path("creds"),
                     os.path.join(d, PCSCF + ".chain.pem"),
                     os.path.join(d, PCSCF + ".key"), workers=1, shm_mb=64,
                     pkg_mb=8, log_level=1)
    try:
        lab.check(k.subscribers == SUBS and k.domain == HOME,
                  "Kamailio's db_text subscriber table made from the creds "
                  "file: %d subscribers of %s" % (k.subscribers, k.domain))

        # One UE of the creds file as a profile of its own.
        with open(lab.path("creds")) as f:
            impi, impu, pw = f.read().splitlines()[1].split()[:3]
        fd = os.open(lab.path("pw1"), os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pw + "\n")
        lab.run("isim", "new", "--digest", "--impi", impi, "--impu", impu,
                "--trust-domain", TRUST_DOMAIN, "--anchors",
                os.path.join(d, "root.crt"), "--home-ca",
                os.path.join(d, "op-mcc001-mnc001.crt"), "--password-file",
                lab.path("pw1"), "--out", lab.path("ue1.yaml"))
        cp = lab.run("ue", "register", "-c", lab.path("ue1.yaml"), "--pcscf",
                     "tls:127.0.0.1:%d" % k.tls_port, "--pcscf-name", PCSCF,
                     "--timeout", "10", "-v", check=False)
        lab.check(cp.returncode == 0 and
                  "registered: %s" % impu in cp.stdout and
                  "<- 401 Unauthorized (realm %s, MD5)" % HOME in cp.stderr
                  and "rspauth verified" in cp.stderr,
                  "imsec ue register (SIP Digest profile) to Kamailio over "
                  "TLS: trusted, 401 MD5 with the home realm, rspauth "
                  "verified, registered (exit %d: %s)" %
                  (cp.returncode, (cp.stdout + cp.stderr).strip()[-300:]))

        rc, err, j = bench(lab, k.tls_port, "new", "new.json")
        ok, t = all_ok(j)
        lab.check(rc == 0 and ok,
                  "--register new: %d registrations over new TLS "
                  "connections to Kamailio, all 200 (exit %d, totals %s%s)"
                  % (OPS, rc, t, (", " + err.strip()[-300:]) if rc else ""))
        lab.check(j is not None and
                  all(key in j for key in ("options", "totals",
                                           "latency_us", "series",
                                           "server", "generator")) and
                  all(key in j["latency_us"] for key in
                      ("p50", "p90", "p99", "p999", "mean", "min", "max")) and
                  len(j["server"]) == min(8, len(k.pids())) and
                  all("cpu_s" in s and "rss_kib_max" in s
                      for s in j["server"]),
                  "the JSON is well formed: options, totals, latency_us, "
                  "series, server (one per Kamailio process), generator")

        rc, err, j = bench(lab, k.tls_port, "open", "open.json")
        ok, t = all_ok(j)
        lab.check(rc == 0 and ok,
                  "--register open: %d re-REGISTERs on open connections, "
                  "all 200 (exit %d, totals %s%s)" %
                  (OPS, rc, t, (", " + err.strip()[-300:]) if rc else ""))
        lab.check(k.alive() and "auth refused" not in k.log_text(),
                  "Kamailio is still up and refused no credentials")
    finally:
        rc = k.stop()
    lab.check(rc == 0, "Kamailio stops cleanly on SIGTERM (exit %s)" % rc)
    if lab.failed:
        print("---- kamailio log")
        print("".join("  | " + ln + "\n"
                      for ln in k.log_text().splitlines()[-40:]))
