/** Helpers of the console tests (not used at run time): a real receiver child, real socat converters. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;
export const dataFile = (name: string): string => new URL(`../../test/data/console/${name}`, import.meta.url).pathname;
export const noSocat = spawnSync('socat', ['-V']).error ? 'socat is not installed (Debian package socat)' : undefined;

import { freeTcpPort, waitFor } from '../common/testenv.js';

export { freeTcpPort, waitFor };

export const read = (p: string): string => (existsSync(p) ? readFileSync(p, 'latin1') : '');

/** A file's lines without the receive time (checked to be ISO 8601 µs UTC) and label. */
export function bodies(text: string, label: string): string[] {
  const out: string[] = [];
  for (const l of text.split('\n').slice(0, -1)) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) (.*)$/.exec(l);
    if (!m || m[2] !== label) throw new Error(`not a line of ${label}: ${JSON.stringify(l)}`);
    out.push(m[3]!);
  }
  return out;
}

export const today = (): string => new Date().toISOString().slice(0, 10);

/** A real `lantern console listen` with its configuration, logs and state under root. */
export class Rx {
  proc!: ChildProcess;
  stderr = '';
  exit!: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly logs: string;
  readonly state: string;
  constructor(readonly root: string) {
    this.logs = join(root, 'log');
    this.state = join(root, 'state');
  }
  async start(toml: string, extra: string[] = []): Promise<void> {
    const cfg = join(this.root, 'console.toml');
    writeFileSync(cfg, `dir = "${this.logs}"\nstate_dir = "${this.state}"\nstats_interval = "200ms"\n${toml}`);
    this.proc = spawn(process.execPath, [LANTERN, 'console', 'listen', '-c', cfg, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d) => (this.stderr += d));
    this.proc.stdout!.resume();
    this.exit = new Promise((r) => this.proc.on('exit', (code, signal) => r({ code, signal })));
    await waitFor(
      'the receiver to start',
      () => existsSync(join(this.state, 'stats.json')) || this.proc.exitCode !== null,
      15_000,
      () => this.stderr,
    );
    if (this.proc.exitCode !== null) throw new Error(`receiver exited ${this.proc.exitCode}: ${this.stderr}`);
  }
  file(source: string): string {
    return join(this.logs, source, `${today()}.log`);
  }
  stats(): { sources: Array<{ name: string; counters: Record<string, number>; state: string }>; counters: Record<string, number> } {
    return JSON.parse(readFileSync(join(this.state, 'stats.json'), 'utf8'));
  }
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    const r = await this.exit;
    clearTimeout(t);
    return r;
  }
  kill(): void {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** A socat child; stderr kept (with -d -d it says when it listens). */
export class Socat {
  proc: ChildProcess;
  stderr = '';
  exit: Promise<number | null>;
  constructor(args: string[]) {
    this.proc = spawn('socat', ['-d', '-d', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d) => (this.stderr += d));
    this.exit = new Promise((r) => this.proc.on('exit', (c) => r(c)));
  }
  async listening(): Promise<void> {
    await waitFor(
      'socat to listen',
      () => /listening on/.test(this.stderr),
      10_000,
      () => this.stderr,
    );
  }
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
