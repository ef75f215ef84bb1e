/* lib/pcscf: the P-CSCF element driven with crafted SIP messages through
 * its event functions (TS 24.229 §5.2, TS 33.203 Annex O, RFC 3329). */
#include "pcscf_fx.h"

/* ------------------------------------------------------------ tests */

static void register_forwarding(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  feed(x, UE_FLOW,
       reg(x, "", SEC_CLIENT,
           "Path: <sip:evil@10.0.0.1;lr>\r\n"
           "P-Asserted-Identity: <sip:boss@" HOME ">\r\n",
           "600"));
  /* queued until the S-CSCF connection is up */
  assert_null(sent(x, CORE_FLOW));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 1);
  assert_int_equal(x->out.acts[0].kind, IMSEC_ACT_TIMER);
  const imsec_act *conn = last_connect(x);
  assert_string_equal(conn->addr.host, "127.0.0.1");
  assert_int_equal(conn->addr.port, 5070);
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.queued, 1);
  assert_int_equal(st.transactions, 1);
  assert_int_equal(st.flows, 2);
  assert_int_equal(up(x, CORE_FLOW, conn->tag, IMSEC_TP_TCP), 0);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(!strncmp(fwd, "REGISTER sip:" HOME " SIP/2.0\r\n", 20));
  /* our Via on top, Path with a token and ob, no sec-agree */
  assert_non_null(strstr(fwd, "\r\nVia: SIP/2.0/TCP 127.0.0.1:5062;branch="
                              "z9hG4bKpc"));
  assert_true(strstr(fwd, "Via: SIP/2.0/TCP") <
              strstr(fwd, "Via: SIP/2.0/TLS"));
  assert_non_null(strstr(fwd, "@127.0.0.1:5062;transport=tcp;lr;ob>"));
  grab_token(x, fwd);
  assert_int_equal(strlen(x->token), 40);
  assert_null(strstr(fwd, "Security-Client"));
  assert_null(strstr(fwd, "sec-agree"));
  assert_null(strstr(fwd, "Require"));
  assert_true(has_line(fwd, "Max-Forwards: 69"));
  assert_non_null(strstr(fwd, "integrity-protected=\"tls-pending\""));
  assert_non_null(strstr(fwd, "Supported: path, outbound"));
  assert_null(strstr(fwd, "P-Visited-Network-ID"));
  assert_null(strstr(fwd, "evil"));
  assert_null(strstr(fwd, "boss"));
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.queued, 0);
  /* a second REGISTER goes straight out on the same connection */
  feed(x, UE2_FLOW, reg(x, "", NULL, NULL, "600"));
  assert_non_null(sent(x, CORE_FLOW));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 0);
  /* tokens differ per flow */
  char tok1[64];
  strcpy(tok1, x->token);
  grab_token(x, sent(x, CORE_FLOW));
  assert_string_not_equal(tok1, x->token);
  fx_del(x);
}

static void sec_agree_and_binding(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  register_ue(x, UE_FLOW);
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 1);
  assert_int_equal(st.transactions, 0);
  uint64_t fl = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU), &fl), 0);
  assert_int_equal(fl, UE_FLOW);
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU2), &fl),
                   0);
  assert_int_equal(
      imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT("sip:x@y"), &fl),
      IMSEC_ERR_NOTFOUND);
  /* a re-REGISTER on the bound connection is tls-yes too */
  feed(x, UE_FLOW, reg(x, "00", SEC_VERIFY, NULL, "600"));
  assert_non_null(
      strstr(sent(x, CORE_FLOW), "integrity-protected=\"tls-yes\""));
  /* another IMPI on a connection bound to this one: not vouched for */
  char other[4096];
  strcpy(other, reg(x, "00", SEC_VERIFY, NULL, "600"));
  char *u = strstr(other, "username=\"001010000000001@");
  assert_non_null(u);
  memcpy(u + 10, "0010100000000099", 16);
  feed(x, UE_FLOW, other);
  const char *fo = sent(x, CORE_FLOW);
  assert_non_null(fo);
  assert_non_null(strstr(fo, "0010100000000099"));
  assert_non_null(strstr(fo, "integrity-protected=\"tls-pending\""));
  fx_del(x);
}

static void sec_verify_missing_or_mismatch(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  const char *fwd = sent(x, CORE_FLOW);
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized",
                   "WWW-Authenticate: Digest realm=\"" HOME
                   "\", nonce=\"AAAA\", algorithm=AKAv1-MD5\r\n"));
  assert_true(has_line(sent(x, UE_FLOW), "Security-Server: tls;q=0.1"));
  /* missing */
  feed(x, UE_FLOW, reg(x, "00", SEC_CLIENT, NULL, "600"));
  status_is(sent(x, UE_FLOW), 494);
  assert_null(sent(x, CORE_FLOW));
  assert_true(logged(x, "downgrade attempt"));
  assert_true(has_line(sent(x, UE_FLOW), "Security-Server: tls;q=0.1"));
  /* missing, sec-agree dropped altogether */
  feed(x, UE_FLOW, reg(x, "00", NULL, NULL, "600"));
  status_is(sent(x, UE_FLOW), 494);
  assert_true(logged(x, "downgrade attempt"));
  /* mismatched */
  feed(x, UE_FLOW,
       reg(x, "00", SEC_CLIENT "Security-Verify: tls;q=0.5\r\n", NULL, "600"));
  status_is(sent(x, UE_FLOW), 494);
  assert_true(logged(x, "downgrade attempt"));
  feed(x, UE_FLOW,
       reg(x, "00", SEC_CLIENT "Security-Verify: tls;q=0.1, digest\r\n", NULL,
           "600"));
  status_is(sent(x, UE_FLOW), 494);
  feed(x, UE_FLOW,
       reg(x, "00", SEC_CLIENT "Security-Verify: digest;q=0.1\r\n", NULL,
           "600"));
  status_is(sent(x, UE_FLOW), 494);
  /* a Security-Verify nobody asked for, wrong value: refused too */
  feed(x, UE2_FLOW, reg(x, "", "Security-Verify: tls;q=0.9\r\n", NULL, "600"));
  status_is(sent(x, UE2_FLOW), 494);
  /* a Security-Client without tls: no common mechanism */
  feed(x, UE2_FLOW,
       reg(x, "", "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96\r\n", NULL,
           "600"));
  status_is(sent(x, UE2_FLOW), 494);
  /* the right echo passes, marked tls-yes */
  feed(x, UE_FLOW, reg(x, "00", SEC_VERIFY, NULL, "600"));
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_non_null(strstr(fwd, "integrity-protected=\"tls-yes\""));
  assert_null(strstr(fwd, "Security-Verify"));
  fx_del(x);
}

