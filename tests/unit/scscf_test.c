/* lib/scscf: the S-CSCF driven with crafted SIP through its event
 * functions, with a virtual clock: registration (AKAv1, AKAv2), every
 * failure of TS 33.203 §6.1.2-6.1.3, replay, stale nonces, bindings and
 * their expiry, de-registration, routing via Path and responses back along
 * the Via. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/digest.h"
#include "imsec/scscf.h"
#include "imsec/sip.h"
#include "imsec/svc.h"
#include "imsec/crypto_ossl.h"
#include "elem_pump.h"
#include "test_util.h"

#define DOM "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI_A "001010000000001@" DOM
#define IMPU_A "sip:001010000000001@" DOM
#define IMPU_A2 "tel:+15550001"
#define IMPI_B "001010000000002@" DOM
#define IMPU_B "sip:bob@" DOM
#define IMPI_C "001010000000003@" DOM
#define IMPU_C "sip:carol@" DOM
#define K1 "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC1 "cd63cb71954a9f4e48a5994e37a02baf"
#define PATH_V "<sip:tok1@127.0.0.1:5070;transport=tcp;lr;ob>"
#define PCSCF_FLOW 7

typedef struct fx {
  imsec_crypto *c;
  imsec_hss_store *st;
  imsec_hss *h;
  imsec_scscf *s;
  imsec_out out;
  imsec_milenage *m;
  imsec_sqn_ue ue;
  imsec_sqn_cfg cfg;
  imsec_time_ms now;
  unsigned cseq;
  char last[65536]; /* the last message sent */
  uint64_t last_flow;
  char www[1024];
  char nonce[128];
  const char *path;    /* Path of the next REGISTERs; NULL: PATH_V */
  const char *call_id; /* Call-ID of the next REGISTERs; NULL: reg-1 */
  /* The P-CSCF's flows: plain TCP from a listed address (the S-CSCF runs
   * with insecure_core); announced once with on_flow_up. */
  imsec_flow_info ti;
  uint64_t known[64];
  size_t nknown;
  imsec_hss *h2;       /* an HSS over a test store (busy_use) */
  uint64_t pk_id;      /* the parked requests' timer */
  imsec_time_ms pk_at; /* when it is armed for; 0: off */
  /* The host's side: the stores behind the element's REQUESTs and
   * PERSISTs, carried out after each event (tests/support/elem_pump.h). */
  imsec_reg_store *rs;
  imsec_svc *svc;
  elem_pump pump;
  /* A second S-CSCF sharing the stores (a cluster): swap() makes it
   * the one driven; each keeps its known flows and the timers it armed. */
  imsec_scscf *s2;
  uint64_t known2[64];
  size_t nknown2;
  int side;
  struct {
    uint64_t id;
    imsec_time_ms at;
  } tm[2][512];
  size_t ntm[2];
} fx;

/* Keep the TIMER actions in f->out of the S-CSCF driven now. */
static void collect_timers(fx *f) {
  for (size_t i = 0; i < f->out.n; i++) {
    const imsec_act *a = &f->out.acts[i];
    if (a->kind != IMSEC_ACT_TIMER || !a->at || f->ntm[f->side] >= 512)
      continue;
    size_t n = f->ntm[f->side]++;
    f->tm[f->side][n].id = a->timer;
    f->tm[f->side][n].at = a->at;
  }
}

/* The registration store's wall clock: the test's virtual one. */
static int64_t fx_wall(void *arg) {
  return ((fx *)arg)->now;
}

/* Serve the element's service requests from `h` (and the registration
 * store). */
static void use_hss(fx *f, imsec_hss *h) {
  imsec_svc_del(f->svc);
  f->svc = NULL;
  imsec_svc_local_config lc = {
      .hss = h, .reg = f->rs, .wall_ms = fx_wall, .wall_arg = f};
  assert_int_equal(imsec_svc_local_new(&f->svc, &lc), 0);
  f->pump.svc = f->svc;
}

/* One event, then what the host does for its service actions. */
static void ev_message(fx *f, uint64_t flow, const uint8_t *msg, size_t len,
                       imsec_time_ms now, imsec_out *out) {
  size_t from = out->n;
  imsec_scscf_on_message(f->s, flow, msg, len, now, out);
  f->pump.self = f->s;
  elem_pump_run(&f->pump, out, from, now);
}

static void ev_timer(fx *f, uint64_t id, imsec_time_ms now, imsec_out *out) {
  size_t from = out->n;
  imsec_scscf_on_timer(f->s, id, now, out);
  f->pump.self = f->s;
  elem_pump_run(&f->pump, out, from, now);
}

static void add_sub(fx *f, const char *impi, const char *impu,
                    const char *impu2, imsec_hss_aka aka) {
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  strcpy(s.impi, impi);
  strcpy(s.impus[0], impu);
  s.n_impus = 1;
  if (impu2) {
    strcpy(s.impus[1], impu2);
    s.n_impus = 2;
  }
  t_hex(K1, s.k, 16);
  t_hex(OPC1, s.op, 16);
  s.op_is_opc = 1;
  s.amf[0] = 0x80;
  s.aka = aka;
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  if (!f || imsec_crypto_ossl_new(&f->c) || imsec_hss_mem_new(&f->st) ||
      imsec_hss_new(&f->h, f->st, f->c, NULL))
    return -1;
  add_sub(f, IMPI_A, IMPU_A, IMPU_A2, IMSEC_HSS_AKAV1);
  add_sub(f, IMPI_B, IMPU_B, NULL, IMSEC_HSS_AKAV2);
  add_sub(f, IMPI_C, IMPU_C, NULL, IMSEC_HSS_AKAV1);
  static const char *const addrs[] = {"127.0.0.1"};
  imsec_scscf_config cfg = {.domain = DOM,
                            .insecure_core = 1,
                            .peer_addrs = addrs,
                            .n_peer_addrs = 1};
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &cfg.self))
    return -1;
  f->ti.tp = IMSEC_TP_TCP;
  f->ti.inbound = 1;
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:5070"), &f->ti.peer) ||
      imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &f->ti.local))
    return -1;
  if (imsec_scscf_new(&f->s, &cfg, f->c) || imsec_reg_mem_new(&f->rs))
    return -1;
  elem_pump_init(&f->pump, &imsec_scscf_ops, f->s, NULL);
  use_hss(f, f->h);
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  if (imsec_milenage_new(&f->m, f->c))
    return -1;
  uint8_t k[16], opc[16];
  t_hex(K1, k, 16);
  t_hex(OPC1, opc, 16);
  if (imsec_milenage_set_opc(f->m, k, opc))
    return -1;
  f->cfg = imsec_sqn_cfg_default();
  f->now = 1000000;
  f->cseq = 1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  imsec_scscf_del(f->s);
  imsec_scscf_del(f->s2);
  imsec_out_free(&f->out);
  elem_pump_free(&f->pump);
  imsec_svc_del(f->svc);
  imsec_reg_store_del(f->rs);
  imsec_milenage_del(f->m);
  imsec_hss_del(f->h2);
  imsec_hss_del(f->h);
  imsec_hss_store_del(f->st);
  imsec_crypto_del(f->c);
  free(f);
  return 0;
}

static imsec_str S(const char *s) {
  return imsec_str_c(s);
}

static void mark_known(fx *f, uint64_t flow) {
  for (size_t i = 0; i < f->nknown; i++)
    if (f->known[i] == flow)
      return;
  assert_true(f->nknown < 64);
  f->known[f->nknown++] = flow;
}

/* A flow of the P-CSCF comes up (trusted: a listed TCP address). */
static int flow_up(fx *f, uint64_t flow, uint64_t tag) {
  mark_known(f, flow);
  return imsec_scscf_on_flow_up(f->s, flow, tag, &f->ti, f->now, &f->out);
}

/* Deliver `msg` on `flow`; keep the last SEND in f->last. Returns the
 * number of SEND actions. A flow not seen before comes up first. */
static int deliver(fx *f, uint64_t flow, const char *msg) {
  size_t k = 0;
  while (k < f->nknown && f->known[k] != flow)
    k++;
  if (k == f->nknown)
    assert_int_equal(flow_up(f, flow, 0), 0);
  imsec_out_clear(&f->out);
  ev_message(f, flow, (const uint8_t *)msg, strlen(msg), f->now, &f->out);
  assert_int_equal(imsec_out_err(&f->out), 0);
  collect_timers(f);
  int sends = 0;
  f->last[0] = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    imsec_act *a = &f->out.acts[i];
    if (a->kind == IMSEC_ACT_SEND) {
      sends++;
      assert_true(a->len < sizeof(f->last));
      memcpy(f->last, a->data, a->len);
      f->last[a->len] = 0;
      f->last_flow = a->flow;
    }
  }
  return sends;
}

static unsigned status_of(const char *msg) {
  unsigned st = 0;
  if (sscanf(msg, "SIP/2.0 %u", &st) != 1)
    return 0;
  return st;
}

static const imsec_act *find_act(fx *f, imsec_act_kind kind) {
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == kind)
      return &f->out.acts[i];
  return NULL;
}

/* A REGISTER as the P-CSCF forwards it (Path, integrity-protected). */
static const char *reg_msg(fx *f, const char *impu, const char *auth,
                           const char *contact, const char *extra) {
  static char buf[8192];
  snprintf(buf, sizeof(buf),
           "REGISTER sip:" DOM " SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKp%u\r\n"
           "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKu%u;rport\r\n"
           "Max-Forwards: 69\r\n"
           "From: <%s>;tag=f1\r\nTo: <%s>\r\n"
           "Call-ID: %s\r\nCSeq: %u REGISTER\r\n"
           "%s%s%s"
           "Path: %s\r\n"
           "Supported: path, outbound\r\n"
           "%s"
           "Content-Length: 0\r\n\r\n",
           f->cseq, f->cseq, impu, impu, f->call_id ? f->call_id : "reg-1",
           f->cseq, contact ? "Contact: " : "", contact ? contact : "",
           contact ? "\r\n" : "", f->path ? f->path : PATH_V,
           extra ? extra : "");
  f->cseq++;
  if (auth) {
    /* insert the Authorization before Path */
    static char b2[8192];
    char *p = strstr(buf, "Path:");
    snprintf(b2, sizeof(b2), "%.*sAuthorization: %s\r\n%s", (int)(p - buf), buf,
             auth, p);
    return b2;
  }
  return buf;
}

#define CONTACT1                                                               \
  "<sip:ue@10.0.0.1:5061;transport=tls;ob>;+sip.instance=\"<urn:uuid:"         \
  "00000000-0000-0000-0000-000000000001>\";reg-id=1;expires=600"
#define CONTACT2                                                               \
  "<sip:ue@10.0.0.2:5061;transport=tls;ob>;+sip.instance=\"<urn:uuid:"         \
  "00000000-0000-0000-0000-000000000002>\";reg-id=1;expires=300"

#define CONTACT3                                                               \
  "<sip:ue@10.0.0.3:5061;transport=tls;ob>;+sip.instance=\"<urn:uuid:"         \
  "00000000-0000-0000-0000-000000000003>\";reg-id=1;expires=600"

static const char *empty_auth(const char *impi) {
  static char b[512];
  snprintf(b, sizeof(b),
           "Digest username=\"%s\",realm=\"" DOM "\",nonce=\"\",uri=\"sip:" DOM
           "\",response=\"\","
           "integrity-protected=\"tls-pending\"",
           impi);
  return b;
}

/* Take the challenge out of a 401 in f->last. */
static void take_challenge(fx *f, imsec_digest_alg *alg) {
  assert_int_equal(status_of(f->last), 401);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, f->last, strlen(f->last), 1), 0);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  assert_int_equal(
      imsec_sip_auth_next(&m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &raw), 1);
  assert_true(raw.len < sizeof(f->www));
  memcpy(f->www, raw.p, raw.len);
  f->www[raw.len] = 0;
  imsec_digest_params p;
  assert_int_equal(imsec_digest_parse_challenge(S(f->www), &p), 0);
  char realm[128];
  assert_true(imsec_digest_unquote(p.realm, realm, sizeof(realm)) > 0);
  assert_string_equal(realm, DOM);
  assert_true(imsec_digest_unquote(p.nonce, f->nonce, sizeof(f->nonce)) > 0);
  if (alg)
    assert_int_equal(imsec_digest_alg_parse(p.algorithm, alg), 0);
  imsec_sip_msg_free(&m);
}

typedef enum ue_mode { UE_OK, UE_WRONG_RES, UE_MAC_FAIL } ue_mode;

/* The UE's answer to the challenge in f->nonce: credentials text. Sets
 * *status to the AKA outcome. */
static const char *answer(fx *f, const char *impi, imsec_digest_alg alg,
                          ue_mode mode, const char *nc,
                          imsec_aka_ue_status *status) {
  static char b[1024];
  uint8_t rand[16], autn[16];
  assert_int_equal(imsec_digest_aka_nonce_decode(S(f->nonce), rand, autn, NULL),
                   0);
  imsec_aka_ue_result r;
  assert_int_equal(imsec_aka_ue_run(f->m, &f->ue, &f->cfg, rand, autn, &r), 0);
  if (status)
    *status = r.status;
  if (mode == UE_MAC_FAIL || r.status == IMSEC_AKA_UE_MAC_FAIL) {
    snprintf(b, sizeof(b),
             "Digest username=\"%s\",realm=\"" DOM "\",nonce=\"%s\","
             "uri=\"sip:" DOM "\",response=\"\",algorithm=%s,"
             "integrity-protected=\"tls-yes\"",
             impi, f->nonce, imsec_digest_alg_name(alg));
    return b;
  }
  if (mode == UE_WRONG_RES)
    r.res[0] ^= 0xff;
  imsec_digest_input in = {
      .username = S(impi),
      .realm = S(DOM),
      .method = S("REGISTER"),
      .uri = S("sip:" DOM),
      .nonce = S(f->nonce),
      .qop = IMSEC_DIGEST_QOP_AUTH,
      .nc = S(nc),
      .cnonce = S("0a4f113b"),
  };
  char resp[40];
  assert_int_equal(
      imsec_digest_aka_response(f->c, alg, &r, &in, resp, sizeof(resp)), 32);
  char auts[32] = "";
  if (r.status == IMSEC_AKA_UE_SYNC_FAIL)
    assert_int_equal(imsec_digest_aka_auts_encode(r.auts, auts, sizeof(auts)),
                     20);
  snprintf(b, sizeof(b),
           "Digest username=\"%s\",realm=\"" DOM "\",nonce=\"%s\","
           "uri=\"sip:" DOM "\",response=\"%s\",algorithm=%s,qop=auth,"
           "nc=%s,cnonce=\"0a4f113b\"%s%s%s,integrity-protected=\"tls-yes\"",
           impi, f->nonce, resp, imsec_digest_alg_name(alg), nc,
           auts[0] ? ",auts=\"" : "", auts, auts[0] ? "\"" : "");
  imsec_aka_ue_result_wipe(&r);
  return b;
}

/* The first, unauthenticated REGISTER of `impu`/`impi` from the P-CSCF
 * flow (deliver's result). */
static int reg_first(fx *f, const char *impu, const char *impi) {
  return deliver(f, PCSCF_FLOW,
                 reg_msg(f, impu, empty_auth(impi), CONTACT1, NULL));
}

/* Answer the challenge just received for IMPI_A as a good UE and expect
 * the 200. */
static void answer_ok_200(fx *f) {
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  imsec_aka_ue_status st;
  const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", &st);
  assert_int_equal(st, IMSEC_AKA_UE_OK);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 200);
}

/* A whole registration; returns the final status. */
static unsigned do_registration(fx *f, const char *impi, const char *impu,
                                const char *contact) {
  assert_int_equal(
      deliver(f, PCSCF_FLOW, reg_msg(f, impu, empty_auth(impi), contact, NULL)),
      1);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, impi, alg, UE_OK, "00000001", NULL);
  assert_int_equal(deliver(f, PCSCF_FLOW, reg_msg(f, impu, a, contact, NULL)),
                   1);
  return status_of(f->last);
}

/* ------------------------------------------------------------ tests */

static void register_akav1(void **state) {
  fx *f = *state;
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 1);
  assert_int_equal(f->last_flow, PCSCF_FLOW);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  assert_int_equal(alg, IMSEC_DIGEST_AKAV1_MD5);
  assert_non_null(strstr(f->www, "qop=\"auth\""));
  assert_null(strstr(f->www, "stale"));
  assert_null(strstr(f->www, ", ck="));
  assert_int_equal(imsec_scscf_challenges(f->s), 1);
  /* The nonce lifetime timer was armed. */
  const imsec_act *t = find_act(f, IMSEC_ACT_TIMER);
  assert_non_null(t);
  assert_int_equal(t->at, f->now + 30000);
  /* Both Vias are echoed. */
  assert_non_null(strstr(f->last, "z9hG4bKu1"));

  const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  assert_int_equal(
      deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL)), 1);
  assert_int_equal(status_of(f->last), 200);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A2)), 1);
  assert_int_equal(imsec_scscf_registrations(f->s), 1);
  assert_non_null(strstr(f->last,
                         "Contact: <sip:ue@10.0.0.1:5061;transport=tls;"
                         "ob>;expires=600"));
  assert_non_null(strstr(f->last, "reg-id=1"));
  assert_non_null(strstr(f->last, "Path: " PATH_V "\r\n"));
  assert_non_null(strstr(
      f->last, "Service-Route: <sip:orig@127.0.0.1:6060;transport=tcp;lr>"));
  assert_non_null(
      strstr(f->last, "P-Associated-URI: <" IMPU_A ">, <" IMPU_A2 ">\r\n"));
  assert_non_null(strstr(f->last, "To: <" IMPU_A ">;tag="));
}

