/* lib/pcscf/psk.c: mode M3 at the P-CSCF, driven through the event
 * functions: CK and IK stripped from every 401, kept with --aka-psk, the
 * derived PSK installed on the 200 (replaced by the next AKA run, removed
 * on de-registration and expiry), the binding moved to a flow that comes
 * up on it, and a configured-PSK flow held to its IMPI (403). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/crypto_ossl.h"
#include "imsec/digest.h"
#include "imsec/kdf.h"
#include "imsec/pcscf.h"
#include "test_util.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI "001010000000001@" HOME
#define IMPU "sip:001010000000001@" HOME
#define UE_FLOW 10
#define UE_FLOW2 12
#define CORE_FLOW 100
#define CK "00112233445566778899aabbccddeeff"
#define IK "ffeeddccbbaa99887766554433221100"

typedef struct fx {
  imsec_crypto *c;
  imsec_pcscf *p;
  imsec_out out;
  imsec_time_ms now;
  int seq;
  uint8_t rand[16];
} fx;

static fx *fx_new_max(int aka_psk, size_t max_bindings) {
  fx *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  assert_int_equal(imsec_crypto_ossl_new(&x->c), 0);
  imsec_pcscf_config c;
  imsec_pcscf_config_init(&c);
  assert_int_equal(imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:5062"), &c.core),
                   0);
  assert_int_equal(imsec_pcscf_route_parse(
                       imsec_str_c(HOME "=tcp:127.0.0.1:5070"), &c.routes[0]),
                   0);
  c.n_routes = 1;
  snprintf(c.peer_addrs[0], sizeof(c.peer_addrs[0]), "127.0.0.1");
  c.n_peer_addrs = 1;
  c.aka_psk = aka_psk;
  if (max_bindings)
    c.max_bindings = max_bindings;
  assert_int_equal(imsec_pcscf_new(&x->p, &c, x->c), 0);
  imsec_out_init(&x->out, IMSEC_LOG_DEBUG);
  x->now = 1000;
  return x;
}

static fx *fx_new(int aka_psk) {
  return fx_new_max(aka_psk, 0);
}

static void fx_del(fx *x) {
  imsec_pcscf_del(x->p);
  imsec_out_free(&x->out);
  imsec_crypto_del(x->c);
  free(x);
}

static int up_info(fx *x, uint64_t flow, uint64_t tag, imsec_tp tp,
                   const char *psk_id) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = tp;
  info.inbound = tag == 0;
  info.psk = psk_id != NULL;
  info.psk_identity = psk_id;
  assert_int_equal(
      imsec_addr_parse(imsec_str_c("tls:127.0.0.1:40000"), &info.peer), 0);
  imsec_out_clear(&x->out);
  return imsec_pcscf_on_flow_up(x->p, flow, tag, &info, x->now, &x->out);
}

static void feed(fx *x, uint64_t flow, const char *msg) {
  imsec_out_clear(&x->out);
  imsec_pcscf_on_message(x->p, flow, (const uint8_t *)msg, strlen(msg), x->now,
                         &x->out);
}

static const char *sent(fx *x, uint64_t flow) {
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_SEND && x->out.acts[i].flow == flow)
      return (const char *)x->out.acts[i].data;
  return NULL;
}

static const imsec_act *psk_act(fx *x, size_t nth) {
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_PSK && nth-- == 0)
      return &x->out.acts[i];
  return NULL;
}

static int logged(fx *x, const char *text) {
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_LOG &&
        strstr((const char *)x->out.acts[i].data, text))
      return 1;
  return 0;
}

static void status_is(const char *msg, int code) {
  assert_non_null(msg);
  char want[16];
  snprintf(want, sizeof(want), "SIP/2.0 %d ", code);
  if (strncmp(msg, want, strlen(want)) != 0)
    fail_msg("expected %d, got: %.60s", code, msg);
}

/* A response to `req` as the S-CSCF would send it. */
static char *response_to(const char *req, int code, const char *reason,
                         const char *extra) {
  static char buf[8192];
  size_t n =
      (size_t)snprintf(buf, sizeof(buf), "SIP/2.0 %d %s\r\n", code, reason);
  const char *p = strstr(req, "\r\n") + 2;
  while (*p && strncmp(p, "\r\n", 2) != 0) {
    const char *e = strstr(p, "\r\n");
    size_t len = (size_t)(e - p);
    static const char *keep[] = {"Via:", "From:", "To:", "Call-ID:", "CSeq:"};
    for (size_t k = 0; k < 5; k++) {
      if (!strncmp(p, keep[k], strlen(keep[k]))) {
        memcpy(buf + n, p, len);
        n += len;
        if (k == 2 && !strstr(p, ";tag=")) {
          memcpy(buf + n, ";tag=s1", 7);
          n += 7;
        }
        memcpy(buf + n, "\r\n", 2);
        n += 2;
      }
    }
    p = e + 2;
  }
  n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sContent-Length: 0\r\n\r\n",
                        extra ? extra : "");
  return buf;
}

