/**
 * Data-file test over the real kernel-log corpus (test/data/analyze/real, copied from
 * /work/shared/kernel-logs with each sidecar's `source`): syzkaller-style, every expected fact in
 * `<id>.expected.json` is asserted, every `must_not` asserted absent.
 *
 * Deliberate choice: the guilty frame is one convention per kind (syzkaller's extractors for
 * hangs and stalls, RIP then first meaningful frame for oopses). Where a sidecar's guilty frame
 * follows another convention (its `guilty_frame_basis` is RIP or manual), it must be among the
 * incident's `altFrames`, the way syzkaller lists alternative titles.
 *
 * Soft lockups have one answer: syzkaller's lockup rule (pkg/report/linux.go: the RIP frame, then
 * the call trace, through linuxStallFrameExtractor). Where a sidecar names another frame, DECIDED
 * holds the frame and title that rule gives, asserted exactly; the sidecar's frame stays an alternative.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Detector } from './detect.js';
import { scanStream } from './scan.js';
import type { Incident } from './model.js';

const dir = new URL('../../test/data/analyze/real/', import.meta.url);

export async function incidentsOf(path: URL, name = 'x.log'): Promise<Incident[]> {
  const out: Incident[] = [];
  const det = new Detector((i) => out.push(i));
  await scanStream(Readable.from([readFileSync(path)]), det, { name, refYear: 2024, refMonth: 11 });
  det.finish();
  return out;
}

type Exp = Record<string, unknown>;
/** A value of an expected file in a message. */
const str = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined'));

const DECIDED: Record<string, { guiltyFrame: string; title: string; why: string }> = {
  // RIP smp_call_function_many is itself an anchor: syzkaller names the family, not the variant.
  soft_lockup_02: { guiltyFrame: 'smp_call_function', title: 'BUG: soft lockup in smp_call_function', why: 'RIP is smp_call_function_many' },
  // The frame before the first anchor (do_vfs_ioctl): the driver's ioctl handler, not the syscall.
  soft_lockup_03: { guiltyFrame: 'nouveau_drm_ioctl', title: 'BUG: soft lockup in nouveau_drm_ioctl', why: 'nouveau_drm_ioctl calls do_vfs_ioctl' },
};
const KIND_MAP: Record<string, string> = { oom_invocation_fragment: 'oom_kill' };

function frameSeq(inc: Incident): string[] {
  return inc.frames.map((f) => f.func);
}

function containsRun(hay: string[], run: string[]): boolean {
  outer: for (let i = 0; i + run.length <= hay.length; i++) {
    for (let j = 0; j < run.length; j++) if (hay[i + j] !== run[j]) continue outer;
    return true;
  }
  return false;
}

function hasTask(inc: Incident, comm: unknown, pid: unknown): boolean {
  return inc.tasks.some((t) => (comm === undefined || t.comm === comm) && (pid === undefined || t.pid === pid));
}

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.expected.json'))
  .sort();

test('the corpus is all there', () => {
  assert.equal(files.length, 29);
});

