/*
 * SIP Digest for a terminal without an ISIM (TS 33.203 Annexes N and O,
 * RFC 7616, RFC 8760; docs/DIGEST.md "UE"): the password instead of K and
 * OPc, the challenge chosen among those offered (SHA-256 before MD5,
 * qop=auth only), the credentials with our own cnonce and nc, the nonce
 * used again with nc + 1 for the next REGISTER, rspauth in the 200's
 * Authentication-Info checked, and the same credentials for a
 * Proxy-Authenticate (407) of the S-CSCF on a MESSAGE or an INVITE.
 *
 * The trust decision on the P-CSCF is the AKA one (DESIGN.md §3): the
 * realm of the registrar's challenge must pass it before any credential
 * leaves, and a proxy challenge is answered only for that same realm.
 */
#include <string.h>

#include "imsec/digest.h"
#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

int ue_digest_config(imsec_ue *ue, const imsec_ue_config *cfg) {
  ue_digest *d = &ue->dig;
  if (cfg->password_len == 0)
    return cfg->digest_username ? IMSEC_ERR_CONFIG : 0;
  if (cfg->password_len > sizeof(d->password) || cfg->aka_psk)
    return IMSEC_ERR_CONFIG; /* an AKA-derived PSK needs an AKA run */
  const char *user = cfg->digest_username ? cfg->digest_username : cfg->impi;
  imsec_str u = imsec_str_c(user ? user : "");
  /* The username goes into a quoted-string: no quotes, no escapes. */
  if (!u.len || !ue_text_ok(u) || imsec_str_find(u, '"') >= 0 ||
      imsec_str_find(u, '\\') >= 0 ||
      imsec_str_copy(u, d->username, sizeof(d->username)) < 0)
    return IMSEC_ERR_CONFIG;
  memcpy(d->password, cfg->password, cfg->password_len);
  d->password_len = cfg->password_len;
  return 0;
}

static void nc_text(uint32_t v, char out[9]) {
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < 8; i++)
    out[7 - i] = hx[(v >> (4 * i)) & 15];
  out[8] = '\0';
}

/* Copy a challenge parameter out unescaped; 0, or <0 when it does not fit
 * or holds control characters. */
static int take_param(imsec_str v, char *dst, size_t cap) {
  if (imsec_digest_unquote(v, dst, cap) < 0 || !ue_text_ok(S(dst)))
    return IMSEC_ERR_PARSE;
  return 0;
}

int ue_digest_pick(imsec_sip_msg *m, imsec_sip_hid id, ue_dg_chal *out,
                   ue_dg_offer *seen) {
  memset(seen, 0, sizeof(*seen));
  out->valid = 0;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  ue_dg_chal tmp;
  while (imsec_sip_auth_next(m, id, &it, &raw) > 0) {
    imsec_digest_params ch;
    imsec_digest_alg alg;
    if (imsec_digest_parse_challenge(raw, &ch) < 0 ||
        imsec_digest_alg_parse(ch.algorithm, &alg) < 0)
      continue; /* another scheme or algorithm (RFC 7616 §3.7) */
    if (alg == IMSEC_DIGEST_AKAV1_MD5 || alg == IMSEC_DIGEST_AKAV2_MD5) {
      seen->aka++;
      continue;
    }
    /* RFC 7616 §3.3: qop is what lets the client add its cnonce and the
     * server prove itself with rspauth; a challenge without "auth" is
     * the RFC 2069 form, which this UE does not answer. */
    if (!(ch.present & IMSEC_DIGEST_P_QOP) ||
        !imsec_digest_qop_has(ch.qop, "auth")) {
      seen->no_qop++;
      continue;
    }
    /* SHA-256 over MD5 whatever the order (RFC 8760 §3 lists SHA-256
     * first; reordering the fields must not downgrade us), else the
     * topmost we support (RFC 7616 §3.7). */
    if (out->valid &&
        !(alg == IMSEC_DIGEST_SHA256 && out->alg != IMSEC_DIGEST_SHA256))
      continue;
    memset(&tmp, 0, sizeof(tmp));
    tmp.alg = alg;
    if (take_param(ch.realm, tmp.realm, sizeof(tmp.realm)) < 0 ||
        take_param(ch.nonce, tmp.nonce, sizeof(tmp.nonce)) < 0 ||
        !tmp.nonce[0] ||
        ((ch.present & IMSEC_DIGEST_P_OPAQUE) &&
         take_param(ch.opaque, tmp.opaque, sizeof(tmp.opaque)) < 0)) {
      seen->bad++;
      continue;
    }
    tmp.has_opaque = (ch.present & IMSEC_DIGEST_P_OPAQUE) != 0;
    tmp.stale = (ch.present & IMSEC_DIGEST_P_STALE) &&
                imsec_str_ieq_c(ch.stale, "true");
    tmp.valid = 1;
    *out = tmp;
  }
  return out->valid ? 0 : IMSEC_ERR_UNSUPPORTED;
}

