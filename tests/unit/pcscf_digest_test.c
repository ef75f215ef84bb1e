/* lib/pcscf and SIP Digest over TLS (TS 33.203 Annexes N, O, P, Q): a
 * REGISTER over TLS without sec-agree, shaped as softphones send it (no
 * Authorization at first, the P-CSCF named as outbound proxy in a Route,
 * Contact with transport=tls and ;expires=), is the "TLS session before
 * registration" of Annex O.2; the 200 binds the digest username and the
 * registered IMPUs to the connection, and later requests are asserted from
 * that binding (Annex Q). The S-CSCF's challenges and Authentication-Info
 * reach the UE as written. On 3GPP access (Annex N.1) SIP Digest is
 * refused both ways; --require-sec-agree still answers 421. */
#include "pcscf_fx.h"

#define LOCAL "127.0.0.1:5061"
#define ALICE "sip:alice@" HOME
#define NONCE "AAAAAAAAAAAbbbbCCCCdddd="
#define CH_SHA256                                                              \
  "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"" NONCE                \
  "\", algorithm=SHA-256, qop=\"auth\", opaque=\"op1\""
/* The second written without spaces: relayed as written, not rebuilt. */
#define CH_MD5                                                                 \
  "WWW-Authenticate: Digest realm=\"" HOME "\",nonce=\"" NONCE                 \
  "\",algorithm=MD5,qop=\"auth\",opaque=\"op1\""
#define CH_AKA                                                                 \
  "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"" NONCE                \
  "\", algorithm=AKAv1-MD5, qop=\"auth\""
#define AUTH_INFO                                                              \
  "Authentication-Info: qop=auth, rspauth=\"0123456789abcdef0123456789abcdef"  \
  "0123456789abcdef0123456789abcdef\", cnonce=\"c0ffee\", nc=00000001"

/* An access flow whose local end is the TLS listener LOCAL (what a Route
 * naming this P-CSCF as outbound proxy points at). */
static int up_local(fx *x, uint64_t flow) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40001"), &info.peer), 0);
  assert_int_equal(imsec_addr_parse(IMSEC_STR_LIT("tls:" LOCAL), &info.local),
                   0);
  return flow_up(x, flow, 0, &info);
}

static fx *setup(imsec_pcscf_config *c) {
  fx *x = fx_new(c);
  assert_int_equal(up_local(x, UE_FLOW), 0);
  assert_int_equal(up(x, UE2_FLOW, 0, IMSEC_TP_TLS), 0);
  connect_core(x);
  return x;
}

/* A softphone's REGISTER (baresip's shape): `domain` its home, `auth` an
 * Authorization value or NULL, `expires` the Contact's ;expires=. */
