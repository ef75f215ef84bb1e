/* Authentication of REGISTER (TS 33.203 §6.1, TS 24.229 §5.4.1.2):
 * challenges with their nonce and opaque, the Digest AKA check (RFC 3310,
 * RFC 4169), resynchronisation (§6.1.3), and the glue to the flood limits
 * (limit.h, docs/LIMITS.md). */

#include <stdlib.h>
#include <string.h>

#include "scscf_int.h"

static void respond_retry(imsec_scscf *s, uint64_t flow, uint32_t secs,
                          imsec_out *out);
static void budget_logv(imsec_scscf *s, imsec_time_ms now, imsec_out *out,
                        imsec_str *parts, size_t n);

/* Flood-limit defaults: generous enough for a NAT with thousands of UEs
 * re-registering behind one address (each needs one new challenge per
 * registration, two with a resync). */
void scscf_limits_defaults(imsec_scscf_config *c) {
  if (!c->limit_window_ms)
    c->limit_window_ms = 60000;
  if (!c->impi_challenge_limit)
    c->impi_challenge_limit = 10;
  if (!c->source_challenge_limit)
    c->source_challenge_limit = 6000;
  if (!c->impi_failure_limit)
    c->impi_failure_limit = 10;
  if (!c->source_failure_limit)
    c->source_failure_limit = 300;
  if (!c->lockout_ms)
    c->lockout_ms = 300000;
  if (!c->max_limit_entries)
    c->max_limit_entries = 65536;
}

int scscf_limits_setup(imsec_scscf *s) {
  if (s->cfg.limit_window_ms < 0 || s->cfg.lockout_ms < 0)
    return IMSEC_ERR_CONFIG;
  uint8_t seed[48];
  int rv = imsec_random(s->crypto, seed, sizeof(seed));
  if (rv == 0)
    rv = imsec_limit_init(&s->lim_impi, s->cfg.max_limit_entries,
                          s->cfg.limit_window_ms, seed);
  if (rv == 0)
    rv = imsec_limit_init(&s->lim_src, s->cfg.max_limit_entries,
                          s->cfg.limit_window_ms, seed + 16);
  if (rv == 0)
    rv = imsec_limit_init(&s->lim_pair, s->cfg.max_limit_entries,
                          s->cfg.limit_window_ms, seed + 32);
  imsec_wipe(seed, sizeof(seed));
  return rv;
}

void scscf_challenge_free(challenge *c) {
  imsec_aka_vector_wipe(&c->v);
  imsec_wipe(c, sizeof(*c));
  free(c);
}

/* The pending challenges are found by nonce (a response), by IMPI (a
 * repeated REGISTER, the per-IMPI bound) and by timer; they are also kept
 * in the order they were made, so the oldest is at hand when the table
 * is full. */
static impi_ch *challenges_of(const imsec_scscf *s, imsec_str impi) {
  return imsec_map_sget(&s->ch_impi, impi);
}

/* Keep `c` (made at the end of the age list). Returns 0 or
 * IMSEC_ERR_NOMEM (then nothing kept). */
static int challenge_add(imsec_scscf *s, challenge *c) {
  imsec_str impi = imsec_str_c(c->impi);
  impi_ch *ic = challenges_of(s, impi);
  int fresh = ic == NULL;
  if (fresh && (!(ic = calloc(1, sizeof(*ic))) ||
                imsec_map_sput(&s->ch_impi, impi, ic, NULL) < 0)) {
    free(ic);
    return IMSEC_ERR_NOMEM;
  }
  if (ic->n >= PER_IMPI_CHALLENGES ||
      imsec_map_sput(&s->ch_nonce, imsec_str_c(c->nonce), c, NULL) < 0)
    goto fail;
  if (imsec_map_put(&s->ch_timer, c->timer, c, NULL) < 0) {
    (void)imsec_map_sdel(&s->ch_nonce, imsec_str_c(c->nonce));
    goto fail;
  }
  ic->c[ic->n++] = c;
  c->prev = s->ch_tail;
  c->next = NULL;
  if (s->ch_tail)
    s->ch_tail->next = c;
  else
    s->ch_head = c;
  s->ch_tail = c;
  s->nch++;
  return 0;
fail:
  if (fresh)
    free(imsec_map_sdel(&s->ch_impi, impi));
  return IMSEC_ERR_NOMEM;
}

/* Forget `c` (its timer cancelled) and wipe it. */
static void drop_challenge(imsec_scscf *s, challenge *c, imsec_out *out) {
  (void)imsec_out_timer(out, c->timer, 0);
  (void)imsec_map_sdel(&s->ch_nonce, imsec_str_c(c->nonce));
  (void)imsec_map_del(&s->ch_timer, c->timer);
  imsec_str impi = imsec_str_c(c->impi);
  impi_ch *ic = challenges_of(s, impi);
  for (size_t i = 0; ic && i < ic->n; i++) {
    if (ic->c[i] != c)
      continue;
    ic->c[i] = ic->c[--ic->n];
    break;
  }
  if (ic && !ic->n)
    free(imsec_map_sdel(&s->ch_impi, impi));
  if (c->prev)
    c->prev->next = c->next;
  else
    s->ch_head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    s->ch_tail = c->prev;
  s->nch--;
  scscf_challenge_free(c);
}

static challenge *find_challenge(const imsec_scscf *s, imsec_str nonce) {
  return imsec_map_sget(&s->ch_nonce, nonce);
}

