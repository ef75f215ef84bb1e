/* imsec demo: the DTLS variant (demo.h). SIP over DTLS 1.2 on UDP
 * (draft-jennings-sip-dtls; not a registered SIP transport): the UE
 * registers through a link that loses its first datagram of SIP, and the
 * RFC 3261 §17.1.1.2 retransmission (Timer A) brings it through; a
 * ClientHello from a source that never answers gets a HelloVerifyRequest
 * and nothing else: the P-CSCF keeps no state for it (RFC 6347 §4.2.1). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "demo.h"

#ifdef DEMO_HAVE_UE
#include "imsec/trust.h"

#if DEMO_HAVE_DTLS
/* Registration over DTLS with one datagram lost on the way. */
static void scene_dtls_register(demo *d) {
  result *r = result_add("DTLS registration (UE L)",
                         "registered; 1 datagram lost, REGISTER resent");
  int64_t t0 = imsec_hostnet_now();
  relay *link = relay_new(d->dtls_port, 1, "lossy-link");
  if (!link) {
    snprintf(r->got, sizeof r->got, "no lossy link");
    return;
  }
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = relay_port(link);
  o.host = IMSEC_FX_PCSCF_HOME;
  o.dtls = 1;
  result rl = {0};
  demo_ue *u = scene_register(&rl, "ue-L", imsec_fx_sub_by(&demo_fx, "L"), &o,
                              IMSEC_TRUST_HOME);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  int64_t at[8];
  size_t regs = ladder_times("ue-L", "REGISTER", t0, t1, at, 8);
  unsigned lost = relay_lost(link);
  /* The first REGISTER was lost; Timer A (T1, RFC 3261 §17.1.1.2) sent it
   * again. */
  int64_t resent = regs >= 2 ? at[1] - at[0] : -1;
  if (u) {
    imsec_ue_status s = ue_status(u);
    snprintf(r->got, sizeof r->got,
             "%.800s; %u datagram lost, %zu REGISTERs sent (1 resent after "
             "%lld ms), %u challenge(s)",
             rl.got, lost, regs, (long long)resent, s.challenges);
    /* Two REGISTERs (challenge, answer) and the one resent. */
    r->ok =
        rl.ok && lost == 1 && regs == 3 && s.challenges == 1 && resent >= 400;
  } else {
    snprintf(r->got, sizeof r->got, "%s", rl.got);
  }
  ladder_print(t0, t1);
  /* The UE stays registered over the link: both go at the end. */
  relay_keep(link);
}
#endif
#endif /* DEMO_HAVE_UE */

#if DEMO_HAVE_DTLS
/* A DTLS 1.2 ClientHello without a cookie (RFC 6347 §4.2.1, RFC 5246
 * §7.4.1.2), as any client's first flight: ECDHE-ECDSA with AES-GCM on
 * P-256. */
static size_t client_hello(uint8_t *b, size_t cap, const uint8_t rnd[32]) {
  static const uint8_t tail[] = {
      0x00,                   /* session_id: empty */
      0x00,                   /* cookie: empty */
      0x00, 0x04, 0xc0, 0x2b, /* ECDHE-ECDSA-AES128-GCM-SHA256 */
      0xc0, 0x2f,             /* ECDHE-RSA-AES128-GCM-SHA256 */
      0x01, 0x00,             /* compression: null */
      0x00, 0x16,             /* extensions */
      0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17, /* groups: P-256 */
      0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, /* point formats: uncompressed */
      0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, /* ecdsa_secp256r1 */
  };
  size_t body = 2 + 32 + sizeof tail;
  size_t hs = 12 + body, all = 13 + hs;
  if (cap < all)
    return 0;
  uint8_t *p = b;
  /* Record: handshake, DTLS 1.2, epoch 0, sequence 0. */
  *p++ = 22;
  *p++ = 0xfe;
  *p++ = 0xfd;
  memset(p, 0, 8);
  p += 8;
  *p++ = (uint8_t)(hs >> 8);
  *p++ = (uint8_t)hs;
  /* Handshake: client_hello, message_seq 0, one whole fragment. */
  *p++ = 1;
  for (int k = 0; k < 2; k++) {
    if (k == 1) {
      *p++ = 0;
      *p++ = 0; /* message_seq */
      *p++ = 0;
      *p++ = 0;
      *p++ = 0; /* fragment_offset */
    }
    *p++ = (uint8_t)(body >> 16);
    *p++ = (uint8_t)(body >> 8);
    *p++ = (uint8_t)body;
  }
  *p++ = 0xfe;
  *p++ = 0xfd;
  memcpy(p, rnd, 32);
  p += 32;
  memcpy(p, tail, sizeof tail);
  p += sizeof tail;
  return (size_t)(p - b);
}

