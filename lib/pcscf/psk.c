/* Mode M3 at the P-CSCF (DESIGN.md §2; seed §3.3): shared-key TLS towards
 * the UE.
 *
 * Configured PSKs: the daemon loads them into the host's listener table
 * (the identity is the IMPI). A flow whose handshake used one may register
 * that IMPI only: the REGISTER's Authorization username must equal the
 * PSK identity (403 otherwise).
 *
 * AKA-derived PSKs (cfg.aka_psk; this project's profile, not a 3GPP one:
 * include/imsec/kdf.h, docs/M3.md): the S-CSCF gives CK and IK in the 401
 * over the authenticated core link (TS 24.229 §5.4.1.2.1); they are kept
 * here for the pending registration of that IMPI (and always removed from
 * the 401 before it goes on to the UE, registration.c). On the 200 both
 * ends derive the PSK from CK||IK, the IMPI and RAND; the P-CSCF installs
 * it in its listeners (imsec_out_psk) until the registration expires,
 * replacing the previous PSK of that IMPI, and wipes CK and IK. When a UE
 * comes back with that PSK (no certificate exchanged), the registration's
 * binding moves to the new flow (TS 33.203 O.4 binds it to the protected
 * connection, and proof of the key is proof of the earlier AKA run).
 * De-registration and expiry remove the PSK.
 */
#include "lib/pcscf/pcscf_int.h"

#include "imsec/kdf.h"

/* How long CK and IK of a 401 wait for the 200 (a UE answers a challenge
 * within the S-CSCF's nonce lifetime; longer than any default of it). */
#define PEND_MS 120000

/* Pending runs one UE connection may hold at once (a UE registers one IMPI,
 * a shared device a few): one connection cannot fill the table that every
 * UE's PSK derivation shares. */
#define PEND_PER_FLOW 4

/* CK, IK and RAND of the latest 401 to an IMPI's REGISTER (secret). */
typedef struct pend_keys {
  uint8_t ck[16], ik[16], rand[16];
  imsec_time_ms until;
  uint64_t flow; /* the UE connection whose REGISTER it answered */
} pend_keys;

/* The derived PSK of one registered IMPI (secret key). */
typedef struct psk_rec {
  char *impi;
  char identity[IMSEC_M3_ID_LEN + 1];
  uint8_t key[IMSEC_M3_PSK_LEN];
  imsec_time_ms expires_at;
} psk_rec;

struct pc_psk {
  imsec_map pend;    /* "FLOW IMPI" -> pend_keys */
  imsec_map by_impi; /* IMPI -> psk_rec */
  imsec_map by_id;   /* identity -> the same psk_rec */
};

static void pend_free(pend_keys *k) {
  if (!k)
    return;
  imsec_wipe(k, sizeof(*k));
  free(k);
}

static void rec_free(psk_rec *r) {
  if (!r)
    return;
  free(r->impi);
  imsec_wipe(r, sizeof(*r));
  free(r);
}

int pc_psk_new(imsec_pcscf *p, const uint8_t seed[16]) {
  if (!p->cfg.aka_psk)
    return 0;
  pc_psk *k = calloc(1, sizeof(*k));
  if (!k)
    return IMSEC_ERR_NOMEM;
  imsec_map_init_str(&k->pend, seed);
  imsec_map_init_str(&k->by_impi, seed);
  imsec_map_init_str(&k->by_id, seed);
  p->psk = k;
  return 0;
}

/* The count of pending runs on the UE connection of `k` goes down. */
static void pend_unlink(imsec_pcscf *p, const pend_keys *k) {
  flowrec *f = pc_flow_find(p, k->flow);
  if (f && f->n_pend)
    f->n_pend--;
}

void pc_psk_flow_gone(imsec_pcscf *p, flowrec *f) {
  pc_psk *k = p->psk;
  if (!k || !f->n_pend)
    return;
  /* Nobody can answer those challenges on this connection now: wipe the
   * keys at once rather than at their deadline. */
  size_t it = 0;
  imsec_map_slot *s;
  while (f->n_pend && (s = imsec_map_next(&k->pend, &it))) {
    pend_keys *n = s->val;
    if (n->flow != f->id)
      continue;
    (void)imsec_map_del_at(&k->pend, &it);
    pend_free(n);
    f->n_pend--;
  }
}

void pc_psk_del(imsec_pcscf *p) {
  pc_psk *k = p->psk;
  if (!k)
    return;
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&k->pend, &it)))
    pend_free(s->val);
  it = 0;
  while ((s = imsec_map_next(&k->by_impi, &it)))
    rec_free(s->val);
  imsec_map_free(&k->pend);
  imsec_map_free(&k->by_impi);
  imsec_map_free(&k->by_id);
  free(k);
  p->psk = NULL;
}

/* The pending keys' name: the UE flow and the IMPI, so that a REGISTER
 * for the same IMPI from another connection (anyone can send one) cannot
 * replace the keys of the run the UE on this connection answers. */
