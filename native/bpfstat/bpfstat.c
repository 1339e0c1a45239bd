/*
 * bpfstat: `lantern record`'s slow-stat detector on the raw syscall tracepoints
 * (src/record/latency/). Two eBPF programs, assembled here instruction by instruction in the
 * style of the kernel's samples/bpf (no clang, no libbpf: only <linux/bpf.h>), of type
 * BPF_PROG_TYPE_RAW_TRACEPOINT, attached with BPF_RAW_TRACEPOINT_OPEN to sys_enter and sys_exit.
 *
 * Why raw tracepoints: the perf-event path of syscalls:sys_enter_* / sys_exit_* fills a perf
 * buffer with the call's arguments for every traced call before a BPF program runs (measured:
 * an empty bpftrace program on those two costs 37-49 % of bpftrace's whole latency script). A
 * raw tracepoint hands the program the pt_regs pointer and the id, nothing more.
 *
 *   sys_enter: ctx[0] = struct pt_regs *, ctx[1] = syscall id. An id outside the watched set
 *     returns at once (two compares per call: no helper, no map). A watched one reads nothing
 *     from the pt_regs and writes {start ns, pid_tgid, 0, id} into the thread's slot of an array
 *     (slot = tid & mask; the lookup is inlined by the verifier: no hashing, no helper call; the
 *     array is mmap'd, so inFlight() and forget() read and clear it without a system call).
 *   sys_exit: ctx[1] = return value; the id is orig_ax in the pt_regs (one read, with cs). A
 *     watched id takes its start from its slot (when the slot is its own) and sets it to 0 (the
 *     slot stays this thread's, idle; forget() clears the slots of exited threads), skips 32-bit
 *     callers (cs != __USER_CS: the ids mean other calls there; their enter was stored, as the
 *     enter does not read cs), adds the duration to a
 *     per-CPU log2 histogram (its sum is the count of timed calls), and only at or above the
 *     threshold reads di and si from the pt_regs (x86-64 writes only ax back: they are still the
 *     caller's) and reserves a ring-buffer record (pid_tgid, start,
 *     duration, return value, di, si, id, comm, the path read with bpf_probe_read_user_str: the
 *     caller's buffer is still there at the exit). Fast calls never leave the kernel.
 *
 * Counters (per CPU, summed by stats()) add up: slow = records written to the ring + lost (a
 * reservation that failed: ring full), and the records written = taken by take() + still in the
 * ring. A call whose enter was not seen (begun before attach, or its slot held another thread's
 * call in flight: startFailed — tids equal modulo the slots, not on a machine whose pid_max fits
 * in them) is counted as unpaired at its exit.
 *
 * Every fd (3 maps, 2 programs, 2 links) is closed on every path: on a failed open, at close(),
 * in the finalizer, and by the kernel when the process dies (a link's fd closing detaches the
 * program; nothing stays attached after a SIGKILL). BPF fds are O_CLOEXEC: children do not keep them.
 *
 * The assembler, the loader and the ring consumer are native/bpf-common's.
 *
 * x86-64 only (pt_regs offsets, syscall numbers); elsewhere open() throws ENOTSUP and the
 * detector falls back to bpftrace.
 *
 * Ring record (little endian, REC bytes):
 *    0 u64 pid_tgid   8 u64 start ns (CLOCK_MONOTONIC)   16 u64 duration ns   24 s64 return value
 *   32 u64 di        40 u64 si   48 u32 syscall id   52 s32 path read result (bytes with NUL, <0 error, 0 none)
 *   56 char[16] comm  72 char[PATH] path (NUL-terminated when the read result is > 0)
 * Slot of the array (SLOT bytes): 0 u64 start (0: idle) 8 u64 pid_tgid (0: unused) 16 u64 0 24 u64 id
 * In-flight entry (inFlight(), INFLIGHT bytes, one per used slot): 0 u64 pid_tgid 8 u64 start 16 u64 0 24 u64 0 32 u64 id
 * (the two zero words were di and si, read at the enter until the exit read them instead).
 */
#include "bpf_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PATH_BYTES 256
#define REC 328 /* 72 + PATH_BYTES */
#define INFLIGHT 40
#define SLOT 32
#define HIST_BUCKETS 64
#define LOG_BYTES (256 * 1024)

/* Per-CPU counter slots (u64 each); the histogram follows. */
enum { C_UNUSED, C_SLOW, C_LOST, C_UNPAIRED, C_START_FAILED, C_READ_FAILED, C_RESERVED1, C_RESERVED2, C_HIST };
#define COUNTER_WORDS (C_HIST + HIST_BUCKETS)

