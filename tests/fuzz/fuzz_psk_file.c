/* Fuzz the P-CSCF's PSK file parser (conf/psk_file.c):
 * arbitrary bytes as the file's text must never crash, hang or leak, and
 * what it accepts must hold the file's rules: every identity 1 to
 * IMSEC_PSK_ID_MAX - 1 printable octets without space, given once; every
 * key IMSEC_PSK_FILE_KEY_MIN to IMSEC_PSK_MAX octets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/psk_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 256 * 1024)
    return 0;
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = 0;
  imsec_psk_file f = {0};
  char err[256];
  int rv = imsec_psk_file_parse(text, size, "fuzz.psk", &f, err, sizeof(err));
  if (rv == 0) {
    for (size_t i = 0; i < f.n; i++) {
      size_t il = strlen(f.e[i].identity);
      if (il == 0 || il >= IMSEC_PSK_ID_MAX)
        abort();
      for (size_t k = 0; k < il; k++) {
        unsigned char c = (unsigned char)f.e[i].identity[k];
        if (c <= 0x20 || c >= 0x7f)
          abort();
      }
      if (f.e[i].key_len < IMSEC_PSK_FILE_KEY_MIN ||
          f.e[i].key_len > IMSEC_PSK_MAX)
        abort();
      for (size_t j = 0; j < i; j++)
        if (strcmp(f.e[i].identity, f.e[j].identity) == 0)
          abort();
    }
    imsec_psk_file_free(&f);
  } else if (f.e || f.n) {
    abort(); /* a refused file leaves `out` alone */
  } else if (!err[0]) {
    abort(); /* a refusal always says why */
  }
  free(text);
  return 0;
}
