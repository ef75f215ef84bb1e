/*
 * Registration (TS 24.229 §5.1.1): the REGISTER and its Authorization
 * without credentials, the 200 (RFC 3608 Service-Route, RFC 3455
 * P-Associated-URI, the granted expiry), the other final answers (503 and
 * Retry-After, 423 and Min-Expires, refusals), re-registration before
 * expiry and de-registration. The 401 is auth.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "imsec/digest.h"
#include "imsec/secagree.h"
#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

static int deregister_now(imsec_ue *ue, imsec_time_ms now, imsec_out *out);

void ue_host_port(imsec_sbuf *b, const imsec_ue *ue) {
  imsec_sbuf_add(b, ue->local_host);
  imsec_sbuf_add(b, ":");
  imsec_sbuf_num(b, ue->local_port);
}

/* Via with a fresh branch (RFC 3261 §8.1.1.7) and rport (RFC 3581). */
int ue_build_via(imsec_ue *ue, char *buf, size_t cap) {
  char br[33];
  IMSEC_GUARD(ue_rand_hex(ue, br, sizeof(br), 12));
  imsec_sbuf b;
  imsec_sbuf_init(&b, buf, cap);
  /* draft-jennings-sip-dtls: the Via transport of SIP over DTLS. */
  imsec_sbuf_add(&b, ue->pcscf.tp == IMSEC_TP_DTLS ? "SIP/2.0/DTLS-UDP "
                     : UE_PLAIN(ue)                ? "SIP/2.0/TCP "
                                                   : "SIP/2.0/TLS ");
  ue_host_port(&b, ue);
  imsec_sbuf_add(&b, ";branch=z9hG4bK");
  imsec_sbuf_add(&b, br);
  imsec_sbuf_add(&b, ";rport");
  return b.len < cap ? 0 : IMSEC_ERR_NOBUF;
}

int ue_angle(char *buf, size_t cap, const char *uri, const char *tag) {
  imsec_sbuf b;
  imsec_sbuf_init(&b, buf, cap);
  imsec_sbuf_add(&b, "<");
  imsec_sbuf_add(&b, uri);
  imsec_sbuf_add(&b, ">");
  if (tag) {
    imsec_sbuf_add(&b, ";tag=");
    imsec_sbuf_add(&b, tag);
  }
  return b.len < cap ? 0 : IMSEC_ERR_NOBUF;
}

static void hdr(imsec_sip_builder *b, const char *name, const char *value) {
  imsec_sip_build_header(b, S(name), S(value));
}

/* The REGISTER of TS 24.229 §5.1.1.2 (and its
 * later forms): `authz` is the whole Authorization value. With
 * `persist_first` the REGISTER goes after a PERSIST of it (moved into the
 * action, see imsec_out_persist), so the host holds it until that is
 * durable. */
