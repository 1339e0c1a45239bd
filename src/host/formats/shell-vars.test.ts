import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOsRelease, parseShellVars } from './shell-vars.js';

test('shell variable files: quotes, export, comments; os-release', () => {
  const v = parseShellVars('USE_KDUMP=1\nKDUMP_COREDIR="/var/crash" \nexport X=\'a b\'\n# Y=2\nZ=3 # note\n');
  assert.deepEqual(
    [...v],
    [
      ['USE_KDUMP', '1'],
      ['KDUMP_COREDIR', '/var/crash'],
      ['X', 'a b'],
      ['Z', '3'],
    ],
  );
  assert.equal(parseOsRelease('NAME="Rocky Linux"\nVERSION_ID="9.3"\n').get('VERSION_ID'), '9.3');
});
