/*
 * SIP parsing throughput: a typical IMS REGISTER (Security-Client,
 * Authorization, Contact with +sip.instance, Path) and its 200 OK, parsed
 * and read the way an S-CSCF reads them (top Via branch, From tag, To URI,
 * Call-ID, CSeq, Max-Forwards, Expires, Contact expires/+sip.instance, Path,
 * Authorization, Service-Route, P-Associated-URI), by imsec, libosip2 and
 * sofia-sip on the same bytes in the same run. One thread; time is the
 * thread's CPU time, so figures are per core.
 *
 *   build-bench/tests/bench/bench_sip_parse [seconds-per-case]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imsec/sip.h"

#ifdef HAVE_OSIP2
#include <osipparser2/osip_parser.h>
#endif
#ifdef HAVE_SOFIA
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#endif

static const char reg[] =
    "REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 10.20.30.40:5060;branch=z9hG4bK3a5c1f0e9d;rport\r\n"
    "Via: SIP/2.0/TLS [2001:db8::9]:5061;received=2001:db8::9;rport=5061;"
    "branch=z9hG4bKue77a1\r\n"
    "Path: <sip:term@pcscf.ims.mnc001.mcc001.3gppnetwork.org;lr;ob>\r\n"
    "Max-Forwards: 69\r\n"
    "From: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>;"
    "tag=4fa3c2\r\n"
    "To: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>\r\n"
    "Call-ID: a84b4c76e66710@2001:db8::9\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: <sip:001010000000001@[2001:db8::9]:5061;transport=tls>;"
    "expires=600000;+sip.instance=\"<urn:gsma:imei:35209900-176148-1>\";"
    "reg-id=1;ob\r\n"
    "Authorization: Digest username=\"001010000000001@ims.mnc001.mcc001."
    "3gppnetwork.org\", realm=\"ims.mnc001.mcc001.3gppnetwork.org\", "
    "nonce=\"I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=\", "
    "uri=\"sip:ims.mnc001.mcc001.3gppnetwork.org\", "
    "response=\"ac938deae93ef334838716c625aa85c0\", algorithm=AKAv1-MD5, "
    "qop=auth, nc=00000001, cnonce=\"0a4f113b\", "
    "integrity-protected=\"tls-yes\"\r\n"
    "Security-Client: tls;q=0.2, ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;"
    "spi-c=1234;spi-s=1235;port-c=5062;port-s=5063\r\n"
    "Require: sec-agree\r\n"
    "Proxy-Require: sec-agree\r\n"
    "Supported: path, outbound, gruu\r\n"
    "P-Access-Network-Info: 3GPP-E-UTRAN-FDD; "
    "utran-cell-id-3gpp=0010100010019B01\r\n"
    "P-Visited-Network-ID: \"mnc002.mcc001.3gppnetwork.org\"\r\n"
    "Expires: 600000\r\n"
    "User-Agent: imsec-ue/0.1\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static const char ok[] =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/TCP 10.20.30.40:5060;branch=z9hG4bK3a5c1f0e9d;rport=5060;"
    "received=10.20.30.40\r\n"
    "Via: SIP/2.0/TLS [2001:db8::9]:5061;received=2001:db8::9;rport=5061;"
    "branch=z9hG4bKue77a1\r\n"
    "Path: <sip:term@pcscf.ims.mnc001.mcc001.3gppnetwork.org;lr;ob>\r\n"
    "Service-Route: <sip:orig@scscf.ims.mnc001.mcc001.3gppnetwork.org;lr>\r\n"
    "From: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>;"
    "tag=4fa3c2\r\n"
    "To: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>;"
    "tag=scscf-9b1e\r\n"
    "Call-ID: a84b4c76e66710@2001:db8::9\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: <sip:001010000000001@[2001:db8::9]:5061;transport=tls>;"
    "expires=600000;+sip.instance=\"<urn:gsma:imei:35209900-176148-1>\";"
    "reg-id=1;ob\r\n"
    "P-Associated-URI: <sip:+15551230001@ims.mnc001.mcc001.3gppnetwork.org>, "
    "<tel:+15551230001>\r\n"
    "Authentication-Info: qop=auth, rspauth=\"0123456789abcdef\", "
    "cnonce=\"0a4f113b\", nc=00000001\r\n"
    "Supported: path, outbound\r\n"
    "Require: outbound\r\n"
    "Date: Fri, 27 Nov 2026 21:00:00 GMT\r\n"
    "Server: imsec-scscf/0.1\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

/* CPU time of this thread: on a shared machine the figures are per core
 * and do not count time the scheduler gave to other processes. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile size_t sink;

/* ---------------------------------------------------------------- imsec */

