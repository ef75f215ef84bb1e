/* Modes M2a and M2b (DESIGN.md §2, seed §3.2) at the P-CSCF.
 *
 * M2a, mutual TLS: a UE's flow may carry a client certificate
 * (cfg.client_cert); it must pass imsec_trust_ue_cert (a path to the UE
 * anchors valid for a TLS client, SAN URI sip:IMPI, issued by the
 * operator CA of that IMPI's realm). The IMPI is then the only one the
 * flow may register (TS 33.203 O.4 with the certificate as the identity
 * the connection vouches for), and the binding records it.
 *
 * M2b, the P-CSCF as TLS client: a registration whose Contact is a TLS
 * listener of the UE outlives the UE's connection (cfg.dial_ue); a request
 * for it opens TLS there, the UE's server certificate must name the
 * registered IMPI under its home operator's CA, and then the binding
 * moves to that flow (pc_binding_attach) and what waited goes out. */
#include "lib/pcscf/pcscf_int.h"

#include "imsec/ident.h"
#include "imsec/sip_uri.h"

/* ------------------------------------------------------------ names */

const char *imsec_pcscf_client_cert_name(imsec_pcscf_client_cert c) {
  switch (c) {
  case IMSEC_PCSCF_CLIENT_CERT_REQUEST:
    return "request";
  case IMSEC_PCSCF_CLIENT_CERT_REQUIRE:
    return "require";
  default:
    return "none";
  }
}

int imsec_pcscf_client_cert_parse(imsec_str s, imsec_pcscf_client_cert *out) {
  if (imsec_str_ieq(s, S("none")))
    *out = IMSEC_PCSCF_CLIENT_CERT_NONE;
  else if (imsec_str_ieq(s, S("request")))
    *out = IMSEC_PCSCF_CLIENT_CERT_REQUEST;
  else if (imsec_str_ieq(s, S("require")))
    *out = IMSEC_PCSCF_CLIENT_CERT_REQUIRE;
  else
    return IMSEC_ERR_PARSE;
  return 0;
}

/* ------------------------------------------------------------ M2a */

int pc_m2_flow_up(ev *e, flowrec *f, const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  if (p->cfg.client_cert == IMSEC_PCSCF_CLIENT_CERT_NONE || !info ||
      (info->tp != IMSEC_TP_TLS && info->tp != IMSEC_TP_DTLS))
    return 0;
  /* A PSK handshake (mode M3) authenticated the UE by its key, and TLS
   * asks a PSK client for no certificate (RFC 8446 §4.3.2, RFC 4279 §2):
   * psk.c holds such a flow to the key's IMPI instead. */
  if (info->psk)
    return 0;
  const imsec_trust_cert *c = info->peer_cert;
  if (!c && p->cfg.client_cert == IMSEC_PCSCF_CLIENT_CERT_REQUEST)
    return 0; /* M1 for this UE */
  char impi[IMSEC_TRUST_NAME_CAP];
  imsec_trust_ue_reason why = imsec_trust_ue_cert(c, 0, S(""), impi);
  if (why != IMSEC_TRUST_UE_OK) {
    LOG(e, IMSEC_LOG_WARN, S("refused UE flow "), pc_num(p, f->id), S(" from "),
        pc_addr_str(p, &info->peer), S(": client certificate "),
        impi[0] ? S("of ") : S(""), imsec_str_c(impi), impi[0] ? S(" ") : S(""),
        S("refused: "), imsec_str_c(imsec_trust_ue_reason_code(why)),
        c && c->chain_detail[0] ? S(" (") : S(""),
        imsec_str_c(c ? c->chain_detail : ""),
        c && c->chain_detail[0] ? S(")") : S(""));
    return IMSEC_ERR_AUTH;
  }
  if (!(f->cert_impi = pc_dup_str(imsec_str_c(impi))))
    return IMSEC_ERR_NOMEM;
  LOG(e, IMSEC_LOG_INFO, S("UE flow "), pc_num(p, f->id), S(" from "),
      pc_addr_str(p, &info->peer), S(" presents the certificate of IMPI "),
      imsec_str_c(impi), S(" ("),
      imsec_str_c(info->tls_version ? info->tls_version : "TLS"), S(")"));
  return 0;
}

