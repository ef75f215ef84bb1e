/* Fuzz the S-CSCF's message handling (lib/scscf): arbitrary bytes as SIP
 * messages on a few flows, with flows going up and down and timers firing
 * in between, never crash, read out of bounds or leak. The input is split
 * at "\n--\n" into up to 16 messages; the S-CSCF starts with two
 * subscribers (K 46..46, OPc cd..cd).
 *
 * So that registrations can succeed and reach the registrar, the harness
 * plays the UE's AKA for markers in a message: nonce="@" becomes the nonce
 * of the S-CSCF's last challenge, auts="@" a valid AUTS for it, and
 * response="@" the right Digest response for the credentials of the
 * message's Authorization header (the empty password when auts is there,
 * RFC 3310 §3.4). Subscriber 3@DOM (sip:carol@DOM) uses SIP Digest
 * with the password DIGEST_PW: response="@" in credentials whose
 * algorithm is MD5 or SHA-256 (an Authorization, or a Proxy-Authorization
 * for the 407 asked of its MESSAGEs) becomes the right response under it.
 * Everything else is the fuzzer's. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/aka.h"
#include "imsec/digest.h"
#include "imsec/hss.h"
#include "imsec/scscf.h"
#include "imsec/svc.h"
#include "imsec/crypto_ossl.h"

/* The host's part for service actions (include/imsec/elem.h): hand
 * each REQUEST and PERSIST from out->acts[from..] to the embedded service,
 * whose answers come back through on_reply at once; repeat for what those
 * append. */
typedef struct pump_ctx {
  imsec_scscf *s;
  imsec_out *out;
  imsec_time_ms now;
} pump_ctx;

static void pump_done(void *arg, const imsec_svc_req *req,
                      const imsec_svc_reply *rep) {
  (void)req;
  pump_ctx *c = arg;
  imsec_scscf_on_reply(c->s, rep, c->now, c->out);
}

static void pump(imsec_svc *svc, imsec_scscf *s, imsec_out *out, size_t from,
                 imsec_time_ms now) {
  pump_ctx c = {s, out, now};
  for (size_t i = from; i < out->n; i++) {
    imsec_act *a = &out->acts[i];
    if ((a->kind != IMSEC_ACT_REQUEST && a->kind != IMSEC_ACT_PERSIST) ||
        !a->svc)
      continue;
    imsec_svc_req *req = a->svc;
    a->svc = NULL;
    if (imsec_svc_submit(svc, req, pump_done, &c) != 0)
      abort();
    free(req);
  }
}

