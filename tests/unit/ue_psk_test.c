/* lib/ue/psk.c: mode M3 at the UE. A configured PSK is offered on
 * CONNECT; a flow that comes up on it carries no certificate and is taken
 * on the key, the realm of the challenge still has to be the home domain.
 * With aka_psk the PSK derived from the AKA run (include/imsec/kdf.h) is
 * offered on a reconnection and a flow on it continues the registration
 * without a REGISTER. The network side is played with lib/aka vectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/aka.h"
#include "imsec/crypto_ossl.h"
#include "imsec/digest.h"
#include "imsec/kdf.h"
#include "imsec/sip.h"
#include "imsec/ue.h"
#include "test_util.h"

#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI "001010000000001@" HOME
#define IMPU "sip:001010000000001@" HOME
#define PCSCF "pcscf." HOME
#define K_HEX "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC_HEX "cd63cb71954a9f4e48a5994e37a02baf"
#define PSK_HEX                                                                \
  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

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
  uint64_t flow, next_flow;
  /* the last event's actions */
  int n_send, n_close, n_connect, n_keep, n_persist;
  char sent[16384];
  size_t sent_len;
  uint64_t sent_flow, connect_tag;
  imsec_tls_profile connect_tls; /* the CONNECT's profile (zero: none) */
  int connect_has_tls;
  imsec_svc_req persist;
} fx;

static const char *const impus[] = {IMPU};

static void take(fx *f) {
  f->n_send = f->n_close = f->n_connect = f->n_keep = f->n_persist = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    imsec_act *a = &f->out.acts[i];
    switch (a->kind) {
    case IMSEC_ACT_SEND:
      f->n_send++;
      assert_true(a->len < sizeof(f->sent));
      memcpy(f->sent, a->data, a->len);
      f->sent[a->len] = 0;
      f->sent_len = a->len;
      f->sent_flow = a->flow;
      break;
    case IMSEC_ACT_CLOSE:
      f->n_close++;
      break;
    case IMSEC_ACT_CONNECT:
      f->n_connect++;
      f->connect_tag = a->tag;
      f->connect_has_tls = a->tls != NULL;
      memset(&f->connect_tls, 0, sizeof(f->connect_tls));
      if (a->tls)
        f->connect_tls = *a->tls;
      break;
    case IMSEC_ACT_KEEP:
      f->n_keep++;
      break;
    case IMSEC_ACT_PERSIST:
      f->n_persist++;
      f->persist = *a->svc;
      break;
    default:
      break;
    }
  }
  assert_int_equal(imsec_out_err(&f->out), 0);
  imsec_out_clear(&f->out);
}

static void fx_new(fx *f, int configured, int aka_psk) {
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
  assert_int_equal(
      imsec_addr_parse(imsec_str_c("tls:127.0.0.1:5061"), &cfg.pcscf), 0);
  cfg.pcscf_name = PCSCF;
  cfg.max_connect_attempts = 3;
  if (configured) {
    cfg.psk_identity = IMPI;
    t_hex(PSK_HEX, cfg.psk, 32);
    cfg.psk_len = 32;
  }
  cfg.aka_psk = aka_psk;
  assert_int_equal(imsec_ue_new(&f->ue, &cfg, f->c), 0);
  imsec_wipe(&cfg, sizeof(cfg));
  uint8_t k[16], opc[16];
  t_hex(K_HEX, k, 16);
  t_hex(OPC_HEX, opc, 16);
  assert_int_equal(imsec_milenage_new(&f->hss, f->c), 0);
  assert_int_equal(imsec_milenage_set_opc(f->hss, k, opc), 0);
  memset(&f->cert, 0, sizeof(f->cert));
  f->cert.chain = IMSEC_CHAIN_OK;
  f->cert.has_san = 1;
  f->cert.n_dns = 1;
  strcpy(f->cert.dns[0], PCSCF);
  f->cert.issuer = IMSEC_ISSUER_HOME;
  f->now = 1000000;
  f->next_flow = 7;
}

static void fx_del(fx *f) {
  imsec_ue_del(f->ue);
  imsec_milenage_del(f->hss);
  imsec_aka_vector_wipe(&f->v);
  imsec_out_free(&f->out);
  imsec_crypto_del(f->c);
}

static imsec_ue_status status(fx *f) {
  imsec_ue_status st;
  imsec_ue_get_status(f->ue, &st);
  return st;
}

/* The pending CONNECT's flow comes up: on a PSK (`psk_id`) or with the
 * P-CSCF's certificate. */
