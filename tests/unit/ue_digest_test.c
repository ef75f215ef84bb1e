/* The UE without an ISIM (TS 33.203 Annexes N and O, RFC 7616, RFC 8760):
 * driven by crafted messages, with the network side played here by
 * lib/digest (the response checked under the password as an S-CSCF would
 * under H(A1), rspauth computed for the 200). The REGISTER carries no
 * sec-agree; SHA-256 is chosen over MD5; qop=auth with a cnonce and nc;
 * the nonce is used again with nc + 1 on re-registration and a stale=true
 * 401 is answered without a failure; rspauth is checked; AKA challenges
 * are refused by a digest UE and digest challenges by an ISIM UE; the
 * realm passes the trust decision before any credential leaves; a 407 to
 * a MESSAGE or an INVITE is answered once with Proxy-Authorization. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/digest.h"
#include "imsec/sip.h"
#include "imsec/ue.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define USER "alice"
#define IMPI USER "@" HOME
#define IMPU "sip:" USER "@" HOME
#define PCSCF "pcscf." HOME
#define PASSWORD "correct horse battery staple"
#define FLOW 7
#define S_LIT(x) IMSEC_STR_LIT(x)
#define NONCE1 "bm9uY2Ugb25l"
#define NONCE2 "bm9uY2UgdHdv"

typedef struct fx {
  imsec_crypto *c;
  imsec_ue *ue;
  imsec_out out;
  imsec_trust_cert cert;
  imsec_time_ms now;
  uint64_t tag;
  imsec_addr connect_to; /* the last CONNECT's address, server name, TLS */
  char connect_name[256];
  int connect_tls;
  int plain;
  int n_send, n_close, n_persist;
  char sent[16384]; /* the last SEND */
  size_t sent_len;
  char first[16384]; /* the first SEND of the last event */
  size_t first_len;
  imsec_time_ms timer_at[8];
  int timer_set[8];
} fx;

static const char *const impus[] = {IMPU};

static void take(fx *f) {
  f->n_send = f->n_close = f->n_persist = 0;
  memset(f->timer_set, 0, sizeof(f->timer_set));
  for (size_t i = 0; i < f->out.n; i++) {
    imsec_act *a = &f->out.acts[i];
    switch (a->kind) {
    case IMSEC_ACT_SEND:
      assert_true(a->len < sizeof(f->sent));
      if (f->n_send++ == 0) {
        memcpy(f->first, a->data, a->len);
        f->first[a->len] = 0;
        f->first_len = a->len;
      }
      memcpy(f->sent, a->data, a->len);
      f->sent[a->len] = 0;
      f->sent_len = a->len;
      break;
    case IMSEC_ACT_CLOSE:
      f->n_close++;
      break;
    case IMSEC_ACT_PERSIST:
      f->n_persist++;
      break;
    case IMSEC_ACT_CONNECT:
      f->tag = a->tag;
      f->connect_to = a->addr;
      snprintf(f->connect_name, sizeof(f->connect_name), "%s", a->server_name);
      f->connect_tls = a->tls != NULL;
      break;
    case IMSEC_ACT_TIMER:
      if (a->timer < 8) {
        f->timer_set[a->timer] = 1;
        f->timer_at[a->timer] = a->at;
      }
      break;
    default:
      break;
    }
  }
  assert_int_equal(imsec_out_err(&f->out), 0);
  imsec_out_clear(&f->out);
}

typedef struct opts {
  int isim;             /* K/OPc instead of a password */
  const char *username; /* digest_username */
  int plain;            /* tcp: P-CSCF with allow_plain */
} opts;

static void fx_new(fx *f, const opts *o) {
  memset(f, 0, sizeof(*f));
  assert_int_equal(imsec_crypto_ossl_new(&f->c), 0);
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = IMPI;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = TD;
  if (o && o->isim) {
    t_hex("465b5ce8b199b49faa5f0a2ee238a6bc", cfg.k, 16);
    t_hex("cd63cb71954a9f4e48a5994e37a02baf", cfg.opc, 16);
    cfg.has_opc = 1;
  } else {
    memcpy(cfg.password, PASSWORD, strlen(PASSWORD));
    cfg.password_len = strlen(PASSWORD);
    cfg.digest_username = o ? o->username : NULL;
  }
  assert_int_equal(imsec_addr_parse(o && o->plain ? S_LIT("tcp:127.0.0.1:5060")
                                                  : S_LIT("tls:127.0.0.1:5061"),
                                    &cfg.pcscf),
                   0);
  cfg.allow_plain = o && o->plain;
  f->plain = cfg.allow_plain;
  cfg.pcscf_name = PCSCF;
  cfg.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  cfg.max_connect_attempts = 3;
  assert_int_equal(imsec_ue_new(&f->ue, &cfg, f->c), 0);
  imsec_wipe(&cfg, sizeof(cfg));
  memset(&f->cert, 0, sizeof(f->cert));
  f->cert.chain = IMSEC_CHAIN_OK;
  f->cert.has_san = 1;
  f->cert.n_dns = 1;
  strcpy(f->cert.dns[0], PCSCF);
  f->cert.issuer = IMSEC_ISSUER_HOME;
  f->now = 1000000;
}

