/* Entry points of the subcommands, one file each (apps/cmd_<name>.c). */
#ifndef IMSEC_APPS_CMDS_H
#define IMSEC_APPS_CMDS_H

int imsec_cmd_pcscf(int argc, char **argv);
int imsec_cmd_scscf(int argc, char **argv);
int imsec_cmd_hss(int argc, char **argv);
int imsec_cmd_ue(int argc, char **argv);
int imsec_cmd_pki(int argc, char **argv);
int imsec_cmd_isim(int argc, char **argv);
int imsec_cmd_trust(int argc, char **argv);
int imsec_cmd_aka(int argc, char **argv);
int imsec_cmd_sip(int argc, char **argv);
int imsec_cmd_demo(int argc, char **argv);
int imsec_cmd_bench(int argc, char **argv);

#endif
