"""A core past one machine, as real processes on loopback: the HSS as a
Diameter Cx server (`imsec hss serve`, TS 29.228/29.229), two S-CSCFs that
use it as Cx clients and share their registrations in one Redis (each
names the other with --alias, so a Route to the dead one is taken by the
live one), and a P-CSCF whose route to the home domain lists both, in
order. `imsec bench run` drives registrations and MESSAGEs between
registered UEs; mid-run the first S-CSCF is killed with SIGKILL.

- at least 99% of the operations succeed (those in flight at the dead
  S-CSCF may fail; the P-CSCF retries REGISTERs on the next member and
  sends a dead member's Service-Route traffic to the live one);
- no registration is lost: every UE the generator registered, and the
  UE that stays registered through the dead S-CSCF, still has its record
  in Redis;
- a MESSAGE to that UE, registered through the dead S-CSCF, is delivered
  by the other one (it finds the registration in Redis);
- no SQN is reused: a UE that registers through one S-CSCF, then the
  other, is challenged with strictly increasing SQNs, none beyond what
  the HSS has handed out (its store's mark), and no S-CSCF ever saw a
  UE's synchronisation failure (which a UE sends for an SQN it has seen).

Bounded: about 25 s on the 2-core development machine.
"""
import base64
import json
import os
import re
import signal
import subprocess
import time

from attacklib import (HOME, Lab, digest_param, impi, impu, start_bg,
                       ue_profile, wait_text)
from servers import Redis

PCSCF = "pcscf." + HOME
BIG = "1000000"
BENCH_UES = 40
BENCH_FIRST = "001010000100001"  # clear of the lab's subscribers 1..3
BENCH_SECONDS = 10
KILL_AFTER = 4.0


def bench_impis():
    first = int(BENCH_FIRST)
    return ["%015d@%s" % (first + i, HOME) for i in range(BENCH_UES)]


def start_scscf(lab, name, port, sibling, hss_port, redis):
    """An S-CSCF on tcp:127.0.0.1:PORT: the HSS over Cx, registrations in
    Redis, the sibling as an alias; flood limits raised for a load test.
    Not waited for: an S-CSCF waits for its Cx peer to open before it
    listens, so both start at once and wait_ready() waits for each."""
    return lab.start(
        "scscf", "--listen", "tcp:127.0.0.1:%d" % port, "--domain", HOME,
        "--hss", "diameter:127.0.0.1:%d" % hss_port,
        "--diameter-identity", "%s.%s" % (name, HOME),
        "--diameter-realm", HOME, "--hss-identity", "hss." + HOME,
        "--hss-timeout", "3000",
        "--registrations", redis.url, "--alias", "127.0.0.1:%d" % sibling,
        "--insecure-core", "--peer-addr", "127.0.0.1",
        "--impi-challenges", BIG, "--source-challenges", BIG,
        "--impi-failures", BIG, "--source-failures", BIG,
        "--store-timeout", "10000", name=name)


def wait_ready(proc, timeout=20):
    if not proc.wait_log(r"listening on tcp:127\.0\.0\.1:(\d+)", timeout):
        raise RuntimeError("%s did not start:\n%s" %
                           (proc.name, proc.log_text()[-3000:]))


def challenge_sqns(lab, text):
    """The SQN of every AKA challenge (WWW-Authenticate of a 401) in a UE's
    --ladder output, in order."""
    out = []
    for m in re.finditer(r"(?mi)^WWW-Authenticate:\s*(.*)$", text):
        nonce = digest_param(m.group(1), "nonce")
        if not nonce:
            continue
        try:
            raw = base64.b64decode(nonce)
        except ValueError:
            continue
        if len(raw) >= 32:
            out.append(int(lab.challenge_sqn(raw), 16))
    return out


def redis_dump(redis):
    """Every key and value of the registration store as bytes, whatever
    the types the backend chose: the haystack the IMPIs are looked for
    in."""
    parts = []
    for k in redis.keys("*"):
        parts.append(k)
        t = redis.command("TYPE", k)
        if t == "string":
            v = redis.command("GET", k)
            parts.append(v or b"")
        elif t == "hash":
            parts.extend(x or b"" for x in redis.command("HGETALL", k))
        elif t == "set":
            parts.extend(redis.command("SMEMBERS", k))
        elif t == "zset":
            parts.extend(redis.command("ZRANGE", k, 0, -1))
        elif t == "list":
            parts.extend(redis.command("LRANGE", k, 0, -1))
    return b"\n".join(parts)


