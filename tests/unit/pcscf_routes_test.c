/* lib/pcscf: replacing the routing table of a running P-CSCF
 * (imsec_pcscf_set_routes, a daemon's reload): REGISTERs follow the new
 * table, known S-CSCFs keep their connection, bad tables change nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_fake.h"
#include "imsec/pcscf.h"
#include "test_util.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define UE_FLOW 10

typedef struct fx {
  crypto_fake *cf;
  imsec_pcscf *p;
  imsec_out out;
  int seq;
} fx;

static void route(imsec_pcscf_route *r, const char *spec) {
  assert_int_equal(imsec_pcscf_route_parse(imsec_str_c(spec), r), 0);
}

static fx *fx_new(void) {
  imsec_pcscf_config c;
  imsec_pcscf_config_init(&c);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tcp:127.0.0.1:5062"), &c.core), 0);
  snprintf(c.peer_addrs[0], sizeof(c.peer_addrs[0]), "127.0.0.1");
  c.n_peer_addrs = 1;
  route(&c.routes[0], HOME "=tcp:127.0.0.1:5070");
  c.n_routes = 1;
  fx *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  assert_int_equal(crypto_fake_new(&x->cf), 0);
  assert_int_equal(imsec_pcscf_new(&x->p, &c, &x->cf->base), 0);
  imsec_out_init(&x->out, IMSEC_LOG_DEBUG);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40000"), &info.peer), 0);
  assert_int_equal(
      imsec_pcscf_on_flow_up(x->p, UE_FLOW, 0, &info, 1000, &x->out), 0);
  return x;
}

static void fx_del(fx *x) {
  imsec_pcscf_del(x->p);
  imsec_out_free(&x->out);
  imsec_crypto_del(&x->cf->base);
  free(x);
}

/* A REGISTER for `domain`; returns the CONNECT action it caused (NULL: none)
 * and the status the UE got (0: none). */
static const imsec_act *reg(fx *x, const char *domain, int *status) {
  char m[1024];
  x->seq++;
  snprintf(m, sizeof(m),
           "REGISTER sip:%s SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKq%d\r\n"
           "From: <sip:a@%s>;tag=p\r\nTo: <sip:a@%s>\r\n"
           "Call-ID: q%d@ua\r\nCSeq: 1 REGISTER\r\n"
           "Contact: <sip:a@127.0.0.1:40000;transport=tls>\r\n"
           "Content-Length: 0\r\n\r\n",
           domain, x->seq, domain, domain, x->seq);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_message(x->p, UE_FLOW, (const uint8_t *)m, strlen(m), 1000,
                         &x->out);
  *status = 0;
  const imsec_act *conn = NULL;
  for (size_t i = 0; i < x->out.n; i++) {
    const imsec_act *a = &x->out.acts[i];
    if (a->kind == IMSEC_ACT_CONNECT)
      conn = a;
    if (a->kind == IMSEC_ACT_SEND && a->flow == UE_FLOW)
      *status = atoi((const char *)a->data + 8);
  }
  return conn;
}

static void new_table_followed(void **state) {
  (void)state;
  fx *x = fx_new();
  int st;
  const imsec_act *a = reg(x, HOME, &st);
  assert_non_null(a);
  assert_int_equal(a->addr.port, 5070);
  uint64_t tag_5070 = a->tag;

  imsec_pcscf_route r[3];
  route(&r[0], HOME "=tcp:127.0.0.1:5080");
  route(&r[1], "other.example=tcp:127.0.0.1:5070");
  route(&r[2], "third.example=tcp:127.0.0.1:5080");
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, 3), 0);
  a = reg(x, HOME, &st);
  assert_non_null(a);
  assert_int_equal(a->addr.port, 5080);
  assert_int_not_equal(a->tag, tag_5070);
  uint64_t tag_5080 = a->tag;
  /* 5070 is still connecting (its REGISTER queued): no second CONNECT. */
  assert_null(reg(x, "other.example", &st));
  assert_int_equal(st, 0);
  assert_null(reg(x, "third.example", &st));
  assert_int_equal(st, 0);

  /* A domain taken out of the table: 403. */
  assert_int_equal(imsec_pcscf_set_routes(x->p, &r[1], 1), 0);
  assert_null(reg(x, HOME, &st));
  assert_int_equal(st, 403);
  /* And back: the known destination (still connecting), no new one. */
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, 1), 0);
  assert_null(reg(x, HOME, &st));
  assert_int_equal(st, 0);
  (void)tag_5080;
  fx_del(x);
}

