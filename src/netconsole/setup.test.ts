import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arpLookup, routeV4, routeV6 } from './setup.js';

const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;

// Real /proc formats (taken from a Debian 12 host; addresses from documentation ranges).
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0064A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
const ARP = `IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         52:54:00:12:34:56     *        eth0
192.168.100.7    0x1         0x2         52:54:00:ab:cd:ef     *        eth1
192.168.100.9    0x1         0x0         00:00:00:00:00:00     *        eth1
`;
const ROUTE6 = `20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
`;

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'nc-setup-'));
  for (const d of ['sys/class/net/eth0', 'sys/class/net/eth1', 'sys/class/net/lo', 'proc/net', 'sys/kernel/config/netconsole']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'proc/net/route'), ROUTE);
  writeFileSync(join(root, 'proc/net/arp'), ARP);
  writeFileSync(join(root, 'proc/net/ipv6_route'), ROUTE6);
  return root;
}

function lantern(...args: string[]) {
  const r = spawnSync(process.execPath, [LANTERN, 'netconsole', 'setup', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('setup: routes, neighbours (pure parsers of the real /proc formats)', () => {
  assert.deepEqual(routeV4(ROUTE, '10.9.8.7'), { iface: 'eth0', gateway: '192.0.2.1', prefixLen: 0 });
  assert.deepEqual(routeV4(ROUTE, '192.168.100.7'), { iface: 'eth1', gateway: null, prefixLen: 24 });
  assert.equal(arpLookup(ARP, '192.0.2.1', 'eth0'), '52:54:00:12:34:56');
  assert.equal(arpLookup(ARP, '192.168.100.9', 'eth1'), null); // incomplete entry
  assert.deepEqual(routeV6(ROUTE6, '2001:db8::5'), { iface: 'eth0', gateway: null, prefixLen: 64 });
  assert.deepEqual(routeV6(ROUTE6, '2001:db9::5'), { iface: 'eth0', gateway: 'fe80::1', prefixLen: 0 });
});

test('setup: dry run prints configfs commands and the module/boot parameter; changes nothing', () => {
  const root = tree();
  try {
    const r = lantern('--root', root, '-r', '10.9.8.7:6666');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /eth0 -> 10\.9\.8\.7:6666 via 192\.0\.2\.1 \(52:54:00:12:34:56\), extended format/);
    assert.ok(r.out.includes('echo 52:54:00:12:34:56 > /sys/kernel/config/netconsole/lantern/remote_mac'));
    assert.ok(r.out.includes('netconsole=+6665@/eth0,6666@10.9.8.7/52:54:00:12:34:56'));
    assert.deepEqual(spawnSync('ls', [join(root, 'sys/kernel/config/netconsole')], { encoding: 'utf8' }).stdout, '');
    const direct = lantern('--root', root, '-r', '192.168.100.7', '--no-extended', '--local-port', '7000', '--json');
    const plan = JSON.parse(direct.out);
    assert.equal(plan.dev, 'eth1');
    assert.equal(plan.remoteMac, '52:54:00:ab:cd:ef');
    assert.equal(plan.bootParameter, 'netconsole=7000@/eth1,6666@192.168.100.7/52:54:00:ab:cd:ef');
    // unknown neighbour: broadcast with a warning
    const bc = lantern('--root', root, '-r', '192.168.100.9', '--json');
    assert.equal(JSON.parse(bc.out).remoteMac, 'ff:ff:ff:ff:ff:ff');
    assert.match(JSON.parse(bc.out).warnings[0], /no neighbour entry for 192\.168\.100\.9/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('setup --apply writes the target through configfs (enabled last); clear errors when things are missing', () => {
  const root = tree();
  try {
    const r = lantern('--root', root, '-r', '[2001:db8::5]:6700', '--dev', 'eth0', '--remote-mac', '52:54:00:00:00:02', '--release', '--apply', '--name', 'rx1');
    assert.equal(r.code, 0, r.err);
    const t = join(root, 'sys/kernel/config/netconsole/rx1');
    const attr = (k: string) => readFileSync(join(t, k), 'utf8').trim();
    assert.equal(attr('dev_name'), 'eth0');
    assert.equal(attr('remote_ip'), '2001:db8::5');
    assert.equal(attr('remote_port'), '6700');
    assert.equal(attr('remote_mac'), '52:54:00:00:00:02');
    assert.equal(attr('extended'), '1');
    assert.equal(attr('release'), '1');
    assert.equal(attr('enabled'), '1');
    // applying again disables the live target first
    const again = lantern('--root', root, '-r', '[2001:db8::5]:6701', '--dev', 'eth0', '--remote-mac', '52:54:00:00:00:02', '--apply', '--name', 'rx1');
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /disabled existing target rx1/);
    assert.equal(attr('remote_port'), '6701');

    const noDev = lantern('--root', root, '-r', '10.9.8.7', '--dev', 'eth7');
    assert.equal(noDev.code, 69);
    assert.match(noDev.err, /interface eth7 does not exist \(this host has: eth0, eth1, lo\)/);
    rmSync(join(root, 'sys/kernel/config/netconsole'), { recursive: true });
    const noMod = lantern('--root', root, '-r', '10.9.8.7', '--apply');
    assert.equal(noMod.code, 69);
    assert.match(noMod.err, /netconsole module is not loaded.*modprobe netconsole/);
    const dry = lantern('--root', root, '-r', '10.9.8.7');
    assert.match(dry.out, /^modprobe netconsole$/m);
    const bad = lantern('--root', root, '-r', 'receiver.example');
    assert.equal(bad.code, 64);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('Host.writeSetting/makeSettingDir only write under /proc/sys/ and /sys/kernel/config/', async () => {
  const { Host } = await import('../host/host.js');
  const root = tree();
  try {
    mkdirSync(join(root, 'proc/sys/net/core'), { recursive: true });
    const host = new Host({ root });
    assert.equal(host.writeSetting('/proc/sys/net/core/rmem_max', '33554432').ok, true);
    assert.equal(readFileSync(join(root, 'proc/sys/net/core/rmem_max'), 'utf8'), '33554432');
    const refused = host.writeSetting('/etc/passwd', 'x');
    assert.ok(!refused.ok && /refusing/.test(refused.reason));
    const sneaky = host.writeSetting('/proc/sys/../../etc/passwd', 'x');
    assert.equal(sneaky.ok, false);
    assert.equal(host.makeSettingDir('/sys/kernel/config/netconsole/t1').ok, true);
    assert.equal(host.makeSettingDir('/tmp/x').ok, false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
