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

#endif
