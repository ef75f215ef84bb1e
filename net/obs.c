/*
 * What net/ tells an operator (include/imsec/net.h, operations): the
 * counters behind the transport metrics (imsec_flows_*, imsec_tls_*,
 * families in docs/OPERATIONS.md) and the flow listing of `imsec ctl
 * flows`.
 *
 * The counters live in each loop (struct net_obs in net_int.h) and are
 * written on that loop's thread only, as relaxed atomics with one writer:
 * the hot path pays a plain load and store per event, and a scrape from
 * another thread sums the loops without stopping them. A handshake's
 * duration comes from libuv's monotonic high-resolution clock
 * (uv_hrtime, CLOCK_MONOTONIC in ns), read once when it starts and once
 * when it ends.
 *
 * A failed handshake is counted under the first alert it saw, sent or
 * received (RFC 8446 §6 AlertDescription, named as the RFC names them,
 * which are OpenSSL's names in lower_snake: unknown_ca, bad_certificate,
 * ...), or, without one, under how it ended: timeout (the handshake
 * deadline, or DTLS giving up its retransmissions), closed (the peer
 * left, or we closed it) or other.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "net/net_int.h"

/* ---------------------------------------------------------------- names */

static const char *const tr_label[4] = {"udp", "tcp", "tls", "dtls"};
static const char *const sec_label[2] = {"tls", "dtls"};
static const char *const mode_label[OBS_MODES] = {"plain", "server_cert",
                                                  "mutual_tls", "psk"};
static const char *const refuse_label[OBS_REFUSALS] = {"max_flows",
                                                       "max_flows_per_ip"};

/* TLS AlertDescription names (RFC 8446 §6, RFC 5246 §7.2, RFC 6066 §9,
 * RFC 7301 §3.2, RFC 7507 §2); NULL: unassigned (counted as "other"). */
static const char *alert_name(unsigned d) {
  switch (d) {
  case 0:
    return "close_notify";
  case 10:
    return "unexpected_message";
  case 20:
    return "bad_record_mac";
  case 21:
    return "decryption_failed";
  case 22:
    return "record_overflow";
  case 30:
    return "decompression_failure";
  case 40:
    return "handshake_failure";
  case 41:
    return "no_certificate";
  case 42:
    return "bad_certificate";
  case 43:
    return "unsupported_certificate";
  case 44:
    return "certificate_revoked";
  case 45:
    return "certificate_expired";
  case 46:
    return "certificate_unknown";
  case 47:
    return "illegal_parameter";
  case 48:
    return "unknown_ca";
  case 49:
    return "access_denied";
  case 50:
    return "decode_error";
  case 51:
    return "decrypt_error";
  case 60:
    return "export_restriction";
  case 70:
    return "protocol_version";
  case 71:
    return "insufficient_security";
  case 80:
    return "internal_error";
  case 86:
    return "inappropriate_fallback";
  case 90:
    return "user_canceled";
  case 100:
    return "no_renegotiation";
  case 109:
    return "missing_extension";
  case 110:
    return "unsupported_extension";
  case 111:
    return "certificate_unobtainable";
  case 112:
    return "unrecognized_name";
  case 113:
    return "bad_certificate_status_response";
  case 114:
    return "bad_certificate_hash_value";
  case 115:
    return "unknown_psk_identity";
  case 116:
    return "certificate_required";
  case 120:
    return "no_application_protocol";
  }
  return NULL;
}

static int secure(imsec_net_transport tr) {
  return tr == IMSEC_NET_TLS || tr == IMSEC_NET_DTLS;
}

/* ---------------------------------------------------------------- events */

