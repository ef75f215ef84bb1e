/*
 * The S-CSCF's side of Cx (TS 29.228 procedures, TS 29.229 protocol) on
 * freeDiameter: an imsec_svc answering the HSS requests of an S-CSCF
 * with a remote HSS (include/imsec/cx.h).
 *
 *   HSS_SUB, HSS_SUB_IMPU  SAR NO_ASSIGNMENT (TS 29.228 §6.1.2: the
 *                          profile only): User-Name and the implicit set
 *                          of the User-Data (Annex E)
 *   HSS_ASSIGN             SAR with the S-CSCF's Server-Assignment-Type
 *   HSS_VECTOR             MAR, SIP-Authentication-Scheme Digest-AKAv1-MD5
 *   HSS_RESYNC             MAR with SIP-Authorization RAND||AUTS (TS 29.229
 *                          §6.3.10, TS 33.203 §6.1.2)
 *   HSS_DIGEST             MAR, scheme "SIP Digest" (TS 29.228 §6.3.3)
 *
 * The S-CSCF picks its challenge from the subscriber record's scheme
 * (TS 33.203 Annex P.4), which Cx carries only in a MAA: the client
 * learns it per IMPI from every MAA, and when a lookup finds an IMPI it
 * has not learnt yet it follows the SAR with one MAR of scheme "Unknown"
 * (TS 29.229 §6.3.9: the HSS chooses). That MAR's vector (or H(A1)s) is
 * kept for the S-CSCF's next HSS_VECTOR (HSS_DIGEST) of that IMPI, which
 * comes at once: no SQN is spent on the lookup. A resynchronisation's
 * MAA vector is kept the same way for the request that follows it. A
 * kept secret is handed out once, or wiped after KEPT_MS.
 *
 * Spare vectors. Every IMS AKA MAR asks for MAR_VECTORS vectors
 * (SIP-Number-Auth-Items, TS 29.228 §6.3.3, TS 29.229 §6.3.8): the first
 * answers the request, the others wait per IMPI, in the order the HSS
 * made them (rising SQN), for the IMPI's next HSS_VECTORs, so most
 * re-registrations cost one Cx transaction (the SAR before the 200)
 * instead of two. Each spare is handed out once; they are wiped after
 * SPARE_MS (checked at most once a second, on the next request), on a
 * resynchronisation of the IMPI (their SQNs are behind the UE's), when
 * the IMPI's scheme changes, and on shutdown; at most SPARE_MAX are held
 * in all. The HSS made every SQN durable before the MAA left it; a spare
 * never used only skips SQNs, which the USIM accepts (TS 33.102 C.2:
 * SQN need only rise per IND; imsec's HSS gives consecutive vectors
 * consecutive INDs, C.3.2, so two S-CSCFs' spares used out of order are
 * accepted as well).
 *
 * Requests run on freeDiameter's threads; nothing here waits. Each one
 * has a deadline (imsec_cx_config.timeout_ms) past which freeDiameter
 * gives it back (expirecb) and the S-CSCF gets IMSEC_ERR_TIMEOUT.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "store/cx_core.h"
#include "store/cx_int.h"
#include "store/cx_stats.h"

#include "imsec/map.h"
#include "imsec/obs.h"

#define CX_DEFAULT_TIMEOUT_MS 2000
/* How long a vector or H(A1)s from a lookup's MAR waits for the S-CSCF
 * to ask for it. */
#define KEPT_MS 10000
/* IMPIs whose scheme the client remembers; past it the table starts
 * over (a lookup then costs one MAR again). */
#define INFO_MAX 65536
/* Vectors one MAR asks for (the server answers 1 to 5). */
#define MAR_VECTORS 4
/* How long a spare vector waits for its IMPI's next registration. */
#define SPARE_MS 30000
/* Spare vectors held in all (each ~100 octets of secrets). */
#define SPARE_MAX 16384

/* What the client learnt of one IMPI. */
typedef struct cx_info {
  int learnt; /* 1: a MAA told the scheme */
  imsec_hss_scheme scheme;
  imsec_hss_aka aka;
  char realm[IMSEC_HSS_ID_MAX]; /* SIP Digest realm */
  char impu0[IMSEC_HSS_ID_MAX]; /* the default public identity */
  int64_t kept_until;           /* monotonic ms; 0: nothing kept */
  int kept_vec;                 /* 1: vec/vec_aka hold a vector */
  imsec_aka_vector vec;         /* secret */
  imsec_hss_aka vec_aka;
  int kept_dig;      /* 1: dig holds H(A1)s */
  imsec_hss_sub dig; /* secret */
  int n_spare;       /* spare vectors, oldest (lowest SQN) first */
  imsec_aka_vector spare[MAR_VECTORS - 1]; /* secret */
  imsec_hss_aka spare_aka;
  int64_t spare_until;               /* monotonic ms */
  char spare_impu[IMSEC_HSS_ID_MAX]; /* the MARs' Public-Identity */
  unsigned resyncs; /* resynchronisations asked for this IMPI */
} cx_info;

typedef struct cx_client {
  imsec_svc base;
  int timeout_ms;
  char server_name[IMSEC_HSS_ID_MAX];
  pthread_mutex_t mu; /* guards info and closed */
  imsec_map info;     /* IMPI -> cx_info* */
  int n_spares;       /* spare vectors held in all */
  int64_t next_sweep; /* monotonic ms */
  int closed;
  atomic_int inflight;
  cx_stats stats; /* Cx exchanges by command and result, durations */
} cx_client;

