/**
 * console.receivers on fixture roots: a console server (test/data/check/receiver: a lantern console
 * configuration with a source of most types, a netconsole receiver on two ports, one unit enabled)
 * gives the finding in test/data/check/receiver.expected.json (`LANTERN_UPDATE=1` rewrites it);
 * hosts without a receiver configuration say so (info); a sosreport that holds the file is read the
 * same way; a file the receiver would refuse is a warn with the receiver's own message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, copyFixture, DATA, del, fixture, put } from './testkit.js';
import type { Finding } from './model.js';

const EXPECTED = join(DATA, 'receiver.expected.json');
const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;

/** The finding with the fixture's location taken out of its evidence paths (so it is the same anywhere). */
function portable(f: Finding, root: string): Finding {
  return { ...f, evidence: f.evidence.map((e) => ({ ...e, path: e.path === null ? null : e.path.replace(root, '<root>') })) };
}

test('console.receivers: a console server lists every configured source (name, type, address or path) and the netconsole addresses', () => {
  const got = portable(check(fixture('receiver'), 'console.receivers'), fixture('receiver'));
  if (process.env['LANTERN_UPDATE'] === '1') writeFileSync(EXPECTED, JSON.stringify(got, null, 2) + '\n');
  assert.deepEqual(got, JSON.parse(readFileSync(EXPECTED, 'utf8')));
  assert.equal(got.status, 'ok');
});

test('console.receivers: no receiver configuration is info (not a receiving host), on a tree, a sosreport and with one of the two files', () => {
  for (const [name, kind] of [
    ['rhel9', 'tree'],
    ['debian12', 'tree'],
    ['sosreport', 'sosreport'],
    ['sosreport-debian12', 'sosreport'],
  ] as const) {
    const f = check(fixture(name), 'console.receivers');
    assert.equal(f.status, 'info', name);
    assert.equal(
      f.summary,
      `no console receiver configured (neither /etc/lantern/console.toml nor /etc/lantern/netconsole.toml): not a receiving host (in this ${kind}: not collected, or not configured)`,
    );
    assert.equal(f.remedy, null);
  }
  const t = copyFixture('receiver');
  del(t, '/etc/lantern/console.toml');
  const f = check(t, 'console.receivers');
  assert.equal(f.status, 'ok');
  assert.equal(f.summary, 'lantern netconsole: udp [::]:6666, udp 0.0.0.0:6667 (lantern-netconsole.service is not enabled: nothing starts it at boot)');
  // Without a listen setting the receiver listens where netconsole listen does by default.
  put(t, '/etc/lantern/netconsole.toml', 'dir = "/srv/nc"\n');
  assert.match(check(t, 'console.receivers').summary, /^lantern netconsole: udp \[::\]:6666 /);
});

test('console.receivers: read through the Host from a sosreport that holds the file', () => {
  const s = copyFixture('sosreport');
  put(s, '/etc/lantern/console.toml', '[source.bmc]\ntype = "tcp"\nconnect = "[fd00::7]:623"\n');
  const f = check(s, 'console.receivers');
  assert.equal(f.status, 'ok');
  assert.equal(f.summary.split(' (')[0], 'lantern console: bmc');
  assert.match(f.summary, /^lantern console: bmc \(tcp \[fd00::7\]:623\)/);
  assert.deepEqual(f.evidence[0], { what: 'lantern console source bmc', value: 'tcp client to [fd00::7]:623 (telnet)', path: join(s, 'etc/lantern/console.toml') });
});

test('console.receivers: a configuration the receiver would refuse is a warn with the receiver’s own message', () => {
  const t = copyFixture('receiver');
  const bad = '[source.web1]\ntype = "tty"\npath = "/dev/ttyS1"\nbaud = 12345\n';
  put(t, '/etc/lantern/console.toml', bad);
  const f = check(t, 'console.receivers');
  assert.equal(f.status, 'warn');
  const msg = '/etc/lantern/console.toml: source web1: baud 12345: not a termios rate (e.g. 9600, 38400, 115200)';
  assert.match(f.summary, new RegExp(`^lantern console would not start: ${msg.replace(/[()./]/g, '\\$&')}; lantern netconsole: udp \\[::\\]:6666, udp 0\\.0\\.0\\.0:6667 \\(`));
  assert.equal(f.remedy?.kind, 'file');
  // The receiver itself says the same of the same file (its path aside).
  const file = join(t, 'etc/lantern/console.toml');
  const r = spawnSync(process.execPath, [LANTERN, 'console', 'listen', '-c', file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 64, r.stderr);
  assert.equal(r.stderr, `lantern: ${msg.replace('/etc/lantern/console.toml', file)}\n`);
  // Not TOML at all, and a netconsole file with an unknown key.
  put(t, '/etc/lantern/console.toml', '[source.x\n');
  put(t, '/etc/lantern/netconsole.toml', 'listen_on = "6666"\n');
  const g = check(t, 'console.receivers');
  assert.equal(g.status, 'warn');
  assert.match(
    g.summary,
    /^lantern console would not start: \/etc\/lantern\/console\.toml: not valid TOML: .*; lantern netconsole would not start: \/etc\/lantern\/netconsole\.toml: unknown setting "listen_on"/,
  );
});
