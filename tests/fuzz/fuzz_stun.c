/* Fuzz the STUN keep-alive handling of both ends of a DTLS access flow
 * (RFC 5626 §4.4.2, RFC 5389): the P-CSCF's recogniser and Binding answer
 * (lib/pcscf/dgram.c) directly and through the element on a DTLS flow,
 * and the UE's recogniser through its element on a DTLS flow
 * (lib/ue/dgram.c). Nothing may crash, hang or leak; an answer is a
 * well-formed Binding success response no longer than 64 octets that
 * echoes the request's transaction ID.
 *
 * Input: one selector octet, then the datagram. Selector bit 0 set: the
 * octets that make a STUN header (the magic cookie, the length) are
 * written in so that most inputs reach past the recogniser; bit 1: the
 * peer address is IPv6. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/crypto_ossl.h"
#include "imsec/pcscf.h"
#include "imsec/ue.h"
#include "lib/pcscf/pcscf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static imsec_crypto *crypto(void) {
  static imsec_crypto *c;
  if (!c && imsec_crypto_ossl_new(&c) < 0)
    abort();
  return c;
}

static void check_answer(const uint8_t *req, const uint8_t *ans, size_t n) {
  if (n > 64 || n < 20 || !pc_stun_is(ans, n) || ans[0] != 0x01 ||
      ans[1] != 0x01 || memcmp(ans + 4, req + 4, 16) != 0)
    abort();
}

static void pcscf_element(const uint8_t *msg, size_t len, const char *peer) {
  imsec_pcscf_config cfg;
  imsec_pcscf_config_init(&cfg);
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:5062"), &cfg.core) < 0)
    abort();
  memcpy(cfg.peer_addrs[0], "127.0.0.1", 10);
  cfg.n_peer_addrs = 1;
  cfg.max_msg = 8192;
  imsec_pcscf *p;
  if (imsec_pcscf_new(&p, &cfg, crypto()) < 0)
    abort();
  imsec_out out;
  imsec_out_init(&out, IMSEC_LOG_DEBUG);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_DTLS;
  info.inbound = 1;
  if (imsec_addr_parse(imsec_str_c(peer), &info.peer) < 0)
    abort();
  if (imsec_pcscf_on_flow_up(p, 2, 0, &info, 1000, &out) < 0)
    abort();
  imsec_out_clear(&out);
  imsec_pcscf_on_message(p, 2, msg, len, 2000, &out);
  for (size_t i = 0; i < out.n; i++) {
    const imsec_act *a = &out.acts[i];
    if (a->kind == IMSEC_ACT_SEND && a->flow == 2 && pc_stun_is(msg, len))
      check_answer(msg, a->data, a->len);
  }
  imsec_out_clear(&out);
  imsec_pcscf_on_timer(p, 2, 200000, &out); /* the idle association goes */
  imsec_out_free(&out);
  imsec_pcscf_del(p);
}

static void ue_element(const uint8_t *msg, size_t len) {
  static const char *const impus[] = {
      "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org"};
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = "ims.mnc001.mcc001.3gppnetwork.org";
  cfg.trust_domain = "3gppnetwork.org";
  cfg.has_opc = 1;
  if (imsec_addr_parse(imsec_str_c("dtls:127.0.0.1:5064"), &cfg.pcscf) < 0)
    abort();
  cfg.pcscf_name = "pcscf.ims.mnc001.mcc001.3gppnetwork.org";
  cfg.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  imsec_ue *ue;
  if (imsec_ue_new(&ue, &cfg, crypto()) < 0)
    abort();
  imsec_out out;
  imsec_out_init(&out, IMSEC_LOG_DEBUG);
  imsec_trust_cert cert;
  memset(&cert, 0, sizeof(cert));
  cert.chain = IMSEC_CHAIN_OK;
  cert.has_san = 1;
  cert.n_dns = 1;
  strcpy(cert.dns[0], "pcscf.ims.mnc001.mcc001.3gppnetwork.org");
  cert.issuer = IMSEC_ISSUER_HOME;
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_DTLS;
  if (imsec_addr_parse(imsec_str_c("dtls:127.0.0.1:40000"), &info.local) < 0 ||
      imsec_addr_parse(imsec_str_c("dtls:127.0.0.1:5064"), &info.peer) < 0)
    abort();
  info.peer_cert = &cert;
  info.tls_version = "DTLSv1.2";
  imsec_time_ms now = 1000000;
  if (imsec_ue_start(ue, now, &out) < 0)
    abort();
  uint64_t tag = 0;
  for (size_t i = 0; i < out.n; i++)
    if (out.acts[i].kind == IMSEC_ACT_CONNECT)
      tag = out.acts[i].tag;
  imsec_out_clear(&out);
  (void)imsec_ue_on_flow_up(ue, 7, tag, &info, now, &out);
  imsec_out_clear(&out);
  imsec_ue_on_message(ue, 7, msg, len, now, &out);
  imsec_out_clear(&out);
  imsec_ue_on_timer(ue, IMSEC_UE_TIMER_DGRAM, now + 40000, &out);
  imsec_out_free(&out);
  imsec_ue_del(ue);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096)
    return 0;
  uint8_t sel = data[0];
  size_t len = size - 1;
  uint8_t *msg = malloc(len ? len : 1);
  if (!msg)
    return 0;
  memcpy(msg, data + 1, len);
  if ((sel & 1) && len >= 20) {
    static const uint8_t cookie[4] = {0x21, 0x12, 0xA4, 0x42};
    msg[0] &= 0x3F;
    msg[2] = (uint8_t)((len - 20) >> 8);
    msg[3] = (uint8_t)(len - 20);
    memcpy(msg + 4, cookie, 4);
  }
  const char *peer =
      sel & 2 ? "dtls:[2001:db8::7]:40000" : "dtls:10.1.2.3:40000";
  imsec_addr a;
  if (imsec_addr_parse(imsec_str_c(peer), &a) < 0)
    abort();
  if (pc_stun_is(msg, len)) {
    uint8_t ans[64];
    size_t n = pc_stun_answer(msg, &a, ans, sizeof(ans));
    if (n)
      check_answer(msg, ans, n);
  }
  pcscf_element(msg, len, peer);
  ue_element(msg, len);
  free(msg);
  return 0;
}
