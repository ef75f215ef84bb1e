/*
 * The UE element (include/imsec/ue.h): construction, status, the SQN
 * profile mapping and the small helpers the other files of lib/ue share
 * (ue_int.h lists them). The behaviour lives in fsm.c and the files it
 * dispatches to.
 *
 * Clauses: TS 24.229 §5.1.1 (UE registration), TS 33.203 §6.1 (AKA and its
 * failures), RFC 3329 (sec-agree), RFC 3310/4169 (Digest AKA), RFC 5626
 * (outbound), RFC 3608 (Service-Route), RFC 3455 (P-Associated-URI).
 */
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

void ue_logv(imsec_out *out, imsec_log_level lv, const imsec_str *p, size_t n) {
  (void)imsec_out_logv(out, lv, p, n);
}

void ue_arm(imsec_out *out, uint64_t timer, imsec_time_ms at) {
  (void)imsec_out_timer(out, timer, at);
}

/* ------------------------------------------------------------ small text */

int ue_text_ok(imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    unsigned char ch = (unsigned char)s.p[i];
    if (ch < 0x20 || ch == 0x7f)
      return 0;
  }
  return 1;
}

/* A target the UE may send a request to: printable, fits, a sip:, sips:
 * or tel: URI without headers (RFC 3261 §19.1.1: headers in a Request-URI
 * are not allowed). */
int ue_target_ok(imsec_str to) {
  imsec_sip_uri u;
  return ue_text_ok(to) && to.len < IMSEC_UE_URI_CAP &&
         imsec_sip_uri_parse(to, 32, &u) >= 0 &&
         (u.scheme == IMSEC_SIP_SCHEME_SIP ||
          u.scheme == IMSEC_SIP_SCHEME_SIPS ||
          u.scheme == IMSEC_SIP_SCHEME_TEL) &&
         !u.has_headers;
}

/* Copy configuration text: present, printable, fits. */
static int copy_cfg(char *dst, size_t cap, const char *src) {
  if (!src || !src[0])
    return IMSEC_ERR_CONFIG;
  imsec_str s = imsec_str_c(src);
  if (!ue_text_ok(s) || imsec_str_copy(s, dst, cap) < 0)
    return IMSEC_ERR_CONFIG;
  return 0;
}

/* Copy text from a message, dropping it ("") if it does not fit. */
void ue_copy_wire(char *dst, size_t cap, imsec_str s) {
  if (!ue_text_ok(s) || imsec_str_copy(s, dst, cap) < 0)
    dst[0] = '\0';
}

void ue_num_text(uint64_t v, char *buf, size_t cap) {
  imsec_sbuf b;
  imsec_sbuf_init(&b, buf, cap);
  imsec_sbuf_num(&b, (size_t)v);
}

int ue_rand_hex(imsec_ue *ue, char *out, size_t cap, size_t nbytes) {
  uint8_t raw[32];
  if (nbytes > sizeof(raw))
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(imsec_random(ue->crypto, raw, nbytes));
  return imsec_hex_encode(raw, nbytes, out, cap);
}

void ue_set_error(imsec_ue *ue, const char *a, imsec_str b, const char *c) {
  imsec_sbuf w;
  imsec_sbuf_init(&w, ue->error, sizeof(ue->error));
  imsec_sbuf_add(&w, a);
  if (ue_text_ok(b))
    imsec_sbuf_put(&w, b);
  imsec_sbuf_add(&w, c);
}

const char *imsec_ue_state_name(imsec_ue_state s) {
  static const char *const names[] = {"idle",       "connecting", "challenged",
                                      "registered", "refused",    "failed"};
  return (unsigned)s < 6 ? names[s] : "?";
}

/* ------------------------------------------------------------------- SQN */

static imsec_sqn_cfg sqn_cfg_or_default(const imsec_sqn_cfg *cfg) {
  if (!cfg || cfg->ind_bits == 0)
    return imsec_sqn_cfg_default();
  return *cfg;
}