int ue_send_register(imsec_ue *ue, const char *authz, uint32_t expires,
                     imsec_svc_req *persist_first, imsec_time_ms now,
                     imsec_out *out) {
  char via[400], ruri[UE_TEXT + 8], from[UE_TEXT + 64], to[UE_TEXT + 8],
      contact[IMSEC_UE_URI_CAP + 200], cseq[40];
  IMSEC_GUARD(ue_build_via(ue, via, sizeof(via)));
  imsec_sbuf b;
  imsec_sbuf_init(&b, ruri, sizeof(ruri));
  imsec_sbuf_add(&b, "sip:");
  imsec_sbuf_add(&b, ue->home_domain);
  IMSEC_GUARD(ue_angle(from, sizeof(from), ue->impus[0], ue->from_tag));
  IMSEC_GUARD(ue_angle(to, sizeof(to), ue->impus[0], NULL));
  /* RFC 5626 §4.2: +sip.instance and reg-id; TS 24.229 §5.1.1.2.1. */
  imsec_sbuf_init(&b, contact, sizeof(contact));
  imsec_sbuf_add(&b, "<");
  imsec_sbuf_add(&b, ue->contact);
  imsec_sbuf_add(&b, ">;+sip.instance=\"<");
  imsec_sbuf_add(&b, ue->instance);
  imsec_sbuf_add(&b, ">\";reg-id=1;expires=");
  imsec_sbuf_num(&b, expires);
  if (b.len >= sizeof(contact))
    return IMSEC_ERR_NOBUF;
  ue->cseq++;
  imsec_sbuf_init(&b, cseq, sizeof(cseq));
  imsec_sbuf_num(&b, ue->cseq);
  imsec_sbuf_add(&b, " REGISTER");

  char *msg = malloc(UE_MSG_CAP);
  if (!msg)
    return IMSEC_ERR_NOMEM;
  imsec_sip_builder sb;
  imsec_sip_build_init(&sb, msg, UE_MSG_CAP);
  imsec_sip_build_request(&sb, S("REGISTER"), S(ruri));
  hdr(&sb, "Via", via);
  hdr(&sb, "Max-Forwards", "70");
  hdr(&sb, "From", from);
  hdr(&sb, "To", to);
  hdr(&sb, "Call-ID", ue->call_id);
  hdr(&sb, "CSeq", cseq);
  hdr(&sb, "Contact", contact);
  hdr(&sb, "Authorization", authz);
  if (!UE_DIGEST(ue)) {
    /* RFC 3329 §2.3.1 and TS 33.203 §7: offer TLS; once the server's
     * list is known echo it in Security-Verify on every later REGISTER. */
    hdr(&sb, "Security-Client", IMSEC_SECAGREE_CLIENT);
    if (ue->sec_server[0])
      hdr(&sb, "Security-Verify", ue->sec_server);
    hdr(&sb, "Require", "sec-agree");
    hdr(&sb, "Proxy-Require", "sec-agree");
  }
  /* SIP Digest over TLS (TS 33.203 Annex O): the TLS session is set up
   * before the REGISTER and no security mechanism is agreed; a P-CSCF
   * tells the scheme by the missing Security-Client (Annex P.3). */
  hdr(&sb, "Supported", "path, outbound");
  imsec_sip_build_header_uint(&sb, S("Expires"), expires);
  int n = imsec_sip_build_finish(&sb, IMSEC_STR_NULL);
  if (n >= 0) {
    /* Armed ahead of a PERSIST so the deadline covers the store too. */
    ue->txn_deadline = now + ue->txn_timeout;
    ue_arm(out, IMSEC_UE_TIMER_TXN, ue->txn_deadline);
    /* TS 33.102 Annex C, DESIGN.md §2: the accepted SQN is durable
     * before the RES that proves it leaves. */
    if (persist_first && imsec_out_persist(out, persist_first) < 0)
      n = IMSEC_ERR_NOMEM;
  }
  if (n >= 0)
    n = imsec_out_send(out, ue->flow, msg, (size_t)n);
  imsec_wipe(msg, UE_MSG_CAP);
  free(msg);
  IMSEC_GUARD(n);
  ue->reg_expires = expires;
  return 0;
}

/* The first REGISTER of a registration: Authorization with the IMPI and
 * empty nonce and response (TS 24.229 §5.1.1.2.1, TS 33.203 §6.1.1). */
int ue_register_initial(imsec_ue *ue, uint32_t expires, imsec_time_ms now,
                        imsec_out *out) {
  char uri[UE_TEXT + 8], authz[UE_AUTH_CAP];
  imsec_sbuf b;
  imsec_sbuf_init(&b, uri, sizeof(uri));
  imsec_sbuf_add(&b, "sip:");
  imsec_sbuf_add(&b, ue->home_domain);
  imsec_digest_params p = {0};
  p.username = S(ue->impi);
  p.realm = S(ue->home_domain);
  p.nonce = IMSEC_STR_LIT("");
  p.uri = S(uri);
  p.response = IMSEC_STR_LIT("");
  p.present = IMSEC_DIGEST_P_USERNAME | IMSEC_DIGEST_P_REALM |
              IMSEC_DIGEST_P_NONCE | IMSEC_DIGEST_P_URI |
              IMSEC_DIGEST_P_RESPONSE;
  /* SIP Digest: the last nonce again with nc + 1 (RFC 7616 §3.4: nc
   * counts the requests sent under one nonce), as softphones
   * re-register; else the same empty credentials as AKA. */
  int reused = UE_DIGEST(ue) && ue_digest_reuse(ue, uri, authz, sizeof(authz));
  if (!reused)
    IMSEC_GUARD(
        imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &p, authz, sizeof(authz)));
  ue->rounds = 0;
  int rv = ue_send_register(ue, authz, expires, NULL, now, out);
  imsec_wipe(authz, sizeof(authz));
  if (rv < 0) {
    ue->dig.reg_sent = 0;
    return rv;
  }
  ue->st = expires == 0     ? UE_ST_DEREGISTERING
           : ue->registered ? UE_ST_REREGISTERING
                            : UE_ST_REGISTERING;
  char cs[16], ex[16];
  ue_num_text(ue->cseq, cs, sizeof(cs));
  ue_num_text(expires, ex, sizeof(ex));
  LOG(out, IMSEC_LOG_INFO, S("-> REGISTER sip:"), S(ue->home_domain),
      S(" (cseq "), S(cs), S(", expires "), S(ex),
      S(UE_DIGEST(ue)       ? (reused ? ", digest: the last nonce, nc + 1)"
                                      : ", digest: no credentials yet)")
        : ue->sec_server[0] ? ", Security-Client: " IMSEC_SECAGREE_CLIENT
                              ", Security-Verify echoed)"
                            : ", Security-Client: " IMSEC_SECAGREE_CLIENT
                              ", no credentials yet)"));
  return 0;
}

