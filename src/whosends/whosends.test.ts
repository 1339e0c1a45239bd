/**
 * lantern who-sends on the real kernel: short-lived senders (a small C program that sends once and
 * exits) with sendto, connect+send, connect+write, sendmsg and sendmmsg, to 127.0.0.1 and ::1, one
 * of them as an unprivileged user; a TCP client that connects and writes. Each sender is named with
 * its pid, program, uid and domain; sends to other ports are not reported. A SIGKILLed who-sends
 * leaves no bpftrace behind; a closed pipe ends it quietly.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, realpathSync } from 'node:fs';
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { bpftraceMissing, facilitySkip, tempDir } from '../common/testenv.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const SENDER_C = fileURLToPath(new URL('../../test/data/whosends/sender.c', import.meta.url));
const skip = facilitySkip(bpftraceMissing(['sock:sock_send_length']) ?? (!existsSync('/usr/bin/gcc') && !existsSync('/usr/bin/cc') ? 'gcc is not installed (builds the test sender)' : undefined));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function whoSends(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [BIN, 'who-sends', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const t0 = Date.now();
  while (!/watching/.test(err)) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`who-sends did not start: ${err}`);
    await sleep(50);
  }
  return { child, out: () => out, err: () => err, exit };
}

function buildSender(): string {
  const dir = tempDir('lantern-whosends-');
  chmodSync(dir, 0o755); // the unprivileged sender must reach it
  const exe = join(dir, 'sender');
  const r = spawnSync('cc', ['-O2', '-o', exe, SENDER_C], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return realpathSync(exe);
}

/** Runs the sender once (it exits right after sending); its pid. */
function send(sender: string, args: string[], asUser = false): number {
  const argv = asUser ? ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', sender, ...args] : [sender, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `${argv.join(' ')}: ${r.status} ${r.stderr}`);
  return Number(r.stdout.trim());
}

async function udpListeners(port: number): Promise<Socket[]> {
  const socks: Socket[] = [];
  for (const [type, addr] of [
    ['udp4', '127.0.0.1'],
    ['udp6', '::1'],
  ] as const) {
    for (const p of [port, port + 1, port + 2]) {
      const s = createSocket(type);
      s.on('message', () => undefined);
      await new Promise<void>((res, rej) => {
        s.once('error', rej);
        s.bind(p, addr, () => res());
      });
      socks.push(s);
    }
  }
  return socks;
}

type Ev = { type: string; pid: number; uid: number; program: string; port: number; address: string; domain: string; domain_source: string; errno: string | null; protocol: string };

function parse(out: string): { events: Ev[]; summary: { senders: Array<{ pid: number; sends: number; connects: number; program: string }>; lost: number; malformed: number } } {
  const lines = out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Ev & { type: string });
  const summary = lines.find((l) => l.type === 'summary') as unknown as ReturnType<typeof parse>['summary'];
  assert.ok(summary, `a summary line: ${out.slice(-500)}`);
  return { events: lines.filter((l) => l.type !== 'summary'), summary };
}

