/**
 * Console receivers configured on this host (the receiving side of console.capture): the sources
 * of `lantern console listen` and the addresses of `lantern netconsole listen`, from their packaged
 * configuration files, read through the Host and parsed by the receivers' own parsers (so a file
 * the receiver would refuse is reported with the receiver's own message).
 */
import type { CheckDef } from './common.js';
import type { Evidence, Remedy } from '../model.js';
import type { Datum } from '../../host/sources.js';
import { CliError } from '../../common/exit.js';
import { DEFAULT_CONFIG_PATH as CONSOLE_CONFIG, describeSource, parseConsoleToml, resolveConsoleConfig, sourceWhere } from '../../console/config.js';
import { DEFAULT_CONFIG_PATH as NETCONSOLE_CONFIG, parseConfigToml, resolveConfig, type ListenAddress } from '../../netconsole/config.js';

interface Receiver {
  /** The command, as the summary names it. */
  command: string;
  config: string;
  unit: string;
  /** What the configuration says the receiver reads. Throws CliError as the receiver would. */
  sources(text: string, path: string): Source[];
}

interface Source {
  /** `db2-ilo: tcp 10.1.8.22:7001`-style text for the summary (name, type, address or path). */
  short: string;
  /** The evidence: what and its value in words. */
  what: string;
  value: string;
}

const listenText = (l: ListenAddress): string => `${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`;

const RECEIVERS: Receiver[] = [
  {
    command: 'lantern console',
    config: CONSOLE_CONFIG,
    unit: 'lantern-console.service',
    sources: (text, path) =>
      resolveConsoleConfig(parseConsoleToml(text, path), {}, path).sources.map((s) => ({ short: `${s.name} (${s.type} ${sourceWhere(s)})`, what: `source ${s.name}`, value: describeSource(s) })),
  },
  {
    command: 'lantern netconsole',
    config: NETCONSOLE_CONFIG,
    unit: 'lantern-netconsole.service',
    sources: (text, path) => resolveConfig(parseConfigToml(text, path)).listen.map((l) => ({ short: `udp ${listenText(l)}`, what: 'listen', value: `udp ${listenText(l)}` })),
  },
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
        if (!(e instanceof CliError)) throw e;
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
        text: 'Correct the configuration file; the receiver prints the same message and exits (64/65) until it is fixed.',
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
