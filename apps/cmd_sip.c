/* imsec sip: check SIP messages the way a proxy would, and dump their
 * parsed structure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/sip.h"

static const char help[] =
    "usage: imsec sip check FILE...\n"
    "       imsec sip dump FILE\n"
    "\n"
    "Check and dump SIP messages (one message per file, as a datagram).\n"
    "\n"
    "  check   print 'FILE: ok' or 'FILE: reject STATUS REASON (line N)',\n"
    "          STATUS being what a server would answer (400, 416, 513,\n"
    "          420, 505, ...). Exit 0 when every file is ok, 1 when any is\n"
    "          rejected, 2 on usage errors or unreadable files.\n"
    "  dump    print the start line and each header field with its typed\n"
    "          fields.\n";

/* Reads at most `max` + 1 octets so an oversized file is seen as such.
 * Returns a malloc'd buffer or NULL (errno-style message printed). */
static char *read_file(const char *path, size_t max, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    cli_fail(CLI_EXIT_USAGE, "sip", "%s: cannot open", path);
    return NULL;
  }
  char *buf = malloc(max + 1);
  if (!buf) {
    fclose(f);
    cli_fail(CLI_EXIT_USAGE, "sip", "%s: out of memory", path);
    return NULL;
  }
  *len = fread(buf, 1, max + 1, f);
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    cli_fail(CLI_EXIT_USAGE, "sip", "%s: read error", path);
    return NULL;
  }
  return buf;
}

static int check_one(const char *path) {
  imsec_sip_limits lim;
  imsec_sip_limits_default(&lim);
  size_t len;
  char *buf = read_file(path, lim.max_msg, &len);
  if (!buf)
    return CLI_EXIT_USAGE;
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, &lim);
  int rv;
  if (len > lim.max_msg) {
    rv = IMSEC_ERR_LIMIT;
    m.diag.status = 513; /* RFC 3261 §21.5.14 */
    m.diag.reason = "Message Too Large";
    m.diag.line = 1;
  } else {
    rv = imsec_sip_parse(&m, buf, len, 0);
    if (rv == 0)
      rv = imsec_sip_check(&m);
  }
  if (rv == 0)
    printf("%s: ok\n", path);
  else
    printf("%s: reject %u %s (line %u)\n", path, m.diag.status,
           m.diag.reason ? m.diag.reason : "Bad Request", m.diag.line);
  imsec_sip_msg_free(&m);
  free(buf);
  return rv == 0 ? CLI_EXIT_OK : CLI_EXIT_NO;
}

/* Print a slice, escaping octets a terminal should not see. */
static void put(imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    unsigned char ch = (unsigned char)s.p[i];
    if (ch == '\\')
      fputs("\\\\", stdout);
    else if (ch < 0x20 || ch == 0x7f)
      printf("\\x%02x", ch);
    else
      putchar(ch);
  }
}

static void field(const char *name, imsec_str v) {
  if (!v.p)
    return;
  printf(" %s=", name);
  put(v);
}

static void dump_uri(const char *indent, imsec_str text) {
  imsec_sip_uri u;
  printf("%suri: ", indent);
  if (imsec_sip_uri_parse(text, 0, &u) < 0) {
    printf("(malformed) ");
    put(text);
    putchar('\n');
    return;
  }
  put(u.scheme_text);
  if (u.scheme == IMSEC_SIP_SCHEME_OTHER) {
    field("opaque", u.opaque);
    putchar('\n');
    return;
  }
  if (u.user.len)
    field(u.scheme == IMSEC_SIP_SCHEME_TEL ? "number" : "user", u.user);
  if (u.has_password)
    field("password", u.password);
  if (u.host.len)
    field("host", u.host);
  if (u.has_port)
    printf(" port=%u", u.port);
  if (u.params.len)
    field("params", u.params);
  if (u.has_headers)
    field("headers", u.headers);
  putchar('\n');
}

static void dump_addr(imsec_str v) {
  imsec_sip_addr a;
  int rv = imsec_sip_addr_parse(v, 0, &a);
  if (rv < 0) {
    printf("    (malformed: %s)\n", imsec_strerror(rv));
    return;
  }
  if (a.star) {
    printf("    star\n");
    return;
  }
  printf("    addr:");
  if (a.display.len || a.display_quoted)
    field(a.display_quoted ? "display(quoted)" : "display", a.display);
  if (a.tag.len)
    field("tag", a.tag);
  if (a.expires >= 0)
    printf(" expires=%lld", (long long)a.expires);
  if (a.q >= 0)
    printf(" q=%d.%03d", a.q / 1000, a.q % 1000);
  if (a.instance.len)
    field("+sip.instance", a.instance);
  if (a.reg_id >= 0)
    printf(" reg-id=%lld", (long long)a.reg_id);
  if (a.ob)
    printf(" ob");
  if (a.params.len)
    field("params", a.params);
  putchar('\n');
  dump_uri("    ", a.uri);
}

