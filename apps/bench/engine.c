/*
 * apps/bench/engine.c: one generator process of `imsec bench` (engine.h):
 * checks that the credentials fit the mode, takes this worker's share of
 * the UEs, builds the client TLS contexts the mode needs and runs the
 * mux element (mux.c) on the host's net port until the run ends.
 *
 * Contexts, as `imsec ue` makes them (apps/cmd_ue.c): the UEs' trust
 * decision is theirs (DESIGN.md §3), so every client context defers
 * verification (and has no CA file) and the host makes the peer facts
 * from --ca; `new` turns
 * resumption off, `resumed` and `open` leave it on (the context keeps the
 * newest session per server name); DTLS has its own context under the
 * name the UE's CONNECT gives (IMSEC_UE_DTLS_PROFILE); M2a one context per
 * UE used, with that UE's certificate (creds cert=: chain and key in one
 * PEM file), at most ENG_M2A_MAX per process; M3 needs no context of its
 * own (the PSK travels in the UE's CONNECT).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "imsec/crypto_ossl.h"
#include "imsec/host_net.h"
#include "imsec/svc.h"
#include "imsec/x509.h"

/* The UEs' SQN is kept per slot by the mux (it reads the PERSIST as it
 * goes out); the service only says "durable" (the credentials file is
 * not written: every run starts from its SQN). */
static int sqn_mem(void *arg, const uint8_t sqn_ms[6]) {
  (void)arg;
  (void)sqn_ms;
  return 0;
}

static int ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), t = strlen(tail);
  return n >= t && strcmp(s + n - t, tail) == 0;
}

/* The trust domain by default (opts.h --trust-domain): the last three
 * labels of a home domain in 3gppnetwork.org (TS 23.003 §13.2
 * ims.mncMNC.mccMCC.3gppnetwork.org), else the domain itself. */
static void default_trust_domain(const char *dom, char *out, size_t cap) {
  if (ends_with(dom, "3gppnetwork.org")) {
    const char *p = dom + strlen(dom);
    int dots = 0;
    while (p > dom) {
      if (p[-1] == '.' && ++dots == 3)
        break;
      p--;
    }
    snprintf(out, cap, "%s", p);
    return;
  }
  snprintf(out, cap, "%s", dom);
}

/* The UEs' anchors from --ca: every certificate of the file is a trust
 * anchor. The trust decision (policy trust-domain, TS 33.203 Annex F of
 * the CR) also wants the path to pass through the home operator's CA:
 * the file's second certificate when it has one (ROOT then OPERATOR CA),
 * else the root itself, so that a P-CSCF of any operator under the IMS
 * root passes (the bench measures the server, it does not guard a
 * subscriber). */
static int load_anchors(const char *file, imsec_x509_anchors **out) {
  imsec_x509_chain ch = {0};
  imsec_x509_anchors *a = NULL;
  int rc = imsec_x509_chain_load_pem(file, &ch);
  if (rc == 0)
    rc = imsec_x509_anchors_new(&a);
  if (rc == 0)
    rc = imsec_x509_anchors_add_root_file(a, file);
  if (rc == 0) {
    const imsec_bytes *home = &ch.certs[ch.n > 1 ? 1 : 0];
    rc = imsec_x509_anchors_set_home_ca(a, home->p, home->len);
  }
  imsec_x509_chain_free(&ch);
  if (rc != 0) {
    imsec_x509_anchors_del(a);
    return rc;
  }
  *out = a;
  return 0;
}

static uint64_t share_u64(uint64_t v, unsigned w, unsigned W) {
  return v / W + (w < v % W ? 1 : 0);
}

/* Do the credentials fit the mode? One line in err when not. */
static int creds_fit(const bench_opts *o, const bench_creds *cr, const eng *e,
                     char *err, size_t errcap) {
  if (o->mode == BENCH_MODE_TCP && cr->scheme != IMSEC_HSS_SCHEME_DIGEST) {
    snprintf(err, errcap,
             "mode tcp needs SIP Digest credentials (bench provision "
             "--scheme digest)");
    return -1;
  }
  for (uint32_t i = 0; i < e->n_slots; i++) {
    const bench_cred *c = &cr->v[e->s[i].cred];
    if (o->mode == BENCH_MODE_M3 && c->psk_len == 0) {
      snprintf(err, errcap, "mode m3: %s has no psk= in the credentials",
               c->impi);
      return -1;
    }
    if (o->mode == BENCH_MODE_M2A && (!c->cert || !*c->cert)) {
      snprintf(err, errcap, "mode m2a: %s has no cert= in the credentials",
               c->impi);
      return -1;
    }
    if (cr->scheme == IMSEC_HSS_SCHEME_DIGEST &&
        (!c->password || strlen(c->password) > IMSEC_UE_PASSWORD_MAX)) {
      snprintf(err, errcap, "%s: no usable password", c->impi);
      return -1;
    }
  }
  return 0;
}

