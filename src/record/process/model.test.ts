import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDomains } from './domains.js';
import { ProcessModel, type ProcessRecord, type ScannedProcess, type TraceEvent } from './model.js';

function setup(scan: Partial<ScannedProcess>[] = [{ pid: 1, ppid: 0, exe: '/sbin/init', comm: 'init' }], env: { credsTraced?: boolean; uidOf?: (pid: number) => number | null } = {}) {
  const domains = new MemoryDomains();
  let id = 1;
  const model = new ProcessModel({
    domains,
    nextId: () => id++,
    toWallUs: (ts) => 1_700_000_000_000_000 + ts / 1000,
    normalizeProgram: (_pid, f) => f,
    uidOf: env.uidOf ?? (() => 0),
    credsTraced: env.credsTraced,
  });
  const seeded = model.seed(
    scan.map((s) => ({
      pid: s.pid!,
      ppid: s.ppid ?? 0,
      startTs: 0,
      startUs: 1_600_000_000_000_000,
      comm: s.comm ?? 'x',
      exe: s.exe ?? null,
      cmdline: '',
      uid: 0,
      tids: s.tids ?? [s.pid!],
      scannedTs: 0,
    })),
  );
  let ts = 1000;
  const out: ProcessRecord[] = [];
  const ev = (name: string, commonPid: number, fields: Record<string, number | string>): ProcessRecord[] => {
    const r = model.handle({ ts: (ts += 1000), name, commonPid, fields } as TraceEvent);
    out.push(...r);
    return r;
  };
  const fork = (parent: number, child: number, flags = 0x1200011) => ev('task_newtask', parent, { pid: child, comm: 'x', clone_flags: flags });
  const exec = (pid: number, filename: string, oldPid = pid) => ev('sched_process_exec', pid, { pid, old_pid: oldPid, filename });
  const exitGroup = (tid: number, code: number) => ev('sys_enter_exit_group', tid, { error_code: code });
  const exit = (tid: number, groupDead = true) => ev('sched_process_exit', tid, { pid: tid, comm: 'x', group_dead: groupDead ? 1 : 0 });
  const generate = (sender: number, target: number, sig: number, code = 0) => ev('signal_generate', sender, { sig, code, pid: target, result: 0, comm: 'x' });
  const deliver = (tid: number, sig: number) => ev('signal_deliver', tid, { sig, code: 0, sa_handler: 0 });
  /** An id-changing syscall by thread `tid` and its return. */
  const cred = (tid: number, call: 'setuid' | 'setreuid' | 'setresuid', args: Record<string, number>, ret = 0) => {
    ev(`sys_enter_${call}`, tid, args);
    ev(`sys_exit_${call}`, tid, { ret });
  };
  return { model, domains, seeded, out, fork, exec, exitGroup, exit, generate, deliver, cred };
}

test('domains follow exec chains through forks (TOMOYO naming)', () => {
  const m = setup();
  m.fork(1, 100);
  m.exec(100, '/bin/sh');
  m.fork(100, 101);
  m.exec(101, '/etc/rc.d/rc');
  m.exec(101, '/usr/sbin/sshd'); // exec without fork: a transition within the same pid
  m.fork(101, 102); // fork without exec keeps the domain
  m.exitGroup(102, 0);
  const [end] = m.exit(102);
  const name = (r: ProcessRecord) => m.domains.name(r.domainId);
  const execs = m.out.filter((r) => r.type === 'exec');
  assert.deepEqual(execs.map(name), ['<kernel> /sbin/init /bin/sh', '<kernel> /sbin/init /bin/sh /etc/rc.d/rc', '<kernel> /sbin/init /bin/sh /etc/rc.d/rc /usr/sbin/sshd']);
  assert.equal(name(end!), '<kernel> /sbin/init /bin/sh /etc/rc.d/rc /usr/sbin/sshd');
  assert.equal(end!.ppid, 101);
  assert.equal(end!.exitCode, 0);
  // Each image links to the one it came from: sshd <- rc <- sh <- init (reconstructed).
  const sshd = execs[2]!;
  assert.equal(sshd.fromId, execs[1]!.id);
  assert.equal(execs[1]!.fromId, execs[0]!.id);
  assert.equal(execs[0]!.fromId, m.seeded[0]!.id);
  assert.equal(m.seeded[0]!.reconstructed, true);
  assert.equal(execs[0]!.parentComm, 'init');
  // The log line lists what this pid ran before since its fork.
  assert.deepEqual(
    execs.map((r) => r.priorImages),
    [[], [], ['/etc/rc.d/rc']],
  );
});

test('exit codes come from exit_group, and survive the SIGKILLs that zap other threads', () => {
  const m = setup();
  m.fork(1, 200);
  m.exec(200, '/usr/bin/app');
  m.fork(200, 201, 0x3d0f00); // CLONE_THREAD
  m.exitGroup(200, 0x107); // only the low 8 bits count
  m.deliver(201, 9); // the other thread is killed as part of the group exit
  m.exit(201, false);
  const [rec] = m.exit(200, true);
  assert.equal(rec!.type, 'exit');
  assert.equal(rec!.exitCode, 7);
  assert.equal(m.model.procs.size, 1, 'only init is left');
  assert.equal(m.model.tidToTgid.size, 0);
});

