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
 *     returns at once (two compares per call: no helper, no map). A watched one reads si, di and
 *     cs from the pt_regs (one bpf_probe_read_kernel), skips 32-bit callers (cs != __USER_CS: the
 *     ids mean other calls there), and writes {start ns, di, si, id} into the thread's entry of a
 *     hash map keyed by pid_tgid (in place; inserted at the thread's first call only).
 *   sys_exit: ctx[1] = return value; the id is orig_ax in the pt_regs (one read). A watched id
 *     looks up its start and sets it to 0 (the entry stays, idle: no delete, no lock; the entries
 *     of exited threads are removed from user space with forget()), adds the duration to a
 *     per-CPU log2 histogram (its sum is the count of timed calls), and only at or above the
 *     threshold reserves a ring-buffer record (pid_tgid, start,
 *     duration, return value, di, si, id, comm, the path read with bpf_probe_read_user_str: the
 *     caller's buffer is still there at the exit). Fast calls never leave the kernel.
 *
 * Counters (per CPU, summed by stats()) add up: slow = records written to the ring + lost (a
 * reservation that failed: ring full), and the records written = taken by take() + still in the
 * ring. A call whose enter was not seen (begun before attach, or the start map was full:
 * startFailed) is counted as unpaired at its exit.
 *
 * Every fd (3 maps, 2 programs, 2 links) is closed on every path: on a failed open, at close(),
 * in the finalizer, and by the kernel when the process dies (a link's fd closing detaches the
 * program; nothing stays attached after a SIGKILL). BPF fds are O_CLOEXEC: children do not keep them.
 *
 * x86-64 only (pt_regs offsets, syscall numbers); elsewhere open() throws ENOTSUP and the
 * detector falls back to bpftrace.
 *
 * Ring record (little endian, REC bytes):
 *    0 u64 pid_tgid   8 u64 start ns (CLOCK_MONOTONIC)   16 u64 duration ns   24 s64 return value
 *   32 u64 di        40 u64 si   48 u32 syscall id   52 s32 path read result (bytes with NUL, <0 error, 0 none)
 *   56 char[16] comm  72 char[PATH] path (NUL-terminated when the read result is > 0)
 * In-flight entry (inFlight(), INFLIGHT bytes): 0 u64 pid_tgid 8 u64 start 16 u64 di 24 u64 si 32 u64 id
 */
#include <node_api.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PATH_BYTES 256
#define REC 328 /* 72 + PATH_BYTES */
#define INFLIGHT 40
#define HIST_BUCKETS 64
#define LOG_BYTES (256 * 1024)

/* Per-CPU counter slots (u64 each); the histogram follows. */
enum { C_UNUSED, C_SLOW, C_LOST, C_UNPAIRED, C_START_FAILED, C_READ_FAILED, C_RESERVED1, C_RESERVED2, C_HIST };
#define COUNTER_WORDS (C_HIST + HIST_BUCKETS)

/* ---- instruction macros (as in the kernel's samples/bpf/bpf_insn.h) ---- */
#define INSN(CODE, DST, SRC, OFF, IMM) ((struct bpf_insn){.code = (CODE), .dst_reg = (DST), .src_reg = (SRC), .off = (OFF), .imm = (IMM)})
#define ALU64_IMM(OP, DST, IMM) INSN(BPF_ALU64 | BPF_OP(OP) | BPF_K, DST, 0, 0, IMM)
#define ALU64_REG(OP, DST, SRC) INSN(BPF_ALU64 | BPF_OP(OP) | BPF_X, DST, SRC, 0, 0)
#define MOV64_REG(DST, SRC) INSN(BPF_ALU64 | BPF_MOV | BPF_X, DST, SRC, 0, 0)
#define MOV64_IMM(DST, IMM) INSN(BPF_ALU64 | BPF_MOV | BPF_K, DST, 0, 0, IMM)
#define LDX_MEM(SIZE, DST, SRC, OFF) INSN(BPF_LDX | BPF_SIZE(SIZE) | BPF_MEM, DST, SRC, OFF, 0)
#define STX_MEM(SIZE, DST, SRC, OFF) INSN(BPF_STX | BPF_SIZE(SIZE) | BPF_MEM, DST, SRC, OFF, 0)
#define ST_MEM(SIZE, DST, OFF, IMM) INSN(BPF_ST | BPF_SIZE(SIZE) | BPF_MEM, DST, 0, OFF, IMM)
#define ATOMIC_ADD64(DST, SRC, OFF) INSN(BPF_STX | BPF_DW | BPF_ATOMIC, DST, SRC, OFF, BPF_ADD)
#define JMP_IMM(OP, DST, IMM) INSN(BPF_JMP | BPF_OP(OP) | BPF_K, DST, 0, 0, IMM)
#define JMP_REG(OP, DST, SRC) INSN(BPF_JMP | BPF_OP(OP) | BPF_X, DST, SRC, 0, 0)
#define JA INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0)
#define CALL(FN) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, FN)
#define EXIT INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

enum { R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };

/* A program under construction: instructions, labels and the jumps to patch. */
#define MAX_INSNS 512
#define MAX_LABELS 32
#define MAX_FIX 128
typedef struct asm_ {
  struct bpf_insn ins[MAX_INSNS];
  int n;
  int label_at[MAX_LABELS];
  int fix_at[MAX_FIX], fix_label[MAX_FIX];
  int nfix;
  int overflow;
} asm_t;

static void emit(asm_t *a, struct bpf_insn i) {
  if (a->n >= MAX_INSNS) {
    a->overflow = 1;
    return;
  }
  a->ins[a->n++] = i;
}
/* A jump (its off patched when the label is known). */
static void jump(asm_t *a, struct bpf_insn i, int label) {
  if (a->nfix >= MAX_FIX) {
    a->overflow = 1;
    return;
  }
  a->fix_at[a->nfix] = a->n;
  a->fix_label[a->nfix++] = label;
  emit(a, i);
}
static void label(asm_t *a, int l) { a->label_at[l] = a->n; }
static void ld_imm64(asm_t *a, int dst, uint64_t v) {
  emit(a, INSN(BPF_LD | BPF_DW | BPF_IMM, dst, 0, 0, (int32_t)(uint32_t)v));
  emit(a, INSN(0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32)));
}
static void ld_map(asm_t *a, int dst, int fd) {
  emit(a, INSN(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd));
  emit(a, INSN(0, 0, 0, 0, 0));
}
static int finish(asm_t *a) {
  if (a->overflow) return -1;
  for (int i = 0; i < a->nfix; i++) a->ins[a->fix_at[i]].off = (int16_t)(a->label_at[a->fix_label[i]] - a->fix_at[i] - 1);
  return 0;
}

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

static long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }

static int map_create(int type, const char *name, uint32_t key, uint32_t value, uint32_t entries) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = type;
  a.key_size = key;
  a.value_size = value;
  a.max_entries = entries;
  snprintf(a.map_name, sizeof a.map_name, "%s", name);
  return (int)sys_bpf(BPF_MAP_CREATE, &a);
}

typedef struct st {
  int start_fd, counters_fd, ring_fd;
  int enter_fd, exit_fd;
  int enter_link, exit_link;
  uint32_t enter_id, exit_id;
  uint32_t ring_bytes;
  uint32_t entries;
  long page;
  void *cons_map; /* consumer page (rw) */
  void *prod_map; /* producer page + data twice (ro) */
  double taken;
  int ncpus;
  int closed;
} st_t;

static void close_all(st_t *s) {
  int *fds[] = {&s->enter_link, &s->exit_link, &s->enter_fd, &s->exit_fd, &s->start_fd, &s->counters_fd, &s->ring_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
    if (*fds[i] >= 0) close(*fds[i]);
    *fds[i] = -1;
  }
  if (s->cons_map) munmap(s->cons_map, (size_t)s->page);
  if (s->prod_map) munmap(s->prod_map, (size_t)s->page + 2 * (size_t)s->ring_bytes);
  s->cons_map = s->prod_map = NULL;
  s->closed = 1;
}

/* ---- errors ---- */
static const char *errno_name(int err) {
  switch (err) {
  case EPERM: return "EPERM";
  case EACCES: return "EACCES";
  case ENOENT: return "ENOENT";
  case EINVAL: return "EINVAL";
  case ENOMEM: return "ENOMEM";
  case E2BIG: return "E2BIG";
  case ENOTSUP: return "ENOTSUP";
  case ENOSYS: return "ENOSYS";
  case EBADF: return "EBADF";
  default: return "EIO";
  }
}
static napi_value throw_msg(napi_env env, int err, const char *msg) {
  napi_value code, m, e, errno_v;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, code, m, &e);
  napi_create_int32(env, err, &errno_v);
  napi_set_named_property(env, e, "errno", errno_v);
  napi_throw(env, e);
  return NULL;
}
static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  return throw_msg(env, err, msg);
}