static void register_akav2(void **state) {
  fx *f = *state;
  assert_int_equal(reg_first(f, IMPU_B, IMPI_B), 1);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  assert_int_equal(alg, IMSEC_DIGEST_AKAV2_MD5);
  const char *a = answer(f, IMPI_B, alg, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_B, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 200);
  /* An AKAv1 answer to an AKAv2 challenge is a wrong password. */
  reg_first(f, IMPU_B, IMPI_B);
  take_challenge(f, NULL);
  a = answer(f, IMPI_B, IMSEC_DIGEST_AKAV1_MD5, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_B, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
}

static void wrong_res(void **state) {
  fx *f = *state;
  reg_first(f, IMPU_A, IMPI_A);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, IMPI_A, alg, UE_WRONG_RES, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  /* TS 33.203 §6.1.2.1 */
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
}

static void mac_failure(void **state) {
  fx *f = *state;
  reg_first(f, IMPU_A, IMPI_A);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, IMPI_A, alg, UE_MAC_FAIL, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  /* TS 33.203 §6.1.2.2: the UE refused the network. */
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
}

static void sync_failure(void **state) {
  fx *f = *state;
  /* The ISIM is far ahead of the HSS. */
  assert_int_equal(
      imsec_sqn_ue_accept(&f->ue, &f->cfg, (UINT64_C(100000) << 5) | 7), 0);
  reg_first(f, IMPU_A, IMPI_A);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  imsec_aka_ue_status st;
  const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", &st);
  assert_int_equal(st, IMSEC_AKA_UE_SYNC_FAIL);
  assert_non_null(strstr(a, "auts=\""));
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  /* TS 33.203 §6.1.3: resync, a new challenge (not stale). */
  char old_nonce[128];
  strcpy(old_nonce, f->nonce);
  take_challenge(f, &alg);
  assert_null(strstr(f->www, "stale"));
  assert_string_not_equal(old_nonce, f->nonce);
  imsec_hss_sub sub;
  assert_int_equal(imsec_hss_lookup(f->h, S(IMPI_A), &sub), 0);
  assert_true(sub.sqn.seq >= 100000);
  a = answer(f, IMPI_A, alg, UE_OK, "00000001", &st);
  assert_int_equal(st, IMSEC_AKA_UE_OK);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 200);

  /* A forged AUTS (wrong MAC-S): 403. */
  assert_int_equal(
      imsec_sqn_ue_accept(&f->ue, &f->cfg, (UINT64_C(900000) << 5) | 7), 0);
  reg_first(f, IMPU_A, IMPI_A);
  take_challenge(f, &alg);
  a = answer(f, IMPI_A, alg, UE_OK, "00000001", &st);
  assert_int_equal(st, IMSEC_AKA_UE_SYNC_FAIL);
  char forged[1024];
  strcpy(forged, a);
  char *p = strstr(forged, "auts=\"");
  assert_non_null(p);
  p[6] = p[6] == 'A' ? 'B' : 'A';
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, forged, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
}

static void replay(void **state) {
  fx *f = *state;
  reg_first(f, IMPU_A, IMPI_A);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  char a[1024];
  strcpy(a, answer(f, IMPI_A, alg, UE_OK, "00000001", NULL));
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 200);
  /* The same credentials again (same nonce, same nc): the nonce is used
   * up, so a fresh challenge, never a 200. */
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 401);
  take_challenge(f, NULL);
  assert_non_null(strstr(f->www, "stale=true"));

  /* nc not above the last one on a live nonce: replay. */
  reg_first(f, IMPU_A, IMPI_A);
  take_challenge(f, &alg);
  strcpy(a, answer(f, IMPI_A, alg, UE_OK, "00000000", NULL));
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 401);
}

static void stale_nonce(void **state) {
  fx *f = *state;
  reg_first(f, IMPU_A, IMPI_A);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  uint64_t timer = find_act(f, IMSEC_ACT_TIMER)->timer;
  /* A stale timer (fired early) changes nothing. */
  imsec_out_clear(&f->out);
  ev_timer(f, timer, f->now + 1000, &f->out);
  assert_int_equal(imsec_scscf_challenges(f->s), 1);
  /* TS 33.203 §6.1.2.3: the lifetime passes: the vector is dropped. */
  f->now += 30001;
  ev_timer(f, timer, f->now, &f->out);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  take_challenge(f, NULL);
  assert_non_null(strstr(f->www, "stale=true"));
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);

  /* Without the timer: the lifetime is checked on arrival too. */
  f->now += 30001;
  a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  take_challenge(f, NULL);
  assert_non_null(strstr(f->www, "stale=true"));
  /* The fresh one works. */
  a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 200);
}

static void refusals(void **state) {
  fx *f = *state;
  /* Unknown IMPI. */
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_A, empty_auth("nobody@" DOM), CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
  /* IMPU of another subscriber. */
  reg_first(f, IMPU_B, IMPI_A);
  assert_int_equal(status_of(f->last), 403);
  /* Another domain. */
  const char *m = "REGISTER sip:ims.other.org SIP/2.0\r\n"
                  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKx\r\n"
                  "From: <" IMPU_A ">;tag=1\r\nTo: <" IMPU_A ">\r\n"
                  "Call-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
  deliver(f, PCSCF_FLOW, m);
  assert_int_equal(status_of(f->last), 403);
  /* No Authorization: the IMPI is found by IMPU; challenged. */
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A2, NULL, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 401);
  /* Malformed Authorization. */
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_A, "Digest username=", CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 400);
  /* Malformed request: 400 from the checker. */
  deliver(f, PCSCF_FLOW,
          "REGISTER sip:" DOM
          " SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
          "From: <" IMPU_A ">;tag=1\r\nTo: <" IMPU_A ">\r\nCall-ID: x\r\n"
          "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(status_of(f->last), 400);
  /* Garbage: dropped, logged. */
  assert_int_equal(deliver(f, PCSCF_FLOW, "hello\r\n\r\n"), 0);
  assert_non_null(find_act(f, IMSEC_ACT_LOG));
  /* A nonce of another subscriber. */
  reg_first(f, IMPU_A, IMPI_A);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, IMPI_C, alg, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_C, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
}

static void contacts_and_expiry(void **state) {
  fx *f = *state;
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT1), 200);
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT2), 200);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 2);
  assert_non_null(strstr(f->last, "sip:ue@10.0.0.1"));
  assert_non_null(strstr(f->last, "sip:ue@10.0.0.2"));
  /* Re-registering contact 1 replaces it (same instance and reg-id). */
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT1), 200);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 2);
  /* Contact 2 (300 s) expires first. */
  uint64_t t2 = 0;
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_TIMER)
      t2 = f->out.acts[i].timer;
  assert_true(t2 != 0);
  f->now += 301 * 1000;
  /* Fire every timer id we handed out so far. */
  for (uint64_t id = 1; id < 64; id++) {
    imsec_out_clear(&f->out);
    ev_timer(f, id, f->now, &f->out);
  }
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
  f->now += 300 * 1000;
  for (uint64_t id = 1; id < 64; id++)
    ev_timer(f, id, f->now, &f->out);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
}

static void expires_rules(void **state) {
  fx *f = *state;
  /* Too brief: 423 with Min-Expires. */
  assert_int_equal(
      do_registration(f, IMPI_A, IMPU_A,
                      "<sip:ue@10.0.0.1:5061;transport=tls>;expires=10"),
      423);
  assert_non_null(strstr(f->last, "Min-Expires: 60\r\n"));
  /* Too long: cut to the maximum. */
  assert_int_equal(
      do_registration(f, IMPI_A, IMPU_A,
                      "<sip:ue@10.0.0.1:5061;transport=tls>;expires=99999"),
      200);
  assert_non_null(strstr(f->last, ";expires=3600"));
  /* De-register with expires=0. */
  assert_int_equal(
      do_registration(f, IMPI_A, IMPU_A,
                      "<sip:ue@10.0.0.1:5061;transport=tls>;expires=0"),
      200);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
  assert_null(strstr(f->last, "Contact:"));
  /* Register two, then Contact: * with Expires: 0 removes both. */
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT1), 200);
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT2), 200);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 2);
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_A, empty_auth(IMPI_A), "*", "Expires: 0\r\n"));
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, "*", "Expires: 0\r\n"));
  assert_int_equal(status_of(f->last), 200);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
  /* Contact: * without Expires: 0 is refused. */
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, empty_auth(IMPI_A), "*", NULL));
  take_challenge(f, &alg);
  a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, "*", NULL));
  assert_int_equal(status_of(f->last), 400);
  /* Expires header applies to a contact without its own parameter. */
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A,
                                   "<sip:ue@10.0.0.9:5061;transport=tls>"),
                   200);
  assert_non_null(strstr(f->last, ";expires=600"));
}

static const char *message_to(const char *ruri, const char *route) {
  static char b[4096];
  snprintf(b, sizeof(b),
           "MESSAGE %s SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKpm1\r\n"
           "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKum1;rport\r\n"
           "Max-Forwards: 69\r\n%s%s%s"
           "From: <" IMPU_A ">;tag=m1\r\nTo: <%s>\r\n"
           "Call-ID: msg-1\r\nCSeq: 1 MESSAGE\r\n"
           "P-Asserted-Identity: <" IMPU_A ">\r\n"
           "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
           ruri, route ? "Route: " : "", route ? route : "",
           route ? "\r\n" : "", ruri);
  return b;
}

static void routing(void **state) {
  fx *f = *state;
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT1), 200);
  /* Not registered: 480; unknown: 404. */
  deliver(f, 8, message_to(IMPU_C, NULL));
  assert_int_equal(status_of(f->last), 480);
  deliver(f, 8, message_to("sip:nobody@" DOM, NULL));
  assert_int_equal(status_of(f->last), 404);

  /* Originating via the Service-Route: A must be registered. */
  deliver(f, 8,
          message_to(IMPU_B, "<sip:orig@127.0.0.1:6060;transport=tcp;lr>"));
  assert_int_equal(status_of(f->last), 403);
  memset(&f->ue, 0, sizeof(f->ue)); /* A's ISIM, same keys as B's */
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT2), 200);

  /* From A's P-CSCF (flow 8) via the Service-Route. */
  imsec_out_clear(&f->out);
  assert_int_equal(flow_up(f, 8, 0), 0);
  deliver(f, 8,
          message_to(IMPU_B, "<sip:orig@127.0.0.1:6060;transport=tcp;lr>"));
  /* A connection to the Path's hop first, then the request on it. */
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  assert_int_equal(c->addr.tp, IMSEC_TP_TCP);
  assert_string_equal(c->addr.host, "127.0.0.1");
  assert_int_equal(c->addr.port, 5070);
  uint64_t tag = c->tag;
  assert_null(find_act(f, IMSEC_ACT_SEND));
  imsec_out_clear(&f->out);
  assert_int_equal(flow_up(f, 100, tag), 0);
  const imsec_act *sa = find_act(f, IMSEC_ACT_SEND);
  assert_non_null(sa);
  assert_int_equal(sa->flow, 100);
  char fwd[8192];
  memcpy(fwd, sa->data, sa->len);
  fwd[sa->len] = 0;
  assert_true(strncmp(fwd,
                      "MESSAGE sip:ue@10.0.0.1:5061;transport=tls;ob SIP/2.0",
                      53) == 0);
  assert_non_null(strstr(fwd, "Route: " PATH_V "\r\n"));
  assert_null(strstr(fwd, "orig@"));
  assert_non_null(strstr(fwd, "Max-Forwards: 68\r\n"));
  assert_non_null(strstr(fwd, "Via: SIP/2.0/TCP 127.0.0.1:6060;branch="));
  assert_non_null(strstr(fwd, "\r\n\r\nhello"));

  /* The UE's 200 comes back from the P-CSCF on flow 100: our Via popped,
   * sent on flow 8. */
  char *via = strstr(fwd, "Via: SIP/2.0/TCP 127.0.0.1:6060");
  char *eol = strstr(via, "\r\n");
  char resp[4096];
  snprintf(resp, sizeof(resp),
           "SIP/2.0 200 OK\r\n%.*s\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKpm1\r\n"
           "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKum1;rport\r\n"
           "From: <" IMPU_A ">;tag=m1\r\nTo: <" IMPU_B ">;tag=b\r\n"
           "Call-ID: msg-1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
           (int)(eol - via), via);
  assert_int_equal(deliver(f, 100, resp), 1);
  assert_int_equal(f->last_flow, 8);
  assert_null(strstr(f->last, "6060"));
  assert_non_null(strstr(f->last, "z9hG4bKpm1"));

  /* The next request reuses the connection (RFC 5923). */
  deliver(f, 8, message_to(IMPU_B, NULL));
  assert_null(find_act(f, IMSEC_ACT_CONNECT));
  assert_int_equal(f->last_flow, 100);
  /* A response for a flow that is gone is dropped. */
  imsec_out_clear(&f->out);
  imsec_scscf_on_flow_down(f->s, 8, 0, 0, f->now, &f->out);
  assert_int_equal(deliver(f, 100, resp), 0);
  /* The hop's connection goes down: the next request connects again. */
  imsec_scscf_on_flow_down(f->s, 100, tag, 0, f->now, &f->out);
  deliver(f, 9, message_to(IMPU_B, NULL));
  assert_non_null(find_act(f, IMSEC_ACT_CONNECT));
  /* ... and if that connect fails, the queue is dropped. */
  imsec_out_clear(&f->out);
  imsec_scscf_on_flow_down(f->s, 0,
                           find_act(f, IMSEC_ACT_CONNECT) ? 0 : tag + 1, -1,
                           f->now, &f->out);
}

static void options_and_others(void **state) {
  fx *f = *state;
  const char *o = "OPTIONS sip:" DOM " SIP/2.0\r\n"
                  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKo\r\n"
                  "From: <" IMPU_A ">;tag=1\r\nTo: <sip:" DOM ">\r\n"
                  "Call-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  deliver(f, 8, o);
  assert_int_equal(status_of(f->last), 200);
  /* It lists what it proxies: every method a phone sends. */
  assert_non_null(strstr(f->last, "Allow: INVITE, ACK, CANCEL, BYE,"));
  assert_non_null(strstr(f->last, "MESSAGE, OPTIONS"));
  const char *i = "INVITE sip:bob@" DOM " SIP/2.0\r\n"
                  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKi\r\n"
                  "From: <" IMPU_A ">;tag=1\r\nTo: <sip:bob@" DOM ">\r\n"
                  "Call-ID: i\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  /* Every method is routed (no 405): bob is known, not registered. */
  deliver(f, 8, i);
  assert_int_equal(status_of(f->last), 480);
  /* A Route that is not ours. */
  deliver(f, 8, message_to(IMPU_B, "<sip:elsewhere.example.net;lr>"));
  assert_int_equal(status_of(f->last), 403);
  /* OPTIONS to a registered UE is routed like MESSAGE. */
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT1), 200);
  const char *ob =
      "OPTIONS " IMPU_B " SIP/2.0\r\n"
      "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKo2\r\n"
      "Max-Forwards: 0\r\n"
      "From: <" IMPU_A ">;tag=1\r\nTo: <" IMPU_B ">\r\n"
      "Call-ID: o2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  deliver(f, 8, ob);
  assert_int_equal(status_of(f->last), 483);
}

/* ------------------------------------------------------------ forking */

/* The SEND actions of the last event, in order. */
static size_t sends(fx *f, const imsec_act **out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n && n < max; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_SEND)
      out[n++] = &f->out.acts[i];
  return n;
}

static size_t count_kind(fx *f, imsec_act_kind kind) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n; i++)
    n += f->out.acts[i].kind == kind;
  return n;
}

/* A branch as the P-CSCF got it: its text and where it went. */
typedef struct fwd {
  char text[8192];
  uint64_t flow;
} fwd;

static void take(const imsec_act *a, fwd *w) {
  assert_true(a->len < sizeof(w->text));
  memcpy(w->text, a->data, a->len);
  w->text[a->len] = 0;
  w->flow = a->flow;
}

/* What a UE (through its P-CSCF) answers to a forwarded request: every
 * Via (ours on top), From, To with a tag, Call-ID, CSeq. */
static const char *reply(const fwd *w, unsigned code, const char *reason) {
  static char b[8192];
  int n = snprintf(b, sizeof(b), "SIP/2.0 %u %s\r\n", code, reason);
  const char *p = w->text;
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (strncmp(p, "\r\n", 2) == 0)
      break;
    const char *eol = strstr(p, "\r\n");
    if (!strncmp(p, "Via:", 4) || !strncmp(p, "From:", 5) ||
        !strncmp(p, "Call-ID:", 8) || !strncmp(p, "CSeq:", 5))
      n +=
          snprintf(b + n, sizeof(b) - (size_t)n, "%.*s\r\n", (int)(eol - p), p);
    else if (!strncmp(p, "To:", 3))
      n += snprintf(b + n, sizeof(b) - (size_t)n, "%.*s;tag=ue%u\r\n",
                    (int)(eol - p), p, code);
  }
  snprintf(b + n, sizeof(b) - (size_t)n, "Content-Length: 0\r\n\r\n");
  return b;
}

