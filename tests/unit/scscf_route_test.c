/* lib/scscf: routing of calls and of every other method (docs/CALLS.md,
 * "S-CSCF"): originating to a home user (forked, Record-Route), to
 * another domain (its configured next hop) or to a domain without one
 * (404); requests inside a dialog and 2xx ACKs sent on by their Route
 * (stateful, and stateless for the ACK); every method accepted;
 * Max-Forwards 0; untrusted peers. Registrations come from the store
 * (REG_LOAD at start), so no authentication is run here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/scscf.h"
#include "imsec/sip.h"
#include "imsec/svc.h"
#include "imsec/crypto_ossl.h"
#include "elem_pump.h"
#include "test_util.h"

#define DOM "ims.mnc001.mcc001.3gppnetwork.org"
#define ALICE "sip:alice@" DOM
#define BOB "sip:bob@" DOM
#define CAROL "sip:carol@" DOM
#define SELF_RR "<sip:127.0.0.1:6060;transport=tcp;lr>"
#define ORIG "<sip:orig@127.0.0.1:6060;transport=tcp;lr>"
#define PATH_A "<sip:tokA@127.0.0.1:5070;transport=tcp;lr;ob>"
#define PATH_B "<sip:tokB@127.0.0.1:5070;transport=tcp;lr;ob>"
#define PC_RR "<sip:tokB@127.0.0.1:5070;transport=tcp;lr>"
#define DAN "sip:dan@" DOM
#define PATH_D "<sip:tokD@pc.example.net:5071;transport=tls;lr;ob>"
#define BOB_C1 "sip:bob@10.0.0.2:5061;transport=tls;ob"
#define BOB_C2 "sip:bob@10.0.0.3:5061;transport=tls;ob"
#define PCSCF_A 8     /* A's P-CSCF, inbound */
#define PCSCF_OUT 100 /* our connection to the P-CSCF of the Paths */
#define NEXT_HOP 200  /* our connection to other.example.net's next hop */

typedef struct fx {
  imsec_crypto *c;
  imsec_hss_store *st;
  imsec_hss *h;
  imsec_scscf *s;
  imsec_out out;
  imsec_time_ms now;
  imsec_reg_store *rs;
  imsec_svc *svc;
  elem_pump pump;
  uint64_t pc_tag; /* the CONNECT tag of the P-CSCF connection, 0 none */
  char last[65536];
  uint64_t last_flow;
} fx;

static int64_t fx_wall(void *arg) {
  return ((fx *)arg)->now;
}

static void add_sub(fx *f, const char *impi, const char *impu) {
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  snprintf(s.impi, sizeof(s.impi), "%s", impi);
  snprintf(s.impus[0], sizeof(s.impus[0]), "%s", impu);
  s.n_impus = 1;
  t_hex("465b5ce8b199b49faa5f0a2ee238a6bc", s.k, 16);
  t_hex("cd63cb71954a9f4e48a5994e37a02baf", s.op, 16);
  s.op_is_opc = 1;
  s.amf[0] = 0x80;
  s.aka = IMSEC_HSS_AKAV1;
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
}

/* A registration as a previous run left it in the store. */
static void save_reg(fx *f, const char *impi, const char *impu,
                     const char *const *contacts, size_t n, const char *path,
                     const char *peer) {
  imsec_reg_binding b[2];
  memset(b, 0, sizeof(b));
  for (size_t i = 0; i < n; i++) {
    b[i].contact = (char *)contacts[i];
    b[i].path = (char *)path;
    b[i].reg_id = -1;
    b[i].ttl_ms = 600000;
    b[i].order = i + 1;
    b[i].peer = (char *)peer;
  }
  char *impus[1] = {(char *)impu};
  imsec_reg_record r = {
      .impi = (char *)impi, .impus = impus, .n_impus = 1, .b = b, .n = n};
  assert_int_equal(f->rs->vt->save(f->rs, &r, f->now), 0);
}

