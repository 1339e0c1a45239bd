/**
 * The readiness checks. Each takes the run's `Facts` and returns one `Finding`; the rules
 * decide statuses from parsed values and never touch the host themselves.
 * A datum a snapshot did not collect yields `unknown` with the reason, never `ok`.
 */
import type { CheckDef } from './common.js';
import { kdumpService, kdumpCrashkernel, kdumpReserved, kdumpTarget } from './kdump.js';
import { sysrqMask, sysrqPersisted } from './sysrq.js';
import { bootQuiet, printkLogbuf, printkTime } from './printk.js';
import { consoleCapture } from './console.js';
import { consoleReceivers } from './receivers.js';
import { oomPanic, oomExempt } from './oom.js';
import { hungTimeout, hungWarnings, hungPanic } from './hung.js';
import { panicSettings } from './panic.js';
import { vfsCachePressure } from './vm.js';
import { sysstat, audit } from './history.js';
import { uptimeBugs } from './uptime.js';

export type { CheckDef } from './common.js';

/** Every check, in report order. Ids are stable (docs/check.md). */
export const CHECKS: CheckDef[] = [
  kdumpService,
  kdumpCrashkernel,
  kdumpReserved,
  kdumpTarget,
  sysrqMask,
  sysrqPersisted,
  bootQuiet,
  printkLogbuf,
  printkTime,
  consoleCapture,
  consoleReceivers,
  oomPanic,
  oomExempt,
  hungTimeout,
  hungWarnings,
  hungPanic,
  panicSettings,
  vfsCachePressure,
  sysstat,
  audit,
  uptimeBugs,
];
