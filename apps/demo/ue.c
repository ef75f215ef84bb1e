/* imsec demo: the UEs (demo.h). They run in this process through the
 * host's net port (one loop thread each), so every outcome is read from
 * the UE's own state, not from text. A scene says how a UE connects with
 * ue_opts (the deployment mode); everything else is its ISIM profile. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "demo.h"

#ifdef DEMO_HAVE_UE
#include "imsec/crypto_ossl.h"
#include "imsec/net.h"
#include "imsec/svc.h"
#include "imsec/trust.h"

imsec_net_tls *g_ue_tls;

static void ue_snapshot(demo_ue *u) {
  pthread_mutex_lock(&u->mu);
  imsec_ue_get_status(u->ue, &u->st);
  snprintf(u->contact, sizeof u->contact, "%s", imsec_ue_contact(u->ue));
  if (u->msg_handle > 0)
    u->msg_result = imsec_ue_message_result(u->ue, u->msg_handle);
  imsec_ue_message m;
  while (imsec_ue_inbox_pop(u->ue, &m) == 1) {
    snprintf(u->inbox, sizeof u->inbox, "%.*s", (int)m.len,
             (const char *)m.body);
    snprintf(u->inbox_from, sizeof u->inbox_from, "%s",
             m.asserted[0] ? m.asserted : m.from);
    snprintf(u->inbox_asserted, sizeof u->inbox_asserted, "%s", m.asserted);
    u->inbox_n++;
    imsec_ue_message_free(&m);
  }
#if DEMO_HAVE_CALLS
  int h[IMSEC_UE_MAX_CALLS];
  size_t n = imsec_ue_calls(u->ue, h, IMSEC_UE_MAX_CALLS);
  u->ncalls = 0;
  for (size_t i = 0; i < n && i < IMSEC_UE_MAX_CALLS; i++)
    if (imsec_ue_call_get(u->ue, h[i], &u->calls[u->ncalls]) == 0)
      u->ncalls++;
#endif
  pthread_mutex_unlock(&u->mu);
}

/* On the UE's loop thread, called in by the demo's thread. */
static void ue_snapshot_call(void *self, imsec_time_ms now, imsec_out *out,
                             void *arg) {
  (void)self;
  (void)now;
  (void)out;
  ue_snapshot(arg);
}

/* Take a snapshot now (a loop that does not take the call within a second
 * leaves the last one in place). */
static void ue_look(demo_ue *u) {
  if (!u->run ||
      imsec_hostnet_call_wait(u->run, ue_snapshot_call, u, 1000) != 0)
    return;
}

/* ------------------------------------------------ SIP Digest on the wire */

/* The value of parameter `name` (case-insensitive) in the credentials or
 * challenge [v, v + n), quotes dropped, into out; "" when absent. */
static void auth_param(const char *v, size_t n, const char *name, char *out,
                       size_t cap) {
  size_t ln = strlen(name);
  out[0] = 0;
  for (size_t i = 0; i + ln < n; i++) {
    if ((i > 0 && v[i - 1] != ' ' && v[i - 1] != ',' && v[i - 1] != '\t') ||
        strncasecmp(v + i, name, ln) != 0 || v[i + ln] != '=')
      continue;
    size_t j = i + ln + 1, k;
    int q = j < n && v[j] == '"';
    if (q)
      j++;
    for (k = j; k < n && (q ? v[k] != '"' : v[k] != ',' && v[k] != ' '); k++)
      ;
    snprintf(out, cap, "%.*s", (int)(k - j), v + j);
    return;
  }
}

/* What a softphone's exchange shows (demo_ue.www_algs ...), from every
 * message the UE sends or receives (its loop thread). */
