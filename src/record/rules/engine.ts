/**
 * The rule engine, run by the recorder on each tick's records: a record a rule matches acts
 * (the rule's fixed actions) unless the rule acted within its min_interval. Every firing that
 * acts is a `rule` record (what fired, on which record, each action and its outcome); matches
 * within min_interval are counted per rule, not stored (a crash loop would double the store).
 */
import type { Host } from '../../host/host.js';
import type { ProcessRecord } from '../process/model.js';
import type { Store } from '../store/store.js';
import { IncidentLimiter } from '../hung/core.js';
import type { HungEvidence } from '../hung/detector.js';
import { takeSnapshot } from '../hung/snapshot.js';
import { actionText, matches, type Rule, type Trigger } from './core.js';

export interface RulesOptions {
  rules: Rule[];
  /** Where SysRq letters are written (tests: a plain file). Default: the Host's, /proc/sysrq-trigger. */
  sysrqTrigger?: string;
  /** D tasks kept in a snapshot. */
  maxTasks: number;
}

export interface RuleStatus {
  where: string;
  on: string;
  do: string[];
  minIntervalMs: number;
  matched: number;
  acted: number;
  suppressed: number;
  lastActedUs: number | null;
  /** Why this rule cannot fire, or sees less, on this recorder (said once at start), or null. */
  note: string | null;
}

export interface RulesStatus {
  sysrqTrigger: string;
  sysrqSent: number;
  sysrqFailed: number;
  snapshots: number;
  /** Snapshots the store could not take. */
  evidenceLost: number;
  rules: RuleStatus[];
}

export class RuleEngine {
  readonly status: RulesStatus;
  private readonly limiters: IncidentLimiter[];

  constructor(
    readonly opts: RulesOptions,
    private readonly env: {
      store: Store;
      host: Host;
      sysrqHost: Host;
      say: (line: string) => void;
      domainOf: (pid: number) => string | null;
      /** What of this recorder keeps a trigger from firing (a detector off, an event absent), or null. */
      limitOf: (t: Trigger) => string | null;
    },
  ) {
    this.limiters = opts.rules.map((r) => new IncidentLimiter(r.minIntervalMs));
    this.status = {
      sysrqTrigger: env.sysrqHost.sysrqTriggerPath,
      sysrqSent: 0,
      sysrqFailed: 0,
      snapshots: 0,
      evidenceLost: 0,
      rules: opts.rules.map((r) => ({
        where: r.where,
        on: r.on,
        do: r.actions.map(actionText),
        minIntervalMs: r.minIntervalMs,
        matched: 0,
        acted: 0,
        suppressed: 0,
        lastActedUs: null,
        note: env.limitOf(r.trigger),
      })),
    };
    for (const r of this.status.rules) if (r.note) env.say(`lantern record: rule at ${r.where} on "${r.on}": ${r.note}`);
  }

  /** The `rule` records (and snapshots) for this tick's records; rule records themselves never match. */
  run(records: ProcessRecord[], nowMs = Date.now()): { records: ProcessRecord[]; evidence: HungEvidence[] } {
    const out: ProcessRecord[] = [];
    const evidence: HungEvidence[] = [];
    for (const rec of records) {
      if (rec.type === 'rule') continue;
      this.opts.rules.forEach((rule, i) => {
        if (!matches(rule.trigger, rec)) return;
        const st = this.status.rules[i]!;
        st.matched++;
        const id = this.env.store.nextId();
        if (!this.limiters[i]!.decide(nowMs, () => id).act) {
          st.suppressed++;
          return;
        }
        st.acted++;
        st.lastActedUs = nowMs * 1000;
        const done: string[] = [];
        let snapshot = null;
        for (const a of rule.actions) {
          if (a.kind === 'sysrq') {
            const sent: string[] = [];
            const failed: string[] = [];
            for (const l of a.letters) {
              const w = this.env.sysrqHost.triggerSysrq(l);
              if (w.ok) sent.push(l);
              else failed.push(`${l}: ${w.reason}`);
            }
            this.status.sysrqSent += sent.length;
            this.status.sysrqFailed += failed.length;
            done.push(failed.length ? `sysrq ${sent.join(',') || '-'} sent, failed ${failed.join('; ')}` : `sysrq ${sent.join(',')} sent`);
          } else if (a.kind === 'snapshot') {
            snapshot = takeSnapshot(this.env.host, this.env.domainOf, this.opts.maxTasks);
            this.status.snapshots++;
            done.push(`snapshot of ${snapshot.dTasks.length} D task${snapshot.dTasks.length === 1 ? '' : 's'}${snapshot.dTasksOmitted ? ` (+${snapshot.dTasksOmitted} omitted)` : ''}`);
          } else done.push('log');
        }
        const detail = `rule ${rule.index} (${rule.where}) on = "${rule.on}" fired on #${rec.id} (${rec.type}): ${done.join('; ')}`;
        const r: ProcessRecord = {
          ...rec,
          id,
          type: 'rule',
          timeUs: nowMs * 1000,
          fromId: rec.id,
          cpu: null,
          lost: null,
          detail,
          priorImages: undefined,
        };
        out.push(r);
        if (snapshot) evidence.push({ eventId: id, incident: id, snapshot, kmsg: [] });
        if (rule.actions.some((a) => a.kind === 'log')) this.env.say(`lantern record: ${detail}`);
      });
    }
    return { records: out, evidence };
  }
}
