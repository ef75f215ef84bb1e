/*
 * Internal to host/: what the host counts for operators (imsec_host_metrics,
 * families in docs/OPERATIONS.md) and the cheap look at a SIP message it
 * needs for that and for the log context: the start line, the CSeq method
 * and the Call-ID, found by scanning header lines, never by parsing the
 * message (the element parses it once, properly).
 *
 * Every counter belongs to one host and is touched on the element's
 * thread only, like the rest of the host: plain integers.
 */
#ifndef IMSEC_HOST_OBS_H
#define IMSEC_HOST_OBS_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/base.h"
#include "imsec/elem.h"
#include "imsec/obs.h"

/* The methods counted by name (RFC 3261 and its extensions an IMS core
 * sees), then every other as "other". */
enum {
  HOBS_M_OTHER = 14,
  HOBS_METHODS = 15,
};
/* Service kinds by imsec_svc_kind value. */
#define HOBS_KINDS 16

typedef struct host_obs {
  uint64_t req[2][HOBS_METHODS];     /* [0] in, [1] out */
  uint64_t resp[2][HOBS_METHODS][6]; /* by CSeq method, class 1xx..6xx */
  uint64_t store[HOBS_KINDS][3];     /* ok, error, timeout */
  imsec_hist lat[HOBS_KINDS];        /* request to final answer */
} host_obs;

/* What the start line and a few headers say. */
typedef struct hobs_peek {
  int method;        /* request: its method; response: CSeq's; -1 none */
  int cls;           /* response: 1..6; request: 0; -1 not SIP */
  imsec_str call_id; /* borrowed from the message; empty when absent */
} hobs_peek;

/* Look at `msg`: the start line always; the CSeq of a response; the
 * Call-ID (full "Call-ID" or compact "i") when want_call_id. */
void hobs_peek_msg(const uint8_t *msg, size_t len, int want_call_id,
                   hobs_peek *out);

/* Count a message in (out 0) or out (out 1). */
void hobs_count_sip(host_obs *o, int out, const hobs_peek *p);

/* Count a service request's final answer after `ms`. */
void hobs_count_store(host_obs *o, imsec_svc_kind kind, int status, int64_t ms);

/* Declare the host's families and add its samples; in_flight: service
 * requests not yet answered. */
void hobs_metrics(const host_obs *o, size_t in_flight, struct imsec_metrics *m);

#endif