/* Every pending challenge, wiped (imsec_scscf_del). */
void scscf_challenges_free(imsec_scscf *s) {
  for (challenge *c = s->ch_head, *n; c; c = n) {
    n = c->next;
    scscf_challenge_free(c);
  }
  s->ch_head = s->ch_tail = NULL;
  s->nch = 0;
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->ch_impi, &it)) != NULL)
    free(e->val);
  imsec_map_free(&s->ch_impi);
  imsec_map_free(&s->ch_nonce);
  imsec_map_free(&s->ch_timer);
}

/* A challenge's lifetime is over (TS 33.203 §6.1.2.3: incomplete
 * authentication). Returns 1 when `timer` was a challenge's. */
int scscf_challenge_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                             imsec_out *out) {
  challenge *c = imsec_map_get(&s->ch_timer, timer);
  if (!c)
    return 0;
  if (c->expires > now)
    return 1; /* stale: re-armed later */
  (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", c->impi,
                      ": challenge expired (incomplete authentication)", NULL);
  drop_challenge(s, c, out);
  return 1;
}

/* Pick the Authorization for our realm (TS 24.229 §5.4.1.2.1); failing
 * that, the first whose algorithm is plain Digest (MD5, SHA-256): SIP
 * Digest credentials carry the HSS's realm, which need not be our domain
 * (checked against the subscriber's once it is known). Returns 0, or
 * IMSEC_ERR_PARSE for a malformed one. */
static int get_creds(imsec_scscf *s, creds *c) {
  memset(c, 0, sizeof(*c));
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  int rv;
  imsec_digest_params other;
  int have_other = 0;
  while ((rv = imsec_sip_auth_next(&s->m, IMSEC_SIP_H_AUTHORIZATION, &it,
                                   &raw)) == 1) {
    imsec_digest_params p;
    IMSEC_GUARD(imsec_digest_parse_credentials(raw, &p));
    char realm[256];
    if (imsec_digest_unquote(p.realm, realm, sizeof(realm)) < 0)
      continue;
    if (!imsec_str_ieq_c(imsec_str_c(realm), s->domain)) {
      imsec_digest_alg alg;
      if (!have_other && imsec_digest_alg_parse(p.algorithm, &alg) == 0 &&
          (alg == IMSEC_DIGEST_MD5 || alg == IMSEC_DIGEST_SHA256)) {
        other = p;
        have_other = 1;
      }
      continue;
    }
    have_other = 0;
    other = p;
    break;
  }
  if (rv < 0)
    return rv;
  if (rv == 1 || have_other) {
    c->p = other;
    c->other_realm = rv != 1;
    if (imsec_digest_unquote(other.username, c->username,
                             sizeof(c->username)) <= 0 ||
        imsec_digest_unquote(other.nonce, c->nonce, sizeof(c->nonce)) < 0)
      return IMSEC_ERR_PARSE;
    c->present = 1;
    if (scscf_digest_impi(s, c) < 0)
      c->impi[0] = 0; /* a form not allowed: no such subscriber */
  }
  return 0;
}

static imsec_digest_alg alg_of(imsec_hss_aka aka) {
  return aka == IMSEC_HSS_AKAV2 ? IMSEC_DIGEST_AKAV2_MD5
                                : IMSEC_DIGEST_AKAV1_MD5;
}

/* The 401 for challenge `c` (TS 24.229 §5.4.1.2.1, RFC 3310 §3.1): built
 * from what the challenge keeps, so a repeated one is the same text.
 * Returns 0 or a negative code (nothing sent). */
static int send_challenge(imsec_scscf *s, uint64_t flow, const challenge *c,
                          int stale, imsec_out *out) {
  char www[1024 + SCSCF_AKA_KEYS_CAP];
  int n = imsec_digest_aka_challenge_build(
      &c->v, c->alg, imsec_str_c(s->domain), IMSEC_STR_LIT("auth"),
      imsec_str_c(c->opaque), 0, www, 1024 - 16);
  if (n < 0)
    return n;
  if (stale) {
    memcpy(www + n, ", stale=true", 13);
    n += 12;
  }
  /* ck= and ik= for a P-CSCF authenticated by its certificate only
   * (scscf_aka_keys, lib/scscf/aka_keys.c). */
  if (scscf_aka_keys(s, flow, c, www + n, sizeof(www) - (size_t)n) < 0) {
    imsec_wipe(www, sizeof(www));
    return IMSEC_ERR_INTERNAL;
  }
  imsec_sip_builder b;
  scscf_start_response(s, &b, 401, "Unauthorized");
  imsec_sip_build_header(&b, IMSEC_STR_LIT("WWW-Authenticate"),
                         imsec_str_c(www));
  imsec_wipe(www, sizeof(www)); /* may hold CK and IK */
  scscf_finish_send(s, &b, flow, out);
  s->obs.chal_aka++;
  return 0;
}

/* 401 with a fresh vector (TS 24.229 §5.4.1.2.1, RFC 3310 §3.1).
 * Returns IMSEC_ERR_BUSY when the HSS store is busy: then nothing was sent
 * and nothing changed (no vector, no SQN step kept, no challenge dropped),
 * so the request can run again; IMSEC_ERR_IO when the store gave no
 * vector (answered 500: no challenge left); else 0 (answered). */
