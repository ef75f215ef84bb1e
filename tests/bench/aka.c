/*
 * Benchmark: full Milenage vectors (f1, f1*, f2, f3, f4, f5, f5*) per second
 * on one core, and Digest-AKA responses per second, beside libosmocore's
 * osmo_auth_gen_vec doing the same vector work in the same run.
 *
 *   build-bench/tests/bench/bench_aka [seconds-per-case-and-round]
 *
 * Not a test: it prints figures (docs/BENCHMARKS.md records them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imsec/aka.h"
#include "imsec/digest.h"
#include "imsec/crypto_ossl.h"

#ifdef HAVE_OSMOCORE
#include <osmocom/crypt/auth.h>
#endif

/* CPU time of this thread: rates are per core-second, so time the machine
 * (2 shared cores) spends on other processes does not count against
 * either library. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void hex(const char *s, uint8_t *out, size_t n) {
  if (imsec_hex_decode(s, 2 * n, out, n) != (int)n) {
    fprintf(stderr, "bad hex\n");
    exit(2);
  }
}

static volatile uint8_t sink;

/* Interleaved rounds; each case keeps its best. */
#define ROUNDS 3

#define CHECK(x)                                                               \
  do {                                                                         \
    if ((x) < 0) {                                                             \
      fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #x);           \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* Run `body` in batches of 1024 until `secs` have passed; `rate` keeps the
 * best rate per second over the rounds (the machine is shared: the best of
 * interleaved rounds is the least disturbed). */
#define MEASURE(secs, rate, body)                                              \
  do {                                                                         \
    unsigned long n_ = 0;                                                      \
    double t0_ = now(), t1_;                                                   \
    do {                                                                       \
      for (int i_ = 0; i_ < 1024; i_++) {                                      \
        body;                                                                  \
      }                                                                        \
      n_ += 1024;                                                              \
      t1_ = now();                                                             \
    } while (t1_ - t0_ < (secs));                                              \
    double r_ = (double)n_ / (t1_ - t0_);                                      \
    if (r_ > (rate))                                                           \
      (rate) = r_;                                                             \
  } while (0)

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  if (secs <= 0)
    secs = 2.0;
  uint8_t k[16], opc[16], rand[16], sqn[6], amf[2];
  hex("465b5ce8b199b49faa5f0a2ee238a6bc", k, 16);
  hex("cd63cb71954a9f4e48a5994e37a02baf", opc, 16);
  hex("23553cbe9637a89d218ae64dae47bf35", rand, 16);
  hex("ff9bb4d0b607", sqn, 6);
  hex("b9b9", amf, 2);

  imsec_crypto *c = NULL;
  imsec_milenage *m = NULL;
  CHECK(imsec_crypto_ossl_new(&c));
  CHECK(imsec_milenage_new(&m, c));
  CHECK(imsec_milenage_set_opc(m, k, opc));

  /* Set-up shared by all rounds. */
  imsec_milenage_out o;
  imsec_aka_vector v;
  CHECK(imsec_aka_vector_make_rand(m, rand, sqn, amf, &v));
  imsec_aka_vector v0 = v; /* the vector the S-CSCF verifies against */
  imsec_aka_ue_result ue = {.status = IMSEC_AKA_UE_OK, .res_len = 8};
  memcpy(ue.res, v.xres, 8);
  memcpy(ue.ck, v.ck, 16);
  memcpy(ue.ik, v.ik, 16);
  char nonce[64], resp[33];
  CHECK(imsec_digest_aka_nonce_encode(v.rand, v.autn, (imsec_bytes){NULL, 0},
                                      nonce, sizeof(nonce)));
  imsec_digest_input in = {
      .username =
          imsec_str_c("234150999999999@ims.mnc015.mcc234.3gppnetwork.org"),
      .realm = imsec_str_c("ims.mnc015.mcc234.3gppnetwork.org"),
      .method = imsec_str_c("REGISTER"),
      .uri = imsec_str_c("sip:ims.mnc015.mcc234.3gppnetwork.org"),
      .nonce = imsec_str_c(nonce),
      .qop = IMSEC_DIGEST_QOP_AUTH,
      .nc = imsec_str_c("00000001"),
      .cnonce = imsec_str_c("0a4f113b"),
  };
  CHECK(imsec_digest_aka_response(c, IMSEC_DIGEST_AKAV1_MD5, &ue, &in, resp,
                                  sizeof(resp)));
  if (strcmp(resp, "ac938deae93ef334838716c625aa85c0") != 0) {
    fprintf(stderr, "AKAv1 known answer mismatch: %s\n", resp);
    return 1;
  }
  char hdr[512];
  snprintf(hdr, sizeof(hdr),
           "Digest username=\"%.*s\", realm=\"%.*s\", nonce=\"%s\", "
           "uri=\"%.*s\", response=\"%s\", algorithm=AKAv1-MD5, qop=auth, "
           "nc=00000001, cnonce=\"0a4f113b\"",
           (int)in.username.len, in.username.p, (int)in.realm.len, in.realm.p,
           nonce, (int)in.uri.len, in.uri.p, resp);
  imsec_str hv = imsec_str_c(hdr);

#ifdef HAVE_OSMOCORE
  /* libosmocore: the same vector work (f1-f5*, AUTN) per call, plus its
   * SQN increment. Check it agrees with us once. */
  struct osmo_sub_auth_data aud;
  memset(&aud, 0, sizeof(aud));
  aud.type = OSMO_AUTH_TYPE_UMTS;
  aud.algo = OSMO_AUTH_ALG_MILENAGE;
  memcpy(aud.u.umts.opc, opc, 16);
  memcpy(aud.u.umts.k, k, 16);
  memcpy(aud.u.umts.amf, amf, 2);
  aud.u.umts.opc_is_op = 0;
  aud.u.umts.ind_bitlen = 5;
  aud.u.umts.ind = 7;
  aud.u.umts.sqn = imsec_sqn_to_u64(sqn) - 32; /* next used: SQN itself */
  struct osmo_auth_vector ov;
  if (osmo_auth_gen_vec(&ov, &aud, rand) < 0) {
    fprintf(stderr, "osmo_auth_gen_vec failed\n");
    return 1;
  }
  uint8_t used[6];
  imsec_sqn_from_u64(aud.u.umts.sqn, used);
  CHECK(imsec_aka_vector_make_rand(m, rand, used, amf, &v));
  if (memcmp(ov.autn, v.autn, 16) != 0 || memcmp(ov.res, v.xres, 8) != 0 ||
      memcmp(ov.ck, v.ck, 16) != 0 || memcmp(ov.ik, v.ik, 16) != 0) {
    fprintf(stderr, "libosmocore and imsec disagree\n");
    return 1;
  }
  double r_osmo = 0;
#endif

  double r_full = 0, r_vec = 0, r_rekey = 0, r_v1 = 0, r_v2 = 0, r_verify = 0;
  double r_ue = 0;
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_sqn_ue st0 = {0}, st;
  st0.seq_ms[0] = (imsec_sqn_to_u64(sqn) >> 5) - 1; /* SQN is fresh */
  for (int round = 0; round < ROUNDS; round++) {
    /* 1. Full Milenage output, key schedule reused (one subscriber). */
    MEASURE(secs, r_full, {
      rand[0] = (uint8_t)i_;
      CHECK(imsec_milenage_compute(m, rand, sqn, amf, &o));
      sink ^= o.res[0];
    });
    /* 2. A whole vector (RAND given, AUTN assembled). */
    MEASURE(secs, r_vec, {
      rand[0] = (uint8_t)i_;
      CHECK(imsec_aka_vector_make_rand(m, rand, sqn, amf, &v));
      sink ^= v.autn[0];
    });
#ifdef HAVE_OSMOCORE
    /* libosmocore keys per call (its AES has no schedule to keep). */
    MEASURE(secs, r_osmo, {
      rand[0] = (uint8_t)i_;
      aud.u.umts.sqn = 32;
      if (osmo_auth_gen_vec(&ov, &aud, rand) < 0)
        exit(1);
      sink ^= ov.autn[0];
    });
#endif
    /* 3. Re-keying for every vector (an HSS serving many subscribers). */
    MEASURE(secs, r_rekey, {
      k[0] = (uint8_t)i_;
      CHECK(imsec_milenage_set_opc(m, k, opc));
      CHECK(imsec_aka_vector_make_rand(m, rand, sqn, amf, &v));
      sink ^= v.autn[0];
    });
    hex("465b5ce8b199b49faa5f0a2ee238a6bc", k, 16); /* back to set 1 */
    CHECK(imsec_milenage_set_opc(m, k, opc));
    /* 4. Digest-AKA responses (UE side, AKAv1 and AKAv2) and the
     * S-CSCF's parse and constant-time verification. */
    MEASURE(secs, r_v1, {
      CHECK(imsec_digest_aka_response(c, IMSEC_DIGEST_AKAV1_MD5, &ue, &in, resp,
                                      sizeof(resp)));
      sink ^= (uint8_t)resp[0];
    });
    MEASURE(secs, r_v2, {
      CHECK(imsec_digest_aka_response(c, IMSEC_DIGEST_AKAV2_MD5, &ue, &in, resp,
                                      sizeof(resp)));
      sink ^= (uint8_t)resp[0];
    });
    /* 5. The UE's AKA run (MAC check, SQN freshness, RES/CK/IK) plus
     * its AKAv1 response: what a UE does per challenge. */
    MEASURE(secs, r_ue, {
      imsec_aka_ue_result ur;
      st = st0;
      CHECK(imsec_aka_ue_run(m, &st, &cfg, v0.rand, v0.autn, &ur));
      if (ur.status != IMSEC_AKA_UE_OK) {
        fprintf(stderr, "UE AKA run failed\n");
        exit(1);
      }
      CHECK(imsec_digest_aka_response(c, IMSEC_DIGEST_AKAV1_MD5, &ur, &in, resp,
                                      sizeof(resp)));
      sink ^= (uint8_t)resp[0];
    });
    MEASURE(secs, r_verify, {
      imsec_digest_params p;
      uint8_t auts[14];
      CHECK(imsec_digest_parse_credentials(hv, &p));
      CHECK(imsec_digest_aka_verify(c, &p, IMSEC_DIGEST_AKAV1_MD5, &v0,
                                    in.method, (imsec_bytes){NULL, 0}, auts));
    });
  }

  printf("imsec milenage full f1..f5*      %10.0f /s  (%.3f M/s)\n", r_full,
         r_full / 1e6);
  printf("imsec vector (RAND..AUTN)        %10.0f /s  (%.3f M/s)\n", r_vec,
         r_vec / 1e6);
  printf("imsec vector, re-key per vector  %10.0f /s  (%.3f M/s)\n", r_rekey,
         r_rekey / 1e6);
#ifdef HAVE_OSMOCORE
  printf("libosmocore osmo_auth_gen_vec    %10.0f /s  (%.3f M/s)\n", r_osmo,
         r_osmo / 1e6);
  printf("ratio imsec vector / libosmocore %10.2f\n", r_vec / r_osmo);
  printf("ratio imsec re-key / libosmocore %10.2f\n", r_rekey / r_osmo);
#else
  printf("libosmocore: not built in (install libosmocore-dev)\n");
#endif
  printf("digest AKAv1-MD5 response        %10.0f /s\n", r_v1);
  printf("digest AKAv2-MD5 response        %10.0f /s\n", r_v2);
  printf("digest AKAv1 parse+verify        %10.0f /s\n", r_verify);
  printf("UE AKA run + AKAv1 response      %10.0f /s\n", r_ue);
  imsec_aka_vector_wipe(&v);
  imsec_aka_vector_wipe(&v0);
  imsec_aka_ue_result_wipe(&ue);
  imsec_milenage_del(m);
  imsec_crypto_del(c);
  return 0;
}
