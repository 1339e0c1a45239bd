/** Linux signal numbers (x86_64 / generic), names, default actions and si_code meanings. Pure. */

const NAMES: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  5: 'SIGTRAP',
  6: 'SIGABRT',
  7: 'SIGBUS',
  8: 'SIGFPE',
  9: 'SIGKILL',
  10: 'SIGUSR1',
  11: 'SIGSEGV',
  12: 'SIGUSR2',
  13: 'SIGPIPE',
  14: 'SIGALRM',
  15: 'SIGTERM',
  16: 'SIGSTKFLT',
  17: 'SIGCHLD',
  18: 'SIGCONT',
  19: 'SIGSTOP',
  20: 'SIGTSTP',
  21: 'SIGTTIN',
  22: 'SIGTTOU',
  23: 'SIGURG',
  24: 'SIGXCPU',
  25: 'SIGXFSZ',
  26: 'SIGVTALRM',
  27: 'SIGPROF',
  28: 'SIGWINCH',
  29: 'SIGIO',
  30: 'SIGPWR',
  31: 'SIGSYS',
};

export function signalName(sig: number): string {
  if (NAMES[sig]) return NAMES[sig]!;
  if (sig >= 34 && sig <= 64) return sig === 34 ? 'SIGRTMIN' : `SIGRTMIN+${sig - 34}`;
  return `SIG${sig}`;
}

/** Signals whose default action is not to terminate: ignore (CHLD, URG, WINCH), continue, stop. */
export const NON_FATAL_BY_DEFAULT = [17, 18, 19, 20, 21, 22, 23, 28];

/** Would this signal end the process if its handler is SIG_DFL? */
export function isFatalByDefault(sig: number): boolean {
  return sig >= 1 && sig <= 64 && !NON_FATAL_BY_DEFAULT.includes(sig);
}

/** si_code values (include/uapi/asm-generic/siginfo.h) that mean "sent by a process". */
export function senderKindOf(code: number): 'process' | 'kernel' {
  // SI_USER 0, SI_QUEUE -1, SI_TIMER -2, SI_MESGQ -3, SI_ASYNCIO -4, SI_SIGIO -5, SI_TKILL -6;
  // SI_KERNEL 0x80 and positive fault codes (SEGV_MAPERR 1, ...) come from the kernel itself.
  return code <= 0 ? 'process' : 'kernel';
}

export function siCodeName(code: number, sig: number): string {
  switch (code) {
    case 0:
      return 'SI_USER';
    case -1:
      return 'SI_QUEUE';
    case -2:
      return 'SI_TIMER';
    case -6:
      return 'SI_TKILL';
    case 0x80:
      return 'SI_KERNEL';
    default:
      if (sig === 11 && code === 1) return 'SEGV_MAPERR';
      if (sig === 11 && code === 2) return 'SEGV_ACCERR';
      if (sig === 7 && code === 2) return 'BUS_ADRERR';
      return String(code);
  }
}
