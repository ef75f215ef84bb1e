/*
 * The UE's one flow: its TLS connection to the P-CSCF. Connecting, the
 * flow coming up (where the certificate is judged before any SIP byte),
 * losing it, backing off and reconnecting (RFC 5626 §4.5), and stopping.
 */
#include <string.h>

#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

/* Forget the flow (the caller closes it or it is gone already). */
void ue_drop_flow(imsec_ue *ue, imsec_out *out, int close) {
  /* RFC 5626 §5: the dialogs on the flow cannot be reached any more. */
  ue_calls_flow_gone(ue, ue->flow, out);
  if (ue->flow && close)
    (void)imsec_out_close(out, ue->flow);
  ue->flow = 0;
  ue->trusted = 0;
  ue->has_peer_cert = 0;
  ue->sec_server[0] = '\0';
  ue->flow_registered = 0;
  ue->txn_deadline = 0;
  ue->persist_id = 0; /* a late reply finds no one waiting */
  ue_dgram_reset(ue); /* DTLS: the transactions die with the flow */
  ue_arm(out, IMSEC_UE_TIMER_DGRAM, 0);
  ue_arm(out, IMSEC_UE_TIMER_TXN, 0);
  ue_fail_pending_messages(ue, 503);
}

/* Stop for good (REFUSED, FAILED, IDLE): nothing more is sent. */
void ue_stop(imsec_ue *ue, ue_st st, imsec_out *out) {
  ue_drop_flow(ue, out, 1);
  ue->connect_tag = 0; /* a late flow_up is refused */
  ue_psk_forget(ue);   /* the registration is over, and its PSK */
  ue->st = st;
  ue->registered = 0;
  ue->dereg_wanted = 0;
  ue->reconnect_at = 0;
  ue->rereg_at = 0;
  ue_arm(out, IMSEC_UE_TIMER_REREG, 0);
  ue_arm(out, IMSEC_UE_TIMER_RECONNECT, 0);
}

void ue_connect_now(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  ue->connect_tag = ue->next_tag++;
  ue->reconnect_at = 0;
  ue->st = UE_ST_CONNECTING;
  if (UE_PLAIN(ue)) {
    /* A load generator's plain TCP: no server name, no TLS profile. */
    (void)imsec_out_connect(out, ue->connect_tag, &ue->pcscf, NULL);
  } else {
    /* With a certificate, or a PSK (mode M3, psk.c); over TLS or DTLS. */
    ue_psk_connect(ue, now, out);
  }
  ue->txn_deadline = now + ue->txn_timeout;
  ue_arm(out, IMSEC_UE_TIMER_TXN, ue->txn_deadline);
}

/* The flow failed or never came up: reconnect after a back-off (RFC 5626
 * §4.5), or give up after max_connect_attempts failures in a row. */
void ue_flow_lost(imsec_ue *ue, const char *why, imsec_time_ms now,
                  imsec_out *out) {
  int was_registered = ue->flow_registered;
  ue_drop_flow(ue, out, 1);
  ue->connect_tag = 0;
  if (ue->dereg_wanted) {
    /* Leaving anyway: the registration lapses at the registrar. */
    ue_stop(ue, UE_ST_IDLE, out);
    return;
  }
  if (!was_registered)
    ue->connect_failures++;
  if (ue->max_connect_attempts &&
      ue->connect_failures >= ue->max_connect_attempts) {
    ue_set_error(ue, "cannot register through the P-CSCF: ", S(why), "");
    LOG(out, IMSEC_LOG_ERROR, S("giving up: "), S(why));
    ue_stop(ue, UE_ST_FAILED, out);
    return;
  }
  if (ue->registered && now >= ue->expires_at)
    ue->registered = 0;
  imsec_time_ms delay = 0;
  if (!was_registered) {
    delay = ue->backoff ? ue->backoff : ue->backoff_min;
    ue->backoff = delay * 2 > ue->backoff_max ? ue->backoff_max : delay * 2;
  }
  /* RFC 3261 §20.33, §21.5.4: not before the Retry-After of a 503. */
  if (ue->retry_not_before > now && delay < ue->retry_not_before - now)
    delay = ue->retry_not_before - now;
  ue->retry_not_before = 0;
  ue_set_error(ue, "", S(why), "");
  char ms[24], nth[16];
  ue_num_text((uint64_t)delay, ms, sizeof(ms));
  ue_num_text(ue->connect_failures, nth, sizeof(nth));
  if (was_registered)
    LOG(out, IMSEC_LOG_WARN, S(why), S("; reconnecting in "), S(ms), S(" ms"));
  else
    LOG(out, IMSEC_LOG_WARN, S(why), S("; retry "), S(nth), S(" in "), S(ms),
        S(" ms"));
  ue->reconnects++;
  if (delay == 0) {
    ue_connect_now(ue, now, out);
  } else {
    ue->st = UE_ST_BACKOFF;
    ue->reconnect_at = now + delay;
    ue_arm(out, IMSEC_UE_TIMER_RECONNECT, ue->reconnect_at);
  }
}

