/*
 * Internal to host/: the net port's PSK table (mode M3, seed §3.3), one
 * per port, shared by all its loops: the keys the element installs with
 * IMSEC_ACT_PSK (with an expiry) and the configured ones
 * (imsec_hostnet_psk_set_static), the element's first. Listeners with
 * `psk` look keys up in it during handshakes, on loop threads.
 */
#ifndef IMSEC_HOST_NET_PSK_H
#define IMSEC_HOST_NET_PSK_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/host_net.h"

/* The most element-installed keys one port holds: a bound on what
 * registrations can make it keep (each entry is about 100 octets). */
#define HN_PSK_MAX_ENTRIES 1000000

typedef struct hn_psk_table hn_psk_table;

/* A new empty table holding at most `max` element keys (the port uses
 * HN_PSK_MAX_ENTRIES), or NULL (out of memory). */
hn_psk_table *hn_psk_new(size_t max);
/* Wipe every key and free (NULL ok). */
void hn_psk_del(hn_psk_table *t);

/* The element's key for `identity` (replacing its earlier one) until
 * `expires_at` (port ms; 0: no end), or its removal (len 0). `now` is the
 * port's clock. Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_LIMIT (the table is
 * full of live keys), IMSEC_ERR_NOMEM. */
int hn_psk_put(hn_psk_table *t, const char *identity, const uint8_t *key,
               size_t len, int64_t expires_at, int64_t now);

/* Replace the configured keys wholesale. Returns 0, IMSEC_ERR_INVAL,
 * IMSEC_ERR_NOMEM (nothing changed). */
int hn_psk_set_static(hn_psk_table *t, const imsec_hostnet_psk *e, size_t n);

/* imsec_net_psk_lookup_fn over a table (`arg`), on the port's clock. */
int hn_psk_lookup(void *arg, const uint8_t *identity, size_t identity_len,
                  uint8_t *key, size_t cap);

/* The same at a given time (tests). */
int hn_psk_lookup_at(hn_psk_table *t, const uint8_t *identity,
                     size_t identity_len, uint8_t *key, size_t cap,
                     int64_t now);

/* Element-installed entries held now, expired ones not yet purged
 * included (tests). */
size_t hn_psk_count(hn_psk_table *t);

#endif
