/*
 * imsec aka: a Milenage and Digest AKA calculator for debugging SIMs and
 * HSSs. Output is key=value lines in lowercase hex; printing secrets is the
 * whole point of this command.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/aka.h"
#include "imsec/digest.h"
#include "imsec/crypto_ossl.h"

static const char help[] =
    "usage: imsec aka milenage --k HEX (--op HEX | --opc HEX) --rand HEX\n"
    "                          --sqn HEX --amf HEX\n"
    "       imsec aka auts     --k HEX (--op HEX | --opc HEX) --rand HEX\n"
    "                          --sqn-ms HEX\n"
    "       imsec aka resync   --k HEX (--op HEX | --opc HEX) --rand HEX\n"
    "                          --auts HEX|BASE64\n"
    "       imsec aka digest   --alg AKAv1-MD5|AKAv2-MD5 --k HEX\n"
    "                          (--op HEX | --opc HEX) --rand HEX --sqn HEX\n"
    "                          --amf HEX --username U --realm R --method M\n"
    "                          --uri URI [--qop auth|auth-int --nc 00000001\n"
    "                          --cnonce C] [--body TEXT]\n"
    "\n"
    "Milenage (TS 35.206) and Digest AKA (RFC 3310, RFC 4169) calculator.\n"
    "Hex input is case-insensitive; output is one key=value per line in\n"
    "lowercase hex. K, OP, OPc and RAND are 16 octets, SQN 6, AMF 2,\n"
    "AUTS 14 (28 hex digits or base64).\n"
    "\n"
    "  milenage  print opc, mac_a, mac_s, res, ck, ik, ak, ak_star, autn\n"
    "  auts      print sqn_ms and auts = (SQN_MS ^ AK*) || MAC-S\n"
    "  resync    recover sqn_ms from AUTS and check MAC-S (exit 1 if wrong)\n"
    "  digest    print nonce, res, password (AKAv2) and response\n"
    "\n"
    "Exit status: 0 ok, 1 MAC-S mismatch, 2 usage or input error.\n";

#define SUB "aka"

enum opt_id {
  O_K,
  O_OP,
  O_OPC,
  O_RAND,
  O_SQN,
  O_AMF,
  O_SQN_MS,
  O_AUTS,
  O_ALG,
  O_USERNAME,
  O_REALM,
  O_METHOD,
  O_URI,
  O_QOP,
  O_NC,
  O_CNONCE,
  O_BODY,
  N_OPTS
};

static const char *const opt_names[N_OPTS] = {
    "--k",      "--op",   "--opc", "--rand",     "--sqn",   "--amf",
    "--sqn-ms", "--auts", "--alg", "--username", "--realm", "--method",
    "--uri",    "--qop",  "--nc",  "--cnonce",   "--body",
};

#define BIT(o) (1u << (o))

typedef struct opts {
  const char *v[N_OPTS];
} opts;

/* Parse `--name VALUE` / `--name=VALUE` for the options in `allowed`. */
static int parse_opts(const char *sub, int argc, char **argv, unsigned allowed,
                      opts *o) {
  memset(o, 0, sizeof(*o));
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    int id = -1;
    for (int k = 0; k < N_OPTS; k++) {
      if (strlen(opt_names[k]) == nlen && strncmp(arg, opt_names[k], nlen) == 0)
        id = k;
    }
    if (id < 0 || !(allowed & BIT(id))) {
      if (arg[0] == '-')
        return cli_usage(sub, "unknown option '%.*s'", (int)nlen, arg);
      return cli_usage(sub, "unexpected argument '%s'", arg);
    }
    if (o->v[id])
      return cli_usage(sub, "%s given twice", opt_names[id]);
    if (eq) {
      o->v[id] = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_usage(sub, "%s needs a value", opt_names[id]);
      o->v[id] = argv[++i];
    }
  }
  return 0;
}

static int require(const char *sub, const opts *o, unsigned need) {
  for (int k = 0; k < N_OPTS; k++) {
    if ((need & BIT(k)) && !o->v[k])
      return cli_usage(sub, "missing %s", opt_names[k]);
  }
  return 0;
}

