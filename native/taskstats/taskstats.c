/*
 * taskstats: the kernel's per-thread exit records (CONFIG_TASKSTATS + CONFIG_TASK_IO_ACCOUNTING)
 * for `lantern record`'s I/O detector (src/record/io/).
 *
 * A generic netlink socket resolves the TASKSTATS family (CTRL_CMD_GETFAMILY) and registers
 * for exit notifications on every possible CPU (TASKSTATS_CMD_ATTR_REGISTER_CPUMASK; the
 * registration is undone at close). A receive thread drains the socket with recvmmsg() and
 * copies the fields Lantern uses out of each TASKSTATS_TYPE_AGGR_PID record into a queue that
 * JavaScript takes on its own timer (take()): one fixed-size entry per exiting thread.
 *
 * Nothing is lost silently. The kernel drops a notification when the socket buffer is full
 * (netlink_overrun: sk_drops + 1 per message, ENOBUFS on the next receive); stats() reports
 * sk_drops exactly (SO_MEMINFO) and the ENOBUFS receives separately. A full queue (JavaScript
 * not taking) drops the entry and counts it. So: exits seen = records + drops, and
 * records = taken + skippedNoIo + queueDrops + queued.
 *
 * Parsing is by attribute: every length from the kernel is checked against what was received
 * before it is used, and the stats structure is copied into a zeroed local of the size this
 * header knows (a newer kernel's longer structure is a valid prefix; a field the sender's
 * shorter one lacks is reported as absent, never read).
 *
 * Entry layout (little endian, ENTRY bytes):
 *    0 u32 tid (ac_pid)     4 u32 tgid (ac_tgid; 0 when the kernel's structure has none)
 *    8 u32 ppid            12 u32 exit code (ac_exitcode: wait status)   16 u32 uid
 *   20 u16 version         22 u8 flags (1: stats too short for the I/O fields)   23 u8 0
 *   24 char[32] comm (NUL padded)
 *   56 f64 read_bytes      64 f64 write_bytes   72 f64 cancelled_write_bytes
 *   80 f64 read_char       88 f64 write_char    96 f64 elapsed µs (ac_etime)
 *  104 f64 begin time, s since the epoch (ac_btime64, else ac_btime)
 *  112 f64 receive time, CLOCK_MONOTONIC ns (when the receive thread read the message)
 */
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SK_MEMINFO_DROPS
#define SK_MEMINFO_DROPS 8
#endif
#define SK_MEMINFO_WORDS 9

#define ENTRY 120
#define VLEN 64
#define MSG_BYTES 8192 /* a taskstats message is under 1 KiB (v16: ~450 bytes) */
#define MASK_MAX 4096
#define GATHER_NS (4 * 1000 * 1000) /* 4 ms */

typedef struct queue {
  uint8_t *data;
  uint32_t count;
  uint32_t cap;
} queue_t;

typedef struct ts {
  int fd;
  int wake[2];
  uint16_t family;
  uint32_t portid;
  uint32_t seq;
  char mask[MASK_MAX];
  int registered;
  int skip_no_io;
  uint32_t max_queued;
  pthread_t thread;
  int thread_started;
  int closed;
  pthread_mutex_t lock;
  queue_t cur;   /* written by the receive thread (under lock) */
  queue_t spare; /* swapped with cur by take() */
  uint8_t *arena; /* VLEN * MSG_BYTES */
  struct mmsghdr msgs[VLEN];
  struct iovec iovs[VLEN];
  /* counters (under lock) */
  uint64_t messages, records, skipped, group_records, queue_drops, enobufs, parse_errors, truncated, recv_errors;
  int last_errno;
  int64_t drops_at_close; /* sk_drops read just before the socket was closed (-1: unknown) */
} ts_t;

static double mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, m, e;
  const char *name = err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == ENOENT ? "ENOENT" : err == EINVAL ? "EINVAL" : err == EPROTONOSUPPORT ? "EPROTONOSUPPORT" : err == ETIMEDOUT ? "ETIMEDOUT" : err == ENOMEM ? "ENOMEM" : err == EAFNOSUPPORT ? "EAFNOSUPPORT" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, code, m, &e);
  napi_value errno_v;
  napi_create_int32(env, err, &errno_v);
  napi_set_named_property(env, e, "errno", errno_v);
  napi_throw(env, e);
  return NULL;
}

