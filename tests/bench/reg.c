/*
 * REGISTER transactions/s: the full two-round-trip IMS AKA registration
 * (REGISTER, 401 with a fresh Milenage vector from the HSS, REGISTER with
 * the response, 200) from UEs over TLS through a P-CSCF (TLS towards UEs,
 * TCP towards the S-CSCF) to the S-CSCF with its HSS, all real elements
 * (lib/ue, lib/pcscf, lib/scscf, lib/hss) on real sockets through the
 * host's net port (include/imsec/host_net.h), on 127.0.0.1 in one
 * process: one loop thread for the P-CSCF, one for the S-CSCF, one for
 * all the UEs.
 *
 * Four ways, each a closed loop of C UEs (every UE starts its next
 * registration, or call, as soon as its last one ended):
 *   new      every registration on a new TLS connection, full handshake
 *            (the UE's client context never resumes);
 *   resumed  every registration on a new TLS connection resumed from the
 *            P-CSCF's session ticket;
 *   open     re-registrations over connections that stay open (the UE's
 *            re-registration timer, brought forward).
 *   call     (with calls in the build, REG_BENCH_CALLS) complete calls
 *            between pairs of registered UEs over their open TLS flows:
 *            UE 2k calls UE 2k+1 through the P-CSCF and the S-CSCF
 *            (INVITE with an SDP offer, 100 from each proxy, 180, 200 with
 *            the answer, ACK, BYE, 200), the callee answering at once, the
 *            caller hanging up as soon as its ACK is out, then calling
 *            again; a call counts when its BYE's 200 came back.
 *   digest-md5, digest-sha256
 *            SIP Digest registrations (TS 33.203 Annexes N and O; RFC
 *            7616 qop=auth) of password subscribers, each on a new TLS
 *            connection with a full handshake, as "new": REGISTER without
 *            sec-agree, 401 with two challenges (SHA-256, then MD5, RFC
 *            8760 §3), REGISTER with the response, 200 with rspauth,
 *            which the UE checks. The UE answers SHA-256 when offered, so
 *            for digest-md5 the bench takes the SHA-256 challenge out of
 *            each 401 before the UE reads it (what an MD5-only softphone
 *            sees); every REGISTER's Authorization is counted by its
 *            algorithm, and a way whose UEs answered with the other one
 *            fails.
 *   digest-md5-open, digest-sha256-open
 *            the same subscribers re-registering over connections that
 *            stay open, as "open": the UE reuses the last nonce with nc+1
 *            (one round trip) until the S-CSCF's nonce lifetime
 *            (--digest-nonce-ms) makes it stale, then the 401 with
 *            stale=true and a second REGISTER; the 401s are counted.
 *            Digest ways run in mode m1 only (the P-CSCF's certificate;
 *            SIP Digest is for TLS without client credentials, Annex O).
 * Each registration's latency runs from the UE's first action (connect or
 * REGISTER) to its 200 OK; a call's setup latency from its INVITE going
 * out to the 200 coming back. Every run is bounded by a count and a time.
 * Beside the rate, the P-CSCF's and the S-CSCF's loop thread CPU time per
 * registration (each loop's CPU clock, read from the main thread before
 * and after the run): what a mode costs each element, whatever limits the
 * UEs' own loop. For calls the clocks are read on the UEs' loop once
 * every UE has registered and again when the last counted call ended, so
 * the per-call figure holds no registration.
 *
 * The S-CSCF reaches its HSS and registration store through an imsec_svc
 * (include/imsec/svc.h), one of two ways (--store):
 *   mem      the embedded service (imsec_svc_local_new) over the in-memory
 *            HSS store and registration store, on the S-CSCF's loop thread;
 *   sqlite   the daemon's wiring (apps/cmd_scscf.c run()): the worker
 *            thread (imsec_svc_worker_new) over the embedded service over
 *            the SQLite HSS store (rollback journal, synchronous=FULL, SQN
 *            ranges of 32) and the SQLite registration store (WAL,
 *            synchronous=FULL), two files in a temporary folder;
 *   both     both stacks at once, every way measured on each in
 *            interleaved rounds (the order turns every round), then the
 *            median of the rounds and the ratio sqlite/mem;
 *   all      both, and a third stack "mem+w": the in-memory stores behind
 *            the worker thread, which tells the cost of the thread
 *            hand-over from the cost of the disk.
 * Both stacks take the same SQN range (32), so they differ by the store
 * alone. The UEs persist their SQN (IMSEC_SVC_UE_SQN) into an in-memory
 * writer: the UE side is the load, not the thing measured.
 *
 * All the UEs come from 127.0.0.1: the S-CSCF's flood limits (per IMPI
 * and per source) and the P-CSCF's connections per address are set far
 * above what a run reaches, else the limits answer 503 after a few dozen
 * registrations per IMPI.
 *
 * The UE leg runs in one or more deployment modes (--mode, a list; each
 * mode gets its own P-CSCF and S-CSCF, and the modes are interleaved in
 * the rounds as the stores are):
 *   m1       TLS, the P-CSCF's certificate only (seed §3.1);
 *   m2a      mutual TLS: every UE shows its own certificate (EKU
 *            clientAuth, SAN URI sip:IMPI, under the operator CA) from a
 *            client context of its own (the host's named profile "ueN",
 *            set on the UE's CONNECT here), the P-CSCF requires it
 *            (client_cert require) and holds the REGISTER to its IMPI;
 *   m3       shared-key TLS, the key configured: every UE has its own
 *            (identity its IMPI), the P-CSCF's listener takes PSKs and has
 *            them all in its port's configured table (what --psk-file
 *            loads); a PSK flow never resumes, so "resumed" is the same
 *            handshake as "new" in this mode;
 *   dtls     SIP over DTLS 1.2 on UDP (cookie exchange, the P-CSCF's
 *            certificate), the UE's CONNECT naming the host's DTLS client
 *            context as `imsec ue` makes it;
 * a mode this tree's elements do not run yet is refused at start.
 *
 * usage: reg_bench [-c CONCURRENCY] [-n REGISTRATIONS] [-t SECONDS]
 *                  [-r ROUNDS] [--store mem|sqlite|both|all] [--dir DIR]
 *                  [--mode m1[,m2a,m3,m3-aka,dtls]]
 *                  [--ways new,resumed,open,call,digest-md5,digest-sha256,
 *                          digest-md5-open,digest-sha256-open]
 *                  [--digest-nonce-ms MS] [--rereg-gap-ms MS]
 *   -c        UEs in flight (for calls: C/2 calls in flight)
 *   -n, -t    per way and round (default 3000 registrations or calls, or
 *             5 s)
 *   --ways    which ways run (default the IMS AKA ways this build has:
 *             new, resumed, open, call; the digest ways when named); the first
 *             round runs them in the order new, digest-md5, digest-sha256,
 *             resumed, open, digest-md5-open, digest-sha256-open, call, so
 *             that AKA and SIP Digest meet the same load, and each later
 *             round turns the three new-connection ways and the three
 *             open-connection ones by one
 *   --digest-nonce-ms  the S-CSCF's nonce lifetime (default: the
 *             element's, 300 s): shorter, a share of the digest
 *             re-REGISTERs find their nonce stale (401s/reg tells how
 *             many). It must exceed the challenge's round trip under the
 *             run's load, else every answer is stale and the UEs give up
 *             (too many challenges in a row).
 *   --rereg-gap-ms  every open-connection way (AKA's too) waits this long
 *             between a UE's registrations (the latency excludes it, the
 *             rate is bounded by C / gap; the CPU per registration is the
 *             figure): with --digest-nonce-ms between the challenge's
 *             round trip and the gap, every digest re-REGISTER meets a
 *             stale nonce, as a real UE's does minutes later
 *   -r        rounds (default 3; each runs every way on every store)
 *   --dir     where the sqlite stack's files go (default $TMPDIR or /tmp:
 *             a real disk, fsync is what the product pays)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsec/crypto.h"
#include "imsec/host_net.h"
#include "imsec/hss.h"
#include "imsec/pcscf.h"
#include "imsec/pki.h"
#include "imsec/regdb.h"
#include "imsec/scscf.h"
#include "imsec/svc.h"
#include "imsec/ue.h"
#include "imsec/x509.h"
#include "imsec/crypto_ossl.h"
#include "imsec/hss_db.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define PCSCF_NAME "pcscf." HOME
#define MAX_SAMPLES 200000

static void die(const char *what, int rc) {
  fprintf(stderr, "reg_bench: %s: %s\n", what, imsec_strerror(rc));
  exit(1);
}

/* ---------------------------------------------------------------- PKI */

static char g_dir[512];

static const char *path(const char *name) {
  static char ring[8][sizeof g_dir + 64];
  static int k;
  char *p = ring[k++ % 8];
  snprintf(p, sizeof ring[0], "%s/%s", g_dir, name);
  return p;
}

static void make_pki(size_t n_ue_certs);

/* ---------------------------------------------------------------- subs */

typedef struct subscriber {
  char impi[128], impu[160];
  uint8_t k[16], opc[16];
  uint8_t psk[32]; /* M3 configured: the UE's key, also in the P-CSCF's */
  /* SIP Digest subscribers (g_dsub): the password, 24 characters as
   * `imsec isim new --digest` draws them. */
  uint8_t password[24];
} subscriber;

#define MAX_C 256
/* IMS AKA subscribers, and SIP Digest ones (other IMPIs: the HSS keeps
 * one scheme per subscriber, TS 33.203 Annex P.4). */
static subscriber g_sub[MAX_C], g_dsub[MAX_C];