int ue_digest_credentials(imsec_ue *ue, ue_dg_chal *ch, const char *method,
                          const char *uri, char *out, size_t cap) {
  ue_digest *d = &ue->dig;
  if (!ch->valid || !d->password_len)
    return IMSEC_ERR_STATE;
  if (ch->nc == UINT32_MAX)
    return IMSEC_ERR_LIMIT;
  if (imsec_str_copy(S(uri), ch->uri, sizeof(ch->uri)) < 0)
    return IMSEC_ERR_NOBUF;
  /* RFC 7616 §3.4: a fresh cnonce from the CSPRNG and the next nc under
   * this nonce (the server refuses an nc it has seen). */
  IMSEC_GUARD(ue_rand_hex(ue, ch->cnonce, sizeof(ch->cnonce), 16));
  ch->nc++;
  char nc[9];
  nc_text(ch->nc, nc);
  imsec_digest_input in = {
      .hash = imsec_digest_alg_hash(ch->alg),
      .username = S(d->username),
      .realm = S(ch->realm),
      .password = {d->password, d->password_len},
      .method = S(method),
      .uri = S(ch->uri),
      .nonce = S(ch->nonce),
      .qop = IMSEC_DIGEST_QOP_AUTH,
      .nc = S(nc),
      .cnonce = S(ch->cnonce),
  };
  char resp[2 * IMSEC_HASH_MAX_LEN + 1];
  int n = imsec_digest_response(ue->crypto, &in, resp, sizeof(resp));
  if (n >= 0) {
    imsec_digest_params p = {0};
    p.username = S(d->username);
    p.realm = S(ch->realm);
    p.nonce = S(ch->nonce);
    p.uri = S(ch->uri);
    p.response = S(resp);
    p.algorithm = S(imsec_digest_alg_name(ch->alg));
    p.qop = IMSEC_STR_LIT("auth");
    p.nc = S(nc);
    p.cnonce = S(ch->cnonce);
    p.present = IMSEC_DIGEST_P_USERNAME | IMSEC_DIGEST_P_REALM |
                IMSEC_DIGEST_P_NONCE | IMSEC_DIGEST_P_URI |
                IMSEC_DIGEST_P_RESPONSE | IMSEC_DIGEST_P_ALGORITHM |
                IMSEC_DIGEST_P_QOP | IMSEC_DIGEST_P_NC | IMSEC_DIGEST_P_CNONCE;
    if (ch->has_opaque) {
      p.opaque = S(ch->opaque);
      p.present |= IMSEC_DIGEST_P_OPAQUE;
    }
    n = imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &p, out, cap);
  }
  imsec_wipe(resp, sizeof(resp));
  return n < 0 ? n : 0;
}

/* The parameters of an Authentication-Info value (RFC 7616 §3.5): no
 * scheme, a list of auth-params. Each found one is copied out unescaped;
 * returns 0, or <0 when the list cannot be read. */