/* ---- x86-64 ---- */
#if defined(__x86_64__)
#define ARCH_OK 1
#define REGS_SI 104
#define REGS_DI 112
#define REGS_ORIG_AX 120
#define REGS_CS 136
#define USER_CS 0x33
#else
#define ARCH_OK 0
#endif

/* The stat family by tracepoint name (src/record/latency/core.ts STAT_CALLS), its x86-64 id and where its path is. */
typedef struct call {
  const char *name;
  int nr;
  int path_reg; /* 0 none (an fd), 1 di, 2 si */
} call_t;
static const call_t CALLS[] = {
    {"newstat", 4, 1}, {"newlstat", 6, 1}, {"newfstat", 5, 0}, {"newfstatat", 262, 2}, {"statx", 332, 2},
};
#define NCALLS (sizeof CALLS / sizeof CALLS[0])

typedef struct st {
  int start_fd, counters_fd;
  bpf_ring_t ring;
  int enter_fd, exit_fd;
  int enter_link, exit_link;
  int exit_btf;       /* the exit program is tp_btf (else raw_tp) */
  char exit_note[512]; /* why tp_btf was refused, when it was */
  int stats_fd; /* the kernel's run statistics on (open({ runStats: 1 }): benchmarks), else -1 */
  uint32_t enter_id, exit_id;
  uint32_t entries; /* slots of the array of calls in flight (a power of two) */
  uint64_t *slots;  /* the array, mmap'd: SLOT bytes each {start, pid_tgid, 0, id} */
  uint64_t taken, malformed;
  int ncpus;
  int closed;
} st_t;

static void close_all(st_t *s) {
  int *fds[] = {&s->enter_link, &s->exit_link, &s->enter_fd, &s->exit_fd, &s->start_fd, &s->counters_fd, &s->stats_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
    if (*fds[i] >= 0) close(*fds[i]);
    *fds[i] = -1;
  }
  ring_close(&s->ring);
  if (s->slots) munmap(s->slots, (size_t)s->entries * SLOT);
  s->slots = NULL;
  s->closed = 1;
}

enum { L_MATCH, L_OUT, L_FAIL_READ, L_FAIL_START, L_COUNT, L_UNPAIRED, L_LOST, L_SI, L_DI, L_READ, L_NOPATH, L_SUBMIT, L_INSERT };

#if ARCH_OK
/*
 * sys_enter: a watched id stores {start, pid_tgid, 0, id} in the thread's slot of the array of
 * calls (slot = tid & mask): an array lookup the verifier inlines (no hashing, no helper call).
 * A slot holding another live thread's call in flight (tids equal modulo the slots; not on a
 * machine whose pid_max fits) is left alone and counted as startFailed: that call's exit then
 * counts unpaired.
 */
static void build_enter(bpf_asm_t *a, const int *nrs, int nn, int start_fd, int counters_fd, uint32_t mask) {
  emit(a, MOV64_REG(R6, R1));
  emit(a, LDX_MEM(BPF_DW, R7, R6, 8)); /* id */
  for (int i = 0; i < nn; i++) jump(a, JMP_IMM(BPF_JEQ, R7, nrs[i]), L_MATCH);
  label(a, L_OUT);
  emit(a, MOV64_IMM(R0, 0));
  emit(a, EXIT);
  label(a, L_MATCH);
  /*
   * No pt_regs read here: di and si are still the caller's at the exit (x86-64 writes only ax
   * back), so the exit reads them for a slow call only; and a 32-bit caller (whose ids mean other
   * calls) is told at the exit by cs, where its slot is made idle again (issue #10's cost).
   */
  emit(a, CALL(BPF_FUNC_get_current_pid_tgid));
  emit(a, MOV64_REG(R8, R0));
  emit(a, ALU64_IMM(BPF_AND, R0, (int32_t)mask));
  emit(a, STX_MEM(BPF_W, R10, R0, -8));
  ld_map(a, R1, start_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ALU64_IMM(BPF_ADD, R2, -8));
  emit(a, CALL(BPF_FUNC_map_lookup_elem));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_OUT); /* never: the index is masked */
  emit(a, MOV64_REG(R9, R0));
  emit(a, LDX_MEM(BPF_DW, R1, R9, 0));
  jump(a, JMP_IMM(BPF_JEQ, R1, 0), L_INSERT); /* idle */
  emit(a, LDX_MEM(BPF_DW, R1, R9, 8));
  jump(a, JMP_REG(BPF_JEQ, R1, R8), L_INSERT); /* this thread's (an exit not seen) */
  jump(a, JA, L_FAIL_START);
  label(a, L_INSERT);
  emit(a, STX_MEM(BPF_DW, R9, R8, 8));
  emit(a, STX_MEM(BPF_DW, R9, R7, 24));
  emit(a, CALL(BPF_FUNC_ktime_get_ns));
  emit(a, STX_MEM(BPF_DW, R9, R0, 0)); /* the start last: a reader sees a call only once it is whole */
  jump(a, JA, L_OUT);
  label(a, L_FAIL_START);
  count_and_jump(a, counters_fd, C_START_FAILED, L_OUT);
}