static void dump_value(imsec_sip_hid id, imsec_str v) {
  int rv;
  switch (id) {
  case IMSEC_SIP_H_VIA: {
    imsec_sip_via via;
    if ((rv = imsec_sip_via_parse(v, 0, &via)) < 0)
      break;
    printf("    via: ");
    put(via.protocol);
    putchar('/');
    put(via.version);
    putchar('/');
    put(via.transport);
    field("host", via.host);
    if (via.has_port)
      printf(" port=%u", via.port);
    if (via.branch.len)
      field("branch", via.branch);
    if (via.received.len)
      field("received", via.received);
    if (via.has_rport)
      field("rport", via.rport.p ? via.rport : IMSEC_STR_LIT(""));
    if (via.has_alias)
      printf(" alias");
    if (via.params.len)
      field("params", via.params);
    putchar('\n');
    return;
  }
  case IMSEC_SIP_H_FROM:
  case IMSEC_SIP_H_TO:
  case IMSEC_SIP_H_CONTACT:
  case IMSEC_SIP_H_ROUTE:
  case IMSEC_SIP_H_RECORD_ROUTE:
  case IMSEC_SIP_H_PATH:
  case IMSEC_SIP_H_SERVICE_ROUTE:
  case IMSEC_SIP_H_P_ASSERTED_IDENTITY:
  case IMSEC_SIP_H_P_PREFERRED_IDENTITY:
  case IMSEC_SIP_H_P_ASSOCIATED_URI:
    dump_addr(v);
    return;
  case IMSEC_SIP_H_CSEQ: {
    imsec_sip_cseq cs;
    if ((rv = imsec_sip_cseq_parse(v, &cs)) < 0)
      break;
    printf("    cseq: seq=%u", cs.seq);
    field("method", cs.method);
    putchar('\n');
    return;
  }
  case IMSEC_SIP_H_CALL_ID: {
    imsec_str id2;
    if ((rv = imsec_sip_callid_parse(v, &id2)) < 0)
      break;
    printf("    call-id:");
    field("value", id2);
    putchar('\n');
    return;
  }
  case IMSEC_SIP_H_MAX_FORWARDS:
  case IMSEC_SIP_H_CONTENT_LENGTH:
  case IMSEC_SIP_H_EXPIRES:
  case IMSEC_SIP_H_MIN_EXPIRES: {
    uint64_t n;
    if ((rv = imsec_sip_uint_parse(v, UINT32_MAX, &n)) < 0)
      break;
    printf("    number: %llu\n", (unsigned long long)n);
    return;
  }
  case IMSEC_SIP_H_SECURITY_CLIENT:
  case IMSEC_SIP_H_SECURITY_SERVER:
  case IMSEC_SIP_H_SECURITY_VERIFY: {
    imsec_sip_secmech s;
    if ((rv = imsec_sip_secmech_parse(v, 0, &s)) < 0)
      break;
    printf("    mechanism:");
    field("name", s.mechanism);
    if (s.q >= 0)
      printf(" q=%d.%03d", s.q / 1000, s.q % 1000);
    imsec_str r = s.params;
    imsec_sip_param p;
    while (imsec_sip_param_next(&r, &p)) {
      putchar(' ');
      put(p.name);
      if (p.has_value) {
        putchar('=');
        put(p.value);
      }
    }
    putchar('\n');
    return;
  }
  case IMSEC_SIP_H_CONTENT_TYPE:
  case IMSEC_SIP_H_REQUIRE:
  case IMSEC_SIP_H_PROXY_REQUIRE:
  case IMSEC_SIP_H_SUPPORTED:
  case IMSEC_SIP_H_UNSUPPORTED:
  case IMSEC_SIP_H_ALLOW:
  case IMSEC_SIP_H_ACCEPT:
  case IMSEC_SIP_H_P_VISITED_NETWORK_ID:
  case IMSEC_SIP_H_P_ACCESS_NETWORK_INFO: {
    imsec_sip_token t;
    if ((rv = imsec_sip_token_parse(v, 0, &t)) < 0)
      break;
    printf("    token:");
    field("value", t.token);
    if (t.params.len)
      field("params", t.params);
    putchar('\n');
    return;
  }
  case IMSEC_SIP_H_WWW_AUTHENTICATE:
  case IMSEC_SIP_H_AUTHORIZATION:
  case IMSEC_SIP_H_PROXY_AUTHENTICATE:
  case IMSEC_SIP_H_PROXY_AUTHORIZATION:
    printf("    credentials/challenge (raw, for lib/digest)\n");
    return;
  case IMSEC_SIP_H_DATE:
    printf("    date: %s\n", imsec_sip_date_parse(v) == 0 ? "ok" : "malformed");
    return;
  default:
    return;
  }
  printf("    (malformed: %s)\n", imsec_strerror(rv));
}

