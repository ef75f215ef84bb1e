/* REGISTER through the P-CSCF (TS 24.229 §5.2.2): security agreement
 * (RFC 3329), Path with the flow token, the Authorization marking, and
 * what the 401 and the 200 do on the way back. */
#include "lib/pcscf/pcscf_int.h"

/* Rewrite a Require / Proxy-Require without the sec-agree option tag
 * (TS 24.229 §5.2.2.1: it is between UE and P-CSCF only). */
static int strip_option(ev *e, imsec_sip_msg *m, imsec_sip_hid id,
                        const char *name) {
  if (imsec_sip_msg_index(m, id) < 0)
    return 0;
  sb b = arena_sb(e->p);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  int rv, n = 0, found = 0;
  while ((rv = imsec_sip_value_next(m, id, &it, &v, NULL)) == 1) {
    if (imsec_str_ieq(v, S("sec-agree"))) {
      found = 1;
      continue;
    }
    if (n++)
      sb_putc(&b, ", ");
    sb_put(&b, v);
  }
  if (rv < 0)
    return rv;
  if (!found)
    return 0;
  imsec_str nv;
  IMSEC_GUARD(sb_done(e->p, &b, &nv));
  (void)imsec_sip_msg_remove_all(m, id);
  if (n)
    IMSEC_GUARD(imsec_sip_msg_insert(m, m->nhdrs, imsec_str_c(name), nv));
  return 0;
}

int pc_has_option(imsec_sip_msg *m, imsec_sip_hid id, const char *opt) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  while (imsec_sip_value_next(m, id, &it, &v, NULL) == 1)
    if (imsec_str_ieq_c(v, opt))
      return 1;
  return 0;
}

/* Rebuild a Digest header value parameter by parameter (unknown ones
 * kept), leaving out the names in `drop` and adding `add` at the end.
 * `username` (may be NULL) receives the username parameter (raw). */
static int digest_rewrite(ev *e, imsec_str in, const char *const *drop,
                          size_t ndrop, imsec_str add, imsec_str *out,
                          imsec_str *username) {
  imsec_cursor c;
  imsec_cursor_init(&c, in.p, in.len);
  imsec_str scheme;
  if (imsec_cursor_until(&c, ' ', &scheme) < 0 || !scheme.len)
    return IMSEC_ERR_PARSE;
  sb b = arena_sb(e->p);
  sb_put(&b, scheme);
  sb_putc(&b, " ");
  int n = 0, rv;
  imsec_str name, val;
  int quoted;
  while ((rv = imsec_digest_next_param(&c, &name, &val, &quoted)) == 1) {
    int skip = 0;
    for (size_t i = 0; i < ndrop; i++)
      skip |= imsec_str_ieq_c(name, drop[i]);
    if (username && imsec_str_ieq_c(name, "username"))
      *username = val;
    if (skip)
      continue;
    if (n++)
      sb_putc(&b, ", ");
    sb_put(&b, name);
    sb_putc(&b, quoted ? "=\"" : "=");
    sb_put(&b, val);
    if (quoted)
      sb_putc(&b, "\"");
  }
  if (rv < 0)
    return rv;
  if (add.len) {
    if (n)
      sb_putc(&b, ", ");
    sb_put(&b, add);
  }
  return sb_done(e->p, &b, out);
}

/* The username parameter of a Digest credentials value (raw), or an
 * error. */
static int digest_username(imsec_str in, imsec_str *out) {
  imsec_cursor c;
  imsec_cursor_init(&c, in.p, in.len);
  imsec_str scheme, name, val;
  int quoted, rv;
  if (imsec_cursor_until(&c, ' ', &scheme) < 0)
    return IMSEC_ERR_PARSE;
  while ((rv = imsec_digest_next_param(&c, &name, &val, &quoted)) == 1) {
    if (imsec_str_ieq_c(name, "username")) {
      *out = val;
      return 0;
    }
  }
  return rv < 0 ? rv : IMSEC_ERR_NOTFOUND;
}

/* TS 33.203 Annex N.1, Annex P.3: is this Digest value (credentials or
 * challenge) IMS AKA? An algorithm parameter names it (RFC 3310, RFC
 * 4169); without one, credentials with an empty nonce are the first
 * REGISTER of TS 24.229 §5.1.1.2.1 (no scheme chosen yet, `first_ok`),
 * anything else is MD5 (RFC 7616 §3.3, §3.4), i.e. SIP Digest. Another
 * scheme than Digest is not AKA either. */
