/*
 * Mode M2b at the UE (DESIGN.md §2, seed §3.2): the UE holds a server
 * certificate and listens; after registering it may close its connection
 * (close_after_register) and the P-CSCF opens TLS towards its Contact when
 * a request comes for it. The UE takes such a connection only from the
 * P-CSCF it registered through: the P-CSCF's client certificate passes
 * the UE's trust decision (DESIGN.md §3, docs/TRUST.md: the same rules as
 * for its server certificate, with the P-CSCF's name and the realm the
 * registration ran under) and carries EKU clientAuth (TS 33.310 §6.1.3c).
 * Requests on that flow are handled as on the registration's flow.
 */
#include <string.h>

#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

/* The Contact naming the listener: sip:ue@HOST:PORT;transport=tls (no
 * ob: it is not a flow of RFC 5626 but an address the P-CSCF dials). */
int ue_contact_listen(imsec_ue *ue) {
  if (!ue->has_listen)
    return 0;
  imsec_sbuf b;
  imsec_sbuf_init(&b, ue->contact, sizeof(ue->contact));
  int v6 = strchr(ue->listen.host, ':') != NULL;
  char port[8];
  ue_num_text(ue->listen.port, port, sizeof(port));
  imsec_sbuf_add(&b, "sip:ue@");
  imsec_sbuf_add(&b, v6 ? "[" : "");
  imsec_sbuf_add(&b, ue->listen.host);
  imsec_sbuf_add(&b, v6 ? "]:" : ":");
  imsec_sbuf_add(&b, port);
  imsec_sbuf_add(&b, ";transport=tls");
  return 1;
}

/* After a 200 with close_after_register: the flow goes, the registration
 * stays; the re-registration timer brings the UE back. */
void ue_park(imsec_ue *ue, imsec_out *out) {
  ue_drop_flow(ue, out, 1);
  ue->st = UE_ST_PARKED;
  LOG(out, IMSEC_LOG_INFO,
      S("registered; connection closed (close-after-register): the P-CSCF "
        "dials the listener at "),
      S(ue->contact));
}

/* TIMER_REREG while parked: connect again and re-register. */
int ue_h_park_rereg(imsec_ue *ue, const ue_event *e) {
  if (!ue->rereg_at || e->now < ue->rereg_at)
    return 0; /* stale */
  ue_connect_now(ue, e->now, e->out);
  return 0;
}

/* DEREGISTER while parked (TS 24.229 §5.1.1.6): connect again and send
 * the REGISTER with Expires 0 there (ue_h_flow_up sees dereg_wanted), so
 * the P-CSCF does not keep dialling a UE that left. */
int ue_h_park_dereg(imsec_ue *ue, const ue_event *e) {
  ue->dereg_wanted = 1;
  ue->rereg_at = 0;
  ue_arm(e->out, IMSEC_UE_TIMER_REREG, 0);
  if (ue->in_flow) {
    (void)imsec_out_close(e->out, ue->in_flow);
    ue->in_flow = 0;
  }
  LOG(e->out, IMSEC_LOG_INFO, S("de-registering: connecting to the P-CSCF"));
  ue_connect_now(ue, e->now, e->out);
  return imsec_out_err(e->out);
}

/* The P-CSCF's client certificate, judged like its server certificate
 * was: 1 when it passes. */
static int pcscf_client_ok(imsec_ue *ue, const imsec_flow_info *info,
                           imsec_out *out) {
  const imsec_trust_cert *c = info ? info->peer_cert : NULL;
  imsec_trust_result r;
  memset(&r, 0, sizeof(r));
  const char *why = NULL;
  if (!c) {
    why = "no-certificate";
  } else if (!c->client_auth) {
    why = "not-client-auth";
  } else {
    imsec_trust_input in = {
        .cert = c,
        .pcscf_host = S(ue->pcscf_name),
        .realm = S(ue->home_domain),
        .trust_domain = S(ue->trust_domain),
        .home_domain = S(ue->home_domain),
        .policy = ue->policy,
        .allow_wildcards = ue->allow_wildcards,
    };
    if (imsec_trust_decide(&in, &r) < 0 || r.verdict == IMSEC_TRUST_REJECTED)
      why = imsec_trust_reason_code(r.reason);
  }
  char addr[300];
  if (!info || imsec_addr_format(&info->peer, addr, sizeof(addr)) < 0)
    addr[0] = '\0';
  if (why) {
    LOG(out, IMSEC_LOG_WARN, S("refused inbound connection from "), S(addr),
        S(": not the P-CSCF "), S(ue->pcscf_name), S(" ["), S(why), S("] "),
        S(r.why));
    return 0;
  }
  LOG(out, IMSEC_LOG_INFO, S("inbound connection from "), S(addr),
      S(": P-CSCF "), S(ue->pcscf_name), S(" trusted ("),
      S(r.verdict == IMSEC_TRUST_PARTNER ? "roaming partner" : "home"),
      S(", client certificate)"));
  return 1;
}

int ue_listen_flow_up(imsec_ue *ue, uint64_t flow, const imsec_flow_info *info,
                      imsec_time_ms now, imsec_out *out) {
  (void)now;
  if (!ue->has_listen)
    return IMSEC_ERR_STATE; /* a UE without a listener takes nothing */
  if (ue->in_flow || !ue->registered) {
    LOG(out, IMSEC_LOG_WARN, S("refused inbound connection: "),
        S(ue->in_flow ? "one is up already" : "not registered"));
    return IMSEC_ERR_STATE;
  }
  if (!pcscf_client_ok(ue, info, out))
    return IMSEC_ERR_TRUST;
  ue->in_flow = flow;
  (void)imsec_out_keep(out, flow);
  return 0;
}

int ue_listen_message(imsec_ue *ue, uint64_t flow, imsec_sip_msg *m,
                      imsec_time_ms now, imsec_out *out) {
  if (!flow || flow != ue->in_flow)
    return 0;
  if (!m->is_request) {
    /* Only a call's requests (BYE, re-INVITE of an incoming call that
     * came this way) are answered there. */
    imsec_str cid;
    const imsec_sip_cseq *cs;
    if (imsec_sip_get_call_id(m, &cid) == 0 &&
        imsec_sip_get_cseq(m, &cs) == 0 && ue_call_owns(ue, m, cid)) {
      ue_event e = {.ev = UE_EV_RSP_CALL,
                    .now = now,
                    .out = out,
                    .flow = flow,
                    .msg = m,
                    .call_id = cid};
      (void)ue_h_rsp_call(ue, &e);
    }
    return 1;
  }
  ue_event e = {
      .ev = UE_EV_REQUEST, .now = now, .out = out, .flow = flow, .msg = m};
  ue->reply_flow = flow;
  (void)ue_h_request(ue, &e);
  ue->reply_flow = 0;
  return 1;
}

int ue_listen_flow_down(imsec_ue *ue, uint64_t flow, imsec_out *out) {
  if (!flow || flow != ue->in_flow)
    return 0;
  ue_calls_flow_gone(ue, flow, out);
  ue->in_flow = 0;
  LOG(out, IMSEC_LOG_INFO, S("inbound connection from the P-CSCF closed"));
  return 1;
}
