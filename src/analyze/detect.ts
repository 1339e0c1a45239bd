/**
 * Incident detection: a state machine over normalised lines, one open report per stream
 * (host, or the whole file when lines name no host). Header lines open a report; body lines
 * (frames, registers, task lines, OOM tables) extend it; an end marker, a new header, a run of
 * unrelated lines, a reboot or the end of input closes it. Pure: incidents go to a callback.
 *
 * What each report type is (its header, facts, continuation, body lines, title) is its entry
 * in ./patterns/ (REPORT_TYPES); this file holds the streams and the open reports.
 *
 * Memory stays bounded per report: excerpts, frames and SysRq task lists are capped (and counted).
 */
import type { Incident, IncidentKind, NormLine } from './model.js';
import { timesOfPrefix } from './normalize.js';
import { firstMeaningful, isGenericFrame, normalizeSyscall, parseFrame, parseRip, stallGuilty } from './frames.js';
import { ANYWHERE_HEADER_RE, BODY_RE, MESSAGE_RE, REPORT_TYPES, TRIGGER_RE, type OpenReport, type ReportType } from './patterns/index.js';
import { messageAfterHeader, PREFACE_RE, warnMessage } from './patterns/refinements.js';
import { commOf, CPU_PID_RE, markPartial } from './patterns/text.js';
import type { HeaderContext, Opening } from './patterns/types.js';

export { TRIGGER_LOWER, TRIGGER_RE, TRIGGER_UPPER } from './patterns/index.js';
export { OOM_TABLE_ROW_RE } from './patterns/oom.js';
export { sanitizeTitle } from './patterns/text.js';
import { OOM_TABLE_ROW_RE } from './patterns/oom.js';

export interface DetectorOptions {
  /** Lines of raw excerpt kept per incident (head); the rest is counted. */
  excerptLines?: number;
  /** Frames kept per report. */
  maxFrames?: number;
  /** Tasks kept (with stacks) per SysRq-T dump; all are counted. */
  maxSysrqTasks?: number;
  /** Lines a report may span at most before it is closed as truncated. */
  maxReportLines?: number;
  /** Told the name of the report type each header line opened (tests: which types a case covers). */
  onHeader?: (typeName: string) => void;
}

export type IncidentSink = (incident: Incident) => void;