typedef struct auth_info {
  char rspauth[2 * IMSEC_HASH_MAX_LEN + 1];
  char cnonce[64], nc[16], qop[16], nextnonce[UE_NONCE_CAP];
  int has_rspauth, has_cnonce, has_nc, has_qop, has_nextnonce;
} auth_info;

static int parse_auth_info(imsec_str v, auth_info *ai) {
  memset(ai, 0, sizeof(*ai));
  imsec_cursor c;
  imsec_cursor_init(&c, v.p, v.len);
  imsec_str name, val;
  int quoted, rv;
  while ((rv = imsec_digest_next_param(&c, &name, &val, &quoted)) > 0) {
    char *dst = NULL;
    size_t cap = 0;
    int *has = NULL;
    if (imsec_str_ieq_c(name, "rspauth"))
      dst = ai->rspauth, cap = sizeof(ai->rspauth), has = &ai->has_rspauth;
    else if (imsec_str_ieq_c(name, "cnonce"))
      dst = ai->cnonce, cap = sizeof(ai->cnonce), has = &ai->has_cnonce;
    else if (imsec_str_ieq_c(name, "nc"))
      dst = ai->nc, cap = sizeof(ai->nc), has = &ai->has_nc;
    else if (imsec_str_ieq_c(name, "qop"))
      dst = ai->qop, cap = sizeof(ai->qop), has = &ai->has_qop;
    else if (imsec_str_ieq_c(name, "nextnonce"))
      dst = ai->nextnonce, cap = sizeof(ai->nextnonce),
      has = &ai->has_nextnonce;
    if (!dst)
      continue; /* RFC 7616 §3.5: others are ignored */
    if (*has || take_param(val, dst, cap) < 0)
      return IMSEC_ERR_PARSE;
    *has = 1;
  }
  return rv < 0 ? rv : 0;
}

/* 1 when rspauth proves the server knows our H(A1) for the credentials
 * the REGISTER carried (RFC 7616 §3.5), else 0. */
static int rspauth_ok(imsec_ue *ue, const ue_dg_chal *ch, const auth_info *ai) {
  ue_digest *d = &ue->dig;
  char nc[9];
  nc_text(ch->nc, nc);
  /* What the server echoes must be what we sent. */
  if ((ai->has_cnonce &&
       strcmp(ai->cnonce, ch->cnonce) != 0) || /* no secret: our cnonce */
      (ai->has_nc && !imsec_str_ieq_c(S(ai->nc), nc)) ||
      (ai->has_qop && !imsec_str_ieq_c(S(ai->qop), "auth")))
    return 0;
  imsec_hash_alg h = imsec_digest_alg_hash(ch->alg);
  size_t hl = imsec_hash_len(h);
  if (strlen(ai->rspauth) != 2 * hl)
    return 0;
  char got[2 * IMSEC_HASH_MAX_LEN];
  for (size_t i = 0; i < 2 * hl; i++) {
    int c = (unsigned char)ai->rspauth[i];
    if (!imsec_is_hexdigit(c))
      return 0;
    got[i] = (char)imsec_to_lower(c);
  }
  uint8_t ha1[IMSEC_HASH_MAX_LEN];
  char want[2 * IMSEC_HASH_MAX_LEN + 1];
  int ok = 0;
  int n = imsec_digest_ha1(ue->crypto, h, S(d->username), S(ch->realm),
                           (imsec_bytes){d->password, d->password_len}, ha1,
                           sizeof(ha1));
  if (n == (int)hl) {
    imsec_digest_params p = {0};
    p.username = S(d->username);
    p.realm = S(ch->realm);
    p.nonce = S(ch->nonce);
    p.uri = S(ch->uri);
    p.qop = IMSEC_STR_LIT("auth");
    p.nc = S(nc);
    p.cnonce = S(ch->cnonce);
    p.present = IMSEC_DIGEST_P_USERNAME | IMSEC_DIGEST_P_REALM |
                IMSEC_DIGEST_P_NONCE | IMSEC_DIGEST_P_URI | IMSEC_DIGEST_P_QOP |
                IMSEC_DIGEST_P_NC | IMSEC_DIGEST_P_CNONCE;
    if (imsec_digest_rspauth(ue->crypto, &p, ch->alg, (imsec_bytes){ha1, hl},
                             want, sizeof(want)) == (int)(2 * hl))
      ok = imsec_ct_eq(want, got, 2 * hl);
  }
  imsec_wipe(ha1, sizeof(ha1));
  imsec_wipe(want, sizeof(want));
  return ok;
}

