/* bpf_common: see bpf_common.h. */
#include "bpf_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- assembler ---- */

void asm_reset(bpf_asm_t *a) {
  memset(a, 0, sizeof *a);
  for (int k = 0; k < ASM_MAX_LABELS; k++) a->label_at[k] = -1;
}

void emit(bpf_asm_t *a, struct bpf_insn i) {
  if (a->n >= ASM_MAX_INSNS) {
    a->overflow = 1;
    return;
  }
  a->ins[a->n++] = i;
}

void jump(bpf_asm_t *a, struct bpf_insn i, int l) {
  if (a->nfix >= ASM_MAX_FIX || l < 0 || l >= ASM_MAX_LABELS) {
    a->overflow = 1;
    return;
  }
  a->fix_at[a->nfix] = a->n;
  a->fix_label[a->nfix++] = l;
  emit(a, i);
}

void label(bpf_asm_t *a, int l) {
  if (l < 0 || l >= ASM_MAX_LABELS) {
    a->overflow = 1;
    return;
  }
  a->label_at[l] = a->n;
}

void ld_imm64(bpf_asm_t *a, int dst, uint64_t v) {
  emit(a, INSN(BPF_LD | BPF_DW | BPF_IMM, dst, 0, 0, (int32_t)(uint32_t)v));
  emit(a, INSN(0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32)));
}

void ld_map(bpf_asm_t *a, int dst, int fd) {
  emit(a, INSN(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd));
  emit(a, INSN(0, 0, 0, 0, 0));
}

void probe_read(bpf_asm_t *a, int base, int dst_off, int size, int src, int src_off) {
  emit(a, MOV64_REG(R1, base));
  emit(a, ALU64_IMM(BPF_ADD, R1, dst_off));
  emit(a, MOV64_IMM(R2, size));
  emit(a, MOV64_REG(R3, src));
  emit(a, ALU64_IMM(BPF_ADD, R3, src_off));
  emit(a, CALL(BPF_FUNC_probe_read_kernel));
}

void percpu_lookup(bpf_asm_t *a, int map_fd, int key_off, int l_null) {
  emit(a, ST_MEM(BPF_W, R10, key_off, 0));
  ld_map(a, R1, map_fd);
  emit(a, MOV64_REG(R2, R10));
  emit(a, ALU64_IMM(BPF_ADD, R2, key_off));
  emit(a, CALL(BPF_FUNC_map_lookup_elem));
  jump(a, JMP_IMM(BPF_JEQ, R0, 0), l_null);
}

void count_and_jump(bpf_asm_t *a, int counters_fd, int slot, int l) {
  percpu_lookup(a, counters_fd, -4, l);
  emit(a, MOV64_IMM(R1, 1));
  emit(a, ATOMIC_ADD64(R0, R1, slot * 8));
  jump(a, JA, l);
}

int asm_finish(bpf_asm_t *a) {
  if (a->overflow) return -1;
  for (int k = 0; k < a->nfix; k++) {
    int to = a->label_at[a->fix_label[k]];
    if (to < 0) return -1;
    a->ins[a->fix_at[k]].off = (int16_t)(to - a->fix_at[k] - 1);
  }
  return 0;
}

/* ---- bpf() ---- */

long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }

int map_create(int type, const char *name, uint32_t key, uint32_t value, uint32_t entries) { return map_create_flags(type, name, key, value, entries, 0); }

int map_create_flags(int type, const char *name, uint32_t key, uint32_t value, uint32_t entries, uint32_t flags) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_type = type;
  at.map_flags = flags;
  at.key_size = key;
  at.value_size = value;
  at.max_entries = entries;
  snprintf(at.map_name, sizeof at.map_name, "%s", name);
  return (int)sys_bpf(BPF_MAP_CREATE, &at);
}

