/*
 * The HSS's side of Cx (TS 29.228 procedures, TS 29.229 protocol) on
 * freeDiameter: UAR/UAA, SAR/SAA, LIR/LIA, MAR/MAA answered from an
 * imsec_svc (include/imsec/cx.h).
 *
 * A request is read on freeDiameter's thread, its service requests are
 * all submitted at once (the service's `done` may not submit again, so a
 * MAR asks for the subscriber, the resynchronisation and every vector up
 * front: a worker runs them in order), and the answer leaves from the
 * thread that brings the last reply. Nothing waits.
 *
 * The assignment state (which S-CSCF serves which IMPI, TS 29.228 §6.1.2,
 * and whether the user is registered) is kept in memory: a restarted HSS
 * has forgotten it, and the S-CSCFs' next re-registrations (SAR
 * RE_REGISTRATION) restore it. UAR then answers FIRST_REGISTRATION, which
 * at worst sends a user to another S-CSCF of the cluster, and LIR answers
 * IDENTITY_NOT_REGISTERED until the user re-registers.
 */
#include "cx_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "cx_core.h"
#include "cx_stats.h"
#include "imsec/map.h"
#include "imsec/obs.h"

/* Vectors in one MAA at most (SIP-Number-Auth-Items asks; the HSS may
 * give fewer, TS 29.228 §6.3.3). */
#define CX_MAX_VECTORS 5

/* Which S-CSCF serves an IMPI. */
typedef enum asg_state {
  ASG_PENDING = 1,  /* named by a MAR, not yet confirmed by a SAR */
  ASG_UNREGISTERED, /* UNREGISTERED_USER: services for unregistered state */
  ASG_REGISTERED,   /* REGISTRATION / RE_REGISTRATION */
} asg_state;

typedef struct asg {
  asg_state state;
  char server[IMSEC_HSS_ID_MAX];
} asg;

struct imsec_cx_server {
  imsec_svc *hss;
  imsec_cx_send_fn send;
  void *send_arg;
  int core; /* 1: started freeDiameter's core */
  struct disp_hdl *hdl;
  pthread_mutex_t mu; /* guards asg */
  imsec_map asg;      /* IMPI -> asg* */
  atomic_int inflight;
  atomic_int draining; /* new requests answered DIAMETER_TOO_BUSY */
  cx_stats stats;      /* answers by command and result, durations */
};

/* The requested scheme of a MAR (TS 29.229 §6.3.9). */
typedef enum mar_scheme {
  SCHEME_UNKNOWN,
  SCHEME_AKA,
  SCHEME_DIGEST,
} mar_scheme;

/* Service request slots of one transaction (imsec_svc_req.id). */
enum { SLOT_SUB, SLOT_DIGEST, SLOT_RESYNC, SLOT_VEC0 };

typedef struct cx_txn {
  imsec_cx_server *srv;
  struct msg *ans;
  uint32_t cmd;
  int64_t t0; /* monotonic ns: the request was taken */
  atomic_int pending;

  /* From the request. */
  char impi[IMSEC_HSS_ID_MAX];
  char impu[IMSEC_HSS_MAX_IMPUS][IMSEC_HSS_ID_MAX];
  size_t n_impu;
  char server_name[IMSEC_HSS_ID_MAX];
  int64_t uat; /* UAR, LIR: User-Authorization-Type */
  int64_t sat; /* SAR: Server-Assignment-Type */
  mar_scheme scheme;
  int resync;
  uint8_t rand[IMSEC_AKA_RAND_LEN];
  uint8_t auts[IMSEC_AKA_AUTS_LEN];
  int n_vec;

  /* Replies. */
  int sub_status;
  imsec_hss_sub sub;
  int dig_status;
  imsec_hss_sub dig; /* H(A1)s: secret */
  int resync_status;
  int vec_status[CX_MAX_VECTORS];
  imsec_aka_vector vec[CX_MAX_VECTORS]; /* secret */
  imsec_hss_aka aka[CX_MAX_VECTORS];
} cx_txn;

/* ------------------------------------------------------------ answers */

static void fd_send(void *arg, struct msg **ans) {
  (void)arg;
  if (fd_msg_send(ans, NULL, NULL) != 0 && *ans) {
    fd_msg_free(*ans);
    *ans = NULL;
  }
}

static void send_answer(imsec_cx_server *s, struct msg **ans) {
  if (!*ans)
    return;
  s->send(s->send_arg, ans);
  if (*ans) {
    fd_msg_free(*ans);
    *ans = NULL;
  }
}

/* The AVPs every Cx answer carries besides the result (TS 29.229
 * §6.1.2 ff.): Vendor-Specific-Application-Id, Auth-Session-State,
 * Origin-Host, Origin-Realm. */
static int answer_common(struct msg *ans) {
  IMSEC_GUARD(imsec_cx_add_vsai(ans));
  IMSEC_GUARD(imsec_cx_add_int(ans, imsec_cx_d.auth_session_state,
                               IMSEC_CX_NO_STATE_MAINTAINED));
  return fd_msg_add_origin(ans, 0) ? IMSEC_ERR_NOMEM : 0;
}

/* A protocol error (3xxx, RFC 6733 §7.1.3) sets the E bit. */
static void mark_error(struct msg *ans, uint32_t code) {
  struct msg_hdr *h = NULL;
  if (code >= 3000 && code < 4000 && fd_msg_hdr(ans, &h) == 0 && h)
    h->msg_flags |= CMD_FLAG_ERROR;
}

/* Failed-AVP (RFC 6733 §7.5): the offending AVP, or for a missing one
 * an AVP of that code with an empty value. */