static void plain_ua_and_required(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  /* an RFC 3261 UA: no sec-agree, no Authorization */
  const char *plain = "REGISTER sip:" HOME " SIP/2.0\r\n"
                      "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKp1\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <" IMPU ">;tag=p\r\nTo: <" IMPU ">\r\n"
                      "Call-ID: plain@ua\r\nCSeq: 1 REGISTER\r\n"
                      "Contact: <sip:ua@127.0.0.1:40001;transport=tls>\r\n"
                      "Content-Length: 0\r\n\r\n";
  feed(x, UE_FLOW, plain);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(has_line(fwd, "Supported: path"));
  assert_null(strstr(fwd, "Authorization"));
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized",
                   "WWW-Authenticate: Digest realm=\"" HOME
                   "\", nonce=\"AAAA\"\r\n"));
  const char *r = sent(x, UE_FLOW);
  status_is(r, 401);
  assert_null(strstr(r, "Security-Server"));
  /* the next REGISTER without Security-Verify is fine for a plain UA */
  feed(x, UE_FLOW, reg(x, "00", NULL, NULL, "600"));
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_non_null(strstr(fwd, "integrity-protected=\"tls-pending\""));
  /* a UE-supplied integrity-protected is replaced */
  feed(x, UE2_FLOW,
       "REGISTER sip:" HOME " SIP/2.0\r\n"
       "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKp2\r\n"
       "From: <" IMPU ">;tag=p\r\nTo: <" IMPU ">\r\n"
       "Call-ID: plain2@ua\r\nCSeq: 1 REGISTER\r\n"
       "Authorization: Digest username=\"" IMPI "\", realm=\"" HOME
       "\", nonce=\"\", uri=\"sip:" HOME "\", response=\"\", "
       "integrity-protected=\"tls-yes\"\r\n"
       "Content-Length: 0\r\n\r\n");
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_non_null(strstr(fwd, "integrity-protected=\"tls-pending\""));
  assert_null(strstr(fwd, "\"tls-yes\""));
  assert_true(has_line(fwd, "Max-Forwards: 69"));
  fx_del(x);

  /* configured to require sec-agree: 421 */
  cfg_base(&c);
  c.require_sec_agree = 1;
  x = setup_connected(&c);
  feed(x, UE_FLOW, plain);
  r = sent(x, UE_FLOW);
  status_is(r, 421);
  assert_true(has_line(r, "Require: sec-agree"));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 0);
  assert_true(logged(x, "sec-agree required"));
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 1);
  fx_del(x);
}

static void routing(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  /* unknown domain */
  feed(x, UE_FLOW,
       "REGISTER sip:nowhere.example SIP/2.0\r\n"
       "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKr1\r\n"
       "From: <sip:a@nowhere.example>;tag=p\r\nTo: <sip:a@nowhere.example>\r\n"
       "Call-ID: r1@ua\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n");
  const char *r = sent(x, UE_FLOW);
  status_is(r, 403);
  assert_non_null(strstr(r, "Domain not served"));
  assert_true(logged(x, "Domain not served"));
  assert_null(sent(x, CORE_FLOW));
  /* R-URI an IP, the To names a served domain (case-insensitively) */
  feed(x, UE_FLOW,
       "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
       "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKr2\r\n"
       "From: <sip:a@OTHER.example>;tag=p\r\nTo: <sip:a@OTHER.example>\r\n"
       "Call-ID: r2@ua\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n");
  assert_non_null(sent(x, CORE_FLOW));
  /* Max-Forwards 0: 483 */
  feed(x, UE_FLOW,
       "REGISTER sip:" HOME " SIP/2.0\r\n"
       "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKr3\r\n"
       "Max-Forwards: 0\r\n"
       "From: <" IMPU ">;tag=p\r\nTo: <" IMPU ">\r\n"
       "Call-ID: r3@ua\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n");
  status_is(sent(x, UE_FLOW), 483);
  assert_null(sent(x, CORE_FLOW));
  fx_del(x);

  /* a visited network's P-CSCF */
  cfg_base(&c);
  strcpy(c.visited_network, "ims.mnc002.mcc001.3gppnetwork.org");
  x = setup_connected(&c);
  connect_core(x);
  feed(x, UE_FLOW,
       reg(x, "", SEC_CLIENT, "P-Visited-Network-ID: \"forged\"\r\n", "600"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(has_line(
      fwd, "P-Visited-Network-ID: \"ims.mnc002.mcc001.3gppnetwork.org\""));
  assert_null(strstr(fwd, "forged"));
  fx_del(x);
}

#define FMT_REQUESTS_TO_UE                                                     \
  "MESSAGE sip:ue@127.0.0.1:40000;transport=tls SIP/2.0\r\n"                   \
  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs%d\r\n"                      \
  "Via: SIP/2.0/TLS 127.0.0.1:40009;branch=z9hG4bKa1\r\n"                      \
  "Route: <sip:%s@127.0.0.1:5062;transport=tcp;lr;ob>\r\n"                     \
  "Max-Forwards: %d\r\n"                                                       \
  "From: <sip:b@" HOME ">;tag=b\r\nTo: <" IMPU ">\r\n"                         \
  "Call-ID: m%d@b\r\nCSeq: 1 MESSAGE\r\n"                                      \
  "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"

static void requests_to_ue(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  register_ue(x, UE_FLOW);
  char msg[2048];
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 1, x->token, 69, 1);
  feed(x, CORE_FLOW, msg);
  const char *m = sent(x, UE_FLOW);
  assert_non_null(m);
  assert_non_null(
      strstr(m, "Via: SIP/2.0/TLS 127.0.0.1:5062;branch=z9hG4bKpc"));
  assert_null(strstr(m, "Route:"));
  assert_true(has_line(m, "Max-Forwards: 68"));
  assert_true(strstr(m, "\r\n\r\nhi") != NULL);
  /* the UE's 200 goes back to the S-CSCF without our Via */
  char req[2048];
  strcpy(req, m);
  feed(x, UE_FLOW, response_to(req, 200, "OK", NULL));
  const char *r = sent(x, CORE_FLOW);
  status_is(r, 200);
  assert_null(strstr(r, "127.0.0.1:5062"));
  assert_non_null(strstr(r, "branch=z9hG4bKs1"));
  /* a stray or replayed response is dropped */
  feed(x, UE_FLOW, response_to(req, 200, "OK", NULL));
  assert_null(sent(x, CORE_FLOW));
  /* a response from the wrong flow is dropped */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 2, x->token, 69, 2);
  feed(x, CORE_FLOW, msg);
  strcpy(req, sent(x, UE_FLOW));
  feed(x, UE2_FLOW, response_to(req, 200, "OK", NULL));
  assert_null(sent(x, CORE_FLOW));
  feed(x, UE_FLOW, response_to(req, 200, "OK", NULL));
  assert_non_null(sent(x, CORE_FLOW));
  /* forged token: one hex digit changed */
  char forged[64];
  strcpy(forged, x->token);
  forged[30] = forged[30] == '0' ? '1' : '0';
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 3, forged, 69, 3);
  feed(x, CORE_FLOW, msg);
  status_is(sent(x, CORE_FLOW), 430);
  assert_null(sent(x, UE_FLOW));
  assert_true(logged(x, "does not verify"));
  /* a token for another flow id: forged too (no such flow) */
  strcpy(forged, x->token);
  forged[15] = forged[15] == '0' ? '1' : '0';
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 4, forged, 69, 4);
  feed(x, CORE_FLOW, msg);
  status_is(sent(x, CORE_FLOW), 430);
  /* garbage token */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 5, "nonsense", 69, 5);
  feed(x, CORE_FLOW, msg);
  status_is(sent(x, CORE_FLOW), 430);
  /* Max-Forwards 0 */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 6, x->token, 0, 6);
  feed(x, CORE_FLOW, msg);
  status_is(sent(x, CORE_FLOW), 483);
  /* not routed to us */
  feed(x, CORE_FLOW,
       "OPTIONS sip:ue@127.0.0.1:40000 SIP/2.0\r\n"
       "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs7\r\n"
       "From: <sip:b@" HOME ">;tag=b\r\nTo: <" IMPU ">\r\n"
       "Call-ID: o7@b\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  status_is(sent(x, CORE_FLOW), 404);
  /* the flow goes away while a MESSAGE waits for the UE: 430 for it
   * (RFC 5626 §5.3), and the binding is gone */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 9, x->token, 69, 9);
  feed(x, CORE_FLOW, msg);
  assert_non_null(sent(x, UE_FLOW));
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_true(logged(x, "binding(s) removed"));
  r = sent(x, CORE_FLOW);
  status_is(r, 430);
  assert_non_null(strstr(r, "branch=z9hG4bKs9"));
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 0);
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 8, x->token, 69, 8);
  feed(x, CORE_FLOW, msg);
  status_is(sent(x, CORE_FLOW), 430);
  assert_true(logged(x, "flow gone"));
  fx_del(x);
}