/* The common keying: --k and exactly one of --op / --opc. */
static int key_milenage(const char *sub, const opts *o, imsec_crypto *c,
                        imsec_milenage **m) {
  uint8_t k[16], op[16];
  int rv;
  if (o->v[O_OP] && o->v[O_OPC])
    return cli_usage(sub, "give --op or --opc, not both");
  if (!o->v[O_OP] && !o->v[O_OPC])
    return cli_usage(sub, "missing --op or --opc");
  if ((rv = cli_hex_exact(sub, "--k", o->v[O_K], k, 16)) != 0)
    return rv;
  const char *which = o->v[O_OP] ? "--op" : "--opc";
  if ((rv = cli_hex_exact(sub, which, o->v[O_OP] ? o->v[O_OP] : o->v[O_OPC], op,
                          16)) != 0)
    goto done;
  if (imsec_milenage_new(m, c) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, sub, "cannot set up Milenage");
    goto done;
  }
  int r = o->v[O_OP] ? imsec_milenage_set_op(*m, k, op)
                     : imsec_milenage_set_opc(*m, k, op);
  if (r < 0) {
    imsec_milenage_del(*m);
    *m = NULL;
    rv = cli_fail(CLI_EXIT_USAGE, sub, "Milenage keying failed: %s",
                  imsec_strerror(r));
    goto done;
  }
  rv = 0;
done:
  imsec_wipe(k, sizeof(k));
  imsec_wipe(op, sizeof(op));
  return rv;
}

static void print_hex(const char *key, const uint8_t *p, size_t n) {
  char buf[2 * 64 + 1];
  if (imsec_hex_encode(p, n, buf, sizeof(buf)) < 0)
    return;
  printf("%s=%s\n", key, buf);
  imsec_wipe(buf, sizeof(buf));
}

static int crypto_up(const char *sub, imsec_crypto **c) {
  int rv = imsec_crypto_ossl_new(c);
  if (rv < 0)
    return cli_fail(CLI_EXIT_USAGE, sub, "crypto backend unavailable: %s",
                    imsec_strerror(rv));
  return 0;
}

#define KEYING (BIT(O_K) | BIT(O_OP) | BIT(O_OPC))

/* --rand, --sqn and --amf: the inputs of one authentication vector. */
static int vector_inputs(const char *sub, const opts *o, uint8_t rand[16],
                         uint8_t sqn[6], uint8_t amf[2]) {
  int rv;
  if ((rv = cli_hex_exact(sub, "--rand", o->v[O_RAND], rand, 16)) ||
      (rv = cli_hex_exact(sub, "--sqn", o->v[O_SQN], sqn, 6)) ||
      (rv = cli_hex_exact(sub, "--amf", o->v[O_AMF], amf, 2)))
    return rv;
  return 0;
}

static int run_milenage(int argc, char **argv) {
  const char *sub = "aka milenage";
  opts o;
  int rv = parse_opts(sub, argc, argv,
                      KEYING | BIT(O_RAND) | BIT(O_SQN) | BIT(O_AMF), &o);
  if (rv ||
      (rv = require(sub, &o, BIT(O_K) | BIT(O_RAND) | BIT(O_SQN) | BIT(O_AMF))))
    return rv;
  uint8_t rand[16], sqn[6], amf[2];
  if ((rv = vector_inputs(sub, &o, rand, sqn, amf)) != 0)
    return rv;
  imsec_crypto *c = NULL;
  imsec_milenage *m = NULL;
  if ((rv = crypto_up(sub, &c)) != 0)
    return rv;
  if ((rv = key_milenage(sub, &o, c, &m)) != 0)
    goto done;
  imsec_milenage_out out;
  imsec_aka_vector v;
  uint8_t opc[16];
  if (imsec_milenage_compute(m, rand, sqn, amf, &out) < 0 ||
      imsec_aka_vector_make_rand(m, rand, sqn, amf, &v) < 0 ||
      imsec_milenage_get_opc(m, opc) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, sub, "Milenage failed");
    goto done;
  }
  print_hex("opc", opc, 16);
  print_hex("mac_a", out.mac_a, 8);
  print_hex("mac_s", out.mac_s, 8);
  print_hex("res", out.res, 8);
  print_hex("ck", out.ck, 16);
  print_hex("ik", out.ik, 16);
  print_hex("ak", out.ak, 6);
  print_hex("ak_star", out.ak_star, 6);
  print_hex("autn", v.autn, 16);
  imsec_wipe(&out, sizeof(out));
  imsec_aka_vector_wipe(&v);
  imsec_wipe(opc, sizeof(opc));
  rv = CLI_EXIT_OK;
done:
  imsec_milenage_del(m);
  imsec_crypto_del(c);
  return rv;
}