static const char *sp_reg_in(fx *x, const char *domain, const char *auth,
                             const char *expires) {
  static char buf[4096];
  x->seq++;
  snprintf(buf, sizeof(buf),
           "REGISTER sip:%s SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKsp%d;rport\r\n"
           "Contact: <sip:alice-0x55d1@127.0.0.1:40001;transport=tls>"
           ";expires=%s\r\n"
           "Max-Forwards: 70\r\n"
           "To: <sip:alice@%s>\r\n"
           "From: <sip:alice@%s>;tag=bs1\r\n"
           "Call-ID: sp1@softphone\r\n"
           "CSeq: %d REGISTER\r\n"
           "User-Agent: baresip v3.10.1 (x86_64/linux)\r\n"
           "Route: <sip:" LOCAL ";transport=tls;lr>\r\n"
           "Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,"
           "MESSAGE,UPDATE\r\n"
           "Supported: replaces,norefersub\r\n"
           "%s%s%s"
           "Content-Length: 0\r\n\r\n",
           domain, x->seq, expires, domain, domain, x->seq,
           auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
  return buf;
}

static const char *sp_reg(fx *x, const char *auth, const char *expires) {
  return sp_reg_in(x, HOME, auth, expires);
}

/* The Authorization answering the challenge, username `user`, nc `nc`. */
static const char *sp_auth(const char *user, const char *alg, const char *nc) {
  static char buf[1024];
  snprintf(buf, sizeof(buf),
           "Digest username=\"%s\",realm=\"" HOME "\",nonce=\"" NONCE
           "\",uri=\"sip:" HOME "\",response=\"00112233445566778899aabbccddeeff"
           "00112233445566778899aabbccddeeff\",algorithm=%s,cnonce=\"c0ffee\","
           "opaque=\"op1\",qop=auth,nc=%s",
           user, alg, nc);
  return buf;
}

static const char *ok_digest =
    "Contact: <sip:alice-0x55d1@127.0.0.1:40001;transport=tls>;expires=600\r\n"
    "Service-Route: <sip:orig@127.0.0.1:5070;transport=tcp;lr>\r\n"
    "P-Associated-URI: <" ALICE ">, <" IMPU2 ">\r\n" AUTH_INFO "\r\n";

/* The forwarded request on the core side, checked to carry no Route
 * naming this P-CSCF. */
static const char *fwd_core(fx *x) {
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_null(strstr(fwd, LOCAL));
  return fwd;
}

/* The whole softphone registration on UE_FLOW with username `user`. */
static void softphone_registers(fx *x, const char *user) {
  feed(x, UE_FLOW, sp_reg(x, NULL, "600"));
  assert_true(logged(x, "IMPI (none yet) -> " HOME));
  assert_true(logged(x, "(no Authorization)"));
  const char *fwd = fwd_core(x);
  assert_null(strstr(fwd, "\r\nRoute:"));
  assert_null(strstr(fwd, "Authorization:"));
  assert_non_null(strstr(fwd, "\r\nPath: <sip:"));
  /* Contact goes on untouched, transport=tls and expires with it. */
  assert_true(has_line(fwd, "Contact: <sip:alice-0x55d1@127.0.0.1:40001;"
                            "transport=tls>;expires=600"));
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized", CH_SHA256 "\r\n" CH_MD5 "\r\n"));
  const char *r401 = sent(x, UE_FLOW);
  status_is(r401, 401);
  /* RFC 8760 §3: both challenges, as written, SHA-256 first. */
  assert_true(has_line(r401, CH_SHA256));
  assert_true(has_line(r401, CH_MD5));
  assert_true(strstr(r401, CH_SHA256) < strstr(r401, CH_MD5));
  /* No sec-agree offered, none answered. */
  assert_null(strstr(r401, "Security-Server"));

  feed(x, UE_FLOW, sp_reg(x, sp_auth(user, "SHA-256", "00000001"), "600"));
  fwd = fwd_core(x);
  assert_null(strstr(fwd, "\r\nRoute:"));
  /* Annex O: digest only over TLS; the S-CSCF learns it from the mark. */
  assert_non_null(strstr(fwd, "integrity-protected=\"tls-pending\""));
  grab_token(x, fwd);
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", ok_digest));
  const char *r200 = sent(x, UE_FLOW);
  status_is(r200, 200);
  assert_true(has_line(r200, AUTH_INFO));
  assert_int_equal(count(x, IMSEC_ACT_KEEP), 1);
  assert_true(logged(x, "expires in 600 s"));
}

/* A MESSAGE from the softphone, sent to its outbound proxy. */
static const char *sp_message(fx *x, const char *extra) {
  static char buf[2048];
  x->seq++;
  snprintf(buf, sizeof(buf),
           "MESSAGE sip:bob@" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKspm%d;rport\r\n"
           "Max-Forwards: 70\r\n"
           "To: <sip:bob@" HOME ">\r\n"
           "From: <" ALICE ">;tag=m%d\r\n"
           "Call-ID: m%d@softphone\r\n"
           "CSeq: 1 MESSAGE\r\n"
           "Route: <sip:" LOCAL ";transport=tls;lr>\r\n"
           "%s"
           "Content-Type: text/plain\r\n"
           "Content-Length: 2\r\n\r\nhi",
           x->seq, x->seq, x->seq, extra ? extra : "");
  return buf;
}

/* TS 33.203 O.2 and Annex Q: the softphone registers without sec-agree,
 * the binding carries the digest username (user part: qualified with the
 * home domain, as the S-CSCF reads it) and the identities; a MESSAGE is
 * asserted from it and follows the Service-Route, not the UE's Route. */
static void register_and_assert(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup(&c);
  softphone_registers(x, "alice");
  assert_true(logged(x, "registered IMPI alice@" HOME));
  uint64_t flow = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, imsec_str_c(IMPU2), &flow),
                   0);
  assert_int_equal(flow, UE_FLOW);

  feed(x, UE_FLOW, sp_message(x, NULL));
  const char *fwd = fwd_core(x);
  assert_true(has_line(fwd, "P-Asserted-Identity: <" ALICE ">"));
  assert_true(
      has_line(fwd, "Route: <sip:orig@127.0.0.1:5070;transport=tcp;lr>"));

  /* RFC 3325 §9.2: another registered identity may be preferred... */
  feed(x, UE_FLOW, sp_message(x, "P-Preferred-Identity: <" IMPU2 ">\r\n"));
  fwd = fwd_core(x);
  assert_true(has_line(fwd, "P-Asserted-Identity: <" IMPU2 ">"));
  assert_null(strstr(fwd, "P-Preferred-Identity"));
  /* ...one outside the registered set is not. */
  feed(x, UE_FLOW,
       sp_message(x, "P-Preferred-Identity: <sip:mallory@" HOME ">\r\n"));
  status_is(sent(x, UE_FLOW), 403);
  assert_null(sent(x, CORE_FLOW));
  /* Another connection vouches for nothing (Annex O.2: the binding is
   * this TLS connection). */
  feed(x, UE2_FLOW, sp_message(x, NULL));
  status_is(sent(x, UE2_FLOW), 403);
  assert_null(sent(x, CORE_FLOW));
  fx_del(x);
}

