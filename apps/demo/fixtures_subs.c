/* The fixtures' subscribers (fixtures.h): ISIM profiles and HSS records. */
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "imsec/isim.h"
#include "imsec/trust.h"

imsec_fx_sub *imsec_fx_sub_by(imsec_fx *f, const char *label) {
  for (size_t i = 0; i < IMSEC_FX_N_SUBS; i++)
    if (strcmp(f->subs[i].label, label) == 0) /* no secret: a label */
      return &f->subs[i];
  return NULL;
}

int imsec_fx_make_profiles(imsec_fx *f, imsec_crypto *cr) {
  char root[1024], home_ca[1024], partner[1024];
  imsec_fx_path(f, IMSEC_FX_ROOT_CRT, root, sizeof root);
  imsec_fx_path(f, IMSEC_FX_HOME_CA_CRT, home_ca, sizeof home_ca);
  imsec_fx_path(f, IMSEC_FX_PARTNER_CA_CRT, partner, sizeof partner);
  for (size_t i = 0; i < IMSEC_FX_N_SUBS; i++) {
    imsec_fx_sub *s = &f->subs[i];
    snprintf(s->impi, sizeof s->impi, "00101%s@%s", s->msin, IMSEC_FX_HOME);
    snprintf(s->impu, sizeof s->impu, "sip:00101%s@%s", s->msin, IMSEC_FX_HOME);
    snprintf(s->tel, sizeof s->tel, "tel:+100101%s", s->msin);
    if (imsec_random(cr, s->k, 16) < 0 || imsec_random(cr, s->opc, 16) < 0)
      return -1;
    memset(s->sqn_isim, 0, 6);
    /* The ISIM has seen a higher SQN than the HSS will use: its first
     * challenge fails synchronisation (TS 33.102 §6.3.5). */
    if (strcmp(s->label, "D") == 0) /* no secret: a label */
      s->sqn_isim[3] = 0x10;
    char *impus[] = {s->impu, s->tel};
    char *anchors[] = {root};
    char *partners[] = {partner};
    imsec_isim_profile p;
    memset(&p, 0, sizeof p);
    p.source = s->profile;
    p.impi = s->impi;
    p.impus = impus;
    p.n_impus = 2;
    p.home_domain = (char *)IMSEC_FX_HOME;
    p.trust_domain = (char *)IMSEC_FX_TD;
    memcpy(p.k, s->k, 16);
    memcpy(p.opc, s->opc, 16);
    p.has_k = p.has_opc = 1;
    p.amf[0] = 0x80;
    p.has_amf = 1;
    memcpy(p.sqn, s->sqn_isim, 6);
    p.has_sqn = 1;
    p.anchors = anchors;
    p.n_anchors = 1;
    p.home_ca = home_ca;
    p.partners = partners;
    p.n_partners = 1;
    p.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
    p.has_policy = 1;
    char name[64];
    snprintf(name, sizeof name, "ue-%s.yaml", s->label);
    imsec_fx_path(f, name, s->profile, sizeof s->profile);
    int rv = imsec_isim_save(&p, s->profile, 1);
    imsec_wipe(p.k, 16);
    imsec_wipe(p.opc, 16);
    if (rv < 0)
      return rv;
  }
  return 0;
}

int imsec_fx_hss_record(const imsec_fx_sub *s, imsec_hss_sub *out) {
  memset(out, 0, sizeof *out);
  if (snprintf(out->impi, sizeof out->impi, "%s", s->impi) < 0 ||
      snprintf(out->impus[0], sizeof out->impus[0], "%s", s->impu) < 0 ||
      snprintf(out->impus[1], sizeof out->impus[1], "%s", s->tel) < 0)
    return IMSEC_ERR_INVAL;
  out->n_impus = 2;
  memcpy(out->k, s->k, sizeof out->k);
  memcpy(out->op, s->opc, sizeof out->op);
  out->op_is_opc = 1;
  out->amf[0] = 0x80;
  /* The last SQN used is 0 (SEQ_HE 0, IND 0): the next vector takes IND 1
   * (TS 33.102 Annex C), as `imsec hss add --sqn 000000000000` records. */
  out->sqn.seq = 0;
  out->sqn.ind_next = 1;
  out->aka = IMSEC_HSS_AKAV1;
  return 0;
}

int imsec_fx_hss_add_argv(const imsec_fx_sub *s, const char *db,
                          imsec_fx_hss_add *a) {
  memset(a, 0, sizeof *a);
  if (imsec_hex_encode(s->k, 16, a->k, sizeof a->k) < 0 ||
      imsec_hex_encode(s->opc, 16, a->opc, sizeof a->opc) < 0) {
    imsec_fx_hss_add_wipe(a);
    return -1;
  }
  snprintf(a->impus, sizeof a->impus, "%s,%s", s->impu, s->tel);
  char *const argv[] = {
      "hss",    "add",    "--db",  (char *)db,     "--impi", (char *)s->impi,
      "--impu", a->impus, "--k",   a->k,           "--opc",  a->opc,
      "--amf",  "8000",   "--sqn", "000000000000", NULL};
  memcpy(a->argv, argv, sizeof argv);
  return 0;
}

void imsec_fx_hss_add_wipe(imsec_fx_hss_add *a) {
  imsec_wipe(a->k, sizeof a->k);
  imsec_wipe(a->opc, sizeof a->opc);
}
