/*
 * imsec ue: a UE from an ISIM profile, registering over TLS through a
 * P-CSCF (mode M1), run on the host's net port (include/imsec/host_net.h)
 * with the element's own ops (imsec_ue_ops). Each step is one log line on
 * stderr ("ue INFO: ..."); the outcome is printed on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "dgram_opts.h"
#include "sqn_file.h"
#include "ue_m2.h"
#include "imsec/crypto.h"
#include "imsec/host_net.h"
#include "imsec/isim.h"
#include "imsec/svc.h"
#include "imsec/ue.h"
#include "imsec/x509.h"
#include "imsec/crypto_ossl.h"

#define SUB "ue"
/* SQN writes queued at the worker: one at a time in practice (the host
 * keeps one PERSIST at the store). */
#define SQN_QUEUE_MAX 8

static const char help[] =
    "usage: imsec ue register -c PROFILE.yaml --pcscf [tls:|dtls:]HOST:PORT\n"
    "                         [options]\n"
    "       imsec ue run      -c PROFILE.yaml --pcscf ADDR [options]\n"
    "       imsec ue message  -c PROFILE.yaml --pcscf ADDR --to IMPU\n"
    "                         [options] TEXT\n"
    "       imsec ue call     -c PROFILE.yaml --pcscf ADDR --to IMPU\n"
    "                         [--hold S] [--cancel-after S] [options]\n"
    "\n"
    "Act as a UE (mode M1): open TLS to the P-CSCF (dtls: DTLS over UDP,\n"
    "with RFC 3261 §17 retransmissions and a STUN keep-alive: docs/DTLS.md),\n"
    "REGISTER with security agreement (Security-Client: tls), decide\n"
    "whether the P-CSCF may act for the home network (its certificate,\n"
    "the name dialled, the realm of the challenge, the profile's trust\n"
    "domain and roaming partners), run\n"
    "IMS AKA (Digest AKAv1/AKAv2; a bad MAC refuses the network, a stale\n"
    "SQN resynchronises with AUTS on the same connection) and echo the\n"
    "P-CSCF's Security-Server in Security-Verify.\n"
    "\n"
    "  register  register, print the trust decision and the registration,\n"
    "            then de-register\n"
    "  run       stay registered: answer MESSAGE and OPTIONS (MESSAGEs are\n"
    "            printed on stdout) and calls (--answer), re-register before\n"
    "            expiry, reconnect (resuming the TLS session) when the\n"
    "            connection fails; on SIGTERM or SIGINT de-register and stop\n"
    "  message   register, send TEXT as a MESSAGE to --to, print the\n"
    "            answer, de-register\n"
    "  call      register, call --to (an INVITE with an SDP offer, no\n"
    "            media), print the ladder on stdout (one line per SIP\n"
    "            message in or out: '-> INVITE sip:...', '<- 180 Ringing'),\n"
    "            ACK the answer, hold --hold seconds, BYE, print 'call:\n"
    "            ended cleanly (BYE 200)', de-register. A refusal or a\n"
    "            failure is one line: 'call: rejected 486 Busy Here',\n"
    "            'call: no answer (408)', ...\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   the ISIM profile (see `imsec isim new`; its\n"
    "                      cert_file/key_file, when set, are shown to a\n"
    "                      P-CSCF that asks for a client certificate: mode\n"
    "                      M2a); an SQN\n"
    "                      accepted is written back (mode 0600, synced)\n"
    "                      before the answer leaves; when it cannot be,\n"
    "                      the challenge is not answered and the UE fails.\n"
    "                      A profile with password_file (imsec isim new\n"
    "                      --digest) has no ISIM: the UE answers SIP\n"
    "                      Digest challenges (SHA-256, else MD5, qop=auth)\n"
    "                      of its home realm with the password, without\n"
    "                      sec-agree (TS 33.203 Annexes N, O;\n"
    "                      docs/DIGEST.md)\n"
    "  --pcscf [tls:|dtls:]HOST:PORT\n"
    "                      the P-CSCF's address ([v6]:PORT for IPv6); tls:\n"
    "                      (the default) or dtls: (SIP over DTLS on UDP)\n"
    "  --pcscf-name NAME   the P-CSCF host name: TLS server name and the name\n"
    "                      its certificate must carry (default: HOST)\n"
    "  --policy P          trust-domain or strict-home (default: profile)\n"
    "  --to IMPU           message, call: the target (sip: or tel: URI)\n"
    "  --hold S            call: seconds the answered call lasts before our\n"
    "                      BYE (default 2; 0: at once); a BYE from the other\n"
    "                      side meanwhile ends it cleanly too\n"
    "  --cancel-after S    call: CANCEL when not answered after S s\n"
    "  --answer auto|busy|ring\n"
    "                      run: incoming calls get 180 Ringing, then 200\n"
    "                      with an SDP answer (auto, the default), or 486\n"
    "                      Busy Here (busy), or ring until the caller gives\n"
    "                      up (ring). Each is printed: 'call from URI:\n"
    "                      answered', 'call from URI: busy (486)', 'call\n"
    "                      ended (remote-bye)'\n"
    "  --busy              run: --answer busy\n"
    "  --answer-delay-ms MS  run: ring MS ms before answering (default 0)\n"
    "  --expires S         registration time asked for (default 600)\n"
    "  --timeout S         register/message/call: give up after S s without\n"
    "                      a registration, an answer (message) or the\n"
    "                      call's answer (call: then CANCEL) (default 60)\n"
    "  --listen tls:IP:PORT  mode M2b: serve TLS there with the profile's\n"
    "                      cert_file/key_file (EKU serverAuth: imsec pki ue\n"
    "                      --server) and name it in the Contact; the\n"
    "                      P-CSCF dials it when the UE has no connection.\n"
    "                      An inbound connection must show the client\n"
    "                      certificate of the P-CSCF the UE registered\n"
    "                      through (the trust decision below, EKU\n"
    "                      clientAuth); others are closed, one log line\n"
    "  --close-after-register  mode M2b: close the connection after each\n"
    "                      200 to a REGISTER (needs --listen)\n"
    "  --psk               mode M3, configured: connect with the profile's\n"
    "                      PSK (psk_identity, psk_file) instead of the\n"
    "                      P-CSCF's certificate (TLS 1.3 external PSK with\n"
    "                      ECDHE, TLS 1.2 ECDHE-PSK); no certificate\n"
    "                      decision, the realm must still be home_domain\n"
    "  --aka-psk           mode M3, AKA-derived (docs/M3.md): after each\n"
    "                      registration derive a PSK from the AKA run and\n"
    "                      reconnect with it while the registration lives\n"
    "                      (no certificate, no new REGISTER)\n"
    "  --reconnect         message: after registering, close the connection\n"
    "                      and open a new one (with --aka-psk: on the\n"
    "                      derived PSK), then send the MESSAGE over it\n"
    "  --keepalive S       DTLS: once registered, a STUN keep-alive (RFC\n"
    "                      5626 §4.4.2) every 80-100% of S seconds\n"
    "                      (default 25); unanswered for 10 s, the UE\n"
    "                      reconnects and registers again. 0 or off: none\n"
    "  --t1-ms MS, --t2-ms MS, --t4-ms MS\n"
    "                      DTLS: RFC 3261 §17.1.1.1 T1 (default 500), T2\n"
    "                      (4000, not below T1), T4 (5000): a REGISTER or\n"
    "                      MESSAGE is sent again at T1, doubling up to T2,\n"
    "                      until answered. These need --pcscf dtls:\n"
    "  --ladder            print every SIP message in and out on stderr\n"
    "  -v, --verbose       debug log lines, and the network's own (why a\n"
    "                      connection failed)\n"
    "\n"
    "Trust: the P-CSCF's certificate (chain to the profile's anchors, its\n"
    "name = the name dialled, inside the trust domain, issued by the home\n"
    "operator's CA or a roaming partner's; strict-home: a home host and the\n"
    "home CA) is judged as soon as the TLS handshake completes: a P-CSCF\n"
    "that fails receives no SIP message, so never the IMPI. Only the realm\n"
    "of the challenge (the home network domain name) waits for the 401.\n"
    "The decision is printed as 'trust: trusted (home|roaming partner X)\n"
    "[ok] ...' or 'trust: rejected [REASON] ...' (see docs/TRUST.md).\n"
    "\n"
    "Retries: register and message keep trying until --timeout: a refused\n"
    "connection, a TLS handshake that fails or times out, a REGISTER with\n"
    "no answer and a 503 from the P-CSCF are retried on a new connection\n"
    "after a back-off (0.5 s, doubling up to 4 s); a 503's Retry-After is\n"
    "honoured, and when it ends after --timeout the UE gives up at once.\n"
    "Each retry is one log line ('...; retry N in MS ms'). A rejected\n"
    "P-CSCF (trust) or a network that fails AKA (bad MAC) is a final\n"
    "answer, never retried. run retries forever (back-off up to 30 s).\n"
    "HOST is resolved once at start; a name that does not resolve is one\n"
    "line 'cannot resolve HOST: ...' and exit status 2.\n"
    "\n"
    "Exit status: 0 registered (message: delivered, 2xx; call: the call\n"
    "was answered and ended cleanly, with a 2xx to our BYE or a BYE from\n"
    "the other side during --hold), 1 refused by the UE or failed (no\n"
    "registration within --timeout included; call: refused, not answered,\n"
    "cancelled, or not ended cleanly), 2 usage or profile error, or a\n"
    "P-CSCF host name that does not resolve.\n";

