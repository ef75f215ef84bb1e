/* The naming rule of the CR to TS 33.203 clause 8.1 (S3-040xxx, seed):
 * "Domain and realm names used in IMPI, IMPU(s) and Home Network Domain
 * Name shall contain IMS Trust Domain Name." */
#include "imsec/ident.h"
#include "lib/ident/sbuf.h"

typedef struct naming_acc {
  imsec_naming_violation *out;
  size_t cap;
  size_t n;
} naming_acc;

static void report(naming_acc *a, imsec_naming_field field, size_t index,
                   imsec_naming_problem problem, imsec_str value,
                   imsec_str domain) {
  if (a->n < a->cap) {
    imsec_naming_violation *v = &a->out[a->n];
    v->field = field;
    v->index = index;
    v->problem = problem;
    v->value = value;
    v->domain = domain;
  }
  a->n++;
}

size_t imsec_naming_check(const imsec_naming_input *in,
                          imsec_naming_violation *out, size_t cap) {
  naming_acc a = {out, out ? cap : 0, 0};
  imsec_str td = in->trust_domain;
  if (td.len == 0) {
    report(&a, IMSEC_NAMING_TRUST_DOMAIN, 0, IMSEC_NAMING_MISSING, td, td);
    return a.n;
  }
  if (!imsec_dns_name_valid(td)) {
    report(&a, IMSEC_NAMING_TRUST_DOMAIN, 0, IMSEC_NAMING_MALFORMED, td, td);
    return a.n;
  }

  /* The IMPI's realm. */
  imsec_impi impi;
  if (in->impi.len == 0)
    report(&a, IMSEC_NAMING_IMPI, 0, IMSEC_NAMING_MISSING, in->impi,
           IMSEC_STR_NULL);
  else if (imsec_impi_parse(in->impi, &impi) != 0)
    report(&a, IMSEC_NAMING_IMPI, 0, IMSEC_NAMING_MALFORMED, in->impi,
           IMSEC_STR_NULL);
  else if (!imsec_dns_name_within(impi.realm, td))
    report(&a, IMSEC_NAMING_IMPI, 0, IMSEC_NAMING_OUTSIDE, in->impi,
           impi.realm);

  /* Every IMPU (clause 8.1: at least one). */
  if (in->n_impus == 0)
    report(&a, IMSEC_NAMING_IMPU, 0, IMSEC_NAMING_MISSING, IMSEC_STR_NULL,
           IMSEC_STR_NULL);
  for (size_t i = 0; i < in->n_impus; i++) {
    imsec_str s = in->impus[i];
    imsec_impu u;
    imsec_str dom;
    if (imsec_impu_parse(s, &u) != 0) {
      report(&a, IMSEC_NAMING_IMPU, i, IMSEC_NAMING_MALFORMED, s,
             IMSEC_STR_NULL);
    } else if (!imsec_impu_domain(&u, &dom)) {
      /* A global tel number carries no domain, so the rule has nothing
       * to say about it; a SIP URI on an IP address names no domain. */
      if (u.scheme != IMSEC_IMPU_TEL)
        report(&a, IMSEC_NAMING_IMPU, i, IMSEC_NAMING_NO_DOMAIN, s, u.host);
    } else if (!imsec_dns_name_within(dom, td)) {
      report(&a, IMSEC_NAMING_IMPU, i, IMSEC_NAMING_OUTSIDE, s, dom);
    }
  }

  /* The home network domain name. */
  imsec_str home = in->home_domain;
  if (home.len == 0)
    report(&a, IMSEC_NAMING_HOME_DOMAIN, 0, IMSEC_NAMING_MISSING, home, home);
  else if (!imsec_dns_name_valid(home))
    report(&a, IMSEC_NAMING_HOME_DOMAIN, 0, IMSEC_NAMING_MALFORMED, home, home);
  else if (!imsec_dns_name_within(home, td))
    report(&a, IMSEC_NAMING_HOME_DOMAIN, 0, IMSEC_NAMING_OUTSIDE, home, home);
  return a.n;
}

static const char *field_name(imsec_naming_field f) {
  switch (f) {
  case IMSEC_NAMING_TRUST_DOMAIN:
    return "trust domain";
  case IMSEC_NAMING_IMPI:
    return "IMPI";
  case IMSEC_NAMING_IMPU:
    return "IMPU";
  case IMSEC_NAMING_HOME_DOMAIN:
    return "home network domain name";
  }
  return "identity";
}

size_t imsec_naming_describe(const imsec_naming_violation *v,
                             imsec_str trust_domain, char *buf, size_t cap) {
  imsec_sbuf b;
  imsec_sbuf_init(&b, buf, cap);
  imsec_sbuf_add(&b, field_name(v->field));
  if (v->field == IMSEC_NAMING_IMPU) {
    imsec_sbuf_add(&b, " #");
    imsec_sbuf_num(&b, v->index + 1);
  }
  if (v->value.len) {
    imsec_sbuf_add(&b, " '");
    imsec_sbuf_put(&b, v->value);
    imsec_sbuf_add(&b, "'");
  }
  switch (v->problem) {
  case IMSEC_NAMING_MISSING:
    imsec_sbuf_add(&b, v->field == IMSEC_NAMING_IMPU
                           ? ": the ISIM holds no IMPU (clause 8.1 asks for "
                             "at least one)"
                           : " is missing");
    break;
  case IMSEC_NAMING_MALFORMED:
    imsec_sbuf_add(&b, v->field == IMSEC_NAMING_IMPU
                           ? " is not a sip:, sips: or tel: URI"
                       : v->field == IMSEC_NAMING_IMPI
                           ? " is not a NAI of the form user@realm"
                           : " is not a valid domain name");
    break;
  case IMSEC_NAMING_OUTSIDE:
    if (v->field != IMSEC_NAMING_HOME_DOMAIN) {
      imsec_sbuf_add(&b, v->field == IMSEC_NAMING_IMPI ? ": realm '"
                                                       : ": domain '");
      imsec_sbuf_put(&b, v->domain);
      imsec_sbuf_add(&b, "'");
    }
    imsec_sbuf_add(&b, " does not lie within the IMS trust domain '");
    imsec_sbuf_put(&b, trust_domain);
    imsec_sbuf_add(&b, "'");
    break;
  case IMSEC_NAMING_NO_DOMAIN:
    imsec_sbuf_add(&b, ": host '");
    imsec_sbuf_put(&b, v->domain);
    imsec_sbuf_add(&b, "' is an address, not a domain within the IMS trust "
                       "domain");
    break;
  }
  return b.len;
}
