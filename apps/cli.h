/*
 * Shared helpers of the imsec subcommands: usage errors, help detection and
 * argument decoding. Exit codes: 0 success, 1 a negative answer (refused,
 * rejected, mismatch), 2 usage or input errors.
 */
#ifndef IMSEC_APPS_CLI_H
#define IMSEC_APPS_CLI_H

#include <stddef.h>
#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_NO 1
#define CLI_EXIT_USAGE 2

/* One subcommand: argv[0] is its name. */
typedef int (*cli_run_fn)(int argc, char **argv);

typedef struct cli_cmd {
  const char *name;
  const char *summary; /* one line for `imsec --help` */
  cli_run_fn run;
  int planned; /* 1 until the subcommand exists */
} cli_cmd;

/* Print "imsec SUB: MESSAGE" and a hint to use --help on stderr; returns
 * CLI_EXIT_USAGE so callers can `return cli_usage(...)`. */
int cli_usage(const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "imsec SUB: MESSAGE" on stderr (an input or runtime error, one
 * line). Returns `code`. */
int cli_fail(int code, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* While set (on this thread), cli_usage and cli_fail put their message
 * into `buf` (capacity cap; without the "imsec SUB:" prefix and the hint)
 * instead of printing it: a daemon's reload reads its settings again with
 * the start-up code and logs what is wrong itself. NULL ends it. */
void cli_capture(char *buf, size_t cap);

/* 1 if argv holds -h or --help before a "--". */
int cli_wants_help(int argc, char **argv);

/* Decode hex `val` of option `opt` into exactly `len` octets (case-
 * insensitive). On error prints one line naming the option and returns
 * CLI_EXIT_USAGE; 0 on success. */
int cli_hex_exact(const char *sub, const char *opt, const char *val,
                  uint8_t *out, size_t len);

/* File descriptors for a process holding many flows (a daemon with
 * 100,000 registered UEs, a generator holding them): the soft
 * RLIMIT_NOFILE goes up to the hard one; run as root, the hard one too,
 * up to CLI_NOFILE_WANT (never past fs.nr_open). Says so on stderr
 * ("SUB info: ...") only when it could not get CLI_NOFILE_WANT; `sub`
 * NULL: silently (a command whose usage errors must stay one line).
 * Returns the soft limit in force afterwards. */
#define CLI_NOFILE_WANT 262144
unsigned long cli_raise_nofile(const char *sub);

/* The stub of a subcommand that does not exist yet: prints its help on
 * --help (exit 0), otherwise says it is planned (exit 2). */
int cli_planned(int argc, char **argv, const char *help);

#endif
