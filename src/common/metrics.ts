/**
 * Counters in the Prometheus text exposition format (version 0.0.4), served on an optional HTTP
 * endpoint (`--metrics 127.0.0.1:9464`; loopback unless an address is given on purpose). One
 * module for every Lantern daemon: the receivers, the forwarder and the recorder describe their
 * counters as Metric tables and this file writes them out.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CliError, EXIT } from './exit.js';

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

export interface Metric {
  /** `lantern_<capability>_<what>[_total]`. */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Sample[];
}

/** Label values escape `\`, `"` and newline (the format's rules). */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes `\` and newline. */
function helpText(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function value(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

/** A status field's camelCase name as a metric name part: `linesWritten` → `lines_written`. */
export function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()).replace(/[^a-z0-9_]/g, '_');
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function exposition(metrics: Metric[]): string {
  let out = '';
  for (const m of metrics) {
    if (!NAME_RE.test(m.name)) throw new Error(`metric name ${JSON.stringify(m.name)} is not valid`);
    out += `# HELP ${m.name} ${helpText(m.help)}\n# TYPE ${m.name} ${m.type}\n`;
    for (const s of m.samples) {
      const labels = Object.entries(s.labels ?? {});
      for (const [k] of labels) if (!LABEL_RE.test(k) || k.startsWith('__')) throw new Error(`label name ${JSON.stringify(k)} is not valid`);
      const l = labels.length ? `{${labels.map(([k, v]) => `${k}="${labelValue(v)}"`).join(',')}}` : '';
      out += `${m.name}${l} ${value(s.value)}\n`;
    }
  }
  return out;
}

export { parseMetricsAddress } from './endpoint.js';

/** Serves `GET /metrics` (and `/`) with what `collect` says at the time of each scrape. */
export async function serveMetrics(addr: { host: string; port: number }, collect: () => Metric[] | Promise<Metric[]>): Promise<Server> {
  // The handler answers every error of collect() itself (500), so nothing of it is left to reject.
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && path !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    let body: string;
    try {
      body = exposition(await collect());
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new CliError(`--metrics ${addr.host}:${addr.port}: cannot listen (${e.code ?? e.message})`, EXIT.UNAVAILABLE)));
    server.listen(addr.port, addr.host, () => resolve());
  });
  server.unref();
  return server;
}