static imsec_flow_info tcp_info(const char *host, int inbound) {
  imsec_flow_info i;
  memset(&i, 0, sizeof(i));
  i.tp = IMSEC_TP_TCP;
  i.inbound = inbound;
  snprintf(i.peer.host, sizeof(i.peer.host), "%s", host);
  i.peer.tp = IMSEC_TP_TCP;
  i.peer.port = inbound ? 40000 : 5070;
  snprintf(i.local.host, sizeof(i.local.host), "127.0.0.1");
  i.local.tp = IMSEC_TP_TCP;
  i.local.port = 6060;
  return i;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  if (!f || imsec_crypto_ossl_new(&f->c) || imsec_hss_mem_new(&f->st) ||
      imsec_hss_new(&f->h, f->st, f->c, NULL) || imsec_reg_mem_new(&f->rs))
    return -1;
  f->now = 1000000;
  add_sub(f, "alice@" DOM, ALICE);
  add_sub(f, "bob@" DOM, BOB);
  add_sub(f, "carol@" DOM, CAROL);
  static const char *const ca[] = {"sip:alice@10.0.0.1:5061;transport=tls;ob"};
  static const char *const cb[] = {BOB_C1, BOB_C2};
  save_reg(f, "alice@" DOM, ALICE, ca, 1, PATH_A, NULL);
  save_reg(f, "bob@" DOM, BOB, cb, 2, PATH_B, NULL);
  /* Dan behind a P-CSCF reached over TLS, which registered him as
   * pcscf.example.net. */
  add_sub(f, "dan@" DOM, DAN);
  static const char *const cd[] = {"sip:dan@10.0.0.4:5061;transport=tls;ob"};
  save_reg(f, "dan@" DOM, DAN, cd, 1, PATH_D, "pcscf.example.net");
  /* The core: plain TCP from a listed address (insecure_core); one next
   * hop for another network, given in a copy that is gone after new. */
  static const char *const addrs[] = {"127.0.0.1"};
  imsec_scscf_route routes[2];
  memset(routes, 0, sizeof(routes));
  if (imsec_scscf_route_parse(
          imsec_str_c("other.example.net=tcp:127.0.0.1:7070"), &routes[0]) ||
      imsec_scscf_route_parse(
          imsec_str_c("third.example.org=tls:192.0.2.9:5061;name=icscf.third"),
          &routes[1]))
    return -1;
  imsec_scscf_config cfg = {.domain = DOM,
                            .insecure_core = 1,
                            .peer_addrs = addrs,
                            .n_peer_addrs = 1,
                            .routes = routes,
                            .n_routes = 2};
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &cfg.self) ||
      imsec_scscf_new(&f->s, &cfg, f->c))
    return -1;
  memset(routes, 0x5a, sizeof(routes)); /* the element kept its own copy */
  imsec_svc_local_config lc = {
      .hss = f->h, .reg = f->rs, .wall_ms = fx_wall, .wall_arg = f};
  if (imsec_svc_local_new(&f->svc, &lc))
    return -1;
  elem_pump_init(&f->pump, &imsec_scscf_ops, f->s, f->svc);
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  imsec_scscf_start(f->s, f->now, &f->out);
  elem_pump_run(&f->pump, &f->out, 0, f->now);
  imsec_flow_info in = tcp_info("127.0.0.1", 1);
  if (imsec_scscf_on_flow_up(f->s, PCSCF_A, 0, &in, f->now, &f->out))
    return -1;
  imsec_out_clear(&f->out);
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

static size_t count_kind(fx *f, imsec_act_kind kind) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n; i++)
    n += f->out.acts[i].kind == kind;
  return n;
}

static const imsec_act *find_act(fx *f, imsec_act_kind kind) {
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == kind)
      return &f->out.acts[i];
  return NULL;
}

/* The SEND actions of the last event, in order. */
static size_t sends(fx *f, const imsec_act **out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n && n < max; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_SEND)
      out[n++] = &f->out.acts[i];
  return n;
}

static void keep_last(fx *f) {
  f->last[0] = 0;
  f->last_flow = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    const imsec_act *a = &f->out.acts[i];
    if (a->kind != IMSEC_ACT_SEND)
      continue;
    assert_true(a->len < sizeof(f->last));
    memcpy(f->last, a->data, a->len);
    f->last[a->len] = 0;
    f->last_flow = a->flow;
  }
}

