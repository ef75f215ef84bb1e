"""Calls with a real SIP peer: Debian's SIPp (package sip-tester) as the
UE on the access side of the imsec P-CSCF, with the imsec S-CSCF (and
its HSS) behind it, all daemons on loopback.

SIPp 3.6.1 as Debian builds it has no TLS: each SIPp talks plain TCP to a
socat that carries the bytes over TLS to the P-CSCF's UE listener,
verifying the P-CSCF's certificate against the IMS root and its name
(`socat TCP-LISTEN:P,bind=127.0.0.1,fork OPENSSL:127.0.0.1:PCSCF,
cafile=root.crt,verify=1,commonname=pcscf.HOME`). socat forks one child
per TCP connection, so one SIPp connection (-t t1) is one TLS flow at the
P-CSCF, the one the registration is bound to (TS 33.203 O.4, RFC 5626).

What SIPp needs from imsec, found out here:
- Digest AKAv1-MD5 (RFC 3310): SIPp 3.6.1 takes aka_K, aka_OP and
  aka_AMF of `[authentication ...]` as the raw octets of their text, and
  OP (it derives OPc itself), and expands no keyword inside the brackets.
  The SIPp subscribers are therefore provisioned with
  `imsec hss add --k hex("imsec-sipp-K-001") --op hex("imsec-sipp-OP-01")
  --amf hex("00")`: the AMF text's two octets take part in SIPp's MAC
  check, so the HSS's AMF must be 0x3030.
- SQN: SIPp accepts whatever SQN the AUTN carries (it never sends AUTS),
  so the HSS's SQN scheme needs nothing special; each run starts from a
  fresh HSS anyway.
- RES: SIPp 3.6.1 hashes RES only up to its first zero octet. RES is 8
  octets of Milenage output, so about one challenge in 32 gets a wrong
  response and the S-CSCF's 403 (seen here as an intermittent failure).
  The scenarios answer such a 403 by registering again on the same
  connection (a new challenge, a new RAND); they log it.
- The digest-uri: SIPp puts sip:REMOTE_IP:PORT unless -auth_uri is
  given; -auth_uri HOME makes it sip:HOME, the R-URI of the REGISTER,
  which the S-CSCF requires (RFC 7616 §3.4.6, RFC 3261 §22.4; 400
  otherwise).
- No sec-agree: SIPp sends no Security-Client. The P-CSCF accepts such a
  REGISTER unless it runs with --require-sec-agree, which answers it 421
  (checked here); the registration is bound to the TLS flow all the
  same.
- SIPp matches messages to its calls by Call-ID only. As a caller it
  runs two "calls" on one connection (-m 2 -l 1): the first registers,
  the second places the call (uac_call.xml branches on the call
  number). As a callee the INVITE's Call-ID is the caller's: the main
  scenario registers and waits, and SIPp's out-of-call scenario
  (-oocsf uas_answer.xml) answers; a global variable tells the main
  scenario that the call ended, so SIPp's exit code covers the call.
- The INVITE needs no Route: the P-CSCF puts the Service-Route. ACK and
  BYE use SIPp's route set from the 2xx's Record-Route (rrs="true").

Cases: SIPp registers (exit 0, 1 successful call, the P-CSCF bound the
registration to a TLS flow, the S-CSCF registered it); a P-CSCF with
--require-sec-agree refuses it (421); SIPp calls an
`imsec ue run` (auto-answer) and hangs up; `imsec ue call` calls SIPp;
SIPp calls SIPp; SIPp CANCELs a call to a ringing `imsec ue run --answer
ring` (200 to the CANCEL, 487, ACK). Each call is checked in SIPp's exit code and statistics,
in the Record-Route SIPp got (both P-CSCF entries with the flow token and
the S-CSCF's), and in the daemons' logs: INVITE, ACK and BYE went from
the caller's flow through the S-CSCF to the callee's registered flow.
SIPp and socat are dependencies of `make test` (scripts/packages.txt):
when missing the test says so and fails.
"""
import csv
import os
import re
import shutil
import subprocess

