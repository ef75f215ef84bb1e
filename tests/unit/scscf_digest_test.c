/* lib/scscf: SIP Digest registration (TS 33.203 Annexes N, O, P.4; RFC
 * 7616, RFC 8760) driven with crafted SIP through the S-CSCF's event
 * functions and a virtual clock: the two challenges, both algorithms,
 * forged, expired and stale nonces, nc replay, a wrong password (403) to
 * lockout, rspauth, the username forms, the first REGISTER without
 * Authorization, the scheme chosen by the HSS record, and the
 * registration record's digest mark. */
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

#define DOM "ims.example.org"
#define IMPI_D "alice@" DOM
#define IMPU_D "sip:alice@" DOM
#define PW "correct horse battery"
#define IMPI_R "carol@" DOM /* a digest subscriber with a realm of its own */
#define IMPU_R "sip:carol@" DOM
#define REALM_R "other.example.net"
#define IMPI_A "001010000000001@" DOM /* an IMS AKA subscriber */
#define IMPU_A "sip:001010000000001@" DOM
#define K1 "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC1 "cd63cb71954a9f4e48a5994e37a02baf"
#define PCSCF_FLOW 7
#define CONTACT "<sip:alice@10.0.0.1:5061;transport=tls>;expires=600"

typedef struct fx {
  imsec_crypto *c;
  imsec_hss_store *st;
  imsec_hss *h;
  imsec_scscf *s;
  imsec_scscf_config cfg;
  imsec_out out;
  imsec_time_ms now;
  unsigned cseq;
  char last[65536];
  char nonce[128];
  char realm[128];
  int stale;
  int n_www;
  char algs[2][16];
  imsec_flow_info ti;
  int up;
  const char *path; /* a Path for the next REGISTERs; NULL none */
  imsec_reg_store *rs;
  imsec_svc *svc;
  elem_pump pump;
} fx;

static int64_t fx_wall(void *arg) {
  return ((fx *)arg)->now;
}

static void add_digest(fx *f, const char *impi, const char *impu,
                       const char *realm) {
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  strcpy(s.impi, impi);
  strcpy(s.impus[0], impu);
  s.n_impus = 1;
  assert_int_equal(
      imsec_hss_digest_set(&s, f->c, imsec_str_c(realm),
                           (imsec_bytes){(const uint8_t *)PW, strlen(PW)}),
      0);
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
  imsec_hss_sub_wipe(&s);
}

static void add_aka(fx *f) {
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  strcpy(s.impi, IMPI_A);
  strcpy(s.impus[0], IMPU_A);
  s.n_impus = 1;
  t_hex(K1, s.k, 16);
  t_hex(OPC1, s.op, 16);
  s.op_is_opc = 1;
  s.amf[0] = 0x80;
  s.aka = IMSEC_HSS_AKAV1;
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
}

static void start(fx *f) {
  imsec_scscf_del(f->s);
  f->s = NULL;
  assert_int_equal(imsec_scscf_new(&f->s, &f->cfg, f->c), 0);
  elem_pump_free(&f->pump);
  elem_pump_init(&f->pump, &imsec_scscf_ops, f->s, f->svc);
  f->up = 0;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  if (!f || imsec_crypto_ossl_new(&f->c) || imsec_hss_mem_new(&f->st) ||
      imsec_hss_new(&f->h, f->st, f->c, NULL) || imsec_reg_mem_new(&f->rs))
    return -1;
  add_digest(f, IMPI_D, IMPU_D, "");
  add_digest(f, IMPI_R, IMPU_R, REALM_R);
  add_aka(f);
  imsec_svc_local_config lc = {
      .hss = f->h, .reg = f->rs, .wall_ms = fx_wall, .wall_arg = f};
  if (imsec_svc_local_new(&f->svc, &lc))
    return -1;
  static const char *const addrs[] = {"127.0.0.1"};
  f->cfg = (imsec_scscf_config){.domain = DOM,
                                .insecure_core = 1,
                                .peer_addrs = addrs,
                                .n_peer_addrs = 1};
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &f->cfg.self))
    return -1;
  f->ti.tp = IMSEC_TP_TCP;
  f->ti.inbound = 1;
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:5070"), &f->ti.peer) ||
      imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &f->ti.local))
    return -1;
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  f->now = 1000000;
  f->cseq = 1;
  start(f);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  imsec_scscf_del(f->s);
  imsec_out_free(&f->out);
  elem_pump_free(&f->pump);
  imsec_svc_del(f->svc);
  imsec_reg_store_del(f->rs);
  imsec_hss_del(f->h);
  imsec_hss_store_del(f->st);
  imsec_crypto_del(f->c);
  free(f);
  return 0;
}

