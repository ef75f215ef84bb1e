/*
 * imsec trust: may this P-CSCF act for the UE's home network?
 *
 * The decision of DESIGN.md §3, sans-I/O: its inputs are plain data (the
 * facts crypto/x509.c extracted from the peer's verified chain, the host the
 * UE dialled, the realm of the challenge, the profile's trust domain, home
 * domain and policy); its output is trusted (home), trusted (roaming partner
 * X) or rejected, with one reason code and one English sentence.
 *
 * Names follow RFC 5922 §7.1-7.2: SAN URI sip:DOMAIN (no user part) when
 * present, else SAN dNSName, the subject CN only when the certificate has
 * no SAN at all; compared case-insensitively, a trailing dot ignored, no
 * wildcards unless asked for.
 */
#ifndef IMSEC_TRUST_H
#define IMSEC_TRUST_H

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_TRUST_MAX_NAMES 8
#define IMSEC_TRUST_NAME_CAP 256

typedef enum imsec_trust_policy {
  /* Annex F of the CR to TS 33.203: the P-CSCF's name lies inside the IMS
   * trust domain, the chain passes through the home CA or a roaming
   * partner's CA, the realm is the UE's home network domain name and lies
   * inside the trust domain. */
  IMSEC_TRUST_POLICY_TRUST_DOMAIN = 0,
  /* RFC 3261 §26.3.2.1 as written: the certificate names a host in the home
   * domain, chains to the home CA, and the realm matches it. */
  IMSEC_TRUST_POLICY_STRICT_HOME = 1,
} imsec_trust_policy;

/* "trust-domain" / "strict-home". Parse returns 0 or IMSEC_ERR_PARSE. */
IMSEC_API const char *imsec_trust_policy_name(imsec_trust_policy p);
IMSEC_API IMSEC_MUST_USE int imsec_trust_policy_parse(imsec_str s,
                                                      imsec_trust_policy *out);

/* What RFC 5280 path validation said about the chain. */
typedef enum imsec_chain_status {
  IMSEC_CHAIN_OK = 0,
  IMSEC_CHAIN_INVALID = 1,         /* no valid path to an anchor */
  IMSEC_CHAIN_EXPIRED = 2,         /* a certificate's validity has ended */
  IMSEC_CHAIN_NOT_YET_VALID = 3,   /* ... or has not begun */
  IMSEC_CHAIN_NOT_SERVER_AUTH = 4, /* the leaf lacks EKU serverAuth */
} imsec_chain_status;

/* Which configured CA the validated path passes through. */
typedef enum imsec_trust_issuer {
  IMSEC_ISSUER_NONE = 0,    /* neither the home CA nor a partner's */
  IMSEC_ISSUER_HOME = 1,    /* the home operator's CA */
  IMSEC_ISSUER_PARTNER = 2, /* a roaming partner's CA */
} imsec_trust_issuer;

/*
 * The facts about a peer certificate chain, as plain data (a value type:
 * copy it freely; it owns its text). crypto/x509.c fills it; tests and the
 * element state machines may build one by hand.
 */
typedef struct imsec_trust_cert {
  imsec_chain_status chain;
  char chain_detail[IMSEC_TRUST_NAME_CAP]; /* the validator's words */
  int has_san;                             /* a subjectAltName is present */
  size_t n_sip;                            /* SAN URI sip:HOST, no user */
  char sip[IMSEC_TRUST_MAX_NAMES][IMSEC_TRUST_NAME_CAP];
  size_t n_dns; /* SAN dNSName */
  char dns[IMSEC_TRUST_MAX_NAMES][IMSEC_TRUST_NAME_CAP];
  char cn[IMSEC_TRUST_NAME_CAP]; /* subject CN ("" if none) */
  imsec_trust_issuer issuer;
  size_t partner_index;               /* when issuer is PARTNER */
  char partner[IMSEC_TRUST_NAME_CAP]; /* the partner's name */
  int client_auth; /* the leaf carries EKU clientAuth (TS 33.310 §6.1.3c);
                      set whatever the chain's outcome */
  /* SAN URIs sip:USER@HOST: individuals, not SIP domains (RFC 5922 §7.1
   * leaves them out of sip[]); "USER@HOST" without the scheme, port or
   * parameters. A UE certificate names its IMPI so (modes M2a, M2b). Their
   * HOSTs are held to the CAs' name constraints like sip[]'s. */
  size_t n_uri_user;
  char uri_user[IMSEC_TRUST_MAX_NAMES][IMSEC_TRUST_NAME_CAP];
  /* 1: the path validated for a TLS client (a UE's certificate, which
   * carries EKU clientAuth and may lack serverAuth): validity, name
   * constraints (SAN URI sip: hosts included), EKU clientAuth on the leaf.
   * `chain` still speaks for server use; issuer, partner and issuer_domain
   * are filled when either validated. */
  int client_chain_ok;
  /* The domain of the CA that issued the leaf: its first permitted
   * dNSName subtree (what `imsec pki operator` writes), else its subject
   * CN; "" when no path validated. */
  char issuer_domain[IMSEC_TRUST_NAME_CAP];
} imsec_trust_cert;

