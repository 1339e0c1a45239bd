/** `lantern netconsole setup`: print (and with --apply, perform) a netconsole target configuration. */
import type { Command } from 'commander';
import { execFileSync } from 'node:child_process';
import { isIP } from 'node:net';
import { Host } from '../host/host.js';
import { CliError, EXIT } from '../common/exit.js';
import { parseEndpoint } from '../common/endpoint.js';
import { printJson } from '../common/json.js';
import { paint } from '../common/term.js';
import { applySetup, planSetup } from './setup.js';

/** IPv6 neighbours are not in /proc: ask `ip -6 neigh` (fixed argv; both values validated before). */
function neigh6(ip: string, dev: string): string | null {
  if (!isIP(ip) || !/^[A-Za-z0-9_.:@-]{1,15}$/.test(dev)) return null;
  try {
    const out = execFileSync('ip', ['-6', 'neigh', 'show', ip, 'dev', dev], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /lladdr ([0-9a-f:]{17})/i.exec(out);
    return m ? m[1]!.toLowerCase() : null;
  } catch {
    return null;
  }
}

function port(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new CliError(`${what}: port must be 1..65535`, EXIT.USAGE);
  return n;
}

export function registerSetup(nc: Command): void {
  nc.command('setup')
    .description('configure this host to send its kernel messages to a receiver (netconsole via configfs); dry run unless --apply')
    .requiredOption('-r, --remote <ip[:port]>', 'the receiver: 10.0.0.2, 10.0.0.2:6666, [fd00::2]:6666 (port default 6666)')
    .option('--dev <iface>', 'local interface to send from (default: the route to the receiver)')
    .option(
      '--local-ip <ip>',
      "source address (default: the interface's address, detected from /proc/net/fib_trie and /proc/net/route, or /proc/net/if_inet6; when it cannot be told, the kernel chooses)",
    )
    .option('--local-port <port>', 'source port (default 6665)', '6665')
    .option('--remote-mac <mac>', 'MAC of the receiver or of the gateway (default: from the neighbour table, else broadcast)')
    .option('--name <name>', 'configfs target name', 'lantern')
    .option('--no-extended', 'legacy format instead of extended (extended carries sequence numbers: lantern can then report lost messages)')
    .option('--release', 'prepend the kernel release to every message (extended only)')
    .option('--apply', 'perform the configuration through configfs (root)')
    .option('--root <dir>', 'host root to read and write (default /; for tests and copied trees)')
    .option('--json', 'print the plan as JSON')
    .addHelpText('after', '\nExit codes: 0 planned/applied, 64 bad option, 69 interface or netconsole/configfs missing, 74 configfs write failed, 77 needs root.')
    .action(
      (opts: {
        remote: string;
        dev?: string;
        localIp?: string;
        localPort: string;
        remoteMac?: string;
        name: string;
        extended: boolean;
        release?: boolean;
        apply?: boolean;
        root?: string;
        json?: boolean;
      }) => {
        // The common splitter: an address (netconsole's configfs takes no names), its port optional.
        const remote = parseEndpoint(opts.remote, {
          what: '--remote',
          hint: 'expected IP or IP:PORT, e.g. 10.0.0.2, 10.0.0.2:6666, [fd00::2]:6666',
          barePort: false,
          bareAddress: true,
          hostNames: false,
          zones: false,
        });
        const host = opts.root ? Host.open({ root: opts.root }) : new Host();
        const plan = planSetup(
          host,
          {
            remoteIp: remote.host!,
            remotePort: remote.port ?? 6666,
            localPort: port(opts.localPort, '--local-port'),
            name: opts.name,
            dev: opts.dev ?? null,
            localIp: opts.localIp ?? null,
            remoteMac: opts.remoteMac ?? null,
            extended: opts.extended,
            release: Boolean(opts.release),
          },
          host.isLive ? neigh6 : undefined,
        );
        const applied = opts.apply ? applySetup(host, plan) : null;
        if (opts.json) {
          printJson({ ...plan, applied });
          return;
        }
        const p = paint();
        console.log(
          p.bold(`# netconsole target "${plan.name}": ${plan.dev} -> ${plan.remoteIp.includes(':') ? `[${plan.remoteIp}]` : plan.remoteIp}:${plan.remotePort}`) +
            ` via ${plan.nextHop} (${plan.remoteMac}), ${plan.extended ? 'extended' : 'legacy'} format, source port ${plan.localPort}`,
        );
        console.log(`# source address${plan.localIp ? ` ${plan.localIp}` : ''}: ${plan.localIpNote}`);
        for (const w of plan.warnings) console.log(p.yellow(`# warning: ${w}`));
        if (applied) {
          console.log(`# applied through ${plan.configfsPath}:`);
          for (const a of applied) console.log(`#   ${a}`);
        } else {
          console.log(`# configfs${plan.configfsReady ? '' : ' (not available here yet)'}: run as root, or run this command again with --apply`);
          for (const c of plan.commands) console.log(c);
        }
        console.log('# without configfs: module parameter, or kernel command line (boot loader)');
        console.log(plan.moduleParameter);
        console.log(plan.bootParameter);
        console.log('# messages below the console log level are not sent: dmesg -n 8 (or loglevel=8 on the command line)');
      },
    );
}
