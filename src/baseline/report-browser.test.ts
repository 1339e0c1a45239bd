/**
 * The HTML report in a real browser: headless Chromium (Debian's `chromium`) renders a fixture
 * report; the tests read the DOM it built (`--dump-dom`), count the requests a local probe server
 * receives (the page must make none, even when markup is injected past the escaping: the CSP
 * stops it), and keep a screenshot at test/artifacts/report.png (LANTERN_DOCS_SCREENSHOT=1 also
 * writes docs/img/report.png, the picture docs/baseline.md shows).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { facilitySkip } from '../common/testenv.js';
import { TIMELINE_LOGS, writeDeathStore, writeHostileLog } from './reportkit.js';
import { BIN, fixture, tmpDir } from './testkit.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SCREENSHOT = join(ROOT, 'test', 'artifacts', 'report.png');
const DOCS_SCREENSHOT = join(ROOT, 'docs', 'img', 'report.png');

const chromium = spawnSync('chromium', ['--version'], { encoding: 'utf8', timeout: 30_000 });
const skip = facilitySkip(chromium.status === 0 ? undefined : 'chromium is not installed (apt-get install chromium; listed in .ci/packages)');

/** One bounded Chromium run with a private profile (removed afterwards); its stdout. */
async function chromiumRun(url: string, extra: string[], timeoutMs = 90_000): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'lantern-chromium-'));
  try {
    // Root needs --no-sandbox; every host resolves nowhere but 127.0.0.1, where the probe listens (an IP literal is mapped too).
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      `--user-data-dir=${profile}`,
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--no-first-run',
      '--disable-extensions',
      '--disable-background-networking',
      ...extra,
      url,
    ];
    const child = spawn('chromium', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => {
      // Its own process group: the browser and the helpers it started.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    const code = await new Promise<number | string | null>((res) => {
      child.on('error', (e) => res(`not started: ${e.message}`));
      child.on('close', (c) => res(c));
    });
    clearTimeout(timer);
    assert.equal(code, 0, `chromium exited ${code}: ${err.slice(-2000)}`);
    return out;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Counts every request that reaches it: the page must make none. */
let probe: Server;
const requests: string[] = [];
let probeUrl = '';

/** The fixture report: real log excerpts, a hostile log and a store with hostile names, one unread input. */
let reportHtml = '';
let reportDir = '';

before(async () => {
  probe = createServer((req, res) => {
    requests.push(req.url ?? '?');
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  if (skip) return;
  reportDir = tmpDir('browser');
  const store = join(reportDir, 'record.db');
  writeDeathStore(store, `${probeUrl}/store`, { hung: true });
  const logs = [...TIMELINE_LOGS, writeHostileLog(reportDir, `${probeUrl}/log`), '/var/log/lantern-test-missing-kern.log'];
  reportHtml = join(reportDir, 'report.html');
  const r = spawnSync(process.execPath, [BIN, 'report', '--root', fixture('debian12'), '--no-commands', '--logs', ...logs, '--store', store, '--format', 'html', '--out', reportHtml], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
});

after(() => new Promise<void>((r) => probe.close(() => r())));

/** Elements of a serialised DOM with this opening tag. */
const count = (dom: string, re: RegExp) => dom.match(re)?.length ?? 0;

test('Chromium renders the report: sections, the timeline with one mark per incident, hostile text inert, no request', { skip, timeout: 120_000 }, async () => {
  const dom = await chromiumRun(pathToFileURL(reportHtml).href, ['--dump-dom']);
  for (const id of ['glance', 'host', 'incidents', 'store', 'action', 'units', 'gaps']) assert.match(dom, new RegExp(`<section id="${id}">`), id);
  // Unread input first at a glance.
  assert.match(dom, /<section id="glance"><h2>At a glance<\/h2>\s*<ul>\s*<li class="fail">NOT READ: 1 of 4 log input\(s\)[^<]*lantern-test-missing-kern\.log/);
  // Parsed as SVG: the browser kept the elements (an escaping fault would have ended the svg early).
  assert.equal(count(dom, /<svg /g), 3);
  const incidents = dom.slice(dom.indexOf('<section id="incidents">'), dom.indexOf('<section id="store">'));
  assert.equal(count(incidents, /<(circle|rect|polygon) class="mark"/g), 3, 'three dated hung tasks');
  assert.equal(count(incidents, /<line class="reboot"/g), 2, 'two reboots');
  assert.equal(count(incidents, /<text class="lane"/g), 3, 'three hosts');
  assert.ok(count(incidents, /<text class="tick"/g) >= 4, 'a labelled time axis');
  const store = dom.slice(dom.indexOf('<section id="store">'), dom.indexOf('<section id="action">'));
  assert.equal(count(store, /class="mark"/g), 3, 'three deaths');
  assert.equal(count(store, /<text class="node involved"/g), 3, 'three domains where something died');
  // Hostile strings stayed text: no element was injected anywhere in the DOM.
  assert.equal(count(dom, /<script\b/gi), 0);
  assert.equal(count(dom, /<img\b/gi), 0);
  assert.equal(count(dom, /<b>/g), 0);
  assert.ok(dom.includes('&lt;/svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;'), 'the breakout attempt is shown as text');
  assert.ok(dom.includes(`&lt;img src=${probeUrl}/store&gt;`));
  assert.match(dom, /evil&amp;"host'&lt;b&gt;/);
  assert.match(dom, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">/);
  assert.deepEqual(requests, [], 'the page made no request');
});

test('the CSP holds where escaping would fail: an injected <img> to the probe is parsed but never fetched (and is without the CSP)', { skip, timeout: 180_000 }, async () => {
  const html = readFileSync(reportHtml, 'utf8');
  const inject = (tag: string) => html.replace('<h1>', `<img src="${probeUrl}/${tag}" alt="probe"><h1>`);
  const withCsp = join(reportDir, 'injected.html');
  writeFileSync(withCsp, inject('with-csp'));
  const dom = await chromiumRun(pathToFileURL(withCsp).href, ['--dump-dom']);
  assert.equal(count(dom, /<img src="http:\/\/127\.0\.0\.1:\d+\/with-csp"/g), 1, 'the injected element exists');
  assert.deepEqual(requests, [], 'but the CSP kept it from loading');
  // Control: the same page without the CSP does reach the probe, so the probe would have seen it.
  const noCsp = join(reportDir, 'no-csp.html');
  writeFileSync(noCsp, inject('no-csp').replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, ''));
  await chromiumRun(pathToFileURL(noCsp).href, ['--dump-dom']);
  assert.deepEqual(requests, ['/no-csp']);
  requests.length = 0;
});

test('a screenshot of the report is kept at test/artifacts/report.png', { skip, timeout: 120_000 }, async () => {
  mkdirSync(join(ROOT, 'test', 'artifacts'), { recursive: true });
  rmSync(SCREENSHOT, { force: true });
  await chromiumRun(pathToFileURL(reportHtml).href, [`--screenshot=${SCREENSHOT}`, '--window-size=1200,2000', '--hide-scrollbars']);
  const png = readFileSync(SCREENSHOT);
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG');
  assert.equal(png.readUInt32BE(16), 1200, 'width');
  assert.equal(png.readUInt32BE(20), 2000, 'height');
  assert.ok(png.length > 50_000, `${png.length} bytes: a page was drawn, not a blank`);
  if (process.env.LANTERN_DOCS_SCREENSHOT === '1') copyFileSync(SCREENSHOT, DOCS_SCREENSHOT);
  assert.deepEqual(requests, []);
});