static void add_failed(struct msg *ans, struct dict_object *d,
                       struct avp *src) {
  struct avp *g = NULL;
  if (!d || imsec_cx_add_group(ans, imsec_cx_d.failed_avp, &g) < 0)
    return;
  struct dict_avp_data ad;
  if (fd_dict_getval(d, &ad) != 0 || ad.avp_basetype == AVP_TYPE_GROUPED)
    return;
  if (ad.avp_basetype == AVP_TYPE_OCTETSTRING) {
    size_t n = 0;
    const uint8_t *p = src ? imsec_cx_os(src, &n) : NULL;
    /* Enough to name the value, never the whole of an oversized one. */
    (void)imsec_cx_add_os(g, d, p ? p : (const uint8_t *)"", n > 64 ? 64 : n);
  } else {
    int64_t v = 0;
    struct avp_hdr *h = NULL;
    if (src && fd_msg_avp_hdr(src, &h) == 0 && h && h->avp_value)
      v = ad.avp_basetype == AVP_TYPE_UNSIGNED32 ? (int64_t)h->avp_value->u32
                                                 : (int64_t)h->avp_value->i32;
    (void)imsec_cx_add_int(g, d, v);
  }
}

/* An answer with only a result (and Failed-AVP), sent now. */
static void answer_code(imsec_cx_server *s, struct msg **ans, uint32_t code,
                        int experimental, struct dict_object *failed,
                        struct avp *failed_src) {
  int rv = answer_common(*ans);
  if (rv == 0)
    rv = experimental ? imsec_cx_set_exp_result(*ans, code)
                      : imsec_cx_set_result(*ans, code);
  if (rv == 0 && failed)
    add_failed(*ans, failed, failed_src);
  if (!experimental)
    mark_error(*ans, code);
  if (rv < 0) {
    fd_msg_free(*ans);
    *ans = NULL;
    return;
  }
  send_answer(s, ans);
}

/* The HSS service's status as a Diameter result (docs/CX.md). */
static void status_result(int status, uint32_t *code, int *exp) {
  *exp = 0;
  switch (status) {
  case IMSEC_ERR_NOTFOUND:
    *code = IMSEC_CX_ERROR_USER_UNKNOWN;
    *exp = 1;
    return;
  case IMSEC_ERR_UNSUPPORTED:
    *code = IMSEC_CX_ERROR_AUTH_SCHEME_NOT_SUPPORTED;
    *exp = 1;
    return;
  case IMSEC_ERR_MAC:
    /* AUTS did not verify (TS 33.102 §6.3.5): refuse, keep SQN. */
    *code = IMSEC_DIA_AUTHORIZATION_REJECTED;
    return;
  case IMSEC_ERR_BUSY:
  case IMSEC_ERR_TIMEOUT:
  case IMSEC_ERR_CLOSED:
    /* A transient condition: the client may try again (RFC 6733
     * §7.1.3). */
    *code = IMSEC_DIA_TOO_BUSY;
    return;
  default:
    *code = IMSEC_DIA_UNABLE_TO_COMPLY;
    return;
  }
}

/* ------------------------------------------------- assignment state */

static asg *asg_get(imsec_cx_server *s, const char *impi) {
  return imsec_map_sget(&s->asg, imsec_str_c(impi));
}

static void asg_set(imsec_cx_server *s, const char *impi, asg_state st,
                    const char *server) {
  asg *a = asg_get(s, impi);
  if (!a) {
    a = calloc(1, sizeof(*a));
    if (!a)
      return;
    if (imsec_map_sput(&s->asg, imsec_str_c(impi), a, NULL) < 0) {
      free(a);
      return;
    }
  }
  a->state = st;
  snprintf(a->server, sizeof a->server, "%s", server);
}

static void asg_clear(imsec_cx_server *s, const char *impi) {
  free(imsec_map_sdel(&s->asg, imsec_str_c(impi)));
}

/* ------------------------------------------------------- transactions */

static void txn_free(cx_txn *t) {
  if (t->ans)
    fd_msg_free(t->ans);
  imsec_hss_sub_wipe(&t->sub);
  imsec_hss_sub_wipe(&t->dig);
  for (int i = 0; i < CX_MAX_VECTORS; i++)
    imsec_aka_vector_wipe(&t->vec[i]);
  imsec_wipe(t, sizeof(*t));
  free(t);
}

static int sub_has_impu(const imsec_hss_sub *sub, const char *impu) {
  for (size_t i = 0; i < sub->n_impus; i++)
    if (strcmp(sub->impus[i], impu) == 0) /* no secret: identities */
      return 1;
  return 0;
}

/* Every Public-Identity of the request belongs to the subscriber
 * (TS 29.228 §6.1.1.1, §6.1.2.1, §6.3.1: else
 * DIAMETER_ERROR_IDENTITIES_DONT_MATCH). */
static int impus_match(const cx_txn *t, const imsec_hss_sub *sub) {
  for (size_t i = 0; i < t->n_impu; i++)
    if (!sub_has_impu(sub, t->impu[i]))
      return 0;
  return 1;
}

