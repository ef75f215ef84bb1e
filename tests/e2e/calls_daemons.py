"""Calls with the real daemons and the UE CLI on loopback (docs/CALLS.md):
`imsec scscf` (with its HSS), a home `imsec pcscf` and a visited one
(--visited-network, the visited operator's certificate), callees run by
`imsec ue run` and callers by `imsec ue call`.

- Home call: `ue call` exits 0 and prints the ladder with the call's
  messages in order (-> INVITE, <- 100, <- 180, <- 200, -> ACK, -> BYE,
  <- 200) and `call: ended cleanly (BYE 200)`; the callee prints the call
  as answered and its end (remote-bye).
- Roaming call: a caller registered through the visited P-CSCF calls a
  UE at home: exit 0; the visited P-CSCF took the INVITE.
- Busy: `ue run --busy`: the caller exits 1 with 486.
- No answer: `ue run --answer ring`, `ue call --cancel-after 1`: the
  caller CANCELs and exits 1 with 487.
- A target known to the HSS but not registered: exit 1 with 480; one the
  HSS does not know: 404.
"""
import re
import subprocess
import time

from attacklib import (HOME, VISITED, Lab, impi, impu, start_bg,
                      start_pcscf_plain_core, start_scscf_direct, ue_profile,
                      wait_text)

PCSCF = "pcscf." + HOME
PCSCF_V = "pcscf." + VISITED
CALLER, ROAMER, CALLEE, BUSY, RING, UNREGISTERED, UNKNOWN = 1, 2, 3, 4, 5, 6, 99
LADDER = [r"-> INVITE ", r"<- 100 ", r"<- 180 ", r"<- 200 ", r"-> ACK ",
          r"-> BYE ", r"<- 200 "]






