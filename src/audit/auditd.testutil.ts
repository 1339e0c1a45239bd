/**
 * A real auditd for tests: Debian's daemon in the foreground (`auditd -n`) as a child, with a
 * private config directory and log file, so the host's /etc/audit and /var/log/audit are never
 * touched. Rules are added with auditctl and removed on every path; the kernel's enabled flag
 * (auditd sets it to 1) is put back as found. When the host already runs an audit daemon, that
 * one is used instead (see useRunningAuditd).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { facilitySkip } from '../common/testenv.js';

export function auditSkipReason(): string | undefined {
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) return facilitySkip('needs root (audit netlink)');
  for (const b of ['/usr/sbin/auditd', '/usr/sbin/auditctl', '/usr/sbin/ausearch', '/usr/sbin/aureport'])
    if (!existsSync(b)) return facilitySkip(`${b} missing (Debian package auditd, in .ci/packages)`);
  const st = auditctl(['-s']);
  if (st.status !== 0) return facilitySkip(`auditctl -s failed: ${st.stderr.trim()} (no audit support in this kernel or container?)`);
  return undefined;
}

export function auditctl(args: string[]) {
  return spawnSync('/usr/sbin/auditctl', args, { encoding: 'utf8', timeout: 10_000 });
}

function status(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of auditctl(['-s']).stdout.split('\n')) {
    const [k, v] = l.split(' ');
    if (k && v !== undefined) out[k] = v;
  }
  return out;
}

export interface Auditd {
  /** Our own auditd; null when the host's running daemon is used. */
  child: ChildProcess | null;
  log: string;
  stderr: () => string;
  /** Add a rule (auditctl -a …); it is deleted by stop(). */
  addRule(rule: string[]): void;
  /** Rotate the log as auditd does on SIGUSR1 (audit.log → audit.log.1, a new audit.log). */
  rotate(): void;
  stop(): Promise<void>;
}

export async function startAuditd(dir: string): Promise<Auditd> {
  const before = status();
  if (before.pid && before.pid !== '0') return useRunningAuditd(dir, Number(before.pid));
  const conf = join(dir, 'conf');
  const plugins = join(dir, 'plugins');
  mkdirSync(conf, { recursive: true });
  mkdirSync(plugins, { recursive: true });
  const log = join(dir, 'audit.log');
  // RAW: the log as the kernel sent it; IGNORE actions: a small test disk never suspends logging.
  writeFileSync(
    join(conf, 'auditd.conf'),
    [
      'local_events = yes',
      'write_logs = yes',
      `log_file = ${log}`,
      'log_format = ENRICHED',
      'flush = INCREMENTAL_ASYNC',
      'freq = 1',
      'max_log_file = 64',
      'num_logs = 4',
      'max_log_file_action = IGNORE',
      'space_left = 2',
      'space_left_action = IGNORE',
      'admin_space_left = 1',
      'admin_space_left_action = IGNORE',
      'disk_full_action = IGNORE',
      'disk_error_action = IGNORE',
      `plugin_dir = ${plugins}`,
      'end_of_event_timeout = 2',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const child = spawn('/usr/sbin/auditd', ['-n', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const rules: string[][] = [];
  const t0 = Date.now();
  while (status().pid !== String(child.pid)) {
    if (child.exitCode !== null || Date.now() - t0 > 10_000) {
      child.kill('SIGTERM');
      throw new Error(`auditd did not start (exit ${child.exitCode}): ${err.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    log,
    stderr: () => err,
    addRule(rule) {
      const r = auditctl(['-a', ...rule]);
      if (r.status !== 0) throw new Error(`auditctl -a ${rule.join(' ')}: ${r.stderr.trim()}`);
      rules.push(rule);
    },
    rotate() {
      child.kill('SIGUSR1');
    },
    async stop() {
      for (const rule of rules.splice(0)) auditctl(['-d', ...rule]);
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      auditctl(['-e', before.enabled ?? '0']);
    },
  };
}

/**
 * The host already runs an audit daemon (e.g. auditd.service started when the package was
 * installed): only one can hold the audit socket, so that one is used. Its log is not ours to
 * rotate, so the bytes it appends from now on are mirrored into `dir/audit.log`, and rotate()
 * does to the mirror what auditd does to its log (rename to .1, a new file).
 */
function useRunningAuditd(dir: string, pid: number): Auditd {
  const conf = existsSync('/etc/audit/auditd.conf') ? readFileSync('/etc/audit/auditd.conf', 'utf8') : '';
  const source = /^\s*log_file\s*=\s*(\S+)/m.exec(conf)?.[1] ?? '/var/log/audit/audit.log';
  const log = join(dir, 'audit.log');
  writeFileSync(log, '');
  const fd = openSync(source, 'r');
  let offset = statSync(source).size;
  const buf = Buffer.allocUnsafe(1 << 16);
  const pump = () => {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n <= 0) break;
      offset += n;
      appendFileSync(log, buf.subarray(0, n));
    }
  };
  const timer = setInterval(pump, 20);
  const rules: string[][] = [];
  return {
    child: null,
    log,
    stderr: () => `(the host's auditd, pid ${pid}, logging to ${source})`,
    addRule(rule) {
      const r = auditctl(['-a', ...rule]);
      if (r.status !== 0) throw new Error(`auditctl -a ${rule.join(' ')}: ${r.stderr.trim()}`);
      rules.push(rule);
    },
    rotate() {
      pump();
      renameSync(log, `${log}.1`);
      writeFileSync(log, '');
    },
    stop() {
      for (const rule of rules.splice(0)) auditctl(['-d', ...rule]);
      clearInterval(timer);
      closeSync(fd);
      return Promise.resolve();
    },
  };
}