static imsec_sip_msg g_msg;

static int imsec_one(char *buf, size_t len) {
  imsec_sip_msg *m = &g_msg;
  if (imsec_sip_parse(m, buf, len, 1) != 0)
    return -1;
  size_t acc = 0;
  const imsec_sip_via *v;
  const imsec_sip_addr *a;
  const imsec_sip_cseq *cs;
  imsec_str s;
  uint32_t u;
  if (imsec_sip_get_via(m, &v) != 0)
    return -1;
  acc += v->branch.len;
  if (imsec_sip_get_from(m, &a) != 0)
    return -1;
  acc += a->tag.len;
  if (imsec_sip_get_to(m, &a) != 0)
    return -1;
  acc += a->uri.len + a->tag.len;
  if (imsec_sip_get_call_id(m, &s) != 0)
    return -1;
  acc += s.len;
  if (imsec_sip_get_cseq(m, &cs) != 0)
    return -1;
  acc += cs->seq;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr c;
  while (imsec_sip_addr_next(m, IMSEC_SIP_H_CONTACT, &it, &c) > 0)
    acc += (size_t)c.expires + c.instance.len;
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  while (imsec_sip_addr_next(m, IMSEC_SIP_H_PATH, &it, &c) > 0)
    acc += c.uri.len;
  if (m->is_request) {
    if (imsec_sip_get_max_forwards(m, &u) == 0)
      acc += u;
    if (imsec_sip_get_expires(m, &u) == 0)
      acc += u;
    it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
    while (imsec_sip_auth_next(m, IMSEC_SIP_H_AUTHORIZATION, &it, &s) > 0)
      acc += s.len;
  } else {
    it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
    while (imsec_sip_addr_next(m, IMSEC_SIP_H_SERVICE_ROUTE, &it, &c) > 0)
      acc += c.uri.len;
    it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
    while (imsec_sip_addr_next(m, IMSEC_SIP_H_P_ASSOCIATED_URI, &it, &c) > 0)
      acc += c.uri.len;
  }
  sink += acc;
  return 0;
}

/* The same with a copy of the bytes into a fresh buffer first (what the
 * peers do internally). */
static char g_copy[4096];
static int imsec_copy_one(char *buf, size_t len) {
  memcpy(g_copy, buf, len);
  return imsec_one(g_copy, len);
}

/* ---------------------------------------------------------------- osip */

