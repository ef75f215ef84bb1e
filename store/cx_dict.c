/*
 * The Cx dictionary (TS 29.229 §6) on top of what freeDiameter's
 * dict_dcca_3gpp extension defines, and AVP helpers (store/cx_int.h).
 *
 * Each object is looked up first (by code and vendor, never by name:
 * names differ between dictionary versions) and defined only when
 * absent, so a newer extension that knows Cx takes precedence.
 */
#include "cx_int.h"

#include <stdio.h>
#include <string.h>

imsec_cx_dict imsec_cx_d;
static int dict_loaded;

#define V AVP_FLAG_VENDOR
#define M AVP_FLAG_MANDATORY

/* One AVP the Cx code needs. `flags` is the V/M value to send; only the
 * V bit is enforced on receipt (peers disagree on M for the newer Cx
 * AVPs, and RFC 6733 §4.1 makes M the sender's statement). */
typedef struct avp_def {
  struct dict_object **slot;
  uint32_t code;
  uint32_t vendor;
  const char *name;
  enum dict_avp_basetype base;
  uint8_t flags;
  const char *type; /* derived type name (NULL: none) */
} avp_def;

#define D (&imsec_cx_d)
#define VND IMSEC_CX_VENDOR_3GPP

static const avp_def avp_defs[] = {
    /* Cx, TS 29.229 §6.3 (Table 6.3.1). */
    {&D->visited_network_id, 600, VND, "Visited-Network-Identifier",
     AVP_TYPE_OCTETSTRING, V | M, NULL},
    {&D->public_identity, 601, VND, "Public-Identity", AVP_TYPE_OCTETSTRING,
     V | M, "UTF8String"},
    {&D->server_name, 602, VND, "Server-Name", AVP_TYPE_OCTETSTRING, V | M,
     "UTF8String"},
    {&D->server_capabilities, 603, VND, "Server-Capabilities", AVP_TYPE_GROUPED,
     V | M, NULL},
    {&D->mandatory_capability, 604, VND, "Mandatory-Capability",
     AVP_TYPE_UNSIGNED32, V | M, NULL},
    {&D->optional_capability, 605, VND, "Optional-Capability",
     AVP_TYPE_UNSIGNED32, V | M, NULL},
    {&D->user_data, 606, VND, "User-Data", AVP_TYPE_OCTETSTRING, V | M, NULL},
    {&D->sip_number_auth_items, 607, VND, "SIP-Number-Auth-Items",
     AVP_TYPE_UNSIGNED32, V | M, NULL},
    {&D->sip_auth_scheme, 608, VND, "SIP-Authentication-Scheme",
     AVP_TYPE_OCTETSTRING, V | M, "UTF8String"},
    {&D->sip_authenticate, 609, VND, "SIP-Authenticate", AVP_TYPE_OCTETSTRING,
     V | M, NULL},
    {&D->sip_authorization, 610, VND, "SIP-Authorization", AVP_TYPE_OCTETSTRING,
     V | M, NULL},
    {&D->sip_auth_context, 611, VND, "SIP-Authentication-Context",
     AVP_TYPE_OCTETSTRING, V | M, NULL},
    {&D->sip_auth_data_item, 612, VND, "SIP-Auth-Data-Item", AVP_TYPE_GROUPED,
     V | M, NULL},
    {&D->sip_item_number, 613, VND, "SIP-Item-Number", AVP_TYPE_UNSIGNED32,
     V | M, NULL},
    {&D->server_assignment_type, 614, VND, "Server-Assignment-Type",
     AVP_TYPE_INTEGER32, V | M, NULL},
    {&D->deregistration_reason, 615, VND, "Deregistration-Reason",
     AVP_TYPE_GROUPED, V | M, NULL},
    {&D->reason_code, 616, VND, "Reason-Code", AVP_TYPE_INTEGER32, V | M, NULL},
    {&D->reason_info, 617, VND, "Reason-Info", AVP_TYPE_OCTETSTRING, V | M,
     "UTF8String"},
    {&D->user_authorization_type, 623, VND, "User-Authorization-Type",
     AVP_TYPE_INTEGER32, V | M, NULL},
    {&D->user_data_already_available, 624, VND, "User-Data-Already-Available",
     AVP_TYPE_INTEGER32, V | M, NULL},
    {&D->confidentiality_key, 625, VND, "Confidentiality-Key",
     AVP_TYPE_OCTETSTRING, V | M, NULL},
    {&D->integrity_key, 626, VND, "Integrity-Key", AVP_TYPE_OCTETSTRING, V | M,
     NULL},
    /* TS 29.229 §6.3.29-31 refer to TS 29.329 §6.3: V set, M clear. */
    {&D->supported_features, 628, VND, "Supported-Features", AVP_TYPE_GROUPED,
     V, NULL},
    {&D->feature_list_id, 629, VND, "Feature-List-ID", AVP_TYPE_UNSIGNED32, V,
     NULL},
    {&D->feature_list, 630, VND, "Feature-List", AVP_TYPE_UNSIGNED32, V, NULL},
    {&D->associated_identities, 632, VND, "Associated-Identities",
     AVP_TYPE_GROUPED, V, NULL},
    {&D->originating_request, 633, VND, "Originating-Request",
     AVP_TYPE_INTEGER32, V | M, NULL},
    {&D->wildcarded_public_identity, 634, VND, "Wildcarded-Public-Identity",
     AVP_TYPE_OCTETSTRING, V, "UTF8String"},
    {&D->sip_digest_authenticate, 635, VND, "SIP-Digest-Authenticate",
     AVP_TYPE_GROUPED, V, NULL},
    {&D->uar_flags, 637, VND, "UAR-Flags", AVP_TYPE_UNSIGNED32, V, NULL},
    {&D->lia_flags, 653, VND, "LIA-Flags", AVP_TYPE_UNSIGNED32, V, NULL},
    {&D->sar_flags, 655, VND, "SAR-Flags", AVP_TYPE_UNSIGNED32, V, NULL},
    /* SIP Digest, RFC 4740 §9.5 (vendor 0, M set). */
    {&D->digest_realm, 104, 0, "Digest-Realm", AVP_TYPE_OCTETSTRING, M,
     "UTF8String"},
    {&D->digest_qop, 110, 0, "Digest-QoP", AVP_TYPE_OCTETSTRING, M,
     "UTF8String"},
    {&D->digest_algorithm, 111, 0, "Digest-Algorithm", AVP_TYPE_OCTETSTRING, M,
     "UTF8String"},
    {&D->digest_ha1, 121, 0, "Digest-HA1", AVP_TYPE_OCTETSTRING, M,
     "UTF8String"},
    {&D->digest_username, 115, 0, "Digest-Username", AVP_TYPE_OCTETSTRING, M,
     "UTF8String"},
};