static unsigned status_of(const char *msg) {
  unsigned st = 0;
  return sscanf(msg, "SIP/2.0 %u", &st) == 1 ? st : 0;
}

/* Deliver `msg` from the P-CSCF; the last SEND in f->last. */
static unsigned deliver(fx *f, const char *msg) {
  if (!f->up) {
    assert_int_equal(
        imsec_scscf_on_flow_up(f->s, PCSCF_FLOW, 0, &f->ti, f->now, &f->out),
        0);
    f->up = 1;
  }
  imsec_out_clear(&f->out);
  size_t from = f->out.n;
  imsec_scscf_on_message(f->s, PCSCF_FLOW, (const uint8_t *)msg, strlen(msg),
                         f->now, &f->out);
  f->pump.self = f->s;
  elem_pump_run(&f->pump, &f->out, from, f->now);
  assert_int_equal(imsec_out_err(&f->out), 0);
  if (getenv("DGDEBUG"))
    for (size_t i = 0; i < f->out.n; i++)
      if (f->out.acts[i].kind == IMSEC_ACT_LOG)
        fprintf(stderr, "log: %.*s\n", (int)f->out.acts[i].len,
                (const char *)f->out.acts[i].data);
  f->last[0] = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    imsec_act *a = &f->out.acts[i];
    if (a->kind == IMSEC_ACT_SEND) {
      assert_true(a->len < sizeof(f->last));
      memcpy(f->last, a->data, a->len);
      f->last[a->len] = 0;
    }
  }
  return status_of(f->last);
}

static int logged(fx *f, const char *what) {
  for (size_t i = 0; i < f->out.n; i++) {
    imsec_act *a = &f->out.acts[i];
    if (a->kind == IMSEC_ACT_LOG && a->data &&
        strstr((const char *)a->data, what))
      return 1;
  }
  return 0;
}

/* A REGISTER as the P-CSCF forwards it; `auth` NULL: no Authorization. */
static const char *reg_msg(fx *f, const char *impu, const char *auth) {
  static char buf[8192];
  snprintf(buf, sizeof(buf),
           "REGISTER sip:" DOM " SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKp%u\r\n"
           "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKu%u;rport\r\n"
           "Max-Forwards: 69\r\n"
           "From: <%s>;tag=f1\r\nTo: <%s>\r\n"
           "Call-ID: dg-1\r\nCSeq: %u REGISTER\r\n"
           "Contact: " CONTACT "\r\n"
           "%s%s%s%s%s%s"
           "Content-Length: 0\r\n\r\n",
           f->cseq, f->cseq, impu, impu, f->cseq, auth ? "Authorization: " : "",
           auth ? auth : "", auth ? "\r\n" : "", f->path ? "Path: " : "",
           f->path ? f->path : "", f->path ? "\r\n" : "");
  f->cseq++;
  return buf;
}

/* The two WWW-Authenticate of the 401 in f->last. */
static void take_challenges(fx *f) {
  assert_int_equal(status_of(f->last), 401);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, f->last, strlen(f->last), 1), 0);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  f->n_www = 0;
  f->stale = 0;
  char nonce0[128] = "";
  while (imsec_sip_auth_next(&m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &raw) ==
         1) {
    assert_true(f->n_www < 2);
    imsec_digest_params p;
    assert_int_equal(imsec_digest_parse_challenge(raw, &p), 0);
    assert_true(imsec_digest_unquote(p.realm, f->realm, sizeof(f->realm)) > 0);
    assert_true(imsec_digest_unquote(p.nonce, f->nonce, sizeof(f->nonce)) > 0);
    assert_true(imsec_digest_qop_has(p.qop, "auth"));
    assert_true(p.present & IMSEC_DIGEST_P_OPAQUE);
    assert_true(p.algorithm.len < sizeof(f->algs[0]));
    memcpy(f->algs[f->n_www], p.algorithm.p, p.algorithm.len);
    f->algs[f->n_www][p.algorithm.len] = 0;
    if (f->n_www)
      assert_string_equal(nonce0, f->nonce); /* one nonce for both */
    strcpy(nonce0, f->nonce);
    if (p.present & IMSEC_DIGEST_P_STALE)
      f->stale = 1;
    f->n_www++;
  }
  assert_int_equal(f->n_www, 2);
  /* RFC 8760 §3: the preferred algorithm first. */
  assert_string_equal(f->algs[0], "SHA-256");
  assert_string_equal(f->algs[1], "MD5");
  imsec_sip_msg_free(&m);
}

