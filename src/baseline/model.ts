/**
 * The state snapshot model of `lantern baseline`: what one host looked like at one moment.
 * Pure types and helpers; no I/O. The JSON form is documented in docs/baseline.md.
 */
import type { CheckReport } from '../check/run.js';
import type { HostKind } from '../host/host.js';

export const SNAPSHOT_SCHEMA_VERSION = 1;

/**
 * One datum of the snapshot: either read (with every path or command it came from) or
 * unknown with the reason, never silently absent.
 */
export type Section<T> = { status: 'ok'; sources: string[]; data: T; notes?: string[] } | { status: 'unknown'; reason: string; tried: string[] };

export interface Mount {
  device: string;
  mountpoint: string;
  fstype: string;
  options: string;
}

export interface OomExempt {
  comm: string;
  pid: number;
  /** oom_score_adj -1000 (or the legacy oom_adj -17). */
  value: number;
}

/** How a unit is masked: "masked" (/etc, /usr/lib) or "masked-runtime" (/run: until reboot). */
export type MaskState = 'masked' | 'masked-runtime';

/**
 * Unit and service start states. `masked` and `sysv` were added after the first snapshots:
 * absent means "not recorded" (an older lantern, or a sosreport that did not collect them),
 * never "none"; an empty record means "none".
 */
export interface Units {
  /** Enabled unit -> the targets/units that want it (empty when only a listing said so). */
  enabled: Record<string, string[]>;
  /** Masked unit -> how (a symlink to /dev/null, or systemctl list-unit-files). */
  masked?: Record<string, MaskState>;
  /** SysV init script -> the runlevels with an S (start) link ("0"-"6", "S" for Debian's rcS.d). */
  sysv?: Record<string, string[]>;
}

export interface Sections {
  kernel: Section<{ release: string }>;
  cmdline: Section<{ raw: string; params: string[] }>;
  /** Every readable sysctl, key in dotted form. */
  sysctls: Section<{ values: Record<string, string>; skipped: number; skippedExamples: string[] }>;
  modules: Section<{ names: string[] }>;
  mounts: Section<{ entries: Mount[] }>;
  /** name -> installed versions (several for install-only packages such as kernels). */
  packages: Section<{ format: 'dpkg' | 'rpm'; installed: Record<string, string[]> }>;
  units: Section<Units>;
  memory: Section<{ memTotalKiB: number | null; swapTotalKiB: number | null }>;
  cpus: Section<{ count: number }>;
  oomExempt: Section<{ processes: OomExempt[] }>;
  check: Section<CheckReport>;
}

export type SectionName = keyof Sections;

export const SECTION_NAMES: SectionName[] = ['kernel', 'cmdline', 'sysctls', 'modules', 'mounts', 'packages', 'units', 'memory', 'cpus', 'oomExempt', 'check'];

/**
 * The process-history domains `lantern record --access` saw, each with its successful access lines
 * (failures are left out: they come and go). Absent: no record store with access lists was found
 * (or an older lantern); it is never "no domains".
 */
export interface AccessDomains {
  /** The record store read. */
  store: string;
  /** Domain (`<kernel> /sbin/init /usr/sbin/sshd`) -> sorted access lines (`file read /etc/ssh/sshd_config`). */
  domains: Record<string, string[]>;
}

export interface Snapshot {
  schemaVersion: number;
  kind: 'lantern-snapshot';
  generator: { name: 'lantern'; command: 'baseline'; version: string };
  takenAt: string;
  host: { name: string | null; source: { kind: HostKind; root: string } };
  sections: Sections;
  /** Domains and their access lists from the record store (issue #11), when one was found. */
  access?: Section<AccessDomains>;
  /** Inputs that were present but malformed (counted, skipped). */
  inputProblems: string[];
}

export function ok<T>(data: T, sources: string[], notes?: string[]): Section<T> {
  return notes && notes.length ? { status: 'ok', sources, data, notes } : { status: 'ok', sources, data };
}

export function unknown<T>(reason: string, tried: string[] = []): Section<T> {
  return { status: 'unknown', reason, tried };
}

