/** `lantern record`: placeholder until the capability lands. */
import type { Command } from 'commander';
import { CliError, EXIT } from '../common/exit.js';

export function register(program: Command): void {
  program
    .command('record')
    .description('(not implemented yet)')
    .action(() => {
      throw new CliError('record is not implemented yet', EXIT.UNAVAILABLE);
    });
}
