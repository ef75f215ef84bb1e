/* lib/pcscf/dialog.c: Record-Route with the flow token in both
 * directions (TS 24.229 §5.2.6.3, RFC 5626 §5.3, RFC 5658), in-dialog
 * requests both ways over the UE's flow, the checks on them (403, 481),
 * and the dialog table's lifecycle and bound. */
#include "lib/pcscf/pcscf_int.h"
#include "pcscf_fx.h"

#define IMPI_B "001010000000002@" HOME
#define IMPU_B "sip:001010000000002@" HOME
#define SCSCF_RR "<sip:127.0.0.1:5070;transport=tcp;lr>"
#define ACC_HOST "127.0.0.1:5061"
#define CORE_HOST "127.0.0.1:5062"

typedef struct two {
  fx *x;
  char tok_a[64], tok_b[64];
  char buf[8192]; /* the last message built */
  char keep[8192];
} two;

/* A UE flow on the TLS listener 127.0.0.1:5061 (our end of it). */
static void up_access(fx *x, uint64_t flow) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40000"), &info.peer), 0);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:" ACC_HOST), &info.local), 0);
  assert_int_equal(flow_up(x, flow, 0, &info), 0);
}

/* UE B registers on UE2_FLOW (no sec-agree: enough for a binding). */
static void register_b(two *w) {
  fx *x = w->x;
  snprintf(w->buf, sizeof(w->buf),
           "REGISTER sip:" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40001;branch=z9hG4bKrb1;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <" IMPU_B ">;tag=rb\r\nTo: <" IMPU_B ">\r\n"
           "Call-ID: regb@ue\r\nCSeq: 1 REGISTER\r\n"
           "Contact: <sip:ueb@127.0.0.1:40001;transport=tls;ob>;expires=600\r\n"
           "Authorization: Digest username=\"" IMPI_B "\",realm=\"" HOME
           "\",nonce=\"n\",uri=\"sip:" HOME "\",response=\"00\"\r\n"
           "Supported: path, outbound\r\nExpires: 600\r\n"
           "Content-Length: 0\r\n\r\n");
  feed(x, UE2_FLOW, w->buf);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  const char *p = strstr(fwd, "Path: <sip:");
  assert_non_null(p);
  p += strlen("Path: <sip:");
  size_t n = (size_t)(strchr(p, '@') - p);
  memcpy(w->tok_b, p, n);
  w->tok_b[n] = 0;
  feed(x, CORE_FLOW,
       response_to(
           fwd, 200, "OK",
           "Contact: <sip:ueb@127.0.0.1:40001;transport=tls;ob>;expires=600\r\n"
           "Service-Route: <sip:orig@127.0.0.1:5070;transport=tcp;lr>\r\n"
           "P-Associated-URI: <" IMPU_B ">\r\n"));
  status_is(sent(x, UE2_FLOW), 200);
  assert_true(logged(x, "registered IMPI " IMPI_B));
}

static two *setup_two(size_t max_dialogs) {
  two *w = calloc(1, sizeof(*w));
  assert_non_null(w);
  imsec_pcscf_config c;
  cfg_base(&c);
  c.max_dialogs = max_dialogs;
  fx *x = fx_new(&c);
  w->x = x;
  up_access(x, UE_FLOW);
  up_access(x, UE2_FLOW);
  connect_core(x);
  register_ue(x, UE_FLOW);
  strcpy(w->tok_a, x->token);
  register_b(w);
  return w;
}

static void teardown_two(two *w) {
  fx_del(w->x);
  free(w);
}

static __attribute__((unused)) void dump(fx *x) {
  for (size_t i = 0; i < x->out.n; i++)
    fprintf(stderr, "act %d flow %llu: %.*s\n", (int)x->out.acts[i].kind,
            (unsigned long long)x->out.acts[i].flow, (int)x->out.acts[i].len,
            (const char *)x->out.acts[i].data);
}

/* The data of the last SEND on `flow` (after a 100 Trying, the final
 * answer), or NULL. */
static const char *last_sent(fx *x, uint64_t flow) {
  const char *d = NULL;
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_SEND && x->out.acts[i].flow == flow)
      d = (const char *)x->out.acts[i].data;
  return d;
}

static int before(const char *msg, const char *a, const char *b) {
  const char *pa = strstr(msg, a), *pb = strstr(msg, b);
  return pa && pb && pa < pb;
}

