/** io records in a real store: the io_exit rows, top-io's sums, retention taking both. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from '../../common/testenv.js';
import { newRecord, type ProcessRecord } from '../process/model.js';
import { Store } from '../store/store.js';
import { ioDetail } from './core.js';

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

test('an io record stored without its detail reads back with the text ioDetail makes of its numbers (query, iterate, get); a stored detail is kept', () => {
  const dir = tempDir('lantern-io-store-');
  const store = Store.open(join(dir, 'r.db'));
  try {
    const io = { readBytes: 2 ** 40, writeBytes: 4096, cancelledWriteBytes: 0, readChars: 9_007_199_254_740_991, writeChars: 12 };
    const bare = ioRecord(store, { detail: null, io });
    const told = ioRecord(store, { detail: 'read_bytes=1 (as written)' });
    const exit = ioRecord(store, { type: 'exit', detail: null, io: undefined });
    assert.equal(store.write([bare, told, exit]), 3);
    const want = ioDetail(io);
    assert.equal(want, 'read_bytes=1099511627776 write_bytes=4096 cancelled_write_bytes=0 rchar=9007199254740991 wchar=12');
    assert.deepEqual(
      store.query({}).map((e) => e.detail),
      [want, 'read_bytes=1 (as written)', null],
    );
    assert.deepEqual(
      [...store.iterate({ types: ['io'] })].map((e) => e.detail),
      [want, 'read_bytes=1 (as written)'],
    );
    assert.equal(store.get(bare.id)!.detail, want);
    // Every column, in the table's order (what SELECT * gives): the JSON and text of a query keep their shape.
    const cols = (store.db.prepare('SELECT * FROM events LIMIT 1').columns() as Array<{ name: string }>).map((c) => c.name);
    assert.deepEqual(Object.keys(store.get(bare.id)!), cols);
  } finally {
    store.close();
  }
});

test('a store without io_exit (from before the I/O detector) is still read', () => {
  const dir = tempDir('lantern-io-store-');
  const path = join(dir, 'r.db');
  const store = Store.open(path);
  const exit = ioRecord(store, { type: 'exit', detail: 'gone', io: undefined });
  store.write([exit]);
  store.db.exec('DROP TABLE io_exit');
  store.close();
  const ro = Store.open(path, { readonly: true });
  try {
    assert.deepEqual(
      ro.query({}).map((e) => [e.type, e.detail]),
      [['exit', 'gone']],
    );
    assert.equal(ro.ioOf(exit.id), null);
  } finally {
    ro.close();
  }
});
