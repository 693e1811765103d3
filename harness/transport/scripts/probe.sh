#!/bin/sh
# The hardware probe's one round trip (harness/backends/cpu/probe.py): sections introduced by @@name lines.
echo "@@uname"; uname -m 2>/dev/null
echo "@@nproc"; (env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)
echo "@@cpuinfo"; cat /proc/cpuinfo 2>/dev/null | head -c 65536
echo "@@meminfo"; head -5 /proc/meminfo 2>/dev/null
echo "@@cache"
for d in /sys/devices/system/cpu/cpu0/cache/index*; do
  [ -d "$d" ] || continue
  echo "$(cat "$d/level" 2>/dev/null)|$(cat "$d/type" 2>/dev/null)|$(cat "$d/size" 2>/dev/null)|$(cat "$d/coherency_line_size" 2>/dev/null)|$(cat "$d/ways_of_associativity" 2>/dev/null)|$(cat "$d/shared_cpu_list" 2>/dev/null)"
done
echo "@@nvidia"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,compute_cap,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | head -16
fi
echo "@@end"