/* sys_exit: pair, count, histogram; a slow call goes to the ring with its comm and path. */
/* fp+dst = the pt_regs' word at off: a direct load when ctx[0] is a BTF pointer (tp_btf), else bpf_probe_read_kernel (zero on failure). */
static void regs_word(bpf_asm_t *a, int btf, int dst, int off) {
  emit(a, LDX_MEM(BPF_DW, R3, R6, 0));
  if (btf) {
    emit(a, LDX_MEM(BPF_DW, R1, R3, off));
    emit(a, STX_MEM(BPF_DW, R10, R1, dst));
  } else probe_read(a, R10, dst, 8, R3, off);
}

/*
 * btf: the program is tp_btf (BPF_PROG_TYPE_TRACING on btf_trace_sys_exit): ctx[0] is a typed
 * struct pt_regs pointer and orig_ax, cs, di, si are plain loads (the verifier guards them), not
 * a helper call on every system call exit.
 */
static void build_exit(bpf_asm_t *a, const int *nrs, const int *path_regs, int nn, int start_fd, int counters_fd, int ring_fd, uint64_t threshold_ns, uint32_t mask, int btf) {
  emit(a, MOV64_REG(R6, R1));
  /* orig_ax fp-24, cs fp-8 */
  if (btf) {
    regs_word(a, 1, -24, REGS_ORIG_AX);
    regs_word(a, 1, -8, REGS_CS);
  } else {
    emit(a, MOV64_REG(R1, R10));
    emit(a, ALU64_IMM(BPF_ADD, R1, -24));
    emit(a, MOV64_IMM(R2, REGS_CS + 8 - REGS_ORIG_AX));
    emit(a, LDX_MEM(BPF_DW, R3, R6, 0));
    emit(a, ALU64_IMM(BPF_ADD, R3, REGS_ORIG_AX));
    emit(a, CALL(BPF_FUNC_probe_read_kernel));
    jump(a, JMP_IMM(BPF_JNE, R0, 0), L_FAIL_READ);
  }
  emit(a, LDX_MEM(BPF_DW, R7, R10, -24)); /* id */
  for (int i = 0; i < nn; i++) jump(a, JMP_IMM(BPF_JEQ, R7, nrs[i]), L_MATCH);
  label(a, L_OUT);
  emit(a, MOV64_IMM(R0, 0));
  emit(a, EXIT);
  label(a, L_MATCH);
  emit(a, STX_MEM(BPF_DW, R10, R7, -72)); /* id */
  emit(a, CALL(BPF_FUNC_get_current_pid_tgid));
  emit(a, STX_MEM(BPF_DW, R10, R0, -32)); /* pid_tgid */
  emit(a, ALU64_IMM(BPF_AND, R0, (int32_t)mask));
  emit(a, STX_MEM(BPF_W, R10, R0, -36)); /* the slot */
  ld_map(a, R1, start_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ALU64_IMM(BPF_ADD, R2, -36));
  emit(a, CALL(BPF_FUNC_map_lookup_elem));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_UNPAIRED);
  emit(a, LDX_MEM(BPF_DW, R1, R0, 0));
  jump(a, JMP_IMM(BPF_JEQ, R1, 0), L_UNPAIRED); /* idle slot: this call's enter was not seen */
  emit(a, LDX_MEM(BPF_DW, R2, R0, 8));
  emit(a, LDX_MEM(BPF_DW, R3, R10, -32));
  jump(a, JMP_REG(BPF_JNE, R2, R3), L_UNPAIRED); /* another thread's call (its slot was taken) */
  emit(a, STX_MEM(BPF_DW, R10, R1, -64)); /* start */
  /* Idle again (the owner stays: inFlight() lists it, forget() clears the slots of exited threads). */
  emit(a, ST_MEM(BPF_DW, R0, 0, 0));
  /* A 32-bit caller's call (its ids mean other calls): its entry is idle again, nothing else. */
  emit(a, LDX_MEM(BPF_DW, R1, R10, -24 + (REGS_CS - REGS_ORIG_AX)));
  jump(a, JMP_IMM(BPF_JNE, R1, USER_CS), L_OUT);
  emit(a, CALL(BPF_FUNC_ktime_get_ns));
  emit(a, LDX_MEM(BPF_DW, R1, R10, -64));
  emit(a, ALU64_REG(BPF_SUB, R0, R1));
  emit(a, MOV64_REG(R9, R0)); /* duration */
  percpu_lookup(a, counters_fd, -76, L_OUT);
  emit(a, MOV64_REG(R8, R0));
  /* No separate call counter: stats() sums the histogram (one atomic add per call, not two). */
  /* r2 = floor(log2(duration)) (0 for 0 and 1): halve the search five times. */
  emit(a, MOV64_IMM(R2, 0));
  emit(a, MOV64_REG(R3, R9));
  for (int sh = 32; sh >= 1; sh /= 2) {
    emit(a, MOV64_REG(R4, R3));
    emit(a, ALU64_IMM(BPF_RSH, R4, sh));
    emit(a, INSN(BPF_JMP | BPF_JEQ | BPF_K, R4, 0, 2, 0));
    emit(a, MOV64_REG(R3, R4));
    emit(a, ALU64_IMM(BPF_ADD, R2, sh));
  }
  emit(a, ALU64_IMM(BPF_AND, R2, HIST_BUCKETS - 1));
  emit(a, ALU64_IMM(BPF_LSH, R2, 3));
  emit(a, MOV64_REG(R1, R8));
  emit(a, ALU64_REG(BPF_ADD, R1, R2));
  emit(a, MOV64_IMM(R3, 1));
  emit(a, ATOMIC_ADD64(R1, R3, C_HIST * 8));
  ld_imm64(a, R1, threshold_ns);
  jump(a, JMP_REG(BPF_JLT, R9, R1), L_OUT);
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R8, R1, C_SLOW * 8));
  /* A slow call: its arguments from the pt_regs (di fp-56, si fp-48; zero when the read fails). */
  regs_word(a, btf, -56, REGS_DI);
  regs_word(a, btf, -48, REGS_SI);
  ld_map(a, R1, ring_fd);
  emit(a, MOV64_IMM(R2, REC));
  emit(a, MOV64_IMM(R3, 0));
  emit(a, CALL(BPF_FUNC_ringbuf_reserve));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_LOST);
  emit(a, MOV64_REG(R7, R0));
  emit(a, LDX_MEM(BPF_DW, R1, R10, -32));
  emit(a, STX_MEM(BPF_DW, R7, R1, 0));
  emit(a, LDX_MEM(BPF_DW, R1, R10, -64));
  emit(a, STX_MEM(BPF_DW, R7, R1, 8));
  emit(a, STX_MEM(BPF_DW, R7, R9, 16));
  emit(a, LDX_MEM(BPF_DW, R1, R6, 8));
  emit(a, STX_MEM(BPF_DW, R7, R1, 24)); /* return value */
  emit(a, LDX_MEM(BPF_DW, R1, R10, -56));
  emit(a, STX_MEM(BPF_DW, R7, R1, 32));
  emit(a, LDX_MEM(BPF_DW, R1, R10, -48));
  emit(a, STX_MEM(BPF_DW, R7, R1, 40));
  emit(a, LDX_MEM(BPF_DW, R1, R10, -72));
  emit(a, STX_MEM(BPF_W, R7, R1, 48));
  emit(a, MOV64_REG(R1, R7));
  emit(a, ALU64_IMM(BPF_ADD, R1, 56));
  emit(a, MOV64_IMM(R2, 16));
  emit(a, CALL(BPF_FUNC_get_current_comm));
  /* The path pointer by call: si (fstatat, statx), di (stat, lstat), none (fstat). */
  emit(a, LDX_MEM(BPF_DW, R1, R10, -72));
  for (int i = 0; i < nn; i++)
    if (path_regs[i] == 2) jump(a, JMP_IMM(BPF_JEQ, R1, nrs[i]), L_SI);
  for (int i = 0; i < nn; i++)
    if (path_regs[i] == 1) jump(a, JMP_IMM(BPF_JEQ, R1, nrs[i]), L_DI);
  jump(a, JA, L_NOPATH);
  /* Only blocks some jump reaches (the verifier refuses unreachable instructions). */
  int has_si = 0, has_di = 0;
  for (int i = 0; i < nn; i++) {
    has_si |= path_regs[i] == 2;
    has_di |= path_regs[i] == 1;
  }
  if (has_si) {
    label(a, L_SI);
    emit(a, LDX_MEM(BPF_DW, R3, R10, -48));
    jump(a, JA, L_READ);
  }
  if (has_di) {
    label(a, L_DI);
    emit(a, LDX_MEM(BPF_DW, R3, R10, -56));
  }
  if (has_si || has_di) {
    label(a, L_READ);
    jump(a, JMP_IMM(BPF_JEQ, R3, 0), L_NOPATH);
    emit(a, MOV64_REG(R1, R7));
    emit(a, ALU64_IMM(BPF_ADD, R1, 72));
    emit(a, MOV64_IMM(R2, PATH_BYTES));
    emit(a, CALL(BPF_FUNC_probe_read_user_str));
    emit(a, STX_MEM(BPF_W, R7, R0, 52));
    jump(a, JA, L_SUBMIT);
  }
  label(a, L_NOPATH);
  emit(a, ST_MEM(BPF_B, R7, 72, 0));
  emit(a, ST_MEM(BPF_W, R7, 52, 0));
  label(a, L_SUBMIT);
  emit(a, MOV64_REG(R1, R7));
  /* JavaScript takes records on its own timer: no wake-up needed. */
  emit(a, MOV64_IMM(R2, BPF_RB_NO_WAKEUP));
  emit(a, CALL(BPF_FUNC_ringbuf_submit));
  jump(a, JA, L_OUT);
  label(a, L_LOST);
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R8, R1, C_LOST * 8));
  jump(a, JA, L_OUT);
  label(a, L_UNPAIRED);
  count_and_jump(a, counters_fd, C_UNPAIRED, L_OUT);
  if (!btf) {
    label(a, L_FAIL_READ);
    count_and_jump(a, counters_fd, C_READ_FAILED, L_OUT);
  }
}
#endif

