/*
 * bpfexit: the I/O-at-exit detector's in-kernel source (src/record/io/). A hand-assembled eBPF
 * program of type BPF_PROG_TYPE_RAW_TRACEPOINT, attached with BPF_RAW_TRACEPOINT_OPEN to
 * sched_process_exit, reads the exiting thread's task I/O accounting (task_struct.ioac: the
 * counters /proc/<pid>/task/<tid>/io shows, the same ones taskstats copies a moment earlier in
 * do_exit) and, only for a thread that did disk I/O, puts one record into a BPF ring buffer that
 * this addon reads from its mmap'd pages when JavaScript calls take(). A thread without disk I/O
 * costs a map lookup, three probe reads and one counter increment, in the kernel: no message,
 * no wakeup, no user-space work.
 *
 * No clang, no libbpf: the instructions are written below with the macros of this file against
 * <linux/bpf.h>. The kernel-structure offsets (task_struct.pid, .ioac.read_bytes, cred.uid, …)
 * are not known at build time: JavaScript reads them from the kernel's BTF (src/common/btf.ts)
 * and passes them to open(), which writes them into the instructions before BPF_PROG_LOAD.
 *
 * Counters (a per-CPU array, one slot of four u64, summed here over the possible CPUs):
 *   seen = skipped (no disk I/O) + lost (ring buffer full: reservation failed) + submitted.
 * `seen` is counted first and `submitted` before the record is committed, so a reader never
 * sees a consumed record that is not counted; between the two a record is "in flight" (at most
 * one per CPU). submitted = consumed (by take()) + what is still in the ring.
 *
 * Every descriptor is the kernel's, O_CLOEXEC, and held only by this process: close() and the
 * handle's finalizer close them, and a killed process's descriptors are closed by the kernel,
 * which detaches the program and frees the maps. Nothing is pinned, nothing outlives us.
 *
 * The assembler, the loader, the ring consumer and the counter read are native/bpf-common's;
 * here: build_prog(), the record layout and its conversion into the entries of native/taskstats
 * (take()).
 *
 * Record the program writes (little endian, REC bytes):
 *    0 u32 pid (the thread)   4 u32 tgid   8 u32 ppid (real_parent->tgid)   12 u32 exit_code
 *   16 u32 uid (real_cred->uid)   20 u32 0   24 char[16] comm
 *   40 u64 read_bytes  48 u64 write_bytes  56 u64 cancelled_write_bytes  64 u64 rchar  72 u64 wchar
 *   80 u64 start_time (CLOCK_MONOTONIC ns)   88 u64 exit time (bpf_ktime_get_ns, CLOCK_MONOTONIC)
 * Entry layout handed to JavaScript: the one of native/taskstats (120 bytes, see taskstats.c),
 * version 0 (not a taskstats structure), receive time = the exit time above.
 */
#include "bpf_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENTRY 120
#define REC 96
#define NCOUNTERS 4 /* seen, skipped, lost, submitted */
#define PROG_NAME "lantern_ioexit"
#define TP_NAME "sched_process_exit"
#define LOG_BYTES (256 * 1024)

/* ---- the handle ---- */

typedef struct bx {
  bpf_oneprog_t op; /* counters (seen, skipped, lost, submitted), program, link, ring */
  uint64_t consumed, malformed;
} bx_t;

/* ---- specific: the program ---- */

typedef struct offs {
  int32_t pid, tgid, comm, exit_code, start_time, real_parent, real_cred, cred_uid;
  int32_t read_bytes, write_bytes, cancelled_write_bytes, rchar, wchar;
} offs_t;

enum { L_OUT, L_IO, L_GOT, L_COUNT };

