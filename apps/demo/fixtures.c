/* The fixtures' folder: made fresh, written into, removed (fixtures.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fixtures.h"
#include "imsec/base.h"

int imsec_fx_init(imsec_fx *f, const char *stem) {
  return imsec_fx_init_in(f, NULL, stem);
}

int imsec_fx_init_in(imsec_fx *f, const char *parent, const char *stem) {
  static const char *const labels[IMSEC_FX_N_SUBS] = {
      "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M"};
  static const char *const msins[IMSEC_FX_N_SUBS] = {
      "0000000001", "0000000002", "0000000003", "0000000004", "0000000005",
      "0000000006", "0000000007", "0000000008", "0000000009", "0000000010",
      "0000000011", "0000000012", "0000000013"};
  memset(f, 0, sizeof *f);
  for (size_t i = 0; i < IMSEC_FX_N_SUBS; i++) {
    imsec_fx_sub *s = &f->subs[i];
    s->label = labels[i];
    s->msin = msins[i];
    /* The identities are known from the start: the PKI names some. */
    snprintf(s->impi, sizeof s->impi, "00101%s@%s", s->msin, IMSEC_FX_HOME);
    snprintf(s->impu, sizeof s->impu, "sip:00101%s@%s", s->msin, IMSEC_FX_HOME);
    snprintf(s->tel, sizeof s->tel, "tel:+100101%s", s->msin);
  }
  int n = snprintf(f->dir, sizeof f->dir, "%s/%s-XXXXXX",
                   parent ? parent : "/tmp", stem ? stem : "imsec-demo");
  if (n < 0 || (size_t)n >= sizeof f->dir) {
    f->dir[0] = 0;
    errno = ENAMETOOLONG;
    return -1;
  }
  if (!mkdtemp(f->dir))
    return -1;
  f->made = 1;
  return 0;
}

void imsec_fx_free(imsec_fx *f) {
  imsec_pki_cred_del(f->root);
  imsec_pki_cred_del(f->op1);
  imsec_pki_cred_del(f->op2);
  imsec_pki_cred_del(f->op3);
  f->root = f->op1 = f->op2 = f->op3 = NULL;
  for (size_t i = 0; i < IMSEC_FX_N_SUBS; i++) {
    imsec_wipe(f->subs[i].k, sizeof f->subs[i].k);
    imsec_wipe(f->subs[i].opc, sizeof f->subs[i].opc);
    imsec_wipe(f->subs[i].psk, sizeof f->subs[i].psk);
    imsec_wipe(f->subs[i].password, sizeof f->subs[i].password);
  }
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p) == 0 ? 0 : -1;
}

int imsec_fx_remove(imsec_fx *f) {
  /* Only the folder mkdtemp made for us; depth first, no symlinks
   * followed. */
  if (!f->made)
    return 0;
  if (nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return -1;
  f->made = 0;
  return 0;
}

const char *imsec_fx_path(const imsec_fx *f, const char *name, char *buf,
                          size_t cap) {
  snprintf(buf, cap, "%s/%.700s", f->dir, name);
  return buf;
}

int imsec_fx_write_text(const char *file, const char *text) {
  FILE *fp = fopen(file, "w");
  if (!fp)
    return -1;
  int ok = fputs(text, fp) >= 0;
  if (fclose(fp) != 0)
    ok = 0;
  return ok ? 0 : -1;
}