enum mode { M_REGISTER, M_RUN, M_MESSAGE, M_CALL };

/* What `run` printed about each call so far. */
#define SEEN_MAX (2 * IMSEC_UE_MAX_CALLS)
typedef struct seen_call {
  int handle;
  int said_ring, said_answer, said_end;
} seen_call;

typedef struct uectx {
  imsec_ue *ue;
  enum mode mode;
  ue_sqn_file sqn; /* the profile's SQN, written by the svc worker */
  /* snapshot taken on the loop thread (a call every few ms from the
   * waiting thread) */
  pthread_mutex_t mu;
  imsec_ue_status snap;
  char route[IMSEC_UE_URI_CAP];
  char assoc[IMSEC_UE_MAX_ASSOCIATED][IMSEC_UE_URI_CAP];
  size_t n_assoc;
  char contact[IMSEC_UE_URI_CAP];
  int msg_handle;
  atomic_int msg_status; /* 0 pending; >0 SIP status; <0 imsec_err */
  const char *to;
  const char *text;
  imsec_time_ms deadline; /* register/message: --timeout; 0 none */
  uint64_t old_flow;      /* --reconnect: the flow closed */
  /* call: the call's handle (or a negative imsec_err) and a copy of its
   * state taken on the loop thread; the ladder printed while it lasts */
  atomic_int call_handle;
  imsec_ue_call_info call;
  atomic_int ladder_on;
  int ladder_whole;         /* --ladder: whole messages on stderr as well */
  int ladder_machine;       /* IMSEC_LADDER=1: the machine lines on stderr */
  seen_call seen[SEEN_MAX]; /* run: calls reported */
  int max_seen;             /* the newest handle reported */
} uectx;

/* ------------------------------------------------------- the element ops */

/* RFC 3261 §21 reason phrases of the final responses a call may get. */
static const char *reason_of(unsigned code) {
  switch (code) {
  case 200:
    return "OK";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 430:
    return "Flow Failed";
  case 480:
    return "Temporarily Unavailable";
  case 481:
    return "Call/Transaction Does Not Exist";
  case 483:
    return "Too Many Hops";
  case 486:
    return "Busy Here";
  case 487:
    return "Request Terminated";
  case 488:
    return "Not Acceptable Here";
  case 500:
    return "Server Internal Error";
  case 503:
    return "Service Unavailable";
  case 600:
    return "Busy Everywhere";
  case 603:
    return "Decline";
  default:
    return code >= 600   ? "Global Failure"
           : code >= 500 ? "Server Error"
           : code >= 400 ? "Request Failure"
                         : "Redirection";
  }
}

/* run: one line per step of each incoming call (on the loop thread). */
static void report_calls(uectx *x) {
  int hs[SEEN_MAX];
  size_t n = imsec_ue_calls(x->ue, hs, SEEN_MAX);
  for (size_t i = 0; i < n; i++) {
    imsec_ue_call_info ci;
    if (imsec_ue_call_get(x->ue, hs[i], &ci) < 0 || !ci.incoming)
      continue;
    seen_call *sc = NULL, *free_sc = NULL;
    for (size_t j = 0; j < SEEN_MAX; j++) {
      if (x->seen[j].handle == ci.handle)
        sc = &x->seen[j];
      else if (!free_sc && (!x->seen[j].handle || x->seen[j].said_end))
        free_sc = &x->seen[j];
    }
    if (!sc) {
      /* Handles grow: one at or below the newest seen was reported and
       * forgotten already. */
      if (!free_sc || ci.handle <= x->max_seen)
        continue;
      memset(free_sc, 0, sizeof *free_sc);
      free_sc->handle = ci.handle;
      x->max_seen = ci.handle;
      sc = free_sc;
    }
    if (!sc->said_ring && !ci.final_status &&
        ci.state == IMSEC_UE_CALL_RINGING) {
      printf("call from %s: ringing\n", ci.peer);
      sc->said_ring = 1;
    }
    if (!sc->said_answer && ci.final_status) {
      if (ci.final_status >= 200 && ci.final_status < 300)
        printf("call from %s: answered\n", ci.peer);
      else if (ci.final_status == 486)
        printf("call from %s: busy (486)\n", ci.peer);
      else
        printf("call from %s: %s (%u)\n", ci.peer,
               ci.final_status == 487 ? "cancelled" : "refused",
               ci.final_status);
      sc->said_answer = 1;
    }
    if (!sc->said_end && ci.state == IMSEC_UE_CALL_ENDED) {
      if (ci.final_status >= 200 && ci.final_status < 300)
        printf("call ended (%s)\n", imsec_ue_call_end_name(ci.end));
      sc->said_end = 1;
    }
    fflush(stdout);
  }
}

