/*
 * imsec demo: the whole system on loopback (README `make demo`).
 *
 * A fresh trust-domain PKI (crypto/pki.c), UE certificates, PSK files and
 * ISIM profiles in a temporary folder (fixtures.h); an HSS database filled
 * with `imsec hss add`; the home network (`imsec scscf` with the HSS,
 * `imsec pcscf`), a visited network (`imsec pcscf` with a roaming
 * partner's certificate), three rogue P-CSCFs and a home P-CSCF per other
 * deployment mode, all real child processes of /proc/self/exe on
 * 127.0.0.1; an S-CSCF of another operator (a tiny in-process element that
 * challenges with its own realm). The UEs run in this process on the
 * host's net port (one loop thread each), so every outcome is read from
 * the UE's own state, not from text.
 *
 * Scenes, per deployment mode (DESIGN.md §2; `--mode` runs one):
 *  M1   home registration, roaming registration through the visited
 *       P-CSCF, a MESSAGE from UE A delivered to UE B over B's kept-open
 *       TLS flow, a sync failure (profile SQN ahead of the HSS) and its
 *       recovery on the same TLS connection, rogue P-CSCFs refused with
 *       their reasons (a bad certificate before any SIP message is sent to
 *       it, a foreign realm at the challenge)
 *  M2a  a UE client certificate; refused: another IMPI's (403)
 *  M2b  the P-CSCF dials a UE that closed its connection; refused: a UE
 *       server certificate naming another IMPI (480 to the caller)
 *  M3   a configured PSK; refused: a wrong key (the handshake fails); the
 *       AKA-derived PSK on reconnection
 *  DTLS a registration through a link that loses a datagram; refused: a
 *       ClientHello without a cookie (a HelloVerifyRequest, no state)
 *  call (not a deployment mode; over M1) UE A calls UE B through the home
 *       P-CSCF and S-CSCF, B answers, A hangs up; UE C does the same from
 *       the visited network
 *  digest (not a deployment mode; over M1) UE M, a softphone without an
 *       ISIM, registers with SIP Digest over TLS (TS 33.203 Annexes N, O):
 *       a wrong password refused (403), then its password (401 with
 *       SHA-256 and MD5, 200 with rspauth), a MESSAGE each way and a call
 *       each way with UE B (an ISIM UE)
 * A mode this build lacks (demo_modes.h) is named and left out. A ladder
 * of the messages per scene (the children print machine-readable ladder
 * lines, IMSEC_LADDER=1) and a final table with the time per mode. Exit 0
 * only when every check held. Every child is stopped by its pid at the
 * end, also on failure or SIGINT/SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "demo.h"
#include "imsec/crypto_ossl.h"

#define SUB "demo"

static const char help[] =
    "usage: imsec demo [--mode m1|m2a|m2b|m3|dtls|call|digest] [--keep] "
    "[--verbose]\n"
    "\n"
    "Run the whole system on loopback and show what happens, mode by mode\n"
    "(the deployment modes of the design):\n"
    "  m1    the P-CSCF's server certificate and Digest AKA:\n"
    "          a home registration (UE -TLS-> P-CSCF -> S-CSCF with the HSS),\n"
    "          a roaming registration through a visited network's P-CSCF,\n"
    "          a MESSAGE from UE A delivered to UE B over B's kept-open flow,\n"
    "          a sync failure (the ISIM's SQN is ahead of the HSS) and its\n"
    "          recovery on the same TLS connection, rogue P-CSCFs refused\n"
    "          (outside the trust domain, not a roaming partner: at the TLS\n"
    "          handshake, 0 messages sent; realm mismatch: at the challenge)\n"
    "  m2a   mutual TLS: the UE shows its client certificate; refused: the\n"
    "          certificate of another IMPI (403)\n"
    "  m2b   the UE listens with a server certificate and closes its\n"
    "          connection; a MESSAGE makes the P-CSCF dial it; refused: a\n"
    "          UE certificate with the wrong name (the caller gets 480)\n"
    "  m3    shared-key TLS: a configured PSK, and one derived from the AKA\n"
    "          run used to reconnect; refused: a wrong key\n"
    "  dtls  SIP over DTLS with a lost datagram resent; refused: a\n"
    "          ClientHello without a cookie gets only a HelloVerifyRequest\n"
    "  call  calls (over M1): UE A calls UE B through the home P-CSCF and\n"
    "          S-CSCF (INVITE, 180 Ringing, 200 OK, ACK), A hangs up (BYE,\n"
    "          200), every request toward B over B's registered TLS flow;\n"
    "          then UE C calls B from the visited network\n"
    "  digest  a softphone (over M1): UE M has no ISIM but a password (SIP\n"
    "          Digest over TLS, TS 33.203 Annexes N and O); a wrong password\n"
    "          gets 403; then it registers (no sec-agree; the S-CSCF offers\n"
    "          SHA-256 and MD5, the UE answers SHA-256 and checks rspauth),\n"
    "          exchanges a MESSAGE each way with UE B (an ISIM UE), its\n"
    "          identity asserted from its TLS binding, and a call each way\n"
    "Without --mode every mode this build has runs (a mode it lacks is\n"
    "named and left out).\n"
    "\n"
    "Everything is made fresh in a temporary folder (a trust-domain PKI,\n"
    "ISIM profiles, UE certificates, PSK files, an HSS database) and removed\n"
    "afterwards unless --keep. The networks are real `imsec scscf` / `imsec\n"
    "pcscf` processes on 127.0.0.1; the UEs run inside this process. Prints\n"
    "a ladder of the messages of each scene and a final table.\n"
    "\n"
    "  --mode M    run the scenes of mode M only\n"
    "  --keep      leave the temporary folder (its path is printed)\n"
    "  --verbose   also print the children's log lines\n"
    "\n"
    "Exit status: 0 when every scene went as it should, 1 otherwise (also\n"
    "for a --mode this build does not have), 2 for a usage error.\n";

int demo_verbose;
imsec_fx demo_fx;

void demo_say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

const char *demo_path(const char *name) {
  static char ring[16][1024];
  static int k;
  return imsec_fx_path(&demo_fx, name, ring[k++ % 16], sizeof ring[0]);
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  int keep = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--keep") == 0)
      keep = 1;
    else if (strcmp(argv[i], "--verbose") == 0)
      demo_verbose = 1;
    else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
      only = argv[++i];
    else if (strncmp(argv[i], "--mode=", 7) == 0)
      only = argv[i] + 7;
    else if (strcmp(argv[i], "--mode") == 0)
      return cli_usage(
          SUB, "--mode needs a value (m1, m2a, m2b, m3, dtls, call, digest)");
    else
      return cli_usage(SUB, "unknown option '%s'", argv[i]);
  }
  unsigned modes = 0;
  if (only) {
    const demo_mode *m = NULL;
    for (size_t i = 0; i < demo_n_modes; i++)
      if (strcmp(demo_modes[i].name, only) == 0)
        m = &demo_modes[i];
    if (!m)
      return cli_usage(
          SUB, "unknown mode '%s' (m1, m2a, m2b, m3, dtls, call, digest)",
          only);
    if (!m->built)
      return cli_fail(CLI_EXIT_NO, SUB,
                      "mode %s is not in this build (it needs %s)", m->name,
                      m->needs);
    modes = m->bit;
  } else {
    for (size_t i = 0; i < demo_n_modes; i++)
      if (demo_modes[i].built)
        modes |= demo_modes[i].bit;
  }
  int64_t start = imsec_hostnet_now();
  if (children_init() != 0)
    return cli_fail(CLI_EXIT_NO, SUB, "cannot find /proc/self/exe");
  /* Children print machine-readable ladder lines (include/imsec/host_net.h);
   * set before any thread exists. */
  setenv("IMSEC_LADDER", "1", 1);
  /* A memory file system when there is one: the HSS, the S-CSCF's
   * registrations and the UEs' SQNs are written synchronously (fsync), which
   * costs nothing there and much on a busy disk. */
  struct stat sb;
  const char *parent = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
                               access("/dev/shm", W_OK | X_OK) == 0
                           ? "/dev/shm"
                           : NULL;
  if (imsec_fx_init_in(&demo_fx, parent, "imsec-demo") != 0)
    return cli_fail(CLI_EXIT_NO, SUB, "cannot make a temporary folder: %s",
                    strerror(errno));
  signal(SIGINT, children_on_signal);
  signal(SIGTERM, children_on_signal);
  signal(SIGPIPE, SIG_IGN);

  int rc = CLI_EXIT_NO;
  int64_t t_ready = 0, t_files = 0, t_hss = 0;
  demo d;
  memset(&d, 0, sizeof d);
  d.modes = modes;
  demo_say("imsec demo: TLS access security for the IMS, on loopback\n");
  for (size_t i = 0; i < demo_n_modes; i++) {
    const demo_mode *m = &demo_modes[i];
    if (modes & m->bit)
      demo_say("  mode %-6s %s\n", m->name, m->title);
    else if (!m->built)
      demo_say("  mode %-6s not in this build (needs %s): left out\n", m->name,
               m->needs);
  }
  demo_say("  folder %s\n", demo_fx.dir);
  if (imsec_crypto_ossl_new(&d.crypto) != 0) {
    fprintf(stderr, "imsec demo: no crypto\n");
    goto out;
  }
  if (imsec_fx_make_pki(&demo_fx, (int64_t)time(NULL)) != 0) {
    fprintf(stderr, "imsec demo: cannot make the PKI\n");
    goto out;
  }
  demo_say("  PKI: IMS root CA (%s), operator CAs MNC 001 (home), 002 (roaming "
           "partner), 003 (no agreement)\n",
           IMSEC_FX_TD);
  if (imsec_fx_make_profiles(&demo_fx, d.crypto) != 0) {
    fprintf(stderr, "imsec demo: cannot write the ISIM profiles\n");
    goto out;
  }
  demo_say("  ISIM profiles: UE A..L (IMPI 0010100000000NN@%s); UE D's SQN is "
           "ahead of the HSS\n",
           IMSEC_FX_HOME);
  if (DEMO_HAVE_DIGEST)
    demo_say("  softphone profile: UE M, no ISIM: a password file (0600, 24 "
             "random characters); the HSS keeps only H(A1)\n");
  demo_say("  UE certificates (home operator CA, sip:IMPI): F (client), G "
           "(client and server), H's server certificate naming G; PSK files "
           "(0600): the P-CSCF's, J's, a wrong key\n");
  if (children_reader_start() != 0)
    goto out;
  snprintf(d.db, sizeof d.db, "%s", demo_path("hss.db"));
  t_files = imsec_hostnet_now();
  if (fill_hss(d.db) != 0)
    goto out;
  demo_say("  HSS: %zu subscribers in %s (imsec hss add)\n", IMSEC_FX_N_SUBS,
           d.db);
  t_hss = imsec_hostnet_now();
  if (start_networks(&d) != 0)
    goto out;
  t_ready = imsec_hostnet_now();
