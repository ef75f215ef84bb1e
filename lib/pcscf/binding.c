/* TS 33.203 O.4 and Annex J: the UE's flows, the registrations bound to
 * them, the flow token that names one in Path, and the identity a UE's
 * request is asserted with. */
#include "lib/pcscf/pcscf_int.h"

/* ------------------------------------------------------------ flows */

static size_t bucket_of(const imsec_pcscf *p, uint64_t id) {
  id ^= id >> 33;
  id *= 0xff51afd7ed558ccdULL;
  id ^= id >> 33;
  return (size_t)(id & (p->nbuckets - 1));
}

flowrec *pc_flow_find(const imsec_pcscf *p, uint64_t id) {
  for (flowrec *f = p->buckets[bucket_of(p, id)]; f; f = f->next)
    if (f->id == id)
      return f;
  return NULL;
}

flowrec *pc_flow_add(imsec_pcscf *p, uint64_t id) {
  flowrec *f = calloc(1, sizeof(*f));
  if (!f)
    return NULL;
  f->id = id;
  size_t b = bucket_of(p, id);
  f->next = p->buckets[b];
  p->buckets[b] = f;
  return f;
}

void pc_binding_free(imsec_pcscf *p, binding *b) {
  free(b->impi);
  free(b->contact);
  pc_strlist_free(&b->impus);
  pc_strlist_free(&b->routes);
  free(b);
  p->n_bindings--;
}

void pc_binding_unlink(imsec_pcscf *p, binding *b) {
  for (binding **pp = &b->flow->bindings; *pp; pp = &(*pp)->next) {
    if (*pp == b) {
      *pp = b->next;
      break;
    }
  }
  pc_binding_free(p, b);
}

void pc_flow_remove(imsec_pcscf *p, flowrec *f) {
  while (f->bindings) {
    binding *b = f->bindings;
    f->bindings = b->next;
    pc_binding_free(p, b);
  }
  for (flowrec **pp = &p->buckets[bucket_of(p, f->id)]; *pp;
       pp = &(*pp)->next) {
    if (*pp == f) {
      *pp = f->next;
      break;
    }
  }
  if (!f->core)
    p->n_access--;
  free(f);
}

/* ------------------------------------------------------------ tokens */

/* RFC 5626 §5.2: the flow token. HMAC-SHA256 under a random key over the
 * flow id and the connection's nonce: the driver's ids are plain numbers
 * (and may be reused), so the MAC is what makes a token unforgeable and
 * tied to one connection. */
static int token_mac(imsec_pcscf *p, const flowrec *f, uint8_t mac[32]) {
  uint8_t id[8];
  for (int i = 0; i < 8; i++)
    id[i] = (uint8_t)(f->id >> (56 - 8 * i));
  imsec_iov iov[3] = {{"flow", 4}, {id, 8}, {f->nonce, sizeof(f->nonce)}};
  return imsec_hmac(p->crypto, IMSEC_HASH_SHA256, p->key, KEY_LEN, iov, 3, mac);
}

int pc_token_make(imsec_pcscf *p, const flowrec *f, sb *b) {
  uint8_t mac[32], id[8];
  IMSEC_GUARD(token_mac(p, f, mac));
  for (int i = 0; i < 8; i++)
    id[i] = (uint8_t)(f->id >> (56 - 8 * i));
  sb_hex(b, id, 8);
  sb_hex(b, mac, TOKEN_MAC);
  return 0;
}

/* The access flow a token names, or NULL (malformed, forged, flow gone). */
flowrec *pc_token_check(imsec_pcscf *p, imsec_str tok) {
  uint8_t raw[8 + TOKEN_MAC];
  if (tok.len != TOKEN_HEX ||
      imsec_hex_decode(tok.p, tok.len, raw, sizeof(raw)) != (int)sizeof(raw))
    return NULL;
  uint64_t id = 0;
  for (int i = 0; i < 8; i++)
    id = id << 8 | raw[i];
  flowrec *f = pc_flow_find(p, id);
  if (!f || f->core)
    return NULL;
  uint8_t mac[32];
  if (token_mac(p, f, mac) < 0 || !imsec_ct_eq(mac, raw + 8, TOKEN_MAC))
    return NULL;
  return f;
}

int pc_uri_text_eq(imsec_str a, imsec_str b) {
  imsec_sip_uri ua, ub;
  if (imsec_sip_uri_parse(a, 64, &ua) == 0 &&
      imsec_sip_uri_parse(b, 64, &ub) == 0)
    return imsec_sip_uri_eq(&ua, &ub);
  return imsec_str_ieq(a, b);
}

/* The binding on flow `f` whose registered set holds `uri`, or NULL. */
binding *pc_impu_bound(const flowrec *f, imsec_str uri) {
  for (binding *b = f->bindings; b; b = b->next) {
    size_t pos = 0;
    imsec_str s;
    while (pc_strlist_next(&b->impus, &pos, &s))
      if (pc_uri_text_eq(s, uri))
        return b;
  }
  return NULL;
}

binding *pc_binding_find(flowrec *f, const char *impi) {
  for (binding *b = f->bindings; b; b = b->next)
    if (imsec_str_eq(imsec_str_c(b->impi), imsec_str_c(impi)))
      return b;
  return NULL;
}

/* ------------------------------------------------------------ UE requests */

