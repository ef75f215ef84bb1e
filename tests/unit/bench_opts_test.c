/* apps/bench/opts.c: every option of `imsec bench run` and `hold`, its
 * default and its errors (one line naming the option). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "opts.h"
#include "test_util.h"

#define MAXARGS 64

/* Parse a NULL-terminated argument list after the verb. */
static int parse_v(int hold, bench_opts *o, char *err, size_t cap, va_list ap) {
  char *argv[MAXARGS];
  int argc = 0;
  argv[argc++] = (char *)(hold ? "hold" : "run");
  for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
    argv[argc++] = (char *)a;
  return bench_opts_parse(argc, argv, hold, o, err, cap);
}

static bench_opts opts;
static char err[512];

static int run_args(int hold, ...) {
  va_list ap;
  va_start(ap, hold);
  memset(err, 0, sizeof err);
  int rc = parse_v(hold, &opts, err, sizeof err, ap);
  va_end(ap);
  return rc;
}

/* The minimal run with extra arguments appended: expects success. */
#define OK(...)                                                                \
  do {                                                                         \
    int rc_ = run_args(0, "--target", "127.0.0.1:5061", "--creds", "c",        \
                       "--ca", "ca.pem", __VA_ARGS__, NULL);                   \
    if (rc_ != 0)                                                              \
      fprintf(stderr, "unexpected error: %s\n", err);                          \
    assert_int_equal(rc_, 0);                                                  \
  } while (0)

/* The minimal run plus extras: expects an error containing `want`, one
 * line. */
#define BAD(want, ...)                                                         \
  do {                                                                         \
    int rc_ = run_args(0, "--target", "127.0.0.1:5061", "--creds", "c",        \
                       "--ca", "ca.pem", __VA_ARGS__, NULL);                   \
    assert_int_equal(rc_, -1);                                                 \
    expect_err(want);                                                          \
  } while (0)

static void expect_err(const char *want) {
  if (!strstr(err, want))
    fprintf(stderr, "error '%s' lacks '%s'\n", err, want);
  assert_non_null(strstr(err, want));
  assert_null(strchr(err, '\n'));
}

static void defaults(void **state) {
  (void)state;
  OK(NULL);
  assert_int_equal(opts.hold, 0);
  assert_int_equal(opts.target.tp, IMSEC_TP_TLS);
  assert_string_equal(opts.target.host, "127.0.0.1");
  assert_int_equal(opts.target.port, 5061);
  assert_string_equal(opts.creds, "c");
  assert_string_equal(opts.ca, "ca.pem");
  assert_string_equal(opts.server_name, "");
  assert_string_equal(opts.trust_domain, "");
  assert_int_equal(opts.mode, BENCH_MODE_M1);
  assert_int_equal(opts.conn, BENCH_CONN_NEW);
  assert_int_equal(opts.weight[BENCH_SC_REGISTER], 1);
  assert_int_equal(opts.weight[BENCH_SC_MESSAGE], 0);
  assert_int_equal(opts.weight[BENCH_SC_CALL], 0);
  assert_int_equal(opts.expires, 600);
  assert_int_equal(opts.concurrency, 10);
  assert_true(opts.rate == 0);
  assert_int_equal(opts.count, 0);
  assert_true(opts.duration_s == 10);
  assert_int_equal(opts.timeout_ms, 10000);
  assert_int_equal(opts.ues, 0);
  assert_int_equal(opts.procs, 1);
  assert_int_equal(opts.n_sources, 0);
  assert_int_equal(opts.n_server_pids, 0);
  assert_string_equal(opts.json, "");
  assert_int_equal(opts.status, -1);
  assert_int_equal(opts.quiet, 0);
}

