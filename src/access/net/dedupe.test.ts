/**
 * In-kernel dedupe of the network source on the real kernel: a known program (test/data/access/net/
 * repeat.py) repeats every kind of access many times; each distinct access arrives exactly once per
 * process image (an exec starts a new one, a forked child has its own), unix listen and accept
 * included, and the source's account adds up (seen = printed + duplicates + printed-on-full;
 * printed = records when nothing was lost). A dedupe map too small for the accesses prints
 * repeats, never fewer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { bpftraceMissing, facilitySkip, freeTcpPort, tempDir } from '../../common/testenv.js';
import type { AccessEvent } from '../event.js';
import { NetProbe } from './probe.js';
import type { NetRecord, SentCount } from './records.js';
import { startNetworkSource, type NetworkStats } from './source.js';

const REPEAT = fileURLToPath(new URL('../../../test/data/access/net/repeat.py', import.meta.url));
const skip = facilitySkip(bpftraceMissing(['sock:sock_send_length']) ?? (spawnSync('python3', ['-c', '']).status !== 0 ? 'python3 is not installed (the known program)' : undefined));

const line = (e: AccessEvent) => `${e.operation}${e.errno ? ` ${e.errno}` : ''}`;

/** Counts of each line among a pid's events. */
function tally(events: AccessEvent[], pid: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) if (e.pid === pid) m.set(line(e), (m.get(line(e)) ?? 0) + 1);
  return m;
}

function assertAccount(s: NetworkStats): void {
  assert.equal(s.seen, s.printed + s.duplicates + s.printedMapFull, `seen = printed + duplicates + printedMapFull: ${JSON.stringify(s)}`);
  assert.equal(s.lostEvents, 0, 'nothing lost in the ring');
  assert.equal(s.unreceived, 0, `every printed record arrived: ${JSON.stringify(s)}`);
  assert.equal(s.printed + s.printedMapFull, s.records, 'printed = records');
  assert.equal(s.malformed, 0);
  assert.equal(s.unixWithoutPath, 0);
}