static void make_pki(size_t n_ue_certs) {
  int64_t now = (int64_t)time(NULL);
  const char *perm[] = {HOME};
  imsec_pki_spec root = {.cn = "root",
                         .ca = 1,
                         .path_len = 1,
                         .not_before = now - 3600,
                         .not_after = now + 86400};
  imsec_pki_spec op = {.cn = HOME,
                       .ca = 1,
                       .path_len = 0,
                       .permitted = perm,
                       .n_permitted = 1,
                       .not_before = now - 3600,
                       .not_after = now + 86400};
  const char *dns[] = {PCSCF_NAME};
  const char *uris[] = {"sip:" PCSCF_NAME};
  imsec_pki_spec leaf = {.cn = PCSCF_NAME,
                         .dns = dns,
                         .n_dns = 1,
                         .uris = uris,
                         .n_uris = 1,
                         .server_auth = 1,
                         .path_len = -1,
                         .not_before = now - 3600,
                         .not_after = now + 86400};
  imsec_pki_cred *r = NULL, *o = NULL, *l = NULL;
  int rc;
  if ((rc = imsec_pki_issue(&root, NULL, &r)) ||
      (rc = imsec_pki_issue(&op, r, &o)) ||
      (rc = imsec_pki_issue(&leaf, o, &l)))
    die("pki", rc);
  const imsec_pki_cred *chain[] = {l, o};
  const imsec_pki_cred *one[] = {r};
  const imsec_pki_cred *opc[] = {o};
  if ((rc = imsec_pki_write_certs(path("chain.pem"), chain, 2, 1)) ||
      (rc = imsec_pki_write_key(l, path("key.pem"), 1)) ||
      (rc = imsec_pki_write_certs(path("root.pem"), one, 1, 1)) ||
      (rc = imsec_pki_write_certs(path("op.pem"), opc, 1, 1)))
    die("pki files", rc);
  /* Mode M2a: a certificate per UE (`imsec pki ue`: EKU clientAuth, SAN
   * URI sip:IMPI), its chain file leaf first. */
  for (size_t i = 0; i < n_ue_certs; i++) {
    char uri[sizeof g_sub[0].impi + 4], f[64];
    memcpy(uri, "sip:", 4);
    memcpy(uri + 4, g_sub[i].impi, sizeof g_sub[i].impi);
    const char *ue_uris[] = {uri};
    imsec_pki_spec ue = {.cn = g_sub[i].impi,
                         .uris = ue_uris,
                         .n_uris = 1,
                         .client_auth = 1,
                         .path_len = -1,
                         .not_before = now - 3600,
                         .not_after = now + 86400};
    imsec_pki_cred *u = NULL;
    if ((rc = imsec_pki_issue(&ue, o, &u)))
      die("pki ue", rc);
    const imsec_pki_cred *uc[] = {u, o};
    snprintf(f, sizeof f, "ue%zu-chain.pem", i);
    if ((rc = imsec_pki_write_certs(path(f), uc, 2, 1)))
      die("pki ue files", rc);
    snprintf(f, sizeof f, "ue%zu.key", i);
    if ((rc = imsec_pki_write_key(u, path(f), 1)))
      die("pki ue files", rc);
    imsec_pki_cred_del(u);
  }
  imsec_pki_cred_del(l);
  imsec_pki_cred_del(o);
  imsec_pki_cred_del(r);
}

/* ---------------------------------------------------------------- modes */

/* The deployment modes of the UE leg (DESIGN.md §2). */
enum tls_mode { TM_M1, TM_M2A, TM_M3, TM_M3AKA, TM_DTLS, TM_N };
static const char *const tm_name[TM_N] = {"m1", "m2a", "m3", "m3-aka", "dtls"};
/* Which modes the elements of this tree run end to end. */
static const int tm_built[TM_N] = {1, 1, 1, 0, 1};

/* ---------------------------------------------------------------- the UEs */

enum mode {
  M_NEW,
  M_RESUMED,
  M_OPEN,
  M_CALL,
  M_DMD5,      /* SIP Digest MD5, new TLS connection */
  M_DSHA,      /* SIP Digest SHA-256, new TLS connection */
  M_DMD5_OPEN, /* SIP Digest MD5, open connection */
  M_DSHA_OPEN, /* SIP Digest SHA-256, open connection */
  M_N
};
static const char *const way_name[M_N] = {"new",
                                          "resumed",
                                          "open",
                                          "call",
                                          "digest-md5",
                                          "digest-sha256",
                                          "digest-md5-open",
                                          "digest-sha256-open"};
#ifdef REG_BENCH_CALLS
static const int way_built[M_N] = {1, 1, 1, 1, 1, 1, 1, 1};
#else
static const int way_built[M_N] = {1, 1, 1, 0, 1, 1, 1, 1};
#endif
/* The order the first round runs the ways in: each digest way next to
 * the AKA way of the same connection, so they meet the same load (later
 * rounds turn each group of three, round_order). */
static const enum mode way_order[M_N] = {
    M_NEW, M_DMD5, M_DSHA, M_RESUMED, M_OPEN, M_DMD5_OPEN, M_DSHA_OPEN, M_CALL};

/* Round r's order: way_order with the new-connection group (new,
 * digest-md5, digest-sha256) and the open-connection group turned by r,
 * so that no way always runs first (the first way of a round met the
 * S-CSCF's first challenges of the round) or last. */
static void round_order(size_t r, enum mode out[M_N]) {
  static const enum mode g_new[3] = {M_NEW, M_DMD5, M_DSHA};
  static const enum mode g_open[3] = {M_OPEN, M_DMD5_OPEN, M_DSHA_OPEN};
  size_t k = 0;
  for (size_t j = 0; j < 3; j++)
    out[k++] = g_new[(r + j) % 3];
  out[k++] = M_RESUMED;
  for (size_t j = 0; j < 3; j++)
    out[k++] = g_open[(r + j) % 3];
  out[k++] = M_CALL;
}

/* How a way authenticates. */
enum auth { AU_AKA, AU_MD5, AU_SHA256 };

static enum auth way_auth(enum mode md) {
  return md == M_DMD5 || md == M_DMD5_OPEN   ? AU_MD5
         : md == M_DSHA || md == M_DSHA_OPEN ? AU_SHA256
                                             : AU_AKA;
}

/* The connection a way uses, as one of the AKA ways new, resumed, open,
 * call. */
static enum mode way_conn(enum mode md) {
  return md == M_DMD5 || md == M_DSHA             ? M_NEW
         : md == M_DMD5_OPEN || md == M_DSHA_OPEN ? M_OPEN
                                                  : md;
}

/* SIP Digest runs over TLS with the P-CSCF's certificate alone (TS
 * 33.203 Annex O): mode m1. */
static int way_runs(int md, int tm) {
  return way_auth((enum mode)md) == AU_AKA || tm == TM_M1;
}

typedef struct slot {
  imsec_ue *ue;
  int64_t off;     /* the UE's clock = real clock + off */
  int64_t t_start; /* the measured registration began (real ms, ns) */
  struct timespec ts;
  unsigned regs; /* registrations seen */
  uint64_t flow;
  int warm;    /* first registration of an open-connection UE: not timed */
  int resumed; /* its current connection was resumed */
  /* Calls (a caller, even slot): the call in progress, when its INVITE
   * went out, whether its 200 came. */
  int call;
  int64_t call_ns;
  int answered;
  unsigned n401; /* 401s since the registration began */
  int gap_over;  /* --rereg-gap-ms: the wait before this re-REGISTER ended */
} slot;

typedef struct mux {
  enum mode mode;
  enum tls_mode tm;
  size_t c;
  slot s[MAX_C];
  imsec_crypto *crypto;
  uint16_t pcscf_port;
  /* results */
  double *lat; /* ms */
  size_t n, want;
  double *lat_res; /* of which on resumed sessions */
  size_t n_res;
  int64_t t_end_ns;
  struct timespec t0, t1;
  unsigned resumed, full, failed;
  int done;
  /* Calls: the P-CSCF's and S-CSCF's loop CPU clocks, read on this loop
   * when every UE has registered (p0, s0) and when the run ends (p1,
   * s1); UEs registered so far; calls set up (setup latencies taken). */
  clockid_t p_clock, s_clock;
  double p0, s0, p1, s1;
  size_t ready, n_setup;
  /* What the UEs sent and got: REGISTERs by their Authorization's
   * algorithm (SIP Digest MD5, SHA-256, Digest AKA, none), and the 401s
   * (for SIP Digest over open connections: how many re-REGISTERs needed a
   * new challenge). */
  unsigned au_md5, au_sha256, au_aka, au_none;
  size_t n401; /* of the registrations counted in n */
} mux;

