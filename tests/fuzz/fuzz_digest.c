/* Fuzz the Digest header parsers (lib/digest/parse.c) and the builder:
 * no input reads or writes out of bounds, and whatever parses re-builds
 * and re-parses to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_FIELDS 17

static imsec_str *field(imsec_digest_params *p, int i) {
  imsec_str *f[N_FIELDS] = {
      &p->realm,
      &p->nonce,
      &p->opaque,
      &p->algorithm,
      &p->qop,
      &p->nc,
      &p->cnonce,
      &p->uri,
      &p->username,
      &p->response,
      &p->auts,
      &p->stale,
      &p->domain,
      &p->userhash,
      &p->ck,
      &p->ik,
      &p->integrity_protected,
  };
  return f[i];
}

/* The unescaped value, or -1 if it does not unescape. */
static int plain(imsec_str v, char *buf, size_t cap) {
  return imsec_digest_unquote(v, buf, cap);
}

static void check_round_trip(imsec_digest_kind kind, imsec_digest_params *p) {
  size_t cap = 8 * 1024 + 64 * 1024;
  char *buf = malloc(cap);
  char *a = malloc(IMSEC_DIGEST_MAX_VALUE + 1);
  char *b = malloc(IMSEC_DIGEST_MAX_VALUE + 1);
  if (!buf || !a || !b)
    abort();
  int n = imsec_digest_build(kind, p, buf, cap);
  if (n == IMSEC_ERR_INVAL)
    goto done; /* a value the builder refuses to put on the wire */
  if (n < 0)
    abort();
  imsec_digest_params q;
  int rv =
      kind == IMSEC_DIGEST_CHALLENGE
          ? imsec_digest_parse_challenge(imsec_str_make(buf, (size_t)n), &q)
          : imsec_digest_parse_credentials(imsec_str_make(buf, (size_t)n), &q);
  if (rv != 0)
    abort();
  for (int i = 0; i < N_FIELDS; i++) {
    imsec_str *x = field(p, i), *y = field(&q, i);
    if (!x->p || !y->p)
      continue;
    int la = plain(*x, a, IMSEC_DIGEST_MAX_VALUE + 1);
    int lb = plain(*y, b, IMSEC_DIGEST_MAX_VALUE + 1);
    if (la < 0 || lb != la || memcmp(a, b, (size_t)la) != 0)
      abort();
  }
done:
  free(buf);
  free(a);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  imsec_str v = imsec_str_make((const char *)data, size);
  imsec_digest_params p;
  char tmp[64];

  if (imsec_digest_parse_challenge(v, &p) == 0) {
    (void)imsec_digest_qop_has(p.qop, "auth");
    imsec_digest_alg alg;
    (void)imsec_digest_alg_parse(p.algorithm, &alg);
    uint8_t rand[16], autn[16];
    size_t extra;
    (void)imsec_digest_aka_nonce_decode(p.nonce, rand, autn, &extra);
    check_round_trip(IMSEC_DIGEST_CHALLENGE, &p);
  }
  if (imsec_digest_parse_credentials(v, &p) == 0) {
    uint32_t nc;
    if (imsec_digest_nc_parse(p.nc, &nc) < 0 &&
        (p.present & IMSEC_DIGEST_P_QOP))
      abort(); /* the parser promised a valid nc with qop */
    imsec_digest_qop qop;
    (void)imsec_digest_qop_parse(p.qop, &qop);
    (void)imsec_digest_unquote(p.username, tmp, sizeof(tmp));
    check_round_trip(IMSEC_DIGEST_CREDENTIALS, &p);
  }

  /* The tokeniser on its own from the start of the input. */
  imsec_cursor c;
  imsec_cursor_init(&c, (const char *)data, size);
  imsec_str name, val;
  int quoted;
  for (int i = 0; i < 1000; i++) {
    if (imsec_digest_next_param(&c, &name, &val, &quoted) <= 0)
      break;
  }
  return 0;
}
