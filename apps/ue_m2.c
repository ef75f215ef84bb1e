/* imsec ue: modes M2a and M2b (see ue_m2.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ue_m2.h"

#define SUB "ue"

int ue_m2_flag(ue_m2_args *m, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  if (!strcmp(a, "--close-after-register")) {
    m->close_after = 1;
    return 1;
  }
  if (strcmp(a, "--listen"))
    return 0;
  if (*i + 1 >= argc) {
    cli_usage(SUB, "--listen needs a value");
    return -1;
  }
  m->listen = argv[++*i];
  return 1;
}

/* Is the profile's certificate fit to serve (EKU serverAuth, a valid path
 * to the profile's anchors)? 0, or a usage error said. */
static int server_cert_ok(const imsec_isim_profile *prof,
                          const imsec_x509_anchors *anchors) {
  imsec_x509_chain ch;
  if (imsec_x509_chain_load_pem(prof->cert_file, &ch) < 0)
    return cli_usage(SUB, "cert_file %s: no certificate in it",
                     prof->cert_file);
  imsec_trust_cert f;
  int rv = imsec_x509_check(anchors, ch.certs, ch.n, -1, &f);
  imsec_x509_chain_free(&ch);
  if (rv < 0)
    return cli_usage(SUB, "cert_file %s: %s", prof->cert_file,
                     imsec_strerror(rv));
  if (f.chain == IMSEC_CHAIN_NOT_SERVER_AUTH)
    return cli_usage(SUB,
                     "--listen: cert_file %s has no EKU serverAuth (make it "
                     "with 'imsec pki ue --server')",
                     prof->cert_file);
  if (f.chain != IMSEC_CHAIN_OK)
    return cli_usage(SUB, "--listen: cert_file %s does not verify: %s",
                     prof->cert_file, f.chain_detail);
  return 0;
}

int ue_m2_setup(const ue_m2_args *m, const imsec_isim_profile *prof,
                const imsec_x509_anchors *anchors, imsec_ue_config *cfg,
                imsec_net_tls_config *client, ue_m2_tls *t) {
  memset(t, 0, sizeof(*t));
  if (!!prof->cert_file != !!prof->key_file)
    return cli_usage(SUB, "the profile needs both cert_file and key_file");
  /* M2a: the certificate goes out when a P-CSCF asks for one. */
  if (prof->cert_file) {
    client->cert_file = prof->cert_file;
    client->key_file = prof->key_file;
  }
  if (m->close_after && !m->listen)
    return cli_usage(SUB, "--close-after-register needs --listen (the "
                          "P-CSCF reaches the UE there)");
  if (!m->listen)
    return 0;
  unsigned char bin[16];
  if (imsec_addr_parse(imsec_str_c(m->listen), &cfg->listen) < 0 ||
      cfg->listen.tp != IMSEC_TP_TLS || !cfg->listen.port ||
      (inet_pton(AF_INET, cfg->listen.host, bin) != 1 &&
       inet_pton(AF_INET6, cfg->listen.host, bin) != 1) ||
      !strcmp(cfg->listen.host, "0.0.0.0") || !strcmp(cfg->listen.host, "::"))
    return cli_usage(SUB,
                     "--listen '%s' is not tls:IP:PORT (an address the "
                     "P-CSCF can reach: it goes into the Contact; no "
                     "wildcard, port not 0)",
                     m->listen);
  if (!prof->cert_file)
    return cli_usage(SUB, "--listen needs cert_file and key_file in the "
                          "profile (imsec pki ue --server)");
  int rv = server_cert_ok(prof, anchors);
  if (rv)
    return rv;
  cfg->has_listen = 1;
  cfg->close_after_register = m->close_after;
  /* The P-CSCF must show a client certificate; the UE decides on it
   * (lib/ue/listen.c), so the chain's facts reach it (defer_verify). */
  size_t k = 0;
  for (size_t i = 1; i < prof->n_anchors; i++)
    t->more_ca[k++] = prof->anchors[i];
  if (prof->home_ca)
    t->more_ca[k++] = prof->home_ca;
  for (size_t i = 0; i < prof->n_partners; i++)
    t->more_ca[k++] = prof->partners[i];
  t->more_ca[k] = NULL;
  t->server.server = 1;
  t->server.cert_file = prof->cert_file;
  t->server.key_file = prof->key_file;
  t->server.ca_file = prof->anchors[0];
  t->server.more_ca_files = t->more_ca;
  t->server.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
  t->server.defer_verify = 1;
  t->listener.addr = cfg->listen;
  t->listener.tls_cfg = &t->server;
  t->n_listeners = 1;
  return 0;
}