static const char *reg(fx *x, const char *impi, const char *expires) {
  static char buf[4096];
  x->seq++;
  snprintf(buf, sizeof(buf),
           "REGISTER sip:" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKue%d;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <" IMPU ">;tag=u1\r\n"
           "To: <" IMPU ">\r\n"
           "Call-ID: reg1@ue\r\n"
           "CSeq: %d REGISTER\r\n"
           "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=%s\r\n"
           "Authorization: Digest username=\"%s\",realm=\"" HOME
           "\",nonce=\"\",uri=\"sip:" HOME "\",response=\"\"\r\n"
           "Expires: %s\r\n"
           "Content-Length: 0\r\n\r\n",
           x->seq, x->seq, expires, impi, expires);
  return buf;
}

static const char *message(void) {
  return "MESSAGE sip:bob@" HOME " SIP/2.0\r\n"
         "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKm1;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <" IMPU ">;tag=m1\r\n"
         "To: <sip:bob@" HOME ">\r\n"
         "Call-ID: m1@ue\r\n"
         "CSeq: 1 MESSAGE\r\n"
         "Content-Type: text/plain\r\n"
         "Content-Length: 2\r\n\r\nhi";
}

/* One AKA registration of IMPI on `flow` through the S-CSCF, whose 401
 * carries ck/ik (when `keys`) and a nonce of RAND (x->rand, bumped each
 * time). Returns with the 200 relayed; x->out holds its actions. */
static void register_aka(fx *x, uint64_t flow, int keys, const char *expires) {
  feed(x, flow, reg(x, IMPI, expires));
  const char *fwd = sent(x, CORE_FLOW);
  if (!fwd) { /* the first: the S-CSCF connection comes up */
    assert_int_equal(up_info(x, CORE_FLOW, 1, IMSEC_TP_TCP, NULL), 0);
    fwd = sent(x, CORE_FLOW);
  }
  assert_non_null(fwd);
  x->rand[0]++;
  uint8_t autn[16] = {0};
  char nonce[64], www[512];
  assert_true(imsec_digest_aka_nonce_encode(x->rand, autn,
                                            (imsec_bytes){NULL, 0}, nonce,
                                            sizeof(nonce)) > 0);
  snprintf(www, sizeof(www),
           "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"%s\", "
           "algorithm=AKAv1-MD5, qop=\"auth\"%s\r\n",
           nonce, keys ? ", ck=\"" CK "\", ik=\"" IK "\"" : "");
  feed(x, CORE_FLOW, response_to(fwd, 401, "Unauthorized", www));
  const char *r401 = sent(x, flow);
  status_is(r401, 401);
  /* TS 24.229 §5.2.2.1: never to the UE, whatever the mode. */
  assert_null(strstr(r401, ", ck="));
  assert_null(strstr(r401, ", ik="));
  assert_null(strstr(r401, CK));
  assert_non_null(strstr(r401, nonce));
  feed(x, flow, reg(x, IMPI, expires));
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  char ok[256];
  snprintf(ok, sizeof(ok),
           "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=%s\r\n"
           "P-Associated-URI: <" IMPU ">\r\n",
           expires);
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", ok));
  status_is(sent(x, flow), 200);
}

/* What the UE derives from the same run. */
static void expect_psk(fx *x, uint8_t key[32], char id[64]) {
  uint8_t ck[16], ik[16];
  t_hex(CK, ck, 16);
  t_hex(IK, ik, 16);
  assert_int_equal(imsec_m3_psk_derive(x->c, ck, ik, imsec_str_c(IMPI), x->rand,
                                       key, id, 64),
                   0);
}

