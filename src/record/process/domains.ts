/**
 * TOMOYO-style domains: the chain of programs executed from the kernel down to a process,
 * `<kernel> /sbin/init /bin/sh /usr/sbin/sshd`. Stored as a trie (each domain = parent domain
 * + one program) so a 10,000-deep exec chain costs 10,000 small nodes, not 10,000 long strings.
 */

export const KERNEL_DOMAIN = '<kernel>';
/** Placeholder program when a process's parent was never seen (lost events, raced scan). */
export const UNKNOWN_PROGRAM = '<unknown>';

export interface DomainRegistry {
  /** Id of `<kernel>`. */
  readonly root: number;
  /** Id of the domain `parent` + `program`, created on first use. */
  intern(parent: number, program: string): number;
  /** Full name, `<kernel> /a /b`. */
  name(id: number): string;
}

/** Render a domain with at most `maxPrograms` programs (the last ones), for one-line logs. */
export function shortDomain(full: string, maxPrograms = 12): string {
  const parts = full.split(' ');
  if (parts.length <= maxPrograms + 1) return full;
  return `${parts[0]} … ${parts.slice(parts.length - maxPrograms).join(' ')}`;
}

/** An in-memory registry: used by tests and as the cache shape of the store-backed one. */
export class MemoryDomains implements DomainRegistry {
  readonly root = 1;
  private readonly byKey = new Map<string, number>();
  private readonly nodes = new Map<number, { parent: number; program: string }>();
  private next = 2;

  intern(parent: number, program: string): number {
    const key = `${parent}\0${program}`;
    let id = this.byKey.get(key);
    if (id === undefined) {
      id = this.next++;
      this.byKey.set(key, id);
      this.nodes.set(id, { parent, program });
    }
    return id;
  }

  name(id: number): string {
    const parts: string[] = [];
    let cur = id;
    for (let guard = 0; cur !== this.root && guard < 1_000_000; guard++) {
      const n = this.nodes.get(cur);
      if (!n) break;
      parts.push(n.program);
      cur = n.parent;
    }
    parts.push(KERNEL_DOMAIN);
    return parts.reverse().join(' ');
  }

  get size(): number {
    return this.nodes.size + 1;
  }
}

/** `init(2014/05/04-01:04:33)`: one step of a timestamped history. */
export function historyStep(comm: string, wallUs: number): string {
  const d = new Date(Math.floor(wallUs / 1000));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${comm}(${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}-${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())})`;
}

/** `[2014/05/04 01:07:03]` in UTC. */
export function logTime(wallUs: number): string {
  const d = new Date(Math.floor(wallUs / 1000));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}
