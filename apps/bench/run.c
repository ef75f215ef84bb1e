/* apps/bench/run.c: `imsec bench run` and `imsec bench hold` (run.h,
 * docs/BENCH.md). The parent forks --procs generator processes, each
 * running bench_engine_run with a sink that writes to a pipe (wire.h);
 * the parent merges their reports second by second, draws the status
 * line, samples the servers' /proc and writes the reports at the end. */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "engine.h"
#include "opts.h"
#include "procstat.h"
#include "stats.h"
#include "wire.h"

/* The status line redraws this often (ms); servers are sampled once a
 * second. */
#define STATUS_MS 250
#define SAMPLE_MS 1000
#define HOLD_SAMPLE_MS 200
/* Past the run's own bounds (its time, then an operation's timeout and
 * this grace), generators that have sent nothing for SILENT_MS are told
 * to stop, and killed KILL_MS later. One that still reports (a hold
 * de-registering 100,000 UEs) goes on. */
#define GRACE_MS 30000
#define SILENT_MS 15000
#define KILL_MS 10000
/* Distinct notes shown (each generator process reports its own). */
#define NOTES_MAX 64

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
  got_signal = sig;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *verb_of(int hold) {
  return hold ? "hold" : "run";
}

static int say(int code, int hold, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int say(int code, int hold, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "imsec bench %s: ", verb_of(hold));
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return code;
}

/* ------------------------------------------------------- the generator */

/* The sink of one generator process: everything goes down its pipe. */
typedef struct child_sink {
  int final_sent; /* the engine sent its final tick */
  bench_wire_writer w;
} child_sink;

static void child_done(void *arg, const bench_done *d) {
  child_sink *c = arg;
  (void)bench_wire_put_done(&c->w, d);
}

static void child_tick(void *arg, uint32_t in_flight, uint32_t registered,
                       uint32_t sec_now, int final) {
  child_sink *c = arg;
  c->final_sent |= final != 0;
  (void)bench_wire_put_tick(&c->w, in_flight, registered, sec_now, final);
  (void)bench_wire_flush(&c->w);
}

static void child_note(void *arg, const char *line) {
  child_sink *c = arg;
  (void)bench_wire_put_text(&c->w, BENCH_WIRE_NOTE, line);
  (void)bench_wire_flush(&c->w);
}

static void child_main(const bench_opts *o, const bench_creds *creds,
                       unsigned worker, int64_t t0, int fd) {
  /* The engine's port reads SIGINT and SIGTERM itself; the runner's
   * handler is the parent's. A gone runner must not kill the engine
   * mid-write: its writes fail instead. */
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);
  static child_sink c;
  bench_wire_writer_init(&c.w, fd);
  bench_sink sink = {&c, child_done, child_tick, child_note};
  char err[BENCH_WIRE_TEXT_MAX] = "";
  int rc =
      bench_engine_run(o, creds, worker, o->procs, t0, &sink, err, sizeof err);
  if (rc != 0)
    (void)bench_wire_put_text(&c.w, BENCH_WIRE_FAIL,
                              err[0] ? err : "the generator could not start");
  /* The final tick, in case the engine ended without one. */
  if (!c.final_sent)
    (void)bench_wire_put_tick(&c.w, 0, 0, 0, 1);
  (void)bench_wire_flush(&c.w);
  _exit(rc == 0 ? 0 : 1);
}

/* ----------------------------------------------------------- the parent */

typedef struct worker {
  pid_t pid;
  int fd; /* the pipe's read end, -1 once closed */
  int final;
  int exited, status;
  struct rusage ru;
  bench_wire_reader rd;
} worker;

