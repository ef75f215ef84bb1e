/* Fuzz the UE element (lib/ue): arbitrary bytes arrive on its flow as
 * messages in every state (REGISTER out, challenged, registered,
 * reconnecting), raw or as the headers and body of an answer that matches
 * the UE's own REGISTER (so the 401/200 handling is reached), interleaved
 * with timers, a MESSAGE sent out, a call placed (so wrapped answers are
 * the INVITE's) and flow loss; the SQN writes the UE
 * asks for are answered as a host would (held sends dropped when the
 * store fails). Nothing may crash, leak or hang.
 *
 * Input: byte 0 picks the starting state (bits 0-1), whether chunks are
 * wrapped as answers (bit 2), whether the store fails (bit 4), whether
 * a call is placed (bit 5) and whether the UE has a password instead of
 * an ISIM (bit 6: SIP Digest; its 401s and 407s carry SHA-256 and MD5
 * challenges, and wrapped 202s become 407s); the rest
 * is split into chunks at 0xff. In wrapped mode a chunk's first byte picks
 * the status code. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/aka.h"
#include "imsec/digest.h"
#include "imsec/sip.h"
#include "imsec/ue.h"
#include "imsec/crypto_ossl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define PCSCF "pcscf." HOME

static imsec_crypto *crypto;
static imsec_milenage *hss;

typedef struct run {
  imsec_ue *ue;
  imsec_out out;
  imsec_time_ms now;
  uint64_t flow, tag;
  char last[16384];
  size_t last_len;
  imsec_sqn_he he;
  imsec_trust_cert cert;
  int store_fails;
  int digest;
} run;

static void drain(run *r) {
  uint64_t persist_id = 0;
  int dropping = 0;
  for (size_t i = 0; i < r->out.n; i++) {
    imsec_act *a = &r->out.acts[i];
    if (a->kind == IMSEC_ACT_PERSIST && a->svc) {
      persist_id = a->svc->id;
      dropping = r->store_fails;
      continue;
    }
    if (dropping)
      continue; /* a host drops what waited on a failed write */
    if (a->kind == IMSEC_ACT_SEND && a->len < sizeof(r->last)) {
      memcpy(r->last, a->data, a->len);
      r->last_len = a->len;
    }
    if (a->kind == IMSEC_ACT_CONNECT)
      r->tag = a->tag;
  }
  imsec_out_clear(&r->out);
  if (persist_id) {
    imsec_svc_reply rep;
    memset(&rep, 0, sizeof(rep));
    rep.kind = IMSEC_SVC_UE_SQN;
    rep.id = persist_id;
    rep.status = r->store_fails ? IMSEC_ERR_IO : 0;
    imsec_ue_on_reply(r->ue, &rep, r->now, &r->out);
    drain(r);
  }
}

static void up(run *r) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  if (imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40000"), &info.local) < 0)
    abort();
  info.peer_cert = &r->cert;
  r->flow++;
  (void)imsec_ue_on_flow_up(r->ue, r->flow, r->tag, &info, r->now, &r->out);
  drain(r);
}