/* Credentials for the last challenge, for `method` and `uri`. */
static const char *creds_for(fx *f, const char *method, const char *uri,
                             const char *user, const char *pw,
                             imsec_digest_alg alg, const char *nc,
                             const char *nonce) {
  static char b[1024];
  char resp[80];
  imsec_digest_input in = {
      .hash = imsec_digest_alg_hash(alg),
      .username = imsec_str_c(user),
      .realm = imsec_str_c(f->realm),
      .password = {(const uint8_t *)pw, strlen(pw)},
      .method = imsec_str_c(method),
      .uri = imsec_str_c(uri),
      .nonce = imsec_str_c(nonce ? nonce : f->nonce),
      .qop = IMSEC_DIGEST_QOP_AUTH,
      .nc = imsec_str_c(nc),
      .cnonce = imsec_str_c("c0ffee42"),
  };
  assert_true(imsec_digest_response(f->c, &in, resp, sizeof(resp)) > 0);
  snprintf(b, sizeof(b),
           "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", "
           "uri=\"%s\", response=\"%s\", algorithm=%s, qop=auth, "
           "nc=%s, cnonce=\"c0ffee42\", opaque=\"x\", "
           "integrity-protected=\"tls-pending\"",
           user, f->realm, nonce ? nonce : f->nonce, uri, resp,
           imsec_digest_alg_name(alg), nc);
  return b;
}

static const char *creds(fx *f, const char *user, const char *pw,
                         imsec_digest_alg alg, const char *nc,
                         const char *nonce) {
  return creds_for(f, "REGISTER", "sip:" DOM, user, pw, alg, nc, nonce);
}

/* The first REGISTER (no Authorization) and its 401. */
static void first(fx *f, const char *impu) {
  assert_int_equal(deliver(f, reg_msg(f, impu, NULL)), 401);
  take_challenges(f);
}

/* The rspauth the 200 in f->last must carry. */
static void check_rspauth(fx *f, const char *user, imsec_digest_alg alg,
                          const char *nc) {
  const char *ai = strstr(f->last, "Authentication-Info: ");
  assert_non_null(ai);
  char want[80];
  imsec_digest_input in = {
      .hash = imsec_digest_alg_hash(alg),
      .username = imsec_str_c(user),
      .realm = imsec_str_c(f->realm),
      .password = {(const uint8_t *)PW, strlen(PW)},
      .method = imsec_str_c(""),
      .uri = imsec_str_c("sip:" DOM),
      .nonce = imsec_str_c(f->nonce),
      .qop = IMSEC_DIGEST_QOP_AUTH,
      .nc = imsec_str_c(nc),
      .cnonce = imsec_str_c("c0ffee42"),
  };
  assert_true(imsec_digest_response(f->c, &in, want, sizeof(want)) > 0);
  char line[400];
  snprintf(line, sizeof(line),
           "Authentication-Info: qop=auth, rspauth=\"%s\", "
           "cnonce=\"c0ffee42\", nc=%s\r\n",
           want, nc);
  assert_non_null(strstr(f->last, line));
}

/* ------------------------------------------------------------ tests */

static void register_sha256(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  assert_false(f->stale);
  assert_string_equal(f->realm, DOM); /* the IMPI's domain by default */
  assert_null(strstr(f->last, ", ck="));
  /* Stateless: no challenge is kept. */
  assert_int_equal(imsec_scscf_challenges(f->s), 0);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
  check_rspauth(f, IMPI_D, IMSEC_DIGEST_SHA256, "00000001");
  assert_int_equal(imsec_scscf_contacts(f->s, imsec_str_c(IMPU_D)), 1);
  assert_non_null(strstr(f->last, "P-Associated-URI: <" IMPU_D ">"));
}

static void register_md5(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  check_rspauth(f, IMPI_D, IMSEC_DIGEST_MD5, "00000001");
}

/* --digest-algorithms MD5: one challenge, for phones that give up on an
 * algorithm they lack; SHA-256 credentials are then refused. */
