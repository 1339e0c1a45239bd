/*
 * netconsole-recv: the native receive path of `lantern netconsole listen`.
 *
 * One pthread per receiver drains its UDP sockets with recvmmsg() and hands the datagrams to
 * JavaScript in batches: one threadsafe-function call per batch instead of one callback, Buffer
 * and rinfo object per datagram. Draining never waits for JavaScript; only when more than
 * maxQueuedBytes of batches are waiting for JS does the thread stop reading (the kernel's
 * socket buffer then holds the rest). On the JS thread (call_js) a batch is copied once into an
 * ArrayBuffer (reused when JS gives it back with ack()), preformatting on the way.
 *
 * Batch buffer layout handed to JS (little endian), `count` entries of ENTRY bytes, then payloads:
 *    0 u32 payload offset (from the start of the payload area)   4 u32 stored length
 *    8 u32 length on the wire (> stored length: truncated)      12 u8 family (4 or 6)  13 u8 flags
 *   14 u16 sender port                                          16 u8[16] sender address (v4 in the first 4)
 *   32 f64 receive time, µs since the epoch (when the receive thread read it, see take_messages)
 *   40 u32 preformatted offset (payload area)                   44 u32 preformatted length
 *   48 u8 preformat kind (0 none, 1 plain legacy lines, 2 plain extended record)
 *   49 i8 the time zone's offset from UTC in quarter hours the texts were written with (0: UTC)
 *   50 u16 lines in the preformatted bytes                      52 u32 run length (see below)
 *   56 f64 extended sequence number                             64 f64 extended boot time (µs)
 *   72 u32 lines in the run                                     76 u32 raw payload bytes of the run
 * The payload area holds the raw payloads, then the preformatted texts. A run is a series of
 * consecutive preformatted datagrams of one sender, of one kind and one UTC day, whose extended
 * sequence numbers follow each other (seq + 1, boot time not going back): their texts are
 * contiguous, and the first entry carries the run's length (others 0) and totals, so the
 * common case of a burst costs JavaScript one step and one copy per run instead of per line.
 *
 * Preformatting (optional, `preformat: 1` text, `2` udplogger, `3` JSON; `localTime: 1` for local time
 * stamps, whose offset each entry carries so that JavaScript can check it against its own clock): the
 * output format of `lantern netconsole listen` for
 * the common case, done here because it is a pure function of the datagram, its sender and its
 * receive time: a legacy datagram of whole printable lines, or an extended record of one printable line
 * without release prefix, fragments or dictionary. Everything that needs a sender's state (a
 * partial line waiting, sequence gaps) stays in JavaScript, which decides per datagram whether to
 * use these bytes (src/netconsole/pipeline.ts) and otherwise decodes the raw payload as usual.
 * The rules mirror src/netconsole/extended.ts and format.ts; a property test pins them together.
 */
#include <stdbool.h>
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define ENTRY 80
#define POOL_MAX 4
#define MAX_BATCH_ENTRIES 16384
#define MAX_FDS 64
#define FLAG_TRUNCATED 1

typedef struct batch {
  uint32_t count;
  uint32_t max_entries;
  uint32_t payload_used;
  uint32_t payload_cap;
  uint8_t *entries;  /* max_entries * ENTRY */
  uint8_t *payload;  /* payload_cap: raw payloads */
  int64_t first_ms;  /* monotonic time of its first datagram */
  struct batch *next; /* free list */
} batch_t;

/* Per-second formatting cache of the preformatting (UTC, or local time with --time local). */
typedef struct clock_cache {
  int64_t sec;
  char iso[32];   /* `YYYY-MM-DDTHH:MM:SS.` */
  size_t len;
  char plain[32]; /* udplogger's `YYYY-MM-DD HH:MM:SS` */
  size_t plain_len;
  char zone[8];   /* `Z`, or the local offset `+01:00` (also `+00:00`) */
  size_t zone_len;
  int quarters;   /* the offset from UTC in quarter hours (entry byte 49) */
  int ok;         /* the offset is whole quarter hours (else JavaScript formats these lines) */
  int64_t day;    /* days since the epoch in that zone (a run stays in one) */
} clock_cache_t;

typedef struct pf_scan {
  int kind;
  uint32_t lines;
  uint64_t prefix, seq, ts;
  uint8_t flag;
  size_t text_start, text_end; /* the record's text */
  size_t printable;            /* legacy: leading bytes classify() found printable */
  size_t size;                 /* bytes the formatted lines take */
} pf_scan_t;

typedef struct receiver {
  int fds[MAX_FDS];
  int nfds;
  int wake[2]; /* pipe: a byte written wakes the thread to stop */
  unsigned vlen;         /* datagrams per recvmmsg() */
  size_t slot_bytes;     /* room per datagram in the receive arena */
  size_t batch_bytes;    /* payload bytes per batch handed to JS */
  size_t max_queued;     /* batch bytes waiting for JS before reading pauses */
  uint8_t *arena;        /* vlen * slot_bytes, mmap'd: only touched pages become resident */
  struct mmsghdr *msgs;
  struct iovec *iovs;
  struct sockaddr_storage *addrs;
  pthread_t thread;
  int thread_started;
  int joined;
  int refs;               /* the JS handle and the threadsafe function: freed when both are gone */
  pthread_mutex_t lock;
  pthread_cond_t room;
  size_t queued;         /* bytes of batches not yet acknowledged by JS */
  int stopping;
  uint64_t waits;        /* times the thread waited for JS (queue full) */
  batch_t *free_batches;  /* emptied batches for reuse (under lock) */
  int free_count;
  uint64_t lost_batches;  /* batches lost to a failed allocation (reported by stats()) */
  int preformat;          /* 0 none, else the format (PF_TEXT, PF_UDPLOGGER, PF_JSON; see the top of this file) */
  int local_time;         /* 1: local time stamps and days (--time local), else UTC */
  clock_cache_t clock;
  /* JS thread only (call_js): the preformatting's sender label cache and per-entry scans. */
  uint8_t label_entry[ENTRY]; /* whose label `label` is */
  char label[64];
  size_t label_len;       /* 0: none yet */
  size_t addr_off, addr_len, port_off; /* the address and the port inside label (JSON writes them) */
  pf_scan_t *scans;       /* MAX_BATCH_ENTRIES */
  /* JS thread only: ArrayBuffers JS handed back with ack(), reused for the next batches so a
     burst does not churn multi-megabyte allocations (and the heap does not grow with them). */
  napi_ref pool[POOL_MAX];
  int pool_count;
  int ended;              /* the end marker went to JS: nothing more is pooled */
  napi_threadsafe_function tsfn;
  napi_env env;
} receiver_t;

#define HOLD_MS 5
#define NAP_US 1000

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e6 + (double)(ts.tv_nsec / 1000);
}

