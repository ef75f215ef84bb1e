/*
 * apps/bench/wire.h: what a generator process tells the runner over its
 * pipe, and the runner's merge of every process's reports into one run.
 *
 * Records: a 4-octet header (type, 0, payload length as 16 bits little
 * endian), then the payload, all integers little endian:
 *   DONES  k x 16 octets: sec u32, scenario u8, outcome u8, status u16,
 *          latency_us u64 (one per ended operation, in order of sec)
 *   TICK   in_flight u32, registered u32, sec_now u32, final u8
 *   NOTE   a line of text (no NUL, no newline), for the user
 *   FAIL   a line of text: the process could not run
 * A writer batches DONES into one record until it flushes (at every tick,
 * or when its buffer is full), so a pipe carries a few writes a second.
 */
#ifndef IMSEC_APPS_BENCH_WIRE_H
#define IMSEC_APPS_BENCH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "opts.h"
#include "stats.h"

enum {
  BENCH_WIRE_DONES = 1,
  BENCH_WIRE_TICK = 2,
  BENCH_WIRE_NOTE = 3,
  BENCH_WIRE_FAIL = 4,
};

#define BENCH_WIRE_HDR 4
#define BENCH_WIRE_DONE_LEN 16
#define BENCH_WIRE_TICK_LEN 13
#define BENCH_WIRE_TEXT_MAX 512
/* The largest payload (a 16-bit length); a DONES record holds at most
 * this many operations. */
#define BENCH_WIRE_PAYLOAD_MAX 65535
#define BENCH_WIRE_DONES_MAX (BENCH_WIRE_PAYLOAD_MAX / BENCH_WIRE_DONE_LEN)

/* ------------------------------------------------------------- writer */

/* The generator's end: records into a buffer, written to `fd` when
 * flushed. A failed write (the runner went away) is sticky: later calls
 * do nothing and return -1. */
typedef struct bench_wire_writer {
  int fd;
  int failed;
  size_t len;      /* octets in buf */
  size_t dones_at; /* offset of the open DONES record's header, or
                      SIZE_MAX when none is open */
  uint8_t buf[16384];
} bench_wire_writer;

void bench_wire_writer_init(bench_wire_writer *w, int fd);
int bench_wire_put_done(bench_wire_writer *w, const bench_done *d);
int bench_wire_put_tick(bench_wire_writer *w, uint32_t in_flight,
                        uint32_t registered, uint32_t sec_now, int final);
/* type BENCH_WIRE_NOTE or BENCH_WIRE_FAIL; the text is cut at
 * BENCH_WIRE_TEXT_MAX octets and at its first newline. */
int bench_wire_put_text(bench_wire_writer *w, int type, const char *line);
int bench_wire_flush(bench_wire_writer *w);

/* Encode without a writer: one record into `out` (capacity cap).
 * Returns its length, or 0 when it does not fit. */
size_t bench_wire_encode_tick(uint8_t *out, size_t cap, uint32_t in_flight,
                              uint32_t registered, uint32_t sec_now, int final);
void bench_wire_encode_done(uint8_t out[BENCH_WIRE_DONE_LEN],
                            const bench_done *d);
void bench_wire_decode_done(const uint8_t in[BENCH_WIRE_DONE_LEN],
                            bench_done *d);

/* ------------------------------------------------------------- reader */

/* What a reader finds, one call per record (per operation for DONES). */
typedef struct bench_wire_handler {
  void *arg;
  void (*done)(void *arg, const bench_done *d);
  void (*tick)(void *arg, uint32_t in_flight, uint32_t registered,
               uint32_t sec_now, int final);
  void (*text)(void *arg, int type, const char *line);
} bench_wire_handler;

/* The runner's end of one pipe: bytes in as they come, records out. */
typedef struct bench_wire_reader {
  size_t len;
  uint8_t buf[BENCH_WIRE_HDR + BENCH_WIRE_PAYLOAD_MAX];
} bench_wire_reader;

void bench_wire_reader_init(bench_wire_reader *r);
/* Feed `len` octets; every complete record goes to `h`. Returns 0, or -1
 * when the stream is malformed (an unknown type, a bad length): the
 * process on the other end is not a generator, stop reading it. */
int bench_wire_feed(bench_wire_reader *r, const uint8_t *data, size_t len,
                    const bench_wire_handler *h);

/* -------------------------------------------------------------- merge */

/* SIP final statuses counted one by one (300..699). */
#define BENCH_STATUS_MIN 300
#define BENCH_STATUS_N 400

/*
 * Every process's operations merged into one run, second by second: a
 * second is closed (counted into the series) only once every process's
 * tick has passed it, so a slow pipe never splits a second or counts an
 * operation in a later one.
 */
typedef struct bench_merge {
  unsigned workers;
  uint32_t *watermark; /* per worker: every later done has sec >= this */
  uint32_t *in_flight; /* per worker, from its last tick */
  uint32_t *registered;
  bench_done *pending; /* not yet counted, any order */
  size_t npending, cap;
  uint32_t closed; /* seconds below this are counted */
  /* Seconds kept open behind the slowest worker's tick (0 by default):
   * an engine whose event times lag its tick's clock a little still has
   * every operation counted in its own second. */
  uint32_t lag;
  imsec_bench_stats *total;
  imsec_bench_stats *by[BENCH_SC_N];
  uint64_t status[BENCH_STATUS_N]; /* failures by SIP status */
  uint64_t dropped;                /* records that came too late */
} bench_merge;

/* 0, or -1 when out of memory (then bench_merge_free). */
int bench_merge_init(bench_merge *m, unsigned workers);
void bench_merge_free(bench_merge *m);
/* One operation from `worker`. 0, or -1 when out of memory. */
int bench_merge_done(bench_merge *m, unsigned worker, const bench_done *d);
/* A tick from `worker` (final: it ended; so do workers that died, with
 * final = 1 and sec_now 0). Counts every second all workers passed. */
int bench_merge_tick(bench_merge *m, unsigned worker, uint32_t in_flight,
                     uint32_t registered, uint32_t sec_now, int final);
/* Sums over the workers' last ticks. */
uint32_t bench_merge_in_flight(const bench_merge *m);
uint32_t bench_merge_registered(const bench_merge *m);
/* The run ended after `duration_sec` seconds: count what is pending and
 * close the series (every worker is taken as final). */
int bench_merge_finish(bench_merge *m, uint32_t duration_sec);

#endif