static void md5_only(void **state) {
  fx *f = *state;
  f->cfg.digest_algs = IMSEC_SCSCF_DIGEST_MD5;
  start(f);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D, NULL)), 401);
  const char *w = strstr(f->last, "WWW-Authenticate: ");
  assert_non_null(w);
  assert_null(strstr(w + 1, "WWW-Authenticate: "));
  assert_non_null(strstr(w, "algorithm=MD5"));
  assert_null(strstr(f->last, "SHA-256"));
  const char *n = strstr(w, "nonce=\"");
  assert_non_null(n);
  n += 7;
  const char *end = strchr(n, '"');
  assert_non_null(end);
  memcpy(f->nonce, n, (size_t)(end - n));
  f->nonce[end - n] = 0;
  strcpy(f->realm, DOM);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   403);
  assert_true(logged(f, "algorithm not offered"));
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  check_rspauth(f, IMPI_D, IMSEC_DIGEST_MD5, "00000001");
  /* A reload's setter: a bad value changes nothing, a good one applies. */
  imsec_scscf_config rc = {.digest_algs = 8};
  assert_int_equal(imsec_scscf_set_digest(f->s, &rc), IMSEC_ERR_CONFIG);
  rc = (imsec_scscf_config){.digest_username = 7};
  assert_int_equal(imsec_scscf_set_digest(f->s, &rc), IMSEC_ERR_CONFIG);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D, NULL)), 401);
  assert_null(strstr(f->last, "SHA-256"));
  rc = (imsec_scscf_config){0};
  assert_int_equal(imsec_scscf_set_digest(f->s, &rc), 0);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D, NULL)), 401);
  take_challenges(f); /* SHA-256 and MD5 again */
  unsigned a = 0;
  assert_int_equal(
      imsec_scscf_digest_algs_parse(imsec_str_c("md5, SHA-256"), &a), 0);
  assert_int_equal(a, IMSEC_SCSCF_DIGEST_MD5 | IMSEC_SCSCF_DIGEST_SHA256);
  assert_int_equal(imsec_scscf_digest_algs_parse(imsec_str_c("MD5,MD5"), &a),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_scscf_digest_algs_parse(imsec_str_c("MD5,"), &a),
                   IMSEC_ERR_PARSE);
  assert_int_equal(
      imsec_scscf_digest_algs_parse(imsec_str_c("SHA-512-256"), &a),
      IMSEC_ERR_PARSE);
}

static void wrong_password_403(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  assert_int_equal(
      deliver(f, reg_msg(f, IMPU_D,
                         creds(f, IMPI_D, "guess", IMSEC_DIGEST_SHA256,
                               "00000001", NULL))),
      403);
  assert_true(logged(f, "response wrong"));
  assert_int_equal(imsec_scscf_contacts(f->s, imsec_str_c(IMPU_D)), 0);
  /* The right password on the same nonce still works (a wrong response
   * consumes no nc). */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
}

static void lockout(void **state) {
  fx *f = *state;
  f->cfg.impi_failure_limit = 3;
  start(f);
  first(f, IMPU_D);
  char nc[9];
  for (unsigned i = 1; i <= 3; i++) {
    snprintf(nc, sizeof(nc), "%08x", i);
    assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                        creds(f, IMPI_D, "guess",
                                              IMSEC_DIGEST_MD5, nc, NULL))),
                     403);
  }
  assert_true(logged(f, "IMPI locked"));
  /* Locked: even the right password is refused from this source. */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000004", NULL))),
                   403);
  assert_int_equal(imsec_scscf_contacts(f->s, imsec_str_c(IMPU_D)), 0);
  /* After the lockout a new challenge and the right password work. */
  f->now += 300000 + 1000;
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
}

static void forged_nonce(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  char forged[128];
  strcpy(forged, f->nonce);
  forged[12] = forged[12] == 'A' ? 'B' : 'A'; /* the MAC no longer fits */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", forged))),
                   401);
  take_challenges(f);
  assert_false(f->stale);
  /* Not a nonce at all. */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", "abc"))),
                   401);
  take_challenges(f);
  assert_false(f->stale);
  /* Another subscriber's nonce (bound to its IMPI by the MAC). */
  char other[128];
  strcpy(other, f->nonce);
  first(f, IMPU_R);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_R,
                                      creds(f, IMPI_R, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_R,
                                      creds(f, IMPI_R, PW, IMSEC_DIGEST_MD5,
                                            "00000001", other))),
                   401);
}