int imsec_ue_sqn_load(const uint8_t sqn_ms[6], const imsec_sqn_cfg *cfg,
                      imsec_sqn_ue *out) {
  if (!sqn_ms || !out)
    return IMSEC_ERR_INVAL;
  imsec_sqn_cfg c = sqn_cfg_or_default(cfg);
  IMSEC_GUARD(imsec_sqn_cfg_check(&c));
  memset(out, 0, sizeof(*out));
  /* TS 33.102 C.2.2: the array is not in the profile, only SQN_MS. Giving
   * every slot its SEQ refuses anything not newer than SQN_MS (an old
   * vector costs a resynchronisation, never a replay). */
  uint64_t seq = imsec_sqn_to_u64(sqn_ms) >> c.ind_bits;
  for (unsigned i = 0; i < (1u << c.ind_bits); i++)
    out->seq_ms[i] = seq;
  return 0;
}

void imsec_ue_sqn_save(const imsec_sqn_ue *st, const imsec_sqn_cfg *cfg,
                       uint8_t sqn_ms[6]) {
  imsec_sqn_cfg c = sqn_cfg_or_default(cfg);
  imsec_sqn_from_u64(imsec_sqn_ue_highest(st, &c), sqn_ms);
}

const imsec_sqn_ue *imsec_ue_sqn(const imsec_ue *ue) {
  return &ue->sqn;
}

/* --------------------------------------------------------- construction */

/* A stable instance id (RFC 5626 §4.1) derived from the IMPI: a UUID of
 * version 8 (RFC 9562 §5.8) over SHA-256 of the IMPI, so a UE keeps its
 * +sip.instance across runs without storing it. */
static int derive_instance(imsec_ue *ue) {
  static const char label[] = "imsec ue instance:";
  imsec_iov iov[2] = {{label, sizeof(label) - 1},
                      {ue->impi, imsec_str_c(ue->impi).len}};
  uint8_t h[IMSEC_SHA256_LEN];
  IMSEC_GUARD(imsec_hash(ue->crypto, IMSEC_HASH_SHA256, iov, 2, h));
  h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
  h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
  char hex[33];
  IMSEC_GUARD(imsec_hex_encode(h, 16, hex, sizeof(hex)));
  imsec_sbuf b;
  imsec_sbuf_init(&b, ue->instance, sizeof(ue->instance));
  imsec_sbuf_add(&b, "urn:uuid:");
  static const size_t cut[] = {0, 8, 12, 16, 20, 32};
  for (int i = 0; i < 5; i++) {
    if (i)
      imsec_sbuf_add(&b, "-");
    imsec_sbuf_put(&b, imsec_str_make(hex + cut[i], cut[i + 1] - cut[i]));
  }
  return 0;
}

