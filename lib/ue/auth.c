/*
 * Authentication (TS 33.203 §6.1, RFC 3310, RFC 4169): the 401 to a
 * REGISTER, the trust decision on its realm, the AUTN check through lib/aka
 * (MAC-A, SQN against TS 33.102 Annex C), and the answer: the RES, the AUTS
 * of a resynchronisation (§6.1.3) or the empty response of a MAC failure
 * (§6.1.2.2). An accepted SQN is made durable (a PERSIST of
 * IMSEC_SVC_UE_SQN) before the REGISTER with the RES leaves: the host holds
 * the SEND behind it and answers through on_reply.
 */
#include <string.h>

#include "imsec/digest.h"
#include "imsec/secagree.h"
#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

static int fail(imsec_ue *ue, const char *why, int rv) {
  ue_set_error(ue, why, IMSEC_STR_NULL, "");
  return rv;
}

/* The PERSIST that must precede the answer, if any: SQN_MS of the state
 * after an accepted challenge, or after a resynchronisation when that
 * moved it. Returns 1 with *req filled in, else 0. */
static int sqn_persist_req(imsec_ue *ue, const imsec_aka_ue_result *r,
                           const uint8_t before[6], imsec_svc_req *req) {
  memset(req, 0, sizeof(*req));
  if (r->status == IMSEC_AKA_UE_MAC_FAIL)
    return 0;
  imsec_ue_sqn_save(&ue->sqn, &ue->sqn_cfg, req->sqn_ms);
  /* SQN_MS is the profile's counter, not a key. */
  int same = memcmp(req->sqn_ms, before, 6) == 0; /* no secret: a counter */
  if (r->status != IMSEC_AKA_UE_OK && same)
    return 0;
  req->kind = IMSEC_SVC_UE_SQN;
  req->id = ++ue->next_svc_id;
  if (imsec_str_copy(S(ue->impi), req->key, sizeof(req->key)) < 0)
    req->key[0] = '\0'; /* the key is a courtesy to the store */
  ue->persist_id = req->id;
  return 1;
}

static int hex_of(uint64_t v, unsigned digits, char *out) {
  static const char hx[] = "0123456789abcdef";
  for (unsigned i = 0; i < digits; i++)
    out[digits - 1 - i] = hx[(v >> (4 * i)) & 15];
  out[digits] = '\0';
  return (int)digits;
}

/* Keep the Security-Server list of a 401 for the echo (RFC 3329 §2.3.1):
 * the server's mechanisms as parsed, written back as one list (the
 * P-CSCF compares mechanisms and parameters, not raw text). Returns 0, or <0
 * when the server offers no "tls" (no common mechanism). */
static int take_security_server(imsec_ue *ue, imsec_sip_msg *m,
                                imsec_out *out) {
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_SECURITY_SERVER);
  if (!h) {
    ue->sec_server[0] = '\0';
    LOG(out, IMSEC_LOG_WARN,
        S("401 carries no Security-Server: no security agreement"));
    return 0;
  }
  /* RFC 3329 §2.3.1: TLS must be among the server's mechanisms; the echo
   * is the server's whole list (lib/secagree). */
  imsec_secagree_list server, mine;
  if (imsec_secagree_parse_msg(m, IMSEC_SIP_H_SECURITY_SERVER, &server) < 0 ||
      imsec_secagree_parse(S(IMSEC_SECAGREE_CLIENT), &mine) < 0 ||
      imsec_secagree_select(&server, &mine) < 0)
    return IMSEC_ERR_UNSUPPORTED;
  if (imsec_secagree_build(&server, ue->sec_server, sizeof(ue->sec_server)) <
          0 ||
      !ue_text_ok(S(ue->sec_server))) {
    ue->sec_server[0] = '\0';
    return IMSEC_ERR_LIMIT;
  }
  return 0;
}

/* A 401 to our REGISTER (TS 24.229 §5.1.1.5.1): trust, AKA, answer.
 * Returns 0 (answered; the state says how), IMSEC_ERR_TRUST (the P-CSCF
 * failed the trust decision, logged), or another code with ue->error
 * set. */