static int flow_up(fx *f, const char *psk_id) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  assert_int_equal(
      imsec_addr_parse(imsec_str_c("tls:127.0.0.1:40000"), &info.local), 0);
  assert_int_equal(
      imsec_addr_parse(imsec_str_c("tls:127.0.0.1:5061"), &info.peer), 0);
  info.tls_version = "TLSv1.3";
  if (psk_id) {
    info.psk = 1;
    info.psk_identity = psk_id;
  } else {
    info.peer_cert = &f->cert;
  }
  f->flow = f->next_flow++;
  int rv = imsec_ue_on_flow_up(f->ue, f->flow, f->connect_tag, &info, f->now,
                               &f->out);
  take(f);
  return rv;
}

static void feed(fx *f, const char *msg, size_t len) {
  imsec_ue_on_message(f->ue, f->flow, (const uint8_t *)msg, len, f->now,
                      &f->out);
  take(f);
}

static void answer(fx *f, unsigned code, const char *reason,
                   const char *extra) {
  char copy[16384], buf[16384];
  memcpy(copy, f->sent, f->sent_len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, copy, f->sent_len, 1), 0);
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, sizeof(buf));
  imsec_sip_build_response(&b, &m, code, imsec_str_c(reason),
                           imsec_str_c("srvtag"));
  if (extra)
    imsec_sip_build_raw(&b, imsec_str_c(extra));
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  assert_true(n > 0);
  imsec_sip_msg_free(&m);
  feed(f, buf, (size_t)n);
}

static void challenge(fx *f, const char *realm) {
  uint8_t sqn[6], amf[2] = {0x80, 0x00};
  assert_int_equal(imsec_sqn_he_next(&f->he, &f->sc, sqn), 0);
  assert_int_equal(imsec_aka_vector_make(f->hss, sqn, amf, &f->v), 0);
  char chal[1024], extra[1400];
  assert_true(imsec_digest_aka_challenge_build(
                  &f->v, IMSEC_DIGEST_AKAV1_MD5, imsec_str_c(realm),
                  imsec_str_c("auth"), imsec_str_c("op4que"), 0, chal,
                  sizeof(chal)) > 0);
  snprintf(extra, sizeof(extra),
           "WWW-Authenticate: %s\r\nSecurity-Server: tls;q=0.1\r\n", chal);
  answer(f, 401, "Unauthorized", extra);
}

static const char ok_extra[] =
    "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=600\r\n"
    "Service-Route: <sip:orig@scscf." HOME ":5060;transport=tcp;lr>\r\n"
    "P-Associated-URI: <" IMPU ">\r\n";

/* The 401 answered (SQN made durable), then the 200. */
static void aka_to_200(fx *f) {
  challenge(f, HOME);
  assert_int_equal(f->n_persist, 1);
  imsec_svc_reply r;
  memset(&r, 0, sizeof(r));
  r.kind = f->persist.kind;
  r.id = f->persist.id;
  imsec_ue_on_reply(f->ue, &r, f->now, &f->out);
  take(f);
  answer(f, 200, "OK", ok_extra);
  assert_int_equal(status(f).state, IMSEC_UE_REGISTERED);
}

static void configured_psk(void **st) {
  (void)st;
  fx f;
  fx_new(&f, 1, 0);
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_connect, 1);
  assert_true(f.connect_has_tls);
  assert_string_equal(f.connect_tls.psk_identity, IMPI);
  assert_int_equal(f.connect_tls.psk_len, 32);
  uint8_t want[32];
  t_hex(PSK_HEX, want, 32);
  assert_memory_equal(f.connect_tls.psk, want, 32);
  /* No certificate: taken on the key; the REGISTER goes at once. */
  assert_int_equal(flow_up(&f, IMPI), 0);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent, "REGISTER sip:" HOME));
  aka_to_200(&f);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.tls_mode, IMSEC_UE_TLS_PSK);
  assert_string_equal(imsec_ue_tls_mode_name(s.tls_mode), "psk (configured)");
  fx_del(&f);
}

/* On a PSK flow the realm rule still holds: a challenge from another
 * network's realm is refused, nothing answered. */
static void configured_psk_realm(void **st) {
  (void)st;
  fx f;
  fx_new(&f, 1, 0);
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(flow_up(&f, IMPI), 0);
  challenge(&f, "ims.mnc002.mcc001.3gppnetwork.org");
  assert_int_equal(f.n_send, 0);
  assert_int_equal(f.n_persist, 0);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_REFUSED);
  assert_int_equal(s.trust.reason, IMSEC_TRUST_REALM_MISMATCH);
  assert_non_null(strstr(s.error, "realm-mismatch"));
  fx_del(&f);
}

