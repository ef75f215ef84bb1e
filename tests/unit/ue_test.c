/* The UE element driven by crafted messages: the REGISTER it sends, the
 * trust decision (every certificate reason at the TLS handshake, before
 * any SIP byte; the realm at the 401: nothing more is sent, the flow is
 * closed), 503 and Retry-After, AKA with MAC and sync failures, AKAv1/AKAv2
 * responses checked with lib/digest's verification, the Security-Verify
 * echo, registration, re-registration, de-registration, MESSAGE in and
 * out, OPTIONS, flow loss and reconnection, the SQN made durable (PERSIST)
 * before the RES leaves. The network side is played
 * here with lib/aka vectors (TS 35.208 set 1 keys) and lib/digest's
 * challenge builder. */
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
#define IMPU2 "tel:+15551234567"
#define PCSCF "pcscf." HOME
#define K_HEX "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC_HEX "cd63cb71954a9f4e48a5994e37a02baf"
#define FLOW 7
#define SECSRV "tls;q=0.1"
#define S_LIT(x) IMSEC_STR_LIT(x)

typedef struct fx {
  imsec_crypto *c;
  imsec_ue *ue;
  imsec_out out;
  imsec_milenage *hss;
  imsec_sqn_he he;
  imsec_sqn_cfg sc;
  imsec_aka_vector v;
  imsec_trust_cert cert;
  imsec_time_ms now;
  uint64_t flow;
  uint64_t tag;
  /* what the last event produced */
  int n_send, n_close, n_connect, n_keep, n_persist;
  int n_acts;            /* actions of the last event, all kinds */
  int persist_at;        /* index of the last PERSIST among them, -1 none */
  int send_at;           /* index of the last SEND, -1 none */
  imsec_svc_req persist; /* the last PERSIST's request */
  char sent[16384];      /* the last SEND */
  size_t sent_len;
  uint64_t sent_flow, closed_flow, connect_tag;
  imsec_time_ms timer_at[8];
  int timer_set[8];
  char server_name[256];
  const char *want_name;
} fx;

static const char *const impus[] = {IMPU, IMPU2};

static void take(fx *f) {
  f->n_send = f->n_close = f->n_connect = f->n_keep = f->n_persist = 0;
  f->persist_at = f->send_at = -1;
  f->n_acts = (int)f->out.n;
  memset(f->timer_set, 0, sizeof(f->timer_set));
  for (size_t i = 0; i < f->out.n; i++) {
    imsec_act *a = &f->out.acts[i];
    switch (a->kind) {
    case IMSEC_ACT_SEND:
      f->n_send++;
      f->send_at = (int)i;
      assert_true(a->len < sizeof(f->sent));
      memcpy(f->sent, a->data, a->len);
      f->sent[a->len] = 0;
      f->sent_len = a->len;
      f->sent_flow = a->flow;
      break;
    case IMSEC_ACT_CLOSE:
      f->n_close++;
      f->closed_flow = a->flow;
      break;
    case IMSEC_ACT_CONNECT:
      f->n_connect++;
      f->connect_tag = a->tag;
      strcpy(f->server_name, a->server_name);
      break;
    case IMSEC_ACT_KEEP:
      f->n_keep++;
      break;
    case IMSEC_ACT_REQUEST:
    case IMSEC_ACT_PSK:
      break;
    case IMSEC_ACT_PERSIST:
      f->n_persist++;
      f->persist_at = (int)i;
      assert_non_null(a->svc);
      f->persist = *a->svc;
      break;
    case IMSEC_ACT_TIMER:
      if (a->timer < 8) {
        f->timer_set[a->timer] = 1;
        f->timer_at[a->timer] = a->at;
      }
      break;
    case IMSEC_ACT_LOG:
      break;
    }
  }
  assert_int_equal(imsec_out_err(&f->out), 0);
  imsec_out_clear(&f->out);
}

static void home_cert(imsec_trust_cert *c, const char *name,
                      imsec_trust_issuer issuer) {
  memset(c, 0, sizeof(*c));
  c->chain = IMSEC_CHAIN_OK;
  c->has_san = 1;
  c->n_dns = 1;
  strcpy(c->dns[0], name);
  c->issuer = issuer;
  if (issuer == IMSEC_ISSUER_PARTNER)
    strcpy(c->partner, "op-mcc001-mnc002");
}

typedef struct opts {
  const char *pcscf_name;
  const uint8_t *sqn_ms; /* UE's stored SQN_MS, NULL: zero */
  imsec_trust_policy policy;
} opts;

static void fx_new(fx *f, const opts *o) {
  memset(f, 0, sizeof(*f));
  assert_int_equal(imsec_crypto_ossl_new(&f->c), 0);
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  f->sc = imsec_sqn_cfg_default();
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = IMPI;
  cfg.impus = impus;
  cfg.n_impus = 2;
  cfg.home_domain = HOME;
  cfg.trust_domain = TD;
  t_hex(K_HEX, cfg.k, 16);
  t_hex(OPC_HEX, cfg.opc, 16);
  cfg.has_opc = 1;
  if (o && o->sqn_ms)
    assert_int_equal(imsec_ue_sqn_load(o->sqn_ms, NULL, &cfg.sqn), 0);
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:5061"), &cfg.pcscf),
                   0);
  cfg.pcscf_name = o && o->pcscf_name ? o->pcscf_name : PCSCF;
  f->want_name = cfg.pcscf_name;
  cfg.policy = o ? o->policy : IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  cfg.max_connect_attempts = 3;
  assert_int_equal(imsec_ue_new(&f->ue, &cfg, f->c), 0);
  imsec_wipe(&cfg, sizeof(cfg));

  /* The HSS side: same keys. */
  uint8_t k[16], opc[16];
  t_hex(K_HEX, k, 16);
  t_hex(OPC_HEX, opc, 16);
  assert_int_equal(imsec_milenage_new(&f->hss, f->c), 0);
  assert_int_equal(imsec_milenage_set_opc(f->hss, k, opc), 0);
  home_cert(&f->cert, PCSCF, IMSEC_ISSUER_HOME);
  f->now = 1000000;
  f->flow = FLOW;
}

static void fx_del(fx *f) {
  imsec_ue_del(f->ue);
  imsec_milenage_del(f->hss);
  imsec_aka_vector_wipe(&f->v);
  imsec_out_free(&f->out);
  imsec_crypto_del(f->c);
}

static imsec_ue_state state(fx *f) {
  imsec_ue_status st;
  imsec_ue_get_status(f->ue, &st);
  return st.state;
}

/* start -> CONNECT -> flow up -> the first REGISTER. */
static void fx_up(fx *f) {
  assert_int_equal(imsec_ue_start(f->ue, f->now, &f->out), 0);
  take(f);
  assert_int_equal(f->n_connect, 1);
  assert_string_equal(f->server_name, f->want_name);
  assert_int_equal(state(f), IMSEC_UE_CONNECTING);
  f->tag = f->connect_tag;
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:40000"), &info.local),
                   0);
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:5061"), &info.peer),
                   0);
  info.peer_cert = &f->cert;
  info.tls_version = "TLSv1.3";
  assert_int_equal(
      imsec_ue_on_flow_up(f->ue, f->flow, f->tag, &info, f->now, &f->out), 0);
  take(f);
  assert_int_equal(f->n_send, 1);
  assert_int_equal(f->sent_flow, f->flow);
}

static void parse_sent(fx *f, imsec_sip_msg *m, char *copy) {
  memcpy(copy, f->sent, f->sent_len);
  imsec_sip_msg_init(m, NULL);
  assert_int_equal(imsec_sip_parse(m, copy, f->sent_len, 1), 0);
  assert_int_equal(imsec_sip_check(m), 0);
}

static imsec_str hval(imsec_sip_msg *m, imsec_sip_hid id) {
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, id);
  return h ? h->value : IMSEC_STR_NULL;
}

