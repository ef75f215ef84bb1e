/* SIP Digest in the S-CSCF (TS 33.203 Annex N, with Annex O's TLS and the
 * scheme selection of Annex P.4; TS 24.229 §5.4.1.2; RFC 7616, RFC 8760):
 * a subscriber whose HSS record says digest is challenged with one
 * WWW-Authenticate per algorithm, SHA-256 first (RFC 8760 §3), and
 * answers with a password the HSS knows only as H(A1).
 *
 * Nonces keep no state per challenge: a nonce is base64 of its issue time
 * (8 octets, ms of the element's clock), a counter (4 octets: two
 * challenges of one IMPI in one ms still differ, so nc starts afresh for
 * each) and the first 16 octets of HMAC-SHA256 under a key drawn at start
 * over those and the IMPI, so it cannot be forged or moved to another
 * subscriber, and it carries its own lifetime. Only the nonces answered rightly
 * are remembered, for their nc (RFC 7616 §3.4: a repeated nc is a replay), in a
 * bounded table whose entries die with their nonce. */

#include <stdlib.h>
#include <string.h>

#include "scscf_int.h"

#define DG_TIME_LEN 8
#define DG_SEQ_LEN 4 /* a counter: two nonces of one IMPI and ms differ */
#define DG_MAC_LEN 16
#define DG_DATA_LEN (DG_TIME_LEN + DG_SEQ_LEN)
#define DG_RAW_LEN (DG_DATA_LEN + DG_MAC_LEN)
#define DG_TEXT_LEN 40 /* base64 of DG_RAW_LEN octets */

int scscf_digest_setup(imsec_scscf *s) {
  uint8_t op[16];
  int rv = imsec_random(s->crypto, s->dg_key, sizeof(s->dg_key));
  if (rv == 0)
    rv = imsec_random(s->crypto, op, sizeof(op));
  if (rv == 0)
    rv = imsec_hex_encode(op, sizeof(op), s->dg_opaque, sizeof(s->dg_opaque));
  return rv < 0 ? rv : 0;
}

void scscf_digest_free(imsec_scscf *s) {
  for (dg_nonce *n = s->dg_head, *nx; n; n = nx) {
    nx = n->next;
    free(n);
  }
  s->dg_head = s->dg_tail = NULL;
  imsec_map_free(&s->dg_nc);
  imsec_wipe(s->dg_key, sizeof(s->dg_key));
}

int imsec_scscf_digest_user_parse(imsec_str s, int *out) {
  if (!out)
    return IMSEC_ERR_INVAL;
  if (imsec_str_ieq_c(s, "any"))
    *out = IMSEC_SCSCF_DIGEST_USER_ANY;
  else if (imsec_str_ieq_c(s, "impi"))
    *out = IMSEC_SCSCF_DIGEST_USER_IMPI;
  else if (imsec_str_ieq_c(s, "user"))
    *out = IMSEC_SCSCF_DIGEST_USER_PART;
  else
    return IMSEC_ERR_PARSE;
  return 0;
}

int imsec_scscf_digest_algs_parse(imsec_str s, unsigned *out) {
  if (!out)
    return IMSEC_ERR_INVAL;
  unsigned bits = 0;
  if (s.len && s.p[s.len - 1] == ',')
    return IMSEC_ERR_PARSE; /* an empty last item */
  while (s.len) {
    long comma = imsec_str_find(s, ',');
    size_t n = comma < 0 ? s.len : (size_t)comma;
    imsec_str item = imsec_str_trim(imsec_str_make(s.p, n));
    s = comma < 0 ? imsec_str_make(s.p + s.len, 0)
                  : imsec_str_make(s.p + n + 1, s.len - n - 1);
    unsigned b = imsec_str_ieq_c(item, "SHA-256") ? IMSEC_SCSCF_DIGEST_SHA256
                 : imsec_str_ieq_c(item, "MD5")   ? IMSEC_SCSCF_DIGEST_MD5
                                                  : 0;
    if (!b || (bits & b))
      return IMSEC_ERR_PARSE;
    bits |= b;
  }
  if (!bits)
    return IMSEC_ERR_PARSE;
  *out = bits;
  return 0;
}

