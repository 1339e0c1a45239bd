#!/usr/bin/env node
// Builds Lantern's optional native addons (every native/<name>/ that has a binding.gyp) with the
// node-gyp that ships inside npm. Never fails the install: on any failure it prints one line per
// addon and the capability that uses it falls back (or says, at run time, what it cannot do).
// Each addon says what it is for in native/<name>/PURPOSE (one line), printed here. A folder without
// a binding.gyp (native/bpf-common) is shared source that addons compile in through their own binding.gyp.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(repo, 'native');

function findNodeGyp() {
  const candidates = [];
  // npm sets npm_execpath to its npm-cli.js while running install scripts.
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push('/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js', '/usr/share/nodejs/node-gyp/bin/node-gyp.js');
  return candidates.find((p) => existsSync(p));
}

function purpose(dir, name) {
  try {
    return readFileSync(join(dir, 'PURPOSE'), 'utf8').split('\n')[0].trim() || name;
  } catch {
    return name;
  }
}

const addons = existsSync(nativeDir)
  ? readdirSync(nativeDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(nativeDir, d.name, 'binding.gyp')))
      .map((d) => d.name)
      .sort()
  : [];

for (const name of addons) {
  const dir = join(nativeDir, name);
  const what = purpose(dir, name);
  try {
    if (process.platform !== 'linux') throw new Error(`not Linux (${process.platform})`);
    const gyp = findNodeGyp();
    if (!gyp) throw new Error('node-gyp not found next to npm');
    const args = [gyp, 'rebuild', '--release'];
    // Build against the installed Node headers when present (no download, works offline).
    if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
    const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      const why = `${r.stderr ?? ''}${r.stdout ?? ''}`
        .split('\n')
        .filter((l) => /error/i.test(l))
        .slice(0, 1)
        .join('')
        .trim();
      throw new Error(`node-gyp exited ${r.status ?? r.signal}${why ? `: ${why}` : ''}`);
    }
    console.log(`lantern: built native/${name} (${what})`);
  } catch (e) {
    console.log(`lantern: native/${name} not built (${e.message}); ${what}: unavailable or on its fallback path`);
  }
}
