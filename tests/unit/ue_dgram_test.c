/* The UE over DTLS (lib/ue/dgram.c around the state table): the CONNECT
 * names the host's DTLS context, the REGISTER says DTLS-UDP
 * (draft-jennings-sip-dtls), a REGISTER whose datagram is lost goes again
 * on Timer E until answered and a retransmitted answer is absorbed
 * (RFC 3261 §17.1.2), a retransmitted MESSAGE from the network is answered
 * again without reaching the inbox twice (§17.2.2), the STUN keep-alive
 * (RFC 5626 §4.4.2) runs once registered and fails the flow when nobody
 * answers. The network side (AKA vectors, TS 35.208 set 1 keys) is played
 * as in ue_fsm_test.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/aka.h"
#include "imsec/crypto_ossl.h"
#include "imsec/digest.h"
#include "imsec/sip.h"
#include "imsec/ue.h"
#include "lib/ue/ue_int.h"
#include "test_util.h"

#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI "001010000000001@" HOME
#define IMPU "sip:001010000000001@" HOME
#define PCSCF "pcscf." HOME
#define K_HEX "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC_HEX "cd63cb71954a9f4e48a5994e37a02baf"
#define FLOW 7

typedef struct fx {
  imsec_crypto *c;
  imsec_ue *ue;
  imsec_out out;
  imsec_milenage *hss;
  imsec_sqn_he he;
  imsec_sqn_cfg sc;
  imsec_trust_cert cert;
  imsec_time_ms now;
  char last_req[8192]; /* the last request the UE sent */
} fx;

static const char *const impus[] = {IMPU};

static void fx_new(fx *f, const char *pcscf) {
  memset(f, 0, sizeof(*f));
  assert_int_equal(imsec_crypto_ossl_new(&f->c), 0);
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  f->sc = imsec_sqn_cfg_default();
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = IMPI;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = TD;
  t_hex(K_HEX, cfg.k, 16);
  t_hex(OPC_HEX, cfg.opc, 16);
  cfg.has_opc = 1;
  assert_int_equal(imsec_addr_parse(imsec_str_c(pcscf), &cfg.pcscf), 0);
  cfg.pcscf_name = PCSCF;
  cfg.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  assert_int_equal(imsec_ue_new(&f->ue, &cfg, f->c), 0);
  imsec_wipe(&cfg, sizeof(cfg));
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
  imsec_out_free(&f->out);
  imsec_crypto_del(f->c);
}

/* The SENDs on the flow now queued: how many, and the last one. */
static size_t sends(fx *f, const char **last, size_t *len) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_SEND) {
      n++;
      if (last)
        *last = (const char *)f->out.acts[i].data;
      if (len)
        *len = f->out.acts[i].len;
    }
  return n;
}

static size_t count(fx *f, imsec_act_kind k) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n; i++)
    n += f->out.acts[i].kind == k;
  return n;
}

/* Keep the last request the UE sent (to answer it) and clear. */
static void take(fx *f) {
  for (size_t i = 0; i < f->out.n; i++) {
    const imsec_act *a = &f->out.acts[i];
    if (a->kind == IMSEC_ACT_SEND && a->len < sizeof f->last_req &&
        strncmp((const char *)a->data, "SIP/2.0 ", 8) != 0) {
      memcpy(f->last_req, a->data, a->len);
      f->last_req[a->len] = 0;
    }
  }
  assert_int_equal(imsec_out_err(&f->out), 0);
  imsec_out_clear(&f->out);
}

static void feed(fx *f, const char *msg) {
  imsec_ue_on_message(f->ue, FLOW, (const uint8_t *)msg, strlen(msg), f->now,
                      &f->out);
}

static void fire(fx *f, imsec_time_ms at) {
  f->now = at;
  imsec_ue_on_timer(f->ue, IMSEC_UE_TIMER_DGRAM, at, &f->out);
}

/* The line of `name` in the last request (without CRLF). */
static void line_of(const fx *f, const char *name, char *out, size_t cap) {
  const char *p = strstr(f->last_req, name);
  assert_non_null(p);
  const char *e = strstr(p, "\r\n");
  size_t n = (size_t)(e - p);
  assert_true(n < cap);
  memcpy(out, p, n);
  out[n] = 0;
}

