/** Test helpers: copy a fixture tree to a temp dir, change one file, run one check. (Used only by *.test.ts.) */
import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tempDir } from '../common/testenv.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Host } from '../host/host.js';
import { selectChecks, runChecks, type CheckReport } from './run.js';
import type { Finding } from './model.js';

export const DATA = fileURLToPath(new URL('../../test/data/check/', import.meta.url));

export function fixture(name: string): string {
  return join(DATA, name);
}

/** A private copy of a fixture (symlinks kept as they are), removed at process exit. */
export function copyFixture(name: string): string {
  const dir = tempDir(`lantern-check-${name}-`);
  cpSync(fixture(name), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

/** A private temporary directory (prefix e.g. "lantern-fix-"), removed at process exit like the copies. */
export { tempDir };

export function put(root: string, livePath: string, text: string): void {
  const p = join(root, livePath);
  mkdirSync(dirname(p), { recursive: true });
  rmSync(p, { force: true });
  writeFileSync(p, text);
}

export function link(root: string, livePath: string, target: string): void {
  const p = join(root, livePath);
  mkdirSync(dirname(p), { recursive: true });
  rmSync(p, { force: true });
  symlinkSync(target, p);
}

export function del(root: string, livePath: string): void {
  rmSync(join(root, livePath), { recursive: true, force: true });
}

export function report(root: string, only?: string[]): CheckReport {
  const host = Host.open({ root });
  return runChecks(host, selectChecks(only ?? null).checks, { version: 'test', commands: false });
}

export function check(root: string, id: string): Finding {
  const r = report(root, [id]);
  const f = r.findings.find((x) => x.id === id);
  if (!f) throw new Error(`no finding ${id}`);
  return f;
}