static int digest_is_aka(imsec_str in, int first_ok) {
  imsec_cursor c;
  imsec_cursor_init(&c, in.p, in.len);
  imsec_str scheme, name, val, alg = S(""), nonce = S("");
  int quoted, rv, has_alg = 0;
  if (imsec_cursor_until(&c, ' ', &scheme) < 0 ||
      !imsec_str_ieq(scheme, S("Digest")))
    return 0;
  while ((rv = imsec_digest_next_param(&c, &name, &val, &quoted)) == 1) {
    if (imsec_str_ieq_c(name, "algorithm")) {
      alg = val;
      has_alg = 1;
    } else if (imsec_str_ieq_c(name, "nonce")) {
      nonce = val;
    }
  }
  if (rv < 0)
    return 0;
  if (!has_alg)
    return first_ok && !nonce.len;
  return imsec_str_ieq(alg, S("AKAv1-MD5")) ||
         imsec_str_ieq(alg, S("AKAv2-MD5"));
}

/* TS 33.203 Annex N.1: on 3GPP access a REGISTER must not use SIP
 * Digest. 0 fine (or not 3GPP access), -1 with the 403 in *r (logged). */
static int access_check(ev *e, imsec_sip_msg *m, refusal *r) {
  imsec_pcscf *p = e->p;
  if (!p->cfg.access_3gpp)
    return 0;
  for (const imsec_sip_hdr *h =
           imsec_sip_hdr_first(m, IMSEC_SIP_H_AUTHORIZATION);
       h; h = imsec_sip_hdr_next(m, h)) {
    if (digest_is_aka(h->value, 1))
      continue;
    LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), pc_num(p, e->f->id),
        S(": 403 SIP Digest not allowed on 3GPP access (TS 33.203 N.1)"));
    *r =
        (refusal){.code = 403, .reason = "Forbidden", .why = NULL, .logged = 1};
    return -1;
  }
  return 0;
}

/* RFC 3261 §16.4, RFC 5626 §4.2.1: a softphone names its P-CSCF as
 * outbound proxy in a Route. A REGISTER goes where the home domain says
 * (TS 24.229 §5.2.2.1), never where the UE steers it: every Route of the
 * UE is taken out, the one naming this P-CSCF silently, any other with a
 * line. */
static void drop_ue_routes(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = e->f;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  int foreign = 0;
  while (imsec_sip_addr_next(m, IMSEC_SIP_H_ROUTE, &it, &a) == 1) {
    imsec_sip_uri u;
    int me = 0;
    if (imsec_sip_uri_parse(a.uri, 64, &u) == 0 &&
        (u.scheme == IMSEC_SIP_SCHEME_SIP ||
         u.scheme == IMSEC_SIP_SCHEME_SIPS)) {
      uint16_t port = u.has_port
                          ? u.port
                          : (u.scheme == IMSEC_SIP_SCHEME_SIPS ? 5061 : 5060);
      imsec_str host = pc_bare_host(u.host);
      me = f->local_host[0] &&
           imsec_str_ieq(host, pc_bare_host(imsec_str_c(f->local_host))) &&
           (port == f->local_port || !u.has_port);
    }
    foreign |= !me;
  }
  if (foreign)
    LOG(e, IMSEC_LOG_DEBUG, S("REGISTER on flow "), pc_num(p, f->id),
        S(": a Route not naming this P-CSCF ignored (routed by home "
          "domain)"));
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_ROUTE);
}

/* ------------------------------------------------------------ REGISTER */

/* The domain's group: the index of its first route (failover.c). */
static long route_for(const imsec_pcscf *p, imsec_str domain) {
  for (size_t i = 0; i < p->cfg.n_routes; i++)
    if (domain.len &&
        imsec_str_ieq(domain, imsec_str_c(p->cfg.routes[i].domain)))
      return (long)i;
  return -1;
}

/* RFC 3329 §2.3.1 and §2.4, TS 24.229 §5.2.2 (lib/secagree): the offer,
 * and the echo of our list once a 401 carried it. Sets *offered_tls;
 * returns 0, or -1 with the refusal in *r. */
