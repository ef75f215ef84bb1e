/* `imsec bench`: the load generator (docs/BENCH.md). */
#include <stdio.h>
#include <string.h>

#include "bench/provision.h"
#include "bench/run.h"
#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec bench provision --db HSS.db --out CREDS -n N [...]\n"
    "       imsec bench run --target [tls:|dtls:|tcp:]H:P --creds CREDS\n"
    "                       --ca ROOT.pem [options]\n"
    "       imsec bench hold -n N --target ... --creds CREDS --ca ROOT.pem\n"
    "                       [options]\n"
    "\n"
    "The load generator: many UEs (lib/ue) against any P-CSCF.\n"
    "\n"
    "provision  write N subscribers into an HSS database and their UE\n"
    "           credentials into one file (imsec bench provision --help)\n"
    "run        run operations and report what they cost\n"
    "hold       register N UEs, keep them idle for -t S seconds, report\n"
    "           the servers' memory per registered UE\n"
    "\n"
    "Where and how:\n"
    "  --target [tls:|dtls:|tcp:]HOST:PORT  the P-CSCF\n"
    "  --creds FILE          the UEs (imsec bench provision)\n"
    "  --ca FILE             the trust anchors the UEs judge it by (PEM)\n"
    "  --server-name N       SNI and the name its certificate must carry\n"
    "                        (default pcscf.DOMAIN)\n"
    "  --trust-domain D      (default mccMCC.3gppnetwork.org for a 3GPP\n"
    "                        home domain, else DOMAIN)\n"
    "  --mode m1|m2a|m3|dtls|tcp   (default m1; tcp: SIP Digest, no TLS)\n"
    "  --register new|resumed|open  a new TLS connection each time (full\n"
    "                        handshake), a resumed session, or re-REGISTER\n"
    "                        on the UE's open connection (default new)\n"
    "  --scenario S          register, message or call, or a mix of\n"
    "                        weights register=5,message=3,call=2\n"
    "  --expires S           the registrations' Expires (default 600)\n"
    "How much (a run ends at the first bound reached, or ^C):\n"
    "  -c N                  closed loop: N operations in flight (default 10)\n"
    "  -r R [--ramp S]       open loop: R operations/s, climbing from 0\n"
    "                        over the first S seconds\n"
    "  -n N                  operations in all (hold: the UEs held)\n"
    "  -t S                  seconds (default 10; 3600 with -n; hold: how\n"
    "                        long to hold)\n"
    "  --timeout MS          an operation not ended by then is a timeout\n"
    "                        (default 10000)\n"
    "  --ues N               use the first N UEs of CREDS (default all)\n"
    "Who generates:\n"
    "  --procs P             generator processes (default 1)\n"
    "  --sources A[-B][,..]  source addresses, e.g. 127.0.0.2-127.0.0.40\n"
    "What is reported:\n"
    "  --server-pid PID[,..] the servers' CPU and memory from /proc\n"
    "  --json F  --csv F  --plot F.svg   the report, the per-second series,\n"
    "                        a picture of throughput and latency\n"
    "  --status | --no-status  the live status line (default: on a\n"
    "                        terminal)\n"
    "  -q                    no table at the end\n"
    "Long forms: --concurrency (-c), --rate (-r), --count (-n), --duration\n"
    "(-t), --quiet (-q).\n"
    "\n"
    "Exit: 0 the run ran (its failures are in the report), 1 it could not\n"
    "run (credentials unusable for the mode, a TLS context did not load),\n"
    "2 bad usage or input.\n";

static int run(int argc, char **argv) {
  if (argc < 2 || cli_wants_help(2, argv)) {
    if (argc >= 2) {
      fputs(help, stdout);
      return CLI_EXIT_OK;
    }
    return cli_usage("bench", "want provision, run or hold");
  }
  const char *verb = argv[1];
  if (strcmp(verb, "provision") == 0)
    return bench_provision(argc - 1, argv + 1);
  if (strcmp(verb, "run") == 0 || strcmp(verb, "hold") == 0) {
    if (cli_wants_help(argc - 1, argv + 1)) {
      fputs(help, stdout);
      return CLI_EXIT_OK;
    }
    /* A generator holds one descriptor per UE connection: as root the
     * hard limit goes up too (a 100,000-UE hold). Silent: a run that needs
     * more says so when a connection fails. */
    (void)cli_raise_nofile(NULL);
    return bench_run_main(argc - 1, argv + 1, verb[0] == 'h');
  }
  return cli_usage("bench", "unknown verb '%s' (provision, run, hold)", verb);
}

const cli_cmd imsec_cmd_bench = {
    .name = "bench",
    .summary = "load generator: provision, run, hold",
    .run = run,
    .planned = 0,
};
