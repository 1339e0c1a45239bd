/**
 * The bpftrace runner on the real kernel: probes attach, printf records arrive intact (a path with
 * a newline and a quote stays one record), a refused program is a clear error, and a SIGKILLed
 * parent takes bpftrace with it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Bpftrace, findBpftrace } from './bpftrace.js';
import { facilitySkip, tempDir } from './testenv.js';

const found = findBpftrace();
const skip = facilitySkip(
  process.getuid?.() !== 0 ? 'needs root (bpftrace)' : 'missing' in found ? found.missing : !existsSync('/sys/kernel/tracing/events/syscalls') ? 'tracefs syscall events are not available' : undefined,
);

test('printf records arrive one per call, escaped paths intact', { skip }, async () => {
  const dir = tempDir('lantern-bt-');
  const odd = join(dir, 'a "quoted"\nname');
  writeFileSync(odd, 'x');
  const texts: string[] = [];
  // The child waits for the tracer, then opens the odd file: the program filters on its comm.
  const bt = await Bpftrace.start({
    program: 'tracepoint:syscalls:sys_enter_openat /comm == "lantern-bt-t"/ { printf("%d %s\\n", pid, str(args->filename)); }',
    onPrintf: (t) => texts.push(t),
    strlen: 200,
  });
  try {
    assert.ok(bt.status.probes >= 1);
    const r = spawnSync(process.execPath, ['-e', `process.title='lantern-bt-t'; require('fs').readFileSync(${JSON.stringify(odd)})`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    await new Promise((res) => setTimeout(res, 500));
  } finally {
    await bt.stop();
  }
  assert.ok(
    texts.some((t) => t.endsWith(` ${odd}`)),
    `the odd path arrives as one record: ${JSON.stringify(texts.slice(-5))}`,
  );
  assert.equal(bt.status.malformed, 0);
});

test('a program bpftrace refuses is a clear error naming its reason', { skip }, async () => {
  await assert.rejects(Bpftrace.start({ program: 'tracepoint:syscalls:sys_enter_no_such_call { printf("x\\n"); }', onPrintf: () => undefined }), /bpftrace refused the program: .*\S/);
});

test('bpftrace dies with a SIGKILLed parent (nothing stays attached)', { skip }, async () => {
  const mod = new URL('./bpftrace.js', import.meta.url).pathname;
  const script = `import { Bpftrace } from ${JSON.stringify(mod)};
    const bt = await Bpftrace.start({ program: 'tracepoint:sched:sched_process_exec { printf("e\\\\n"); }', onPrintf: () => {} });
    process.stdout.write(bt.pid + '\\n'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pidText = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', () => reject(new Error('parent exited before bpftrace attached')));
  });
  const pid = Number(pidText);
  assert.ok(pid > 0);
  // setpriv execs bpftrace, so the pid is bpftrace's own.
  assert.ok(existsSync(`/proc/${pid}`));
  child.kill('SIGKILL');
  const deadline = Date.now() + 10_000;
  while (existsSync(`/proc/${pid}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(!existsSync(`/proc/${pid}`), 'bpftrace is gone after its parent was SIGKILLed');
});

test('readyPrintf: start() waits for the BEGIN line and swallows it; lineBuffered: a lone record arrives while bpftrace runs', { skip }, async () => {
  const texts: string[] = [];
  const bt = await Bpftrace.start({
    program: 'BEGIN { printf("up\\n"); } tracepoint:syscalls:sys_enter_getppid /comm == "lantern-bt-r"/ { printf("r %d\\n", pid); }',
    readyPrintf: 'up',
    lineBuffered: true,
    onPrintf: (t) => texts.push(t),
  });
  try {
    // Right after start: probes are attached (BEGIN ran after them), so the first call is seen.
    const r = spawnSync(process.execPath, ['-e', "process.title='lantern-bt-r'; require('child_process'); process.ppid"], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (let i = 0; i < 100 && !texts.some((t) => t.startsWith('r ')); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(
      texts.some((t) => t.startsWith('r ')),
      `one record, before the stop: ${JSON.stringify(texts)}`,
    );
    assert.equal(texts.includes('up'), false);
  } finally {
    await bt.stop();
  }
});
