/**
 * The one network probe program: a fixed bpftrace text built from configuration only.
 *
 * Why these probes (measured on kernel 6.18, ../shared/research/backends-6.18.md §2): kprobes and
 * fentry are unavailable, so the destination of a send comes from two places. For sendto/sendmsg/
 * sendmmsg with an address, the syscall entry saves the user pointer to that address (per thread);
 * `sock:sock_send_length` then fires once per message, in the sender's context, for every send path
 * (send, write, writev included) with the `struct sock`, whose connected destination is used when no
 * address was given. One print site for all sends, with the protocol and socket type from the sock.
 * connect and bind keep the caller's sockaddr pointer at entry (only for inet, inet6 and unix: one
 * read of the family decides) and read it at exit with the result; listen and accept read the
 * socket's own addresses (inet accept: the peer of the new socket; unix listen and accept: the
 * listener's name, kept in its unix_sock).
 *
 * bpftrace 0.17 mixes up two probes on one tracepoint (seen here: one ran twice, the other never),
 * so every tracepoint has one probe; and a probe's strings and printf arguments must fit the 512-byte
 * BPF stack, so long strings are split over records of their own.
 *
 * The common path stays in the kernel (`dedupe`, the access lists): an access is printed the first
 * time a process image makes it with its outcome, and every call is counted per CPU in
 * NETCOUNT_MAP by operation and outcome (printed, duplicate, printed as the dedupe map was full),
 * printed every second and at the end. Without it (who-sends' connects) every call is printed and
 * counted. who-sends' sends (`countSends`) are printed once per process, destination and outcome
 * and each one is counted in SENT_MAP, printed at the end.
 *
 * Records (parsed by records.ts). Every record has at most one free string, and it is last, so a comm
 * or a path holding spaces cannot shift another field:
 *   N <kind> <tid> <pid> <uid> <ppid> <pstart_ns> <ktime_ns> <family> <socktype> <protocol> <a0> <a1> <a2> <a3> <port_be> <ret> <comm>
 *   U <tid> <abstract 0|1> <half 0|1> <up to UNIX_HALF bytes of the unix path>   — just before the N record of a unix access, same thread
 *   R                                                                                          — BEGIN: all probes attached
 *   X <pid> <pstart_ns> 0 <top: 2 root, 1 under the root, 0 cut> <three dentry names, '/'-joined>        — at each exec
 *   X <pid> <pstart_ns> 1 <ppid> <the three deepest dentry names, '/'-joined>
 * a0..a3 are the address's 32-bit words as read from memory (IPv4: a0 only), port_be the port as read
 * (network order): byte order is undone in the parser, as bpftrace 0.17 has no bswap.
 */

/** Which operations a program reports. */
export type NetOp = 'send' | 'connect' | 'bind' | 'listen' | 'accept';
export const NET_OPS: readonly NetOp[] = ['send', 'connect', 'bind', 'listen', 'accept'];

/** A destination filter, validated before it reaches the program (numbers only). */
export interface NetFilter {
  /** 'udp' (17) or 'tcp' (6); absent: both. */
  protocol?: 'udp' | 'tcp';
  /** The address as 4 (IPv4) or 16 (IPv6) bytes in network order; absent: any. */
  address?: Uint8Array;
  /** 1..65535; absent: any. */
  port?: number;
}

export interface NetProgramConfig {
  ops: readonly NetOp[];
  /** Applied to send and connect destinations only (who-sends); bind/listen/accept are not filtered. */
  filter?: NetFilter;
  /** Report unix-domain connect, bind, listen and accept too. */
  unix: boolean;
  /**
   * Print an access only the first time a process image (tgid, start time and address space: an
   * exec gives a new one) makes it with this outcome; repeats are counted in NETCOUNT_MAP and stay
   * in the kernel. The access lists hold distinct accesses per domain, so a storm of identical
   * connects costs a map lookup each instead of a record through bpftrace and the recorder.
   */
  dedupe: boolean;
  /**
   * Count every send in SENT_MAP by process, destination and outcome (printed at the end) and
   * print a send only the first time of its key (who-sends: its summary counts every packet).
   * Takes the place of `dedupe` for sends.
   */
  countSends: boolean;
  /** Report only datagram sends (the access lists: a stream send has no access line; its connect or accept has). */
  dgramSendsOnly?: boolean;
  /** Print the X records (the executable at each exec; who-sends names short-lived senders by them). */
  exes?: boolean;
  /** Processes whose events are not reported (Lantern itself); validated integers. */
  excludePids?: readonly number[];
}

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
const SOCK_DGRAM = 2;
const EINPROGRESS = 115;

