/**
 * The one network probe program: a fixed bpftrace text built from configuration only.
 *
 * Why these probes (measured on kernel 6.18, ../shared/research/backends-6.18.md §2): kprobes and
 * fentry are unavailable, so the destination of a send comes from two places. For sendto/sendmsg/
 * sendmmsg with an address, the syscall entry saves the user pointer to that address (per thread);
 * `sock:sock_send_length` then fires once per message, in the sender's context, for every send path
 * (send, write, writev included) with the `struct sock`, whose connected destination is used when no
 * address was given. One print site for all sends, with the protocol and socket type from the sock.
 * connect and bind read the caller's sockaddr at entry and print at exit with the result; listen and
 * accept read the socket's own addresses (accept: the peer of the new socket).
 *
 * bpftrace 0.17 mixes up two probes on one tracepoint (seen here: one ran twice, the other never),
 * so every tracepoint has one probe; and a probe's strings and printf arguments must fit the 512-byte
 * BPF stack, so long strings are split over records of their own.
 *
 * A send is printed once per process, destination and outcome when dedupeSends is on; every send
 * is counted in SENT_MAP, printed at the end.
 *
 * Records (parsed by records.ts). Every record has at most one free string, and it is last, so a comm
 * or a path holding spaces cannot shift another field:
 *   N <kind> <tid> <pid> <uid> <ppid> <pstart_ns> <ktime_ns> <family> <socktype> <protocol> <a0> <a1> <a2> <a3> <port_be> <ret> <comm>
 *   U <tid> <abstract 0|1> <half 0|1> <up to UNIX_HALF bytes of the unix path>                     — at connect/bind entry
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
  /** Report unix-domain connect and bind too. */
  unix: boolean;
  /**
   * Print a send only the first time a process sends to a destination (successfully, or failing),
   * and count every send in an in-kernel map (SENT_MAP, printed at the end): the access lists need
   * distinct accesses, and who-sends the senders, not every packet of a storm (printing each one
   * costs more than the send itself and loses most of them when the reader falls behind).
   */
  dedupeSends: boolean;
  /** Processes whose events are not reported (Lantern itself); validated integers. */
  excludePids?: readonly number[];
}

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

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

const ZERO = '$fam = (uint16)0; $a0 = (uint32)0; $a1 = (uint32)0; $a2 = (uint32)0; $a3 = (uint32)0; $port = (uint16)0; $proto = (uint16)0; $type = (uint16)0;';

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
  return `$file = *(curtask->files->fdt->fd + ${fd}); $sock = (struct socket *)$file->private_data; $type = (uint16)$sock->type; $sk = $sock->sk; $proto = (uint16)$sk->sk_protocol;`;
}

/** Bytes of a unix path per U record: two records cover sun_path's 108 within NET_STRLEN. */
export const UNIX_HALF = 60;

/**
 * The unix path of a connect/bind at its entry (the N record is printed at the exit: one probe per
 * tracepoint, and the BPF stack holds no more), in two halves, each before the N record of the same
 * thread. sun_path starts at byte 2; an abstract name starts with a 0 byte and runs addrlen - 3
 * bytes; a pathname ends at its first 0 byte.
 */
function unixHalves(ptr: string, len: string): string {
  return `if (*(uint16 *)uptr(${ptr}) == ${AF_UNIX}) {
      $abstract = *(uint8 *)uptr(${ptr} + 2) == 0 ? 1 : 0; $off = (uint64)(2 + $abstract); $n = (int64)${len} - (int64)$off;
      if ($n > 0) { $n0 = $n > ${UNIX_HALF} ? ${UNIX_HALF} : $n;
        printf("U %d %d 0 %s\\n", tid, $abstract, str(uptr((int8 *)(${ptr} + $off)), $n0)); }
      if ($n > ${UNIX_HALF}) { $n1 = $n - ${UNIX_HALF};
        printf("U %d %d 1 %s\\n", tid, $abstract, str(uptr((int8 *)(${ptr} + $off + ${UNIX_HALF})), $n1)); } }`;
}

/** The per-send counter map and its key (decoded by records.ts parseSentMap). */
export const SENT_MAP = '@sent';
const SENT_KEY = 'pid, curtask->start_boottime, $type, $fam, $a0, $a1, $a2, $a3, $port, $failed';

/** The record the program prints once all its probes are attached. */
export const READY_RECORD = 'R';

