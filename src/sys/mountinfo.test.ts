import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseMountinfo, parseSwaps } from './mountinfo.js';

test('parseMountinfo: device numbers, escaped mount points, optional fields', () => {
  const text = [
    '26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '42 27 259:2 / /tmp/my\\040disk/m rw,relatime - ext4 /dev/loop0p3 rw',
    '30 26 0:25 / /proc rw,nosuid shared:5 master:2 - proc proc rw',
    '',
  ].join('\n');
  assert.deepEqual(parseMountinfo(text), [
    { majMin: '254:0', mountPoint: '/', fstype: 'ext4', source: '/dev/vda' },
    { majMin: '259:2', mountPoint: '/tmp/my disk/m', fstype: 'ext4', source: '/dev/loop0p3' },
    { majMin: '0:25', mountPoint: '/proc', fstype: 'proc', source: 'proc' },
  ]);
});

test('parseSwaps skips the header', () => {
  assert.deepEqual(parseSwaps('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram0 partition 4194300 0 100\n/dev/vdb2 partition 1 0 -2\n'), ['/dev/zram0', '/dev/vdb2']);
  assert.deepEqual(parseSwaps(''), []);
});
