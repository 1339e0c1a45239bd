/**
 * `lantern netconsole setup`: plan (and optionally apply) a netconsole target on this host.
 * Everything is read and written through the Host (/sys/class/net, /proc/net/route,
 * /proc/net/ipv6_route, /proc/net/arp, /proc/net/fib_trie, /proc/net/if_inet6,
 * /sys/kernel/config/netconsole), so tests use a tree.
 */
import { isIP } from 'node:net';
import type { Host } from '../host/host.js';
import { CliError, EXIT } from '../common/exit.js';

export const CONFIGFS = '/sys/kernel/config/netconsole';
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

export interface SetupRequest {
  remoteIp: string;
  remotePort: number;
  localPort: number;
  name: string;
  dev: string | null;
  localIp: string | null;
  remoteMac: string | null;
  extended: boolean;
  release: boolean;
}

export interface SetupPlan {
  name: string;
  dev: string;
  remoteIp: string;
  remotePort: number;
  localPort: number;
  localIp: string | null;
  /** Where localIp came from: --local-ip, detected in /proc, or left to the kernel (null). */
  localIpSource: 'option' | 'detected' | 'kernel';
  /** One sentence for the operator: what was found, from which files, or why nothing was. */
  localIpNote: string;
  /** The files the detection read (real paths, so a tree shows its own). */
  localIpFiles: string[];
  nextHop: string;
  remoteMac: string;
  extended: boolean;
  release: boolean;
  /** configfs attribute -> value, in the order they must be written (enabled last). */
  attributes: Array<[string, string]>;
  configfsPath: string;
  configfsReady: boolean;
  commands: string[];
  moduleParameter: string;
  bootParameter: string;
  warnings: string[];
}

interface Route {
  iface: string;
  gateway: string | null;
  prefixLen: number;
}

function hexLeToIpv4(h: string): string {
  const n = parseInt(h, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
}

/** Longest-prefix match in /proc/net/route (IPv4; fields are little-endian hex). */
export function routeV4(text: string, dest: string): Route | null {
  const d = ipv4ToInt(dest);
  let best: Route | null = null;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const flags = parseInt(f[3]!, 16);
    if (!(flags & 1)) continue; // RTF_UP
    const net = ipv4ToInt(hexLeToIpv4(f[1]!));
    const mask = ipv4ToInt(hexLeToIpv4(f[7]!));
    if ((d & mask) >>> 0 !== net) continue;
    const prefixLen = mask.toString(2).replace(/0/g, '').length;
    if (best && best.prefixLen >= prefixLen) continue;
    const gw = hexLeToIpv4(f[2]!);
    best = { iface: f[0]!, gateway: flags & 2 && gw !== '0.0.0.0' ? gw : null, prefixLen };
  }
  return best;
}

function expandV6(ip: string): string {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((x) => x.padStart(4, '0')).join('');
}

function compressV6(hex32: string): string {
  const groups = hex32.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
  const s = groups.join(':');
  const m = s.match(/(^|:)0(:0)+(:|$)/g);
  if (!m) return s;
  const longest = m.reduce((a, b) => (b.length > a.length ? b : a));
  return s.replace(longest, '::');
}

/** Longest-prefix match in /proc/net/ipv6_route. */
export function routeV6(text: string, dest: string): Route | null {
  const d = expandV6(dest);
  const bits = (hex: string) =>
    hex
      .split('')
      .map((c) => parseInt(c, 16).toString(2).padStart(4, '0'))
      .join('');
  const db = bits(d);
  let best: Route | null = null;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const plen = parseInt(f[1]!, 16);
    const flags = parseInt(f[8]!, 16);
    if (!(flags & 1)) continue;
    if (bits(f[0]!).slice(0, plen) !== db.slice(0, plen)) continue;
    if (best && best.prefixLen >= plen) continue;
    const gw = f[4]!;
    best = { iface: f[9]!, gateway: /^0+$/.test(gw) ? null : compressV6(gw), prefixLen: plen };
  }
  return best;
}

