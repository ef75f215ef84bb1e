/* imsec demo: a datagram link between a UE and its P-CSCF that loses DTLS
 * application data (demo.h): the DTLS scene shows SIP over UDP
 * retransmitting (RFC 3261 §17.1.1.2, Timer A). One thread, on
 * 127.0.0.1; one client (the UE). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "demo.h"

struct relay {
  uint16_t to, port;
  char who[32];
  int lsock;   /* the UE's side */
  int up;      /* towards the P-CSCF */
  int wake[2]; /* stop */
  struct sockaddr_in client;
  int have_client;
  unsigned lose;
  atomic_uint lost;
  pthread_t th;
  int running;
};

static int udp_socket(uint16_t bind_port_out_or_connect, int do_connect,
                      uint16_t *port) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (do_connect) {
    a.sin_port = htons(bind_port_out_or_connect);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
      close(s);
      return -1;
    }
    return s;
  }
  socklen_t al = sizeof a;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &al) != 0) {
    close(s);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return s;
}

/* A datagram from the UE: DTLS application data (RFC 6347 §4.1, content
 * type 23), that is SIP, is lost while the link owes losses; the ladder
 * notes it. */
static void from_client(relay *r, const uint8_t *b, size_t n) {
  if (n > 0 && b[0] == 23 && atomic_load(&r->lost) < r->lose) {
    atomic_fetch_add(&r->lost, 1);
    char line[128];
    snprintf(line, sizeof line,
             "(lost: a datagram of %zu bytes, DTLS application data)", n);
    ladder_add(imsec_hostnet_now(), r->who, 1, 0, r->port, r->to, line,
               strlen(line));
    return;
  }
  if (send(r->up, b, n, 0) < 0) {
    /* The P-CSCF's port is unreachable for now: as any lost datagram. */
  }
}

static void *relay_main(void *arg) {
  relay *r = arg;
  uint8_t buf[65536];
  for (;;) {
    struct pollfd pf[3] = {{.fd = r->wake[0], .events = POLLIN},
                           {.fd = r->lsock, .events = POLLIN},
                           {.fd = r->up, .events = POLLIN}};
    if (poll(pf, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (pf[0].revents)
      break;
    if (pf[1].revents & POLLIN) {
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      ssize_t k =
          recvfrom(r->lsock, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (k > 0) {
        r->client = from;
        r->have_client = 1;
        from_client(r, buf, (size_t)k);
      }
    }
    if (pf[2].revents & (POLLIN | POLLERR)) {
      ssize_t k = recv(r->up, buf, sizeof buf, 0);
      if (k > 0 && r->have_client &&
          sendto(r->lsock, buf, (size_t)k, 0, (struct sockaddr *)&r->client,
                 sizeof r->client) < 0) {
        /* The UE's socket went: nothing to relay to. */
      }
    }
  }
  return NULL;
}

relay *relay_new(uint16_t to, unsigned lose, const char *who) {
  relay *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->to = to;
  r->lose = lose;
  r->lsock = r->up = -1;
  r->wake[0] = r->wake[1] = -1;
  snprintf(r->who, sizeof r->who, "%s", who);
  if ((r->lsock = udp_socket(0, 0, &r->port)) < 0 ||
      (r->up = udp_socket(to, 1, NULL)) < 0 || pipe2(r->wake, O_CLOEXEC) != 0 ||
      pthread_create(&r->th, NULL, relay_main, r) != 0) {
    relay_del(r);
    return NULL;
  }
  r->running = 1;
  /* Both ends of the link: the P-CSCF sees the UE at the second. */
  ladder_port_note(r->port, who);
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  if (getsockname(r->up, (struct sockaddr *)&a, &al) == 0)
    ladder_port_note(ntohs(a.sin_port), who);
  return r;
}

uint16_t relay_port(const relay *r) {
  return r ? r->port : 0;
}

unsigned relay_lost(relay *r) {
  return r ? atomic_load(&r->lost) : 0;
}

void relay_del(relay *r) {
  if (!r)
    return;
  if (r->running && write(r->wake[1], "q", 1) == 1)
    pthread_join(r->th, NULL);
  int fds[] = {r->lsock, r->up, r->wake[0], r->wake[1]};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(r);
}

static relay *g_kept[8];
static size_t g_nkept;

void relay_keep(relay *r) {
  if (!r)
    return;
  if (g_nkept == sizeof g_kept / sizeof g_kept[0])
    relay_del(r);
  else
    g_kept[g_nkept++] = r;
}

void relays_finish(void) {
  for (size_t i = 0; i < g_nkept; i++)
    relay_del(g_kept[i]);
  g_nkept = 0;
}
