/**
 * What `lantern check` starts before its modules load (cli/main.ts calls it first): the scan of
 * the live process table (host/proctable.ts startEarlyScan), which the checks' ~30 ms of module
 * loading then overlaps. Only for a full run on this host: with --root or --sosreport there is no
 * live table to read, with --only the checks chosen may not read it, and help or a version is
 * not a run. Anything here that cannot tell leaves the work to the run itself, which reads the
 * table as before.
 */
import { Host } from '../host/host.js';
import { PROCESS_FILES, startEarlyScan } from '../host/proctable.js';

/** Options after which the run does not read the live process table (or does not run at all). */
const NOT_A_LIVE_FULL_RUN = /^(--root|--sosreport|--only|--help|-h|--version|-V)(=|$)/;

/** argv as node gives it (`node lantern check …`); whether a scan was started. */
export function startEarly(argv: readonly string[]): boolean {
  const args = argv.slice(2);
  if (args[0] !== 'check' || args.some((a) => NOT_A_LIVE_FULL_RUN.test(a) || a === 'help')) return false;
  return startEarlyScan(new Host(), PROCESS_FILES);
}
