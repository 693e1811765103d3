#!/bin/sh
# `tensorop devices check` on a remote device (harness/campaign/device_check.py).
# Run as: sh -c SCRIPT sh WORKDIR RUNNER_COMMAND
# Prints: uname -m; the df line of WORKDIR; /proc/loadavg; the runner's path or "missing-runner".
uname -m
df -Pk "$1" 2>/dev/null | tail -1
cat /proc/loadavg 2>/dev/null
p=$(printf "%s" "$2" | cut -d" " -f1)
[ -z "$p" ] || command -v "$p" || echo "missing-runner"