/* ---- parsing: attributes within [p, end), never trusting a length beyond it ---- */

typedef struct attr {
  uint16_t type;
  const uint8_t *data;
  size_t len;
} attr_t;

/* The attribute at *off in [buf, buf+len): 1 and advances *off, 0 at the end, -1 when malformed. */
static int next_attr(const uint8_t *buf, size_t len, size_t *off, attr_t *a) {
  if (*off >= len) return 0;
  if (len - *off < NLA_HDRLEN) return -1;
  struct nlattr h;
  memcpy(&h, buf + *off, sizeof h);
  if (h.nla_len < NLA_HDRLEN || h.nla_len > len - *off) return -1;
  a->type = h.nla_type & NLA_TYPE_MASK;
  a->data = buf + *off + NLA_HDRLEN;
  a->len = h.nla_len - NLA_HDRLEN;
  size_t step = NLA_ALIGN(h.nla_len);
  *off = step > len - *off ? len : *off + step;
  return 1;
}

#define HAS(len, field) ((len) >= offsetof(struct taskstats, field) + sizeof(((struct taskstats *)0)->field))

static void put_u32(uint8_t *e, size_t at, uint32_t v) { memcpy(e + at, &v, 4); }
static void put_f64(uint8_t *e, size_t at, double v) { memcpy(e + at, &v, 8); }

/* Called with r->lock held. */
static void queue_entry(ts_t *r, const uint8_t *stats, size_t slen, double recv_ns) {
  struct taskstats s;
  memset(&s, 0, sizeof s);
  memcpy(&s, stats, slen < sizeof s ? slen : sizeof s);
  r->records++;
  int short_io = !HAS(slen, cancelled_write_bytes);
  if (!HAS(slen, ac_ppid)) { /* not even the identity: unusable */
    r->parse_errors++;
    return;
  }
  if (r->skip_no_io && !short_io && s.read_bytes == 0 && s.write_bytes == 0 && s.cancelled_write_bytes == 0) {
    r->skipped++;
    return;
  }
  if (r->cur.count >= r->max_queued) {
    r->queue_drops++;
    return;
  }
  if (r->cur.count >= r->cur.cap) {
    uint32_t cap = r->cur.cap ? r->cur.cap * 2 : 256;
    if (cap > r->max_queued) cap = r->max_queued;
    uint8_t *d = realloc(r->cur.data, (size_t)cap * ENTRY);
    if (!d) {
      r->queue_drops++;
      return;
    }
    r->cur.data = d;
    r->cur.cap = cap;
  }
  uint8_t *e = r->cur.data + (size_t)r->cur.count * ENTRY;
  memset(e, 0, ENTRY);
  put_u32(e, 0, s.ac_pid);
  put_u32(e, 4, HAS(slen, ac_tgid) ? s.ac_tgid : 0);
  put_u32(e, 8, s.ac_ppid);
  put_u32(e, 12, s.ac_exitcode);
  put_u32(e, 16, s.ac_uid);
  uint16_t ver = s.version;
  memcpy(e + 20, &ver, 2);
  e[22] = short_io ? 1 : 0;
  memcpy(e + 24, s.ac_comm, TS_COMM_LEN < 32 ? TS_COMM_LEN : 32);
  e[24 + 31] = 0;
  put_f64(e, 56, (double)s.read_bytes);
  put_f64(e, 64, (double)s.write_bytes);
  put_f64(e, 72, (double)s.cancelled_write_bytes);
  put_f64(e, 80, (double)s.read_char);
  put_f64(e, 88, (double)s.write_char);
  put_f64(e, 96, (double)s.ac_etime);
  put_f64(e, 104, HAS(slen, ac_btime64) && s.ac_btime64 ? (double)s.ac_btime64 : (double)s.ac_btime);
  put_f64(e, 112, recv_ns);
  r->cur.count++;
}

