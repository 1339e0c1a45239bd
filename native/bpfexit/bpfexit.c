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
 * GENERIC (would serve any raw_tp loader): the instruction macros and the small assembler with
 * labels, sys_bpf, map creation, the load with the verifier log retried on refusal, the raw_tp
 * attach, the ring buffer consumer, the per-CPU counter read, prog_exists(). SPECIFIC: build_prog(),
 * the record layout and its conversion into the entries of native/taskstats (take()).
 *
 * Record the program writes (little endian, REC bytes):
 *    0 u32 pid (the thread)   4 u32 tgid   8 u32 ppid (real_parent->tgid)   12 u32 exit_code
 *   16 u32 uid (real_cred->uid)   20 u32 0   24 char[16] comm
 *   40 u64 read_bytes  48 u64 write_bytes  56 u64 cancelled_write_bytes  64 u64 rchar  72 u64 wchar
 *   80 u64 start_time (CLOCK_MONOTONIC ns)   88 u64 exit time (bpf_ktime_get_ns, CLOCK_MONOTONIC)
 * Entry layout handed to JavaScript: the one of native/taskstats (120 bytes, see taskstats.c),
 * version 0 (not a taskstats structure), receive time = the exit time above.
 */
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ENTRY 120
#define REC 96
#define NCOUNTERS 4 /* seen, skipped, lost, submitted */
#define PROG_NAME "lantern_ioexit"
#define TP_NAME "sched_process_exit"
#define MAX_INSNS 256
#define LOG_BYTES (256 * 1024)

/* ---- generic: instruction macros (the encodings of Documentation/bpf/standardization) ---- */

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define MOV64_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ADD64_IMM(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define OR64_REG(d, s) INSN(BPF_ALU64 | BPF_OR | BPF_X, d, s, 0, 0)
#define LDX(sz, d, s, o) INSN(BPF_LDX | (sz) | BPF_MEM, d, s, o, 0)
#define STX(sz, d, s, o) INSN(BPF_STX | (sz) | BPF_MEM, d, s, o, 0)
#define ST_IMM(sz, d, o, i) INSN(BPF_ST | (sz) | BPF_MEM, d, 0, o, i)
#define ATOMIC_ADD64(d, s, o) INSN(BPF_STX | BPF_DW | BPF_ATOMIC, d, s, o, BPF_ADD)
#define CALL(fn) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, fn)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define R0 0
#define R1 1
#define R2 2
#define R3 3
#define R6 6
#define R7 7
#define R8 8
#define R10 10

/* A tiny assembler: instructions in order, jumps to labels resolved at the end. */
#define MAX_LABELS 8
typedef struct asm_s {
  struct bpf_insn insn[MAX_INSNS];
  int n;
  int label_at[MAX_LABELS];
  int fix_at[MAX_INSNS], fix_label[MAX_INSNS], nfix;
  int overflow;
} asm_t;

static void emit(asm_t *a, struct bpf_insn i) {
  if (a->n >= MAX_INSNS) {
    a->overflow = 1;
    return;
  }
  a->insn[a->n++] = i;
}
/* r_dst = the map whose descriptor is fd (a two-instruction 64-bit immediate load). */
static void ld_map_fd(asm_t *a, int dst, int fd) {
  emit(a, INSN(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd));
  emit(a, INSN(0, 0, 0, 0, 0));
}
/* if (r_dst <op> imm) goto label */
static void jmp_imm(asm_t *a, int op, int dst, int imm, int label) {
  if (a->nfix < MAX_INSNS) {
    a->fix_at[a->nfix] = a->n;
    a->fix_label[a->nfix++] = label;
  }
  emit(a, INSN(BPF_JMP | op | BPF_K, dst, 0, 0, imm));
}
static void jmp(asm_t *a, int label) { jmp_imm(a, BPF_JA, 0, 0, label); }
static void label(asm_t *a, int l) { a->label_at[l] = a->n; }
static int resolve(asm_t *a) {
  if (a->overflow) return -1;
  for (int k = 0; k < a->nfix; k++) {
    int to = a->label_at[a->fix_label[k]];
    if (to < 0) return -1;
    a->insn[a->fix_at[k]].off = (int16_t)(to - a->fix_at[k] - 1);
  }
  return 0;
}
/* bpf_probe_read_kernel(r_base + dst_off, size, r_src + src_off) */
static void probe_read(asm_t *a, int base, int dst_off, int size, int src, int src_off) {
  emit(a, MOV64_REG(R1, base));
  emit(a, ADD64_IMM(R1, dst_off));
  emit(a, MOV64_IMM(R2, size));
  emit(a, MOV64_REG(R3, src));
  emit(a, ADD64_IMM(R3, src_off));
  emit(a, CALL(BPF_FUNC_probe_read_kernel));
}

/* ---- generic: the bpf() system call ---- */

static long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }

static int map_create(int type, int key, int value, int entries, const char *name) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_type = type;
  at.key_size = key;
  at.value_size = value;
  at.max_entries = entries;
  snprintf(at.map_name, sizeof at.map_name, "%s", name);
  return (int)sys_bpf(BPF_MAP_CREATE, &at);
}

/* Loads the program; on refusal loads it again with the verifier's log into log (NUL-terminated). */
static int prog_load(const struct bpf_insn *insn, int n, char *log, size_t log_len) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
  at.insns = (uint64_t)(uintptr_t)insn;
  at.insn_cnt = (uint32_t)n;
  at.license = (uint64_t)(uintptr_t) "Dual MIT/GPL"; /* the probe-read and ring-buffer helpers are GPL-only */
  snprintf(at.prog_name, sizeof at.prog_name, "%s", PROG_NAME);
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &at);
  if (fd >= 0 || !log) return fd;
  int err = errno;
  log[0] = 0;
  at.log_level = 1;
  at.log_buf = (uint64_t)(uintptr_t)log;
  at.log_size = (uint32_t)log_len;
  fd = (int)sys_bpf(BPF_PROG_LOAD, &at);
  if (fd >= 0) return fd; /* loaded the second time: keep it */
  if (errno == ENOSPC) errno = err; /* the log was cut, the refusal is the first one's */
  log[log_len - 1] = 0;
  return -1;
}

static int raw_tp_open(int prog_fd, const char *tp) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.raw_tracepoint.name = (uint64_t)(uintptr_t)tp;
  at.raw_tracepoint.prog_fd = (uint32_t)prog_fd;
  return (int)sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &at);
}

static int prog_id_of(int fd, uint32_t *id) {
  struct bpf_prog_info info;
  memset(&info, 0, sizeof info);
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.info.bpf_fd = (uint32_t)fd;
  at.info.info_len = sizeof info;
  at.info.info = (uint64_t)(uintptr_t)&info;
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &at) < 0) return -1;
  *id = info.id;
  return 0;
}

/* CPUs the per-CPU map has a slot for: the highest in /sys/devices/system/cpu/possible, plus one. */
static int possible_cpus(void) {
  FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
  if (!f) return -1;
  char buf[256];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  int max = -1;
  for (char *p = buf; *p;) {
    if (*p >= '0' && *p <= '9') {
      long v = strtol(p, &p, 10);
      if (v > max) max = (int)v;
    } else p++;
  }
  return max < 0 || max > 65535 ? -1 : max + 1;
}

/* ---- the handle ---- */

typedef struct bx {
  int counters_fd, ring_fd, prog_fd, link_fd;
  uint32_t prog_id;
  int ncpus;
  size_t ring_bytes, page;
  void *cons_page; /* consumer position, read-write */
  void *prod_pages; /* producer position page + the data area mapped twice */
  uint64_t consumed, malformed;
  int closed;
  uint64_t final_counts[NCOUNTERS]; /* read at close, after the detach */
} bx_t;

static void close_fds(bx_t *b) {
  /* The link first: the program stops running before its maps go. */
  if (b->link_fd >= 0) close(b->link_fd);
  if (b->prog_fd >= 0) close(b->prog_fd);
  if (b->prod_pages) munmap(b->prod_pages, b->page + 2 * b->ring_bytes);
  if (b->cons_page) munmap(b->cons_page, b->page);
  if (b->ring_fd >= 0) close(b->ring_fd);
  if (b->counters_fd >= 0) close(b->counters_fd);
  b->link_fd = b->prog_fd = b->ring_fd = b->counters_fd = -1;
  b->prod_pages = b->cons_page = NULL;
}