static void fx_del(fx *f) {
  imsec_ue_del(f->ue);
  imsec_out_free(&f->out);
  imsec_crypto_del(f->c);
}

static imsec_ue_status status(fx *f) {
  imsec_ue_status st;
  imsec_ue_get_status(f->ue, &st);
  return st;
}

static void fx_up(fx *f) {
  assert_int_equal(imsec_ue_start(f->ue, f->now, &f->out), 0);
  take(f);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = f->plain ? IMSEC_TP_TCP : IMSEC_TP_TLS;
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:40000"), &info.local),
                   0);
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:5061"), &info.peer),
                   0);
  info.local.tp = info.peer.tp = info.tp;
  if (!f->plain) { /* plain TCP: no certificate, no TLS version */
    info.peer_cert = &f->cert;
    info.tls_version = "TLSv1.3";
  }
  assert_int_equal(
      imsec_ue_on_flow_up(f->ue, FLOW, f->tag, &info, f->now, &f->out), 0);
  take(f);
  assert_int_equal(f->n_send, 1);
}

static void parse(const char *text, size_t len, imsec_sip_msg *m, char *copy) {
  memcpy(copy, text, len);
  imsec_sip_msg_init(m, NULL);
  assert_int_equal(imsec_sip_parse(m, copy, len, 1), 0);
  assert_int_equal(imsec_sip_check(m), 0);
}

static void feed(fx *f, const char *msg, size_t len) {
  imsec_ue_on_message(f->ue, FLOW, (const uint8_t *)msg, len, f->now, &f->out);
  take(f);
}

