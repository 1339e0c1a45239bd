import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enabledFromUnitFiles, maskedFromUnitFiles, parseListUnits, parseUnitFiles, UNIT_NAME, UNIT_TYPES } from './systemd-units.js';

const LISTING =
  'UNIT FILE STATE PRESET\nkdump.service enabled enabled\nfoo.timer enabled-runtime -\nbar.service disabled enabled\nbaz.socket static -\nvar-lib.mount enabled -\ndev-sdb.swap masked -\nsystemd-tmpfiles-clean.path masked-runtime -\nuser.slice static -\n\n8 unit files listed.\n';

test('list-unit-files: every unit type, one state per unit', () => {
  const m = parseUnitFiles(LISTING);
  assert.equal(m.get('kdump.service'), 'enabled');
  assert.equal(m.get('var-lib.mount'), 'enabled');
  assert.equal(m.get('dev-sdb.swap'), 'masked');
  assert.equal(m.size, 8);
  assert.ok(!m.has('UNIT'));
  for (const t of UNIT_TYPES) assert.ok(UNIT_NAME.test(`x.${t}`), t);
  assert.ok(!UNIT_NAME.test('a/b.service'));
});

test('enabled and masked units are read from the same listing as the states', () => {
  assert.deepEqual(enabledFromUnitFiles(LISTING), ['foo.timer', 'kdump.service', 'var-lib.mount']);
  assert.deepEqual(
    [...maskedFromUnitFiles(LISTING)],
    [
      ['dev-sdb.swap', 'masked'],
      ['systemd-tmpfiles-clean.path', 'masked-runtime'],
    ],
  );
});

test('list-units: active and sub state, the failed marker dropped, any unit type', () => {
  assert.deepEqual(parseListUnits('● kdump.service loaded failed failed Crash recovery kernel arming\n').get('kdump.service'), { active: 'failed', sub: 'failed' });
  assert.deepEqual(parseListUnits('  var-lib.mount loaded active mounted /var/lib\n').get('var-lib.mount'), { active: 'active', sub: 'mounted' });
});