static int finish_uar(cx_txn *t, uint32_t *code, int *exp) {
  imsec_cx_server *s = t->srv;
  if (t->sub_status < 0) {
    status_result(t->sub_status, code, exp);
    return 0;
  }
  if (!impus_match(t, &t->sub)) {
    *code = IMSEC_CX_ERROR_IDENTITIES_DONT_MATCH;
    *exp = 1;
    return 0;
  }
  char server[IMSEC_HSS_ID_MAX] = "";
  pthread_mutex_lock(&s->mu);
  asg *a = asg_get(s, t->impi);
  if (a && a->state >= ASG_UNREGISTERED)
    snprintf(server, sizeof server, "%s", a->server);
  pthread_mutex_unlock(&s->mu);
  /* TS 29.228 §6.1.1.1 steps 3-4. */
  if (t->uat == IMSEC_CX_UAT_DE_REGISTRATION) {
    if (!server[0]) {
      *code = IMSEC_CX_ERROR_IDENTITY_NOT_REGISTERED;
      *exp = 1;
      return 0;
    }
    *code = IMSEC_DIA_SUCCESS;
    *exp = 0;
    return imsec_cx_add_str(t->ans, imsec_cx_d.server_name, server);
  }
  if (server[0] && t->uat != IMSEC_CX_UAT_REGISTRATION_AND_CAPABILITIES) {
    *code = IMSEC_CX_SUBSEQUENT_REGISTRATION;
    *exp = 1;
    return imsec_cx_add_str(t->ans, imsec_cx_d.server_name, server);
  }
  /* No S-CSCF yet (or the I-CSCF asked for capabilities): the I-CSCF
   * picks one. imsec requires no capability of its S-CSCFs, so the set
   * is empty and any S-CSCF qualifies (TS 29.228 Annex A.1). */
  *code = IMSEC_CX_FIRST_REGISTRATION;
  *exp = 1;
  struct avp *g = NULL;
  return imsec_cx_add_group(t->ans, imsec_cx_d.server_capabilities, &g);
}

static int add_user_data(cx_txn *t, const imsec_hss_sub *sub) {
  char *xml = NULL;
  size_t n = 0;
  IMSEC_GUARD(imsec_cx_user_data_build(sub, &xml, &n));
  int rv = imsec_cx_add_os(t->ans, imsec_cx_d.user_data, xml, n);
  free(xml);
  if (rv == 0)
    rv = imsec_cx_add_str(t->ans, imsec_cx_d.user_name, sub->impi);
  return rv;
}

static int finish_sar(cx_txn *t, uint32_t *code, int *exp) {
  imsec_cx_server *s = t->srv;
  if (t->sub_status < 0) {
    status_result(t->sub_status, code, exp);
    return 0;
  }
  if (!impus_match(t, &t->sub)) {
    *code = IMSEC_CX_ERROR_IDENTITIES_DONT_MATCH;
    *exp = 1;
    return 0;
  }
  const char *impi = t->sub.impi;
  int with_data = 0;
  pthread_mutex_lock(&s->mu);
  asg *a = asg_get(s, impi);
  int same = !a || strcmp(a->server, t->server_name) == 0; /* no secret */
  switch (t->sat) {
  case IMSEC_SVC_ASSIGN_NONE:
    /* The profile only. TS 29.228 §6.1.2.1 would refuse an S-CSCF other
     * than the one stored; imsec's S-CSCFs share their registrations
     * (any of them serves a user registered through a sibling), so any
     * may read the profile. */
    with_data = 1;
    break;
  case IMSEC_SVC_ASSIGN_REGISTRATION:
  case IMSEC_SVC_ASSIGN_RE_REGISTRATION:
    /* The S-CSCF named is stored, replacing another (a reassignment
     * after a failover, TS 29.228 §6.1.2.1). */
    asg_set(s, impi, ASG_REGISTERED, t->server_name);
    with_data = 1;
    break;
  case IMSEC_SVC_ASSIGN_UNREGISTERED_USER:
    asg_set(s, impi, ASG_UNREGISTERED, t->server_name);
    with_data = 1;
    break;
  case IMSEC_SVC_ASSIGN_TIMEOUT_DEREGISTRATION:
  case IMSEC_SVC_ASSIGN_USER_DEREGISTRATION:
  case IMSEC_SVC_ASSIGN_ADMINISTRATIVE_DEREGISTRATION:
  case 11: /* DEREGISTRATION_TOO_MUCH_DATA */
    /* Only the S-CSCF stored undoes its assignment: a late
     * de-registration from one the user has left (failover) must not
     * drop the new one's. */
    if (same)
      asg_clear(s, impi);
    break;
  case 6: /* TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME */
  case 7: /* USER_DEREGISTRATION_STORE_SERVER_NAME */
    if (same)
      asg_set(s, impi, ASG_UNREGISTERED, t->server_name);
    break;
  case 9:  /* AUTHENTICATION_FAILURE */
  case 10: /* AUTHENTICATION_TIMEOUT */
    /* Only an assignment still pending from the MAR goes. */
    if (a && a->state == ASG_PENDING && same)
      asg_clear(s, impi);
    break;
  default:
    pthread_mutex_unlock(&s->mu);
    *code = IMSEC_DIA_INVALID_AVP_VALUE;
    *exp = 0;
    add_failed(t->ans, imsec_cx_d.server_assignment_type, NULL);
    return 0;
  }
  pthread_mutex_unlock(&s->mu);
  *code = IMSEC_DIA_SUCCESS;
  *exp = 0;
  return with_data ? add_user_data(t, &t->sub) : 0;
}

static int finish_lir(cx_txn *t, uint32_t *code, int *exp) {
  imsec_cx_server *s = t->srv;
  if (t->sub_status < 0) {
    status_result(t->sub_status, code, exp);
    return 0;
  }
  char server[IMSEC_HSS_ID_MAX] = "";
  pthread_mutex_lock(&s->mu);
  asg *a = asg_get(s, t->sub.impi);
  if (a && a->state >= ASG_UNREGISTERED)
    snprintf(server, sizeof server, "%s", a->server);
  pthread_mutex_unlock(&s->mu);
  /* TS 29.228 §6.1.4.1: the S-CSCF stored, or not registered (imsec
   * keeps no services for unregistered users). */
  if (!server[0]) {
    *code = IMSEC_CX_ERROR_IDENTITY_NOT_REGISTERED;
    *exp = 1;
    return 0;
  }
  *code = IMSEC_DIA_SUCCESS;
  *exp = 0;
  return imsec_cx_add_str(t->ans, imsec_cx_d.server_name, server);
}