static int sec_agree(ev *e, imsec_sip_msg *m, refusal *r, int *offered_tls) {
  imsec_pcscf *p = e->p;
  flowrec *f = e->f;
  static const imsec_str ss_hdr[] = {S("Security-Server"),
                                     S(IMSEC_SECAGREE_SERVER)};
  static const imsec_str h421[] = {S("Require"), S("sec-agree"),
                                   S("Security-Server"),
                                   S(IMSEC_SECAGREE_SERVER)};
  imsec_secagree_list offer;
  imsec_str answer;
  if (imsec_secagree_parse_msg(m, IMSEC_SIP_H_SECURITY_CLIENT, &offer) < 0) {
    *r = (refusal){.code = 400,
                   .reason = "Bad Security-Client",
                   .why = "malformed Security-Client"};
    return -1;
  }
  int sc = offer.n > 0;
  *offered_tls = sc && imsec_secagree_answer(&offer, &answer) == 0;
  int sv = imsec_sip_msg_index(m, IMSEC_SIP_H_SECURITY_VERIFY) >= 0;
  int tagged = pc_has_option(m, IMSEC_SIP_H_REQUIRE, "sec-agree") ||
               pc_has_option(m, IMSEC_SIP_H_PROXY_REQUIRE, "sec-agree");
  if (p->cfg.require_sec_agree && !sc && !sv && !tagged) {
    LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), pc_num(p, f->id),
        S(": 421 Extension Required (sec-agree required by configuration)"));
    *r = (refusal){.code = 421,
                   .reason = "Extension Required",
                   .why = NULL,
                   .extra = h421,
                   .nextra = 4,
                   .logged = 1};
    return -1;
  }
  if (sc && !*offered_tls) {
    LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), pc_num(p, f->id),
        S(": 494 Security Agreement Required (no common mechanism)"));
    *r = (refusal){.code = 494,
                   .reason = "Security Agreement Required",
                   .why = NULL,
                   .extra = ss_hdr,
                   .nextra = 2,
                   .logged = 1};
    return -1;
  }
  if (!f->ss_sent && !sv)
    return 0;
  const char *why = NULL;
  if (!sv)
    why = "Security-Verify missing";
  else if (imsec_secagree_verify_msg(m, S(IMSEC_SECAGREE_SERVER)) < 0)
    why = "Security-Verify does not match Security-Server";
  if (why) {
    /* RFC 3329 §2.4: the echo protects the choice of mechanism. */
    LOG(e, IMSEC_LOG_WARN, S("downgrade attempt on flow "), pc_num(p, f->id),
        S(" from "), pc_addr_str(p, &f->peer), S(": "), imsec_str_c(why),
        S("; 494"));
    *r = (refusal){.code = 494,
                   .reason = "Security Agreement Required",
                   .why = why,
                   .extra = ss_hdr,
                   .nextra = 2,
                   .logged = 1};
    return -1;
  }
  /* The echo answered the challenge that carried Security-Server; a later
   * REGISTER without Security-Verify starts a new agreement and gets
   * Security-Server again in its 401. */
  if (f->ss_sent)
    f->verified = 1;
  f->ss_sent = 0;
  return 0;
}

/* TS 24.229 §5.2.2.1: the S-CSCFs of the UE's home network (Request-URI
 * host, else the To host): their group, or -1 with the refusal in *r. */
static long home_route(ev *e, imsec_sip_msg *m, refusal *r, imsec_str *dom,
                       imsec_str *to_uri) {
  imsec_pcscf *p = e->p;
  imsec_sip_uri ru, tu;
  *dom = S("");
  if (imsec_sip_uri_parse(m->ruri, 64, &ru) == 0 &&
      (ru.scheme == IMSEC_SIP_SCHEME_SIP || ru.scheme == IMSEC_SIP_SCHEME_SIPS))
    *dom = pc_bare_host(ru.host);
  long di = route_for(p, *dom);
  const imsec_sip_addr *to;
  if (imsec_sip_get_to(m, &to) < 0) {
    *r = (refusal){.code = 400, .reason = "Bad Request", .why = "no To"};
    return -1;
  }
  *to_uri = to->uri;
  if (di < 0 && imsec_sip_uri_parse(to->uri, 64, &tu) == 0 &&
      tu.scheme != IMSEC_SIP_SCHEME_TEL) {
    *dom = pc_bare_host(tu.host);
    di = route_for(p, *dom);
  }
  if (di < 0) {
    LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), pc_num(p, e->f->id),
        S(": 403 Domain not served ("), *dom, S(")"));
    *r = (refusal){
        .code = 403, .reason = "Domain not served", .why = NULL, .logged = 1};
  }
  return di;
}