/* Deliver `msg` on `flow`: the number of SEND actions; f->last the last. */
static size_t deliver(fx *f, uint64_t flow, const char *msg) {
  imsec_out_clear(&f->out);
  imsec_scscf_on_message(f->s, flow, (const uint8_t *)msg, strlen(msg), f->now,
                         &f->out);
  elem_pump_run(&f->pump, &f->out, 0, f->now);
  assert_int_equal(imsec_out_err(&f->out), 0);
  keep_last(f);
  return count_kind(f, IMSEC_ACT_SEND);
}

static unsigned status_of(const char *msg) {
  unsigned st = 0;
  return sscanf(msg, "SIP/2.0 %u", &st) == 1 ? st : 0;
}

/* The SEND actions of the last event on `flow`; f->last the last of
 * them when there is one. */
static size_t sends_on(fx *f, uint64_t flow) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    const imsec_act *a = &f->out.acts[i];
    if (a->kind != IMSEC_ACT_SEND || a->flow != flow)
      continue;
    n++;
    assert_true(a->len < sizeof(f->last));
    memcpy(f->last, a->data, a->len);
    f->last[a->len] = 0;
    f->last_flow = a->flow;
  }
  return n;
}

/* When the last event asked for a connection, it comes up as `flow` (a
 * trusted TCP peer) and its queued requests go out. */
static void connect_up(fx *f, uint64_t flow, const char *host, uint16_t port) {
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  if (!c)
    return;
  assert_int_equal(count_kind(f, IMSEC_ACT_CONNECT), 1);
  assert_int_equal(c->addr.tp, IMSEC_TP_TCP);
  assert_string_equal(c->addr.host, host);
  assert_int_equal(c->addr.port, port);
  uint64_t tag = c->tag;
  /* Nothing goes there before it is up (a 100 Trying may go back up). */
  assert_int_equal(sends_on(f, PCSCF_A), count_kind(f, IMSEC_ACT_SEND));
  imsec_flow_info info = tcp_info(host, 0);
  info.peer.port = port;
  imsec_out_clear(&f->out);
  assert_int_equal(
      imsec_scscf_on_flow_up(f->s, flow, tag, &info, f->now, &f->out), 0);
  keep_last(f);
}

/* The P-Asserted-Identity of the next requests. */
static const char *g_pai = ALICE;

/* A request as A's P-CSCF sends it on: `route` the Route values (NULL
 * none), `to_tag` NULL outside a dialog, `mf` its Max-Forwards. */
static const char *req(const char *method, const char *ruri, const char *route,
                       const char *to_tag, int mf) {
  static char b[8192];
  static unsigned n;
  char rt[1024] = "", tt[64] = "";
  n++;
  if (route)
    snprintf(rt, sizeof(rt), "Route: %s\r\n", route);
  if (to_tag)
    snprintf(tt, sizeof(tt), ";tag=%s", to_tag);
  snprintf(b, sizeof(b),
           "%s %s SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKp%u\r\n"
           "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKu%u;rport\r\n"
           "Max-Forwards: %d\r\n%s"
           "From: <" ALICE ">;tag=a1\r\nTo: <%s>%s\r\n"
           "Call-ID: call-1\r\nCSeq: 2 %s\r\n"
           "P-Asserted-Identity: <%s>\r\n"
           "Contact: <sip:alice@10.0.0.1:5061;transport=tls;ob>\r\n"
           "Content-Length: 0\r\n\r\n",
           method, ruri, n, n, mf, rt, ruri, tt, method, g_pai);
  return b;
}

