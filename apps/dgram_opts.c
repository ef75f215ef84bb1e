/* The DTLS timing flags of imsec pcscf and imsec ue (dgram_opts.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "daemon_ops.h"
#include "dgram_opts.h"
#include "imsec/sip_txn.h"

/* A number of milliseconds from 1 to max. 0, or -1 after one line. */
static int parse_ms(const char *sub, const char *opt, const char *v,
                    uint64_t max, imsec_time_ms *out) {
  uint64_t n = 0;
  if (imsec_str_to_u64(imsec_str_c(v), max, &n) < 0 || n == 0) {
    cli_usage(sub,
              "%s must be a number of milliseconds from 1 to %llu, "
              "not '%s'",
              opt, (unsigned long long)max, v);
    return -1;
  }
  *out = (imsec_time_ms)n;
  return 0;
}

/* --t1-ms, --t2-ms, --t4-ms into t[0..2]: 1, 0 or -1 as the flag calls. */
static int timer_flag(const char *sub, int argc, char **argv, int *i,
                      imsec_time_ms *t1, imsec_time_ms *t2, imsec_time_ms *t4) {
  static const char *const names[] = {"--t1-ms", "--t2-ms", "--t4-ms"};
  static const uint64_t max[] = {DGRAM_T1_MAX, DGRAM_T2_MAX, DGRAM_T4_MAX};
  imsec_time_ms *dst[] = {t1, t2, t4};
  const char *a = argv[*i];
  for (size_t k = 0; k < 3; k++) {
    if (strcmp(a, names[k]))
      continue;
    if (*i + 1 >= argc) {
      cli_usage(sub, "%s needs a value", a);
      return -1;
    }
    return parse_ms(sub, a, argv[++*i], max[k], dst[k]) < 0 ? -1 : 1;
  }
  return 0;
}

/* RFC 3261 §17.1.2.2: Timer E doubles from T1 and is capped at T2, so a
 * T2 below T1 makes no sense. 0, or -1 after one line. */
static int timers_check(const char *sub, const char *t1_name,
                        const char *t2_name, imsec_time_ms t1,
                        imsec_time_ms t2) {
  imsec_sip_timers d;
  imsec_sip_timers_default(&d);
  imsec_time_ms e1 = t1 > 0 ? t1 : d.t1, e2 = t2 > 0 ? t2 : d.t2;
  if (e2 >= e1)
    return 0;
  cli_usage(sub,
            "T2 (%s, %lld ms) must not be below T1 (%s, %lld ms): the "
            "retransmission interval grows from T1 up to T2",
            t2_name, (long long)e2, t1_name, (long long)e1);
  return -1;
}

int pcscf_dgram_flag(imsec_pcscf_settings *s, int argc, char **argv, int *i) {
  int rv = timer_flag("pcscf", argc, argv, i, &s->elem.t1_ms, &s->elem.t2_ms,
                      &s->elem.t4_ms);
  if (rv)
    return rv;
  if (strcmp(argv[*i], "--dtls-idle-timeout-ms"))
    return 0;
  if (*i + 1 >= argc) {
    cli_usage("pcscf", "%s needs a value", argv[*i]);
    return -1;
  }
  const char *a = argv[*i];
  return parse_ms("pcscf", a, argv[++*i], DGRAM_IDLE_MAX,
                  &s->elem.dtls_idle_timeout_ms) < 0
             ? -1
             : 1;
}

int pcscf_dgram_check(const imsec_pcscf_settings *s) {
  return timers_check("pcscf", "--t1-ms/t1_ms", "--t2-ms/t2_ms", s->elem.t1_ms,
                      s->elem.t2_ms);
}

void pcscf_dgram_log_start(const imsec_pcscf_settings *s) {
  int dtls = s->listen.tp == IMSEC_TP_DTLS;
  for (size_t i = 0; i < s->n_more_listen; i++)
    dtls |= s->more_listen[i].tp == IMSEC_TP_DTLS;
  if (!dtls)
    return;
  imsec_sip_timers d;
  imsec_sip_timers_default(&d);
  const imsec_pcscf_config *e = &s->elem;
  /* 90000: the element's default (include/imsec/pcscf.h). */
  imsec_logger_printf(daemon_ops_log(), "pcscf", IMSEC_LOG_INFO,
                      "DTLS: T1 %lld ms, T2 %lld ms, T4 %lld ms; an "
                      "association quiet for %lld ms is closed",
                      (long long)(e->t1_ms > 0 ? e->t1_ms : d.t1),
                      (long long)(e->t2_ms > 0 ? e->t2_ms : d.t2),
                      (long long)(e->t4_ms > 0 ? e->t4_ms : d.t4),
                      (long long)(e->dtls_idle_timeout_ms > 0
                                      ? e->dtls_idle_timeout_ms
                                      : 90000));
}

int ue_dgram_flag(ue_dgram_args *a, int argc, char **argv, int *i) {
  const char *o = argv[*i];
  int rv = timer_flag("ue", argc, argv, i, &a->t1_ms, &a->t2_ms, &a->t4_ms);
  if (rv == 0 && !strcmp(o, "--keepalive")) {
    if (*i + 1 >= argc) {
      cli_usage("ue", "--keepalive needs a value");
      return -1;
    }
    const char *v = argv[++*i];
    uint64_t n = 0;
    /* 0 or off: no keep-alive (imsec_ue_config.keepalive_ms < 0). */
    if (!strcmp(v, "off") || !strcmp(v, "0")) {
      a->keepalive_ms = -1;
    } else if (imsec_str_to_u64(imsec_str_c(v), DGRAM_KEEPALIVE_MAX_S, &n) <
                   0 ||
               n == 0) {
      cli_usage("ue",
                "--keepalive must be a number of seconds from 1 to %d, "
                "or off (0), not '%s'",
                DGRAM_KEEPALIVE_MAX_S, v);
      return -1;
    } else {
      a->keepalive_ms = (imsec_time_ms)n * 1000;
    }
    rv = 1;
  }
  if (rv == 1 && !a->first)
    a->first = o;
  return rv;
}

int ue_dgram_setup(const ue_dgram_args *a, imsec_ue_config *cfg) {
  if (!a->first)
    return 0;
  /* Over TLS nothing retransmits and no STUN runs: a flag that would do
   * nothing is refused rather than silently ignored. */
  if (cfg->pcscf.tp != IMSEC_TP_DTLS)
    return cli_usage("ue",
                     "%s applies to a DTLS P-CSCF only (--pcscf "
                     "dtls:HOST:PORT)",
                     a->first);
  if (timers_check("ue", "--t1-ms", "--t2-ms", a->t1_ms, a->t2_ms) < 0)
    return CLI_EXIT_USAGE;
  cfg->t1_ms = a->t1_ms;
  cfg->t2_ms = a->t2_ms;
  cfg->t4_ms = a->t4_ms;
  cfg->keepalive_ms = a->keepalive_ms;
  return 0;
}