static void expired_nonce_stale(void **state) {
  fx *f = *state;
  f->cfg.digest_nonce_ms = 10000;
  start(f);
  first(f, IMPU_D);
  f->now += 10000;
  /* The password is right, only the nonce is old: stale=true. */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   401);
  char old[128];
  strcpy(old, f->nonce);
  take_challenges(f);
  assert_true(f->stale);
  assert_string_not_equal(old, f->nonce);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
  /* An old nonce with a wrong password is a failure, not stale. */
  f->now += 10000;
  assert_int_equal(
      deliver(f, reg_msg(f, IMPU_D,
                         creds(f, IMPI_D, "guess", IMSEC_DIGEST_SHA256,
                               "00000002", NULL))),
      403);
}

/* RFC 7616 §3.5: past half its life a nonce is replaced by the 200's
 * nextnonce, which the next refresh uses from nc 1 without a 401. */
static void nextnonce_past_half_life(void **state) {
  fx *f = *state;
  f->cfg.digest_nonce_ms = 10000;
  start(f);
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
  assert_null(strstr(f->last, "nextnonce"));
  f->now += 6000;
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000002", NULL))),
                   200);
  const char *nn = strstr(f->last, ", nextnonce=\"");
  assert_non_null(nn);
  nn += strlen(", nextnonce=\"");
  const char *end = strchr(nn, '"');
  assert_non_null(end);
  char old[128];
  strcpy(old, f->nonce);
  memcpy(f->nonce, nn, (size_t)(end - nn));
  f->nonce[end - nn] = 0;
  assert_string_not_equal(old, f->nonce);
  f->now += 4500; /* the first nonce is dead by now, the next one lives */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
  check_rspauth(f, IMPI_D, IMSEC_DIGEST_SHA256, "00000001");
}

static void nc_replay(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  const char *a = creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256, "00000001", NULL);
  char saved[1024];
  strcpy(saved, a);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D, saved)), 200);
  /* The same credentials again: a replay. */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D, saved)), 403);
  assert_true(logged(f, "nc replayed"));
  /* The nonce reused with nc + 1 (a softphone's re-REGISTER). */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000002", NULL))),
                   200);
  check_rspauth(f, IMPI_D, IMSEC_DIGEST_SHA256, "00000002");
  /* A lower nc after a higher one. */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   403);
}

/* A re-REGISTER with the same nonce and the next nc is checked against
 * the H(A1) kept with the nonce, without asking the HSS again, for a few
 * seconds; a wrong response is still refused with it, and after those
 * seconds the HSS is asked again. */
static void ha1_kept_with_nonce(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  size_t asked = f->pump.n_req[IMSEC_SVC_HSS_DIGEST];
  assert_true(asked >= 1);
  f->now += 1000;
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000002", NULL))),
                   200);
  check_rspauth(f, IMPI_D, IMSEC_DIGEST_MD5, "00000002");
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_DIGEST], asked);
  assert_int_equal(
      deliver(f, reg_msg(f, IMPU_D,
                         creds(f, IMPI_D, "guess", IMSEC_DIGEST_MD5, "00000003",
                               NULL))),
      403);
  assert_true(logged(f, "response wrong"));
  /* Another algorithm's H(A1) is not the one kept. */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000003", NULL))),
                   200);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_DIGEST], asked + 1);
  f->now += 5000;
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000004", NULL))),
                   200);
  assert_int_equal(f->pump.n_req[IMSEC_SVC_HSS_DIGEST], asked + 2);
}

static void nc_table_bounded(void **state) {
  fx *f = *state;
  f->cfg.max_digest_nonces = 1;
  start(f);
  first(f, IMPU_D);
  char n1[128];
  strcpy(n1, f->nonce);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  f->now += 1;
  first(f, IMPU_R);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_R,
                                      creds(f, IMPI_R, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  /* n1's entry was evicted: its replay is not taken as fresh. */
  strcpy(f->realm, DOM);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", n1))),
                   401);
  take_challenges(f);
  assert_true(f->stale);
}

