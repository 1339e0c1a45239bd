/**
 * Golden output of every line format: the datagrams of test/data/netconsole/golden/input.json
 * (plain lines, tabs, quotes and backslashes, valid and invalid UTF-8, control bytes, a line split
 * over two datagrams, one left partial until shutdown, extended records with flag, caller=,
 * escapes, a dictionary, a gap, a malformed header, a restart, runs across midnight UTC) through a
 * Pipeline into per-sender and combined files, for text, udplogger and JSON, in UTC and in local
 * time (Asia/Kathmandu, +05:45). The golden files were written by the build before the receive
 * thread preformatted these formats (README.md says how): the JavaScript decode path, and the
 * pipeline taking the addon's preformatted lines (one by one and in runs), must both give exactly
 * those bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pipeline } from './pipeline.js';
import { resolveConfig } from './config.js';
import { encodeNativeBatch, type Preformatted } from './native-batch.js';
import { loadNative, type PreformatFormat } from './native.js';
import { facilitySkip } from '../common/testenv.js';

const data = new URL('../../test/data/netconsole/golden/', import.meta.url).pathname;
const input = JSON.parse(readFileSync(join(data, 'input.json'), 'utf8')) as {
  peers: Array<{ family: 4 | 6; address: number[]; port: number }>;
  datagrams: Array<{ peer: number; timeUs: number; hex: string }>;
};
const loaded = loadNative();
const mod = 'mod' in loaded ? loaded.mod : null;
const skipNative = facilitySkip(mod ? undefined : `native receive path not built: ${'error' in loaded ? loaded.error : ''}`);

type Item = Parameters<typeof encodeNativeBatch>[0][number];

function items(): Array<Item & { peer: number }> {
  return input.datagrams.map((d) => {
    const p = input.peers[d.peer]!;
    return { family: p.family, address: Uint8Array.from(p.address), port: p.port, timeUs: d.timeUs, payload: Buffer.from(d.hex, 'hex'), peer: d.peer };
  });
}

/** The addon's preformatting of each datagram, in runs as the receive thread forms them (runs: false: each alone). */
function preformatted(format: PreformatFormat, local: boolean, runs: boolean): Item[] {
  const m = mod!;
  const list = items().map((it) => ({
    ...it,
    pre: m.preformat(Buffer.from(it.payload), it.family, Buffer.from(it.address), it.port, it.timeUs, { preformat: format, localTime: local ? 1 : 0 }) as Preformatted | null,
    run: 0,
  }));
  let first = -1;
  list.forEach((it, i) => {
    const prev = i > 0 ? list[i - 1]! : null;
    const pre = it.pre;
    if (!pre) {
      first = -1;
      return;
    }
    const day = (x: typeof it) => Math.floor((x.timeUs / 1e6 + (x.pre!.zoneQuarters ?? 0) * 900) / 86400);
    const goesOn =
      runs &&
      first >= 0 &&
      prev!.pre !== null &&
      prev!.peer === it.peer &&
      prev!.pre.kind === pre.kind &&
      prev!.pre.zoneQuarters === pre.zoneQuarters &&
      day(prev!) === day(it) &&
      (pre.kind === 1 || (pre.seq === prev!.pre.seq + 1 && pre.tsUsec >= prev!.pre.tsUsec));
    if (goesOn) list[first]!.run!++;
    else {
      first = i;
      it.run = 1;
    }
  });
  return list;
}

function tree(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(`== ${p.slice(dir.length + 1)}\n${readFileSync(p, 'latin1')}`);
    }
  };
  walk(dir);
  return out.join('');
}

async function output(format: 'text' | 'udplogger' | 'json', time: 'utc' | 'local', batch: Item[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-nc-golden-'));
  try {
    const cfg = resolveConfig({ dir, combined: true, format, time, partialTimeout: '1h' });
    const p = new Pipeline(cfg, () => 1_764_202_000_000_000);
    p.ingestNative(encodeNativeBatch(batch), batch.length);
    assert.equal((await p.stop()).unwritten, 0);
    return tree(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FORMATS = [
  ['text', 1],
  ['udplogger', 2],
  ['json', 3],
] as const;

for (const [format, code] of FORMATS)
  for (const time of ['utc', 'local'] as const) {
    const golden = readFileSync(join(data, `${format}-${time}.txt`), 'latin1');
    const withZone = async <T>(fn: () => Promise<T>): Promise<T> => {
      const before = process.env.TZ;
      process.env.TZ = 'Asia/Kathmandu';
      try {
        return await fn();
      } finally {
        if (before === undefined) delete process.env.TZ;
        else process.env.TZ = before;
      }
    };
    test(`golden: --format ${format} --time ${time}, decoded in JavaScript`, () =>
      withZone(async () => {
        assert.equal(await output(format, time, items()), golden);
      }));
    test(`golden: --format ${format} --time ${time}, the receive thread's preformatted lines, alone and in runs`, { skip: skipNative }, () =>
      withZone(async () => {
        const single = preformatted(code, time === 'local', false);
        assert.ok(single.filter((x) => x.pre).length >= 20, 'most datagrams are preformatted');
        assert.equal(await output(format, time, single), golden);
        const runs = preformatted(code, time === 'local', true);
        assert.ok(
          runs.some((x) => (x.run ?? 0) > 2),
          'runs of several datagrams',
        );
        assert.equal(await output(format, time, runs), golden);
        // Stamps written in another zone offset than the pipeline's clock has are not taken: decoded instead.
        const otherZone = runs.map((x) => ({ ...x, pre: x.pre ? { ...x.pre, zoneQuarters: (x.pre.zoneQuarters ?? 0) + 4 } : null }));
        assert.equal(await output(format, time, otherZone), golden);
      }),
    );
  }