/* The branch of the first Via of `msg`. */
static void top_branch(const char *msg, char *out, size_t cap) {
  const char *b = strstr(strstr(msg, "Via: "), "branch=");
  assert_non_null(b);
  b += 7;
  size_t n = strcspn(b, ";\r\n");
  assert_true(n < cap);
  memcpy(out, b, n);
  out[n] = 0;
}

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Occurrences of `needle` in `hay`. */
static size_t count_in(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* A response to a forwarded request (`fwd`): its Vias (ours on top),
 * From, To (with a tag), Call-ID, CSeq. */
static const char *reply(const char *fwd, unsigned code, const char *reason) {
  static char b[8192];
  int n = snprintf(b, sizeof(b), "SIP/2.0 %u %s\r\n", code, reason);
  const char *p = fwd;
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (strncmp(p, "\r\n", 2) == 0)
      break;
    const char *eol = strstr(p, "\r\n");
    if (!strncmp(p, "Via:", 4) || !strncmp(p, "From:", 5) ||
        !strncmp(p, "Call-ID:", 8) || !strncmp(p, "CSeq:", 5))
      n +=
          snprintf(b + n, sizeof(b) - (size_t)n, "%.*s\r\n", (int)(eol - p), p);
    else if (!strncmp(p, "To:", 3))
      n += snprintf(
          b + n, sizeof(b) - (size_t)n, "%.*s%s\r\n", (int)(eol - p), p,
          strstr(p, ";tag=") && strstr(p, ";tag=") < eol ? "" : ";tag=b1");
  }
  snprintf(b + n, sizeof(b) - (size_t)n, "Content-Length: 0\r\n\r\n");
  return b;
}

/* ------------------------------------------------------------ tests */

/* An originating INVITE for a home user: terminating here, forked to the
 * user's registered contacts, each branch with our one Record-Route. */
static void invite_orig_home_forked(void **state) {
  fx *f = *state;
  assert_int_equal(imsec_scscf_registrations(f->s), 3);
  deliver(f, PCSCF_A, req("INVITE", BOB, ORIG, NULL, 70));
  connect_up(f, PCSCF_OUT, "127.0.0.1", 5070);
  const imsec_act *a[4];
  assert_int_equal(sends(f, a, 4), 2);
  int c1 = 0, c2 = 0;
  for (size_t i = 0; i < 2; i++) {
    char t[8192];
    memcpy(t, a[i]->data, a[i]->len);
    t[a[i]->len] = 0;
    assert_int_equal(a[i]->flow, PCSCF_OUT);
    c1 += starts(t, "INVITE " BOB_C1 " SIP/2.0\r\n");
    c2 += starts(t, "INVITE " BOB_C2 " SIP/2.0\r\n");
    /* RFC 3261 §16.6 step 4: ours, once, on top. */
    assert_non_null(strstr(t, "Record-Route: " SELF_RR "\r\n"));
    assert_int_equal(count_in(t, "Record-Route:"), 1);
    assert_non_null(strstr(t, "Route: " PATH_B "\r\n"));
    assert_null(strstr(t, "orig@"));
    assert_non_null(strstr(t, "Max-Forwards: 69\r\n"));
    assert_non_null(strstr(t, "Via: SIP/2.0/TCP 127.0.0.1:6060;branch="));
  }
  assert_int_equal(c1, 1);
  assert_int_equal(c2, 1);
  assert_int_equal(imsec_scscf_txns(f->s), 1);

  /* The same from a trusted peer without orig (terminating): forked with
   * Record-Route too. */
  deliver(f, PCSCF_A, req("INVITE", BOB, NULL, NULL, 70));
  assert_true(sends_on(f, PCSCF_A) <= 1); /* at most a 100 Trying */
  assert_int_equal(sends_on(f, PCSCF_OUT), 2);
  assert_non_null(strstr(f->last, "Record-Route: " SELF_RR "\r\n"));
  /* Known, not registered: 480; unknown: 404. */
  deliver(f, PCSCF_A, req("INVITE", CAROL, ORIG, NULL, 70));
  assert_int_equal(status_of(f->last), 480);
  deliver(f, PCSCF_A, req("INVITE", "sip:nobody@" DOM, ORIG, NULL, 70));
  assert_int_equal(status_of(f->last), 404);
}

/* Another domain: the configured next hop (case-insensitive), the
 * Request-URI untouched, no Route pushed, Record-Route on. */