function u32le(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

function checkInt(n: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(n) || n < lo || n > hi) throw new RangeError(`${what} must be an integer in ${lo}..${hi}, not ${n}`);
  return n;
}

/**
 * The filter as a bpftrace condition over $fam $a0..$a3 $port $proto, or '1'. Only numbers that
 * were checked here go into the text. IPv4 also matches its IPv4-mapped IPv6 form (a dual-stack
 * socket sending to ::ffff:127.0.0.1 sends to 127.0.0.1).
 */
export function filterCondition(f: NetFilter | undefined): string {
  if (!f) return `($fam == ${AF_INET} || $fam == ${AF_INET6})`;
  const parts: string[] = [];
  if (f.protocol) parts.push(`$proto == ${f.protocol === 'udp' ? IPPROTO_UDP : IPPROTO_TCP}`);
  if (f.port !== undefined) {
    const p = checkInt(f.port, 1, 65535, 'port');
    // The port as a little-endian load of its two network-order bytes (x86, arm64 little-endian).
    parts.push(`$port == ${((p & 0xff) << 8) | (p >> 8)}`);
  }
  if (f.address) {
    const a = f.address;
    if (a.length === 4) {
      const w = u32le(a, 0);
      parts.push(`(($fam == ${AF_INET} && $a0 == ${w}) || ($fam == ${AF_INET6} && $a0 == 0 && $a1 == 0 && $a2 == ${u32le(Uint8Array.of(0, 0, 0xff, 0xff), 0)} && $a3 == ${w}))`);
    } else if (a.length === 16) {
      parts.push(`($fam == ${AF_INET6} && $a0 == ${u32le(a, 0)} && $a1 == ${u32le(a, 4)} && $a2 == ${u32le(a, 8)} && $a3 == ${u32le(a, 12)})`);
    } else throw new RangeError(`an address has 4 or 16 bytes, not ${a.length}`);
  } else {
    parts.push(`($fam == ${AF_INET} || $fam == ${AF_INET6})`);
  }
  return parts.join(' && ');
}

const COMMON = 'tid, pid, uid, curtask->real_parent->tgid, curtask->start_boottime, nsecs';
const N_FMT = 'N %s %d %d %d %d %llu %llu %d %d %d %u %u %u %u %d %d %s\\n';

/** Reads a user sockaddr pointer into $fam $a0..$a3 $port (unchanged when the family is neither inet). */
function readSockaddr(ptr: string): string {
  return `$fam = *(uint16 *)uptr(${ptr});
    if ($fam == ${AF_INET}) { $s4 = (struct sockaddr_in *)uptr(${ptr}); $a0 = $s4->sin_addr.s_addr; $port = $s4->sin_port; }
    if ($fam == ${AF_INET6}) { $s6 = (struct sockaddr_in6 *)uptr(${ptr});
      $a0 = $s6->sin6_addr.in6_u.u6_addr32[0]; $a1 = $s6->sin6_addr.in6_u.u6_addr32[1];
      $a2 = $s6->sin6_addr.in6_u.u6_addr32[2]; $a3 = $s6->sin6_addr.in6_u.u6_addr32[3]; $port = $s6->sin6_port; }`;
}

/** The sock's own (`rcv_saddr`, with skc_num) or peer (`daddr`, with skc_dport) address into $a0..$a3 $port. */
function sockAddress(which: 'local' | 'peer'): string {
  const [v4, v6] = which === 'local' ? ['skc_rcv_saddr', 'skc_v6_rcv_saddr'] : ['skc_daddr', 'skc_v6_daddr'];
  const port = which === 'local' ? '$n = $sk->__sk_common.skc_num; $port = (uint16)((($n & 0xff) << 8) | ($n >> 8));' : '$port = $sk->__sk_common.skc_dport;';
  return `${port}
    if ($fam == ${AF_INET}) { $a0 = $sk->__sk_common.${v4}; }
    if ($fam == ${AF_INET6}) { $a0 = $sk->__sk_common.${v6}.in6_u.u6_addr32[0]; $a1 = $sk->__sk_common.${v6}.in6_u.u6_addr32[1];
      $a2 = $sk->__sk_common.${v6}.in6_u.u6_addr32[2]; $a3 = $sk->__sk_common.${v6}.in6_u.u6_addr32[3]; }`;
}

