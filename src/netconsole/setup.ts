/**
 * `lantern netconsole setup`: plan (and optionally apply) a netconsole target on this host.
 * Everything is read and written through the Host (/sys/class/net, /proc/net/route,
 * /proc/net/ipv6_route, /proc/net/arp, /sys/kernel/config/netconsole), so tests use a tree.
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
    if (((d & mask) >>> 0) !== net) continue;
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
  const bits = (hex: string) => hex.split('').map((c) => parseInt(c, 16).toString(2).padStart(4, '0')).join('');
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
    if (f.length >= 6 && f[0] === ip && f[5] === dev && f[3] !== '00:00:00:00:00:00' && (parseInt(f[2]!, 16) & 2)) return f[3]!.toLowerCase();
  }
  return null;
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
  if (route && route.iface !== dev) warnings.push(`the routing table sends ${req.remoteIp} through ${route.iface}, not ${dev}: netconsole does no routing, make sure the next hop is reachable on ${dev}`);
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
        `no neighbour entry for ${nextHop} on ${dev}: using broadcast ${BROADCAST} (loads the segment; switches may drop it). ` +
          `Ping ${nextHop} once and run setup again, or give --remote-mac`,
      );
    }
  }

  const attributes: Array<[string, string]> = [
    ['dev_name', dev],
    ['local_port', String(req.localPort)],
    ['remote_port', String(req.remotePort)],
  ];
  if (req.localIp) attributes.push(['local_ip', req.localIp]);
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
  const param = `${flags}${req.localPort}@${req.localIp ?? ''}/${dev},${req.remotePort}@${req.remoteIp}/${mac === BROADCAST ? '' : mac}`;
  return {
    name: req.name,
    dev,
    remoteIp: req.remoteIp,
    remotePort: req.remotePort,
    localPort: req.localPort,
    localIp: req.localIp,
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
      throw new CliError(`cannot write ${k}: ${w.reason}${k === 'enabled' ? ' (see dmesg for netconsole\'s reason)' : ''}`, EXIT.IOERR);
    }
    done.push(`${k} = ${v}`);
  }
  return done;
}
