/**
 * Waivers: findings accepted on purpose (Lynis `skip-test`, with a reason and an expiry).
 * Pure: `--waive` arguments and waiver-file text in, waiver entries (or one clear error) out.
 *
 * File format (TOML), one table per waiver:
 *
 *   [[waiver]]
 *   id = "kdump"                 # a check id, or a group prefix as for --only
 *   reason = "2 GiB VM: no memory to reserve for a crash kernel"
 *   by = "ops@example.com"       # optional: who accepted it
 *   expires = 2027-06-30         # optional: last day it applies (TOML date, or "YYYY-MM-DD")
 */
import { parse as parseToml, TomlDate, TomlError } from 'smol-toml';

export interface Waiver {
  /** The check id or group prefix, as written. */
  match: string;
  reason: string | null;
  by: string | null;
  /** As shown: YYYY-MM-DD for a date (last day it applies), ISO 8601 for an instant; null: never expires. */
  expires: string | null;
  /** The first instant (ms since the epoch) at which the waiver no longer applies; null: never. */
  expiresAt: number | null;
  /** Where it was given: "--waive" or "<file>:<line>" (line when it can be told). */
  where: string;
  fromFile: boolean;
}

/** A waiver file that cannot be used: the message names the file and, when known, the line. */
export class WaiverFileError extends Error {}

const ENTRY_KEYS = new Set(['id', 'reason', 'by', 'expires']);
/** Ids are what CHECKS use (lower case, dots, dashes): anything else is a typo, said clearly. */
const ID_RE = /^[a-z0-9][a-z0-9_.-]*$/;

/** `--waive ID[=reason]`; the reason may contain '='. Throws on an empty or malformed id. */
export function parseWaiveArg(arg: string): Waiver {
  const eq = arg.indexOf('=');
  const match = (eq < 0 ? arg : arg.slice(0, eq)).trim();
  const reason = eq < 0 ? null : arg.slice(eq + 1).trim() || null;
  if (!ID_RE.test(match)) throw new Error(`--waive ${JSON.stringify(arg)}: expected ID or ID=reason with a check id such as kdump.service`);
  return { match, reason, by: null, expires: null, expiresAt: null, where: '--waive', fromFile: false };
}

const DAY_MS = 86_400_000;

/** An expiry value: a TOML local date (or "YYYY-MM-DD"), valid through that day in UTC, or an instant. */
function parseExpiry(v: unknown): { expires: string; expiresAt: number } | string {
  if (v instanceof TomlDate) {
    if (!v.isValid() || v.isTime()) return 'expires must be a date (2027-06-30) or a date-time with an offset';
    if (v.isDate()) {
      const day = v.toISOString().slice(0, 10);
      return { expires: day, expiresAt: Date.parse(`${day}T00:00:00Z`) + DAY_MS };
    }
    // A local date-time has no zone: read as UTC, like the date form.
    const at = v.isLocal() ? Date.parse(`${v.toISOString()}Z`) : v.getTime();
    if (!Number.isFinite(at)) return 'expires is not a valid date-time';
    return { expires: new Date(at).toISOString(), expiresAt: at };
  }
  if (typeof v === 'string') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v.trim());
    if (!m) return `expires "${v}" is not a date (YYYY-MM-DD)`;
    const at = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    // Date.UTC rolls 2027-02-30 over to March: refuse instead.
    if (new Date(at).toISOString().slice(0, 10) !== m[0]) return `expires "${v}" is not a calendar date`;
    return { expires: m[0], expiresAt: at + DAY_MS };
  }
  return 'expires must be a date such as 2027-06-30';
}

/** Line numbers of the `[[waiver]]` headers, in order (for "<file>:<line>" in reports and errors). */
function headerLines(text: string): number[] {
  const lines: number[] = [];
  text.split('\n').forEach((l, i) => {
    if (/^\s*\[\[\s*waiver\s*\]\]/.test(l)) lines.push(i + 1);
  });
  return lines;
}

/**
 * Parse a waiver file. `name` is how errors and reports name the file (the path read).
 * Any syntax or schema problem throws a WaiverFileError: a waiver file is written by a person,
 * and a half-read one would change the verdict without saying so.
 */
export function parseWaiverFile(text: string, name: string): Waiver[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) throw new WaiverFileError(`${name}:${e.line}:${e.column}: not valid TOML: ${e.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '')}`);
    throw new WaiverFileError(`${name}: not valid TOML: ${(e as Error)?.message ?? String(e)}`);
  }
  for (const k of Object.keys(doc)) if (k !== 'waiver') throw new WaiverFileError(`${name}: unknown key "${k}" (expected [[waiver]] tables)`);
  const raw = doc.waiver;
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new WaiverFileError(`${name}: "waiver" must be an array of tables ([[waiver]])`);
  const lines = headerLines(text);
  // Line numbers only when every entry came from a [[waiver]] header (not an inline array).
  const lineOf = (i: number): number | null => (lines.length === raw.length ? lines[i]! : null);
  return raw.map((entry, i) => {
    const line = lineOf(i);
    const at = line !== null ? `${name}:${line}` : `${name}: waiver #${i + 1}`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || entry instanceof Date) throw new WaiverFileError(`${at}: a waiver must be a table with id and reason`);
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!ENTRY_KEYS.has(k)) throw new WaiverFileError(`${at}: unknown key "${k}" (known: id, reason, by, expires)`);
    if (typeof e.id !== 'string' || !ID_RE.test(e.id.trim())) throw new WaiverFileError(`${at}: id must be a check id or group such as "kdump.service" or "kdump"`);
    if (typeof e.reason !== 'string' || !e.reason.trim()) throw new WaiverFileError(`${at}: reason is required (why is ${e.id} accepted on this host?)`);
    if (e.by !== undefined && typeof e.by !== 'string') throw new WaiverFileError(`${at}: by must be a string`);
    let expires: string | null = null;
    let expiresAt: number | null = null;
    if (e.expires !== undefined) {
      const x = parseExpiry(e.expires);
      if (typeof x === 'string') throw new WaiverFileError(`${at}: ${x}`);
      ({ expires, expiresAt } = x);
    }
    return {
      match: e.id.trim(),
      reason: e.reason.trim(),
      by: typeof e.by === 'string' && e.by.trim() ? e.by.trim() : null,
      expires,
      expiresAt,
      where: line !== null ? `${name}:${line}` : `${name} waiver #${i + 1}`,
      fromFile: true,
    };
  });
}
