/* `imsec hss serve`: the HSS as a Diameter Cx server (apps/hss_serve.c). */
#ifndef IMSEC_APPS_HSS_SERVE_H
#define IMSEC_APPS_HSS_SERVE_H

/* argv[0] "hss", argv[1] "serve". Returns the exit code. */
int hss_serve(int argc, char **argv);

#endif
