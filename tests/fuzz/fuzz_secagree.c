/* Fuzz lib/secagree (RFC 3329): a Security-Client/-Server/-Verify list as
 * raw text and as the Security-Verify field of a REGISTER. Invariants:
 * equality is reflexive and symmetric, a list survives build and parse,
 * select returns an index of the list, the downgrade check passes the
 * list just parsed and never an empty Verify. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/secagree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096)
    return 0;
  /* A NUL octet splits the input into two lists. */
  const uint8_t *nul = memchr(data, 0, size);
  imsec_str a = {(const char *)data, nul ? (size_t)(nul - data) : size};
  imsec_str b =
      nul ? (imsec_str){(const char *)nul + 1, size - (size_t)(nul - data) - 1}
          : IMSEC_STR_LIT(IMSEC_SECAGREE_SERVER);
  imsec_secagree_list la, lb, lc;
  if (imsec_secagree_parse(a, &la) < 0)
    return 0;
  if (!imsec_secagree_equal(&la, &la))
    abort();
  if (imsec_secagree_parse(b, &lb) == 0) {
    if (imsec_secagree_equal(&la, &lb) != imsec_secagree_equal(&lb, &la))
      abort();
    long s = imsec_secagree_select(&la, &lb);
    if (s >= (long)la.n || (s < 0 && s != IMSEC_ERR_NOTFOUND))
      abort();
  }
  imsec_str server;
  if (imsec_secagree_answer(&la, &server) == 0 &&
      imsec_secagree_find(&la, "tls") < 0)
    abort();

  char text[8192];
  int n = imsec_secagree_build(&la, text, sizeof(text));
  if (n < 0)
    abort(); /* the input fits, so its rebuilt list does */
  if (imsec_secagree_parse((imsec_str){text, (size_t)n}, &lc) < 0 ||
      !imsec_secagree_equal(&la, &lc))
    abort();

  /* The same list as the Security-Verify of a request. */
  if (memchr(text, '\r', (size_t)n) || memchr(text, '\n', (size_t)n))
    return 0;
  static char msg[9000];
  int ml = snprintf(msg, sizeof(msg),
                    "REGISTER sip:a SIP/2.0\r\nVia: SIP/2.0/TLS h;branch="
                    "z9hG4bK1\r\nFrom: <sip:u@a>;tag=1\r\nTo: <sip:u@a>\r\n"
                    "Call-ID: c\r\nCSeq: 1 REGISTER\r\n"
                    "Security-Verify: %s\r\nContent-Length: 0\r\n\r\n",
                    text);
  if (ml < 0 || (size_t)ml >= sizeof(msg))
    return 0;
  imsec_sip_limits lim;
  imsec_sip_limits_default(&lim);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, &lim);
  if (imsec_sip_parse(&m, msg, (size_t)ml, 1) == 0) {
    int rv = imsec_secagree_verify_msg(&m, (imsec_str){text, (size_t)n});
    if (la.n && rv != 0)
      abort();
    if (!la.n && rv == 0)
      abort();
  }
  imsec_sip_msg_free(&m);
  return 0;
}
