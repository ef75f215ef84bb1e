/* The fixtures' element settings (fixtures.h): the home S-CSCF's arguments
 * and the P-CSCFs' settings files. */
#include <stdio.h>
#include <string.h>

#include "fixtures.h"

int imsec_fx_scscf_argv(const imsec_fx *f, imsec_fx_scscf *c) {
  snprintf(c->listen, sizeof c->listen, "tcp:127.0.0.1:%u", c->port);
  snprintf(c->tls_listen, sizeof c->tls_listen, "tls:127.0.0.1:%u",
           c->tls_port);
  imsec_fx_path(f, IMSEC_FX_SCSCF_NODE ".chain.pem", c->cert, sizeof c->cert);
  imsec_fx_path(f, IMSEC_FX_SCSCF_NODE ".key", c->key, sizeof c->key);
  imsec_fx_path(f, IMSEC_FX_ROOT_CRT, c->ca, sizeof c->ca);
  imsec_fx_path(f, IMSEC_FX_PARTNER_CA_CRT, c->partner, sizeof c->partner);
  size_t i = 0;
  c->argv[i++] = "scscf";
  c->argv[i++] = "--listen";
  c->argv[i++] = c->listen;
  c->argv[i++] = "--domain";
  c->argv[i++] = IMSEC_FX_HOME;
  c->argv[i++] = "--db";
  c->argv[i++] = (char *)c->db;
  /* P-CSCFs may reach it over plain TCP from loopback ... */
  c->argv[i++] = "--insecure-core";
  c->argv[i++] = "--peer-addr";
  c->argv[i++] = "127.0.0.1";
  /* ... and over mutual TLS with its node certificate (TS 33.210): peers
   * of the home operator and of the roaming partner (MNC 002). */
  c->argv[i++] = "--listen";
  c->argv[i++] = c->tls_listen;
  c->argv[i++] = "--cert";
  c->argv[i++] = c->cert;
  c->argv[i++] = "--key";
  c->argv[i++] = c->key;
  c->argv[i++] = "--ca";
  c->argv[i++] = c->ca;
  c->argv[i++] = "--partner-ca";
  c->argv[i++] = c->partner;
  /* Service-Route and Record-Route name the TLS listener, where the home
   * and visited P-CSCFs reach it: a P-CSCF sends a UE's in-dialog request
   * only to an S-CSCF it routes to (docs/CALLS.md), and the Route the UE
   * builds from the Record-Route must name that one. */
  c->argv[i++] = "--advertise";
  c->argv[i++] = c->tls_listen;
  c->argv[i] = NULL;
  return 0;
}

int imsec_fx_pcscf_config(const imsec_fx *f, imsec_fx_pcscf *c) {
  char text[8192], name[300], chain[1024], key[1024];
  snprintf(name, sizeof name, "%s.chain.pem", c->host);
  imsec_fx_path(f, name, chain, sizeof chain);
  snprintf(name, sizeof name, "%s.key", c->host);
  imsec_fx_path(f, name, key, sizeof key);
  int n;
  if (c->dtls_port)
    n = snprintf(text, sizeof text,
                 "listen:\n"
                 "  - tls:127.0.0.1:%u\n"
                 "  - dtls:127.0.0.1:%u\n"
                 "cert: %s\n"
                 "key: %s\n",
                 c->ue_port, c->dtls_port, chain, key);
  else
    n = snprintf(text, sizeof text,
                 "listen: tls:127.0.0.1:%u\n"
                 "cert: %s\n"
                 "key: %s\n",
                 c->ue_port, chain, key);
  if (c->client_cert || c->dial_ue) {
    /* UE certificates chain to their home operator's CA under the IMS
     * root, as P-CSCF certificates do (TS 33.310). */
    char root[1024], home_ca[1024];
    imsec_fx_path(f, IMSEC_FX_ROOT_CRT, root, sizeof root);
    imsec_fx_path(f, IMSEC_FX_HOME_CA_CRT, home_ca, sizeof home_ca);
    n += snprintf(text + n, sizeof text - (size_t)n,
                  "ue_ca:\n"
                  "  - %s\n"
                  "  - %s\n",
                  root, home_ca);
  }
  if (c->client_cert)
    n += snprintf(text + n, sizeof text - (size_t)n, "client_cert: %s\n",
                  c->client_cert);
  if (c->dial_ue)
    n += snprintf(text + n, sizeof text - (size_t)n, "dial_ue: true\n");
  if (c->psk_file) {
    char pf[1024];
    n += snprintf(text + n, sizeof text - (size_t)n, "psk_file: %s\n",
                  imsec_fx_path(f, c->psk_file, pf, sizeof pf));
  }
  if (c->aka_psk)
    n += snprintf(text + n, sizeof text - (size_t)n, "aka_psk: true\n");
  if (n < 0 || (size_t)n >= sizeof text)
    return -1;
  if (c->mw) {
    char mw_chain[1024], mw_key[1024], ca[1024];
    snprintf(name, sizeof name, "%s.chain.pem", c->mw);
    imsec_fx_path(f, name, mw_chain, sizeof mw_chain);
    snprintf(name, sizeof name, "%s.key", c->mw);
    imsec_fx_path(f, name, mw_key, sizeof mw_key);
    imsec_fx_path(f, IMSEC_FX_ROOT_CRT, ca, sizeof ca);
    n += snprintf(text + n, sizeof text - (size_t)n,
                  "core: tls:127.0.0.1:%u\n"
                  "routes:\n"
                  "  - %s=tls:127.0.0.1:%u;name=%s\n"
                  "core_cert: %s\n"
                  "core_key: %s\n"
                  "core_ca: %s\n",
                  c->core_port, IMSEC_FX_HOME, c->route_port,
                  IMSEC_FX_SCSCF_NODE, mw_chain, mw_key, ca);
  } else {
    n += snprintf(text + n, sizeof text - (size_t)n,
                  "core: tcp:127.0.0.1:%u\n"
                  "routes:\n"
                  "  - %s=tcp:127.0.0.1:%u\n"
                  "insecure_core: true\n"
                  "peer_addrs: [127.0.0.1]\n",
                  c->core_port, IMSEC_FX_HOME, c->route_port);
  }
  if (n < 0 || (size_t)n >= sizeof text)
    return -1;
  if (c->visited)
    n += snprintf(text + n, sizeof text - (size_t)n,
                  "visited_network: \"%s\"\n", c->visited);
  if (n < 0 || (size_t)n >= sizeof text)
    return -1;
  snprintf(name, sizeof name, "%s.yaml", c->name);
  imsec_fx_path(f, name, c->conf, sizeof c->conf);
  if (imsec_fx_write_text(c->conf, text) != 0)
    return -1;
  c->argv[0] = "pcscf";
  c->argv[1] = "-c";
  c->argv[2] = c->conf;
  c->argv[3] = NULL;
  return 0;
}
