import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChkconfig, parseChkconfigList, startsMultiUser, sysvStartService } from './chkconfig.js';

const RHEL6 =
  'kdump          \t0:off\t1:off\t2:off\t3:on\t4:on\t5:on\t6:off\nsysstat\t0:off\t1:on\t2:off\t3:off\t4:off\t5:off\t6:off\nnetfs  0:off 1:off 2:off 3:off 4:off 5:off 6:off\nbroken 0:off 1:off\n\nxinetd based services:\n\tchargen-dgram: off\n';

test('chkconfig --list: every service with the runlevels it starts in; the xinetd block is not services; short lines are bad', () => {
  const p = parseChkconfig(RHEL6);
  assert.deepEqual(
    [...p.value],
    [
      ['kdump', ['3', '4', '5']],
      ['sysstat', ['1']],
      ['netfs', []],
    ],
  );
  assert.equal(p.bad, 1);
  assert.ok(startsMultiUser(p.value.get('kdump')!));
  assert.ok(!startsMultiUser(p.value.get('sysstat')!));
});

test('the started services (baseline) are the same reading without those off everywhere', () => {
  assert.deepEqual(
    [...parseChkconfigList(RHEL6).value],
    [
      ['kdump', ['3', '4', '5']],
      ['sysstat', ['1']],
    ],
  );
  assert.equal(sysvStartService('S26kdump'), 'kdump');
  assert.equal(sysvStartService('K10kdump'), null);
});