/* Our entries for a token: core side (tcp, as the Path) and access side. */
static void rr_core(char *out, size_t cap, const char *tok) {
  snprintf(out, cap, "<sip:%s@" CORE_HOST ";transport=tcp;lr>", tok);
}
static void rr_acc(char *out, size_t cap, const char *tok) {
  snprintf(out, cap, "<sip:%s@" ACC_HOST ";transport=tls;lr>", tok);
}

/* A's INVITE (outside a dialog), Call-ID `cid`, From tag a1. */
static void a_invite(two *w, const char *cid) {
  static int n;
  snprintf(w->buf, sizeof(w->buf),
           "INVITE sip:001010000000002@" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKai%d\r\n"
           "Max-Forwards: 70\r\n"
           "From: <" IMPU ">;tag=a1\r\nTo: <" IMPU_B ">\r\n"
           "Call-ID: %s\r\nCSeq: 1 INVITE\r\n"
           "P-Preferred-Identity: <" IMPU ">\r\n"
           "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>\r\n"
           "Content-Length: 0\r\n\r\n",
           ++n, cid);
  feed(w->x, UE_FLOW, w->buf);
}

/* A's call `cid` set up: INVITE out, 200 back (To tag s1) relayed. */
static void a_call(two *w, const char *cid) {
  a_invite(w, cid);
  const char *fwd = sent(w->x, CORE_FLOW);
  assert_non_null(fwd);
  strcpy(w->keep, fwd);
  feed(w->x, CORE_FLOW,
       response_to(w->keep, 200, "OK",
                   "Record-Route: " SCSCF_RR "\r\n"
                   "Contact: <sip:ueb@127.0.0.1:40001;transport=tls;ob>\r\n"));
  status_is(sent(w->x, UE_FLOW), 200);
}

/* A request from UE `flow` inside a dialog: From tag `ftag`, To tag
 * `ttag`, the route `route` (our entries and the S-CSCF's). */
static void ue_in_dialog(two *w, uint64_t flow, const char *method,
                         const char *cid, const char *ftag, const char *ttag,
                         const char *route) {
  static int n;
  snprintf(w->buf, sizeof(w->buf),
           "%s sip:ueb@127.0.0.1:40001;transport=tls SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKd%d\r\n"
           "Max-Forwards: 70\r\n"
           "Route: %s\r\n"
           "From: <" IMPU ">;tag=%s\r\nTo: <" IMPU_B ">;tag=%s\r\n"
           "Call-ID: %s\r\nCSeq: 2 %s\r\n"
           "P-Asserted-Identity: <sip:boss@" HOME ">\r\n"
           "Content-Length: 0\r\n\r\n",
           method, ++n, route, ftag, ttag, cid, method);
  feed(w->x, flow, w->buf);
}

/* The route set A uses: its access and core entry, then the S-CSCF. */
static void route_of(char *out, size_t cap, const char *tok) {
  char acc[128], core[128];
  rr_acc(acc, sizeof(acc), tok);
  rr_core(core, sizeof(core), tok);
  snprintf(out, cap, "%s, %s, " SCSCF_RR, acc, core);
}

/* A request from the core for the UE of token `tok`, as the S-CSCF sends
 * it along the route set: our core entry, then our access entry. */
static void core_in_dialog(two *w, const char *method, const char *tok,
                           const char *cid, const char *ftag, const char *ttag,
                           const char *extra) {
  static int n;
  char acc[128], core[128];
  rr_acc(acc, sizeof(acc), tok);
  rr_core(core, sizeof(core), tok);
  snprintf(w->buf, sizeof(w->buf),
           "%s sip:ue@127.0.0.1:40000;transport=tls SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKc%d\r\n"
           "Max-Forwards: 69\r\n"
           "Route: %s\r\nRoute: %s\r\n"
           "From: <" IMPU_B ">;tag=%s\r\nTo: <" IMPU ">;tag=%s\r\n"
           "Call-ID: %s\r\nCSeq: 7 %s\r\n%s"
           "Content-Length: 0\r\n\r\n",
           method, ++n, core, acc, ftag, ttag, cid, method, extra ? extra : "");
  feed(w->x, CORE_FLOW, w->buf);
}

