/*
 * apps/bench/run.h: `imsec bench run` and `imsec bench hold`: read the
 * options and the credentials, fork the generator processes (engine.h),
 * merge what they report (wire.h), watch the servers in /proc
 * (procstat.h), draw the status line and write the reports (stats.h).
 */
#ifndef IMSEC_APPS_BENCH_RUN_H
#define IMSEC_APPS_BENCH_RUN_H

/* argv[0] is the verb ("run" or "hold"). Returns the exit status: 0 the
 * run ran (its failures are in the report), 1 it could not run (the
 * credentials do not fit the mode, a TLS context did not load, a
 * generator process died), 2 bad usage or input (one line on stderr). */
int bench_run_main(int argc, char **argv, int hold);

#endif
