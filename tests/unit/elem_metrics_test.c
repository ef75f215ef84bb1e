/*
 * The element operations of include/imsec/elem.h (metrics, list, busy)
 * for the P-CSCF, the S-CSCF and the UE, read through their exported ops
 * on each element's own thread after real traffic in the in-memory world
 * (tests/support/scenario.h, sim backend, virtual clock):
 *
 *   registration   counters and listings after one IMS AKA registration
 *                  (challenged, then registered; trust accepted both ways;
 *                  the registrar's and the P-CSCF's rows), then a
 *                  de-registration;
 *   sync_failure   an ISIM ahead of the HSS: the S-CSCF counts the
 *                  failure by its reason and the UE still registers;
 *   wrong_password SIP Digest with a wrong password: bad_response and a
 *                  rejected REGISTER; ten of them lock the IMPI (a lockout,
 *                  an identity locked) and the next is refused as locked;
 *   rogue_pcscf    the UE refuses a P-CSCF certificate from an operator
 *                  that is no partner: a refused trust decision with its
 *                  reason, nothing registered;
 *   tls_core       a mutual-TLS core: each side's certificate decision
 *                  on the other counted, the peers listed; the UE back
 *                  with its AKA-derived PSK is listed in mode psk;
 *   call_dialogs   a call: in flight while it rings (busy, client
 *                  transactions), a dialog per UE once answered, nothing
 *                  after the BYE;
 *   unsupported    an unknown listing is IMSEC_ERR_UNSUPPORTED.
 */
#include <stdlib.h>
#include <string.h>

#include "imsec/obs.h"
#include "imsec/pcscf.h"
#include "imsec/scscf.h"
#include "imsec/ue.h"
#include "scenario.h"
#include "test_util.h"

#define WAIT_MS 20000
#define PASSWORD "correct horse battery staple"

/* ------------------------------------------------------------ helpers */

typedef struct look {
  const imsec_elem_ops *ops;
  imsec_metrics m;
  imsec_table t;
  const char *what; /* a listing to take, or NULL */
  int list_rv;
  size_t busy;
} look;

static void look_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)out;
  look *l = arg;
  assert_non_null(l->ops->metrics);
  assert_non_null(l->ops->list);
  assert_non_null(l->ops->busy);
  l->ops->metrics(self, now, &l->m);
  if (l->what)
    l->list_rv = l->ops->list(self, l->what, now, &l->t);
  l->busy = l->ops->busy(self);
}

static void look_free(look *l) {
  imsec_metrics_free(&l->m);
  if (l->t.cols)
    imsec_table_free(&l->t);
  memset(l, 0, sizeof(*l));
}

static void look_scscf(sc_world *w, look *l, const char *what) {
  memset(l, 0, sizeof(*l));
  l->ops = &imsec_scscf_ops;
  l->what = what;
  sc_scscf_call(w, look_fn, l);
  assert_int_equal(l->m.err, 0);
}

static void look_pcscf(sc_world *w, look *l, const char *what) {
  memset(l, 0, sizeof(*l));
  l->ops = &imsec_pcscf_ops;
  l->what = what;
  sc_pcscf_call(w, SC_PCSCF_HOME, look_fn, l);
  assert_int_equal(l->m.err, 0);
}

static void look_ue(sc_world *w, sc_ue *u, look *l, const char *what) {
  memset(l, 0, sizeof(*l));
  l->ops = &imsec_ue_ops;
  l->what = what;
  sc_ue_call(w, u, look_fn, l);
  assert_int_equal(l->m.err, 0);
}

/* The value of family `name`'s sample with exactly these rendered labels
 * (`a="x",b="y"`; "" unlabelled); -1 when there is no such sample. */
static double val(const look *l, const char *name, const char *labels) {
  const imsec_metric_family *f = imsec_metrics_find(&l->m, name);
  if (!f)
    return -1;
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->s[i].labels, labels) == 0)
      return f->s[i].value;
  return -1;
}

/* The sum of family `name`'s samples whose labels contain `part`. */
static double sum(const look *l, const char *name, const char *part) {
  const imsec_metric_family *f = imsec_metrics_find(&l->m, name);
  double v = 0;
  for (size_t i = 0; f && i < f->n; i++)
    if (strstr(f->s[i].labels, part))
      v += f->s[i].value;
  return v;
}

static long col(const imsec_table *t, const char *name) {
  for (size_t i = 0; i < t->ncols; i++)
    if (strcmp(t->cols[i], name) == 0)
      return (long)i;
  fail_msg("no column %s", name);
  return -1;
}

