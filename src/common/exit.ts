/**
 * Stable exit codes shared by every `lantern` command. Documented in docs/exit-codes.md.
 * 0/1/2 carry a verdict (check: ok / warn / fail); the rest say why a run could not work.
 */
export const EXIT = {
  OK: 0,
  WARN: 1,
  FAIL: 2,
  /** Bad arguments or options (BSD sysexits EX_USAGE). */
  USAGE: 64,
  /** Input data could not be used (EX_DATAERR). */
  DATAERR: 65,
  /** An input file or root could not be opened (EX_NOINPUT). */
  NOINPUT: 66,
  /** A needed facility (tracefs, an event, a package) is missing (EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
  /** A bug in Lantern (EX_SOFTWARE). */
  SOFTWARE: 70,
  /** Could not create or write output (EX_CANTCREAT / EX_IOERR). */
  IOERR: 74,
  /** Needs root (EX_NOPERM). */
  NOPERM: 77,
  /**
   * The reader closed the pipe (`lantern check | head -1`): the command stopped quietly, as a Unix
   * filter killed by SIGPIPE does; 128 + 13 is what a shell shows for one. Node ignores SIGPIPE, so
   * it cannot be re-raised with its default action.
   */
  PIPE: 141,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends a command with a clear one-line message and a stable exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.USAGE,
  ) {
    super(message);
  }
}