static void username_forms(void **state) {
  fx *f = *state;
  /* "alice" names alice@<our domain>, with the H(A1) of that username. */
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, "alice", PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
  check_rspauth(f, "alice", IMSEC_DIGEST_SHA256, "00000001");
  /* digest_username impi: the user part alone is nobody. */
  f->cfg.digest_username = IMSEC_SCSCF_DIGEST_USER_IMPI;
  start(f);
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, "alice", PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   403);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
  /* digest_username user: the whole IMPI is refused. */
  f->cfg.digest_username = IMSEC_SCSCF_DIGEST_USER_PART;
  start(f);
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   403);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, "alice", PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
  /* The parser of the option. */
  int v = -1;
  assert_int_equal(imsec_scscf_digest_user_parse(imsec_str_c("user"), &v), 0);
  assert_int_equal(v, IMSEC_SCSCF_DIGEST_USER_PART);
  assert_int_equal(imsec_scscf_digest_user_parse(imsec_str_c("impi"), &v), 0);
  assert_int_equal(v, IMSEC_SCSCF_DIGEST_USER_IMPI);
  assert_int_equal(imsec_scscf_digest_user_parse(imsec_str_c("any"), &v), 0);
  assert_int_equal(v, IMSEC_SCSCF_DIGEST_USER_ANY);
  assert_int_equal(imsec_scscf_digest_user_parse(imsec_str_c("x"), &v),
                   IMSEC_ERR_PARSE);
}

static void own_realm(void **state) {
  fx *f = *state;
  first(f, IMPU_R);
  assert_string_equal(f->realm, REALM_R);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_R,
                                      creds(f, IMPI_R, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  /* Credentials for our domain's realm do not fit its H(A1): a new
   * challenge in its realm. */
  strcpy(f->realm, DOM);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_R,
                                      creds(f, IMPI_R, PW, IMSEC_DIGEST_MD5,
                                            "00000002", NULL))),
                   401);
  take_challenges(f);
  assert_string_equal(f->realm, REALM_R);
}

static void scheme_by_hss(void **state) {
  fx *f = *state;
  /* An IMS AKA subscriber gets an AKA challenge, one header. */
  assert_int_equal(deliver(f, reg_msg(f, IMPU_A, NULL)), 401);
  assert_non_null(strstr(f->last, "algorithm=AKAv1-MD5"));
  assert_null(strstr(f->last, "SHA-256"));
  /* A SIP Digest subscriber never gets one, whatever it sends. */
  assert_int_equal(
      deliver(f, reg_msg(f, IMPU_D,
                         "Digest username=\"" IMPI_D "\",realm=\"" DOM
                         "\",nonce=\"\",uri=\"sip:" DOM "\",response=\"\","
                         "algorithm=AKAv1-MD5,"
                         "integrity-protected=\"tls-pending\"")),
      401);
  take_challenges(f);
  assert_null(strstr(f->last, "AKAv1"));
}

static void needs_tls_mark(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  char a[1024];
  strcpy(a, creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5, "00000001", NULL));
  char *mark = strstr(a, ", integrity-protected");
  assert_non_null(mark);
  *mark = 0;
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D, a)), 403);
  assert_true(logged(f, "integrity-protected"));
}

static int digest_of(void *arg, const imsec_reg_record *r) {
  if (r->impi && strcmp(r->impi, IMPI_D) == 0)
    *(int *)arg = r->digest;
  return 0;
}

static void record_marks_digest(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  /* A restart: the record comes back from the store with its mark. */
  start(f);
  imsec_out_clear(&f->out);
  imsec_scscf_start(f->s, f->now, &f->out);
  f->pump.self = f->s;
  elem_pump_run(&f->pump, &f->out, 0, f->now);
  assert_int_equal(imsec_scscf_contacts(f->s, imsec_str_c(IMPU_D)), 1);
  /* The store holds digest = 1 for it, and saving it again (a refresh
   * after the restart) keeps it. */
  int mark = -1;
  assert_int_equal(f->rs->vt->load(f->rs, f->now, digest_of, &mark), 0);
  assert_int_equal(mark, 1);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000002", NULL))),
                   401); /* the key changed with the restart */
  take_challenges(f);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  mark = -1;
  assert_int_equal(f->rs->vt->load(f->rs, f->now, digest_of, &mark), 0);
  assert_int_equal(mark, 1);
}

/* An originating MESSAGE of alice (asserted by the P-CSCF) to the IMS
 * AKA subscriber, who is not registered (480 once it passes). */