static const char *hs_name(uint8_t t) {
  switch (t) {
  case 2:
    return "ServerHello";
  case 3:
    return "HelloVerifyRequest";
  case 11:
    return "Certificate";
  default:
    return "handshake";
  }
}

/* A spoofed source: one ClientHello from a plain UDP socket, and only a
 * HelloVerifyRequest comes back; the P-CSCF has no flow for it. */
static void scene_dtls_spoof(demo *d) {
  result *r = result_add("DTLS: ClientHello w/o cookie",
                         "1 HelloVerifyRequest back, no state, 0 SIP");
  int64_t t0 = imsec_hostnet_now();
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(d->dtls_port);
  uint8_t rnd[32], hello[256], back[4096];
  size_t n = 0;
  struct sockaddr_in me;
  socklen_t ml = sizeof me;
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(s, (struct sockaddr *)&me, &ml) != 0 ||
      imsec_random(d->crypto, rnd, sizeof rnd) != 0 ||
      (n = client_hello(hello, sizeof hello, rnd)) == 0 ||
      send(s, hello, n, 0) != (ssize_t)n) {
    snprintf(r->got, sizeof r->got, "could not send the ClientHello");
    if (s >= 0)
      close(s);
    return;
  }
  /* On the ladder as the other messages: this is DTLS, not SIP. */
  uint16_t me_port = ntohs(me.sin_port);
  char line[160];
  snprintf(line, sizeof line, "DTLS ClientHello (%zu bytes, no cookie)", n);
  ladder_add(imsec_hostnet_now(), "spoofer", 1, 0, me_port, d->dtls_port, line,
             strlen(line));
  /* Collect what comes back for a while: a server that kept state would
   * go on with a ServerHello and its certificate. */
  size_t got = 0, hvr = 0, cookie = 0;
  int64_t end = imsec_hostnet_now() + 300;
  for (;;) {
    int left = (int)(end - imsec_hostnet_now());
    if (left <= 0)
      break;
    struct pollfd pf = {.fd = s, .events = POLLIN};
    if (poll(&pf, 1, left) <= 0)
      break;
    ssize_t k = recv(s, back, sizeof back, 0);
    if (k <= 0)
      break;
    got++;
    /* Record 13 bytes, handshake header 12; HelloVerifyRequest body:
     * server_version (2), cookie<0..255> (RFC 6347 §4.2.1). */
    uint8_t type = k > 25 && back[0] == 22 ? back[13] : 0;
    if (type == 3) {
      hvr++;
      cookie = k > 27 ? back[27] : 0;
    }
    snprintf(line, sizeof line, "DTLS %s (%zd bytes%s)",
             type ? hs_name(type) : "datagram", k,
             type == 3 ? ", a cookie for this source address" : "");
    ladder_add(imsec_hostnet_now(), "pcscf-dtls", 1, 0, d->dtls_port, me_port,
               line, strlen(line));
  }
  close(s);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  size_t sip = ladder_received("pcscf-dtls", d->dtls_port, t0, t1);
  snprintf(r->got, sizeof r->got,
           "%zu datagram(s) back: %zu HelloVerifyRequest (cookie %zu "
           "bytes); the P-CSCF received %zu SIP message(s)",
           got, hvr, cookie, sip);
  r->ok = got == 1 && hvr == 1 && cookie > 0 && sip == 0;
  ladder_print(t0, t1);
}
#endif

#if DEMO_HAVE_DTLS && defined(DEMO_HAVE_UE)
#define SCENE(fn) fn
#else
#define SCENE(fn) NULL
#endif

const demo_scene demo_scenes_dtls[] = {
    {DEMO_DTLS, 1,
     "DTLS: UE L registers over DTLS 1.2/UDP; the link loses its first SIP "
     "datagram, Timer A resends it",
     SCENE(scene_dtls_register)},
    {DEMO_DTLS, 1,
     "DTLS refused: a ClientHello from a spoofed source without a cookie "
     "gets a HelloVerifyRequest and no state",
     SCENE(scene_dtls_spoof)},
};
const size_t demo_n_scenes_dtls =
    sizeof demo_scenes_dtls / sizeof demo_scenes_dtls[0];
