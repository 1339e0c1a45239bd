/** `lantern check`: placeholder until the capability lands. */
import type { Command } from 'commander';
import { CliError, EXIT } from '../common/exit.js';

export function register(program: Command): void {
  program
    .command('check')
    .description('(not implemented yet)')
    .action(() => {
      throw new CliError('check is not implemented yet', EXIT.UNAVAILABLE);
    });
}
