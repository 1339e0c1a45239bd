/** SysRq: the mask allows the dump functions, and it is persisted. */
import type { CheckDef } from './common.js';
import type { Evidence } from '../model.js';
import { sysctlValuesEqual } from '../../host/formats/sysctl.js';
import { sysctlRemedy } from '../remedies.js';

const SYSRQ_WHY =
  'On a hung server SysRq-T/W/M (task states, blocked tasks, memory) from the console or a serial BREAK are often the only way to see why it hangs; kernel.sysrq must allow the dump functions (bit 8) for that.';
const SYSRQ_TRADEOFF =
  'Security baselines (Lynis KRNL-6000, some CIS profiles) recommend kernel.sysrq=0 because anyone at the console can then reboot or dump state. For a server in a locked room or behind a protected serial console, being able to diagnose a hang outweighs that; a middle ground is kernel.sysrq=216 (dumps 8 + sync 16 + signals 64 + reboot 128). Root can always use /proc/sysrq-trigger whatever the mask.';

function sysrqAllowsDumps(v: number): boolean {
  return v === 1 || (v > 1 && (v & 8) !== 0);
}

function sysrqMeaning(v: number): string {
  if (v === 0) return '0 (disabled)';
  if (v === 1) return '1 (all functions)';
  const bits: [number, string][] = [
    [2, 'loglevel'],
    [4, 'keyboard'],
    [8, 'dumps'],
    [16, 'sync'],
    [32, 'remount-ro'],
    [64, 'signals'],
    [128, 'reboot'],
    [256, 'nice-rt'],
  ];
  return `${v} (${
    bits
      .filter(([b]) => v & b)
      .map(([, n]) => n)
      .join(', ') || 'nothing'
  })`;
}

export const sysrqMask: CheckDef = {
  id: 'sysrq.mask',
  title: 'SysRq allows the dump functions (T/W/M)',
  commands: ['procConfigGz'],
  why: SYSRQ_WHY,
  tradeoff: SYSRQ_TRADEOFF,
  minimal: true,
  run(r, f) {
    const { c, d: cd } = f.cmdline();
    const d = f.src.sysctl('kernel.sysrq');
    const ev: Evidence[] = [f.src.evidence('kernel.sysrq (runtime)', d, d.ok ? sysrqMeaning(Number(d.text)) : undefined)];
    const remedy = sysctlRemedy('kernel.sysrq', '1', 'Allow all SysRq functions (or 216 for dumps, sync, signals and reboot only), persistently and now.');
    if (c?.params.has('sysrq_always_enabled')) {
      ev.push(f.src.evidence('sysrq_always_enabled', cd, 'on the command line'));
      return r.withTradeoff.ok('sysrq_always_enabled is on the command line (kernel.sysrq is ignored)', ev);
    }
    if (!d.ok) {
      if (f.src.kind === 'live' && !d.notCollected) {
        const cfg = f.kernelConfig().config;
        if (cfg?.get('CONFIG_MAGIC_SYSRQ') === 'n')
          return r.fail('this kernel is built without SysRq (CONFIG_MAGIC_SYSRQ is not set)', ev, {
            kind: 'manual',
            text: 'Boot a kernel built with CONFIG_MAGIC_SYSRQ=y (every distribution kernel is).',
            commands: [],
            safe: false,
          });
        return r.fail(`kernel.sysrq cannot be read: ${d.reason} (kernel likely built without SysRq)`, ev);
      }
      return r.withTradeoff.unknown(d.reason, ev, remedy);
    }
    const v = Number(d.text.trim());
    if (!Number.isInteger(v) || v < 0) return r.unknown(`kernel.sysrq value "${d.text.trim()}" is not a number`, ev, remedy);
    if (sysrqAllowsDumps(v)) {
      const missing =
        v === 1
          ? ''
          : [
              [16, 's'],
              [128, 'b'],
            ]
              .filter(([b]) => !(v & (b as number)))
              .map(([, k]) => k)
              .join(', ');
      return r.withTradeoff.ok(`kernel.sysrq=${sysrqMeaning(v)} allows SysRq-T/W/M${missing ? `; not ${missing}` : ''}`, ev);
    }
    return r.withTradeoff.warn(`kernel.sysrq=${sysrqMeaning(v)} does not allow SysRq-T/W/M from the console`, ev, remedy);
  },
};

export const sysrqPersisted: CheckDef = {
  id: 'sysrq.persisted',
  title: 'SysRq runtime value matches the persisted one',
  why: 'A value set by hand with sysctl -w is lost at the next boot; the persisted value in sysctl.conf / sysctl.d is what the server will have after the crash you are preparing for.',
  minimal: true,
  run(r, f) {
    const d = f.src.sysctl('kernel.sysrq');
    const p = f.persisted('kernel.sysrq');
    const ps = f.persistedSysctls();
    const ev: Evidence[] = [f.src.evidence('kernel.sysrq (runtime)', d)];
    if (p) ev.push({ what: 'kernel.sysrq (persisted)', value: `${p.value} (${p.file}:${p.line})`, path: p.realPath });
    else
      ev.push({
        what: 'kernel.sysrq (persisted)',
        value: ps.collected ? `not set in ${ps.files.length} file(s) read` : null,
        path: null,
        reason: ps.collected ? undefined : 'no sysctl configuration collected',
      });
    const remedy = sysctlRemedy('kernel.sysrq', d.ok && sysrqAllowsDumps(Number(d.text)) ? String(Number(d.text)) : '1', 'Persist the SysRq setting so it survives a reboot.');
    if (!d.ok) return r.unknown(`runtime value: ${d.reason}`, ev);
    if (!ps.collected) return r.unknown('sysctl configuration files not collected', ev);
    const rt = d.text.trim();
    if (!p)
      return r.finding(sysrqAllowsDumps(Number(rt)) ? 'info' : 'warn', `kernel.sysrq=${rt} comes from the kernel default; no sysctl file sets it`, ev, sysrqAllowsDumps(Number(rt)) ? null : remedy);
    if (sysctlValuesEqual(p.value, rt)) return r.ok(`runtime and persisted kernel.sysrq agree (${rt}, ${p.file})`, ev);
    const better = sysrqAllowsDumps(Number(rt)) && !sysrqAllowsDumps(Number(p.value));
    return r.warn(
      `runtime kernel.sysrq=${rt} but ${p.file}:${p.line} sets ${p.value}${better ? ': the next boot loses the dump functions' : ''}`,
      ev,
      better || sysrqAllowsDumps(Number(rt)) ? remedy : sysctlRemedy('kernel.sysrq', '1', 'Persist kernel.sysrq=1 and apply it now.'),
    );
  },
};