/* Softphones send the whole IMPI or only its user part as the digest
 * username; the user part names user@<our domain> (TS 23.003 §13.3: the
 * IMPI's realm is the home domain). */
int scscf_digest_impi(const imsec_scscf *s, creds *c) {
  imsec_str u = imsec_str_c(c->username);
  int at = imsec_str_find(u, '@') >= 0;
  int mode = s->cfg.digest_username;
  c->impi[0] = 0;
  if (at) {
    if (mode == IMSEC_SCSCF_DIGEST_USER_PART)
      return IMSEC_ERR_NOTFOUND;
    c->form = IMSEC_HSS_USER_IMPI;
    memcpy(c->impi, c->username, u.len + 1);
    return 0;
  }
  if (mode == IMSEC_SCSCF_DIGEST_USER_IMPI) {
    /* The username as it is (an IMPI without '@' is still an IMPI). */
    c->form = IMSEC_HSS_USER_IMPI;
    memcpy(c->impi, c->username, u.len + 1);
    return 0;
  }
  size_t d = strlen(s->domain);
  if (u.len + 1 + d + 1 > sizeof(c->impi))
    return IMSEC_ERR_NOTFOUND;
  memcpy(c->impi, u.p, u.len);
  c->impi[u.len] = '@';
  memcpy(c->impi + u.len + 1, s->domain, d + 1);
  c->form = IMSEC_HSS_USER_PART;
  return 0;
}

/* MAC of a nonce: HMAC-SHA256(key, time || counter || IMPI), cut to
 * DG_MAC_LEN. */
static int nonce_mac(imsec_scscf *s, const uint8_t data[DG_DATA_LEN],
                     imsec_str impi, uint8_t mac[DG_MAC_LEN]) {
  uint8_t full[32];
  imsec_iov iov[] = {{data, DG_DATA_LEN}, {impi.p, impi.len}};
  int rv = imsec_hmac(s->crypto, IMSEC_HASH_SHA256, s->dg_key,
                      sizeof(s->dg_key), iov, 2, full);
  if (rv == 0)
    memcpy(mac, full, DG_MAC_LEN);
  imsec_wipe(full, sizeof(full));
  return rv;
}

/* A fresh nonce for `impi` issued `now`, into out[DG_TEXT_LEN + 1]. */
static int nonce_make(imsec_scscf *s, imsec_str impi, imsec_time_ms now,
                      char *out) {
  uint8_t raw[DG_RAW_LEN];
  uint64_t t = (uint64_t)now;
  for (int i = 0; i < DG_TIME_LEN; i++)
    raw[i] = (uint8_t)(t >> (8 * (DG_TIME_LEN - 1 - i)));
  uint32_t seq = ++s->dg_seq;
  for (int i = 0; i < DG_SEQ_LEN; i++)
    raw[DG_TIME_LEN + i] = (uint8_t)(seq >> (8 * (DG_SEQ_LEN - 1 - i)));
  int rv = nonce_mac(s, raw, impi, raw + DG_DATA_LEN);
  if (rv == 0)
    rv = imsec_base64_encode(raw, sizeof(raw), out, DG_TEXT_LEN + 1);
  return rv < 0 ? rv : 0;
}

/* Is `nonce` one of ours for `impi`? Its issue time in *t. Returns 1 or 0
 * (not ours: malformed, forged, another subscriber's, or from a time
 * ahead of ours, as after a restart). */