/* The branch parameter of the top Via. */
static void top_branch(const char *msg, char *out, size_t cap) {
  const char *v = strstr(msg, "Via: ");
  assert_non_null(v);
  const char *b = strstr(v, "branch=");
  assert_non_null(b);
  b += 7;
  size_t n = strcspn(b, ";\r\n");
  assert_true(n < cap);
  memcpy(out, b, n);
  out[n] = 0;
}

/* B registered with `n` contacts (1..3) all behind the P-CSCF of PATH_V
 * (one connection); A's P-CSCF is up as flow 8. */
static void register_contacts(fx *f, int n) {
  const char *cs[] = {CONTACT1, CONTACT2, CONTACT3};
  for (int i = 0; i < n; i++)
    assert_int_equal(do_registration(f, IMPI_B, IMPU_B, cs[i]), 200);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_B)), (size_t)n);
  imsec_out_clear(&f->out);
  assert_int_equal(flow_up(f, 8, 0), 0);
}

/* Send a MESSAGE for B on flow 8; the P-CSCF connection comes up as flow
 * 100 when it is asked for. The `n` branches into w[]. */
static void fork_message(fx *f, fwd *w, size_t n) {
  deliver(f, 8, message_to(IMPU_B, NULL));
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  if (c) {
    assert_int_equal(count_kind(f, IMSEC_ACT_CONNECT), 1); /* one per hop */
    uint64_t tag = c->tag;
    assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
    imsec_out_clear(&f->out);
    assert_int_equal(flow_up(f, 100, tag), 0);
  }
  const imsec_act *a[4];
  assert_int_equal(sends(f, a, 4), n);
  for (size_t i = 0; i < n; i++) {
    take(a[i], &w[i]);
    assert_int_equal(w[i].flow, 100);
  }
}

/* Two and three contacts: a branch each, each with its own Via branch and
 * Request-URI; the first 2xx goes up once, the rest are absorbed. */
static void fork_first_2xx(void **state) {
  fx *f = *state;
  register_contacts(f, 2);
  fwd w[3];
  fork_message(f, w, 2);
  assert_int_equal(imsec_scscf_txns(f->s), 1);
  char b0[128], b1[128];
  top_branch(w[0].text, b0, sizeof(b0));
  top_branch(w[1].text, b1, sizeof(b1));
  assert_string_not_equal(b0, b1);
  assert_true(strncmp(b0, "z9hG4bK", 7) == 0);
  int to1 = strstr(w[0].text, "MESSAGE sip:ue@10.0.0.1:") == w[0].text ||
            strstr(w[1].text, "MESSAGE sip:ue@10.0.0.1:") == w[1].text;
  int to2 = strstr(w[0].text, "MESSAGE sip:ue@10.0.0.2:") == w[0].text ||
            strstr(w[1].text, "MESSAGE sip:ue@10.0.0.2:") == w[1].text;
  assert_true(to1 && to2);
  for (int i = 0; i < 2; i++) {
    assert_non_null(strstr(w[i].text, "Route: " PATH_V "\r\n"));
    assert_non_null(strstr(w[i].text, "Max-Forwards: 68\r\n"));
    assert_non_null(strstr(w[i].text, "\r\n\r\nhello"));
    /* One Via of ours, above the two it came with. */
    const char *v = strstr(w[i].text, "Via: SIP/2.0/TCP 127.0.0.1:6060");
    assert_non_null(v);
    assert_null(strstr(v + 20, "127.0.0.1:6060"));
  }
  /* Provisional responses are not forwarded (RFC 4320 §4.2). */
  assert_int_equal(deliver(f, 100, reply(&w[0], 100, "Trying")), 0);
  assert_int_equal(deliver(f, 100, reply(&w[0], 180, "Ringing")), 0);
  /* Branch 1 answers first: its 200 goes up at once, our Via gone. */
  assert_int_equal(deliver(f, 100, reply(&w[1], 200, "OK")), 1);
  assert_int_equal(f->last_flow, 8);
  assert_int_equal(status_of(f->last), 200);
  assert_null(strstr(f->last, "6060"));
  assert_non_null(strstr(f->last, "z9hG4bKpm1"));
  assert_int_equal(imsec_scscf_txns(f->s), 1); /* branch 0 still runs */
  /* Branch 0's 200 (and a repeat of branch 1's) is absorbed. */
  assert_int_equal(deliver(f, 100, reply(&w[1], 200, "OK")), 0);
  assert_int_equal(deliver(f, 100, reply(&w[0], 200, "OK")), 0);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  assert_int_equal(deliver(f, 100, reply(&w[0], 200, "OK")), 0);

  /* Three contacts: a 2xx after two errors still wins. */
  register_contacts(f, 3);
  fork_message(f, w, 3);
  assert_int_equal(deliver(f, 100, reply(&w[0], 486, "Busy Here")), 0);
  assert_int_equal(deliver(f, 100, reply(&w[2], 603, "Decline")), 0);
  assert_int_equal(deliver(f, 100, reply(&w[1], 202, "Accepted")), 1);
  assert_int_equal(status_of(f->last), 202);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
}

/* All branches fail: the best final response (RFC 3261 §16.7 step 6). */
static void fork_all_fail(void **state) {
  fx *f = *state;
  register_contacts(f, 3);
  fwd w[3];
  /* The lowest class. */
  fork_message(f, w, 3);
  assert_int_equal(deliver(f, 100, reply(&w[0], 500, "Server Error")), 0);
  assert_int_equal(deliver(f, 100, reply(&w[1], 486, "Busy Here")), 0);
  assert_int_equal(deliver(f, 100, reply(&w[2], 503, "Unavailable")), 1);
  assert_int_equal(status_of(f->last), 486);
  assert_int_equal(f->last_flow, 8);
  assert_null(strstr(f->last, "6060"));
  assert_non_null(strstr(f->last, "tag=ue486"));
  /* A 6xx beats any other class. */
  fork_message(f, w, 3);
  assert_int_equal(deliver(f, 100, reply(&w[0], 404, "Not Found")), 0);
  assert_int_equal(deliver(f, 100, reply(&w[1], 603, "Decline")), 0);
  assert_int_equal(deliver(f, 100, reply(&w[2], 302, "Moved")), 1);
  assert_int_equal(status_of(f->last), 603);
  /* Within 4xx, one that says how to retry is preferred. */
  fork_message(f, w, 3);
  deliver(f, 100, reply(&w[0], 404, "Not Found"));
  deliver(f, 100, reply(&w[1], 415, "Unsupported Media Type"));
  assert_int_equal(deliver(f, 100, reply(&w[2], 480, "Unavailable")), 1);
  assert_int_equal(status_of(f->last), 415);
  /* Only 503s: a 500 goes up; 430 (flow failed at the edge) becomes 480. */
  fork_message(f, w, 3);
  deliver(f, 100, reply(&w[0], 503, "Unavailable"));
  deliver(f, 100, reply(&w[1], 503, "Unavailable"));
  assert_int_equal(deliver(f, 100, reply(&w[2], 503, "Unavailable")), 1);
  assert_int_equal(status_of(f->last), 500);
  assert_non_null(strstr(f->last, "z9hG4bKpm1"));
  fork_message(f, w, 3);
  deliver(f, 100, reply(&w[0], 430, "Flow Failed"));
  deliver(f, 100, reply(&w[1], 503, "Unavailable"));
  assert_int_equal(deliver(f, 100, reply(&w[2], 430, "Flow Failed")), 1);
  assert_int_equal(status_of(f->last), 480);
  assert_non_null(strstr(f->last, "Call-ID: msg-1\r\n"));
  assert_non_null(strstr(f->last, "CSeq: 1 MESSAGE\r\n"));
  assert_int_equal(imsec_scscf_txns(f->s), 0);
}

/* Two contacts behind two P-CSCFs (two connections); one connection goes
 * down: that branch counts as 503, the other still decides. */
static void fork_flow_down(void **state) {
  fx *f = *state;
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT1), 200);
  f->path = "<sip:tok2@127.0.0.2:5070;transport=tcp;lr;ob>";
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT2), 200);
  imsec_out_clear(&f->out);
  (void)flow_up(f, 8, 0);
  for (int round = 0; round < 2; round++) {
    deliver(f, 8, message_to(IMPU_B, NULL));
    uint64_t tag1 = 0, tag2 = 0;
    for (size_t i = 0; i < f->out.n; i++) {
      imsec_act *a = &f->out.acts[i];
      if (a->kind != IMSEC_ACT_CONNECT)
        continue;
      if (!strcmp(a->addr.host, "127.0.0.1"))
        tag1 = a->tag;
      else if (!strcmp(a->addr.host, "127.0.0.2"))
        tag2 = a->tag;
    }
    /* Round 1: the first hop's connection is still up (reused). */
    assert_true(tag2 && (round == 1) == !tag1);
    const imsec_act *a[2];
    fwd w1;
    if (round == 0) {
      assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
      imsec_out_clear(&f->out);
      assert_int_equal(flow_up(f, 101, tag1), 0);
    }
    assert_int_equal(sends(f, a, 2), 1);
    take(a[0], &w1);
    assert_int_equal(w1.flow, 101);
    assert_true(strstr(w1.text, "MESSAGE sip:ue@10.0.0.1:") == w1.text);
    if (round == 0) {
      /* The second hop comes up, then goes down before an answer. */
      imsec_out_clear(&f->out);
      (void)flow_up(f, 102, tag2);
      assert_int_equal(sends(f, a, 2), 1);
      assert_non_null(strstr((const char *)a[0]->data, "tok2@127.0.0.2"));
      imsec_out_clear(&f->out);
      imsec_scscf_on_flow_down(f->s, 102, 0, IMSEC_ERR_IO, f->now, &f->out);
      assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
      /* The live branch answers 200: it goes up. */
      assert_int_equal(deliver(f, 101, reply(&w1, 200, "OK")), 1);
      assert_int_equal(status_of(f->last), 200);
    } else {
      /* The connect to the second hop fails; the first answers 404:
       * 404 beats the 503 the failed branch counts as. */
      imsec_out_clear(&f->out);
      imsec_scscf_on_flow_down(f->s, 0, tag2, IMSEC_ERR_IO, f->now, &f->out);
      assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
      assert_int_equal(deliver(f, 101, reply(&w1, 404, "Not Found")), 1);
      assert_int_equal(status_of(f->last), 404);
      /* Both connections down, a new request: both fail -> 500. */
      imsec_out_clear(&f->out);
      imsec_scscf_on_flow_down(f->s, 101, 0, IMSEC_ERR_IO, f->now, &f->out);
      deliver(f, 8, message_to(IMPU_B, NULL));
      uint64_t tags[2];
      size_t nt = 0;
      for (size_t i = 0; i < f->out.n; i++)
        if (f->out.acts[i].kind == IMSEC_ACT_CONNECT)
          tags[nt++] = f->out.acts[i].tag;
      assert_int_equal(nt, 2);
      imsec_out_clear(&f->out);
      imsec_scscf_on_flow_down(f->s, 0, tags[0], IMSEC_ERR_IO, f->now, &f->out);
      assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
      imsec_out_clear(&f->out);
      imsec_scscf_on_flow_down(f->s, 0, tags[1], IMSEC_ERR_IO, f->now, &f->out);
      const imsec_act *r = find_act(f, IMSEC_ACT_SEND);
      assert_non_null(r);
      assert_int_equal(r->flow, 8);
      assert_true(strncmp((const char *)r->data, "SIP/2.0 500 ", 12) == 0);
    }
  }
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* The upstream flow goes down while a fork is pending: its answer is
   * dropped, and the context still ends. */
  deliver(f, 8, message_to(IMPU_B, NULL));
  imsec_out_clear(&f->out);
  imsec_scscf_on_flow_down(f->s, 8, 0, IMSEC_ERR_IO, f->now, &f->out);
  for (uint64_t tag = 1; tag < 200; tag++)
    imsec_scscf_on_flow_down(f->s, 0, tag, IMSEC_ERR_IO, f->now, &f->out);
  assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
}

/* Timer F per branch: a branch with no final answer counts as 408. */
static void fork_timeout(void **state) {
  fx *f = *state;
  register_contacts(f, 2);
  fwd w[2];
  fork_message(f, w, 2);
  /* Two timers armed at now + 32 s (64*T1), one per branch. The fork's
   * timers are the last two TIMER actions of the MESSAGE's events. */
  deliver(f, 8, message_to(IMPU_B, NULL)); /* a second fork, on the flow */
  size_t nt = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    imsec_act *a = &f->out.acts[i];
    if (a->kind == IMSEC_ACT_TIMER) {
      assert_int_equal(a->at, f->now + 32000);
      assert_true(a->timer != 0);
      nt++;
    }
  }
  assert_int_equal(nt, 2);
  const imsec_act *a[2];
  fwd w2[2];
  assert_int_equal(sends(f, a, 2), 2);
  take(a[0], &w2[0]);
  take(a[1], &w2[1]);
  assert_int_equal(imsec_scscf_txns(f->s), 2);
  /* Fork 1: one branch answers 486, the other never does. */
  deliver(f, 100, reply(&w[0], 486, "Busy Here"));
  /* Fork 2: a branch answers 200 at once. */
  assert_int_equal(deliver(f, 100, reply(&w2[1], 200, "OK")), 1);
  /* Early: nothing happens. */
  f->now += 31000;
  imsec_out_clear(&f->out);
  for (uint64_t id = 1; id < 200; id++)
    ev_timer(f, id, f->now, &f->out);
  assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
  assert_int_equal(imsec_scscf_txns(f->s), 2);
  f->now += 1000;
  imsec_out_clear(&f->out);
  for (uint64_t id = 1; id < 200; id++)
    ev_timer(f, id, f->now, &f->out);
  /* Fork 1: 486 (an answer beats our 408); fork 2: already answered. */
  const imsec_act *r[3];
  assert_int_equal(sends(f, r, 3), 1);
  assert_true(strncmp((const char *)r[0]->data, "SIP/2.0 486 ", 12) == 0);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* No answers at all: 408 built from the request. */
  fork_message(f, w, 2);
  f->now += 32000;
  imsec_out_clear(&f->out);
  for (uint64_t id = 1; id < 200; id++)
    ev_timer(f, id, f->now, &f->out);
  assert_int_equal(sends(f, r, 3), 1);
  assert_int_equal(r[0]->flow, 8);
  char txt[4096];
  memcpy(txt, r[0]->data, r[0]->len);
  txt[r[0]->len] = 0;
  assert_true(strncmp(txt, "SIP/2.0 408 ", 12) == 0);
  assert_non_null(
      strstr(txt, "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKpm1"));
  assert_non_null(strstr(txt, "Via: SIP/2.0/TLS 10.0.0.1:5061"));
  assert_null(strstr(txt, "6060"));
  assert_non_null(strstr(txt, "To: <" IMPU_B ">;tag="));
  /* A late answer after that is absorbed. */
  assert_int_equal(deliver(f, 100, reply(&w[0], 200, "OK")), 0);
}

/* The configured timeout and the cap on pending forks (503 beyond it). */
static void fork_cap(void **state) {
  fx *f = *state;
  imsec_scscf_del(f->s);
  static const char *const addrs[] = {"127.0.0.1"};
  imsec_scscf_config cfg = {.domain = DOM,
                            .max_txns = 2,
                            .txn_timeout_ms = 5000,
                            .insecure_core = 1,
                            .peer_addrs = addrs,
                            .n_peer_addrs = 1};
  assert_int_equal(imsec_addr_parse(S("tcp:127.0.0.1:6060"), &cfg.self), 0);
  assert_int_equal(imsec_scscf_new(&f->s, &cfg, f->c), 0);
  register_contacts(f, 2);
  fwd w[2], w2[2];
  fork_message(f, w, 2);
  deliver(f, 8, message_to(IMPU_B, NULL));
  const imsec_act *t = find_act(f, IMSEC_ACT_TIMER);
  assert_non_null(t);
  assert_int_equal(t->at, f->now + 5000);
  const imsec_act *a[2];
  assert_int_equal(sends(f, a, 2), 2);
  take(a[0], &w2[0]);
  take(a[1], &w2[1]);
  assert_int_equal(imsec_scscf_txns(f->s), 2);
  /* Full: the third gets 503 at once and nothing goes out. */
  assert_int_equal(deliver(f, 8, message_to(IMPU_B, NULL)), 1);
  assert_int_equal(status_of(f->last), 503);
  assert_int_equal(f->last_flow, 8);
  assert_int_equal(imsec_scscf_txns(f->s), 2);
  /* One ends (both branches final): room again. */
  deliver(f, 100, reply(&w[0], 200, "OK"));
  deliver(f, 100, reply(&w[1], 486, "Busy Here"));
  assert_int_equal(imsec_scscf_txns(f->s), 1);
  assert_int_equal(deliver(f, 8, message_to(IMPU_B, NULL)), 2);
  assert_int_equal(imsec_scscf_txns(f->s), 2);
  /* The configured 5 s timeout ends both. */
  f->now += 5000;
  imsec_out_clear(&f->out);
  for (uint64_t id = 1; id < 200; id++)
    ev_timer(f, id, f->now, &f->out);
  assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 2);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* A negative timeout is a configuration error. */
  imsec_scscf *s2 = NULL;
  cfg.txn_timeout_ms = -1;
  assert_int_equal(imsec_scscf_new(&s2, &cfg, f->c), IMSEC_ERR_CONFIG);
}

/* RFC 3261 §18.2.1, RFC 3581 §4: the P-CSCF's Via gets received (its
 * sent-by differs from where the flow comes from) and, when asked, rport. */
