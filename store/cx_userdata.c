/*
 * The Cx User-Data XML (TS 29.228 Annex E: IMSSubscription) that SAA
 * carries, reduced to what imsec keeps of a subscriber: the private
 * identity and the implicit registration set (store/cx_int.h).
 */
#include "cx_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- build */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 512;
    while (b->n + n + 1 > cap)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s) {
  put(b, s, strlen(s));
}

/* Character data: the three characters XML 1.0 §2.4 reserves in
 * content, and the quotes for good measure. */
static void put_text(sbuf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&':
      puts_(b, "&amp;");
      break;
    case '<':
      puts_(b, "&lt;");
      break;
    case '>':
      puts_(b, "&gt;");
      break;
    case '"':
      puts_(b, "&quot;");
      break;
    case '\'':
      puts_(b, "&apos;");
      break;
    default:
      put(b, s, 1);
    }
  }
}

int imsec_cx_user_data_build(const imsec_hss_sub *sub, char **out,
                             size_t *len) {
  if (!sub || !out || !len)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  *len = 0;
  sbuf b = {0};
  puts_(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            "<IMSSubscription><PrivateID>");
  put_text(&b, sub->impi);
  puts_(&b, "</PrivateID><ServiceProfile>");
  for (size_t i = 0; i < sub->n_impus && i < IMSEC_HSS_MAX_IMPUS; i++) {
    /* TS 29.228 Annex E: BarringIndication precedes Identity. */
    puts_(&b, "<PublicIdentity><BarringIndication>0</BarringIndication>"
              "<Identity>");
    put_text(&b, sub->impus[i]);
    puts_(&b, "</Identity></PublicIdentity>");
  }
  puts_(&b, "</ServiceProfile></IMSSubscription>");
  if (b.oom) {
    free(b.p);
    return IMSEC_ERR_NOMEM;
  }
  *out = b.p;
  *len = b.n;
  return 0;
}

/* ------------------------------------------------------------- parse */

/* A cursor over the document. */
typedef struct xin {
  const char *p, *end;
} xin;

