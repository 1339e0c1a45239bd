/** Waivers and profiles through the real CLI: fixtures, the live host, exit codes, --json, text, --fix-script. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFixture, fixture, put, tempDir } from './testkit.js';
import { CHECKS } from './checks/index.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const FLEET = fixture('waivers/fleet.toml');

function lantern(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Doc {
  profile: string;
  summary: { exitCode: number; verdict: string; counts: Record<string, number>; total: number };
  waivers: { match: string; state: string; where: string; findings: string[] }[];
  findings: { id: string; status: string; checkStatus: string; summary: string; waiver?: Record<string, unknown> }[];
}

function json(...args: string[]): { code: number | null; doc: Doc; err: string } {
  const r = lantern('check', '--json', ...args);
  return { code: r.code, doc: JSON.parse(r.out) as Doc, err: r.err };
}

const byId = (d: Doc, id: string) => d.findings.find((f) => f.id === id)!;

/** The human table as rows: a wrapped finding's continuation lines joined back into one text. */
function tableRows(out: string): { status: string; id: string; text: string }[] {
  const rows: { status: string; id: string; text: string }[] = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('│')) continue;
    const [, status, id, text] = line.split('│').map((c) => c.trim());
    if (status === 'status') continue;
    if (status) rows.push({ status: status!, id: id!, text: text! });
    else rows.at(-1)!.text += ' ' + text;
  }
  return rows;
}

test('--waive on a fixture: waived findings are shown, carry the waiver, and leave the exit code', () => {
  // rhel9 has two warnings (kdump.reserved, sysrq.mask): both waived, nothing is left.
  const r = json('--root', fixture('rhel9'), '--waive', 'kdump.reserved=256 MiB proven by a test crash', '--waive', 'sysrq');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.doc.summary.exitCode, 0);
  assert.equal(r.doc.summary.verdict, 'info');
  assert.equal(r.doc.summary.counts.waived, 2);
  assert.equal(r.doc.summary.total, CHECKS.length);
  const k = byId(r.doc, 'kdump.reserved');
  assert.equal(k.status, 'waived');
  assert.equal(k.checkStatus, 'warn');
  assert.match(k.summary, /256 MiB reserved, below the 288 MiB recommended/, 'still evaluated');
  assert.deepEqual(k.waiver, { match: 'kdump.reserved', reason: '256 MiB proven by a test crash', by: null, where: '--waive', expires: null, state: 'applied', waivedStatus: 'warn' });
  assert.equal(byId(r.doc, 'sysrq.persisted').status, 'ok', 'a group waiver leaves ok findings alone');
  assert.deepEqual(
    r.doc.waivers.map((w) => [w.match, w.state, w.findings]),
    [
      ['kdump.reserved', 'applied', ['kdump.reserved']],
      ['sysrq', 'applied', ['sysrq.mask']],
    ],
  );
  // Without waivers the same tree says warn.
  assert.equal(lantern('check', '--root', fixture('rhel9')).code, 1);
});

