#!/usr/bin/env python3
"""REGISTERs that name what does not exist must flood neither the log nor
the S-CSCF.

  - 2000 REGISTERs for unknown IMPIs from one source: each gets 403 (or,
    past the source's failure limit, 503 with Retry-After); the
    "unknown subscriber" log lines stay within the log budget (ten a
    second, the next saying how many were held back), not one a request;
  - the source reaches its failure limit: 503 with Retry-After;
  - an IMPU outside its IMPI's set and a Digest uri other than the
    Request-URI are refused the same way: counted, logged within budget.
"""
import time

from attacklib import (HOME, Lab, hdr, impu, initial_auth, register,
                       start_scscf_direct, status)

N = 2000
LIMIT = 300  # --source-failures


def flood(lab, sc, make, n):
    c = lab.connect_tcp(sc.port)
    for i in range(n):
        c.send(make(i))
    got = []
    for _ in range(n):
        got.append(c.recv(10))
    c.close()
    return got


def main():
    with Lab() as lab:
        lab.hss_add(1)
        sc = start_scscf_direct(lab, "--source-failures", str(LIMIT))
        t0 = time.monotonic()
        got = flood(lab, sc, lambda i: register(
            100 + i, cseq=i + 1, auth=initial_auth(100 + i)), N)
        secs = time.monotonic() - t0
        codes = [status(m) for m in got]
        count = {s: codes.count(s) for s in set(codes)}
        time.sleep(0.3)
        lines = [ln for ln in sc.log_text().splitlines()
                 if "unknown subscriber" in ln]
        bound = 10 * (int(secs) + 2)
        lab.check(len(lines) <= bound,
                  "%d unknown-IMPI REGISTERs in %.1f s: %d 'unknown "
                  "subscriber' lines (at most %d)" %
                  (N, secs, len(lines), bound))
        lab.check(set(codes) <= {403, 503},
                  "every one answered 403 or 503: %s" % count)
        lab.check(count.get(403, 0) == LIMIT,
                  "403 until the source's failure limit (%d): %d" %
                  (LIMIT, count.get(403, 0)))
        over = [m for m in got if status(m) == 503]
        lab.check(over and all(hdr(m, "Retry-After") for m in over),
                  "then 503 with Retry-After: %d" % len(over))
        said = sc.log_text().count("too many failed requests from this "
                                   "source")
        lab.check(said == 1, "the limit is logged once: %d" % said)

        # The other refusals of a claim, on a fresh S-CSCF: counted too.
        lab.hss_add(2)
        sc2 = start_scscf_direct(lab, "--source-failures", "5",
                                 name="scscf2")
        bad_impu = lambda i: register(
            2, cseq=i + 1, auth=initial_auth(2)).replace(
                "To: <%s>" % impu(2), "To: <%s>" % impu(1)).replace(
                "From: <%s>" % impu(2), "From: <%s>" % impu(1))
        codes = [status(m) for m in flood(lab, sc2, bad_impu, 8)]
        lab.check(codes[:5] == [403] * 5 and codes[5:] == [503] * 3,
                  "IMPU outside its set: 403 then 503 at the limit: %s"
                  % codes)
        sc3 = start_scscf_direct(lab, "--source-failures", "5",
                                 name="scscf3")
        bad_uri = lambda i: register(
            1, cseq=i + 1, auth=initial_auth(1, uri="sip:other." + HOME))
        codes = [status(m) for m in flood(lab, sc3, bad_uri, 8)]
        lab.check(codes[:5] == [400] * 5 and codes[5:] == [503] * 3,
                  "Digest uri not the Request-URI: 400 then 503 at the "
                  "limit: %s" % codes)
        lab.check(sc.alive() and sc2.alive() and sc3.alive(),
                  "S-CSCFs alive")


if __name__ == "__main__":
    main()