static void via_received_rport(void **state) {
  fx *f = *state;
  register_contacts(f, 1);
  /* a P-CSCF that names itself in its Via, on an allowed address */
  imsec_flow_info info = f->ti;
  assert_int_equal(
      imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:5555"), &info.peer), 0);
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 9, 0, &info, f->now, &f->out),
                   0);
  mark_known(f, 9);
  char msg[4096];
  const char *m = message_to(IMPU_B, NULL);
  const char *at = strstr(m, "127.0.0.1:5070;branch=z9hG4bKpm1");
  assert_non_null(at);
  snprintf(msg, sizeof(msg), "%.*spcscf.example:5070%s", (int)(at - m), m,
           at + strlen("127.0.0.1:5070"));
  deliver(f, 9, msg);
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  uint64_t tag = c->tag;
  imsec_out_clear(&f->out);
  assert_int_equal(flow_up(f, 100, tag), 0);
  const imsec_act *a[2];
  assert_int_equal(sends(f, a, 2), 1);
  fwd w;
  take(a[0], &w);
  assert_non_null(strstr(w.text, "\r\nVia: SIP/2.0/TCP pcscf.example:5070;"
                                 "branch=z9hG4bKpm1;received=127.0.0.1\r\n"));
  /* the UE's Via below is the P-CSCF's business: as it came */
  assert_non_null(strstr(w.text, "Via: SIP/2.0/TLS 10.0.0.1:5061;branch="
                                 "z9hG4bKum1;rport\r\n"));
  /* our own answers carry the mark too; rport asked for: both, even with
   * the same host */
  const char *opt = "OPTIONS sip:" DOM " SIP/2.0\r\n"
                    "Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKo1;rport\r\n"
                    "Max-Forwards: 70\r\nFrom: <" IMPU_A ">;tag=o\r\n"
                    "To: <sip:" DOM ">\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\n"
                    "Content-Length: 0\r\n\r\n";
  assert_int_equal(deliver(f, 9, opt), 1);
  assert_non_null(strstr(f->last, "Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKo1"
                                  ";rport=5555;received=127.0.0.1\r\n"));
  /* the same host and no rport: received all the same (RFC 3581 §4) */
  const char *opt2 = "OPTIONS sip:" DOM " SIP/2.0\r\n"
                     "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKo2\r\n"
                     "Max-Forwards: 70\r\nFrom: <" IMPU_A ">;tag=o\r\n"
                     "To: <sip:" DOM ">\r\nCall-ID: o2\r\nCSeq: 1 OPTIONS\r\n"
                     "Content-Length: 0\r\n\r\n";
  assert_int_equal(deliver(f, 9, opt2), 1);
  assert_non_null(strstr(f->last,
                         "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKo2;"
                         "received=127.0.0.1\r\n"));
  /* a top Via at the parameter limit (64): received would push it past,
   * so 400, never a message the next hop cannot parse */
  char big[4096];
  int n = snprintf(big, sizeof(big),
                   "OPTIONS sip:" DOM " SIP/2.0\r\n"
                   "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKo3");
  for (int i = 1; i < 64; i++)
    n += snprintf(big + n, sizeof(big) - (size_t)n, ";p%d=1", i);
  snprintf(big + n, sizeof(big) - (size_t)n,
           "\r\nMax-Forwards: 70\r\nFrom: <" IMPU_A ">;tag=o\r\n"
           "To: <sip:" DOM ">\r\nCall-ID: o3\r\nCSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n");
  assert_int_equal(deliver(f, 9, big), 1);
  assert_non_null(strstr(f->last, "SIP/2.0 400 Via has too many parameters"));
}

/* A branch's response with a bare CR or LF, or that fails the checks, is
 * dropped with a line and never goes up; the good one does. */
static void bad_branch_responses(void **state) {
  fx *f = *state;
  register_contacts(f, 1);
  fwd w[1];
  fork_message(f, w, 1);
  static const char *const evil[] = {"X-Evil: a\nInjected: 1\r\n",
                                     "X-Evil: a\rInjected: 1\r\n"};
  for (size_t i = 0; i < 2; i++) {
    char bad[9000];
    const char *r = reply(&w[0], 200, "OK");
    const char *cl = strstr(r, "Content-Length:");
    snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(cl - r), r, evil[i], cl);
    assert_int_equal(deliver(f, 100, bad), 0);
    int logged = 0;
    for (size_t k = 0; k < f->out.n; k++)
      logged |= f->out.acts[k].kind == IMSEC_ACT_LOG &&
                strstr((const char *)f->out.acts[k].data,
                       "a response, not relayed") != NULL;
    assert_true(logged);
  }
  assert_int_equal(imsec_scscf_txns(f->s), 1);
  assert_int_equal(deliver(f, 100, reply(&w[0], 200, "OK")), 1);
  assert_null(strstr(f->last, "Injected"));
  assert_int_equal(imsec_scscf_txns(f->s), 0);
}

/* What the driver could not frame: 513 to a request, nothing to the rest;
 * a 20 kB header line in a framed one: 400. */
static void oversized_input(void **state) {
  fx *f = *state;
  const char *head = reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, "");
  imsec_out_clear(&f->out);
  imsec_scscf_on_refused(f->s, PCSCF_FLOW, IMSEC_ERR_LIMIT,
                         (const uint8_t *)head, strlen(head) - 30, f->now,
                         &f->out);
  const imsec_act *a = find_act(f, IMSEC_ACT_SEND);
  assert_non_null(a);
  assert_int_equal(a->flow, PCSCF_FLOW);
  assert_int_equal(
      strncmp((const char *)a->data, "SIP/2.0 513 Message Too Large\r\n", 31),
      0);
  imsec_out_clear(&f->out);
  imsec_scscf_on_refused(f->s, PCSCF_FLOW, IMSEC_ERR_PARSE,
                         (const uint8_t *)"\x16\x03\x01garbage", 10, f->now,
                         &f->out);
  assert_null(find_act(f, IMSEC_ACT_SEND));
  assert_non_null(find_act(f, IMSEC_ACT_LOG));
  size_t big = 20000;
  char *msg = malloc(big + 8192);
  assert_non_null(msg);
  const char *cl = strstr(head, "Content-Length:");
  int n = snprintf(msg, big + 8192, "%.*sX-Long: ", (int)(cl - head), head);
  memset(msg + n, 'x', big);
  snprintf(msg + n + big, 8192, "\r\n%s", cl);
  assert_int_equal(deliver(f, PCSCF_FLOW, msg), 1);
  assert_int_equal(status_of(f->last), 400);
  free(msg);
}

static void bad_config(void **state) {
  fx *f = *state;
  imsec_scscf *s = NULL;
  imsec_scscf_config cfg = {.domain = "bad domain"};
  assert_int_equal(imsec_addr_parse(S("tcp:127.0.0.1:6060"), &cfg.self), 0);
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), IMSEC_ERR_CONFIG);
  cfg.domain = DOM;
  cfg.expires_min = 100;
  cfg.expires_max = 50;
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_scscf_new(&s, NULL, f->c), IMSEC_ERR_INVAL);
}

/* ------------------------------------------------------------ core peers */

static int log_has(fx *f, const char *needle) {
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_LOG &&
        strstr((const char *)f->out.acts[i].data, needle))
      return 1;
  return 0;
}

static imsec_flow_info tcp_from(const char *host) {
  imsec_flow_info i;
  memset(&i, 0, sizeof(i));
  i.tp = IMSEC_TP_TCP;
  i.inbound = 1;
  snprintf(i.peer.host, sizeof(i.peer.host), "%s", host);
  i.peer.tp = IMSEC_TP_TCP;
  i.peer.port = 40000;
  return i;
}

/* TS 33.210 §5.2: a reload that drops a peer's address closes the flows
 * it already has; one that keeps it closes nothing. */
static void recheck_after_reload(void **state) {
  fx *f = *state;
  imsec_flow_info a = tcp_from("127.0.0.1"), b = tcp_from("127.0.0.2");
  static const char *const two[] = {"127.0.0.1", "127.0.0.2"};
  static const char *const one[] = {"127.0.0.2"};
  assert_int_equal(imsec_scscf_set_peers(f->s, NULL, 0, two, 2), 0);
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 61, 0, &a, f->now, &f->out), 0);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 62, 0, &b, f->now, &f->out), 0);
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_recheck_peers(f->s, f->now, &f->out), 0);
  assert_null(find_act(f, IMSEC_ACT_CLOSE));
  assert_int_equal(imsec_scscf_set_peers(f->s, NULL, 0, one, 1), 0);
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_recheck_peers(f->s, f->now, &f->out), 1);
  const imsec_act *c = find_act(f, IMSEC_ACT_CLOSE);
  assert_non_null(c);
  assert_int_equal(c->flow, 61);
  assert_true(log_has(f, "core peer tcp:127.0.0.1:40000 '127.0.0.1' no "
                         "longer trusted after reload: address-not-listed"));
  /* Refused once: not closed again by the next reload. */
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_recheck_peers(f->s, f->now, &f->out), 0);
  assert_int_equal(imsec_scscf_recheck_peers(NULL, f->now, &f->out),
                   IMSEC_ERR_INVAL);
  imsec_scscf_on_flow_down(f->s, 61, 0, 0, f->now, &f->out);
  imsec_scscf_on_flow_down(f->s, 62, 0, 0, f->now, &f->out);
}

/* RFC 3325 §2.3: nothing from outside the trust domain is served. */
static void untrusted_peers(void **state) {
  fx *f = *state;
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT1), 200);
  /* Plain TCP from an address not listed: refused at flow up, logged with
   * its address and reason. */
  imsec_flow_info bad = tcp_from("10.6.6.6");
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 50, 0, &bad, f->now, &f->out),
                   IMSEC_ERR_AUTH);
  assert_true(log_has(f, "refused core peer tcp:10.6.6.6:40000"));
  assert_true(log_has(f, "address-not-listed"));
  mark_known(f, 50);
  /* Were the host not to close it: a forged identity gets 403, nothing
   * goes towards the user. */
  assert_int_equal(deliver(f, 50, message_to(IMPU_B, NULL)), 1);
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(f->last_flow, 50);
  assert_null(find_act(f, IMSEC_ACT_CONNECT));
  assert_true(log_has(f, "request from untrusted peer tcp:10.6.6.6:40000"));
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* A REGISTER with valid-looking credentials and a forged Path: 403, no
   * challenge made, nothing stored. */
  f->path = "<sip:evil@10.6.6.6:5060;lr>";
  assert_int_equal(
      deliver(f, 50, reg_msg(f, IMPU_C, empty_auth(IMPI_C), CONTACT2, NULL)),
      1);
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_C)), 0);
  /* A flow the host never announced is not trusted either. */
  mark_known(f, 51);
  assert_int_equal(deliver(f, 51, message_to(IMPU_B, NULL)), 1);
  assert_int_equal(status_of(f->last), 403);
  assert_true(log_has(f, "a flow never announced"));
  /* A response from an untrusted peer is dropped. */
  assert_int_equal(deliver(f, 50,
                           "SIP/2.0 200 OK\r\n"
                           "Via: SIP/2.0/TCP 127.0.0.1:6060;branch="
                           "z9hG4bK.isc.1.0\r\n"
                           "From: <" IMPU_A ">;tag=1\r\nTo: <" IMPU_B
                           ">;tag=2\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_true(log_has(f, "response from untrusted peer"));
  /* Gone and back: a flow id reused after on_flow_down is judged anew. */
  imsec_scscf_on_flow_down(f->s, 50, 0, 0, f->now, &f->out);
  assert_int_equal(flow_up(f, 50, 0), 0);
  assert_int_equal(deliver(f, 50, message_to(IMPU_B, NULL)), 0);
  assert_non_null(find_act(f, IMSEC_ACT_CONNECT));
  /* A TLS flow without peer facts (no certificate): refused. */
  imsec_flow_info tls = tcp_from("127.0.0.1");
  tls.tp = IMSEC_TP_TLS;
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 52, 0, &tls, f->now, &f->out),
                   IMSEC_ERR_AUTH);
  assert_true(log_has(f, "no-certificate"));
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 53, 0, NULL, f->now, &f->out),
                   IMSEC_ERR_AUTH);
}

/* TS 24.229 §5.4.1.2.1: the P-CSCF's integrity-protected mark. */
static void integrity_required(void **state) {
  fx *f = *state;
  const char *marks[] = {NULL, "no", "\"yes\"", "\"ip-assoc-yes\""};
  for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
    reg_first(f, IMPU_A, IMPI_A);
    imsec_digest_alg alg;
    take_challenge(f, &alg);
    char a[1100];
    snprintf(a, sizeof(a), "%s",
             answer(f, IMPI_A, alg, UE_OK, "00000001", NULL));
    char *ip = strstr(a, ",integrity-protected=");
    assert_non_null(ip);
    if (marks[i])
      snprintf(ip, sizeof(a) - (size_t)(ip - a), ",integrity-protected=%s",
               marks[i]);
    else
      *ip = 0;
    assert_int_equal(
        deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL)), 1);
    assert_int_equal(status_of(f->last), 403);
    assert_true(log_has(f, "no integrity-protected"));
    assert_int_equal(imsec_scscf_registrations(f->s), 0);
    /* The vector stays for an answer that has the mark, and the next
     * unanswered REGISTER gets that same challenge again. */
    assert_int_equal(imsec_scscf_challenges(f->s), 1);
  }
  /* tls-pending is fine too (the first REGISTER of a connection). Another
   * subscriber (its own ISIM): the UE above has already used the pending
   * challenge's SQN. */
  memset(&f->ue, 0, sizeof(f->ue));
  reg_first(f, IMPU_C, IMPI_C);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  char a[1100];
  snprintf(a, sizeof(a), "%s", answer(f, IMPI_C, alg, UE_OK, "00000001", NULL));
  char *ip = strstr(a, "tls-yes");
  memcpy(ip, "tls-pending\"", 13);
  assert_int_equal(
      deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_C, a, CONTACT1, NULL)), 1);
  assert_int_equal(status_of(f->last), 200);
}

static imsec_trust_cert node_facts(const char *name) {
  imsec_trust_cert c;
  memset(&c, 0, sizeof(c));
  c.chain = IMSEC_CHAIN_OK;
  c.has_san = 1;
  c.n_dns = 1;
  snprintf(c.dns[0], sizeof(c.dns[0]), "%s", name);
  c.issuer = IMSEC_ISSUER_HOME;
  c.client_auth = 1;
  return c;
}

/* Mutual TLS only (no insecure core): the P-CSCF's certificate decides,
 * and terminating requests go back to the P-CSCF that registered. */
static void tls_peers(void **state) {
  fx *f = *state;
  imsec_scscf_del(f->s);
  imsec_scscf_config cfg = {.domain = DOM};
  assert_int_equal(imsec_addr_parse(S("tls:127.0.0.1:6061"), &cfg.self), 0);
  assert_int_equal(imsec_scscf_new(&f->s, &cfg, f->c), 0);
  /* The listed TCP address of the fixture no longer counts. */
  imsec_out_clear(&f->out);
  assert_int_equal(
      imsec_scscf_on_flow_up(f->s, PCSCF_FLOW, 0, &f->ti, f->now, &f->out),
      IMSEC_ERR_AUTH);
  assert_true(log_has(f, "plain-tcp"));
  /* A home P-CSCF over TLS (trust domain 3gppnetwork.org by default). */
  imsec_trust_cert home = node_facts("pcscf." DOM);
  imsec_flow_info ti = f->ti;
  ti.tp = IMSEC_TP_TLS;
  ti.peer_cert = &home;
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 60, 0, &ti, f->now, &f->out),
                   0);
  assert_true(log_has(f, "'pcscf." DOM "' trusted (home)"));
  mark_known(f, 60);
  /* Refused certificates, one reason each. */
  struct {
    imsec_trust_cert c;
    const char *code;
  } bad[4];
  bad[0].c = node_facts("pcscf." DOM);
  bad[0].c.chain = IMSEC_CHAIN_EXPIRED;
  bad[0].code = "expired";
  bad[1].c = node_facts("pcscf." DOM);
  bad[1].c.chain = IMSEC_CHAIN_INVALID;
  bad[1].code = "chain-invalid";
  bad[2].c = node_facts("pcscf.evil.example.com");
  bad[2].code = "name-outside-trust-domain";
  bad[3].c = node_facts("pcscf.ims.mnc003.mcc001.3gppnetwork.org");
  bad[3].c.issuer = IMSEC_ISSUER_NONE;
  bad[3].code = "not-a-roaming-partner";
  for (size_t i = 0; i < 4; i++) {
    imsec_flow_info bi = ti;
    bi.peer_cert = &bad[i].c;
    imsec_out_clear(&f->out);
    assert_int_equal(
        imsec_scscf_on_flow_up(f->s, 70 + i, 0, &bi, f->now, &f->out),
        IMSEC_ERR_AUTH);
    assert_true(log_has(f, bad[i].code));
    assert_true(log_has(f, "refused core peer tcp:127.0.0.1:5070"));
  }
  /* Register B through the home P-CSCF, Path over TLS. */
  f->path = "<sip:tok1@127.0.0.1:5071;transport=tls;lr;ob>";
  assert_int_equal(
      deliver(f, 60, reg_msg(f, IMPU_B, empty_auth(IMPI_B), CONTACT1, NULL)),
      1);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, IMPI_B, alg, UE_OK, "00000001", NULL);
  assert_int_equal(deliver(f, 60, reg_msg(f, IMPU_B, a, CONTACT1, NULL)), 1);
  assert_int_equal(status_of(f->last), 200);
  /* A MESSAGE for B: a TLS connection to the Path hop, naming the P-CSCF
   * that registered B. */
  assert_int_equal(deliver(f, 60, message_to(IMPU_B, NULL)), 0);
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  assert_int_equal(c->addr.tp, IMSEC_TP_TLS);
  assert_int_equal(c->addr.port, 5071);
  assert_string_equal(c->server_name, "pcscf." DOM);
  uint64_t tag = c->tag;
  /* Another element of the home operator answers there: refused, nothing
   * sent, the branch fails. */
  imsec_trust_cert other = node_facts("pcscf2." DOM);
  imsec_flow_info oi = ti;
  oi.inbound = 0;
  oi.peer_cert = &other;
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 61, tag, &oi, f->now, &f->out),
                   IMSEC_ERR_AUTH);
  assert_null(find_act(f, IMSEC_ACT_SEND));
  assert_true(log_has(f, "name-mismatch"));
  imsec_out_clear(&f->out);
  imsec_scscf_on_flow_down(f->s, 61, tag, IMSEC_ERR_AUTH, f->now, &f->out);
  const imsec_act *sa = find_act(f, IMSEC_ACT_SEND);
  assert_non_null(sa);
  assert_int_equal(sa->flow, 60);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* The right one: the request goes out on it. */
  assert_int_equal(deliver(f, 60, message_to(IMPU_B, NULL)), 0);
  c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  tag = c->tag;
  oi.peer_cert = &home;
  mark_known(f, 62);
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 62, tag, &oi, f->now, &f->out),
                   0);
  sa = find_act(f, IMSEC_ACT_SEND);
  assert_non_null(sa);
  assert_int_equal(sa->flow, 62);
}

