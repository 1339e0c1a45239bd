/*
 * bpfenv: the access recorder's `misc env NAME` lines read in the kernel at the exec
 * (src/access/env-source.ts). A hand-assembled eBPF program of type BPF_PROG_TYPE_RAW_TRACEPOINT,
 * attached with BPF_RAW_TRACEPOINT_OPEN to sched_process_exec, runs in the new image right after
 * the kernel built its stack: it reads current->mm->env_start/env_end (offsets from the kernel's
 * BTF, given to open() by JavaScript: src/common/btf.ts), copies the environment block (at most
 * CAP bytes: a longer one is cut and flagged truncated) with bpf_probe_read_user into a per-CPU
 * scratch slot and hands it to a BPF ring buffer with the tgid, the tid and CLOCK_BOOTTIME ns.
 * A process that exits a microsecond later has already left its names in the ring: reading
 * /proc/<pid>/environ 50-250 ms after the exec (the fallback) misses it.
 *
 * Values never leave this addon: take() passes on each record's names only, as "NAME=" strings
 * (the block's entries cut after their first '=', one NUL after each), which the caller's
 * envNames() reads like a /proc/<pid>/environ block. The values stay in the ring's pages (mapped
 * read-only into this process) until the kernel writes over them; nothing copies them out.
 *
 * Counters (a per-CPU array, summed over the possible CPUs):
 *   seen = submitted + lost (ring full: the record was not written) + noScratch (no slot; never expected).
 * submitted is counted before the record is written (and taken back when the write fails), so a
 * taken record is always counted: submitted = taken + malformed + what is still in the ring.
 * Per-record flags (truncated, unreadable, no mm) are counted by the caller from the records.
 *
 * The scratch slot is an array entry per CPU keyed by bpf_get_smp_processor_id(): a raw_tp
 * program runs with preemption off and never nests with itself on a CPU (the kernel counts a
 * nested run as a recursion miss instead), so a slot is never shared.
 *
 * Every descriptor (2 maps + the ring, the program, the link) is the kernel's, O_CLOEXEC, held
 * only by this process, closed by close()/release() and the finalizer, and by the kernel when
 * the process dies: the link's closing detaches the program. Nothing is pinned.
 *
 * Ring record (little endian): 0 u32 tgid  4 u32 tid  8 u64 boot ns  16 u32 bytes copied
 *   20 u32 flags (1 truncated, 2 unreadable, 4 no mm)  24 u64 the block's size  32 the bytes copied.
 * Entry handed to JavaScript by take() (ENTRY_HEAD bytes, then the names):
 *   0 f64 boot ns  8 u32 tgid  12 u32 tid  16 u32 flags  20 u32 block size (capped at 2^32-1)
 *   24 u32 names bytes  28 u32 0  32 names ("NAME=\0" each)
 */
#include "bpf_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HDR 32
#define CAP (32 * 1024)
#define ENTRY_HEAD 32
#define NCOUNTERS 4
enum { C_SEEN, C_SUBMITTED, C_LOST, C_NO_SCRATCH };
enum { F_TRUNCATED = 1, F_UNREADABLE = 2, F_NO_MM = 4 };
#define PROG_NAME "lantern_env"
#define TP_NAME "sched_process_exec"
#define LOG_BYTES (256 * 1024)

typedef struct be {
  bpf_oneprog_t op; /* counters (seen, submitted, lost, noScratch), program, link, ring */
  int scratch_fd;
  int stats_fd; /* run statistics on (open({ runStats: 1 }): benchmarks), else -1 */
  uint64_t taken, malformed;
} be_t;

/* The addon's own fds (the scratch map, the statistics), after the program is detached. */
static void close_own(be_t *b) {
  if (b->scratch_fd >= 0) close(b->scratch_fd);
  if (b->stats_fd >= 0) close(b->stats_fd);
  b->scratch_fd = b->stats_fd = -1;
}

static void close_fds(be_t *b) {
  op_close_all(&b->op);
  close_own(b);
}

/* ---- the program ---- */

typedef struct offs {
  int32_t mm, env_start, env_end;
} offs_t;

enum { L_OUT, L_NO_MM, L_COPY, L_SEND, L_NO_SCRATCH };

static void count(bpf_asm_t *a, int slot, int by) {
  emit(a, MOV64_IMM(R1, by));
  emit(a, ATOMIC_ADD64(R7, R1, slot * 8));
}

