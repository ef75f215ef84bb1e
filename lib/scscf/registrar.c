/* The registrar (RFC 3261 §10.3, RFC 3327, RFC 3608, RFC 5626 §6, TS 24.229
 * §5.4.1.2.2): bindings and their expiry, 200 and 423, de-registration,
 * and the registrations' durability (PERSIST before the 200, REG_LOAD
 * after a restart; DESIGN.md §2). */

#include <stdlib.h>
#include <string.h>

#include "scscf_int.h"

static int build_ok(imsec_scscf *s, uint64_t flow, reg *r,
                    const char *auth_info, imsec_time_ms now, imsec_out *out);
static int reg_to_record(const imsec_scscf *s, const reg *r, imsec_time_ms now,
                         imsec_reg_record *out);

void scscf_contact_free(contact *c) {
  free(c->uri);
  free(c->path);
  free(c->instance);
  free(c->reg_peer);
}

void scscf_reg_free(reg *r) {
  for (size_t i = 0; i < r->n; i++)
    scscf_contact_free(&r->c[i]);
  free(r->c);
  for (size_t i = 0; i < r->n_impus; i++)
    free(r->impus[i]);
  free(r->impus);
  free(r->impi);
  free(r);
}

/* ------------------------------------------------------------ index */

/* Registrations are found by IMPI, by any IMPU of their implicit set and
 * by a binding's expiry timer. An IMPU's key is what RFC 3261 §19.1.4
 * compares for it (impu_match_parsed): the scheme, the user part as is
 * and the host case-insensitively; a tel URI by its number; another
 * scheme by its text, case-insensitively. Returns the key's length, 0
 * when it does not fit. */
#define IMPU_KEY_CAP 600

static size_t impu_key(const imsec_sip_uri *u, char *buf) {
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, IMPU_KEY_CAP);
  char sch[2] = {(char)('0' + (int)u->scheme), 0};
  imsec_sip_build_raw(&b, imsec_str_c(sch));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("|"));
  size_t fold = b.len;
  if (u->scheme == IMSEC_SIP_SCHEME_OTHER) {
    imsec_sip_build_raw(&b, u->opaque);
  } else {
    imsec_sip_build_raw(&b, u->user);
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("|"));
    fold = b.len;
    if (u->scheme != IMSEC_SIP_SCHEME_TEL)
      imsec_sip_build_raw(&b, u->host);
  }
  if (b.err)
    return 0;
  for (size_t i = fold; i < b.len; i++)
    if (buf[i] >= 'A' && buf[i] <= 'Z')
      buf[i] = (char)(buf[i] - 'A' + 'a');
  return b.len;
}

static size_t impu_key_text(imsec_str impu, char *buf) {
  imsec_sip_uri u;
  return imsec_sip_uri_parse(impu, 16, &u) < 0 ? 0 : impu_key(&u, buf);
}

static reg *find_reg_impi(const imsec_scscf *s, imsec_str impi) {
  return imsec_map_sget(&s->regs, impi);
}

reg *scscf_find_reg_impi(const imsec_scscf *s, imsec_str impi) {
  return find_reg_impi(s, impi);
}

/* An IMPU shared by two registrations (two IMPIs with one public
 * identity) names the one registered last. */
reg *scscf_find_reg_impu(const imsec_scscf *s, imsec_str impu) {
  char key[IMPU_KEY_CAP];
  size_t kn = impu_key_text(impu, key);
  return kn ? imsec_map_sget(&s->impus, imsec_str_make(key, kn)) : NULL;
}

static void reg_unindex(imsec_scscf *s, reg *r) {
  if (find_reg_impi(s, imsec_str_c(r->impi)) == r)
    (void)imsec_map_sdel(&s->regs, imsec_str_c(r->impi));
  for (size_t i = 0; i < r->n_impus; i++) {
    char key[IMPU_KEY_CAP];
    size_t kn = impu_key_text(imsec_str_c(r->impus[i]), key);
    imsec_str k = imsec_str_make(key, kn);
    if (kn && imsec_map_sget(&s->impus, k) == r)
      (void)imsec_map_sdel(&s->impus, k);
  }
  for (size_t i = 0; i < r->n; i++)
    if (r->c[i].timer)
      (void)imsec_map_del(&s->reg_timer, r->c[i].timer);
}

/* Index a new registration (no bindings yet). Returns 0 or
 * IMSEC_ERR_NOMEM (then it is not indexed). */
static int reg_index(imsec_scscf *s, reg *r) {
  int rv = imsec_map_sput(&s->regs, imsec_str_c(r->impi), r, NULL);
  for (size_t i = 0; rv == 0 && i < r->n_impus; i++) {
    char key[IMPU_KEY_CAP];
    size_t kn = impu_key_text(imsec_str_c(r->impus[i]), key);
    if (kn)
      rv = imsec_map_sput(&s->impus, imsec_str_make(key, kn), r, NULL);
  }
  if (rv < 0)
    reg_unindex(s, r);
  return rv;
}

