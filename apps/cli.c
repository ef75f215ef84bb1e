#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "daemon_ops.h"
#include "imsec/base.h"

static _Thread_local char *g_capture;
static _Thread_local size_t g_capture_cap;

void cli_capture(char *buf, size_t cap) {
  g_capture = cap ? buf : NULL;
  g_capture_cap = cap;
  if (g_capture)
    g_capture[0] = '\0';
}

int cli_usage(const char *sub, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (g_capture) {
    vsnprintf(g_capture, g_capture_cap, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
  }
  fprintf(stderr, "imsec%s%s: ", sub ? " " : "", sub ? sub : "");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'imsec%s%s --help')\n", sub ? " " : "",
          sub ? sub : "");
  va_end(ap);
  return CLI_EXIT_USAGE;
}

int cli_fail(int code, const char *sub, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (g_capture) {
    vsnprintf(g_capture, g_capture_cap, fmt, ap);
    va_end(ap);
    return code;
  }
  fprintf(stderr, "imsec%s%s: ", sub ? " " : "", sub ? sub : "");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      return 0;
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
      return 1;
  }
  return 0;
}

int cli_hex_exact(const char *sub, const char *opt, const char *val,
                  uint8_t *out, size_t len) {
  size_t n = strlen(val);
  if (n % 2 != 0)
    return cli_fail(CLI_EXIT_USAGE, sub, "%s: odd number of hex digits (%zu)",
                    opt, n);
  if (n != 2 * len)
    return cli_fail(CLI_EXIT_USAGE, sub,
                    "%s: expected %zu octets (%zu hex digits), got %zu", opt,
                    len, 2 * len, n / 2);
  if (imsec_hex_decode(val, n, out, len) != (int)len)
    return cli_fail(CLI_EXIT_USAGE, sub, "%s: not hexadecimal", opt);
  return 0;
}

int cli_planned(int argc, char **argv, const char *help) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  return cli_fail(CLI_EXIT_USAGE, argv[0],
                  "not implemented yet (planned; see README)");
}

/* fs.nr_open: the ceiling of any RLIMIT_NOFILE, root's included. */
static rlim_t nr_open(void) {
  FILE *f = fopen("/proc/sys/fs/nr_open", "r");
  unsigned long v = 0;
  if (f) {
    if (fscanf(f, "%lu", &v) != 1)
      v = 0;
    fclose(f);
  }
  return v ? (rlim_t)v : (rlim_t)1048576;
}

unsigned long cli_raise_nofile(const char *sub) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  rlim_t want = CLI_NOFILE_WANT;
  rlim_t cap = nr_open();
  if (want > cap)
    want = cap;
  struct rlimit next = rl;
  /* Only root may raise the hard limit (CAP_SYS_RESOURCE). */
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want && geteuid() == 0)
    next.rlim_max = want;
  next.rlim_cur = next.rlim_max;
  if (next.rlim_cur != rl.rlim_cur || next.rlim_max != rl.rlim_max) {
    if (setrlimit(RLIMIT_NOFILE, &next) != 0) {
      next.rlim_max = rl.rlim_max; /* the hard one stays: soft up to it */
      next.rlim_cur = rl.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &next) != 0)
        next = rl;
    }
  }
  /* With a name: a daemon's run-time line, through its logger. */
  if (sub && next.rlim_cur != RLIM_INFINITY && next.rlim_cur < want)
    imsec_logger_printf(
        daemon_ops_log(), sub, IMSEC_LOG_INFO,
        "open files limited to %lu (hard limit %lu; %lu wanted "
        "for many flows: raise it with ulimit -Hn or run as root)",
        (unsigned long)next.rlim_cur, (unsigned long)next.rlim_max,
        (unsigned long)want);
  return (unsigned long)next.rlim_cur;
}
