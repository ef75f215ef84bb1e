/* Routing of calls and of every other method through the S-CSCF (RFC 3261
 * §16, TS 24.229 §5.4.3): the next hops of other domains, Record-Route on
 * dialog-creating requests, and in-dialog requests and 2xx ACKs sent on
 * by their Route (loose routing, RFC 3261 §16.4, §16.6 step 7, §16.11). */

#include <stdlib.h>
#include <string.h>

#include "imsec/pcscf.h"
#include "scscf_int.h"

int imsec_scscf_route_parse(imsec_str spec, imsec_scscf_route *out) {
  if (!out)
    return IMSEC_ERR_INVAL;
  /* The P-CSCF's syntax, so that both elements take the same --route. */
  imsec_pcscf_route r;
  memset(&r, 0, sizeof(r));
  int rv = imsec_pcscf_route_parse(spec, &r);
  if (rv < 0)
    return rv;
  memset(out, 0, sizeof(*out));
  memcpy(out->domain, r.domain, sizeof(out->domain));
  out->addr = r.addr;
  memcpy(out->name, r.name, sizeof(out->name));
  return 0;
}

/* Copy the next hops of other domains and write our Record-Route value
 * (RFC 3261 §16.6 step 4: an address of ours, so that it comes back to us
 * in Route; no user part, TS 24.229 §5.4.3.2). */
int scscf_routes_config(imsec_scscf *s, const imsec_scscf_config *cfg) {
  s->cfg.routes = NULL;
  s->cfg.n_routes = 0;
  if (cfg->n_routes > IMSEC_SCSCF_MAX_ROUTES || (cfg->n_routes && !cfg->routes))
    return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < cfg->n_routes; i++) {
    const imsec_scscf_route *r = &cfg->routes[i];
    /* Bounded strings; a route needs a domain and a host, over the core's
     * stream transports. */
    if (!memchr(r->domain, 0, sizeof(r->domain)) ||
        !memchr(r->name, 0, sizeof(r->name)) ||
        !memchr(r->addr.host, 0, sizeof(r->addr.host)) || !r->domain[0] ||
        !r->addr.host[0] || !r->addr.port ||
        (r->addr.tp != IMSEC_TP_TCP && r->addr.tp != IMSEC_TP_TLS))
      return IMSEC_ERR_CONFIG;
  }
  if (cfg->n_routes) {
    s->routes = calloc(cfg->n_routes, sizeof(*s->routes));
    if (!s->routes)
      return IMSEC_ERR_NOMEM;
    memcpy(s->routes, cfg->routes, cfg->n_routes * sizeof(*s->routes));
    s->cfg.routes = s->routes;
    s->cfg.n_routes = cfg->n_routes;
  }
  char port[8];
  scscf_dec_u64(s->cfg.self.port, port);
  int v6 = imsec_str_find(imsec_str_c(s->self_host), ':') >= 0;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, s->rr, sizeof(s->rr));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("<sip:"));
  imsec_sip_build_raw(&b, v6 ? IMSEC_STR_LIT("[") : IMSEC_STR_LIT(""));
  imsec_sip_build_raw(&b, imsec_str_c(s->self_host));
  imsec_sip_build_raw(&b, v6 ? IMSEC_STR_LIT("]") : IMSEC_STR_LIT(""));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT(":"));
  imsec_sip_build_raw(&b, imsec_str_c(port));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT(";transport="));
  imsec_sip_build_raw(&b, imsec_str_c(imsec_tp_lower(s->cfg.self.tp)));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT(";lr>"));
  if (b.err)
    return IMSEC_ERR_CONFIG;
  s->rr_len = b.len;
  return 0;
}

void scscf_routes_free(imsec_scscf *s) {
  free(s->routes);
  s->routes = NULL;
}

