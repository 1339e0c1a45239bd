/**
 * The shape of one kernel-log report type (after syzkaller's pkg/report oops table): how its
 * header reads, what it extracts, which lines continue it, how it is titled. The detector
 * (../detect.ts) holds only the streams and the open reports; what a report type is lives in
 * its entry of REPORT_TYPES (./index.ts).
 */
import type { Frame, Incident, IncidentKind } from '../model.js';

/** Sanitizer report (KASAN, KFENCE, KMSAN, KCSAN): what its header said. */
export interface SanitizerHeader {
  tool: 'KASAN' | 'KFENCE' | 'KMSAN' | 'KCSAN';
  /** Bug type as syzkaller titles it (`use-after-free`, `invalid-free`, `uninit-value`, …). */
  type: string;
  /** `Read` / `Write` (KASAN: from the access line; KFENCE: from the header, lower case). */
  access?: string;
  /** The function the header names. */
  func?: string;
  /** KASAN 4.x `… on address ADDR`: no function in the title. */
  noFunc?: boolean;
}

export interface SysrqTask {
  comm: string;
  pid?: number;
  ppid?: number;
  state: string;
  frames: string[];
}

/** What a report type keeps while its report is open, beyond the incident itself. */
export interface ReportState {
  /** The function a WARNING header names (suffixes cut). */
  warnFunc?: string;
  /** The reason of `Kernel panic - not syncing: R`. */
  panicReason?: string;
  sysrq?: { curTask?: SysrqTask; maxTasks: number; groups: Map<string, { count: number; frames: string[]; examples: string[] }> };
  /** Lockdep report: set once `stack backtrace:` is seen; frames before it belong to the dependency chains. */
  lockdep?: { backtrace: boolean; acquireFunc?: string; expectAt: boolean };
  /** Sanitizer report: what its header said. */
  san?: SanitizerHeader;
  /** A sanitizer's allocation/free/origin stack started: its frames are not the report's stack. */
  otherStacks?: boolean;
  /** The report type saw its last line (an OOM report's victim line). */
  complete?: boolean;
}

/** A report being read: the incident, the type that opened it and the reading state. */
export interface OpenReport extends ReportState {
  type: ReportType;
  inc: Incident;
  lines: number;
  inTrace: boolean;
  nonBody: number;
  caller?: string;
  allFrames: Frame[];
  afterEoe: Frame[];
  sawEoe: boolean;
  /** The NMI stack ended (`<<EOE>>`, `</NMI>`): frames before it are watchdog plumbing. */
  sawNmiEnd: boolean;
  pidPrefix?: { cpu: number; pid: string };
  /** Line number of the last line taken into the report. */
  lastLineNo: number;
  /** Detector line count when this report's stream last sent a line. */
  lastSeen: number;
  /** Last lines of a report longer than the excerpt (the end of a report matters as much as its start). */
  tail: string[];
  /** The header was found after an unknown prefix (a collector's stamp): lines with a prefix of that shape lose it. */
  prefix?: RegExp;
}

/** What a header function sees besides the line. */
export interface HeaderContext {
  /** The report open in this stream, if any. */
  open: OpenReport | undefined;
  /** OOM task-table rows seen while no report was open (see the detector's Stream). */
  orphanTable: { rows: number; largest?: { pid: number; comm: string; rssPages: number } } | undefined;
  /** A new incident of the entry's kind starting at this line, titled `title`. */
  incident(title: string): Incident;
  /** Tasks kept (with stacks) per SysRq-T dump. */
  maxSysrqTasks: number;
}

/** A header that matched: the incident it opens and the state its report starts with. */
export interface Opening {
  inc: Incident;
  state?: ReportState;
  /**
   * The header was printed inside another report (an OOM header in a crash report): it is
   * recorded on its own and the open report stays open.
   */
  interleaved?: boolean;
  /** Reads the header line once the report is open (an OOM victim line read as a header). */
  afterOpen?: (r: OpenReport) => void;
}

/** What a title rule sees: the report's frames and the detector's first choices. */
export interface TitleContext {
  frames: Frame[];
  /** The first meaningful frame (generic frames skipped). */
  first: string | undefined;
  /** The RIP's function, unless generic (syscall wrappers unified). */
  ripFunc: string | undefined;
  /** Frames the title rule wants offered as alternatives (`altFrames`). */
  alt: Set<string>;
  /** Why the report was closed early, if it was. */
  truncatedBy: string | undefined;
}

export interface ReportType {
  /** Stable name of the entry (`oops.null_deref`): tests name it, a case file covers it. */
  name: string;
  kind: IncidentKind;
  /** The first cell of this type's row in docs/analyze.md `### Incidents` (checked by a test). */
  docRow: string;
  /** A header line this entry opens (tested: it passes the prefilter and no earlier entry takes it). */
  example: string;
  /**
   * Trigger words (regex sources): a line holding none of them never reaches `header`. The
   * prefilter is their union (./index.ts).
   */
  triggers: readonly string[];
  /** Reads a header line: the opening, or undefined when the line is not this type's header. */
  header(text: string, ctx: HeaderContext): Opening | undefined;
  /**
   * While a report of this type is open, lines that would match a header but continue it
   * (true), or that the report absorbs, changing what it is ('absorbed').
   */
  continues?(text: string, r: OpenReport): boolean | 'absorbed';
  /** Body lines (regex sources, anchored at line start) that are never frames; the union serves every report. */
  body?: readonly string[];
  /** Message lines some reports print after their header (regex sources); the union serves every report. */
  messages?: readonly string[];
  /** Takes every line while true (OOM tables, lockdep chains); `read` runs the generic line reader. */
  takeAll?(r: OpenReport, text: string, read: () => void): boolean;
  /** More body lines of this type only (task lines of a dump, a sanitizer's access line). */
  isBody?(r: OpenReport, text: string): boolean;
  /** A line that is not body but that this type takes while it starts (UBSAN's detail line). */
  extraLine?(r: OpenReport, text: string): boolean;
  /** Header starts that may follow a prefix Lantern does not know (found anywhere in a line, as syzkaller does). */
  anywhere?: readonly string[];
  /** A frame of the report's stack was read. */
  onFrame?(r: OpenReport, frame: Frame): void;
  /** Frames belong to the report's many tasks, not to the incident: no `altFrames`. */
  noAltFrames?: boolean;
  /** A line that ends the report once its trace was read (a sanitizer's `=====` rule). */
  end?: RegExp;
  /** Reads a body line for this type's facts; true when it was consumed (no frame in it). */
  detail?(r: OpenReport, text: string): boolean;
  /** Sets the final title and guilty frame at close (default: the first meaningful frame). */
  title?(r: OpenReport, t: TitleContext): void;
  /** True when the report is complete on its header line (no body follows). */
  single?(inc: Incident): boolean;
  /** The report is incomplete without a call trace. */
  needsTrace?: boolean;
  /** A report that closed up to this many lines before is this one's cause (`facts.after`). */
  follows?: number;
  /** Takes lines of every printk context (a SysRq dump), and more of them. */
  dump?: { maxLinesFactor: number; nonBodyLimit: number };
}