/* START in IDLE or FAILED: connect and register. */
int ue_h_start(imsec_ue *ue, const ue_event *e) {
  ue->started = 1;
  ue->error[0] = '\0';
  ue->connect_failures = 0;
  ue->backoff = 0;
  ue->dereg_wanted = 0;
  ue_connect_now(ue, e->now, e->out);
  return imsec_out_err(e->out);
}

/* Where the flow's local end goes into a URI: the Contact (RFC 5626 §4.2
 * lets it be unroutable: the flow is what reaches us). */
static void take_local(imsec_ue *ue, const imsec_flow_info *info) {
  ue->local_host[0] = '\0';
  ue->local_port = 0;
  if (info) {
    imsec_str h = imsec_str_c(info->local.host);
    if (h.len && ue_text_ok(h)) {
      imsec_sbuf b;
      imsec_sbuf_init(&b, ue->local_host, sizeof(ue->local_host));
      int v6 = imsec_str_find(h, ':') >= 0;
      imsec_sbuf_add(&b, v6 ? "[" : "");
      imsec_sbuf_put(&b, h);
      imsec_sbuf_add(&b, v6 ? "]" : "");
      if (b.len >= sizeof(ue->local_host))
        ue->local_host[0] = '\0';
    }
    ue->local_port = info->local.port;
  }
  if (!ue->local_host[0])
    memcpy(ue->local_host, "ue.invalid", sizeof("ue.invalid"));
  if (!ue->local_port)
    ue->local_port = 5061;
  if (ue_contact_listen(ue)) /* M2b: the listener, not the flow */
    return;
  imsec_sbuf b;
  imsec_sbuf_init(&b, ue->contact, sizeof(ue->contact));
  imsec_sbuf_add(&b, "sip:ue@");
  ue_host_port(&b, ue);
  /* draft-jennings-sip-dtls: transport=dtls-udp for SIP over DTLS. */
  imsec_sbuf_add(&b, ue->pcscf.tp == IMSEC_TP_DTLS ? ";transport=dtls-udp;ob"
                     : UE_PLAIN(ue)                ? ";transport=tcp;ob"
                                                   : ";transport=tls;ob");
}

/* RFC 3261 §10.2.4: one Call-ID for all registrations of this UE; CSeq
 * grows. */
static int ensure_call_id(imsec_ue *ue) {
  if (ue->call_id[0])
    return 0;
  char id[33];
  IMSEC_GUARD(ue_rand_hex(ue, id, sizeof(id), 16));
  IMSEC_GUARD(ue_rand_hex(ue, ue->from_tag, sizeof(ue->from_tag), 8));
  memcpy(ue->call_id, id, sizeof(id));
  return 0;
}