/* An answer to the UE's last request with `extra` header text and body. */
static void answer(run *r, unsigned code, const uint8_t *extra, size_t n,
                   int with_challenge) {
  char copy[16384];
  if (!r->last_len)
    return;
  memcpy(copy, r->last, r->last_len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  char *buf = malloc(65536);
  if (!buf)
    abort();
  if (imsec_sip_parse(&m, copy, r->last_len, 1) == 0 && m.is_request) {
    imsec_sip_builder b;
    imsec_sip_build_init(&b, buf, 65536);
    imsec_sip_build_response(&b, &m, code, IMSEC_STR_LIT("X"),
                             IMSEC_STR_LIT("t"));
    if (with_challenge && r->digest) {
      /* TS 33.203 Annex N: what an S-CSCF asks of a password terminal. */
      imsec_str h = code == 407 ? IMSEC_STR_LIT("Proxy-Authenticate")
                                : IMSEC_STR_LIT("WWW-Authenticate");
      imsec_sip_build_header(
          &b, h,
          IMSEC_STR_LIT("Digest realm=\"" HOME "\", nonce=\"bm9uY2U=\", "
                        "algorithm=SHA-256, qop=\"auth\", opaque=\"o\""));
      imsec_sip_build_header(
          &b, h,
          IMSEC_STR_LIT("Digest realm=\"" HOME "\", nonce=\"bm9uY2U=\", "
                        "algorithm=MD5, qop=\"auth\", opaque=\"o\""));
    } else if (with_challenge) {
      uint8_t sqn[6], amf[2] = {0x80, 0};
      imsec_sqn_cfg sc = imsec_sqn_cfg_default();
      imsec_aka_vector v;
      char ch[1024];
      if (imsec_sqn_he_next(&r->he, &sc, sqn) == 0 &&
          imsec_aka_vector_make(hss, sqn, amf, &v) == 0 &&
          imsec_digest_aka_challenge_build(
              &v, IMSEC_DIGEST_AKAV1_MD5, IMSEC_STR_LIT(HOME),
              IMSEC_STR_LIT("auth"), IMSEC_STR_NULL, 0, ch, sizeof(ch)) > 0) {
        imsec_sip_build_header(&b, IMSEC_STR_LIT("WWW-Authenticate"),
                               imsec_str_c(ch));
        imsec_sip_build_header(&b, IMSEC_STR_LIT("Security-Server"),
                               IMSEC_STR_LIT("tls;q=0.1"));
      }
      imsec_aka_vector_wipe(&v);
    }
    imsec_sip_build_raw(&b, imsec_str_make((const char *)extra, n));
    /* The fuzz bytes are headers (and, after an empty line, a body):
     * Content-Length covers nothing so the framing stays the UE's
     * parser's problem. */
    int len = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
    if (len > 0) {
      imsec_ue_on_message(r->ue, r->flow, (const uint8_t *)buf, (size_t)len,
                          r->now, &r->out);
      drain(r);
    }
  }
  imsec_sip_msg_free(&m);
  free(buf);
}

static const unsigned codes[] = {401, 200, 403, 423, 494, 100, 500, 202};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!crypto) {
    uint8_t k[16], opc[16];
    if (imsec_crypto_ossl_new(&crypto) < 0 ||
        imsec_hex_decode("465b5ce8b199b49faa5f0a2ee238a6bc", 32, k, 16) != 16 ||
        imsec_hex_decode("cd63cb71954a9f4e48a5994e37a02baf", 32, opc, 16) !=
            16 ||
        imsec_milenage_new(&hss, crypto) < 0 ||
        imsec_milenage_set_opc(hss, k, opc) < 0)
      abort();
  }
  if (size == 0)
    return 0;
  static const char *const impus[] = {"sip:001010000000001@" HOME};
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = "001010000000001@" HOME;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = "3gppnetwork.org";
  if (imsec_hex_decode("465b5ce8b199b49faa5f0a2ee238a6bc", 32, cfg.k, 16) !=
          16 ||
      imsec_hex_decode("cd63cb71954a9f4e48a5994e37a02baf", 32, cfg.opc, 16) !=
          16)
    abort();
  cfg.has_opc = 1;
  int digest = (data[0] >> 6) & 1;
  if (digest) {
    memset(cfg.k, 0, sizeof(cfg.k));
    memset(cfg.opc, 0, sizeof(cfg.opc));
    cfg.has_opc = 0;
    memcpy(cfg.password, "fuzz password", 13);
    cfg.password_len = 13;
  }
  if (imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:5061"), &cfg.pcscf) < 0)
    abort();
  cfg.pcscf_name = PCSCF;
  cfg.max_connect_attempts = 2;

  run *r = calloc(1, sizeof(*r));
  if (!r)
    abort();
  r->cert.chain = IMSEC_CHAIN_OK;
  r->cert.has_san = 1;
  r->cert.n_dns = 1;
  memcpy(r->cert.dns[0], PCSCF, sizeof(PCSCF));
  r->cert.issuer = IMSEC_ISSUER_HOME;
  r->now = 1000;
  r->store_fails = (data[0] >> 4) & 1;
  r->digest = digest;
  imsec_out_init(&r->out, IMSEC_LOG_DEBUG);
  if (imsec_ue_new(&r->ue, &cfg, crypto) < 0)
    abort();
  if (imsec_ue_start(r->ue, r->now, &r->out) < 0)
    abort();
  drain(r);
  up(r);

  unsigned start = data[0] & 3;
  int wrap = (data[0] >> 2) & 1;
  if (start >= 1)
    answer(r, 401, NULL, 0, 1);
  if (start >= 2)
    answer(r, 200, NULL, 0, 0);
  if (start == 3) {
    imsec_ue_on_flow_down(r->ue, r->flow, r->tag, IMSEC_ERR_IO, r->now,
                          &r->out);
    drain(r);
    up(r);
  }
  if (data[0] & 8) {
    int h = imsec_ue_send_message(r->ue, "sip:bob@" HOME, NULL,
                                  (const uint8_t *)"hi", 2, r->now, &r->out);
    (void)h;
    drain(r);
  }
  int call = 0;
  if (data[0] & 32) {
    call = imsec_ue_call(r->ue, "sip:bob@" HOME, r->now, &r->out);
    drain(r);
  }

  size_t i = 1;
  unsigned step = 0;
  while (i < size && step < 64) {
    size_t j = i;
    while (j < size && data[j] != 0xff)
      j++;
    const uint8_t *chunk = data + i;
    size_t n = j - i;
    if (wrap && n > 0) {
      unsigned code = codes[chunk[0] & 7];
      if (r->digest && code == 202)
        code = 407; /* a proxy challenge to a MESSAGE or an INVITE */
      answer(r, code, chunk + 1, n - 1,
             (code == 401 || code == 407) && (chunk[0] & 8));
    } else {
      imsec_ue_on_message(r->ue, r->flow, chunk, n, r->now, &r->out);
      drain(r);
    }
    /* Time passes; every timer fires (stale ones too). */
    r->now += (imsec_time_ms)(n % 7) * 60000;
    for (uint64_t t = 1; t <= IMSEC_UE_TIMER_CALL; t++)
      imsec_ue_on_timer(r->ue, t, r->now, &r->out);
    drain(r);
    if (r->tag && (step & 3) == 3) {
      up(r); /* a pending connect completes (or is refused) */
    }
    imsec_ue_message m;
    while (imsec_ue_inbox_pop(r->ue, &m))
      imsec_ue_message_free(&m);
    i = j + 1;
    step++;
  }
  if (call > 0 && imsec_ue_call_hangup(r->ue, call, r->now, &r->out) < 0) {
  }
  drain(r);
  int hs[2 * IMSEC_UE_MAX_CALLS];
  size_t nc = imsec_ue_calls(r->ue, hs, 2 * IMSEC_UE_MAX_CALLS);
  for (size_t k = 0; k < nc; k++) {
    imsec_ue_call_info ci;
    if (imsec_ue_call_get(r->ue, hs[k], &ci) < 0 ||
        (unsigned)ci.state > IMSEC_UE_CALL_ENDED)
      abort();
  }
  if (imsec_ue_deregister(r->ue, r->now, &r->out) < 0) {
  }
  drain(r);
  imsec_ue_status st;
  imsec_ue_get_status(r->ue, &st);
  if ((unsigned)st.state > IMSEC_UE_FAILED)
    abort();
  imsec_ue_del(r->ue);
  imsec_out_free(&r->out);
  free(r);
  return 0;
}
