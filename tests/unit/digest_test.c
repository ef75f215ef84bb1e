/* lib/digest: parsing, building, responses (RFC 2617, RFC 7616 known
 * answers), AKAv1/AKAv2 known answers and the S-CSCF/UE round trip. */
#include <stdio.h>
#include <string.h>

#include "imsec/aka.h"
#include "imsec/digest.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

static int setup(void **state) {
  imsec_crypto *c = NULL;
  if (imsec_crypto_ossl_new(&c) != 0)
    return -1;
  *state = c;
  return 0;
}

static int teardown(void **state) {
  imsec_crypto_del(*state);
  return 0;
}

static imsec_str S(const char *s) {
  return imsec_str_c(s);
}

static void assert_slice(imsec_str got, const char *want) {
  assert_non_null(got.p);
  assert_int_equal(got.len, strlen(want));
  assert_memory_equal(got.p, want, got.len);
}

/* ------------------------------------------------------------- parsing */

static void parse_challenge_rfc2617(void **state) {
  (void)state;
  imsec_digest_params p;
  const char *v = "Digest\r\n realm=\"testrealm@host.com\",\r\n"
                  "  qop=\"auth,auth-int\",\r\n"
                  "  nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n"
                  "  opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
  assert_int_equal(imsec_digest_parse_challenge(S(v), &p), 0);
  assert_slice(p.scheme, "Digest");
  assert_slice(p.realm, "testrealm@host.com");
  assert_slice(p.qop, "auth,auth-int");
  assert_slice(p.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
  assert_slice(p.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
  assert_true(imsec_digest_qop_has(p.qop, "auth"));
  assert_true(imsec_digest_qop_has(p.qop, "AUTH-INT"));
  assert_false(imsec_digest_qop_has(p.qop, "auth-conf"));
  assert_false(imsec_digest_qop_has(S("auth-intx"), "auth-int"));
  assert_true(imsec_digest_qop_has(S(" auth-int , auth "), "auth"));
  assert_int_equal(p.present & IMSEC_DIGEST_P_ALGORITHM, 0);
  assert_null(p.algorithm.p);
  assert_int_equal(p.n_unknown, 0);

  /* IMS challenge: tokens, unknown params, empty elements, case. */
  v = "digest realm=\"ims.mnc001.mcc001.3gppnetwork.org\",, "
      "NONCE=\"I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=\" ,"
      "algorithm=AKAv1-MD5,qop=\"auth\", stale=FALSE, foo=bar, "
      "ik=\"00112233445566778899aabbccddeeff\", x-y=\"a\\\"b\"";
  assert_int_equal(imsec_digest_parse_challenge(S(v), &p), 0);
  assert_slice(p.nonce, "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=");
  assert_slice(p.algorithm, "AKAv1-MD5");
  assert_slice(p.stale, "FALSE");
  assert_slice(p.ik, "00112233445566778899aabbccddeeff");
  assert_int_equal(p.n_unknown, 2);
  assert_true(p.quoted & IMSEC_DIGEST_P_NONCE);
  assert_false(p.quoted & IMSEC_DIGEST_P_ALGORITHM);
  imsec_digest_alg alg;
  assert_int_equal(imsec_digest_alg_parse(p.algorithm, &alg), 0);
  assert_int_equal(alg, IMSEC_DIGEST_AKAV1_MD5);
}

static void parse_credentials(void **state) {
  (void)state;
  imsec_digest_params p;
  const char *v =
      "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
      "qop=auth, nc=00000001, cnonce=\"0a4f113b\", "
      "response=\"6629fae49393a05397450978507c4ef1\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
  assert_int_equal(imsec_digest_parse_credentials(S(v), &p), 0);
  assert_slice(p.username, "Mufasa");
  assert_slice(p.qop, "auth");
  assert_slice(p.nc, "00000001");
  assert_slice(p.response, "6629fae49393a05397450978507c4ef1");
  uint32_t nc = 0;
  assert_int_equal(imsec_digest_nc_parse(p.nc, &nc), 0);
  assert_int_equal(nc, 1);
  assert_int_equal(imsec_digest_nc_parse(S("0000000A"), &nc), 0);
  assert_int_equal(nc, 10);
  assert_int_equal(imsec_digest_nc_parse(S("0000001"), &nc), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_digest_nc_parse(S("0000000g"), &nc), IMSEC_ERR_PARSE);
  /* Replay tracking per nonce. */
  uint32_t hi = 0;
  assert_int_equal(imsec_digest_nc_check(S("00000001"), &hi), 0);
  assert_int_equal(imsec_digest_nc_check(S("00000001"), &hi), IMSEC_ERR_REPLAY);
  assert_int_equal(imsec_digest_nc_check(S("00000003"), &hi), 0);
  assert_int_equal(imsec_digest_nc_check(S("00000002"), &hi), IMSEC_ERR_REPLAY);
  assert_int_equal(hi, 3);
  assert_int_equal(imsec_digest_nc_check(S("0000000x"), &hi), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_digest_nc_check(S("00000004"), NULL), IMSEC_ERR_INVAL);

  /* TS 24.229 §5.1.1.2: the first REGISTER carries empty nonce and
   * response; integrity-protected from the P-CSCF. */
  v = "Digest username=\"001010000000001@ims.mnc001.mcc001.3gppnetwork.org\","
      "realm=\"ims.mnc001.mcc001.3gppnetwork.org\",nonce=\"\","
      "uri=\"sip:ims.mnc001.mcc001.3gppnetwork.org\",response=\"\","
      "integrity-protected=\"tls-pending\"";
  assert_int_equal(imsec_digest_parse_credentials(S(v), &p), 0);
  assert_true(p.present & IMSEC_DIGEST_P_RESPONSE);
  assert_int_equal(p.response.len, 0);
  assert_int_equal(p.nonce.len, 0);
  assert_slice(p.integrity_protected, "tls-pending");
}

static void parse_negative(void **state) {
  (void)state;
  static const struct {
    const char *v;
    int challenge;
    int want;
  } cases[] = {
      {"", 1, IMSEC_ERR_PARSE},
      {"   ", 1, IMSEC_ERR_PARSE},
      {"Basic realm=\"x\"", 1, IMSEC_ERR_UNSUPPORTED},
      {"Digest", 1, IMSEC_ERR_PARSE}, /* no realm, no nonce */
      {"Digest realm=\"x\"", 1, IMSEC_ERR_PARSE},
      {"Digest nonce=\"x\"", 1, IMSEC_ERR_PARSE},
      {"Digest,realm=\"x\",nonce=\"y\"", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x, nonce=\"y\"", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x\", nonce=\"y", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x\", nonce", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x\", nonce=", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x\", =\"y\"", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x\" nonce=\"y\"", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x\", nonce=\"y\", realm=\"z\"", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x\", nonce=\"y\\", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"a\001b\", nonce=\"y\"", 1, IMSEC_ERR_PARSE},
      {"Digest realm=\"x\", nonce=\"y\", a=b c", 1, IMSEC_ERR_PARSE},
      {"Digest realm=x;y, nonce=z", 1, IMSEC_ERR_PARSE},
      {"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\"", 0,
       IMSEC_ERR_PARSE}, /* no response */
      {"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", "
       "response=\"00\", qop=auth, cnonce=\"c\"",
       0, IMSEC_ERR_PARSE}, /* qop without nc */
      {"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", "
       "response=\"00\", qop=auth, nc=1, cnonce=\"c\"",
       0, IMSEC_ERR_PARSE}, /* nc not 8LHEX */
      {"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", "
       "response=\"00\", qop=auth, nc=00000001",
       0, IMSEC_ERR_PARSE}, /* no cnonce */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    imsec_digest_params p;
    int rv = cases[i].challenge
                 ? imsec_digest_parse_challenge(S(cases[i].v), &p)
                 : imsec_digest_parse_credentials(S(cases[i].v), &p);
    if (rv != cases[i].want)
      fail_msg("case %zu (%s): got %d want %d", i, cases[i].v, rv,
               cases[i].want);
  }
  /* Not NUL-terminated input: the parser stays inside the slice. */
  const char buf[] = "Digest realm=\"x\", nonce=\"yyyy\"";
  imsec_digest_params p;
  assert_int_equal(
      imsec_digest_parse_challenge(imsec_str_make(buf, sizeof(buf) - 4), &p),
      IMSEC_ERR_PARSE);
  assert_int_equal(imsec_digest_parse_challenge(S("Digest"), NULL),
                   IMSEC_ERR_INVAL);
  /* Too many parameters. */
  char many[64 * 8 + 64];
  size_t o = (size_t)snprintf(many, sizeof(many), "Digest realm=\"x\"");
  for (int i = 0; i < IMSEC_DIGEST_MAX_PARAMS; i++)
    o += (size_t)snprintf(many + o, sizeof(many) - o, ",a%d=b", i);
  assert_int_equal(imsec_digest_parse_challenge(imsec_str_make(many, o), &p),
                   IMSEC_ERR_LIMIT);
}

static void unquote(void **state) {
  (void)state;
  char buf[16];
  assert_int_equal(imsec_digest_unquote(S("a\\\"b\\\\c"), buf, sizeof(buf)), 5);
  assert_string_equal(buf, "a\"b\\c");
  assert_int_equal(imsec_digest_unquote(S("abc\\"), buf, sizeof(buf)),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_digest_unquote(S("abcd"), buf, 4), IMSEC_ERR_NOBUF);
  assert_int_equal(imsec_digest_unquote(S(""), buf, 1), 0);
  assert_int_equal(imsec_digest_unquote(S(""), buf, 0), IMSEC_ERR_NOBUF);
}

static void build_round_trip(void **state) {
  (void)state;
  imsec_digest_params p = {0};
  p.realm = S("ims.mnc001.mcc001.3gppnetwork.org");
  p.nonce = S("I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=");
  p.algorithm = S("AKAv1-MD5");
  p.qop = S("auth,auth-int");
  p.opaque = S("a\"b\\c");
  char buf[512];
  int n = imsec_digest_build(IMSEC_DIGEST_CHALLENGE, &p, buf, sizeof(buf));
  assert_true(n > 0);
  assert_string_equal(buf,
                      "Digest realm=\"ims.mnc001.mcc001.3gppnetwork.org\", "
                      "nonce=\"I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=\", "
                      "opaque=\"a\\\"b\\\\c\", algorithm=AKAv1-MD5, "
                      "qop=\"auth,auth-int\"");
  imsec_digest_params q;
  assert_int_equal(
      imsec_digest_parse_challenge(imsec_str_make(buf, (size_t)n), &q), 0);
  assert_slice(q.realm, "ims.mnc001.mcc001.3gppnetwork.org");
  assert_slice(q.opaque, "a\\\"b\\\\c");
  char un[16];
  assert_int_equal(imsec_digest_unquote(q.opaque, un, sizeof(un)), 5);
  assert_string_equal(un, "a\"b\\c");
  /* Re-building the parsed form copies escapes verbatim. */
  char again[512];
  assert_int_equal(
      imsec_digest_build(IMSEC_DIGEST_CHALLENGE, &q, again, sizeof(again)), n);
  assert_string_equal(again, buf);
  /* Every output size short of the full one fails cleanly. */
  for (size_t cap = 1; cap <= (size_t)n; cap++)
    assert_int_equal(imsec_digest_build(IMSEC_DIGEST_CHALLENGE, &p, buf, cap),
                     IMSEC_ERR_NOBUF);

  /* Credentials: qop and nc as tokens; CRLF injection refused. */
  imsec_digest_params c = {0};
  c.username = S("u");
  c.realm = S("r");
  c.nonce = S("n");
  c.uri = S("sip:r");
  c.response = S("");
  c.present = IMSEC_DIGEST_P_RESPONSE;
  c.qop = S("auth");
  c.nc = S("00000001");
  c.cnonce = S("c");
  n = imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &c, buf, sizeof(buf));
  assert_true(n > 0);
  assert_string_equal(buf, "Digest username=\"u\", realm=\"r\", nonce=\"n\", "
                           "uri=\"sip:r\", response=\"\", cnonce=\"c\", "
                           "qop=auth, nc=00000001");
  c.realm = S("r\r\nVia: evil");
  assert_int_equal(
      imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &c, buf, sizeof(buf)),
      IMSEC_ERR_INVAL);
  c.realm = S("r");
  c.qop = S("auth int");
  assert_int_equal(
      imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &c, buf, sizeof(buf)),
      IMSEC_ERR_INVAL);
  c.qop = S("auth");
  c.quoted = IMSEC_DIGEST_P_REALM;
  c.realm = S("bad\"quote");
  assert_int_equal(
      imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &c, buf, sizeof(buf)),
      IMSEC_ERR_INVAL);
}

