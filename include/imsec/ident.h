/*
 * imsec ident: IMS identities (TS 23.003 clause 13) and the naming rule of
 * the CR to TS 33.203 clause 8.1.
 *
 * Sans-I/O and libc only. Parsers return borrowed slices into the caller's
 * text (the text must outlive them); derivations write into the caller's
 * fixed-size struct. Nothing here allocates.
 */
#ifndef IMSEC_IDENT_H
#define IMSEC_IDENT_H

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 1035 §2.3.4: a domain name is at most 253 characters of text. */
#define IMSEC_DOMAIN_MAX 253
/* Capacity of the derived identity strings (NUL included). */
#define IMSEC_IDENT_CAP 300

/* The 3GPP namespace of TS 23.003 §13.2. */
#define IMSEC_3GPP_DOMAIN "3gppnetwork.org"

/* ---------------------------------------------------------- derivation */

typedef struct imsec_ident_derived {
  char mcc[4];
  char mnc[4]; /* always three digits (a two-digit MNC padded with '0') */
  char home_domain[IMSEC_IDENT_CAP]; /* ims.mncMNC.mccMCC.3gppnetwork.org */
  char impi[IMSEC_IDENT_CAP];        /* IMSI@home_domain (§13.3) */
  char impu[IMSEC_IDENT_CAP];        /* sip:IMSI@home_domain (§13.4B) */
} imsec_ident_derived;

/*
 * TS 23.003 §13.2-§13.4B: derive the home network domain name, the IMPI and
 * the temporary IMPU from an IMSI whose MNC has `mnc_len` (2 or 3) digits.
 * A two-digit MNC is padded with a leading zero (IMSI 234150999999999, MNC
 * length 2 gives 234150999999999@ims.mnc015.mcc234.3gppnetwork.org).
 * Returns 0, or IMSEC_ERR_INVAL (mnc_len not 2 or 3), IMSEC_ERR_PARSE (the
 * IMSI is not 6..15 decimal digits, or too short for MCC+MNC+MSIN).
 */
IMSEC_API IMSEC_MUST_USE int imsec_ident_from_imsi(imsec_str imsi,
                                                   unsigned mnc_len,
                                                   imsec_ident_derived *out);

/* The operator domain of TS 23.003 §13.2 for an MCC (3 digits) and an MNC
 * (2 or 3 digits), under `suffix` (e.g. "3gppnetwork.org"), written
 * NUL-terminated into buf. Returns the length, or IMSEC_ERR_PARSE (bad
 * digits), IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_ident_operator_domain(imsec_str mcc,
                                                         imsec_str mnc,
                                                         imsec_str suffix,
                                                         char *buf, size_t cap);

/* ------------------------------------------------------------- parsing */

/* 1 when `s` is a syntactically valid host name: dot-separated labels of
 * letters, digits and hyphens (no label starts or ends with a hyphen), each
 * 1..63 characters, at most 253 in all, not all-numeric in the last label
 * (so no IPv4 literal). One trailing dot is allowed. */
IMSEC_API int imsec_dns_name_valid(imsec_str s);

/* The name without one trailing dot (RFC 5922 §7.2 compares names with a
 * trailing dot ignored). */
IMSEC_API imsec_str imsec_dns_name_trim(imsec_str s);

/* Case-insensitive equality of two host names, a trailing dot ignored. */
IMSEC_API int imsec_dns_name_eq(imsec_str a, imsec_str b);

/*
 * The containment of the clause 8.1 naming rule: 1 when `name` equals
 * `domain` or ends with "." followed by `domain`, compared per whole label
 * and case-insensitively, trailing dots ignored. So ims.mnc001.mcc001.
 * 3gppnetwork.org lies within 3gppnetwork.org, but evil3gppnetwork.org does
 * not. An empty `domain` contains nothing.
 */
IMSEC_API int imsec_dns_name_within(imsec_str name, imsec_str domain);

/* An IMPI: a NAI (RFC 4282 / RFC 7542) user@realm. */
typedef struct imsec_impi {
  imsec_str user;
  imsec_str realm;
} imsec_impi;

/* Parse an IMPI (TS 23.003 §13.3). Returns 0 or IMSEC_ERR_PARSE (no '@',
 * an empty or badly formed username, a realm that is not a host name). */
IMSEC_API IMSEC_MUST_USE int imsec_impi_parse(imsec_str s, imsec_impi *out);

