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
export type Section<T> =
  | { status: 'ok'; sources: string[]; data: T; notes?: string[] }
  | { status: 'unknown'; reason: string; tried: string[] };

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

export interface Sections {
  kernel: Section<{ release: string }>;
  cmdline: Section<{ raw: string; params: string[] }>;
  /** Every readable sysctl, key in dotted form. */
  sysctls: Section<{ values: Record<string, string>; skipped: number; skippedExamples: string[] }>;
  modules: Section<{ names: string[] }>;
  mounts: Section<{ entries: Mount[] }>;
  /** name -> installed versions (several for install-only packages such as kernels). */
  packages: Section<{ format: 'dpkg' | 'rpm'; installed: Record<string, string[]> }>;
  /** Enabled unit -> the targets/units that want it ("sosreport" when only the listing said so). */
  units: Section<{ enabled: Record<string, string[]> }>;
  memory: Section<{ memTotalKiB: number | null; swapTotalKiB: number | null }>;
  cpus: Section<{ count: number }>;
  oomExempt: Section<{ processes: OomExempt[] }>;
  check: Section<CheckReport>;
}

export type SectionName = keyof Sections;

export const SECTION_NAMES: SectionName[] = ['kernel', 'cmdline', 'sysctls', 'modules', 'mounts', 'packages', 'units', 'memory', 'cpus', 'oomExempt', 'check'];

export interface Snapshot {
  schemaVersion: number;
  kind: 'lantern-snapshot';
  generator: { name: 'lantern'; command: 'baseline'; version: string };
  takenAt: string;
  host: { name: string | null; source: { kind: HostKind; root: string } };
  sections: Sections;
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
  for (const name of SECTION_NAMES) {
    const s = (d.sections as unknown as Record<string, unknown>)[name];
    if (typeof s !== 'object' || s === null) return `section ${name} missing`;
    const st = (s as { status?: unknown }).status;
    if (st !== 'ok' && st !== 'unknown') return `section ${name}: bad status`;
    if (st === 'ok' && typeof (s as { data?: unknown }).data !== 'object') return `section ${name}: no data`;
  }
  return null;
}