static void invite_other_domain(void **state) {
  fx *f = *state;
  deliver(f, PCSCF_A,
          req("INVITE", "sip:dave@OTHER.Example.NET", ORIG, NULL, 70));
  connect_up(f, NEXT_HOP, "127.0.0.1", 7070);
  assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 1);
  assert_int_equal(f->last_flow, NEXT_HOP);
  assert_true(starts(f->last, "INVITE sip:dave@OTHER.Example.NET SIP/2.0\r\n"));
  assert_non_null(strstr(f->last, "Record-Route: " SELF_RR "\r\n"));
  assert_null(strstr(f->last, "\nRoute:"));
  assert_non_null(strstr(f->last, "Max-Forwards: 69\r\n"));
  /* Its 200 goes back to A's P-CSCF. */
  assert_int_equal(deliver(f, NEXT_HOP, reply(f->last, 200, "OK")), 1);
  assert_int_equal(f->last_flow, PCSCF_A);
  assert_int_equal(status_of(f->last), 200);
  assert_int_equal(imsec_scscf_txns(f->s), 0);

  /* A tls: route: the peer must carry the route's name (SNI too). */
  deliver(f, PCSCF_A,
          req("MESSAGE", "sip:erin@third.example.org", ORIG, NULL, 70));
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  assert_int_equal(c->addr.tp, IMSEC_TP_TLS);
  assert_string_equal(c->addr.host, "192.0.2.9");
  assert_int_equal(c->addr.port, 5061);
  assert_string_equal(c->server_name, "icscf.third");
  /* MESSAGE creates no dialog: no Record-Route (it is queued, not sent). */
}

static void invite_unconfigured_domain(void **state) {
  fx *f = *state;
  assert_int_equal(
      deliver(f, PCSCF_A,
              req("INVITE", "sip:zed@nowhere.example.com", ORIG, NULL, 70)),
      1);
  assert_int_equal(status_of(f->last), 404);
  assert_non_null(strstr(f->last, "No route to domain"));
  assert_int_equal(f->last_flow, PCSCF_A);
  assert_null(find_act(f, IMSEC_ACT_CONNECT));
  /* The originating user must still be registered. */
  g_pai = CAROL;
  deliver(f, PCSCF_A,
          req("INVITE", "sip:dave@other.example.net", ORIG, NULL, 70));
  g_pai = ALICE;
  assert_int_equal(status_of(f->last), 403);
  assert_null(find_act(f, IMSEC_ACT_CONNECT));
}

/* In a dialog: our Route entry popped, the next one (B's P-CSCF) is
 * where the BYE goes, statefully; its 200 comes back. */
static void in_dialog_bye(void **state) {
  fx *f = *state;
  deliver(f, PCSCF_A, req("BYE", BOB_C1, SELF_RR ", " PC_RR, "b1", 70));
  connect_up(f, PCSCF_OUT, "127.0.0.1", 5070);
  assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 1);
  assert_int_equal(f->last_flow, PCSCF_OUT);
  assert_true(starts(f->last, "BYE " BOB_C1 " SIP/2.0\r\n"));
  assert_non_null(strstr(f->last, "Route: " PC_RR "\r\n"));
  assert_null(strstr(f->last, "6060;transport=tcp;lr>"));
  assert_null(strstr(f->last, "Record-Route"));
  assert_non_null(strstr(f->last, "Max-Forwards: 69\r\n"));
  assert_int_equal(imsec_scscf_txns(f->s), 1);
  assert_int_equal(deliver(f, PCSCF_OUT, reply(f->last, 200, "OK")), 1);
  assert_int_equal(f->last_flow, PCSCF_A);
  assert_int_equal(status_of(f->last), 200);
  assert_int_equal(imsec_scscf_txns(f->s), 0);

  /* Our entry on a line of its own, the next over TLS by name: a
   * connection there, judged when it comes up (no name imposed). */
  char m[8192];
  snprintf(m, sizeof(m), "%s",
           req("BYE", BOB_C1,
               SELF_RR "\r\nRoute: <sip:tokB@pcscf.example.net:5071;"
                       "transport=tls;lr>",
               "b1", 70));
  deliver(f, PCSCF_A, m);
  const imsec_act *c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  assert_int_equal(c->addr.tp, IMSEC_TP_TLS);
  assert_string_equal(c->addr.host, "pcscf.example.net");
  assert_int_equal(c->addr.port, 5071);
  assert_string_equal(c->server_name, "");

  /* Towards a P-CSCF the S-CSCF already has a connection to (a Path hop
   * held to its registering name): that one is reused, not a second one
   * opened beside it (RFC 5923). */
  deliver(f, PCSCF_A, req("INVITE", DAN, ORIG, NULL, 70));
  c = find_act(f, IMSEC_ACT_CONNECT);
  assert_non_null(c);
  assert_string_equal(c->server_name, "pcscf.example.net");
  deliver(f, PCSCF_A,
          req("BYE", "sip:dan@10.0.0.4:5061;transport=tls;ob",
              SELF_RR ", <sip:tokD@pc.example.net:5071;transport=tls;lr>", "d1",
              70));
  assert_null(find_act(f, IMSEC_ACT_CONNECT));
  assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 0); /* queued on it */
  assert_int_equal(imsec_scscf_txns(f->s), 3); /* with the TLS BYE above */

  /* Nothing after ours: 404; no Route of ours: 403. */
  deliver(f, PCSCF_A, req("BYE", BOB_C1, SELF_RR, "b1", 70));
  assert_int_equal(status_of(f->last), 404);
  deliver(f, PCSCF_A, req("BYE", BOB_C1, NULL, "b1", 70));
  assert_int_equal(status_of(f->last), 403);
  deliver(f, PCSCF_A, req("BYE", BOB_C1, PC_RR, "b1", 70));
  assert_int_equal(status_of(f->last), 403);
}

