/**
 * Loader of the optional native trigger search (native/triggerscan, built by
 * scripts/build-native.mjs at install). When it is missing, or LANTERN_ANALYZE_SEARCH=js, the
 * block index is computed by the JavaScript search in blockindex.ts: the same index, slower.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type SimdLevel = 'avx2' | 'ssse3' | 'none';

/** What native/triggerscan/triggerscan.c exports (its header comment has the contract). */
export interface TriggerScanAddon {
  /** simd: the most the search may use (default: what the CPU has). */
  create(words: string[], simd?: SimdLevel): object;
  index(matcher: object, bytes: Uint8Array): { newlines: number; hits: Int32Array; hitLines: Int32Array };
  info(matcher: object): { words: number; simd: SimdLevel };
}

/** Where the addon is built (from dist/analyze/ or src/analyze/). */
export const TRIGGERSCAN_PATH = fileURLToPath(new URL('../../native/triggerscan/build/Release/triggerscan.node', import.meta.url));

let cached: { mod: TriggerScanAddon } | { error: string } | undefined;

/** The addon, or why it cannot be used. Loaded once per thread (each worker loads its own). */
export function loadTriggerScan(): { mod: TriggerScanAddon } | { error: string } {
  if (cached) return cached;
  if (!existsSync(TRIGGERSCAN_PATH)) return (cached = { error: `not built (${TRIGGERSCAN_PATH} missing; npm install builds it with node-gyp, or run: node scripts/build-native.mjs)` });
  try {
    return (cached = { mod: createRequire(import.meta.url)(TRIGGERSCAN_PATH) as TriggerScanAddon });
  } catch (e) {
    return (cached = { error: `cannot load ${TRIGGERSCAN_PATH}: ${(e as Error).message.split('\n')[0]}` });
  }
}
