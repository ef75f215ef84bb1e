/* Internals of the UE element (include/imsec/ue.h), shared by the files of
 * lib/ue. */
#ifndef IMSEC_LIB_UE_INT_H
#define IMSEC_LIB_UE_INT_H

#include "imsec/sip.h"
#include "imsec/ue.h"

#define UE_TEXT 256
#define UE_SECSRV_CAP 512

typedef struct ue_pending {
  int handle; /* 0: free slot */
  char call_id[80];
  imsec_time_ms deadline; /* 0 once answered */
  int status;             /* final status; 0 while pending */
  uint64_t seq;           /* age, for reusing finished slots */
} ue_pending;

struct imsec_ue {
  imsec_crypto *crypto;
  imsec_milenage *mil;

  /* configuration (copied) */
  char impi[UE_TEXT];
  char impus[IMSEC_UE_MAX_IMPUS][UE_TEXT];
  size_t n_impus;
  char home_domain[UE_TEXT];
  char trust_domain[UE_TEXT];
  imsec_sqn_ue sqn;
  imsec_sqn_cfg sqn_cfg;
  imsec_addr pcscf;
  char pcscf_name[UE_TEXT];
  imsec_trust_policy policy;
  int allow_wildcards;
  uint32_t expires_req;
  char instance[80]; /* urn:uuid:... */
  imsec_time_ms txn_timeout, backoff_min, backoff_max;
  unsigned max_connect_attempts;

  /* the flow to the P-CSCF */
  imsec_ue_state state;
  uint64_t flow;        /* 0: none */
  uint64_t connect_tag; /* the CONNECT we wait for; 0: none */
  uint64_t next_tag;
  char local_host[IMSEC_UE_URI_CAP]; /* as it goes into a URI */
  uint16_t local_port;
  char contact[IMSEC_UE_URI_CAP];
  imsec_trust_cert peer_cert;
  int has_peer_cert;
  int trusted;                    /* a positive decision on this flow */
  char sec_server[UE_SECSRV_CAP]; /* Security-Server echo for this flow */
  int flow_registered;            /* a 200 to REGISTER came on this flow */

  /* reconnection */
  unsigned connect_failures;
  imsec_time_ms backoff;
  imsec_time_ms reconnect_at;
  imsec_time_ms retry_not_before; /* a 503's Retry-After; 0: none */

  /* the REGISTER transaction */
  char call_id[80];
  char from_tag[40];
  uint32_t cseq;
  int reg_pending;
  uint32_t reg_expires; /* Expires of the REGISTER in flight */
  unsigned rounds;      /* 401s in this registration attempt */
  int mac_failed;
  int dereg_wanted;
  imsec_time_ms txn_deadline;

  /* the registration */
  int registered;
  imsec_time_ms expires_at, rereg_at;
  uint32_t expires_granted;
  char routes[IMSEC_UE_MAX_ROUTES][IMSEC_UE_URI_CAP];
  size_t n_routes;
  char assoc[IMSEC_UE_MAX_ASSOCIATED][IMSEC_UE_URI_CAP];
  size_t n_assoc;

  /* status */
  int trust_decided;
  imsec_trust_result trust;
  unsigned last_status;
  char error[256];
  unsigned registrations, challenges, sync_failures, reconnects, resumed;
  uint64_t sqn_updates;

  /* MESSAGEs */
  imsec_ue_message inbox[IMSEC_UE_INBOX_MAX];
  size_t inbox_head, inbox_n;
  ue_pending pending[IMSEC_UE_MAX_PENDING];
  int next_handle;
  uint64_t pending_seq;
  imsec_time_ms msg_timer_at;
  imsec_lograte bad_rate; /* lines about refused input */
};

#endif