/* One service request in flight. */
typedef struct cx_txn {
  cx_client *c;
  imsec_svc_req req; /* a copy (rand and auts wiped at the end) */
  imsec_svc_done_fn done;
  void *arg;
  int64_t deadline; /* monotonic ms */
  int probing;      /* a lookup's follow-up MAR (scheme "Unknown") */
  char mar_impu[IMSEC_HSS_ID_MAX]; /* the MAR's Public-Identity */
  unsigned resyncs;  /* the IMPI's cx_info.resyncs when the MAR left */
  uint32_t sent_cmd; /* the Cx command on the wire (SAR, then a MAR) */
  int64_t sent_ns;   /* monotonic ns it left */
  imsec_svc_reply rep;
} cx_txn;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ the cache */

static void info_wipe_kept(cx_info *i) {
  imsec_aka_vector_wipe(&i->vec);
  imsec_hss_sub_wipe(&i->dig);
  i->kept_vec = i->kept_dig = 0;
  i->kept_until = 0;
}

static void spare_wipe(cx_client *c, cx_info *i) {
  for (int k = 0; k < i->n_spare; k++)
    imsec_aka_vector_wipe(&i->spare[k]);
  c->n_spares -= i->n_spare;
  i->n_spare = 0;
  i->spare_until = 0;
}

static void info_free(cx_client *c, cx_info *i) {
  if (!i)
    return;
  spare_wipe(c, i);
  info_wipe_kept(i);
  imsec_wipe(i, sizeof(*i));
  free(i);
}

static void info_clear(cx_client *c) {
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&c->info, &it)) != NULL)
    info_free(c, sl->val);
  imsec_map_free(&c->info);
  uint8_t seed[16] = {0};
  if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed)
    memset(seed, 0x3c, sizeof seed);
  imsec_map_init_str(&c->info, seed);
}

/* The entry of impi, made when absent (NULL: no memory). Under mu. */
static cx_info *info_get(cx_client *c, const char *impi, int make) {
  cx_info *i = imsec_map_sget(&c->info, imsec_str_c(impi));
  if (i || !make)
    return i;
  if (imsec_map_len(&c->info) >= INFO_MAX)
    info_clear(c);
  i = calloc(1, sizeof(*i));
  if (!i)
    return NULL;
  i->scheme = IMSEC_HSS_SCHEME_AKA;
  i->aka = IMSEC_HSS_AKAV1;
  if (imsec_map_sput(&c->info, imsec_str_c(impi), i, NULL) != 0) {
    free(i);
    return NULL;
  }
  return i;
}

/* Wipes what waited too long: spare and kept secrets past their time.
 * Runs at most once a second, on a request, under mu. */
static void sweep(cx_client *c, int64_t now) {
  if (now < c->next_sweep)
    return;
  c->next_sweep = now + 1000;
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&c->info, &it)) != NULL) {
    cx_info *i = sl->val;
    if (i->n_spare && now > i->spare_until)
      spare_wipe(c, i);
    if (i->kept_until && now > i->kept_until)
      info_wipe_kept(i);
  }
}

/* The oldest spare vector of the IMPI, taken once (1), or 0. A request
 * naming a Public-Identity other than the one the HSS checked against
 * the IMPI when it made the spares (TS 29.228 §6.3.3.1) gets a MAR. */
static int spare_take(cx_client *c, const imsec_svc_req *r,
                      imsec_svc_reply *rep) {
  int got = 0;
  pthread_mutex_lock(&c->mu);
  int64_t now = mono_ms();
  cx_info *i = info_get(c, r->key, 0);
  if (i && i->n_spare) {
    if (now > i->spare_until) {
      spare_wipe(c, i);
    } else if (r->impu[0] &&
               strcmp(r->impu, i->spare_impu) != 0) { /* no secret: IMPU */
      got = 0;
    } else {
      rep->vec = i->spare[0];
      rep->aka = i->spare_aka;
      for (int k = 1; k < i->n_spare; k++)
        i->spare[k - 1] = i->spare[k];
      imsec_aka_vector_wipe(&i->spare[i->n_spare - 1]);
      i->n_spare--;
      c->n_spares--;
      got = 1;
    }
  }
  pthread_mutex_unlock(&c->mu);
  return got;
}

/* Keeps vecs[0..n) as the IMPI's spares, after those it holds (they came
 * from an earlier MAR: lower SQNs); `reset` drops those first (a
 * resynchronisation). What does not fit is wiped: its SQNs are skipped,
 * and so are the vectors of a MAR sent before a resynchronisation of the
 * IMPI was asked for (`resyncs` differs: they are behind the UE). */