/* ---- N-API ---- */

static void finalize(napi_env env, void *data, void *hint) {
  st_t *s = data;
  if (!s->closed) close_all(s);
  free(s);
}

/* Loads a raw_tp program; on refusal *why is one line with the verifier's last words. */
static int load(const bpf_asm_t *a, const char *name, char *log, char *why, size_t why_len) {
  int fd = prog_load(a, BPF_PROG_TYPE_RAW_TRACEPOINT, name, "GPL", log, LOG_BYTES);
  if (fd < 0) {
    int err = errno;
    char what[64];
    snprintf(what, sizeof what, "BPF_PROG_LOAD %s", name);
    load_error(why, why_len, what, err, log);
    errno = err;
  }
  return fd;
}

/* open({ calls: string[], thresholdNs, entries?, ringBytes?, runStats? }) → { handle, progIds, ringBytes, entries }
   runStats: 1 turns the kernel's run statistics on while the handle is open (stats() then has each program's run time and count). */
static napi_value open_st(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return throw_error(env, EINVAL, "open: options expected", NULL);
#if !ARCH_OK
  return throw_error(env, ENOTSUP, "bpfstat: only x86-64 is supported (pt_regs offsets and syscall numbers)", NULL);
#else
  double threshold = 0, entries = 65536, ring = 256 * 1024, exit_btf = 0;
  if (get_opt_double(env, argv[0], "thresholdNs", &threshold) != 1 || threshold < 0 || threshold > 1e13) return throw_error(env, EINVAL, "open: thresholdNs must be a number of ns from 0 to 1e13", NULL);
  if (get_opt_double(env, argv[0], "entries", &entries) < 0 || entries < 1 || entries > (1 << 22)) return throw_error(env, EINVAL, "open: entries must be from 1 to 4194304", NULL);
  if (get_opt_double(env, argv[0], "ringBytes", &ring) < 0) return throw_error(env, EINVAL, "open: ringBytes must be a number", NULL);
  if (get_opt_double(env, argv[0], "exitBtfId", &exit_btf) < 0 || exit_btf < 0 || exit_btf > 0xffffffffu) return throw_error(env, EINVAL, "open: exitBtfId must be a BTF type id", NULL);
  long page = sysconf(_SC_PAGESIZE);
  uint32_t rb = (uint32_t)ring;
  if (ring < page || ring > (1 << 30) || (rb & (rb - 1)) != 0) return throw_error(env, EINVAL, "open: ringBytes must be a power of 2, at least a page, at most 1 GiB", NULL);
  napi_value calls_v;
  bool is_array = false;
  if (napi_get_named_property(env, argv[0], "calls", &calls_v) != napi_ok || napi_is_array(env, calls_v, &is_array) != napi_ok || !is_array) return throw_error(env, EINVAL, "open: calls must be an array of names", NULL);
  uint32_t ncalls = 0;
  napi_get_array_length(env, calls_v, &ncalls);
  int nrs[NCALLS], path_regs[NCALLS], nn = 0;
  for (uint32_t i = 0; i < ncalls; i++) {
    napi_value el;
    char name[32];
    size_t len = 0;
    napi_get_element(env, calls_v, i, &el);
    if (napi_get_value_string_utf8(env, el, name, sizeof name, &len) != napi_ok) return throw_error(env, EINVAL, "open: calls must be strings", NULL);
    size_t k = 0;
    while (k < NCALLS && strcmp(CALLS[k].name, name) != 0) k++;
    if (k == NCALLS) {
      char m[96];
      snprintf(m, sizeof m, "open: unknown call %s", name);
      return throw_error(env, EINVAL, m, NULL);
    }
    int dup = 0;
    for (int j = 0; j < nn; j++) dup |= nrs[j] == CALLS[k].nr;
    if (!dup) {
      nrs[nn] = CALLS[k].nr;
      path_regs[nn++] = CALLS[k].path_reg;
    }
  }
  if (nn == 0) return throw_error(env, EINVAL, "open: no calls to watch", NULL);

  st_t *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, ENOMEM, "open");
  s->start_fd = s->counters_fd = s->ring.fd = s->enter_fd = s->exit_fd = s->enter_link = s->exit_link = s->stats_fd = -1;
  /* Slots: a power of two (the index is tid & mask); at least pid_max of most machines (32768) by default. */
  s->entries = 1;
  while (s->entries < (uint32_t)entries) s->entries <<= 1;
  char why[1024] = "";
  char *log = NULL;
  int err = 0;
  const char *step = "";
  bpf_asm_t *a = calloc(1, sizeof *a);
  log = malloc(LOG_BYTES);
  if (!a || !log) {
    err = ENOMEM;
    step = "open";
    goto fail;
  }
  double run_stats = 0;
  if (get_opt_double(env, argv[0], "runStats", &run_stats) == 1 && run_stats != 0 && (s->stats_fd = enable_run_stats()) < 0) {
    err = errno;
    step = "BPF_ENABLE_STATS";
    goto fail;
  }
  s->ncpus = possible_cpus();
  if (s->ncpus <= 0) {
    err = errno ? errno : EIO;
    step = "reading /sys/devices/system/cpu/possible";
    goto fail;
  }
