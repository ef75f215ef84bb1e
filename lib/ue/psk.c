/*
 * Mode M3 at the UE (DESIGN.md §2; seed §3.3): shared-key TLS to the
 * P-CSCF, TLS 1.3 external PSK with ECDHE or TLS 1.2 ECDHE-PSK.
 *
 * Configured: the profile's identity (the IMPI) and key; the UE offers them
 * on every connection. AKA-derived (this project's profile, not a 3GPP
 * one: include/imsec/kdf.h, docs/M3.md): after each AKA run that ends in a
 * 200, CK, IK, the IMPI and RAND give the PSK and its identity, and CK and
 * IK are wiped; while that registration lives every reconnection offers
 * the derived PSK, and the next AKA run replaces it. A flow that comes up
 * on the derived PSK continues the registration without a new REGISTER
 * (the P-CSCF moved its binding to the flow).
 *
 * A PSK flow carries no certificate: the key is the proof that the peer
 * is the P-CSCF that holds it, so there is no certificate decision; the
 * realm of a challenge on it must still be the home network domain name
 * (RFC 3261 §26.3.2.1's realm rule, DESIGN.md §3).
 */
#include <string.h>

#include "imsec/kdf.h"
#include "lib/ue/ue_int.h"

const char *imsec_ue_tls_mode_name(imsec_ue_tls_mode m) {
  switch (m) {
  case IMSEC_UE_TLS_CERT:
    return "certificate";
  case IMSEC_UE_TLS_PSK:
    return "psk (configured)";
  case IMSEC_UE_TLS_PSK_AKA:
    return "psk (derived)";
  default:
    return "none";
  }
}

int ue_psk_config(imsec_ue *ue, const imsec_ue_config *cfg) {
  ue_psk *k = &ue->psk;
  k->aka = cfg->aka_psk != 0;
  if (!cfg->psk_len)
    return 0;
  if (cfg->psk_len > IMSEC_PSK_MAX || !cfg->psk_identity)
    return IMSEC_ERR_CONFIG;
  imsec_str id = imsec_str_c(cfg->psk_identity);
  if (!id.len || id.len >= sizeof(k->cfg_id) || !ue_text_ok(id))
    return IMSEC_ERR_CONFIG;
  memcpy(k->cfg_id, id.p, id.len);
  k->cfg_id[id.len] = '\0';
  memcpy(k->cfg_key, cfg->psk, cfg->psk_len);
  k->cfg_len = cfg->psk_len;
  return 0;
}

int ue_psk_derived_usable(const imsec_ue *ue, imsec_time_ms now) {
  return ue->psk.has_derived && ue->registered && now < ue->expires_at;
}

void ue_psk_connect(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  ue_psk *k = &ue->psk;
  imsec_tls_profile tls;
  memset(&tls, 0, sizeof(tls));
  k->offered = IMSEC_UE_TLS_CERT;
  if (ue_psk_derived_usable(ue, now)) {
    k->offered = IMSEC_UE_TLS_PSK_AKA;
    memcpy(tls.psk, k->derived_key, sizeof(k->derived_key));
    tls.psk_len = sizeof(k->derived_key);
    memcpy(tls.psk_identity, k->derived_id, sizeof(k->derived_id));
  } else if (k->cfg_len) {
    k->offered = IMSEC_UE_TLS_PSK;
    memcpy(tls.psk, k->cfg_key, k->cfg_len);
    tls.psk_len = k->cfg_len;
    memcpy(tls.psk_identity, k->cfg_id, sizeof(k->cfg_id));
  }
  int dtls = ue->pcscf.tp == IMSEC_TP_DTLS;
  if (dtls) {
    /* The host's DTLS client context defers verification like the TLS
     * one: the trust decision is the UE's. */
    memcpy(tls.profile, IMSEC_UE_DTLS_PROFILE, sizeof(IMSEC_UE_DTLS_PROFILE));
    tls.verify = IMSEC_TLS_VERIFY_DEFER;
    tls.dtls = 1;
  }
  char addr[300];
  if (imsec_addr_format(&ue->pcscf, addr, sizeof(addr)) < 0)
    addr[0] = '\0';
  if (k->offered == IMSEC_UE_TLS_CERT) {
    LOG(out, IMSEC_LOG_INFO, S("connect "), S(addr),
        S(dtls ? " (DTLS, server name " : " (TLS, server name "),
        S(ue->pcscf_name), S(")"));
    if (dtls)
      (void)imsec_out_connect_tls(out, ue->connect_tag, &ue->pcscf,
                                  ue->pcscf_name, &tls);
    else
      (void)imsec_out_connect(out, ue->connect_tag, &ue->pcscf, ue->pcscf_name);
    return;
  }
  LOG(out, IMSEC_LOG_INFO, S("connect "), S(addr),
      S(dtls ? " (DTLS, " : " (TLS, "), S(imsec_ue_tls_mode_name(k->offered)),
      S(" identity "), S(tls.psk_identity), S(", server name "),
      S(ue->pcscf_name), S(")"));
  (void)imsec_out_connect_tls(out, ue->connect_tag, &ue->pcscf, ue->pcscf_name,
                              &tls);
  imsec_wipe(&tls, sizeof(tls));
}

