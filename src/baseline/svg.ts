/**
 * The report's pictures, drawn as inline SVG. Pure: chart data in, markup out.
 *
 * Every string that came from a host, a log or a store goes through xmlEscape, in text nodes and
 * in attribute values alike. Only presentation attributes are used (fill, stroke, font-size), never
 * a style element or attribute, so the page's CSP needs nothing beyond `default-src 'none'` for
 * the pictures; no script, no link, no external reference (no href at all).
 */

export interface TimelineMark {
  lane: string;
  /** Wall clock, ms since the epoch. */
  ms: number;
  /** One of the chart's legend entries: decides the shape and colour. */
  kind: string;
  /** What a hover shows (the incident's title, task, time). */
  label: string;
}

export interface TimelineChart {
  type: 'timeline';
  /** Said to screen readers (aria-label) and as the figure's caption. */
  title: string;
  lanes: string[];
  marks: TimelineMark[];
  /** Vertical lines across their lane (reboots). */
  lines: { lane: string; ms: number; label: string }[];
  /** Legend order; marks of a kind not listed get the last style. */
  legend: string[];
  /** Under the axis: which clock the times are on. */
  axisNote: string;
}

export interface TreeRow {
  depth: number;
  label: string;
  /** Index of the parent row (-1 for the root). */
  parent: number;
  /** Drawn in red with this note beside it (e.g. "2 deaths: SIGSEGV, OOM kill"). */
  note?: string;
}

export interface TreeChart {
  type: 'tree';
  title: string;
  rows: TreeRow[];
}

export type Chart = TimelineChart | TreeChart;

/** XML text and attribute values: markup characters as entities, characters XML forbids as '?'. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[\t\n\r]/g, ' ')
    .replace(/[\x00-\x1f\x7f-\x9f\ufffe\uffff]/g, '?')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '?')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** At most n characters (by code point), with an ellipsis when cut; the full text goes in a <title>. */
function clip(s: string, n: number): string {
  const cp = [...s];
  return cp.length <= n ? s : cp.slice(0, n - 1).join('') + '…';
}

/** Colour-blind-safe palette (Okabe–Ito), paired with a shape so kinds differ in grey print too. */
const STYLES: { fill: string; shape: 'circle' | 'square' | 'diamond' | 'triangle' }[] = [
  { fill: '#D55E00', shape: 'circle' },
  { fill: '#0072B2', shape: 'square' },
  { fill: '#009E73', shape: 'diamond' },
  { fill: '#CC79A7', shape: 'triangle' },
  { fill: '#E69F00', shape: 'square' },
  { fill: '#56B4E9', shape: 'circle' },
  { fill: '#000000', shape: 'diamond' },
  { fill: '#999999', shape: 'triangle' },
];

function styleOf(legend: string[], kind: string): (typeof STYLES)[number] {
  const i = legend.indexOf(kind);
  return STYLES[i >= 0 ? i % STYLES.length : STYLES.length - 1]!;
}

function shape(x: number, y: number, st: (typeof STYLES)[number], attrs: string, inner = ''): string {
  const r = 5;
  const f = `fill="${st.fill}" stroke="#fff" stroke-width="1"`;
  const n = (v: number) => v.toFixed(1);
  switch (st.shape) {
    case 'circle':
      return `<circle ${attrs} cx="${n(x)}" cy="${n(y)}" r="${r}" ${f}>${inner}</circle>`;
    case 'square':
      return `<rect ${attrs} x="${n(x - r)}" y="${n(y - r)}" width="${2 * r}" height="${2 * r}" ${f}>${inner}</rect>`;
    case 'diamond':
      return `<polygon ${attrs} points="${n(x)},${n(y - r - 1)} ${n(x + r + 1)},${n(y)} ${n(x)},${n(y + r + 1)} ${n(x - r - 1)},${n(y)}" ${f}>${inner}</polygon>`;
    case 'triangle':
      return `<polygon ${attrs} points="${n(x)},${n(y - r - 1)} ${n(x + r + 1)},${n(y + r)} ${n(x - r - 1)},${n(y + r)}" ${f}>${inner}</polygon>`;
  }
}

/** Tick labels: the coarsest format that still tells the ticks apart. */
function tickLabel(ms: number, spanMs: number): string {
  const iso = new Date(ms).toISOString();
  if (spanMs > 3 * 86_400_000) return iso.slice(0, 10);
  if (spanMs > 2 * 3_600_000) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(11, 19);
}

/** Tick steps a reader counts in: seconds, minutes, hours, days. */
const STEPS_MS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000, 7776000, 31536000].map((s) => s * 1000);

/** Ticks at whole multiples (UTC) of the smallest step that gives at most 8 of them. */
export function niceTicks(lo: number, hi: number): number[] {
  const step = STEPS_MS.find((s) => (hi - lo) / s <= 8) ?? Math.ceil((hi - lo) / 8);
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi && out.length < 20; t += step) out.push(t);
  return out;
}

const WIDTH = 1000;
const LEFT = 190;
const RIGHT = 20;
const LANE_H = 30;