static int has(imsec_str s, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= s.len; i++)
    if (memcmp(s.p + i, needle, n) == 0)
      return 1;
  return 0;
}

static void feed(fx *f, const char *msg, size_t len) {
  imsec_ue_on_message(f->ue, f->flow, (const uint8_t *)msg, len, f->now,
                      &f->out);
  take(f);
}

/* Answer the last REGISTER with `code`, extra header lines `extra`
 * ("Name: value\r\n..."). */
static void answer(fx *f, unsigned code, const char *reason,
                   const char *extra) {
  char copy[16384], buf[16384];
  imsec_sip_msg m;
  parse_sent(f, &m, copy);
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, sizeof(buf));
  imsec_sip_build_response(&b, &m, code, imsec_str_c(reason), S_LIT("srvtag"));
  if (extra)
    imsec_sip_build_raw(&b, imsec_str_c(extra));
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  assert_true(n > 0);
  imsec_sip_msg_free(&m);
  feed(f, buf, (size_t)n);
}

/* A 401 with a fresh vector from the HSS side (`bad_key`: a vector of
 * another subscriber's K, so MAC-A fails at the UE). */
static void challenge(fx *f, imsec_digest_alg alg, const char *realm,
                      int bad_key, const char *secsrv) {
  uint8_t sqn[6], amf[2] = {0x80, 0x00};
  assert_int_equal(imsec_sqn_he_next(&f->he, &f->sc, sqn), 0);
  imsec_milenage *m = f->hss;
  imsec_milenage *other = NULL;
  if (bad_key) {
    uint8_t k[16], opc[16];
    t_hex("000102030405060708090a0b0c0d0e0f", k, 16);
    t_hex(OPC_HEX, opc, 16);
    assert_int_equal(imsec_milenage_new(&other, f->c), 0);
    assert_int_equal(imsec_milenage_set_opc(other, k, opc), 0);
    m = other;
  }
  assert_int_equal(imsec_aka_vector_make(m, sqn, amf, &f->v), 0);
  imsec_milenage_del(other);
  char chal[1024];
  assert_true(imsec_digest_aka_challenge_build(&f->v, alg, imsec_str_c(realm),
                                               S_LIT("auth"), S_LIT("op4que"),
                                               0, chal, sizeof(chal)) > 0);
  char extra[1400];
  strcpy(extra, "WWW-Authenticate: ");
  strcat(extra, chal);
  strcat(extra, "\r\n");
  if (secsrv) {
    strcat(extra, "Security-Server: ");
    strcat(extra, secsrv);
    strcat(extra, "\r\n");
  }
  answer(f, 401, "Unauthorized", extra);
}

/* The Digest credentials of the REGISTER `m` (its one Authorization). */
static void sent_credentials(const imsec_sip_msg *m, imsec_digest_params *p) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  assert_int_equal(imsec_sip_auth_next(m, IMSEC_SIP_H_AUTHORIZATION, &it, &raw),
                   1);
  assert_int_equal(imsec_digest_parse_credentials(raw, p), 0);
}

/* Verify the Authorization of the last REGISTER against the vector, as the
 * S-CSCF does. Returns imsec_digest_aka_verify's code. */
static int verify_sent(fx *f, imsec_digest_alg alg, uint8_t auts[14]) {
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(f, &m, copy);
  imsec_digest_params p;
  sent_credentials(&m, &p);
  assert_true(imsec_str_eq(p.username, S_LIT(IMPI)));
  assert_true(imsec_str_eq(p.opaque, S_LIT("op4que")));
  int rv = imsec_digest_aka_verify(f->c, &p, alg, &f->v, S_LIT("REGISTER"),
                                   (imsec_bytes){NULL, 0}, auts);
  imsec_sip_msg_free(&m);
  return rv;
}

static const char ok_extra[] =
    "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=600;"
    "+sip.instance=\"<urn:uuid:00000000-0000-8000-8000-000000000000>\"\r\n"
    "Path: <sip:tok@" PCSCF ":5060;transport=tcp;lr;ob>\r\n"
    "Service-Route: <sip:orig@scscf." HOME ":5060;transport=tcp;lr>\r\n"
    "P-Associated-URI: <" IMPU ">, <" IMPU2 ">\r\n";

/* The host's answer to the last PERSIST (`status` 0: durable). */
static void persist_reply(fx *f, int status) {
  imsec_svc_reply r;
  memset(&r, 0, sizeof(r));
  r.kind = f->persist.kind;
  r.id = f->persist.id;
  r.status = status;
  imsec_ue_on_reply(f->ue, &r, f->now, &f->out);
  take(f);
}

/* A whole home registration with AKAv1, the SQN made durable in between
 * as a host does. */
static void fx_register(fx *f) {
  fx_up(f);
  challenge(f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f->n_send, 1);
  assert_int_equal(f->n_persist, 1);
  persist_reply(f, 0);
  assert_int_equal(f->n_acts, 0);
  assert_int_equal(verify_sent(f, IMSEC_DIGEST_AKAV1_MD5, NULL), 0);
  assert_int_equal(state(f), IMSEC_UE_CHALLENGED);
  answer(f, 200, "OK", ok_extra);
  assert_int_equal(state(f), IMSEC_UE_REGISTERED);
}

/* ------------------------------------------------------------------ tests */

/* TS 33.102 Annex C, DESIGN.md §2: the accepted SQN is durable before the
 * RES leaves: the PERSIST (IMSEC_SVC_UE_SQN, SQN_MS of the new state)
 * comes before the SEND of the REGISTER that carries the RES, and the UE
 * goes on once the store says so. */
static void test_sqn_persist_before_res(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f.n_persist, 1);
  assert_int_equal(f.n_send, 1);
  assert_true(f.persist_at < f.send_at);
  /* The transaction deadline runs from before the PERSIST, so a store
   * that never answers still ends the attempt. */
  assert_true(f.timer_set[IMSEC_UE_TIMER_TXN]);
  assert_int_equal(f.persist.kind, IMSEC_SVC_UE_SQN);
  assert_true(f.persist.id != 0);
  assert_string_equal(f.persist.key, IMPI);
  uint8_t sqn[6];
  imsec_ue_sqn_save(imsec_ue_sqn(f.ue), NULL, sqn);
  assert_memory_equal(f.persist.sqn_ms, sqn, 6);
  uint8_t want[6];
  imsec_sqn_from_u64(f.he.seq << 5, want);
  assert_memory_equal(f.persist.sqn_ms, want, 6);
  assert_int_equal(state(&f), IMSEC_UE_CHALLENGED);
  assert_false(imsec_ue_done(f.ue));
  /* A reply for another id changes nothing. */
  imsec_svc_reply r;
  memset(&r, 0, sizeof(r));
  r.kind = IMSEC_SVC_UE_SQN;
  r.id = f.persist.id + 100;
  r.status = IMSEC_ERR_IO;
  imsec_ue_on_reply(f.ue, &r, f.now, &f.out);
  take(&f);
  assert_int_equal(f.n_acts, 0);
  assert_int_equal(state(&f), IMSEC_UE_CHALLENGED);
  persist_reply(&f, 0);
  assert_int_equal(f.n_acts, 0);
  assert_int_equal(state(&f), IMSEC_UE_CHALLENGED);
  answer(&f, 200, "OK", ok_extra);
  assert_int_equal(state(&f), IMSEC_UE_REGISTERED);
  assert_true(imsec_ue_done(f.ue));
  /* The status counter that drivers without the service poll still
   * moves. */
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.sqn_updates, 1);
  fx_del(&f);
}

/* The store could not make the SQN durable: the host dropped the SEND
 * queued after the PERSIST, so the RES never left; the UE sends nothing
 * more, closes the flow and the registration fails with a clear reason. */
