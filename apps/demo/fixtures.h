/*
 * Fixtures of the demo network, reusable by tests and benchmarks (library
 * imsec_fixtures): a trust-domain PKI (crypto/pki.c), ISIM profiles, HSS
 * records and element settings, all written into one temporary folder.
 *
 * The names are those of DESIGN.md §6: an IMS root CA for the trust domain
 * 3gppnetwork.org, operator CAs for MNC 001 (home), 002 (roaming partner)
 * and 003 (no agreement), P-CSCF and core-node certificates under them and
 * five subscribers A..E of the home network.
 *
 * Lifetime: imsec_fx_init (makes the folder) -> imsec_fx_make_pki ->
 * imsec_fx_make_profiles -> ... -> imsec_fx_free (frees the credentials,
 * wipes the keys) and imsec_fx_remove (deletes the folder, only one that
 * imsec_fx_init made). One imsec_fx serves one thread at a time.
 */
#ifndef IMSEC_APPS_DEMO_FIXTURES_H
#define IMSEC_APPS_DEMO_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/crypto.h"
#include "imsec/hss.h"
#include "imsec/pki.h"

#define IMSEC_FX_TD "3gppnetwork.org"
#define IMSEC_FX_HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMSEC_FX_VISITED "ims.mnc002.mcc001.3gppnetwork.org"
#define IMSEC_FX_OTHER "ims.mnc003.mcc001.3gppnetwork.org"
#define IMSEC_FX_PCSCF_HOME "pcscf." IMSEC_FX_HOME
#define IMSEC_FX_SCSCF_NODE "scscf." IMSEC_FX_HOME
/* The P-CSCFs' Mw identities (TS 33.310 network-element certificates). */
#define IMSEC_FX_PCSCF_HOME_MW "pcscf-mw." IMSEC_FX_HOME
#define IMSEC_FX_PCSCF_VISITED_MW "pcscf-mw." IMSEC_FX_VISITED
#define IMSEC_FX_PCSCF_VISITED "pcscf." IMSEC_FX_VISITED
#define IMSEC_FX_PCSCF_OTHER "pcscf." IMSEC_FX_OTHER
#define IMSEC_FX_PCSCF_REALM "pcscf2." IMSEC_FX_VISITED
/* Valid under the IMS root, but named outside the trust domain. */
#define IMSEC_FX_PCSCF_OUTSIDE "pcscf.ims.example.net"

/* Files imsec_fx_make_pki writes (relative to the folder). Each element
 * certificate is HOST.chain.pem (leaf, then its CA) with its key HOST.key. */
#define IMSEC_FX_ROOT_CRT "root.crt"
#define IMSEC_FX_HOME_CA_CRT "op-mcc001-mnc001.crt"
#define IMSEC_FX_PARTNER_CA_CRT "op-mcc001-mnc002.crt"
#define IMSEC_FX_OTHER_CA_CRT "op-mcc001-mnc003.crt"

/* The subscribers, by the scenes that use them (apps/demo/scenes*.c):
 * A..E mode M1 (E also for the refused cases of M2a and M3), F M2a, G and
 * H M2b (H's server certificate names G), I the caller in M2b, J M3 with
 * a configured key, K M3 with the AKA-derived key, L DTLS, M a softphone
 * without an ISIM: SIP Digest with a password (TS 33.203 Annex N). */
#define IMSEC_FX_N_SUBS ((size_t)13)
/* The SIP Digest subscriber's label, and a password file holding another
 * password (its refused case), one line, mode 0600. */
#define IMSEC_FX_DIGEST "M"
#define IMSEC_FX_PASSWORD_WRONG "ue-M-wrong.password"

/* UE certificates imsec_fx_make_pki writes, as `imsec pki ue` makes them
 * (a SAN URI sip:IMPI, EKU clientAuth; serverAuth too for a UE that
 * listens, mode M2b), chain file leaf then the home operator CA:
 * ue-LABEL.chain.pem with ue-LABEL.key for F (client) and G (client and
 * server); ue-H-wrong.* is H's server certificate but names G's IMPI. */