const ZERO = '$fam = (uint16)0; $a0 = (uint32)0; $a1 = (uint32)0; $a2 = (uint32)0; $a3 = (uint32)0; $port = (uint16)0; $proto = (uint16)0; $type = (uint16)0; $res = (int64)0;';

/** Longest string the program copies (BPFTRACE_STRLEN): three of them fit the 512-byte BPF stack. */
export const NET_STRLEN = 64;

/**
 * The executable's path at each exec, from the new image's own dentries (resolved, unlike the
 * name the caller passed), in two records of three names each, deepest last: six names would not
 * fit the BPF stack in one probe, and bpftrace 0.17 mixes up two probes on one tracepoint (seen
 * here: one of them ran twice, the other never), so the halves come from two tracepoints of the
 * same exec (sched_process_exec, then the execve's exit). Part 0 says where its top is: 2 the root
 * itself, 1 a child of the root, 0 deeper (the path is cut).
 * Taken at exec because a short-lived sender is gone before user space could read /proc.
 */
const EXE_WALK = `$d0 = curtask->mm->exe_file->f_path.dentry; $d1 = $d0->d_parent; $d2 = $d1->d_parent; $d3 = $d2->d_parent;
      $d4 = $d3->d_parent; $d5 = $d4->d_parent;`;
function exeProbes(when: (extra?: string) => string): string[] {
  return [
    `tracepoint:sched:sched_process_exec ${when()} { ${EXE_WALK}
    printf("X %d %llu 1 %d %s/%s/%s\\n", pid, curtask->start_boottime, curtask->real_parent->tgid, str($d2->d_name.name), str($d1->d_name.name), str($d0->d_name.name)); }`,
    `tracepoint:syscalls:sys_exit_execve, tracepoint:syscalls:sys_exit_execveat ${when('args->ret == 0')} { ${EXE_WALK}
    printf("X %d %llu 0 %d %s/%s/%s\\n", pid, curtask->start_boottime, $d5 == $d5->d_parent ? 2 : ($d5->d_parent == $d5->d_parent->d_parent ? 1 : 0), str($d5->d_name.name), str($d4->d_name.name), str($d3->d_name.name)); }`,
  ];
}

/** The socket behind file descriptor `fd` of the current task (type and sock). */
function socketOf(fd: string): string {
  return `$file = (struct file *)*(curtask->files->fdt->fd + ${fd}); $sock = (struct socket *)$file->private_data; $type = (uint16)$sock->type; $sk = $sock->sk; $proto = (uint16)$sk->sk_protocol;`;
}

/** Bytes of a unix path per U record: two records cover sun_path's 108 within NET_STRLEN. */
export const UNIX_HALF = 60;
/** sun_path's size: the most bytes a unix name has. */
const SUN_PATH = 108;

/** A pointer expression read as user memory (a syscall's argument) or kernel memory (the sock's). */
type Mem = 'user' | 'kernel';
const at = (mem: Mem, cast: string, ptr: string) => (mem === 'user' ? `(${cast})uptr(${ptr})` : `(${cast})(${ptr})`);

/** 0x8080808080808080 (a literal that large does not parse in bpftrace 0.17). */
const HIGH_BITS = '(0x80808080 << 32 | 0x80808080)';

/**
 * A unix address at `sa` (a struct sockaddr_un of `len` bytes, family included) into $abstract,
 * $off (where the name starts) and $un (its bytes), and a 64-bit FNV-1a-style hash of those bytes,
 * read 8 at a time, into $a0 (low) and $a1 (high) with $a2 = $abstract: the dedupe key of a unix
 * access (a path does not fit a map key beside the rest within the BPF stack). sun_path starts at
 * byte 2; an abstract name starts with a 0 byte and runs to addrlen; a pathname ends at its first 0
 * byte (found a word at a time: the lowest high bit of (w - 0x01…) & ~w & 0x80… marks it), as
 * callers pass sizeof(struct sockaddr_un) with whatever follows the name (seen: nscd lookups).
 */