#define FMT_REQUESTS_FROM_UE                                                   \
  "MESSAGE sip:b@" HOME " SIP/2.0\r\n"                                         \
  "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKm%d\r\n"                     \
  "Route: <sip:pcscf.example;lr>\r\n"                                          \
  "Max-Forwards: 70\r\n"                                                       \
  "From: <%s>;tag=a\r\nTo: <sip:b@" HOME ">\r\n"                               \
  "Call-ID: mo%d@a\r\nCSeq: 1 MESSAGE\r\n%s"                                   \
  "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"

static void requests_from_ue(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  register_ue(x, UE_FLOW);
  char msg[2048];
  /* on the bound flow: PAI from the set, Service-Route as Route */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_FROM_UE, 1, IMPU, 1,
           "P-Asserted-Identity: <sip:boss@" HOME ">\r\n");
  feed(x, UE_FLOW, msg);
  const char *f = sent(x, CORE_FLOW);
  assert_non_null(f);
  assert_true(has_line(f, "P-Asserted-Identity: <" IMPU ">"));
  assert_null(strstr(f, "boss"));
  assert_true(has_line(f, "Route: <sip:orig@127.0.0.1:5070;transport=tcp;lr>"));
  assert_null(strstr(f, "pcscf.example"));
  assert_non_null(
      strstr(f, "Via: SIP/2.0/TCP 127.0.0.1:5062;branch=z9hG4bKpc"));
  assert_true(has_line(f, "Max-Forwards: 69"));
  char req[2048];
  strcpy(req, f);
  feed(x, CORE_FLOW, response_to(req, 202, "Accepted", NULL));
  status_is(sent(x, UE_FLOW), 202);
  /* P-Preferred-Identity inside the set: used and removed */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_FROM_UE, 2, IMPU, 2,
           "P-Preferred-Identity: <" IMPU2 ">\r\n");
  feed(x, UE_FLOW, msg);
  f = sent(x, CORE_FLOW);
  assert_non_null(f);
  assert_true(has_line(f, "P-Asserted-Identity: <" IMPU2 ">"));
  assert_null(strstr(f, "P-Preferred-Identity"));
  /* outside the set: 403 */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_FROM_UE, 3, IMPU, 3,
           "P-Preferred-Identity: <sip:boss@" HOME ">\r\n");
  feed(x, UE_FLOW, msg);
  status_is(sent(x, UE_FLOW), 403);
  assert_null(sent(x, CORE_FLOW));
  assert_true(logged(x, "outside the registered set"));
  /* a From outside the set gets the default identity asserted */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_FROM_UE, 4, "sip:boss@" HOME, 4, "");
  feed(x, UE_FLOW, msg);
  f = sent(x, CORE_FLOW);
  assert_non_null(f);
  assert_true(has_line(f, "P-Asserted-Identity: <" IMPU ">"));
  /* the same identity on another connection: 403 */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_FROM_UE, 5, IMPU, 5, "");
  feed(x, UE2_FLOW, msg);
  status_is(sent(x, UE2_FLOW), 403);
  assert_null(sent(x, CORE_FLOW));
  assert_true(logged(x, "no registration bound to this connection"));
  fx_del(x);
}

/* TS 33.203 O.4: an IMPI is bound to one connection, the one it
 * registered on last; and a transaction's branch is never handed to a
 * later one, so a replayed response finds nothing to answer. */
static void binding_moves_and_branches_not_reused(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  register_ue(x, UE_FLOW);
  /* a request forwarded for the UE, answered: its branch is spent */
  char msg[2048], req[4096];
  snprintf(msg, sizeof(msg), FMT_REQUESTS_FROM_UE, 1, IMPU, 1, "");
  feed(x, UE_FLOW, msg);
  assert_non_null(sent(x, CORE_FLOW));
  strcpy(req, sent(x, CORE_FLOW));
  feed(x, CORE_FLOW, response_to(req, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);

  register_ue(x, UE2_FLOW);
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 1);
  assert_int_equal(st.transactions, 0);
  uint64_t fl = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU), &fl), 0);
  assert_int_equal(fl, UE2_FLOW);
  /* the old connection vouches for nothing any more */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_FROM_UE, 2, IMPU, 2, "");
  feed(x, UE_FLOW, msg);
  status_is(sent(x, UE_FLOW), 403);
  assert_null(sent(x, CORE_FLOW));

  /* the spent branch again, now that other transactions came and went */
  feed(x, CORE_FLOW, response_to(req, 200, "OK", NULL));
  assert_null(sent(x, UE_FLOW));
  assert_null(sent(x, UE2_FLOW));
  assert_true(logged(x, "stray response"));
  /* the binding goes with its connection */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE2_FLOW, 0, 0, x->now, &x->out);
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 0);
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU), &fl),
                   IMSEC_ERR_NOTFOUND);
  fx_del(x);
}