static void test_sqn_persist_failed(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f.n_persist, 1);
  /* Everything after the PERSIST is what the host holds and, on
   * failure, drops: the REGISTER with the RES is among it. */
  assert_true(f.persist_at < f.send_at);
  persist_reply(&f, IMSEC_ERR_IO);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(f.n_close, 1);
  assert_int_equal(f.closed_flow, FLOW);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_FAILED);
  assert_int_equal(s.flow, 0);
  assert_non_null(strstr(s.error, "cannot save SQN: "));
  assert_true(imsec_ue_done(f.ue));
  /* Nothing more goes out: timers, a late answer. */
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_TXN, f.now + 100000, &f.out);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_RECONNECT, f.now + 100000, &f.out);
  take(&f);
  assert_int_equal(f.n_send + f.n_connect, 0);
  assert_int_equal(state(&f), IMSEC_UE_FAILED);
  /* FAILED may start again. */
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_connect, 1);
  fx_del(&f);
}

/* The element contract carries the new entry points. */
static void test_ops(void **st) {
  (void)st;
  assert_non_null(imsec_ue_ops.on_start);
  assert_non_null(imsec_ue_ops.on_reply);
  assert_non_null(imsec_ue_ops.done);
  fx f;
  fx_new(&f, NULL);
  assert_int_equal(imsec_ue_ops.done(f.ue), 0); /* not started */
  imsec_ue_ops.on_start(f.ue, f.now, &f.out);
  take(&f);
  assert_int_equal(f.n_connect, 1);
  assert_int_equal(imsec_ue_ops.done(f.ue), 0);
  fx_del(&f);
}

static void test_register_contents(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(&f, &m, copy);
  assert_true(m.is_request);
  assert_int_equal(m.method_id, IMSEC_SIP_M_REGISTER);
  assert_true(imsec_str_eq(m.ruri, S_LIT("sip:" HOME)));
  const imsec_sip_via *via;
  assert_int_equal(imsec_sip_get_via(&m, &via), 0);
  assert_true(imsec_str_ieq_c(via->transport, "TLS"));
  assert_true(imsec_str_istarts_with(via->branch, S_LIT("z9hG4bK")));
  assert_true(via->has_rport);
  const imsec_sip_addr *from, *to;
  assert_int_equal(imsec_sip_get_from(&m, &from), 0);
  assert_int_equal(imsec_sip_get_to(&m, &to), 0);
  assert_true(imsec_str_eq(from->uri, S_LIT(IMPU)));
  assert_true(from->tag.len > 0);
  assert_true(imsec_str_eq(to->uri, S_LIT(IMPU)));
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr c;
  assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_CONTACT, &it, &c), 1);
  assert_true(
      imsec_str_eq(c.uri, S_LIT("sip:ue@127.0.0.1:40000;transport=tls;ob")));
  assert_true(c.instance.len > 10);
  assert_true(imsec_str_istarts_with(c.instance, S_LIT("<urn:uuid:")));
  assert_int_equal(c.reg_id, 1);
  assert_int_equal(c.expires, 600);
  assert_string_equal(imsec_ue_contact(f.ue),
                      "sip:ue@127.0.0.1:40000;transport=tls;ob");
  /* Authorization: IMPI, empty nonce and response (TS 24.229 §5.1.1.2). */
  imsec_digest_params p;
  sent_credentials(&m, &p);
  assert_true(imsec_str_eq(p.username, S_LIT(IMPI)));
  assert_true(imsec_str_eq(p.realm, S_LIT(HOME)));
  assert_true(imsec_str_eq(p.uri, S_LIT("sip:" HOME)));
  assert_int_equal(p.nonce.len, 0);
  assert_int_equal(p.response.len, 0);
  assert_true(
      imsec_str_eq(hval(&m, IMSEC_SIP_H_SECURITY_CLIENT), S_LIT("tls")));
  assert_null(imsec_sip_hdr_first(&m, IMSEC_SIP_H_SECURITY_VERIFY));
  assert_true(has(hval(&m, IMSEC_SIP_H_REQUIRE), "sec-agree"));
  assert_true(has(hval(&m, IMSEC_SIP_H_PROXY_REQUIRE), "sec-agree"));
  assert_true(has(hval(&m, IMSEC_SIP_H_SUPPORTED), "path"));
  assert_true(has(hval(&m, IMSEC_SIP_H_SUPPORTED), "outbound"));
  uint32_t e;
  assert_int_equal(imsec_sip_get_expires(&m, &e), 0);
  assert_int_equal(e, 600);
  imsec_sip_msg_free(&m);
  /* The connect/transaction deadline is armed. */
  fx_del(&f);
}

static void test_instance_stable(void **st) {
  (void)st;
  fx a, b;
  fx_new(&a, NULL);
  fx_new(&b, NULL);
  fx_up(&a);
  fx_up(&b);
  char ca[16384], cb[16384];
  imsec_sip_msg ma, mb;
  parse_sent(&a, &ma, ca);
  parse_sent(&b, &mb, cb);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT, it2 = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr x, y;
  assert_int_equal(imsec_sip_addr_next(&ma, IMSEC_SIP_H_CONTACT, &it, &x), 1);
  assert_int_equal(imsec_sip_addr_next(&mb, IMSEC_SIP_H_CONTACT, &it2, &y), 1);
  assert_true(imsec_str_eq(x.instance, y.instance));
  imsec_sip_msg_free(&ma);
  imsec_sip_msg_free(&mb);
  fx_del(&a);
  fx_del(&b);
}

static void test_akav1_and_echo(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow, FLOW);
  assert_int_equal(f.n_close, 0);
  /* TS 33.102 Annex C: the SQN goes to the store before the RES. */
  assert_int_equal(f.n_persist, 1);
  assert_true(f.persist_at >= 0 && f.persist_at < f.send_at);
  assert_int_equal(verify_sent(&f, IMSEC_DIGEST_AKAV1_MD5, NULL), 0);
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(&f, &m, copy);
  /* RFC 3329 §2.3.1: the exact Security-Server value comes back. */
  assert_true(
      imsec_str_eq(hval(&m, IMSEC_SIP_H_SECURITY_VERIFY), S_LIT(SECSRV)));
  assert_true(
      imsec_str_eq(hval(&m, IMSEC_SIP_H_SECURITY_CLIENT), S_LIT("tls")));
  imsec_sip_msg_free(&m);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_CHALLENGED);
  assert_int_equal(s.trust_decided, 1);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_HOME);
  assert_int_equal(s.challenges, 1);
  assert_int_equal(s.sqn_updates, 1);
  /* The UE's SQN state moved to the vector's SQN. */
  uint8_t sqn[6];
  imsec_ue_sqn_save(imsec_ue_sqn(f.ue), NULL, sqn);
  uint8_t want[6];
  imsec_sqn_from_u64(f.he.seq << 5 | 0, want);
  assert_memory_equal(sqn, want, 6);
  fx_del(&f);
}

static void test_akav2(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV2_MD5, HOME, 0, "tls;q=0.1, digest;q=0.2");
  assert_int_equal(f.n_send, 1);
  assert_int_equal(verify_sent(&f, IMSEC_DIGEST_AKAV2_MD5, NULL), 0);
  /* An AKAv1 check of the same answer fails: the password differs. */
  assert_int_equal(verify_sent(&f, IMSEC_DIGEST_AKAV1_MD5, NULL),
                   IMSEC_ERR_AUTH);
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(&f, &m, copy);
  assert_true(imsec_str_eq(hval(&m, IMSEC_SIP_H_SECURITY_VERIFY),
                           S_LIT("tls;q=0.1, digest;q=0.2")));
  imsec_sip_msg_free(&m);
  answer(&f, 200, "OK", ok_extra);
  assert_int_equal(state(&f), IMSEC_UE_REGISTERED);
  fx_del(&f);
}

