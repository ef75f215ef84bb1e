/* TS 33.203 O.4 and Annex J: the UE's flows, the registrations bound to
 * them, the flow token that names one in Path, and the identity a UE's
 * request is asserted with. */
#include "lib/pcscf/pcscf_int.h"

/* ------------------------------------------------------------ flows */

/* Flows by the driver's id (include/imsec/map.h: O(1), bounded by the
 * live flows). */
flowrec *pc_flow_find(const imsec_pcscf *p, uint64_t id) {
  return imsec_map_get(&p->flows, id);
}

flowrec *pc_flow_add(imsec_pcscf *p, uint64_t id) {
  flowrec *f = calloc(1, sizeof(*f));
  if (!f)
    return NULL;
  f->id = id;
  if (imsec_map_put(&p->flows, id, f, NULL) < 0) {
    free(f);
    return NULL;
  }
  return f;
}

/* Free a binding already out of the IMPI and id tables and its flow's
 * list. */
static void binding_release(binding *b) {
  free(b->impi);
  free(b->contact);
  free(b->cert_impi);
  pc_strlist_free(&b->impus);
  pc_strlist_free(&b->routes);
  free(b);
}

/* Take `b` off its flow's list (a handful of registrations per flow). */
static void binding_detach(binding *b) {
  if (!b->flow)
    return;
  for (binding **pp = &b->flow->bindings; *pp; pp = &(*pp)->next) {
    if (*pp == b) {
      *pp = b->next;
      break;
    }
  }
  b->flow = NULL;
  b->next = NULL;
}

static void binding_put_on(binding *b, flowrec *f) {
  b->flow = f;
  b->next = f->bindings;
  f->bindings = b;
}

void pc_binding_unlink(imsec_pcscf *p, binding *b) {
  pc_dialog_binding_gone(p, b->id);
  (void)imsec_map_sdel(&p->bindings, imsec_str_c(b->impi));
  (void)imsec_map_del(&p->bind_ids, b->id);
  binding_detach(b);
  binding_release(b);
}

uint64_t pc_binding_id_next(imsec_pcscf *p) {
  return ++p->bind_seq;
}

/* TS 33.203 O.4: one binding per IMPI: the flow it registered on last.
 * Removes the IMPI's binding on any other flow, then adds an empty one on
 * `f`. NULL without memory. */
binding *pc_binding_new(imsec_pcscf *p, flowrec *f, const char *impi,
                        uint64_t id) {
  binding *old = imsec_map_sget(&p->bindings, imsec_str_c(impi));
  if (old)
    pc_binding_unlink(p, old);
  binding *b = calloc(1, sizeof(*b));
  if (!b || !(b->impi = pc_dup_str(imsec_str_c(impi))))
    goto fail;
  b->id = id;
  if (imsec_map_put(&p->bind_ids, id, b, NULL) < 0)
    goto fail;
  if (imsec_map_sput(&p->bindings, imsec_str_c(b->impi), b, NULL) < 0) {
    (void)imsec_map_del(&p->bind_ids, id);
    goto fail;
  }
  binding_put_on(b, f);
  return b;
fail:
  if (b)
    free(b->impi);
  free(b);
  return NULL;
}

int pc_binding_set_id(imsec_pcscf *p, binding *b, uint64_t id) {
  if (b->id == id)
    return 0;
  IMSEC_GUARD(imsec_map_put(&p->bind_ids, id, b, NULL));
  (void)imsec_map_del(&p->bind_ids, b->id);
  /* The old token no longer reaches the UE (430): its dialogs end. */
  pc_dialog_binding_gone(p, b->id);
  b->id = id;
  return 0;
}

int pc_binding_attach(imsec_pcscf *p, binding *b, uint64_t flow) {
  if (!p || !b)
    return IMSEC_ERR_INVAL;
  flowrec *f = pc_flow_find(p, flow);
  if (!f)
    return IMSEC_ERR_NOTFOUND;
  if (f->core)
    return IMSEC_ERR_STATE;
  if (b->flow == f)
    return 0;
  binding_detach(b);
  binding_put_on(b, f);
  return 0;
}

/* The binding of `impi` when it is on flow `f`, else NULL. */
binding *pc_binding_find(const imsec_pcscf *p, flowrec *f, const char *impi) {
  binding *b = imsec_map_sget(&p->bindings, imsec_str_c(impi));
  return b && f && b->flow == f ? b : NULL;
}

binding *pc_binding_by_id(const imsec_pcscf *p, uint64_t id) {
  return imsec_map_get(&p->bind_ids, id);
}

/* Remove the expired bindings; the earliest expiry left goes to *next
 * (unchanged when none is earlier). */
