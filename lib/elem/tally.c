/* Counts by a pair of static label values (lib/elem/tally.h). */
#include "lib/elem/tally.h"

#include <string.h>

static elem_tally_row *find(elem_tally *t, const char *a, const char *b) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->r[i].a, a) == 0 && /* no secret: metric label codes */
        strcmp(t->r[i].b, b) == 0)   /* no secret: metric label codes */
      return &t->r[i];
  return NULL;
}

void elem_tally_add(elem_tally *t, const char *a, const char *b) {
  elem_tally_row *r = find(t, a, b);
  /* The last row is kept for pairs beyond the room: ("other", "other"). */
  if (!r && t->n < ELEM_TALLY_MAX - 1) {
    r = &t->r[t->n++];
    r->a = a;
    r->b = b;
    r->n = 0;
  }
  if (!r && !(r = find(t, "other", "other"))) {
    r = &t->r[t->n++];
    r->a = "other";
    r->b = "other";
    r->n = 0;
  }
  r->n++;
}

uint64_t elem_tally_get(const elem_tally *t, const char *a, const char *b) {
  elem_tally *m = (elem_tally *)t; /* find does not change it */
  const elem_tally_row *r = find(m, a, b);
  return r ? r->n : 0;
}
