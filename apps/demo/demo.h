/*
 * imsec demo, inside: what the files of apps/demo/ share.
 *
 *   demo.c      the subcommand: options, order of the steps, final table
 *   children.c  child processes (/proc/self/exe): spawn, read their output,
 *               start a daemon on free ports, stop every child by its pid
 *   ladder.c    the message ladder: lines from children and in-process
 *               elements, printed and counted per scene
 *   networks.c  the home, visited and rogue networks, the P-CSCFs of
 *               the other deployment modes, and another operator's
 *               S-CSCF (in this process)
 *   relay.c     a lossy datagram link (DTLS)
 *   ue.c        the UEs (in this process), their options per mode
 *   scenes.c    the table of scenes per mode, the results table
 *   scenes_m1.c scenes of mode M1 (home, roaming, MESSAGE, sync failure,
 *               rogue P-CSCFs)
 *   scenes_m2.c modes M2a and M2b; scenes_m3.c mode M3 (configured and
 *               AKA-derived PSK); scenes_dtls.c the DTLS variant
 *   scenes_call.c calls through the P-CSCF and S-CSCF (home, roaming)
 *   scenes_digest.c the softphone: SIP Digest over TLS (a wrong password
 *               refused; register, MESSAGEs and calls with an ISIM UE)
 *   demo_modes.h  which modes this build has
 *   fixtures*.c PKI, ISIM profiles, HSS records and settings files
 *               (library imsec_fixtures, fixtures.h)
 */
#ifndef IMSEC_APPS_DEMO_DEMO_H
#define IMSEC_APPS_DEMO_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "demo_modes.h"
#include "fixtures.h"
#include "imsec/crypto.h"
#include "imsec/host_net.h"

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
/* When `who` sent the messages that begin with `start` between t0 and
 * t1, oldest first (at most cap); how many. */
size_t ladder_times(const char *who, const char *start, int64_t t0, int64_t t1,
                    int64_t *at, size_t cap);
/* The flow of the last message `who` sent between t0 and t1 that begins
 * with `start`, or 0. */
uint64_t ladder_last_flow(const char *who, const char *start, int64_t t0,
                          int64_t t1);
/* Messages `who` received on its port `port` (0: any) between t0 and
 * t1. */
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
/* A daemon's log lines (not ladder lines): a mark before a scene acts,
 * then the first line after it that contains `needle`, waited for up to
 * timeout_ms (the reader thread brings them). 1 and the line, or 0. */
size_t child_log_mark(const char *name);
int child_log_wait(const char *name, size_t mark, const char *needle,
                   int timeout_ms, char *out, size_t cap);
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
/* Several daemons at once (none depends on another's start): each as
 * start_daemon. 0, or -1 when one did not come up (said on stderr). */
typedef struct daemon_spec {
  const char *name;
  size_t nports;
  argv_fn mk;
  void *ctx;
  uint16_t *ports;
} daemon_spec;
int start_daemons(daemon_spec *sp, size_t n);

/* ---------------------------------------------------------------- networks.c
 */

/* Another operator's registrar: challenges every REGISTER with its own
 * realm. */
typedef struct foreign {
  imsec_crypto *crypto;
  unsigned challenges;
} foreign;

/* The deployment modes (DESIGN.md §2), as `--mode` names them. */
enum {
  DEMO_M1 = 1u,
  DEMO_M2A = 2u,
  DEMO_M2B = 4u,
  DEMO_M3 = 8u,
  DEMO_DTLS = 16u,
  /* Not a deployment mode: the call scenes (over M1), `--mode call`. */
  DEMO_CALL = 32u,
  /* Not a deployment mode either: a softphone without an ISIM (SIP
   * Digest over TLS, over M1), `--mode digest`. */
  DEMO_DIGEST = 64u,
  DEMO_ALL = 127u,
};

typedef struct demo_mode {
  unsigned bit;
  const char *name;  /* "m1", "m2a", ... */
  const char *title; /* one line */
  int built;         /* this build has the mode (demo_modes.h) */
  const char *needs; /* what is missing when not built */
} demo_mode;

extern const demo_mode demo_modes[];
extern const size_t demo_n_modes;

typedef struct demo {
  imsec_crypto *crypto;
  unsigned modes; /* DEMO_* to run */
  uint16_t scscf_port, home[2], visited[2], outside[2], other[2], realm[2],
      foreign_port;
  /* The P-CSCFs of the other modes (UE port, core port): M2a (client
   * certificate required), M2b (dials UEs), M3 (configured and
   * AKA-derived PSKs), DTLS (and its DTLS port). */
  uint16_t m2a[2], m2b[2], m3[2], dtls[2], dtls_port;
  imsec_hostnet *foreign_run;
  foreign fx;
  char db[300];
  uint16_t scscf_tls_port; /* the S-CSCF's mutual-TLS core listener */
} demo;