static int nonce_check(imsec_scscf *s, const char *nonce, imsec_str impi,
                       imsec_time_ms now, imsec_time_ms *t) {
  size_t n = strlen(nonce);
  uint8_t raw[DG_RAW_LEN + 4], mac[DG_MAC_LEN];
  if (n != DG_TEXT_LEN ||
      imsec_base64_decode(nonce, n, raw, sizeof(raw)) != DG_RAW_LEN ||
      nonce_mac(s, raw, impi, mac) < 0)
    return 0;
  int ok = imsec_ct_eq(mac, raw + DG_DATA_LEN, DG_MAC_LEN);
  imsec_wipe(mac, sizeof(mac));
  uint64_t v = 0;
  for (int i = 0; i < DG_TIME_LEN; i++)
    v = v << 8 | raw[i];
  if (!ok || v > (uint64_t)now)
    return 0;
  *t = (imsec_time_ms)v;
  return 1;
}

/* ------------------------------------------------------------ nc table */

static void nc_drop(imsec_scscf *s, dg_nonce *n) {
  (void)imsec_map_sdel(&s->dg_nc, imsec_str_c(n->key));
  *(n->prev ? &n->prev->next : &s->dg_head) = n->next;
  *(n->next ? &n->next->prev : &s->dg_tail) = n->prev;
  imsec_wipe(n, sizeof(*n)); /* its H(A1) */
  free(n);
}

/* H(A1) kept with a nonce: a UE's re-REGISTER on its open connection
 * with the same nonce and the next nc (RFC 7616 §3.4) is checked against
 * the H(A1) its last right response was checked with, without a round
 * trip to the HSS each time. Only as long as the S-CSCF keeps a
 * subscriber record (store.c): a password changed or a subscriber
 * removed in the HSS is seen within seconds, as there. */
#define DG_HA1_KEEP_MS 5000

static const dg_nonce *ha1_kept(imsec_scscf *s, const char *nonce, int ai,
                                int form, imsec_time_ms now) {
  const dg_nonce *n = imsec_map_sget(&s->dg_nc, imsec_str_c(nonce));
  if (!n || !n->ha1_len || n->ha1_alg != ai || n->ha1_form != form ||
      now - n->ha1_at >= DG_HA1_KEEP_MS || now < n->ha1_at)
    return NULL;
  return n;
}

static void ha1_keep(imsec_scscf *s, const char *nonce, int ai, int form,
                     imsec_bytes ha1, imsec_time_ms now) {
  dg_nonce *n = imsec_map_sget(&s->dg_nc, imsec_str_c(nonce));
  if (!n || ha1.len > sizeof(n->ha1) || form < 0 || form > 255)
    return;
  memcpy(n->ha1, ha1.p, ha1.len);
  n->ha1_len = (uint8_t)ha1.len;
  n->ha1_alg = (uint8_t)ai;
  n->ha1_form = (uint8_t)form;
  n->ha1_at = now;
}

/* Forget the nonces whose lifetime is over (from the oldest kept; a few
 * per call, so a call costs little). */
static void nc_expire(imsec_scscf *s, imsec_time_ms now) {
  for (int i = 0; i < 4 && s->dg_head; i++) {
    if (s->dg_head->t + s->cfg.digest_nonce_ms > now)
      return;
    nc_drop(s, s->dg_head);
  }
}

/* The nc check of a right response (RFC 7616 §3.4): 0 accepted (nc
 * above the highest seen for the nonce, now kept), IMSEC_ERR_REPLAY, or
 * IMSEC_ERR_AGAIN: the nonce is not in the table and may have been evicted
 * from it, so it cannot be taken as fresh (the UE gets a new one). */