/* Answer the last SEND with `code` and extra header lines. */
static void answer(fx *f, unsigned code, const char *reason,
                   const char *extra) {
  static char copy[16384], buf[16384];
  imsec_sip_msg m;
  parse(f->sent, f->sent_len, &m, copy);
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

/* The challenge an S-CSCF sends (RFC 8760 §3: SHA-256 first). */
static void chal(char *out, size_t cap, const char *hdr, const char *alg,
                 const char *realm, const char *nonce, const char *more) {
  snprintf(out + strlen(out), cap - strlen(out),
           "%s: Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, "
           "qop=\"auth\", opaque=\"0p\"%s\r\n",
           hdr, realm, nonce, alg, more ? more : "");
}

static void challenge(fx *f, const char *nonce, int stale) {
  char extra[2048] = "";
  const char *more = stale ? ", stale=true" : NULL;
  chal(extra, sizeof(extra), "WWW-Authenticate", "SHA-256", HOME, nonce, more);
  chal(extra, sizeof(extra), "WWW-Authenticate", "MD5", HOME, nonce, more);
  answer(f, 401, "Unauthorized", extra);
}

/* The credentials of the last SEND's `id` header. */
typedef struct creds {
  char copy[16384];
  imsec_sip_msg m;
  imsec_digest_params p;
} creds;

static void get_creds(fx *f, imsec_sip_hid id, creds *c) {
  parse(f->sent, f->sent_len, &c->m, c->copy);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  assert_int_equal(imsec_sip_auth_next(&c->m, id, &it, &raw), 1);
  assert_int_equal(imsec_digest_parse_credentials(raw, &c->p), 0);
}

/* As the S-CSCF: the response under the password. */
static int verify(creds *c, imsec_crypto *cr, imsec_digest_alg alg,
                  const char *method) {
  return imsec_digest_verify(
      cr, &c->p, alg, imsec_str_c(method), (imsec_bytes){NULL, 0},
      (imsec_bytes){(const uint8_t *)PASSWORD, strlen(PASSWORD)});
}

/* The 200 with Authentication-Info for the credentials of the last
 * REGISTER (`wrong`: another password's rspauth). */
static void ok_with_rspauth(fx *f, imsec_digest_alg alg, int wrong) {
  creds c;
  get_creds(f, IMSEC_SIP_H_AUTHORIZATION, &c);
  uint8_t ha1[32];
  char user[128], rsp[65];
  assert_true(imsec_digest_unquote(c.p.username, user, sizeof(user)) > 0);
  const char *pw = wrong ? "not the password" : PASSWORD;
  int hl = imsec_digest_ha1(
      f->c, imsec_digest_alg_hash(alg), imsec_str_c(user), S_LIT(HOME),
      (imsec_bytes){(const uint8_t *)pw, strlen(pw)}, ha1, sizeof(ha1));
  assert_true(hl > 0);
  assert_true(imsec_digest_rspauth(f->c, &c.p, alg,
                                   (imsec_bytes){ha1, (size_t)hl}, rsp,
                                   sizeof(rsp)) > 0);
  char cn[80], extra[1024];
  assert_true(imsec_digest_unquote(c.p.cnonce, cn, sizeof(cn)) > 0);
  snprintf(extra, sizeof(extra),
           "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=600\r\n"
           "Service-Route: <sip:orig@scscf." HOME ":5060;transport=tcp;lr>\r\n"
           "Authentication-Info: qop=auth, rspauth=\"%s\", cnonce=\"%s\", "
           "nc=%.*s\r\n",
           rsp, cn, (int)c.p.nc.len, c.p.nc.p);
  imsec_sip_msg_free(&c.m);
  answer(f, 200, "OK", extra);
}

static int has(const char *hay, const char *needle) {
  return strstr(hay, needle) != NULL;
}

/* A whole registration with SHA-256; returns with the UE registered. */
static void fx_register(fx *f) {
  fx_up(f);
  challenge(f, NONCE1, 0);
  assert_int_equal(f->n_send, 1);
  ok_with_rspauth(f, IMSEC_DIGEST_SHA256, 0);
  assert_int_equal(status(f).state, IMSEC_UE_REGISTERED);
}

/* ------------------------------------------------------------------ tests */

/* Annex O: no sec-agree; SHA-256 chosen over MD5 (RFC 8760 §3); qop=auth
 * with nc 00000001 and a cnonce; the response verifies under the
 * password; no SQN is persisted; rspauth verified -> registered. */
static void test_register_sha256(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  assert_false(has(f.sent, "Security-Client"));
  assert_false(has(f.sent, "sec-agree"));
  assert_true(has(f.sent, "username=\"" IMPI "\""));
  challenge(&f, NONCE1, 0);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.n_persist, 0);
  assert_false(has(f.sent, "Security-Verify"));
  creds c;
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.algorithm, S_LIT("SHA-256")));
  assert_true(imsec_str_eq(c.p.qop, S_LIT("auth")));
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000001")));
  assert_true(c.p.cnonce.len >= 16);
  assert_true(imsec_str_eq(c.p.username, S_LIT(IMPI)));
  assert_true(imsec_str_eq(c.p.uri, S_LIT("sip:" HOME)));
  assert_true(imsec_str_eq(c.p.opaque, S_LIT("0p")));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_SHA256, "REGISTER"), 0);
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_MD5, "REGISTER"),
                   IMSEC_ERR_PARSE); /* a SHA-256 response, not MD5 */
  imsec_sip_msg_free(&c.m);
  assert_int_equal(status(&f).state, IMSEC_UE_CHALLENGED);
  ok_with_rspauth(&f, IMSEC_DIGEST_SHA256, 0);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.challenges, 1);
  assert_true(s.trust_decided);
  fx_del(&f);
}

/* Only MD5 offered: MD5, with the configured username (the IMPI's user
 * part, as softphones send it); MD5 first and SHA-256 after: SHA-256. */
static void test_md5_and_username(void **st) {
  (void)st;
  fx f;
  opts o = {.username = USER};
  fx_new(&f, &o);
  fx_up(&f);
  char extra[1024] = "";
  chal(extra, sizeof(extra), "WWW-Authenticate", "MD5", HOME, NONCE1, NULL);
  answer(&f, 401, "Unauthorized", extra);
  creds c;
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.algorithm, S_LIT("MD5")));
  assert_true(imsec_str_eq(c.p.username, S_LIT(USER)));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_MD5, "REGISTER"), 0);
  imsec_sip_msg_free(&c.m);
  ok_with_rspauth(&f, IMSEC_DIGEST_MD5, 0);
  assert_int_equal(status(&f).state, IMSEC_UE_REGISTERED);
  fx_del(&f);

  /* MD5 listed first does not win over SHA-256 (no downgrade by order). */
  fx_new(&f, NULL);
  fx_up(&f);
  extra[0] = 0;
  chal(extra, sizeof(extra), "WWW-Authenticate", "MD5", HOME, NONCE1, NULL);
  chal(extra, sizeof(extra), "WWW-Authenticate", "SHA-256", HOME, NONCE2, NULL);
  answer(&f, 401, "Unauthorized", extra);
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.algorithm, S_LIT("SHA-256")));
  assert_true(imsec_str_eq(c.p.nonce, S_LIT(NONCE2)));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_SHA256, "REGISTER"), 0);
  imsec_sip_msg_free(&c.m);
  fx_del(&f);
}