/* A dialog-creating request from the core for the UE of token `tok`. */
static void core_invite(two *w, const char *method, const char *tok,
                        const char *cid) {
  static int n;
  char core[128];
  rr_core(core, sizeof(core), tok);
  snprintf(w->buf, sizeof(w->buf),
           "%s sip:ue@127.0.0.1:40000;transport=tls SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKci%d\r\n"
           "Max-Forwards: 69\r\n"
           "Route: %s\r\n"
           "Record-Route: " SCSCF_RR "\r\n"
           "From: <" IMPU_B ">;tag=b1\r\nTo: <" IMPU ">\r\n"
           "Call-ID: %s\r\nCSeq: 1 %s\r\n"
           "Event: dialog\r\n"
           "Contact: <sip:ueb@127.0.0.1:40001;transport=tls;ob>\r\n"
           "Content-Length: 0\r\n\r\n",
           method, ++n, core, cid, method);
  feed(w->x, CORE_FLOW, w->buf);
}

/* UE -> core: the core entry on top, the access entry under it, both
 * with the binding's token; the dialog is recorded at once. */
static void rr_from_ue(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_invite(w, "c1@a");
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  char core[128], acc[128], l1[160], l2[160];
  rr_core(core, sizeof(core), w->tok_a);
  rr_acc(acc, sizeof(acc), w->tok_a);
  snprintf(l1, sizeof(l1), "Record-Route: %s", core);
  snprintf(l2, sizeof(l2), "Record-Route: %s", acc);
  assert_true(has_line(fwd, l1));
  assert_true(has_line(fwd, l2));
  assert_true(before(fwd, l1, l2));
  /* the UE's own assertion is replaced by ours */
  assert_null(strstr(fwd, "P-Preferred-Identity"));
  assert_true(has_line(fwd, "P-Asserted-Identity: <" IMPU ">"));
  assert_int_equal(x->p->n_dlgs, 1);
  /* a MESSAGE creates no dialog: no Record-Route */
  feed(x, UE_FLOW,
       "MESSAGE sip:b@" HOME " SIP/2.0\r\n"
       "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKm1\r\n"
       "Max-Forwards: 70\r\nFrom: <" IMPU ">;tag=m\r\nTo: <sip:b@" HOME ">\r\n"
       "Call-ID: m1@a\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n");
  assert_non_null(sent(x, CORE_FLOW));
  assert_null(strstr(sent(x, CORE_FLOW), "Record-Route"));
  assert_int_equal(x->p->n_dlgs, 1);
  teardown_two(w);
}

/* core -> UE: the access entry on top of the core entry, both above the
 * S-CSCF's; the dialog is recorded on the UE's 1xx with its To tag. */
static void rr_toward_ue(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  core_invite(w, "INVITE", w->tok_a, "c2@b");
  const char *out = sent(x, UE_FLOW);
  assert_non_null(out);
  char core[128], acc[128], l1[160], l2[160];
  rr_core(core, sizeof(core), w->tok_a);
  rr_acc(acc, sizeof(acc), w->tok_a);
  snprintf(l1, sizeof(l1), "Record-Route: %s", acc);
  snprintf(l2, sizeof(l2), "Record-Route: %s", core);
  assert_true(has_line(out, l1));
  assert_true(has_line(out, l2));
  assert_true(before(out, l1, l2));
  assert_true(before(out, l2, "Record-Route: " SCSCF_RR));
  assert_null(strstr(out, "Route: <sip:" CORE_HOST)); /* popped */
  assert_int_equal(x->p->n_dlgs, 0);
  strcpy(w->keep, out);
  /* the UE rings with its To tag (response_to adds ;tag=s1) */
  feed(x, UE_FLOW, response_to(w->keep, 180, "Ringing", NULL));
  status_is(sent(x, CORE_FLOW), 180);
  assert_int_equal(x->p->n_dlgs, 1);
  /* then refuses: the early dialog goes with the failed INVITE */
  feed(x, UE_FLOW, response_to(w->keep, 486, "Busy Here", NULL));
  status_is(sent(x, CORE_FLOW), 486);
  assert_int_equal(x->p->n_dlgs, 0);
  teardown_two(w);
}

/* A call both ways: requests from the core reach the UE's flow with our
 * entries gone; requests from the UE reach the S-CSCF with its Route on
 * top and the dialog's identity asserted; BYE's 2xx ends the dialog. */