static int64_t wall_ms(void *arg) {
  return *(const imsec_time_ms *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DOM "ims.mnc001.mcc001.3gppnetwork.org"

static imsec_crypto *crypto;
static imsec_milenage *usim; /* the subscribers' K and OPc */

#define MSG_CAP 70000
#define DIGEST_PW "fuzz password" /* of the SIP Digest subscriber 3@DOM */

/* Replace the first `marker` in buf[0..*len) with `value`. */
static void subst(char *buf, size_t *len, const char *marker,
                  const char *value) {
  size_t ml = strlen(marker), vl = strlen(value);
  char *at = memmem(buf, *len, marker, ml);
  if (!at || *len - ml + vl > MSG_CAP)
    return;
  memmove(at + vl, at + ml, *len - (size_t)(at - buf) - ml);
  memcpy(at, value, vl);
  *len = *len - ml + vl;
}

/* The value of the first line starting with `name` (up to CR or LF). */
static imsec_str line_value(const char *buf, size_t len, const char *name) {
  size_t nl = strlen(name);
  const char *at = memmem(buf, len, name, nl);
  if (!at)
    return IMSEC_STR_NULL;
  const char *v = at + nl, *end = buf + len, *e = v;
  while (e < end && *e != '\r' && *e != '\n')
    e++;
  return imsec_str_make(v, (size_t)(e - v));
}

/* SIP Digest credentials (MD5, SHA-256) of the Authorization or
 * Proxy-Authorization: the response under DIGEST_PW. Returns 1 when they
 * were such credentials. */
static int play_digest(char *buf, size_t *len) {
  imsec_str raw = line_value(buf, *len, "Proxy-Authorization: ");
  if (!raw.p)
    raw = line_value(buf, *len, "Authorization: ");
  imsec_digest_params p;
  imsec_digest_alg alg;
  imsec_digest_input in;
  memset(&in, 0, sizeof(in));
  if (imsec_digest_parse_credentials(raw, &p) != 0 ||
      imsec_digest_alg_parse(p.algorithm, &alg) != 0 ||
      (alg != IMSEC_DIGEST_MD5 && alg != IMSEC_DIGEST_SHA256))
    return 0;
  if (imsec_digest_qop_parse(p.qop, &in.qop) != 0)
    return 1;
  size_t m = 0;
  while (m < *len && buf[m] != ' ')
    m++;
  in.hash = imsec_digest_alg_hash(alg);
  in.username = p.username;
  in.realm = p.realm;
  in.password = (imsec_bytes){(const uint8_t *)DIGEST_PW, strlen(DIGEST_PW)};
  in.method = imsec_str_make(buf, m);
  in.uri = p.uri;
  in.nonce = p.nonce;
  in.nc = p.nc;
  in.cnonce = p.cnonce;
  char resp[80], val[100];
  if (imsec_digest_response(crypto, &in, resp, sizeof(resp)) > 0) {
    snprintf(val, sizeof(val), "response=\"%s\"", resp);
    subst(buf, len, "response=\"@\"", val);
  }
  return 1;
}

/* The UE's side of the markers (see the top of the file). */
static void play_ue(char *buf, size_t *len, const char *nonce) {
  if (!memmem(buf, *len, "=\"@\"", 4))
    return;
  char val[128];
  uint8_t rand[16], autn[16], auts[14];
  imsec_aka_ue_result r;
  memset(&r, 0, sizeof(r));
  snprintf(val, sizeof(val), "nonce=\"%s\"", nonce);
  subst(buf, len, "nonce=\"@\"", val);
  if (play_digest(buf, len))
    return;
  if (imsec_digest_aka_nonce_decode(imsec_str_c(nonce), rand, autn, NULL) != 0)
    return;
  if (memmem(buf, *len, "auts=\"@\"", 8)) {
    uint8_t sqn_ms[6] = {0, 0, 0, 0x10, 0, 0x20};
    char b64[32];
    if (imsec_aka_auts_make(usim, rand, sqn_ms, auts) != 0 ||
        imsec_digest_aka_auts_encode(auts, b64, sizeof(b64)) < 0)
      return;
    snprintf(val, sizeof(val), "auts=\"%s\"", b64);
    subst(buf, len, "auts=\"@\"", val);
    r.status = IMSEC_AKA_UE_SYNC_FAIL;
  } else if (imsec_milenage_f2345(usim, rand, r.res, r.ck, r.ik, NULL) != 0) {
    return;
  }
  r.res_len = 8;
  imsec_digest_params p;
  imsec_digest_alg alg;
  imsec_digest_input in;
  memset(&in, 0, sizeof(in));
  size_t m = 0;
  while (m < *len && buf[m] != ' ')
    m++;
  if (imsec_digest_parse_credentials(line_value(buf, *len, "Authorization: "),
                                     &p) != 0 ||
      imsec_digest_alg_parse(p.algorithm, &alg) != 0 ||
      imsec_digest_qop_parse(p.qop, &in.qop) != 0)
    return;
  in.username = p.username;
  in.realm = p.realm;
  in.method = imsec_str_make(buf, m);
  in.uri = p.uri;
  in.nonce = p.nonce;
  in.nc = p.nc;
  in.cnonce = p.cnonce;
  char resp[80];
  if (imsec_digest_aka_response(crypto, alg, &r, &in, resp, 33) > 0) {
    snprintf(val, sizeof(val), "response=\"%s\"", resp);
    subst(buf, len, "response=\"@\"", val);
  }
  imsec_aka_ue_result_wipe(&r);
}

/* The nonce of the last challenge the S-CSCF sent, if `a` is one. */
static void catch_nonce(const imsec_act *a, char *nonce, size_t cap) {
  if (a->kind != IMSEC_ACT_SEND)
    return;
  const char *d = (const char *)a->data, *end = d + a->len, *at = d;
  /* Not the cnonce of an Authentication-Info. */
  while ((at = memmem(at, (size_t)(end - at), "nonce=\"", 7)) != NULL &&
         at > d && at[-1] == 'c')
    at += 7;
  if (!at)
    return;
  at += 7;
  size_t n = 0;
  while (at + n < (const char *)a->data + a->len && at[n] != '"')
    n++;
  if (n < cap) {
    memcpy(nonce, at, n);
    nonce[n] = 0;
  }
}

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
  if (!crypto) {
    uint8_t k[16], opc[16];
    memset(k, 0x46, 16);
    memset(opc, 0xcd, 16);
    if (imsec_crypto_ossl_new(&crypto) != 0 ||
        imsec_milenage_new(&usim, crypto) != 0 ||
        imsec_milenage_set_opc(usim, k, opc) != 0)
      abort();
  }
  char *msg = malloc(MSG_CAP);
  char nonce[128] = "";
  if (!msg)
    abort();
  imsec_hss_store *st;
  imsec_hss *hss;
  imsec_scscf *s;
  imsec_reg_store *rs;
  imsec_svc *svc;
  imsec_time_ms now = 1000;
  if (imsec_hss_mem_new(&st) != 0 || imsec_reg_mem_new(&rs) != 0)
    abort();
  add(st, "1@" DOM, "sip:1@" DOM, IMSEC_HSS_AKAV1);
  add(st, "2@" DOM, "sip:bob@" DOM, IMSEC_HSS_AKAV2);
  {
    /* A SIP Digest subscriber (TS 33.203 Annex N). */
    imsec_hss_sub d;
    memset(&d, 0, sizeof(d));
    strcpy(d.impi, "3@" DOM);
    strcpy(d.impus[0], "sip:carol@" DOM);
    d.n_impus = 1;
    if (imsec_hss_digest_set(&d, crypto, IMSEC_STR_NULL,
                             (imsec_bytes){(const uint8_t *)DIGEST_PW,
                                           strlen(DIGEST_PW)}) != 0 ||
        st->vt->add(st, &d) != 0)
      abort();
    imsec_hss_sub_wipe(&d);
  }
  if (imsec_hss_new(&hss, st, crypto, NULL) != 0)
    abort();
  imsec_svc_local_config lc = {
      .hss = hss, .reg = rs, .wall_ms = wall_ms, .wall_arg = &now};
  if (imsec_svc_local_new(&svc, &lc) != 0)
    abort();
  /* Flows 1 and 2 come from a listed P-CSCF address; flow 3 is never
   * announced (an untrusted peer). */
  static const char *const addrs[] = {"127.0.0.1"};
  imsec_scscf_config cfg = {.domain = DOM,
                            .insecure_core = 1,
                            .peer_addrs = addrs,
                            .n_peer_addrs = 1,
                            .digest_proxy_auth = 1};
  imsec_flow_info ti;
  memset(&ti, 0, sizeof(ti));
  ti.tp = IMSEC_TP_TCP;
  ti.inbound = 1;
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:5070"), &ti.peer) != 0)
    abort();
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &cfg.self) != 0 ||
      imsec_scscf_new(&s, &cfg, crypto) != 0)
    abort();
  imsec_out out;
  imsec_out_init(&out, IMSEC_LOG_DEBUG);
  imsec_scscf_start(s, now, &out);
  pump(svc, s, &out, 0, now);
  imsec_out_clear(&out);
  (void)imsec_scscf_on_flow_up(s, 1, 0, &ti, now, &out);
  (void)imsec_scscf_on_flow_up(s, 2, 0, &ti, now, &out);

  const uint8_t *p = data, *end = data + size;
  for (int i = 0; i < 16 && p <= end; i++) {
    const uint8_t *q = p;
    while (q + 4 <= end && memcmp(q, "\n--\n", 4) != 0)
      q++;
    if (q + 4 > end)
      q = end;
    uint64_t flow = (uint64_t)(1 + i % 3);
    size_t len = (size_t)(q - p) < MSG_CAP ? (size_t)(q - p) : MSG_CAP;
    memcpy(msg, p, len);
    play_ue(msg, &len, nonce);
    imsec_scscf_on_message(s, flow, (const uint8_t *)msg, len, now, &out);
    pump(svc, s, &out, 0, now);
    /* Every queued message must be a whole SIP message or log text. */
    for (size_t k = 0; k < out.n; k++) {
      imsec_act *a = &out.acts[k];
      catch_nonce(a, nonce, sizeof(nonce));
      if (a->kind == IMSEC_ACT_CONNECT)
        (void)imsec_scscf_on_flow_up(s, 100 + a->tag, a->tag, &ti, now, &out);
    }
    imsec_out_clear(&out);
    now += (i & 1) ? 31000 : 10;
    for (uint64_t t = 1; t < 8; t++) {
      size_t from = out.n;
      imsec_scscf_on_timer(s, t, now, &out);
      pump(svc, s, &out, from, now);
    }
    if (imsec_scscf_get_expiry(s) && imsec_scscf_get_expiry(s) <= now)
      imsec_scscf_handle_expiry(s, now, &out);
    if (i == 5)
      imsec_scscf_on_flow_down(s, 2, 0, 0, now, &out);
    imsec_out_clear(&out);
    p = q + 4;
  }
  free(msg);
  imsec_out_free(&out);
  imsec_scscf_del(s);
  imsec_svc_del(svc);
  imsec_reg_store_del(rs);
  imsec_hss_del(hss);
  imsec_hss_store_del(st);
  return 0;
}