/* Re-registration reuses the nonce with nc + 1 and a new cnonce; a 200
 * without Authentication-Info is taken; a stale=true 401 is answered with
 * the new nonce from nc 1, and is no failure. */
static void test_rereg_nonce_reuse_and_stale(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  creds c1;
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c1); /* (the last REGISTER) */
  char cn1[80];
  assert_true(imsec_digest_unquote(c1.p.cnonce, cn1, sizeof(cn1)) > 0);
  imsec_sip_msg_free(&c1.m);
  assert_true(f.timer_set[IMSEC_UE_TIMER_REREG]);
  f.now = f.timer_at[IMSEC_UE_TIMER_REREG];
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_REREG, f.now, &f.out);
  take(&f);
  assert_int_equal(f.n_send, 1);
  creds c;
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.nonce, S_LIT(NONCE1)));
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000002")));
  assert_false(imsec_str_eq(c.p.cnonce, imsec_str_c(cn1)));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_SHA256, "REGISTER"), 0);
  imsec_sip_msg_free(&c.m);
  answer(&f, 200, "OK",
         "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=600\r\n");
  assert_int_equal(status(&f).state, IMSEC_UE_REGISTERED);
  assert_int_equal(status(&f).registrations, 2);

  /* The next one: the S-CSCF finds the nonce too old (stale=true). */
  f.now = f.timer_at[IMSEC_UE_TIMER_REREG];
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_REREG, f.now, &f.out);
  take(&f);
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000003")));
  imsec_sip_msg_free(&c.m);
  challenge(&f, NONCE2, 1);
  assert_int_equal(f.n_send, 1);
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.nonce, S_LIT(NONCE2)));
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000001")));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_SHA256, "REGISTER"), 0);
  imsec_sip_msg_free(&c.m);
  assert_int_equal(status(&f).state, IMSEC_UE_REGISTERED);
  ok_with_rspauth(&f, IMSEC_DIGEST_SHA256, 0);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.registrations, 3);
  assert_int_equal(s.error[0], 0);

  /* De-registration goes with the nonce too (nc 2 of NONCE2). */
  assert_int_equal(imsec_ue_deregister(f.ue, f.now, &f.out), 0);
  take(&f);
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.nonce, S_LIT(NONCE2)));
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000002")));
  imsec_sip_msg_free(&c.m);
  answer(&f, 200, "OK", NULL);
  assert_int_equal(status(&f).state, IMSEC_UE_IDLE);
  fx_del(&f);
}

/* RFC 7616 §3.5: a wrong rspauth: the network did not prove it knows the
 * password; the registration fails. */
static void test_rspauth_mismatch(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, NONCE1, 0);
  ok_with_rspauth(&f, IMSEC_DIGEST_SHA256, 1);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_FAILED);
  assert_non_null(strstr(s.error, "did not prove it knows the password"));
  assert_int_equal(f.n_close, 1);
  fx_del(&f);
}

/* A digest UE refuses an AKA challenge; an ISIM UE refuses a password
 * challenge. Neither sends credentials. */
static void test_scheme_refusals(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 401, "Unauthorized",
         "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\""
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", "
         "algorithm=AKAv1-MD5, qop=\"auth\"\r\n");
  assert_int_equal(f.n_send, 0);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_FAILED);
  assert_non_null(strstr(s.error, "asks for IMS AKA"));
  fx_del(&f);

  opts o = {.isim = 1};
  fx_new(&f, &o);
  fx_up(&f);
  assert_true(has(f.sent, "Security-Client"));
  challenge(&f, NONCE1, 0);
  assert_int_equal(f.n_send, 0);
  s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_FAILED);
  assert_non_null(strstr(s.error, "offers only SIP Digest"));
  fx_del(&f);

  /* No qop=auth (the RFC 2069 form): not answered. */
  fx_new(&f, NULL);
  fx_up(&f);
  answer(&f, 401, "Unauthorized",
         "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"" NONCE1
         "\", algorithm=MD5\r\n");
  assert_int_equal(f.n_send, 0);
  s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_FAILED);
  assert_non_null(strstr(s.error, "qop=auth"));
  fx_del(&f);
}

