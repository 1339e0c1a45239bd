/** `ps` output (sosreport ps auxwww / ps -ef). */

/** Command names (basename of argv[0], brackets stripped) from `ps aux`-style output. */
export function parsePsCommands(text: string): string[] {
  const lines = text.split('\n');
  const header = lines.findIndex((l) => /\bPID\b/.test(l) && /\bCOMMAND\b|\bCMD\b/.test(l));
  if (header < 0) return [];
  const cols = lines[header]!.trim().split(/\s+/);
  const idx = Math.max(cols.indexOf('COMMAND'), cols.indexOf('CMD'));
  const out: string[] = [];
  for (const line of lines.slice(header + 1)) {
    const f = line.trim().split(/\s+/);
    if (f.length <= idx || f[idx] === '-') continue; // ps m thread lines have "-" fields
    const cmd = f[idx]!.replace(/^\[|\]$/g, '');
    out.push(cmd.split('/').pop()!.replace(/:$/, ''));
  }
  return out;
}
