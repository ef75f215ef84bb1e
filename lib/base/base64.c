#include "imsec/base.h"

/* RFC 4648 §4: the base64 alphabet. */
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t imsec_base64_encoded_len(size_t n) {
  return ((n + 2) / 3) * 4;
}

int imsec_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap) {
  if (len > ((size_t)INT32_MAX / 4) * 3 - 3)
    return IMSEC_ERR_NOBUF;
  size_t need = imsec_base64_encoded_len(len);
  if (cap < need + 1)
    return IMSEC_ERR_NOBUF;
  size_t o = 0, i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64_alphabet[(v >> 18) & 63];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = b64_alphabet[(v >> 18) & 63];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = b64_alphabet[(v >> 18) & 63];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
  return (int)o;
}

static int b64_value(int ch) {
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '+')
    return 62;
  if (ch == '/')
    return 63;
  return -1;
}

int imsec_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap) {
  if (len % 4 != 0)
    return IMSEC_ERR_PARSE;
  if (len == 0)
    return 0;
  size_t pad = 0;
  if (in[len - 1] == '=')
    pad = (in[len - 2] == '=') ? 2 : 1;
  size_t n = len / 4 * 3 - pad;
  if (n > cap || n > INT32_MAX)
    return IMSEC_ERR_NOBUF;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    int last = (i + 4 == len);
    int v[4];
    for (int k = 0; k < 4; k++) {
      int ch = (unsigned char)in[i + (size_t)k];
      if (ch == '=' && last && (size_t)k >= 4 - pad) {
        v[k] = 0;
        continue;
      }
      v[k] = b64_value(ch);
      if (v[k] < 0)
        return IMSEC_ERR_PARSE; /* outside the alphabet, or '=' mid-text */
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                 (uint32_t)v[2] << 6 | (uint32_t)v[3];
    if (last && pad == 2) {
      if (w & 0xffff) /* RFC 4648 §3.5: non-zero pad bits */
        return IMSEC_ERR_PARSE;
      out[o++] = (uint8_t)(w >> 16);
    } else if (last && pad == 1) {
      if (w & 0xff)
        return IMSEC_ERR_PARSE;
      out[o++] = (uint8_t)(w >> 16);
      out[o++] = (uint8_t)(w >> 8);
    } else {
      out[o++] = (uint8_t)(w >> 16);
      out[o++] = (uint8_t)(w >> 8);
      out[o++] = (uint8_t)w;
    }
  }
  return (int)o;
}