/* Arm the expiry timer of binding `c` of `r` (a new id the first time). */
static void contact_arm(imsec_scscf *s, reg *r, contact *c, imsec_out *out) {
  if (!c->timer) {
    c->timer = ++s->next_id;
    if (imsec_map_put(&s->reg_timer, c->timer, r, NULL) < 0) {
      c->timer = 0; /* without memory it lapses on use only */
      return;
    }
  }
  (void)imsec_out_timer(out, c->timer, c->expires_at);
}

static void remove_reg(imsec_scscf *s, reg *r, imsec_out *out) {
  for (size_t i = 0; i < r->n; i++)
    if (r->c[i].timer)
      (void)imsec_out_timer(out, r->c[i].timer, 0);
  reg_unindex(s, r);
  scscf_reg_free(r);
}

void scscf_reg_drop(imsec_scscf *s, reg *r, imsec_out *out) {
  remove_reg(s, r, out);
}

static void remove_contact(imsec_scscf *s, reg *r, size_t i, imsec_out *out) {
  if (r->c[i].timer) {
    (void)imsec_out_timer(out, r->c[i].timer, 0);
    (void)imsec_map_del(&s->reg_timer, r->c[i].timer);
  }
  scscf_contact_free(&r->c[i]);
  r->c[i] = r->c[--r->n];
}

/* Every registration (imsec_scscf_del). */
void scscf_regs_free(imsec_scscf *s) {
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->regs, &it)) != NULL)
    scscf_reg_free(e->val);
  imsec_map_free(&s->regs);
  imsec_map_free(&s->impus);
  imsec_map_free(&s->reg_timer);
}

/* A REG_EXPIRE out: which IMPI, and a public identity of it (for the
 * timeout de-registration at the HSS). */
typedef struct exp_ent {
  char *impi;
  char *impu;
} exp_ent;

static void exp_ent_free(exp_ent *e) {
  if (e) {
    free(e->impi);
    free(e->impu);
    free(e);
  }
}

void scscf_expiring_free(imsec_scscf *s) {
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->expiring, &it)) != NULL)
    exp_ent_free(e->val);
  imsec_map_free(&s->expiring);
}

/* Ask the shared store to drop the expired bindings of `r`'s IMPI. */
static void expire_ask(imsec_scscf *s, const reg *r, imsec_out *out) {
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = IMSEC_SVC_REG_EXPIRE;
  exp_ent *e = calloc(1, sizeof(*e));
  if (!e || imsec_str_copy(imsec_str_c(r->impi), req.key, sizeof(req.key)) < 0)
    goto fail;
  e->impi = scscf_dup_str(imsec_str_c(r->impi));
  e->impu = scscf_dup_str(imsec_str_c(r->n_impus ? r->impus[0] : ""));
  if (!e->impi || !e->impu)
    goto fail;
  if (r->n_impus &&
      imsec_str_copy(imsec_str_c(r->impus[0]), req.impu, sizeof(req.impu)) < 0)
    req.impu[0] = 0;
  req.id = ++s->next_id;
  if (imsec_map_put(&s->expiring, req.id, e, NULL) < 0)
    goto fail;
  if (imsec_out_request(out, &req) < 0) {
    (void)imsec_map_del(&s->expiring, req.id);
    goto fail;
  }
  return;
fail:
  exp_ent_free(e);
  (void)imsec_out_log(out, IMSEC_LOG_WARN, "expiry of ", r->impi,
                      " not asked of the store (no memory)", NULL);
}

/* A binding's expiry (RFC 3261 §10.3 step 7). Returns 1 when `timer` was
 * one. */
int scscf_reg_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                       imsec_out *out) {
  reg *r = imsec_map_get(&s->reg_timer, timer);
  if (!r)
    return 0;
  for (size_t j = 0; j < r->n; j++) {
    if (r->c[j].timer != timer)
      continue;
    if (r->c[j].expires_at > now)
      return 1; /* re-armed by a refresh */
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "binding of ", r->impi, " expired",
                        NULL);
    remove_contact(s, r, j, out);
    if (s->cfg.reg_shared) {
      /* The shared store's clock decides: it drops what expired, all
       * S-CSCFs alike, and says which one removed the last binding. */
      expire_ask(s, r, out);
      if (r->n == 0)
        remove_reg(s, r, out);
      return 1;
    }
    if (r->n == 0) {
      /* TS 29.228 §6.1.2: the HSS learns the user is no longer served. */
      if (s->cfg.hss_assign)
        scscf_hss_assign_send(s, r->impi, r->n_impus ? r->impus[0] : "",
                              IMSEC_SVC_ASSIGN_TIMEOUT_DEREGISTRATION, out);
      /* The store forgets it too (it would drop the expired bindings on
       * load anyway; this keeps it small). */
      scscf_persist_reg(s, 0, r->impi, NULL, NULL, 0, now, out);
      remove_reg(s, r, out);
    }
    return 1;
  }
  return 1;
}

/* A Contact's expiry: its parameter, else Expires, else the default
 * (RFC 3261 §10.3 step 6). */
static uint32_t contact_expires(const imsec_scscf *s, const imsec_sip_addr *a,
                                int has_hdr, uint32_t hdr) {
  if (a->expires >= 0)
    return a->expires > UINT32_MAX ? UINT32_MAX : (uint32_t)a->expires;
  return has_hdr ? hdr : s->cfg.expires_default;
}

