/** Runs the checks over a host and assembles the report document (schema in docs/check.md). */
import type { Host } from '../host/host.js';
import { CHECKS, type CheckDef } from './checks/index.js';
import { reporter } from './checks/common.js';
import { Facts } from '../host/facts.js';
import { countByStatus, exitCodeForFindings, type Finding, type Status, worstStatus } from './model.js';
import { applyPolicy, type Profile, type WaiverReport } from './policy.js';
import { type DisplayRoot, displayText, Sources, type SourcesOptions } from '../host/sources.js';
import type { Waiver } from './waivers.js';

export const SCHEMA_VERSION = 1;

export interface CheckReport {
  schemaVersion: number;
  generator: { name: 'lantern'; command: 'check'; version: string };
  generatedAt: string;
  host: {
    kind: Host['kind'];
    root: string;
    hostname: string | null;
    kernel: string | null;
    distro: string | null;
    family: string;
    sosVersion: string | null;
  };
  /** Which checks fail and which only warn (policy.ts); `standard` is the checks' own judgement. */
  profile: Profile;
  /** Verdict and exit code leave waived findings out; counts has one entry per status, `waived` included. */
  summary: { verdict: Status; exitCode: 0 | 1 | 2; counts: Record<Status, number>; total: number };
  /** Every waiver given (file and --waive) and what became of it. */
  waivers: WaiverReport[];
  /** Inputs that were present but malformed (counted, skipped). */
  inputProblems: string[];
  findings: Finding[];
}

/** Resolve `--only a,b` against the check ids; a group prefix ("kdump") selects all its checks. */
export function selectChecks(only: string[] | null): { checks: CheckDef[]; unknown: string[] } {
  if (!only || only.length === 0) return { checks: CHECKS, unknown: [] };
  const unknown: string[] = [];
  const chosen = new Set<CheckDef>();
  for (const want of only) {
    const hits = CHECKS.filter((c) => c.id === want || c.id.startsWith(want + '.'));
    if (!hits.length) unknown.push(want);
    for (const h of hits) chosen.add(h);
  }
  return { checks: CHECKS.filter((c) => chosen.has(c)), unknown };
}

export interface RunOptions extends SourcesOptions {
  version?: string;
  now?: Date;
  profile?: Profile;
  waivers?: Waiver[];
  /** An unpacked sosreport tarball: name paths relative to the sosreport, not the temporary directory. */
  display?: DisplayRoot;
}

export function runChecks(host: Host, checks: CheckDef[] = CHECKS, opts: RunOptions = {}): CheckReport {
  const src = new Sources(host, opts);
  return runWith(src, new Facts(src), checks, opts);
}

/**
 * runChecks for the command line: on a live host, the live commands the checks name
 * (CheckDef.commands) are started first, all at once, and the process table they name
 * (CheckDef.processTable) is read while they run: the commands' processes use the second core
 * while this thread reads /proc, instead of this thread waiting on each in turn. Then the checks
 * run as in runChecks, on the data already there. Other roots run no commands: runChecks.
 */
export async function runChecksAhead(host: Host, checks: CheckDef[] = CHECKS, opts: RunOptions = {}): Promise<CheckReport> {
  const src = new Sources(host, opts);
  const facts = new Facts(src);
  if (host.isLive) {
    // zcat of /proc/config.gz only where kernelConfig() would run it (no /boot/config-<release>).
    const ids = checks.flatMap((c) => c.commands ?? []).filter((id) => id !== 'procConfigGz' || facts.needsProcConfigGz());
    const table = checks.map((c) => c.processTable);
    // The process table is read by other threads while this one starts the commands.
    const scan = table.includes('processes') ? facts.prefetchProcesses().catch(() => undefined) : undefined;
    const commands = src.startCommands(ids);
    await scan;
    try {
      if (table.includes('processes')) facts.processes();
      if (table.includes('threads')) facts.threadCount();
    } catch {
      // Read again by the check that asks, which reports the error as its own finding.
    }
    await commands;
  }
  return runWith(src, facts, checks, opts);
}

function runWith(src: Sources, facts: Facts, checks: CheckDef[], opts: RunOptions): CheckReport {
  const host = src.host;
  const raw: Finding[] = [];
  for (const c of checks) {
    try {
      raw.push(c.run(reporter(c), facts));
    } catch (e) {
      // A bug in one check must not hide the others: report it as unknown with the reason.
      raw.push({ id: c.id, title: c.title, status: 'unknown', summary: `internal error in this check: ${(e as Error)?.message ?? String(e)}`, evidence: [], why: '', remedy: null });
    }
  }
  const now = opts.now ?? new Date();
  const profile = opts.profile ?? 'standard';
  const policy = applyPolicy(
    raw,
    profile,
    opts.waivers ?? [],
    CHECKS.map((c) => c.id),
    now,
  );
  const findings = opts.display ? policy.findings.map((f) => displayFinding(f, opts.display!)) : policy.findings;
  const hn = src.get('hostname');
  const sosv = host.kind === 'sosreport' ? src.get('sosVersion') : null;
  const counts = countByStatus(findings);
  const d = facts.distro();
  return {
    schemaVersion: SCHEMA_VERSION,
    generator: { name: 'lantern', command: 'check', version: opts.version ?? 'unknown' },
    generatedAt: now.toISOString(),
    host: {
      kind: host.kind,
      root: opts.display ? opts.display.source : host.root,
      hostname: hn.ok ? hn.text.trim().split('\n')[0]! : null,
      kernel: facts.kernel().k?.raw ?? null,
      distro: d.name,
      family: d.family,
      sosVersion: sosv?.ok ? (/sos(?:report)?[^\n]*?(\d+\.\d+(?:\.\d+)?)/i.exec(sosv.text)?.[1] ?? null) : null,
    },
    profile,
    summary: { verdict: worstStatus(findings.map((f) => f.status)), exitCode: exitCodeForFindings(findings), counts, total: findings.length },
    waivers: policy.waivers,
    inputProblems: [...host.notes, ...src.malformed, ...host.cuts, ...host.refused].map((x) => (opts.display ? displayText(x, opts.display) : x)),
    findings,
  };
}

/** A finding with every path into the temporary directory of an unpacked tarball renamed. */
function displayFinding(f: Finding, d: DisplayRoot): Finding {
  const t = (s: string) => displayText(s, d);
  return {
    ...f,
    summary: t(f.summary),
    evidence: f.evidence.map((e) => ({
      ...e,
      what: t(e.what),
      value: e.value === null ? null : t(e.value),
      path: e.path === null ? null : t(e.path),
      ...(e.reason !== undefined ? { reason: t(e.reason) } : {}),
    })),
  };
}
