/*
 * apps/bench/opts.h: the options of `imsec bench run` and `imsec bench
 * hold` (docs/BENCH.md), shared by the option parser (opts.c), the runner
 * that forks the generator processes and merges what they measure
 * (run.c) and the engine each of them runs (engine.c).
 */
#ifndef IMSEC_APPS_BENCH_OPTS_H
#define IMSEC_APPS_BENCH_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "imsec/elem.h"

/* What one operation is. */
typedef enum bench_scenario {
  BENCH_SC_REGISTER = 0, /* a whole registration (401 and 200) */
  BENCH_SC_MESSAGE,      /* a MESSAGE between two registered UEs, to its 200 */
  BENCH_SC_CALL,         /* INVITE .. 200 .. ACK .. BYE .. 200 between two
                            registered UEs (the latency: INVITE to 200) */
  BENCH_SC_N
} bench_scenario;

/* How a `register` operation meets the P-CSCF. */
typedef enum bench_conn {
  BENCH_CONN_NEW = 0, /* a new connection, full handshake, every time */
  BENCH_CONN_RESUMED, /* a new connection resumed from the last session */
  BENCH_CONN_OPEN,    /* a re-REGISTER on the UE's open connection */
} bench_conn;

/* The deployment mode the UEs use (docs/MODES.md). */
typedef enum bench_mode {
  BENCH_MODE_M1 = 0, /* TLS, the P-CSCF's certificate */
  BENCH_MODE_M2A,    /* mutual TLS: each UE's certificate (creds cert=) */
  BENCH_MODE_M3,     /* TLS with each UE's configured PSK (creds psk=) */
  BENCH_MODE_DTLS,   /* SIP over DTLS, the P-CSCF's certificate */
  BENCH_MODE_TCP,    /* plain TCP, SIP Digest only: no security at all,
                        for generator comparisons (SIPp -t tn) */
  BENCH_MODE_N
} bench_mode;

#define BENCH_MAX_SOURCES 256
#define BENCH_MAX_SERVER_PIDS 8
#define BENCH_MAX_PROCS 64

typedef struct bench_opts {
  int hold; /* 1: `imsec bench hold`, else `imsec bench run` */

  /* Where and how. */
  imsec_addr target;           /* --target tls:H:P (tcp:, dtls: by mode) */
  char server_name[256];       /* --server-name: SNI and the name the UEs'
                                  trust decision checks; default pcscf.DOMAIN */
  char ca[1024];               /* --ca FILE: the trust anchors (PEM) */
  char trust_domain[256];      /* --trust-domain; default: DOMAIN's last three
                                  labels when it ends in 3gppnetwork.org,
                                  else DOMAIN */
  char creds[1024];            /* --creds FILE (bench provision's) */
  bench_mode mode;             /* --mode m1|m2a|m3|dtls|tcp */
  bench_conn conn;             /* --register new|resumed|open */
  unsigned weight[BENCH_SC_N]; /* --scenario register|message|call, or a
                                  mix --scenario register=5,message=3 */
  uint32_t expires;            /* --expires S (default 600) */

  /* How much. A run ends at the first of count, duration and a signal. */
  uint32_t concurrency; /* -c N: closed loop, N operations in flight
                           (default 10 when -r is not given) */
  double rate;          /* -r R: open loop, R operations/s in all */
  double ramp_s;        /* --ramp S: the rate climbs from 0 to R over
                           the first S seconds */
  uint64_t count;       /* -n N: operations in all (0: no bound) */
  double duration_s;    /* -t S (default 10; `hold`: how long to hold) */
  uint32_t timeout_ms;  /* --timeout MS: an operation not ended by then
                           is a timeout (default 10000) */
  uint32_t ues;         /* --ues N: use the first N UEs of the
                           credentials file (0: all) */

  /* Who generates. */
  unsigned procs;                        /* --procs P (default 1) */
  imsec_addr sources[BENCH_MAX_SOURCES]; /* --sources A[-B][,..] (IPs) */
  size_t n_sources;                      /* 0: the kernel picks */

  /* What is reported. */
  pid_t server_pids[BENCH_MAX_SERVER_PIDS]; /* --server-pid PID[,PID] */
  size_t n_server_pids;
  char json[1024], csv[1024], plot[1024]; /* "" none */
  int status;                             /* -1 on a terminal, 0, 1 */
  int quiet;                              /* -q: no table */
} bench_opts;

/* Parse the arguments after `run` or `hold` (argv[0] is the verb).
 * Returns 0, or -1 with one line in err (the CLI prints it and exits 2). */
int bench_opts_parse(int argc, char **argv, int hold, bench_opts *o, char *err,
                     size_t errcap);

/* The stable names: "register", "m1", "new". */
const char *bench_scenario_name(bench_scenario s);
const char *bench_mode_name(bench_mode m);
const char *bench_conn_name(bench_conn c);

#endif