/* DESIGN.md §3: a realm that is not the home domain fails the trust
 * decision before the password is used: nothing is sent, the flow
 * closes, the UE is refused. */
static void test_realm_trust(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  char extra[1024] = "";
  chal(extra, sizeof(extra), "WWW-Authenticate", "SHA-256",
       "ims.mnc002.mcc001.3gppnetwork.org", NONCE1, NULL);
  answer(&f, 401, "Unauthorized", extra);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(f.n_close, 1);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_REFUSED);
  assert_true(s.trust_decided);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_REJECTED);
  fx_del(&f);
}

/* A 423 is retried under the nonce (nc + 1); a 403 (wrong password or
 * nonce) fails the registration, says so, and forgets the nonce: the next
 * attempt starts without credentials. */
static void test_403_forgets_nonce(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  f.now = f.timer_at[IMSEC_UE_TIMER_REREG];
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_REREG, f.now, &f.out);
  take(&f);
  assert_true(has(f.sent, "nc=00000002"));
  /* RFC 3261 §10.2.8: a 423 is retried under the same nonce, nc + 1. */
  answer(&f, 423, "Interval Too Brief", "Min-Expires: 1200\r\n");
  assert_int_equal(f.n_send, 1);
  assert_true(has(f.sent, "nc=00000003"));
  assert_true(has(f.sent, "nonce=\"" NONCE1 "\""));
  answer(&f, 403, "Forbidden", NULL);
  assert_int_equal(status(&f).state, IMSEC_UE_FAILED);
  assert_non_null(strstr(status(&f).error, "wrong password"));
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:40001"), &info.local),
                   0);
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:5061"), &info.peer),
                   0);
  info.peer_cert = &f.cert;
  assert_int_equal(imsec_ue_on_flow_up(f.ue, FLOW, f.tag, &info, f.now, &f.out),
                   0);
  take(&f);
  assert_int_equal(f.n_send, 1);
  assert_true(has(f.sent, "response=\"\""));
  assert_false(has(f.sent, "cnonce"));
  fx_del(&f);
}

/* TS 33.203 Annex N, RFC 3261 §22.3: the S-CSCF asks for
 * Proxy-Authorization on a MESSAGE (407): sent again once, CSeq + 1, same
 * Call-ID, credentials for MESSAGE and the target; later MESSAGEs carry
 * credentials at once (nc + 1); a second 407 is the answer. */
static void test_message_407(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  int h = imsec_ue_send_message(f.ue, "sip:bob@" HOME, NULL,
                                (const uint8_t *)"hi bob", 6, f.now, &f.out);
  assert_true(h > 0);
  take(&f);
  char first_cid[128];
  {
    char copy[16384];
    imsec_sip_msg m;
    parse(f.sent, f.sent_len, &m, copy);
    imsec_str cid;
    assert_int_equal(imsec_sip_get_call_id(&m, &cid), 0);
    memcpy(first_cid, cid.p, cid.len);
    first_cid[cid.len] = 0;
    imsec_sip_msg_free(&m);
  }
  char extra[1024] = "";
  chal(extra, sizeof(extra), "Proxy-Authenticate", "SHA-256", HOME, NONCE2,
       NULL);
  answer(&f, 407, "Proxy Authentication Required", extra);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(imsec_ue_message_result(f.ue, h), 0);
  creds c;
  get_creds(&f, IMSEC_SIP_H_PROXY_AUTHORIZATION, &c);
  assert_int_equal(c.m.method_id, IMSEC_SIP_M_MESSAGE);
  assert_true(imsec_str_eq(c.m.body, S_LIT("hi bob")));
  const imsec_sip_cseq *cs;
  assert_int_equal(imsec_sip_get_cseq(&c.m, &cs), 0);
  assert_int_equal(cs->seq, 2);
  imsec_str cid;
  assert_int_equal(imsec_sip_get_call_id(&c.m, &cid), 0);
  assert_true(imsec_str_eq(cid, imsec_str_c(first_cid)));
  assert_true(imsec_str_eq(c.p.uri, S_LIT("sip:bob@" HOME)));
  assert_true(imsec_str_eq(c.p.nonce, S_LIT(NONCE2)));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_SHA256, "MESSAGE"), 0);
  imsec_sip_msg_free(&c.m);
  answer(&f, 200, "OK", NULL);
  assert_int_equal(imsec_ue_message_result(f.ue, h), 200);

  /* The next MESSAGE carries credentials at once: the proxy nonce, nc 2
   * (RFC 7616 §3.4). */
  h = imsec_ue_send_message(f.ue, "sip:carol@" HOME, NULL,
                            (const uint8_t *)"hi carol", 8, f.now, &f.out);
  take(&f);
  get_creds(&f, IMSEC_SIP_H_PROXY_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.nonce, S_LIT(NONCE2)));
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000002")));
  assert_true(imsec_str_eq(c.p.uri, S_LIT("sip:carol@" HOME)));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_SHA256, "MESSAGE"), 0);
  imsec_sip_msg_free(&c.m);
  /* Its nonce went stale: the 407 is answered once, a second is final. */
  answer(&f, 407, "Proxy Authentication Required", extra);
  assert_int_equal(f.n_send, 1);
  answer(&f, 407, "Proxy Authentication Required", extra);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(imsec_ue_message_result(f.ue, h), 407);

  /* Another realm's challenge is not answered. */
  h = imsec_ue_send_message(f.ue, "sip:bob@" HOME, NULL,
                            (const uint8_t *)"third", 5, f.now, &f.out);
  take(&f);
  extra[0] = 0;
  chal(extra, sizeof(extra), "Proxy-Authenticate", "SHA-256", "example.org",
       NONCE2, NULL);
  answer(&f, 407, "Proxy Authentication Required", extra);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(imsec_ue_message_result(f.ue, h), 407);
  fx_del(&f);
}

