/*
 * bpf_common: what every Lantern BPF addon (native/bpfstat, native/bpfexit, native/bpfenv) needs
 * to load a hand-assembled program without clang or libbpf: the instruction macros and a tiny
 * assembler with labels, the bpf() system call, map creation, a program load that retries with
 * the verifier log and says its refusal in one line, the raw_tp attach, program ids, the sum of a
 * per-CPU counter array, the BPF ring-buffer consumer, and the N-API pieces around them (errors
 * with an errno code, option reading, a take() that turns ring records into one Buffer).
 *
 * Not an addon of its own (no binding.gyp: scripts/build-native.mjs skips this folder); each
 * addon's binding.gyp compiles bpf_common.c into itself. Every descriptor made here is O_CLOEXEC
 * (the bpf() system call's default) and owned by the caller, who closes it.
 */
#ifndef LANTERN_BPF_COMMON_H
#define LANTERN_BPF_COMMON_H

#include <node_api.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>

/* ---- instruction macros (the encodings of Documentation/bpf/standardization) ---- */
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

/* ---- a program under construction: instructions, labels and the jumps to patch ---- */
#define ASM_MAX_INSNS 512
#define ASM_MAX_LABELS 32
#define ASM_MAX_FIX 256
typedef struct bpf_asm {
  struct bpf_insn ins[ASM_MAX_INSNS];
  int n;
  int label_at[ASM_MAX_LABELS];
  int fix_at[ASM_MAX_FIX], fix_label[ASM_MAX_FIX];
  int nfix;
  int overflow;
} bpf_asm_t;

/* Empties a and marks every label unset. */
void asm_reset(bpf_asm_t *a);
void emit(bpf_asm_t *a, struct bpf_insn i);
/* A jump instruction whose off is patched to label l by asm_finish(). */
void jump(bpf_asm_t *a, struct bpf_insn i, int l);
void label(bpf_asm_t *a, int l);
/* dst = a 64-bit constant (two instructions). */
void ld_imm64(bpf_asm_t *a, int dst, uint64_t v);
/* dst = the map whose descriptor is fd (two instructions). */
void ld_map(bpf_asm_t *a, int dst, int fd);
/* bpf_probe_read_kernel(base + dst_off, size, src + src_off); clobbers r0-r5. */
void probe_read(bpf_asm_t *a, int base, int dst_off, int size, int src, int src_off);
/* r0 = this CPU's value of a per-CPU array's key 0 (the key written at fp+key_off), or goto l_null; clobbers r0-r5. */
void percpu_lookup(bpf_asm_t *a, int map_fd, int key_off, int l_null);
/* counters[slot] += 1 on this CPU (a per-CPU array of u64, key 0), then goto l; clobbers r0-r5, fp-4. */
void count_and_jump(bpf_asm_t *a, int counters_fd, int slot, int l);
/* Patches the jumps: 0, or -1 (too many instructions or jumps, or a jump to an unset label). */
int asm_finish(bpf_asm_t *a);

/* ---- the bpf() system call ---- */
long sys_bpf(int cmd, union bpf_attr *attr);
int map_create(int type, const char *name, uint32_t key, uint32_t value, uint32_t entries);
/* map_create with map_flags (BPF_F_MMAPABLE, …). */
int map_create_flags(int type, const char *name, uint32_t key, uint32_t value, uint32_t entries, uint32_t flags);
/*
 * Loads a's program. On refusal loads it again with the verifier log into log (log_len bytes,
 * NUL-terminated; may be NULL) and returns -1 with errno the first refusal's.
 */
int prog_load(const bpf_asm_t *a, int prog_type, const char *name, const char *license, char *log, size_t log_len);
/* prog_load for a program attached by BTF id (tp_btf: BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, the btf_trace_<tp> typedef's id). */
int prog_load_attach(const bpf_asm_t *a, int prog_type, int attach_type, uint32_t attach_btf_id, const char *name, const char *license, char *log, size_t log_len);
/* One line for a refused load: "<what>: <strerror(err)>; verifier: <the log's last lines, ' | ' between>". */
void load_error(char *out, size_t out_len, const char *what, int err, const char *log);
/* Attaches a raw_tp program to tracepoint tp, or (tp NULL) a tp_btf program to the tracepoint of its BTF id. */
int raw_tp_open(const char *tp, int prog_fd);
/* The kernel's id of a loaded program, 0 when unknown. */
uint32_t prog_id(int fd);
/* The kernel's run count and run time of a loaded program (counted only while run statistics are on), 0 or -1. */
int prog_run_stats(int fd, uint64_t *run_ns, uint64_t *run_cnt);
/* Turns the kernel's BPF run statistics on for as long as the returned fd is open (BPF_ENABLE_STATS), or -1. */
int enable_run_stats(void);
/* CPUs a per-CPU map has a slot for (the highest in /sys/devices/system/cpu/possible, plus one), or -1. */
int possible_cpus(void);
/* sum[w] = the words of a per-CPU array's key 0 (ncpus × words u64) summed over CPUs; 0 or -1 with errno. */
int percpu_sum(int map_fd, int ncpus, int words, uint64_t *sum);

