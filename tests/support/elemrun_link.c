/* The element runner (apps/elemrun.c) is an apps/ file the imsec binary
 * links; the e2e tests and benchmarks need it too, so the support library
 * compiles the same source. */
#include "apps/elemrun.c"
