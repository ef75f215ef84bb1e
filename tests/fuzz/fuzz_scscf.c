/* Fuzz the S-CSCF's message handling (lib/scscf): arbitrary bytes as SIP
 * messages on a few flows, with flows going up and down and timers firing
 * in between, never crash, read out of bounds or leak. The input is split
 * at "\n--\n" into up to 16 messages; the S-CSCF starts with two
 * subscribers (one registered by the harness through its own AKA run would
 * need the keys: the seeds carry REGISTERs that reach the challenge). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/hss.h"
#include "imsec/scscf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DOM "ims.mnc001.mcc001.3gppnetwork.org"

static imsec_crypto *crypto;

static void add(imsec_hss_store *st, const char *impi, const char *impu,
                imsec_hss_aka aka) {
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  strcpy(s.impi, impi);
  strcpy(s.impus[0], impu);
  s.n_impus = 1;
  memset(s.k, 0x46, 16);
  memset(s.op, 0xcd, 16);
  s.op_is_opc = 1;
  s.aka = aka;
  if (st->vt->add(st, &s) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!crypto && imsec_crypto_ossl_new(&crypto) != 0)
    abort();
  imsec_hss_store *st;
  imsec_hss *hss;
  imsec_scscf *s;
  if (imsec_hss_mem_new(&st) != 0)
    abort();
  add(st, "1@" DOM, "sip:1@" DOM, IMSEC_HSS_AKAV1);
  add(st, "2@" DOM, "sip:bob@" DOM, IMSEC_HSS_AKAV2);
  if (imsec_hss_new(&hss, st, crypto, NULL) != 0)
    abort();
  imsec_scscf_config cfg = {.domain = DOM};
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &cfg.self) != 0 ||
      imsec_scscf_new(&s, &cfg, crypto, hss) != 0)
    abort();
  imsec_out out;
  imsec_out_init(&out, IMSEC_LOG_DEBUG);
  imsec_time_ms now = 1000;
  (void)imsec_scscf_on_flow_up(s, 1, 0, NULL, now, &out);
  (void)imsec_scscf_on_flow_up(s, 2, 0, NULL, now, &out);

  const uint8_t *p = data, *end = data + size;
  for (int i = 0; i < 16 && p <= end; i++) {
    const uint8_t *q = p;
    while (q + 4 <= end && memcmp(q, "\n--\n", 4) != 0)
      q++;
    if (q + 4 > end)
      q = end;
    uint64_t flow = (uint64_t)(1 + i % 3);
    imsec_scscf_on_message(s, flow, p, (size_t)(q - p), now, &out);
    /* Every queued message must be a whole SIP message or log text. */
    for (size_t k = 0; k < out.n; k++) {
      imsec_act *a = &out.acts[k];
      if (a->kind == IMSEC_ACT_CONNECT)
        (void)imsec_scscf_on_flow_up(s, 100 + a->tag, a->tag, NULL, now, &out);
    }
    imsec_out_clear(&out);
    now += (i & 1) ? 31000 : 10;
    for (uint64_t t = 1; t < 8; t++)
      imsec_scscf_on_timer(s, t, now, &out);
    if (i == 5)
      imsec_scscf_on_flow_down(s, 2, 0, 0, now, &out);
    imsec_out_clear(&out);
    p = q + 4;
  }
  imsec_out_free(&out);
  imsec_scscf_del(s);
  imsec_hss_del(hss);
  imsec_hss_store_del(st);
  return 0;
}
