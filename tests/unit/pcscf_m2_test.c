/* lib/pcscf/m2.c: modes M2a (UE client certificates) and M2b (the P-CSCF
 * dials a UE's registered TLS Contact), with crafted peer facts. */
#include "lib/pcscf/pcscf_int.h"
#include "pcscf_fx.h"

#define IMPI_B "001010000000002@" HOME
#define DIAL_FLOW 20

#define FMT_MSG_TO_UE                                                          \
  "MESSAGE sip:ue@127.0.0.1:40000;transport=tls SIP/2.0\r\n"                   \
  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs%d\r\n"                      \
  "Route: <sip:%s@127.0.0.1:5062;transport=tcp;lr;ob>\r\n"                     \
  "Max-Forwards: 69\r\n"                                                       \
  "From: <sip:b@" HOME ">;tag=b\r\nTo: <" IMPU ">\r\n"                         \
  "Call-ID: m%d@b\r\nCSeq: 1 MESSAGE\r\n"                                      \
  "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"

/* The facts crypto/x509.c gives for a UE certificate of `impi` (`server`:
 * it carries serverAuth too). */
static imsec_trust_cert ue_cert(const char *impi, int server) {
  imsec_trust_cert c;
  memset(&c, 0, sizeof(c));
  c.chain = server ? IMSEC_CHAIN_OK : IMSEC_CHAIN_NOT_SERVER_AUTH;
  c.client_auth = 1;
  c.client_chain_ok = 1;
  c.has_san = 1;
  c.n_uri_user = 1;
  snprintf(c.uri_user[0], sizeof(c.uri_user[0]), "%s", impi);
  snprintf(c.issuer_domain, sizeof(c.issuer_domain), "%s", HOME);
  return c;
}

static int up_cert(fx *x, uint64_t flow, uint64_t tag,
                   const imsec_trust_cert *c) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = tag == 0;
  info.peer_cert = c;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40000"), &info.peer), 0);
  return flow_up(x, flow, tag, &info);
}

/* The UE's listener (M2b): no "ob", an address to dial. */
#define LISTENER "sip:ue@127.0.0.1:40000;transport=tls"

static fx *m2_fx(imsec_pcscf_client_cert cc, int dial) {
  imsec_pcscf_config c;
  cfg_base(&c);
  c.client_cert = cc;
  c.dial_ue = dial;
  fx *x = fx_new(&c);
  x->contact = LISTENER;
  return x;
}

static void client_cert_names(void **state) {
  (void)state;
  imsec_pcscf_client_cert cc;
  assert_int_equal(imsec_pcscf_client_cert_parse(IMSEC_STR_LIT("Require"), &cc),
                   0);
  assert_int_equal(cc, IMSEC_PCSCF_CLIENT_CERT_REQUIRE);
  assert_int_equal(imsec_pcscf_client_cert_parse(IMSEC_STR_LIT("request"), &cc),
                   0);
  assert_string_equal(imsec_pcscf_client_cert_name(cc), "request");
  assert_int_equal(imsec_pcscf_client_cert_parse(IMSEC_STR_LIT("none"), &cc),
                   0);
  assert_string_equal(imsec_pcscf_client_cert_name(cc), "none");
  assert_int_equal(imsec_pcscf_client_cert_parse(IMSEC_STR_LIT("maybe"), &cc),
                   IMSEC_ERR_PARSE);
}

/* M2a require: no certificate or a refused one closes the flow; the
 * certificate's IMPI is the only one the flow registers, and the binding
 * records it. */
