/* imsec demo: the networks (demo.h). The home S-CSCF with its HSS and the
 * P-CSCFs (home, visited, three rogues) are real `imsec scscf` / `imsec
 * pcscf` processes on 127.0.0.1 with the fixtures' settings; another
 * operator's S-CSCF is a tiny element in this process. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "demo.h"
#include "imsec/sip.h"

static child *hss_add(const char *db, imsec_fx_sub *s) {
  imsec_fx_hss_add a;
  if (imsec_fx_hss_add_argv(s, db, &a) != 0)
    return NULL;
  char name[32];
  snprintf(name, sizeof name, "hss-add-%s", s->label);
  child *c = child_spawn(name, a.argv);
  imsec_fx_hss_add_wipe(&a);
  return c;
}

static int hss_added(child *c) {
  int st = child_wait_exit(c, DEMO_WAIT_MS);
  if (st == 0)
    return 0;
  fprintf(stderr, "imsec demo: imsec hss add failed (status %d):\n", st);
  usleep(20000);
  child_report(c);
  return -1;
}

int fill_hss(const char *db) {
  /* The first makes the database; the others then add side by side (the
   * store waits for the write lock). */
  child *c[IMSEC_FX_N_SUBS] = {0};
  if (!(c[0] = hss_add(db, &demo_fx.subs[0])) || hss_added(c[0]) != 0)
    return -1;
  /* The softphone's subscriber only in a build with SIP Digest (`imsec hss
   * add --scheme digest`). */
  for (size_t i = 1; i < IMSEC_FX_N_SUBS; i++)
    if ((DEMO_HAVE_DIGEST || !demo_fx.subs[i].digest) &&
        !(c[i] = hss_add(db, &demo_fx.subs[i])))
      return -1;
  int rv = 0;
  for (size_t i = 1; i < IMSEC_FX_N_SUBS; i++)
    if (c[i] && hss_added(c[i]) != 0)
      rv = -1;
  return rv;
}

/* ------------------------------------------------------------ daemons */

static int copy_argv(char *const *from, char **argv, size_t cap) {
  size_t i = 0;
  for (; from[i]; i++) {
    if (i + 1 >= cap)
      return -1;
    argv[i] = from[i];
  }
  argv[i] = NULL;
  return 0;
}

static int scscf_argv(void *ctx, const uint16_t *ports, char **argv,
                      size_t cap) {
  imsec_fx_scscf *c = ctx;
  c->port = ports[0];
  /* Its mutual-TLS core listener is bound with the TCP listener, so it is
   * up when that one is. */
  c->tls_port = free_port();
  if (imsec_fx_scscf_argv(&demo_fx, c) != 0)
    return -1;
  return copy_argv(c->argv, argv, cap);
}

/* A P-CSCF's settings; its DTLS port (a UDP port the child binds with its
 * TLS listener, so it is up when that one is) when it has one. */
typedef struct dtls_ctx {
  imsec_fx_pcscf *pc;
  int want;
} dtls_ctx;

static uint16_t free_udp_port(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  uint16_t port = 0;
  if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(s, (struct sockaddr *)&a, &al) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

static int pcscf_argv(void *ctx, const uint16_t *ports, char **argv,
                      size_t cap) {
  dtls_ctx *dc = ctx;
  imsec_fx_pcscf *c = dc->pc;
  c->ue_port = ports[0];
  c->core_port = ports[1];
  c->dtls_port = dc->want ? free_udp_port() : 0;
  if (imsec_fx_pcscf_config(&demo_fx, c) != 0)
    return -1;
  return copy_argv(c->argv, argv, cap);
}

/* ------------------------------------------- another operator's S-CSCF */

/* A registrar of operator 002 that challenges every REGISTER with its own
 * realm: behind a P-CSCF that routes the UE's home domain there, the UE
 * sees a realm that is not its home network's (realm-mismatch). */
static int foreign_up(void *s, uint64_t flow, uint64_t tag,
                      const imsec_flow_info *info, imsec_time_ms now,
                      imsec_out *out) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)info;
  (void)now;
  (void)out;
  return 0;
}