/* One received datagram: netlink messages, each a TASKSTATS_CMD_NEW with AGGR_PID/AGGR_TGID. */
static void parse_datagram(ts_t *r, const uint8_t *buf, size_t n, double recv_ns) {
  size_t off = 0;
  while (off + NLMSG_HDRLEN <= n) {
    struct nlmsghdr h;
    memcpy(&h, buf + off, sizeof h);
    if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > n - off) {
      r->parse_errors++;
      return;
    }
    const uint8_t *m = buf + off + NLMSG_HDRLEN;
    size_t mlen = h.nlmsg_len - NLMSG_HDRLEN;
    size_t step = NLMSG_ALIGN(h.nlmsg_len);
    off = step > n - off ? n : off + step;
    if (h.nlmsg_type != r->family) continue; /* acks and errors of our requests */
    r->messages++;
    if (mlen < GENL_HDRLEN) {
      r->parse_errors++;
      continue;
    }
    struct genlmsghdr g;
    memcpy(&g, m, sizeof g);
    if (g.cmd != TASKSTATS_CMD_NEW) continue;
    const uint8_t *attrs = m + GENL_HDRLEN;
    size_t alen = mlen - GENL_HDRLEN, aoff = 0;
    attr_t a;
    int rc;
    while ((rc = next_attr(attrs, alen, &aoff, &a)) == 1) {
      if (a.type != TASKSTATS_TYPE_AGGR_PID && a.type != TASKSTATS_TYPE_AGGR_TGID) continue; /* NULL padding */
      if (a.type == TASKSTATS_TYPE_AGGR_TGID) {
        /* The group's summary: its I/O fields are zero on this kernel (per-thread records carry it). */
        r->group_records++;
        continue;
      }
      size_t noff = 0;
      attr_t in;
      int nrc, got = 0;
      while ((nrc = next_attr(a.data, a.len, &noff, &in)) == 1) {
        if (in.type == TASKSTATS_TYPE_STATS) {
          queue_entry(r, in.data, in.len, recv_ns);
          got = 1;
        }
      }
      if (nrc < 0 || !got) r->parse_errors++;
    }
    if (rc < 0) r->parse_errors++;
  }
  if (off < n) r->parse_errors++;
}

/* Receive what the socket holds (non-blocking). Returns 0, or an errno that is not EAGAIN/ENOBUFS/EINTR. */
static int drain(ts_t *r) {
  for (;;) {
    for (int i = 0; i < VLEN; i++) {
      r->iovs[i].iov_base = r->arena + (size_t)i * MSG_BYTES;
      r->iovs[i].iov_len = MSG_BYTES;
      memset(&r->msgs[i].msg_hdr, 0, sizeof r->msgs[i].msg_hdr);
      r->msgs[i].msg_hdr.msg_iov = &r->iovs[i];
      r->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(r->fd, r->msgs, VLEN, MSG_DONTWAIT, NULL);
    if (got < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == ENOBUFS) { /* the kernel dropped notifications: sk_drops counts them */
        pthread_mutex_lock(&r->lock);
        r->enobufs++;
        pthread_mutex_unlock(&r->lock);
        continue;
      }
      if (err == EAGAIN || err == EWOULDBLOCK) return 0;
      pthread_mutex_lock(&r->lock);
      r->recv_errors++;
      r->last_errno = err;
      pthread_mutex_unlock(&r->lock);
      return err;
    }
    double now = mono_ns();
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < got; i++) {
      if (r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) r->truncated++;
      size_t len = r->msgs[i].msg_len < MSG_BYTES ? r->msgs[i].msg_len : MSG_BYTES;
      parse_datagram(r, r->arena + (size_t)i * MSG_BYTES, len, now);
    }
    pthread_mutex_unlock(&r->lock);
    if (got < VLEN) return 0;
  }
}

static void *run(void *arg) {
  ts_t *r = arg;
  struct pollfd p[2] = {{r->fd, POLLIN, 0}, {r->wake[0], POLLIN, 0}};
  for (;;) {
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (p[1].revents) break;
    if (p[0].revents & (POLLIN | POLLERR)) {
      /* Let a burst gather first: one wake-up and a few recvmmsg() calls per millisecond of
         exits instead of one per exit (the socket buffer holds thousands meanwhile). */
      struct timespec gather = {0, GATHER_NS};
      nanosleep(&gather, NULL);
      if (drain(r) != 0) {
        struct timespec nap = {0, 10 * 1000 * 1000}; /* a persistent error: do not spin */
        nanosleep(&nap, NULL);
      }
    }
  }
  drain(r); /* what arrived before the stop */
  return NULL;
}