static int starts(const xin *x, const char *s) {
  size_t n = strlen(s);
  return (size_t)(x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

/* Decode character data [s, e) into buf (cap octets with the NUL). */
static int text(const char *s, const char *e, char *buf, size_t cap) {
  size_t n = 0;
  while (s < e) {
    unsigned long c = (unsigned char)*s;
    if (c == '<')
      return IMSEC_ERR_PARSE;
    if (c == '&') {
      const char *semi = memchr(s, ';', (size_t)(e - s));
      if (!semi || semi - s > 12)
        return IMSEC_ERR_PARSE;
      size_t k = (size_t)(semi - s - 1);
      const char *nm = s + 1;
      if (k == 3 && memcmp(nm, "amp", 3) == 0)
        c = '&';
      else if (k == 2 && memcmp(nm, "lt", 2) == 0)
        c = '<';
      else if (k == 2 && memcmp(nm, "gt", 2) == 0)
        c = '>';
      else if (k == 4 && memcmp(nm, "quot", 4) == 0)
        c = '"';
      else if (k == 4 && memcmp(nm, "apos", 4) == 0)
        c = '\'';
      else if (k >= 2 && nm[0] == '#') {
        int hex = nm[1] == 'x';
        c = 0;
        size_t i = hex ? 2 : 1;
        if (i >= k)
          return IMSEC_ERR_PARSE;
        for (; i < k; i++) {
          char d = nm[i];
          unsigned v;
          if (d >= '0' && d <= '9')
            v = (unsigned)(d - '0');
          else if (hex && d >= 'a' && d <= 'f')
            v = (unsigned)(d - 'a' + 10);
          else if (hex && d >= 'A' && d <= 'F')
            v = (unsigned)(d - 'A' + 10);
          else
            return IMSEC_ERR_PARSE;
          c = c * (hex ? 16u : 10u) + v;
          if (c > 0x7f)
            return IMSEC_ERR_PARSE; /* identities here are ASCII */
        }
        if (c == 0)
          return IMSEC_ERR_PARSE;
      } else {
        return IMSEC_ERR_PARSE;
      }
      s = semi + 1;
    } else {
      s++;
    }
    if (n + 1 >= cap)
      return IMSEC_ERR_LIMIT;
    buf[n++] = (char)c;
  }
  buf[n] = '\0';
  return 0;
}

/* Skip whitespace (XML 1.0 §2.3 S). */
static void ws(xin *x) {
  while (x->p < x->end &&
         (*x->p == ' ' || *x->p == '\t' || *x->p == '\r' || *x->p == '\n'))
    x->p++;
}

/* The content of <name>...</name> starting at x->p (just past the start
 * tag): [*s, *e), and x->p after the end tag. Only for leaf elements. */
static int leaf(xin *x, const char *name, const char **s, const char **e) {
  *s = x->p;
  const char *lt = memchr(x->p, '<', (size_t)(x->end - x->p));
  if (!lt)
    return IMSEC_ERR_PARSE;
  *e = lt;
  x->p = lt;
  size_t n = strlen(name);
  if (!starts(x, "</") || (size_t)(x->end - x->p) < n + 3 ||
      memcmp(x->p + 2, name, n) != 0 || x->p[2 + n] != '>')
    return IMSEC_ERR_PARSE;
  x->p += n + 3;
  return 0;
}

int imsec_cx_user_data_parse(const uint8_t *xml, size_t len,
                             imsec_hss_sub *sub) {
  if (!xml || !sub)
    return IMSEC_ERR_INVAL;
  xin x = {(const char *)xml, (const char *)xml + len};
  if (memchr(xml, '\0', len))
    return IMSEC_ERR_PARSE;
  ws(&x);
  if (starts(&x, "<?xml")) {
    const char *q = x.p;
    const char *end = NULL;
    for (; q + 1 < x.end; q++)
      if (q[0] == '?' && q[1] == '>') {
        end = q + 2;
        break;
      }
    if (!end)
      return IMSEC_ERR_PARSE;
    x.p = end;
  }
  ws(&x);
  /* The root may carry attributes (xmlns, xsi:schemaLocation). */
  if (!starts(&x, "<IMSSubscription") ||
      (x.p + 16 < x.end && x.p[16] != '>' && x.p[16] != ' ' &&
       x.p[16] != '\t' && x.p[16] != '\r' && x.p[16] != '\n'))
    return IMSEC_ERR_PARSE;
  const char *gt = memchr(x.p, '>', (size_t)(x.end - x.p));
  if (!gt)
    return IMSEC_ERR_PARSE;
  x.p = gt + 1;

  size_t n = 0;
  int closed = 0;
  int in_pubid = 0;
  char impus[IMSEC_HSS_MAX_IMPUS][IMSEC_HSS_ID_MAX];
  char impi[IMSEC_HSS_ID_MAX];
  int have_impi = 0;
  while (x.p < x.end) {
    const char *lt = memchr(x.p, '<', (size_t)(x.end - x.p));
    if (!lt)
      break;
    x.p = lt;
    if (starts(&x, "<!") || starts(&x, "<?"))
      return IMSEC_ERR_PARSE; /* comments, CDATA, PIs: not from a Cx HSS */
    const char *tgt = memchr(x.p, '>', (size_t)(x.end - x.p));
    if (!tgt)
      return IMSEC_ERR_PARSE;
    if (starts(&x, "</IMSSubscription>")) {
      closed = 1;
      x.p = tgt + 1;
      break;
    }
    if (starts(&x, "<PrivateID>")) {
      x.p += 11;
      const char *s, *e;
      IMSEC_GUARD(leaf(&x, "PrivateID", &s, &e));
      IMSEC_GUARD(text(s, e, impi, sizeof impi));
      have_impi = 1;
      continue;
    }
    if (starts(&x, "<PublicIdentity>")) {
      in_pubid = 1;
    } else if (starts(&x, "</PublicIdentity>")) {
      in_pubid = 0;
    } else if (in_pubid && starts(&x, "<Identity>")) {
      x.p += 10;
      const char *s, *e;
      IMSEC_GUARD(leaf(&x, "Identity", &s, &e));
      if (n >= IMSEC_HSS_MAX_IMPUS)
        return IMSEC_ERR_LIMIT;
      IMSEC_GUARD(text(s, e, impus[n], sizeof impus[n]));
      if (!impus[n][0])
        return IMSEC_ERR_PARSE;
      n++;
      continue;
    }
    x.p = tgt + 1;
  }
  if (!closed)
    return IMSEC_ERR_PARSE;
  if (have_impi)
    memcpy(sub->impi, impi, sizeof impi);
  for (size_t i = 0; i < n; i++)
    memcpy(sub->impus[i], impus[i], sizeof impus[i]);
  sub->n_impus = n;
  return 0;
}