#ifdef HAVE_OSIP2
static int osip_one(char *buf, size_t len) {
  osip_message_t *m;
  if (osip_message_init(&m) != 0)
    return -1;
  if (osip_message_parse(m, buf, len) != 0) {
    osip_message_free(m);
    return -1;
  }
  size_t acc = 0;
  osip_via_t *v;
  osip_generic_param_t *p;
  if (osip_message_get_via(m, 0, &v) >= 0 &&
      osip_via_param_get_byname(v, "branch", &p) == 0 && p->gvalue)
    acc += strlen(p->gvalue);
  osip_from_t *f = osip_message_get_from(m);
  if (f && osip_from_get_tag(f, &p) == 0 && p->gvalue)
    acc += strlen(p->gvalue);
  osip_to_t *t = osip_message_get_to(m);
  if (t && t->url && t->url->host)
    acc += strlen(t->url->host);
  if (t && osip_to_get_tag(t, &p) == 0 && p->gvalue)
    acc += strlen(p->gvalue);
  osip_call_id_t *ci = osip_message_get_call_id(m);
  if (ci && ci->number)
    acc += strlen(ci->number);
  osip_cseq_t *cs = osip_message_get_cseq(m);
  if (cs && cs->number)
    acc += (size_t)atoi(cs->number);
  osip_contact_t *c;
  for (int i = 0; osip_message_get_contact(m, i, &c) >= 0; i++) {
    if (osip_contact_param_get_byname(c, "expires", &p) == 0 && p->gvalue)
      acc += (size_t)atoi(p->gvalue);
    if (osip_contact_param_get_byname(c, "+sip.instance", &p) == 0 && p->gvalue)
      acc += strlen(p->gvalue);
  }
  osip_header_t *h;
  /* libosip2 keeps Path, Service-Route, P-Associated-URI as raw headers */
  for (int i = 0; osip_message_header_get_byname(m, "path", i, &h) >= 0;
       i = osip_message_header_get_byname(m, "path", i, &h) + 1)
    acc += h->hvalue ? strlen(h->hvalue) : 0;
  if (MSG_IS_REQUEST(m)) {
    osip_header_t *mf;
    if (osip_message_get_max_forwards(m, 0, &mf) >= 0 && mf->hvalue)
      acc += (size_t)atoi(mf->hvalue);
    osip_header_t *ex;
    if (osip_message_get_expires(m, 0, &ex) >= 0 && ex->hvalue)
      acc += (size_t)atoi(ex->hvalue);
    osip_authorization_t *au;
    if (osip_message_get_authorization(m, 0, &au) >= 0 && au->response)
      acc += strlen(au->response);
  } else {
    for (int i = 0;
         osip_message_header_get_byname(m, "service-route", i, &h) >= 0;
         i = osip_message_header_get_byname(m, "service-route", i, &h) + 1)
      acc += h->hvalue ? strlen(h->hvalue) : 0;
    for (int i = 0;
         osip_message_header_get_byname(m, "p-associated-uri", i, &h) >= 0;
         i = osip_message_header_get_byname(m, "p-associated-uri", i, &h) + 1)
      acc += h->hvalue ? strlen(h->hvalue) : 0;
  }
  sink += acc;
  osip_message_free(m);
  return 0;
}
#endif

/* ---------------------------------------------------------------- sofia */

#ifdef HAVE_SOFIA
static int sofia_one(char *buf, size_t len) {
  msg_t *msg = msg_make(sip_default_mclass(), 0, buf, (ssize_t)len);
  if (!msg)
    return -1;
  sip_t *sip = sip_object(msg);
  if (!sip || sip->sip_error || !sip->sip_via || !sip->sip_from ||
      !sip->sip_to || !sip->sip_call_id || !sip->sip_cseq) {
    msg_destroy(msg);
    return -1;
  }
  size_t acc = 0;
  if (sip->sip_via->v_branch)
    acc += strlen(sip->sip_via->v_branch);
  if (sip->sip_from->a_tag)
    acc += strlen(sip->sip_from->a_tag);
  if (sip->sip_to->a_url->url_host)
    acc += strlen(sip->sip_to->a_url->url_host);
  if (sip->sip_to->a_tag)
    acc += strlen(sip->sip_to->a_tag);
  acc += strlen(sip->sip_call_id->i_id);
  acc += sip->sip_cseq->cs_seq;
  for (sip_contact_t *c = sip->sip_contact; c; c = c->m_next) {
    if (c->m_expires)
      acc += (size_t)atoi(c->m_expires);
    const char *inst = msg_params_find(c->m_params, "+sip.instance");
    if (inst)
      acc += strlen(inst);
  }
  for (sip_path_t *p = sip->sip_path; p; p = p->r_next)
    acc += p->r_url->url_host ? strlen(p->r_url->url_host) : 0;
  if (sip->sip_request) {
    if (sip->sip_max_forwards)
      acc += sip->sip_max_forwards->mf_count;
    if (sip->sip_expires)
      acc += sip->sip_expires->ex_delta;
    if (sip->sip_authorization && sip->sip_authorization->au_params)
      acc += strlen(sip->sip_authorization->au_params[0]);
  } else {
    for (sip_service_route_t *r = sip->sip_service_route; r; r = r->r_next)
      acc += r->r_url->url_host ? strlen(r->r_url->url_host) : 0;
    /* sofia-sip keeps P-Associated-URI among the unknown headers */
    for (sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next) {
      if (strcasecmp(u->un_name, "P-Associated-URI") == 0)
        acc += strlen(u->un_value);
    }
  }
  sink += acc;
  msg_destroy(msg);
  return 0;
}
#endif