/** MAC of an IPv4 neighbour from /proc/net/arp. */
export function arpLookup(text: string, ip: string, dev: string): string | null {
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 6 && f[0] === ip && f[5] === dev && f[3] !== '00:00:00:00:00:00' && parseInt(f[2]!, 16) & 2) return f[3]!.toLowerCase();
  }
  return null;
}

/**
 * The host's own IPv4 addresses from /proc/net/fib_trie (net/ipv4/fib_trie.c, fib_trie_seq_show):
 * a table header ("Main:", "Local:", "Id 100:"), then nodes "+-- 192.0.2.0/24 2 0 2" and leaves
 * "|-- 192.0.2.2" each followed by its aliases "/32 host LOCAL" (prefix length, scope, type).
 * A local address is a leaf with a "/32 host LOCAL" alias. The file does not name devices.
 */
export function fibTrieLocalAddresses(text: string): string[] {
  const out: string[] = [];
  let leaf: string | null = null;
  for (const line of text.split('\n')) {
    const l = /^\s*\|-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (l) {
      leaf = l[1]!;
      continue;
    }
    const a = /^\s+\/(\d+) (\w+) (\w+)/.exec(line);
    if (a && leaf && a[1] === '32' && a[2] === 'host' && a[3] === 'LOCAL' && !out.includes(leaf)) out.push(leaf);
    else if (!a) leaf = null;
  }
  return out;
}

export interface LocalAddress {
  ip: string;
  prefixLen: number;
}

/**
 * IPv4 addresses of `dev`: the local addresses (fib_trie) that lie in a directly connected
 * route of `dev` in /proc/net/route (no RTF_GATEWAY, non-zero mask): the prefix route the
 * kernel adds with each address. An address added with noprefixroute, or a /32, has none and
 * is not found (the caller then leaves the choice to the kernel).
 */
export function ipv4AddressesOf(fibTrie: string, routeText: string, dev: string): LocalAddress[] {
  const links: Array<{ net: number; mask: number; prefixLen: number }> = [];
  for (const line of routeText.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[0] !== dev) continue;
    const flags = parseInt(f[3]!, 16);
    if (!(flags & 1) || flags & 2) continue; // RTF_UP, not RTF_GATEWAY
    const mask = ipv4ToInt(hexLeToIpv4(f[7]!));
    if (mask === 0) continue;
    links.push({ net: ipv4ToInt(hexLeToIpv4(f[1]!)), mask, prefixLen: mask.toString(2).replace(/0/g, '').length });
  }
  const out: LocalAddress[] = [];
  for (const ip of fibTrieLocalAddresses(fibTrie)) {
    const n = ipv4ToInt(ip);
    const best = links.filter((r) => (n & r.mask) >>> 0 === r.net).sort((a, b) => b.prefixLen - a.prefixLen)[0];
    if (best) out.push({ ip, prefixLen: best.prefixLen });
  }
  return out;
}

export interface Inet6Address extends LocalAddress {
  dev: string;
  scope: number;
  flags: number;
}

/**
 * /proc/net/if_inet6 (net/ipv6/addrconf.c, if6_seq_show): "%pi6 %02x %02x %02x %02x %8s":
 * address as 32 hex digits, ifindex, prefix length, scope (0x00 global, 0x20 link, 0x10 host),
 * IFA_F_* flags (0x01 temporary, 0x08 dadfailed, 0x20 deprecated, 0x40 tentative, 0x80 permanent),
 * device name.
 */
export function parseIfInet6(text: string): Inet6Address[] {
  const out: Inet6Address[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || !/^[0-9a-f]{32}$/i.test(f[0]!)) continue;
    out.push({ ip: compressV6(f[0]!.toLowerCase()), prefixLen: parseInt(f[2]!, 16), scope: parseInt(f[3]!, 16), flags: parseInt(f[4]!, 16), dev: f[5]! });
  }
  return out;
}

