/* lib/sip: typed IMS headers, lazy cache, limits, the editor and the
 * builder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "test_util.h"

#define SEQ(a, lit) assert_true(imsec_str_eq((a), IMSEC_STR_LIT(lit)))

static const char reg[] =
    "REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\n"
    "Via: SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bK1a2b;rport;alias\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>;tag=4fa3\r\n"
    "To: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>\r\n"
    "Call-ID: a84b4c76e66710@2001:db8::9\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: <sip:001010000000001@[2001:db8::9]:5061;transport=tls>"
    ";expires=600000;+sip.instance=\"<urn:gsma:imei:35209900-176148-1>\""
    ";reg-id=1;ob;q=0.5\r\n"
    "Path: <sip:term@pcscf.ims.mnc001.mcc001.3gppnetwork.org;lr>\r\n"
    "Supported: path, outbound, gruu\r\n"
    "Require: sec-agree\r\n"
    "Proxy-Require: sec-agree\r\n"
    "Security-Client: tls;q=0.2, ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;"
    "spi-c=1234;spi-s=1235;port-c=5062;port-s=5063\r\n"
    "Authorization: Digest username=\"001010000000001@ims.mnc001.mcc001."
    "3gppnetwork.org\", realm=\"ims.mnc001.mcc001.3gppnetwork.org\", "
    "nonce=\"a,b\", uri=\"sip:ims.mnc001.mcc001.3gppnetwork.org\", "
    "response=\"6629fae49393a05397450978507c4ef1\", algorithm=AKAv1-MD5\r\n"
    "P-Access-Network-Info: 3GPP-E-UTRAN-FDD; "
    "utran-cell-id-3gpp=0010100010019B01\r\n"
    "P-Visited-Network-ID: \"Visited network number 1\", other.net\r\n"
    "P-Preferred-Identity: <sip:user1@home.net>\r\n"
    "Expires: 600000\r\n"
    "Allow: INVITE, ACK, BYE\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static char *dup_msg(const char *s, size_t *len) {
  *len = strlen(s);
  char *b = malloc(*len + 1);
  memcpy(b, s, *len + 1);
  return b;
}

static void ims_register(void **state) {
  (void)state;
  size_t len;
  char *buf = dup_msg(reg, &len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, buf, len, 1), 0);
  assert_int_equal(imsec_sip_check(&m), 0);
  assert_true(m.is_request);
  assert_int_equal(m.method_id, IMSEC_SIP_M_REGISTER);
  assert_int_equal(imsec_sip_msg_len(&m), len);

  const imsec_sip_via *v;
  assert_int_equal(imsec_sip_get_via(&m, &v), 0);
  SEQ(v->transport, "TLS");
  SEQ(v->host, "[2001:db8::9]");
  assert_int_equal(v->host_type, IMSEC_SIP_HOST_IPV6);
  assert_int_equal(v->port, 5061);
  SEQ(v->branch, "z9hG4bK1a2b");
  assert_true(v->has_rport);
  assert_int_equal(v->rport.len, 0);
  assert_true(v->has_alias);
  const imsec_sip_via *v2;
  assert_int_equal(imsec_sip_get_via(&m, &v2), 0);
  assert_ptr_equal(v, v2); /* cached */

  const imsec_sip_addr *from, *to;
  assert_int_equal(imsec_sip_get_from(&m, &from), 0);
  SEQ(from->tag, "4fa3");
  assert_int_equal(imsec_sip_get_to(&m, &to), 0);
  assert_int_equal(to->tag.len, 0);
  SEQ(to->uri, "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org");
  imsec_str cid;
  assert_int_equal(imsec_sip_get_call_id(&m, &cid), 0);
  SEQ(cid, "a84b4c76e66710@2001:db8::9");
  const imsec_sip_cseq *cs;
  assert_int_equal(imsec_sip_get_cseq(&m, &cs), 0);
  assert_int_equal(cs->seq, 2);
  assert_int_equal(cs->method_id, IMSEC_SIP_M_REGISTER);
  uint32_t u;
  assert_int_equal(imsec_sip_get_max_forwards(&m, &u), 0);
  assert_int_equal(u, 70);
  assert_int_equal(imsec_sip_get_expires(&m, &u), 0);
  assert_int_equal(u, 600000);
  uint64_t cl;
  assert_int_equal(imsec_sip_get_content_length(&m, &cl), 0);
  assert_int_equal(cl, 0);
  const imsec_sip_token *ct;
  assert_int_equal(imsec_sip_get_content_type(&m, &ct), IMSEC_ERR_NOTFOUND);

  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr c;
  assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_CONTACT, &it, &c), 1);
  assert_int_equal(c.expires, 600000);
  SEQ(c.instance, "<urn:gsma:imei:35209900-176148-1>");
  assert_int_equal(c.reg_id, 1);
  assert_true(c.ob);
  assert_int_equal(c.q, 500);
  assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_CONTACT, &it, &c), 0);

  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_PATH, &it, &c), 1);
  SEQ(c.uri, "sip:term@pcscf.ims.mnc001.mcc001.3gppnetwork.org;lr");

  /* RFC 3329: two mechanisms, ipsec-3gpp parameters as opaque pairs */
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  imsec_sip_secmech sm;
  assert_int_equal(
      imsec_sip_secmech_next(&m, IMSEC_SIP_H_SECURITY_CLIENT, &it, &sm), 1);
  SEQ(sm.mechanism, "tls");
  assert_int_equal(sm.q, 200);
  assert_int_equal(
      imsec_sip_secmech_next(&m, IMSEC_SIP_H_SECURITY_CLIENT, &it, &sm), 1);
  SEQ(sm.mechanism, "ipsec-3gpp");
  assert_int_equal(sm.q, 100);
  imsec_sip_param p;
  assert_true(imsec_sip_param_find(sm.params, "spi-c", &p));
  SEQ(p.value, "1234");
  assert_true(imsec_sip_param_find(sm.params, "ALG", &p));
  SEQ(p.value, "hmac-sha-1-96");
  assert_false(imsec_sip_param_find(sm.params, "ealg", &p));
  imsec_str rest = sm.params;
  int n = 0;
  while (imsec_sip_param_next(&rest, &p))
    n++;
  assert_int_equal(n, 6);
  assert_int_equal(
      imsec_sip_secmech_next(&m, IMSEC_SIP_H_SECURITY_CLIENT, &it, &sm), 0);

  /* Authorization: one raw value, commas in quotes do not split */
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  assert_int_equal(
      imsec_sip_auth_next(&m, IMSEC_SIP_H_AUTHORIZATION, &it, &raw), 1);
  assert_true(imsec_str_istarts_with(raw, IMSEC_STR_LIT("Digest username=")));
  assert_true(imsec_str_iends_with(raw, IMSEC_STR_LIT("algorithm=AKAv1-MD5")));
  assert_int_equal(
      imsec_sip_auth_next(&m, IMSEC_SIP_H_AUTHORIZATION, &it, &raw), 0);
  assert_int_equal(imsec_sip_auth_next(&m, IMSEC_SIP_H_VIA, &it, &raw),
                   IMSEC_ERR_INVAL);

  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  imsec_sip_token t;
  assert_int_equal(
      imsec_sip_token_next(&m, IMSEC_SIP_H_P_ACCESS_NETWORK_INFO, &it, &t), 1);
  SEQ(t.token, "3GPP-E-UTRAN-FDD");
  assert_true(imsec_sip_param_find(t.params, "utran-cell-id-3gpp", &p));
  SEQ(p.value, "0010100010019B01");
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  assert_int_equal(
      imsec_sip_token_next(&m, IMSEC_SIP_H_P_VISITED_NETWORK_ID, &it, &t), 1);
  SEQ(t.token, "\"Visited network number 1\"");
  assert_int_equal(
      imsec_sip_token_next(&m, IMSEC_SIP_H_P_VISITED_NETWORK_ID, &it, &t), 1);
  SEQ(t.token, "other.net");
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  const char *want[] = {"path", "outbound", "gruu"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(imsec_sip_token_next(&m, IMSEC_SIP_H_SUPPORTED, &it, &t),
                     1);
    assert_true(imsec_str_eq(t.token, imsec_str_c(want[i])));
  }
  assert_int_equal(imsec_sip_token_next(&m, IMSEC_SIP_H_SUPPORTED, &it, &t), 0);
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  assert_int_equal(
      imsec_sip_addr_next(&m, IMSEC_SIP_H_P_PREFERRED_IDENTITY, &it, &c), 1);
  SEQ(c.uri, "sip:user1@home.net");
  imsec_sip_msg_free(&m);
  free(buf);
}

