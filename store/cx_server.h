/*
 * The Cx server's message handling without freeDiameter's core running
 * (private to store/ and its tests): the fuzz target feeds it parsed
 * requests and takes the answers through `send` instead of the network.
 */
#ifndef IMSEC_STORE_CX_SERVER_H
#define IMSEC_STORE_CX_SERVER_H

#include "cx_int.h"

/* Takes the answer (*ans; set it to NULL or free it). Called on the
 * thread that completes the request: freeDiameter's, or the HSS
 * service's worker. */
typedef void (*imsec_cx_send_fn)(void *arg, struct msg **ans);

/* A server that answers through `send` and registers no handler. The
 * dictionary must be loaded (imsec_cx_dict_load). Returns 0,
 * IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM. Delete with imsec_cx_server_del
 * (which then stops no core). */
int imsec_cx_server_detached(imsec_cx_server **out, imsec_svc *hss,
                             imsec_cx_send_fn send, void *arg);

/* Answer one received, parsed request of the Cx application (*req is
 * taken: NULL on return). Answers UAR, SAR, LIR and MAR; any other
 * command DIAMETER_COMMAND_UNSUPPORTED. */
void imsec_cx_server_handle(imsec_cx_server *s, struct msg **req);

/* Requests taken and not yet answered (for tests and shutdown). */
int imsec_cx_server_inflight(imsec_cx_server *s);

#endif /* IMSEC_STORE_CX_SERVER_H */
