/* RFC 4475 torture messages (tests/vectors/rfc4475, INDEX.tsv): §3.1.1
 * must be accepted, §3.1.2 rejected, §3.2-3.4 parsed without harm and
 * answered as the RFC says; the status is what `imsec sip check` prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "sip_touch.h"
#include "test_util.h"

/* The status a proxy answers (0: ok). */
static const struct {
  const char *file;
  unsigned status;
} expect[] = {
    {"wsinv.dat", 0},        {"intmeth.dat", 0},    {"esc01.dat", 0},
    {"escnull.dat", 0},      {"esc02.dat", 0},      {"lwsdisp.dat", 0},
    {"longreq.dat", 0},      {"dblreq.dat", 0},     {"semiuri.dat", 0},
    {"transports.dat", 0},   {"mpart01.dat", 0},    {"unreason.dat", 0},
    {"noreason.dat", 0},     {"badinv01.dat", 400}, {"clerr.dat", 400},
    {"ncl.dat", 400},        {"scalar02.dat", 400}, {"scalarlg.dat", 400},
    {"quotbal.dat", 400},    {"ltgtruri.dat", 400}, {"lwsruri.dat", 400},
    {"lwsstart.dat", 400},   {"trws.dat", 400},     {"escruri.dat", 400},
    {"baddate.dat", 400},    {"regbadct.dat", 400}, {"badaspec.dat", 400},
    {"baddn.dat", 400},      {"badvers.dat", 505},  {"mismatch01.dat", 400},
    {"mismatch02.dat", 400}, {"bigcode.dat", 400},  {"badbranch.dat", 0},
    {"insuf.dat", 400},      {"unkscm.dat", 416},   {"novelsc.dat", 416},
    {"unksm2.dat", 0},       {"bext01.dat", 420},   {"invut.dat", 0},
    {"regaut01.dat", 0},     {"multi01.dat", 400},  {"mcl01.dat", 400},
    {"bcast.dat", 0},        {"zeromf.dat", 0},     {"cparam01.dat", 0},
    {"cparam02.dat", 0},     {"regescrt.dat", 0},   {"sdp01.dat", 0},
    {"inv2543.dat", 0},      {"test.dat", 400},
};

static unsigned expected_status(const char *file) {
  for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
    if (strcmp(expect[i].file, file) == 0)
      return expect[i].status;
  }
  fail_msg("no expectation for %s", file);
  return 999;
}

static void torture(void **state) {
  (void)state;
  size_t ilen;
  char *index = t_read_file(t_vector_path("rfc4475/INDEX.tsv"), &ilen);
  char *save = NULL;
  int n = 0;
  for (char *line = strtok_r(index, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char file[64], section[32], cls[32];
    if (strncmp(line, "file\t", 5) == 0)
      continue;
    /* file \t section \t title \t class \t expected */
    char *f[5] = {0};
    char *p = line;
    for (int i = 0; i < 5 && p; i++) {
      f[i] = p;
      p = strchr(p, '\t');
      if (p)
        *p++ = '\0';
    }
    assert_non_null(f[3]);
    snprintf(file, sizeof(file), "%s", f[0]);
    snprintf(section, sizeof(section), "%s", f[1]);
    snprintf(cls, sizeof(cls), "%s", f[3]);
    char rel[128];
    snprintf(rel, sizeof(rel), "rfc4475/%s", file);
    size_t len;
    char *buf = t_read_file(t_vector_path(rel), &len);
    imsec_sip_msg m;
    imsec_sip_msg_init(&m, NULL);
    int rv = imsec_sip_parse(&m, buf, len, 0);
    if (rv == 0) {
      assert_int_equal(t_sip_touch_all(&m, 64), 0);
      rv = imsec_sip_check(&m);
    }
    unsigned got = rv == 0 ? 0 : m.diag.status;
    unsigned want = expected_status(file);
    if (got != want)
      fail_msg("%s (§%s, %s): got %u (%s, line %u), want %u", file, section,
               cls, got, m.diag.reason ? m.diag.reason : "-", m.diag.line,
               want);
    if (strcmp(cls, "valid") == 0)
      assert_int_equal(got, 0);
    if (strcmp(cls, "invalid") == 0)
      assert_int_not_equal(got, 0);
    imsec_sip_msg_free(&m);
    free(buf);
    n++;
  }
  assert_int_equal(n, 50);
  free(index);
}

/* The archive's baddn.dat lacks its last CRLF; with it, the display name is
 * what gets it rejected. */
static void baddn_complete(void **state) {
  (void)state;
  size_t len;
  char *buf = t_read_file(t_vector_path("rfc4475/baddn.dat"), &len);
  char *full = malloc(len + 2);
  memcpy(full, buf, len);
  memcpy(full + len, "\r\n", 2);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, full, len + 2, 0), 0);
  assert_int_equal(imsec_sip_check(&m), IMSEC_ERR_PARSE);
  assert_int_equal(m.diag.status, 400);
  assert_string_equal(m.diag.reason, "Malformed From");
  assert_int_equal(m.diag.line, 4);
  imsec_sip_msg_free(&m);
  free(full);
  free(buf);
}

