/* Fuzz the stream framer: the first octet seeds the chunk sizes; the
 * events must not depend on how the stream was cut, and every message the
 * framer hands out is exactly what the parser takes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EV 512

typedef struct {
  int n;
  int err;
  size_t ev[MAX_EV]; /* kind, or MSG length + 16 */
} trace;

static void run(const char *s, size_t len, unsigned seed, trace *t) {
  imsec_sip_framer f;
  memset(t, 0, sizeof(*t));
  if (imsec_sip_framer_init(&f, 512, seed & 1) != 0)
    abort();
  size_t off = 0;
  while (off < len && !t->err) {
    size_t n = len - off;
    if (seed) {
      seed = seed * 1103515245u + 12345u;
      size_t c = 1 + (seed >> 16) % 64;
      if (c < n)
        n = c;
    }
    const char *p = s + off;
    size_t left = n;
    for (;;) {
      imsec_sip_frame fr;
      int used = imsec_sip_framer_feed(&f, p, left, &fr);
      if (used < 0) {
        t->err = used;
        break;
      }
      if ((size_t)used > left)
        abort();
      p += used;
      left -= (size_t)used;
      if (fr.kind == IMSEC_SIP_FRAME_MSG) {
        imsec_sip_msg m;
        imsec_sip_msg_init(&m, NULL);
        if (imsec_sip_parse(&m, fr.msg, fr.msg_len, 1) == 0 &&
            imsec_sip_msg_len(&m) != fr.msg_len)
          abort();
        imsec_sip_msg_free(&m);
      }
      if (fr.kind != IMSEC_SIP_FRAME_NONE && t->n < MAX_EV)
        t->ev[t->n++] =
            fr.kind == IMSEC_SIP_FRAME_MSG ? fr.msg_len + 16 : (size_t)fr.kind;
      if (fr.kind == IMSEC_SIP_FRAME_NONE && left == 0)
        break;
    }
    off += n;
  }
  imsec_sip_framer_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned seed = data[0] | 2u; /* never 0: always chunked */
  const char *s = (const char *)data + 1;
  trace whole, cut;
  run(s, size - 1, seed & 1, &whole); /* one feed (seed 0/1 keeps role) */
  run(s, size - 1, seed, &cut);
  if ((whole.err != 0) != (cut.err != 0))
    abort();
  int n = whole.n < cut.n ? whole.n : cut.n;
  for (int i = 0; i < n; i++) {
    if (whole.ev[i] != cut.ev[i])
      abort();
  }
  if (!whole.err && whole.n != cut.n)
    abort();
  return 0;
}