int ue_digest_check_2xx(imsec_ue *ue, imsec_sip_msg *m, imsec_out *out) {
  ue_digest *d = &ue->dig;
  if (!d->password_len || !d->reg_sent || !d->reg.valid)
    return 0; /* no credentials went with this REGISTER */
  d->reg_sent = 0;
  const imsec_sip_hdr *h =
      imsec_sip_hdr_first(m, IMSEC_SIP_H_AUTHENTICATION_INFO);
  if (!h)
    return 0; /* RFC 7616 §3.5: the server may leave it out */
  auth_info ai;
  int ok = parse_auth_info(h->value, &ai) == 0 && ai.has_rspauth &&
           rspauth_ok(ue, &d->reg, &ai);
  if (!ok) {
    d->reg.valid = 0;
    ue_set_error(ue,
                 "registration failed: rspauth in Authentication-Info does "
                 "not verify: the network did not prove it knows the "
                 "password (RFC 7616 §3.5)",
                 IMSEC_STR_NULL, "");
    return IMSEC_ERR_AUTH;
  }
  /* RFC 7616 §3.5: the nonce the server wants next, from nc 1. */
  if (ai.has_nextnonce && ai.nextnonce[0]) {
    memcpy(d->reg.nonce, ai.nextnonce, sizeof(d->reg.nonce));
    d->reg.nc = 0;
  }
  LOG(out, IMSEC_LOG_INFO,
      S("digest: rspauth verified (the network knows the password)"));
  return 0;
}

int ue_digest_reuse(imsec_ue *ue, const char *uri, char *out, size_t cap) {
  ue_digest *d = &ue->dig;
  d->reg_sent = 0;
  /* Only on a flow that passed the whole trust decision with this realm:
   * on a new one the challenge comes first (DESIGN.md §3). */
  if (!d->password_len || !d->reg.valid || !ue->trusted)
    return 0;
  if (ue_digest_credentials(ue, &d->reg, "REGISTER", uri, out, cap) < 0) {
    d->reg.valid = 0;
    return 0;
  }
  d->reg_sent = 1;
  return 1;
}

/* The answer to the registrar's 401 (TS 24.229 §5.1.1.5.1 with Annex N
 * of TS 33.203): trust, then credentials. Returns 0 (answered) or as
 * ue_h_rsp_401 expects: IMSEC_ERR_TRUST, or a code with ue->error set. */
