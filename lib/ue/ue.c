/*
 * The UE element (include/imsec/ue.h): registration over TLS with security
 * agreement, the trust decision on the P-CSCF, IMS AKA and its failures,
 * re-registration and de-registration, requests in and out over the flow.
 *
 * Clauses: TS 24.229 §5.1.1 (UE registration), TS 33.203 §6.1 (AKA and its
 * failures), RFC 3329 (sec-agree), RFC 3310/4169 (Digest AKA), RFC 5626
 * (outbound), RFC 3608 (Service-Route), RFC 3455 (P-Associated-URI).
 */
#include <stdlib.h>
#include <string.h>

#include "imsec/digest.h"
#include "imsec/secagree.h"
#include "imsec/sip.h"
#include "lib/ident/sbuf.h"
#include "lib/ue/ue_int.h"

#define UE_MSG_CAP 8192
#define UE_AUTH_CAP 2048
#define UE_MAX_ROUNDS 4 /* 401s answered in one registration attempt */
#define UE_BODY_MAX 16384

static void ue_logv(imsec_out *out, imsec_log_level lv, const imsec_str *p,
                    size_t n) {
  (void)imsec_out_logv(out, lv, p, n);
}

#define S(x) imsec_str_c(x)
#define LOG(out, lv, ...)                                                      \
  do {                                                                         \
    imsec_str parts_[] = {__VA_ARGS__};                                        \
    ue_logv((out), (lv), parts_, sizeof(parts_) / sizeof(parts_[0]));          \
  } while (0)

/* ------------------------------------------------------------ small text */

static int text_ok(imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    unsigned char ch = (unsigned char)s.p[i];
    if (ch < 0x20 || ch == 0x7f)
      return 0;
  }
  return 1;
}

/* Copy configuration text: present, printable, fits. */
static int copy_cfg(char *dst, size_t cap, const char *src) {
  if (!src || !src[0])
    return IMSEC_ERR_CONFIG;
  imsec_str s = imsec_str_c(src);
  if (!text_ok(s) || imsec_str_copy(s, dst, cap) < 0)
    return IMSEC_ERR_CONFIG;
  return 0;
}

/* Copy text from a message, dropping it ("") if it does not fit. */
static void copy_wire(char *dst, size_t cap, imsec_str s) {
  if (!text_ok(s) || imsec_str_copy(s, dst, cap) < 0)
    dst[0] = '\0';
}

static void num_text(uint64_t v, char *buf, size_t cap) {
  imsec_sbuf b;
  imsec_sbuf_init(&b, buf, cap);
  imsec_sbuf_num(&b, (size_t)v);
}

static int rand_hex(imsec_ue *ue, char *out, size_t cap, size_t nbytes) {
  uint8_t raw[32];
  if (nbytes > sizeof(raw))
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(imsec_random(ue->crypto, raw, nbytes));
  return imsec_hex_encode(raw, nbytes, out, cap);
}

static void set_error(imsec_ue *ue, const char *a, imsec_str b, const char *c) {
  imsec_sbuf w;
  imsec_sbuf_init(&w, ue->error, sizeof(ue->error));
  imsec_sbuf_add(&w, a);
  if (text_ok(b))
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
  if (cfg->has_op == cfg->has_opc)
    return IMSEC_ERR_CONFIG;
  if (cfg->pcscf.tp != IMSEC_TP_TLS || cfg->pcscf.port == 0 ||
      !cfg->pcscf.host[0])
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
  ue->policy = cfg->policy;
  ue->allow_wildcards = cfg->allow_wildcards;
  ue->expires_req = cfg->expires ? cfg->expires : 600;
  ue->txn_timeout = cfg->txn_timeout_ms > 0 ? cfg->txn_timeout_ms : 32000;
  ue->backoff_min = cfg->reconnect_min_ms > 0 ? cfg->reconnect_min_ms : 500;
  ue->backoff_max = cfg->reconnect_max_ms > 0 ? cfg->reconnect_max_ms : 30000;
  ue->max_connect_attempts = cfg->max_connect_attempts;
  ue->next_tag = 1;
  ue->next_handle = 1;

  IMSEC_GUARD_GOTO(rv, imsec_milenage_new(&ue->mil, crypto), fail_cfg);
  rv = cfg->has_op ? imsec_milenage_set_op(ue->mil, cfg->k, cfg->op)
                   : imsec_milenage_set_opc(ue->mil, cfg->k, cfg->opc);
  if (rv < 0)
    goto fail_key;
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
  for (size_t i = 0; i < ue->inbox_n; i++)
    imsec_ue_message_free(
        &ue->inbox[(ue->inbox_head + i) % IMSEC_UE_INBOX_MAX]);
  imsec_wipe(ue, sizeof(*ue));
  free(ue);
}

/* --------------------------------------------------------------- status */

void imsec_ue_get_status(const imsec_ue *ue, imsec_ue_status *o) {
  memset(o, 0, sizeof(*o));
  o->state = ue->state;
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

/* ------------------------------------------------------- flow handling */

static void arm(imsec_out *out, uint64_t timer, imsec_time_ms at) {
  (void)imsec_out_timer(out, timer, at);
}

static void fail_pending_messages(imsec_ue *ue, int status) {
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (p->handle && p->status == 0) {
      p->status = status;
      p->deadline = 0;
    }
  }
}

/* Forget the flow (the caller closes it or it is gone already). */
static void drop_flow(imsec_ue *ue, imsec_out *out, int close) {
  if (ue->flow && close)
    (void)imsec_out_close(out, ue->flow);
  ue->flow = 0;
  ue->trusted = 0;
  ue->has_peer_cert = 0;
  ue->sec_server[0] = '\0';
  ue->flow_registered = 0;
  ue->reg_pending = 0;
  ue->txn_deadline = 0;
  arm(out, IMSEC_UE_TIMER_TXN, 0);
  fail_pending_messages(ue, 503);
}

/* Stop for good (REFUSED, FAILED, IDLE): nothing more is sent. */
static void stop(imsec_ue *ue, imsec_ue_state st, imsec_out *out) {
  drop_flow(ue, out, 1);
  if (ue->connect_tag)
    ue->connect_tag = 0; /* a late flow_up is refused */
  ue->state = st;
  ue->registered = 0;
  ue->mac_failed = 0;
  ue->dereg_wanted = 0;
  ue->reconnect_at = 0;
  ue->rereg_at = 0;
  arm(out, IMSEC_UE_TIMER_REREG, 0);
  arm(out, IMSEC_UE_TIMER_RECONNECT, 0);
}

