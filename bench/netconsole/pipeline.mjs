// Micro-benchmark of the pipeline thread alone: prebuilt native-layout batches (the same
// SysRq-T burst as run.mjs, 64 senders, half legacy, half extended) fed straight into
// Pipeline.ingestNative, writing per-sender files to a temporary directory. No UDP, no
// receive thread: µs of JavaScript per line for decode -> assemble -> format -> write.
// Usage: node --max-semi-space-size=8 bench/netconsole/pipeline.mjs [lines] [rounds] [senders]   (after npm run build;
// the semi-space size is the pipeline worker's: 24 MiB young generation)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pipeline } from '../../dist/netconsole/pipeline.js';
import { DEFAULTS } from '../../dist/netconsole/config.js';
import { encodeNativeBatch } from '../../dist/netconsole/native-batch.js';
import { dumpLines } from './sysrq-dump.mjs';

const LINES = Number(process.argv[2] ?? 300000);
const ROUNDS = Number(process.argv[3] ?? 3);
const SENDERS = Number(process.argv[4] ?? 64);

function makeBatches() {
  const per = Math.ceil(LINES / SENDERS);
  const bySender = [];
  for (let s = 0; s < SENDERS; s++) {
    const ext = s >= SENDERS / 2;
    let ts = 1234_000_000 + s;
    bySender.push(
      dumpLines(s, per).map((text, seq) => {
        ts += 7;
        const us = String(ts % 1e6).padStart(6, '0');
        return Buffer.from(ext ? `6,${1000 + seq},${ts},-;${text}\n` : `[${String(Math.floor(ts / 1e6)).padStart(5)}.${us}] ${text}\n`);
      }),
    );
  }
  const items = [];
  let t = Date.UTC(2026, 10, 26, 19, 0, 0) * 1000;
  for (let i = 0; i < per; i++)
    for (let s = 0; s < SENDERS; s++) {
      t += 3; // about 300,000 datagrams/s
      items.push({ family: 4, address: Uint8Array.of(127, 0, 0, 1), port: 10000 + s, timeUs: t, payload: bySender[s][i] });
    }
  const batches = [];
  for (let i = 0; i < items.length; i += 1024) {
    const slice = items.slice(i, i + 1024);
    batches.push({ buf: encodeNativeBatch(slice), count: slice.length });
  }
  return { batches, lines: items.length };
}

const { batches, lines } = makeBatches();
for (let r = 0; r < ROUNDS; r++) {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-nc-pipe-'));
  const p = new Pipeline({ ...DEFAULTS, dir, stateDir: dir }, () => Date.now() * 1000);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (const b of batches) {
    p.ingestNative(b.buf, b.count);
    await new Promise((res) => setImmediate(res)); // let writes progress, as the worker does
  }
  const tIngest = Number(process.hrtime.bigint() - t0) / 1e3;
  await p.stop();
  const tAll = Number(process.hrtime.bigint() - t0) / 1e3;
  const cu = process.cpuUsage(c0);
  const cpu = cu.user + cu.system;
  const c = p.counters();
  console.log(
    `round ${r + 1}: ${lines} lines, ${c.linesWritten} written; ingest ${(tIngest / lines).toFixed(2)} µs/line, incl. final writes ${(tAll / lines).toFixed(2)} µs/line; process CPU ${(cpu / lines).toFixed(2)} µs/line`,
  );
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