/* The facts of a TLS flow whose server presented `cert` (NULL: none). */
static imsec_flow_info tls_info(const imsec_trust_cert *cert) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.peer_cert = cert;
  return info;
}

/* A rejected trust decision: no SEND, the flow closed, REFUSED, the
 * reason recorded. */
static void expect_refused_status(fx *f, imsec_trust_reason reason,
                                  imsec_ue_status *s) {
  assert_int_equal(f->n_send, 0);
  assert_int_equal(f->n_close, 1);
  assert_int_equal(f->closed_flow, FLOW);
  imsec_ue_get_status(f->ue, s);
  assert_int_equal(s->state, IMSEC_UE_REFUSED);
  assert_int_equal(s->trust_decided, 1);
  assert_int_equal(s->trust.verdict, IMSEC_TRUST_REJECTED);
  assert_int_equal(s->trust.reason, reason);
  assert_true(s->trust.why[0] != 0);
  assert_non_null(strstr(s->error, imsec_trust_reason_code(reason)));
  assert_int_equal(s->flow, 0);
}

static void expect_rejected(fx *f, imsec_trust_reason reason) {
  imsec_ue_status s;
  expect_refused_status(f, reason, &s);
  /* Nothing more: a later message on that flow, or a timer, sends
   * nothing. */
  answer(f, 200, "OK", ok_extra);
  assert_int_equal(f->n_send, 0);
  imsec_ue_on_timer(f->ue, IMSEC_UE_TIMER_TXN, f->now + 100000, &f->out);
  imsec_ue_on_timer(f->ue, IMSEC_UE_TIMER_RECONNECT, f->now + 100000, &f->out);
  take(f);
  assert_int_equal(f->n_send + f->n_connect, 0);
  assert_int_equal(state(f), IMSEC_UE_REFUSED);
}

/* The TLS handshake with a P-CSCF whose certificate fails the trust
 * decision: on_flow_up refuses the flow, the UE closes it, sends nothing
 * (no REGISTER, so no IMPI) and is REFUSED with the reason; whatever comes
 * on that flow later, and every timer, sends nothing either. */
static void expect_refused_at_handshake(fx *f, const imsec_flow_info *info,
                                        imsec_trust_reason reason) {
  assert_int_equal(imsec_ue_start(f->ue, f->now, &f->out), 0);
  take(f);
  assert_int_equal(f->n_connect, 1);
  f->tag = f->connect_tag;
  assert_int_equal(
      imsec_ue_on_flow_up(f->ue, f->flow, f->tag, info, f->now, &f->out),
      IMSEC_ERR_TRUST);
  take(f);
  imsec_ue_status s;
  expect_refused_status(f, reason, &s);
  assert_non_null(strstr(s.error, "P-CSCF not trusted ["));
  assert_int_equal(s.retry_at, 0);
  /* A 401 arriving anyway (the flow is no longer the UE's), the timers,
   * the flow going down: nothing is sent, nothing reconnects. */
  static const char chal[] =
      "SIP/2.0 401 Unauthorized\r\n"
      "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKx\r\n"
      "From: <" IMPU ">;tag=a\r\nTo: <" IMPU ">;tag=b\r\n"
      "Call-ID: x\r\nCSeq: 1 REGISTER\r\n"
      "WWW-Authenticate: Digest realm=\"" HOME "\",nonce=\"AAAA\","
      "algorithm=AKAv1-MD5\r\nContent-Length: 0\r\n\r\n";
  feed(f, chal, sizeof(chal) - 1);
  assert_int_equal(f->n_send, 0);
  imsec_ue_on_flow_down(f->ue, f->flow, 0, IMSEC_ERR_TRUST, f->now, &f->out);
  imsec_ue_on_timer(f->ue, IMSEC_UE_TIMER_TXN, f->now + 100000, &f->out);
  imsec_ue_on_timer(f->ue, IMSEC_UE_TIMER_RECONNECT, f->now + 100000, &f->out);
  imsec_ue_on_timer(f->ue, IMSEC_UE_TIMER_REREG, f->now + 100000, &f->out);
  take(f);
  assert_int_equal(f->n_send + f->n_connect, 0);
  assert_int_equal(state(f), IMSEC_UE_REFUSED);
  /* A stale flow_up for the old tag is refused too. */
  assert_true(imsec_ue_on_flow_up(f->ue, 8, f->tag, info, f->now, &f->out) < 0);
  take(f);
  assert_int_equal(f->n_send, 0);
}

/* RFC 3261 §26.3.2.1, RFC 5922 §7: every certificate-based rejection
 * happens when the handshake completes, before any SIP byte. */
static void test_trust_certificate_at_handshake(void **st) {
  (void)st;
  struct {
    const char *dialled, *names; /* names: the certificate's dNSName */
    imsec_chain_status chain;
    imsec_trust_issuer issuer;
    imsec_trust_policy policy;
    imsec_trust_reason reason;
  } cases[] = {
      {PCSCF, "other." HOME, IMSEC_CHAIN_OK, IMSEC_ISSUER_HOME,
       IMSEC_TRUST_POLICY_TRUST_DOMAIN, IMSEC_TRUST_NAME_MISMATCH},
      {PCSCF, "*." HOME, IMSEC_CHAIN_OK, IMSEC_ISSUER_HOME,
       IMSEC_TRUST_POLICY_TRUST_DOMAIN, IMSEC_TRUST_WILDCARD_REFUSED},
      {"pcscf.rogue.example", "pcscf.rogue.example", IMSEC_CHAIN_OK,
       IMSEC_ISSUER_HOME, IMSEC_TRUST_POLICY_TRUST_DOMAIN,
       IMSEC_TRUST_NAME_OUTSIDE_TRUST_DOMAIN},
      {"pcscf.ims.mnc003.mcc001.3gppnetwork.org",
       "pcscf.ims.mnc003.mcc001.3gppnetwork.org", IMSEC_CHAIN_OK,
       IMSEC_ISSUER_NONE, IMSEC_TRUST_POLICY_TRUST_DOMAIN,
       IMSEC_TRUST_NOT_A_ROAMING_PARTNER},
      {PCSCF, PCSCF, IMSEC_CHAIN_INVALID, IMSEC_ISSUER_NONE,
       IMSEC_TRUST_POLICY_TRUST_DOMAIN, IMSEC_TRUST_CHAIN_INVALID},
      {PCSCF, PCSCF, IMSEC_CHAIN_EXPIRED, IMSEC_ISSUER_HOME,
       IMSEC_TRUST_POLICY_TRUST_DOMAIN, IMSEC_TRUST_EXPIRED},
      {PCSCF, PCSCF, IMSEC_CHAIN_NOT_YET_VALID, IMSEC_ISSUER_HOME,
       IMSEC_TRUST_POLICY_TRUST_DOMAIN, IMSEC_TRUST_EXPIRED},
      {PCSCF, PCSCF, IMSEC_CHAIN_NOT_SERVER_AUTH, IMSEC_ISSUER_HOME,
       IMSEC_TRUST_POLICY_TRUST_DOMAIN, IMSEC_TRUST_NOT_SERVER_AUTH},
      {"pcscf.ims.mnc002.mcc001.3gppnetwork.org",
       "pcscf.ims.mnc002.mcc001.3gppnetwork.org", IMSEC_CHAIN_OK,
       IMSEC_ISSUER_PARTNER, IMSEC_TRUST_POLICY_STRICT_HOME,
       IMSEC_TRUST_NAME_OUTSIDE_HOME_DOMAIN},
      {PCSCF, PCSCF, IMSEC_CHAIN_OK, IMSEC_ISSUER_PARTNER,
       IMSEC_TRUST_POLICY_STRICT_HOME, IMSEC_TRUST_NOT_HOME_CA},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fx f;
    opts o = {.pcscf_name = cases[i].dialled, .policy = cases[i].policy};
    fx_new(&f, &o);
    home_cert(&f.cert, cases[i].names, cases[i].issuer);
    f.cert.chain = cases[i].chain;
    imsec_flow_info info = tls_info(&f.cert);
    expect_refused_at_handshake(&f, &info, cases[i].reason);
    fx_del(&f);
  }

  /* No certificate facts at all (a driver without anchors): refused. */
  fx f;
  fx_new(&f, NULL);
  imsec_flow_info info = tls_info(NULL);
  expect_refused_at_handshake(&f, &info, IMSEC_TRUST_CHAIN_INVALID);
  fx_del(&f);
}

