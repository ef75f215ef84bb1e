/* A small host for unit tests that call an element directly: after each
 * event it carries out the REQUEST and PERSIST actions the element
 * appended, through an imsec_svc (imsec_svc_local_new over in-memory
 * stores), and calls the element's on_reply with each answer, until none
 * is left. Every other action stays in `out` for the test to read.
 *
 * Held SENDs are kept simple: a PERSIST is answered at once, so the
 * actions after it in `out` are already in durable order; when the store
 * fails, the actions the same call appended after it are dropped (their
 * kind becomes 0), as include/imsec/elem.h says a host does. */
#ifndef IMSEC_TEST_ELEM_PUMP_H
#define IMSEC_TEST_ELEM_PUMP_H

#include "imsec/elem.h"
#include "imsec/svc.h"

typedef enum elem_pump_mode {
  ELEM_PUMP_ANSWER = 0, /* REQUESTs answered at once */
  ELEM_PUMP_HOLD,       /* REQUESTs answered, replies held until released */
  ELEM_PUMP_DROP,       /* REQUESTs never answered (a store gone silent) */
} elem_pump_mode;

typedef struct elem_pump_held {
  imsec_svc_reply rep; /* rep.reg owned (a copy) when not NULL */
  imsec_reg_record reg;
} elem_pump_held;

typedef struct elem_pump {
  const imsec_elem_ops *ops;
  void *self;
  imsec_svc *svc; /* borrowed */
  elem_pump_mode mode;
  int persist_fail;     /* > 0: that many PERSISTs fail with IMSEC_ERR_IO
                           without reaching the store */
  size_t n_req[16];     /* REQUEST/PERSIST seen, by imsec_svc_kind */
  elem_pump_held *held; /* ELEM_PUMP_HOLD: replies in arrival order */
  size_t nheld, capheld;
} elem_pump;

void elem_pump_init(elem_pump *p, const imsec_elem_ops *ops, void *self,
                    imsec_svc *svc);
/* Free the held replies (their vectors wiped). */
void elem_pump_free(elem_pump *p);
/* Carry out the service actions in out->acts[from..n), and those the
 * replies bring, at `now`. */
void elem_pump_run(elem_pump *p, imsec_out *out, size_t from,
                   imsec_time_ms now);
/* ELEM_PUMP_HOLD: hand held reply `i` to the element (then pump what it
 * appended). Returns 0, or -1 when there is no such reply. */
int elem_pump_release(elem_pump *p, size_t i, imsec_out *out,
                      imsec_time_ms now);
/* Drop the held replies without delivering them. */
void elem_pump_forget(elem_pump *p);

#endif
