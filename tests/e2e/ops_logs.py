"""The daemons' JSON logs (docs/OPERATIONS.md, "Logs").

A P-CSCF and an S-CSCF with --log-format json, a UE registering through
both with `imsec ue register`, then SIGTERM. Every line either daemon
wrote on stderr is one JSON object with time (RFC 3339, UTC, with
milliseconds), level, elem and msg; the lines about the REGISTER carry
its flow and Call-ID; the subscriber's IMPI and IMPU appear nowhere, their
pseudonyms ("id-" and 12 hex digits) do, the same one for the IMPI in
every line of a daemon. The same run with --log-identities writes them as
they are.
"""
import json
import re
import subprocess

from attacklib import HOME, Lab, impi, impu, imsi, ue_profile

PCSCF = "pcscf." + HOME
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"error", "warn", "info", "debug"}
PSEUDONYM = re.compile(r"\bid-[0-9a-f]{12}\b")


def json_lines(lab, proc, who):
    """The daemon's stderr as JSON objects; a check per rule."""
    text = proc.log_text()
    lines = [l for l in text.split("\n") if l]
    objs, bad = [], []
    for l in lines:
        try:
            o = json.loads(l)
        except ValueError:
            bad.append(l)
            continue
        if not isinstance(o, dict):
            bad.append(l)
            continue
        objs.append(o)
    lab.check(lines and not bad,
              "%s: every stderr line is a JSON object (%d lines; not: %s)" %
              (who, len(lines), bad[:2]))
    fields = [o for o in objs
              if not (isinstance(o.get("time"), str) and
                      TIME.match(o["time"]) and o.get("level") in LEVELS and
                      isinstance(o.get("elem"), str) and o["elem"] and
                      isinstance(o.get("msg"), str))]
    lab.check(objs and not fields,
              "%s: every line has time (RFC 3339 UTC, ms), level, elem, msg "
              "(not: %s)" % (who, fields[:2]))
    typed = [o for o in objs
             if ("flow" in o and not (isinstance(o["flow"], int) and
                                      o["flow"] > 0)) or
             ("call_id" in o and not (isinstance(o["call_id"], str) and
                                      o["call_id"]))]
    lab.check(not typed, "%s: flow a number, call_id a string where given"
              " (not: %s)" % (who, typed[:2]))
    return objs, text


def register(lab, d, n, pc):
    cp = subprocess.run([lab.imsec, "ue", "register", "-c", ue_profile(lab, d,
                                                                       n),
                         "--pcscf", "127.0.0.1:%d" % pc.port, "--pcscf-name",
                         PCSCF, "--timeout", "8"], cwd=lab.dir,
                        capture_output=True, text=True, timeout=20)
    lab.check(cp.returncode == 0,
              "imsec ue register %d through both daemons (%s)" %
              (n, cp.stderr.strip()[-200:]))


def run(lab, d, n, *flags):
    tag = "ids" if flags else "anon"
    # Not through the lab's helpers: they ask --log-identities.
    sc = lab.start("scscf", "--listen", "tcp:127.0.0.1:0", "--domain", HOME,
                   "--db", lab.path("hss.db"), "--insecure-core",
                   "--peer-addr", "127.0.0.1", "--log-format", "json", *flags,
                   name="scscf-" + tag, log_identities=False,
                   ready=r"listening on tcp:127\.0\.0\.1:(\d+)")
    pc = lab.start("pcscf", "--listen", "tls:127.0.0.1:0",
                   "--cert", "%s/pcscf.%s.chain.pem" % (d, HOME),
                   "--key", "%s/pcscf.%s.key" % (d, HOME),
                   "--route", "%s=tcp:127.0.0.1:%d" % (HOME, sc.port),
                   "--core", "tcp:127.0.0.1:0", "--insecure-core",
                   "--peer-addr", "127.0.0.1", "--log-format", "json", *flags,
                   name="pcscf-" + tag, log_identities=False,
                   ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\)")
    register(lab, d, n, pc)
    # The element's lines come from the loop threads: wait for the last
    # of the REGISTER's before stopping.
    pc.wait_log(r"registered IMPI", 3)
    sc.wait_log(r"registered|REGISTER", 3)
    lab.check(pc.stop() == 0 and sc.stop() == 0,
              "%s: both daemons stop on SIGTERM" % tag)
    return (json_lines(lab, pc, "pcscf (%s)" % tag),
            json_lines(lab, sc, "scscf (%s)" % tag))


with Lab() as lab:
    d = lab.pki(operators=("001",))
    lab.hss_add(1)
    lab.hss_add(2)

    # Identities pseudonymised (the default).
    (pc_objs, pc_text), (sc_objs, sc_text) = run(lab, d, 1)
    for objs, who in ((pc_objs, "pcscf"), (sc_objs, "scscf")):
        lab.check(any(o.get("elem") == who and "listening on" in o["msg"]
                      for o in objs),
                  "%s: its own start line through the logger" % who)
        lab.check(any(o.get("msg") == "stopped" or
                      o.get("msg", "").startswith("stopped ")
                      for o in objs),
                  "%s: its stop line through the logger" % who)
        sip = [o for o in objs if "flow" in o and "call_id" in o]
        lab.check(sip, "%s: SIP event lines carry flow and call_id (%d)" %
                  (who, len(sip)))
    for text, who in ((pc_text, "pcscf"), (sc_text, "scscf")):
        for ident in (impi(1), impu(1), imsi(1)):
            lab.check(ident not in text,
                      "%s: %s nowhere in clear" % (who, ident))
    reg = [o for o in pc_objs if o["msg"].startswith("registered IMPI ")]
    lab.check(reg and PSEUDONYM.match(reg[0]["msg"].split()[2]),
              "pcscf: the registration line names the IMPI by its "
              "pseudonym (%s)" % (reg[0]["msg"] if reg else None))
    if reg:
        mine = reg[0]["msg"].split()[2]
        others = {p for o in pc_objs
                  for p in re.findall(r"IMPI (id-[0-9a-f]{12})\b", o["msg"])}
        lab.check(others == {mine},
                  "pcscf: one pseudonym for the IMPI in every line (%s)" %
                  sorted(others))
        lab.check(reg[0].get("flow") and reg[0].get("call_id"),
                  "pcscf: the registration line has its flow and Call-ID")

    # A REGISTER the S-CSCF parked for its HSS answer is logged, when it
    # runs again, with the flow and Call-ID it came with.
    chal = [o for o in sc_objs if "challenge" in o.get("msg", "")]
    lab.check(chal and all(o.get("flow") and o.get("call_id") for o in chal),
              "scscf: its challenge lines (after the HSS answered) carry "
              "flow and call_id (%s)" % (chal[:1],))

    # --log-identities: as they are.
    (pc_objs, pc_text), (sc_objs, sc_text) = run(lab, d, 2,
                                                 "--log-identities")
    lab.check(impi(2) in pc_text and impi(2) in sc_text,
              "--log-identities: the IMPI in clear in both daemons' logs")
    lab.check(impu(2) in pc_text + sc_text,
              "--log-identities: the IMPU in clear")