/* Path with the flow token (RFC 3327, RFC 5626 §5.2), sec-agree out of
 * Require / Proxy-Require, Supported: path, P-Visited-Network-ID. */
static int add_path(ev *e, imsec_sip_msg *m, uint64_t bid) {
  imsec_pcscf *p = e->p;
  sb pb = arena_sb(p);
  sb_putc(&pb, "<sip:");
  int rv = pc_token_make(p, bid, &pb);
  sb_putc(&pb, "@");
  sb_putc(&pb, p->host_uri);
  sb_putc(&pb, ":");
  sb_u64(&pb, p->cfg.core.port);
  /* The S-CSCF reaches this P-CSCF the way the core listener runs: TLS
   * on Mw (TS 33.210 §5.2), TCP only when the daemon allows it. */
  sb_putc(&pb, ";transport=");
  sb_putc(&pb, imsec_tp_lower(p->cfg.core.tp));
  sb_putc(&pb, ";lr;ob>");
  imsec_str path;
  if (rv < 0 || sb_done(p, &pb, &path) < 0 ||
      strip_option(e, m, IMSEC_SIP_H_REQUIRE, "Require") < 0 ||
      strip_option(e, m, IMSEC_SIP_H_PROXY_REQUIRE, "Proxy-Require") < 0 ||
      (!pc_has_option(m, IMSEC_SIP_H_SUPPORTED, "path") &&
       imsec_sip_msg_insert(m, m->nhdrs, S("Supported"), S("path")) < 0) ||
      imsec_sip_msg_push_top(m, S("Path"), path) < 0)
    return IMSEC_ERR_NOBUF;
  if (p->cfg.visited_network[0]) {
    sb vb = arena_sb(p);
    sb_putc(&vb, "\"");
    sb_putc(&vb, p->cfg.visited_network);
    sb_putc(&vb, "\"");
    imsec_str vn;
    IMSEC_GUARD(sb_done(p, &vb, &vn));
    IMSEC_GUARD(
        imsec_sip_msg_insert(m, m->nhdrs, S("P-Visited-Network-ID"), vn));
  }
  return 0;
}

