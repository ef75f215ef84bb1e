/* A SIP Digest password file (include/imsec/password_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imsec/base.h"
#include "imsec/password_file.h"

static int fail(char *err, size_t cap, int rv, const char *path,
                const char *what) {
  if (err && cap)
    snprintf(err, cap, "%s: %s", path, what);
  return rv;
}

/* The line rule shared by read and create: 1..MAX octets, no NUL, CR
 * or LF. Returns 0 or the code with `*what` saying why. */
static int check_line(const uint8_t *p, size_t n, const char **what) {
  if (n == 0) {
    *what = "empty: expected one line holding the password";
    return IMSEC_ERR_PARSE;
  }
  if (n > IMSEC_PASSWORD_FILE_MAX) {
    *what = "password longer than 128 octets";
    return IMSEC_ERR_LIMIT;
  }
  for (size_t i = 0; i < n; i++) {
    if (p[i] == 0) {
      *what = "a NUL octet inside the password";
      return IMSEC_ERR_PARSE;
    }
    if (p[i] == '\r' || p[i] == '\n') {
      *what = "more than one line: expected one line holding the password";
      return IMSEC_ERR_PARSE;
    }
  }
  return 0;
}

int imsec_password_file_read(const char *path, uint8_t *out, size_t cap,
                             size_t *len, char *err, size_t errcap) {
  if (!path || !out || !len)
    return IMSEC_ERR_INVAL;
  if (cap < IMSEC_PASSWORD_FILE_MAX)
    return fail(err, errcap, IMSEC_ERR_NOBUF, path, "buffer too small");
  char why[192];
  /* O_NONBLOCK: a FIFO in its place must not hang the open; it is then
   * refused as not a regular file. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    snprintf(why, sizeof(why), "cannot read: %s", strerror(errno));
    if (fd >= 0)
      close(fd);
    return fail(err, errcap, IMSEC_ERR_IO, path, why);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fail(err, errcap, IMSEC_ERR_IO, path, "not a regular file");
  }
  /* A secret another user owns or may change is not this user's
   * password: it could have been planted or read. */
  if (st.st_uid != geteuid()) {
    close(fd);
    snprintf(why, sizeof(why),
             "holds a password but is owned by uid %u, not by this user "
             "(uid %u)",
             (unsigned)st.st_uid, (unsigned)geteuid());
    return fail(err, errcap, IMSEC_ERR_PERM, path, why);
  }
  if (st.st_mode & 077) {
    close(fd);
    snprintf(why, sizeof(why),
             "holds a password but is readable or writable by group or "
             "others (mode %04o); chmod 600 it",
             (unsigned)(st.st_mode & 07777));
    return fail(err, errcap, IMSEC_ERR_PERM, path, why);
  }
  /* The password, CRLF, and one octet more to tell "too long". */
  uint8_t buf[IMSEC_PASSWORD_FILE_MAX + 3];
  size_t n = 0;
  int rv = 0;
  while (n < sizeof(buf)) {
    ssize_t got = read(fd, buf + n, sizeof(buf) - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      snprintf(why, sizeof(why), "cannot read: %s", strerror(errno));
      rv = IMSEC_ERR_IO;
      break;
    }
    if (got == 0)
      break;
    n += (size_t)got;
  }
  close(fd);
  if (rv < 0) {
    imsec_wipe(buf, sizeof(buf));
    return fail(err, errcap, rv, path, why);
  }
  const char *what = NULL;
  if (n == sizeof(buf)) {
    rv = IMSEC_ERR_LIMIT;
    what = "password longer than 128 octets";
  } else {
    /* One trailing LF or CRLF ends the line. */
    if (n && buf[n - 1] == '\n') {
      n--;
      if (n && buf[n - 1] == '\r')
        n--;
    }
    rv = check_line(buf, n, &what);
  }
  if (rv == 0) {
    memcpy(out, buf, n);
    *len = n;
  }
  imsec_wipe(buf, sizeof(buf));
  return rv < 0 ? fail(err, errcap, rv, path, what) : 0;
}

int imsec_password_file_create(const char *path, const uint8_t *pw, size_t len,
                               char *err, size_t errcap) {
  if (!path || !pw)
    return IMSEC_ERR_INVAL;
  const char *what = NULL;
  int rv = check_line(pw, len, &what);
  if (rv < 0)
    return fail(err, errcap, IMSEC_ERR_INVAL, path, what);
  char why[192];
  int fd =
      open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int e = errno;
    snprintf(why, sizeof(why), "cannot create: %s", strerror(e));
    return fail(err, errcap, e == EEXIST ? IMSEC_ERR_EXISTS : IMSEC_ERR_IO,
                path, why);
  }
  uint8_t buf[IMSEC_PASSWORD_FILE_MAX + 1];
  memcpy(buf, pw, len);
  buf[len] = '\n';
  size_t n = 0;
  while (n < len + 1) {
    ssize_t put = write(fd, buf + n, len + 1 - n);
    if (put < 0 && errno == EINTR)
      continue;
    if (put <= 0)
      break;
    n += (size_t)put;
  }
  imsec_wipe(buf, sizeof(buf));
  int ok = n == len + 1 && fsync(fd) == 0;
  int e = errno;
  if (close(fd) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  if (!ok) {
    (void)unlink(path);
    snprintf(why, sizeof(why), "cannot write: %s", strerror(e));
    return fail(err, errcap, IMSEC_ERR_IO, path, why);
  }
  return 0;
}
