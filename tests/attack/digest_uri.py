"""The Digest uri must name the Request-URI (RFC 7616 §3.4.6, RFC 3261
§22.4): credentials computed for another resource are refused with 400,
both on the first REGISTER and on the answer to a challenge (where the
response itself is right for the uri it names). The S-CSCF compares them
as SIP URIs (RFC 3261 §19.1.4), so a change of case in the host is no
mismatch."""
from attacklib import (Lab, HOME, digest_param, hdr, initial_auth, register,
                       start_scscf_direct, status)

OTHER = "sip:other.example.org"

with Lab() as lab:
    lab.hss_add(1)
    sc = start_scscf_direct(lab)
    c = lab.connect_tcp(sc.port)

    c.send(register(1, auth=initial_auth(1, uri=OTHER)))
    r = c.recv(5.0)
    lab.check(status(r) == 400,
              "first REGISTER with uri=%s gets 400 (got %d)" %
              (OTHER, status(r)))

    c.send(register(1, cseq=2, auth=initial_auth(1)))
    r = c.recv(5.0)
    lab.check(status(r) == 401, "with the right uri: 401")
    www = hdr(r, "WWW-Authenticate")
    # A response that is right for the uri it names, but that uri is not
    # this request's.
    bad = lab.aka_authorization(1, www, uri=OTHER)
    c.send(register(1, cseq=3, auth=bad + ',integrity-protected="tls-yes"'))
    r = c.recv(5.0)
    lab.check(status(r) == 400, "answer for another uri gets 400 (got %d)" %
              status(r))
    lab.check(sc.wait_log(r"Digest uri is not the Request-URI", 2.0),
              "and is logged")

    # The same URI written with another case of the host is the same.
    up = "sip:" + HOME.upper()
    good = lab.aka_authorization(1, www, uri=up)
    c.send(register(1, cseq=4, auth=good + ',integrity-protected="tls-yes"'))
    r = c.recv(5.0)
    lab.check(status(r) == 200,
              "uri %s matches sip:%s (RFC 3261 §19.1.4): %d" %
              (up, HOME, status(r)))
    c.close()
