/* Calls of the UE element (lib/ue/call.c) driven by crafted messages,
 * with the UE alone: a registered UE (AKA played as in ue_test.c) calls
 * and is called; the test plays the P-CSCF's side of the flow and reads
 * what the UE sends. Outgoing: the INVITE (Service-Route, Contact, SDP
 * offer), provisional responses, the ACK of a 2xx (route set the reversed
 * Record-Route, R-URI the Contact) and of a 486 (the INVITE's branch),
 * CANCEL only after a provisional, BYE, re-INVITE, an extra 2xx from
 * another fork. Incoming: auto-answer (at once and after a delay), busy,
 * ringing until CANCEL, the 2xx sent again until the ACK and BYE when
 * none comes, remote BYE, re-INVITE, in-dialog INFO, 481 for an unknown
 * dialog, the call limit, the flow going. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/aka.h"
#include "imsec/digest.h"
#include "imsec/sip.h"
#include "imsec/ue.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI "001010000000001@" HOME
#define IMPU "sip:001010000000001@" HOME
#define PCSCF "pcscf." HOME
#define BOB "sip:bob@" HOME
#define K_HEX "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC_HEX "cd63cb71954a9f4e48a5994e37a02baf"
#define FLOW 7
#define UE_CONTACT "sip:ue@127.0.0.1:40000;transport=tls;ob"
#define SROUTE "sip:orig@scscf." HOME ":5060;transport=tcp;lr"
#define MAXS 8

typedef struct fx {
  char logs[8192]; /* the log lines, appended (cut when full) */
  size_t logs_len;
  imsec_crypto *c;
  imsec_ue *ue;
  imsec_out out;
  imsec_milenage *hss;
  imsec_sqn_he he;
  imsec_sqn_cfg sc;
  imsec_aka_vector v;
  imsec_trust_cert cert;
  imsec_time_ms now;
  /* the SENDs of the last event */
  int n_send;
  char sent[MAXS][8192];
  size_t sent_len[MAXS];
  uint64_t sent_flow[MAXS];
  int n_close, n_connect;
  uint64_t connect_tag;
  imsec_time_ms call_timer;  /* IMSEC_UE_TIMER_CALL as last armed */
  imsec_time_ms dgram_timer; /* IMSEC_UE_TIMER_DGRAM as last armed */
  int dtls;
  int persist_seen;
  imsec_svc_req persist;
} fx;

static const char *const impus[] = {IMPU};

static void take(fx *f) {
  f->n_send = f->n_close = f->n_connect = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    imsec_act *a = &f->out.acts[i];
    switch (a->kind) {
    case IMSEC_ACT_SEND:
      assert_true(f->n_send < MAXS);
      assert_true(a->len < sizeof f->sent[0]);
      memcpy(f->sent[f->n_send], a->data, a->len);
      f->sent[f->n_send][a->len] = 0;
      f->sent_len[f->n_send] = a->len;
      f->sent_flow[f->n_send] = a->flow;
      f->n_send++;
      break;
    case IMSEC_ACT_CONNECT:
      f->n_connect++;
      f->connect_tag = a->tag;
      break;
    case IMSEC_ACT_CLOSE:
      f->n_close++;
      break;
    case IMSEC_ACT_PERSIST:
      f->persist_seen = 1;
      f->persist = *a->svc;
      break;
    case IMSEC_ACT_TIMER:
      if (a->timer == IMSEC_UE_TIMER_CALL)
        f->call_timer = a->at;
      if (a->timer == IMSEC_UE_TIMER_DGRAM)
        f->dgram_timer = a->at;
      break;
    case IMSEC_ACT_LOG:
      if (f->logs_len + a->len + 2 < sizeof f->logs) {
        memcpy(f->logs + f->logs_len, a->data, a->len);
        f->logs_len += a->len;
        f->logs[f->logs_len++] = '\n';
        f->logs[f->logs_len] = 0;
      }
      if (getenv("UE_CALL_TEST_LOG"))
        fprintf(stderr, "log: %s\n", (const char *)a->data);
      break;
    default:
      break;
    }
  }
  assert_int_equal(imsec_out_err(&f->out), 0);
  imsec_out_clear(&f->out);
}

static int f_logged(const fx *f, const char *what) {
  return strstr(f->logs, what) != NULL;
}

typedef struct opts {
  int answer;
  imsec_time_ms delay;
  int dtls; /* SIP over DTLS (lib/ue/dgram.c) */
} opts;

static void fx_new(fx *f, const opts *o) {
  memset(f, 0, sizeof *f);
  assert_int_equal(imsec_crypto_ossl_new(&f->c), 0);
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  f->sc = imsec_sqn_cfg_default();
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.impi = IMPI;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = TD;
  t_hex(K_HEX, cfg.k, 16);
  t_hex(OPC_HEX, cfg.opc, 16);
  cfg.has_opc = 1;
  f->dtls = o && o->dtls;
  assert_int_equal(imsec_addr_parse(f->dtls
                                        ? IMSEC_STR_LIT("dtls:127.0.0.1:5061")
                                        : IMSEC_STR_LIT("tls:127.0.0.1:5061"),
                                    &cfg.pcscf),
                   0);
  cfg.keepalive_ms = -1;
  cfg.pcscf_name = PCSCF;
  cfg.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  cfg.answer = o ? o->answer : IMSEC_UE_ANSWER_AUTO;
  cfg.answer_delay_ms = o ? o->delay : 0;
  assert_int_equal(imsec_ue_new(&f->ue, &cfg, f->c), 0);
  imsec_wipe(&cfg, sizeof cfg);
  uint8_t k[16], opc[16];
  t_hex(K_HEX, k, 16);
  t_hex(OPC_HEX, opc, 16);
  assert_int_equal(imsec_milenage_new(&f->hss, f->c), 0);
  assert_int_equal(imsec_milenage_set_opc(f->hss, k, opc), 0);
  f->cert.chain = IMSEC_CHAIN_OK;
  f->cert.has_san = 1;
  f->cert.n_dns = 1;
  strcpy(f->cert.dns[0], PCSCF);
  f->cert.issuer = IMSEC_ISSUER_HOME;
  f->now = 1000000;
}

static void fx_del(fx *f) {
  imsec_ue_del(f->ue);
  imsec_milenage_del(f->hss);
  imsec_aka_vector_wipe(&f->v);
  imsec_out_free(&f->out);
  imsec_crypto_del(f->c);
}