/* A re-REGISTER on the bound connection reuses the nonce with nc+1; the
 * connection now vouches for the IMPI ("tls-yes"). Contact ;expires=0
 * de-registers and the binding goes. */
static void reregister_and_deregister(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup(&c);
  softphone_registers(x, "alice@" HOME);
  assert_true(logged(x, "registered IMPI alice@" HOME));

  feed(x, UE_FLOW,
       sp_reg(x, sp_auth("alice@" HOME, "SHA-256", "00000002"), "600"));
  const char *fwd = fwd_core(x);
  assert_non_null(strstr(fwd, "integrity-protected=\"tls-yes\""));
  assert_null(strstr(fwd, "tls-pending"));
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", ok_digest));
  status_is(sent(x, UE_FLOW), 200);

  feed(x, UE_FLOW,
       sp_reg(x, sp_auth("alice@" HOME, "SHA-256", "00000003"), "0"));
  fwd = fwd_core(x);
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);
  assert_true(logged(x, "de-registered IMPI alice@" HOME));
  uint64_t flow = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, imsec_str_c(IMPU2), &flow),
                   IMSEC_ERR_NOTFOUND);
  feed(x, UE_FLOW, sp_message(x, NULL));
  status_is(sent(x, UE_FLOW), 403);
  fx_del(x);
}

/* The same user part in two home networks served by this P-CSCF: two
 * IMPIs, two bindings; the second does not take the first's over. */
static void user_part_per_domain(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup(&c);
  softphone_registers(x, "alice");
  feed(x, UE2_FLOW,
       sp_reg_in(x, "other.example", sp_auth("alice", "MD5", "00000001"),
                 "600"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 200, "OK",
                   "P-Associated-URI: <sip:alice@other.example>\r\n"));
  status_is(sent(x, UE2_FLOW), 200);
  assert_true(logged(x, "registered IMPI alice@other.example"));
  uint64_t flow = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, imsec_str_c(IMPU2), &flow),
                   0);
  assert_int_equal(flow, UE_FLOW);
  assert_int_equal(imsec_pcscf_binding_flow(
                       x->p, imsec_str_c("sip:alice@other.example"), &flow),
                   0);
  assert_int_equal(flow, UE2_FLOW);
  fx_del(x);
}

/* A 200 to a REGISTER that carried no Authorization names no IMPI: it is
 * relayed but binds nothing, and the connection stays unvouched. */
static void no_username_no_binding(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup(&c);
  feed(x, UE_FLOW, sp_reg(x, NULL, "600"));
  const char *fwd = fwd_core(x);
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", ok_digest));
  status_is(sent(x, UE_FLOW), 200);
  assert_int_equal(count(x, IMSEC_ACT_KEEP), 0);
  assert_true(logged(x, "nothing bound"));
  feed(x, UE_FLOW, sp_message(x, NULL));
  status_is(sent(x, UE_FLOW), 403);
  fx_del(x);
}

/* --require-sec-agree: the softphone's REGISTER gets 421, as any
 * REGISTER without sec-agree. */
static void require_sec_agree_421(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  c.require_sec_agree = 1;
  fx *x = fx_new(&c);
  assert_int_equal(up_local(x, UE_FLOW), 0);
  feed(x, UE_FLOW, sp_reg(x, NULL, "600"));
  const char *r = sent(x, UE_FLOW);
  status_is(r, 421);
  assert_true(has_line(r, "Require: sec-agree"));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 0);
  feed(x, UE_FLOW, sp_reg(x, sp_auth("alice", "MD5", "00000001"), "600"));
  status_is(sent(x, UE_FLOW), 421);
  fx_del(x);
}

/* TS 33.203 Annex N.1, access 3gpp: credentials that are SIP Digest (an
 * algorithm that is not AKA, or none with a nonce answered) get 403 and go
 * nowhere; a first REGISTER (no algorithm, empty nonce) and AKA go on. */
