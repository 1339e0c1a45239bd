/**
 * console.receivers on fixture roots: a console server (test/data/check/receiver: a lantern console
 * configuration with a source of most types, a netconsole receiver on two ports, one unit enabled)
 * gives the finding in test/data/check/receiver.expected.json (`LANTERN_UPDATE=1` rewrites it);
 * hosts without a receiver configuration say so (info); a sosreport that holds the file is read the
 * same way; a file the receiver would refuse to start with is a warn naming the problem. The check's
 * paths and source types agree with the packaged units and docs/console.md (read as data: check
 * imports no other capability).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, copyFixture, DATA, del, fixture, put } from './testkit.js';
import type { Finding } from './model.js';
import { CONSOLE_CONFIG, NETCONSOLE_CONFIG, SOURCE_WHERE } from './checks/receivers.js';

const EXPECTED = join(DATA, 'receiver.expected.json');
const repoFile = (rel: string): string => readFileSync(new URL(`../../${rel}`, import.meta.url), 'utf8');

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
  const d = check(t, 'console.receivers');
  assert.match(d.summary, /^lantern netconsole: udp \[::\]:6666 /);
  assert.equal(d.evidence.find((e) => e.what === 'lantern netconsole listen')?.value, 'udp [::]:6666 (the default)');
});

test('console.receivers: read through the Host from a sosreport that holds the file', () => {
  const s = copyFixture('sosreport');
  put(s, '/etc/lantern/console.toml', '[source.bmc]\ntype = "tcp"\nconnect = "[fd00::7]:623"\n');
  const f = check(s, 'console.receivers');
  assert.equal(f.status, 'ok');
  assert.equal(f.summary.split(' (')[0], 'lantern console: bmc');
  assert.match(f.summary, /^lantern console: bmc \(tcp \[fd00::7\]:623\)/);
  assert.deepEqual(f.evidence[0], { what: 'lantern console source bmc', value: 'tcp, connect [fd00::7]:623', path: join(s, 'etc/lantern/console.toml') });
});

test('console.receivers: a configuration the receiver would not start with is a warn naming the problem', () => {
  const t = copyFixture('receiver');
  const warned = (consoleToml: string, netconsoleToml?: string): string => {
    put(t, '/etc/lantern/console.toml', consoleToml);
    if (netconsoleToml !== undefined) put(t, '/etc/lantern/netconsole.toml', netconsoleToml);
    const f = check(t, 'console.receivers');
    assert.equal(f.status, 'warn', f.summary);
    assert.equal(f.remedy?.kind, 'file');
    return f.summary;
  };
  assert.match(
    warned('[source.web1]\ntype = "serial"\npath = "/dev/ttyS1"\n'),
    /^lantern console would not start: \/etc\/lantern\/console\.toml: source web1: type "serial": expected one of tcp, tcp-listen, udp, unix, unix-listen, tty, file; lantern netconsole: udp \[::\]:6666, udp 0\.0\.0\.0:6667 \(/,
  );
  assert.match(warned('[source.db2]\ntype = "tcp"\nlisten = "7001"\n'), /^lantern console would not start: \/etc\/lantern\/console\.toml: source db2: a tcp source needs connect = "…";/);
  assert.match(warned('dir = "/var/log/console"\n'), /^lantern console would not start: \/etc\/lantern\/console\.toml: no \[source\.NAME\] table: the receiver has nothing to read;/);
  assert.match(warned('source = "x"\n'), /^lantern console would not start: \/etc\/lantern\/console\.toml: source: expected tables \[source\.NAME\];/);
  const both = warned('[source.x\n', '[netconsole]\nlisten = 6666\n');
  assert.match(
    both,
    /^lantern console would not start: \/etc\/lantern\/console\.toml: not valid TOML: .*; lantern netconsole would not start: \/etc\/lantern\/netconsole\.toml: listen: expected one or more addresses, got 6666$/,
  );
});

test('console.receivers: its paths are the --config of the packaged units, its source types those of docs/console.md', () => {
  for (const [unit, path] of [
    ['lantern-console.service', CONSOLE_CONFIG],
    ['lantern-netconsole.service', NETCONSOLE_CONFIG],
  ]) {
    assert.match(repoFile(`packaging/systemd/${unit}`), new RegExp(`^ExecStart=.* --config ${path.replace(/\./g, '\\.')}( |$)`, 'm'), unit);
  }
  const doc = repoFile('docs/console.md');
  const table = doc.slice(doc.indexOf('| type | what |'));
  const types = [...table.slice(0, table.indexOf('\n\n')).matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(types, Object.keys(SOURCE_WHERE));
  for (const [type, key] of Object.entries(SOURCE_WHERE)) assert.match(table, new RegExp(`^\\| \`${type}\` \\|[^\\n]*\`${key}( = [^\`]*)?\``, 'm'), `${type} reads ${key}`);
});
