/*
 * The timing settings of the datagram (DTLS) access leg on the command
 * line (docs/DTLS.md): RFC 3261 §17.1.1.1 T1, T2, T4 for both ends
 * (--t1-ms, --t2-ms, --t4-ms), the P-CSCF's idle limit for an association
 * (--dtls-idle-timeout-ms; YAML t1_ms, t2_ms, t4_ms, dtls_idle_timeout_ms
 * in conf/pcscf.c) and the UE's STUN keep-alive interval (--keepalive S,
 * RFC 5626 §4.4.2). Each bad value is one line and exit 2.
 */
#ifndef IMSEC_APPS_DGRAM_OPTS_H
#define IMSEC_APPS_DGRAM_OPTS_H

#include "imsec/pcscf.h"
#include "imsec/ue.h"

/* The largest values taken (ms; the YAML keys use the same). */
#define DGRAM_T1_MAX 60000
#define DGRAM_T2_MAX 600000
#define DGRAM_T4_MAX 600000
#define DGRAM_IDLE_MAX 86400000
#define DGRAM_KEEPALIVE_MAX_S 3600

/* --t1-ms, --t2-ms, --t4-ms, --dtls-idle-timeout-ms at argv[*i]: 1 taken
 * (*i moved past its value), 0 not one of them, -1 a usage error (said). */
int pcscf_dgram_flag(imsec_pcscf_settings *s, int argc, char **argv, int *i);
/* Once everything is read (flags and YAML): 0, or -1 (said, exit 2). */
int pcscf_dgram_check(const imsec_pcscf_settings *s);
/* With a dtls: listener, one line on stderr: the timers and the idle
 * limit in force (defaults filled in). */
void pcscf_dgram_log_start(const imsec_pcscf_settings *s);

typedef struct ue_dgram_args {
  imsec_time_ms t1_ms, t2_ms, t4_ms; /* 0: not given */
  imsec_time_ms keepalive_ms;        /* 0: not given, < 0: off */
  const char *first;                 /* the first of these flags given */
} ue_dgram_args;

/* --t1-ms, --t2-ms, --t4-ms, --keepalive at argv[*i], as above. */
int ue_dgram_flag(ue_dgram_args *a, int argc, char **argv, int *i);
/* Into the UE's config (its transport already parsed into cfg->pcscf):
 * 0, or CLI_EXIT_USAGE after one line (the flags need a dtls: P-CSCF). */
int ue_dgram_setup(const ue_dgram_args *a, imsec_ue_config *cfg);

#endif /* IMSEC_APPS_DGRAM_OPTS_H */
