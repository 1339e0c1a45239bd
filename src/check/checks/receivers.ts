/**
 * Console receivers configured on this host (the receiving side of console.capture): the sources
 * of `lantern console listen` and the addresses of `lantern netconsole listen`, from their packaged
 * configuration files (the `--config` of packaging/systemd/lantern-{console,netconsole}.service,
 * tested to agree), read through the Host.
 *
 * Only what names a source is read here (a source's type and its connect/listen/path; netconsole's
 * listen); the receivers' own parsers (console/config.ts, netconsole/config.ts) are not imported:
 * check imports no other capability (src/cli/boundaries.test.ts). A file that is not TOML, or a
 * source without a type or an address, is a warn: the receiver would not start with it.
 */
import { parse as parseToml } from 'smol-toml';
import type { CheckDef } from './common.js';
import type { Evidence, Remedy } from '../model.js';
import type { Datum } from '../../host/sources.js';

/** The receivers' packaged configuration files (DEFAULT_CONFIG_PATH of console/config.ts and netconsole/config.ts). */
export const CONSOLE_CONFIG = '/etc/lantern/console.toml';
export const NETCONSOLE_CONFIG = '/etc/lantern/netconsole.toml';
/** Where netconsole listen listens without a listen setting. */
const NETCONSOLE_DEFAULT_LISTEN = '[::]:6666';

/** Each console source type and the setting that says where it reads (docs/console.md, Sources). */
export const SOURCE_WHERE: Readonly<Record<string, string>> = {
  tcp: 'connect',
  'tcp-listen': 'listen',
  udp: 'listen',
  unix: 'path',
  'unix-listen': 'path',
  tty: 'path',
  file: 'path',
};

interface Source {
  /** For the summary: `db2-ilo (tcp 10.1.8.22:7001)`, `udp [::]:6666`. */
  short: string;
  what: string;
  value: string;
}

/** A problem the receiver would refuse to start with, thrown by the readers below. */
class Refused extends Error {}

const isTable = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

function toml(text: string, path: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new Refused(`${path}: not valid TOML: ${(e as Error).message.split('\n')[0]}`);
  }
}

function consoleSources(text: string, path: string): Source[] {
  const doc = toml(text, path);
  const tables = doc['source'];
  if (tables !== undefined && !isTable(tables)) throw new Refused(`${path}: source: expected tables [source.NAME]`);
  const out: Source[] = [];
  for (const [name, raw] of Object.entries(tables ?? {})) {
    if (!isTable(raw)) throw new Refused(`${path}: source.${name}: expected a table [source.${name}]`);
    const type = typeof raw['type'] === 'string' ? raw['type'] : '';
    const key = SOURCE_WHERE[type];
    if (!key) throw new Refused(`${path}: source ${name}: type ${JSON.stringify(raw['type'] ?? null)}: expected one of ${Object.keys(SOURCE_WHERE).join(', ')}`);
    const where = raw[key];
    if (typeof where !== 'string' || where === '') throw new Refused(`${path}: source ${name}: a ${type} source needs ${key} = "…"`);
    out.push({ short: `${name} (${type} ${where})`, what: `source ${name}`, value: `${type}, ${key} ${where}` });
  }
  if (!out.length) throw new Refused(`${path}: no [source.NAME] table: the receiver has nothing to read`);
  return out;
}

function netconsoleListen(text: string, path: string): Source[] {
  const doc = toml(text, path);
  const nested = doc['netconsole'];
  const v = (isTable(nested) ? nested : doc)['listen'];
  const list = v === undefined ? [NETCONSOLE_DEFAULT_LISTEN] : Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(',').map((s) => s.trim()) : null;
  if (!list || !list.filter(Boolean).length) throw new Refused(`${path}: listen: expected one or more addresses, got ${JSON.stringify(v)}`);
  return list.filter(Boolean).map((l) => ({ short: `udp ${l}`, what: 'listen', value: `udp ${l}${v === undefined ? ' (the default)' : ''}` }));
}

const RECEIVERS = [
  { command: 'lantern console', config: CONSOLE_CONFIG, unit: 'lantern-console.service', sources: consoleSources },
  { command: 'lantern netconsole', config: NETCONSOLE_CONFIG, unit: 'lantern-netconsole.service', sources: netconsoleListen },
];

const absent = (d: Datum): boolean => !d.ok && (d.notCollected || /does not exist/.test(d.reason));

export const consoleReceivers: CheckDef = {
  id: 'console.receivers',
  title: 'console sources this host receives (lantern console, netconsole receiver)',
  why: "A receiving host (a console server, a monitoring box) keeps another server's last words only from the consoles it is configured to capture: the list shows which, so a server missing from it is noticed before its crash, not after.",
  run(r, f) {
    const ev: Evidence[] = [];
    const found: string[] = [];
    const broken: string[] = [];
    const unreadable: string[] = [];
    const notes: string[] = [];
    for (const rx of RECEIVERS) {
      const d = f.src.file(rx.config);
      if (!d.ok) {
        ev.push(f.src.evidence(`${rx.command} configuration`, d));
        if (!absent(d)) unreadable.push(`${rx.config}: ${d.reason}`);
        continue;
      }
      let sources: Source[];
      try {
        sources = rx.sources(d.text, rx.config);
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
        broken.push(`${rx.command} would not start: ${e.message}`);
        ev.push({ what: `${rx.command} configuration`, value: null, path: d.path, reason: e.message });
        continue;
      }
      for (const s of sources) ev.push({ what: `${rx.command} ${s.what}`, value: s.value, path: d.path });
      const svc = f.service([rx.unit], []);
      ev.push(...svc.evidence);
      if (svc.enabled === false) notes.push(`${rx.unit} is not enabled: nothing starts it at boot`);
      found.push(`${rx.command}: ${sources.map((s) => s.short).join(', ')}`);
    }
    const note = notes.length ? ` (${notes.join('; ')})` : '';
    if (broken.length) {
      const remedy: Remedy = {
        kind: 'file',
        text: 'Correct the configuration file (`lantern console listen -c FILE` or `lantern netconsole listen -c FILE` names every problem it has, one at a time).',
        commands: [],
        safe: false,
      };
      return r.warn(`${broken.join('; ')}${found.length ? `; ${found.join('; ')}` : ''}${note}`, ev, remedy);
    }
    if (found.length) return r.ok(`${found.join('; ')}${note}`, ev);
    if (unreadable.length) return r.unknown(`cannot read ${unreadable.join('; ')}`, ev);
    // A snapshot without any of /etc says nothing about receivers; one with /etc but no /etc/lantern
    // files is taken as a host without them (sos has no plugin that must collect them).
    const snapshot = f.src.kind === 'sosreport' ? 'sosreport' : 'tree';
    if (f.src.kind !== 'live' && !(f.src.list('/etc') ?? []).length) return r.unknown(`/etc not collected in this ${snapshot}: cannot tell whether a console receiver is configured`, ev);
    const where = f.src.kind === 'live' ? '' : ` (in this ${snapshot}: not collected, or not configured)`;
    return r.info(`no console receiver configured (neither ${CONSOLE_CONFIG} nor ${NETCONSOLE_CONFIG}): not a receiving host${where}`, ev);
  },
};