for (const f of files) {
  const exp = JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as Exp;
  test(`real log ${str(exp['id'])} (${str((exp['source'] as Exp)['repo'])} ${str((exp['source'] as Exp)['path'])})`, async () => {
    const incs = await incidentsOf(new URL(exp['log_file'] as string, dir));
    const expected = exp['incidents'] as Exp[];
    for (const e of expected) {
      const kind = KIND_MAP[e['kind'] as string] ?? (e['kind'] as string);
      const inc = incs.find((i) => i.kind === kind && i.headline.trim() === (e['title'] as string).trim());
      assert.ok(inc, `no ${kind} incident titled ${JSON.stringify(e['title'])}; got ${JSON.stringify(incs.map((i) => [i.kind, i.headline]))}`);
      const what = `${str(exp['id'])} ${kind}`;
      if (e['timestamp'] !== null && e['timestamp'] !== undefined) {
        assert.ok(inc.kernelTimeText === e['timestamp'] || inc.wallText === e['timestamp'], `${what}: time ${inc.kernelTimeText}/${inc.wallText} != ${str(e['timestamp'])}`);
      }
      if (e['wallclock']) assert.equal(inc.wallText, e['wallclock'], `${what}: wall clock`);
      if (e['subkind'] && kind !== 'panic') assert.equal(inc.subkind, e['subkind'], `${what}: subkind`);
      if (e['subkind'] && kind === 'panic' && e['subkind'] !== 'hung_task_panic') assert.equal(inc.subkind, e['subkind'], `${what}: subkind`);
      if (e['process'] !== undefined || e['pid'] !== undefined)
        assert.ok(hasTask(inc, e['process'], e['pid']), `${what}: task ${str(e['process'])}:${str(e['pid'])} not in ${JSON.stringify(inc.tasks)}`);
      if (e['cpu'] !== undefined) assert.equal(inc.cpu, e['cpu'], `${what}: cpu`);
      if (e['state'] !== undefined)
        assert.ok(
          inc.tasks.some((t) => t.state === e['state']),
          `${what}: state`,
        );
      if (e['ppid'] !== undefined)
        assert.ok(
          inc.tasks.some((t) => t.ppid === e['ppid']),
          `${what}: ppid`,
        );
      if (e['running_task']) {
        const rt = e['running_task'] as Exp;
        assert.ok(
          inc.tasks.some((t) => t.comm === rt['comm'] && t.pid === rt['pid'] && t.ppid === rt['ppid'] && t.state === rt['state']),
          `${what}: running task`,
        );
      }
      if (e['blocked_seconds'] !== undefined) assert.equal(inc.facts['blockedSeconds'], e['blocked_seconds']);
      if (e['io_wait']) assert.equal(inc.subkind, 'io_wait');
      if (e['stuck_seconds'] !== undefined) assert.equal(inc.facts['stuckSeconds'], e['stuck_seconds']);
      if (e['panic_reason'] !== undefined) assert.equal(inc.facts['reason'], e['panic_reason']);
      if (e['workqueue'] !== undefined) assert.equal(inc.facts['workqueue'], e['workqueue']);
      if (e['stall_jiffies'] !== undefined) assert.equal(inc.facts['stallJiffies'], e['stall_jiffies']);
      if (e['detected_by_cpu'] !== undefined) assert.equal(inc.facts['detectedByCpu'], e['detected_by_cpu']);
      if (e['rcu_flavor'] !== undefined) assert.equal(inc.facts['flavor'], e['rcu_flavor']);
      if (e['fault_address'] !== undefined) assert.equal(inc.facts['faultAddress'], e['fault_address']);
      if (e['source_location'] !== undefined) assert.equal(inc.facts['sourceLocation'], e['source_location']);
      if (e['warn_function'] !== undefined) assert.equal(inc.facts['warnFunction'], e['warn_function']);
      if (e['bank'] !== undefined) assert.equal(inc.facts['bank'], e['bank']);
      if (e['status'] !== undefined) assert.equal(inc.facts['status'], e['status']);
      if (e['module'] !== undefined) assert.equal(inc.facts['module'], e['module'], `${what}: module`);
      if (e['kernel_version'] !== undefined) assert.equal(inc.facts['version'], e['kernel_version']);
      if (e['rip'] !== undefined) assert.equal(inc.rip, (e['rip'] as string).replace(/\+0x.*$/, ''), `${what}: rip`);
      if (e['top_reliable_frames']) {
        const want = (e['top_reliable_frames'] as string[]).map((s) => s.replace(/\.[\w.]+$/, ''));
        assert.ok(containsRun(frameSeq(inc), want), `${what}: frames ${JSON.stringify(want)} not a run of ${JSON.stringify(frameSeq(inc))}`);
      }
      if (e['frames_after_eoe']) assert.ok(String(inc.facts['framesAfterNmi']).startsWith((e['frames_after_eoe'] as string[]).join(' ')), `${what}: frames after <<EOE>>`);
      if (e['first_guilty_frame'] !== undefined) {
        const g = e['first_guilty_frame'] as string;
        const basis = str(e['guilty_frame_basis'] ?? '');
        const decided = DECIDED[exp['id'] as string];
        if (decided) {
          assert.equal(inc.guiltyFrame, decided.guiltyFrame, `${what}: guilty frame (syzkaller lockup rule: ${decided.why})`);
          assert.equal(inc.title, decided.title);
          assert.ok(inc.altFrames.includes(g), `${what}: the sidecar's ${g} (${basis}) not among ${JSON.stringify(inc.altFrames)}`);
        } else if (/syzkaller/.test(basis)) assert.equal(inc.guiltyFrame, g, `${what}: guilty frame (${basis})`);
        else if (kind === 'soft_lockup') assert.fail(`${what}: a soft lockup needs one answer: add it to DECIDED (sidecar: ${g}, ${basis}; Lantern: ${inc.guiltyFrame})`);
        else assert.ok(inc.guiltyFrame === g || inc.altFrames.includes(g), `${what}: guilty ${g} not ${inc.guiltyFrame} nor in ${JSON.stringify(inc.altFrames)}`);
      }
      if (e['largest_rss_task_in_table']) {
        // panic_on_oom: the largest task of the OOM table printed before the panic line.
        const want = e['largest_rss_task_in_table'] as Exp;
        assert.deepEqual(inc.oom?.largestRssTask, { pid: want['pid'], comm: want['name'], rssPages: want['rss_pages'] }, `${what}: largest task in the OOM table`);
      }
      if (e['complete'] === false) assert.equal(inc.partial, true, `${what}: should be partial`);
      if (e['must_not_include_in_stack']) for (const s of e['must_not_include_in_stack'] as string[]) assert.ok(!inc.excerpt.some((l) => l.includes(s)), `${what}: excerpt includes ${s}`);
      // OOM details
      if (kind === 'oom_kill') {
        const o = inc.oom!;
        if (e['invoker_process']) assert.equal(o.invoker?.comm, e['invoker_process']);
        if (e['invoker_pid'] !== undefined) assert.equal(o.invoker?.pid, e['invoker_pid']);
        if (e['gfp_mask'] !== undefined) assert.equal(o.gfpMask, e['gfp_mask']);
        if (e['order'] !== undefined) assert.equal(o.order, e['order']);
        if (e['constraint'] !== undefined) assert.equal(o.constraint, e['constraint']);
        if (e['global_oom'] !== undefined) assert.equal(inc.facts['globalOom'], e['global_oom']);
        if (e['victim_process'] !== undefined) assert.equal(o.victim?.comm, e['victim_process']);
        if (e['victim_pid'] !== undefined) assert.equal(o.victim?.pid, e['victim_pid']);
        if (e['victim_uid'] !== undefined) assert.equal(o.victim?.uid, e['victim_uid']);
        if (e['total_vm_kb'] !== undefined) assert.equal(o.victim?.totalVmKb, e['total_vm_kb']);
        if (e['anon_rss_kb'] !== undefined) assert.equal(o.victim?.anonRssKb, e['anon_rss_kb']);
        if (e['file_rss_kb'] !== undefined) assert.equal(o.victim?.fileRssKb, e['file_rss_kb']);
        if (e['shmem_rss_kb'] !== undefined) assert.equal(o.victim?.shmemRssKb, e['shmem_rss_kb']);
        if (e['free_swap_kb'] !== undefined) assert.equal(o.memory?.freeSwapKb, e['free_swap_kb']);
        if (e['killed_line'])
          assert.ok(
            inc.excerpt.some((l) => l.includes(e['killed_line'] as string)),
            `${what}: killed line in excerpt`,
          );
      }
    }
    const ref = exp['reference'] as Exp | undefined;
    if (ref?.['syzkaller_title'] && ref['syzkaller_type'] !== 'REBOOT') {
      const titles = [ref['syzkaller_title'], ...((ref['syzkaller_alt_titles'] as string[]) ?? [])];
      assert.ok(
        incs.some((i) => titles.includes(i.title)),
        `${str(exp['id'])}: no incident titled like syzkaller ${JSON.stringify(titles)}; got ${JSON.stringify(incs.map((i) => i.title))}`,
      );
    }
    if (ref?.['syzkaller_type'] === 'REBOOT') assert.ok(incs.some((i) => i.kind === 'boot'));
    const checks = exp['summary_checks'] as Exp | undefined;
    if (checks?.['d_state_tasks'] !== undefined) assert.equal(incs.filter((i) => i.kind === 'hung_task').length, checks['d_state_tasks']);
    if (checks?.['hung_task_panic_follows']) {
      const last = incs.filter((i) => i.kind === 'hung_task' || i.kind === 'panic').pop();
      assert.equal(last?.kind, 'panic');
    }
    if (checks?.['reboot_message'])
      assert.ok(
        incs.some((i) => i.excerpt.some((l) => l.includes(checks['reboot_message'] as string))),
        'reboot message kept in an excerpt',
      );
    // must_not
    if (expected.some((e) => e['must_not_double_count_replayed_line'])) assert.equal(incs.filter((i) => i.kind === 'hung_task').length, 1);
    for (const mn of (exp['must_not'] as string[] | undefined) ?? []) {
      if (/mcelog/.test(mn)) assert.ok(!incs.some((i) => i.excerpt.some((l) => /mcelog\[/.test(l))), mn);
      else if (/report any panic/.test(mn)) {
        const bad = incs.filter((i) => ['panic', 'oops', 'hung_task', 'oom_kill', 'soft_lockup', 'hard_lockup', 'rcu_stall', 'mce'].includes(i.kind));
        assert.deepEqual(
          bad.map((i) => i.title),
          [],
          mn,
        );
      } else assert.fail(`must_not not understood by this test: ${mn}`);
    }
    for (const oe of (exp['other_events'] as Exp[] | undefined) ?? []) {
      if (oe['kind'] === 'disk_io_error') {
        const io = incs.find((i) => i.kind === 'io_error' && i.headline === oe['title']);
        assert.ok(io, 'disk I/O error reported');
        assert.equal(io.facts['device'], oe['device']);
        assert.equal(io.kernelTimeText, oe['timestamp']);
        assert.equal(io.wall?.iso, oe['wallclock']);
      }
    }
  });
}