static void derive_install_move_remove(void **state) {
  (void)state;
  fx *x = fx_new(1);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  register_aka(x, UE_FLOW, 1, "600");
  uint8_t key[32];
  char id[64];
  expect_psk(x, key, id);
  const imsec_act *a = psk_act(x, 0);
  assert_non_null(a);
  assert_string_equal(a->tls->psk_identity, id);
  assert_int_equal(a->tls->psk_len, 32);
  assert_memory_equal(a->tls->psk, key, 32);
  assert_int_equal(a->at, x->now + 600 * 1000);
  assert_null(psk_act(x, 1));
  assert_true(logged(x, "AKA-derived PSK imsec-aka-"));

  /* The UE's connection goes: the binding waits for it (it holds a PSK). */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, 0, x->now, &x->out);
  imsec_pcscf_stats sts;
  imsec_pcscf_stats_get(x->p, &sts);
  assert_int_equal(sts.bindings, 1);
  /* The UE comes back on a new connection with that PSK: the binding
   * moves there, requests on it are the UE's. */
  x->now += 5000;
  assert_int_equal(up_info(x, UE_FLOW2, 0, IMSEC_TP_TLS, id), 0);
  assert_true(logged(x, "binding moved from no live flow"));
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  uint64_t fl = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, imsec_str_c(IMPU), &fl), 0);
  assert_int_equal(fl, UE_FLOW2);
  feed(x, UE_FLOW2, message());
  const char *fm = sent(x, CORE_FLOW);
  assert_non_null(fm);
  assert_non_null(strstr(fm, "P-Asserted-Identity: <" IMPU ">"));
  /* The old connection vouches for nothing now. */
  feed(x, UE_FLOW, message());
  status_is(sent(x, UE_FLOW), 403);

  /* The next AKA run replaces the PSK: the old one goes first. */
  register_aka(x, UE_FLOW2, 1, "600");
  uint8_t key2[32];
  char id2[64];
  expect_psk(x, key2, id2);
  assert_string_not_equal(id, id2);
  a = psk_act(x, 0);
  assert_non_null(a);
  assert_string_equal(a->tls->psk_identity, id);
  assert_int_equal(a->tls->psk_len, 0);
  a = psk_act(x, 1);
  assert_non_null(a);
  assert_string_equal(a->tls->psk_identity, id2);
  assert_memory_equal(a->tls->psk, key2, 32);

  /* De-registration removes it. */
  feed(x, UE_FLOW2, reg(x, IMPI, "0"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 200, "OK",
                   "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;"
                   "expires=0\r\n"));
  a = psk_act(x, 0);
  assert_non_null(a);
  assert_string_equal(a->tls->psk_identity, id2);
  assert_int_equal(a->tls->psk_len, 0);
  /* A later flow with that identity finds nothing to move. */
  assert_int_equal(up_info(x, 13, 0, IMSEC_TP_TLS, id2), 0);
  assert_false(logged(x, "binding moved"));
  feed(x, 13, reg(x, IMPI, "600"));
  status_is(sent(x, 13), 403);
  imsec_wipe(key, sizeof(key));
  imsec_wipe(key2, sizeof(key2));
  fx_del(x);
}

static void expiry_removes(void **state) {
  (void)state;
  fx *x = fx_new(1);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  register_aka(x, UE_FLOW, 1, "60");
  const imsec_act *a = psk_act(x, 0);
  assert_non_null(a);
  char id[IMSEC_PSK_ID_MAX];
  snprintf(id, sizeof(id), "%s", a->tls->psk_identity);
  x->now += 61000;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, 1, x->now, &x->out);
  a = psk_act(x, 0);
  assert_non_null(a);
  assert_string_equal(a->tls->psk_identity, id);
  assert_int_equal(a->tls->psk_len, 0);
  fx_del(x);
}

/* Without aka_psk the keys are stripped and nothing is installed; with it
 * but no keys from the S-CSCF (a plain core), nothing either. */
static void strip_only(void **state) {
  (void)state;
  fx *x = fx_new(0);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  register_aka(x, UE_FLOW, 1, "600");
  assert_null(psk_act(x, 0));
  fx_del(x);
  x = fx_new(1);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  register_aka(x, UE_FLOW, 0, "600");
  assert_null(psk_act(x, 0));
  fx_del(x);
}

/* Configured PSK: the identity is the IMPI; a REGISTER for another IMPI
 * on that flow is refused with 403 and one line. */