int ue_digest_answer_401(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                         imsec_out *out) {
  ue_digest *d = &ue->dig;
  ue_dg_chal ch;
  ue_dg_offer seen;
  int had = d->reg_sent;
  d->reg_sent = 0;
  if (ue_digest_pick(m, IMSEC_SIP_H_WWW_AUTHENTICATE, &ch, &seen) < 0) {
    ue_set_error(
        ue,
        seen.aka ? "registration failed: the network asks for IMS AKA; this "
                   "terminal has no ISIM (SIP Digest with a password only)"
        : seen.no_qop
            ? "registration failed: the 401 offers SIP Digest without "
              "qop=auth (RFC 7616 §3.3); not answered"
            : "registration failed: the 401 carries no SIP Digest challenge "
              "(MD5 or SHA-256) this terminal can answer",
        IMSEC_STR_NULL, "");
    return IMSEC_ERR_UNSUPPORTED;
  }
  LOG(out, IMSEC_LOG_INFO, S("<- 401 Unauthorized (realm "), S(ch.realm),
      S(", "), S(imsec_digest_alg_name(ch.alg)),
      S(ch.stale ? ", stale nonce)" : ")"));
  /* RFC 3261 §26.3.2.1 / DESIGN.md §3: decide on the P-CSCF before the
   * password is used towards it; the realm must be the home domain. */
  if (!ue_decide_trust(ue, ch.realm, out))
    return IMSEC_ERR_TRUST;
  if (had && ch.stale)
    LOG(out, IMSEC_LOG_INFO,
        S("digest: the nonce we used again has expired (stale=true): "
          "answering the new one, not a failure"));
  d->reg = ch;
  ue->challenges++;
  char uri[UE_TEXT + 8], authz[UE_AUTH_CAP];
  imsec_sbuf b;
  imsec_sbuf_init(&b, uri, sizeof(uri));
  imsec_sbuf_add(&b, "sip:");
  imsec_sbuf_add(&b, ue->home_domain);
  int rv =
      ue_digest_credentials(ue, &d->reg, "REGISTER", uri, authz, sizeof(authz));
  if (rv >= 0)
    rv = ue_send_register(ue, authz, ue->reg_expires, NULL, now, out);
  imsec_wipe(authz, sizeof(authz));
  if (rv < 0) {
    d->reg.valid = 0;
    ue_set_error(ue, "cannot answer the challenge: ", S(imsec_strerror(rv)),
                 "");
    return rv;
  }
  d->reg_sent = 1;
  char cs[16];
  ue_num_text(ue->cseq, cs, sizeof(cs));
  LOG(out, IMSEC_LOG_INFO, S("-> REGISTER (cseq "), S(cs), S(", "),
      S(imsec_digest_alg_name(ch.alg)), S(" response, qop=auth, as "),
      S(d->username), S(")"));
  ue->st = UE_ST_AUTHENTICATING;
  return 0;
}

int ue_digest_answer_proxy(imsec_ue *ue, imsec_sip_msg *m, const char *method,
                           const char *uri, char *out, size_t cap,
                           imsec_out *lo) {
  ue_digest *d = &ue->dig;
  ue_dg_offer seen;
  if (!d->password_len) {
    LOG(lo, IMSEC_LOG_WARN, S("<- 407 to "), S(method),
        S(": a password challenge, and this UE has none (ISIM)"));
    return IMSEC_ERR_UNSUPPORTED;
  }
  if (ue_digest_pick(m, IMSEC_SIP_H_PROXY_AUTHENTICATE, &d->proxy, &seen) < 0) {
    LOG(lo, IMSEC_LOG_WARN, S("<- 407 to "), S(method),
        S(": no SIP Digest challenge with qop=auth to answer"));
    return IMSEC_ERR_UNSUPPORTED;
  }
  /* The password goes only to the realm the registration trusted
   * (DESIGN.md §3): the home domain. */
  if (!ue->trusted || !imsec_str_ieq(S(d->proxy.realm), S(ue->home_domain))) {
    LOG(lo, IMSEC_LOG_WARN, S("<- 407 to "), S(method), S(": realm "),
        S(d->proxy.realm), S(" is not the home domain; not answered"));
    d->proxy.valid = 0;
    return IMSEC_ERR_TRUST;
  }
  int rv = ue_digest_credentials(ue, &d->proxy, method, uri, out, cap);
  if (rv < 0)
    return rv;
  LOG(lo, IMSEC_LOG_INFO, S("<- 407 Proxy Authentication Required ("),
      S(method), S(", "), S(imsec_digest_alg_name(d->proxy.alg)),
      S("): sending it again with Proxy-Authorization"));
  return 0;
}

int ue_digest_proxy_reuse(imsec_ue *ue, const char *method, const char *uri,
                          char *out, size_t cap) {
  ue_digest *d = &ue->dig;
  /* Only the home realm's nonce, on the connection that passed the trust
   * decision (DESIGN.md §3), as for the registrar's. */
  if (!d->password_len || !d->proxy.valid || !ue->trusted)
    return 0;
  if (ue_digest_credentials(ue, &d->proxy, method, uri, out, cap) < 0) {
    d->proxy.valid = 0;
    return 0;
  }
  return 1;
}
