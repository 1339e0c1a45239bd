/** Helpers shared by the recorder's live tests (real kernel, root, tracefs). */
import { facilitySkip } from '../common/testenv.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

/** Why live tests cannot run here, or undefined when they can. */
export function liveSkipReason(): string | undefined {
  return facilitySkip(liveMissing());
}

function liveMissing(): string | undefined {
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) return 'needs root (tracefs instances are root-only); CI runs as root';
  if (!existsSync('/sys/kernel/tracing/instances') && !existsSync('/sys/kernel/debug/tracing/instances')) return 'tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)';
  return undefined;
}

export function tracefsRoot(): string {
  return existsSync('/sys/kernel/tracing/instances') ? '/sys/kernel/tracing' : '/sys/kernel/debug/tracing';
}

/** A unique recorder name per test, so parallel test files (and developers) never collide. */
export function uniqueName(tag: string): string {
  return `t${tag}${process.pid}${Math.floor(Math.random() * 1e6)}`;
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-record-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * A memory cgroup with a small limit, so a test can provoke the OOM killer without touching
 * anything else (cgroup v2 or v1). Returns where to write a pid, or a reason it cannot.
 */
export function smallMemcg(name: string, bytes: number): { procs: string; remove: () => void } | { reason: string } {
  const v2 = '/sys/fs/cgroup';
  const tryRm = (d: string) => () => {
    try {
      rmdirSync(d);
    } catch {
      /* busy or gone */
    }
  };
  try {
    if (existsSync(join(v2, 'cgroup.controllers')) && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').includes('memory')) {
      if (!readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8').includes('memory')) writeFileSync(join(v2, 'cgroup.subtree_control'), '+memory');
      const d = join(v2, name);
      mkdirSync(d);
      writeFileSync(join(d, 'memory.max'), String(bytes));
      if (existsSync(join(d, 'memory.swap.max'))) writeFileSync(join(d, 'memory.swap.max'), '0');
      return { procs: join(d, 'cgroup.procs'), remove: tryRm(d) };
    }
    const v1 = join(v2, 'memory');
    if (existsSync(join(v1, 'memory.limit_in_bytes'))) {
      const d = join(v1, name);
      mkdirSync(d);
      writeFileSync(join(d, 'memory.limit_in_bytes'), String(bytes));
      if (existsSync(join(d, 'memory.swappiness'))) writeFileSync(join(d, 'memory.swappiness'), '0');
      return { procs: join(d, 'cgroup.procs'), remove: tryRm(d) };
    }
    return { reason: 'no memory cgroup controller (v1 or v2) to provoke an OOM kill safely' };
  } catch (e) {
    return { reason: `cannot create a memory cgroup: ${(e as Error).message}` };
  }
}
