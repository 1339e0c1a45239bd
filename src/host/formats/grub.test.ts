import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandGrubVars, grubDefaultArgs, grubLegacyDefault, parseBlsEntry, parseGrubenv } from './grub.js';

test('boot loader configuration: BLS entry, grubenv variables, /etc/default/grub, legacy grub.conf', () => {
  const e = parseBlsEntry('title X\nversion 5.14.0-1.el9.x86_64\nlinux /vmlinuz-5.14.0-1.el9.x86_64\noptions $kernelopts quiet\n');
  assert.equal(e.version, '5.14.0-1.el9.x86_64');
  assert.equal(expandGrubVars(e.options!, parseGrubenv('# GRUB Environment Block\nkernelopts=root=/dev/sda1 ro\n####')), 'root=/dev/sda1 ro quiet');
  assert.equal(
    grubDefaultArgs(['GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n']),
    'console=ttyS0 quiet crashkernel=384M-:128M',
  );
  assert.equal(grubDefaultArgs(['GRUB_TIMEOUT=5\n']), null);
  const g = grubLegacyDefault('default=1\ntitle A\n\tkernel /vmlinuz-a ro a\ntitle B\n\tkernel /vmlinuz-b ro b quiet\n');
  assert.deepEqual(g, { title: 'B', args: 'ro b quiet' });
  assert.equal(grubLegacyDefault('no entries'), null);
});