/* TS 24.229 §5.4.1.2.1: ck= and ik= in the 401 go to a P-CSCF on a TLS
 * core flow judged by its certificate (they feed its M3 PSK), never over
 * a plain TCP core. */
static void aka_keys_to_cert_peers(void **state) {
  fx *f = *state;
  /* The fixture's core is plain TCP from a listed address: no keys. */
  assert_int_equal(
      deliver(f, PCSCF_FLOW,
              reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL)),
      1);
  take_challenge(f, NULL);
  assert_null(strstr(f->last, ", ck="));
  assert_null(strstr(f->last, ", ik="));
  /* Over TLS from a certified home P-CSCF: the vector's CK and IK. */
  imsec_scscf_del(f->s);
  imsec_scscf_config cfg = {.domain = DOM};
  assert_int_equal(imsec_addr_parse(S("tls:127.0.0.1:6061"), &cfg.self), 0);
  assert_int_equal(imsec_scscf_new(&f->s, &cfg, f->c), 0);
  f->pump.self = f->s;
  f->nknown = 0;
  imsec_trust_cert home = node_facts("pcscf." DOM);
  imsec_flow_info ti = f->ti;
  ti.tp = IMSEC_TP_TLS;
  ti.peer_cert = &home;
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 60, 0, &ti, f->now, &f->out),
                   0);
  mark_known(f, 60);
  assert_int_equal(
      deliver(f, 60, reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL)),
      1);
  take_challenge(f, NULL);
  imsec_digest_params p;
  assert_int_equal(imsec_digest_parse_challenge(S(f->www), &p), 0);
  uint8_t rand[16], autn[16], ck[16], ik[16];
  assert_int_equal(imsec_digest_aka_nonce_decode(S(f->nonce), rand, autn, NULL),
                   0);
  assert_int_equal(imsec_milenage_f2345(f->m, rand, NULL, ck, ik, NULL), 0);
  char want[128], hx[33];
  assert_int_equal(imsec_hex_encode(ck, 16, hx, sizeof(hx)), 32);
  snprintf(want, sizeof(want), "ck=\"%s\"", hx);
  assert_non_null(strstr(f->www, want));
  assert_int_equal(imsec_hex_encode(ik, 16, hx, sizeof(hx)), 32);
  snprintf(want, sizeof(want), "ik=\"%s\"", hx);
  assert_non_null(strstr(f->www, want));
  /* The same challenge again (a repeated REGISTER) carries them too. */
  assert_int_equal(
      deliver(f, 60, reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL)),
      1);
  assert_non_null(strstr(f->last, want));
}

/* ------------------------------------------------------------ floods */

/* Replace f->s with an S-CSCF made from `cfg` (domain and self set here). */
static void remake(fx *f, imsec_scscf_config cfg) {
  static const char *const addrs[] = {"127.0.0.1"};
  imsec_scscf_del(f->s);
  f->s = NULL;
  cfg.domain = DOM;
  cfg.insecure_core = 1;
  cfg.peer_addrs = addrs;
  cfg.n_peer_addrs = 1;
  f->nknown = 0;
  assert_int_equal(imsec_addr_parse(S("tcp:127.0.0.1:6060"), &cfg.self), 0);
  assert_int_equal(imsec_scscf_new(&f->s, &cfg, f->c), 0);
}

/* `msg` with its bottom Via (the UE's, "10.0.0.1:5061;") replaced by
 * `via` (host and parameters up to the branch). */
static const char *from_src(const char *msg, const char *via) {
  static char b[8192];
  const char *p = strstr(msg, "10.0.0.1:5061;");
  assert_non_null(p);
  snprintf(b, sizeof(b), "%.*s%s%s", (int)(p - msg), msg, via,
           p + strlen("10.0.0.1:5061;"));
  return b;
}

static size_t count_logs(fx *f, const char *needle) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_LOG &&
        strstr((const char *)f->out.acts[i].data, needle))
      n++;
  return n;
}

static const char *retry_after(fx *f) {
  static char v[32];
  const char *p = strstr(f->last, "Retry-After: ");
  if (!p)
    return NULL;
  sscanf(p + 13, "%31[0-9]", v);
  return v;
}

/* A wrong response to the challenge in f->nonce (no UE run). */
static const char *wrong_answer(const char *impi, const char *nonce) {
  static char b[1024];
  snprintf(b, sizeof(b),
           "Digest username=\"%s\",realm=\"" DOM "\",nonce=\"%s\","
           "uri=\"sip:" DOM "\",response=\"0123456789abcdef0123456789abcdef\","
           "algorithm=AKAv1-MD5,integrity-protected=\"tls-yes\"",
           impi, nonce);
  return b;
}

static void challenge_reuse(void **state) {
  fx *f = *state;
  unsigned long saves = imsec_hss_mem_saves(f->st);
  reg_first(f, IMPU_A, IMPI_A);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  char first[128];
  strcpy(first, f->nonce);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 1);
  /* TS 33.102 Annex C: repeats cost no vector, no SQN step, no write. */
  for (int i = 0; i < 50; i++) {
    reg_first(f, IMPU_A, IMPI_A);
    take_challenge(f, NULL);
    assert_string_equal(f->nonce, first);
    assert_null(strstr(f->www, "stale"));
  }
  /* Found by IMPU (no Authorization): the same challenge too. */
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A2, NULL, CONTACT1, NULL));
  take_challenge(f, NULL);
  assert_string_equal(f->nonce, first);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 1);
  assert_int_equal(imsec_scscf_challenges(f->s), 1);
  /* An unknown nonce: the pending challenge, flagged stale. */
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_A, wrong_answer(IMPI_A, "bm90IGEgbm9uY2U="), CONTACT1,
                  NULL));
  take_challenge(f, NULL);
  assert_string_equal(f->nonce, first);
  assert_non_null(strstr(f->www, "stale=true"));
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 1);
  /* Another IMPI has its own challenge. */
  reg_first(f, IMPU_C, IMPI_C);
  take_challenge(f, NULL);
  assert_string_not_equal(f->nonce, first);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 2);
  /* A wrong response consumes the challenge: 403, then a new one. */
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_A, wrong_answer(IMPI_A, first), CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
  reg_first(f, IMPU_A, IMPI_A);
  take_challenge(f, &alg);
  assert_string_not_equal(f->nonce, first);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 3);
  /* It works, and is used up by the answer. */
  const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 200);
  /* Past its lifetime a challenge is not repeated. */
  reg_first(f, IMPU_A, IMPI_A);
  take_challenge(f, NULL);
  strcpy(first, f->nonce);
  f->now += 30000;
  reg_first(f, IMPU_A, IMPI_A);
  take_challenge(f, NULL);
  assert_string_not_equal(f->nonce, first);
}

static void challenge_limits(void **state) {
  fx *f = *state;
  remake(f, (imsec_scscf_config){.impi_challenge_limit = 2,
                                 .source_challenge_limit = 4,
                                 .limit_window_ms = 10000});
  /* Two new challenges for A (each used up by a wrong answer), then 503. */
  for (int i = 0; i < 2; i++) {
    reg_first(f, IMPU_A, IMPI_A);
    take_challenge(f, NULL);
    deliver(f, PCSCF_FLOW,
            reg_msg(f, IMPU_A, wrong_answer(IMPI_A, f->nonce), CONTACT1, NULL));
    assert_int_equal(status_of(f->last), 403);
  }
  reg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(status_of(f->last), 503);
  assert_string_equal(retry_after(f), "10");
  assert_int_equal(count_logs(f, "too many new challenges for this IMPI"), 1);
  /* Logged once per window, not per request. */
  f->now += 4000;
  reg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(status_of(f->last), 503);
  assert_string_equal(retry_after(f), "6");
  assert_int_equal(count_logs(f, "too many"), 0);
  /* The source has had 2 of 4: B and C get theirs, then the source is
   * full (another IMPI from it: 503), another source is not. */
  reg_first(f, IMPU_B, IMPI_B);
  assert_int_equal(status_of(f->last), 401);
  reg_first(f, IMPU_C, IMPI_C);
  assert_int_equal(status_of(f->last), 401);
  /* Their pending challenges repeat for free. */
  reg_first(f, IMPU_C, IMPI_C);
  assert_int_equal(status_of(f->last), 401);
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_C, wrong_answer(IMPI_C, "eA=="), CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 401);
  add_sub(f, "001010000000004@" DOM, "sip:dave@" DOM, NULL, IMSEC_HSS_AKAV1);
  const char *d = reg_msg(f, "sip:dave@" DOM,
                          empty_auth("001010000000004@" DOM), CONTACT1, NULL);
  char dmsg[8192];
  strcpy(dmsg, d);
  deliver(f, PCSCF_FLOW, dmsg);
  assert_int_equal(status_of(f->last), 503);
  assert_int_equal(count_logs(f, "too many new challenges from this source"),
                   1);
  /* RFC 3581: the source is the bottom Via's received, when there. */
  deliver(f, PCSCF_FLOW, from_src(dmsg, "10.0.0.1:5061;received=192.0.2.7;"));
  assert_int_equal(status_of(f->last), 401);
  /* The window passes: A is challenged again. */
  f->now += 6000;
  reg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(status_of(f->last), 401);
}

/* The source is the received of the Via directly below the P-CSCF's (the
 * P-CSCF wrote it); a Via the UE added further down, with a received of
 * its own choosing, is never read. */
static void source_below_top_via(void **state) {
  fx *f = *state;
  remake(f, (imsec_scscf_config){.source_challenge_limit = 1,
                                 .limit_window_ms = 10000});
  deliver(f, PCSCF_FLOW,
          from_src(reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL),
                   "10.0.0.1:5061;received=192.0.2.9;"));
  assert_int_equal(status_of(f->last), 401);
  /* The same UE address, a forged bottom Via for each try: still the same
   * source, so over its limit. */
  const char *forged[] = {"203.0.113.5", "203.0.113.6"};
  for (int i = 0; i < 2; i++) {
    char via[256];
    snprintf(via, sizeof(via),
             "10.0.0.1:5061;received=192.0.2.9;branch=z9hG4bKx%d\r\n"
             "Via: SIP/2.0/TLS 10.9.9.9;received=%s;",
             i, forged[i]);
    deliver(
        f, PCSCF_FLOW,
        from_src(reg_msg(f, IMPU_B, empty_auth(IMPI_B), CONTACT1, NULL), via));
    assert_int_equal(status_of(f->last), 503);
  }
  /* Another UE address below the P-CSCF's Via is another source. */
  deliver(f, PCSCF_FLOW,
          from_src(reg_msg(f, IMPU_B, empty_auth(IMPI_B), CONTACT1, NULL),
                   "10.0.0.1:5061;received=192.0.2.10;"));
  assert_int_equal(status_of(f->last), 401);
}

/* The table of pending challenges full: 503 with Retry-After (when the
 * first of them expires), and the warning within the log budget. */
static void pending_challenges_full(void **state) {
  fx *f = *state;
  remake(f, (imsec_scscf_config){.max_challenges = 2,
                                 .nonce_lifetime_ms = 20000,
                                 .impi_challenge_limit = 1000});
  reg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(status_of(f->last), 401);
  f->now += 5000;
  reg_first(f, IMPU_B, IMPI_B);
  assert_int_equal(status_of(f->last), 401);
  size_t lines = 0;
  for (int i = 0; i < 100; i++) {
    reg_first(f, IMPU_C, IMPI_C);
    assert_int_equal(status_of(f->last), 503);
    assert_non_null(retry_after(f));
    assert_string_equal(retry_after(f), "15");
    lines += count_logs(f, "too many pending challenges");
  }
  assert_true(lines >= 1 && lines <= 10);
}

static void failure_lockout(void **state) {
  fx *f = *state;
  remake(f, (imsec_scscf_config){.impi_failure_limit = 2, .lockout_ms = 5000});
  imsec_digest_alg alg;
  reg_first(f, IMPU_A, IMPI_A);
  take_challenge(f, &alg);
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_A, wrong_answer(IMPI_A, f->nonce), CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(count_logs(f, "locked"), 0);
  reg_first(f, IMPU_A, IMPI_A);
  take_challenge(f, &alg);
  /* The right answer, kept for later. */
  char right[1024];
  strcpy(right, answer(f, IMPI_A, alg, UE_OK, "00000001", NULL));
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_A, wrong_answer(IMPI_A, f->nonce), CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(count_logs(f, "2 failed responses: IMPI locked for 5 s"), 1);
  /* Locked: 403 to a new REGISTER and to the right answer, silently. */
  reg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(count_logs(f, "locked"), 0);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, right, CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  /* Other subscribers are not affected. */
  assert_int_equal(do_registration(f, IMPI_C, IMPU_C, CONTACT1), 200);
  /* The lock ends. */
  f->now += 5000;
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT1), 200);
}

/* Wrong responses for A from one source (as the P-CSCF marked it). */
static void fail_from(fx *f, const char *src, int n) {
  char via[128];
  snprintf(via, sizeof(via), "10.0.0.1:5061;received=%s;", src);
  for (int i = 0; i < n; i++) {
    deliver(
        f, PCSCF_FLOW,
        from_src(reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL), via));
    assert_int_equal(status_of(f->last), 401);
    take_challenge(f, NULL);
    deliver(f, PCSCF_FLOW,
            from_src(reg_msg(f, IMPU_A, wrong_answer(IMPI_A, f->nonce),
                             CONTACT1, NULL),
                     via));
    assert_int_equal(status_of(f->last), 403);
  }
}

/* A stranger's wrong responses lock the IMPI for the stranger's source
 * only: the subscriber, from its own address, still registers. Failures
 * from many sources (10 times the limit in all) lock it everywhere. */
static void lockout_per_source(void **state) {
  fx *f = *state;
  remake(f, (imsec_scscf_config){.impi_failure_limit = 2,
                                 .lockout_ms = 5000,
                                 .impi_challenge_limit = 3});
  fail_from(f, "192.0.2.66", 2);
  assert_int_equal(
      count_logs(f, "2 failed responses: IMPI locked for 5 s for requests "
                    "from 192.0.2.66"),
      1);
  /* the stranger: 403, even with no response at all */
  deliver(f, PCSCF_FLOW,
          from_src(reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL),
                   "10.0.0.1:5061;received=192.0.2.66;"));
  assert_int_equal(status_of(f->last), 403);
  /* the owner, from its own address */
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT1), 200);
  /* 9 more sources, 2 failures each: 20 in all, the IMPI is locked for
   * every source, logged once */
  char src[32];
  for (int i = 1; i <= 9; i++) {
    snprintf(src, sizeof(src), "198.51.100.%d", i);
    fail_from(f, src, 2);
  }
  assert_int_equal(count_logs(f, "20 failed responses: IMPI locked for 5 s "
                                 "from every source"),
                   1);
  reg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(status_of(f->last), 403);
  /* the locks end */
  f->now += 5000;
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT1), 200);
}

/* The IMPI's challenge limit holds per source: a stranger who uses it up
 * gets 503, the subscriber from its own address is still challenged. */
static void challenge_limit_per_source(void **state) {
  fx *f = *state;
  remake(f, (imsec_scscf_config){.impi_challenge_limit = 2,
                                 .limit_window_ms = 10000});
  fail_from(f, "192.0.2.66", 2);
  deliver(f, PCSCF_FLOW,
          from_src(reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL),
                   "10.0.0.1:5061;received=192.0.2.66;"));
  assert_int_equal(status_of(f->last), 503);
  assert_int_equal(
      count_logs(f, "too many new challenges for this IMPI from this source"),
      1);
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT1), 200);
}