static int pend_key(uint64_t flow, const char *impi, char *buf, size_t cap,
                    imsec_str *out) {
  size_t il = strlen(impi), n = 0;
  char num[24];
  do {
    num[n++] = (char)('0' + flow % 10);
    flow /= 10;
  } while (flow);
  if (n + 1 + il + 1 > cap)
    return IMSEC_ERR_NOBUF;
  for (size_t i = 0; i < n; i++)
    buf[i] = num[n - 1 - i];
  buf[n] = ' ';
  memcpy(buf + n + 1, impi, il + 1);
  *out = imsec_str_make(buf, n + 1 + il);
  return 0;
}

/* One ck/ik value: 32 hex digits. */
static int key_param(imsec_str v, uint8_t out[16]) {
  return v.len == 32 && imsec_hex_decode(v.p, v.len, out, 16) == 16 ? 0 : -1;
}

void pc_psk_on_401(ev *e, const txn *t, imsec_sip_msg *m) {
  pc_psk *k = e->p->psk;
  if (!k || !t->impi || !t->impi[0])
    return;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  while (imsec_sip_auth_next(m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &raw) == 1) {
    imsec_digest_params d;
    if (imsec_digest_parse_challenge(raw, &d) < 0 ||
        !(d.present & IMSEC_DIGEST_P_CK) || !(d.present & IMSEC_DIGEST_P_IK))
      continue;
    pend_keys n;
    char nonce[512];
    uint8_t autn[16];
    int ok = key_param(d.ck, n.ck) == 0 && key_param(d.ik, n.ik) == 0 &&
             imsec_digest_unquote(d.nonce, nonce, sizeof(nonce)) > 0 &&
             imsec_digest_aka_nonce_decode(imsec_str_c(nonce), n.rand, autn,
                                           NULL) == 0;
    if (!ok) {
      imsec_wipe(&n, sizeof(n));
      LOG(e, IMSEC_LOG_WARN, S("401 for IMPI "), imsec_str_c(t->impi),
          S(": malformed ck/ik or nonce; no PSK will be derived"));
      return;
    }
    n.until = e->now + PEND_MS;
    n.flow = t->in_flow;
    imsec_str impi = imsec_str_c(t->impi);
    flowrec *f = pc_flow_find(e->p, t->in_flow);
    if (!f) {
      imsec_wipe(&n, sizeof(n)); /* the UE's connection is gone */
      return;
    }
    char kb[IMSEC_PSK_ID_MAX + 300];
    imsec_str key;
    if (pend_key(t->in_flow, t->impi, kb, sizeof(kb), &key) < 0) {
      imsec_wipe(&n, sizeof(n));
      return;
    }
    pend_keys *have = imsec_map_sget(&k->pend, key);
    if (!have) {
      if (f->n_pend >= PEND_PER_FLOW ||
          imsec_map_len(&k->pend) >= e->p->cfg.max_bindings ||
          !(have = malloc(sizeof(*have))) ||
          imsec_map_sput(&k->pend, key, have, NULL) < 0) {
        free(have);
        imsec_wipe(&n, sizeof(n));
        LOG(e, IMSEC_LOG_WARN, S("no room for the AKA keys of IMPI "), impi);
        return;
      }
      f->n_pend++;
    }
    *have = n;
    imsec_wipe(&n, sizeof(n));
    pc_arm(e, have->until);
    return;
  }
}

/* Remove the IMPI's PSK from the listeners and forget it. */
static void rec_drop(ev *e, psk_rec *r) {
  pc_psk *k = e->p->psk;
  (void)imsec_out_psk(e->out, r->identity, NULL, 0, 0);
  (void)imsec_map_sdel(&k->by_id, imsec_str_c(r->identity));
  (void)imsec_map_sdel(&k->by_impi, imsec_str_c(r->impi));
  rec_free(r);
}

