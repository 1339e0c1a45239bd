/*
 * One call per small kernel file, for the Host's reads of the live /proc and /sys (src/host/host.ts
 * readKernelFile): `lantern check` reads two files of every process, 20,000 on a host with 10,000
 * processes, and Node's openSync + fstatSync + readSync + closeSync cost about as much again as
 * the kernel's own work on them (four calls, a Stats object and an exception per missing file).
 *
 *   read(path, cap, wholeInOneRead) -> string | [string, size] | number
 *
 * The same guarantees as the JavaScript path, in the same order: open O_RDONLY | O_NONBLOCK |
 * O_NOCTTY | O_CLOEXEC (never blocks, never becomes the controlling terminal), fstat on the open
 * descriptor and nothing read unless it is a regular file, at most cap bytes returned.
 *   string           the whole file (at most cap bytes), decoded as UTF-8
 *   [string, size]   the file was longer than cap: its first cap bytes, and its size (the bytes
 *                    counted, or st_size when larger)
 *   number < 0       -errno of the open or fstat that failed, -(errno + 4096) of a failed read
 *   number >= 0      not a regular file: its st_mode & S_IFMT (nothing was read)
 * wholeInOneRead: a read shorter than asked is the file's end (seq_file single_open files such
 * as /proc/<pid>/stat give themselves whole), so no second read is made to be told so.
 *
 *   readMany(paths, cap, wholeInOneRead, threads) -> array of read()'s results, in order
 *
 * The same for many files, read by up to `threads` threads (this one included): the per-process
 * scan is kernel work (building each file), which a second core halves. The threads only open,
 * read and close into their own memory; JavaScript values are made on this thread afterwards.
 * Error results of a failed read (not open or fstat) are -(errno + 4096), in both calls.
 *
 *   readManyAsync(paths, cap, wholeInOneRead, threads) -> Promise of readMany's array
 *
 * The same on a thread of libuv's pool (with its helpers), so the JavaScript thread can start the
 * check's commands meanwhile.
 *
 *   readPidsAsync(dir, files, cap, wholeInOneRead, threads) -> Promise of [pids, results]
 *
 * The same for files[j] of every process: `dir` (the live "/proc") is listed on the pool's thread
 * too, so the JavaScript thread neither lists 10,000 entries nor builds and hands over 20,000
 * paths. pids: the all-digit names of dir, sorted as JavaScript sorts strings (byte order for
 * digits); results: readMany's array for the paths dir/pid/file, file by file (all pids of
 * files[0] first). A dir that cannot be listed gives [[], []].
 */
#include <dirent.h>
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define READ_PHASE 4096

/* One buffer for read(), grown to the largest cap + 1 asked; calls come from one JavaScript thread. */
static char *buf;
static size_t buf_size;

/*
 * Open, check and read one file into `into` (cap + 1 bytes of room). Returns the bytes read
 * (cap + 1 means longer than cap), or a result code as above through *code (then returns -1).
 */
static ssize_t read_into(const char *path, char *into, size_t cap, bool whole, double *size, double *code) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    *code = -errno;
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *code = -errno;
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    *code = st.st_mode & S_IFMT;
    close(fd);
    return -1;
  }
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fd, into + total, cap + 1 - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      *code = -(errno + READ_PHASE);
      close(fd);
      return -1;
    }
    if (n == 0) break;
    total += (size_t)n;
    if (whole && total <= cap) break;
    if (total > cap) break;
  }
  close(fd);
  *size = (double)total;
  if (total > cap && (double)st.st_size > *size) *size = (double)st.st_size;
  return (ssize_t)total;
}

/* read()'s JavaScript result for bytes read (or a code). */
static napi_value result_of(napi_env env, const char *data, ssize_t total, size_t cap, double size, double code) {
  if (total < 0) return number(env, code);
  napi_value text;
  if (napi_create_string_utf8(env, data, (size_t)total > cap ? cap : (size_t)total, &text) != napi_ok) return NULL;
  if ((size_t)total <= cap) return text;
  napi_value pair;
  napi_create_array_with_length(env, 2, &pair);
  napi_set_element(env, pair, 0, text);
  napi_set_element(env, pair, 1, number(env, size));
  return pair;
}

