/* imsec pcscf: the P-CSCF daemon (lib/pcscf on the host's net port). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "daemon_ops.h"
#include "psk_file.h"
#include "dgram_opts.h"
#include "pcscf_m2.h"
#include "reload.h"
#include "imsec/crypto.h"
#include "imsec/host_net.h"
#include "imsec/pcscf.h"
#include "imsec/x509.h"
#include "imsec/crypto_ossl.h"

#define SUB "pcscf"
#define MAX_PER_IP "--max-flows-per-ip"

/* The per-source cap on connections (net's max_flows_per_ip). */
static int parse_max_per_ip(const char *v, uint32_t *out) {
  uint64_t n;
  if (imsec_str_to_u64(imsec_str_c(v), 1000000, &n) < 0 || n == 0)
    return IMSEC_ERR_PARSE;
  *out = (uint32_t)n;
  return 0;
}

static const char help[] =
    "usage: imsec pcscf --listen tls:HOST:PORT [--listen dtls:HOST:PORT]\n"
    "                   --cert CHAIN.pem --key KEY.pem\n"
    "                   --route DOMAIN=tls:HOST:PORT[;name=NAME][,...] ...\n"
    "                   --core-cert CHAIN.pem --core-key KEY.pem\n"
    "                   --core-ca FILE [--core-ca ...]\n"
    "                   [--core tls:HOST:PORT] [--visited-network NAME]\n"
    "                   [--insecure-core --peer-addr IP ...]\n"
    "                   [--core-peer NAME ...]\n"
    "                   [--client-cert none|request|require]\n"
    "                   [--ue-ca FILE ...] [--dial-ue]\n"
    "                   [--require-sec-agree] [--access 3gpp|other]\n"
    "                   [--log-level LEVEL]\n"
    "                   [--psk-file FILE] [--aka-psk]\n"
    "                   [--t1-ms MS] [--t2-ms MS] [--t4-ms MS]\n"
    "                   [--dtls-idle-timeout-ms MS] [--timer-c-ms MS]\n"
    "                   [--max-flows-per-ip N] [--max-dialogs N]\n"
    "                   [--options-interval S] [--failover-timeout-ms MS]\n"
    "                   [--ladder] [-c FILE]\n"
    "                   [--ctl-socket PATH|none] [--metrics tcp:HOST:PORT]\n"
    "                   [--log-format text|json] [--log-identities]\n"
    "                   [--drain-timeout-ms MS] [--check-config]\n"
    "\n"
    "Run a P-CSCF (TS 24.229 §5.2, TS 33.203 Annex O): UEs register over\n"
    "TLS (or DTLS); each REGISTER goes to the S-CSCF of the UE's home\n"
    "domain; the registration is bound to the UE's TLS connection (DTLS\n"
    "association), which then carries the requests both ways. Over DTLS\n"
    "the RFC 3261 §17 timers retransmit, a STUN keep-alive keeps the\n"
    "association, and one quiet for 90 s (--dtls-idle-timeout-ms) is\n"
    "closed with its registration (docs/DTLS.md).\n"
    "\n"
    "  --listen ADDR            where UEs connect: tls:HOST:PORT (TLS) or\n"
    "                           dtls:HOST:PORT (SIP over DTLS 1.2 on UDP,\n"
    "                           draft-jennings-sip-dtls); repeat for both\n"
    "  --cert CHAIN.pem         server certificate chain, leaf first\n"
    "  --key KEY.pem            its private key\n"
    "  --route DOMAIN=ADDR      the S-CSCF of a home network domain; repeat\n"
    "                           for more. ADDR tls:HOST:PORT (Mw over\n"
    "                           mutual TLS, TS 33.210): the S-CSCF's chain\n"
    "                           must verify against --core-ca and its\n"
    "                           certificate name (SAN URI sip:, else SAN\n"
    "                           dNSName, CN only without SAN; RFC 5922)\n"
    "                           must be HOST; HOST may be a name (resolved\n"
    "                           with getaddrinfo). tls:IP:PORT;name=NAME\n"
    "                           dials IP and checks NAME (also the SNI).\n"
    "                           tcp:HOST:PORT needs --insecure-core.\n"
    "                           A refused S-CSCF: the REGISTER gets 503 and\n"
    "                           one log line says why.\n"
    "                           DOMAIN=ADDR1,ADDR2,... (or the domain given\n"
    "                           again): S-CSCFs of one domain tried in that\n"
    "                           order; ;weight=W on members spreads new\n"
    "                           REGISTERs among the live ones by weight. A\n"
    "                           member that refuses a connection, loses it,\n"
    "                           answers 503 or leaves a REGISTER unanswered\n"
    "                           is marked dead and the REGISTER goes to the\n"
    "                           next; requests of its registrations go to a\n"
    "                           live sibling (which must take its Route as\n"
    "                           its own: imsec scscf --alias)\n"
    "  --options-interval S     OPTIONS pings to every member of a domain\n"
    "                           with two S-CSCFs or more, every S seconds\n"
    "                           (default 5; 0: none): any answer makes a\n"
    "                           dead member live again, none within S marks\n"
    "                           it dead\n"
    "  --failover-timeout-ms MS how long a REGISTER waits for a member's\n"
    "                           answer before the next member (default\n"
    "                           5000)\n"
    "  --core-cert CHAIN.pem    this P-CSCF's network-element certificate\n"
    "                           (leaf first; EKU clientAuth and serverAuth,\n"
    "                           TS 33.310), shown to S-CSCFs both ways\n"
    "  --core-key KEY.pem       its private key\n"
    "  --core-ca FILE           trust anchors (PEM) for S-CSCF certificates;\n"
    "                           repeat for more. Required with any tls:\n"
    "                           route or core listener: the system's\n"
    "                           default store is never used\n"
    "  --core tls:HOST:PORT     where S-CSCFs send requests for UEs, over\n"
    "                           TLS with a client certificate that must\n"
    "                           verify against --core-ca; its host:port go\n"
    "                           into Via and Path (transport=tls), so use\n"
    "                           an address they can reach (default: the\n"
    "                           --listen host, a free port; tcp: with\n"
    "                           --insecure-core)\n"
    "  --insecure-core          allow plain TCP on the core side (tcp:\n"
    "                           routes, --core tcp:...); logs a warning.\n"
    "                           A plain core listener takes connections\n"
    "                           from the --peer-addr addresses only\n"
    "  --peer-addr IP           an S-CSCF address allowed on a plain core\n"
    "                           listener; repeat for more (required with\n"
    "                           one)\n"
    "  --core-peer NAME         an S-CSCF certificate name allowed on the\n"
    "                           TLS core listener besides the tls: routes'\n"
    "                           names; repeat for more. Others (and any\n"
    "                           certificate without EKU clientAuth) are\n"
    "                           refused with one log line\n"
    "  --visited-network NAME   act as a visited network's P-CSCF\n"
    "                           (adds P-Visited-Network-ID: \"NAME\")\n"
    "  --client-cert MODE       mode M2a, mutual TLS: ask UEs for a client\n"
    "                           certificate: none (default, M1), request\n"
    "                           (a UE without one is M1), require. It must\n"
    "                           chain to --ue-ca, name the UE's IMPI as SAN\n"
    "                           URI sip:IMPI, come from the operator CA of\n"
    "                           that IMPI's realm, and the REGISTER's\n"
    "                           Authorization username must be that IMPI\n"
    "                           (else the flow is closed, or 403; one log\n"
    "                           line)\n"
    "  --ue-ca FILE             trust anchors (PEM) for UE certificates: the\n"
    "                           trust domain root and the operator CAs;\n"
    "                           repeat for more\n"
    "  --dial-ue                mode M2b: a UE whose Contact is a TLS\n"
    "                           address (imsec ue run --listen) stays\n"
    "                           registered when its connection closes; a\n"
    "                           request for it opens TLS there with --cert\n"
    "                           as client certificate (EKU clientAuth) and\n"
    "                           the UE's server certificate must name the\n"
    "                           registered IMPI under its operator's CA\n"
    "                           (else 480 to the caller, one log line)\n"
    "  --require-sec-agree      refuse REGISTERs without sec-agree (421);\n"
    "                           without it a REGISTER over TLS with no\n"
    "                           sec-agree (a SIP Digest softphone) is the\n"
    "                           TLS session before registration of\n"
    "                           TS 33.203 O.2: its 200 binds the digest\n"
    "                           username and the registered identities to\n"
    "                           the connection (docs/DIGEST.md)\n"
    "  --access 3gpp|other      the UEs' access network (TS 33.203 N.1):\n"
    "                           3gpp refuses SIP Digest (403 to a REGISTER\n"
    "                           with Digest credentials, or whose 401 offers\n"
    "                           no IMS AKA, one log line); other (default)\n"
    "                           allows both\n"
    "  --psk-file FILE          mode M3, configured: UEs may connect with a\n"
    "                           pre-shared key instead of the certificate\n"
    "                           (TLS 1.3 external PSK with ECDHE, TLS 1.2\n"
    "                           ECDHE-PSK). Lines 'IDENTITY HEXKEY', '#'\n"
    "                           comments; IDENTITY is the IMPI, and the\n"
    "                           REGISTER on such a connection must be for\n"
    "                           it (403 otherwise). Mode 0600 required;\n"
    "                           read again on SIGHUP\n"
    "  --aka-psk                mode M3, AKA-derived (docs/M3.md): keep the\n"
    "                           CK and IK the S-CSCF gives in a 401 (over\n"
    "                           mutual TLS only), derive the UE's PSK\n"
    "                           after its 200 and accept it until the\n"
    "                           registration ends; a UE that reconnects\n"
    "                           with it keeps its registration on the new\n"
    "                           connection. CK and IK are removed from\n"
    "                           every 401 before it reaches a UE, always\n"
    "  --t1-ms MS, --t2-ms MS, --t4-ms MS\n"
    "                           DTLS: RFC 3261 §17.1.1.1 T1 (default 500),\n"
    "                           T2 (4000, not below T1), T4 (5000) of the\n"
    "                           transactions on DTLS flows: requests to a\n"
    "                           UE are sent again at T1, doubling up to T2,\n"
    "                           and given up after 64*T1 (408 to the core)\n"
    "  --dtls-idle-timeout-ms MS  DTLS: close an association from which\n"
    "                           nothing (no SIP, no STUN keep-alive) came\n"
    "                           for MS (default 90000), and its\n"
    "                           registration with it (DTLS has no FIN)\n"
    "  --timer-c-ms MS          how long an INVITE forwarded either way may\n"
    "                           wait for its final response once a\n"
    "                           provisional came (RFC 3261 Timer C, reset\n"
    "                           by each provisional; default 180000); then\n"
    "                           CANCEL towards the callee and 408 back\n"
    "  --log-level LEVEL        debug, info (default), warn, error\n"
    "  --max-dialogs N          dialogs tracked through UE flows, all UEs\n"
    "                           together (default 65536; docs/CALLS.md):\n"
    "                           beyond it a new INVITE, SUBSCRIBE or REFER\n"
    "                           gets 503 with Retry-After\n"
    "  --max-flows-per-ip N     connections accepted from one address\n"
    "                           (default 64); more are refused and logged\n"
    "  --ladder                 print one line per SIP message\n"
    "  -c, --config FILE        YAML settings with the same keys: listen,\n"
    "                           core, cert, key, routes (a list of\n"
    "                           DOMAIN=ADDR), core_cert, core_key, core_ca\n"
    "                           (a file or a list), insecure_core,\n"
    "                           peer_addrs (a list), core_peers (a list),\n"
    "                           visited_network,\n"
    "                           require_sec_agree, log_level, max_flows,\n"
    "                           max_bindings, max_transactions, max_queue,\n"
    "                           transaction_timeout_ms, max_flows_per_ip,\n"
    "                           client_cert, ue_ca (a file or a list),\n"
    "                           dial_ue, psk_file, aka_psk, t1_ms, t2_ms,\n"
    "                           t4_ms, dtls_idle_timeout_ms, timer_c_ms,\n"
    "                           max_dialogs, access, options_interval,\n"
    "                           failover_timeout_ms, and the operations\n"
    "                           keys below.\n"
    "                           Flags override it;\n"
    "                           --route adds to its routes.\n"
    "\n"
    "Logs one line per event on stderr; SIGTERM or SIGINT stops it.\n"
    "SIGHUP reloads: the -c file is read again under the same flags, the\n"
    "certificate, key, core certificate, core key, core CA and PSK files\n"
    "too;\n"
    "everything is checked first, then the log level, the routes, the\n"
    "core anchors and the certificates are applied (new TLS handshakes on\n"
    "both sides use them; connections already up keep theirs). A reload\n"
    "that fails logs \"reload failed: WHY\" and keeps the running\n"
    "configuration; listen, core, insecure_core, peer_addrs and the other\n"
    "settings taken at start are logged as \"needs a restart\". Exit 0\n"
    "after a clean stop, 2 on a usage or configuration error.\n";