#define TRY(expr, what)      \
  if ((expr) < 0) {          \
    err = errno;             \
    step = what;             \
    goto fail;               \
  }
  TRY(s->start_fd = map_create_flags(BPF_MAP_TYPE_ARRAY, "lantern_st_start", 4, SLOT, s->entries, BPF_F_MMAPABLE), "BPF_MAP_CREATE (array of calls in flight)");
  s->slots = mmap(NULL, (size_t)s->entries * SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, s->start_fd, 0);
  if (s->slots == MAP_FAILED) {
    s->slots = NULL;
    err = errno;
    step = "mmap of the array of calls in flight";
    goto fail;
  }
  TRY(s->counters_fd = map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "lantern_st_count", 4, COUNTER_WORDS * 8, 1), "BPF_MAP_CREATE (per-CPU counters)");
  if (ring_open(&s->ring, "lantern_st_ring", rb, &step) < 0) {
    err = errno;
    goto fail;
  }
  asm_reset(a);
  build_enter(a, nrs, nn, s->start_fd, s->counters_fd, s->entries - 1);
  if (asm_finish(a) < 0) {
    err = E2BIG;
    step = "assembling sys_enter";
    goto fail;
  }
  if ((s->enter_fd = load(a, "lantern_st_enter", log, why, sizeof why)) < 0) {
    err = errno;
    goto fail;
  }
  /* The exit on tp_btf when the kernel's BTF id of btf_trace_sys_exit is given; raw_tp when that is refused (or not given). */
  if (exit_btf > 0) {
    asm_reset(a);
    build_exit(a, nrs, path_regs, nn, s->start_fd, s->counters_fd, s->ring.fd, (uint64_t)threshold, s->entries - 1, 1);
    if (asm_finish(a) == 0 && (s->exit_fd = prog_load_attach(a, BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, (uint32_t)exit_btf, "lantern_st_exit", "GPL", log, LOG_BYTES)) >= 0) {
      s->exit_btf = 1;
    } else {
      char why_btf[512];
      load_error(why_btf, sizeof why_btf, "tp_btf", errno, log);
      snprintf(s->exit_note, sizeof s->exit_note, "%s", why_btf);
    }
  }
  if (s->exit_fd < 0) {
    asm_reset(a);
    build_exit(a, nrs, path_regs, nn, s->start_fd, s->counters_fd, s->ring.fd, (uint64_t)threshold, s->entries - 1, 0);
    if (asm_finish(a) < 0) {
      err = E2BIG;
      step = "assembling sys_exit";
      goto fail;
    }
    if ((s->exit_fd = load(a, "lantern_st_exit", log, why, sizeof why)) < 0) {
      err = errno;
      goto fail;
    }
  }
  s->enter_id = prog_id(s->enter_fd);
  s->exit_id = prog_id(s->exit_fd);
  /* Exit first: a call entered once sys_enter is on finds its exit program already there. */
  TRY(s->exit_link = raw_tp_open(s->exit_btf ? NULL : "sys_exit", s->exit_fd), "BPF_RAW_TRACEPOINT_OPEN sys_exit");
  TRY(s->enter_link = raw_tp_open("sys_enter", s->enter_fd), "BPF_RAW_TRACEPOINT_OPEN sys_enter");