/*
 * Load a program; on failure load it again with the verifier log on and put the log's last
 * lines (where the verifier says what it refused) into *why, one line, ' | ' between lines.
 */
static int prog_load(asm_t *a, const char *name, char *why, size_t why_len) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
  at.insns = (uint64_t)(uintptr_t)a->ins;
  at.insn_cnt = (uint32_t)a->n;
  at.license = (uint64_t)(uintptr_t) "GPL";
  snprintf(at.prog_name, sizeof at.prog_name, "%s", name);
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &at);
  if (fd >= 0) return fd;
  int err = errno;
  char *log = calloc(1, LOG_BYTES);
  if (log) {
    at.log_buf = (uint64_t)(uintptr_t)log;
    at.log_size = LOG_BYTES;
    at.log_level = 1;
    fd = (int)sys_bpf(BPF_PROG_LOAD, &at);
    if (fd >= 0) { /* loaded with the log on (should not happen): use it */
      free(log);
      return fd;
    }
    err = errno;
    /* The last 4 non-empty lines. */
    size_t len = strnlen(log, LOG_BYTES - 1);
    while (len && (log[len - 1] == '\n' || log[len - 1] == ' ')) log[--len] = 0;
    size_t start = len;
    int lines = 0;
    while (start > 0 && lines < 4) {
      start--;
      if (log[start] == '\n' && start + 1 < len) lines++;
    }
    if (lines == 4) start++;
    for (size_t i = start; i < len; i++)
      if (log[i] == '\n') log[i] = '|';
    snprintf(why, why_len, "BPF_PROG_LOAD %s: %s; verifier: %s", name, strerror(err), len ? log + start : "(empty log: refused before the verifier ran)");
    free(log);
  } else {
    snprintf(why, why_len, "BPF_PROG_LOAD %s: %s", name, strerror(err));
  }
  errno = err;
  return -1;
}

static uint32_t prog_id(int fd) {
  struct bpf_prog_info info;
  memset(&info, 0, sizeof info);
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.info.bpf_fd = (uint32_t)fd;
  a.info.info_len = sizeof info;
  a.info.info = (uint64_t)(uintptr_t)&info;
  return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) == 0 ? info.id : 0;
}

static int raw_tp_open(const char *tp, int prog_fd) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.raw_tracepoint.name = (uint64_t)(uintptr_t)tp;
  a.raw_tracepoint.prog_fd = (uint32_t)prog_fd;
  return (int)sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &a);
}

enum { L_MATCH, L_OUT, L_FAIL_READ, L_FAIL_START, L_COUNT, L_UNPAIRED, L_LOST, L_SI, L_DI, L_READ, L_NOPATH, L_SUBMIT, L_INSERT };

/* counters[idx] += 1 on this CPU (idx a constant); jumps to L_OUT. Clobbers r0-r5. */
static void count_and_out(asm_t *a, int counters_fd, int idx) {
  emit(a, ST_MEM(BPF_W, R10, -4, 0));
  ld_map(a, R1, counters_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ALU64_IMM(BPF_ADD, R2, -4));
  emit(a, CALL(BPF_FUNC_map_lookup_elem));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_OUT);
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R0, R1, idx * 8));
  jump(a, JA, L_OUT);
}