static void names(void **state) {
  (void)state;
  for (int id = 1; id < IMSEC_SIP_H_COUNT; id++) {
    const char *n = imsec_sip_hid_name((imsec_sip_hid)id);
    assert_int_equal(imsec_sip_hid_lookup(imsec_str_c(n)), id);
  }
  assert_int_equal(imsec_sip_hid_lookup(IMSEC_STR_LIT("v")), IMSEC_SIP_H_VIA);
  assert_int_equal(imsec_sip_hid_lookup(IMSEC_STR_LIT("I")),
                   IMSEC_SIP_H_CALL_ID);
  assert_int_equal(imsec_sip_hid_lookup(IMSEC_STR_LIT("security-CLIENT")),
                   IMSEC_SIP_H_SECURITY_CLIENT);
  assert_int_equal(imsec_sip_hid_lookup(IMSEC_STR_LIT("X-Foo")),
                   IMSEC_SIP_H_OTHER);
  assert_int_equal(imsec_sip_hid_lookup(IMSEC_STR_LIT("q")), IMSEC_SIP_H_OTHER);
  assert_string_equal(imsec_sip_hid_name(IMSEC_SIP_H_COUNT), "");
}

static int parse_text(const char *text, imsec_sip_limits *lim, int stream,
                      imsec_sip_msg *m, char **buf) {
  size_t len;
  *buf = dup_msg(text, &len);
  imsec_sip_msg_init(m, lim);
  return imsec_sip_parse(m, *buf, len, stream);
}