static void connect_now(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  ue->connect_tag = ue->next_tag++;
  ue->reconnect_at = 0;
  if (!ue->registered)
    ue->state = IMSEC_UE_CONNECTING;
  char addr[300];
  if (imsec_addr_format(&ue->pcscf, addr, sizeof(addr)) < 0)
    addr[0] = '\0';
  LOG(out, IMSEC_LOG_INFO, S("connect "), S(addr), S(" (TLS, server name "),
      S(ue->pcscf_name), S(")"));
  (void)imsec_out_connect(out, ue->connect_tag, &ue->pcscf, ue->pcscf_name);
  ue->txn_deadline = now + ue->txn_timeout;
  arm(out, IMSEC_UE_TIMER_TXN, ue->txn_deadline);
}

/* The flow failed or never came up: reconnect after a back-off (RFC 5626
 * §4.5), or give up after max_connect_attempts failures in a row. */
static void flow_lost(imsec_ue *ue, const char *why, imsec_time_ms now,
                      imsec_out *out) {
  int was_registered = ue->flow_registered;
  drop_flow(ue, out, 1);
  ue->connect_tag = 0;
  if (ue->dereg_wanted) {
    /* Leaving anyway: the registration lapses at the registrar. */
    stop(ue, IMSEC_UE_IDLE, out);
    return;
  }
  if (!was_registered)
    ue->connect_failures++;
  if (ue->max_connect_attempts &&
      ue->connect_failures >= ue->max_connect_attempts) {
    set_error(ue, "cannot register through the P-CSCF: ", S(why), "");
    LOG(out, IMSEC_LOG_ERROR, S("giving up: "), S(why));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }
  if (ue->registered && now >= ue->expires_at)
    ue->registered = 0;
  if (!ue->registered)
    ue->state = IMSEC_UE_CONNECTING;
  imsec_time_ms delay = 0;
  if (!was_registered) {
    delay = ue->backoff ? ue->backoff : ue->backoff_min;
    ue->backoff = delay * 2 > ue->backoff_max ? ue->backoff_max : delay * 2;
  }
  /* RFC 3261 §20.33, §21.5.4: not before the Retry-After of a 503. */
  if (ue->retry_not_before > now && delay < ue->retry_not_before - now)
    delay = ue->retry_not_before - now;
  ue->retry_not_before = 0;
  set_error(ue, "", S(why), "");
  char ms[24], nth[16];
  num_text((uint64_t)delay, ms, sizeof(ms));
  num_text(ue->connect_failures, nth, sizeof(nth));
  if (was_registered)
    LOG(out, IMSEC_LOG_WARN, S(why), S("; reconnecting in "), S(ms), S(" ms"));
  else
    LOG(out, IMSEC_LOG_WARN, S(why), S("; retry "), S(nth), S(" in "), S(ms),
        S(" ms"));
  ue->reconnects++;
  if (delay == 0) {
    connect_now(ue, now, out);
  } else {
    ue->reconnect_at = now + delay;
    arm(out, IMSEC_UE_TIMER_RECONNECT, ue->reconnect_at);
  }
}

int imsec_ue_start(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out)
    return IMSEC_ERR_INVAL;
  if (ue->state != IMSEC_UE_IDLE && ue->state != IMSEC_UE_FAILED)
    return IMSEC_ERR_STATE;
  ue->error[0] = '\0';
  ue->connect_failures = 0;
  ue->backoff = 0;
  ue->dereg_wanted = 0;
  ue->mac_failed = 0;
  connect_now(ue, now, out);
  return imsec_out_err(out);
}

/* ------------------------------------------------------ message building */

static void host_port(imsec_sbuf *b, const imsec_ue *ue) {
  imsec_sbuf_add(b, ue->local_host);
  imsec_sbuf_add(b, ":");
  imsec_sbuf_num(b, ue->local_port);
}

/* Via with a fresh branch (RFC 3261 §8.1.1.7) and rport (RFC 3581). */
static int build_via(imsec_ue *ue, char *buf, size_t cap) {
  char br[33];
  IMSEC_GUARD(rand_hex(ue, br, sizeof(br), 12));
  imsec_sbuf b;
  imsec_sbuf_init(&b, buf, cap);
  imsec_sbuf_add(&b, "SIP/2.0/TLS ");
  host_port(&b, ue);
  imsec_sbuf_add(&b, ";branch=z9hG4bK");
  imsec_sbuf_add(&b, br);
  imsec_sbuf_add(&b, ";rport");
  return b.len < cap ? 0 : IMSEC_ERR_NOBUF;
}

static int angle(char *buf, size_t cap, const char *uri, const char *tag) {
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
 * later forms): `authz` is the whole Authorization value. */
static int send_register(imsec_ue *ue, const char *authz, uint32_t expires,
                         imsec_time_ms now, imsec_out *out) {
  char via[400], ruri[UE_TEXT + 8], from[UE_TEXT + 64], to[UE_TEXT + 8],
      contact[IMSEC_UE_URI_CAP + 200], cseq[40];
  IMSEC_GUARD(build_via(ue, via, sizeof(via)));
  imsec_sbuf b;
  imsec_sbuf_init(&b, ruri, sizeof(ruri));
  imsec_sbuf_add(&b, "sip:");
  imsec_sbuf_add(&b, ue->home_domain);
  IMSEC_GUARD(angle(from, sizeof(from), ue->impus[0], ue->from_tag));
  IMSEC_GUARD(angle(to, sizeof(to), ue->impus[0], NULL));
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
  /* RFC 3329 §2.3.1 and TS 33.203 Annex O: offer TLS; once the server's
   * list is known echo it in Security-Verify on every later REGISTER. */
  hdr(&sb, "Security-Client", IMSEC_SECAGREE_CLIENT);
  if (ue->sec_server[0])
    hdr(&sb, "Security-Verify", ue->sec_server);
  hdr(&sb, "Require", "sec-agree");
  hdr(&sb, "Proxy-Require", "sec-agree");
  hdr(&sb, "Supported", "path, outbound");
  imsec_sip_build_header_uint(&sb, S("Expires"), expires);
  int n = imsec_sip_build_finish(&sb, IMSEC_STR_NULL);
  if (n >= 0)
    n = imsec_out_send(out, ue->flow, msg, (size_t)n);
  imsec_wipe(msg, UE_MSG_CAP);
  free(msg);
  IMSEC_GUARD(n);
  ue->reg_pending = 1;
  ue->reg_expires = expires;
  ue->txn_deadline = now + ue->txn_timeout;
  arm(out, IMSEC_UE_TIMER_TXN, ue->txn_deadline);
  return 0;
}