/* The same for an INVITE: the 407 is ACKed, the INVITE goes again with
 * CSeq 2 and Proxy-Authorization; its 200 confirms the call. */
static void test_invite_407(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_register(&f);
  int h = imsec_ue_call(f.ue, "sip:bob@" HOME, f.now, &f.out);
  assert_true(h > 0);
  take(&f);
  assert_true(has(f.sent, "INVITE sip:bob@"));
  char extra[1024] = "";
  chal(extra, sizeof(extra), "Proxy-Authenticate", "MD5", HOME, NONCE2, NULL);
  answer(&f, 407, "Proxy Authentication Required", extra);
  assert_int_equal(f.n_send, 2);
  assert_true(strncmp(f.first, "ACK ", 4) == 0);
  creds c;
  get_creds(&f, IMSEC_SIP_H_PROXY_AUTHORIZATION, &c);
  assert_int_equal(c.m.method_id, IMSEC_SIP_M_INVITE);
  const imsec_sip_cseq *cs;
  assert_int_equal(imsec_sip_get_cseq(&c.m, &cs), 0);
  assert_int_equal(cs->seq, 2);
  assert_true(c.m.body.len > 0); /* the offer again */
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_MD5, "INVITE"), 0);
  imsec_sip_msg_free(&c.m);
  imsec_ue_call_info ci;
  assert_int_equal(imsec_ue_call_get(f.ue, h, &ci), 0);
  assert_int_equal(ci.state, IMSEC_UE_CALL_CALLING);
  assert_int_equal(ci.final_status, 0);
  answer(&f, 200, "OK", "Contact: <sip:bob@127.0.0.1:40002;transport=tls>\r\n");
  assert_int_equal(imsec_ue_call_get(f.ue, h, &ci), 0);
  assert_int_equal(ci.final_status, 200);
  assert_int_equal(ci.state, IMSEC_UE_CALL_CONFIRMED);
  /* The next call carries credentials at once (nc 2 of the nonce). */
  int h2 = imsec_ue_call(f.ue, "sip:carol@" HOME, f.now, &f.out);
  assert_true(h2 > 0);
  take(&f);
  get_creds(&f, IMSEC_SIP_H_PROXY_AUTHORIZATION, &c);
  assert_int_equal(c.m.method_id, IMSEC_SIP_M_INVITE);
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000002")));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_MD5, "INVITE"), 0);
  imsec_sip_msg_free(&c.m);
  fx_del(&f);
}

/* RFC 7616 §3.5: a nextnonce in Authentication-Info is the nonce of the
 * next request, from nc 1; an unknown nonce (the S-CSCF restarted: a
 * fresh 401 without stale) is answered too; a new connection never
 * carries credentials before its challenge (the realm has to pass the
 * trust decision on it first). */