function inPrefix(fam: 4 | 6, ip: string, a: LocalAddress): boolean {
  if (fam === 4) {
    const mask = a.prefixLen === 0 ? 0 : (0xffffffff << (32 - a.prefixLen)) >>> 0;
    return (ipv4ToInt(ip) & mask) >>> 0 === (ipv4ToInt(a.ip) & mask) >>> 0;
  }
  const bits = (hex: string) =>
    hex
      .split('')
      .map((c) => parseInt(c, 16).toString(2).padStart(4, '0'))
      .join('');
  return bits(expandV6(ip)).slice(0, a.prefixLen) === bits(expandV6(a.ip)).slice(0, a.prefixLen);
}

const isLinkLocal6 = (ip: string) => /^fe[89ab]/i.test(expandV6(ip));

export interface LocalIpDetection {
  ip: string | null;
  note: string;
  files: string[];
}

/**
 * The source address netconsole will use on `dev` when local_ip is not set. The kernel
 * (netpoll_setup in net/core/netpoll.c) takes the interface's first IPv4 address (the primary
 * one), or for IPv6 the first address whose link-local-ness matches the remote's, and refuses
 * the target when there is none. /proc does not show which address is primary, so: one
 * candidate is taken; of several, the one on the next hop's (or the remote's) subnet; otherwise
 * nothing is detected and the choice stays with the kernel.
 */
