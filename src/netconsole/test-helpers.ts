/** Helpers shared by the netconsole tests (not used at run time). */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';

export const dataDir = new URL('../../test/data/netconsole/', import.meta.url);

export function dataFile(name: string): string {
  return new URL(name, dataDir).pathname;
}

/** Datagrams of extended-datagrams.txt (see test/data/netconsole/README.md for the layout). */
export function loadExtendedDatagrams(): Buffer[] {
  const raw = readFileSync(dataFile('extended-datagrams.txt'), 'latin1');
  const out: Buffer[] = [];
  let acc: string[] = [];
  for (const line of raw.replace(/\n$/, '').split('\n')) {
    if (line === '%%' || line === '%%-') {
      out.push(Buffer.from(acc.join('\n') + (line === '%%' ? '\n' : ''), 'latin1'));
      acc = [];
    } else acc.push(line);
  }
  if (acc.length) out.push(Buffer.from(acc.join('\n') + '\n', 'latin1'));
  return out;
}

/** The kernel's escaping of extended-format text: control bytes, bytes >= 127 and backslash as \xNN. */
export function kernelEscape(buf: Buffer): string {
  let s = '';
  for (const b of buf) s += b < 0x20 || b >= 0x7f || b === 0x5c ? '\\x' + b.toString(16).padStart(2, '0') : String.fromCharCode(b);
  return s;
}

/** A UDP port on 127.0.0.1 that was free a moment ago (common/testenv). */
export { freeUdpPort as freePort } from '../common/testenv.js';

export const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;
import { waitFor } from '../common/testenv.js';

export { waitFor };

/** A real `lantern netconsole listen` child process with its output and state directories under `root`. */
export class Rx {
  proc!: ChildProcess;
  stderr = '';
  stdout = '';
  exit: Promise<number | null> = Promise.resolve(null);
  readonly dir: string;
  readonly state: string;
  constructor(
    readonly root: string,
    readonly port: number,
  ) {
    this.dir = join(root, 'out');
    this.state = join(root, 'state');
  }

  /** `stdout`: a stream for the receiver's standard output (a pipe to another process) instead of one read here. */
  async start(extra: string[] = [], prefix: string[] = [], stdout?: Writable): Promise<void> {
    const args = [LANTERN, 'netconsole', 'listen', '-l', `127.0.0.1:${this.port}`, '-d', this.dir, '--state-dir', this.state, ...extra];
    const [cmd, ...rest] = prefix.length ? [...prefix, process.execPath, ...args] : [process.execPath, ...args];
    this.proc = spawn(cmd!, rest, { stdio: ['ignore', stdout ?? 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    this.proc.stderr!.on('data', (d) => (this.stderr += d));
    this.proc.stdout?.on('data', (d) => (this.stdout += d));
    this.exit = new Promise((r) => this.proc.on('exit', (code) => r(code)));
    await waitFor('the receiver to listen', () => this.stderr.includes('writing ') || this.proc.exitCode !== null);
    assert.equal(this.proc.exitCode, null, this.stderr);
  }

  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.proc.kill(sig);
    return this.exit;
  }

  file(rel: string): string {
    const p = join(this.dir, rel);
    return existsSync(p) ? readFileSync(p, 'utf8') : '';
  }

  senderFiles(address: string): string {
    const d = join(this.dir, address);
    if (!existsSync(d)) return '';
    return readdirSync(d)
      .sort()
      .map((f) => readFileSync(join(d, f), 'utf8'))
      .join('');
  }

  stats(): Record<string, number | null> {
    return (JSON.parse(readFileSync(join(this.state, 'stats.json'), 'utf8')) as { counters: Record<string, number | null> }).counters;
  }

  async freshStats(): Promise<Record<string, number | null>> {
    const p = join(this.state, 'stats.json');
    const before = existsSync(p) ? readFileSync(p, 'utf8') : '';
    this.proc.kill('SIGUSR1');
    await waitFor('fresh stats', () => existsSync(p) && readFileSync(p, 'utf8') !== before);
    return this.stats();
  }
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export async function sender(address = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  // A test that fails before closing its senders must not keep the test process alive.
  s.unref();
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  return s;
}

export function send(s: dgram.Socket, port: number, payload: string | Buffer): Promise<void> {
  return new Promise((r, j) => s.send(payload, port, '127.0.0.1', (e) => (e ? j(e) : r())));
}

/**
 * Unmount a test's tmpfs: retried while EBUSY (a process that just exited may still hold it for a
 * moment on a loaded machine), lazily as the last resort, so no mount outlives the suite.
 */
export async function unmount(mnt: string): Promise<void> {
  const { spawnSync } = await import('node:child_process');
  for (let i = 0; i < 30; i++) {
    const r = spawnSync('umount', [mnt], { encoding: 'utf8' });
    if (r.status === 0 || /not mounted|no mount point/i.test(r.stderr)) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  spawnSync('umount', ['-l', mnt]);
}

/** The [Service] settings of a unit file (last assignment wins, as in systemd for these keys; `#` and `;` start comments). */
export function serviceSection(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) section = s[1]!;
    else if (section === 'Service') {
      const eq = line.indexOf('=');
      if (eq > 0) out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    }
  }
  return out;
}

/** A command line of the unit as argv; only plain words are expected (no quoting, no specifiers). */
export function unitWords(cmd: string): string[] {
  assert.ok(!/["'\\%]/.test(cmd) && !/^[-@+!:]/.test(cmd), `unit command uses quoting, specifiers or prefixes this test does not model: ${cmd}`);
  return cmd.split(/\s+/);
}

/** `argv` as the unit would have systemd start it: as root, its NoNewPrivileges and CapabilityBoundingSet applied through setpriv (util-linux). */
export function asTheUnitStarts(unit: Map<string, string>, argv: string[]): string[] {
  const caps = (unit.get('CapabilityBoundingSet') ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((c) => '+' + c.replace(/^CAP_/, '').toLowerCase());
  const setpriv = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  return setpriv ? ['setpriv', ...(unit.get('NoNewPrivileges') === 'yes' ? ['--no-new-privs'] : []), ...(caps.length ? ['--bounding-set', ['-all', ...caps].join(',')] : []), '--', ...argv] : argv;
}