#if ARCH_OK
/* sys_enter: a watched id stores {start, di, si, id} under pid_tgid. */
static void build_enter(asm_t *a, const int *nrs, int nn, int start_fd, int counters_fd) {
  emit(a, MOV64_REG(R6, R1));
  emit(a, LDX_MEM(BPF_DW, R7, R6, 8)); /* id */
  for (int i = 0; i < nn; i++) jump(a, JMP_IMM(BPF_JEQ, R7, nrs[i]), L_MATCH);
  label(a, L_OUT);
  emit(a, MOV64_IMM(R0, 0));
  emit(a, EXIT);
  label(a, L_MATCH);
  /* si, di, orig_ax, ip, cs: fp-40 .. fp-1 */
  emit(a, MOV64_REG(R1, R10));
  emit(a, ALU64_IMM(BPF_ADD, R1, -40));
  emit(a, MOV64_IMM(R2, REGS_CS + 8 - REGS_SI));
  emit(a, LDX_MEM(BPF_DW, R3, R6, 0));
  emit(a, ALU64_IMM(BPF_ADD, R3, REGS_SI));
  emit(a, CALL(BPF_FUNC_probe_read_kernel));
  jump(a, JMP_IMM(BPF_JNE, R0, 0), L_FAIL_READ);
  emit(a, LDX_MEM(BPF_DW, R1, R10, -40 + (REGS_CS - REGS_SI)));
  jump(a, JMP_IMM(BPF_JNE, R1, USER_CS), L_OUT);
  /* value at fp-80: start, di, si, id */
  emit(a, CALL(BPF_FUNC_ktime_get_ns));
  emit(a, STX_MEM(BPF_DW, R10, R0, -80));
  emit(a, LDX_MEM(BPF_DW, R1, R10, -40 + (REGS_DI - REGS_SI)));
  emit(a, STX_MEM(BPF_DW, R10, R1, -72));
  emit(a, LDX_MEM(BPF_DW, R1, R10, -40));
  emit(a, STX_MEM(BPF_DW, R10, R1, -64));
  emit(a, STX_MEM(BPF_DW, R10, R7, -56));
  emit(a, CALL(BPF_FUNC_get_current_pid_tgid));
  emit(a, STX_MEM(BPF_DW, R10, R0, -88));
  {
    /* A thread's entry stays (start 0 while idle): written in place, no bucket lock, no allocation. */
    ld_map(a, R1, start_fd);
    emit(a, MOV64_REG(R2, R10));
    emit(a, ALU64_IMM(BPF_ADD, R2, -88));
    emit(a, CALL(BPF_FUNC_map_lookup_elem));
    jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_INSERT);
    emit(a, LDX_MEM(BPF_DW, R1, R10, -72));
    emit(a, STX_MEM(BPF_DW, R0, R1, 8));
    emit(a, LDX_MEM(BPF_DW, R1, R10, -64));
    emit(a, STX_MEM(BPF_DW, R0, R1, 16));
    emit(a, STX_MEM(BPF_DW, R0, R7, 24));
    emit(a, LDX_MEM(BPF_DW, R1, R10, -80));
    emit(a, STX_MEM(BPF_DW, R0, R1, 0));
    jump(a, JA, L_OUT);
    label(a, L_INSERT);
  }
  ld_map(a, R1, start_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ALU64_IMM(BPF_ADD, R2, -88));
  emit(a, MOV64_REG(R3, R10));
  emit(a, ALU64_IMM(BPF_ADD, R3, -80));
  emit(a, MOV64_IMM(R4, BPF_ANY));
  emit(a, CALL(BPF_FUNC_map_update_elem));
  jump(a, JMP_IMM(BPF_JNE, R0, 0), L_FAIL_START);
  jump(a, JA, L_OUT);
  label(a, L_FAIL_READ);
  count_and_out(a, counters_fd, C_READ_FAILED);
  label(a, L_FAIL_START);
  count_and_out(a, counters_fd, C_START_FAILED);
}