static batch_t *batch_new(receiver_t *r) {
  batch_t *b = malloc(sizeof(batch_t));
  if (!b) return NULL;
  b->count = 0;
  b->payload_used = 0;
  b->payload_cap = (uint32_t)r->batch_bytes;
  b->next = NULL;
  /* Every datagram needs at least 0 payload bytes: bound entries separately. */
  b->max_entries = MAX_BATCH_ENTRIES;
  b->entries = malloc((size_t)b->max_entries * ENTRY);
  b->payload = malloc(b->payload_cap);
  if (!b->entries || !b->payload) {
    free(b->entries);
    free(b->payload);
    free(b);
    return NULL;
  }
  return b;
}

static void batch_free(batch_t *b) {
  if (!b) return;
  free(b->entries);
  free(b->payload);
  free(b);
}

static size_t batch_size(const batch_t *b) { return (size_t)b->count * ENTRY + b->payload_used; }

/* What a batch is charged against maxQueuedBytes while it waits: what JavaScript will hold for
   it. With preformatting the texts are not made yet: charged as twice the payloads plus a head
   per datagram (a fair upper bound for log lines); call_js() settles the difference. */
static size_t batch_charge(const receiver_t *r, const batch_t *b) {
  size_t size = batch_size(b);
  return r->preformat ? size + 2 * (size_t)b->payload_used + (size_t)b->count * 96 : size;
}

static void batch_clear(batch_t *b) {
  b->count = 0;
  b->payload_used = 0;
}

/* An empty batch: a recycled one when JS has handed one back, else a new one. */
static batch_t *batch_get(receiver_t *r) {
  pthread_mutex_lock(&r->lock);
  batch_t *b = r->free_batches;
  if (b) {
    r->free_batches = b->next;
    r->free_count--;
  }
  pthread_mutex_unlock(&r->lock);
  if (b) {
    batch_clear(b);
    b->next = NULL;
    return b;
  }
  return batch_new(r);
}

/* Back to the free list (a few are kept: enough to cycle without malloc while a burst lasts). */
static void batch_put(receiver_t *r, batch_t *b) {
  pthread_mutex_lock(&r->lock);
  if (r->free_count < 4) {
    b->next = r->free_batches;
    r->free_batches = b;
    r->free_count++;
    b = NULL;
  }
  pthread_mutex_unlock(&r->lock);
  batch_free(b);
}

/* Hand the batch itself to JS (the JS thread copies it once into a Buffer and recycles it) and
   return an empty one to go on with; waits while too much is queued (unless stopping).
   b NULL = end marker (returns NULL). When no new batch can be had, the full one is emptied
   and reused: its datagrams are lost (out of memory: nothing else to do). */
static batch_t *emit(receiver_t *r, batch_t *b) {
  size_t size = b ? batch_charge(r, b) : 0;
  batch_t *next = NULL;
  if (b) {
    next = batch_get(r);
    if (!next) {
      batch_clear(b);
      pthread_mutex_lock(&r->lock);
      r->lost_batches++;
      pthread_mutex_unlock(&r->lock);
      return b;
    }
  }
  pthread_mutex_lock(&r->lock);
  if (b && r->queued + size > r->max_queued && r->queued > 0) r->waits++;
  while (b && !r->stopping && r->queued > 0 && r->queued + size > r->max_queued) pthread_cond_wait(&r->room, &r->lock);
  r->queued += size;
  pthread_mutex_unlock(&r->lock);
  if (napi_call_threadsafe_function(r->tsfn, b, napi_tsfn_blocking) != napi_ok && b) batch_free(b);
  return next;
}


/* ---- preformatting: mirrors src/netconsole/extended.ts (classification) and format.ts (text) ---- */

#define PF_NONE 0
#define PF_LINES 1
#define PF_RECORD 2
#define MAX_SAFE 9007199254740991ULL
/* The output formats preformatting writes (start()'s `preformat`). */
#define PF_TEXT 1
#define PF_UDPLOGGER 2
#define PF_JSON 3
/* Most bytes put_time() writes (its cached prefix is cut at 31, then 6 digits, `+hh:mm `). */
#define TIME_MAX 46
/* JSON: most bytes around a line's text besides the time and twice the label (address, sender). */
#define JSON_LINE_MAX 104
#define JSON_RECORD_MAX 256
/* Boot times from here on go to JavaScript (its floor(ts / 1e6) is exact far beyond this). */
#define MAX_PF_TS 1000000000000000ULL


static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int all_digits(const uint8_t *b, size_t s, size_t e) {
  if (s >= e) return 0;
  for (size_t i = s; i < e; i++)
    if (!is_digit(b[i])) return 0;
  return 1;
}

/* Unsigned decimal in [s, e); -1 when empty, not digits, longer than 16 or beyond 2^53 - 1. */
static int64_t parse_uint(const uint8_t *b, size_t s, size_t e) {
  if (s >= e || e - s > 16) return -1;
  uint64_t v = 0;
  for (size_t i = s; i < e; i++) {
    if (!is_digit(b[i])) return -1;
    v = v * 10 + (uint64_t)(b[i] - '0');
  }
  return v <= MAX_SAFE ? (int64_t)v : -1;
}

/* Bytes that safeText()/kernelText() would keep unchanged: printable ASCII and tab
   (and, for an extended record, no backslash: kernelText() decodes \xNN escapes). */
static int plain_byte(uint8_t c, int no_backslash) {
  return c < 0x20 ? c == 0x09 : c < 0x7f && !(no_backslash && c == 0x5c);
}

/* What parseExtended() says of a datagram, for the cases preformatting takes: 1 and the header
   fields when it is an extended record without release prefix and fragments, 0 when it is
   legacy text, -1 for anything else (malformed, release prefix, ncfrag: JavaScript decides). */
static int classify(const uint8_t *b, size_t n, pf_scan_t *pf) {
  size_t limit = n < 256 ? n : 256;
  pf->printable = 0;
  size_t semi = (size_t)-1;
  for (size_t i = 0; i < limit; i++) {
    uint8_t c = b[i];
    if (c == ';') {
      semi = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) {
      pf->printable = i; /* legacy; its first i bytes are printable */
      return 0;
    }
  }
  if (semi == (size_t)-1) {
    pf->printable = limit;
    return 0;
  }
  size_t starts[257];
  size_t nf = 1;
  starts[0] = 0;
  for (size_t i = 0; i < semi; i++)
    if (b[i] == ',') starts[nf++] = i + 1;
#define FEND(k) ((k) + 1 < nf ? starts[(k) + 1] - 1 : semi)
  if (nf < 4) return 0;
  size_t k = 0;
  if (!all_digits(b, starts[0], FEND(0))) {
    if (nf < 5 || !all_digits(b, starts[1], FEND(1)) || FEND(1) - starts[1] > 3) return 0;
    size_t rl = FEND(0);
    if (rl == 0 || rl > 64 || memchr(b, ' ', rl)) return 0;
    return -1; /* a release prefix: JavaScript tracks it */
  }
  size_t ps = starts[k], pe = FEND(k);
  if (pe - ps > 3) return 0;
  int64_t prefix = parse_uint(b, ps, pe);
  if (prefix < 0) return 0;
  if (nf < k + 4 || prefix > 255) return -1;
  int64_t seq = parse_uint(b, starts[k + 1], FEND(k + 1));
  int64_t ts = parse_uint(b, starts[k + 2], FEND(k + 2));
  if (seq < 0 || ts < 0 || FEND(k + 3) - starts[k + 3] != 1) return -1;
  for (size_t j = k + 4; j < nf; j++) {
    size_t s = starts[j], e = FEND(j);
    if (e - s > 7 && memcmp(b + s, "ncfrag=", 7) == 0) return -1;
  }
#undef FEND
  pf->prefix = (uint64_t)prefix;
  pf->seq = (uint64_t)seq;
  pf->ts = (uint64_t)ts;
  pf->flag = b[starts[k + 3]];
  pf->text_start = semi + 1;
  return 1;
}