typedef struct imsec_trust_input {
  const imsec_trust_cert *cert; /* borrowed for the call */
  imsec_str pcscf_host;         /* the host the UE dialled */
  imsec_str realm;              /* the realm of the Digest challenge */
  imsec_str trust_domain;       /* the profile's IMS Trust Domain Name */
  imsec_str home_domain;        /* the UE's home network domain name */
  imsec_trust_policy policy;
  int allow_wildcards; /* 0 (RFC 5922 §7.2); 1 lets "*." match one label */
} imsec_trust_input;

typedef enum imsec_trust_verdict {
  IMSEC_TRUST_REJECTED = 0,
  IMSEC_TRUST_HOME = 1,
  IMSEC_TRUST_PARTNER = 2,
} imsec_trust_verdict;

typedef enum imsec_trust_reason {
  IMSEC_TRUST_OK = 0,
  IMSEC_TRUST_CHAIN_INVALID,
  IMSEC_TRUST_EXPIRED,
  IMSEC_TRUST_NOT_SERVER_AUTH,
  IMSEC_TRUST_NAME_MISMATCH,
  IMSEC_TRUST_WILDCARD_REFUSED,
  IMSEC_TRUST_NAME_OUTSIDE_TRUST_DOMAIN,
  IMSEC_TRUST_NAME_OUTSIDE_HOME_DOMAIN,
  IMSEC_TRUST_NOT_A_ROAMING_PARTNER,
  IMSEC_TRUST_NOT_HOME_CA,
  IMSEC_TRUST_REALM_MISMATCH,
  IMSEC_TRUST_REALM_OUTSIDE_TRUST_DOMAIN,
} imsec_trust_reason;

/* The reason's stable code: "ok", "chain-invalid", "expired",
 * "not-server-auth", "name-mismatch", "wildcard-refused",
 * "name-outside-trust-domain", "name-outside-home-domain",
 * "not-a-roaming-partner", "not-home-ca", "realm-mismatch",
 * "realm-outside-trust-domain". Static strings. */
IMSEC_API const char *imsec_trust_reason_code(imsec_trust_reason r);

typedef struct imsec_trust_result {
  imsec_trust_verdict verdict;
  imsec_trust_reason reason;
  char matched[IMSEC_TRUST_NAME_CAP]; /* the certificate name that matched */
  char partner[IMSEC_TRUST_NAME_CAP]; /* when verdict is PARTNER */
  char why[768];                      /* one English sentence */
} imsec_trust_result;

/*
 * Decide. Checks, in order: the chain (chain-invalid, expired,
 * not-server-auth), the names against the dialled host (name-mismatch,
 * wildcard-refused), then per policy:
 *   trust-domain: name-outside-trust-domain, not-a-roaming-partner,
 *                 realm-outside-trust-domain, realm-mismatch;
 *   strict-home:  name-outside-home-domain, not-home-ca, realm-mismatch.
 * The first failing check gives the reason. Returns 0 (the verdict is in
 * `out`, trusted or not) or IMSEC_ERR_INVAL (NULL pointers, an unknown
 * policy).
 */
IMSEC_API IMSEC_MUST_USE int imsec_trust_decide(const imsec_trust_input *in,
                                                imsec_trust_result *out);

/*
 * The certificate part of the decision alone: the same checks in the same
 * order, stopping before the realm (in->realm is not read). A UE runs it
 * when the TLS handshake completes, so that a P-CSCF whose certificate
 * fails receives no SIP message at all; imsec_trust_decide at the
 * challenge then adds the realm checks (realm-outside-trust-domain,
 * realm-mismatch). A trusted verdict here is provisional in that sense.
 * Returns 0 (the verdict is in `out`) or IMSEC_ERR_INVAL, as
 * imsec_trust_decide.
 */
