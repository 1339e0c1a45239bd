/*
 * Lantern's fanotify reader for the access lists (src/access/fanotify.ts).
 *
 * One fanotify group (FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_REPORT_FID: the kernel gives the
 * acting pid and file handles, no event fds to close), whole filesystems marked with
 * FAN_MARK_FILESYSTEM. A C thread reads the queue as fast as the kernel fills it (so a storm does
 * not overflow the 16,384-event queue while JavaScript is busy), drops repeats of an access it has
 * just reported (same pid, operation, directory handle and name; the table is forgotten when a pid
 * execs and every second, so a new image or a new domain is reported again), resolves directory
 * handles to paths with open_by_handle_at + readlink (cached), and hands records to JavaScript in
 * batches through a thread-safe function. Blocking calls give back-pressure: when JavaScript falls
 * behind, the thread waits, the kernel queue fills, and its FAN_Q_OVERFLOW is counted, never silent.
 *
 * Batch format: records of 5 NUL-terminated fields: op, pid, boottime µs (when read), path, extra.
 * op: r read, w write, x execute, c create, m mkdir, u unlink, d rmdir, n rename (extra = new path);
 * extra of c/m: the octal mode the object has when the event is read ("" if it is gone already).
 *
 * Nothing outlives the group's fd: closing it (stop, process exit, SIGKILL) removes every mark.
 */
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define MAX_MOUNTS 256
#define DEDUP_SLOTS 65536
#define DIRCACHE_SLOTS 4096
#define READ_BYTES (256 * 1024)
#define BATCH_FLUSH (512 * 1024)
/* Records go to JavaScript at least this often (µs), in one batch. */
#define FLUSH_US 20000
/* After a read, wait this long (µs) before the next: see run(). */
#define PAUSE_US 1000

#define EVENT_MASK (FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE | FAN_OPEN_EXEC | FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_ONDIR)

typedef struct {
  __kernel_fsid_t fsid;
  /* Where it was marked. No fd is kept open on it: an open fd would pin the mount, and umount of
     every marked filesystem would fail with EBUSY while the recorder runs. open_by_handle_at's
     mount_fd is opened per lookup (checked to be the same filesystem) and closed again. */
  char *path;
} mount_t;

typedef struct {
  uint64_t key;
  char *path;
} dircache_t;

typedef struct {
  char *data;
  size_t len, cap;
} batch_t;

typedef struct {
  int fan;
  int wake[2];
  pthread_t thread;
  int thread_started;
  volatile int stopping;
  napi_threadsafe_function tsfn;
  pthread_mutex_t lock;
  mount_t mounts[MAX_MOUNTS];
  int nmounts;
  uint64_t dedup[DEDUP_SLOTS];
  uint32_t dedup_used;
  uint64_t dedup_reset_us;
  dircache_t dircache[DIRCACHE_SLOTS];
  uint8_t *exec_gen; /* per pid, bumped at each exec: part of the dedup key */
  uint32_t pid_max;
  pid_t self;
  pid_t ignored[16];
  int nignored;
  /* counters (read by stats(), written by the thread under lock) */
  int refs; /* the handle and the thread-safe function: freed when both are finalized */
  uint64_t events, records, merged, overflows, unresolved, batches, ignored_events, dir_events, read_errors;
} reader_t;

static uint64_t boot_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char code[32], msg[256];
  snprintf(code, sizeof code, "%s", strerrorname_np(err) ? strerrorname_np(err) : "EIO");
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
}

static void batch_put(batch_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 65536;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return; /* out of memory: the record is cut; JS counts malformed records */
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len++] = '\0';
}

/* An fd on the marked filesystem with this fsid (caller closes), or -1: not marked, or
   no longer mounted where it was marked (unmounted, or another filesystem there now). */
