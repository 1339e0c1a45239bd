/**
 * Test-environment policy shared by every capability's tests.
 *
 * A test that needs root, tracefs or a package may skip on a developer's machine, with a
 * printed reason; on CI (CI=true, root, packages from .ci/packages installed) it must run, so
 * there a missing facility is a failure that names it, never a silent skip.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { findBpftrace } from './bpftrace.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const onCI = (): boolean => Boolean(process.env.CI) && process.env.CI !== 'false';

/** For `test(name, { skip: facilitySkip(reason) }, …)`: the reason off CI, a failure on CI. */
export function facilitySkip(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  if (onCI()) {
    // Let the test run: it fails on the missing facility, and this line says why.
    console.log(`# CI must run this test, but: ${reason}`);
    return undefined;
  }
  return reason;
}

/** Inside a test: skip with the reason off CI; fail with it on CI. The caller returns right after. */
export function skipUnlessCI(t: { skip: (msg?: string) => void }, reason: string): void {
  if (onCI()) assert.fail(`CI must run this test, but: ${reason}`);
  t.skip(reason);
}

const tempDirs: string[] = [];

/**
 * A private temporary directory (prefix e.g. "lantern-host-"), removed when the test process
 * exits: a run of the suite leaves nothing in $TMPDIR. Mounts inside must be undone before.
 */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  if (tempDirs.push(d) === 1) process.on('exit', () => tempDirs.forEach((t) => rmSync(t, { recursive: true, force: true })));
  return d;
}

/** A UDP port on 127.0.0.1 that was free a moment ago (bound, read, released). */
export async function freeUdpPort(): Promise<number> {
  const { createSocket } = await import('node:dgram');
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  s.close();
  return p;
}

/** A TCP port on loopback that was free a moment ago (bound and released: a small race, fine for tests). */
export async function freeTcpPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/**
 * Wait (polling every 20 ms) until `cond` holds; past `ms`, fail naming `what` and, when given,
 * what `detail` says then (the log or the file the test was watching).
 */
export async function waitFor(what: string, cond: () => boolean, ms = 10_000, detail: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Why a bpftrace test cannot run here, or undefined: not root, no bpftrace, or one of these
 * tracepoints (`sock:sock_send_length`) absent from tracefs. For facilitySkip.
 */
export function bpftraceMissing(tracepoints: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (bpftrace)';
  const found = findBpftrace();
  if ('missing' in found) return found.missing;
  const absent = tracepoints.find((tp) => !existsSync(`/sys/kernel/tracing/events/${tp.replace(':', '/')}`));
  return absent ? `tracepoint ${absent} is not available` : undefined;
}

/** This process's BPF fds (maps, programs, links): what a test of a BPF addon expects back to its count after close. */
export function bpfFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const l = readlinkSync(`/proc/self/fd/${fd}`);
      if (/^anon_inode:(bpf|\[bpf)/.test(l)) out.push(l);
    } catch {
      /* closed meanwhile (readdir's own fd) */
    }
  }
  return out;
}
