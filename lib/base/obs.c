/* Observability data (include/imsec/obs.h): buffers, histograms, metric
 * snapshots and tables. Rendering lives in ops/ (it needs stdio for
 * floating point). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/obs.h"

/* -------------------------------------------------------------- buffers */

static int buf_reserve(imsec_buf *b, size_t more) {
  if (b->err)
    return b->err;
  if (more > SIZE_MAX - b->len - 1) {
    b->err = IMSEC_ERR_NOMEM;
    return b->err;
  }
  size_t need = b->len + more + 1;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->err = IMSEC_ERR_NOMEM;
    return b->err;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

int imsec_buf_add(imsec_buf *b, const void *data, size_t len) {
  IMSEC_GUARD(buf_reserve(b, len));
  if (len)
    memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = 0;
  return 0;
}

int imsec_buf_adds(imsec_buf *b, const char *s) {
  return imsec_buf_add(b, s, strlen(s));
}

size_t imsec_fmt_u64(char *buf, uint64_t v) {
  char tmp[21];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    buf[i] = tmp[n - 1 - i];
  buf[n] = 0;
  return n;
}

int imsec_buf_add_u64(imsec_buf *b, uint64_t v) {
  char tmp[21];
  size_t n = imsec_fmt_u64(tmp, v);
  return imsec_buf_add(b, tmp, n);
}

void imsec_buf_reset(imsec_buf *b) {
  b->len = 0;
  if (b->p)
    b->p[0] = 0;
}

void imsec_buf_free(imsec_buf *b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}

/* ----------------------------------------------------------- histograms */

const double imsec_hist_bounds[IMSEC_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

void imsec_hist_observe(imsec_hist *h, double seconds) {
  if (!(seconds >= 0)) /* NaN or a clock that went back */
    seconds = 0;
  for (size_t i = 0; i < IMSEC_HIST_BUCKETS; i++) {
    if (seconds <= imsec_hist_bounds[i]) {
      h->bucket[i]++;
      break;
    }
  }
  h->count++;
  h->sum += seconds;
}

void imsec_hist_observe_ms(imsec_hist *h, int64_t ms) {
  imsec_hist_observe(h, ms > 0 ? (double)ms / 1000.0 : 0.0);
}

void imsec_hist_merge(imsec_hist *into, const imsec_hist *from) {
  for (size_t i = 0; i < IMSEC_HIST_BUCKETS; i++)
    into->bucket[i] += from->bucket[i];
  into->count += from->count;
  into->sum += from->sum;
}

/* -------------------------------------------------------------- metrics */

static int name_ok(const char *s, int colon) {
  if (!s || !*s)
    return 0;
  for (const char *p = s; *p; p++) {
    int c = (unsigned char)*p;
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                (colon && c == ':');
    if (!alpha && !(p != s && c >= '0' && c <= '9'))
      return 0;
  }
  return 1;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d)
    memcpy(d, s, n + 1);
  return d;
}

static imsec_metric_family *find_family(const imsec_metrics *m,
                                        const char *name) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->f[i].name, name) == 0) /* no secret: a metric name */
      return &m->f[i];
  return NULL;
}

const imsec_metric_family *imsec_metrics_find(const imsec_metrics *m,
                                              const char *name) {
  return m && name ? find_family(m, name) : NULL;
}

static int fail(imsec_metrics *m, int err) {
  if (!m->err)
    m->err = err;
  return err;
}

int imsec_metrics_declare(imsec_metrics *m, const char *name,
                          imsec_metric_type type, const char *help) {
  if (!m)
    return IMSEC_ERR_INVAL;
  if (m->err)
    return m->err;
  if (!name_ok(name, 1) || !help || type > IMSEC_METRIC_HISTOGRAM)
    return fail(m, IMSEC_ERR_INVAL);
  imsec_metric_family *f = find_family(m, name);
  if (f)
    return f->type == type ? 0 : fail(m, IMSEC_ERR_INVAL);
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 16;
    imsec_metric_family *nf = realloc(m->f, cap * sizeof(*nf));
    if (!nf)
      return fail(m, IMSEC_ERR_NOMEM);
    m->f = nf;
    m->cap = cap;
  }
  f = &m->f[m->n];
  memset(f, 0, sizeof(*f));
  f->type = type;
  f->name = dup_str(name);
  /* HELP is one line: a newline in it would end the line early. */
  f->help = dup_str(help);
  if (!f->name || !f->help) {
    free(f->name);
    free(f->help);
    return fail(m, IMSEC_ERR_NOMEM);
  }
  for (char *p = f->help; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  m->n++;
  return 0;
}

/* Labels as the text format writes them: name="value" pairs, values with
 * \\, \" and \n escaped (Prometheus exposition format). */
static int render_labels(imsec_buf *b, va_list ap) {
  int first = 1;
  for (;;) {
    const char *k = va_arg(ap, const char *);
    if (!k)
      break;
    const char *v = va_arg(ap, const char *);
    if (!name_ok(k, 0) || (k[0] == '_' && k[1] == '_'))
      return IMSEC_ERR_INVAL;
    if (!v)
      v = "";
    if (!first)
      imsec_buf_add(b, ",", 1);
    first = 0;
    imsec_buf_adds(b, k);
    imsec_buf_add(b, "=\"", 2);
    for (const char *p = v; *p; p++) {
      if (*p == '\\')
        imsec_buf_add(b, "\\\\", 2);
      else if (*p == '"')
        imsec_buf_add(b, "\\\"", 2);
      else if (*p == '\n')
        imsec_buf_add(b, "\\n", 2);
      else
        imsec_buf_add(b, p, 1);
    }
    imsec_buf_add(b, "\"", 1);
  }
  if (first)
    imsec_buf_add(b, "", 0); /* make p non-NULL */
  return b->err;
}