int imsec_ue_new(imsec_ue **out, const imsec_ue_config *cfg,
                 imsec_crypto *crypto) {
  if (!out || !cfg || !crypto)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  if (cfg->n_impus == 0 || cfg->n_impus > IMSEC_UE_MAX_IMPUS || !cfg->impus)
    return IMSEC_ERR_CONFIG;
  /* An ISIM UE needs exactly one of OP and OPc (TS 35.206); a SIP Digest
   * UE (a password, TS 33.203 Annex N) uses neither. */
  if (cfg->password_len == 0 && cfg->has_op == cfg->has_opc)
    return IMSEC_ERR_CONFIG;
  /* Plain TCP only when asked for and only for SIP Digest without any
   * TLS-bound feature (a PSK, an M2b listener): an ISIM UE, and every
   * terminal, stays on TLS (TS 33.203 Annex O needs TLS for Digest too;
   * plain TCP is only for comparing load generators). */
  int plain = cfg->pcscf.tp == IMSEC_TP_TCP;
  if (cfg->allow_plain && cfg->password_len == 0)
    return IMSEC_ERR_CONFIG;
  if (plain &&
      (!cfg->allow_plain || cfg->has_listen || cfg->aka_psk || cfg->psk_len))
    return IMSEC_ERR_CONFIG;
  if ((cfg->pcscf.tp != IMSEC_TP_TLS && cfg->pcscf.tp != IMSEC_TP_DTLS &&
       !plain) ||
      cfg->pcscf.port == 0 || !cfg->pcscf.host[0])
    return IMSEC_ERR_CONFIG;
  imsec_sqn_cfg sc = sqn_cfg_or_default(&cfg->sqn_cfg);
  if (imsec_sqn_cfg_check(&sc) < 0)
    return IMSEC_ERR_CONFIG;

  int rv;
  imsec_ue *ue = calloc(1, sizeof(*ue));
  if (!ue)
    return IMSEC_ERR_NOMEM;
  ue->crypto = crypto;
  ue->sqn_cfg = sc;
  ue->sqn = cfg->sqn;
  IMSEC_GUARD_GOTO(rv, copy_cfg(ue->impi, sizeof(ue->impi), cfg->impi),
                   fail_cfg);
  for (size_t i = 0; i < cfg->n_impus; i++)
    IMSEC_GUARD_GOTO(
        rv, copy_cfg(ue->impus[i], sizeof(ue->impus[i]), cfg->impus[i]),
        fail_cfg);
  ue->n_impus = cfg->n_impus;
  IMSEC_GUARD_GOTO(
      rv, copy_cfg(ue->home_domain, sizeof(ue->home_domain), cfg->home_domain),
      fail_cfg);
  IMSEC_GUARD_GOTO(
      rv,
      copy_cfg(ue->trust_domain, sizeof(ue->trust_domain), cfg->trust_domain),
      fail_cfg);
  /* The host name the UE dialled is what the certificate must name
   * (RFC 5922 §7.2); an IP literal as --pcscf needs --pcscf-name. */
  IMSEC_GUARD_GOTO(
      rv,
      copy_cfg(ue->pcscf_name, sizeof(ue->pcscf_name),
               cfg->pcscf_name ? cfg->pcscf_name : cfg->pcscf.host),
      fail_cfg);
  ue->pcscf = cfg->pcscf;
  /* M2b: a listener with an IP literal host (it goes into the Contact). */
  if (cfg->has_listen &&
      (cfg->listen.tp != IMSEC_TP_TLS || !cfg->listen.port ||
       !cfg->listen.host[0] || !memchr(cfg->listen.host, 0, 64) ||
       !ue_text_ok(imsec_str_c(cfg->listen.host)))) {
    rv = IMSEC_ERR_CONFIG;
    goto fail_cfg;
  }
  ue->listen = cfg->listen;
  ue->has_listen = cfg->has_listen;
  ue->close_after_register = cfg->close_after_register && cfg->has_listen;
  ue->policy = cfg->policy;
  ue->allow_wildcards = cfg->allow_wildcards;
  ue->expires_req = cfg->expires ? cfg->expires : 600;
  ue->txn_timeout = cfg->txn_timeout_ms > 0 ? cfg->txn_timeout_ms : 32000;
  ue->sip_timers = (imsec_sip_timers){cfg->t1_ms, cfg->t2_ms, cfg->t4_ms};
  ue->keepalive_ms = cfg->keepalive_ms == 0  ? 25000
                     : cfg->keepalive_ms < 0 ? 0
                                             : cfg->keepalive_ms;
  imsec_sip_timers dflt;
  imsec_sip_timers_default(&dflt);
  if (ue->sip_timers.t1 <= 0)
    ue->sip_timers.t1 = dflt.t1;
  if (ue->sip_timers.t2 <= 0)
    ue->sip_timers.t2 = dflt.t2;
  if (ue->sip_timers.t4 <= 0)
    ue->sip_timers.t4 = dflt.t4;
  ue->backoff_min = cfg->reconnect_min_ms > 0 ? cfg->reconnect_min_ms : 500;
  ue->backoff_max = cfg->reconnect_max_ms > 0 ? cfg->reconnect_max_ms : 30000;
  ue->max_connect_attempts = cfg->max_connect_attempts;
  IMSEC_GUARD_GOTO(rv, ue_psk_config(ue, cfg), fail_cfg); /* mode M3 */
  ue->next_tag = 1;
  ue->next_handle = 1;
  if (cfg->answer < IMSEC_UE_ANSWER_AUTO ||
      cfg->answer > IMSEC_UE_ANSWER_RING || cfg->answer_delay_ms < 0) {
    rv = IMSEC_ERR_CONFIG;
    goto fail_cfg;
  }
  ue->answer = cfg->answer;
  ue->answer_delay = cfg->answer_delay_ms;

  IMSEC_GUARD_GOTO(rv, ue_digest_config(ue, cfg), fail_cfg);
  IMSEC_GUARD_GOTO(rv, imsec_milenage_new(&ue->mil, crypto), fail_cfg);
  if (!UE_DIGEST(ue)) {
    rv = cfg->has_op ? imsec_milenage_set_op(ue->mil, cfg->k, cfg->op)
                     : imsec_milenage_set_opc(ue->mil, cfg->k, cfg->opc);
    if (rv < 0)
      goto fail_key;
  }
  if (cfg->instance) {
    imsec_str in = imsec_str_c(cfg->instance);
    if (!imsec_str_istarts_with(in, IMSEC_STR_LIT("urn:")) ||
        imsec_str_find(in, '"') >= 0 || imsec_str_find(in, '>') >= 0 ||
        copy_cfg(ue->instance, sizeof(ue->instance), cfg->instance) < 0) {
      rv = IMSEC_ERR_CONFIG;
      goto fail_key;
    }
  } else {
    IMSEC_GUARD_GOTO(rv, derive_instance(ue), fail_key);
  }
  *out = ue;
  return 0;

fail_key:
  imsec_milenage_del(ue->mil);
fail_cfg:
  imsec_wipe(ue, sizeof(*ue));
  free(ue);
  return rv;
}