static int mount_fd_of(reader_t *r, const __kernel_fsid_t *fsid) {
  for (int i = 0; i < r->nmounts; i++) {
    if (memcmp(&r->mounts[i].fsid, fsid, sizeof *fsid) != 0) continue;
    int fd = open(r->mounts[i].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH: open_by_handle_at refuses one */
    if (fd < 0) return -1;
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0 || memcmp(&sf.f_fsid, fsid, sizeof *fsid) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
  return -1;
}

/* The directory a handle names, as an absolute path (cached by handle), or NULL. Sets *dirfd to an
   O_PATH fd on it when asked (caller closes). */
static const char *dir_path(reader_t *r, const __kernel_fsid_t *fsid, struct file_handle *fh, int *dirfd) {
  uint64_t key = fnv(fsid, sizeof *fsid, 1469598103934665603ULL);
  key = fnv(&fh->handle_type, sizeof fh->handle_type, key);
  key = fnv(fh->f_handle, fh->handle_bytes, key);
  dircache_t *slot = &r->dircache[key % DIRCACHE_SLOTS];
  if (!dirfd && slot->path && slot->key == key) return slot->path;
  int mfd = mount_fd_of(r, fsid);
  if (mfd < 0) return NULL;
  int fd = open_by_handle_at(mfd, fh, O_PATH);
  close(mfd);
  if (fd < 0) return NULL;
  char link[64], buf[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, buf, sizeof buf - 1);
  if (n <= 0) {
    close(fd);
    return NULL;
  }
  buf[n] = '\0';
  if (dirfd) *dirfd = fd;
  else close(fd);
  free(slot->path);
  slot->path = strdup(buf);
  slot->key = key;
  return slot->path;
}

static void forget_dirs(reader_t *r) {
  for (int i = 0; i < DIRCACHE_SLOTS; i++) {
    free(r->dircache[i].path);
    r->dircache[i].path = NULL;
  }
}

/* True when this (pid, op, dir handle, name) was reported since the table was last cleared. */
static int seen_before(reader_t *r, pid_t pid, char op, const struct fanotify_event_info_fid *info, const char *name) {
  struct file_handle *fh = (struct file_handle *)info->handle;
  uint64_t h = fnv(&pid, sizeof pid, 1469598103934665603ULL);
  uint8_t gen = (uint32_t)pid < r->pid_max ? r->exec_gen[pid] : 0;
  h = fnv(&gen, 1, h);
  h = fnv(&op, 1, h);
  h = fnv(&info->fsid, sizeof info->fsid, h);
  h = fnv(fh->f_handle, fh->handle_bytes, h);
  h = fnv(name, strlen(name), h);
  if (h == 0) h = 1;
  if (r->dedup_used > DEDUP_SLOTS / 2) {
    memset(r->dedup, 0, sizeof r->dedup);
    r->dedup_used = 0;
  }
  for (uint32_t i = 0, s = (uint32_t)(h % DEDUP_SLOTS); i < DEDUP_SLOTS; i++, s = (s + 1) % DEDUP_SLOTS) {
    if (r->dedup[s] == h) return 1;
    if (r->dedup[s] == 0) {
      r->dedup[s] = h;
      r->dedup_used++;
      return 0;
    }
  }
  return 0;
}

static int ignored(reader_t *r, pid_t pid) {
  if (pid == r->self) return 1;
  for (int i = 0; i < r->nignored; i++)
    if (r->ignored[i] == pid) return 1;
  return 0;
}

static void emit_record(reader_t *r, batch_t *b, char op, pid_t pid, uint64_t now, const char *path, const char *extra) {
  char num[32];
  char o[2] = {op, 0};
  batch_put(b, o, 1);
  int n = snprintf(num, sizeof num, "%d", (int)pid);
  batch_put(b, num, (size_t)n);
  n = snprintf(num, sizeof num, "%llu", (unsigned long long)now);
  batch_put(b, num, (size_t)n);
  batch_put(b, path, strlen(path));
  batch_put(b, extra, strlen(extra));
  r->records++;
}

/* Join dir + "/" + name into out (PATH_MAX). */
static void join_path(char *out, const char *dir, const char *name) {
  if (!name || !*name || strcmp(name, ".") == 0) snprintf(out, PATH_MAX, "%s", dir);
  else if (strcmp(dir, "/") == 0) snprintf(out, PATH_MAX, "/%s", name);
  else snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

static void handle_event(reader_t *r, batch_t *b, const struct fanotify_event_metadata *m, uint64_t now) {
  r->events++;
  if (m->mask & FAN_Q_OVERFLOW) {
    r->overflows++;
    return;
  }
  if (ignored(r, m->pid)) {
    r->ignored_events++;
    return;
  }
  const struct fanotify_event_info_fid *dfid = NULL, *oldf = NULL, *newf = NULL;
  for (size_t off = m->metadata_len; off + sizeof(struct fanotify_event_info_header) <= m->event_len;) {
    const struct fanotify_event_info_header *h = (const void *)((const char *)m + off);
    if (h->len == 0) break;
    if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME || (h->info_type == FAN_EVENT_INFO_TYPE_DFID && !dfid)) dfid = (const void *)h;
    else if (h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME) oldf = (const void *)h;
    else if (h->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) newf = (const void *)h;
    off += h->len;
  }
  int isdir = (m->mask & FAN_ONDIR) != 0;
  if (m->mask & FAN_OPEN_EXEC && (uint32_t)m->pid < r->pid_max) r->exec_gen[m->pid]++;
  if (m->mask & FAN_RENAME) {
    if (oldf && newf) {
      const char *on = (const char *)(((struct file_handle *)oldf->handle)->f_handle + ((struct file_handle *)oldf->handle)->handle_bytes);
      const char *nn = (const char *)(((struct file_handle *)newf->handle)->f_handle + ((struct file_handle *)newf->handle)->handle_bytes);
      const char *od = dir_path(r, &oldf->fsid, (struct file_handle *)oldf->handle, NULL);
      char op_[PATH_MAX], np_[PATH_MAX];
      if (od) {
        join_path(op_, od, on);
        const char *nd = dir_path(r, &newf->fsid, (struct file_handle *)newf->handle, NULL);
        if (nd) {
          join_path(np_, nd, nn);
          emit_record(r, b, 'n', m->pid, now, op_, np_);
        } else r->unresolved++;
      } else r->unresolved++;
    }
    if (isdir) forget_dirs(r); /* a renamed directory changes every cached path under it */
  }
  if (!dfid) return;
  struct file_handle *fh = (struct file_handle *)dfid->handle;
  const char *name = dfid->hdr.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ? (const char *)(fh->f_handle + fh->handle_bytes) : "";
  /* Directory reads (readdir) and writes are not accesses we list; only mkdir/rmdir of a directory. */
  char ops[8];
  int nops = 0;
  if (isdir) {
    if (m->mask & FAN_CREATE) ops[nops++] = 'm';
    if (m->mask & FAN_DELETE) {
      ops[nops++] = 'd';
    }
    if (!nops) {
      r->dir_events++;
      return;
    }
  } else {
    if (m->mask & FAN_CREATE) ops[nops++] = 'c';
    if (m->mask & FAN_DELETE) ops[nops++] = 'u';
    if (m->mask & FAN_OPEN_EXEC) ops[nops++] = 'x';
    if (m->mask & (FAN_MODIFY | FAN_CLOSE_WRITE)) ops[nops++] = 'w';
    /* The kernel reading an image it execs is the execute, not a read by the program. */
    if (m->mask & (FAN_ACCESS | FAN_CLOSE_NOWRITE) && !(m->mask & FAN_OPEN_EXEC)) ops[nops++] = 'r';
  }
  for (int i = 0; i < nops; i++) {
    char op = ops[i];
    if (seen_before(r, m->pid, op, dfid, name)) {
      r->merged++;
      continue;
    }
    int dirfd = -1;
    int want_mode = op == 'c' || op == 'm';
    const char *dir = dir_path(r, &dfid->fsid, fh, want_mode ? &dirfd : NULL);
    if (!dir && want_mode) dir = dir_path(r, &dfid->fsid, fh, NULL);
    if (!dir) {
      r->unresolved++;
      emit_record(r, b, op, m->pid, now, "", name); /* counted in JS as unresolved, never dropped silently */
      continue;
    }
    char full[PATH_MAX];
    join_path(full, dir, name);
    char extra[16] = "";
    if (dirfd >= 0) {
      struct stat st;
      if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) snprintf(extra, sizeof extra, "%04o", st.st_mode & 07777);
      close(dirfd);
    }
    emit_record(r, b, op, m->pid, now, full, extra);
  }
  if (isdir && (m->mask & FAN_DELETE)) forget_dirs(r);
}

static void flush(reader_t *r, batch_t *b) {
  if (!b->len) return;
  batch_t *out = malloc(sizeof *out);
  if (!out) return;
  *out = *b;
  memset(b, 0, sizeof *b);
  pthread_mutex_lock(&r->lock);
  r->batches++;
  pthread_mutex_unlock(&r->lock);
  if (napi_call_threadsafe_function(r->tsfn, out, napi_tsfn_blocking) != napi_ok) {
    free(out->data);
    free(out);
  }
}

static void *run(void *arg) {
  reader_t *r = arg;
  char *buf = aligned_alloc(8, READ_BYTES);
  batch_t b = {0};
  uint64_t last_flush = boot_us();
  struct pollfd p[2] = {{.fd = r->fan, .events = POLLIN}, {.fd = r->wake[0], .events = POLLIN}};
  while (buf && !r->stopping) {
    /* With records waiting, wake in time to hand them over (FLUSH_US); otherwise sleep on the queue. */
    int n = poll(p, 2, b.len ? FLUSH_US / 1000 : 1000);
    if (r->stopping) break;
    uint64_t now = boot_us();
    if (now - r->dedup_reset_us > 1000000) {
      memset(r->dedup, 0, sizeof r->dedup);
      r->dedup_used = 0;
      r->dedup_reset_us = now;
    }
    if (n > 0 && (p[0].revents & POLLIN)) {
      for (;;) {
        ssize_t len = read(r->fan, buf, READ_BYTES);
        if (len < 0) {
          if (errno != EAGAIN && errno != EINTR) r->read_errors++;
          break;
        }
        now = boot_us();
        pthread_mutex_lock(&r->lock);
        for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
          if (m->vers != FANOTIFY_METADATA_VERSION) continue;
          handle_event(r, &b, m, now);
        }
        pthread_mutex_unlock(&r->lock);
        if (b.len >= BATCH_FLUSH) {
          flush(r, &b);
          last_flush = now;
        }
        if (len < READ_BYTES / 2) break;
      }
      /* Let the kernel queue (and merge repeats) for a moment: far fewer, fuller reads in a storm,
         at the cost of stamping an access up to PAUSE_US late. The queue holds 16,384 events. */
      usleep(PAUSE_US);
    }
    if (b.len && (boot_us() - last_flush >= FLUSH_US || n == 0)) {
      flush(r, &b);
      last_flush = boot_us();
    }
  }
  flush(r, &b);
  free(buf);
  free(b.data);
  close(r->fan); /* removes every mark */
  r->fan = -1;
  napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_blocking); /* end marker */
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  return NULL;
}