static int nc_accept(imsec_scscf *s, const char *nonce, imsec_time_ms t,
                     imsec_str nc, imsec_time_ms now) {
  nc_expire(s, now);
  dg_nonce *n = imsec_map_sget(&s->dg_nc, imsec_str_c(nonce));
  if (n) {
    int rv = imsec_digest_nc_check(nc, &n->nc);
    return rv == 0 ? 0 : IMSEC_ERR_REPLAY;
  }
  if (t <= s->dg_floor)
    return IMSEC_ERR_AGAIN;
  uint32_t v = 0;
  if (imsec_digest_nc_check(nc, &v) < 0)
    return IMSEC_ERR_REPLAY; /* nc 00000000 */
  if (imsec_map_len(&s->dg_nc) >= s->cfg.max_digest_nonces && s->dg_head) {
    /* Full: the oldest kept goes, and no nonce of its time or before is
     * taken as fresh any more. */
    if (s->dg_head->t > s->dg_floor)
      s->dg_floor = s->dg_head->t;
    nc_drop(s, s->dg_head);
    if (t <= s->dg_floor)
      return IMSEC_ERR_AGAIN;
  }
  n = calloc(1, sizeof(*n));
  if (!n)
    return IMSEC_ERR_AGAIN;
  memcpy(n->key, nonce, strlen(nonce) + 1);
  n->t = t;
  n->nc = v;
  if (imsec_map_sput(&s->dg_nc, imsec_str_c(n->key), n, NULL) < 0) {
    free(n);
    return IMSEC_ERR_AGAIN;
  }
  n->prev = s->dg_tail;
  *(s->dg_tail ? &s->dg_tail->next : &s->dg_head) = n;
  s->dg_tail = n;
  return 0;
}

/* ------------------------------------------------------------ challenge */

/* The challenge (RFC 7616 §3.3, RFC 8760 §3): one WWW-Authenticate (401)
 * or Proxy-Authenticate (407) per algorithm, SHA-256 first, MD5 after,
 * both with the same nonce, qop="auth" and the realm of the HSS record.
 * Returns 0 (sent) or a negative code (nothing sent). */
static int send_dg_challenge(imsec_scscf *s, uint64_t flow,
                             const imsec_hss_sub *sub, int proxy, int stale,
                             imsec_time_ms now, imsec_out *out) {
  const char *realm = sub->digest.realm[0] ? sub->digest.realm : s->domain;
  char nonce[DG_TEXT_LEN + 1];
  if (strchr(realm, '"') || strchr(realm, '\\'))
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(nonce_make(s, imsec_str_c(sub->impi), now, nonce));
  static const char *const algs[] = {"SHA-256", "MD5"};
  static const unsigned bits[] = {IMSEC_SCSCF_DIGEST_SHA256,
                                  IMSEC_SCSCF_DIGEST_MD5};
  imsec_sip_builder b;
  if (proxy)
    scscf_start_response(s, &b, 407, "Proxy Authentication Required");
  else
    scscf_start_response(s, &b, 401, "Unauthorized");
  for (size_t i = 0; i < 2; i++) {
    if (!(s->cfg.digest_algs & bits[i]))
      continue;
    imsec_sip_build_raw(&b, proxy ? IMSEC_STR_LIT("Proxy-Authenticate: ")
                                  : IMSEC_STR_LIT("WWW-Authenticate: "));
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("Digest realm=\""));
    imsec_sip_build_raw(&b, imsec_str_c(realm));
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("\", nonce=\""));
    imsec_sip_build_raw(&b, imsec_str_c(nonce));
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("\", algorithm="));
    imsec_sip_build_raw(&b, imsec_str_c(algs[i]));
    imsec_sip_build_raw(&b, IMSEC_STR_LIT(", qop=\"auth\", opaque=\""));
    imsec_sip_build_raw(&b, imsec_str_c(s->dg_opaque));
    imsec_sip_build_raw(&b, stale ? IMSEC_STR_LIT("\", stale=true\r\n")
                                  : IMSEC_STR_LIT("\"\r\n"));
  }
  scscf_finish_send(s, &b, flow, out);
  s->obs.chal_digest++;
  (void)imsec_out_logv(
      out, IMSEC_LOG_INFO,
      (imsec_str[]){s->m.method, IMSEC_STR_LIT(" "), imsec_str_c(sub->impi),
                    proxy ? IMSEC_STR_LIT(": 407 SIP Digest challenge")
                          : IMSEC_STR_LIT(": 401 SIP Digest challenge"),
                    stale ? IMSEC_STR_LIT(" (stale nonce)")
                          : IMSEC_STR_LIT("")},
      5);
  return 0;
}

