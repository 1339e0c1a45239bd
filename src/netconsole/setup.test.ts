import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arpLookup, fibTrieLocalAddresses, ipv4AddressesOf, parseIfInet6, routeV4, routeV6 } from './setup.js';
import { skipUnlessCI } from '../common/testenv.js';

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

// ---- source address detection (local_ip) ----

const FIX_DEBIAN = new URL('../../test/data/netconsole/setup-host-debian12/', import.meta.url).pathname;
const FIX_TWO = new URL('../../test/data/netconsole/setup-host-two-subnets/', import.meta.url).pathname;

test('setup: local addresses from real /proc/net/fib_trie, /proc/net/route and /proc/net/if_inet6 (pure parsers)', () => {
  const read = (root: string, f: string) => readFileSync(join(root, 'proc/net', f), 'utf8');
  // fib_trie lists every local /32 twice (Main and Local tables) and never names the device.
  assert.deepEqual(fibTrieLocalAddresses(read(FIX_DEBIAN, 'fib_trie')), ['127.0.0.1', '192.0.2.2']);
  assert.deepEqual(ipv4AddressesOf(read(FIX_DEBIAN, 'fib_trie'), read(FIX_DEBIAN, 'route'), 'eth0'), [{ ip: '192.0.2.2', prefixLen: 24 }]);
  // lo's 127.0.0.0/8 is in the local table only: not in /proc/net/route, so not attributed.
  assert.deepEqual(ipv4AddressesOf(read(FIX_DEBIAN, 'fib_trie'), read(FIX_DEBIAN, 'route'), 'lo'), []);
  assert.deepEqual(ipv4AddressesOf(read(FIX_TWO, 'fib_trie'), read(FIX_TWO, 'route'), 't0'), [
    { ip: '198.51.100.7', prefixLen: 24 },
    { ip: '203.0.113.9', prefixLen: 24 },
  ]);
  const v6 = parseIfInet6(read(FIX_DEBIAN, 'if_inet6'));
  assert.deepEqual(
    v6.find((a) => a.dev === 'eth0' && a.scope === 0),
    { ip: 'fd00::2', prefixLen: 64, scope: 0, flags: 0x82, dev: 'eth0' },
  );
  assert.deepEqual(
    v6.find((a) => a.dev === 'lo'),
    { ip: '::1', prefixLen: 128, scope: 0x10, flags: 0x80, dev: 'lo' },
  );
  assert.equal(v6.find((a) => a.dev === 'eth0' && a.scope === 0x20)!.ip, 'fe80::fc:ff:fe00:1');
  // Garbage lines are skipped, not fatal.
  assert.deepEqual(fibTrieLocalAddresses('Main:\n  |-- not-an-ip\n     /32 host LOCAL\n'), []);
  assert.deepEqual(parseIfInet6('nonsense\n\n'), []);
});

function planOf(root: string, ...args: string[]) {
  const r = lantern('--root', root, '--json', ...args);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as {
    remoteIp: string;
    remotePort: number;
    localIp: string | null;
    localIpSource: string;
    localIpNote: string;
    localIpFiles: string[];
    attributes: Array<[string, string]>;
    bootParameter: string;
    moduleParameter: string;
  };
}