#undef TRY
  free(a);
  free(log);
  napi_value o, handle, ids, v;
  napi_create_object(env, &o);
  napi_create_external(env, s, finalize, NULL, &handle);
  napi_set_named_property(env, o, "handle", handle);
  napi_create_array_with_length(env, 2, &ids);
  napi_create_uint32(env, s->enter_id, &v);
  napi_set_element(env, ids, 0, v);
  napi_create_uint32(env, s->exit_id, &v);
  napi_set_element(env, ids, 1, v);
  napi_set_named_property(env, o, "progIds", ids);
  set_num(env, o, "ringBytes", rb);
  set_num(env, o, "entries", s->entries);
  set_num(env, o, "cpus", s->ncpus);
  napi_create_string_utf8(env, s->exit_btf ? "tp_btf" : "raw_tp", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "exitAttach", v);
  if (s->exit_note[0]) {
    napi_create_string_utf8(env, s->exit_note, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "exitNote", v);
  }
  return o;
fail:
  free(a);
  free(log);
  close_all(s);
  free(s);
  if (why[0]) return throw_error(env, err, why, NULL);
  return throw_errno(env, err, step);
#endif
}

static st_t *get_handle(napi_env env, napi_callback_info info, napi_value *argv, size_t want) {
  st_t *s = get_external(env, info, argv, want, "bpfstat");
  if (s && s->closed) {
    throw_error(env, EBADF, "bpfstat: handle is closed", NULL);
    return NULL;
  }
  return s;
}