test('repeated accesses arrive once per process image; unix listen/accept; the counts add up', { skip }, async () => {
  const dir = tempDir('lantern-netdedupe-');
  const events: AccessEvent[] = [];
  const src = await startNetworkSource({}, (e) => events.push(e));
  const [a, b, refused] = [await freeTcpPort(), await freeTcpPort(), await freeTcpPort()];
  let out: string[];
  try {
    const r = spawnSync('python3', [REPEAT, String(a), String(b), String(refused), dir], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    out = r.stdout.trim().split('\n');
    await new Promise((res) => setTimeout(res, 1500));
  } finally {
    await src.stop();
  }
  const [pid, child] = out.map(Number) as [number, number];
  const images = (tag: string) => [
    `inet dgram connect 127.0.0.1 ${a}`,
    `inet dgram connect 127.0.0.1 ${b}`,
    `inet stream connect 127.0.0.1 ${refused} ECONNREFUSED`,
    `inet dgram connect ::1 ${a}`,
    `unix stream bind ${dir}/${tag}.sock`,
    `unix stream listen ${dir}/${tag}.sock`,
    `unix stream connect ${dir}/${tag}.sock`,
    `unix stream accept ${dir}/${tag}.sock`,
    `unix seqpacket bind @lantern-dedupe-${tag}-${pid}`,
    `unix seqpacket listen @lantern-dedupe-${tag}-${pid}`,
    `unix seqpacket connect @lantern-dedupe-${tag}-${pid}`,
    `unix seqpacket accept @lantern-dedupe-${tag}-${pid}`,
    `inet dgram send 127.0.0.1 ${a}`,
  ];
  // Each image's lines once: the lines both images share twice (the exec gave a new image), the rest once.
  const want = new Map<string, number>();
  for (const l of [...images('first'), ...images('again')]) want.set(l, (want.get(l) ?? 0) + 1);
  // Only the accesses the known program names: libc may connect to its own services on the way (seen on
  // CI: glibc's `unix stream connect /var/run/nscd/socket ENOENT`), real lines the test does not control.
  const ours = (l: string) => l.includes(dir) || l.includes('@lantern-dedupe-') || [a, b, refused].some((p) => l.endsWith(` ${p}`) || l.includes(` ${p} `));
  const got = new Map([...tally(events, pid)].filter(([l]) => ours(l)));
  assert.deepEqual([...got].sort(), [...want].sort(), 'one line per distinct access per image');
  assert.deepEqual(
    [...tally(events, child)].filter(([l]) => ours(l)),
    [[`inet dgram connect 127.0.0.1 ${a}`, 1]],
    'the forked child: its own first access, its repeat suppressed',
  );
  const s = src.stats();
  console.log(`network account: ${JSON.stringify(s)}`);
  assertAccount(s);
  // Per image: 98 UDP connects, 19 refused, 9 IPv6, 4+4 unix stream, 2+2 seqpacket connects and accepts, 29 sends repeated; the child 1.
  assert.ok(s.duplicates >= 2 * (98 + 19 + 9 + 8 + 4 + 29) + 1, `duplicates ${s.duplicates}`);
});

test('a full dedupe map prints repeats, never fewer', { skip }, async () => {
  const events: AccessEvent[] = [];
  // 16 entries in every map: the program's 40 destinations cannot all be remembered.
  const src = await startNetworkSource({ mapKeys: 16 }, (e) => events.push(e));
  const base = 42000 + (process.pid % 1000) * 20;
  let pid: number;
  try {
    const r = spawnSync(
      'python3',
      [
        '-c',
        `import os, socket
print(os.getpid(), flush=True)
for round in range(3):
    for p in range(${base}, ${base + 40}):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('127.0.0.1', p)); s.close()`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    pid = Number(r.stdout.trim());
    await new Promise((res) => setTimeout(res, 2500));
  } finally {
    await src.stop();
  }
  const got = tally(events, pid);
  for (let p = base; p < base + 40; p++) assert.ok((got.get(`inet dgram connect 127.0.0.1 ${p}`) ?? 0) >= 1, `port ${p} reported`);
  const s = src.stats();
  assert.ok(s.printedMapFull > 0, `printed because the map was full: ${JSON.stringify(s)}`);
  assertAccount(s);
});

test("who-sends' configuration: every connect printed, sends counted; a full count map prints the sends it cannot count", { skip }, async () => {
  const records: NetRecord[] = [];
  const sent: SentCount[] = [];
  // 16 entries: the program's 40 destinations do not fit the per-send count map.
  const probe = await NetProbe.start(
    { ops: ['send', 'connect'], unix: false, dedupe: false, countSends: true, exes: true, filter: { address: Uint8Array.of(127, 0, 0, 1) } },
    { onRecord: (r) => records.push(r), onSentCounts: (c) => sent.push(...c) },
    16,
  );
  const base = 43000 + (process.pid % 1000) * 20;
  let pid: number;
  try {
    const r = spawnSync(
      'python3',
      [
        '-c',
        `import os, socket
print(os.getpid(), flush=True)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for round in range(3):
    for p in range(${base}, ${base + 40}):
        u.sendto(b'x', ('127.0.0.1', p))
for i in range(5):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect(('127.0.0.1', ${base})); c.close()`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    pid = Number(r.stdout.trim());
    await new Promise((res) => setTimeout(res, 1500));
  } finally {
    await probe.stop();
  }
  // The script's own ports only: an earlier process with the same pid (a busy machine recycles pids) is not it.
  const mine = records.filter((r) => r.pid === pid && r.port >= base && r.port < base + 40);
  assert.equal(mine.filter((r) => r.op === 'connect').length, 5, 'each connect printed');
  const printedPorts = new Set(mine.filter((r) => r.op === 'send').map((r) => r.port));
  for (let p = base; p < base + 40; p++) assert.ok(printedPorts.has(p), `a send to ${p} printed`);
  const counted = sent.filter((c) => c.pid === pid).reduce((n, c) => n + c.count, 0);
  const printedUncounted = mine.filter((r) => r.op === 'send' && !sent.some((c) => c.pid === pid && c.port === r.port)).length;
  assert.equal(counted + printedUncounted, 120, `120 sends: ${counted} counted + ${printedUncounted} printed past the full map`);
  const c = probe.counts;
  assert.equal(c.connect.duplicate, 0, 'connects are not deduplicated');
  assert.ok(c.send.printedMapFull > 0, JSON.stringify(c.send));
});