/* ------------------------------------------------------------ Mw security */

/* The core-side flags with a value: their index below, or -1. */
static int core_option(const char *a) {
  static const char *const names[] = {"--core-cert", "--core-key", "--core-ca",
                                      "--peer-addr", "--core-peer"};
  for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
    if (!strcmp(a, names[i]))
      return i;
  return -1;
}

/* The core-side flags: 0 --core-cert, 1 --core-key, 2 --core-ca,
 * 3 --peer-addr, 4 --core-peer. Returns 0 or -1 (reported, exit 2). */
static int core_flag(imsec_pcscf_settings *s, int which, const char *a,
                     const char *v) {
  if (!v[0] || strlen(v) >= sizeof(s->core_cert)) {
    cli_usage(SUB, "%s needs a value", a);
    return -1;
  }
  switch (which) {
  case 0:
    snprintf(s->core_cert, sizeof(s->core_cert), "%s", v);
    return 0;
  case 1:
    snprintf(s->core_key, sizeof(s->core_key), "%s", v);
    return 0;
  case 2:
    if (s->n_core_ca >= IMSEC_PCSCF_MAX_CORE_CA) {
      cli_usage(SUB, "--core-ca: at most %d files", IMSEC_PCSCF_MAX_CORE_CA);
      return -1;
    }
    snprintf(s->core_ca[s->n_core_ca++], sizeof(s->core_ca[0]), "%s", v);
    return 0;
  case 4:
    if (s->elem.n_core_peers >= IMSEC_PCSCF_MAX_PEERS ||
        strlen(v) >= sizeof(s->elem.core_peers[0]) || strchr(v, '*')) {
      cli_usage(SUB, "--core-peer: a host name (no wildcard), at most %d",
                IMSEC_PCSCF_MAX_PEERS);
      return -1;
    }
    snprintf(s->elem.core_peers[s->elem.n_core_peers++],
             sizeof(s->elem.core_peers[0]), "%s", v);
    return 0;
  default:
    if (s->elem.n_peer_addrs >= IMSEC_PCSCF_MAX_PEERS) {
      cli_usage(SUB, "--peer-addr: at most %d addresses",
                IMSEC_PCSCF_MAX_PEERS);
      return -1;
    }
    snprintf(s->elem.peer_addrs[s->elem.n_peer_addrs++],
             sizeof(s->elem.peer_addrs[0]), "%s", v);
    return 0;
  }
}

