/**
 * Test helpers for forwarding: receiver directories in the receiver's real text format, and a
 * real rsyslogd (Debian's) listening on loopback with a private configuration, run in the
 * foreground and stopped by the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freeTcpPort, tempDir } from '../common/testenv.js';

/** A free TCP port on loopback (see common/testenv). */
export const freePort = freeTcpPort;

/** Appends `n` extended-record lines (seq from `firstSeq`) of sender 10.0.0.5 to `<dir>/<day>.log`. */
export function appendLines(dir: string, n: number, firstSeq = 0, day = '2026-11-26', file = `${day}.log`): string[] {
  const texts: string[] = [];
  let out = '';
  for (let i = 0; i < n; i++) {
    const seq = firstSeq + i;
    const text = `line ${seq}: e1000e: eth0 NIC Link is Up`;
    texts.push(text);
    const us = String(seq % 1_000_000).padStart(6, '0');
    out += `${day}T17:48:34.${us}Z 10.0.0.5:6665 <6>#${seq} [  501.${us}] ${text}\n`;
  }
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, file), out);
  return texts;
}

export interface Rsyslog {
  port: number;
  out: string;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Lines rsyslog wrote so far. */
  lines(): string[];
}

export const RSYSLOGD = '/usr/sbin/rsyslogd';

/** What is missing to run a private rsyslogd, or undefined. */
export function rsyslogMissing(tls = false): string | undefined {
  if (!existsSync(RSYSLOGD)) return 'rsyslog is not installed (apt install rsyslog)';
  if (tls && !existsSync('/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so') && !spawnSync('sh', ['-c', 'ls /usr/lib/*/rsyslog/lmnsd_gtls.so']).stdout?.length)
    return 'rsyslog-gnutls is not installed (apt install rsyslog-gnutls)';
  if (tls && !existsSync('/usr/bin/openssl')) return 'openssl is not installed';
  return undefined;
}

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  otherCa: string;
  /** A client certificate and key signed by the same CA (for a collector that asks for one). */
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1 (and a second, unrelated CA). */
export function makeTls(dir: string): TlsFiles {
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=lantern-test-ca', '-days', '2']);
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-subj', '/CN=other-ca', '-days', '2']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=lantern-forwarder']);
  run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2']);
  return {
    ca: join(dir, 'ca.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    otherCa: join(dir, 'other.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

/** A private rsyslogd on loopback: imtcp (or gtls with `tls`) → one file with SD and message. */
export async function startRsyslog(opts: { tls?: TlsFiles; requireClientCert?: boolean } = {}): Promise<Rsyslog> {
  const dir = tempDir('lantern-rsyslog-');
  const port = await freePort();
  const out = join(dir, 'out.log');
  const conf = join(dir, 'rsyslog.conf');
  const tls = opts.tls;
  writeFileSync(
    conf,
    [
      tls
        ? `global(workDirectory="${dir}" DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="${tls.ca}" DefaultNetstreamDriverCertFile="${tls.cert}" DefaultNetstreamDriverKeyFile="${tls.key}")`
        : `global(workDirectory="${dir}")`,
      tls ? `module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="${opts.requireClientCert ? 'x509/certvalid' : 'anon'}")` : 'module(load="imtcp")',
      `input(type="imtcp" port="${port}" address="127.0.0.1")`,
      'template(name="t" type="string" string="%hostname% %app-name% %syslogseverity% %structured-data% %msg%\\n")',
      `action(type="omfile" file="${out}" template="t")`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  const r: Rsyslog = {
    port,
    out,
    dir,
    async start() {
      child = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      // Ready when the port accepts connections.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const ok = await new Promise<boolean>((resolve) => {
          const s = connect(port, '127.0.0.1');
          s.once('connect', () => {
            s.destroy();
            resolve(true);
          });
          s.once('error', () => resolve(false));
        });
        if (ok) return;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`rsyslogd did not start: ${err}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
        setTimeout(() => c.kill('SIGKILL'), 5000);
      });
    },
    lines() {
      return existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : [];
    },
  };
  await r.start();
  return r;
}

/**
 * A stand-in for Loki's push endpoint. Grafana Loki is not in Debian's archive (Debian's `loki`
 * package is an unrelated genetics program) nor on npm, so the client is tested against the
 * documented contract instead: `POST /loki/api/v1/push` with a JSON body of streams whose values
 * are `[nanosecond-string, line]`, each stream in time order (Loki 2.x answers 400 "entry out of
 * order" otherwise), 204 when stored; `answers` scripts 429/500/400 replies for the next pushes.
 */
export interface LokiStandIn {
  port: number;
  /** Stored lines per label set (JSON of the labels). */
  streams: Map<string, [string, string][]>;
  pushes: number;
  answers: number[];
  close(): Promise<void>;
}

export async function startLokiStandIn(port?: number): Promise<LokiStandIn> {
  const { createServer: createHttp } = await import('node:http');
  const li: LokiStandIn = { port: port ?? (await freePort()), streams: new Map(), pushes: 0, answers: [], close: () => Promise.resolve() };
  const server = createHttp((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      li.pushes++;
      if (req.method !== 'POST' || req.url !== '/loki/api/v1/push' || !/application\/json/.test(req.headers['content-type'] ?? '')) {
        res.writeHead(404).end('404 page not found\n');
        return;
      }
      const scripted = li.answers.shift();
      if (scripted !== undefined && scripted !== 204) {
        res.writeHead(scripted).end(scripted === 429 ? 'Ingestion rate limit exceeded\n' : scripted === 400 ? 'entry for stream has timestamp too old\n' : 'internal error\n');
        return;
      }
      let doc: { streams?: { stream?: Record<string, unknown>; values?: unknown[] }[] };
      try {
        doc = JSON.parse(body) as typeof doc;
      } catch {
        res.writeHead(400).end('error parsing push body\n');
        return;
      }
      for (const s of doc.streams ?? []) {
        const labels = s.stream ?? {};
        if (Object.values(labels).some((v) => typeof v !== 'string') || Object.keys(labels).length === 0) {
          res.writeHead(400).end('invalid labels\n');
          return;
        }
        const key = JSON.stringify(labels);
        const have = li.streams.get(key) ?? [];
        for (const v of s.values ?? []) {
          if (!Array.isArray(v) || typeof v[0] !== 'string' || !/^\d+$/.test(v[0]) || typeof v[1] !== 'string') {
            res.writeHead(400).end('invalid entry\n');
            return;
          }
          const last = have[have.length - 1];
          if (last && BigInt(v[0]) < BigInt(last[0])) {
            res.writeHead(400).end('entry out of order\n');
            return;
          }
          have.push([v[0], v[1]]);
        }
        li.streams.set(key, have);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(li.port, '127.0.0.1', r));
  li.close = () => new Promise((r) => server.close(() => r()));
  return li;
}
