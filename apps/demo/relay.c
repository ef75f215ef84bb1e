/* imsec demo: links between a UE and its P-CSCF that the demo controls
 * (demo.h): a datagram link that loses DTLS application data (the DTLS
 * scene: SIP over UDP must retransmit, RFC 3261 §17.1.1.2), and a TCP
 * link that can be cut (the network drops a connection: the UE comes
 * back, mode M3 with the AKA-derived key). One thread each, on
 * 127.0.0.1. */
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

#define RELAY_PAIRS 8

struct relay {
  int stream;
  uint16_t to, port;
  char who[32];
  int lsock;   /* UDP: the client side; TCP: the listener */
  int up;      /* UDP: the socket towards the P-CSCF */
  int wake[2]; /* stop / cut */
  struct sockaddr_in client;
  int have_client;
  unsigned lose;
  atomic_uint lost;
  int pairs[RELAY_PAIRS][2]; /* TCP: client, upstream */
  pthread_t th;
  int running;
};

static int sock_bound(int type, uint16_t *port) {
  int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &al) != 0) {
    close(s);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return s;
}

static int sock_to(int type, uint16_t port) {
  int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

/* A datagram from the UE: DTLS application data (RFC 6347 §4.1, content
 * type 23) is lost while the link owes losses. */
static void udp_from_client(relay *r, const uint8_t *b, size_t n) {
  if (n > 0 && b[0] == 23 && atomic_load(&r->lost) < r->lose) {
    atomic_fetch_add(&r->lost, 1);
    char line[128];
    snprintf(line, sizeof line,
             "(lost: a datagram of %zu bytes, DTLS application data)", n);
    ladder_add(imsec_hostnet_now(), r->who, 1, 0, r->port, r->to, line,
               strlen(line));
    return;
  }
  (void)send(r->up, b, n, 0);
}

static void pair_close(relay *r, size_t i) {
  for (int k = 0; k < 2; k++)
    if (r->pairs[i][k] >= 0) {
      close(r->pairs[i][k]);
      r->pairs[i][k] = -1;
    }
}

static void *relay_main(void *arg) {
  relay *r = arg;
  uint8_t buf[65536];
  for (;;) {
    struct pollfd pf[3 + 2 * RELAY_PAIRS];
    size_t n = 0;
    pf[n++] = (struct pollfd){.fd = r->wake[0], .events = POLLIN};
    pf[n++] = (struct pollfd){.fd = r->lsock, .events = POLLIN};
    if (!r->stream)
      pf[n++] = (struct pollfd){.fd = r->up, .events = POLLIN};
    else
      for (size_t i = 0; i < RELAY_PAIRS; i++)
        for (int k = 0; k < 2; k++)
          pf[n++] = (struct pollfd){.fd = r->pairs[i][k], .events = POLLIN};
    if (poll(pf, n, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (pf[0].revents) {
      char c;
      if (read(r->wake[0], &c, 1) != 1 || c == 'q')
        break;
      /* 'c': cut every relayed connection. */
      for (size_t i = 0; i < RELAY_PAIRS; i++)
        pair_close(r, i);
      continue;
    }
    if (!r->stream) {
      if (pf[1].revents & POLLIN) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t k = recvfrom(r->lsock, buf, sizeof buf, 0,
                             (struct sockaddr *)&from, &fl);
        if (k > 0) {
          r->client = from;
          r->have_client = 1;
          udp_from_client(r, buf, (size_t)k);
        }
      }
      if (pf[2].revents & POLLIN) {
        ssize_t k = recv(r->up, buf, sizeof buf, 0);
        if (k > 0 && r->have_client)
          (void)sendto(r->lsock, buf, (size_t)k, 0,
                       (struct sockaddr *)&r->client, sizeof r->client);
      }
      continue;
    }
    if (pf[1].revents & POLLIN) {
      int c = accept4(r->lsock, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) {
        int u = sock_to(SOCK_STREAM, r->to);
        size_t i = 0;
        while (i < RELAY_PAIRS && r->pairs[i][0] >= 0)
          i++;
        if (u < 0 || i == RELAY_PAIRS) {
          close(c);
          if (u >= 0)
            close(u);
        } else {
          r->pairs[i][0] = c;
          r->pairs[i][1] = u;
        }
      }
    }
    for (size_t i = 0; i < RELAY_PAIRS; i++)
      for (int k = 0; k < 2; k++) {
        struct pollfd *p = &pf[2 + 2 * i + (size_t)k];
        if (p->fd < 0 || !(p->revents & (POLLIN | POLLHUP | POLLERR)) ||
            r->pairs[i][k] != p->fd)
          continue;
        ssize_t got = read(p->fd, buf, sizeof buf);
        if (got <= 0 || write(r->pairs[i][1 - k], buf, (size_t)got) != got)
          pair_close(r, i);
      }
  }
  return NULL;
}

relay *relay_new(int stream, uint16_t to, unsigned lose, const char *who) {
  relay *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->stream = stream;
  r->to = to;
  r->lose = lose;
  r->up = -1;
  r->wake[0] = r->wake[1] = -1;
  snprintf(r->who, sizeof r->who, "%s", who);
  for (size_t i = 0; i < RELAY_PAIRS; i++)
    r->pairs[i][0] = r->pairs[i][1] = -1;
  r->lsock = sock_bound(stream ? SOCK_STREAM : SOCK_DGRAM, &r->port);
  if (r->lsock < 0 || pipe2(r->wake, O_CLOEXEC) != 0)
    goto fail;
  if (stream ? listen(r->lsock, 8) != 0 : (r->up = sock_to(SOCK_DGRAM, to)) < 0)
    goto fail;
  if (pthread_create(&r->th, NULL, relay_main, r) != 0)
    goto fail;
  r->running = 1;
  ladder_port_note(r->port, who);
  return r;
fail:
  relay_del(r);
  return NULL;
}

uint16_t relay_port(const relay *r) {
  return r ? r->port : 0;
}

unsigned relay_lost(relay *r) {
  return r ? atomic_load(&r->lost) : 0;
}

void relay_cut(relay *r) {
  if (r && r->running)
    if (write(r->wake[1], "c", 1) != 1)
      return;
}

void relay_del(relay *r) {
  if (!r)
    return;
  if (r->running) {
    if (write(r->wake[1], "q", 1) == 1)
      pthread_join(r->th, NULL);
  }
  for (size_t i = 0; i < RELAY_PAIRS; i++)
    pair_close(r, i);
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