const RTC_RE = /setting system clock to \S+ \S*\s*UTC \((\d+)\)/;
const LINUX_VERSION_RE = /^Linux version (\S+)/;
const END_TRACE_RE = /---\[ end (?:trace [0-9a-f]+|Kernel panic)/;
const CPU_PID_SPLIT_RE = /CPU: (\d+) (?:UID: \d+ )?PID: (\d+)\s*$/;
const SPLIT_PID_TAIL_RE = /^(\d+) Comm: (.+)/;
const OLD_PID_RE = /^Pid: (\d+), comm: (.+)/;
const PROCESS_RE = /^Process (\S+) \(pid: (\d+)/;
const WORKQUEUE_RE = /^Workqueue: (.+)$/;

interface Stream {
  boot: number;
  /** The last report closed in this stream and its last line: a panic right after it is its consequence. */
  lastClosed?: { title: string; lineNo: number };
  /** Wall-clock ms of kernel time 0 in this boot, when the log told us (RTC line). */
  bootEpochMs?: number;
  report?: OpenReport;
  pendingBoot?: Incident;
  /**
   * OOM task-table rows seen while no report was open (a log that starts mid table, or a table
   * whose header was lost): a `panic_on_oom` panic right after them takes their largest task.
   */
  orphanTable?: { rows: number; largest?: { pid: number; comm: string; rssPages: number } };
  /** A WARN message printed before its header with no report open (5.x: `refcount_t: underflow; …`). */
  preface?: string;
  /**
   * An OOM header printed inside another report, held for the few lines until its invoker's
   * `CPU: N PID: P Comm: C` line (4.x: after the `C cpuset=… mems_allowed=…` line), which is the invoker's, not the crash's.
   */
  oomFragment?: { inc: Incident; linesLeft: number };
}

const MAX_PREFIX_CHARS = 200;

/** A regex for prefixes shaped like `p`: digit runs and space runs may vary in length (and a `[` may gain padding), the rest is literal. */
function prefixShape(p: string): RegExp {
  const src = p
    .replace(/(\d+)|( +)|([^\d ]+)/g, (_all, d: string | undefined, sp: string | undefined, lit: string | undefined) =>
      d !== undefined ? '\\d+' : sp !== undefined ? ' +' : lit!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'),
    )
    .replace(/\\\[(?: \+)?/g, '\\[ *'); // a padded kernel stamp `[  12.3]` widens to `[123.4]`
  return new RegExp('^' + src);
}

const TAIL_LINES = 20;
const MAX_HEADER_CHARS = 4096;
const STALE_LINES = 5000;

export interface DetectorStats {
  lines: number;
  kernelLines: number;
  nonKernelLines: number;
  incidents: number;
  partialIncidents: number;
}

export class Detector {
  private readonly streams = new Map<string, Stream>();
  private openCount = 0;
  readonly stats: DetectorStats = { lines: 0, kernelLines: 0, nonKernelLines: 0, incidents: 0, partialIncidents: 0 };
  private readonly excerptLines: number;
  private readonly maxFrames: number;
  private readonly maxSysrqTasks: number;
  private readonly maxReportLines: number;
  private readonly onHeader: ((typeName: string) => void) | undefined;

  constructor(
    private readonly sink: IncidentSink,
    opts: DetectorOptions = {},
  ) {
    this.excerptLines = opts.excerptLines ?? 80;
    this.maxFrames = opts.maxFrames ?? 48;
    this.maxSysrqTasks = opts.maxSysrqTasks ?? 200;
    this.maxReportLines = opts.maxReportLines ?? 20000;
    this.onHeader = opts.onHeader;
  }

  /** True while some report is open: every following line must be fed, not just trigger lines. */
  hasOpen(): boolean {
    return this.openCount > 0;
  }

  private stream(key: string): Stream {
    let s = this.streams.get(key);
    if (!s) {
      s = { boot: 0 };
      this.streams.set(key, s);
    }
    return s;
  }

  feed(line: NormLine): void {
    this.stats.lines++;
    // A report whose stream went quiet (its host stopped talking) would keep the prefilter off
    // for the rest of a multi-host file: close it after STALE_LINES lines of other streams.
    if ((this.stats.lines & 1023) === 0 && this.openCount > 0) this.closeStale();
    if (!line.kernel) {
      this.stats.nonKernelLines++;
      return;
    }
    this.stats.kernelLines++;
    const st = this.stream(line.host ?? '');
    if (line.bootMarker) {
      this.close(st, 'the log shows a reboot before the report ended');
      this.flushBoot(st);
      st.boot++;
      st.bootEpochMs = undefined;
      st.pendingBoot = this.newIncident('boot', line, st, 'boot: journal boot separator', line.text);
      st.pendingBoot.subkind = 'journal_separator';
      // A text separator line ends here; a JSON record with a new boot id is also a message.
      if (line.text.startsWith('-- ')) return;
    }
    if (st.oomFragment && this.oomFragmentLine(st, line.text)) return;
    const prefixed = st.report?.prefix;
    if (prefixed) {
      const p = prefixed.exec(line.text);
      if (p) line.text = line.text.slice(p[0].length);
    }
    const text = line.text;
    let rtc: RegExpExecArray | null;
    if (line.kernelTime !== undefined && (rtc = RTC_RE.exec(text))) {
      // `rtc_cmos 00:00: setting system clock to 2024-05-03T06:00:00 UTC (1714716000)`: the boot's wall clock.
      st.bootEpochMs = Number(rtc[1]) * 1000 - Math.round(line.kernelTime * 1000);
    }
    if (!line.wall && line.kernelTime !== undefined && st.bootEpochMs !== undefined) {
      const ms = st.bootEpochMs + Math.round(line.kernelTime * 1000);
      line.wall = { ms, iso: new Date(ms).toISOString(), zoned: true };
    }
    const r = st.report;
    if (r && r.caller && line.caller && line.caller !== r.caller && !r.inTrace && !r.type.dump) {
      // Another printk context interleaving before the report has its trace: ignore it for this report.
      if (!TRIGGER_RE.test(text)) return;
    }
    if (TRIGGER_RE.test(text)) {
      if (this.header(line, st)) return;
      if (!st.report && this.headerAnywhere(line, st)) return;
    }
    if (st.pendingBoot) this.flushBoot(st);
    if (r) this.body(line, st, r);
    else this.orphanRow(st, text);
  }

  /**
   * syzkaller finds oops headers anywhere in a line (pkg/report: a console or collector prefix
   * before them). A line no envelope was recognised in (no stamp, no host; text as it came) that
   * holds a trigger word gets a second look: the header may start after a prefix that holds a digit
   * and is not a device's `name 0000:01:00.0: ` tag. The report then strips prefixes of the same shape
   * from its lines. Only trigger lines reach this, so the prefilter keeps its speed.
   */
  private headerAnywhere(line: NormLine, st: Stream): boolean {
    const text = line.text;
    if (line.kernelTime !== undefined || line.host !== undefined || text !== line.raw) return false;
    const m = ANYWHERE_HEADER_RE.exec(text);
    if (!m || m.index === 0 || m.index > MAX_PREFIX_CHARS) return false;
    const prefix = text.slice(0, m.index);
    if (!/\d/.test(prefix) || /: $/.test(prefix)) return false;
    const saved = { wall: line.wall, wallText: line.wallText };
    line.text = text.slice(m.index);
    // The prefix's own times (`2024-…Z [ 9999.551802] `): the incident's time.
    Object.assign(line, timesOfPrefix(prefix));
    if (!this.header(line, st)) {
      line.text = text;
      line.wall = saved.wall;
      line.wallText = saved.wallText;
      delete line.kernelTime;
      delete line.kernelTimeText;
      return false;
    }
    if (st.report) st.report.prefix = prefixShape(prefix);
    return true;
  }

  /** A line while an interleaved OOM header waits for its invoker's pid; true when it was the invoker's line. */
  private oomFragmentLine(st: Stream, text: string): boolean {
    const f = st.oomFragment!;
    const m = CPU_PID_RE.exec(text);
    if (m) {
      const inv = f.inc.tasks.find((t) => t.role === 'invoker');
      const comm = m[3] === undefined ? undefined : commOf(m[3]);
      // Only a line naming the invoker's comm (the kernel keeps 15 characters of it) is taken from the other report.
      if (inv && comm !== undefined && (comm === inv.comm.slice(0, 15) || inv.comm.startsWith(comm))) {
        inv.pid = Number(m[2]);
        if (f.inc.oom?.invoker) f.inc.oom.invoker.pid = inv.pid;
        f.inc.excerpt.push(text);
        this.flushOomFragment(st);
        return true;
      }
    }
    if (--f.linesLeft <= 0) this.flushOomFragment(st);
    return false;
  }

  private flushOomFragment(st: Stream): void {
    const f = st.oomFragment;
    if (!f) return;
    st.oomFragment = undefined;
    this.emit(f.inc);
  }

  /** Keeps the largest task of OOM table rows outside a report; any other line forgets them. */
  private orphanRow(st: Stream, text: string): void {
    if (PREFACE_RE.test(text)) {
      st.preface = text.trim().slice(0, 200);
      st.orphanTable = undefined;
      return;
    }
    // `------------[ cut here ]------------` sits between the message and the header.
    if (!/^-+\[ cut here \]-+\s*$/.test(text)) st.preface = undefined;
    const m = text.length < MAX_HEADER_CHARS ? OOM_TABLE_ROW_RE.exec(text) : null;
    if (!m) {
      if (text.trim() !== '') st.orphanTable = undefined;
      return;
    }
    const t = (st.orphanTable ??= { rows: 0 });
    t.rows++;
    const rss = Number(m[5]);
    if (!t.largest || rss > t.largest.rssPages) t.largest = { pid: Number(m[1]), comm: m[6]!, rssPages: rss };
  }

  private closeStale(): void {
    for (const st of this.streams.values()) {
      if (st.report && this.stats.lines - st.report.lastSeen > STALE_LINES) this.close(st, `no line from this stream in the next ${STALE_LINES} lines`);
    }
  }

  /** Closes every open report (end of input, or a gap in it: what is still open is truncated). */
  finish(reason = 'the log ends before the report does'): void {
    for (const st of this.streams.values()) {
      this.close(st, reason);
      this.flushBoot(st);
    }
    this.streams.clear();
  }

  private flushBoot(st: Stream): void {
    if (st.pendingBoot) {
      const b = st.pendingBoot;
      st.pendingBoot = undefined;
      this.emit(b);
    }
  }

  private newIncident(kind: IncidentKind, line: NormLine, st: Stream, title: string, headline: string): Incident {
    const inc: Incident = {
      kind,
      title,
      headline,
      file: line.file,
      lineNo: line.lineNo,
      boot: st.boot,
      tasks: [],
      altFrames: [],
      frames: [],
      facts: {},
      partial: false,
      partialReasons: [],
      excerpt: [line.raw],
      excerptOmitted: 0,
    };
    if (line.host !== undefined) inc.host = line.host;
    if (line.wall) inc.wall = line.wall;
    if (line.wallText) inc.wallText = line.wallText;
    if (line.kernelTime !== undefined) inc.kernelTime = line.kernelTime;
    if (line.kernelTimeText) inc.kernelTimeText = line.kernelTimeText;
    return inc;
  }

  private open(st: Stream, type: ReportType, inc: Incident, line: NormLine): OpenReport {
    const r: OpenReport = {
      type,
      inc,
      lastLineNo: line.lineNo,
      lastSeen: this.stats.lines,
      lines: 1,
      inTrace: false,
      nonBody: 0,
      allFrames: [],
      afterEoe: [],
      sawEoe: false,
      sawNmiEnd: false,
      tail: [],
    };
    if (line.caller) r.caller = line.caller;
    st.report = r;
    this.openCount++;
    return r;
  }

  private emit(inc: Incident): void {
    this.stats.incidents++;
    if (inc.partial) this.stats.partialIncidents++;
    this.sink(inc);
  }

  /** Handles a line that may start a report; returns true when it was consumed. */
  /** Handles a line that may start a report; returns true when it was consumed. */
  private header(line: NormLine, st: Stream): boolean {
    // Kernel messages are at most 1 KiB (LOG_LINE_MAX); a longer "line" is not one, and matching
    // header patterns on megabytes of it could take long.
    const text = line.text.length > MAX_HEADER_CHARS ? line.text.slice(0, MAX_HEADER_CHARS) : line.text;
    const r = st.report;
    let m: RegExpExecArray | null;

    // --- lines that continue an open report rather than start one ---
    if (r) {
      const c = r.type.continues?.(text, r);
      if (c === 'absorbed') {
        this.addLine(r, line);
        return true;
      }
      if (c || END_TRACE_RE.test(text)) return false;
    }

    if ((m = LINUX_VERSION_RE.exec(text))) {
      this.close(st, 'the log shows a reboot before the report ended');
      const pending = st.pendingBoot;
      st.pendingBoot = undefined;
      if (!pending) st.boot++;
      st.bootEpochMs = undefined;
      const inc = this.newIncident('boot', line, st, `boot: Linux ${m[1]!.slice(0, 80)}`, text);
      inc.facts['version'] = m[1]!;
      this.emit(inc);
      return true;
    }
    if (st.pendingBoot) this.flushBoot(st);

    let type: ReportType | undefined;
    const ctx: HeaderContext = {
      open: r,
      orphanTable: st.orphanTable,
      maxSysrqTasks: this.maxSysrqTasks,
      incident: (title) => this.newIncident(type!.kind, line, st, title, text),
    };
    let opening: Opening | undefined;
    for (type of REPORT_TYPES) if ((opening = type.header(text, ctx))) break;
    if (!opening || !type) return false;
    this.onHeader?.(type.name);
    const incident = opening.inc;

    if (opening.interleaved) {
      // Printed inside the open report (an OOM header amid a crash): on its own, the report stays open.
      this.flushOomFragment(st);
      st.oomFragment = { inc: incident, linesLeft: 3 };
      r!.inc.facts['interleaved'] = true;
      return true;
    }
    st.orphanTable = undefined;
    if (st.preface !== undefined) {
      if (incident.kind === 'warning' || incident.kind === 'oops') warnMessage(incident, st.preface);
      st.preface = undefined;
    }
    // Another report in this stream is still open: a new header ends it.
    this.close(st, undefined);
    if (type.follows !== undefined && st.lastClosed && line.lineNo - st.lastClosed.lineNo <= type.follows) {
      incident.facts['after'] = st.lastClosed.title;
    }
    if (type.single?.(incident)) {
      this.emit(incident);
      return true;
    }
    const rep = this.open(st, type, incident, line);
    if (opening.state) Object.assign(rep, opening.state);
    if (opening.afterOpen) {
      opening.afterOpen(rep);
      if (rep.complete) this.close(st);
      return true;
    }
    // Some headers carry body facts on the same line (CPU/PID in the new WARNING format).
    this.details(rep, line);
    return true;
  }

  private addLine(r: OpenReport, line: NormLine): void {
    r.lines++;
    r.lastLineNo = line.lineNo;
    if (r.inc.excerpt.length < this.excerptLines) r.inc.excerpt.push(line.raw);
    else {
      r.tail.push(line.raw);
      if (r.tail.length > TAIL_LINES) {
        r.tail.shift();
        r.inc.excerptOmitted++;
      }
    }
  }

  private body(line: NormLine, st: Stream, r: OpenReport): void {
    const text = line.text.length > MAX_HEADER_CHARS ? line.text.slice(0, MAX_HEADER_CHARS) : line.text;
    const type = r.type;
    r.lastSeen = this.stats.lines;
    if (r.lines >= this.maxReportLines * (type.dump?.maxLinesFactor ?? 1)) {
      this.close(st, `report longer than ${this.maxReportLines} lines; cut`);
      return;
    }
    if (END_TRACE_RE.test(text)) {
      this.addLine(r, line);
      this.details(r, line);
      this.close(st);
      return;
    }
    if (type.takeAll?.(r, text, () => this.details(r, line))) {
      this.addLine(r, line);
      if (r.complete) this.close(st);
      return;
    }
    if (r.caller && line.caller && line.caller !== r.caller && !type.dump) {
      // Lines of another printk context (another CPU's NMI backtrace) interleave: not ours.
      return;
    }
    if (type.end && r.inTrace && type.end.test(text)) {
      this.addLine(r, line);
      this.close(st);
      return;
    }
    const frame = BODY_RE.test(text) ? null : parseFrame(text);
    const isBody = type.isBody?.(r, text) || frame !== null || r.pidPrefix !== undefined || BODY_RE.test(text) || MESSAGE_RE.test(text);
    if (!isBody && type.extraLine?.(r, text)) {
      this.addLine(r, line);
      return;
    }
    if (!isBody) {
      r.nonBody++;
      const limit = type.dump ? type.dump.nonBodyLimit : r.inTrace ? 3 : 8;
      if (r.nonBody > limit) this.close(st);
      return;
    }
    r.nonBody = 0;
    this.addLine(r, line);
    this.details(r, line);
  }

  /** Extracts facts from a report line: tasks, CPU, frames, RIP; then the report type's own. */
  private details(r: OpenReport, line: NormLine): void {
    const text = line.text.length > MAX_HEADER_CHARS ? line.text.slice(0, MAX_HEADER_CHARS) : line.text;
    const inc = r.inc;
    let m: RegExpExecArray | null;
    if (r.pidPrefix) {
      // `CPU: 1 PID: 1` / `88243 Comm: X`: a report line broken in two by the capture.
      const p = r.pidPrefix;
      r.pidPrefix = undefined;
      if ((m = SPLIT_PID_TAIL_RE.exec(text.trim()))) {
        this.setCurrent(inc, commOf(m[2]!), Number(p.pid + m[1]), p.cpu);
        return;
      }
      this.setCurrent(inc, undefined, Number(p.pid), p.cpu);
    }
    if ((m = CPU_PID_SPLIT_RE.exec(text))) {
      r.pidPrefix = { cpu: Number(m[1]), pid: m[2]! };
      return;
    }
    if ((m = CPU_PID_RE.exec(text))) {
      this.setCurrent(inc, m[3] === undefined ? undefined : commOf(m[3]), Number(m[2]), Number(m[1]));
      const t = /(?:Not tainted|Tainted: ([A-Z ]+?)) +(\S+) #/.exec(text);
      if (t) {
        if (t[1]) inc.facts['tainted'] = t[1].trim() ? t[1] : '';
        inc.facts['kernelVersion'] = t[2]!;
      }
      return;
    }
    if ((m = OLD_PID_RE.exec(text)) || (m = PROCESS_RE.exec(text))) {
      const isOld = text.startsWith('Pid:');
      this.setCurrent(inc, isOld ? commOf(m[2]!) : m[1]!, Number(isOld ? m[1] : m[2]), undefined);
      return;
    }
    if ((m = WORKQUEUE_RE.exec(text))) {
      inc.facts['workqueue'] = m[1]!;
      return;
    }
    if (/^\s*(?:Call Trace|Call trace|Backtrace):?/.test(text)) {
      r.inTrace = true;
      return;
    }
    if (/<<EOE>>|<EOI>|<\/IRQ>|<\/NMI>/.test(text)) {
      r.sawEoe = true;
      r.afterEoe = [];
      if (/<<EOE>>|<\/NMI>/.test(text)) r.sawNmiEnd = true;
    }
    const rip = /^\s*(?:RIP|EIP|IP|NIP|pc|PC is at|EIP is at)\b/.test(text) ? parseRip(text.trim()) : null;
    if (rip) {
      // The first kernel-mode RIP is where the CPU was; later ones are interrupted contexts.
      if (!inc.rip) inc.rip = rip.func;
      if (rip.module && !inc.facts['module']) inc.facts['module'] = rip.module;
      return;
    }
    if (r.type.detail?.(r, text)) return;
    // ≤4.x prints the WARN/BUG message after the header: keep it.
    if (messageAfterHeader(inc, text)) return;
    const frame = r.otherStacks ? null : parseFrame(text);
    if (frame) {
      r.inTrace = true;
      if (r.allFrames.length < this.maxFrames) r.allFrames.push(frame);
      if (r.sawEoe && r.afterEoe.length < this.maxFrames) r.afterEoe.push(frame);
      r.type.onFrame?.(r, frame);
    }
  }

  private setCurrent(inc: Incident, comm: string | undefined, pid: number, cpu: number | undefined): void {
    if (cpu !== undefined && inc.cpu === undefined) inc.cpu = cpu;
    const cur = inc.tasks.find((t) => t.role === 'current');
    if (cur) {
      if (cur.comm === '?' && comm && cur.pid === pid) cur.comm = comm;
      return;
    }
    if (inc.kind === 'oom_kill') {
      const inv = inc.tasks.find((t) => t.role === 'invoker');
      if (inv && inv.pid === undefined) {
        inv.pid = pid;
        if (inc.oom?.invoker) inc.oom.invoker.pid = pid;
      }
      return;
    }
    if (inc.kind === 'sysrq_show_state') return;
    inc.tasks.push({ role: 'current', comm: comm ?? '?', pid });
  }

  /** Closes the stream's open report; `truncatedBy` marks it partial when it lacks its essential parts. */
  private close(st: Stream, truncatedBy?: string): void {
    this.flushOomFragment(st);
    const r = st.report;
    if (!r) return;
    st.report = undefined;
    this.openCount--;
    this.finalize(r, truncatedBy);
    st.lastClosed = { title: r.inc.title, lineNo: r.lastLineNo };
    this.emit(r.inc);
  }

  private finalize(r: OpenReport, truncatedBy: string | undefined): void {
    const inc = r.inc;
    if (r.tail.length) {
      if (inc.excerptOmitted) inc.excerpt.push(`[… ${inc.excerptOmitted} lines omitted …]`);
      inc.excerpt.push(...r.tail);
    }
    // The module involved: of the faulting instruction, else the top-most module frame.
    const mod = inc.facts['module'] ?? r.allFrames.find((f) => f.reliable && f.module)?.module;
    if (mod !== undefined) inc.facts['module'] = mod;
    const frames = r.allFrames;
    inc.frames = frames.filter((f) => f.reliable).slice(0, 32);
    const first = firstMeaningful(frames);
    const ripFunc = inc.rip && !isGenericFrame(inc.rip) ? normalizeSyscall(inc.rip) : undefined;
    const alt = new Set<string>();
    if (r.type.title) r.type.title(r, { frames, first, ripFunc, alt, truncatedBy });
    else inc.guiltyFrame = first;
    if (ripFunc && ripFunc !== inc.guiltyFrame) alt.add(ripFunc);
    if (inc.rip && inc.rip !== inc.guiltyFrame) alt.add(inc.rip);
    if (first && first !== inc.guiltyFrame) alt.add(first);
    const stall = stallGuilty(frames);
    if (stall && stall !== inc.guiltyFrame) alt.add(stall);
    if (inc.guiltyFrame) alt.delete(inc.guiltyFrame);
    inc.altFrames = r.type.noAltFrames ? [] : [...alt];
    if (inc.guiltyFrame === undefined) delete inc.guiltyFrame;
    if (r.type.needsTrace && frames.length === 0 && !inc.rip) markPartial(inc, truncatedBy ?? 'no call trace in the report');
    if (inc.facts['interleaved']) markPartial(inc, 'lines of another report are interleaved');
  }
}