test('SIGTERM with no handler: the delivered SIGKILL is traced back to the SIGTERM and its sender', () => {
  const m = setup();
  m.fork(1, 300);
  m.exec(300, '/usr/bin/kill');
  m.fork(1, 301);
  m.exec(301, '/usr/bin/sleep');
  m.generate(300, 301, 15);
  m.deliver(301, 9);
  const [rec] = m.exit(301);
  assert.equal(rec!.type, 'signal');
  assert.equal(rec!.signal, 15);
  assert.equal(rec!.senderPid, 300);
  assert.equal(rec!.senderComm, 'kill');
  assert.equal(rec!.senderProgram, '/usr/bin/kill');
  assert.equal(rec!.senderKind, 'process');
});

test("SIGSEGV from a fault is the kernel in the victim's own context; thread that faulted is kept", () => {
  const m = setup();
  m.fork(1, 400);
  m.exec(400, '/usr/bin/crasher');
  m.fork(400, 401, 0x10000 | 0x100);
  m.generate(401, 401, 11, 1); // SEGV_MAPERR from the fault in thread 401
  m.deliver(401, 11);
  m.deliver(400, 9); // the leader dies with the group
  m.exit(401, false);
  const [rec] = m.exit(400, true);
  assert.deepEqual([rec!.type, rec!.signal, rec!.tid, rec!.senderPid, rec!.senderKind, rec!.sigCode], ['signal', 11, 401, 400, 'kernel', 1]);
});

test('SIGKILL from another process; the OOM killer shows as the kernel', () => {
  const m = setup();
  m.fork(1, 500);
  m.exec(500, '/usr/bin/victim');
  m.fork(1, 501);
  m.exec(501, '/usr/bin/hog');
  m.generate(501, 500, 9, 0x80); // SI_KERNEL, sent in the allocating task's context
  m.deliver(500, 9);
  const [rec] = m.exit(500);
  assert.deepEqual([rec!.signal, rec!.senderKind, rec!.senderPid, rec!.senderComm], [9, 'kernel', 501, 'hog']);
  // A handled signal never ends a process: no fatal delivery, normal exit.
  m.generate(1, 501, 15);
  m.exitGroup(501, 0);
  const [rec2] = m.exit(501);
  assert.deepEqual([rec2!.type, rec2!.exitCode], ['exit', 0]);
});

test('exec from a non-leader thread takes over the leader pid', () => {
  const m = setup();
  m.fork(1, 600);
  m.exec(600, '/usr/bin/python3');
  m.fork(600, 601, 0x10000);
  m.deliver(600, 9); // de_thread zaps the leader
  m.exit(600, false);
  m.exec(600, '/bin/true', 601);
  assert.equal(m.model.procs.get(600)!.threads.size, 0);
  assert.equal(m.model.tidToTgid.has(601), false);
  m.exitGroup(600, 0);
  const [rec] = m.exit(600);
  assert.deepEqual([rec!.type, rec!.exitCode, m.domains.name(rec!.domainId)], ['exit', 0, '<kernel> /sbin/init /usr/bin/python3 /bin/true']);
});

test('pid reuse after a lost exit, and processes whose parent was never seen', () => {
  const m = setup();
  m.fork(1, 700);
  m.exec(700, '/a');
  m.fork(1, 700); // the old 700's exit was lost
  assert.equal(m.model.counters.pidReuse, 1);
  m.exec(700, '/b');
  assert.equal(m.domains.name(m.model.procs.get(700)!.domainId), '<kernel> /sbin/init /b');
  m.exec(9999, '/orphan'); // exec of a pid never seen
  assert.equal(m.domains.name(m.model.procs.get(9999)!.domainId), '<kernel> <unknown> /orphan');
  assert.equal(m.model.counters.unknownProcess, 1);
  // Exit of an unknown process: counted, no crash, no record.
  assert.deepEqual(m.exit(12345), []);
  assert.equal(m.model.counters.unknownProcess, 2);
});

test('very deep and very wide trees: linear work, memory back to the live set', () => {
  const m = setup();
  const depth = 5000;
  let parent = 1;
  for (let i = 0; i < depth; i++) {
    const pid = 10_000 + i;
    m.fork(parent, pid);
    m.exec(pid, `/d/${i % 7}`);
    parent = pid;
  }
  const deepest = m.model.procs.get(10_000 + depth - 1)!;
  assert.equal(m.domains.name(deepest.domainId).split(' ').length, depth + 2);
  for (let i = depth - 1; i >= 0; i--) {
    m.exitGroup(10_000 + i, 0);
    m.exit(10_000 + i);
  }
  const width = 10_000;
  for (let i = 0; i < width; i++) m.fork(1, 100_000 + i);
  for (let i = 0; i < width; i++) m.exec(100_000 + i, '/bin/true');
  for (let i = 0; i < width; i++) {
    m.exitGroup(100_000 + i, i % 3);
    m.exit(100_000 + i);
  }
  assert.equal(m.model.procs.size, 1);
  assert.equal(m.out.filter((r) => r.type === 'exit').length, depth + width);
  assert.equal(m.domains.size, 2 + depth + 1, 'one domain per depth level + /bin/true');
});

