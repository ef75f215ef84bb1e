/* The logger's identity scanner (ops/log_redact.c, the rules in
 * include/imsec/log_redact.h) and the logger around it (ops/log.c): sip:,
 * sips: and tel: URIs and bare user@domain names pseudonymised, host URIs,
 * parameters and the event's Call-ID left as they are, edge cases at the
 * ends of the text and of the output; the logger's text and JSON lines,
 * its pseudonyms stable within the process, --log-identities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsec/log_redact.h"
#include "imsec/ops.h"
#include "test_util.h"

/* A stand-in for the HMAC: FNV-1a, 48 bits, in hex; the identities it
 * was given are kept for the checks. */
static char seen[16][256];
static size_t n_seen;

static void fnv_id(const char *id, size_t len, char out[16]) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)id[i];
    h *= 1099511628211ull;
  }
  snprintf(out, 16, "id-%012llx", (unsigned long long)(h & 0xffffffffffffull));
}

static void fake(void *arg, const char *id, size_t len,
                 char out[IMSEC_PSEUDONYM_LEN + 1]) {
  (void)arg;
  if (n_seen < 16 && len < sizeof seen[0]) {
    memcpy(seen[n_seen], id, len);
    seen[n_seen][len] = 0;
    n_seen++;
  }
  fnv_id(id, len, out);
}

static char out[1024];

static const char *redact(const char *text, const char *keep) {
  n_seen = 0;
  size_t n = imsec_log_redact(text, strlen(text), keep, keep ? strlen(keep) : 0,
                              fake, NULL, out, sizeof out);
  assert_int_equal(n, strlen(out));
  return out;
}

/* want with every {IDENTITY} replaced by that identity's pseudonym. */
static void expect(const char *text, const char *keep, const char *want) {
  char exp[1024];
  size_t n = 0;
  for (const char *p = want; *p;) {
    if (*p == '{') {
      const char *e = strchr(p, '}');
      assert_non_null(e);
      fnv_id(p + 1, (size_t)(e - p - 1), exp + n);
      n += IMSEC_PSEUDONYM_LEN;
      p = e + 1;
    } else {
      exp[n++] = *p++;
    }
  }
  exp[n] = 0;
  assert_string_equal(redact(text, keep), exp);
}

static void uris(void **state) {
  (void)state;
  expect("registered IMPU sip:alice@home.example.org", NULL,
         "registered IMPU {sip:alice@home.example.org}");
  expect("<sips:bob@home.example.org;transport=tls>", NULL,
         "<{sips:bob@home.example.org};transport=tls>");
  /* Scheme and host without case, the user part as written. */
  expect("SIP:Alice@HOME.example.org", NULL, "{sip:Alice@home.example.org}");
  expect("contact sip:ue@127.0.0.1:5061;ob?x=1", NULL,
         "contact {sip:ue@127.0.0.1:5061};ob?x=1");
  expect("sip:ue@[2001:db8::1]:5060", NULL, "{sip:ue@[2001:db8::1]:5060}");
  expect("IMPU #2 'sip:alice@example.com' is not", NULL,
         "IMPU #2 '{sip:alice@example.com}' is not");
  expect("bound to (sip:a@h.example).", NULL, "bound to ({sip:a@h.example}).");
  expect("from sip:a@h.example.", NULL, "from {sip:a@h.example}.");
  /* Host URIs name no one. */
  expect("REGISTER sip:home.example.org SIP/2.0", NULL,
         "REGISTER sip:home.example.org SIP/2.0");
  expect("Route: <sip:scscf.home.example.org;lr>", NULL,
         "Route: <sip:scscf.home.example.org;lr>");
  /* ...but what follows their scheme is still read. */
  expect("sip:host;user=alice@home.example", NULL,
         "sip:host;user={alice@home.example}");
  expect("sip:tel:+15550001", NULL, "sip:{tel:+15550001}");
  /* Only at the start of a word. */
  expect("gossip:x@y", NULL, "gossip:{x@y}");
  assert_int_equal(n_seen, 1);
  assert_string_equal(seen[0], "x@y");
}

static void tel(void **state) {
  (void)state;
  expect("IMPU tel:+1-555-0001;phone-context=home.example", NULL,
         "IMPU {tel:+1-555-0001};phone-context=home.example");
  expect("impu=sip:001010000000001@h.example,tel:+15550001", NULL,
         "impu={sip:001010000000001@h.example},{tel:+15550001}");
  /* An empty tel: is not a number. */
  expect("tel: none", NULL, "tel: none");
  expect("tel:", NULL, "tel:");
}

