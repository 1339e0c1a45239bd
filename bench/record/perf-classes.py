#!/usr/bin/env python3
"""Split the samples of a `perf record -g -p <recorder>` by thread and by where they ran
(bench/record/perf.sh calls this): SQLite, JavaScript, V8's GC and JIT compilers, the kernel's
read of trace_pipe_raw, the I/O detector's taskstats thread. A sample is put in the first class
its call chain matches, in the order below."""
import collections
import re
import subprocess
import sys

out = subprocess.run(['perf', 'script', '-i', sys.argv[1], '-F', 'tid,ip,sym,dso'], capture_output=True, text=True).stdout
samples = [s.strip().split('\n') for s in out.split('\n\n') if s.strip()]
tids = collections.Counter(s[0].split()[0] for s in samples)
main = tids.most_common(1)[0][0]
# The taskstats addon's reader thread: a thread other than the main one with the addon in its stacks.
io_threads = {s[0].split()[0] for s in samples if s[0].split()[0] != main and any('taskstats.node' in f for f in s)}
CLASSES = [
    ('I/O-at-exit detector thread (taskstats netlink, its wake-ups)', lambda tid, chain: tid in io_threads),
    ('kernel: read(2) of trace_pipe_raw', lambda tid, chain: re.search(r'tracing_buffers_read|ring_buffer_read_page', chain)),
    ('SQLite (better-sqlite3 and its syscalls)', lambda tid, chain: 'better_sqlite3.node' in chain),
    ('V8 GC', lambda tid, chain: re.search(r'Scavenger|MarkCompact|Sweeper|ConcurrentMarking|MarkingVisitor|Heap::|MinorMS', chain)),
    ('V8 JIT compilers', lambda tid, chain: re.search(r'v8::internal::compiler|[Mm]aglev|OptimizingCompileDispatcher|[Tt]urboshaft|Compiler::', chain)),
    ('kernel: other (timers, scheduling, /proc and tracefs files, faults)', lambda tid, chain: '[kernel.kallsyms]' in chain.split(' | ')[0]),
    ('JavaScript and node (decode, model, records, runtime)', lambda tid, chain: True),
]
counts = collections.Counter()
for s in samples:
    tid = s[0].split()[0]
    chain = ' | '.join(s[1:])
    name = next(n for n, match in CLASSES if match(tid, chain))
    counts[('main thread' if tid == main else 'other threads', name)] += 1
total = len(samples)
print(f'{total} samples; main thread {tids[main]} ({100 * tids[main] / total:.0f} %)')
for (where, name), n in sorted(counts.items(), key=lambda x: -x[1]):
    print(f'{100 * n / total:5.1f} %  {where:13s}  {name}')
