/** The hardware reporting errors: machine checks (MCE), EDAC and APEI GHES. */
import { sanitizeTitle } from './text.js';
import type { OpenReport, ReportType } from './types.js';

const MCE_FATAL_RE = /(?:CPU (\d+): )?Machine Check Exception: ?([0-9a-fx]+)?(?: Bank (\d+): ([0-9a-f]+))?/;
const MCE_LOGGED_RE = /Machine check events logged/;
const MCE_CHECK_RE = /CPU (\d+): Machine Check(?: Exception)?: ?(\S+) Bank (\d+): ([0-9a-f]+)/;
const HW_ERROR_RE = /^(?:\{\d+\})?\[Hardware Error\]: (.+)$|^EDAC (\w+): (\d+ )?(CE|UE) (.*)$|^mce: \[Hardware Error\]: (.+)$/;

const MCE = {
  kind: 'mce',
  docRow: '`mce`',
  triggers: ['Machine [Cc]heck'],
  body: ['Bank \\d', 'TSC ', 'ADDR ', 'MISC ', 'PROCESSOR ', 'mce: ', 'Hardware Error'],
  // The banks and `[Hardware Error]` lines of one machine check continue it, until the summary.
  continues: (text: string) => (MCE_CHECK_RE.test(text) || /^mce: \[Hardware Error\]|^\[Hardware Error\]/.test(text)) && !MCE_LOGGED_RE.test(text),
  detail(r: OpenReport, text: string) {
    const m = /Bank (\d+): ([0-9a-f]+)/.exec(text);
    if (m && r.inc.facts['bank'] === undefined) {
      r.inc.facts['bank'] = Number(m[1]);
      r.inc.facts['status'] = m[2]!;
    }
    return false;
  },
  // A machine check has no guilty frame: the hardware failed.
  title(r: OpenReport) {
    const inc = r.inc;
    if (inc.subkind === 'fatal' && inc.facts['bank'] !== undefined) inc.title = `MCE: Machine Check Exception, bank ${inc.facts['bank']}`;
  },
} as const;

export const MCE_CHECK: ReportType = {
  ...MCE,
  name: 'mce.bank',
  example: 'mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 7: be00000000800090',
  header(text, ctx) {
    const m = MCE_CHECK_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident(`MCE: machine check, bank ${m[3]}`);
    inc.subkind = 'logged';
    inc.cpu = Number(m[1]);
    inc.facts['bank'] = Number(m[3]);
    inc.facts['status'] = m[4]!;
    return { inc };
  },
};

export const MCE_LOGGED: ReportType = {
  ...MCE,
  name: 'mce.events_logged',
  example: 'mce: [Hardware Error]: Machine check events logged',
  header(text, ctx) {
    if (!MCE_LOGGED_RE.test(text)) return undefined;
    const inc = ctx.incident('MCE: machine check events logged');
    inc.subkind = 'corrected_logged';
    return { inc };
  },
};

export const MCE_FATAL: ReportType = {
  ...MCE,
  name: 'mce.exception',
  example: 'CPU 1: Machine Check Exception: 0000000000000005',
  header(text, ctx) {
    const m = MCE_FATAL_RE.exec(text);
    if (!m || !/Machine Check Exception/.test(text)) return undefined;
    const inc = ctx.incident('MCE: Machine Check Exception');
    inc.subkind = 'fatal';
    if (m[1] !== undefined) inc.cpu = Number(m[1]);
    if (m[3] !== undefined) {
      inc.facts['bank'] = Number(m[3]);
      inc.facts['status'] = m[4]!;
    }
    return { inc };
  },
};

export const HW_ERROR: ReportType = {
  name: 'hw_error',
  kind: 'hw_error',
  docRow: '`hw_error`',
  example: 'EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x1a2b3 offset:0x0 grain:32 syndrome:0x0)',
  triggers: ['Hardware Error', 'EDAC'],
  body: ['\\{\\d+\\}\\[Hardware Error\\]'],
  // An EDAC line is the whole report; an APEI GHES report has its section lines.
  single: (inc) => inc.subkind !== 'ghes',
  continues: (text) => /^\{\d+\}\[Hardware Error\]/.test(text),
  header(text, ctx) {
    const m = HW_ERROR_RE.exec(text);
    if (!m) return undefined;
    if (m[3]) {
      const inc = ctx.incident(`EDAC: ${m[4] === 'UE' ? 'uncorrected' : 'corrected'} memory error on ${m[2]}`);
      inc.subkind = m[4] === 'UE' ? 'uncorrected' : 'corrected';
      return { inc };
    }
    const what = m[1] ?? m[6] ?? '';
    if (/^Hardware error from APEI/.test(what)) {
      const inc = ctx.incident('Hardware Error: APEI GHES');
      inc.subkind = 'ghes';
      return { inc };
    }
    return { inc: ctx.incident(`Hardware Error: ${sanitizeTitle(what).slice(0, 80)}`) };
  },
  detail(r, text) {
    const m = /event severity: (\w+)/.exec(text);
    if (m) {
      r.inc.facts['severity'] = m[1]!;
      if (r.inc.subkind === 'ghes') r.inc.title = `Hardware Error: APEI GHES ${m[1]}`;
    }
    return false;
  },
};
