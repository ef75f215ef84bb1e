/* Fuzz the P-CSCF element (lib/pcscf): arbitrary bytes as SIP messages from
 * two UE flows and from the S-CSCF flow, mixed with timers and flow losses,
 * must never crash, hang or leak.
 *
 * Input: records separated by a NUL octet; the first octet of a record
 * picks the event: 'a' / 'b' a message from UE flow 1 / 2, 'c' a message
 * from the S-CSCF flow, 't' a timer firing (time moves on by 1 s per
 * octet of the record), 'd' UE flow 1 lost and reconnected, 'e' the S-CSCF
 * flow lost and reconnected, 'f' the connection to the second S-CSCF of
 * the domain's failover group refused, 'g' it comes up (and any queued
 * request or ping goes out on it), 'h' its flow lost, 'i' a message from it.
 * Timers include the OPTIONS pings. Randomness is a counter (0, 1, 2, ...), so
 * the token key and the flow nonces are fixed and seeds can carry valid
 * flow tokens and branches. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/pcscf.h"
#include "imsec/crypto_ossl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fixed_crypto {
  imsec_crypto base;
  imsec_crypto *real;
  uint8_t next;
} fixed_crypto;

static int fx_hash(imsec_crypto *c, imsec_hash_alg alg, const imsec_iov *iov,
                   size_t n, uint8_t *out) {
  fixed_crypto *f = (fixed_crypto *)c;
  return imsec_hash(f->real, alg, iov, n, out);
}

static int fx_hmac(imsec_crypto *c, imsec_hash_alg alg, const uint8_t *key,
                   size_t keylen, const imsec_iov *iov, size_t n,
                   uint8_t *out) {
  fixed_crypto *f = (fixed_crypto *)c;
  return imsec_hmac(f->real, alg, key, keylen, iov, n, out);
}

static int fx_random(imsec_crypto *c, uint8_t *out, size_t len) {
  fixed_crypto *f = (fixed_crypto *)c;
  for (size_t i = 0; i < len; i++)
    out[i] = f->next++;
  return 0;
}

static const imsec_crypto_vtable fx_vt = {
    .hash = fx_hash, .hmac = fx_hmac, .random = fx_random};

static imsec_crypto *real_crypto(void) {
  static imsec_crypto *c;
  if (!c && imsec_crypto_ossl_new(&c) < 0)
    abort();
  return c;
}

static void flow_up(imsec_pcscf *p, uint64_t flow, uint64_t tag, imsec_tp tp,
                    imsec_time_ms now, imsec_out *out) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = tp;
  info.inbound = tag == 0;
  if (imsec_addr_parse((imsec_str){"tls:127.0.0.1:40000", 19}, &info.peer) < 0)
    abort();
  (void)imsec_pcscf_on_flow_up(p, flow, tag, &info, now, out);
  imsec_out_clear(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fixed_crypto fc = {{&fx_vt}, real_crypto(), 0};
  imsec_pcscf_config cfg;
  imsec_pcscf_config_init(&cfg);
  if (imsec_addr_parse((imsec_str){"tcp:127.0.0.1:5062", 18}, &cfg.core) < 0 ||
      imsec_pcscf_route_parse(
          (imsec_str){"ims.mnc001.mcc001.3gppnetwork.org=tcp:127.0.0.1:5070",
                      52},
          &cfg.routes[0]) < 0 ||
      imsec_pcscf_route_parse(
          (imsec_str){"ims.mnc001.mcc001.3gppnetwork.org=tcp:127.0.0.1:5071",
                      52},
          &cfg.routes[1]) < 0)
    abort();
  /* A failover group of two (lib/pcscf/failover.c). */
  cfg.n_routes = 2;
  /* a plain core is open to listed addresses only */
  memcpy(cfg.peer_addrs[0], "127.0.0.1", 10);
  cfg.n_peer_addrs = 1;
  cfg.max_flows = 8;
  cfg.max_bindings = 4;
  cfg.max_transactions = 8;
  cfg.max_queue = 2;
  cfg.max_msg = 8192;
  imsec_pcscf *p;
  if (imsec_pcscf_new(&p, &cfg, &fc.base) < 0)
    abort();
  imsec_out out;
  imsec_out_init(&out, IMSEC_LOG_DEBUG);
  imsec_time_ms now = 1000;
  flow_up(p, 1, 0, IMSEC_TP_TLS, now, &out);
  /* flow 2 is a DTLS access flow: the datagram layer (lib/pcscf/dgram.c:
   * transactions, STUN) sees what 'b' sends */
  flow_up(p, 2, 0, IMSEC_TP_DTLS, now, &out);
  flow_up(p, 100, 1, IMSEC_TP_TCP, now, &out);
  uint64_t core = 100, ue1 = 1, core2 = 200;
  /* PCSCF_FUZZ_TRACE=1: print what the element did (seed debugging). */
  static int trace = -1;
  if (trace < 0)
    trace = getenv("PCSCF_FUZZ_TRACE") != NULL;
  size_t i = 0;
  while (i < size) {
    size_t j = i;
    while (j < size && data[j])
      j++;
    if (j > i) {
      uint8_t kind = data[i];
      const uint8_t *m = data + i + 1;
      size_t len = j - i - 1;
      switch (kind) {
      case 'a':
        imsec_pcscf_on_message(p, ue1, m, len, now, &out);
        break;
      case 'b':
        imsec_pcscf_on_message(p, 2, m, len, now, &out);
        break;
      case 'c':
        imsec_pcscf_on_message(p, core, m, len, now, &out);
        break;
      case 't':
        now += (imsec_time_ms)(len + 1) * 1000;
        imsec_pcscf_on_timer(p, 1, now, &out);
        imsec_pcscf_on_timer(p, 2, now, &out);
        imsec_pcscf_on_timer(p, 3, now, &out);
        break;
      case 'f':
        imsec_pcscf_on_flow_down(p, 0, 2, IMSEC_ERR_IO, now, &out);
        break;
      case 'g':
        flow_up(p, ++core2, 2, IMSEC_TP_TCP, now, &out);
        break;
      case 'i':
        imsec_pcscf_on_message(p, core2, m, len, now, &out);
        break;
      case 'h':
        imsec_pcscf_on_flow_down(p, core2, 2, IMSEC_ERR_CLOSED, now, &out);
        break;
      case 'd':
        imsec_pcscf_on_flow_down(p, ue1, 0, IMSEC_ERR_CLOSED, now, &out);
        imsec_out_clear(&out);
        ue1 += 10;
        flow_up(p, ue1, 0, IMSEC_TP_TLS, now, &out);
        break;
      case 'e':
        imsec_pcscf_on_flow_down(p, core, 1, IMSEC_ERR_CLOSED, now, &out);
        imsec_out_clear(&out);
        flow_up(p, ++core, 1, IMSEC_TP_TCP, now, &out);
        break;
      default:
        break;
      }
      /* every action must be well formed */
      for (size_t k = 0; k < out.n; k++) {
        const imsec_act *a = &out.acts[k];
        if (trace && a->kind == IMSEC_ACT_LOG)
          fprintf(stderr, "  log: %s\n", (const char *)a->data);
        if (trace && a->kind == IMSEC_ACT_SEND)
          fprintf(
              stderr, "  send flow %llu: %.*s\n", (unsigned long long)a->flow,
              (int)strcspn((const char *)a->data, "\r"), (const char *)a->data);
        if (a->kind == IMSEC_ACT_SEND && (!a->data || !a->len))
          abort();
      }
      imsec_out_clear(&out);
    }
    i = j + 1;
  }
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(p, &st);
  if (st.flows > cfg.max_flows || st.bindings > cfg.max_bindings ||
      st.transactions > cfg.max_transactions)
    abort();
  imsec_pcscf_del(p);
  imsec_out_free(&out);
  return 0;
}