/* A final response to the last REGISTER, its Via echoed (so the client
 * transaction matches it), with `extra` header lines. */
static void reg_answer(fx *f, const char *status, const char *extra) {
  char via[512], *m = malloc(8192);
  assert_non_null(m);
  line_of(f, "Via: ", via, sizeof via);
  snprintf(m, 8192,
           "SIP/2.0 %s\r\n%s\r\n"
           "From: <" IMPU ">;tag=%s\r\nTo: <" IMPU ">;tag=srv\r\n"
           "Call-ID: %s\r\nCSeq: %u REGISTER\r\n%sContent-Length: 0\r\n\r\n",
           status, via, f->ue->from_tag, f->ue->call_id, (unsigned)f->ue->cseq,
           extra ? extra : "");
  feed(f, m);
  free(m);
}

static char *challenge_text(fx *f) {
  uint8_t sqn[6], amf[2] = {0x80, 0x00};
  assert_int_equal(imsec_sqn_he_next(&f->he, &f->sc, sqn), 0);
  imsec_aka_vector v;
  assert_int_equal(imsec_aka_vector_make(f->hss, sqn, amf, &v), 0);
  char chal[1024];
  static char extra[1400];
  assert_true(imsec_digest_aka_challenge_build(
                  &v, IMSEC_DIGEST_AKAV1_MD5, IMSEC_STR_LIT(HOME),
                  IMSEC_STR_LIT("auth"), IMSEC_STR_LIT("op4que"), 0, chal,
                  sizeof(chal)) > 0);
  imsec_aka_vector_wipe(&v);
  snprintf(extra, sizeof(extra),
           "WWW-Authenticate: %s\r\nSecurity-Server: tls;q=0.1\r\n", chal);
  return extra;
}

static imsec_flow_info dtls_info(const imsec_trust_cert *cert) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_DTLS;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("dtls:127.0.0.1:40000"), &info.local), 0);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("dtls:127.0.0.1:5064"), &info.peer), 0);
  info.peer_cert = cert;
  info.tls_version = "DTLSv1.2";
  return info;
}

/* Start, the flow up: the first REGISTER is out. */
static void up(fx *f) {
  assert_int_equal(imsec_ue_start(f->ue, f->now, &f->out), 0);
  take(f);
  imsec_flow_info info = dtls_info(&f->cert);
  assert_int_equal(imsec_ue_on_flow_up(f->ue, FLOW, f->ue->connect_tag, &info,
                                       f->now, &f->out),
                   0);
}

static const char ok_extra[] =
    "Contact: <sip:ue@127.0.0.1:40000;transport=dtls-udp;ob>;expires=600\r\n"
    "Service-Route: <sip:orig@scscf." HOME ":5060;transport=tcp;lr>\r\n"
    "P-Associated-URI: <" IMPU ">\r\n";

/* Through the AKA run to REGISTERED. */
static void registered(fx *f) {
  up(f);
  take(f);
  reg_answer(f, "401 Unauthorized", challenge_text(f));
  take(f);
  imsec_svc_reply r;
  memset(&r, 0, sizeof(r));
  r.kind = IMSEC_SVC_UE_SQN;
  r.id = f->ue->persist_id;
  imsec_ue_on_reply(f->ue, &r, f->now, &f->out);
  take(f);
  reg_answer(f, "200 OK", ok_extra);
  take(f);
  imsec_ue_status s;
  imsec_ue_get_status(f->ue, &s);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
}