/* r6 ctx (ctx[0]: the task, current), r7 this CPU's counters, r8 this CPU's scratch record, r9 bytes copied. */
static int build_prog(bpf_asm_t *a, const offs_t *o, int counters_fd, int scratch_fd, int ring_fd) {
  asm_reset(a);
  emit(a, MOV64_REG(R6, R1));
  percpu_lookup(a, counters_fd, -4, L_OUT);
  emit(a, MOV64_REG(R7, R0));
  count(a, C_SEEN, 1);
  emit(a, CALL(BPF_FUNC_get_smp_processor_id));
  emit(a, STX_MEM(BPF_W, R10, R0, -8));
  ld_map(a, R1, scratch_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ALU64_IMM(BPF_ADD, R2, -8));
  emit(a, CALL(BPF_FUNC_map_lookup_elem));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_NO_SCRATCH);
  emit(a, MOV64_REG(R8, R0));
  emit(a, CALL(BPF_FUNC_get_current_pid_tgid));
  emit(a, STX_MEM(BPF_W, R8, R0, 4)); /* tid */
  emit(a, ALU64_IMM(BPF_RSH, R0, 32));
  emit(a, STX_MEM(BPF_W, R8, R0, 0)); /* tgid */
  emit(a, CALL(BPF_FUNC_ktime_get_boot_ns));
  emit(a, STX_MEM(BPF_DW, R8, R0, 8));
  emit(a, ST_MEM(BPF_W, R8, 20, 0));
  emit(a, ST_MEM(BPF_DW, R8, 24, 0));
  emit(a, MOV64_IMM(R9, 0));
  /* mm = task->mm; env_start, env_end = mm->env_start, mm->env_end (onto the stack: -16 mm, -32 start, -24 end) */
  emit(a, LDX_MEM(BPF_DW, R3, R6, 0));
  probe_read(a, R10, -16, 8, R3, o->mm);
  jump(a, JMP_IMM(BPF_JNE, R0, 0), L_NO_MM);
  emit(a, LDX_MEM(BPF_DW, R3, R10, -16));
  jump(a, JMP_IMM(BPF_JEQ, R3, 0), L_NO_MM);
  probe_read(a, R10, -32, 8, R3, o->env_start);
  jump(a, JMP_IMM(BPF_JNE, R0, 0), L_NO_MM);
  emit(a, LDX_MEM(BPF_DW, R3, R10, -16));
  probe_read(a, R10, -24, 8, R3, o->env_end);
  jump(a, JMP_IMM(BPF_JNE, R0, 0), L_NO_MM);
  emit(a, LDX_MEM(BPF_DW, R1, R10, -32));
  emit(a, LDX_MEM(BPF_DW, R2, R10, -24));
  jump(a, JMP_REG(BPF_JLT, R2, R1), L_NO_MM); /* end before start: not a block */
  emit(a, MOV64_REG(R9, R2));
  emit(a, ALU64_REG(BPF_SUB, R9, R1));
  emit(a, STX_MEM(BPF_DW, R8, R9, 24)); /* the block's size */
  jump(a, JMP_IMM(BPF_JLE, R9, CAP), L_COPY);
  emit(a, MOV64_IMM(R9, CAP));
  emit(a, ST_MEM(BPF_W, R8, 20, F_TRUNCATED));
  label(a, L_COPY);
  emit(a, MOV64_REG(R1, R8));
  emit(a, ALU64_IMM(BPF_ADD, R1, HDR));
  emit(a, MOV64_REG(R2, R9));
  emit(a, LDX_MEM(BPF_DW, R3, R10, -32));
  emit(a, CALL(BPF_FUNC_probe_read_user));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_SEND);
  emit(a, LDX_MEM(BPF_W, R1, R8, 20));
  emit(a, ALU64_IMM(BPF_OR, R1, F_UNREADABLE));
  emit(a, STX_MEM(BPF_W, R8, R1, 20));
  emit(a, MOV64_IMM(R9, 0));
  label(a, L_SEND);
  emit(a, STX_MEM(BPF_W, R8, R9, 16));
  count(a, C_SUBMITTED, 1); /* before the write: a taken record is always counted (see the top) */
  ld_map(a, R1, ring_fd);
  emit(a, MOV64_REG(R2, R8));
  emit(a, MOV64_REG(R3, R9));
  emit(a, ALU64_IMM(BPF_ADD, R3, HDR));
  emit(a, MOV64_IMM(R4, BPF_RB_NO_WAKEUP)); /* nobody sleeps on the ring: take() reads it on a timer */
  emit(a, CALL(BPF_FUNC_ringbuf_output));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_OUT);
  count(a, C_SUBMITTED, -1);
  count(a, C_LOST, 1);
  jump(a, JA, L_OUT);
  label(a, L_NO_MM);
  emit(a, ST_MEM(BPF_W, R8, 20, F_NO_MM));
  emit(a, MOV64_IMM(R9, 0));
  jump(a, JA, L_SEND);
  label(a, L_NO_SCRATCH);
  count(a, C_NO_SCRATCH, 1);
  label(a, L_OUT);
  emit(a, MOV64_IMM(R0, 0));
  emit(a, EXIT);
  return asm_finish(a);
}