/* FLOW_UP in CONNECTING: judge the certificate, then the first REGISTER. */
int ue_h_flow_up(imsec_ue *ue, const ue_event *e) {
  const imsec_flow_info *info = e->info;
  imsec_out *out = e->out;
  if (e->tag == 0 || e->tag != ue->connect_tag || ue->flow) {
    /* A UE accepts no inbound connections, and a connection it gave up
     * on (timeout, stop) is closed by the driver. */
    return IMSEC_ERR_STATE;
  }
  ue->connect_tag = 0;
  ue->flow = e->flow;
  ue->trusted = 0;
  ue->flow_registered = 0;
  ue->sec_server[0] = '\0';
  ue->has_peer_cert = 0;
  if (info && info->peer_cert) {
    ue->peer_cert = *info->peer_cert;
    ue->has_peer_cert = 1;
  }
  if (info && info->resumed)
    ue->resumed++;
  take_local(ue, info);

  LOG(out, IMSEC_LOG_INFO,
      S(ue->pcscf.tp == IMSEC_TP_DTLS ? "DTLS flow up to "
        : UE_PLAIN(ue)                ? "TCP flow up to "
                                      : "TLS flow up to "),
      S(ue->pcscf_name), S(info && info->tls_version ? " (" : ""),
      S(info && info->tls_version ? info->tls_version : ""),
      S(info && info->resumed ? ", resumed session)"
                              : (info && info->tls_version ? ")" : "")));
  /* Mode M3 (psk.c): a flow on the PSK derived from the registration's
   * AKA run continues it (the P-CSCF moved the binding here). */
  int psk = UE_PLAIN(ue) ? 0 : ue_psk_flow_up(ue, info, out);
  if (psk && ue->psk.mode == IMSEC_UE_TLS_PSK_AKA && !ue->dereg_wanted &&
      ue_psk_derived_usable(ue, e->now)) {
    ue->st = UE_ST_REGISTERED;
    ue->flow_registered = 1;
    ue->trusted = 1;
    ue->connect_failures = 0;
    ue->backoff = 0;
    (void)imsec_out_keep(out, ue->flow);
    LOG(out, IMSEC_LOG_INFO,
        S("registration continues on this flow (AKA-derived PSK): no "
          "REGISTER needed"));
    return 0;
  }
  /* RFC 3261 §26.3.2.1, RFC 5922 §7, DESIGN.md §3: the certificate is
   * judged now, before the REGISTER (and the IMPI in it) is even built:
   * a P-CSCF that fails receives no SIP message. Only the realm waits for
   * the challenge. A PSK flow has no certificate (psk.c). */
  int rv = psk || ue_decide_trust(ue, NULL, out) ? 0 : IMSEC_ERR_TRUST;
  if (rv == 0)
    rv = ensure_call_id(ue);
  if (rv == 0)
    rv = ue_register_initial(ue, ue->dereg_wanted ? 0 : ue->expires_req, e->now,
                             out);
  if (rv == IMSEC_ERR_TRUST) {
    ue_stop(ue, UE_ST_REFUSED, out);
    return rv;
  }
  if (rv < 0) {
    ue_set_error(ue, "cannot build the REGISTER: ", S(imsec_strerror(rv)), "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    ue_stop(ue, UE_ST_FAILED, out);
  }
  return 0;
}

/* FLOW_DOWN while connecting or on the flow: reconnect (or give up). */
int ue_h_flow_lost(imsec_ue *ue, const ue_event *e) {
  int up = ue->flow != 0;
  ue_calls_flow_gone(ue, ue->flow, e->out);
  ue->flow = 0; /* gone already: nothing to close */
  char why[96];
  imsec_sbuf b;
  imsec_sbuf_init(&b, why, sizeof(why));
  imsec_sbuf_add(&b, up ? "flow to the P-CSCF lost" : "connection failed");
  if (e->reason < 0) {
    imsec_sbuf_add(&b, " (");
    imsec_sbuf_add(&b, imsec_strerror(e->reason));
    imsec_sbuf_add(&b, ")");
  }
  ue_flow_lost(ue, why, e->now, e->out);
  return 0;
}

/* FLOW_DOWN in MAC_REFUSING: the network closed first; the UE is done. */
int ue_h_flow_gone_refusing(imsec_ue *ue, const ue_event *e) {
  ue_calls_flow_gone(ue, ue->flow, e->out);
  ue->flow = 0;
  ue_stop(ue, UE_ST_REFUSED, e->out);
  return 0;
}

/* TIMER_TXN in CONNECTING: the connection never came up. */
int ue_h_txn_connect(imsec_ue *ue, const ue_event *e) {
  if (!ue->txn_deadline || e->now < ue->txn_deadline)
    return 0; /* stale */
  ue->txn_deadline = 0;
  ue->connect_tag = 0;
  ue_flow_lost(ue, "connection to the P-CSCF timed out", e->now, e->out);
  return 0;
}

int imsec_ue_reconnect(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  if (ue)
    ue->now = now;
  if (!ue || !out)
    return IMSEC_ERR_INVAL;
  if (ue->st != UE_ST_REGISTERED || !ue->flow)
    return IMSEC_ERR_STATE;
  LOG(out, IMSEC_LOG_INFO,
      S("closing the flow to the P-CSCF and "
        "reconnecting; the registration stays"));
  ue_drop_flow(ue, out, 1);
  ue->connect_tag = 0;
  ue->reconnects++;
  ue_connect_now(ue, now, out);
  return imsec_out_err(out);
}

/* TIMER_RECONNECT in BACKOFF. */
int ue_h_reconnect(imsec_ue *ue, const ue_event *e) {
  if (!ue->reconnect_at || e->now < ue->reconnect_at)
    return 0; /* stale */
  ue_connect_now(ue, e->now, e->out);
  return 0;
}