from attacklib import (HOME, K, Lab, Proc, impi, impu, imsi, start_bg,
                      start_pcscf_plain_core, start_scscf_direct, ue_profile,
                      wait_text)

SIPP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sipp")
PCSCF = "pcscf." + HOME
# The texts whose octets SIPp uses as K, OP and AMF (see above).
SIPP_K, SIPP_OP, SIPP_REGMF = "imsec-sipp-K-001", "imsec-sipp-OP-01", "00"
# Subscribers: one per SIPp run (a run is one connection, one
# registration) and the imsec UEs.
SIPP_REG, SIPP_UAC, SIPP_UAS, SIPP_UAC2, SIPP_UAS2, SIPP_CANCEL = \
    10, 11, 12, 13, 14, 15
UE_X, UE_Y, UE_RING = 1, 2, 3
HOLD_MS = 1000


def hexs(text):
    return text.encode().hex()


def hss_add_sipp(lab, n):
    lab.run("hss", "add", "--db", lab.path("hss.db"), "--impi", impi(n),
            "--impu", impu(n), "--k", hexs(SIPP_K), "--op", hexs(SIPP_OP),
            "--amf", hexs(SIPP_REGMF))



def children(pid):
    """The pids whose parent is `pid` (socat's per-connection children)."""
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


class Socat(Proc):
    """socat from a loopback TCP port to the P-CSCF's TLS listener; on stop
    its children (one per connection) are stopped by pid too."""

    def stop(self, timeout=5.0):
        kids = children(self.p.pid) if self.alive() else []
        rc = super().stop(timeout)
        for k in kids:
            try:
                os.kill(k, 15)
            except OSError:
                pass
        return rc


def socat(lab, name, pcscf_port):
    """A Socat in the lab listening on a free loopback port (.port); a port
    taken between the probe and socat's bind is replaced by another."""
    for attempt in range(5):
        port = lab.free_port()
        log = lab.path("%s.%d.log" % (name, attempt) if attempt else
                       name + ".log")
        with open(log, "w") as lf:
            p = subprocess.Popen(
                ["socat", "-d", "-d",
                 "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port,
                 "OPENSSL:127.0.0.1:%d,cafile=%s,verify=1,commonname=%s"
                 % (pcscf_port, lab.path("pki", "root.crt"), PCSCF)],
                cwd=lab.dir, stdin=subprocess.DEVNULL, stdout=lf,
                stderr=subprocess.STDOUT)
        proc = Socat(name, p, log)
        lab.procs.append(proc)
        if proc.wait_log(r"listening on AF=2 127\.0\.0\.1:%d" % port, 5):
            proc.port = port
            return proc
        if "Address already in use" not in proc.log_text():
            break
    raise RuntimeError("socat did not start:\n" + proc.log_text())