static void in_dialog_both_ways(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_call(w, "c3@a");
  assert_int_equal(x->p->n_dlgs, 1);
  /* from the core (B re-INVITEs A): To tag a1 is A's */
  core_in_dialog(w, "INFO", w->tok_a, "c3@a", "s1", "a1", NULL);
  const char *out = sent(x, UE_FLOW);
  assert_non_null(out);
  assert_null(strstr(out, "Route:"));
  assert_true(has_line(out, "CSeq: 7 INFO"));
  assert_non_null(strstr(out, "Via: SIP/2.0/TLS " ACC_HOST ";branch="));
  strcpy(w->keep, out);
  feed(x, UE_FLOW, response_to(w->keep, 200, "OK", NULL));
  status_is(sent(x, CORE_FLOW), 200);
  /* from the UE: its route set */
  char route[512];
  route_of(route, sizeof(route), w->tok_a);
  ue_in_dialog(w, UE_FLOW, "UPDATE", "c3@a", "a1", "s1", route);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(has_line(fwd, "Route: " SCSCF_RR));
  assert_null(strstr(fwd, w->tok_a));
  assert_true(has_line(fwd, "P-Asserted-Identity: <" IMPU ">"));
  assert_null(strstr(fwd, "boss"));
  assert_true(has_line(fwd, "Max-Forwards: 69"));
  assert_non_null(strstr(fwd, "Via: SIP/2.0/TCP 127.0.0.1:5062;branch="));
  strcpy(w->keep, fwd);
  feed(x, CORE_FLOW, response_to(w->keep, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);
  /* the ACK of a 2xx goes too, statelessly */
  ue_in_dialog(w, UE_FLOW, "ACK", "c3@a", "a1", "s1", route);
  assert_non_null(sent(x, CORE_FLOW));
  /* BYE from the UE; its 200 ends the dialog */
  ue_in_dialog(w, UE_FLOW, "BYE", "c3@a", "a1", "s1", route);
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  strcpy(w->keep, fwd);
  assert_int_equal(x->p->n_dlgs, 1);
  feed(x, CORE_FLOW, response_to(w->keep, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);
  assert_int_equal(x->p->n_dlgs, 0);
  /* now the dialog is unknown either way */
  ue_in_dialog(w, UE_FLOW, "BYE", "c3@a", "a1", "s1", route);
  status_is(sent(x, UE_FLOW), 481);
  core_in_dialog(w, "BYE", w->tok_a, "c3@a", "s1", "a1", NULL);
  status_is(sent(x, CORE_FLOW), 403);
  assert_true(logged(x, "dialog not of this UE"));
  /* an ACK without a dialog: dropped, one line, no answer */
  ue_in_dialog(w, UE_FLOW, "ACK", "c3@a", "a1", "s1", route);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_true(logged(x, "ACK on flow"));
  teardown_two(w);
}

/* A re-INVITE from the UE inside the dialog is an INVITE transaction
 * like the first (lib/pcscf/invite.c): 100 Trying, the 491 ACKed here and
 * the UE's ACK of it absorbed. */
static void reinvite_from_ue(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_call(w, "c9@a");
  char route[512];
  route_of(route, sizeof(route), w->tok_a);
  ue_in_dialog(w, UE_FLOW, "INVITE", "c9@a", "a1", "s1", route);
  status_is(sent(x, UE_FLOW), 100);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  strcpy(w->keep, fwd);
  char branch[16];
  const char *br = strstr(w->buf, "branch=z9hG4bKd");
  assert_non_null(br);
  snprintf(branch, sizeof(branch), "%.*s", (int)strcspn(br + 7, "\r"), br + 7);
  feed(x, CORE_FLOW, response_to(w->keep, 491, "Request Pending", NULL));
  status_is(sent(x, UE_FLOW), 491);
  const char *ack = sent(x, CORE_FLOW);
  assert_non_null(ack);
  assert_int_equal(strncmp(ack, "ACK ", 4), 0);
  assert_true(has_line(ack, "Route: " SCSCF_RR));
  /* the UE's ACK of the 491: the re-INVITE's branch, absorbed */
  snprintf(w->buf, sizeof(w->buf),
           "ACK sip:ueb@127.0.0.1:40001;transport=tls SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=%s\r\n"
           "Max-Forwards: 70\r\nRoute: %s\r\n"
           "From: <" IMPU ">;tag=a1\r\nTo: <" IMPU_B ">;tag=s1\r\n"
           "Call-ID: c9@a\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
           branch, route);
  feed(x, UE_FLOW, w->buf);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_true(logged(x, "absorbed"));
  assert_int_equal(x->p->n_dlgs, 1); /* the dialog lives on */
  teardown_two(w);
}

/* BYE from the core side ends it too, on the UE's 2xx. */
static void bye_from_core(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_call(w, "c4@a");
  core_in_dialog(w, "BYE", w->tok_a, "c4@a", "s1", "a1", NULL);
  const char *out = sent(x, UE_FLOW);
  assert_non_null(out);
  strcpy(w->keep, out);
  feed(x, UE_FLOW, response_to(w->keep, 200, "OK", NULL));
  status_is(sent(x, CORE_FLOW), 200);
  assert_int_equal(x->p->n_dlgs, 0);
  teardown_two(w);
}

/* Forged routes, unknown and foreign dialogs. */
static void refusals(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_call(w, "c5@a");
  char route[512];
  /* B presents A's route set (A's token) on its own flow */
  route_of(route, sizeof(route), w->tok_a);
  ue_in_dialog(w, UE2_FLOW, "BYE", "c5@a", "a1", "s1", route);
  status_is(sent(x, UE2_FLOW), 403);
  assert_null(sent(x, CORE_FLOW));
  assert_true(logged(x, "Route names another UE's binding"));
  /* B with its own token but A's dialog */
  route_of(route, sizeof(route), w->tok_b);
  ue_in_dialog(w, UE2_FLOW, "BYE", "c5@a", "a1", "s1", route);
  status_is(sent(x, UE2_FLOW), 403);
  assert_true(logged(x, "dialog of another UE"));
  /* B, a dialog nobody has */
  ue_in_dialog(w, UE2_FLOW, "BYE", "nope@b", "zz", "s1", route);
  status_is(sent(x, UE2_FLOW), 481);
  /* A, its own dialog, but the next hop is no S-CSCF we know */
  char acc[128], core[128];
  rr_acc(acc, sizeof(acc), w->tok_a);
  rr_core(core, sizeof(core), w->tok_a);
  snprintf(route, sizeof(route), "%s, %s, <sip:evil@198.51.100.7;lr>", acc,
           core);
  ue_in_dialog(w, UE_FLOW, "BYE", "c5@a", "a1", "s1", route);
  status_is(sent(x, UE_FLOW), 403);
  assert_true(logged(x, "forged route"));
  /* A, our address but no token of ours */
  snprintf(route, sizeof(route),
           "<sip:0000@" ACC_HOST ";transport=tls;lr>, " SCSCF_RR);
  ue_in_dialog(w, UE_FLOW, "BYE", "c5@a", "a1", "s1", route);
  status_is(sent(x, UE_FLOW), 403);
  /* A, no Route of ours at all */
  ue_in_dialog(w, UE_FLOW, "BYE", "c5@a", "a1", "s1", SCSCF_RR);
  status_is(sent(x, UE_FLOW), 403);
  /* from the core: B's token on A's dialog */
  core_in_dialog(w, "BYE", w->tok_b, "c5@a", "s1", "a1", NULL);
  status_is(sent(x, CORE_FLOW), 403);
  assert_null(sent(x, UE_FLOW));
  assert_null(sent(x, UE2_FLOW));
  /* from the core: A's core entry over B's access entry */
  snprintf(w->buf, sizeof(w->buf),
           "BYE sip:ue@127.0.0.1:40000 SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKmix\r\n"
           "Max-Forwards: 69\r\n"
           "Route: <sip:%s@" CORE_HOST ";transport=tcp;lr>, "
           "<sip:%s@" ACC_HOST ";transport=tls;lr>\r\n"
           "From: <" IMPU_B ">;tag=s1\r\nTo: <" IMPU ">;tag=a1\r\n"
           "Call-ID: c5@a\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
           w->tok_a, w->tok_b);
  feed(x, CORE_FLOW, w->buf);
  status_is(sent(x, CORE_FLOW), 403);
  /* the dialog itself is untouched */
  assert_int_equal(x->p->n_dlgs, 1);
  route_of(route, sizeof(route), w->tok_a);
  ue_in_dialog(w, UE_FLOW, "INFO", "c5@a", "a1", "s1", route);
  assert_non_null(sent(x, CORE_FLOW));
  teardown_two(w);
}

/* One UE cannot fill the table for everyone: its 65th dialog gets 503,
 * while the other UE can still be called. */
static void dialogs_per_ue(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  char cid[32];
  for (int i = 0; i < 64; i++) {
    snprintf(cid, sizeof(cid), "p%d@a", i);
    a_invite(w, cid);
    assert_non_null(sent(x, CORE_FLOW));
  }
  a_invite(w, "p64@a");
  status_is(last_sent(x, UE_FLOW), 503);
  assert_null(sent(x, CORE_FLOW));
  assert_int_equal(x->p->n_dlgs, 64);
  core_invite(w, "INVITE", w->tok_b, "q1@b");
  assert_non_null(sent(x, UE2_FLOW));
  teardown_two(w);
}

/* At most max_dialogs: the next dialog-creating request gets 503 with
 * Retry-After, either way; a 481 frees a slot. */
static void max_dialogs(void **state) {
  (void)state;
  two *w = setup_two(2);
  fx *x = w->x;
  a_invite(w, "m1@a");
  assert_non_null(sent(x, CORE_FLOW));
  a_invite(w, "m2@a");
  assert_non_null(sent(x, CORE_FLOW));
  strcpy(w->keep, sent(x, CORE_FLOW));
  a_invite(w, "m3@a");
  const char *r = last_sent(x, UE_FLOW);
  status_is(r, 503);
  assert_non_null(strstr(r, "Retry-After: "));
  assert_null(sent(x, CORE_FLOW));
  core_invite(w, "INVITE", w->tok_b, "m4@b");
  status_is(last_sent(x, CORE_FLOW), 503);
  assert_null(sent(x, UE2_FLOW));
  /* m2 fails: its record goes, room for one more */
  feed(x, CORE_FLOW, response_to(w->keep, 404, "Not Found", NULL));
  status_is(sent(x, UE_FLOW), 404);
  assert_int_equal(x->p->n_dlgs, 1);
  a_invite(w, "m3@a");
  assert_non_null(sent(x, CORE_FLOW));
  assert_int_equal(x->p->n_dlgs, 2);
  teardown_two(w);
}

/* The binding goes (flow lost): its dialogs with it; the other UE's stay. */
static void binding_gone(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_call(w, "g1@a");
  a_call(w, "g2@a");
  core_invite(w, "INVITE", w->tok_b, "g3@b");
  strcpy(w->keep, sent(x, UE2_FLOW));
  feed(x, UE2_FLOW, response_to(w->keep, 200, "OK", NULL));
  status_is(sent(x, CORE_FLOW), 200);
  assert_int_equal(x->p->n_dlgs, 3);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_int_equal(x->p->n_dlgs, 1);
  /* B's dialog works on (B as UAS: its tag is the To tag s1) */
  char route[512];
  route_of(route, sizeof(route), w->tok_b);
  ue_in_dialog(w, UE2_FLOW, "BYE", "g3@b", "s1", "b1", route);
  assert_non_null(sent(x, CORE_FLOW));
  /* B's flow goes: its dialog too */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE2_FLOW, 0, IMSEC_ERR_CLOSED, x->now,
                           &x->out);
  assert_int_equal(x->p->n_dlgs, 0);
  teardown_two(w);
}

/* Idle dialogs end: early ones after Timer C and a transaction timeout,
 * confirmed ones after 12 hours without a request. */
static void idle_timeout(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_invite(w, "i1@a"); /* never answered: early */
  a_call(w, "i2@a");
  assert_int_equal(x->p->n_dlgs, 2);
  x->now += 180000 + 32000 + 1;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_SWEEP, x->now, &x->out);
  assert_int_equal(x->p->n_dlgs, 1);
  assert_true(logged(x, "idle too long"));
  /* a request in the dialog keeps it (the registration kept up) */
  binding *b = imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI));
  assert_non_null(b);
  b->expires_at = x->now + (imsec_time_ms)48 * 3600 * 1000;
  x->now += (imsec_time_ms)11 * 3600 * 1000;
  core_in_dialog(w, "INFO", w->tok_a, "i2@a", "s1", "a1", NULL);
  assert_non_null(sent(x, UE_FLOW));
  x->now += (imsec_time_ms)11 * 3600 * 1000;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_SWEEP, x->now, &x->out);
  assert_int_equal(x->p->n_dlgs, 1);
  x->now += (imsec_time_ms)2 * 3600 * 1000;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_SWEEP, x->now, &x->out);
  assert_int_equal(x->p->n_dlgs, 0);
  teardown_two(w);
}

