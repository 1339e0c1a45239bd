/** `lantern check`: is this server ready to be troubleshot? */
import { type Command, Option } from 'commander';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError, EXIT } from '../common/exit.js';
import { printJson } from '../common/json.js';
import { Host } from '../host/host.js';
import { maxUnpackedOption, unpackLimitsFrom } from '../host/options.js';
import { CHECKS } from './checks/index.js';
import { PROFILES, type Profile } from './policy.js';
import { runChecksAhead, selectChecks } from './run.js';
import { unpackedDisplay } from '../host/sources.js';
import type { Waiver } from './waivers.js';

// Loaded only when used (start-up is a third of a live run): the TOML parser for waivers, the
// table and colour modules for human output. `check --json` without waivers needs neither.
const waiverModule = () => import('./waivers.js');
const renderModule = () => Promise.all([import('./render.js'), import('../common/term.js')]);

/** The waiver file read (through the Host, so a --root tree brings its own) when --waivers is not given. */
export const DEFAULT_WAIVERS = '/etc/lantern/check-waivers.toml';

interface CheckOptions {
  root?: string;
  sosreport?: string;
  maxUnpacked?: number;
  json?: boolean;
  only?: string;
  fixScript?: boolean;
  commands?: boolean;
  verbose?: boolean;
  profile?: Profile;
  waive?: string[];
  /** A path, or false for --no-waivers. */
  waivers?: string | false;
}

/**
 * Read the waiver file: --waivers FILE (a path on this machine), else DEFAULT_WAIVERS under the
 * host's root when present. A file that is there but cannot be read is an error, not "no
 * waivers": that would turn accepted findings back into failures without saying why.
 */
async function loadWaiverFile(host: Host, opt: string | false | undefined): Promise<Waiver[]> {
  if (opt === false) return [];
  const explicit = opt !== undefined;
  const src = explicit ? new Host({ root: '/' }) : host;
  const r = src.readText(explicit ? resolve(opt) : DEFAULT_WAIVERS);
  if (!r.ok) {
    if (!explicit && (r.code === 'ENOENT' || r.code === 'NOTCOLLECTED')) return [];
    throw new CliError(`waiver file ${r.reason}`, EXIT.NOINPUT);
  }
  const { parseWaiverFile, WaiverFileError } = await waiverModule();
  try {
    return parseWaiverFile(r.text, r.path);
  } catch (e) {
    if (e instanceof WaiverFileError) throw new CliError(`waiver file ${e.message}`, EXIT.DATAERR);
    throw e;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function register(program: Command): void {
  program
    .command('check')
    .description('audit whether this host (or a copied root, or a sosreport) will keep the evidence of a panic, hang, reboot or OOM kill')
    .option('--root <dir>', 'audit a copied root tree instead of this host')
    .option('--sosreport <path>', 'audit a sosreport: its directory, or its .tar.xz/.tar.gz/.tar.bz2/.tar.zst tarball (unpacked to a temporary directory)')
    .addOption(maxUnpackedOption())
    .option('--json', 'print the report as one JSON document (schema: docs/check.md)')
    .option('--only <ids>', 'run only these checks (comma-separated ids or groups, e.g. kdump,sysrq.mask)')
    .option('--fix-script', 'print an idempotent shell script with the safe remedies (never applied by lantern)')
    .option('-v, --verbose', 'human output: also print why each check matters and the evidence it read')
    .option('--no-commands', 'on a live host, read files only (do not run dmesg, systemctl, rpm, auditctl, zcat)')
    .addOption(
      new Option('--profile <name>', 'which checks fail and which only warn: minimal (only kdump, sysrq, console.capture, hung can fail), standard, strict (every warn fails)')
        .choices([...PROFILES])
        .default('standard'),
    )
    .option('--waive <id[=reason]>', 'accept the findings of this check id or group (repeatable): shown as waived, not counted in the exit status', (v: string, prev: string[] = []) => [...prev, v])
    .option('--waivers <file>', `waiver file (TOML, docs/check.md); default ${DEFAULT_WAIVERS} under the root, when present`)
    .option('--no-waivers', 'ignore the waiver file (--waive still applies)')
    .addHelpText(
      'after',
      `
Checks: ${CHECKS.map((c) => c.id).join(', ')}

Exit status (waived findings do not count): 0 nothing at warn or fail, 1 at least one warn,
2 at least one fail, 64 usage error, 65 the waiver file is not valid, 66 the root is not a
host root or sosreport, or the waiver file cannot be read.`,
    )
    .action(async (opts: CheckOptions) => {
      if (opts.root !== undefined && opts.sosreport !== undefined) throw new CliError('--root and --sosreport are mutually exclusive', EXIT.USAGE);
      if (opts.json && opts.fixScript) throw new CliError('--json and --fix-script are mutually exclusive', EXIT.USAGE);
      const only =
        opts.only !== undefined
          ? opts.only
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : null;
      if (only !== null && only.length === 0) throw new CliError('--only needs at least one check id', EXIT.USAGE);
      const sel = selectChecks(only);
      if (sel.unknown.length) throw new CliError(`unknown check id(s): ${sel.unknown.join(', ')} (known: ${CHECKS.map((c) => c.id).join(', ')})`, EXIT.USAGE);
      const host = Host.open({ root: opts.sosreport ?? opts.root ?? '/', requireSosreport: opts.sosreport !== undefined, unpackLimits: unpackLimitsFrom(opts.maxUnpacked) });
      // A copied root has etc/ or proc/; a lone sys/ (e.g. --root /proc) is not a host.
      if (host.kind === 'tree' && !host.isDirectory('/etc') && !host.isDirectory('/proc')) {
        throw new CliError(`${host.root}: not a host root or sosreport (no etc/ or proc/ inside)`, EXIT.NOINPUT);
      }
      let cliWaivers: Waiver[] = [];
      if (opts.waive?.length) {
        const { parseWaiveArg } = await waiverModule();
        try {
          cliWaivers = opts.waive.map(parseWaiveArg);
        } catch (e) {
          throw new CliError((e as Error).message, EXIT.USAGE);
        }
      }
      const waivers = [...cliWaivers, ...(await loadWaiverFile(host, opts.waivers))];
      // A tarball was unpacked into a temporary directory that is gone after the run: name paths after the sosreport.
      const display = opts.sosreport !== undefined && isFile(opts.sosreport) ? unpackedDisplay(host.root, opts.sosreport) : undefined;
      const report = await runChecksAhead(host, sel.checks, { version: version(), commands: opts.commands !== false, profile: opts.profile ?? 'standard', waivers, display });
      if (opts.json) printJson(report);
      else {
        const [{ renderFixScript, renderHuman }, { paint }] = await renderModule();
        if (opts.fixScript) process.stdout.write(renderFixScript(report));
        else process.stdout.write(renderHuman(report, paint(process.stdout), process.stdout.columns ?? 120, opts.verbose === true));
      }
      process.exitCode = report.summary.exitCode;
    });
}