static void test_nextnonce_fresh_401_reconnect(void **st) {
  (void)st;
  fx f;
  fx_new(&f, NULL);
  fx_up(&f);
  challenge(&f, NONCE1, 0);
  {
    /* The 200 of ok_with_rspauth with a nextnonce added. */
    creds c;
    get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
    uint8_t ha1[32];
    char rsp[65], cn[80], extra[1024];
    assert_int_equal(imsec_digest_ha1(f.c, IMSEC_HASH_SHA256, S_LIT(IMPI),
                                      S_LIT(HOME),
                                      (imsec_bytes){(const uint8_t *)PASSWORD,
                                                    strlen(PASSWORD)},
                                      ha1, sizeof(ha1)),
                     32);
    assert_true(imsec_digest_rspauth(f.c, &c.p, IMSEC_DIGEST_SHA256,
                                     (imsec_bytes){ha1, 32}, rsp,
                                     sizeof(rsp)) > 0);
    assert_true(imsec_digest_unquote(c.p.cnonce, cn, sizeof(cn)) > 0);
    snprintf(extra, sizeof(extra),
             "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;"
             "expires=600\r\n"
             "Authentication-Info: nextnonce=\"" NONCE2 "\", qop=auth, "
             "rspauth=\"%s\", cnonce=\"%s\", nc=00000001\r\n",
             rsp, cn);
    imsec_sip_msg_free(&c.m);
    answer(&f, 200, "OK", extra);
  }
  assert_int_equal(status(&f).state, IMSEC_UE_REGISTERED);
  f.now = f.timer_at[IMSEC_UE_TIMER_REREG];
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_REREG, f.now, &f.out);
  take(&f);
  creds c;
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.nonce, S_LIT(NONCE2)));
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000001")));
  imsec_sip_msg_free(&c.m);
  /* The S-CSCF no longer knows it: a fresh challenge, answered. */
  challenge(&f, NONCE1, 0);
  assert_int_equal(f.n_send, 1);
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_true(imsec_str_eq(c.p.nonce, S_LIT(NONCE1)));
  assert_true(imsec_str_eq(c.p.nc, S_LIT("00000001")));
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_SHA256, "REGISTER"), 0);
  imsec_sip_msg_free(&c.m);
  ok_with_rspauth(&f, IMSEC_DIGEST_SHA256, 0);
  assert_int_equal(status(&f).registrations, 2);

  /* The flow goes (RFC 5626 §4.5: a new connection at once); the new one
   * starts with empty credentials. */
  uint64_t old_tag = f.tag;
  imsec_ue_on_flow_down(f.ue, FLOW, 0, IMSEC_ERR_IO, f.now, &f.out);
  take(&f);
  assert_true(f.tag != old_tag);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:40002"), &info.local),
                   0);
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:5061"), &info.peer),
                   0);
  info.peer_cert = &f.cert;
  assert_int_equal(imsec_ue_on_flow_up(f.ue, FLOW, f.tag, &info, f.now, &f.out),
                   0);
  take(&f);
  assert_int_equal(f.n_send, 1);
  assert_true(has(f.sent, "REGISTER "));
  assert_true(has(f.sent, "response=\"\""));
  assert_false(has(f.sent, "cnonce"));
  fx_del(&f);
}

static void test_config(void **st) {
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
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:5061"), &cfg.pcscf),
                   0);
  imsec_ue *ue = NULL;
  /* Neither K/OP nor a password. */
  assert_int_equal(imsec_ue_new(&ue, &cfg, c), IMSEC_ERR_CONFIG);
  cfg.password_len = 3;
  memcpy(cfg.password, "pwd", 3);
  assert_int_equal(imsec_ue_new(&ue, &cfg, c), 0);
  imsec_ue_del(ue);
  cfg.password_len = IMSEC_UE_PASSWORD_MAX + 1;
  assert_int_equal(imsec_ue_new(&ue, &cfg, c), IMSEC_ERR_CONFIG);
  cfg.password_len = 3;
  cfg.digest_username = "a\"b";
  assert_int_equal(imsec_ue_new(&ue, &cfg, c), IMSEC_ERR_CONFIG);
  cfg.digest_username = NULL;
  cfg.aka_psk = 1; /* derives from an AKA run */
  assert_int_equal(imsec_ue_new(&ue, &cfg, c), IMSEC_ERR_CONFIG);
  cfg.aka_psk = 0;
  cfg.password_len = 0;
  t_hex("cd63cb71954a9f4e48a5994e37a02baf", cfg.opc, 16);
  cfg.has_opc = 1;
  assert_int_equal(imsec_ue_new(&ue, &cfg, c), 0); /* an ISIM UE */
  imsec_ue_del(ue);
  cfg.digest_username = USER; /* without a password */
  assert_int_equal(imsec_ue_new(&ue, &cfg, c), IMSEC_ERR_CONFIG);
  imsec_crypto_del(c);
}