/* The same IMPI as lib/trust judges a certificate's: the user part as
 * written (RFC 7542 §2.5 leaves its case to the home network), the realm a
 * domain name (case-insensitive). */
static int impi_same(const char *a, const char *b) {
  const char *ra = strrchr(a, '@'), *rb = strrchr(b, '@');
  if (!ra || !rb || ra - a != rb - b)
    return 0;
  return memcmp(a, b, (size_t)(ra - a)) == 0 && /* no secret: identities */
         imsec_dns_name_eq(imsec_str_c(ra + 1), imsec_str_c(rb + 1));
}

int pc_m2_register_check(ev *e, const char *impi, refusal *r) {
  flowrec *f = e->f;
  if (!f->cert_impi)
    return 0;
  if (impi[0] && impi_same(impi, f->cert_impi))
    return 0;
  LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), pc_num(e->p, f->id),
      S(": 403 Authorization username '"), imsec_str_c(impi),
      S("' is not the IMPI of the client certificate ("),
      imsec_str_c(f->cert_impi), S(")"));
  *r = (refusal){.code = 403, .reason = "Forbidden", .logged = 1};
  return -1;
}

/* ------------------------------------------------------------ M2b */

/* The TLS address of a registered Contact: sip: with transport=tls or
 * sips:, an IP literal host (lib/ resolves no names), no "ob", port 5061
 * by default (RFC 3261 §19.1.2). 0 or IMSEC_ERR_NOTFOUND. */
static int contact_addr(const char *contact, imsec_addr *out) {
  imsec_sip_uri u;
  if (!contact || imsec_sip_uri_parse(imsec_str_c(contact), 64, &u) < 0)
    return IMSEC_ERR_NOTFOUND;
  int tls = u.scheme == IMSEC_SIP_SCHEME_SIPS ||
            (u.scheme == IMSEC_SIP_SCHEME_SIP &&
             imsec_str_ieq(u.transport, S("tls")));
  if (!tls || (u.host_type != IMSEC_SIP_HOST_IPV4 &&
               u.host_type != IMSEC_SIP_HOST_IPV6))
    return IMSEC_ERR_NOTFOUND;
  /* RFC 5626 §5.4: "ob" marks a Contact reached over the UE's own flow
   * (M1, M3), not an address anyone dials. */
  imsec_str rest = u.params, name, value;
  int has_value;
  while (imsec_sip_uri_param_next(&rest, &name, &value, &has_value) == 1)
    if (imsec_str_ieq(name, S("ob")))
      return IMSEC_ERR_NOTFOUND;
  memset(out, 0, sizeof(*out));
  out->tp = IMSEC_TP_TLS;
  out->port = u.has_port ? u.port : 5061;
  imsec_str h = pc_bare_host(u.host);
  return imsec_str_copy(h, out->host, sizeof(out->host)) < 0
             ? IMSEC_ERR_NOTFOUND
             : 0;
}

int pc_m2_binding_made(ev *e, binding *b, flowrec *f) {
  imsec_pcscf *p = e->p;
  free(b->cert_impi);
  b->cert_impi = NULL;
  if (f->cert_impi && !(b->cert_impi = pc_dup_str(imsec_str_c(f->cert_impi))))
    return IMSEC_ERR_NOMEM;
  imsec_addr a;
  b->dial_ok = 0;
  if (!p->cfg.dial_ue || contact_addr(b->contact, &a) != 0)
    return 0;
  /* The Contact is the UE's word only: dial nothing but the address the
   * registration came from, so that a REGISTER cannot point the P-CSCF's
   * client certificate at a core element or at another UE's listener. */
  if (!imsec_str_ieq(imsec_str_c(a.host), imsec_str_c(f->peer.host))) {
    LOG(e, IMSEC_LOG_WARN, S("IMPI "), imsec_str_c(b->impi), S(": Contact "),
        pc_addr_str(p, &a), S(" is not the address it registered from ("),
        imsec_str_c(f->peer.host), S("); it will not be dialled"));
    return 0;
  }
  b->dial_ok = 1;
  b->outlives_flow = 1;
  return 0;
}

