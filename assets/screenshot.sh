#!/usr/bin/env bash
# Re-takes assets/screenshot.png: `cgdash demo` in tmux at 120×35 (the size
# tests/tape.rs replays demo.tape at), following demo.tape — the burner at its
# 20 % quota, `+` three times → 50 % —, the screen captured with its colours
# (`tmux capture-pane -e`) and drawn by assets/ansi2png.py.
#
# The dashboard lists every cgroup of the host. So that the picture shows the
# demo and not whatever else runs on the machine (the host's own groups, other
# users' or tests' groups, leftovers), the groups panel is filtered to
# `cgdash/demo` with the dashboard's own filter (`/`): the demo's group and its
# ancestors (`/`, `cgdash`) stay, and the panel's title shows the filter.
#
#   sudo assets/screenshot.sh [OUT.png]     (default assets/screenshot.png)
#
# As root (the demo makes a cgroup and namespaces). Needs tmux, python3 with
# Pillow (pip install pillow), the DejaVu fonts (fonts-dejavu-core). Takes the
# demo lock the tests take (/tmp/cgdash-demo.lock), so it never runs beside
# another `cgdash demo` of this machine's tests. CGDASH=PATH uses that binary
# instead of the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CGDASH_SHOT_LOCKED:-}" ]; then
	CGDASH_SHOT_LOCKED=1 exec flock /tmp/cgdash-demo.lock "$0" "$@"
fi
[ "$(id -u)" = 0 ] || { echo "screenshot.sh: run as root (cgdash demo makes a cgroup)" >&2; exit 2; }

out=${1:-assets/screenshot.png}
COLS=120 ROWS=35
if [ -z "${CGDASH:-}" ]; then
	# Cargo says where the binary is (target/<host-tuple>/release/).
	CGDASH=$(cargo build --release --quiet --message-format=json-render-diagnostics |
		sed -n 's/.*"executable":"\([^"]*\/cgdash\)".*/\1/p' | tail -n 1)
fi
[ -x "$CGDASH" ] || { echo "screenshot.sh: no cgdash binary ($CGDASH)" >&2; exit 1; }

sock=cgdash-shot-$$
t() { tmux -L "$sock" "$@"; }
trap 't kill-server 2>/dev/null || true' EXIT
screen() { t capture-pane -p -t shot; }
wait_for() { # wait_for SECONDS TEXT
	local end=$((SECONDS + $1))
	until screen | grep -qF -- "$2"; do
		((SECONDS < end)) || { echo "screenshot.sh: no \"$2\" on the screen after $1 s:" >&2; screen >&2; exit 1; }
		sleep 0.2
	done
}

t -f /dev/null new-session -d -s shot -x "$COLS" -y "$ROWS" env TERM=xterm-256color "$CGDASH" demo
t set-option -t shot remain-on-exit on
wait_for 20 "quota 20%"

# Only the demo's group and its ancestors; Enter keeps the filter.
t send-keys -t shot / && t send-keys -t shot -l cgdash/demo && t send-keys -t shot Enter
wait_for 5 "/cgdash/demo"
t send-keys -t shot G # the last row: demo

# demo.tape: 5 s at 20 %, + three times a second apart, 6 s for the chart.
sleep 5
for _ in 1 2 3; do t send-keys -t shot +; sleep 1; done
wait_for 10 "quota 50%"
sleep 6
# A busy machine starves the burner below its quota: that picture would
# mislead (the point is usage meeting the quota line). Wait for it, or fail.
end=$((SECONDS + 60))
until screen | grep -qE "CPU (4[5-9]|5[0-5])\.[0-9]% · quota 50%"; do
	((SECONDS < end)) || { echo "screenshot.sh: the burner stays below its 50 % quota (machine busy?):" >&2; screen >&2; exit 1; }
	sleep 0.5
done
t capture-pane -e -p -t shot >"$out.ansi"
text=$(screen)

t send-keys -t shot q
end=$((SECONDS + 20))
until [ "$(t display-message -p -t shot '#{pane_dead}')" = 1 ]; do
	((SECONDS < end)) || { echo "screenshot.sh: the demo did not quit" >&2; exit 1; }
	sleep 0.2
done

python3 "$(dirname "$0")/ansi2png.py" "$out.ansi" "$out" "$COLS" "$ROWS"
rm -f "$out.ansi"
printf '%s\n' "$text"
echo "wrote $out"
