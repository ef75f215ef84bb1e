/* Fuzz the Cx server's message handling (store/cx_server.c): arbitrary
 * bytes as Diameter messages, parsed and checked by freeDiameter as its
 * core does for a received request (fd_msg_parse_dict, then the Cx
 * dictionary's rules), then answered by the server from an embedded HSS
 * with two subscribers (alice@ims.test: IMS AKA, sip:alice@ims.test and
 * tel:+15550001; bob@ims.test: SIP Digest). Every answer is encoded
 * (fd_msg_bufferize) and parsed back. Never a crash, an out-of-bounds
 * access or a leak; every request taken is answered.
 *
 * The input holds one or more messages back to back, each cut at the
 * length its header gives (the rest as one message when that length does
 * not fit), so one input can register a user and then ask where it is. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsec/crypto_ossl.h"
#include "imsec/hss.h"
#include "imsec/svc.h"
#include "store/cx_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static imsec_svc *svc;
static imsec_cx_server *srv;
static size_t answers;

static void take_answer(void *arg, struct msg **ans) {
  (void)arg;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (fd_msg_bufferize(*ans, &buf, &len) != 0)
    abort(); /* the server built something freeDiameter cannot encode */
  struct msg *back = NULL;
  if (fd_msg_parse_buffer(&buf, len, &back) != 0)
    abort();
  fd_msg_free(back);
  fd_msg_free(*ans);
  *ans = NULL;
  answers++;
}

/* freeDiameter reports every input it refuses: not here. */
static void quiet(int level, const char *fmt, va_list ap) {
  (void)level, (void)fmt, (void)ap;
}

static void setup(void) {
  char dir[] = "/tmp/imsec-fuzz-cx-XXXXXX";
  char conf[64];
  if (!mkdtemp(dir))
    abort();
  snprintf(conf, sizeof conf, "%s/fd.conf", dir);
  FILE *f = fopen(conf, "w");
  if (!f)
    abort();
  fputs("Identity = \"hss.ims.test\";\nRealm = \"ims.test\";\n"
        "No_SCTP;\nNo_IPv6;\nPort = 0;\nSecPort = 0;\n"
        "LoadExtension = \"/usr/lib/freeDiameter/dict_nasreq.fdx\";\n"
        "LoadExtension = \"/usr/lib/freeDiameter/dict_dcca.fdx\";\n"
        "LoadExtension = \"/usr/lib/freeDiameter/dict_dcca_3gpp.fdx\";\n",
        f);
  fclose(f);
  fd_g_debug_lvl = FD_LOG_FATAL;
  fd_log_handler_register(quiet);
  char err[256];
  if (fd_core_initialize() != 0 || fd_core_parseconf(conf) != 0 ||
      imsec_cx_dict_load(err, sizeof err) != 0)
    abort();
  unlink(conf);
  rmdir(dir);

  imsec_hss_store *st = NULL;
  imsec_crypto *c = NULL;
  imsec_hss *hss = NULL;
  if (imsec_hss_mem_new(&st) != 0 || imsec_crypto_ossl_new(&c) != 0 ||
      imsec_hss_new(&hss, st, c, NULL) != 0)
    abort();
  imsec_hss_sub a;
  memset(&a, 0, sizeof a);
  strcpy(a.impi, "alice@ims.test");
  strcpy(a.impus[0], "sip:alice@ims.test");
  strcpy(a.impus[1], "tel:+15550001");
  a.n_impus = 2;
  memset(a.k, 0x46, sizeof a.k);
  memset(a.op, 0xcd, sizeof a.op);
  a.op_is_opc = 1;
  a.amf[0] = 0x80;
  a.aka = IMSEC_HSS_AKAV1;
  if (st->vt->add(st, &a) != 0)
    abort();
  imsec_hss_sub b;
  memset(&b, 0, sizeof b);
  strcpy(b.impi, "bob@ims.test");
  strcpy(b.impus[0], "sip:bob@ims.test");
  b.n_impus = 1;
  b.aka = IMSEC_HSS_AKAV1;
  static const uint8_t pw[] = "bob-secret";
  if (imsec_hss_digest_set(&b, c, imsec_str_c(""),
                           (imsec_bytes){pw, sizeof pw - 1}) != 0 ||
      st->vt->add(st, &b) != 0)
    abort();
  imsec_svc_local_config lc = {.hss = hss};
  if (imsec_svc_local_new(&svc, &lc) != 0 ||
      imsec_cx_server_detached(&srv, svc, take_answer, NULL) != 0)
    abort();
}

static void one(const uint8_t *p, size_t n) {
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf)
    abort();
  memcpy(buf, p, n);
  struct msg *m = NULL;
  if (fd_msg_parse_buffer(&buf, n, &m) != 0) {
    free(buf);
    return;
  }
  /* What freeDiameter's core does before dispatch (fd_msg_parse_or_error):
   * a request failing either is answered by the core, never reaches us. */
  struct fd_pei pei;
  memset(&pei, 0, sizeof pei);
  if (fd_msg_parse_dict(m, fd_g_config->cnf_dict, &pei) != 0 ||
      fd_msg_parse_rules(m, fd_g_config->cnf_dict, &pei) != 0) {
    /* A missing AVP comes as an example AVP the caller frees. */
    if (pei.pei_avp_free && pei.pei_avp)
      fd_msg_free(pei.pei_avp);
    fd_msg_free(m);
    return;
  }
  struct msg_hdr *h = NULL;
  if (fd_msg_hdr(m, &h) != 0 || !(h->msg_flags & CMD_FLAG_REQUEST) ||
      h->msg_appl != IMSEC_CX_APP_ID) {
    fd_msg_free(m);
    return;
  }
  size_t before = answers;
  imsec_cx_server_handle(srv, &m);
  /* The embedded service answers inside submit: so does the server. */
  if (m || answers != before + 1 || imsec_cx_server_inflight(srv) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    setup();
    ready = 1;
  }
  while (size >= 20) {
    size_t len = (size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3];
    if (len < 20 || len > size)
      len = size;
    one(data, len);
    data += len;
    size -= len;
  }
  return 0;
}
