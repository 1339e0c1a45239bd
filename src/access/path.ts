/**
 * Path names in access lines, as TOMOYO writes them (pure).
 *
 * - Absolute: a relative argument is joined to the process's working directory, an absolute one
 *   inside a chroot to the process's root; `.` and `..` are folded lexically (the kernel already
 *   resolved fanotify's paths; syscall arguments are folded without following symlinks).
 * - procfs: `/proc/self/…` and the process's own `/proc/<pid>/…` become `proc:/self/…`; another
 *   process's `/proc/<pid>/…` becomes `proc:/\$/…` (TOMOYO's "any number"), so `ps` reading every
 *   pid is one line, not thousands; any other `/proc/…` becomes `proc:/…`.
 * - Bytes TOMOYO would not print (space and below, DEL and above, and the backslash) are written
 *   `\ooo` in octal: a path can neither split a line nor forge one.
 */

/** Fold `.`, `..` and repeated slashes of an absolute path. */
export function foldPath(abs: string): string {
  const out: string[] = [];
  for (const part of abs.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

/**
 * The absolute path of `path` as the process saw it: relative to `cwd` (the process's working
 * directory, or the directory of the dfd it passed), absolute ones below `root` (its chroot, `/`
 * when it has none). Returns null when a relative path has no known directory.
 */
export function absolutePath(path: string, cwd: string | null, root = '/'): string | null {
  if (path.startsWith('/')) return foldPath(root === '/' ? path : `${root}/${path}`);
  if (cwd === null) return null;
  return foldPath(`${cwd}/${path}`);
}

/** `/proc/…` in TOMOYO's `proc:/…` form; pid is the acting process. Other paths unchanged. */
export function procName(path: string, pid: number): string {
  if (path !== '/proc' && !path.startsWith('/proc/')) return path;
  const rest = path.slice('/proc'.length);
  const m = /^\/(self|thread-self|\d+)(\/.*)?$/.exec(rest);
  if (!m) return `proc:${rest || '/'}`;
  const tail = m[2] ?? '';
  if (m[1] === 'self' || m[1] === 'thread-self' || Number(m[1]) === pid) return `proc:/self${tail}`;
  return `proc:/\\$${tail}`;
}

/** TOMOYO's encoding of a name: printable ASCII except the backslash as is, every other byte `\ooo`. */
export function encodeName(name: string): string {
  if (/^[\x21-\x5b\x5d-\x7e]*$/.test(name)) return name;
  let out = '';
  for (const b of Buffer.from(name, 'utf8')) {
    if (b > 0x20 && b < 0x7f && b !== 0x5c) out += String.fromCharCode(b);
    else out += '\\' + b.toString(8).padStart(3, '0');
  }
  return out;
}

/** A path as it goes into an access line: procfs renamed, then encoded. */
export function linePath(absPath: string, pid: number): string {
  return encodeName(procName(absPath, pid));
}