/* The realm is the one check that waits for the challenge: the
 * certificate passes at the handshake, the REGISTER goes, and the 401's
 * foreign realm refuses the network before any credential leaves. */
static void test_trust_realm_mismatch(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.trust_decided, 1);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_HOME);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, "ims.mnc002.mcc001.3gppnetwork.org", 0,
            SECSRV);
  expect_rejected(&f, IMSEC_TRUST_REALM_MISMATCH);
  fx_del(&f);

  /* A realm outside the trust domain, likewise. */
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, "ims.example.com", 0, SECSRV);
  expect_rejected(&f, IMSEC_TRUST_REALM_OUTSIDE_TRUST_DOMAIN);
  fx_del(&f);
}

static void test_trust_partner_and_strict_home(void **st) {
  (void)st;
  /* A visited P-CSCF certified by a roaming partner: trusted (partner). */
  fx f;
  opts o = {.pcscf_name = "pcscf.ims.mnc002.mcc001.3gppnetwork.org"};
  fx_new(&f, &o);
  home_cert(&f.cert, "pcscf.ims.mnc002.mcc001.3gppnetwork.org",
            IMSEC_ISSUER_PARTNER);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f.n_send, 1);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_PARTNER);
  assert_string_equal(s.trust.partner, "op-mcc001-mnc002");
  fx_del(&f);

  /* The same P-CSCF under strict-home (RFC 3261 as written) is refused
   * at the handshake: test_trust_certificate_at_handshake. */
}

static void test_mac_failure(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 1, SECSRV);
  /* TS 24.229 §5.1.1.5.3: a REGISTER with an empty response, no auts;
   * the SQN did not move, nothing to make durable. */
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.n_close, 0);
  assert_int_equal(f.n_persist, 0);
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(&f, &m, copy);
  imsec_digest_params p;
  sent_credentials(&m, &p);
  assert_int_equal(p.response.len, 0);
  assert_true(p.nonce.len > 0);
  assert_false(p.present & IMSEC_DIGEST_P_AUTS);
  assert_true(
      imsec_str_eq(hval(&m, IMSEC_SIP_H_SECURITY_VERIFY), S_LIT(SECSRV)));
  imsec_sip_msg_free(&m);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_REFUSED);
  assert_non_null(strstr(s.error, "network authentication failed"));
  assert_int_equal(s.sqn_updates, 0);
  /* The S-CSCF's 403 ends it: the flow closes, nothing more is sent. */
  answer(&f, 403, "Forbidden", NULL);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(f.n_close, 1);
  assert_int_equal(state(&f), IMSEC_UE_REFUSED);
  fx_del(&f);
}

static void test_mac_failure_timeout(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 1, SECSRV);
  assert_true(f.timer_set[IMSEC_UE_TIMER_TXN]);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_TXN, f.timer_at[IMSEC_UE_TIMER_TXN],
                    &f.out);
  take(&f);
  assert_int_equal(f.n_close, 1);
  assert_int_equal(f.n_send + f.n_connect, 0);
  assert_int_equal(state(&f), IMSEC_UE_REFUSED);
  fx_del(&f);
}

static void test_sync_failure(void **st) {
  (void)st;
  /* The UE has seen SEQ 1000 already; the HSS starts at 0. */
  uint8_t sqn_ms[6];
  imsec_sqn_from_u64(UINT64_C(1000) << 5, sqn_ms);
  opts o = {.sqn_ms = sqn_ms};
  fx f;
  fx_new(&f, &o);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow, FLOW); /* the same TLS connection */
  assert_int_equal(f.n_close + f.n_connect, 0);
  /* An AUTS run leaves the Annex C state as it was: no PERSIST. */
  assert_int_equal(f.n_persist, 0);
  uint8_t auts[14];
  assert_int_equal(verify_sent(&f, IMSEC_DIGEST_AKAV1_MD5, auts),
                   IMSEC_ERR_SYNC);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.sync_failures, 1);
  assert_int_equal(s.sqn_updates, 0);
  assert_int_equal(s.state, IMSEC_UE_CHALLENGED);
  /* The HSS resynchronises from AUTS (TS 33.102 §6.3.5) and challenges
   * again; the UE now answers with a response, still on the same flow. */
  uint8_t got_ms[6];
  assert_int_equal(
      imsec_sqn_he_resync(&f.he, &f.sc, f.hss, f.v.rand, auts, got_ms), 0);
  assert_memory_equal(got_ms, sqn_ms, 6);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow, FLOW);
  assert_int_equal(verify_sent(&f, IMSEC_DIGEST_AKAV1_MD5, NULL), 0);
  answer(&f, 200, "OK", ok_extra);
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.sqn_updates, 1);
  assert_int_equal(s.challenges, 2);
  fx_del(&f);
}

static void test_replayed_vector_is_sync_failure(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  /* The same vector again (a replayed 401) is refused as not fresh. */
  imsec_aka_vector old = f.v;
  assert_int_equal(imsec_ue_deregister(f.ue, f.now, &f.out), 0);
  take(&f);
  char chal[1024];
  assert_true(imsec_digest_aka_challenge_build(
                  &old, IMSEC_DIGEST_AKAV1_MD5, S_LIT(HOME), S_LIT("auth"),
                  S_LIT("op4que"), 0, chal, sizeof(chal)) > 0);
  char extra[1400] = "WWW-Authenticate: ";
  strcat(extra, chal);
  strcat(extra, "\r\nSecurity-Server: " SECSRV "\r\n");
  answer(&f, 401, "Unauthorized", extra);
  assert_int_equal(f.n_send, 1);
  uint8_t auts[14];
  assert_int_equal(verify_sent(&f, IMSEC_DIGEST_AKAV1_MD5, auts),
                   IMSEC_ERR_SYNC);
  fx_del(&f);
}

