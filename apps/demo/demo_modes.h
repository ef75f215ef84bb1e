/*
 * imsec demo: which deployment modes this build can show.
 *
 * Each mode needs its feature in the elements, the daemons and the ISIM
 * profile parser (DESIGN.md §2 "Deployment modes"). A mode whose feature
 * is not part of the build is never shown as passing: its scenes are left
 * out of the default run and `imsec demo --mode NAME` says it is not in
 * this build. Set a flag to 1 only when the build has the whole feature.
 *
 *   DEMO_HAVE_M2   mutual TLS (M2a: UE client certificate, P-CSCF
 *                  --client-cert/--ue-ca) and the UE server certificate
 *                  (M2b: UE --listen/--close-after-register, P-CSCF
 *                  --dial-ue); profile keys cert_file, key_file
 *   DEMO_HAVE_M3   shared-key TLS, configured (P-CSCF --psk-file, profile
 *                  keys psk_identity, psk_file) and AKA-derived (--aka-psk)
 *   DEMO_HAVE_DTLS SIP over DTLS (P-CSCF listen dtls:H:P, UE dtls:H:P,
 *                  RFC 3261 §17 timers on the datagram leg)
 *   DEMO_HAVE_CALLS calls through the P-CSCF and S-CSCF (not a deployment
 *                  mode: scenes over M1, `--mode call`): the UE's call
 *                  API (imsec_ue_call), both proxies' INVITE transactions
 *                  and Record-Route dialogs, the S-CSCF's terminating
 *                  routing for every method
 *   DEMO_HAVE_DIGEST the softphone scenes (`--mode digest`, over M1): SIP
 *                  Digest over TLS (TS 33.203 Annexes N, O, P, Q) in the
 *                  HSS (`imsec hss add --scheme digest --password-file`),
 *                  the S-CSCF, the P-CSCF and the UE (profile key
 *                  password_file); calls with it need DEMO_HAVE_CALLS
 */
#ifndef IMSEC_APPS_DEMO_MODES_H
#define IMSEC_APPS_DEMO_MODES_H

#ifndef DEMO_HAVE_M2
#define DEMO_HAVE_M2 1
#endif
#ifndef DEMO_HAVE_M3
#define DEMO_HAVE_M3 1
#endif
#ifndef DEMO_HAVE_DTLS
#define DEMO_HAVE_DTLS 1
#endif
#ifndef DEMO_HAVE_CALLS
#define DEMO_HAVE_CALLS 1
#endif
#ifndef DEMO_HAVE_DIGEST
#define DEMO_HAVE_DIGEST 1
#endif

#endif
