/**
 * UDP sources (converters in UDP mode): lines split over datagrams and interleaved between
 * senders are assembled per sender (address and port); several sources at once into one
 * combined file; SIGHUP after a logrotate-style rename; `lantern console stats`; --json lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../common/testenv.js';
import { freePort } from '../netconsole/test-helpers.js';
import { LANTERN, Rx, read, today, waitFor } from './test-helpers.js';

test('udp: per-sender assembly of split, interleaved lines; two sources at once, combined file; SIGHUP reopens; stats command', async () => {
  const root = tempDir('console-udp-');
  const port = await freePort();
  const follow = join(root, 'guest.log');
  writeFileSync(follow, '');
  const rx = new Rx(root);
  const senders = await Promise.all(
    [0, 1, 2].map(async () => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      return s;
    }),
  );
  const send = (i: number, text: string) => new Promise<void>((r, j) => senders[i]!.send(Buffer.from(text, 'latin1'), port, '127.0.0.1', (e) => (e ? j(e) : r())));
  try {
    await rx.start(`combined = true\npartial_timeout = "30s"\n[source.convs]\ntype = "udp"\nlisten = "127.0.0.1:${port}"\n[source.guest]\ntype = "file"\npath = "${follow}"\npoll = "50ms"\n`);
    const label = (i: number) => `convs/127.0.0.1:${senders[i]!.address().port}`;
    for (const [i, t] of [
      [0, '[ 1.0] sender zero, '],
      [1, '[ 2.0] sender one'],
      [0, 'first line\r\n[ 1.1] second'],
      [2, 'three\r\n'],
      [1, ' line\r\n'],
      [0, ' line\r\n'],
    ] as Array<[number, string]>)
      await send(i, t);
    appendFileSync(follow, 'guest line\n');
    const file = rx.file('convs');
    await waitFor(
      'the udp lines',
      () => (read(file).match(/\n/g) ?? []).length === 4 && read(rx.file('guest')).includes('guest line'),
      10_000,
      () => read(file) + rx.stderr,
    );
    const lines = read(file)
      .split('\n')
      .slice(0, -1)
      .map((l) => l.replace(/^\S+Z /, ''));
    assert.deepEqual(
      lines,
      [`${label(2)} three`, `${label(1)} [ 2.0] sender one line`, `${label(0)} [ 1.0] sender zero, first line`, `${label(0)} [ 1.1] second line`].sort((a, b) => lines.indexOf(a) - lines.indexOf(b)),
    );
    assert.deepEqual(
      lines.filter((l) => l.startsWith(label(0))),
      [`${label(0)} [ 1.0] sender zero, first line`, `${label(0)} [ 1.1] second line`],
    );
    const combined = join(rx.logs, `${today()}.log`);
    assert.equal(read(combined).split('\n').length - 1, 5, 'both sources in the combined file');

    // logrotate: rename, then SIGHUP; the next line goes to a new file.
    renameSync(file, `${file}.1`);
    rx.proc.kill('SIGHUP');
    await waitFor('SIGHUP handled', () => rx.stderr.includes('SIGHUP: reopening log files'));
    await send(2, 'after the rotation\r\n');
    await waitFor(
      'the new file',
      () => read(file).includes('after the rotation'),
      10_000,
      () => rx.stderr,
    );
    assert.ok(!read(`${file}.1`).includes('after the rotation'));

    // stats: the document and the human view, from the running receiver.
    const st = spawnSync(process.execPath, [LANTERN, 'console', 'stats', '--state-dir', rx.state, '--refresh', '--json'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(st.status, 0, st.stderr);
    const doc = JSON.parse(st.stdout);
    assert.equal(doc.running, true);
    const convs = doc.sources.find((s: { name: string }) => s.name === 'convs');
    assert.equal(convs.counters.datagrams, 7);
    assert.equal(convs.counters.lines, 5);
    assert.equal(convs.counters.kernelDrops, 0, 'the kernel dropped nothing for our socket (/proc/net/udp)');
    assert.match(convs.state, /^listening on udp 127\.0\.0\.1:\d+, 3 senders$/);
    const human = spawnSync(process.execPath, [LANTERN, 'console', 'stats', '--state-dir', rx.state], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(human.status, 0, human.stderr);
    assert.match(human.stdout, /^console receiver pid \d+ running, up \d+ s/);
    assert.match(human.stdout, /\n {2}convs: udp on 127\.0\.0\.1:\d+, one stream per sender: listening/);
    assert.match(human.stdout, /\n {2}guest: file .*guest\.log \(followed across truncation and rotation\): following /);

    await send(1, 'no end');
    await waitFor('the datagram', () => rx.stats().sources[0]!.counters.datagrams === 8);
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    assert.match(read(file), new RegExp(`Z ${label(1).replace(/[./]/g, '\\$&')} \\[partial: shutdown\\] no end\\n$`));
    const s = rx.stats();
    assert.equal(s.counters.linesWritten, s.counters.linesAccepted);
    assert.equal(s.counters.linesAccepted, 2 * (5 + 1 + 1), 'udp: 5 lines + 1 partial, file: 1 line; each into its file and the combined one');
  } finally {
    rx.kill();
    for (const s of senders) s.close();
  }
});

test('--json: one object per line with time, sender, type, partial, text; markers as type marker', async () => {
  const root = tempDir('console-json-');
  const follow = join(root, 'f.log');
  writeFileSync(follow, 'x\n');
  const rx = new Rx(root);
  try {
    await rx.start(`[source.f]\ntype = "file"\npath = "${follow}"\nstart_at = "beginning"\npoll = "50ms"\n`, ['--json']);
    appendFileSync(follow, Buffer.from('caf\xc3\xa9 \x1b[1mbold\n', 'latin1'));
    await waitFor(
      'two lines',
      () => (read(rx.file('f')).match(/\n/g) ?? []).length === 2,
      10_000,
      () => rx.stderr,
    );
    writeFileSync(follow, 'y\n');
    await waitFor(
      'the truncation',
      () => read(rx.file('f')).includes('"marker"'),
      10_000,
      () => rx.stderr,
    );
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    const docs = readFileSync(rx.file('f'), 'utf8')
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l));
    assert.deepEqual(docs.map((d) => [d.sender, d.type, d.partial ?? null, d.text]).slice(0, 3), [
      ['f', 'line', null, 'x'],
      ['f', 'line', null, 'café \\x1b[1mbold'],
      ['f', 'marker', null, `${follow} was truncated (from 17 to 2 bytes): reading it again from its start`],
    ]);
    assert.equal(docs[2].marker, 'truncated');
    assert.match(docs[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  } finally {
    rx.kill();
  }
});