static const char *cell(const imsec_table *t, size_t row, const char *name) {
  return t->cells[row * t->ncols + (size_t)col(t, name)];
}

/* The row whose column `name` is `v`, or -1. */
static long row_of(const imsec_table *t, const char *name, const char *v) {
  for (size_t r = 0; r < t->nrows; r++)
    if (strcmp(cell(t, r, name), v) == 0)
      return (long)r;
  return -1;
}

static int ue_state_is(sc_world *w, void *arg) {
  const void *const *a = arg;
  return sc_ue_status(w, (sc_ue *)a[0]).state == *(const imsec_ue_state *)a[1];
}

/* ------------------------------------------------------------ tests */

static void registration(void **state) {
  (void)state;
  sc_world *w = sc_world_new(SC_SIM);
  sc_ue *u = sc_ue_add(w, NULL);
  assert_int_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REGISTERED);
  const char *impi = sc_ue_impi(u);
  look l;

  /* S-CSCF: one challenge (IMS AKA), then registered. */
  look_scscf(w, &l, "registrations");
  assert_true(val(&l, "imsec_registrations_active", "") == 1);
  assert_true(val(&l, "imsec_bindings_active", "") == 1);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"challenged\"") == 1);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"registered\"") == 1);
  assert_true(val(&l, "imsec_register_outcomes_total", "outcome=\"failed\"") ==
              0);
  assert_true(val(&l, "imsec_auth_challenges_total", "scheme=\"aka\"") == 1);
  assert_true(val(&l, "imsec_auth_challenges_total", "scheme=\"digest\"") == 0);
  assert_true(val(&l, "imsec_auth_failures_total", "reason=\"bad_response\"") ==
              0);
  assert_true(val(&l, "imsec_lockouts_total", "") == 0);
  assert_true(val(&l, "imsec_identities_locked", "") == 0);
  /* It judged its P-CSCF (a core peer) and let it in. */
  assert_true(sum(&l, "imsec_trust_decisions_total",
                  "peer=\"core\",result=\"accepted\"") >= 1);
  assert_true(sum(&l, "imsec_trust_decisions_total", "result=\"refused\"") ==
              0);
  assert_true(val(&l, "imsec_transactions_active", "kind=\"server\"") >= 0);
  assert_int_equal(l.list_rv, 0);
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "impi"), impi);
  assert_non_null(strstr(cell(&l.t, 0, "impu"), sc_ue_impu(u)));
  assert_string_equal(cell(&l.t, 0, "bindings"), "1");
  assert_string_equal(cell(&l.t, 0, "scheme"), "aka");
  assert_true(atoi(cell(&l.t, 0, "expires_s")) > 0);
  /* The Path names the P-CSCF (its flow token). */
  assert_non_null(strstr(cell(&l.t, 0, "path"), "sip:"));
  assert_int_equal(l.busy, 0); /* nothing in flight once settled */
  look_free(&l);

  look_scscf(w, &l, "bindings");
  assert_int_equal(l.list_rv, 0);
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "impi"), impi);
  assert_true(atoi(cell(&l.t, 0, "expires_s")) > 0);
  look_free(&l);

  look_scscf(w, &l, "peers");
  assert_int_equal(l.list_rv, 0);
  assert_true(l.t.nrows >= 1);
  assert_true(row_of(&l.t, "decision", "trusted") >= 0);
  look_free(&l);

  /* P-CSCF: the 401 and the 200 relayed; one registration bound. */
  look_pcscf(w, &l, "registrations");
  assert_true(val(&l, "imsec_registrations_active", "") == 1);
  assert_true(val(&l, "imsec_bindings_active", "") == 1);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"challenged\"") == 1);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"registered\"") == 1);
  assert_true(val(&l, "imsec_dialogs_active", "") == 0);
  assert_true(sum(&l, "imsec_route_member_up", "domain=") >= 1);
  assert_true(sum(&l, "imsec_route_member_up", "domain=\"" SC_HOME "\"") >= 1);
  assert_int_equal(l.list_rv, 0);
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "impi"), impi);
  assert_non_null(strstr(cell(&l.t, 0, "impu"), sc_ue_impu(u)));
  assert_string_not_equal(cell(&l.t, 0, "flow"), "-");
  assert_string_equal(cell(&l.t, 0, "mode"), "server_cert");
  assert_true(atoi(cell(&l.t, 0, "expires_s")) > 0);
  assert_non_null(strstr(cell(&l.t, 0, "contact"), "sip:"));
  assert_int_equal(l.busy, 0);
  look_free(&l);

  look_pcscf(w, &l, "bindings");
  assert_int_equal(l.list_rv, 0);
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "impi"), impi);
  assert_string_not_equal(cell(&l.t, 0, "peer"), "-");
  look_free(&l);

  look_pcscf(w, &l, "peers");
  assert_int_equal(l.list_rv, 0);
  assert_true(l.t.nrows >= 1);
  long r = row_of(&l.t, "domain", SC_HOME);
  assert_true(r >= 0);
  assert_string_equal(cell(&l.t, (size_t)r, "state"), "alive");
  look_free(&l);

  look_pcscf(w, &l, "dialogs");
  assert_int_equal(l.list_rv, 0);
  assert_int_equal(l.t.nrows, 0);
  assert_int_equal(l.t.ncols, 7);
  look_free(&l);

  /* UE: its own view, and its trust decision on the P-CSCF. */
  look_ue(w, u, &l, "registrations");
  assert_true(val(&l, "imsec_registrations_active", "") == 1);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"challenged\"") == 1);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"registered\"") == 1);
  assert_true(val(&l, "imsec_trust_decisions_total",
                  "peer=\"pcscf\",result=\"accepted\",reason=\"home\"") == 1);
  assert_int_equal(l.list_rv, 0);
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "impi"), impi);
  assert_string_equal(cell(&l.t, 0, "state"), "REGISTERED");
  assert_int_equal(l.busy, 0);
  look_free(&l);

  /* De-registration: counted as such everywhere, nothing left. */
  sc_ue_deregister(w, u);
  imsec_ue_state idle = IMSEC_UE_IDLE;
  const void *arg[] = {u, &idle};
  assert_true(sc_run_until(w, ue_state_is, arg, WAIT_MS));
  look_scscf(w, &l, "registrations");
  assert_true(val(&l, "imsec_registrations_active", "") == 0);
  assert_true(val(&l, "imsec_register_outcomes_total",
                  "outcome=\"deregistered\"") == 1);
  assert_int_equal(l.t.nrows, 0);
  look_free(&l);
  look_pcscf(w, &l, "registrations");
  assert_true(val(&l, "imsec_registrations_active", "") == 0);
  assert_true(val(&l, "imsec_register_outcomes_total",
                  "outcome=\"deregistered\"") == 1);
  assert_int_equal(l.t.nrows, 0);
  look_free(&l);
  look_ue(w, u, &l, NULL);
  assert_true(val(&l, "imsec_register_outcomes_total",
                  "outcome=\"deregistered\"") == 1);
  assert_true(val(&l, "imsec_registrations_active", "") == 0);
  look_free(&l);
  sc_world_del(w);
}