static void feed(fx *f, const char *msg) {
  imsec_ue_on_message(f->ue, FLOW, (const uint8_t *)msg, strlen(msg), f->now,
                      &f->out);
  take(f);
}

/* A parsed copy of sent message `i`. */
typedef struct got {
  char buf[8192];
  imsec_sip_msg m;
} got;

static void parse(fx *f, int i, got *g) {
  assert_true(i < f->n_send);
  memcpy(g->buf, f->sent[i], f->sent_len[i]);
  imsec_sip_msg_init(&g->m, NULL);
  assert_int_equal(imsec_sip_parse(&g->m, g->buf, f->sent_len[i], 1), 0);
  assert_int_equal(imsec_sip_check(&g->m), 0);
}

static void got_free(got *g) {
  imsec_sip_msg_free(&g->m);
}

/* Header `id`'s first value as a C string (static buffer). */
static const char *hv(got *g, imsec_sip_hid id) {
  static char b[1024];
  const imsec_sip_hdr *h = imsec_sip_hdr_first(&g->m, id);
  b[0] = 0;
  if (h)
    assert_true(imsec_str_copy(h->value, b, sizeof b) >= 0);
  return b;
}

static const char *branch(got *g) {
  static char b[128];
  const imsec_sip_via *v;
  assert_int_equal(imsec_sip_get_via(&g->m, &v), 0);
  assert_true(imsec_str_copy(v->branch, b, sizeof b) >= 0);
  return b;
}

static void ruri(got *g, const char *want) {
  char b[512];
  assert_true(imsec_str_copy(g->m.ruri, b, sizeof b) >= 0);
  assert_string_equal(b, want);
}

/* The Route values of a message, joined by " | ". */
static const char *routes(got *g) {
  static char b[2048];
  b[0] = 0;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  while (imsec_sip_value_next(&g->m, IMSEC_SIP_H_ROUTE, &it, &v, NULL) > 0) {
    if (b[0])
      strcat(b, " | ");
    strncat(b, v.p, v.len);
  }
  return b;
}

/* ------------------------------------------------------- registration */

static void answer_last(fx *f, unsigned code, const char *reason,
                        const char *extra) {
  got g;
  parse(f, f->n_send - 1, &g);
  char buf[8192];
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, sizeof buf);
  imsec_sip_build_response(&b, &g.m, code, imsec_str_c(reason),
                           IMSEC_STR_LIT("srvtag"));
  if (extra)
    imsec_sip_build_raw(&b, imsec_str_c(extra));
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  assert_true(n > 0);
  buf[n] = 0;
  got_free(&g);
  feed(f, buf);
}

static void fx_register(fx *f) {
  assert_int_equal(imsec_ue_start(f->ue, f->now, &f->out), 0);
  take(f);
  assert_int_equal(f->n_connect, 1);
  imsec_flow_info info;
  memset(&info, 0, sizeof info);
  info.tp = f->dtls ? IMSEC_TP_DTLS : IMSEC_TP_TLS;
  assert_int_equal(imsec_addr_parse(f->dtls
                                        ? IMSEC_STR_LIT("dtls:127.0.0.1:40000")
                                        : IMSEC_STR_LIT("tls:127.0.0.1:40000"),
                                    &info.local),
                   0);
  assert_int_equal(imsec_addr_parse(f->dtls
                                        ? IMSEC_STR_LIT("dtls:127.0.0.1:5061")
                                        : IMSEC_STR_LIT("tls:127.0.0.1:5061"),
                                    &info.peer),
                   0);
  info.peer_cert = &f->cert;
  info.tls_version = f->dtls ? "DTLSv1.2" : "TLSv1.3";
  assert_int_equal(
      imsec_ue_on_flow_up(f->ue, FLOW, f->connect_tag, &info, f->now, &f->out),
      0);
  take(f);
  assert_int_equal(f->n_send, 1);
  uint8_t sqn[6], amf[2] = {0x80, 0x00};
  assert_int_equal(imsec_sqn_he_next(&f->he, &f->sc, sqn), 0);
  assert_int_equal(imsec_aka_vector_make(f->hss, sqn, amf, &f->v), 0);
  char chal[1024], extra[1400];
  assert_true(imsec_digest_aka_challenge_build(
                  &f->v, IMSEC_DIGEST_AKAV1_MD5, IMSEC_STR_LIT(HOME),
                  IMSEC_STR_LIT("auth"), IMSEC_STR_LIT("op4que"), 0, chal,
                  sizeof chal) > 0);
  snprintf(extra, sizeof extra,
           "WWW-Authenticate: %s\r\nSecurity-Server: tls;q=0.1\r\n", chal);
  answer_last(f, 401, "Unauthorized", extra);
  assert_true(f->persist_seen);
  assert_int_equal(f->n_send, 1); /* the REGISTER with the RES */
  char reg[8192];
  size_t reg_len = f->sent_len[0];
  memcpy(reg, f->sent[0], reg_len);
  imsec_svc_reply r;
  memset(&r, 0, sizeof r);
  r.kind = f->persist.kind;
  r.id = f->persist.id;
  imsec_ue_on_reply(f->ue, &r, f->now, &f->out);
  take(f);
  memcpy(f->sent[0], reg, reg_len);
  f->sent_len[0] = reg_len;
  f->n_send = 1;
  answer_last(f, 200, "OK",
              f->dtls ? "Contact: <sip:ue@127.0.0.1:40000;transport=dtls-udp;"
                        "ob>;expires=600\r\n"
                        "Service-Route: <" SROUTE ">\r\n"
                        "P-Associated-URI: <" IMPU ">\r\n"
                      : "Contact: <" UE_CONTACT ">;expires=600\r\n"
                        "Service-Route: <" SROUTE ">\r\n"
                        "P-Associated-URI: <" IMPU ">\r\n");
  imsec_ue_status st;
  imsec_ue_get_status(f->ue, &st);
  assert_int_equal(st.state, IMSEC_UE_REGISTERED);
  if (!f->dtls)
    assert_string_equal(imsec_ue_contact(f->ue), UE_CONTACT);
}

static imsec_ue_call_info info_of(fx *f, int h) {
  imsec_ue_call_info ci;
  assert_int_equal(imsec_ue_call_get(f->ue, h, &ci), 0);
  return ci;
}

/* ------------------------------------------------------- the far side */

/* What the callee's side answers to the INVITE `inv` (sent message
 * `idx`): status, its To tag, extra lines, an SDP body. */