/* A REGISTER's 401, counted as a new challenge by the flood limits. */
static void dg_challenge(imsec_scscf *s, uint64_t flow,
                         const imsec_hss_sub *sub, imsec_str src, int stale,
                         imsec_time_ms now, imsec_out *out, reg_end *e) {
  if (scscf_limits_challenge(s, flow, imsec_str_c(sub->impi), src, now, out))
    return;
  if (send_dg_challenge(s, flow, sub, 0, stale, now, out) < 0)
    scscf_reg_fail(e, 500, "Server Internal Error");
}

/* A failed response: 403, counted by the flood limits (lockout). */
static void refuse(imsec_scscf *s, const imsec_hss_sub *sub, const char *why,
                   int reason, imsec_out *out, reg_end *e) {
  scscf_obs_fail(s, reason);
  (void)imsec_out_logv(out, IMSEC_LOG_WARN,
                       (imsec_str[]){s->m.method, IMSEC_STR_LIT(" "),
                                     imsec_str_c(sub->impi),
                                     IMSEC_STR_LIT(": SIP Digest "),
                                     imsec_str_c(why), IMSEC_STR_LIT(": 403")},
                       6);
  e->auth_failed = 1;
  scscf_reg_fail(e, 403, "Forbidden");
}

/* What the check of credentials came to. */
typedef enum dg_verdict {
  DG_RIGHT,     /* right: rspauth in dg_check's `rspauth` */
  DG_CHALLENGE, /* a new challenge is due (stale: see `stale`) */
  DG_ENDED,     /* decided in `e`: 403 counted, waiting, or store error */
} dg_verdict;

/* Check credentials `c` (for our realm, with a nonce) of `sub` for
 * `method` (RFC 7616 §3.4.6 with the H(A1) of the username's form):
 * nonce ours and bound to the IMPI, an algorithm offered, qop=auth,
 * the response (H(A1) from the HSS, taken once), the nonce's age, then
 * nc (RFC 7616 §3.4: only a right response moves it). */
