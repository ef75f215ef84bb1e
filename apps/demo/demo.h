/*
 * imsec demo, inside: what the files of apps/demo/ share.
 *
 *   demo.c      the subcommand: options, order of the steps, final table
 *   children.c  child processes (/proc/self/exe): spawn, read their output,
 *               start a daemon on free ports, stop every child by its pid
 *   ladder.c    the message ladder: lines from children and in-process
 *               elements, printed and counted per scene
 *   networks.c  the home, visited and rogue networks, and another
 *               operator's S-CSCF (in this process)
 *   scenes.c    the UEs (in this process) and the five scenes
 *   fixtures*.c PKI, ISIM profiles, HSS records and settings files
 *               (library imsec_fixtures, fixtures.h)
 */
#ifndef IMSEC_APPS_DEMO_DEMO_H
#define IMSEC_APPS_DEMO_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "imsec/host_net.h"
#include "fixtures.h"
#include "imsec/crypto.h"

#if defined(__has_include)
#if __has_include("imsec/ue.h")
#define DEMO_HAVE_UE 1
#endif
#endif

#define DEMO_WAIT_MS 4000

/* ---------------------------------------------------------------- demo.c */

extern int demo_verbose;
/* The fixtures, in the demo's temporary folder. */
extern imsec_fx demo_fx;

void demo_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* DIR/NAME in one of 16 rotating buffers (main thread only). */
const char *demo_path(const char *name);

/* ---------------------------------------------------------------- ladder.c */

void ladder_port_note(uint16_t port, const char *who);
void ladder_add(int64_t at, const char *who, int out, uint64_t flow,
                uint16_t lport, uint16_t pport, const char *line, size_t len);
/* A child's "imsec-ladder ..." line (include/imsec/host_net.h), recorded under
 * `who`; 0 when the line is no ladder line. */
int ladder_parse(const char *who, const char *line);
/* A net port ladder callback's event, recorded under `who`. */
void ladder_add_ev(const char *who, const imsec_hostnet_ladder_ev *ev);
/* Print the messages sent between t0 and t1, oldest first. */
void ladder_print(int64_t t0, int64_t t1);
/* Messages `who` sent between t0 and t1 that begin with `start`, and on
 * how many distinct flows. */
size_t ladder_count(const char *who, const char *start, int64_t t0, int64_t t1,
                    size_t *flows);
/* Messages `who` received on its port `port` between t0 and t1. */
size_t ladder_received(const char *who, uint16_t port, int64_t t0, int64_t t1);

/* ---------------------------------------------------------------- children.c
 */

typedef struct child child;

/* The program children run (/proc/self/exe); 0 or -1. */
int children_init(void);
/* Start the thread that reads every child's output; 0 or -1. */
int children_reader_start(void);
/* Start the program with argv (argv[0] is the subcommand). */
child *child_spawn(const char *name, char *const *argv);
/* Wait up to timeout_ms for its exit: its status, 128 when killed by a
 * signal, -1 when it still runs. */
int child_wait_exit(child *c, int timeout_ms);
/* Print its last log lines to stderr. */
void child_report(child *c);
/* Stop every child by its pid: SIGTERM, then SIGKILL after 2 s. */
void children_stop(void);
/* SIGINT/SIGTERM handler: stop the children, then die of the signal. */
void children_on_signal(int sig);

/* A port nobody uses now (the kernel's pick); the child binds it. */
uint16_t free_port(void);
/* Start a daemon listening on the ports it is given, and wait until they
 * accept connections. `mk` fills argv for the chosen ports; on a lost race
 * for a port (the child exits at once) try again with others. */
typedef int (*argv_fn)(void *ctx, const uint16_t *ports, char **argv,
                       size_t cap);
child *start_daemon(const char *name, size_t nports, argv_fn mk, void *ctx,
                    uint16_t *ports);

/* ---------------------------------------------------------------- networks.c
 */

/* Another operator's registrar: challenges every REGISTER with its own
 * realm. */
typedef struct foreign {
  imsec_crypto *crypto;
  unsigned challenges;
} foreign;

typedef struct demo {
  imsec_crypto *crypto;
  uint16_t scscf_port, home[2], visited[2], outside[2], other[2], realm[2],
      foreign_port;
  imsec_hostnet *foreign_run;
  foreign fx;
  char db[300];
  uint16_t scscf_tls_port; /* the S-CSCF's mutual-TLS core listener */
} demo;

/* `imsec hss add` for every subscriber (HSS SQN 0). */
int fill_hss(const char *db);
int start_networks(demo *d);

/* ---------------------------------------------------------------- scenes.c */

typedef struct result {
  char scene[64];
  char expect[96];
  char got[1024];
  int ok;
} result;

extern result demo_res[16];
extern size_t demo_nres;

result *result_add(const char *scene, const char *expect);
void print_table(void);
/* The scenes, when this build has the UE (include/imsec/ue.h). 0, or -1
 * when they could not run at all. */
int run_scenes(demo *d);

#endif
