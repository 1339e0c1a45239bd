/** Profiles and waivers: the pure rules (policy.ts) and the waiver parser (waivers.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { CHECKS } from './checks/index.js';
import { exitCodeForFindings, type Finding, STATUS_RANK, type Status } from './model.js';
import { applyPolicy, PROFILES, profileStatus, WAIVERS_FINDING_ID } from './policy.js';
import { fixture } from './testkit.js';
import { parseWaiveArg, parseWaiverFile, type Waiver, WaiverFileError } from './waivers.js';

const IDS = CHECKS.map((c) => c.id);
const CHECK_STATUSES: Status[] = ['ok', 'info', 'warn', 'fail', 'unknown'];
const NOW = new Date('2026-11-26T12:00:00Z');

function f(id: string, status: Status): Finding {
  return { id, title: id, status, summary: `${id} is ${status}`, evidence: [], why: '', remedy: null };
}

function w(match: string, extra: Partial<Waiver> = {}): Waiver {
  return { match, reason: 'accepted', by: null, expires: null, expiresAt: null, where: '--waive', fromFile: false, ...extra };
}

test('profiles: minimal <= standard <= strict for every check and status; ok/info/unknown never change', () => {
  fc.assert(
    fc.property(fc.constantFrom(...IDS), fc.constantFrom(...CHECK_STATUSES), (id, s) => {
      const [min, std, strict] = PROFILES.map((p) => profileStatus(p, id, s));
      assert.equal(std, s, 'standard is the check’s own judgement');
      assert.ok(STATUS_RANK[min!] <= STATUS_RANK[std!] && STATUS_RANK[std!] <= STATUS_RANK[strict!]);
      if (s === 'ok' || s === 'info' || s === 'unknown') assert.ok(min === s && strict === s);
    }),
  );
});

test('profiles: the table in docs/check.md', () => {
  for (const id of ['sysstat', 'audit', 'printk.time', 'oom.exempt', 'kdump.reserved']) assert.equal(profileStatus('strict', id, 'warn'), 'fail', id);
  for (const id of ['kdump.service', 'kdump.crashkernel', 'kdump.reserved', 'kdump.target', 'sysrq.mask', 'sysrq.persisted', 'console.capture', 'hung.timeout', 'hung.warnings', 'hung.panic'])
    assert.equal(profileStatus('minimal', id, 'fail'), 'fail', id);
  for (const id of ['uptime.bugs', 'vfs.cache-pressure', 'sysstat', 'audit', 'printk.time', 'boot.quiet', 'oom.panic']) assert.equal(profileStatus('minimal', id, 'fail'), 'warn', id);
  // A group prefix is a whole id component: "console" alone is not console.capture's sibling "consoles".
  assert.equal(profileStatus('minimal', 'hungry.x', 'fail'), 'warn');
});

test('a waived warn/fail keeps its evaluation, gets status waived and leaves the exit code', () => {
  const findings = [f('kdump.service', 'fail'), f('kdump.target', 'fail'), f('sysrq.mask', 'warn'), f('audit', 'ok')];
  const r = applyPolicy(findings, 'standard', [w('kdump', { reason: 'small VM', by: 'ops' }), w('audit')], IDS, NOW);
  assert.deepEqual(
    r.findings.map((x) => x.status),
    ['waived', 'waived', 'warn', 'ok'],
  );
  const k = r.findings[0]!;
  assert.equal(k.checkStatus, 'fail');
  assert.equal(k.summary, 'kdump.service is fail', 'still evaluated and shown');
  assert.deepEqual(k.waiver, { match: 'kdump', reason: 'small VM', by: 'ops', where: '--waive', expires: null, state: 'applied', waivedStatus: 'fail' });
  assert.equal(exitCodeForFindings(r.findings), 1);
  assert.deepEqual(
    r.waivers.map((x) => [x.match, x.state, x.findings]),
    [
      ['kdump', 'applied', ['kdump.service', 'kdump.target']],
      ['audit', 'unused', []],
    ],
  );
  assert.ok(!r.findings.some((x) => x.id === WAIVERS_FINDING_ID), 'no problem, no waivers finding');
});

test('expired and unknown-id waivers do not apply and are reported as one warn finding', () => {
  const expired = w('sysrq.mask', { expires: '2026-11-25', expiresAt: Date.parse('2026-11-26T00:00:00Z'), where: 'w.toml:4', fromFile: true });
  const r = applyPolicy([f('sysrq.mask', 'warn'), f('uptime.bugs', 'ok')], 'standard', [expired, w('kdmup.service', { where: 'w.toml:9', fromFile: true })], IDS, NOW);
  const s = r.findings[0]!;
  assert.equal(s.status, 'warn');
  assert.equal(s.waiver?.state, 'expired');
  const p = r.findings.find((x) => x.id === WAIVERS_FINDING_ID)!;
  assert.equal(p.status, 'warn');
  assert.match(p.summary, /2 waivers to review: sysrq\.mask expired 2026-11-25 \(w\.toml:4\); kdmup\.service names no check \(w\.toml:9\)/);
  assert.deepEqual(
    p.evidence.map((e) => e.path),
    ['w.toml:4', 'w.toml:9'],
  );
  assert.deepEqual(
    r.waivers.map((x) => x.state),
    ['expired', 'unknown-id'],
  );
  // Valid through the last day: the same waiver applies on its expiry day.
  const onTheDay = applyPolicy([f('sysrq.mask', 'warn')], 'standard', [expired], IDS, new Date('2026-11-25T23:59:59Z'));
  assert.equal(onTheDay.findings[0]!.status, 'waived');
  assert.equal(onTheDay.findings.length, 1);
});

test('profile first, then the waiver: strict turns a warn into a fail, the waiver records the fail', () => {
  const r = applyPolicy([f('sysstat', 'warn'), f('audit', 'warn')], 'strict', [w('audit')], IDS, NOW);
  assert.deepEqual(
    r.findings.map((x) => [x.status, x.checkStatus, x.waiver?.waivedStatus]),
    [
      ['fail', 'warn', undefined],
      ['waived', 'warn', 'fail'],
    ],
  );
});

test('precedence: --waive over the file, an exact id over a group; --only leaves other waivers not-selected', () => {
  const file = w('kdump', { fromFile: true, where: 'f:1', reason: 'group in file' });
  const exact = w('kdump.service', { fromFile: true, where: 'f:5', reason: 'exact in file' });
  const cli = w('kdump', { reason: 'group on the command line' });
  const r = applyPolicy([f('kdump.service', 'fail'), f('kdump.target', 'fail')], 'standard', [file, exact, cli], IDS, NOW);
  assert.deepEqual(
    r.findings.map((x) => x.waiver?.reason),
    ['group on the command line', 'group on the command line'],
  );
  const r2 = applyPolicy([f('kdump.service', 'fail')], 'standard', [file, exact], IDS, NOW);
  assert.equal(r2.findings[0]!.waiver?.reason, 'exact in file');
  const r3 = applyPolicy([f('kdump.service', 'fail')], 'standard', [w('audit')], IDS, NOW);
  assert.equal(r3.waivers[0]!.state, 'not-selected');
  // An expired waiver of a check that did not run is listed, but is no problem of this run.
  const r4 = applyPolicy([f('kdump.service', 'fail')], 'standard', [w('audit', { expires: '2020-01-31', expiresAt: Date.parse('2020-02-01T00:00:00Z') }), w('kdmup')], IDS, NOW);
  assert.deepEqual(
    r4.waivers.map((x) => x.state),
    ['expired', 'unknown-id'],
  );
  assert.match(r4.findings.find((x) => x.id === WAIVERS_FINDING_ID)!.summary, /^1 waiver to review: kdmup names no check/);
});

test('--waive ID[=reason]: the reason may hold "="; a bad id is refused', () => {
  assert.deepEqual(parseWaiveArg('kdump=VM: no RAM = no kdump'), { match: 'kdump', reason: 'VM: no RAM = no kdump', by: null, expires: null, expiresAt: null, where: '--waive', fromFile: false });
  assert.equal(parseWaiveArg('sysrq.mask').reason, null);
  assert.equal(parseWaiveArg('sysrq.mask=').reason, null);
  for (const bad of ['', '=reason', 'Kdump', '../etc', 'a b']) assert.throws(() => parseWaiveArg(bad), /--waive/, bad);
});

test('waiver file: the fleet example parses with lines, people and expiry dates', () => {
  const path = fixture('waivers/fleet.toml');
  const ws = parseWaiverFile(readFileSync(path, 'utf8'), 'fleet.toml');
  assert.deepEqual(
    ws.map((x) => [x.match, x.by, x.expires, x.where]),
    [
      ['sysrq.mask', 'secops@example.com', null, 'fleet.toml:4'],
      ['kdump.reserved', 'j.doe', '2099-12-31', 'fleet.toml:9'],
      ['audit', 'j.doe', '2020-01-31', 'fleet.toml:16'],
      ['kdmup.service', null, null, 'fleet.toml:23'],
    ],
  );
  assert.equal(ws[2]!.expiresAt, Date.parse('2020-02-01T00:00:00Z'));
  assert.deepEqual(parseWaiverFile('# nothing accepted yet\n', 'x'), []);
  const inline = parseWaiverFile('waiver = [{ id = "audit", reason = "r", expires = "2027-03-01" }, { id = "sysstat", reason = "r", expires = 2027-03-01T12:00:00Z }]', 'x');
  assert.deepEqual(
    inline.map((x) => [x.where, x.expires, x.expiresAt]),
    [
      ['x waiver #1', '2027-03-01', Date.parse('2027-03-02T00:00:00Z')],
      ['x waiver #2', '2027-03-01T12:00:00.000Z', Date.parse('2027-03-01T12:00:00Z')],
    ],
  );
});

test('waiver file errors name the file and line: syntax, missing reason, bad date, unknown key', () => {
  const cases: [string, RegExp][] = [
    ['malformed.toml', /^malformed\.toml:3:\d+: not valid TOML: /],
    ['no-reason.toml', /^no-reason\.toml:5: reason is required/],
    ['bad-expiry.toml', /^bad-expiry\.toml:1: expires "next year" is not a date/],
    ['typo-key.toml', /^typo-key\.toml:1: unknown key "expiry"/],
  ];
  for (const [name, re] of cases) {
    const text = readFileSync(fixture(`waivers/${name}`), 'utf8');
    assert.throws(
      () => parseWaiverFile(text, name),
      (e: unknown) => e instanceof WaiverFileError && re.test(e.message) && !e.message.includes('\n'),
      name,
    );
  }
  assert.throws(() => parseWaiverFile('skip-test = "KRNL-6000"', 'l'), /unknown key "skip-test"/);
  assert.throws(() => parseWaiverFile('waiver = "audit"', 'l'), /array of tables/);
  assert.throws(() => parseWaiverFile('[[waiver]]\nid = "audit"\nreason = "r"\nexpires = "2027-02-30"', 'l'), /not a calendar date/);
  assert.throws(() => parseWaiverFile('[[waiver]]\nid = "audit"\nreason = "r"\nexpires = 12:00:00', 'l'), /expires must be a date/);
});

test('property: any waiver text either parses or throws a WaiverFileError, never anything else', () => {
  const pieces = fc.constantFrom('[[waiver]]\n', 'id = "audit"\n', 'reason = "r"\n', 'expires = 2027-01-01\n', 'by = 3\n', '"\n', '[waiver]\n', 'id = ["x"]\n', '=\n', 'expires = "x"\n');
  fc.assert(
    fc.property(fc.array(pieces, { maxLength: 8 }), fc.string({ maxLength: 20 }), (parts, junk) => {
      try {
        parseWaiverFile(parts.join('') + junk, 'p');
      } catch (e) {
        assert.ok(e instanceof WaiverFileError, String(e));
      }
    }),
  );
});
