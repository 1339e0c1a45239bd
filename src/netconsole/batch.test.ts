/** Batches: datagrams and sender ids on their way to the pipeline thread. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchBuilder, forEachDatagram } from './batch.js';

test('batches: datagrams and sender ids survive the trip to the pipeline thread', () => {
  const b = new BatchBuilder();
  const a = b.introduce('10.0.0.1', 6665);
  const c = b.introduce('::1', 7000);
  assert.equal(b.lookup('10.0.0.1', 6665), a);
  assert.ok(b.add(a, 1.5e15, Buffer.from('one\n')));
  assert.ok(b.add(c, 1.5e15 + 1, Buffer.alloc(0)));
  assert.ok(b.add(a, 1.5e15 + 2, Buffer.from('two\n')));
  const t = b.take(false);
  const got: Array<[number, number, string]> = [];
  forEachDatagram(Buffer.from(t.buf), (id, time, p) => got.push([id, time, p.toString()]));
  assert.deepEqual(got, [
    [a, 1.5e15, 'one\n'],
    [c, 1.5e15 + 1, ''],
    [a, 1.5e15 + 2, 'two\n'],
  ]);
  assert.deepEqual(
    t.intros.map((i) => i.address),
    ['10.0.0.1', '::1'],
  );
});
