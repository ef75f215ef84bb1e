/* Fuzz the IMPI/IMPU parsers, host-name checks and the naming rule: no
 * out-of-bounds access, and whatever parses is consistent with itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy, so a read past `size` is caught by ASan. */
  char *text = malloc(size ? size : 1);
  if (!text)
    abort();
  if (size)
    memcpy(text, data, size);
  imsec_str s = imsec_str_make(text, size);

  imsec_impi impi;
  if (imsec_impi_parse(s, &impi) == 0) {
    if (impi.user.len == 0 || !imsec_dns_name_valid(impi.realm) ||
        impi.user.len + 1 + impi.realm.len != size)
      abort();
  }
  imsec_impu impu;
  if (imsec_impu_parse(s, &impu) == 0) {
    imsec_str d;
    if (imsec_impu_domain(&impu, &d) && !imsec_dns_name_valid(d))
      abort();
  }
  int valid = imsec_dns_name_valid(s);
  if (valid && !imsec_dns_name_within(s, s))
    abort();
  (void)imsec_dns_name_within(s, IMSEC_STR_LIT("3gppnetwork.org"));

  /* Split at the first newline: trust domain, then identities. */
  size_t nl = 0;
  while (nl < size && text[nl] != '\n')
    nl++;
  imsec_str td = imsec_str_sub(s, 0, nl);
  imsec_str rest = imsec_str_sub(s, nl + 1, size);
  imsec_str impus[2] = {rest, s};
  imsec_naming_input in = {td, rest, impus, 2, rest};
  imsec_naming_violation v[8];
  size_t n = imsec_naming_check(&in, v, 8);
  char buf[128];
  for (size_t i = 0; i < n && i < 8; i++)
    (void)imsec_naming_describe(&v[i], td, buf, sizeof(buf));

  /* Derivation from digit strings of every length. */
  imsec_ident_derived der;
  (void)imsec_ident_from_imsi(s, 2, &der);
  (void)imsec_ident_from_imsi(s, 3, &der);
  free(text);
  return 0;
}