static void m2a_require(void **state) {
  (void)state;
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_REQUIRE, 0);
  assert_int_equal(up_cert(x, UE_FLOW, 0, NULL), IMSEC_ERR_AUTH);
  assert_true(logged(x, "refused: no-certificate"));
  imsec_trust_cert bad = ue_cert(IMPI, 0);
  bad.client_chain_ok = 0;
  bad.chain = IMSEC_CHAIN_INVALID;
  snprintf(bad.chain_detail, sizeof(bad.chain_detail), "unable to get issuer");
  assert_int_equal(up_cert(x, UE_FLOW, 0, &bad), IMSEC_ERR_AUTH);
  assert_true(logged(x, "client certificate of " IMPI
                        " refused: chain-invalid (unable to get issuer)"));
  bad = ue_cert(IMPI, 0);
  snprintf(bad.issuer_domain, sizeof(bad.issuer_domain),
           "ims.mnc002.mcc001.3gppnetwork.org");
  assert_int_equal(up_cert(x, UE_FLOW, 0, &bad), IMSEC_ERR_AUTH);
  assert_true(logged(x, "not-home-operator"));
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.flows, 0);
  imsec_trust_cert good = ue_cert(IMPI, 0), other = ue_cert(IMPI_B, 0);
  assert_int_equal(up_cert(x, UE_FLOW, 0, &good), 0);
  assert_true(logged(x, "presents the certificate of IMPI " IMPI));
  assert_int_equal(up_cert(x, UE2_FLOW, 0, &other), 0);
  /* another IMPI's certificate: 403 on its REGISTER, one line */
  feed(x, UE2_FLOW, reg(x, "", SEC_CLIENT, NULL, "600"));
  status_is(sent(x, UE2_FLOW), 403);
  assert_true(logged(x, "Authorization username '" IMPI
                        "' is not the IMPI of the client certificate (" IMPI_B
                        ")"));
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 0);
  /* its own: registered, the binding records the certificate */
  assert_int_equal(up(x, CORE_FLOW, 1, IMSEC_TP_TCP), 0);
  register_ue(x, UE_FLOW);
  binding *b = imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI));
  assert_non_null(b);
  assert_string_equal(b->cert_impi, IMPI);
  assert_int_equal(b->outlives_flow, 0);
  fx_del(x);
}

/* M2a require beside M3: a PSK handshake asked for no certificate and
 * the key authenticated the UE, so the flow is not refused for lacking
 * one (the PSK's own rule holds it to the key's IMPI). */
static void m2a_require_psk_flow(void **state) {
  (void)state;
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_REQUIRE, 0);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  info.psk = 1;
  info.psk_identity = IMPI;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40000"), &info.peer), 0);
  assert_int_equal(flow_up(x, UE_FLOW, 0, &info), 0);
  assert_false(logged(x, "refused: no-certificate"));
  fx_del(x);
}

/* M2a request: a UE without a certificate is M1. */
static void m2a_request(void **state) {
  (void)state;
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_REQUEST, 0);
  assert_int_equal(up_cert(x, UE_FLOW, 0, NULL), 0);
  assert_int_equal(up_cert(x, UE2_FLOW, 0, NULL), 0);
  connect_core(x);
  register_ue(x, UE_FLOW);
  binding *b = imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI));
  assert_null(b->cert_impi);
  /* a certificate that fails is refused even when only requested */
  imsec_trust_cert bad = ue_cert(IMPI, 0);
  bad.client_chain_ok = 0;
  bad.chain = IMSEC_CHAIN_EXPIRED;
  assert_int_equal(up_cert(x, 12, 0, &bad), IMSEC_ERR_AUTH);
  assert_true(logged(x, "refused: expired"));
  fx_del(x);
}

/* A UE registered on UE_FLOW whose connection then closed. */
static fx *m2b_registered(void) {
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_NONE, 1);
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
  assert_int_equal(up(x, UE2_FLOW, 0, IMSEC_TP_TLS), 0);
  connect_core(x);
  register_ue(x, UE_FLOW);
  binding *b = imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI));
  assert_int_equal(b->outlives_flow, 1);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_true(logged(x, "1 kept until expiry"));
  return x;
}

static const imsec_act *to_ue(fx *x, int n) {
  char msg[2048];
  snprintf(msg, sizeof(msg), FMT_MSG_TO_UE, n, x->token, n);
  feed(x, CORE_FLOW, msg);
  return last_connect(x);
}

/* M2b: the request waits, the P-CSCF dials the Contact with the "ue"
 * profile, checks the UE's server certificate, moves the binding and
 * sends; the UE's answer goes back; a second request uses the flow. */