static void limits(void **state) {
  (void)state;
  imsec_sip_limits lim;
  imsec_sip_msg m;
  char *buf;
  imsec_sip_limits_default(&lim);
  assert_int_equal(lim.max_msg, 65536);

  /* more header fields than inline storage: grows, then hits the limit */
  char big[16384];
  size_t n =
      (size_t)snprintf(big, sizeof(big), "OPTIONS sip:a@b.c SIP/2.0\r\n");
  for (int i = 0; i < 100; i++)
    n += (size_t)snprintf(big + n, sizeof(big) - n, "X-H%d: %d\r\n", i, i);
  n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
  assert_int_equal(parse_text(big, NULL, 0, &m, &buf), 0);
  assert_int_equal(m.nhdrs, 100);
  imsec_sip_msg_free(&m);
  free(buf);
  lim.max_headers = 50;
  assert_int_equal(parse_text(big, &lim, 0, &m, &buf), IMSEC_ERR_LIMIT);
  assert_int_equal(m.diag.status, 513);
  imsec_sip_msg_free(&m);
  free(buf);

  imsec_sip_limits_default(&lim);
  lim.max_line = 30;
  assert_int_equal(parse_text("OPTIONS sip:a@b.c SIP/2.0\r\nSubject: "
                              "0123456789012345678901234567890123\r\n\r\n",
                              &lim, 0, &m, &buf),
                   IMSEC_ERR_LIMIT);
  assert_int_equal(m.diag.line, 2);
  assert_int_equal(m.diag.status, 400); /* one field, not the message */
  imsec_sip_msg_free(&m);
  free(buf);
  /* a folded field counts with its folds */
  assert_int_equal(parse_text("OPTIONS sip:a@b.c SIP/2.0\r\nSubject: 0123\r\n "
                              "456789\r\n 0123456789\r\n 0123456789\r\n\r\n",
                              &lim, 0, &m, &buf),
                   IMSEC_ERR_LIMIT);
  imsec_sip_msg_free(&m);
  free(buf);

  imsec_sip_limits_default(&lim);
  lim.max_msg = 100;
  assert_int_equal(
      parse_text("OPTIONS sip:a@b.c SIP/2.0\r\nContent-Length: 90\r\n\r\n",
                 &lim, 1, &m, &buf),
      IMSEC_ERR_LIMIT);
  assert_int_equal(m.diag.status, 513);
  imsec_sip_msg_free(&m);
  free(buf);

  imsec_sip_limits_default(&lim);
  lim.max_params = 2;
  assert_int_equal(parse_text("OPTIONS sip:a@b.c SIP/2.0\r\nVia: SIP/2.0/UDP "
                              "h.example;a;b;c\r\nFrom: <sip:a@b.c>;tag=1\r\n"
                              "To: <sip:a@b.c>\r\nCall-ID: x\r\nCSeq: 1 "
                              "OPTIONS\r\n\r\n",
                              &lim, 0, &m, &buf),
                   0);
  assert_int_equal(imsec_sip_check(&m), IMSEC_ERR_LIMIT);
  assert_int_equal(m.diag.status, 400);
  imsec_sip_msg_free(&m);
  free(buf);
}