static int dump(const char *path) {
  imsec_sip_limits lim;
  imsec_sip_limits_default(&lim);
  size_t len;
  char *buf = read_file(path, lim.max_msg, &len);
  if (!buf)
    return CLI_EXIT_USAGE;
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, &lim);
  int rv =
      len > lim.max_msg ? IMSEC_ERR_LIMIT : imsec_sip_parse(&m, buf, len, 0);
  if (rv < 0) {
    printf("%s: reject %u %s (line %u)\n", path,
           rv == IMSEC_ERR_LIMIT && len > lim.max_msg ? 513u : m.diag.status,
           m.diag.reason ? m.diag.reason : "Message Too Large",
           m.diag.line ? m.diag.line : 1);
    imsec_sip_msg_free(&m);
    free(buf);
    return CLI_EXIT_NO;
  }
  if (m.is_request) {
    printf("request: method=");
    put(m.method);
    printf(" version=");
    put(m.version);
    printf("\n  request-uri: ");
    put(m.ruri);
    putchar('\n');
    dump_uri("  ", m.ruri);
  } else {
    printf("response: version=");
    put(m.version);
    printf(" status=%u reason=", m.status);
    put(m.reason);
    putchar('\n');
  }
  for (size_t i = 0; i < m.nhdrs; i++) {
    const imsec_sip_hdr *h = &m.hdrs[i];
    imsec_sip_hid id = (imsec_sip_hid)h->id;
    printf("header %u: ", h->line);
    put(h->name);
    if (id != IMSEC_SIP_H_OTHER)
      printf(" (%s)", imsec_sip_hid_name(id));
    printf(": ");
    put(h->value);
    putchar('\n');
    /* one line per value of a list field */
    imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
    imsec_str v;
    int n;
    size_t idx = 0;
    /* walk only this field's values */
    while ((n = imsec_sip_value_next(&m, id, &it, &v, NULL)) > 0) {
      if (it.hdr == (int32_t)i)
        dump_value(id, v);
      idx++;
    }
    if (n < 0 && it.hdr == (int32_t)i)
      printf("    (malformed list: %s)\n", imsec_strerror(n));
  }
  printf("body: %zu octets\n", m.body.len);
  if (imsec_sip_msg_len(&m) < len)
    printf("trailing: %zu octets after the message ignored\n",
           len - imsec_sip_msg_len(&m));
  rv = imsec_sip_check(&m);
  if (rv == 0)
    printf("check: ok\n");
  else
    printf("check: reject %u %s (line %u)\n", m.diag.status, m.diag.reason,
           m.diag.line);
  imsec_sip_msg_free(&m);
  free(buf);
  return CLI_EXIT_OK;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  if (argc < 2)
    return cli_usage("sip", "missing action (check or dump)");
  if (strcmp(argv[1], "check") == 0) {
    if (argc < 3)
      return cli_usage("sip check", "missing FILE");
    int rc = CLI_EXIT_OK;
    for (int i = 2; i < argc; i++) {
      int r = check_one(argv[i]);
      if (r == CLI_EXIT_USAGE || (r == CLI_EXIT_NO && rc == CLI_EXIT_OK))
        rc = r;
    }
    return rc;
  }
  if (strcmp(argv[1], "dump") == 0) {
    if (argc != 3)
      return cli_usage("sip dump",
                       argc < 3 ? "missing FILE" : "takes exactly one FILE");
    return dump(argv[2]);
  }
  return cli_usage("sip", "unknown action '%s' (check or dump)", argv[1]);
}

const cli_cmd imsec_cmd_sip = {
    .name = "sip",
    .summary = "check and dump SIP messages",
    .run = run,
    .planned = 0,
};
