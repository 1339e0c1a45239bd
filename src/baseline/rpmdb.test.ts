/**
 * Packages of a copied RHEL tree: real RPM databases made by rpm itself (rpm --initdb, then
 * rpm -i --justdb of an empty package built by rpmbuild from test/data/baseline/rpm), read with
 * `rpm --dbpath` on a private copy so the tree is never written.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { skipUnlessCI } from '../common/testenv.js';
import { Host } from '../host/host.js';
import { collectSnapshot, RPM_QA, rpmDbQuery, rpmTreeSection } from './collect.js';
import { diffSnapshots } from './diff.js';
import type { Snapshot } from './model.js';
import { BIN, copyFixture, DATA, link, put, snap, tmpDir } from './testkit.js';

function have(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const RPM_MISSING = !have('rpm') || !have('rpmbuild') ? 'rpm/rpmbuild not installed (CI installs the rpm package from .ci/packages)' : null;

let built: Record<string, string> | null = null;
/** Build lantern-fixture 2:1.0-1.el9 and 2:1.1-1.el9 once (an empty noarch package: ~0.2 s each). */
function packages(): Record<string, string> {
  if (built) return built;
  const top = tmpDir('rpmbuild');
  built = {};
  for (const ver of ['1.0', '1.1']) {
    execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `fixver ${ver}`, '--define', `_topdir ${top}`, '--define', `_rpmdir ${join(top, 'out')}`, join(DATA, 'rpm/lantern-fixture.spec')], {
      stdio: 'ignore',
    });
    built[ver] = join(top, 'out', 'noarch', `lantern-fixture-${ver}-1.el9.noarch.rpm`);
  }
  return built;
}

/** A copy of the rhel9 tree with a real RPM database where RHEL 9 keeps it (/var/lib/rpm a link to it). */
function rhel9WithRpms(versions: string[]): string {
  const t = copyFixture('rhel9');
  const db = join(t, 'usr/lib/sysimage/rpm');
  mkdirSync(db, { recursive: true });
  link(t, '/var/lib/rpm', '../../usr/lib/sysimage/rpm');
  execFileSync('rpm', ['--initdb', '--dbpath', db], { stdio: 'ignore' });
  // Two versions of one name side by side, as install-only packages (kernels) are.
  for (const v of versions) execFileSync('rpm', ['-i', '--justdb', '--nodeps', '--dbpath', db, packages()[v]!], { stdio: 'ignore' });
  return t;
}

function withRpm(root: string): Snapshot {
  return collectSnapshot(Host.open({ root }), { commands: true, version: 'test', now: new Date('2026-01-01T00:00:00Z') });
}

/** name -> size and mtime of every file in a directory: proof that nothing was written there. */
function listing(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, `${statSync(join(dir, f)).size} ${statSync(join(dir, f)).mtimeMs}`]));
}

test('copied RHEL 9 tree: rpm --dbpath on a private copy lists the packages; the tree is not written', (t) => {
  if (RPM_MISSING) return skipUnlessCI(t, RPM_MISSING);
  const tree = rhel9WithRpms(['1.0']);
  const db = join(tree, 'usr/lib/sysimage/rpm');
  const before = listing(db);
  const s = withRpm(tree);
  const p = s.sections.packages;
  assert.equal(p.status, 'ok', JSON.stringify(p));
  if (p.status !== 'ok') return;
  assert.equal(p.data.format, 'rpm');
  assert.deepEqual(p.data.installed, { 'lantern-fixture': ['2:1.0-1.el9'] });
  assert.match(p.sources[0]!, /usr\/lib\/sysimage\/rpm \(private copy read by: rpm --dbpath <copy> -qa --qf/);
  assert.deepEqual(listing(db), before, 'rpm wrote into the tree');
  // Both versions of an install-only style package are kept.
  const two = withRpm(rhel9WithRpms(['1.0', '1.1'])).sections.packages;
  assert.deepEqual(two.status === 'ok' && two.data.installed['lantern-fixture'], ['2:1.0-1.el9', '2:1.1-1.el9']);
});

test('lantern diff --root: a package upgraded in a copied RHEL tree', (t) => {
  if (RPM_MISSING) return skipUnlessCI(t, RPM_MISSING);
  const dir = tmpDir('rpmdiff');
  const base = join(dir, 'base.json');
  const old = rhel9WithRpms(['1.0']);
  const now = rhel9WithRpms(['1.1']);
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const saved = run('baseline', 'save', '--root', old, '--out', base);
  assert.equal(saved.status, 0, saved.stderr);
  assert.deepEqual(JSON.parse(readFileSync(base, 'utf8')).sections.packages.data.installed, { 'lantern-fixture': ['2:1.0-1.el9'] });
  const d = run('diff', base, '--root', now);
  assert.equal(d.status, 1, d.stdout + d.stderr);
  assert.match(d.stdout, /^packages \(1 changed\)\n {2}~ lantern-fixture: 2:1\.0-1\.el9 → 2:1\.1-1\.el9 {2}\(upgraded\)$/m);
  const back = diffSnapshots(withRpm(now), withRpm(old)).sections.find((x) => x.section === 'packages')!;
  assert.equal(back.changes[0]?.note, 'downgraded');
});

test("a damaged RPM database: unknown with rpm's own error, the other sections still read", (t) => {
  if (RPM_MISSING) return skipUnlessCI(t, RPM_MISSING);
  const tree = copyFixture('rhel9');
  // A BDB "Packages" file (RHEL <= 8) that is not a database.
  put(tree, '/var/lib/rpm/Packages', 'this is not a berkeley db\n'.repeat(400));
  const s = withRpm(tree);
  const p = s.sections.packages;
  assert.equal(p.status, 'unknown');
  assert.match(p.status === 'unknown' ? p.reason : '', /^rpm could not read the RPM database in .*\/var\/lib\/rpm: exit status 1: error: /);
  assert.equal(s.sections.kernel.status, 'ok');
});

test('RPM database directory without a database, rpm missing, --no-commands: unknown with the reason; rpm never run on the tree', () => {
  const tree = copyFixture('rhel9');
  mkdirSync(join(tree, 'var/lib/rpm'), { recursive: true });
  writeFileSync(join(tree, 'var/lib/rpm/.rpm.lock'), '');
  const empty = withRpm(tree).sections.packages;
  assert.match(empty.status === 'unknown' ? empty.reason : '', /RPM database directory without a database file \(rpmdb\.sqlite, Packages, Packages\.db\)/);
  // rpm on an empty directory would have created a database there.
  assert.deepEqual(readdirSync(join(tree, 'var/lib/rpm')), ['.rpm.lock']);
  put(tree, '/var/lib/rpm/rpmdb.sqlite', 'x');
  const missing = rpmTreeSection(Host.open({ root: tree }), [], [], '/nonexistent/lantern-test/rpm');
  assert.match(missing.status === 'unknown' ? missing.reason : '', /: \/nonexistent\/lantern-test\/rpm not installed$/);
  const off = snap(tree).sections.packages;
  assert.match(off.status === 'unknown' ? off.reason : '', /rpm not run \(--no-commands\)/);
});

test('the rpm argv is fixed: the query flags, and a --dbpath that is our private copy', () => {
  assert.deepEqual(rpmDbQuery('/tmp/lantern-rpmdb-X'), ['--dbpath', '/tmp/lantern-rpmdb-X', '-qa', '--qf', '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n']);
  assert.deepEqual(RPM_QA.slice(1), rpmDbQuery('x').slice(2));
});
