#include "imsec/base.h"

static const char hex_digits[] = "0123456789abcdef";

int imsec_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap) {
  if (len > (INT32_MAX - 1) / 2 || cap < 2 * len + 1)
    return IMSEC_ERR_NOBUF;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hex_digits[in[i] >> 4];
    out[2 * i + 1] = hex_digits[in[i] & 0x0f];
  }
  out[2 * len] = '\0';
  return (int)(2 * len);
}

static int hex_value(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

int imsec_hex_decode(const char *in, size_t len, uint8_t *out, size_t cap) {
  if (len % 2 != 0)
    return IMSEC_ERR_PARSE;
  if (len / 2 > cap || len / 2 > INT32_MAX)
    return IMSEC_ERR_NOBUF;
  for (size_t i = 0; i < len; i += 2) {
    int hi = hex_value((unsigned char)in[i]);
    int lo = hex_value((unsigned char)in[i + 1]);
    if (hi < 0 || lo < 0)
      return IMSEC_ERR_PARSE;
    out[i / 2] = (uint8_t)((hi << 4) | lo);
  }
  return (int)(len / 2);
}