static void deregister_expiry_loss(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  imsec_pcscf_stats st;
  /* de-register */
  register_ue(x, UE_FLOW);
  feed(x, UE_FLOW, reg(x, "00", SEC_VERIFY, NULL, "0"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);
  assert_true(logged(x, "de-registered"));
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 0);
  /* expiry */
  register_ue(x, UE_FLOW);
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 1);
  imsec_time_ms at = 0;
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_TIMER)
      at = x->out.acts[i].at;
  (void)at;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, 1, x->now + 599 * 1000, &x->out);
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 1);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, 1, x->now + 600 * 1000, &x->out);
  assert_true(logged(x, "expired"));
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 0);
  x->now += 600 * 1000;
  /* the next timer is armed for the binding's expiry */
  register_ue(x, UE_FLOW);
  /* re-registration on a new connection moves the binding */
  assert_int_equal(up(x, 12, 0, IMSEC_TP_TLS), 0);
  register_ue(x, 12);
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 1);
  uint64_t fl;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU), &fl), 0);
  assert_int_equal(fl, 12);
  /* flow loss */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 12, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 0);
  assert_int_equal(st.flows, 2);
  fx_del(x);
}

static void limits_and_core_loss(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  c.max_transactions = 2;
  c.max_flows = 2;
  c.max_queue = 1;
  fx *x = setup_connected(&c);
  /* a third UE flow is refused */
  assert_int_equal(up(x, 13, 0, IMSEC_TP_TLS), IMSEC_ERR_LIMIT);
  assert_true(logged(x, "too many UE flows"));
  /* core flows do not count */
  /* queue of one while connecting */
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 1);
  feed(x, UE2_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  status_is(sent(x, UE2_FLOW), 503);
  /* the connect fails: queue dropped, the next message connects again */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 0, 1, IMSEC_ERR_IO, x->now, &x->out);
  assert_true(logged(x, "cannot connect"));
  /* ... and the UE hears 503 at once */
  const char *r = sent(x, UE_FLOW);
  status_is(r, 503);
  assert_true(has_line(r, "Retry-After: 30"));
  assert_non_null(strstr(r, "Via: SIP/2.0/TLS 127.0.0.1:40000"));
  assert_null(strstr(r, "5062"));
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.queued, 0);
  assert_int_equal(st.transactions, 0);
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 1);
  assert_int_equal(up(x, CORE_FLOW, 1, IMSEC_TP_TCP), 0);
  assert_non_null(sent(x, CORE_FLOW));
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  assert_non_null(sent(x, CORE_FLOW));
  /* two transactions pending: full */
  feed(x, UE2_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  status_is(sent(x, UE2_FLOW), 503);
  assert_true(has_line(sent(x, UE2_FLOW), "Retry-After: 5"));
  assert_true(logged(x, "transaction table full"));
  /* transactions expire: 408 to the UE for each (RFC 3261 §16.8) */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, 1, x->now + 31999, &x->out);
  assert_null(sent(x, UE_FLOW));
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, 1, x->now + 32000, &x->out);
  status_is(sent(x, UE_FLOW), 408);
  size_t n408 = count(x, IMSEC_ACT_SEND);
  assert_int_equal(n408, 2);
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.transactions, 0);
  /* a late response is dropped */
  /* the S-CSCF connection is lost: the next message reconnects */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE_FLOW, 1, IMSEC_ERR_CLOSED, x->now,
                           &x->out);
  assert_true(logged(x, "lost the connection"));
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 1);
  assert_int_equal(up(x, CORE_FLOW + 1, 1, IMSEC_TP_TCP), 0);
  assert_non_null(sent(x, CORE_FLOW + 1));
  fx_del(x);
}

/* RFC 3261 §16.9: the S-CSCF's connection drops under forwarded requests
 * (TLS 1.3: an S-CSCF refusing our client certificate alerts only after
 * the request went out): each gets 503 at once, not a 408 after 32 s. */
static void core_loss_under_requests(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  /* one request queued then flushed on connect, one sent directly */
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  assert_int_equal(up(x, CORE_FLOW, 1, IMSEC_TP_TCP), 0);
  assert_non_null(sent(x, CORE_FLOW));
  feed(x, UE2_FLOW, reg(x, "", NULL, NULL, "600"));
  assert_non_null(sent(x, CORE_FLOW));
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.transactions, 2);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE_FLOW, 1, IMSEC_ERR_CLOSED, x->now,
                           &x->out);
  assert_true(logged(x, "lost the connection"));
  assert_true(logged(x, "2 request(s) sent to the S-CSCF on it answered 503"));
  status_is(sent(x, UE_FLOW), 503);
  assert_true(has_line(sent(x, UE_FLOW), "Retry-After: 30"));
  status_is(sent(x, UE2_FLOW), 503);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 2);
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.transactions, 0);
  /* nothing left for the timer */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, 1, x->now + 32000, &x->out);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  /* an answered request is not answered again when the flow drops later */
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  assert_int_equal(up(x, CORE_FLOW + 1, 1, IMSEC_TP_TCP), 0);
  const char *fwd = sent(x, CORE_FLOW + 1);
  assert_non_null(fwd);
  feed(x, CORE_FLOW + 1, response_to(fwd, 403, "Forbidden", NULL));
  status_is(sent(x, UE_FLOW), 403);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE_FLOW + 1, 1, IMSEC_ERR_CLOSED, x->now,
                           &x->out);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_false(logged(x, "answered 503"));
  fx_del(x);
}

