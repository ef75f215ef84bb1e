"""Unauthenticated REGISTER flood: 500 pipelined REGISTERs of one IMPI
(no response yet) must cost one authentication vector, not 500: each SQN
step is a disk write and a resource of the subscriber (TS 33.102 Annex C,
TS 33.203 §6.1). Every REGISTER gets the same challenge. A wrong
response then consumes the challenge (403) and the next REGISTER gets a
new one, carrying the very next SQN (read from AUTN as a UE does: the HSS
store keeps a reserved mark, not each vector's SQN)."""
import base64

from attacklib import (Lab, HOME, digest_param, hdr, initial_auth, register,
                       start_scscf_direct, status)

N = 500


def seq_of(sqn_hex):
    """SEQ of an SQN in hex (TS 33.102 C.3.2: 5 IND bits)."""
    return int(sqn_hex, 16) >> 5


def challenge_seq(lab, nonce):
    return seq_of(lab.challenge_sqn(base64.b64decode(nonce)))


with Lab() as lab:
    lab.hss_add(1)
    sc = start_scscf_direct(lab)
    c = lab.connect_tcp(sc.port)
    c.send("".join(register(1, cseq=i + 1, auth=initial_auth(1))
                   for i in range(N)))
    nonces, codes = [], []
    for _ in range(N):
        r = c.recv_or_none(10.0)
        if r is None:
            break
        codes.append(status(r))
        nonces.append(digest_param(hdr(r, "WWW-Authenticate"), "nonce"))
    lab.check(len(codes) == N, "%d answers to %d REGISTERs" % (len(codes), N))
    lab.check(all(x == 401 for x in codes),
              "every one is 401 (%s)" % sorted(set(codes)))
    lab.check(len(set(nonces)) == 1 and nonces[0],
              "one nonce for all of them (%d distinct)" % len(set(nonces)))
    first = challenge_seq(lab, nonces[0]) if nonces and nonces[0] else -1

    # A wrong response consumes the challenge: 403, then a new nonce.
    www = None
    c.send(register(1, cseq=N + 1, auth=initial_auth(1)))
    www = hdr(c.recv(5.0), "WWW-Authenticate")
    nonce = digest_param(www, "nonce")
    bad = ('Digest username="%s",realm="%s",nonce="%s",uri="sip:%s",'
           'response="%s",algorithm=AKAv1-MD5,integrity-protected="tls-yes"'
           % ("001010000000001@" + HOME, HOME, nonce, HOME, "0" * 32))
    c.send(register(1, cseq=N + 2, auth=bad))
    lab.check(status(c.recv(5.0)) == 403, "a wrong response gets 403")
    c.send(register(1, cseq=N + 3, auth=initial_auth(1)))
    r = c.recv(5.0)
    lab.check(status(r) == 401 and
              digest_param(hdr(r, "WWW-Authenticate"), "nonce") != nonce,
              "then a new challenge")
    second = challenge_seq(lab, digest_param(hdr(r, "WWW-Authenticate"),
                                              "nonce"))
    lab.check(second - first == 1,
              "and only then a second vector: the next SQN (SEQ %d -> %d)" %
              (first, second))
    # And the right answer to it registers.
    auth = lab.aka_authorization(1, hdr(r, "WWW-Authenticate"))
    c.send(register(1, cseq=N + 4, auth=auth + ',integrity-protected="tls-yes"'))
    lab.check(status(c.recv(5.0)) == 200, "the right response gets 200")
    c.close()