class Sipp:
    """One SIPp run in the lab folder: its screen, message trace, error
    log and statistics (CSV) in files named after it."""

    def __init__(self, lab, name, scenario, port, n, *extra, calls=1,
                 timeout_s=20, ooc=None):
        self.lab = lab
        self.name = name
        self.dir = lab.path(name)
        os.makedirs(self.dir)
        self.screen = os.path.join(self.dir, "screen.log")
        args = ["sipp", "127.0.0.1:%d" % port, "-t", "t1",
                "-sf", os.path.join(SIPP_DIR, scenario),
                # Without -p SIPp takes the first free port from 5060 on
                # itself (no race with another test's probe).
                "-i", "127.0.0.1",
                "-m", str(calls), "-l", "1",
                "-key", "imsi", imsi(n), "-key", "domain", HOME,
                "-au", impi(n), "-auth_uri", HOME,
                "-timeout", str(timeout_s), "-timeout_error", "-nostdin",
                "-trace_msg", "-message_file",
                os.path.join(self.dir, "messages.log"),
                "-trace_err", "-error_file",
                os.path.join(self.dir, "errors.log"),
                "-trace_logs", "-log_file", os.path.join(self.dir, "log.log"),
                "-trace_stat", "-stf", os.path.join(self.dir, "stat.csv"),
                "-fd", "1"] + list(extra)
        if ooc:
            args += ["-oocsf", os.path.join(SIPP_DIR, ooc)]
        self.f = open(self.screen, "w")
        self.p = subprocess.Popen(args, cwd=self.dir,
                                  stdin=subprocess.DEVNULL, stdout=self.f,
                                  stderr=subprocess.STDOUT)
        self.proc = Proc(name, self.p, os.path.join(self.dir, "log.log"))
        lab.procs.append(self.proc)
        self.timeout_s = timeout_s
        self.rc = None

    def wait(self):
        """SIPp's exit code (None when it had to be killed)."""
        try:
            self.rc = self.p.wait(self.timeout_s + 10)
        except subprocess.TimeoutExpired:
            self.proc.stop()
            self.rc = None
        self.f.close()
        return self.rc

    def stats(self):
        """The last row of SIPp's statistics: successful and failed calls
        (cumulated), {} when there is none."""
        try:
            with open(os.path.join(self.dir, "stat.csv")) as f:
                rows = list(csv.reader(f, delimiter=";"))
        except OSError:
            return {}
        if len(rows) < 2:
            return {}
        head, last = rows[0], rows[-1]
        out = {}
        for key in ("SuccessfulCall(C)", "FailedCall(C)"):
            if key in head and head.index(key) < len(last):
                out[key] = int(last[head.index(key)])
        return out

    def log(self, what):
        try:
            with open(os.path.join(self.dir, what + ".log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def check(self, ok_calls, what):
        """SIPp exited 0 with ok_calls successful calls and none failed."""
        rc = self.wait()
        st = self.stats()
        ok = self.lab.check(
            rc == 0 and st.get("SuccessfulCall(C)") == ok_calls and
            st.get("FailedCall(C)") == 0,
            "%s: SIPp exits 0, %d successful call(s), 0 failed (exit %s, "
            "stats %s)" % (what, ok_calls, rc, st))
        if not ok:
            print("---- %s errors\n%s" % (self.name, self.log("errors")[-3000:]))
            print("---- %s messages\n%s" % (self.name,
                                            self.log("messages")[-6000:]))
        return ok





def messages(sipp_log):
    """The SIP messages of a SIPp -trace_msg file: (direction, text)."""
    out = []
    for part in re.split(r"\n-{20,}[^\n]*\n", sipp_log):
        m = re.match(r"(TCP message (sent|received)[^\n]*\n\n)", part)
        if m:
            out.append(("out" if m.group(2) == "sent" else "in",
                        part[m.end():]))
    return out


def first_in(sipp, start):
    """The first message SIPp received whose first line starts with
    `start` (\"SIP/2.0 200\", \"INVITE \"...), or ''."""
    for way, msg in messages(sipp.log("messages")):
        if way == "in" and msg.startswith(start):
            return msg
    return ""


def response_in(sipp, code, method):
    """The first response `code` to `method` SIPp received, or ''."""
    for way, msg in messages(sipp.log("messages")):
        if way == "in" and msg.startswith("SIP/2.0 %d " % code) and \
                re.search(r"(?mi)^CSeq:\s*\d+\s+%s\s*$" % method, msg):
            return msg
    return ""


def header_values(msg, name):
    vals = []
    for line in msg.split("\n"):
        m = re.match(r"(?i)%s\s*:\s*(.*)" % re.escape(name), line.strip())
        if m:
            vals += [v.strip() for v in re.split(r",\s*(?=<)", m.group(1))]
    return vals


def through_proxies(lab, msg, what, pc, sc):
    """The Record-Route of a dialog-creating message names the P-CSCF
    (two entries with the flow token: access and core listener, RFC 5658)
    and the S-CSCF (its own address): the call went through both."""
    rr = header_values(msg, "Record-Route")
    pcscf_ue = [r for r in rr if re.match(
        r"<sip:[0-9a-f]+@127\.0\.0\.1:%d;transport=tls;lr>" % pc.ports[0], r)]
    pcscf_core = [r for r in rr if re.match(
        r"<sip:[0-9a-f]+@127\.0\.0\.1:%d;transport=tcp;lr>" % pc.ports[1],
        r)]
    scscf = [r for r in rr if re.match(
        r"<sip:127\.0\.0\.1:%d;transport=tcp;lr>" % sc.port, r)]
    lab.check(pcscf_ue and pcscf_core and scscf,
              "%s: Record-Route names the P-CSCF (access and core, with "
              "the flow token) and the S-CSCF (%s)" % (what, rr))


def crossed(lab, pc, sc, caller, callee, what):
    """The call from IMPU `caller` to subscriber `callee` crossed both
    daemons: the P-CSCF took the INVITE, ACK and BYE on the caller's flow
    and sent each on the flow the callee's registration is bound to
    (TS 24.229 §5.2.6.3, RFC 5626 §5.3); the S-CSCF routed the INVITE to
    the callee and the ACK and BYE by their Route."""
    bound = pc.wait_log(r"registered IMPI %s IMPUs .* bound to flow (\d+)"
                        % re.escape(impi(callee)), 1)
    orig = pc.wait_log(r"INVITE from flow (\d+) as %s -> " %
                       re.escape(caller), 2)
    if not lab.check(bound is not None and orig is not None,
                     "%s: the P-CSCF took the INVITE from the caller's flow"
                     % what):
        return
    fc, fe = orig.group(1), bound.group(1)
    missing = [r for r in (r"INVITE for flow %s " % fe,
                           r"ACK in dialog from flow %s " % fc,
                           r"ACK for flow %s " % fe,
                           r"BYE in dialog from flow %s " % fc,
                           r"BYE for flow %s " % fe)
               if pc.wait_log(r, 2) is None]
    lab.check(not missing, "%s: the P-CSCF sent INVITE, ACK and BYE over the "
              "callee's registered flow %s (missing: %s)" % (what, fe,
                                                             missing))
    lab.check(sc.wait_log(r"INVITE to %s via " %
                          re.escape(impu(callee)[len("sip:"):]), 2)
              is not None,
              "%s: the S-CSCF routed the INVITE to the callee" % what)


missing = [b for b in ("sipp", "socat") if not shutil.which(b)]
with Lab() as lab:
    if missing:
        lab.check(False, "%s installed (scripts/packages.txt: sip-tester, "
                  "socat)" % " and ".join(missing))
        raise SystemExit(1)
    d = lab.pki(operators=("001",))
    for n in (SIPP_REG, SIPP_UAC, SIPP_UAS, SIPP_UAC2, SIPP_UAS2,
              SIPP_CANCEL):
        hss_add_sipp(lab, n)
    for n in (UE_X, UE_Y, UE_RING):
        lab.hss_add(n)
    sc = start_scscf_direct(lab, "--log-level", "debug")
    pc = start_pcscf_plain_core(lab, d, sc.port, "--log-level", "debug")
    tunnel = socat(lab, "socat", pc.port)

    # ------------------------------------------------ 1. AKA registration
    s = Sipp(lab, "sipp-register", "register.xml", tunnel.port, SIPP_REG)
    s.check(1, "SIPp registers with AKAv1-MD5 through socat")
    lab.check(re.search(r"registered, Service-Route sip:orig@127\.0\.0\.1:"
                        r"%d;" % sc.port, s.log("log")) is not None,
              "SIPp got the S-CSCF's Service-Route in the 200")
    lab.check(pc.wait_log(r"registered IMPI %s IMPUs %s bound to flow \d+ "
                          r"\(tls:127\.0\.0\.1:" % (re.escape(impi(SIPP_REG)),
                                                  re.escape(impu(SIPP_REG))), 3)
              is not None,
              "the P-CSCF bound SIPp's registration to its TLS flow")
    lab.check(re.search(r"trusting certificate, commonName matches.*\n"
                        r"(.*\n)*.*SSL connection using TLS",
                        tunnel.log_text()) is not None,
              "socat verified the P-CSCF's certificate and carried SIPp's "
              "bytes over TLS")
    lab.check(sc.wait_log(r"REGISTER %s: 401 AKAv1-MD5 challenge" %
                          re.escape(impi(SIPP_REG)), 1) is not None and
              sc.wait_log(r"REGISTER %s: 200 registered" %
                          re.escape(impi(SIPP_REG)), 1) is not None,
              "the S-CSCF challenged SIPp with AKAv1-MD5 and registered it")

    # A P-CSCF that requires sec-agree (RFC 3329) refuses SIPp's REGISTER,
    # which has no Security-Client: SIPp needs the default.
    strict = start_pcscf_plain_core(lab, d, sc.port, "--require-sec-agree",
                                    name="pcscf-sec-agree")
    strict_tunnel = socat(lab, "socat-sec-agree", strict.port)
    s = Sipp(lab, "sipp-sec-agree", "register.xml", strict_tunnel.port,
             SIPP_REG, timeout_s=10)
    rc = s.wait()
    lab.check(rc == 1 and s.stats().get("FailedCall(C)") == 1 and
              re.search(r"(?m)^SIP/2\.0 421 ", s.log("messages")) is not None,
              "with --require-sec-agree the P-CSCF answers SIPp's REGISTER "
              "421 and SIPp fails the call (exit %s)" % rc)
    strict_tunnel.stop()
    strict.stop()

    pc_addr = "127.0.0.1:%d" % pc.port

    # ------------------------- 2. SIPp calls `imsec ue run` (auto-answer)
    prof_x = ue_profile(lab, d, UE_X)
    ux = start_bg(lab, "ue-run", "ue", "run", "-c", prof_x, "--pcscf",
                  pc_addr, "--pcscf-name", PCSCF)
    lab.check(pc.wait_log(r"registered IMPI %s " % re.escape(impi(UE_X)), 10)
              is not None, "imsec ue run registered")
    s = Sipp(lab, "sipp-uac", "uac_call.xml", tunnel.port, SIPP_UAC,
             "-key", "callee", impu(UE_X), "-d", str(HOLD_MS),
             calls=2)
    if s.check(2, "SIPp (UAC) calls imsec ue run and hangs up"):
        through_proxies(lab, response_in(s, 200, "INVITE"),
                        "SIPp -> UE, the 200 to the INVITE", pc, sc)
    crossed(lab, pc, sc, impu(SIPP_UAC), UE_X, "SIPp -> UE")
    lab.check(wait_text(ux.out, r"^call from sip:%s@%s.*: answered" %
                        (imsi(SIPP_UAC), re.escape(HOME)), 3) is not None,
              "imsec ue run printed the call from SIPp as answered")
    lab.check(wait_text(ux.out, r"^call ended \(remote-bye\)", 3)
              is not None, "imsec ue run printed the end of the call (BYE)")

    # --------------------------- 3. `imsec ue call` calls SIPp (UAS)
    s = Sipp(lab, "sipp-uas", "uas_register.xml", tunnel.port, SIPP_UAS,
             ooc="uas_answer.xml")
    lab.check(pc.wait_log(r"registered IMPI %s " % re.escape(impi(SIPP_UAS)),
                          10) is not None, "SIPp (UAS) registered")
    prof_y = ue_profile(lab, d, UE_Y)
    cp = subprocess.run([lab.imsec, "ue", "call", "-c", prof_y, "--pcscf",
                         pc_addr, "--pcscf-name", PCSCF, "--to",
                         impu(SIPP_UAS), "--hold", "1", "--timeout", "15"],
                        cwd=lab.dir, capture_output=True, text=True,
                        timeout=40)
    lab.check(cp.returncode == 0 and
              "call: ended cleanly (BYE 200)" in cp.stdout,
              "imsec ue call -> SIPp: exit 0, ended cleanly (exit %d: %s)"
              % (cp.returncode, " | ".join(
                  l for l in cp.stdout.splitlines() if l.startswith("call:"))
                 or cp.stderr.strip()[-300:]))
    if cp.returncode != 0:
        s.proc.stop()  # no call is coming: do not wait for -timeout
    if s.check(1, "SIPp (UAS) answers imsec ue call, takes ACK and BYE"):
        through_proxies(lab, first_in(s, "INVITE "),
                        "UE -> SIPp, the INVITE SIPp got", pc, sc)
        lab.check("call answered and ended by BYE" in s.log("log"),
                  "SIPp's answering scenario ran to its end")
    crossed(lab, pc, sc, impu(UE_Y), SIPP_UAS, "UE -> SIPp")

    # --------------------------------------- 4. SIPp calls SIPp
    s_uas = Sipp(lab, "sipp-uas2", "uas_register.xml", tunnel.port,
                 SIPP_UAS2, ooc="uas_answer.xml")
    lab.check(pc.wait_log(r"registered IMPI %s " %
                          re.escape(impi(SIPP_UAS2)), 10) is not None,
              "the second SIPp (UAS) registered")
    s_uac = Sipp(lab, "sipp-uac2", "uac_call.xml", tunnel.port, SIPP_UAC2,
                 "-key", "callee", impu(SIPP_UAS2), "-d",
                 str(HOLD_MS), calls=2)
    if not s_uac.check(2, "SIPp (UAC) calls SIPp (UAS) and hangs up"):
        s_uas.proc.stop()  # no call is coming: do not wait for -timeout
    s_uas.check(1, "SIPp (UAS) answered SIPp, took ACK and BYE")
    crossed(lab, pc, sc, impu(SIPP_UAC2), SIPP_UAS2, "SIPp -> SIPp")


    # ------------------- 5. SIPp gives up: CANCEL to a ringing ue run
    ur = start_bg(lab, "ue-ring", "ue", "run", "-c", ue_profile(lab, d, UE_RING),
                  "--pcscf", pc_addr, "--pcscf-name", PCSCF, "--answer",
                  "ring")
    lab.check(pc.wait_log(r"registered IMPI %s " % re.escape(impi(UE_RING)),
                          10) is not None,
              "imsec ue run --answer ring registered")
    s = Sipp(lab, "sipp-cancel", "uac_cancel.xml", tunnel.port, SIPP_CANCEL,
             "-key", "callee", impu(UE_RING), "-d", str(HOLD_MS), calls=2)
    if s.check(2, "SIPp (UAC) CANCELs its ringing call: 200 to the CANCEL, "
                  "487 to the INVITE, ACKed"):
        lab.check(response_in(s, 487, "INVITE") != "" and
                  response_in(s, 200, "CANCEL") != "",
                  "SIPp got the 200 to its CANCEL and the INVITE's 487")
    orig = pc.wait_log(r"INVITE from flow (\d+) as %s -> " %
                       re.escape(impu(SIPP_CANCEL)), 1)
    fc = orig.group(1) if orig else "?"
    lab.check(pc.wait_log(r"CANCEL from flow %s forwarded" % fc, 2)
              is not None and
              pc.wait_log(r"ACK of a non-2xx on flow %s absorbed" % fc, 2)
              is not None,
              "the P-CSCF matched SIPp's CANCEL to its INVITE and absorbed "
              "the ACK of the 487 (RFC 3261 §16.10, §17.2.1)")
    lab.check(sc.wait_log(r"INVITE CANCELled upstream", 2) is not None and
              sc.wait_log(r"CANCEL to branch ", 1) is not None,
              "the S-CSCF CANCELled the branch to the ringing UE")
    lab.check(wait_text(ur.out, r"^call from sip:%s@%s.*: cancelled \(487\)"
                        % (imsi(SIPP_CANCEL), re.escape(HOME)), 3) is not None,
              "imsec ue run printed SIPp's call as cancelled (487)")
    ur.stop()
    ux.stop()
