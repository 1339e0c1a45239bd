/**
 * The hung-task detector, driven by the recorder's tick: reports come from the
 * `sched:sched_process_hang` tracepoint (decoded with the recorder's other events) or, where it
 * is missing or `source = "kmsg"`, from khungtaskd's `INFO: task …` line in /dev/kmsg. Once per
 * incident it sends the configured SysRq letters through Host.triggerSysrq, snapshots the D-state
 * tasks and memory files, and captures the kernel log records that follow for captureMs (so the
 * SysRq output lands in the store). Every report is a `hung` record; the acting one carries the
 * evidence.
 */
import { existsSync } from 'node:fs';
import { CliError, EXIT } from '../../common/exit.js';
import type { Host } from '../../host/host.js';
import { newRecord, type ProcessModel, type ProcessRecord } from '../process/model.js';
import type { Store } from '../store/store.js';
import { DEFAULT_HUNG_SYSRQ, IncidentLimiter, kmsgVerdict, matchHungLine, type HungReport, type KmsgRecord } from './core.js';
import { DEFAULT_KMSG, KmsgReader } from './kmsg.js';
import { takeSnapshot, type HungSnapshot } from './snapshot.js';
import { HungSysctls, restoreStale } from './sysctl.js';

export interface HungOptions {
  /** `auto`: the tracepoint where the kernel has it, else /dev/kmsg. */
  source: 'auto' | 'tracepoint' | 'kmsg';
  sysrq: string[];
  minIntervalMs: number;
  /** How long kernel-log records are captured after an action (SysRq-T output takes a moment). */
  captureMs: number;
  /** --hung-timeout: lower hung_task_timeout_secs to this while recording (null: leave alone). */
  timeoutSecs: number | null;
  /** hung_task_warnings is raised to at least this while the timeout is lowered. */
  warnings: number;
  /** Where SysRq letters are written (tests: a plain file). Default: the Host's, /proc/sysrq-trigger. */
  sysrqTrigger?: string;
  kmsgPath?: string;
  maxTasks: number;
  /** kmsg records found at start are acted on only when younger than this (and newer than the remembered seq). */
  backlogWindowMs: number;
}

export const DEFAULT_HUNG: HungOptions = {
  source: 'auto',
  sysrq: DEFAULT_HUNG_SYSRQ,
  minIntervalMs: 300_000,
  captureMs: 3000,
  timeoutSecs: null,
  warnings: 1000,
  maxTasks: 200,
  backlogWindowMs: 60_000,
};

export const KMSG_META = 'hung.kmsg';
/** Ring of recent kernel-log records, so a capture starts a little before the report. */
const RING = 512;
const LOOKBACK_US = 2_000_000;
/** At most this many records per capture (a SysRq-T of a big server is tens of thousands of lines). */
const MAX_CAPTURE = 20_000;

export interface HungStatus {
  source: 'tracepoint' | 'kmsg';
  reports: number;
  incidents: number;
  suppressed: number;
  /** kmsg reports already handled before a restart, or found old at start: never acted on. */
  oldSkipped: number;
  snapshots: number;
  sysrq: { letters: string[]; trigger: string; available: boolean; note: string | null; sent: number; failed: number };
  kmsg: { path: string; open: boolean; note: string | null; captured: number; captureCut: number; lostReads: number };
  evidenceLost: number;
  timeout: { secs: number | null; active: boolean; original: Record<string, string> | null; note: string | null };
  restoredStale: string | null;
}

export interface HungEvidence {
  eventId: number;
  incident: number;
  snapshot: HungSnapshot | null;
  kmsg: KmsgRecord[];
}

interface OpenIncident {
  record: ProcessRecord;
  snapshot: HungSnapshot;
  kmsg: KmsgRecord[];
  untilMs: number;
}

const monoUs = () => Number(process.hrtime.bigint() / 1000n);

