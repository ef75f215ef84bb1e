/* lib/pcscf/binding.c: registration bindings named by their Path token
 * (RFC 5626 §5.2, TS 33.203 O.4), moved between flows with
 * pc_binding_attach, and kept without a flow where the mode allows it. */
#include "lib/pcscf/pcscf_int.h"
#include "pcscf_fx.h"

#define FMT_MSG_TO_UE                                                          \
  "MESSAGE sip:ue@127.0.0.1:40000;transport=tls SIP/2.0\r\n"                   \
  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs%d\r\n"                      \
  "Route: <sip:%s@127.0.0.1:5062;transport=tcp;lr;ob>\r\n"                     \
  "Max-Forwards: 69\r\n"                                                       \
  "From: <sip:b@" HOME ">;tag=b\r\nTo: <" IMPU ">\r\n"                         \
  "Call-ID: m%d@b\r\nCSeq: 1 MESSAGE\r\n"                                      \
  "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"

#define FMT_MSG_FROM_UE                                                        \
  "MESSAGE sip:b@" HOME " SIP/2.0\r\n"                                         \
  "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKu%d\r\n"                     \
  "Max-Forwards: 70\r\n"                                                       \
  "From: <" IMPU ">;tag=u\r\nTo: <sip:b@" HOME ">\r\n"                         \
  "Call-ID: u%d@ue\r\nCSeq: 1 MESSAGE\r\n"                                     \
  "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nyo"

static void to_ue(fx *x, int n, const char *tok) {
  char msg[2048];
  snprintf(msg, sizeof(msg), FMT_MSG_TO_UE, n, tok, n);
  feed(x, CORE_FLOW, msg);
}

static void from_ue(fx *x, uint64_t flow, int n) {
  char msg[2048];
  snprintf(msg, sizeof(msg), FMT_MSG_FROM_UE, n, n);
  feed(x, flow, msg);
}

static binding *the_binding(fx *x) {
  return imsec_map_sget(&x->p->bindings, IMSEC_STR_LIT(IMPI));
}

static fx *registered(void) {
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  register_ue(x, UE_FLOW);
  return x;
}

/* The token names the binding, not the connection: after a move the
 * same token reaches the UE on its new flow, and the old flow forgets
 * the registration. */
static void attach_moves_binding(void **state) {
  (void)state;
  fx *x = registered();
  binding *b = the_binding(x);
  assert_non_null(b);
  assert_int_equal(b->flow->id, UE_FLOW);
  to_ue(x, 1, x->token);
  assert_non_null(sent(x, UE_FLOW));
  assert_int_equal(pc_binding_attach(x->p, b, UE2_FLOW), 0);
  assert_int_equal(b->flow->id, UE2_FLOW);
  to_ue(x, 2, x->token);
  assert_null(sent(x, UE_FLOW));
  assert_non_null(sent(x, UE2_FLOW));
  uint64_t fl = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU), &fl), 0);
  assert_int_equal(fl, UE2_FLOW);
  /* requests from the UE: on the new flow only */
  from_ue(x, UE_FLOW, 3);
  status_is(sent(x, UE_FLOW), 403);
  from_ue(x, UE2_FLOW, 4);
  assert_non_null(sent(x, CORE_FLOW));
  /* moving it where it is changes nothing; refusals */
  assert_int_equal(pc_binding_attach(x->p, b, UE2_FLOW), 0);
  assert_int_equal(pc_binding_attach(x->p, b, CORE_FLOW), IMSEC_ERR_STATE);
  assert_int_equal(pc_binding_attach(x->p, b, 999), IMSEC_ERR_NOTFOUND);
  assert_int_equal(pc_binding_attach(x->p, NULL, UE_FLOW), IMSEC_ERR_INVAL);
  assert_int_equal(b->flow->id, UE2_FLOW);
  /* the binding now goes with its new flow, not the old one */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_non_null(the_binding(x));
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE2_FLOW, 0, IMSEC_ERR_CLOSED, x->now,
                           &x->out);
  assert_true(logged(x, "1 binding(s) removed"));
  assert_null(the_binding(x));
  to_ue(x, 5, x->token);
  status_is(sent(x, CORE_FLOW), 430);
  assert_true(logged(x, "binding gone"));
  fx_del(x);
}

/* A binding the mode lets outlive its flow stays until expiry: a request
 * for the UE meanwhile gets 430 (no live flow), one attached to a new
 * flow goes there, and expiry removes it. */
static void binding_outlives_flow(void **state) {
  (void)state;
  fx *x = registered();
  binding *b = the_binding(x);
  b->outlives_flow = 1;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_true(logged(x, "kept until expiry without a flow"));
  assert_ptr_equal(the_binding(x), b);
  assert_null(b->flow);
  uint64_t fl = 1;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU), &fl), 0);
  assert_int_equal(fl, 0);
  to_ue(x, 1, x->token);
  status_is(sent(x, CORE_FLOW), 430);
  assert_true(logged(x, "no live flow"));
  assert_int_equal(up(x, 12, 0, IMSEC_TP_TLS), 0);
  assert_int_equal(pc_binding_attach(x->p, b, 12), 0);
  to_ue(x, 2, x->token);
  assert_non_null(sent(x, 12));
  /* expiry (600 s) removes it, flow or none */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 12, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  assert_non_null(the_binding(x));
  x->now += 601 * 1000;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_SWEEP, x->now, &x->out);
  assert_true(logged(x, "(no live flow) expired; binding removed"));
  assert_null(the_binding(x));
  to_ue(x, 3, x->token);
  status_is(sent(x, CORE_FLOW), 430);
  fx_del(x);
}

/* Re-registration on the same flow keeps the token; on another flow the
 * binding is made anew under a fresh id and the old token fails; ids are
 * never given out twice. */
static void token_per_binding(void **state) {
  (void)state;
  fx *x = registered();
  char tok1[64];
  strcpy(tok1, x->token);
  uint64_t id1 = the_binding(x)->id;
  register_ue(x, UE_FLOW);
  assert_string_equal(x->token, tok1);
  assert_int_equal(the_binding(x)->id, id1);
  register_ue(x, UE2_FLOW);
  assert_string_not_equal(x->token, tok1);
  assert_true(the_binding(x)->id > id1);
  to_ue(x, 1, tok1);
  status_is(sent(x, CORE_FLOW), 430);
  to_ue(x, 2, x->token);
  assert_non_null(sent(x, UE2_FLOW));
  /* a forged MAC on a live id */
  char forged[64];
  strcpy(forged, x->token);
  forged[30] = forged[30] == '0' ? '1' : '0';
  to_ue(x, 3, forged);
  status_is(sent(x, CORE_FLOW), 430);
  assert_true(logged(x, "does not verify"));
  fx_del(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(attach_moves_binding),
      cmocka_unit_test(binding_outlives_flow),
      cmocka_unit_test(token_per_binding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