static int challenge_ue(imsec_scscf *s, uint64_t flow, const char *impi,
                        int stale, imsec_time_ms now, imsec_out *out) {
  /* Bound the vectors held: at most a few per IMPI, and overall. */
  const impi_ch *ic = challenges_of(s, imsec_str_c(impi));
  challenge *oldest = NULL;
  for (size_t i = 0; ic && i < ic->n; i++)
    if (!oldest || ic->c[i]->expires < oldest->expires)
      oldest = ic->c[i];
  /* The oldest of this IMPI gives way, once the new vector exists. */
  int drop_oldest = ic && ic->n >= PER_IMPI_CHALLENGES;
  if (s->nch - (size_t)drop_oldest >= s->cfg.max_challenges) {
    /* Come back when the first pending challenge has expired (RFC 3261
     * §21.5.4); a flood of these is one of log lines too. The oldest made
     * is the first to expire (unless a reload shortened the lifetime
     * since: then this errs long). */
    imsec_time_ms first = s->ch_head ? s->ch_head->expires : 0;
    uint32_t secs = first > now ? (uint32_t)((first - now + 999) / 1000) : 1;
    budget_logv(
        s, now, out,
        (imsec_str[]){IMSEC_STR_LIT("too many pending challenges: 503")}, 1);
    respond_retry(s, flow, secs, out);
    return 0;
  }
  challenge *c = calloc(1, sizeof(*c));
  if (!c) {
    scscf_respond(s, flow, 500, "Server Internal Error", out);
    return 0;
  }
  imsec_hss_aka aka = IMSEC_HSS_AKAV1;
  /* One vector per challenge; its SQN is durable before we see it. A busy
   * store made none (and wiped what it had drawn). */
  int rv = scscf_hss_vector(s, impi, &c->v, &aka, now, out);
  if (waits(rv)) {
    scscf_challenge_free(c);
    return rv;
  }
  if (rv == IMSEC_ERR_TIMEOUT || rv == IMSEC_ERR_IO) {
    scscf_obs_fail(s, SC_AF_NO_VECTOR);
    scscf_store_unavailable(s, impi, rv, now, out);
    scscf_challenge_free(c);
    const char *reason;
    unsigned code = scscf_store_code(rv, &reason);
    scscf_respond(s, flow, code, reason, out);
    return IMSEC_ERR_IO;
  }
  uint8_t rnd[16];
  if (rv == 0)
    rv = imsec_random(s->crypto, rnd, sizeof(rnd));
  if (rv == 0)
    rv = imsec_hex_encode(rnd, sizeof(rnd), c->opaque, sizeof(c->opaque));
  if (rv >= 0)
    rv = imsec_digest_aka_nonce_encode(c->v.rand, c->v.autn,
                                       (imsec_bytes){NULL, 0}, c->nonce,
                                       sizeof(c->nonce));
  if (rv < 0) {
    scscf_log_err(out, IMSEC_LOG_ERROR, "HSS: no authentication vector", rv);
    scscf_obs_fail(s, SC_AF_NO_VECTOR);
    scscf_challenge_free(c);
    if (rv == IMSEC_ERR_NOTFOUND)
      scscf_respond(s, flow, 403, "Forbidden", out);
    else
      scscf_respond(s, flow, 500, "Server Internal Error", out);
    return 0;
  }
  if (imsec_str_copy(imsec_str_c(impi), c->impi, sizeof(c->impi)) < 0)
    c->impi[0] = 0;
  c->alg = alg_of(aka);
  c->expires = now + s->cfg.nonce_lifetime_ms;
  c->timer = ++s->next_id;
  if (drop_oldest)
    drop_challenge(s, oldest, out);
  if (challenge_add(s, c) < 0 || send_challenge(s, flow, c, stale, out) < 0) {
    if (find_challenge(s, imsec_str_c(c->nonce)) == c)
      drop_challenge(s, c, out);
    else
      scscf_challenge_free(c);
    scscf_respond(s, flow, 500, "Server Internal Error", out);
    return 0;
  }
  (void)imsec_out_timer(out, c->timer, c->expires);
  (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", impi, ": 401 ",
                      imsec_digest_alg_name(c->alg),
                      stale ? " challenge (stale nonce)" : " challenge", NULL);
  return 0;
}

/* The UE's address as the P-CSCF saw it. The top Via is the P-CSCF's own
 * (marked here with the P-CSCF's address); the one directly below it is
 * the UE's, whose received the P-CSCF always rewrites (RFC 3581 §4) from
 * the address the request came from. That holds because the P-CSCF is
 * this S-CSCF's direct peer: the core-peer decision (peer_trusted) admits
 * only configured P-CSCFs, never a hop in between. Any Via further down is
 * the UE's own text and is never read: the bottom Via's received, once
 * used here, let a UE name any source it liked. With a single Via (a
 * request a peer made itself) it is that peer's address, as marked here.
 * The sent-by host stands in only where no received was written. */
imsec_str scscf_request_source(const imsec_scscf *s) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_via v;
  int n = 0;
  imsec_str src = IMSEC_STR_LIT("");
  while (n < 2 && imsec_sip_via_next(&s->m, &it, &v) == 1) {
    src = scscf_bare_host(v.received.len ? v.received : v.host);
    n++;
  }
  return src;
}

/* 503 with Retry-After (RFC 3261 §21.5.4, §20.33): come back later. */
static void respond_retry(imsec_scscf *s, uint64_t flow, uint32_t secs,
                          imsec_out *out) {
  imsec_sip_builder b;
  scscf_start_response(s, &b, 503, "Service Unavailable");
  imsec_sip_build_header_uint(&b, IMSEC_STR_LIT("Retry-After"), secs);
  scscf_finish_send(s, &b, flow, out);
}

/* One warning per key, reason and window: a flood must not become a log
 * flood. */