/* H(A1) as RFC 4740 §9.5.x Digest-HA1 carries it: lowercase hex. */
static int add_digest_item(cx_txn *t, int item, int alg, int form) {
  static const char *const algs[] = {"MD5", "SHA-256"};
  size_t hlen = alg == IMSEC_HSS_HA1_MD5 ? 16 : 32;
  char hex[65];
  struct avp *it = NULL, *da = NULL;
  if (imsec_hex_encode(t->dig.digest.ha1[alg][form], hlen, hex, sizeof hex) < 0)
    return IMSEC_ERR_INTERNAL;
  int rv = imsec_cx_add_group(t->ans, imsec_cx_d.sip_auth_data_item, &it);
  if (rv == 0)
    rv = imsec_cx_add_int(it, imsec_cx_d.sip_item_number, item);
  if (rv == 0)
    rv = imsec_cx_add_str(it, imsec_cx_d.sip_auth_scheme,
                          IMSEC_CX_SCHEME_DIGEST);
  if (rv == 0)
    rv = imsec_cx_add_group(it, imsec_cx_d.sip_digest_authenticate, &da);
  if (rv == 0)
    rv = imsec_cx_add_str(da, imsec_cx_d.digest_realm, t->dig.digest.realm);
  if (rv == 0)
    rv = imsec_cx_add_str(da, imsec_cx_d.digest_algorithm, algs[alg]);
  if (rv == 0)
    rv = imsec_cx_add_str(da, imsec_cx_d.digest_qop, "auth");
  if (rv == 0)
    rv = imsec_cx_add_str(da, imsec_cx_d.digest_ha1, hex);
  if (rv == 0 && form == IMSEC_HSS_USER_PART) {
    /* The username form a softphone may send instead of the IMPI: its
     * user part (SIP-Digest-Authenticate allows further AVPs). */
    const char *at = strchr(t->dig.impi, '@');
    size_t n = at ? (size_t)(at - t->dig.impi) : strlen(t->dig.impi);
    rv = imsec_cx_add_os(da, imsec_cx_d.digest_username, t->dig.impi, n);
  }
  imsec_wipe(hex, sizeof hex);
  return rv;
}

static int finish_mar_digest(cx_txn *t, uint32_t *code, int *exp) {
  if (!impus_match(t, &t->dig)) {
    *code = IMSEC_CX_ERROR_IDENTITIES_DONT_MATCH;
    *exp = 1;
    return 0;
  }
  /* Item 1 is what TS 29.229 §6.3.36 defines (MD5, the IMPI as the
   * username); 2-4 add SHA-256 (RFC 7616) and the user-part forms. */
  int item = 1;
  for (int form = 0; form < IMSEC_HSS_USER_FORMS; form++)
    for (int alg = 0; alg < IMSEC_HSS_HA1_ALGS; alg++)
      IMSEC_GUARD(add_digest_item(t, item++, alg, form));
  IMSEC_GUARD(
      imsec_cx_add_int(t->ans, imsec_cx_d.sip_number_auth_items, item - 1));
  *code = IMSEC_DIA_SUCCESS;
  *exp = 0;
  return 0;
}

static int add_aka_item(cx_txn *t, int item, int i) {
  const imsec_aka_vector *v = &t->vec[i];
  uint8_t chal[IMSEC_AKA_RAND_LEN + IMSEC_AKA_AUTN_LEN];
  struct avp *it = NULL;
  memcpy(chal, v->rand, IMSEC_AKA_RAND_LEN);
  memcpy(chal + IMSEC_AKA_RAND_LEN, v->autn, IMSEC_AKA_AUTN_LEN);
  int rv = imsec_cx_add_group(t->ans, imsec_cx_d.sip_auth_data_item, &it);
  if (rv == 0)
    rv = imsec_cx_add_int(it, imsec_cx_d.sip_item_number, item);
  if (rv == 0)
    rv = imsec_cx_add_str(it, imsec_cx_d.sip_auth_scheme,
                          t->aka[i] == IMSEC_HSS_AKAV2 ? "Digest-AKAv2-MD5"
                                                       : IMSEC_CX_SCHEME_AKA);
  /* TS 29.229 §6.3.9-6.3.10: SIP-Authenticate RAND||AUTN,
   * SIP-Authorization XRES; §6.3.24-25 CK, IK. */
  if (rv == 0)
    rv = imsec_cx_add_os(it, imsec_cx_d.sip_authenticate, chal, sizeof chal);
  if (rv == 0)
    rv =
        imsec_cx_add_os(it, imsec_cx_d.sip_authorization, v->xres, v->xres_len);
  if (rv == 0)
    rv = imsec_cx_add_os(it, imsec_cx_d.confidentiality_key, v->ck,
                         sizeof v->ck);
  if (rv == 0)
    rv = imsec_cx_add_os(it, imsec_cx_d.integrity_key, v->ik, sizeof v->ik);
  return rv;
}