int prog_load(const bpf_asm_t *a, int prog_type, const char *name, const char *license, char *log, size_t log_len) {
  return prog_load_attach(a, prog_type, 0, 0, name, license, log, log_len);
}

int prog_load_attach(const bpf_asm_t *a, int prog_type, int attach_type, uint32_t attach_btf_id, const char *name, const char *license, char *log, size_t log_len) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.prog_type = prog_type;
  at.expected_attach_type = attach_type;
  at.attach_btf_id = attach_btf_id;
  at.insns = (uint64_t)(uintptr_t)a->ins;
  at.insn_cnt = (uint32_t)a->n;
  at.license = (uint64_t)(uintptr_t)license;
  snprintf(at.prog_name, sizeof at.prog_name, "%s", name);
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &at);
  if (fd >= 0 || !log || log_len < 2) return fd;
  int err = errno;
  log[0] = 0;
  at.log_level = 1;
  at.log_buf = (uint64_t)(uintptr_t)log;
  at.log_size = (uint32_t)log_len;
  fd = (int)sys_bpf(BPF_PROG_LOAD, &at);
  if (fd >= 0) return fd; /* loaded the second time: keep it */
  log[log_len - 1] = 0;
  errno = err; /* the refusal is the first load's (the second may say ENOSPC: the log was cut) */
  return -1;
}

void load_error(char *out, size_t out_len, const char *what, int err, const char *log) {
  /* The verifier says what it refused at the end of its log, before its closing statistics. */
  size_t len = log ? strlen(log) : 0;
  for (;;) {
    while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' ')) len--;
    size_t line = len;
    while (line > 0 && log[line - 1] != '\n') line--;
    if (line == 0 || len - line < 10 || strncmp(log + line, "processed ", 10) != 0) break;
    len = line;
  }
  /* The last four lines, at most 600 bytes, on one line. */
  size_t start = len;
  for (int lines = 0; start > 0 && len - start < 600;) {
    if (log[start - 1] == '\n' && ++lines == 4) break;
    start--;
  }
  char tail[1024];
  size_t n = 0;
  for (size_t i = start; i < len && n + 4 < sizeof tail; i++) {
    if (log[i] == '\n') {
      memcpy(tail + n, " | ", 3);
      n += 3;
    } else tail[n++] = log[i];
  }
  tail[n] = 0;
  snprintf(out, out_len, "%s: %s; verifier: %s", what, strerror(err), n ? tail : "(empty log: refused before the verifier ran)");
}

int raw_tp_open(const char *tp, int prog_fd) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.raw_tracepoint.name = (uint64_t)(uintptr_t)tp;
  at.raw_tracepoint.prog_fd = (uint32_t)prog_fd;
  return (int)sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &at);
}

/* The kernel's bpf_prog_info of a loaded program: 0, or -1 with errno. */
static int prog_info(int fd, struct bpf_prog_info *info) {
  memset(info, 0, sizeof *info);
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.info.bpf_fd = (uint32_t)fd;
  at.info.info_len = sizeof *info;
  at.info.info = (uint64_t)(uintptr_t)info;
  return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &at) == 0 ? 0 : -1;
}

uint32_t prog_id(int fd) {
  struct bpf_prog_info info;
  return prog_info(fd, &info) == 0 ? info.id : 0;
}

int prog_run_stats(int fd, uint64_t *run_ns, uint64_t *run_cnt) {
  struct bpf_prog_info info;
  if (prog_info(fd, &info) != 0) return -1;
  *run_ns = info.run_time_ns;
  *run_cnt = info.run_cnt;
  return 0;
}

int enable_run_stats(void) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.enable_stats.type = BPF_STATS_RUN_TIME;
  return (int)sys_bpf(BPF_ENABLE_STATS, &at);
}