/* The ladder of a call on stdout (on the loop thread): "-> INVITE
 * sip:...", "<- 180 Ringing"; with --ladder the whole message on stderr
 * as well. */
static void call_ladder(void *user, const imsec_hostnet_ladder_ev *ev) {
  uectx *x = user;
  size_t first = 0;
  while (first < ev->len && ev->msg[first] != '\r' && ev->msg[first] != '\n')
    first++;
  if (x->ladder_machine) {
    char local[300] = "?", peer[300] = "?";
    if (ev->local && imsec_addr_format(ev->local, local, sizeof local) < 0)
      snprintf(local, sizeof local, "?");
    if (ev->peer && imsec_addr_format(ev->peer, peer, sizeof peer) < 0)
      snprintf(peer, sizeof peer, "?");
    fprintf(stderr, "imsec-ladder %lld %s %s %llu %s %s %.*s\n",
            (long long)ev->now, ev->elem, ev->out ? "out" : "in",
            (unsigned long long)ev->flow, local, peer, (int)first,
            (const char *)ev->msg);
  }
  if (x->ladder_whole)
    fprintf(stderr, "%s %s %.*s\n", ev->elem, ev->out ? "->" : "<-",
            (int)ev->len, (const char *)ev->msg);
  if (!atomic_load(&x->ladder_on))
    return;
  const char *p = (const char *)ev->msg;
  size_t n = first;
  if (n > 8 && memcmp(p, "SIP/2.0 ", 8) == 0) { /* a response */
    p += 8;
    n -= 8;
  } else if (n > 8 && memcmp(p + n - 8, " SIP/2.0", 8) == 0) {
    n -= 8; /* a request: method and Request-URI */
  }
  char line[600];
  size_t k = 0;
  for (size_t i = 0; i < n && k < sizeof line - 1; i++)
    line[k++] = (p[i] >= 0x20 && p[i] != 0x7f) ? p[i] : '?';
  line[k] = 0;
  printf("%s %s\n", ev->out ? "->" : "<-", line);
  fflush(stdout);
}

/* On the loop thread, called in by the waiting thread: snapshot the
 * status for it, print received MESSAGEs. */
static void call_snapshot(void *self, imsec_time_ms now, imsec_out *o,
                          void *arg) {
  (void)self;
  (void)now;
  (void)o;
  uectx *x = arg;
  imsec_ue_status st;
  imsec_ue_get_status(x->ue, &st);
  imsec_ue_message m;
  while (imsec_ue_inbox_pop(x->ue, &m)) {
    printf("MESSAGE from %s%s%s%s: %.*s\n", m.from,
           m.asserted[0] ? " (asserted " : "", m.asserted,
           m.asserted[0] ? ")" : "", (int)m.len, (const char *)m.body);
    fflush(stdout);
    imsec_ue_message_free(&m);
  }
  if (x->msg_handle > 0) {
    int r = imsec_ue_message_result(x->ue, x->msg_handle);
    if (r != 0)
      atomic_store(&x->msg_status, r);
  }
  if (x->mode == M_RUN)
    report_calls(x);
  imsec_ue_call_info ci;
  int ch = atomic_load(&x->call_handle);
  int have_call = ch > 0 && imsec_ue_call_get(x->ue, ch, &ci) == 0;
  pthread_mutex_lock(&x->mu);
  if (have_call)
    x->call = ci;
  x->snap = st;
  const char *r = imsec_ue_service_route(x->ue, 0);
  snprintf(x->route, sizeof(x->route), "%s", r ? r : "");
  x->n_assoc = 0;
  for (const char *a; x->n_assoc < IMSEC_UE_MAX_ASSOCIATED &&
                      (a = imsec_ue_associated_uri(x->ue, x->n_assoc));)
    snprintf(x->assoc[x->n_assoc++], IMSEC_UE_URI_CAP, "%s", a);
  snprintf(x->contact, sizeof(x->contact), "%s", imsec_ue_contact(x->ue));
  pthread_mutex_unlock(&x->mu);
}

/* Take a snapshot now, on the loop thread. A loop that does not take the
 * call within a second leaves the last snapshot in place. */
static void look(imsec_hostnet *r, uectx *x) {
  if (imsec_hostnet_call_wait(r, call_snapshot, x, 1000) != 0)
    return; /* the last snapshot stays */
}

static void call_dereg(void *s, imsec_time_ms now, imsec_out *o, void *arg) {
  (void)s;
  uectx *x = arg;
  if (imsec_ue_deregister(x->ue, now, o) < 0)
    fprintf(stderr, "imsec ue: cannot de-register\n");
}

static void call_send(void *s, imsec_time_ms now, imsec_out *o, void *arg) {
  (void)s;
  uectx *x = arg;
  int h =
      imsec_ue_send_message(x->ue, x->to, "text/plain",
                            (const uint8_t *)x->text, strlen(x->text), now, o);
  if (h < 0)
    atomic_store(&x->msg_status, h);
  else
    x->msg_handle = h;
}

static void call_start(void *s, imsec_time_ms now, imsec_out *o, void *arg) {
  (void)s;
  uectx *x = arg;
  atomic_store(&x->ladder_on, 1);
  int h = imsec_ue_call(x->ue, x->to, now, o);
  atomic_store(&x->call_handle, h);
}

static void call_hangup(void *s, imsec_time_ms now, imsec_out *o, void *arg) {
  (void)s;
  uectx *x = arg;
  int h = atomic_load(&x->call_handle);
  if (h > 0)
    if (imsec_ue_call_hangup(x->ue, h, now, o) < 0)
      fprintf(stderr, "imsec ue: the call is over already\n");
}

static imsec_ue_status snapshot(uectx *x) {
  pthread_mutex_lock(&x->mu);
  imsec_ue_status s = x->snap;
  pthread_mutex_unlock(&x->mu);
  return s;
}

static int finished(const imsec_ue_status *s) {
  return (s->state == IMSEC_UE_REFUSED || s->state == IMSEC_UE_FAILED) &&
         s->flow == 0;
}

/* ------------------------------------------------------------- options */