typedef int (*parse_fn)(char *buf, size_t len);

static long g_total;

/* Runs `fn` over the message for about `secs` seconds; returns msgs/s. */
static double measure(parse_fn fn, const char *text, double secs) {
  size_t len = strlen(text);
  char *buf = malloc(len + 1);
  memcpy(buf, text, len + 1);
  if (fn(buf, len) != 0) {
    fprintf(stderr, "parse failed\n");
    exit(1);
  }
  long n = 0, batch = 1000;
  double t0 = now(), t;
  do {
    for (long i = 0; i < batch; i++) {
      if (fn(buf, len) != 0)
        exit(1);
    }
    n += batch;
    t = now();
  } while (t - t0 < secs);
  free(buf);
  g_total += n;
  return (double)n / (t - t0);
}

struct peer {
  const char *name;
  parse_fn fn;
};

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  int rounds = 3;
  imsec_sip_msg_init(&g_msg, NULL);
#ifdef HAVE_OSIP2
  parser_init();
#endif
  struct peer peers[] = {
      {"imsec", imsec_one},
      {"imsec+copy", imsec_copy_one},
#ifdef HAVE_OSIP2
      {"libosip2", osip_one},
#endif
#ifdef HAVE_SOFIA
      {"sofia-sip", sofia_one},
#endif
  };
  size_t np = sizeof(peers) / sizeof(peers[0]);
  const char *msgs[2] = {reg, ok};
  const char *names[2] = {"REGISTER", "200 OK"};
  double best[8][2] = {{0}};
  /* interleave rounds so that a noisy neighbour hurts everyone alike */
  /* IMSEC_BENCH_ONLY=name measures one parser (for profiling) */
  const char *only = getenv("IMSEC_BENCH_ONLY");
  for (int r = 0; r < rounds; r++) {
    for (size_t p = 0; p < np; p++) {
      if (only && strcmp(only, peers[p].name) != 0)
        continue;
      for (int k = 0; k < 2; k++) {
        if (getenv("IMSEC_BENCH_MSG") && atoi(getenv("IMSEC_BENCH_MSG")) != k)
          continue;
        double v = measure(peers[p].fn, msgs[k], secs);
        if (v > best[p][k])
          best[p][k] = v;
      }
    }
  }
  printf("message sizes: REGISTER %zu octets, 200 OK %zu octets; best of %d "
         "rounds of %.1f s of CPU time, one thread\n",
         strlen(reg), strlen(ok), rounds, secs);
  printf("%-11s %-9s %14s %10s\n", "parser", "message", "messages/s", "MB/s");
  for (size_t p = 0; p < np; p++) {
    for (int k = 0; k < 2; k++) {
      printf("%-11s %-9s %14.0f %10.1f\n", peers[p].name, names[k], best[p][k],
             best[p][k] * (double)strlen(msgs[k]) / 1e6);
    }
  }
  for (int k = 0; k < 2; k++) {
    double peer_best = 0;
    const char *who = "-";
    for (size_t p = 2; p < np; p++) {
      if (best[p][k] > peer_best) {
        peer_best = best[p][k];
        who = peers[p].name;
      }
    }
    if (peer_best > 0)
      printf("%s: imsec / %s (faster peer) = %.1fx (with copy %.1fx)\n",
             names[k], who, best[0][k] / peer_best, best[1][k] / peer_best);
  }
  if (only) /* for `perf stat`: cycles / messages */
    fprintf(stderr, "messages parsed: %ld\n", g_total);
  imsec_sip_msg_free(&g_msg);
  return 0;
}