void pc_binding_sweep(ev *e, imsec_time_ms *next) {
  imsec_pcscf *p = e->p;
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->bindings, &it))) {
    binding *b = s->val;
    if (b->expires_at <= e->now) {
      LOG(e, IMSEC_LOG_INFO, S("registration of IMPI "), imsec_str_c(b->impi),
          b->flow ? S(" on flow ") : S(" (no live flow)"),
          b->flow ? pc_num(p, b->flow->id) : S(""),
          S(" expired; binding removed"));
      pc_psk_gone(e, b->impi);
      pc_dialog_binding_gone(p, b->id);
      (void)imsec_map_del_at(&p->bindings, &it);
      (void)imsec_map_del(&p->bind_ids, b->id);
      binding_detach(b);
      binding_release(b);
      continue;
    }
    if (!*next || b->expires_at < *next)
      *next = b->expires_at;
  }
}

void pc_flow_free(imsec_pcscf *p, flowrec *f) {
  pc_psk_flow_gone(p, f);
  while (f->bindings) {
    binding *b = f->bindings;
    if (b->outlives_flow) {
      /* The mode keeps it until expiry without a flow (see binding). */
      binding_detach(b);
      continue;
    }
    pc_binding_unlink(p, b);
  }
  if (!f->core)
    p->n_access--;
  free(f->cert_impi);
  free(f->psk_impi);
  free(f);
}

void pc_flow_remove(imsec_pcscf *p, flowrec *f) {
  (void)imsec_map_del(&p->flows, f->id);
  pc_flow_free(p, f);
}

void pc_bindings_free_all(imsec_pcscf *p) {
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->bindings, &it))) {
    binding *b = s->val;
    pc_dialog_binding_gone(p, b->id);
    (void)imsec_map_del_at(&p->bindings, &it);
    (void)imsec_map_del(&p->bind_ids, b->id);
    binding_detach(b);
    binding_release(b);
  }
}

/* ------------------------------------------------------------ tokens */

/* RFC 5626 §5.2: the flow token, here naming the registration binding
 * rather than the connection, so that a binding can move to another flow
 * (M2b: the P-CSCF dials the UE; M3: the UE reconnects with a PSK) and
 * the S-CSCF's Path stays good. HMAC-SHA256 under a random key over the
 * binding id: ids count up and are never reused, so a token names one
 * binding for good, and the MAC makes it unforgeable. */
static int token_mac(imsec_pcscf *p, uint64_t bid, uint8_t mac[32]) {
  uint8_t id[8];
  for (int i = 0; i < 8; i++)
    id[i] = (uint8_t)(bid >> (56 - 8 * i));
  imsec_iov iov[2] = {{"binding", 7}, {id, 8}};
  return imsec_hmac(p->crypto, IMSEC_HASH_SHA256, p->key, KEY_LEN, iov, 2, mac);
}

int pc_token_make(imsec_pcscf *p, uint64_t bid, sb *b) {
  uint8_t mac[32], id[8];
  IMSEC_GUARD(token_mac(p, bid, mac));
  for (int i = 0; i < 8; i++)
    id[i] = (uint8_t)(bid >> (56 - 8 * i));
  sb_hex(b, id, 8);
  sb_hex(b, mac, TOKEN_MAC);
  return 0;
}