static int read_counters(bx_t *b, uint64_t out[NCOUNTERS]) {
  memset(out, 0, sizeof(uint64_t) * NCOUNTERS);
  if (b->counters_fd < 0) {
    memcpy(out, b->final_counts, sizeof b->final_counts);
    return 0;
  }
  uint64_t *vals = calloc((size_t)b->ncpus, sizeof(uint64_t) * NCOUNTERS);
  if (!vals) return -1;
  uint32_t key = 0;
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_fd = (uint32_t)b->counters_fd;
  at.key = (uint64_t)(uintptr_t)&key;
  at.value = (uint64_t)(uintptr_t)vals;
  int rc = (int)sys_bpf(BPF_MAP_LOOKUP_ELEM, &at);
  if (rc == 0)
    for (int c = 0; c < b->ncpus; c++)
      for (int k = 0; k < NCOUNTERS; k++) out[k] += vals[c * NCOUNTERS + k];
  free(vals);
  return rc;
}

/* ---- specific: the program ---- */

typedef struct offs {
  int32_t pid, tgid, comm, exit_code, start_time, real_parent, real_cred, cred_uid;
  int32_t read_bytes, write_bytes, cancelled_write_bytes, rchar, wchar;
} offs_t;

enum { L_OUT, L_IO, L_GOT, L_COUNT };

static int build_prog(asm_t *a, const offs_t *o, int counters_fd, int ring_fd, int broken) {
  memset(a, 0, sizeof *a);
  for (int k = 0; k < MAX_LABELS; k++) a->label_at[k] = -1;
  emit(a, LDX(BPF_DW, R6, R1, 0)); /* r6 = ctx->args[0]: the exiting task */
  if (broken) emit(a, MOV64_REG(R6, R2)); /* tests: R2 is not initialised, the verifier refuses */
  emit(a, ST_IMM(BPF_W, R10, -4, 0));
  ld_map_fd(a, R1, counters_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ADD64_IMM(R2, -4));
  emit(a, CALL(BPF_FUNC_map_lookup_elem));
  jmp_imm(a, BPF_JEQ, R0, 0, L_OUT);
  emit(a, MOV64_REG(R7, R0)); /* r7 = the counters of this CPU */
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R7, R1, 0)); /* seen */
  /* The disk I/O counters onto the stack: -32 read, -24 write, -16 cancelled. */
  probe_read(a, R10, -32, 8, R6, o->read_bytes);
  probe_read(a, R10, -24, 8, R6, o->write_bytes);
  probe_read(a, R10, -16, 8, R6, o->cancelled_write_bytes);
  emit(a, LDX(BPF_DW, R1, R10, -32));
  emit(a, LDX(BPF_DW, R2, R10, -24));
  emit(a, OR64_REG(R1, R2));
  emit(a, LDX(BPF_DW, R2, R10, -16));
  emit(a, OR64_REG(R1, R2));
  jmp_imm(a, BPF_JNE, R1, 0, L_IO);
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R7, R1, 8)); /* skipped: no disk I/O */
  jmp(a, L_OUT);
  label(a, L_IO);
  ld_map_fd(a, R1, ring_fd);
  emit(a, MOV64_IMM(R2, REC));
  emit(a, MOV64_IMM(R3, 0));
  emit(a, CALL(BPF_FUNC_ringbuf_reserve));
  jmp_imm(a, BPF_JNE, R0, 0, L_GOT);
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R7, R1, 16)); /* lost: the ring is full */
  jmp(a, L_OUT);
  label(a, L_GOT);
  emit(a, MOV64_REG(R8, R0)); /* r8 = the record */
  for (int k = 0; k < 3; k++) {
    emit(a, LDX(BPF_DW, R1, R10, -32 + 8 * k));
    emit(a, STX(BPF_DW, R8, R1, 40 + 8 * k));
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
  emit(a, LDX(BPF_DW, R3, R10, -40));
  emit(a, ADD64_IMM(R3, o->tgid));
  emit(a, MOV64_REG(R1, R8));
  emit(a, ADD64_IMM(R1, 8));
  emit(a, MOV64_IMM(R2, 4));
  emit(a, CALL(BPF_FUNC_probe_read_kernel));
  probe_read(a, R10, -40, 8, R6, o->real_cred);
  emit(a, LDX(BPF_DW, R3, R10, -40));
  emit(a, ADD64_IMM(R3, o->cred_uid));
  emit(a, MOV64_REG(R1, R8));
  emit(a, ADD64_IMM(R1, 16));
  emit(a, MOV64_IMM(R2, 4));
  emit(a, CALL(BPF_FUNC_probe_read_kernel));
  emit(a, ST_IMM(BPF_W, R8, 20, 0));
  emit(a, CALL(BPF_FUNC_ktime_get_ns));
  emit(a, STX(BPF_DW, R8, R0, 88));
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R7, R1, 24)); /* submitted (counted before the commit: see the top) */
  emit(a, MOV64_REG(R1, R8));
  emit(a, MOV64_IMM(R2, BPF_RB_NO_WAKEUP)); /* nobody sleeps on the ring: take() reads it on a timer */
  emit(a, CALL(BPF_FUNC_ringbuf_submit));
  label(a, L_OUT);
  emit(a, MOV64_IMM(R0, 0));
  emit(a, EXIT());
  return resolve(a);
}

