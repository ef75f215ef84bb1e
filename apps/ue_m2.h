/* imsec ue: modes M2a and M2b (the UE's certificate shown to a P-CSCF
 * that asks for one; the UE's own TLS listener the P-CSCF dials): the
 * flags and the TLS settings they make (apps/ue_m2.c). */
#ifndef IMSEC_APPS_UE_M2_H
#define IMSEC_APPS_UE_M2_H

#include "imsec/host_net.h"
#include "imsec/isim.h"
#include "imsec/ue.h"
#include "imsec/x509.h"

typedef struct ue_m2_args {
  const char *listen; /* --listen tls:H:P */
  int close_after;    /* --close-after-register */
} ue_m2_args;

/* --listen ADDR, --close-after-register at argv[*i]: 1 taken (*i moved
 * past its value), 0 not one of them, -1 a usage error (said). */
int ue_m2_flag(ue_m2_args *m, int argc, char **argv, int *i);

typedef struct ue_m2_tls {
  const char *more_ca[IMSEC_ISIM_MAX_LIST * 2 + 2];
  imsec_net_tls_config server; /* the listener */
  imsec_hostnet_listener listener;
  size_t n_listeners; /* 0 or 1 */
} ue_m2_tls;

/* From the profile and the flags: the UE config's listener, the client
 * certificate of `client` (M2a), the listener of `t` (M2b). Returns 0, or
 * CLI_EXIT_USAGE after one line. */
int ue_m2_setup(const ue_m2_args *m, const imsec_isim_profile *prof,
                const imsec_x509_anchors *anchors, imsec_ue_config *cfg,
                imsec_net_tls_config *client, ue_m2_tls *t);

#endif /* IMSEC_APPS_UE_M2_H */
