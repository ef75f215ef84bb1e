"""`imsec bench run` in every UE mode against the real daemons on
loopback: one `imsec bench provision` makes the subscribers, their
configured PSKs (creds psk= and the P-CSCF's --psk-file) and their client
certificates (creds cert=, under the operator CA), and a short run per
mode registers every UE it tries:

- M2a: a P-CSCF with --client-cert require and the root and operator CA
  as --ue-ca; each UE
  shows its own certificate (SAN sip:IMPI). The same UEs in mode m1 (no
  certificate) get no registration at all: the certificates are what
  let them in.
- M3: a P-CSCF with the --psk-file the provisioning wrote; every UE
  connects on its configured PSK (no certificate, TLS 1.3 external PSK),
  AKA and SIP Digest subscribers alike.
  A creds file without psk= cannot run in m3 (exit 1, one line).
  MESSAGEs between the UEs go through too, and `imsec bench hold` holds
  every UE registered.
- DTLS: the same P-CSCF's dtls: listener (SIP over DTLS 1.2 on UDP),
  with AKA and with SIP Digest subscribers, and calls between UEs.

Only success counts are asserted, never a speed. Each run is a few
seconds at most.
"""
import json
import os
import re
import subprocess

from attacklib import HOME, Lab, start_pcscf_plain_core, start_scscf_direct

N = 12  # UEs per credentials file (and per run: every UE registers once)
OPS = 24  # registrations per run: each UE twice
# A TLS-dialect name the UEs' trust decision checks (the P-CSCF's
# certificate from `imsec pki pcscf`).
PCSCF = "pcscf." + HOME


def bench(lab, name, target, creds, mode, *extra, n=OPS, timeout_s=30,
          verb="run"):
    """`imsec bench run` (or hold) in mode `mode`: (exit code, stderr, the
    JSON report or None)."""
    out = lab.path(name + ".json")
    args = [lab.imsec, "bench", verb, "--target", target, "--creds", creds,
            "--ca", lab.path("pki", "root.crt"), "--server-name", PCSCF,
            "--mode", mode, "-n", str(n), "-c", "4",
            "-t", "1" if verb == "hold" else "20",
            "--timeout", "5000", "--json", out, "--no-status", "-q"]
    args += list(extra)
    cp = subprocess.run(args, cwd=lab.dir, capture_output=True, text=True,
                        timeout=timeout_s, stdin=subprocess.DEVNULL)
    report = None
    if os.path.exists(out):
        with open(out) as f:
            try:
                report = json.load(f)
            except ValueError:
                report = None
    if cp.returncode != 0 or report is None:
        print("  bench %s: exit %d\n  %s" % (name, cp.returncode,
                                            cp.stderr.strip()[-800:]))
    return cp.returncode, cp.stderr, report


def totals(report):
    t = (report or {}).get("totals", {})
    return t.get("attempts", -1), t.get("ok", -1)


def all_registered(lab, what, rc, report, n=OPS, ops="registrations"):
    attempts, ok = totals(report)
    lab.check(rc == 0 and attempts == n and ok == n,
              "%s: %d of %d %s succeeded (exit %d)" %
              (what, ok, attempts, ops, rc))
    if report and ok != n:
        print("  totals:", json.dumps(report.get("totals")))


def impis(log, regex):
    """The distinct IMPIs a daemon's log names in lines matching `regex`
    (its group 1 the IMPI)."""
    return set(re.findall(regex, log))