/* Base protocol AVPs, always in freeDiameter's own dictionary. */
typedef struct base_def {
  struct dict_object **slot;
  uint32_t code;
} base_def;

static const base_def base_defs[] = {
    {&D->user_name, 1},
    {&D->session_id, 263},
    {&D->origin_host, 264},
    {&D->origin_realm, 296},
    {&D->dest_host, 293},
    {&D->dest_realm, 283},
    {&D->auth_session_state, 277},
    {&D->vsai, 260},
    {&D->vendor_id, 266},
    {&D->auth_app_id, 258},
    {&D->result_code, 268},
    {&D->exp_result, 297},
    {&D->exp_result_code, 298},
    {&D->failed_avp, 279},
    {&D->error_message, 281},
};

/* Rules of a grouped AVP or a command: which children, how many. */
typedef struct rule_def {
  struct dict_object **avp;
  enum rule_position pos;
  int min, max; /* -1: the defaults of struct dict_rule_data */
} rule_def;

#define HEAD(a)                                                                \
  { &D->a, RULE_FIXED_HEAD, 1, 1 }
#define REQ(a)                                                                 \
  { &D->a, RULE_REQUIRED, 1, 1 }
#define OPT(a)                                                                 \
  { &D->a, RULE_OPTIONAL, 0, 1 }