typedef struct runner {
  const bench_opts *o;
  bench_merge m;
  worker *w;
  unsigned nw;
  unsigned cur; /* the worker whose bytes are being read */
  int64_t t0, end_ms;
  int64_t final_ms;     /* the last engine's final tick came */
  int64_t last_data_ms; /* a pipe last brought something */
  uint64_t unfinished;  /* operations reported after their run ended */
  int oom;
  /* Raw counts as reports arrive (the status line; the merge lags by up
   * to a second). */
  uint64_t raw_ok, raw_fail;
  imsec_bench_hist live; /* the successes' latency as they arrive */
  /* raw_ok at the last few redraws, for the rate over the last second */
  uint64_t ring_ok[8];
  int64_t ring_ms[8];
  unsigned ring_at;
  int status_on, drawn;
  char fail[BENCH_WIRE_TEXT_MAX + 1]; /* a generator's FAIL, first one */
  char *notes[NOTES_MAX];
  size_t nnotes;
  /* Servers: samples at the start and while the run runs. */
  imsec_bench_server srv[BENCH_MAX_SERVER_PIDS];
  double srv_cpu0[BENCH_MAX_SERVER_PIDS];
  uint32_t hold_max; /* the most UEs registered at once */
  int signalled;     /* the generators were sent a signal */
  int user_signals;  /* SIGINT/SIGTERM the runner itself got */
} runner;

static void clear_status(runner *r) {
  if (r->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
    r->drawn = 0;
  }
}

static void on_done(void *arg, const bench_done *d) {
  runner *r = arg;
  /* After its engine's final tick the run is over: what still ends (an
   * operation in flight, cut short as the UEs retire) is not the
   * server's doing, and is not counted. */
  if (r->w[r->cur].final) {
    r->unfinished++;
    return;
  }
  if (d->outcome == IMSEC_BENCH_OK) {
    r->raw_ok++;
    imsec_bench_hist_record(&r->live, d->latency_us);
  } else
    r->raw_fail++;
  if (bench_merge_done(&r->m, r->cur, d) != 0)
    r->oom = 1;
}

static void on_tick(void *arg, uint32_t in_flight, uint32_t registered,
                    uint32_t sec_now, int final) {
  runner *r = arg;
  /* The engine's final tick ends its operations, but the worker counts
   * as ended only at the end of its pipe: whatever it still sends (an
   * operation its teardown ended) is counted in its own second. */
  if (final) {
    if (!r->w[r->cur].final)
      r->final_ms = now_ms();
    r->w[r->cur].final = 1;
    in_flight = registered = 0;
  }
  if (bench_merge_tick(&r->m, r->cur, in_flight, registered, sec_now, 0) != 0)
    r->oom = 1;
  uint32_t reg = bench_merge_registered(&r->m);
  if (reg > r->hold_max)
    r->hold_max = reg;
}

static void on_text(void *arg, int type, const char *line) {
  runner *r = arg;
  if (type == BENCH_WIRE_FAIL) {
    if (!r->fail[0])
      snprintf(r->fail, sizeof r->fail, "%s", line);
    return;
  }
  /* A note about an operation after the run ended is about one that is
   * not counted. */
  if (r->w[r->cur].final)
    return;
  /* Every process notes the first failure of each kind: shown once. */
  for (size_t i = 0; i < r->nnotes; i++)
    if (strcmp(r->notes[i], line) == 0)
      return;
  if (r->nnotes < NOTES_MAX) {
    char *copy = strdup(line);
    if (copy)
      r->notes[r->nnotes++] = copy;
  }
  clear_status(r);
  fprintf(stderr, "imsec bench %s: %s\n", verb_of(r->o->hold), line);
}

static const bench_wire_handler handler = {NULL, on_done, on_tick, on_text};

static void sample_servers(runner *r, int start) {
  for (size_t i = 0; i < r->o->n_server_pids; i++) {
    imsec_bench_server *s = &r->srv[i];
    bench_procstat ps;
    s->pid = (long)r->o->server_pids[i];
    if (bench_procstat_read(r->o->server_pids[i], &ps) != 0)
      continue;
    if (start) {
      s->sampled = 1;
      r->srv_cpu0[i] = ps.cpu_s;
      s->rss_kib_start = s->rss_kib_max = s->rss_kib_end = ps.rss_kib;
      s->rss_kib_idle_before = s->rss_kib_held = ps.rss_kib;
      continue;
    }
    if (!s->sampled)
      continue;
    s->cpu_s = ps.cpu_s - r->srv_cpu0[i];
    s->rss_kib_end = ps.rss_kib;
    if (ps.rss_kib > s->rss_kib_max)
      s->rss_kib_max = ps.rss_kib;
    /* hold: the server's memory while the most UEs are registered. */
    if (r->o->hold && r->hold_max > 0 &&
        bench_merge_registered(&r->m) >= r->hold_max)
      s->rss_kib_held = ps.rss_kib;
  }
}