static void spare_keep(cx_client *c, const char *impi, const char *impu,
                       unsigned resyncs, imsec_aka_vector *vecs, int n,
                       imsec_hss_aka aka, int reset) {
  pthread_mutex_lock(&c->mu);
  cx_info *i = info_get(c, impi, n > 0 || reset);
  if (i && (reset || resyncs == i->resyncs)) {
    int other = strcmp(i->spare_impu, impu) != 0; /* no secret: IMPU */
    if (reset || (i->n_spare && (i->spare_aka != aka || other)))
      spare_wipe(c, i);
    snprintf(i->spare_impu, sizeof i->spare_impu, "%s", impu);
    if (i->n_spare == 0)
      i->spare_until = mono_ms() + SPARE_MS;
    i->spare_aka = aka;
    for (int k = 0;
         k < n && i->n_spare < MAR_VECTORS - 1 && c->n_spares < SPARE_MAX;
         k++) {
      i->spare[i->n_spare++] = vecs[k];
      c->n_spares++;
    }
  }
  pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------ result mapping */

/* A Cx answer's outcome as imsec_err (include/imsec/cx.h). */
static int map_result(uint32_t code, int exp) {
  if (!exp) {
    if (code >= 2000 && code < 3000)
      return 0;
    switch (code) {
    case IMSEC_DIA_UNABLE_TO_DELIVER:
      /* freeDiameter answers it itself when no peer is open. */
      return imsec_cx_core_peer_open() ? IMSEC_ERR_BUSY : IMSEC_ERR_TIMEOUT;
    case IMSEC_DIA_TOO_BUSY:
      return IMSEC_ERR_BUSY;
    case IMSEC_DIA_AUTHORIZATION_REJECTED:
      /* A resynchronisation whose AUTS did not verify (TS 33.102
       * §6.3.5), as the embedded HSS reports it. */
      return IMSEC_ERR_MAC;
    default:
      return IMSEC_ERR_IO;
    }
  }
  switch (code) {
  case IMSEC_CX_FIRST_REGISTRATION:
  case IMSEC_CX_SUBSEQUENT_REGISTRATION:
  case IMSEC_CX_UNREGISTERED_SERVICE:
  case IMSEC_CX_SUCCESS_SERVER_NAME_NOT_STORED:
    return 0;
  case IMSEC_CX_ERROR_USER_UNKNOWN:
  case IMSEC_CX_ERROR_IDENTITIES_DONT_MATCH:
  case IMSEC_CX_ERROR_IDENTITY_NOT_REGISTERED:
    return IMSEC_ERR_NOTFOUND;
  case IMSEC_CX_ERROR_AUTH_SCHEME_NOT_SUPPORTED:
    return IMSEC_ERR_UNSUPPORTED;
  default:
    return IMSEC_ERR_IO;
  }
}

/* ------------------------------------------------------------- requests */

/* The AVPs every Cx request starts with (TS 29.229 §6.1.1 ff.). */
static int request_new(struct dict_object *cmd, struct msg **out) {
  struct msg *m = NULL;
  if (fd_msg_new(cmd, MSGFL_ALLOC_ETEID, &m) != 0)
    return IMSEC_ERR_NOMEM;
  int rv = fd_msg_new_session(m, (os0_t) "cx", 2) ? IMSEC_ERR_NOMEM : 0;
  if (rv == 0)
    rv = imsec_cx_add_vsai(m);
  if (rv == 0)
    rv = imsec_cx_add_int(m, imsec_cx_d.auth_session_state,
                          IMSEC_CX_NO_STATE_MAINTAINED);
  if (rv == 0)
    rv = fd_msg_add_origin(m, 0) ? IMSEC_ERR_NOMEM : 0;
  if (rv == 0)
    rv = imsec_cx_add_str(m, imsec_cx_d.dest_realm, imsec_cx_core_peer_realm());
  if (rv == 0)
    rv = imsec_cx_add_str(m, imsec_cx_d.dest_host,
                          imsec_cx_core_peer_identity());
  if (rv) {
    fd_msg_free(m);
    return rv;
  }
  *out = m;
  return 0;
}

static void on_answer(void *data, struct msg **ans);
static void on_expire(void *data, DiamId_t id, size_t idlen, struct msg **req);

static int send_txn(cx_txn *t, struct msg **m) {
  struct msg_hdr *h = NULL;
  t->sent_cmd = fd_msg_hdr(*m, &h) == 0 && h ? h->msg_code : 0;
  t->sent_ns = cx_stats_now_ns();
  int64_t left = t->deadline - mono_ms();
  if (left < 1)
    left = 1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += left / 1000;
  ts.tv_nsec += (long)(left % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  if (fd_msg_send_timeout(m, on_answer, t, on_expire, &ts) != 0) {
    if (*m)
      fd_msg_free(*m);
    *m = NULL;
    return IMSEC_ERR_IO;
  }
  return 0;
}

/* SAR (TS 29.229 §6.1.3). */
static int build_sar(cx_txn *t, struct msg **out) {
  const imsec_svc_req *r = &t->req;
  struct msg *m = NULL;
  IMSEC_GUARD(request_new(imsec_cx_d.sar, &m));
  int rv = 0;
  imsec_svc_assign type = IMSEC_SVC_ASSIGN_NONE;
  const char *impi = "", *impu = r->impu;
  switch (r->kind) {
  case IMSEC_SVC_HSS_SUB:
    impi = r->key;
    break;
  case IMSEC_SVC_HSS_SUB_IMPU:
    impu = r->key;
    break;
  default: /* HSS_ASSIGN */
    impi = r->key;
    type = r->assign;
    break;
  }
  if (impi[0])
    rv = imsec_cx_add_str(m, imsec_cx_d.user_name, impi);
  if (rv == 0 && impu[0])
    rv = imsec_cx_add_str(m, imsec_cx_d.public_identity, impu);
  if (rv == 0)
    rv = imsec_cx_add_str(m, imsec_cx_d.server_name, t->c->server_name);
  if (rv == 0)
    rv = imsec_cx_add_int(m, imsec_cx_d.server_assignment_type, type);
  if (rv == 0)
    rv = imsec_cx_add_int(m, imsec_cx_d.user_data_already_available,
                          IMSEC_CX_USER_DATA_NOT_AVAILABLE);
  if (rv) {
    fd_msg_free(m);
    return rv;
  }
  *out = m;
  return 0;
}

/* MAR (TS 29.229 §6.1.7) for `impi`: one SIP-Auth-Data-Item with the
 * scheme and, for a resynchronisation, SIP-Authorization RAND||AUTS;
 * n_items vectors asked for (SIP-Number-Auth-Items). */
static int build_mar(cx_txn *t, const char *impi, const char *impu,
                     const char *scheme, int resync, int n_items,
                     struct msg **out) {
  struct msg *m = NULL;
  IMSEC_GUARD(request_new(imsec_cx_d.mar, &m));
  struct avp *item = NULL;
  int rv = imsec_cx_add_str(m, imsec_cx_d.user_name, impi);
  if (rv == 0)
    rv = imsec_cx_add_str(m, imsec_cx_d.public_identity, impu);
  if (rv == 0)
    rv = imsec_cx_add_group(m, imsec_cx_d.sip_auth_data_item, &item);
  if (rv == 0)
    rv = imsec_cx_add_str(item, imsec_cx_d.sip_auth_scheme, scheme);
  if (rv == 0 && resync) {
    uint8_t ra[IMSEC_AKA_RAND_LEN + IMSEC_AKA_AUTS_LEN];
    memcpy(ra, t->req.rand, IMSEC_AKA_RAND_LEN);
    memcpy(ra + IMSEC_AKA_RAND_LEN, t->req.auts, IMSEC_AKA_AUTS_LEN);
    rv = imsec_cx_add_os(item, imsec_cx_d.sip_authorization, ra, sizeof ra);
    imsec_wipe(ra, sizeof ra);
  }
  if (rv == 0)
    rv = imsec_cx_add_int(m, imsec_cx_d.sip_number_auth_items, n_items);
  if (rv == 0)
    rv = imsec_cx_add_str(m, imsec_cx_d.server_name, t->c->server_name);
  if (rv) {
    fd_msg_free(m);
    return rv;
  }
  *out = m;
  return 0;
}

/* The Public-Identity a MAR about `impi` names (required, TS 29.229
 * §6.1.7): the request's, the default one a SAR taught, or the
 * temporary public identity derived from the IMPI (TS 23.003 §13.4B). */
static void mar_impu(cx_client *c, const imsec_svc_req *r, char *buf,
                     size_t cap) {
  if (r->impu[0]) {
    snprintf(buf, cap, "%s", r->impu);
    return;
  }
  pthread_mutex_lock(&c->mu);
  cx_info *i = info_get(c, r->key, 0);
  if (i && i->impu0[0])
    snprintf(buf, cap, "%s", i->impu0);
  else if (snprintf(buf, cap, "sip:%s", r->key) >= (int)cap)
    buf[0] = '\0'; /* too long for an identity: the HSS refuses it */
  pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------- replies */

static void txn_end(cx_txn *t, int status) {
  cx_client *c = t->c;
  t->rep.kind = t->req.kind;
  t->rep.id = t->req.id;
  t->rep.status = status;
  t->rep.last = 1;
  if (status < 0) {
    imsec_aka_vector_wipe(&t->rep.vec);
    imsec_hss_sub_wipe(&t->rep.sub);
  }
  t->done(t->arg, &t->req, &t->rep);
  imsec_aka_vector_wipe(&t->rep.vec);
  imsec_hss_sub_wipe(&t->rep.sub);
  imsec_wipe(t, sizeof(*t));
  free(t);
  atomic_fetch_sub(&c->inflight, 1);
}

/* One SIP-Auth-Data-Item of IMS AKA (TS 29.229 §6.3.13-6.3.14,
 * §6.3.24-25) into a vector. */
static int read_aka_item(struct avp *item, imsec_aka_vector *v) {
  size_t n = 0;
  const uint8_t *p =
      imsec_cx_os(imsec_cx_find(item, imsec_cx_d.sip_authenticate), &n);
  if (!p || n != IMSEC_AKA_RAND_LEN + IMSEC_AKA_AUTN_LEN)
    return IMSEC_ERR_PARSE;
  memcpy(v->rand, p, IMSEC_AKA_RAND_LEN);
  memcpy(v->autn, p + IMSEC_AKA_RAND_LEN, IMSEC_AKA_AUTN_LEN);
  p = imsec_cx_os(imsec_cx_find(item, imsec_cx_d.sip_authorization), &n);
  if (!p || n < 4 || n > IMSEC_AKA_RES_MAX)
    return IMSEC_ERR_PARSE;
  memcpy(v->xres, p, n);
  v->xres_len = n;
  p = imsec_cx_os(imsec_cx_find(item, imsec_cx_d.confidentiality_key), &n);
  if (!p || n != IMSEC_AKA_CK_LEN)
    return IMSEC_ERR_PARSE;
  memcpy(v->ck, p, n);
  p = imsec_cx_os(imsec_cx_find(item, imsec_cx_d.integrity_key), &n);
  if (!p || n != IMSEC_AKA_IK_LEN)
    return IMSEC_ERR_PARSE;
  memcpy(v->ik, p, n);
  return 0;
}

typedef struct maa_out {
  int have_vec;
  imsec_aka_vector vec; /* secret: the first vector */
  int n_more;
  imsec_aka_vector more[MAR_VECTORS - 1]; /* secret: the others, in order */
  imsec_hss_aka aka;
  int have_dig;
  imsec_hss_sub dig; /* secret */
  int have_ha1[IMSEC_HSS_HA1_ALGS][IMSEC_HSS_USER_FORMS];
} maa_out;

/* One SIP Digest item: SIP-Digest-Authenticate (TS 29.229 §6.3.36,
 * RFC 4740 §9.5) into dig's realm and ha1[alg][form]. */
static int read_digest_item(struct avp *item, maa_out *o) {
  imsec_hss_sub *dig = &o->dig;
  struct avp *da = imsec_cx_find(item, imsec_cx_d.sip_digest_authenticate);
  if (!da)
    return IMSEC_ERR_PARSE;
  char alg[32] = "MD5", hex[80], realm[IMSEC_HSS_ID_MAX];
  (void)imsec_cx_get_str(da, imsec_cx_d.digest_algorithm, alg, sizeof alg);
  int a;
  if (strcasecmp(alg, "MD5") == 0) /* no secret: algorithm name */
    a = IMSEC_HSS_HA1_MD5;
  else if (strcasecmp(alg, "SHA-256") == 0) /* no secret: algorithm name */
    a = IMSEC_HSS_HA1_SHA256;
  else
    return 0; /* an algorithm imsec does not offer: skip it */
  int form = imsec_cx_find(da, imsec_cx_d.digest_username)
                 ? IMSEC_HSS_USER_PART
                 : IMSEC_HSS_USER_IMPI;
  if (imsec_cx_get_str(da, imsec_cx_d.digest_realm, realm, sizeof realm) == 0)
    snprintf(dig->digest.realm, sizeof dig->digest.realm, "%s", realm);
  if (imsec_cx_get_str(da, imsec_cx_d.digest_ha1, hex, sizeof hex) < 0)
    return IMSEC_ERR_PARSE;
  size_t want = a == IMSEC_HSS_HA1_MD5 ? 16 : 32;
  int rv = strlen(hex) == 2 * want
               ? imsec_hex_decode(hex, 2 * want, dig->digest.ha1[a][form], 32)
               : IMSEC_ERR_PARSE;
  imsec_wipe(hex, sizeof hex);
  if (rv < 0)
    return IMSEC_ERR_PARSE;
  o->have_ha1[a][form] = 1;
  return 0;
}

/* The items of a MAA: the AKA vectors (of the first one's version, in
 * the order sent), or every SIP Digest H(A1). */
static int read_maa(struct msg *ans, maa_out *o) {
  int bad = 0;
  for (struct avp *it = imsec_cx_find(ans, imsec_cx_d.sip_auth_data_item); it;
       it = imsec_cx_next(it)) {
    char scheme[64] = "";
    if (imsec_cx_get_str(it, imsec_cx_d.sip_auth_scheme, scheme,
                         sizeof scheme) < 0)
      continue;
    if (strncasecmp(scheme, "Digest-AKAv", 11) == 0) { /* no secret: name */
      if (o->have_vec) {
        /* no secret: a scheme name */
        int v2 = strncasecmp(scheme, "Digest-AKAv2", 12) == 0;
        imsec_hss_aka v = v2 ? IMSEC_HSS_AKAV2 : IMSEC_HSS_AKAV1;
        if (v != o->aka || o->n_more >= MAR_VECTORS - 1)
          continue;
        if (read_aka_item(it, &o->more[o->n_more]) < 0)
          imsec_aka_vector_wipe(&o->more[o->n_more]);
        else
          o->n_more++;
        continue;
      }
      if (read_aka_item(it, &o->vec) < 0) {
        bad = 1;
        imsec_aka_vector_wipe(&o->vec);
        continue;
      }
      o->have_vec = 1;
      o->aka = strncasecmp(scheme, "Digest-AKAv2", 12) == 0 /* no secret */
                   ? IMSEC_HSS_AKAV2
                   : IMSEC_HSS_AKAV1;
    } else if (strcasecmp(scheme, IMSEC_CX_SCHEME_DIGEST) == 0) { /* no
                                                                     secret */
      if (read_digest_item(it, o) < 0) {
        bad = 1;
        continue;
      }
      o->have_dig = 1;
    }
  }
  if (o->have_dig) {
    /* An HSS that sent only the IMPI form: the user-part form copies it
     * (the S-CSCF then only accepts what that HSS can check). */
    for (int a = 0; a < IMSEC_HSS_HA1_ALGS; a++)
      if (!o->have_ha1[a][IMSEC_HSS_USER_PART] &&
          o->have_ha1[a][IMSEC_HSS_USER_IMPI])
        memcpy(o->dig.digest.ha1[a][IMSEC_HSS_USER_PART],
               o->dig.digest.ha1[a][IMSEC_HSS_USER_IMPI], 32);
  }
  return o->have_vec || o->have_dig ? 0
         : bad                      ? IMSEC_ERR_PARSE
                                    : IMSEC_ERR_NOTFOUND;
}

/* Learn the IMPI's scheme from a MAA (and keep its secret for the next
 * request when `keep`). Under no lock. */
static void learn(cx_client *c, const char *impi, maa_out *o, int keep) {
  pthread_mutex_lock(&c->mu);
  cx_info *i = info_get(c, impi, 1);
  if (i) {
    i->learnt = 1;
    if (o->have_dig) {
      i->scheme = IMSEC_HSS_SCHEME_DIGEST;
      snprintf(i->realm, sizeof i->realm, "%s", o->dig.digest.realm);
    } else if (o->have_vec) {
      i->scheme = IMSEC_HSS_SCHEME_AKA;
      i->aka = o->aka;
    }
    if (keep) {
      info_wipe_kept(i);
      i->kept_until = mono_ms() + KEPT_MS;
      if (o->have_vec) {
        i->vec = o->vec;
        i->vec_aka = o->aka;
        i->kept_vec = 1;
      } else if (o->have_dig) {
        i->dig = o->dig;
        i->kept_dig = 1;
      }
    }
  }
  pthread_mutex_unlock(&c->mu);
}

/* A kept vector or H(A1)s for the request, taken once. */
static int take_kept(cx_client *c, const imsec_svc_req *r,
                     imsec_svc_reply *rep) {
  int got = 0;
  pthread_mutex_lock(&c->mu);
  cx_info *i = info_get(c, r->key, 0);
  if (i && i->kept_until) {
    if (mono_ms() > i->kept_until) {
      info_wipe_kept(i);
    } else if (r->kind == IMSEC_SVC_HSS_VECTOR && i->kept_vec) {
      rep->vec = i->vec;
      rep->aka = i->vec_aka;
      info_wipe_kept(i);
      got = 1;
    } else if (r->kind == IMSEC_SVC_HSS_DIGEST && i->kept_dig) {
      rep->sub = i->dig;
      info_wipe_kept(i);
      got = 1;
    }
  }
  pthread_mutex_unlock(&c->mu);
  return got;
}

/* The scheme learnt for the record (1), or 0 when none was. */
static int fill_scheme(cx_client *c, imsec_hss_sub *sub) {
  int known = 0;
  pthread_mutex_lock(&c->mu);
  cx_info *i = info_get(c, sub->impi, sub->n_impus > 0);
  if (i) {
    if (sub->n_impus)
      snprintf(i->impu0, sizeof i->impu0, "%s", sub->impus[0]);
    known = i->learnt;
    sub->scheme = i->scheme;
    sub->aka = i->aka;
    snprintf(sub->digest.realm, sizeof sub->digest.realm, "%s", i->realm);
  }
  pthread_mutex_unlock(&c->mu);
  return known;
}

static void on_saa(cx_txn *t, struct msg *ans) {
  cx_client *c = t->c;
  imsec_hss_sub *sub = &t->rep.sub;
  memset(sub, 0, sizeof(*sub));
  sub->scheme = IMSEC_HSS_SCHEME_AKA;
  sub->aka = IMSEC_HSS_AKAV1;
  (void)imsec_cx_get_str(ans, imsec_cx_d.user_name, sub->impi,
                         sizeof sub->impi);
  size_t n = 0;
  const uint8_t *xml =
      imsec_cx_os(imsec_cx_find(ans, imsec_cx_d.user_data), &n);
  if (xml && imsec_cx_user_data_parse(xml, n, sub) < 0) {
    txn_end(t, IMSEC_ERR_IO);
    return;
  }
  if (!sub->impi[0] && t->req.kind != IMSEC_SVC_HSS_SUB_IMPU)
    snprintf(sub->impi, sizeof sub->impi, "%s", t->req.key);
  if (t->req.kind == IMSEC_SVC_HSS_ASSIGN) {
    (void)fill_scheme(c, sub);
    txn_end(t, 0);
    return;
  }
  if (!sub->impi[0] || !sub->n_impus) {
    /* A profile without the private identity or without a public one
     * is of no use to the S-CSCF. */
    txn_end(t, IMSEC_ERR_IO);
    return;
  }
  if (fill_scheme(c, sub)) {
    txn_end(t, 0);
    return;
  }
  /* The scheme is not known yet: ask the HSS (scheme "Unknown"); its
   * vector is kept for the HSS_VECTOR that follows. */
  struct msg *m = NULL;
  t->probing = 1;
  snprintf(t->mar_impu, sizeof t->mar_impu, "%s", sub->impus[0]);
  if (build_mar(t, sub->impi, sub->impus[0], IMSEC_CX_SCHEME_UNKNOWN, 0,
                MAR_VECTORS, &m) < 0 ||
      send_txn(t, &m) < 0)
    txn_end(t, IMSEC_ERR_IO);
}

static void on_maa(cx_txn *t, struct msg *ans) {
  cx_client *c = t->c;
  maa_out o;
  memset(&o, 0, sizeof o);
  const char *impi = t->probing ? t->rep.sub.impi : t->req.key;
  int rv = read_maa(ans, &o);
  if (rv == 0) {
    switch (t->req.kind) {
    case IMSEC_SVC_HSS_VECTOR:
      if (!o.have_vec) {
        rv = IMSEC_ERR_UNSUPPORTED;
        break;
      }
      learn(c, impi, &o, 0);
      spare_keep(c, impi, t->mar_impu, t->resyncs, o.more, o.n_more, o.aka, 0);
      t->rep.vec = o.vec;
      t->rep.aka = o.aka;
      break;
    case IMSEC_SVC_HSS_DIGEST:
      if (!o.have_dig) {
        rv = IMSEC_ERR_UNSUPPORTED;
        break;
      }
      learn(c, impi, &o, 0);
      t->rep.sub = o.dig;
      snprintf(t->rep.sub.impi, sizeof t->rep.sub.impi, "%s", impi);
      t->rep.sub.scheme = IMSEC_HSS_SCHEME_DIGEST;
      break;
    case IMSEC_SVC_HSS_RESYNC:
      /* The HSS reset SQN and made a vector from it (TS 29.228
       * §6.3.3.1): the S-CSCF's next HSS_VECTOR takes that one. */
      learn(c, impi, &o, 1);
      spare_keep(c, impi, t->mar_impu, t->resyncs, o.more, o.n_more, o.aka, 1);
      break;
    default: /* a lookup's scheme probe */
      learn(c, impi, &o, 1);
      spare_keep(c, impi, t->mar_impu, t->resyncs, o.more, o.n_more, o.aka, 0);
      (void)fill_scheme(c, &t->rep.sub);
      break;
    }
  } else if (t->probing) {
    /* The subscriber exists (the SAR said so) but the HSS gave no
     * credentials: the record stands, with the scheme guessed. */
    rv = 0;
  }
  imsec_aka_vector_wipe(&o.vec);
  for (int k = 0; k < MAR_VECTORS - 1; k++)
    imsec_aka_vector_wipe(&o.more[k]);
  imsec_hss_sub_wipe(&o.dig);
  txn_end(t, rv);
}

static void on_answer(void *data, struct msg **ans) {
  cx_txn *t = data;
  struct msg *a = *ans;
  *ans = NULL;
  uint32_t code = 0;
  int exp = 0;
  int rv = imsec_cx_get_result(a, &code, &exp) < 0 ? IMSEC_ERR_IO
                                                   : map_result(code, exp);
  if (rv == IMSEC_ERR_IO && code == 0)
    cx_stats_count(&t->c->stats, t->sent_cmd, "unreadable",
                   cx_stats_now_ns() - t->sent_ns);
  else
    cx_stats_count_code(&t->c->stats, t->sent_cmd, code,
                        cx_stats_now_ns() - t->sent_ns);
  if (rv == IMSEC_ERR_UNSUPPORTED && !t->probing) {
    /* The subscriber's scheme is not the one learnt (changed at the
     * HSS): forget it, the next lookup asks again. */
    pthread_mutex_lock(&t->c->mu);
    info_free(t->c, imsec_map_sdel(&t->c->info, imsec_str_c(t->req.key)));
    pthread_mutex_unlock(&t->c->mu);
  }
  if (rv < 0) {
    if (t->probing && rv != IMSEC_ERR_TIMEOUT && rv != IMSEC_ERR_BUSY)
      rv = 0; /* keep the SAR's record */
    fd_msg_free(a);
    txn_end(t, rv);
    return;
  }
  struct msg_hdr *h = NULL;
  uint32_t cmd = fd_msg_hdr(a, &h) == 0 && h ? h->msg_code : 0;
  if (cmd == IMSEC_CX_CMD_SA && !t->probing)
    on_saa(t, a);
  else if (cmd == IMSEC_CX_CMD_MA)
    on_maa(t, a);
  else
    txn_end(t, IMSEC_ERR_IO);
  fd_msg_free(a);
}

/* No answer by the deadline (freeDiameter discards a late one). */
static void on_expire(void *data, DiamId_t id, size_t idlen, struct msg **req) {
  (void)id, (void)idlen;
  cx_txn *t = data;
  if (*req) {
    fd_msg_free(*req);
    *req = NULL;
  }
  cx_stats_count(&t->c->stats, t->sent_cmd, "timeout",
                 cx_stats_now_ns() - t->sent_ns);
  txn_end(t, IMSEC_ERR_TIMEOUT);
}

/* ------------------------------------------------------------- service */

static int cx_submit(imsec_svc *s, imsec_svc_req *req, imsec_svc_done_fn done,
                     void *arg) {
  cx_client *c = (cx_client *)s;
  switch (req->kind) {
  case IMSEC_SVC_HSS_SUB:
  case IMSEC_SVC_HSS_SUB_IMPU:
  case IMSEC_SVC_HSS_ASSIGN:
  case IMSEC_SVC_HSS_VECTOR:
  case IMSEC_SVC_HSS_RESYNC:
  case IMSEC_SVC_HSS_DIGEST:
    break;
  default:
    return IMSEC_ERR_UNSUPPORTED;
  }
  pthread_mutex_lock(&c->mu);
  int closed = c->closed;
  if (!closed)
    sweep(c, mono_ms());
  pthread_mutex_unlock(&c->mu);
  if (closed)
    return IMSEC_ERR_CLOSED;
  cx_txn *t = calloc(1, sizeof(*t));
  if (!t)
    return IMSEC_ERR_NOMEM;
  t->c = c;
  t->req = *req;
  memset(&t->req.reg, 0, sizeof t->req.reg); /* not an HSS field */
  t->done = done;
  t->arg = arg;
  t->deadline = mono_ms() + c->timeout_ms;
  atomic_fetch_add(&c->inflight, 1);

  if ((req->kind == IMSEC_SVC_HSS_VECTOR ||
       req->kind == IMSEC_SVC_HSS_DIGEST) &&
      take_kept(c, req, &t->rep)) {
    if (req->kind == IMSEC_SVC_HSS_DIGEST) {
      snprintf(t->rep.sub.impi, sizeof t->rep.sub.impi, "%s", req->key);
      t->rep.sub.scheme = IMSEC_HSS_SCHEME_DIGEST;
    }
    txn_end(t, 0);
    return 0;
  }
  if (req->kind == IMSEC_SVC_HSS_VECTOR && spare_take(c, req, &t->rep)) {
    txn_end(t, 0);
    return 0;
  }
  {
    /* A resynchronisation: the UE's SQN is past the spares' (TS 33.102
     * §6.3.5), drop them, and the vectors of MARs still in flight. */
    pthread_mutex_lock(&c->mu);
    cx_info *i =
        info_get(c, req->key, req->kind == IMSEC_SVC_HSS_RESYNC && req->key[0]);
    if (i && req->kind == IMSEC_SVC_HSS_RESYNC) {
      spare_wipe(c, i);
      i->resyncs++;
    }
    t->resyncs = i ? i->resyncs : 0;
    pthread_mutex_unlock(&c->mu);
  }
  /* No HSS peer: the S-CSCF answers at once (504) rather than wait. */
  if (!imsec_cx_core_peer_open()) {
    int mar = req->kind == IMSEC_SVC_HSS_VECTOR ||
              req->kind == IMSEC_SVC_HSS_RESYNC ||
              req->kind == IMSEC_SVC_HSS_DIGEST;
    cx_stats_count(&c->stats, mar ? IMSEC_CX_CMD_MA : IMSEC_CX_CMD_SA,
                   "no_peer", -1);
    txn_end(t, IMSEC_ERR_TIMEOUT);
    return 0;
  }
  if (!req->key[0] && req->kind != IMSEC_SVC_HSS_ASSIGN) {
    txn_end(t, IMSEC_ERR_NOTFOUND);
    return 0;
  }
  struct msg *m = NULL;
  int rv;
  char impu[IMSEC_HSS_ID_MAX];
  switch (req->kind) {
  case IMSEC_SVC_HSS_VECTOR:
    mar_impu(c, req, impu, sizeof impu);
    snprintf(t->mar_impu, sizeof t->mar_impu, "%s", impu);
    rv = build_mar(t, req->key, impu, IMSEC_CX_SCHEME_AKA, 0, MAR_VECTORS, &m);
    break;
  case IMSEC_SVC_HSS_RESYNC:
    mar_impu(c, req, impu, sizeof impu);
    snprintf(t->mar_impu, sizeof t->mar_impu, "%s", impu);
    rv = build_mar(t, req->key, impu, IMSEC_CX_SCHEME_AKA, 1, MAR_VECTORS, &m);
    break;
  case IMSEC_SVC_HSS_DIGEST:
    mar_impu(c, req, impu, sizeof impu);
    snprintf(t->mar_impu, sizeof t->mar_impu, "%s", impu);
    rv = build_mar(t, req->key, impu, IMSEC_CX_SCHEME_DIGEST, 0, 1, &m);
    break;
  default:
    rv = build_sar(t, &m);
    break;
  }
  if (rv == 0)
    rv = send_txn(t, &m);
  if (rv < 0)
    txn_end(t, rv == IMSEC_ERR_NOMEM ? rv : IMSEC_ERR_IO);
  return 0;
}

static void cx_destroy(imsec_svc *s) {
  cx_client *c = (cx_client *)s;
  pthread_mutex_lock(&c->mu);
  c->closed = 1;
  pthread_mutex_unlock(&c->mu);
  /* Every request in flight ends by its answer or its deadline. */
  while (atomic_load(&c->inflight) > 0) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  imsec_cx_core_stop();
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&c->info, &it)) != NULL)
    info_free(c, sl->val);
  imsec_map_free(&c->info);
  pthread_mutex_destroy(&c->mu);
  cx_stats_destroy(&c->stats);
  free(c);
}

