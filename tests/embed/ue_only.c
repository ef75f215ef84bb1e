/* A program that embeds only the UE: include/imsec/ue.h, the sans-I/O
 * core (imsec-core) and the OpenSSL crypto backend (imsec-crypto); built
 * by tests/embed/ue_only.sh against an installed tree with
 * `pkg-config --cflags --libs imsec-core imsec-crypto` and nothing else.
 *
 * It plays the network by hand: the UE asks to connect, the flow comes up
 * with a home P-CSCF certificate, the UE sends its first REGISTER, a 401
 * with an AKA challenge (RFC 3310: nonce = base64(RAND || AUTN), made
 * with the subscriber's K and OPc) comes back, and the UE must answer
 * with a second REGISTER carrying its Digest response. Exit 0 when all
 * of that happened. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/ue.h"
#include "imsec/crypto_ossl.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define PCSCF "pcscf." HOME
#define IMPI "001010000000001@" HOME

static int fail(const char *what) {
  fprintf(stderr, "ue_only: %s\n", what);
  return 1;
}

static void hex(const char *h, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    sscanf(h + 2 * i, "%2x", &v);
    out[i] = (uint8_t)v;
  }
}

/* The one action of `kind` in `out`, or NULL. */
static const imsec_act *act(const imsec_out *out, imsec_act_kind kind) {
  for (size_t i = 0; i < out->n; i++)
    if (out->acts[i].kind == kind)
      return &out->acts[i];
  return NULL;
}

/* Copy the header line `name:` of `msg` into `dst` (with its CRLF). */
static size_t copy_header(const char *msg, const char *name, char *dst,
                          size_t cap, const char *suffix) {
  size_t nl = strlen(name);
  for (const char *p = msg; p && *p; p = strstr(p, "\r\n") + 2) {
    if (strncmp(p, "\r\n", 2) == 0)
      break;
    if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *e = strstr(p, "\r\n");
      int n = snprintf(dst, cap, "%.*s%s\r\n", (int)(e - p), p, suffix);
      return n > 0 && (size_t)n < cap ? (size_t)n : 0;
    }
    if (!strstr(p, "\r\n"))
      break;
  }
  return 0;
}