static void respond_to(fx *f, const char *req, size_t len, unsigned code,
                       const char *reason, const char *tag, const char *extra,
                       const char *sdp) {
  char copy[8192], buf[8192];
  memcpy(copy, req, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, copy, len, 1), 0);
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, sizeof buf);
  imsec_sip_build_response(&b, &m, code, imsec_str_c(reason),
                           tag ? imsec_str_c(tag) : IMSEC_STR_NULL);
  if (extra)
    imsec_sip_build_raw(&b, imsec_str_c(extra));
  if (sdp)
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("Content-Type: application/sdp\r\n"));
  int n = imsec_sip_build_finish(&b, sdp ? imsec_str_c(sdp) : IMSEC_STR_NULL);
  assert_true(n > 0);
  buf[n] = 0;
  imsec_sip_msg_free(&m);
  feed(f, buf);
}

static const char answer_sdp[] = "v=0\r\no=- 7 1 IN IP4 10.0.0.9\r\ns=-\r\n"
                                 "c=IN IP4 10.0.0.9\r\nt=0 0\r\n"
                                 "m=audio 4000 RTP/AVP 0\r\n";

/* Record-Route of the 2xx as the caller sees it: the callee's P-CSCF on
 * top, the caller's own P-CSCF (flow token) at the bottom. */
#define RR_2XX                                                                 \
  "Record-Route: <sip:tokB@pcscf-b." HOME ":5061;transport=tls;lr>\r\n"        \
  "Record-Route: <sip:scscf." HOME ":5060;transport=tcp;lr>\r\n"               \
  "Record-Route: <sip:tokA@" PCSCF ":5061;transport=tls;lr>\r\n"
#define ROUTE_SET                                                              \
  "<sip:tokA@" PCSCF ":5061;transport=tls;lr> | "                              \
  "<sip:scscf." HOME ":5060;transport=tcp;lr> | "                              \
  "<sip:tokB@pcscf-b." HOME ":5061;transport=tls;lr>"
#define BOB_CONTACT "sip:bob@10.0.0.9:5061;transport=tls;ob"

typedef struct uac {
  int h;
  char inv[8192];
  size_t inv_len;
} uac;

static void start_call(fx *f, uac *u) {
  u->h = imsec_ue_call(f->ue, BOB, f->now, &f->out);
  assert_true(u->h > 0);
  take(f);
  assert_int_equal(f->n_send, 1);
  assert_int_equal(f->sent_flow[0], FLOW);
  memcpy(u->inv, f->sent[0], f->sent_len[0] + 1);
  u->inv_len = f->sent_len[0];
}

/* A call answered by bob: 180, 200 with the Record-Route; the ACK out. */
static void call_answered(fx *f, uac *u) {
  start_call(f, u);
  respond_to(f, u->inv, u->inv_len, 180, "Ringing", "bobtag", NULL, NULL);
  assert_int_equal(f->n_send, 0);
  respond_to(f, u->inv, u->inv_len, 200, "OK", "bobtag",
             RR_2XX "Contact: <" BOB_CONTACT ">\r\n", answer_sdp);
  assert_int_equal(f->n_send, 1);
  assert_int_equal(info_of(f, u->h).state, IMSEC_UE_CALL_CONFIRMED);
}

/* A request from bob in the dialog of call `u`. */
static void bob_request(fx *f, uac *u, const char *method, unsigned cseq,
                        const char *extra, const char *sdp) {
  imsec_ue_call_info ci = info_of(f, u->h);
  char copy[8192];
  memcpy(copy, u->inv, u->inv_len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, copy, u->inv_len, 1), 0);
  const imsec_sip_addr *from;
  assert_int_equal(imsec_sip_get_from(&m, &from), 0);
  char ftag[64];
  assert_true(imsec_str_copy(from->tag, ftag, sizeof ftag) >= 0);
  imsec_sip_msg_free(&m);
  char buf[8192];
  snprintf(buf, sizeof buf,
           "%s " UE_CONTACT " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS " PCSCF ":5061;branch=z9hG4bKb%s%u\r\n"
           "Max-Forwards: 68\r\n"
           "From: <" BOB ">;tag=bobtag\r\n"
           "To: <" IMPU ">;tag=%s\r\n"
           "Call-ID: %s\r\nCSeq: %u %s\r\n"
           "%s%s"
           "Content-Length: %zu\r\n\r\n%s",
           method, method, cseq, ftag, ci.call_id, cseq, method,
           extra ? extra : "", sdp ? "Content-Type: application/sdp\r\n" : "",
           sdp ? strlen(sdp) : 0, sdp ? sdp : "");
  feed(f, buf);
}

/* ------------------------------------------------------------- tests */
/* A Record-Route longer than the UE keeps (14 entries): the hops nearest
 * to the caller stay, its own P-CSCF first, and one line says so. */
static void test_long_record_route(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  start_call(&f, &u);
  char rr[4096];
  size_t n = 0;
  for (int i = 0; i < 13; i++)
    n += (size_t)snprintf(rr + n, sizeof rr - n,
                          "Record-Route: <sip:hop%d.far.example;lr>\r\n", i);
  snprintf(rr + n, sizeof rr - n,
           "Record-Route: <sip:tokA@" PCSCF
           ":5061;transport=tls;lr>\r\nContact: <" BOB_CONTACT ">\r\n");
  respond_to(&f, u.inv, u.inv_len, 200, "OK", "bobtag", rr, answer_sdp);
  assert_int_equal(f.n_send, 1);
  got g;
  parse(&f, 0, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_ACK);
  const char *r = routes(&g);
  assert_int_equal(strncmp(r, "<sip:tokA@" PCSCF, strlen("<sip:tokA@" PCSCF)),
                   0);
  assert_non_null(strstr(r, "hop2.far"));
  assert_null(strstr(r, "hop1.far"));
  got_free(&g);
  assert_true(f_logged(&f, "far hops dropped"));
  fx_del(&f);
}

