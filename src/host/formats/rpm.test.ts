import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRpmList, parseRpmQf, splitNvra } from './rpm.js';

test('rpm: NVRA split, several kernels kept, bad line counted', () => {
  assert.deepEqual(splitNvra('kernel-4.18.0-513.5.1.el8_9.x86_64'), { name: 'kernel', version: '4.18.0-513.5.1.el8_9' });
  assert.deepEqual(splitNvra('python3-libs-3.6.8-56.el8_9.noarch'), { name: 'python3-libs', version: '3.6.8-56.el8_9' });
  assert.deepEqual(splitNvra('gpg-pubkey-fd431d51-4ae0493b'), { name: 'gpg-pubkey', version: 'fd431d51-4ae0493b' });
  assert.equal(splitNvra('nodash'), null);
  const p = parseRpmList('kernel-4.18.0-513.5.1.el8_9.x86_64   Tue Oct 10 09:00:00 2023\nkernel-4.18.0-477.10.1.el8_8.x86_64  Mon\nweird\n');
  assert.deepEqual(p.value.get('kernel'), ['4.18.0-477.10.1.el8_8', '4.18.0-513.5.1.el8_9']);
  assert.equal(p.bad, 1);
  const s = parseRpmList('sysstat-11.7.3-9.el8.x86_64                  Tue Oct 10 2023\nsysstat-extra-1-1.noarch\n').value;
  assert.deepEqual([s.get('sysstat'), s.get('sysstat-extra')], [['11.7.3-9.el8'], ['1-1']]);
  const q = parseRpmQf('bash\t0:5.1.8-6.el9\nshadow-utils\t2:4.9-8.el9\nbad line\n');
  assert.deepEqual(
    [...q.value],
    [
      ['bash', ['5.1.8-6.el9']],
      ['shadow-utils', ['2:4.9-8.el9']],
    ],
  );
  assert.equal(q.bad, 1);
});
