/**
 * `lantern access [DOMAIN-PATTERN]`, `lantern access files-of PROGRAM`, `lantern access who-uses
 * PATH`: read-only questions over the access lists `lantern record --access` keeps in its store.
 */
import type { Command } from 'commander';
import { CliError, EXIT } from '../common/exit.js';
import { printJson } from '../common/json.js';
import { queryStore, storeOption } from '../record/cli.js';
import { domainNames, matchDomains } from '../record/query.js';
import { hasAccessTables, readAccess, readOverflow, toEntry } from '../record/store/access.js';
import type { Store } from '../record/store/store.js';
import { filesOf, whoUses } from './query.js';
import { isoSecond, renderDomain, sortEntries, type DomainList } from './render.js';

/** Every domain with an access list (or those matching the pattern), by name. */
function loadLists(store: Store, pattern?: string): DomainList[] {
  if (!hasAccessTables(store.db)) throw new CliError(`store ${store.path} has no access lists (record with lantern record --access)`, EXIT.DATAERR);
  const names = domainNames(store);
  const ids = pattern ? matchDomains(names, pattern) : undefined;
  const rows = readAccess(store.db, ids);
  const overflow = readOverflow(store.db);
  const byId = new Map<number, DomainList>();
  const nameOf = (id: number) => names.get(id) ?? store.name(id);
  for (const r of rows) {
    let d = byId.get(r.domain_id);
    if (!d) byId.set(r.domain_id, (d = { domain: nameOf(r.domain_id), entries: [], overflow: overflow.get(r.domain_id) ?? 0 }));
    d.entries.push(toEntry(r));
  }
  for (const [id, n] of overflow) if (!byId.has(id) && (!ids || ids.includes(id))) byId.set(id, { domain: nameOf(id), entries: [], overflow: n });
  return [...byId.values()].sort((a, b) => a.domain.localeCompare(b.domain));
}

function entryJson(e: { line: string; errno: string; count: number; firstUs: number; lastUs: number }) {
  return { line: e.line, ...(e.errno ? { errno: e.errno } : {}), count: e.count, first: isoSecond(e.firstUs), last: isoSecond(e.lastUs) };
}

/** A subcommand's --store, or its parent's when only that one was given (`access --store X who-uses P`). */
function storeOf(cmd: Command): string {
  const parent = cmd.parent!;
  return cmd.getOptionValueSource('store') === 'default' && parent.getOptionValueSource('store') !== 'default' ? (parent.opts().store as string) : (cmd.opts().store as string);
}

/** --json given to the subcommand or to `access` before it. */
function jsonOf(cmd: Command): boolean {
  return Boolean(cmd.opts().json || cmd.parent!.opts().json);
}

export function register(program: Command): void {
  const access = program
    .command('access')
    .description("per-domain access lists kept by lantern record --access, in TOMOYO's layout (files, failed operations with errno, env names)")
    .argument('[domain-pattern]', 'a domain and its subtree ("<kernel> /usr/sbin/sshd"), or a glob over the full name ("*sshd*")')
    .addOption(storeOption())
    .option('--failed', 'the failed operations, with errno, count, first and last time')
    .option('--json', 'machine-readable output')
    // `access who-uses P --store X`: options after a subcommand belong to the subcommand.
    .enablePositionalOptions()
    .addHelpText('after', '\nAlso: lantern access files-of PROGRAM (what to collect), lantern access who-uses PATH (who reads or writes it).')
    .action((pattern: string | undefined, opts) => {
      queryStore(opts.store, (store) => {
        const lists = loadLists(store, pattern).filter((d) => d.overflow > 0 || d.entries.some((e) => (opts.failed ? e.errno !== '' : e.errno === '')));
        if (pattern && lists.length === 0) throw new CliError(`no access list for a domain matching ${JSON.stringify(pattern)} in ${store.path}`, EXIT.DATAERR);
        if (opts.json) {
          printJson(
            lists.map((d) => ({
              domain: d.domain,
              overflow: d.overflow,
              accesses: sortEntries(d.entries.filter((e) => (opts.failed ? e.errno !== '' : e.errno === ''))).map(entryJson),
            })),
          );
        } else {
          const out: string[] = [];
          for (const d of lists) out.push(...renderDomain(d, Boolean(opts.failed)), '');
          process.stdout.write(out.join('\n'));
        }
        return lists.length > 0;
      });
    });

  access
    .command('files-of')
    .description('which files a program reads, writes, creates, … over every history it ran under (what to collect, what an update touches)')
    .argument('<program>', 'the program: full path (/usr/sbin/sshd) or base name (sshd)')
    .addOption(storeOption())
    .option('--json', 'machine-readable output')
    .action((prog: string, opts, cmd: Command) => {
      queryStore(storeOf(cmd), (store) => {
        const f = filesOf(prog, loadLists(store));
        if (f.domains.length === 0) throw new CliError(`no access list for a domain running ${prog} in ${store.path}`, EXIT.DATAERR);
        if (jsonOf(cmd)) printJson(f);
        else {
          const out = [`${prog}: ${f.domains.length} domain${f.domains.length === 1 ? '' : 's'}`, ...f.domains.map((d) => `  ${d}`)];
          for (const [op, paths] of Object.entries(f.byOp)) out.push(`${op}:`, ...paths.map((p) => `  ${p}`));
          process.stdout.write(out.join('\n') + '\n');
        }
        return true;
      });
    });

  access
    .command('who-uses')
    .description('which domains read, write, … a path, failures included (a glob with * and ? matches many)')
    .argument('<path>', 'absolute path as listed (proc:/self/… for procfs), or a glob')
    .addOption(storeOption())
    .option('--json', 'machine-readable output')
    .action((path: string, opts, cmd: Command) => {
      queryStore(storeOf(cmd), (store) => {
        const rows = whoUses(path, loadLists(store));
        if (jsonOf(cmd)) printJson(rows.map((r) => ({ domain: r.domain, ...entryJson(r) })));
        else {
          const out: string[] = [];
          let last = '';
          for (const r of rows) {
            if (r.domain !== last) out.push(r.domain);
            last = r.domain;
            out.push(`  ${r.line}${r.errno ? ` ${r.errno}` : ''}  (${r.count}×, last ${isoSecond(r.lastUs)})`);
          }
          if (!rows.length) out.push(`no domain uses ${path}`);
          process.stdout.write(out.join('\n') + '\n');
        }
        return true;
      });
    });
}