/* sys_exit: pair, count, histogram; a slow call goes to the ring with its comm and path. */
static void build_exit(asm_t *a, const int *nrs, const int *path_regs, int nn, int start_fd, int counters_fd, int ring_fd, uint64_t threshold_ns) {
  emit(a, MOV64_REG(R6, R1));
  /* orig_ax, ip, cs: fp-24 .. fp-1 */
  emit(a, MOV64_REG(R1, R10));
  emit(a, ALU64_IMM(BPF_ADD, R1, -24));
  emit(a, MOV64_IMM(R2, REGS_CS + 8 - REGS_ORIG_AX));
  emit(a, LDX_MEM(BPF_DW, R3, R6, 0));
  emit(a, ALU64_IMM(BPF_ADD, R3, REGS_ORIG_AX));
  emit(a, CALL(BPF_FUNC_probe_read_kernel));
  jump(a, JMP_IMM(BPF_JNE, R0, 0), L_OUT);
  emit(a, LDX_MEM(BPF_DW, R7, R10, -24)); /* id */
  for (int i = 0; i < nn; i++) jump(a, JMP_IMM(BPF_JEQ, R7, nrs[i]), L_MATCH);
  label(a, L_OUT);
  emit(a, MOV64_IMM(R0, 0));
  emit(a, EXIT);
  label(a, L_MATCH);
  emit(a, LDX_MEM(BPF_DW, R1, R10, -24 + (REGS_CS - REGS_ORIG_AX)));
  jump(a, JMP_IMM(BPF_JNE, R1, USER_CS), L_OUT);
  emit(a, STX_MEM(BPF_DW, R10, R7, -72)); /* id */
  emit(a, CALL(BPF_FUNC_get_current_pid_tgid));
  emit(a, STX_MEM(BPF_DW, R10, R0, -32)); /* key */
  ld_map(a, R1, start_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ALU64_IMM(BPF_ADD, R2, -32));
  emit(a, CALL(BPF_FUNC_map_lookup_elem));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_UNPAIRED);
  emit(a, LDX_MEM(BPF_DW, R1, R0, 0));
  jump(a, JMP_IMM(BPF_JEQ, R1, 0), L_UNPAIRED); /* idle entry: this call's enter was not seen */
  emit(a, STX_MEM(BPF_DW, R10, R1, -64)); /* start */
  emit(a, LDX_MEM(BPF_DW, R1, R0, 8));
  emit(a, STX_MEM(BPF_DW, R10, R1, -56)); /* di */
  emit(a, LDX_MEM(BPF_DW, R1, R0, 16));
  emit(a, STX_MEM(BPF_DW, R10, R1, -48)); /* si */
  /* Idle again (not deleted: a delete takes the bucket lock and frees the element; forget() removes exited threads' entries). */
  emit(a, ST_MEM(BPF_DW, R0, 0, 0));
  emit(a, CALL(BPF_FUNC_ktime_get_ns));
  emit(a, LDX_MEM(BPF_DW, R1, R10, -64));
  emit(a, ALU64_REG(BPF_SUB, R0, R1));
  emit(a, MOV64_REG(R9, R0)); /* duration */
  emit(a, ST_MEM(BPF_W, R10, -76, 0));
  ld_map(a, R1, counters_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ALU64_IMM(BPF_ADD, R2, -76));
  emit(a, CALL(BPF_FUNC_map_lookup_elem));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), L_OUT);
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
  count_and_out(a, counters_fd, C_UNPAIRED);
}
#endif

static int possible_cpus(void) {
  FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
  if (!f) return -1;
  char buf[256];
  int max = -1;
  if (fgets(buf, sizeof buf, f)) {
    for (char *p = buf; *p;) {
      char *end;
      long a = strtol(p, &end, 10);
      if (end == p) break;
      long b = a;
      if (*end == '-') {
        p = end + 1;
        b = strtol(p, &end, 10);
      }
      if (b > max) max = (int)b;
      p = *end == ',' ? end + 1 : end;
      if (*p == '\n') break;
    }
  }
  fclose(f);
  return max + 1;
}

/* ---- N-API ---- */