static const char *message_to(fx *f, const char *to, const char *pauth) {
  static char buf[4096];
  snprintf(buf, sizeof(buf),
           "MESSAGE %s SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKpm%u\r\n"
           "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKum%u;rport\r\n"
           "Max-Forwards: 69\r\n"
           "Route: <sip:orig@127.0.0.1:6060;transport=tcp;lr>\r\n"
           "P-Asserted-Identity: <" IMPU_D ">\r\n"
           "From: <" IMPU_D ">;tag=m1\r\nTo: <%s>\r\n"
           "Call-ID: msg-%u\r\nCSeq: 1 MESSAGE\r\n"
           "%s%s%s"
           "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
           to, f->cseq, f->cseq, to, f->cseq,
           pauth ? "Proxy-Authorization: " : "", pauth ? pauth : "",
           pauth ? "\r\n" : "");
  f->cseq++;
  return buf;
}

static const char *message(fx *f, const char *pauth) {
  return message_to(f, IMPU_A, pauth);
}

static void registered_alice(fx *f) {
  first(f, IMPU_D);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                                            "00000001", NULL))),
                   200);
}

static void proxy_auth_off(void **state) {
  fx *f = *state;
  registered_alice(f);
  /* Annex Q: the P-CSCF's assertion is enough by default. */
  assert_int_equal(deliver(f, message(f, NULL)), 480);
}

static void proxy_auth_407(void **state) {
  fx *f = *state;
  f->cfg.digest_proxy_auth = 1;
  start(f);
  registered_alice(f);
  assert_int_equal(deliver(f, message(f, NULL)), 407);
  assert_non_null(
      strstr(f->last, "Proxy-Authenticate: Digest realm=\"" DOM "\""));
  assert_null(strstr(f->last, "WWW-Authenticate"));
  /* The nonce of the 407 (two Proxy-Authenticate, SHA-256 first). */
  const char *na = strstr(f->last, "nonce=\"");
  assert_non_null(na);
  na += 7;
  size_t nl = strcspn(na, "\"");
  memcpy(f->nonce, na, nl);
  f->nonce[nl] = 0;
  const char *sha = strstr(f->last, "algorithm=SHA-256");
  const char *md5 = strstr(f->last, "algorithm=MD5");
  assert_true(sha && md5 && sha < md5);
  char a[1024];
  strcpy(a, creds_for(f, "MESSAGE", IMPU_A, IMPI_D, PW, IMSEC_DIGEST_SHA256,
                      "00000001", NULL));
  assert_int_equal(deliver(f, message(f, a)), 480);
  assert_true(logged(f, "MESSAGE alice@" DOM ": SIP Digest SHA-256"));
  /* The same credentials again: a replay. */
  assert_int_equal(deliver(f, message(f, a)), 403);
  /* nc + 1 on the same nonce. */
  assert_int_equal(
      deliver(f, message(f, creds_for(f, "MESSAGE", IMPU_A, IMPI_D, PW,
                                      IMSEC_DIGEST_MD5, "00000002", NULL))),
      480);
  /* A wrong password, or the credentials of a REGISTER (another method). */
  assert_int_equal(
      deliver(f, message(f, creds_for(f, "MESSAGE", IMPU_A, IMPI_D, "guess",
                                      IMSEC_DIGEST_MD5, "00000003", NULL))),
      403);
  assert_int_equal(
      deliver(f, message(f, creds_for(f, "REGISTER", IMPU_A, IMPI_D, PW,
                                      IMSEC_DIGEST_MD5, "00000004", NULL))),
      403);
  /* Another subscriber's credentials. */
  assert_int_equal(
      deliver(f, message(f, creds_for(f, "MESSAGE", IMPU_A, "carol", PW,
                                      IMSEC_DIGEST_MD5, "00000005", NULL))),
      403);
  assert_true(logged(f, "Proxy-Authorization of another user"));
}

/* Right credentials end at the S-CSCF (RFC 3261 §22.3): the request goes
 * on to the registered target without them, still asserted. */