/* A 2xx ACK: statelessly, our Via with a branch that is the same for a
 * retransmission, Max-Forwards one less, no context, no answer. */
static void ack_stateless(void **state) {
  fx *f = *state;
  char ack[8192];
  snprintf(ack, sizeof(ack), "%s",
           req("ACK", BOB_C1, SELF_RR ", " PC_RR, "b1", 70));
  deliver(f, PCSCF_A, ack);
  connect_up(f, PCSCF_OUT, "127.0.0.1", 5070);
  assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 1);
  assert_int_equal(f->last_flow, PCSCF_OUT);
  assert_true(starts(f->last, "ACK " BOB_C1 " SIP/2.0\r\n"));
  assert_non_null(strstr(f->last, "Route: " PC_RR "\r\n"));
  assert_non_null(strstr(f->last, "Max-Forwards: 69\r\n"));
  assert_non_null(strstr(f->last, "Via: SIP/2.0/TCP 127.0.0.1:6060;branch="));
  assert_null(strstr(f->last, "z9hG4bK.isc."));
  char b1[128], b2[128];
  top_branch(f->last, b1, sizeof(b1));
  assert_true(strncmp(b1, "z9hG4bK", 7) == 0);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* The retransmission: the same branch, on the same connection. */
  assert_int_equal(deliver(f, PCSCF_A, ack), 1);
  assert_int_equal(f->last_flow, PCSCF_OUT);
  top_branch(f->last, b2, sizeof(b2));
  assert_string_equal(b1, b2);
  /* Another ACK (another CSeq): another branch. */
  char *cs = strstr(ack, "CSeq: 2");
  cs[6] = '3';
  deliver(f, PCSCF_A, ack);
  top_branch(f->last, b2, sizeof(b2));
  assert_string_not_equal(b1, b2);
  /* Nowhere to go: dropped, never answered. */
  assert_int_equal(deliver(f, PCSCF_A, req("ACK", BOB_C1, SELF_RR, "b1", 70)),
                   0);
  assert_int_equal(deliver(f, PCSCF_A, req("ACK", BOB_C1, NULL, "b1", 70)), 0);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
}

/* SUBSCRIBE and REFER create dialogs (Record-Route); INFO, UPDATE,
 * PRACK, NOTIFY and a method nobody knows are accepted too, in a dialog
 * and out of one. */