test('setup: the source address is detected from a copied tree, written to configfs and the parameters, and said where from', () => {
  const v4 = planOf(FIX_DEBIAN, '-r', '10.9.8.7');
  assert.equal(v4.localIp, '192.0.2.2');
  assert.equal(v4.localIpSource, 'detected');
  assert.deepEqual(v4.localIpFiles, [join(FIX_DEBIAN, 'proc/net/fib_trie'), join(FIX_DEBIAN, 'proc/net/route')]);
  assert.deepEqual(
    v4.attributes.map((a) => a[0]),
    ['dev_name', 'local_port', 'remote_port', 'local_ip', 'remote_ip', 'remote_mac', 'extended', 'enabled'],
  );
  assert.deepEqual(v4.attributes[3], ['local_ip', '192.0.2.2']);
  assert.equal(v4.bootParameter, 'netconsole=+6665@192.0.2.2/eth0,6666@10.9.8.7/02:fc:00:00:00:05');
  assert.equal(v4.moduleParameter, 'modprobe netconsole netconsole=+6665@192.0.2.2/eth0,6666@10.9.8.7/02:fc:00:00:00:05');
  const text = lantern('--root', FIX_DEBIAN, '-r', '10.9.8.7');
  assert.ok(text.out.includes(`# source address 192.0.2.2: detected on eth0 from ${join(FIX_DEBIAN, 'proc/net/fib_trie')} and ${join(FIX_DEBIAN, 'proc/net/route')}\n`), text.out);
  assert.ok(text.out.includes('echo 192.0.2.2 > /sys/kernel/config/netconsole/lantern/local_ip\n'));

  const v6 = planOf(FIX_DEBIAN, '-r', '[fd00::1]:6666', '--remote-mac', '02:fc:00:00:00:05');
  assert.equal(v6.localIp, 'fd00::2'); // not the link-local fe80:: address: the receiver is not link-local
  assert.match(v6.localIpNote, /^detected on eth0 from .*proc\/net\/if_inet6$/);
  assert.equal(v6.bootParameter, 'netconsole=+6665@fd00::2/eth0,6666@fd00::1/02:fc:00:00:00:05');
  const ll = planOf(FIX_DEBIAN, '-r', '[fe80::1]:6666', '--dev', 'eth0', '--remote-mac', '02:fc:00:00:00:05');
  assert.equal(ll.localIp, 'fe80::fc:ff:fe00:1'); // a link-local receiver gets the link-local source, as the kernel does

  // Given on the command line: used as is, nothing read.
  const given = planOf(FIX_DEBIAN, '-r', '10.9.8.7', '--local-ip', '192.0.2.77');
  assert.equal(given.localIpSource, 'option');
  assert.equal(given.localIp, '192.0.2.77');
  assert.deepEqual(given.localIpFiles, []);
});

