import type { Command } from 'commander';
export function registerSetup(nc: Command): void {
  void nc;
}
