"""`imsec ue call` between the real daemons: a UE registers through the
P-CSCF and calls; every SIP message of the call is one ladder line on
stdout ("-> INVITE sip:...", "<- 486 Busy Here", "-> ACK sip:..."), a
refused call is one line "call: rejected CODE REASON" and exit 1, with the
non-2xx ACKed (RFC 3261 §17.1.1.3) and the UE de-registered afterwards.
The callee runs `imsec ue run --busy`: once the core routes calls it
answers 486; a core that does not route INVITE refuses it itself, which
the caller reports the same way."""
import os
import re
import subprocess

from attacklib import (HOME, K, OPC, TRUST_DOMAIN, Lab, start_pcscf_plain_core,
                       start_scscf_direct)

PCSCF_NAME = "pcscf." + HOME


def profile(lab, pki, n):
    path = lab.path("ue%d.yaml" % n)
    lab.run("isim", "new", "--imsi", "00101000000000%d" % n, "--mnc-len",
            "2", "--trust-domain", TRUST_DOMAIN, "--anchors",
            os.path.join(pki, "root.crt"), "--home-ca",
            os.path.join(pki, "op-mcc001-mnc001.crt"), "--out", path)
    with open(path) as f:
        text = f.read()
    text = re.sub(r'(?m)^k: .*$', 'k: "%s"' % K, text)
    text = re.sub(r'(?m)^opc: .*$', 'opc: "%s"' % OPC, text)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


with Lab() as lab:
    pki = lab.pki(operators=("001",))
    lab.hss_add(1)
    lab.hss_add(2)
    scscf = start_scscf_direct(lab)
    pcscf = start_pcscf_plain_core(lab, pki, scscf.port)
    addr = "127.0.0.1:%d" % pcscf.port
    alice, bob = profile(lab, pki, 1), profile(lab, pki, 2)
    bob_impu = "sip:001010000000002@" + HOME
    lab.start("ue", "run", "-c", bob, "--pcscf", addr, "--pcscf-name",
                  PCSCF_NAME, "--busy", name="bob",
                  ready=r"-> REGISTER \(cseq 2")
    cp = subprocess.run([lab.imsec, "ue", "call", "-c", alice, "--pcscf",
                         addr, "--pcscf-name", PCSCF_NAME, "--to", bob_impu,
                         "--timeout", "15"], cwd=lab.dir,
                        capture_output=True, text=True, timeout=60)
    out = cp.stdout
    lab.check(cp.returncode == 1, "a refused call exits 1 (exit %d)"
              % cp.returncode)
    lab.check(re.search(r"(?m)^-> INVITE %s$" % re.escape(bob_impu), out)
              is not None, "the INVITE is a ladder line on stdout")
    m = re.search(r"(?m)^<- ([3-6]\d\d) (.+)$", out)
    lab.check(m is not None, "the final response is a ladder line")
    code = m.group(1) if m else "?"
    lab.check(re.search(r"(?m)^-> ACK sip:", out) is not None,
              "the non-2xx is ACKed (a ladder line)")
    lab.check(re.search(r"(?m)^call: rejected %s " % code, out) is not None,
              "one line says why: 'call: rejected %s ...'" % code)
    lab.check("-> REGISTER" not in out,
              "the ladder shows the call only, not the registration")
    lab.check(re.search(r"de-registered", cp.stderr) is not None,
              "the caller de-registers afterwards")
    if cp.returncode != 1:
        print(out)
        print(cp.stderr[-2000:])