/* ---- names out of a block ---- */

/* Each entry of block (NUL-separated, the last may be cut) that has a '=' after at least one byte: "NAME=\0" into out. */
static size_t names_of(const uint8_t *block, size_t len, uint8_t *out) {
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    size_t end = i;
    while (end < len && block[end] != 0) end++;
    const uint8_t *eq = memchr(block + i, '=', end - i);
    if (eq && eq > block + i) {
      size_t k = (size_t)(eq - (block + i)) + 1;
      memcpy(out + n, block + i, k);
      n += k;
      out[n++] = 0;
    }
    i = end + 1;
  }
  return n;
}

static size_t convert(void *ctx, const uint8_t *rec, uint32_t size, uint8_t *out, size_t room) {
  uint32_t copied, flags;
  if (size < HDR) return RING_MALFORMED;
  memcpy(&copied, rec + 16, 4);
  memcpy(&flags, rec + 20, 4);
  if (copied > CAP || size != HDR + copied) return RING_MALFORMED;
  if (room < ENTRY_HEAD + (size_t)copied + 1) return RING_NO_ROOM;
  uint64_t boot, block;
  memcpy(&boot, rec + 8, 8);
  memcpy(&block, rec + 24, 8);
  double boot_ns = (double)boot;
  uint32_t block32 = block > 0xffffffffu ? 0xffffffffu : (uint32_t)block;
  uint32_t names = (uint32_t)names_of(rec + HDR, copied, out + ENTRY_HEAD);
  uint32_t zero = 0;
  memcpy(out, &boot_ns, 8);
  memcpy(out + 8, rec, 8); /* tgid, tid */
  memcpy(out + 16, &flags, 4);
  memcpy(out + 20, &block32, 4);
  memcpy(out + 24, &names, 4);
  memcpy(out + 28, &zero, 4);
  return ENTRY_HEAD + names;
}

/* ---- N-API ---- */

static void finalize(napi_env env, void *data, void *hint) {
  be_t *b = data;
  close_fds(b);
  free(b);
}

static be_t *get_be(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  return get_external(env, info, argv, 1, "bpfenv");
}

/* open({ offsets: { mm, env_start, env_end }, ringBytes?, runStats? }) -> { handle, progId, ringBytes, cpus, insns }
   runStats: the kernel's run statistics on while the handle is open (stats() then has runNs, runCount). */