static int64_t ns_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int ue_make(mux *m, size_t i) {
  int digest = way_auth(m->mode) != AU_AKA;
  subscriber *sb = digest ? &g_dsub[i] : &g_sub[i];
  const char *impus[] = {sb->impu};
  imsec_ue_config c;
  memset(&c, 0, sizeof c);
  c.impi = sb->impi;
  c.impus = impus;
  c.n_impus = 1;
  c.home_domain = HOME;
  c.trust_domain = "3gppnetwork.org";
  if (digest) {
    /* A terminal without an ISIM (TS 33.203 Annex N): the password alone;
     * the digest username is the IMPI. */
    memcpy(c.password, sb->password, sizeof sb->password);
    c.password_len = sizeof sb->password;
  } else {
    memcpy(c.k, sb->k, 16);
    memcpy(c.opc, sb->opc, 16);
    c.has_opc = 1;
    c.amf[0] = 0x80;
  }
  uint8_t sqn[6] = {0};
  if (imsec_ue_sqn_load(sqn, NULL, &c.sqn) != 0)
    return -1;
  c.pcscf.tp = m->tm == TM_DTLS ? IMSEC_TP_DTLS : IMSEC_TP_TLS;
  snprintf(c.pcscf.host, sizeof c.pcscf.host, "127.0.0.1");
  c.pcscf.port = m->pcscf_port;
  c.pcscf_name = PCSCF_NAME;
  c.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  c.expires = 600;
  c.max_connect_attempts = 1;
#ifdef REG_BENCH_CALLS
  /* Calls: 180 and 200 at once (the UAS side of the pair). */
  c.answer = IMSEC_UE_ANSWER_AUTO;
  c.answer_delay_ms = 0;
#endif
  if (m->tm == TM_M3) {
    c.psk_identity = sb->impi;
    memcpy(c.psk, sb->psk, sizeof sb->psk);
    c.psk_len = sizeof sb->psk;
  }
  int rc = imsec_ue_new(&m->s[i].ue, &c, m->crypto);
  imsec_wipe(c.password, sizeof c.password);
  return rc;
}

/* The header line of `msg` at or after `from` whose name is `name`
 * (case-insensitive, with its colon), up to the end of the header
 * section; its start and length (without CRLF) in *at, *len. 0 found. */
static int hdr_find(const uint8_t *msg, size_t n, size_t from, const char *name,
                    size_t *at, size_t *len) {
  size_t nl = strlen(name);
  for (size_t p = from; p < n;) {
    const uint8_t *e = memchr(msg + p, '\n', n - p);
    size_t end = e ? (size_t)(e - msg) : n;
    size_t l = end - p;
    if (l > 0 && msg[end - 1] == '\r')
      l--;
    if (l == 0)
      return -1; /* the blank line: the body follows */
    if (l > nl && strncasecmp((const char *)msg + p, name, nl) == 0) {
      *at = p;
      *len = l;
      return 0;
    }
    p = end + 1;
  }
  return -1;
}

static int span_has(const uint8_t *p, size_t n, const char *what) {
  return memmem(p, n, what, strlen(what)) != NULL;
}

/* Count a REGISTER UE i sends by its Authorization's algorithm: the proof
 * that a digest way ran the algorithm it is named after. */
static void count_auth(mux *m, const imsec_act *a) {
  if (a->kind != IMSEC_ACT_SEND || a->len < 9 ||
      memcmp(a->data, "REGISTER ", 9) != 0)
    return;
  size_t at, len;
  if (hdr_find(a->data, a->len, 0, "Authorization:", &at, &len) != 0)
    m->au_none++;
  else if (span_has(a->data + at, len, "AKAv"))
    m->au_aka++;
  else if (span_has(a->data + at, len, "SHA-256"))
    m->au_sha256++;
  else if (span_has(a->data + at, len, "MD5"))
    m->au_md5++;
  else
    m->au_none++;
}

#define UE_ID_MASK ((UINT64_C(1) << 40) - 1)

/* Rewrite the actions UE i just appended: its connect tags and timer ids
 * into the mux's space, its times into real time. */
static void remap(mux *m, size_t i, imsec_out *out, size_t from) {
  for (size_t k = from; k < out->n; k++) {
    imsec_act *a = &out->acts[k];
    count_auth(m, a);
    if (a->kind == IMSEC_ACT_CONNECT) {
      a->tag = ((uint64_t)(i + 1) << 32) | (a->tag & 0xffffffffu);
      /* M2a: UE i dials with its own certificate (profile "ueI"). */
      if (m->tm == TM_M2A) {
        if (!a->tls && !(a->tls = calloc(1, sizeof *a->tls)))
          die("memory", IMSEC_ERR_NOMEM);
        snprintf(a->tls->profile, sizeof a->tls->profile, "ue%zu", i);
      }
    }
    /* Service requests: the UE's own id in the low 40 bits, the slot
     * above, so on_reply finds the UE. */
    if ((a->kind == IMSEC_ACT_REQUEST || a->kind == IMSEC_ACT_PERSIST) &&
        a->svc)
      a->svc->id = ((uint64_t)(i + 1) << 40) | (a->svc->id & UE_ID_MASK);
    if (a->kind == IMSEC_ACT_TIMER) {
      a->timer = ((uint64_t)i << 8) | (a->timer & 0xff);
      if (a->at)
        a->at -= m->s[i].off;
    }
  }
}

static void begin(mux *m, size_t i, int64_t now, imsec_out *out);
static void check_call(mux *m, size_t i, const imsec_ue_status *st, int64_t now,
                       imsec_out *out);

/* After any event of UE i: a finished registration is recorded and the
 * next one begins. */
static void check(mux *m, size_t i, int64_t now, imsec_out *out) {
  slot *s = &m->s[i];
  if (!s->ue || m->done)
    return;
  imsec_ue_status st;
  imsec_ue_get_status(s->ue, &st);
  if (st.state == IMSEC_UE_REFUSED || st.state == IMSEC_UE_FAILED) {
    m->failed++;
    m->done = 1;
    fprintf(stderr, "reg_bench: UE %zu %s: %s\n", i,
            imsec_ue_state_name(st.state), st.error);
    return;
  }
  if (way_conn(m->mode) == M_CALL) {
    check_call(m, i, &st, now, out);
    return;
  }
  if (st.registrations == s->regs)
    return;
  s->regs = st.registrations;
  s->flow = st.flow;
  if (!s->warm) {
    int64_t dt = ns_now() - s->t_start;
    if (m->n < m->want) {
      m->n401 += s->n401;
      m->lat[m->n++] = (double)dt / 1e6;
      if (s->resumed)
        m->lat_res[m->n_res++] = (double)dt / 1e6;
    }
    if (m->n == m->want || ns_now() > m->t_end_ns) {
      m->done = 1;
      clock_gettime(CLOCK_MONOTONIC, &m->t1);
      return;
    }
  }
  s->warm = 0;
  s->n401 = 0;
  begin(m, i, now, out);
}

/* --rereg-gap-ms: how long an open-connection UE waits between its
 * registrations (0: none), and the mux's own timer id for the end of the
 * wait (low byte; the UE's ids are small). */
static imsec_time_ms g_gap_ms;
#define GAP_TIMER 0xff

/* Start UE i's next registration. */
static void begin(mux *m, size_t i, int64_t now, imsec_out *out) {
  slot *s = &m->s[i];
  if (g_gap_ms && way_conn(m->mode) == M_OPEN && s->ue && s->regs > 0 &&
      !s->gap_over) {
    /* Wait first: the time between re-REGISTERs is what makes a SIP
     * Digest nonce stale; the latency excludes it. */
    if (imsec_out_timer(out, ((uint64_t)i << 8) | GAP_TIMER, now + g_gap_ms))
      die("memory", IMSEC_ERR_NOMEM);
    return;
  }
  s->gap_over = 0;
  s->t_start = ns_now();
  size_t n0 = out->n;
  if (way_conn(m->mode) == M_OPEN && s->ue && s->regs > 0) {
    /* Re-register now: bring the UE's clock to its re-registration time
     * and fire its timer (the UE checks its own deadline). */
    imsec_ue_status st;
    imsec_ue_get_status(s->ue, &st);
    if (st.rereg_at > now + s->off)
      s->off = st.rereg_at - now;
    imsec_ue_on_timer(s->ue, IMSEC_UE_TIMER_REREG, now + s->off, out);
    remap(m, i, out, n0);
    return;
  }
  /* A new connection: retire the old UE (close its flow), make a new one. */
  if (s->ue) {
    if (s->flow)
      (void)imsec_out_close(out, s->flow);
    imsec_ue_del(s->ue);
    s->ue = NULL;
    n0 = out->n;
  }
  s->regs = 0;
  s->flow = 0;
  s->off = 0;
  int rc = ue_make(m, i);
  if (rc != 0 || (rc = imsec_ue_start(s->ue, now, out)) != 0) {
    if (!m->failed)
      fprintf(stderr, "reg_bench: UE %zu does not start: %s\n", i,
              imsec_strerror(rc));
    m->failed++;
    m->done = 1;
    return;
  }
  remap(m, i, out, n0);
}

static double clock_s(clockid_t id);

#ifdef REG_BENCH_CALLS
static const char *call_end_name(imsec_ue_call_end e) {
  return e == IMSEC_UE_END_LOCAL_BYE    ? "local-bye"
         : e == IMSEC_UE_END_REMOTE_BYE ? "remote-bye"
         : e == IMSEC_UE_END_CANCELLED  ? "cancelled"
         : e == IMSEC_UE_END_REJECTED   ? "rejected"
         : e == IMSEC_UE_END_TIMEOUT    ? "timeout"
         : e == IMSEC_UE_END_FLOW_LOST  ? "flow-lost"
                                        : "none";
}

static void call_failed(mux *m, size_t i, const char *why) {
  m->failed++;
  m->done = 1;
  clock_gettime(CLOCK_MONOTONIC, &m->t1);
  m->p1 = clock_s(m->p_clock);
  m->s1 = clock_s(m->s_clock);
  fprintf(stderr, "reg_bench: call from UE %zu: %s\n", i, why);
}

/* Caller i (even) calls its pair i+1. */
static void begin_call(mux *m, size_t i, int64_t now, imsec_out *out) {
  slot *s = &m->s[i];
  size_t n0 = out->n;
  s->answered = 0;
  s->call_ns = ns_now();
  int h = imsec_ue_call(s->ue, g_sub[i + 1].impu, now + s->off, out);
  remap(m, i, out, n0);
  if (h <= 0) {
    call_failed(m, i, imsec_strerror(h));
    return;
  }
  s->call = h;
}