void net_tls_info_cb(const SSL *ssl, int where, int ret) {
  struct bio_io *io = SSL_get_app_data(ssl);
  imsec_net_flow *f = io ? io->flow : NULL;
  if (!f) /* a DTLS listener's stateless SSL: no flow yet */
    return;
  if (where & SSL_CB_ALERT) {
    /* ret: level << 8 | description. close_notify and user_canceled
     * end a connection without blaming anyone (RFC 8446 §6.1): the
     * handshake then counts as closed. */
    unsigned d = (unsigned)ret & 0xff;
    if (!f->alert_seen && d != 0 && d != 90) {
      f->alert = (uint8_t)d;
      f->alert_seen = 1;
    }
    return;
  }
  /* The state machine calls back before each transition with the state
   * it has just left: a client that wrote its Certificate with a key
   * configured sent a certificate, which only a server's
   * CertificateRequest makes it do (RFC 8446 §4.4.2). */
  if ((where & SSL_CB_LOOP) && !f->is_server &&
      SSL_get_state(ssl) == TLS_ST_CW_CERT && SSL_get_certificate(ssl))
    f->cert_sent = 1;
}

static enum obs_mode flow_mode(imsec_net_flow *f) {
  if (!secure(f->tr) || !f->ssl)
    return OBS_PLAIN;
  if (imsec_net_flow_psk(f))
    return OBS_PSK;
  if (f->is_server)
    return SSL_get0_peer_certificate(f->ssl) ? OBS_MUTUAL : OBS_SERVER_CERT;
  /* A resumed session skips the certificates: a client with one of its
   * own counts as it was when the session was made, mutual (our servers
   * that ask for client certificates ask every client). */
  if (f->cert_sent ||
      (SSL_session_reused(f->ssl) && SSL_get_certificate(f->ssl)))
    return OBS_MUTUAL;
  return OBS_SERVER_CERT;
}

void net_obs_up(imsec_net_flow *f) {
  enum obs_mode m = flow_mode(f);
  f->obs_mode = (uint8_t)(m + 1);
  obs_add(&f->lp->obs.open[f->tr & 3][m], 1);
}

void net_obs_close(imsec_net_flow *f, int reason) {
  struct net_obs *o = &f->lp->obs;
  if (f->obs_mode) {
    obs_add(&o->open[f->tr & 3][f->obs_mode - 1], (uint64_t)-1);
    f->obs_mode = 0;
    return;
  }
  if (f->state != F_HANDSHAKE || !f->ssl || !secure(f->tr))
    return;
  unsigned k;
  if (f->alert_seen && alert_name(f->alert))
    k = f->alert;
  else if (f->alert_seen)
    k = OBS_HS_OTHER;
  else if (reason == IMSEC_ERR_TIMEOUT)
    k = OBS_HS_TIMEOUT;
  else if (reason == 0 || reason == IMSEC_ERR_CLOSED || reason == IMSEC_ERR_IO)
    k = OBS_HS_CLOSED;
  else
    k = OBS_HS_OTHER;
  obs_add(&o->hs_failed[obs_sec(f->tr)][k], 1);
}

void net_obs_handshake_ok(imsec_net_flow *f) {
  struct net_obs *o = &f->lp->obs;
  int s = obs_sec(f->tr);
  obs_add(&o->hs_ok[s], 1);
  if (imsec_net_flow_resumed(f))
    obs_add(&o->resumed[s], 1);
  if (!f->hs_t0)
    return;
  uint64_t ns = uv_hrtime() - f->hs_t0;
  double sec = (double)ns / 1e9;
  unsigned b = 0;
  while (b < IMSEC_HIST_BUCKETS && sec > imsec_hist_bounds[b])
    b++;
  obs_add(&o->hs_bucket[s][b], 1);
  obs_add(&o->hs_ns[s], ns);
}

/* ---------------------------------------------------------------- metrics */

