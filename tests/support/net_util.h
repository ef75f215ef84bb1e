/* Helpers for the net tests: certificates made at test time (no private key
 * is ever committed), an event recorder for imsec_net callbacks, and small
 * address helpers. */
#ifndef IMSEC_NET_UTIL_H
#define IMSEC_NET_UTIL_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "imsec/net.h"

/* A fresh temporary directory (static buffer); removed by t_rmdir. */
const char *t_mkdtemp(void);
void t_rmdir(const char *dir);

/* Write into `dir`: ca.pem (EC P-256 root), server.pem/server.key (EC
 * P-256, SAN dNS pcscf.ims.mnc001.mcc001.3gppnetwork.org and URI
 * sip:pcscf.ims.mnc001.mcc001.3gppnetwork.org), rsa.pem/rsa.key (RSA 2048,
 * CN only), client.pem/client.key (EC), other-ca.pem and rogue.pem /
 * rogue.key (a server cert under another root). Returns 0 or -1. */
int t_pki_make(const char *dir);
/* A fresh temporary directory holding that PKI (SSLKEYLOGFILE unset), or
 * NULL. */
const char *t_pki_setup(void);

/* Path `dir`/`name` in a static ring of buffers. */
const char *t_path(const char *dir, const char *name);

/* Recorded events. */
enum t_ev_type { T_EV_UP = 1, T_EV_DOWN = 2, T_EV_MSG = 3 };
typedef struct t_ev {
  int type;
  uint64_t id;
  int is_server;
  int reason;
  int resumed, psk;
  long verify;
  int nchain, nnames;
  char version[16];
  char name0[128];
  char peer[64];          /* imsec_net_flow_peer_text */
  char psk_identity[128]; /* imsec_net_flow_psk_identity, "" for NULL */
  uint16_t local_port;    /* from imsec_net_flow_local */
  size_t len;
  char msg[256]; /* first octets of a message */
} t_ev;

typedef struct t_rec t_rec;
/* A recorder for a net: the handler to put into imsec_net_config. With
 * `echo` set, server-side flows send every message back. */
t_rec *t_rec_new(int echo);
void t_rec_del(t_rec *r);
imsec_net_handler t_rec_handler(t_rec *r);
/* Make on_up of server (or client) flows keep them registered. */
void t_rec_set_keep(t_rec *r, int keep);
/* Make on_up of client flows refuse them with this code (0: accept). */
void t_rec_set_refuse(t_rec *r, int code);
/* Start client keepalives on client flows at up. */
void t_rec_set_keepalive(t_rec *r, uint32_t interval_ms, uint32_t timeout_ms);
/* Wait until an event of `type` (and of flow `id`, unless 0; and of side
 * `is_server`, unless -1) exists that was not returned before; copy it
 * into *out. Returns 0, or -1 after `ms` milliseconds. */
int t_rec_wait(t_rec *r, int type, uint64_t id, int is_server, int ms,
               t_ev *out);
/* Number of events of a type so far. */
int t_rec_count(t_rec *r, int type);
/* A log callback collecting lines; t_rec_log_has checks for a substring,
 * waiting up to 5 s for it to appear (every use expects the line). */
void t_rec_log(void *user, imsec_net_log_level lvl, const char *line);
int t_rec_log_has(t_rec *r, const char *needle);

/* 127.0.0.1:port / [::1]:port */
struct sockaddr_in t_lo4(uint16_t port);
struct sockaddr_in6 t_lo6(uint16_t port);

/* Milliseconds on a monotonic clock. */
uint64_t t_now_ms(void);

#endif