static void malformed(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int stream;
    int rv;
    unsigned status;
  } cases[] = {
      {"", 0, IMSEC_ERR_AGAIN, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\n", 0, IMSEC_ERR_AGAIN, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nVia x\r\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\n: x\r\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      /* a CR is not a '-' in a known name, nor a token character */
      {"OPTIONS sip:a@b.c SIP/2.0\r\nCall\rID: x\r\n\r\n", 0, IMSEC_ERR_PARSE,
       400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nV\x01: x\r\n\r\n", 0, IMSEC_ERR_PARSE,
       400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nX Y: x\r\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nA: x\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/3.0\r\n\r\n", 0, IMSEC_ERR_UNSUPPORTED, 505},
      {"OPTIONS sip:a@b.c HTTP/1.1\r\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"SIP/2.0 20 OK\r\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"SIP/2.0 099 OK\r\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"SIP/2.0 200\r\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\n\r\n", 1, IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nl: 5\r\n\r\nab", 1, IMSEC_ERR_AGAIN, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nl: 5\r\n\r\nab", 0, IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nl: 5\r\nl: 5\r\n\r\nabcde", 0,
       IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nl: x\r\n\r\n", 0, IMSEC_ERR_PARSE, 400},
      {"OPTIONS sip:a@b.c SIP/2.0\r\nl: 99999999999999999999999\r\n\r\n", 0,
       IMSEC_ERR_LIMIT, 513},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    imsec_sip_msg m;
    char *buf;
    int rv = parse_text(cases[i].text, NULL, cases[i].stream, &m, &buf);
    if (rv != cases[i].rv || m.diag.status != cases[i].status)
      fail_msg("case %zu: rv %d status %u", i, rv, m.diag.status);
    imsec_sip_msg_free(&m);
    free(buf);
  }
  /* typed grammars on their own */
  imsec_sip_via v;
  assert_int_equal(imsec_sip_via_parse(IMSEC_STR_LIT("SIP/2.0/UDP"), 0, &v),
                   IMSEC_ERR_PARSE);
  assert_int_equal(
      imsec_sip_via_parse(IMSEC_STR_LIT("SIP/2.0/UDP h;received=x y"), 0, &v),
      IMSEC_ERR_PARSE);
  assert_int_equal(
      imsec_sip_via_parse(IMSEC_STR_LIT("SIP/2.0/UDP h;received=::1"), 0, &v),
      0);
  assert_int_equal(
      imsec_sip_via_parse(IMSEC_STR_LIT("SIP/2.0/UDP h;rport=70000"), 0, &v),
      IMSEC_ERR_PARSE);
  assert_int_equal(
      imsec_sip_via_parse(IMSEC_STR_LIT("SIP/2.0/UDP h : 5060 ;ttl=3"), 0, &v),
      0);
  assert_int_equal(v.port, 5060);
  imsec_sip_addr a;
  assert_int_equal(imsec_sip_addr_parse(IMSEC_STR_LIT("<sip:a@b.c"), 0, &a),
                   IMSEC_ERR_PARSE);
  assert_int_equal(
      imsec_sip_addr_parse(IMSEC_STR_LIT("<sip:a@b.c>;q=1.5"), 0, &a),
      IMSEC_ERR_PARSE);
  assert_int_equal(imsec_sip_addr_parse(IMSEC_STR_LIT("*"), 0, &a), 0);
  assert_true(a.star);
  imsec_sip_cseq cs;
  assert_int_equal(
      imsec_sip_cseq_parse(IMSEC_STR_LIT("2147483648 INVITE"), &cs),
      IMSEC_ERR_LIMIT);
  assert_int_equal(imsec_sip_cseq_parse(IMSEC_STR_LIT("1INVITE"), &cs),
                   IMSEC_ERR_PARSE);
  assert_int_equal(
      imsec_sip_date_parse(IMSEC_STR_LIT("Sat, 13 Nov 2010 23:29:00 GMT")), 0);
  assert_int_equal(
      imsec_sip_date_parse(IMSEC_STR_LIT("Sat, 13 Nov 2010 23:29:00 EST")),
      IMSEC_ERR_PARSE);
  imsec_str id;
  assert_int_equal(imsec_sip_callid_parse(IMSEC_STR_LIT("a@b@c"), &id),
                   IMSEC_ERR_PARSE);
  imsec_sip_secmech sm;
  assert_int_equal(imsec_sip_secmech_parse(IMSEC_STR_LIT("tls;q=2"), 0, &sm),
                   IMSEC_ERR_PARSE);
}

/* RFC 3261 §7.3.1: empty elements in lists are errors; an empty list
 * field is no value. */
static void lists(void **state) {
  (void)state;
  imsec_sip_msg m;
  char *buf;
  assert_int_equal(parse_text("OPTIONS sip:a@b.c SIP/2.0\r\nSupported:\r\n"
                              "Supported: a,b\r\nRequire: a,,b\r\n"
                              "Route: <sip:a@b.c;lr>,\r\n"
                              "Contact: \"a,b\" <sip:x@y.z>\r\n\r\n",
                              NULL, 0, &m, &buf),
                   0);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  assert_int_equal(
      imsec_sip_value_next(&m, IMSEC_SIP_H_SUPPORTED, &it, &v, NULL), 1);
  SEQ(v, "a");
  assert_int_equal(
      imsec_sip_value_next(&m, IMSEC_SIP_H_SUPPORTED, &it, &v, NULL), 1);
  SEQ(v, "b");
  assert_int_equal(
      imsec_sip_value_next(&m, IMSEC_SIP_H_SUPPORTED, &it, &v, NULL), 0);
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  assert_int_equal(imsec_sip_value_next(&m, IMSEC_SIP_H_REQUIRE, &it, &v, NULL),
                   1);
  assert_int_equal(imsec_sip_value_next(&m, IMSEC_SIP_H_REQUIRE, &it, &v, NULL),
                   IMSEC_ERR_PARSE);
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  assert_int_equal(imsec_sip_value_next(&m, IMSEC_SIP_H_ROUTE, &it, &v, NULL),
                   IMSEC_ERR_PARSE);
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_CONTACT, &it, &a), 1);
  SEQ(a.display, "a,b");
  assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_CONTACT, &it, &a), 0);
  imsec_sip_msg_free(&m);
  free(buf);
}

