#!/bin/sh
# The microscope's cost (issue 14): CPU time of the `cgdash-periods` thread
# while the microscope is open on `cgdash demo throttle`, and whether the
# thread exists once it is closed (p). Root; tmux. Run under
#   flock /tmp/cgdash-demo.lock bench/micro_periods.sh [SECONDS]
# Prints ms of CPU per second (from /proc/PID/task/TID/schedstat, ns).
set -eu
secs=${1:-20}
bin=${CGDASH:-target/x86_64-unknown-linux-gnu/debug/cgdash}
sock=cgdash-bench-$$
tmux -L "$sock" -f /dev/null new-session -d -x 120 -y 35 "$bin demo throttle" 9>&-
trap 'tmux -L "$sock" kill-server 2>/dev/null || true' EXIT
sleep 5
pid=$(pgrep -f -n "^$bin demo throttle")
tid=""
for t in /proc/"$pid"/task/*; do
  [ "$(cat "$t/comm")" = cgdash-periods ] && tid=${t##*/}
done
[ -n "$tid" ] || { echo "no cgdash-periods thread in $pid"; exit 1; }
a=$(cut -d' ' -f1 /proc/"$pid"/task/"$tid"/schedstat)
sleep "$secs"
b=$(cut -d' ' -f1 /proc/"$pid"/task/"$tid"/schedstat)
echo "open:   $(( (b - a) / secs / 1000 )) us of CPU per second (thread $tid, ${secs}s, $(tmux -L "$sock" capture-pane -p | grep -o 'around each\|every 5 ms' | head -1), load $(cut -d' ' -f1 /proc/loadavg))"
tmux -L "$sock" send-keys p
sleep 2
n=0
for t in /proc/"$pid"/task/*; do
  [ "$(cat "$t/comm")" = cgdash-periods ] && n=$((n + 1))
done
echo "closed: $n cgdash-periods threads"