#define SR_CAP 400

/* The Service-Route value (RFC 3608): our address with user "orig", NUL
 * terminated in sr[SR_CAP]. Returns its length or a negative code. */
static int service_route(const imsec_scscf *s, char *sr) {
  int v6 = imsec_str_find(imsec_str_c(s->self_host), ':') >= 0;
  char port[8];
  scscf_dec_u64(s->cfg.self.port, port);
  imsec_sip_builder sb;
  imsec_sip_build_init(&sb, sr, SR_CAP - 1);
  imsec_sip_build_raw(&sb, IMSEC_STR_LIT("<sip:orig@"));
  if (v6)
    imsec_sip_build_raw(&sb, IMSEC_STR_LIT("["));
  imsec_sip_build_raw(&sb, imsec_str_c(s->self_host));
  if (v6)
    imsec_sip_build_raw(&sb, IMSEC_STR_LIT("]"));
  imsec_sip_build_raw(&sb, IMSEC_STR_LIT(":"));
  imsec_sip_build_raw(&sb, imsec_str_c(port));
  imsec_sip_build_raw(&sb, IMSEC_STR_LIT(";transport="));
  imsec_sip_build_raw(&sb, imsec_str_c(imsec_tp_lower(s->cfg.self.tp)));
  imsec_sip_build_raw(&sb, IMSEC_STR_LIT(";lr>"));
  if (sb.err)
    return IMSEC_ERR_NOBUF;
  sr[sb.len] = 0;
  return (int)sb.len;
}

/* TS 29.228 §6.1.2 USER_DEREGISTRATION: the user de-registered here;
 * the answer is not waited for (the bindings are gone whatever it says). */
static void deregister_at_hss(imsec_scscf *s, const imsec_hss_sub *sub,
                              imsec_out *out) {
  scscf_hss_assign_send(s, sub->impi, sub->n_impus ? sub->impus[0] : "",
                        IMSEC_SVC_ASSIGN_USER_DEREGISTRATION, out);
}

/* The registrar proper, after authentication (RFC 3261 §10.3, RFC 3327,
 * RFC 3608, RFC 5626 §6). A REGISTER that must wait for a store here
 * (the shared record, the HSS's assignment) is parked as authenticated:
 * it comes back here with its answers. */