static void sync_failure(void **state) {
  (void)state;
  sc_world *w = sc_world_new(SC_SIM);
  sc_ue_opts o = {.sqn_ahead = 1};
  sc_ue *u = sc_ue_add(w, &o);
  assert_int_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REGISTERED);
  look l;
  look_scscf(w, &l, NULL);
  assert_true(val(&l, "imsec_auth_failures_total", "reason=\"sync_failure\"") ==
              1);
  /* Two challenges: the first, refused with AUTS; the fresh one. */
  assert_true(val(&l, "imsec_auth_challenges_total", "scheme=\"aka\"") == 2);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"registered\"") == 1);
  assert_true(val(&l, "imsec_lockouts_total", "") == 0);
  look_free(&l);
  sc_world_del(w);
}

static void start_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)arg;
  assert_int_equal(imsec_ue_start(self, now, out), 0);
}

static int ue_settled(sc_world *w, void *arg) {
  imsec_ue_state s = sc_ue_status(w, arg).state;
  return s == IMSEC_UE_REGISTERED || s == IMSEC_UE_REFUSED ||
         s == IMSEC_UE_FAILED;
}

static void wrong_password(void **state) {
  (void)state;
  sc_world *w = sc_world_new(SC_SIM);
  sc_ue_opts o = {.password = PASSWORD, .password_wrong = 1};
  sc_ue *u = sc_ue_add(w, &o);
  assert_int_not_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REGISTERED);
  look l;
  look_scscf(w, &l, NULL);
  assert_true(val(&l, "imsec_auth_challenges_total", "scheme=\"digest\"") == 1);
  assert_true(val(&l, "imsec_auth_failures_total", "reason=\"bad_response\"") ==
              1);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"rejected\"") == 1);
  assert_true(val(&l, "imsec_registrations_active", "") == 0);
  assert_true(val(&l, "imsec_lockouts_total", "") == 0);
  look_free(&l);
  look_pcscf(w, &l, NULL);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"rejected\"") == 1);
  assert_true(val(&l, "imsec_registrations_active", "") == 0);
  look_free(&l);
  look_ue(w, u, &l, NULL);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"rejected\"") == 1);
  look_free(&l);

  /* The S-CSCF's default: ten failed responses for an IMPI from one
   * source lock it for that source (docs/LIMITS.md). */
  for (int i = 1; i < 10; i++) {
    sc_ue_call(w, u, start_fn, NULL);
    sc_run_for(w, 10);
    assert_true(sc_run_until(w, ue_settled, u, WAIT_MS));
  }
  look_scscf(w, &l, NULL);
  assert_true(val(&l, "imsec_auth_failures_total", "reason=\"bad_response\"") ==
              10);
  assert_true(val(&l, "imsec_lockouts_total", "") == 1);
  assert_true(val(&l, "imsec_identities_locked", "") == 1);
  assert_true(val(&l, "imsec_auth_failures_total", "reason=\"locked\"") == 0);
  look_free(&l);
  /* Locked: the next REGISTER is refused before any challenge. */
  sc_ue_call(w, u, start_fn, NULL);
  sc_run_for(w, 10);
  assert_true(sc_run_until(w, ue_settled, u, WAIT_MS));
  look_scscf(w, &l, NULL);
  assert_true(val(&l, "imsec_auth_failures_total", "reason=\"locked\"") == 1);
  assert_true(val(&l, "imsec_auth_challenges_total", "scheme=\"digest\"") ==
              10);
  assert_true(
      val(&l, "imsec_register_outcomes_total", "outcome=\"rejected\"") == 11);
  assert_true(val(&l, "imsec_lockouts_total", "") == 1);
  look_free(&l);
  sc_world_del(w);
}