/* ---- N-API ---- */

static napi_value throw_err(napi_env env, int err, const char *msg, const char *log) {
  napi_value code, m, e;
  const char *name = err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == ENOENT ? "ENOENT" : err == EINVAL ? "EINVAL" : err == ENOMEM ? "ENOMEM" : err == ENOSYS ? "ENOSYS" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, code, m, &e);
  napi_value v;
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, e, "errno", v);
  if (log) {
    napi_create_string_utf8(env, log, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, e, "verifierLog", v);
  }
  napi_throw(env, e);
  return NULL;
}

static void set_num(napi_env env, napi_value o, const char *k, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

static int get_int(napi_env env, napi_value o, const char *k, int64_t *out) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, o, k, &has) != napi_ok || !has) return -1;
  if (napi_get_named_property(env, o, k, &v) != napi_ok) return -1;
  return napi_get_value_int64(env, v, out) == napi_ok ? 0 : -1;
}

static void finalize(napi_env env, void *data, void *hint) {
  bx_t *b = data;
  close_fds(b);
  free(b);
}

/* The last lines of a verifier log that fit in n bytes (the refusal is at its end). */
static const char *log_tail(char *log, size_t n) {
  size_t len = strlen(log);
  for (;;) {
    while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' ')) len--;
    log[len] = 0;
    /* The verifier's closing statistics ("processed N insns …") say nothing about the refusal. */
    char *nl = strrchr(log, '\n');
    char *lastline = nl ? nl + 1 : log;
    if (strncmp(lastline, "processed ", 10) != 0 || lastline == log) break;
    len = (size_t)(lastline - log);
  }
  return log + (len > n ? len - n : 0);
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
  if (ring < page || ring > (1LL << 30) || (ring & (ring - 1)) != 0) return throw_err(env, EINVAL, "open: ringBytes must be a power of two from one page to 1 GiB", NULL);

  bx_t *b = calloc(1, sizeof *b);
  char *log = malloc(LOG_BYTES);
  asm_t *a = malloc(sizeof *a);
  if (!b || !log || !a) {
    free(b), free(log), free(a);
    return throw_err(env, ENOMEM, "open: out of memory", NULL);
  }
  b->counters_fd = b->ring_fd = b->prog_fd = b->link_fd = -1;
  b->page = (size_t)page;
  b->ring_bytes = (size_t)ring;
  char msg[1024];
  int err = 0;
  const char *with_log = NULL;
  if ((b->ncpus = possible_cpus()) < 0) {
    err = EIO;
    snprintf(msg, sizeof msg, "cannot read /sys/devices/system/cpu/possible");
    goto fail;
  }
  b->counters_fd = map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(uint64_t) * NCOUNTERS, 1, "lantern_ioexc");
  if (b->counters_fd < 0) {
    err = errno;
    snprintf(msg, sizeof msg, "BPF_MAP_CREATE (per-CPU counters) refused: %s", strerror(err));
    goto fail;
  }
  b->ring_fd = map_create(BPF_MAP_TYPE_RINGBUF, 0, 0, (int)ring, "lantern_ioexr");
  if (b->ring_fd < 0) {
    err = errno;
    snprintf(msg, sizeof msg, "BPF_MAP_CREATE (ring buffer of %lld bytes) refused: %s", (long long)ring, strerror(err));
    goto fail;
  }
  b->cons_page = mmap(NULL, b->page, PROT_READ | PROT_WRITE, MAP_SHARED, b->ring_fd, 0);
  if (b->cons_page == MAP_FAILED) b->cons_page = NULL;
  b->prod_pages = mmap(NULL, b->page + 2 * b->ring_bytes, PROT_READ, MAP_SHARED, b->ring_fd, (off_t)b->page);
  if (b->prod_pages == MAP_FAILED) b->prod_pages = NULL;
  if (!b->cons_page || !b->prod_pages) {
    err = errno;
    snprintf(msg, sizeof msg, "mmap of the ring buffer failed: %s", strerror(err));
    goto fail;
  }
  if (build_prog(a, &o, b->counters_fd, b->ring_fd, broken != 0) != 0) {
    err = EINVAL;
    snprintf(msg, sizeof msg, "the program does not assemble (too long or a label unset)");
    goto fail;
  }
  b->prog_fd = prog_load(a->insn, a->n, log, LOG_BYTES);
  if (b->prog_fd < 0) {
    err = errno;
    const char *tail = log_tail(log, 600);
    snprintf(msg, sizeof msg, "BPF_PROG_LOAD of the raw_tp program refused: %s%s%s", strerror(err), *tail ? "; verifier: " : " (no verifier log: refused before the verifier)", tail);
    for (char *p = msg; *p; p++)
      if (*p == '\n') *p = ' ';
    with_log = log;
    goto fail;
  }
  if (prog_id_of(b->prog_fd, &b->prog_id) != 0) b->prog_id = 0;
  b->link_fd = raw_tp_open(b->prog_fd, TP_NAME);
  if (b->link_fd < 0) {
    err = errno;
    snprintf(msg, sizeof msg, "BPF_RAW_TRACEPOINT_OPEN %s refused: %s", TP_NAME, strerror(err));
    goto fail;
  }
  int ninsns = a->n;
  free(log);
  free(a);
  napi_value out, handle;
  napi_create_object(env, &out);
  if (napi_create_external(env, b, finalize, NULL, &handle) != napi_ok) {
    close_fds(b);
    free(b);
    return throw_err(env, ENOMEM, "open: cannot create the handle", NULL);
  }
  napi_set_named_property(env, out, "handle", handle);
  set_num(env, out, "progId", b->prog_id);
  set_num(env, out, "ringBytes", (double)b->ring_bytes);
  set_num(env, out, "cpus", b->ncpus);
  set_num(env, out, "insns", ninsns);
  return out;