static void source_failures(void **state) {
  fx *f = *state;
  remake(f, (imsec_scscf_config){.source_failure_limit = 2,
                                 .limit_window_ms = 20000});
  const char *impis[] = {IMPI_A, IMPI_C};
  const char *impus[] = {IMPU_A, IMPU_C};
  for (int i = 0; i < 2; i++) {
    deliver(f, PCSCF_FLOW,
            reg_msg(f, impus[i], empty_auth(impis[i]), CONTACT1, NULL));
    take_challenge(f, NULL);
    deliver(
        f, PCSCF_FLOW,
        reg_msg(f, impus[i], wrong_answer(impis[i], f->nonce), CONTACT1, NULL));
    assert_int_equal(status_of(f->last), 403);
  }
  reg_first(f, IMPU_B, IMPI_B);
  assert_int_equal(status_of(f->last), 503);
  assert_string_equal(retry_after(f), "20");
  assert_int_equal(count_logs(f, "too many failed responses from this source"),
                   1);
  reg_first(f, IMPU_B, IMPI_B);
  assert_int_equal(status_of(f->last), 503);
  assert_int_equal(count_logs(f, "too many"), 0);
  /* From another UE address (received), B is served. */
  deliver(f, PCSCF_FLOW,
          from_src(reg_msg(f, IMPU_B, empty_auth(IMPI_B), CONTACT1, NULL),
                   "10.0.0.1:5061;received=198.51.100.1;"));
  assert_int_equal(status_of(f->last), 401);
}

static void limit_tables_bounded(void **state) {
  fx *f = *state;
  remake(f,
         (imsec_scscf_config){.impi_failure_limit = 1, .max_limit_entries = 2});
  /* A is locked (one entry), then B and C come: C takes B's place, A
   * stays locked (a flood of new keys cannot unlock anyone). */
  reg_first(f, IMPU_A, IMPI_A);
  take_challenge(f, NULL);
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_A, wrong_answer(IMPI_A, f->nonce), CONTACT1, NULL));
  reg_first(f, IMPU_B, IMPI_B);
  assert_int_equal(status_of(f->last), 401);
  reg_first(f, IMPU_C, IMPI_C);
  assert_int_equal(status_of(f->last), 401);
  reg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(status_of(f->last), 403);
  /* Lock C too: now every entry is locked and B (evicted) cannot get a
   * new one: 503, fail closed, logged once. */
  reg_first(f, IMPU_C, IMPI_C);
  take_challenge(f, NULL);
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_C, wrong_answer(IMPI_C, f->nonce), CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 403);
  deliver(f, PCSCF_FLOW,
          reg_msg(f, IMPU_B, wrong_answer(IMPI_B, "eA=="), CONTACT1, NULL));
  assert_int_equal(status_of(f->last), 401); /* its challenge is pending */
  imsec_out_clear(&f->out);
  f->now += 30001; /* B's challenge expires; the locks (300 s) do not */
  reg_first(f, IMPU_B, IMPI_B);
  assert_int_equal(status_of(f->last), 503);
  assert_int_equal(count_logs(f, "flood limit tables full"), 1);
  reg_first(f, IMPU_B, IMPI_B);
  assert_int_equal(count_logs(f, "flood limit tables full"), 0);
}

/* A first REGISTER of IMPI_A whose Digest uri is `uri`: the status. */
static unsigned first_with_uri(fx *f, const char *uri) {
  char auth[512];
  snprintf(auth, sizeof(auth),
           "Digest username=\"%s\",realm=\"" DOM "\",nonce=\"\","
           "uri=\"%s\",response=\"\"",
           IMPI_A, uri);
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, auth, CONTACT1, NULL));
  return status_of(f->last);
}

static void digest_uri(void **state) {
  fx *f = *state;
  /* RFC 7616 §3.4.6: the uri names another resource: 400. */
  assert_int_equal(first_with_uri(f, "sip:other.example.org"), 400);
  assert_int_equal(count_logs(f, "Digest uri is not the Request-URI"), 1);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  /* Not a URI at all: 400. */
  assert_int_equal(first_with_uri(f, "not a uri"), 400);
  /* RFC 3261 §19.1.4: the host compares without case. */
  assert_int_equal(first_with_uri(f, "sip:IMS.MNC001.mcc001.3gppnetwork.org"),
                   401);
  /* A port or a user makes it another URI. */
  assert_int_equal(first_with_uri(f, "sip:" DOM ":5060"), 400);
}

/* ------------------------------------------------------------ store busy */

/* A store that says busy (another process holds its lock) for a number of
 * calls, then answers through the memory store. -1: busy until changed.
 * `skip_saves` saves go through before busy_saves start counting. */
typedef struct busy_store {
  imsec_hss_store base;
  imsec_hss_store *inner;
  int busy_loads, busy_saves, skip_saves;
  int code; /* what "busy" returns (IMSEC_ERR_BUSY, or IMSEC_ERR_IO) */
  unsigned loads, saves;
} busy_store;

static int bs_busy(int *n) {
  if (*n == 0)
    return 0;
  if (*n > 0)
    (*n)--;
  return 1;
}
static int bs_load(imsec_hss_store *s, imsec_str impi, imsec_hss_sub *out) {
  busy_store *b = (busy_store *)s;
  b->loads++;
  return bs_busy(&b->busy_loads) ? b->code
                                 : b->inner->vt->load(b->inner, impi, out);
}
static int bs_find(imsec_hss_store *s, imsec_str impu, imsec_hss_sub *out) {
  busy_store *b = (busy_store *)s;
  b->loads++;
  return bs_busy(&b->busy_loads) ? b->code
                                 : b->inner->vt->find_impu(b->inner, impu, out);
}
static int bs_save(imsec_hss_store *s, imsec_str impi, const imsec_sqn_he *q) {
  busy_store *b = (busy_store *)s;
  b->saves++;
  if (b->skip_saves > 0)
    b->skip_saves--;
  else if (bs_busy(&b->busy_saves))
    return b->code;
  return b->inner->vt->save_sqn(b->inner, impi, q);
}
static void bs_destroy(imsec_hss_store *s) {
  (void)s;
}

/* Run f->s over `b` (an HSS of its own, freed by teardown), made from
 * `cfg`. */
static void busy_use(fx *f, busy_store *b, imsec_scscf_config cfg) {
  static const imsec_hss_store_vtable vt = {.load = bs_load,
                                            .find_impu = bs_find,
                                            .save_sqn = bs_save,
                                            .destroy = bs_destroy};
  memset(b, 0, sizeof(*b));
  b->base.vt = &vt;
  b->inner = f->st;
  b->code = IMSEC_ERR_BUSY;
  imsec_scscf_del(f->s);
  f->s = NULL;
  assert_null(f->h2);
  assert_int_equal(imsec_hss_new(&f->h2, &b->base, f->c, NULL), 0);
  remake(f, cfg);
  use_hss(f, f->h2);
  f->pk_id = 0;
  f->pk_at = 0;
}

/* The parked requests' timer: learnt from the first event that parks
 * (its only TIMER), then followed. */
static void park_scan(fx *f) {
  for (size_t i = 0; i < f->out.n; i++) {
    const imsec_act *a = &f->out.acts[i];
    if (a->kind != IMSEC_ACT_TIMER)
      continue;
    if (!f->pk_id && imsec_scscf_parked(f->s) && count_kind(f, a->kind) == 1)
      f->pk_id = a->timer;
    if (a->timer == f->pk_id)
      f->pk_at = a->at;
  }
}

/* deliver, then follow the park timer. */
static int pdeliver(fx *f, uint64_t flow, const char *msg) {
  int n = deliver(f, flow, msg);
  park_scan(f);
  return n;
}

/* reg_first through pdeliver. */
static int preg_first(fx *f, const char *impu, const char *impi) {
  return pdeliver(f, PCSCF_FLOW,
                  reg_msg(f, impu, empty_auth(impi), CONTACT1, NULL));
}

/* The park timer fires when it is due; returns the number of SENDs, the
 * last one in f->last. */
static int tick(fx *f) {
  assert_true(f->pk_id && f->pk_at);
  f->now = f->pk_at;
  f->pk_at = 0; /* it fired */
  imsec_out_clear(&f->out);
  ev_timer(f, f->pk_id, f->now, &f->out);
  assert_int_equal(imsec_out_err(&f->out), 0);
  int n = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    const imsec_act *a = &f->out.acts[i];
    if (a->kind == IMSEC_ACT_SEND) {
      n++;
      memcpy(f->last, a->data, a->len);
      f->last[a->len] = 0;
      f->last_flow = a->flow;
    }
  }
  park_scan(f);
  return n;
}

static const char *options_self(unsigned cseq) {
  static char b[512];
  snprintf(b, sizeof(b),
           "OPTIONS sip:" DOM " SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKo%u\r\n"
           "From: <" IMPU_C ">;tag=1\r\nTo: <sip:" DOM ">\r\n"
           "Call-ID: o\r\nCSeq: %u OPTIONS\r\nContent-Length: 0\r\n\r\n",
           cseq, cseq);
  return b;
}

/* The store says busy three times: the REGISTER waits, is tried again
 * after 5, 10, 20 ms, then challenged; one vector, one SQN step, and
 * the UE accepts it. */
static void store_busy_retried(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){0});
  b.busy_loads = 3;
  unsigned long saves = imsec_hss_mem_saves(f->st);
  imsec_time_ms t0 = f->now;
  assert_int_equal(preg_first(f, IMPU_A, IMPI_A), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  assert_int_equal(f->pk_at, t0 + 5);
  assert_int_equal(tick(f), 0);
  assert_int_equal(f->pk_at, t0 + 15);
  assert_int_equal(tick(f), 0);
  assert_int_equal(f->pk_at, t0 + 35);
  assert_int_equal(tick(f), 1);
  assert_int_equal(status_of(f->last), 401);
  assert_int_equal(f->last_flow, PCSCF_FLOW);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(f->pk_at, 0); /* nothing waits: the timer is off */
  assert_int_equal(imsec_scscf_challenges(f->s), 1);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 1);
  answer_ok_200(f);
}

/* The SQN write is busy: no 401 in that round, no vector kept; the retry
 * makes exactly one, with a fresh SQN, and the new challenge is counted
 * once against the IMPI's limit (here 1). */
static void store_busy_sqn(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){.impi_challenge_limit = 1});
  b.busy_saves = 2;
  unsigned long saves = imsec_hss_mem_saves(f->st);
  imsec_hss_sub sub;
  assert_int_equal(imsec_hss_lookup(f->h, S(IMPI_A), &sub), 0);
  uint64_t seq = sub.sqn.seq;
  assert_int_equal(preg_first(f, IMPU_A, IMPI_A), 0);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves);
  assert_int_equal(tick(f), 0);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(tick(f), 1);
  assert_int_equal(status_of(f->last), 401);
  assert_int_equal(b.saves, 3);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 1);
  assert_int_equal(imsec_scscf_challenges(f->s), 1);
  assert_int_equal(imsec_hss_lookup(f->h, S(IMPI_A), &sub), 0);
  assert_int_equal(sub.sqn.seq, seq + 1);
  answer_ok_200(f);
}

/* Busy past store_timeout_ms: 500 then, said "locked" (never "unknown
 * subscriber"); an I/O error is 500 at once. */
static void store_locked(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){0});
  b.busy_loads = -1;
  imsec_time_ms t0 = f->now;
  assert_int_equal(preg_first(f, IMPU_A, IMPI_A), 0);
  int ticks = 0;
  while (tick(f) == 0) {
    assert_int_equal(count_logs(f, "HSS store unavailable"), 0);
    assert_true(++ticks < 20);
  }
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(f->now - t0, 250);
  assert_true(ticks >= 5); /* 5, 10, 20, 40, then 50 ms pauses */
  assert_int_equal(
      count_logs(f, "REGISTER " IMPI_A ": HSS store unavailable: locked: 500"),
      1);
  assert_int_equal(count_logs(f, "unknown subscriber"), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(f->pk_at, 0);
  /* Found by IMPU: the same. */
  t0 = f->now;
  pdeliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A2, NULL, CONTACT1, NULL));
  while (tick(f) == 0)
    ;
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(f->now - t0, 250);
  assert_int_equal(count_logs(f, "HSS store unavailable: locked"), 1);
  /* The SQN can never be saved: no vector leaves (500, no 401). */
  b.busy_loads = 0;
  b.busy_saves = -1;
  unsigned long saves = imsec_hss_mem_saves(f->st);
  preg_first(f, IMPU_A, IMPI_A);
  while (tick(f) == 0)
    ;
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(count_logs(f, "HSS store unavailable: locked"), 1);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves);
  /* A MESSAGE to an unregistered IMPU waits too, then 500, not 404. */
  b.busy_saves = 0;
  b.busy_loads = -1;
  pdeliver(f, PCSCF_FLOW, message_to(IMPU_A, NULL));
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  while (tick(f) == 0)
    ;
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(count_logs(f, "HSS store unavailable: locked: 500"), 1);
  /* An I/O error is no lock: 500 at once, said so. */
  b.code = IMSEC_ERR_IO;
  assert_int_equal(preg_first(f, IMPU_A, IMPI_A), 1);
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(count_logs(f, "HSS store unavailable: input/output"), 1);
  /* Free again: challenged at once. */
  b.code = IMSEC_ERR_BUSY;
  b.busy_loads = 0;
  assert_int_equal(preg_first(f, IMPU_A, IMPI_A), 1);
  assert_int_equal(status_of(f->last), 401);
}

/* While a REGISTER waits for the store, OPTIONS on its flow and on others
 * are answered at once; the store freed, every waiting request goes. */
static void store_busy_others_go_on(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){0});
  b.busy_loads = -1;
  preg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  imsec_time_ms t0 = f->now;
  assert_int_equal(pdeliver(f, PCSCF_FLOW, options_self(1)), 1);
  assert_int_equal(status_of(f->last), 200);
  assert_int_equal(pdeliver(f, 8, options_self(2)), 1);
  assert_int_equal(status_of(f->last), 200);
  assert_int_equal(f->now, t0);
  /* Another user's REGISTER needs the store too: it waits. */
  assert_int_equal(
      pdeliver(f, 8, reg_msg(f, IMPU_B, empty_auth(IMPI_B), CONTACT2, NULL)),
      0);
  assert_int_equal(imsec_scscf_parked(f->s), 2);
  b.busy_loads = 0;
  assert_int_equal(tick(f), 2);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(imsec_scscf_challenges(f->s), 2);
}

/* Per-flow order: a REGISTER arriving on a flow with a request waiting
 * waits behind it without touching the store; both are answered in
 * arrival order, the second with the same challenge (no second vector). */
static void store_busy_order(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){0});
  b.busy_loads = -1;
  unsigned first = f->cseq;
  preg_first(f, IMPU_A, IMPI_A);
  unsigned loads = b.loads;
  imsec_time_ms due = f->pk_at;
  preg_first(f, IMPU_A, IMPI_A);
  assert_int_equal(b.loads, loads);
  assert_int_equal(imsec_scscf_parked(f->s), 2);
  assert_int_equal(f->pk_at, due);
  /* Still busy: both wait on. */
  assert_int_equal(tick(f), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 2);
  b.busy_loads = 0;
  assert_int_equal(tick(f), 2);
  const imsec_act *sa[4];
  assert_int_equal(sends(f, sa, 4), 2);
  char cs[32], n1[128];
  snprintf(cs, sizeof(cs), "CSeq: %u REGISTER", first);
  assert_non_null(strstr((const char *)sa[0]->data, cs));
  snprintf(cs, sizeof(cs), "CSeq: %u REGISTER", first + 1);
  assert_non_null(strstr((const char *)sa[1]->data, cs));
  assert_int_equal(sa[0]->flow, PCSCF_FLOW);
  assert_int_equal(sa[1]->flow, PCSCF_FLOW);
  assert_int_equal(imsec_scscf_challenges(f->s), 1);
  memcpy(f->last, sa[0]->data, sa[0]->len);
  f->last[sa[0]->len] = 0;
  take_challenge(f, NULL);
  strcpy(n1, f->nonce);
  memcpy(f->last, sa[1]->data, sa[1]->len);
  f->last[sa[1]->len] = 0;
  take_challenge(f, NULL);
  assert_string_equal(n1, f->nonce);
}

/* Bounded: max_parked requests wait; the next one gets 500 at once. A
 * flow going down drops what waits for it. */
static void store_busy_bounds(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){.max_parked = 2});
  b.busy_loads = -1;
  assert_int_equal(
      pdeliver(f, 8, reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL)),
      0);
  assert_int_equal(
      pdeliver(f, 9, reg_msg(f, IMPU_B, empty_auth(IMPI_B), CONTACT1, NULL)),
      0);
  assert_int_equal(
      pdeliver(f, 10, reg_msg(f, IMPU_C, empty_auth(IMPI_C), CONTACT1, NULL)),
      1);
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(count_logs(f, "HSS store unavailable: locked"), 1);
  assert_int_equal(imsec_scscf_parked(f->s), 2);
  /* Flow 8 goes: its request is dropped, unanswered; flow 9's waits on. */
  imsec_out_clear(&f->out);
  imsec_scscf_on_flow_down(f->s, 8, 0, 0, f->now, &f->out);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
  assert_int_equal(count_logs(f, "waiting for the HSS store dropped"), 1);
  imsec_out_clear(&f->out);
  imsec_scscf_on_flow_down(f->s, 9, 0, 0, f->now, &f->out);
  park_scan(f);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(f->pk_at, 0); /* the timer is off */
  /* A late firing finds nothing to do. */
  b.busy_loads = 0;
  f->pk_at = f->now + 5;
  assert_int_equal(tick(f), 0);
}