int possible_cpus(void) {
  FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
  if (!f) return -1;
  char buf[256];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  /* "0-3", "0,2-5", "0": the largest number is the highest CPU. */
  long max = -1;
  for (char *p = buf; *p;) {
    if (*p >= '0' && *p <= '9') {
      long v = strtol(p, &p, 10);
      if (v > max) max = v;
    } else p++;
  }
  return max < 0 || max > 65535 ? -1 : (int)max + 1;
}

int percpu_sum(int map_fd, int ncpus, int words, uint64_t *sum) {
  memset(sum, 0, sizeof(uint64_t) * (size_t)words);
  uint64_t *v = calloc((size_t)ncpus * (size_t)words, sizeof(uint64_t));
  if (!v) {
    errno = ENOMEM;
    return -1;
  }
  uint32_t key = 0;
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_fd = (uint32_t)map_fd;
  at.key = (uint64_t)(uintptr_t)&key;
  at.value = (uint64_t)(uintptr_t)v;
  int rc = (int)sys_bpf(BPF_MAP_LOOKUP_ELEM, &at);
  int err = errno;
  if (rc == 0)
    for (int c = 0; c < ncpus; c++)
      for (int w = 0; w < words; w++) sum[w] += v[(size_t)c * (size_t)words + (size_t)w];
  free(v);
  errno = err;
  return rc;
}

/* ---- ring buffer ---- */

int ring_open(bpf_ring_t *r, const char *name, uint32_t bytes, const char **step) {
  r->page = (size_t)sysconf(_SC_PAGESIZE);
  r->bytes = bytes;
  r->cons = r->prod = NULL;
  r->fd = map_create(BPF_MAP_TYPE_RINGBUF, name, 0, 0, bytes);
  if (r->fd < 0) {
    *step = "BPF_MAP_CREATE (ring buffer)";
    return -1;
  }
  void *c = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
  if (c == MAP_FAILED) {
    *step = "mmap of the ring buffer's consumer page";
    return -1;
  }
  r->cons = c;
  /* The data area is mapped twice in a row: a record that wraps reads as one piece. */
  void *p = mmap(NULL, r->page + 2 * (size_t)bytes, PROT_READ, MAP_SHARED, r->fd, (off_t)r->page);
  if (p == MAP_FAILED) {
    *step = "mmap of the ring buffer's data";
    return -1;
  }
  r->prod = p;
  return 0;
}

void ring_close(bpf_ring_t *r) {
  if (r->prod) munmap(r->prod, r->page + 2 * (size_t)r->bytes);
  if (r->cons) munmap(r->cons, r->page);
  if (r->fd >= 0) close(r->fd);
  r->prod = r->cons = NULL;
  r->fd = -1;
}

uint64_t ring_pending(const bpf_ring_t *r) {
  if (!r->prod) return 0;
  uint64_t cons = __atomic_load_n((const uint64_t *)r->cons, __ATOMIC_ACQUIRE);
  uint64_t prod = __atomic_load_n((const uint64_t *)r->prod, __ATOMIC_ACQUIRE);
  return prod - cons;
}

napi_value ring_take(napi_env env, bpf_ring_t *r, size_t cap, ring_convert conv, void *ctx, uint64_t *taken, uint64_t *malformed) {
  napi_value out;
  if (!r->prod) {
    napi_create_buffer_copy(env, 0, "", NULL, &out);
    return out;
  }
  uint8_t *buf = malloc(cap ? cap : 1);
  if (!buf) return throw_errno(env, ENOMEM, "take");
  uint64_t *consumer = r->cons;
  const uint64_t *producer = r->prod;
  const uint8_t *data = (const uint8_t *)r->prod + r->page;
  uint64_t mask = r->bytes - 1;
  uint64_t cons = __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
  uint64_t prod = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
  size_t n = 0;
  while (cons < prod) {
    const uint8_t *hdr = data + (cons & mask);
    uint32_t len = __atomic_load_n((const uint32_t *)hdr, __ATOMIC_ACQUIRE);
    if (len & BPF_RINGBUF_BUSY_BIT) break; /* reserved, not yet committed: the next take() */
    uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
      size_t w = conv(ctx, hdr + BPF_RINGBUF_HDR_SZ, size, buf + n, cap - n);
      if (w == RING_NO_ROOM) break;
      if (w == RING_MALFORMED) {
        if (malformed) (*malformed)++;
      } else {
        n += w;
        if (taken) (*taken)++;
      }
    }
    cons += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
    __atomic_store_n(consumer, cons, __ATOMIC_RELEASE);
  }
  napi_status st = napi_create_buffer_copy(env, n, n ? (void *)buf : (void *)"", NULL, &out);
  free(buf);
  if (st != napi_ok) return throw_errno(env, ENOMEM, "take");
  return out;
}