/* RFC 3261 §12: a request with a To tag is inside a dialog. */
int scscf_has_to_tag(imsec_sip_msg *m) {
  const imsec_sip_addr *to = NULL;
  return imsec_sip_get_to(m, &to) == 0 && to && to->tag.len > 0;
}

/* RFC 3261 §12.1, RFC 6665 §4.1, RFC 3515 §2.4.4: INVITE, SUBSCRIBE and
 * REFER outside a dialog create one. */
int scscf_dialog_creating(imsec_sip_msg *m) {
  imsec_sip_method id = m->method_id;
  return (id == IMSEC_SIP_M_INVITE || id == IMSEC_SIP_M_SUBSCRIBE ||
          id == IMSEC_SIP_M_REFER) &&
         !scscf_has_to_tag(m);
}

/* RFC 3261 §16.3 step 3: a request with Max-Forwards 0 goes no further:
 * 483 (an ACK is dropped: it is never answered). Returns 1 when handled. */
int scscf_mf_exhausted(imsec_scscf *s, uint64_t flow, imsec_out *out) {
  uint32_t mf = 70;
  if (imsec_sip_get_max_forwards(&s->m, &mf) < 0 || mf > 0)
    return 0;
  if (s->m.method_id == IMSEC_SIP_M_ACK)
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "ACK with Max-Forwards 0: dropped",
                        NULL);
  else
    scscf_respond(s, flow, 483, "Too Many Hops", out);
  return 1;
}

/* RFC 3261 §16.6 step 4: our Record-Route on top, so that the dialog's
 * requests come back through us; pushed once, before the request is
 * copied into its branches, so every branch carries it. */
int scscf_push_record_route(imsec_scscf *s) {
  return imsec_sip_msg_push_top(&s->m, IMSEC_STR_LIT("Record-Route"),
                                imsec_str_make(s->rr, s->rr_len));
}

/* Where a Route URI sends a request (RFC 3263 §4 without DNS: the host or
 * maddr, the port, and the transport; sips or transport=tls: TLS). 0 or
 * IMSEC_ERR_PARSE. */
int scscf_uri_hop(imsec_str uri_text, imsec_addr *a) {
  imsec_sip_uri u;
  if (imsec_sip_uri_parse(uri_text, 32, &u) < 0 ||
      (u.scheme != IMSEC_SIP_SCHEME_SIP && u.scheme != IMSEC_SIP_SCHEME_SIPS))
    return IMSEC_ERR_PARSE;
  memset(a, 0, sizeof(*a));
  a->tp = u.scheme == IMSEC_SIP_SCHEME_SIPS ? IMSEC_TP_TLS : IMSEC_TP_TCP;
  if (u.transport.len && imsec_tp_parse(u.transport, &a->tp) < 0)
    return IMSEC_ERR_PARSE;
  imsec_str h = scscf_bare_host(u.maddr.len ? u.maddr : u.host);
  if (!h.len || imsec_str_copy(h, a->host, sizeof(a->host)) < 0)
    return IMSEC_ERR_PARSE;
  a->port = u.has_port ? u.port : (a->tp == IMSEC_TP_TLS ? 5061 : 5060);
  return 0;
}

/* The Request-URI names a user of the home network: a tel: number (the
 * HSS knows whether it is one of ours), a sip/sips URI of the home domain,
 * or an identity registered here (an IMPU of another of the operator's
 * domains). */
int scscf_is_home(const imsec_scscf *s, const imsec_sip_uri *ru) {
  if (ru->scheme == IMSEC_SIP_SCHEME_TEL)
    return 1;
  if (ru->scheme != IMSEC_SIP_SCHEME_SIP && ru->scheme != IMSEC_SIP_SCHEME_SIPS)
    return 0;
  if (imsec_str_ieq_c(scscf_bare_host(ru->host), s->domain))
    return 1;
  return scscf_find_reg_impu(s, s->m.ruri) != NULL;
}