static void editor(void **state) {
  (void)state;
  size_t len;
  char *buf = dup_msg(reg, &len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, buf, len, 1), 0);
  /* what a P-CSCF does to a REGISTER on its way to the S-CSCF */
  assert_int_equal(
      imsec_sip_msg_push_top(&m, IMSEC_STR_LIT("Via"),
                             IMSEC_STR_LIT("SIP/2.0/TCP pcscf.example;branch="
                                           "z9hG4bKp1")),
      0);
  assert_int_equal(
      imsec_sip_msg_push_top(&m, IMSEC_STR_LIT("Path"),
                             IMSEC_STR_LIT("<sip:flow1@pcscf.example;lr;ob>")),
      0);
  long ai = imsec_sip_msg_index(&m, IMSEC_SIP_H_AUTHORIZATION);
  assert_true(ai >= 0);
  assert_int_equal(
      imsec_sip_msg_replace(&m, (size_t)ai,
                            IMSEC_STR_LIT("Digest username=\"u\", "
                                          "integrity-protected=\"tls-yes\"")),
      0);
  assert_int_equal(imsec_sip_msg_remove_all(&m, IMSEC_SIP_H_PROXY_REQUIRE), 1);
  assert_int_equal(imsec_sip_msg_remove_all(&m, IMSEC_SIP_H_SECURITY_CLIENT),
                   1);
  assert_int_equal(
      imsec_sip_msg_set_ruri(&m, IMSEC_STR_LIT("sip:scscf.example")), 0);
  assert_int_equal(imsec_sip_msg_insert(&m, 0, IMSEC_STR_LIT("Bad Name"),
                                        IMSEC_STR_LIT("x")),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_sip_msg_insert(&m, 0, IMSEC_STR_LIT("X"),
                                        IMSEC_STR_LIT("a\r\nInjected: 1")),
                   IMSEC_ERR_INVAL);
  /* the typed view follows the edits */
  const imsec_sip_via *v;
  assert_int_equal(imsec_sip_get_via(&m, &v), 0);
  SEQ(v->host, "pcscf.example");

  char out[4096];
  int n = imsec_sip_msg_serialize(&m, out, sizeof(out));
  assert_true(n > 0);
  assert_int_equal(imsec_sip_msg_serialize(&m, out, 10), IMSEC_ERR_NOBUF);
  imsec_sip_msg m2;
  imsec_sip_msg_init(&m2, NULL);
  assert_int_equal(imsec_sip_parse(&m2, out, (size_t)n, 1), 0);
  assert_int_equal(imsec_sip_check(&m2), 0);
  SEQ(m2.ruri, "sip:scscf.example");
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_via via;
  assert_int_equal(imsec_sip_via_next(&m2, &it, &via), 1);
  SEQ(via.host, "pcscf.example");
  assert_int_equal(imsec_sip_via_next(&m2, &it, &via), 1);
  SEQ(via.host, "[2001:db8::9]");
  assert_null(imsec_sip_hdr_first(&m2, IMSEC_SIP_H_PROXY_REQUIRE));
  assert_null(imsec_sip_hdr_first(&m2, IMSEC_SIP_H_SECURITY_CLIENT));
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  assert_int_equal(imsec_sip_addr_next(&m2, IMSEC_SIP_H_PATH, &it, &a), 1);
  SEQ(a.uri, "sip:flow1@pcscf.example;lr;ob");
  const imsec_sip_hdr *h = imsec_sip_hdr_first(&m2, IMSEC_SIP_H_AUTHORIZATION);
  assert_true(imsec_str_iends_with(h->value, IMSEC_STR_LIT("\"tls-yes\"")));
  assert_int_equal(imsec_sip_msg_remove(&m, 999), IMSEC_ERR_INVAL);
  imsec_sip_msg_free(&m2);
  imsec_sip_msg_free(&m);
  free(buf);
}

