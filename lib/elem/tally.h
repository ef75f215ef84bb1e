/* Internal to lib/: counts by a pair of static labels, for the element
 * metrics whose label values come from a small fixed set of codes (trust
 * decisions by result and reason). The strings are the callers' static
 * codes, kept by pointer; a pair beyond the table's room is counted under
 * ("other", "other") so nothing is lost and memory stays bounded. One thread
 * (the element's), no allocation. */
#ifndef IMSEC_LIB_ELEM_TALLY_H
#define IMSEC_LIB_ELEM_TALLY_H

#include <stddef.h>
#include <stdint.h>

#define ELEM_TALLY_MAX 32

typedef struct elem_tally_row {
  const char *a, *b;
  uint64_t n;
} elem_tally_row;

typedef struct elem_tally {
  elem_tally_row r[ELEM_TALLY_MAX];
  size_t n;
} elem_tally;

/* Count one (a, b); both static, non-NULL. */
void elem_tally_add(elem_tally *t, const char *a, const char *b);
/* The count of (a, b) (tests and listings). */
uint64_t elem_tally_get(const elem_tally *t, const char *a, const char *b);

/* What every element reports alike (docs/OPERATIONS.md): registrations
 * and bindings active, REGISTER outcomes, trust decisions, transactions
 * active. `reg` holds ELEM_REG_N counts in the order of elem_reg_outcome;
 * each element's own outcome enum follows it (checked where it is
 * declared). */
#define ELEM_REG_N 6
extern const char *const elem_reg_outcome[ELEM_REG_N];

struct imsec_metrics;
typedef struct elem_obs_common {
  const char *regs_help, *binds_help;
  size_t regs, binds;
  const uint64_t *reg;
  const elem_tally *trust;
  const char *trust_peer; /* "core" (a core peer) or "pcscf" (the UE's) */
  size_t txn_server, txn_client;
} elem_obs_common;
void elem_obs_common_add(struct imsec_metrics *m, const elem_obs_common *c);

/* Seconds from now to `at` (0 once passed) as text in buf (>= 21 octets),
 * for the listings' expires_s columns. */
const char *elem_secs_left(char *buf, int64_t at, int64_t now);

#endif