static napi_value read_file(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "read(path, cap, wholeInOneRead)");
    return NULL;
  }
  char path[4096];
  size_t plen;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok || plen >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "read: path must be a string shorter than 4095 bytes");
    return NULL;
  }
  int64_t cap64;
  bool whole = false;
  napi_get_value_int64(env, argv[1], &cap64);
  napi_get_value_bool(env, argv[2], &whole);
  if (cap64 < 0 || cap64 > (1 << 30)) {
    napi_throw_range_error(env, NULL, "read: cap out of range");
    return NULL;
  }
  size_t cap = (size_t)cap64;
  if (buf_size < cap + 1) {
    char *grown = realloc(buf, cap + 1);
    if (!grown) return number(env, -ENOMEM);
    buf = grown;
    buf_size = cap + 1;
  }

  double size = 0, code = 0;
  ssize_t total = read_into(path, buf, cap, whole, &size, &code);
  return result_of(env, buf, total, cap, size, code);
}

/* One file of readMany: its path, then what its read gave. */
struct entry {
  char *path;
  char *data;
  ssize_t total;
  double size, code;
};

struct batch {
  struct entry *entries;
  size_t count, cap;
  bool whole;
  int threads;
  atomic_size_t next;
  /* readManyAsync only: */
  napi_deferred deferred;
  napi_async_work work;
  /* readPidsAsync only: the directory, the file names, and the pids found (set on the pool's thread). */
  char *dir;
  char **files;
  size_t nfiles;
  char **pids;
  size_t npids;
};

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List b->dir's all-digit entries and make b->entries of b->files for each; false when out of memory. */
static bool list_pids(struct batch *b) {
  DIR *d = opendir(b->dir);
  if (!d) return true; /* nothing to read: [[], []] */
  size_t room = 1024;
  b->pids = malloc(room * sizeof *b->pids);
  struct dirent *de = NULL;
  while (b->pids && (de = readdir(d))) {
    const char *n = de->d_name;
    size_t len = strspn(n, "0123456789");
    if (len == 0 || n[len] != '\0' || len > 20) continue;
    if (b->npids == room) {
      char **more = realloc(b->pids, (room *= 2) * sizeof *b->pids);
      if (!more) break;
      b->pids = more;
    }
    if (!(b->pids[b->npids] = strdup(n))) break;
    b->npids++;
  }
  closedir(d);
  if (!b->pids || de) return false;
  qsort(b->pids, b->npids, sizeof *b->pids, compare_names);
  b->count = b->npids * b->nfiles;
  b->entries = calloc(b->count ? b->count : 1, sizeof(struct entry));
  if (!b->entries) return false;
  for (size_t j = 0; j < b->nfiles; j++)
    for (size_t i = 0; i < b->npids; i++) {
      size_t need = strlen(b->dir) + strlen(b->pids[i]) + strlen(b->files[j]) + 3;
      char *path = malloc(need);
      if (!path) return false;
      snprintf(path, need, "%s/%s/%s", b->dir, b->pids[i], b->files[j]);
      b->entries[j * b->npids + i].path = path;
    }
  return true;
}

/* Entries are claimed in runs of 32 from a shared counter: both threads stay busy to the end. */
static void *read_batch(void *arg) {
  struct batch *b = arg;
  char *scratch = malloc(b->cap + 1);
  for (;;) {
    size_t from = atomic_fetch_add(&b->next, 32);
    if (from >= b->count) break;
    size_t to = from + 32 < b->count ? from + 32 : b->count;
    for (size_t i = from; i < to; i++) {
      struct entry *e = &b->entries[i];
      if (!scratch) {
        e->total = -1;
        e->code = -ENOMEM;
        continue;
      }
      e->total = read_into(e->path, scratch, b->cap, b->whole, &e->size, &e->code);
      if (e->total > 0) {
        e->data = malloc((size_t)e->total);
        if (e->data) memcpy(e->data, scratch, (size_t)e->total);
        else {
          e->total = -1;
          e->code = -ENOMEM;
        }
      }
    }
  }
  free(scratch);
  return NULL;
}

/* Read every entry with b->threads threads, the calling one included. Touches no JavaScript value. */
static void run_batch(struct batch *b) {
  pthread_t helpers[8];
  int started = 0;
  /* No helper thread for a small batch: starting one costs more than it saves. */
  for (int t = 1; t < b->threads && b->count >= 256; t++)
    if (pthread_create(&helpers[started], NULL, read_batch, b) == 0) started++;
  read_batch(b);
  for (int t = 0; t < started; t++) pthread_join(helpers[t], NULL);
}