int main(void) {
  /* TS 35.208 test set 1: K and OPc. */
  uint8_t k[16], opc[16], sqn[6] = {0, 0, 0, 0, 0, 0x21};
  const uint8_t amf[2] = {0x80, 0x00};
  hex("465b5ce8b199b49faa5f0a2ee238a6bc", k, 16);
  hex("cd63cb71954a9f4e48a5994e37a02baf", opc, 16);

  imsec_crypto *cr = NULL;
  if (imsec_crypto_ossl_new(&cr) != 0)
    return fail("no OpenSSL crypto backend");

  const char *impus[] = {"sip:001010000000001@" HOME};
  imsec_ue_config c;
  memset(&c, 0, sizeof c);
  c.impi = IMPI;
  c.impus = impus;
  c.n_impus = 1;
  c.home_domain = HOME;
  c.trust_domain = "3gppnetwork.org";
  memcpy(c.k, k, 16);
  memcpy(c.opc, opc, 16);
  c.has_opc = 1;
  memcpy(c.amf, amf, 2);
  const uint8_t sqn0[6] = {0};
  if (imsec_ue_sqn_load(sqn0, NULL, &c.sqn) != 0)
    return fail("imsec_ue_sqn_load");
  c.pcscf.tp = IMSEC_TP_TLS;
  snprintf(c.pcscf.host, sizeof c.pcscf.host, "127.0.0.1");
  c.pcscf.port = 5061;
  c.pcscf_name = PCSCF;
  c.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  imsec_ue *ue = NULL;
  if (imsec_ue_new(&ue, &c, cr) != 0)
    return fail("imsec_ue_new");
  imsec_wipe(&c, sizeof c);

  imsec_out out;
  imsec_out_init(&out, IMSEC_LOG_ERROR);
  imsec_time_ms now = 1000;
  if (imsec_ue_start(ue, now, &out) != 0)
    return fail("imsec_ue_start");
  const imsec_act *a = act(&out, IMSEC_ACT_CONNECT);
  if (!a || a->addr.port != 5061)
    return fail("no CONNECT to the P-CSCF");
  uint64_t tag = a->tag;
  imsec_out_clear(&out);

  /* The TLS flow is up: a home P-CSCF's certificate, chain verified. */
  imsec_trust_cert cert;
  memset(&cert, 0, sizeof cert);
  cert.chain = IMSEC_CHAIN_OK;
  cert.has_san = 1;
  cert.n_dns = cert.n_sip = 1;
  snprintf(cert.dns[0], sizeof cert.dns[0], "%s", PCSCF);
  snprintf(cert.sip[0], sizeof cert.sip[0], "%s", PCSCF);
  snprintf(cert.cn, sizeof cert.cn, "%s", PCSCF);
  cert.issuer = IMSEC_ISSUER_HOME;
  imsec_flow_info fi;
  memset(&fi, 0, sizeof fi);
  fi.tp = IMSEC_TP_TLS;
  fi.local.tp = fi.peer.tp = IMSEC_TP_TLS;
  snprintf(fi.local.host, sizeof fi.local.host, "127.0.0.1");
  fi.local.port = 40000;
  fi.peer = fi.local;
  fi.peer.port = 5061;
  fi.peer_cert = &cert;
  fi.tls_version = "TLSv1.3";
  if (imsec_ue_on_flow_up(ue, 7, tag, &fi, now, &out) < 0)
    return fail("the UE refused the flow");
  a = act(&out, IMSEC_ACT_SEND);
  if (!a || a->flow != 7 || a->len < 9 || memcmp(a->data, "REGISTER ", 9))
    return fail("no first REGISTER");
  char *reg = calloc(1, a->len + 1);
  if (!reg)
    return fail("out of memory");
  memcpy(reg, a->data, a->len);
  imsec_out_clear(&out);
  printf("first REGISTER: %zu octets\n", strlen(reg));

  /* The network's challenge (TS 33.203 §6.1.1, RFC 3310 §3.1). */
  imsec_milenage *m = NULL;
  imsec_aka_vector v;
  uint8_t nonce[32];
  char b64[64], resp[4096];
  if (imsec_milenage_new(&m, cr) != 0 ||
      imsec_milenage_set_opc(m, k, opc) != 0 ||
      imsec_aka_vector_make(m, sqn, amf, &v) != 0)
    return fail("no AKA vector");
  memcpy(nonce, v.rand, 16);
  memcpy(nonce + 16, v.autn, 16);
  if (imsec_base64_encode(nonce, sizeof nonce, b64, sizeof b64) <= 0)
    return fail("base64");
  size_t n =
      (size_t)snprintf(resp, sizeof resp, "SIP/2.0 401 Unauthorized\r\n");
  n += copy_header(reg, "Via", resp + n, sizeof resp - n, "");
  n += copy_header(reg, "From", resp + n, sizeof resp - n, "");
  n += copy_header(reg, "To", resp + n, sizeof resp - n, ";tag=nw1");
  n += copy_header(reg, "Call-ID", resp + n, sizeof resp - n, "");
  n += copy_header(reg, "CSeq", resp + n, sizeof resp - n, "");
  n += (size_t)snprintf(resp + n, sizeof resp - n,
                        "WWW-Authenticate: Digest realm=\"%s\", "
                        "nonce=\"%s\", algorithm=AKAv1-MD5, qop=\"auth\"\r\n"
                        "Content-Length: 0\r\n\r\n",
                        HOME, b64);
  imsec_ue_on_message(ue, 7, (const uint8_t *)resp, n, now + 5, &out);
  a = act(&out, IMSEC_ACT_SEND);
  if (!a || a->len < 9 || memcmp(a->data, "REGISTER ", 9))
    return fail("no answer to the 401");
  char *again = calloc(1, a->len + 1);
  if (!again)
    return fail("out of memory");
  memcpy(again, a->data, a->len);
  if (!strstr(again, "response=\"") || !strstr(again, "Authorization:"))
    return fail("the second REGISTER carries no Digest response");
  imsec_ue_status st;
  imsec_ue_get_status(ue, &st);
  if (st.state != IMSEC_UE_CHALLENGED || st.challenges != 1 ||
      !st.trust_decided || st.trust.verdict != IMSEC_TRUST_HOME)
    return fail("the UE is not in the state a challenge leaves");
  printf("answered the challenge: %s, P-CSCF %s\n",
         imsec_ue_state_name(st.state), "trusted (home)");

  imsec_aka_vector_wipe(&v);
  imsec_wipe(k, sizeof k);
  imsec_wipe(opc, sizeof opc);
  imsec_milenage_del(m);
  free(reg);
  free(again);
  imsec_out_free(&out);
  imsec_ue_del(ue);
  imsec_crypto_del(cr);
  return 0;
}
