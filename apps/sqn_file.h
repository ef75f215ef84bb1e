/*
 * The UE's SQN store for the programs that run a UE (`imsec ue`, `imsec
 * demo`): the `sqn:` line of its ISIM profile, written as the UE's
 * imsec_svc_sqn_fn (include/imsec/svc.h) behind an svc worker, so the
 * disk wait is the worker's, never the loop's, and the host holds the
 * REGISTER carrying the RES until the write is durable (TS 33.102 Annex
 * C: the highest accepted SQN survives the process, so no challenge is
 * ever accepted twice). A failed write drops the RES and the UE fails.
 */
#ifndef IMSEC_APPS_SQN_FILE_H
#define IMSEC_APPS_SQN_FILE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define UE_SQN_FILE_WHY 512

typedef struct ue_sqn_file {
  const char *path; /* borrowed */
  pthread_mutex_t mu;
  char why[UE_SQN_FILE_WHY]; /* the last failure; "" none */
  uint64_t writes;           /* successful writes */
} ue_sqn_file;

void ue_sqn_file_init(ue_sqn_file *f, const char *path);
void ue_sqn_file_fini(ue_sqn_file *f);

/* imsec_svc_sqn_fn: write SQN_MS into f->path (arg: the ue_sqn_file).
 * Returns 0 or a negative imsec_err, the reason kept for
 * ue_sqn_file_failed. Called on the worker thread. */
int ue_sqn_file_write(void *arg, const uint8_t sqn_ms[6]);

/* A write failed: 1 with its reason ("cannot write the SQN to PATH:
 * WHY") in `why`, else 0. Any thread. */
int ue_sqn_file_failed(ue_sqn_file *f, char *why, size_t cap);

/* Replace (or add) the top-level `sqn:` line of the profile at `path`,
 * atomically and durably. Returns 0, or a negative imsec_err with
 * *sys_err the errno of the step that failed (0: none). */
int ue_sqn_file_save(const char *path, const uint8_t sqn[6], int *sys_err);

#endif /* IMSEC_APPS_SQN_FILE_H */