/* A subscription dialog from the core ends with the UE's 2xx to a NOTIFY
 * saying terminated (RFC 6665 §4.4.1); a 481 ends any dialog. */
static void subscription_and_481(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  /* A subscribes: SUBSCRIBE out, 200 back, NOTIFYs from the core */
  snprintf(w->buf, sizeof(w->buf),
           "SUBSCRIBE sip:001010000000002@" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKs1\r\n"
           "Max-Forwards: 70\r\n"
           "From: <" IMPU ">;tag=a1\r\nTo: <" IMPU_B ">\r\n"
           "Call-ID: s1@a\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\n"
           "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>\r\n"
           "Content-Length: 0\r\n\r\n");
  feed(x, UE_FLOW, w->buf);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_non_null(strstr(fwd, "Record-Route: <sip:"));
  strcpy(w->keep, fwd);
  feed(x, CORE_FLOW, response_to(w->keep, 200, "OK", NULL));
  assert_int_equal(x->p->n_dlgs, 1);
  core_in_dialog(w, "NOTIFY", w->tok_a, "s1@a", "s1", "a1",
                 "Event: presence\r\nSubscription-State: active\r\n");
  strcpy(w->keep, sent(x, UE_FLOW));
  feed(x, UE_FLOW, response_to(w->keep, 200, "OK", NULL));
  assert_int_equal(x->p->n_dlgs, 1);
  core_in_dialog(
      w, "NOTIFY", w->tok_a, "s1@a", "s1", "a1",
      "Event: presence\r\nSubscription-State: terminated;reason=timeout\r\n");
  strcpy(w->keep, sent(x, UE_FLOW));
  feed(x, UE_FLOW, response_to(w->keep, 200, "OK", NULL));
  status_is(sent(x, CORE_FLOW), 200);
  assert_int_equal(x->p->n_dlgs, 0);
  /* a call whose far end lost the dialog: 481 ends ours */
  a_call(w, "s2@a");
  char route[512];
  route_of(route, sizeof(route), w->tok_a);
  ue_in_dialog(w, UE_FLOW, "INFO", "s2@a", "a1", "s1", route);
  strcpy(w->keep, sent(x, CORE_FLOW));
  feed(x, CORE_FLOW,
       response_to(w->keep, 481, "Call/Transaction Does Not Exist", NULL));
  status_is(sent(x, UE_FLOW), 481);
  assert_int_equal(x->p->n_dlgs, 0);
  teardown_two(w);
}