static void free_batch(struct batch *b) {
  for (size_t i = 0; b->entries && i < b->count; i++) {
    free(b->entries[i].path);
    free(b->entries[i].data);
  }
  free(b->entries);
  for (size_t i = 0; i < b->nfiles; i++) free(b->files[i]);
  free(b->files);
  for (size_t i = 0; i < b->npids; i++) free(b->pids[i]);
  free(b->pids);
  free(b->dir);
  free(b);
}

/* The arguments of readMany / readManyAsync as a batch to run; NULL with an exception pending. */
static struct batch *batch_of(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_array = false;
  if (argc < 4 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  uint32_t count;
  int64_t cap64;
  int32_t threads;
  bool whole = false;
  napi_get_array_length(env, argv[0], &count);
  napi_get_value_int64(env, argv[1], &cap64);
  napi_get_value_bool(env, argv[2], &whole);
  napi_get_value_int32(env, argv[3], &threads);
  if (cap64 < 0 || cap64 > (1 << 24)) {
    napi_throw_range_error(env, NULL, "readMany: cap out of range");
    return NULL;
  }
  struct batch *b = calloc(1, sizeof *b);
  if (b) b->entries = calloc(count ? count : 1, sizeof(struct entry));
  if (!b || !b->entries) {
    free(b);
    napi_throw_error(env, "ENOMEM", "readMany: out of memory");
    return NULL;
  }
  b->count = count;
  b->cap = (size_t)cap64;
  b->whole = whole;
  b->threads = threads < 1 ? 1 : threads > 8 ? 8 : threads;
  atomic_init(&b->next, 0);
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    char path[4096];
    size_t plen;
    napi_get_element(env, argv[0], i, &v);
    if (napi_get_value_string_utf8(env, v, path, sizeof path, &plen) != napi_ok || plen >= sizeof path - 1) {
      free_batch(b);
      napi_throw_type_error(env, NULL, "readMany: each path must be a string shorter than 4095 bytes");
      return NULL;
    }
    b->entries[i].path = strdup(path);
    if (!b->entries[i].path) {
      free_batch(b);
      napi_throw_error(env, "ENOMEM", "readMany: out of memory");
      return NULL;
    }
  }
  return b;
}

/* The batch's results as read() gives each, in order; NULL with an exception pending. */
static napi_value batch_results(napi_env env, struct batch *b) {
  napi_value out;
  if (napi_create_array_with_length(env, b->count, &out) != napi_ok) return NULL;
  for (size_t i = 0; i < b->count; i++) {
    struct entry *e = &b->entries[i];
    napi_value v = result_of(env, e->data ? e->data : "", e->total, b->cap, e->size, e->code);
    if (!v) return NULL;
    napi_set_element(env, out, (uint32_t)i, v);
  }
  return out;
}

static napi_value read_many(napi_env env, napi_callback_info info) {
  struct batch *b = batch_of(env, info, "readMany(paths, cap, wholeInOneRead, threads)");
  if (!b) return NULL;
  run_batch(b);
  napi_value out = batch_results(env, b);
  free_batch(b);
  return out;
}

static void execute_batch(napi_env env, void *data) {
  run_batch(data);
}

/* Resolve the batch's promise with out, or reject it (the pending exception, else `fallback`); then free it. */
static void settle_batch(napi_env env, struct batch *b, napi_value out, const char *fallback) {
  if (out) napi_resolve_deferred(env, b->deferred, out);
  else {
    napi_value err = NULL, msg;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &err);
    if (!err) {
      napi_create_string_utf8(env, fallback, NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &err);
    }
    napi_reject_deferred(env, b->deferred, err);
  }
  napi_delete_async_work(env, b->work);
  free_batch(b);
}

