/*
 * The daemons' logger (include/imsec/ops.h): one event, one line, as text
 * or as one JSON object (RFC 8259), written with one write(2) under a
 * mutex so that lines of the loop threads, the wait thread and the
 * control thread never interleave.
 *
 * Identities are pseudonymised by ops/log_redact.c with HMAC-SHA-256
 * (RFC 2104) under a key drawn once per process: the same IMPI gives the
 * same "id-..." in every line of a run, so an operator can follow a
 * subscriber through the logs, but the pseudonym cannot be turned back
 * into the identity nor matched across runs (the key never leaves the
 * process and is not logged).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/random.h>

#include "imsec/log_redact.h"
#include "imsec/ops.h"

/* Longer messages are cut (after pseudonymising, so a cut never splits an
 * identity left in clear). */
#define MSG_MAX 4096
#define LINE_MAX_ 8192

struct imsec_logger {
  imsec_log_format format;
  int identities;
  int fd;
  pthread_mutex_t mu;
};

/* The fallback of a NULL logger: text on stderr, identities hidden. */
static imsec_logger fallback = {IMSEC_LOG_FORMAT_TEXT, 0, 2,
                                PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------ the key */

static unsigned char pkey[32];
static pthread_once_t pkey_once = PTHREAD_ONCE_INIT;

static void pkey_wipe(void) {
  OPENSSL_cleanse(pkey, sizeof pkey);
}

static void pkey_init(void) {
  if (RAND_bytes(pkey, (int)sizeof pkey) != 1) {
    /* The kernel's generator directly when OpenSSL's cannot seed. */
    size_t got = 0;
    while (got < sizeof pkey) {
      ssize_t n = getrandom(pkey + got, sizeof pkey - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        abort(); /* no randomness at all: pseudonyms would be guessable */
      got += (size_t)n;
    }
  }
  atexit(pkey_wipe);
}

static void pseudonym_hmac(void *arg, const char *id, size_t len,
                           char out[IMSEC_PSEUDONYM_LEN + 1]) {
  (void)arg;
  static const char hex[] = "0123456789abcdef";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mlen = 0;
  pthread_once(&pkey_once, pkey_init);
  if (!HMAC(EVP_sha256(), pkey, (int)sizeof pkey, (const unsigned char *)id,
            len, mac, &mlen) ||
      mlen < 6) {
    /* Never the identity: a fixed mark when the MAC fails. */
    memcpy(out, "id-000000000000", IMSEC_PSEUDONYM_LEN + 1);
    return;
  }
  memcpy(out, "id-", 3);
  for (int k = 0; k < 6; k++) {
    out[3 + 2 * k] = hex[mac[k] >> 4];
    out[4 + 2 * k] = hex[mac[k] & 15];
  }
  out[IMSEC_PSEUDONYM_LEN] = 0;
  OPENSSL_cleanse(mac, sizeof mac);
}

/* ---------------------------------------------------------- the logger */

int imsec_log_format_parse(const char *s, imsec_log_format *out) {
  if (!s || !out)
    return IMSEC_ERR_PARSE;
  if (strcmp(s, "text") == 0) {
    *out = IMSEC_LOG_FORMAT_TEXT;
    return 0;
  }
  if (strcmp(s, "json") == 0) {
    *out = IMSEC_LOG_FORMAT_JSON;
    return 0;
  }
  return IMSEC_ERR_PARSE;
}

int imsec_logger_new(imsec_logger **out, const imsec_logger_config *cfg) {
  if (!out || !cfg || cfg->fd < 0 ||
      (cfg->format != IMSEC_LOG_FORMAT_TEXT &&
       cfg->format != IMSEC_LOG_FORMAT_JSON))
    return IMSEC_ERR_INVAL;
  imsec_logger *lg = calloc(1, sizeof *lg);
  if (!lg)
    return IMSEC_ERR_NOMEM;
  lg->format = cfg->format;
  lg->identities = cfg->identities ? 1 : 0;
  lg->fd = cfg->fd;
  if (pthread_mutex_init(&lg->mu, NULL) != 0) {
    free(lg);
    return IMSEC_ERR_NOMEM;
  }
  /* Draw the key now, not on a loop thread in the middle of traffic. */
  pthread_once(&pkey_once, pkey_init);
  *out = lg;
  return 0;
}

void imsec_logger_del(imsec_logger *lg) {
  if (!lg || lg == &fallback)
    return;
  pthread_mutex_destroy(&lg->mu);
  free(lg);
}

typedef struct line {
  char b[LINE_MAX_];
  size_t n;
} line;

static void add(line *l, const char *s, size_t len) {
  size_t room = sizeof l->b - 1 - l->n; /* one left for the newline */
  if (len > room)
    len = room;
  memcpy(l->b + l->n, s, len);
  l->n += len;
}

static void adds(line *l, const char *s) {
  add(l, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at s (RFC 3629 §4), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t need;
  unsigned lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf)
    need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0)
      lo = 0xa0;
    if (c == 0xed)
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0)
      lo = 0x90;
    if (c == 0xf4)
      hi = 0x8f;
  } else
    return 0;
  if (n < need + 1)
    return 0;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t k = 2; k <= need; k++)
    if (s[k] < 0x80 || s[k] > 0xbf)
      return 0;
  return need + 1;
}

