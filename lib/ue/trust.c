/*
 * The trust decision hook (DESIGN.md §3): may this P-CSCF act for the home
 * network? lib/trust decides; the UE records the verdict and says why.
 */
#include <string.h>

#include "lib/ue/ue_int.h"

/* DESIGN.md §3: may this P-CSCF act for the home network? Records the
 * decision and returns 1 when trusted. With `realm` NULL only the
 * certificate part is decided (imsec_trust_decide_cert): what the UE
 * knows when the TLS handshake completes, before it sends anything. */
int ue_realm_trust(imsec_ue *ue, const char *realm, const char *flow_kind,
                   imsec_out *out) {
  if (!realm)
    return 1;
  if (imsec_str_ieq(S(realm), S(ue->home_domain))) {
    ue->trusted = 1;
    elem_tally_add(&ue->obs.trust, "accepted", "home-realm");
    return 1;
  }
  elem_tally_add(&ue->obs.trust, "refused", "realm-mismatch");
  imsec_trust_result r;
  memset(&r, 0, sizeof(r));
  r.verdict = IMSEC_TRUST_REJECTED;
  r.reason = IMSEC_TRUST_REALM_MISMATCH;
  imsec_sbuf b;
  imsec_sbuf_init(&b, r.why, sizeof(r.why));
  imsec_sbuf_add(&b, "realm '");
  imsec_sbuf_add(&b, realm);
  imsec_sbuf_add(&b, "' is not the home domain '");
  imsec_sbuf_add(&b, ue->home_domain);
  imsec_sbuf_add(&b, "' (");
  imsec_sbuf_add(&b, flow_kind);
  imsec_sbuf_add(&b, ")");
  ue->trust = r;
  ue->trust_decided = 1;
  imsec_sbuf_init(&b, ue->error, sizeof(ue->error));
  imsec_sbuf_add(&b, "P-CSCF not trusted [realm-mismatch]: ");
  imsec_sbuf_add(&b, r.why);
  LOG(out, IMSEC_LOG_WARN, S("trust: REJECTED [realm-mismatch] "), S(r.why));
  return 0;
}

int ue_decide_trust(imsec_ue *ue, const char *realm, imsec_out *out) {
  /* Plain TCP (a load generator, UE_PLAIN): no certificate, so nothing
   * to decide on the flow; the challenge's realm must still be the home
   * domain, or the password would answer anyone's challenge. */
  if (UE_PLAIN(ue))
    return ue_realm_trust(ue, realm, "plain TCP", out);
  /* Mode M3: a PSK flow has no certificate; only the realm (psk.c). */
  if (ue->psk.mode == IMSEC_UE_TLS_PSK || ue->psk.mode == IMSEC_UE_TLS_PSK_AKA)
    return ue_realm_trust(ue, realm, "PSK flow", out);
  imsec_trust_result r;
  memset(&r, 0, sizeof(r));
  if (!ue->has_peer_cert) {
    r.verdict = IMSEC_TRUST_REJECTED;
    r.reason = IMSEC_TRUST_CHAIN_INVALID;
    imsec_sbuf b;
    imsec_sbuf_init(&b, r.why, sizeof(r.why));
    imsec_sbuf_add(&b, "the P-CSCF presented no certificate");
  } else {
    imsec_trust_input in = {
        .cert = &ue->peer_cert,
        .pcscf_host = S(ue->pcscf_name),
        .realm = realm ? S(realm) : IMSEC_STR_NULL,
        .trust_domain = S(ue->trust_domain),
        .home_domain = S(ue->home_domain),
        .policy = ue->policy,
        .allow_wildcards = ue->allow_wildcards,
    };
    int rv =
        realm ? imsec_trust_decide(&in, &r) : imsec_trust_decide_cert(&in, &r);
    if (rv < 0) {
      memset(&r, 0, sizeof(r));
      r.verdict = IMSEC_TRUST_REJECTED;
      r.reason = IMSEC_TRUST_CHAIN_INVALID;
      imsec_sbuf b;
      imsec_sbuf_init(&b, r.why, sizeof(r.why));
      imsec_sbuf_add(&b, "the trust decision could not be made");
    }
  }
  ue->trust = r;
  ue->trust_decided = 1;
  /* Counted when decided: a refusal at either step, an acceptance once
   * the realm is known too (DESIGN.md §3). */
  if (r.verdict == IMSEC_TRUST_REJECTED)
    elem_tally_add(&ue->obs.trust, "refused",
                   imsec_trust_reason_code(r.reason));
  else if (realm)
    elem_tally_add(&ue->obs.trust, "accepted",
                   r.verdict == IMSEC_TRUST_HOME ? "home" : "partner");
  const char *verdict = r.verdict == IMSEC_TRUST_HOME ? "trusted (home)"
                        : r.verdict == IMSEC_TRUST_PARTNER
                            ? "trusted (roaming partner "
                            : "REJECTED";
  LOG(out, r.verdict == IMSEC_TRUST_REJECTED ? IMSEC_LOG_WARN : IMSEC_LOG_INFO,
      S("trust: "), S(verdict),
      S(r.verdict == IMSEC_TRUST_PARTNER ? r.partner : ""),
      S(r.verdict == IMSEC_TRUST_PARTNER ? ")" : ""), S(" ["),
      S(imsec_trust_reason_code(r.reason)), S("] "), S(r.why),
      S(!realm ? (r.verdict == IMSEC_TRUST_REJECTED
                      ? "; closing the connection before any SIP message"
                      : "; the certificate passes, the realm is checked at "
                        "the challenge")
               : ""));
  if (r.verdict == IMSEC_TRUST_REJECTED) {
    imsec_sbuf b;
    imsec_sbuf_init(&b, ue->error, sizeof(ue->error));
    imsec_sbuf_add(&b, "P-CSCF not trusted [");
    imsec_sbuf_add(&b, imsec_trust_reason_code(r.reason));
    imsec_sbuf_add(&b, "]: ");
    imsec_sbuf_add(&b, r.why);
    return 0;
  }
  if (realm)
    ue->trusted = 1;
  return 1;
}
