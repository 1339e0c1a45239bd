import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePsCommands } from './ps.js';

test('ps: command basenames, kernel threads unbracketed, thread lines skipped', () => {
  assert.deepEqual(
    parsePsCommands(
      'USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\nroot 1 0 0 1 1 ? Ss Oct10 0:12 /usr/lib/systemd/systemd --switched-root\nroot - 0 - - - - Ss Oct10 0:12 -\nroot 2 0 0 0 0 ? S Oct10 0:00 [kthreadd]\n',
    ),
    ['systemd', 'kthreadd'],
  );
});