static size_t uint_digits(uint64_t v) {
  size_t d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

/* Decides whether a datagram is preformatted and how many bytes that takes (label_len: the
   sender label's length). Sets pf->kind to PF_NONE when JavaScript must decode it. */
/* Bytes JSON escapes in plain text (`"`, `\`, tab: each takes one byte more). */
static size_t json_escapes(const uint8_t *b, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += b[i] == '"' || b[i] == '\\' || b[i] == '\t';
  return k;
}

static void pf_scan(const uint8_t *b, size_t n, size_t label_len, int format, pf_scan_t *pf) {
  pf->kind = PF_NONE;
  if (n == 0) return;
  /* receive time `YYYY-MM-DDTHH:MM:SS.uuuuuuZ ` + label + ` ` (text, udplogger), or a JSON object's
     fields around the text, whose escaped bytes (`\"`, `\\`, `\t`) take one more each */
  size_t head = format == PF_JSON ? TIME_MAX + JSON_LINE_MAX + 2 * label_len : TIME_MAX + label_len + 1;
  int c = classify(b, n, pf);
  if (c == 0) {
    if (b[n - 1] != '\n') return; /* ends in a partial line: the sender's state decides */
    uint32_t lines = 0;
    for (size_t i = pf->printable; i < n; i++) { /* (classify() saw the first bytes) */
      if (b[i] == '\n') lines++;
      else if (!plain_byte(b[i], 0)) return;
    }
    if (lines > 65535) return;
    pf->kind = PF_LINES;
    pf->lines = lines;
    pf->size = n + (format == PF_JSON ? json_escapes(b, n) : 0) + (size_t)lines * head;
    return;
  }
  if (c < 0 || pf->ts >= MAX_PF_TS) return;
  size_t s = pf->text_start, e = n;
  const uint8_t *nl = memchr(b + s, '\n', n - s);
  if (nl) {
    if ((size_t)(nl - b) != n - 1) return; /* dictionary lines follow */
    e = n - 1;
  }
  for (size_t i = s; i < e; i++)
    if (!plain_byte(b[i], 1)) return;
  pf->kind = PF_RECORD;
  pf->lines = 1;
  pf->text_end = e;
  /* `<255>#` seq flag ` [` %5u `.` 6 digits `] `; udplogger's `255,seq,ts,flag;` is shorter; JSON's fields at most JSON_RECORD_MAX */
  if (format == PF_JSON) pf->size = TIME_MAX + JSON_RECORD_MAX + 2 * label_len + (e - s) + json_escapes(b + s, e - s);
  else pf->size = head + 6 + uint_digits(pf->seq) + (pf->flag != '-') + 2 + 5 + uint_digits(pf->ts / 1000000) + 1 + 6 + 2 + (e - s) + 1;
}

static char *put_uint(char *p, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}

static char *put_six(char *p, uint32_t v) {
  for (int i = 5; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + 6;
}

/* The clock cache at the second of time_us: UTC or local time as JavaScript's Clock writes it
   (format.ts): `YYYY-MM-DDTHH:MM:SS.`, `YYYY-MM-DD HH:MM:SS`, and the zone `Z` / `+hh:mm`. */
static void clock_at(receiver_t *r, int64_t time_us) {
  int64_t sec = time_us / 1000000;
  if (sec == r->clock.sec) return;
  time_t t = (time_t)sec;
  struct tm tm;
  long off = 0;
  r->clock.ok = 1;
  if (r->local_time) {
    if (!localtime_r(&t, &tm)) {
      memset(&tm, 0, sizeof tm);
      r->clock.ok = 0;
    }
    off = tm.tm_gmtoff;
    /* Offsets in whole quarter hours only (every zone in use today): one signed byte carries them. */
    if (off % 900 != 0 || off > 18 * 3600 || off < -18 * 3600) r->clock.ok = 0;
    long a = off < 0 ? -off / 60 : off / 60;
    snprintf(r->clock.zone, sizeof r->clock.zone, "%c%02ld:%02ld", off >= 0 ? '+' : '-', (a / 60) % 100, a % 60);
    r->clock.zone_len = 6;
  } else {
    gmtime_r(&t, &tm);
    r->clock.zone[0] = 'Z';
    r->clock.zone_len = 1;
  }
  r->clock.quarters = (int)(off / 900);
  r->clock.day = (sec + off) >= 0 ? (sec + off) / 86400 : -1;
  int len = snprintf(r->clock.iso, sizeof r->clock.iso, "%d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  r->clock.len = len > 0 && (size_t)len < sizeof r->clock.iso ? (size_t)len : 0;
  len = snprintf(r->clock.plain, sizeof r->clock.plain, "%d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  r->clock.plain_len = len > 0 && (size_t)len < sizeof r->clock.plain ? (size_t)len : 0;
  if (!r->clock.len || !r->clock.plain_len) r->clock.ok = 0;
  r->clock.sec = sec;
}

/* `YYYY-MM-DDTHH:MM:SS.uuuuuu` + zone for a receive time (µs since the epoch); clock_at() was called. */
static char *put_iso(receiver_t *r, char *p, int64_t time_us) {
  memcpy(p, r->clock.iso, r->clock.len);
  p += r->clock.len;
  p = put_six(p, (uint32_t)(time_us % 1000000));
  memcpy(p, r->clock.zone, r->clock.zone_len);
  return p + r->clock.zone_len;
}

static char *put_bytes(char *p, const void *b, size_t n) {
  memcpy(p, b, n);
  return p + n;
}

#define PUT_LIT(p, s) put_bytes((p), (s), sizeof(s) - 1)

/* Bytes of plain text (printable ASCII and tab: pf_scan() checked) as a JSON string's inside. */
static char *put_json_text(char *p, const uint8_t *b, size_t n) {
  size_t i = 0;
  while (i < n) {
    /* the bytes up to the next one JSON escapes, in one copy (most lines have none) */
    size_t j = i;
    while (j < n && b[j] != '"' && b[j] != '\\' && b[j] != '\t') j++;
    memcpy(p, b + i, j - i);
    p += j - i;
    if (j == n) break;
    *p++ = '\\';
    *p++ = b[j] == '\t' ? 't' : (char)b[j];
    i = j + 1;
  }
  return p;
}

/* Everything of a line before its text: text `<time> <label> `, udplogger `<plain time> <label> `,
   JSON `{"time":"…","sender":"…","address":"…","port":N,"type":"line"|"record"` (the rest
   is the caller's). clock_at() was called. */
static char *put_head(receiver_t *r, char *p, int64_t time_us, const char *label, size_t label_len, int record) {
  if (r->preformat == PF_JSON) {
    p = PUT_LIT(p, "{\"time\":\"");
    p = put_iso(r, p, time_us);
    p = PUT_LIT(p, "\",\"sender\":\"");
    p = put_bytes(p, label, label_len);
    p = PUT_LIT(p, "\",\"address\":\"");
    p = put_bytes(p, label + r->addr_off, r->addr_len);
    p = PUT_LIT(p, "\",\"port\":");
    p = put_bytes(p, label + r->port_off, label_len - r->port_off);
    return record ? PUT_LIT(p, ",\"type\":\"record\"") : PUT_LIT(p, ",\"type\":\"line\"");
  }
  if (r->preformat == PF_UDPLOGGER) p = put_bytes(p, r->clock.plain, r->clock.plain_len);
  else p = put_iso(r, p, time_us);
  *p++ = ' ';
  p = put_bytes(p, label, label_len);
  *p++ = ' ';
  return p;
}

/* `a.b.c.d:port` by hand (the hot path: snprintf costs more than the rest of a line). */
static size_t v4_label(const uint8_t *a, uint16_t port, char *buf) {
  char *p = buf;
  for (int i = 0; i < 4; i++) {
    p = put_uint(p, a[i]);
    *p++ = i < 3 ? '.' : ':';
  }
  p = put_uint(p, port);
  return (size_t)(p - buf);
}

/* Sender label as the JavaScript side writes it, from a batch entry's family (4|6), address
   bytes and port: `1.2.3.4:6665` (also for IPv4-mapped IPv6 senders) or `[2001:db8::1]:6665`.
   Returns its length (buf has 64 bytes), 0 for an unknown family. */
static size_t addr_label(int family, const uint8_t *a, uint16_t port, char *buf) {
  if (family == 4) return v4_label(a, port, buf);
  if (family != 6) return 0;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(a, mapped, 12) == 0) return v4_label(a + 12, port, buf);
  char addr[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a, addr, sizeof addr);
  return (size_t)snprintf(buf, 64, "[%s]:%u", addr, port);
}

/* Where the address and the port sit in a label (`1.2.3.4:6665`, `[2001:db8::1]:6665`), for JSON. */
static void label_parts(receiver_t *r, const char *label, size_t len) {
  size_t colon = len;
  while (colon > 0 && label[colon - 1] != ':') colon--;
  /* colon: just after the last ':' (the port's first digit) */
  r->port_off = colon;
  if (len && label[0] == '[') {
    r->addr_off = 1;
    r->addr_len = colon >= 3 ? colon - 3 : 0;
  } else {
    r->addr_off = 0;
    r->addr_len = colon ? colon - 1 : 0;
  }
}

/* Writes the formatted lines of a scanned datagram at out; returns the bytes written, or
   (size_t)-1 when they would not fit before out_end (cannot happen when the scan is right:
   a guard, so that a mistake costs the fast path and never memory). */
static size_t pf_write(receiver_t *r, const pf_scan_t *pf, const uint8_t *b, size_t n, const char *label, size_t label_len, int64_t time_us, uint8_t *out, const uint8_t *out_end) {
  char *p = (char *)out;
  clock_at(r, time_us);
  if (!r->clock.ok) return (size_t)-1;
  int json = r->preformat == PF_JSON;
  if (pf->kind == PF_LINES) {
    size_t head = json ? TIME_MAX + JSON_LINE_MAX + 2 * label_len : TIME_MAX + label_len + 1;
    size_t pos = 0;
    while (pos < n) {
      const uint8_t *nl = memchr(b + pos, '\n', n - pos);
      if (!nl) return (size_t)-1;
      size_t end = (size_t)(nl - b);
      if ((size_t)((const char *)out_end - p) < head + (end - pos) + (json ? json_escapes(b + pos, end - pos) : 0) + 1) return (size_t)-1;
      p = put_head(r, p, time_us, label, label_len, 0);
      if (json) {
        p = PUT_LIT(p, ",\"partial\":null,\"malformed\":null,\"text\":\"");
        p = put_json_text(p, b + pos, end - pos);
        p = PUT_LIT(p, "\"}");
      } else p = put_bytes(p, b + pos, end - pos);
      *p++ = '\n';
      pos = end + 1;
    }
  } else {
    if ((size_t)((const char *)out_end - p) < pf->size) return (size_t)-1;
    p = put_head(r, p, time_us, label, label_len, 1);
    const uint8_t *text = b + pf->text_start;
    size_t text_len = pf->text_end - pf->text_start;
    if (json) {
      /* {…,"type":"record","release":null,"facility":F,"level":L,"seq":S,"ts_usec":T,"flag":"-","incomplete":null,"text":"…","dict":[]} */
      p = PUT_LIT(p, ",\"release\":null,\"facility\":");
      p = put_uint(p, pf->prefix >> 3);
      p = PUT_LIT(p, ",\"level\":");
      p = put_uint(p, pf->prefix & 7);
      p = PUT_LIT(p, ",\"seq\":");
      p = put_uint(p, pf->seq);
      p = PUT_LIT(p, ",\"ts_usec\":");
      p = put_uint(p, pf->ts);
      p = PUT_LIT(p, ",\"flag\":\"");
      p = put_json_text(p, &pf->flag, 1);
      p = PUT_LIT(p, "\",\"incomplete\":null,\"text\":\"");
      p = put_json_text(p, text, text_len);
      p = PUT_LIT(p, "\",\"dict\":[]}");
    } else if (r->preformat == PF_UDPLOGGER) {
      /* the kernel's header as udplogger keeps it: prefix,seq,ts,flag; */
      p = put_uint(p, pf->prefix);
      *p++ = ',';
      p = put_uint(p, pf->seq);
      *p++ = ',';
      p = put_uint(p, pf->ts);
      *p++ = ',';
      *p++ = (char)pf->flag;
      *p++ = ';';
      p = put_bytes(p, text, text_len);
    } else {
      *p++ = '<';
      p = put_uint(p, pf->prefix);
      *p++ = '>';
      *p++ = '#';
      p = put_uint(p, pf->seq);
      if (pf->flag != '-') *p++ = (char)pf->flag;
      *p++ = ' ';
      *p++ = '[';
      uint64_t ks = pf->ts / 1000000;
      for (size_t d = uint_digits(ks); d < 5; d++) *p++ = ' ';
      p = put_uint(p, ks);
      *p++ = '.';
      p = put_six(p, (uint32_t)(pf->ts % 1000000));
      *p++ = ']';
      *p++ = ' ';
      p = put_bytes(p, text, text_len);
    }
    *p++ = '\n';
  }
  return (size_t)(p - (char *)out);
}

/* Append the datagrams of one recvmmsg() to the batch, emitting full batches. Returns the
   working batch (a new one after an emit). Nothing here looks into the payloads.
   Receive time: the clock when recvmmsg() returned, one reading for its datagrams. Kernel
   timestamps (SO_TIMESTAMPNS) cost a control message per datagram, about a fifth of the
   kernel's whole receive cost here; read time is within the receive thread's nap (1 ms) of
   arrival, later only while a backlog in the socket buffer is worked off. */
static batch_t *take_messages(receiver_t *r, int n, batch_t *b) {
  double t = now_us();
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &r->msgs[i].msg_hdr;
    uint32_t wire = r->msgs[i].msg_len; /* with MSG_TRUNC: the real length */
    uint32_t stored = wire > r->slot_bytes ? (uint32_t)r->slot_bytes : wire;
    if (b->count >= b->max_entries || b->payload_used + stored > b->payload_cap) b = emit(r, b);
    if (b->count == 0) b->first_ms = mono_ms();
    uint8_t *e = b->entries + (size_t)b->count * ENTRY;
    memset(e, 0, ENTRY);
    uint32_t off = b->payload_used;
    memcpy(e, &off, 4);
    memcpy(e + 4, &stored, 4);
    memcpy(e + 8, &wire, 4);
    struct sockaddr_storage *sa = &r->addrs[i];
    uint16_t port = 0;
    if (sa->ss_family == AF_INET) {
      struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
      e[12] = 4;
      port = ntohs(s4->sin_port);
      memcpy(e + 16, &s4->sin_addr, 4);
    } else if (sa->ss_family == AF_INET6) {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
      e[12] = 6;
      port = ntohs(s6->sin6_port);
      memcpy(e + 16, &s6->sin6_addr, 16);
    }
    e[13] = (wire > stored || (h->msg_flags & MSG_TRUNC)) ? FLAG_TRUNCATED : 0;
    memcpy(e + 14, &port, 2);
    memcpy(e + 32, &t, 8);
    memcpy(b->payload + off, r->arena + (size_t)i * r->slot_bytes, stored);
    b->payload_used += stored;
    b->count++;
  }
  return b;
}

/* The sender of an entry: family, port and address bytes (12, 14..31; byte 13 is flags). */
static int same_entry_sender(const uint8_t *a, const uint8_t *b) { return a[12] == b[12] && memcmp(a + 14, b + 14, 18) == 0; }

/* Label of an entry's sender, cached while the sender stays the same (runs). 0: none. */
static size_t entry_label(receiver_t *r, const uint8_t *e) {
  if (r->label_len && same_entry_sender(e, r->label_entry)) return r->label_len;
  uint16_t port;
  memcpy(&port, e + 14, 2);
  r->label_len = addr_label(e[12], e + 16, port, r->label);
  if (r->label_len >= 64) r->label_len = 0;
  label_parts(r, r->label, r->label_len);
  memcpy(r->label_entry, e, ENTRY);
  return r->label_len;
}

/* Bytes the preformatted texts of a batch take (and each entry's scan in r->scans). Runs on
   the JS thread, which copies the batch anyway: the receive thread only reads sockets. */
static size_t preformat_size(receiver_t *r, const batch_t *b) {
  size_t total = 0;
  for (uint32_t i = 0; i < b->count; i++) {
    const uint8_t *e = b->entries + (size_t)i * ENTRY;
    pf_scan_t *pf = &r->scans[i];
    pf->kind = PF_NONE;
    if (e[13] & FLAG_TRUNCATED) continue;
    size_t label_len = entry_label(r, e);
    if (!label_len) continue;
    uint32_t off, len;
    memcpy(&off, e, 4);
    memcpy(&len, e + 4, 4);
    pf_scan(b->payload + off, len, label_len, r->preformat, pf);
    if (pf->kind != PF_NONE) total += pf->size;
  }
  return total;
}

/* Write the texts scanned by preformat_size() at `text` (offsets from `text_base` in the payload
   area as JS sees it) and fill the entries at `entries` (JS's copy), runs included. */
static void preformat_write(receiver_t *r, const batch_t *b, uint8_t *entries, uint8_t *text, size_t text_room, uint32_t text_base) {
  uint32_t used = 0;
  int64_t run_first = -1;
  int run_kind = 0;
  int64_t run_day = 0;
  uint64_t run_seq = 0, run_ts = 0;
  for (uint32_t i = 0; i < b->count; i++) {
    uint8_t *e = entries + (size_t)i * ENTRY;
    const pf_scan_t *pf = &r->scans[i];
    if (pf->kind == PF_NONE) {
      run_first = -1; /* a datagram JavaScript decodes ends the run */
      continue;
    }
    size_t label_len = entry_label(r, e);
    uint32_t off, len;
    memcpy(&off, e, 4);
    memcpy(&len, e + 4, 4);
    double t;
    memcpy(&t, e + 32, 8);
    int64_t time_us = (int64_t)t;
    size_t written = pf_write(r, pf, b->payload + off, len, r->label, label_len, time_us, text + used, text + text_room);
    if (written == (size_t)-1) {
      run_first = -1; /* left to JavaScript */
      continue;
    }
    uint32_t flen = (uint32_t)written;
    uint32_t foff = text_base + used;
    uint16_t lines = (uint16_t)pf->lines;
    memcpy(e + 40, &foff, 4);
    memcpy(e + 44, &flen, 4);
    e[48] = (uint8_t)pf->kind;
    e[49] = (uint8_t)(int8_t)r->clock.quarters; /* pf_write() left the clock at time_us */
    memcpy(e + 50, &lines, 2);
    if (pf->kind == PF_RECORD) {
      double seq = (double)pf->seq, ts = (double)pf->ts;
      memcpy(e + 56, &seq, 8);
      memcpy(e + 64, &ts, 8);
    }
    used += flen;
    int64_t day = r->clock.day; /* in the zone of the stamps: a run stays in one file of one day */
    uint8_t *first = run_first >= 0 ? entries + (size_t)run_first * ENTRY : NULL;
    int goes_on = first && run_kind == pf->kind && run_day == day && first[49] == e[49] && same_entry_sender(e, first) && (pf->kind == PF_LINES || (pf->seq == run_seq + 1 && pf->ts >= run_ts));
    if (goes_on) {
      uint32_t count, total_lines, raw;
      memcpy(&count, first + 52, 4);
      memcpy(&total_lines, first + 72, 4);
      memcpy(&raw, first + 76, 4);
      count++;
      total_lines += pf->lines;
      raw += len;
      memcpy(first + 52, &count, 4);
      memcpy(first + 72, &total_lines, 4);
      memcpy(first + 76, &raw, 4);
    } else {
      uint32_t one = 1, rlines = pf->lines;
      run_first = i;
      run_kind = pf->kind;
      run_day = day;
      memcpy(e + 52, &one, 4);
      memcpy(e + 72, &rlines, 4);
      memcpy(e + 76, &len, 4);
    }
    run_seq = pf->seq;
    run_ts = pf->ts;
  }
}

static void reset_headers(receiver_t *r) {
  for (unsigned i = 0; i < r->vlen; i++) {
    struct msghdr *h = &r->msgs[i].msg_hdr;
    r->iovs[i].iov_base = r->arena + (size_t)i * r->slot_bytes;
    r->iovs[i].iov_len = r->slot_bytes;
    h->msg_name = &r->addrs[i];
    h->msg_namelen = sizeof(struct sockaddr_storage);
    h->msg_iov = &r->iovs[i];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
  }
}

static void *run(void *arg) {
  receiver_t *r = arg;
  struct pollfd pfds[MAX_FDS + 1];
  for (int i = 0; i < r->nfds; i++) {
    pfds[i].fd = r->fds[i];
    pfds[i].events = POLLIN;
  }
  pfds[r->nfds].fd = r->wake[0];
  pfds[r->nfds].events = POLLIN;
  batch_t *b = batch_get(r); /* the working batch */
  if (!b) {
    emit(r, NULL);
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
    return NULL;
  }
  for (;;) {
    /* A batch in hand waits at most HOLD_MS for more datagrams (see below). */
    int timeout = -1;
    if (b->count) {
      int64_t left = b->first_ms + HOLD_MS - mono_ms();
      timeout = left > 0 ? (int)left : 0;
    }
    int p = poll(pfds, (nfds_t)r->nfds + 1, timeout);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfds[r->nfds].revents) break;
    int busy = 1;
    uint32_t before = b->count;
    /* Drain every readable socket until it is empty (or a stop is asked). */
    while (busy && p > 0) {
      busy = 0;
      for (int i = 0; i < r->nfds; i++) {
        if (!(pfds[i].revents & POLLIN)) continue;
        reset_headers(r);
        int n = recvmmsg(r->fds[i], r->msgs, r->vlen, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (n <= 0) {
          pfds[i].revents = 0; /* empty (EAGAIN) or an error: back to poll() */
          continue;
        }
        b = take_messages(r, n, b);
        if ((unsigned)n == r->vlen) busy = 1;
        else pfds[i].revents = 0;
      }
      pthread_mutex_lock(&r->lock);
      int stop = r->stopping;
      pthread_mutex_unlock(&r->lock);
      if (stop) break;
    }
    /* Sockets drained. Hand the batch over at once when JavaScript has nothing waiting (low
       latency); while it is still busy with earlier batches, keep filling this one for up to
       HOLD_MS: a burst then goes over in few large batches instead of many small ones, which
       costs JavaScript less per datagram and lets it catch up. */
    /* A drain that found only a few datagrams: wait a moment so that the next recvmmsg() takes
       more at once. Fewer wake-ups and less contention with the senders for the socket's lock
       cost less CPU per datagram on both sides; a millisecond more latency is nothing for logs
       and the socket buffer holds far more than a millisecond of any burst. */
    if (b->count > before && b->count - before < r->vlen / 4) {
      struct timespec nap = {0, NAP_US * 1000};
      nanosleep(&nap, NULL);
    }
    if (b->count) {
      pthread_mutex_lock(&r->lock);
      int idle = r->queued == 0;
      pthread_mutex_unlock(&r->lock);
      if (idle || mono_ms() - b->first_ms >= HOLD_MS) b = emit(r, b);
    }
  }
  if (b->count) b = emit(r, b);
  batch_free(b);
  emit(r, NULL); /* end marker: JS learns that nothing more comes */
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  return NULL;
}

/* ---- JS side ---- */

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  const char *name = NULL;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  name = strerrorname_np(err);
#endif
  char fallback[32];
  if (!name) {
    snprintf(fallback, sizeof fallback, "ERRNO%d", err);
    name = fallback;
  }
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errno_v;
  napi_create_int32(env, -err, &errno_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_throw(env, error);
  return NULL;
}

/* An ArrayBuffer of at least `bytes` for a batch: a pooled one JS gave back, else a new one
   with its size rounded up to a power of two (64 KiB at least), so that later batches fit. */
static napi_status take_buffer(napi_env env, receiver_t *r, size_t bytes, void **data, size_t *cap, napi_value *out) {
  for (int i = r->pool_count - 1; i >= 0; i--) {
    napi_value ab;
    void *p = NULL;
    size_t len = 0;
    if (napi_get_reference_value(env, r->pool[i], &ab) != napi_ok || !ab || napi_get_arraybuffer_info(env, ab, &p, &len) != napi_ok || len < bytes) continue;
    napi_delete_reference(env, r->pool[i]);
    r->pool[i] = r->pool[--r->pool_count];
    *data = p;
    *cap = len;
    *out = ab;
    return napi_ok;
  }
  size_t size = 65536;
  while (size < bytes) size *= 2;
  *cap = size;
  return napi_create_arraybuffer(env, size, data, out);
}

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  receiver_t *r = context;
  batch_t *b = data;
  if (!env) {
    batch_free(b);
    return;
  }
  napi_value argv[4], undef;
  napi_get_undefined(env, &undef);
  if (!b) {
    napi_get_null(env, &argv[0]);
    napi_create_uint32(env, 0, &argv[1]);
    napi_create_double(env, 0, &argv[2]);
    napi_create_uint32(env, 0, &argv[3]);
    r->ended = 1;
    while (r->pool_count > 0) napi_delete_reference(env, r->pool[--r->pool_count]);
  } else {
    /* One copy: entries, then the payload area (raw payloads, then preformatted texts), into
       a Buffer that JavaScript owns; the texts are written straight into it. */
    size_t esize = (size_t)b->count * ENTRY;
    size_t text = 0;
    if (r->preformat && !r->scans) r->scans = malloc(sizeof(pf_scan_t) * MAX_BATCH_ENTRIES);
    int pre = r->preformat && r->scans && b->count <= MAX_BATCH_ENTRIES;
    if (pre) text = preformat_size(r, b);
    size_t size = batch_size(b);
    size_t charged = batch_charge(r, b);
    void *dst = NULL;
    size_t cap = 0;
    if (take_buffer(env, r, size + text, &dst, &cap, &argv[0]) != napi_ok) {
      batch_put(r, b);
      pthread_mutex_lock(&r->lock); /* out of memory in JavaScript: this batch is lost */
      r->queued = r->queued > charged ? r->queued - charged : 0;
      r->lost_batches++;
      pthread_cond_broadcast(&r->room);
      pthread_mutex_unlock(&r->lock);
      return;
    }
    memcpy(dst, b->entries, esize);
    memcpy((uint8_t *)dst + esize, b->payload, b->payload_used);
    if (pre) preformat_write(r, b, dst, (uint8_t *)dst + size, text, b->payload_used);
    /* JavaScript holds the whole buffer (texts and spare room too): that is what counts
       against maxQueuedBytes until acked. */
    pthread_mutex_lock(&r->lock);
    r->queued = r->queued + cap > charged ? r->queued + cap - charged : 0;
    pthread_cond_broadcast(&r->room);
    pthread_mutex_unlock(&r->lock);
    napi_create_uint32(env, b->count, &argv[1]);
    napi_create_double(env, (double)cap, &argv[2]);
    napi_create_uint32(env, (uint32_t)(size + text), &argv[3]);
    batch_put(r, b);
  }
  napi_call_function(env, undef, cb, 4, argv, NULL);
}

static void stop_thread(receiver_t *r) {
  pthread_mutex_lock(&r->lock);
  r->stopping = 1;
  pthread_cond_broadcast(&r->room);
  pthread_mutex_unlock(&r->lock);
  if (r->wake[1] >= 0) {
    char c = 1;
    ssize_t w = write(r->wake[1], &c, 1);
    (void)w;
  }
}

static void free_receiver(receiver_t *r) {
  free(r->scans);
  while (r->free_batches) {
    batch_t *b = r->free_batches;
    r->free_batches = b->next;
    batch_free(b);
  }
  if (r->arena) munmap(r->arena, (size_t)r->vlen * r->slot_bytes);
  free(r->msgs);
  free(r->iovs);
  free(r->addrs);
  if (r->wake[0] >= 0) close(r->wake[0]);
  if (r->wake[1] >= 0) close(r->wake[1]);
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->room);
  free(r);
}