int pc_m2_can_dial(const imsec_pcscf *p, const binding *b) {
  imsec_addr a;
  return p->cfg.dial_ue && b->outlives_flow && b->dial_ok &&
         contact_addr(b->contact, &a) == 0;
}

typedef struct m2dial {
  uint64_t tag, bid;
  imsec_addr addr;
  qmsg *qhead, *qtail;
  size_t qn;
} m2dial;

/* Answer what waits 480 (RFC 3261 §21.4.18: the callee is registered but
 * cannot be reached now) and free the dial. Returns how many. */
static size_t dial_drop(ev *e, m2dial *d) {
  imsec_pcscf *p = e->p;
  size_t n = 0;
  while (d->qhead) {
    qmsg *q = d->qhead;
    d->qhead = q->next;
    txn *t = q->has_txn ? imsec_map_get(&p->txns, q->txn) : NULL;
    if (t) {
      pc_txn_answer(e, t, 480, "Temporarily Unavailable", 0);
      pc_txn_done(e, t);
      n++;
    }
    free(q);
    p->queued--;
  }
  free(d);
  return n;
}

int pc_m2_dial_send(ev *e, binding *b, imsec_sip_msg *m, txn *t) {
  imsec_pcscf *p = e->p;
  int n = imsec_sip_msg_serialize(m, p->outbuf, p->outcap);
  if (n < 0)
    return n;
  m2dial *d = b->dial_tag ? imsec_map_get(&p->dials, b->dial_tag) : NULL;
  if (!d) {
    imsec_addr a;
    if (!b->dial_ok)
      return IMSEC_ERR_PERM;
    IMSEC_GUARD(contact_addr(b->contact, &a));
    if (!(d = calloc(1, sizeof(*d))))
      return IMSEC_ERR_NOMEM;
    d->tag = PC_DIAL_TAG_BASE | ++p->dial_seq;
    d->bid = b->id;
    d->addr = a;
    if (imsec_map_put(&p->dials, d->tag, d, NULL) < 0) {
      free(d);
      return IMSEC_ERR_NOMEM;
    }
    /* The element decides on the UE's certificate (DEFER); the P-CSCF
     * never resumes a session as a client (seed §3.1). No SNI: the UE is
     * named by its IMPI, not a host name. */
    imsec_tls_profile prof;
    memset(&prof, 0, sizeof(prof));
    memcpy(prof.profile, IMSEC_PCSCF_UE_PROFILE,
           sizeof(IMSEC_PCSCF_UE_PROFILE));
    prof.verify = IMSEC_TLS_VERIFY_DEFER;
    prof.no_resume = 1;
    if (imsec_out_connect_tls(e->out, d->tag, &a, "", &prof) < 0) {
      (void)imsec_map_del(&p->dials, d->tag);
      free(d);
      return IMSEC_ERR_NOMEM;
    }
    b->dial_tag = d->tag;
    LOG(e, IMSEC_LOG_INFO, S("IMPI "), imsec_str_c(b->impi),
        S(" has no live flow: dialling its Contact "), pc_addr_str(p, &a));
  }
  IMSEC_GUARD(pc_queue_push(p, &d->qhead, &d->qtail, &d->qn, t, (size_t)n));
  return 0;
}

