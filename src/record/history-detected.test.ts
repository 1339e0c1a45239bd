/** `lantern history pid N` shows what the detectors recorded of the process (disk I/O at exit, slow stat(), slow block I/O) with its history. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { tempDir } from '../common/testenv.js';
import { newRecord, type ProcessRecord } from './process/model.js';
import { Store } from './store/store.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));

test('history pid lists io, slow_stat and slow_io records beside the exec and exit', () => {
  const dir = tempDir('lantern-history-detected-');
  const db = join(dir, 'r.db');
  const store = Store.open(db);
  const now = Date.now() * 1000;
  const domain = store.intern(store.root, '/usr/bin/java');
  const rec = (type: ProcessRecord['type'], i: number, detail: string | null = null): ProcessRecord =>
    newRecord({
      id: store.nextId(),
      type,
      timeUs: now + i,
      pid: 4242,
      tid: 4242 + (type === 'slow_io' ? 1 : 0),
      ppid: 1,
      pstartUs: now,
      uid: 0,
      program: '/usr/bin/java',
      comm: 'java',
      domainId: domain,
      exitCode: type === 'exit' ? 0 : null,
      detail,
      parentComm: 'init',
    });
  store.write([
    rec('exec', 0),
    rec('slow_stat', 1, 'statx /mnt/nfs/x 1.20 s ret 0'),
    rec('slow_io', 2, 'vda 252:0 W 4096 bytes 2.10 s'),
    rec('io', 3, 'read 0 B, write 8.0 MiB, cancelled 0 B'),
    rec('exit', 4),
  ]);
  store.close();
  const text = spawnSync(process.execPath, [BIN, 'history', 'pid', '4242', '--store', db], { encoding: 'utf8' });
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^ {2}slow_stat +\S+ tid 4242 \(java\): statx \/mnt\/nfs\/x 1\.20 s ret 0$/m);
  assert.match(text.stdout, /^ {2}slow_io +\S+ tid 4243 \(java\): vda 252:0 W 4096 bytes 2\.10 s$/m);
  assert.match(text.stdout, /^ {2}io +\S+ tid 4242 \(java\): read 0 B, write 8\.0 MiB, cancelled 0 B$/m);
  const json = spawnSync(process.execPath, [BIN, 'history', 'pid', '4242', '--store', db, '--json'], { encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { processes?: { detected: { type: string }[] }[] } | { detected: { type: string }[] }[];
  const views = Array.isArray(doc) ? doc : (doc.processes ?? []);
  assert.deepEqual(
    views[0]!.detected.map((d) => d.type),
    ['slow_stat', 'slow_io', 'io'],
  );
});