void scscf_registrar(imsec_scscf *s, uint64_t flow, const imsec_hss_sub *sub,
                     const reg_auth *ra, imsec_time_ms now, imsec_out *out) {
  /* One exit (end): `code` is the answer when a step refused. */
  unsigned code = 0;
  const char *reason = NULL;
  char *path = NULL;
  imsec_hss_sub *as = NULL; /* the HSS_ASSIGN answer: the implicit set */
  int adds = 0;             /* a Contact that registers (expiry > 0) */
  uint32_t hdr_exp = 0;
  int has_hdr = imsec_sip_get_expires(&s->m, &hdr_exp) == 0;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  int rv, star = 0;
  size_t nct = 0;
  /* Pass 1: validate. */
  while ((rv = imsec_sip_addr_next(&s->m, IMSEC_SIP_H_CONTACT, &it, &a)) == 1) {
    nct++;
    if (a.star) {
      star = 1;
      continue;
    }
    uint32_t e = contact_expires(s, &a, has_hdr, hdr_exp);
    adds |= e != 0;
    if (e && e < s->cfg.expires_min) {
      imsec_sip_builder b;
      scscf_start_response(s, &b, 423, "Interval Too Brief");
      imsec_sip_build_header_uint(&b, IMSEC_STR_LIT("Min-Expires"),
                                  s->cfg.expires_min);
      scscf_finish_send(s, &b, flow, out);
      goto end;
    }
  }
  if (rv < 0) {
    code = 400;
    reason = "Bad Contact";
    goto end;
  }
  reg *r = find_reg_impi(s, imsec_str_c(sub->impi));
  int existed = r != NULL; /* the 200 refreshes it (obs.c) */
  /* A store shared with sibling S-CSCFs: the record as it is there,
   * unless this S-CSCF made the one it has (the IMPI's other bindings,
   * made through a sibling, stay). */
  if (s->cfg.reg_shared && !star &&
      (!r || (r->foreign && now - r->seen_at >= s->cfg.reg_cache_ms))) {
    const imsec_reg_record *rec = NULL;
    imsec_time_ms at = now;
    rv = scscf_reg_get(s, imsec_str_c(sub->impi), &rec, &at, now, out);
    if (waits(rv)) {
      scscf_park_authed(s, flow, sub, ra, now, out);
      goto end;
    }
    if (rv == 0 && scscf_reg_take(s, rec, at, now, out) == 0) {
      r = find_reg_impi(s, imsec_str_c(sub->impi));
      existed = r != NULL;
    } else if (rv < 0 && rv != IMSEC_ERR_NOTFOUND) {
      scscf_store_unavailable(s, sub->impi, rv, now, out);
      code = scscf_store_code(rv, &reason);
      goto end;
    }
  }
  /* TS 29.228 §6.1.2, TS 24.229 §5.4.1.2.2: the HSS learns which S-CSCF
   * serves the user before the 200; its User-Data holds the implicit
   * registration set. */
  if (s->cfg.hss_assign && !star && adds) {
    const imsec_sip_addr *to;
    imsec_str impu = IMSEC_STR_LIT("");
    if (imsec_sip_get_to(&s->m, &to) == 0) {
      impu = to->uri;
      long semi = imsec_str_find(impu, ';');
      if (semi >= 0)
        impu.len = (size_t)semi;
    }
    as = malloc(sizeof(*as));
    rv = as ? scscf_hss_assign(s, sub->impi, impu,
                               r && !r->foreign
                                   ? IMSEC_SVC_ASSIGN_RE_REGISTRATION
                                   : IMSEC_SVC_ASSIGN_REGISTRATION,
                               as, now, out)
            : IMSEC_ERR_NOMEM;
    if (waits(rv)) {
      scscf_park_authed(s, flow, sub, ra, now, out);
      goto end;
    }
    if (rv == IMSEC_ERR_NOTFOUND) {
      (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                          ": server assignment refused by the HSS: 403", NULL);
      code = 403;
      reason = "Forbidden";
      goto end;
    }
    if (rv < 0) {
      scscf_store_unavailable(s, sub->impi, rv, now, out);
      code = scscf_store_code(rv, &reason);
      goto end;
    }
    if (as->n_impus) {
      /* The HSS's word on the implicit set. */
      memcpy(as->impi, sub->impi, sizeof(as->impi));
      sub = as;
    }
  }
  if (star) {
    /* RFC 3261 §10.3 step 6: "*" only alone and with Expires: 0. */
    if (nct != 1 || !has_hdr || hdr_exp != 0) {
      code = 400;
      reason = "Invalid Contact *";
      goto end;
    }
    if (r || s->cfg.reg_shared) {
      /* Shared: a sibling may have made the record; it goes too. */
      imsec_reg_record before;
      int had = r && reg_to_record(s, r, now, &before) == 0;
      if (r)
        remove_reg(s, r, out);
      scscf_persist_reg(s, flow, sub->impi, NULL, had ? &before : NULL, had,
                        now, out);
    }
    if (s->cfg.hss_assign)
      deregister_at_hss(s, sub, out);
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", sub->impi,
                        ": de-registered (Contact: *)", NULL);
    s->obs.ok_kind = SC_REG_DEREGISTERED;
    (void)build_ok(s, flow, NULL, ra->auth_info, now, out);
    goto end;
  }
  /* The Path of this REGISTER (RFC 3327 §5.3), stored with each contact. */
  {
    imsec_sip_builder pb;
    char pbuf[4096];
    imsec_sip_build_init(&pb, pbuf, sizeof(pbuf));
    imsec_sip_iter pit = IMSEC_SIP_ITER_INIT;
    imsec_str v;
    int first = 1;
    while ((rv = imsec_sip_value_next(&s->m, IMSEC_SIP_H_PATH, &pit, &v,
                                      NULL)) == 1) {
      if (!first)
        imsec_sip_build_raw(&pb, IMSEC_STR_LIT(", "));
      imsec_sip_build_raw(&pb, v);
      first = 0;
    }
    if (rv < 0 || pb.err) {
      code = 400;
      reason = "Bad Path";
      goto end;
    }
    if (!first) {
      path = scscf_dup_str(imsec_str_make(pbuf, pb.len));
      if (!path) {
        code = 500;
        reason = "Server Internal Error";
        goto end;
      }
    }
  }
  /* What to restore when the change cannot be made durable. */
  imsec_reg_record before;
  int had = r && nct && reg_to_record(s, r, now, &before) == 0;
  if (!r && nct) {
    if (imsec_map_len(&s->regs) >= s->cfg.max_regs ||
        !(r = calloc(1, sizeof(*r)))) {
      code = 503;
      reason = "Service Unavailable";
      goto end;
    }
    r->impi = scscf_dup_str(imsec_str_c(sub->impi));
    r->impus = calloc(sub->n_impus, sizeof(char *));
    int ok = r->impi && r->impus;
    for (size_t i = 0; ok && i < sub->n_impus; i++) {
      r->impus[i] = scscf_dup_str(imsec_str_c(sub->impus[i]));
      ok = r->impus[i] != NULL;
      r->n_impus = i + 1;
    }
    if (!ok || reg_index(s, r) < 0) {
      scscf_reg_free(r);
      code = 500;
      reason = "Server Internal Error";
      goto end;
    }
  }
  /* The scheme of the latest authentication: the later requests of a SIP
   * Digest user may be challenged (digest_proxy_auth). */
  if (r) {
    r->digest = ra->digest;
    r->foreign = 0; /* registered here now */
    r->seen_at = now;
  }
  /* Pass 2: apply. */
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  while (r && imsec_sip_addr_next(&s->m, IMSEC_SIP_H_CONTACT, &it, &a) == 1) {
    uint32_t e = contact_expires(s, &a, has_hdr, hdr_exp);
    if (e > s->cfg.expires_max)
      e = s->cfg.expires_max;
    long found = -1;
    for (size_t i = 0; i < r->n && found < 0; i++) {
      contact *c = &r->c[i];
      /* RFC 5626 §6: the same instance and reg-id replace a binding;
       * otherwise the same URI does (RFC 3261 §10.3 step 7). */
      if (a.instance.len && c->instance)
        found = (imsec_str_eq(a.instance, imsec_str_c(c->instance)) &&
                 a.reg_id == c->reg_id)
                    ? (long)i
                    : -1;
      else if (imsec_str_eq(a.uri, imsec_str_c(c->uri)))
        found = (long)i;
    }
    if (e == 0) {
      if (found >= 0)
        remove_contact(s, r, (size_t)found, out);
      continue;
    }
    contact nc = {0};
    nc.uri = scscf_dup_str(a.uri);
    nc.path = path ? scscf_dup_str(imsec_str_c(path)) : NULL;
    nc.instance = a.instance.len ? scscf_dup_str(a.instance) : NULL;
    /* Who registered it: terminating requests must reach that peer. */
    const char *rp = scscf_tls_peer_name(s, flow);
    nc.reg_peer = rp ? scscf_dup_str(imsec_str_c(rp)) : NULL;
    if (!nc.uri || (path && !nc.path) || (a.instance.len && !nc.instance) ||
        (rp && !nc.reg_peer)) {
      scscf_contact_free(&nc);
      continue;
    }
    nc.reg_id = a.reg_id;
    nc.expires_at = now + (imsec_time_ms)e * 1000;
    nc.order = ++s->order;
    contact *slot;
    if (found >= 0) {
      nc.timer = r->c[found].timer;
      scscf_contact_free(&r->c[found]);
      r->c[found] = nc;
      slot = &r->c[found];
    } else {
      if (r->n >= s->cfg.max_contacts) {
        /* Full: the oldest binding gives way to the newest. */
        size_t old = 0;
        for (size_t i = 1; i < r->n; i++)
          if (r->c[i].order < r->c[old].order)
            old = i;
        remove_contact(s, r, old, out);
      }
      contact *arr = realloc(r->c, (r->n + 1) * sizeof(*arr));
      if (!arr) {
        scscf_contact_free(&nc);
        continue;
      }
      r->c = arr;
      r->c[r->n] = nc;
      slot = &r->c[r->n++];
    }
    contact_arm(s, r, slot, out);
  }
  int gone = r && r->n == 0;
  if (gone) {
    remove_reg(s, r, out);
    r = NULL;
  }
  /* DESIGN.md §2: the 200 leaves only once the change is durable. */
  if (nct && (r || had))
    scscf_persist_reg(s, flow, sub->impi, r, had ? &before : NULL, had, now,
                      out);
  if (gone) {
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", sub->impi,
                        ": de-registered", NULL);
    if (s->cfg.hss_assign)
      deregister_at_hss(s, sub, out);
  } else if (r) {
    char n[24];
    scscf_dec_u64(r->n, n);
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", sub->impi,
                        ": 200 registered, ", n, " contact(s)", NULL);
  }
  /* RFC 3261 §10.3: no binding left is a de-registration; one there
   * before (or a query without Contact) a refresh. */
  s->obs.ok_kind = gone || (!r && nct) ? SC_REG_DEREGISTERED
                   : existed || !nct   ? SC_REG_REFRESHED
                                       : SC_REG_REGISTERED;
  (void)build_ok(s, flow, r, ra->auth_info, now, out);