export function detectLocalIp(host: Host, fam: 4 | 6, dev: string, remoteIp: string, nextHop: string): LocalIpDetection {
  const kernelPicks =
    fam === 4
      ? `the kernel takes ${dev}'s primary IPv4 address when the target is enabled`
      : `the kernel takes ${dev}'s first ${isLinkLocal6(remoteIp) ? 'link-local' : 'non-link-local'} IPv6 address when the target is enabled`;
  let candidates: LocalAddress[];
  let files: string[];
  if (fam === 4) {
    const trie = host.readText('/proc/net/fib_trie');
    const route = host.readText('/proc/net/route');
    files = [trie.path ?? trie.livePath, route.path ?? route.livePath];
    if (!trie.ok || !route.ok) return { ip: null, files, note: `not detected (${!trie.ok ? trie.reason : !route.ok ? route.reason : ''}); ${kernelPicks}` };
    candidates = ipv4AddressesOf(trie.text, route.text, dev);
  } else {
    const r = host.readText('/proc/net/if_inet6');
    files = [r.path ?? r.livePath];
    if (!r.ok) return { ip: null, files, note: `not detected (${r.reason}); ${kernelPicks}` };
    // Temporary (privacy) addresses change and a failed DAD address cannot send: never chosen.
    candidates = parseIfInet6(r.text).filter((a) => a.dev === dev && !(a.flags & 0x09) && isLinkLocal6(a.ip) === isLinkLocal6(remoteIp));
  }
  const from = files.join(' and ');
  if (candidates.length === 0) return { ip: null, files, note: `not detected: no usable IPv${fam} address of ${dev} in ${from}; ${kernelPicks} (it refuses the target if there is none)` };
  if (candidates.length === 1) return { ip: candidates[0]!.ip, files, note: `detected on ${dev} from ${from}` };
  const list = candidates.map((c) => `${c.ip}/${c.prefixLen}`).join(', ');
  for (const target of nextHop === remoteIp ? [remoteIp] : [nextHop, remoteIp]) {
    const near = candidates.filter((c) => inPrefix(fam, target, c));
    if (near.length === 1)
      return {
        ip: near[0]!.ip,
        files,
        note: `detected on ${dev} from ${from}: of its addresses ${list}, the one on the subnet of ${target === nextHop && nextHop !== remoteIp ? 'the next hop' : 'the receiver'} ${target}`,
      };
  }
  return {
    ip: null,
    files,
    note: `not detected: ${dev} has several IPv${fam} addresses (${list}), none alone on the receiver's or next hop's subnet, and ${from} ${files.length > 1 ? 'do' : 'does'} not show which one the kernel takes; ${kernelPicks}; give --local-ip to choose`,
  };
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IFNAME_RE = /^[A-Za-z0-9_.:@-]{1,15}$/;
const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Work out the target from the request and what the host shows. Throws CliError with a remedy. */
export function planSetup(host: Host, req: SetupRequest, neigh6?: (ip: string, dev: string) => string | null): SetupPlan {
  const fam = isIP(req.remoteIp);
  if (!fam) throw new CliError(`--remote ${JSON.stringify(req.remoteIp)}: not an IP address (netconsole does no DNS)`, EXIT.USAGE);
  if (!NAME_RE.test(req.name)) throw new CliError(`--name ${JSON.stringify(req.name)}: use letters, digits, - and _ (it becomes a configfs directory)`, EXIT.USAGE);
  if (req.remoteMac !== null && !MAC_RE.test(req.remoteMac)) throw new CliError(`--remote-mac ${JSON.stringify(req.remoteMac)}: expected aa:bb:cc:dd:ee:ff`, EXIT.USAGE);
  if (req.localIp !== null && isIP(req.localIp) !== fam) throw new CliError(`--local-ip ${JSON.stringify(req.localIp)}: must be an IPv${fam} address like the remote`, EXIT.USAGE);
  if (req.release && !req.extended) throw new CliError('--release needs the extended format (drop --no-extended)', EXIT.USAGE);
  const warnings: string[] = [];

  const ifaces = host.list('/sys/class/net');
  const known = ifaces.ok ? ifaces.entries : [];
  let route: Route | null = null;
  const rt = host.readText(fam === 4 ? '/proc/net/route' : '/proc/net/ipv6_route');
  if (rt.ok) route = fam === 4 ? routeV4(rt.text, req.remoteIp) : routeV6(rt.text, req.remoteIp);
  let dev = req.dev;
  if (dev === null) {
    if (!route) throw new CliError(`no route to ${req.remoteIp} in ${fam === 4 ? '/proc/net/route' : '/proc/net/ipv6_route'}: give the interface with --dev`, EXIT.UNAVAILABLE);
    dev = route.iface;
  }
  if (!IFNAME_RE.test(dev)) throw new CliError(`--dev ${JSON.stringify(dev)}: not an interface name`, EXIT.USAGE);
  if (ifaces.ok && !known.includes(dev)) {
    throw new CliError(`interface ${dev} does not exist (this host has: ${known.join(', ') || 'none'})`, EXIT.UNAVAILABLE);
  }
  if (dev === 'lo') warnings.push('the interface is lo: netconsole cannot send through the loopback device');
  if (route && route.iface !== dev)
    warnings.push(`the routing table sends ${req.remoteIp} through ${route.iface}, not ${dev}: netconsole does no routing, make sure the next hop is reachable on ${dev}`);
  const nextHop = route && route.iface === dev && route.gateway ? route.gateway : req.remoteIp;

  let mac = req.remoteMac?.toLowerCase() ?? null;
  if (mac === null) {
    if (fam === 4) {
      const arp = host.readText('/proc/net/arp');
      mac = arp.ok ? arpLookup(arp.text, nextHop, dev) : null;
    } else if (neigh6) mac = neigh6(nextHop, dev);
    if (mac === null) {
      mac = BROADCAST;
      warnings.push(
        `no neighbour entry for ${nextHop} on ${dev}: using broadcast ${BROADCAST} (loads the segment; switches may drop it). ` + `Ping ${nextHop} once and run setup again, or give --remote-mac`,
      );
    }
  }

  // The source address: given, detected from /proc (rooted reads), or left to the kernel.
  let localIp = req.localIp;
  let localIpSource: SetupPlan['localIpSource'] = 'option';
  let localIpNote = 'given with --local-ip';
  let localIpFiles: string[] = [];
  if (localIp === null) {
    const d = detectLocalIp(host, fam as 4 | 6, dev, req.remoteIp, nextHop);
    localIp = d.ip;
    localIpSource = d.ip ? 'detected' : 'kernel';
    localIpNote = d.note;
    localIpFiles = d.files;
  }

  const attributes: Array<[string, string]> = [
    ['dev_name', dev],
    ['local_port', String(req.localPort)],
    ['remote_port', String(req.remotePort)],
  ];
  if (localIp) attributes.push(['local_ip', localIp]);
  attributes.push(['remote_ip', req.remoteIp], ['remote_mac', mac], ['extended', req.extended ? '1' : '0']);
  if (req.release) attributes.push(['release', '1']);
  attributes.push(['enabled', '1']);

  const configfsPath = `${CONFIGFS}/${req.name}`;
  const configfsReady = host.isDirectory(CONFIGFS);
  const commands: string[] = [];
  if (!configfsReady) {
    if (!host.isDirectory('/sys/kernel/config')) commands.push('mount -t configfs none /sys/kernel/config');
    commands.push('modprobe netconsole');
  }
  commands.push(`mkdir -p ${configfsPath}`);
  for (const [k, v] of attributes) commands.push(`echo ${v} > ${configfsPath}/${k}`);

  const flags = (req.extended ? '+' : '') + (req.release ? 'r' : '');
  const param = `${flags}${req.localPort}@${localIp ?? ''}/${dev},${req.remotePort}@${req.remoteIp}/${mac === BROADCAST ? '' : mac}`;
  return {
    name: req.name,
    dev,
    remoteIp: req.remoteIp,
    remotePort: req.remotePort,
    localPort: req.localPort,
    localIp,
    localIpSource,
    localIpNote,
    localIpFiles,
    nextHop,
    remoteMac: mac,
    extended: req.extended,
    release: req.release,
    attributes,
    configfsPath,
    configfsReady,
    commands,
    moduleParameter: `modprobe netconsole netconsole=${param}`,
    bootParameter: `netconsole=${param}`,
    warnings,
  };
}

/** Write the plan into configfs. A target that exists is disabled first (attributes only change while disabled). */
export function applySetup(host: Host, plan: SetupPlan): string[] {
  if (!plan.configfsReady) {
    throw new CliError(
      `${CONFIGFS} does not exist: the netconsole module is not loaded or the kernel lacks CONFIG_NETCONSOLE_DYNAMIC. ` +
        `Try: modprobe netconsole (and mount -t configfs none /sys/kernel/config); or use the boot parameter: ${plan.bootParameter}`,
      EXIT.UNAVAILABLE,
    );
  }
  const done: string[] = [];
  const existed = host.isDirectory(plan.configfsPath);
  if (existed) {
    const en = host.readValue(`${plan.configfsPath}/enabled`);
    if (en.ok && en.text === '1') {
      const w = host.writeSetting(`${plan.configfsPath}/enabled`, '0');
      if (!w.ok) throw new CliError(`cannot disable the existing target: ${w.reason}`, EXIT.IOERR);
      done.push(`disabled existing target ${plan.name}`);
    }
  } else {
    const m = host.makeSettingDir(plan.configfsPath);
    if (!m.ok) throw new CliError(`cannot create ${plan.configfsPath}: ${m.reason}`, m.reason.includes('permission') ? EXIT.NOPERM : EXIT.IOERR);
    done.push(`created ${plan.configfsPath}`);
  }
  for (const [k, v] of plan.attributes) {
    const w = host.writeSetting(`${plan.configfsPath}/${k}`, v + '\n');
    if (!w.ok) {
      if (k === 'release' && w.reason.includes('does not exist')) {
        done.push('release: not supported by this kernel, skipped');
        continue;
      }
      throw new CliError(`cannot write ${k}: ${w.reason}${k === 'enabled' ? " (see dmesg for netconsole's reason)" : ''}`, EXIT.IOERR);
    }
    done.push(`${k} = ${v}`);
  }
  return done;
}