/* The run's clock starts when every UE has registered: from then on the
 * elements carry calls only. */
static void calls_start(mux *m, int64_t now, imsec_out *out) {
  clock_gettime(CLOCK_MONOTONIC, &m->t0);
  m->p0 = clock_s(m->p_clock);
  m->s0 = clock_s(m->s_clock);
  for (size_t i = 0; i + 1 < m->c && !m->done; i += 2)
    begin_call(m, i, now, out);
}
#endif

/* Calls: UE i's registration, then (a caller) the call in progress: its
 * 200 times the setup and gets the BYE at once, its BYE's 200 counts the
 * call and starts the next one. */
static void check_call(mux *m, size_t i, const imsec_ue_status *st, int64_t now,
                       imsec_out *out) {
  slot *s = &m->s[i];
  if (st->registrations != s->regs) {
    s->regs = st->registrations;
    s->flow = st->flow;
    if (s->warm) {
      s->warm = 0;
#ifdef REG_BENCH_CALLS
      if (++m->ready == m->c)
        calls_start(m, now, out);
#endif
    }
  }
#ifdef REG_BENCH_CALLS
  if (i % 2 || !s->call)
    return;
  imsec_ue_call_info ci;
  if (imsec_ue_call_get(s->ue, s->call, &ci) != 0) {
    call_failed(m, i, "the call is gone");
    return;
  }
  if (!s->answered && ci.state == IMSEC_UE_CALL_CONFIRMED) {
    s->answered = 1;
    if (m->n_setup < m->want)
      m->lat[m->n_setup++] = (double)(ns_now() - s->call_ns) / 1e6;
    /* The ACK is out: hang up (RFC 3261 §15.1.1). */
    size_t n0 = out->n;
    int rc = imsec_ue_call_hangup(s->ue, s->call, now + s->off, out);
    remap(m, i, out, n0);
    if (rc != 0)
      call_failed(m, i, imsec_strerror(rc));
    return;
  }
  if (ci.state != IMSEC_UE_CALL_ENDED)
    return;
  if (!s->answered || ci.end != IMSEC_UE_END_LOCAL_BYE ||
      ci.bye_status != 200) {
    char why[160];
    snprintf(why, sizeof why, "ended %s, INVITE %u, BYE %u",
             call_end_name(ci.end), ci.final_status, ci.bye_status);
    call_failed(m, i, why);
    return;
  }
  s->call = 0;
  m->n++;
  if (m->n == m->want || ns_now() > m->t_end_ns) {
    m->done = 1;
    clock_gettime(CLOCK_MONOTONIC, &m->t1);
    m->p1 = clock_s(m->p_clock);
    m->s1 = clock_s(m->s_clock);
    return;
  }
  begin_call(m, i, now, out);
#else
  (void)now;
  (void)out;
#endif
}

static size_t ue_of_tag(uint64_t tag) {
  return (size_t)(tag >> 32) - 1;
}

static int mx_up(void *self, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  mux *m = self;
  size_t i = ue_of_tag(tag);
  if (i >= m->c || !m->s[i].ue)
    return IMSEC_ERR_STATE;
  if (info->resumed)
    m->resumed++;
  else
    m->full++;
  m->s[i].resumed = info->resumed;
  m->s[i].flow = flow;
  size_t n0 = out->n;
  int r = imsec_ue_on_flow_up(m->s[i].ue, flow, tag & 0xffffffffu, info,
                              now + m->s[i].off, out);
  remap(m, i, out, n0);
  check(m, i, now, out);
  return r;
}

static size_t ue_of_flow(mux *m, uint64_t flow) {
  for (size_t i = 0; i < m->c; i++)
    if (m->s[i].ue && m->s[i].flow == flow)
      return i;
  return SIZE_MAX;
}

/* An MD5-only terminal's view of a 401: the same response without its
 * SHA-256 challenges (RFC 8760 §3: a client uses the first challenge of
 * an algorithm it supports). Returns the new length in `buf` (cap >= n). */
static size_t only_md5(const uint8_t *msg, size_t n, uint8_t *buf) {
  size_t w = 0, from = 0, at, len;
  while (hdr_find(msg, n, from, "WWW-Authenticate:", &at, &len) == 0) {
    size_t end = at + len;
    while (end < n && msg[end] != '\n')
      end++;
    end += end < n; /* and its LF */
    if (span_has(msg + at, len, "SHA-256")) {
      memcpy(buf + w, msg + from, at - from);
      w += at - from;
    } else {
      memcpy(buf + w, msg + from, end - from);
      w += end - from;
    }
    from = end;
  }
  memcpy(buf + w, msg + from, n - from);
  return w + n - from;
}

static void mx_msg(void *self, uint64_t flow, const uint8_t *msg, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  mux *m = self;
  size_t i = ue_of_flow(m, flow);
  if (i == SIZE_MAX)
    return;
  uint8_t *md5 = NULL;
  if (len >= 12 && memcmp(msg, "SIP/2.0 401 ", 12) == 0) {
    m->s[i].n401++;
    if (way_auth(m->mode) == AU_MD5) {
      if (!(md5 = malloc(len)))
        die("memory", IMSEC_ERR_NOMEM);
      len = only_md5(msg, len, md5);
      msg = md5;
    }
  }
  size_t n0 = out->n;
  imsec_ue_on_message(m->s[i].ue, flow, msg, len, now + m->s[i].off, out);
  free(md5);
  remap(m, i, out, n0);
  check(m, i, now, out);
}

static void mx_down(void *self, uint64_t flow, uint64_t tag, int reason,
                    imsec_time_ms now, imsec_out *out) {
  mux *m = self;
  size_t i = ue_of_tag(tag);
  /* A retired UE's flow: nobody to tell. */
  if (i >= m->c || !m->s[i].ue || (flow && m->s[i].flow != flow))
    return;
  size_t n0 = out->n;
  imsec_ue_on_flow_down(m->s[i].ue, flow, tag & 0xffffffffu, reason,
                        now + m->s[i].off, out);
  remap(m, i, out, n0);
  check(m, i, now, out);
}

static void mx_timer(void *self, uint64_t id, imsec_time_ms now,
                     imsec_out *out) {
  mux *m = self;
  size_t i = (size_t)(id >> 8);
  if (i >= m->c || !m->s[i].ue)
    return;
  if ((id & 0xff) == GAP_TIMER) {
    if (!m->done) {
      m->s[i].gap_over = 1;
      begin(m, i, now, out);
    }
    return;
  }
  size_t n0 = out->n;
  imsec_ue_on_timer(m->s[i].ue, id & 0xff, now + m->s[i].off, out);
  remap(m, i, out, n0);
  check(m, i, now, out);
}

static void mx_reply(void *self, const imsec_svc_reply *r, imsec_time_ms now,
                     imsec_out *out) {
  mux *m = self;
  size_t i = (size_t)(r->id >> 40) - 1;
  if (i >= m->c || !m->s[i].ue)
    return;
  imsec_svc_reply mine = *r;
  mine.id = r->id & UE_ID_MASK;
  size_t n0 = out->n;
  imsec_ue_on_reply(m->s[i].ue, &mine, now + m->s[i].off, out);
  remap(m, i, out, n0);
  check(m, i, now, out);
}

static void mx_start(void *self, imsec_time_ms now, imsec_out *out) {
  mux *m = self;
  clock_gettime(CLOCK_MONOTONIC, &m->t0);
  for (size_t i = 0; i < m->c; i++) {
    m->s[i].warm = way_conn(m->mode) == M_OPEN || m->mode == M_CALL;
    begin(m, i, now, out);
  }
}

static int mx_done(const void *self) {
  return ((const mux *)self)->done;
}

/* The bench's own element: C UEs multiplexed on one host. */
static const imsec_elem_ops mux_ops = {
    .kind = "ue-mux",
    .on_flow_up = mx_up,
    .on_message = mx_msg,
    .on_flow_down = mx_down,
    .on_timer = mx_timer,
    .on_reply = mx_reply,
    .on_start = mx_start,
    .done = mx_done,
};

static void retire_all(void *self, imsec_time_ms now, imsec_out *out,
                       void *arg) {
  mux *m = self;
  (void)now;
  (void)arg;
  for (size_t i = 0; i < m->c; i++) {
    if (m->s[i].flow)
      (void)imsec_out_close(out, m->s[i].flow);
    imsec_ue_del(m->s[i].ue);
    m->s[i].ue = NULL;
  }
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p) {
  if (n == 0)
    return 0;
  size_t k = (size_t)(p * (double)(n - 1) + 0.5);
  return v[k];
}

static const char *mode_name(enum mode md) {
  return md == M_NEW         ? "new TLS connection"
         : md == M_RESUMED   ? "resumed TLS session"
         : md == M_OPEN      ? "open connection (re-REGISTER)"
         : md == M_DMD5      ? "digest MD5, new TLS connection"
         : md == M_DSHA      ? "digest SHA-256, new TLS conn."
         : md == M_DMD5_OPEN ? "digest MD5, open connection"
         : md == M_DSHA_OPEN ? "digest SHA-256, open conn."
                             : "call on open connections";
}

/* One way measured once. */
typedef struct result {
  double rate, p50, p99;
  double p_us, s_us; /* P-CSCF and S-CSCF loop CPU per registration */
  double chal;       /* 401s per registration counted */
  size_t n;
  unsigned failed;
} result;

/* A loop thread's CPU clock, taken on that thread (imsec_hostnet_call_wait
 * runs this there), so the P-CSCF's and S-CSCF's CPU per registration can
 * be read from the main thread whatever the UEs cost. */