end:
  free(path);
  free(as);
  if (code)
    scscf_respond(s, flow, code, reason, out);
}

/* 200 OK to a REGISTER (TS 24.229 §5.4.1.2.2): the current contacts, the
 * Path echoed, Service-Route and P-Associated-URI. */
static int build_ok(imsec_scscf *s, uint64_t flow, reg *r,
                    const char *auth_info, imsec_time_ms now, imsec_out *out) {
  imsec_sip_builder b;
  scscf_start_response(s, &b, 200, "OK");
  /* RFC 7616 §3.5: the server proves it knows the password too. */
  if (auth_info)
    imsec_sip_build_header(&b, IMSEC_STR_LIT("Authentication-Info"),
                           imsec_str_c(auth_info));
  for (size_t i = 0; r && i < r->n; i++) {
    contact *c = &r->c[i];
    imsec_time_ms left = (c->expires_at - now + 999) / 1000;
    char num[24];
    scscf_dec_u64(left > 0 ? (uint64_t)left : 0, num);
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("Contact: <"));
    imsec_sip_build_raw(&b, imsec_str_c(c->uri));
    imsec_sip_build_raw(&b, IMSEC_STR_LIT(">;expires="));
    imsec_sip_build_raw(&b, imsec_str_c(num));
    if (c->instance) {
      imsec_sip_build_raw(&b, IMSEC_STR_LIT(";+sip.instance=\""));
      imsec_sip_build_raw(&b, imsec_str_c(c->instance));
      imsec_sip_build_raw(&b, IMSEC_STR_LIT("\""));
    }
    if (c->reg_id >= 0) {
      scscf_dec_u64((uint64_t)c->reg_id, num);
      imsec_sip_build_raw(&b, IMSEC_STR_LIT(";reg-id="));
      imsec_sip_build_raw(&b, imsec_str_c(num));
    }
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("\r\n"));
  }
  /* RFC 3327 §5.3: the registrar echoes the Path it stored. */
  for (const imsec_sip_hdr *h = imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_PATH);
       h && r; h = imsec_sip_hdr_next(&s->m, h))
    imsec_sip_build_header(&b, IMSEC_STR_LIT("Path"), h->value);
  if (r) {
    /* RFC 3608: requests of the UE come back through us. */
    char sr[SR_CAP];
    int srn = service_route(s, sr);
    if (srn > 0)
      imsec_sip_build_header(&b, IMSEC_STR_LIT("Service-Route"),
                             imsec_str_make(sr, (size_t)srn));
    /* RFC 3455 §4.1: the implicitly registered set. */
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("P-Associated-URI: "));
    for (size_t i = 0; i < r->n_impus; i++) {
      if (i)
        imsec_sip_build_raw(&b, IMSEC_STR_LIT(", "));
      imsec_sip_build_raw(&b, IMSEC_STR_LIT("<"));
      imsec_sip_build_raw(&b, imsec_str_c(r->impus[i]));
      imsec_sip_build_raw(&b, IMSEC_STR_LIT(">"));
    }
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("\r\n"));
  }
  scscf_finish_send(s, &b, flow, out);
  return 0;
}