/* `imsec hss add` for every subscriber (HSS SQN 0). */
int fill_hss(const char *db);
/* The S-CSCF and the P-CSCFs the modes in d->modes need. */
int start_networks(demo *d);

/* ---------------------------------------------------------------- relay.c */

typedef struct relay relay;

/* A datagram link 127.0.0.1:port -> 127.0.0.1:to that loses the first
 * `lose` datagrams of DTLS application data (record type 23) from the
 * client side, each noted on the ladder under `who`. NULL on failure. */
relay *relay_new(uint16_t to, unsigned lose, const char *who);
uint16_t relay_port(const relay *r);
/* Datagrams lost so far. */
unsigned relay_lost(relay *r);
void relay_del(relay *r);
/* Keep it until relays_finish (after the UEs using it are gone). */
void relay_keep(relay *r);
void relays_finish(void);

/* ---------------------------------------------------------------- scenes.c */

typedef struct result {
  unsigned mode;
  char scene[64];
  char expect[96];
  char got[1024];
  int ok;
} result;

#define DEMO_MAX_RESULTS 32
extern result demo_res[DEMO_MAX_RESULTS];
extern size_t demo_nres;

/* A row of the final table for the scene running now. */
result *result_add(const char *scene, const char *expect);
void print_table(void);

/* One scene: its mode, the rows it records in the final table, its
 * heading, what it runs (adding those rows). */
typedef struct demo_scene {
  unsigned mode;
  size_t rows;
  const char *title;
  void (*run)(demo *d);
} demo_scene;

/* Each mode's scenes (scenes_*.c), in the order they run. */
extern const demo_scene demo_scenes_m1[], demo_scenes_m2[], demo_scenes_m3[],
    demo_scenes_dtls[], demo_scenes_call[], demo_scenes_digest[];
extern const size_t demo_n_scenes_m1, demo_n_scenes_m2, demo_n_scenes_m3,
    demo_n_scenes_dtls, demo_n_scenes_call, demo_n_scenes_digest;

/* The scenes of the modes in d->modes, when this build has the UE
 * (include/imsec/ue.h). 0, or -1 when they could not run at all. */
int run_scenes(demo *d);
/* Milliseconds the scenes of each mode took (by demo_modes index), and
 * the de-registrations at the end. */
extern int64_t demo_mode_ms[8], demo_end_ms;
/* The rows the scenes of `modes` record (to judge a run). */
size_t scenes_rows(unsigned modes);
/* Print the ladder of what was sent since `t0` (after a short settle). */
void scene_ladder(int64_t t0);

#ifdef DEMO_HAVE_UE
#include <pthread.h>

#include "imsec/isim.h"
#include "imsec/ue.h"
#include "sqn_file.h"

/* ---------------------------------------------------------------- ue.c */

/* How a UE of a scene connects (mode M1 when all zero but port/host). */
typedef struct ue_opts {
  const char *profile;      /* ISIM profile file; NULL: the subscriber's */
  uint16_t port;            /* 127.0.0.1:port: the P-CSCF (or a relay) */
  const char *host;         /* the P-CSCF's name (SNI, trust decision) */
  int dtls;                 /* DTLS instead of TLS */
  const char *cert, *key;   /* its certificate chain and key (M2a: shown to
                               a P-CSCF that asks; M2b: served) */
  int listen;               /* M2b: listen on tls:127.0.0.1 with cert */
  int close_after_register; /* M2b */
  int psk;     /* M3 configured: the profile's PSK (psk_identity, psk_file) */
  int aka_psk; /* M3: derive the PSK after registering */
  imsec_time_ms reconnect_min_ms; /* 0: the demo's short back-off */
} ue_opts;

