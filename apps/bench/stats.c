/* apps/bench/stats.c: the load generator's histogram, per-second series
 * and report writers (stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ histogram */

static unsigned bucket_of(uint64_t v) {
  if (v < (1u << IMSEC_BENCH_SUB_BITS))
    return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned shift = msb - (IMSEC_BENCH_SUB_BITS - 1);
  unsigned half = 1u << (IMSEC_BENCH_SUB_BITS - 1);
  return (1u << IMSEC_BENCH_SUB_BITS) + (shift - 1) * half +
         (unsigned)((v >> shift) - half);
}

/* The midpoint of bucket i (its exact value in the exact range). */
static uint64_t bucket_mid(unsigned i) {
  if (i < (1u << IMSEC_BENCH_SUB_BITS))
    return i;
  unsigned half = 1u << (IMSEC_BENCH_SUB_BITS - 1);
  unsigned j = i - (1u << IMSEC_BENCH_SUB_BITS);
  unsigned shift = j / half + 1;
  uint64_t lo = (uint64_t)(j % half + half) << shift;
  return lo + ((1ULL << shift) >> 1);
}

void imsec_bench_hist_init(imsec_bench_hist *h) {
  memset(h, 0, sizeof *h);
}

void imsec_bench_hist_record(imsec_bench_hist *h, uint64_t us) {
  if (us > IMSEC_BENCH_MAX_US)
    us = IMSEC_BENCH_MAX_US;
  h->counts[bucket_of(us)]++;
  if (h->count == 0 || us < h->min)
    h->min = us;
  if (h->count == 0 || us > h->max)
    h->max = us;
  h->count++;
  h->sum += us;
}

void imsec_bench_hist_merge(imsec_bench_hist *dst,
                            const imsec_bench_hist *src) {
  if (src->count == 0)
    return;
  for (unsigned i = 0; i < IMSEC_BENCH_BUCKETS; i++)
    dst->counts[i] += src->counts[i];
  if (dst->count == 0 || src->min < dst->min)
    dst->min = src->min;
  if (dst->count == 0 || src->max > dst->max)
    dst->max = src->max;
  dst->count += src->count;
  dst->sum += src->sum;
}

uint64_t imsec_bench_hist_quantile(const imsec_bench_hist *h, double q) {
  if (h->count == 0)
    return 0;
  if (q <= 0)
    return h->min;
  if (q >= 1)
    return h->max;
  uint64_t rank = (uint64_t)ceil(q * (double)h->count);
  if (rank < 1)
    rank = 1;
  uint64_t cum = 0;
  for (unsigned i = 0; i < IMSEC_BENCH_BUCKETS; i++) {
    cum += h->counts[i];
    if (cum >= rank) {
      uint64_t v = bucket_mid(i);
      if (v < h->min)
        v = h->min;
      if (v > h->max)
        v = h->max;
      return v;
    }
  }
  return h->max;
}