static uint64_t rd(const obs_ctr *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

void imsec_net_metrics(imsec_net *net, struct imsec_metrics *m) {
  if (!net || !m)
    return;
  imsec_metrics_declare(m, "imsec_flows_open", IMSEC_METRIC_GAUGE,
                        "Flows up now (handshake done), by transport and "
                        "security mode.");
  imsec_metrics_declare(m, "imsec_flows_accepted_total", IMSEC_METRIC_COUNTER,
                        "Incoming flows accepted, by transport.");
  imsec_metrics_declare(m, "imsec_flows_refused_total", IMSEC_METRIC_COUNTER,
                        "Incoming flows refused by a limit, by the limit.");
  imsec_metrics_declare(m, "imsec_tls_handshakes_total", IMSEC_METRIC_COUNTER,
                        "TLS and DTLS handshakes, by result and the alert "
                        "a failed one ended with (sent or received; "
                        "timeout, closed or other without one).");
  imsec_metrics_declare(m, "imsec_tls_handshake_duration_seconds",
                        IMSEC_METRIC_HISTOGRAM,
                        "Duration of completed TLS and DTLS handshakes.");
  imsec_metrics_declare(m, "imsec_tls_resumptions_total", IMSEC_METRIC_COUNTER,
                        "TLS and DTLS handshakes that resumed a session.");

  uint64_t open[4][OBS_MODES] = {{0}}, acc[4] = {0}, ref[OBS_REFUSALS] = {0};
  uint64_t ok[2] = {0}, res[2] = {0}, ns[2] = {0};
  uint64_t bucket[2][IMSEC_HIST_BUCKETS + 1];
  memset(bucket, 0, sizeof bucket);
  uint64_t failed[2][OBS_HS_ENDS];
  memset(failed, 0, sizeof failed);
  for (unsigned i = 0; i < net->nloops; i++) {
    const struct net_obs *o = &net->loops[i]->obs;
    for (int t = 0; t < 4; t++) {
      for (int md = 0; md < OBS_MODES; md++)
        open[t][md] += rd(&o->open[t][md]);
      acc[t] += rd(&o->accepted[t]);
    }
    for (int r = 0; r < OBS_REFUSALS; r++)
      ref[r] += rd(&o->refused[r]);
    for (int s = 0; s < 2; s++) {
      ok[s] += rd(&o->hs_ok[s]);
      res[s] += rd(&o->resumed[s]);
      ns[s] += rd(&o->hs_ns[s]);
      for (int b = 0; b <= IMSEC_HIST_BUCKETS; b++)
        bucket[s][b] += rd(&o->hs_bucket[s][b]);
      for (int k = 0; k < OBS_HS_ENDS; k++)
        failed[s][k] += rd(&o->hs_failed[s][k]);
    }
  }

  for (int t = 0; t < 4; t++) {
    for (int md = 0; md < OBS_MODES; md++) {
      /* Plain transports have one mode, secure ones three. */
      if (secure((imsec_net_transport)t) != (md != OBS_PLAIN))
        continue;
      imsec_metrics_add(m, "imsec_flows_open", (double)(int64_t)open[t][md],
                        "transport", tr_label[t], "mode", mode_label[md],
                        (const char *)NULL);
    }
  }
  for (int t = 0; t < 4; t++)
    imsec_metrics_add(m, "imsec_flows_accepted_total", (double)acc[t],
                      "transport", tr_label[t], (const char *)NULL);
  for (int r = 0; r < OBS_REFUSALS; r++)
    imsec_metrics_add(m, "imsec_flows_refused_total", (double)ref[r], "reason",
                      refuse_label[r], (const char *)NULL);
  for (int s = 0; s < 2; s++) {
    imsec_metrics_add(m, "imsec_tls_handshakes_total", (double)ok[s],
                      "transport", sec_label[s], "result", "ok", "alert",
                      "none", (const char *)NULL);
    for (int k = 0; k < OBS_HS_ENDS; k++) {
      if (!failed[s][k])
        continue;
      const char *a = k == OBS_HS_TIMEOUT  ? "timeout"
                      : k == OBS_HS_CLOSED ? "closed"
                      : k == OBS_HS_OTHER  ? "other"
                                           : alert_name((unsigned)k);
      imsec_metrics_add(m, "imsec_tls_handshakes_total", (double)failed[s][k],
                        "transport", sec_label[s], "result", "failed", "alert",
                        a ? a : "other", (const char *)NULL);
    }
    imsec_hist h;
    memset(&h, 0, sizeof h);
    for (int b = 0; b < IMSEC_HIST_BUCKETS; b++)
      h.bucket[b] = bucket[s][b];
    /* The count from the buckets themselves, so that the +Inf bucket
     * and _count agree even when a loop counted meanwhile. */
    for (int b = 0; b <= IMSEC_HIST_BUCKETS; b++)
      h.count += bucket[s][b];
    h.sum = (double)ns[s] / 1e9;
    imsec_metrics_add_hist(m, "imsec_tls_handshake_duration_seconds", &h,
                           "transport", sec_label[s], (const char *)NULL);
    imsec_metrics_add(m, "imsec_tls_resumptions_total", (double)res[s],
                      "transport", sec_label[s], (const char *)NULL);
  }
}

/* ---------------------------------------------------------------- flows */

static const char *const flow_cols[] = {
    "id",    "transport", "mode",   "local",     "peer",
    "age_s", "tls",       "cipher", "peer_name", "kept"};
#define NCOLS (sizeof flow_cols / sizeof flow_cols[0])

/* The peer's first name: its certificate's first SAN dNSName or URI
 * (else its CN), or the PSK identity. Parsed afresh and not kept, so a
 * listing leaves no memory behind on idle flows. */
static void peer_name(imsec_net_flow *f, char *buf, size_t cap) {
  buf[0] = '\0';
  if (!f->ssl || f->state != F_UP)
    return;
  const char *psk = imsec_net_flow_psk_identity(f);
  if (psk) {
    snprintf(buf, cap, "psk:%s", psk);
    return;
  }
  X509 *leaf = SSL_get0_peer_certificate(f->ssl);
  if (!leaf)
    return;
  GENERAL_NAMES *sans =
      X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
      const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
      const ASN1_STRING *v = g->type == GEN_DNS ? g->d.dNSName
                             : g->type == GEN_URI
                                 ? g->d.uniformResourceIdentifier
                                 : NULL;
      if (v) {
        snprintf(buf, cap, "%.*s", ASN1_STRING_length(v),
                 (const char *)ASN1_STRING_get0_data(v));
        break;
      }
    }
    GENERAL_NAMES_free(sans);
    return;
  }
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, buf,
                            (int)cap);
}