def ue(lab, verb, profile, pcscf_port, *extra, timeout=30):
    return subprocess.run(
        [lab.imsec, "ue", verb, "-c", profile, "--pcscf",
         "127.0.0.1:%d" % pcscf_port, "--pcscf-name", PCSCF, "--ladder",
         "--timeout", "15"] + list(extra),
        cwd=lab.dir, capture_output=True, text=True, timeout=timeout)


def last_lines(text, n=8):
    return " | ".join([l for l in text.splitlines() if l.strip()][-n:])


T0 = time.monotonic()


def step(what):
    print("%5.1f s  %s" % (time.monotonic() - T0, what), flush=True)


with Lab() as lab, Redis() as redis:
    pki = lab.pki(operators=("001",))
    db = lab.path("hss.db")
    lab.run("bench", "provision", "--db", db, "--out", lab.path("a.creds"),
            "-n", str(BENCH_UES), "--first-imsi", BENCH_FIRST)
    for n in (1, 2, 3):
        lab.hss_add(n)
    victim, sender, roamer = (ue_profile(lab, pki, n) for n in (1, 2, 3))
    step("subscribers and profiles made")

    # ------------------------------------------------------------ the core
    hss_port = lab.free_port()
    hss = lab.start("hss", "serve", "--db", db, "--diameter",
                    "tcp:127.0.0.1:%d" % hss_port, "--diameter-identity",
                    "hss." + HOME, "--diameter-realm", HOME, name="hss",
                    ready=r"hss info: listening on diameter tcp:127\.0\.0\.1:(\d+)")
    step("the HSS serves Cx")
    p1, p2 = lab.free_port(), lab.free_port()
    while p2 == p1:
        p2 = lab.free_port()
    sc1 = start_scscf(lab, "scscf1", p1, p2, hss_port, redis)
    sc2 = start_scscf(lab, "scscf2", p2, p1, hss_port, redis)
    wait_ready(sc1)
    wait_ready(sc2)
    step("both S-CSCFs listen")
    pc = lab.start("pcscf", "--listen", "tls:127.0.0.1:0",
                   "--cert", "%s/pcscf.%s.chain.pem" % (pki, HOME),
                   "--key", "%s/pcscf.%s.key" % (pki, HOME),
                   "--route", "%s=tcp:127.0.0.1:%d,tcp:127.0.0.1:%d" %
                   (HOME, p1, p2), "--options-interval", "1",
                   "--core", "tcp:127.0.0.1:0", "--insecure-core",
                   "--peer-addr", "127.0.0.1", "--max-flows-per-ip", "100000",
                   name="pcscf",
                   ready=r"listening on tls:127\.0\.0\.1:(\d+) \(UEs\) and "
                   r"tcp:127\.0\.0\.1:(\d+)")
    step("the core is up")

    # ---------------------------------- UEs registered through scscf1 first
    # The victim stays registered (and prints the MESSAGEs it gets); it
    # registers while both S-CSCFs live, so through the first member.
    # (stdout, where it prints the MESSAGEs, to victim.out)
    vic = start_bg(lab, "victim", "ue", "run", "-c", victim, "--pcscf",
                   "127.0.0.1:%d" % pc.port, "--pcscf-name", PCSCF)
    vic_out = vic.out
    if not vic.wait_log(r"<- 200 OK: registered", 15):
        raise RuntimeError("the victim did not register:\n" +
                           vic.log_text()[-2000:])
    lab.check(sc1.wait_log(re.escape(impi(1)), 3) is not None and
              re.search(re.escape(impi(1)), sc2.log_text()) is None,
              "the victim registered through scscf1 (the first member)")
    lab.check(wait_text(vic_out, r"^service-route: .*@127\.0\.0\.1:%d\b" %
                        p1, 3) is not None,
              "  its Service-Route names scscf1")
    # The roamer registers through scscf1 now and through scscf2 after the
    # kill: its challenges' SQNs are compared across both.
    r1 = ue(lab, "register", roamer, pc.port)
    lab.check(r1.returncode == 0, "a UE registers through scscf1 (%s)" %
              last_lines(r1.stdout + r1.stderr, 3))
    sqns = challenge_sqns(lab, r1.stderr)
    step("UEs registered through scscf1")

    # ------------------------------------------- load, and a kill mid-run
    out = lab.path("run.json")
    bench = subprocess.Popen(
        [lab.imsec, "bench", "run", "--target", "127.0.0.1:%d" % pc.port,
         "--creds", lab.path("a.creds"), "--ca",
         os.path.join(pki, "root.crt"), "--server-name", PCSCF,
         "--scenario", "register=1,message=1", "-c", "6", "-t",
         str(BENCH_SECONDS), "--timeout", "5000", "--no-status", "-q",
         "--json", out], cwd=lab.dir, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(KILL_AFTER)
    lab.check(sc1.alive(), "scscf1 still ran under load before the kill")
    sc1.signal(signal.SIGKILL)
    sc1.p.wait(5)
    step("scscf1 killed %.1f s into the run" % KILL_AFTER)

    # ------------- a MESSAGE to the victim, now served by scscf2 from Redis
    text = "after the kill %d" % os.getpid()
    m = ue(lab, "message", sender, pc.port, "--to", impu(1), text)
    lab.check(m.returncode == 0,
              "a MESSAGE to a UE registered through the dead S-CSCF is "
              "delivered (%s)" % last_lines(m.stdout + m.stderr, 4))
    lab.check(wait_text(vic_out, re.escape(text), 5) is not None,
              "  the victim received it")
    lab.check(re.search(r"MESSAGE to %s\b" % re.escape(impi(1)),
                        sc2.log_text()) is not None,
              "  by scscf2 (its registration read from Redis)")

    r2 = ue(lab, "register", roamer, pc.port)
    lab.check(r2.returncode == 0, "a UE registers through scscf2 after the "
              "kill (%s)" % last_lines(r2.stdout + r2.stderr, 3))
    sqns += challenge_sqns(lab, r2.stderr)

    try:
        bout, berr = bench.communicate(timeout=BENCH_SECONDS + 40)
    except subprocess.TimeoutExpired:
        bench.kill()
        bout, berr = bench.communicate()
    lab.check(bench.returncode == 0, "bench run exits 0 (%s)" %
              last_lines(bout + berr, 6))
    try:
        with open(out) as f:
            rep = json.load(f)
    except (OSError, ValueError) as e:
        rep = {"error": str(e)}
    t = rep.get("totals", {})
    att, ok = t.get("attempts", 0), t.get("ok", 0)
    print("bench: %s; statuses %s" % (t, rep.get("statuses")), flush=True)
    lab.check(att >= 100, "the run did some work (%d operations)" % att)
    lab.check(att and ok >= 0.99 * att,
              "at least 99%% of the operations succeeded (%d of %d)" %
              (ok, att))
    after = [s for s in rep.get("series", []) if s.get("t", 0) > KILL_AFTER]
    lab.check(sum(s.get("ok", 0) for s in after) > 0,
              "operations succeeded after the kill")

    # ----------------------------------------------- no registration lost
    hay = redis_dump(redis)
    # (the roamer and the sender de-registered: `ue register` and `ue
    # message` do when done)
    lost = [i for i in bench_impis() + [impi(1)] if i.encode() not in hay]
    lab.check(not lost, "no registration lost: all %d UEs are in Redis "
              "(missing: %s)" % (BENCH_UES + 1, lost[:5]))

    # ------------------------------------------------------ no SQN reused
    mark = int(lab.hss_sqn(3) or "0", 16)
    lab.check(len(sqns) >= 2 and sqns == sorted(set(sqns)),
              "the roamer's challenges through both S-CSCFs carry strictly "
              "increasing SQNs (%s)" % ["%x" % s for s in sqns])
    lab.check(sqns and max(sqns) <= mark,
              "  none beyond the HSS's mark (%x)" % mark)
    # An SQN a UE has seen (TS 33.102 Annex C) makes it answer with AUTS:
    # the S-CSCF logs the synchronisation failure and the resynchronisation.
    resync = [p.name for p in (sc1, sc2)
              if re.search(r"sync failure|resynchronis", p.log_text())]
    lab.check(not resync, "no UE saw a reused SQN (no synchronisation "
              "failure at %s)" % (resync or "either S-CSCF"))

    lab.check(hss.alive() and sc2.alive() and pc.alive(),
              "the HSS, scscf2 and the P-CSCF still run")
    vic.stop()
    step("done")
