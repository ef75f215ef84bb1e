/* apps/bench/run.c end to end with a scripted engine: the runner forks
 * the generator processes, merges what their sinks send over the pipes,
 * samples /proc, forwards a signal, and writes the table, JSON, CSV and
 * SVG; its exit codes for an engine that cannot start or dies. The real
 * engine is tested in bench_engine_test.c and against the daemons in
 * bench_daemons.py; this one stands in for it (this program's
 * bench_engine_run is linked before the library's). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "run.h"
#include "test_util.h"

/* ------------------------------------------------------ the fake engine */

static volatile sig_atomic_t stop;
static void on_stop(int sig) {
  (void)sig;
  stop = 1;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Its behaviour comes from FAKE_ENGINE: "ok" (default), "fail", "crash",
 * "hang" (until a signal), "stubborn" (hangs through signals: a hold
 * de-registering more UEs than the user will wait for). "ok": the worker's
 * share of -n operations spread over about 1.5 s, every 100th a 403, the
 * scenario by weights; hold: its share of the UEs registered, held for -t, then
 * released. */
int bench_engine_run(const bench_opts *o, const bench_creds *creds,
                     unsigned worker, unsigned workers, int64_t t0_ms,
                     const bench_sink *sink, char *err, size_t errcap) {
  const char *how = getenv("FAKE_ENGINE");
  how = how ? how : "ok";
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  /* What the runner must have filled in from the credentials. */
  if (strcmp(o->server_name, "pcscf.ims.mnc001.mcc001.3gppnetwork.org") ||
      strcmp(o->trust_domain, "mcc001.3gppnetwork.org") ||
      workers != o->procs || worker >= workers || creds->n != 60) {
    snprintf(err, errcap, "fake engine: unexpected options %s %s %u/%u %zu",
             o->server_name, o->trust_domain, worker, workers, creds->n);
    return -1;
  }
  if (strcmp(how, "fail") == 0) {
    snprintf(err, errcap, "the TLS context did not load: no such file x.pem");
    return -1;
  }
  if (strcmp(how, "crash") == 0 && worker == 0)
    abort();
  sink->note(sink->arg, "first failure of its kind: 403 Forbidden");
  uint64_t share = o->count / workers + (worker < o->count % workers);
  uint32_t ues = o->ues ? o->ues : (uint32_t)creds->n;
  uint32_t my_ues = ues / workers + (worker < ues % workers);
  unsigned wsum = 0;
  for (int s = 0; s < BENCH_SC_N; s++)
    wsum += o->weight[s];
  uint64_t done = 0;
  uint32_t registered = 0;
  int64_t next_tick = mono_ms();
  int64_t end = t0_ms + (int64_t)(o->duration_s * 1000);
  for (;;) {
    int64_t now = mono_ms();
    uint32_t sec = (uint32_t)((now - t0_ms) / 1000);
    if (stop && strcmp(how, "stubborn") != 0)
      break;
    if (o->hold) {
      if (registered < my_ues) {
        bench_done d = {sec, BENCH_SC_REGISTER, IMSEC_BENCH_OK, 200, 1500};
        sink->done(sink->arg, &d);
        registered++;
      } else if (now >= end) {
        break;
      }
    } else if (strcmp(how, "hang") != 0 && strcmp(how, "stubborn") != 0) {
      if (done >= share || now >= end)
        break;
      /* Spread the share over ~1.5 s. */
      uint64_t due = share * (uint64_t)(now - t0_ms + 1) / 1500;
      while (done < share && done <= due) {
        unsigned pick = (unsigned)(done % wsum), sc = 0;
        while (pick >= o->weight[sc])
          pick -= o->weight[sc++];
        int fail = done % 100 == 99;
        bench_done d = {sec, (uint8_t)sc,
                        fail ? IMSEC_BENCH_SIP_4XX : IMSEC_BENCH_OK,
                        fail ? 403 : 200, 1000 + 100 * (done % 50)};
        sink->done(sink->arg, &d);
        done++;
      }
    }
    if (now >= next_tick) {
      sink->tick(sink->arg, o->hold ? 0 : 3, registered, sec, 0);
      next_tick = now + 100;
    }
    usleep(2000);
  }
  uint32_t last = (uint32_t)((mono_ms() - t0_ms) / 1000);
  sink->tick(sink->arg, 0, 0, last, 1);
  /* As a real engine's teardown does: an operation still in flight is
   * cut short after the final tick. */
  if (!o->hold && strcmp(how, "hang") != 0) {
    bench_done d = {last, BENCH_SC_REGISTER, IMSEC_BENCH_OTHER, 0, 5};
    sink->done(sink->arg, &d);
    sink->note(sink->arg, "cut short after the end");
  }
  return 0;
}

/* ---------------------------------------------------------------- tests */

static char dir[64];
static char creds[128];

static void write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/bench_run_XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(creds, sizeof creds, "%s/d.creds", dir);
  static char text[8192];
  size_t n = (size_t)snprintf(text, sizeof text,
                              "imsec-bench-creds 1 scheme=digest "
                              "domain=ims.mnc001.mcc001.3gppnetwork.org\n");
  for (int i = 1; i <= 60; i++)
    n += (size_t)snprintf(text + n, sizeof text - n,
                          "0010100000000%02d@ims.mnc001.mcc001.3gppnetwork.org"
                          " sip:0010100000000%02d@ims.mnc001.mcc001."
                          "3gppnetwork.org pw%02dabcdefgh\n",
                          i, i, i);
  write_file(creds, text, 0600);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char out[256];
  (void)t_sh(out, sizeof out, "rm -rf %s", dir);
  return 0;
}

