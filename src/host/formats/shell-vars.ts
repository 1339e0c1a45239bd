/** Shell-style KEY=value files: /etc/default/*, /etc/sysconfig/*, os-release. */

/** Parse a shell-style KEY=value file (/etc/default/kdump-tools, /etc/sysconfig/*): unquotes values. */
export function parseShellVars(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const r = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!r) continue;
    let v = r[2]!.trim();
    const q = /^"([^"]*)"|^'([^']*)'/.exec(v);
    if (q) v = q[1] ?? q[2] ?? '';
    else v = v.replace(/\s+#.*$/, '');
    m.set(r[1]!, v);
  }
  return m;
}

/** os-release KEY=value. */
export function parseOsRelease(text: string): Map<string, string> {
  return parseShellVars(text);
}
