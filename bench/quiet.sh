#!/bin/bash
# Keeps a long benchmark's wall figures meaningful on a small shared box (BENCHMARKS.md,
# "Ten million, end to end"). Usage, as root: bench/quiet.sh PID, PID the bench's process:
#   chrt -o 0 nice -n -15 taskset -c 0 python -m bench.scale ... & bench/quiet.sh $!
# Stops by itself when PID ends. Needs two CPUs (0 and 1), chrt, taskset and pstree.
# Every 2 s: every process outside the bench's tree gets SCHED_IDLE on CPU 1 only.
# In the bench's tree, while a server (node) runs, python (the client) runs on CPU 0 and
# node on CPU 1; once no server runs (index, report, viewer) the tree has both CPUs.
ROOT=$1
while kill -0 $ROOT 2>/dev/null; do
  tree=" $ROOT $(pstree -p $ROOT | grep -o '([0-9]*)' | tr -d '()' | tr '\n' ' ') "
  keep="$tree 1 2 $$ "
  for p in $(ps -eo pid=,ppid=,cls= | awk '$2!=2 && $3!="IDL" && $3!="FF" {print $1}'); do
    case "$keep" in *" $p "*) ;; *) chrt -i -a -p 0 $p >/dev/null 2>&1; taskset -a -p -c 1 $p >/dev/null 2>&1 ;; esac
  done
  server=no
  for p in $tree; do case "$(cat /proc/$p/comm 2>/dev/null)" in node*) server=yes ;; esac; done
  for p in $tree; do
    comm=$(cat /proc/$p/comm 2>/dev/null)
    chrt -o -a -p 0 $p >/dev/null 2>&1; renice -n -15 -p $p >/dev/null 2>&1
    if [ $server = yes ]; then
      case "$comm" in node*) taskset -a -p -c 1 $p >/dev/null 2>&1 ;; *) taskset -a -p -c 0 $p >/dev/null 2>&1 ;; esac
    else
      taskset -a -p -c 0,1 $p >/dev/null 2>&1
    fi
  done
  sleep 2
done