static void foreign_msg(void *self, uint64_t flow, const uint8_t *msg,
                        size_t len, imsec_time_ms now, imsec_out *out) {
  foreign *fx = self;
  (void)now;
  char *buf = malloc(len + 1);
  if (!buf)
    return;
  memcpy(buf, msg, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, buf, len, 1) == 0 && m.is_request &&
      imsec_str_ieq_c(m.method, "REGISTER")) {
    uint8_t nonce[32];
    char b64[64], www[256], resp[8192];
    if (imsec_random(fx->crypto, nonce, sizeof nonce) == 0 &&
        imsec_base64_encode(nonce, sizeof nonce, b64, sizeof b64) > 0) {
      snprintf(www, sizeof www,
               "Digest realm=\"%s\", nonce=\"%s\", algorithm=AKAv1-MD5, "
               "qop=\"auth\"",
               IMSEC_FX_VISITED, b64);
      imsec_sip_builder b;
      imsec_sip_build_init(&b, resp, sizeof resp);
      imsec_sip_build_response(&b, &m, 401, IMSEC_STR_LIT("Unauthorized"),
                               IMSEC_STR_LIT("fx1"));
      imsec_sip_build_header(&b, IMSEC_STR_LIT("WWW-Authenticate"),
                             imsec_str_c(www));
      int n = imsec_sip_build_finish(&b, IMSEC_STR_LIT(""));
      if (n > 0) {
        (void)imsec_out_send(out, flow, resp, (size_t)n);
        fx->challenges++;
      }
    }
  }
  imsec_sip_msg_free(&m);
  free(buf);
}

static void foreign_down(void *s, uint64_t flow, uint64_t tag, int reason,
                         imsec_time_ms now, imsec_out *out) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)reason;
  (void)now;
  (void)out;
}

static void foreign_ladder(void *user, const imsec_hostnet_ladder_ev *ev) {
  (void)user;
  ladder_add_ev("scscf-002", ev);
}

static const imsec_elem_ops foreign_ops = {
    .kind = "scscf-002",
    .on_flow_up = foreign_up,
    .on_message = foreign_msg,
    .on_flow_down = foreign_down,
};

/* ---------------------------------------------------------------- start */

static int start_foreign(demo *d) {
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = IMSEC_TP_TCP;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  imsec_hostnet_config fc;
  memset(&fc, 0, sizeof fc);
  fc.name = "scscf-002";
  fc.ops = &foreign_ops;
  fc.self = &d->fx;
  fc.listeners = &l;
  fc.n_listeners = 1;
  fc.log_level = IMSEC_LOG_ERROR;
  fc.ladder_fn = foreign_ladder;
  d->fx.crypto = d->crypto;
  char err[256];
  if (imsec_hostnet_new(&d->foreign_run, &fc, err, sizeof err) != 0 ||
      imsec_hostnet_start(d->foreign_run) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    return -1;
  }
  d->foreign_port = imsec_hostnet_port(d->foreign_run, 0);
  ladder_port_note(d->foreign_port, "scscf-002");
  return 0;
}

