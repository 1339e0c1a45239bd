/**
 * `lantern <command>`: the single entry point. Each capability registers its own
 * subcommands from `src/<capability>/cli.ts`; this file only wires them together and
 * turns errors into stable exit codes (see src/common/exit.ts).
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from '../common/exit.js';
import { HostError } from '../host/host.js';
import { register as registerCheck } from '../check/cli.js';
import { register as registerNetconsole } from '../netconsole/cli.js';
import { register as registerRecord } from '../record/cli.js';
import { register as registerAnalyze } from '../analyze/cli.js';
import { register as registerBaseline } from '../baseline/cli.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

export function buildProgram(): Command {
  const program = new Command('lantern')
    .description('Bring a Linux server out of the black box: keep, capture and explain the evidence of kernel trouble.')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCheck(program);
  registerNetconsole(program);
  registerRecord(program);
  registerAnalyze(program);
  registerBaseline(program);
  // Subcommands inherit exitOverride so usage errors come back to us as exceptions.
  const inherit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride();
      sub.showHelpAfterError('(run with --help for usage)');
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version are not errors
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
    return EXIT.USAGE;
  }
  if (err instanceof CliError) {
    process.stderr.write(`lantern: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof HostError) {
    process.stderr.write(`lantern: ${err.message}\n`);
    return EXIT.NOINPUT;
  }
  process.stderr.write(`lantern: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.SOFTWARE;
}