static void take_clock(void *self, imsec_time_ms now, imsec_out *out,
                       void *arg) {
  (void)self, (void)now, (void)out;
  if (pthread_getcpuclockid(pthread_self(), (clockid_t *)arg) != 0)
    die("loop clock", IMSEC_ERR_INTERNAL);
}

static double clock_s(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0)
    die("loop clock", IMSEC_ERR_INTERNAL);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The UEs' SQN writer: the ISIM profile is not what is measured. */
static int ue_sqn_mem(void *arg, const uint8_t sqn_ms[6]) {
  memcpy(arg, sqn_ms, 6);
  return 0;
}

static result run_mode(enum mode md, enum tls_mode tm, const char *store,
                       size_t c, size_t want, double seconds,
                       uint16_t pcscf_port, const imsec_x509_anchors *an,
                       clockid_t p_clock, clockid_t s_clock) {
  mux *m = calloc(1, sizeof *m);
  if (!m)
    die("memory", IMSEC_ERR_NOMEM);
  m->mode = md;
  m->tm = tm;
  m->c = c;
  m->want = want;
  m->lat = calloc(want, sizeof *m->lat);
  m->lat_res = calloc(want, sizeof *m->lat_res);
  m->pcscf_port = pcscf_port;
  m->p_clock = p_clock;
  m->s_clock = s_clock;
  /* Calls: the run's time starts when every UE has registered. */
  m->t_end_ns =
      ns_now() + (int64_t)(seconds * 1e9) + (md == M_CALL ? (int64_t)5e9 : 0);
  int rc = imsec_crypto_ossl_new(&m->crypto);
  if (rc)
    die("crypto", rc);
  uint8_t sqn_sink[6];
  imsec_svc_local_config ulc = {.ue_sqn = ue_sqn_mem, .ue_sqn_arg = sqn_sink};
  imsec_svc *usvc = NULL;
  if ((rc = imsec_svc_local_new(&usvc, &ulc)))
    die("ue svc", rc);
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.defer_verify = 1;
  static char root_pem[sizeof g_dir + 16];
  snprintf(root_pem, sizeof root_pem, "%s/root.pem", g_dir);
  tc.ca_file = root_pem;
  tc.no_resume = way_conn(md) == M_NEW;
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "ues";
  cfg.ops = &mux_ops;
  cfg.self = m;
  cfg.svc = usvc;
  cfg.client_tls_cfg = &tc;
  cfg.anchors = an;
  /* M2a: a client context per UE, with that UE's certificate. */
  static imsec_net_tls_config utc[MAX_C];
  static imsec_hostnet_tls_profile uprof[MAX_C];
  static char uname[MAX_C][16], ucert[MAX_C][64], ukey[MAX_C][64];
  if (tm == TM_M2A) {
    for (size_t i = 0; i < c; i++) {
      snprintf(uname[i], sizeof uname[i], "ue%zu", i);
      snprintf(ucert[i], sizeof ucert[i], "ue%zu-chain.pem", i);
      snprintf(ukey[i], sizeof ukey[i], "ue%zu.key", i);
      utc[i] = tc;
      utc[i].cert_file = strdup(path(ucert[i]));
      utc[i].key_file = strdup(path(ukey[i]));
      uprof[i] =
          (imsec_hostnet_tls_profile){.name = uname[i], .tls_cfg = &utc[i]};
    }
    cfg.tls_profiles = uprof;
    cfg.n_tls_profiles = c;
  }
  /* DTLS: the context the UE's CONNECT names, as apps/cmd_ue.c makes it. */
  imsec_net_tls_config dtc = tc;
  dtc.dtls = 1;
  imsec_hostnet_tls_profile dprof = {.name = IMSEC_UE_DTLS_PROFILE,
                                     .tls_cfg = &dtc,
                                     .defer_verify = 1,
                                     .no_resume = tc.no_resume,
                                     .dtls = 1};
  if (tm == TM_DTLS) {
    cfg.tls_profiles = &dprof;
    cfg.n_tls_profiles = 1;
  }
  cfg.log_level = IMSEC_LOG_ERROR;
  cfg.no_reuse = 1;
  cfg.limits.max_msg = 65536;
  imsec_hostnet *r = NULL;
  char err[256];
  if ((rc = imsec_hostnet_new(&r, &cfg, err, sizeof err)) != 0) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  for (size_t i = 0; tm == TM_M2A && i < c; i++) {
    free((char *)utc[i].cert_file);
    free((char *)utc[i].key_file);
  }
  double p0 = clock_s(p_clock), s0 = clock_s(s_clock);
  if ((rc = imsec_hostnet_start(r)) != 0)
    die("start", rc);
  if (imsec_hostnet_wait(r, (int64_t)(seconds * 1000) + 10000) != 0)
    fprintf(stderr, "reg_bench: %s: no end in time\n", mode_name(md));
  double p1 = clock_s(p_clock), s1 = clock_s(s_clock);
  /* Retire the UEs on their loop before the flows close under them. */
  m->done = 1;
  if (imsec_hostnet_call(r, retire_all, m) == 0)
    usleep(100000);
  imsec_hostnet_del(r);
  imsec_svc_del(usvc);
  double el = (double)(m->t1.tv_sec - m->t0.tv_sec) +
              (double)(m->t1.tv_nsec - m->t0.tv_nsec) / 1e9;
  if (m->t1.tv_sec == 0)
    el = seconds;
  /* Calls: the clocks the UEs' loop read between the first call and the
   * last one counted (no registration in them). */
  if (md == M_CALL) {
    p0 = m->p0, p1 = m->p1, s0 = m->s0, s1 = m->s1;
    if (m->t1.tv_sec == 0)
      p1 = p0, s1 = s0;
  }
  /* A digest way counts only if its UEs answered with its algorithm and
   * nothing else (the MD5 way's 401s lost their SHA-256 challenge). */
  enum auth au = way_auth(md);
  unsigned wrong = au == AU_MD5      ? m->au_sha256 + m->au_aka
                   : au == AU_SHA256 ? m->au_md5 + m->au_aka
                                     : m->au_md5 + m->au_sha256;
  unsigned right = au == AU_MD5      ? m->au_md5
                   : au == AU_SHA256 ? m->au_sha256
                                     : m->au_aka;
  if (md != M_CALL && (wrong || (m->n && !right))) {
    fprintf(stderr,
            "reg_bench: %s: the UEs answered %u MD5, %u SHA-256, %u AKA "
            "challenges: not this way's algorithm\n",
            way_name[md], m->au_md5, m->au_sha256, m->au_aka);
    m->failed++;
  }
  size_t nlat = md == M_CALL ? m->n_setup : m->n;
  qsort(m->lat, nlat, sizeof *m->lat, cmp_d);
  result res = {.rate = el > 0 ? (double)m->n / el : 0.0,
                .p50 = pct(m->lat, nlat, 0.50),
                .p99 = pct(m->lat, nlat, 0.99),
                .p_us = m->n ? (p1 - p0) * 1e6 / (double)m->n : 0,
                .s_us = m->n ? (s1 - s0) * 1e6 / (double)m->n : 0,
                .chal = m->n ? (double)m->n401 / (double)m->n : 0,
                .n = m->n,
                .failed = m->failed};
  if (md == M_CALL)
    printf("  %-6s %-6s %-30s C=%-3zu n=%-6zu %7.0f call/s setup p50 %6.2f "
           "ms  p99 %6.2f ms  CPU/call P-CSCF %5.0f us S-CSCF %5.0f us  "
           "(%zu calls in flight; failed %u)\n",
           tm_name[tm], store, mode_name(md), c, m->n, res.rate, res.p50,
           res.p99, res.p_us, res.s_us, c / 2, m->failed);
  else
    printf("  %-6s %-6s %-30s C=%-3zu n=%-6zu %7.0f reg/s  p50 %6.2f ms  p99 "
           "%6.2f ms  CPU/reg P-CSCF %5.0f us S-CSCF %5.0f us  (handshakes: "
           "%u full, %u resumed; failed %u)\n",
           tm_name[tm], store, mode_name(md), c, m->n, res.rate, res.p50,
           res.p99, res.p_us, res.s_us, m->full, m->resumed, m->failed);
  if (au != AU_AKA)
    printf("  %-13s   %-28s REGISTERs by Authorization: %u MD5, %u "
           "SHA-256, %u none; %zu 401s (%.2f per registration)\n",
           "", "", m->au_md5, m->au_sha256, m->au_none, m->n401, res.chal);
  if (md == M_RESUMED) {
    qsort(m->lat_res, m->n_res, sizeof *m->lat_res, cmp_d);
    printf("  %-13s   %-28s n=%-6zu %19s p50 %6.2f ms  p99 %6.2f ms\n", "",
           "of which on resumed sessions", m->n_res, "",
           pct(m->lat_res, m->n_res, 0.50), pct(m->lat_res, m->n_res, 0.99));
  }
  fflush(stdout);
  for (size_t i = 0; i < c; i++)
    imsec_ue_del(m->s[i].ue);
  imsec_crypto_del(m->crypto);
  free(m->lat);
  free(m->lat_res);
  free(m);
  return res;
}

/* ------------------------------------------------------------- a stack */

/* ST_MEMW, the in-memory stores behind the worker thread, tells the
 * thread hand-over from the disk (--store all). */
enum store_kind { ST_MEM, ST_SQLITE, ST_MEMW, ST_N };