static int run_auts(int argc, char **argv) {
  const char *sub = "aka auts";
  opts o;
  int rv =
      parse_opts(sub, argc, argv, KEYING | BIT(O_RAND) | BIT(O_SQN_MS), &o);
  if (rv || (rv = require(sub, &o, BIT(O_K) | BIT(O_RAND) | BIT(O_SQN_MS))))
    return rv;
  uint8_t rand[16], sqn_ms[6], auts[14];
  if ((rv = cli_hex_exact(sub, "--rand", o.v[O_RAND], rand, 16)) ||
      (rv = cli_hex_exact(sub, "--sqn-ms", o.v[O_SQN_MS], sqn_ms, 6)))
    return rv;
  imsec_crypto *c = NULL;
  imsec_milenage *m = NULL;
  if ((rv = crypto_up(sub, &c)) != 0)
    return rv;
  if ((rv = key_milenage(sub, &o, c, &m)) != 0)
    goto done;
  if (imsec_aka_auts_make(m, rand, sqn_ms, auts) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, sub, "Milenage failed");
    goto done;
  }
  print_hex("sqn_ms", sqn_ms, 6);
  print_hex("auts", auts, 14);
  rv = CLI_EXIT_OK;
done:
  imsec_milenage_del(m);
  imsec_crypto_del(c);
  return rv;
}

/* AUTS as 28 hex digits or as the base64 of RFC 3310's auts parameter. */
static int decode_auts(const char *sub, const char *val, uint8_t auts[14]) {
  size_t n = strlen(val);
  if (n == 28 && imsec_hex_decode(val, n, auts, 14) == 14)
    return 0;
  if (imsec_base64_decode(val, n, auts, 14) == 14)
    return 0;
  return cli_fail(CLI_EXIT_USAGE, sub,
                  "--auts: expected 14 octets as 28 hex digits or base64");
}

static int run_resync(int argc, char **argv) {
  const char *sub = "aka resync";
  opts o;
  int rv = parse_opts(sub, argc, argv, KEYING | BIT(O_RAND) | BIT(O_AUTS), &o);
  if (rv || (rv = require(sub, &o, BIT(O_K) | BIT(O_RAND) | BIT(O_AUTS))))
    return rv;
  uint8_t rand[16], auts[14], sqn_ms[6];
  if ((rv = cli_hex_exact(sub, "--rand", o.v[O_RAND], rand, 16)) ||
      (rv = decode_auts(sub, o.v[O_AUTS], auts)))
    return rv;
  imsec_crypto *c = NULL;
  imsec_milenage *m = NULL;
  if ((rv = crypto_up(sub, &c)) != 0)
    return rv;
  if ((rv = key_milenage(sub, &o, c, &m)) != 0)
    goto done;
  int r = imsec_aka_auts_verify(m, rand, auts, sqn_ms);
  if (r == IMSEC_ERR_MAC) {
    rv = cli_fail(CLI_EXIT_NO, sub, "MAC-S mismatch");
    goto done;
  }
  if (r < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, sub, "Milenage failed");
    goto done;
  }
  print_hex("sqn_ms", sqn_ms, 6);
  rv = CLI_EXIT_OK;
done:
  imsec_milenage_del(m);
  imsec_crypto_del(c);
  return rv;
}

