/* Fuzz the P-CSCF's handling of CK and IK in the S-CSCF's answers
 * (TS 24.229 §5.2.2.1; mode M3, lib/pcscf/psk.c and registration.c):
 * a UE's REGISTER goes to the core, whose answer carries header fields
 * from the input with ck="..." and ik="..." wherever the input says.
 * Whatever the status and the fields, nothing may crash, hang or leak,
 * and no challenge relayed to the UE may carry a ck or ik parameter,
 * have a scheme that is not a token, or fail to parse (a challenge that
 * cannot be rewritten is removed). The UE
 * then answers and a 200 follows, so the PSK derivation runs too.
 *
 * Input: octet 0 picks the status (401, 407, 200, 403, 500 ...) and
 * whether aka_psk is on; the rest are header lines for the answer, where
 * "@K" stands for ck="<32 hex>" and "@I" for ik="<32 hex>". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/crypto_ossl.h"
#include "imsec/digest.h"
#include "imsec/pcscf.h"
#include "imsec/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPU "sip:001010000000001@" HOME
#define UE 1
#define CORE 100

static imsec_crypto *crypto(void) {
  static imsec_crypto *c;
  if (!c && imsec_crypto_ossl_new(&c) < 0)
    abort();
  return c;
}

static const char *reg(int n) {
  static char buf[2048];
  snprintf(buf, sizeof(buf),
           "REGISTER sip:" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKue%d;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <" IMPU ">;tag=u1\r\nTo: <" IMPU ">\r\n"
           "Call-ID: reg1@ue\r\nCSeq: %d REGISTER\r\n"
           "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=600\r\n"
           "Authorization: Digest username=\"001010000000001@" HOME
           "\",realm=\"" HOME "\",nonce=\"\",uri=\"sip:" HOME
           "\",response=\"\"\r\n"
           "Expires: 600\r\nContent-Length: 0\r\n\r\n",
           n, n);
  return buf;
}

static const char *sent_to(const imsec_out *o, uint64_t flow, size_t *len) {
  for (size_t i = 0; i < o->n; i++)
    if (o->acts[i].kind == IMSEC_ACT_SEND && o->acts[i].flow == flow) {
      *len = o->acts[i].len;
      return (const char *)o->acts[i].data;
    }
  return NULL;
}

/* The answer to `req` with `status` and the header text `hdrs`. */
static size_t answer(const char *req, size_t rlen, int status, const char *hdrs,
                     char *out, size_t cap) {
  size_t n = (size_t)snprintf(out, cap, "SIP/2.0 %d X\r\n", status);
  const char *p = memchr(req, '\n', rlen);
  static const char *keep[] = {"Via:", "From:", "To:", "Call-ID:", "CSeq:"};
  while (p && ++p < req + rlen && *p != '\r') {
    const char *e = memchr(p, '\n', (size_t)(req + rlen - p));
    if (!e)
      break;
    size_t l = (size_t)(e - p) + 1;
    for (size_t k = 0; k < 5; k++)
      if (!strncmp(p, keep[k], strlen(keep[k])) && n + l < cap) {
        memcpy(out + n, p, l);
        n += l;
      }
    p = e;
  }
  n += (size_t)snprintf(out + n, cap - n, "%sContent-Length: 0\r\n\r\n", hdrs);
  return n < cap ? n : cap - 1;
}