static void configured_identity(void **state) {
  (void)state;
  fx *x = fx_new(0);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, IMPI), 0);
  assert_true(logged(x, "configured PSK of " IMPI));
  register_aka(x, UE_FLOW, 0, "600");
  assert_int_equal(up_info(x, UE_FLOW2, 0, IMSEC_TP_TLS, "someone-else@" HOME),
                   0);
  feed(x, UE_FLOW2, reg(x, IMPI, "600"));
  status_is(sent(x, UE_FLOW2), 403);
  assert_null(sent(x, CORE_FLOW));
  size_t lines = 0;
  for (size_t i = 0; i < x->out.n; i++)
    lines += x->out.acts[i].kind == IMSEC_ACT_LOG &&
             strstr((const char *)x->out.acts[i].data, "is not the PSK's");
  assert_int_equal(lines, 1);
  /* A derived-looking identity the P-CSCF never installed is no key to a
   * registration: treated as configured, so it registers no IMPI. */
  assert_int_equal(up_info(x, 14, 0, IMSEC_TP_TLS,
                           "imsec-aka-00000000000000000000000000000000"),
                   0);
  feed(x, 14, reg(x, IMPI, "600"));
  status_is(sent(x, 14), 403);
  fx_del(x);
}

/* The 401 of someone else's REGISTER for the same IMPI on another
 * connection does not replace the keys of the run this UE answers. */
static void keys_per_connection(void **state) {
  (void)state;
  fx *x = fx_new(1);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  assert_int_equal(up_info(x, 20, 0, IMSEC_TP_TLS, NULL), 0);
  feed(x, UE_FLOW, reg(x, IMPI, "600"));
  assert_int_equal(up_info(x, CORE_FLOW, 1, IMSEC_TP_TCP, NULL), 0);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  uint8_t autn[16] = {0}, rand_b[16];
  char nonce[64], www[512];
  x->rand[0] = 0x11;
  assert_true(imsec_digest_aka_nonce_encode(x->rand, autn,
                                            (imsec_bytes){NULL, 0}, nonce,
                                            sizeof(nonce)) > 0);
  snprintf(www, sizeof(www),
           "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"%s\", "
           "algorithm=AKAv1-MD5, ck=\"" CK "\", ik=\"" IK "\"\r\n",
           nonce);
  feed(x, CORE_FLOW, response_to(fwd, 401, "Unauthorized", www));
  status_is(sent(x, UE_FLOW), 401);
  /* Another connection, the same IMPI, another vector. */
  feed(x, 20, reg(x, IMPI, "600"));
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  memset(rand_b, 0x22, 16);
  assert_true(imsec_digest_aka_nonce_encode(rand_b, autn,
                                            (imsec_bytes){NULL, 0}, nonce,
                                            sizeof(nonce)) > 0);
  snprintf(www, sizeof(www),
           "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"%s\", "
           "algorithm=AKAv1-MD5, ck=\"%s\", ik=\"%s\"\r\n",
           nonce, "ffffffffffffffffffffffffffffffff",
           "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
  feed(x, CORE_FLOW, response_to(fwd, 401, "Unauthorized", www));
  status_is(sent(x, 20), 401);
  /* The UE answers its own challenge: its keys make the PSK. */
  feed(x, UE_FLOW, reg(x, IMPI, "600"));
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 200, "OK",
                   "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;"
                   "expires=600\r\n"));
  uint8_t key[32];
  char id[64];
  expect_psk(x, key, id);
  const imsec_act *a = psk_act(x, 0);
  assert_non_null(a);
  assert_string_equal(a->tls->psk_identity, id);
  assert_memory_equal(a->tls->psk, key, 32);
  imsec_wipe(key, sizeof(key));
  fx_del(x);
}

/* TS 24.229 §5.2.2.1: ck= and ik= never reach the UE, also when the
 * challenge that carries them cannot be rewritten (a malformed parameter
 * after them) and in any other response relayed to the UE. */