static void other_methods(void **state) {
  fx *f = *state;
  static const char *const creating[] = {"SUBSCRIBE", "REFER"};
  for (size_t i = 0; i < 2; i++) {
    deliver(f, PCSCF_A, req(creating[i], BOB, ORIG, NULL, 70));
    connect_up(f, PCSCF_OUT, "127.0.0.1", 5070);
    assert_int_equal(count_kind(f, IMSEC_ACT_SEND), 2);
    assert_int_equal(f->last_flow, PCSCF_OUT);
    assert_true(strncmp(f->last, creating[i], strlen(creating[i])) == 0);
    assert_non_null(strstr(f->last, "Record-Route: " SELF_RR "\r\n"));
  }
  static const char *const in_dialog[] = {"INFO",   "UPDATE", "PRACK",
                                          "NOTIFY", "REFER",  "FROBNICATE"};
  for (size_t i = 0; i < sizeof(in_dialog) / sizeof(in_dialog[0]); i++) {
    assert_int_equal(
        deliver(f, PCSCF_A,
                req(in_dialog[i], BOB_C1, SELF_RR ", " PC_RR, "b1", 70)),
        1);
    assert_int_equal(f->last_flow, PCSCF_OUT);
    assert_true(strncmp(f->last, in_dialog[i], strlen(in_dialog[i])) == 0);
    assert_null(strstr(f->last, "Record-Route"));
  }
  /* A re-INVITE follows the route set like any in-dialog request and
   * adds no Record-Route (the dialog's route set is fixed, RFC 3261
   * §12.2). */
  deliver(f, PCSCF_A, req("INVITE", BOB_C1, SELF_RR ", " PC_RR, "b1", 70));
  assert_int_equal(sends_on(f, PCSCF_OUT), 1);
  assert_true(starts(f->last, "INVITE " BOB_C1 " SIP/2.0\r\n"));
  assert_non_null(strstr(f->last, "Route: " PC_RR "\r\n"));
  assert_null(strstr(f->last, "Record-Route"));

  /* INFO outside a dialog to a home user: forked, no Record-Route. */
  assert_int_equal(deliver(f, PCSCF_A, req("INFO", BOB, ORIG, NULL, 70)), 2);
  assert_true(strncmp(f->last, "INFO ", 5) == 0);
  assert_null(strstr(f->last, "Record-Route"));

  /* OPTIONS to the S-CSCF itself lists what it proxies. */
  deliver(f, PCSCF_A, req("OPTIONS", "sip:" DOM, NULL, NULL, 70));
  assert_int_equal(status_of(f->last), 200);
  const char *allow = strstr(f->last, "Allow: ");
  assert_non_null(allow);
  static const char *const all[] = {"INVITE", "ACK",    "CANCEL",  "BYE",
                                    "PRACK",  "UPDATE", "INFO",    "SUBSCRIBE",
                                    "NOTIFY", "REFER",  "MESSAGE", "OPTIONS"};
  const char *eol = strstr(allow, "\r\n");
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
    const char *p = strstr(allow, all[i]);
    assert_non_null(p);
    assert_true(p < eol);
  }
}

/* RFC 3261 §16.3 step 3 on every path. */
static void max_forwards_zero(void **state) {
  fx *f = *state;
  deliver(f, PCSCF_A, req("INVITE", BOB, ORIG, NULL, 0));
  assert_int_equal(status_of(f->last), 483);
  deliver(f, PCSCF_A, req("INVITE", CAROL, ORIG, NULL, 0));
  assert_int_equal(status_of(f->last), 483);
  deliver(f, PCSCF_A,
          req("INVITE", "sip:dave@other.example.net", ORIG, NULL, 0));
  assert_int_equal(status_of(f->last), 483);
  deliver(f, PCSCF_A, req("BYE", BOB_C1, SELF_RR ", " PC_RR, "b1", 0));
  assert_int_equal(status_of(f->last), 483);
  assert_null(find_act(f, IMSEC_ACT_CONNECT));
  assert_int_equal(
      deliver(f, PCSCF_A, req("ACK", BOB_C1, SELF_RR ", " PC_RR, "b1", 0)), 0);
  assert_null(find_act(f, IMSEC_ACT_CONNECT));
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* 1 still goes (as 0). */
  deliver(f, PCSCF_A, req("BYE", BOB_C1, SELF_RR ", " PC_RR, "b1", 1));
  connect_up(f, PCSCF_OUT, "127.0.0.1", 5070);
  assert_non_null(strstr(f->last, "Max-Forwards: 0\r\n"));
}

