/** RPM package lists: sosreport `installed-rpms`, `rpm -qa`, and the fixed `rpm -qa --qf` query. */
import type { Parsed } from './parsed.js';
import { addVersion } from './versions.js';

const RPM_ARCHES = /\.(x86_64|noarch|i[3-6]86|aarch64|ppc64le|ppc64|s390x|armv7hl|src)$/;

/**
 * Split an RPM NVRA ("kernel-4.18.0-513.5.1.el8_9.x86_64") into name and version-release.
 * Returns null when the string has no name-version-release shape.
 */
export function splitNvra(nvra: string): { name: string; version: string } | null {
  const nvr = nvra.replace(RPM_ARCHES, '');
  const r = nvr.lastIndexOf('-');
  if (r <= 0) return null;
  const v = nvr.lastIndexOf('-', r - 1);
  if (v <= 0) return null;
  return { name: nvr.slice(0, v), version: nvr.slice(v + 1) };
}

/** sosreport `installed-rpms` (NVRA then the install date) or plain `rpm -qa` output: name -> versions, sorted. */
export function parseRpmList(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  for (const line of text.split('\n')) {
    const first = line.trim().split(/\s+/)[0];
    if (!first) continue;
    const s = splitNvra(first);
    if (!s) {
      bad++;
      continue;
    }
    addVersion(map, s.name, s.version);
  }
  return { value: map, bad };
}

/** Output of the fixed `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n'` query. */
export function parseRpmQf(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [name, evr] = line.split('\t');
    if (!name || !evr) {
      bad++;
      continue;
    }
    addVersion(map, name.trim(), evr.trim().replace(/^0:/, ''));
  }
  return { value: map, bad };
}