/* A busy store, one flow: a UE's two REGISTERs of one Call-ID and
 * another UE's. The first of each Call-ID retries side by side, the
 * second of A's asking nothing behind its first. Round 0: the flow goes
 * down and drops all three. Round 1: at their deadline all three get
 * 500, A's first before A's second. */
static void store_busy_callids(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){0});
  b.busy_loads = -1;
  for (int round = 0; round < 2; round++) {
    uint64_t flow = round ? PCSCF_FLOW : 8;
    unsigned loads = b.loads;
    imsec_time_ms t0 = f->now;
    f->call_id = "reg-a";
    unsigned a1 = f->cseq;
    assert_int_equal(
        pdeliver(f, flow,
                 reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL)),
        0);
    assert_int_equal(
        pdeliver(f, flow,
                 reg_msg(f, IMPU_A, empty_auth(IMPI_A), CONTACT1, NULL)),
        0);
    f->call_id = "reg-c";
    assert_int_equal(
        pdeliver(f, flow,
                 reg_msg(f, IMPU_C, empty_auth(IMPI_C), CONTACT2, NULL)),
        0);
    assert_int_equal(imsec_scscf_parked(f->s), 3);
    assert_int_equal(b.loads, loads + 2); /* A's first and C's */
    assert_int_equal(f->pk_at, t0 + 5);
    assert_int_equal(tick(f), 0);
    assert_int_equal(b.loads, loads + 4); /* both retried */
    assert_int_equal(imsec_scscf_parked(f->s), 3);
    if (!round) {
      imsec_out_clear(&f->out);
      imsec_scscf_on_flow_down(f->s, flow, 0, 0, f->now, &f->out);
      park_scan(f);
      assert_int_equal(imsec_scscf_parked(f->s), 0);
      assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0);
      assert_int_equal(count_logs(f, "flow down: 3 request(s)"), 1);
      assert_int_equal(f->pk_at, 0);
      assert_int_equal(imsec_scscf_get_expiry(f->s), 0);
      continue;
    }
    int n = 0;
    for (int i = 0; i < 20 && imsec_scscf_parked(f->s); i++)
      n = tick(f);
    assert_int_equal(n, 3);
    assert_int_equal(f->now, t0 + 250);
    const imsec_act *sa[4];
    assert_int_equal(sends(f, sa, 4), 3);
    char cs[32];
    size_t at1 = 9, at2 = 9;
    for (size_t i = 0; i < 3; i++) {
      assert_int_equal(status_of((const char *)sa[i]->data), 500);
      snprintf(cs, sizeof(cs), "CSeq: %u REGISTER", a1);
      if (strstr((const char *)sa[i]->data, cs))
        at1 = i;
      snprintf(cs, sizeof(cs), "CSeq: %u REGISTER", a1 + 1);
      if (strstr((const char *)sa[i]->data, cs))
        at2 = i;
    }
    assert_true(at1 < at2 && at2 < 3);
  }
}

/* Resynchronisation with a busy store (TS 33.203 §6.1.3): the AUTS
 * REGISTER waits and runs again (its nc is not taken for a replay); a
 * busy vector after the resync gives a fresh challenge from the new SQN. */
static void store_busy_resync(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){0});
  for (int round = 0; round < 2; round++) {
    /* The ISIM is far ahead of the HSS. */
    uint64_t ahead = round ? UINT64_C(300000) : UINT64_C(100000);
    assert_int_equal(imsec_sqn_ue_accept(&f->ue, &f->cfg, (ahead << 5) | 7), 0);
    reg_first(f, IMPU_A, IMPI_A);
    imsec_digest_alg alg;
    take_challenge(f, &alg);
    imsec_aka_ue_status st;
    const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", &st);
    assert_int_equal(st, IMSEC_AKA_UE_SYNC_FAIL);
    /* Round 0: the resync's write is busy; round 1: the new vector's. */
    b.skip_saves = round;
    b.busy_saves = 1;
    assert_int_equal(
        pdeliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL)), 0);
    assert_int_equal(imsec_scscf_parked(f->s), 1);
    assert_int_equal(tick(f), 1);
    assert_int_equal(count_logs(f, "replayed nc"), 0);
    take_challenge(f, &alg);
    assert_int_equal(imsec_scscf_challenges(f->s), 1);
    a = answer(f, IMPI_A, alg, UE_OK, "00000001", &st);
    assert_int_equal(st, IMSEC_AKA_UE_OK);
    deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL));
    assert_int_equal(status_of(f->last), 200);
  }
}

static void limit_config(void **state) {
  fx *f = *state;
  imsec_scscf *s = NULL;
  imsec_scscf_config cfg = {.domain = DOM, .limit_window_ms = -1};
  assert_int_equal(imsec_addr_parse(S("tcp:127.0.0.1:6060"), &cfg.self), 0);
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), IMSEC_ERR_CONFIG);
  cfg.limit_window_ms = 0;
  cfg.lockout_ms = -5;
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), IMSEC_ERR_CONFIG);
}

/* ------------------------------------------------ service replies, restart */

/* Scan f->out for SENDs: the last in f->last; returns their number. */
static int scan_sends(fx *f) {
  int n = 0;
  f->last[0] = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    const imsec_act *a = &f->out.acts[i];
    if (a->kind == IMSEC_ACT_SEND) {
      n++;
      assert_true(a->len < sizeof(f->last));
      memcpy(f->last, a->data, a->len);
      f->last[a->len] = 0;
      f->last_flow = a->flow;
    }
  }
  return n;
}

/* Hand held reply `i` to the element; returns the SENDs it caused. */
static int release(fx *f, size_t i) {
  imsec_out_clear(&f->out);
  f->pump.self = f->s;
  assert_int_equal(elem_pump_release(&f->pump, i, &f->out, f->now), 0);
  assert_int_equal(imsec_out_err(&f->out), 0);
  collect_timers(f);
  return scan_sends(f);
}

/* Running begins: the registrations are loaded through the pump. */
static void start(fx *f) {
  imsec_out_clear(&f->out);
  f->pump.self = f->s;
  imsec_scscf_start(f->s, f->now, &f->out);
  elem_pump_run(&f->pump, &f->out, 0, f->now);
}

/* Two REGISTERs from two P-CSCF flows wait for the HSS at the same time;
 * the answers come back out of order and each finds its own request. */
static void hss_replies_interleaved(void **state) {
  fx *f = *state;
  memset(&f->ue, 0, sizeof(f->ue));
  f->pump.mode = ELEM_PUMP_HOLD;
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 0);
  assert_int_equal(
      deliver(f, 8, reg_msg(f, IMPU_C, empty_auth(IMPI_C), CONTACT2, NULL)), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 2);
  assert_int_equal(f->pump.nheld, 2);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 2);
  /* C's record first: C asks for its vector. */
  assert_int_equal(release(f, 1), 0);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_VECTOR], 1);
  /* Then A's: A asks for its own. Held now: C's vector, A's vector. */
  assert_int_equal(release(f, 0), 0);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_VECTOR], 2);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  /* A's vector: A's 401 on flow 7, C still waits. */
  assert_int_equal(release(f, 1), 1);
  assert_int_equal(f->last_flow, PCSCF_FLOW);
  assert_non_null(strstr(f->last, "To: <" IMPU_A ">"));
  char a401[65536];
  strcpy(a401, f->last);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  /* C's vector: C's 401 on flow 8. */
  assert_int_equal(release(f, 0), 1);
  assert_int_equal(f->last_flow, 8);
  assert_non_null(strstr(f->last, "To: <" IMPU_C ">"));
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(imsec_scscf_challenges(f->s), 2);
  /* A's challenge carries A's vector: the UE accepts it and registers. */
  strcpy(f->last, a401);
  f->pump.mode = ELEM_PUMP_ANSWER;
  answer_ok_200(f);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_C)), 0);
}

/* Two REGISTERs of one Call-ID on one flow: the second waits behind the
 * first, asking nothing, until the first is answered (RFC 3261 §10.2.4:
 * one registration's requests keep their order). */
static void hss_replies_flow_order(void **state) {
  fx *f = *state;
  f->pump.mode = ELEM_PUMP_HOLD;
  f->call_id = "reg-1";
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 0);
  assert_int_equal(
      deliver(f, PCSCF_FLOW,
              reg_msg(f, IMPU_C, empty_auth(IMPI_C), CONTACT2, NULL)),
      0);
  assert_int_equal(imsec_scscf_parked(f->s), 2);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 1); /* A's alone */
  assert_int_equal(release(f, 0), 0);                    /* A asks a vector */
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 1);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_VECTOR], 1);
  /* A's 401 first; then C runs and asks for its record. */
  assert_int_equal(release(f, 0), 1);
  assert_non_null(strstr(f->last, "To: <" IMPU_A ">"));
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 2);
  assert_int_equal(release(f, 0), 0);
  assert_int_equal(release(f, 0), 1);
  assert_non_null(strstr(f->last, "To: <" IMPU_C ">"));
  assert_int_equal(imsec_scscf_parked(f->s), 0);
}

/* Two REGISTERs of different Call-IDs (two UEs) on ONE P-CSCF flow:
 * both ask the HSS before either answer comes, and each is answered as
 * its own answers come (here the later one first): the UEs behind one
 * P-CSCF connection do not wait for each other. */
static void hss_replies_flow_concurrent(void **state) {
  fx *f = *state;
  f->pump.mode = ELEM_PUMP_HOLD;
  f->call_id = "reg-a";
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 0);
  f->call_id = "reg-c";
  assert_int_equal(
      deliver(f, PCSCF_FLOW,
              reg_msg(f, IMPU_C, empty_auth(IMPI_C), CONTACT2, NULL)),
      0);
  assert_int_equal(imsec_scscf_parked(f->s), 2);
  /* Both record lookups are out, neither answered. */
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 2);
  assert_int_equal(f->pump.nheld, 2);
  /* C's record, then C's vector: C's 401 while A still waits. */
  assert_int_equal(release(f, 1), 0);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_VECTOR], 1);
  assert_int_equal(release(f, 1), 1);
  assert_int_equal(f->last_flow, PCSCF_FLOW);
  assert_non_null(strstr(f->last, "To: <" IMPU_C ">"));
  assert_non_null(strstr(f->last, "Call-ID: reg-c"));
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  /* Then A's record and vector: A's 401. */
  assert_int_equal(release(f, 0), 0);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_VECTOR], 2);
  assert_int_equal(release(f, 0), 1);
  assert_non_null(strstr(f->last, "To: <" IMPU_A ">"));
  assert_non_null(strstr(f->last, "Call-ID: reg-a"));
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(imsec_scscf_challenges(f->s), 2);
  assert_int_equal(f->pump.nheld, 0);
}

/* On one flow, a UE's two REGISTERs of one Call-ID stay in CSeq order
 * while another UE's (its own Call-ID) proceeds beside them. */
static void hss_replies_callid_order(void **state) {
  fx *f = *state;
  f->pump.mode = ELEM_PUMP_HOLD;
  f->call_id = "reg-a";
  unsigned a1 = f->cseq;
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 0);
  unsigned a2 = f->cseq;
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 0);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 1); /* A2 waits */
  f->call_id = "reg-c";
  assert_int_equal(
      deliver(f, PCSCF_FLOW,
              reg_msg(f, IMPU_C, empty_auth(IMPI_C), CONTACT2, NULL)),
      0);
  assert_int_equal(imsec_scscf_parked(f->s), 3);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 2); /* A1's and C's */
  /* A1's record and vector: A1's 401; then A2 runs, finds A1's record
   * kept (no second HSS round trip for the same IMPI) and gets A1's
   * pending challenge again (no vector). C's record is still held. */
  assert_int_equal(release(f, 0), 0);
  assert_int_equal(release(f, 1), 2);
  (void)a1;
  char want[64];
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 2);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_VECTOR], 1);
  snprintf(want, sizeof(want), "CSeq: %u REGISTER", a2);
  assert_non_null(strstr(f->last, want));
  assert_non_null(strstr(f->last, "Call-ID: reg-a"));
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  /* C's. */
  assert_int_equal(release(f, 0), 0);
  assert_int_equal(release(f, 0), 1);
  assert_non_null(strstr(f->last, "Call-ID: reg-c"));
  assert_int_equal(imsec_scscf_parked(f->s), 0);
}

/* The HSS never answers: the request waits store_timeout_ms from its
 * arrival (get_expiry), then gets 504 Server Time-out. */
static void hss_reply_never_comes(void **state) {
  fx *f = *state;
  f->pump.mode = ELEM_PUMP_DROP;
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  assert_int_equal(imsec_scscf_get_expiry(f->s), f->now + 250);
  /* Not yet due: nothing happens. */
  f->now += 249;
  imsec_out_clear(&f->out);
  imsec_scscf_handle_expiry(f->s, f->now, &f->out);
  assert_int_equal(scan_sends(f), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  f->now += 1;
  imsec_out_clear(&f->out);
  imsec_scscf_handle_expiry(f->s, f->now, &f->out);
  elem_pump_run(&f->pump, &f->out, 0, f->now);
  assert_int_equal(scan_sends(f), 1);
  /* RFC 3261 §21.5.5: the store did not answer in time. */
  assert_int_equal(status_of(f->last), 504);
  assert_int_equal(count_logs(f, "HSS store unavailable: no answer in time"),
                   1);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(imsec_scscf_get_expiry(f->s), 0);
  /* No second request went out for it. */
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_SUB], 1);
  /* A late answer finds nothing to wake. */
  f->pump.mode = ELEM_PUMP_ANSWER;
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
}

/* The registration cannot be made durable: the 200 never leaves, the
 * REGISTER gets 500 and the binding change is undone. */
static void reg_save_fails(void **state) {
  fx *f = *state;
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 1);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  f->pump.persist_fail = 1;
  assert_int_equal(
      deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL)), 1);
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_SAVE], 1);
  assert_int_equal(count_logs(f, "not durable"), 1);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);

  /* Registered for real, then a re-registration adding a contact fails:
   * the first binding stays as it was, the second never appears. */
  memset(&f->ue, 0, sizeof(f->ue));
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT1), 200);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 1);
  take_challenge(f, &alg);
  a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  f->pump.persist_fail = 1;
  deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT2, NULL));
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
  /* The stored record still has one binding: a restart finds it. */
  imsec_scscf_config cfg = {0};
  remake(f, cfg);
  start(f);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
}

/* A restart: a new S-CSCF over the same registration store loads the
 * record, and a MESSAGE reaches the contact along its Path. */
static void restart_loads_registrations(void **state) {
  fx *f = *state;
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT1), 200);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_SAVE], 1);
  imsec_scscf_config cfg = {0};
  remake(f, cfg);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
  /* A request arriving while the load is under way waits for it. */
  f->pump.mode = ELEM_PUMP_HOLD;
  start(f);
  assert_int_equal(f->pump.nheld, 2); /* one record, then the last */
  assert_int_equal(deliver(f, 8, message_to(IMPU_B, NULL)), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  assert_int_equal(release(f, 0), 0);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_B)), 1);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  /* Its expiry timer is armed from the time it had left. */
  const imsec_act *t = find_act(f, IMSEC_ACT_TIMER);
  assert_non_null(t);
  assert_int_equal(t->at, f->now + 600000);
  assert_int_equal(release(f, 0), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  /* A connection to the Path's hop, then the request on it. */
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  assert_string_equal(c->addr.host, "127.0.0.1");
  assert_int_equal(c->addr.port, 5070);
  uint64_t tag = c->tag;
  imsec_out_clear(&f->out);
  assert_int_equal(flow_up(f, 100, tag), 0);
  const imsec_act *sa = find_act(f, IMSEC_ACT_SEND);
  assert_non_null(sa);
  char text[8192];
  memcpy(text, sa->data, sa->len);
  text[sa->len] = 0;
  assert_true(strncmp(text,
                      "MESSAGE sip:ue@10.0.0.1:5061;transport=tls;ob SIP/2.0",
                      53) == 0);
  assert_non_null(strstr(text, "Route: " PATH_V "\r\n"));
}

/* The vector's SQN cannot be written (an I/O error, not a lock): the
 * VECTOR reply fails and the REGISTER gets 500 at once, no challenge. */
static void hss_vector_io_500(void **state) {
  fx *f = *state;
  busy_store b;
  busy_use(f, &b, (imsec_scscf_config){0});
  b.code = IMSEC_ERR_IO;
  b.busy_saves = -1;
  assert_int_equal(preg_first(f, IMPU_A, IMPI_A), 1);
  assert_int_equal(status_of(f->last), 500);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_VECTOR], 1);
  assert_int_equal(count_logs(f, "HSS store unavailable: input/output"), 1);
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
}

/* A binding that expired while the S-CSCF was down never comes back. */
static void restart_expired_not_loaded(void **state) {
  fx *f = *state;
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT1), 200);
  imsec_scscf_config cfg = {0};
  remake(f, cfg);
  f->now += 601000; /* CONTACT1: expires=600 */
  start(f);
  assert_int_equal(count_logs(f, "0 registration(s) loaded"), 1);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
  deliver(f, 8, message_to(IMPU_B, NULL));
  assert_int_equal(status_of(f->last), 480);
}