static void ue_digest_note(demo_ue *u, const imsec_hostnet_ladder_ev *ev) {
  const char *m = (const char *)ev->msg;
  size_t len = ev->len;
  int reg = ev->out && len > 9 && memcmp(m, "REGISTER ", 9) == 0;
  int r401 = !ev->out && len > 11 && memcmp(m, "SIP/2.0 401", 11) == 0;
  int r200 = !ev->out && len > 11 && memcmp(m, "SIP/2.0 200", 11) == 0;
  if (!reg && !r401 && !r200)
    return;
  char algs[64] = "", alg[32] = "", qop[16] = "", user[128] = "";
  int cseq_reg = 0, rspauth = 0;
  /* Header lines up to the empty one (RFC 3261 §7). */
  const char *p = memchr(m, '\n', len);
  while (p && (size_t)(p + 1 - m) < len) {
    const char *line = p + 1;
    const char *end = memchr(line, '\n', len - (size_t)(line - m));
    if (!end)
      break;
    size_t ll = (size_t)(end - line);
    if (ll && line[ll - 1] == '\r')
      ll--;
    if (ll == 0)
      break;
    const char *colon = memchr(line, ':', ll);
    if (colon) {
      size_t hn = (size_t)(colon - line);
      const char *v = colon + 1;
      size_t vn = ll - hn - 1;
      char a[32];
      if (hn == 4 && strncasecmp(line, "CSeq", 4) == 0)
        cseq_reg = memmem(v, vn, "REGISTER", 8) != NULL;
      else if (r401 && hn == 16 &&
               strncasecmp(line, "WWW-Authenticate", 16) == 0) {
        auth_param(v, vn, "algorithm", a, sizeof a);
        size_t al = strlen(algs);
        snprintf(algs + al, sizeof algs - al, "%s%s", al ? "," : "",
                 a[0] ? a : "MD5");
      } else if (reg && hn == 13 &&
                 strncasecmp(line, "Authorization", 13) == 0) {
        auth_param(v, vn, "algorithm", alg, sizeof alg);
        auth_param(v, vn, "qop", qop, sizeof qop);
        auth_param(v, vn, "username", user, sizeof user);
      } else if (r200 && hn == 19 &&
                 strncasecmp(line, "Authentication-Info", 19) == 0) {
        auth_param(v, vn, "rspauth", a, sizeof a);
        rspauth = a[0] != 0;
      }
    }
    p = end;
  }
  pthread_mutex_lock(&u->mu);
  if (reg) {
    u->registers_sent++;
    if (user[0]) {
      snprintf(u->auth_alg, sizeof u->auth_alg, "%s", alg[0] ? alg : "MD5");
      snprintf(u->auth_qop, sizeof u->auth_qop, "%s", qop);
      snprintf(u->auth_user, sizeof u->auth_user, "%s", user);
    }
  } else if (r401 && cseq_reg) {
    snprintf(u->www_algs, sizeof u->www_algs, "%s", algs);
  } else if (r200 && cseq_reg) {
    u->auth_info_rspauth = rspauth;
  }
  pthread_mutex_unlock(&u->mu);
}

static void ue_ladder(void *user, const imsec_hostnet_ladder_ev *ev) {
  demo_ue *u = user;
  ladder_add_ev(u->name, ev);
  if (u->prof.password_len)
    ue_digest_note(u, ev);
}

/* What the mode's settings point to, alive until imsec_hostnet_new. */
typedef struct mode_bufs {
  imsec_net_tls_config dtls;
  imsec_hostnet_tls_profile dtls_profile;
  imsec_net_tls_config listen_tls;
  imsec_hostnet_listener listener;
} mode_bufs;

/* The mode's part of the UE's settings: what the element and its host
 * need beyond M1. 0, or -1 (said on stderr) when this build lacks the
 * mode or the profile lacks what it needs. */