static void access_3gpp_credentials(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  c.access_3gpp = 1;
  fx *x = setup(&c);
  static const char *const refused[] = {
      "Digest username=\"alice\",realm=\"" HOME "\",nonce=\"" NONCE
      "\",uri=\"sip:" HOME "\",response=\"00\",algorithm=SHA-256",
      "Digest username=\"alice\",realm=\"" HOME "\",nonce=\"" NONCE
      "\",uri=\"sip:" HOME "\",response=\"00\",algorithm=md5",
      "Digest username=\"alice\",realm=\"" HOME "\",nonce=\"" NONCE
      "\",uri=\"sip:" HOME "\",response=\"00\"",
      "Basic YWxpY2U6cGFzcw==",
  };
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    feed(x, UE_FLOW, sp_reg(x, refused[i], "600"));
    status_is(sent(x, UE_FLOW), 403);
    assert_null(sent(x, CORE_FLOW));
    assert_true(logged(x, "SIP Digest not allowed on 3GPP access"));
  }
  /* TS 24.229 §5.1.1.2.1 first REGISTER: forwarded. */
  feed(x, UE_FLOW, reg(x, "", NULL, NULL, "600"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW, response_to(fwd, 403, "Forbidden", NULL));
  /* AKA credentials: forwarded. */
  feed(x, UE_FLOW,
       sp_reg(x,
              "Digest username=\"" IMPI "\",realm=\"" HOME "\",nonce=\"" NONCE
              "\",uri=\"sip:" HOME "\",response=\"00\",algorithm=AKAv1-MD5",
              "600"));
  assert_non_null(sent(x, CORE_FLOW));
  fx_del(x);
}

/* Access 3gpp: a 401 offering SIP Digest only becomes 403 to the UE (one
 * log line); one offering AKA goes on, without the Digest challenges.
 * Access other relays them all. */
static void access_3gpp_challenge(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  c.access_3gpp = 1;
  fx *x = setup(&c);
  feed(x, UE_FLOW, sp_reg(x, NULL, "600"));
  char *first = strdup(fwd_core(x));
  assert_non_null(first);
  feed(x, CORE_FLOW,
       response_to(first, 401, "Unauthorized", CH_SHA256 "\r\n" CH_MD5 "\r\n"));
  const char *r = sent(x, UE_FLOW);
  status_is(r, 403);
  assert_null(strstr(r, "WWW-Authenticate"));
  assert_int_equal(count(x, IMSEC_ACT_SEND), 1);
  assert_true(logged(x, "offers SIP Digest only"));
  /* the transaction is over: a retransmitted 401 is stray */
  feed(x, CORE_FLOW,
       response_to(first, 401, "Unauthorized", CH_SHA256 "\r\n" CH_MD5 "\r\n"));
  assert_null(sent(x, UE_FLOW));
  free(first);

  feed(x, UE_FLOW, reg(x, "", NULL, NULL, "600"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized", CH_AKA "\r\n" CH_MD5 "\r\n"));
  r = sent(x, UE_FLOW);
  status_is(r, 401);
  assert_true(has_line(r, CH_AKA));
  /* only what the UE may use on this access */
  assert_null(strstr(r, "algorithm=MD5"));
  fx_del(x);

  cfg_base(&c);
  x = setup(&c);
  feed(x, UE_FLOW, sp_reg(x, NULL, "600"));
  fwd = fwd_core(x);
  feed(x, CORE_FLOW, response_to(fwd, 401, "Unauthorized", CH_MD5 "\r\n"));
  r = sent(x, UE_FLOW);
  status_is(r, 401);
  assert_true(has_line(r, CH_MD5));
  fx_del(x);
}

/* CK and IK still never reach a UE; a challenge without them is left as
 * the S-CSCF wrote it. */
static void keys_stripped_others_intact(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup(&c);
  feed(x, UE_FLOW, sp_reg(x, NULL, "600"));
  const char *fwd = fwd_core(x);
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized",
                   CH_MD5 "\r\n" CH_AKA ",ck=\"00112233445566778899aabbccddeeff"
                          "\",ik=\"00112233445566778899aabbccddeeff\"\r\n"));
  const char *r = sent(x, UE_FLOW);
  status_is(r, 401);
  assert_true(has_line(r, CH_MD5));
  assert_null(strstr(r, ", ck="));
  assert_null(strstr(r, ", ik="));
  assert_non_null(strstr(r, "algorithm=AKAv1-MD5"));
  fx_del(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(register_and_assert),
      cmocka_unit_test(reregister_and_deregister),
      cmocka_unit_test(user_part_per_domain),
      cmocka_unit_test(no_username_no_binding),
      cmocka_unit_test(require_sec_agree_421),
      cmocka_unit_test(access_3gpp_credentials),
      cmocka_unit_test(access_3gpp_challenge),
      cmocka_unit_test(keys_stripped_others_intact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