/* The first REGISTER of a registration: Authorization with the IMPI and
 * empty nonce and response (TS 24.229 §5.1.1.2.1, TS 33.203 §6.1.1). */
static int register_initial(imsec_ue *ue, uint32_t expires, imsec_time_ms now,
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
  IMSEC_GUARD(
      imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &p, authz, sizeof(authz)));
  ue->rounds = 0;
  IMSEC_GUARD(send_register(ue, authz, expires, now, out));
  char cs[16], ex[16];
  num_text(ue->cseq, cs, sizeof(cs));
  num_text(expires, ex, sizeof(ex));
  LOG(out, IMSEC_LOG_INFO, S("-> REGISTER sip:"), S(ue->home_domain),
      S(" (cseq "), S(cs), S(", expires "), S(ex),
      S(", Security-Client: " IMSEC_SECAGREE_CLIENT),
      S(ue->sec_server[0] ? ", Security-Verify echoed)"
                          : ", no credentials yet)"));
  return 0;
}

/* ----------------------------------------------------------- the trust */

/* DESIGN.md §3: may this P-CSCF act for the home network? Records the
 * decision and returns 1 when trusted. With `realm` NULL only the
 * certificate part is decided (imsec_trust_decide_cert): what the UE
 * knows when the TLS handshake completes, before it sends anything. */