function unixName(mem: Mem, sa: string, len: string): string {
  const words: string[] = [];
  for (let i = 0; i < Math.ceil(SUN_PATH / 8); i++) {
    const lo = i * 8;
    words.push(
      `if ($hn > ${lo}) { $w = (uint64)*${at(mem, 'uint64 *', `${sa} + $off + ${lo}`)}; if ($hn < ${lo + 8}) { $w = $w & ((1 << (($hn - ${lo}) * 8)) - 1); }
        if ($abstract == 0) { $z = ($w - 0x0101010101010101) & ~$w & ${HIGH_BITS}; if ($z != 0) { $w = $w & ((($z & (0 - $z)) >> 7) - 1); $hn = 0; } }
        $h = ($h ^ $w) * 1099511628211; }`,
    );
  }
  return `$abstract = *${at(mem, 'uint8 *', `${sa} + 2`)} == 0 ? 1 : 0; $off = (uint64)(2 + $abstract); $un = (int64)${len} - (int64)$off;
      if ($un > ${SUN_PATH}) { $un = ${SUN_PATH}; }
      $hn = $un; $h = (uint64)14695981039346656037; ${words.join('\n      ')}
      $a0 = (uint32)$h; $a1 = (uint32)($h >> 32); $a2 = (uint32)$abstract;`;
}

/** The U records of a unix name found by unixName (printed just before its N record, same thread). */
function unixHalves(mem: Mem, sa: string): string {
  const s = (from: string, n: string) => (mem === 'user' ? `str(uptr((int8 *)(${from})), ${n})` : `str((int8 *)(${from}), ${n})`);
  return `if ($un > 0) { $n0 = $un > ${UNIX_HALF} ? ${UNIX_HALF} : $un;
        printf("U %d %d 0 %s\\n", tid, $abstract, ${s(`${sa} + $off`, '$n0')}); }
      if ($un > ${UNIX_HALF}) { $n1 = $un - ${UNIX_HALF};
        printf("U %d %d 1 %s\\n", tid, $abstract, ${s(`${sa} + $off + ${UNIX_HALF}`, '$n1')}); }`;
}

/** The per-send counter map (who-sends) and its key (decoded by records.ts parseSentMap). */
export const SENT_MAP = '@sent';
const SENT_KEY = 'pid, curtask->start_boottime, $type, $fam, $a0, $a1, $a2, $a3, $port, $failed';

/**
 * Per-CPU counts of what the probes saw, by operation (NET_OPS index) and outcome (NET_OUTCOMES
 * index); printed every second and at the end (decoded by records.ts parseNetCounts).
 */
export const NETCOUNT_MAP = '@netcount';
export const NET_OUTCOMES = ['printed', 'duplicate', 'printedMapFull'] as const;
export type NetOutcome = (typeof NET_OUTCOMES)[number];

/** The dedupe map: one entry per process image and distinct access (outcome included). */
const SEEN_KEY = (op: NetOp) => `pid, curtask->start_boottime, (uint64)curtask->mm, ${NET_OPS.indexOf(op)}, $type, $fam, $a0, $a1, $a2, $a3, $port, $res`;

/** The record the program prints once all its probes are attached. */
export const READY_RECORD = 'R';

/** A bind to port 0 got its port from the kernel: the line names the port it got. */
const BOUND_PORT = 'if ($ret == 0 && $port == 0) { $n = $sk->__sk_common.skc_num; $port = (uint16)((($n & 0xff) << 8) | ($n >> 8)); }';

/**
 * `body` (the printing of one access) under the configured dedupe, with its outcome counted.
 * A full dedupe map (an insert that did not take) prints every access again, never fewer, and asks
 * user space once per second to empty the map (live processes then report each access once more).
 */
function deduped(op: NetOp, dedupe: boolean, body: string): string {
  const count = (o: NetOutcome) => `@netcount[${NET_OPS.indexOf(op)}, ${NET_OUTCOMES.indexOf(o)}] = count();`;
  if (!dedupe) return `${count('printed')} ${body}`;
  const key = SEEN_KEY(op);
  return `if (@seen[${key}] == 0) { @seen[${key}] = 1;
      if (@seen[${key}] == 0) { ${count('printedMapFull')} if (@seen_full[0] == 0) { @seen_full[0] = 1; clear(@seen); } } else { ${count('printed')} }
      ${body} } else { ${count('duplicate')} }`;
}

