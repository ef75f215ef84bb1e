"""The DTLS timing settings with the real daemons (docs/DTLS.md): a P-CSCF
started with --dtls-idle-timeout-ms 2000 and --t1-ms/--t2-ms, and `imsec ue
run --pcscf dtls:...` with a profile written by `imsec isim new` with every
mode's keys (--cert-file, --key-file, --psk-file).

- `--keepalive 1`: the UE's STUN keep-alive (RFC 5626 §4.4.2) goes out
  about every second once registered and the P-CSCF answers each one; the
  association, never quiet for 2 s, outlives the idle limit.
- `--keepalive off`: nothing comes from the registered UE, so the P-CSCF
  closes the association after 2 s and removes its binding with it (DTLS
  has no FIN); the UE finds its flow gone, connects again and registers on
  a new association.
- The SQN the UE accepted is written back into the profile (apps/sqn_file.c
  rewrites it atomically) and cert_file, key_file, psk_identity and
  psk_file are all still there afterwards: `imsec isim check` passes."""
import os
import re
import time

from attacklib import HOME, K, OPC, TRUST_DOMAIN, Lab, impi, \
    start_scscf_direct

PCSCF_NAME = "pcscf." + HOME
MODE_KEYS = ("cert_file", "key_file", "psk_identity", "psk_file")