static void binding_limit_and_options(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  c.max_bindings = 1;
  fx *x = setup_connected(&c);
  connect_core(x);
  register_ue(x, UE_FLOW);
  /* the table is full: a REGISTER from an unbound connection gets 503 */
  feed(x, UE2_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  status_is(sent(x, UE2_FLOW), 503);
  assert_true(has_line(sent(x, UE2_FLOW), "Retry-After: 5"));
  assert_null(sent(x, CORE_FLOW));
  assert_true(logged(x, "binding table full"));
  /* the bound UE re-registers fine */
  feed(x, UE_FLOW, reg(x, "00", SEC_VERIFY, NULL, "600"));
  assert_non_null(sent(x, CORE_FLOW));
  fx_del(x);

  /* other option tags survive; sec-agree alone goes */
  cfg_base(&c);
  x = setup_connected(&c);
  connect_core(x);
  feed(x, UE_FLOW,
       reg(x, "",
           "Security-Client: tls\r\nRequire: sec-agree, path\r\n"
           "Proxy-Require: sec-agree\r\n",
           NULL, "600"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(has_line(fwd, "Require: path"));
  assert_null(strstr(fwd, "Proxy-Require"));
  assert_null(strstr(fwd, "sec-agree"));
  fx_del(x);
}

/* ------------------------------------------------------------ edge input */

/* A UE flow up with our end at `local` and the UE at `peer`. */
static void up_at(fx *x, uint64_t flow, const char *local, const char *peer) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  assert_int_equal(imsec_addr_parse(imsec_str_c(local), &info.local), 0);
  assert_int_equal(imsec_addr_parse(imsec_str_c(peer), &info.peer), 0);
  assert_int_equal(flow_up(x, flow, 0, &info), 0);
}

static void via_received_rport_and_listener(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = fx_new(&c);
  up_at(x, UE_FLOW, "tls:127.0.0.1:5061", "tls:192.0.2.7:40001");
  up_at(x, UE2_FLOW, "tls:[::1]:5061", "tls:[2001:db8::7]:40002");
  /* RFC 3581 §4: rport asked for: both filled, the UE's Via below ours */
  feed(x, UE2_FLOW, reg(x, "", NULL, NULL, "600"));
  assert_int_equal(up(x, CORE_FLOW, 1, IMSEC_TP_TCP), 0);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_non_null(strstr(fwd, "Via: SIP/2.0/TLS 127.0.0.1:40000;branch="
                              "z9hG4bKue1;rport=40002;received=2001:db8::7"
                              "\r\n"));
  register_ue(x, UE_FLOW);
  /* without rport: received all the same (RFC 3581 §4 allows it always) */
  char msg[2048];
  snprintf(msg, sizeof(msg),
           "MESSAGE sip:b@" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 192.0.2.7:40001;branch=z9hG4bKq1\r\n"
           "Max-Forwards: 70\r\nFrom: <" IMPU ">;tag=a\r\nTo: <sip:b@" HOME
           ">\r\nCall-ID: q1@ue\r\nCSeq: 1 MESSAGE\r\n"
           "Content-Length: 0\r\n\r\n");
  feed(x, UE_FLOW, msg);
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(has_line(fwd, "Via: SIP/2.0/TLS 192.0.2.7:40001;branch="
                            "z9hG4bKq1;received=192.0.2.7"));
  snprintf(
      msg, sizeof(msg),
      "MESSAGE sip:b@" HOME " SIP/2.0\r\n"
      "Via: SIP/2.0/TLS ue.example:5060;received=10.9.9.9;branch=z9hG4bKq2,"
      " SIP/2.0/UDP 10.0.0.1\r\n"
      "Max-Forwards: 70\r\nFrom: <" IMPU ">;tag=a\r\nTo: <sip:b@" HOME
      ">\r\nCall-ID: q2@ue\r\nCSeq: 1 MESSAGE\r\n"
      "Content-Length: 0\r\n\r\n");
  feed(x, UE_FLOW, msg);
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(has_line(fwd, "Via: SIP/2.0/TLS ue.example:5060;branch=z9hG4bKq2"
                            ";received=192.0.2.7, SIP/2.0/UDP 10.0.0.1"));
  /* towards the UE our Via names the TLS listener it reached */
  snprintf(msg, sizeof(msg), FMT_REQUESTS_TO_UE, 1, x->token, 69, 1);
  feed(x, CORE_FLOW, msg);
  const char *m = sent(x, UE_FLOW);
  assert_non_null(m);
  assert_non_null(strstr(m, "\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch="
                            "z9hG4bKpc"));
  assert_null(strstr(m, "127.0.0.1:5062;branch"));
  fx_del(x);
}

static void bad_responses_dropped(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  register_ue(x, UE_FLOW);
  char msg[2048];
  snprintf(msg, sizeof(msg),
           "MESSAGE sip:b@" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKq1\r\n"
           "Max-Forwards: 70\r\nFrom: <" IMPU ">;tag=a\r\nTo: <sip:b@" HOME
           ">\r\nCall-ID: q1@ue\r\nCSeq: 1 MESSAGE\r\n"
           "Content-Length: 0\r\n\r\n");
  feed(x, UE_FLOW, msg);
  char fwd[4096];
  strcpy(fwd, sent(x, CORE_FLOW));
  static const char *const evil[] = {
      "X-Evil: a\nInjected: 1\r\n",      /* bare LF */
      "X-Evil: a\rInjected: 1\r\n",      /* bare CR */
      "From: <sip:x\x01y@" HOME ">\r\n", /* a control octet */
  };
  for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
    feed(x, CORE_FLOW, response_to(fwd, 200, "OK", evil[i]));
    assert_null(sent(x, UE_FLOW));
    assert_true(logged(x, "a response, not relayed"));
  }
  /* a malformed CSeq in a response */
  char *r = response_to(fwd, 200, "OK", NULL);
  char *cs = strstr(r, "CSeq: 1 MESSAGE");
  assert_non_null(cs);
  memcpy(cs, "CSeq: x MESSAGE", 15);
  feed(x, CORE_FLOW, r);
  assert_null(sent(x, UE_FLOW));
  /* the good one still goes through */
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);
  fx_del(x);
}

/* The driver refused `len` bytes on the UE flow with `err`. */
static void refused(fx *x, int err, const char *data, size_t len) {
  imsec_out_clear(&x->out);
  imsec_pcscf_on_refused(x->p, UE_FLOW, err, (const uint8_t *)data, len, x->now,
                         &x->out);
}

static void oversized_and_long_headers(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  /* the driver could not frame it: what arrived, cut anywhere */
  const char *head = reg(x, "", NULL, "X-Pad: aaaaaaaaaaaaaaaaaaaaaa", "600");
  size_t cut = strlen(head) - 40; /* mid-line, no end of headers */
  refused(x, IMSEC_ERR_LIMIT, head, cut);
  const char *r = sent(x, UE_FLOW);
  status_is(r, 513);
  assert_true(has_line(r, "Call-ID: reg1@ue"));
  assert_non_null(strstr(r, "To: <" IMPU ">;tag=pc"));
  assert_true(logged(x, "refused REGISTER on flow 10: 513 Message Too Large"));
  /* unframeable: 400 */
  refused(x, IMSEC_ERR_PARSE, head, cut);
  status_is(sent(x, UE_FLOW), 400);
  /* a response or garbage: nothing sent, one line */
  refused(x, IMSEC_ERR_LIMIT, "SIP/2.0 200 OK\r\nVia: x\r\n", 25);
  assert_null(sent(x, UE_FLOW));
  assert_true(logged(x, "a response, not relayed"));
  refused(x, IMSEC_ERR_LIMIT, "ACK sip:a@b SIP/2.0\r\n", 21);
  assert_null(sent(x, UE_FLOW));
  assert_true(logged(x, "an ACK, never answered"));
  /* a 20 kB header line in a framed message: 400, then close */
  size_t big = 20000;
  char *pad = malloc(big + 32);
  assert_non_null(pad);
  memcpy(pad, "X-Long: ", 8);
  memset(pad + 8, 'b', big);
  memcpy(pad + 8 + big, "\r\n", 3);
  char *msg = malloc(big + 4096);
  assert_non_null(msg);
  const char *base = reg(x, "", NULL, NULL, "600");
  const char *cl = strstr(base, "Content-Length:");
  assert_non_null(cl);
  snprintf(msg, big + 4096, "%.*s%s%s", (int)(cl - base), base, pad, cl);
  feed(x, UE_FLOW, msg);
  r = sent(x, UE_FLOW);
  status_is(r, 400);
  assert_non_null(strstr(r, "400 Header field too long"));
  assert_int_equal(count(x, IMSEC_ACT_CLOSE), 1); /* then the flow closes */
  assert_true(x->out.acts[x->out.n - 1].kind == IMSEC_ACT_CLOSE ||
              x->out.acts[x->out.n - 2].kind == IMSEC_ACT_CLOSE);
  free(pad);
  free(msg);
  /* the log budget: 10 lines a second, then a count */
  for (int i = 0; i < 12; i++) {
    refused(x, IMSEC_ERR_LIMIT, head, cut);
    status_is(sent(x, UE_FLOW), 513); /* always answered */
  }
  assert_int_equal(count(x, IMSEC_ACT_LOG), 0);
  x->now += 1001;
  refused(x, IMSEC_ERR_LIMIT, head, cut);
  assert_true(logged(x, "similar lines held back"));
  fx_del(x);
}