int pc_ue_register(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = e->f;
  refusal r = {0};
  txn *t = NULL;
  int pushed = 0, sc_tls = 0;
  imsec_str dom, to_uri;
  long gi, di = 0;

  if (sec_agree(e, m, &r, &sc_tls) < 0 ||
      (gi = home_route(e, m, &r, &dom, &to_uri)) < 0 ||
      access_check(e, m, &r) < 0)
    goto out;
  if (!f->bindings && imsec_map_len(&p->bindings) >= p->cfg.max_bindings) {
    r = (refusal){.code = 503,
                  .reason = "Service Unavailable",
                  .why = "binding table full",
                  .retry_after = IMSEC_PCSCF_RETRY_BUSY};
    goto out;
  }

  /* The Contact being registered and the expiry asked for. */
  imsec_str contact = S("");
  int64_t expires = -1;
  imsec_sip_iter ci = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr ca;
  if (imsec_sip_addr_next(m, IMSEC_SIP_H_CONTACT, &ci, &ca) == 1) {
    if (ca.star)
      expires = 0;
    else {
      contact = ca.uri;
      expires = ca.expires;
    }
  }
  uint32_t hexp;
  if (expires < 0 && imsec_sip_get_expires(m, &hexp) == 0)
    expires = hexp;
  if (expires < 0)
    expires = DEFAULT_EXPIRES;

  t = pc_txn_new(e);
  if (!t) {
    r = (refusal){.code = 503,
                  .reason = "Service Unavailable",
                  .why = "transaction table full",
                  .retry_after = IMSEC_PCSCF_RETRY_BUSY};
    goto out;
  }
  t->from_ue = 1;
  t->in_flow = f->id;
  t->is_register = 1;
  t->sa_offered = sc_tls;
  t->expires = (uint32_t)(expires > UINT32_MAX ? UINT32_MAX : expires);
  t->contact = pc_dup_str(contact);
  t->to_uri = pc_dup_str(to_uri);
  pc_txn_keep_answer(e, t, m);

  /* Authorization: integrity-protected (TS 24.229 §5.2.2.1, TS 33.203
   * Annex O): "tls-yes" once the connection is vouched for: this IMPI is
   * bound to it, or (nothing bound yet) the Security-Verify echo checked.
   * A connection bound to another IMPI vouches for nothing here, so a UE
   * cannot lend its connection to another identity. A value sent by the
   * UE is replaced, never trusted. */
  imsec_str user = S("");
  char ubuf[256];
  int ul = -1;
  const imsec_sip_hdr *ah = imsec_sip_hdr_first(m, IMSEC_SIP_H_AUTHORIZATION);
  if (ah && digest_username(ah->value, &user) == 0)
    ul = imsec_digest_unquote(user, ubuf, sizeof(ubuf));
  t->impi = pc_dup_str(ul > 0 ? (imsec_str){ubuf, (size_t)ul} : S(""));
  if (!t->impi) {
    r = (refusal){
        .code = 500, .reason = "Server Internal Error", .why = "out of memory"};
    goto out;
  }
  /* M2a: a flow with a client certificate registers its IMPI only. */
  if (pc_m2_register_check(e, t->impi, &r) < 0)
    goto out;
  /* Mode M3: a PSK flow registers its PSK's IMPI only. */
  if (pc_psk_register_check(e, t->impi, &r) < 0)
    goto out;
  /* SIP Digest softphones often send the user part alone as username; the
   * S-CSCF reads it as user@home-domain, and so does the binding here
   * (TS 33.203 O.2), so that "alice" of two home networks served by this
   * P-CSCF are two IMPIs, not one binding taken over by the other. */
  if (t->impi[0] && !strchr(t->impi, '@')) {
    sb qb = arena_sb(p);
    sb_putc(&qb, t->impi);
    sb_putc(&qb, "@");
    sb_put(&qb, dom);
    imsec_str q;
    char *qi = sb_done(p, &qb, &q) == 0 ? pc_dup_str(q) : NULL;
    if (!qi) {
      r = (refusal){.code = 500,
                    .reason = "Server Internal Error",
                    .why = "out of memory"};
      goto out;
    }
    free(t->impi);
    t->impi = qi;
  }
  binding *cur = t->impi[0] ? pc_binding_find(p, f, t->impi) : NULL;
  int vouched = cur != NULL;
  /* Which member of the group (failover.c): a registration refreshed
   * stays with its S-CSCF while it lives, and so does the answer to a
   * challenge (the S-CSCF that sent the 401 holds its nonce); a new one
   * goes to the first live member, or is spread by weight. */
  size_t keep = cur ? cur->dest + 1 : f->chal_dest;
  if (keep && !p->dests[keep - 1].dead && pc_group_of_dest(p, keep - 1) == gi)
    di = (long)keep - 1;
  else if ((di = pc_group_pick(p, (size_t)gi, 0, 1)) < 0)
    di = (long)p->route_dest[gi];
  t->dest = (size_t)di;
  /* The Path token names the binding the 200 makes or refreshes: a
   * re-registration on the same flow keeps its binding's name. */
  t->bid = cur ? cur->id : pc_binding_id_next(p);
  if (!f->bindings && f->verified)
    vouched = 1;
  const char *ip = vouched ? "integrity-protected=\"tls-yes\""
                           : "integrity-protected=\"tls-pending\"";
  static const char *const drop_ip[] = {"integrity-protected"};
  for (const imsec_sip_hdr *h =
           imsec_sip_hdr_first(m, IMSEC_SIP_H_AUTHORIZATION);
       h; h = imsec_sip_hdr_next(m, h)) {
    imsec_str nv;
    if (digest_rewrite(e, h->value, drop_ip, 1, imsec_str_c(ip), &nv, NULL) <
            0 ||
        imsec_sip_msg_replace(m, (size_t)(h - m->hdrs), nv) < 0) {
      r = (refusal){.code = 400,
                    .reason = "Bad Request",
                    .why = "malformed Authorization"};
      goto out;
    }
  }
  if (!t->contact || !t->to_uri) {
    r = (refusal){
        .code = 500, .reason = "Server Internal Error", .why = "out of memory"};
    goto out;
  }

  /* TS 24.229 §5.2.2.1: Security-* and sec-agree stay between UE and
   * P-CSCF; nothing the UE asserts about itself. */
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_SECURITY_CLIENT);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_SECURITY_VERIFY);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_VISITED_NETWORK_ID);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_PATH); /* a UE is no proxy */
  drop_ue_routes(e, m);
  r = (refusal){.code = 500,
                .reason = "Server Internal Error",
                .why = "cannot edit REGISTER"};
  if (add_path(e, m, t->bid) < 0 ||
      pc_push_via(e, m, t, p->dests[di].addr.tp) < 0)
    goto out;
  pushed = 1;
  if (pc_dec_max_forwards(e, m) < 0)
    goto out;
  /* The request is edited: m's typed views are gone, the slices we logged
   * stay valid (they point into the input buffer or the arena). A group
   * of two or more: the copy kept to send again (failover.c), and a
   * shorter wait before the next member is tried. */
  int n = imsec_sip_msg_serialize(m, p->outbuf, p->outcap);
  if (n >= 0 && pc_group_size(p, (size_t)gi) > 1 &&
      (t->fwd = malloc((size_t)n))) {
    memcpy(t->fwd, p->outbuf, (size_t)n);
    t->fwd_len = (size_t)n;
    t->tried = (uint32_t)1 << di;
    imsec_time_ms w = p->cfg.failover_timeout_ms;
    if (w > p->cfg.transaction_timeout_ms)
      w = p->cfg.transaction_timeout_ms;
    t->deadline = e->now + w;
    pc_arm(e, t->deadline);
  }
  if (n < 0 || pc_send_raw(e, (size_t)di, (size_t)n, t) < 0) {
    r = (refusal){.code = 503,
                  .reason = "Service Unavailable",
                  .why = "S-CSCF queue full or unreachable",
                  .retry_after = IMSEC_PCSCF_RETRY_CORE};
    goto out;
  }
  /* Without Authorization (a softphone's first REGISTER) there is no
   * IMPI yet and nothing was marked. */
  int authz = ah != NULL;
  LOG(e, IMSEC_LOG_INFO, S("REGISTER from flow "), pc_num(p, f->id),
      S(" IMPI "), authz ? imsec_str_c(t->impi) : S("(none yet)"), S(" -> "),
      dom, S(" at "), pc_addr_str(p, &p->dests[di].addr), S(" ("),
      authz ? imsec_str_c(ip) : S("no Authorization"),
      sc_tls ? S(", sec-agree") : S(""), S(")"));
  return 0;