static const imsec_scscf_route *route_for(const imsec_scscf *s,
                                          imsec_str domain) {
  for (size_t i = 0; i < s->cfg.n_routes; i++)
    if (imsec_str_ieq_c(domain, s->cfg.routes[i].domain))
      return &s->cfg.routes[i];
  return NULL;
}

/* An originating request for another domain (TS 24.229 §5.4.3.2 step 10:
 * towards the next hop of the destination network): statefully to the
 * configured next hop of the Request-URI's domain, whose TLS certificate
 * must carry the route's name; 404 when no route is configured for it. */
void scscf_other_domain(imsec_scscf *s, uint64_t flow, const imsec_sip_uri *ru,
                        imsec_time_ms now, imsec_out *out) {
  const imsec_scscf_route *r =
      ru->scheme == IMSEC_SIP_SCHEME_SIP || ru->scheme == IMSEC_SIP_SCHEME_SIPS
          ? route_for(s, scscf_bare_host(ru->host))
          : NULL;
  if (!r) {
    (void)imsec_out_logv(out, IMSEC_LOG_INFO,
                         (imsec_str[]){s->m.method, IMSEC_STR_LIT(" for "),
                                       ru->host,
                                       IMSEC_STR_LIT(": no route to domain")},
                         4);
    scscf_respond(s, flow, 404, "No route to domain", out);
    return;
  }
  if (scscf_dialog_creating(&s->m) && scscf_push_record_route(s) < 0) {
    scscf_respond(s, flow, 500, "Server Internal Error", out);
    return;
  }
  target t = {.ruri = NULL,
              .route = NULL,
              .hop = r->addr,
              .expect = r->name[0] ? r->name : r->addr.host,
              .who = r->domain};
  scscf_proxy(s, flow, &t, 1, now, out);
}

/* The name to expect of an in-dialog hop: none of our own (the trust
 * decision judges its flow), but a connection already open to that
 * address for a Path hop, whose peer was held to a name, is reused
 * (RFC 5923) rather than a second one opened beside it. */
static const char *hop_expect(const imsec_scscf *s, const imsec_addr *to) {
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->peers_tag, &it)) != NULL) {
    const peer *p = e->val;
    if (p->addr.tp == to->tp && p->addr.port == to->port &&
        imsec_str_ieq_c(imsec_str_c(p->addr.host), to->host))
      return p->expect;
  }
  return "";
}

/* The branch of a request forwarded statelessly (RFC 3261 §16.11): the
 * same for a retransmission of the same request, different for another
 * one, so it is derived from what identifies the incoming request (its
 * top Via branch, Call-ID and CSeq; FNV-1a). */
static void stateless_branch(imsec_scscf *s, char *out) {
  uint64_t h = 14695981039346656037ull;
  imsec_str parts[3] = {IMSEC_STR_NULL, IMSEC_STR_NULL, IMSEC_STR_NULL};
  const imsec_sip_hdr *vh = imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_VIA);
  const imsec_sip_hdr *cs = imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_CSEQ);
  imsec_str cid;
  if (vh)
    parts[0] = vh->value;
  if (imsec_sip_get_call_id(&s->m, &cid) == 0)
    parts[1] = cid;
  if (cs)
    parts[2] = cs->value;
  for (size_t k = 0; k < 3; k++) {
    for (size_t i = 0; i < parts[k].len; i++) {
      h ^= (unsigned char)parts[k].p[i];
      h *= 1099511628211ull;
    }
    h ^= 0xff; /* a separator */
    h *= 1099511628211ull;
  }
  scscf_hex_u64(h, out);
}

/* RFC 3261 §16.11: an ACK for a 2xx is its own transaction with no
 * response; it goes on statelessly: our Via (a stateless branch),
 * Max-Forwards one less, to the hop. Nothing is kept. */