static void set_num(napi_env env, napi_value o, const char *k, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

static void finalize(napi_env env, void *data, void *hint) {
  st_t *s = data;
  if (!s->closed) close_all(s);
  free(s);
}

static int get_opt_double(napi_env env, napi_value o, const char *k, double *out) {
  bool has = false;
  napi_has_named_property(env, o, k, &has);
  if (!has) return 0;
  napi_value v;
  napi_get_named_property(env, o, k, &v);
  return napi_get_value_double(env, v, out) == napi_ok ? 1 : -1;
}

/* open({ calls: string[], thresholdNs, entries?, ringBytes? }) → { handle, progIds, ringBytes, entries } */
static napi_value open_st(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return throw_msg(env, EINVAL, "open: options expected");
#if !ARCH_OK
  return throw_msg(env, ENOTSUP, "bpfstat: only x86-64 is supported (pt_regs offsets and syscall numbers)");
#else
  double threshold = 0, entries = 65536, ring = 256 * 1024;
  if (get_opt_double(env, argv[0], "thresholdNs", &threshold) != 1 || threshold < 0 || threshold > 1e13) return throw_msg(env, EINVAL, "open: thresholdNs must be a number of ns from 0 to 1e13");
  if (get_opt_double(env, argv[0], "entries", &entries) < 0 || entries < 1 || entries > (1 << 22)) return throw_msg(env, EINVAL, "open: entries must be from 1 to 4194304");
  if (get_opt_double(env, argv[0], "ringBytes", &ring) < 0) return throw_msg(env, EINVAL, "open: ringBytes must be a number");
  long page = sysconf(_SC_PAGESIZE);
  uint32_t rb = (uint32_t)ring;
  if (ring < page || ring > (1 << 30) || (rb & (rb - 1)) != 0) return throw_msg(env, EINVAL, "open: ringBytes must be a power of 2, at least a page, at most 1 GiB");
  napi_value calls_v;
  bool is_array = false;
  if (napi_get_named_property(env, argv[0], "calls", &calls_v) != napi_ok || napi_is_array(env, calls_v, &is_array) != napi_ok || !is_array) return throw_msg(env, EINVAL, "open: calls must be an array of names");
  uint32_t ncalls = 0;
  napi_get_array_length(env, calls_v, &ncalls);
  int nrs[NCALLS], path_regs[NCALLS], nn = 0;
  for (uint32_t i = 0; i < ncalls; i++) {
    napi_value el;
    char name[32];
    size_t len = 0;
    napi_get_element(env, calls_v, i, &el);
    if (napi_get_value_string_utf8(env, el, name, sizeof name, &len) != napi_ok) return throw_msg(env, EINVAL, "open: calls must be strings");
    size_t k = 0;
    while (k < NCALLS && strcmp(CALLS[k].name, name) != 0) k++;
    if (k == NCALLS) {
      char m[96];
      snprintf(m, sizeof m, "open: unknown call %s", name);
      return throw_msg(env, EINVAL, m);
    }
    int dup = 0;
    for (int j = 0; j < nn; j++) dup |= nrs[j] == CALLS[k].nr;
    if (!dup) {
      nrs[nn] = CALLS[k].nr;
      path_regs[nn++] = CALLS[k].path_reg;
    }
  }
  if (nn == 0) return throw_msg(env, EINVAL, "open: no calls to watch");

  st_t *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, ENOMEM, "open");
  s->start_fd = s->counters_fd = s->ring_fd = s->enter_fd = s->exit_fd = s->enter_link = s->exit_link = -1;
  s->page = page;
  s->ring_bytes = rb;
  s->entries = (uint32_t)entries;
  char why[1024] = "";
  int err = 0;
  const char *step = "";
  asm_t *a = calloc(1, sizeof *a);
  if (!a) {
    err = ENOMEM;
    step = "open";
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
  TRY(s->start_fd = map_create(BPF_MAP_TYPE_HASH, "lantern_st_start", 8, 32, s->entries), "BPF_MAP_CREATE (hash of calls in flight)");
  TRY(s->counters_fd = map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "lantern_st_count", 4, COUNTER_WORDS * 8, 1), "BPF_MAP_CREATE (per-CPU counters)");
  TRY(s->ring_fd = map_create(BPF_MAP_TYPE_RINGBUF, "lantern_st_ring", 0, 0, rb), "BPF_MAP_CREATE (ring buffer)");
  s->cons_map = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, s->ring_fd, 0);
  if (s->cons_map == MAP_FAILED) {
    s->cons_map = NULL;
    err = errno;
    step = "mmap of the ring buffer's consumer page";
    goto fail;
  }
  s->prod_map = mmap(NULL, (size_t)page + 2 * (size_t)rb, PROT_READ, MAP_SHARED, s->ring_fd, page);
  if (s->prod_map == MAP_FAILED) {
    s->prod_map = NULL;
    err = errno;
    step = "mmap of the ring buffer's data";
    goto fail;
  }
  build_enter(a, nrs, nn, s->start_fd, s->counters_fd);
  if (finish(a) < 0) {
    err = E2BIG;
    step = "assembling sys_enter";
    goto fail;
  }
  if ((s->enter_fd = prog_load(a, "lantern_st_enter", why, sizeof why)) < 0) {
    err = errno;
    goto fail;
  }
  memset(a, 0, sizeof *a);
  build_exit(a, nrs, path_regs, nn, s->start_fd, s->counters_fd, s->ring_fd, (uint64_t)threshold);
  if (finish(a) < 0) {
    err = E2BIG;
    step = "assembling sys_exit";
    goto fail;
  }
  if ((s->exit_fd = prog_load(a, "lantern_st_exit", why, sizeof why)) < 0) {
    err = errno;
    goto fail;
  }
  s->enter_id = prog_id(s->enter_fd);
  s->exit_id = prog_id(s->exit_fd);
  /* Exit first: a call entered once sys_enter is on finds its exit program already there. */
  TRY(s->exit_link = raw_tp_open("sys_exit", s->exit_fd), "BPF_RAW_TRACEPOINT_OPEN sys_exit");
  TRY(s->enter_link = raw_tp_open("sys_enter", s->enter_fd), "BPF_RAW_TRACEPOINT_OPEN sys_enter");
#undef TRY
  free(a);
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
  return o;
fail:
  free(a);
  close_all(s);
  free(s);
  if (why[0]) return throw_msg(env, err, why);
  return throw_errno(env, err, step);