static void proxy_auth_forwarded(void **state) {
  fx *f = *state;
  f->cfg.digest_proxy_auth = 1;
  start(f);
  f->path = "<sip:tok@127.0.0.1:5070;transport=tcp;lr>";
  first(f, IMPU_R);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_R,
                                      creds(f, IMPI_R, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   200);
  registered_alice(f);
  deliver(f, message_to(f, IMPU_R, NULL));
  assert_int_equal(status_of(f->last), 407);
  const char *na = strstr(f->last, "nonce=\"") + 7;
  size_t nl = strcspn(na, "\"");
  memcpy(f->nonce, na, nl);
  f->nonce[nl] = 0;
  strcpy(f->realm, DOM);
  deliver(f, message_to(f, IMPU_R,
                        creds_for(f, "MESSAGE", IMPU_R, IMPI_D, PW,
                                  IMSEC_DIGEST_SHA256, "00000001", NULL)));
  const imsec_act *c = NULL;
  for (size_t i = 0; i < f->out.n && !c; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_CONNECT)
      c = &f->out.acts[i];
  assert_non_null(c);
  uint64_t tag = c->tag;
  imsec_out_clear(&f->out);
  assert_int_equal(
      imsec_scscf_on_flow_up(f->s, 100, tag, &f->ti, f->now, &f->out), 0);
  const imsec_act *sa = NULL;
  for (size_t i = 0; i < f->out.n && !sa; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_SEND)
      sa = &f->out.acts[i];
  assert_non_null(sa);
  char fwd[8192];
  assert_true(sa->len < sizeof(fwd));
  memcpy(fwd, sa->data, sa->len);
  fwd[sa->len] = 0;
  assert_true(strncmp(fwd, "MESSAGE sip:alice@10.0.0.1", 26) == 0);
  assert_null(strstr(fwd, "Proxy-Authorization"));
  assert_non_null(strstr(fwd, "P-Asserted-Identity: <" IMPU_D ">"));
}

/* Credentials that cannot be checked for replay or were not offered are
 * failures (403), not new challenges. */
static void refused_forms(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  char a[1024];
  /* No qop (RFC 2069 form): no nc, so no replay check. */
  strcpy(a, creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5, "00000001", NULL));
  char *q = strstr(a, " qop=auth,");
  assert_non_null(q);
  memmove(q, q + 10, strlen(q + 10) + 1);
  q = strstr(a, " nc=00000001,");
  memmove(q, q + 13, strlen(q + 13) + 1);
  q = strstr(a, " cnonce=\"c0ffee42\",");
  memmove(q, q + 19, strlen(q + 19) + 1);
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D, a)), 403);
  assert_true(logged(f, "without qop=auth"));
  /* An algorithm not offered. */
  strcpy(a, creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5, "00000001", NULL));
  q = strstr(a, "algorithm=MD5");
  memcpy(q, "algorithm=AKAv1-MD5", 19);
  strcpy(q + 19,
         strstr(creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5, "00000001", NULL),
                ", qop"));
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D, a)), 403);
  assert_true(logged(f, "algorithm not offered"));
}

/* The HSS answers late (a worker thread): the REGISTER waits for the
 * record, then for the H(A1)s, and is answered when they come. */
static void hss_answers_late(void **state) {
  fx *f = *state;
  first(f, IMPU_D);
  f->pump.mode = ELEM_PUMP_HOLD;
  assert_int_equal(deliver(f, reg_msg(f, IMPU_D,
                                      creds(f, IMPI_D, PW, IMSEC_DIGEST_MD5,
                                            "00000001", NULL))),
                   0);
  unsigned st = 0;
  for (int i = 0; i < 4 && !st; i++) {
    assert_true(f->pump.nheld > 0);
    imsec_out_clear(&f->out);
    assert_int_equal(elem_pump_release(&f->pump, 0, &f->out, f->now), 0);
    for (size_t k = 0; k < f->out.n; k++)
      if (f->out.acts[k].kind == IMSEC_ACT_SEND)
        st = status_of((const char *)f->out.acts[k].data);
  }
  assert_int_equal(st, 200);
  assert_true(f->pump.n_req[IMSEC_SVC_HSS_DIGEST] >= 1);
  assert_int_equal(imsec_scscf_contacts(f->s, imsec_str_c(IMPU_D)), 1);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(register_sha256),
      T(md5_only),
      T(register_md5),
      T(wrong_password_403),
      T(lockout),
      T(forged_nonce),
      T(expired_nonce_stale),
      T(nextnonce_past_half_life),
      T(nc_replay),
      T(ha1_kept_with_nonce),
      T(nc_table_bounded),
      T(username_forms),
      T(own_realm),
      T(scheme_by_hss),
      T(needs_tls_mark),
      T(record_marks_digest),
      T(proxy_auth_off),
      T(proxy_auth_407),
      T(proxy_auth_forwarded),
      T(refused_forms),
      T(hss_answers_late),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