static int ue_mode_config(demo_ue *u, imsec_ue_config *c,
                          imsec_hostnet_config *rc, mode_bufs *mb,
                          const ue_opts *o) {
  (void)c;
  (void)rc;
  (void)mb;
  if ((o->listen || o->close_after_register) && !DEMO_HAVE_M2) {
    fprintf(stderr, "imsec demo: UE %s: this build has no mode M2b\n", u->name);
    return -1;
  }
  if ((o->psk || o->aka_psk) && !DEMO_HAVE_M3) {
    fprintf(stderr, "imsec demo: UE %s: this build has no mode M3\n", u->name);
    return -1;
  }
  if (o->dtls && !DEMO_HAVE_DTLS) {
    fprintf(stderr, "imsec demo: UE %s: this build has no DTLS\n", u->name);
    return -1;
  }
#if DEMO_HAVE_M2
  /* M2b: a TLS listener with the UE's server certificate; it asks the
   * P-CSCF that dials in for its client certificate and leaves the
   * verdict to the UE's trust decision (lib/ue/listen.c). */
  if (o->listen) {
    if (!u->cert || !u->key) {
      fprintf(stderr, "imsec demo: UE %s: no certificate to listen with\n",
              u->name);
      return -1;
    }
    mb->listen_tls.server = 1;
    mb->listen_tls.cert_file = u->cert;
    mb->listen_tls.key_file = u->key;
    mb->listen_tls.ca_file = demo_path(IMSEC_FX_ROOT_CRT);
    mb->listen_tls.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
    mb->listen_tls.defer_verify = 1;
    mb->listener.addr.tp = IMSEC_TP_TLS;
    snprintf(mb->listener.addr.host, sizeof mb->listener.addr.host,
             "127.0.0.1");
    mb->listener.tls_cfg = &mb->listen_tls;
    rc->listeners = &mb->listener;
    rc->n_listeners = 1;
  }
  c->close_after_register = o->close_after_register;
#endif
#if DEMO_HAVE_M3
  /* M3 configured: the profile's PSK (psk_identity, psk_file). */
  if (o->psk) {
    if (!u->prof.psk_identity || !u->prof.psk_len ||
        u->prof.psk_len > sizeof c->psk) {
      fprintf(stderr, "imsec demo: UE %s: its profile has no PSK\n", u->name);
      return -1;
    }
    c->psk_identity = u->prof.psk_identity;
    memcpy(c->psk, u->prof.psk, u->prof.psk_len);
    c->psk_len = u->prof.psk_len;
  }
  /* M3 AKA-derived: the PSK from the last AKA run for reconnections. */
  c->aka_psk = o->aka_psk;
#endif
#if DEMO_HAVE_DTLS
  /* DTLS: the UE's CONNECT names a DTLS client context that, like the TLS
   * one, leaves the verdict on the P-CSCF to the trust decision. */
  if (o->dtls) {
    memset(&mb->dtls, 0, sizeof mb->dtls);
    mb->dtls.dtls = 1;
    mb->dtls.defer_verify = 1;
    mb->dtls.ca_file = demo_path(IMSEC_FX_ROOT_CRT);
    mb->dtls_profile =
        (imsec_hostnet_tls_profile){.name = IMSEC_UE_DTLS_PROFILE,
                                    .tls_cfg = &mb->dtls,
                                    .defer_verify = 1,
                                    .dtls = 1};
    rc->tls_profiles = &mb->dtls_profile;
    rc->n_tls_profiles = 1;
  }
#endif
  return 0;
}

/* M2b: the Contact names the listener the host bound. */
static void ue_mode_listen(demo_ue *u, imsec_ue_config *c,
                           const imsec_hostnet_config *rc) {
  (void)u;
  (void)c;
  (void)rc;
#if DEMO_HAVE_M2
  if (rc->n_listeners) {
    c->listen.tp = IMSEC_TP_TLS;
    snprintf(c->listen.host, sizeof c->listen.host, "127.0.0.1");
    c->listen.port = imsec_hostnet_port(u->run, 0);
    c->has_listen = 1;
    ladder_port_note(c->listen.port, u->name);
  }
#endif
}