static void connect_names_dtls_context(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "dtls:127.0.0.1:5064");
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  const imsec_act *c = NULL;
  for (size_t i = 0; i < f.out.n; i++)
    if (f.out.acts[i].kind == IMSEC_ACT_CONNECT)
      c = &f.out.acts[i];
  assert_non_null(c);
  assert_int_equal(c->addr.tp, IMSEC_TP_DTLS);
  assert_non_null(c->tls);
  assert_string_equal(c->tls->profile, IMSEC_UE_DTLS_PROFILE);
  assert_int_equal(c->tls->dtls, 1);
  assert_int_equal(c->tls->verify, IMSEC_TLS_VERIFY_DEFER);
  assert_string_equal(c->server_name, PCSCF);
  fx_del(&f);

  /* A tcp: or udp: P-CSCF is still refused. */
  imsec_ue *ue = NULL;
  imsec_crypto *cr = NULL;
  assert_int_equal(imsec_crypto_ossl_new(&cr), 0);
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.impi = IMPI;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = TD;
  cfg.has_opc = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("udp:127.0.0.1:5060"), &cfg.pcscf), 0);
  assert_int_equal(imsec_ue_new(&ue, &cfg, cr), IMSEC_ERR_CONFIG);
  imsec_crypto_del(cr);
}

/* The trust decision runs on a DTLS flow as on TLS: a certificate that
 * fails it gets no REGISTER. */
static void trust_decision_on_dtls(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "dtls:127.0.0.1:5064");
  f.cert.chain = IMSEC_CHAIN_INVALID;
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  imsec_flow_info info = dtls_info(&f.cert);
  assert_int_equal(
      imsec_ue_on_flow_up(f.ue, FLOW, f.ue->connect_tag, &info, f.now, &f.out),
      IMSEC_ERR_TRUST);
  assert_int_equal(sends(&f, NULL, NULL), 0);
  fx_del(&f);
}

/* RFC 3261 §17.1.2.2: the REGISTER goes again at T1, 2T1, 4T1... (capped
 * at T2) until a response; then no more; the response sent again by the
 * P-CSCF is absorbed (Completed, Timer K). */
static void register_retransmitted(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "dtls:127.0.0.1:5064");
  up(&f);
  const char *reg = NULL;
  size_t len = 0;
  assert_int_equal(sends(&f, &reg, &len), 1);
  assert_non_null(strstr(reg, "\r\nVia: SIP/2.0/DTLS-UDP 127.0.0.1:40000;"));
  assert_non_null(strstr(reg, ";transport=dtls-udp;ob>"));
  char first[8192];
  memcpy(first, reg, len);
  first[len] = 0;
  take(&f);
  imsec_time_ms t0 = f.now;
  /* nothing before T1 */
  fire(&f, t0 + 499);
  assert_int_equal(sends(&f, NULL, NULL), 0);
  take(&f);
  static const imsec_time_ms at[] = {500, 1500, 3500, 7500, 11500};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    fire(&f, t0 + at[i]);
    assert_int_equal(sends(&f, &reg, &len), 1);
    assert_int_equal(len, strlen(first));
    assert_memory_equal(reg, first, len); /* the same request, byte for byte */
    take(&f);
  }
  assert_int_equal(ue_dgram_count(f.ue), 1);
  /* The 401 stops them; the next REGISTER (with the RES) has its own
   * transaction, retransmitted on its own Timer E. */
  reg_answer(&f, "401 Unauthorized", challenge_text(&f));
  take(&f);
  char second[8192];
  snprintf(second, sizeof second, "%s", f.last_req);
  assert_true(strcmp(second, first) != 0);
  fire(&f, t0 + 11500 + 500);
  assert_int_equal(sends(&f, &reg, &len), 1);
  assert_int_equal(len, strlen(second));
  assert_memory_equal(reg, second, len);
  take(&f);
  fire(&f, t0 + 15500); /* the first one's next E: only the second goes */
  assert_int_equal(sends(&f, &reg, &len), 1);
  assert_memory_equal(reg, second, len);
  take(&f);
  assert_int_equal(ue_dgram_count(f.ue), 2); /* Completed (K) + the new */
  fx_del(&f);
}