static dg_verdict dg_check(imsec_scscf *s, const creds *c,
                           const imsec_hss_sub *sub, imsec_str method,
                           imsec_time_ms now, imsec_out *out, reg_end *e,
                           int *stale, char *rspauth, size_t cap,
                           imsec_time_ms *issued) {
  imsec_str impi = imsec_str_c(sub->impi);
  imsec_time_ms t = 0;
  *stale = 0;
  if (!nonce_check(s, c->nonce, impi, now, &t)) {
    /* Not a nonce of ours for this IMPI: a fresh challenge, not stale
     * (RFC 7616 §3.3: stale only for a nonce that was valid). */
    (void)imsec_out_log(out, IMSEC_LOG_DEBUG, sub->impi,
                        ": SIP Digest nonce not ours", NULL);
    return DG_CHALLENGE;
  }
  imsec_digest_alg alg;
  if (imsec_digest_alg_parse(c->p.algorithm, &alg) < 0 ||
      !(s->cfg.digest_algs &
        (alg == IMSEC_DIGEST_MD5      ? IMSEC_SCSCF_DIGEST_MD5
         : alg == IMSEC_DIGEST_SHA256 ? IMSEC_SCSCF_DIGEST_SHA256
                                      : 0))) {
    refuse(s, sub, "algorithm not offered", SC_AF_OTHER, out, e);
    return DG_ENDED;
  }
  imsec_digest_qop qop;
  if (imsec_digest_qop_parse(c->p.qop, &qop) < 0 ||
      qop != IMSEC_DIGEST_QOP_AUTH) {
    /* Without qop=auth there is no nc, so no replay check. */
    refuse(s, sub, "response without qop=auth", SC_AF_OTHER, out, e);
    return DG_ENDED;
  }
  int ai =
      alg == IMSEC_DIGEST_SHA256 ? IMSEC_HSS_HA1_SHA256 : IMSEC_HSS_HA1_MD5;
  size_t hlen = imsec_hash_len(imsec_digest_alg_hash(alg));
  imsec_hss_sub *dg = malloc(sizeof(*dg));
  if (!dg) {
    scscf_reg_fail(e, 500, "Server Internal Error");
    return DG_ENDED;
  }
  dg_verdict v = DG_ENDED;
  int kept = 0;
  int rv;
  const dg_nonce *kn = ha1_kept(s, c->nonce, ai, c->form, now);
  if (kn && kn->ha1_len == hlen) {
    memcpy(dg->digest.ha1[ai][c->form], kn->ha1, hlen);
    kept = 1;
    rv = 0;
  } else {
    rv = scscf_hss_digest(s, sub->impi, dg, now, out);
  }
  if (waits(rv)) {
    e->park = 1;
    free(dg);
    return DG_ENDED;
  }
  if (rv == IMSEC_ERR_NOTFOUND || rv == IMSEC_ERR_UNSUPPORTED) {
    /* Gone, or no longer a SIP Digest subscriber, since the record. */
    scscf_obs_fail(s, SC_AF_UNKNOWN_USER);
    scscf_reg_fail(e, 403, "Forbidden");
    goto done;
  }
  if (rv < 0) {
    scscf_store_fail(e, rv);
    goto done;
  }
  imsec_bytes ha1 = {dg->digest.ha1[ai][c->form], hlen};
  rv = imsec_digest_verify_ha1(s->crypto, &c->p, alg, method,
                               (imsec_bytes){NULL, 0}, ha1);
  if (rv < 0) {
    /* TS 33.203 §6.1.2.1 (Annex N): user authentication failure. */
    refuse(s, sub, "response wrong", SC_AF_BAD_RESPONSE, out, e);
    goto done;
  }
  if (now - t >= s->cfg.digest_nonce_ms) {
    /* The password was right, only the nonce is old (RFC 7616 §3.3). */
    scscf_obs_fail(s, SC_AF_STALE);
    *stale = 1;
    v = DG_CHALLENGE;
    goto done;
  }
  rv = nc_accept(s, c->nonce, t, c->p.nc, now);
  if (rv == IMSEC_ERR_REPLAY) {
    refuse(s, sub, "nc replayed", SC_AF_NONCE_REPLAY, out, e);
    goto done;
  }
  if (rv < 0) {
    *stale = 1; /* the nonce may have left the nc table */
    v = DG_CHALLENGE;
    goto done;
  }
  /* The nonce is in the table now: its next nc may use this H(A1) (kept
   * with the time the HSS gave it, not refreshed by the reuse). */
  if (!kept)
    ha1_keep(s, c->nonce, ai, c->form, ha1, now);
  if (imsec_digest_rspauth(s->crypto, &c->p, alg, ha1, rspauth, cap) < 0) {
    scscf_reg_fail(e, 500, "Server Internal Error");
    goto done;
  }
  (void)imsec_out_logv(out, IMSEC_LOG_INFO,
                       (imsec_str[]){method, IMSEC_STR_LIT(" "), impi,
                                     IMSEC_STR_LIT(": SIP Digest "),
                                     imsec_str_c(imsec_digest_alg_name(alg)),
                                     IMSEC_STR_LIT(" response right")},
                       6);
  v = DG_RIGHT;
  *issued = t;
done:
  imsec_hss_sub_wipe(dg);
  free(dg);
  return v;
}

/* Is the realm of `c` the one of `sub`? */
static int realm_of(const imsec_scscf *s, const creds *c,
                    const imsec_hss_sub *sub) {
  const char *realm = sub->digest.realm[0] ? sub->digest.realm : s->domain;
  char got[IMSEC_HSS_ID_MAX];
  return imsec_digest_unquote(c->p.realm, got, sizeof(got)) >= 0 &&
         imsec_str_ieq_c(imsec_str_c(got), realm);
}

