/**
 * `[access]` in record.toml and the record flags (--access, --access-log, --access-backend), and
 * the `access` lines of `lantern record status` (pure).
 */
import { CliError, EXIT } from '../common/exit.js';
import { accessSources } from './backend.js';
import { DEFAULT_ACCESS, ENV_SOURCES, type AccessOptions, type AccessStatus, type EnvSourceChoice } from './tracker.js';

const ACCESS_KEYS = ['enabled', 'backend', 'per_domain', 'env', 'env_source', 'max_queued', 'getattr'];

export function accessOptions(cfg: Record<string, unknown> | undefined, flags: { access?: boolean; accessLog?: boolean; accessBackend?: string }): AccessOptions | null {
  const c = cfg ?? {};
  if (typeof c !== 'object' || Array.isArray(c)) throw new CliError('config: [access] must be a table', EXIT.DATAERR);
  for (const k of Object.keys(c)) if (!ACCESS_KEYS.includes(k)) throw new CliError(`config: unknown key [access] ${k} (expected one of ${ACCESS_KEYS.join(', ')})`, EXIT.DATAERR);
  for (const k of ['enabled', 'env', 'getattr']) if (c[k] !== undefined && typeof c[k] !== 'boolean') throw new CliError(`config: [access] ${k} must be true or false`, EXIT.DATAERR);
  const on = flags.access === true || flags.accessLog === true || flags.accessBackend !== undefined || c.enabled === true;
  if (!on || flags.access === false) return null;
  const o: AccessOptions = { ...DEFAULT_ACCESS };
  const backend = flags.accessBackend ?? c.backend;
  if (backend !== undefined) {
    if (typeof backend !== 'string' || !/^[a-z0-9_-]+(,[a-z0-9_-]+)*$/.test(backend)) {
      throw new CliError(`bad access backend ${JSON.stringify(backend)}: auto, or names such as fanotify,syscalls`, flags.accessBackend !== undefined ? EXIT.USAGE : EXIT.DATAERR);
    }
    const known = accessSources().map((d) => d.name);
    const unknown = backend === 'auto' ? [] : backend.split(',').filter((n) => !known.includes(n));
    if (unknown.length) throw new CliError(`unknown access backend ${unknown.join(', ')} (one of: auto, ${known.join(', ')})`, flags.accessBackend !== undefined ? EXIT.USAGE : EXIT.DATAERR);
    o.backend = backend;
  }
  for (const [key, field, min, max] of [
    ['per_domain', 'perDomain', 1, 10_000_000],
    ['max_queued', 'maxQueued', 1000, 100_000_000],
  ] as const) {
    const v = c[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new CliError(`config: [access] ${key} must be an integer from ${min} to ${max}`, EXIT.DATAERR);
    o[field] = v;
  }
  if (c.env === false) o.env = false;
  if (c.env_source !== undefined) {
    if (typeof c.env_source !== 'string' || !(ENV_SOURCES as readonly string[]).includes(c.env_source))
      throw new CliError(`config: [access] env_source must be one of ${ENV_SOURCES.join(', ')}`, EXIT.DATAERR);
    o.envSource = c.env_source as EnvSourceChoice;
  }
  if (c.getattr === true) o.getattr = true;
  return o;
}

/** The `access` lines of `record status`: which backend runs, what it cannot see, the counters. */
export function accessStatusText(a: AccessStatus): string {
  const lines: string[] = [];
  for (const b of a.backends) {
    if (!b.running) lines.push(`${b.name}: not running (${b.error ?? '?'})`);
    else lines.push(`${b.name}: running; lost ${b.lost ?? 0}${b.blind?.length ? `; cannot see: ${b.blind.join('; ')}` : ''}`);
  }
  lines.push(
    `${a.received} accesses received: ${a.attributed} attributed (${a.added} new lines, ${a.merged} repeats, ${a.overflow} over the per-domain limit of ${a.perDomain}), ${a.waiting} waiting, ${a.queueDropped} dropped over the queue bound; ${a.unknownPid} of unknown pid`,
  );
  lines.push(`${a.entries} lines in ${a.domains} domains; ${a.storeErrors} failed store writes`);
  lines.push(`env names: ${a.envSource}`);
  const k = a.envKernelCounters;
  lines.push(
    `${a.envExecs} execs: env read at ${a.envRead} (${a.envKernel} in the kernel, ${a.envTruncated} of them cut at the cap; ${a.envProc} from /proc), ${a.envMissed} gone before, ${a.envWaiting} waiting` +
      (k ? `; kernel: ${k.seen} execs seen, ${k.submitted} records, ${k.lost} lost (ring full); ${a.envPending} records pending, ${a.envUnmatched} without an exec record` : ''),
  );
  const d = Object.entries(a.detail).filter(([, v]) => v);
  if (d.length) lines.push(d.map(([k, v]) => `${k} ${v}`).join(', '));
  return lines.join('\n           ');
}