static void every_option(void **state) {
  (void)state;
  OK("--server-name", "pcscf.example.net", "--trust-domain", "example.net",
     "--mode", "m2a", "--register", "resumed", "--scenario", "message", "-r",
     "250.5", "--ramp", "3", "-n", "1000", "-t", "2.5", "--timeout", "1500",
     "--ues", "50", "--procs", "4", "--sources", "127.0.0.2-127.0.0.4,::1",
     "--sources", "127.0.1.1", "--expires", "60", "--server-pid", "10,20",
     "--server-pid", "30", "--json", "r.json", "--csv", "r.csv", "--plot",
     "r.svg", "--no-status", "-q");
  assert_string_equal(opts.server_name, "pcscf.example.net");
  assert_string_equal(opts.trust_domain, "example.net");
  assert_int_equal(opts.mode, BENCH_MODE_M2A);
  assert_int_equal(opts.conn, BENCH_CONN_RESUMED);
  assert_int_equal(opts.weight[BENCH_SC_REGISTER], 0);
  assert_int_equal(opts.weight[BENCH_SC_MESSAGE], 1);
  assert_true(opts.rate == 250.5);
  assert_true(opts.ramp_s == 3);
  assert_int_equal(opts.concurrency, 0);
  assert_int_equal(opts.count, 1000);
  assert_true(opts.duration_s == 2.5);
  assert_int_equal(opts.timeout_ms, 1500);
  assert_int_equal(opts.ues, 50);
  assert_int_equal(opts.procs, 4);
  assert_int_equal(opts.n_sources, 5);
  assert_string_equal(opts.sources[0].host, "127.0.0.2");
  assert_string_equal(opts.sources[2].host, "127.0.0.4");
  assert_string_equal(opts.sources[3].host, "::1");
  assert_string_equal(opts.sources[4].host, "127.0.1.1");
  assert_int_equal(opts.sources[4].tp, IMSEC_TP_TLS);
  assert_int_equal(opts.expires, 60);
  assert_int_equal(opts.n_server_pids, 3);
  assert_int_equal(opts.server_pids[0], 10);
  assert_int_equal(opts.server_pids[2], 30);
  assert_string_equal(opts.json, "r.json");
  assert_string_equal(opts.csv, "r.csv");
  assert_string_equal(opts.plot, "r.svg");
  assert_int_equal(opts.status, 0);
  assert_int_equal(opts.quiet, 1);

  /* Long spellings and --name=value. */
  OK("--concurrency=7", "--count", "5", "--duration=3", "--status");
  assert_int_equal(opts.concurrency, 7);
  assert_int_equal(opts.count, 5);
  assert_true(opts.duration_s == 3);
  assert_int_equal(opts.status, 1);
  OK("-c", "1000000", "--quiet");
  assert_int_equal(opts.concurrency, 1000000);
  assert_int_equal(opts.quiet, 1);
}

static void modes_and_targets(void **state) {
  (void)state;
  const char *names[] = {"m1", "m2a", "m3", "dtls", "tcp"};
  for (int m = 0; m < BENCH_MODE_N; m++)
    assert_string_equal(bench_mode_name((bench_mode)m), names[m]);
  assert_string_equal(bench_mode_name(BENCH_MODE_N), "?");
  assert_string_equal(bench_conn_name(BENCH_CONN_OPEN), "open");
  assert_string_equal(bench_scenario_name(BENCH_SC_CALL), "call");

  OK("--mode", "m3", "--register", "open");
  assert_int_equal(opts.mode, BENCH_MODE_M3);
  assert_int_equal(opts.conn, BENCH_CONN_OPEN);
  assert_int_equal(opts.target.tp, IMSEC_TP_TLS);
  /* The target's prefix picks DTLS or TCP when --mode is not given. */
  assert_int_equal(run_args(0, "--target", "dtls:127.0.0.1:5062", "--creds",
                            "c", "--ca", "x", "--sources", "127.0.0.9", NULL),
                   0);
  assert_int_equal(opts.mode, BENCH_MODE_DTLS);
  assert_int_equal(opts.target.tp, IMSEC_TP_DTLS);
  assert_int_equal(opts.sources[0].tp, IMSEC_TP_DTLS);
  assert_int_equal(run_args(0, "--target", "tcp:[::1]:5060", "--creds", "c",
                            "--register", "open", NULL),
                   0);
  assert_int_equal(opts.mode, BENCH_MODE_TCP);
  assert_int_equal(opts.target.tp, IMSEC_TP_TCP);
  assert_string_equal(opts.target.host, "::1");
  /* --mode tcp with a bare HOST:PORT: TCP. */
  assert_int_equal(run_args(0, "--target", "h.example:5060", "--creds", "c",
                            "--mode", "tcp", NULL),
                   0);
  assert_int_equal(opts.target.tp, IMSEC_TP_TCP);
  assert_string_equal(opts.target.host, "h.example");
  /* --mode dtls with a bare address: DTLS. */
  OK("--mode", "dtls");
  assert_int_equal(opts.target.tp, IMSEC_TP_DTLS);

  assert_int_equal(run_args(0, "--target", "tcp:127.0.0.1:1", "--creds", "c",
                            "--mode", "m1", "--ca", "x", NULL),
                   -1);
  expect_err("mode m1 wants tls:HOST:PORT");
  assert_int_equal(run_args(0, "--target", "tls:127.0.0.1:1", "--creds", "c",
                            "--mode", "dtls", "--ca", "x", NULL),
                   -1);
  expect_err("mode dtls wants dtls:HOST:PORT");
  assert_int_equal(run_args(0, "--target", "tcp:127.0.0.1:1", "--creds", "c",
                            "--ca", "x", NULL),
                   -1);
  expect_err("--ca: mode tcp has no TLS");
  assert_int_equal(run_args(0, "--target", "tcp:127.0.0.1:1", "--creds", "c",
                            "--register", "resumed", NULL),
                   -1);
  expect_err("--register resumed: mode tcp");
  BAD("--register resumed: not over DTLS", "--mode", "dtls", "--register",
      "resumed");
}