static int finish_mar(cx_txn *t, uint32_t *code, int *exp) {
  imsec_cx_server *s = t->srv;
  /* The subscriber: the plain record, or (SIP Digest) the one with the
   * H(A1)s, whichever the scheme asked for. */
  int digest = t->scheme == SCHEME_DIGEST ||
               (t->scheme == SCHEME_UNKNOWN && t->dig_status == 0);
  int st = digest ? t->dig_status : t->sub_status;
  if (st < 0) {
    status_result(st, code, exp);
    return 0;
  }
  if (!digest && t->sub.scheme != IMSEC_HSS_SCHEME_AKA) {
    *code = IMSEC_CX_ERROR_AUTH_SCHEME_NOT_SUPPORTED;
    *exp = 1;
    return 0;
  }
  const imsec_hss_sub *sub = digest ? &t->dig : &t->sub;
  if (!impus_match(t, sub)) {
    *code = IMSEC_CX_ERROR_IDENTITIES_DONT_MATCH;
    *exp = 1;
    return 0;
  }
  /* TS 29.228 §6.3.3.1: the S-CSCF is stored while authentication is
   * pending, unless one is stored already. */
  pthread_mutex_lock(&s->mu);
  if (!asg_get(s, sub->impi))
    asg_set(s, sub->impi, ASG_PENDING, t->server_name);
  pthread_mutex_unlock(&s->mu);
  IMSEC_GUARD(imsec_cx_add_str(t->ans, imsec_cx_d.user_name, sub->impi));
  if (t->n_impu)
    IMSEC_GUARD(
        imsec_cx_add_str(t->ans, imsec_cx_d.public_identity, t->impu[0]));
  if (digest)
    return finish_mar_digest(t, code, exp);
  if (t->resync && t->resync_status < 0) {
    /* TS 29.228 §6.3.3.1: a resynchronisation that fails gets no
     * vectors (the SQN is unchanged). */
    status_result(t->resync_status, code, exp);
    return 0;
  }
  int n = 0;
  for (int i = 0; i < t->n_vec; i++)
    if (t->vec_status[i] == 0) {
      IMSEC_GUARD(add_aka_item(t, n + 1, i));
      n++;
    }
  if (n == 0) {
    status_result(t->vec_status[0], code, exp);
    return 0;
  }
  IMSEC_GUARD(imsec_cx_add_int(t->ans, imsec_cx_d.sip_number_auth_items, n));
  *code = IMSEC_DIA_SUCCESS;
  *exp = 0;
  return 0;
}

static void txn_complete(cx_txn *t) {
  imsec_cx_server *s = t->srv;
  uint32_t code = IMSEC_DIA_UNABLE_TO_COMPLY;
  int exp = 0;
  int rv = answer_common(t->ans);
  if (rv == 0) {
    switch (t->cmd) {
    case IMSEC_CX_CMD_UA:
      rv = finish_uar(t, &code, &exp);
      break;
    case IMSEC_CX_CMD_SA:
      rv = finish_sar(t, &code, &exp);
      break;
    case IMSEC_CX_CMD_LI:
      rv = finish_lir(t, &code, &exp);
      break;
    default:
      rv = finish_mar(t, &code, &exp);
      break;
    }
  }
  if (rv == 0)
    rv = exp ? imsec_cx_set_exp_result(t->ans, code)
             : imsec_cx_set_result(t->ans, code);
  if (rv == 0) {
    if (!exp)
      mark_error(t->ans, code);
    struct msg *ans = t->ans;
    t->ans = NULL;
    send_answer(s, &ans);
    cx_stats_count_code(&s->stats, t->cmd, code, cx_stats_now_ns() - t->t0);
  } else {
    cx_stats_count(&s->stats, t->cmd, "none", cx_stats_now_ns() - t->t0);
  }
  /* On failure the answer is dropped (freeDiameter gave us no room to
   * build one): the client's timer answers its user. */
  txn_free(t);
  atomic_fetch_sub(&s->inflight, 1);
}

static void txn_release(cx_txn *t) {
  if (atomic_fetch_sub(&t->pending, 1) == 1)
    txn_complete(t);
}

static void svc_done(void *arg, const imsec_svc_req *req,
                     const imsec_svc_reply *rep) {
  cx_txn *t = arg;
  uint64_t slot = req->id;
  if (slot == SLOT_SUB) {
    t->sub_status = rep->status;
    if (rep->status == 0)
      t->sub = rep->sub;
  } else if (slot == SLOT_DIGEST) {
    t->dig_status = rep->status;
    if (rep->status == 0)
      t->dig = rep->sub;
  } else if (slot == SLOT_RESYNC) {
    t->resync_status = rep->status;
  } else if (slot >= SLOT_VEC0 && slot < SLOT_VEC0 + CX_MAX_VECTORS) {
    int i = (int)(slot - SLOT_VEC0);
    t->vec_status[i] = rep->status;
    if (rep->status == 0) {
      t->vec[i] = rep->vec;
      t->aka[i] = rep->aka;
    }
  }
  if (rep->last)
    txn_release(t);
}

/* Submit one service request of slot `slot`; a request refused at once
 * is answered here with its status. */
static void submit(cx_txn *t, imsec_svc_kind kind, uint64_t slot,
                   const char *key) {
  imsec_svc_req *req = calloc(1, sizeof(*req));
  atomic_fetch_add(&t->pending, 1);
  if (!req) {
    imsec_svc_reply rep;
    memset(&rep, 0, sizeof rep);
    imsec_svc_req r0;
    memset(&r0, 0, sizeof r0);
    r0.id = slot;
    rep.status = IMSEC_ERR_NOMEM;
    rep.last = 1;
    svc_done(t, &r0, &rep);
    return;
  }
  req->kind = kind;
  req->id = slot;
  snprintf(req->key, sizeof req->key, "%s", key);
  if (t->n_impu)
    snprintf(req->impu, sizeof req->impu, "%s", t->impu[0]);
  if (kind == IMSEC_SVC_HSS_RESYNC) {
    memcpy(req->rand, t->rand, sizeof req->rand);
    memcpy(req->auts, t->auts, sizeof req->auts);
  }
  int rv = imsec_svc_submit(t->srv->hss, req, svc_done, t);
  if (rv < 0) {
    imsec_svc_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.kind = kind;
    rep.id = slot;
    rep.status = rv;
    rep.last = 1;
    svc_done(t, req, &rep);
  }
  imsec_wipe(req, sizeof(*req));
  free(req);
}

