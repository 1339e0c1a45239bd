// The SysRq-T dump both netconsole benchmarks replay: task lines and stack frames as 6.x prints them.
export const FRAMES = [
  '__schedule+0x3c4/0xb20',
  'schedule+0x2b/0xa0',
  'schedule_hrtimeout_range_clock+0xb9/0x130',
  'do_epoll_wait+0x4c6/0x5f0',
  '__x64_sys_epoll_wait+0x60/0x100',
  'do_syscall_64+0x5b/0x80',
  'entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
  'worker_thread+0xbd/0x3b0',
  'kthread+0xe5/0x120',
  'ret_from_fork+0x31/0x50',
  'ret_from_fork_asm+0x1b/0x30',
  'io_schedule+0x42/0x70',
  'folio_wait_bit_common+0x13d/0x350',
  'jbd2_journal_commit_transaction+0x1567/0x1a10 [jbd2]',
  'kjournald2+0xaf/0x280 [jbd2]',
  'rcu_gp_fqs_loop+0x10c/0x4e0',
];
export const COMMS = ['systemd', 'kthreadd', 'rcu_gp', 'kworker/0:1', 'ksoftirqd/1', 'jbd2/sda1-8', 'sshd', 'postgres', 'java', 'nginx', 'containerd'];
/** `count` lines of a show-state dump, different tasks per sender. */
export function dumpLines(sender, count) {
  const out = [];
  let pid = 1 + sender * 7;
  while (out.length < count) {
    const comm = COMMS[pid % COMMS.length];
    out.push(`task:${comm.padEnd(15)} state:${'SDRI'[pid % 4]} stack:0     pid:${String(pid).padEnd(5)} tgid:${String(pid).padEnd(5)} ppid:2      flags:0x00004000`);
    out.push('Call Trace:', ' <TASK>');
    for (let f = 0; f < 6 + (pid % 5); f++) out.push(' ' + FRAMES[(pid + f) % FRAMES.length]);
    out.push(' </TASK>');
    pid += 3;
  }
  return out.slice(0, count);
}