void scscf_digest_register(imsec_scscf *s, uint64_t flow, creds *c,
                           const imsec_hss_sub *sub, imsec_str src,
                           imsec_time_ms now, imsec_out *out, reg_end *e) {
  /* No credentials, none for this subscriber's realm (TS 24.229
   * §5.4.1.2.1: a softphone's first REGISTER has none; an IMS UE's has an
   * empty nonce): a challenge. */
  if (!c->present || !c->nonce[0] || !realm_of(s, c, sub)) {
    dg_challenge(s, flow, sub, src, 0, now, out, e);
    return;
  }
  /* TS 33.203 Annex O: SIP Digest only inside a TLS session the P-CSCF
   * vouches for. */
  if (!scscf_integrity_protected_tls(&c->p)) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": SIP Digest without integrity-protected=\"tls-"
                        "pending\" or \"tls-yes\" from the P-CSCF: 403",
                        NULL);
    scscf_obs_fail(s, SC_AF_OTHER);
    scscf_reg_fail(e, 403, "Forbidden");
    return;
  }
  char rspauth[2 * IMSEC_HASH_MAX_LEN + 1];
  int stale = 0;
  imsec_time_ms issued = now;
  dg_verdict v = dg_check(s, c, sub, IMSEC_STR_LIT("REGISTER"), now, out, e,
                          &stale, rspauth, sizeof(rspauth), &issued);
  if (v == DG_CHALLENGE)
    dg_challenge(s, flow, sub, src, stale, now, out, e);
  if (v != DG_RIGHT)
    return;
  /* RFC 7616 §3.5: qop, rspauth, cnonce and nc of the request. */
  char info[512];
  imsec_sip_builder b;
  imsec_sip_build_init(&b, info, sizeof(info) - 1);
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("qop=auth, rspauth=\""));
  imsec_sip_build_raw(&b, imsec_str_c(rspauth));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("\", cnonce=\""));
  imsec_sip_build_raw(&b, c->p.cnonce);
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("\", nc="));
  imsec_sip_build_raw(&b, c->p.nc);
  /* RFC 7616 §3.5 nextnonce: past half its life the nonce is replaced
   * here, so the refresh at half the registration (RFC 3261 §10.2.4
   * practice) reuses a live one with the next nc instead of costing a
   * stale 401 round trip. */
  char next[DG_TEXT_LEN + 1];
  if (now - issued >= s->cfg.digest_nonce_ms / 2 &&
      nonce_make(s, imsec_str_c(sub->impi), now, next) == 0) {
    imsec_sip_build_raw(&b, IMSEC_STR_LIT(", nextnonce=\""));
    imsec_sip_build_raw(&b, imsec_str_c(next));
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("\""));
  }
  if (b.err) {
    scscf_reg_fail(e, 500, "Server Internal Error");
    return;
  }
  info[b.len] = 0;
  scscf_registrar(s, flow, sub, &(reg_auth){1, info}, now, out);
}

/* ------------------------------------------------ Proxy-Authorization */

/* The Proxy-Authorization of s->m for `realm` (RFC 3261 §22.3), into
 * `c` with its index in *idx. Returns 1 found, 0 none, or a negative code
 * for a malformed one. */
static int proxy_creds(imsec_scscf *s, const char *realm, creds *c, long *idx) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  int rv;
  long pos = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_PROXY_AUTHORIZATION);
  long n = 0;
  memset(c, 0, sizeof(*c));
  while ((rv = imsec_sip_auth_next(&s->m, IMSEC_SIP_H_PROXY_AUTHORIZATION, &it,
                                   &raw)) == 1) {
    imsec_digest_params p;
    IMSEC_GUARD(imsec_digest_parse_credentials(raw, &p));
    char got[IMSEC_HSS_ID_MAX];
    if (imsec_digest_unquote(p.realm, got, sizeof(got)) < 0 ||
        !imsec_str_ieq_c(imsec_str_c(got), realm)) {
      n++;
      continue;
    }
    c->p = p;
    if (imsec_digest_unquote(p.username, c->username, sizeof(c->username)) <=
            0 ||
        imsec_digest_unquote(p.nonce, c->nonce, sizeof(c->nonce)) < 0)
      return IMSEC_ERR_PARSE;
    c->present = 1;
    /* Only the first field is removed once used (its index is known). */
    *idx = n == 0 ? pos : -1;
    return 1;
  }
  return rv;
}