static void register_then_duplicate_401_absorbed(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "dtls:127.0.0.1:5064");
  up(&f);
  take(&f);
  char *extra = challenge_text(&f);
  char copy[1400];
  snprintf(copy, sizeof copy, "%s", extra);
  char req1[8192];
  snprintf(req1, sizeof req1, "%s", f.last_req);
  reg_answer(&f, "401 Unauthorized", copy);
  assert_int_equal(count(&f, IMSEC_ACT_PERSIST), 1);
  take(&f);
  unsigned challenges = f.ue->challenges;
  /* The same 401 again (the P-CSCF answered our retransmission): the
   * transaction absorbs it; the UE does not run AKA twice. */
  char req2[8192];
  snprintf(req2, sizeof req2, "%s", f.last_req);
  snprintf(f.last_req, sizeof f.last_req, "%s", req1);
  reg_answer(&f, "401 Unauthorized", copy);
  assert_int_equal(count(&f, IMSEC_ACT_PERSIST), 0);
  assert_int_equal(sends(&f, NULL, NULL), 0);
  assert_int_equal(f.ue->challenges, challenges);
  snprintf(f.last_req, sizeof f.last_req, "%s", req2);
  take(&f);
  fx_del(&f);
}

#define MSG_IN                                                                 \
  "MESSAGE sip:ue@127.0.0.1:40000;transport=dtls-udp SIP/2.0\r\n"              \
  "Via: SIP/2.0/DTLS-UDP 127.0.0.1:5064;branch=z9hG4bKpcdup1\r\n"              \
  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs1\r\n"                       \
  "Max-Forwards: 69\r\n"                                                       \
  "From: <sip:bob@" HOME ">;tag=q\r\nTo: <" IMPU ">\r\n"                       \
  "Call-ID: in1\r\nCSeq: 1 MESSAGE\r\n"                                        \
  "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"

/* RFC 3261 §17.2.2: a MESSAGE sent again by the P-CSCF (our 200 was lost)
 * gets the same 200 again and is not delivered twice. */
static void message_duplicate_absorbed(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "dtls:127.0.0.1:5064");
  registered(&f);
  feed(&f, MSG_IN);
  const char *ok = NULL;
  size_t len = 0;
  assert_int_equal(sends(&f, &ok, &len), 1);
  assert_true(!strncmp(ok, "SIP/2.0 200 ", 12));
  char first[4096];
  memcpy(first, ok, len);
  take(&f);
  f.now += 700;
  feed(&f, MSG_IN);
  assert_int_equal(sends(&f, &ok, &len), 1);
  assert_memory_equal(ok, first, len);
  take(&f);
  imsec_ue_message m;
  assert_int_equal(imsec_ue_inbox_pop(f.ue, &m), 1);
  imsec_ue_message_free(&m);
  assert_int_equal(imsec_ue_inbox_pop(f.ue, &m), 0);
  /* Timer J (64*T1) forgets it. */
  fire(&f, f.now + 64 * 500);
  take(&f);
  assert_int_equal(ue_dgram_count(f.ue), 0);
  fx_del(&f);
}

/* An outgoing MESSAGE is retransmitted too, until its 200. */
static void message_out_retransmitted(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "dtls:127.0.0.1:5064");
  registered(&f);
  int h = imsec_ue_send_message(f.ue, "sip:bob@" HOME, NULL,
                                (const uint8_t *)"yo", 2, f.now, &f.out);
  assert_true(h > 0);
  const char *m = NULL;
  assert_int_equal(sends(&f, &m, NULL), 1);
  assert_non_null(strstr(m, "MESSAGE sip:bob@"));
  take(&f);
  imsec_time_ms t0 = f.now;
  fire(&f, t0 + 500);
  assert_int_equal(sends(&f, &m, NULL), 1);
  assert_non_null(strstr(m, "MESSAGE sip:bob@"));
  take(&f);
  fx_del(&f);
}

/* A MESSAGE that does not fit one DTLS record is refused before it
 * leaves (what the P-CSCF would answer 513); one that fits goes. */
static void message_too_large(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "dtls:127.0.0.1:5064");
  registered(&f);
  size_t big = IMSEC_UE_DTLS_MAX - 200;
  uint8_t *body = malloc(big);
  assert_non_null(body);
  memset(body, 'x', big);
  assert_int_equal(imsec_ue_send_message(f.ue, "sip:bob@" HOME, NULL, body, big,
                                         f.now, &f.out),
                   IMSEC_ERR_LIMIT);
  assert_int_equal(sends(&f, NULL, NULL), 0);
  take(&f);
  assert_true(imsec_ue_send_message(f.ue, "sip:bob@" HOME, NULL, body,
                                    big - 1000, f.now, &f.out) > 0);
  assert_int_equal(sends(&f, NULL, NULL), 1);
  take(&f);
  free(body);
  fx_del(&f);
}