out:
  if (t)
    pc_txn_clear(p, t);
  if (pushed) /* answer with the UE's Vias only */
    (void)pc_pop_top(m, IMSEC_SIP_H_VIA);
  return pc_refuse_with(e, m, &r);
}

/* TS 33.203 O.4, TS 24.229 §5.2.2.1: on the 200 to a REGISTER, bind the
 * registration to the UE's TLS connection (or drop it on de-registration). */
static void register_ok(ev *e, txn *t, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = pc_flow_find(p, t->in_flow);
  if (!f || f->core)
    return;
  /* Only the S-CSCF the REGISTER went to may bind identities to a UE's
   * flow (TS 24.229 §5.2.2.1; on_response already holds to this). */
  if (!e->f || !t->out_flow || e->f->id != t->out_flow)
    return;
  int64_t exp = -1;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  while (imsec_sip_addr_next(m, IMSEC_SIP_H_CONTACT, &it, &a) == 1) {
    if (!a.star && t->contact[0] &&
        pc_uri_text_eq(a.uri, imsec_str_c(t->contact))) {
      exp = a.expires;
      break;
    }
  }
  uint32_t hexp;
  if (exp < 0 && imsec_sip_get_expires(m, &hexp) == 0)
    exp = hexp;
  if (exp < 0)
    exp = t->expires;
  if (t->expires == 0)
    exp = 0;
  if (!t->impi[0]) {
    /* No Authorization, so no IMPI to bind (TS 33.203 O.2 binds the
     * digest username): an S-CSCF that registers without authenticating
     * vouches for nobody on this connection. */
    LOG(e, IMSEC_LOG_WARN,
        S("200 to a REGISTER without Authorization on flow "), pc_num(p, f->id),
        S(": nothing bound"));
    return;
  }
  binding *b = pc_binding_find(p, f, t->impi);
  if (exp == 0) {
    pc_psk_gone(e, t->impi);
    /* The registrar removed the registration: the IMPI's binding goes
     * wherever it is (M2b, M3: it may sit on another flow, or none). */
    if (!b && t->impi[0])
      b = imsec_map_sget(&p->bindings, imsec_str_c(t->impi));
    if (b) {
      pc_binding_unlink(p, b);
      LOG(e, IMSEC_LOG_INFO, S("de-registered IMPI "), imsec_str_c(t->impi),
          S(" on flow "), pc_num(p, f->id), S("; binding removed"));
    }
    return;
  }
  strlist impus = {0}, routes = {0};
  imsec_sip_iter pi = IMSEC_SIP_ITER_INIT;
  int rv;
  while ((rv = imsec_sip_addr_next(m, IMSEC_SIP_H_P_ASSOCIATED_URI, &pi, &a)) ==
         1) {
    if (pc_strlist_add(&impus, a.uri) < 0)
      goto fail;
  }
  if (!impus.n && pc_strlist_add(&impus, imsec_str_c(t->to_uri)) < 0)
    goto fail;
  imsec_sip_iter si = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  while (imsec_sip_value_next(m, IMSEC_SIP_H_SERVICE_ROUTE, &si, &v, NULL) ==
         1) {
    if (pc_strlist_add(&routes, v) < 0)
      goto fail;
  }
  if (!b) {
    if (imsec_map_len(&p->bindings) >= p->cfg.max_bindings) {
      LOG(e, IMSEC_LOG_WARN, S("binding table full: IMPI "),
          imsec_str_c(t->impi), S(" on flow "), pc_num(p, f->id),
          S(" not bound"));
      goto fail;
    }
    if (!(b = pc_binding_new(p, f, t->impi, t->bid)))
      goto fail;
  } else if (pc_binding_set_id(p, b, t->bid) < 0) {
    /* The S-CSCF keeps the Path of the REGISTER it answered last. */
    pc_binding_unlink(p, b);
    goto fail;
  }
  char *contact = pc_dup_str(imsec_str_c(t->contact));
  if (!contact) {
    pc_binding_unlink(p, b);
    goto fail;
  }
  free(b->contact);
  b->contact = contact;
  pc_strlist_free(&b->impus);
  pc_strlist_free(&b->routes);
  b->impus = impus;
  b->routes = routes;
  b->dest = t->dest;
  b->expires_at = e->now + exp * 1000;
  if (pc_m2_binding_made(e, b, f) < 0) {
    pc_binding_unlink(p, b);
    LOG(e, IMSEC_LOG_WARN, S("could not bind IMPI "), imsec_str_c(t->impi));
    return;
  }
  pc_arm(e, b->expires_at);
  (void)imsec_out_keep(e->out, f->id);
  pc_psk_registered(e, f->id, b->impi, b->expires_at);
  LOG(e, IMSEC_LOG_INFO, S("registered IMPI "), imsec_str_c(b->impi),
      S(" IMPUs "), imsec_str_c(impus.buf), impus.n > 1 ? S(" ...") : S(""),
      S(" bound to flow "), pc_num(p, f->id), S(" ("), pc_addr_str(p, &f->peer),
      S("), expires in "), pc_num(p, (uint64_t)exp), S(" s"));
  return;
fail:
  pc_strlist_free(&impus);
  pc_strlist_free(&routes);
  LOG(e, IMSEC_LOG_WARN, S("could not bind IMPI "), imsec_str_c(t->impi));
}