static size_t copy_rec(void *ctx, const uint8_t *rec, uint32_t size, uint8_t *out, size_t room) {
  if (size != REC) return RING_MALFORMED;
  if (room < REC) return RING_NO_ROOM;
  memcpy(out, rec, REC); /* data is mapped twice: no wrap */
  return REC;
}

/* take(handle) → Buffer of the records in the ring (REC bytes each), consumed. */
static napi_value take(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  st_t *s = get_handle(env, info, argv, 1);
  if (!s) return NULL;
  size_t cap = (size_t)(ring_pending(&s->ring) / (REC + BPF_RINGBUF_HDR_SZ) + 1) * REC;
  return ring_take(env, &s->ring, cap, copy_rec, NULL, &s->taken, &s->malformed);
}

/* inFlight(handle) → Buffer of every used slot of the array of calls (INFLIGHT bytes each; start 0: the thread is idle). */
static napi_value in_flight(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  st_t *s = get_handle(env, info, argv, 1);
  if (!s) return NULL;
  /* The array is mmap'd: read in place, no system call (the program may be writing a slot meanwhile: a torn one is read again next time). */
  size_t used = 0;
  for (uint32_t i = 0; i < s->entries; i++) used += __atomic_load_n(&s->slots[i * 4 + 1], __ATOMIC_RELAXED) != 0;
  uint8_t *out = malloc(used ? used * INFLIGHT : 1);
  if (!out) return throw_errno(env, ENOMEM, "inFlight");
  size_t n = 0;
  for (uint32_t i = 0; i < s->entries && n < used; i++) {
    const uint64_t *v = &s->slots[i * 4];
    uint64_t owner = __atomic_load_n(&v[1], __ATOMIC_RELAXED);
    if (!owner) continue;
    uint64_t e[5] = {owner, __atomic_load_n(&v[0], __ATOMIC_ACQUIRE), 0, 0, __atomic_load_n(&v[3], __ATOMIC_RELAXED)};
    memcpy(out + n++ * INFLIGHT, e, INFLIGHT);
  }
  napi_value b;
  napi_create_buffer_copy(env, n * INFLIGHT, n ? (void *)out : (void *)"", NULL, &b);
  free(out);
  return b;
}

