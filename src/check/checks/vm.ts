/** vm.vfs_cache_pressure and the old dcache shrinker overflow. */
import type { CheckDef } from './common.js';
import type { Evidence } from '../model.js';
import { INT_MAX, parseDentryState, shrinkerProduct } from '../../host/formats/dentry-state.js';
import { versionBefore } from '../../host/formats/kernel.js';
import { sysctlRemedy } from '../remedies.js';

export const vfsCachePressure: CheckDef = {
  id: 'vfs.cache-pressure',
  title: 'vm.vfs_cache_pressure in 1–100',
  why: 'vfs_cache_pressure=0 never reclaims dentries and inodes (out-of-memory risk); above 100, kernels before 3.12 compute (nr_unused/100)×pressure in an int that overflows, breaking the slab shrinker.',
  run(r, f) {
    const d = f.src.sysctl('vm.vfs_cache_pressure');
    const ev: Evidence[] = [f.src.evidence('vm.vfs_cache_pressure', d)];
    const remedy = sysctlRemedy('vm.vfs_cache_pressure', '100', 'Return vm.vfs_cache_pressure to the kernel default 100.');
    if (!d.ok) return r.unknown(d.reason, ev);
    const p = Number(d.text.trim());
    if (!Number.isInteger(p) || p < 0) return r.unknown(`unparseable value "${d.text.trim()}"`, ev);
    if (p === 0) return r.fail('vfs_cache_pressure=0: dentries and inodes are never reclaimed', ev, remedy);
    if (p <= 100) return r.ok(`vfs_cache_pressure=${p}: within 1–100, the old shrinker product cannot overflow`, ev);
    const k = f.kernel();
    ev.push(k.ev);
    const dentry = f.src.sysctl('fs.dentry-state');
    ev.push(f.src.evidence('fs.dentry-state', dentry));
    if (!k.k) return r.warn(`vfs_cache_pressure=${p} > 100; kernel version unknown, so the overflow margin cannot be judged`, ev, remedy);
    const oldShrinker = versionBefore(k.k.version, [3, 12, 0]);
    if (!oldShrinker) return r.warn(`vfs_cache_pressure=${p} > 100 reclaims dentries and inodes aggressively (kernel ${k.k.raw} has the 64-bit shrinker: no overflow)`, ev, remedy);
    const st = dentry.ok ? parseDentryState(dentry.text) : null;
    if (!st) return r.warn(`vfs_cache_pressure=${p} on a pre-3.12 kernel; dentry-state unavailable, overflow margin unknown`, ev, remedy);
    const product = shrinkerProduct(st.nrUnused, p);
    const limitUnused = Math.ceil((INT_MAX + 1) / p) * 100;
    const margin = `floor(${st.nrUnused} unused / 100) × ${p} = ${product} vs INT_MAX ${INT_MAX}; overflows at ≈${limitUnused} unused dentries`;
    if (product > INT_MAX) return r.fail(`the dcache shrinker count has overflowed: ${margin}`, ev, remedy);
    if (product > INT_MAX / 2) return r.fail(`the dcache shrinker count is within 2× of overflow: ${margin}`, ev, remedy);
    return r.warn(`vfs_cache_pressure=${p} > 100 on a pre-3.12 kernel: ${margin}`, ev, remedy);
  },
};