export class HungDetector {
  readonly status: HungStatus;
  private readonly limiter: IncidentLimiter;
  private reader: KmsgReader | null = null;
  private readonly ring: KmsgRecord[] = [];
  private readonly queued: HungReport[] = [];
  private readonly open: OpenIncident[] = [];
  private readonly sysctls: HungSysctls;
  private remembered: { bootId: string; lastSeq: number } | null;
  private readonly bootId: string;
  private said = new Set<string>();
  /** kmsg INFO lines already paired with a tracepoint report. */
  private readonly usedSeqs = new Set<number>();
  /** Records made outside poll() (the backlog handled at start), returned by the next poll. */
  private readonly early: ProcessRecord[] = [];

  constructor(
    readonly opts: HungOptions,
    private readonly env: { store: Store; model: ProcessModel; host: Host; sysrqHost: Host; say: (line: string) => void },
    source: 'tracepoint' | 'kmsg',
  ) {
    this.limiter = new IncidentLimiter(opts.minIntervalMs);
    this.sysctls = new HungSysctls(env.store, env.host);
    const boot = env.host.readValue('/proc/sys/kernel/random/boot_id');
    this.bootId = boot.ok ? boot.text : 'unknown';
    this.remembered = env.store.getMeta<{ bootId: string; lastSeq: number }>(KMSG_META);
    const trigger = env.sysrqHost.sysrqTriggerPath;
    // A live host without the trigger file: the kernel is built without CONFIG_MAGIC_SYSRQ.
    const absent = trigger === '/proc/sysrq-trigger' && !existsSync(trigger);
    const sysctl = env.host.readValue('/proc/sys/kernel/sysrq');
    this.status = {
      source,
      reports: 0,
      incidents: 0,
      suppressed: 0,
      oldSkipped: 0,
      snapshots: 0,
      sysrq: {
        letters: opts.sysrq,
        trigger,
        available: !absent && opts.sysrq.length > 0,
        note: absent
          ? 'this kernel has no SysRq (/proc/sysrq-trigger absent: built without CONFIG_MAGIC_SYSRQ); incidents get the snapshot without SysRq dumps'
          : opts.sysrq.length === 0
            ? 'no SysRq letters configured'
            : sysctl.ok && sysctl.text === '0'
              ? 'kernel.sysrq=0 (keyboard SysRq off; the trigger file written as root is not restricted by it)'
              : null,
        sent: 0,
        failed: 0,
      },
      kmsg: { path: opts.kmsgPath ?? DEFAULT_KMSG, open: false, note: null, captured: 0, captureCut: 0, lostReads: 0 },
      evidenceLost: 0,
      timeout: { secs: opts.timeoutSecs, active: false, original: null, note: null },
      restoredStale: null,
    };
  }

  /** Before the timeout is lowered: repair what a killed predecessor left (see sysctl.ts). */
  static restoreStale(store: Store, host: Host): string | null {
    const r = restoreStale(store, host);
    if (!r) return null;
    return `restored ${r.restored.join(' ')} left lowered by recorder pid ${r.pid}${r.failed.length ? `; could not restore: ${r.failed.join('; ')}` : ''}`;
  }