static void scenarios(void **state) {
  (void)state;
  OK("--scenario", "register=5,message=3,call=2");
  assert_int_equal(opts.weight[BENCH_SC_REGISTER], 5);
  assert_int_equal(opts.weight[BENCH_SC_MESSAGE], 3);
  assert_int_equal(opts.weight[BENCH_SC_CALL], 2);
  OK("--scenario", "call=1,register=0");
  assert_int_equal(opts.weight[BENCH_SC_REGISTER], 0);
  assert_int_equal(opts.weight[BENCH_SC_CALL], 1);
  OK("--scenario", "call");
  assert_int_equal(opts.weight[BENCH_SC_REGISTER], 0);
  assert_int_equal(opts.weight[BENCH_SC_CALL], 1);

  BAD("--scenario: no scenario 'sms'", "--scenario", "sms=1");
  BAD("--scenario: want register|message|call", "--scenario", "");
  BAD("--scenario: 'register' is not NAME=WEIGHT", "--scenario",
      "register,call=1");
  BAD("--scenario: 'call' given twice", "--scenario", "call=1,call=2");
  BAD("--scenario: every weight is 0", "--scenario", "call=0");
  BAD("--scenario: want 0..1000000, not 'x'", "--scenario", "call=x");
  BAD("--scenario: want 0..1000000, not '-1'", "--scenario", "call=-1");
  BAD("--scenario: want", "--scenario", "call=1,");
  BAD("--ues: message and call need at least 2 UEs", "--scenario", "message",
      "--ues", "1");
}

static void numbers(void **state) {
  (void)state;
  BAD("-c: want 1..1000000, not '0'", "-c", "0");
  BAD("-c: want 1..1000000, not '1000001'", "-c", "1000001");
  BAD("-c: want 1..1000000, not '5x'", "-c", "5x");
  BAD("-c: want 1..1000000, not ' 5'", "-c", " 5");
  BAD("-r: want a number above 0", "-r", "0");
  BAD("-r: want a number above 0", "-r", "-3");
  BAD("-r: want a number above 0", "-r", "nan");
  BAD("-r: want a number above 0", "-r", "inf");
  BAD("-r: want a number above 0", "-r", "20000000");
  BAD("--ramp: want a number above 0", "-r", "5", "--ramp", "x");
  BAD("-n: want 1..", "-n", "0");
  BAD("-n: want 1..", "-n", "99999999999999999999999");
  BAD("-t: want a number above 0", "-t", "0");
  BAD("-t: want a number above 0", "-t", "1e9");
  BAD("--timeout: want 1..3600000, not '0'", "--timeout", "0");
  BAD("--ues: want 1..10000000", "--ues", "0");
  BAD("--procs: want 1..64, not '65'", "--procs", "65");
  BAD("--procs: want 1..64, not '0'", "--procs", "0");
  BAD("--expires: want 1..2147483647, not '0'", "--expires", "0");
  BAD("--procs: 4 processes for 2 UEs", "--procs", "4", "--ues", "2");
  BAD("-c and -r: closed loop or open loop, not both", "-c", "5", "-r", "5");
  BAD("--ramp: only with -r", "--ramp", "5");
  /* -n without -t: the count bounds the run, within the hour. */
  OK("-n", "400");
  assert_int_equal(opts.count, 400);
  assert_true(opts.duration_s == 3600);
  OK("-n", "400", "-t", "5");
  assert_true(opts.duration_s == 5);
}