IMSEC_API IMSEC_MUST_USE int
imsec_trust_decide_cert(const imsec_trust_input *in, imsec_trust_result *out);

/* The identities RFC 5922 §7.1 takes from `cert`: its SAN URI sip: hosts if
 * any, else its SAN dNSNames, else (no SAN at all) its CN. Fills up to
 * `cap` slices (borrowed from `cert`) and returns how many there are. */
IMSEC_API size_t imsec_trust_cert_names(const imsec_trust_cert *cert,
                                        imsec_str *out, size_t cap);

/* ------------------------------------------------ core-side peers */

/*
 * The S-CSCF's decision on a core-side peer (docs/TRUST.md "The S-CSCF's
 * decision on its peers"): may this connection speak for the trust domain
 * (RFC 3325 §2.3), so that its P-Asserted-Identity and Path are believed?
 * Mw runs over mutual TLS between network elements (TS 33.210 §5.2 Za/Zb)
 * whose certificates follow TS 33.310 §6.1. The same name and CA rules as
 * the UE's decision on a P-CSCF (above), with the peer's own names instead
 * of a dialled host and no realm; plus an explicit list of peer names, and
 * plain TCP only when the operator opts out of core security and then
 * only from listed addresses.
 */
typedef enum imsec_trust_peer_verdict {
  IMSEC_TRUST_PEER_REFUSED = 0,
  IMSEC_TRUST_PEER_HOME = 1,    /* certified by the home operator's CA */
  IMSEC_TRUST_PEER_PARTNER = 2, /* by a roaming partner's CA */
  IMSEC_TRUST_PEER_LISTED = 3,  /* its certificate names a listed peer */
  IMSEC_TRUST_PEER_ADDRESS = 4, /* plain TCP from a listed address */
} imsec_trust_peer_verdict;

typedef enum imsec_trust_peer_reason {
  IMSEC_TRUST_PEER_OK = 0,
  IMSEC_TRUST_PEER_PLAIN_TCP,          /* TCP without insecure_core */
  IMSEC_TRUST_PEER_ADDRESS_NOT_LISTED, /* TCP from an address not listed */
  IMSEC_TRUST_PEER_NO_CERTIFICATE,     /* TLS peer without certificate */
  IMSEC_TRUST_PEER_CHAIN_INVALID,      /* no valid path to an anchor */
  IMSEC_TRUST_PEER_EXPIRED,            /* or not yet valid */
  IMSEC_TRUST_PEER_NOT_SERVER_AUTH,    /* leaf without EKU serverAuth */
  IMSEC_TRUST_PEER_NOT_CLIENT_AUTH,    /* inbound: no EKU clientAuth */
  IMSEC_TRUST_PEER_NO_NAME,            /* no usable (non-wildcard) name */
  IMSEC_TRUST_PEER_NAME_MISMATCH,      /* not the peer expected */
  IMSEC_TRUST_PEER_NAME_OUTSIDE_TRUST_DOMAIN,
  IMSEC_TRUST_PEER_NOT_A_ROAMING_PARTNER,
} imsec_trust_peer_reason;

/* Stable codes: "ok", "plain-tcp", "address-not-listed", "no-certificate",
 * "chain-invalid", "expired", "not-server-auth", "not-client-auth",
 * "no-name", "name-mismatch", "name-outside-trust-domain",
 * "not-a-roaming-partner". Static strings ("unknown" out of range). */
IMSEC_API const char *imsec_trust_peer_reason_code(imsec_trust_peer_reason r);
/* "refused", "home", "partner", "listed", "address". */
IMSEC_API const char *imsec_trust_peer_verdict_name(imsec_trust_peer_verdict v);

typedef struct imsec_trust_peer_input {
  int secure; /* 1: TLS (cert below); 0: plain TCP (peer_ip below) */
  /* TLS: the facts crypto/x509.c made of the chain the peer sent, checked
   * against the S-CSCF's anchors with its home CA and partner CAs; NULL
   * when the peer sent none. Borrowed for the call. */
  const imsec_trust_cert *cert;
  int inbound;       /* the peer connected to us: it must be a TLS client */
  imsec_str peer_ip; /* the peer's IP address (text, no port) */
  imsec_str trust_domain; /* IMS trust domain name */
  const imsec_str *names; /* names trusted whatever their CA (--peer) */
  size_t n_names;
  int insecure_core;      /* 1: plain TCP allowed from `addrs` */
  const imsec_str *addrs; /* IP addresses (text) */
  size_t n_addrs;
  /* Outgoing flows: the name the peer must carry (the P-CSCF that
   * registered the binding); empty: any name the rules allow. */
  imsec_str expect_name;
} imsec_trust_peer_input;

