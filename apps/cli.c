#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
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
