/*
 * Renderers of include/imsec/ops.h: a metrics snapshot as the Prometheus
 * text exposition format 0.0.4 or as JSON, a table as aligned text or
 * JSON, and JSON string escaping (RFC 8259).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/ops.h"

static int buf_result(const imsec_buf *b) {
  return b->err ? b->err : 0;
}

/* ------------------------------------------------------------- numbers */

/* A double in the fewest digits that read back to the same value: whole
 * numbers below 2^53 (every counter) as integers, others through %g with
 * 15, 16 then 17 significant digits (DBL_DIG is 15, so the first
 * precision that round-trips is the shortest). Non-finite values in the
 * spelling of the text format (NaN, +Inf, -Inf): JSON callers handle them
 * before. Both Go's ParseFloat (Prometheus) and JSON accept what %g
 * writes for finite values ("1e-05"). */
static void add_num(imsec_buf *b, double v) {
  char tmp[40];
  if (isnan(v)) {
    imsec_buf_adds(b, "NaN");
    return;
  }
  if (isinf(v)) {
    imsec_buf_adds(b, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (v == trunc(v) && fabs(v) < 9007199254740992.0) {
    if (v < 0)
      imsec_buf_add(b, "-", 1);
    size_t n = imsec_fmt_u64(tmp, (uint64_t)fabs(v));
    imsec_buf_add(b, tmp, n);
    return;
  }
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (strtod(tmp, NULL) == v)
      break;
  }
  if (n > 0 && (size_t)n < sizeof tmp)
    imsec_buf_add(b, tmp, (size_t)n);
}

/* JSON has no NaN or infinities (RFC 8259 §6): they go as the strings the
 * text format uses, as Prometheus's own HTTP API writes every value. */
static void add_json_num(imsec_buf *b, double v) {
  if (!isfinite(v)) {
    imsec_buf_add(b, "\"", 1);
    add_num(b, v);
    imsec_buf_add(b, "\"", 1);
    return;
  }
  add_num(b, v);
}

/* ------------------------------------------------------------ JSON text */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 §4: no
 * overlongs, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned lo = 0x80, hi = 0xbf;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return len;
}

/* RFC 8259 §7: the quotation mark, the reverse solidus and the control
 * characters must be escaped. Text from the wire need not be UTF-8, and a
 * JSON text must be (§8.1): a byte that starts no well-formed sequence
 * becomes U+FFFD, so a reader never chokes on one odd header. */
int imsec_buf_add_json_str(imsec_buf *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  size_t run = 0; /* bytes copied as they are, pending */
  imsec_buf_add(b, "\"", 1);
  for (size_t i = 0; i < len;) {
    unsigned c = p[i];
    const char *esc = NULL;
    char u[6];
    size_t elen = 2;
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c == '\b')
      esc = "\\b";
    else if (c == '\f')
      esc = "\\f";
    else if (c < 0x20) {
      u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0';
      u[4] = hex[c >> 4], u[5] = hex[c & 15];
      esc = u, elen = 6;
    }
    size_t ulen = esc ? 0 : utf8_len(p + i, len - i);
    if (!esc && ulen == 0)
      esc = "\\ufffd", elen = 6;
    if (!esc) {
      run += ulen;
      i += ulen;
      continue;
    }
    if (run)
      imsec_buf_add(b, p + i - run, run);
    run = 0;
    imsec_buf_add(b, esc, elen);
    i++;
  }
  if (run)
    imsec_buf_add(b, p + len - run, run);
  imsec_buf_add(b, "\"", 1);
  return buf_result(b);
}

