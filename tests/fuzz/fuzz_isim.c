/* Fuzz the YAML ISIM profile loader: any bytes give a profile or one error
 * line, never a crash, a leak or unbounded memory. Files are not read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/isim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(void *ctx, const char *kind, const char *line) {
  (void)ctx;
  (void)kind;
  (void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  imsec_isim_profile p;
  char err[256];
  int rv = imsec_isim_parse((const char *)data, size, "fuzz", "/nonexistent",
                            IMSEC_ISIM_NO_FILES, &p, err, sizeof(err));
  if (rv == 0) {
    /* The naming and consistency checks on what was parsed; certificate
     * paths all point into a directory that does not exist. */
    (void)imsec_isim_check(&p, sink, NULL);
    imsec_isim_free(&p);
  } else if (err[0] == '\0' && rv != IMSEC_ERR_NOMEM) {
    abort(); /* every failure explains itself */
  }
  return 0;
}