static void builder(void **state) {
  (void)state;
  size_t len;
  char *buf = dup_msg(reg, &len);
  imsec_sip_msg req;
  imsec_sip_msg_init(&req, NULL);
  assert_int_equal(imsec_sip_parse(&req, buf, len, 1), 0);

  char out[2048];
  imsec_sip_builder b;
  imsec_sip_build_init(&b, out, sizeof(out));
  imsec_sip_build_response(&b, &req, 401, IMSEC_STR_LIT("Unauthorized"),
                           IMSEC_STR_LIT("srv1"));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("WWW-Authenticate"),
                         IMSEC_STR_LIT("Digest realm=\"r\", nonce=\"n\""));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("Security-Server"),
                         IMSEC_STR_LIT("tls;q=0.2"));
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  assert_true(n > 0);

  imsec_sip_msg rsp;
  imsec_sip_msg_init(&rsp, NULL);
  assert_int_equal(imsec_sip_parse(&rsp, out, (size_t)n, 1), 0);
  assert_int_equal(imsec_sip_check(&rsp), 0);
  assert_false(rsp.is_request);
  assert_int_equal(rsp.status, 401);
  SEQ(rsp.reason, "Unauthorized");
  const imsec_sip_addr *to, *from;
  assert_int_equal(imsec_sip_get_to(&rsp, &to), 0);
  SEQ(to->tag, "srv1");
  assert_int_equal(imsec_sip_get_from(&rsp, &from), 0);
  SEQ(from->tag, "4fa3");
  const imsec_sip_cseq *cs;
  assert_int_equal(imsec_sip_get_cseq(&rsp, &cs), 0);
  assert_int_equal(cs->seq, 2);
  const imsec_sip_via *v;
  assert_int_equal(imsec_sip_get_via(&rsp, &v), 0);
  SEQ(v->branch, "z9hG4bK1a2b");
  imsec_str cid;
  assert_int_equal(imsec_sip_get_call_id(&rsp, &cid), 0);
  SEQ(cid, "a84b4c76e66710@2001:db8::9");

  /* a request from scratch */
  imsec_sip_build_init(&b, out, sizeof(out));
  imsec_sip_build_request(&b, IMSEC_STR_LIT("OPTIONS"),
                          IMSEC_STR_LIT("sip:a@b.example"));
  imsec_sip_build_header(
      &b, IMSEC_STR_LIT("Via"),
      IMSEC_STR_LIT("SIP/2.0/TCP c.example;branch=z9hG4bKx"));
  imsec_sip_build_header_uint(&b, IMSEC_STR_LIT("Max-Forwards"), 70);
  imsec_sip_build_header(&b, IMSEC_STR_LIT("From"),
                         IMSEC_STR_LIT("<sip:c@c.example>;tag=1"));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("To"),
                         IMSEC_STR_LIT("<sip:a@b.example>"));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("Call-ID"), IMSEC_STR_LIT("x1"));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("CSeq"), IMSEC_STR_LIT("1 OPTIONS"));
  n = imsec_sip_build_finish(&b, IMSEC_STR_LIT("hello"));
  assert_true(n > 0);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, out, (size_t)n, 1), 0);
  assert_int_equal(imsec_sip_check(&m), 0);
  SEQ(m.body, "hello");

  /* errors are sticky */
  imsec_sip_build_init(&b, out, 20);
  imsec_sip_build_request(&b, IMSEC_STR_LIT("OPTIONS"),
                          IMSEC_STR_LIT("sip:a@b.example"));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("Via"), IMSEC_STR_LIT("x"));
  assert_int_equal(imsec_sip_build_finish(&b, IMSEC_STR_NULL), IMSEC_ERR_NOBUF);
  imsec_sip_build_init(&b, out, sizeof(out));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("Via"), IMSEC_STR_LIT("x\r\ny: z"));
  assert_int_equal(imsec_sip_build_finish(&b, IMSEC_STR_NULL), IMSEC_ERR_INVAL);
  imsec_sip_build_init(&b, out, sizeof(out));
  imsec_sip_build_status(&b, 99, IMSEC_STR_LIT("x"));
  assert_int_equal(imsec_sip_build_finish(&b, IMSEC_STR_NULL), IMSEC_ERR_INVAL);
  imsec_sip_build_init(&b, out, sizeof(out));
  imsec_sip_build_response(&b, &rsp, 200, IMSEC_STR_LIT("OK"), IMSEC_STR_NULL);
  assert_int_equal(imsec_sip_build_finish(&b, IMSEC_STR_NULL), IMSEC_ERR_INVAL);

  imsec_sip_msg_free(&m);
  imsec_sip_msg_free(&rsp);
  imsec_sip_msg_free(&req);
  free(buf);
}

