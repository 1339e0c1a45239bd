/** `lantern baseline save|list|show`, `lantern diff` and `lantern report`. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from '../common/exit.js';
import { printJson } from '../common/json.js';
import { writeOutput } from '../common/output.js';
import { paint } from '../common/term.js';
import { Host } from '../host/host.js';
import { maxUnpackedOption, unpackLimitsFrom } from '../host/options.js';
import { collectSnapshot } from './collect.js';
import { diffSnapshots } from './diff.js';
import { SECTION_NAMES, type Snapshot } from './model.js';
import { renderDiff, renderList, renderSectionData, renderShow, sectionByName } from './render.js';
import { analyzeLogs, buildReport, REPORT_FORMATS, type ReportFormat, renderReport, unreadInputs } from './report.js';
import { readStore } from './report-store.js';
import { DEFAULT_BASELINE_DIR, listSnapshots, loadSnapshot, pruneSnapshots, resolveBaseline, saveSnapshot } from './store.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

interface SourceOptions {
  root?: string;
  sosreport?: string;
  maxUnpacked?: number;
  commands?: boolean;
}

/** Open the host named by --root / --sosreport (live `/` otherwise), as `lantern check` does. */
function openHost(opts: SourceOptions): Host {
  if (opts.root !== undefined && opts.sosreport !== undefined) throw new CliError('--root and --sosreport are mutually exclusive', EXIT.USAGE);
  const host = Host.open({ root: opts.sosreport ?? opts.root ?? '/', requireSosreport: opts.sosreport !== undefined, unpackLimits: unpackLimitsFrom(opts.maxUnpacked) });
  if (host.kind === 'tree' && !host.isDirectory('/etc') && !host.isDirectory('/proc')) {
    throw new CliError(`${host.root}: not a host root or sosreport (no etc/ or proc/ inside)`, EXIT.NOINPUT);
  }
  return host;
}

function collect(opts: SourceOptions): Snapshot {
  return collectSnapshot(openHost(opts), { commands: opts.commands !== false, version: version() });
}