static void draw_status(runner *r, int64_t now) {
  /* The rate over the last second: against the redraw about a second
   * ago (the ring holds the last 8, 2 s at 4 redraws a second). */
  unsigned n = sizeof r->ring_ok / sizeof r->ring_ok[0];
  unsigned back = (r->ring_at + n - 4) % n;
  uint64_t ok0 = 0;
  int64_t ms0 = r->t0;
  if (r->ring_at >= 4) {
    ok0 = r->ring_ok[back];
    ms0 = r->ring_ms[back];
  }
  double rate =
      now > ms0 ? (double)(r->raw_ok - ok0) * 1000.0 / (double)(now - ms0) : 0;
  r->ring_ok[r->ring_at % n] = r->raw_ok;
  r->ring_ms[r->ring_at % n] = now;
  r->ring_at++;
  const imsec_bench_hist *h = &r->live;
  fprintf(stderr,
          "\r%7.1f s  %8.1f/s  in flight %u  p50 %.2f ms  p99 %.2f ms  "
          "ok %llu  errors %llu",
          (double)(now - r->t0) / 1000.0, rate, bench_merge_in_flight(&r->m),
          (double)imsec_bench_hist_quantile(h, 0.50) / 1000.0,
          (double)imsec_bench_hist_quantile(h, 0.99) / 1000.0,
          (unsigned long long)r->raw_ok, (unsigned long long)r->raw_fail);
  if (r->o->hold)
    fprintf(stderr, "  registered %u", bench_merge_registered(&r->m));
  fputs("\033[K", stderr);
  fflush(stderr);
  r->drawn = 1;
}

static void signal_workers(runner *r, int sig) {
  r->signalled = 1;
  for (unsigned i = 0; i < r->nw; i++)
    if (r->w[i].pid > 0 && !r->w[i].exited)
      kill(r->w[i].pid, sig);
}