static void test_outgoing_answered_local_bye(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  start_call(&f, &u);
  got g;
  parse(&f, 0, &g);
  assert_true(g.m.is_request);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_INVITE);
  ruri(&g, BOB);
  assert_string_equal(routes(&g), "<" SROUTE ">");
  assert_string_equal(hv(&g, IMSEC_SIP_H_CONTACT), "<" UE_CONTACT ">");
  assert_string_equal(hv(&g, IMSEC_SIP_H_CONTENT_TYPE), "application/sdp");
  assert_string_equal(hv(&g, IMSEC_SIP_H_CSEQ), "1 INVITE");
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_ALLOW), "INVITE"));
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_ALLOW), "BYE"));
  assert_true(g.m.body.len > 0 && memcmp(g.m.body.p, "v=0\r\n", 5) == 0);
  assert_non_null(strstr(u.inv, "m=audio "));
  char inv_branch[128];
  strcpy(inv_branch, branch(&g));
  got_free(&g);
  imsec_ue_call_info ci = info_of(&f, u.h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_CALLING);
  assert_false(ci.incoming);
  assert_string_equal(ci.peer, BOB);

  respond_to(&f, u.inv, u.inv_len, 100, "Trying", NULL, NULL, NULL);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(info_of(&f, u.h).state, IMSEC_UE_CALL_CALLING);
  respond_to(&f, u.inv, u.inv_len, 180, "Ringing", "bobtag", NULL, NULL);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(info_of(&f, u.h).state, IMSEC_UE_CALL_RINGING);
  f.now += 1500;
  respond_to(&f, u.inv, u.inv_len, 200, "OK", "bobtag",
             RR_2XX "Contact: <" BOB_CONTACT ">\r\n", answer_sdp);
  /* RFC 3261 §13.2.2.4: the ACK along the reversed Record-Route to the
   * Contact, a new branch, the INVITE's CSeq number. */
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow[0], FLOW);
  parse(&f, 0, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_ACK);
  ruri(&g, BOB_CONTACT);
  assert_string_equal(routes(&g), ROUTE_SET);
  assert_string_equal(hv(&g, IMSEC_SIP_H_CSEQ), "1 ACK");
  assert_string_not_equal(branch(&g), inv_branch);
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_TO), ";tag=bobtag"));
  got_free(&g);
  ci = info_of(&f, u.h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_CONFIRMED);
  assert_int_equal(ci.final_status, 200);
  assert_int_equal(ci.answered_at, f.now);

  /* The 2xx again (lost ACK): the same ACK again. */
  char ack[8192];
  memcpy(ack, f.sent[0], f.sent_len[0] + 1);
  respond_to(&f, u.inv, u.inv_len, 200, "OK", "bobtag",
             RR_2XX "Contact: <" BOB_CONTACT ">\r\n", answer_sdp);
  assert_int_equal(f.n_send, 1);
  assert_string_equal(f.sent[0], ack);

  /* Hang up: BYE in the dialog. */
  assert_int_equal(imsec_ue_call_hangup(f.ue, u.h, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_send, 1);
  parse(&f, 0, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_BYE);
  ruri(&g, BOB_CONTACT);
  assert_string_equal(routes(&g), ROUTE_SET);
  assert_string_equal(hv(&g, IMSEC_SIP_H_CSEQ), "2 BYE");
  got_free(&g);
  assert_int_equal(info_of(&f, u.h).state, IMSEC_UE_CALL_ENDING);
  assert_int_equal(imsec_ue_call_hangup(f.ue, u.h, f.now, &f.out),
                   IMSEC_ERR_STATE);
  take(&f);
  char bye[8192];
  memcpy(bye, f.sent[0], f.sent_len[0] + 1);
  respond_to(&f, bye, strlen(bye), 200, "OK", NULL, NULL, NULL);
  ci = info_of(&f, u.h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ci.end, IMSEC_UE_END_LOCAL_BYE);
  assert_int_equal(ci.bye_status, 200);
  int hs[4];
  assert_int_equal(imsec_ue_calls(f.ue, hs, 4), 1);
  assert_int_equal(hs[0], u.h);
  fx_del(&f);
}

static void test_outgoing_busy_ack(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  start_call(&f, &u);
  got g;
  parse(&f, 0, &g);
  char inv_branch[128];
  strcpy(inv_branch, branch(&g));
  got_free(&g);
  respond_to(&f, u.inv, u.inv_len, 486, "Busy Here", "bobtag", NULL, NULL);
  /* RFC 3261 §17.1.1.3: the INVITE's branch and R-URI, the 486's To. */
  assert_int_equal(f.n_send, 1);
  parse(&f, 0, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_ACK);
  ruri(&g, BOB);
  assert_string_equal(branch(&g), inv_branch);
  assert_string_equal(hv(&g, IMSEC_SIP_H_CSEQ), "1 ACK");
  assert_string_equal(routes(&g), "<" SROUTE ">");
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_TO), ";tag=bobtag"));
  got_free(&g);
  imsec_ue_call_info ci = info_of(&f, u.h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ci.end, IMSEC_UE_END_REJECTED);
  assert_int_equal(ci.final_status, 486);
  /* The 486 again: ACKed again. */
  respond_to(&f, u.inv, u.inv_len, 486, "Busy Here", "bobtag", NULL, NULL);
  assert_int_equal(f.n_send, 1);
  fx_del(&f);
}