/* ---- requests ---- */

static int send_request(ts_t *r, uint16_t type, uint8_t cmd, uint16_t attr, const void *val, size_t vlen, uint16_t flags) {
  uint8_t buf[NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN + MASK_MAX + 8];
  memset(buf, 0, sizeof buf);
  size_t alen = NLA_HDRLEN + vlen;
  size_t total = NLMSG_HDRLEN + GENL_HDRLEN + NLA_ALIGN(alen);
  if (total > sizeof buf) return EINVAL;
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  h->nlmsg_len = (uint32_t)total;
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | flags;
  h->nlmsg_seq = ++r->seq;
  h->nlmsg_pid = r->portid;
  struct genlmsghdr *g = (struct genlmsghdr *)(buf + NLMSG_HDRLEN);
  g->cmd = cmd;
  g->version = 1;
  struct nlattr *a = (struct nlattr *)(buf + NLMSG_HDRLEN + GENL_HDRLEN);
  a->nla_len = (uint16_t)alen;
  a->nla_type = attr;
  memcpy((uint8_t *)a + NLA_HDRLEN, val, vlen);
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  for (;;) {
    ssize_t s = sendto(r->fd, buf, total, 0, (struct sockaddr *)&to, sizeof to);
    if (s >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

/* Waits (blocking, SO_RCVTIMEO bounded) for the reply to request `seq`: the family id
   (CTRL_CMD_GETFAMILY) or the ack's error. Taskstats notifications met meanwhile are queued. */
static int await_reply(ts_t *r, uint32_t seq, uint16_t *family_out) {
  uint8_t *buf = r->arena;
  for (int rounds = 0; rounds < 10000; rounds++) {
    ssize_t n = recv(r->fd, buf, MSG_BYTES, 0);
    if (n < 0) {
      if (errno == EINTR || errno == ENOBUFS) {
        if (errno == ENOBUFS) r->enobufs++;
        continue;
      }
      return errno == EAGAIN ? ETIMEDOUT : errno;
    }
    size_t off = 0;
    while (off + NLMSG_HDRLEN <= (size_t)n) {
      struct nlmsghdr h;
      memcpy(&h, buf + off, sizeof h);
      if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > (size_t)n - off) return EPROTO;
      const uint8_t *m = buf + off + NLMSG_HDRLEN;
      size_t mlen = h.nlmsg_len - NLMSG_HDRLEN;
      if (h.nlmsg_seq == seq && h.nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr e;
        if (mlen < sizeof e.error) return EPROTO;
        memcpy(&e.error, m, sizeof e.error);
        if (e.error != 0 || !family_out) return -e.error;
      } else if (h.nlmsg_seq == seq && family_out && h.nlmsg_type == GENL_ID_CTRL && mlen >= GENL_HDRLEN) {
        size_t aoff = 0;
        attr_t a;
        while (next_attr(m + GENL_HDRLEN, mlen - GENL_HDRLEN, &aoff, &a) == 1) {
          if (a.type == CTRL_ATTR_FAMILY_ID && a.len >= 2) {
            memcpy(family_out, a.data, 2);
            return 0;
          }
        }
        return EPROTO;
      } else if (r->family && h.nlmsg_type == r->family) {
        pthread_mutex_lock(&r->lock);
        parse_datagram(r, buf + off, h.nlmsg_len, mono_ns());
        pthread_mutex_unlock(&r->lock);
      }
      size_t step = NLMSG_ALIGN(h.nlmsg_len);
      off = step > (size_t)n - off ? (size_t)n : off + step;
    }
  }
  return ETIMEDOUT;
}

static void free_ts(ts_t *r) {
  if (r->fd >= 0) close(r->fd);
  if (r->wake[0] >= 0) close(r->wake[0]);
  if (r->wake[1] >= 0) close(r->wake[1]);
  free(r->cur.data);
  free(r->spare.data);
  free(r->arena);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

/* The kernel's count of notifications it dropped for this socket (sk_drops), or -1. */
static int64_t read_drops(ts_t *r) {
  if (r->fd < 0) return r->drops_at_close;
  uint32_t mem[SK_MEMINFO_WORDS + 8];
  memset(mem, 0, sizeof mem);
  socklen_t ml = sizeof mem;
  if (getsockopt(r->fd, SOL_SOCKET, SO_MEMINFO, mem, &ml) != 0 || ml <= SK_MEMINFO_DROPS * 4) return -1;
  return mem[SK_MEMINFO_DROPS];
}

/* Stops the thread, deregisters, closes the socket (the queue stays for take()). Idempotent. */
static void close_ts(ts_t *r) {
  if (r->closed) return;
  r->closed = 1;
  if (r->thread_started) {
    char c = 1;
    ssize_t w = write(r->wake[1], &c, 1);
    (void)w;
    pthread_join(r->thread, NULL);
    r->thread_started = 0;
  }
  if (r->registered && r->fd >= 0) {
    /* No ack awaited: closing the socket also ends the listener (the kernel drops it at its next send). */
    send_request(r, r->family, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK, r->mask, strlen(r->mask) + 1, 0);
    r->registered = 0;
  }
  if (r->fd >= 0) {
    drain(r); /* the thread is gone: what came between its last drain and the deregistration */
    r->drops_at_close = read_drops(r);
    close(r->fd);
    r->fd = -1;
  }
}

static void finalize(napi_env env, void *data, void *hint) {
  ts_t *r = data;
  close_ts(r);
  free_ts(r);
}

static int get_u32(napi_env env, napi_value obj, const char *name, uint32_t def, uint32_t *out) {
  bool has = false;
  *out = def;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_number) napi_get_value_uint32(env, v, out);
  return 0;
}

static int read_possible(char *out, size_t cap) {
  int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = read(fd, out, cap - 1);
  int err = errno;
  close(fd);
  if (n <= 0) return n < 0 ? err : EINVAL;
  out[n] = 0;
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ')) out[--n] = 0;
  return n > 0 ? 0 : EINVAL;
}

/* open({ rcvbuf, cpumask, skipNoIo, maxQueued }) -> handle. rcvbuf 0: the system default. */
static napi_value open_ts(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], opts = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) {
    napi_valuetype t;
    napi_typeof(env, argv[0], &t);
    if (t == napi_object) opts = argv[0];
  }
  uint32_t rcvbuf = 4u << 20, skip = 1, maxq = 1u << 18;
  char mask[MASK_MAX] = "";
  if (opts) {
    get_u32(env, opts, "rcvbuf", rcvbuf, &rcvbuf);
    get_u32(env, opts, "skipNoIo", skip, &skip);
    get_u32(env, opts, "maxQueued", maxq, &maxq);
    bool has = false;
    if (napi_has_named_property(env, opts, "cpumask", &has) == napi_ok && has) {
      napi_value v;
      size_t l = 0;
      napi_get_named_property(env, opts, "cpumask", &v);
      if (napi_get_value_string_utf8(env, v, mask, sizeof mask, &l) != napi_ok) mask[0] = 0;
    }
  }
  if (maxq < 1) maxq = 1;
  if (!mask[0]) {
    int err = read_possible(mask, sizeof mask);
    if (err) return throw_errno(env, err, "reading /sys/devices/system/cpu/possible");
  }
  ts_t *r = calloc(1, sizeof(ts_t));
  if (!r) return throw_errno(env, ENOMEM, "taskstats open");
  r->fd = r->wake[0] = r->wake[1] = -1;
  r->drops_at_close = -1;
  pthread_mutex_init(&r->lock, NULL);
  r->skip_no_io = skip != 0;
  r->max_queued = maxq;
  snprintf(r->mask, sizeof r->mask, "%s", mask);
  r->arena = malloc((size_t)VLEN * MSG_BYTES);
  if (!r->arena || pipe2(r->wake, O_CLOEXEC) != 0) {
    free_ts(r);
    return throw_errno(env, ENOMEM, "taskstats open");
  }
  r->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (r->fd < 0) {
    int err = errno;
    free_ts(r);
    return throw_errno(env, err, "socket(AF_NETLINK, NETLINK_GENERIC)");
  }
  int forced = 0;
  if (rcvbuf > 0) {
    int want = (int)(rcvbuf > 0x3fffffff ? 0x3fffffff : rcvbuf);
    /* SO_RCVBUFFORCE needs CAP_NET_ADMIN (which taskstats registration needs anyway). */
    if (setsockopt(r->fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0) forced = 1;
    else setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  }
  struct timeval tv = {2, 0};
  setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl me = {.nl_family = AF_NETLINK};
  socklen_t mlen = sizeof me;
  if (bind(r->fd, (struct sockaddr *)&me, sizeof me) != 0 || getsockname(r->fd, (struct sockaddr *)&me, &mlen) != 0) {
    int err = errno;
    free_ts(r);
    return throw_errno(env, err, "bind(netlink)");
  }
  r->portid = me.nl_pid;
  const char name[] = TASKSTATS_GENL_NAME;
  int err = send_request(r, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, name, sizeof name, 0);
  uint16_t family = 0;
  if (!err) err = await_reply(r, r->seq, &family);
  if (err) {
    free_ts(r);
    return throw_errno(env, err, err == ENOENT ? "the TASKSTATS generic netlink family is absent (kernel without CONFIG_TASKSTATS)" : "resolving the TASKSTATS family");
  }
  r->family = family;
  err = send_request(r, family, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, r->mask, strlen(r->mask) + 1, NLM_F_ACK);
  if (!err) err = await_reply(r, r->seq, NULL);
  if (err) {
    free_ts(r);
    return throw_errno(env, err, err == EINVAL ? "registering for taskstats exit records was refused (the kernel takes listeners only from the initial user and pid namespaces, and CPUs it knows)"
                                               : "registering for taskstats exit records (TASKSTATS_CMD_ATTR_REGISTER_CPUMASK)");
  }
  r->registered = 1;
  int fl = fcntl(r->fd, F_GETFL);
  fcntl(r->fd, F_SETFL, fl | O_NONBLOCK);
  int perr = pthread_create(&r->thread, NULL, run, r);
  if (perr) {
    close_ts(r);
    free_ts(r);
    return throw_errno(env, perr, "pthread_create");
  }
  r->thread_started = 1;
  int got = 0;
  socklen_t glen = sizeof got;
  getsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &got, &glen);
  napi_value handle, out, v;
  napi_create_external(env, r, finalize, NULL, &handle);
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", handle);
  napi_create_uint32(env, family, &v);
  napi_set_named_property(env, out, "family", v);
  /* The kernel doubles the size for its bookkeeping and reports the doubled value. */
  napi_create_uint32(env, (uint32_t)got / 2, &v);
  napi_set_named_property(env, out, "rcvbuf", v);
  napi_get_boolean(env, forced, &v);
  napi_set_named_property(env, out, "forced", v);
  napi_create_string_utf8(env, r->mask, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "cpumask", v);
  return out;
}