#define IMSEC_FX_UE_WRONG "ue-H-wrong"
/* The P-CSCF's configured PSKs (mode M3): one line "IMPI HEXKEY" per
 * subscriber with a PSK (J and E), mode 0600. The UE's PSK files are
 * ue-LABEL.psk (J's key, and E's) and ue-E-wrong.psk (a key the P-CSCF
 * does not have), one hex line, mode 0600. */
#define IMSEC_FX_PCSCF_PSK "pcscf-psk.txt"
#define IMSEC_FX_PSK_WRONG "ue-E-wrong.psk"

/* One subscriber of the home network. k and opc are secrets (wiped by
 * imsec_fx_free). */
typedef struct imsec_fx_sub {
  const char *label; /* "A", "B", ... */
  const char *msin;  /* the IMSI's last 10 digits */
  uint8_t k[16], opc[16];
  uint8_t sqn_isim[6]; /* the profile's SQN_MS */
  char impi[128], impu[160], tel[64];
  char profile[300]; /* the ISIM profile file, ue-LABEL.yaml */
  /* Its certificate chain and key, "" when it has none. */
  char cert[1024], key[1024];
  /* Its PSK (secret) and PSK file ue-LABEL.psk, "" when it has none. */
  uint8_t psk[32];
  char psk_file[1024];
  /* SIP Digest (TS 33.203 Annex N) instead of IMS AKA: no K, OPc or SQN;
   * the password (secret, 24 base64 characters of 18 random octets, as
   * `imsec isim new --digest` draws one) in the file ue-LABEL.password
   * (one line, mode 0600) that its profile's password_file and `imsec
   * hss add --password-file` name. */
  int digest;
  char password[32];
  char password_file[1024];
} imsec_fx_sub;

typedef struct imsec_fx {
  char dir[256];
  int made; /* dir was made by imsec_fx_init */
  imsec_pki_cred *root, *op1, *op2, *op3;
  imsec_fx_sub subs[IMSEC_FX_N_SUBS];
} imsec_fx;

/* Make a fresh folder /tmp/STEM-XXXXXX (STEM "imsec-demo" when NULL) and
 * reset `f`. 0, or -1 with errno set. */
int imsec_fx_init(imsec_fx *f, const char *stem);
/* The same under `parent` (NULL: /tmp), e.g. a memory file system where
 * the stores' synchronous writes cost nothing. */
int imsec_fx_init_in(imsec_fx *f, const char *parent, const char *stem);
/* Free the credentials and wipe the subscribers' keys (the folder stays). */
void imsec_fx_free(imsec_fx *f);
/* Delete the folder and everything in it, depth first, no symlink
 * followed; only a folder imsec_fx_init made. 0, or -1 when some file
 * could not be removed. */
int imsec_fx_remove(imsec_fx *f);

/* DIR/NAME into buf (capacity cap); returns buf. */
const char *imsec_fx_path(const imsec_fx *f, const char *name, char *buf,
                          size_t cap);
/* Write `text` to `file` (created or truncated). 0 or -1. */
int imsec_fx_write_text(const char *file, const char *text);

/* The PKI, valid from now - 1 h to now + 30 days: the root and operator CA
 * certificates (IMSEC_FX_*_CRT) and a certificate with key for every
 * element host above. 0 or a negative imsec_err. */
int imsec_fx_make_pki(imsec_fx *f, int64_t now);

/* The subscribers A..M with fresh random K and OPc from `cr`, each with an
 * ISIM profile ue-LABEL.yaml (anchors: the root; home CA: MNC 001; partner:
 * MNC 002; policy trust-domain). D's profile SQN is ahead of SQN 0, so its
 * first challenge from an HSS at SQN 0 fails synchronisation. J and E get
 * a random PSK with its files (IMSEC_FX_PCSCF_PSK, ue-LABEL.psk,
 * IMSEC_FX_PSK_WRONG). M (IMSEC_FX_DIGEST) gets a random password
 * instead of keys: its profile names its password file (password_file)
 * and no K, OPc, AMF or SQN; IMSEC_FX_PASSWORD_WRONG holds another
 * password. Needs the PKI files. 0 or a negative value.
 *
 * The profiles of F, G, H (cert_file, key_file) and J (psk_identity,
 * psk_file) name their credentials only in a build with modes M2 and M3
 * (demo_modes.h): a profile parser without them refuses those keys. */
int imsec_fx_make_profiles(imsec_fx *f, imsec_crypto *cr);