static int is_ip(const char *h) {
  unsigned char b[16];
  return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

/* TS 33.210 §5.2: Mw is protected by TLS between network elements; plain
 * TCP only when asked for, and a TLS peer is never checked against the
 * system's default store. Returns 0 or -1 (reported, exit 2). */
static int core_check(const imsec_pcscf_settings *s) {
  int tls = s->has_core_listen ? s->core_listen.tp == IMSEC_TP_TLS
                               : !s->insecure_core;
  if (s->has_core_listen && s->core_listen.tp == IMSEC_TP_TCP &&
      !s->insecure_core) {
    cli_usage(SUB, "--core tcp:... is plain TCP: use tls:HOST:PORT, or add "
                   "--insecure-core");
    return -1;
  }
  for (size_t i = 0; i < s->elem.n_routes; i++) {
    const imsec_pcscf_route *r = &s->elem.routes[i];
    if (r->addr.tp == IMSEC_TP_TCP && !s->insecure_core) {
      cli_usage(SUB,
                "--route %s=tcp:... is plain TCP to the S-CSCF: use "
                "tls:HOST:PORT, or add --insecure-core",
                r->domain);
      return -1;
    }
    if (r->addr.tp == IMSEC_TP_TLS) {
      tls = 1;
      if (!r->name[0] && is_ip(r->addr.host)) {
        cli_usage(SUB,
                  "--route %s: a tls: route to an IP address needs "
                  ";name=NAME (the S-CSCF's certificate name)",
                  r->domain);
        return -1;
      }
    }
  }
  if (!tls)
    return 0;
  if (!s->n_core_ca) {
    cli_usage(SUB, "TLS on the core side needs --core-ca (the S-CSCFs' "
                   "CA; the default store is never used)");
    return -1;
  }
  if (!s->core_cert[0] || !s->core_key[0]) {
    cli_usage(SUB, "TLS on the core side needs --core-cert and --core-key "
                   "(this P-CSCF's network-element certificate)");
    return -1;
  }
  return 0;
}

/* Add the IP literal `host` to the peer addresses, in the text form the
 * runner gives flow addresses (inet_ntop). */
static int peer_add(imsec_pcscf_settings *s, const char *host) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
    return -1;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    char t[64];
    const void *src =
        ai->ai_family == AF_INET
            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
        !inet_ntop(ai->ai_family, src, t, sizeof(t)))
      continue;
    size_t k = 0;
    while (k < s->elem.n_peer_addrs && strcmp(s->elem.peer_addrs[k], t))
      k++;
    if (k == s->elem.n_peer_addrs && k < IMSEC_PCSCF_MAX_PEERS)
      snprintf(s->elem.peer_addrs[s->elem.n_peer_addrs++],
               sizeof(s->elem.peer_addrs[0]), "%s", t);
  }
  freeaddrinfo(res);
  return 0;
}