/* Operations (svc.h: from any thread). */
static void cx_metrics(imsec_svc *s, struct imsec_metrics *m) {
  cx_client *c = (cx_client *)s;
  cx_stats_metrics(&c->stats, m, "imsec_cx_client_requests_total",
                   "Cx requests sent to the HSS by command and the "
                   "Result-Code or Experimental-Result-Code answered "
                   "(timeout: no answer in time; no_peer: not sent, the "
                   "HSS peer was not open)",
                   "imsec_cx_client_request_duration_seconds",
                   "Time from a Cx request leaving to its answer, by command");
  pthread_mutex_lock(&c->mu);
  int spares = c->n_spares;
  pthread_mutex_unlock(&c->mu);
  (void)imsec_metrics_declare(
      m, "imsec_cx_spare_vectors", IMSEC_METRIC_GAUGE,
      "IMS AKA vectors received in a MAA and held for the IMPI's next "
      "challenge");
  (void)imsec_metrics_add(m, "imsec_cx_spare_vectors", (double)spares,
                          (const char *)NULL);
  imsec_cx_core_metrics(m);
}

static int cx_list(imsec_svc *s, const char *what, struct imsec_table *t) {
  (void)s;
  if (strcmp(what, "peers") != 0) /* no secret: a listing's name */
    return IMSEC_ERR_UNSUPPORTED;
  static const char *const cols[] = IMSEC_CX_PEER_COLS;
  IMSEC_GUARD(imsec_table_init(t, cols, sizeof cols / sizeof cols[0]));
  return imsec_cx_core_list_peers(t);
}

