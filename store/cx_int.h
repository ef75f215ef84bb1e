/*
 * Internals shared by store/cx_*.c (Diameter Cx on freeDiameter): the
 * dictionary objects of the Cx application and small AVP helpers.
 *
 * freeDiameter's dictionary is one per process (fd_g_config->cnf_dict),
 * so the objects below are one process-wide table, filled once by
 * imsec_cx_dict_load after freeDiameter has loaded its extensions and
 * before fd_core_start, and read-only after. freeDiameter 1.2.1 loads
 * dict_dcca_3gpp.fdx only after dict_nasreq.fdx and dict_dcca.fdx (its
 * dependencies, in that order). With those three, this file defines the
 * Cx application and commands, SAR-Flags and the RFC 4740 Digest-* AVPs;
 * the rest comes from the extension.
 *
 * References: Diameter base RFC 6733; Cx/Dx TS 29.228 (procedures) and
 * TS 29.229 (protocol: commands §6.1, result codes §6.2, AVPs §6.3).
 */
#ifndef IMSEC_STORE_CX_INT_H
#define IMSEC_STORE_CX_INT_H

/* freeDiameter's headers need this before anything else. */
#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#include <stddef.h>
#include <stdint.h>

#include "imsec/cx.h"
#include "imsec/hss.h"

/* ------------------------------------------------------------ commands */

/* Command codes, TS 29.229 §6.1 (Table 6.1.1). */
enum {
  IMSEC_CX_CMD_UA = 300, /* User-Authorization-Request/Answer */
  IMSEC_CX_CMD_SA = 301, /* Server-Assignment-Request/Answer */
  IMSEC_CX_CMD_LI = 302, /* Location-Info-Request/Answer */
  IMSEC_CX_CMD_MA = 303, /* Multimedia-Auth-Request/Answer */
};

/* ------------------------------------------------------- result codes */

/* Result-Code, RFC 6733 §7.1. */
enum {
  IMSEC_DIA_SUCCESS = 2001,
  IMSEC_DIA_COMMAND_UNSUPPORTED = 3001,
  IMSEC_DIA_UNABLE_TO_DELIVER = 3002,
  IMSEC_DIA_REALM_NOT_SERVED = 3003,
  IMSEC_DIA_TOO_BUSY = 3004,
  IMSEC_DIA_APPLICATION_UNSUPPORTED = 3007,
  IMSEC_DIA_INVALID_HDR_BITS = 3008,
  IMSEC_DIA_INVALID_AVP_BITS = 3009,
  IMSEC_DIA_AVP_UNSUPPORTED = 5001,
  IMSEC_DIA_AUTHORIZATION_REJECTED = 5003,
  IMSEC_DIA_INVALID_AVP_VALUE = 5004,
  IMSEC_DIA_MISSING_AVP = 5005,
  IMSEC_DIA_AVP_OCCURS_TOO_MANY_TIMES = 5009,
  IMSEC_DIA_UNABLE_TO_COMPLY = 5012,
  IMSEC_DIA_INVALID_AVP_LENGTH = 5014,
  IMSEC_DIA_INVALID_MESSAGE_LENGTH = 5015,
};

/* Experimental-Result-Code of Cx (vendor 10415), TS 29.229 §6.2. */
enum {
  IMSEC_CX_FIRST_REGISTRATION = 2001,
  IMSEC_CX_SUBSEQUENT_REGISTRATION = 2002,
  IMSEC_CX_UNREGISTERED_SERVICE = 2003,
  IMSEC_CX_SUCCESS_SERVER_NAME_NOT_STORED = 2004,
  IMSEC_CX_ERROR_USER_UNKNOWN = 5001,
  IMSEC_CX_ERROR_IDENTITIES_DONT_MATCH = 5002,
  IMSEC_CX_ERROR_IDENTITY_NOT_REGISTERED = 5003,
  IMSEC_CX_ERROR_ROAMING_NOT_ALLOWED = 5004,
  IMSEC_CX_ERROR_IDENTITY_ALREADY_REGISTERED = 5005,
  IMSEC_CX_ERROR_AUTH_SCHEME_NOT_SUPPORTED = 5006,
  IMSEC_CX_ERROR_IN_ASSIGNMENT_TYPE = 5007,
  IMSEC_CX_ERROR_TOO_MUCH_DATA = 5008,
  IMSEC_CX_ERROR_NOT_SUPPORTED_USER_DATA = 5009,
  IMSEC_CX_ERROR_FEATURE_UNSUPPORTED = 5011,
};