static int stun_req(const char *d, size_t len) {
  const uint8_t *b = (const uint8_t *)d;
  return len == 20 && b[0] == 0 && b[1] == 1 && b[4] == 0x21 && b[5] == 0x12 &&
         b[6] == 0xA4 && b[7] == 0x42;
}

/* RFC 5626 §4.4.2: once registered a Binding request within 80-100% of
 * 25 s; answered, the next one is scheduled; unanswered for 10 s, the flow
 * is failed and the UE connects again. */
static void stun_keepalive(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "dtls:127.0.0.1:5064");
  registered(&f);
  imsec_time_ms t0 = f.now;
  fire(&f, t0 + 19999);
  assert_int_equal(sends(&f, NULL, NULL), 0);
  take(&f);
  fire(&f, t0 + 25000);
  const char *d = NULL;
  size_t len = 0;
  assert_int_equal(sends(&f, &d, &len), 1);
  assert_true(stun_req(d, len));
  uint8_t resp[32] = {0x01, 0x01, 0x00, 0x0c};
  memcpy(resp + 4, d, 0);
  memcpy(resp + 4, (const uint8_t *)d + 4, 16);
  /* XOR-MAPPED-ADDRESS (content not checked by the UE) */
  uint8_t attr[12] = {0x00, 0x20, 0x00, 0x08, 0x00, 0x01};
  memcpy(resp + 20, attr, 12);
  take(&f);
  f.now += 30;
  imsec_ue_on_message(f.ue, FLOW, resp, sizeof resp, f.now, &f.out);
  assert_int_equal(sends(&f, NULL, NULL), 0);
  take(&f);
  /* the next one; this time nobody answers */
  imsec_time_ms t1 = f.now;
  fire(&f, t1 + 25000);
  assert_int_equal(sends(&f, &d, &len), 1);
  assert_true(stun_req(d, len));
  take(&f);
  imsec_time_ms t2 = f.now;
  fire(&f, t2 + 2000); /* sent again every 2 s */
  assert_int_equal(sends(&f, &d, &len), 1);
  assert_true(stun_req(d, len));
  take(&f);
  fire(&f, t2 + 10000);
  assert_int_equal(count(&f, IMSEC_ACT_CLOSE), 1);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.flow, 0);
  assert_true(strstr(s.error, "lost") != NULL);
  /* reconnecting (at once, the registration was live) */
  assert_int_equal(count(&f, IMSEC_ACT_CONNECT), 1);
  take(&f);
  fx_del(&f);
}

/* Over TLS nothing of this runs. */
static void tls_untouched(void **st) {
  (void)st;
  fx f;
  fx_new(&f, "tls:127.0.0.1:5061");
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  imsec_flow_info info = dtls_info(&f.cert);
  info.tp = IMSEC_TP_TLS;
  assert_int_equal(
      imsec_ue_on_flow_up(f.ue, FLOW, f.ue->connect_tag, &info, f.now, &f.out),
      0);
  const char *reg = NULL;
  assert_int_equal(sends(&f, &reg, NULL), 1);
  assert_non_null(strstr(reg, "Via: SIP/2.0/TLS "));
  assert_non_null(strstr(reg, ";transport=tls;ob"));
  take(&f);
  assert_int_equal(ue_dgram_count(f.ue), 0);
  fire(&f, f.now + 500);
  assert_int_equal(sends(&f, NULL, NULL), 0);
  take(&f);
  fx_del(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(connect_names_dtls_context),
      cmocka_unit_test(trust_decision_on_dtls),
      cmocka_unit_test(register_retransmitted),
      cmocka_unit_test(register_then_duplicate_401_absorbed),
      cmocka_unit_test(message_duplicate_absorbed),
      cmocka_unit_test(message_out_retransmitted),
      cmocka_unit_test(message_too_large),
      cmocka_unit_test(stun_keepalive),
      cmocka_unit_test(tls_untouched),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