static int run_digest(int argc, char **argv) {
  const char *sub = "aka digest";
  opts o;
  unsigned need = BIT(O_ALG) | BIT(O_K) | BIT(O_RAND) | BIT(O_SQN) |
                  BIT(O_AMF) | BIT(O_USERNAME) | BIT(O_REALM) | BIT(O_METHOD) |
                  BIT(O_URI);
  int rv = parse_opts(
      sub, argc, argv,
      need | KEYING | BIT(O_QOP) | BIT(O_NC) | BIT(O_CNONCE) | BIT(O_BODY), &o);
  if (rv || (rv = require(sub, &o, need)))
    return rv;
  imsec_digest_alg alg;
  if (imsec_digest_alg_parse(imsec_str_c(o.v[O_ALG]), &alg) < 0 ||
      (alg != IMSEC_DIGEST_AKAV1_MD5 && alg != IMSEC_DIGEST_AKAV2_MD5))
    return cli_fail(CLI_EXIT_USAGE, sub,
                    "--alg: expected AKAv1-MD5 or AKAv2-MD5, got '%s'",
                    o.v[O_ALG]);
  imsec_digest_qop qop = IMSEC_DIGEST_QOP_NONE;
  if (o.v[O_QOP]) {
    if (imsec_digest_qop_parse(imsec_str_c(o.v[O_QOP]), &qop) < 0 ||
        qop == IMSEC_DIGEST_QOP_NONE)
      return cli_fail(CLI_EXIT_USAGE, sub,
                      "--qop: expected auth or auth-int, got '%s'", o.v[O_QOP]);
    if ((rv = require(sub, &o, BIT(O_NC) | BIT(O_CNONCE))))
      return rv;
    uint32_t nc;
    if (imsec_digest_nc_parse(imsec_str_c(o.v[O_NC]), &nc) < 0)
      return cli_fail(CLI_EXIT_USAGE, sub,
                      "--nc: expected 8 hex digits, got '%s'", o.v[O_NC]);
  } else if (o.v[O_NC] || o.v[O_CNONCE]) {
    return cli_usage(sub, "%s needs --qop", o.v[O_NC] ? "--nc" : "--cnonce");
  }
  if (o.v[O_BODY] && qop != IMSEC_DIGEST_QOP_AUTH_INT)
    return cli_usage(sub, "--body needs --qop auth-int");
  uint8_t rand[16], sqn[6], amf[2];
  if ((rv = vector_inputs(sub, &o, rand, sqn, amf)) != 0)
    return rv;

  imsec_crypto *c = NULL;
  imsec_milenage *m = NULL;
  if ((rv = crypto_up(sub, &c)) != 0)
    return rv;
  if ((rv = key_milenage(sub, &o, c, &m)) != 0)
    goto done;
  imsec_aka_vector v;
  char nonce[64], resp[33];
  uint8_t pw[IMSEC_DIGEST_AKAV2_PASSWORD_LEN];
  int pwlen;
  if (imsec_aka_vector_make_rand(m, rand, sqn, amf, &v) < 0 ||
      imsec_digest_aka_nonce_encode(v.rand, v.autn, (imsec_bytes){NULL, 0},
                                    nonce, sizeof(nonce)) < 0 ||
      (pwlen = imsec_digest_aka_password(c, alg, v.xres, v.xres_len, v.ik, v.ck,
                                         pw, sizeof(pw))) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, sub, "Milenage failed");
    goto done;
  }
  const char *body = o.v[O_BODY] ? o.v[O_BODY] : "";
  imsec_digest_input in = {
      .hash = IMSEC_HASH_MD5,
      .username = imsec_str_c(o.v[O_USERNAME]),
      .realm = imsec_str_c(o.v[O_REALM]),
      .password = {pw, (size_t)pwlen},
      .method = imsec_str_c(o.v[O_METHOD]),
      .uri = imsec_str_c(o.v[O_URI]),
      .nonce = imsec_str_c(nonce),
      .qop = qop,
      .nc = imsec_str_c(o.v[O_NC]),
      .cnonce = imsec_str_c(o.v[O_CNONCE]),
      .body = {(const uint8_t *)body, strlen(body)},
  };
  if (imsec_digest_response(c, &in, resp, sizeof(resp)) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, sub, "digest computation failed");
  } else {
    printf("nonce=%s\n", nonce);
    print_hex("res", v.xres, v.xres_len);
    if (alg == IMSEC_DIGEST_AKAV2_MD5)
      printf("password=%.*s\n", pwlen, (const char *)pw);
    printf("response=%s\n", resp);
    rv = CLI_EXIT_OK;
  }
  imsec_aka_vector_wipe(&v);
  imsec_wipe(pw, sizeof(pw));
done:
  imsec_milenage_del(m);
  imsec_crypto_del(c);
  return rv;
}

static int run(int argc, char **argv) {
  if (argc < 2)
    return cli_usage(SUB, "missing operation (milenage, auts, resync, "
                          "digest)");
  const char *op = argv[1];
  if (strcmp(op, "-h") == 0 || strcmp(op, "--help") == 0 ||
      strcmp(op, "help") == 0 || cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(op, "milenage") == 0)
    return run_milenage(argc - 1, argv + 1);
  if (strcmp(op, "auts") == 0)
    return run_auts(argc - 1, argv + 1);
  if (strcmp(op, "resync") == 0)
    return run_resync(argc - 1, argv + 1);
  if (strcmp(op, "digest") == 0)
    return run_digest(argc - 1, argv + 1);
  return cli_usage(SUB,
                   "unknown operation '%s' (milenage, auts, resync, "
                   "digest)",
                   op);
}

const cli_cmd imsec_cmd_aka = {
    .name = "aka",
    .summary = "Milenage and Digest AKA calculator",
    .run = run,
    .planned = 0,
};