test('short-lived UDP senders (sendto, send, write, sendmsg, sendmmsg; IPv4 and IPv6) and a TCP client are named', { skip, timeout: 240_000 }, async () => {
  const sender = buildSender();
  const port = 41000 + Math.floor(Math.random() * 8000);
  const tcpPort = port + 5;
  const socks = await udpListeners(port);
  const srv = createServer((c) => c.on('data', () => undefined).on('error', () => undefined));
  await new Promise<void>((r) => srv.listen(tcpPort, '127.0.0.1', r));
  const node = realpathSync(process.execPath);
  try {
    const [v4, v6, tcp] = await Promise.all([
      whoSends(['udp', `127.0.0.1:${port}`, '--json']),
      whoSends(['udp', `[::1]:${port}`, '--json']),
      whoSends(['tcp', `127.0.0.1:${tcpPort}`, '--json', '--for', '600s']),
    ]);
    const p4 = {
      sendto: send(sender, ['sendto', '127.0.0.1', String(port), String(port + 1)]),
      send: send(sender, ['send', '127.0.0.1', String(port), String(port + 1)]),
      write: send(sender, ['write', '127.0.0.1', String(port)]),
      sendmsg: send(sender, ['sendmsg', '127.0.0.1', String(port)]),
      sendmmsg: send(sender, ['sendmmsg', '127.0.0.1', String(port)]),
      nobody: send(sender, ['sendto', '127.0.0.1', String(port)], true),
    };
    const p6 = {
      sendto: send(sender, ['sendto', '::1', String(port), String(port + 1)]),
      send: send(sender, ['send', '::1', String(port)]),
      sendmmsg: send(sender, ['sendmmsg', '::1', String(port)]),
    };
    const pTcp = send(sender, ['tcp', '127.0.0.1', String(tcpPort)]);
    await sleep(1500);
    v4.child.kill('SIGINT');
    v6.child.kill('SIGTERM');
    tcp.child.kill('SIGINT');
    for (const r of [v4, v6, tcp]) {
      const e = await r.exit;
      assert.equal(e.code, 0, r.err());
    }
    const a = parse(v4.out());
    const b = parse(v6.out());
    const c = parse(tcp.out());
    const check = (events: Ev[], pid: number, sends: number, uid = 0) => {
      const mine = events.filter((e) => e.pid === pid);
      assert.equal(mine.filter((e) => e.type === 'send').length, sends, `pid ${pid}: ${JSON.stringify(mine)}`);
      for (const e of mine) {
        assert.equal(e.program, sender, 'the program, though it exited before user space read the event');
        assert.equal(e.uid, uid);
        assert.equal(e.port, e.protocol === 'tcp' ? tcpPort : port);
        assert.equal(e.errno, null);
        assert.ok(e.domain.endsWith(` ${node} ${sender}`), `domain of ${pid}: ${e.domain}`);
        assert.match(e.domain, /^<kernel> /);
        assert.ok(['proc', 'partial'].includes(e.domain_source));
      }
    };
    check(a.events, p4.sendto, 1);
    check(a.events, p4.send, 1);
    check(a.events, p4.write, 1);
    check(a.events, p4.sendmsg, 1);
    check(a.events, p4.sendmmsg, 1); // printed once per destination; the middle message went elsewhere
    check(a.events, p4.nobody, 1, 65534);
    check(b.events, p6.sendto, 1);
    check(b.events, p6.send, 1);
    check(b.events, p6.sendmmsg, 1);
    assert.ok(
      a.events.every((e) => e.port === port && e.address === '127.0.0.1'),
      'no other port, no other address',
    );
    assert.ok(b.events.every((e) => e.port === port && e.address === '::1'));
    const t = c.events.filter((e) => e.pid === pTcp);
    assert.deepEqual(
      t.map((e) => e.type),
      ['connect', 'send'],
    );
    check(c.events, pTcp, 1);
    // The summary has one row per sender process, with its counts.
    for (const pid of Object.values(p4))
      assert.ok(
        a.summary.senders.some((s) => s.pid === pid && s.program === sender),
        `summary row for ${pid}`,
      );
    // The kernel counted the sends of sendmmsg to the target, never the one elsewhere. Each
    // message's address is read from the caller's mmsghdr array inside a tracepoint, where a page
    // that is not resident cannot be faulted in: on a loaded machine one read can fail and that
    // message goes uncounted (seen once on CI; docs/who-sends.md, LIMITS). Never more than 2.
    for (const [s, pid] of [
      [a, p4.sendmmsg],
      [b, p6.sendmmsg],
    ] as const) {
      const n = s.summary.senders.find((x) => x.pid === pid)?.sends ?? 0;
      assert.ok(n >= 1 && n <= 2, `sendmmsg sends counted: ${n}`);
    }
    assert.equal(c.summary.senders.find((s) => s.pid === pTcp)?.connects, 1);
    for (const s of [a, b, c]) assert.equal(s.summary.malformed, 0);
  } finally {
    socks.forEach((s) => s.close());
    srv.close();
  }
});