static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  if (!env) {
    if (data) {
      free(((batch_t *)data)->data);
      free(data);
    }
    return;
  }
  napi_value arg, undef;
  napi_get_undefined(env, &undef);
  if (data) {
    batch_t *b = data;
    void *copy;
    napi_create_buffer_copy(env, b->len, b->data, &copy, &arg);
    free(b->data);
    free(b);
  } else {
    napi_get_null(env, &arg);
  }
  napi_call_function(env, undef, cb, 1, &arg, NULL);
}

static void free_reader(reader_t *r) {
  for (int i = 0; i < r->nmounts; i++) free(r->mounts[i].path);
  forget_dirs(r);
  if (r->wake[0] >= 0) close(r->wake[0]);
  if (r->wake[1] >= 0) close(r->wake[1]);
  if (r->fan >= 0) close(r->fan);
  free(r->exec_gen);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

static void release_ref(reader_t *r) {
  if (--r->refs == 0) free_reader(r);
}

/* The thread has ended: its counters stay readable through the handle until that is collected. */
static void tsfn_finalize(napi_env env, void *data, void *hint) {
  reader_t *r = data;
  if (r->thread_started) pthread_join(r->thread, NULL);
  r->thread_started = 0;
  free(r->exec_gen);
  r->exec_gen = NULL;
  forget_dirs(r);
  release_ref(r);
}

static void handle_finalize(napi_env env, void *data, void *hint) { release_ref(data); }

/* start(onBatch) → handle: a new fanotify group (no marks yet) and its reader thread. */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  reader_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, ENOMEM, "start");
  r->wake[0] = r->wake[1] = -1;
  pthread_mutex_init(&r->lock, NULL);
  r->self = getpid();
  r->pid_max = 4194304;
  r->exec_gen = calloc(r->pid_max, 1);
  r->fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (r->fan < 0) {
    int e = errno;
    free_reader(r);
    return throw_errno(env, e, "fanotify_init");
  }
  if (!r->exec_gen || pipe2(r->wake, O_CLOEXEC) != 0) {
    free_reader(r);
    return throw_errno(env, ENOMEM, "start");
  }
  napi_value name;
  napi_create_string_utf8(env, "lantern-fanotify", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 8, 1, r, tsfn_finalize, r, call_js, &r->tsfn) != napi_ok) {
    free_reader(r);
    napi_throw_error(env, "EINVAL", "napi_create_threadsafe_function failed");
    return NULL;
  }
  r->refs = 2;
  napi_value handle;
  napi_create_external(env, r, handle_finalize, NULL, &handle);
  return handle;
}