/* The slots the run uses (the units' UEs): the M2a contexts are made for
 * these only. */
static uint32_t used_slots(const eng *e) {
  return e->n_units * e->g;
}

/* The share, the units and what the run needs; 0 or -1 with err. */
static int eng_setup(eng *e, const bench_opts *o, const bench_creds *cr,
                     unsigned w, unsigned W, int64_t t0_ms, char *err,
                     size_t errcap) {
  uint64_t ues = cr->n;
  if (o->ues && o->ues < ues)
    ues = o->ues;
  /* hold -n N: the first N UEs. */
  if (o->hold && o->count && o->count < ues)
    ues = o->count;
  uint64_t mine = share_u64(ues, w, W);
  if (mine > UINT32_MAX / 2) {
    snprintf(err, errcap, "too many UEs for one process");
    return -1;
  }
  e->n_slots = (uint32_t)mine;
  int pairs =
      !o->hold && (o->weight[BENCH_SC_MESSAGE] || o->weight[BENCH_SC_CALL]);
  e->g = pairs ? 2 : 1;
  if (pairs && W == 1 && e->n_slots < 2) {
    snprintf(err, errcap, "MESSAGE and call need at least 2 UEs");
    return -1;
  }
  e->s = calloc(e->n_slots ? e->n_slots : 1, sizeof *e->s);
  if (!e->s) {
    snprintf(err, errcap, "out of memory");
    return -1;
  }
  for (uint32_t j = 0; j < e->n_slots; j++) {
    e->s[j].cred = w + j * W;
    memcpy(e->s[j].sqn, cr->v[e->s[j].cred].sqn, 6);
  }
  if (creds_fit(o, cr, e, err, errcap) != 0)
    return -1;

  /* This worker's part of the load. */
  uint64_t c = o->concurrency;
  if (!c && o->rate <= 0)
    c = 10;
  e->conc = (uint32_t)share_u64(c, w, W);
  e->rate = e->conc ? 0 : o->rate / W;
  e->count = o->hold ? 0 : share_u64(o->count, w, W);
  double dur = o->duration_s > 0 ? o->duration_s : 10;
  e->end_ms = t0_ms + (int64_t)(dur * 1000.0);

  /* The units in use: a registration on a new (or resumed) connection
   * needs no warm-up, so every UE takes turns; MESSAGEs, calls and
   * re-REGISTERs on open connections need registered UEs: every UE of
   * --ues when it is given, else only as many as the load keeps busy
   * (closed loop: twice the operations in flight; open loop: two seconds
   * of the rate; at least 256, so that no IMPI re-registers so often
   * that a server's per-IMPI limits would measure themselves). */
  uint32_t units = e->n_slots / e->g;
  /* A share of nothing (fewer operations or in flight than workers):
   * this worker has no part in the run. */
  if ((!o->hold && o->count && !e->count) || (o->rate <= 0 && !e->conc))
    units = 0;
  int warm = !o->hold && (pairs || o->conn == BENCH_CONN_OPEN);
  if (warm && !o->ues) {
    uint64_t need =
        e->conc ? 2 * (uint64_t)e->conc : (uint64_t)(e->rate * 2.0) + 16;
    if (need < 256)
      need = 256;
    if (need < units)
      units = (uint32_t)need;
  }
  e->n_units = units;
  if (o->mode == BENCH_MODE_M2A && used_slots(e) > ENG_M2A_MAX) {
    snprintf(err, errcap,
             "mode m2a: %u UEs in one process, at most %d (a TLS context "
             "each): fewer --ues or more --procs",
             used_slots(e), ENG_M2A_MAX);
    return -1;
  }
  e->u = calloc(units ? units : 1, sizeof *e->u);
  e->ring = calloc(units ? units : 1, sizeof *e->ring);
  if (!e->u || !e->ring) {
    snprintf(err, errcap, "out of memory");
    return -1;
  }
  e->fl_head = e->fl_tail = ENG_NIL;
  for (uint32_t u = 0; u < units; u++) {
    e->u[u].prev = e->u[u].next = ENG_NIL;
    e->u[u].in_ring = 1;
    e->ring[u] = u;
  }
  e->ring_n = units;
  e->phase = warm ? ENG_WARM : ENG_RUN;
  imsec_map_init_u64(&e->flows);

  snprintf(e->home, sizeof e->home, "%s", cr->domain);
  if (o->server_name[0])
    snprintf(e->server_name, sizeof e->server_name, "%s", o->server_name);
  else
    snprintf(e->server_name, sizeof e->server_name, "pcscf.%s", cr->domain);
  if (o->trust_domain[0])
    snprintf(e->trust_domain, sizeof e->trust_domain, "%s", o->trust_domain);
  else
    default_trust_domain(cr->domain, e->trust_domain, sizeof e->trust_domain);
  return 0;
}