static void test_cancel_waits_for_provisional(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  start_call(&f, &u);
  got g;
  parse(&f, 0, &g);
  char inv_branch[128];
  strcpy(inv_branch, branch(&g));
  got_free(&g);
  /* RFC 3261 §9.1: no CANCEL before a provisional response. */
  assert_int_equal(imsec_ue_call_hangup(f.ue, u.h, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(info_of(&f, u.h).state, IMSEC_UE_CALL_ENDING);
  respond_to(&f, u.inv, u.inv_len, 180, "Ringing", "bobtag", NULL, NULL);
  assert_int_equal(f.n_send, 1);
  parse(&f, 0, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_CANCEL);
  ruri(&g, BOB);
  assert_string_equal(branch(&g), inv_branch);
  assert_string_equal(hv(&g, IMSEC_SIP_H_CSEQ), "1 CANCEL");
  assert_null(strstr(hv(&g, IMSEC_SIP_H_TO), "tag="));
  got_free(&g);
  char cancel[8192];
  memcpy(cancel, f.sent[0], f.sent_len[0] + 1);
  respond_to(&f, cancel, strlen(cancel), 200, "OK", "bobtag", NULL, NULL);
  assert_int_equal(f.n_send, 0);
  respond_to(&f, u.inv, u.inv_len, 487, "Request Terminated", "bobtag", NULL,
             NULL);
  assert_int_equal(f.n_send, 1); /* its ACK */
  imsec_ue_call_info ci = info_of(&f, u.h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ci.end, IMSEC_UE_END_CANCELLED);
  assert_int_equal(ci.final_status, 487);
  fx_del(&f);
}

static void test_cancel_after_ringing_and_timeout(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  start_call(&f, &u);
  respond_to(&f, u.inv, u.inv_len, 183, "Session Progress", "bobtag", NULL,
             NULL);
  assert_int_equal(info_of(&f, u.h).state, IMSEC_UE_CALL_RINGING);
  assert_int_equal(imsec_ue_call_hangup(f.ue, u.h, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_send, 1); /* CANCEL at once */
  assert_non_null(strstr(f.sent[0], "CANCEL " BOB));
  /* No 487 ever: ended anyway after 64*T1. */
  assert_true(f.call_timer > f.now);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_CALL, f.call_timer, &f.out);
  take(&f);
  imsec_ue_call_info ci = info_of(&f, u.h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ci.end, IMSEC_UE_END_CANCELLED);

  /* A call nobody answers at all: Timer B, 408. */
  start_call(&f, &u);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_CALL, f.call_timer, &f.out);
  take(&f);
  ci = info_of(&f, u.h);
  assert_int_equal(ci.end, IMSEC_UE_END_TIMEOUT);
  assert_int_equal(ci.final_status, 408);
  fx_del(&f);
}

static void test_answer_crosses_cancel(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  start_call(&f, &u);
  respond_to(&f, u.inv, u.inv_len, 180, "Ringing", "bobtag", NULL, NULL);
  assert_int_equal(imsec_ue_call_hangup(f.ue, u.h, f.now, &f.out), 0);
  take(&f);
  /* The 2xx crossed the CANCEL: ACK it, then BYE. */
  respond_to(&f, u.inv, u.inv_len, 200, "OK", "bobtag",
             RR_2XX "Contact: <" BOB_CONTACT ">\r\n", answer_sdp);
  assert_int_equal(f.n_send, 2);
  assert_non_null(strstr(f.sent[0], "ACK " BOB_CONTACT));
  assert_non_null(strstr(f.sent[1], "BYE " BOB_CONTACT));
  respond_to(&f, f.sent[1], f.sent_len[1], 200, "OK", NULL, NULL, NULL);
  assert_int_equal(info_of(&f, u.h).end, IMSEC_UE_END_LOCAL_BYE);
  fx_del(&f);
}

static void test_forked_second_2xx(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  call_answered(&f, &u);
  /* RFC 3261 §13.2.2.4: another fork's 2xx is ACKed and BYEd. */
  respond_to(&f, u.inv, u.inv_len, 200, "OK", "othertag",
             "Record-Route: <sip:tokA@" PCSCF ":5061;transport=tls;lr>\r\n"
             "Contact: <sip:bob@10.0.0.10:5061;transport=tls>\r\n",
             answer_sdp);
  assert_int_equal(f.n_send, 2);
  got g;
  parse(&f, 0, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_ACK);
  ruri(&g, "sip:bob@10.0.0.10:5061;transport=tls");
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_TO), "tag=othertag"));
  got_free(&g);
  parse(&f, 1, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_BYE);
  ruri(&g, "sip:bob@10.0.0.10:5061;transport=tls");
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_TO), "tag=othertag"));
  got_free(&g);
  /* Its 200 does not end our call. */
  respond_to(&f, f.sent[1], f.sent_len[1], 200, "OK", NULL, NULL, NULL);
  assert_int_equal(info_of(&f, u.h).state, IMSEC_UE_CALL_CONFIRMED);
  /* Our own BYE later has a higher CSeq. */
  assert_int_equal(imsec_ue_call_hangup(f.ue, u.h, f.now, &f.out), 0);
  take(&f);
  assert_non_null(strstr(f.sent[0], "CSeq: 3 BYE"));
  fx_del(&f);
}

static void test_remote_bye_and_bye_timeout(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  call_answered(&f, &u);
  bob_request(&f, &u, "BYE", 1, NULL, NULL);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 200 OK"));
  imsec_ue_call_info ci = info_of(&f, u.h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ci.end, IMSEC_UE_END_REMOTE_BYE);
  /* The BYE again: 200 again; another request now: 481. */
  bob_request(&f, &u, "BYE", 1, NULL, NULL);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 200 OK"));
  bob_request(&f, &u, "INFO", 2, NULL, NULL);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 481"));

  /* Our BYE unanswered: 408, ended anyway. */
  call_answered(&f, &u);
  assert_int_equal(imsec_ue_call_hangup(f.ue, u.h, f.now, &f.out), 0);
  take(&f);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_CALL, f.call_timer, &f.out);
  take(&f);
  ci = info_of(&f, u.h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ci.end, IMSEC_UE_END_LOCAL_BYE);
  assert_int_equal(ci.bye_status, 408);
  fx_del(&f);
}

static void test_reinvite_both_ways(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  uac u;
  call_answered(&f, &u);
  assert_int_equal(imsec_ue_call_reinvite(f.ue, u.h, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_send, 1);
  got g;
  parse(&f, 0, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_INVITE);
  ruri(&g, BOB_CONTACT);
  assert_string_equal(routes(&g), ROUTE_SET);
  assert_string_equal(hv(&g, IMSEC_SIP_H_CSEQ), "2 INVITE");
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_TO), "tag=bobtag"));
  got_free(&g);
  /* RFC 4566 §5.2: the new offer's version is higher. */
  assert_non_null(strstr(f.sent[0], " 2 IN IP4 "));
  /* §14.1: one INVITE at a time. */
  assert_int_equal(imsec_ue_call_reinvite(f.ue, u.h, f.now, &f.out),
                   IMSEC_ERR_STATE);
  take(&f);
  char re[8192];
  memcpy(re, f.sent[0], f.sent_len[0] + 1);
  /* bob's re-INVITE meanwhile: 491 (§14.2). */
  bob_request(&f, &u, "INVITE", 1, "Contact: <" BOB_CONTACT ">\r\n",
              answer_sdp);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 491"));
  respond_to(&f, re, strlen(re), 200, "OK", "bobtag",
             "Contact: <" BOB_CONTACT ">\r\n", answer_sdp);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "ACK " BOB_CONTACT));
  assert_non_null(strstr(f.sent[0], "CSeq: 2 ACK"));
  assert_int_equal(info_of(&f, u.h).reinvites, 1);

  /* bob puts us on hold: answered recvonly. */
  static const char hold[] = "v=0\r\no=- 7 2 IN IP4 10.0.0.9\r\ns=-\r\n"
                             "c=IN IP4 10.0.0.9\r\nt=0 0\r\n"
                             "m=audio 4000 RTP/AVP 8 0\r\na=sendonly\r\n";
  bob_request(&f, &u, "INVITE", 2, "Contact: <" BOB_CONTACT ">\r\n", hold);
  assert_int_equal(f.n_send, 1);
  parse(&f, 0, &g);
  assert_int_equal(g.m.status, 200);
  assert_string_equal(hv(&g, IMSEC_SIP_H_CONTENT_TYPE), "application/sdp");
  assert_non_null(strstr(f.sent[0], "a=recvonly"));
  assert_non_null(strstr(f.sent[0], "m=audio 49172 RTP/AVP 8\r\n"));
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_CONTACT), UE_CONTACT));
  got_free(&g);
  assert_int_equal(info_of(&f, u.h).reinvites, 2);
  bob_request(&f, &u, "ACK", 2, NULL, NULL);
  assert_int_equal(f.n_send, 0);
  /* in-dialog INFO and OPTIONS: 200 */
  bob_request(&f, &u, "INFO", 3, NULL, NULL);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 200 OK"));
  bob_request(&f, &u, "OPTIONS", 4, NULL, NULL);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 200 OK"));
  /* out of order: 500 */
  bob_request(&f, &u, "INFO", 3, NULL, NULL);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 500"));
  fx_del(&f);
}