/** The bpftrace program for a configuration (pure; tests compare it and run it). */
export function netProgram(cfg: NetProgramConfig): string {
  for (const op of cfg.ops) if (!NET_OPS.includes(op)) throw new RangeError(`unknown network operation ${String(op)}`);
  const excl = (cfg.excludePids ?? []).map((p) => checkInt(p, 1, 2 ** 22, 'pid'));
  /** A probe's predicate: Lantern's own pids left out, and the probe's own condition. */
  const when = (extra?: string) => {
    const c = [...excl.map((p) => `pid != ${p}`), ...(extra ? [extra] : [])];
    return c.length ? `/${c.join(' && ')}/` : '';
  };
  const cond = filterCondition(cfg.filter);
  const out: string[] = [];
  const ops = new Set(cfg.ops);
  const print = (kind: string) => `printf("${N_FMT}", "${kind}", ${COMMON}, $fam, $type, $proto, $a0, $a1, $a2, $a3, $port, $ret, comm);`;
  const inet = `($fam == ${AF_INET} || $fam == ${AF_INET6})`;
  /** The families a connect or bind is followed for: read once at entry, so other calls leave nothing in a map. */
  const wanted = cfg.unix ? `(${inet} || $fam == ${AF_UNIX})` : inet;

  if (ops.has('send')) {
    // Remember where this thread's explicit destination is; sock_send_length reads it.
    out.push(`tracepoint:syscalls:sys_enter_sendto ${when()} { if (args->addr != 0) { @dst[tid] = (uint64)args->addr; } }`);
    out.push(`tracepoint:syscalls:sys_enter_sendmsg ${when()} { $m = (struct user_msghdr *)uptr(args->msg); if ($m->msg_name != 0) { @dst[tid] = (uint64)$m->msg_name; } }`);
    out.push(`tracepoint:syscalls:sys_enter_sendmmsg ${when()} { @mm[tid] = (uint64)args->mmsg; @mmi[tid] = 0; }`);
    // One delete per send on the hot path (a storm of sendto pays for each helper call).
    out.push(`tracepoint:syscalls:sys_exit_sendto, tracepoint:syscalls:sys_exit_sendmsg ${when()} { delete(@dst[tid]); }`);
    out.push(`tracepoint:syscalls:sys_exit_sendmmsg ${when()} { delete(@mm[tid]); delete(@mmi[tid]); }`);
    const sendPrint = cfg.countSends
      ? `$failed = $ret < 0 ? 1 : 0; @sent[${SENT_KEY}]++; $c = @sent[${SENT_KEY}];
      if ($c == 1) { @netcount[0, 0] = count(); } if ($c == 0) { @netcount[0, 2] = count(); } if ($c > 1) { @netcount[0, 1] = count(); }
      if ($c <= 1) { ${print('send')} }`
      : deduped('send', cfg.dedupe, print('send'));
    // The family is a field of the tracepoint itself: sends of other families cost no read.
    out.push(`tracepoint:sock:sock_send_length ${when(`(args->family == ${AF_INET} || args->family == ${AF_INET6})`)} {
    ${ZERO} $ret = args->ret; $sk = (struct sock *)args->sk; $proto = (uint16)args->protocol; $type = (uint16)$sk->sk_type;
    if (${cfg.dgramSendsOnly ? `$type == ${SOCK_DGRAM}` : '1'}) {
    $ptr = @dst[tid];
    if (@mm[tid] != 0) { $h = (struct mmsghdr *)uptr(@mm[tid] + (uint64)@mmi[tid] * sizeof(struct mmsghdr)); $ptr = (uint64)$h->msg_hdr.msg_name; @mmi[tid] = @mmi[tid] + 1; }
    if ($ptr != 0) { ${readSockaddr('$ptr')} }
    else { $fam = $sk->__sk_common.skc_family; ${sockAddress('peer')} }
    $res = $ret < 0 ? $ret : 0;
    if ($port != 0 && ${cond}) {
      ${sendPrint} } } }`);
  }
  for (const op of ['connect', 'bind'] as const) {
    if (!ops.has(op)) continue;
    const arg = op === 'connect' ? 'uservaddr' : 'umyaddr';
    // Entry: one read of the family; only the calls that can give a line leave their arguments.
    out.push(`tracepoint:syscalls:sys_enter_${op} ${when()} { $fam = *(uint16 *)uptr(args->${arg});
    if (${wanted}) { @${op}[tid] = (args->fd + 1, (uint64)args->${arg}, (int64)args->addrlen); } }`);
    // connect is filtered like a send (who-sends names the TCP clients of a port); bind is not.
    const inetCond = op === 'connect' ? cond : inet;
    // A connect under way on a non-blocking socket has not failed: one key with its success.
    const res = op === 'connect' ? `$res = ($ret < 0 && $ret != -${EINPROGRESS}) ? $ret : 0;` : '$res = $ret < 0 ? $ret : 0;';
    const unix = cfg.unix
      ? `if ($fam == ${AF_UNIX}) { ${unixName('user', '$ptr', '$len')}
      ${deduped(op, cfg.dedupe, `${unixHalves('user', '$ptr')} ${print(op)}`)} }`
      : '';
    out.push(`tracepoint:syscalls:sys_exit_${op} ${when()} { $call = @${op}[tid];
    if ($call.0 != 0) { delete(@${op}[tid]);
    ${ZERO} $ret = args->ret; $ptr = $call.1; $len = $call.2; ${socketOf('($call.0 - 1)')}
    ${readSockaddr('$ptr')}
    ${op === 'bind' ? BOUND_PORT : ''} ${res}
    ${unix}
    if (${inetCond}) { ${deduped(op, cfg.dedupe, print(op))} } } }`);
  }
  /** listen and accept: the address is the sock's own (listen; a unix accept: the listener's name) or its peer's (inet accept). */
  const sockOp = (op: 'listen' | 'accept') => {
    const unix = cfg.unix
      ? `if ($fam == ${AF_UNIX}) { $ua = ((struct unix_sock *)$sk)->addr;
      if ($ua != 0) { $sa = (uint64)$ua + sizeof(struct unix_address); ${unixName('kernel', '$sa', '$ua->len')}
        ${deduped(op, cfg.dedupe, `${unixHalves('kernel', '$sa')} ${print(op)}`)} } }`
      : '';
    return `$fam = $sk->__sk_common.skc_family; $res = $ret < 0 ? $ret : 0;
    ${unix}
    if (${inet}) { ${sockAddress(op === 'listen' ? 'local' : 'peer')}
      ${deduped(op, cfg.dedupe, print(op))} }`;
  };
  if (ops.has('listen')) {
    out.push(`tracepoint:syscalls:sys_enter_listen ${when()} { @listen_fd[tid] = args->fd + 1; }`);
    out.push(`tracepoint:syscalls:sys_exit_listen ${when()} { $fd = @listen_fd[tid];
    if ($fd != 0) { delete(@listen_fd[tid]);
    ${ZERO} $ret = args->ret; ${socketOf('($fd - 1)')}
    ${sockOp('listen')} } }`);
  }
  if (ops.has('accept')) {
    out.push(`tracepoint:syscalls:sys_exit_accept, tracepoint:syscalls:sys_exit_accept4 ${when('args->ret >= 0')} {
    ${ZERO} $ret = 0; ${socketOf('args->ret')}
    ${sockOp('accept')} }`);
  }
  // A thread killed inside a call never reaches its exit probe: its entry would stay (and a later
  // thread with its tid could take it for its own); each thread's exit removes what it left.
  const perThread = [...new Set([...out.join('\n').matchAll(/@(\w+)\[tid\]/g)].map((m) => m[1]!))];
  if (perThread.length) out.push(`tracepoint:sched:sched_process_exit { ${perThread.map((m) => `delete(@${m}[tid]);`).join(' ')} }`);
  if (cfg.exes) out.unshift(...exeProbes(when));
  // bpftrace says "attached" before it attaches; BEGIN runs once every probe is in place.
  out.unshift(`BEGIN { printf("${READY_RECORD}\\n"); }`);
  // The counts once a second (lantern record status), and the guard against asking for more than one clear a second.
  out.push(`interval:s:1 { print(${NETCOUNT_MAP}); ${cfg.dedupe ? '@seen_full[0] = 0;' : ''} }`);
  // Maps are cleared at the end so bpftrace prints none of them on exit.
  const maps = new Set([...out.join('\n').matchAll(/@(\w+)\[/g)].map((m) => m[1]!));
  out.push(`END { print(${NETCOUNT_MAP}); ${maps.has('sent') ? `print(${SENT_MAP}); ` : ''}${[...maps].map((m) => `clear(@${m});`).join(' ')} }`);
  return out.join('\n');
}