/* TS 24.229 §5.2.6.3, TS 33.203 O.4 and Annex J: a request from a UE is
 * accepted only on the connection its registration is bound to; the
 * asserted identity comes from the registered set; the request follows the
 * Service-Route recorded at registration. */
int pc_ue_request(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = e->f;
  if (!f->bindings) {
    if (m->method_id == IMSEC_SIP_M_ACK)
      return 0;
    return pc_refuse(e, m, 403, "Forbidden",
                     "no registration bound to this connection");
  }
  imsec_str asserted = S("");
  binding *b = NULL;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  int rv = imsec_sip_addr_next(m, IMSEC_SIP_H_P_PREFERRED_IDENTITY, &it, &a);
  if (rv < 0)
    return pc_refuse(e, m, 400, "Bad Request",
                     "malformed P-Preferred-Identity");
  if (rv == 1) {
    /* RFC 3325 §9.2: a preferred identity must be one of the user's. */
    b = pc_impu_bound(f, a.uri);
    if (!b) {
      LOG(e, IMSEC_LOG_WARN, S("refused "), m->method, S(" on flow "),
          pc_num(p, f->id), S(": 403 P-Preferred-Identity "), a.uri,
          S(" outside the registered set"));
      return pc_reply(e, f->id, m, 403, "Forbidden", NULL, 0);
    }
    asserted = a.uri;
  } else {
    const imsec_sip_addr *from;
    if (imsec_sip_get_from(m, &from) == 0 && (b = pc_impu_bound(f, from->uri)))
      asserted = from->uri;
  }
  if (!b) {
    /* TS 24.229 §5.2.6.3.1: the default public identity. */
    b = f->bindings;
    size_t pos = 0;
    if (!pc_strlist_next(&b->impus, &pos, &asserted))
      return pc_refuse(e, m, 403, "Forbidden", "no public identity registered");
  }
  uint32_t mf;
  rv = imsec_sip_get_max_forwards(m, &mf);
  if (rv == 0 && mf == 0)
    return pc_refuse(e, m, 483, "Too Many Hops", "Max-Forwards 0");
  sb ab = arena_sb(p);
  sb_putc(&ab, "<");
  sb_put(&ab, asserted);
  sb_putc(&ab, ">");
  imsec_str pai;
  if (sb_done(p, &ab, &pai) < 0)
    return pc_refuse(e, m, 500, "Server Internal Error", "identity too long");
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_PREFERRED_IDENTITY);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY);
  /* RFC 3608 §6: the Service-Route becomes the route set. */
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_ROUTE);
  size_t di = b->dest, pos = 0;
  imsec_str r;
  int first = 1;
  while (pc_strlist_next(&b->routes, &pos, &r)) {
    if (first) {
      long d = pc_dest_of_uri(p, r);
      if (d >= 0)
        di = (size_t)d;
      first = 0;
    }
    if (imsec_sip_msg_insert(m, m->nhdrs, S("Route"), r) < 0)
      return pc_refuse(e, m, 500, "Server Internal Error",
                       "cannot edit request");
  }
  if (imsec_sip_msg_insert(m, m->nhdrs, S("P-Asserted-Identity"), pai) < 0)
    return pc_refuse(e, m, 500, "Server Internal Error", "cannot edit request");
  int ack = m->method_id == IMSEC_SIP_M_ACK;
  size_t slot = 0;
  txn *t = NULL;
  if (!ack) {
    t = pc_txn_new(e, &slot);
    if (!t)
      return pc_refuse_503(e, m, IMSEC_PCSCF_RETRY_BUSY,
                           "transaction table full");
    t->from_ue = 1;
    t->in_flow = f->id;
    pc_txn_keep_answer(e, t, m);
  }
  if (pc_push_via(e, m, slot, ack, p->dests[di].addr.tp) < 0) {
    if (t)
      pc_txn_clear(p, slot);
    return pc_refuse(e, m, 500, "Server Internal Error", "cannot edit request");
  }
  if (pc_dec_max_forwards(e, m) < 0 ||
      pc_send_dest(e, di, m, t ? slot : SIZE_MAX) < 0) {
    if (t)
      pc_txn_clear(p, slot);
    (void)pc_pop_top(m, IMSEC_SIP_H_VIA);
    return pc_refuse_503(e, m, IMSEC_PCSCF_RETRY_CORE,
                         "S-CSCF queue full or unreachable");
  }
  LOG(e, IMSEC_LOG_DEBUG, m->method, S(" from flow "), pc_num(p, f->id),
      S(" as "), asserted, S(" -> "), pc_addr_str(p, &p->dests[di].addr));
  return 0;
}

/* Remove a registration of `impi` from every flow but `keep`. */
void pc_unbind_elsewhere(imsec_pcscf *p, const char *impi, flowrec *keep) {
  for (size_t i = 0; i < p->nbuckets; i++) {
    for (flowrec *f = p->buckets[i]; f; f = f->next) {
      if (f == keep)
        continue;
      binding *b = pc_binding_find(f, impi);
      if (b)
        pc_binding_unlink(p, b);
    }
  }
}

int imsec_pcscf_binding_flow(const imsec_pcscf *p, imsec_str impu,
                             uint64_t *flow) {
  for (size_t i = 0; i < p->nbuckets; i++) {
    for (flowrec *f = p->buckets[i]; f; f = f->next) {
      if (pc_impu_bound(f, impu)) {
        *flow = f->id;
        return 0;
      }
    }
  }
  return IMSEC_ERR_NOTFOUND;
}