/* Cached getters: errors are cached too; duplicates of single fields are
 * errors; Security-Server/-Verify; CRLFs before the start line. */
static void getters(void **state) {
  (void)state;
  imsec_sip_msg m;
  char *buf;
  assert_int_equal(
      parse_text("\r\n\r\nSIP/2.0 401 Unauthorized\r\n"
                 "v: SIP/2.0/TLS u.example:5061;branch=z9hG4bK9;received="
                 "[2001:db8::1];rport=5061\r\n"
                 "f: <sip:u@r.example>;tag=a\r\nt: <sip:u@r.example>;tag=b\r\n"
                 "t: <sip:v@r.example>\r\ni: x@y\r\nCSeq: 1 REGISTER\r\n"
                 "Security-Server: tls;q=0.2, ipsec-3gpp;q=0.1;alg=hmac-md5-96;"
                 "spi-c=1;spi-s=2;port-c=3;port-s=4\r\n"
                 "Security-Verify: tls;q=0.2\r\n"
                 "WWW-Authenticate: Digest realm=\"r, s\", nonce=\"n\"\r\n"
                 "WWW-Authenticate: Digest realm=\"t\", nonce=\"o\"\r\n"
                 "Content-Type: application/sdp ; charset=utf-8\r\n"
                 "Max-Forwards: 256\r\n"
                 "l: 0\r\n\r\n",
                 NULL, 1, &m, &buf),
      0);
  assert_false(m.is_request);
  assert_int_equal(m.status, 401);
  const imsec_sip_via *v;
  assert_int_equal(imsec_sip_get_via(&m, &v), 0);
  SEQ(v->received, "[2001:db8::1]");
  SEQ(v->rport, "5061");
  const imsec_sip_addr *a;
  assert_int_equal(imsec_sip_get_to(&m, &a), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_sip_get_to(&m, &a), IMSEC_ERR_PARSE); /* cached */
  assert_int_equal(imsec_sip_get_from(&m, &a), 0);
  SEQ(a->tag, "a");
  uint32_t mf;
  assert_int_equal(imsec_sip_get_max_forwards(&m, &mf), IMSEC_ERR_LIMIT);
  const imsec_sip_token *ct;
  assert_int_equal(imsec_sip_get_content_type(&m, &ct), 0);
  SEQ(ct->token, "application/sdp");
  imsec_sip_param p;
  assert_true(imsec_sip_param_find(ct->params, "charset", &p));
  SEQ(p.value, "utf-8");
  assert_int_equal(imsec_sip_check(&m), IMSEC_ERR_PARSE);
  assert_string_equal(m.diag.reason, "Multiple To");
  assert_int_equal(m.diag.line, 7);

  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_secmech sm;
  assert_int_equal(
      imsec_sip_secmech_next(&m, IMSEC_SIP_H_SECURITY_SERVER, &it, &sm), 1);
  assert_int_equal(
      imsec_sip_secmech_next(&m, IMSEC_SIP_H_SECURITY_SERVER, &it, &sm), 1);
  SEQ(sm.mechanism, "ipsec-3gpp");
  assert_true(imsec_sip_param_find(sm.params, "port-s", &p));
  SEQ(p.value, "4");
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  assert_int_equal(
      imsec_sip_secmech_next(&m, IMSEC_SIP_H_SECURITY_VERIFY, &it, &sm), 1);
  SEQ(sm.mechanism, "tls");
  /* each WWW-Authenticate field is one raw value for lib/digest */
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  assert_int_equal(
      imsec_sip_auth_next(&m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &raw), 1);
  SEQ(raw, "Digest realm=\"r, s\", nonce=\"n\"");
  assert_int_equal(
      imsec_sip_auth_next(&m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &raw), 1);
  SEQ(raw, "Digest realm=\"t\", nonce=\"o\"");
  assert_int_equal(
      imsec_sip_auth_next(&m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &raw), 0);
  imsec_sip_msg_free(&m);
  free(buf);

  /* a folded Authorization reaches lib/digest unfolded */
  assert_int_equal(parse_text("REGISTER sip:r.example SIP/2.0\r\n"
                              "Authorization: Digest username=\"u\",\r\n"
                              "   realm=\"r\"\r\n\r\n",
                              NULL, 0, &m, &buf),
                   0);
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  assert_int_equal(
      imsec_sip_auth_next(&m, IMSEC_SIP_H_AUTHORIZATION, &it, &raw), 1);
  SEQ(raw, "Digest username=\"u\",     realm=\"r\"");
  imsec_sip_msg_free(&m);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ims_register), cmocka_unit_test(names),
      cmocka_unit_test(limits),       cmocka_unit_test(malformed),
      cmocka_unit_test(lists),        cmocka_unit_test(editor),
      cmocka_unit_test(builder),      cmocka_unit_test(getters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