static void add_json_cstr(imsec_buf *b, const char *s) {
  imsec_buf_add_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

/* ------------------------------------------------------ Prometheus text */

static const char *type_name(imsec_metric_type t) {
  switch (t) {
  case IMSEC_METRIC_COUNTER:
    return "counter";
  case IMSEC_METRIC_GAUGE:
    return "gauge";
  case IMSEC_METRIC_HISTOGRAM:
    return "histogram";
  }
  return "untyped";
}

/* Exposition format 0.0.4: in HELP, a backslash is written \\ and a line
 * feed \n (label values come escaped from the builder). */
static void add_help(imsec_buf *b, const char *s) {
  for (; s && *s; s++) {
    if (*s == '\\')
      imsec_buf_add(b, "\\\\", 2);
    else if (*s == '\n')
      imsec_buf_add(b, "\\n", 2);
    else
      imsec_buf_add(b, s, 1);
  }
}

/* name[suffix]{labels[,le="bound"]} value */
static void add_line(imsec_buf *b, const char *name, const char *suffix,
                     const char *labels, const char *le, double v) {
  int has = labels && *labels;
  imsec_buf_adds(b, name);
  if (suffix)
    imsec_buf_adds(b, suffix);
  if (has || le) {
    imsec_buf_add(b, "{", 1);
    if (has)
      imsec_buf_adds(b, labels);
    if (le) {
      if (has)
        imsec_buf_add(b, ",", 1);
      imsec_buf_adds(b, "le=\"");
      imsec_buf_adds(b, le);
      imsec_buf_add(b, "\"", 1);
    }
    imsec_buf_add(b, "}", 1);
  }
  imsec_buf_add(b, " ", 1);
  add_num(b, v);
  imsec_buf_add(b, "\n", 1);
}

/* The text of bucket bound i ("0.0005" .. "10"; i == IMSEC_HIST_BUCKETS:
 * "+Inf"). */
static void bound_text(size_t i, char *out, size_t cap) {
  imsec_buf t = {0};
  if (i >= IMSEC_HIST_BUCKETS)
    add_num(&t, INFINITY);
  else
    add_num(&t, imsec_hist_bounds[i]);
  snprintf(out, cap, "%s", t.err || !t.p ? "+Inf" : t.p);
  imsec_buf_free(&t);
}

/* Buckets are kept per bucket; the format wants each le to count every
 * observation at or below it, +Inf all of them, equal to _count. */
static uint64_t hist_total(const imsec_hist *h) {
  uint64_t cum = 0;
  for (size_t i = 0; i < IMSEC_HIST_BUCKETS; i++)
    cum += h->bucket[i];
  return h->count > cum ? h->count : cum;
}

int imsec_metrics_render_text(const imsec_metrics *m, imsec_buf *out) {
  char le[IMSEC_HIST_BUCKETS + 1][32];
  for (size_t i = 0; i <= IMSEC_HIST_BUCKETS; i++)
    bound_text(i, le[i], sizeof le[i]);
  for (size_t fi = 0; m && fi < m->n; fi++) {
    const imsec_metric_family *f = &m->f[fi];
    if (f->n == 0)
      continue;
    imsec_buf_adds(out, "# HELP ");
    imsec_buf_adds(out, f->name);
    imsec_buf_add(out, " ", 1);
    add_help(out, f->help);
    imsec_buf_adds(out, "\n# TYPE ");
    imsec_buf_adds(out, f->name);
    imsec_buf_add(out, " ", 1);
    imsec_buf_adds(out, type_name(f->type));
    imsec_buf_add(out, "\n", 1);
    for (size_t si = 0; si < f->n; si++) {
      const imsec_metric_sample *s = &f->s[si];
      if (f->type != IMSEC_METRIC_HISTOGRAM) {
        add_line(out, f->name, NULL, s->labels, NULL, s->value);
        continue;
      }
      uint64_t cum = 0;
      for (size_t i = 0; i < IMSEC_HIST_BUCKETS; i++) {
        cum += s->hist.bucket[i];
        add_line(out, f->name, "_bucket", s->labels, le[i], (double)cum);
      }
      uint64_t total = hist_total(&s->hist);
      add_line(out, f->name, "_bucket", s->labels, le[IMSEC_HIST_BUCKETS],
               (double)total);
      add_line(out, f->name, "_sum", s->labels, NULL, s->hist.sum);
      add_line(out, f->name, "_count", s->labels, NULL, (double)total);
    }
  }
  return buf_result(out);
}

/* ------------------------------------------------------------ JSON form */

/* The builder keeps labels rendered for the text format: name="value"
 * pairs separated by commas, the value with \\, \" and \n escaped. Read
 * them back into a JSON object. */
static void add_json_labels(imsec_buf *b, const char *l) {
  imsec_buf v = {0};
  int first = 1;
  imsec_buf_add(b, "{", 1);
  while (l && *l) {
    const char *eq = strchr(l, '=');
    if (!eq || eq[1] != '"')
      break; /* not the builder's form: leave the rest out */
    if (!first)
      imsec_buf_adds(b, ", ");
    first = 0;
    imsec_buf_add_json_str(b, l, (size_t)(eq - l));
    imsec_buf_adds(b, ": ");
    imsec_buf_reset(&v);
    const char *p = eq + 2;
    for (; *p && *p != '"'; p++) {
      if (*p == '\\' && p[1]) {
        p++;
        imsec_buf_add(&v, *p == 'n' ? "\n" : p, 1);
      } else {
        imsec_buf_add(&v, p, 1);
      }
    }
    imsec_buf_add_json_str(b, v.p ? v.p : "", v.len);
    if (*p == '"')
      p++;
    if (*p == ',')
      p++;
    l = p;
  }
  imsec_buf_add(b, "}", 1);
  if (v.err)
    b->err = v.err;
  imsec_buf_free(&v);
}

int imsec_metrics_render_json(const imsec_metrics *m, imsec_buf *out) {
  char le[IMSEC_HIST_BUCKETS + 1][32];
  int firstf = 1;
  for (size_t i = 0; i <= IMSEC_HIST_BUCKETS; i++)
    bound_text(i, le[i], sizeof le[i]);
  imsec_buf_add(out, "{", 1);
  for (size_t fi = 0; m && fi < m->n; fi++) {
    const imsec_metric_family *f = &m->f[fi];
    if (f->n == 0)
      continue;
    if (!firstf)
      imsec_buf_adds(out, ", ");
    firstf = 0;
    add_json_cstr(out, f->name);
    imsec_buf_adds(out, ": {\"type\": ");
    add_json_cstr(out, type_name(f->type));
    imsec_buf_adds(out, ", \"help\": ");
    add_json_cstr(out, f->help);
    imsec_buf_adds(out, ", \"samples\": [");
    for (size_t si = 0; si < f->n; si++) {
      const imsec_metric_sample *s = &f->s[si];
      if (si)
        imsec_buf_adds(out, ", ");
      imsec_buf_adds(out, "{\"labels\": ");
      add_json_labels(out, s->labels);
      if (f->type != IMSEC_METRIC_HISTOGRAM) {
        imsec_buf_adds(out, ", \"value\": ");
        add_json_num(out, s->value);
        imsec_buf_add(out, "}", 1);
        continue;
      }
      imsec_buf_adds(out, ", \"buckets\": {");
      uint64_t cum = 0;
      for (size_t i = 0; i < IMSEC_HIST_BUCKETS; i++) {
        cum += s->hist.bucket[i];
        add_json_cstr(out, le[i]);
        imsec_buf_adds(out, ": ");
        imsec_buf_add_u64(out, cum);
        imsec_buf_adds(out, ", ");
      }
      uint64_t total = hist_total(&s->hist);
      add_json_cstr(out, le[IMSEC_HIST_BUCKETS]);
      imsec_buf_adds(out, ": ");
      imsec_buf_add_u64(out, total);
      imsec_buf_adds(out, "}, \"sum\": ");
      add_json_num(out, s->hist.sum);
      imsec_buf_adds(out, ", \"count\": ");
      imsec_buf_add_u64(out, total);
      imsec_buf_add(out, "}", 1);
    }
    imsec_buf_adds(out, "]}");
  }
  imsec_buf_adds(out, "}\n");
  return buf_result(out);
}

/* --------------------------------------------------------------- tables */

static const char *cell(const imsec_table *t, size_t r, size_t c) {
  const char *s = t->cells ? t->cells[r * t->ncols + c] : NULL;
  return s ? s : "";
}

/* Width on a terminal, near enough: UTF-8 code points. */
static size_t text_width(const char *s) {
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80)
      w++;
  return w;
}