/* The peer addresses of a plain core listener: the --peer-addr IPs, and
 * nothing else (TS 33.210 asks for TLS; plain TCP is an explicit exception
 * for known hosts). Returns 0 or -1 (reported, exit 2). */
static int core_peers(imsec_pcscf_settings *s) {
  if (s->elem.n_peer_addrs && s->core_listen.tp != IMSEC_TP_TCP) {
    cli_usage(SUB, "--peer-addr applies to a plain core listener only "
                   "(--insecure-core, --core tcp:...)");
    return -1;
  }
  if (s->core_listen.tp != IMSEC_TP_TCP)
    return 0;
  size_t given = s->elem.n_peer_addrs;
  char in[IMSEC_PCSCF_MAX_PEERS][64];
  memcpy(in, s->elem.peer_addrs, sizeof(in));
  s->elem.n_peer_addrs = 0;
  for (size_t i = 0; i < given; i++)
    if (!is_ip(in[i]) || peer_add(s, in[i]) < 0) {
      cli_usage(SUB, "--peer-addr '%s' is not an IP address", in[i]);
      return -1;
    }
  if (!s->elem.n_peer_addrs) {
    cli_usage(SUB, "a plain core listener (--insecure-core) needs --peer-addr "
                   "IP: the S-CSCFs allowed to use it");
    return -1;
  }
  return 0;
}

/* The anchors the S-CSCFs' chains are judged against: every --core-ca
 * file (*anchors stays NULL without any). At start and on SIGHUP. Returns
 * 0 or -1 (reported, exit 2). */
static int core_anchors(const imsec_pcscf_settings *s,
                        imsec_x509_anchors **anchors) {
  *anchors = NULL;
  if (!s->n_core_ca && !s->n_ue_ca)
    return 0;
  if (imsec_x509_anchors_new(anchors) < 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < s->n_core_ca; i++) {
    int rv = imsec_x509_anchors_add_root_file(*anchors, s->core_ca[i]);
    if (rv < 0) {
      cli_fail(CLI_EXIT_USAGE, SUB, "--core-ca %s: %s", s->core_ca[i],
               access(s->core_ca[i], R_OK) != 0 ? strerror(errno)
               : rv == IMSEC_ERR_PARSE          ? "no certificate in it"
                                                : imsec_strerror(rv));
      imsec_x509_anchors_del(*anchors);
      *anchors = NULL;
      return -1;
    }
  }
  /* The UE certificates' anchors too (modes M2a, M2b): the host judges
   * every TLS peer against one set. */
  if (pcscf_m2_anchors(s, *anchors) < 0) {
    imsec_x509_anchors_del(*anchors);
    *anchors = NULL;
    return -1;
  }
  return 0;
}

/* The TLS contexts and anchors of the core side (a no-op without TLS
 * there). Returns 0 or -1 (reported, exit 2). */
static int core_tls_setup(const imsec_pcscf_settings *s,
                          imsec_net_tls_config *client,
                          imsec_net_tls_config *listener, const char **more_ca,
                          imsec_x509_anchors **anchors) {
  memset(listener, 0, sizeof(*listener));
  if (!s->n_core_ca)
    return core_anchors(s, anchors); /* the UE anchors alone, if any */
  if (core_anchors(s, anchors) < 0)
    return -1;
  for (size_t i = 0; i < s->n_core_ca; i++)
    more_ca[i] = i ? s->core_ca[i] : NULL;
  more_ca[s->n_core_ca] = NULL;
  /* Towards S-CSCFs: our certificate, and the decision in the element
   * (defer_verify: chain, expiry and name are checked there against the
   * anchors above, so the log says which check failed). */
  client->cert_file = s->core_cert[0] ? s->core_cert : NULL;
  client->key_file = s->core_key[0] ? s->core_key : NULL;
  client->ca_file = s->core_ca[0];
  client->more_ca_files = more_ca + 1;
  client->defer_verify = 1;
  /* From S-CSCFs: a client certificate is required and verified. */
  listener->server = 1;
  listener->cert_file = s->core_cert;
  listener->key_file = s->core_key;
  listener->ca_file = s->core_ca[0];
  listener->more_ca_files = more_ca + 1;
  listener->client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
  return 0;
}