int scscf_impu_in_set(const imsec_hss_sub *sub, imsec_str impu) {
  imsec_sip_uri u;
  if (imsec_sip_uri_parse(impu, 16, &u) < 0)
    return 0;
  for (size_t i = 0; i < sub->n_impus; i++)
    if (scscf_impu_match_parsed(&u, imsec_str_c(sub->impus[i])))
      return 1;
  return 0;
}

/* The record of `r` as the store keeps it (TS 24.229 §5.4.1.2: the
 * implicit set, Service-Route, each binding with its Path, instance,
 * reg-id, the peer that registered it and its time left from `now`).
 * Returns 0 or IMSEC_ERR_NOMEM (*out then owns nothing). */
static int reg_to_record(const imsec_scscf *s, const reg *r, imsec_time_ms now,
                         imsec_reg_record *out) {
  memset(out, 0, sizeof(*out));
  char sr[SR_CAP];
  imsec_reg_record t = {
      .impi = r->impi,
      .impus = r->impus,
      .n_impus = r->n_impus,
      .service_route = service_route(s, sr) > 0 ? sr : NULL,
      .digest = r->digest,
  };
  imsec_reg_binding *b = r->n ? calloc(r->n, sizeof(*b)) : NULL;
  if (r->n && !b)
    return IMSEC_ERR_NOMEM;
  for (size_t i = 0; i < r->n; i++) {
    const contact *c = &r->c[i];
    b[i] = (imsec_reg_binding){.contact = c->uri,
                               .path = c->path,
                               .instance = c->instance,
                               .reg_id = c->reg_id,
                               .ttl_ms = c->expires_at - now,
                               .peer = c->reg_peer,
                               .order = c->order};
  }
  t.b = b;
  t.n = r->n;
  int rv = imsec_reg_record_copy(out, &t);
  free(b);
  return rv;
}

/* Put a stored record in place of whatever `rec->impi` has now: the
 * bindings still live at `now` (each expires at base + ttl_ms), their
 * expiry timers armed. An expired binding never comes back. Returns 0 or
 * IMSEC_ERR_NOMEM, IMSEC_ERR_LIMIT (max_regs). */
static int reg_install(imsec_scscf *s, const imsec_reg_record *rec,
                       imsec_time_ms base, imsec_time_ms now, imsec_out *out) {
  if (!rec->impi)
    return IMSEC_ERR_INVAL;
  reg *old = find_reg_impi(s, imsec_str_c(rec->impi));
  if (old)
    remove_reg(s, old, out);
  size_t live = 0;
  for (size_t i = 0; i < rec->n; i++)
    if (rec->b[i].contact && base + rec->b[i].ttl_ms > now)
      live++;
  if (!live)
    return 0;
  if (imsec_map_len(&s->regs) >= s->cfg.max_regs)
    return IMSEC_ERR_LIMIT;
  reg *r = calloc(1, sizeof(*r));
  if (!r)
    return IMSEC_ERR_NOMEM;
  r->digest = rec->digest != 0;
  int ok = (r->impi = scscf_dup_str(imsec_str_c(rec->impi))) != NULL;
  if (ok && rec->n_impus)
    ok = (r->impus = calloc(rec->n_impus, sizeof(char *))) != NULL;
  for (size_t i = 0; ok && i < rec->n_impus; i++) {
    r->impus[i] = scscf_dup_str(imsec_str_c(rec->impus[i]));
    ok = r->impus[i] != NULL;
    r->n_impus = i + 1;
  }
  if (ok)
    ok = (r->c = calloc(live, sizeof(*r->c))) != NULL;
  for (size_t i = 0; ok && i < rec->n; i++) {
    const imsec_reg_binding *b = &rec->b[i];
    if (!b->contact || base + b->ttl_ms <= now)
      continue;
    contact *c = &r->c[r->n++];
    c->uri = scscf_dup_str(imsec_str_c(b->contact));
    c->path = b->path ? scscf_dup_str(imsec_str_c(b->path)) : NULL;
    c->instance = b->instance ? scscf_dup_str(imsec_str_c(b->instance)) : NULL;
    c->reg_peer = b->peer ? scscf_dup_str(imsec_str_c(b->peer)) : NULL;
    c->reg_id = b->reg_id;
    c->expires_at = base + b->ttl_ms;
    c->order = b->order;
    if (b->order > s->order)
      s->order = b->order;
    ok = c->uri && (!b->path || c->path) && (!b->instance || c->instance) &&
         (!b->peer || c->reg_peer);
  }
  if (!ok || reg_index(s, r) < 0) {
    scscf_reg_free(r);
    return IMSEC_ERR_NOMEM;
  }
  for (size_t i = 0; i < r->n; i++)
    contact_arm(s, r, &r->c[i], out);
  return 0;
}