static void limit_warn(imsec_out *out, limit_entry *e, unsigned bit,
                       const char *what, imsec_str key, const char *why) {
  if (e->logged & bit)
    return;
  e->logged |= bit;
  (void)imsec_out_logv(out, IMSEC_LOG_WARN,
                       (imsec_str[]){imsec_str_c(what), key, imsec_str_c(why)},
                       3);
}

/* A table full of locked entries (or no memory): the S-CSCF fails closed
 * for new keys, and says so at most once per window. */
static void limit_full(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                       imsec_out *out) {
  if (!s->lim_full_logged ||
      now - s->lim_full_logged >= s->cfg.limit_window_ms) {
    s->lim_full_logged = now ? now : 1;
    (void)imsec_out_log(out, IMSEC_LOG_WARN,
                        "flood limit tables full: REGISTER refused with 503",
                        NULL);
  }
  respond_retry(s, flow, (uint32_t)((s->cfg.limit_window_ms + 999) / 1000),
                out);
}

/* The counters of one IMPI from one source: "SRC IMPI" (a source is an
 * IP literal or a host name, neither holds a space). */
static limit_entry *pair_get(imsec_scscf *s, imsec_str impi, imsec_str src,
                             imsec_time_ms now, int create) {
  char key[IMSEC_HSS_ID_MAX + 300];
  if (src.len + 1 + impi.len > sizeof(key))
    return NULL;
  memcpy(key, src.p, src.len);
  key[src.len] = ' ';
  memcpy(key + src.len + 1, impi.p, impi.len);
  return imsec_limit_get(
      &s->lim_pair, imsec_str_make(key, src.len + 1 + impi.len), now, create);
}

/* Beyond the per-(IMPI, source) limits, the IMPI's total over every source
 * may reach this many times them before the IMPI is refused everywhere:
 * only a spread-out attack gets there, and it still ends. */
#define IMPI_ALL_SOURCES 10u

static uint32_t all_sources(uint32_t limit) {
  return limit > UINT32_MAX / IMPI_ALL_SOURCES ? UINT32_MAX
                                               : limit * IMPI_ALL_SOURCES;
}

/* What comes before anything else for a known IMPI: an IMPI locked for
 * this source (or, after failures from many sources, everywhere) gets 403
 * even for a right response; a source over its failure limit gets 503.
 * Returns 1 when the request was answered. */