/* Another profile of subscriber `s` at `file` (relative to the folder):
 * the same identity and keys, SQN `sqn_isim` of s, with these credentials
 * instead of its own (each NULL for none; paths relative to the folder):
 * how a scene gives a UE a certificate of another IMPI or a wrong PSK.
 * 0 or a negative value. */
int imsec_fx_profile_variant(imsec_fx *f, const imsec_fx_sub *s,
                             const char *file, const char *cert,
                             const char *key, const char *psk_file, char *path,
                             size_t cap);
/* Another profile of the SIP Digest subscriber `s` at `file` (relative
 * to the folder) naming `password_file` (relative to the folder) instead
 * of its own: how a scene gives a softphone a wrong password. 0 or a
 * negative value. */
int imsec_fx_password_variant(imsec_fx *f, const imsec_fx_sub *s,
                              const char *file, const char *password_file,
                              char *path, size_t cap);
/* The subscriber with `label`, or NULL. */
imsec_fx_sub *imsec_fx_sub_by(imsec_fx *f, const char *label);

/* The HSS record of `s` (AKAv1-MD5, AMF 8000, SQN 0; a SIP Digest
 * subscriber: its H(A1)s for the realm of its IMPI, imsec_hss_digest_set)
 * for any imsec_hss_store; wipe it with imsec_hss_sub_wipe. 0 or a
 * negative imsec_err. */
int imsec_fx_hss_record(const imsec_fx_sub *s, imsec_hss_sub *out);

/* The arguments of `imsec hss add` for `s` into database `db` (argv[0] is
 * "hss", NULL-terminated; the strings live in `a`, which holds the keys in
 * hex: wipe it with imsec_fx_hss_add_wipe). A SIP Digest subscriber:
 * `--scheme digest --password-file FILE` instead of the keys. 0 or -1. */
typedef struct imsec_fx_hss_add {
  char k[33], opc[33], impus[400];
  char *argv[18];
} imsec_fx_hss_add;
int imsec_fx_hss_add_argv(const imsec_fx_sub *s, const char *db,
                          imsec_fx_hss_add *a);
void imsec_fx_hss_add_wipe(imsec_fx_hss_add *a);

/* The home S-CSCF's arguments (`imsec scscf`, argv[0] "scscf"): plain TCP
 * on 127.0.0.1:port for P-CSCFs on loopback (--insecure-core) and mutual
 * TLS (TS 33.210) on 127.0.0.1:tls_port with its node certificate, for
 * peers of the home operator and the roaming partner. */
typedef struct imsec_fx_scscf {
  const char *db;
  uint16_t port, tls_port;
  char listen[64], tls_listen[64];
  char cert[1024], key[1024], ca[1024], partner[1024];
  char *argv[32];
} imsec_fx_scscf;
int imsec_fx_scscf_argv(const imsec_fx *f, imsec_fx_scscf *c);

/* A P-CSCF's settings file NAME.yaml (include/imsec/pcscf.h) and its
 * arguments (`imsec pcscf -c FILE`): TLS towards UEs on ue_port with the
 * certificate of `host`, a core listener on core_port and one route for
 * the home domain to route_port: mutual TLS with the Mw certificate `mw`,
 * or plain TCP from loopback when mw is NULL. */
typedef struct imsec_fx_pcscf {
  const char *name;    /* config file stem */
  const char *host;    /* certificate host */
  const char *visited; /* visited_network, or NULL */
  const char *mw;      /* Mw certificate host, or NULL */
  uint16_t ue_port, core_port, route_port;
  /* The deployment modes (DESIGN.md §2), all off for M1:
   * client_cert "request"/"require" (M2a) with the IMS root and the home
   * operator CA as anchors for UE certificates (ue_ca); dial_ue (M2b);
   * psk_file (M3 configured, a file in the folder); aka_psk (M3
   * AKA-derived); dtls_port: also listen dtls:127.0.0.1:dtls_port. */
  const char *client_cert;
  int dial_ue;
  const char *psk_file;
  int aka_psk;
  uint16_t dtls_port;
  char conf[300];
  char *argv[4];
} imsec_fx_pcscf;
int imsec_fx_pcscf_config(const imsec_fx *f, imsec_fx_pcscf *c);

#endif