#define ANY(a)                                                                 \
  { &D->a, RULE_OPTIONAL, 0, -1 }
#define END                                                                    \
  { NULL, RULE_OPTIONAL, 0, 0 }

/* Groups, TS 29.229 §6.3 (added only to groups defined here). */
static const rule_def r_server_capabilities[] = {
    ANY(mandatory_capability), ANY(optional_capability), ANY(server_name), END};
static const rule_def r_sip_auth_data_item[] = {OPT(sip_item_number),
                                                OPT(sip_auth_scheme),
                                                OPT(sip_authenticate),
                                                OPT(sip_authorization),
                                                OPT(sip_auth_context),
                                                OPT(confidentiality_key),
                                                OPT(integrity_key),
                                                OPT(sip_digest_authenticate),
                                                END};
static const rule_def r_deregistration_reason[] = {REQ(reason_code),
                                                   OPT(reason_info), END};
static const rule_def r_supported_features[] = {
    REQ(vendor_id), REQ(feature_list_id), REQ(feature_list), END};
static const rule_def r_associated_identities[] = {ANY(user_name), END};
static const rule_def r_sip_digest_authenticate[] = {
    REQ(digest_realm), OPT(digest_algorithm), OPT(digest_qop), REQ(digest_ha1),
    END};

typedef struct group_def {
  struct dict_object **group;
  const rule_def *rules;
} group_def;

static const group_def group_defs[] = {
    {&D->server_capabilities, r_server_capabilities},
    {&D->sip_auth_data_item, r_sip_auth_data_item},
    {&D->deregistration_reason, r_deregistration_reason},
    {&D->supported_features, r_supported_features},
    {&D->associated_identities, r_associated_identities},
    {&D->sip_digest_authenticate, r_sip_digest_authenticate},
};

/* Commands, TS 29.229 §6.1.1-6.1.8. Requests carry what the HSS needs
 * to answer at all; freeDiameter answers a request missing one with
 * DIAMETER_MISSING_AVP (RFC 6733 §7.1.5) before it reaches us. Answers
 * are checked only for what RFC 6733 §6.2 requires of every answer, so
 * that an error answer from a relay still reaches the client. */
static const rule_def r_uar[] = {
    HEAD(session_id),        REQ(vsai),
    REQ(auth_session_state), REQ(origin_host),
    REQ(origin_realm),       OPT(dest_host),
    REQ(dest_realm),         REQ(user_name),
    ANY(supported_features), REQ(public_identity),
    REQ(visited_network_id), OPT(user_authorization_type),
    OPT(uar_flags),          END};
static const rule_def r_sar[] = {HEAD(session_id),
                                 REQ(vsai),
                                 REQ(auth_session_state),
                                 REQ(origin_host),
                                 REQ(origin_realm),
                                 OPT(dest_host),
                                 REQ(dest_realm),
                                 OPT(user_name),
                                 ANY(supported_features),
                                 ANY(public_identity),
                                 OPT(wildcarded_public_identity),
                                 REQ(server_name),
                                 REQ(server_assignment_type),
                                 REQ(user_data_already_available),
                                 OPT(sar_flags),
                                 END};
static const rule_def r_lir[] = {HEAD(session_id),
                                 REQ(vsai),
                                 REQ(auth_session_state),
                                 REQ(origin_host),
                                 REQ(origin_realm),
                                 OPT(dest_host),
                                 REQ(dest_realm),
                                 OPT(originating_request),
                                 ANY(supported_features),
                                 REQ(public_identity),
                                 OPT(user_authorization_type),
                                 END};
static const rule_def r_mar[] = {
    HEAD(session_id),        REQ(vsai),
    REQ(auth_session_state), REQ(origin_host),
    REQ(origin_realm),       REQ(dest_realm),
    OPT(dest_host),          REQ(user_name),
    ANY(supported_features), REQ(public_identity),
    REQ(sip_auth_data_item), REQ(sip_number_auth_items),
    REQ(server_name),        END};
static const rule_def r_answer[] = {HEAD(session_id), REQ(origin_host),
                                    REQ(origin_realm), END};

