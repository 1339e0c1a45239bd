import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cmdlineValue, parseCmdline } from './cmdline.js';

test('cmdline: quotes, repeated keys, flags, and init arguments after --', () => {
  const c = parseCmdline('ro quiet console=tty0 console=ttyS0,115200n8 netconsole="+@/eth0,6666@10.0.0.9/" crashkernel=auto -- --init-arg quiet\n');
  assert.deepEqual(c.params.get('console'), ['tty0', 'ttyS0,115200n8']);
  assert.equal(cmdlineValue(c, 'console'), 'ttyS0,115200n8');
  assert.equal(c.params.get('quiet')?.length, 1, 'quiet after -- belongs to init');
  assert.deepEqual(c.params.get('netconsole'), ['+@/eth0,6666@10.0.0.9/']);
  assert.ok(!c.params.has('rhgb'));
  assert.ok(!parseCmdline('quietly=1 #rhgb').params.has('quiet'));
});
