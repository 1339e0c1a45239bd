/**
 * `lantern <command>`: the single entry point. Each capability registers its own
 * subcommands from `src/<capability>/cli.ts`; this file only wires them together and
 * turns errors into stable exit codes (see src/common/exit.ts).
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from '../common/exit.js';
import { ClosedPipeError } from '../common/output.js';
import { HostError } from '../host/roots.js';

type Capability = { register(program: Command): void };

/** Each capability's CLI module, loaded only when needed: start-up stays fast and light. */
const CAPABILITIES: Record<string, () => Promise<Capability>> = {
  check: () => import('../check/cli.js'),
  netconsole: () => import('../netconsole/cli.js'),
  console: () => import('../console/cli.js'),
  record: () => import('../record/cli.js'),
  analyze: () => import('../analyze/cli.js'),
  baseline: () => import('../baseline/cli.js'),
  audit: () => import('../audit/cli.js'),
  whosends: () => import('../whosends/cli.js'),
  forward: () => import('../forward/cli.js'),
  access: () => import('../access/cli.js'),
};

/**
 * Work a command starts before its capability's modules load, on other threads, so that the
 * loading overlaps it (`lantern check`: the live process table, ~100 ms of kernel work).
 */
const EARLY: Record<string, () => Promise<{ startEarly(argv: readonly string[]): boolean }>> = {
  check: () => import('../check/early.js'),
};

/** Which capability registers each top-level command. */
const COMMAND_OWNER: Record<string, string> = {
  check: 'check',
  netconsole: 'netconsole',
  console: 'console',
  record: 'record',
  history: 'record',
  events: 'record',
  'top-io': 'record',
  analyze: 'analyze',
  baseline: 'baseline',
  diff: 'baseline',
  report: 'baseline',
  audit: 'audit',
  'who-sends': 'whosends',
  forward: 'forward',
  access: 'access',
};

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

/**
 * Build the command tree. Given argv, only the capability that owns the command is loaded
 * (a daemon started under a low file limit must not spend descriptors on modules it never
 * uses); without a known command (help, unknown names) every capability is loaded.
 */
export async function buildProgram(argv?: string[]): Promise<Command> {
  const program = new Command('lantern')
    .description('Bring a Linux server out of the black box: keep, capture and explain the evidence of kernel trouble.')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const first = argv?.slice(2).find((a) => !a.startsWith('-'));
  const owner = first !== undefined ? COMMAND_OWNER[first] : undefined;
  if (argv && first !== undefined && Object.hasOwn(EARLY, first)) (await EARLY[first]!()).startEarly(argv);
  for (const name of owner ? [owner] : Object.keys(CAPABILITIES)) (await CAPABILITIES[name]!()).register(program);
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

/**
 * Daemons decide themselves what a closed stdout means (stop the copy, keep receiving): the
 * one-shot rule below is taken off for them. Paths of commands as typed, without "lantern".
 */
const DAEMONS = new Set(['netconsole listen', 'console listen', 'record', 'forward']);

/**
 * stdout or stderr failed. A closed pipe (`lantern check | head -1`) ends a one-shot command as a
 * Unix filter killed by SIGPIPE would: no message, status 141 (EXIT.PIPE). Any other failure (a
 * full disk under `> file`, EIO on a vanished terminal) is one line on stderr and EXIT.IOERR.
 */
function onOutputError(this: NodeJS.WriteStream, e: NodeJS.ErrnoException): void {
  if (e.code === 'EPIPE') process.exit(EXIT.PIPE);
  if (this === process.stdout) {
    try {
      process.stderr.write(`lantern: cannot write to stdout (${e.code ?? e.message})\n`);
    } catch {
      /* nowhere left to say it */
    }
  }
  process.exit(EXIT.IOERR);
}

function guardOutput(): void {
  for (const s of [process.stdout, process.stderr]) if (!s.listeners('error').includes(onOutputError)) s.on('error', onOutputError);
}

function releaseOutputFor(actionCommand: Command): void {
  const names: string[] = [];
  for (let c: Command | null = actionCommand; c?.parent; c = c.parent) names.unshift(c.name());
  if (!DAEMONS.has(names.join(' '))) return;
  process.stdout.off('error', onOutputError);
  process.stderr.off('error', onOutputError);
}

/** A command that only groups subcommands (`lantern`, `lantern baseline`): it has no action of its own. */
function isGroup(cmd: Command): boolean {
  return cmd.commands.length > 0 && !(cmd as unknown as { _actionHandler: unknown })._actionHandler;
}

function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Walk the words of argv down the command groups. Commander shows the top-level help for
 * `lantern nosuch --help` (exit 0) and, for a group without its subcommand, its help on stderr
 * with status 1; both are settled here before commander parses. Group commands take no option
 * with a value, so every word that is not an option names a subcommand.
 */
function resolveGroups(program: Command, args: string[]): { cmd: Command; unknown?: string; bare: boolean } {
  let cmd = program;
  let options = false;
  let i = 0;
  for (; i < args.length && isGroup(cmd); i++) {
    const word = args[i]!;
    if (word === '--') break;
    if (word.startsWith('-')) {
      options = true;
      continue;
    }
    if (word === 'help') return { cmd, bare: false };
    const sub = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!sub) return { cmd, unknown: word, bare: false };
    cmd = sub;
  }
  return { cmd, bare: !options && i === args.length };
}

/**
 * Commands that read stdin when given no path. On a terminal they would wait without a word, so
 * they say what they are waiting for (on stderr: stdout stays the command's own output).
 */
const STDIN_HINTS: Record<string, string> = {
  analyze: 'lantern analyze: reading kernel log lines from standard input (end with Ctrl-D); name files instead, or pipe: journalctl -k -o short-precise | lantern analyze -',
};

function hintStdin(actionCommand: Command): void {
  const hint = STDIN_HINTS[fullName(actionCommand).replace(/^\S+ /, '')];
  if (hint && actionCommand.args.length === 0 && process.stdin.isTTY) process.stderr.write(hint + '\n');
}

export async function main(argv: string[]): Promise<void> {
  guardOutput();
  try {
    const program = await buildProgram(argv);
    const at = resolveGroups(program, argv.slice(2));
    if (at.unknown !== undefined) {
      const known = at.cmd.commands.map((c) => c.name()).join(', ');
      throw new CliError(`unknown command '${at.unknown}'${at.cmd === program ? '' : ` for '${fullName(at.cmd)}'`} (commands: ${known}; see ${fullName(at.cmd)} --help)`, EXIT.USAGE);
    }
    if (at.bare && isGroup(at.cmd)) {
      // Asked what is there (`lantern`, `lantern baseline`): the help is the answer, on stdout
      // so `lantern | less` shows it, with status 0, as `lantern --help` (docs/exit-codes.md).
      process.stdout.write(at.cmd.helpInformation());
      return;
    }
    program.hook('preAction', (_self, actionCommand) => {
      releaseOutputFor(actionCommand);
      hintStdin(actionCommand);
    });
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  // A reader that went away (stdout named as --out /dev/stdout, a FIFO): quiet, as for stdout.
  if (err instanceof ClosedPipeError || (err as NodeJS.ErrnoException)?.code === 'EPIPE') return EXIT.PIPE;
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