void imsec_ue_del(imsec_ue *ue) {
  if (!ue)
    return;
  imsec_milenage_del(ue->mil);
  ue_dgram_free(ue);
  ue_calls_free(ue);
  ue_pending_free_all(ue);
  for (size_t i = 0; i < ue->inbox_n; i++)
    imsec_ue_message_free(
        &ue->inbox[(ue->inbox_head + i) % IMSEC_UE_INBOX_MAX]);
  free(ue->inbox);
  free(ue->routes);
  free(ue->assoc);
  imsec_wipe(ue, sizeof(*ue));
  free(ue);
}

/* --------------------------------------------------------------- status */

void imsec_ue_get_status(const imsec_ue *ue, imsec_ue_status *o) {
  memset(o, 0, sizeof(*o));
  o->state = ue_public_state(ue);
  o->trust_decided = ue->trust_decided;
  o->trust = ue->trust;
  o->last_status = ue->last_status;
  memcpy(o->error, ue->error, sizeof(o->error));
  o->expires = ue->registered ? ue->expires_granted : 0;
  o->expires_at = ue->registered ? ue->expires_at : 0;
  o->rereg_at = ue->registered ? ue->rereg_at : 0;
  o->flow = ue->flow;
  o->registrations = ue->registrations;
  o->challenges = ue->challenges;
  o->sync_failures = ue->sync_failures;
  o->reconnects = ue->reconnects;
  o->resumed = ue->resumed;
  o->retry_at = ue->reconnect_at;
  o->sqn_updates = ue->sqn_updates;
  o->tls_mode = ue->psk.mode;
}

const char *imsec_ue_service_route(const imsec_ue *ue, size_t i) {
  return i < ue->n_routes ? ue->routes[i] : NULL;
}

const char *imsec_ue_associated_uri(const imsec_ue *ue, size_t i) {
  return i < ue->n_assoc ? ue->assoc[i] : NULL;
}

const char *imsec_ue_contact(const imsec_ue *ue) {
  return ue->contact;
}

/* The coarse public view of the state (imsec_ue_state): while a
 * registration lives the UE is REGISTERED whatever it is doing to keep
 * it. */
imsec_ue_state ue_public_state(const imsec_ue *ue) {
  switch (ue->st) {
  case UE_ST_IDLE:
    return IMSEC_UE_IDLE;
  case UE_ST_CONNECTING:
  case UE_ST_BACKOFF:
  case UE_ST_REGISTERING:
  case UE_ST_REREGISTERING:
    return ue->registered ? IMSEC_UE_REGISTERED : IMSEC_UE_CONNECTING;
  case UE_ST_PERSISTING_SQN:
  case UE_ST_AUTHENTICATING:
    return ue->registered ? IMSEC_UE_REGISTERED : IMSEC_UE_CHALLENGED;
  case UE_ST_DEREGISTERING:
  case UE_ST_REGISTERED:
  case UE_ST_PARKED:
    return IMSEC_UE_REGISTERED;
  case UE_ST_MAC_REFUSING:
  case UE_ST_REFUSED:
    return IMSEC_UE_REFUSED;
  case UE_ST_FAILED:
  case UE_ST_COUNT:
    break;
  }
  return IMSEC_UE_FAILED;
}

/* The registration finished one way or the other: registered with
 * nothing in flight, refused, failed, or (after a start) stopped. */
int imsec_ue_done(const imsec_ue *ue) {
  if (!ue)
    return 1;
  switch (ue->st) {
  case UE_ST_REGISTERED:
  case UE_ST_PARKED:
  case UE_ST_REFUSED:
  case UE_ST_FAILED:
    return 1;
  case UE_ST_IDLE:
    return ue->started;
  default:
    return 0;
  }
}