/* The first octet of `s` that no identity may carry as written: a control
 * character (0x00-0x1f, 0x7f), whitespace, a quote (" or '), a
 * backslash, '<' or '>'. RFC 7542 §2.2 (NAI) and RFC 3261 §25.1 (SIP URI)
 * exclude all of them but the apostrophe, which TS 23.003 §13 identities
 * never use and which breaks shells and log parsing; each would also
 * break the quoted-string or name-addr an identity is carried in (Digest
 * username, To, P-Associated-URI). Returns its offset, or -1 when there
 * is none. */
IMSEC_API long imsec_ident_bad_char(imsec_str s);

typedef enum imsec_impu_scheme {
  IMSEC_IMPU_SIP = 0,
  IMSEC_IMPU_SIPS = 1,
  IMSEC_IMPU_TEL = 2,
} imsec_impu_scheme;

/* An IMPU: a SIP URI (RFC 3261 §19.1) or a tel URI (RFC 3966). */
typedef struct imsec_impu {
  imsec_impu_scheme scheme;
  imsec_str user;      /* sip/sips: the user part (may be empty) */
  imsec_str host;      /* sip/sips: the host (name, IPv4 or [IPv6]) */
  int host_is_name;    /* 1 when `host` is a host name, not an address */
  imsec_str number;    /* tel: the number (global "+..." or local) */
  imsec_str context;   /* tel: the phone-context value, if any */
  int context_is_name; /* 1 when `context` is a domain name */
} imsec_impu;

/* Parse an IMPU (TS 23.003 §13.4: sip:, sips: or tel:). A small,
 * self-contained check of the URI shape, not a full SIP URI parser.
 * Returns 0 or IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_impu_parse(imsec_str s, imsec_impu *out);

/* The domain an IMPU is in: the host name of a SIP URI, the phone-context
 * domain of a tel URI. Returns 1 and the slice, or 0 when it names none
 * (a global tel number, an IP address). */
IMSEC_API int imsec_impu_domain(const imsec_impu *u, imsec_str *out);

/* ------------------------------------------------- the clause 8.1 rule */

typedef enum imsec_naming_field {
  IMSEC_NAMING_TRUST_DOMAIN = 0,
  IMSEC_NAMING_IMPI = 1,
  IMSEC_NAMING_IMPU = 2,
  IMSEC_NAMING_HOME_DOMAIN = 3,
} imsec_naming_field;

typedef enum imsec_naming_problem {
  IMSEC_NAMING_MISSING = 0,   /* the identity is absent */
  IMSEC_NAMING_MALFORMED = 1, /* it does not parse */
  IMSEC_NAMING_OUTSIDE = 2,   /* its domain lies outside the trust domain */
  IMSEC_NAMING_NO_DOMAIN = 3, /* it names no domain (IP address host) */
} imsec_naming_problem;

typedef struct imsec_naming_violation {
  imsec_naming_field field;
  size_t index; /* which IMPU (0-based); 0 otherwise */
  imsec_naming_problem problem;
  imsec_str value;  /* the whole identity (borrowed from the input) */
  imsec_str domain; /* the offending domain, when there is one */
} imsec_naming_violation;

typedef struct imsec_naming_input {
  imsec_str trust_domain; /* the IMS Trust Domain Name */
  imsec_str impi;
  const imsec_str *impus;
  size_t n_impus;
  imsec_str home_domain;
} imsec_naming_input;

/*
 * The naming rule of the CR to TS 33.203 clause 8.1: "Domain and realm
 * names used in IMPI, IMPU(s) and Home Network Domain Name shall contain
 * IMS Trust Domain Name." Checks every identity and reports every
 * violation, not only the first: the first `cap` go into `out` (which may
 * be NULL when cap is 0). Returns the total number of violations (0: the
 * profile obeys the rule). A missing or malformed trust domain is itself
 * one violation (field IMSEC_NAMING_TRUST_DOMAIN) and then nothing else is
 * checked against it.
 */
IMSEC_API size_t imsec_naming_check(const imsec_naming_input *in,
                                    imsec_naming_violation *out, size_t cap);

/* One English sentence for a violation, NUL-terminated into buf (truncated
 * to fit, always terminated when cap > 0). Returns the full length it
 * wanted. */
IMSEC_API size_t imsec_naming_describe(const imsec_naming_violation *v,
                                       imsec_str trust_domain, char *buf,
                                       size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_IDENT_H */