typedef struct imsec_trust_peer_result {
  imsec_trust_peer_verdict verdict;
  imsec_trust_peer_reason reason;
  /* The peer's name: the certificate identity that was judged (RFC 5922
   * §7.1), or the address for plain TCP; "" when there is none. */
  char name[IMSEC_TRUST_NAME_CAP];
  char partner[IMSEC_TRUST_NAME_CAP]; /* verdict PARTNER */
  char why[768];                      /* one English sentence */
} imsec_trust_peer_result;

/*
 * Decide. Plain TCP: plain-tcp unless insecure_core, then the address
 * must be listed (address-not-listed). TLS, in order: no-certificate,
 * chain-invalid / expired / not-server-auth (RFC 5280 path validation and
 * TS 33.310 §6.1.3c, done by crypto/x509.c), not-client-auth (inbound),
 * no-name (RFC 5922 §7.1 identities; wildcards are not names, §7.2),
 * name-mismatch (expect_name set and not among them); then a listed name
 * makes the peer trusted (LISTED); else every name must lie inside the
 * trust domain (name-outside-trust-domain) and the validated path must
 * pass through the home CA (HOME) or a partner's CA (PARTNER), else
 * not-a-roaming-partner. Returns 0 (the verdict is in `out`) or
 * IMSEC_ERR_INVAL (NULL pointers).
 */
IMSEC_API IMSEC_MUST_USE int
imsec_trust_peer_decide(const imsec_trust_peer_input *in,
                        imsec_trust_peer_result *out);

/* ------------------------------------------------ a UE's certificate */

/*
 * Modes M2a and M2b (DESIGN.md §2): the P-CSCF's check of a UE's
 * certificate, as a TLS client (M2a: the UE's connection) or as a TLS
 * server (M2b: the P-CSCF dialled the UE's registered Contact). The
 * certificate must validate against the P-CSCF's UE anchors (the trust
 * domain root and the operator CAs), carry EKU clientAuth (client) or
 * serverAuth (server) (TS 33.310 §6.1.3c), name exactly one individual
 * as SAN URI sip:IMPI (its user@realm; the CA's name constraints hold its
 * realm, crypto/x509.c), and that IMPI's realm must be the domain of the
 * operator CA that issued it (the UE's home operator: an operator CA
 * speaks for its own subscribers only). With `expect_impi` non-empty the
 * IMPI must be that one (compared case-insensitively: a NAI realm is a
 * domain name; the user part as written).
 */
typedef enum imsec_trust_ue_reason {
  IMSEC_TRUST_UE_OK = 0,
  IMSEC_TRUST_UE_NO_CERTIFICATE,    /* "no-certificate" */
  IMSEC_TRUST_UE_CHAIN_INVALID,     /* "chain-invalid" */
  IMSEC_TRUST_UE_EXPIRED,           /* "expired" (or not yet valid) */
  IMSEC_TRUST_UE_NOT_CLIENT_AUTH,   /* "not-client-auth" */
  IMSEC_TRUST_UE_NOT_SERVER_AUTH,   /* "not-server-auth" */
  IMSEC_TRUST_UE_NO_IMPI,           /* "no-impi": no single sip:IMPI */
  IMSEC_TRUST_UE_NOT_HOME_OPERATOR, /* "not-home-operator" */
  IMSEC_TRUST_UE_IMPI_MISMATCH,     /* "impi-mismatch" */
} imsec_trust_ue_reason;

/* The stable code above (static). */
IMSEC_API const char *imsec_trust_ue_reason_code(imsec_trust_ue_reason r);

/* Decide on a UE certificate's facts (`c` NULL: none sent). `server`: the
 * UE is the TLS server (M2b). On OK, `impi` (capacity
 * IMSEC_TRUST_NAME_CAP, may be NULL) holds the certificate's IMPI; with a
 * refusal, the IMPI it named if any, else "". */
IMSEC_API imsec_trust_ue_reason imsec_trust_ue_cert(const imsec_trust_cert *c,
                                                    int server,
                                                    imsec_str expect_impi,
                                                    char *impi);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_TRUST_H */
