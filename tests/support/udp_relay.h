/*
 * udp_relay: a UDP relay on 127.0.0.1 between one client and one server,
 * for the datagram scenarios over real sockets: it can lose a chosen
 * datagram, as the sim's loss hook does in memory (sim_set_loss). DTLS
 * hides what a record carries, but not its kind (RFC 6347 §4.1: the
 * record header is in the clear), so the relay counts the datagrams that
 * carry application data, that is SIP messages (one per record), and
 * loses the n-th of them in the direction asked.
 *
 * One thread per relay; the first client address it hears from is the
 * client (later ones are ignored).
 */
#ifndef IMSEC_TEST_UDP_RELAY_H
#define IMSEC_TEST_UDP_RELAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct t_udp_relay t_udp_relay;

/* Start a relay on 127.0.0.1 (a free port) towards 127.0.0.1:server_port.
 * Returns 0 or -1. */
int t_udp_relay_new(t_udp_relay **out, uint16_t server_port);
/* Stop and free (NULL is ok). */
void t_udp_relay_del(t_udp_relay *r);
/* The port clients send to. */
uint16_t t_udp_relay_port(const t_udp_relay *r);
/* Lose the n-th (1-based) application-data datagram from the server to
 * the client (down) or the other way (up); 0: lose none. Counting starts
 * when the relay starts. Thread-safe. */
void t_udp_relay_lose(t_udp_relay *r, int down, int nth);
/* Datagrams lost so far. Thread-safe. */
size_t t_udp_relay_lost(const t_udp_relay *r);

#endif