/* ------------------------------------------------------------ incoming */

#define ALICE "sip:alice@" HOME
static const char offer_sdp[] = "v=0\r\no=- 99 1 IN IP4 10.0.0.5\r\ns=-\r\n"
                                "c=IN IP4 10.0.0.5\r\nt=0 0\r\n"
                                "m=audio 5000 RTP/AVP 0 8\r\n"
                                "m=video 5002 RTP/AVP 96\r\n";

static void incoming(fx *f, const char *callid, const char *ftag,
                     const char *method, unsigned cseq, const char *branch_) {
  char buf[8192];
  snprintf(buf, sizeof buf,
           "%s " UE_CONTACT " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS " PCSCF ":5061;branch=z9hG4bK%s\r\n"
           "Via: SIP/2.0/TLS scscf." HOME ":5060;branch=z9hG4bKs%s\r\n"
           "Record-Route: <sip:tokA@" PCSCF ":5061;transport=tls;lr>\r\n"
           "Record-Route: <sip:scscf." HOME ":5060;transport=tcp;lr>\r\n"
           "Max-Forwards: 67\r\n"
           "From: <" ALICE ">;tag=%s\r\n"
           "To: <" IMPU ">\r\n"
           "Call-ID: %s\r\nCSeq: %u %s\r\n"
           "P-Asserted-Identity: <" ALICE ">\r\n"
           "Contact: <sip:alice@10.0.0.5:5061;transport=tls;ob>\r\n"
           "%s"
           "Content-Length: %zu\r\n\r\n%s",
           method, branch_, branch_, ftag, callid, cseq, method,
           strcmp(method, "INVITE") == 0 ? "Content-Type: application/sdp\r\n"
                                         : "",
           strcmp(method, "INVITE") == 0 ? strlen(offer_sdp) : 0,
           strcmp(method, "INVITE") == 0 ? offer_sdp : "");
  feed(f, buf);
}

/* The To tag of sent message i. */
static void sent_to_tag(fx *f, int i, char *tag, size_t cap) {
  got g;
  parse(f, i, &g);
  const imsec_sip_addr *to;
  assert_int_equal(imsec_sip_get_to(&g.m, &to), 0);
  assert_true(to->tag.len > 0);
  assert_true(imsec_str_copy(to->tag, tag, cap) >= 0);
  got_free(&g);
}

/* A request from alice in the dialog she opened (our tag `ltag`). */
static void alice_in_dialog(fx *f, const char *callid, const char *ltag,
                            const char *method, unsigned cseq) {
  char buf[4096];
  snprintf(buf, sizeof buf,
           "%s " UE_CONTACT " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS " PCSCF ":5061;branch=z9hG4bKad%s%u\r\n"
           "Max-Forwards: 68\r\n"
           "From: <" ALICE ">;tag=al\r\n"
           "To: <" IMPU ">;tag=%s\r\n"
           "Call-ID: %s\r\nCSeq: %u %s\r\n"
           "Content-Length: 0\r\n\r\n",
           method, method, cseq, ltag, callid, cseq,
           strcmp(method, "ACK") == 0 ? "ACK" : method);
  feed(f, buf);
}

static int only_call(fx *f) {
  int hs[4];
  assert_int_equal(imsec_ue_calls(f->ue, hs, 4), 1);
  return hs[0];
}

static void test_incoming_auto_answer(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  incoming(&f, "in1@x", "al", "INVITE", 1, "i1");
  /* 180 with a To tag, then 200 with the SDP answer at once. */
  assert_int_equal(f.n_send, 2);
  assert_int_equal(f.sent_flow[0], FLOW);
  got g;
  parse(&f, 0, &g);
  assert_int_equal(g.m.status, 180);
  assert_int_equal(g.m.count[IMSEC_SIP_H_VIA], 2);
  assert_int_equal(g.m.count[IMSEC_SIP_H_RECORD_ROUTE], 2);
  assert_string_equal(hv(&g, IMSEC_SIP_H_CONTACT), "<" UE_CONTACT ">");
  got_free(&g);
  char t180[64], t200[64];
  sent_to_tag(&f, 0, t180, sizeof t180);
  sent_to_tag(&f, 1, t200, sizeof t200);
  assert_string_equal(t180, t200);
  parse(&f, 1, &g);
  assert_int_equal(g.m.status, 200);
  assert_string_equal(hv(&g, IMSEC_SIP_H_CONTENT_TYPE), "application/sdp");
  /* RFC 3264 §6: audio taken (PCMU, the offer's first), video refused. */
  assert_non_null(strstr(f.sent[1], "m=audio 49172 RTP/AVP 0\r\n"));
  assert_non_null(strstr(f.sent[1], "m=video 0 RTP/AVP 96\r\n"));
  got_free(&g);
  int h = only_call(&f);
  imsec_ue_call_info ci = info_of(&f, h);
  assert_true(ci.incoming);
  assert_string_equal(ci.peer, ALICE);
  assert_string_equal(ci.call_id, "in1@x");
  assert_int_equal(ci.final_status, 200);
  assert_int_equal(ci.state, IMSEC_UE_CALL_RINGING); /* until the ACK */
  /* The INVITE again: the 200 again. */
  incoming(&f, "in1@x", "al", "INVITE", 1, "i1");
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 200 OK"));
  alice_in_dialog(&f, "in1@x", t200, "ACK", 1);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(info_of(&f, h).state, IMSEC_UE_CALL_CONFIRMED);
  /* We hang up: BYE along the Record-Route in order, to alice's Contact. */
  assert_int_equal(imsec_ue_call_hangup(f.ue, h, f.now, &f.out), 0);
  take(&f);
  parse(&f, 0, &g);
  assert_int_equal(g.m.method_id, IMSEC_SIP_M_BYE);
  ruri(&g, "sip:alice@10.0.0.5:5061;transport=tls;ob");
  assert_string_equal(routes(&g),
                      "<sip:tokA@" PCSCF ":5061;transport=tls;lr> | "
                      "<sip:scscf." HOME ":5060;transport=tcp;lr>");
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_FROM), t200));
  assert_non_null(strstr(hv(&g, IMSEC_SIP_H_TO), "tag=al"));
  got_free(&g);
  respond_to(&f, f.sent[0], f.sent_len[0], 200, "OK", NULL, NULL, NULL);
  assert_int_equal(info_of(&f, h).end, IMSEC_UE_END_LOCAL_BYE);
  fx_del(&f);
}