typedef struct cmd_def {
  struct dict_object **req, **ans;
  uint32_t code;
  const char *req_name, *ans_name;
  const rule_def *req_rules;
} cmd_def;

static const cmd_def cmd_defs[] = {
    {&D->uar, &D->uaa, IMSEC_CX_CMD_UA, "User-Authorization-Request",
     "User-Authorization-Answer", r_uar},
    {&D->sar, &D->saa, IMSEC_CX_CMD_SA, "Server-Assignment-Request",
     "Server-Assignment-Answer", r_sar},
    {&D->lir, &D->lia, IMSEC_CX_CMD_LI, "Location-Info-Request",
     "Location-Info-Answer", r_lir},
    {&D->mar, &D->maa, IMSEC_CX_CMD_MA, "Multimedia-Auth-Request",
     "Multimedia-Auth-Answer", r_mar},
};

static int fail(char *err, size_t errcap, const char *what, int rc) {
  if (err && errcap)
    snprintf(err, errcap, "Cx dictionary: %s: %s", what, strerror(rc));
  return IMSEC_ERR_CONFIG;
}

static int add_rules(struct dictionary *dict, struct dict_object *parent,
                     const rule_def *r) {
  for (; r->avp; r++) {
    struct dict_rule_data rd;
    memset(&rd, 0, sizeof rd);
    rd.rule_avp = *r->avp;
    rd.rule_position = r->pos;
    rd.rule_order = r->pos == RULE_FIXED_HEAD ? 1 : 0;
    rd.rule_min = r->min;
    rd.rule_max = r->max;
    int rc = fd_dict_new(dict, DICT_RULE, &rd, parent, NULL);
    if (rc && rc != EEXIST)
      return rc;
  }
  return 0;
}

static int load_avps(struct dictionary *dict, char *err, size_t errcap,
                     uint8_t *created) {
  for (size_t i = 0; i < sizeof base_defs / sizeof base_defs[0]; i++) {
    avp_code_t code = base_defs[i].code;
    int rc = fd_dict_search(dict, DICT_AVP, AVP_BY_CODE, &code,
                            base_defs[i].slot, ENOENT);
    if (rc)
      return fail(err, errcap, "a base protocol AVP is missing", rc);
  }
  for (size_t i = 0; i < sizeof avp_defs / sizeof avp_defs[0]; i++) {
    const avp_def *a = &avp_defs[i];
    struct dict_avp_request q = {a->vendor, a->code, NULL};
    created[i] = 0;
    int rc =
        fd_dict_search(dict, DICT_AVP, AVP_BY_CODE_AND_VENDOR, &q, a->slot, 0);
    if (rc == 0 && *a->slot)
      continue;
    struct dict_object *type = NULL;
    if (a->type)
      (void)fd_dict_search(dict, DICT_TYPE, TYPE_BY_NAME, a->type, &type, 0);
    struct dict_avp_data ad;
    memset(&ad, 0, sizeof ad);
    ad.avp_code = a->code;
    ad.avp_vendor = a->vendor;
    ad.avp_name = (char *)a->name;
    ad.avp_flag_mask = AVP_FLAG_VENDOR;
    ad.avp_flag_val = a->flags;
    ad.avp_basetype = a->base;
    rc = fd_dict_new(dict, DICT_AVP, &ad, type, a->slot);
    if (rc)
      return fail(err, errcap, a->name, rc);
    created[i] = 1;
  }
  return 0;
}

static int load_groups(struct dictionary *dict, const uint8_t *created,
                       char *err, size_t errcap) {
  for (size_t g = 0; g < sizeof group_defs / sizeof group_defs[0]; g++) {
    int mine = 0;
    for (size_t i = 0; i < sizeof avp_defs / sizeof avp_defs[0]; i++)
      if (avp_defs[i].slot == group_defs[g].group)
        mine = created[i];
    if (!mine)
      continue; /* the extension's own rules stand */
    int rc = add_rules(dict, *group_defs[g].group, group_defs[g].rules);
    if (rc)
      return fail(err, errcap, "rules of a grouped AVP", rc);
  }
  return 0;
}