static int answer_challenge(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                            imsec_out *out) {
  if (++ue->rounds > UE_MAX_ROUNDS)
    return fail(ue, "registration failed: too many challenges in a row",
                IMSEC_ERR_LIMIT);
  /* A terminal without an ISIM answers SIP Digest only (digest.c). */
  if (UE_DIGEST(ue))
    return ue_digest_answer_401(ue, m, now, out);
  /* The first Digest AKA challenge (RFC 3310 §3.1). */
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  imsec_digest_params ch;
  imsec_digest_alg alg = IMSEC_DIGEST_MD5;
  int found = 0;
  while (!found &&
         imsec_sip_auth_next(m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &raw) > 0) {
    if (imsec_digest_parse_challenge(raw, &ch) == 0 &&
        imsec_digest_alg_parse(ch.algorithm, &alg) == 0 &&
        (alg == IMSEC_DIGEST_AKAV1_MD5 || alg == IMSEC_DIGEST_AKAV2_MD5))
      found = 1;
  }
  if (!found) {
    /* TS 33.203 Annex N: a password challenge is for terminals without
     * an ISIM; this one answers with its ISIM only. */
    ue_dg_chal dg;
    ue_dg_offer seen;
    if (ue_digest_pick(m, IMSEC_SIP_H_WWW_AUTHENTICATE, &dg, &seen) == 0)
      return fail(ue,
                  "registration failed: the 401 offers only SIP Digest "
                  "with a password; this UE authenticates with its ISIM "
                  "(IMS AKA)",
                  IMSEC_ERR_UNSUPPORTED);
    return fail(ue,
                "registration failed: the 401 carries no Digest AKA "
                "challenge",
                IMSEC_ERR_UNSUPPORTED);
  }
  char realm[UE_TEXT], nonce[512];
  if (imsec_digest_unquote(ch.realm, realm, sizeof(realm)) < 0 ||
      !ue_text_ok(S(realm)) ||
      imsec_digest_unquote(ch.nonce, nonce, sizeof(nonce)) < 0)
    return fail(ue, "registration failed: malformed realm or nonce",
                IMSEC_ERR_PARSE);
  LOG(out, IMSEC_LOG_INFO, S("<- 401 Unauthorized (realm "), S(realm), S(", "),
      S(imsec_digest_alg_name(alg)),
      S((ch.present & IMSEC_DIGEST_P_STALE) && imsec_str_ieq_c(ch.stale, "true")
            ? ", stale)"
            : ")"));

  /* RFC 3261 §26.3.2.1 / DESIGN.md §3: decide on the P-CSCF before any
   * credential leaves; refused: nothing more on this connection. */
  if (!ue_decide_trust(ue, realm, out))
    return IMSEC_ERR_TRUST;
  if (take_security_server(ue, m, out) < 0)
    return fail(ue,
                "registration failed: the P-CSCF offers no TLS security "
                "mechanism (RFC 3329)",
                IMSEC_ERR_UNSUPPORTED);

  uint8_t rand[16], autn[16];
  if (imsec_digest_aka_nonce_decode(S(nonce), rand, autn, NULL) < 0)
    return fail(ue, "registration failed: the AKA nonce is malformed",
                IMSEC_ERR_PARSE);
  uint8_t sqn_before[6];
  imsec_ue_sqn_save(&ue->sqn, &ue->sqn_cfg, sqn_before);
  imsec_aka_ue_result r;
  memset(&r, 0, sizeof(r));
  /* TS 33.102 §6.3.3: AUTN (MAC-A, SQN against Annex C) checked here. */
  int rv = imsec_aka_ue_run(ue->mil, &ue->sqn, &ue->sqn_cfg, rand, autn, &r);
  if (rv < 0) {
    imsec_aka_ue_result_wipe(&r);
    ue_set_error(ue, "AKA failed: ", S(imsec_strerror(rv)), "");
    return rv == IMSEC_ERR_TRUST ? IMSEC_ERR_CRYPTO : rv;
  }
  ue->challenges++;
  ue_psk_aka_run(ue, &r, rand); /* mode M3: kept for the 200 */
  /* What the RES (or AUTS) depends on must be durable before it leaves
   * (TS 33.102 Annex C, DESIGN.md §2): an accepted SQN always, and the
   * state after a resynchronisation when it moved. */
  imsec_svc_req persist;
  int must_persist = sqn_persist_req(ue, &r, sqn_before, &persist);

  char uri[UE_TEXT + 8];
  imsec_sbuf b;
  imsec_sbuf_init(&b, uri, sizeof(uri));
  imsec_sbuf_add(&b, "sip:");
  imsec_sbuf_add(&b, ue->home_domain);

  imsec_digest_params p = {0};
  p.username = S(ue->impi);
  p.realm = ch.realm;
  p.nonce = ch.nonce;
  p.uri = S(uri);
  p.algorithm = S(imsec_digest_alg_name(alg));
  p.present = IMSEC_DIGEST_P_USERNAME | IMSEC_DIGEST_P_REALM |
              IMSEC_DIGEST_P_NONCE | IMSEC_DIGEST_P_URI |
              IMSEC_DIGEST_P_RESPONSE | IMSEC_DIGEST_P_ALGORITHM;
  p.quoted = ch.quoted & (IMSEC_DIGEST_P_REALM | IMSEC_DIGEST_P_NONCE |
                          IMSEC_DIGEST_P_OPAQUE);
  if (ch.present & IMSEC_DIGEST_P_OPAQUE) {
    p.opaque = ch.opaque;
    p.present |= IMSEC_DIGEST_P_OPAQUE;
  }
  char resp[IMSEC_HASH_MAX_LEN * 2 + 1], cnonce[17], nc[9], auts[24];
  char authz[UE_AUTH_CAP];
  int n = 0;
  if (r.status == IMSEC_AKA_UE_MAC_FAIL) {
    /* TS 33.203 §6.1.2.2, TS 24.229 §5.1.1.5.3: the network failed to
     * authenticate itself: answer with an empty response and no auts so
     * the S-CSCF learns it, then refuse the network. */
    p.response = IMSEC_STR_LIT("");
    n = imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &p, authz, sizeof(authz));
  } else {
    imsec_digest_qop qop = IMSEC_DIGEST_QOP_NONE;
    if (ch.present & IMSEC_DIGEST_P_QOP) {
      if (imsec_digest_qop_has(ch.qop, "auth"))
        qop = IMSEC_DIGEST_QOP_AUTH;
      else if (imsec_digest_qop_has(ch.qop, "auth-int"))
        qop = IMSEC_DIGEST_QOP_AUTH_INT;
    }
    imsec_digest_input in = {
        .username = S(ue->impi),
        .realm = S(realm),
        .method = IMSEC_STR_LIT("REGISTER"),
        .uri = S(uri),
        .nonce = S(nonce),
        .qop = qop,
    };
    if (qop != IMSEC_DIGEST_QOP_NONE) {
      if (ue_rand_hex(ue, cnonce, sizeof(cnonce), 8) < 0) {
        n = IMSEC_ERR_CRYPTO;
        goto built;
      }
      hex_of(1, 8, nc);
      in.nc = S(nc);
      in.cnonce = S(cnonce);
      p.qop = qop == IMSEC_DIGEST_QOP_AUTH ? IMSEC_STR_LIT("auth")
                                           : IMSEC_STR_LIT("auth-int");
      p.nc = S(nc);
      p.cnonce = S(cnonce);
      p.present |=
          IMSEC_DIGEST_P_QOP | IMSEC_DIGEST_P_NC | IMSEC_DIGEST_P_CNONCE;
    }
    n = imsec_digest_aka_response(ue->crypto, alg, &r, &in, resp, sizeof(resp));
    if (n < 0)
      goto built;
    p.response = S(resp);
    if (r.status == IMSEC_AKA_UE_SYNC_FAIL) {
      /* TS 33.203 §6.1.3, RFC 3310 §3.4: AUTS with the response over an
       * empty password, on the same connection. */
      n = imsec_digest_aka_auts_encode(r.auts, auts, sizeof(auts));
      if (n < 0)
        goto built;
      p.auts = S(auts);
      p.present |= IMSEC_DIGEST_P_AUTS;
    }
    n = imsec_digest_build(IMSEC_DIGEST_CREDENTIALS, &p, authz, sizeof(authz));
  }
