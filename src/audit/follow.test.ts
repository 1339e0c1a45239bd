import test from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { follow, type Follower } from './follow.js';

/** Everything the follower reports until `idleMs` pass without news (one next() in flight at a time). */
let inFlight: Promise<Awaited<ReturnType<Follower['next']>>> | null = null;
async function collect(f: Follower, idleMs = 150): Promise<string> {
  let out = '';
  for (;;) {
    inFlight ??= f.next();
    const n = await Promise.race([inFlight, new Promise<null>((r) => setTimeout(() => r(null), idleMs))]);
    if (n === null) return out;
    inFlight = null;
    if ('stopped' in n) return out;
    out += 'chunk' in n ? n.chunk : '|';
  }
}

test('follow: appends, a rename rotation (old file finished first), a truncation in place; each byte once, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-follow-'));
  const log = join(dir, 'audit.log');
  try {
    writeFileSync(log, 'a1\na2\n');
    const f = follow(log, 20);
    assert.equal(await collect(f), 'a1\na2\n');
    appendFileSync(log, 'a3\n');
    assert.equal(await collect(f), 'a3\n');
    // Rotation: renamed, the old file still written once more, then the new file appears.
    renameSync(log, `${log}.1`);
    appendFileSync(`${log}.1`, 'a4 late\n');
    await new Promise((r) => setTimeout(r, 60));
    writeFileSync(log, 'b1\n');
    assert.equal(await collect(f), 'a4 late\n|b1\n');
    // Truncated in place (copytruncate): read again from the start.
    appendFileSync(log, 'b2\n');
    assert.equal(await collect(f), 'b2\n');
    truncateSync(log, 0);
    await new Promise((r) => setTimeout(r, 60));
    appendFileSync(log, 'c1\n');
    assert.equal(await collect(f), '|c1\n');
    assert.deepEqual(f.events, { rotations: 1, truncations: 1 });
    appendFileSync(log, 'c2\n');
    f.stop();
    assert.equal(await collect(f), 'c2\n', 'stop reads what was written so far');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