/** One lane per host, a mark per incident (shape and colour by kind), vertical lines for reboots, a labelled time axis. */
export function timelineSvg(c: TimelineChart): string {
  const times = [...c.marks.map((m) => m.ms), ...c.lines.map((l) => l.ms)];
  let lo = Math.min(...times);
  let hi = Math.max(...times);
  if (!Number.isFinite(lo)) lo = hi = 0;
  // A single instant (or none) still gets an axis: one minute either side.
  if (hi - lo < 1000) {
    lo -= 60_000;
    hi += 60_000;
  }
  const pad = (hi - lo) * 0.03;
  lo -= pad;
  hi += pad;
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (ms: number) => LEFT + ((ms - lo) / (hi - lo)) * plotW;
  const legendH = 28;
  const top = legendH + 8;
  const lanesH = Math.max(1, c.lanes.length) * LANE_H;
  const height = top + lanesH + 40;
  const laneY = new Map(c.lanes.map((l, i) => [l, top + i * LANE_H + LANE_H / 2]));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" role="img" aria-label="${xmlEscape(c.title)}" viewBox="0 0 ${WIDTH} ${height}" width="100%" font-family="sans-serif" font-size="12">`,
    `<title>${xmlEscape(c.title)}</title>`,
  ];
  // Legend.
  let lx = LEFT;
  out.push('<g class="legend">');
  for (const k of c.legend) {
    out.push(shape(lx + 6, 14, styleOf(c.legend, k), 'class="legend-mark"'));
    out.push(`<text x="${lx + 16}" y="18" fill="#222">${xmlEscape(clip(k, 24))}</text>`);
    lx += 26 + Math.min(24, [...k].length) * 7;
  }
  if (c.lines.length) out.push(`<line x1="${lx + 4}" y1="6" x2="${lx + 4}" y2="22" stroke="#555" stroke-width="2" stroke-dasharray="4 2"/><text x="${lx + 12}" y="18" fill="#222">reboot</text>`);
  out.push('</g>');
  // Lanes.
  c.lanes.forEach((lane, i) => {
    const y0 = top + i * LANE_H;
    out.push(`<rect x="${LEFT}" y="${y0}" width="${plotW}" height="${LANE_H}" fill="${i % 2 ? '#ffffff' : '#f3f5f7'}"/>`);
    out.push(`<text class="lane" x="${LEFT - 8}" y="${y0 + LANE_H / 2 + 4}" text-anchor="end" fill="#222">${xmlEscape(clip(lane, 26))}<title>${xmlEscape(lane)}</title></text>`);
  });
  // Axis with ticks.
  const axisY = top + lanesH;
  out.push(`<line x1="${LEFT}" y1="${axisY}" x2="${WIDTH - RIGHT}" y2="${axisY}" stroke="#444"/>`);
  const ticks = niceTicks(lo, hi);
  ticks.forEach((ms, i) => {
    const tx = x(ms);
    const anchor = ticks.length > 1 && i === ticks.length - 1 && tx > WIDTH - RIGHT - 40 ? 'end' : 'middle';
    out.push(`<line x1="${tx.toFixed(1)}" y1="${top}" x2="${tx.toFixed(1)}" y2="${axisY + 4}" stroke="#ccc" stroke-width="0.5"/>`);
    out.push(`<text class="tick" x="${tx.toFixed(1)}" y="${axisY + 18}" text-anchor="${anchor}" fill="#444">${xmlEscape(tickLabel(ms, hi - lo))}</text>`);
  });
  out.push(`<text x="${WIDTH - RIGHT}" y="${axisY + 34}" text-anchor="end" fill="#666" font-size="11">${xmlEscape(c.axisNote)}</text>`);
  // Reboots under the marks.
  for (const l of c.lines) {
    const y = laneY.get(l.lane);
    if (y === undefined) continue;
    const lxp = x(l.ms).toFixed(1);
    out.push(
      `<line class="reboot" x1="${lxp}" y1="${y - LANE_H / 2 + 2}" x2="${lxp}" y2="${y + LANE_H / 2 - 2}" stroke="#555" stroke-width="2" stroke-dasharray="4 2"><title>${xmlEscape(l.label)}</title></line>`,
    );
  }
  for (const m of c.marks) {
    const y = laneY.get(m.lane);
    if (y === undefined) continue;
    out.push(shape(x(m.ms), y, styleOf(c.legend, m.kind), `class="mark" data-kind="${xmlEscape(m.kind)}"`, `<title>${xmlEscape(m.label)}</title>`));
  }
  out.push('</svg>');
  return out.join('\n');
}

const ROW_H = 20;
const INDENT = 18;

/** An indented tree (one row per domain, elbow connectors to the parent), highlighted rows in red with their note. */
export function treeSvg(c: TreeChart): string {
  const height = c.rows.length * ROW_H + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart tree" role="img" aria-label="${xmlEscape(c.title)}" viewBox="0 0 ${WIDTH} ${height}" width="100%" font-family="monospace" font-size="12">`,
    `<title>${xmlEscape(c.title)}</title>`,
  ];
  c.rows.forEach((r, i) => {
    const y = 5 + i * ROW_H + ROW_H / 2;
    const x = 10 + r.depth * INDENT;
    if (r.parent >= 0) {
      const px = 10 + c.rows[r.parent]!.depth * INDENT + 4;
      const py = 5 + r.parent * ROW_H + ROW_H / 2 + 6;
      out.push(`<path d="M${px} ${py} V${y} H${x - 2}" fill="none" stroke="#999"/>`);
    }
    const hot = r.note !== undefined;
    out.push(`<circle cx="${x + 2}" cy="${y}" r="3" fill="${hot ? '#D55E00' : '#0072B2'}"/>`);
    const label = clip(r.label, 90);
    out.push(
      `<text class="${hot ? 'node involved' : 'node'}" x="${x + 9}" y="${y + 4}" fill="${hot ? '#b00' : '#222'}"${hot ? ' font-weight="bold"' : ''}>${xmlEscape(label)}${hot ? `<tspan fill="#b00" font-weight="normal">  ${xmlEscape(clip(r.note!, 80))}</tspan>` : ''}<title>${xmlEscape(r.label)}</title></text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

export function renderChart(c: Chart): string {
  return c.type === 'timeline' ? timelineSvg(c) : treeSvg(c);
}