static void keys_never_relayed(void **state) {
  (void)state;
  fx *x = fx_new(0);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  feed(x, UE_FLOW, reg(x, IMPI, "600"));
  assert_null(sent(x, CORE_FLOW));
  assert_int_equal(up_info(x, CORE_FLOW, 1, IMSEC_TP_TCP, NULL), 0);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized",
                   "WWW-Authenticate: Digest realm=\"" HOME "\", "
                   "nonce=\"abc\", ck=\"" CK "\", ik=\"" IK "\", "
                   "opaque=\"unterminated\r\n"));
  const char *r = sent(x, UE_FLOW);
  if (r) {
    assert_null(strstr(r, CK));
    assert_null(strstr(r, IK));
  }
  fx_del(x);

  /* ck= where the scheme should be: not a "scheme params" challenge */
  x = fx_new(0);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  feed(x, UE_FLOW, reg(x, IMPI, "600"));
  assert_int_equal(up_info(x, CORE_FLOW, 1, IMSEC_TP_TCP, NULL), 0);
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized",
                   "WWW-Authenticate: Digest,ck=\"" CK "\", ik=\"" IK
                   "\", realm=\"" HOME "\"\r\n"));
  r = sent(x, UE_FLOW);
  if (r) {
    assert_null(strstr(r, CK));
    assert_null(strstr(r, IK));
  }
  fx_del(x);

  x = fx_new(0);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  register_aka(x, UE_FLOW, 1, "600");
  feed(x, UE_FLOW, message());
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 407, "Proxy Authentication Required",
                   "Proxy-Authenticate: Digest realm=\"" HOME "\", "
                   "nonce=\"abc\", ck=\"" CK "\", ik=\"" IK "\"\r\n"
                   "WWW-Authenticate: Digest realm=\"" HOME "\", "
                   "nonce=\"abd\", ck=\"" CK "\", ik=\"" IK "\"\r\n"));
  r = sent(x, UE_FLOW);
  status_is(r, 407);
  assert_null(strstr(r, CK));
  assert_null(strstr(r, IK));
  assert_non_null(strstr(r, "nonce=\"abc\""));
  fx_del(x);
}

/* A 401 with keys for IMPI number `i` to a REGISTER on `flow`. */
static void challenge_impi(fx *x, uint64_t flow, int i) {
  char impi[128];
  snprintf(impi, sizeof(impi), "00101000000000%d@" HOME, i);
  feed(x, flow, reg(x, impi, "600"));
  const char *fwd = sent(x, CORE_FLOW);
  if (!fwd) {
    assert_int_equal(up_info(x, CORE_FLOW, 1, IMSEC_TP_TCP, NULL), 0);
    fwd = sent(x, CORE_FLOW);
  }
  assert_non_null(fwd);
  uint8_t rnd[16] = {(uint8_t)i}, autn[16] = {0};
  char nonce[64], www[512];
  assert_true(imsec_digest_aka_nonce_encode(rnd, autn, (imsec_bytes){NULL, 0},
                                            nonce, sizeof(nonce)) > 0);
  snprintf(www, sizeof(www),
           "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"%s\", "
           "algorithm=AKAv1-MD5, qop=\"auth\", ck=\"" CK "\", ik=\"" IK
           "\"\r\n",
           nonce);
  feed(x, CORE_FLOW, response_to(fwd, 401, "Unauthorized", www));
  status_is(sent(x, flow), 401);
}

/* One connection holds a few pending AKA runs at most, so that it cannot
 * fill the table every UE's derivation shares; its pending keys go (wiped)
 * with the connection, not two minutes later. */
static void pending_keys_bounded(void **state) {
  (void)state;
  fx *x = fx_new_max(1, 6);
  assert_int_equal(up_info(x, UE_FLOW, 0, IMSEC_TP_TLS, NULL), 0);
  for (int i = 1; i <= 4; i++) {
    challenge_impi(x, UE_FLOW, i);
    assert_false(logged(x, "no room for the AKA keys"));
  }
  challenge_impi(x, UE_FLOW, 5);
  assert_true(logged(x, "no room for the AKA keys"));
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, 0, x->now, &x->out);
  /* The table (6) has room for another connection's runs at once. */
  assert_int_equal(up_info(x, UE_FLOW2, 0, IMSEC_TP_TLS, NULL), 0);
  for (int i = 1; i <= 4; i++) {
    challenge_impi(x, UE_FLOW2, i);
    assert_false(logged(x, "no room for the AKA keys"));
  }
  fx_del(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(derive_install_move_remove),
      cmocka_unit_test(expiry_removes),
      cmocka_unit_test(strip_only),
      cmocka_unit_test(configured_identity),
      cmocka_unit_test(keys_per_connection),
      cmocka_unit_test(keys_never_relayed),
      cmocka_unit_test(pending_keys_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
