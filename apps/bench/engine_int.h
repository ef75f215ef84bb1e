/*
 * apps/bench/engine_int.h: the inside of one generator process
 * (engine.h): many lib/ue UEs multiplexed on one host element (mux.c),
 * and the setup around it (engine.c).
 *
 * The mux keeps one small slot per UE and one unit per group of UEs an
 * operation takes (one UE for a registration; a pair, caller and callee,
 * when the run has MESSAGEs or calls). Every look-up is O(1): connect
 * tags, timer ids and service ids carry the slot index (and a generation,
 * so an event meant for a UE the mux already replaced is recognised),
 * flows are found through a hash map, idle units wait in a FIFO ring and
 * operations in flight in a FIFO list, which is also their deadline order
 * (every operation has the same timeout).
 */
#ifndef IMSEC_APPS_BENCH_ENGINE_INT_H
#define IMSEC_APPS_BENCH_ENGINE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "imsec/crypto.h"
#include "imsec/elem.h"
#include "imsec/map.h"
#include "imsec/ue.h"

#define ENG_NIL UINT32_MAX

/* At most this many UEs of one process in mode M2a: each has a client
 * TLS context of its own (its certificate), which costs far more than
 * the UE. */
#define ENG_M2A_MAX 2000

/* One UE. */
typedef struct eng_slot {
  imsec_ue *ue;   /* NULL: none made (or retired) */
  uint64_t flow;  /* the UE's flow as the flow map has it; 0 none */
  int64_t off;    /* the UE's clock = the loop's + off */
  uint32_t cred;  /* its line in the credentials */
  uint32_t regs;  /* its registrations when the operation began */
  int32_t down;   /* the reason of its last flow down (0 none) */
  uint8_t sqn[6]; /* AKA: SQN_MS it last made durable (TS 33.102 C.2) */
  uint8_t gen;    /* bumped for every UE made in the slot */
  uint8_t reg;    /* counted in eng.registered */
  uint8_t dereg;  /* de-registering at the end of a hold */
  uint8_t want;   /* part of the running operation's registration */
} eng_slot;

/* The operation a unit runs. */
typedef enum eng_kind {
  ENG_OP_NONE = 0,
  ENG_OP_REG,  /* registration(s) of the unit's slots with `want` set */
  ENG_OP_MSG,  /* a MESSAGE from slot 0 to slot 1 */
  ENG_OP_CALL, /* a call from slot 0 to slot 1 */
} eng_kind;

/* A group of UEs one operation takes: slots unit*g .. unit*g + g-1. */
typedef struct eng_unit {
  uint32_t prev, next; /* the in-flight list; ENG_NIL at its ends */
  uint8_t kind;        /* eng_kind; ENG_OP_NONE: idle */
  uint8_t sc;          /* bench_scenario reported */
  uint8_t warm;        /* a warm-up registration: never reported */
  uint8_t answered;    /* call: the 200 came, the BYE is out */
  uint8_t flip;        /* the slot of the pair the next register takes */
  uint8_t held;        /* hold: registered once, stays out of the ring */
  uint8_t in_ring;     /* waiting in the ring of idle units */
  int32_t handle;      /* MESSAGE or call handle */
  int64_t t_ns;        /* started (CLOCK_MONOTONIC ns) */
  int64_t deadline;    /* the loop's ms */
  uint64_t lat_us;     /* call: INVITE to its 200 */
} eng_unit;

typedef enum eng_phase {
  ENG_WARM = 0, /* registering the UEs operations need, not reported */
  ENG_RUN,      /* the measured operations */
  ENG_HOLD,     /* hold: every UE registered, idle */
  ENG_DEREG,    /* hold: de-registering at the end */
  ENG_DONE,
} eng_phase;

typedef struct eng {
  const bench_opts *o;
  const bench_creds *cr;
  const bench_sink *sink;
  int64_t t0_ms;
  imsec_crypto *crypto;
  char home[IMSEC_HSS_ID_MAX];            /* the home domain (creds) */
  char server_name[IMSEC_HSS_ID_MAX + 8]; /* SNI, the trust decision's name */
  char trust_domain[256];

  eng_slot *s;
  uint32_t n_slots;
  eng_unit *u;
  uint32_t n_units; /* units in use (the warm-up registers these) */
  uint32_t g;       /* slots per unit: 1 or 2 */

  uint32_t *ring; /* idle units, FIFO */
  uint32_t ring_head, ring_n;
  uint32_t fl_head, fl_tail; /* in flight, oldest first */
  imsec_map flows;           /* flow id -> slot + 1 */

  /* This worker's share. */
  uint32_t conc;  /* closed loop: operations in flight; 0 open loop */
  double rate;    /* open loop: operations per second */
  uint64_t count; /* 0: no bound */
  int64_t end_ms; /* the loop's ms at which the run (or hold) ends */

  eng_phase phase;
  uint32_t warm_next; /* warm-up: the next unit to look at */
  uint32_t hold_next; /* hold: the next unit to register */
  uint32_t in_flight; /* operations (warm-ups included) */
  uint32_t registered;
  uint64_t started; /* reported operations started */
  int64_t pace_t0;  /* open loop: the loop's ms its rate counts from */
  uint64_t paced;   /* open loop: operations the rate has asked for */
  int64_t dereg_until;
  uint32_t dereg_next, dereg_busy;
  int64_t cur_w[BENCH_SC_N]; /* smooth weighted round robin */
  unsigned noted;            /* outcomes noted once (bit per outcome) */
  int noted_busy, noted_warm;
  uint64_t handshakes, resumed; /* TLS flows up, of which resumed */
  atomic_int done;
} eng;

/* The mux element (mux.c): `self` an eng. */
extern const imsec_elem_ops bench_mux_ops;

/* On the loop thread (imsec_hostnet_call functions): the run is being
 * stopped by a signal (a hold de-registers first); retire every UE. */
void eng_stop_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg);
void eng_retire_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg);

#endif
