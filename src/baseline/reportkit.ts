/** Test helpers for the report's pictures: a recorder store with deaths, a hostile kernel log. (Used only by *.test.ts.) */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newRecord, type ProcessRecord } from '../record/process/model.js';
import { Store } from '../record/store/store.js';
import { DATA } from './testkit.js';

/** Real kernel-log excerpts (test/data/baseline/logs): 2 dated hung tasks on 2 hosts, 2 reboots of one. */
export const TIMELINE_LOGS = [join(DATA, 'logs', 'hung_task_05.log'), join(DATA, 'logs', 'hung_task_06_reboots.log')];

/** Strings a log or a store may carry that must stay text: markup breakouts, quotes, ampersands, control characters. */
export function hostileStrings(probe: string): { svgBreak: string; img: string; quotes: string } {
  return { svgBreak: '</svg><script>alert(1)</script>', img: `<img src=${probe}>`, quotes: `a"b'c&amp;d\x1b[31m\x07` };
}

/**
 * A syslog kern.log of a host whose name and hung task carry markup: one dated hung task
 * (same line format as hung_task_06.log), a third lane on the timeline.
 */
export function writeHostileLog(dir: string, probe: string): string {
  const h = hostileStrings(probe);
  const path = join(dir, 'hostile-kern.log');
  const host = `evil&"host'<b>`;
  writeFileSync(
    path,
    [
      `Feb  4 09:30:00 ${host} kernel: [  512.000001] INFO: task ${h.svgBreak}:4242 blocked for more than 120 seconds.`,
      `Feb  4 09:30:00 ${host} kernel: [  512.000002]       Not tainted 4.4.0-142-generic #168-Ubuntu`,
      `Feb  4 09:30:00 ${host} kernel: [  512.000003] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.`,
      '',
    ].join('\n'),
  );
  return path;
}

/**
 * A store as the recorder leaves it, written through the recorder's own Store: sshd → bash →
 * a server that died of SIGSEGV, a java killed by the OOM killer, and a program with a hostile
 * name killed by kill(1). With `hung`, also a `hung_tasks` table (as a later recorder may add).
 */
export function writeDeathStore(path: string, probe: string, opts: { hung?: boolean } = {}): { deaths: number; oom: number } {
  const h = hostileStrings(probe);
  const store = Store.open(path);
  const t0 = Date.parse('2026-02-04T15:00:00Z') * 1000;
  const recs: ProcessRecord[] = [];
  const rec = (r: Partial<ProcessRecord> & Pick<ProcessRecord, 'type' | 'pid' | 'comm' | 'domainId'>): ProcessRecord => {
    const full = newRecord({
      id: store.nextId(),
      timeUs: t0 + recs.length * 60_000_000,
      tid: r.pid,
      ppid: 1,
      pstartUs: t0 + r.pid,
      uid: 0,
      ...r,
    });
    recs.push(full);
    return full;
  };
  const sshdD = store.intern(store.root, '/usr/sbin/sshd');
  const bashD = store.intern(sshdD, '/bin/bash');
  const sshd = rec({ type: 'exec', pid: 800, comm: 'sshd', program: '/usr/sbin/sshd', domainId: sshdD, reconstructed: true });
  const bash = rec({ type: 'exec', pid: 900, ppid: 800, comm: 'bash', program: '/bin/bash', domainId: bashD, fromId: sshd.id, parentComm: 'sshd' });
  const serverD = store.intern(bashD, '/opt/app/server');
  const server = rec({ type: 'exec', pid: 1000, ppid: 900, comm: 'server', program: '/opt/app/server', domainId: serverD, fromId: bash.id, parentComm: 'bash' });
  rec({
    type: 'signal',
    pid: 1000,
    comm: 'server',
    program: '/opt/app/server',
    domainId: serverD,
    fromId: server.id,
    signal: 11,
    sigCode: 1,
    senderKind: 'kernel',
    senderPid: 1000,
    senderComm: 'server',
  });
  const javaD = store.intern(bashD, '/usr/bin/java');
  const java = rec({ type: 'exec', pid: 1100, ppid: 900, comm: 'java', program: '/usr/bin/java', domainId: javaD, fromId: bash.id, parentComm: 'bash' });
  rec({
    type: 'signal',
    pid: 1100,
    comm: 'java',
    program: '/usr/bin/java',
    domainId: javaD,
    fromId: java.id,
    signal: 9,
    sigCode: 0x80,
    senderKind: 'kernel',
    senderPid: 77,
    senderComm: 'kswapd0',
    detail: 'oom-killer',
  });
  const evilProgram = `/opt/${h.svgBreak}`;
  const evilD = store.intern(bashD, evilProgram);
  const evil = rec({ type: 'exec', pid: 1200, ppid: 900, comm: h.img.slice(0, 15), program: evilProgram, domainId: evilD, fromId: bash.id, parentComm: 'bash' });
  rec({
    type: 'signal',
    pid: 1200,
    comm: h.quotes,
    program: evilProgram,
    domainId: evilD,
    fromId: evil.id,
    signal: 15,
    sigCode: 0,
    senderKind: 'process',
    senderPid: 1300,
    senderComm: h.img,
    senderProgram: '/usr/bin/kill',
  });
  // A hung-task record as the recorder's detector writes it (type 'hung' + its evidence row).
  const hung = opts.hung ? rec({ type: 'hung', pid: 4242, comm: h.img.slice(0, 15), program: '/usr/bin/writer', domainId: bashD, detail: 'blocked for more than 120 s (tracepoint)' }) : null;
  store.write(recs);
  if (hung) {
    const dTask = { pid: 4242, tid: 4242, comm: h.img.slice(0, 15), state: 'D (disk sleep)', wchan: 'percpu_rwsem_wait', stack: null, cmdline: 'sh -c echo x > /mnt/f', domain: null };
    store.writeHungEvidence({
      eventId: hung.id,
      incident: 1,
      snapshot: { atUs: hung.timeUs, dTasks: [dTask], dTasksOmitted: 0, files: {}, unreadable: [] },
      kmsg: [{ seq: 1, tsUs: 4_904_445_285, level: 3, facility: 0, text: `INFO: task ${h.img.slice(0, 15)}:4242 blocked for more than 120 seconds.` }],
    });
  }
  store.close();
  return { deaths: 3, oom: 1 };
}
