/* tests/support/udp_relay: datagrams pass both ways between one client
 * and a server; the n-th application-data datagram (DTLS ContentType 23,
 * RFC 6347 §4.1) of a direction is lost and counted, other kinds are not
 * counted. Plain UDP sockets on 127.0.0.1 stand in for DTLS ends. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"
#include "udp_relay.h"

static int udp_bound(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* One datagram within 2 s: its first octet, or -1. */
static int recv_one(int fd, struct sockaddr_in *from) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 2000) != 1)
    return -1;
  uint8_t b[64];
  socklen_t fl = sizeof *from;
  ssize_t n = recvfrom(fd, b, sizeof b, 0, (struct sockaddr *)from, &fl);
  return n > 0 ? b[1] : -1;
}

static void send_to(int fd, uint16_t port, uint8_t kind, uint8_t id) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  uint8_t b[2] = {kind, id};
  assert_int_equal(sendto(fd, b, 2, 0, (struct sockaddr *)&a, sizeof a), 2);
}

static void test_relay(void **state) {
  (void)state;
  uint16_t sp, cp;
  int srv = udp_bound(&sp), cli = udp_bound(&cp);
  t_udp_relay *r = NULL;
  assert_int_equal(t_udp_relay_new(&r, sp), 0);
  uint16_t rp = t_udp_relay_port(r);
  t_udp_relay_lose(r, 1, 2); /* the 2nd application datagram down */
  struct sockaddr_in from;
  /* Up: a handshake record (22) and application data (23) pass. */
  send_to(cli, rp, 22, 1);
  assert_int_equal(recv_one(srv, &from), 1);
  uint16_t back = ntohs(from.sin_port);
  send_to(cli, rp, 23, 2);
  assert_int_equal(recv_one(srv, &from), 2);
  /* Down: 22 passes uncounted, the first 23 passes, the second is lost,
   * the third passes. */
  send_to(srv, back, 22, 3);
  assert_int_equal(recv_one(cli, &from), 3);
  assert_int_equal(ntohs(from.sin_port), rp);
  send_to(srv, back, 23, 4);
  assert_int_equal(recv_one(cli, &from), 4);
  send_to(srv, back, 23, 5);
  send_to(srv, back, 23, 6);
  assert_int_equal(recv_one(cli, &from), 6);
  assert_int_equal(t_udp_relay_lost(r), 1);
  t_udp_relay_del(r);
  close(srv);
  close(cli);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_relay)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