static int build_prog(bpf_asm_t *a, const offs_t *o, int counters_fd, int ring_fd, int broken) {
  asm_reset(a);
  emit(a, LDX_MEM(BPF_DW, R6, R1, 0)); /* r6 = ctx->args[0]: the exiting task */
  if (broken) emit(a, MOV64_REG(R6, R2)); /* tests: R2 is not initialised, the verifier refuses */
  percpu_lookup(a, counters_fd, -4, L_OUT);
  emit(a, MOV64_REG(R7, R0)); /* r7 = the counters of this CPU */
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R7, R1, 0)); /* seen */
  /* The disk I/O counters onto the stack: -32 read, -24 write, -16 cancelled. */
  probe_read(a, R10, -32, 8, R6, o->read_bytes);
  probe_read(a, R10, -24, 8, R6, o->write_bytes);
  probe_read(a, R10, -16, 8, R6, o->cancelled_write_bytes);
  emit(a, LDX_MEM(BPF_DW, R1, R10, -32));
  emit(a, LDX_MEM(BPF_DW, R2, R10, -24));
  emit(a, ALU64_REG(BPF_OR, R1, R2));
  emit(a, LDX_MEM(BPF_DW, R2, R10, -16));
  emit(a, ALU64_REG(BPF_OR, R1, R2));
  jump(a, JMP_IMM(BPF_JNE, R1, 0), L_IO);
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R7, R1, 8)); /* skipped: no disk I/O */
  jump(a, JA, L_OUT);
  label(a, L_IO);
  ld_map(a, R1, ring_fd);
  emit(a, MOV64_IMM(R2, REC));
  emit(a, MOV64_IMM(R3, 0));
  emit(a, CALL(BPF_FUNC_ringbuf_reserve));
  jump(a, JMP_IMM(BPF_JNE, R0, 0), L_GOT);
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R7, R1, 16)); /* lost: the ring is full */
  jump(a, JA, L_OUT);
  label(a, L_GOT);
  emit(a, MOV64_REG(R8, R0)); /* r8 = the record */
  for (int k = 0; k < 3; k++) {
    emit(a, LDX_MEM(BPF_DW, R1, R10, -32 + 8 * k));
    emit(a, STX_MEM(BPF_DW, R8, R1, 40 + 8 * k));
  }
  probe_read(a, R8, 0, 4, R6, o->pid);
  probe_read(a, R8, 4, 4, R6, o->tgid);
  probe_read(a, R8, 12, 4, R6, o->exit_code);
  probe_read(a, R8, 24, 16, R6, o->comm);
  probe_read(a, R8, 64, 8, R6, o->rchar);
  probe_read(a, R8, 72, 8, R6, o->wchar);
  probe_read(a, R8, 80, 8, R6, o->start_time);
  /* ppid: real_parent->tgid; uid: real_cred->uid (pointers read onto the stack at -40). */
  probe_read(a, R10, -40, 8, R6, o->real_parent);
  emit(a, LDX_MEM(BPF_DW, R3, R10, -40));
  emit(a, ALU64_IMM(BPF_ADD, R3, o->tgid));
  emit(a, MOV64_REG(R1, R8));
  emit(a, ALU64_IMM(BPF_ADD, R1, 8));
  emit(a, MOV64_IMM(R2, 4));
  emit(a, CALL(BPF_FUNC_probe_read_kernel));
  probe_read(a, R10, -40, 8, R6, o->real_cred);
  emit(a, LDX_MEM(BPF_DW, R3, R10, -40));
  emit(a, ALU64_IMM(BPF_ADD, R3, o->cred_uid));
  emit(a, MOV64_REG(R1, R8));
  emit(a, ALU64_IMM(BPF_ADD, R1, 16));
  emit(a, MOV64_IMM(R2, 4));
  emit(a, CALL(BPF_FUNC_probe_read_kernel));
  emit(a, ST_MEM(BPF_W, R8, 20, 0));
  emit(a, CALL(BPF_FUNC_ktime_get_ns));
  emit(a, STX_MEM(BPF_DW, R8, R0, 88));
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R7, R1, 24)); /* submitted (counted before the commit: see the top) */
  emit(a, MOV64_REG(R1, R8));
  emit(a, MOV64_IMM(R2, BPF_RB_NO_WAKEUP)); /* nobody sleeps on the ring: take() reads it on a timer */
  emit(a, CALL(BPF_FUNC_ringbuf_submit));
  label(a, L_OUT);
  emit(a, MOV64_IMM(R0, 0));
  emit(a, EXIT);
  return asm_finish(a);
}

/* ---- N-API ---- */

