/** Test helpers for baseline tests: fixture paths, private copies, quick snapshots. (Used only by *.test.ts.) */
import { cpSync } from 'node:fs';
import { tempDir } from '../common/testenv.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture as checkFixture } from '../check/testkit.js';
import { Host } from '../host/host.js';
import { collectSnapshot } from './collect.js';
import type { Snapshot } from './model.js';

export { put, del, link } from '../check/testkit.js';

export const DATA = fileURLToPath(new URL('../../test/data/baseline/', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));

/** Fixtures of test/data/baseline (the others come from test/data/check). */
const OURS = new Set(['sosreport-debian', 'sosreport-rhel6', 'sosreport-rhel7', 'rhel7-tree']);

/** A fixture by name: the check trees (rhel6, rhel9, debian12, sosreport) or one of ours. */
export function fixture(name: string): string {
  return OURS.has(name) ? join(DATA, name) : checkFixture(name);
}

/** A private temporary directory, removed at process exit. */
export function tmpDir(tag: string): string {
  return tempDir(`lantern-baseline-${tag}-`);
}

/** A private copy of a fixture (symlinks kept as they are), removed at process exit. */
export function copyFixture(name: string): string {
  const dir = tmpDir(name);
  cpSync(fixture(name), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

export function snap(root: string, now = new Date('2026-01-01T00:00:00Z')): Snapshot {
  return collectSnapshot(Host.open({ root }), { commands: false, version: 'test', now });
}