static imsec_metric_sample *sample_for(imsec_metrics *m, imsec_metric_family *f,
                                       va_list ap) {
  imsec_buf lb = {0};
  int rc = render_labels(&lb, ap);
  if (rc) {
    imsec_buf_free(&lb);
    fail(m, rc);
    return NULL;
  }
  for (size_t i = 0; i < f->n; i++) {
    if (strcmp(f->s[i].labels, lb.p) == 0) { /* no secret: label text */
      imsec_buf_free(&lb);
      return &f->s[i];
    }
  }
  if (f->n == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 4;
    imsec_metric_sample *ns = realloc(f->s, cap * sizeof(*ns));
    if (!ns) {
      imsec_buf_free(&lb);
      fail(m, IMSEC_ERR_NOMEM);
      return NULL;
    }
    f->s = ns;
    f->cap = cap;
  }
  imsec_metric_sample *s = &f->s[f->n++];
  memset(s, 0, sizeof(*s));
  s->labels = lb.p; /* the buffer's memory becomes the sample's */
  return s;
}

int imsec_metrics_add(imsec_metrics *m, const char *name, double v, ...) {
  if (!m || !name)
    return IMSEC_ERR_INVAL;
  if (m->err)
    return m->err;
  imsec_metric_family *f = find_family(m, name);
  if (!f || f->type == IMSEC_METRIC_HISTOGRAM)
    return fail(m, IMSEC_ERR_INVAL);
  va_list ap;
  va_start(ap, v);
  imsec_metric_sample *s = sample_for(m, f, ap);
  va_end(ap);
  if (!s)
    return m->err;
  s->value += v;
  return 0;
}

int imsec_metrics_add_hist(imsec_metrics *m, const char *name,
                           const imsec_hist *h, ...) {
  if (!m || !name || !h)
    return IMSEC_ERR_INVAL;
  if (m->err)
    return m->err;
  imsec_metric_family *f = find_family(m, name);
  if (!f || f->type != IMSEC_METRIC_HISTOGRAM)
    return fail(m, IMSEC_ERR_INVAL);
  va_list ap;
  va_start(ap, h);
  imsec_metric_sample *s = sample_for(m, f, ap);
  va_end(ap);
  if (!s)
    return m->err;
  imsec_hist_merge(&s->hist, h);
  return 0;
}

void imsec_metrics_free(imsec_metrics *m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->n; i++) {
    imsec_metric_family *f = &m->f[i];
    for (size_t k = 0; k < f->n; k++)
      free(f->s[k].labels);
    free(f->s);
    free(f->name);
    free(f->help);
  }
  free(m->f);
  memset(m, 0, sizeof(*m));
}

/* --------------------------------------------------------------- tables */

static void table_clear(imsec_table *t) {
  for (size_t i = 0; i < t->ncols; i++)
    free(t->cols[i]);
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cols);
  free(t->cells);
  memset(t, 0, sizeof(*t));
}

void imsec_table_free(imsec_table *t) {
  if (t)
    table_clear(t);
}

int imsec_table_init(imsec_table *t, const char *const *cols, size_t ncols) {
  if (!t || (!cols && ncols))
    return IMSEC_ERR_INVAL;
  table_clear(t);
  if (!ncols)
    return 0;
  t->cols = calloc(ncols, sizeof(*t->cols));
  if (!t->cols) {
    t->err = IMSEC_ERR_NOMEM;
    return t->err;
  }
  t->ncols = ncols;
  for (size_t i = 0; i < ncols; i++) {
    t->cols[i] = dup_str(cols[i] ? cols[i] : "");
    if (!t->cols[i]) {
      t->err = IMSEC_ERR_NOMEM;
      return t->err;
    }
  }
  return 0;
}

static char *dup_slice(imsec_str s) {
  char *d = malloc(s.len + 1);
  if (!d)
    return NULL;
  /* Cells are shown on a terminal: control characters become '?'. */
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.p[i];
    d[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  d[s.len] = 0;
  return d;
}

static char **row_slot(imsec_table *t) {
  if (t->err)
    return NULL;
  if (!t->ncols) {
    t->err = IMSEC_ERR_INVAL;
    return NULL;
  }
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 16;
    char **nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));
    if (!nc) {
      t->err = IMSEC_ERR_NOMEM;
      return NULL;
    }
    t->cells = nc;
    t->cap = cap;
  }
  char **row = &t->cells[t->nrows * t->ncols];
  memset(row, 0, t->ncols * sizeof(*row));
  return row;
}

static int row_commit(imsec_table *t, char **row) {
  for (size_t i = 0; i < t->ncols; i++) {
    if (!row[i]) {
      for (size_t k = 0; k < t->ncols; k++)
        free(row[k]);
      t->err = IMSEC_ERR_NOMEM;
      return t->err;
    }
  }
  t->nrows++;
  return 0;
}

int imsec_table_add(imsec_table *t, const char *const *cells) {
  if (!t || !cells)
    return IMSEC_ERR_INVAL;
  char **row = row_slot(t);
  if (!row)
    return t->err;
  for (size_t i = 0; i < t->ncols; i++)
    row[i] = dup_slice(imsec_str_c(cells[i] ? cells[i] : ""));
  return row_commit(t, row);
}

int imsec_table_addv(imsec_table *t, const imsec_str *cells) {
  if (!t || !cells)
    return IMSEC_ERR_INVAL;
  char **row = row_slot(t);
  if (!row)
    return t->err;
  for (size_t i = 0; i < t->ncols; i++)
    row[i] = dup_slice(cells[i].p ? cells[i] : imsec_str_c(""));
  return row_commit(t, row);
}