/** Commander collector for a repeatable option. */
const repeatable = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  const baseline = program.command('baseline').description('record the normal state of a host (sysctls, cmdline, modules, packages, units, mounts, readiness) to compare later');

  baseline
    .command('save')
    .description('collect a state snapshot of this host (or a copied root, or a sosreport) and write it as JSON')
    .option('--root <dir>', 'snapshot a copied root tree instead of this host')
    .option('--sosreport <path>', 'snapshot a sosreport (directory, or .tar.xz/.tar.gz/... tarball)')
    .addOption(maxUnpackedOption())
    .option('--out <file>', 'write the snapshot to this file')
    .option('--dir <dir>', 'without --out: write <dir>/<host>-<UTC time>.json (created if missing)', DEFAULT_BASELINE_DIR)
    .option('--json', 'also print the snapshot on stdout')
    .option('--no-commands', 'on a live host, read files only (no rpm -qa, no dmesg/systemctl for the checks); on a copied tree, no rpm --dbpath')
    .addHelpText('after', '\nExit status: 0 saved, 64 usage error, 66 the root is not a host root or sosreport, 74 cannot write.')
    .action((opts: SourceOptions & { out?: string; dir: string; json?: boolean }) => {
      const s = collect(opts);
      const path = saveSnapshot(s, opts.out, opts.dir);
      if (opts.json) printJson(s);
      else {
        const unknown = Object.entries(s.sections)
          .filter(([, v]) => v.status !== 'ok')
          .map(([k]) => k);
        process.stdout.write(`saved ${path}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}\n`);
      }
    });

  baseline
    .command('list')
    .description('list the saved snapshots, oldest first')
    .option('--dir <dir>', 'where to look', DEFAULT_BASELINE_DIR)
    .option('--json', 'print the list as JSON')
    .action((opts: { dir: string; json?: boolean }) => {
      const r = listSnapshots(opts.dir);
      if (opts.json) printJson({ dir: opts.dir, ...r });
      else process.stdout.write(renderList(opts.dir, r.snapshots, r.skipped, paint(process.stdout)));
    });

  baseline
    .command('prune')
    .description('delete old snapshots, keeping the newest N of each host (only files that are lantern snapshots)')
    .requiredOption('--keep <n>', 'how many snapshots of each host to keep')
    .option('--dir <dir>', 'the snapshot directory', DEFAULT_BASELINE_DIR)
    .option('--dry-run', 'print what would be deleted, delete nothing')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit status: 0 done, 64 usage error, 66 cannot list the directory, 74 cannot delete a file.')
    .action((opts: { keep: string; dir: string; dryRun?: boolean; json?: boolean }) => {
      const keep = Number(opts.keep);
      if (!Number.isInteger(keep) || keep < 1) throw new CliError(`--keep must be a whole number >= 1, not ${JSON.stringify(opts.keep)}`, EXIT.USAGE);
      const r = pruneSnapshots(opts.dir, keep, opts.dryRun === true);
      if (opts.json) printJson({ dir: opts.dir, dryRun: opts.dryRun === true, ...r });
      else {
        const verb = opts.dryRun ? 'would delete' : 'deleted';
        for (const f of r.removed) process.stdout.write(`${verb} ${f}\n`);
        process.stdout.write(`${r.removed.length} ${verb}, ${r.kept} kept${r.skipped.length ? `, ${r.skipped.length} file(s) not snapshots left alone` : ''}\n`);
      }
    });

  baseline
    .command('show')
    .description('summarise a saved snapshot (each section, where it came from, or why it is unknown)')
    .argument('<file>', 'snapshot JSON file')
    .option('--json', 'print the whole snapshot (or, with --section, that section)')
    .option('--section <name>', `print one section's data, one item a line (${SECTION_NAMES.join(', ')})`)
    .addHelpText('after', '\nExit status: 0 shown, 64 unknown section, 65 not a snapshot, 66 cannot read the file.')
    .action((file: string, opts: { json?: boolean; section?: string }) => {
      const section = opts.section !== undefined ? sectionByName(opts.section) : null;
      if (opts.section !== undefined && !section) throw new CliError(`unknown section ${JSON.stringify(opts.section)} (known: ${SECTION_NAMES.join(', ')})`, EXIT.USAGE);
      const s = loadSnapshot(file);
      if (section) {
        if (opts.json) printJson(s.sections[section]);
        else process.stdout.write(renderSectionData(s, section));
      } else if (opts.json) printJson(s);
      else process.stdout.write(renderShow(s, paint(process.stdout)));
    });

  program
    .command('diff')
    .description('compare a saved baseline with another snapshot, or with this host / a root / a sosreport now')
    .argument('<baseline>', 'baseline snapshot JSON file, or a directory: its newest snapshot of the same host')
    .argument('[current]', 'snapshot JSON file to compare with (default: collect now)')
    .option('--root <dir>', 'compare with a copied root tree')
    .option('--sosreport <path>', 'compare with a sosreport, directory or tarball (e.g. taken during the incident)')
    .addOption(maxUnpackedOption())
    .option('--ignore <glob>', 'hide changes whose key matches (repeatable); "section:glob" limits it, e.g. packages:linux-image-*', repeatable, [])
    .option('--no-builtin-ignore', 'also show the volatile sysctls (kernel.random.*, fs.dentry-state, ...)')
    .option('--json', 'print the comparison as one JSON document')
    .option('--limit <n>', 'human output: at most this many changes per section (0: all)', '50')
    .option('--no-commands', 'when collecting from the live host, read files only')
    .addHelpText(
      'after',
      `
Exit status: 0 no differences, 1 differences found, 2 a readiness finding became fail,
64 usage error, 65 a file is not a snapshot, 66 cannot read an input.`,
    )
    .action((basePath: string, curPath: string | undefined, opts: SourceOptions & { ignore: string[]; builtinIgnore?: boolean; json?: boolean; limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 0) throw new CliError(`--limit must be a whole number >= 0, not ${JSON.stringify(opts.limit)}`, EXIT.USAGE);
      if (curPath !== undefined && (opts.root !== undefined || opts.sosreport !== undefined)) throw new CliError('give either a CURRENT snapshot file or --root/--sosreport, not both', EXIT.USAGE);
      const cur = curPath !== undefined ? loadSnapshot(curPath) : collect(opts);
      const base = resolveBaseline(basePath, cur.host.name);
      const d = diffSnapshots(base.snapshot, cur, { ignore: opts.ignore, builtinIgnore: opts.builtinIgnore !== false });
      if (opts.json) printJson({ ...d, baselineFile: base.file });
      else process.stdout.write((base.file !== basePath ? `baseline file ${base.file}\n` : '') + renderDiff(d, paint(process.stdout), limit));
      process.exitCode = d.summary.exitCode;
    });

  program
    .command('report')
    .description('write a readable document for whoever must act: host summary, kernel incidents in logs, deaths in a recorder store, readiness findings needing action, differences from a baseline')
    .option('--root <dir>', 'report on a copied root tree')
    .option('--sosreport <path>', 'report on a sosreport (directory or tarball)')
    .addOption(maxUnpackedOption())
    .option('--snapshot <file>', 'report on a saved snapshot instead of collecting')
    .option('--baseline <file>', 'add the differences from this baseline snapshot (or the newest of this host in a directory)')
    .option('--logs <path...>', 'kernel logs (files or directories, as for lantern analyze) whose incidents go into the report')
    .option('--store <path>', "the recorder's store (lantern record): adds signal deaths, OOM kills, hung-task records and the domains involved")
    .option('--format <fmt>', `output format: ${REPORT_FORMATS.join(', ')}`, 'md')
    .option('--out <file>', 'write the report here instead of stdout')
    .option('--ignore <glob>', 'as for diff (repeatable)', repeatable, [])
    .option('--no-commands', 'when collecting from the live host, read files only')
    .addHelpText(
      'after',
      `
Exit status: 0 written (log inputs that could not be read are named first, in "At a glance"),
64 usage error, 65 a file is not a snapshot or the store is damaged, 66 cannot read an input:
the snapshot, the baseline, the store, or every one of the --logs inputs; 74 cannot write.`,
    )
    .action(async (opts: SourceOptions & { snapshot?: string; baseline?: string; logs?: string[]; store?: string; format: string; out?: string; ignore: string[] }) => {
      if (!(REPORT_FORMATS as readonly string[]).includes(opts.format)) throw new CliError(`--format must be one of ${REPORT_FORMATS.join(', ')}`, EXIT.USAGE);
      if (opts.snapshot !== undefined && (opts.root !== undefined || opts.sosreport !== undefined)) throw new CliError('--snapshot and --root/--sosreport are mutually exclusive', EXIT.USAGE);
      const cur = opts.snapshot !== undefined ? loadSnapshot(opts.snapshot) : collect(opts);
      const base = opts.baseline !== undefined ? resolveBaseline(opts.baseline, cur.host.name).snapshot : null;
      const diff = base ? diffSnapshots(base, cur, { ignore: opts.ignore }) : null;
      const logs = await analyzeLogs(opts.logs ?? []);
      // With nothing read, a page saying "no incident" would be a clean bill nobody earned.
      if (logs && logs.inputs.length === unreadInputs(logs).length) {
        throw new CliError(`none of the --logs inputs could be read: ${unreadInputs(logs).join(', ') || 'no files found'}`, EXIT.NOINPUT);
      }
      const store = opts.store !== undefined ? readStore(opts.store) : null;
      const doc = buildReport({ snapshot: cur, baseline: base, diff, logs, store, now: new Date() });
      const text = renderReport(doc, opts.format as ReportFormat);
      if (opts.out === undefined) process.stdout.write(text);
      else {
        writeOutput(opts.out, text, { mode: 0o640 });
        process.stderr.write(`wrote ${opts.out}\n`);
      }
    });
}
