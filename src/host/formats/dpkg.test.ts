import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDpkgL, parseDpkgStatus } from './dpkg.js';

test('dpkg status: only installed stanzas; config-files and half-installed left out; stanza without Package counted', () => {
  const text =
    'Package: a\nStatus: install ok installed\nVersion: 1.0\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 2\n\nPackage: c\nStatus: hold ok installed\nVersion: 1:3-1\n\nPackage: d\nStatus: install ok half-installed\nVersion: 4\n\nVersion: 9\n';
  const p = parseDpkgStatus(text);
  assert.deepEqual(
    [...p.value],
    [
      ['a', ['1.0']],
      ['c', ['1:3-1']],
    ],
  );
  assert.equal(p.bad, 1);
});

test('dpkg -l: ii and hi rows, arch suffix dropped', () => {
  const p = parseDpkgL('||/ Name Version Arch Desc\n+++-===\nii  libc6:amd64  2.36-9  amd64  C\nrc  gone  1  amd64  x\nhi  held  3  all  y\n');
  assert.deepEqual(
    [...p.value],
    [
      ['libc6', ['2.36-9']],
      ['held', ['3']],
    ],
  );
});