/* Runs on the JS thread once the receive thread released the function (it has ended). */
static void unref(receiver_t *r) {
  if (--r->refs == 0) free_receiver(r);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  receiver_t *r = data;
  if (r->thread_started && !r->joined) {
    /* The environment is going away (its thread ended): wake the receive thread, which may be
       waiting in poll() or for room, before joining it. */
    stop_thread(r);
    pthread_join(r->thread, NULL);
    r->joined = 1;
  }
  unref(r);
}

/* The JS handle owns the receiver memory; it is freed when the handle is collected. */
static void handle_finalize(napi_env env, void *data, void *hint) {
  receiver_t *r = data;
  if (r->thread_started && !r->joined) stop_thread(r);
  unref(r);
}

static int get_u32_prop(napi_env env, napi_value obj, const char *name, uint32_t def, uint32_t *out) {
  bool has = false;
  *out = def;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return 0;
  napi_get_value_uint32(env, v, out);
  return 0;
}

/* openSocket(family 4|6, address, port, rcvbuf[, reusePort]) -> { fd, port, rcvbuf, forced }
   reusePort: SO_REUSEPORT, so several receivers share one port and the kernel hashes each sender
   (source address and port) to one of them: per-sender order and sequence tracking stay whole. */
static napi_value open_socket(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t family = 0, port = 0, rcvbuf = 0;
  char addr[INET6_ADDRSTRLEN + 1];
  size_t alen = 0;
  if (argc < 4 || napi_get_value_uint32(env, argv[0], &family) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &port) != napi_ok || napi_get_value_uint32(env, argv[3], &rcvbuf) != napi_ok ||
      (family != 4 && family != 6) || port > 65535) {
    napi_throw_type_error(env, "EINVAL", "openSocket(family 4|6, address, port, rcvbuf)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sslen;
  memset(&ss, 0, sizeof ss);
  if (family == 4) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1) return throw_errno(env, EINVAL, "bad IPv4 address");
    sslen = sizeof *s4;
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1) return throw_errno(env, EINVAL, "bad IPv6 address");
    sslen = sizeof *s6;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  /* SO_RCVBUFFORCE (root / CAP_NET_ADMIN) goes past net.core.rmem_max; else the capped SO_RCVBUF. */
  int want = (int)(rcvbuf > 0x3fffffff ? 0x3fffffff : rcvbuf);
  int forced = 0;
  if (want > 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0) forced = 1;
    else setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  }
  bool reuse = false;
  if (argc >= 5) napi_get_value_bool(env, argv[4], &reuse);
  if (reuse) {
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "SO_REUSEPORT");
    }
  }
  if (family == 6) {
    int zero = 0; /* [::] takes IPv4 too, as Node's dgram does */
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  }
  if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind");
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &blen);
  uint16_t bport = family == 4 ? ntohs(((struct sockaddr_in *)&bound)->sin_port) : ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
  int got = 0;
  socklen_t glen = sizeof got;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &glen);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, out, "fd", v);
  napi_create_uint32(env, bport, &v);
  napi_set_named_property(env, out, "port", v);
  /* The kernel doubles the size for its bookkeeping and reports the doubled value. */
  napi_create_uint32(env, (uint32_t)got / 2, &v);
  napi_set_named_property(env, out, "rcvbuf", v);
  napi_get_boolean(env, forced, &v);
  napi_set_named_property(env, out, "forced", v);
  return out;
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1 && napi_get_value_int32(env, argv[0], &fd) == napi_ok && fd > 2) close(fd);
  return NULL;
}