static void rogue_pcscf(void **state) {
  (void)state;
  sc_world *w = sc_world_new(SC_SIM);
  sc_ue_opts o = {.via = SC_PCSCF_ROGUE};
  sc_ue *u = sc_ue_add(w, &o);
  assert_int_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REFUSED);
  look l;
  look_ue(w, u, &l, "registrations");
  assert_true(val(&l, "imsec_trust_decisions_total",
                  "peer=\"pcscf\",result=\"refused\","
                  "reason=\"not-a-roaming-partner\"") == 1);
  assert_true(sum(&l, "imsec_trust_decisions_total", "result=\"accepted\"") ==
              0);
  assert_true(sum(&l, "imsec_register_outcomes_total", "outcome=") == 0);
  assert_true(val(&l, "imsec_registrations_active", "") == 0);
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "state"), "REFUSED");
  assert_string_equal(cell(&l.t, 0, "expires_s"), "0");
  look_free(&l);
  look_scscf(w, &l, NULL);
  assert_true(sum(&l, "imsec_register_outcomes_total", "outcome=") == 0);
  look_free(&l);
  sc_world_del(w);
}

typedef struct moved_arg {
  sc_ue *u;
  uint64_t from;
} moved_arg;

static int binding_moved(sc_world *w, void *arg) {
  moved_arg *a = arg;
  uint64_t f = sc_pcscf_binding_flow(w, SC_PCSCF_HOME, sc_ue_impu(a->u));
  return f != 0 && f != a->from;
}

/* A mutual-TLS core (the world of mode M3 AKA-derived): the P-CSCF judges
 * the S-CSCF's certificate when it connects, the S-CSCF the P-CSCF's. */
static void tls_core(void **state) {
  (void)state;
  sc_world *w = sc_world_new_mode(SC_SIM, SC_M3_AKA);
  sc_ue *u = sc_ue_add(w, NULL);
  assert_int_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REGISTERED);
  look l;
  look_pcscf(w, &l, "peers");
  assert_true(val(&l, "imsec_trust_decisions_total",
                  "peer=\"core\",result=\"accepted\","
                  "reason=\"certificate\"") >= 1);
  assert_true(sum(&l, "imsec_trust_decisions_total", "result=\"refused\"") ==
              0);
  long r = row_of(&l.t, "domain", SC_HOME);
  assert_true(r >= 0);
  assert_string_not_equal(cell(&l.t, (size_t)r, "flow"), "-");
  look_free(&l);
  look_scscf(w, &l, "peers");
  assert_true(sum(&l, "imsec_trust_decisions_total",
                  "peer=\"core\",result=\"accepted\"") >= 1);
  assert_true(row_of(&l.t, "decision", "trusted") >= 0);
  look_free(&l);
  /* Registered over the P-CSCF's certificate; back with the PSK the AKA
   * run derived, the binding's flow is a PSK one. */
  look_pcscf(w, &l, "registrations");
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "mode"), "server_cert");
  look_free(&l);
  uint64_t before = sc_pcscf_binding_flow(w, SC_PCSCF_HOME, sc_ue_impu(u));
  assert_true(before != 0);
  sc_ue_reconnect(w, u);
  moved_arg ma = {u, before};
  assert_true(sc_run_until(w, binding_moved, &ma, WAIT_MS));
  look_pcscf(w, &l, "registrations");
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "mode"), "psk");
  look_free(&l);
  sc_world_del(w);
}

