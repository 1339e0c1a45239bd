import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from './store.js';
import { newRecord, ProcessModel, type ProcessRecord } from '../process/model.js';

import { domainNames, domainTree, HistoryCache, matchDomains, parseTimeArg, parseTypes, pidHistory, renderTree, historyOf } from '../query.js';
import { CliError } from '../../common/exit.js';

function withStore(fn: (store: Store, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-record-store-'));
  const store = Store.open(join(dir, 'sub', 'record.db'));
  try {
    fn(store, dir);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Drive the real model into the store: init -> sh -> (sleep killed by kill, true exit 3). */
function populate(store: Store, baseUs = Date.now() * 1000): ProcessRecord[] {
  const model = new ProcessModel({ domains: store, nextId: () => store.nextId(), toWallUs: (ts) => baseUs + ts / 1000, normalizeProgram: (_p, f) => f, uidOf: () => 0 });
  const recs: ProcessRecord[] = model.seed([{ pid: 1, ppid: 0, startTs: 0, startUs: baseUs - 1e9, comm: 'init', exe: '/sbin/init', cmdline: '/sbin/init', uid: 0, tids: [1], scannedTs: 0 }]);
  let ts = 0;
  const h = (name: string, cp: number, fields: Record<string, number | string>) => recs.push(...model.handle({ ts: (ts += 1e6), name, commonPid: cp, fields }));
  h('task_newtask', 1, { pid: 10, comm: 'init', clone_flags: 0 });
  h('sched_process_exec', 10, { pid: 10, old_pid: 10, filename: '/bin/sh' });
  h('task_newtask', 10, { pid: 11, comm: 'sh', clone_flags: 0 });
  h('sched_process_exec', 11, { pid: 11, old_pid: 11, filename: '/bin/sleep' });
  h('task_newtask', 10, { pid: 12, comm: 'sh', clone_flags: 0 });
  h('sched_process_exec', 12, { pid: 12, old_pid: 12, filename: '/bin/kill' });
  h('signal_generate', 12, { sig: 15, code: 0, pid: 11, result: 0 });
  h('signal_deliver', 11, { sig: 9, sa_handler: 0 });
  h('sched_process_exit', 11, { pid: 11, group_dead: 1 });
  h('sys_enter_exit_group', 12, { error_code: 3 });
  h('sched_process_exit', 12, { pid: 12, group_dead: 1 });
  store.write(recs);
  return recs;
}

test('records round-trip; domains as a trie; tree and domain matching', () => {
  withStore((store) => {
    populate(store);
    assert.deepEqual(store.counts(), { exec: 4, exit: 1, signal: 1 });
    const sig = store.query({ types: ['signal'] });
    assert.equal(sig.length, 1);
    assert.deepEqual([sig[0]!.pid, sig[0]!.signal, sig[0]!.sender_pid, sig[0]!.sender_comm, sig[0]!.sender_program], [11, 15, 12, 'kill', '/bin/kill']);
    assert.equal(store.name(sig[0]!.domain_id!), '<kernel> /sbin/init /bin/sh /bin/sleep');
    const tree = renderTree(domainTree(store));
    assert.deepEqual(tree, ['0 <kernel>  (4 in subtree)', '1   /sbin/init  (4 in subtree)  [from /proc]', '1     /bin/sh  (3 in subtree)', '1       /bin/kill', '1       /bin/sleep']);
    const names = domainNames(store);
    assert.equal(matchDomains(names, '<kernel> /sbin/init /bin/sh').length, 3, 'a domain and its subtree');
    assert.equal(matchDomains(names, '*sleep').length, 1);
    assert.equal(store.query({ domainIds: matchDomains(names, '*kill'), types: ['exit'] })[0]!.exit_code, 3);
    assert.deepEqual(store.query({ domainIds: [] }), []);
  });
});

test('pid history: images, end, children, timestamped history', () => {
  withStore((store) => {
    populate(store, Date.UTC(2014, 4, 4, 1, 4, 33) * 1000);
    const [sh] = pidHistory(store, 10);
    assert.equal(sh!.domain, '<kernel> /sbin/init /bin/sh');
    assert.deepEqual(
      sh!.children.map((c) => [c.pid, c.program, c.end?.type]),
      [
        [11, '/bin/sleep', 'signal'],
        [12, '/bin/kill', 'exit'],
      ],
    );
    const [sleep] = pidHistory(store, 11);
    assert.match(sleep!.history, /^init\(2014\/05\/04-00:47:53\)=>sh\(2014\/05\/04-01:04:33\)=>sleep\(2014\/05\/04-01:04:33\)$/);
    assert.equal(sleep!.end!.signal, 15);
    const exit = store.query({ types: ['exit'] })[0]!;
    assert.match(historyOf(store, exit), /=>kill\(/);
    // The memoised histories of a stream equal the walked ones.
    const cache = new HistoryCache(store, 3);
    for (const e of store.query({})) assert.equal(cache.of(e), historyOf(store, e));
  });
});

test('reconstructed records are not duplicated when the recorder restarts', () => {
  withStore((store) => {
    const base = Date.now() * 1000;
    populate(store, base);
    populate(store, base); // same scan again: the init record is skipped
    assert.equal(store.query({ pid: 1 }).length, 1);
  });
});

test('retention by age and by size', () => {
  withStore((store) => {
    const now = Date.now() * 1000;
    populate(store, now - 10 * 86_400e6); // ten days ago
    populate(store, now);
    const before = store.query({}).length;
    const deleted = store.retain({ maxAgeUs: 5 * 86_400e6, nowUs: now });
    assert.ok(deleted >= 5, `deleted ${deleted}`);
    assert.equal(store.query({}).length, before - deleted);
    // Fill with bulky records (long command lines), then cap the size.
    const template = store.query({ types: ['exec'] })[0]!;
    const recs: ProcessRecord[] = [];
    for (let i = 0; i < 3000; i++) {
      recs.push(
        newRecord({
          id: store.nextId(),
          type: 'exec',
          timeUs: now + i,
          pid: 50_000 + i,
          ppid: 1,
          pstartUs: now + i,
          uid: 0,
          program: '/bin/true',
          comm: 'true',
          domainId: template.domain_id!,
          detail: 'x'.repeat(400),
          parentComm: 'init',
        }),
      );
    }
    store.write(recs);
    const big = store.sizeBytes();
    store.retain({ maxBytes: 256 * 1024 });
    const used = (store.db.pragma('page_count', { simple: true }) as number) * (store.db.pragma('page_size', { simple: true }) as number);
    assert.ok(big > 256 * 1024, `store grew to ${big}`);
    assert.ok(used <= 1.5 * 256 * 1024 + 64 * 1024, `store shrank to ${used}`);
    const left = store.query({});
    assert.ok(left.length > 0 && left.length < 3000, `${left.length} newest records kept`);
  });
});

test('read-only open of a missing or foreign file is a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-record-store-'));
  try {
    assert.throws(() => Store.open(join(dir, 'nope.db'), { readonly: true }), CliError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('time and type arguments', () => {
  const now = Date.UTC(2026, 0, 1);
  assert.equal(parseTimeArg('10m', now), (now - 600_000) * 1000);
  assert.equal(parseTimeArg('2026-01-01T00:00:00Z', now), now * 1000);
  assert.equal(parseTimeArg('now', now), now * 1000);
  assert.throws(() => parseTimeArg('yesterday'), CliError);
  assert.deepEqual(parseTypes(['exec,exit', 'lost']), ['exec', 'exit', 'lost']);
  assert.throws(() => parseTypes(['fork']), /bad --type/);
});

test('domains nothing uses any more are pruned; live ones and ancestors stay', () => {
  withStore((store) => {
    const now = Date.now() * 1000;
    populate(store, now - 10 * 86_400e6);
    const sleepDomain = store.query({ types: ['signal'] })[0]!.domain_id!;
    const orphan = store.intern(store.intern(store.root, '/gone'), '/gone/child');
    const live = store.intern(store.intern(store.root, '/live'), '/live/child');
    store.retain({ maxAgeUs: 86_400e6, nowUs: now });
    assert.equal(store.query({}).length, 0);
    const pruned = store.pruneDomains([live]);
    assert.ok(pruned >= 5, `pruned ${pruned}`);
    assert.equal(store.name(live), '<kernel> /live /live/child');
    assert.equal(store.name(orphan).includes('<?>'), true, 'the orphan is gone');
    assert.equal(store.name(sleepDomain).includes('<?>'), true);
    // New domains still work after pruning.
    const again = store.intern(store.root, '/sbin/init');
    assert.equal(store.name(again), '<kernel> /sbin/init');
  });
});

test('batched writes: 50-row statements and the remainder store every field; reconstructed duplicates are skipped', () => {
  withStore((store) => {
    const dom = store.intern(store.root, '/usr/bin/true');
    const rec = (i: number, reconstructed = false): ProcessRecord =>
      newRecord({
        id: store.nextId(),
        type: i % 2 ? 'exit' : 'exec',
        timeUs: 1_700_000_000_000_000 + i,
        pid: 1000 + i,
        ppid: 1,
        pstartUs: 1_700_000_000_000_000 + i * 2_000_000,
        uid: i,
        program: '/usr/bin/true',
        comm: 'true',
        domainId: dom,
        exitCode: i % 2 ? i % 256 : null,
        reconstructed,
        detail: `row ${i}`,
        parentComm: 'sh',
      });
    const first = Array.from({ length: 123 }, (_, i) => rec(i));
    assert.equal(store.write(first), 123);
    // A restart re-seeds a process already stored (same pid and start): skipped, in the middle of a batch.
    const again = { ...rec(4, true), pid: 1004, pstartUs: first[4]!.pstartUs, type: 'exec' as const };
    const second = [...Array.from({ length: 60 }, (_, i) => rec(200 + i)), again, rec(300)];
    assert.equal(store.write(second), 61);
    assert.equal(store.counts().exec + store.counts().exit, 184);
    for (const r of [...first, ...second.slice(0, 60), second[61]!]) {
      const got = store.get(r.id)!;
      assert.deepEqual([got.pid, got.uid, got.exit_code, got.detail, got.type], [r.pid, r.uid, r.exitCode, r.detail, r.type]);
    }
    assert.equal(store.get(again.id), null);
  });
});
