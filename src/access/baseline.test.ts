/**
 * baseline/diff of domains and access lists: a snapshot of a live host reads the record store's
 * lists (a real store file), and diff says "a new program runs under sshd" and "rsyslogd now
 * writes a file it never wrote before".
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../common/testenv.js';
import { Host } from '../host/host.js';
import { collectSnapshot } from '../baseline/collect.js';
import { diffAccess, diffSnapshots } from '../baseline/diff.js';
import { snapshotProblem, type Snapshot } from '../baseline/model.js';
import { renderDiff } from '../baseline/render.js';
import { Store } from '../record/store/store.js';
import { ensureAccessTables, writeAccess } from '../record/store/access.js';
import type { AccessEntry } from './lists.js';

const plain = {
  bold: (s: string) => s,
  red: (s: string) => s,
  green: (s: string) => s,
  yellow: (s: string) => s,
  magenta: (s: string) => s,
  dim: (s: string) => s,
  cyan: (s: string) => s,
  enabled: false,
};

function storeWith(path: string, lists: Record<string, string[]>): void {
  const s = Store.open(path);
  ensureAccessTables(s.db);
  const entries: AccessEntry[] = [];
  for (const [domain, lines] of Object.entries(lists)) {
    let id = s.root;
    for (const prog of domain.split(' ').slice(1)) id = s.intern(id, prog);
    for (const line of lines) entries.push({ domainId: id, line, errno: '', firstUs: 1, lastUs: 2, count: 1 });
    entries.push({ domainId: id, line: 'file read /etc/flaky', errno: 'ENOENT', firstUs: 1, lastUs: 1, count: 1 });
  }
  s.write([]);
  writeAccess(s.db, entries, []);
  s.close();
}

test("baseline: a live snapshot holds the store's domains and success lines; diff names new programs and new writes", { timeout: 120_000 }, () => {
  const dir = tempDir('lantern-access-baseline-');
  const before = join(dir, 'before.db');
  const after = join(dir, 'after.db');
  const rsyslog = '<kernel> /sbin/init /usr/sbin/rsyslogd';
  const sshd = '<kernel> /sbin/init /usr/sbin/sshd';
  storeWith(before, { [rsyslog]: ['file append /var/log/messages', 'file read /etc/rsyslog.conf'], [sshd]: ['file read /etc/ssh/sshd_config'] });
  storeWith(after, {
    [rsyslog]: ['file append /var/log/messages', 'file read /etc/rsyslog.conf', 'file write /var/log/secure'],
    [sshd]: ['file read /etc/ssh/sshd_config'],
    [`${sshd} /usr/bin/curl`]: ['file read /etc/hosts'],
  });
  const host = new Host();
  const a = collectSnapshot(host, { commands: false, accessStore: before });
  const b = collectSnapshot(host, { commands: false, accessStore: after });
  assert.equal(snapshotProblem(JSON.parse(JSON.stringify(a))), null);
  assert.equal(a.access?.status, 'ok');
  assert.deepEqual(a.access?.status === 'ok' && a.access.data.domains[rsyslog], ['file append /var/log/messages', 'file read /etc/rsyslog.conf'], 'failures are left out');
  const d = diffSnapshots(a, b);
  const notes = d.access!.changes.map((c) => `${c.op} ${c.note}`);
  assert.ok(notes.includes('+ a new program runs under /usr/sbin/sshd: /usr/bin/curl'), notes.join('\n'));
  assert.ok(notes.includes('+ /usr/sbin/rsyslogd now writes /var/log/secure, never seen before'), notes.join('\n'));
  assert.equal(d.access!.changes.length, 2);
  assert.ok(d.summary.differences >= 2);
  const text = renderDiff(d, plain as never);
  assert.match(text, /^domains and access lists \(2 added\)$/m);
  assert.match(text, /\+ <kernel> \/sbin\/init \/usr\/sbin\/rsyslogd: file write \/var\/log\/secure {2}\(\/usr\/sbin\/rsyslogd now writes/);
  const none = collectSnapshot(host, { commands: false, accessStore: join(dir, 'absent.db') });
  assert.equal(none.access, undefined, 'no store: no access section, not an empty one');
  assert.match(diffAccess(a, none)!.notCompared!, /current has no access lists/);
  assert.equal(diffAccess(none as Snapshot, none as Snapshot), undefined);
});
