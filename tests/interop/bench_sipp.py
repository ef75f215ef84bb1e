"""The generator comparison's parts still work together: the SIPp 3.6.1
scenario tests/bench/sipp/register_md5.xml (MD5 digest REGISTER over
TCP, one connection per registration, credentials from the injection
file made from the bench's credentials file) and `imsec bench run --mode
tcp`, both against the bench's Kamailio (tests/bench/kamailio/, its TCP
listener), driven by tests/bench/generators.py for one short round at
a low rate and a few in flight.

Checked: generators.py exits 0 and writes its JSON; every run of either
generator registered some subscribers and none failed (SIPp's
SuccessfulCall and FailedCall, the bench's totals); the summary has a
ratio for each load. No speed is asserted. Exit 77 when SIPp or Kamailio
is missing (scripts/packages.txt: sip-tester, kamailio).
"""
import json
import os
import shutil
import subprocess
import sys

from attacklib import Lab

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), "bench", "generators.py")

PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin"
if not shutil.which("sipp") or not shutil.which("kamailio", path=PATH):
    print("SKIP: sipp or kamailio missing (scripts/packages.txt: "
          "sip-tester, kamailio)")
    sys.exit(77)

with Lab() as lab:
    out = lab.path("generators.json")
    cp = subprocess.run([sys.executable, SCRIPT, "--imsec", lab.imsec, "-n",
                         "50", "--rounds", "1", "--seconds", "1", "--rate",
                         "40", "--conc", "4", "--json", out],
                        capture_output=True, text=True, timeout=120)
    lab.check(cp.returncode == 0 and os.path.exists(out),
              "generators.py ran both generators against Kamailio (exit %d: "
              "%s)" % (cp.returncode, (cp.stdout + cp.stderr).strip()[-800:]))
    rep = {}
    if os.path.exists(out):
        with open(out) as f:
            rep = json.load(f)
    runs = rep.get("runs", [])
    for gen in ("sipp", "imsec"):
        for load in ("rate", "saturation"):
            r = [x for x in runs if x["gen"] == gen and x["load"] == load]
            lab.check(len(r) == 1 and r[0]["ok"] > 0 and r[0]["failed"] == 0,
                      "%s, load %s: every registration succeeded (%s)" %
                      (gen, load, r and {k: r[0][k] for k in
                                         ("ok", "failed", "exit")}))
    summ = rep.get("summary", {})
    lab.check(all(summ.get(l, {}).get("ratio_imsec_over_sipp") for l in
                  ("rate", "saturation")),
              "the summary has the imsec / SIPp ratio for both loads")