/* ------------------------------------------------------- AVP values */

/* Auth-Session-State (RFC 6733 §8.11): Cx keeps no session state. */
#define IMSEC_CX_NO_STATE_MAINTAINED 1
/* User-Authorization-Type, TS 29.229 §6.3.24. */
enum {
  IMSEC_CX_UAT_REGISTRATION = 0,
  IMSEC_CX_UAT_DE_REGISTRATION = 1,
  IMSEC_CX_UAT_REGISTRATION_AND_CAPABILITIES = 2,
};
/* User-Data-Already-Available, TS 29.229 §6.3.26. */
enum {
  IMSEC_CX_USER_DATA_NOT_AVAILABLE = 0,
  IMSEC_CX_USER_DATA_ALREADY_AVAILABLE = 1,
};
/* Originating-Request, TS 29.229 §6.3.30. */
#define IMSEC_CX_ORIGINATING 0

/* SIP-Authentication-Scheme values, TS 29.229 §6.3.9 (and TS 33.203
 * §6.1 for "Digest-AKAv1-MD5"). Compared without case. */
#define IMSEC_CX_SCHEME_AKA "Digest-AKAv1-MD5"
#define IMSEC_CX_SCHEME_DIGEST "SIP Digest"
#define IMSEC_CX_SCHEME_UNKNOWN "Unknown"

/* ------------------------------------------------------- dictionary */

typedef struct imsec_cx_dict {
  struct dict_object *vendor; /* 3GPP, 10415 */
  struct dict_object *app;    /* Cx, 16777216 */
  struct dict_object *uar, *uaa, *sar, *saa, *lir, *lia, *mar, *maa;

  /* Base protocol, RFC 6733. */
  struct dict_object *session_id, *origin_host, *origin_realm, *dest_host,
      *dest_realm, *auth_session_state, *vsai, *vendor_id, *auth_app_id,
      *result_code, *exp_result, *exp_result_code, *user_name, *failed_avp,
      *error_message;

  /* Cx, TS 29.229 §6.3. */
  struct dict_object *visited_network_id, /* 600 */
      *public_identity,                   /* 601 */
      *server_name,                       /* 602 */
      *server_capabilities,               /* 603 */
      *mandatory_capability,              /* 604 */
      *optional_capability,               /* 605 */
      *user_data,                         /* 606 */
      *sip_number_auth_items,             /* 607 */
      *sip_auth_scheme,                   /* 608 */
      *sip_authenticate,                  /* 609 */
      *sip_authorization,                 /* 610 */
      *sip_auth_context,                  /* 611 */
      *sip_auth_data_item,                /* 612 */
      *sip_item_number,                   /* 613 */
      *server_assignment_type,            /* 614 */
      *deregistration_reason,             /* 615 */
      *reason_code,                       /* 616 */
      *reason_info,                       /* 617 */
      *user_authorization_type,           /* 623 */
      *user_data_already_available,       /* 624 */
      *confidentiality_key,               /* 625 */
      *integrity_key,                     /* 626 */
      *supported_features,                /* 628 */
      *feature_list_id,                   /* 629 */
      *feature_list,                      /* 630 */
      *associated_identities,             /* 632 */
      *originating_request,               /* 633 */
      *wildcarded_public_identity,        /* 634 */
      *sip_digest_authenticate,           /* 635 */
      *uar_flags,                         /* 637 */
      *lia_flags,                         /* 653 */
      *sar_flags;                         /* 655 */

  /* SIP Digest, RFC 4740 §9.5 (vendor 0), inside SIP-Digest-Authenticate
   * (TS 29.229 §6.3.36). */
  struct dict_object *digest_realm, *digest_qop, *digest_algorithm, *digest_ha1,
      *digest_username;
} imsec_cx_dict;

/* The process's table; valid after imsec_cx_dict_load returned 0. */
extern imsec_cx_dict imsec_cx_d;

/*
 * Find in freeDiameter's dictionary everything Cx needs and define what
 * is missing (the vendor, the application, its eight commands with the
 * ABNF rules of TS 29.229 §6.1 so that freeDiameter itself answers a
 * request lacking a required AVP with DIAMETER_MISSING_AVP, and the AVPs
 * dict_dcca_3gpp lacks). Call after the extensions are loaded
 * (fd_core_parseconf) and before fd_core_start; a second call returns 0
 * at once. Does not advertise the application (fd_disp_app_support is
 * the server's and the client's own). Returns 0 or IMSEC_ERR_CONFIG with
 * a message in err.
 */
