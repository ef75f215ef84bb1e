/* imsec pcscf: modes M2a and M2b (see pcscf_m2.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pcscf_m2.h"

#define SUB "pcscf"

int pcscf_m2_flag(imsec_pcscf_settings *s, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  if (!strcmp(a, "--dial-ue")) {
    s->elem.dial_ue = 1;
    return 1;
  }
  int cc = !strcmp(a, "--client-cert");
  if (!cc && strcmp(a, "--ue-ca"))
    return 0;
  if (*i + 1 >= argc) {
    cli_usage(SUB, "%s needs a value", a);
    return -1;
  }
  const char *v = argv[++*i];
  if (cc) {
    if (imsec_pcscf_client_cert_parse(imsec_str_c(v), &s->elem.client_cert) <
        0) {
      cli_usage(SUB, "--client-cert must be none, request or require");
      return -1;
    }
    return 1;
  }
  if (!v[0] || strlen(v) >= sizeof(s->ue_ca[0]) ||
      s->n_ue_ca >= IMSEC_PCSCF_MAX_UE_CA) {
    cli_usage(SUB, "--ue-ca: a file name, at most %d files",
              IMSEC_PCSCF_MAX_UE_CA);
    return -1;
  }
  snprintf(s->ue_ca[s->n_ue_ca++], sizeof(s->ue_ca[0]), "%s", v);
  return 1;
}

int pcscf_m2_check(const imsec_pcscf_settings *s) {
  if ((s->elem.client_cert != IMSEC_PCSCF_CLIENT_CERT_NONE ||
       s->elem.dial_ue) &&
      !s->n_ue_ca) {
    cli_usage(SUB,
              "%s needs --ue-ca (the trust domain root and the "
              "operator CAs that issue UE certificates)",
              s->elem.dial_ue ? "--dial-ue" : "--client-cert");
    return -1;
  }
  return 0;
}

int pcscf_m2_anchors(const imsec_pcscf_settings *s, imsec_x509_anchors *a) {
  for (size_t i = 0; i < s->n_ue_ca; i++) {
    int rv = imsec_x509_anchors_add_root_file(a, s->ue_ca[i]);
    if (rv < 0) {
      cli_fail(CLI_EXIT_USAGE, SUB, "--ue-ca %s: %s", s->ue_ca[i],
               access(s->ue_ca[i], R_OK) != 0 ? strerror(errno)
               : rv == IMSEC_ERR_PARSE        ? "no certificate in it"
                                              : imsec_strerror(rv));
      return -1;
    }
  }
  return 0;
}

void pcscf_m2_tls_setup(const imsec_pcscf_settings *s,
                        imsec_net_tls_config *server, pcscf_m2_tls *t) {
  memset(t, 0, sizeof(*t));
  for (size_t i = 1; i < s->n_ue_ca; i++)
    t->more_ca[i - 1] = s->ue_ca[i];
  if (s->elem.client_cert != IMSEC_PCSCF_CLIENT_CERT_NONE) {
    /* M2a: ask for the UE's certificate; the element decides on it
     * (defer_verify: a chain that fails reaches it and is refused with
     * the reason in the log). REQUIRE: a UE that sends none fails the
     * handshake. */
    server->client_auth = s->elem.client_cert == IMSEC_PCSCF_CLIENT_CERT_REQUIRE
                              ? IMSEC_NET_CLIENT_CERT_REQUIRE
                              : IMSEC_NET_CLIENT_CERT_REQUEST;
    server->ca_file = s->ue_ca[0];
    server->more_ca_files = t->more_ca;
    server->defer_verify = 1;
  }
  if (s->elem.dial_ue) {
    /* M2b: the P-CSCF's certificate as client certificate towards UEs
     * (EKU clientAuth, `imsec pki pcscf`), the UE anchors, the decision
     * in the element, never a resumed session (seed §3.1). */
    t->client.cert_file = s->cert;
    t->client.key_file = s->key;
    t->client.ca_file = s->ue_ca[0];
    t->client.more_ca_files = t->more_ca;
    t->client.defer_verify = 1;
    t->client.no_resume = 1;
    t->profile.name = IMSEC_PCSCF_UE_PROFILE;
    t->profile.tls_cfg = &t->client;
    t->profile.defer_verify = 1;
    t->profile.no_resume = 1;
    t->n_profiles = 1;
  }
}