static void eng_free(eng *e) {
  if (e->s)
    for (uint32_t i = 0; i < e->n_slots; i++)
      imsec_ue_del(e->s[i].ue);
  free(e->s);
  free(e->u);
  free(e->ring);
  imsec_map_free(&e->flows);
  imsec_crypto_del(e->crypto);
}

/* The M2a contexts: one per UE of the share, profile "uI" (mux.c names
 * it in the UE's CONNECT). */
typedef struct m2a_ctx {
  imsec_net_tls_config *cfg;
  imsec_hostnet_tls_profile *prof;
  char (*name)[16];
} m2a_ctx;

static void m2a_free(m2a_ctx *m) {
  free(m->cfg);
  free(m->prof);
  free(m->name);
}

static int m2a_make(m2a_ctx *m, const eng *e,
                    const imsec_net_tls_config *base) {
  size_t n = used_slots(e) ? used_slots(e) : 1;
  m->cfg = calloc(n, sizeof *m->cfg);
  m->prof = calloc(n, sizeof *m->prof);
  m->name = calloc(n, sizeof *m->name);
  if (!m->cfg || !m->prof || !m->name)
    return -1;
  for (uint32_t i = 0; i < used_slots(e); i++) {
    const char *pem = e->cr->v[e->s[i].cred].cert;
    snprintf(m->name[i], sizeof m->name[i], "u%u", i);
    m->cfg[i] = *base;
    m->cfg[i].cert_file = pem;
    m->cfg[i].key_file = pem;
    m->prof[i] =
        (imsec_hostnet_tls_profile){.name = m->name[i], .tls_cfg = &m->cfg[i]};
  }
  return 0;
}