static int get_int(napi_env env, napi_value o, const char *k, int64_t *out) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, o, k, &has) != napi_ok || !has) return -1;
  if (napi_get_named_property(env, o, k, &v) != napi_ok) return -1;
  return napi_get_value_int64(env, v, out) == napi_ok ? 0 : -1;
}

static void finalize(napi_env env, void *data, void *hint) {
  bx_t *b = data;
  op_close_all(&b->op);
  free(b);
}

/* open({ offsets: {pid, tgid, comm, exit_code, start_time, real_parent, real_cred, cred_uid, read_bytes,
 *   write_bytes, cancelled_write_bytes, rchar, wchar}, ringBytes, brokenForTest }) -> { handle, progId, ringBytes, cpus } */
static napi_value open_bx(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], offv;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool has = false;
  if (argc < 1 || napi_has_named_property(env, argv[0], "offsets", &has) != napi_ok || !has || napi_get_named_property(env, argv[0], "offsets", &offv) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "open({ offsets, ringBytes })");
    return NULL;
  }
  offs_t o;
  struct {
    const char *name;
    int32_t *at;
  } fields[] = {{"pid", &o.pid}, {"tgid", &o.tgid}, {"comm", &o.comm}, {"exit_code", &o.exit_code}, {"start_time", &o.start_time}, {"real_parent", &o.real_parent},
                {"real_cred", &o.real_cred}, {"cred_uid", &o.cred_uid}, {"read_bytes", &o.read_bytes}, {"write_bytes", &o.write_bytes},
                {"cancelled_write_bytes", &o.cancelled_write_bytes}, {"rchar", &o.rchar}, {"wchar", &o.wchar}};
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
    int64_t v;
    if (get_int(env, offv, fields[k].name, &v) != 0 || v < 0 || v > (1 << 20)) {
      char msg[128];
      snprintf(msg, sizeof msg, "open: offsets.%s must be a byte offset from 0 to 1 MiB", fields[k].name);
      napi_throw_type_error(env, "EINVAL", msg);
      return NULL;
    }
    *fields[k].at = (int32_t)v;
  }
  int64_t ring = 4 << 20, broken = 0;
  get_int(env, argv[0], "ringBytes", &ring);
  get_int(env, argv[0], "brokenForTest", &broken);
  long page = sysconf(_SC_PAGESIZE);
  if (ring < page || ring > (1LL << 30) || (ring & (ring - 1)) != 0) return throw_error(env, EINVAL, "open: ringBytes must be a power of two from one page to 1 GiB", NULL);

  bx_t *b = calloc(1, sizeof *b);
  char *log = malloc(LOG_BYTES);
  bpf_asm_t *a = malloc(sizeof *a);
  if (!b || !log || !a) {
    free(b), free(log), free(a);
    return throw_error(env, ENOMEM, "open: out of memory", NULL);
  }
  op_init(&b->op, NCOUNTERS);
  char msg[1024];
  int err = 0;
  const char *with_log = NULL, *step = "";
  if (op_counters_open(&b->op, "lantern_ioexc", msg, sizeof msg) < 0) {
    err = errno;
    goto fail;
  }
  if (ring_open(&b->op.ring, "lantern_ioexr", (uint32_t)ring, &step) < 0) {
    err = errno;
    snprintf(msg, sizeof msg, "%s (ring buffer of %lld bytes) refused: %s", step, (long long)ring, strerror(err));
    goto fail;
  }
  if (build_prog(a, &o, b->op.counters_fd, b->op.ring.fd, broken != 0) != 0) {
    err = EINVAL;
    snprintf(msg, sizeof msg, "the program does not assemble (too long or a label unset)");
    goto fail;
  }
  /* "Dual MIT/GPL": the probe-read and ring-buffer helpers are GPL-only. */
  if (op_load_attach(&b->op, a, PROG_NAME, "Dual MIT/GPL", TP_NAME, log, LOG_BYTES, msg, sizeof msg, &with_log) < 0) {
    err = errno;
    goto fail;
  }
  int ninsns = a->n;
  free(log);
  free(a);
  napi_value out = op_result(env, &b->op, b, finalize, ninsns);
  if (!out) {
    op_close_all(&b->op);
    free(b);
  }
  return out;