/* ---- one raw_tp program with per-CPU counters and a ring ---- */

void op_init(bpf_oneprog_t *p, int ncounters) {
  memset(p, 0, sizeof *p);
  p->counters_fd = p->prog_fd = p->link_fd = p->ring.fd = -1;
  p->ncounters = ncounters > OP_MAX_COUNTERS ? OP_MAX_COUNTERS : ncounters;
}

int op_counters_open(bpf_oneprog_t *p, const char *map_name, char *msg, size_t msg_len) {
  if ((p->ncpus = possible_cpus()) < 0) {
    errno = EIO;
    snprintf(msg, msg_len, "cannot read /sys/devices/system/cpu/possible");
    return -1;
  }
  p->counters_fd = map_create(BPF_MAP_TYPE_PERCPU_ARRAY, map_name, 4, sizeof(uint64_t) * (uint32_t)p->ncounters, 1);
  if (p->counters_fd < 0) {
    int err = errno;
    snprintf(msg, msg_len, "BPF_MAP_CREATE (per-CPU counters) refused: %s", strerror(err));
    errno = err;
    return -1;
  }
  return 0;
}

int op_counters(bpf_oneprog_t *p, uint64_t *out) {
  if (p->counters_fd < 0) {
    memcpy(out, p->final_counts, sizeof(uint64_t) * (size_t)p->ncounters);
    return 0;
  }
  return percpu_sum(p->counters_fd, p->ncpus, p->ncounters, out);
}

int op_load_attach(bpf_oneprog_t *p, const bpf_asm_t *a, const char *name, const char *license, const char *tp, char *log, size_t log_len, char *msg, size_t msg_len, const char **with_log) {
  p->prog_fd = prog_load(a, BPF_PROG_TYPE_RAW_TRACEPOINT, name, license, log, log_len);
  if (p->prog_fd < 0) {
    int err = errno;
    load_error(msg, msg_len, "BPF_PROG_LOAD of the raw_tp program refused", err, log);
    *with_log = log;
    errno = err;
    return -1;
  }
  p->prog_id = prog_id(p->prog_fd);
  p->link_fd = raw_tp_open(tp, p->prog_fd);
  if (p->link_fd < 0) {
    int err = errno;
    snprintf(msg, msg_len, "BPF_RAW_TRACEPOINT_OPEN %s refused: %s", tp, strerror(err));
    errno = err;
    return -1;
  }
  return 0;
}

