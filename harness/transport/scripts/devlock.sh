#!/bin/sh
# The device lock with a lease (harness/campaign/locks.py). Run as: sh -c SCRIPT sh OP DIR OWNER LEASE_S
# OP: acquire | renew | release. Prints one line: acquired | renewed | released |
# held OWNER SINCE EXPIRES NOW | stale OWNER SINCE EXPIRES | lost OWNER
op=$1; d=$2; me=$3; lease=$4
now=$(date +%s)
write() { printf '%s %s %s\n' "$me" "$1" $((now + lease)) > "$d/lease.$$" && mv -f "$d/lease.$$" "$d/lease"; }
case $op in
acquire)
  mkdir -p "$(dirname "$d")"
  if mkdir "$d" 2>/dev/null; then write "$now"; echo acquired; exit 0; fi
  o=; s=; e=
  [ -f "$d/lease" ] && read -r o s e < "$d/lease"
  if [ "$o" = "$me" ]; then write "$s"; echo acquired; exit 0; fi
  if [ -z "$e" ]; then   # no lease yet: being created, or its creator died right after mkdir
    if [ -n "$(find "$d" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then e=0; else echo "held ? $now $now $now"; exit 2; fi
  fi
  if [ "$e" -lt "$now" ]; then
    if mv "$d" "$d.stale.$$" 2>/dev/null; then rm -rf "$d.stale.$$"; fi
    echo "stale $o $s $e"; exit 3
  fi
  echo "held $o $s $e $now"; exit 2 ;;
renew)
  o=; s=; e=
  [ -f "$d/lease" ] && read -r o s e < "$d/lease"
  if [ "$o" = "$me" ]; then write "$s"; echo renewed; exit 0; fi
  echo "lost ${o:-?}"; exit 4 ;;
release)
  o=
  [ -f "$d/lease" ] && read -r o s e < "$d/lease"
  if [ "$o" = "$me" ]; then rm -rf "$d"; fi
  echo released; exit 0 ;;
esac
exit 9