/* ------------------------------------------------------------ requests */

/* Read the identities common to the Cx requests. Returns 0, or the
 * result code (with *bad the offending AVP's model and *bad_avp it). */
static uint32_t read_ids(cx_txn *t, struct msg *req, struct dict_object **bad,
                         struct avp **bad_avp) {
  struct avp *a = imsec_cx_find(req, imsec_cx_d.user_name);
  if (a && imsec_cx_str(a, t->impi, sizeof t->impi) < 0) {
    *bad = imsec_cx_d.user_name;
    *bad_avp = a;
    return IMSEC_DIA_INVALID_AVP_VALUE;
  }
  for (a = imsec_cx_find(req, imsec_cx_d.public_identity); a;
       a = imsec_cx_next(a)) {
    if (t->n_impu >= IMSEC_HSS_MAX_IMPUS) {
      *bad = imsec_cx_d.public_identity;
      *bad_avp = a;
      return IMSEC_DIA_AVP_OCCURS_TOO_MANY_TIMES;
    }
    if (imsec_cx_str(a, t->impu[t->n_impu], sizeof t->impu[0]) < 0) {
      *bad = imsec_cx_d.public_identity;
      *bad_avp = a;
      return IMSEC_DIA_INVALID_AVP_VALUE;
    }
    /* An empty one says nothing (a client that did not know the IMPU):
     * as if absent; a request that needs one is then missing it. */
    if (t->impu[t->n_impu][0])
      t->n_impu++;
  }
  a = imsec_cx_find(req, imsec_cx_d.server_name);
  if (a && imsec_cx_str(a, t->server_name, sizeof t->server_name) < 0) {
    *bad = imsec_cx_d.server_name;
    *bad_avp = a;
    return IMSEC_DIA_INVALID_AVP_VALUE;
  }
  return 0;
}

/* The required AVPs the dictionary's rules do not catch (a value, not
 * a presence): an empty User-Name. */
static uint32_t need(const char *v, struct dict_object *d,
                     struct dict_object **bad) {
  if (v[0])
    return 0;
  *bad = d;
  return IMSEC_DIA_MISSING_AVP;
}

static mar_scheme parse_scheme(const char *s) {
  if (strncasecmp(s, "Digest-AKAv", 11) == 0) /* no secret: scheme name */
    return SCHEME_AKA;
  if (strcasecmp(s, IMSEC_CX_SCHEME_DIGEST) == 0 || /* no secret: scheme */
      strcasecmp(s, "Digest") == 0)                 /* no secret: scheme */
    return SCHEME_DIGEST;
  return SCHEME_UNKNOWN;
}

static uint32_t read_mar(cx_txn *t, struct msg *req, struct dict_object **bad,
                         struct avp **bad_avp) {
  int64_t n = 1;
  if (imsec_cx_get_int(req, imsec_cx_d.sip_number_auth_items, &n) < 0)
    n = 1;
  t->n_vec = n < 1 ? 1 : n > CX_MAX_VECTORS ? CX_MAX_VECTORS : (int)n;
  struct avp *item = imsec_cx_find(req, imsec_cx_d.sip_auth_data_item);
  char scheme[64] = "";
  t->scheme = SCHEME_UNKNOWN;
  if (!item)
    return 0;
  struct avp *a = imsec_cx_find(item, imsec_cx_d.sip_auth_scheme);
  if (a) {
    if (imsec_cx_str(a, scheme, sizeof scheme) < 0) {
      *bad = imsec_cx_d.sip_auth_scheme;
      *bad_avp = a;
      return IMSEC_DIA_INVALID_AVP_VALUE;
    }
    t->scheme = parse_scheme(scheme);
  }
  a = imsec_cx_find(item, imsec_cx_d.sip_authorization);
  if (a && t->scheme != SCHEME_DIGEST) {
    /* TS 29.229 §6.3.10: in a MAR, RAND || AUTS after a
     * synchronisation failure (TS 33.203 §6.1.2). */
    size_t len = 0;
    const uint8_t *p = imsec_cx_os(a, &len);
    if (!p || len != IMSEC_AKA_RAND_LEN + IMSEC_AKA_AUTS_LEN) {
      *bad = imsec_cx_d.sip_authorization;
      *bad_avp = a;
      return IMSEC_DIA_INVALID_AVP_VALUE;
    }
    memcpy(t->rand, p, IMSEC_AKA_RAND_LEN);
    memcpy(t->auts, p + IMSEC_AKA_RAND_LEN, IMSEC_AKA_AUTS_LEN);
    t->resync = 1;
    t->scheme = SCHEME_AKA;
  }
  return 0;
}