static void derived_psk_reconnect(void **st) {
  (void)st;
  fx f;
  fx_new(&f, 0, 1);
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_false(f.connect_has_tls && f.connect_tls.psk_len);
  assert_int_equal(flow_up(&f, NULL), 0); /* the certificate */
  aka_to_200(&f);
  assert_int_equal(status(&f).tls_mode, IMSEC_UE_TLS_CERT);
  /* What the P-CSCF derives from the same run. */
  uint8_t key[32];
  char id[64];
  assert_int_equal(imsec_m3_psk_derive(f.c, f.v.ck, f.v.ik, imsec_str_c(IMPI),
                                       f.v.rand, key, id, sizeof(id)),
                   0);
  uint64_t old = f.flow;
  f.now += 1000;
  assert_int_equal(imsec_ue_reconnect(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(f.n_close, 1);
  assert_int_equal(f.n_connect, 1);
  assert_true(f.connect_has_tls);
  assert_string_equal(f.connect_tls.psk_identity, id);
  assert_int_equal(f.connect_tls.psk_len, 32);
  assert_memory_equal(f.connect_tls.psk, key, 32);
  /* Up on the PSK: the registration goes on, no REGISTER. */
  assert_int_equal(flow_up(&f, id), 0);
  assert_int_not_equal(f.flow, old);
  assert_int_equal(f.n_send, 0);
  assert_int_equal(f.n_keep, 1);
  imsec_ue_status s = status(&f);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.tls_mode, IMSEC_UE_TLS_PSK_AKA);
  assert_int_equal(s.flow, f.flow);
  assert_string_equal(imsec_ue_tls_mode_name(s.tls_mode), "psk (derived)");
  /* A MESSAGE goes out on the new flow. */
  int h = imsec_ue_send_message(f.ue, "sip:bob@" HOME, NULL,
                                (const uint8_t *)"hi", 2, f.now, &f.out);
  take(&f);
  assert_true(h > 0);
  assert_int_equal(f.n_send, 1);
  assert_int_equal(f.sent_flow, f.flow);
  /* The P-CSCF did not take the PSK (it fell back to its certificate):
   * the UE registers again on that flow. */
  assert_int_equal(imsec_ue_reconnect(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(flow_up(&f, NULL), 0);
  assert_int_equal(f.n_send, 1);
  assert_non_null(strstr(f.sent, "REGISTER sip:" HOME));
  /* A new AKA run replaces the PSK. */
  aka_to_200(&f);
  uint8_t key2[32];
  char id2[64];
  assert_int_equal(imsec_m3_psk_derive(f.c, f.v.ck, f.v.ik, imsec_str_c(IMPI),
                                       f.v.rand, key2, id2, sizeof(id2)),
                   0);
  assert_string_not_equal(id, id2);
  assert_int_equal(imsec_ue_reconnect(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_string_equal(f.connect_tls.psk_identity, id2);
  /* Once de-registered, no PSK is offered any more. */
  assert_int_equal(flow_up(&f, id2), 0);
  assert_int_equal(imsec_ue_deregister(f.ue, f.now, &f.out), 0);
  take(&f);
  answer(&f, 200, "OK", NULL);
  assert_int_equal(status(&f).state, IMSEC_UE_IDLE);
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_false(f.connect_has_tls && f.connect_tls.psk_len);
  imsec_wipe(key, sizeof(key));
  imsec_wipe(key2, sizeof(key2));
  fx_del(&f);
}

/* Without aka_psk nothing is derived; a reconnection re-registers over a
 * certificate flow. */
static void no_psk_by_default(void **st) {
  (void)st;
  fx f;
  fx_new(&f, 0, 0);
  assert_int_equal(imsec_ue_start(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_int_equal(flow_up(&f, NULL), 0);
  aka_to_200(&f);
  assert_int_equal(imsec_ue_reconnect(f.ue, f.now, &f.out), 0);
  take(&f);
  assert_false(f.connect_has_tls && f.connect_tls.psk_len);
  assert_int_equal(imsec_ue_reconnect(f.ue, f.now, &f.out), IMSEC_ERR_STATE);
  fx_del(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(configured_psk),
      cmocka_unit_test(configured_psk_realm),
      cmocka_unit_test(derived_psk_reconnect),
      cmocka_unit_test(no_psk_by_default),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