static napi_value open_be(napi_env env, napi_callback_info info) {
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
  } fields[] = {{"mm", &o.mm}, {"env_start", &o.env_start}, {"env_end", &o.env_end}};
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
    double v;
    if (get_opt_double(env, offv, fields[k].name, &v) != 1 || v < 0 || v > (1 << 20) || v != (int32_t)v) {
      char msg[128];
      snprintf(msg, sizeof msg, "open: offsets.%s must be a byte offset from 0 to 1 MiB", fields[k].name);
      napi_throw_type_error(env, "EINVAL", msg);
      return NULL;
    }
    *fields[k].at = (int32_t)v;
  }
  double ring = 4 << 20;
  long page = sysconf(_SC_PAGESIZE);
  if (get_opt_double(env, argv[0], "ringBytes", &ring) < 0 || ring < page || ring > (1 << 30) || ((uint32_t)ring & ((uint32_t)ring - 1)) != 0)
    return throw_error(env, EINVAL, "open: ringBytes must be a power of two from one page to 1 GiB", NULL);

  be_t *b = calloc(1, sizeof *b);
  char *log = malloc(LOG_BYTES);
  bpf_asm_t *a = malloc(sizeof *a);
  if (!b || !log || !a) {
    free(b), free(log), free(a);
    return throw_error(env, ENOMEM, "open: out of memory", NULL);
  }
  op_init(&b->op, NCOUNTERS);
  b->scratch_fd = b->stats_fd = -1;
  char msg[1024];
  int err = 0;
  const char *with_log = NULL, *step = "";
  double run_stats = 0;
  if (get_opt_double(env, argv[0], "runStats", &run_stats) == 1 && run_stats != 0 && (b->stats_fd = enable_run_stats()) < 0) {
    err = errno;
    snprintf(msg, sizeof msg, "BPF_ENABLE_STATS refused: %s", strerror(err));
    goto fail;
  }
  if (op_counters_open(&b->op, "lantern_envc", msg, sizeof msg) < 0) {
    err = errno;
    goto fail;
  }
  if ((b->scratch_fd = map_create(BPF_MAP_TYPE_ARRAY, "lantern_envs", 4, HDR + CAP, (uint32_t)b->op.ncpus)) < 0) {
    err = errno;
    snprintf(msg, sizeof msg, "BPF_MAP_CREATE (scratch records) refused: %s", strerror(err));
    goto fail;
  }
  if (ring_open(&b->op.ring, "lantern_envr", (uint32_t)ring, &step) < 0) {
    err = errno;
    snprintf(msg, sizeof msg, "%s (%.0f bytes) refused: %s", step, ring, strerror(err));
    goto fail;
  }
  if (build_prog(a, &o, b->op.counters_fd, b->scratch_fd, b->op.ring.fd) != 0) {
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
    close_fds(b);
    free(b);
  }
  return out;
fail:
  close_fds(b);
  free(b);
  free(a);
  {
    napi_value r = throw_error(env, err, msg, with_log);
    free(log);
    return r;
  }
}

/* take(handle) -> Buffer of entries (ENTRY_HEAD bytes + names each): every committed record, consumed. */
static napi_value take(napi_env env, napi_callback_info info) {
  be_t *b = get_be(env, info);
  if (!b) return NULL;
  /* An entry is never longer than its record's place in the ring (8-byte header + HDR + block). */
  size_t cap = (size_t)ring_pending(&b->op.ring) + ENTRY_HEAD + 1;
  return ring_take(env, &b->op.ring, cap, convert, NULL, &b->taken, &b->malformed);
}

/* stats(handle) -> { seen, submitted, lost, noScratch, taken, malformed, attached } (see the top of this file). */
static napi_value stats(napi_env env, napi_callback_info info) {
  be_t *b = get_be(env, info);
  if (!b) return NULL;
  uint64_t c[NCOUNTERS];
  if (op_counters(&b->op, c) != 0) return throw_errno(env, errno, "stats: BPF_MAP_LOOKUP_ELEM of the counters");
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "seen", (double)c[C_SEEN]);
  set_num(env, o, "submitted", (double)c[C_SUBMITTED]);
  set_num(env, o, "lost", (double)c[C_LOST]);
  set_num(env, o, "noScratch", (double)c[C_NO_SCRATCH]);
  set_num(env, o, "taken", (double)b->taken);
  set_num(env, o, "malformed", (double)b->malformed);
  set_num(env, o, "attached", b->op.link_fd >= 0 ? 1 : 0);
  uint64_t run_ns = 0, run_cnt = 0;
  if (b->stats_fd >= 0 && b->op.prog_fd >= 0 && prog_run_stats(b->op.prog_fd, &run_ns, &run_cnt) == 0) {
    set_num(env, o, "runNs", (double)run_ns);
    set_num(env, o, "runCount", (double)run_cnt);
  }
  return o;
}

/* close(handle): detach, read the final counters, close all but the ring (take() drains it once more). Idempotent. */
static napi_value close_handle(napi_env env, napi_callback_info info) {
  be_t *b = get_be(env, info);
  if (!b) return NULL;
  op_detach(&b->op);
  close_own(b);
  return NULL;
}

/* release(handle): every descriptor closed and the ring unmapped (after the last take()). */
static napi_value release(napi_env env, napi_callback_info info) {
  be_t *b = get_be(env, info);
  if (b) close_fds(b);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value v;
  napi_create_uint32(env, CAP, &v);
  napi_set_named_property(env, exports, "CAP_BYTES", v);
  napi_create_uint32(env, ENTRY_HEAD, &v);
  napi_set_named_property(env, exports, "ENTRY_HEAD_BYTES", v);
  op_exports(env, exports, open_be, take, stats, close_handle, release, PROG_NAME);
  return exports;
}
