/* The UDP relay of the datagram scenarios (udp_relay.h). */
#include "udp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* RFC 6347 §4.1 / RFC 5246 §6.2.1: ContentType application_data. */
#define CT_APPLICATION_DATA 23

struct t_udp_relay {
  int front;   /* bound on 127.0.0.1: the client sends here */
  int back;    /* connected to the server */
  int stop[2]; /* a pipe: a byte stops the thread */
  pthread_t th;
  uint16_t port;
  struct sockaddr_in client;
  int have_client;
  atomic_int lose_nth[2]; /* [0] up, [1] down */
  atomic_int seen[2];
  atomic_size_t lost;
};

/* Lose this datagram? Counts the application-data ones of a direction. */
static int lose(t_udp_relay *r, int down, const uint8_t *p, size_t n) {
  if (n == 0 || p[0] != CT_APPLICATION_DATA)
    return 0;
  int k = atomic_fetch_add(&r->seen[down], 1) + 1;
  if (k == atomic_load(&r->lose_nth[down])) {
    atomic_fetch_add(&r->lost, 1);
    return 1;
  }
  return 0;
}

static void *run(void *arg) {
  t_udp_relay *r = arg;
  uint8_t buf[65536];
  for (;;) {
    struct pollfd fds[3] = {
        {r->front, POLLIN, 0}, {r->back, POLLIN, 0}, {r->stop[0], POLLIN, 0}};
    if (poll(fds, 3, -1) < 0)
      continue;
    if (fds[2].revents)
      break;
    if (fds[0].revents & POLLIN) {
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      ssize_t n =
          recvfrom(r->front, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (n >= 0) {
        if (!r->have_client) {
          r->client = from;
          r->have_client = 1;
        }
        if (from.sin_port == r->client.sin_port &&
            from.sin_addr.s_addr == r->client.sin_addr.s_addr &&
            !lose(r, 0, buf, (size_t)n))
          (void)send(r->back, buf, (size_t)n, 0);
      }
    }
    if (fds[1].revents & POLLIN) {
      ssize_t n = recv(r->back, buf, sizeof buf, 0);
      if (n >= 0 && r->have_client && !lose(r, 1, buf, (size_t)n))
        (void)sendto(r->front, buf, (size_t)n, 0,
                     (const struct sockaddr *)&r->client, sizeof r->client);
    }
  }
  return NULL;
}

int t_udp_relay_new(t_udp_relay **out, uint16_t server_port) {
  t_udp_relay *r = calloc(1, sizeof *r);
  if (!r)
    return -1;
  r->front = socket(AF_INET, SOCK_DGRAM, 0);
  r->back = socket(AF_INET, SOCK_DGRAM, 0);
  r->stop[0] = r->stop[1] = -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  int ok = r->front >= 0 && r->back >= 0 && pipe(r->stop) == 0 &&
           bind(r->front, (struct sockaddr *)&a, sizeof a) == 0 &&
           getsockname(r->front, (struct sockaddr *)&a, &al) == 0;
  if (ok) {
    r->port = ntohs(a.sin_port);
    a.sin_port = htons(server_port);
    ok = connect(r->back, (struct sockaddr *)&a, sizeof a) == 0 &&
         pthread_create(&r->th, NULL, run, r) == 0;
  }
  if (!ok) {
    if (r->front >= 0)
      close(r->front);
    if (r->back >= 0)
      close(r->back);
    if (r->stop[0] >= 0) {
      close(r->stop[0]);
      close(r->stop[1]);
    }
    free(r);
    return -1;
  }
  *out = r;
  return 0;
}

void t_udp_relay_del(t_udp_relay *r) {
  if (!r)
    return;
  char b = 1;
  if (write(r->stop[1], &b, 1) == 1)
    pthread_join(r->th, NULL);
  close(r->front);
  close(r->back);
  close(r->stop[0]);
  close(r->stop[1]);
  free(r);
}

uint16_t t_udp_relay_port(const t_udp_relay *r) {
  return r->port;
}

void t_udp_relay_lose(t_udp_relay *r, int down, int nth) {
  atomic_store(&r->lose_nth[down ? 1 : 0], nth);
}

size_t t_udp_relay_lost(const t_udp_relay *r) {
  return atomic_load(&((t_udp_relay *)r)->lost);
}
