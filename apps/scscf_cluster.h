/* `imsec scscf` in a core past one machine (docs/DEPLOY.md): the HSS
 * behind Diameter Cx (--hss diameter:H:P), the registrations in Redis
 * (--registrations redis://...), the siblings' addresses (--alias). The
 * flags, their YAML keys, and the services they make. */
#ifndef IMSEC_APPS_SCSCF_CLUSTER_H
#define IMSEC_APPS_SCSCF_CLUSTER_H

#include <stdint.h>

#include "imsec/cx.h"
#include "imsec/scscf.h"

typedef struct scscf_cluster_opts {
  const char *hss, *diameter_identity, *diameter_realm, *hss_identity;
  const char *diameter_cert, *diameter_key, *diameter_ca;
  int64_t hss_timeout; /* -1: absent */
  const char *aliases[IMSEC_SCSCF_MAX_ALIASES];
  size_t n_aliases;
} scscf_cluster_opts;

/* The help text of these flags. */
extern const char scscf_cluster_help[];

void scscf_cluster_opts_init(scscf_cluster_opts *o);

/* One of the flags at argv[*i]: 1 (taken, *i moved past its value; *rv
 * 0 or a usage exit code), 0 (not one of them). */
int scscf_cluster_opt(scscf_cluster_opts *o, int argc, char **argv, int *i,
                      int *rv);

/* What the flags (over the file's keys) say. */
typedef struct scscf_cluster {
  int remote_hss;        /* --hss diameter[+tls]:H:P */
  imsec_cx_config cx;    /* its Diameter settings (strings borrowed) */
  char cx_addr[300];     /* "tcp:H:P" or "tls:H:P" */
  char server_name[300]; /* this S-CSCF's SIP URI, the SAR Server-Name */
  int64_t hss_timeout;   /* ms; 0: the Cx client's default */
  imsec_addr aliases[IMSEC_SCSCF_MAX_ALIASES];
  size_t n_aliases;
} scscf_cluster;

/* Pick and check the settings. Returns 0 or the usage exit code (one
 * line said). */
int scscf_cluster_pick(const scscf_cluster_opts *o, const imsec_scscf_file *f,
                       scscf_cluster *c);

/* Is the registrations value a Redis URL? */
int scscf_cluster_is_redis(const char *registrations);

/* --check-config: the Cx client's settings checked as a start would
 * (identities, the HSS address resolved, with diameter+tls: the
 * certificate, key and CA files), nothing started. Returns 0 or
 * CLI_EXIT_USAGE after one line. */
int scscf_cluster_cx_check(scscf_cluster *c, const imsec_addr *self);

/* The Cx client towards the HSS, its Server-Name from `self` (the
 * advertised address); waits up to 10 s (or the request timeout) for the peer
 * to open, logging when it does not (requests get 504 meanwhile). Returns 0 or
 * the exit code (one line said). */
int scscf_cluster_cx_start(scscf_cluster *c, const imsec_addr *self,
                           imsec_svc **out);

/* The Redis registration store. Returns 0 or the exit code. */
int scscf_cluster_redis_start(const char *url, imsec_svc **out);

#endif