typedef struct args {
  enum mode mode;
  const char *config, *pcscf, *pcscf_name, *policy, *to, *text;
  uint32_t expires;
  int64_t timeout_s;
  int ladder, verbose;
  ue_m2_args m2;                  /* --listen, --close-after-register */
  int psk, aka_psk, reconnect;    /* mode M3 */
  ue_dgram_args dg;               /* DTLS timing */
  int64_t hold_s, cancel_after_s; /* call; cancel_after 0: none */
  int answer;                     /* run: imsec_ue_answer */
  int64_t answer_delay_ms;
} args;

/* A whole number from `min` to `max` for option `opt`; `unit` ("" or
 * "of seconds ") goes into the usage line. */
static int parse_range(const char *opt, const char *v, uint64_t min,
                       uint64_t max, const char *unit, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (!*v || *end || errno || n < min || n > max || v[0] == '-')
    return cli_usage(SUB, "%s must be a number %sfrom %llu to %llu, not '%s'",
                     opt, unit, (unsigned long long)min,
                     (unsigned long long)max, v);
  *out = n;
  return 0;
}

static int parse_u(const char *opt, const char *v, uint64_t max,
                   uint64_t *out) {
  return parse_range(opt, v, 1, max, "", out);
}

static int parse_args(int argc, char **argv, args *a) {
  memset(a, 0, sizeof(*a));
  a->expires = 600;
  a->timeout_s = 60;
  a->hold_s = 2;
  if (argc < 2)
    return cli_usage(SUB, "missing a verb: register, run, message or call");
  if (strcmp(argv[1], "register") == 0)
    a->mode = M_REGISTER;
  else if (strcmp(argv[1], "run") == 0)
    a->mode = M_RUN;
  else if (strcmp(argv[1], "message") == 0)
    a->mode = M_MESSAGE;
  else if (strcmp(argv[1], "call") == 0)
    a->mode = M_CALL;
  else
    return cli_usage(SUB, "unknown verb '%s' (register, run, message or call)",
                     argv[1]);
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i];
    const char **slot = NULL;
    int m2 = ue_m2_flag(&a->m2, argc, argv, &i); /* modes M2a, M2b */
    if (m2 < 0)
      return CLI_EXIT_USAGE;
    if (m2)
      continue;
    int dg = ue_dgram_flag(&a->dg, argc, argv, &i); /* DTLS timing */
    if (dg < 0)
      return CLI_EXIT_USAGE;
    if (dg)
      continue;
    if (!strcmp(o, "-c") || !strcmp(o, "--config"))
      slot = &a->config;
    else if (!strcmp(o, "--pcscf"))
      slot = &a->pcscf;
    else if (!strcmp(o, "--pcscf-name"))
      slot = &a->pcscf_name;
    else if (!strcmp(o, "--policy"))
      slot = &a->policy;
    else if (!strcmp(o, "--to") && (a->mode == M_MESSAGE || a->mode == M_CALL))
      slot = &a->to;
    else if ((!strcmp(o, "--hold") || !strcmp(o, "--cancel-after")) &&
             a->mode == M_CALL) {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", o);
      int hold = !strcmp(o, "--hold");
      uint64_t n;
      int rv =
          parse_range(o, argv[++i], hold ? 0 : 1, 86400, "of seconds ", &n);
      if (rv)
        return rv;
      if (hold)
        a->hold_s = (int64_t)n;
      else
        a->cancel_after_s = (int64_t)n;
      continue;
    } else if (!strcmp(o, "--answer") && a->mode == M_RUN) {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", o);
      const char *v = argv[++i];
      if (!strcmp(v, "auto"))
        a->answer = IMSEC_UE_ANSWER_AUTO;
      else if (!strcmp(v, "busy"))
        a->answer = IMSEC_UE_ANSWER_BUSY;
      else if (!strcmp(v, "ring"))
        a->answer = IMSEC_UE_ANSWER_RING;
      else
        return cli_usage(SUB, "--answer must be auto, busy or ring, not '%s'",
                         v);
      continue;
    } else if (!strcmp(o, "--busy") && a->mode == M_RUN) {
      a->answer = IMSEC_UE_ANSWER_BUSY;
      continue;
    } else if (!strcmp(o, "--answer-delay-ms") && a->mode == M_RUN) {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", o);
      uint64_t n;
      int rv = parse_range(o, argv[++i], 0, 3600000, "", &n);
      if (rv)
        return rv;
      a->answer_delay_ms = (int64_t)n;
      continue;
    } else if (!strcmp(o, "--ladder")) {
      a->ladder = 1;
      continue;
    } else if (!strcmp(o, "--psk")) {
      a->psk = 1;
      continue;
    } else if (!strcmp(o, "--aka-psk")) {
      a->aka_psk = 1;
      continue;
    } else if (!strcmp(o, "--reconnect") && a->mode == M_MESSAGE) {
      a->reconnect = 1;
      continue;
    } else if (!strcmp(o, "-v") || !strcmp(o, "--verbose")) {
      a->verbose = 1;
      continue;
    } else if (!strcmp(o, "--expires") || !strcmp(o, "--timeout")) {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", o);
      uint64_t v = 0;
      int rv = parse_u(o, argv[++i],
                       !strcmp(o, "--expires") ? 0x7fffffff : 86400, &v);
      if (rv)
        return rv;
      if (!strcmp(o, "--expires"))
        a->expires = (uint32_t)v;
      else
        a->timeout_s = (int64_t)v;
      continue;
    } else if (o[0] == '-' && o[1]) {
      return cli_usage(SUB, "unknown option '%s'", o);
    } else if (a->mode == M_MESSAGE && !a->text) {
      a->text = o;
      continue;
    } else {
      return cli_usage(SUB, "unexpected argument '%s'", o);
    }
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", o);
    if (*slot)
      return cli_usage(SUB, "%s given twice", o);
    *slot = argv[++i];
  }
  if (!a->config)
    return cli_usage(SUB, "missing -c PROFILE.yaml");
  if (!a->pcscf)
    return cli_usage(SUB, "missing --pcscf HOST:PORT");
  if ((a->mode == M_MESSAGE || a->mode == M_CALL) && !a->to)
    return cli_usage(SUB, "missing --to IMPU");
  if (a->mode == M_MESSAGE && !a->text)
    return cli_usage(SUB, "missing the TEXT of the MESSAGE");
  return 0;
}

/* The P-CSCF address: [tls:|dtls:]HOST:PORT or [v6]:PORT; no prefix is
 * TLS (mode M1), dtls: SIP over DTLS on UDP (draft-jennings-sip-dtls). */
static int parse_pcscf(const char *v, imsec_addr *out) {
  char buf[300];
  int prefixed = !strncmp(v, "tls:", 4) || !strncmp(v, "dtls:", 5);
  if (snprintf(buf, sizeof(buf), "%s%s", prefixed ? "" : "tls:", v) >=
          (int)sizeof(buf) ||
      imsec_addr_parse(imsec_str_c(buf), out) < 0)
    return cli_usage(SUB, "--pcscf '%s' is not [tls:|dtls:]HOST:PORT", v);
  return 0;
}