int pc_m2_dial_up(ev *e, uint64_t flow, uint64_t tag,
                  const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  m2dial *d = imsec_map_get(&p->dials, tag);
  if (!d)
    return IMSEC_ERR_INVAL;
  (void)imsec_map_del(&p->dials, tag);
  binding *b = pc_binding_by_id(p, d->bid);
  if (b && b->dial_tag == tag)
    b->dial_tag = 0;
  const imsec_trust_cert *c = info ? info->peer_cert : NULL;
  char impi[IMSEC_TRUST_NAME_CAP];
  imsec_trust_ue_reason why = IMSEC_TRUST_UE_OK;
  const char *what = NULL;
  flowrec *f = pc_flow_find(p, flow);
  if (!b) {
    what = "its registration is gone";
  } else if ((why = imsec_trust_ue_cert(c, 1, imsec_str_c(b->impi), impi)) !=
             IMSEC_TRUST_UE_OK) {
    what = imsec_trust_ue_reason_code(why);
  } else if (f && f->core) {
    what = "the flow is a core flow";
  } else if (!f && p->n_access >= p->cfg.max_flows) {
    what = "too many UE flows";
  }
  if (!what && !f) {
    if (!(f = pc_flow_add(p, flow))) {
      what = "out of memory";
    } else {
      p->n_access++;
      if (info)
        f->peer = info->peer;
    }
  }
  if (!what && !f->cert_impi && !(f->cert_impi = pc_dup_str(imsec_str_c(impi))))
    what = "out of memory";
  if (!what && pc_binding_attach(p, b, flow) < 0)
    what = "cannot move the binding";
  if (what) {
    size_t n = d->qn;
    LOG(e, IMSEC_LOG_WARN, S("refused UE "), pc_addr_str(p, &d->addr),
        S(" on flow "), pc_num(p, flow), S(" dialled for IMPI "),
        imsec_str_c(b ? b->impi : "?"), S(": "), imsec_str_c(what),
        c && c->chain_detail[0] ? S(" (") : S(""),
        imsec_str_c(c ? c->chain_detail : ""),
        c && c->chain_detail[0] ? S(")") : S(""),
        impi[0] && why == IMSEC_TRUST_UE_IMPI_MISMATCH ? S(", names ") : S(""),
        imsec_str_c(why == IMSEC_TRUST_UE_IMPI_MISMATCH ? impi : ""), S("; "),
        pc_num(p, n), S(" request(s) answered 480"));
    (void)dial_drop(e, d);
    return IMSEC_ERR_AUTH;
  }
  LOG(e, IMSEC_LOG_INFO, S("UE "), pc_addr_str(p, &d->addr), S(" on flow "),
      pc_num(p, flow), S(" presents IMPI "), imsec_str_c(b->impi),
      S(": binding moved there; "), pc_num(p, d->qn),
      S(" queued request(s) sent"));
  (void)imsec_out_keep(e->out, flow);
  while (d->qhead) {
    qmsg *q = d->qhead;
    d->qhead = q->next;
    txn *t = q->has_txn ? imsec_map_get(&p->txns, q->txn) : NULL;
    if (t)
      t->ue_flow = flow;
    (void)imsec_out_send(e->out, flow, q->data, q->len);
    free(q);
    p->queued--;
  }
  free(d);
  return 0;
}

void pc_m2_dial_failed(ev *e, uint64_t tag, int reason) {
  imsec_pcscf *p = e->p;
  m2dial *d = imsec_map_get(&p->dials, tag);
  if (!d)
    return;
  (void)imsec_map_del(&p->dials, tag);
  binding *b = pc_binding_by_id(p, d->bid);
  if (b && b->dial_tag == tag)
    b->dial_tag = 0;
  LOG(e, IMSEC_LOG_WARN, S("cannot reach UE "), pc_addr_str(p, &d->addr),
      S(" for IMPI "), imsec_str_c(b ? b->impi : "?"), S(": "),
      imsec_str_c(imsec_strerror(reason)), S("; "), pc_num(p, d->qn),
      S(" request(s) answered 480"));
  (void)dial_drop(e, d);
}

void pc_m2_free(imsec_pcscf *p) {
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->dials, &it))) {
    m2dial *d = s->val;
    (void)imsec_map_del_at(&p->dials, &it);
    while (d->qhead) {
      qmsg *q = d->qhead;
      d->qhead = q->next;
      free(q);
    }
    free(d);
  }
}

int pc_m2_unqueue(imsec_pcscf *p, uint64_t id) {
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->dials, &it))) {
    m2dial *d = s->val;
    if (pc_queue_remove(p, &d->qhead, &d->qtail, &d->qn, id))
      return 1;
  }
  return 0;
}