static const char *state_label(const imsec_net_flow *f) {
  switch (f->state) {
  case F_CONNECTING:
    return "connecting";
  case F_HANDSHAKE:
    return "handshake";
  case F_CLOSING:
    return "closing";
  }
  return "?";
}

int imsec_net_list_flows(imsec_net *net, unsigned loop, struct imsec_table *t) {
  if (!net || !t || loop >= net->nloops)
    return IMSEC_ERR_INVAL;
  /* Several loops (and several nets) append to one table: only the
   * first call names the columns. */
  if (!t->cols)
    IMSEC_GUARD(imsec_table_init(t, flow_cols, NCOLS));
  struct net_loop *lp = net->loops[loop];
  uint64_t now = uv_now(&lp->loop);
  size_t it = 0;
  for (imsec_map_slot *sl; (sl = imsec_map_next(&lp->ids, &it));) {
    imsec_net_flow *f = sl->val;
    char id[24], local[64], peer[64], age[24], name[256];
    snprintf(id, sizeof id, "%" PRIu64, f->id);
    const struct sockaddr *la = imsec_net_flow_local(f);
    if (la->sa_family)
      net_addr_text((const net_addr *)la, local, sizeof local);
    else
      snprintf(local, sizeof local, "-");
    net_addr_text(&f->peer, peer, sizeof peer);
    snprintf(age, sizeof age, "%" PRIu64,
             now > f->born_ms ? (now - f->born_ms) / 1000 : 0);
    peer_name(f, name, sizeof name);
    const char *tls = NULL, *cipher = NULL;
    if (f->ssl && f->state == F_UP) {
      tls = SSL_get_version(f->ssl);
      cipher = SSL_get_cipher_name(f->ssl);
    }
    const char *mode =
        f->obs_mode ? mode_label[f->obs_mode - 1] : state_label(f);
    const char *cells[NCOLS] = {id,
                                tr_label[f->tr & 3],
                                mode,
                                local,
                                peer,
                                age,
                                tls ? tls : "",
                                cipher ? cipher : "",
                                name,
                                f->keep ? "yes" : "no"};
    IMSEC_GUARD(imsec_table_add(t, cells));
  }
  return t->err;
}