static void ack_stateless(imsec_scscf *s, const imsec_addr *to,
                          imsec_out *out) {
  char br[20], via[400], mfs[16];
  stateless_branch(s, br);
  int vl = scscf_own_via(s, to->tp, STATELESS_PREFIX, br, via, sizeof(via));
  uint32_t mf = 70;
  int mrv = imsec_sip_get_max_forwards(&s->m, &mf);
  scscf_dec_u64(mrv == 0 ? mf - 1 : 70, mfs);
  int e = vl < 0 || imsec_sip_msg_push_top(&s->m, IMSEC_STR_LIT("Via"),
                                           imsec_str_make(via, (size_t)vl)) < 0;
  long mfi = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_MAX_FORWARDS);
  if (!e)
    e = (mfi >= 0 ? imsec_sip_msg_replace(&s->m, (size_t)mfi, imsec_str_c(mfs))
                  : imsec_sip_msg_insert(&s->m, s->m.nhdrs,
                                         IMSEC_STR_LIT("Max-Forwards"),
                                         imsec_str_c(mfs))) < 0;
  int n = e ? -1 : imsec_sip_msg_serialize(&s->m, s->obuf, OBUF_CAP);
  if (n <= 0 ||
      !scscf_send_to(s, to, hop_expect(s, to), s->obuf, (size_t)n, out)) {
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "ACK to ", to->host,
                        " could not go: dropped", NULL);
    return;
  }
  (void)imsec_out_log(out, IMSEC_LOG_INFO, "ACK via ", to->host, NULL);
}

/* A request inside a dialog (a To tag) or an ACK for a 2xx, after the
 * Route entries naming us were popped (`popped` of them): it follows the
 * route set, so the next Route is the next hop (RFC 3261 §16.4, §16.6
 * step 7; the Request-URI, the remote target, is left alone). The next
 * hop's flow is judged like every core peer when it comes up (TS 33.210
 * §5.2: it must be inside the trust domain), so a forged Route reaches
 * no one outside it. No Route of ours: this S-CSCF is not on the dialog's
 * route set (403); none after ours: nowhere to go (404). An ACK is never
 * answered: dropped with a log line instead. */
void scscf_in_dialog(imsec_scscf *s, uint64_t flow, size_t popped,
                     imsec_time_ms now, imsec_out *out) {
  int ack = s->m.method_id == IMSEC_SIP_M_ACK;
  unsigned code = 0;
  const char *why = NULL;
  imsec_addr to;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr ra;
  int rv = popped ? imsec_sip_addr_next(&s->m, IMSEC_SIP_H_ROUTE, &it, &ra) : 0;
  if (!popped) {
    code = 403;
    why = "Not in a dialog through this S-CSCF";
  } else if (rv == 0) {
    code = 404;
    why = "No Route after this S-CSCF";
  } else if (rv < 0 || scscf_uri_hop(ra.uri, &to) < 0 ||
             (to.tp != IMSEC_TP_TCP && to.tp != IMSEC_TP_TLS)) {
    code = 400;
    why = "Bad Route";
  }
  if (code) {
    if (ack) {
      if (imsec_lograte_take(&s->ack_rate, now, NULL))
        (void)imsec_out_log(out, IMSEC_LOG_INFO, "ACK: ", why, ": dropped",
                            NULL);
    } else {
      (void)imsec_out_logv(
          out, IMSEC_LOG_INFO,
          (imsec_str[]){s->m.method, IMSEC_STR_LIT(": "), imsec_str_c(why)}, 3);
      scscf_respond(s, flow, code, why, out);
    }
    return;
  }
  if (scscf_mf_exhausted(s, flow, out))
    return;
  if (ack) {
    ack_stateless(s, &to, out);
    return;
  }
  /* Stateful, one branch: the same response context as a fork, so the
   * transaction timeout, transport errors and flow loss are handled once
   * (RFC 3261 §16.6-16.9). */
  target t = {.ruri = NULL,
              .route = NULL,
              .hop = to,
              .expect = hop_expect(s, &to),
              .who = "the next Route"};
  scscf_proxy(s, flow, &t, 1, now, out);
}
