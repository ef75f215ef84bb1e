/* The UE's SQN store: the ISIM profile's `sqn:` line (sqn_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imsec/base.h"
#include "imsec/isim.h"
#include "sqn_file.h"

/* Make the folder entry of a rename durable: fsync the folder holding
 * `path`. A file system that cannot sync a folder (EINVAL) has nothing
 * more to give. Returns 0 or -1 with errno set. */
static int sync_folder(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
                    : strdup(".");
  if (!dir)
    return -1;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  if (fd < 0)
    return -1;
  int rv = fsync(fd);
  int e = errno;
  close(fd);
  if (rv != 0 && e != EINVAL) {
    errno = e;
    return -1;
  }
  return 0;
}

/* Replace (or add) the top-level `sqn:` line of the profile, keeping every
 * other line (comments, *_file keys) as it was. Atomic and durable: a
 * temporary file of mode 0600 in the same folder, written and fsynced,
 * renamed over the profile, then the folder fsynced, so after a crash the
 * profile holds either the old SQN or the new one, never a torn file and
 * never an SQN the UE answered but forgot. Returns 0, or a negative
 * imsec_err with *sys_err the errno of the step that failed (0: none). */
int ue_sqn_file_save(const char *path, const uint8_t sqn[6], int *sys_err) {
  *sys_err = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    *sys_err = errno;
    return IMSEC_ERR_IO;
  }
  char *text = malloc(IMSEC_ISIM_MAX_FILE + 1);
  if (!text) {
    fclose(f);
    return IMSEC_ERR_NOMEM;
  }
  size_t n = fread(text, 1, IMSEC_ISIM_MAX_FILE, f);
  int rerr = ferror(f) ? errno : 0;
  fclose(f);
  text[n] = 0;
  if (rerr) {
    imsec_wipe(text, n);
    free(text);
    *sys_err = rerr;
    return IMSEC_ERR_IO;
  }
  char hex[13];
  if (imsec_hex_encode(sqn, 6, hex, sizeof(hex)) < 0) {
    imsec_wipe(text, n);
    free(text);
    return IMSEC_ERR_INTERNAL;
  }
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  if (!tmp) {
    imsec_wipe(text, n);
    free(text);
    return IMSEC_ERR_NOMEM;
  }
  snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FILE *o = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!o) {
    *sys_err = errno;
    if (fd >= 0) {
      close(fd);
      unlink(tmp);
    }
    imsec_wipe(text, n);
    free(text);
    free(tmp);
    return IMSEC_ERR_IO;
  }
  int done = 0;
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
    if (!done && strncmp(line, "sqn", 3) == 0) {
      const char *p = line + 3;
      while (*p == ' ' || *p == '\t')
        p++;
      if (*p == ':') {
        fprintf(o, "sqn: \"%s\"\n", hex);
        done = 1;
        line += len;
        continue;
      }
    }
    fwrite(line, 1, len, o);
    if (!nl && len)
      fputc('\n', o);
    line += len;
  }
  if (!done)
    fprintf(o, "sqn: \"%s\"\n", hex);
  imsec_wipe(text, n);
  free(text);
  /* fchmod: an O_CREAT mode is cut by the umask; the profile holds K. */
  int bad = fflush(o) != 0 || fchmod(fd, 0600) != 0 || fsync(fd) != 0;
  int e = bad ? errno : 0;
  if (fclose(o) != 0 && !bad) {
    bad = 1;
    e = errno;
  }
  if (!bad && rename(tmp, path) != 0) {
    bad = 1;
    e = errno;
  }
  if (bad) {
    unlink(tmp);
    free(tmp);
    *sys_err = e;
    return IMSEC_ERR_IO;
  }
  free(tmp);
  if (sync_folder(path) != 0) {
    *sys_err = errno;
    return IMSEC_ERR_IO;
  }
  return 0;
}

void ue_sqn_file_init(ue_sqn_file *f, const char *path) {
  memset(f, 0, sizeof(*f));
  f->path = path;
  pthread_mutex_init(&f->mu, NULL);
}

void ue_sqn_file_fini(ue_sqn_file *f) {
  pthread_mutex_destroy(&f->mu);
}

int ue_sqn_file_write(void *arg, const uint8_t sqn_ms[6]) {
  ue_sqn_file *f = arg;
  int e = 0;
  int rv = ue_sqn_file_save(f->path, sqn_ms, &e);
  pthread_mutex_lock(&f->mu);
  if (rv < 0)
    snprintf(f->why, sizeof(f->why), "cannot write the SQN to %s: %s", f->path,
             e ? strerror(e) : imsec_strerror(rv));
  else
    f->writes++;
  pthread_mutex_unlock(&f->mu);
  return rv;
}

int ue_sqn_file_failed(ue_sqn_file *f, char *why, size_t cap) {
  pthread_mutex_lock(&f->mu);
  snprintf(why, cap, "%s", f->why);
  pthread_mutex_unlock(&f->mu);
  return why[0] != 0;
}