/* One cell in a text table: an empty one as "-" so that columns stay
 * countable (awk), control characters as "?" so a row stays one line. */
static void add_cell(imsec_buf *b, const char *s, size_t width, int pad) {
  size_t w;
  if (!*s)
    s = "-";
  w = text_width(s);
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    imsec_buf_add(b, c < 0x20 || c == 0x7f ? "?" : p, 1);
  }
  for (; pad && w < width; w++)
    imsec_buf_add(b, " ", 1);
}

int imsec_table_render_text(const imsec_table *t, imsec_buf *out) {
  if (!t || t->ncols == 0)
    return buf_result(out);
  size_t *width = calloc(t->ncols, sizeof *width);
  if (!width)
    return IMSEC_ERR_NOMEM;
  for (size_t c = 0; c < t->ncols; c++) {
    width[c] = text_width(t->cols[c] && *t->cols[c] ? t->cols[c] : "-");
    for (size_t r = 0; r < t->nrows; r++) {
      const char *s = cell(t, r, c);
      size_t w = text_width(*s ? s : "-");
      if (w > width[c])
        width[c] = w;
    }
  }
  for (size_t r = 0; r <= t->nrows; r++) {
    for (size_t c = 0; c < t->ncols; c++) {
      const char *s =
          r == 0 ? (t->cols[c] ? t->cols[c] : "") : cell(t, r - 1, c);
      if (c)
        imsec_buf_adds(out, "  ");
      /* no trailing blanks after the last column */
      add_cell(out, s, width[c], c + 1 < t->ncols);
    }
    imsec_buf_add(out, "\n", 1);
  }
  free(width);
  return buf_result(out);
}

int imsec_table_render_json(const imsec_table *t, imsec_buf *out) {
  imsec_buf_add(out, "[", 1);
  for (size_t r = 0; t && r < t->nrows; r++) {
    if (r)
      imsec_buf_adds(out, ", ");
    imsec_buf_add(out, "{", 1);
    for (size_t c = 0; c < t->ncols; c++) {
      if (c)
        imsec_buf_adds(out, ", ");
      add_json_cstr(out, t->cols[c]);
      imsec_buf_adds(out, ": ");
      add_json_cstr(out, cell(t, r, c));
    }
    imsec_buf_add(out, "}", 1);
  }
  imsec_buf_adds(out, "]\n");
  return buf_result(out);
}