/** A bind to port 0 got its port from the kernel: the line names the port it got. */
const BOUND_PORT = 'if ($ret == 0 && $port == 0) { $n = $sk->__sk_common.skc_num; $port = (uint16)((($n & 0xff) << 8) | ($n >> 8)); }';

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

  if (ops.has('send')) {
    // Remember where this thread's explicit destination is; sock_send_length reads it.
    out.push(`tracepoint:syscalls:sys_enter_sendto ${when()} { if (args->addr != 0) { @dst[tid] = (uint64)args->addr; } }`);
    out.push(`tracepoint:syscalls:sys_enter_sendmsg ${when()} { $m = (struct user_msghdr *)uptr(args->msg); if ($m->msg_name != 0) { @dst[tid] = (uint64)$m->msg_name; } }`);
    out.push(`tracepoint:syscalls:sys_enter_sendmmsg ${when()} { @mm[tid] = (uint64)args->mmsg; @mmi[tid] = 0; }`);
    // One delete per send on the hot path (a storm of sendto pays for each helper call).
    out.push(`tracepoint:syscalls:sys_exit_sendto, tracepoint:syscalls:sys_exit_sendmsg ${when()} { delete(@dst[tid]); }`);
    out.push(`tracepoint:syscalls:sys_exit_sendmmsg ${when()} { delete(@mm[tid]); delete(@mmi[tid]); }`);
    out.push(`tracepoint:sock:sock_send_length ${when()} {
    ${ZERO} $ret = args->ret; $now = nsecs; $sk = (struct sock *)args->sk; $proto = (uint16)args->protocol; $type = (uint16)$sk->sk_type;
    $ptr = @dst[tid];
    if (@mm[tid] != 0) { $h = (struct mmsghdr *)uptr(@mm[tid] + (uint64)@mmi[tid] * sizeof(struct mmsghdr)); $ptr = (uint64)$h->msg_hdr.msg_name; @mmi[tid] = @mmi[tid] + 1; }
    if ($ptr != 0) { ${readSockaddr('$ptr')} }
    else { $fam = $sk->__sk_common.skc_family; $port = $sk->__sk_common.skc_dport;
      if ($fam == ${AF_INET}) { $a0 = $sk->__sk_common.skc_daddr; }
      if ($fam == ${AF_INET6}) { $a0 = $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0]; $a1 = $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
        $a2 = $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2]; $a3 = $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3]; } }
    if ($port != 0 && ${cond}) {
      ${cfg.dedupeSends ? `$failed = $ret < 0 ? 1 : 0; @sent[${SENT_KEY}]++; if (@sent[${SENT_KEY}] == 1) {` : 'if (1) {'}
      ${print('send')} } } }`);
  }
  {
    for (const op of ['connect', 'bind'] as const) {
      if (!ops.has(op)) continue;
      const arg = op === 'connect' ? 'uservaddr' : 'umyaddr';
      out.push(`tracepoint:syscalls:sys_enter_${op} ${when()} { @${op}_fd[tid] = args->fd + 1; @${op}_addr[tid] = (uint64)args->${arg}; @${op}_len[tid] = args->addrlen;
    ${cfg.unix ? unixHalves(`(uint64)args->${arg}`, 'args->addrlen') : ''} }`);
      const unix = cfg.unix ? `if ($fam == ${AF_UNIX}) { ${print(op)} }` : '';
      // connect is filtered like a send (who-sends names the TCP clients of a port); bind is not.
      const inetCond = op === 'connect' ? cond : `($fam == ${AF_INET} || $fam == ${AF_INET6})`;
      out.push(`tracepoint:syscalls:sys_exit_${op} ${when('@' + op + '_fd[tid] != 0')} {
    ${ZERO} $ret = args->ret; $now = nsecs; $ptr = @${op}_addr[tid]; ${socketOf(`(@${op}_fd[tid] - 1)`)}
    ${readSockaddr('$ptr')}
    ${op === 'bind' ? BOUND_PORT : ''}
    ${unix}
    if (${inetCond}) { ${print(op)} }
    delete(@${op}_fd[tid]); delete(@${op}_addr[tid]); delete(@${op}_len[tid]); }`);
    }
  }
  if (ops.has('listen')) {
    out.push(`tracepoint:syscalls:sys_enter_listen ${when()} { @listen_fd[tid] = args->fd + 1; }`);
    out.push(`tracepoint:syscalls:sys_exit_listen ${when('@listen_fd[tid] != 0')} {
    ${ZERO} $ret = args->ret; $now = nsecs; ${socketOf('(@listen_fd[tid] - 1)')}
    $fam = $sk->__sk_common.skc_family; $n = $sk->__sk_common.skc_num; $port = (uint16)((($n & 0xff) << 8) | ($n >> 8));
    if ($fam == ${AF_INET}) { $a0 = $sk->__sk_common.skc_rcv_saddr; }
    if ($fam == ${AF_INET6}) { $a0 = $sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[0]; $a1 = $sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[1];
      $a2 = $sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[2]; $a3 = $sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[3]; }
    if ($fam == ${AF_INET} || $fam == ${AF_INET6}) { ${print('listen')} }
    delete(@listen_fd[tid]); }`);
  }
  if (ops.has('accept')) {
    out.push(`tracepoint:syscalls:sys_exit_accept, tracepoint:syscalls:sys_exit_accept4 ${when('args->ret >= 0')} {
    ${ZERO} $ret = 0; $now = nsecs; ${socketOf('args->ret')}
    $fam = $sk->__sk_common.skc_family; $port = $sk->__sk_common.skc_dport;
    if ($fam == ${AF_INET}) { $a0 = $sk->__sk_common.skc_daddr; }
    if ($fam == ${AF_INET6}) { $a0 = $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0]; $a1 = $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
      $a2 = $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2]; $a3 = $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3]; }
    if ($fam == ${AF_INET} || $fam == ${AF_INET6}) { ${print('accept')} } }`);
  }
  out.unshift(...exeProbes(when));
  // bpftrace says "attached" before it attaches; BEGIN runs once every probe is in place.
  out.unshift(`BEGIN { printf("${READY_RECORD}\\n"); }`);
  // Maps are cleared at the end so bpftrace prints none of them on exit.
  const maps = new Set([...out.join('\n').matchAll(/@(\w+)\[/g)].map((m) => m[1]!));
  out.push(`END { ${maps.has('sent') ? `print(${SENT_MAP}); ` : ''}${[...maps].map((m) => `clear(@${m});`).join(' ')} }`);
  return out.join('\n');
}