fail:
  close_fds(b);
  free(b);
  free(a);
  {
    napi_value r = throw_err(env, err, msg, with_log);
    free(log);
    return r;
  }
}

static bx_t *get_bx(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EINVAL", "expected a bpfexit handle");
    return NULL;
  }
  return p;
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

/* take(handle) -> Buffer of count * ENTRY bytes: every committed record in the ring, consumed. */
static napi_value take(napi_env env, napi_callback_info info) {
  bx_t *b = get_bx(env, info);
  if (!b) return NULL;
  napi_value out;
  if (!b->prod_pages) {
    napi_create_buffer_copy(env, 0, "", NULL, &out);
    return out;
  }
  volatile uint64_t *cons_pos = b->cons_page;
  volatile uint64_t *prod_pos = b->prod_pages;
  const uint8_t *data = (const uint8_t *)b->prod_pages + b->page;
  uint64_t mask = b->ring_bytes - 1;
  uint64_t cons = *cons_pos;
  uint64_t prod = __atomic_load_n(prod_pos, __ATOMIC_ACQUIRE);
  size_t cap = (size_t)((prod - cons) / (BPF_RINGBUF_HDR_SZ + REC) + 1) * ENTRY;
  uint8_t *buf = malloc(cap);
  if (!buf) return throw_err(env, ENOMEM, "take: out of memory", NULL);
  size_t n = 0;
  double mono_now = mono_ns(CLOCK_MONOTONIC), real_now = mono_ns(CLOCK_REALTIME);
  while (cons < prod) {
    const uint8_t *hdr = data + (cons & mask);
    uint32_t len = __atomic_load_n((const uint32_t *)hdr, __ATOMIC_ACQUIRE);
    if (len & BPF_RINGBUF_BUSY_BIT) break; /* reserved, not yet committed: the next take() */
    uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
      if (size == REC && (n + 1) * ENTRY <= cap) {
        to_entry(hdr + BPF_RINGBUF_HDR_SZ, buf + n * ENTRY, mono_now, real_now);
        n++;
        b->consumed++;
      } else b->malformed++;
    }
    cons += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
    __atomic_store_n(cons_pos, cons, __ATOMIC_RELEASE);
  }
  napi_status st = napi_create_buffer_copy(env, n * ENTRY, n ? (void *)buf : (void *)"", NULL, &out);
  free(buf);
  if (st != napi_ok) return throw_err(env, ENOMEM, "take: out of memory", NULL);
  return out;
}