/* Resolve a host name once, before anything runs, into the address the UE
 * dials; `name` keeps the name (the TLS server name and the name the
 * certificate must carry, RFC 5922 §7.2). An IP literal stays as it is.
 * Returns 0, or prints one line and returns CLI_EXIT_USAGE. */
static int resolve_pcscf(imsec_addr *a, char *name, size_t cap) {
  snprintf(name, cap, "%s", a->host);
  unsigned char bin[16];
  if (inet_pton(AF_INET, a->host, bin) == 1 ||
      inet_pton(AF_INET6, a->host, bin) == 1)
    return 0;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(a->host, NULL, &hints, &res);
  if (rc != 0 || !res) {
    const char *why = rc == EAI_SYSTEM ? strerror(errno)
                      : rc             ? gai_strerror(rc)
                                       : "no address";
    if (res)
      freeaddrinfo(res);
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot resolve %s: %s", name, why);
  }
  char num[NI_MAXHOST];
  rc = getnameinfo(res->ai_addr, res->ai_addrlen, num, sizeof(num), NULL, 0,
                   NI_NUMERICHOST);
  freeaddrinfo(res);
  if (rc != 0 || strlen(num) >= sizeof(a->host))
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot resolve %s: %s", name,
                    rc ? gai_strerror(rc) : "address too long");
  snprintf(a->host, sizeof(a->host), "%s", num);
  return 0;
}

/* -------------------------------------------------------------- the run */

static void print_trust(const imsec_ue_status *s) {
  if (!s->trust_decided)
    return;
  const imsec_trust_result *t = &s->trust;
  if (t->verdict == IMSEC_TRUST_HOME)
    printf("trust: trusted (home) [%s] %s\n",
           imsec_trust_reason_code(t->reason), t->why);
  else if (t->verdict == IMSEC_TRUST_PARTNER)
    printf("trust: trusted (roaming partner %s) [%s] %s\n", t->partner,
           imsec_trust_reason_code(t->reason), t->why);
  else
    printf("trust: rejected [%s] %s\n", imsec_trust_reason_code(t->reason),
           t->why);
}

static void print_registered(uectx *x, const imsec_ue_status *s,
                             const char *impu) {
  pthread_mutex_lock(&x->mu);
  printf("registered: %s as %s for %u s\n", impu, x->contact, s->expires);
  if (x->route[0])
    printf("service-route: %s\n", x->route);
  for (size_t i = 0; i < x->n_assoc; i++)
    printf("associated-uri: %s\n", x->assoc[i]);
  pthread_mutex_unlock(&x->mu);
  fflush(stdout);
}

/* Wait until `pred` holds, the run is stopped (signal), or `deadline`
 * passes (0: none). Returns 1 (pred), 0 (signal/stop), -1 (timeout). */
static int wait_for(imsec_hostnet *r, uectx *x, int (*pred)(uectx *),
                    imsec_time_ms deadline) {
  for (;;) {
    look(r, x);
    if (pred(x))
      return 1;
    if (deadline && imsec_hostnet_now() >= deadline)
      return -1;
    if (imsec_hostnet_wait(r, 20) == 0) {
      look(r, x);
      return pred(x) ? 1 : 0;
    }
  }
}

/* The next attempt is due only after the deadline (a 503's Retry-After
 * that does not fit --timeout): waiting for it is pointless. */
static int retry_too_late(const uectx *x, const imsec_ue_status *s) {
  return x->deadline && s->state == IMSEC_UE_CONNECTING && s->retry_at &&
         s->retry_at > x->deadline;
}

static int p_settled(uectx *x) {
  imsec_ue_status s = snapshot(x);
  return s.state == IMSEC_UE_REGISTERED || finished(&s) ||
         retry_too_late(x, &s);
}
static int p_gone(uectx *x) {
  imsec_ue_status s = snapshot(x);
  return s.state == IMSEC_UE_IDLE || finished(&s);
}
static int p_failed(uectx *x) {
  imsec_ue_status s = snapshot(x);
  return finished(&s);
}
/* --reconnect: registered again on a flow that is not the one closed. */
static int p_reconnected(uectx *x) {
  imsec_ue_status s = snapshot(x);
  return (s.state == IMSEC_UE_REGISTERED && s.flow && s.flow != x->old_flow) ||
         finished(&s);
}

static void call_reconnect(void *s, imsec_time_ms now, imsec_out *o,
                           void *arg) {
  (void)s;
  uectx *x = arg;
  if (imsec_ue_reconnect(x->ue, now, o) < 0)
    fprintf(stderr, "imsec ue: cannot reconnect\n");
}

static int p_answered(uectx *x) {
  return atomic_load(&x->msg_status) != 0 || p_failed(x);
}

/* Poll without imsec_hostnet_wait (after a stop it returns at once). */
static int poll_for(imsec_hostnet *r, uectx *x, int (*pred)(uectx *),
                    int64_t ms) {
  imsec_time_ms end = imsec_hostnet_now() + ms;
  for (;;) {
    look(r, x);
    if (pred(x))
      return 1;
    if (imsec_hostnet_now() >= end)
      return 0;
    usleep(10000);
  }
}

static void leave(imsec_hostnet *r, uectx *x) {
  imsec_ue_status s = snapshot(x);
  if (s.state == IMSEC_UE_IDLE || finished(&s))
    return;
  if (imsec_hostnet_call(r, call_dereg, x) == 0 &&
      !poll_for(r, x, p_gone, 5000))
    fprintf(stderr, "imsec ue: no answer to the de-REGISTER; leaving\n");
}

static imsec_ue_call_info call_state(uectx *x) {
  pthread_mutex_lock(&x->mu);
  imsec_ue_call_info c = x->call;
  pthread_mutex_unlock(&x->mu);
  return c;
}

/* Hang up from the waiting thread; 0 when the loop took it. */
static int hangup(imsec_hostnet *r, uectx *x) {
  return imsec_hostnet_call(r, call_hangup, x);
}

static int p_call_started(uectx *x) {
  return atomic_load(&x->call_handle) != 0;
}
static int p_call_answered(uectx *x) {
  imsec_ue_call_info c = call_state(x);
  return c.state == IMSEC_UE_CALL_CONFIRMED || c.state == IMSEC_UE_CALL_ENDED ||
         p_failed(x);
}
static int p_call_ended(uectx *x) {
  return call_state(x).state == IMSEC_UE_CALL_ENDED || p_failed(x);
}