int bench_engine_run(const bench_opts *opts, const bench_creds *creds,
                     unsigned worker, unsigned workers, int64_t t0_ms,
                     const bench_sink *sink, char *err, size_t errcap) {
  if (!opts || !creds || !sink || workers == 0 || worker >= workers) {
    snprintf(err, errcap, "bad worker arguments");
    return -1;
  }
  eng *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(err, errcap, "out of memory");
    return -1;
  }
  e->o = opts;
  e->cr = creds;
  e->sink = sink;
  e->t0_ms = t0_ms;
  int rv = -1;
  imsec_x509_anchors *anchors = NULL;
  imsec_svc *svc = NULL;
  imsec_hostnet *r = NULL;
  m2a_ctx m2a = {0};
  if (eng_setup(e, opts, creds, worker, workers, t0_ms, err, errcap) != 0)
    goto out;
  if (e->n_units == 0) {
    /* Nothing for this worker (fewer UEs than workers). */
    if (sink->tick)
      sink->tick(sink->arg, 0, 0, 0, 1);
    rv = 0;
    goto out;
  }
  int rc = imsec_crypto_ossl_new(&e->crypto);
  if (rc != 0) {
    snprintf(err, errcap, "crypto: %s", imsec_strerror(rc));
    goto out;
  }
  int tls = opts->mode != BENCH_MODE_TCP;
  if (tls) {
    if (!opts->ca[0]) {
      snprintf(err, errcap, "--ca: the trust anchors are needed for TLS");
      goto out;
    }
    if ((rc = load_anchors(opts->ca, &anchors)) != 0) {
      snprintf(err, errcap, "%s: %s", opts->ca, imsec_strerror(rc));
      goto out;
    }
  }
  imsec_svc_local_config lc = {.ue_sqn = sqn_mem};
  if ((rc = imsec_svc_local_new(&svc, &lc)) != 0) {
    snprintf(err, errcap, "service: %s", imsec_strerror(rc));
    goto out;
  }

  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  /* No CA file in the contexts: the UEs decide on the peer facts the host
   * makes from the chain against --ca (the anchors above), so a second
   * verification inside the handshake would only cost CPU, which is the
   * generator's scarcest resource. */
  tc.defer_verify = 1;
  tc.no_resume = opts->conn == BENCH_CONN_NEW;
  imsec_net_tls_config dtc = tc;
  dtc.dtls = 1;
  imsec_hostnet_tls_profile dprof = {.name = IMSEC_UE_DTLS_PROFILE,
                                     .tls_cfg = &dtc,
                                     .defer_verify = 1,
                                     .no_resume = tc.no_resume,
                                     .dtls = 1};

  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "bench";
  cfg.ops = &bench_mux_ops;
  cfg.self = e;
  cfg.svc = svc;
  if (tls && opts->mode != BENCH_MODE_DTLS)
    cfg.client_tls_cfg = &tc;
  if (opts->mode == BENCH_MODE_DTLS) {
    cfg.tls_profiles = &dprof;
    cfg.n_tls_profiles = 1;
  }
  if (opts->mode == BENCH_MODE_M2A) {
    if (m2a_make(&m2a, e, &tc) != 0) {
      snprintf(err, errcap, "out of memory");
      goto out;
    }
    cfg.tls_profiles = m2a.prof;
    cfg.n_tls_profiles = used_slots(e);
  }
  cfg.anchors = anchors;
  cfg.log_level = IMSEC_LOG_ERROR;
  cfg.net_log_level = IMSEC_NET_LOG_ERROR;
  /* Every UE its own connection (no RFC 5923 reuse). */
  cfg.no_reuse = 1;
  cfg.signals = 1;
  cfg.sources = opts->n_sources ? opts->sources : NULL;
  cfg.n_sources = opts->n_sources;
  {
    uint32_t hs = opts->timeout_ms ? opts->timeout_ms : 10000;
    cfg.limits.handshake_timeout_ms = hs < 10000 ? hs : 10000;
  }
  char why[256] = "";
  if ((rc = imsec_hostnet_new(&r, &cfg, why, sizeof why)) != 0) {
    snprintf(err, errcap, "%s", why[0] ? why : imsec_strerror(rc));
    goto out;
  }
  /* Made from their configs: the M2a configs are no longer needed. */
  m2a_free(&m2a);
  memset(&m2a, 0, sizeof m2a);
  if ((rc = imsec_hostnet_start(r)) != 0) {
    snprintf(err, errcap, "cannot start the loop: %s", imsec_strerror(rc));
    goto out;
  }
  rv = 0;
  if (imsec_hostnet_wait(r, -1) != 0)
    imsec_hostnet_stop(r);
  if (!atomic_load(&e->done)) {
    /* A signal (or the port stopping): end as the time would (a hold
     * de-registers first), bounded by the operation timeout. */
    if (imsec_hostnet_call_wait(r, eng_stop_fn, NULL, 2000) == 0) {
      /* The loop ends it (a hold's de-registrations bound themselves:
       * they end when none progressed for an operation's timeout); this
       * bound only guards against a loop that no longer runs. */
      int64_t until = imsec_hostnet_now() + 600000;
      while (!atomic_load(&e->done) && imsec_hostnet_now() < until) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
    }
  }
  /* Retire the UEs on their loop (finishing the run if it was not), so
   * the flows close before the port goes. */
  if (imsec_hostnet_call_wait(r, eng_retire_fn, NULL, 2000) != 0 &&
      !atomic_load(&e->done) && sink->tick) {
    /* The loop is gone: the final tick from here. */
    atomic_store(&e->done, 1);
    sink->tick(sink->arg, e->in_flight, e->registered,
               (uint32_t)((imsec_hostnet_now() - t0_ms) / 1000), 1);
  }
out:
  imsec_hostnet_del(r);
  m2a_free(&m2a);
  imsec_svc_del(svc);
  imsec_x509_anchors_del(anchors);
  eng_free(e);
  free(e);
  return rv;
}