/* The promise of b, run by `execute` on libuv's pool and settled by `complete` (rejected at once when it cannot be queued). */
static napi_value queue_batch(napi_env env, struct batch *b, const char *name, napi_async_execute_callback execute, napi_async_complete_callback complete) {
  napi_value promise, resource;
  napi_create_promise(env, &b->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (napi_create_async_work(env, NULL, resource, execute, complete, b, &b->work) != napi_ok || napi_queue_async_work(env, b->work) != napi_ok) {
    napi_value msg, err;
    napi_create_string_utf8(env, "kernfile: cannot queue the batch", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, b->deferred, err);
    free_batch(b);
  }
  return promise;
}

static void complete_batch(napi_env env, napi_status status, void *data) {
  struct batch *b = data;
  settle_batch(env, b, status == napi_ok ? batch_results(env, b) : NULL, "readManyAsync: the batch was cancelled or its results could not be made");
}

/* readMany on a worker of libuv's pool (and its helper threads): the event loop runs meanwhile. */
static napi_value read_many_async(napi_env env, napi_callback_info info) {
  struct batch *b = batch_of(env, info, "readManyAsync(paths, cap, wholeInOneRead, threads)");
  return b ? queue_batch(env, b, "kernfile.readManyAsync", execute_batch, complete_batch) : NULL;
}

/* A string argument copied out, at most 255 bytes (a directory or a file name); NULL when it is not one. */
static char *short_string(napi_env env, napi_value v) {
  char text[256];
  size_t len;
  if (napi_get_value_string_utf8(env, v, text, sizeof text, &len) != napi_ok || len >= sizeof text - 1 || len == 0) return NULL;
  return strdup(text);
}

static void execute_pids(napi_env env, void *data) {
  struct batch *b = data;
  if (!list_pids(b)) b->threads = -1; /* out of memory: rejected on completion */
  else run_batch(b);
}

static void complete_pids(napi_env env, napi_status status, void *data) {
  struct batch *b = data;
  napi_value out = NULL, pids, results;
  if (status == napi_ok && b->threads > 0 && napi_create_array_with_length(env, b->npids, &pids) == napi_ok) {
    bool ok = true;
    for (size_t i = 0; ok && i < b->npids; i++) {
      napi_value v;
      ok = napi_create_string_utf8(env, b->pids[i], NAPI_AUTO_LENGTH, &v) == napi_ok && napi_set_element(env, pids, (uint32_t)i, v) == napi_ok;
    }
    results = ok ? batch_results(env, b) : NULL;
    if (results && napi_create_array_with_length(env, 2, &out) == napi_ok) {
      napi_set_element(env, out, 0, pids);
      napi_set_element(env, out, 1, results);
    } else out = NULL;
  }
  settle_batch(env, b, out, "readPidsAsync: out of memory, cancelled, or its results could not be made");
}

static napi_value read_pids_async(napi_env env, napi_callback_info info) {
  const char *usage = "readPidsAsync(dir, files, cap, wholeInOneRead, threads)";
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_array = false;
  uint32_t nfiles = 0;
  if (argc < 5 || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &nfiles) != napi_ok || nfiles == 0 || nfiles > 16) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  int64_t cap64;
  int32_t threads;
  bool whole = false;
  napi_get_value_int64(env, argv[2], &cap64);
  napi_get_value_bool(env, argv[3], &whole);
  napi_get_value_int32(env, argv[4], &threads);
  if (cap64 < 0 || cap64 > (1 << 24)) {
    napi_throw_range_error(env, NULL, "readPidsAsync: cap out of range");
    return NULL;
  }
  struct batch *b = calloc(1, sizeof *b);
  if (b) b->files = calloc(nfiles, sizeof *b->files);
  if (!b || !b->files) {
    free(b);
    napi_throw_error(env, "ENOMEM", "readPidsAsync: out of memory");
    return NULL;
  }
  b->nfiles = nfiles;
  b->dir = short_string(env, argv[0]);
  bool ok = b->dir != NULL;
  for (uint32_t j = 0; ok && j < nfiles; j++) {
    napi_value v;
    napi_get_element(env, argv[1], j, &v);
    b->files[j] = short_string(env, v);
    ok = b->files[j] && !strchr(b->files[j], '/');
  }
  if (!ok) {
    free_batch(b);
    napi_throw_type_error(env, NULL, "readPidsAsync: dir and each file name must be non-empty strings under 255 bytes, the names without '/'");
    return NULL;
  }
  b->cap = (size_t)cap64;
  b->whole = whole;
  b->threads = threads < 1 ? 1 : threads > 8 ? 8 : threads;
  atomic_init(&b->next, 0);
  return queue_batch(env, b, "kernfile.readPidsAsync", execute_pids, complete_pids);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "read", NAPI_AUTO_LENGTH, read_file, NULL, &fn);
  napi_set_named_property(env, exports, "read", fn);
  napi_create_function(env, "readMany", NAPI_AUTO_LENGTH, read_many, NULL, &fn);
  napi_set_named_property(env, exports, "readMany", fn);
  napi_create_function(env, "readManyAsync", NAPI_AUTO_LENGTH, read_many_async, NULL, &fn);
  napi_set_named_property(env, exports, "readManyAsync", fn);
  napi_create_function(env, "readPidsAsync", NAPI_AUTO_LENGTH, read_pids_async, NULL, &fn);
  napi_set_named_property(env, exports, "readPidsAsync", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