test("setup: several addresses: the one on the next hop's or receiver's subnet; otherwise left to the kernel, and said so", () => {
  // t0 has 198.51.100.7/24 and 203.0.113.9/24; the default route goes via 198.51.100.1.
  assert.equal(planOf(FIX_TWO, '-r', '203.0.113.50', '--remote-mac', '02:00:00:00:00:01').localIp, '203.0.113.9');
  const viaGw = planOf(FIX_TWO, '-r', '10.9.8.7', '--remote-mac', '02:00:00:00:00:01');
  assert.equal(viaGw.localIp, '198.51.100.7');
  assert.match(viaGw.localIpNote, /of its addresses 198\.51\.100\.7\/24, 203\.0\.113\.9\/24, the one on the subnet of the next hop 198\.51\.100\.1/);
  assert.equal(planOf(FIX_TWO, '-r', '[2001:db8:2::5]:6666', '--remote-mac', '02:00:00:00:00:01').localIp, '2001:db8:2::7');
  // No route for 2001:db8:9::/64 and two global addresses: which one the kernel takes is not in /proc.
  const amb = planOf(FIX_TWO, '-r', '[2001:db8:9::1]:6666', '--dev', 't0', '--remote-mac', '02:00:00:00:00:01');
  assert.equal(amb.localIp, null);
  assert.equal(amb.localIpSource, 'kernel');
  assert.match(amb.localIpNote, /^not detected: t0 has several IPv6 addresses \(2001:db8:1::7\/64, 2001:db8:2::7\/64\).*give --local-ip/);
  assert.ok(!amb.attributes.some((a) => a[0] === 'local_ip'));
  assert.equal(amb.bootParameter, 'netconsole=+6665@/t0,6666@2001:db8:9::1/02:00:00:00:00:01');
  const text = lantern('--root', FIX_TWO, '-r', '[2001:db8:9::1]:6666', '--dev', 't0', '--remote-mac', '02:00:00:00:00:01');
  assert.match(text.out, /^# source address: not detected: t0 has several IPv6 addresses .*the kernel takes t0's first non-link-local IPv6 address when the target is enabled/m);
});

test('setup: no address, or files missing from a tree: the kernel picks, the output says so and why', () => {
  const none = planOf(FIX_DEBIAN, '-r', '10.1.1.1', '--dev', 'ifb0', '--remote-mac', '02:00:00:00:00:01');
  assert.equal(none.localIp, null);
  assert.match(
    none.localIpNote,
    /^not detected: no usable IPv4 address of ifb0 in .*; the kernel takes ifb0's primary IPv4 address when the target is enabled \(it refuses the target if there is none\)$/,
  );
  const root = tree(); // routes and neighbours, but no fib_trie and no if_inet6
  try {
    const p = planOf(root, '-r', '10.9.8.7');
    assert.equal(p.localIpSource, 'kernel');
    assert.match(p.localIpNote, /^not detected \(\/proc\/net\/fib_trie not collected in this tree\); the kernel takes eth0's primary IPv4 address/);
    assert.equal(p.bootParameter, 'netconsole=+6665@/eth0,6666@10.9.8.7/52:54:00:12:34:56');
    const r = lantern('--root', root, '-r', '[2001:db8::5]:6700', '--dev', 'eth0', '--remote-mac', '52:54:00:00:00:02', '--apply', '--name', 'rx2');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^# source address: not detected \(\/proc\/net\/if_inet6 not collected in this tree\)/m);
    assert.ok(!existsSync(join(root, 'sys/kernel/config/netconsole/rx2/local_ip')), 'local_ip is not written when not known');
    // With the file present, --apply writes local_ip before remote_ip and enabled.
    writeFileSync(join(root, 'proc/net/if_inet6'), '20010db8000000000000000000000007 02 40 00 80     eth0\n');
    const a = lantern('--root', root, '-r', '[2001:db8::5]:6700', '--dev', 'eth0', '--remote-mac', '52:54:00:00:00:02', '--apply', '--name', 'rx3');
    assert.equal(a.code, 0, a.err);
    assert.match(a.out, /^# {3}local_ip = 2001:db8::7$/m);
    assert.equal(readFileSync(join(root, 'sys/kernel/config/netconsole/rx3/local_ip'), 'utf8'), '2001:db8::7\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/**
 * The live kernel: a fresh network namespace (with its own sysfs mount) holding a veth pair
 * with addresses the test chooses; `ip` (iproute2) is the independent check.
 */
function inNetns(setup: string, args: string[]) {
  const script = `set -e
mount -t sysfs sysfs /sys
ip link set lo up
ip link add lt0 type veth peer name lt1
ip link set lt0 up
ip link set lt1 up
${setup}
echo "IP:$(ip -o addr show dev lt0 | tr '\\n' '|')"
exec "$@"`;
  const r = spawnSync('unshare', ['--net', '--mount', '--', 'sh', '-c', script, 'sh', process.execPath, LANTERN, 'netconsole', 'setup', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 20_000,
  });
  const [ipLine, ...rest] = (r.stdout ?? '').split('\n');
  return { code: r.status, ip: ipLine ?? '', out: rest.join('\n'), err: r.stderr };
}

test('setup on the live kernel (own network namespace): detects the address `ip addr` shows, v4 and v6', (t) => {
  const why =
    process.getuid?.() !== 0
      ? 'needs root (network namespace)'
      : spawnSync('unshare', ['--version']).status !== 0
        ? 'unshare (util-linux) is not installed'
        : spawnSync('ip', ['-V']).status !== 0
          ? 'ip (iproute2) is not installed'
          : undefined;
  if (why) return skipUnlessCI(t, why);
  const one = inNetns('ip addr add 198.51.100.7/24 dev lt0\nip -6 addr add 2001:db8:1::7/64 dev lt0 nodad', ['-r', '198.51.100.1', '--json']);
  assert.equal(one.code, 0, one.err);
  assert.match(one.ip, /inet 198\.51\.100\.7\/24 /, 'ip agrees the address is on lt0');
  const plan = JSON.parse(one.out);
  assert.equal(plan.dev, 'lt0');
  assert.equal(plan.localIp, '198.51.100.7');
  assert.deepEqual(plan.localIpFiles, ['/proc/net/fib_trie', '/proc/net/route']);
  assert.equal(plan.bootParameter, 'netconsole=+6665@198.51.100.7/lt0,6666@198.51.100.1/');
  const six = inNetns('ip -6 addr add 2001:db8:1::7/64 dev lt0 nodad', ['-r', '[2001:db8:1::1]:6666']);
  assert.equal(six.code, 0, six.err);
  assert.match(six.ip, /inet6 2001:db8:1::7\/64 /);
  assert.match(six.out, /^# source address 2001:db8:1::7: detected on lt0 from \/proc\/net\/if_inet6$/m);
  // Two subnets on one interface, default route via the first: the next hop's subnet decides.
  const two = inNetns('ip addr add 198.51.100.7/24 dev lt0\nip addr add 203.0.113.9/24 dev lt0\nip route add default via 203.0.113.1', ['-r', '10.9.8.7', '--json']);
  assert.equal(two.code, 0, two.err);
  assert.equal(JSON.parse(two.out).localIp, '203.0.113.9');
  // A primary and a secondary address on one subnet: only netlink (`ip`) tells them apart, /proc does not.
  const same = inNetns('ip addr add 198.51.100.7/24 dev lt0\nip addr add 198.51.100.8/24 dev lt0', ['-r', '198.51.100.1', '--json']);
  assert.equal(same.code, 0, same.err);
  assert.match(same.ip, /inet 198\.51\.100\.8\/24 scope global secondary lt0/);
  assert.equal(JSON.parse(same.out).localIpSource, 'kernel');
  assert.match(JSON.parse(same.out).localIpNote, /several IPv4 addresses \(198\.51\.100\.7\/24, 198\.51\.100\.8\/24\)/);
  // No address at all: nothing detected, the kernel (which will refuse) is left to choose.
  const none = inNetns('', ['-r', '10.9.8.7', '--dev', 'lt0']);
  assert.equal(none.code, 0, none.err);
  assert.match(none.out, /^# source address: not detected: no usable IPv4 address of lt0 in \/proc\/net\/fib_trie and \/proc\/net\/route/m);
});

test("setup on the live host's own network: the detected source address is the one `ip -4 addr` lists on the route's interface", (t) => {
  if (spawnSync('ip', ['-V']).status !== 0) return skipUnlessCI(t, 'ip (iproute2) is not installed');
  // 198.18.0.1 (benchmarking range) goes through the default route, if the host has one.
  const route = routeV4(readFileSync('/proc/net/route', 'utf8'), '198.18.0.1');
  const r = lantern('-r', '198.18.0.1', '--remote-mac', '02:00:00:00:00:01', '--json');
  if (!route) {
    assert.equal(r.code, 69, r.err);
    assert.match(r.err, /no route to 198\.18\.0\.1/);
    return;
  }
  assert.equal(r.code, 0, r.err);
  const plan = JSON.parse(r.out);
  assert.equal(plan.dev, route.iface);
  const listed = [...spawnSync('ip', ['-o', '-4', 'addr', 'show', 'dev', route.iface], { encoding: 'utf8' }).stdout.matchAll(/ inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]);
  if (listed.length === 1) {
    assert.equal(plan.localIp, listed[0], plan.localIpNote);
    assert.equal(plan.localIpSource, 'detected');
    assert.equal(plan.localIpNote, `detected on ${route.iface} from /proc/net/fib_trie and /proc/net/route`);
  } else if (listed.length === 0) assert.equal(plan.localIpSource, 'kernel');
  else assert.ok(plan.localIp === null || listed.includes(plan.localIp), `${plan.localIp} is one of ${listed.join(', ')}`);
});

test('setup --remote: the common address splitter (port default 6666); a name, a zone or a bad port is one line, exit 64', () => {
  assert.equal(planOf(FIX_DEBIAN, '-r', '10.1.2.3', '--remote-mac', '02:00:00:00:00:01').remotePort, 6666);
  assert.equal(planOf(FIX_DEBIAN, '-r', '10.1.2.3:6700', '--remote-mac', '02:00:00:00:00:01').remotePort, 6700);
  assert.equal(planOf(FIX_DEBIAN, '-r', 'fd00::2', '--remote-mac', '02:00:00:00:00:01').remoteIp, 'fd00::2');
  for (const [bad, why] of [
    ['web1', 'not an IPv4 or IPv6 address'],
    ['[fe80::1%eth0]:6666', 'without a zone index'],
    ['10.1.2.3:0', 'port 0 is not in 1..65535'],
    ['10.1.2.3:', 'no port after the colon'],
  ]) {
    const r = lantern('--root', FIX_DEBIAN, '-r', bad!, '--remote-mac', '02:00:00:00:00:01');
    assert.equal(r.code, 64, `${bad}: ${r.err}`);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.ok(r.err.startsWith(`lantern: --remote ${JSON.stringify(bad)}: `) && r.err.includes(why!), r.err);
  }
});