static void lists(void **state) {
  (void)state;
  OK("--sources", "127.0.0.1-127.0.1.0");
  assert_int_equal(opts.n_sources, 256);
  assert_string_equal(opts.sources[255].host, "127.0.1.0");
  BAD("--sources: more than 256 addresses", "--sources", "127.0.0.1-127.0.1.1");
  BAD("--sources: more than 256 addresses", "--sources", "127.0.0.1-127.0.1.0",
      "--sources", "127.0.0.1");
  BAD("--sources: the range 127.0.0.9-127.0.0.2 runs backwards", "--sources",
      "127.0.0.9-127.0.0.2");
  BAD("--sources: '127.0.0.1-::2' is not an IPv4 range", "--sources",
      "127.0.0.1-::2");
  BAD("--sources: 'host.example' is not an IP address", "--sources",
      "host.example");
  BAD("--sources: want IP[-IP][,..]", "--sources", "127.0.0.1,,127.0.0.2");
  BAD("--server-pid: want 1..2147483647, not '0'", "--server-pid", "0");
  BAD("--server-pid: want 1..2147483647, not 'x'", "--server-pid", "1,x");
  BAD("--server-pid: want PID[,PID..]", "--server-pid", "");
  BAD("--server-pid: more than 8 processes", "--server-pid",
      "1,2,3,4,5,6,7,8,9");
}

static void usage_errors(void **state) {
  (void)state;
  assert_int_equal(run_args(0, NULL), -1);
  expect_err("--target HOST:PORT is required");
  assert_int_equal(run_args(0, "--target", "127.0.0.1:5061", NULL), -1);
  expect_err("--creds FILE is required");
  assert_int_equal(
      run_args(0, "--target", "127.0.0.1:5061", "--creds", "c", NULL), -1);
  expect_err("--ca ROOT.pem is required (mode m1)");
  assert_int_equal(run_args(0, "--target", "nohost", NULL), -1);
  expect_err("--target: want [tls:|dtls:|tcp:]HOST:PORT, not 'nohost'");
  assert_int_equal(run_args(0, "--target", "udp:1.2.3.4:5", NULL), -1);
  expect_err("--target: want");
  assert_int_equal(run_args(0, "--target", "1.2.3.4:0", NULL), -1);
  expect_err("--target: want");
  BAD("unknown option '--colour'", "--colour");
  BAD("unknown option '-z'", "-z");
  BAD("unexpected argument 'extra'", "extra");
  BAD("--json: missing its value", "--json");
  BAD("--json: want a value", "--json", "");
  BAD("--mode: want m1, m2a, m3, dtls or tcp, not 'm2b'", "--mode", "m2b");
  BAD("--register: want new, resumed or open, not 'old'", "--register", "old");
  BAD("--ca given twice", "--ca", "other.pem");
  BAD("-c given twice", "-c", "1", "--concurrency", "2");
  BAD("--status and --no-status together", "--status", "--no-status");
  BAD("-q given twice", "-q", "--quiet");
  BAD("unknown option '--status=1'", "--status=1");
  /* Short options take no =value. */
  BAD("unknown option '-c=5'", "-c=5");
  char longname[400];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  BAD("--server-name: longer than 255 octets", "--server-name", longname);
}

static void hold(void **state) {
  (void)state;
  assert_int_equal(run_args(1, "--target", "127.0.0.1:5061", "--creds", "c",
                            "--ca", "x", "-n", "500", "-t", "30", "--procs",
                            "2", NULL),
                   0);
  assert_int_equal(opts.hold, 1);
  /* -n is the UEs held, not a count of operations. */
  assert_int_equal(opts.ues, 500);
  assert_int_equal(opts.count, 0);
  assert_true(opts.duration_s == 30);
  assert_int_equal(opts.procs, 2);
  assert_int_equal(run_args(1, "--target", "127.0.0.1:5061", "--creds", "c",
                            "--ca", "x", NULL),
                   -1);
  expect_err("-n N (the UEs to hold) is required");
  assert_int_equal(run_args(1, "--target", "127.0.0.1:5061", "--creds", "c",
                            "--ca", "x", "-n", "5", "--ues", "5", NULL),
                   -1);
  expect_err("--ues: hold takes the UEs from -n");
  assert_int_equal(run_args(1, "--target", "127.0.0.1:5061", "--creds", "c",
                            "--ca", "x", "-n", "5", "--scenario", "call", NULL),
                   -1);
  expect_err("--scenario: hold only registers");
  assert_int_equal(run_args(1, "--target", "127.0.0.1:5061", "--creds", "c",
                            "--ca", "x", "-n", "10000001", NULL),
                   -1);
  expect_err("-n: want 1..10000000");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults),          cmocka_unit_test(every_option),
      cmocka_unit_test(modes_and_targets), cmocka_unit_test(scenarios),
      cmocka_unit_test(numbers),           cmocka_unit_test(lists),
      cmocka_unit_test(usage_errors),      cmocka_unit_test(hold),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