double imsec_bench_hist_mean(const imsec_bench_hist *h) {
  return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/* ------------------------------------------------------------- outcomes */

static const char *const outcome_names[IMSEC_BENCH_OUTCOMES] = {
    "ok",      "sip_3xx",   "sip_4xx", "sip_5xx",
    "sip_6xx", "tls_alert", "timeout", "other"};

imsec_bench_outcome imsec_bench_outcome_of_status(int status) {
  switch (status / 100) {
  case 2:
    return IMSEC_BENCH_OK;
  case 3:
    return IMSEC_BENCH_SIP_3XX;
  case 4:
    return IMSEC_BENCH_SIP_4XX;
  case 5:
    return IMSEC_BENCH_SIP_5XX;
  case 6:
    return IMSEC_BENCH_SIP_6XX;
  default:
    return IMSEC_BENCH_OTHER;
  }
}

const char *imsec_bench_outcome_name(imsec_bench_outcome o) {
  return (unsigned)o < IMSEC_BENCH_OUTCOMES ? outcome_names[o] : "other";
}

/* --------------------------------------------------------------- series */

imsec_bench_stats *imsec_bench_stats_new(void) {
  return calloc(1, sizeof(imsec_bench_stats));
}

void imsec_bench_stats_free(imsec_bench_stats *s) {
  if (!s)
    return;
  free(s->secs);
  free(s);
}

static int push_sec(imsec_bench_stats *s, const imsec_bench_sec *row) {
  if (s->nsecs == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    imsec_bench_sec *n = realloc(s->secs, cap * sizeof *n);
    if (!n)
      return -1;
    s->secs = n;
    s->cap = cap;
  }
  s->secs[s->nsecs++] = *row;
  return 0;
}

/* Close the open second and any empty ones until `sec` is the open one. */
static int advance(imsec_bench_stats *s, uint32_t sec) {
  while (s->open_sec < sec) {
    s->open.p50_us = imsec_bench_hist_quantile(&s->cur, 0.50);
    s->open.p99_us = imsec_bench_hist_quantile(&s->cur, 0.99);
    if (push_sec(s, &s->open) != 0)
      return -1;
    memset(&s->open, 0, sizeof s->open);
    if (s->cur.count)
      imsec_bench_hist_init(&s->cur);
    s->open_sec++;
  }
  return 0;
}

int imsec_bench_stats_record(imsec_bench_stats *s, uint32_t sec,
                             imsec_bench_outcome o, uint64_t latency_us) {
  if (s->finished || (unsigned)o >= IMSEC_BENCH_OUTCOMES)
    return -1;
  if (sec < s->open_sec) /* a late report: count it in the open second */
    sec = s->open_sec;
  if (advance(s, sec) != 0)
    return -1;
  s->attempts++;
  s->open.attempts++;
  if (o == IMSEC_BENCH_OK) {
    s->ok++;
    s->open.ok++;
    imsec_bench_hist_record(&s->total, latency_us);
    imsec_bench_hist_record(&s->cur, latency_us);
  } else {
    s->fail[o]++;
    s->open.fail[o]++;
  }
  return 0;
}

int imsec_bench_stats_finish(imsec_bench_stats *s, uint32_t duration_sec) {
  if (s->finished)
    return 0;
  uint32_t end = s->open_sec + 1;
  if (duration_sec > end)
    end = duration_sec;
  if (advance(s, end) != 0)
    return -1;
  s->finished = 1;
  return 0;
}

/* -------------------------------------------------------------- writers */

static double ms(uint64_t us) {
  return (double)us / 1000.0;
}

static uint64_t failures(const imsec_bench_stats *s) {
  uint64_t n = 0;
  for (unsigned i = 1; i < IMSEC_BENCH_OUTCOMES; i++)
    n += s->fail[i];
  return n;
}

static const double quantiles[] = {0.50, 0.90, 0.99, 0.999};
static const char *const quantile_names[] = {"p50", "p90", "p99", "p99.9"};
#define NQUANT (sizeof quantiles / sizeof quantiles[0])

int imsec_bench_write_table(FILE *f, const imsec_bench_stats *s) {
  const imsec_bench_hist *h = &s->total;
  size_t secs = s->nsecs ? s->nsecs : 1;
  fprintf(f, "attempts   %llu\n", (unsigned long long)s->attempts);
  fprintf(f, "successes  %llu (%.2f%%)\n", (unsigned long long)s->ok,
          s->attempts ? 100.0 * (double)s->ok / (double)s->attempts : 0.0);
  fprintf(f, "failures   %llu\n", (unsigned long long)failures(s));
  for (unsigned i = 1; i < IMSEC_BENCH_OUTCOMES; i++)
    if (s->fail[i])
      fprintf(f, "  %-9s %llu\n", outcome_names[i],
              (unsigned long long)s->fail[i]);
  fprintf(f, "duration   %zu s, %.1f successes/s\n", s->nsecs,
          (double)s->ok / (double)secs);
  fprintf(f, "latency ms %9s %9s %9s %9s %9s %9s %9s\n", "min", "p50", "p90",
          "p99", "p99.9", "max", "mean");
  fprintf(f, "           %9.3f", ms(h->count ? h->min : 0));
  for (size_t i = 0; i < NQUANT; i++)
    fprintf(f, " %9.3f", ms(imsec_bench_hist_quantile(h, quantiles[i])));
  fprintf(f, " %9.3f %9.3f\n", ms(h->max), imsec_bench_hist_mean(h) / 1000.0);
  return ferror(f) ? -1 : 0;
}

/* A JSON string (RFC 8259 7): quote, backslash and control characters
 * escaped; other octets passed through (the options are the user's
 * UTF-8 arguments). */
static void json_str(FILE *f, const char *v) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

int imsec_bench_write_json(FILE *f, const imsec_bench_stats *s,
                           const imsec_bench_opt *opts, size_t nopts) {
  const imsec_bench_hist *h = &s->total;
  fputs("{\n  \"options\": {", f);
  for (size_t i = 0; i < nopts; i++) {
    fputs(i ? ", " : "", f);
    json_str(f, opts[i].key);
    fputs(": ", f);
    json_str(f, opts[i].value);
  }
  fprintf(f,
          "},\n  \"totals\": {\"attempts\": %llu, \"successes\": %llu, "
          "\"failures\": %llu, \"duration_s\": %zu},\n",
          (unsigned long long)s->attempts, (unsigned long long)s->ok,
          (unsigned long long)failures(s), s->nsecs);
  fputs("  \"failures\": {", f);
  for (unsigned i = 1; i < IMSEC_BENCH_OUTCOMES; i++)
    fprintf(f, "%s\"%s\": %llu", i > 1 ? ", " : "", outcome_names[i],
            (unsigned long long)s->fail[i]);
  fprintf(f, "},\n  \"latency_us\": {\"count\": %llu, \"min\": %llu",
          (unsigned long long)h->count,
          (unsigned long long)(h->count ? h->min : 0));
  for (size_t i = 0; i < NQUANT; i++)
    fprintf(f, ", \"%s\": %llu", quantile_names[i],
            (unsigned long long)imsec_bench_hist_quantile(h, quantiles[i]));
  fprintf(f, ", \"max\": %llu, \"mean\": %.3f},\n  \"series\": [",
          (unsigned long long)h->max, imsec_bench_hist_mean(h));
  for (size_t i = 0; i < s->nsecs; i++) {
    const imsec_bench_sec *r = &s->secs[i];
    fprintf(f, "%s\n    {\"t\": %zu, \"attempts\": %llu, \"successes\": %llu",
            i ? "," : "", i, (unsigned long long)r->attempts,
            (unsigned long long)r->ok);
    fputs(", \"failures\": {", f);
    for (unsigned k = 1; k < IMSEC_BENCH_OUTCOMES; k++)
      fprintf(f, "%s\"%s\": %llu", k > 1 ? ", " : "", outcome_names[k],
              (unsigned long long)r->fail[k]);
    fprintf(f, "}, \"p50_us\": %llu, \"p99_us\": %llu}",
            (unsigned long long)r->p50_us, (unsigned long long)r->p99_us);
  }
  fputs(s->nsecs ? "\n  ]\n}\n" : "]\n}\n", f);
  return ferror(f) ? -1 : 0;
}

int imsec_bench_write_csv(FILE *f, const imsec_bench_stats *s) {
  fputs("second,attempts,successes", f);
  for (unsigned k = 1; k < IMSEC_BENCH_OUTCOMES; k++)
    fprintf(f, ",%s", outcome_names[k]);
  fputs(",p50_us,p99_us\n", f);
  for (size_t i = 0; i < s->nsecs; i++) {
    const imsec_bench_sec *r = &s->secs[i];
    fprintf(f, "%zu,%llu,%llu", i, (unsigned long long)r->attempts,
            (unsigned long long)r->ok);
    for (unsigned k = 1; k < IMSEC_BENCH_OUTCOMES; k++)
      fprintf(f, ",%llu", (unsigned long long)r->fail[k]);
    fprintf(f, ",%llu,%llu\n", (unsigned long long)r->p50_us,
            (unsigned long long)r->p99_us);
  }
  return ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------------ SVG */

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about five
 * ticks up to `max`. */
static double nice_step(double max) {
  if (max <= 0)
    return 1;
  double raw = max / 5.0;
  double p = pow(10.0, floor(log10(raw)));
  double m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

#define SVG_W 800
#define SVG_PANEL_H 220
#define SVG_LEFT 70
#define SVG_RIGHT 20
#define SVG_TOP 40
#define SVG_GAP 60

typedef struct panel {
  double x0, y0, w, h; /* plot area */
  double xmax, ymax;
} panel;

static double px(const panel *p, double x) {
  return p->x0 + (p->xmax > 0 ? x / p->xmax : 0) * p->w;
}
static double py(const panel *p, double y) {
  return p->y0 + p->h - (p->ymax > 0 ? y / p->ymax : 0) * p->h;
}

static void svg_axes(FILE *f, panel *p, const char *ylabel) {
  double xs = nice_step(p->xmax), ys = nice_step(p->ymax);
  /* The axes end on a whole tick so the top and right ticks are labelled. */
  p->xmax = ceil(p->xmax / xs) * xs;
  p->ymax = ceil(p->ymax / ys) * ys;
  if (p->xmax <= 0)
    p->xmax = xs;
  if (p->ymax <= 0)
    p->ymax = ys;
  fprintf(f,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
          "fill=\"none\" stroke=\"#000\"/>\n",
          p->x0, p->y0, p->w, p->h);
  for (double x = 0; x <= p->xmax + xs / 2; x += xs) {
    double X = px(p, x);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#000\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
            "text-anchor=\"middle\">%g</text>\n",
            X, p->y0 + p->h, X, p->y0 + p->h + 5, X, p->y0 + p->h + 18, x);
  }
  for (double y = 0; y <= p->ymax + ys / 2; y += ys) {
    double Y = py(p, y);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#ccc\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
            "text-anchor=\"end\">%g</text>\n",
            p->x0, Y, p->x0 + p->w, Y, p->x0 - 6, Y + 4, y);
  }
  fprintf(f,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time (s)</text>\n"
          "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" "
          "text-anchor=\"middle\">%s</text>\n",
          p->x0 + p->w / 2, p->y0 + p->h + 36, p->x0 - 50, p->y0 + p->h / 2,
          ylabel);
}

/* One polyline; `which` selects the value of a second. */
static void svg_line(FILE *f, const panel *p, const imsec_bench_stats *s,
                     int which, const char *colour) {
  fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" points=\"", colour);
  for (size_t i = 0; i < s->nsecs; i++) {
    const imsec_bench_sec *r = &s->secs[i];
    double v = which == 0   ? (double)r->attempts
               : which == 1 ? (double)r->ok
               : which == 2 ? ms(r->p50_us)
                            : ms(r->p99_us);
    /* A second's value is drawn at its middle. */
    fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(p, (double)i + 0.5), py(p, v));
  }
  fputs("\"/>\n", f);
}