static void keep_uris(imsec_sip_msg *m, imsec_sip_hid id,
                      char (**dst)[IMSEC_UE_URI_CAP], size_t max, size_t *n) {
  *n = 0;
  size_t k = 0;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  while (k < max && imsec_sip_addr_next(m, id, &it, &a) > 0)
    k++;
  free(*dst);
  *dst = NULL;
  /* Out of memory: kept as none (requests then go without Route). */
  if (!k || !(*dst = malloc(k * sizeof(**dst))))
    return;
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  while (*n < k && imsec_sip_addr_next(m, id, &it, &a) > 0) {
    ue_copy_wire((*dst)[*n], IMSEC_UE_URI_CAP, a.uri);
    if ((*dst)[*n][0])
      (*n)++;
  }
}

/* The expiry the registrar granted our contact (RFC 3261 §10.2.4: the
 * Contact's expires in the 200, else Expires, else what we asked). */
static uint32_t granted_expiry(imsec_ue *ue, imsec_sip_msg *m) {
  char inst[96];
  imsec_sbuf b;
  imsec_sbuf_init(&b, inst, sizeof(inst));
  imsec_sbuf_add(&b, "<");
  imsec_sbuf_add(&b, ue->instance);
  imsec_sbuf_add(&b, ">");
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  while (imsec_sip_addr_next(m, IMSEC_SIP_H_CONTACT, &it, &a) > 0) {
    int mine = (a.instance.len && imsec_str_eq(a.instance, S(inst))) ||
               imsec_str_eq(a.uri, S(ue->contact));
    if (mine && a.expires >= 0)
      return a.expires > UINT32_MAX ? UINT32_MAX : (uint32_t)a.expires;
  }
  uint32_t e;
  if (imsec_sip_get_expires(m, &e) == 0)
    return e;
  return ue->reg_expires;
}

/* The registration stands (TS 24.229 §5.1.1.2.2). Returns 0, or
 * IMSEC_ERR_LIMIT with ue->error set when the registrar granted no
 * time. */