static void core_log_start(const imsec_pcscf_settings *s) {
  if (!s->insecure_core)
    return;
  char peers[IMSEC_PCSCF_MAX_PEERS * 66] = "";
  size_t n = 0;
  for (size_t i = 0; i < s->elem.n_peer_addrs && n < sizeof(peers); i++)
    n += (size_t)snprintf(peers + n, sizeof(peers) - n, "%s%s", i ? ", " : "",
                          s->elem.peer_addrs[i]);
  imsec_logger_printf(daemon_ops_log(), "pcscf", IMSEC_LOG_WARN,
                      "--insecure-core: plain TCP allowed on the core side "
                      "(no TS 33.210 protection)%s%s",
                      n ? "; plain core flows accepted from " : "", peers);
}

/* The settings: the -c file, then the flags over it, checked. At start
 * and again on SIGHUP (the same code reads them both times). Returns 0 or
 * CLI_EXIT_USAGE after one line (cli_usage, cli_fail). */
static int settings_read(int argc, char **argv, imsec_pcscf_settings *out,
                         int *ladder_out, daemon_ops_opts *ops) {
  static imsec_pcscf_settings s;
  memset(&s, 0, sizeof(s));
  imsec_pcscf_config_init(&s.elem);
  snprintf(s.log_level, sizeof(s.log_level), "info");
  /* The file first, then the flags over it. */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", argv[i]);
      char err[512];
      if (imsec_pcscf_settings_load(argv[i + 1], &s, err, sizeof(err)) < 0)
        return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
      if (daemon_ops_conf(ops, SUB, argv[i + 1], &s.ops))
        return CLI_EXIT_USAGE;
      break;
    }
  }
  int ladder = 0;
  int cli_listens = 0; /* --listen on the command line replaces the file's */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--require-sec-agree") == 0) {
      s.elem.require_sec_agree = 1;
      continue;
    }
    if (strcmp(a, "--ladder") == 0) {
      ladder = 1;
      continue;
    }
    int dop = daemon_ops_arg(ops, SUB, argc, argv, &i); /* ops options */
    if (dop > 1)
      return dop;
    if (dop)
      continue;
    if (strcmp(a, "--access") == 0) {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", a);
      const char *v = argv[++i];
      if (strcmp(v, "3gpp") && strcmp(v, "other"))
        return cli_usage(SUB, "--access must be 3gpp or other, not '%s'", v);
      s.elem.access_3gpp = strcmp(v, "3gpp") == 0;
      continue;
    }
    if (strcmp(a, "--insecure-core") == 0) {
      s.insecure_core = 1;
      continue;
    }
    if (strcmp(a, "--aka-psk") == 0) {
      s.elem.aka_psk = 1;
      continue;
    }
    int m2 = pcscf_m2_flag(&s, argc, argv, &i); /* modes M2a, M2b */
    if (m2 < 0)
      return CLI_EXIT_USAGE;
    if (m2)
      continue;
    int dg = pcscf_dgram_flag(&s, argc, argv, &i); /* DTLS timing */
    if (dg < 0)
      return CLI_EXIT_USAGE;
    if (dg)
      continue;
    if (strcmp(a, "--timer-c-ms") == 0) {
      uint64_t ms = 0;
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", a);
      if (imsec_str_to_u64(imsec_str_c(argv[++i]), 3600000, &ms) < 0 || ms == 0)
        return cli_usage(SUB,
                         "--timer-c-ms must be a number of milliseconds "
                         "from 1 to %d, not '%s'",
                         3600000, argv[i]);
      s.elem.timer_c_ms = (imsec_time_ms)ms;
      continue;
    }
    if (strcmp(a, "--max-dialogs") == 0) {
      uint64_t n;
      if (i + 1 >= argc ||
          imsec_str_to_u64(imsec_str_c(argv[++i]), 10000000, &n) < 0 || !n)
        return cli_usage(SUB, "--max-dialogs: expected a number from 1 to "
                              "10000000");
      s.elem.max_dialogs = (size_t)n;
      continue;
    }
    int ck = core_option(a);
    if (ck >= 0) {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", a);
      if (core_flag(&s, ck, a, argv[++i]) < 0)
        return CLI_EXIT_USAGE;
      continue;
    }
    if (strcmp(a, "--options-interval") == 0) {
      uint64_t sec;
      if (i + 1 >= argc ||
          imsec_str_to_u64(imsec_str_c(argv[++i]), 86400, &sec) < 0)
        return cli_usage(SUB, "--options-interval: expected seconds from 0 "
                              "(no pings) to 86400");
      s.elem.options_interval_ms = sec ? (imsec_time_ms)sec * 1000 : -1;
      continue;
    }
    if (strcmp(a, "--failover-timeout-ms") == 0) {
      uint64_t ms;
      if (i + 1 >= argc ||
          imsec_str_to_u64(imsec_str_c(argv[++i]), 600000, &ms) < 0 || !ms)
        return cli_usage(SUB, "--failover-timeout-ms: expected a number from "
                              "1 to 600000");
      s.elem.failover_timeout_ms = (imsec_time_ms)ms;
      continue;
    }
    static const char *const valued[] = {
        "--listen",          "--cert",      "--key", "--route",  "--core",
        "--visited-network", "--log-level", "-c",    "--config", MAX_PER_IP,
        "--psk-file"};
    size_t k = 0;
    while (k < sizeof(valued) / sizeof(valued[0]) && strcmp(a, valued[k]))
      k++;
    if (k == sizeof(valued) / sizeof(valued[0]))
      return cli_usage(SUB, "unknown option '%s'", a);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", a);
    const char *v = argv[++i];
    switch (k) {
    case 0: {
      /* Repeatable: tls: and dtls: (SIP over DTLS) UE listeners. */
      if (cli_listens >= IMSEC_PCSCF_MAX_LISTEN)
        return cli_usage(SUB, "--listen: at most %d", IMSEC_PCSCF_MAX_LISTEN);
      imsec_addr *la =
          cli_listens ? &s.more_listen[cli_listens - 1] : &s.listen;
      if (imsec_addr_parse_listen(imsec_str_c(v), la) < 0 ||
          (la->tp != IMSEC_TP_TLS && la->tp != IMSEC_TP_DTLS))
        return cli_usage(SUB,
                         "--listen '%s' is not tls:HOST:PORT or "
                         "dtls:HOST:PORT",
                         v);
      s.n_more_listen = (size_t)cli_listens++;
      s.has_listen = 1;
      break;
    }
    case 1:
    case 2: {
      char *dst = k == 1 ? s.cert : s.key;
      if (!v[0] || strlen(v) >= sizeof(s.cert))
        return cli_usage(SUB, "%s needs a file name", a);
      snprintf(dst, sizeof(s.cert), "%s", v);
      break;
    }
    case 3: {
      /* DOMAIN=MEMBER[,MEMBER...]: one route per member, in order. */
      size_t got = 0;
      int prv = imsec_pcscf_route_parse_list(
          imsec_str_c(v), &s.elem.routes[s.elem.n_routes],
          IMSEC_PCSCF_MAX_ROUTES - s.elem.n_routes, &got);
      if (prv == IMSEC_ERR_LIMIT || s.elem.n_routes >= IMSEC_PCSCF_MAX_ROUTES)
        return cli_usage(SUB, "--route: at most %d routes",
                         IMSEC_PCSCF_MAX_ROUTES);
      if (prv < 0)
        return cli_usage(SUB,
                         "--route '%s' is not DOMAIN=tls:HOST:PORT"
                         "[;name=NAME][;weight=W][,tls:HOST:PORT...]",
                         v);
      s.elem.n_routes += got;
      break;
    }
    case 4:
      if (imsec_addr_parse_listen(imsec_str_c(v), &s.core_listen) < 0 ||
          (s.core_listen.tp != IMSEC_TP_TCP &&
           s.core_listen.tp != IMSEC_TP_TLS))
        return cli_usage(SUB, "--core '%s' is not tls:HOST:PORT", v);
      s.has_core_listen = 1;
      break;
    case 5:
      if (!v[0] || strlen(v) >= sizeof(s.elem.visited_network) ||
          strpbrk(v, "\"\\\r\n"))
        return cli_usage(SUB, "--visited-network needs a network name");
      snprintf(s.elem.visited_network, sizeof(s.elem.visited_network), "%s", v);
      break;
    case 6:
      snprintf(s.log_level, sizeof(s.log_level), "%s", v);
      break;
    case 9:
      if (parse_max_per_ip(v, &s.max_flows_per_ip) < 0)
        return cli_usage(SUB, "%s: expected a number from 1 to 1000000",
                         MAX_PER_IP);
      break;
    case 10:
      if (!v[0] || strlen(v) >= sizeof(s.psk_file))
        return cli_usage(SUB, "--psk-file needs a file name");
      snprintf(s.psk_file, sizeof(s.psk_file), "%s", v);
      break;
    default:
      break; /* -c: read above */
    }
  }
  if (!s.has_listen)
    return cli_usage(SUB, "--listen is required");
  if (!s.cert[0])
    return cli_usage(SUB, "--cert is required");
  if (!s.key[0])
    return cli_usage(SUB, "--key is required");
  if (!s.elem.n_routes)
    return cli_usage(SUB, "--route is required (at least one)");
  for (size_t i = 0; i < s.elem.n_routes; i++)
    if (s.elem.routes[i].addr.tp != IMSEC_TP_TCP &&
        s.elem.routes[i].addr.tp != IMSEC_TP_TLS)
      return cli_usage(SUB, "--route %s: the S-CSCF is reached over tcp or tls",
                       s.elem.routes[i].domain);
  if (core_check(&s) < 0 || pcscf_m2_check(&s) < 0 || pcscf_dgram_check(&s) < 0)
    return CLI_EXIT_USAGE;
  imsec_log_level level;
  if (imsec_hostnet_log_level_parse(s.log_level, &level) < 0)
    return cli_usage(SUB, "--log-level must be debug, info, warn or error");
  /* The core address goes into Via and Path: a wildcard is no address. */
  const char *wild_host =
      s.has_core_listen ? s.core_listen.host : s.listen.host;
  if (!strcmp(wild_host, "0.0.0.0") || !strcmp(wild_host, "::"))
    return cli_usage(SUB,
                     "--core needs an address the S-CSCFs can reach, "
                     "not '%s'",
                     wild_host);
  /* The element tells a UE's flow from an S-CSCF's by the local address
   * it came in on: two listeners on one port must differ in IP address. */
  if (s.has_core_listen && s.core_listen.port &&
      s.core_listen.port == s.listen.port &&
      (!is_ip(s.listen.host) || !is_ip(s.core_listen.host) ||
       !strcmp(s.listen.host, "0.0.0.0") || !strcmp(s.listen.host, "::") ||
       !strcmp(s.listen.host, s.core_listen.host)))
    return cli_usage(SUB,
                     "--listen and --core share port %u: give each its own "
                     "IP address (not a name or a wildcard) or port, or UE "
                     "and S-CSCF connections cannot be told apart",
                     (unsigned)s.listen.port);
  if (!s.has_core_listen) {
    s.core_listen = s.listen;
    /* TS 33.210 §5.2: TLS unless plain TCP was asked for. */
    s.core_listen.tp = s.insecure_core ? IMSEC_TP_TCP : IMSEC_TP_TLS;
    s.core_listen.port = 0; /* a free port, read back below */
  }
  if (core_peers(&s) < 0)
    return CLI_EXIT_USAGE;
  *out = s;
  *ladder_out = ladder;
  return 0;
}