/* Why a call that never came up failed, as one line. */
static void print_not_up(const imsec_ue_call_info *c, const args *a) {
  switch (c->end) {
  case IMSEC_UE_END_REJECTED:
    printf("call: rejected %u %s\n", c->final_status,
           reason_of(c->final_status));
    break;
  case IMSEC_UE_END_CANCELLED:
    printf("call: cancelled (%u)%s\n", c->final_status ? c->final_status : 487,
           a->cancel_after_s ? ": not answered in --cancel-after" : "");
    break;
  case IMSEC_UE_END_TIMEOUT:
    printf("call: no answer (408)\n");
    break;
  case IMSEC_UE_END_FLOW_LOST:
    printf("call: failed: the flow to the P-CSCF went down\n");
    break;
  default:
    printf("call: failed (%s)\n", imsec_ue_call_end_name(c->end));
    break;
  }
}

/* The call verb, once registered: INVITE, wait for the answer (CANCEL
 * after --cancel-after or at --timeout), hold, BYE. Exit 0 only for a call
 * that came up and ended cleanly. */
static int do_call(imsec_hostnet *r, uectx *x, const args *a,
                   imsec_time_ms deadline) {
  if (imsec_hostnet_call(r, call_start, x) != 0 ||
      wait_for(r, x, p_call_started, deadline) <= 0) {
    printf("call: not placed (stopped)\n");
    return CLI_EXIT_NO;
  }
  int h = atomic_load(&x->call_handle);
  if (h < 0) {
    printf("call: cannot call %s: %s\n", a->to, imsec_strerror(h));
    return CLI_EXIT_NO;
  }
  imsec_time_ms give_up = deadline;
  int by_cancel_after = 0;
  if (a->cancel_after_s) {
    imsec_time_ms c = imsec_hostnet_now() + a->cancel_after_s * 1000;
    if (!give_up || c < give_up) {
      give_up = c;
      by_cancel_after = 1;
    }
  }
  int w = wait_for(r, x, p_call_answered, give_up);
  imsec_ue_call_info c = call_state(x);
  if (w == 0) { /* a signal: hang up, quietly */
    if (hangup(r, x) == 0)
      (void)poll_for(r, x, p_call_ended, 5000);
    printf("call: stopped\n");
    return CLI_EXIT_NO;
  }
  if (w < 0) {
    /* Not answered in time: CANCEL (RFC 3261 §9.1), wait for the 487. */
    if (hangup(r, x) == 0)
      (void)poll_for(r, x, p_call_ended, 40000);
    c = call_state(x);
    if (c.state == IMSEC_UE_CALL_ENDED && c.end != IMSEC_UE_END_CANCELLED &&
        c.end != IMSEC_UE_END_LOCAL_BYE) {
      print_not_up(&c, a);
    } else if (by_cancel_after) {
      printf("call: cancelled after %lld s without an answer (%u)\n",
             (long long)a->cancel_after_s,
             c.final_status ? c.final_status : 487);
    } else {
      printf("call: no answer within %lld s (cancelled)\n",
             (long long)a->timeout_s);
    }
    return CLI_EXIT_NO;
  }
  if (c.state != IMSEC_UE_CALL_CONFIRMED) {
    if (c.state == IMSEC_UE_CALL_ENDED)
      print_not_up(&c, a);
    else
      printf("call: failed: the registration failed\n");
    return CLI_EXIT_NO;
  }
  printf("call: answered by %s\n", c.peer);
  fflush(stdout);
  /* Hold; a BYE from the other side ends the call cleanly as well. */
  w = wait_for(r, x, p_call_ended, imsec_hostnet_now() + a->hold_s * 1000);
  c = call_state(x);
  if (c.state == IMSEC_UE_CALL_ENDED) {
    if (c.end == IMSEC_UE_END_REMOTE_BYE) {
      printf("call: ended by the other side (BYE) during the hold\n");
      return CLI_EXIT_OK;
    }
    print_not_up(&c, a);
    return CLI_EXIT_NO;
  }
  if (hangup(r, x) == 0)
    (void)poll_for(r, x, p_call_ended, 40000);
  c = call_state(x);
  if (c.state != IMSEC_UE_CALL_ENDED) {
    printf("call: no answer to our BYE\n");
    return CLI_EXIT_NO;
  }
  if (c.end == IMSEC_UE_END_REMOTE_BYE) {
    printf("call: ended by the other side (BYE)\n");
    return CLI_EXIT_OK;
  }
  if (c.end == IMSEC_UE_END_LOCAL_BYE && c.bye_status >= 200 &&
      c.bye_status < 300) {
    printf("call: ended cleanly (BYE %u)\n", c.bye_status);
    return CLI_EXIT_OK;
  }
  if (c.end == IMSEC_UE_END_LOCAL_BYE && c.bye_status == 408)
    printf("call: no answer to our BYE (408)\n");
  else if (c.end == IMSEC_UE_END_LOCAL_BYE)
    printf("call: BYE answered %u %s\n", c.bye_status, reason_of(c.bye_status));
  else
    print_not_up(&c, a);
  return CLI_EXIT_NO;
}