/* TS 24.229 §5.2.2.1: CK and IK are for the P-CSCF only; they never reach
 * the UE. Every challenge of a response bound for the UE loses its ck= and
 * ik=, whatever the status or method; one that cannot be rewritten (a
 * scheme that is not a token, a malformed parameter, no room) goes as a
 * whole rather than as it came. */
/* RFC 3261 §25.1 token (an auth-scheme is one, RFC 7235 §2.1). */
static int scheme_ok(imsec_str v) {
  size_t n = 0;
  while (n < v.len && v.p[n] != ' ')
    n++;
  if (!n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = v.p[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || strchr("-.!%*_+`'~", c)))
      return 0;
  }
  return 1;
}

/* 1 when the challenge is "scheme params" with no ck or ik among the
 * params: it goes to the UE as the S-CSCF wrote it (RFC 8760 §3: the
 * order and text of each challenge are the S-CSCF's). */
static int challenge_clean(imsec_str v) {
  if (!scheme_ok(v))
    return 0;
  imsec_cursor c;
  imsec_cursor_init(&c, v.p, v.len);
  imsec_str scheme, name, val;
  int quoted, rv;
  if (imsec_cursor_until(&c, ' ', &scheme) < 0)
    return 0;
  while ((rv = imsec_digest_next_param(&c, &name, &val, &quoted)) == 1)
    if (imsec_str_ieq_c(name, "ck") || imsec_str_ieq_c(name, "ik"))
      return 0;
  return rv == 0;
}

