/* imsec demo: the message ladder (demo.h). Children print machine-readable
 * ladder lines (IMSEC_LADDER=1, include/imsec/host_net.h); in-process elements
 * hand theirs to a callback. Both end in one table, read per scene. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define MAX_LADDER 4096

typedef struct ladder_ent {
  int64_t at;
  char who[32];
  int out;
  uint64_t flow;
  uint16_t local_port, peer_port;
  char line[160];
} ladder_ent;

static pthread_mutex_t g_lad_mu = PTHREAD_MUTEX_INITIALIZER;
static ladder_ent g_lad[MAX_LADDER];
static size_t g_nlad;

/* Port -> who, for naming the other end of a ladder line. */
typedef struct port_name {
  uint16_t port;
  char who[32];
} port_name;
static port_name g_ports[512];
static size_t g_nports;

static void port_note_locked(uint16_t port, const char *who) {
  for (size_t i = 0; i < g_nports; i++)
    if (g_ports[i].port == port)
      return;
  if (g_nports < sizeof g_ports / sizeof g_ports[0]) {
    g_ports[g_nports].port = port;
    snprintf(g_ports[g_nports].who, sizeof g_ports[0].who, "%s", who);
    g_nports++;
  }
}

void ladder_port_note(uint16_t port, const char *who) {
  pthread_mutex_lock(&g_lad_mu);
  port_note_locked(port, who);
  pthread_mutex_unlock(&g_lad_mu);
}

static const char *port_who(uint16_t port) {
  for (size_t i = 0; i < g_nports; i++)
    if (g_ports[i].port == port)
      return g_ports[i].who;
  return "?";
}

static uint16_t addr_port(const char *text) {
  const char *c = strrchr(text, ':');
  return c ? (uint16_t)atoi(c + 1) : 0;
}

void ladder_add(int64_t at, const char *who, int out, uint64_t flow,
                uint16_t lport, uint16_t pport, const char *line, size_t len) {
  pthread_mutex_lock(&g_lad_mu);
  if (g_nlad < MAX_LADDER) {
    ladder_ent *e = &g_lad[g_nlad++];
    e->at = at;
    snprintf(e->who, sizeof e->who, "%s", who);
    e->out = out;
    e->flow = flow;
    e->local_port = lport;
    e->peer_port = pport;
    if (len >= sizeof e->line)
      len = sizeof e->line - 1;
    memcpy(e->line, line, len);
    e->line[len] = 0;
    port_note_locked(lport, who);
  }
  pthread_mutex_unlock(&g_lad_mu);
}

void ladder_add_ev(const char *who, const imsec_hostnet_ladder_ev *ev) {
  size_t first = 0;
  while (first < ev->len && ev->msg[first] != '\r' && ev->msg[first] != '\n')
    first++;
  ladder_add(ev->now, who, ev->out, ev->flow, ev->local ? ev->local->port : 0,
             ev->peer ? ev->peer->port : 0, (const char *)ev->msg, first);
}

/* "imsec-ladder MONO NAME out|in FLOW LOCAL PEER START-LINE" from a child
 * (whose name we know better than it does). */
int ladder_parse(const char *who, const char *line) {
  long long at;
  char name[64], dir[8], local[300], peer[300];
  unsigned long long flow;
  int off = 0;
  if (sscanf(line, "imsec-ladder %lld %63s %7s %llu %299s %299s %n", &at, name,
             dir, &flow, local, peer, &off) != 6 ||
      off == 0)
    return 0;
  const char *rest = line + off;
  ladder_add(at, who, strcmp(dir, "out") == 0, flow, addr_port(local),
             addr_port(peer), rest, strlen(rest));
  return 1;
}

static int lad_cmp(const void *a, const void *b) {
  const ladder_ent *x = a, *y = b;
  return x->at < y->at ? -1 : x->at > y->at;
}

void ladder_print(int64_t t0, int64_t t1) {
  pthread_mutex_lock(&g_lad_mu);
  qsort(g_lad, g_nlad, sizeof g_lad[0], lad_cmp);
  int any = 0;
  for (size_t i = 0; i < g_nlad; i++) {
    const ladder_ent *e = &g_lad[i];
    if (!e->out || e->at < t0 || e->at > t1)
      continue;
    demo_say("    %6.0f ms  %-15s -> %-15s %s\n", (double)(e->at - t0), e->who,
             port_who(e->peer_port), e->line);
    any = 1;
  }
  if (!any)
    demo_say("    (no messages)\n");
  pthread_mutex_unlock(&g_lad_mu);
}

size_t ladder_count(const char *who, const char *start, int64_t t0, int64_t t1,
                    size_t *flows) {
  uint64_t seen[64];
  size_t nseen = 0, n = 0;
  pthread_mutex_lock(&g_lad_mu);
  for (size_t i = 0; i < g_nlad; i++) {
    const ladder_ent *e = &g_lad[i];
    if (!e->out || e->at < t0 || e->at > t1 || strcmp(e->who, who) != 0 ||
        strncmp(e->line, start, strlen(start)) != 0)
      continue;
    n++;
    size_t k = 0;
    while (k < nseen && seen[k] != e->flow)
      k++;
    if (k == nseen && nseen < 64)
      seen[nseen++] = e->flow;
  }
  pthread_mutex_unlock(&g_lad_mu);
  if (flows)
    *flows = nseen;
  return n;
}

/* A child's "in" ladder lines: what a rogue P-CSCF got on its UE-facing
 * listener. */
size_t ladder_received(const char *who, uint16_t port, int64_t t0, int64_t t1) {
  size_t n = 0;
  pthread_mutex_lock(&g_lad_mu);
  for (size_t i = 0; i < g_nlad; i++) {
    const ladder_ent *e = &g_lad[i];
    if (!e->out && e->at >= t0 && e->at <= t1 &&
        (port == 0 || e->local_port == port) && strcmp(e->who, who) == 0)
      n++;
  }
  pthread_mutex_unlock(&g_lad_mu);
  return n;
}

size_t ladder_times(const char *who, const char *start, int64_t t0, int64_t t1,
                    int64_t *at, size_t cap) {
  size_t n = 0;
  pthread_mutex_lock(&g_lad_mu);
  qsort(g_lad, g_nlad, sizeof g_lad[0], lad_cmp);
  for (size_t i = 0; i < g_nlad && n < cap; i++) {
    const ladder_ent *e = &g_lad[i];
    if (e->out && e->at >= t0 && e->at <= t1 && strcmp(e->who, who) == 0 &&
        strncmp(e->line, start, strlen(start)) == 0)
      at[n++] = e->at;
  }
  pthread_mutex_unlock(&g_lad_mu);
  return n;
}

uint64_t ladder_last_flow(const char *who, const char *start, int64_t t0,
                          int64_t t1) {
  uint64_t flow = 0;
  pthread_mutex_lock(&g_lad_mu);
  qsort(g_lad, g_nlad, sizeof g_lad[0], lad_cmp);
  for (size_t i = 0; i < g_nlad; i++) {
    const ladder_ent *e = &g_lad[i];
    if (e->out && e->at >= t0 && e->at <= t1 && strcmp(e->who, who) == 0 &&
        strncmp(e->line, start, strlen(start)) == 0)
      flow = e->flow;
  }
  pthread_mutex_unlock(&g_lad_mu);
  return flow;
}