static void test_incoming_delay_and_retransmit(void **st) {
  (void)st;
  fx f;
  opts o = {IMSEC_UE_ANSWER_AUTO, 3000, 0};
  fx_new(&f, &o);
  fx_register(&f);
  imsec_time_ms t0 = f.now;
  incoming(&f, "in2@x", "al", "INVITE", 1, "i2");
  assert_int_equal(f.n_send, 1); /* 180 only */
  assert_non_null(strstr(f.sent[0], "SIP/2.0 180 Ringing"));
  assert_int_equal(f.call_timer, t0 + 3000);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_CALL, t0 + 3000, &f.out);
  take(&f);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 200 OK"));
  char ok[8192], tag[64];
  memcpy(ok, f.sent[0], f.sent_len[0] + 1);
  sent_to_tag(&f, 0, tag, sizeof tag);
  /* RFC 3261 §13.3.1.4: T1, 2*T1, 4*T1, ... capped at T2 (500 ms, 4 s). */
  imsec_time_ms at = t0 + 3000, want[] = {500, 1000, 2000, 4000, 4000};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(f.call_timer, at + want[i]);
    at += want[i];
    imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_CALL, at, &f.out);
    take(&f);
    assert_int_equal(f.n_send, 1);
    assert_string_equal(f.sent[0], ok);
  }
  f.now = at;
  alice_in_dialog(&f, "in2@x", tag, "ACK", 1);
  int h = only_call(&f);
  assert_int_equal(info_of(&f, h).state, IMSEC_UE_CALL_CONFIRMED);
  assert_int_equal(f.call_timer, 0); /* nothing more to send */
  /* alice hangs up */
  alice_in_dialog(&f, "in2@x", tag, "BYE", 2);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 200 OK"));
  assert_int_equal(info_of(&f, h).end, IMSEC_UE_END_REMOTE_BYE);
  fx_del(&f);
}

static void test_incoming_no_ack_bye(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  imsec_time_ms t0 = f.now;
  incoming(&f, "in3@x", "al", "INVITE", 1, "i3");
  assert_int_equal(f.n_send, 2);
  int h = only_call(&f);
  int sent_again = 0;
  while (info_of(&f, h).state != IMSEC_UE_CALL_ENDING) {
    assert_true(f.call_timer > 0 && f.call_timer <= t0 + 64 * 500);
    imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_CALL, f.call_timer, &f.out);
    take(&f);
    assert_int_equal(f.n_send, 1);
    if (strstr(f.sent[0], "SIP/2.0 200 OK"))
      sent_again++;
  }
  /* 64*T1 without an ACK: BYE (§13.3.1.4). */
  assert_non_null(strstr(f.sent[0], "BYE sip:alice@10.0.0.5"));
  assert_true(sent_again >= 8);
  respond_to(&f, f.sent[0], f.sent_len[0], 200, "OK", NULL, NULL, NULL);
  imsec_ue_call_info ci = info_of(&f, h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ci.end, IMSEC_UE_END_TIMEOUT);
  fx_del(&f);
}

static void test_incoming_busy(void **st) {
  (void)st;
  fx f;
  opts o = {IMSEC_UE_ANSWER_BUSY, 0, 0};
  fx_new(&f, &o);
  fx_register(&f);
  incoming(&f, "in4@x", "al", "INVITE", 1, "i4");
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 486 Busy Here"));
  int h = only_call(&f);
  imsec_ue_call_info ci = info_of(&f, h);
  assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ci.end, IMSEC_UE_END_REJECTED);
  assert_int_equal(ci.final_status, 486);
  fx_del(&f);
}

static void test_incoming_ring_cancel(void **st) {
  (void)st;
  fx f;
  opts o = {IMSEC_UE_ANSWER_RING, 0, 0};
  fx_new(&f, &o);
  fx_register(&f);
  incoming(&f, "in5@x", "al", "INVITE", 1, "i5");
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 180 Ringing"));
  assert_int_equal(f.call_timer, 0); /* rings for ever */
  int h = only_call(&f);
  /* CANCEL (§9.2): 200 to it, 487 to the INVITE. */
  incoming(&f, "in5@x", "al", "CANCEL", 1, "i5");
  assert_int_equal(f.n_send, 2);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 200 OK"));
  assert_non_null(strstr(f.sent[0], "CSeq: 1 CANCEL"));
  assert_non_null(strstr(f.sent[1], "SIP/2.0 487"));
  assert_non_null(strstr(f.sent[1], "CSeq: 1 INVITE"));
  imsec_ue_call_info ci = info_of(&f, h);
  assert_int_equal(ci.end, IMSEC_UE_END_CANCELLED);
  assert_int_equal(ci.final_status, 487);
  /* Ringing, then we decline. */
  incoming(&f, "in6@x", "al", "INVITE", 1, "i6");
  int hs[4];
  assert_int_equal(imsec_ue_calls(f.ue, hs, 4), 2);
  assert_int_equal(hs[1], h); /* live first, then ended */
  assert_int_equal(imsec_ue_call_hangup(f.ue, hs[0], f.now, &f.out), 0);
  take(&f);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 603"));
  fx_del(&f);
}