int ue_psk_flow_up(imsec_ue *ue, const imsec_flow_info *info, imsec_out *out) {
  ue_psk *k = &ue->psk;
  if (!info || !info->psk || k->offered == IMSEC_UE_TLS_CERT) {
    if (k->offered != IMSEC_UE_TLS_CERT)
      LOG(out, IMSEC_LOG_WARN, S("the P-CSCF did not take the "),
          S(imsec_ue_tls_mode_name(k->offered)),
          S("; the certificate handshake decides"));
    k->mode = IMSEC_UE_TLS_CERT;
    return 0;
  }
  k->mode = k->offered;
  ue->has_peer_cert = 0; /* no certificate decision on a PSK flow */
  LOG(out, IMSEC_LOG_INFO, S("tls: "), S(imsec_ue_tls_mode_name(k->mode)),
      S(", identity "), S(info->psk_identity ? info->psk_identity : "?"),
      S("; no certificate: the key proves the P-CSCF, the realm is checked "
        "at the challenge"));
  return 1;
}

void ue_psk_aka_run(imsec_ue *ue, const imsec_aka_ue_result *r,
                    const uint8_t rand[16]) {
  ue_psk *k = &ue->psk;
  if (!k->aka || r->status != IMSEC_AKA_UE_OK)
    return;
  memcpy(k->run_ck, r->ck, 16);
  memcpy(k->run_ik, r->ik, 16);
  memcpy(k->run_rand, rand, 16);
  k->has_run = 1;
}

static void wipe_run(ue_psk *k) {
  imsec_wipe(k->run_ck, sizeof(k->run_ck));
  imsec_wipe(k->run_ik, sizeof(k->run_ik));
  imsec_wipe(k->run_rand, sizeof(k->run_rand));
  k->has_run = 0;
}

void ue_psk_registered(imsec_ue *ue, imsec_out *out) {
  ue_psk *k = &ue->psk;
  if (!k->has_run)
    return; /* no new AKA run: the PSK of the last one goes on */
  uint8_t key[IMSEC_M3_PSK_LEN];
  char id[IMSEC_M3_ID_LEN + 1];
  int rv = imsec_m3_psk_derive(ue->crypto, k->run_ck, k->run_ik, S(ue->impi),
                               k->run_rand, key, id, sizeof(id));
  wipe_run(k);
  if (rv < 0) {
    LOG(out, IMSEC_LOG_WARN, S("no AKA-derived PSK: "), S(imsec_strerror(rv)));
    return;
  }
  memcpy(k->derived_key, key, sizeof(key));
  memcpy(k->derived_id, id, sizeof(id));
  k->has_derived = 1;
  imsec_wipe(key, sizeof(key));
  LOG(out, IMSEC_LOG_INFO, S("AKA-derived PSK "), S(id),
      S(" ready for reconnections while the registration lives"));
}

void ue_psk_forget(imsec_ue *ue) {
  ue_psk *k = &ue->psk;
  wipe_run(k);
  imsec_wipe(k->derived_key, sizeof(k->derived_key));
  memset(k->derived_id, 0, sizeof(k->derived_id));
  k->has_derived = 0;
}