/* SIP Digest over plain TCP (a load generator's, allow_plain): a TCP
 * CONNECT with no server name and no TLS profile, Via and Contact say
 * TCP, no certificate is asked for, the registration completes; the
 * realm is still checked; and TCP needs allow_plain and a password. */
static void test_plain_tcp(void **st) {
  (void)st;
  fx f;
  opts o = {.plain = 1};
  fx_new(&f, &o);
  fx_up(&f);
  assert_int_equal(f.connect_to.tp, IMSEC_TP_TCP);
  assert_int_equal(f.connect_to.port, 5060);
  assert_string_equal(f.connect_name, "");
  assert_false(f.connect_tls);
  assert_true(has(f.sent, "Via: SIP/2.0/TCP "));
  assert_true(has(f.sent, ";transport=tcp;ob>"));
  assert_false(has(f.sent, "transport=tls"));
  assert_false(has(f.sent, "Security-Client"));
  challenge(&f, NONCE1, 0);
  assert_int_equal(f.n_send, 1);
  creds c;
  get_creds(&f, IMSEC_SIP_H_AUTHORIZATION, &c);
  assert_int_equal(verify(&c, f.c, IMSEC_DIGEST_SHA256, "REGISTER"), 0);
  imsec_sip_msg_free(&c.m);
  ok_with_rspauth(&f, IMSEC_DIGEST_SHA256, 0);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.challenges, 1);
  fx_del(&f);

  /* Another realm's challenge: refused, nothing answered, as over TLS. */
  fx_new(&f, &o);
  fx_up(&f);
  char extra[1024] = "";
  chal(extra, sizeof(extra), "WWW-Authenticate", "MD5",
       "ims.mnc002.mcc001.3gppnetwork.org", NONCE1, NULL);
  answer(&f, 401, "Unauthorized", extra);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(f.n_close, 1);
  s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_REFUSED);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_REJECTED);
  assert_int_equal(s.trust.reason, IMSEC_TRUST_REALM_MISMATCH);
  fx_del(&f);

  /* Configuration: TCP without allow_plain, allow_plain without a
   * password (an ISIM UE stays on TLS), or with a PSK. */
  imsec_crypto *c2;
  assert_int_equal(imsec_crypto_ossl_new(&c2), 0);
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = IMPI;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = TD;
  memcpy(cfg.password, "pwd", 3);
  cfg.password_len = 3;
  assert_int_equal(imsec_addr_parse(S_LIT("tcp:127.0.0.1:5060"), &cfg.pcscf),
                   0);
  imsec_ue *ue = NULL;
  assert_int_equal(imsec_ue_new(&ue, &cfg, c2), IMSEC_ERR_CONFIG);
  cfg.allow_plain = 1;
  assert_int_equal(imsec_ue_new(&ue, &cfg, c2), 0);
  imsec_ue_del(ue);
  cfg.psk_identity = "id";
  cfg.psk[0] = 1;
  cfg.psk_len = 16;
  assert_int_equal(imsec_ue_new(&ue, &cfg, c2), IMSEC_ERR_CONFIG);
  cfg.psk_len = 0;
  cfg.password_len = 0;
  t_hex("cd63cb71954a9f4e48a5994e37a02baf", cfg.opc, 16);
  cfg.has_opc = 1;
  assert_int_equal(imsec_ue_new(&ue, &cfg, c2), IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_addr_parse(S_LIT("tls:127.0.0.1:5061"), &cfg.pcscf),
                   0);
  assert_int_equal(imsec_ue_new(&ue, &cfg, c2), IMSEC_ERR_CONFIG);
  cfg.allow_plain = 0;
  assert_int_equal(imsec_ue_new(&ue, &cfg, c2), 0); /* the ISIM UE on TLS */
  imsec_ue_del(ue);
  imsec_crypto_del(c2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_sha256),
      cmocka_unit_test(test_md5_and_username),
      cmocka_unit_test(test_rereg_nonce_reuse_and_stale),
      cmocka_unit_test(test_rspauth_mismatch),
      cmocka_unit_test(test_scheme_refusals),
      cmocka_unit_test(test_realm_trust),
      cmocka_unit_test(test_403_forgets_nonce),
      cmocka_unit_test(test_message_407),
      cmocka_unit_test(test_invite_407),
      cmocka_unit_test(test_nextnonce_fresh_401_reconnect),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_plain_tcp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
