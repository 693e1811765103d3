#!/bin/sh
# The SSH transport's per-run wrapper (harness/transport/ssh/exec.py).
# Run as: sh -c SCRIPT sh PREV RUNDIR KEEP LIMIT_S TRIAL LINK... -- COMMAND...
#   PREV     a previous run directory to remove first ("" for none): cleanup costs no round trip
#   RUNDIR   created if needed; the working directory of COMMAND
#   KEEP     1: leave the request and channel files for the host to fetch (a trial's own RUNDIR,
#            removed as PREV of the next run); 0: remove them at the end (commands run in a shared dir)
#   LIMIT_S  whole seconds; at the limit the trial is killed and reported as timed out
#   TRIAL    a random id: COMMAND runs with TENSOROP_TRIAL=TRIAL in its environment, and every
#            process that still carries it when COMMAND ends (double-forked, setsid'ed, ...) is
#            killed, as is COMMAND's process group
#   LINK     BLOB:NAME, hard-linked (or copied) into RUNDIR as NAME
# The wrapper's own standard input (the SSH channel) is saved first and becomes COMMAND's
# standard input (the request); COMMAND's file descriptor 3 is RUNDIR/.tensorop-channel.TRIAL,
# a fresh empty file (the private result channel), and its descriptor 4 RUNDIR/.tensorop-profile.TRIAL
# (the QEMU plugin's block profile, when a remote QEMU runs one), fetched by the host afterwards.
# The last stderr line is "tensorop-exit: <status> <timed_out>".
p=$1; d=$2; keep=$3; t=$4; id=$5; shift 5
[ -n "$p" ] && rm -rf -- "$p"
mkdir -p -- "$d" || { echo "tensorop: cannot create $d" >&2; exit 125; }
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  b=${1%%:*}; n=${1#*:}
  ln -f -- "$b" "$d/$n" 2>/dev/null || cp -- "$b" "$d/$n" || { echo "tensorop: cannot place $n in $d" >&2; exit 125; }
  shift
done
shift
cd -- "$d" || exit 125
q=.tensorop-request.$id; ch=.tensorop-channel.$id; pr=.tensorop-profile.$id; to=.tensorop-timedout.$id
cat > "$q" || { echo "tensorop: cannot save the request in $d" >&2; exit 125; }
: > "$ch" && : > "$pr" || { echo "tensorop: cannot create the channel files in $d" >&2; exit 125; }
ulimit -c 0 2>/dev/null

# kill_trial: the process group of COMMAND, then every process whose environment carries the
# trial's marker (Linux /proc; repeated while new ones appear, stopped before being killed so
# they cannot fork in between).
kill_trial() {
  kill -KILL -"$c" 2>/dev/null
  [ -r /proc/self/environ ] || return 0
  i=0
  while [ "$i" -lt 20 ]; do
    ps_=$(grep -lF "TENSOROP_TRIAL=$id" /proc/[0-9]*/environ 2>/dev/null | sed -e 's,^/proc/,,' -e 's,/environ$,,')
    [ -z "$ps_" ] && return 0
    # shellcheck disable=SC2086 # a list of pids
    kill -STOP $ps_ 2>/dev/null
    # shellcheck disable=SC2086
    kill -KILL $ps_ 2>/dev/null
    i=$((i + 1))
    sleep 0.05 2>/dev/null || sleep 1
  done
}

if command -v setsid >/dev/null 2>&1; then
  TENSOROP_TRIAL=$id setsid "$@" <"$q" 3>"$ch" 4>"$pr" &
else
  set -m; TENSOROP_TRIAL=$id "$@" <"$q" 3>"$ch" 4>"$pr" &
fi
c=$!
# the watchdog; stopped at the trial's end with its sleep (a bare `( sleep; ...) &` left the sleep
# behind for the whole time limit after every trial: 23 of them on a board after one bench)
( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep "$t" & s=$!
  wait "$s"
  if kill -0 "$c" 2>/dev/null; then : > "$to"; kill -KILL -"$c" 2>/dev/null || kill -KILL "$c"; fi ) </dev/null >/dev/null 2>&1 &
w=$!
wait "$c"; rc=$?
kill "$w" 2>/dev/null
kill_trial
o=0; [ -f "$to" ] && o=1
rm -f "$to"
[ "$keep" = 1 ] || rm -f "$q" "$ch" "$pr"
printf '\n%s %s %s\n' "tensorop-exit:" "$rc" "$o" >&2
exit "$rc"