/* ------------------------------------------------------------ responses */

static void known_answers(void **state) {
  imsec_crypto *c = *state;
  char out[65];
  /* RFC 2617 §3.5. */
  imsec_digest_input in = {
      .hash = IMSEC_HASH_MD5,
      .username = S("Mufasa"),
      .realm = S("testrealm@host.com"),
      .password = {(const uint8_t *)"Circle Of Life", 14},
      .method = S("GET"),
      .uri = S("/dir/index.html"),
      .nonce = S("dcd98b7102dd2f0e8b11d0f600bfb0c093"),
      .qop = IMSEC_DIGEST_QOP_AUTH,
      .nc = S("00000001"),
      .cnonce = S("0a4f113b"),
  };
  assert_int_equal(imsec_digest_response(c, &in, out, sizeof(out)), 32);
  assert_string_equal(out, "6629fae49393a05397450978507c4ef1");
  /* The same without qop (RFC 2069 form) and with auth-int over "hello":
   * recomputed independently. */
  in.qop = IMSEC_DIGEST_QOP_NONE;
  assert_int_equal(imsec_digest_response(c, &in, out, sizeof(out)), 32);
  assert_string_equal(out, "670fd8c2df070c60b045671b8b24ff02");
  in.qop = IMSEC_DIGEST_QOP_AUTH_INT;
  in.body = (imsec_bytes){(const uint8_t *)"hello", 5};
  assert_int_equal(imsec_digest_response(c, &in, out, sizeof(out)), 32);
  assert_string_equal(out, "4b9dff6a3247bddd2fed3d63a302e8dc");
  in.hash = IMSEC_HASH_SHA256;
  in.nc = S("00000002");
  assert_int_equal(imsec_digest_response(c, &in, out, sizeof(out)), 64);
  assert_string_equal(
      out, "fad312f131d74765a731f6f298b99b26c27c4b47988c09a31f635ff2f264dcc1");
  assert_int_equal(imsec_digest_response(c, &in, out, 64), IMSEC_ERR_NOBUF);

  /* RFC 7616 §3.9.1, MD5 and SHA-256. */
  imsec_digest_input r = {
      .hash = IMSEC_HASH_MD5,
      .username = S("Mufasa"),
      .realm = S("http-auth@example.org"),
      .password = {(const uint8_t *)"Circle of Life", 14},
      .method = S("GET"),
      .uri = S("/dir/index.html"),
      .nonce = S("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"),
      .qop = IMSEC_DIGEST_QOP_AUTH,
      .nc = S("00000001"),
      .cnonce = S("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
  };
  assert_int_equal(imsec_digest_response(c, &r, out, sizeof(out)), 32);
  assert_string_equal(out, "8ca523f5e9506fed4657c9700eebdbec");
  r.hash = IMSEC_HASH_SHA256;
  assert_int_equal(imsec_digest_response(c, &r, out, sizeof(out)), 64);
  assert_string_equal(
      out, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

static void server_verify(void **state) {
  imsec_crypto *c = *state;
  const imsec_bytes pw = {(const uint8_t *)"Circle of Life", 14};
  const char *v =
      "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", "
      "uri=\"/dir/index.html\", algorithm=SHA-256, "
      "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
      "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
      "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db585"
      "6cb6c1\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
  imsec_digest_params p;
  assert_int_equal(imsec_digest_parse_credentials(S(v), &p), 0);
  imsec_digest_alg alg;
  assert_int_equal(imsec_digest_alg_parse(p.algorithm, &alg), 0);
  assert_int_equal(alg, IMSEC_DIGEST_SHA256);
  imsec_bytes none = {NULL, 0};
  assert_int_equal(imsec_digest_verify(c, &p, alg, S("GET"), none, pw), 0);
  /* Wrong password, method, or algorithm: mismatch. */
  imsec_bytes bad = {(const uint8_t *)"Circle of life", 14};
  assert_int_equal(imsec_digest_verify(c, &p, alg, S("GET"), none, bad),
                   IMSEC_ERR_AUTH);
  assert_int_equal(imsec_digest_verify(c, &p, alg, S("POST"), none, pw),
                   IMSEC_ERR_AUTH);
  assert_int_equal(
      imsec_digest_verify(c, &p, IMSEC_DIGEST_MD5, S("GET"), none, pw),
      IMSEC_ERR_PARSE); /* 64 hex digits are not an MD5 response */
  /* Upper-case hex is tolerated. */
  char up[64];
  for (size_t i = 0; i < 64; i++)
    up[i] =
        (char)(p.response.p[i] >= 'a' ? p.response.p[i] - 32 : p.response.p[i]);
  imsec_digest_params q = p;
  q.response = imsec_str_make(up, 64);
  assert_int_equal(imsec_digest_verify(c, &q, alg, S("GET"), none, pw), 0);
  up[10] = 'x';
  assert_int_equal(imsec_digest_verify(c, &q, alg, S("GET"), none, pw),
                   IMSEC_ERR_PARSE);
  q = p;
  q.qop = S("auth-conf");
  assert_int_equal(imsec_digest_verify(c, &q, alg, S("GET"), none, pw),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_digest_alg_parse(S("MD5-sess"), &alg),
                   IMSEC_ERR_UNSUPPORTED);
  assert_int_equal(imsec_digest_alg_parse(S(""), &alg), 0);
  assert_int_equal(alg, IMSEC_DIGEST_MD5);

  /* An escaped username is hashed unescaped (independently recomputed). */
  v = "Digest username=\"a\\\"b\\\\c\", realm=\"r\", nonce=\"n\", uri=\"/\", "
      "response=\"ec4ec15e0023e6f422a693bef1b3b82a\"";
  assert_int_equal(imsec_digest_parse_credentials(S(v), &p), 0);
  imsec_bytes pp = {(const uint8_t *)"p", 1};
  assert_int_equal(
      imsec_digest_verify(c, &p, IMSEC_DIGEST_MD5, S("GET"), none, pp), 0);
}

/* The same exchange checked from the H(A1) an HSS stores (RFC 7616
 * §3.9.1 values; H(A1) and rspauth recomputed independently), and the
 * rspauth of the server's Authentication-Info (§3.5). */
static void server_verify_ha1(void **state) {
  imsec_crypto *c = *state;
  const imsec_bytes pw = {(const uint8_t *)"Circle of Life", 14};
  const char *v =
      "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", "
      "uri=\"/dir/index.html\", algorithm=SHA-256, "
      "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
      "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
      "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db585"
      "6cb6c1\"";
  imsec_digest_params p;
  assert_int_equal(imsec_digest_parse_credentials(S(v), &p), 0);
  uint8_t ha1[32], md5[16];
  assert_int_equal(imsec_digest_ha1(c, IMSEC_HASH_SHA256, S("Mufasa"),
                                    S("http-auth@example.org"), pw, ha1,
                                    sizeof(ha1)),
                   32);
  char hex[65];
  assert_int_equal(imsec_hex_encode(ha1, 32, hex, sizeof(hex)), 64);
  assert_string_equal(
      hex, "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232");
  imsec_bytes none = {NULL, 0};
  imsec_bytes h = {ha1, 32};
  assert_int_equal(
      imsec_digest_verify_ha1(c, &p, IMSEC_DIGEST_SHA256, S("GET"), none, h),
      0);
  assert_int_equal(imsec_digest_verify_ha1(c, &p, IMSEC_DIGEST_SHA256,
                                           S("REGISTER"), none, h),
                   IMSEC_ERR_AUTH);
  /* An MD5 H(A1) does not fit SHA-256, nor a Digest AKA algorithm. */
  assert_int_equal(imsec_digest_ha1(c, IMSEC_HASH_MD5, S("Mufasa"),
                                    S("http-auth@example.org"), pw, md5,
                                    sizeof(md5)),
                   16);
  assert_int_equal(imsec_digest_verify_ha1(c, &p, IMSEC_DIGEST_SHA256, S("GET"),
                                           none, (imsec_bytes){md5, 16}),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_digest_verify_ha1(c, &p, IMSEC_DIGEST_AKAV1_MD5,
                                           S("GET"), none,
                                           (imsec_bytes){md5, 16}),
                   IMSEC_ERR_INVAL);
  ha1[0] ^= 1;
  assert_int_equal(
      imsec_digest_verify_ha1(c, &p, IMSEC_DIGEST_SHA256, S("GET"), none, h),
      IMSEC_ERR_AUTH);
  ha1[0] ^= 1;
  char rsp[65];
  assert_int_equal(
      imsec_digest_rspauth(c, &p, IMSEC_DIGEST_SHA256, h, rsp, sizeof(rsp)),
      64);
  assert_string_equal(
      rsp, "86d3b25618d41854ca5039a5d7e53ff6355d5134a9b1fb088a78ac3c462195a0");
  /* No qop: no rspauth (RFC 7616 §3.5 needs cnonce and nc). */
  imsec_digest_params q = p;
  q.qop = S("");
  q.present &= ~(uint32_t)IMSEC_DIGEST_P_QOP;
  assert_int_equal(
      imsec_digest_rspauth(c, &q, IMSEC_DIGEST_SHA256, h, rsp, sizeof(rsp)),
      IMSEC_ERR_PARSE);
}

/* ------------------------------------------------------------ Digest AKA */

/* TS 35.208 set 1 and the SOURCES.md AKA known answers. */
static const char *const IMPI =
    "234150999999999@ims.mnc015.mcc234.3gppnetwork.org";
static const char *const REALM = "ims.mnc015.mcc234.3gppnetwork.org";
static const char *const URI = "sip:ims.mnc015.mcc234.3gppnetwork.org";

typedef struct aka_fix {
  imsec_milenage *m;
  imsec_aka_vector v;
  char nonce[64];
} aka_fix;

static void aka_fix_init(imsec_crypto *c, aka_fix *f) {
  uint8_t k[16], opc[16], rand[16], sqn[6], amf[2];
  t_hex("465b5ce8b199b49faa5f0a2ee238a6bc", k, 16);
  t_hex("cd63cb71954a9f4e48a5994e37a02baf", opc, 16);
  t_hex("23553cbe9637a89d218ae64dae47bf35", rand, 16);
  t_hex("ff9bb4d0b607", sqn, 6);
  t_hex("b9b9", amf, 2);
  assert_int_equal(imsec_milenage_new(&f->m, c), 0);
  assert_int_equal(imsec_milenage_set_opc(f->m, k, opc), 0);
  assert_int_equal(imsec_aka_vector_make_rand(f->m, rand, sqn, amf, &f->v), 0);
  assert_int_equal(imsec_digest_aka_nonce_encode(f->v.rand, f->v.autn,
                                                 (imsec_bytes){NULL, 0},
                                                 f->nonce, sizeof(f->nonce)),
                   44);
}

static void aka_known_answers(void **state) {
  imsec_crypto *c = *state;
  aka_fix f;
  aka_fix_init(c, &f);
  assert_string_equal(f.nonce, "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=");

  /* The UE runs AKA on the nonce with a fresh SQN state. */
  uint8_t rand[16], autn[16];
  size_t extra = 99;
  assert_int_equal(
      imsec_digest_aka_nonce_decode(S(f.nonce), rand, autn, &extra), 0);
  assert_int_equal(extra, 0);
  imsec_sqn_ue st = {0};
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  /* Set 1's SQN ff9bb4d0b607 is far beyond delta from zero: accept it by
   * starting the UE just below it. */
  st.seq_ms[6] = (0xff9bb4d0b607ull >> 5) - 1;
  imsec_aka_ue_result r;
  assert_int_equal(imsec_aka_ue_run(f.m, &st, &cfg, rand, autn, &r), 0);
  assert_int_equal(r.status, IMSEC_AKA_UE_OK);
  t_assert_hex(r.res, r.res_len, "a54211d5e3ba50bf");

  imsec_digest_input in = {
      .username = S(IMPI),
      .realm = S(REALM),
      .method = S("REGISTER"),
      .uri = S(URI),
      .nonce = S(f.nonce),
      .qop = IMSEC_DIGEST_QOP_AUTH,
      .nc = S("00000001"),
      .cnonce = S("0a4f113b"),
  };
  char resp[33];
  assert_int_equal(imsec_digest_aka_response(c, IMSEC_DIGEST_AKAV1_MD5, &r, &in,
                                             resp, sizeof(resp)),
                   32);
  assert_string_equal(resp, "ac938deae93ef334838716c625aa85c0");

  uint8_t pw[32];
  assert_int_equal(imsec_digest_aka_password(c, IMSEC_DIGEST_AKAV2_MD5, r.res,
                                             r.res_len, r.ik, r.ck, pw,
                                             sizeof(pw)),
                   24);
  assert_memory_equal(pw, "shzt3q8CWaZnCAWqs3WmEQ==", 24);
  assert_int_equal(imsec_digest_aka_password(c, IMSEC_DIGEST_AKAV1_MD5, r.res,
                                             r.res_len, r.ik, r.ck, pw,
                                             sizeof(pw)),
                   8);
  t_assert_hex(pw, 8, "a54211d5e3ba50bf");
  assert_int_equal(imsec_digest_aka_password(c, IMSEC_DIGEST_MD5, r.res,
                                             r.res_len, r.ik, r.ck, pw,
                                             sizeof(pw)),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_digest_aka_response(c, IMSEC_DIGEST_AKAV2_MD5, &r, &in,
                                             resp, sizeof(resp)),
                   32);
  assert_string_equal(resp, "2405b88528810f744bf4f764d59d5f73");

  /* The S-CSCF verifies both from the vector. */
  for (int v2 = 0; v2 < 2; v2++) {
    imsec_digest_alg alg = v2 ? IMSEC_DIGEST_AKAV2_MD5 : IMSEC_DIGEST_AKAV1_MD5;
    char hdr[512];
    snprintf(hdr, sizeof(hdr),
             "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
             "response=\"%s\", algorithm=%s, qop=auth, nc=00000001, "
             "cnonce=\"0a4f113b\"",
             IMPI, REALM, f.nonce, URI,
             v2 ? "2405b88528810f744bf4f764d59d5f73"
                : "ac938deae93ef334838716c625aa85c0",
             imsec_digest_alg_name(alg));
    imsec_digest_params p;
    assert_int_equal(imsec_digest_parse_credentials(S(hdr), &p), 0);
    uint8_t auts[14];
    imsec_bytes none = {NULL, 0};
    assert_int_equal(
        imsec_digest_aka_verify(c, &p, alg, &f.v, S("REGISTER"), none, auts),
        0);
    /* The other version's password does not verify. */
    assert_int_equal(imsec_digest_aka_verify(c, &p,
                                             v2 ? IMSEC_DIGEST_AKAV1_MD5
                                                : IMSEC_DIGEST_AKAV2_MD5,
                                             &f.v, S("REGISTER"), none, auts),
                     IMSEC_ERR_AUTH);
    /* Another vector's nonce is refused. */
    imsec_aka_vector w = f.v;
    w.rand[0] ^= 1;
    assert_int_equal(
        imsec_digest_aka_verify(c, &p, alg, &w, S("REGISTER"), none, auts),
        IMSEC_ERR_AUTH);
    w = f.v;
    w.xres[7] ^= 1;
    assert_int_equal(
        imsec_digest_aka_verify(c, &p, alg, &w, S("REGISTER"), none, auts),
        IMSEC_ERR_AUTH);
  }
  imsec_aka_ue_result_wipe(&r);
  imsec_milenage_del(f.m);
}

/* Sync failure end to end: UE ahead of the network -> auts -> S-CSCF
 * extracts AUTS -> HE resynchronises -> the next vector is accepted. */
static void aka_sync_failure(void **state) {
  imsec_crypto *c = *state;
  aka_fix f;
  aka_fix_init(c, &f);
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_sqn_ue st = {0};
  st.seq_ms[7] = 0xff9bb4d0b607ull >> 5; /* already accepted set 1's SQN */
  uint8_t rand[16], autn[16];
  assert_int_equal(imsec_digest_aka_nonce_decode(S(f.nonce), rand, autn, NULL),
                   0);
  imsec_aka_ue_result r;
  assert_int_equal(imsec_aka_ue_run(f.m, &st, &cfg, rand, autn, &r), 0);
  assert_int_equal(r.status, IMSEC_AKA_UE_SYNC_FAIL);
  char auts_b64[32];
  assert_int_equal(
      imsec_digest_aka_auts_encode(r.auts, auts_b64, sizeof(auts_b64)), 20);
  imsec_digest_input in = {.username = S(IMPI),
                           .realm = S(REALM),
                           .method = S("REGISTER"),
                           .uri = S(URI),
                           .nonce = S(f.nonce),
                           .qop = IMSEC_DIGEST_QOP_AUTH,
                           .nc = S("00000001"),
                           .cnonce = S("0a4f113b")};
  char resp[33];
  assert_int_equal(imsec_digest_aka_response(c, IMSEC_DIGEST_AKAV1_MD5, &r, &in,
                                             resp, sizeof(resp)),
                   32);
  /* Empty password (independently recomputed). */
  assert_string_equal(resp, "acbb32a21f7fba8142c4874ff2e37366");
  char hdr[512];
  snprintf(hdr, sizeof(hdr),
           "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
           "response=\"%s\", algorithm=AKAv1-MD5, qop=auth, nc=00000001, "
           "cnonce=\"0a4f113b\", auts=\"%s\"",
           IMPI, REALM, f.nonce, URI, resp, auts_b64);
  imsec_digest_params p;
  assert_int_equal(imsec_digest_parse_credentials(S(hdr), &p), 0);
  uint8_t auts[14];
  imsec_bytes none = {NULL, 0};
  assert_int_equal(imsec_digest_aka_verify(c, &p, IMSEC_DIGEST_AKAV1_MD5, &f.v,
                                           S("REGISTER"), none, auts),
                   IMSEC_ERR_SYNC);
  assert_memory_equal(auts, r.auts, 14);
  uint8_t dec[14];
  assert_int_equal(imsec_digest_aka_auts_decode(S(auts_b64), dec), 0);
  assert_memory_equal(dec, r.auts, 14);
  assert_int_equal(
      imsec_digest_aka_auts_decode(S("AAAAAAAAAAAAAAAAAAAAAAAA"), dec),
      IMSEC_ERR_PARSE);
  /* A broken auts is a parse error, not a resync. */
  imsec_digest_params q = p;
  q.auts = S("AAAA");
  assert_int_equal(imsec_digest_aka_verify(c, &q, IMSEC_DIGEST_AKAV1_MD5, &f.v,
                                           S("REGISTER"), none, auts),
                   IMSEC_ERR_PARSE);

  /* The HE resynchronises and its next vector is fresh for the UE. */
  imsec_sqn_he he = {.seq = 5, .ind_next = 0};
  uint8_t sqn_ms[6];
  assert_int_equal(imsec_sqn_he_resync(&he, &cfg, f.m, f.v.rand, auts, sqn_ms),
                   0);
  t_assert_hex(sqn_ms, 6, "ff9bb4d0b607");
  assert_int_equal(he.seq, 0xff9bb4d0b607ull >> 5);
  uint8_t sqn[6], amf[2] = {0x80, 0x00};
  assert_int_equal(imsec_sqn_he_next(&he, &cfg, sqn), 0);
  imsec_aka_vector v2;
  assert_int_equal(imsec_aka_vector_make(f.m, sqn, amf, &v2), 0);
  assert_int_equal(imsec_aka_ue_run(f.m, &st, &cfg, v2.rand, v2.autn, &r), 0);
  assert_int_equal(r.status, IMSEC_AKA_UE_OK);
  assert_memory_equal(r.res, v2.xres, 8);
  assert_memory_equal(r.ck, v2.ck, 16);
  assert_memory_equal(r.ik, v2.ik, 16);

  /* MAC failure: a tampered AUTN gives no response, and no state change. */
  imsec_sqn_ue before = st;
  v2.autn[15] ^= 0x40;
  assert_int_equal(imsec_aka_ue_run(f.m, &st, &cfg, v2.rand, v2.autn, &r), 0);
  assert_int_equal(r.status, IMSEC_AKA_UE_MAC_FAIL);
  assert_memory_equal(&before, &st, sizeof(st));
  assert_int_equal(imsec_digest_aka_response(c, IMSEC_DIGEST_AKAV1_MD5, &r, &in,
                                             resp, sizeof(resp)),
                   IMSEC_ERR_MAC);
  imsec_milenage_del(f.m);
}

static void aka_challenge(void **state) {
  imsec_crypto *c = *state;
  aka_fix f;
  aka_fix_init(c, &f);
  char buf[512];
  int n =
      imsec_digest_aka_challenge_build(&f.v, IMSEC_DIGEST_AKAV2_MD5, S(REALM),
                                       S("auth"), S(""), 1, buf, sizeof(buf));
  assert_true(n > 0);
  assert_string_equal(buf,
                      "Digest realm=\"ims.mnc015.mcc234.3gppnetwork.org\", "
                      "nonce=\"I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=\", "
                      "algorithm=AKAv2-MD5, qop=\"auth\", "
                      "ck=\"b40ba9a3c58b2a05bbf0d987b21bf8cb\", "
                      "ik=\"f769bcd751044604127672711c6d3441\"");
  imsec_digest_params p;
  assert_int_equal(
      imsec_digest_parse_challenge(imsec_str_make(buf, (size_t)n), &p), 0);
  uint8_t rand[16], autn[16];
  assert_int_equal(imsec_digest_aka_nonce_decode(p.nonce, rand, autn, NULL), 0);
  assert_memory_equal(rand, f.v.rand, 16);
  assert_memory_equal(autn, f.v.autn, 16);
  n = imsec_digest_aka_challenge_build(&f.v, IMSEC_DIGEST_AKAV1_MD5, S(REALM),
                                       S(""), S("op"), 0, buf, sizeof(buf));
  assert_true(n > 0);
  assert_string_equal(buf,
                      "Digest realm=\"ims.mnc015.mcc234.3gppnetwork.org\", "
                      "nonce=\"I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=\", "
                      "opaque=\"op\", algorithm=AKAv1-MD5");
  assert_int_equal(imsec_digest_aka_challenge_build(&f.v, IMSEC_DIGEST_MD5,
                                                    S(REALM), S(""), S(""), 0,
                                                    buf, sizeof(buf)),
                   IMSEC_ERR_INVAL);
  assert_int_equal(
      imsec_digest_aka_challenge_build(&f.v, IMSEC_DIGEST_AKAV1_MD5, S(REALM),
                                       S(""), S(""), 0, buf, 40),
      IMSEC_ERR_NOBUF);
  imsec_milenage_del(f.m);
}

/* The exchange as the S-CSCF and the UE run it, through the
 * builders and parsers only: challenge -> AKA at the UE -> Authorization
 * -> verification; then the same with the UE out of sync. */
static void aka_exchange(void **state) {
  imsec_crypto *c = *state;
  uint8_t k[16], opc[16];
  t_hex("fec86ba6eb707ed08905757b1bb44b8f", k, 16);
  t_hex("1006020f0a478bf6b699f15c062e42b3", opc, 16);
  imsec_milenage *hss = NULL, *isim = NULL;
  assert_int_equal(imsec_milenage_new(&hss, c), 0);
  assert_int_equal(imsec_milenage_set_op(hss, k, opc), 0);
  assert_int_equal(imsec_milenage_new(&isim, c), 0);
  assert_int_equal(imsec_milenage_set_op(isim, k, opc), 0);
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_sqn_he he = {0};
  imsec_sqn_ue ue = {0};
  const uint8_t amf[2] = {0x80, 0x00};

  for (int round = 0; round < 4; round++) {
    imsec_digest_alg alg =
        (round & 1) ? IMSEC_DIGEST_AKAV2_MD5 : IMSEC_DIGEST_AKAV1_MD5;
    int desync = round >= 2;
    if (desync) /* the ISIM has seen far newer vectors */
      ue.seq_ms[0] = he.seq + 100;
    /* HSS + S-CSCF: vector and challenge. */
    uint8_t sqn[6];
    assert_int_equal(imsec_sqn_he_next(&he, &cfg, sqn), 0);
    imsec_aka_vector v;
    assert_int_equal(imsec_aka_vector_make(hss, sqn, amf, &v), 0);
    char www[512];
    int n = imsec_digest_aka_challenge_build(&v, alg, S(REALM), S("auth"),
                                             S(""), 0, www, sizeof(www));
    assert_true(n > 0);

    /* UE: parse, run AKA, answer. */
    imsec_digest_params ch;
    assert_int_equal(
        imsec_digest_parse_challenge(imsec_str_make(www, (size_t)n), &ch), 0);
    imsec_digest_alg got_alg;
    assert_int_equal(imsec_digest_alg_parse(ch.algorithm, &got_alg), 0);
    assert_int_equal(got_alg, alg);
    assert_true(imsec_digest_qop_has(ch.qop, "auth"));
    uint8_t rand[16], autn[16];
    assert_int_equal(imsec_digest_aka_nonce_decode(ch.nonce, rand, autn, NULL),
                     0);
    imsec_aka_ue_result r;
    assert_int_equal(imsec_aka_ue_run(isim, &ue, &cfg, rand, autn, &r), 0);
    assert_int_equal(r.status,
                     desync ? IMSEC_AKA_UE_SYNC_FAIL : IMSEC_AKA_UE_OK);
    imsec_digest_input in = {.username = S(IMPI),
                             .realm = ch.realm,
                             .method = S("REGISTER"),
                             .uri = S(URI),
                             .nonce = ch.nonce,
                             .qop = IMSEC_DIGEST_QOP_AUTH,
                             .nc = S("00000001"),
                             .cnonce = S("b1ac")};
    char resp[33], auts_b64[24];
    assert_int_equal(
        imsec_digest_aka_response(c, alg, &r, &in, resp, sizeof(resp)), 32);
    imsec_digest_params cr = {0};
    cr.username = in.username;
    cr.realm = in.realm;
    cr.nonce = in.nonce;
    cr.uri = in.uri;
    cr.response = S(resp);
    cr.algorithm = ch.algorithm;
    cr.qop = S("auth");
    cr.nc = in.nc;
    cr.cnonce = in.cnonce;
    if (desync) {
      assert_int_equal(
          imsec_digest_aka_auts_encode(r.auts, auts_b64, sizeof(auts_b64)), 20);
      cr.auts = S(auts_b64);
    }
    char authz[1024];
    n = imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &cr, authz, sizeof(authz));
    assert_true(n > 0);

    /* S-CSCF: parse and verify against the vector it kept. */
    imsec_digest_params p;
    assert_int_equal(
        imsec_digest_parse_credentials(imsec_str_make(authz, (size_t)n), &p),
        0);
    uint32_t hi = 0;
    assert_int_equal(imsec_digest_nc_check(p.nc, &hi), 0);
    uint8_t auts[14];
    int rv = imsec_digest_aka_verify(c, &p, alg, &v, S("REGISTER"),
                                     (imsec_bytes){NULL, 0}, auts);
    if (!desync) {
      assert_int_equal(rv, 0);
      assert_memory_equal(r.ck, v.ck, 16);
      assert_memory_equal(r.ik, v.ik, 16);
    } else {
      assert_int_equal(rv, IMSEC_ERR_SYNC);
      uint8_t sqn_ms[6];
      assert_int_equal(
          imsec_sqn_he_resync(&he, &cfg, hss, v.rand, auts, sqn_ms), 0);
      assert_true(imsec_sqn_to_u64(sqn_ms) == imsec_sqn_ue_highest(&ue, &cfg));
      /* The next vector after resync is accepted. */
      assert_int_equal(imsec_sqn_he_next(&he, &cfg, sqn), 0);
      assert_int_equal(imsec_aka_vector_make(hss, sqn, amf, &v), 0);
      assert_int_equal(imsec_aka_ue_run(isim, &ue, &cfg, v.rand, v.autn, &r),
                       0);
      assert_int_equal(r.status, IMSEC_AKA_UE_OK);
    }
    imsec_aka_ue_result_wipe(&r);
    imsec_aka_vector_wipe(&v);
  }
  imsec_milenage_del(hss);
  imsec_milenage_del(isim);
}

static void aka_nonce_codec(void **state) {
  (void)state;
  uint8_t rand[16], autn[16], sd[3] = {1, 2, 3};
  memset(rand, 0x11, 16);
  memset(autn, 0x22, 16);
  char b64[128];
  int n = imsec_digest_aka_nonce_encode(rand, autn, (imsec_bytes){sd, 3}, b64,
                                        sizeof(b64));
  assert_int_equal(n, 48);
  uint8_t r2[16], a2[16];
  size_t extra = 0;
  assert_int_equal(imsec_digest_aka_nonce_decode(imsec_str_make(b64, (size_t)n),
                                                 r2, a2, &extra),
                   0);
  assert_int_equal(extra, 3);
  assert_memory_equal(r2, rand, 16);
  assert_memory_equal(a2, autn, 16);
  assert_int_equal(imsec_digest_aka_nonce_decode(S("AAAA"), r2, a2, NULL),
                   IMSEC_ERR_PARSE);
  assert_int_equal(
      imsec_digest_aka_nonce_decode(S("not base64!"), r2, a2, NULL),
      IMSEC_ERR_PARSE);
  assert_int_equal(imsec_digest_aka_nonce_encode(
                       rand, autn, (imsec_bytes){NULL, 0}, b64, 44),
                   IMSEC_ERR_NOBUF);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_challenge_rfc2617),
      cmocka_unit_test(parse_credentials),
      cmocka_unit_test(parse_negative),
      cmocka_unit_test(unquote),
      cmocka_unit_test(build_round_trip),
      cmocka_unit_test(known_answers),
      cmocka_unit_test(server_verify),
      cmocka_unit_test(server_verify_ha1),
      cmocka_unit_test(aka_known_answers),
      cmocka_unit_test(aka_sync_failure),
      cmocka_unit_test(aka_challenge),
      cmocka_unit_test(aka_exchange),
      cmocka_unit_test(aka_nonce_codec),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
