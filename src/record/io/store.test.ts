/** io records in a real store: the io_exit rows, top-io's sums, retention taking both. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from '../../common/testenv.js';
import { newRecord, type ProcessRecord } from '../process/model.js';
import { Store } from '../store/store.js';

function ioRecord(store: Store, over: Partial<ProcessRecord> & { io?: ProcessRecord['io'] }): ProcessRecord {
  return newRecord({
    id: store.nextId(),
    type: 'io',
    timeUs: 1_800_000_000_000_000,
    pid: 10,
    tid: 10,
    ppid: 1,
    pstartUs: 1_799_000_000_000_000,
    uid: 0,
    program: '/usr/bin/app',
    comm: 'app',
    domainId: store.root,
    detail: 'read_bytes=1 …',
    io: { readBytes: 100, writeBytes: 1000, cancelledWriteBytes: 10, readChars: 5, writeChars: 6 },
    ...over,
  });
}

test('io_exit rows go with their records (also 50 at a time), sums per program and domain, retention deletes both', () => {
  const dir = tempDir('lantern-io-store-');
  const store = Store.open(join(dir, 'r.db'));
  try {
    const d = store.intern(store.root, '/usr/bin/app');
    const many = Array.from({ length: 120 }, (_, i) => ioRecord(store, { tid: 1000 + i, domainId: d }));
    const other = ioRecord(store, { pid: 20, tid: 20, program: null, comm: 'kworker', io: { readBytes: 7, writeBytes: 0, cancelledWriteBytes: 0, readChars: 0, writeChars: 0 } });
    // A record of another type carrying io (a rule record copies the record it fired on) gets no io row.
    const rule = ioRecord(store, { type: 'rule' });
    assert.equal(store.write([...many, other, rule]), 122);
    assert.deepEqual(store.ioOf(many[119]!.id), { read_bytes: 100, write_bytes: 1000, cancelled_write_bytes: 10, read_chars: 5, write_chars: 6 });
    assert.equal(store.ioOf(rule.id), null);
    const byProgram = store.ioTotals({ by: 'program' }).sort((a, b) => (String(a.key) < String(b.key) ? -1 : 1));
    assert.deepEqual(byProgram, [
      { key: '/usr/bin/app', processes: 1, threads: 120, read_bytes: 12000, write_bytes: 120000, cancelled_write_bytes: 1200 },
      { key: '[kworker]', processes: 1, threads: 1, read_bytes: 7, write_bytes: 0, cancelled_write_bytes: 0 },
    ]);
    const byDomain = store.ioTotals({ by: 'domain' });
    assert.deepEqual(byDomain.map((r) => [store.name(Number(r.key)), r.threads]).sort(), [
      ['<kernel> /usr/bin/app', 120],
      ['<kernel>', 1],
    ]);
    assert.deepEqual(store.ioTotals({ by: 'program', sinceUs: 1_900_000_000_000_000 }), []);
    assert.equal(store.retain({ maxAgeUs: 1, nowUs: 1_800_000_000_000_002 }), 122);
    assert.equal((store.db.prepare('SELECT count(*) AS n FROM io_exit').get() as { n: number }).n, 0);
  } finally {
    store.close();
  }
});