int pc_strip_aka_keys(ev *e, imsec_sip_msg *m) {
  static const char *const drop_keys[] = {"ck", "ik"};
  for (size_t i = 0; i < m->nhdrs;) {
    const imsec_sip_hdr *h = &m->hdrs[i];
    if ((h->id != IMSEC_SIP_H_WWW_AUTHENTICATE &&
         h->id != IMSEC_SIP_H_PROXY_AUTHENTICATE) ||
        challenge_clean(h->value)) {
      i++;
      continue;
    }
    /* What is not "scheme params" could hide ck= where a lenient UE
     * still finds it (in the scheme's place, "Digest,ck=..."). */
    imsec_str nv;
    if (scheme_ok(h->value) &&
        digest_rewrite(e, h->value, drop_keys, 2, S(""), &nv, NULL) == 0 &&
        imsec_sip_msg_replace(m, i, nv) == 0) {
      i++;
      continue;
    }
    LOG(e, IMSEC_LOG_WARN,
        S("a challenge to the UE could not be rewritten "
          "without ck/ik: removed"));
    if (imsec_sip_msg_remove(m, i) < 0)
      return IMSEC_ERR_INTERNAL;
  }
  return 0;
}

/* TS 33.203 Annex N.1: on 3GPP access a 401 that offers no IMS AKA (SIP
 * Digest only) does not reach the UE (1: refuse it); one that offers AKA
 * besides goes without the other challenges, so that the UE is offered
 * only what it may use here. */
static int access_filter_401(ev *e, imsec_sip_msg *m) {
  if (!e->p->cfg.access_3gpp)
    return 0;
  int aka = 0, other = 0;
  for (const imsec_sip_hdr *h =
           imsec_sip_hdr_first(m, IMSEC_SIP_H_WWW_AUTHENTICATE);
       h; h = imsec_sip_hdr_next(m, h)) {
    if (digest_is_aka(h->value, 0))
      aka = 1;
    else
      other = 1;
  }
  if (!aka)
    return other;
  for (size_t i = 0; other && i < m->nhdrs;) {
    const imsec_sip_hdr *h = &m->hdrs[i];
    if (h->id == IMSEC_SIP_H_WWW_AUTHENTICATE && !digest_is_aka(h->value, 0) &&
        imsec_sip_msg_remove(m, i) == 0)
      continue;
    i++;
  }
  return 0;
}

int pc_register_response(ev *e, txn *t, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  if (m->status == 401 && access_filter_401(e, m)) {
    LOG(e, IMSEC_LOG_WARN, S("401 for IMPI "), imsec_str_c(t->impi),
        S(" on flow "), pc_num(p, t->in_flow),
        S(" offers SIP Digest only, not allowed on 3GPP access "
          "(TS 33.203 N.1): 403 to the UE"));
    return 1;
  }
  if (m->status == 401) {
    /* Mode M3 (psk.c): the keys of an AKA-derived PSK, taken first. */
    pc_psk_on_401(e, t, m);
    /* CK and IK leave the 401 in pc_strip_aka_keys before it is relayed. */
    flowrec *f = pc_flow_find(p, t->in_flow);
    if (f)
      f->chal_dest = t->dest + 1; /* the answer goes where the nonce is */
    if (t->sa_offered) {
      /* RFC 3329 §2.3.1: the server's list, echoed back by the UE. */
      if (f && imsec_sip_msg_insert(m, m->nhdrs, S("Security-Server"),
                                    S(IMSEC_SECAGREE_SERVER)) == 0)
        f->ss_sent = 1;
    }
  } else if (m->status >= 200 && m->status < 300) {
    register_ok(e, t, m);
  }
  return 0;
}
