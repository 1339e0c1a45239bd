/*
 * netconsole-recv: the native receive path of `lantern netconsole listen`.
 *
 * One pthread per receiver drains its UDP sockets with recvmmsg() and hands the datagrams to
 * JavaScript in batches: one threadsafe-function call per batch instead of one callback, Buffer
 * and rinfo object per datagram. Draining never waits for JavaScript; only when more than
 * maxQueuedBytes of batches are waiting for JS does the thread stop reading (the kernel's
 * socket buffer then holds the rest).
 *
 * Batch buffer layout handed to JS (little endian), `count` entries of ENTRY bytes, then payloads:
 *   u32 payload offset (from the start of the payload area)   u32 stored length
 *   u32 length on the wire (> stored length: truncated)       u8 family (4 or 6)   u8 flags
 *   u16 sender port                                           u8[16] sender address (v4 in the first 4)
 *   f64 receive time, µs since the epoch (kernel timestamp, SO_TIMESTAMPNS)
 * Nothing here interprets payload bytes.
 */
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

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

#define ENTRY 40
#define MAX_FDS 64
#define FLAG_TRUNCATED 1

typedef struct batch {
  uint32_t count;
  uint32_t max_entries;
  uint32_t payload_used;
  uint32_t payload_cap;
  uint8_t *entries;  /* max_entries * ENTRY */
  uint8_t *payload;  /* payload_cap */
} batch_t;

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
  uint8_t *controls;     /* vlen * CONTROL_BYTES */
  uint32_t drops[MAX_FDS];
  pthread_t thread;
  int thread_started;
  int joined;
  int refs;               /* the JS handle and the threadsafe function: freed when both are gone */
  pthread_mutex_t lock;
  pthread_cond_t room;
  size_t queued;         /* bytes of batches not yet acknowledged by JS */
  int stopping;
  uint64_t waits;        /* times the thread waited for JS (queue full) */
  napi_threadsafe_function tsfn;
  napi_env env;
} receiver_t;

#define CONTROL_BYTES 128

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
  /* Every datagram needs at least 0 payload bytes: bound entries separately. */
  b->max_entries = 16384;
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

/* A filled batch as handed over: exactly its bytes (entries, then payloads), so a queue of
   small batches costs their size and not the working batch's capacity. */
typedef struct packed {
  uint32_t count;
  size_t size;
  uint8_t data[];
} packed_t;

/* Hand the batch's content to JS and empty it; waits while too much is queued (unless
   stopping). b NULL = end marker. */
static void emit(receiver_t *r, batch_t *b) {
  packed_t *pk = NULL;
  size_t size = 0;
  if (b) {
    size = batch_size(b);
    pk = malloc(sizeof(packed_t) + size);
    if (!pk) {
      b->count = 0; /* out of memory: this batch is lost (rare; nothing else to do) */
      b->payload_used = 0;
      return;
    }
    pk->count = b->count;
    pk->size = size;
    memcpy(pk->data, b->entries, (size_t)b->count * ENTRY);
    memcpy(pk->data + (size_t)b->count * ENTRY, b->payload, b->payload_used);
    b->count = 0;
    b->payload_used = 0;
  }
  pthread_mutex_lock(&r->lock);
  if (pk && r->queued + size > r->max_queued && r->queued > 0) r->waits++;
  while (pk && !r->stopping && r->queued > 0 && r->queued + size > r->max_queued) pthread_cond_wait(&r->room, &r->lock);
  r->queued += size;
  pthread_mutex_unlock(&r->lock);
  if (napi_call_threadsafe_function(r->tsfn, pk, napi_tsfn_blocking) != napi_ok) free(pk);
}

static uint32_t total_drops(receiver_t *r) {
  uint32_t t = 0;
  for (int i = 0; i < r->nfds; i++) t += r->drops[i];
  return t;
}

