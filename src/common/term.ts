/** Terminal helpers: colour only when writing to a TTY (and NO_COLOR is unset). */
import pc from 'picocolors';

export function useColour(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

export type Paint = ReturnType<typeof pc.createColors>;

/** A colour palette that is a no-op when colour is off. */
export function paint(stream: NodeJS.WriteStream = process.stdout): Paint {
  return pc.createColors(useColour(stream));
}

/** Keep host-derived text printable on one line (no terminal escapes, no newlines). */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}