test('seeding from /proc orders parents first and handles events that predate the scan', () => {
  const m = setup([
    { pid: 30, ppid: 20, exe: '/usr/bin/bash', comm: 'bash', tids: [30, 31] },
    { pid: 1, ppid: 0, exe: '/sbin/init', comm: 'init' },
    { pid: 2, ppid: 0, exe: null, comm: 'kthreadd' },
    { pid: 20, ppid: 1, exe: '/usr/sbin/sshd', comm: 'sshd' },
  ]);
  assert.deepEqual(
    m.seeded.map((r) => r.pid),
    [1, 20, 30],
  );
  assert.equal(m.domains.name(m.seeded[2]!.domainId), '<kernel> /sbin/init /usr/sbin/sshd /usr/bin/bash');
  assert.equal(m.model.tidToTgid.get(31), 30);
  // A thread exit of the scanned process maps to its group.
  m.exit(31, false);
  assert.equal(m.model.procs.get(30)!.threads.size, 0);
  // Sweep drops what is gone.
  assert.equal(
    m.model.sweep((pid) => pid !== 20),
    1,
  );
  assert.equal(m.model.procs.has(20), false);
});

test('older kernels: sched_process_fork instead of task_newtask, sched_process_exit without group_dead', () => {
  const m = setup();
  const ev = (name: string, commonPid: number, fields: Record<string, number | string>) => m.model.handle({ ts: 1e12 + m.out.length, name, commonPid, fields });
  ev('sched_process_fork', 1, { parent_pid: 1, child_pid: 800, child_comm: 'init', parent_comm: 'init' });
  const [exec] = ev('sched_process_exec', 800, { pid: 800, old_pid: 800, filename: '/bin/old' });
  assert.equal(m.domains.name(exec!.domainId), '<kernel> /sbin/init /bin/old');
  ev('sys_enter_exit_group', 800, { error_code: 5 });
  const [end] = ev('sched_process_exit', 800, { pid: 800, comm: 'old', prio: 120 }); // no group_dead field
  assert.deepEqual([end!.type, end!.exitCode], ['exit', 5]);
  assert.equal(m.model.procs.has(800), false);
});

test('uid at exec follows setuid/setreuid/setresuid from the trace, even for a process already gone', () => {
  const lookups: number[] = [];
  // /proc says nothing: every process here is gone by the time its exec is processed.
  const m = setup(undefined, { credsTraced: true, uidOf: (pid) => (lookups.push(pid), null) });
  const uidOfExec = (pid: number) => m.out.filter((r) => r.type === 'exec' && r.pid === pid).map((r) => r.uid);
  m.fork(1, 100);
  m.cred(100, 'setresuid', { ruid: 65534, euid: 65534, suid: 65534 }); // setpriv --reuid
  m.exec(100, '/bin/true');
  m.fork(1, 101);
  m.cred(101, 'setuid', { uid: 1000 }); // root: real uid changes (su, os.setuid)
  m.exec(101, '/bin/true');
  m.fork(101, 102); // inherits 1000
  m.exec(102, '/bin/id');
  m.fork(1, 103);
  m.cred(103, 'setreuid', { ruid: 0xffffffff, euid: 5 }); // ruid -1: unchanged
  m.cred(103, 'setresuid', { ruid: 7, euid: 7, suid: 7 }, -1); // failed (EPERM): unchanged
  m.cred(103, 'setresuid', { ruid: 2 ** 64 - 1, euid: 7, suid: 7 }); // -1 passed as 64 bits
  m.exec(103, '/bin/true');
  assert.deepEqual([uidOfExec(100), uidOfExec(101), uidOfExec(102), uidOfExec(103)], [[65534], [1000], [1000], [0]]);
  assert.deepEqual(lookups, [], 'no /proc lookup while the uid is known from kernel data');
  // A non-root setuid(u) may change only the effective uid: the next exec asks /proc.
  m.fork(102, 104);
  m.cred(104, 'setuid', { uid: 33 });
  m.exec(104, '/bin/true');
  assert.deepEqual(lookups, [104]);
  assert.deepEqual(uidOfExec(104), [1000], '/proc had nothing: the last known uid stays');
});

test('without the id-changing syscall events the uid is read from /proc at exec', () => {
  const m = setup(undefined, { uidOf: (pid) => (pid === 100 ? 42 : null) });
  m.fork(1, 100);
  m.exec(100, '/bin/true');
  assert.equal(m.out.find((r) => r.type === 'exec' && r.pid === 100)!.uid, 42);
});
