/** The hung-task evidence in the store (schema version 2), and the [hung] configuration. No root needed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION, Store } from '../store/store.js';
import { hungKmsgLines } from '../query.js';
import { hungOptions } from '../cli.js';
import { CliError, EXIT } from '../../common/exit.js';
import { newRecord, type ProcessRecord } from '../process/model.js';
import { tempDir } from '../live.testutil.js';

function hungRecord(store: Store, timeUs: number): ProcessRecord {
  return newRecord({
    id: store.nextId(),
    type: 'hung',
    timeUs,
    pid: 42,
    tid: 43,
    ppid: 1,
    pstartUs: 1,
    uid: 0,
    program: '/usr/bin/sh',
    comm: 'sh',
    domainId: store.root,
    detail: 'blocked for more than 2 s (kmsg seq 7); incident',
  });
}

test('evidence is stored beside its hung record, read back in dmesg format, and retained with it', () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = Store.open(join(dir, 'r.db'));
    const old = hungRecord(store, 1_000_000);
    const now = hungRecord(store, Date.now() * 1000);
    store.write([old, now]);
    for (const r of [old, now]) {
      store.writeHungEvidence({
        eventId: r.id,
        incident: r.id,
        snapshot: { dTasks: [{ tid: 43 }] },
        kmsg: [{ seq: 7, tsUs: 3949661955, level: 3, facility: 0, text: 'INFO: task sh:43 blocked for more than 2 seconds.' }],
      });
    }
    const got = store.query({ types: ['hung'] });
    assert.equal(got.length, 2);
    assert.deepEqual(hungKmsgLines(store, got[1]!), ['[ 3949.661955] INFO: task sh:43 blocked for more than 2 seconds.']);
    assert.deepEqual((store.hungEvidence(now.id)!.snapshot as { dTasks: unknown[] }).dTasks, [{ tid: 43 }]);
    assert.equal(store.retain({ maxAgeUs: 86_400e6 }), 1);
    assert.equal(store.hungEvidence(old.id), null, 'evidence of a deleted record goes with it');
    assert.ok(store.hungEvidence(now.id));
    store.close();
    const db = new Database(join(dir, 'r.db'), { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db.close();
  } finally {
    cleanup();
  }
});

test('a version-1 store (no evidence tables) reads as "no evidence", and a writer migrates it', () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'v1.db');
    const s = Store.open(path);
    const r = hungRecord(s, Date.now() * 1000);
    s.write([r]);
    s.close();
    const db = new Database(path);
    db.exec('DROP TABLE hung_evidence; DROP TABLE kmsg; PRAGMA user_version = 0');
    db.close();
    const ro = Store.open(path, { readonly: true });
    assert.equal(ro.hungEvidence(r.id), null);
    assert.deepEqual(hungKmsgLines(ro, ro.get(r.id)!), []);
    ro.close();
    const w = Store.open(path);
    w.writeHungEvidence({ eventId: r.id, incident: r.id, snapshot: null, kmsg: [] });
    assert.ok(w.hungEvidence(r.id));
    w.close();
  } finally {
    cleanup();
  }
});

test('[hung] configuration: defaults, flags over the file, clear errors', () => {
  const d = hungOptions(undefined, {})!;
  assert.deepEqual([d.source, d.sysrq, d.minIntervalMs, d.timeoutSecs, d.captureMs], ['auto', ['w', 't'], 300_000, null, 3000]);
  const c = hungOptions({ source: 'kmsg', timeout: 10, min_interval: '30s', sysrq: ['t', 'm'], capture_secs: 5, warnings: 50 }, { hungTimeout: 20 })!;
  assert.deepEqual([c.source, c.timeoutSecs, c.minIntervalMs, c.sysrq, c.captureMs, c.warnings], ['kmsg', 20, 30_000, ['t', 'm'], 5000, 50]);
  assert.equal(hungOptions({ enabled: false }, {}), null);
  assert.equal(hungOptions({}, { hung: false }), null);
  const err = (f: () => unknown, code: number, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof CliError && e.exitCode === code && re.test(e.message));
  err(() => hungOptions({ sysrq: ['b'] }, {}), EXIT.DATAERR, /\[hung\] sysrq must be one of t, w/);
  err(() => hungOptions({ min_interval: 'often' }, {}), EXIT.DATAERR, /min_interval/);
  err(() => hungOptions({ timout: 3 }, {}), EXIT.DATAERR, /unknown key \[hung\] timout/);
  err(() => hungOptions({ timeout: 0 }, {}), EXIT.DATAERR, /\[hung\] timeout must be an integer from 1/);
  err(() => hungOptions({}, { hungSource: 'dmesg' }), EXIT.USAGE, /bad hung source "dmesg"/);
});