def main():
    with Lab() as lab:
        pki = lab.pki(operators=("001",))
        ca = os.path.join(pki, "op-mcc001-mnc001")
        # AKA subscribers with PSKs and certificates, SIP Digest ones
        # without either, in one HSS.
        lab.run("bench", "provision", "--db", lab.path("hss.db"), "--out",
                lab.path("aka.creds"), "-n", str(N), "--psk-out",
                lab.path("pcscf.psk"), "--ue-certs", lab.path("ue-certs"),
                "--ue-ca", ca + ".crt", "--ue-ca-key", ca + ".key")
        lab.run("bench", "provision", "--db", lab.path("hss.db"), "--out",
                lab.path("digest.creds"), "-n", str(N), "--scheme", "digest",
                "--first-imsi", "001019000000001")
        # SIP Digest subscribers with PSKs: the P-CSCF takes both sets.
        lab.run("bench", "provision", "--db", lab.path("hss.db"), "--out",
                lab.path("dgpsk.creds"), "-n", str(N), "--scheme", "digest",
                "--first-imsi", "001018000000001", "--psk-out",
                lab.path("dg.psk"))
        with open(lab.path("pcscf.psk"), "a") as f:
            f.write(open(lab.path("dg.psk")).read())
        # Every UE registers many times from one address within a minute:
        # the flood limits (docs/LIMITS.md) are raised as for any bench.
        sc = start_scscf_direct(lab, "--impi-challenges", "1000",
                                "--source-challenges", "100000",
                                "--impi-failures", "1000",
                                "--source-failures", "100000")

        # ---- M2a: a P-CSCF that requires each UE's certificate.
        p2 = start_pcscf_plain_core(lab, pki, sc.port, "--client-cert",
                                    "require", "--ue-ca",
                                    os.path.join(pki, "root.crt"), "--ue-ca",
                                    ca + ".crt", name="pcscf_m2a")
        target = "tls:127.0.0.1:%d" % p2.port
        rc, err, rep = bench(lab, "m2a", target, lab.path("aka.creds"),
                             "m2a", "--register", "new")
        all_registered(lab, "m2a, a new TLS connection each", rc, rep)
        # Two generator processes: each loads the certificates of its own
        # half of the UEs.
        rc, err, rep = bench(lab, "m2a_open", target, lab.path("aka.creds"),
                             "m2a", "--register", "open", "--procs", "2")
        all_registered(lab, "m2a, re-REGISTER on open connections, 2 "
                       "generator processes", rc, rep)
        seen = impis(p2.log_text(), r"presents the certificate of IMPI (\S+)")
        lab.check(len(seen) == N,
                  "the P-CSCF saw %d UEs' own certificates (want %d)" %
                  (len(seen), N))
        rc, err, rep = bench(lab, "m2a_without", target,
                             lab.path("aka.creds"), "m1", "--register",
                             "new", n=4)
        attempts, ok = totals(rep)
        lab.check(rc == 0 and attempts == 4 and ok == 0,
                  "the same UEs without their certificates (m1): none "
                  "registered (%d of %d)" % (ok, attempts))

        # ---- M3 and DTLS: one P-CSCF, the provisioned --psk-file.
        p3 = start_pcscf_plain_core(lab, pki, sc.port, "--listen",
                                    "dtls:127.0.0.1:0", "--psk-file",
                                    lab.path("pcscf.psk"), name="pcscf_m3")
        m = p3.wait_log(r"listening on dtls:127\.0\.0\.1:(\d+) \(UEs\)", 5)
        lab.check(p3.wait_log(r"%d configured PSK\(s\)" % (2 * N), 3)
                  is not None, "the P-CSCF loaded the %d PSKs provisioning "
                  "wrote" % (2 * N))
        target = "tls:127.0.0.1:%d" % p3.port
        rc, err, rep = bench(lab, "m3", target, lab.path("aka.creds"), "m3",
                             "--register", "new")
        all_registered(lab, "m3 (configured PSK), a new connection each",
                       rc, rep)
        rc, err, rep = bench(lab, "m3_open", target, lab.path("aka.creds"),
                             "m3", "--register", "open")
        all_registered(lab, "m3, re-REGISTER on open connections", rc, rep)
        rc, err, rep = bench(lab, "m3_digest", target,
                             lab.path("dgpsk.creds"), "m3", "--register",
                             "new")
        all_registered(lab, "m3 with SIP Digest, a new connection each", rc,
                       rep)
        seen = impis(p3.log_text(), r"up with the configured PSK of (\S+)")
        lab.check(len(seen) == 2 * N,
                  "the P-CSCF took %d UEs' flows on their configured PSKs "
                  "(want %d)" % (len(seen), 2 * N))
        rc, err, rep = bench(lab, "m3_hold", target, lab.path("aka.creds"),
                             "m3", "--procs", "2", "--server-pid",
                             str(p3.p.pid), n=N, verb="hold")
        hold = (rep or {}).get("hold", {})
        lab.check(rc == 0 and hold.get("ues") == N and
                  hold.get("registered") == N,
                  "m3 hold: %s of %d UEs registered and held" %
                  (hold.get("registered"), N))
        rc, err, rep = bench(lab, "m3_message", target, lab.path("aka.creds"),
                             "m3", "--scenario", "message", n=10)
        all_registered(lab, "m3, MESSAGE from UE to UE", rc, rep, n=10,
                       ops="MESSAGEs")
        rc, err, rep = bench(lab, "m3_nopsk", target,
                             lab.path("digest.creds"), "m3", n=2)
        lines = [l for l in err.splitlines() if l.strip()]
        lab.check(rc == 1 and len(lines) == 1 and "psk=" in err,
                  "m3 with credentials without psk=: exit 1, one line "
                  "(exit %d: %s)" % (rc, err.strip()[-200:]))
        rc, err, rep = bench(lab, "m1", target, lab.path("aka.creds"), "m1",
                             "--register", "resumed")
        all_registered(lab, "m1 on the same P-CSCF, resumed sessions", rc,
                       rep)

        lab.check(m is not None, "the P-CSCF listens on dtls:")
        if m:
            dtarget = "dtls:127.0.0.1:%s" % m.group(1)
            rc, err, rep = bench(lab, "dtls", dtarget, lab.path("aka.creds"),
                                 "dtls", "--register", "new")
            all_registered(lab, "dtls, AKA, a new association each", rc, rep)
            seen = impis(p3.log_text(),
                         r"registered IMPI (0010100\S+) .* \(dtls:")
            lab.check(len(seen) == N,
                      "%d AKA UEs bound to DTLS associations (want %d)" %
                      (len(seen), N))
            rc, err, rep = bench(lab, "dtls_call", dtarget,
                                 lab.path("aka.creds"), "dtls", "--scenario",
                                 "call", n=6)
            all_registered(lab, "dtls, calls (INVITE, ACK, BYE)", rc, rep,
                           n=6, ops="calls")
            rc, err, rep = bench(lab, "dtls_digest", dtarget,
                                 lab.path("digest.creds"), "dtls",
                                 "--register", "open")
            all_registered(lab, "dtls, SIP Digest, re-REGISTER on open "
                           "associations", rc, rep)

        # Every run's registrations reached the S-CSCF and none crashed it.
        lab.check(sc.alive() and p2.alive() and p3.alive(),
                  "the daemons are still running")
        lab.check(not re.search(r"(?i)\bcrit\b|assert", sc.log_text()),
                  "nothing critical in the S-CSCF log")


if __name__ == "__main__":
    main()