static void bad_tables_change_nothing(void **state) {
  (void)state;
  fx *x = fx_new();
  imsec_pcscf_route r[IMSEC_PCSCF_MAX_ROUTES + 1];
  memset(r, 0, sizeof(r));
  assert_int_equal(imsec_pcscf_set_routes(NULL, r, 1), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_pcscf_set_routes(x->p, NULL, 1), IMSEC_ERR_INVAL);
  route(&r[0], HOME "=tcp:127.0.0.1:5090");
  /* r[1] has no domain */
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, 2), IMSEC_ERR_CONFIG);
  route(&r[1], "x.example=tcp:127.0.0.1:5091");
  r[1].addr.host[0] = 0;
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, 2), IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, IMSEC_PCSCF_MAX_ROUTES + 1),
                   IMSEC_ERR_CONFIG);
  /* 32 distinct addresses besides the one known: no room. */
  for (int i = 0; i < IMSEC_PCSCF_MAX_ROUTES; i++) {
    char spec[128];
    snprintf(spec, sizeof(spec), "d%d.example=tcp:127.0.0.1:%d", i, 6000 + i);
    route(&r[i], spec);
  }
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, IMSEC_PCSCF_MAX_ROUTES),
                   IMSEC_ERR_LIMIT);
  /* Still the table of the start. */
  int st;
  const imsec_act *a = reg(x, HOME, &st);
  assert_non_null(a);
  assert_int_equal(a->addr.port, 5070);
  assert_null(reg(x, "d0.example", &st));
  assert_int_equal(st, 403);
  /* 31 new ones fit beside the known one; an empty table too. */
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, IMSEC_PCSCF_MAX_ROUTES - 1),
                   0);
  a = reg(x, "d30.example", &st);
  assert_non_null(a);
  assert_int_equal(a->addr.port, 6030);
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, 0), 0);
  assert_null(reg(x, "d0.example", &st));
  assert_int_equal(st, 403);
  fx_del(x);
}

/* RFC 5922 §7.2: a tls: route added at run time checks (and sends as
 * SNI) its own name=, else its host; the same address under another name
 * is another destination. */
static void tls_route_names_kept(void **state) {
  (void)state;
  fx *x = fx_new();
  int st;
  imsec_pcscf_route r[2];
  route(&r[0], HOME "=tls:127.0.0.1:5090;name=scscf." HOME);
  route(&r[1], "other.example=tls:scscf.other.example:5090");
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, 2), 0);
  const imsec_act *a = reg(x, HOME, &st);
  assert_non_null(a);
  assert_int_equal(a->addr.port, 5090);
  assert_string_equal(a->server_name, "scscf." HOME);
  a = reg(x, "other.example", &st);
  assert_non_null(a);
  assert_string_equal(a->server_name, "scscf.other.example");
  /* 127.0.0.1:5090 under another name: a connection of its own. */
  route(&r[0], HOME "=tls:127.0.0.1:5090;name=s2." HOME);
  assert_int_equal(imsec_pcscf_set_routes(x->p, r, 1), 0);
  a = reg(x, HOME, &st);
  assert_non_null(a);
  assert_string_equal(a->server_name, "s2." HOME);
  fx_del(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(new_table_followed),
      cmocka_unit_test(bad_tables_change_nothing),
      cmocka_unit_test(tls_route_names_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