/* ---- a BPF ring buffer, mapped: the consumer page (rw) and the producer page + data twice (ro) ---- */
typedef struct bpf_ring {
  int fd;
  uint32_t bytes;
  size_t page;
  void *cons;
  void *prod;
} bpf_ring_t;
/* Creates the ring map (bytes: a power of two, at least a page) and maps it; 0, or -1 with errno and *step said. */
int ring_open(bpf_ring_t *r, const char *name, uint32_t bytes, const char **step);
/* Unmaps and closes; idempotent (fd -1, NULL maps after). */
void ring_close(bpf_ring_t *r);
/* Bytes committed or being written that the consumer has not passed yet. */
uint64_t ring_pending(const bpf_ring_t *r);
/*
 * One record of the ring into out (room bytes free there): the bytes written, RING_MALFORMED to
 * skip it (counted), or RING_NO_ROOM to stop before it (it stays for the next take).
 */
#define RING_MALFORMED ((size_t)-1)
#define RING_NO_ROOM ((size_t)-2)
typedef size_t (*ring_convert)(void *ctx, const uint8_t *rec, uint32_t size, uint8_t *out, size_t room);
/*
 * take(): every committed record, oldest first, converted into one Buffer of at most cap bytes
 * and consumed; a discarded record is passed over. *taken and *malformed count the records.
 */
napi_value ring_take(napi_env env, bpf_ring_t *r, size_t cap, ring_convert conv, void *ctx, uint64_t *taken, uint64_t *malformed);

/*
 * ---- one raw_tp program with per-CPU counters and a ring (native/bpfexit, native/bpfenv) ----
 * open: op_init, the maps (op_counters_open, ring_open), the program, op_load_attach, op_result.
 * close(): op_detach (the program stops; the final counters are kept; take() can still drain the
 * ring once); release(): op_close_all. The kernel closes every fd of a killed process: the link
 * goes, the program is detached.
 */
#define OP_MAX_COUNTERS 8
typedef struct bpf_oneprog {
  int counters_fd, prog_fd, link_fd;
  bpf_ring_t ring;
  uint32_t prog_id;
  int ncpus, ncounters;
  uint64_t final_counts[OP_MAX_COUNTERS]; /* read by op_detach, after the program stopped */
  int closed;
} bpf_oneprog_t;
void op_init(bpf_oneprog_t *p, int ncounters);
/* The CPUs and the per-CPU counter array; 0, or -1 with errno and msg said. */
int op_counters_open(bpf_oneprog_t *p, const char *map_name, char *msg, size_t msg_len);
/* The counters summed over CPUs (the final ones after op_detach); 0 or -1 with errno. */
int op_counters(bpf_oneprog_t *p, uint64_t *out);
/* Loads a's raw_tp program and attaches it to tp; 0, or -1 with errno, msg said and *with_log the verifier's log on a refusal. */
int op_load_attach(bpf_oneprog_t *p, const bpf_asm_t *a, const char *name, const char *license, const char *tp, char *log, size_t log_len, char *msg, size_t msg_len, const char **with_log);
/* Detach (the link closed, a run in progress given 20 ms), close the program, keep the final counters, close the counter map. */
void op_detach(bpf_oneprog_t *p);
/* Every fd closed and the ring unmapped (the final counters read first if op_detach did not run). */
void op_close_all(bpf_oneprog_t *p);
/* { handle (an external of data, freed by fin), progId, ringBytes, cpus, insns }, or NULL with an error thrown. */
napi_value op_result(napi_env env, bpf_oneprog_t *p, void *data, napi_finalize fin, int ninsns);
/* The exports such an addon has: open, take, stats, close, release (its own) and progExists; PROG_NAME. */
void op_exports(napi_env env, napi_value exports, napi_callback open, napi_callback take, napi_callback stats, napi_callback close, napi_callback release, const char *prog_name);

/* ---- N-API ---- */
/* Throws an Error: code the errno's name, .errno, and .verifierLog when log is given. Returns NULL. */
napi_value throw_error(napi_env env, int err, const char *msg, const char *log);
/* throw_error with "<what>: <strerror(err)>". */
napi_value throw_errno(napi_env env, int err, const char *what);
void set_num(napi_env env, napi_value o, const char *k, double v);
/* An optional number property: 0 absent, 1 read into *out, -1 not a number. */
int get_opt_double(napi_env env, napi_value o, const char *k, double *out);
/* The external handle in the first argument (argv gets want arguments), or NULL with an Error thrown. */
void *get_external(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *what);
/* progIds() → the ids of every BPF program loaded on this machine (BPF_PROG_GET_NEXT_ID). */
napi_value js_prog_ids(napi_env env, napi_callback_info info);
/* progExists(id) → whether a BPF program with this id is loaded (tests: a killed owner leaves none). */
napi_value js_prog_exists(napi_env env, napi_callback_info info);

#endif
