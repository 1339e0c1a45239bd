/** The kernel command line (/proc/cmdline, a boot entry's options). */

export interface Cmdline {
  /** Kernel parameters in order, as written (`--` and what follows go to init, not the kernel). */
  tokens: string[];
  /** key -> every value given (a bare flag has the value ""). */
  params: Map<string, string[]>;
}

/** Split a kernel command line the way the kernel does: whitespace, double quotes group. */
export function parseCmdline(text: string): Cmdline {
  const tokens: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (const ch of text.replace(/\0/g, ' ')) {
    if (ch === '"') {
      inQuote = !inQuote;
      has = true;
      continue;
    }
    if (!inQuote && /\s/.test(ch)) {
      if (has) tokens.push(cur);
      cur = '';
      has = false;
      continue;
    }
    cur += ch;
    has = true;
  }
  if (has) tokens.push(cur);
  const end = tokens.indexOf('--');
  const kernelTokens = end >= 0 ? tokens.slice(0, end) : tokens;
  const params = new Map<string, string[]>();
  for (const t of kernelTokens) {
    const eq = t.indexOf('=');
    const key = eq >= 0 ? t.slice(0, eq) : t;
    const value = eq >= 0 ? t.slice(eq + 1) : '';
    const list = params.get(key) ?? [];
    list.push(value);
    params.set(key, list);
  }
  return { tokens: kernelTokens, params };
}

/** Last value of a kernel parameter (the kernel generally honours the last one), or undefined. */
export function cmdlineValue(c: Cmdline, key: string): string | undefined {
  const v = c.params.get(key);
  return v && v.length ? v[v.length - 1] : undefined;
}