test('waiver file: applied, expired (reported, not applied) and unknown id (reported); text output says who and where', () => {
  const r = json('--root', fixture('rhel9'), '--waivers', FLEET);
  assert.equal(r.code, 1, 'the waivers finding is a warn');
  assert.equal(byId(r.doc, 'sysrq.mask').status, 'waived');
  assert.equal(byId(r.doc, 'sysrq.mask').waiver!.where, `${FLEET}:4`);
  assert.equal(byId(r.doc, 'kdump.reserved').waiver!.expires, '2099-12-31');
  const p = byId(r.doc, 'waivers');
  assert.equal(p.status, 'warn');
  assert.match(p.summary, /2 waivers to review: audit expired 2020-01-31 \(.*fleet\.toml:16\); kdmup\.service names no check \(.*fleet\.toml:23\)/);
  assert.deepEqual(
    r.doc.waivers.map((w) => w.state),
    ['applied', 'applied', 'expired', 'unknown-id'],
  );
  assert.equal(r.doc.summary.total, CHECKS.length + 1, 'every check and the waivers finding');

  const t = lantern('check', '--root', fixture('rhel9'), '--waivers', FLEET);
  assert.equal(t.code, 1);
  const rows = tableRows(t.out);
  assert.deepEqual(
    rows.slice(0, 3).map((x) => x.status),
    ['WARN', 'WAIVED', 'WAIVED'],
    'waived right after the open problems',
  );
  const text = (id: string) => rows.find((x) => x.id === id)!.text;
  assert.match(text('sysrq.mask'), /— waived, was warn by secops@example\.com \(.*fleet\.toml:4\): CIS 1\.5\.x policy/);
  assert.match(text('kdump.reserved'), /— waived, was warn by j\.doe until 2099-12-31 \(/);
  assert.match(t.out, /lantern check: 0 fail, 1 warn, 2 waived, 0 unknown, 3 info, 16 ok — tree /);
  assert.doesNotMatch(t.out, /What to change:\n(.*\n)*\s+sysrq\.mask:/, 'no remedy for a waived finding');

  // An expired waiver hides nothing: debian12 has no auditd, the warning stays and shows the expired waiver.
  const rhel6 = json('--root', fixture('rhel6'), '--waivers', FLEET, '--only', 'audit');
  assert.equal(byId(rhel6.doc, 'audit').status, 'ok');
  const deb = json('--root', fixture('debian12'), '--waivers', FLEET, '--only', 'audit');
  const a = byId(deb.doc, 'audit');
  assert.equal(a.status, 'warn');
  assert.equal((a.waiver as { state: string }).state, 'expired');
});

test('default waiver file /etc/lantern/check-waivers.toml is read through the Host; --waivers replaces it; --no-waivers ignores it', () => {
  const tree = copyFixture('rhel9');
  mkdirSync(join(tree, 'etc/lantern'), { recursive: true });
  put(tree, '/etc/lantern/check-waivers.toml', '[[waiver]]\nid = "sysrq.mask"\nreason = "CIS policy"\n\n[[waiver]]\nid = "kdump.reserved"\nreason = "proven"\n');
  const r = json('--root', tree);
  assert.equal(r.code, 0, r.err);
  assert.equal(byId(r.doc, 'sysrq.mask').waiver!.where, `${join(tree, 'etc/lantern/check-waivers.toml')}:1`);
  assert.equal(json('--root', tree, '--no-waivers').code, 1);
  assert.equal(json('--root', tree, '--no-waivers', '--waive', 'sysrq.mask', '--waive', 'kdump.reserved').code, 0, '--waive still applies');
  const other = tempDir('lantern-waivers-');
  copyFileSync(FLEET, join(other, 'w.toml'));
  const replaced = json('--root', tree, '--waivers', join(other, 'w.toml'));
  assert.ok(
    replaced.doc.waivers.every((w) => w.where.startsWith(join(other, 'w.toml'))),
    'only the given file is read',
  );
  // A default file that is there but unreadable (a directory here) is an error, not "no waivers".
  const dir = copyFixture('rhel9');
  mkdirSync(join(dir, 'etc/lantern/check-waivers.toml'), { recursive: true });
  const e = lantern('check', '--root', dir);
  assert.equal(e.code, 66);
  assert.match(e.err, /^lantern: waiver file \/etc\/lantern\/check-waivers\.toml: /);
});

test('bad waiver input: malformed TOML and schema errors exit 65, a missing file 66, a bad --waive or --profile 64', () => {
  for (const [name, re] of [
    ['malformed.toml', /malformed\.toml:3:\d+: not valid TOML/],
    ['no-reason.toml', /no-reason\.toml:5: reason is required/],
    ['bad-expiry.toml', /bad-expiry\.toml:1: expires "next year" is not a date/],
    ['typo-key.toml', /typo-key\.toml:1: unknown key "expiry"/],
  ] as const) {
    const r = lantern('check', '--root', fixture('rhel9'), '--waivers', fixture(`waivers/${name}`));
    assert.equal(r.code, 65, name);
    assert.equal(r.out, '', 'no report from a half-read waiver file');
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.match(r.err, re);
  }
  const missing = lantern('check', '--root', fixture('rhel9'), '--waivers', '/nonexistent/waivers.toml');
  assert.equal(missing.code, 66);
  assert.match(missing.err, /waiver file \/nonexistent\/waivers\.toml: does not exist/);
  assert.equal(lantern('check', '--root', fixture('rhel9'), '--waive', 'Bad Id').code, 64);
  assert.equal(lantern('check', '--root', fixture('rhel9'), '--waive', '=because').code, 64);
  const p = lantern('check', '--root', fixture('rhel9'), '--profile', 'paranoid');
  assert.equal(p.code, 64);
  assert.match(p.err, /Allowed choices are minimal, standard, strict/);
});

test('--profile: strict makes warnings failures, minimal keeps failures only for kdump, sysrq, console, hung', () => {
  const std = json('--root', fixture('debian12'));
  assert.equal(std.code, 1);
  assert.equal(std.doc.profile, 'standard');
  const strict = json('--root', fixture('debian12'), '--profile', 'strict');
  assert.equal(strict.code, 2);
  assert.equal(strict.doc.profile, 'strict');
  for (const id of ['sysstat', 'audit', 'console.capture']) {
    assert.equal(byId(strict.doc, id).status, 'fail', id);
    assert.equal(byId(strict.doc, id).checkStatus, 'warn', id);
  }
  const rhel6 = json('--root', fixture('rhel6'), '--profile', 'strict');
  assert.equal(byId(rhel6.doc, 'printk.time').status, 'fail');
  const t = lantern('check', '--root', fixture('debian12'), '--profile', 'strict', '--only', 'sysstat');
  assert.equal(tableRows(t.out)[0]!.text, 'sysstat is installed but not collecting: /etc/default/sysstat ENABLED is not "true" [profile strict: warn → fail]');
  assert.match(t.out, /lantern check: 1 fail, 0 warn, .*; profile strict\n/);
  // rhel6 fails only on uptime.bugs, which minimal does not count as a failure.
  assert.equal(lantern('check', '--root', fixture('rhel6')).code, 2);
  const min = json('--root', fixture('rhel6'), '--profile', 'minimal');
  assert.equal(min.code, 1);
  assert.equal(byId(min.doc, 'uptime.bugs').status, 'warn');
  assert.equal(byId(min.doc, 'uptime.bugs').checkStatus, 'fail');
  // Strict plus waivers: both warnings of rhel9 become failures, and both are waived.
  const sw = json('--root', fixture('rhel9'), '--profile', 'strict', '--waive', 'kdump.reserved', '--waive', 'sysrq.mask=CIS');
  assert.equal(sw.code, 0);
  assert.equal(byId(sw.doc, 'sysrq.mask').waiver!.waivedStatus, 'fail');
});

test('--fix-script leaves waived remedies out with a comment', () => {
  const r = lantern('check', '--root', fixture('rhel6'), '--fix-script', '--waive', 'sysrq.mask=CIS policy: sysrq stays 0', '--waive', 'uptime.bugs');
  assert.equal(r.code, 1);
  const syntax = spawnSync('sh', ['-n'], { input: r.out, encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
  assert.ok(!r.out.includes('kernel.sysrq = 1'), 'the waived sysctl change is not in the script');
  assert.ok(!r.out.includes('yum update -y kernel'));
  assert.match(r.out, /^# --- sysrq\.mask \(waived warn\): kernel\.sysrq=0 \(disabled\)/m);
  assert.match(r.out, /^# waived \(--waive\): CIS policy: sysrq stays 0$/m);
  assert.match(r.out, /^# \(remedy left out: this finding is waived\)$/m);
  assert.match(r.out, /, 2 waived \(left out\)"$/m);
  const active = r.out.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.ok(active.includes('grubby --update-kernel=ALL --remove-args="quiet rhgb"'), 'unwaived remedies stay');
});

test('live host: waiving every open finding exits 0; strict never exits lower than standard', () => {
  const base = json();
  assert.ok([0, 1, 2].includes(base.code!), base.err);
  // Every check is waived, not only those open in the first run: a live host changes between two
  // runs (a thread count, a process exempt from the OOM killer while another test runs).
  const open = base.doc.findings.map((f) => f.id);
  const args = open.flatMap((id) => ['--waive', `${id}=accepted for the test`]);
  const w = json(...args);
  assert.equal(w.code, 0, w.err);
  const waived = w.doc.findings.filter((f) => f.status === 'waived');
  assert.equal(w.doc.summary.counts.waived, waived.length);
  for (const f of waived) assert.ok(f.waiver?.waivedStatus === 'warn' || f.waiver?.waivedStatus === 'fail', f.id);
  assert.ok(!w.doc.findings.some((f) => f.status === 'warn' || f.status === 'fail'));
  assert.equal(w.doc.findings.length, CHECKS.length);
  const strict = json('--profile', 'strict');
  assert.ok(strict.code! >= base.code!);
  const minimal = json('--profile', 'minimal');
  assert.ok(minimal.code! <= base.code!);
  // A waiver file on this machine (not under /etc: tests leave the host alone) applies the same way.
  const dir = tempDir('lantern-live-waivers-');
  const file = join(dir, 'w.toml');
  const text = open.map((id) => `[[waiver]]\nid = "${id}"\nreason = "accepted for the test"\nexpires = 2099-01-01\n`).join('\n');
  writeFileSync(file, text);
  assert.equal(json('--waivers', file).code, 0);
});