void imsec_cx_server_handle(imsec_cx_server *s, struct msg **reqp) {
  struct msg *req = *reqp;
  *reqp = NULL;
  if (!req)
    return;
  struct msg_hdr *h = NULL;
  if (fd_msg_hdr(req, &h) != 0 || !h || !(h->msg_flags & CMD_FLAG_REQUEST)) {
    fd_msg_free(req);
    return;
  }
  uint32_t cmd = h->msg_code;
  cx_txn *t = calloc(1, sizeof(*t));
  if (!t) {
    fd_msg_free(req);
    return;
  }
  atomic_fetch_add(&s->inflight, 1);
  t->srv = s;
  t->cmd = cmd;
  t->t0 = cx_stats_now_ns();
  struct dict_object *bad = NULL;
  struct avp *bad_avp = NULL;
  uint32_t code = 0;
  int64_t v = 0;
  if (cmd != IMSEC_CX_CMD_UA && cmd != IMSEC_CX_CMD_SA &&
      cmd != IMSEC_CX_CMD_LI && cmd != IMSEC_CX_CMD_MA) {
    code = IMSEC_DIA_COMMAND_UNSUPPORTED;
  } else if (atomic_load(&s->draining)) {
    /* Draining: no new work; the client may send it elsewhere (RFC 6733
     * §7.1.3: DIAMETER_TOO_BUSY, E bit). */
    code = IMSEC_DIA_TOO_BUSY;
  } else {
    code = read_ids(t, req, &bad, &bad_avp);
  }
  if (!code) {
    switch (cmd) {
    case IMSEC_CX_CMD_UA:
      t->uat =
          imsec_cx_get_int(req, imsec_cx_d.user_authorization_type, &v) == 0
              ? v
              : IMSEC_CX_UAT_REGISTRATION;
      if (t->uat < 0 || t->uat > IMSEC_CX_UAT_REGISTRATION_AND_CAPABILITIES) {
        code = IMSEC_DIA_INVALID_AVP_VALUE;
        bad = imsec_cx_d.user_authorization_type;
        bad_avp = imsec_cx_find(req, bad);
      } else {
        code = need(t->impi, imsec_cx_d.user_name, &bad);
      }
      if (!code && !t->n_impu) {
        code = IMSEC_DIA_MISSING_AVP;
        bad = imsec_cx_d.public_identity;
      }
      break;
    case IMSEC_CX_CMD_SA:
      if (imsec_cx_get_int(req, imsec_cx_d.server_assignment_type, &v) < 0) {
        code = IMSEC_DIA_MISSING_AVP;
        bad = imsec_cx_d.server_assignment_type;
      } else {
        t->sat = v;
        if (!t->impi[0] && !t->n_impu) {
          code = IMSEC_DIA_MISSING_AVP;
          bad = imsec_cx_d.public_identity;
        } else if (v != IMSEC_SVC_ASSIGN_NONE) {
          code = need(t->server_name, imsec_cx_d.server_name, &bad);
        }
      }
      break;
    case IMSEC_CX_CMD_LI:
      if (!t->n_impu) {
        code = IMSEC_DIA_MISSING_AVP;
        bad = imsec_cx_d.public_identity;
      }
      break;
    case IMSEC_CX_CMD_MA:
      code = need(t->impi, imsec_cx_d.user_name, &bad);
      if (!code)
        code = read_mar(t, req, &bad, &bad_avp);
      break;
    }
  }

  /* The answer is built now, from the request (RFC 6733 §6.2: Session-Id
   * and Proxy-Info copied), and filled when the replies are in. */
  struct msg *ans = req;
  if (fd_msg_new_answer_from_req(fd_g_config->cnf_dict, &ans, 0) != 0) {
    fd_msg_free(req);
    txn_free(t);
    atomic_fetch_sub(&s->inflight, 1);
    return;
  }
  if (code) {
    /* bad_avp lives in the request, which the answer holds. */
    answer_code(s, &ans, code, 0, bad, bad_avp);
    cx_stats_count_code(&s->stats, cmd, code, cx_stats_now_ns() - t->t0);
    txn_free(t);
    atomic_fetch_sub(&s->inflight, 1);
    return;
  }
  t->ans = ans;
  atomic_store(&t->pending, 1); /* held until every request is out */
  switch (cmd) {
  case IMSEC_CX_CMD_UA:
    submit(t, IMSEC_SVC_HSS_SUB, SLOT_SUB, t->impi);
    break;
  case IMSEC_CX_CMD_SA:
    if (t->impi[0])
      submit(t, IMSEC_SVC_HSS_SUB, SLOT_SUB, t->impi);
    else
      submit(t, IMSEC_SVC_HSS_SUB_IMPU, SLOT_SUB, t->impu[0]);
    break;
  case IMSEC_CX_CMD_LI:
    submit(t, IMSEC_SVC_HSS_SUB_IMPU, SLOT_SUB, t->impu[0]);
    break;
  case IMSEC_CX_CMD_MA:
    if (t->scheme != SCHEME_DIGEST)
      submit(t, IMSEC_SVC_HSS_SUB, SLOT_SUB, t->impi);
    if (t->scheme != SCHEME_AKA)
      submit(t, IMSEC_SVC_HSS_DIGEST, SLOT_DIGEST, t->impi);
    if (t->resync)
      submit(t, IMSEC_SVC_HSS_RESYNC, SLOT_RESYNC, t->impi);
    if (t->scheme != SCHEME_DIGEST)
      for (int i = 0; i < t->n_vec; i++)
        submit(t, IMSEC_SVC_HSS_VECTOR, SLOT_VEC0 + (uint64_t)i, t->impi);
    break;
  }
  txn_release(t);
}

/* ------------------------------------------------------------ lifecycle */

void imsec_cx_log_level(int level) {
  imsec_cx_core_log_level(level);
}

int imsec_cx_server_inflight(imsec_cx_server *s) {
  return s ? atomic_load(&s->inflight) : 0;
}

static int server_alloc(imsec_cx_server **out, imsec_svc *hss,
                        imsec_cx_send_fn send, void *arg) {
  if (!out || !hss || !send)
    return IMSEC_ERR_INVAL;
  imsec_cx_server *s = calloc(1, sizeof(*s));
  if (!s)
    return IMSEC_ERR_NOMEM;
  s->hss = hss;
  s->send = send;
  s->send_arg = arg;
  /* The IMPIs keyed here are subscribers the HSS knows, not chosen by a
   * peer; a random seed all the same (imsec/map.h). */
  uint8_t seed[16] = {0};
  if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed)
    memset(seed, 0x5a, sizeof seed);
  imsec_map_init_str(&s->asg, seed);
  pthread_mutex_init(&s->mu, NULL);
  atomic_init(&s->inflight, 0);
  atomic_init(&s->draining, 0);
  cx_stats_init(&s->stats);
  *out = s;
  return 0;
}