int pc_token_check(imsec_pcscf *p, imsec_str tok, binding **out) {
  uint8_t raw[8 + TOKEN_MAC];
  *out = NULL;
  if (tok.len != TOKEN_HEX ||
      imsec_hex_decode(tok.p, tok.len, raw, sizeof(raw)) != (int)sizeof(raw))
    return IMSEC_ERR_PARSE;
  uint64_t id = 0;
  for (int i = 0; i < 8; i++)
    id = id << 8 | raw[i];
  uint8_t mac[32];
  if (token_mac(p, id, mac) < 0 || !imsec_ct_eq(mac, raw + 8, TOKEN_MAC))
    return IMSEC_ERR_AUTH;
  binding *b = pc_binding_by_id(p, id);
  if (!b)
    return IMSEC_ERR_NOTFOUND;
  *out = b;
  return 0;
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

/* ------------------------------------------------------------ UE requests */

/* TS 24.229 §5.2.6.3, TS 33.203 O.4 and Annex J: a request from a UE is
 * accepted only on the connection its registration is bound to; the
 * asserted identity comes from the registered set; the request follows the
 * Service-Route recorded at registration. */
int pc_ue_request(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = e->f;
  refusal r = {0};
  txn *t = NULL;
  int pushed = 0;
  if (!f->bindings) {
    if (m->method_id != IMSEC_SIP_M_ACK)
      r = (refusal){.code = 403,
                    .reason = "Forbidden",
                    .why = "no registration bound to this connection"};
    goto out;
  }
  if (pc_dialog_ue_request(e, m))
    return 0;
  imsec_str asserted = S("");
  binding *b = NULL;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  int rv = imsec_sip_addr_next(m, IMSEC_SIP_H_P_PREFERRED_IDENTITY, &it, &a);
  if (rv < 0) {
    r = (refusal){.code = 400,
                  .reason = "Bad Request",
                  .why = "malformed P-Preferred-Identity"};
    goto out;
  }
  if (rv == 1) {
    /* RFC 3325 §9.2: a preferred identity must be one of the user's. */
    b = pc_impu_bound(f, a.uri);
    if (!b) {
      LOG(e, IMSEC_LOG_WARN, S("refused "), m->method, S(" on flow "),
          pc_num(p, f->id), S(": 403 P-Preferred-Identity "), a.uri,
          S(" outside the registered set"));
      r = (refusal){
          .code = 403, .reason = "Forbidden", .why = NULL, .logged = 1};
      goto out;
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
    if (!pc_strlist_next(&b->impus, &pos, &asserted)) {
      r = (refusal){.code = 403,
                    .reason = "Forbidden",
                    .why = "no public identity registered"};
      goto out;
    }
  }
  uint32_t mf;
  rv = imsec_sip_get_max_forwards(m, &mf);
  if (rv == 0 && mf == 0) {
    r = (refusal){
        .code = 483, .reason = "Too Many Hops", .why = "Max-Forwards 0"};
    goto out;
  }
  sb ab = arena_sb(p);
  sb_putc(&ab, "<");
  sb_put(&ab, asserted);
  sb_putc(&ab, ">");
  imsec_str pai;
  if (sb_done(p, &ab, &pai) < 0) {
    r = (refusal){.code = 500,
                  .reason = "Server Internal Error",
                  .why = "identity too long"};
    goto out;
  }
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_PREFERRED_IDENTITY);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY);
  /* RFC 3608 §6: the Service-Route becomes the route set. */
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_ROUTE);
  size_t di = b->dest, pos = 0;
  imsec_str route;
  int first = 1;
  r = (refusal){.code = 500,
                .reason = "Server Internal Error",
                .why = "cannot edit request"};
  while (pc_strlist_next(&b->routes, &pos, &route)) {
    if (first) {
      long d = pc_dest_of_uri(p, route);
      if (d >= 0)
        di = (size_t)d;
      first = 0;
    }
    if (imsec_sip_msg_insert(m, m->nhdrs, S("Route"), route) < 0)
      goto out;
  }
  if (imsec_sip_msg_insert(m, m->nhdrs, S("P-Asserted-Identity"), pai) < 0)
    goto out;
  /* failover.c: the Service-Route's S-CSCF is dead; a live member of its
   * group takes the request (the Route naming its sibling is its own). */
  di = pc_dest_live(p, di);
  if (m->method_id != IMSEC_SIP_M_ACK) {
    if (!(t = pc_txn_open(e, m, 1, &r)))
      goto out;
  }
  if (pc_dialog_record_route(e, m, b, t, 0, &r) < 0)
    goto out;
  if (pc_push_via(e, m, t, p->dests[di].addr.tp) < 0)
    goto out;
  pushed = 1;
  if (pc_dec_max_forwards(e, m) < 0 ||
      (t && pc_invite_forwarded(e, t, m) < 0) ||
      pc_send_dest(e, di, m, t) < 0) {
    r = (refusal){.code = 503,
                  .reason = "Service Unavailable",
                  .why = "S-CSCF queue full or unreachable",
                  .retry_after = IMSEC_PCSCF_RETRY_CORE};
    goto out;
  }
  LOG(e, IMSEC_LOG_DEBUG, m->method, S(" from flow "), pc_num(p, f->id),
      S(" as "), asserted, S(" -> "), pc_addr_str(p, &p->dests[di].addr));
  return 0;
out:
  if (t)
    pc_txn_clear(p, t);
  if (pushed) /* answer with the UE's Vias only */
    (void)pc_pop_top(m, IMSEC_SIP_H_VIA);
  return pc_refuse_with(e, m, &r);
}

int imsec_pcscf_binding_flow(const imsec_pcscf *p, imsec_str impu,
                             uint64_t *flow) {
  size_t it = 0;
  const imsec_map_slot *s;
  while ((s = imsec_map_next(&p->bindings, &it))) {
    const binding *b = s->val;
    size_t pos = 0;
    imsec_str u;
    while (pc_strlist_next(&b->impus, &pos, &u)) {
      if (pc_uri_text_eq(u, impu)) {
        *flow = b->flow ? b->flow->id : 0;
        return 0;
      }
    }
  }
  return IMSEC_ERR_NOTFOUND;
}
