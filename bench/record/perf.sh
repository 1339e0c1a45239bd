#!/bin/bash
# bench/record/perf.sh: `perf record` of `lantern record` (default options) during an exec storm,
# then the samples split by where they ran (bench/record/perf-classes.py). Needs root and perf
# (Debian: linux-perf). Not a test. Run under the benchmark lock on a shared machine:
#   flock /tmp/lantern-bench.lock bench/record/perf.sh 20000 [lantern record options...]
set -e
N=${1:-20000}
shift || true
root=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/lantern-bench-perf-XXXXXX)
node --perf-basic-prof "$root/bin/lantern.js" record --store "$W/r.db" --name "perf$$" "$@" 2>"$W/err" &
PID=$!
for _ in $(seq 200); do grep -q "recording into" "$W/err" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
perf record -F 1999 -g -p $PID -o "$W/perf.data" 2>"$W/perf.err" &
PP=$!
sleep 0.3
c0=$(awk '{print $14+$15}' /proc/$PID/stat)
per=$((N / 2))
pids=()
for _ in 1 2; do
  sh -c "i=0; while [ \$i -lt $per ]; do /bin/true; i=\$((i+1)); done" &
  pids+=($!)
done
wait "${pids[@]}"
sleep 0.6
c1=$(awk '{print $14+$15}' /proc/$PID/stat)
kill -INT $PP
wait $PP || true
kill -TERM $PID
wait $PID || true
echo "tracer CPU $(( (c1 - c0) * 10 )) ms for $N execs: $(( (c1 - c0) * 10000 / N )) µs/exec (utime+stime of the recorder, perf running)"
python3 "$root/bench/record/perf-classes.py" "$W/perf.data"
rm -rf "$W"
