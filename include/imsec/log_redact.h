/*
 * Pseudonymising identities in log text (ops/log_redact.c), the pure part
 * of the logger of include/imsec/ops.h: no I/O, no clock, no allocation,
 * no key. The logger hands it a function that turns one identity into its
 * pseudonym (HMAC-SHA-256 under the process's key); tests and the fuzz
 * target hand it their own.
 *
 * IMPIs and IMPUs are personal data (TS 23.003 §13.3, §13.4): an operator
 * keeps them out of logs unless asked to. What counts as an identity:
 *
 *  - a sip: or sips: URI with a user part (RFC 3261 §19.1.1:
 *    "sip:user@host"): the scheme, user and host (with a port) up to the
 *    first ';' (URI parameters) or '?' (headers) become one pseudonym; a
 *    sip: URI without '@' names a host (a Request-URI of REGISTER, a
 *    Route) and stays as it is;
 *  - a tel: URI (RFC 3966): always a subscriber's number, the scheme and
 *    number up to ';' become the pseudonym;
 *  - a bare user@domain name (an IMPI, TS 23.003 §13.3: NAI form): at
 *    least one user character (letters, digits and "-_.+!~*%$&#/^`{|}")
 *    before the '@' and a domain after it (letters, digits, '.', '-', or
 *    an IPv6 literal in brackets, with an optional ":port"), starting with
 *    a letter or digit. Further "@domain" parts directly after it belong
 *    to the same name.
 *
 * The schemes are matched without regard to case and only at the start of
 * a word (not after a letter or digit). A URI ends at white space, a
 * control character or one of <>"'(),\ ; a '.', ':' or ';' ending it is
 * left out (the end of a sentence). URI parameters and headers after the
 * identity stay in clear, but are scanned like any other text.
 *
 * Call-IDs (RFC 3261 §8.1.1.4) are often shaped "token@host". The Call-ID
 * of the event being logged (`keep`) is not an identity: where it appears
 * in the text as a whole word it stays as it is (the logger writes it in
 * its own call_id field anyway). Any other user@domain-shaped word,
 * another dialog's Call-ID included, is pseudonymised: the scanner cannot
 * tell them apart and errs on the side of the subscriber.
 */
#ifndef IMSEC_LOG_REDACT_H
#define IMSEC_LOG_REDACT_H

#include <stddef.h>

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "id-" and 12 lower-case hex digits. */
#define IMSEC_PSEUDONYM_LEN 15

/* Write the pseudonym of the identity id[0..len) to out (exactly
 * IMSEC_PSEUDONYM_LEN characters, then a NUL). The identity is given
 * normalised: the scheme and the part after the first '@' in lower case. */
typedef void (*imsec_pseudonym_fn)(void *arg, const char *id, size_t len,
                                   char out[IMSEC_PSEUDONYM_LEN + 1]);

/* Copy text[0..len) to out with every identity replaced by its pseudonym
 * and `keep` (keep_len octets, NULL or 0: none) left as it is. The output
 * is cut at cap - 1 octets and always NUL-terminated (cap > 0); a cut
 * never leaves part of an identity in clear, as identities are never
 * copied. Returns the length the whole output needs (as snprintf: a
 * return >= cap means it was cut). */
IMSEC_API size_t imsec_log_redact(const char *text, size_t len,
                                  const char *keep, size_t keep_len,
                                  imsec_pseudonym_fn fn, void *arg, char *out,
                                  size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_LOG_REDACT_H */
