/** /proc/net/udp and udp6 rows, as the receiver reads its socket's drops. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcNetUdp } from './procnet.js';

test('procnet: /proc/net/udp and udp6 rows (real format) with inode and drops', () => {
  const udp = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  110: 0100007F:1A0A 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 123456 2 0000000000000000 17
  123: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2345 2 0000000000000000 0
`;
  assert.deepEqual(parseProcNetUdp(udp), [
    { localPort: 6666, rxQueueBytes: 2560, inode: 123456, drops: 17 },
    { localPort: 68, rxQueueBytes: 0, inode: 2345, drops: 0 },
  ]);
  const udp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  496: 00000000000000000000000000000000:1A0A 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 3
`;
  assert.deepEqual(parseProcNetUdp(udp6), [{ localPort: 6666, rxQueueBytes: 0, inode: 99, drops: 3 }]);
});