static void svg_legend(FILE *f, const panel *p, int idx, const char *colour,
                       const char *name) {
  double x = p->x0 + p->w - 150 + idx * 75, y = p->y0 - 8;
  fprintf(f,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
          "stroke=\"%s\" stroke-width=\"2\"/>\n<text x=\"%.1f\" "
          "y=\"%.1f\">%s</text>\n",
          x, y - 4, x + 18, y - 4, colour, x + 22, y, name);
}

int imsec_bench_write_svg(FILE *f, const imsec_bench_stats *s,
                          const char *title) {
  int height = SVG_TOP + 2 * SVG_PANEL_H + SVG_GAP + 50;
  panel tp = {SVG_LEFT,    SVG_TOP,          SVG_W - SVG_LEFT - SVG_RIGHT,
              SVG_PANEL_H, (double)s->nsecs, 0};
  panel lp = tp;
  lp.y0 = SVG_TOP + SVG_PANEL_H + SVG_GAP;
  for (size_t i = 0; i < s->nsecs; i++) {
    if ((double)s->secs[i].attempts > tp.ymax)
      tp.ymax = (double)s->secs[i].attempts;
    if (ms(s->secs[i].p99_us) > lp.ymax)
      lp.ymax = ms(s->secs[i].p99_us);
  }
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
          "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
          "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
          "fill=\"#fff\"/>\n<text x=\"%d\" y=\"20\" font-size=\"14\">",
          SVG_W, height, SVG_W, height, SVG_LEFT);
  /* The title is text content: the five XML specials escaped. */
  for (const char *c = title ? title : "imsec bench"; *c; c++) {
    switch (*c) {
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '&':
      fputs("&amp;", f);
      break;
    case '"':
      fputs("&quot;", f);
      break;
    case '\'':
      fputs("&apos;", f);
      break;
    default:
      if ((unsigned char)*c >= 0x20)
        fputc(*c, f);
    }
  }
  fputs("</text>\n", f);
  svg_axes(f, &tp, "per second");
  svg_line(f, &tp, s, 0, "#888");
  svg_line(f, &tp, s, 1, "#1a7f37");
  svg_legend(f, &tp, 0, "#888", "attempts");
  svg_legend(f, &tp, 1, "#1a7f37", "successes");
  svg_axes(f, &lp, "latency (ms)");
  svg_line(f, &lp, s, 2, "#0550ae");
  svg_line(f, &lp, s, 3, "#cf222e");
  svg_legend(f, &lp, 0, "#0550ae", "p50");
  svg_legend(f, &lp, 1, "#cf222e", "p99");
  fputs("</svg>\n", f);
  return ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------ report */