/* bench_run_main with stderr into a file; returns its exit code and
 * leaves what it said in `said`. */
static char said[8192];
static int run_bench(int hold, const char *const *args) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = (char *)(hold ? "hold" : "run");
  for (; *args; args++)
    argv[argc++] = (char *)*args;
  char path[128];
  snprintf(path, sizeof path, "%s/stderr", dir);
  fflush(stderr);
  int saved = dup(2);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0 && saved >= 0);
  dup2(fd, 2);
  close(fd);
  int rc = bench_run_main(argc, argv, hold);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  FILE *f = fopen(path, "r");
  size_t k = fread(said, 1, sizeof said - 1, f);
  said[k] = 0;
  fclose(f);
  return rc;
}

static char json_path[128], csv_path[128], svg_path[128];

static void paths(void) {
  snprintf(json_path, sizeof json_path, "%s/r.json", dir);
  snprintf(csv_path, sizeof csv_path, "%s/r.csv", dir);
  snprintf(svg_path, sizeof svg_path, "%s/r.svg", dir);
}

static int py(const char *code) {
  char out[4096];
  int rc = t_sh(out, sizeof out,
                "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                "%s' %s",
                code, json_path);
  if (rc != 0)
    fprintf(stderr, "%s\n", out);
  return rc;
}

static void run_three_procs(void **state) {
  (void)state;
  setenv("FAKE_ENGINE", "ok", 1);
  paths();
  char pid[32];
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  const char *args[] = {"--target",     "127.0.0.1:5061",
                        "--creds",      creds,
                        "--ca",         "root.pem",
                        "-n",           "300",
                        "--procs",      "3",
                        "--json",       json_path,
                        "--csv",        csv_path,
                        "--plot",       svg_path,
                        "--server-pid", pid,
                        "--no-status",  NULL};
  int rc = run_bench(0, args);
  if (rc != 0)
    fprintf(stderr, "%s", said);
  assert_int_equal(rc, 0);
  /* The note every process sent, shown once. */
  const char *note = strstr(said, "first failure of its kind: 403 Forbidden");
  assert_non_null(note);
  assert_null(strstr(note + 1, "first failure of its kind"));
  /* What ended after the run is left out, and said so. */
  assert_null(strstr(said, "cut short"));
  assert_non_null(strstr(said, "3 operations still in flight when the run "
                               "ended, not counted"));
  char code[2048];
  snprintf(code, sizeof code,
           "t=d[\"totals\"]; assert t[\"attempts\"]==300, t; "
           "assert t[\"unfinished\"]==3 and t[\"failures\"][\"other\"]==0, t; "
           "assert t[\"ok\"]==297 and t[\"failures\"][\"sip_4xx\"]==3, t; "
           "assert t[\"duration_s\"]>1 and t[\"rate\"]>0; "
           "assert d[\"statuses\"]=={\"403\": 3}; "
           "assert sum(s[\"attempts\"] for s in d[\"series\"])==300; "
           "assert len(d[\"series\"])>=2; "
           "assert d[\"latency_us\"][\"p50\"]>=1000; "
           "assert \"by_scenario\" not in d; "
           "g=d[\"generator\"]; assert g[\"procs\"]==3 and g[\"cpu_s\"]>=0; "
           "assert 0<=g[\"runner_cpu_s\"]<=g[\"cpu_s\"]; "
           "s=d[\"server\"]; assert len(s)==1 and s[0][\"cpu_s\"]>=0; "
           "assert s[0][\"pid\"]==%ld; "
           "assert s[0][\"rss_kib_max\"]>=s[0][\"rss_kib_start\"]>0; "
           "o=d[\"options\"]; assert o[\"procs\"]==\"3\" and "
           "o[\"mode\"]==\"m1\" and o[\"scheme\"]==\"digest\" and "
           "o[\"target\"]==\"tls:127.0.0.1:5061\"; "
           "assert \"hold\" not in d",
           (long)getpid());
  assert_int_equal(py(code), 0);
  char out[4096];
  assert_int_equal(t_sh(out, sizeof out,
                        "head -1 %s | grep -c '^second,attempts,successes' "
                        "&& grep -c '<svg' %s",
                        csv_path, svg_path),
                   0);
}