static void test_unknown_dialog_and_limits(void **st) {
  (void)st;
  fx f;
  opts o = {IMSEC_UE_ANSWER_RING, 0, 0};
  fx_new(&f, &o);
  fx_register(&f);
  alice_in_dialog(&f, "nope@x", "zz", "BYE", 2);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 481"));
  alice_in_dialog(&f, "nope@x", "zz", "ACK", 2);
  assert_int_equal(f.n_send, 0); /* a stray ACK is dropped */
  incoming(&f, "nope@x", "al", "CANCEL", 1, "c0");
  assert_non_null(strstr(f.sent[0], "SIP/2.0 481"));
  /* RFC 3261 §8.2.2.3: an extension required that the UE lacks: 420. */
  feed(&f, "INVITE " UE_CONTACT " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS " PCSCF ":5061;branch=z9hG4bKrq\r\n"
           "Max-Forwards: 70\r\nFrom: <" ALICE ">;tag=r\r\n"
           "To: <" IMPU ">\r\nCall-ID: req@x\r\nCSeq: 1 INVITE\r\n"
           "Contact: <sip:alice@10.0.0.5>\r\nRequire: 100rel\r\n"
           "Content-Length: 0\r\n\r\n");
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 420 Bad Extension"));
  assert_non_null(strstr(f.sent[0], "Unsupported: 100rel"));
  /* A response to nothing of ours: dropped. */
  feed(&f, "SIP/2.0 200 OK\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKx\r\n"
           "From: <" IMPU ">;tag=q\r\nTo: <" BOB ">;tag=b\r\n"
           "Call-ID: stray\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(f.n_send, 0);
  /* IMSEC_UE_MAX_CALLS at a time: the next INVITE is 486. */
  for (int i = 0; i < IMSEC_UE_MAX_CALLS; i++) {
    char cid[32], br[32];
    snprintf(cid, sizeof cid, "lim%d@x", i);
    snprintf(br, sizeof br, "l%d", i);
    incoming(&f, cid, "al", "INVITE", 1, br);
    assert_non_null(strstr(f.sent[0], "SIP/2.0 180"));
  }
  incoming(&f, "over@x", "al", "INVITE", 1, "over");
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "SIP/2.0 486"));
  assert_int_equal(imsec_ue_call(f.ue, BOB, f.now, &f.out), IMSEC_ERR_LIMIT);
  take(&f);
  /* Bad input to the API. */
  assert_int_equal(imsec_ue_call(f.ue, "mailto:x@y", f.now, &f.out),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_ue_call_hangup(f.ue, 999, f.now, &f.out),
                   IMSEC_ERR_NOTFOUND);
  imsec_ue_call_info ci;
  assert_int_equal(imsec_ue_call_get(f.ue, 999, &ci), IMSEC_ERR_NOTFOUND);
  take(&f);
  fx_del(&f);
}

static void test_not_registered_and_flow_lost(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  assert_int_equal(imsec_ue_call(f.ue, BOB, f.now, &f.out), IMSEC_ERR_STATE);
  take(&f);
  fx_register(&f);
  uac u;
  call_answered(&f, &u);
  incoming(&f, "in7@x", "al", "INVITE", 1, "i7");
  int hs[4];
  assert_int_equal(imsec_ue_calls(f.ue, hs, 4), 2);
  /* RFC 5626 §5: the flow went, and the dialogs on it with it. */
  imsec_ue_on_flow_down(f.ue, FLOW, 0, IMSEC_ERR_CLOSED, f.now, &f.out);
  take(&f);
  for (int i = 0; i < 2; i++) {
    imsec_ue_call_info ci = info_of(&f, hs[i]);
    assert_int_equal(ci.state, IMSEC_UE_CALL_ENDED);
    assert_int_equal(ci.end, IMSEC_UE_END_FLOW_LOST);
  }
  assert_int_equal(imsec_ue_call_hangup(f.ue, u.h, f.now, &f.out),
                   IMSEC_ERR_STATE);
  take(&f);
  fx_del(&f);
}

/* Over DTLS (RFC 3261 §17 on a datagram flow): the INVITE goes again on
 * Timer A until a response comes; a 486 sent again is ACKed again; an
 * incoming INVITE sent again gets the 2xx again. */
static void test_dtls_invite(void **st) {
  (void)st;
  fx f;
  opts o = {IMSEC_UE_ANSWER_AUTO, 0, 1};
  fx_new(&f, &o);
  fx_register(&f);
  uac u;
  start_call(&f, &u);
  assert_non_null(strstr(u.inv, "Via: SIP/2.0/DTLS-UDP "));
  assert_true(f.dgram_timer > 0 && f.dgram_timer <= f.now + 500);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_DGRAM, f.dgram_timer, &f.out);
  take(&f);
  assert_int_equal(f.n_send, 1);
  assert_string_equal(f.sent[0], u.inv); /* Timer A */
  respond_to(&f, u.inv, u.inv_len, 486, "Busy Here", "bobtag", NULL, NULL);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent[0], "ACK " BOB));
  char ack[8192];
  memcpy(ack, f.sent[0], f.sent_len[0] + 1);
  respond_to(&f, u.inv, u.inv_len, 486, "Busy Here", "bobtag", NULL, NULL);
  assert_int_equal(f.n_send, 1);
  assert_string_equal(f.sent[0], ack);
  assert_int_equal(info_of(&f, u.h).final_status, 486);

  incoming(&f, "dt1@x", "al", "INVITE", 1, "dt1");
  assert_int_equal(f.n_send, 2);
  char ok[8192];
  memcpy(ok, f.sent[1], f.sent_len[1] + 1);
  incoming(&f, "dt1@x", "al", "INVITE", 1, "dt1");
  assert_int_equal(f.n_send, 1);
  assert_string_equal(f.sent[0], ok);
  fx_del(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_outgoing_answered_local_bye),
      cmocka_unit_test(test_long_record_route),
      cmocka_unit_test(test_outgoing_busy_ack),
      cmocka_unit_test(test_cancel_waits_for_provisional),
      cmocka_unit_test(test_cancel_after_ringing_and_timeout),
      cmocka_unit_test(test_answer_crosses_cancel),
      cmocka_unit_test(test_forked_second_2xx),
      cmocka_unit_test(test_remote_bye_and_bye_timeout),
      cmocka_unit_test(test_reinvite_both_ways),
      cmocka_unit_test(test_incoming_auto_answer),
      cmocka_unit_test(test_incoming_delay_and_retransmit),
      cmocka_unit_test(test_incoming_no_ack_bye),
      cmocka_unit_test(test_incoming_busy),
      cmocka_unit_test(test_incoming_ring_cancel),
      cmocka_unit_test(test_unknown_dialog_and_limits),
      cmocka_unit_test(test_not_registered_and_flow_lost),
      cmocka_unit_test(test_dtls_invite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