static void test_registered_rereg_dereg(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  assert_int_equal(f.n_keep, 1);
  assert_true(f.timer_set[IMSEC_UE_TIMER_REREG]);
  /* TS 24.229 §5.1.1.4.1: 600 s granted -> re-register at half. */
  assert_int_equal(f.timer_at[IMSEC_UE_TIMER_REREG], f.now + 300000);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.expires, 600);
  assert_int_equal(s.registrations, 1);
  assert_string_equal(imsec_ue_service_route(f.ue, 0),
                      "sip:orig@scscf." HOME ":5060;transport=tcp;lr");
  assert_null(imsec_ue_service_route(f.ue, 1));
  assert_string_equal(imsec_ue_associated_uri(f.ue, 0), IMPU);
  assert_string_equal(imsec_ue_associated_uri(f.ue, 1), IMPU2);
  assert_null(imsec_ue_associated_uri(f.ue, 2));

  /* A stale timer does nothing. */
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_REREG, f.now + 1000, &f.out);
  take(&f);
  assert_int_equal(f.n_send, 0);

  /* Re-registration on the same flow, Security-Verify echoed. */
  f.now += 300000;
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_REREG, f.now, &f.out);
  take(&f);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow, FLOW);
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(&f, &m, copy);
  assert_int_equal(m.method_id, IMSEC_SIP_M_REGISTER);
  assert_true(
      imsec_str_eq(hval(&m, IMSEC_SIP_H_SECURITY_VERIFY), S_LIT(SECSRV)));
  const imsec_sip_cseq *cs;
  assert_int_equal(imsec_sip_get_cseq(&m, &cs), 0);
  assert_int_equal(cs->seq, 3);
  imsec_sip_msg_free(&m);
  assert_int_equal(state(&f), IMSEC_UE_REGISTERED);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(state(&f), IMSEC_UE_REGISTERED); /* still registered */
  assert_int_equal(verify_sent(&f, IMSEC_DIGEST_AKAV1_MD5, NULL), 0);
  answer(&f, 200, "OK",
         "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=3600\r\n"
         "Service-Route: <sip:orig@scscf." HOME ":5060;transport=tcp;lr>\r\n");
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.registrations, 2);
  assert_int_equal(s.expires, 3600);
  /* > 1200 s: 600 s before expiry. */
  assert_int_equal(f.timer_at[IMSEC_UE_TIMER_REREG], f.now + 3000000);

  /* De-register: Expires 0; the 200 closes the flow, IDLE. */
  assert_int_equal(imsec_ue_deregister(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_send, 1);
  parse_sent(&f, &m, copy);
  uint32_t e = 99;
  assert_int_equal(imsec_sip_get_expires(&m, &e), 0);
  assert_int_equal(e, 0);
  {
    imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
    imsec_sip_addr c;
    assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_CONTACT, &it, &c), 1);
    assert_int_equal(c.expires, 0);
  }
  imsec_sip_msg_free(&m);
  answer(&f, 200, "OK", NULL);
  assert_int_equal(f.n_close, 1);
  assert_int_equal(f.n_send, 0);
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_IDLE);
  assert_int_equal(s.flow, 0);
  fx_del(&f);
}

static void test_dereg_challenged(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  assert_int_equal(imsec_ue_deregister(f.ue, f.now, &f.out), 0);
  take(&f);
  /* The S-CSCF challenges the de-REGISTER: the answer keeps Expires 0. */
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(verify_sent(&f, IMSEC_DIGEST_AKAV1_MD5, NULL), 0);
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(&f, &m, copy);
  uint32_t e = 99;
  assert_int_equal(imsec_sip_get_expires(&m, &e), 0);
  assert_int_equal(e, 0);
  imsec_sip_msg_free(&m);
  answer(&f, 200, "OK", NULL);
  assert_int_equal(state(&f), IMSEC_UE_IDLE);
  fx_del(&f);
}

static void test_register_refused(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  answer(&f, 403, "Forbidden", NULL);
  assert_int_equal(f.n_close, 1);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_FAILED);
  assert_int_equal(s.last_status, 403);
  assert_non_null(strstr(s.error, "403"));
  fx_del(&f);

  /* 494 (downgrade suspected by the P-CSCF). */
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 494, "Security Agreement Required", NULL);
  assert_int_equal(state(&f), IMSEC_UE_FAILED);
  fx_del(&f);

  /* A 401 with no AKA challenge (plain MD5). */
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 401, "Unauthorized",
         "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"abc\"\r\n");
  assert_int_equal(f.n_send, 0);
  assert_int_equal(state(&f), IMSEC_UE_FAILED);
  fx_del(&f);

  /* A Security-Server without tls: no common mechanism. */
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, "ipsec-3gpp;q=0.1");
  assert_int_equal(f.n_send, 0);
  assert_int_equal(state(&f), IMSEC_UE_FAILED);
  fx_del(&f);
}

static void test_200_without_challenge(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 200, "OK", ok_extra);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_HOME);
  fx_del(&f);

  /* ... and a P-CSCF the UE does not trust never gets as far as a
   * REGISTER to answer. */
  opts o = {.pcscf_name = "pcscf.rogue.example"};
  fx_new(&f, &o);
  home_cert(&f.cert, "pcscf.rogue.example", IMSEC_ISSUER_HOME);
  imsec_flow_info info = tls_info(&f.cert);
  expect_refused_at_handshake(&f, &info, IMSEC_TRUST_NAME_OUTSIDE_TRUST_DOMAIN);
  fx_del(&f);
}

/* RFC 3261 §21.5.4, §20.33: a 503 to the REGISTER closes the flow and
 * tries a new connection, not before the Retry-After, else after the
 * back-off; the attempts count towards max_connect_attempts. */
static void test_503_retry(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 503, "Service Unavailable",
         "Retry-After: 5 (maintenance);duration=60\r\n");
  assert_int_equal(f.n_send, 0);
  assert_int_equal(f.n_close, 1);
  assert_int_equal(f.n_connect, 0);
  assert_true(f.timer_set[IMSEC_UE_TIMER_RECONNECT]);
  assert_int_equal(f.timer_at[IMSEC_UE_TIMER_RECONNECT], f.now + 5000);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_CONNECTING);
  assert_int_equal(s.last_status, 503);
  assert_int_equal(s.retry_at, f.now + 5000);
  assert_non_null(strstr(s.error, "Retry-After 5 s"));
  /* Not a moment before. */
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_RECONNECT, f.now + 4999, &f.out);
  take(&f);
  assert_int_equal(f.n_connect, 0);
  f.now += 5000;
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_RECONNECT, f.now, &f.out);
  take(&f);
  assert_int_equal(f.n_connect, 1);
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.retry_at, 0);

  /* The second connection: a 503 without Retry-After backs off (the
   * back-off doubled from its first 500 ms). */
  f.flow = 8;
  f.tag = f.connect_tag;
  imsec_flow_info info = tls_info(&f.cert);
  assert_int_equal(
      imsec_ue_on_flow_up(f.ue, f.flow, f.tag, &info, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_send, 1);
  answer(&f, 503, "Service Unavailable", NULL);
  assert_int_equal(f.n_close, 1);
  assert_int_equal(f.closed_flow, 8);
  assert_int_equal(f.timer_at[IMSEC_UE_TIMER_RECONNECT], f.now + 1000);
  f.now += 1000;
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_RECONNECT, f.now, &f.out);
  take(&f);
  assert_int_equal(f.n_connect, 1);

  /* The third registers. */
  f.flow = 9;
  f.tag = f.connect_tag;
  assert_int_equal(
      imsec_ue_on_flow_up(f.ue, f.flow, f.tag, &info, f.now, &f.out), 0);
  take(&f);
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  answer(&f, 200, "OK", ok_extra);
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.error[0], 0);
  assert_int_equal(s.retry_at, 0);
  fx_del(&f);

  /* A huge or malformed Retry-After: capped at a day, or ignored. */
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 503, "Service Unavailable",
         "Retry-After: 99999999999999999999999\r\n");
  assert_int_equal(f.timer_at[IMSEC_UE_TIMER_RECONNECT], f.now + 86400 * 1000);
  fx_del(&f);
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 503, "Service Unavailable", "Retry-After: soon\r\n");
  assert_int_equal(f.timer_at[IMSEC_UE_TIMER_RECONNECT], f.now + 500);
  fx_del(&f);

  /* With max_connect_attempts (3) used up, the UE gives up. */
  fx_new(&f, NULL);
  for (int i = 0; i < 3; i++) {
    if (i == 0) {
      fx_up(&f);
    } else {
      f.now = f.timer_at[IMSEC_UE_TIMER_RECONNECT];
      imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_RECONNECT, f.now, &f.out);
      take(&f);
      assert_int_equal(f.n_connect, 1);
      f.flow = 20 + (uint64_t)i;
      f.tag = f.connect_tag;
      assert_int_equal(
          imsec_ue_on_flow_up(f.ue, f.flow, f.tag, &info, f.now, &f.out), 0);
      take(&f);
    }
    answer(&f, 503, "Service Unavailable", NULL);
  }
  assert_int_equal(state(&f), IMSEC_UE_FAILED);
  fx_del(&f);

  /* A 503 to a de-REGISTER is not retried. */
  fx_new(&f, NULL);
  fx_register(&f);
  assert_int_equal(imsec_ue_deregister(f.ue, f.now, &f.out), 0);
  take(&f);
  answer(&f, 503, "Service Unavailable", "Retry-After: 1\r\n");
  assert_int_equal(f.n_connect, 0);
  assert_false(f.timer_set[IMSEC_UE_TIMER_RECONNECT] &&
               f.timer_at[IMSEC_UE_TIMER_RECONNECT]);
  fx_del(&f);
}