static void run_mix(void **state) {
  (void)state;
  setenv("FAKE_ENGINE", "ok", 1);
  paths();
  const char *args[] = {"--target",   "127.0.0.1:5061",
                        "--creds",    creds,
                        "--ca",       "root.pem",
                        "-n",         "100",
                        "--scenario", "register=1,message=1",
                        "--ues",      "20",
                        "-q",         "--json",
                        json_path,    NULL};
  assert_int_equal(run_bench(0, args), 0);
  assert_int_equal(
      py("b=d[\"by_scenario\"]; assert set(b)=={\"register\",\"message\"}; "
         "assert b[\"register\"][\"attempts\"]+b[\"message\"][\"attempts\"]"
         "==100; assert d[\"options\"][\"ues\"]==\"20\""),
      0);
}

static void hold(void **state) {
  (void)state;
  setenv("FAKE_ENGINE", "ok", 1);
  paths();
  char pid[32];
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  const char *args[] = {"--target",     "127.0.0.1:5061",
                        "--creds",      creds,
                        "--ca",         "root.pem",
                        "-n",           "40",
                        "--procs",      "2",
                        "-t",           "1.5",
                        "--server-pid", pid,
                        "-q",           "--json",
                        json_path,      NULL};
  int rc = run_bench(1, args);
  if (rc != 0)
    fprintf(stderr, "%s", said);
  assert_int_equal(rc, 0);
  assert_int_equal(
      py("h=d[\"hold\"]; assert h[\"ues\"]==40 and h[\"registered\"]==40, h; "
         "s=h[\"servers\"][0]; assert s[\"rss_kib_idle_before\"]>0; "
         "assert s[\"rss_kib_after\"]>0 and s[\"kib_per_ue\"] is not None; "
         "assert d[\"totals\"][\"ok\"]==40"),
      0);
}

static void engine_cannot_start(void **state) {
  (void)state;
  setenv("FAKE_ENGINE", "fail", 1);
  const char *args[] = {"--target", "127.0.0.1:5061", "--creds", creds, "--ca",
                        "root.pem", "--procs",        "2",       "-q",  NULL};
  assert_int_equal(run_bench(0, args), 1);
  assert_non_null(strstr(said, "imsec bench run: the TLS context did not "
                               "load: no such file x.pem\n"));
  /* Said once, not once per process; nothing about signals. */
  assert_null(strstr(strstr(said, "TLS context") + 1, "TLS context"));
  assert_null(strstr(said, "signal"));
}

static void engine_dies(void **state) {
  (void)state;
  setenv("FAKE_ENGINE", "crash", 1);
  const char *args[] = {"--target", "127.0.0.1:5061",
                        "--creds",  creds,
                        "--ca",     "root.pem",
                        "--procs",  "2",
                        "-n",       "50",
                        "-q",       NULL};
  assert_int_equal(run_bench(0, args), 1);
  assert_non_null(strstr(said, "generator 0 died of signal 6"));
}

/* ^C: the runner forwards it, the engines end their run, the report is
 * written and the exit is 0. */
static void interrupted(void **state) {
  (void)state;
  setenv("FAKE_ENGINE", "hang", 1);
  paths();
  unlink(json_path);
  pid_t me = getpid();
  pid_t helper = fork();
  assert_true(helper >= 0);
  if (helper == 0) {
    usleep(600000);
    kill(me, SIGINT);
    _exit(0);
  }
  const char *args[] = {"--target", "127.0.0.1:5061", "--creds", creds, "--ca",
                        "root.pem", "--procs",        "2",       "-t",  "20",
                        "-q",       "--json",         json_path, NULL};
  int64_t t = mono_ms();
  int rc = run_bench(0, args);
  waitpid(helper, NULL, 0);
  assert_int_equal(rc, 0);
  assert_true(mono_ms() - t < 5000);
  assert_int_equal(py("assert d[\"totals\"][\"attempts\"]==0"), 0);
  /* The runner's handler is gone again. */
  struct sigaction now;
  sigaction(SIGINT, NULL, &now);
  assert_true(now.sa_handler == SIG_DFL);
}