#endif
}

static st_t *get_handle(napi_env env, napi_callback_info info, napi_value *argv, size_t want) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    throw_msg(env, EINVAL, "bpfstat: handle expected");
    return NULL;
  }
  st_t *s = p;
  if (s->closed) {
    throw_msg(env, EBADF, "bpfstat: handle is closed");
    return NULL;
  }
  return s;
}

/* take(handle) → Buffer of the records in the ring (REC bytes each), consumed. */
static napi_value take(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  st_t *s = get_handle(env, info, argv, 1);
  if (!s) return NULL;
  uint64_t *consumer = s->cons_map;
  const uint64_t *producer = s->prod_map;
  const uint8_t *data = (const uint8_t *)s->prod_map + s->page;
  uint64_t mask = s->ring_bytes - 1;
  uint64_t cons = __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
  uint64_t prod = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
  size_t cap = (size_t)((prod - cons) / (REC + BPF_RINGBUF_HDR_SZ) + 1) * REC;
  uint8_t *out = malloc(cap ? cap : 1);
  size_t n = 0;
  if (!out) return throw_errno(env, ENOMEM, "take");
  while (cons < prod) {
    const uint32_t *hdr = (const uint32_t *)(data + (cons & mask));
    uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
    if (len & BPF_RINGBUF_BUSY_BIT) break; /* still being written: next time */
    uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    if (!(len & BPF_RINGBUF_DISCARD_BIT) && size == REC && n + REC <= cap) {
      memcpy(out + n, (const uint8_t *)hdr + BPF_RINGBUF_HDR_SZ, REC); /* data is mapped twice: no wrap */
      n += REC;
    }
    cons += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
    __atomic_store_n(consumer, cons, __ATOMIC_RELEASE);
  }
  s->taken += (double)(n / REC);
  napi_value b;
  napi_create_buffer_copy(env, n, n ? (void *)out : (void *)"", NULL, &b);
  free(out);
  return b;
}

/* inFlight(handle) → Buffer of every entry of the start map (INFLIGHT bytes each; start 0: the thread is idle). */
static napi_value in_flight(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  st_t *s = get_handle(env, info, argv, 1);
  if (!s) return NULL;
  uint32_t cap = s->entries;
  uint64_t *keys = malloc((size_t)cap * 8), *vals = malloc((size_t)cap * 32);
  uint8_t *out = malloc((size_t)cap * INFLIGHT);
  if (!keys || !vals || !out) {
    free(keys);
    free(vals);
    free(out);
    return throw_errno(env, ENOMEM, "inFlight");
  }
  size_t n = 0;
  uint64_t token = 0;
  int first = 1;
  /* BPF_MAP_LOOKUP_BATCH: a few system calls for the whole map, not two per entry. */
  while (n < cap) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.batch.map_fd = (uint32_t)s->start_fd;
    a.batch.in_batch = first ? 0 : (uint64_t)(uintptr_t)&token;
    a.batch.out_batch = (uint64_t)(uintptr_t)&token;
    a.batch.keys = (uint64_t)(uintptr_t)keys;
    a.batch.values = (uint64_t)(uintptr_t)vals;
    a.batch.count = cap - (uint32_t)n;
    long r = sys_bpf(BPF_MAP_LOOKUP_BATCH, &a);
    int err = r < 0 ? errno : 0;
    if (r < 0 && err != ENOENT) {
      free(keys);
      free(vals);
      free(out);
      return throw_errno(env, err, "inFlight: BPF_MAP_LOOKUP_BATCH");
    }
    for (uint32_t i = 0; i < a.batch.count && n < cap; i++, n++) {
      uint64_t e[5] = {keys[i], vals[i * 4], vals[i * 4 + 1], vals[i * 4 + 2], vals[i * 4 + 3]};
      memcpy(out + n * INFLIGHT, e, INFLIGHT);
    }
    if (err == ENOENT) break; /* the end */
    first = 0;
  }
  napi_value b;
  napi_create_buffer_copy(env, n * INFLIGHT, n ? (void *)out : (void *)"", NULL, &b);
  free(keys);
  free(vals);
  free(out);
  return b;
}