static const imsec_svc_vtable cx_vt = {.submit = cx_submit,
                                       .destroy = cx_destroy,
                                       .metrics = cx_metrics,
                                       .list = cx_list};

static int client_setup(void *arg, char *err, size_t errcap) {
  (void)arg;
  return imsec_cx_dict_load(err, errcap);
}

int imsec_cx_client_new(imsec_svc **out, const imsec_cx_config *cfg, char *err,
                        size_t errcap) {
  if (err && errcap)
    err[0] = '\0';
  if (!out || !cfg)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  cx_client *c = calloc(1, sizeof(*c));
  if (!c)
    return IMSEC_ERR_NOMEM;
  c->base.vt = &cx_vt;
  c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : CX_DEFAULT_TIMEOUT_MS;
  /* Server-Name: this S-CSCF's SIP URI (TS 29.228 §6.1.2). */
  int n = cfg->server_name && cfg->server_name[0]
              ? snprintf(c->server_name, sizeof c->server_name, "%s",
                         cfg->server_name)
              : snprintf(c->server_name, sizeof c->server_name, "sip:%s",
                         cfg->identity ? cfg->identity : "");
  if (n < 0 || (size_t)n >= sizeof c->server_name) {
    free(c);
    if (err && errcap)
      snprintf(err, errcap, "Server-Name too long");
    return IMSEC_ERR_CONFIG;
  }
  pthread_mutex_init(&c->mu, NULL);
  atomic_init(&c->inflight, 0);
  cx_stats_init(&c->stats);
  uint8_t seed[16] = {0};
  if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed)
    memset(seed, 0x3c, sizeof seed);
  imsec_map_init_str(&c->info, seed);
  int rv = imsec_cx_core_start(cfg, IMSEC_CX_ROLE_CLIENT, client_setup, c, err,
                               errcap);
  if (rv < 0) {
    imsec_map_free(&c->info);
    pthread_mutex_destroy(&c->mu);
    cx_stats_destroy(&c->stats);
    free(c);
    return rv;
  }
  *out = &c->base;
  return 0;
}

int imsec_cx_client_ready(imsec_svc *client) {
  return client && client->vt == &cx_vt && imsec_cx_core_peer_open();
}