/* One S-CSCF with its stores and one P-CSCF in front of it. */
typedef struct stack {
  enum store_kind kind;
  enum tls_mode tm;
  const char *name;
  imsec_crypto *cr_hss, *cr_s, *cr_p;
  imsec_x509_anchors *ue_anchors; /* M2a: the P-CSCF's, for UE chains */
  imsec_hss_store *hstore;
  imsec_hss *hss;
  imsec_reg_store *regs;
  imsec_svc *local, *worker;
  imsec_hostnet *rs, *rp;
  imsec_scscf *scscf;
  imsec_pcscf *pcscf;
  uint16_t tls_port;
  clockid_t p_clock, s_clock; /* the loop threads' CPU clocks */
} stack;

/* What apps/cmd_scscf.c passes (STORE_CALL_WAIT_MS, SQN_RANGE,
 * STORE_QUEUE_MAX there). */
#define DAEMON_CALL_WAIT_MS 2
#define DAEMON_SQN_RANGE 32
#define DAEMON_QUEUE_MAX 8192
/* A throughput run queues far more requests per second than the
 * daemon's default wait (250 ms) is sized for at start-up, when every
 * IMPI reserves its first SQN range at once: a request queued behind
 * them would get 500, which measures the timeout, not the store. */
#define BENCH_STORE_TIMEOUT_MS 10000
/* Far above any run: every UE comes from 127.0.0.1. */
#define BENCH_LIMIT 100000000u

/* The S-CSCF's SIP Digest nonce lifetime (--digest-nonce-ms; 0: the
 * element's default). */
static imsec_time_ms g_digest_nonce_ms;

static void stack_up(stack *k, enum store_kind kind, enum tls_mode tm, size_t c,
                     const char *dir, int digest) {
  memset(k, 0, sizeof *k);
  k->kind = kind;
  k->tm = tm;
  k->name = kind == ST_MEM ? "mem" : kind == ST_SQLITE ? "sqlite" : "mem+w";
  int rc;
  char err[512] = "";
  if (imsec_crypto_ossl_new(&k->cr_hss) || imsec_crypto_ossl_new(&k->cr_s) ||
      imsec_crypto_ossl_new(&k->cr_p))
    die("crypto", IMSEC_ERR_CRYPTO);
  if (kind != ST_SQLITE) {
    if ((rc = imsec_hss_mem_new(&k->hstore)) ||
        (rc = imsec_reg_mem_new(&k->regs)))
      die("memory stores", rc);
  } else {
    char hp[600], rp[600];
    snprintf(hp, sizeof hp, "%s/%s-hss.db", dir, tm_name[tm]);
    snprintf(rp, sizeof rp, "%s/%s-registrations.db", dir, tm_name[tm]);
    /* The daemon's options: rollback journal for the HSS file (shared
     * with the management CLI), WAL for its own registration file. */
    imsec_hss_db_opts dbo = {.create = 1,
                             .writable = 1,
                             .timeout_ms = 0,
                             .call_wait_ms = DAEMON_CALL_WAIT_MS};
    if ((rc = imsec_hss_db_open_opts(&k->hstore, hp, &dbo, err, sizeof err))) {
      fprintf(stderr, "reg_bench: %s: %s\n", hp, err);
      exit(1);
    }
    imsec_hss_db_opts rgo = dbo;
    rgo.wal = 1;
    if ((rc = imsec_reg_db_open(&k->regs, rp, &rgo, err, sizeof err))) {
      fprintf(stderr, "reg_bench: %s: %s\n", rp, err);
      exit(1);
    }
  }
  for (size_t i = 0; i < c; i++) {
    subscriber *sb = &g_sub[i];
    imsec_hss_sub s;
    memset(&s, 0, sizeof s);
    memcpy(s.impi, sb->impi, strlen(sb->impi) + 1);     /* 128 < 256 */
    memcpy(s.impus[0], sb->impu, strlen(sb->impu) + 1); /* 160 < 256 */
    s.n_impus = 1;
    memcpy(s.k, sb->k, 16);
    memcpy(s.op, sb->opc, 16);
    s.op_is_opc = 1;
    s.amf[0] = 0x80;
    s.aka = IMSEC_HSS_AKAV1;
    rc = k->hstore->vt->add(k->hstore, &s);
    if (rc != 0 && rc != IMSEC_ERR_EXISTS)
      die("hss add", rc);
  }
  /* The SIP Digest subscribers, as `imsec hss add --scheme digest` makes
   * them: H(A1) per algorithm and username form from the password, realm
   * the IMPI's domain (the home domain the UE checks). */
  for (size_t i = 0; digest && i < c; i++) {
    subscriber *sb = &g_dsub[i];
    imsec_hss_sub s;
    memset(&s, 0, sizeof s);
    memcpy(s.impi, sb->impi, strlen(sb->impi) + 1);
    memcpy(s.impus[0], sb->impu, strlen(sb->impu) + 1);
    s.n_impus = 1;
    if ((rc = imsec_hss_digest_set(
             &s, k->cr_hss, IMSEC_STR_NULL,
             (imsec_bytes){sb->password, sizeof sb->password})))
      die("hss digest", rc);
    rc = k->hstore->vt->add(k->hstore, &s);
    imsec_hss_sub_wipe(&s);
    if (rc != 0 && rc != IMSEC_ERR_EXISTS)
      die("hss add digest", rc);
  }
  if ((rc = imsec_hss_new(&k->hss, k->hstore, k->cr_hss, NULL)) ||
      (rc = imsec_hss_set_sqn_range(k->hss, DAEMON_SQN_RANGE, 0)))
    die("hss", rc);
  imsec_svc_local_config lc = {.hss = k->hss, .reg = k->regs};
  if ((rc = imsec_svc_local_new(&k->local, &lc)))
    die("svc", rc);
  if (kind != ST_MEM &&
      (rc = imsec_svc_worker_new(&k->worker, k->local, DAEMON_QUEUE_MAX)))
    die("svc worker", rc);
  imsec_hostnet_listener sl;
  memset(&sl, 0, sizeof sl);
  sl.addr.tp = IMSEC_TP_TCP;
  snprintf(sl.addr.host, sizeof sl.addr.host, "127.0.0.1");
  /* The P-CSCF reaches it over plain TCP from loopback. */
  static const char *const core_peers[] = {"127.0.0.1"};
  imsec_scscf_config scfg = {.domain = HOME,
                             .insecure_core = 1,
                             .peer_addrs = core_peers,
                             .n_peer_addrs = 1,
                             .impi_challenge_limit = BENCH_LIMIT,
                             .source_challenge_limit = BENCH_LIMIT,
                             .impi_failure_limit = BENCH_LIMIT,
                             .source_failure_limit = BENCH_LIMIT,
                             .store_timeout_ms = BENCH_STORE_TIMEOUT_MS,
                             .digest_nonce_ms = g_digest_nonce_ms};
  /* The S-CSCF names its own address: bind first, then make it. */
  imsec_hostnet_config sc;
  memset(&sc, 0, sizeof sc);
  sc.name = "scscf";
  sc.ops = &imsec_scscf_ops;
  sc.svc = k->worker ? k->worker : k->local;
  sc.listeners = &sl;
  sc.n_listeners = 1;
  sc.log_level = IMSEC_LOG_ERROR;
  if ((rc = imsec_hostnet_new(&k->rs, &sc, err, sizeof err)) != 0) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  scfg.self = sl.addr;
  scfg.self.port = imsec_hostnet_port(k->rs, 0);
  if ((rc = imsec_scscf_new(&k->scscf, &scfg, k->cr_s)))
    die("scscf", rc);
  imsec_hostnet_set_self(k->rs, k->scscf);
  /* The P-CSCF: TLS towards UEs with tickets, TCP core side. */
  imsec_pcscf_config pcfg;
  imsec_pcscf_config_init(&pcfg);
  pcfg.core.tp = IMSEC_TP_TCP;
  snprintf(pcfg.core.host, sizeof pcfg.core.host, "127.0.0.1");
  /* a plain core is open to the S-CSCF's address only */
  snprintf(pcfg.peer_addrs[0], sizeof pcfg.peer_addrs[0], "127.0.0.1");
  pcfg.n_peer_addrs = 1;
  pcfg.n_routes = 1;
  snprintf(pcfg.routes[0].domain, sizeof pcfg.routes[0].domain, "%s", HOME);
  pcfg.routes[0].addr = scfg.self;
  static imsec_net_tls_config ptls;
  memset(&ptls, 0, sizeof ptls);
  ptls.cert_file = path("chain.pem");
  ptls.key_file = path("key.pem");
  ptls.tickets = 1;
  /* M2a as apps/pcscf_m2.c sets it up (--client-cert require --ue-ca
   * root --ue-ca operator CA): the UE's certificate asked and required,
   * verified by the element (defer_verify) against the host's anchors,
   * where every --ue-ca file is a root. */
  static char root_pem[sizeof g_dir + 16], op_pem[sizeof g_dir + 16];
  static const char *more_ca[2] = {op_pem, NULL};
  snprintf(root_pem, sizeof root_pem, "%s/root.pem", g_dir);
  snprintf(op_pem, sizeof op_pem, "%s/op.pem", g_dir);
  if (tm == TM_M2A) {
    pcfg.client_cert = IMSEC_PCSCF_CLIENT_CERT_REQUIRE;
    ptls.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
    ptls.ca_file = root_pem;
    ptls.more_ca_files = more_ca;
    ptls.defer_verify = 1;
    if ((rc = imsec_x509_anchors_new(&k->ue_anchors)) ||
        (rc = imsec_x509_anchors_add_root_file(k->ue_anchors, root_pem)) ||
        (rc = imsec_x509_anchors_add_root_file(k->ue_anchors, op_pem)))
      die("ue anchors", rc);
  }
  imsec_hostnet_listener pl[2];
  memset(pl, 0, sizeof pl);
  /* The UE listener: TLS, or DTLS with the same certificate (the
   * daemon's --listen dtls:H:P). */
  pl[0].addr.tp = tm == TM_DTLS ? IMSEC_TP_DTLS : IMSEC_TP_TLS;
  snprintf(pl[0].addr.host, sizeof pl[0].addr.host, "127.0.0.1");
  pl[0].tls_cfg = &ptls;
  pl[0].psk = tm == TM_M3;
  pl[1].addr.tp = IMSEC_TP_TCP;
  snprintf(pl[1].addr.host, sizeof pl[1].addr.host, "127.0.0.1");
  imsec_hostnet_config pc;
  memset(&pc, 0, sizeof pc);
  pc.name = "pcscf";
  pc.ops = &imsec_pcscf_ops;
  pc.listeners = pl;
  pc.n_listeners = 2;
  pc.log_level = IMSEC_LOG_ERROR;
  pc.anchors = k->ue_anchors;
  /* every UE connects from 127.0.0.1, and closed flows of the
   * new-connection runs linger a moment */
  pc.limits.max_flows_per_ip = 4 * MAX_C + 64;
  if ((rc = imsec_hostnet_new(&k->rp, &pc, err, sizeof err)) != 0) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  if (tm == TM_M3) {
    imsec_hostnet_psk keys[MAX_C];
    for (size_t i = 0; i < c; i++)
      keys[i] =
          (imsec_hostnet_psk){g_sub[i].impi, g_sub[i].psk, sizeof g_sub[i].psk};
    if ((rc = imsec_hostnet_psk_set_static(k->rp, keys, c)))
      die("psk table", rc);
  }
  k->tls_port = imsec_hostnet_port(k->rp, 0);
  pcfg.core.port = imsec_hostnet_port(k->rp, 1);
  if ((rc = imsec_pcscf_new(&k->pcscf, &pcfg, k->cr_p)))
    die("pcscf", rc);
  imsec_hostnet_set_self(k->rp, k->pcscf);
  if ((rc = imsec_hostnet_start(k->rs)) || (rc = imsec_hostnet_start(k->rp)))
    die("start", rc);
  if ((rc = imsec_hostnet_call_wait(k->rp, take_clock, &k->p_clock, 5000)) ||
      (rc = imsec_hostnet_call_wait(k->rs, take_clock, &k->s_clock, 5000)))
    die("loop clocks", rc);
}