/* s as text: control characters become a space (one event, one line),
 * bytes that are not UTF-8 a '?'. */
static void add_text(line *l, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    unsigned char c = u[i];
    if (c < 0x80) {
      char ch = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
      add(l, &ch, 1);
      i++;
      continue;
    }
    size_t k = utf8_len(u + i, len - i);
    if (k == 0) {
      add(l, "?", 1);
      i++;
    } else {
      add(l, s + i, k);
      i += k;
    }
  }
}

/* s as a JSON string (RFC 8259 §7), quotes included; bytes that are not
 * UTF-8 become U+FFFD so that every line parses. A string cut by the
 * line's end is still closed. */
static void add_json(line *l, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  add(l, "\"", 1);
  for (size_t i = 0; i < len;) {
    /* Room for the longest escape, the quote, "}" and the newline. */
    if (l->n + 12 >= sizeof l->b)
      break;
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      add(l, e, 2);
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      add(l, e, 6);
      i++;
    } else if (c < 0x80) {
      add(l, (const char *)&u[i], 1);
      i++;
    } else {
      size_t k = utf8_len(u + i, len - i);
      if (k == 0) {
        add(l, "\\ufffd", 6);
        i++;
      } else {
        add(l, s + i, k);
        i += k;
      }
    }
  }
  add(l, "\"", 1);
}

/* RFC 3339 §5.6 in UTC with milliseconds: 2026-12-05T20:14:14.123Z. */
static void add_time(line *l) {
  struct timespec ts;
  struct tm tm;
  char buf[40];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
  if (n > 0)
    add(l, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    buf += w;
    n -= (size_t)w;
  }
}

static void emit_event(imsec_logger *lg, const imsec_log_event *ev) {
  if (!lg)
    lg = &fallback;
  const char *text = ev->text ? ev->text : "";
  const char *elem = ev->elem && ev->elem[0] ? ev->elem : "imsec";
  const char *cid = ev->call_id && ev->call_id[0] ? ev->call_id : NULL;
  size_t tlen = strlen(text);
  char msg[MSG_MAX];
  size_t mlen;
  if (lg->identities) {
    mlen = tlen < sizeof msg ? tlen : sizeof msg - 1;
    memcpy(msg, text, mlen);
  } else {
    mlen = imsec_log_redact(text, tlen, cid, cid ? strlen(cid) : 0,
                            pseudonym_hmac, NULL, msg, sizeof msg);
    if (mlen >= sizeof msg)
      mlen = sizeof msg - 1;
  }
  line *l = malloc(sizeof *l);
  if (!l)
    return;
  l->n = 0;
  char num[32];
  if (lg->format == IMSEC_LOG_FORMAT_JSON) {
    adds(l, "{\"time\":\"");
    add_time(l);
    adds(l, "\",\"level\":\"");
    adds(l, imsec_log_level_name(ev->level));
    adds(l, "\",\"elem\":");
    add_json(l, elem, strlen(elem));
    if (ev->flow) {
      snprintf(num, sizeof num, ",\"flow\":%llu", (unsigned long long)ev->flow);
      adds(l, num);
    }
    if (cid) {
      adds(l, ",\"call_id\":");
      add_json(l, cid, strlen(cid));
    }
    adds(l, ",\"msg\":");
    add_json(l, msg, mlen);
    adds(l, "}"); /* add_json left room for it */
  } else {
    /* "NAME LEVEL: text", the daemons' format before this logger, after
     * the time; the event's context trails so the text reads as before. */
    add_time(l);
    adds(l, " ");
    add_text(l, elem, strlen(elem));
    adds(l, " ");
    adds(l, imsec_log_level_name(ev->level));
    adds(l, ": ");
    add_text(l, msg, mlen);
    if (ev->flow || cid) {
      adds(l, " [");
      if (ev->flow) {
        snprintf(num, sizeof num, "flow=%llu", (unsigned long long)ev->flow);
        adds(l, num);
      }
      if (cid) {
        adds(l, ev->flow ? " call-id=" : "call-id=");
        add_text(l, cid, strlen(cid));
      }
      adds(l, "]");
    }
  }
  l->b[l->n++] = '\n';
  pthread_mutex_lock(&lg->mu);
  write_all(lg->fd, l->b, l->n);
  pthread_mutex_unlock(&lg->mu);
  free(l);
}

void imsec_logger_event(void *lg, const imsec_log_event *ev) {
  if (ev)
    emit_event(lg, ev);
}

void imsec_logger_printf(imsec_logger *lg, const char *elem,
                         imsec_log_level level, const char *fmt, ...) {
  char small[MSG_MAX];
  char *text = small;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof small) {
    /* Formatted whole before pseudonymising: text cut first could end in
     * "sip:user" without its "@host" and pass for a host URI. */
    text = malloc((size_t)n + 1);
    if (!text)
      return;
    va_start(ap, fmt);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  imsec_log_event ev = {
      .elem = elem, .level = level, .text = text, .flow = 0, .call_id = NULL};
  emit_event(lg, &ev);
  if (text != small)
    free(text);
}