def profile_keys(path):
    """The top-level key: value lines of a profile, as a dict."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'^([a-z_]+): "?([^"\n]*)"?$', line)
            if m:
                out[m.group(1)] = m.group(2)
    return out


def ue_profile(lab, pki):
    path = lab.path("ue.yaml")
    lab.run("pki", "ue", "--dir", pki, "--mcc", "001", "--mnc", "01",
            "--impi", impi(1))
    ue_cert = os.path.join(pki, "ue-%s" % impi(1))
    psk = lab.path("ue.psk")
    with open(psk, "w") as f:
        f.write("00112233445566778899aabbccddeeff\n")
    os.chmod(psk, 0o600)
    lab.run("isim", "new", "--imsi", "001010000000001", "--mnc-len", "2",
            "--trust-domain", TRUST_DOMAIN, "--anchors",
            os.path.join(pki, "root.crt"), "--home-ca",
            os.path.join(pki, "op-mcc001-mnc001.crt"),
            "--cert-file", ue_cert + ".chain.pem",
            "--key-file", ue_cert + ".key", "--psk-file", psk, "--out", path)
    # The HSS's K and OPc (TS 35.208 test set 1) instead of fresh ones.
    with open(path) as f:
        text = f.read()
    text = re.sub(r'(?m)^k: .*$', 'k: "%s"' % K, text)
    text = re.sub(r'(?m)^opc: .*$', 'opc: "%s"' % OPC, text)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def wait_count(proc, regex, n, timeout):
    """Wait until `regex` matches at least n times in the log; the count."""
    deadline = time.monotonic() + timeout
    while True:
        k = len(re.findall(regex, proc.log_text(), re.M))
        if k >= n or time.monotonic() > deadline:
            return k
        time.sleep(0.05)


with Lab() as lab:
    pki = lab.pki(operators=("001",))
    lab.hss_add(1)
    scscf = start_scscf_direct(lab)
    pcscf = lab.start(
        "pcscf", "--listen", "dtls:127.0.0.1:0",
        "--cert", "%s/pcscf.%s.chain.pem" % (pki, HOME),
        "--key", "%s/pcscf.%s.key" % (pki, HOME),
        "--route", "%s=tcp:127.0.0.1:%d" % (HOME, scscf.port),
        "--core", "tcp:127.0.0.1:0", "--insecure-core",
        "--peer-addr", "127.0.0.1", "--log-level", "debug",
        "--dtls-idle-timeout-ms", "2000", "--t1-ms", "250", "--t2-ms", "2000",
        ready=r"listening on dtls:127\.0\.0\.1:(\d+) \(UEs\) and "
        r"tcp:127\.0\.0\.1:(\d+)")
    lab.check(pcscf.wait_log(r"DTLS: T1 250 ms, T2 2000 ms, T4 5000 ms; an "
                             r"association quiet for 2000 ms is closed", 3)
              is not None,
              "the P-CSCF says which DTLS timers and idle limit it runs")
    dtls = "dtls:127.0.0.1:%d" % pcscf.port
    profile = ue_profile(lab, pki)
    before = profile_keys(profile)
    lab.check(all(before.get(k) for k in MODE_KEYS) and
              before.get("sqn") == "000000000000",
              "isim new wrote cert_file, key_file, psk_identity, psk_file")

    # 1. Keep-alive every second: answered, and the association lives.
    ue = lab.start("ue", "run", "-c", profile, "--pcscf", dtls,
                   "--pcscf-name", PCSCF_NAME, "--keepalive", "1", "-v",
                   name="ue_keepalive")
    m = pcscf.wait_log(r"bound to flow (\d+) \(dtls:", 10)
    lab.check(m is not None, "the UE registers over DTLS with --keepalive 1")
    flow = m.group(1) if m else "?"
    t0 = time.monotonic()
    n_ue = wait_count(ue, r"STUN keep-alive answered", 3, 6)
    lab.check(n_ue >= 3, "the UE's keep-alive is answered again and again "
              "(%d answers in %.1f s)" % (n_ue, time.monotonic() - t0))
    # Past the idle limit and a scan of it (a quarter of the limit).
    time.sleep(max(0.0, t0 + 3.0 - time.monotonic()))
    n_pc = len(re.findall(r"STUN keep-alive on flow %s answered" % flow,
                          pcscf.log_text()))
    lab.check(n_pc >= 3, "the P-CSCF answered each keep-alive on flow %s "
              "(%d)" % (flow, n_pc))
    lab.check("DTLS flow %s quiet" % flow not in pcscf.log_text() and
              ue.alive(),
              "an association kept alive outlives the 2 s idle limit")
    ue.stop()
    lab.check(pcscf.wait_log(r"de-registered IMPI .* on flow %s" % flow, 5)
              is not None, "the UE de-registers on SIGTERM")

    # 2. No keep-alive: the P-CSCF closes the quiet association and the
    # binding goes with it.
    ue = lab.start("ue", "run", "-c", profile, "--pcscf", dtls,
                   "--pcscf-name", PCSCF_NAME, "--keepalive", "off", "-v",
                   name="ue_quiet")
    n0 = len(re.findall(r"bound to flow", pcscf.log_text()))
    wait_count(pcscf, r"bound to flow", n0 + 1, 10)
    m = list(re.finditer(r"bound to flow (\d+) \(dtls:", pcscf.log_text()))
    flow = m[-1].group(1) if m else "?"
    t0 = time.monotonic()
    closed = pcscf.wait_log(r"DTLS flow %s quiet for (\d+) ms: closed" % flow,
                            6)
    took = time.monotonic() - t0
    lab.check(closed is not None and int(closed.group(1)) >= 2000,
              "the P-CSCF closes the association quiet for 2 s (flow %s, "
              "%.1f s after registering)" % (flow, took))
    lab.check(pcscf.wait_log(r"flow %s \(dtls:[^)]*\) lost: 1 binding\(s\) "
                             r"removed" % flow, 2) is not None,
              "its binding is removed with it")
    lab.check("STUN keep-alive" not in ue.log_text(),
              "with --keepalive off the UE sent no keep-alive")
    again = pcscf.wait_log(r"bound to flow (?!%s\b)(\d+) \(dtls:" % flow, 8)
    lab.check(again is not None,
              "the UE registers again on a new association")
    ue.stop()

    # 3. The SQN written back, every mode key kept.
    after = profile_keys(profile)
    lab.check(after.get("sqn") not in (None, "000000000000"),
              "the accepted SQN was written back (sqn %s)" % after.get("sqn"))
    lab.check(all(after.get(k) == before.get(k) for k in MODE_KEYS),
              "cert_file, key_file, psk_identity and psk_file survive the "
              "SQN write-back")
    cp = lab.run("isim", "check", profile, check=False)
    lab.check(cp.returncode == 0 and "\nm2: " in cp.stdout and
              "\nm3: psk_identity %s" % impi(1) in cp.stdout,
              "isim check: the profile is clean and set up for M2 and M3 "
              "(exit %d)" % cp.returncode)
    lab.check(oct(os.stat(profile).st_mode & 0o777) == "0o600",
              "the profile is still mode 0600")
