/**
 * packaging/systemd/lantern-netconsole.service and packaging/netconsole.toml, for real:
 *  - `systemd-analyze verify` accepts the unit (package systemd; on CI a missing tool fails);
 *  - the unit's own ExecStart line runs as systemd would start it (clean environment,
 *    `lantern` found through PATH, NoNewPrivileges and CapabilityBoundingSet applied with
 *    setpriv when root), with only the configuration path swapped for a copy of the sample
 *    configuration whose listen/dir/state_dir point into a temporary directory. Datagrams come
 *    over loopback; the unit's ExecReload line (SIGHUP) runs after a logrotate-style rename;
 *    KillSignal (SIGTERM) stops it. What systemd would see: exit 0, files, counters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { facilitySkip } from '../common/testenv.js';
import { parseConfigToml, resolveConfig } from './config.js';
import { asTheUnitStarts, freePort, serviceSection, unitWords } from './test-helpers.js';

const UNIT = new URL('../../packaging/systemd/lantern-netconsole.service', import.meta.url).pathname;
const SAMPLE = new URL('../../packaging/netconsole.toml', import.meta.url).pathname;
const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;

const noAnalyze = spawnSync('systemd-analyze', ['--version']).error ? 'systemd-analyze is not installed (Debian package systemd)' : undefined;

test('systemd unit: systemd-analyze verify accepts lantern-netconsole.service without a warning', { skip: facilitySkip(noAnalyze) }, () => {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', UNIT], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `systemd-analyze could not run: ${r.error}`);
  // Lines about other units (a container's own) are not ours; any about this unit is a failure.
  const ours = (r.stderr + r.stdout).split('\n').filter((l) => l.includes('lantern-netconsole'));
  assert.deepEqual(ours, [], r.stderr);
  assert.equal(r.status, 0, r.stderr);
});

test("systemd unit: the unit's ExecStart receives over loopback; ExecReload (SIGHUP) reopens rotated files; SIGTERM flushes and exits 0", async () => {
  const unit = serviceSection(readFileSync(UNIT, 'utf8'));
  const exec = unitWords(unit.get('ExecStart')!);
  const cfgAt = exec.indexOf('--config');
  assert.ok(cfgAt > 0, 'ExecStart names its configuration file');
  assert.equal(exec[0], '/usr/bin/env');
  assert.equal(unit.get('KillSignal') ?? 'SIGTERM', 'SIGTERM');

  const root = mkdtempSync(join(tmpdir(), 'nc-unit-'));
  const port4 = await freePort();
  const port6 = await freePort();
  try {
    // The sample configuration with only where it listens and writes changed.
    const logs = join(root, 'log');
    const run = join(root, 'run');
    let cfgText = readFileSync(SAMPLE, 'utf8');
    const swaps: Array<[RegExp, string]> = [
      [/^listen = .*$/m, `listen = ["127.0.0.1:${port4}", "[::1]:${port6}"]`],
      [/^dir = .*$/m, `dir = "${logs}"`],
      [/^state_dir = .*$/m, `state_dir = "${run}"`],
    ];
    for (const [re, line] of swaps) {
      assert.equal(cfgText.match(new RegExp(re.source, 'gm'))?.length, 1, `the sample sets ${re.source} once`);
      cfgText = cfgText.replace(re, line);
    }
    const cfgPath = join(root, 'netconsole.toml');
    writeFileSync(cfgPath, cfgText);
    // `lantern` on PATH as `npm install -g .` puts it; node beside it for its #! line.
    const bin = join(root, 'bin');
    mkdirSync(bin);
    symlinkSync(LANTERN, join(bin, 'lantern'));
    const argv = exec.map((w, i) => (i === cfgAt + 1 ? cfgPath : w));
    const cmd = asTheUnitStarts(unit, argv);
    const rmemBefore = readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim();

    const proc = spawn(cmd[0]!, cmd.slice(1), {
      env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
    const waitFor = async (what: string, cond: () => boolean, ms = 15_000) => {
      const end = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > end || proc.exitCode !== null) throw new Error(`waiting for ${what}; stderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    try {
      // stats.json is written just before the signal handlers are installed.
      await waitFor('the receiver to start', () => existsSync(join(run, 'stats.json')));
      await new Promise((r) => setTimeout(r, 200));
      assert.match(stderr, new RegExp(`listening on 127\\.0\\.0\\.1:${port4}`));
      assert.match(stderr, new RegExp(`listening on \\[::1\\]:${port6}`));
      // --raise-rmem-max lifts net.core.rmem_max only while the sockets are sized.
      assert.equal(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim(), rmemBefore, 'net.core.rmem_max restored');

      const day = new Date().toISOString().slice(0, 10); // time = "utc" in the sample
      const s4 = dgram.createSocket('udp4');
      const s6 = dgram.createSocket('udp6');
      s4.unref();
      s6.unref();
      const send = (s: dgram.Socket, port: number, host: string, text: string) => new Promise<void>((r, j) => s.send(text, port, host, (e) => (e ? j(e) : r())));
      for (let seq = 1; seq <= 3; seq++) await send(s4, port4, '127.0.0.1', `6,${seq},${seq * 1000},-;extended record ${seq}\n`);
      await send(s6, port6, '::1', 'legacy line over IPv6\n');
      const v4Log = join(logs, '127.0.0.1', `${day}.log`);
      const v6Log = join(logs, '::1', `${day}.log`);
      const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
      await waitFor('the first lines', () => read(v4Log).includes('extended record 3') && read(v6Log).includes('legacy line over IPv6'));

      // logrotate renames, then the unit's ExecReload runs with $MAINPID.
      renameSync(v4Log, `${v4Log}.1`);
      const reload = unitWords(unit.get('ExecReload')!).map((w) => (w === '$MAINPID' ? String(proc.pid) : w));
      const k = spawnSync(reload[0]!, reload.slice(1));
      assert.equal(k.status, 0, `ExecReload ${reload.join(' ')} failed`);
      await waitFor('SIGHUP handled', () => stderr.includes('SIGHUP: reopening log files'));
      await send(s4, port4, '127.0.0.1', '6,4,4000,-;extended record 4\n');
      await send(s6, port6, '::1', 'no newline before the stop');
      await waitFor('the line after rotation', () => read(v4Log).includes('extended record 4'));
      assert.match(read(`${v4Log}.1`), /extended record 1\n.*extended record 2\n.*extended record 3\n$/s);
      assert.ok(!read(`${v4Log}.1`).includes('record 4'), 'nothing written to the rotated file after SIGHUP');

      proc.kill((unit.get('KillSignal') ?? 'SIGTERM') as NodeJS.Signals);
      const timeoutSec = Number(unit.get('TimeoutStopSec') ?? 90);
      const end = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), timeoutSec * 1000).unref())]);
      assert.ok(end, `did not stop within TimeoutStopSec=${timeoutSec}`);
      assert.deepEqual(end, { code: 0, signal: null }, stderr);
      assert.match(stderr, /SIGTERM: writing out partial lines and queued output/);
      // The partial line is written at the stop, marked, in the sample's text format.
      assert.match(read(v6Log), /^\S+Z \[::1\]:\d+ legacy line over IPv6\n\S+Z \[::1\]:\d+ \[partial: shutdown\] no newline before the stop\n$/);
      assert.match(read(v4Log), /^\S+Z 127\.0\.0\.1:\d+ <6>#4 \[ +0\.004000\] extended record 4\n$/);
      const stats = JSON.parse(readFileSync(join(run, 'stats.json'), 'utf8'));
      assert.equal(stats.counters.datagrams, 6);
      assert.equal(stats.counters.gaps, 0);
      assert.equal(stats.counters.linesLost, 0);
      assert.equal(stats.counters.reopened > 0, true);
      s4.close();
      s6.close();
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('sample configuration packaging/netconsole.toml loads as shipped and with every default it documents', () => {
  const cfg = resolveConfig(parseConfigToml(readFileSync(SAMPLE, 'utf8'), SAMPLE));
  assert.deepEqual(cfg.listen, [{ address: '::', port: 6666, family: 'udp6' }]);
  assert.equal(cfg.dir, '/var/log/netconsole');
  assert.equal(cfg.stateDir, '/run/lantern-netconsole');
  // The unit's writable paths are the sample's output and state directories.
  const unit = serviceSection(readFileSync(UNIT, 'utf8'));
  assert.deepEqual(unit.get('ReadWritePaths')!.split(/\s+/).sort(), [cfg.dir, cfg.stateDir].sort());
  assert.equal(`/run/${unit.get('RuntimeDirectory')}`, cfg.stateDir);
  assert.equal(`/var/log/${unit.get('LogsDirectory')}`, cfg.dir);
});