void pc_psk_registered(ev *e, uint64_t flow, const char *impi,
                       imsec_time_ms expires_at) {
  pc_psk *k = e->p->psk;
  if (!k)
    return;
  imsec_str is = imsec_str_c(impi);
  char kb[IMSEC_PSK_ID_MAX + 300];
  imsec_str key;
  pend_keys *n = pend_key(flow, impi, kb, sizeof(kb), &key) == 0
                     ? imsec_map_sdel(&k->pend, key)
                     : NULL;
  if (n)
    pend_unlink(e->p, n);
  psk_rec *old = imsec_map_sget(&k->by_impi, is);
  if (!n) {
    /* A 200 without a fresh AKA run here: the PSK of the last one goes on
     * with the registration's new expiry. */
    if (old) {
      old->expires_at = expires_at;
      (void)imsec_out_psk(e->out, old->identity, old->key, sizeof(old->key),
                          expires_at);
    }
    return;
  }
  psk_rec *r = calloc(1, sizeof(*r));
  int rv = r && (r->impi = pc_dup_str(is)) ? 0 : IMSEC_ERR_NOMEM;
  if (rv == 0)
    rv = imsec_m3_psk_derive(e->p->crypto, n->ck, n->ik, is, n->rand, r->key,
                             r->identity, sizeof(r->identity));
  pend_free(n); /* CK and IK are wiped here, used or not */
  if (old)
    rec_drop(e, old); /* the next AKA run replaces the PSK */
  if (rv == 0 && imsec_map_sget(&k->by_id, imsec_str_c(r->identity)))
    rv = IMSEC_ERR_EXISTS; /* the same RAND twice: never install it */
  if (rv == 0 &&
      (imsec_map_sput(&k->by_impi, is, r, NULL) < 0 ||
       imsec_map_sput(&k->by_id, imsec_str_c(r->identity), r, NULL) < 0)) {
    (void)imsec_map_sdel(&k->by_impi, is);
    rv = IMSEC_ERR_NOMEM;
  }
  if (rv < 0) {
    rec_free(r);
    LOG(e, IMSEC_LOG_WARN, S("IMPI "), is, S(": no AKA-derived PSK ("),
        imsec_str_c(imsec_strerror(rv)), S(")"));
    return;
  }
  r->expires_at = expires_at;
  /* The UE may come back on another connection with this PSK: the
   * binding waits for it until expiry instead of going with its flow. */
  binding *b = imsec_map_sget(&e->p->bindings, is);
  if (b)
    b->outlives_flow = 1;
  (void)imsec_out_psk(e->out, r->identity, r->key, sizeof(r->key), expires_at);
  LOG(e, IMSEC_LOG_INFO, S("IMPI "), is, S(": AKA-derived PSK "),
      imsec_str_c(r->identity), S(" installed until the registration ends"));
}

void pc_psk_gone(ev *e, const char *impi) {
  pc_psk *k = e->p->psk;
  if (!k)
    return;
  imsec_str is = imsec_str_c(impi);
  psk_rec *r = imsec_map_sget(&k->by_impi, is);
  if (!r)
    return;
  LOG(e, IMSEC_LOG_INFO, S("IMPI "), is, S(": AKA-derived PSK "),
      imsec_str_c(r->identity), S(" removed"));
  rec_drop(e, r);
}

void pc_psk_sweep(ev *e, imsec_time_ms *next) {
  pc_psk *k = e->p->psk;
  if (!k)
    return;
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&k->pend, &it))) {
    pend_keys *n = s->val;
    if (n->until <= e->now) {
      (void)imsec_map_del_at(&k->pend, &it);
      pend_unlink(e->p, n);
      pend_free(n);
      continue;
    }
    if (!*next || n->until < *next)
      *next = n->until;
  }
}

int pc_psk_flow_up(ev *e, flowrec *f, const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  if (!info || !info->psk || !info->psk_identity || !info->psk_identity[0])
    return 0;
  imsec_str id = imsec_str_c(info->psk_identity);
  psk_rec *r = p->psk && imsec_m3_identity_is_derived(id)
                   ? imsec_map_sget(&p->psk->by_id, id)
                   : NULL;
  /* The IMPI this flow may register: the configured identity is the IMPI
   * itself; a derived one names the registration it came from. */
  const char *impi = r ? r->impi : info->psk_identity;
  if (!(f->psk_impi = pc_dup_str(imsec_str_c(impi))))
    return IMSEC_ERR_NOMEM;
  if (!r) {
    LOG(e, IMSEC_LOG_INFO, S("UE flow "), pc_num(p, f->id),
        S(" up with the configured PSK of "), id);
    return 0;
  }
  binding *b = imsec_map_sget(&p->bindings, imsec_str_c(r->impi));
  if (!b || b->expires_at <= e->now) {
    LOG(e, IMSEC_LOG_INFO, S("UE flow "), pc_num(p, f->id),
        S(" up with the AKA-derived PSK of IMPI "), imsec_str_c(r->impi),
        S(", whose registration is gone"));
    return 0;
  }
  uint64_t was = b->flow ? b->flow->id : 0;
  IMSEC_GUARD(pc_binding_attach(p, b, f->id));
  (void)imsec_out_keep(e->out, f->id);
  LOG(e, IMSEC_LOG_INFO, S("UE flow "), pc_num(p, f->id),
      S(" up with the AKA-derived PSK "), id, S(": IMPI "),
      imsec_str_c(r->impi), S(" binding moved from "),
      was ? S("flow ") : S("no live flow"), was ? pc_num(p, was) : S(""));
  return 0;
}

int pc_psk_register_check(ev *e, const char *impi, refusal *r) {
  flowrec *f = e->f;
  if (!f->psk_impi)
    return 0;
  if (impi && strcmp(impi, f->psk_impi) == 0) /* no secret: identities */
    return 0;
  LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), pc_num(e->p, f->id),
      S(": IMPI "), imsec_str_c(impi ? impi : ""), S(" is not the PSK's ("),
      imsec_str_c(f->psk_impi), S("): 403"));
  *r = (refusal){.code = 403, .reason = "Forbidden", .why = NULL, .logged = 1};
  return -1;
}