static void garbage_and_config(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  feed(x, UE_FLOW, "not sip at all\r\n\r\n");
  assert_true(logged(x, "no request line to answer"));
  assert_null(sent(x, UE_FLOW));
  feed(x, 999, "x");
  assert_true(logged(x, "unknown flow"));
  /* a request missing Call-ID: 400 can't be built; nothing sent */
  feed(x, UE_FLOW,
       "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1"
       "\r\nContent-Length: 0\r\n\r\n");
  assert_null(sent(x, CORE_FLOW));
  fx_del(x);

  imsec_pcscf *p;
  crypto_fake *cf;
  assert_int_equal(crypto_fake_new(&cf), 0);
  imsec_pcscf_config_init(&c);
  assert_int_equal(imsec_pcscf_new(&p, &c, &cf->base), IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_pcscf_new(NULL, &c, &cf->base), IMSEC_ERR_INVAL);
  imsec_crypto_del(&cf->base);
  imsec_pcscf_route r;
  assert_int_equal(
      imsec_pcscf_route_parse(IMSEC_STR_LIT("a.example=tcp:[::1]:5070"), &r),
      0);
  assert_string_equal(r.domain, "a.example");
  assert_string_equal(r.addr.host, "::1");
  const char *bad[] = {"",        "=tcp:h:1",  "a.example", "a b=tcp:h:1",
                       "a=tcp:h", "a=sctp:h:1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(imsec_pcscf_route_parse(imsec_str_c(bad[i]), &r),
                     IMSEC_ERR_PARSE);
  imsec_pcscf_del(NULL);
}

/* ------------------------------------------------------------ Mw */

#define SCSCF "scscf." HOME

static void cfg_tls(imsec_pcscf_config *c) {
  imsec_pcscf_config_init(c);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:5063"), &c->core), 0);
  assert_int_equal(
      imsec_pcscf_route_parse(
          IMSEC_STR_LIT(HOME "=tls:127.0.0.1:5061;name=" SCSCF), &c->routes[0]),
      0);
  c->n_routes = 1;
}

/* An S-CSCF flow up with these certificate facts (NULL: none sent). */
static int up_cert(fx *x, uint64_t flow, uint64_t tag,
                   const imsec_trust_cert *cert) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.peer_cert = cert;
  info.tls_version = "TLSv1.3";
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:5061"), &info.peer), 0);
  return flow_up(x, flow, tag, &info);
}

static imsec_trust_cert good_cert(void) {
  imsec_trust_cert c;
  memset(&c, 0, sizeof(c));
  c.chain = IMSEC_CHAIN_OK;
  c.has_san = 1;
  c.n_dns = 1;
  snprintf(c.dns[0], sizeof(c.dns[0]), "%s", "SCSCF." HOME ".");
  snprintf(c.cn, sizeof(c.cn), "%s", "not-this-one");
  return c;
}

/* RFC 3261 §18.1.2, §17.1.3: a response belongs to the connection its
 * request went out on, and the branch that names the transaction cannot
 * be guessed: another core peer (even an allowed one) answering a UE's
 * REGISTER with a 200 would bind the identities it chooses. */
static void responses_only_from_their_flow(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  /* another core peer, from an allowed address */
  assert_int_equal(up(x, CORE_FLOW + 7, 0, IMSEC_TP_TCP), 0);
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized",
                   "WWW-Authenticate: Digest realm=\"" HOME
                   "\", nonce=\"AAAA\", algorithm=AKAv1-MD5\r\n"));
  status_is(sent(x, UE_FLOW), 401);
  feed(x, UE_FLOW,
       reg(x, "0123456789abcdef0123456789abcdef", SEC_VERIFY, NULL, "600"));
  char req[8192];
  assert_non_null(sent(x, CORE_FLOW));
  snprintf(req, sizeof(req), "%s", sent(x, CORE_FLOW));
  /* our branch: the cookie, "pc", slot and generation, a 24-hex MAC */
  const char *br = strstr(req, ";branch=z9hG4bKpc");
  assert_non_null(br);
  br += strlen(";branch=");
  assert_int_equal(strcspn(br, ";\r"), 9 + 16 + 24);
  /* the other peer answers with the right branch: dropped */
  char resp[8192];
  snprintf(
      resp, sizeof(resp), "%s",
      response_to(req, 200, "OK", "P-Associated-URI: <sip:ceo@" HOME ">\r\n"));
  feed(x, CORE_FLOW + 7, resp);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_true(logged(x, "for a transaction sent elsewhere; dropped"));
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 0);
  assert_int_equal(st.transactions, 1);
  /* a branch without its MAC (slot and generation guessed), or with a MAC
   * altered, names no transaction even on the right flow */
  char *b = strstr(resp, ";branch=z9hG4bKpc") + strlen(";branch=");
  char guessed[8192];
  snprintf(guessed, sizeof(guessed), "%.*s%s", (int)(b - resp + 9 + 16), resp,
           b + 9 + 16 + 24);
  feed(x, CORE_FLOW, guessed);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_true(logged(x, "stray response"));
  char saved = b[9 + 16 + 3];
  b[9 + 16 + 3] = saved == '0' ? '1' : '0';
  feed(x, CORE_FLOW, resp);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_true(logged(x, "stray response"));
  b[9 + 16 + 3] = saved;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 0);
  /* the S-CSCF it went to: taken, bound */
  feed(x, CORE_FLOW, resp);
  status_is(sent(x, UE_FLOW), 200);
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.bindings, 1);
  assert_int_equal(st.transactions, 0);
  fx_del(x);
}

/* An inbound flow on the TLS core listener (local address `local`) from
 * 127.0.0.1:41000 with these certificate facts (NULL: none sent). */
static int up_core_in(fx *x, uint64_t flow, const char *local,
                      const imsec_trust_cert *cert) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  info.peer_cert = cert;
  info.tls_version = "TLSv1.3";
  assert_int_equal(imsec_addr_parse(imsec_str_c(local), &info.local), 0);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:41000"), &info.peer), 0);
  return flow_up(x, flow, 0, &info);
}

/* TS 33.210 §5.2, TS 33.310 §6.1.3c, RFC 5922 §7: a peer on the TLS core
 * listener must be a network element (EKU serverAuth and clientAuth) whose
 * certificate names an S-CSCF the P-CSCF knows; a UE's certificate from the
 * same PKI verifies against the core anchors but is no S-CSCF. */