static void test_interval_too_brief(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 423, "Interval Too Brief", "Min-Expires: 1800\r\n");
  assert_int_equal(f.n_send, 1);
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(&f, &m, copy);
  uint32_t e;
  assert_int_equal(imsec_sip_get_expires(&m, &e), 0);
  assert_int_equal(e, 1800);
  imsec_sip_msg_free(&m);
  fx_del(&f);
}

static void test_incoming_requests(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  static const char msg[] =
      "MESSAGE sip:ue@127.0.0.1:40000;transport=tls;ob SIP/2.0\r\n"
      "Via: SIP/2.0/TLS " PCSCF ":5061;branch=z9hG4bKpc1\r\n"
      "Via: SIP/2.0/TCP scscf." HOME ":5060;branch=z9hG4bKsc1\r\n"
      "Max-Forwards: 68\r\n"
      "From: <sip:alice@" HOME ">;tag=a1\r\n"
      "To: <" IMPU ">\r\n"
      "Call-ID: m1@x\r\n"
      "CSeq: 1 MESSAGE\r\n"
      "P-Asserted-Identity: <sip:alice@" HOME ">\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 5\r\n\r\nhello";
  feed(&f, msg, sizeof(msg) - 1);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow, FLOW);
  char copy[16384];
  imsec_sip_msg m;
  memcpy(copy, f.sent, f.sent_len);
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, copy, f.sent_len, 1), 0);
  assert_false(m.is_request);
  assert_int_equal(m.status, 200);
  assert_int_equal(m.count[IMSEC_SIP_H_VIA], 2);
  const imsec_sip_addr *to;
  assert_int_equal(imsec_sip_get_to(&m, &to), 0);
  assert_true(to->tag.len > 0);
  imsec_sip_msg_free(&m);
  imsec_ue_message got;
  assert_int_equal(imsec_ue_inbox_pop(f.ue, &got), 1);
  assert_int_equal(got.len, 5);
  assert_memory_equal(got.body, "hello", 5);
  assert_string_equal(got.from, "sip:alice@" HOME);
  assert_string_equal(got.asserted, "sip:alice@" HOME);
  assert_string_equal(got.content_type, "text/plain");
  imsec_ue_message_free(&got);
  assert_int_equal(imsec_ue_inbox_pop(f.ue, &got), 0);

  static const char options[] =
      "OPTIONS sip:ue@127.0.0.1:40000 SIP/2.0\r\n"
      "Via: SIP/2.0/TLS " PCSCF ":5061;branch=z9hG4bKpc2\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@" HOME ">;tag=a2\r\n"
      "To: <" IMPU ">\r\n"
      "Call-ID: o1@x\r\n"
      "CSeq: 7 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n";
  feed(&f, options, sizeof(options) - 1);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent, "SIP/2.0 200 OK"));
  assert_non_null(strstr(f.sent, "Allow: INVITE, ACK, CANCEL, BYE"));
  assert_non_null(strstr(f.sent, "MESSAGE"));

  /* Calls are call.c's (ue_call_test.c); a SUBSCRIBE is not handled. */
  static const char subscribe[] =
      "SUBSCRIBE sip:ue@127.0.0.1:40000 SIP/2.0\r\n"
      "Via: SIP/2.0/TLS " PCSCF ":5061;branch=z9hG4bKpc3\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@" HOME ">;tag=a3\r\n"
      "To: <" IMPU ">\r\n"
      "Call-ID: i1@x\r\n"
      "CSeq: 1 SUBSCRIBE\r\n"
      "Event: reg\r\n"
      "Content-Length: 0\r\n\r\n";
  feed(&f, subscribe, sizeof(subscribe) - 1);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent, "SIP/2.0 405"));

  /* Garbage on the flow: dropped, nothing sent, still registered. */
  feed(&f, "garbage\r\n\r\n", 11);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(state(&f), IMSEC_UE_REGISTERED);
  /* A message on another flow is ignored. */
  imsec_ue_on_message(f.ue, 99, (const uint8_t *)msg, sizeof(msg) - 1, f.now,
                      &f.out);
  take(&f);
  assert_int_equal(f.n_send, 0);
  fx_del(&f);
}

static void test_send_message(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  /* Not registered: refused. */
  assert_int_equal(imsec_ue_send_message(f.ue, "sip:bob@" HOME, NULL,
                                         (const uint8_t *)"x", 1, f.now,
                                         &f.out),
                   IMSEC_ERR_STATE);
  fx_register(&f);
  assert_int_equal(imsec_ue_send_message(f.ue, "not a uri", NULL,
                                         (const uint8_t *)"x", 1, f.now,
                                         &f.out),
                   IMSEC_ERR_INVAL);
  int h = imsec_ue_send_message(f.ue, "sip:bob@" HOME, NULL,
                                (const uint8_t *)"hi bob", 6, f.now, &f.out);
  assert_true(h > 0);
  take(&f);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow, FLOW);
  assert_int_equal(imsec_ue_message_result(f.ue, h), 0);
  char copy[16384];
  imsec_sip_msg m;
  parse_sent(&f, &m, copy);
  assert_int_equal(m.method_id, IMSEC_SIP_M_MESSAGE);
  assert_true(imsec_str_eq(m.ruri, S_LIT("sip:bob@" HOME)));
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr r;
  assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_ROUTE, &it, &r), 1);
  assert_true(imsec_str_eq(
      r.uri, S_LIT("sip:orig@scscf." HOME ":5060;transport=tcp;lr")));
  assert_true(imsec_str_eq(m.body, S_LIT("hi bob")));
  assert_true(
      imsec_str_eq(hval(&m, IMSEC_SIP_H_CONTENT_TYPE), S_LIT("text/plain")));
  imsec_sip_msg_free(&m);
  /* The answer, matched by Call-ID. */
  answer(&f, 200, "OK", NULL);
  assert_int_equal(imsec_ue_message_result(f.ue, h), 200);
  assert_int_equal(state(&f), IMSEC_UE_REGISTERED);

  /* A second one times out (Timer F). */
  int h2 = imsec_ue_send_message(f.ue, "sip:bob@" HOME, "text/plain",
                                 (const uint8_t *)"again", 5, f.now, &f.out);
  assert_true(h2 > h);
  take(&f);
  /* (armed for the first MESSAGE's deadline already: the same time) */
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_MESSAGE, f.now + 31999, &f.out);
  take(&f);
  assert_int_equal(imsec_ue_message_result(f.ue, h2), 0);
  assert_true(f.timer_set[IMSEC_UE_TIMER_MESSAGE]);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_MESSAGE, f.now + 32000, &f.out);
  take(&f);
  assert_int_equal(imsec_ue_message_result(f.ue, h2), 408);
  assert_int_equal(imsec_ue_message_result(f.ue, 12345), IMSEC_ERR_NOTFOUND);

  /* A third one is failed by the loss of the flow. */
  int h3 = imsec_ue_send_message(f.ue, IMPU2, NULL, (const uint8_t *)"z", 1,
                                 f.now, &f.out);
  assert_true(h3 > 0);
  take(&f);
  imsec_ue_on_flow_down(f.ue, FLOW, f.tag, IMSEC_ERR_IO, f.now, &f.out);
  take(&f);
  assert_int_equal(imsec_ue_message_result(f.ue, h3), 503);
  fx_del(&f);
}

