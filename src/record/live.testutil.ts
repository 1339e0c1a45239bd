/** Helpers shared by the recorder's live tests (real kernel, root, tracefs). */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

/** Why live tests cannot run here, or undefined when they can. */
export function liveSkipReason(): string | undefined {
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