/* start(fds[], { vlen, slotBytes, batchBytes, maxQueuedBytes, preformat }, onBatch(arraybuffer|null, count, bytes, length)) -> handle
   The batch is the first `length` bytes of the ArrayBuffer; bytes: what it counts against
   maxQueuedBytes, JS acks exactly that. */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_array = false;
  if (argc < 3 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "EINVAL", "start(fds, options, onBatch)");
    return NULL;
  }
  receiver_t *r = calloc(1, sizeof(receiver_t));
  if (!r) return throw_errno(env, ENOMEM, "start");
  r->wake[0] = r->wake[1] = -1;
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->room, NULL);
  uint32_t n = 0;
  napi_get_array_length(env, argv[0], &n);
  if (n == 0 || n > MAX_FDS) {
    free_receiver(r);
    napi_throw_range_error(env, "EINVAL", "between 1 and 64 sockets");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, argv[0], i, &v);
    napi_get_value_int32(env, v, &r->fds[i]);
  }
  r->nfds = (int)n;
  uint32_t vlen, slot, batch, maxq;
  get_u32_prop(env, argv[1], "vlen", 256, &vlen);
  get_u32_prop(env, argv[1], "slotBytes", 65536, &slot);
  get_u32_prop(env, argv[1], "batchBytes", 1 << 20, &batch);
  get_u32_prop(env, argv[1], "maxQueuedBytes", 64u << 20, &maxq);
  uint32_t preformat = 0;
  get_u32_prop(env, argv[1], "preformat", 0, &preformat);
  r->preformat = preformat >= PF_TEXT && preformat <= PF_JSON ? (int)preformat : 0;
  uint32_t local_time = 0;
  get_u32_prop(env, argv[1], "localTime", 0, &local_time);
  r->local_time = local_time == 1;
  if (r->local_time) tzset(); /* localtime_r() need not read TZ itself */
  r->clock.sec = -1;
  if (vlen < 1) vlen = 1;
  if (vlen > 4096) vlen = 4096;
  if (slot < 16) slot = 16;
  if (slot > 65536) slot = 65536;
  if (batch < slot) batch = slot;
  r->vlen = vlen;
  r->slot_bytes = slot;
  r->batch_bytes = batch;
  r->max_queued = maxq;
  r->arena = mmap(NULL, (size_t)vlen * slot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r->arena == MAP_FAILED) {
    r->arena = NULL;
    free_receiver(r);
    return throw_errno(env, ENOMEM, "mmap");
  }
  r->msgs = calloc(vlen, sizeof(struct mmsghdr));
  r->iovs = calloc(vlen, sizeof(struct iovec));
  r->addrs = calloc(vlen, sizeof(struct sockaddr_storage));
  if (!r->msgs || !r->iovs || !r->addrs || pipe2(r->wake, O_CLOEXEC) != 0) {
    free_receiver(r);
    return throw_errno(env, ENOMEM, "start");
  }
  napi_value name;
  napi_create_string_utf8(env, "netconsole-recv", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, r, tsfn_finalize, r, call_js, &r->tsfn) != napi_ok) {
    free_receiver(r);
    napi_throw_error(env, "EINVAL", "napi_create_threadsafe_function failed");
    return NULL;
  }
  r->env = env;
  int err = pthread_create(&r->thread, NULL, run, r);
  r->refs = 2;
  if (err != 0) {
    r->refs = 1; /* only the function's finalizer frees it now */
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    return throw_errno(env, err, "pthread_create");
  }
  r->thread_started = 1;
  napi_value handle;
  napi_create_external(env, r, handle_finalize, NULL, &handle);
  return handle;
}