static void test_flow_loss_reconnects(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  imsec_ue_on_flow_down(f.ue, FLOW, f.tag, IMSEC_ERR_IO, f.now, &f.out);
  take(&f);
  /* A registered flow failed: a new connection at once (RFC 5626 §4.5). */
  assert_int_equal(f.n_connect, 1);
  assert_int_equal(f.n_close, 0);
  assert_true(f.connect_tag != f.tag);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.reconnects, 1);
  assert_int_equal(s.flow, 0);
  /* A late flow_up for the old tag is refused. */
  imsec_flow_info info = tls_info(&f.cert);
  info.resumed = 1;
  assert_true(imsec_ue_on_flow_up(f.ue, 8, f.tag, &info, f.now, &f.out) < 0);
  take(&f);
  /* The new flow registers again (the driver resumed the session). */
  f.flow = 9;
  f.tag = f.connect_tag;
  assert_int_equal(
      imsec_ue_on_flow_up(f.ue, f.flow, f.tag, &info, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow, 9);
  assert_null(strstr(f.sent, "Security-Verify")); /* a new connection */
  challenge(&f, IMSEC_DIGEST_AKAV1_MD5, HOME, 0, SECSRV);
  assert_int_equal(f.sent_flow, 9);
  answer(&f, 200, "OK", ok_extra);
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.registrations, 2);
  assert_int_equal(s.resumed, 1);
  fx_del(&f);
}

static void test_connect_failures_give_up(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  /* 1st: the connect fails -> back-off timer. */
  imsec_ue_on_flow_down(f.ue, 0, f.connect_tag, IMSEC_ERR_IO, f.now, &f.out);
  take(&f);
  assert_int_equal(f.n_connect, 0);
  assert_true(f.timer_set[IMSEC_UE_TIMER_RECONNECT]);
  imsec_time_ms at = f.timer_at[IMSEC_UE_TIMER_RECONNECT];
  assert_true(at > f.now);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_RECONNECT, at, &f.out);
  take(&f);
  assert_int_equal(f.n_connect, 1);
  /* 2nd: the connect times out. */
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_TXN, at + 32000, &f.out);
  take(&f);
  assert_true(f.timer_set[IMSEC_UE_TIMER_RECONNECT]);
  imsec_time_ms at2 = f.timer_at[IMSEC_UE_TIMER_RECONNECT];
  assert_true(at2 - (at + 32000) > at - f.now); /* the back-off doubled */
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_RECONNECT, at2, &f.out);
  take(&f);
  assert_int_equal(f.n_connect, 1);
  /* 3rd failure: max_connect_attempts (3) reached. */
  imsec_ue_on_flow_down(f.ue, 0, f.connect_tag, IMSEC_ERR_IO, at2, &f.out);
  take(&f);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_FAILED);
  assert_non_null(strstr(s.error, "P-CSCF"));
  fx_del(&f);
}

static void test_register_timeout(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  assert_true(f.timer_set[IMSEC_UE_TIMER_TXN]);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_TXN, f.timer_at[IMSEC_UE_TIMER_TXN],
                    &f.out);
  take(&f);
  /* No answer: the flow is given up and a new one tried later. */
  assert_int_equal(f.n_close, 1);
  assert_true(f.timer_set[IMSEC_UE_TIMER_RECONNECT]);
  assert_int_equal(state(&f), IMSEC_UE_CONNECTING);
  fx_del(&f);
}

static void test_sqn_load_save(void **st) {
  (void)st;
  uint8_t in[6], out[6];
  t_hex("0000000003e5", in, 6); /* SEQ 31, IND 5 */
  imsec_sqn_ue s;
  assert_int_equal(imsec_ue_sqn_load(in, NULL, &s), 0);
  for (unsigned i = 0; i < 32; i++)
    assert_int_equal(s.seq_ms[i], 31);
  imsec_sqn_cfg c = imsec_sqn_cfg_default();
  /* Nothing at or below SEQ 31 is fresh, in any slot; SEQ 32 is. */
  assert_int_equal(imsec_sqn_ue_check(&s, &c, UINT64_C(31) << 5 | 7),
                   IMSEC_ERR_SYNC);
  assert_int_equal(imsec_sqn_ue_check(&s, &c, UINT64_C(32) << 5 | 7), 0);
  imsec_ue_sqn_save(&s, NULL, out);
  assert_int_equal(imsec_sqn_to_u64(out) >> 5, 31);
  /* Save of a zero state is zero. */
  memset(&s, 0, sizeof(s));
  imsec_ue_sqn_save(&s, NULL, out);
  assert_int_equal(imsec_sqn_to_u64(out), 0);
}

static void test_config_errors(void **st) {
  (void)st;
  imsec_crypto *c;
  assert_int_equal(imsec_crypto_ossl_new(&c), 0);
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = IMPI;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = TD;
  cfg.has_opc = 1;
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:5061"), &cfg.pcscf),
                   0);
  imsec_ue *ue = NULL;
  assert_int_equal(imsec_ue_new(&ue, &cfg, c), 0);
  imsec_ue_del(ue);
  imsec_ue_config bad = cfg;
  bad.has_op = 1; /* both */
  assert_int_equal(imsec_ue_new(&ue, &bad, c), IMSEC_ERR_CONFIG);
  bad = cfg;
  bad.impi = NULL;
  assert_int_equal(imsec_ue_new(&ue, &bad, c), IMSEC_ERR_CONFIG);
  bad = cfg;
  bad.pcscf.tp = IMSEC_TP_TCP;
  assert_int_equal(imsec_ue_new(&ue, &bad, c), IMSEC_ERR_CONFIG);
  bad = cfg;
  bad.home_domain = "bad\r\nInjected: yes";
  assert_int_equal(imsec_ue_new(&ue, &bad, c), IMSEC_ERR_CONFIG);
  bad = cfg;
  bad.n_impus = 0;
  assert_int_equal(imsec_ue_new(&ue, &bad, c), IMSEC_ERR_CONFIG);
  bad = cfg;
  bad.instance = "not-a-urn";
  assert_int_equal(imsec_ue_new(&ue, &bad, c), IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_ue_new(NULL, &cfg, c), IMSEC_ERR_INVAL);
  assert_null(ue);
  assert_string_equal(imsec_ue_state_name(IMSEC_UE_REGISTERED), "registered");
  imsec_crypto_del(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_contents),
      cmocka_unit_test(test_instance_stable),
      cmocka_unit_test(test_akav1_and_echo),
      cmocka_unit_test(test_akav2),
      cmocka_unit_test(test_trust_certificate_at_handshake),
      cmocka_unit_test(test_trust_realm_mismatch),
      cmocka_unit_test(test_trust_partner_and_strict_home),
      cmocka_unit_test(test_mac_failure),
      cmocka_unit_test(test_mac_failure_timeout),
      cmocka_unit_test(test_sync_failure),
      cmocka_unit_test(test_replayed_vector_is_sync_failure),
      cmocka_unit_test(test_registered_rereg_dereg),
      cmocka_unit_test(test_dereg_challenged),
      cmocka_unit_test(test_register_refused),
      cmocka_unit_test(test_200_without_challenge),
      cmocka_unit_test(test_503_retry),
      cmocka_unit_test(test_interval_too_brief),
      cmocka_unit_test(test_incoming_requests),
      cmocka_unit_test(test_send_message),
      cmocka_unit_test(test_flow_loss_reconnects),
      cmocka_unit_test(test_connect_failures_give_up),
      cmocka_unit_test(test_register_timeout),
      cmocka_unit_test(test_sqn_load_save),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_sqn_persist_before_res),
      cmocka_unit_test(test_sqn_persist_failed),
      cmocka_unit_test(test_ops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
