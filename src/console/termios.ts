/**
 * Loader of the optional termios addon (native/termios, built by scripts/build-native.mjs at
 * install). Only tty sources need it; without it they fail to start with this reason (exit 69).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface LineSettings {
  baud: number;
  dataBits: number;
  parity: 'none' | 'even' | 'odd';
  stopBits: number;
  raw: boolean;
}

export interface Termios {
  /** Raw mode with this speed and framing; returns the settings before (for restore). */
  configure(fd: number, baud: number, dataBits: number, parity: string, stopBits: number): Buffer;
  restore(fd: number, saved: Buffer): void;
  /** The settings now, as configure's return (kept on disk before a change: tty-state.ts). */
  current(fd: number): Buffer;
  query(fd: number): LineSettings;
}

export const TERMIOS_PATH = fileURLToPath(new URL('../../native/termios/build/Release/termios.node', import.meta.url));

let cached: { mod: Termios } | { error: string } | undefined;

export function loadTermios(): { mod: Termios } | { error: string } {
  if (cached) return cached;
  if (process.platform !== 'linux') return (cached = { error: `not Linux (${process.platform})` });
  if (!existsSync(TERMIOS_PATH)) return (cached = { error: `the termios addon is not built (${TERMIOS_PATH} missing; npm install builds it, or run: node scripts/build-native.mjs)` });
  try {
    return (cached = { mod: createRequire(import.meta.url)(TERMIOS_PATH) as Termios });
  } catch (e) {
    return (cached = { error: `cannot load ${TERMIOS_PATH}: ${(e as Error).message.split('\n')[0]}` });
  }
}