static void stack_down(stack *k) {
  /* As the daemon does: stop the worker while the hosts live (its last
   * replies reach them), delete the hosts (a late submit is told closed),
   * then free the worker. */
  imsec_svc_worker_stop(k->worker);
  imsec_hostnet_del(k->rp);
  imsec_hostnet_del(k->rs);
  imsec_svc_del(k->worker);
  imsec_svc_del(k->local);
  imsec_pcscf_del(k->pcscf);
  imsec_scscf_del(k->scscf);
  imsec_reg_store_del(k->regs);
  imsec_hss_del(k->hss);
  imsec_hss_store_del(k->hstore);
  imsec_crypto_del(k->cr_hss);
  imsec_crypto_del(k->cr_s);
  imsec_crypto_del(k->cr_p);
  imsec_x509_anchors_del(k->ue_anchors);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_d);
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double best(const double *v, size_t n) {
  double b = 0;
  for (size_t i = 0; i < n; i++)
    b = v[i] > b ? v[i] : b;
  return b;
}

#define MAX_ROUNDS 50

int main(int argc, char **argv) {
  size_t c = 16, want = 3000, rounds = 3;
  double seconds = 5;
  const char *store = "mem";
  const char *modes = "m1";
  const char *ways = NULL;
  const char *dir = getenv("TMPDIR");
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
      c = (size_t)atoi(argv[++i]);
    else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      want = (size_t)atoi(argv[++i]);
    else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
      rounds = (size_t)atoi(argv[++i]);
    else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
      store = argv[++i];
    else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
      modes = argv[++i];
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir = argv[++i];
    else if (strcmp(argv[i], "--ways") == 0 && i + 1 < argc)
      ways = argv[++i];
    else if (strcmp(argv[i], "--rereg-gap-ms") == 0 && i + 1 < argc &&
             atoll(argv[i + 1]) > 0)
      g_gap_ms = (imsec_time_ms)atoll(argv[++i]);
    else if (strcmp(argv[i], "--digest-nonce-ms") == 0 && i + 1 < argc &&
             atoll(argv[i + 1]) > 0)
      g_digest_nonce_ms = (imsec_time_ms)atoll(argv[++i]);
    else {
      fprintf(stderr,
              "usage: reg_bench [-c CONCURRENCY] [-n COUNT] "
              "[-t SECONDS] [-r ROUNDS] [--store mem|sqlite|both|all] "
              "[--dir DIR] [--mode m1[,m2a,m3,m3-aka,dtls]] "
              "[--ways new,resumed,open,call,digest-md5,digest-sha256,"
              "digest-md5-open,digest-sha256-open] [--digest-nonce-ms MS] "
              "[--rereg-gap-ms MS]\n");
      return 2;
    }
  }
  int all = strcmp(store, "all") == 0;
  int use[ST_N] = {
      all || strcmp(store, "mem") == 0 || strcmp(store, "both") == 0,
      all || strcmp(store, "sqlite") == 0 || strcmp(store, "both") == 0, all};
  if (c < 1 || c > MAX_C || want < 1 || want > MAX_SAMPLES || seconds <= 0 ||
      rounds < 1 || rounds > MAX_ROUNDS || (!use[0] && !use[1])) {
    fprintf(stderr,
            "reg_bench: -c 1..%d, -n 1..%d, -t > 0, -r 1..%d, --store "
            "mem|sqlite|both|all\n",
            MAX_C, MAX_SAMPLES, MAX_ROUNDS);
    return 2;
  }
  /* --ways: a comma-separated list of way_name entries; by default all
   * this build has. */
  int use_way[M_N] = {0};
  /* The SIP Digest ways only when named: the commands of the earlier
   * figures keep running what they ran. */
  if (!ways)
    for (int w = 0; w < M_N; w++)
      use_way[w] = way_built[w] && way_auth((enum mode)w) == AU_AKA;
  for (const char *p = ways ? ways : ""; *p;) {
    size_t l = strcspn(p, ",");
    int found = 0;
    for (int w = 0; w < M_N; w++)
      if (strlen(way_name[w]) == l && strncmp(p, way_name[w], l) == 0) {
        if (!way_built[w]) {
          fprintf(stderr, "reg_bench: way %s: this build has no calls\n",
                  way_name[w]);
          return 2;
        }
        use_way[w] = found = 1;
      }
    if (!found) {
      fprintf(stderr,
              "reg_bench: --ways: %.*s is not one of new, resumed, open, "
              "call, digest-md5, digest-sha256, digest-md5-open, "
              "digest-sha256-open\n",
              (int)l, p);
      return 2;
    }
    p += l + (p[l] == ',');
  }
  if (use_way[M_CALL] && c < 2) {
    fprintf(stderr, "reg_bench: calls need -c 2 or more (pairs of UEs)\n");
    return 2;
  }
  /* --mode: a comma-separated list of tm_name entries. */
  int use_tm[TM_N] = {0};
  for (const char *p = modes; *p;) {
    size_t l = strcspn(p, ",");
    int found = 0;
    for (int t = 0; t < TM_N; t++)
      if (strlen(tm_name[t]) == l && strncmp(p, tm_name[t], l) == 0) {
        if (!tm_built[t]) {
          fprintf(stderr,
                  "reg_bench: mode %s: the elements of this tree do "
                  "not run it\n",
                  tm_name[t]);
          return 2;
        }
        use_tm[t] = found = 1;
      }
    if (!found) {
      fprintf(stderr,
              "reg_bench: --mode: %.*s is not one of m1, m2a, m3, "
              "m3-aka, dtls\n",
              (int)l, p);
      return 2;
    }
    p += l + (p[l] == ',');
  }
  snprintf(g_dir, sizeof g_dir, "%s/reg_bench-XXXXXX", dir ? dir : "/tmp");
  if (!mkdtemp(g_dir))
    die("mkdtemp", IMSEC_ERR_IO);
  imsec_crypto *cr = NULL;
  int rc = imsec_crypto_ossl_new(&cr);
  if (rc)
    die("crypto", rc);
  for (size_t i = 0; i < c; i++) {
    subscriber *sb = &g_sub[i];
    snprintf(sb->impi, sizeof sb->impi, "0010100009%05zu@%s", i, HOME);
    snprintf(sb->impu, sizeof sb->impu, "sip:0010100009%05zu@%s", i, HOME);
    if (imsec_random(cr, sb->k, 16) || imsec_random(cr, sb->opc, 16) ||
        imsec_random(cr, sb->psk, sizeof sb->psk))
      die("random", IMSEC_ERR_CRYPTO);
    /* SIP Digest subscribers: other IMPIs, a random password each from
     * the 64 characters of base64. */
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    subscriber *ds = &g_dsub[i];
    snprintf(ds->impi, sizeof ds->impi, "0010100008%05zu@%s", i, HOME);
    snprintf(ds->impu, sizeof ds->impu, "sip:0010100008%05zu@%s", i, HOME);
    if (imsec_random(cr, ds->password, sizeof ds->password))
      die("random", IMSEC_ERR_CRYPTO);
    for (size_t j = 0; j < sizeof ds->password; j++)
      ds->password[j] = (uint8_t)b64[ds->password[j] & 63];
  }
  int use_digest = 0;
  for (int w = 0; w < M_N; w++)
    use_digest |= use_way[w] && way_auth((enum mode)w) != AU_AKA;
  make_pki(use_tm[TM_M2A] ? c : 0);
  /* One stack per (mode, store), all up at once: every round runs each
   * of them, in an order that turns every round. */
  static stack st[TM_N][ST_N];
  int list[TM_N * ST_N], nl = 0;
  for (int t = 0; t < TM_N; t++)
    for (int k = 0; k < ST_N; k++)
      if (use_tm[t] && use[k]) {
        stack_up(&st[t][k], (enum store_kind)k, (enum tls_mode)t, c, g_dir,
                 use_digest && t == TM_M1);
        list[nl++] = t * ST_N + k;
      }
  imsec_x509_anchors *an = NULL;
  if ((rc = imsec_x509_anchors_new(&an)) ||
      (rc = imsec_x509_anchors_add_root_file(an, path("root.pem"))) ||
      (rc = imsec_x509_anchors_set_home_ca_file(an, path("op.pem"))))
    die("anchors", rc);
  printf("reg_bench: mode %s, store %s (sqlite: HSS rollback journal + "
         "registrations WAL, synchronous=FULL, worker thread, in %s), %zu UEs "
         "in flight, up to %zu registrations (calls) or %.0f s per way, %zu "
         "round(s)%s\n",
         modes, store, g_dir, c, want, seconds, rounds,
         use_way[M_CALL] ? "; calls between UE pairs (2k calls 2k+1)" : "");
  static result res[TM_N][ST_N][M_N][MAX_ROUNDS];
  unsigned failed = 0;
  for (size_t r = 0; r < rounds; r++) {
    printf("round %zu\n", r + 1);
    enum mode order[M_N];
    round_order(r, order);
    for (int wi = 0; wi < M_N; wi++) {
      int md = order[wi];
      if (!use_way[md])
        continue;
      /* Interleaved, the order turning every round, so a burst of load
       * from elsewhere on the machine falls on every mode and store
       * alike. */
      for (int j = 0; j < nl; j++) {
        int e = list[(r + (size_t)j) % (size_t)nl], t = e / ST_N, k = e % ST_N;
        if (!way_runs(md, t))
          continue;
        res[t][k][md][r] = run_mode(
            (enum mode)md, (enum tls_mode)t, st[t][k].name, c, want, seconds,
            st[t][k].tls_port, an, st[t][k].p_clock, st[t][k].s_clock);
        failed += res[t][k][md][r].failed;
      }
    }
  }
  printf("median of %zu round(s) (best in brackets):\n", rounds);
  static double med[TM_N][ST_N][M_N][6];
  for (int e = 0; e < nl; e++) {
    int t = list[e] / ST_N, k = list[e] % ST_N;
    for (int wi = 0; wi < M_N; wi++) {
      int md = way_order[wi];
      if (!use_way[md] || !way_runs(md, t))
        continue;
      double v[MAX_ROUNDS];
      for (size_t r = 0; r < rounds; r++)
        v[r] = res[t][k][md][r].rate;
      double b = best(v, rounds);
      med[t][k][md][0] = median(v, rounds);
      for (size_t r = 0; r < rounds; r++)
        v[r] = res[t][k][md][r].p50;
      med[t][k][md][1] = median(v, rounds);
      for (size_t r = 0; r < rounds; r++)
        v[r] = res[t][k][md][r].p99;
      med[t][k][md][2] = median(v, rounds);
      for (size_t r = 0; r < rounds; r++)
        v[r] = res[t][k][md][r].p_us;
      med[t][k][md][3] = median(v, rounds);
      for (size_t r = 0; r < rounds; r++)
        v[r] = res[t][k][md][r].s_us;
      med[t][k][md][4] = median(v, rounds);
      for (size_t r = 0; r < rounds; r++)
        v[r] = res[t][k][md][r].chal;
      med[t][k][md][5] = median(v, rounds);
      int call = md == M_CALL;
      printf("  %-6s %-6s %-30s %7.0f %s (%5.0f)  %sp50 %6.2f ms  p99 %6.2f "
             "ms  CPU/%s P-CSCF %5.0f us S-CSCF %5.0f us\n",
             tm_name[t], st[t][k].name, mode_name((enum mode)md),
             med[t][k][md][0], call ? "call/s" : "reg/s", b,
             call ? "setup " : "", med[t][k][md][1], med[t][k][md][2],
             call ? "call" : "reg", med[t][k][md][3], med[t][k][md][4]);
    }
  }
  for (int t = 0; t < TM_N; t++)
    for (int k = 1; k < ST_N && use[0] && use_tm[t]; k++) {
      if (!use[k])
        continue;
      printf("%s: %s/mem (medians):\n", tm_name[t], st[t][k].name);
      for (int md = M_NEW; md < M_N; md++)
        if (use_way[md] && way_runs(md, t))
          printf(
              "  %-30s reg/s %5.1f%%  p50 %5.2fx  p99 %5.2fx\n",
              mode_name((enum mode)md),
              med[t][0][md][0] > 0 ? 100.0 * med[t][k][md][0] / med[t][0][md][0]
                                   : 0.0,
              med[t][0][md][1] > 0 ? med[t][k][md][1] / med[t][0][md][1] : 0.0,
              med[t][0][md][2] > 0 ? med[t][k][md][2] / med[t][0][md][2] : 0.0);
    }
  /* Each mode against M1 on the same store (medians of reg/s). */
  for (int t = 1; t < TM_N && use_tm[TM_M1]; t++)
    for (int k = 0; k < ST_N && use_tm[t]; k++) {
      if (!use[k])
        continue;
      printf("%s/m1, %s (medians), rate and P-CSCF CPU per op:", tm_name[t],
             st[t][k].name);
      for (int md = M_NEW; md < M_N; md++)
        if (use_way[md] && way_runs(md, t))
          printf("  %s %5.1f%% %4.2fx", way_name[md],
                 med[TM_M1][k][md][0] > 0
                     ? 100.0 * med[t][k][md][0] / med[TM_M1][k][md][0]
                     : 0.0,
                 med[TM_M1][k][md][3] > 0
                     ? med[t][k][md][3] / med[TM_M1][k][md][3]
                     : 0.0);
      printf("\n");
    }
  /* SIP Digest against IMS AKA on the same stack over the same kind of
   * connection (new against new, open against open), measured in the
   * same rounds: the rate (ratio of the medians, and the median of the
   * per-round ratios, which a burst of load elsewhere moves less), and
   * the server CPU per registration (P-CSCF + S-CSCF). */
  for (int e = 0; use_digest && e < nl; e++) {
    int t = list[e] / ST_N, k = list[e] % ST_N;
    if (t != TM_M1)
      continue;
    printf("%s %s: SIP Digest against IMS AKA (medians):\n", tm_name[t],
           st[t][k].name);
    for (int md = M_DMD5; md < M_N; md++) {
      enum mode a = way_conn((enum mode)md);
      if (!use_way[md])
        continue;
      if (!use_way[a]) {
        printf("  %-30s (AKA way %s not run: no ratio)\n",
               mode_name((enum mode)md), way_name[a]);
        continue;
      }
      const double *dg = med[t][k][md], *ak = med[t][k][a];
      double v[MAX_ROUNDS];
      size_t nv = 0;
      for (size_t r = 0; r < rounds; r++)
        if (res[t][k][a][r].rate > 0)
          v[nv++] = res[t][k][md][r].rate / res[t][k][a][r].rate;
      printf("  %-30s reg/s %5.2fx AKA's (per-round %5.2fx)  CPU/reg "
             "P-CSCF %4.2fx S-CSCF %4.2fx both %4.2fx (%.0f + %.0f against "
             "%.0f + %.0f us)  401s/reg %.2f against %.2f\n",
             mode_name((enum mode)md), ak[0] > 0 ? dg[0] / ak[0] : 0.0,
             median(v, nv), ak[3] > 0 ? dg[3] / ak[3] : 0.0,
             ak[4] > 0 ? dg[4] / ak[4] : 0.0,
             ak[3] + ak[4] > 0 ? (dg[3] + dg[4]) / (ak[3] + ak[4]) : 0.0, dg[3],
             dg[4], ak[3], ak[4], dg[5], ak[5]);
    }
  }
  /* Calls against registrations on the same stack (medians): the rate,
   * and the server CPU (P-CSCF + S-CSCF) one complete call costs against
   * one registration of each way. */
  for (int e = 0; use_way[M_CALL] && e < nl; e++) {
    int t = list[e] / ST_N, k = list[e] % ST_N;
    const double *cl = med[t][k][M_CALL];
    printf("%s %s: a call costs the servers %.0f us (P-CSCF %.0f, S-CSCF "
           "%.0f):",
           tm_name[t], st[t][k].name, cl[3] + cl[4], cl[3], cl[4]);
    for (int md = M_NEW; md < M_CALL; md++) {
      const double *rg = med[t][k][md];
      if (!use_way[md] || rg[3] + rg[4] <= 0 || rg[0] <= 0)
        continue;
      printf("  %.2fx the CPU of a registration (%s; call/s %.2fx "
             "reg/s)",
             (cl[3] + cl[4]) / (rg[3] + rg[4]),
             md == M_NEW       ? "new connection"
             : md == M_RESUMED ? "resumed session"
                               : "open connection",
             cl[0] / rg[0]);
      if (md + 1 < M_CALL)
        printf(";");
    }
    printf("\n");
  }
  fflush(stdout);
  for (int e = 0; e < nl; e++)
    stack_down(&st[list[e] / ST_N][list[e] % ST_N]);
  imsec_x509_anchors_del(an);
  imsec_crypto_del(cr);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "reg_bench: could not remove %s\n", g_dir);
  return failed ? 1 : 0;
}
