/**
 * Property test of the Host's resolver: random trees of absolute, relative, looping and chained
 * links, '..' and '.' components, FIFOs and (as root) device nodes, next to an outside directory
 * holding a secret, a FIFO and links back. Whatever the tree and the path: every path the Host
 * hands out lies inside the root, no outside content is ever returned, and nothing blocks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Host } from './host.js';
import { isInside } from '../common/evidence.js';

const SECRET = 'OUTSIDE-SECRET';
const isRoot = process.getuid?.() === 0;

/** The outside world: a secret file, a FIFO nobody writes, a link into the tree's parent. */
function outside(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-prop-out-'));
  writeFileSync(join(dir, 'secret'), SECRET + '\n');
  spawnSync('mkfifo', [join(dir, 'fifo')]);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub/secret'), SECRET + '\n');
  return dir;
}

const NAMES = ['a', 'b', 'c', 'etc', 'proc', 'x'];
const name = fc.constantFrom(...NAMES);
const relPath = fc.array(fc.oneof({ weight: 6, arbitrary: name }, { weight: 2, arbitrary: fc.constant('..') }, { weight: 1, arbitrary: fc.constant('.') }), { minLength: 1, maxLength: 5 });

type Entry = { kind: 'dir' | 'file' | 'fifo' | 'chardev' } | { kind: 'link'; target: { abs: boolean; parts: string[] } | { outside: 'secret' | 'fifo' | 'sub' | 'dir' | 'root' } };

const entry: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'dir' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'file' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'fifo' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'chardev' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('link' as const), target: fc.record({ abs: fc.boolean(), parts: relPath }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('link' as const), target: fc.record({ outside: fc.constantFrom('secret' as const, 'fifo' as const, 'sub' as const, 'dir' as const, 'root' as const) }) }),
  },
);

/** Entries keyed by their path inside the tree (parents made as directories first). */
const treeSpec = fc.array(fc.tuple(fc.array(name, { minLength: 1, maxLength: 3 }), entry), { minLength: 1, maxLength: 25 });

/** Parent directories made one component at a time, never through a link (a link to / is in the tree). */
function makeParents(root: string, parts: string[]): boolean {
  let cur = root;
  for (const part of parts.slice(0, -1)) {
    cur = join(cur, part);
    let st = null;
    try {
      st = lstatSync(cur);
    } catch {
      mkdirSync(cur);
      continue;
    }
    if (!st.isDirectory()) return false;
  }
  return true;
}

function build(spec: [string[], Entry][], out: string): string {
  const root = mkdtempSync(join(tmpdir(), 'lantern-prop-'));
  for (const [parts, e] of spec) {
    const p = join(root, ...parts);
    // Each name once: writing a file onto a FIFO made earlier would block the test itself.
    if (!makeParents(root, parts) || existsAt(p)) continue;
    switch (e.kind) {
      case 'dir':
        mkdirSync(p);
        break;
      case 'file':
        writeFileSync(p, 'inside\n', { flag: 'wx' });
        break;
      case 'fifo':
        spawnSync('mkfifo', [p]);
        break;
      case 'chardev':
        // /dev/zero's numbers: a read through it would never end.
        if (isRoot) spawnSync('mknod', [p, 'c', '1', '5']);
        break;
      case 'link': {
        const t = e.target;
        const target = 'outside' in t ? (t.outside === 'dir' ? out : t.outside === 'root' ? '/' : join(out, t.outside)) : (t.abs ? '/' : '') + t.parts.join('/');
        symlinkSync(target, p);
        break;
      }
    }
  }
  return root;
}

function existsAt(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

test('resolution never leaves the root and never blocks, on random hostile trees', { timeout: 300_000 }, () => {
  const out = outside();
  fc.assert(
    fc.property(treeSpec, fc.array(fc.tuple(fc.boolean(), relPath), { minLength: 1, maxLength: 8 }), (spec, probes) => {
      const root = build(spec, out);
      try {
        const host = new Host({ root });
        for (const [, parts] of probes) {
          const live = '/' + parts.join('/');
          const started = Date.now();
          const mapped = host.mapPath(live);
          assert.ok(isInside(mapped, root), `mapPath(${live}) = ${mapped} is outside ${root}`);
          const r = host.readText(live);
          if (r.ok) {
            assert.ok(isInside(r.path, root), `readText(${live}) read ${r.path}`);
            assert.ok(!r.text.includes(SECRET), `readText(${live}) returned outside content`);
          }
          const l = host.list(live);
          if (l.ok) {
            assert.ok(isInside(l.path, root), `list(${live}) listed ${l.path}`);
            assert.ok(!(l.entries.includes('secret') && l.entries.includes('fifo') && l.entries.includes('sub')), `list(${live}) listed the outside directory`);
          }
          host.exists(live);
          host.isDirectory(live);
          host.readLink(live);
          host.readHead(live);
          assert.ok(Date.now() - started < 2000, `${live} took ${Date.now() - started} ms`);
        }
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }),
    { numRuns: Number(process.env.PROP_RUNS ?? 200), endOnFailure: true },
  );
  rmSync(out, { recursive: true, force: true });
});
