/* imsec pcscf: modes M2a and M2b (mutual TLS with UE certificates, the
 * P-CSCF dialling UEs): the flags, their checks and the TLS settings they
 * make (apps/pcscf_m2.c). */
#ifndef IMSEC_APPS_PCSCF_M2_H
#define IMSEC_APPS_PCSCF_M2_H

#include "imsec/host_net.h"
#include "imsec/pcscf.h"
#include "imsec/x509.h"

/* --client-cert MODE, --ue-ca FILE, --dial-ue at argv[*i]: 1 taken (and
 * *i moved past its value), 0 not one of them, -1 a usage error (said). */
int pcscf_m2_flag(imsec_pcscf_settings *s, int argc, char **argv, int *i);
/* The checks once everything is read: 0, or -1 (said, exit 2). */
int pcscf_m2_check(const imsec_pcscf_settings *s);
/* Add the --ue-ca files to `a` (the host's anchors for peer facts). 0, or
 * -1 (said, exit 2). */
int pcscf_m2_anchors(const imsec_pcscf_settings *s, imsec_x509_anchors *a);

/* What the modes ask of the TLS contexts: the UE listener asks for client
 * certificates (M2a), and the "ue" client profile dials UEs (M2b). */
typedef struct pcscf_m2_tls {
  const char *more_ca[IMSEC_PCSCF_MAX_UE_CA + 1];
  imsec_net_tls_config client; /* the "ue" profile */
  imsec_hostnet_tls_profile profile;
  size_t n_profiles; /* 0 or 1 */
} pcscf_m2_tls;

/* Set `server` (the UE listener) and `t` from `s`. */
void pcscf_m2_tls_setup(const imsec_pcscf_settings *s,
                        imsec_net_tls_config *server, pcscf_m2_tls *t);

#endif /* IMSEC_APPS_PCSCF_M2_H */