static int on_registered(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                         imsec_out *out) {
  uint32_t granted = granted_expiry(ue, m);
  if (granted == 0) {
    ue_set_error(ue, "registration failed: the registrar granted no time",
                 IMSEC_STR_NULL, "");
    return IMSEC_ERR_LIMIT;
  }
  keep_uris(m, IMSEC_SIP_H_SERVICE_ROUTE, &ue->routes, IMSEC_UE_MAX_ROUTES,
            &ue->n_routes);
  keep_uris(m, IMSEC_SIP_H_P_ASSOCIATED_URI, &ue->assoc,
            IMSEC_UE_MAX_ASSOCIATED, &ue->n_assoc);
  ue->registered = 1;
  ue->flow_registered = 1;
  ue->st = UE_ST_REGISTERED;
  ue_psk_registered(ue, out); /* mode M3: the PSK of this AKA run */
  ue->registrations++;
  ue->connect_failures = 0;
  ue->backoff = 0;
  ue->rounds = 0;
  ue->error[0] = '\0';
  ue->expires_granted = granted;
  ue->expires_at = now + (imsec_time_ms)granted * 1000;
  /* TS 24.229 §5.1.1.4.1: re-register 600 s before expiry when the
   * registration lasts more than 1200 s, else when half of it is gone. */
  imsec_time_ms delta = granted > 1200 ? (imsec_time_ms)(granted - 600) * 1000
                                       : (imsec_time_ms)granted * 500;
  if (delta < 1)
    delta = 1;
  ue->rereg_at = now + delta;
  ue_arm(out, IMSEC_UE_TIMER_REREG, ue->rereg_at);
  /* RFC 5626: the flow carries requests to us: keep it open. */
  (void)imsec_out_keep(out, ue->flow);
  char ex[16];
  ue_num_text(granted, ex, sizeof(ex));
  LOG(out, IMSEC_LOG_INFO, S("<- 200 OK: registered "), S(ue->impus[0]),
      S(" for "), S(ex), S(" s"), S(ue->n_routes ? ", Service-Route " : ""),
      S(ue->n_routes ? ue->routes[0] : ""),
      S(ue->n_assoc ? ", P-Associated-URI " : ""),
      S(ue->n_assoc ? ue->assoc[0] : ""));
  if (ue->dereg_wanted && deregister_now(ue, now, out) < 0)
    LOG(out, IMSEC_LOG_ERROR, S("cannot de-register"));
  return 0;
}

/* The delta-seconds of a Retry-After (RFC 3261 §20.33: a number, then
 * maybe a comment and parameters), capped at a day. Returns 1 when the
 * header is present and starts with one. */
static int retry_after(imsec_sip_msg *m, uint64_t *secs) {
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_RETRY_AFTER);
  if (!h)
    return 0;
  size_t n = 0;
  while (n < h->value.len && h->value.p[n] >= '0' && h->value.p[n] <= '9')
    n++;
  uint64_t v = 0;
  int rv = imsec_sip_uint_parse(imsec_str_make(h->value.p, n), 86400, &v);
  if (rv == IMSEC_ERR_LIMIT)
    v = 86400;
  else if (rv < 0)
    return 0;
  *secs = v;
  return 1;
}

/* A final answer ends the REGISTER transaction. */
void ue_reg_answered(imsec_ue *ue, const imsec_sip_msg *m, imsec_out *out) {
  ue_obs_register(ue, m->status);
  ue->txn_deadline = 0;
  ue_arm(out, IMSEC_UE_TIMER_TXN, 0);
  ue->last_status = m->status;
}

/* The 200 to the de-REGISTER (TS 24.229 §5.1.1.6): done; close. */
static void deregistered(imsec_ue *ue, const imsec_sip_msg *m, imsec_out *out) {
  char code[8];
  ue_num_text(m->status, code, sizeof(code));
  LOG(out, IMSEC_LOG_INFO, S("<- "), S(code),
      S(" OK: de-registered; closing the flow"));
  ue->n_routes = 0;
  ue->n_assoc = 0;
  ue_stop(ue, UE_ST_IDLE, out);
}

/* RSP_2XX to the REGISTER in flight. */
int ue_h_rsp_2xx(imsec_ue *ue, const ue_event *e) {
  imsec_sip_msg *m = e->msg;
  imsec_out *out = e->out;
  ue_reg_answered(ue, m, out);
  int rv = 0;
  /* A 200 without a challenge on this connection: the certificate still
   * has to pass, with the home domain as the realm. */
  if (!ue->trusted && !ue_decide_trust(ue, ue->home_domain, out))
    rv = IMSEC_ERR_TRUST;
  else if (UE_DIGEST(ue) && (rv = ue_digest_check_2xx(ue, m, out)) < 0)
    ue->registered = 0; /* RFC 7616 §3.5: the server did not prove itself */
  else if (ue->reg_expires == 0)
    deregistered(ue, m, out);
  else
    rv = on_registered(ue, m, e->now, out);
  /* M2b: the connection may close; the P-CSCF dials the listener. */
  if (rv == 0 && ue->reg_expires && ue->close_after_register &&
      ue->st == UE_ST_REGISTERED)
    ue_park(ue, out);
  if (rv < 0) {
    if (rv != IMSEC_ERR_TRUST) /* the trust decision logged itself */
      LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    ue_stop(ue, rv == IMSEC_ERR_TRUST ? UE_ST_REFUSED : UE_ST_FAILED, out);
  }
  return 0;
}