/* A call from A to B (both behind the home P-CSCF), B answering after a
 * while: ringing, the INVITE is in flight at both proxies (what a drain
 * waits for); answered, each UE's binding has its dialog at the P-CSCF;
 * hung up, nothing is left. */
static void call_dialogs(void **state) {
  (void)state;
  sc_world *w = sc_world_new(SC_SIM);
  sc_ue *a = sc_ue_add(w, NULL);
  sc_ue_opts ob = {.answer_delay_ms = 2000};
  sc_ue *b = sc_ue_add(w, &ob);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, b, WAIT_MS), IMSEC_UE_REGISTERED);
  int h = sc_call_start(w, a, sc_ue_impu(b));
  assert_true(sc_call_wait(w, a, h, IMSEC_UE_CALL_RINGING, WAIT_MS));
  look l;
  look_pcscf(w, &l, "dialogs");
  assert_true(l.busy >= 1);
  assert_true(val(&l, "imsec_transactions_active", "kind=\"client\"") >= 1);
  assert_true(l.t.nrows >= 1);
  assert_string_equal(cell(&l.t, 0, "state"), "early");
  look_free(&l);
  look_scscf(w, &l, NULL);
  assert_true(l.busy >= 2); /* the request and its branch */
  assert_true(val(&l, "imsec_transactions_active", "kind=\"server\"") >= 1);
  assert_true(val(&l, "imsec_transactions_active", "kind=\"client\"") >= 1);
  look_free(&l);
  assert_true(sc_call_wait(w, a, h, IMSEC_UE_CALL_CONFIRMED, WAIT_MS));
  look_pcscf(w, &l, "dialogs");
  assert_true(val(&l, "imsec_dialogs_active", "") == 2);
  assert_int_equal(l.t.nrows, 2);
  assert_true(row_of(&l.t, "impi", sc_ue_impi(a)) >= 0);
  assert_true(row_of(&l.t, "impi", sc_ue_impi(b)) >= 0);
  for (size_t r = 0; r < 2; r++) {
    assert_string_equal(cell(&l.t, r, "state"), "confirmed");
    assert_string_equal(cell(&l.t, r, "kind"), "invite");
    assert_true(atoi(cell(&l.t, r, "idle_out_s")) > 0);
  }
  look_free(&l);
  assert_int_equal(sc_call_hangup(w, a, h), 0);
  assert_true(sc_call_wait(w, a, h, IMSEC_UE_CALL_ENDED, WAIT_MS));
  sc_run_for(w, 100);
  look_pcscf(w, &l, "dialogs");
  assert_true(val(&l, "imsec_dialogs_active", "") == 0);
  assert_int_equal(l.t.nrows, 0);
  assert_int_equal(l.busy, 0);
  look_free(&l);
  look_scscf(w, &l, NULL);
  assert_int_equal(l.busy, 0);
  look_free(&l);
  sc_world_del(w);
}

static void unsupported(void **state) {
  (void)state;
  sc_world *w = sc_world_new(SC_SIM);
  look l;
  look_scscf(w, &l, "dialogs");
  assert_int_equal(l.list_rv, IMSEC_ERR_UNSUPPORTED);
  look_free(&l);
  look_pcscf(w, &l, "nonsense");
  assert_int_equal(l.list_rv, IMSEC_ERR_UNSUPPORTED);
  look_free(&l);
  sc_world_del(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(registration),   cmocka_unit_test(sync_failure),
      cmocka_unit_test(wrong_password), cmocka_unit_test(rogue_pcscf),
      cmocka_unit_test(tls_core),       cmocka_unit_test(call_dialogs),
      cmocka_unit_test(unsupported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