typedef struct demo_ue {
  char name[32];
  char profile[300]; /* its ISIM profile file (the SQN store writes it) */
  imsec_ue *ue;
  imsec_crypto *crypto;
  imsec_x509_anchors *anchors;
  imsec_isim_profile prof;
  imsec_hostnet *run;
  imsec_net_tls *tls;     /* its own client context (a certificate), or NULL */
  const char *cert, *key; /* its certificate chain and key, or NULL */
  /* The UE's store: its profile's SQN, written on a worker thread before
   * the RES leaves (sqn_file.h). */
  ue_sqn_file sqn;
  imsec_svc *svc_local, *svc;
  pthread_mutex_t mu;
  /* Snapshots taken on the UE's loop thread when the demo looks. */
  imsec_ue_status st;
  int msg_handle, msg_result;
  char inbox[512];
  char inbox_from[256];     /* P-Asserted-Identity, else From */
  char inbox_asserted[256]; /* P-Asserted-Identity ("" none) */
  int inbox_n;
  char contact[256]; /* the Contact it registers */
  /* SIP Digest as the UE saw it on the wire (ue.c, from its ladder): the
   * algorithms of the last 401's WWW-Authenticate headers in their order
   * ("SHA-256,MD5"), the algorithm, qop and username of its last
   * Authorization, whether the last 200 to a REGISTER carried
   * Authentication-Info with rspauth, and the REGISTERs it sent. */
  char www_algs[64];
  char auth_alg[32], auth_qop[16], auth_user[128];
  int auth_info_rspauth;
  unsigned registers_sent;
#if DEMO_HAVE_CALLS
  /* Its calls (imsec_ue_calls), live first, then ended. */
  imsec_ue_call_info calls[IMSEC_UE_MAX_CALLS];
  size_t ncalls;
  int call_rc; /* what the last ue_call / ue_hangup returned */
#endif
} demo_ue;

/* Make the UE `name` of subscriber `s` (not started). NULL on failure
 * (said on stderr). */
demo_ue *ue_new(const char *name, const imsec_fx_sub *s, const ue_opts *o);
void ue_del(demo_ue *u);
/* Keep the UE until the end: de-registered and freed by ues_finish. */
void ue_keep(demo_ue *u);
/* A kept UE by name, or NULL. */
demo_ue *ue_kept(const char *name);
void ues_finish(void);

/* Wait until the UE's state is final for a registration attempt. */
imsec_ue_state ue_wait_settled(demo_ue *u, int timeout_ms);
imsec_ue_status ue_status(demo_ue *u);
/* Send a MESSAGE; its final status within timeout_ms (0: none yet, < 0:
 * could not be sent). */
int ue_message(demo_ue *u, const char *to, const char *text, int timeout_ms);
/* Wait until its inbox has a message: 1 and the text and sender copied,
 * or 0. */
int ue_wait_inbox(demo_ue *u, int timeout_ms, char *text, size_t cap,
                  char *from, size_t fcap);
const char *trust_words(const imsec_ue_status *st);
/* Make, start and register a UE and judge: registered with this trust
 * verdict. The UE (NULL when it could not be made) is kept. */
demo_ue *scene_register(result *r, const char *name, const imsec_fx_sub *s,
                        const ue_opts *o, imsec_trust_verdict want);
#if DEMO_HAVE_CALLS
/* Call `to` (imsec_ue_call on the UE's loop): a handle > 0, or an
 * IMSEC_ERR_* (< 0). */
int ue_call(demo_ue *u, const char *to);
/* Hang the call up (imsec_ue_call_hangup): 0 or an IMSEC_ERR_*. */
int ue_hangup(demo_ue *u, int handle);
/* The call with this handle (handle > 0) or, handle 0, the one with this
 * Call-ID, as the UE has it now: 1 and *out filled, or 0. */
int ue_call_find(demo_ue *u, int handle, const char *call_id,
                 imsec_ue_call_info *out);
/* Wait up to timeout_ms until that call reaches `state` or a later one;
 * 1 (*out filled), or 0 (*out the last look, zero when never found). */
int ue_call_wait(demo_ue *u, int handle, const char *call_id,
                 imsec_ue_call_state state, int timeout_ms,
                 imsec_ue_call_info *out);
#endif
/* The registered UE `label` (kept as ue-LABEL; through the P-CSCF on
 * `port` named `host` and judged `want`), made and registered now unless
 * an earlier scene did. NULL, with why in *why, when it is not
 * registered (scenes_call.c). */
demo_ue *registered_ue(const char *label, uint16_t port, const char *host,
                       imsec_trust_verdict want, char *why, size_t cap);
#if DEMO_HAVE_CALLS
/* One call: `caller` calls `callee`'s IMPU, the callee answers, the caller
 * hangs up; judged from both UEs' call state and the ladder (INVITE, 180,
 * 200, ACK, BYE, 200; the callee reached on its registered flow; the
 * caller's P-CSCF `proxy` on the ladder took the INVITE) into r
 * (scenes_call.c). */
void call_scene(result *r, demo_ue *caller, demo_ue *callee, const char *proxy);
#endif
/* The UE's TLS context for M1 UEs (defer_verify, the IMS root). */
extern imsec_net_tls *g_ue_tls;
#endif

#endif