int scscf_reg_take(imsec_scscf *s, const imsec_reg_record *rec,
                   imsec_time_ms base, imsec_time_ms now, imsec_out *out) {
  int rv = reg_install(s, rec, base, now, out);
  reg *r =
      rv == 0 && rec->impi ? find_reg_impi(s, imsec_str_c(rec->impi)) : NULL;
  if (r) {
    r->foreign = 1;
    r->seen_at = now;
  }
  return rv;
}

/* Is a change of `impi` asked after request `id` still waiting to be
 * durable? An answer about the record from before it is then old. */
static int pend_after(const imsec_scscf *s, const char *impi, uint64_t id) {
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->pends, &it)) != NULL) {
    const pend *o = e->val;
    if (o->id > id &&
        strcmp(o->impi, impi) == 0) /* no secret: two changes' IMPIs */
      return 1;
  }
  return 0;
}

/* The shared store's answer to a REG_EXPIRE: what is left of the record
 * replaces what this S-CSCF has of it (a sibling may have refreshed or
 * added bindings); the one S-CSCF whose request removed the last binding
 * de-registers the user at the HSS (TS 29.228 §6.1.2
 * TIMEOUT_DEREGISTRATION), so it happens once for the cluster. */
void scscf_expire_reply(imsec_scscf *s, const imsec_svc_reply *r,
                        imsec_time_ms now, imsec_out *out) {
  exp_ent *e = imsec_map_del(&s->expiring, r->id);
  if (!e)
    return;
  if (r->status < 0) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "expiry of ", e->impi,
                        " not done by the registration store: ",
                        imsec_strerror(r->status), NULL);
    exp_ent_free(e);
    return;
  }
  /* A REGISTER here since the request: its record is newer. */
  if (!pend_after(s, e->impi, r->id)) {
    reg *cur = find_reg_impi(s, imsec_str_c(e->impi));
    int own = cur && !cur->foreign;
    if (r->reg && r->reg->n) {
      if (reg_install(s, r->reg, now, now, out) == 0 &&
          (cur = find_reg_impi(s, imsec_str_c(e->impi))) != NULL) {
        cur->foreign = !own;
        cur->seen_at = now;
      }
    } else if (cur) {
      remove_reg(s, cur, out);
    }
  }
  if (r->gone) {
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "registration of ", e->impi,
                        " expired: timeout de-registration", NULL);
    if (s->cfg.hss_assign)
      scscf_hss_assign_send(s, e->impi, e->impu,
                            IMSEC_SVC_ASSIGN_TIMEOUT_DEREGISTRATION, out);
  }
  exp_ent_free(e);
}

static void pend_free(pend *p) {
  if (!p)
    return;
  free(p->impi);
  imsec_reg_record_free(&p->before);
  if (p->req) {
    imsec_wipe(p->req, p->req_len);
    free(p->req);
  }
  free(p);
}

void scscf_pends_free(imsec_scscf *s) {
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->pends, &it)) != NULL)
    pend_free(e->val);
  imsec_map_free(&s->pends);
}

/* Make the IMPI's registration durable before anything that reports it
 * (DESIGN.md §2, include/imsec/elem.h PERSIST): REG_SAVE with its whole
 * record, or REG_DELETE when `r` is NULL. The host holds the actions that
 * follow (the 200) until the store says so. `before` (moved, may be NULL)
 * is what to restore if it cannot; `flow` 0: no request to answer (an
 * expiry). */