/* forget(handle, Buffer of u64 pid_tgid keys) → how many entries were removed (exited threads). */
static napi_value forget(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  st_t *s = get_handle(env, info, argv, 2);
  if (!s) return NULL;
  void *data = NULL;
  size_t len = 0;
  bool is_buf = false;
  if (napi_is_buffer(env, argv[1], &is_buf) != napi_ok || !is_buf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_msg(env, EINVAL, "forget: a Buffer of keys expected");
  double removed = 0;
  for (size_t off = 0; off + 8 <= len; off += 8) {
    uint64_t key;
    memcpy(&key, (uint8_t *)data + off, 8);
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = (uint32_t)s->start_fd;
    a.key = (uint64_t)(uintptr_t)&key;
    if (sys_bpf(BPF_MAP_DELETE_ELEM, &a) == 0) removed++;
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
  uint64_t *v = calloc((size_t)s->ncpus, COUNTER_WORDS * 8);
  if (!v) return throw_errno(env, ENOMEM, "stats");
  uint32_t zero = 0;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)s->counters_fd;
  a.key = (uint64_t)(uintptr_t)&zero;
  a.value = (uint64_t)(uintptr_t)v;
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a) < 0) {
    int err = errno;
    free(v);
    return throw_errno(env, err, "stats: BPF_MAP_LOOKUP_ELEM");
  }
  double sum[COUNTER_WORDS] = {0};
  for (int c = 0; c < s->ncpus; c++)
    for (int w = 0; w < COUNTER_WORDS; w++) sum[w] += (double)v[(size_t)c * COUNTER_WORDS + w];
  free(v);
  napi_value o, hist, x;
  napi_create_object(env, &o);
  double calls = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) calls += sum[C_HIST + i];
  set_num(env, o, "calls", calls);
  set_num(env, o, "slow", sum[C_SLOW]);
  set_num(env, o, "lost", sum[C_LOST]);
  set_num(env, o, "unpaired", sum[C_UNPAIRED]);
  set_num(env, o, "startFailed", sum[C_START_FAILED]);
  set_num(env, o, "readFailed", sum[C_READ_FAILED]);
  set_num(env, o, "taken", s->taken);
  napi_create_array_with_length(env, HIST_BUCKETS, &hist);
  for (int i = 0; i < HIST_BUCKETS; i++) {
    napi_create_double(env, sum[C_HIST + i], &x);
    napi_set_element(env, hist, (uint32_t)i, x);
  }
  napi_set_named_property(env, o, "hist", hist);
  return o;
}

/* close(handle): detach (links closed first), then programs, maps, mappings. Idempotent. */
static napi_value close_st(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) return throw_msg(env, EINVAL, "close: handle expected");
  st_t *s = p;
  if (!s->closed) close_all(s);
  return NULL;
}

/* progIds() → the ids of every BPF program loaded on this machine (BPF_PROG_GET_NEXT_ID). */
static napi_value prog_ids(napi_env env, napi_callback_info info) {
  napi_value arr, v;
  napi_create_array(env, &arr);
  uint32_t id = 0, n = 0;
  for (;;) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.start_id = id;
    if (sys_bpf(BPF_PROG_GET_NEXT_ID, &a) < 0) {
      if (errno == ENOENT) break;
      return throw_errno(env, errno, "BPF_PROG_GET_NEXT_ID");
    }
    id = a.next_id;
    napi_create_uint32(env, id, &v);
    napi_set_element(env, arr, n++, v);
  }
  return arr;
}

/* loadBroken() → throws the error open() throws for a program the verifier refuses (tests). */
static napi_value load_broken(napi_env env, napi_callback_info info) {
  asm_t *a = calloc(1, sizeof *a);
  if (!a) return throw_errno(env, ENOMEM, "loadBroken");
  emit(a, MOV64_REG(R0, R5)); /* r5 was never written */
  emit(a, EXIT);
  finish(a);
  char why[1024] = "";
  int fd = prog_load(a, "lantern_st_bad", why, sizeof why);
  free(a);
  if (fd >= 0) {
    close(fd);
    return throw_msg(env, EIO, "loadBroken: the verifier accepted a broken program");
  }
  return throw_msg(env, errno, why[0] ? why : "BPF_PROG_LOAD failed");
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, open_st, NULL, NULL, NULL, napi_default, NULL},
      {"take", NULL, take, NULL, NULL, NULL, napi_default, NULL},
      {"inFlight", NULL, in_flight, NULL, NULL, NULL, napi_default, NULL},
      {"forget", NULL, forget, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_st, NULL, NULL, NULL, napi_default, NULL},
      {"progIds", NULL, prog_ids, NULL, NULL, NULL, napi_default, NULL},
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
