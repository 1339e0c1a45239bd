/** `lantern analyze`: placeholder until the capability lands. */
import type { Command } from 'commander';
import { CliError, EXIT } from '../common/exit.js';

export function register(program: Command): void {
  program
    .command('analyze')
    .description('(not implemented yet)')
    .action(() => {
      throw new CliError('analyze is not implemented yet', EXIT.UNAVAILABLE);
    });
}