static char *load(const char *name, size_t *len) {
  char rel[128];
  snprintf(rel, sizeof(rel), "rfc4475/%s", name);
  return t_read_file(t_vector_path(rel), len);
}

/* RFC 4475 §3.1.1.1: the typed values behind the whitespace. */
static void wsinv_values(void **state) {
  (void)state;
  size_t len;
  char *buf = load("wsinv.dat", &len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, buf, len, 0), 0);
  const imsec_sip_addr *to, *from;
  assert_int_equal(imsec_sip_get_to(&m, &to), 0);
  assert_true(imsec_str_eq(to->tag, IMSEC_STR_LIT("1918181833n")));
  assert_int_equal(imsec_sip_get_from(&m, &from), 0);
  assert_true(imsec_str_eq(from->tag, IMSEC_STR_LIT("98asjd8")));
  assert_true(
      imsec_str_eq(from->display, IMSEC_STR_LIT("J Rosenberg \\\\\\\"")));
  uint32_t mf;
  assert_int_equal(imsec_sip_get_max_forwards(&m, &mf), 0);
  assert_int_equal(mf, 68);
  const imsec_sip_cseq *cs;
  assert_int_equal(imsec_sip_get_cseq(&m, &cs), 0);
  assert_int_equal(cs->seq, 9);
  assert_true(imsec_str_eq(cs->method, IMSEC_STR_LIT("INVITE")));
  /* three Via values on two fields, one folded over three lines */
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_via v;
  assert_int_equal(imsec_sip_via_next(&m, &it, &v), 1);
  assert_true(imsec_str_eq(v.transport, IMSEC_STR_LIT("UDP")));
  assert_true(imsec_str_eq(v.host, IMSEC_STR_LIT("192.0.2.2")));
  assert_true(imsec_str_eq(v.branch, IMSEC_STR_LIT("390skdjuw")));
  assert_int_equal(imsec_sip_via_next(&m, &it, &v), 1);
  assert_true(imsec_str_eq(v.transport, IMSEC_STR_LIT("TCP")));
  assert_true(imsec_str_eq(v.host, IMSEC_STR_LIT("spindle.example.com")));
  assert_true(imsec_str_eq(v.branch, IMSEC_STR_LIT("z9hG4bK9ikj8")));
  assert_int_equal(imsec_sip_via_next(&m, &it, &v), 1);
  assert_true(imsec_str_eq(v.host, IMSEC_STR_LIT("192.168.255.111")));
  assert_true(imsec_str_eq(v.branch, IMSEC_STR_LIT("z9hG4bK30239")));
  assert_int_equal(imsec_sip_via_next(&m, &it, &v), 0);
  /* compact m: Contact with q */
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  imsec_sip_addr c;
  assert_int_equal(imsec_sip_addr_next(&m, IMSEC_SIP_H_CONTACT, &it, &c), 1);
  assert_int_equal(c.q, 330);
  assert_true(imsec_str_eq(c.display, IMSEC_STR_LIT("Quoted string \\\"\\\"")));
  assert_int_equal(m.body.len, 150);
  const imsec_sip_hdr *h =
      imsec_sip_hdr_find(&m, IMSEC_STR_LIT("newfangledheader"));
  assert_non_null(h);
  assert_int_equal(h->line, 16);
  imsec_sip_msg_free(&m);
  free(buf);
}

/* RFC 4475 §3.1.1.8: octets past Content-Length are not part of the
 * message. */
static void dblreq_first_only(void **state) {
  (void)state;
  size_t len;
  char *buf = load("dblreq.dat", &len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, buf, len, 0), 0);
  assert_true(imsec_sip_msg_len(&m) < len);
  assert_int_equal(m.body.len, 0);
  assert_true(imsec_str_eq(m.method, IMSEC_STR_LIT("REGISTER")));
  imsec_sip_msg_free(&m);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(torture),
      cmocka_unit_test(baddn_complete),
      cmocka_unit_test(wsinv_values),
      cmocka_unit_test(dblreq_first_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