static void core_listener_judges_peers(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_tls(&c);
  snprintf(c.core_peers[0], sizeof(c.core_peers[0]), "extra." HOME);
  c.n_core_peers = 1;
  struct {
    imsec_trust_cert cert;
    int none;
    const char *why;
  } bad[7];
  memset(bad, 0, sizeof(bad));
  bad[0].none = 1;
  bad[0].why = "(no name): presents no certificate";
  /* a UE certificate: clientAuth only, so the chain check (serverAuth)
   * says no */
  bad[1].cert = good_cert();
  bad[1].cert.chain = IMSEC_CHAIN_NOT_SERVER_AUTH;
  bad[1].cert.client_auth = 1;
  bad[1].why = "not a network element certificate (EKU serverAuth)";
  bad[2].cert = good_cert();
  bad[2].cert.chain = IMSEC_CHAIN_INVALID;
  bad[2].cert.client_auth = 1;
  bad[2].why = "chain invalid";
  bad[3].cert = good_cert();
  bad[3].why = "not a client certificate (EKU clientAuth)";
  bad[4].cert = good_cert();
  bad[4].cert.client_auth = 1;
  bad[4].cert.n_dns = 0;
  bad[4].why = "(no name): presents a certificate without a name";
  bad[5].cert = good_cert();
  bad[5].cert.client_auth = 1;
  snprintf(bad[5].cert.dns[0], sizeof(bad[5].cert.dns[0]), "*." HOME);
  bad[5].why = "(no name): presents a certificate without a name";
  bad[6].cert = good_cert();
  bad[6].cert.client_auth = 1;
  snprintf(bad[6].cert.dns[0], sizeof(bad[6].cert.dns[0]), "ue7." HOME);
  bad[6].why = "(ue7." HOME "): not a known S-CSCF";
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    fx *x = fx_new(&c);
    assert_int_equal(up_core_in(x, CORE_FLOW, "tls:127.0.0.1:5063",
                                bad[i].none ? NULL : &bad[i].cert),
                     IMSEC_ERR_AUTH);
    assert_true(logged(x, "refused core flow 100 from tls:127.0.0.1:41000 ("));
    if (!logged(x, bad[i].why))
      fail_msg("case %zu: no log line with '%s'", i, bad[i].why);
    /* nothing is known of it: a message on it is not taken */
    feed(x, CORE_FLOW,
         "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1:5063;branch=z9hG4bKpc"
         "0000000000000000\r\nFrom: <" IMPU ">;tag=1\r\nTo: <" IMPU
         ">;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
         "Content-Length: 0\r\n\r\n");
    assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
    fx_del(x);
  }
  /* the route's S-CSCF (its name=), and a listed core peer */
  fx *x = fx_new(&c);
  imsec_trust_cert ok = good_cert();
  ok.client_auth = 1;
  assert_int_equal(up_core_in(x, CORE_FLOW, "tls:127.0.0.1:5063", &ok), 0);
  assert_true(logged(x, "core flow 100 from tls:127.0.0.1:41000 presents "
                        "SCSCF." HOME ". (TLSv1.3)"));
  snprintf(ok.dns[0], sizeof(ok.dns[0]), "EXTRA." HOME);
  assert_int_equal(up_core_in(x, CORE_FLOW + 1, "tls:127.0.0.1:5063", &ok), 0);
  assert_true(logged(x, "presents EXTRA." HOME));
  /* A UE listener on the core's port at another address: its flows are
   * UE flows, not core flows, whatever certificate they carry. */
  assert_int_equal(up_core_in(x, UE_FLOW, "tls:127.0.0.2:5063", NULL), 0);
  assert_true(logged(x, "UE flow 10 up"));
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.flows, 1);
  fx_del(x);
}

/* TS 33.210 §5.2, RFC 5922 §7.2: the S-CSCF of a tls: route is checked
 * before any byte goes to it; each refusal says why and answers 503. */
static void core_tls_route_check(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_tls(&c);
  struct {
    imsec_trust_cert cert;
    int none;
    const char *why;
  } bad[6];
  memset(bad, 0, sizeof(bad));
  bad[0].none = 1;
  bad[0].why = ": no certificate";
  bad[1].cert = good_cert();
  bad[1].cert.chain = IMSEC_CHAIN_INVALID;
  snprintf(bad[1].cert.chain_detail, sizeof(bad[1].cert.chain_detail),
           "self-signed certificate");
  bad[1].why = ": chain invalid (self-signed certificate)";
  bad[2].cert = good_cert();
  bad[2].cert.chain = IMSEC_CHAIN_EXPIRED;
  bad[2].why = ": certificate expired";
  bad[3].cert = good_cert();
  snprintf(bad[3].cert.dns[0], sizeof(bad[3].cert.dns[0]), "other." HOME);
  bad[3].why = ": name mismatch (other." HOME ", expected " SCSCF ")";
  /* RFC 5922 §7.1: the CN counts only without a SAN; a SAN URI sip: host
   * shadows the dNSNames. */
  bad[4].cert = good_cert();
  bad[4].cert.n_dns = 0;
  snprintf(bad[4].cert.cn, sizeof(bad[4].cert.cn), SCSCF);
  bad[4].why = ": name mismatch";
  bad[5].cert = good_cert();
  bad[5].cert.n_sip = 1;
  snprintf(bad[5].cert.sip[0], sizeof(bad[5].cert.sip[0]), "other." HOME);
  bad[5].why = ": name mismatch (other." HOME;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    fx *x = fx_new(&c);
    assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
    feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
    const imsec_act *conn = last_connect(x);
    assert_non_null(conn);
    assert_int_equal(conn->addr.tp, IMSEC_TP_TLS);
    assert_string_equal(conn->server_name, SCSCF); /* SNI */
    uint64_t tag = conn->tag;
    assert_int_equal(
        up_cert(x, CORE_FLOW, tag, bad[i].none ? NULL : &bad[i].cert),
        IMSEC_ERR_AUTH);
    if (!logged(x, bad[i].why))
      fail_msg("case %zu: no log line with '%s'", i, bad[i].why);
    assert_true(logged(x, "refused S-CSCF tls:127.0.0.1:5061 on flow 100"));
    status_is(sent(x, UE_FLOW), 503);
    assert_true(has_line(sent(x, UE_FLOW), "Retry-After: 30"));
    assert_null(sent(x, CORE_FLOW));
    imsec_pcscf_stats st;
    imsec_pcscf_stats_get(x->p, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.transactions, 0);
    /* the driver closes it: nothing more to say */
    imsec_out_clear(&x->out);
    imsec_pcscf_on_flow_down(x->p, CORE_FLOW, tag, IMSEC_ERR_CLOSED, x->now,
                             &x->out);
    assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
    /* the next REGISTER connects again */
    feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
    assert_int_equal(count(x, IMSEC_ACT_CONNECT), 1);
    fx_del(x);
  }
  /* The right name (case and a trailing dot aside): forwarded. */
  fx *x = fx_new(&c);
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  imsec_trust_cert ok = good_cert();
  assert_int_equal(up_cert(x, CORE_FLOW, 1, &ok), 0);
  assert_true(logged(x, "presented " SCSCF));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  /* RFC 3327 Path: the S-CSCF comes back over TLS to the core listener */
  assert_non_null(strstr(fwd, "@127.0.0.1:5063;transport=tls;lr;ob>"));
  fx_del(x);
}