/* A second ^C stops generators that are still busy ending (a hold
 * de-registering many UEs) at once. */
static void interrupted_twice(void **state) {
  (void)state;
  setenv("FAKE_ENGINE", "stubborn", 1);
  paths();
  pid_t me = getpid();
  pid_t helper = fork();
  assert_true(helper >= 0);
  if (helper == 0) {
    usleep(600000);
    kill(me, SIGINT);
    usleep(600000);
    kill(me, SIGINT);
    _exit(0);
  }
  const char *args[] = {"--target", "127.0.0.1:5061",
                        "--creds",  creds,
                        "--ca",     "root.pem",
                        "--procs",  "2",
                        "-t",       "60",
                        "-q",       NULL};
  int64_t t = mono_ms();
  int rc = run_bench(0, args);
  waitpid(helper, NULL, 0);
  assert_int_equal(rc, 0);
  assert_true(mono_ms() - t < 10000);
  assert_non_null(strstr(said, "stopping the generators now"));
}

static void bad_input(void **state) {
  (void)state;
  setenv("FAKE_ENGINE", "ok", 1);
  const char *more_ues[] = {"--target", "127.0.0.1:5061", "--creds", creds,
                            "--ca",     "root.pem",       "--ues",   "61",
                            NULL};
  assert_int_equal(run_bench(0, more_ues), 2);
  assert_non_null(strstr(said, "--ues 61: "));
  assert_non_null(strstr(said, "holds 60 UEs"));
  const char *hold_more[] = {"--target", "127.0.0.1:5061", "--creds", creds,
                             "--ca",     "root.pem",       "-n",      "61",
                             NULL};
  assert_int_equal(run_bench(1, hold_more), 2);
  assert_non_null(strstr(said, "imsec bench hold: -n 61: "));
  const char *m3[] = {"--target", "127.0.0.1:5061", "--creds", creds, "--ca",
                      "root.pem", "--mode",         "m3",      NULL};
  assert_int_equal(run_bench(0, m3), 1);
  assert_non_null(strstr(said, "--mode m3: UE 001010000000001@"));
  const char *m2a[] = {"--target", "127.0.0.1:5061", "--creds", creds, "--ca",
                       "root.pem", "--mode",         "m2a",     NULL};
  assert_int_equal(run_bench(0, m2a), 1);
  assert_non_null(strstr(said, "has no cert="));
  char bad[160];
  snprintf(bad, sizeof bad, "%s/bad.creds", dir);
  write_file(bad, "imsec-bench-creds 1 scheme=digest domain=x\nonly-one\n",
             0600);
  const char *badc[] = {"--target", "127.0.0.1:5061", "--creds", bad,
                        "--ca",     "root.pem",       NULL};
  assert_int_equal(run_bench(0, badc), 2);
  assert_non_null(strstr(said, "imsec bench run: --creds: "));
  assert_non_null(strstr(said, "line 2"));
  char nodir[200];
  snprintf(nodir, sizeof nodir, "%s/no/such/dir/r.json", dir);
  const char *badjson[] = {"--target", "127.0.0.1:5061", "--creds", creds,
                           "--ca",     "root.pem",       "--json",  nodir,
                           NULL};
  assert_int_equal(run_bench(0, badjson), 2);
  assert_non_null(strstr(said, "cannot write"));
  const char *nopid[] = {"--target",     "127.0.0.1:5061", "--creds",
                         creds,          "--ca",           "root.pem",
                         "--server-pid", "2147483600",     NULL};
  assert_int_equal(run_bench(0, nopid), 2);
  assert_non_null(strstr(said, "--server-pid 2147483600: no such process"));
  const char *usage[] = {"--target", "127.0.0.1:5061", NULL};
  assert_int_equal(run_bench(0, usage), 2);
  assert_string_equal(said, "imsec bench run: --creds FILE is required "
                            "(imsec bench provision)\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(run_three_procs),
      cmocka_unit_test(run_mix),
      cmocka_unit_test(hold),
      cmocka_unit_test(engine_cannot_start),
      cmocka_unit_test(engine_dies),
      cmocka_unit_test(interrupted),
      cmocka_unit_test(interrupted_twice),
      cmocka_unit_test(bad_input),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