/** Validate a parsed JSON document as a snapshot; returns a reason when it is not one. */
export function snapshotProblem(doc: unknown): string | null {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'not a JSON object';
  const d = doc as Partial<Snapshot>;
  if (d.kind !== 'lantern-snapshot') return 'not a lantern snapshot (no "kind": "lantern-snapshot")';
  if (typeof d.schemaVersion !== 'number') return 'no schemaVersion';
  if (d.schemaVersion > SNAPSHOT_SCHEMA_VERSION) return `schemaVersion ${d.schemaVersion} is newer than this lantern understands (${SNAPSHOT_SCHEMA_VERSION})`;
  if (typeof d.sections !== 'object' || d.sections === null) return 'no sections';
  if (d.host === null || typeof d.host !== 'object' || typeof d.host.source !== 'object' || d.host.source === null) return 'no host';
  if (d.host.name !== null && typeof d.host.name !== 'string') return 'host name is not a string';
  if (typeof d.host.source.kind !== 'string' || typeof d.host.source.root !== 'string') return 'host source malformed';
  if (typeof d.takenAt !== 'string') return 'no takenAt';
  if (!Array.isArray(d.inputProblems)) return 'no inputProblems';
  if (d.access !== undefined) {
    const a = d.access as { status?: unknown; data?: { store?: unknown; domains?: unknown }; reason?: unknown };
    if (a === null || typeof a !== 'object') return 'access malformed';
    if (a.status === 'ok' ? !(a.data && typeof a.data.store === 'string' && recordOf(a.data.domains, strArray)) : typeof a.reason !== 'string') return 'access malformed';
  }
  for (const name of SECTION_NAMES) {
    const s = (d.sections as unknown as Record<string, unknown>)[name];
    if (typeof s !== 'object' || s === null) return `section ${name} missing`;
    const sec = s as { status?: unknown; data?: unknown; reason?: unknown; sources?: unknown };
    if (sec.status === 'unknown') {
      if (typeof sec.reason !== 'string') return `section ${name}: unknown without a reason`;
      continue;
    }
    if (sec.status !== 'ok') return `section ${name}: bad status`;
    if (!strArray(sec.sources)) return `section ${name}: no sources`;
    if ((sec as { notes?: unknown }).notes !== undefined && !strArray((sec as { notes?: unknown }).notes)) return `section ${name}: notes malformed`;
    if (typeof sec.data !== 'object' || sec.data === null) return `section ${name}: no data`;
    const bad = DATA_SHAPE[name](sec.data as Record<string, unknown>);
    if (bad) return `section ${name}: ${bad}`;
  }
  return null;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const isNumOrNull = (v: unknown): boolean => v === null || isNum(v);
const strArray = (v: unknown): boolean => Array.isArray(v) && v.every(isStr);
const recordOf = (v: unknown, ok: (x: unknown) => boolean): boolean => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(ok);
const arrayOf = (v: unknown, ok: (x: Record<string, unknown>) => boolean): boolean => Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && ok(x as Record<string, unknown>));

/** The shape each section's data must have before a diff may touch it; a reason when it does not. */
const DATA_SHAPE: Record<SectionName, (d: Record<string, unknown>) => string | null> = {
  kernel: (d) => (isStr(d.release) ? null : 'release is not a string'),
  cmdline: (d) => (isStr(d.raw) && strArray(d.params) ? null : 'raw/params malformed'),
  sysctls: (d) => (recordOf(d.values, isStr) ? null : 'values is not a map of strings'),
  modules: (d) => (strArray(d.names) ? null : 'names is not a list of strings'),
  mounts: (d) => (arrayOf(d.entries, (m) => isStr(m.device) && isStr(m.mountpoint) && isStr(m.fstype) && isStr(m.options)) ? null : 'entries malformed'),
  packages: (d) => ((d.format === 'dpkg' || d.format === 'rpm') && recordOf(d.installed, strArray) ? null : 'format/installed malformed'),
  units: (d) =>
    !recordOf(d.enabled, strArray)
      ? 'enabled malformed'
      : d.masked !== undefined && !recordOf(d.masked, (v) => v === 'masked' || v === 'masked-runtime')
        ? 'masked malformed'
        : d.sysv !== undefined && !recordOf(d.sysv, strArray)
          ? 'sysv malformed'
          : null,
  memory: (d) => (isNumOrNull(d.memTotalKiB) && isNumOrNull(d.swapTotalKiB) ? null : 'totals are not numbers'),
  cpus: (d) => (isNum(d.count) ? null : 'count is not a number'),
  oomExempt: (d) => (arrayOf(d.processes, (p) => isStr(p.comm) && isNum(p.pid) && isNum(p.value)) ? null : 'processes malformed'),
  check: (d) => (arrayOf(d.findings, (f) => isStr(f.id) && isStr(f.status) && isStr(f.summary)) && typeof d.summary === 'object' && d.summary !== null ? null : 'findings malformed'),
};