/* forget(handle, Buffer of u64 pid_tgid keys) → how many slots were cleared (exited threads'). */
static napi_value forget(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  st_t *s = get_handle(env, info, argv, 2);
  if (!s) return NULL;
  void *data = NULL;
  size_t len = 0;
  bool is_buf = false;
  if (napi_is_buffer(env, argv[1], &is_buf) != napi_ok || !is_buf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_error(env, EINVAL, "forget: a Buffer of keys expected", NULL);
  double removed = 0;
  for (size_t off = 0; off + 8 <= len; off += 8) {
    uint64_t key;
    memcpy(&key, (uint8_t *)data + off, 8);
    uint64_t *v = &s->slots[(key & (s->entries - 1)) * 4];
    /* Only the exited thread's own slot (a new thread of that tid may have taken it since). */
    if (key && __atomic_compare_exchange_n(&v[1], &key, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      __atomic_store_n(&v[0], 0, __ATOMIC_RELEASE);
      removed++;
    }
  }
  napi_value v;
  napi_create_double(env, removed, &v);
  return v;
}

/* stats(handle) → the counters summed over CPUs, the histogram (log2 ns buckets) and taken. */
static napi_value stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  st_t *s = get_handle(env, info, argv, 1);
  if (!s) return NULL;
  uint64_t sum[COUNTER_WORDS];
  if (percpu_sum(s->counters_fd, s->ncpus, COUNTER_WORDS, sum) < 0) return throw_errno(env, errno, "stats: BPF_MAP_LOOKUP_ELEM");
  napi_value o, hist, x;
  napi_create_object(env, &o);
  double calls = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) calls += (double)sum[C_HIST + i];
  set_num(env, o, "calls", calls);
  set_num(env, o, "slow", (double)sum[C_SLOW]);
  set_num(env, o, "lost", (double)sum[C_LOST]);
  set_num(env, o, "unpaired", (double)sum[C_UNPAIRED]);
  set_num(env, o, "startFailed", (double)sum[C_START_FAILED]);
  set_num(env, o, "readFailed", (double)sum[C_READ_FAILED]);
  set_num(env, o, "taken", (double)s->taken);
  uint64_t ns[2], cnt[2];
  if (s->stats_fd >= 0 && prog_run_stats(s->enter_fd, &ns[0], &cnt[0]) == 0 && prog_run_stats(s->exit_fd, &ns[1], &cnt[1]) == 0) {
    set_num(env, o, "enterRunNs", (double)ns[0]);
    set_num(env, o, "enterRuns", (double)cnt[0]);
    set_num(env, o, "exitRunNs", (double)ns[1]);
    set_num(env, o, "exitRuns", (double)cnt[1]);
  }
  napi_create_array_with_length(env, HIST_BUCKETS, &hist);
  for (int i = 0; i < HIST_BUCKETS; i++) {
    napi_create_double(env, (double)sum[C_HIST + i], &x);
    napi_set_element(env, hist, (uint32_t)i, x);
  }
  napi_set_named_property(env, o, "hist", hist);
  return o;
}

/* close(handle): detach (links closed first), then programs, maps, mappings. Idempotent. */
static napi_value close_st(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  st_t *s = get_external(env, info, argv, 1, "close");
  if (s && !s->closed) close_all(s);
  return NULL;
}

/* loadBroken() → throws the error open() throws for a program the verifier refuses (tests). */
static napi_value load_broken(napi_env env, napi_callback_info info) {
  bpf_asm_t *a = calloc(1, sizeof *a);
  char *log = malloc(LOG_BYTES);
  if (!a || !log) {
    free(a);
    free(log);
    return throw_errno(env, ENOMEM, "loadBroken");
  }
  asm_reset(a);
  emit(a, MOV64_REG(R0, R5)); /* r5 was never written */
  emit(a, EXIT);
  asm_finish(a);
  char why[1024] = "";
  int fd = load(a, "lantern_st_bad", log, why, sizeof why);
  int err = errno;
  free(a);
  free(log);
  if (fd >= 0) {
    close(fd);
    return throw_error(env, EIO, "loadBroken: the verifier accepted a broken program", NULL);
  }
  return throw_error(env, err, why, NULL);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, open_st, NULL, NULL, NULL, napi_default, NULL},
      {"take", NULL, take, NULL, NULL, NULL, napi_default, NULL},
      {"inFlight", NULL, in_flight, NULL, NULL, NULL, napi_default, NULL},
      {"forget", NULL, forget, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_st, NULL, NULL, NULL, napi_default, NULL},
      {"progIds", NULL, js_prog_ids, NULL, NULL, NULL, napi_default, NULL},
      {"loadBroken", NULL, load_broken, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value calls, v;
  napi_create_object(env, &calls);
  for (size_t i = 0; i < NCALLS; i++) set_num(env, calls, CALLS[i].name, ARCH_OK ? CALLS[i].nr : -1);
  napi_set_named_property(env, exports, "CALL_IDS", calls);
  napi_create_uint32(env, REC, &v);
  napi_set_named_property(env, exports, "REC_BYTES", v);
  napi_create_uint32(env, PATH_BYTES, &v);
  napi_set_named_property(env, exports, "PATH_BYTES", v);
  napi_create_uint32(env, INFLIGHT, &v);
  napi_set_named_property(env, exports, "INFLIGHT_BYTES", v);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