def call(lab, prof, pcscf_port, pcscf_name, to, *extra, timeout=30):
    """`imsec ue call`: the CompletedProcess (None when it had to be
    killed after `timeout` s)."""
    try:
        return subprocess.run(
            [lab.imsec, "ue", "call", "-c", prof, "--pcscf",
             "127.0.0.1:%d" % pcscf_port, "--pcscf-name", pcscf_name,
             "--to", to, "--timeout", "15"] + list(extra),
            cwd=lab.dir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def show(cp):
    """The exit code and the `call:` lines of `ue call` (else the end of
    its log)."""
    if cp is None:
        return "killed after its time"
    said = [l for l in cp.stdout.splitlines() if l.startswith("call:")]
    return "exit %d: %s" % (cp.returncode, " | ".join(said) or
                            " | ".join(cp.stderr.strip().splitlines()[-3:]))


def crossed(lab, pc_orig, pc_term, sc, caller, callee, what):
    """The call from subscriber `caller` to `callee` crossed the daemons:
    the caller's P-CSCF took the INVITE, ACK and BYE on the caller's flow;
    the callee's P-CSCF sent each on the flow the callee's registration is
    bound to (TS 24.229 §5.2.6.3, RFC 5626 §5.3); the S-CSCF routed the
    INVITE to the callee and the BYE by its Route."""
    orig = pc_orig.wait_log(r"INVITE from flow (\d+) as %s -> " %
                            re.escape(impu(caller)), 2)
    bound = pc_term.wait_log(r"registered IMPI %s IMPUs .* bound to flow "
                             r"(\d+)" % re.escape(impi(callee)), 1)
    if not lab.check(orig is not None and bound is not None,
                     "%s: %s took the INVITE from the caller's flow"
                     % (what, pc_orig.name)):
        return
    fc, fe = orig.group(1), bound.group(1)
    missing = [r for p, r in ((pc_orig, r"ACK in dialog from flow %s " % fc),
                              (pc_orig, r"BYE in dialog from flow %s " % fc),
                              (pc_term, r"INVITE for flow %s " % fe),
                              (pc_term, r"ACK for flow %s " % fe),
                              (pc_term, r"BYE for flow %s " % fe))
               if p.wait_log(r, 2) is None]
    lab.check(not missing, "%s: ACK and BYE left the caller's flow %s in "
              "its dialog; INVITE, ACK and BYE reached the callee's "
              "registered flow %s (missing: %s)" % (what, fc, fe, missing))
    lab.check(sc.wait_log(r"INVITE to %s via " %
                          re.escape(impu(callee)[len("sip:"):]), 2)
              is not None and
              sc.wait_log(r"BYE to the next Route via ", 1) is not None,
              "%s: the S-CSCF routed the INVITE to the callee and the BYE "
              "by its Route" % what)


def in_order(out, patterns):
    """Whether the lines of `out` hold the patterns in this order (other
    lines between them allowed); the pattern that was not found."""
    lines = out.splitlines()
    i = 0
    for pat in patterns:
        while i < len(lines) and not re.search(pat, lines[i]):
            i += 1
        if i == len(lines):
            return pat
        i += 1
    return None


with Lab() as lab:
    d = lab.pki(operators=("001", "002"))
    for n in (CALLER, ROAMER, CALLEE, BUSY, RING, UNREGISTERED):
        lab.hss_add(n)
    sc = start_scscf_direct(lab, "--log-level", "debug")
    home = start_pcscf_plain_core(lab, d, sc.port, "--log-level", "debug",
                                  name="pcscf-home")
    # The visited network's P-CSCF: its operator's certificate, the home
    # S-CSCF as the route of the home domain (TS 24.229 §5.2.2).
    visited = lab.start(
        "pcscf", "--listen", "tls:127.0.0.1:0",
        "--cert", "%s/pcscf.%s.chain.pem" % (d, VISITED),
        "--key", "%s/pcscf.%s.key" % (d, VISITED),
        "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc.port),
        "--core", "tcp:127.0.0.1:0", "--insecure-core",
        "--peer-addr", "127.0.0.1", "--visited-network", VISITED,
        "--log-level", "debug", name="pcscf-visited",
        ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
              r"tcp:127\.0\.0\.1:(\d+)")

    profs = {n: ue_profile(lab, d, n, ("op-mcc001-mnc002.crt",))
             for n in (CALLER, ROAMER, CALLEE, BUSY, RING, UNREGISTERED)}
    ues = {}
    for n, name, extra in ((CALLEE, "callee", ()),
                           (BUSY, "callee-busy", ("--busy",)),
                           (RING, "callee-ring", ("--answer", "ring"))):
        ues[n] = start_bg(lab, name, "ue", "run", "-c", profs[n], "--pcscf",
                          "127.0.0.1:%d" % home.port, "--pcscf-name", PCSCF,
                          *extra)
    for n in ues:
        lab.check(home.wait_log(r"registered IMPI %s " % re.escape(impi(n)),
                                10) is not None,
                  "callee %s (ue run) registered at home" % ues[n].name)

    # ------------------------------------------------------- home call
    cp = call(lab, profs[CALLER], home.port, PCSCF, impu(CALLEE), "--hold",
              "1", "--ladder")
    lab.check(cp is not None and cp.returncode == 0,
              "home call: ue call exits 0 (%s)" % show(cp))
    missing = in_order(cp.stdout if cp else "", LADDER)
    lab.check(missing is None,
              "home call: the ladder shows INVITE, 100, 180, 200, ACK, BYE, "
              "200 in order (missing or out of order: %s)" % missing)
    lab.check(cp is not None and
              "call: ended cleanly (BYE 200)" in cp.stdout,
              "home call: 'call: ended cleanly (BYE 200)'")
    callee = ues[CALLEE]
    lab.check(wait_text(callee.out, r"^call from %s.*: answered" %
                        re.escape(impu(CALLER)), 3) is not None,
              "home call: the callee printed the call as answered")
    lab.check(wait_text(callee.out, r"^call ended \(remote-bye\)", 3)
              is not None, "home call: the callee printed the BYE's end")
    crossed(lab, home, home, sc, CALLER, CALLEE, "home call")

    # ---------------------------------------------------- roaming call
    cp = call(lab, profs[ROAMER], visited.port, PCSCF_V, impu(CALLEE),
              "--hold", "1", "--ladder")
    lab.check(cp is not None and cp.returncode == 0 and
              "call: ended cleanly (BYE 200)" in (cp.stdout or ""),
              "roaming call via the visited P-CSCF: exit 0, ended cleanly "
              "(%s)" % show(cp))
    lab.check(in_order(cp.stdout if cp else "", LADDER) is None,
              "roaming call: the ladder is complete and in order")
    crossed(lab, visited, home, sc, ROAMER, CALLEE, "roaming call")
    lab.check(wait_text(callee.out, r"^call from %s.*: answered" %
                        re.escape(impu(ROAMER)), 3) is not None,
              "roaming call: the home callee answered the roamer")

    # ------------------------------------------------------------ busy
    cp = call(lab, profs[CALLER], home.port, PCSCF, impu(BUSY))
    lab.check(cp is not None and cp.returncode == 1 and
              re.search(r"^call: rejected 486", cp.stdout, re.M) is not None,
              "busy callee: exit 1, 'call: rejected 486' (%s)" % show(cp))
    lab.check(wait_text(ues[BUSY].out, r"^call from %s.*: busy \(486\)" %
                        re.escape(impu(CALLER)), 3) is not None,
              "busy callee: ue run --busy printed busy (486)")

    # ------------------------------------------------ no answer: CANCEL
    t0 = time.monotonic()
    cp = call(lab, profs[CALLER], home.port, PCSCF, impu(RING),
              "--cancel-after", "1", "--ladder")
    took = time.monotonic() - t0
    lab.check(cp is not None and cp.returncode == 1 and
              re.search(r"^call: .*487", cp.stdout, re.M) is not None,
              "ringing callee, --cancel-after 1: exit 1 with 487 (%s)"
              % show(cp))
    lab.check(cp is not None and
              in_order(cp.stdout, [r"-> INVITE ", r"<- 180 ", r"-> CANCEL",
                                   r"<- 487 "]) is None,
              "no answer: the ladder shows INVITE, 180, CANCEL, 487")
    lab.check(took < 10, "no answer: the CANCEL came after about 1 s "
              "(the call took %.1f s)" % took)
    lab.check(wait_text(ues[RING].out, r"^call from %s.*: cancelled \(487\)"
                        % re.escape(impu(CALLER)), 3) is not None,
              "no answer: ue run --answer ring printed the call as "
              "cancelled (487)")

    # ------------------------------------------------ unreachable targets
    # RFC 3261 §21.4.18 / §21.4.5, TS 24.229 §5.4.3.3: a user the HSS
    # knows but who has no registered contact is temporarily unavailable;
    # one it does not know is not found.
    for what, n, code in (("registered nowhere", UNREGISTERED, 480),
                          ("unknown to the HSS", UNKNOWN, 404)):
        cp = call(lab, profs[CALLER], home.port, PCSCF, impu(n))
        lab.check(cp is not None and cp.returncode == 1 and
                  re.search(r"^call: rejected %d " % code, cp.stdout, re.M)
                  is not None,
                  "callee %s: exit 1, 'call: rejected %d' (%s)"
                  % (what, code, show(cp)))

    # The callees are still registered and answer again after all this.
    for n in ues:
        lab.check(ues[n].alive(), "%s still runs" % ues[n].name)