#ifdef DEMO_HAVE_UE
  if (run_scenes(&d) != 0)
    goto out;
  rc = CLI_EXIT_OK;
  for (size_t i = 0; i < demo_nres; i++)
    if (!demo_res[i].ok)
      rc = CLI_EXIT_NO;
  if (demo_nres != scenes_rows(modes))
    rc = CLI_EXIT_NO;
#else
  fprintf(stderr, "imsec demo: this build has no UE element "
                  "(include/imsec/ue.h); the networks started, no scene "
                  "can run\n");
#endif
out:
  children_stop();
  imsec_hostnet_del(d.foreign_run);
  imsec_fx_free(&demo_fx);
  imsec_crypto_del(d.crypto);
  if (demo_nres) {
    print_table();
    demo_say("\n  %s in %.1f s\n",
             rc == CLI_EXIT_OK ? "every scene went as it should"
                               : "SOME SCENES FAILED",
             (double)(imsec_hostnet_now() - start) / 1000.0);
    if (t_ready)
      demo_say("  time: setup %.2f s (PKI and files %.2f, HSS %.2f, "
               "networks %.2f)",
               (double)(t_ready - start) / 1000.0,
               (double)(t_files - start) / 1000.0,
               (double)(t_hss - t_files) / 1000.0,
               (double)(t_ready - t_hss) / 1000.0);
    for (size_t i = 0; i < demo_n_modes; i++)
      if (modes & demo_modes[i].bit)
        demo_say("; %s %.2f s", demo_modes[i].name,
                 (double)demo_mode_ms[i] / 1000.0);
    demo_say("; de-registration %.2f s\n", (double)demo_end_ms / 1000.0);
  }
  if (keep)
    demo_say("  kept %s\n", demo_fx.dir);
  else if (imsec_fx_remove(&demo_fx) != 0)
    fprintf(stderr, "imsec demo: could not remove %s\n", demo_fx.dir);
  return rc;
}

const cli_cmd imsec_cmd_demo = {
    .name = "demo",
    .summary = "run every deployment mode on loopback",
    .run = run,
    .planned = 0,
};