/* A forked INVITE answered by two branches: the UE ends the extra one
 * with a BYE; the record stays for the other until its own BYE. */
static void forked_call(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_call(w, "f1@a"); /* branch s1 */
  char r2[8192];
  strcpy(r2, response_to(w->keep, 200, "OK", "Record-Route: " SCSCF_RR "\r\n"));
  char *tg = strstr(r2, ";tag=s1");
  assert_non_null(tg);
  tg[6] = '2';
  feed(x, CORE_FLOW, r2); /* the transaction is gone: a stray 2xx */
  char route[512];
  route_of(route, sizeof(route), w->tok_a);
  /* the UE learnt of s2 anyhow (RFC 3261 §13.2.2.4) and ends it */
  ue_in_dialog(w, UE_FLOW, "BYE", "f1@a", "a1", "s2", route);
  strcpy(w->keep, sent(x, CORE_FLOW));
  feed(x, CORE_FLOW, response_to(w->keep, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);
  assert_int_equal(x->p->n_dlgs, 1);
  ue_in_dialog(w, UE_FLOW, "INFO", "f1@a", "a1", "s1", route);
  assert_non_null(sent(x, CORE_FLOW));
  ue_in_dialog(w, UE_FLOW, "BYE", "f1@a", "a1", "s1", route);
  strcpy(w->keep, sent(x, CORE_FLOW));
  feed(x, CORE_FLOW, response_to(w->keep, 200, "OK", NULL));
  assert_int_equal(x->p->n_dlgs, 0);
  teardown_two(w);
}

/* The ACK of a 2xx from the core goes to the UE without a transaction;
 * one for no dialog of the UE is dropped with a line, never answered. A
 * dialog-creating request from the UE needs a From tag. */
static void acks_and_tags(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  core_invite(w, "INVITE", w->tok_a, "k1@b");
  strcpy(w->keep, sent(x, UE_FLOW));
  feed(x, UE_FLOW, response_to(w->keep, 200, "OK", NULL));
  status_is(sent(x, CORE_FLOW), 200);
  size_t txns = imsec_map_len(&x->p->txns);
  core_in_dialog(w, "ACK", w->tok_a, "k1@b", "b1", "s1", NULL);
  const char *out = sent(x, UE_FLOW);
  assert_non_null(out);
  assert_true(strncmp(out, "ACK ", 4) == 0);
  assert_null(strstr(out, "Route:"));
  assert_int_equal(imsec_map_len(&x->p->txns), txns);
  core_in_dialog(w, "ACK", w->tok_a, "k9@b", "b1", "s1", NULL);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_true(logged(x, "ACK on flow"));
  /* the UE's INVITE without a From tag */
  snprintf(w->buf, sizeof(w->buf),
           "INVITE sip:b@" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKnt\r\n"
           "Max-Forwards: 70\r\nFrom: <" IMPU ">\r\nTo: <sip:b@" HOME ">\r\n"
           "Call-ID: k2@a\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  feed(x, UE_FLOW, w->buf);
  status_is(last_sent(x, UE_FLOW), 400);
  assert_null(sent(x, CORE_FLOW));
  assert_int_equal(x->p->n_dlgs, 1);
  teardown_two(w);
}

/* A re-INVITE from the UE is an INVITE transaction like the first one
 * (lib/pcscf/invite.c): 100 Trying at once; a 491 is ACKed here and the
 * UE's ACK of it absorbed; the dialog stays. */
static void reinvite_then_bye(void **state) {
  (void)state;
  two *w = setup_two(0);
  fx *x = w->x;
  a_call(w, "r1@a");
  char route[512], inv[8192], ack[8192];
  route_of(route, sizeof(route), w->tok_a);
  ue_in_dialog(w, UE_FLOW, "INVITE", "r1@a", "a1", "s1", route);
  strcpy(inv, w->buf);
  status_is(sent(x, UE_FLOW), 100);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(has_line(fwd, "Route: " SCSCF_RR));
  strcpy(w->keep, fwd);
  feed(x, CORE_FLOW, response_to(w->keep, 491, "Request Pending", NULL));
  status_is(sent(x, UE_FLOW), 491);
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_true(strncmp(fwd, "ACK ", 4) == 0);
  assert_int_equal(x->p->n_dlgs, 1);
  /* the UE's ACK of the 491: same branch, CSeq method ACK */
  char *sp = strchr(inv, ' ');
  snprintf(ack, sizeof(ack), "ACK%s", sp);
  char *cs = strstr(ack, "CSeq: 2 INVITE");
  assert_non_null(cs);
  memcpy(cs + 8, "ACK\r\n", 5);
  memmove(cs + 13, cs + 16, strlen(cs + 16) + 1);
  feed(x, UE_FLOW, ack);
  assert_null(sent(x, CORE_FLOW));
  assert_true(logged(x, "absorbed"));
  assert_int_equal(x->p->n_dlgs, 1);
  ue_in_dialog(w, UE_FLOW, "BYE", "r1@a", "a1", "s1", route);
  assert_non_null(sent(x, CORE_FLOW));
  teardown_two(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rr_from_ue),
      cmocka_unit_test(rr_toward_ue),
      cmocka_unit_test(in_dialog_both_ways),
      cmocka_unit_test(reinvite_from_ue),
      cmocka_unit_test(bye_from_core),
      cmocka_unit_test(refusals),
      cmocka_unit_test(max_dialogs),
      cmocka_unit_test(dialogs_per_ue),
      cmocka_unit_test(binding_gone),
      cmocka_unit_test(idle_timeout),
      cmocka_unit_test(subscription_and_481),
      cmocka_unit_test(forked_call),
      cmocka_unit_test(acks_and_tags),
      cmocka_unit_test(reinvite_then_bye),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
