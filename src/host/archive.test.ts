import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Host, HostError } from './host.js';
import { tempDir } from '../common/testenv.js';

const SOS = fileURLToPath(new URL('../../test/data/check/sosreport', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));

/** Pack the sosreport fixture the way sos does: one top directory, compressed. */
function tarball(flag: string, ext: string): string {
  const dir = tempDir('lantern-sostar-');
  const out = join(dir, `sosreport-db01-2026-11-20-abcdef.${ext}`);
  const r = spawnSync('tar', [flag, '-f', out, '-C', join(SOS, '..'), '--transform', 's,^sosreport,sosreport-db01-2026-11-20-abcdef,', 'sosreport']);
  assert.equal(r.status, 0, r.stderr?.toString());
  return out;
}

test('a sosreport tarball (.tar.xz, .tar.gz) is unpacked and read like the directory', () => {
  const fromDir = Host.open({ root: SOS, requireSosreport: true });
  for (const [flag, ext] of [
    ['-cJ', 'tar.xz'],
    ['-cz', 'tar.gz'],
  ] as const) {
    const host = Host.open({ root: tarball(flag, ext), requireSosreport: true });
    assert.equal(host.kind, 'sosreport');
    assert.match(host.root, /lantern-sos-.*\/sosreport-db01-2026-11-20-abcdef$/);
    const a = host.readText('/proc/cmdline');
    const b = fromDir.readText('/proc/cmdline');
    assert.ok(a.ok && b.ok);
    assert.equal(a.text, b.text);
  }
});

test('lantern check --sosreport on a tarball gives the same findings as on the directory', () => {
  const run = (p: string) => {
    const r = spawnSync(process.execPath, [BIN, 'check', '--json', '--sosreport', p], { encoding: 'utf8' });
    assert.ok([0, 1, 2].includes(r.status!), r.stderr);
    return (JSON.parse(r.stdout) as { findings: { id: string; status: string }[] }).findings.map((f) => `${f.id}=${f.status}`);
  };
  assert.deepEqual(run(tarball('-cJ', 'tar.xz')), run(SOS));
});

test('a file that is not a sosreport tarball gets one clear error', () => {
  const dir = tempDir('lantern-notsos-');
  const txt = join(dir, 'notes.txt');
  writeFileSync(txt, 'hello');
  assert.throws(
    () => Host.open({ root: txt, requireSosreport: true }),
    (e: unknown) => e instanceof HostError && /not a sosreport directory or tarball/.test((e as Error).message),
  );
  const broken = join(dir, 'sosreport-broken.tar.xz');
  writeFileSync(broken, 'not really xz');
  assert.throws(() => Host.open({ root: broken, requireSosreport: true }), /cannot extract/);
  mkdirSync(join(dir, 'plain/etc'), { recursive: true });
  const plain = join(dir, 'plain.tar.gz');
  assert.equal(spawnSync('tar', ['-cz', '-f', plain, '-C', dir, 'plain']).status, 0);
  assert.throws(() => Host.open({ root: plain, requireSosreport: true }), /holds no sosreport/);
  const r = spawnSync(process.execPath, [BIN, 'check', '--sosreport', broken], { encoding: 'utf8' });
  assert.equal(r.status, 66);
  assert.match(r.stderr, /^lantern: .*sosreport-broken\.tar\.xz: cannot extract/);
});
