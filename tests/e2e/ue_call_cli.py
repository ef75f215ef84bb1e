"""`imsec ue call` and `imsec ue run --answer` between the real daemons
(P-CSCF and S-CSCF on loopback): every SIP message of a call is one ladder
line on the caller's stdout ("-> INVITE sip:...", "<- 180 Ringing", "->
ACK sip:..."). A callee answering auto: the call comes up, is held, ends
with our BYE answered 200: "call: ended cleanly (BYE 200)", exit 0; the
callee says "answered" and "ended (remote-bye)". A busy callee: "call:
rejected 486 Busy Here", the 486 ACKed (RFC 3261 §17.1.1.3), exit 1. A
callee that only rings: --cancel-after sends CANCEL after the 180 (§9.1),
the 487 is ACKed, exit 1. The caller de-registers afterwards. A caller
over DTLS (RFC 3261 §17 retransmissions in the UE) reaches a callee over
TLS the same way."""
import re
import subprocess

from attacklib import (HOME, Lab, start_pcscf_plain_core, start_scscf_direct,
                      ue_profile)

PCSCF_NAME = "pcscf." + HOME



def call(lab, profile_path, addr, to, *extra):
    cp = subprocess.run([lab.imsec, "ue", "call", "-c", profile_path,
                         "--pcscf", addr, "--pcscf-name", PCSCF_NAME, "--to",
                         to, "--hold", "1", "--timeout", "15"] + list(extra),
                        cwd=lab.dir, capture_output=True, text=True,
                        timeout=90)
    if cp.returncode not in (0, 1):
        print(cp.stdout)
        print(cp.stderr[-2000:])
    return cp


def line(out, regex):
    return re.search(r"(?m)^" + regex + r"$", out) is not None


with Lab() as lab:
    pki = lab.pki(operators=("001",))
    for n in (1, 2, 3, 4):
        lab.hss_add(n)
    scscf = start_scscf_direct(lab)
    pcscf = start_pcscf_plain_core(lab, pki, scscf.port, "--listen",
                                   "dtls:127.0.0.1:0")
    addr = "127.0.0.1:%d" % pcscf.port
    m = pcscf.wait_log(r"listening on dtls:127\.0\.0\.1:(\d+) \(UEs\)", 5)
    dtls_addr = "dtls:127.0.0.1:%s" % (m.group(1) if m else "0")
    alice = ue_profile(lab, pki, 1)
    alice_impu = "sip:001010000000001@" + HOME
    impu = {n: "sip:00101000000000%d@%s" % (n, HOME) for n in (2, 3, 4)}
    callee = {}
    for n, how in ((2, ["--answer", "auto", "--answer-delay-ms", "200"]),
                   (3, ["--busy"]), (4, ["--answer", "ring"])):
        callee[n] = lab.start("ue", "run", "-c", ue_profile(lab, pki, n),
                              "--pcscf", addr, "--pcscf-name", PCSCF_NAME,
                              *how, name="ue%d" % n,
                              ready=r"<- 200 OK: registered")

    # Answered, held, our BYE.
    cp = call(lab, alice, addr, impu[2])
    out = cp.stdout
    lab.check(cp.returncode == 0, "an answered call that ends cleanly exits 0 "
              "(exit %d)" % cp.returncode)
    lab.check(line(out, r"-> INVITE " + re.escape(impu[2])),
              "the INVITE is a ladder line on stdout")
    lab.check(line(out, r"<- 180 Ringing") and line(out, r"<- 200 OK"),
              "the 180 and the 200 are ladder lines")
    lab.check(line(out, r"-> ACK sip:\S+") and line(out, r"-> BYE sip:\S+"),
              "the ACK and the BYE are ladder lines")
    lab.check(line(out, r"call: ended cleanly \(BYE 200\)"),
              "'call: ended cleanly (BYE 200)'")
    lab.check("-> REGISTER" not in out,
              "the ladder shows the call only, not the registration")
    lab.check(re.search(r"de-registered", cp.stderr) is not None,
              "the caller de-registers afterwards")
    lab.check(callee[2].wait_log(r"call from %s: answered"
                                 % re.escape(alice_impu), 5) is not None,
              "the callee answered")
    lab.check(callee[2].wait_log(r"ended \(remote-bye\)", 5) is not None,
              "the callee saw our BYE")

    # Busy.
    cp = call(lab, alice, addr, impu[3])
    out = cp.stdout
    lab.check(cp.returncode == 1, "a refused call exits 1 (exit %d)"
              % cp.returncode)
    lab.check(line(out, r"<- 486 Busy Here") and
              line(out, r"-> ACK " + re.escape(impu[3])),
              "the 486 is ACKed (ladder lines)")
    lab.check(line(out, r"call: rejected 486 Busy Here"),
              "one line says why: 'call: rejected 486 Busy Here'")
    lab.check(callee[3].wait_log(r"busy \(486\)", 5) is not None,
              "the callee said busy")

    # Ringing until --cancel-after.
    cp = call(lab, alice, addr, impu[4], "--cancel-after", "1")
    out = cp.stdout
    lab.check(cp.returncode == 1, "a cancelled call exits 1 (exit %d)"
              % cp.returncode)
    lab.check(line(out, r"<- 180 Ringing") and
              line(out, r"-> CANCEL " + re.escape(impu[4])) and
              line(out, r"<- 487 Request Terminated"),
              "CANCEL after the 180, then the 487 (ladder lines)")
    lab.check(line(out, r"call: cancelled after 1 s without an answer "
                        r"\(487\)"), "one line says the call was cancelled")
    lab.check(callee[4].wait_log(r"ended \(cancelled\)", 5) is not None,
              "the callee saw the CANCEL")

    # The caller over DTLS, the callee over TLS.
    cp = call(lab, alice, dtls_addr, impu[2])
    lab.check(cp.returncode == 0 and
              line(cp.stdout, r"call: ended cleanly \(BYE 200\)"),
              "a call from a UE over DTLS to one over TLS ends cleanly "
              "(exit %d)" % cp.returncode)