/* Append the datagrams of one recvmmsg() to the batch, emitting full batches. */
static void take_messages(receiver_t *r, int fdi, int n, batch_t *b) {
  double fallback_time = now_us();
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &r->msgs[i].msg_hdr;
    uint32_t wire = r->msgs[i].msg_len; /* with MSG_TRUNC: the real length */
    uint32_t stored = wire > r->slot_bytes ? (uint32_t)r->slot_bytes : wire;
    if (b->count >= b->max_entries || b->payload_used + stored > b->payload_cap) emit(r, b);
    double t = fallback_time;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SO_TIMESTAMPNS) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        t = (double)ts.tv_sec * 1e6 + (double)(ts.tv_nsec / 1000);
      } else if (c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t d;
        memcpy(&d, CMSG_DATA(c), sizeof d);
        r->drops[fdi] = d;
      }
    }
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
    h->msg_control = r->controls + (size_t)i * CONTROL_BYTES;
    h->msg_controllen = CONTROL_BYTES;
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
  batch_t *b = batch_new(r); /* the working batch, reused */
  if (!b) {
    emit(r, NULL);
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
    return NULL;
  }
  for (;;) {
    int p = poll(pfds, (nfds_t)r->nfds + 1, -1);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfds[r->nfds].revents) break;
    int busy = 1;
    /* Drain every readable socket until it is empty (or a stop is asked). */
    while (busy) {
      busy = 0;
      for (int i = 0; i < r->nfds; i++) {
        if (!(pfds[i].revents & POLLIN)) continue;
        reset_headers(r);
        int n = recvmmsg(r->fds[i], r->msgs, r->vlen, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (n <= 0) {
          pfds[i].revents = 0; /* empty (EAGAIN) or an error: back to poll() */
          continue;
        }
        take_messages(r, i, n, b);
        if ((unsigned)n == r->vlen) busy = 1;
        else pfds[i].revents = 0;
      }
      pthread_mutex_lock(&r->lock);
      int stop = r->stopping;
      pthread_mutex_unlock(&r->lock);
      if (stop) break;
    }
    if (b->count) emit(r, b);
  }
  if (b->count) emit(r, b);
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

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  receiver_t *r = context;
  packed_t *b = data;
  if (!env) {
    free(b);
    return;
  }
  napi_value argv[3], undef;
  napi_get_undefined(env, &undef);
  uint32_t drops = total_drops(r);
  if (!b) {
    napi_get_null(env, &argv[0]);
    napi_create_uint32(env, 0, &argv[1]);
  } else {
    napi_create_buffer_copy(env, b->size, b->data, NULL, &argv[0]);
    napi_create_uint32(env, b->count, &argv[1]);
    free(b);
  }
  napi_create_uint32(env, drops, &argv[2]);
  napi_call_function(env, undef, cb, 3, argv, NULL);
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
  if (r->arena) munmap(r->arena, (size_t)r->vlen * r->slot_bytes);
  free(r->msgs);
  free(r->iovs);
  free(r->addrs);
  free(r->controls);
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

/* openSocket(family 4|6, address, port, rcvbuf) -> { fd, port, rcvbuf, forced } */
static napi_value open_socket(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
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
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
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

/* start(fds[], { vlen, slotBytes, batchBytes, maxQueuedBytes }, onBatch(buf|null, count, drops)) -> handle */
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
  r->controls = calloc(vlen, CONTROL_BYTES);
  if (!r->msgs || !r->iovs || !r->addrs || !r->controls || pipe2(r->wake, O_CLOEXEC) != 0) {
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

/* ack(handle, bytes): JS has processed this many batch bytes; the thread may read on. */
static napi_value ack(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  receiver_t *r = get_receiver(env, info, &argc, argv);
  if (!r) return NULL;
  double bytes = 0;
  if (argc >= 2) napi_get_value_double(env, argv[1], &bytes);
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

/* stats(handle) -> { queuedBytes, waits, drops } */
static napi_value stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  receiver_t *r = get_receiver(env, info, &argc, argv);
  if (!r) return NULL;
  pthread_mutex_lock(&r->lock);
  double queued = (double)r->queued, waits = (double)r->waits;
  pthread_mutex_unlock(&r->lock);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_double(env, queued, &v);
  napi_set_named_property(env, out, "queuedBytes", v);
  napi_create_double(env, waits, &v);
  napi_set_named_property(env, out, "waits", v);
  napi_create_uint32(env, total_drops(r), &v);
  napi_set_named_property(env, out, "drops", v);
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
  };
  napi_value entry;
  napi_create_uint32(env, ENTRY, &entry);
  napi_set_named_property(env, exports, "ENTRY_BYTES", entry);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