static double rate_of(uint64_t n, double secs) {
  return secs > 0 ? (double)n / secs : 0.0;
}

/* A per-operation figure, or JSON null when nothing succeeded. */
static void json_per_op(FILE *f, double total, uint64_t ops, double scale) {
  if (ops == 0 || total < 0)
    fputs("null", f);
  else
    fprintf(f, "%.3f", total * scale / (double)ops);
}

static void json_failures(FILE *f, const uint64_t *fail) {
  fputc('{', f);
  for (unsigned i = 1; i < IMSEC_BENCH_OUTCOMES; i++)
    fprintf(f, "%s\"%s\": %llu", i > 1 ? ", " : "", outcome_names[i],
            (unsigned long long)fail[i]);
  fputc('}', f);
}

static void json_latency(FILE *f, const imsec_bench_hist *h) {
  fprintf(f, "{\"count\": %llu, \"min\": %llu", (unsigned long long)h->count,
          (unsigned long long)(h->count ? h->min : 0));
  static const char *const keys[] = {"p50", "p90", "p99", "p999"};
  for (size_t i = 0; i < NQUANT; i++)
    fprintf(f, ", \"%s\": %llu", keys[i],
            (unsigned long long)imsec_bench_hist_quantile(h, quantiles[i]));
  fprintf(f, ", \"max\": %llu, \"mean\": %.3f}", (unsigned long long)h->max,
          imsec_bench_hist_mean(h));
}

