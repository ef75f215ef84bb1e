/* The subcommands, one file each (apps/cmd_<name>.c; a large one a folder,
 * as apps/demo/). Each defines its own table entry (name, one-line
 * summary, entry point, planned flag), so a subcommand changes in its own
 * file only. */
#ifndef IMSEC_APPS_CMDS_H
#define IMSEC_APPS_CMDS_H

#include "cli.h"

extern const cli_cmd imsec_cmd_pcscf;
extern const cli_cmd imsec_cmd_scscf;
extern const cli_cmd imsec_cmd_hss;
extern const cli_cmd imsec_cmd_ue;
extern const cli_cmd imsec_cmd_pki;
extern const cli_cmd imsec_cmd_isim;
extern const cli_cmd imsec_cmd_trust;
extern const cli_cmd imsec_cmd_aka;
extern const cli_cmd imsec_cmd_sip;
extern const cli_cmd imsec_cmd_demo;
extern const cli_cmd imsec_cmd_bench;
extern const cli_cmd imsec_cmd_ctl;

#endif
