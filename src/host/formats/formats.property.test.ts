/** Every format parser takes any text: it never throws, whatever a file holds. */
import { test } from 'node:test';
import fc from 'fast-check';
import { parseChkconfig } from './chkconfig.js';
import { parseCmdline } from './cmdline.js';
import { parseDentryState } from './dentry-state.js';
import { parseDpkgL, parseDpkgStatus } from './dpkg.js';
import { grubDefaultArgs, grubLegacyDefault, parseBlsEntry, parseGrubenv } from './grub.js';
import { parseKdumpConf, parseKdumpEstimate } from './kdump.js';
import { parseKernelConfig, parseKernelRelease } from './kernel.js';
import { meminfoKiB } from './meminfo.js';
import { parseUptimeCommand } from './proc.js';
import { parsePsCommands } from './ps.js';
import { parseRpmList, parseRpmQf } from './rpm.js';
import { parseShellVars } from './shell-vars.js';
import { parseSysctlAll, parseSysctlConf } from './sysctl.js';
import { parseListUnits, parseUnitFiles } from './systemd-units.js';

test('format parsers never throw on arbitrary input', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      for (const f of [
        parseChkconfig,
        parseCmdline,
        parseDentryState,
        parseDpkgL,
        parseDpkgStatus,
        parseGrubenv,
        parseBlsEntry,
        grubLegacyDefault,
        parseKdumpConf,
        parseKdumpEstimate,
        parseKernelConfig,
        parseKernelRelease,
        parseUptimeCommand,
        parsePsCommands,
        parseRpmList,
        parseRpmQf,
        parseShellVars,
        parseSysctlAll,
        parseListUnits,
        parseUnitFiles,
      ])
        f(s);
      grubDefaultArgs([s]);
      parseSysctlConf(s, '/x');
      meminfoKiB(s, 'MemTotal');
      return true;
    }),
  );
});