static receiver_t *get_receiver(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_get_cb_info(env, info, argc, argv, NULL, NULL);
  void *p = NULL;
  if (*argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected a receiver handle");
    return NULL;
  }
  return p;
}

/* ack(handle, bytes[, arraybuffer]): JS has processed this many batch bytes; the thread may read
   on. The batch's ArrayBuffer, given back, is reused for a later batch: JS must keep no view of it. */
static napi_value ack(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  receiver_t *r = get_receiver(env, info, &argc, argv);
  if (!r) return NULL;
  double bytes = 0;
  if (argc >= 2) napi_get_value_double(env, argv[1], &bytes);
  bool is_ab = false;
  if (argc >= 3 && !r->ended && r->pool_count < POOL_MAX && napi_is_arraybuffer(env, argv[2], &is_ab) == napi_ok && is_ab) {
    if (napi_create_reference(env, argv[2], 1, &r->pool[r->pool_count]) == napi_ok) r->pool_count++;
  }
  pthread_mutex_lock(&r->lock);
  r->queued = (double)r->queued > bytes ? r->queued - (size_t)bytes : 0;
  pthread_cond_broadcast(&r->room);
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

/* stop(handle): the thread stops reading, hands over what it has, then calls onBatch(null). */
static napi_value stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  receiver_t *r = get_receiver(env, info, &argc, argv);
  if (r) stop_thread(r);
  return NULL;
}