void scscf_persist_reg(imsec_scscf *s, uint64_t flow, const char *impi,
                       const reg *r, imsec_reg_record *before, int had,
                       imsec_time_ms now, imsec_out *out) {
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  pend *p = calloc(1, sizeof(*p));
  int rv = p ? 0 : IMSEC_ERR_NOMEM;
  if (p) {
    p->id = ++s->next_id;
    p->flow = flow;
    p->at = now;
    p->had = had && before;
    if (p->had) {
      p->before = *before;
      before = NULL;
    }
    p->impi = scscf_dup_str(imsec_str_c(impi));
    if (flow && s->m.buf && s->m.len) {
      p->req = malloc(s->m.len);
      if (p->req) {
        memcpy(p->req, s->m.buf, s->m.len);
        p->req_len = s->m.len;
      }
    }
    if (!p->impi || (flow && !p->req))
      rv = IMSEC_ERR_NOMEM;
  }
  req.id = p ? p->id : ++s->next_id;
  if (rv == 0 && r) {
    req.kind = IMSEC_SVC_REG_SAVE;
    rv = reg_to_record(s, r, now, &req.reg);
  } else if (rv == 0) {
    req.kind = IMSEC_SVC_REG_DELETE;
    if (imsec_str_copy(imsec_str_c(impi), req.key, sizeof(req.key)) < 0)
      rv = IMSEC_ERR_INVAL;
  }
  if (rv == 0)
    rv = imsec_map_put(&s->pends, p->id, p, NULL);
  if (rv == 0)
    rv = imsec_out_persist(out, &req);
  if (rv < 0) {
    /* Not even asked: the 200 must not leave (the action queue's error is
     * sticky when it is the queue that failed). */
    if (p)
      (void)imsec_map_del(&s->pends, p->id);
    scscf_log_err(out, IMSEC_LOG_ERROR, "registration not saved", rv);
    imsec_reg_record_free(&req.reg);
    pend_free(p);
  }
  if (before)
    imsec_reg_record_free(before);
}

/* Is a change of `impi` newer than `p` still waiting to be durable? Then
 * undoing `p` would undo that one too. */
static int pend_newer(const imsec_scscf *s, const pend *p) {
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->pends, &it)) != NULL) {
    const pend *o = e->val;
    if (o->id > p->id &&
        strcmp(o->impi, p->impi) == 0) /* no secret: two changes' IMPIs */
      return 1;
  }
  return 0;
}

/* The store's answer to a REG_SAVE or REG_DELETE. On failure the host
 * dropped the 200 it held: the change is undone and the REGISTER gets
 * 500 instead (RFC 3261 §21.5.1). */
void scscf_persist_reply(imsec_scscf *s, const imsec_svc_reply *r,
                         imsec_time_ms now, imsec_out *out) {
  pend *p = imsec_map_del(&s->pends, r->id);
  if (!p)
    return;
  /* Deleting a record the store never had is done too. */
  if (r->status == 0 ||
      (r->kind == IMSEC_SVC_REG_DELETE && r->status == IMSEC_ERR_NOTFOUND)) {
    pend_free(p);
    return;
  }
  (void)imsec_out_log(out, IMSEC_LOG_ERROR, "registration of ", p->impi,
                      " not durable (", imsec_strerror(r->status), ")",
                      p->req ? ": 500, change undone" : "", NULL);
  if (p->req && !pend_newer(s, p)) {
    reg *cur = find_reg_impi(s, imsec_str_c(p->impi));
    if (cur)
      remove_reg(s, cur, out);
    if (p->had && reg_install(s, &p->before, p->at, now, out) < 0)
      (void)imsec_out_log(out, IMSEC_LOG_ERROR, "registration of ", p->impi,
                          " could not be restored", NULL);
  }
  if (p->req && imsec_sip_parse(&s->m, p->req, p->req_len, 1) == 0)
    scscf_respond(s, p->flow, 500, "Server Internal Error", out);
  pend_free(p);
}

/* One REG_LOAD reply: a record to rebuild, or the last one. Requests that
 * waited for the load run then. */
void scscf_load_reply(imsec_scscf *s, const imsec_svc_reply *r,
                      imsec_time_ms now, imsec_out *out) {
  if (!s->loading || r->id != s->load_id)
    return;
  if (r->reg) {
    /* Shared: a sibling may change it; read again before use. */
    int rv = s->cfg.reg_shared ? scscf_reg_take(s, r->reg, now, now, out)
                               : reg_install(s, r->reg, now, now, out);
    if (rv < 0)
      (void)imsec_out_log(out, IMSEC_LOG_ERROR, "registration of ",
                          r->reg->impi ? r->reg->impi : "?",
                          " not loaded: ", imsec_strerror(rv), NULL);
  }
  if (!r->last)
    return;
  s->loading = 0;
  if (r->status < 0)
    scscf_log_err(out, IMSEC_LOG_ERROR, "registrations not loaded", r->status);
  char n[24];
  scscf_dec_u64(imsec_map_len(&s->regs), n);
  (void)imsec_out_log(out, IMSEC_LOG_INFO, n, " registration(s) loaded", NULL);
  scscf_park_loaded(s, now, out);
}

void imsec_scscf_start(imsec_scscf *s, imsec_time_ms now, imsec_out *out) {
  (void)now;
  if (!s || !out || s->loading)
    return;
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = IMSEC_SVC_REG_LOAD;
  uint64_t id = ++s->next_id;
  req.id = id; /* the append zeroes req */
  if (imsec_out_request(out, &req) < 0)
    return;
  s->load_id = id;
  s->loading = 1;
}