built:
  imsec_wipe(resp, sizeof(resp));
  if (n >= 0)
    n = ue_send_register(ue, authz, ue->reg_expires,
                         must_persist ? &persist : NULL, now, out);
  imsec_wipe(authz, sizeof(authz));
  imsec_wipe(&persist, sizeof(persist));
  imsec_aka_ue_status st = r.status;
  imsec_aka_ue_result_wipe(&r);
  if (n < 0) {
    ue_set_error(ue, "cannot answer the challenge: ", S(imsec_strerror(n)), "");
    return n;
  }
  char cs[16];
  ue_num_text(ue->cseq, cs, sizeof(cs));
  switch (st) {
  case IMSEC_AKA_UE_MAC_FAIL:
    ue_set_error(ue,
                 "network authentication failed: MAC-A did not verify "
                 "(TS 33.203 §6.1.2.2); the UE refuses this network",
                 IMSEC_STR_NULL, "");
    LOG(out, IMSEC_LOG_WARN,
        S("AKA: MAC failure: network authentication "
          "failed; refusing the network"));
    LOG(out, IMSEC_LOG_INFO, S("-> REGISTER (cseq "), S(cs),
        S(", empty response: challenge deemed invalid)"));
    ue->st = UE_ST_MAC_REFUSING;
    ue->registered = 0;
    ue->rereg_at = 0;
    ue_arm(out, IMSEC_UE_TIMER_REREG, 0);
    break;
  case IMSEC_AKA_UE_SYNC_FAIL:
    ue->sync_failures++;
    LOG(out, IMSEC_LOG_WARN,
        S("AKA: SQN out of range: synchronisation failure (TS 33.102 "
          "§6.3.3)"));
    LOG(out, IMSEC_LOG_INFO, S("-> REGISTER (cseq "), S(cs),
        S(", auts, same TLS connection"),
        S(must_persist ? "; once the SQN is saved)" : ")"));
    ue->st = must_persist ? UE_ST_PERSISTING_SQN : UE_ST_AUTHENTICATING;
    break;
  default:
    ue->sqn_updates++;
    LOG(out, IMSEC_LOG_INFO,
        S("AKA: network authenticated (MAC-A ok, SQN "
          "fresh)"));
    LOG(out, IMSEC_LOG_INFO, S("-> REGISTER (cseq "), S(cs), S(", "),
        S(imsec_digest_alg_name(alg)), S(" response"),
        S(ue->sec_server[0] ? ", Security-Verify: " : ""), S(ue->sec_server),
        S(must_persist ? "; once the SQN is saved)" : ")"));
    ue->st = must_persist ? UE_ST_PERSISTING_SQN : UE_ST_AUTHENTICATING;
    break;
  }
  return 0;
}