/* stats(handle) -> { queuedBytes, waits, lostBatches } (kernel drops: /proc/net/udp) */
static napi_value stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  receiver_t *r = get_receiver(env, info, &argc, argv);
  if (!r) return NULL;
  pthread_mutex_lock(&r->lock);
  double queued = (double)r->queued, waits = (double)r->waits, lost = (double)r->lost_batches;
  pthread_mutex_unlock(&r->lock);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_double(env, queued, &v);
  napi_set_named_property(env, out, "queuedBytes", v);
  napi_create_double(env, waits, &v);
  napi_set_named_property(env, out, "waits", v);
  napi_create_double(env, lost, &v);
  napi_set_named_property(env, out, "lostBatches", v);
  return out;
}

/* preformat(payload, family 4|6, address bytes, port, timeUs) -> { kind, lines, seq, tsUsec, text } | null:
   the receive thread's preformatting of one datagram (the property tests compare it with the
   JavaScript decoder and formatter). */
static napi_value preformat_one(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL, *abytes = NULL;
  size_t len = 0, alen = 0;
  uint32_t family = 0, port = 0;
  double time_us = 0;
  if (argc < 5 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || napi_get_value_uint32(env, argv[1], &family) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &abytes, &alen) != napi_ok || napi_get_value_uint32(env, argv[3], &port) != napi_ok ||
      napi_get_value_double(env, argv[4], &time_us) != napi_ok || (family == 4 ? alen != 4 : family == 6 ? alen != 16 : 1) || port > 65535 ||
      !(time_us >= 0 && time_us < 9e15)) {
    napi_throw_type_error(env, "EINVAL", "preformat(payload, family 4|6, address, port, timeUs)");
    return NULL;
  }
  receiver_t r;
  memset(&r, 0, sizeof r);
  r.clock.sec = -1;
  r.preformat = PF_TEXT;
  if (argc >= 6) {
    uint32_t v = PF_TEXT, lt = 0;
    get_u32_prop(env, argv[5], "preformat", PF_TEXT, &v);
    get_u32_prop(env, argv[5], "localTime", 0, &lt);
    if (v >= PF_TEXT && v <= PF_JSON) r.preformat = (int)v;
    r.local_time = lt == 1;
    if (r.local_time) tzset();
  }
  char label[64];
  size_t label_len = addr_label((int)family, abytes, (uint16_t)port, label);
  if (label_len < 64) label_parts(&r, label, label_len);
  pf_scan_t pf;
  pf.kind = PF_NONE;
  if (label_len < 64) pf_scan(data, len, label_len, r.preformat, &pf);
  napi_value out, v;
  if (pf.kind == PF_NONE) {
    napi_get_null(env, &out);
    return out;
  }
  uint8_t *buf = malloc(pf.size);
  if (!buf) return throw_errno(env, ENOMEM, "preformat");
  size_t n = pf_write(&r, &pf, data, len, label, label_len, (int64_t)time_us, buf, buf + pf.size);
  if (n == (size_t)-1) {
    free(buf);
    return throw_errno(env, EOVERFLOW, "preformat: the scan under-counted the room");
  }
  napi_create_object(env, &out);
  napi_create_uint32(env, (uint32_t)pf.kind, &v);
  napi_set_named_property(env, out, "kind", v);
  napi_create_uint32(env, pf.lines, &v);
  napi_set_named_property(env, out, "lines", v);
  napi_create_double(env, pf.kind == PF_RECORD ? (double)pf.seq : 0, &v);
  napi_set_named_property(env, out, "seq", v);
  napi_create_double(env, pf.kind == PF_RECORD ? (double)pf.ts : 0, &v);
  napi_set_named_property(env, out, "tsUsec", v);
  napi_create_uint32(env, (uint32_t)pf.size, &v);
  napi_set_named_property(env, out, "reserved", v);
  napi_create_int32(env, r.clock.quarters, &v);
  napi_set_named_property(env, out, "zoneQuarters", v);
  napi_create_buffer_copy(env, n, buf, NULL, &v);
  napi_set_named_property(env, out, "text", v);
  free(buf);
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"openSocket", NULL, open_socket, NULL, NULL, NULL, napi_default, NULL},
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"ack", NULL, ack, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, stop, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"preformat", NULL, preformat_one, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value entry;
  napi_create_uint32(env, ENTRY, &entry);
  napi_set_named_property(env, exports, "ENTRY_BYTES", entry);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