fail:
  op_close_all(&b->op);
  free(b);
  free(a);
  {
    napi_value r = throw_error(env, err, msg, with_log);
    free(log);
    return r;
  }
}

static bx_t *get_bx(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  return get_external(env, info, argv, 1, "bpfexit");
}

static double mono_ns(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* One record into one entry of native/taskstats's layout. */
static void to_entry(const uint8_t *r, uint8_t *e, double mono_now, double real_now) {
  uint64_t q[7];
  memset(e, 0, ENTRY);
  memcpy(e, r, 20); /* tid, tgid, ppid, exit code, uid */
  /* version 0, flags 0 */
  memcpy(e + 24, r + 24, 16);
  e[24 + 15] = 0; /* comm is NUL-terminated by the kernel; never trust it */
  memcpy(q, r + 40, sizeof q);
  double v[5] = {(double)q[0], (double)q[1], (double)q[2], (double)q[3], (double)q[4]};
  memcpy(e + 56, v, sizeof v);
  double start = (double)q[5], at = (double)q[6];
  double elapsed_us = at > start ? floor((at - start) / 1000) : 0;
  double begin_s = floor((real_now - (mono_now - start)) / 1e9);
  memcpy(e + 96, &elapsed_us, 8);
  memcpy(e + 104, &begin_s, 8);
  memcpy(e + 112, &at, 8);
}

typedef struct take_ctx {
  double mono_now, real_now;
} take_ctx_t;

static size_t convert(void *ctx, const uint8_t *rec, uint32_t size, uint8_t *out, size_t room) {
  const take_ctx_t *t = ctx;
  if (size != REC) return RING_MALFORMED;
  if (room < ENTRY) return RING_NO_ROOM;
  to_entry(rec, out, t->mono_now, t->real_now);
  return ENTRY;
}

/* take(handle) -> Buffer of count * ENTRY bytes: every committed record in the ring, consumed. */
static napi_value take(napi_env env, napi_callback_info info) {
  bx_t *b = get_bx(env, info);
  if (!b) return NULL;
  take_ctx_t t = {mono_ns(CLOCK_MONOTONIC), mono_ns(CLOCK_REALTIME)};
  size_t cap = (size_t)(ring_pending(&b->op.ring) / (BPF_RINGBUF_HDR_SZ + REC) + 1) * ENTRY;
  return ring_take(env, &b->op.ring, cap, convert, &t, &b->consumed, &b->malformed);
}

/* stats(handle) -> { seen, skippedNoIo, lost, submitted, consumed, malformed } (see the top of this file). */
static napi_value stats(napi_env env, napi_callback_info info) {
  bx_t *b = get_bx(env, info);
  if (!b) return NULL;
  uint64_t c[NCOUNTERS];
  if (op_counters(&b->op, c) != 0) return throw_error(env, errno, "stats: BPF_MAP_LOOKUP_ELEM of the counters failed", NULL);
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "seen", (double)c[0]);
  set_num(env, o, "skippedNoIo", (double)c[1]);
  set_num(env, o, "lost", (double)c[2]);
  set_num(env, o, "submitted", (double)c[3]);
  set_num(env, o, "consumed", (double)b->consumed);
  set_num(env, o, "malformed", (double)b->malformed);
  set_num(env, o, "attached", b->op.link_fd >= 0 ? 1 : 0);
  return o;
}

/* close(handle): detach, read the final counters, and close every descriptor except the ring's
   mapping, which take() still drains once. Idempotent. */
static napi_value close_handle(napi_env env, napi_callback_info info) {
  bx_t *b = get_bx(env, info);
  if (b) op_detach(&b->op);
  return NULL;
}

/* release(handle): unmap the ring and close its descriptor (after the last take()). */
static napi_value release(napi_env env, napi_callback_info info) {
  bx_t *b = get_bx(env, info);
  if (b) op_close_all(&b->op);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value v;
  napi_create_uint32(env, ENTRY, &v);
  napi_set_named_property(env, exports, "ENTRY_BYTES", v);
  op_exports(env, exports, open_bx, take, stats, close_handle, release, PROG_NAME);
  return exports;
}