static void bare(void **state) {
  (void)state;
  expect("registered IMPI 001010000000001@ims.mnc001.mcc001.3gppnetwork.org "
         "bound to flow 3",
         NULL,
         "registered IMPI {001010000000001@ims.mnc001.mcc001.3gppnetwork.org} "
         "bound to flow 3");
  expect("IMPI='alice@Home.Example' refused", NULL,
         "IMPI='{alice@home.example}' refused");
  expect("user alice.b+x@h.example:5060.", NULL,
         "user {alice.b+x@h.example:5060}.");
  expect("a@b@c.example", NULL, "{a@b@c.example}");
  expect("alice@[::1] x", NULL, "{alice@[::1]} x");
  /* Not names: no user, no domain, a domain starting with a mark. */
  expect("@home.example", NULL, "@home.example");
  expect("alice@ then", NULL, "alice@ then");
  expect("alice@-x", NULL, "alice@-x");
  expect("alice@[] x", NULL, "alice@[] x");
  expect("x = @ y", NULL, "x = @ y");
  expect("", NULL, "");
}

static void call_ids(void **state) {
  (void)state;
  /* The event's own Call-ID, as a whole word, stays. */
  expect("new dialog a84b4c76e66710@pc33.example for sip:bob@h.example",
         "a84b4c76e66710@pc33.example",
         "new dialog a84b4c76e66710@pc33.example for {sip:bob@h.example}");
  /* Not inside a longer word, and not another Call-ID. */
  expect("xa84b@pc33.example", "a84b@pc33.example", "{xa84b@pc33.example}");
  expect("other 77@pc9.example", "a84b@pc33.example", "other {77@pc9.example}");
  /* A Call-ID without '@' is no identity anyway. */
  expect("call-id 8f2c1e", NULL, "call-id 8f2c1e");
}

static void same_identity_same_pseudonym(void **state) {
  (void)state;
  char a[64], b[64];
  strcpy(a, redact("sip:alice@h.example", NULL));
  strcpy(b, redact("to SIP:alice@H.EXAMPLE;x", NULL));
  assert_memory_equal(a, b + 3, IMSEC_PSEUDONYM_LEN);
  /* The IMPU and the IMPI are two identities. */
  strcpy(b, redact("alice@h.example", NULL));
  assert_string_not_equal(a, b);
}

static void cut_output(void **state) {
  (void)state;
  const char *text = "IMPI alice@h.example registered";
  char full[128], small[12];
  size_t n = imsec_log_redact(text, strlen(text), NULL, 0, fake, NULL, full,
                              sizeof full);
  size_t m = imsec_log_redact(text, strlen(text), NULL, 0, fake, NULL, small,
                              sizeof small);
  assert_int_equal(n, m);
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_memory_equal(full, small, sizeof small - 1);
  assert_null(strstr(small, "alice"));
  /* cap 1: only the NUL. */
  m = imsec_log_redact(text, strlen(text), NULL, 0, fake, NULL, small, 1);
  assert_int_equal(m, n);
  assert_int_equal(small[0], 0);
}

/* ------------------------------------------------------------ the logger */

static char *capture(imsec_log_format f, int identities,
                     const imsec_log_event *ev) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  imsec_logger_config c = {.format = f, .identities = identities, .fd = p[1]};
  imsec_logger *lg = NULL;
  assert_int_equal(imsec_logger_new(&lg, &c), 0);
  imsec_logger_event(lg, ev);
  imsec_logger_del(lg);
  close(p[1]);
  static char buf[8192];
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  assert_true(n > 0);
  buf[n] = 0;
  return buf;
}

static const char *skip_time(const char *s) {
  /* 2026-12-05T20:14:14.123Z */
  assert_true(strlen(s) > 24);
  assert_int_equal(s[4], '-');
  assert_int_equal(s[10], 'T');
  assert_int_equal(s[19], '.');
  assert_int_equal(s[23], 'Z');
  return s + 24;
}