/* An inbound TLS flow on the core listener's port is an S-CSCF; elsewhere
 * it is a UE. Plain core flows come from the configured addresses only. */
static void core_listener_and_peers(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_tls(&c);
  fx *x = fx_new(&c);
  imsec_trust_cert node = good_cert();
  node.client_auth = 1;
  assert_int_equal(up_core_in(x, CORE_FLOW, "tls:127.0.0.1:5063", &node), 0);
  assert_true(logged(x, "core flow 100 up"));
  /* the UE listener */
  up_at(x, UE_FLOW, "tls:127.0.0.1:5064", "tls:127.0.0.1:41000");
  assert_true(logged(x, "UE flow 10 up"));
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.flows, 1);
  /* a request for a UE with a token that names nothing: 430 from the core
   * flow (a UE flow would get 403) */
  feed(x, CORE_FLOW,
       "MESSAGE sip:" IMPU " SIP/2.0\r\n"
       "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKs1\r\n"
       "Route: <sip:0000000000000000000000000000000000000000@127.0.0.1:5063;"
       "lr>\r\nMax-Forwards: 70\r\nFrom: <sip:a@" HOME ">;tag=a\r\n"
       "To: <" IMPU ">\r\nCall-ID: m1\r\nCSeq: 1 MESSAGE\r\n"
       "Content-Length: 0\r\n\r\n");
  status_is(sent(x, CORE_FLOW), 430);
  fx_del(x);

  /* plain core flows: by address */
  cfg_base(&c);
  snprintf(c.peer_addrs[0], sizeof(c.peer_addrs[0]), "127.0.0.9");
  snprintf(c.peer_addrs[1], sizeof(c.peer_addrs[1]), "::1");
  c.n_peer_addrs = 2;
  x = fx_new(&c);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TCP;
  info.inbound = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tcp:127.0.0.1:41000"), &info.peer), 0);
  assert_int_equal(flow_up(x, CORE_FLOW, 0, &info), IMSEC_ERR_AUTH);
  assert_true(logged(x, "refused core flow 100 from tcp:127.0.0.1:41000: "
                        "not a configured peer address"));
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tcp:[::1]:41000"), &info.peer), 0);
  assert_int_equal(flow_up(x, CORE_FLOW, 0, &info), 0);
  /* UE flows (TLS) are not concerned */
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
  /* a Path over a plain core listener says tcp */
  feed(x, UE_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  assert_int_equal(up(x, CORE_FLOW + 1, 1, IMSEC_TP_TCP), 0);
  assert_non_null(
      strstr(sent(x, CORE_FLOW + 1), "@127.0.0.1:5062;transport=tcp;lr;ob>"));
  fx_del(x);

  crypto_fake *cf;
  imsec_pcscf *p = NULL;
  assert_int_equal(crypto_fake_new(&cf), 0);
  /* config: a plain core without peer addresses would take anyone's
   * word; a wildcard core address is no address */
  cfg_base(&c);
  c.n_peer_addrs = 0;
  assert_int_equal(imsec_pcscf_new(&p, &c, &cf->base), IMSEC_ERR_CONFIG);
  cfg_tls(&c);
  snprintf(c.core.host, sizeof(c.core.host), "0.0.0.0");
  assert_int_equal(imsec_pcscf_new(&p, &c, &cf->base), IMSEC_ERR_CONFIG);
  cfg_tls(&c);
  snprintf(c.core_peers[0], sizeof(c.core_peers[0]), "*." HOME);
  c.n_core_peers = 1;
  assert_int_equal(imsec_pcscf_new(&p, &c, &cf->base), IMSEC_ERR_CONFIG);
  cfg_tls(&c);
  c.n_core_peers = IMSEC_PCSCF_MAX_PEERS + 1;
  assert_int_equal(imsec_pcscf_new(&p, &c, &cf->base), IMSEC_ERR_CONFIG);
  /* config: the core side is TCP or TLS; at most MAX_PEERS addresses */
  cfg_base(&c);
  c.core.tp = IMSEC_TP_UDP;
  assert_int_equal(imsec_pcscf_new(&p, &c, &cf->base), IMSEC_ERR_CONFIG);
  cfg_base(&c);
  c.n_peer_addrs = IMSEC_PCSCF_MAX_PEERS + 1;
  assert_int_equal(imsec_pcscf_new(&p, &c, &cf->base), IMSEC_ERR_CONFIG);
  imsec_crypto_del(&cf->base);
}

static void route_names(void **state) {
  (void)state;
  imsec_pcscf_route r;
  assert_int_equal(
      imsec_pcscf_route_parse(
          IMSEC_STR_LIT("a.example=tls:127.0.0.1:5061;name=s.a"), &r),
      0);
  assert_string_equal(r.addr.host, "127.0.0.1");
  assert_int_equal(r.addr.tp, IMSEC_TP_TLS);
  assert_string_equal(r.name, "s.a");
  assert_int_equal(imsec_pcscf_route_parse(
                       IMSEC_STR_LIT("a.example=tls:s.a.example:5061"), &r),
                   0);
  assert_string_equal(r.addr.host, "s.a.example");
  assert_string_equal(r.name, "");
  const char *bad[] = {"a=tls:h:1;name=",      "a=tls:h:1;nom=x",
                       "a=tls:h:1;name=a b",   "a=tls:h:1;name=x;y",
                       "a=tls:h:1;name=\"x\"", "a=tls:h;name=x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (imsec_pcscf_route_parse(imsec_str_c(bad[i]), &r) != IMSEC_ERR_PARSE)
      fail_msg("'%s' parsed", bad[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(register_forwarding),
      cmocka_unit_test(sec_agree_and_binding),
      cmocka_unit_test(sec_verify_missing_or_mismatch),
      cmocka_unit_test(plain_ua_and_required),
      cmocka_unit_test(routing),
      cmocka_unit_test(requests_to_ue),
      cmocka_unit_test(requests_from_ue),
      cmocka_unit_test(binding_moves_and_branches_not_reused),
      cmocka_unit_test(deregister_expiry_loss),
      cmocka_unit_test(limits_and_core_loss),
      cmocka_unit_test(core_loss_under_requests),
      cmocka_unit_test(binding_limit_and_options),
      cmocka_unit_test(garbage_and_config),
      cmocka_unit_test(core_tls_route_check),
      cmocka_unit_test(core_listener_and_peers),
      cmocka_unit_test(core_listener_judges_peers),
      cmocka_unit_test(responses_only_from_their_flow),
      cmocka_unit_test(route_names),
      cmocka_unit_test(via_received_rport_and_listener),
      cmocka_unit_test(bad_responses_dropped),
      cmocka_unit_test(oversized_and_long_headers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