static void m2b_dial(void **state) {
  (void)state;
  fx *x = m2b_registered();
  const imsec_act *c = to_ue(x, 1);
  assert_non_null(c);
  assert_true(c->tag >= PC_DIAL_TAG_BASE);
  assert_string_equal(c->addr.host, "127.0.0.1");
  assert_int_equal(c->addr.port, 40000);
  assert_int_equal(c->addr.tp, IMSEC_TP_TLS);
  assert_non_null(c->tls);
  assert_string_equal(c->tls->profile, IMSEC_PCSCF_UE_PROFILE);
  assert_int_equal(c->tls->verify, IMSEC_TLS_VERIFY_DEFER);
  assert_int_equal(c->tls->no_resume, 1);
  assert_null(sent(x, CORE_FLOW)); /* no answer yet */
  assert_true(logged(x, "dialling its Contact tls:127.0.0.1:40000"));
  uint64_t tag = c->tag;
  /* a second request while dialling: queued, no second CONNECT */
  assert_null(to_ue(x, 2));
  imsec_trust_cert srv = ue_cert(IMPI, 1);
  assert_int_equal(up_cert(x, DIAL_FLOW, tag, &srv), 0);
  assert_true(
      logged(x, "presents IMPI " IMPI ": binding moved there; 2 queued"));
  assert_int_equal(count(x, IMSEC_ACT_SEND), 2);
  assert_int_equal(count(x, IMSEC_ACT_KEEP), 1);
  const char *m = sent(x, DIAL_FLOW);
  assert_non_null(m);
  assert_non_null(strstr(m, "branch=z9hG4bKs1"));
  char req[2048];
  strcpy(req, m);
  feed(x, DIAL_FLOW, response_to(req, 200, "OK", NULL));
  status_is(sent(x, CORE_FLOW), 200);
  uint64_t fl = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU), &fl), 0);
  assert_int_equal(fl, DIAL_FLOW);
  /* the UE's requests on the dialled flow are its registration's */
  feed(x, DIAL_FLOW,
       "MESSAGE sip:b@" HOME " SIP/2.0\r\n"
       "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKu9\r\n"
       "Max-Forwards: 70\r\nFrom: <" IMPU ">;tag=u\r\nTo: <sip:b@" HOME ">\r\n"
       "Call-ID: u9@ue\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n");
  assert_non_null(strstr(sent(x, CORE_FLOW), "P-Asserted-Identity: <" IMPU));
  /* the next request goes straight out */
  assert_null(to_ue(x, 3));
  assert_non_null(sent(x, DIAL_FLOW));
  fx_del(x);
}

/* M2b refusals: a server certificate of another IMPI, one without
 * serverAuth, no answer at all: 480 to the caller, one line each. */
static void m2b_refused(void **state) {
  (void)state;
  fx *x = m2b_registered();
  const imsec_act *c = to_ue(x, 1);
  imsec_trust_cert wrong = ue_cert(IMPI_B, 1);
  assert_int_equal(up_cert(x, DIAL_FLOW, c->tag, &wrong), IMSEC_ERR_AUTH);
  status_is(sent(x, CORE_FLOW), 480);
  assert_true(logged(x, "impi-mismatch"));
  assert_true(logged(x, "names " IMPI_B "; 1 request(s) answered 480"));
  c = to_ue(x, 2);
  assert_non_null(c);
  imsec_trust_cert client_only = ue_cert(IMPI, 0);
  assert_int_equal(up_cert(x, DIAL_FLOW + 1, c->tag, &client_only),
                   IMSEC_ERR_AUTH);
  status_is(sent(x, CORE_FLOW), 480);
  assert_true(logged(x, "not-server-auth"));
  c = to_ue(x, 3);
  assert_non_null(c);
  assert_int_equal(up_cert(x, DIAL_FLOW + 2, c->tag, NULL), IMSEC_ERR_AUTH);
  assert_true(logged(x, "no-certificate"));
  c = to_ue(x, 4);
  uint64_t tag = c->tag;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 0, tag, IMSEC_ERR_IO, x->now, &x->out);
  status_is(sent(x, CORE_FLOW), 480);
  assert_true(logged(x, "cannot reach UE tls:127.0.0.1:40000 for IMPI " IMPI));
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.queued, 0);
  assert_int_equal(st.transactions, 0);
  assert_int_equal(st.bindings, 1);
  /* a dial still under way when the element goes: freed */
  assert_non_null(to_ue(x, 5));
  fx_del(x);
}

/* A parked UE de-registers from a new connection: its binding, which
 * has no flow, goes. */
static void m2b_deregister_elsewhere(void **state) {
  (void)state;
  fx *x = m2b_registered();
  assert_int_equal(up(x, 12, 0, IMSEC_TP_TLS), 0);
  feed(x, 12, reg(x, "", NULL, NULL, "0"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", NULL));
  status_is(sent(x, 12), 200);
  assert_true(logged(x, "de-registered IMPI " IMPI));
  assert_null(imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI)));
  assert_null(to_ue(x, 1));
  status_is(sent(x, CORE_FLOW), 430);
  fx_del(x);
}