static void logger_lines(void **state) {
  (void)state;
  imsec_log_event ev = {.elem = "pcscf",
                        .level = IMSEC_LOG_INFO,
                        .text = "registered IMPI alice@h.example \"q\"\x01",
                        .flow = 7,
                        .call_id = "c1@ue.example"};
  char *l = capture(IMSEC_LOG_FORMAT_TEXT, 0, &ev);
  const char *t = skip_time(l);
  assert_null(strstr(l, "alice"));
  assert_non_null(strstr(t, " pcscf info: registered IMPI id-"));
  assert_non_null(strstr(t, "\"q\"  [flow=7 call-id=c1@ue.example]\n"));
  assert_int_equal(strchr(l, '\n')[1], 0);

  l = capture(IMSEC_LOG_FORMAT_JSON, 0, &ev);
  assert_true(strncmp(l, "{\"time\":\"", 9) == 0);
  skip_time(l + 9);
  assert_non_null(strstr(l, "Z\",\"level\":\"info\",\"elem\":\"pcscf\","
                            "\"flow\":7,\"call_id\":\"c1@ue.example\","
                            "\"msg\":\"registered IMPI id-"));
  assert_non_null(strstr(l, " \\\"q\\\"\\u0001\"}\n"));
  assert_null(strstr(l, "alice"));

  /* --log-identities */
  l = capture(IMSEC_LOG_FORMAT_JSON, 1, &ev);
  assert_non_null(strstr(l, "\"msg\":\"registered IMPI alice@h.example "));

  /* No flow, no Call-ID: no fields; bytes that are not UTF-8. */
  imsec_log_event e2 = {.elem = "",
                        .level = IMSEC_LOG_ERROR,
                        .text = "bad \xff\xc3\xa9",
                        .flow = 0,
                        .call_id = NULL};
  l = capture(IMSEC_LOG_FORMAT_JSON, 0, &e2);
  assert_null(strstr(l, "\"flow\""));
  assert_null(strstr(l, "\"call_id\""));
  assert_non_null(strstr(l, "\"level\":\"error\",\"elem\":\"imsec\","
                            "\"msg\":\"bad \\ufffd\xc3\xa9\"}\n"));
  l = capture(IMSEC_LOG_FORMAT_TEXT, 0, &e2);
  assert_non_null(strstr(l, " imsec error: bad ?\xc3\xa9\n"));
}

static void logger_pseudonyms_stable(void **state) {
  (void)state;
  imsec_log_event ev = {.elem = "scscf",
                        .level = IMSEC_LOG_WARN,
                        .text = "sip:bob@h.example",
                        .flow = 0,
                        .call_id = NULL};
  char a[256], b[256];
  snprintf(a, sizeof a, "%s", capture(IMSEC_LOG_FORMAT_TEXT, 0, &ev));
  snprintf(b, sizeof b, "%s", capture(IMSEC_LOG_FORMAT_TEXT, 0, &ev));
  /* Two loggers of one process share the key. */
  const char *pa = strstr(a, "id-"), *pb = strstr(b, "id-");
  assert_non_null(pa);
  assert_non_null(pb);
  assert_memory_equal(pa, pb, IMSEC_PSEUDONYM_LEN);
  for (int k = 3; k < IMSEC_PSEUDONYM_LEN; k++)
    assert_non_null(strchr("0123456789abcdef", pa[k]));
  ev.text = "sip:carol@h.example";
  snprintf(b, sizeof b, "%s", capture(IMSEC_LOG_FORMAT_TEXT, 0, &ev));
  pb = strstr(b, "id-");
  assert_non_null(pb);
  assert_memory_not_equal(pa, pb, IMSEC_PSEUDONYM_LEN);
}

static void format_parse(void **state) {
  (void)state;
  imsec_log_format f = IMSEC_LOG_FORMAT_TEXT;
  assert_int_equal(imsec_log_format_parse("json", &f), 0);
  assert_int_equal(f, IMSEC_LOG_FORMAT_JSON);
  assert_int_equal(imsec_log_format_parse("text", &f), 0);
  assert_int_equal(f, IMSEC_LOG_FORMAT_TEXT);
  assert_int_equal(imsec_log_format_parse("JSON", &f), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_log_format_parse("", &f), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_log_format_parse(NULL, &f), IMSEC_ERR_PARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(uris),
      cmocka_unit_test(tel),
      cmocka_unit_test(bare),
      cmocka_unit_test(call_ids),
      cmocka_unit_test(same_identity_same_pseudonym),
      cmocka_unit_test(cut_output),
      cmocka_unit_test(logger_lines),
      cmocka_unit_test(logger_pseudonyms_stable),
      cmocka_unit_test(format_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