/* RSP_401 to the REGISTER in flight. One failure path: a refused trust
 * decision makes the UE REFUSED, anything else FAILED. */
int ue_h_rsp_401(imsec_ue *ue, const ue_event *e) {
  ue_reg_answered(ue, e->msg, e->out);
  int rv = answer_challenge(ue, e->msg, e->now, e->out);
  if (rv < 0) {
    ue->persist_id = 0;
    if (rv != IMSEC_ERR_TRUST) /* the trust decision logged itself */
      LOG(e->out, IMSEC_LOG_ERROR, S(ue->error));
    ue_stop(ue, rv == IMSEC_ERR_TRUST ? UE_ST_REFUSED : UE_ST_FAILED, e->out);
  }
  return 0;
}

/* REPLY in PERSISTING_SQN: the SQN is durable and the host let the
 * REGISTER go, or it could not be saved and the host dropped it, so the
 * RES never left: the registration fails (a RES whose SQN could be
 * accepted again after a restart would open a replay, TS 33.102 C.2). */
int ue_h_reply_sqn(imsec_ue *ue, const ue_event *e) {
  const imsec_svc_reply *r = e->reply;
  if (r->kind != IMSEC_SVC_UE_SQN || r->id != ue->persist_id)
    return 0; /* not the one the UE waits for */
  ue->persist_id = 0;
  if (r->status >= 0) {
    ue->st = UE_ST_AUTHENTICATING;
    return 0;
  }
  ue_set_error(ue, "cannot save SQN: ", S(imsec_strerror(r->status)),
               "; the challenge was not answered");
  LOG(e->out, IMSEC_LOG_ERROR, S(ue->error));
  ue_stop(ue, UE_ST_FAILED, e->out);
  return 0;
}

/* REPLY in any other state: the UE no longer waits for it (the flow went,
 * or the answer came first from a host that does not hold sends). A
 * failed write still deserves a line: the stored SQN is behind. */
int ue_h_reply_late(imsec_ue *ue, const ue_event *e) {
  const imsec_svc_reply *r = e->reply;
  if (r->id == ue->persist_id)
    ue->persist_id = 0;
  if (r->kind == IMSEC_SVC_UE_SQN && r->status < 0)
    LOG(e->out, IMSEC_LOG_WARN, S("cannot save SQN: "),
        S(imsec_strerror(r->status)));
  return 0;
}

/* TIMER_TXN in PERSISTING_SQN: neither the store nor (for a host that
 * does not hold sends) the network answered in time. */
int ue_h_txn_persist(imsec_ue *ue, const ue_event *e) {
  if (!ue->txn_deadline || e->now < ue->txn_deadline)
    return 0; /* stale */
  ue->txn_deadline = 0;
  ue_flow_lost(ue, "no answer to REGISTER (or to the SQN write)", e->now,
               e->out);
  return 0;
}
