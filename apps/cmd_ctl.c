/* imsec ctl: ask a running daemon over its control socket (ops/ctl.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/ops.h"

#define SUB "ctl"
#define DEFAULT_TIMEOUT_MS 10000

static const char help[] =
    "usage: imsec ctl [--socket PATH] [--json] [--timeout-ms MS] COMMAND "
    "[ARG]\n"
    "\n"
    "Ask a running daemon (imsec pcscf, imsec scscf, imsec hss serve)\n"
    "over its control socket (--ctl-socket of the daemon; mode 0600, so\n"
    "run this as the daemon's user or root).\n"
    "\n"
    "Commands:\n"
    "  stats                the daemon's metrics (the same as /metrics):\n"
    "                       one row per sample, name{labels} and value; a\n"
    "                       histogram as its _count and _sum\n"
    "  flows                the open flows: transport, mode, addresses,\n"
    "                       age, TLS version and cipher, peer name\n"
    "  registrations        the registrations the element holds\n"
    "  bindings             the registrations' bindings to flows\n"
    "  peers                the core peers (S-CSCFs, P-CSCFs, Diameter and\n"
    "                       Redis servers) and their state\n"
    "  reload               reload as SIGHUP does, and say how it went\n"
    "  drain                stop taking new flows, let work in flight end\n"
    "                       (at most the daemon's --drain-timeout-ms), then\n"
    "                       the daemon exits 0\n"
    "  log-level LEVEL      debug, info, warn or error from now on\n"
    "\n"
    "  --socket PATH        the daemon's control socket (default below)\n"
    "  --json               the answer as JSON (stats: every family with\n"
    "                       its type, help and samples; listings: an array\n"
    "                       of objects keyed by column)\n"
    "  --timeout-ms MS      how long to wait for the answer (default\n"
    "                       10000)\n"
    "\n"
    "Without --socket: $IMSEC_CTL_SOCKET when set, else the only *.ctl\n"
    "socket of a daemon under $RUNTIME_DIRECTORY (systemd's), else a usage\n"
    "error. Exit 0 ok (the answer on stdout); 1 the daemon answered with\n"
    "an error (its line on stderr); 2 a usage error or no daemon to talk to\n"
    "(one line on stderr).\n";

/* Without --socket: $IMSEC_CTL_SOCKET, else the one daemon socket under
 * $RUNTIME_DIRECTORY (imsec_ctl_default_path: where a daemon under
 * systemd puts it). 0 found, -1 none, -2 several. */
static int default_socket(char *buf, size_t cap) {
  const char *env = getenv("IMSEC_CTL_SOCKET");
  if (env && env[0]) {
    snprintf(buf, cap, "%s", env);
    return 0;
  }
  static const char *const names[] = {"pcscf", "scscf", "hss"};
  int found = 0;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char p[256];
    struct stat st;
    if (!imsec_ctl_default_path(names[i], p, sizeof(p)) || stat(p, &st) != 0 ||
        !S_ISSOCK(st.st_mode))
      continue;
    if (found++)
      return -2;
    snprintf(buf, cap, "%s", p);
  }
  return found ? 0 : -1;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  const char *sock = NULL;
  int json = 0;
  int64_t timeout_ms = DEFAULT_TIMEOUT_MS;
  const char *words[2] = {NULL, NULL};
  size_t nw = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (nw == 0 && strcmp(a, "--json") == 0) {
      json = 1;
    } else if (nw == 0 && strcmp(a, "--socket") == 0) {
      if (i + 1 >= argc || !argv[i + 1][0])
        return cli_usage(SUB, "--socket needs a path");
      sock = argv[++i];
    } else if (nw == 0 && strcmp(a, "--timeout-ms") == 0) {
      uint64_t ms;
      if (i + 1 >= argc ||
          imsec_str_to_u64(imsec_str_c(argv[++i]), 3600000, &ms) < 0 || !ms)
        return cli_usage(SUB, "--timeout-ms: expected milliseconds from 1 to "
                              "3600000");
      timeout_ms = (int64_t)ms;
    } else if (nw == 0 && a[0] == '-') {
      return cli_usage(SUB, "unknown option '%s'", a);
    } else if (nw < 2) {
      words[nw++] = a;
    } else {
      return cli_usage(SUB, "too many arguments ('%s')", a);
    }
  }
  if (!nw)
    return cli_usage(SUB, "a command is required (stats, flows, "
                          "registrations, bindings, peers, reload, drain, "
                          "log-level LEVEL)");
  static const char *const plain[] = {"stats",    "flows", "registrations",
                                      "bindings", "peers", "reload",
                                      "drain"};
  int known = 0;
  for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++)
    known |= strcmp(words[0], plain[k]) == 0;
  if (strcmp(words[0], "log-level") == 0) {
    if (nw != 2)
      return cli_usage(SUB, "log-level needs LEVEL (debug, info, warn or "
                            "error)");
  } else if (!known) {
    return cli_usage(SUB, "unknown command '%s'", words[0]);
  } else if (nw != 1) {
    return cli_usage(SUB, "%s takes no argument", words[0]);
  }
  char path[256];
  if (!sock) {
    int d = default_socket(path, sizeof(path));
    if (d == -2)
      return cli_usage(SUB, "several daemon sockets under "
                            "$RUNTIME_DIRECTORY: say which with --socket");
    if (d < 0)
      return cli_usage(SUB, "--socket PATH is required (or "
                            "IMSEC_CTL_SOCKET)");
    sock = path;
  }
  imsec_ctl_request rq = {.cmd = words[0], .arg = words[1], .json = json};
  imsec_buf out = {0};
  char err[512];
  int rc = imsec_ctl_query(sock, &rq, timeout_ms, &out, err, sizeof(err));
  if (rc < 0) {
    imsec_buf_free(&out);
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
  }
  if (rc == 1) {
    cli_fail(CLI_EXIT_NO, SUB, "%s", out.p ? out.p : "error");
    imsec_buf_free(&out);
    return CLI_EXIT_NO;
  }
  if (out.len)
    fwrite(out.p, 1, out.len, stdout);
  imsec_buf_free(&out);
  return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

const cli_cmd imsec_cmd_ctl = {
    .name = "ctl",
    .summary = "ask a running daemon over its control socket (stats, "
               "listings, reload, drain, log level)",
    .run = run,
    .planned = 0,
};