int start_networks(demo *d) {
  imsec_fx_scscf sc;
  memset(&sc, 0, sizeof sc);
  sc.db = d->db;
  demo_say("  starting the home S-CSCF with its HSS (%s)\n", IMSEC_FX_HOME);
  if (!start_daemon("scscf", 1, scscf_argv, &sc, &d->scscf_port))
    return -1;
  d->scscf_tls_port = sc.tls_port;
  ladder_port_note(d->scscf_tls_port, "scscf");
  /* The other operator's registrar, in this process (mode M1). */
  if ((d->modes & DEMO_M1) && start_foreign(d) != 0)
    return -1;
  /* The home and visited P-CSCFs reach the S-CSCF over mutual TLS; the
   * rogues keep plain TCP (the S-CSCF takes it from loopback), so the UE
   * meets them and refuses them itself. The P-CSCFs of the other modes are
   * the home operator's, with its certificate. Each starts only when a
   * mode that runs needs it. */
  struct {
    unsigned modes;
    const char *name, *host, *visited, *what;
    uint16_t *ports;
    uint16_t route;
    const char *mw;
    const char *client_cert, *psk_file;
    int dial_ue, aka_psk, dtls;
  } ps[] = {
      {DEMO_M1 | DEMO_M2B | DEMO_CALL | DEMO_DIGEST, "pcscf-home",
       IMSEC_FX_PCSCF_HOME, NULL, "the home P-CSCF", d->home, d->scscf_tls_port,
       IMSEC_FX_PCSCF_HOME_MW, NULL, NULL, 0, 0, 0},
      {DEMO_M1 | DEMO_CALL, "pcscf-visited", IMSEC_FX_PCSCF_VISITED,
       "Visited Network 001-02",
       "the visited network's P-CSCF (roaming partner)", d->visited,
       d->scscf_tls_port, IMSEC_FX_PCSCF_VISITED_MW, NULL, NULL, 0, 0, 0},
      {DEMO_M1, "rogue-outside", IMSEC_FX_PCSCF_OUTSIDE, NULL,
       "rogue P-CSCF named outside the trust domain", d->outside, d->scscf_port,
       NULL, NULL, NULL, 0, 0, 0},
      {DEMO_M1, "rogue-other", IMSEC_FX_PCSCF_OTHER, NULL,
       "rogue P-CSCF certified by a non-partner operator", d->other,
       d->scscf_port, NULL, NULL, NULL, 0, 0, 0},
      {DEMO_M1, "rogue-realm", IMSEC_FX_PCSCF_REALM, "Visited Network 001-02",
       "rogue P-CSCF routing to another operator's S-CSCF", d->realm,
       d->foreign_port, NULL, NULL, NULL, 0, 0, 0},
      {DEMO_M2A, "pcscf-m2a", IMSEC_FX_PCSCF_HOME, NULL,
       "the home P-CSCF for M2a (client_cert: require)", d->m2a,
       d->scscf_tls_port, IMSEC_FX_PCSCF_HOME_MW, "require", NULL, 0, 0, 0},
      {DEMO_M2B, "pcscf-m2b", IMSEC_FX_PCSCF_HOME, NULL,
       "the home P-CSCF for M2b (dial_ue: true)", d->m2b, d->scscf_tls_port,
       IMSEC_FX_PCSCF_HOME_MW, NULL, NULL, 1, 0, 0},
      {DEMO_M3, "pcscf-m3", IMSEC_FX_PCSCF_HOME, NULL,
       "the home P-CSCF for M3 (psk_file, aka_psk: true)", d->m3,
       d->scscf_tls_port, IMSEC_FX_PCSCF_HOME_MW, NULL, IMSEC_FX_PCSCF_PSK, 0,
       1, 0},
      {DEMO_DTLS, "pcscf-dtls", IMSEC_FX_PCSCF_HOME, NULL,
       "the home P-CSCF for DTLS (listen tls: and dtls:)", d->dtls,
       d->scscf_tls_port, IMSEC_FX_PCSCF_HOME_MW, NULL, NULL, 0, 0, 1},
  };
  enum { NPS = sizeof ps / sizeof ps[0] };
  imsec_fx_pcscf pc[NPS];
  dtls_ctx dc[NPS];
  daemon_spec sp[NPS];
  size_t n = 0, dtls_at = NPS;
  for (size_t i = 0; i < NPS; i++) {
    if (!(ps[i].modes & d->modes))
      continue;
    imsec_fx_pcscf *c = &pc[n];
    memset(c, 0, sizeof *c);
    c->name = ps[i].name;
    c->host = ps[i].host;
    c->visited = ps[i].visited;
    c->route_port = ps[i].route;
    c->mw = ps[i].mw;
    c->client_cert = ps[i].client_cert;
    c->dial_ue = ps[i].dial_ue;
    c->psk_file = ps[i].psk_file;
    c->aka_psk = ps[i].aka_psk;
    demo_say("  starting %s (%s)%s%s\n", ps[i].what, ps[i].host,
             ps[i].mw ? "; Mw over mutual TLS as " : "",
             ps[i].mw ? ps[i].mw : "");
    dc[n] = (dtls_ctx){.pc = c, .want = ps[i].dtls};
    sp[n] = (daemon_spec){ps[i].name, 2, pcscf_argv, &dc[n], ps[i].ports};
    if (ps[i].dtls)
      dtls_at = n;
    n++;
  }
  /* They start side by side: each needs only the S-CSCFs. */
  if (start_daemons(sp, n) != 0)
    return -1;
  if (dtls_at < NPS) {
    d->dtls_port = pc[dtls_at].dtls_port;
    ladder_port_note(d->dtls_port, pc[dtls_at].name);
  }
  return 0;
}
