/* Fuzz the logger's identity scanner (ops/log_redact.c): arbitrary
 * octets as log text, the first octet choosing a Call-ID to keep (none, or
 * a word of the text) and the output's size. Invariants: no crash, no
 * read or write out of bounds; the length returned is the whole output's
 * and a cut output is a prefix of the whole one; the output holds none of
 * the identities the scanner found (outside the kept Call-ID) and no
 * sip:, sips: or tel: identity a second pass would find. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/log_redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IDS 64

typedef struct rec {
  const char *ids[MAX_IDS];
  size_t lens[MAX_IDS];
  char *store;
  size_t used;
  size_t n;
  int uri_found;
} rec;

static void fake(void *arg, const char *id, size_t len,
                 char out[IMSEC_PSEUDONYM_LEN + 1]) {
  rec *r = arg;
  if (len == 0)
    abort();
  if ((len >= 4 &&
       (memcmp(id, "sip:", 4) == 0 || memcmp(id, "tel:", 4) == 0)) ||
      (len >= 5 && memcmp(id, "sips:", 5) == 0))
    r->uri_found = 1;
  if (r->n < MAX_IDS) {
    memcpy(r->store + r->used, id, len);
    r->ids[r->n] = r->store + r->used;
    r->lens[r->n] = len;
    r->used += len;
    r->n++;
  }
  /* Octets no identity holds (they end a URI and are no user or domain
   * character), so no identity can be read across a pseudonym and what
   * was before it. */
  memset(out, 0x01, IMSEC_PSEUDONYM_LEN);
  out[IMSEC_PSEUDONYM_LEN] = 0;
}

static int contains(const char *hay, size_t hn, const char *nd, size_t nn) {
  if (nn == 0 || nn > hn)
    return 0;
  for (size_t i = 0; i + nn <= hn; i++)
    if (memcmp(hay + i, nd, nn) == 0)
      return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 16 * 1024)
    return 0;
  unsigned sel = data[0];
  const char *text = (const char *)data + 1;
  /* Log text is a C string. */
  size_t len = strnlen(text, size - 1);

  /* keep: none, or the word at a place the selector picks. */
  const char *keep = NULL;
  size_t keep_len = 0;
  if ((sel & 3) && len > 0) {
    size_t at = (sel * 31u) % len;
    size_t e = at;
    while (e < len && text[e] != ' ')
      e++;
    keep = text + at;
    keep_len = e - at;
  }

  rec r = {.store = malloc(len + 1)};
  /* Worst case: every two octets ("a@b" shares none) become a pseudonym. */
  size_t cap = len * (IMSEC_PSEUDONYM_LEN + 1) + 1;
  char *full = malloc(cap);
  if (!r.store || !full)
    abort();
  size_t n = imsec_log_redact(text, len, keep, keep_len, fake, &r, full, cap);
  if (n >= cap || strlen(full) != n)
    abort();

  /* A cut output is a prefix of the whole one. */
  size_t small_cap = (sel >> 2) % (n + 2) + 1;
  char *small = malloc(small_cap);
  rec r2 = {.store = malloc(len + 1)};
  if (!small || !r2.store)
    abort();
  size_t m =
      imsec_log_redact(text, len, keep, keep_len, fake, &r2, small, small_cap);
  size_t sl = strlen(small);
  if (m != n || sl != (n < small_cap ? n : small_cap - 1) ||
      memcmp(small, full, sl) != 0)
    abort();

  /* No identity found is left in the output, unless the kept Call-ID
   * (written as it is) holds it. */
  for (size_t k = 0; k < r.n; k++) {
    if (keep && contains(keep, keep_len, r.ids[k], r.lens[k]))
      continue;
    /* Identities are given normalised (lower-case scheme and host);
     * compare with the text's own case only when it was already so. */
    if (contains(full, n, r.ids[k], r.lens[k]))
      abort();
  }

  /* A second pass finds no identity URI (the kept word aside). */
  if (!keep) {
    rec r3 = {.store = malloc(n + 1)};
    char *again = malloc(n * (IMSEC_PSEUDONYM_LEN + 1) + 1);
    if (!r3.store || !again)
      abort();
    imsec_log_redact(full, n, NULL, 0, fake, &r3, again,
                     n * (IMSEC_PSEUDONYM_LEN + 1) + 1);
    if (r3.uri_found)
      abort();
    free(r3.store);
    free(again);
  }

  free(r.store);
  free(r2.store);
  free(full);
  free(small);
  return 0;
}