  /** Open /dev/kmsg, handle what it already holds (old-record rule), lower the timeout when asked. */
  start(): void {
    try {
      this.reader = new KmsgReader(this.status.kmsg.path);
      this.status.kmsg.open = true;
    } catch (e) {
      const why = `cannot read ${this.status.kmsg.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      if (this.status.source === 'kmsg') throw new CliError(`hung-task detector: ${why} (and the kmsg source was chosen)`, EXIT.UNAVAILABLE);
      this.status.kmsg.note = `${why}: incidents are stored without the kernel-log capture`;
      this.sayOnce(this.status.kmsg.note);
    }
    if (this.status.sysrq.note && !this.status.sysrq.available) this.sayOnce(this.status.sysrq.note);
    this.ingest(true, this.early);
    if (this.opts.timeoutSecs !== null) {
      const r = this.sysctls.apply(this.opts.timeoutSecs, this.opts.warnings);
      if (!r.ok) throw new CliError(`--hung-timeout: ${r.reason}`, EXIT.UNAVAILABLE);
      this.status.timeout.active = true;
      this.status.timeout.original = r.before;
    }
  }

  private sayOnce(line: string): void {
    if (this.said.has(line)) return;
    this.said.add(line);
    this.env.say(`lantern record: hung-task detector: ${line}`);
  }

  onTracepoint(fields: Record<string, number | string>): void {
    this.queued.push({ comm: String(fields.comm ?? ''), tid: Number(fields.pid), blockedSecs: null, source: 'tracepoint', seq: null });
  }

  /** One tick: new kernel-log records, queued reports, finished captures. */
  poll(nowMs = Date.now()): { records: ProcessRecord[]; evidence: HungEvidence[] } {
    const records: ProcessRecord[] = this.early.splice(0);
    this.ingest(false, records, nowMs);
    for (const r of this.queued.splice(0)) this.report(r, nowMs, records);
    return { records, evidence: this.closeDue(nowMs, records) };
  }

  /** Stop: close every capture now, give the settings back, close /dev/kmsg. */
  finish(): { records: ProcessRecord[]; evidence: HungEvidence[] } {
    const out = this.poll();
    out.evidence.push(...this.closeDue(Infinity, out.records));
    this.restoreSettings();
    this.reader?.close();
    this.reader = null;
    return out;
  }

  restoreSettings(): void {
    if (!this.sysctls.active) return;
    const r = this.sysctls.restore();
    this.status.timeout.active = false;
    if (r.failed.length) {
      this.status.timeout.note = `could not restore: ${r.failed.join('; ')}`;
      this.env.say(`lantern record: hung-task detector: ${this.status.timeout.note} (the next start on this store tries again)`);
    }
  }

  private ingest(backlog: boolean, records: ProcessRecord[] = [], nowMs = Date.now()): void {
    if (!this.reader) return;
    let got: KmsgRecord[];
    try {
      got = this.reader.drain();
    } catch (e) {
      this.status.kmsg.note = `reading ${this.status.kmsg.path} failed: ${(e as Error).message}`;
      this.reader.close();
      this.reader = null;
      return;
    }
    this.status.kmsg.lostReads = this.reader.lostReads;
    for (const rec of got) {
      this.ring.push(rec);
      if (this.ring.length > RING) this.ring.shift();
      for (const inc of this.open) this.capture(inc, rec);
      if (this.status.source !== 'kmsg') continue;
      const m = matchHungLine(rec.text);
      if (!m) continue;
      const verdict = kmsgVerdict(rec, this.remembered, this.bootId, { backlog, nowBootUs: monoUs(), backlogWindowUs: this.opts.backlogWindowMs * 1000 });
      if (verdict === 'old') {
        this.status.oldSkipped++;
        continue;
      }
      this.remembered = { bootId: this.bootId, lastSeq: rec.seq };
      try {
        this.env.store.setMeta(KMSG_META, this.remembered);
      } catch {
        /* a full disk: remembered in memory; a restart may see this record again */
      }
      this.report({ ...m, source: 'kmsg', seq: rec.seq }, nowMs, records);
    }
  }

  private capture(inc: OpenIncident, rec: KmsgRecord): void {
    if (inc.kmsg.some((k) => k.seq === rec.seq)) return;
    if (inc.kmsg.length >= MAX_CAPTURE) {
      this.status.kmsg.captureCut++;
      return;
    }
    inc.kmsg.push(rec);
    this.status.kmsg.captured++;
  }

  /**
   * The tracepoint carries no duration; khungtaskd prints its INFO line right after it, so the
   * line is usually read in the same tick: take the seconds from it.
   */
  private secondsFromLog(tid: number): number | null {
    for (let i = this.ring.length - 1, n = 0; i >= 0 && n < 256; i--, n++) {
      const rec = this.ring[i]!;
      if (this.usedSeqs.has(rec.seq)) continue;
      const m = matchHungLine(rec.text);
      if (m && m.tid === tid) {
        this.usedSeqs.add(rec.seq);
        if (this.usedSeqs.size > 4096) this.usedSeqs.clear();
        return m.blockedSecs;
      }
    }
    return null;
  }

  private report(r: HungReport, nowMs: number, records: ProcessRecord[]): void {
    this.status.reports++;
    if (r.blockedSecs === null && r.source === 'tracepoint') r = { ...r, blockedSecs: this.secondsFromLog(r.tid) };
    const { model, store } = this.env;
    const tgid = model.tidToTgid.get(r.tid) ?? r.tid;
    const proc = model.procs.get(tgid);
    const id = store.nextId();
    const decision = this.limiter.decide(nowMs, () => id);
    const what = `${r.blockedSecs === null ? 'blocked (duration not in the kernel log)' : `blocked for more than ${r.blockedSecs} s`} (${r.source}${r.seq !== null ? ` seq ${r.seq}` : ''})`;
    const record = newRecord({
      id,
      type: 'hung',
      timeUs: nowMs * 1000,
      pid: tgid,
      tid: r.tid,
      ppid: proc?.ppid ?? 0,
      pstartUs: proc?.startUs ?? 0,
      ppstartUs: proc?.ppstartUs ?? null,
      uid: proc?.uid ?? null,
      program: proc?.program ?? null,
      comm: r.comm,
      domainId: proc?.domainId ?? store.root,
      fromId: proc?.lastExecId ?? null,
    });
    if (!decision.act) {
      this.status.suppressed++;
      record.detail = `${what}; same incident as #${decision.incident} (within min_interval ${this.opts.minIntervalMs / 1000}s): no action`;
      records.push(record);
      return;
    }
    this.status.incidents++;
    const sent: string[] = [];
    const failed: string[] = [];
    if (this.status.sysrq.available) {
      for (const letter of this.opts.sysrq) {
        const w = this.env.sysrqHost.triggerSysrq(letter);
        if (w.ok) sent.push(letter);
        else failed.push(`${letter}: ${w.reason}`);
      }
      this.status.sysrq.sent += sent.length;
      this.status.sysrq.failed += failed.length;
      if (failed.length) this.sayOnce(`SysRq to ${this.status.sysrq.trigger} failed (${failed.join('; ')}); the snapshot is still taken`);
    }
    const snapshot = takeSnapshot(
      this.env.host,
      (pid) => {
        const p = model.procs.get(pid);
        return p ? store.name(p.domainId) : null;
      },
      this.opts.maxTasks,
    );
    this.status.snapshots++;
    const sysrqText = sent.length ? `SysRq ${sent.join(',')} sent` : this.status.sysrq.available ? `SysRq failed` : 'SysRq unavailable';
    record.detail = `${what}; incident; ${sysrqText}; snapshot of ${snapshot.dTasks.length} D task${snapshot.dTasks.length === 1 ? '' : 's'}${snapshot.dTasksOmitted ? ` (+${snapshot.dTasksOmitted} omitted)` : ''}`;
    const inc: OpenIncident = { record, snapshot, kmsg: [], untilMs: nowMs + this.opts.captureMs };
    const from = monoUs() - LOOKBACK_US;
    for (const rec of this.ring) if (rec.tsUs >= from) this.capture(inc, rec);
    this.open.push(inc);
  }

  private closeDue(nowMs: number, records: ProcessRecord[]): HungEvidence[] {
    const done: HungEvidence[] = [];
    for (let i = 0; i < this.open.length;) {
      const inc = this.open[i]!;
      if (inc.untilMs > nowMs) {
        i++;
        continue;
      }
      this.open.splice(i, 1);
      records.push(inc.record);
      done.push({ eventId: inc.record.id, incident: inc.record.id, snapshot: inc.snapshot, kmsg: inc.kmsg.sort((a, b) => a.seq - b.seq) });
    }
    return done;
  }
}
