/** For tests that read one process's /proc files twice and compare the two reads. */

/**
 * The part of a /proc/<pid> file that holds still between two reads of a running process: stat's
 * first 9 fields without the state (R while the test runs, S a moment later), status's first
 * lines without `State:` and only the names of the rest (times and memory move); other files whole.
 */
export function steadyProcText(file: string, text: string): string {
  if (file === 'stat')
    return text
      .split(' ')
      .slice(0, 9)
      .map((f, i) => (i === 2 ? '?' : f))
      .join(' ');
  if (file === 'status')
    return text
      .split('\n')
      .map((l, i) => (i < 7 && !l.startsWith('State:') ? l : l.split(':')[0]))
      .join('\n');
  return text;
}