/* A 503 to a REGISTER (RFC 3261 §21.5.4): the P-CSCF (or the network
 * behind it) cannot serve it for now: a new connection after the back-off
 * of RFC 5626 §4.5, and not before the Retry-After it asked for
 * (§20.33). */
static void on_unavailable(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                           imsec_out *out) {
  uint64_t ra = 0;
  int has_ra = retry_after(m, &ra);
  char why[96], secs[24];
  ue_num_text(ra, secs, sizeof(secs));
  imsec_sbuf b;
  imsec_sbuf_init(&b, why, sizeof(why));
  imsec_sbuf_add(&b, "503 from the P-CSCF");
  if (has_ra) {
    imsec_sbuf_add(&b, " (Retry-After ");
    imsec_sbuf_add(&b, secs);
    imsec_sbuf_add(&b, " s)");
    ue->retry_not_before = now + (imsec_time_ms)ra * 1000;
  }
  ue->flow_registered = 0; /* a failed attempt: back off */
  ue_flow_lost(ue, why, now, out);
}

/* RFC 3261 §10.2.8: 423 Interval Too Brief: ask again with Min-Expires.
 * Returns 0 when the new REGISTER went, <0 when the 423 ends it. */
static int on_too_brief(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                        imsec_out *out) {
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_MIN_EXPIRES);
  uint64_t min = 0;
  if (!h || imsec_sip_uint_parse(h->value, UINT32_MAX, &min) < 0 ||
      min <= ue->reg_expires || ue->rounds >= UE_MAX_ROUNDS)
    return IMSEC_ERR_LIMIT;
  ue->rounds++;
  LOG(out, IMSEC_LOG_INFO, S("<- 423 Interval Too Brief: Min-Expires "),
      h->value);
  ue->expires_req = (uint32_t)min;
  return ue_register_initial(ue, (uint32_t)min, now, out);
}

/* RSP_OTHER: a final answer to the REGISTER other than 2xx and 401. */
int ue_h_rsp_other(imsec_ue *ue, const ue_event *e) {
  imsec_sip_msg *m = e->msg;
  imsec_out *out = e->out;
  ue_reg_answered(ue, m, out);
  int had_credentials = ue->dig.reg_sent;
  ue->dig.reg_sent = 0;
  if (m->status == 503 && ue->reg_expires) {
    on_unavailable(ue, m, e->now, out);
    return 0;
  }
  /* (SIP Digest: the retry goes under the same nonce with nc + 1.) */
  if (m->status == 423 && ue->reg_expires &&
      on_too_brief(ue, m, e->now, out) == 0)
    return 0;
  /* SIP Digest: a refusal ends the nonce too (a 403 is a wrong password
   * or a replayed nc); the next attempt starts from a challenge. */
  ue->dig.reg.valid = 0;
  char code[8];
  ue_num_text(m->status, code, sizeof(code));
  ue_set_error(ue, "registration refused: ", S(code), " ");
  {
    imsec_sbuf b;
    imsec_sbuf_init(&b, ue->error + imsec_str_c(ue->error).len,
                    sizeof(ue->error) - imsec_str_c(ue->error).len);
    if (ue_text_ok(m->reason))
      imsec_sbuf_put(&b, m->reason);
    /* What a password terminal's user can act on. */
    if (UE_DIGEST(ue) && had_credentials && m->status == 403)
      imsec_sbuf_add(&b, " (SIP Digest: a wrong password, or too many "
                         "failed attempts locked it out for a while)");
  }
  LOG(out, IMSEC_LOG_ERROR, S("<- "), S(code), S(" "), m->reason,
      S(": registration failed"));
  ue_stop(ue, UE_ST_FAILED, out);
  return 0;
}

/* Any final answer in MAC_REFUSING: the S-CSCF's answer to "challenge
 * deemed invalid" (403 expected). The UE has refused the network already;
 * close the connection. */
int ue_h_rsp_refusing(imsec_ue *ue, const ue_event *e) {
  imsec_sip_msg *m = e->msg;
  ue_reg_answered(ue, m, e->out);
  char code[8];
  ue_num_text(m->status, code, sizeof(code));
  LOG(e->out, IMSEC_LOG_INFO, S("<- "), S(code), S(" "), m->reason,
      S(": network refused, closing"));
  ue_stop(ue, UE_ST_REFUSED, e->out);
  return 0;
}

