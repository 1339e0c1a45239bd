/** Debian package state: /var/lib/dpkg/status and `dpkg -l`. */
import type { Parsed } from './parsed.js';
import { addVersion } from './versions.js';

/**
 * Installed packages from /var/lib/dpkg/status: stanzas whose Status ends in "installed"
 * ("install ok installed", "hold ok installed"; not config-files, half-installed, unpacked).
 */
export function parseDpkgStatus(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  for (const stanza of text.split(/\n\s*\n/)) {
    if (!stanza.trim()) continue;
    const name = /^Package:\s*(\S+)\s*$/m.exec(stanza)?.[1];
    const status = /^Status:\s*(.*?)\s*$/m.exec(stanza)?.[1];
    if (!name || status === undefined) {
      bad++;
      continue;
    }
    if (!/\binstalled$/.test(status) || /half-installed$/.test(status)) continue;
    addVersion(map, name, /^Version:\s*(\S+)\s*$/m.exec(stanza)?.[1] ?? '');
  }
  return { value: map, bad };
}

/** `dpkg -l` output: "ii  name[:arch]  version  arch  description"; "ii" and "hi" (held) are installed. */
export function parseDpkgL(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!/^[a-z][a-zA-Z]\S?\s/.test(line)) continue; // header and separator lines
    const f = line.trim().split(/\s+/);
    if (f.length < 3) {
      bad++;
      continue;
    }
    if (f[0] !== 'ii' && f[0] !== 'hi') continue;
    addVersion(map, f[1]!.replace(/:[\w-]+$/, ''), f[2]!);
  }
  return { value: map, bad };
}