static reader_t *get_reader(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_get_cb_info(env, info, argc, argv, NULL, NULL);
  void *p = NULL;
  if (*argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EINVAL", "expected a fanotify handle");
    return NULL;
  }
  return p;
}

/* mark(handle, path): mark the filesystem holding path. Returns null, or the errno name. */
static napi_value mark(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  reader_t *r = get_reader(env, info, &argc, argv);
  if (!r) return NULL;
  char path[PATH_MAX];
  size_t len;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[1], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected a path");
    return NULL;
  }
  int err = 0;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct statfs sf;
  pthread_mutex_lock(&r->lock);
  if (fd < 0) err = errno;
  else if (fstatfs(fd, &sf) != 0) err = errno;
  else if (r->nmounts >= MAX_MOUNTS) err = ENOSPC;
  else if (r->fan < 0) err = EBADF;
  else if (fanotify_mark(r->fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, EVENT_MASK, AT_FDCWD, path) != 0) err = errno;
  if (!err) {
    memcpy(&r->mounts[r->nmounts].fsid, &sf.f_fsid, sizeof sf.f_fsid);
    r->mounts[r->nmounts].path = strdup(path);
    if (r->mounts[r->nmounts].path) r->nmounts++;
    else err = ENOMEM;
  }
  if (fd >= 0) close(fd);
  pthread_mutex_unlock(&r->lock);
  if (!err) {
    napi_get_null(env, &out);
    return out;
  }
  napi_create_string_utf8(env, strerrorname_np(err) ? strerrorname_np(err) : "EIO", NAPI_AUTO_LENGTH, &out);
  return out;
}