demo_ue *ue_new(const char *name, const imsec_fx_sub *s, const ue_opts *o) {
  demo_ue *u = calloc(1, sizeof *u);
  if (!u)
    return NULL;
  snprintf(u->name, sizeof u->name, "%s", name);
  snprintf(u->profile, sizeof u->profile, "%s",
           o->profile ? o->profile : s->profile);
  pthread_mutex_init(&u->mu, NULL);
  ue_sqn_file_init(&u->sqn, u->profile);
  char err[512];
  if (imsec_isim_load(u->profile, &u->prof, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail;
  }
  if (imsec_isim_anchors(&u->prof, &u->anchors, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail;
  }
  if (imsec_crypto_ossl_new(&u->crypto) != 0)
    goto fail;
  /* Its certificate: the scene's, else its profile's (cert_file,
   * key_file). A UE with one shows it to a P-CSCF that asks (M2a): its
   * own client context, still leaving the verdict on the P-CSCF to its
   * trust decision. */
  u->cert = o->cert;
  u->key = o->key;
#if DEMO_HAVE_M2
  if (!u->cert && u->prof.cert_file && u->prof.key_file) {
    u->cert = u->prof.cert_file;
    u->key = u->prof.key_file;
  }
#endif
  if (u->cert) {
    imsec_net_tls_config tc;
    memset(&tc, 0, sizeof tc);
    tc.defer_verify = 1;
    tc.ca_file = demo_path(IMSEC_FX_ROOT_CRT);
    tc.cert_file = u->cert;
    tc.key_file = u->key;
    if (imsec_net_tls_new(&u->tls, &tc) != 0) {
      fprintf(stderr, "imsec demo: UE %s: its certificate does not load\n",
              name);
      goto fail;
    }
  }
  imsec_ue_config c;
  memset(&c, 0, sizeof c);
  c.impi = u->prof.impi;
  c.impus = (const char *const *)u->prof.impus;
  c.n_impus = u->prof.n_impus;
  c.home_domain = u->prof.home_domain;
  c.trust_domain = u->prof.trust_domain;
  memcpy(c.k, u->prof.k, sizeof c.k);
  /* A softphone's profile: a password instead of K and OP (TS 33.203
   * Annex N). */
  if (u->prof.password_len) {
    if (u->prof.password_len > sizeof c.password) {
      fprintf(stderr, "imsec demo: UE %s: its password is too long\n", name);
      goto fail_cfg;
    }
    memcpy(c.password, u->prof.password, u->prof.password_len);
    c.password_len = u->prof.password_len;
    c.digest_username = u->prof.digest_username;
  } else if (u->prof.has_opc) {
    memcpy(c.opc, u->prof.opc, sizeof c.opc);
    c.has_opc = 1;
  } else {
    memcpy(c.op, u->prof.op, sizeof c.op);
    c.has_op = 1;
  }
  memcpy(c.amf, u->prof.amf, sizeof c.amf);
  if (imsec_ue_sqn_load(u->prof.sqn, NULL, &c.sqn) != 0)
    goto fail_cfg;
  c.pcscf.tp = o->dtls ? IMSEC_TP_DTLS : IMSEC_TP_TLS;
  snprintf(c.pcscf.host, sizeof c.pcscf.host, "127.0.0.1");
  c.pcscf.port = o->port;
  c.pcscf_name = o->host;
  c.policy = u->prof.policy;
  c.expires = 600;
  c.txn_timeout_ms = DEMO_WAIT_MS;
  c.max_connect_attempts = 1;
  c.reconnect_min_ms = o->reconnect_min_ms ? o->reconnect_min_ms : 50;
  imsec_hostnet_config rc;
  memset(&rc, 0, sizeof rc);
  mode_bufs mb;
  memset(&mb, 0, sizeof mb);
  if (ue_mode_config(u, &c, &rc, &mb, o) != 0)
    goto fail_cfg;
  imsec_svc_local_config lc = {.ue_sqn = ue_sqn_file_write,
                               .ue_sqn_arg = &u->sqn};
  if (imsec_svc_local_new(&u->svc_local, &lc) != 0 ||
      imsec_svc_worker_new(&u->svc, u->svc_local, 8) != 0) {
    fprintf(stderr, "imsec demo: UE %s: cannot start its store\n", name);
    goto fail_cfg;
  }
  /* The host first: a UE that listens (M2b) names the port it bound in
   * its Contact. */
  rc.name = u->name;
  rc.ops = &imsec_ue_ops;
  rc.self = NULL;
  rc.svc = u->svc;
  rc.client_tls = u->tls ? u->tls : g_ue_tls;
  rc.anchors = u->anchors;
  rc.log_level = demo_verbose ? IMSEC_LOG_INFO : IMSEC_LOG_ERROR;
  rc.ladder_fn = ue_ladder;
  rc.ladder_user = u;
  if (imsec_hostnet_new(&u->run, &rc, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail_cfg;
  }
  ue_mode_listen(u, &c, &rc);
  int rv = imsec_ue_new(&u->ue, &c, u->crypto);
  imsec_wipe(&c, sizeof c);
  if (rv != 0) {
    fprintf(stderr, "imsec demo: UE %s: %s\n", name, imsec_strerror(rv));
    goto fail;
  }
  imsec_hostnet_set_self(u->run, u->ue);
  return u;
fail_cfg:
  imsec_wipe(&c, sizeof c);
fail:
  imsec_svc_worker_stop(u->svc);
  imsec_hostnet_del(u->run);
  imsec_svc_del(u->svc);
  imsec_svc_del(u->svc_local);
  if (u->ue)
    imsec_ue_del(u->ue);
  imsec_net_tls_del(u->tls);
  imsec_x509_anchors_del(u->anchors);
  imsec_crypto_del(u->crypto);
  imsec_isim_free(&u->prof);
  ue_sqn_file_fini(&u->sqn);
  pthread_mutex_destroy(&u->mu);
  free(u);
  return NULL;
}

void ue_del(demo_ue *u) {
  if (!u)
    return;
  /* Stop the worker while the host it answers still exists (it finishes
   * a queued SQN write), then the host, then free the worker and the
   * store. */
  imsec_svc_worker_stop(u->svc);
  imsec_hostnet_del(u->run);
  imsec_svc_del(u->svc);
  imsec_svc_del(u->svc_local);
  imsec_ue_del(u->ue);
  imsec_net_tls_del(u->tls);
  imsec_x509_anchors_del(u->anchors);
  imsec_crypto_del(u->crypto);
  imsec_isim_free(&u->prof);
  ue_sqn_file_fini(&u->sqn);
  pthread_mutex_destroy(&u->mu);
  free(u);
}

/* ---------------------------------------------------------------- kept */

static demo_ue *g_kept[32];
static size_t g_nkept;

void ue_keep(demo_ue *u) {
  if (!u)
    return;
  if (g_nkept == sizeof g_kept / sizeof g_kept[0]) {
    ue_del(u);
    return;
  }
  g_kept[g_nkept++] = u;
}

demo_ue *ue_kept(const char *name) {
  for (size_t i = 0; i < g_nkept; i++)
    if (strcmp(g_kept[i]->name, name) == 0) /* no secret: a name */
      return g_kept[i];
  return NULL;
}

static void ue_dereg_call(void *self, imsec_time_ms now, imsec_out *out,
                          void *arg) {
  (void)self;
  demo_ue *u = arg;
  if (imsec_ue_deregister(u->ue, now, out) != 0)
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "de-registration refused", NULL);
}

void ues_finish(void) {
  /* De-register the UEs still registered (TS 24.229 §5.1.1.6). */
  int any = 0;
  for (size_t i = 0; i < g_nkept; i++)
    if (ue_status(g_kept[i]).state == IMSEC_UE_REGISTERED) {
      if (imsec_hostnet_call(g_kept[i]->run, ue_dereg_call, g_kept[i]) != 0)
        demo_say("    %s: cannot de-register\n", g_kept[i]->name);
      else
        any = 1;
    }
  if (any)
    usleep(100000);
  for (size_t i = 0; i < g_nkept; i++)
    ue_del(g_kept[i]);
  g_nkept = 0;
}

/* ---------------------------------------------------------------- waits */

imsec_ue_state ue_wait_settled(demo_ue *u, int timeout_ms) {
  int64_t end = imsec_hostnet_now() + timeout_ms;
  for (;;) {
    ue_look(u);
    pthread_mutex_lock(&u->mu);
    imsec_ue_state s = u->st.state;
    pthread_mutex_unlock(&u->mu);
    if (s == IMSEC_UE_REGISTERED || s == IMSEC_UE_REFUSED ||
        s == IMSEC_UE_FAILED || imsec_hostnet_now() >= end)
      return s;
    usleep(2000);
  }
}

imsec_ue_status ue_status(demo_ue *u) {
  ue_look(u);
  pthread_mutex_lock(&u->mu);
  imsec_ue_status s = u->st;
  pthread_mutex_unlock(&u->mu);
  return s;
}

typedef struct send_arg {
  demo_ue *u;
  const char *to;
  const char *text;
} send_arg;

static void ue_send_call(void *self, imsec_time_ms now, imsec_out *out,
                         void *arg) {
  (void)self;
  send_arg *a = arg;
  demo_ue *u = a->u;
  int h = imsec_ue_send_message(u->ue, a->to, "text/plain",
                                (const uint8_t *)a->text, strlen(a->text), now,
                                out);
  pthread_mutex_lock(&u->mu);
  u->msg_handle = h > 0 ? h : 0;
  u->msg_result = h > 0 ? 0 : h;
  pthread_mutex_unlock(&u->mu);
}

int ue_message(demo_ue *u, const char *to, const char *text, int timeout_ms) {
  send_arg sa = {.u = u, .to = to, .text = text};
  if (imsec_hostnet_call_wait(u->run, ue_send_call, &sa, 1000) != 0)
    return -1;
  int64_t end = imsec_hostnet_now() + timeout_ms;
  for (;;) {
    ue_look(u);
    pthread_mutex_lock(&u->mu);
    int r = u->msg_result;
    pthread_mutex_unlock(&u->mu);
    if (r != 0 || imsec_hostnet_now() >= end)
      return r;
    usleep(2000);
  }
}

int ue_wait_inbox(demo_ue *u, int timeout_ms, char *text, size_t cap,
                  char *from, size_t fcap) {
  int64_t end = imsec_hostnet_now() + timeout_ms;
  for (;;) {
    ue_look(u);
    pthread_mutex_lock(&u->mu);
    int n = u->inbox_n;
    if (n) {
      snprintf(text, cap, "%s", u->inbox);
      snprintf(from, fcap, "%s", u->inbox_from);
      u->inbox_n = 0;
    }
    pthread_mutex_unlock(&u->mu);
    if (n)
      return 1;
    if (imsec_hostnet_now() >= end)
      return 0;
    usleep(2000);
  }
}

#if DEMO_HAVE_CALLS
/* ---------------------------------------------------------------- calls */

typedef struct call_arg {
  demo_ue *u;
  const char *to; /* ue_call */
  int handle;     /* ue_hangup */
} call_arg;

static void ue_call_call(void *self, imsec_time_ms now, imsec_out *out,
                         void *arg) {
  (void)self;
  call_arg *a = arg;
  int rc = a->to ? imsec_ue_call(a->u->ue, a->to, now, out)
                 : imsec_ue_call_hangup(a->u->ue, a->handle, now, out);
  pthread_mutex_lock(&a->u->mu);
  a->u->call_rc = rc;
  pthread_mutex_unlock(&a->u->mu);
}

/* Run ue_call_call on the UE's loop; what it returned. */
static int ue_call_run(demo_ue *u, const char *to, int handle) {
  call_arg a = {.u = u, .to = to, .handle = handle};
  pthread_mutex_lock(&u->mu);
  u->call_rc = IMSEC_ERR_STATE;
  pthread_mutex_unlock(&u->mu);
  if (imsec_hostnet_call_wait(u->run, ue_call_call, &a, 1000) != 0)
    return IMSEC_ERR_STATE;
  pthread_mutex_lock(&u->mu);
  int rc = u->call_rc;
  pthread_mutex_unlock(&u->mu);
  return rc;
}

int ue_call(demo_ue *u, const char *to) {
  return ue_call_run(u, to, 0);
}

int ue_hangup(demo_ue *u, int handle) {
  return ue_call_run(u, NULL, handle);
}

static int call_find_locked(demo_ue *u, int handle, const char *call_id,
                            imsec_ue_call_info *out) {
  for (size_t i = 0; i < u->ncalls; i++) {
    const imsec_ue_call_info *c = &u->calls[i];
    int same = handle > 0 ? c->handle == handle
                          : strcmp(c->call_id, call_id) == 0; /* no secret */
    if (same) {
      *out = *c;
      return 1;
    }
  }
  return 0;
}

int ue_call_find(demo_ue *u, int handle, const char *call_id,
                 imsec_ue_call_info *out) {
  ue_look(u);
  pthread_mutex_lock(&u->mu);
  int f = call_find_locked(u, handle, call_id, out);
  pthread_mutex_unlock(&u->mu);
  return f;
}

int ue_call_wait(demo_ue *u, int handle, const char *call_id,
                 imsec_ue_call_state state, int timeout_ms,
                 imsec_ue_call_info *out) {
  memset(out, 0, sizeof *out);
  int64_t end = imsec_hostnet_now() + timeout_ms;
  for (;;) {
    if (ue_call_find(u, handle, call_id, out) && out->state >= state)
      return 1;
    if (imsec_hostnet_now() >= end)
      return 0;
    usleep(2000);
  }
}
#endif

const char *trust_words(const imsec_ue_status *st) {
  if (!st->trust_decided)
    return "no decision";
  return st->trust.verdict == IMSEC_TRUST_HOME      ? "trusted (home)"
         : st->trust.verdict == IMSEC_TRUST_PARTNER ? "trusted (partner)"
                                                    : "rejected";
}

demo_ue *scene_register(result *r, const char *name, const imsec_fx_sub *s,
                        const ue_opts *o, imsec_trust_verdict want) {
  demo_ue *u = ue_new(name, s, o);
  if (!u) {
    snprintf(r->got, sizeof r->got, "UE could not be made");
    return NULL;
  }
  ue_keep(u);
  if (imsec_hostnet_start(u->run) != 0) {
    snprintf(r->got, sizeof r->got, "UE could not start");
    return u;
  }
  imsec_ue_state st = ue_wait_settled(u, DEMO_WAIT_MS);
  imsec_ue_status ss = ue_status(u);
  snprintf(r->got, sizeof r->got, "%s, %s%s%s", imsec_ue_state_name(st),
           trust_words(&ss), ss.error[0] ? "; " : "", ss.error);
  r->ok =
      st == IMSEC_UE_REGISTERED && ss.trust_decided && ss.trust.verdict == want;
  demo_say("    %s: %s\n", name, ss.trust_decided ? ss.trust.why : "-");
  return u;
}
#endif /* DEMO_HAVE_UE */
