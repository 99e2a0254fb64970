#!/bin/sh
# Records assets/demo-throttle.gif without vhs (not installable here): plays
# demo-throttle.tape's keys into `cgdash demo throttle` in tmux at 120×35 (the
# size tests/tape.rs replays at), captures the screen with its colours
# (`tmux capture-pane -e`) every 2 s, draws each frame with
# assets/ansi2png.py and joins them into an animated GIF with Pillow.
#
#   sudo assets/record-throttle.sh [OUT.gif]   (default assets/demo-throttle.gif)
#
# As root; needs tmux, python3 with Pillow. Takes /tmp/cgdash-demo.lock.
# CGDASH=PATH uses that binary instead of the debug build.
set -eu
cd "$(dirname "$0")/.."
if [ -z "${CGDASH_REC_LOCKED:-}" ]; then
	CGDASH_REC_LOCKED=1 exec flock /tmp/cgdash-demo.lock "$0" "$@"
fi
out=${1:-assets/demo-throttle.gif}
bin=${CGDASH:-target/x86_64-unknown-linux-gnu/debug/cgdash}
tmp=$(mktemp -d)
sock=cgdash-rec-$$
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"' EXIT
tmux -L "$sock" -f /dev/null new-session -d -x 120 -y 35 "env TERM=xterm-256color $bin demo throttle" 9>&-
sleep 2
# The groups panel filtered to the demo's group (the host's other groups stay out).
tmux -L "$sock" send-keys /
tmux -L "$sock" send-keys -l cgdash/demo-throttle
tmux -L "$sock" send-keys Enter
n=0
shot() {
	n=$((n + 1))
	tmux -L "$sock" capture-pane -e -p >"$tmp/$(printf %03d $n).ansi"
}
# As the tape: 8 s throttled, b, 8 s with the burst; a frame every 2 s.
for _ in 1 2 3 4; do sleep 2; shot; done
tmux -L "$sock" send-keys b
for _ in 1 2 3 4; do sleep 2; shot; done
for f in "$tmp"/*.ansi; do python3 assets/ansi2png.py "$f" "${f%.ansi}.png" 120 35; done
python3 - "$tmp" "$out" <<'PY'
import glob, sys
from PIL import Image
frames = [Image.open(f).convert("RGB").quantize(colors=32) for f in sorted(glob.glob(sys.argv[1] + "/*.png"))]
frames[0].save(sys.argv[2], save_all=True, append_images=frames[1:], duration=1500, loop=0, optimize=True)
PY
ls -l "$out"
