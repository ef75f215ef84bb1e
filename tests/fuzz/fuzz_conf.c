/* Fuzz the daemons' YAML configuration readers (conf/): any bytes as the
 * P-CSCF settings file and as the S-CSCF file give settings or one error
 * line, never a crash, a leak or unbounded memory. The readers take a path,
 * so the input goes through an in-memory file (memfd) named by its
 * /proc/self/fd path; nothing touches the disk. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "imsec/pcscf.h"
#include "imsec/scscf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (fd < 0) {
    fd = memfd_create("fuzz_conf", 0);
    if (fd < 0)
      abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
    abort();

  char err[256];
  imsec_pcscf_settings s;
  memset(&s, 0, sizeof(s));
  imsec_pcscf_config_init(&s.elem);
  int rv = imsec_pcscf_settings_load(path, &s, err, sizeof(err));
  if (rv < 0 && rv != IMSEC_ERR_NOMEM && err[0] == '\0')
    abort(); /* every failure explains itself */
  if (rv == 0 && s.elem.n_routes > IMSEC_PCSCF_MAX_ROUTES)
    abort();

  imsec_scscf_file f;
  rv = imsec_scscf_file_load(path, &f, err, sizeof(err));
  if (rv == 0) {
    if (f.n_listen > IMSEC_SCSCF_MAX_LISTEN)
      abort();
    imsec_scscf_file_free(&f);
  } else if (rv != IMSEC_ERR_NOMEM && err[0] == '\0') {
    abort();
  }
  return 0;
}