int imsec_cx_server_detached(imsec_cx_server **out, imsec_svc *hss,
                             imsec_cx_send_fn send, void *arg) {
  return server_alloc(out, hss, send, arg);
}

static int on_request(struct msg **msg, struct avp *avp, struct session *sess,
                      void *opaque, enum disp_action *act) {
  (void)avp, (void)sess;
  imsec_cx_server_handle(opaque, msg);
  *act = DISP_ACT_CONT;
  return 0;
}

static int setup(void *arg, char *err, size_t errcap) {
  imsec_cx_server *s = arg;
  IMSEC_GUARD(imsec_cx_dict_load(err, errcap));
  /* One handler for the whole application: freeDiameter answers a
   * command its dictionary lacks (DIAMETER_COMMAND_UNSUPPORTED) before
   * dispatch; the handler answers any other it does not serve. */
  struct disp_when w;
  memset(&w, 0, sizeof w);
  w.app = imsec_cx_d.app;
  if (fd_disp_register(on_request, DISP_HOW_APPID, &w, s, &s->hdl) != 0) {
    snprintf(err, errcap, "cannot register the Cx handler");
    return IMSEC_ERR_CONFIG;
  }
  return 0;
}

int imsec_cx_server_new(imsec_cx_server **out, const imsec_cx_config *c,
                        imsec_svc *hss, char *err, size_t errcap) {
  if (err && errcap)
    err[0] = '\0';
  if (!out || !c || !hss)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  imsec_cx_server *s = NULL;
  IMSEC_GUARD(server_alloc(&s, hss, fd_send, NULL));
  int rv = imsec_cx_core_start(c, IMSEC_CX_ROLE_SERVER, setup, s, err, errcap);
  if (rv < 0) {
    if (s->hdl)
      (void)fd_disp_unregister(&s->hdl, NULL);
    imsec_map_free(&s->asg);
    pthread_mutex_destroy(&s->mu);
    cx_stats_destroy(&s->stats);
    free(s);
    return rv;
  }
  s->core = 1;
  *out = s;
  return 0;
}

void imsec_cx_server_del(imsec_cx_server *s) {
  if (!s)
    return;
  if (s->hdl)
    (void)fd_disp_unregister(&s->hdl, NULL);
  /* Requests still with the HSS service finish (their answers fail to
   * leave once the core is down and are freed). The service answers
   * every request it took (svc.h), so this ends. */
  while (atomic_load(&s->inflight) > 0) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  if (s->core)
    imsec_cx_core_stop();
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&s->asg, &it)) != NULL)
    free(sl->val);
  imsec_map_free(&s->asg);
  pthread_mutex_destroy(&s->mu);
  cx_stats_destroy(&s->stats);
  free(s);
}

/* ----------------------------------------------------------- operations */

void imsec_cx_server_metrics(imsec_cx_server *s, struct imsec_metrics *m) {
  if (!s || !m)
    return;
  cx_stats_metrics(
      &s->stats, m, "imsec_cx_requests_total",
      "Cx requests answered by command and Result-Code or "
      "Experimental-Result-Code (none: no answer could be built)",
      "imsec_cx_request_duration_seconds",
      "Time from a Cx request's arrival to its answer leaving, by command");
  (void)imsec_metrics_declare(m, "imsec_cx_requests_in_flight",
                              IMSEC_METRIC_GAUGE,
                              "Cx requests taken and not yet answered");
  (void)imsec_metrics_add(m, "imsec_cx_requests_in_flight",
                          (double)atomic_load(&s->inflight),
                          (const char *)NULL);
  /* The assignment state kept in memory (TS 29.228 §6.1.2). */
  size_t n[3] = {0, 0, 0};
  pthread_mutex_lock(&s->mu);
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&s->asg, &it)) != NULL) {
    const asg *a = sl->val;
    if (a->state >= ASG_PENDING && a->state <= ASG_REGISTERED)
      n[a->state - ASG_PENDING]++;
  }
  pthread_mutex_unlock(&s->mu);
  (void)imsec_metrics_declare(
      m, "imsec_cx_assignments", IMSEC_METRIC_GAUGE,
      "IMPIs with an S-CSCF assigned, by state (kept in memory)");
  static const char *const names[3] = {"pending", "unregistered", "registered"};
  for (int k = 0; k < 3; k++)
    (void)imsec_metrics_add(m, "imsec_cx_assignments", (double)n[k], "state",
                            names[k], (const char *)NULL);
  if (s->core)
    imsec_cx_core_metrics(m);
}

int imsec_cx_server_list(imsec_cx_server *s, const char *what,
                         struct imsec_table *t) {
  if (!s || !what || !t)
    return IMSEC_ERR_INVAL;
  if (strcmp(what, "peers") != 0) /* no secret: a listing's name */
    return IMSEC_ERR_UNSUPPORTED;
  static const char *const cols[] = IMSEC_CX_PEER_COLS;
  IMSEC_GUARD(imsec_table_init(t, cols, sizeof cols / sizeof cols[0]));
  return s->core ? imsec_cx_core_list_peers(t) : 0;
}

void imsec_cx_server_drain(imsec_cx_server *s) {
  if (!s)
    return;
  atomic_store(&s->draining, 1);
  if (s->core)
    imsec_cx_core_refuse_peers(1);
}

int imsec_cx_server_busy(imsec_cx_server *s) {
  return s ? atomic_load(&s->inflight) : 0;
}
