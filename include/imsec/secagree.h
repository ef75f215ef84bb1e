/*
 * imsec secagree: the security mechanism agreement of RFC 3329 as both
 * ends run it over TLS (TS 24.229 §5.1.1 for the UE, §5.2.2 for the
 * P-CSCF; TS 33.203 Annex O and Annex X).
 *
 *   UE      REGISTER  Security-Client: tls            (the offer)
 *   P-CSCF  401       Security-Server: tls;q=0.1      (the answer)
 *   UE      REGISTER  Security-Verify: tls;q=0.1      (the echo)
 *
 * The P-CSCF answers an offer that names a mechanism it supports with its
 * own list (imsec_secagree_answer) and checks that the echo equals what it
 * sent (imsec_secagree_verify_msg, RFC 3329 §2.4: the downgrade check);
 * the UE picks the mechanism from the server's list
 * (imsec_secagree_select) and echoes that list (imsec_secagree_build).
 *
 * Each value is parsed by lib/sip's sec-mechanism grammar
 * (imsec_sip_secmech_parse, RFC 3329 §2.2): mechanism, q in thousandths
 * and the other parameters kept raw. Lists borrow the text they were
 * parsed from (a message or a caller's string), which must outlive them.
 * No allocation, no globals.
 */
#ifndef IMSEC_SECAGREE_H
#define IMSEC_SECAGREE_H

#include "imsec/base.h"
#include "imsec/sip.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mechanisms kept per list; a longer list is refused (IMSEC_ERR_LIMIT):
 * RFC 3329 names five, an offer needs no more. */
#define IMSEC_SECAGREE_MAX_MECHS 16
/* Parameters per mechanism (ipsec-3gpp carries eight). */
#define IMSEC_SECAGREE_MAX_PARAMS 16

/* What the UE offers (TS 33.203 Annex O: TLS) and what the P-CSCF answers
 * (RFC 3329 §2.2: q, its preference, for the echo to protect). */
#define IMSEC_SECAGREE_CLIENT "tls"
#define IMSEC_SECAGREE_SERVER "tls;q=0.1"

typedef struct imsec_secagree_list {
  imsec_sip_secmech mech[IMSEC_SECAGREE_MAX_MECHS];
  size_t n;
} imsec_secagree_list;

/* Parse a list as written in one field value ("tls;q=0.1, digest").
 * Empty or blank text is the empty list. Returns 0, IMSEC_ERR_PARSE (an
 * element that is not a sec-mechanism, an empty element, a bad q),
 * IMSEC_ERR_LIMIT (more than IMSEC_SECAGREE_MAX_MECHS mechanisms or
 * IMSEC_SECAGREE_MAX_PARAMS parameters in one). */
IMSEC_API IMSEC_MUST_USE int imsec_secagree_parse(imsec_str text,
                                                  imsec_secagree_list *out);

/* Parse every value of the Security-Client, -Server or -Verify fields of
 * a parsed message (`id`), in message order. Absent fields: the empty
 * list. Returns as imsec_secagree_parse, or IMSEC_ERR_INVAL (another
 * field). */
IMSEC_API IMSEC_MUST_USE int imsec_secagree_parse_msg(const imsec_sip_msg *m,
                                                      imsec_sip_hid id,
                                                      imsec_secagree_list *out);

/* The index in `l` of the first mechanism named `name`
 * (case-insensitive), or -1. */
IMSEC_API long imsec_secagree_find(const imsec_secagree_list *l,
                                   const char *name);

/* RFC 3329 §2.3.1 steps 3 and 4: the mechanism to use from `theirs`
 * (the peer's list): among those that `ours` names too, the one with the
 * highest q in `theirs` (no q counts below q=0), the first listed on a
 * tie. Returns its index in `theirs`, or IMSEC_ERR_NOTFOUND (nothing in
 * common, or an empty list). */
IMSEC_API long imsec_secagree_select(const imsec_secagree_list *theirs,
                                     const imsec_secagree_list *ours);

/* The P-CSCF's answer to a Security-Client offer (TS 24.229 §5.2.2.1):
 * when the offer names a mechanism of IMSEC_SECAGREE_SERVER, *server is
 * that list (a static slice, the Security-Server value of the 401).
 * Returns 0, or IMSEC_ERR_NOTFOUND (no common mechanism: 494). */
IMSEC_API IMSEC_MUST_USE int
imsec_secagree_answer(const imsec_secagree_list *offer, imsec_str *server);

/* Are two lists the same list (RFC 3329 §2.4)? The same mechanisms in the
 * same order, each with the same q and the same set of other parameters
 * with the same values (names and values case-insensitive, order free).
 * Symmetric. Returns 1 or 0. */
IMSEC_API int imsec_secagree_equal(const imsec_secagree_list *a,
                                   const imsec_secagree_list *b);

/* The downgrade check of RFC 3329 §2.4, TS 33.203 Annex O: the
 * Security-Verify fields of `m` must hold exactly the list `sent` (the
 * Security-Server value this end sent). Returns 0 (equal),
 * IMSEC_ERR_NOTFOUND (no Security-Verify), IMSEC_ERR_AUTH (a different
 * list: a downgrade attempt), IMSEC_ERR_PARSE / IMSEC_ERR_LIMIT (a
 * Security-Verify that does not parse, or `sent` that does not). */
IMSEC_API IMSEC_MUST_USE int imsec_secagree_verify_msg(const imsec_sip_msg *m,
                                                       imsec_str sent);

/* Write a list as one field value ("a;p=1, b") into buf (NUL-terminated):
 * each mechanism as parsed (its name and raw parameters), joined by ", ".
 * What the UE echoes in Security-Verify. Returns the length, or
 * IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_secagree_build(const imsec_secagree_list *l,
                                                  char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_SECAGREE_H */