/* TIMER_TXN while a REGISTER is out: no answer (RFC 3261 Timer F). */
int ue_h_txn_register(imsec_ue *ue, const ue_event *e) {
  if (!ue->txn_deadline || e->now < ue->txn_deadline)
    return 0; /* stale */
  ue->txn_deadline = 0;
  ue_obs_register(ue, 0);
  ue_flow_lost(ue, "no answer to REGISTER", e->now, e->out);
  return 0;
}

/* TIMER_TXN in MAC_REFUSING: the network never answered; close anyway. */
int ue_h_txn_refusing(imsec_ue *ue, const ue_event *e) {
  if (!ue->txn_deadline || e->now < ue->txn_deadline)
    return 0; /* stale */
  ue->txn_deadline = 0;
  ue_stop(ue, UE_ST_REFUSED, e->out);
  return 0;
}

/* Forget a registration whose time is up. */
static void lapse(imsec_ue *ue, imsec_time_ms now) {
  if (ue->registered && now >= ue->expires_at)
    ue->registered = 0;
}

/* TIMER_REREG in REGISTERED: re-register before expiry (TS 24.229
 * §5.1.1.4.1). */
int ue_h_rereg(imsec_ue *ue, const ue_event *e) {
  if (!ue->rereg_at || e->now < ue->rereg_at)
    return 0; /* stale */
  ue->rereg_at = 0;
  lapse(ue, e->now);
  LOG(e->out, IMSEC_LOG_INFO, S("re-registering before expiry"));
  int rv = ue_register_initial(ue, ue->expires_req, e->now, e->out);
  if (rv < 0)
    ue_flow_lost(ue, "cannot send the re-REGISTER", e->now, e->out);
  return 0;
}

/* TIMER_REREG while another REGISTER is out or there is no flow: that
 * attempt renews the registration; only note when it has lapsed. */
int ue_h_lapse(imsec_ue *ue, const ue_event *e) {
  if (!ue->rereg_at || e->now < ue->rereg_at)
    return 0; /* stale */
  ue->rereg_at = 0;
  lapse(ue, e->now);
  return 0;
}

/* TS 24.229 §5.1.1.6: REGISTER with Expires 0 for our contact. */
static int deregister_now(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  ue->dereg_wanted = 1;
  ue->rereg_at = 0;
  ue_arm(out, IMSEC_UE_TIMER_REREG, 0);
  return ue_register_initial(ue, 0, now, out);
}

/* DEREGISTER, in every state. */
int ue_h_deregister(imsec_ue *ue, const ue_event *e) {
  imsec_out *out = e->out;
  if (ue->st == UE_ST_REFUSED || ue->st == UE_ST_FAILED ||
      ue->st == UE_ST_MAC_REFUSING) {
    /* Refused or failed stays so; any flow closes. */
    ue_stop(ue, ue->st == UE_ST_FAILED ? UE_ST_FAILED : UE_ST_REFUSED, out);
    return imsec_out_err(out);
  }
  int in_flight =
      ue->st == UE_ST_REREGISTERING || ue->st == UE_ST_DEREGISTERING ||
      ue->st == UE_ST_PERSISTING_SQN || ue->st == UE_ST_AUTHENTICATING;
  if (in_flight && ue->registered && ue->flow) {
    /* A REGISTER is in flight: de-register after its answer. */
    ue->dereg_wanted = 1;
    return 0;
  }
  if (ue->st != UE_ST_REGISTERED || !ue->registered || !ue->flow) {
    if (ue->st != UE_ST_IDLE)
      LOG(out, IMSEC_LOG_INFO, S("stopping (not registered)"));
    ue_stop(ue, UE_ST_IDLE, out);
    return imsec_out_err(out);
  }
  int rv = deregister_now(ue, e->now, out);
  if (rv < 0) {
    LOG(out, IMSEC_LOG_ERROR, S("cannot de-register: "), S(imsec_strerror(rv)));
    ue_stop(ue, UE_ST_IDLE, out);
    return rv;
  }
  return imsec_out_err(out);
}