/* A peer outside the trust domain gets 403 for calls as for the rest. */
static void untrusted_peer(void **state) {
  fx *f = *state;
  imsec_flow_info bad = tcp_info("10.9.9.9", 1);
  imsec_out_clear(&f->out);
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 9, 0, &bad, f->now, &f->out),
                   IMSEC_ERR_AUTH);
  deliver(f, 9, req("INVITE", BOB, ORIG, NULL, 70));
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(f->last_flow, 9);
  deliver(f, 9, req("BYE", BOB_C1, SELF_RR ", " PC_RR, "b1", 70));
  assert_int_equal(status_of(f->last), 403);
  assert_int_equal(
      deliver(f, 9, req("ACK", BOB_C1, SELF_RR ", " PC_RR, "b1", 70)), 0);
  assert_null(find_act(f, IMSEC_ACT_CONNECT));
}

/* Routes are checked and copied at creation; the parser is the
 * P-CSCF's. */
static void route_config(void **state) {
  fx *f = *state;
  imsec_scscf_route r;
  assert_int_equal(
      imsec_scscf_route_parse(
          imsec_str_c("x.example=tls:h.example:5061;name=n.x"), &r),
      0);
  assert_string_equal(r.domain, "x.example");
  assert_string_equal(r.addr.host, "h.example");
  assert_int_equal(r.addr.tp, IMSEC_TP_TLS);
  assert_string_equal(r.name, "n.x");
  assert_true(imsec_scscf_route_parse(imsec_str_c("tls:h:5061"), &r) < 0);
  assert_true(imsec_scscf_route_parse(imsec_str_c("x=h:5061"), &r) < 0);
  assert_true(imsec_scscf_route_parse(imsec_str_c("x=tls:h:5061;nam=a"), &r) <
              0);
  static const char *const addrs[] = {"127.0.0.1"};
  imsec_scscf_config cfg = {.domain = DOM,
                            .insecure_core = 1,
                            .peer_addrs = addrs,
                            .n_peer_addrs = 1};
  assert_int_equal(
      imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &cfg.self), 0);
  imsec_scscf *s = NULL;
  cfg.n_routes = 1; /* without the array */
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), IMSEC_ERR_CONFIG);
  imsec_scscf_route rs[IMSEC_SCSCF_MAX_ROUTES + 1];
  memset(rs, 0, sizeof(rs));
  for (size_t i = 0; i < IMSEC_SCSCF_MAX_ROUTES + 1; i++)
    assert_int_equal(imsec_scscf_route_parse(
                         imsec_str_c("d.example=tcp:127.0.0.1:7070"), &rs[i]),
                     0);
  cfg.routes = rs;
  cfg.n_routes = IMSEC_SCSCF_MAX_ROUTES + 1;
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), IMSEC_ERR_CONFIG);
  rs[0].domain[0] = 0; /* no domain */
  cfg.n_routes = 1;
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), IMSEC_ERR_CONFIG);
  rs[0] = rs[1];
  rs[0].addr.tp = IMSEC_TP_UDP;
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), IMSEC_ERR_CONFIG);
  rs[0] = rs[1];
  cfg.n_routes = IMSEC_SCSCF_MAX_ROUTES;
  assert_int_equal(imsec_scscf_new(&s, &cfg, f->c), 0);
  imsec_scscf_del(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(invite_orig_home_forked, setup, teardown),
      cmocka_unit_test_setup_teardown(invite_other_domain, setup, teardown),
      cmocka_unit_test_setup_teardown(invite_unconfigured_domain, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(in_dialog_bye, setup, teardown),
      cmocka_unit_test_setup_teardown(ack_stateless, setup, teardown),
      cmocka_unit_test_setup_teardown(other_methods, setup, teardown),
      cmocka_unit_test_setup_teardown(max_forwards_zero, setup, teardown),
      cmocka_unit_test_setup_teardown(untrusted_peer, setup, teardown),
      cmocka_unit_test_setup_teardown(route_config, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