static ts_t *get_ts(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EINVAL", "expected a taskstats handle");
    return NULL;
  }
  return p;
}

/* take(handle) -> Buffer of count * ENTRY bytes (the entries queued since the last take). */
static napi_value take(napi_env env, napi_callback_info info) {
  ts_t *r = get_ts(env, info);
  if (!r) return NULL;
  pthread_mutex_lock(&r->lock);
  queue_t q = r->cur;
  r->cur = r->spare;
  r->cur.count = 0;
  pthread_mutex_unlock(&r->lock);
  napi_value out;
  void *dst = NULL;
  napi_status st = napi_create_buffer_copy(env, (size_t)q.count * ENTRY, q.count ? q.data : "", &dst, &out);
  q.count = 0;
  pthread_mutex_lock(&r->lock);
  r->spare = q;
  pthread_mutex_unlock(&r->lock);
  if (st != napi_ok) return throw_errno(env, ENOMEM, "take");
  return out;
}

static void set_num(napi_env env, napi_value o, const char *k, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

/* stats(handle) -> counters (see the top of this file); drops: the kernel's sk_drops, exact. */
static napi_value stats(napi_env env, napi_callback_info info) {
  ts_t *r = get_ts(env, info);
  if (!r) return NULL;
  int64_t drops = read_drops(r);
  napi_value o;
  napi_create_object(env, &o);
  pthread_mutex_lock(&r->lock);
  set_num(env, o, "messages", (double)r->messages);
  set_num(env, o, "records", (double)r->records);
  set_num(env, o, "skippedNoIo", (double)r->skipped);
  set_num(env, o, "groupRecords", (double)r->group_records);
  set_num(env, o, "queueDrops", (double)r->queue_drops);
  set_num(env, o, "queued", (double)r->cur.count);
  set_num(env, o, "enobufs", (double)r->enobufs);
  set_num(env, o, "parseErrors", (double)r->parse_errors);
  set_num(env, o, "truncated", (double)r->truncated);
  set_num(env, o, "recvErrors", (double)r->recv_errors);
  set_num(env, o, "lastErrno", (double)r->last_errno);
  pthread_mutex_unlock(&r->lock);
  set_num(env, o, "drops", (double)drops);
  return o;
}

/* close(handle): stop receiving, deregister, close the socket; take() still returns what was queued. */
static napi_value close_handle(napi_env env, napi_callback_info info) {
  ts_t *r = get_ts(env, info);
  if (r) close_ts(r);
  return NULL;
}

/* parse(datagram, familyId, skipNoIo) -> { entries: Buffer, messages, records, skippedNoIo, groupRecords, parseErrors }:
   the receive thread's parser on given bytes (tests feed it real and damaged messages). */
static napi_value parse_one(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  size_t len = 0;
  uint32_t family = 0, skip = 0;
  if (argc < 3 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || napi_get_value_uint32(env, argv[1], &family) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &skip) != napi_ok || family > 0xffff) {
    napi_throw_type_error(env, "EINVAL", "parse(datagram, familyId, skipNoIo)");
    return NULL;
  }
  ts_t *r = calloc(1, sizeof(ts_t));
  if (!r) return throw_errno(env, ENOMEM, "parse");
  r->family = (uint16_t)family;
  r->skip_no_io = skip != 0;
  r->max_queued = 1u << 16;
  /* A private copy: the parser must never read past what it was given (ASan-free check: exact size). */
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    free(r);
    return throw_errno(env, ENOMEM, "parse");
  }
  memcpy(copy, data, len);
  parse_datagram(r, copy, len, 0);
  free(copy);
  napi_value o, b;
  napi_create_object(env, &o);
  napi_create_buffer_copy(env, (size_t)r->cur.count * ENTRY, r->cur.count ? r->cur.data : (void *)"", NULL, &b);
  napi_set_named_property(env, o, "entries", b);
  set_num(env, o, "messages", (double)r->messages);
  set_num(env, o, "records", (double)r->records);
  set_num(env, o, "skippedNoIo", (double)r->skipped);
  set_num(env, o, "groupRecords", (double)r->group_records);
  set_num(env, o, "parseErrors", (double)r->parse_errors);
  free(r->cur.data);
  free(r);
  return o;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, open_ts, NULL, NULL, NULL, napi_default, NULL},
      {"take", NULL, take, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_handle, NULL, NULL, NULL, napi_default, NULL},
      {"parse", NULL, parse_one, NULL, NULL, NULL, napi_default, NULL},
  };
  /* Where the fields are in this header's struct taskstats (tests build messages with it). */
  napi_value layout;
  napi_create_object(env, &layout);
#define OFF(f) set_num(env, layout, #f, (double)offsetof(struct taskstats, f))
  OFF(version); OFF(ac_exitcode); OFF(ac_comm); OFF(ac_uid); OFF(ac_pid); OFF(ac_ppid); OFF(ac_btime); OFF(ac_etime);
  OFF(read_char); OFF(write_char); OFF(read_bytes); OFF(write_bytes); OFF(cancelled_write_bytes); OFF(ac_btime64); OFF(ac_tgid);
#undef OFF
  set_num(env, layout, "size", (double)sizeof(struct taskstats));
  napi_set_named_property(env, exports, "STATS_LAYOUT", layout);
  napi_value v;
  napi_create_uint32(env, ENTRY, &v);
  napi_set_named_property(env, exports, "ENTRY_BYTES", v);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