/* run(handle): start the reader thread (after the first marks). */
static napi_value run_thread(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  reader_t *r = get_reader(env, info, &argc, argv);
  if (!r || r->thread_started) return NULL;
  int err = pthread_create(&r->thread, NULL, run, r);
  if (err) return throw_errno(env, err, "pthread_create");
  r->thread_started = 1;
  return NULL;
}

/* ignore(handle, pid): events of this pid are not reported (the recorder's own helpers). */
static napi_value ignore(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  reader_t *r = get_reader(env, info, &argc, argv);
  if (!r) return NULL;
  int32_t pid = 0;
  napi_get_value_int32(env, argv[1], &pid);
  pthread_mutex_lock(&r->lock);
  if (r->nignored < 16) r->ignored[r->nignored++] = pid;
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

/* stop(handle): the thread ends, closes the group (every mark goes with it) and sends null. */
static napi_value stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  reader_t *r = get_reader(env, info, &argc, argv);
  if (!r) return NULL;
  if (r->stopping) return NULL;
  r->stopping = 1;
  if (!r->thread_started) {
    /* never ran: close here; the function's finalizer frees the rest */
    close(r->fan);
    r->fan = -1;
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
    return NULL;
  }
  ssize_t w = write(r->wake[1], "x", 1);
  (void)w;
  return NULL;
}

/* clockOffsetNs(): CLOCK_BOOTTIME - CLOCK_MONOTONIC now (time spent suspended), read back to back,
   so a bpftrace nsecs (monotonic) is put on the boot clock exactly. */
static napi_value clock_offset(napi_env env, napi_callback_info info) {
  struct timespec m, b;
  clock_gettime(CLOCK_MONOTONIC, &m);
  clock_gettime(CLOCK_BOOTTIME, &b);
  double off = ((double)b.tv_sec - (double)m.tv_sec) * 1e9 + ((double)b.tv_nsec - (double)m.tv_nsec);
  napi_value out;
  napi_create_double(env, off, &out);
  return out;
}

static void set_num(napi_env env, napi_value o, const char *k, uint64_t v) {
  napi_value n;
  napi_create_double(env, (double)v, &n);
  napi_set_named_property(env, o, k, n);
}

static napi_value stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], o;
  reader_t *r = get_reader(env, info, &argc, argv);
  if (!r) return NULL;
  napi_create_object(env, &o);
  pthread_mutex_lock(&r->lock);
  set_num(env, o, "events", r->events);
  set_num(env, o, "records", r->records);
  set_num(env, o, "merged", r->merged);
  set_num(env, o, "overflows", r->overflows);
  set_num(env, o, "unresolved", r->unresolved);
  set_num(env, o, "batches", r->batches);
  set_num(env, o, "ignored", r->ignored_events);
  set_num(env, o, "dirEvents", r->dir_events);
  set_num(env, o, "readErrors", r->read_errors);
  set_num(env, o, "marks", (uint64_t)r->nmounts);
  pthread_mutex_unlock(&r->lock);
  return o;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"mark", NULL, mark, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, run_thread, NULL, NULL, NULL, napi_default, NULL},
      {"ignore", NULL, ignore, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, stop, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"clockOffsetNs", NULL, clock_offset, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
