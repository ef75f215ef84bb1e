/* apps/bench/wire.c: the generator processes' pipe records and the
 * runner's merge of them (wire.h). */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

void bench_wire_encode_done(uint8_t out[BENCH_WIRE_DONE_LEN],
                            const bench_done *d) {
  put32(out, d->sec);
  out[4] = d->scenario;
  out[5] = d->outcome;
  put16(out + 6, d->status);
  put64(out + 8, d->latency_us);
}

void bench_wire_decode_done(const uint8_t in[BENCH_WIRE_DONE_LEN],
                            bench_done *d) {
  d->sec = get32(in);
  d->scenario = in[4];
  d->outcome = in[5];
  d->status = get16(in + 6);
  d->latency_us = get64(in + 8);
}

static void put_hdr(uint8_t *p, int type, size_t len) {
  p[0] = (uint8_t)type;
  p[1] = 0;
  put16(p + 2, (uint16_t)len);
}

size_t bench_wire_encode_tick(uint8_t *out, size_t cap, uint32_t in_flight,
                              uint32_t registered, uint32_t sec_now,
                              int final) {
  if (cap < BENCH_WIRE_HDR + BENCH_WIRE_TICK_LEN)
    return 0;
  put_hdr(out, BENCH_WIRE_TICK, BENCH_WIRE_TICK_LEN);
  put32(out + 4, in_flight);
  put32(out + 8, registered);
  put32(out + 12, sec_now);
  out[16] = final ? 1 : 0;
  return BENCH_WIRE_HDR + BENCH_WIRE_TICK_LEN;
}

/* ------------------------------------------------------------- writer */

void bench_wire_writer_init(bench_wire_writer *w, int fd) {
  w->fd = fd;
  w->failed = 0;
  w->len = 0;
  w->dones_at = SIZE_MAX;
}