static int decide_trust(imsec_ue *ue, const char *realm, imsec_out *out) {
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

int imsec_ue_on_flow_up(imsec_ue *ue, uint64_t flow, uint64_t tag,
                        const imsec_flow_info *info, imsec_time_ms now,
                        imsec_out *out) {
  if (!ue || !out || flow == 0)
    return IMSEC_ERR_INVAL;
  if (tag == 0 || tag != ue->connect_tag || ue->flow) {
    /* A UE accepts no inbound connections, and a connection it gave up
     * on (timeout, stop) is closed by the driver. */
    return IMSEC_ERR_STATE;
  }
  ue->connect_tag = 0;
  ue->flow = flow;
  ue->trusted = 0;
  ue->flow_registered = 0;
  ue->sec_server[0] = '\0';
  ue->has_peer_cert = 0;
  ue->local_host[0] = '\0';
  ue->local_port = 0;
  if (info) {
    if (info->peer_cert) {
      ue->peer_cert = *info->peer_cert;
      ue->has_peer_cert = 1;
    }
    if (info->resumed)
      ue->resumed++;
    imsec_str h = imsec_str_c(info->local.host);
    if (h.len && text_ok(h)) {
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
  if (!ue->local_host[0]) {
    /* RFC 5626 §4.2 lets the Contact be unroutable: the flow is what
     * reaches us. */
    memcpy(ue->local_host, "ue.invalid", sizeof("ue.invalid"));
  }
  if (!ue->local_port)
    ue->local_port = 5061;
  imsec_sbuf b;
  imsec_sbuf_init(&b, ue->contact, sizeof(ue->contact));
  imsec_sbuf_add(&b, "sip:ue@");
  host_port(&b, ue);
  imsec_sbuf_add(&b, ";transport=tls;ob");

  LOG(out, IMSEC_LOG_INFO, S("TLS flow up to "), S(ue->pcscf_name),
      S(info && info->tls_version ? " (" : ""),
      S(info && info->tls_version ? info->tls_version : ""),
      S(info && info->resumed ? ", resumed session)"
                              : (info && info->tls_version ? ")" : "")));
  /* RFC 3261 §26.3.2.1, RFC 5922 §7, DESIGN.md §3: the certificate is
   * judged now, before the REGISTER (and the IMPI in it) is even built:
   * a P-CSCF that fails receives no SIP message. Only the realm waits for
   * the challenge. */
  if (!decide_trust(ue, NULL, out)) {
    stop(ue, IMSEC_UE_REFUSED, out);
    return IMSEC_ERR_TRUST;
  }
  if (!ue->call_id[0]) {
    /* RFC 3261 §10.2.4: one Call-ID for all registrations of this UE;
     * CSeq grows. */
    char id[33];
    if (rand_hex(ue, id, sizeof(id), 16) < 0 ||
        rand_hex(ue, ue->from_tag, sizeof(ue->from_tag), 8) < 0)
      return IMSEC_ERR_CRYPTO;
    imsec_sbuf_init(&b, ue->call_id, sizeof(ue->call_id));
    imsec_sbuf_add(&b, id);
  }
  int rv =
      register_initial(ue, ue->dereg_wanted ? 0 : ue->expires_req, now, out);
  if (rv < 0) {
    set_error(ue, "cannot build the REGISTER: ", S(imsec_strerror(rv)), "");
    stop(ue, IMSEC_UE_FAILED, out);
  }
  return 0;
}

/* ------------------------------------------------------------ responses */

static int hex_of(uint64_t v, unsigned digits, char *out) {
  static const char hx[] = "0123456789abcdef";
  for (unsigned i = 0; i < digits; i++)
    out[digits - 1 - i] = hx[(v >> (4 * i)) & 15];
  out[digits] = '\0';
  return (int)digits;
}

/* Keep the Security-Server list of a 401 for the echo (RFC 3329 §2.3.1):
 * the exact values, joined as one list. Returns 0, or <0 when the server
 * offers no "tls" (no common mechanism). */
static int take_security_server(imsec_ue *ue, imsec_sip_msg *m,
                                imsec_out *out) {
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_SECURITY_SERVER);
  if (!h) {
    ue->sec_server[0] = '\0';
    LOG(out, IMSEC_LOG_WARN,
        S("401 carries no Security-Server: no security agreement"));
    return 0;
  }
  /* RFC 3329 §2.3.1: TLS must be among the server's mechanisms; the echo
   * is the server's whole list (lib/secagree). */
  imsec_secagree_list server, mine;
  if (imsec_secagree_parse_msg(m, IMSEC_SIP_H_SECURITY_SERVER, &server) < 0 ||
      imsec_secagree_parse(S(IMSEC_SECAGREE_CLIENT), &mine) < 0 ||
      imsec_secagree_select(&server, &mine) < 0)
    return IMSEC_ERR_UNSUPPORTED;
  if (imsec_secagree_build(&server, ue->sec_server, sizeof(ue->sec_server)) <
          0 ||
      !text_ok(S(ue->sec_server))) {
    ue->sec_server[0] = '\0';
    return IMSEC_ERR_LIMIT;
  }
  return 0;
}

/* A 401 to our REGISTER (TS 24.229 §5.1.1.5.1): trust, AKA, answer. */
static void on_challenge(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                         imsec_out *out) {
  if (++ue->rounds > UE_MAX_ROUNDS) {
    set_error(ue, "registration failed: too many challenges in a row",
              IMSEC_STR_NULL, "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }
  /* The first Digest AKA challenge (RFC 3310 §3.1). */
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  imsec_digest_params ch;
  imsec_digest_alg alg = IMSEC_DIGEST_MD5;
  int found = 0;
  while (!found &&
         imsec_sip_auth_next(m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &raw) > 0) {
    if (imsec_digest_parse_challenge(raw, &ch) == 0 &&
        imsec_digest_alg_parse(ch.algorithm, &alg) == 0 &&
        (alg == IMSEC_DIGEST_AKAV1_MD5 || alg == IMSEC_DIGEST_AKAV2_MD5))
      found = 1;
  }
  if (!found) {
    set_error(ue,
              "registration failed: the 401 carries no Digest AKA "
              "challenge",
              IMSEC_STR_NULL, "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }
  char realm[UE_TEXT], nonce[512];
  if (imsec_digest_unquote(ch.realm, realm, sizeof(realm)) < 0 ||
      !text_ok(S(realm)) ||
      imsec_digest_unquote(ch.nonce, nonce, sizeof(nonce)) < 0) {
    set_error(ue, "registration failed: malformed realm or nonce",
              IMSEC_STR_NULL, "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }
  LOG(out, IMSEC_LOG_INFO, S("<- 401 Unauthorized (realm "), S(realm), S(", "),
      S(imsec_digest_alg_name(alg)),
      S((ch.present & IMSEC_DIGEST_P_STALE) && imsec_str_ieq_c(ch.stale, "true")
            ? ", stale)"
            : ")"));

  /* RFC 3261 §26.3.2.1 / DESIGN.md §3: decide on the P-CSCF before any
   * credential leaves; refused: nothing more on this connection. */
  if (!decide_trust(ue, realm, out)) {
    stop(ue, IMSEC_UE_REFUSED, out);
    return;
  }
  if (take_security_server(ue, m, out) < 0) {
    set_error(ue,
              "registration failed: the P-CSCF offers no TLS security "
              "mechanism (RFC 3329)",
              IMSEC_STR_NULL, "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }

  uint8_t rand[16], autn[16];
  if (imsec_digest_aka_nonce_decode(S(nonce), rand, autn, NULL) < 0) {
    set_error(ue, "registration failed: the AKA nonce is malformed",
              IMSEC_STR_NULL, "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }
  imsec_aka_ue_result r;
  memset(&r, 0, sizeof(r));
  int rv = imsec_aka_ue_run(ue->mil, &ue->sqn, &ue->sqn_cfg, rand, autn, &r);
  if (rv < 0) {
    imsec_aka_ue_result_wipe(&r);
    set_error(ue, "AKA failed: ", S(imsec_strerror(rv)), "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }
  ue->challenges++;

  char uri[UE_TEXT + 8];
  imsec_sbuf b;
  imsec_sbuf_init(&b, uri, sizeof(uri));
  imsec_sbuf_add(&b, "sip:");
  imsec_sbuf_add(&b, ue->home_domain);

  imsec_digest_params p = {0};
  p.username = S(ue->impi);
  p.realm = ch.realm;
  p.nonce = ch.nonce;
  p.uri = S(uri);
  p.algorithm = S(imsec_digest_alg_name(alg));
  p.present = IMSEC_DIGEST_P_USERNAME | IMSEC_DIGEST_P_REALM |
              IMSEC_DIGEST_P_NONCE | IMSEC_DIGEST_P_URI |
              IMSEC_DIGEST_P_RESPONSE | IMSEC_DIGEST_P_ALGORITHM;
  p.quoted = ch.quoted & (IMSEC_DIGEST_P_REALM | IMSEC_DIGEST_P_NONCE |
                          IMSEC_DIGEST_P_OPAQUE);
  if (ch.present & IMSEC_DIGEST_P_OPAQUE) {
    p.opaque = ch.opaque;
    p.present |= IMSEC_DIGEST_P_OPAQUE;
  }
  char resp[IMSEC_HASH_MAX_LEN * 2 + 1], cnonce[17], nc[9], auts[24];
  char authz[UE_AUTH_CAP];
  int n = 0;
  if (r.status == IMSEC_AKA_UE_MAC_FAIL) {
    /* TS 33.203 §6.1.2.2, TS 24.229 §5.1.1.5.3: the network failed to
     * authenticate itself: answer with an empty response and no auts so
     * the S-CSCF learns it, then refuse the network. */
    p.response = IMSEC_STR_LIT("");
    n = imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &p, authz, sizeof(authz));
  } else {
    imsec_digest_qop qop = IMSEC_DIGEST_QOP_NONE;
    if (ch.present & IMSEC_DIGEST_P_QOP) {
      if (imsec_digest_qop_has(ch.qop, "auth"))
        qop = IMSEC_DIGEST_QOP_AUTH;
      else if (imsec_digest_qop_has(ch.qop, "auth-int"))
        qop = IMSEC_DIGEST_QOP_AUTH_INT;
    }
    imsec_digest_input in = {
        .username = S(ue->impi),
        .realm = S(realm),
        .method = IMSEC_STR_LIT("REGISTER"),
        .uri = S(uri),
        .nonce = S(nonce),
        .qop = qop,
    };
    if (qop != IMSEC_DIGEST_QOP_NONE) {
      if (rand_hex(ue, cnonce, sizeof(cnonce), 8) < 0) {
        n = IMSEC_ERR_CRYPTO;
        goto built;
      }
      hex_of(1, 8, nc);
      in.nc = S(nc);
      in.cnonce = S(cnonce);
      p.qop = qop == IMSEC_DIGEST_QOP_AUTH ? IMSEC_STR_LIT("auth")
                                           : IMSEC_STR_LIT("auth-int");
      p.nc = S(nc);
      p.cnonce = S(cnonce);
      p.present |=
          IMSEC_DIGEST_P_QOP | IMSEC_DIGEST_P_NC | IMSEC_DIGEST_P_CNONCE;
    }
    n = imsec_digest_aka_response(ue->crypto, alg, &r, &in, resp, sizeof(resp));
    if (n < 0)
      goto built;
    p.response = S(resp);
    if (r.status == IMSEC_AKA_UE_SYNC_FAIL) {
      /* TS 33.203 §6.1.3, RFC 3310 §3.4: AUTS with the response over an
       * empty password, on the same connection. */
      n = imsec_digest_aka_auts_encode(r.auts, auts, sizeof(auts));
      if (n < 0)
        goto built;
      p.auts = S(auts);
      p.present |= IMSEC_DIGEST_P_AUTS;
    }
    n = imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &p, authz, sizeof(authz));
  }
built:
  imsec_wipe(resp, sizeof(resp));
  if (n >= 0)
    n = send_register(ue, authz, ue->reg_expires, now, out);
  imsec_wipe(authz, sizeof(authz));
  imsec_aka_ue_status st = r.status;
  imsec_aka_ue_result_wipe(&r);
  if (n < 0) {
    set_error(ue, "cannot answer the challenge: ", S(imsec_strerror(n)), "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }
  char cs[16];
  num_text(ue->cseq, cs, sizeof(cs));
  switch (st) {
  case IMSEC_AKA_UE_MAC_FAIL:
    ue->mac_failed = 1;
    set_error(ue,
              "network authentication failed: MAC-A did not verify "
              "(TS 33.203 §6.1.2.2); the UE refuses this network",
              IMSEC_STR_NULL, "");
    LOG(out, IMSEC_LOG_WARN,
        S("AKA: MAC failure: network authentication "
          "failed; refusing the network"));
    LOG(out, IMSEC_LOG_INFO, S("-> REGISTER (cseq "), S(cs),
        S(", empty response: challenge deemed invalid)"));
    ue->state = IMSEC_UE_REFUSED;
    ue->registered = 0;
    arm(out, IMSEC_UE_TIMER_REREG, 0);
    break;
  case IMSEC_AKA_UE_SYNC_FAIL:
    ue->sync_failures++;
    LOG(out, IMSEC_LOG_WARN,
        S("AKA: SQN out of range: synchronisation failure (TS 33.102 "
          "§6.3.3)"));
    LOG(out, IMSEC_LOG_INFO, S("-> REGISTER (cseq "), S(cs),
        S(", auts, same TLS connection)"));
    if (!ue->registered)
      ue->state = IMSEC_UE_CHALLENGED;
    break;
  default:
    ue->sqn_updates++;
    LOG(out, IMSEC_LOG_INFO,
        S("AKA: network authenticated (MAC-A ok, SQN "
          "fresh)"));
    LOG(out, IMSEC_LOG_INFO, S("-> REGISTER (cseq "), S(cs), S(", "),
        S(imsec_digest_alg_name(alg)), S(" response"),
        S(ue->sec_server[0] ? ", Security-Verify: " : ""), S(ue->sec_server),
        S(")"));
    if (!ue->registered)
      ue->state = IMSEC_UE_CHALLENGED;
    break;
  }
}

static void keep_uris(imsec_sip_msg *m, imsec_sip_hid id,
                      char (*dst)[IMSEC_UE_URI_CAP], size_t max, size_t *n) {
  *n = 0;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  while (*n < max && imsec_sip_addr_next(m, id, &it, &a) > 0) {
    copy_wire(dst[*n], IMSEC_UE_URI_CAP, a.uri);
    if (dst[*n][0])
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

static void on_registered(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                          imsec_out *out) {
  uint32_t granted = granted_expiry(ue, m);
  if (granted == 0) {
    set_error(ue, "registration failed: the registrar granted no time",
              IMSEC_STR_NULL, "");
    LOG(out, IMSEC_LOG_ERROR, S(ue->error));
    stop(ue, IMSEC_UE_FAILED, out);
    return;
  }
  keep_uris(m, IMSEC_SIP_H_SERVICE_ROUTE, ue->routes, IMSEC_UE_MAX_ROUTES,
            &ue->n_routes);
  keep_uris(m, IMSEC_SIP_H_P_ASSOCIATED_URI, ue->assoc, IMSEC_UE_MAX_ASSOCIATED,
            &ue->n_assoc);
  ue->registered = 1;
  ue->flow_registered = 1;
  ue->state = IMSEC_UE_REGISTERED;
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
  arm(out, IMSEC_UE_TIMER_REREG, ue->rereg_at);
  /* RFC 5626: the flow carries requests to us: keep it open. */
  (void)imsec_out_keep(out, ue->flow);
  char ex[16];
  num_text(granted, ex, sizeof(ex));
  LOG(out, IMSEC_LOG_INFO, S("<- 200 OK: registered "), S(ue->impus[0]),
      S(" for "), S(ex), S(" s"), S(ue->n_routes ? ", Service-Route " : ""),
      S(ue->n_routes ? ue->routes[0] : ""),
      S(ue->n_assoc ? ", P-Associated-URI " : ""),
      S(ue->n_assoc ? ue->assoc[0] : ""));
  if (ue->dereg_wanted && imsec_ue_deregister(ue, now, out) < 0)
    LOG(out, IMSEC_LOG_ERROR, S("cannot de-register"));
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

static void on_register_response(imsec_ue *ue, imsec_sip_msg *m,
                                 imsec_time_ms now, imsec_out *out) {
  if (m->status < 200)
    return;
  ue->reg_pending = 0;
  ue->txn_deadline = 0;
  arm(out, IMSEC_UE_TIMER_TXN, 0);
  ue->last_status = m->status;
  char code[8];
  num_text(m->status, code, sizeof(code));

  if (ue->mac_failed) {
    /* The S-CSCF's answer to "challenge deemed invalid" (403 expected):
     * the UE has refused the network already; close the connection. */
    LOG(out, IMSEC_LOG_INFO, S("<- "), S(code), S(" "), m->reason,
        S(": network refused, closing"));
    stop(ue, IMSEC_UE_REFUSED, out);
    return;
  }
  if (m->status == 401) {
    on_challenge(ue, m, now, out);
    return;
  }
  if (m->status >= 200 && m->status < 300) {
    if (!ue->trusted) {
      /* A 200 without a challenge on this connection: the certificate
       * still has to pass, with the home domain as the realm. */
      if (!decide_trust(ue, ue->home_domain, out)) {
        stop(ue, IMSEC_UE_REFUSED, out);
        return;
      }
    }
    if (ue->reg_expires == 0) {
      LOG(out, IMSEC_LOG_INFO, S("<- "), S(code),
          S(" OK: de-registered; closing the flow"));
      ue->n_routes = 0;
      ue->n_assoc = 0;
      stop(ue, IMSEC_UE_IDLE, out);
      return;
    }
    on_registered(ue, m, now, out);
    return;
  }
  if (m->status == 503 && ue->reg_expires) {
    /* RFC 3261 §21.5.4: the P-CSCF (or the network behind it) cannot serve
     * the REGISTER for now: a new connection after the back-off of RFC 5626
     * §4.5, and not before the Retry-After it asked for (§20.33). */
    uint64_t ra = 0;
    int has_ra = retry_after(m, &ra);
    char why[96], secs[24];
    num_text(ra, secs, sizeof(secs));
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
    flow_lost(ue, why, now, out);
    return;
  }
  if (m->status == 423 && ue->reg_expires) {
    /* RFC 3261 §10.2.8: Interval Too Brief: ask again with Min-Expires. */
    const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_MIN_EXPIRES);
    uint64_t min = 0;
    if (h && imsec_sip_uint_parse(h->value, UINT32_MAX, &min) == 0 &&
        min > ue->reg_expires && ue->rounds < UE_MAX_ROUNDS) {
      ue->rounds++;
      LOG(out, IMSEC_LOG_INFO, S("<- 423 Interval Too Brief: Min-Expires "),
          h->value);
      ue->expires_req = (uint32_t)min;
      if (register_initial(ue, (uint32_t)min, now, out) == 0)
        return;
    }
  }
  set_error(ue, "registration refused: ", S(code), " ");
  {
    imsec_sbuf b;
    imsec_sbuf_init(&b, ue->error + imsec_str_c(ue->error).len,
                    sizeof(ue->error) - imsec_str_c(ue->error).len);
    if (text_ok(m->reason))
      imsec_sbuf_put(&b, m->reason);
  }
  LOG(out, IMSEC_LOG_ERROR, S("<- "), S(code), S(" "), m->reason,
      S(": registration failed"));
  stop(ue, IMSEC_UE_FAILED, out);
}

static void on_message_response(imsec_ue *ue, imsec_sip_msg *m, imsec_str cid,
                                imsec_time_ms now, imsec_out *out) {
  (void)now;
  if (m->status < 200)
    return;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (p->handle && p->status == 0 && imsec_str_eq(cid, S(p->call_id))) {
      p->status = (int)m->status;
      p->deadline = 0;
      char code[8];
      num_text(m->status, code, sizeof(code));
      LOG(out, m->status < 300 ? IMSEC_LOG_INFO : IMSEC_LOG_WARN, S("<- "),
          S(code), S(" "), m->reason, S(" (MESSAGE)"));
      return;
    }
  }
}

/* ------------------------------------------------------------- requests */

static void respond(imsec_ue *ue, imsec_sip_msg *req, unsigned code,
                    const char *reason, int allow, imsec_out *out) {
  char tag[17];
  if (rand_hex(ue, tag, sizeof(tag), 8) < 0)
    return;
  char *buf = malloc(UE_MSG_CAP);
  if (!buf)
    return;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, UE_MSG_CAP);
  imsec_sip_build_response(&b, req, code, S(reason), S(tag));
  if (allow) {
    hdr(&b, "Allow", "MESSAGE, OPTIONS, ACK");
    hdr(&b, "Accept", "text/plain, */*");
    hdr(&b, "Supported", "path, outbound");
  }
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  if (n > 0)
    (void)imsec_out_send(out, ue->flow, buf, (size_t)n);
  free(buf);
}

static void keep_message(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                         imsec_out *out) {
  if (ue->inbox_n == IMSEC_UE_INBOX_MAX) {
    imsec_ue_message_free(&ue->inbox[ue->inbox_head]);
    ue->inbox_head = (ue->inbox_head + 1) % IMSEC_UE_INBOX_MAX;
    ue->inbox_n--;
    LOG(out, IMSEC_LOG_WARN, S("inbox full: oldest MESSAGE dropped"));
  }
  imsec_ue_message *k =
      &ue->inbox[(ue->inbox_head + ue->inbox_n) % IMSEC_UE_INBOX_MAX];
  memset(k, 0, sizeof(*k));
  const imsec_sip_addr *from;
  if (imsec_sip_get_from(m, &from) == 0)
    copy_wire(k->from, sizeof(k->from), from->uri);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr pai;
  if (imsec_sip_addr_next(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY, &it, &pai) > 0)
    copy_wire(k->asserted, sizeof(k->asserted), pai.uri);
  const imsec_sip_hdr *ct = imsec_sip_hdr_first(m, IMSEC_SIP_H_CONTENT_TYPE);
  if (ct)
    copy_wire(k->content_type, sizeof(k->content_type), ct->value);
  k->body = malloc(m->body.len + 1);
  if (!k->body)
    return;
  if (m->body.len)
    memcpy(k->body, m->body.p, m->body.len);
  k->body[m->body.len] = 0;
  k->len = m->body.len;
  k->at = now;
  ue->inbox_n++;
}

static void on_request(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                       imsec_out *out) {
  if (m->method_id == IMSEC_SIP_M_ACK)
    return;
  if (imsec_sip_check(m) < 0) {
    if (m->method_id != IMSEC_SIP_M_ACK)
      respond(ue, m, m->diag.status ? m->diag.status : 400,
              m->diag.reason ? m->diag.reason : "Bad Request", 0, out);
    return;
  }
  const imsec_sip_addr *from;
  imsec_str fromuri = IMSEC_STR_NULL;
  if (imsec_sip_get_from(m, &from) == 0)
    fromuri = from->uri;
  switch (m->method_id) {
  case IMSEC_SIP_M_MESSAGE: {
    if (!ue->registered) {
      respond(ue, m, 480, "Temporarily Unavailable", 0, out);
      return;
    }
    char len[24];
    num_text(m->body.len, len, sizeof(len));
    LOG(out, IMSEC_LOG_INFO, S("<- MESSAGE from "), fromuri, S(" ("), S(len),
        S(" octets)"));
    keep_message(ue, m, now, out);
    respond(ue, m, 200, "OK", 0, out);
    LOG(out, IMSEC_LOG_INFO, S("-> 200 OK (MESSAGE)"));
    return;
  }
  case IMSEC_SIP_M_OPTIONS:
    LOG(out, IMSEC_LOG_INFO, S("<- OPTIONS from "), fromuri, S("; -> 200 OK"));
    respond(ue, m, 200, "OK", 1, out);
    return;
  default:
    LOG(out, IMSEC_LOG_INFO, S("<- "), m->method, S(": not supported; -> 405"));
    respond(ue, m, 405, "Method Not Allowed", 1, out);
    return;
  }
}

void imsec_ue_on_message(imsec_ue *ue, uint64_t flow, const uint8_t *msg,
                         size_t len, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out || !msg || flow == 0 || flow != ue->flow)
    return;
  char *buf = malloc(len ? len : 1);
  if (!buf)
    return;
  if (len)
    memcpy(buf, msg, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, buf, len, 1) < 0) {
    LOG(out, IMSEC_LOG_WARN, S("unparseable message on the flow dropped"));
    goto done;
  }
  if (m.is_request) {
    on_request(ue, &m, now, out);
    goto done;
  }
  const imsec_sip_cseq *cs;
  imsec_str cid;
  if (imsec_sip_get_cseq(&m, &cs) < 0 || imsec_sip_get_call_id(&m, &cid) < 0)
    goto done;
  if (cs->method_id == IMSEC_SIP_M_REGISTER) {
    if (ue->reg_pending && cs->seq == ue->cseq &&
        imsec_str_eq(cid, S(ue->call_id)))
      on_register_response(ue, &m, now, out);
  } else if (cs->method_id == IMSEC_SIP_M_MESSAGE) {
    on_message_response(ue, &m, cid, now, out);
  }
done:
  imsec_sip_msg_free(&m);
  imsec_wipe(buf, len);
  free(buf);
}

void imsec_ue_on_flow_down(imsec_ue *ue, uint64_t flow, uint64_t tag,
                           int reason, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out)
    return;
  int ours = (flow && flow == ue->flow) ||
             (!ue->flow && tag && tag == ue->connect_tag);
  if (!ours)
    return;
  int up = ue->flow != 0;
  ue->flow = 0; /* gone already: nothing to close */
  if (ue->state == IMSEC_UE_REFUSED || ue->state == IMSEC_UE_FAILED ||
      ue->state == IMSEC_UE_IDLE) {
    drop_flow(ue, out, 0);
    ue->connect_tag = 0;
    return;
  }
  char why[96];
  imsec_sbuf b;
  imsec_sbuf_init(&b, why, sizeof(why));
  imsec_sbuf_add(&b, up ? "flow to the P-CSCF lost" : "connection failed");
  if (reason < 0) {
    imsec_sbuf_add(&b, " (");
    imsec_sbuf_add(&b, imsec_strerror(reason));
    imsec_sbuf_add(&b, ")");
  }
  flow_lost(ue, why, now, out);
}

/* ---------------------------------------------------------------- timers */

static void arm_message_timer(imsec_ue *ue, imsec_out *out) {
  imsec_time_ms next = 0;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (p->handle && p->status == 0 && p->deadline &&
        (!next || p->deadline < next))
      next = p->deadline;
  }
  if (next != ue->msg_timer_at) {
    ue->msg_timer_at = next;
    arm(out, IMSEC_UE_TIMER_MESSAGE, next);
  }
}

static void rereg(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  if (!ue->registered)
    return;
  if (now >= ue->expires_at) {
    ue->registered = 0;
  }
  if (!ue->flow || ue->reg_pending)
    return;
  LOG(out, IMSEC_LOG_INFO, S("re-registering before expiry"));
  if (register_initial(ue, ue->expires_req, now, out) < 0)
    flow_lost(ue, "cannot send the re-REGISTER", now, out);
}

void imsec_ue_on_timer(imsec_ue *ue, uint64_t timer, imsec_time_ms now,
                       imsec_out *out) {
  if (!ue || !out)
    return;
  switch (timer) {
  case IMSEC_UE_TIMER_TXN:
    if (!ue->txn_deadline || now < ue->txn_deadline)
      return;
    ue->txn_deadline = 0;
    if (ue->mac_failed) {
      stop(ue, IMSEC_UE_REFUSED, out);
      return;
    }
    if (ue->connect_tag && !ue->flow) {
      ue->connect_tag = 0;
      flow_lost(ue, "connection to the P-CSCF timed out", now, out);
    } else if (ue->reg_pending) {
      flow_lost(ue, "no answer to REGISTER", now, out);
    }
    return;
  case IMSEC_UE_TIMER_REREG:
    if (ue->rereg_at && now >= ue->rereg_at &&
        ue->state == IMSEC_UE_REGISTERED) {
      ue->rereg_at = 0;
      rereg(ue, now, out);
    }
    return;
  case IMSEC_UE_TIMER_RECONNECT:
    if (ue->reconnect_at && now >= ue->reconnect_at && !ue->flow &&
        !ue->connect_tag && ue->state != IMSEC_UE_REFUSED &&
        ue->state != IMSEC_UE_FAILED && ue->state != IMSEC_UE_IDLE)
      connect_now(ue, now, out);
    return;
  case IMSEC_UE_TIMER_MESSAGE:
    ue->msg_timer_at = 0;
    for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
      ue_pending *p = &ue->pending[i];
      if (p->handle && p->status == 0 && p->deadline && now >= p->deadline) {
        p->status = 408; /* RFC 3261 §17.1.2.2 Timer F */
        p->deadline = 0;
        LOG(out, IMSEC_LOG_WARN, S("MESSAGE timed out (408)"));
      }
    }
    arm_message_timer(ue, out);
    return;
  default:
    return;
  }
}

/* ------------------------------------------------------ user operations */

int imsec_ue_deregister(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out)
    return IMSEC_ERR_INVAL;
  if (ue->state == IMSEC_UE_REFUSED || ue->state == IMSEC_UE_FAILED) {
    stop(ue, ue->state, out);
    return imsec_out_err(out);
  }
  if (!ue->registered || !ue->flow) {
    if (ue->state != IMSEC_UE_IDLE)
      LOG(out, IMSEC_LOG_INFO, S("stopping (not registered)"));
    stop(ue, IMSEC_UE_IDLE, out);
    return imsec_out_err(out);
  }
  if (ue->reg_pending) {
    /* A REGISTER is in flight: de-register after its answer. */
    ue->dereg_wanted = 1;
    return 0;
  }
  ue->dereg_wanted = 1;
  ue->rereg_at = 0;
  arm(out, IMSEC_UE_TIMER_REREG, 0);
  /* TS 24.229 §5.1.1.6: REGISTER with Expires 0 for our contact. */
  int rv = register_initial(ue, 0, now, out);
  if (rv < 0) {
    stop(ue, IMSEC_UE_IDLE, out);
    return rv;
  }
  return imsec_out_err(out);
}

static ue_pending *pending_slot(imsec_ue *ue) {
  ue_pending *best = NULL;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (!p->handle)
      return p;
    if (p->status != 0 && (!best || p->seq < best->seq))
      best = p;
  }
  return best;
}

int imsec_ue_send_message(imsec_ue *ue, const char *to,
                          const char *content_type, const uint8_t *body,
                          size_t len, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out || !to || (!body && len))
    return IMSEC_ERR_INVAL;
  if (!ue->registered || !ue->flow || ue->state != IMSEC_UE_REGISTERED)
    return IMSEC_ERR_STATE;
  if (len > UE_BODY_MAX)
    return IMSEC_ERR_LIMIT;
  imsec_str ts = imsec_str_c(to);
  imsec_sip_uri u;
  if (!text_ok(ts) || ts.len >= IMSEC_UE_URI_CAP ||
      imsec_sip_uri_parse(ts, 32, &u) < 0 ||
      (u.scheme != IMSEC_SIP_SCHEME_SIP && u.scheme != IMSEC_SIP_SCHEME_SIPS &&
       u.scheme != IMSEC_SIP_SCHEME_TEL) ||
      u.has_headers)
    return IMSEC_ERR_INVAL;
  const char *ct = content_type ? content_type : "text/plain";
  imsec_str cts = imsec_str_c(ct);
  if (!cts.len || cts.len > 120 || !text_ok(cts))
    return IMSEC_ERR_INVAL;
  ue_pending *slot = pending_slot(ue);
  if (!slot)
    return IMSEC_ERR_LIMIT;

  char via[400], from[UE_TEXT + 64], tob[IMSEC_UE_URI_CAP + 8], cid[80],
      tag[17], route[IMSEC_UE_URI_CAP + 8];
  IMSEC_GUARD(build_via(ue, via, sizeof(via)));
  IMSEC_GUARD(rand_hex(ue, tag, sizeof(tag), 8));
  char idhex[33];
  IMSEC_GUARD(rand_hex(ue, idhex, sizeof(idhex), 16));
  imsec_sbuf b;
  imsec_sbuf_init(&b, cid, sizeof(cid));
  imsec_sbuf_add(&b, idhex);
  IMSEC_GUARD(angle(from, sizeof(from), ue->impus[0], tag));
  IMSEC_GUARD(angle(tob, sizeof(tob), to, NULL));

  char *msg = malloc(UE_MSG_CAP + UE_BODY_MAX);
  if (!msg)
    return IMSEC_ERR_NOMEM;
  imsec_sip_builder sb;
  imsec_sip_build_init(&sb, msg, UE_MSG_CAP + UE_BODY_MAX);
  imsec_sip_build_request(&sb, IMSEC_STR_LIT("MESSAGE"), ts);
  hdr(&sb, "Via", via);
  hdr(&sb, "Max-Forwards", "70");
  /* TS 24.229 §5.1.2A.1.1, RFC 3608: the Service-Route learnt at
   * registration is the route set; the P-CSCF is the flow itself. */
  for (size_t i = 0; i < ue->n_routes; i++) {
    if (angle(route, sizeof(route), ue->routes[i], NULL) == 0)
      hdr(&sb, "Route", route);
  }
  hdr(&sb, "From", from);
  hdr(&sb, "To", tob);
  hdr(&sb, "Call-ID", cid);
  hdr(&sb, "CSeq", "1 MESSAGE");
  hdr(&sb, "Content-Type", ct);
  int n = imsec_sip_build_finish(
      &sb, imsec_str_make((const char *)body, body ? len : 0));
  if (n >= 0)
    n = imsec_out_send(out, ue->flow, msg, (size_t)n);
  free(msg);
  IMSEC_GUARD(n);

  memset(slot, 0, sizeof(*slot));
  slot->handle = ue->next_handle++;
  if (ue->next_handle <= 0)
    ue->next_handle = 1;
  memcpy(slot->call_id, cid, sizeof(slot->call_id));
  slot->deadline = now + ue->txn_timeout;
  slot->seq = ++ue->pending_seq;
  char ln[24];
  num_text(len, ln, sizeof(ln));
  LOG(out, IMSEC_LOG_INFO, S("-> MESSAGE "), ts, S(" ("), S(ln), S(" octets"),
      S(ue->n_routes ? ", Route " : ""), S(ue->n_routes ? ue->routes[0] : ""),
      S(")"));
  arm_message_timer(ue, out);
  return slot->handle;
}

int imsec_ue_message_result(const imsec_ue *ue, int handle) {
  if (!ue || handle <= 0)
    return IMSEC_ERR_NOTFOUND;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    if (ue->pending[i].handle == handle)
      return ue->pending[i].status;
  }
  return IMSEC_ERR_NOTFOUND;
}

int imsec_ue_inbox_pop(imsec_ue *ue, imsec_ue_message *out) {
  if (!ue || !out || ue->inbox_n == 0)
    return 0;
  *out = ue->inbox[ue->inbox_head];
  memset(&ue->inbox[ue->inbox_head], 0, sizeof(ue->inbox[0]));
  ue->inbox_head = (ue->inbox_head + 1) % IMSEC_UE_INBOX_MAX;
  ue->inbox_n--;
  return 1;
}

void imsec_ue_message_free(imsec_ue_message *m) {
  if (!m)
    return;
  free(m->body);
  m->body = NULL;
  m->len = 0;
}

/* What the P-CSCF sent that cannot be framed: a request gets 513 or 400
 * (imsec_elem_refuse_input), the rest is dropped; the driver closes. */
void imsec_ue_on_refused(imsec_ue *ue, uint64_t flow, int reason,
                         const uint8_t *head, size_t len, imsec_time_ms now,
                         imsec_out *out) {
  if (!ue || !out)
    return;
  (void)imsec_elem_refuse_input(out, &ue->bad_rate, now, flow, reason, NULL,
                                head, len, "imsec-ue", "uerefused");
}