int scscf_digest_proxy_auth(imsec_scscf *s, uint64_t flow, const reg *r,
                            imsec_time_ms now, imsec_out *out, int *park,
                            int *store_err) {
  reg_end e = {0};
  int done = 1;
  *park = *store_err = 0;
  if (s->retry && s->retry->dg_authed) {
    /* Checked in an earlier run (its nc is used up): the request waited
     * for the store after that. Only the field goes again. */
    s->dg_authed = 1;
    s->dg_strip = s->retry->dg_strip;
    if (s->dg_strip >= 0 &&
        imsec_sip_msg_remove(&s->m, (size_t)s->dg_strip) < 0)
      s->dg_strip = -1; /* not reached: the same message as before */
    return 0;
  }
  creds *c = malloc(sizeof(*c));
  imsec_hss_sub *sub = malloc(sizeof(*sub));
  if (!c || !sub) {
    scscf_reg_fail(&e, 500, "Server Internal Error");
    goto end;
  }
  int rv =
      scscf_hss_sub(s, IMSEC_SVC_HSS_SUB, imsec_str_c(r->impi), sub, now, out);
  if (waits(rv)) {
    e.park = 1;
    goto end;
  }
  if (rv < 0 || sub->scheme != IMSEC_HSS_SCHEME_DIGEST) {
    if (rv < 0 && rv != IMSEC_ERR_NOTFOUND)
      scscf_store_fail(&e, rv);
    else
      scscf_reg_fail(&e, 403, "Forbidden");
    goto end;
  }
  imsec_str impi = imsec_str_c(sub->impi);
  imsec_str src = scscf_request_source(s);
  if (scscf_limits_refuse(s, flow, impi, src, now, out))
    goto end;
  const char *realm = sub->digest.realm[0] ? sub->digest.realm : s->domain;
  long idx = -1;
  rv = proxy_creds(s, realm, c, &idx);
  if (rv < 0) {
    scscf_reg_fail(&e, 400, "Bad Proxy-Authorization");
    goto end;
  }
  if (rv == 0 || !c->nonce[0]) {
    if (send_dg_challenge(s, flow, sub, 1, 0, now, out) < 0)
      scscf_reg_fail(&e, 500, "Server Internal Error");
    goto end;
  }
  /* The credentials must be the registered user's own (its IMPI, in a
   * username form allowed). */
  if (scscf_digest_impi(s, c) < 0 ||
      strcmp(c->impi, sub->impi) != 0) { /* no secret: two IMPIs */
    refuse(s, sub, "Proxy-Authorization of another user", SC_AF_OTHER, out, &e);
    goto end;
  }
  char rspauth[2 * IMSEC_HASH_MAX_LEN + 1];
  int stale = 0;
  imsec_time_ms issued = now;
  dg_verdict v = dg_check(s, c, sub, s->m.method, now, out, &e, &stale, rspauth,
                          sizeof(rspauth), &issued);
  if (v == DG_CHALLENGE &&
      send_dg_challenge(s, flow, sub, 1, stale, now, out) < 0)
    scscf_reg_fail(&e, 500, "Server Internal Error");
  if (v != DG_RIGHT)
    goto end;
  /* RFC 3261 §22.3: credentials for our realm end here. */
  if (idx >= 0 && imsec_sip_msg_remove(&s->m, (size_t)idx) < 0)
    idx = -1; /* not reached: the index was just found */
  s->dg_authed = 1;
  s->dg_strip = idx;
  done = 0;
end:
  if (e.auth_failed)
    scscf_limits_failure(s, imsec_str_c(sub->impi), scscf_request_source(s),
                         now, out);
  if (e.code)
    scscf_respond(s, flow, e.code, e.reason, out);
  *park = e.park;
  *store_err = e.store_err;
  if (c) {
    imsec_wipe(c, sizeof(*c));
    free(c);
  }
  free(sub);
  return done;
}
