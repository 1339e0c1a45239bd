/** `lantern netconsole`: placeholder until the capability lands. */
import type { Command } from 'commander';
import { CliError, EXIT } from '../common/exit.js';

export function register(program: Command): void {
  program
    .command('netconsole')
    .description('(not implemented yet)')
    .action(() => {
      throw new CliError('netconsole is not implemented yet', EXIT.UNAVAILABLE);
    });
}