/* "attempts", "ok", "successes", "failed", "failures", "rate" and
 * "duration_s" of one stats (the totals, or one scenario's), the object
 * left open. */
static void json_totals(FILE *f, const imsec_bench_stats *s, double secs) {
  fprintf(f,
          "{\"attempts\": %llu, \"ok\": %llu, \"successes\": %llu, "
          "\"failed\": %llu, \"failures\": ",
          (unsigned long long)s->attempts, (unsigned long long)s->ok,
          (unsigned long long)s->ok, (unsigned long long)failures(s));
  json_failures(f, s->fail);
  fprintf(f, ", \"rate\": %.3f, \"attempt_rate\": %.3f, \"duration_s\": %.3f",
          rate_of(s->ok, secs), rate_of(s->attempts, secs), secs);
}

int imsec_bench_write_report_json(FILE *f, const imsec_bench_report *r) {
  const imsec_bench_stats *s = r->total;
  fputs("{\n  \"options\": {", f);
  for (size_t i = 0; i < r->nopts; i++) {
    fputs(i ? ", " : "", f);
    json_str(f, r->opts[i].key);
    fputs(": ", f);
    json_str(f, r->opts[i].value);
  }
  fputs("},\n  \"totals\": ", f);
  json_totals(f, s, r->elapsed_s);
  fprintf(f, ", \"unfinished\": %llu},\n  \"latency_us\": ",
          (unsigned long long)r->unfinished);
  json_latency(f, &s->total);
  if (r->n_by) {
    fputs(",\n  \"by_scenario\": {", f);
    for (size_t i = 0; i < r->n_by; i++) {
      fputs(i ? ",\n    " : "\n    ", f);
      json_str(f, r->by_name[i]);
      fputs(": ", f);
      json_totals(f, r->by[i], r->elapsed_s);
      fputs(", \"latency_us\": ", f);
      json_latency(f, &r->by[i]->total);
      fputc('}', f);
    }
    fputs("\n  }", f);
  }
  fputs(",\n  \"statuses\": {", f);
  int first = 1;
  for (unsigned i = 0; r->status && i < r->n_status; i++)
    if (r->status[i]) {
      fprintf(f, "%s\"%u\": %llu", first ? "" : ", ", r->status_min + i,
              (unsigned long long)r->status[i]);
      first = 0;
    }
  fputs("},\n  \"series\": [", f);
  for (size_t i = 0; i < s->nsecs; i++) {
    const imsec_bench_sec *row = &s->secs[i];
    fprintf(f,
            "%s\n    {\"t\": %zu, \"attempts\": %llu, \"ok\": %llu, "
            "\"successes\": %llu, \"failures\": ",
            i ? "," : "", i, (unsigned long long)row->attempts,
            (unsigned long long)row->ok, (unsigned long long)row->ok);
    json_failures(f, row->fail);
    fprintf(f, ", \"p50_us\": %llu, \"p99_us\": %llu}",
            (unsigned long long)row->p50_us, (unsigned long long)row->p99_us);
  }
  fputs(s->nsecs ? "\n  ],\n  \"server\": [" : "],\n  \"server\": [", f);
  for (size_t i = 0; i < r->n_servers; i++) {
    const imsec_bench_server *v = &r->servers[i];
    fprintf(f, "%s\n    {\"pid\": %ld, ", i ? "," : "", v->pid);
    if (!v->sampled) {
      fputs("\"cpu_s\": null, \"cpu_us_per_op\": null, \"rss_kib_start\": "
            "null, \"rss_kib_end\": null, \"rss_kib_max\": null}",
            f);
      continue;
    }
    fprintf(f, "\"cpu_s\": %.3f, \"cpu_us_per_op\": ", v->cpu_s);
    json_per_op(f, v->cpu_s, s->ok, 1e6);
    fprintf(f,
            ", \"rss_kib_start\": %llu, \"rss_kib_end\": %llu, "
            "\"rss_kib_max\": %llu}",
            (unsigned long long)v->rss_kib_start,
            (unsigned long long)v->rss_kib_end,
            (unsigned long long)v->rss_kib_max);
  }
  fprintf(f, "%s],\n  \"generator\": {\"procs\": %u, \"cpu_s\": ",
          r->n_servers ? "\n  " : "", r->procs);
  if (r->generator_cpu_s < 0)
    fputs("null", f);
  else
    fprintf(f, "%.3f", r->generator_cpu_s);
  fputs(", \"cpu_us_per_op\": ", f);
  json_per_op(f, r->generator_cpu_s, s->ok, 1e6);
  if (r->generator_cpu_s >= 0)
    fprintf(f, ", \"runner_cpu_s\": %.3f", r->runner_cpu_s);
  fputc('}', f);
  if (r->hold) {
    fprintf(f,
            ",\n  \"hold\": {\"ues\": %llu, \"registered\": %llu, "
            "\"servers\": [",
            (unsigned long long)r->hold_ues,
            (unsigned long long)r->hold_registered);
    for (size_t i = 0; i < r->n_servers; i++) {
      const imsec_bench_server *v = &r->servers[i];
      fprintf(f, "%s\n    {\"pid\": %ld, ", i ? "," : "", v->pid);
      if (!v->sampled) {
        fputs("\"rss_kib_idle_before\": null, \"rss_kib_after\": null, "
              "\"kib_per_ue\": null}",
              f);
        continue;
      }
      fprintf(f, "\"rss_kib_idle_before\": %llu, \"rss_kib_after\": %llu, ",
              (unsigned long long)v->rss_kib_idle_before,
              (unsigned long long)v->rss_kib_held);
      fputs("\"kib_per_ue\": ", f);
      json_per_op(f, (double)v->rss_kib_held - (double)v->rss_kib_idle_before,
                  r->hold_registered, 1.0);
      fputc('}', f);
    }
    fputs(r->n_servers ? "\n  ]}" : "]}", f);
  }
  fputs("\n}\n", f);
  return ferror(f) ? -1 : 0;
}