static int load_commands(struct dictionary *dict, char *err, size_t errcap) {
  for (size_t i = 0; i < sizeof cmd_defs / sizeof cmd_defs[0]; i++) {
    const cmd_def *c = &cmd_defs[i];
    command_code_t code = c->code;
    int have_r = fd_dict_search(dict, DICT_COMMAND, CMD_BY_CODE_R, &code,
                                c->req, 0) == 0 &&
                 *c->req;
    int have_a = fd_dict_search(dict, DICT_COMMAND, CMD_BY_CODE_A, &code,
                                c->ans, 0) == 0 &&
                 *c->ans;
    int rc;
    if (!have_r) {
      /* TS 29.229 §6.1: R and P set in requests; E never set. */
      struct dict_cmd_data cd = {c->code, (char *)c->req_name,
                                 CMD_FLAG_REQUEST | CMD_FLAG_PROXIABLE |
                                     CMD_FLAG_ERROR,
                                 CMD_FLAG_REQUEST | CMD_FLAG_PROXIABLE};
      rc = fd_dict_new(dict, DICT_COMMAND, &cd, imsec_cx_d.app, c->req);
      if (rc)
        return fail(err, errcap, c->req_name, rc);
      rc = add_rules(dict, *c->req, c->req_rules);
      if (rc)
        return fail(err, errcap, c->req_name, rc);
    }
    if (!have_a) {
      /* Answers: P set, E may be set (RFC 6733 §7.2 error answers). */
      struct dict_cmd_data cd = {c->code, (char *)c->ans_name,
                                 CMD_FLAG_REQUEST | CMD_FLAG_PROXIABLE,
                                 CMD_FLAG_PROXIABLE};
      rc = fd_dict_new(dict, DICT_COMMAND, &cd, imsec_cx_d.app, c->ans);
      if (rc)
        return fail(err, errcap, c->ans_name, rc);
      rc = add_rules(dict, *c->ans, r_answer);
      if (rc)
        return fail(err, errcap, c->ans_name, rc);
    }
  }
  return 0;
}

int imsec_cx_dict_load(char *err, size_t errcap) {
  if (dict_loaded)
    return 0;
  if (err && errcap)
    err[0] = '\0';
  struct dictionary *dict = fd_g_config ? fd_g_config->cnf_dict : NULL;
  if (!dict)
    return fail(err, errcap, "freeDiameter is not initialised", EINVAL);

  vendor_id_t vid = IMSEC_CX_VENDOR_3GPP;
  int rc = fd_dict_search(dict, DICT_VENDOR, VENDOR_BY_ID, &vid,
                          &imsec_cx_d.vendor, 0);
  if (rc || !imsec_cx_d.vendor) {
    struct dict_vendor_data vd = {IMSEC_CX_VENDOR_3GPP, (char *)"3GPP"};
    rc = fd_dict_new(dict, DICT_VENDOR, &vd, NULL, &imsec_cx_d.vendor);
    if (rc)
      return fail(err, errcap, "vendor 3GPP", rc);
  }
  application_id_t aid = IMSEC_CX_APP_ID;
  rc = fd_dict_search(dict, DICT_APPLICATION, APPLICATION_BY_ID, &aid,
                      &imsec_cx_d.app, 0);
  if (rc || !imsec_cx_d.app) {
    /* TS 29.229 §6: the Cx/Dx interface application. */
    struct dict_application_data ad = {IMSEC_CX_APP_ID, (char *)"3GPP Cx/Dx"};
    rc = fd_dict_new(dict, DICT_APPLICATION, &ad, imsec_cx_d.vendor,
                     &imsec_cx_d.app);
    if (rc)
      return fail(err, errcap, "application Cx", rc);
  }

  uint8_t created[sizeof avp_defs / sizeof avp_defs[0]];
  rc = load_avps(dict, err, errcap, created);
  if (rc)
    return rc;
  rc = load_groups(dict, created, err, errcap);
  if (rc)
    return rc;
  rc = load_commands(dict, err, errcap);
  if (rc)
    return rc;
  dict_loaded = 1;
  return 0;
}

