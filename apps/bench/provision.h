/* apps/bench/provision.h: `imsec bench provision` (provision.c). */
#ifndef IMSEC_APPS_BENCH_PROVISION_H
#define IMSEC_APPS_BENCH_PROVISION_H

extern const char bench_provision_help[];

/* argv[0] is "provision". Returns a CLI exit code. */
int bench_provision(int argc, char **argv);

#endif