/* A Contact at another address than the UE's: never dialled. */
static void m2b_other_host(void **state) {
  (void)state;
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_NONE, 1);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:10.0.0.9:40000"), &info.peer), 0);
  assert_int_equal(flow_up(x, UE_FLOW, 0, &info), 0);
  assert_int_equal(up(x, UE2_FLOW, 0, IMSEC_TP_TLS), 0);
  connect_core(x);
  register_ue(x, UE_FLOW);
  assert_true(logged(x, "is not the address it registered from "
                        "(10.0.0.9); it will not be dialled"));
  binding *b = imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI));
  assert_int_equal(b->outlives_flow, 0);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_true(logged(x, "1 binding(s) removed"));
  fx_del(x);
}

/* A Contact with "ob" is the UE's flow (RFC 5626): never dialled. */
static void m2b_outbound_contact(void **state) {
  (void)state;
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_NONE, 1);
  x->contact = NULL; /* the fixture's ;ob Contact */
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
  assert_int_equal(up(x, UE2_FLOW, 0, IMSEC_TP_TLS), 0);
  connect_core(x);
  register_ue(x, UE_FLOW);
  binding *b = imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI));
  assert_int_equal(b->outlives_flow, 0);
  assert_int_equal(pc_m2_can_dial(x->p, b), 0);
  fx_del(x);
}

/* Without dial_ue the binding goes with its flow (M1). */
static void m2b_off(void **state) {
  (void)state;
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_NONE, 0);
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
  assert_int_equal(up(x, UE2_FLOW, 0, IMSEC_TP_TLS), 0);
  connect_core(x);
  register_ue(x, UE_FLOW);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_true(logged(x, "1 binding(s) removed"));
  assert_null(to_ue(x, 1));
  status_is(sent(x, CORE_FLOW), 430);
  fx_del(x);
}

/* M2b: the P-CSCF dials only the address the UE registered from. A
 * Contact naming another host (a core element, someone else's UE) is
 * never dialled: the binding goes with its flow. */
static void m2b_contact_elsewhere(void **state) {
  (void)state;
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_NONE, 1);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:10.9.8.7:40000"), &info.peer), 0);
  assert_int_equal(flow_up(x, UE_FLOW, 0, &info), 0);
  assert_int_equal(up(x, UE2_FLOW, 0, IMSEC_TP_TLS), 0);
  connect_core(x);
  register_ue(x, UE_FLOW); /* Contact: 127.0.0.1:40000 */
  binding *b = imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI));
  assert_non_null(b);
  assert_int_equal(b->outlives_flow, 0);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_null(to_ue(x, 1));
  status_is(sent(x, CORE_FLOW), 430);
  fx_del(x);
}

/* M2a: the certificate's IMPI and the REGISTER's compare as lib/trust
 * compares them: the realm in any case, the user part as written. */
static void m2a_impi_case(void **state) {
  (void)state;
  fx *x = m2_fx(IMSEC_PCSCF_CLIENT_CERT_REQUIRE, 0);
  flowrec f;
  memset(&f, 0, sizeof(f));
  f.id = UE_FLOW;
  char cert[] = "Alice@Home.Example";
  f.cert_impi = cert;
  ev e = {.p = x->p, .out = &x->out, .now = x->now, .f = &f};
  refusal r;
  memset(&r, 0, sizeof(r));
  assert_int_equal(pc_m2_register_check(&e, "Alice@home.example", &r), 0);
  assert_int_equal(pc_m2_register_check(&e, "alice@home.example", &r), -1);
  assert_int_equal(r.code, 403);
  assert_int_equal(pc_m2_register_check(&e, "Alice@home.example.evil", &r), -1);
  assert_int_equal(pc_m2_register_check(&e, "Alice", &r), -1);
  assert_int_equal(pc_m2_register_check(&e, "", &r), -1);
  fx_del(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(client_cert_names),
      cmocka_unit_test(m2a_require),
      cmocka_unit_test(m2a_request),
      cmocka_unit_test(m2a_require_psk_flow),
      cmocka_unit_test(m2b_dial),
      cmocka_unit_test(m2b_refused),
      cmocka_unit_test(m2b_off),
      cmocka_unit_test(m2b_other_host),
      cmocka_unit_test(m2b_outbound_contact),
      cmocka_unit_test(m2b_deregister_elsewhere),
      cmocka_unit_test(m2b_contact_elsewhere),
      cmocka_unit_test(m2a_impi_case),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