/* SIGHUP: the settings again, from the same command line and -c file,
 * applied by apps/reload.c. */
typedef struct reloader {
  int argc;
  char **argv;
  const imsec_pcscf_settings *running;
  imsec_pcscf *p; /* set once made, after the listeners are bound */
  imsec_x509_anchors *anchors; /* the runner's peer anchors (ours) */
} reloader;

static int on_reload(void *arg, imsec_hostnet *r, char *msg, size_t cap) {
  reloader *rl = arg;
  static imsec_pcscf_settings next;
  int ladder = 0;
  imsec_x509_anchors *fresh = NULL;
  /* The operations options are taken at start (daemon_ops_help). */
  daemon_ops_opts ops;
  daemon_ops_opts_init(&ops);
  cli_capture(msg, cap);
  int bad = settings_read(rl->argc, rl->argv, &next, &ladder, &ops);
  /* The core CA files again: the S-CSCFs' chains are judged against
   * them in the element (defer_verify), not only by OpenSSL. */
  if (!bad && core_anchors(&next, &fresh) < 0)
    bad = CLI_EXIT_USAGE;
  cli_capture(NULL, 0);
  if (bad)
    return IMSEC_ERR_CONFIG;
  /* Mode M3: the configured PSKs again, checked before anything changes. */
  psk_file psks = {0};
  if (next.psk_file[0] && psk_file_load(next.psk_file, &psks, msg, cap) < 0) {
    imsec_x509_anchors_del(fresh);
    return IMSEC_ERR_CONFIG;
  }
  const imsec_x509_anchors *swap = fresh;
  int rv = reload_pcscf(r, rl->p, rl->running, &next, &swap, msg, cap);
  if (rv == 0 && psk_file_install(r, &psks) < 0) {
    snprintf(msg, cap, "cannot install the PSKs of %s", next.psk_file);
    rv = IMSEC_ERR_NOMEM;
  }
  psk_file_free(&psks);
  if (rv == 0 && fresh) {
    imsec_x509_anchors_del(rl->anchors); /* swap: the previous ones */
    rl->anchors = fresh;
  } else {
    imsec_x509_anchors_del(fresh);
  }
  return rv;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    fputs("\n", stdout);
    fputs(daemon_ops_help, stdout);
    return CLI_EXIT_OK;
  }
  static imsec_pcscf_settings s;
  int ladder = 0;
  daemon_ops_opts ops;
  daemon_ops_opts_init(&ops);
  int bad = settings_read(argc, argv, &s, &ladder, &ops);
  if (bad)
    return bad;
  if (daemon_ops_logger(&ops) < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot set up the logger");
  imsec_log_level level = IMSEC_LOG_INFO;
  if (imsec_hostnet_log_level_parse(s.log_level, &level) < 0)
    return CLI_EXIT_USAGE; /* settings_read checked it */

  imsec_crypto *crypto = NULL;
  if (imsec_crypto_ossl_new(&crypto) < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "the crypto backend did not load");
  /* TLS towards UEs; towards S-CSCFs (a tls: route) the P-CSCF never
   * resumes a session (seed §3.1: only the UE resumes). */
  imsec_net_tls_config server_tls = {
      .server = 1, .cert_file = s.cert, .key_file = s.key, .tickets = 1};
  imsec_net_tls_config client_tls = {.server = 0, .no_resume = 1};
  imsec_net_tls_config core_tls;
  const char *more_ca[IMSEC_PCSCF_MAX_CORE_CA + 1];
  imsec_x509_anchors *anchors = NULL;
  if (core_tls_setup(&s, &client_tls, &core_tls, more_ca, &anchors) < 0) {
    imsec_crypto_del(crypto);
    return CLI_EXIT_USAGE;
  }
  pcscf_m2_tls m2t; /* modes M2a, M2b */
  pcscf_m2_tls_setup(&s, &server_tls, &m2t);
  /* Mode M3: the configured PSKs, refused unless private. */
  psk_file psks = {0};
  char perr[512];
  if (s.psk_file[0] && psk_file_load(s.psk_file, &psks, perr, sizeof(perr))) {
    imsec_crypto_del(crypto);
    imsec_x509_anchors_del(anchors);
    return cli_fail(CLI_EXIT_USAGE, SUB, "--psk-file %s", perr);
  }
  int take_psk = s.psk_file[0] || s.elem.aka_psk;
  if (ops.check_config) {
    /* Everything above loaded (settings, routes, CA files, PSKs); the
     * TLS contexts now, from their files, without binding anything. */
    psk_file_free(&psks);
    imsec_x509_anchors_del(anchors);
    imsec_crypto_del(crypto);
    if (daemon_ops_check_tls(SUB, "--cert/--key", &server_tls, 1) ||
        (core_tls.cert_file &&
         daemon_ops_check_tls(SUB, "--core-cert/--core-key/--core-ca",
                              &core_tls, 1)) ||
        (client_tls.cert_file &&
         daemon_ops_check_tls(SUB, "--core-cert/--core-key (client)",
                              &client_tls, 0)) ||
        (m2t.n_profiles &&
         daemon_ops_check_tls(SUB, "--dial-ue client", &m2t.client, 0)))
      return CLI_EXIT_USAGE;
    return daemon_ops_config_ok(SUB);
  }
  /* Listener 0 the first UE listener, 1 the core one, 2.. the other UE
   * listeners (--listen repeated: tls: and dtls:, one certificate). */
  imsec_hostnet_listener ls[IMSEC_PCSCF_MAX_LISTEN + 1] = {
      {.addr = s.listen, .tls_cfg = &server_tls, .psk = take_psk},
      {.addr = s.core_listen,
       .tls_cfg = s.core_listen.tp == IMSEC_TP_TLS ? &core_tls : NULL},
  };
  for (size_t i = 0; i < s.n_more_listen; i++)
    ls[2 + i] = (imsec_hostnet_listener){
        .addr = s.more_listen[i], .tls_cfg = &server_tls, .psk = take_psk};
  reloader rl = {.argc = argc, .argv = argv, .running = &s, .anchors = anchors};
  /* The element is made after the listeners are bound (the core port goes
   * into its Path): imsec_hostnet_set_self below. */
  imsec_hostnet_config rc = {
      .name = "pcscf",
      .ops = &imsec_pcscf_ops,
      .listeners = ls,
      .n_listeners = 2 + s.n_more_listen,
      .client_tls_cfg = &client_tls,
      .tls_profiles = m2t.n_profiles ? &m2t.profile : NULL,
      .n_tls_profiles = m2t.n_profiles,
      .anchors = anchors,
      .log_level = level,
      .ladder = ladder,
      .signals = 1,
      /* net's WARN lines: refused connections, refused input, failed
       * handshakes (rate-limited where an attacker sets the pace). */
      .net_log_level =
          level >= IMSEC_LOG_WARN ? IMSEC_NET_LOG_WARN : IMSEC_NET_LOG_ERROR,
      .limits = {.max_flows_per_ip = s.max_flows_per_ip},
      .reload = on_reload,
      .reload_arg = &rl,
  };
  daemon_ops_hostnet_config(&ops, &rc);
  char err[512] = "";
  imsec_hostnet *r = NULL;
  int rv = imsec_hostnet_new(&r, &rc, err, sizeof(err));
  if (rv == 0 && psks.n && psk_file_install(r, &psks) < 0)
    rv = IMSEC_ERR_NOMEM;
  if (rv == 0 && psks.n)
    imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_INFO,
                        "%zu configured PSK(s) from %s", psks.n, s.psk_file);
  psk_file_free(&psks);
  if (rv < 0) {
    imsec_hostnet_del(r);
    imsec_crypto_del(crypto);
    imsec_x509_anchors_del(anchors);
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s",
                    err[0] ? err : imsec_strerror(rv));
  }
  s.elem.core = s.core_listen;
  s.elem.core.port = imsec_hostnet_port(r, 1);
  imsec_pcscf *p = NULL;
  rv = imsec_pcscf_new(&p, &s.elem, crypto);
  if (rv < 0) {
    imsec_hostnet_del(r);
    imsec_crypto_del(crypto);
    imsec_x509_anchors_del(rl.anchors);
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot start: %s",
                    imsec_strerror(rv));
  }
  /* One descriptor per UE's connection: 100,000 registered UEs need more
   * than a default limit. Once the configuration passed, so that a bad
   * one still gets its one line. */
  (void)cli_raise_nofile(SUB);
  char la[300], ca[300];
  imsec_addr l = s.listen;
  l.port = imsec_hostnet_port(r, 0);
  if (imsec_addr_format(&l, la, sizeof(la)) < 0)
    la[0] = 0;
  if (imsec_addr_format(&s.elem.core, ca, sizeof(ca)) < 0)
    ca[0] = 0;
  imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_INFO,
                      "listening on %s (UEs) and %s (S-CSCFs)%s%s", la, ca,
                      s.elem.visited_network[0] ? "; visited network " : "",
                      s.elem.visited_network);
  for (size_t i = 0; i < s.n_more_listen; i++) {
    l = s.more_listen[i];
    l.port = imsec_hostnet_port(r, 2 + i);
    if (imsec_addr_format(&l, la, sizeof(la)) < 0)
      la[0] = 0;
    imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_INFO,
                        "listening on %s (UEs)", la);
  }
  for (size_t i = 0; i < s.elem.n_routes; i++) {
    char ra[300];
    if (imsec_addr_format(&s.elem.routes[i].addr, ra, sizeof(ra)) < 0)
      ra[0] = 0;
    char w[32] = "";
    if (s.elem.routes[i].weight)
      snprintf(w, sizeof(w), " weight %u", s.elem.routes[i].weight);
    imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_INFO,
                        "route %s -> %s%s%s%s", s.elem.routes[i].domain, ra,
                        s.elem.routes[i].name[0] ? " name " : "",
                        s.elem.routes[i].name, w);
  }
  rl.p = p;
  imsec_hostnet_set_self(r, p);
  core_log_start(&s);
  pcscf_dgram_log_start(&s);
  /* The loops first: the control socket and /metrics ask them. */
  rv = imsec_hostnet_start(r);
  daemon_ops *dops = NULL;
  if (rv == 0) {
    daemon_ops_hooks hooks;
    daemon_ops_hostnet_hooks(&hooks, r);
    if (daemon_ops_start(&dops, &ops, SUB, &hooks, err, sizeof(err)) < 0) {
      imsec_hostnet_del(r);
      imsec_pcscf_del(p);
      imsec_crypto_del(crypto);
      imsec_x509_anchors_del(rl.anchors);
      return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
    }
    rv = imsec_hostnet_wait(r, -1);
  }
  daemon_ops_stop(dops);
  int sig = imsec_hostnet_signal(r);
  imsec_hostnet_del(r);
  imsec_pcscf_del(p);
  imsec_crypto_del(crypto);
  imsec_x509_anchors_del(rl.anchors);
  if (rv < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot run: %s", imsec_strerror(rv));
  imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_INFO, "stopped%s",
                      sig ? " by signal" : "");
  return CLI_EXIT_OK;
}

const cli_cmd imsec_cmd_pcscf = {
    .name = "pcscf",
    .summary = "run a P-CSCF (TLS towards UEs, routes to home S-CSCFs)",
    .run = run,
    .planned = 0,
};