int scscf_limits_refuse(imsec_scscf *s, uint64_t flow, imsec_str impi,
                        imsec_str src, imsec_time_ms now, imsec_out *out) {
  limit_entry *e = pair_get(s, impi, src, now, 0);
  if (e && e->locked_until > now) {
    scscf_obs_fail(s, SC_AF_LOCKED);
    if (!(e->logged & LIMIT_LOGGED_LOCKED)) {
      e->logged |= LIMIT_LOGGED_LOCKED;
      (void)imsec_out_logv(
          out, IMSEC_LOG_WARN,
          (imsec_str[]){IMSEC_STR_LIT("REGISTER "), impi,
                        IMSEC_STR_LIT(" from "), src,
                        IMSEC_STR_LIT(": IMPI locked for this source after "
                                      "failed responses: 403")},
          5);
    }
    scscf_respond(s, flow, 403, "Forbidden", out);
    return 1;
  }
  e = imsec_limit_get(&s->lim_impi, impi, now, 0);
  if (e && e->locked_until > now) {
    scscf_obs_fail(s, SC_AF_LOCKED);
    limit_warn(out, e, LIMIT_LOGGED_LOCKED, "REGISTER ", impi,
               ": IMPI locked after failed responses from many sources: 403");
    scscf_respond(s, flow, 403, "Forbidden", out);
    return 1;
  }
  e = imsec_limit_get(&s->lim_src, src, now, 0);
  if (e && e->failures >= s->cfg.source_failure_limit) {
    scscf_obs_fail(s, SC_AF_LOCKED);
    limit_warn(out, e, LIMIT_LOGGED_FAILURES, "REGISTER from ", src,
               ": too many failed responses from this source: 503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_src, e, now), out);
    return 1;
  }
  return 0;
}

/* One warning line within the element's log budget (imsec_lograte: 10
 * lines a second, the next one saying how many were held back): what an
 * attacker can send at will must not become a flood of log lines. */
static void budget_logv(imsec_scscf *s, imsec_time_ms now, imsec_out *out,
                        imsec_str *parts, size_t n) {
  uint64_t held = 0;
  if (!imsec_lograte_take(&s->refuse_rate, now, &held))
    return;
  imsec_str all[8];
  char num[24] = "";
  size_t k = 0;
  for (size_t i = 0; i < n && k < 6; i++)
    all[k++] = parts[i];
  if (held) {
    scscf_dec_u64(held, num);
    all[k++] = IMSEC_STR_LIT("; ");
    all[k++] = imsec_str_c(num);
    all[k++] = IMSEC_STR_LIT(" similar lines held back");
  }
  (void)imsec_out_logv(out, IMSEC_LOG_WARN, all, k);
}

/* A REGISTER refused for what it claims (an unknown subscriber, an IMPU
 * outside its IMPI's set, a Digest uri that is not the Request-URI): a
 * failure of its source, so a source probing names meets
 * source_failure_limit (then 503 with Retry-After) as one guessing
 * responses does; else 403 (TS 24.229 §5.4.1.2.1), the line within the
 * log budget. `status`/`reason`: the answer under the limit. */
static void refuse_claim(imsec_scscf *s, uint64_t flow, imsec_str src,
                         unsigned status, const char *reason, imsec_str *parts,
                         size_t n, imsec_time_ms now, imsec_out *out) {
  limit_entry *e = imsec_limit_get(&s->lim_src, src, now, 1);
  if (e && e->failures >= s->cfg.source_failure_limit) {
    limit_warn(out, e, LIMIT_LOGGED_FAILURES, "REGISTER from ", src,
               ": too many failed requests from this source: 503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_src, e, now), out);
    return;
  }
  if (e && e->failures < UINT32_MAX)
    e->failures++;
  budget_logv(s, now, out, parts, n);
  scscf_respond(s, flow, status, reason, out);
}

/* A new challenge costs a vector: an SQN step and a disk write (TS 33.102
 * Annex C). Count it for the IMPI from this source, the IMPI over every
 * source and the source; over any limit the REGISTER gets 503 with
 * Retry-After. The IMPI's own limit holds per source, so a stranger who
 * uses it up does not shut the subscriber out; the IMPI's total is
 * IMPI_ALL_SOURCES times it. Returns 1 when refused. */
int scscf_limits_challenge(imsec_scscf *s, uint64_t flow, imsec_str impi,
                           imsec_str src, imsec_time_ms now, imsec_out *out) {
  limit_entry *ei = imsec_limit_get(&s->lim_impi, impi, now, 1);
  limit_entry *es = imsec_limit_get(&s->lim_src, src, now, 1);
  limit_entry *ep = pair_get(s, impi, src, now, 1);
  if (!ei || !es || !ep) {
    limit_full(s, flow, now, out);
    return 1;
  }
  if (ep->challenges >= s->cfg.impi_challenge_limit) {
    limit_warn(out, ep, LIMIT_LOGGED_CHALLENGES, "REGISTER ", impi,
               ": too many new challenges for this IMPI from this source: "
               "503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_pair, ep, now), out);
    return 1;
  }
  if (ei->challenges >= all_sources(s->cfg.impi_challenge_limit)) {
    limit_warn(out, ei, LIMIT_LOGGED_CHALLENGES, "REGISTER ", impi,
               ": too many new challenges for this IMPI: 503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_impi, ei, now), out);
    return 1;
  }
  if (es->challenges >= s->cfg.source_challenge_limit) {
    limit_warn(out, es, LIMIT_LOGGED_CHALLENGES, "REGISTER from ", src,
               ": too many new challenges from this source: 503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_src, es, now), out);
    return 1;
  }
  ei->challenges++;
  es->challenges++;
  ep->challenges++;
  return 0;
}

static void drop_challenges_of(imsec_scscf *s, imsec_str impi, imsec_out *out) {
  impi_ch *ic;
  while ((ic = challenges_of(s, impi)) != NULL && ic->n)
    drop_challenge(s, ic->c[0], out);
}

static void log_lock(imsec_scscf *s, imsec_str impi, imsec_str src,
                     uint32_t failures, imsec_out *out) {
  char n[24], secs[24];
  scscf_dec_u64(failures, n);
  scscf_dec_u64((uint64_t)(s->cfg.lockout_ms + 999) / 1000, secs);
  (void)imsec_out_logv(
      out, IMSEC_LOG_WARN,
      (imsec_str[]){IMSEC_STR_LIT("REGISTER "), impi, IMSEC_STR_LIT(": "),
                    imsec_str_c(n),
                    IMSEC_STR_LIT(" failed responses: IMPI locked for "),
                    imsec_str_c(secs),
                    src.p ? IMSEC_STR_LIT(" s for requests from ")
                          : IMSEC_STR_LIT(" s from every source"),
                    src.p ? src : IMSEC_STR_LIT("")},
      8);
}

/* A failed response (wrong RES, a refused network, a forged AUTS, a
 * replay, a nonce of another IMPI): counted for the IMPI from this source,
 * the IMPI over every source, and the source. TS 33.203 §6.1.2.1 leaves
 * the policy to the network. The failure that reaches the IMPI's limit
 * from one source locks the IMPI for lockout_ms for requests from that
 * source only: anyone can send wrong responses for any IMPI, so a lock for
 * everyone would be a tool to shut a subscriber out, and an AKA response
 * cannot be guessed anyway (the lock spares the HSS more than it guards
 * the secret). Failures from every source together lock the IMPI
 * everywhere only at IMPI_ALL_SOURCES times the limit. */
void scscf_limits_failure(imsec_scscf *s, imsec_str impi, imsec_str src,
                          imsec_time_ms now, imsec_out *out) {
  limit_entry *es = imsec_limit_get(&s->lim_src, src, now, 1);
  if (es && es->failures < UINT32_MAX)
    es->failures++;
  limit_entry *ep = pair_get(s, impi, src, now, 1);
  if (ep && ep->failures < UINT32_MAX)
    ep->failures++;
  if (ep && ep->failures >= s->cfg.impi_failure_limit && !ep->locked_until) {
    /* The lock is the penalty; once it ends the pair starts afresh. The
     * IMPI's pending challenge stays: its owner may hold it. */
    ep->locked_until = now + s->cfg.lockout_ms;
    ep->failures = 0;
    s->obs.lockouts++;
    ep->logged |= LIMIT_LOGGED_LOCKED;
    log_lock(s, impi, src, s->cfg.impi_failure_limit, out);
  }
  limit_entry *ei = imsec_limit_get(&s->lim_impi, impi, now, 1);
  if (!ei)
    return;
  if (ei->failures < UINT32_MAX)
    ei->failures++;
  uint32_t all = all_sources(s->cfg.impi_failure_limit);
  if (ei->failures < all || ei->locked_until)
    return;
  ei->locked_until = now + s->cfg.lockout_ms;
  ei->failures = 0;
  s->obs.lockouts++;
  ei->logged |= LIMIT_LOGGED_LOCKED;
  log_lock(s, impi, IMSEC_STR_NULL, all, out);
  /* A locked IMPI holds no vectors: nothing could use them. */
  drop_challenges_of(s, impi, out);
}

/* TS 33.203 §6.1, TS 33.102 Annex C: a REGISTER without a valid response
 * while a challenge of its IMPI is pending within its lifetime gets that
 * same challenge again: no new vector, no SQN step, no disk write. The
 * lifetime is not extended. Returns 1 when answered so. */
static int reuse_challenge(imsec_scscf *s, uint64_t flow, const char *impi,
                           int stale, imsec_time_ms now, imsec_out *out) {
  const challenge *best = NULL;
  const impi_ch *ic = challenges_of(s, imsec_str_c(impi));
  for (size_t i = 0; ic && i < ic->n; i++) {
    const challenge *c = ic->c[i];
    if (c->expires > now && (!best || c->expires > best->expires))
      best = c;
  }
  if (!best || send_challenge(s, flow, best, stale, out) < 0)
    return 0;
  (void)imsec_out_log(out, IMSEC_LOG_DEBUG, "REGISTER ", impi,
                      ": 401, the pending challenge again", NULL);
  return 1;
}

/* A new challenge was counted but the HSS store was busy: none was made,
 * and the request runs again, so it is not counted twice. */
static void limits_unchallenge(imsec_scscf *s, imsec_str impi, imsec_str src,
                               imsec_time_ms now) {
  limit_entry *ei = imsec_limit_get(&s->lim_impi, impi, now, 0);
  limit_entry *es = imsec_limit_get(&s->lim_src, src, now, 0);
  limit_entry *ep = pair_get(s, impi, src, now, 0);
  if (ep && ep->challenges)
    ep->challenges--;
  if (ei && ei->challenges)
    ei->challenges--;
  if (es && es->challenges)
    es->challenges--;
}

/* A new challenge within the limits. Returns as challenge_ue. */
static int challenge_new(imsec_scscf *s, uint64_t flow, const char *impi,
                         imsec_str src, int stale, imsec_time_ms now,
                         imsec_out *out) {
  if (scscf_limits_challenge(s, flow, imsec_str_c(impi), src, now, out))
    return 0;
  int rv = challenge_ue(s, flow, impi, stale, now, out);
  /* Only a challenge that left counts: one the store could not make
   * (busy, no answer in time) spent no vector, and counting it would
   * shut the subscriber out after the store comes back. */
  if (waits(rv) || rv == IMSEC_ERR_IO)
    limits_unchallenge(s, imsec_str_c(impi), src, now);
  return rv;
}

/* The pending challenge again, else a new one within the limits. Returns
 * as challenge_ue. */
static int challenge_again(imsec_scscf *s, uint64_t flow, const char *impi,
                           imsec_str src, int stale, imsec_time_ms now,
                           imsec_out *out) {
  if (reuse_challenge(s, flow, impi, stale, now, out))
    return 0;
  return challenge_new(s, flow, impi, src, stale, now, out);
}

/* RFC 7616 §3.4.6, RFC 3261 §22.4: the Digest uri names the resource the
 * request is for. Compared with the Request-URI as SIP URIs (RFC 3261
 * §19.1.4: host and parameters case-insensitively, escapes decoded), not
 * byte by byte, so a proxy that re-writes case or escaping between the UE
 * and here does not break authentication. Returns 1 when they match. */
static int digest_uri_matches(const imsec_scscf *s, const creds *c) {
  char text[1024];
  imsec_sip_uri du, ru;
  if (!(c->p.present & IMSEC_DIGEST_P_URI) ||
      imsec_digest_unquote(c->p.uri, text, sizeof(text)) <= 0 ||
      imsec_sip_uri_parse(imsec_str_c(text), 16, &du) < 0 ||
      imsec_sip_uri_parse(s->m.ruri, 16, &ru) < 0)
    return 0;
  return imsec_sip_uri_eq(&du, &ru);
}

/* TS 24.229 §5.4.1.2.1 with TS 33.203 Annex X: a REGISTER that answers a
 * challenge arrived over a UE's TLS flow only if its P-CSCF marked the
 * Authorization integrity-protected "tls-pending" or "tls-yes" (the P-CSCF
 * replaces whatever a UE wrote there). */
int scscf_integrity_protected_tls(const imsec_digest_params *p) {
  if (!(p->present & IMSEC_DIGEST_P_INTEGRITY_PROTECTED))
    return 0;
  char v[16];
  if (imsec_digest_unquote(p->integrity_protected, v, sizeof(v)) < 0)
    return 0;
  /* A public mark the P-CSCF writes in clear. */
  int pending = strcmp(v, "tls-pending") == 0; /* no secret: public mark */
  int yes = strcmp(v, "tls-yes") == 0;         /* no secret: public mark */
  return pending || yes;
}

void scscf_reg_fail(reg_end *e, unsigned code, const char *reason) {
  e->code = code;
  e->reason = reason;
}

void scscf_store_fail(reg_end *e, int rv) {
  e->store_err = rv;
  e->code = scscf_store_code(rv, &e->reason);
}

void scscf_do_register(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                       imsec_out *out) {
  reg_end e = {0};
  creds *c = NULL;
  imsec_hss_sub *sub = NULL;
  imsec_str src = IMSEC_STR_LIT("");
  imsec_str impi = IMSEC_STR_LIT("");
  uint8_t auts[IMSEC_AKA_AUTS_LEN];
  memset(auts, 0, sizeof(auts));
  int rv;
  if (!s->retry && scscf_park_waiting(s, flow)) {
    /* A registration's REGISTERs keep their order (RFC 3261 §10.2.4:
     * its refreshes share its Call-ID, ordered by CSeq): this one waits
     * behind those of its flow and Call-ID that wait for the HSS store.
     * Other UEs behind the same P-CSCF connection do not wait for it. */
    e.park = 1;
    goto end;
  }
  rv = scscf_wait_load(s, now);
  if (rv == IMSEC_ERR_AGAIN) {
    e.park = 1;
    goto end;
  }
  if (rv < 0) {
    scscf_store_fail(&e, rv);
    goto end;
  }
  if (s->retry && s->retry->ra_sub) {
    /* Authenticated already, waiting in the registrar for a store: back
     * there with what it had (its nonce is used up). */
    parked *p = s->retry;
    scscf_registrar(s, flow, p->ra_sub, &(reg_auth){p->ra_digest, p->ra_info},
                    now, out);
    goto end;
  }
  imsec_sip_uri ru;
  if (imsec_sip_uri_parse(s->m.ruri, 16, &ru) < 0 ||
      !imsec_str_ieq_c(ru.host, s->domain)) {
    (void)imsec_out_logv(out, IMSEC_LOG_WARN,
                         (imsec_str[]){IMSEC_STR_LIT("REGISTER for "),
                                       s->m.ruri,
                                       IMSEC_STR_LIT(": domain not served")},
                         3);
    scscf_reg_fail(&e, 403, "Domain not served");
    goto end;
  }
  const imsec_sip_addr *to;
  if (imsec_sip_get_to(&s->m, &to) < 0) {
    scscf_reg_fail(&e, 400, "Bad To");
    goto end;
  }
  c = malloc(sizeof(*c));
  sub = malloc(sizeof(*sub));
  if (!c || !sub) {
    scscf_reg_fail(&e, 500, "Server Internal Error");
    goto end;
  }
  if (get_creds(s, c) < 0) {
    scscf_reg_fail(&e, 400, "Bad Authorization");
    goto end;
  }
  src = scscf_request_source(s);
  if (c->present && !digest_uri_matches(s, c)) {
    scscf_obs_fail(s, SC_AF_URI_MISMATCH);
    refuse_claim(s, flow, src, 400, "Digest uri does not match the Request-URI",
                 (imsec_str[]){IMSEC_STR_LIT("REGISTER "),
                               imsec_str_c(c->username),
                               IMSEC_STR_LIT(": Digest uri is not "
                                             "the Request-URI: 400")},
                 3, now, out);
    goto end;
  }
  /* The IMPI: the one the Authorization username names (the username
   * itself, or for SIP Digest its user part at our domain), or (a UA
   * without one) the subscriber that owns the IMPU (TS 24.229
   * §5.4.1.2.1). */
  e.who = c->present ? c->username : "(by IMPU)";
  if (c->present && !c->impi[0])
    rv = IMSEC_ERR_NOTFOUND; /* a username form not allowed */
  else
    rv = c->present
             ? scscf_hss_sub(s, IMSEC_SVC_HSS_SUB, imsec_str_c(c->impi), sub,
                             now, out)
             : scscf_hss_sub(s, IMSEC_SVC_HSS_SUB_IMPU, to->uri, sub, now, out);
  /* IMS AKA credentials name the IMPI itself (TS 33.203 §6.1.1). */
  if (rv == 0 && c->present && sub->scheme != IMSEC_HSS_SCHEME_DIGEST &&
      c->form != IMSEC_HSS_USER_IMPI)
    rv = IMSEC_ERR_NOTFOUND;
  if (waits(rv)) {
    e.park = 1;
    goto end;
  }
  if (rv < 0 && rv != IMSEC_ERR_NOTFOUND) {
    scscf_store_fail(&e, rv);
    goto end;
  }
  if (rv < 0) {
    scscf_obs_fail(s, SC_AF_UNKNOWN_USER);
    refuse_claim(s, flow, src, 403, "Forbidden",
                 (imsec_str[]){IMSEC_STR_LIT("REGISTER "),
                               imsec_str_c(c->username), IMSEC_STR_LIT(" / "),
                               to->uri,
                               IMSEC_STR_LIT(": unknown subscriber: 403")},
                 5, now, out);
    goto end;
  }
  if (!scscf_impu_in_set(sub, to->uri)) {
    scscf_obs_fail(s, SC_AF_UNKNOWN_USER);
    refuse_claim(s, flow, src, 403, "Forbidden",
                 (imsec_str[]){IMSEC_STR_LIT("REGISTER "),
                               imsec_str_c(sub->impi), IMSEC_STR_LIT(": IMPU "),
                               to->uri, IMSEC_STR_LIT(" not in its set: 403")},
                 5, now, out);
    goto end;
  }
  e.who = sub->impi;
  impi = imsec_str_c(sub->impi);
  if (scscf_limits_refuse(s, flow, impi, src, now, out))
    goto end;
  if (sub->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    /* TS 33.203 Annex P.4: the HSS record chooses the scheme. */
    scscf_digest_register(s, flow, c, sub, src, now, out, &e);
    goto end;
  }
  if (c->other_realm)
    c->present = 0; /* not for us: a challenge of ours */
  if (!c->present || c->nonce[0] == 0) {
    e.park = waits(challenge_again(s, flow, sub->impi, src, 0, now, out));
    goto end;
  }
  if (!scscf_integrity_protected_tls(&c->p)) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": no integrity-protected=\"tls-pending\" or "
                        "\"tls-yes\" from the P-CSCF: 403",
                        NULL);
    scscf_obs_fail(s, SC_AF_OTHER);
    scscf_reg_fail(&e, 403, "Forbidden");
    goto end;
  }
  challenge *ch = find_challenge(s, imsec_str_c(c->nonce));
  if (ch && ch->expires <= now) {
    /* TS 33.203 §6.1.2.3: the lifetime passed; the vector is gone. */
    drop_challenge(s, ch, out);
    ch = NULL;
  }
  if (!ch) {
    /* Unknown, used or expired nonce: the pending challenge or a fresh
     * one (RFC 7616 §3.3 stale) rather than a failure: the UE may simply
     * be late. After a resynchronisation (below) the fresh challenge is
     * not a stale one. */
    int stale = !(s->retry && s->retry->resynced);
    e.park = waits(challenge_again(s, flow, sub->impi, src, stale, now, out));
    if (stale && !e.park)
      scscf_obs_fail(s, SC_AF_STALE);
    goto end;
  }
  if (!imsec_str_eq(imsec_str_c(ch->impi), impi)) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": nonce of another subscriber: 403", NULL);
    scscf_obs_fail(s, SC_AF_NONCE_REPLAY);
    e.auth_failed = 1;
    scscf_reg_fail(&e, 403, "Forbidden");
    goto end;
  }
  uint32_t nc_before = ch->nc;
  if ((c->p.present & IMSEC_DIGEST_P_QOP) &&
      imsec_digest_nc_check(c->p.nc, &ch->nc) < 0) {
    /* RFC 7616 §3.4: a repeated nc is a replay. */
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": replayed nc: new challenge", NULL);
    scscf_obs_fail(s, SC_AF_NONCE_REPLAY);
    drop_challenge(s, ch, out);
    scscf_limits_failure(s, impi, src, now, out);
    if (scscf_limits_refuse(s, flow, impi, src, now, out))
      goto end;
    /* Waiting: run again, this nonce is gone by then (a stale 401). */
    e.park = waits(challenge_again(s, flow, sub->impi, src, 0, now, out));
    goto end;
  }
  if (c->p.response.len == 0 && !(c->p.present & IMSEC_DIGEST_P_AUTS)) {
    /* TS 33.203 §6.1.2.2, TS 24.229 §5.4.1.2.3: the UE could not
     * authenticate the network (MAC failure). */
    drop_challenge(s, ch, out);
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": UE reports network authentication failure: 403",
                        NULL);
    scscf_obs_fail(s, SC_AF_OTHER);
    e.auth_failed = 1;
    scscf_reg_fail(&e, 403, "Forbidden");
    goto end;
  }
  uint8_t rand[IMSEC_AKA_RAND_LEN];
  memcpy(rand, ch->v.rand, sizeof(rand));
  rv = imsec_digest_aka_verify(s->crypto, &c->p, ch->alg, &ch->v,
                               IMSEC_STR_LIT("REGISTER"),
                               (imsec_bytes){NULL, 0}, auts);
  if (rv == IMSEC_ERR_SYNC) {
    /* TS 33.203 §6.1.3: resync first. Waiting for the store changes
     * nothing: the challenge stays as it was (its nc too) and the same
     * request runs again later. */
    int rs = scscf_hss_resync(s, sub->impi, rand, auts, now, out);
    if (waits(rs)) {
      ch->nc = nc_before;
      e.park = 1;
      goto end;
    }
    drop_challenge(s, ch, out);
    scscf_obs_fail(s, SC_AF_SYNC_FAILURE); /* TS 33.102 §6.3.5 */
    if (rs == IMSEC_ERR_TIMEOUT || rs == IMSEC_ERR_IO) {
      scscf_store_fail(&e, rs);
      goto end;
    }
    if (rs < 0) {
      scscf_log_err(out, IMSEC_LOG_WARN, "REGISTER: resynchronisation failed",
                    rs);
      e.auth_failed = 1;
      scscf_reg_fail(&e, 403, "Forbidden");
      goto end;
    }
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", sub->impi,
                        ": sync failure, HSS resynchronised", NULL);
    /* A new vector is right here: the pending ones carry SQNs from before
     * the resync. Waiting for it: the request runs again and, its nonce
     * gone, gets a fresh challenge from the new SQN. */
    drop_challenges_of(s, impi, out);
    if (s->retry)
      s->retry->resynced = 1;
    e.park = waits(challenge_new(s, flow, sub->impi, src, 0, now, out));
    goto end;
  }
  /* One answer per vector, whatever it was: the nonce is used up. */
  drop_challenge(s, ch, out);
  if (rv < 0) {
    /* TS 33.203 §6.1.2.1: user authentication failure. */
    scscf_obs_fail(s, SC_AF_BAD_RESPONSE);
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": authentication failed (", imsec_strerror(rv),
                        "): 403", NULL);
    e.auth_failed = 1;
    scscf_reg_fail(&e, 403, "Forbidden");
    goto end;
  }
  scscf_registrar(s, flow, sub, &(reg_auth){0, NULL}, now, out);
end:
  if (e.park)
    scscf_park_busy(s, flow, e.who, now, out);
  if (e.store_err)
    scscf_store_unavailable(s, e.who, e.store_err, now, out);
  if (e.auth_failed)
    scscf_limits_failure(s, impi, src, now, out);
  if (e.code)
    scscf_respond(s, flow, e.code, e.reason, out);
  imsec_wipe(auts, sizeof(auts));
  if (c) {
    imsec_wipe(c, sizeof(*c));
    free(c);
  }
  free(sub);
}