/* The last binding expires: the store forgets the record too. */
static void expiry_deletes_record(void **state) {
  fx *f = *state;
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT1), 200);
  /* The binding's expiry timer, armed with the 200 (expires=600). */
  uint64_t timer = 0;
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_TIMER &&
        f->out.acts[i].at == f->now + 600000)
      timer = f->out.acts[i].timer;
  assert_true(timer != 0);
  size_t dels = f->pump.n_req[IMSEC_SVC_REG_DELETE];
  f->now += 600000;
  imsec_out_clear(&f->out);
  ev_timer(f, timer, f->now, &f->out);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_DELETE], dels + 1);
  /* Even read back at once (before the store would drop it as expired),
   * there is nothing to load. */
  f->now -= 1000;
  imsec_scscf_config cfg = {0};
  remake(f, cfg);
  start(f);
  assert_int_equal(count_logs(f, "0 registration(s) loaded"), 1);
}

/* ------------------------------------------ a core past one machine */

/* The HSS behind Cx as the S-CSCF sees it: HSS_ASSIGN (SAR) answered
 * here (mode: 0 the set [impu, set2], 1 user unknown, 2 never, 3 a
 * timeout), the rest by the embedded service. The types asked are kept. */
typedef struct sar_svc {
  imsec_svc base;
  imsec_svc *inner;
  int mode;
  const char *set2;
  imsec_svc_assign types[32];
  size_t n;
} sar_svc;

static int sar_submit(imsec_svc *sv, imsec_svc_req *req, imsec_svc_done_fn done,
                      void *arg) {
  sar_svc *w = (sar_svc *)sv;
  if (req->kind != IMSEC_SVC_HSS_ASSIGN)
    return imsec_svc_submit(w->inner, req, done, arg);
  if (w->n < 32)
    w->types[w->n++] = req->assign;
  if (w->mode == 2)
    return 0;
  imsec_svc_reply rep;
  memset(&rep, 0, sizeof(rep));
  rep.kind = req->kind;
  rep.id = req->id;
  rep.last = 1;
  rep.status = w->mode == 1   ? IMSEC_ERR_NOTFOUND
               : w->mode == 3 ? IMSEC_ERR_TIMEOUT
                              : 0;
  if (!rep.status) {
    snprintf(rep.sub.impi, sizeof(rep.sub.impi), "%s", req->key);
    snprintf(rep.sub.impus[0], sizeof(rep.sub.impus[0]), "%s", req->impu);
    rep.sub.n_impus = 1;
    if (w->set2) {
      snprintf(rep.sub.impus[1], sizeof(rep.sub.impus[1]), "%s", w->set2);
      rep.sub.n_impus = 2;
    }
  }
  done(arg, req, &rep);
  return 0;
}

static void sar_destroy(imsec_svc *sv) {
  (void)sv; /* on the test's stack */
}

static size_t sar_count(const sar_svc *w, imsec_svc_assign t) {
  size_t n = 0;
  for (size_t i = 0; i < w->n; i++)
    n += w->types[i] == t;
  return n;
}

/* Two S-CSCFs over one HSS and one registration store: A at :6060, B at
 * :6061 with A as its alias; both with reg_shared and hss_assign. */
static void cluster(fx *f, sar_svc *w) {
  static const imsec_svc_vtable vt = {.submit = sar_submit,
                                      .destroy = sar_destroy};
  memset(w, 0, sizeof(*w));
  w->base.vt = &vt;
  w->inner = f->svc;
  f->pump.svc = &w->base;
  imsec_scscf_config cfg = {.reg_shared = 1, .hss_assign = 1};
  remake(f, cfg);
  imsec_addr alias;
  assert_int_equal(imsec_addr_parse(S("tcp:127.0.0.1:6060"), &alias), 0);
  cfg.aliases = &alias;
  cfg.n_aliases = 1;
  static const char *const addrs[] = {"127.0.0.1"};
  cfg.domain = DOM;
  cfg.insecure_core = 1;
  cfg.peer_addrs = addrs;
  cfg.n_peer_addrs = 1;
  assert_int_equal(imsec_addr_parse(S("tcp:127.0.0.1:6061"), &cfg.self), 0);
  assert_int_equal(imsec_scscf_new(&f->s2, &cfg, f->c), 0);
}

/* Drive the other S-CSCF. */
static void swap(fx *f) {
  imsec_scscf *t = f->s;
  f->s = f->s2;
  f->s2 = t;
  uint64_t k[64];
  memcpy(k, f->known, sizeof(k));
  memcpy(f->known, f->known2, sizeof(k));
  memcpy(f->known2, k, sizeof(k));
  size_t n = f->nknown;
  f->nknown = f->nknown2;
  f->nknown2 = n;
  f->side = !f->side;
  f->pump.self = f->s;
}

/* Fire the timers of the driven S-CSCF due at f->now (and those they
 * arm that are due too). Returns the SENDs and keeps the actions of all
 * of them in f->out. */
static void fire_due(fx *f) {
  imsec_out_clear(&f->out);
  for (int again = 1; again;) {
    again = 0;
    for (size_t i = 0; i < f->ntm[f->side]; i++) {
      if (f->tm[f->side][i].at > f->now)
        continue;
      uint64_t id = f->tm[f->side][i].id;
      f->tm[f->side][i] = f->tm[f->side][--f->ntm[f->side]];
      size_t from = f->out.n;
      ev_timer(f, id, f->now, &f->out);
      for (size_t j = from; j < f->out.n; j++) {
        const imsec_act *a = &f->out.acts[j];
        if (a->kind == IMSEC_ACT_TIMER && a->at && f->ntm[f->side] < 512) {
          size_t n = f->ntm[f->side]++;
          f->tm[f->side][n].id = a->timer;
          f->tm[f->side][n].at = a->at;
        }
      }
      again = 1;
      break;
    }
  }
}

/* A MESSAGE to a UE registered through the sibling is delivered from
 * the shared store; the copy is read again after reg_cache_ms; a Route
 * naming the sibling (an alias) is ours; the originating user is looked
 * up there too. */
static void cluster_terminating(void **state) {
  fx *f = *state;
  sar_svc w;
  cluster(f, &w);
  assert_int_equal(do_registration(f, IMPI_B, IMPU_B, CONTACT1), 200);
  /* Not here before: the store was asked first; the HSS told before the
   * 200. */
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_GET], 1);
  assert_int_equal(sar_count(&w, IMSEC_SVC_ASSIGN_REGISTRATION), 1);
  memset(&f->ue, 0, sizeof(f->ue)); /* A's ISIM, same keys as B's */
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT2), 200);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_GET], 2);

  swap(f);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
  deliver(f, 8, message_to(IMPU_B, NULL));
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_GET], 3);
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  assert_int_equal(c->addr.port, 5070); /* the Path's hop */
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_B)), 1);
  /* Within reg_cache_ms the copy serves. */
  f->now += 1000;
  deliver(f, 8, message_to(IMPU_B, NULL));
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_GET], 3);
  f->now += 1001;
  deliver(f, 8, message_to(IMPU_B, NULL));
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_GET], 4);
  /* Originating through A's Service-Route, at B: the alias is popped,
   * A's registration read from the store. */
  deliver(f, 9,
          message_to(IMPU_B, "<sip:orig@127.0.0.1:6060;transport=tcp;lr>"));
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_GET], 5);
  assert_int_not_equal(status_of(f->last), 403);
  assert_int_equal(imsec_scscf_registrations(f->s), 2);
  /* A Route naming neither: not served. */
  deliver(f, 9,
          message_to(IMPU_B, "<sip:orig@127.0.0.1:6099;transport=tcp;lr>"));
  assert_int_equal(status_of(f->last), 403);
  /* Unknown in the store and the HSS: 404. */
  deliver(f, 8, message_to("sip:nobody@" DOM, NULL));
  assert_int_equal(status_of(f->last), 404);
}

/* A REGISTER at B of an IMPI registered through A keeps A's binding;
 * expiry runs on the store's clock: of the two S-CSCFs whose timers fire
 * for the last binding, one alone de-registers the user at the HSS. */
static void cluster_expiry(void **state) {
  fx *f = *state;
  sar_svc w;
  cluster(f, &w);
  imsec_time_ms t0 = f->now;
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT2), 200);
  swap(f);
  assert_int_equal(do_registration(f, IMPI_A, IMPU_A, CONTACT3), 200);
  assert_non_null(strstr(f->last, "Contact: <sip:ue@10.0.0.2:5061"));
  assert_non_null(strstr(f->last, "Contact: <sip:ue@10.0.0.3:5061"));
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 2);
  assert_int_equal(sar_count(&w, IMSEC_SVC_ASSIGN_REGISTRATION), 2);
  /* CONTACT2's 300 s pass: A asks the store, which drops it; B's
   * binding stays, nobody de-registers. */
  f->now = t0 + 300000;
  swap(f);
  fire_due(f);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_EXPIRE], 1);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
  swap(f);
  fire_due(f);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_REG_EXPIRE], 2);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
  assert_int_equal(sar_count(&w, IMSEC_SVC_ASSIGN_TIMEOUT_DEREGISTRATION), 0);
  /* CONTACT3's 600 s: both fire, one record goes, one SAR. */
  f->now = t0 + 600000 + 1000;
  fire_due(f);
  size_t gone_b = count_logs(f, "timeout de-registration");
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
  swap(f);
  fire_due(f);
  size_t gone_a = count_logs(f, "timeout de-registration");
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 0);
  assert_int_equal(gone_a + gone_b, 1);
  assert_int_equal(sar_count(&w, IMSEC_SVC_ASSIGN_TIMEOUT_DEREGISTRATION), 1);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
}

#define CONTACT1_OFF                                                           \
  "<sip:ue@10.0.0.1:5061;transport=tls;ob>;+sip.instance=\"<urn:uuid:"         \
  "00000000-0000-0000-0000-000000000001>\";reg-id=1;expires=0"

/* Cx SAR: REGISTRATION, then RE_REGISTRATION before each 200, the
 * implicit set of its answer in P-Associated-URI, USER_DEREGISTRATION
 * after the last binding goes; an unknown user 403, no answer 504. */
static void cluster_assign(void **state) {
  fx *f = *state;
  sar_svc w;
  cluster(f, &w);
  w.set2 = "sip:carol.other@" DOM;
  assert_int_equal(do_registration(f, IMPI_C, IMPU_C, CONTACT1), 200);
  assert_int_equal(w.n, 1);
  assert_int_equal(w.types[0], IMSEC_SVC_ASSIGN_REGISTRATION);
  assert_non_null(strstr(f->last, "<sip:carol.other@" DOM ">"));
  assert_int_equal(imsec_scscf_contacts(f->s, S("sip:carol.other@" DOM)), 1);
  assert_int_equal(do_registration(f, IMPI_C, IMPU_C, CONTACT1), 200);
  assert_int_equal(w.types[1], IMSEC_SVC_ASSIGN_RE_REGISTRATION);
  assert_int_equal(do_registration(f, IMPI_C, IMPU_C, CONTACT1_OFF), 200);
  assert_int_equal(w.n, 3);
  assert_int_equal(w.types[2], IMSEC_SVC_ASSIGN_USER_DEREGISTRATION);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
  /* The HSS does not know the user (DIAMETER_ERROR_USER_UNKNOWN). */
  w.mode = 1;
  assert_int_equal(do_registration(f, IMPI_C, IMPU_C, CONTACT1), 403);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
  /* A Cx timeout (the client's): 504 Server Time-out. */
  w.mode = 3;
  assert_int_equal(do_registration(f, IMPI_C, IMPU_C, CONTACT1), 504);
  /* No answer at all: the REGISTER waits store_timeout_ms, then 504. */
  w.mode = 2;
  assert_int_equal(
      deliver(f, PCSCF_FLOW,
              reg_msg(f, IMPU_C, empty_auth(IMPI_C), CONTACT1, NULL)),
      1);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, IMPI_C, alg, UE_OK, "00000001", NULL);
  assert_int_equal(
      deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_C, a, CONTACT1, NULL)), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  f->now += 250;
  imsec_out_clear(&f->out);
  imsec_scscf_handle_expiry(f->s, f->now, &f->out);
  assert_int_equal(scan_sends(f), 1);
  assert_int_equal(status_of(f->last), 504);
  assert_int_equal(imsec_scscf_registrations(f->s), 0);
}

/* The stores answer later (a worker, the network): an authenticated
 * REGISTER waits in the registrar for the shared record, then for the
 * SAR, and its run again does not authenticate twice. */
static void cluster_async(void **state) {
  fx *f = *state;
  sar_svc w;
  cluster(f, &w);
  assert_int_equal(reg_first(f, IMPU_A, IMPI_A), 1);
  imsec_digest_alg alg;
  take_challenge(f, &alg);
  const char *a = answer(f, IMPI_A, alg, UE_OK, "00000001", NULL);
  f->pump.mode = ELEM_PUMP_HOLD;
  assert_int_equal(
      deliver(f, PCSCF_FLOW, reg_msg(f, IMPU_A, a, CONTACT1, NULL)), 0);
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  assert_int_equal(f->pump.nheld, 1); /* REG_GET */
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(release(f, 0), 0);
  assert_int_equal(f->pump.nheld, 1); /* HSS_ASSIGN */
  assert_int_equal(w.n, 1);
  assert_int_equal(release(f, 0), 1);
  assert_int_equal(status_of(f->last), 200);
  assert_int_equal(imsec_scscf_parked(f->s), 0);
  assert_int_equal(imsec_scscf_contacts(f->s, S(IMPU_A)), 1);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_VECTOR], 1);
  /* A terminating request waits for the shared store as well. */
  swap(f);
  deliver(f, 8, message_to(IMPU_A, NULL));
  assert_int_equal(imsec_scscf_parked(f->s), 1);
  assert_int_equal(release(f, 0), 0);
  assert_non_null(find_act(f, IMSEC_ACT_CONNECT));
  assert_int_equal(imsec_scscf_parked(f->s), 0);
}

/* The in-memory registration store's get and expire. */
static void reg_mem_get_expire(void **state) {
  (void)state;
  imsec_reg_store *rs;
  assert_int_equal(imsec_reg_mem_new(&rs), 0);
  char *impus[] = {IMPU_A, IMPU_A2};
  imsec_reg_binding b[2] = {{.contact = "sip:ue@10.0.0.1", .ttl_ms = 1000},
                            {.contact = "sip:ue@10.0.0.2", .ttl_ms = 5000}};
  imsec_reg_record r = {
      .impi = IMPI_A, .impus = impus, .n_impus = 2, .b = b, .n = 2};
  assert_int_equal(rs->vt->save(rs, &r, 100), 0);
  imsec_reg_record g;
  assert_int_equal(rs->vt->get(rs, IMPI_A, 600, &g), 0);
  assert_int_equal(g.n, 2);
  assert_int_equal(g.b[0].ttl_ms, 500);
  imsec_reg_record_free(&g);
  assert_int_equal(rs->vt->get(rs, "TEL:+15550001", 1100, &g), 0);
  assert_int_equal(g.n, 1);
  imsec_reg_record_free(&g);
  assert_int_equal(rs->vt->get(rs, "sip:x@" DOM, 0, &g), IMSEC_ERR_NOTFOUND);
  int gone = 9;
  assert_int_equal(rs->vt->expire(rs, IMPI_A, 1100, &g, &gone), 0);
  assert_int_equal(gone, 0);
  assert_int_equal(g.n, 1);
  imsec_reg_record_free(&g);
  assert_int_equal(rs->vt->expire(rs, IMPI_A, 5100, &g, &gone), 0);
  assert_int_equal(gone, 1);
  assert_int_equal(g.n, 0);
  imsec_reg_record_free(&g);
  /* The second caller finds nothing left, and it was not the one. */
  assert_int_equal(rs->vt->expire(rs, IMPI_A, 5100, &g, &gone), 0);
  assert_int_equal(gone, 0);
  imsec_reg_record_free(&g);
  assert_int_equal(rs->vt->get(rs, IMPI_A, 5100, &g), IMSEC_ERR_NOTFOUND);
  imsec_reg_store_del(rs);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(cluster_terminating),
      T(cluster_expiry),
      T(cluster_assign),
      T(cluster_async),
      T(reg_mem_get_expire),
      T(register_akav1),
      T(register_akav2),
      T(wrong_res),
      T(mac_failure),
      T(sync_failure),
      T(replay),
      T(stale_nonce),
      T(refusals),
      T(contacts_and_expiry),
      T(expires_rules),
      T(routing),
      T(options_and_others),
      T(fork_first_2xx),
      T(fork_all_fail),
      T(fork_flow_down),
      T(fork_timeout),
      T(fork_cap),
      T(bad_config),
      T(via_received_rport),
      T(bad_branch_responses),
      T(oversized_input),
      T(untrusted_peers),
      T(integrity_required),
      T(tls_peers),
      T(aka_keys_to_cert_peers),
      T(challenge_reuse),
      T(challenge_limits),
      T(source_below_top_via),
      T(recheck_after_reload),
      T(pending_challenges_full),
      T(failure_lockout),
      T(lockout_per_source),
      T(challenge_limit_per_source),
      T(source_failures),
      T(limit_tables_bounded),
      T(digest_uri),
      T(store_locked),
      T(store_busy_retried),
      T(store_busy_sqn),
      T(store_busy_others_go_on),
      T(store_busy_order),
      T(store_busy_bounds),
      T(store_busy_resync),
      T(store_busy_callids),
      T(limit_config),
      T(hss_replies_interleaved),
      T(hss_replies_flow_order),
      T(hss_replies_flow_concurrent),
      T(hss_replies_callid_order),
      T(hss_reply_never_comes),
      T(hss_vector_io_500),
      T(reg_save_fails),
      T(restart_loads_registrations),
      T(restart_expired_not_loaded),
      T(expiry_deletes_record),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