int bench_wire_flush(bench_wire_writer *w) {
  size_t off = 0;
  while (!w->failed && off < w->len) {
    ssize_t n = write(w->fd, w->buf + off, w->len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      w->failed = 1;
    else
      off += (size_t)n;
  }
  w->len = 0;
  w->dones_at = SIZE_MAX;
  return w->failed ? -1 : 0;
}

/* Room for `need` more octets, flushing first when the buffer is full. */
static int room(bench_wire_writer *w, size_t need) {
  if (w->failed)
    return -1;
  if (sizeof w->buf - w->len < need && bench_wire_flush(w) != 0)
    return -1;
  return 0;
}

int bench_wire_put_done(bench_wire_writer *w, const bench_done *d) {
  if (w->dones_at != SIZE_MAX) {
    size_t cur = get16(w->buf + w->dones_at + 2);
    if (cur + BENCH_WIRE_DONE_LEN > BENCH_WIRE_PAYLOAD_MAX ||
        sizeof w->buf - w->len < BENCH_WIRE_DONE_LEN)
      w->dones_at = SIZE_MAX; /* start another record */
  }
  if (w->dones_at == SIZE_MAX) {
    if (room(w, BENCH_WIRE_HDR + BENCH_WIRE_DONE_LEN) != 0)
      return -1;
    w->dones_at = w->len;
    put_hdr(w->buf + w->len, BENCH_WIRE_DONES, 0);
    w->len += BENCH_WIRE_HDR;
  }
  bench_wire_encode_done(w->buf + w->len, d);
  w->len += BENCH_WIRE_DONE_LEN;
  uint8_t *h = w->buf + w->dones_at;
  put16(h + 2, (uint16_t)(get16(h + 2) + BENCH_WIRE_DONE_LEN));
  return 0;
}

int bench_wire_put_tick(bench_wire_writer *w, uint32_t in_flight,
                        uint32_t registered, uint32_t sec_now, int final) {
  if (room(w, BENCH_WIRE_HDR + BENCH_WIRE_TICK_LEN) != 0)
    return -1;
  w->len += bench_wire_encode_tick(w->buf + w->len, sizeof w->buf - w->len,
                                   in_flight, registered, sec_now, final);
  w->dones_at = SIZE_MAX;
  return 0;
}

int bench_wire_put_text(bench_wire_writer *w, int type, const char *line) {
  size_t n = 0;
  while (line[n] && line[n] != '\n' && n < BENCH_WIRE_TEXT_MAX)
    n++;
  if (room(w, BENCH_WIRE_HDR + n) != 0)
    return -1;
  put_hdr(w->buf + w->len, type, n);
  memcpy(w->buf + w->len + BENCH_WIRE_HDR, line, n);
  w->len += BENCH_WIRE_HDR + n;
  w->dones_at = SIZE_MAX;
  return 0;
}

/* ------------------------------------------------------------- reader */

void bench_wire_reader_init(bench_wire_reader *r) {
  r->len = 0;
}

/* One complete record; -1 when it cannot be a generator's. */
static int deliver(const uint8_t *rec, size_t plen,
                   const bench_wire_handler *h) {
  const uint8_t *p = rec + BENCH_WIRE_HDR;
  switch (rec[0]) {
  case BENCH_WIRE_DONES:
    if (plen % BENCH_WIRE_DONE_LEN)
      return -1;
    for (size_t off = 0; off < plen; off += BENCH_WIRE_DONE_LEN) {
      bench_done d;
      bench_wire_decode_done(p + off, &d);
      if (h->done)
        h->done(h->arg, &d);
    }
    return 0;
  case BENCH_WIRE_TICK:
    if (plen != BENCH_WIRE_TICK_LEN)
      return -1;
    if (h->tick)
      h->tick(h->arg, get32(p), get32(p + 4), get32(p + 8), p[12] != 0);
    return 0;
  case BENCH_WIRE_NOTE:
  case BENCH_WIRE_FAIL: {
    if (plen > BENCH_WIRE_TEXT_MAX)
      return -1;
    char line[BENCH_WIRE_TEXT_MAX + 1];
    /* Control characters from a peer's reason phrase would move the
     * terminal's cursor: shown as '?'. */
    for (size_t i = 0; i < plen; i++)
      line[i] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
    line[plen] = 0;
    if (h->text)
      h->text(h->arg, rec[0], line);
    return 0;
  }
  default:
    return -1;
  }
}

int bench_wire_feed(bench_wire_reader *r, const uint8_t *data, size_t len,
                    const bench_wire_handler *h) {
  while (len > 0) {
    size_t take = sizeof r->buf - r->len;
    if (take > len)
      take = len;
    memcpy(r->buf + r->len, data, take);
    r->len += take;
    data += take;
    len -= take;
    size_t off = 0;
    while (r->len - off >= BENCH_WIRE_HDR) {
      const uint8_t *rec = r->buf + off;
      if (rec[1] != 0)
        return -1;
      size_t plen = get16(rec + 2);
      if (r->len - off < BENCH_WIRE_HDR + plen)
        break;
      if (deliver(rec, plen, h) != 0)
        return -1;
      off += BENCH_WIRE_HDR + plen;
    }
    memmove(r->buf, r->buf + off, r->len - off);
    r->len -= off;
  }
  return 0;
}

/* -------------------------------------------------------------- merge */

int bench_merge_init(bench_merge *m, unsigned workers) {
  memset(m, 0, sizeof *m);
  m->workers = workers;
  m->watermark = calloc(workers ? workers : 1, sizeof *m->watermark);
  m->in_flight = calloc(workers ? workers : 1, sizeof *m->in_flight);
  m->registered = calloc(workers ? workers : 1, sizeof *m->registered);
  m->total = imsec_bench_stats_new();
  int ok = m->watermark && m->in_flight && m->registered && m->total;
  for (int s = 0; s < BENCH_SC_N; s++)
    ok = ok && (m->by[s] = imsec_bench_stats_new()) != NULL;
  return ok ? 0 : -1;
}

void bench_merge_free(bench_merge *m) {
  free(m->watermark);
  free(m->in_flight);
  free(m->registered);
  free(m->pending);
  imsec_bench_stats_free(m->total);
  for (int s = 0; s < BENCH_SC_N; s++)
    imsec_bench_stats_free(m->by[s]);
  memset(m, 0, sizeof *m);
}

static int count_one(bench_merge *m, const bench_done *d) {
  imsec_bench_outcome o = d->outcome < IMSEC_BENCH_OUTCOMES
                              ? (imsec_bench_outcome)d->outcome
                              : IMSEC_BENCH_OTHER;
  if (imsec_bench_stats_record(m->total, d->sec, o, d->latency_us) != 0)
    return -1;
  if (d->scenario < BENCH_SC_N &&
      imsec_bench_stats_record(m->by[d->scenario], d->sec, o, d->latency_us) !=
          0)
    return -1;
  if (o >= IMSEC_BENCH_SIP_3XX && o <= IMSEC_BENCH_SIP_6XX &&
      d->status >= BENCH_STATUS_MIN &&
      d->status < BENCH_STATUS_MIN + BENCH_STATUS_N)
    m->status[d->status - BENCH_STATUS_MIN]++;
  return 0;
}

int bench_merge_done(bench_merge *m, unsigned worker, const bench_done *d) {
  (void)worker;
  if (d->sec < m->closed) {
    /* Against the sink's contract (a tick promised no earlier second):
     * counted in the earliest second still open rather than lost. */
    m->dropped++;
    return count_one(m, d);
  }
  if (m->npending == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    bench_done *n = realloc(m->pending, cap * sizeof *n);
    if (!n)
      return -1;
    m->pending = n;
    m->cap = cap;
  }
  m->pending[m->npending++] = *d;
  return 0;
}

static int by_sec(const void *a, const void *b) {
  const bench_done *x = a, *y = b;
  return x->sec < y->sec ? -1 : x->sec > y->sec;
}

/* Count every pending operation that ended before second `upto`, in
 * order of their seconds. */
static int close_upto(bench_merge *m, uint32_t upto) {
  if (upto <= m->closed)
    return 0;
  size_t keep = 0, ready = 0;
  /* Ready ones to the front (relative order kept), the rest after. */
  bench_done *later = NULL;
  size_t nlater = 0;
  for (size_t i = 0; i < m->npending; i++)
    if (m->pending[i].sec < upto)
      ready++;
  if (ready < m->npending) {
    later = malloc((m->npending - ready) * sizeof *later);
    if (!later)
      return -1;
  }
  for (size_t i = 0; i < m->npending; i++) {
    if (m->pending[i].sec < upto)
      m->pending[keep++] = m->pending[i];
    else
      later[nlater++] = m->pending[i];
  }
  if (ready > 1) /* none pending: m->pending may still be NULL */
    qsort(m->pending, ready, sizeof *m->pending, by_sec);
  int rc = 0;
  for (size_t i = 0; i < ready && rc == 0; i++)
    rc = count_one(m, &m->pending[i]);
  if (nlater)
    memcpy(m->pending, later, nlater * sizeof *later);
  free(later);
  m->npending = nlater;
  m->closed = upto;
  return rc;
}

static uint32_t low_watermark(const bench_merge *m) {
  uint32_t low = UINT32_MAX;
  for (unsigned i = 0; i < m->workers; i++)
    if (m->watermark[i] < low)
      low = m->watermark[i];
  return low;
}

int bench_merge_tick(bench_merge *m, unsigned worker, uint32_t in_flight,
                     uint32_t registered, uint32_t sec_now, int final) {
  if (worker >= m->workers)
    return -1;
  m->in_flight[worker] = final ? 0 : in_flight;
  m->registered[worker] = final ? 0 : registered;
  if (final)
    m->watermark[worker] = UINT32_MAX;
  else if (sec_now > m->watermark[worker])
    m->watermark[worker] = sec_now;
  uint32_t low = low_watermark(m);
  /* Every worker ended: nothing more comes, count it all. */
  if (low == UINT32_MAX) {
    uint32_t hi = m->closed;
    for (size_t i = 0; i < m->npending; i++)
      if (m->pending[i].sec >= hi)
        hi = m->pending[i].sec + 1;
    low = hi;
  } else {
    low = low > m->lag ? low - m->lag : 0;
  }
  return close_upto(m, low);
}

uint32_t bench_merge_in_flight(const bench_merge *m) {
  uint32_t n = 0;
  for (unsigned i = 0; i < m->workers; i++)
    n += m->in_flight[i];
  return n;
}

uint32_t bench_merge_registered(const bench_merge *m) {
  uint32_t n = 0;
  for (unsigned i = 0; i < m->workers; i++)
    n += m->registered[i];
  return n;
}

int bench_merge_finish(bench_merge *m, uint32_t duration_sec) {
  uint32_t hi = m->closed;
  for (size_t i = 0; i < m->npending; i++)
    if (m->pending[i].sec >= hi)
      hi = m->pending[i].sec + 1;
  if (close_upto(m, hi) != 0)
    return -1;
  int rc = imsec_bench_stats_finish(m->total, duration_sec);
  for (int s = 0; s < BENCH_SC_N; s++)
    if (imsec_bench_stats_finish(m->by[s], duration_sec) != 0)
      rc = -1;
  return rc;
}