test('text output names the sender as it happens; --for ends with the summary', { skip, timeout: 120_000 }, async () => {
  const sender = buildSender();
  const port = 50000 + Math.floor(Math.random() * 5000);
  const socks = await udpListeners(port);
  try {
    const r = await whoSends(['udp', String(port), '--for', '4s']);
    const pid = send(sender, ['sendto', '127.0.0.1', String(port)]);
    const e = await r.exit;
    assert.equal(e.code, 0, r.err());
    const lines = r.out().split('\n');
    const ev = lines.find((l) => l.includes(` pid=${pid} `));
    assert.ok(ev, r.out());
    assert.match(ev, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z pid=${pid} uid=0 program=${sender} comm=sender udp send 127\\.0\\.0\\.1:${port} domain=`));
    assert.match(r.out(), new RegExp(`^who-sends udp \\*:${port}: \\d+ senders?, \\d+ events? in \\d+\\.\\d s, \\d+ sends?; 0 lost in the kernel$`, 'm'));
    assert.match(r.out(), /^PID +UID +SENDS +CONNECTS +FAILED +FIRST +PROGRAM +TO +DOMAIN$/m);
  } finally {
    socks.forEach((s) => s.close());
  }
});

test('a SIGKILLed who-sends leaves no bpftrace behind; a closed pipe ends it quietly (141)', { skip, timeout: 120_000 }, async () => {
  const r = await whoSends(['udp', '127.0.0.1:9']);
  const children = readFileSync(`/proc/${r.child.pid}/task/${r.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  const bt = children.find((p) => /bpftrace/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')));
  assert.ok(bt, `bpftrace among the children ${children.join(',')}`);
  r.child.kill('SIGKILL');
  await r.exit;
  const t0 = Date.now();
  while (existsSync(`/proc/${bt}`) && Date.now() - t0 < 10_000) await sleep(100);
  assert.ok(!existsSync(`/proc/${bt}`), 'bpftrace ended with its parent');

  const sender = buildSender();
  const port = 56000 + Math.floor(Math.random() * 5000);
  const socks = await udpListeners(port);
  try {
    const p = await whoSends(['udp', `127.0.0.1:${port}`]);
    const first = new Promise<void>((res) => p.child.stdout!.once('data', () => res()));
    send(sender, ['sendto', '127.0.0.1', String(port)]);
    await first;
    p.child.stdout!.destroy(); // the reader went away
    send(sender, ['sendto', '127.0.0.1', String(port)]);
    await sleep(500);
    send(sender, ['sendto', '127.0.0.1', String(port)]);
    const e = await Promise.race([p.exit, sleep(15_000).then(() => null)]);
    if (!e) p.child.kill('SIGKILL');
    assert.equal(e?.code, 141, p.err());
    assert.doesNotMatch(p.err(), /error|Error/, 'no message for a closed pipe');
  } finally {
    socks.forEach((s) => s.close());
  }
});

test('bad targets are one line and exit 64', () => {
  for (const args of [
    ['udp', '1.2.3:53'],
    ['udp', '[::1]:0'],
    ['icmp', '53'],
    ['tcp', '127.0.0.1:'],
    ['udp', '127.0.0.1:53', '--for', 'soon'],
  ]) {
    const r = spawnSync(process.execPath, [BIN, 'who-sends', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 64, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^lantern: [^\n]+\n$/, r.stderr);
  }
});

test("with lantern record running, the domain is the recorder's exec chain (--store)", { skip, timeout: 180_000 }, async () => {
  const sender = buildSender();
  const dir = tempDir('lantern-whosends-store-');
  const store = join(dir, 'record.db');
  const name = `ws${process.pid}${Math.floor(Math.random() * 1e5)}`;
  const rec = spawn(process.execPath, [BIN, 'record', '--store', store, '--name', name, '--poll-ms', '50', '--buffer-kb', '512'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let recErr = '';
  rec.stderr!.on('data', (d: Buffer) => (recErr += d.toString()));
  const recExit = new Promise((res) => rec.once('exit', res));
  const port = 43000 + Math.floor(Math.random() * 5000);
  const socks = await udpListeners(port);
  try {
    const t0 = Date.now();
    while (!/recording into/.test(recErr)) {
      if (rec.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`lantern record did not start: ${recErr}`);
      await sleep(50);
    }
    const r = await whoSends(['udp', `127.0.0.1:${port}`, '--json', '--store', store, '--settle-ms', '1500']);
    assert.match(r.err(), new RegExp(`domains from the record store ${store.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    // sh runs the sender as a child (no exec in place), so the chain ends ... sh sender.
    const sh = spawnSync('sh', ['-c', `"${sender}" sendto 127.0.0.1 ${port}; true`], { encoding: 'utf8' });
    assert.equal(sh.status, 0, sh.stderr);
    const pid = Number(sh.stdout.trim());
    await sleep(2500);
    r.child.kill('SIGINT');
    assert.equal((await r.exit).code, 0, r.err());
    const { events } = parse(r.out());
    const e = events.find((x) => x.pid === pid);
    assert.ok(e, r.out());
    assert.equal(e.domain_source, 'store', JSON.stringify(e));
    assert.equal(e.program, sender);
    assert.match(e.domain, new RegExp(`^<kernel> .*/sh ${sender.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  } finally {
    socks.forEach((s) => s.close());
    rec.kill('SIGTERM');
    await recExit;
  }
});