static int run_ue(const args *a, imsec_isim_profile *prof,
                  imsec_x509_anchors *anchors, imsec_crypto *crypto) {
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = prof->impi;
  cfg.impus = (const char *const *)prof->impus;
  cfg.n_impus = prof->n_impus;
  cfg.home_domain = prof->home_domain;
  cfg.trust_domain = prof->trust_domain;
  if (prof->password_len) {
    /* SIP Digest (TS 33.203 Annex N): the password from password_file;
     * copied by imsec_ue_new, wiped here with cfg. */
    memcpy(cfg.password, prof->password, prof->password_len);
    cfg.password_len = prof->password_len;
    cfg.digest_username = prof->digest_username;
  } else {
    memcpy(cfg.k, prof->k, 16);
    if (prof->has_opc) {
      memcpy(cfg.opc, prof->opc, 16);
      cfg.has_opc = 1;
    } else {
      memcpy(cfg.op, prof->op, 16);
      cfg.has_op = 1;
    }
  }
  memcpy(cfg.amf, prof->amf, 2);
  if (imsec_ue_sqn_load(prof->sqn, NULL, &cfg.sqn) < 0) {
    imsec_wipe(&cfg, sizeof(cfg));
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s: bad sqn", a->config);
  }
  char dialled[sizeof(cfg.pcscf.host)];
  int rv = parse_pcscf(a->pcscf, &cfg.pcscf);
  if (rv == 0)
    rv = resolve_pcscf(&cfg.pcscf, dialled, sizeof(dialled));
  if (rv) {
    imsec_wipe(&cfg, sizeof(cfg));
    return rv;
  }
  cfg.pcscf_name = a->pcscf_name ? a->pcscf_name : dialled;
  cfg.policy = prof->policy;
  if (a->policy &&
      imsec_trust_policy_parse(imsec_str_c(a->policy), &cfg.policy) < 0) {
    imsec_wipe(&cfg, sizeof(cfg));
    return cli_usage(SUB, "--policy must be trust-domain or strict-home");
  }
  cfg.expires = a->expires;
  /* Modes M2a, M2b: the profile's certificate, the UE's listener. */
  imsec_net_tls_config tls;
  memset(&tls, 0, sizeof(tls));
  ue_m2_tls m2t;
  rv = ue_m2_setup(&a->m2, prof, anchors, &cfg, &tls, &m2t);
  if (rv) {
    imsec_wipe(&cfg, sizeof(cfg));
    return rv;
  }
  rv = ue_dgram_setup(&a->dg, &cfg);
  if (rv) {
    imsec_wipe(&cfg, sizeof(cfg));
    return rv;
  }
  /* Mode M3. */
  if (a->psk) {
    if (!prof->psk_identity || !prof->psk_len) {
      imsec_wipe(&cfg, sizeof(cfg));
      return cli_usage(SUB, "--psk needs psk_identity and psk_file in %s",
                       a->config);
    }
    cfg.psk_identity = prof->psk_identity;
    memcpy(cfg.psk, prof->psk, prof->psk_len);
    cfg.psk_len = prof->psk_len;
  }
  if (a->aka_psk && prof->password_len) {
    imsec_wipe(&cfg, sizeof(cfg));
    return cli_usage(SUB,
                     "--aka-psk needs an ISIM (IMS AKA); %s holds a "
                     "SIP Digest password",
                     a->config);
  }
  cfg.aka_psk = a->aka_psk;
  cfg.answer = a->answer;
  cfg.answer_delay_ms = a->answer_delay_ms;
  /* Retry until --timeout (run: for ever); the CLI's deadline ends it. */
  cfg.max_connect_attempts = 0;
  int64_t budget_ms = a->timeout_s * 1000;
  if (a->mode != M_RUN) {
    cfg.reconnect_max_ms = 4000;
    cfg.txn_timeout_ms = budget_ms / 2 < 2000    ? 2000
                         : budget_ms / 2 > 32000 ? 32000
                                                 : budget_ms / 2;
  }
  uectx x;
  memset(&x, 0, sizeof(x));
  pthread_mutex_init(&x.mu, NULL);
  x.mode = a->mode;
  ue_sqn_file_init(&x.sqn, a->config);
  x.to = a->to;
  x.text = a->text;
  x.ladder_whole = a->ladder && a->mode == M_CALL;
  const char *lenv = getenv("IMSEC_LADDER");
  x.ladder_machine = !a->ladder && lenv && lenv[0] == '1';
  int use_dtls = cfg.pcscf.tp == IMSEC_TP_DTLS;
  rv = imsec_ue_new(&x.ue, &cfg, crypto);
  imsec_wipe(&cfg, sizeof(cfg));
  if (rv < 0) {
    ue_sqn_file_fini(&x.sqn);
    pthread_mutex_destroy(&x.mu);
    return cli_fail(CLI_EXIT_USAGE, SUB,
                    "%s: %s (impi, impus, home_domain, "
                    "trust_domain, --pcscf-name)",
                    a->config, imsec_strerror(rv));
  }
  imsec_ue_get_status(x.ue, &x.snap);

  /* The UE's store: the profile's SQN, written on a worker thread so the
   * loop never waits on the disk; the host holds the RES until it is
   * written (include/imsec/elem.h PERSIST). */
  imsec_svc *local = NULL, *worker = NULL;
  imsec_svc_local_config lc = {.ue_sqn = ue_sqn_file_write,
                               .ue_sqn_arg = &x.sqn};
  if (imsec_svc_local_new(&local, &lc) < 0 ||
      imsec_svc_worker_new(&worker, local, SQN_QUEUE_MAX) < 0) {
    imsec_svc_del(local);
    imsec_ue_del(x.ue);
    ue_sqn_file_fini(&x.sqn);
    pthread_mutex_destroy(&x.mu);
    return cli_fail(CLI_EXIT_NO, SUB, "cannot start: %s",
                    imsec_strerror(IMSEC_ERR_NOMEM));
  }

  tls.server = 0;
  /* The trust decision is the element's (DESIGN.md §3): the handshake
   * completes and the chain's facts go to the UE. */
  tls.defer_verify = 1;
  imsec_hostnet_config rc;
  memset(&rc, 0, sizeof(rc));
  rc.name = "ue";
  /* The CLI ends the run itself (its predicates, --timeout, a signal):
   * without done() the port does not stop once the UE is registered, which
   * `run` and `message` outlive. */
  imsec_elem_ops ops = imsec_ue_ops;
  ops.done = NULL;
  rc.ops = &ops;
  rc.self = x.ue;
  rc.svc = worker;
  rc.client_tls_cfg = &tls;
  rc.listeners = m2t.n_listeners ? &m2t.listener : NULL;
  rc.n_listeners = m2t.n_listeners;
  /* --pcscf dtls:...: the UE's DTLS CONNECT names this context
   * (IMSEC_UE_DTLS_PROFILE), deferring verification like the TLS one. */
  imsec_net_tls_config dtls = tls;
  dtls.dtls = 1;
  imsec_hostnet_tls_profile dtls_profile = {.name = IMSEC_UE_DTLS_PROFILE,
                                            .tls_cfg = &dtls,
                                            .defer_verify = 1,
                                            .dtls = 1};
  if (use_dtls) {
    rc.tls_profiles = &dtls_profile;
    rc.n_tls_profiles = 1;
  }
  rc.anchors = anchors;
  rc.log_level = a->verbose ? IMSEC_LOG_DEBUG : IMSEC_LOG_INFO;
  /* -v: also net's own lines, which say why a connection failed
   * ("connect failed: connection refused"). */
  rc.net_log_level = a->verbose ? IMSEC_NET_LOG_INFO : IMSEC_NET_LOG_ERROR;
  rc.ladder = a->ladder ? 2 : 0;
  if (a->mode == M_CALL) { /* the call's ladder on stdout */
    rc.ladder_fn = call_ladder;
    rc.ladder_user = &x;
  }
  rc.signals = 1;
  if (a->mode != M_RUN) {
    /* A P-CSCF that accepts TCP but never finishes the handshake costs a
     * third of --timeout at most, so retries fit. */
    int64_t hs = budget_ms / 3;
    rc.limits.handshake_timeout_ms = (uint32_t)(hs < 1000    ? 1000
                                                : hs > 10000 ? 10000
                                                             : hs);
  }
  imsec_hostnet *r = NULL;
  char err[256] = "";
  rv = imsec_hostnet_new(&r, &rc, err, sizeof(err));
  if (rv < 0) {
    imsec_svc_del(worker);
    imsec_svc_del(local);
    imsec_ue_del(x.ue);
    ue_sqn_file_fini(&x.sqn);
    pthread_mutex_destroy(&x.mu);
    return cli_fail(CLI_EXIT_NO, SUB, "cannot start: %s", err);
  }
  int code = CLI_EXIT_NO;
  int started = imsec_hostnet_start(r) == 0;
  if (!started) {
    fprintf(stderr, "imsec ue: cannot start the event loop\n");
    goto out;
  }
  imsec_time_ms deadline =
      a->mode == M_RUN ? 0 : imsec_hostnet_now() + a->timeout_s * 1000;
  x.deadline = deadline;
  char why[UE_SQN_FILE_WHY];
  int w = wait_for(r, &x, p_settled, deadline);
  imsec_ue_status s = snapshot(&x);
  print_trust(&s);
  if (w <= 0 || s.state != IMSEC_UE_REGISTERED) {
    if (s.state == IMSEC_UE_REFUSED)
      printf("refused: %s\n", s.error);
    else if (w > 0 && retry_too_late(&x, &s))
      printf("failed: no registration within %lld s (last: %s; the next "
             "attempt would come later)\n",
             (long long)a->timeout_s,
             s.error[0] ? s.error : "the P-CSCF asks to wait");
    else if (w < 0 && s.error[0])
      printf("failed: no registration within %lld s (last: %s)\n",
             (long long)a->timeout_s, s.error);
    else if (w < 0)
      printf("failed: no registration within %lld s\n",
             (long long)a->timeout_s);
    else if (w == 0)
      printf("stopped before registering\n");
    else if (ue_sqn_file_failed(&x.sqn, why, sizeof(why)))
      printf("failed: %s; the challenge was not answered\n", why);
    else
      printf("failed: %s\n", s.error[0] ? s.error : "registration failed");
    fflush(stdout);
    leave(r, &x);
    goto out;
  }
  print_registered(&x, &s, prof->impus[0]);
  if (s.tls_mode == IMSEC_UE_TLS_PSK || s.tls_mode == IMSEC_UE_TLS_PSK_AKA)
    printf("tls: %s\n", imsec_ue_tls_mode_name(s.tls_mode));
  if (a->reconnect) {
    x.old_flow = s.flow;
    if (imsec_hostnet_call(r, call_reconnect, &x) != 0 ||
        wait_for(r, &x, p_reconnected, deadline) <= 0 ||
        (s = snapshot(&x)).state != IMSEC_UE_REGISTERED) {
      s = snapshot(&x);
      printf("failed: no registered connection after reconnecting%s%s\n",
             s.error[0] ? ": " : "", s.error);
      fflush(stdout);
      leave(r, &x);
      goto out;
    }
    printf("reconnected: tls: %s\n", imsec_ue_tls_mode_name(s.tls_mode));
    fflush(stdout);
  }

  switch (a->mode) {
  case M_REGISTER:
    code = CLI_EXIT_OK;
    break;
  case M_MESSAGE: {
    if (imsec_hostnet_call(r, call_send, &x) != 0)
      break;
    w = wait_for(r, &x, p_answered, deadline);
    int st = atomic_load(&x.msg_status);
    if (st >= 200 && st < 300) {
      printf("message: delivered to %s (%d)\n", a->to, st);
      code = CLI_EXIT_OK;
    } else if (st > 0) {
      printf("message: not delivered to %s (%d)\n", a->to, st);
    } else if (st < 0) {
      printf("message: cannot send to %s: %s\n", a->to, imsec_strerror(st));
    } else {
      printf("message: no answer\n");
    }
    break;
  }
  case M_CALL:
    code = do_call(r, &x, a, deadline);
    atomic_store(&x.ladder_on, 0); /* the de-REGISTER is not the call's */
    break;
  case M_RUN:
    printf("running: answering MESSAGE, OPTIONS and calls (%s); SIGTERM or "
           "SIGINT de-registers and stops\n",
           a->answer == IMSEC_UE_ANSWER_BUSY   ? "busy"
           : a->answer == IMSEC_UE_ANSWER_RING ? "ring"
                                               : "auto");
    fflush(stdout);
    w = wait_for(r, &x, p_failed, 0);
    s = snapshot(&x);
    if (w == 1 && ue_sqn_file_failed(&x.sqn, why, sizeof(why))) {
      printf("failed: %s; the challenge was not answered\n", why);
    } else if (w == 1) {
      printf("failed: %s\n", s.error);
    } else {
      code = CLI_EXIT_OK;
    }
    break;
  }
  fflush(stdout);
  leave(r, &x);

out:
  /* Stop the worker while the host it answers still exists (an SQN write
   * still queued is carried out and answered), then the host (the loop
   * may submit until then: it is told closed), then free the worker. */
  imsec_svc_worker_stop(worker);
  imsec_hostnet_del(r);
  imsec_svc_del(worker);
  imsec_svc_del(local);
  imsec_ue_del(x.ue);
  ue_sqn_file_fini(&x.sqn);
  pthread_mutex_destroy(&x.mu);
  fflush(stdout);
  return code;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  args a;
  int rv = parse_args(argc, argv, &a);
  if (rv)
    return rv;
  imsec_isim_profile prof;
  char err[512] = "";
  rv = imsec_isim_load(a.config, &prof, err, sizeof(err));
  if (rv < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s",
                    err[0] ? err : imsec_strerror(rv));
  const char *missing = !prof.impi           ? "impi"
                        : !prof.n_impus      ? "impus"
                        : !prof.home_domain  ? "home_domain"
                        : !prof.trust_domain ? "trust_domain"
                        : prof.password_len  ? NULL
                        : !prof.has_k        ? "k (or password_file)"
                        : !(prof.has_op || prof.has_opc) ? "op or opc"
                                                         : NULL;
  if (missing) {
    imsec_isim_free(&prof);
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s: key '%s' is missing", a.config,
                    missing);
  }
  imsec_x509_anchors *anchors = NULL;
  rv = imsec_isim_anchors(&prof, &anchors, err, sizeof(err));
  if (rv < 0) {
    imsec_isim_free(&prof);
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s",
                    err[0] ? err : imsec_strerror(rv));
  }
  imsec_crypto *crypto = NULL;
  rv = imsec_crypto_ossl_new(&crypto);
  if (rv < 0) {
    imsec_x509_anchors_del(anchors);
    imsec_isim_free(&prof);
    return cli_fail(CLI_EXIT_USAGE, SUB, "crypto backend unavailable: %s",
                    imsec_strerror(rv));
  }
  rv = run_ue(&a, &prof, anchors, crypto);
  imsec_crypto_del(crypto);
  imsec_x509_anchors_del(anchors);
  imsec_isim_free(&prof);
  return rv;
}

const cli_cmd imsec_cmd_ue = {
    .name = "ue",
    .summary = "register a UE over TLS from an ISIM profile, send MESSAGEs, "
               "make and answer calls",
    .run = run,
    .planned = 0,
};