int imsec_bench_write_report_table(FILE *f, const imsec_bench_report *r) {
  const imsec_bench_stats *s = r->total;
  double secs = r->elapsed_s;
  fprintf(f, "attempts   %llu\n", (unsigned long long)s->attempts);
  fprintf(f, "successes  %llu (%.2f%%)\n", (unsigned long long)s->ok,
          s->attempts ? 100.0 * (double)s->ok / (double)s->attempts : 0.0);
  fprintf(f, "failures   %llu\n", (unsigned long long)failures(s));
  for (unsigned i = 1; i < IMSEC_BENCH_OUTCOMES; i++)
    if (s->fail[i]) {
      fprintf(f, "  %-9s %llu", outcome_names[i],
              (unsigned long long)s->fail[i]);
      /* The SIP statuses of that class, most telling first. */
      if (i >= IMSEC_BENCH_SIP_3XX && i <= IMSEC_BENCH_SIP_6XX && r->status) {
        const char *sep = " (";
        for (unsigned k = 0; k < r->n_status; k++) {
          unsigned code = r->status_min + k;
          if (r->status[k] && code / 100 == i + 2) {
            fprintf(f, "%s%u: %llu", sep, code,
                    (unsigned long long)r->status[k]);
            sep = ", ";
          }
        }
        if (sep[0] == ',')
          fputc(')', f);
      }
      fputc('\n', f);
    }
  fprintf(f, "duration   %.1f s, %.1f successes/s\n", secs,
          rate_of(s->ok, secs));
  const char *lat = "latency ms";
  for (size_t b = 0; b <= r->n_by; b++) {
    const imsec_bench_hist *h = b == 0 ? &s->total : &r->by[b - 1]->total;
    if (b == 0)
      fprintf(f, "%-10s %9s %9s %9s %9s %9s %9s %9s\n", lat, "min", "p50",
              "p90", "p99", "p99.9", "max", "mean");
    fprintf(f, "%-10s %9.3f", b == 0 ? "" : r->by_name[b - 1],
            ms(h->count ? h->min : 0));
    for (size_t i = 0; i < NQUANT; i++)
      fprintf(f, " %9.3f", ms(imsec_bench_hist_quantile(h, quantiles[i])));
    fprintf(f, " %9.3f %9.3f\n", ms(h->max), imsec_bench_hist_mean(h) / 1000.0);
  }
  for (size_t b = 0; b < r->n_by; b++) {
    const imsec_bench_stats *x = r->by[b];
    fprintf(f, "%-10s %llu attempts, %llu ok, %llu failed, %.1f/s\n",
            r->by_name[b], (unsigned long long)x->attempts,
            (unsigned long long)x->ok, (unsigned long long)failures(x),
            rate_of(x->ok, secs));
  }
  for (size_t i = 0; i < r->n_servers; i++) {
    const imsec_bench_server *v = &r->servers[i];
    if (!v->sampled) {
      fprintf(f, "server %ld: /proc not readable\n", v->pid);
      continue;
    }
    fprintf(f, "server %ld: cpu %.3f s", v->pid, v->cpu_s);
    if (s->ok)
      fprintf(f, ", %.1f us per success", v->cpu_s * 1e6 / (double)s->ok);
    fprintf(f, ", rss %llu -> %llu KiB (max %llu)\n",
            (unsigned long long)v->rss_kib_start,
            (unsigned long long)v->rss_kib_end,
            (unsigned long long)v->rss_kib_max);
  }
  if (r->generator_cpu_s >= 0) {
    fprintf(f, "generator: %u process%s, cpu %.3f s", r->procs,
            r->procs == 1 ? "" : "es", r->generator_cpu_s);
    if (s->ok)
      fprintf(f, ", %.1f us per success",
              r->generator_cpu_s * 1e6 / (double)s->ok);
    fputc('\n', f);
  }
  if (r->hold) {
    fprintf(f, "hold: %llu of %llu UEs registered at once\n",
            (unsigned long long)r->hold_registered,
            (unsigned long long)r->hold_ues);
    for (size_t i = 0; i < r->n_servers; i++) {
      const imsec_bench_server *v = &r->servers[i];
      if (!v->sampled)
        continue;
      fprintf(f, "server %ld: rss %llu KiB idle, %llu KiB holding", v->pid,
              (unsigned long long)v->rss_kib_idle_before,
              (unsigned long long)v->rss_kib_held);
      if (r->hold_registered)
        fprintf(f, ": %.2f KiB per UE",
                ((double)v->rss_kib_held - (double)v->rss_kib_idle_before) /
                    (double)r->hold_registered);
      fputc('\n', f);
    }
  }
  return ferror(f) ? -1 : 0;
}