/* Read what is there on one worker's pipe; close it at its end. */
static void read_worker(runner *r, unsigned i) {
  worker *w = &r->w[i];
  uint8_t buf[65536];
  ssize_t n = read(w->fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  r->cur = i;
  bench_wire_handler h = handler;
  h.arg = r;
  if (n > 0)
    r->last_data_ms = now_ms();
  if (n > 0 && bench_wire_feed(&w->rd, buf, (size_t)n, &h) == 0)
    return;
  if (n > 0) {
    clear_status(r);
    say(0, r->o->hold, "generator %u: unreadable report, ignoring it", i);
  }
  close(w->fd);
  w->fd = -1;
  /* Its end (or its death): nothing more comes from it. */
  if (bench_merge_tick(&r->m, i, 0, 0, 0, 1) != 0)
    r->oom = 1;
  r->end_ms = now_ms();
}

/* The parent's loop: until every pipe is closed. */
static void watch(runner *r) {
  const bench_opts *o = r->o;
  struct pollfd *pf = calloc(r->nw, sizeof *pf);
  unsigned *idx = calloc(r->nw, sizeof *idx);
  if (!pf || !idx) {
    r->oom = 1;
    signal_workers(r, SIGTERM);
  }
  int64_t bound = r->t0 + (int64_t)(o->duration_s * 1000.0) +
                  (int64_t)o->timeout_ms + GRACE_MS;
  int64_t next_status = r->t0, next_sample = r->t0 + SAMPLE_MS;
  int64_t next_hold = r->t0;
  int64_t kill_at = 0;
  int told_fail = 0;
  for (;;) {
    nfds_t n = 0;
    for (unsigned i = 0; i < r->nw && pf; i++)
      if (r->w[i].fd >= 0) {
        pf[n].fd = r->w[i].fd;
        pf[n].events = POLLIN;
        idx[n++] = i;
      }
    if (n == 0)
      break;
    if (got_signal) {
      /* Forwarded: a generator that is a process group's member may have
       * it already (a terminal's ^C), once more does no harm. The first
       * lets a hold de-register its UEs, which for many thousands takes
       * minutes; a second one means now. */
      if (++r->user_signals > 1) {
        clear_status(r);
        say(0, o->hold, "stopping the generators now (no de-registration)");
        signal_workers(r, SIGKILL);
      } else {
        signal_workers(r, got_signal);
      }
      got_signal = 0;
    }
    int64_t now = now_ms();
    if (r->fail[0] && !told_fail) {
      /* One generator could not start: the others stop too. */
      told_fail = 1;
      signal_workers(r, SIGTERM);
      kill_at = now + KILL_MS;
    }
    if (!kill_at && now > bound && now - r->last_data_ms > SILENT_MS) {
      clear_status(r);
      say(0, o->hold,
          "the generators overran the run and said nothing for %d s: "
          "stopping them",
          SILENT_MS / 1000);
      signal_workers(r, SIGTERM);
      kill_at = now + KILL_MS;
    } else if (kill_at && now > kill_at) {
      signal_workers(r, SIGKILL);
      kill_at = INT64_MAX;
    }
    int64_t wait = next_status - now;
    if (next_sample - now < wait)
      wait = next_sample - now;
    if (o->hold && next_hold - now < wait)
      wait = next_hold - now;
    if (wait < 0)
      wait = 0;
    int rc = poll(pf, n, (int)wait);
    if (rc < 0 && errno != EINTR)
      break;
    for (nfds_t k = 0; rc > 0 && k < n; k++)
      if (pf[k].revents)
        read_worker(r, idx[k]);
    now = now_ms();
    /* hold: while every UE that got registered is, the servers are
     * sampled more often, so a short hold still sees them holding. */
    int holding = o->hold && r->hold_max > 0 &&
                  bench_merge_registered(&r->m) >= r->hold_max;
    if (now >= next_sample || (holding && now >= next_hold)) {
      sample_servers(r, 0);
      next_sample = now + SAMPLE_MS;
      next_hold = now + HOLD_SAMPLE_MS;
    }
    if (now >= next_status) {
      if (r->status_on)
        draw_status(r, now);
      next_status = now + STATUS_MS;
    }
  }
  free(pf);
  free(idx);
}

/* ------------------------------------------------------------ options */

/* The names the UEs check, by default from the home domain. */
static void default_names(bench_opts *o, const char *domain) {
  if (!o->server_name[0] && strlen(domain) + 6 < sizeof o->server_name) {
    memcpy(o->server_name, "pcscf.", 6);
    memcpy(o->server_name + 6, domain, strlen(domain) + 1);
  }
  if (!o->trust_domain[0]) {
    /* opts.h: the last three labels of a home domain under
     * 3gppnetwork.org (TS 23.003 13.2 ims.mncMNC.mccMCC.3gppnetwork.org
     * gives mccMCC.3gppnetwork.org), else the domain itself. */
    static const char suffix[] = ".3gppnetwork.org";
    size_t n = strlen(domain), k = sizeof suffix - 1;
    const char *td = domain;
    if (n > k && strcasecmp(domain + n - k, suffix) == 0) {
      const char *p = domain + n - k;
      while (p > domain && p[-1] != '.')
        p--;
      td = p;
    }
    snprintf(o->trust_domain, sizeof o->trust_domain, "%s", td);
  }
}

/* Do the credentials fit the mode? 0, or 1 with a line on stderr. */
static int creds_fit(const bench_opts *o, const bench_creds *c) {
  size_t n = o->ues ? o->ues : c->n;
  if (o->mode == BENCH_MODE_TCP && c->scheme != IMSEC_HSS_SCHEME_DIGEST)
    return say(1, o->hold, "--mode tcp: SIP Digest only, %s holds AKA UEs",
               o->creds);
  for (size_t i = 0; i < n; i++) {
    if (o->mode == BENCH_MODE_M3 && c->v[i].psk_len == 0)
      return say(1, o->hold, "--mode m3: UE %s has no psk= in %s", c->v[i].impi,
                 o->creds);
    if (o->mode == BENCH_MODE_M2A && !c->v[i].cert)
      return say(1, o->hold, "--mode m2a: UE %s has no cert= in %s",
                 c->v[i].impi, o->creds);
  }
  return 0;
}

static FILE *open_out(const char *path) {
  if (strcmp(path, "-") == 0)
    return stdout;
  return fopen(path, "w");
}

static int close_out(FILE *f) {
  if (f == stdout)
    return fflush(f);
  return fclose(f);
}

/* The options echoed into the JSON report. */
typedef struct echo {
  imsec_bench_opt kv[24];
  size_t n;
  char text[4096];
  size_t used;
} echo;

static void echo_add(echo *e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void echo_add(echo *e, const char *key, const char *fmt, ...) {
  if (e->n == sizeof e->kv / sizeof e->kv[0] || e->used >= sizeof e->text)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *at = e->text + e->used;
  int k = vsnprintf(at, sizeof e->text - e->used, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= sizeof e->text - e->used)
    return;
  e->used += (size_t)k + 1;
  e->kv[e->n].key = key;
  e->kv[e->n++].value = at;
}

static void echo_opts(echo *e, const bench_opts *o, const bench_creds *c) {
  char buf[512];
  e->n = e->used = 0;
  echo_add(e, "command", "%s", verb_of(o->hold));
  if (imsec_addr_format(&o->target, buf, sizeof buf) < 0)
    buf[0] = 0;
  echo_add(e, "target", "%s", buf);
  echo_add(e, "server_name", "%s", o->server_name);
  echo_add(e, "trust_domain", "%s", o->trust_domain);
  echo_add(e, "creds", "%s", o->creds);
  echo_add(e, "scheme", "%s",
           c->scheme == IMSEC_HSS_SCHEME_DIGEST ? "digest" : "aka");
  echo_add(e, "mode", "%s", bench_mode_name(o->mode));
  echo_add(e, "register", "%s", bench_conn_name(o->conn));
  size_t used = 0;
  buf[0] = 0;
  for (int s = 0; s < BENCH_SC_N; s++)
    if (o->weight[s] && used < sizeof buf)
      used += (size_t)snprintf(
          buf + used, sizeof buf - used, "%s%s=%u", used ? "," : "",
          bench_scenario_name((bench_scenario)s), o->weight[s]);
  echo_add(e, "scenario", "%s", buf);
  if (o->rate > 0) {
    echo_add(e, "rate", "%g", o->rate);
    echo_add(e, "ramp_s", "%g", o->ramp_s);
  } else {
    echo_add(e, "concurrency", "%u", o->concurrency);
  }
  echo_add(e, "count", "%llu", (unsigned long long)o->count);
  echo_add(e, "duration_s", "%g", o->duration_s);
  echo_add(e, "timeout_ms", "%u", o->timeout_ms);
  echo_add(e, "ues", "%u", o->ues ? o->ues : (unsigned)c->n);
  echo_add(e, "procs", "%u", o->procs);
  if (o->n_sources)
    echo_add(e, "sources", "%s..%s (%zu)", o->sources[0].host,
             o->sources[o->n_sources - 1].host, o->n_sources);
  echo_add(e, "expires", "%u", o->expires);
  used = 0;
  buf[0] = 0;
  for (size_t i = 0; i < o->n_server_pids && used < sizeof buf; i++)
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%ld",
                             i ? "," : "", (long)o->server_pids[i]);
  if (o->n_server_pids)
    echo_add(e, "server_pid", "%s", buf);
}

/* ---------------------------------------------------------------- main */

static int write_reports(runner *r, bench_creds *c, FILE *json, FILE *csv,
                         FILE *plot, double elapsed, double gen_cpu,
                         double runner_cpu) {
  const bench_opts *o = r->o;
  echo e;
  echo_opts(&e, o, c);
  imsec_bench_report rep = {0};
  rep.total = r->m.total;
  unsigned mixed = 0;
  for (int s = 0; s < BENCH_SC_N; s++)
    mixed += o->weight[s] != 0;
  if (mixed > 1)
    for (int s = 0; s < BENCH_SC_N; s++)
      if (o->weight[s]) {
        rep.by[rep.n_by] = r->m.by[s];
        rep.by_name[rep.n_by++] = bench_scenario_name((bench_scenario)s);
      }
  rep.opts = e.kv;
  rep.nopts = e.n;
  rep.elapsed_s = elapsed;
  rep.status = r->m.status;
  rep.status_min = BENCH_STATUS_MIN;
  rep.n_status = BENCH_STATUS_N;
  rep.servers = r->srv;
  rep.n_servers = o->n_server_pids;
  rep.procs = o->procs;
  rep.generator_cpu_s = gen_cpu;
  rep.runner_cpu_s = runner_cpu;
  rep.unfinished = r->unfinished;
  rep.hold = o->hold;
  rep.hold_ues = o->ues;
  rep.hold_registered = r->hold_max;
  int rc = 0;
  if (!o->quiet) {
    FILE *t = json == stdout ? stderr : stdout;
    if (imsec_bench_write_report_table(t, &rep) != 0)
      rc = -1;
  }
  if (json &&
      (imsec_bench_write_report_json(json, &rep) != 0 || close_out(json) != 0))
    rc = say(-1, o->hold, "--json %s: could not write it", o->json);
  if (csv &&
      (imsec_bench_write_csv(csv, r->m.total) != 0 || close_out(csv) != 0))
    rc = say(-1, o->hold, "--csv %s: could not write it", o->csv);
  if (plot) {
    char title[512], addr[300];
    if (imsec_addr_format(&o->target, addr, sizeof addr) < 0)
      addr[0] = 0;
    const char *sc = "";
    for (size_t i = 0; i < e.n; i++)
      if (strcmp(e.kv[i].key, "scenario") == 0)
        sc = e.kv[i].value;
    snprintf(title, sizeof title, "imsec bench %s %s, %s, %s", verb_of(o->hold),
             sc, bench_mode_name(o->mode), addr);
    if (imsec_bench_write_svg(plot, r->m.total, title) != 0 ||
        close_out(plot) != 0)
      rc = say(-1, o->hold, "--plot %s: could not write it", o->plot);
  }
  return rc;
}

int bench_run_main(int argc, char **argv, int hold) {
  bench_opts o;
  char err[512];
  if (bench_opts_parse(argc, argv, hold, &o, err, sizeof err) != 0)
    return say(2, hold, "%s", err);
  bench_creds creds;
  if (bench_creds_read(o.creds, &creds, err, sizeof err) != 0)
    return say(2, hold, "--creds: %s", err);
  int code = 2;
  FILE *json = NULL, *csv = NULL, *plot = NULL;
  runner r;
  memset(&r, 0, sizeof r);
  r.o = &o;
  if (o.ues > creds.n) {
    say(2, hold, "%s %u: %s holds %zu UEs", hold ? "-n" : "--ues", o.ues,
        o.creds, creds.n);
    goto out_creds;
  }
  if (o.procs > (o.ues ? o.ues : creds.n)) {
    say(2, hold, "--procs %u: more processes than UEs (%zu)", o.procs,
        o.ues ? (size_t)o.ues : creds.n);
    goto out_creds;
  }
  if (creds_fit(&o, &creds) != 0) {
    code = 1;
    goto out_creds;
  }
  default_names(&o, creds.domain);
  for (size_t i = 0; i < o.n_server_pids; i++) {
    bench_procstat ps;
    if (bench_procstat_read(o.server_pids[i], &ps) != 0) {
      say(2, hold, "--server-pid %ld: no such process in /proc",
          (long)o.server_pids[i]);
      goto out_creds;
    }
  }
  /* The outputs open before the run, so a typo does not cost a run. */
  if ((o.json[0] && !(json = open_out(o.json))) ||
      (o.csv[0] && !(csv = open_out(o.csv))) ||
      (o.plot[0] && !(plot = open_out(o.plot)))) {
    say(2, hold, "cannot write %s: %s",
        !json && o.json[0] ? o.json
        : !csv && o.csv[0] ? o.csv
                           : o.plot,
        strerror(errno));
    goto out_files;
  }
  if (bench_merge_init(&r.m, o.procs) != 0 ||
      !(r.w = calloc(o.procs, sizeof *r.w))) {
    code = say(1, hold, "out of memory");
    goto out_merge;
  }
  r.nw = o.procs;
  /* A second is counted one second after every generator passed it: an
   * event handled just after a tick may carry the time before it. */
  r.m.lag = 1;
  r.status_on = o.status == 1 || (o.status == -1 && isatty(2));

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int, old_term;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  sample_servers(&r, 1);
  struct rusage self0, self1;
  getrusage(RUSAGE_SELF, &self0);
  fflush(NULL);
  r.t0 = now_ms();
  r.end_ms = r.t0;
  for (unsigned i = 0; i < o.procs; i++) {
    worker *w = &r.w[i];
    int p[2];
    w->fd = -1;
    if (pipe2(p, O_CLOEXEC) != 0) {
      say(0, hold, "pipe: %s", strerror(errno));
      break;
    }
    pid_t pid = fork();
    if (pid < 0) {
      say(0, hold, "fork: %s", strerror(errno));
      close(p[0]);
      close(p[1]);
      break;
    }
    if (pid == 0) {
      close(p[0]);
      for (unsigned k = 0; k < i; k++)
        close(r.w[k].fd);
      child_main(&o, &creds, i, r.t0, p[1]);
    }
    close(p[1]);
    w->pid = pid;
    w->fd = p[0];
    bench_wire_reader_init(&w->rd);
  }
  /* Workers that never started count as ended. */
  int started = 1;
  for (unsigned i = 0; i < r.nw; i++)
    if (r.w[i].pid <= 0) {
      started = 0;
      r.w[i].final = 1;
      (void)bench_merge_tick(&r.m, i, 0, 0, 0, 1);
    }
  if (!started && !r.fail[0])
    snprintf(r.fail, sizeof r.fail, "could not start every generator");

  watch(&r);
  clear_status(&r);
  double gen_cpu = 0;
  int died = 0;
  for (unsigned i = 0; i < r.nw; i++) {
    worker *w = &r.w[i];
    if (w->pid <= 0)
      continue;
    while (wait4(w->pid, &w->status, 0, &w->ru) < 0 && errno == EINTR)
      ;
    w->exited = 1;
    gen_cpu += bench_procstat_rusage_s(&w->ru);
    /* A generator that the signal it was sent ended is not news. */
    if (WIFSIGNALED(w->status) &&
        !(r.signalled &&
          (WTERMSIG(w->status) == SIGTERM || WTERMSIG(w->status) == SIGINT ||
           WTERMSIG(w->status) == SIGKILL))) {
      say(0, hold, "generator %u died of signal %d", i, WTERMSIG(w->status));
      died = 1;
    }
  }
  sample_servers(&r, 0);
  /* The runner is part of the generator: its merging and sampling count
   * with the engines' CPU (a comparison with another generator counts
   * all of it). */
  getrusage(RUSAGE_SELF, &self1);
  double runner_cpu =
      bench_procstat_rusage_s(&self1) - bench_procstat_rusage_s(&self0);
  gen_cpu += runner_cpu;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);

  /* The run's time ends at the last engine's final tick, not after its
   * teardown, when every engine sent one. */
  int all_final = 1;
  for (unsigned i = 0; i < r.nw; i++)
    all_final = all_final && r.w[i].final;
  double elapsed =
      (double)((all_final && r.final_ms ? r.final_ms : r.end_ms) - r.t0) /
      1000.0;
  if (elapsed <= 0)
    elapsed = 0.001;
  if (r.fail[0]) {
    code = say(1, hold, "%s", r.fail);
    goto out_merge;
  }
  if (r.oom || bench_merge_finish(&r.m, (uint32_t)elapsed) != 0) {
    code = say(1, hold, "out of memory");
    goto out_merge;
  }
  if (hold && r.hold_max < (o.ues ? o.ues : creds.n))
    say(0, hold,
        "only %u of %zu UEs were registered at once: the memory per UE "
        "is theirs (a longer -t gives the rest time to register)",
        r.hold_max, o.ues ? (size_t)o.ues : creds.n);
  if (r.unfinished)
    say(0, hold,
        "%llu operation%s still in flight when the run ended, not counted",
        (unsigned long long)r.unfinished, r.unfinished == 1 ? "" : "s");
  if (r.m.dropped)
    say(0, hold, "%llu reports came after their second was closed",
        (unsigned long long)r.m.dropped);
  int wrote =
      write_reports(&r, &creds, json, csv, plot, elapsed, gen_cpu, runner_cpu);
  code = wrote != 0 || died ? 1 : 0;
  json = csv = plot = NULL;
out_merge:
  free(r.w);
  bench_merge_free(&r.m);
  for (size_t i = 0; i < r.nnotes; i++)
    free(r.notes[i]);
out_files:
  if (json)
    close_out(json);
  if (csv)
    close_out(csv);
  if (plot)
    close_out(plot);
out_creds:
  bench_creds_free(&creds);
  return code;
}