/* ------------------------------------------------------------- helpers */

static int fd_err(int rc) {
  return rc == ENOMEM ? IMSEC_ERR_NOMEM : IMSEC_ERR_INVAL;
}

static int add_avp(void *parent, struct avp *a) {
  int rc = fd_msg_avp_add(parent, MSG_BRW_LAST_CHILD, a);
  if (rc) {
    fd_msg_free(a);
    return fd_err(rc);
  }
  return 0;
}

int imsec_cx_add_os(void *parent, struct dict_object *d, const void *p,
                    size_t n) {
  if (!parent || !d || (!p && n))
    return IMSEC_ERR_INVAL;
  struct avp *a = NULL;
  int rc = fd_msg_avp_new(d, 0, &a);
  if (rc)
    return fd_err(rc);
  union avp_value v;
  memset(&v, 0, sizeof v);
  /* freeDiameter copies the octets. */
  v.os.data = (uint8_t *)(uintptr_t)(p ? p : "");
  v.os.len = n;
  rc = fd_msg_avp_setvalue(a, &v);
  if (rc) {
    fd_msg_free(a);
    return fd_err(rc);
  }
  return add_avp(parent, a);
}

int imsec_cx_add_str(void *parent, struct dict_object *d, const char *s) {
  if (!s)
    return IMSEC_ERR_INVAL;
  return imsec_cx_add_os(parent, d, s, strlen(s));
}

int imsec_cx_add_int(void *parent, struct dict_object *d, int64_t v) {
  if (!parent || !d)
    return IMSEC_ERR_INVAL;
  struct dict_avp_data ad;
  if (fd_dict_getval(d, &ad))
    return IMSEC_ERR_INVAL;
  union avp_value val;
  memset(&val, 0, sizeof val);
  switch (ad.avp_basetype) {
  case AVP_TYPE_INTEGER32:
    val.i32 = (int32_t)v;
    break;
  case AVP_TYPE_UNSIGNED32:
    val.u32 = (uint32_t)v;
    break;
  case AVP_TYPE_INTEGER64:
    val.i64 = v;
    break;
  case AVP_TYPE_UNSIGNED64:
    val.u64 = (uint64_t)v;
    break;
  default:
    return IMSEC_ERR_INVAL;
  }
  struct avp *a = NULL;
  int rc = fd_msg_avp_new(d, 0, &a);
  if (rc)
    return fd_err(rc);
  rc = fd_msg_avp_setvalue(a, &val);
  if (rc) {
    fd_msg_free(a);
    return fd_err(rc);
  }
  return add_avp(parent, a);
}

int imsec_cx_add_group(void *parent, struct dict_object *d, struct avp **out) {
  if (!parent || !d || !out)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  struct avp *a = NULL;
  int rc = fd_msg_avp_new(d, 0, &a);
  if (rc)
    return fd_err(rc);
  rc = add_avp(parent, a);
  if (rc == 0)
    *out = a;
  return rc;
}

int imsec_cx_add_vsai(struct msg *m) {
  struct avp *g = NULL;
  int rc = imsec_cx_add_group(m, imsec_cx_d.vsai, &g);
  if (rc == 0)
    rc = imsec_cx_add_int(g, imsec_cx_d.vendor_id, IMSEC_CX_VENDOR_3GPP);
  if (rc == 0)
    rc = imsec_cx_add_int(g, imsec_cx_d.auth_app_id, IMSEC_CX_APP_ID);
  return rc;
}

int imsec_cx_set_result(struct msg *ans, uint32_t code) {
  return imsec_cx_add_int(ans, imsec_cx_d.result_code, code);
}

int imsec_cx_set_exp_result(struct msg *ans, uint32_t code) {
  struct avp *g = NULL;
  int rc = imsec_cx_add_group(ans, imsec_cx_d.exp_result, &g);
  if (rc == 0)
    rc = imsec_cx_add_int(g, imsec_cx_d.vendor_id, IMSEC_CX_VENDOR_3GPP);
  if (rc == 0)
    rc = imsec_cx_add_int(g, imsec_cx_d.exp_result_code, code);
  return rc;
}

