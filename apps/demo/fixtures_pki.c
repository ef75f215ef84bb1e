/* The fixtures' PKI (fixtures.h): one IMS root CA for the trust domain,
 * operator CAs constrained to their own domain (RFC 5280 §4.2.1.10 name
 * constraints), element certificates under them (TS 33.310). */
#include <stdio.h>

#include "fixtures.h"

static int issue_ca(const char *cn, const char *domain, int path_len,
                    const imsec_pki_cred *issuer, int64_t now,
                    imsec_pki_cred **out) {
  const char *perm[] = {domain};
  imsec_pki_spec s = {
      .key = IMSEC_PKI_KEY_EC_P256,
      .cn = cn,
      .org = domain ? domain : IMSEC_FX_TD,
      .ca = 1,
      .path_len = path_len,
      .permitted = domain ? perm : NULL,
      .n_permitted = domain ? 1 : 0,
      .not_before = now - 3600,
      .not_after = now + 86400 * 30,
  };
  return imsec_pki_issue(&s, issuer, out);
}

/* An element certificate for `host` under `ca`: HOST.chain.pem (leaf, CA;
 * just the leaf when with_ca is 0) and HOST.key. A P-CSCF facing UEs is a
 * TLS server; a core network element (TS 33.310 §6.1.3c) is a TLS server
 * and client on Mw, so `client_auth` is set for it. */
static int issue_element(const imsec_fx *f, const char *host,
                         const imsec_pki_cred *ca, int with_ca, int client_auth,
                         int64_t now) {
  char uri[300], file[300], p[1024];
  snprintf(uri, sizeof uri, "sip:%s", host);
  const char *dns[] = {host};
  const char *uris[] = {uri};
  imsec_pki_spec s = {
      .key = IMSEC_PKI_KEY_EC_P256,
      .cn = host,
      .dns = dns,
      .n_dns = 1,
      .uris = uris,
      .n_uris = 1,
      .server_auth = 1,
      .client_auth = client_auth,
      .path_len = -1,
      .not_before = now - 3600,
      .not_after = now + 86400 * 30,
  };
  imsec_pki_cred *leaf = NULL;
  int rv = imsec_pki_issue(&s, ca, &leaf);
  if (rv < 0)
    return rv;
  const imsec_pki_cred *chain[] = {leaf, ca};
  snprintf(file, sizeof file, "%s.chain.pem", host);
  rv = imsec_pki_write_certs(imsec_fx_path(f, file, p, sizeof p), chain,
                             with_ca ? 2 : 1, 1);
  snprintf(file, sizeof file, "%s.key", host);
  if (rv == 0)
    rv = imsec_pki_write_key(leaf, imsec_fx_path(f, file, p, sizeof p), 1);
  imsec_pki_cred_del(leaf);
  return rv;
}

static int issue_pcscf(const imsec_fx *f, const char *host,
                       const imsec_pki_cred *ca, int with_ca, int64_t now) {
  return issue_element(f, host, ca, with_ca, 0, now);
}

static int issue_node(const imsec_fx *f, const char *host,
                      const imsec_pki_cred *ca, int64_t now) {
  return issue_element(f, host, ca, 1, 1, now);
}

/* A UE certificate as `imsec pki ue` makes it: the IMPI as SAN URI
 * sip:IMPI (and CN), EKU clientAuth, serverAuth too when the UE listens
 * (mode M2b); STEM.chain.pem (leaf, home operator CA) and STEM.key. The
 * subscriber `s` gets the files as its own when it is not NULL. */