/* stats(handle) -> { seen, skippedNoIo, lost, submitted, consumed, malformed } (see the top of this file). */
static napi_value stats(napi_env env, napi_callback_info info) {
  bx_t *b = get_bx(env, info);
  if (!b) return NULL;
  uint64_t c[NCOUNTERS];
  if (read_counters(b, c) != 0) return throw_err(env, errno, "stats: BPF_MAP_LOOKUP_ELEM of the counters failed", NULL);
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "seen", (double)c[0]);
  set_num(env, o, "skippedNoIo", (double)c[1]);
  set_num(env, o, "lost", (double)c[2]);
  set_num(env, o, "submitted", (double)c[3]);
  set_num(env, o, "consumed", (double)b->consumed);
  set_num(env, o, "malformed", (double)b->malformed);
  set_num(env, o, "attached", b->link_fd >= 0 ? 1 : 0);
  return o;
}

/* close(handle): detach, read the final counters, and close every descriptor except the ring's
   mapping, which take() still drains once. Idempotent. */
static napi_value close_handle(napi_env env, napi_callback_info info) {
  bx_t *b = get_bx(env, info);
  if (!b || b->closed) return NULL;
  b->closed = 1;
  if (b->link_fd >= 0) {
    close(b->link_fd);
    /* The probe is unregistered now, but a run that began just before may still be finishing
       on another CPU (the kernel waits for it only before freeing the program): let it count. */
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  b->link_fd = -1;
  if (b->prog_fd >= 0) close(b->prog_fd);
  b->prog_fd = -1;
  uint64_t c[NCOUNTERS];
  if (read_counters(b, c) == 0) memcpy(b->final_counts, c, sizeof c);
  close(b->counters_fd);
  b->counters_fd = -1;
  return NULL;
}

/* release(handle): unmap the ring and close its descriptor (after the last take()). */
static napi_value release(napi_env env, napi_callback_info info) {
  bx_t *b = get_bx(env, info);
  if (!b) return NULL;
  b->closed = 1;
  uint64_t c[NCOUNTERS];
  if (b->counters_fd >= 0 && read_counters(b, c) == 0) memcpy(b->final_counts, c, sizeof c); /* released without close() */
  close_fds(b);
  return NULL;
}

/* progExists(id) -> whether a BPF program with this id is loaded anywhere (tests: a killed owner leaves none). */
static napi_value prog_exists(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id = 0;
  if (argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "progExists(id)");
    return NULL;
  }
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.prog_id = id;
  int fd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &at);
  int e = errno;
  if (fd >= 0) close(fd);
  if (fd < 0 && e != ENOENT) return throw_err(env, e, "progExists: BPF_PROG_GET_FD_BY_ID failed", NULL);
  napi_value r;
  napi_get_boolean(env, fd >= 0, &r);
  return r;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, open_bx, NULL, NULL, NULL, napi_default, NULL},   {"take", NULL, take, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},    {"close", NULL, close_handle, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, release, NULL, NULL, NULL, napi_default, NULL}, {"progExists", NULL, prog_exists, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value v;
  napi_create_uint32(env, ENTRY, &v);
  napi_set_named_property(env, exports, "ENTRY_BYTES", v);
  napi_create_string_utf8(env, PROG_NAME, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "PROG_NAME", v);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
