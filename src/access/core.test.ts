/** The pure parts of the access lists: paths, lists, decoding of both backends, rendering, queries, options. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { absolutePath, encodeName, linePath, procName } from './path.js';
import { AccessLists } from './lists.js';
import { decodeExit, syscallProgram, toAccess, type ProcDirs } from './syscalls.js';
import { decodeBatch, loadFanotify, mountsToMark, parseMountinfo } from './fanotify.js';
import { accessLogLine, ctimeUtc, renderDomain, summaryLines } from './render.js';
import { filesOf, whoUses } from './query.js';
import { accessOptions } from './config.js';
import { AccessTracker, DEFAULT_ACCESS, envNames } from './tracker.js';
import { errnoName } from './syscall-source.js';
import type { AccessEvent } from './event.js';

const ev = (operation: string, errno?: string, timeUs = 1_000_000): AccessEvent => ({ timeUs, pid: 10, category: 'file', operation, ...(errno ? { errno } : {}) });

test('paths: relative against cwd, absolute below a chroot, . and .. folded; procfs as TOMOYO writes it; odd bytes octal', () => {
  assert.equal(absolutePath('../etc/./passwd', '/var/lib'), '/var/etc/passwd');
  assert.equal(absolutePath('/etc/hosts', null, '/srv/jail'), '/srv/jail/etc/hosts');
  assert.equal(absolutePath('rel', null), null);
  assert.equal(procName('/proc/self/status', 5), 'proc:/self/status');
  assert.equal(procName('/proc/5/fd/3', 5), 'proc:/self/fd/3');
  assert.equal(procName('/proc/77/stat', 5), 'proc:/\\$/stat');
  assert.equal(procName('/proc/meminfo', 5), 'proc:/meminfo');
  assert.equal(procName('/procfoo', 5), '/procfoo');
  assert.equal(encodeName('/tmp/a b\nc\\'), '/tmp/a\\040b\\012c\\134');
  assert.equal(linePath('/proc/self/environ', 1), 'proc:/self/environ');
});

test('lists: deduplicated per domain, failures apart with errno, first/last/count, bounded with a counted overflow; counters add up', () => {
  const l = new AccessLists({ perDomain: 3 });
  assert.equal(l.add(1, ev('read /etc/passwd', undefined, 5)), 'added');
  assert.equal(l.add(1, ev('read /etc/passwd', undefined, 9)), 'merged');
  assert.equal(l.add(1, ev('read /etc/passwd', 'EACCES', 7)), 'added');
  assert.equal(l.add(2, ev('read /etc/passwd')), 'added', 'another domain has its own list');
  assert.equal(l.add(1, ev('write /var/log/x')), 'added');
  assert.equal(l.add(1, ev('write /var/log/y')), 'overflow');
  assert.equal(l.add(1, ev('write /var/log/x')), 'merged', 'a kept line still merges when the list is full');
  const e = l.entries(1).find((x) => x.line === 'file read /etc/passwd' && !x.errno)!;
  assert.deepEqual([e.firstUs, e.lastUs, e.count], [5, 9, 2]);
  assert.equal(l.overflow.get(1), 1);
  const c = l.counters;
  assert.equal(c.events, c.added + c.merged + c.overflow);
  const d = l.takeDirty();
  assert.equal(d.entries.length, 4);
  assert.deepEqual(d.overflow, [[1, 1]]);
  assert.equal(l.takeDirty().entries.length, 0);
  l.putBack(d);
  assert.equal(l.takeDirty().entries.length, 4, 'a failed write is retried');
  const again = new AccessLists({ perDomain: 3 });
  again.load(l.entries(1), [[1, 1]]);
  assert.equal(again.add(1, ev('write /new')), 'overflow', 'the bound holds across a restart');
});

test('syscalls backend: program made of numbers only; exits decoded; flags, dfd, cwd, root and fd turned into lines', () => {
  assert.throws(() => syscallProgram([Number('1; system("x")')]));
  const prog = syscallProgram([42]);
  assert.match(prog, /tracepoint:syscalls:sys_exit_openat \/pid != 42\//);
  assert.match(prog, /args->ret < 0 \|\| \(\$r->dx & 1536\)/, 'openat prints failures and O_APPEND/O_TRUNC successes only');
  const d = decodeExit('R 257 100 101 -13 -100 0 0 123456789 /etc/secret file');
  assert.ok(d && d.kind === 'R');
  assert.equal(d.exit.path, '/etc/secret file');
  assert.equal(decodeExit('garbage'), null);
  const dirs: ProcDirs = { cwd: '/srv/app', root: '/', fd: (n) => (n === 3 ? '/var/log/app.log' : n === 9 ? '/etc' : null) };
  const line = (t: string, dd = dirs) => {
    const x = decodeExit(t.replace(/^(R(?: -?\d+){7}) /, '$1 5 '));
    assert.ok(x && x.kind === 'R');
    const a = toAccess(x.exit, dd, errnoName, 1);
    return a ? `${a.operation}${a.errno ? ' ' + a.errno : ''}${a.unresolved ? ' (unresolved)' : ''}` : null;
  };
  assert.equal(line('R 257 1 1 -13 -100 0 0 /etc/app.conf'), 'read /etc/app.conf EACCES');
  assert.equal(line('R 257 1 1 3 -100 1089 0 log/a'), 'append /srv/app/log/a', 'O_WRONLY|O_CREAT|O_APPEND, relative');
  assert.equal(line('R 257 1 1 3 9 577 0 hosts'), 'truncate /etc/hosts', 'O_TRUNC relative to a dfd');
  assert.equal(line('R 257 1 1 -2 -100 65 0 new'), 'create /srv/app/new ENOENT');
  assert.equal(line('R 59 1 1 -26 -100 0 0 /opt/app/bin/run'), 'execute /opt/app/bin/run ETXTBSY');
  assert.equal(line('R 263 1 1 -39 -100 512 0 d'), 'rmdir /srv/app/d ENOTEMPTY');
  assert.equal(line('R 268 1 1 0 -100 438 0 /dev/log'), 'chmod /dev/log 0666');
  assert.equal(line('R 91 1 1 0 -100 384 0 3'), 'chmod /var/log/app.log 0600');
  assert.equal(line('R 16 1 1 0 -100 0 21505 3'), 'ioctl /var/log/app.log 0x5401');
  assert.equal(line('R 258 1 1 -17 -100 493 0 /tmp/x'), 'mkdir /tmp/x 0755 EEXIST');
  assert.equal(line('R 257 1 1 -2 -100 0 0 rel', { cwd: null, root: null, fd: () => null }), 'read ?/rel ENOENT (unresolved)');
  assert.equal(line('R 257 1 1 -2 -100 0 0 /etc/x', { cwd: '/', root: '/jail', fd: () => null }), 'read /jail/etc/x ENOENT', 'absolute inside a chroot');
  assert.equal(line('R 77 1 1 0 -100 0 0 4'), 'truncate ?/fd:4 (unresolved)');
  assert.equal(errnoName(49), 'EUNATCH');
  assert.doesNotMatch(prog, /newfstatat/, 'getattr is off by default');
  assert.match(syscallProgram([42], { getattr: true }), /sys_exit_newfstatat .*@ga\[pid, \$p\] == 0/);
  assert.equal(line('R 262 1 1 0 -100 0 0 ../etc/passwd'), 'getattr /srv/etc/passwd');
  assert.equal(line('R 262 1 1 0 3 4096 0 '), 'getattr /var/log/app.log', 'AT_EMPTY_PATH: the fd itself');
});

test('fanotify: batch records decoded (create mode, rename pair, procfs, unresolved counted); local filesystems chosen once per device', () => {
  const rec = (...f: string[]) => f.map((x) => x + '\0').join('');
  const buf = Buffer.from(
    rec('c', '5', '1', '/var/run/sshd.pid', '0644') + rec('n', '5', '1', '/a b', '/c') + rec('r', '5', '1', '/proc/5/status', '') + rec('u', '6', '1', '', 'gone') + rec('?', 'x', '1', '/', ''),
  );
  const out: AccessEvent[] = [];
  const r = decodeBatch(buf, 7, (e) => out.push(e));
  assert.deepEqual(
    out.map((e) => e.operation),
    ['create /var/run/sshd.pid 0644', 'rename /a\\040b /c', 'read proc:/self/status'],
  );
  assert.deepEqual(r, { records: 4, unresolved: 1, malformed: 1 });
  const mi = [
    '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '23 22 0:5 / /proc rw shared:2 - proc proc rw',
    '24 22 0:30 / /tmp rw shared:3 - tmpfs tmpfs rw',
    '25 22 254:0 /srv /mnt/bind\\040x rw shared:1 - ext4 /dev/vda rw',
    '26 22 0:40 / /mnt/nfs rw - nfs4 srv:/x rw',
  ].join('\n');
  assert.deepEqual(
    mountsToMark(parseMountinfo(mi)).map((m) => `${m.mountPoint} ${m.fsType}`),
    ['/ ext4', '/tmp tmpfs'],
  );
  assert.equal(parseMountinfo(mi)[3]!.mountPoint, '/mnt/bind x');
});

test("render: TOMOYO layout numbered and sorted, failures with errno and times, the talk's log line and summary", () => {
  const l = new AccessLists({ perDomain: 10 });
  l.add(2, ev('read /etc/rsyslog.conf', undefined, Date.UTC(2014, 4, 5, 13, 44, 38) * 1000));
  l.add(2, ev('append /var/log/messages'));
  l.add(2, ev('read /etc/app.conf', 'EACCES', Date.UTC(2014, 4, 5) * 1000));
  const d = { domain: '<kernel> /sbin/init /usr/sbin/rsyslogd', entries: l.entries(2), overflow: 2 };
  assert.deepEqual(renderDomain(d, false), [
    '<kernel> /sbin/init /usr/sbin/rsyslogd',
    '',
    '  1: file append /var/log/messages',
    '  2: file read /etc/rsyslog.conf',
    '  (2 accesses did not fit in the per-domain limit and are not listed)',
  ]);
  assert.match(renderDomain(d, true)[2]!, /^ {2}1: file read \/etc\/app\.conf EACCES {2}\(1×, first 2014-05-05T00:00:00Z, last 2014-05-05T00:00:00Z\)$/);
  assert.equal(ctimeUtc(Date.UTC(2014, 4, 5, 13, 44, 38) * 1000), 'Mon May  5 13:44:38 2014');
  assert.equal(
    accessLogLine(Date.UTC(2014, 4, 5, 13, 44, 38) * 1000, 'read /etc/pam.d/login', undefined, 'init', 1, '<kernel> /bin/sh /sbin/mingetty /bin/login'),
    '[Mon May  5 13:44:38 2014] read /etc/pam.d/login by init(1) /bin/sh /sbin/mingetty /bin/login',
  );
  const s = summaryLines([d]);
  assert.deepEqual(s.slice(0, 3), ['domain: <kernel> /sbin/init /usr/sbin/rsyslogd', '  append:', '    /var/log/messages']);
  assert.ok(s.includes('  read (failed):'));
});

test('queries: files-of by path or base name over every domain of the program; who-uses by path or glob, failures included', () => {
  const l = new AccessLists({ perDomain: 10 });
  l.add(2, ev('read /etc/ssh/sshd_config'));
  l.add(2, ev('create /var/run/sshd.pid 0644'));
  l.add(3, ev('read /etc/ssh/moduli'));
  l.add(3, ev('read /etc/ssh/ssh_host_key', 'EACCES'));
  const lists = [
    { domain: '<kernel> /sbin/init /usr/sbin/sshd', entries: l.entries(2) },
    { domain: '<kernel> /sbin/init /usr/sbin/sshd /usr/sbin/sshd', entries: l.entries(3) },
  ];
  const f = filesOf('sshd', lists);
  assert.equal(f.domains.length, 2);
  assert.deepEqual(f.byOp, { create: ['/var/run/sshd.pid'], read: ['/etc/ssh/moduli', '/etc/ssh/sshd_config'] });
  assert.equal(filesOf('/usr/sbin/sshd', lists).domains.length, 2);
  assert.equal(filesOf('ssh', lists).domains.length, 0);
  assert.deepEqual(
    whoUses('/etc/ssh/*', lists).map((r) => `${r.line}${r.errno ? ' ' + r.errno : ''}`),
    ['file read /etc/ssh/sshd_config', 'file read /etc/ssh/moduli', 'file read /etc/ssh/ssh_host_key EACCES'],
  );
});

test('options: [access] keys checked, flags turn it on, a backend name is checked before anything runs; env names only', () => {
  assert.equal(accessOptions(undefined, {}), null, 'off by default');
  assert.equal(accessOptions({ enabled: true }, { access: false }), null);
  assert.equal(accessOptions(undefined, { accessLog: true })?.backend, 'auto');
  assert.equal(accessOptions({ enabled: true, per_domain: 10, backend: 'fanotify' }, {})?.perDomain, 10);
  assert.equal(accessOptions({ enabled: true, getattr: true }, {})?.getattr, true);
  assert.throws(() => accessOptions({ bogus: 1 }, {}), /unknown key \[access\] bogus/);
  assert.throws(() => accessOptions({ enabled: true, per_domain: 0 }, {}), /per_domain must be an integer/);
  assert.throws(() => accessOptions(undefined, { accessBackend: 'fan;rm' }), /bad access backend/);
  assert.deepEqual(envNames('PATH=/bin\0HOME=/root\0=x\0A B=1\0'), ['PATH', 'HOME', 'A\\040B']);
});

test('tracker: an access before an exec stays in the old domain, one after goes to the new; exited pids keep theirs; counters add up', () => {
  const live = new Map<number, { domainId: number; comm: string }>([[7, { domainId: 3, comm: 'cat' }]]);
  const names: Record<number, string> = { 2: '<kernel> /bin/sh', 3: '<kernel> /bin/sh /bin/cat', 4: '<kernel> <unknown>', 5: '<kernel> /usr/bin/env' };
  const logged: string[] = [];
  const t = new AccessTracker(
    { ...DEFAULT_ACCESS, env: true, log: (l) => logged.push(l) },
    {
      liveDomain: (pid) => live.get(pid) ?? null,
      unknownDomain: () => 4,
      domainName: (id) => names[id]!,
      readEnviron: (pid) => (pid === 8 ? 'HOME=/root\0TERM=xterm\0' : null),
      nowTs: () => 50_000,
      toWallUs: (ts) => ts / 1000,
    },
  );
  t.noteExec(7, 2_000, { domainId: 2, comm: 'sh' }); // pid 7 was sh until ts 2000, then cat
  t.push({ timeUs: 0, bootNs: 1_000, pid: 7, category: 'file', operation: 'write /tmp/out' }); // the redirection, before the exec
  t.push({ timeUs: 0, bootNs: 3_000, pid: 7, category: 'file', operation: 'read /etc/hosts' });
  t.push({ timeUs: 0, bootNs: 4_000, pid: 9, category: 'file', operation: 'read /etc/passwd' }); // exited, below
  t.push({ timeUs: 0, bootNs: 90_000, pid: 7, category: 'file', operation: 'read /late' }); // after the cut-off: waits
  t.push({ timeUs: 0, pid: 99, category: 'file', operation: 'read /x' }); // no time: stamped now (50,000); unknown pid
  t.noteRecords([
    { type: 'exit', pid: 9, domainId: 5, comm: 'env', timeUs: 1 },
    { type: 'exec', pid: 8, domainId: 5, comm: 'env', timeUs: 1 },
  ]);
  t.flush(60_000);
  assert.deepEqual(
    t.lists.entries(2).map((e) => e.line),
    ['file write /tmp/out'],
  );
  assert.deepEqual(
    t.lists.entries(3).map((e) => e.line),
    ['file read /etc/hosts'],
  );
  assert.deepEqual(
    t.lists
      .entries(5)
      .map((e) => e.line)
      .sort(),
    ['file read /etc/passwd', 'misc env HOME', 'misc env TERM'],
  );
  assert.deepEqual(
    t.lists.entries(4).map((e) => e.line),
    ['file read /x'],
  );
  const st = t.status();
  assert.equal(st.waiting, 1);
  assert.equal(st.unknownPid, 1);
  assert.equal(st.received, st.attributed + st.waiting + st.queueDropped);
  assert.ok(
    logged.some((l) => /^\[.*\] write \/tmp\/out by sh\(7\) \/bin\/sh$/.test(l)),
    logged.join('\n'),
  );
  t.flush(Infinity);
  assert.equal(t.status().waiting, 0);
});

test("tracker: a file execute goes to the domain that called execve (TOMOYO's), however late fanotify stamped it", () => {
  // pid 7: sh (domain 2) execs /bin/cat at ts 2,000 (domain 3), which execs ./tool at ts 5,000 (domain 6).
  const live = new Map<number, { domainId: number; comm: string }>([[7, { domainId: 6, comm: 'tool' }]]);
  const t = new AccessTracker(
    { ...DEFAULT_ACCESS, env: false },
    {
      liveDomain: (pid) => live.get(pid) ?? null,
      unknownDomain: () => 4,
      domainName: (id) => String(id),
      readEnviron: () => null,
      readLink: (path) => ({ '/bin/cat': '../usr/lib/cat', '/usr/lib/cat': '/usr/libexec/cat-real' })[path] ?? null,
      nowTs: () => 50_000,
      toWallUs: (ts) => ts / 1000,
    },
  );
  t.noteExec(7, 2_000, { domainId: 2, comm: 'sh' }, '/bin/cat');
  t.noteExec(7, 5_000, { domainId: 3, comm: 'cat' }, './tool');
  t.push({ timeUs: 0, bootNs: 1_500, pid: 7, category: 'file', operation: 'execute /usr/bin/cat' }); // read before the exec: sh's
  t.push({ timeUs: 0, bootNs: 6_000, pid: 7, category: 'file', operation: 'execute /usr/bin/cat' }); // read after both execs: still sh's
  t.push({ timeUs: 0, bootNs: 6_000, pid: 7, category: 'file', operation: 'execute /work/tool' }); // cat's, by the name's last part
  t.push({ timeUs: 0, bootNs: 6_000, pid: 7, category: 'file', operation: 'execute /lib64/ld-linux-x86-64.so.2' }); // the loader: with the latest exec (cat's)
  t.push({ timeUs: 0, bootNs: 6_000, pid: 7, category: 'file', operation: 'execute /usr/bin/bash' }); // no exec of that name (a script's interpreter): the live image's
  t.push({ timeUs: 0, bootNs: 6_000, pid: 7, category: 'file', operation: 'execute /usr/libexec/cat-real' }); // the file /bin/cat links to: sh's
  t.push({ timeUs: 0, bootNs: 6_000, pid: 7, category: 'file', operation: 'execute /work/tool', errno: 'EACCES' }); // a failure is the caller's own: live
  t.push({ timeUs: 0, bootNs: 6_000, pid: 7, category: 'file', operation: 'read /work/tool.conf' }); // not an execute: the live image's
  t.flush(60_000);
  const lines = (id: number) => t.lists.entries(id).map((e) => e.line + (e.errno ? ` ${e.errno}` : ''));
  assert.deepEqual(lines(2).sort(), ['file execute /usr/bin/cat', 'file execute /usr/libexec/cat-real']);
  assert.deepEqual(lines(3).sort(), ['file execute /lib64/ld-linux-x86-64.so.2', 'file execute /work/tool']);
  assert.deepEqual(lines(6).sort(), ['file execute /usr/bin/bash', 'file execute /work/tool EACCES', 'file read /work/tool.conf']);
});

test('native/fanotify is built on CI (npm ci runs scripts/build-native.mjs); off CI a missing addon is a clear message', () => {
  const loaded = loadFanotify();
  if (process.env.CI && process.env.CI !== 'false') assert.ok('mod' in loaded, `CI must build native/fanotify: ${'error' in loaded ? loaded.error : ''}`);
  if ('error' in loaded) assert.match(loaded.error, /native\/fanotify is not built|cannot load|not Linux/);
  else assert.equal(typeof loaded.mod.clockOffsetNs(), 'number');
});