void op_detach(bpf_oneprog_t *p) {
  if (p->closed) return;
  p->closed = 1;
  if (p->link_fd >= 0) {
    close(p->link_fd);
    /* The probe is unregistered now, but a run that began just before may still be finishing
       on another CPU (the kernel waits for it only before freeing the program): let it count. */
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  p->link_fd = -1;
  if (p->prog_fd >= 0) close(p->prog_fd);
  p->prog_fd = -1;
  uint64_t c[OP_MAX_COUNTERS];
  if (op_counters(p, c) == 0) memcpy(p->final_counts, c, sizeof(uint64_t) * (size_t)p->ncounters);
  if (p->counters_fd >= 0) close(p->counters_fd);
  p->counters_fd = -1;
}

void op_close_all(bpf_oneprog_t *p) {
  p->closed = 1;
  uint64_t c[OP_MAX_COUNTERS];
  if (p->counters_fd >= 0 && op_counters(p, c) == 0) memcpy(p->final_counts, c, sizeof(uint64_t) * (size_t)p->ncounters); /* released without close() */
  /* The link first: the program stops running before its maps go. */
  if (p->link_fd >= 0) close(p->link_fd);
  if (p->prog_fd >= 0) close(p->prog_fd);
  ring_close(&p->ring);
  if (p->counters_fd >= 0) close(p->counters_fd);
  p->link_fd = p->prog_fd = p->counters_fd = -1;
}

napi_value op_result(napi_env env, bpf_oneprog_t *p, void *data, napi_finalize fin, int ninsns) {
  napi_value out, handle;
  napi_create_object(env, &out);
  if (napi_create_external(env, data, fin, NULL, &handle) != napi_ok) return throw_error(env, ENOMEM, "open: cannot create the handle", NULL);
  napi_set_named_property(env, out, "handle", handle);
  set_num(env, out, "progId", p->prog_id);
  set_num(env, out, "ringBytes", (double)p->ring.bytes);
  set_num(env, out, "cpus", p->ncpus);
  set_num(env, out, "insns", ninsns);
  return out;
}

void op_exports(napi_env env, napi_value exports, napi_callback open, napi_callback take, napi_callback stats, napi_callback close, napi_callback release, const char *prog_name) {
  napi_property_descriptor props[] = {
      {"open", NULL, open, NULL, NULL, NULL, napi_default, NULL},   {"take", NULL, take, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL}, {"close", NULL, close, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, release, NULL, NULL, NULL, napi_default, NULL}, {"progExists", NULL, js_prog_exists, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value v;
  napi_create_string_utf8(env, prog_name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "PROG_NAME", v);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

/* ---- N-API ---- */

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

napi_value throw_error(napi_env env, int err, const char *msg, const char *log) {
  napi_value code, m, e, v;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, code, m, &e);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, e, "errno", v);
  if (log) {
    napi_create_string_utf8(env, log, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, e, "verifierLog", v);
  }
  napi_throw(env, e);
  return NULL;
}

napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  return throw_error(env, err, msg, NULL);
}

void set_num(napi_env env, napi_value o, const char *k, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

int get_opt_double(napi_env env, napi_value o, const char *k, double *out) {
  bool has = false;
  if (napi_has_named_property(env, o, k, &has) != napi_ok || !has) return 0;
  napi_value v;
  if (napi_get_named_property(env, o, k, &v) != napi_ok) return -1;
  return napi_get_value_double(env, v, out) == napi_ok ? 1 : -1;
}

void *get_external(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *what) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s: handle expected", what);
    napi_throw_type_error(env, "EINVAL", msg);
    return NULL;
  }
  return p;
}

napi_value js_prog_ids(napi_env env, napi_callback_info info) {
  napi_value arr, v;
  napi_create_array(env, &arr);
  uint32_t id = 0, n = 0;
  for (;;) {
    union bpf_attr at;
    memset(&at, 0, sizeof at);
    at.start_id = id;
    if (sys_bpf(BPF_PROG_GET_NEXT_ID, &at) < 0) {
      if (errno == ENOENT) break;
      return throw_errno(env, errno, "BPF_PROG_GET_NEXT_ID");
    }
    id = at.next_id;
    napi_create_uint32(env, id, &v);
    napi_set_element(env, arr, n++, v);
  }
  return arr;
}

napi_value js_prog_exists(napi_env env, napi_callback_info info) {
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
  if (fd < 0 && e != ENOENT) return throw_errno(env, e, "progExists: BPF_PROG_GET_FD_BY_ID");
  napi_value r;
  napi_get_boolean(env, fd >= 0, &r);
  return r;
}