static struct avp *scan(void *from, enum msg_brw_dir dir,
                        struct dict_object *d) {
  void *cur = NULL;
  if (fd_msg_browse(from, dir, &cur, NULL))
    return NULL;
  while (cur) {
    struct dict_object *model = NULL;
    if (fd_msg_model(cur, &model) == 0 && model == d)
      return cur;
    void *next = NULL;
    if (fd_msg_browse(cur, MSG_BRW_NEXT, &next, NULL))
      return NULL;
    cur = next;
  }
  return NULL;
}

struct avp *imsec_cx_find(void *parent, struct dict_object *d) {
  if (!parent || !d)
    return NULL;
  return scan(parent, MSG_BRW_FIRST_CHILD, d);
}

struct avp *imsec_cx_next(struct avp *a) {
  if (!a)
    return NULL;
  struct dict_object *model = NULL;
  if (fd_msg_model(a, &model) || !model)
    return NULL;
  return scan(a, MSG_BRW_NEXT, model);
}

const uint8_t *imsec_cx_os(struct avp *a, size_t *len) {
  struct avp_hdr *h = NULL;
  if (len)
    *len = 0;
  if (!a || fd_msg_avp_hdr(a, &h) || !h || !h->avp_value)
    return NULL;
  if (len)
    *len = h->avp_value->os.len;
  /* A zero-length value may have a NULL pointer: never NULL for a
   * present AVP. */
  return h->avp_value->os.data ? h->avp_value->os.data : (const uint8_t *)"";
}

int imsec_cx_str(struct avp *a, char *buf, size_t cap) {
  size_t n = 0;
  const uint8_t *p = imsec_cx_os(a, &n);
  if (!buf || !cap)
    return IMSEC_ERR_INVAL;
  buf[0] = '\0';
  if (!p || n >= cap || memchr(p, '\0', n))
    return IMSEC_ERR_INVAL;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return 0;
}

int imsec_cx_get_str(void *parent, struct dict_object *d, char *buf,
                     size_t cap) {
  struct avp *a = imsec_cx_find(parent, d);
  if (!a) {
    if (buf && cap)
      buf[0] = '\0';
    return IMSEC_ERR_NOTFOUND;
  }
  return imsec_cx_str(a, buf, cap);
}

int imsec_cx_get_int(void *parent, struct dict_object *d, int64_t *v) {
  struct avp *a = imsec_cx_find(parent, d);
  struct avp_hdr *h = NULL;
  struct dict_avp_data ad;
  if (!a)
    return IMSEC_ERR_NOTFOUND;
  if (fd_msg_avp_hdr(a, &h) || !h || !h->avp_value || fd_dict_getval(d, &ad))
    return IMSEC_ERR_INVAL;
  switch (ad.avp_basetype) {
  case AVP_TYPE_INTEGER32:
    *v = h->avp_value->i32;
    return 0;
  case AVP_TYPE_UNSIGNED32:
    *v = h->avp_value->u32;
    return 0;
  case AVP_TYPE_INTEGER64:
    *v = h->avp_value->i64;
    return 0;
  case AVP_TYPE_UNSIGNED64:
    *v = (int64_t)h->avp_value->u64;
    return 0;
  default:
    return IMSEC_ERR_INVAL;
  }
}

int imsec_cx_get_result(struct msg *ans, uint32_t *code, int *experimental) {
  int64_t v = 0;
  *code = 0;
  *experimental = 0;
  if (imsec_cx_get_int(ans, imsec_cx_d.result_code, &v) == 0) {
    *code = (uint32_t)v;
    return 0;
  }
  struct avp *g = imsec_cx_find(ans, imsec_cx_d.exp_result);
  if (g && imsec_cx_get_int(g, imsec_cx_d.exp_result_code, &v) == 0) {
    *code = (uint32_t)v;
    *experimental = 1;
    return 0;
  }
  return IMSEC_ERR_NOTFOUND;
}