int imsec_cx_dict_load(char *err, size_t errcap);

/* ------------------------------------------------------- AVP helpers */

/* Parents are a struct msg * or a grouped struct avp *. All return 0 or
 * IMSEC_ERR_NOMEM/IMSEC_ERR_INVAL (freeDiameter refused). */
int imsec_cx_add_os(void *parent, struct dict_object *d, const void *p,
                    size_t n);
int imsec_cx_add_str(void *parent, struct dict_object *d, const char *s);
/* Integer AVPs of any width and signedness (the dictionary decides). */
int imsec_cx_add_int(void *parent, struct dict_object *d, int64_t v);
/* A grouped AVP appended to parent; children are added to *out after. */
int imsec_cx_add_group(void *parent, struct dict_object *d, struct avp **out);
/* Vendor-Specific-Application-Id { Vendor-Id 10415, Auth-Application-Id
 * 16777216 } (TS 29.229 §6.1). */
int imsec_cx_add_vsai(struct msg *m);
/* Result-Code (RFC 6733 §7.1) or, for the Cx codes of TS 29.229 §6.2,
 * Experimental-Result { Vendor-Id 10415, Experimental-Result-Code }. */
int imsec_cx_set_result(struct msg *ans, uint32_t code);
int imsec_cx_set_exp_result(struct msg *ans, uint32_t code);

/* The first child of parent whose model is d, or NULL. Needs a parsed
 * message (fd_msg_parse_dict; received messages are). */
struct avp *imsec_cx_find(void *parent, struct dict_object *d);
/* The next sibling after `a` with the same model, or NULL. */
struct avp *imsec_cx_next(struct avp *a);
/* The raw value of an octet-string AVP (borrowed), NULL when a has none. */
const uint8_t *imsec_cx_os(struct avp *a, size_t *len);
/* Copy a string AVP into buf (NUL-terminated). IMSEC_ERR_INVAL when it
 * is absent, holds a NUL or does not fit: a Cx peer sends identities
 * we cannot hold only by mistake (or malice). */
int imsec_cx_str(struct avp *a, char *buf, size_t cap);
/* Shorthand: find + str. IMSEC_ERR_NOTFOUND when absent. */
int imsec_cx_get_str(void *parent, struct dict_object *d, char *buf,
                     size_t cap);
/* Integer AVP value (any width). IMSEC_ERR_NOTFOUND when absent. */
int imsec_cx_get_int(void *parent, struct dict_object *d, int64_t *v);
/* An answer's outcome: *code is the Result-Code, or the
 * Experimental-Result-Code with *experimental = 1. IMSEC_ERR_NOTFOUND
 * when it carries neither. */
int imsec_cx_get_result(struct msg *ans, uint32_t *code, int *experimental);

/* ------------------------------------------------------- User-Data */

/*
 * The User-Data of SAA (TS 29.228 Annex E, the IMSSubscription of
 * TS 29.228 Annex D/E's schema): the private identity and one
 * ServiceProfile whose PublicIdentity elements are the implicit
 * registration set (TS 29.228 §6.1.2, §6.5.1), in the subscriber's
 * order, the first the default. Only what imsec keeps is written: no
 * initial filter criteria, no barring.
 *
 * build: into a malloc'd NUL-terminated buffer (*out, *len); 0 or
 * IMSEC_ERR_NOMEM. parse: the IMPI (when PrivateID is present) and the
 * IMPUs of every PublicIdentity/Identity into `sub` (other fields
 * untouched); 0, IMSEC_ERR_PARSE (not an IMSSubscription, an entity we
 * do not know, an unterminated element), IMSEC_ERR_LIMIT (more than
 * IMSEC_HSS_MAX_IMPUS identities or one longer than IMSEC_HSS_ID_MAX - 1).
 * XML character references and the five predefined entities are decoded;
 * comments, CDATA and namespaces prefixes are not expected from a Cx HSS
 * and refused (IMSEC_ERR_PARSE).
 */
int imsec_cx_user_data_build(const imsec_hss_sub *sub, char **out, size_t *len);
int imsec_cx_user_data_parse(const uint8_t *xml, size_t len,
                             imsec_hss_sub *sub);

#endif /* IMSEC_STORE_CX_INT_H */