/* No challenge to the UE carries ck/ik, and each one parses. */
static void check_ue(const char *msg, size_t len) {
  char *copy = malloc(len + 1);
  if (!copy)
    abort();
  memcpy(copy, msg, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, copy, len, 1) == 0) {
    for (size_t i = 0; i < m.nhdrs; i++) {
      const imsec_sip_hdr *h = &m.hdrs[i];
      if (h->id != IMSEC_SIP_H_WWW_AUTHENTICATE &&
          h->id != IMSEC_SIP_H_PROXY_AUTHENTICATE)
        continue;
      imsec_cursor c;
      imsec_cursor_init(&c, h->value.p, h->value.len);
      imsec_str scheme, name, val;
      int quoted, rv;
      if (imsec_cursor_until(&c, ' ', &scheme) < 0)
        scheme = h->value; /* a scheme alone */
      /* the scheme is a token: nothing (no ck=) hides in it */
      for (size_t k = 0; k < scheme.len; k++) {
        char ch = scheme.p[k];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || strchr("-.!%*_+`'~", ch)))
          abort();
      }
      if (scheme.len == h->value.len)
        continue;
      while ((rv = imsec_digest_next_param(&c, &name, &val, &quoted)) == 1)
        if (imsec_str_ieq_c(name, "ck") || imsec_str_ieq_c(name, "ik"))
          abort();
      if (rv < 0)
        abort();
    }
  }
  imsec_sip_msg_free(&m);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int codes[] = {401, 407, 200, 403, 500, 401, 401, 180};
  if (size < 1 || size > 4096)
    return 0;
  int status = codes[data[0] & 7];
  /* the header lines, placeholders expanded */
  char *hdrs = malloc(size * 20 + 8);
  if (!hdrs)
    return 0;
  size_t h = 0;
  for (size_t i = 1; i < size; i++) {
    if (data[i] == '@' && i + 1 < size &&
        (data[i + 1] == 'K' || data[i + 1] == 'I')) {
      h += (size_t)sprintf(
          hdrs + h, "%s=\"%s\"", data[i + 1] == 'K' ? "ck" : "ik",
          data[i + 1] == 'K' ? "00112233445566778899aabbccddeeff"
                             : "ffeeddccbbaa99887766554433221100");
      i++;
    } else {
      hdrs[h++] = data[i] ? (char)data[i] : ' ';
    }
  }
  if (h && hdrs[h - 1] != '\n')
    h += (size_t)sprintf(hdrs + h, "\r\n");
  hdrs[h] = 0;

  imsec_pcscf_config cfg;
  imsec_pcscf_config_init(&cfg);
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:5062"), &cfg.core) < 0 ||
      imsec_pcscf_route_parse(imsec_str_c(HOME "=tcp:127.0.0.1:5070"),
                              &cfg.routes[0]) < 0)
    abort();
  cfg.n_routes = 1;
  memcpy(cfg.peer_addrs[0], "127.0.0.1", 10);
  cfg.n_peer_addrs = 1;
  cfg.aka_psk = (data[0] & 8) != 0;
  imsec_pcscf *p;
  if (imsec_pcscf_new(&p, &cfg, crypto()) < 0)
    abort();
  imsec_out out;
  imsec_out_init(&out, IMSEC_LOG_DEBUG);
  imsec_time_ms now = 1000;
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  if (imsec_addr_parse(imsec_str_c("tls:127.0.0.1:40000"), &info.peer) < 0 ||
      imsec_pcscf_on_flow_up(p, UE, 0, &info, now, &out) < 0)
    abort();
  char *resp = malloc(size * 20 + 4096);
  if (!resp)
    abort();
  for (int round = 1; round <= 2; round++) {
    imsec_out_clear(&out);
    const char *r = reg(round);
    imsec_pcscf_on_message(p, UE, (const uint8_t *)r, strlen(r), now, &out);
    size_t flen = 0;
    const char *fwd = sent_to(&out, CORE, &flen);
    if (!fwd) {
      imsec_out_clear(&out);
      info.tp = IMSEC_TP_TCP;
      info.inbound = 0;
      (void)imsec_pcscf_on_flow_up(p, CORE, 1, &info, now, &out);
      fwd = sent_to(&out, CORE, &flen);
    }
    if (!fwd)
      break;
    char *req = malloc(flen);
    if (!req)
      abort();
    memcpy(req, fwd, flen);
    size_t n = answer(req, flen, round == 1 ? status : 200,
                      round == 1 ? hdrs : "", resp, size * 20 + 4096);
    free(req);
    imsec_out_clear(&out);
    imsec_pcscf_on_message(p, CORE, (const uint8_t *)resp, n, now, &out);
    size_t ulen = 0;
    const char *to_ue = sent_to(&out, UE, &ulen);
    if (to_ue)
      check_ue(to_ue, ulen);
  }
  free(resp);
  free(hdrs);
  imsec_out_free(&out);
  imsec_pcscf_del(p);
  return 0;
}