static int issue_ue(imsec_fx *f, const char *impi, const char *stem, int server,
                    imsec_fx_sub *s, int64_t now) {
  char uri[300], file[300], chain_p[1024], key_p[1024];
  snprintf(uri, sizeof uri, "sip:%s", impi);
  const char *uris[] = {uri};
  imsec_pki_spec sp = {
      .key = IMSEC_PKI_KEY_EC_P256,
      .cn = impi,
      .org = IMSEC_FX_HOME,
      .uris = uris,
      .n_uris = 1,
      .client_auth = 1,
      .server_auth = server,
      .path_len = -1,
      .not_before = now - 3600,
      .not_after = now + 86400 * 30,
  };
  imsec_pki_cred *leaf = NULL;
  int rv = imsec_pki_issue(&sp, f->op1, &leaf);
  if (rv < 0)
    return rv;
  const imsec_pki_cred *chain[] = {leaf, f->op1};
  snprintf(file, sizeof file, "%s.chain.pem", stem);
  rv = imsec_pki_write_certs(imsec_fx_path(f, file, chain_p, sizeof chain_p),
                             chain, 2, 1);
  snprintf(file, sizeof file, "%s.key", stem);
  if (rv == 0)
    rv = imsec_pki_write_key(leaf, imsec_fx_path(f, file, key_p, sizeof key_p),
                             1);
  imsec_pki_cred_del(leaf);
  if (rv == 0 && s) {
    snprintf(s->cert, sizeof s->cert, "%s", chain_p);
    snprintf(s->key, sizeof s->key, "%s", key_p);
  }
  return rv;
}

static int write_one(const imsec_fx *f, const char *name,
                     const imsec_pki_cred *c) {
  char p[1024];
  const imsec_pki_cred *one[] = {c};
  return imsec_pki_write_certs(imsec_fx_path(f, name, p, sizeof p), one, 1, 1);
}

int imsec_fx_make_pki(imsec_fx *f, int64_t now) {
  int rv;
  if ((rv = issue_ca("IMS root CA " IMSEC_FX_TD, NULL, 1, NULL, now,
                     &f->root)) ||
      (rv = issue_ca(IMSEC_FX_HOME, IMSEC_FX_HOME, 0, f->root, now, &f->op1)) ||
      (rv = issue_ca(IMSEC_FX_VISITED, IMSEC_FX_VISITED, 0, f->root, now,
                     &f->op2)) ||
      (rv = issue_ca(IMSEC_FX_OTHER, IMSEC_FX_OTHER, 0, f->root, now, &f->op3)))
    return rv;
  if ((rv = write_one(f, IMSEC_FX_ROOT_CRT, f->root)) ||
      (rv = write_one(f, IMSEC_FX_HOME_CA_CRT, f->op1)) ||
      (rv = write_one(f, IMSEC_FX_PARTNER_CA_CRT, f->op2)) ||
      (rv = write_one(f, IMSEC_FX_OTHER_CA_CRT, f->op3)))
    return rv;
  /* The home P-CSCF's certificate also carries clientAuth: in mode M2b it
   * opens TLS towards a UE and shows it as a client (seed §3.2). */
  if ((rv = issue_element(f, IMSEC_FX_PCSCF_HOME, f->op1, 1, 1, now)) ||
      (rv = issue_pcscf(f, IMSEC_FX_PCSCF_VISITED, f->op2, 1, now)) ||
      (rv = issue_pcscf(f, IMSEC_FX_PCSCF_REALM, f->op2, 1, now)) ||
      (rv = issue_pcscf(f, IMSEC_FX_PCSCF_OTHER, f->op3, 1, now)) ||
      /* Valid under the IMS root, but named outside the trust domain. */
      (rv = issue_pcscf(f, IMSEC_FX_PCSCF_OUTSIDE, f->root, 0, now)) ||
      (rv = issue_node(f, IMSEC_FX_SCSCF_NODE, f->op1, now)) ||
      (rv = issue_node(f, IMSEC_FX_PCSCF_HOME_MW, f->op1, now)) ||
      (rv = issue_node(f, IMSEC_FX_PCSCF_VISITED_MW, f->op2, now)))
    return rv;
  /* UE certificates (modes M2a and M2b). */
  imsec_fx_sub *uf = imsec_fx_sub_by(f, "F"), *ug = imsec_fx_sub_by(f, "G"),
               *uh = imsec_fx_sub_by(f, "H");
  if ((rv = issue_ue(f, uf->impi, "ue-F", 0, uf, now)) ||
      (rv = issue_ue(f, ug->impi, "ue-G", 1, ug, now)) ||
      /* H's server certificate names another subscriber. */
      (rv = issue_ue(f, ug->impi, IMSEC_FX_UE_WRONG, 1, uh, now)))
    return rv;
  return 0;
}
