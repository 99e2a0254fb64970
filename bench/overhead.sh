#!/usr/bin/env bash
# bench/overhead.sh — what does watching the machine cost? (issue 6)
#
# Runs cgdash and whichever of btop, htop, top and bottom (btm) are installed,
# one after another in tmux at 200x50 with a 1 s refresh, interleaved over
# several runs (the order rotates each run), on top of an artificial load of
# N idle processes and G cgroups, and prints a markdown table:
#   CPU ms per refresh  = the tool's own utime+stime (its threads, children
#                         included) per wall second, after a warm-up
#   cpuacct ms          = the same, cross-checked by putting the tool in its
#                         own cpuacct group (ns-exact; v1 cpuacct or v2 cpu.stat)
#   peak RSS            = VmHWM
#   startup CPU         = CPU used in the first second after start (an
#                         approximation of "until the first frame")
#                         in clock ticks (utime+stime: truncated to 10 ms);
#                         with --scaling also ns-exact, from the cross-check
#                         group, which the pane's shell joins before it
#                         execs the tool
#   first paint         = wall time until the tmux pane first shows a character
#   (every tool is started once, untimed, before the timed runs of a load:
#   no timed run pays the kernel's first lookups of the load's new /proc
#   entries and group files; see warm_round)
#   tmux ms             = CPU of the tmux server while the tool ran (the cost of
#                         the tool's output on the terminal side)
# and "floor" (bench/floor.c): a C loop that once a second opens, reads and
# closes /proc/PID/stat of every pid plus cpuacct.usage and
# memory.usage_in_bytes of every group — the naive cost of reading everything;
# "floor (kept open, pread)" reads the same with the files kept open (floor -p),
# what is left is the kernel producing the text: the floor of any tool that
# reads every pid and group every tick.
#
# Only ratios measured in the same run mean much on a shared host.
#
# Usage (as root, from a clone of the repo):
#   bench/overhead.sh [--procs 2000] [--groups 200] [--seconds 30] [--runs 3]
#                     [--tools "cgdash btop htop top btm"] [--warmup 3]
#                     [--cgdash PATH] [--no-floor] [--raw FILE]
#   bench/overhead.sh --scaling [--scales "200/20 2000/200 10000/1000"] ...
#       cgdash's two process paths (tools cgdash-ebpf = --sampler ebpf and
#       cgdash-proc = --sampler proc; `cgdash` is the default, auto) and the
#       floor once per load size (--tools "cgdash-ebpf cgdash-proc top btop":
#       the peers too, interleaved in the same runs; one row per tool, the
#       same-run ratio of each cgdash variant to each peer)
#   bench/overhead.sh --profile [--procs N --groups G --seconds S]
#       where cgdash's time goes under the load: the files it opens per tick
#       (strace), its syscalls, a perf profile (cpu-clock) and its memory map
#   bench/overhead.sh --export [--scrape 15] [--seconds 120] [--runs 3] ...
#       `cgdash export` scraped every --scrape seconds (curl, as Prometheus
#       would) beside the dashboard at 1 s, same load, interleaved: CPU per
#       scrape (its own cpuacct group, ns-exact), peak RSS, scrape latency
#
# Peers: apt-get install btop htop (top is procps);
#        cargo install --locked bottom   (a few minutes to compile)
# Tools that are not installed are skipped.  cgdash is the release build
# (`cargo build --release` first: a no-op when it is up to date).
#
# Safety: every cgroup it makes is under cgdash-bench-<pid>/ at the root of the
# cpu, cpuacct and memory hierarchies (v2: the unified root); only processes it
# started are moved into them; sleepers have a deadline of their own and die
# with their parent; everything (tmux sessions, processes by pid, groups) is
# removed on exit, error or Ctrl-C.
set -uo pipefail
export LC_ALL=C   # a '.' in $EPOCHREALTIME, plain ps/awk output

# ---------------------------------------------------------------- options
PROCS=2000 GROUPS_N=200 SECONDS_M=30 RUNS=3 WARMUP=3
TOOLS="cgdash btop htop top btm"
SCALING=0 PROFILE=0 SCALES="200/20 2000/200 10000/1000"
FLOOR=1 RAW="" CGDASH="" TOOLS_SET=0
EXPORT=0 SCRAPE=15
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "overhead.sh: $*" >&2; exit 1; }
log() { echo "# $*" >&2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--procs) PROCS=$2; shift 2 ;;
	--groups) GROUPS_N=$2; shift 2 ;;
	--seconds) SECONDS_M=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--tools) TOOLS=$2; TOOLS_SET=1; shift 2 ;;
	--scaling) SCALING=1; shift ;;
	--profile) PROFILE=1; shift ;;
	--export) EXPORT=1; shift ;;
	--scrape) SCRAPE=$2; shift 2 ;;
	--scales) SCALES=$2; shift 2 ;;
	--cgdash) CGDASH=$2; shift 2 ;;
	--no-floor) FLOOR=0; shift ;;
	--raw) RAW=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "unknown option: $1" >&2; usage 2 ;;
	esac
done
for v in PROCS GROUPS_N SECONDS_M RUNS WARMUP SCRAPE; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
[ "$RUNS" -ge 1 ] && [ "$SECONDS_M" -ge 1 ] || die "--runs and --seconds must be >= 1"
[ "$(id -u)" = 0 ] || die "run as root (it creates cgroups and moves its own sleepers into them)"
# `cargo install bottom` puts btm in ~/.cargo/bin, often not on root's PATH
[ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ] && PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
for c in tmux gcc awk ps; do command -v "$c" >/dev/null || die "needs $c"; done
[ "$PROFILE" = 1 ] && TOOLS="cgdash"
[ "$SCALING" = 1 ] && [ "$TOOLS_SET" = 0 ] && TOOLS="cgdash-ebpf cgdash-proc"
[ "$PROFILE" = 1 ] && FLOOR=0
if [ "$EXPORT" = 1 ]; then
	TOOLS="cgdash" FLOOR=0
	command -v curl >/dev/null || die "--export needs curl"
	[ "$SCRAPE" -ge 1 ] || die "--scrape must be >= 1"
fi

BENCH_ID="cgdash-bench-$$"
SOCK="$BENCH_ID"                      # our own tmux server: never the user's
TMP=$(mktemp -d "/tmp/$BENCH_ID.XXXXXX") || die "mktemp failed"
[ -n "$RAW" ] || RAW="/tmp/cgdash-bench-$(date -u +%Y%m%dT%H%M%SZ).tsv"
HZ=$(getconf CLK_TCK)

# ---------------------------------------------------------------- cleanup
CREATED=()        # cgroup directories we made, in creation order
SLEEPER_PIDS=()   # idle processes we started (children of the spawner)
SPAWNER_PID=""    # our own child: its pid cannot be reused before we wait for it
CUR_TOOL=""       # "pid starttime" of the tool under test (killed only if both match)
CLEANED=0
TMUX_SOCKET=""

proc_start() { # the start time (clock ticks since boot) of PID, or nothing
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	set -- $s
	echo "${20}"
}

end_tool() { # end_tool SESSION PID — close the tool's pane (SIGHUP), give it 2 s, then kill_tool
	local i
	tmux -L "$SOCK" kill-session -t "$1" 2>/dev/null
	if [ -n "$2" ]; then
		for ((i = 0; i < 40; i++)); do kill -0 "$2" 2>/dev/null || break; sleep 0.05; done
		kill_tool "$CUR_TOOL"
	fi
	CUR_TOOL=""
}

kill_tool() { # kill_tool "PID STARTTIME" — only if that pid is still that process
	local pid=${1% *} st=${1#* }
	[ -n "$1" ] && [ "$(proc_start "$pid")" = "$st" ] && kill -KILL "$pid" 2>/dev/null
	return 0
}

unload() {
	# The sleepers die with the spawner (PR_SET_PDEATHSIG), so we kill only
	# the spawner, by pid: it is our unreaped child, so that pid is surely it.
	# (Killing the sleepers' pids one by one could hit a reused pid if one had
	# already died and been reaped.)
	if [ -n "$SPAWNER_PID" ]; then
		kill -KILL "$SPAWNER_PID" 2>/dev/null
		wait "$SPAWNER_PID" 2>/dev/null
	fi
	# wait until our groups are empty (they hold only our sleepers), and
	# until the sleepers outside them are gone too: the next load counts
	# the machine's pids (a count taken while 1,000 of these were still
	# exiting once said 2,276 pids for a 200-process load). A pid reused
	# since is a process of another name: not waited for.
	local i f busy p comm
	for ((i = 0; i < 100; i++)); do
		busy=0
		for f in "${CREATED[@]}"; do
			[ -s "$f/cgroup.procs" ] && { busy=1; break; }
		done
		if [ "$busy" = 0 ]; then
			for p in "${SLEEPER_PIDS[@]}"; do
				{ read -r comm <"/proc/$p/comm"; } 2>/dev/null || continue
				[ "$comm" = bench-sleeper ] && { busy=1; break; }
			done
		fi
		[ "$busy" = 0 ] && break
		sleep 0.1
	done
	SLEEPER_PIDS=() SPAWNER_PID=""
}

remove_groups() {
	local i d try
	for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
		d=${CREATED[i]}
		[ -d "$d" ] || continue
		for try in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$d" 2>/dev/null && break
			sleep 0.2
		done
		[ -d "$d" ] && echo "overhead.sh: could not remove $d" >&2
	done
	CREATED=()
}

cleanup() {
	[ "$CLEANED" = 1 ] && return
	CLEANED=1
	trap - EXIT INT TERM
	local s
	for s in $(tmux -L "$SOCK" list-sessions -F '#{session_name}' 2>/dev/null); do
		case "$s" in "$BENCH_ID"-*) tmux -L "$SOCK" kill-session -t "$s" 2>/dev/null ;; esac
	done
	tmux -L "$SOCK" kill-server 2>/dev/null
	case "${TMUX_SOCKET:-}" in */"$SOCK") rm -f "$TMUX_SOCKET" ;; esac
	[ -z "$NAP_PID" ] || kill "$NAP_PID" 2>/dev/null
	kill_tool "$CUR_TOOL"
	unload
	remove_groups
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "overhead.sh: interrupted, cleaning up" >&2; exit 130' INT TERM

# ---------------------------------------------------------------- cgroup layout
# From /proc/self/mountinfo: the root mounts of the v1 cpu, cpuacct and memory
# controllers (separate or co-mounted), else the cgroup2 mount.
CPU_MNT="" CPUACCT_MNT="" MEM_MNT="" V2_MNT=""
while read -r mnt fstype opts; do
	case "$fstype" in
	cgroup)
		IFS=, read -ra o <<<"$opts"
		for x in "${o[@]}"; do
			case "$x" in
			cpu) CPU_MNT=$mnt ;;
			cpuacct) CPUACCT_MNT=$mnt ;;
			memory) MEM_MNT=$mnt ;;
			esac
		done ;;
	cgroup2) [ -z "$V2_MNT" ] && V2_MNT=$mnt ;;
	esac
done < <(awk '$4 == "/" { for (i = 7; i <= NF; i++) if ($i == "-") { print $5, $(i+1), $(i+3); break } }' /proc/self/mountinfo)

if [ -n "$CPUACCT_MNT" ] && [ -n "$MEM_MNT" ]; then
	MODE=v1
	GROUP_ROOTS=()
	for m in "$CPU_MNT" "$CPUACCT_MNT" "$MEM_MNT"; do
		[ -n "$m" ] || continue
		case " ${GROUP_ROOTS[*]-} " in *" $m "*) ;; *) GROUP_ROOTS+=("$m") ;; esac
	done
	FLOOR_ARGS=("$CPUACCT_MNT:cpuacct.usage" "$MEM_MNT:memory.usage_in_bytes")
	ACCT_ROOT=$CPUACCT_MNT
elif [ -n "$V2_MNT" ]; then
	MODE=v2
	GROUP_ROOTS=("$V2_MNT")
	FLOOR_ARGS=("$V2_MNT:cpu.stat" "$V2_MNT:memory.current")
	ACCT_ROOT=$V2_MNT
else
	die "no cgroup v1 cpuacct+memory nor cgroup2 mount found in /proc/self/mountinfo"
fi

make_group() { # make_group DIR — only ever below our own cgdash-bench-<pid>
	case "$1" in */"$BENCH_ID" | */"$BENCH_ID"/*) ;; *) die "refusing to create $1" ;; esac
	mkdir "$1" || die "cannot create $1 (exists already? then it is not ours)"
	CREATED+=("$1")
}

for r in "${GROUP_ROOTS[@]}"; do make_group "$r/$BENCH_ID"; done
if [ "$MODE" = v2 ]; then
	# controllers for our groups; the root must already delegate them
	for c in cpu memory; do
		grep -qw "$c" "$V2_MNT/cgroup.subtree_control" 2>/dev/null &&
			echo "+$c" >"$V2_MNT/$BENCH_ID/cgroup.subtree_control" 2>/dev/null
	done
fi
ACCT_GROUP="$ACCT_ROOT/$BENCH_ID/tool"   # the cross-check group for the tool under test
make_group "$ACCT_GROUP"

# The kernel memory a tool holds (v1: a memory group of its own per run,
# `memory.kmem.usage_in_bytes` at the end of the measured window): open
# files, their seq_file buffers, BPF maps … charged to the tool's cgroup
# and not in its RSS (issue 18: kept-open files were 21.9 MB of cgdash's
# at 2,000 processes). v2: not measured ("–").
MG_N=0
mem_group() { # mem_group TOOL — sets MG to a new group (v1), or to nothing
	MG=""
	[ "$MODE" = v1 ] || return 0
	MG_N=$((MG_N + 1))
	MG="$MEM_MNT/$BENCH_ID/mem-$MG_N-$1"
	make_group "$MG"
}
kmem_kib() { # kmem_kib GROUP
	if [ -n "$1" ] && [ -r "$1/memory.kmem.usage_in_bytes" ]; then
		echo $(( $(cat "$1/memory.kmem.usage_in_bytes") / 1024 ))
	else
		echo NA
	fi
}

acct_ns() { # CPU time of the cross-check group, ns
	if [ "$MODE" = v1 ]; then
		cat "$ACCT_GROUP/cpuacct.usage" 2>/dev/null || echo 0
	else
		awk '$1 == "usage_usec" { print $2 * 1000 }' "$ACCT_GROUP/cpu.stat" 2>/dev/null || echo 0
	fi
}

# ---------------------------------------------------------------- helpers
gcc -O2 -o "$TMP/floor" "$HERE/floor.c" || die "cannot compile bench/floor.c"
gcc -O2 -o "$TMP/sleepers" "$HERE/sleepers.c" || die "cannot compile bench/sleepers.c"

count_groups() { # directories in the hierarchies the floor reads
	local r n=0
	for r in "${FLOOR_ARGS[@]}"; do n=$(( n + $(find "${r%:*}" -type d 2>/dev/null | wc -l) )); done
	echo "$n"
}
count_pids() { local n=0 e; for e in /proc/[0-9]*; do n=$((n + 1)); done; echo "$n"; }

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }   # wall clock, µs

NAP_PID=""
nap() { # sleep that a signal can interrupt (so Ctrl-C/TERM clean up at once)
	sleep "$1" &
	NAP_PID=$!
	wait "$NAP_PID"
	NAP_PID=""
}

# CPU time of one single-threaded process (the tmux server), in clock ticks
# (fractional: from schedstat's ns when the kernel has it, else utime+stime)
proc_ticks() {
	local s
	if s=$(cat "/proc/$1/schedstat" 2>/dev/null); then
		echo "${s%% *}" | awk -v hz="$HZ" '{ printf "%.3f\n", $1 * hz / 1e9 }'
		return
	fi
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	set -- $s
	echo $(( ${12} + ${13} ))
}

# utime+stime+cutime+cstime (clock ticks) of PID and all its live descendants
tree_ticks() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			n = 1; q[1] = root; seen[root] = 1
			for (i = 1; i <= n; i++) {
				m = split(kids[q[i]], k, " ")
				for (j = 1; j <= m; j++) if (!(k[j] in seen)) { seen[k[j]] = 1; q[++n] = k[j] }
			}
			for (i = 1; i <= n; i++) print q[i]
		}' | while read -r p; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		echo $(( ${12} + ${13} + ${14} + ${15} ))
	done | awk '{ t += $1 } END { print t + 0 }'
}

# VmHWM (KiB) of PID plus its live descendants
tree_hwm() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			n = 1; q[1] = root; seen[root] = 1
			for (i = 1; i <= n; i++) {
				m = split(kids[q[i]], k, " ")
				for (j = 1; j <= m; j++) if (!(k[j] in seen)) { seen[k[j]] = 1; q[++n] = k[j] }
			}
			for (i = 1; i <= n; i++) print q[i]
		}' | while read -r p; do
		awk '$1 == "VmHWM:" { print $2 }' "/proc/$p/status" 2>/dev/null
	done | awk '{ t += $1 } END { print t + 0 }'
}

# ---------------------------------------------------------------- the tools
TERMNAME=screen
infocmp tmux-256color >/dev/null 2>&1 && TERMNAME=tmux-256color

have_tool() {
	case "$1" in
	cgdash | cgdash-ebpf | cgdash-proc) [ -x "$CGDASH" ] ;;
	floor | floor-pread) return 0 ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

tool_version() {
	case "$1" in
	cgdash) "$CGDASH" --version 2>/dev/null | head -1 || echo cgdash ;;
	cgdash-ebpf | cgdash-proc) echo "$("$CGDASH" --version 2>/dev/null | head -1 || echo cgdash) --sampler ${1#cgdash-}" ;;
	btop) echo "btop $(btop --version 2>/dev/null | awk '{ print $NF; exit }')" ;;
	htop) htop --version 2>/dev/null | head -1 ;;
	top) echo "top ($(top -V 2>&1 | sed -n 's/.*\(procps[-a-z]* [0-9.]*\).*/\1/p' | head -1))" ;;
	btm) echo "bottom $(btm --version 2>/dev/null | awk '{ print $NF; exit }')" ;;
	floor) echo "floor (naive open/read/close)" ;;
	floor-pread) echo "floor (kept open, pread)" ;;
	esac
}

# The command line of a tool at a 1 s refresh, with a fresh HOME (no user config).
tool_cmd() {
	local tool=$1 home="$TMP/home-$1"
	mkdir -p "$home/.config"
	local env="env -u XDG_CONFIG_HOME HOME=$home LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=$TERMNAME"
	case "$tool" in
	cgdash) echo "exec $env $CGDASH --interval 1s" ;;
	# Issue 18: the two process paths, forced (the eBPF one fails to start
	# rather than fall back: a row that says ebpf measured ebpf).
	cgdash-ebpf) echo "exec $env $CGDASH --interval 1s --sampler ebpf" ;;
	cgdash-proc) echo "exec $env $CGDASH --interval 1s --sampler proc" ;;
	btop)
		mkdir -p "$home/.config/btop"
		echo "update_ms = 1000" >"$home/.config/btop/btop.conf"
		echo "exec $env btop" ;;
	htop) echo "exec $env htop -d 10" ;;
	top) echo "exec $env top -d 1" ;;
	btm) echo "exec $env btm --rate 1000" ;;
	floor) echo "exec $TMP/floor ${FLOOR_ARGS[*]}" ;;
	floor-pread) echo "exec $TMP/floor -p ${FLOOR_ARGS[*]}" ;;
	esac
}

start_tmux_server() {
	tmux -L "$SOCK" -f /dev/null start-server \; set -g exit-empty off \; \
		set -g default-terminal "$TERMNAME" \; set -g status off 2>/dev/null
	tmux -L "$SOCK" new-session -d -s "$BENCH_ID-keeper" -x 200 -y 50 "sleep 100000" 2>/dev/null
	TMUX_PID=$(tmux -L "$SOCK" display-message -p -t "$BENCH_ID-keeper" '#{pid}' 2>/dev/null)
	TMUX_SOCKET=$(tmux -L "$SOCK" display-message -p -t "$BENCH_ID-keeper" '#{socket_path}' 2>/dev/null)
	[ -n "$TMUX_PID" ] || die "cannot start tmux"
	tmux -L "$SOCK" set -g status off 2>/dev/null
}

pane_has_text() {
	tmux -L "$SOCK" capture-pane -p -t "$1" 2>/dev/null | grep -q '[^[:space:]]'
}

# wait_paint SESSION T0_US — ms from T0 until the pane first shows a character
# (polled every 20 ms, at most for the warm-up), or NA
wait_paint() {
	while [ $(( $(now_us) - $2 )) -lt $(( WARMUP * 1000000 )) ]; do
		if pane_has_text "$1"; then echo $(( ($(now_us) - $2) / 1000 )); return; fi
		sleep 0.02
	done
	echo NA
}

# The harness's own first-paint latency: a command that prints at once.
PAINT_BASE=NA
calibrate_paint() {
	local i t0 v all=()
	for i in 1 2 3; do
		t0=$(now_us)
		tmux -L "$SOCK" new-session -d -s "$BENCH_ID-cal$i" -x 200 -y 50 "printf 'x\n'; exec sleep 30" || continue
		v=$(wait_paint "$BENCH_ID-cal$i" "$t0")
		tmux -L "$SOCK" kill-session -t "$BENCH_ID-cal$i" 2>/dev/null
		[ "$v" = NA ] || all+=("$v")
	done
	[ ${#all[@]} -gt 0 ] && PAINT_BASE=$(printf '%s\n' "${all[@]}" | sort -n | sed -n 2p)
	[ -n "$PAINT_BASE" ] || PAINT_BASE=${all[0]:-NA}
}

# measure TOOL RUN — one tool, one run: appends a line to $RAW
measure() {
	local tool=$1 run=$2 session="$BENCH_ID-$1-r$2"
	local cmd t0 pid first=NA np1 np2 ng1 ng2 c1 c2 w1 w2 a1 a2 tm1 tm2 hwm start_ticks status=ok d s1 s2 mg kmem
	rm -rf "$TMP/home-$tool"
	mem_group "$tool"
	mg=$MG
	# The pane's shell joins the cross-check group before it execs the
	# tool: the group's counter then holds the tool's CPU from its first
	# instruction, ns-exact (the startup column in ticks truncates to 10 ms).
	cmd="echo \$\$ >$ACCT_GROUP/cgroup.procs 2>/dev/null; ${mg:+echo \$\$ >$mg/cgroup.procs 2>/dev/null; }$(tool_cmd "$tool")"
	s1=$(acct_ns)
	t0=$(now_us)
	tmux -L "$SOCK" new-session -d -s "$session" -x 200 -y 50 "$cmd" || { log "$tool: tmux failed"; return; }
	pid=$(tmux -L "$SOCK" list-panes -t "$session" -F '#{pane_pid}' 2>/dev/null | head -1)
	[ -n "$pid" ] || { log "$tool: no pane pid"; return; }
	CUR_TOOL="$pid $(proc_start "$pid")"
	echo "$pid" >"$ACCT_GROUP/cgroup.procs" 2>/dev/null || log "$tool: could not move pid $pid to the cross-check group"
	first=$(wait_paint "$session" "$t0")
	# startup CPU: what it used in its first second
	d=$(( 1000000 - ($(now_us) - t0) ))
	[ "$d" -le 0 ] || nap "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
	start_ticks=$(tree_ticks "$pid")
	s2=$(acct_ns)
	d=$(( WARMUP * 1000000 - ($(now_us) - t0) ))
	[ "$d" -le 0 ] || nap "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
	# the measured window
	np1=$(count_pids); ng1=$(count_groups)
	c1=$(tree_ticks "$pid"); a1=$(acct_ns); tm1=$(proc_ticks "$TMUX_PID"); w1=$(now_us)
	# wait out the window, noting the most pids seen (other people's bursts)
	local end=$(( w1 + SECONDS_M * 1000000 )) rem n
	np2=$np1
	while rem=$(( end - $(now_us) )); [ "$rem" -gt 0 ]; do
		[ "$rem" -gt 1000000 ] && rem=1000000
		nap "$(printf '%d.%06d' $((rem / 1000000)) $((rem % 1000000)))"
		n=$(count_pids); [ "$n" -gt "$np2" ] && np2=$n
	done
	c2=$(tree_ticks "$pid"); a2=$(acct_ns); tm2=$(proc_ticks "$TMUX_PID"); w2=$(now_us)
	ng2=$(count_groups)
	hwm=$(tree_hwm "$pid")
	kmem=$(kmem_kib "$mg")
	if ! kill -0 "$pid" 2>/dev/null; then
		status=died
		log "$tool exited early; its screen:"
		tmux -L "$SOCK" capture-pane -p -t "$session" 2>/dev/null | sed 's/^/#   /' | head -20 >&2
	fi
	end_tool "$session" "$pid"
	# Gone at once: the next tools would read it as one more group.
	if [ -n "$mg" ]; then
		for d in 1 2 3 4 5 6 7 8 9 10; do rmdir "$mg" 2>/dev/null && break; sleep 0.2; done
	fi
	# tool run procs groups wall_s cpu_ms_per_s acct_ms_per_s hwm_kib startup_ms first_paint_ms tmux_ms_per_s status version pids_start pids_max groups_start groups_end startup_acct_ms kmem_kib
	awk -v OFS='\t' -v tool="$tool" -v run="$run" -v p="$PROCS" -v g="$GROUPS_N" -v s1="$s1" -v s2="$s2" -v kmem="$kmem" \
		-v w1="$w1" -v w2="$w2" -v c1="$c1" -v c2="$c2" -v a1="$a1" -v a2="$a2" \
		-v tm1="$tm1" -v tm2="$tm2" -v hz="$HZ" -v hwm="$hwm" -v st="$start_ticks" \
		-v fp="$first" -v status="$status" -v ver="$(tool_version "$tool")" -v np1="$np1" -v np2="$np2" -v ng1="$ng1" -v ng2="$ng2" 'BEGIN {
			wall = (w2 - w1) / 1e6
			printf "%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%d\t%.0f\t%s\t%.2f\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%s\n", tool, run, p, g, wall,
				(c2 - c1) * 1000 / hz / wall, (a2 - a1) / 1e6 / wall, hwm, st * 1000 / hz, fp,
				(tm2 - tm1) * 1000 / hz / wall, status, ver, np1, np2, ng1, ng2, (s2 - s1) / 1e6, kmem
		}' | tee -a "$RAW" | awk -F'\t' '{ printf "# run %s %-11s %7.2f ms/s (cpuacct %6.2f)  hwm %6.1f MiB  kernel %s KiB  startup %4d ms (cpuacct %.1f)  first paint %s ms  tmux %.2f ms/s  pids %d (max %d)  groups %d→%d  %s\n", $2, $1, $6, $7, $8 / 1024, $19, $9, $18, $10, $11, $14, $15, $16, $17, $12 }' >&2
	sleep 1
}

# `cgdash export` (issue 15): started on a free loopback port, moved into
# the cross-check group, scraped once (the first read opens every file),
# then every SCRAPE s for SECONDS_M s. Appends to $TMP/export.tsv:
# run wall_s scrapes cpu_ms_per_scrape acct_ms_per_scrape cpu_ms_per_s hwm_kib latency_ms body_bytes series
measure_export() {
	local run=$1 out="$TMP/export-$run.out" pid url="" i c1 c2 a1 a2 w1 w2 hwm lat=0 l scrapes
	"$CGDASH" export --listen 127.0.0.1:0 >"$out" 2>"$TMP/export-$run.err" &
	pid=$!
	CUR_TOOL="$pid $(proc_start "$pid")"
	echo "$pid" >"$ACCT_GROUP/cgroup.procs" 2>/dev/null || log "export: could not move pid $pid to the cross-check group"
	for ((i = 0; i < 200; i++)); do
		url=$(sed -n 's/^cgdash export: serving //p' "$out")
		[ -n "$url" ] && break
		sleep 0.05
	done
	if [ -z "$url" ]; then
		log "export did not start: $(cat "$TMP/export-$run.err")"
		kill_tool "$CUR_TOOL"; CUR_TOOL=""
		return
	fi
	curl -s -o /dev/null "$url"
	nap "$SCRAPE"
	scrapes=$(( SECONDS_M / SCRAPE ))
	[ "$scrapes" -ge 1 ] || scrapes=1
	c1=$(tree_ticks "$pid"); a1=$(acct_ns); w1=$(now_us)
	for ((i = 0; i < scrapes; i++)); do
		l=$(curl -s -o "$TMP/export-body" -w '%{time_total}' "$url") || log "export: scrape failed"
		lat=$(awk -v a="$lat" -v b="$l" 'BEGIN { print a + b }')
		nap "$SCRAPE"
	done
	c2=$(tree_ticks "$pid"); a2=$(acct_ns); w2=$(now_us)
	hwm=$(tree_hwm "$pid")
	kill -0 "$pid" 2>/dev/null || log "export exited early: $(cat "$TMP/export-$run.err")"
	kill_tool "$CUR_TOOL"
	wait "$pid" 2>/dev/null
	CUR_TOOL=""
	awk -v OFS='\t' -v run="$run" -v n="$scrapes" -v w1="$w1" -v w2="$w2" -v c1="$c1" -v c2="$c2" \
		-v a1="$a1" -v a2="$a2" -v hz="$HZ" -v hwm="$hwm" -v lat="$lat" \
		-v bytes="$(wc -c <"$TMP/export-body")" -v series="$(grep -vc '^#' "$TMP/export-body")" 'BEGIN {
			wall = (w2 - w1) / 1e6
			printf "%d\t%.1f\t%d\t%.2f\t%.2f\t%.3f\t%d\t%.1f\t%d\t%d\n", run, wall, n,
				(c2 - c1) * 1000 / hz / n, (a2 - a1) / 1e6 / n, (a2 - a1) / 1e6 / wall, hwm, lat * 1000 / n, bytes, series
		}' | tee -a "$TMP/export.tsv" | awk -F'\t' '{ printf "# run %s export      %6.2f ms per scrape (cpuacct; stat %.2f)  %.3f ms/s  hwm %.1f MiB  latency %.1f ms  %d bytes, %d series\n", $1, $5, $4, $6, $7 / 1024, $8, $9, $10 }' >&2
	sleep 1
}

# ---------------------------------------------------------------- the load
NPIDS_OTHER=0
load() { # load PROCS GROUPS
	local n=$1 g=$2 i j p width=3 name r
	[ "$g" -gt 1000 ] && width=4
	local pid_max threads_max now_procs
	pid_max=$(cat /proc/sys/kernel/pid_max)
	threads_max=$(cat /proc/sys/kernel/threads-max)
	now_procs=$(ls /proc | grep -c '^[0-9]')
	[ $((now_procs + n + 500)) -lt "$pid_max" ] || die "$n sleepers would exceed pid_max ($pid_max)"
	[ $((now_procs + n + 500)) -lt "$threads_max" ] || die "$n sleepers would exceed threads-max ($threads_max)"
	for r in "${GROUP_ROOTS[@]}"; do
		for ((i = 0; i < g; i++)); do
			printf -v name "g%0${width}d" "$i"
			make_group "$r/$BENCH_ID/$name"
		done
	done
	# a deadline of their own: the whole benchmark, plus margin
	local ntools deadline
	ntools=$(( $(echo "$TOOLS" | wc -w) + 2 ))
	deadline=$(( RUNS * ntools * (WARMUP + SECONDS_M + 8) + 600 ))
	local pidfile="$TMP/sleepers-$n-$g.pids" last=""
	rm -f "$pidfile"
	"$TMP/sleepers" "$n" "$deadline" "$pidfile" &
	SPAWNER_PID=$!
	for ((i = 0; i < 6000; i++)); do
		last=$(tail -n 1 "$pidfile" 2>/dev/null)
		[ "$last" = done ] && break
		[ "$last" = failed ] && die "sleepers: fork failed"
		kill -0 "$SPAWNER_PID" 2>/dev/null || die "sleepers died"
		sleep 0.05
	done
	mapfile -t SLEEPER_PIDS < <(grep '^[0-9]' "$pidfile")
	[ ${#SLEEPER_PIDS[@]} -eq "$n" ] || die "started ${#SLEEPER_PIDS[@]} of $n sleepers"
	# half of them into the groups, round robin
	local moved=0 failed=0
	for ((i = 0; i < n / 2; i++)); do
		p=${SLEEPER_PIDS[i]}
		[ "$g" -gt 0 ] || break
		printf -v name "g%0${width}d" $((i % g))
		for r in "${GROUP_ROOTS[@]}"; do
			if echo "$p" >"$r/$BENCH_ID/$name/cgroup.procs" 2>/dev/null; then :; else failed=$((failed + 1)); fi
		done
		moved=$((moved + 1))
	done
	[ "$failed" -eq 0 ] || log "warning: $failed moves into groups failed"
	NPIDS_OTHER=$(ls /proc | grep -c '^[0-9]')
	log "load: $n sleepers ($moved in $g groups under $BENCH_ID in ${GROUP_ROOTS[*]}); $NPIDS_OTHER pids on the machine"
}

unload_all() { # kill the sleepers, remove the gNNN groups (keep the parents)
	unload
	local keep=() d
	local i
	for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
		d=${CREATED[i]}
		case "$d" in
		*/"$BENCH_ID"/g*)
			for try in 1 2 3 4 5 6 7 8 9 10; do rmdir "$d" 2>/dev/null && break; sleep 0.2; done ;;
		esac
	done
	for d in "${CREATED[@]}"; do [ -d "$d" ] && keep+=("$d"); done
	CREATED=("${keep[@]}")
}

# ---------------------------------------------------------------- cgdash binary
if [[ " $TOOLS " == *" cgdash"[\ -]* ]]; then
	# Cargo says where the binary is (target/<host-tuple>/release/, see
	# .cargo/config.toml), building it first if it is missing or stale.
	if [ -z "$CGDASH" ] && command -v cargo >/dev/null; then
		log "cargo build --release (the cgdash measured)"
		CGDASH=$(cd "$REPO" && cargo build --release --quiet --message-format=json-render-diagnostics |
			sed -n 's/.*"executable":"\([^"]*\/cgdash\)".*/\1/p' | tail -n 1) ||
			log "cargo build failed: cgdash skipped"
	fi
fi

RUN_TOOLS=()
for t in $TOOLS; do
	if have_tool "$t"; then RUN_TOOLS+=("$t"); else log "$t not installed: skipped"; fi
done
[ "$FLOOR" = 1 ] && RUN_TOOLS+=(floor floor-pread)
[ ${#RUN_TOOLS[@]} -gt 0 ] || die "no tool to run"

# ---------------------------------------------------------------- summary
# median (min–max) per tool, median over runs of the per-run ratio cgdash/tool
summary() { # summary RAWFILE PROCS GROUPS
	awk -F'\t' -v P="$2" -v G="$3" '
	function median(arr, n,    i, j, t) {
		for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
		return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
	}
	function collect(tool, col, out,    k, n) {
		n = 0
		for (k = 1; k <= nrows; k++) if (T[k] == tool && S[k] == "ok") out[++n] = C[k, col]
		return n
	}
	$3 == P && $4 == G {
		nrows++; T[nrows] = $1; R[nrows] = $2; S[nrows] = $12
		for (c = 1; c <= NF; c++) C[nrows, c] = $c
		if (!($1 in seen)) { seen[$1] = 1; order[++ntools] = $1; ver[$1] = $13 }
		if ($12 == "ok") cpu[$1, $2] = $6
		if ($14 != "" && (pmin == "" || $14 + 0 < pmin)) pmin = $14 + 0
		if ($15 != "" && $15 + 0 > pmax) pmax = $15 + 0
		if ($16 != "" && (gmin == "" || $16 + 0 < gmin)) gmin = $16 + 0
		if ($16 != "" && $16 + 0 > gmax) gmax = $16 + 0
		if ($17 != "" && $17 + 0 > gmax) gmax = $17 + 0
	}
	END {
		for (i = 1; i <= ntools; i++) {
			t = order[i]
			n = collect(t, 6, a); if (n == 0) { med[t] = -1; continue }
			mn = a[1]; mx = a[1]; for (k = 1; k <= n; k++) { if (a[k] < mn) mn = a[k]; if (a[k] > mx) mx = a[k] }
			med[t] = median(a, n); lo[t] = mn; hi[t] = mx; nr[t] = n
			n = collect(t, 7, a); acct[t] = median(a, n)
			n = collect(t, 8, a); mx = 0; for (k = 1; k <= n; k++) if (a[k] > mx) mx = a[k]; rss[t] = mx / 1024
			n = collect(t, 9, a); st[t] = median(a, n)
			n = 0; for (k = 1; k <= nrows; k++) if (T[k] == t && S[k] == "ok" && C[k, 10] != "NA") a[++n] = C[k, 10]
			fp[t] = n ? sprintf("%.0f ms", median(a, n)) : "–"
			n = collect(t, 11, a); tmx[t] = median(a, n)
			# same-run ratio cgdash / tool
			n = 0
			for (k = 1; k <= nrows; k++) if (T[k] == t && S[k] == "ok" && (("cgdash", R[k]) in cpu) && C[k, 6] > 0)
				a[++n] = cpu["cgdash", R[k]] / C[k, 6]
			ratio[t] = (t == "cgdash" || n == 0) ? "–" : sprintf("%.2f×", median(a, n))
		}
		# sort by median CPU
		for (i = 1; i <= ntools; i++) s[i] = order[i]
		for (i = 2; i <= ntools; i++) { x = s[i]; for (j = i - 1; j >= 1 && med[s[j]] > med[x]; j--) s[j + 1] = s[j]; s[j + 1] = x }
		print "| tool | CPU ms per refresh, median (min–max) | cgdash ÷ tool (same run) | cpuacct ms | peak RSS | startup CPU (1st s) | first paint | tmux ms |"
		print "|---|---|---|---|---|---|---|---|"
		for (i = 1; i <= ntools; i++) {
			t = s[i]
			if (med[t] < 0) { printf "| %s | failed | | | | | | |\n", ver[t]; continue }
			printf "| %s | %.1f (%.1f–%.1f) | %s | %.1f | %.1f MiB | %.0f ms | %s | %.1f |\n", ver[t], med[t], lo[t], hi[t], ratio[t], acct[t], rss[t], st[t], fp[t], tmx[t]
		}
		# windows where processes or groups of others came: more than 10 % over the quietest
		for (k = 1; k <= nrows; k++) {
			if (C[k, 15] != "" && C[k, 15] > 1.1 * pmin + 50)
				disturbed = disturbed sprintf("%s%s run %s (pids up to %d)", disturbed == "" ? "" : "; ", T[k], R[k], C[k, 15])
			else if (C[k, 17] != "" && (C[k, 16] > 1.1 * gmin + 20 || C[k, 17] > 1.1 * gmin + 20))
				disturbed = disturbed sprintf("%s%s run %s (groups %d→%d)", disturbed == "" ? "" : "; ", T[k], R[k], C[k, 16], C[k, 17])
		}
		if (pmax > 0) printf "\npids on the machine during the measured windows: %d–%d", pmin, pmax
		if (gmax > 0) printf "; groups (cpuacct+memory dirs): %d–%d", gmin, gmax
		if (pmax > 0) printf "\n"
		if (disturbed != "") printf "windows disturbed by other processes appearing (more than 10 %% more pids): %s\n", disturbed
	}' "$1"
}

header() {
	log "$(date -u '+%F %T UTC') $(uname -r), $(nproc) cpus, cgroup $MODE ($([ "$MODE" = v1 ] && echo "cpu=$CPU_MNT cpuacct=$CPUACCT_MNT memory=$MEM_MNT" || echo "$V2_MNT")), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	log "first paint of a command that prints at once (the harness's own latency): $PAINT_BASE ms"
	log "each tool: tmux 200x50, 1 s refresh, ${WARMUP} s warm-up, ${SECONDS_M} s measured, $RUNS interleaved runs (order rotates); raw: $RAW"
}

# One untimed start of every tool, ~2 s each, before the timed runs of a
# load. The load's /proc entries and group files are new, and the kernel
# makes their dentries and inodes on the first lookup: whichever tool read
# them first paid for that, and in run 1 that was always the first tool in
# the list (cgdash reads every group file as well as every process: its
# first second at 10,000 / 1,000, three starts each right after
# `echo 2 >/proc/sys/vm/drop_caches` and three warm, interleaved: 414-473
# vs 363-398 ms; top 528 vs 469, one each; 2026-12-04). Every timed run now
# starts warm.
warm_round() {
	local t session pid
	log "warm-up round (untimed): ${RUN_TOOLS[*]}"
	for t in "${RUN_TOOLS[@]}"; do
		session="$BENCH_ID-$t-warm"
		tmux -L "$SOCK" new-session -d -s "$session" -x 200 -y 50 "$(tool_cmd "$t")" || continue
		pid=$(tmux -L "$SOCK" list-panes -t "$session" -F '#{pane_pid}' 2>/dev/null | head -1)
		[ -n "$pid" ] && CUR_TOOL="$pid $(proc_start "$pid")"
		nap 2
		end_tool "$session" "$pid"
	done
}

run_all() { # run_all — RUNS interleaved rounds over RUN_TOOLS
	local run i k n=${#RUN_TOOLS[@]}
	warm_round
	for ((run = 1; run <= RUNS; run++)); do
		log "run $run/$RUNS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
		for ((i = 0; i < n; i++)); do
			k=$(( (i + run - 1) % n ))
			measure "${RUN_TOOLS[k]}" "$run"
		done
	done
}

# ---------------------------------------------------------------- profile
profile() {
	local session="$BENCH_ID-profile" pid d="$TMP/profile" ticks
	mkdir -p "$d"
	tmux -L "$SOCK" new-session -d -s "$session" -x 200 -y 50 "$(tool_cmd cgdash)" || die "tmux failed"
	pid=$(tmux -L "$SOCK" list-panes -t "$session" -F '#{pane_pid}' | head -1)
	CUR_TOOL="$pid $(proc_start "$pid")"
	nap "$WARMUP"
	echo "## cgdash under $PROCS processes / $GROUPS_N groups ($NPIDS_OTHER pids)"
	echo
	if command -v strace >/dev/null; then
		timeout "$SECONDS_M" strace -f -qq -y -s 0 -e trace=openat,open,statx,newfstatat,stat,lstat,read,pread64 \
			-p "$pid" -o "$d/files" 2>/dev/null
		# a tick lists /proc once: count ticks by its opendir
		ticks=$(grep -cE 'open(at)?\(.*"/proc", ' "$d/files")
		[ "$ticks" -gt 0 ] || ticks=1
		echo "### files touched per tick ($ticks ticks seen under strace; pids → PID, groups → …; read/pread by the fd's path)"
		echo '```'
		# one line per call: "syscall path [failed]", paths made generic
		grep -E '^[0-9]+ +[a-z0-9]+\(' "$d/files" | sed -E 's/^[0-9]+ +//' |
			awk '{ call = $0; sub(/\(.*/, "", call); q = ""; a = ""
				if (match($0, /"[^"]*"/)) q = substr($0, RSTART + 1, RLENGTH - 2)
				if (match($0, /^[a-z0-9]+\([A-Z_0-9]*<[^>]*>/)) { a = substr($0, RSTART, RLENGTH); sub(/^[^<]*</, "", a); sub(/>$/, "", a) }
				path = (call == "read" || call == "pread64" || q == "") ? a : q
				if (path == "" || path ~ /^\/$|^\/root$/) next   # cwd-relative noise
				if (call ~ /stat/ && q == "") path = path "(by fd)"
				gsub(/ /, "_", path); print call, path, ($0 ~ / = -1 /) ? "failed" : "" }' |
			sed -E 's#/proc/[0-9]+/#/proc/PID/#; s#/proc/[0-9]+ #/proc/PID #; s#/sys/fs/cgroup/([^/ ]+)/[^ ]*/([^/ ]+\.[^/ (]+)#cgroup:\1/…/\2#; s#/sys/fs/cgroup/([^/ ]+)(/[^ (]*)?( |\(|$)#cgroup:\1/…(a group dir)\3#' |
			grep -vE '^(read|pread64) (/dev/|pipe:|socket:|anon_inode:)' |
			sort | uniq -c | sort -rn | awk -v t="$ticks" '{ printf "%8.1f  %s %s %s\n", $1 / t, $2, $3, $4 }' | head -40
		echo '```'
		echo "### syscalls ($SECONDS_M s)"
		echo '```'
		timeout "$SECONDS_M" strace -f -c -S calls -p "$pid" 2>&1 | head -16
		echo '```'
	else
		echo "(strace not installed: no file mix)"
	fi
	if command -v perf >/dev/null && perf record -e cpu-clock -o "$d/perf.data" true >/dev/null 2>&1; then
		perf record -e cpu-clock -F 1000 -g --call-graph dwarf -p "$pid" -o "$d/perf.data" -- sleep "$SECONDS_M" >/dev/null 2>&1
		echo "### perf (cpu-clock): where the time goes, by binary"
		echo '```'
		perf report -i "$d/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -8
		echo '```'
		echo "### perf: cgdash's own functions, inclusive (kernel time included below them)"
		echo '```'
		perf report -i "$d/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' |
			grep -E 'cgdash::|ratatui|crossterm|read_to_string|open_c|statx|readdir|alloc' | sed -E 's/ +- +- *$//' | head -40
		echo '```'
	else
		echo "(perf not usable here: no profile)"
	fi
	echo "### memory"
	echo '```'
	grep -E 'VmHWM|VmRSS|RssAnon|RssFile|Threads' "/proc/$pid/status"
	awk '$0 ~ /^[0-9a-f]+-/ { name = ($6 == "" ? "[anon]" : $6) } /^Rss:/ { r[name] += $2 } END { for (n in r) if (r[n] >= 100) printf "%8d kB  %s\n", r[n], n }' "/proc/$pid/smaps" | sort -rn | head -8
	echo '```'
	tmux -L "$SOCK" kill-session -t "$session" 2>/dev/null
	sleep 0.5
	kill_tool "$CUR_TOOL"
	CUR_TOOL=""
}

# ---------------------------------------------------------------- main
[ -s "$RAW" ] || printf '# tool\trun\tprocs\tgroups\twall_s\tcpu_ms_per_s\tcpuacct_ms_per_s\thwm_kib\tstartup_cpu_ms\tfirst_paint_ms\ttmux_ms_per_s\tstatus\tversion\tpids_start\tpids_max\tgroups_start\tgroups_end\tstartup_acct_ms\tkmem_kib\n' >"$RAW"
start_tmux_server
calibrate_paint
header
if [ "$PROFILE" = 1 ]; then
	load "$PROCS" "$GROUPS_N"
	profile
	unload_all
elif [ "$EXPORT" = 1 ]; then
	load "$PROCS" "$GROUPS_N"
	: >"$TMP/export.tsv"
	for ((run = 1; run <= RUNS; run++)); do
		log "run $run/$RUNS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
		if [ $((run % 2)) = 1 ]; then measure_export "$run"; measure cgdash "$run"; else measure cgdash "$run"; measure_export "$run"; fi
	done
	unload_all
	echo
	echo "| | CPU per scrape / refresh, median (min–max) | CPU per second | peak RSS | scrape latency | exposition |"
	echo "|---|---|---|---|---|---|"
	awk -F'\t' '
		function median(arr, n,    i, j, t) {
			for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
			return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
		}
		{ c[++n] = $5; s[n] = $6; if ($7 > rss) rss = $7; l[n] = $8; b = $9; se = $10; lo = (n == 1 || $5 < lo) ? $5 : lo; hi = ($5 > hi) ? $5 : hi }
		END { if (n) printf "| `cgdash export`, scraped every '"$SCRAPE"' s | %.1f ms (%.1f–%.1f) | %.2f ms/s | %.1f MiB | %.0f ms | %d KiB, %d series |\n", median(c, n), lo, hi, median(s, n), rss / 1024, median(l, n), b / 1024, se }' "$TMP/export.tsv"
	awk -F'\t' -v P="$PROCS" -v G="$GROUPS_N" '
		function median(arr, n,    i, j, t) {
			for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
			return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
		}
		$1 == "cgdash" && $3 == P && $4 == G && $12 == "ok" { c[++n] = $7; if ($8 > rss) rss = $8; lo = (n == 1 || $7 < lo) ? $7 : lo; hi = ($7 > hi) ? $7 : hi }
		END { if (n) printf "| the dashboard, `cgdash --interval 1s` | %.1f ms (%.1f–%.1f) | %.1f ms/s | %.1f MiB | – | – |\n", median(c, n), lo, hi, median(c, n), rss / 1024 }' "$RAW"
	echo
	echo "Load: $PROCS extra idle processes, $GROUPS_N extra groups (half the processes in them), $NPIDS_OTHER pids in all; $(nproc) CPUs, cgroup $MODE. The exporter: scraped by curl every $SCRAPE s for ${SECONDS_M} s after a first scrape, CPU from its own cpuacct group (ns-exact) divided by the scrapes; the dashboard in tmux 200x50 at 1 s. $RUNS interleaved runs. Command: bench/overhead.sh --export --procs $PROCS --groups $GROUPS_N --scrape $SCRAPE --seconds $SECONDS_M --runs $RUNS"
elif [ "$SCALING" = 0 ]; then
	load "$PROCS" "$GROUPS_N"
	run_all
	unload_all
	echo
	echo "Load: $PROCS extra idle processes, $GROUPS_N extra groups in cpu, cpuacct and memory (half the processes in them), $NPIDS_OTHER pids in all; $(nproc) CPUs, cgroup $MODE."
	echo "Each tool in tmux at 200x50 with a 1 s refresh, ${SECONDS_M} s after a ${WARMUP} s warm-up, $RUNS interleaved runs. Command: bench/overhead.sh --procs $PROCS --groups $GROUPS_N --seconds $SECONDS_M --runs $RUNS"
	echo
	summary "$RAW" "$PROCS" "$GROUPS_N"
	echo
	echo "CPU = the tool's utime+stime (threads and children included) per wall second = ms per 1 s refresh; cpuacct = the same from its own cpuacct group (ns-exact); startup CPU = CPU in the first second after start; first paint = until the pane shows a character (polled every 20 ms; a command that prints at once shows after $PAINT_BASE ms here); tmux = the tmux server's CPU while the tool ran. cgdash ÷ tool = median over runs of the same-run ratio."
else
	CG_LIST=$(for t in $TOOLS; do case "$t" in cgdash*) printf '%s ' "$t" ;; esac; done)
	echo "| processes / groups | pids in all | tool | CPU ms per refresh, median (min–max) | $(echo $CG_LIST | sed 's/ / \/ /g') ÷ tool (same run) | peak RSS | kernel memory | startup CPU (1st s) | startup, ns-exact |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for sc in $SCALES; do
		PROCS=${sc%/*} GROUPS_N=${sc#*/}
		load "$PROCS" "$GROUPS_N"
		run_all
		unload_all
		# one row per tool: median (min–max), the median over runs of the
		# same-run ratio cgdash ÷ tool, peak RSS, median startup CPU
		awk -F'\t' -v P="$PROCS" -v G="$GROUPS_N" -v N="$NPIDS_OTHER" -v CG="$CG_LIST" '
		function median(arr, n,    i, j, t) {
			for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
			return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
		}
		$3 == P && $4 == G && $12 == "ok" {
			if (!($1 in seen)) { seen[$1] = 1; order[++nt] = $1; ver[$1] = $13 }
			k = ++n[$1]; c[$1, k] = $6; st[$1, k] = $9; run[$1, k] = $2; cpu[$1, $2] = $6; sx[$1, k] = $18
			if ($8 > rss[$1]) rss[$1] = $8
			# the most kernel memory a run held (older raw files and v2: none)
			if ($19 ~ /^[0-9]+$/ && $19 + 0 > km[$1]) km[$1] = $19
		}
		END {
			for (i = 1; i <= nt; i++) {
				t = order[i]; m = n[t]
				for (k = 1; k <= m; k++) { a[k] = c[t, k]; b[k] = st[t, k] }
				# ns-exact startup of each run (older raw files have none)
				exact = ""
				for (k = 1; k <= m; k++) exact = exact (k > 1 ? ", " : "") (sx[t, k] == "" ? "–" : sprintf("%.1f", sx[t, k]))
				lo = a[1]; hi = a[1]; for (k = 1; k <= m; k++) { if (a[k] < lo) lo = a[k]; if (a[k] > hi) hi = a[k] }
				med = median(a, m); smed = median(b, m)
				# the same-run ratio of each cgdash variant (CG) to this tool
				ratios = ""; ncg = split(CG, cgs, " ")
				for (j = 1; j <= ncg; j++) {
					g = cgs[j]; nr = 0
					for (k = 1; k <= m; k++) { r = run[t, k]; if (t !~ /^cgdash/ && ((g, r) in cpu) && c[t, k] > 0) q[++nr] = cpu[g, r] / c[t, k] }
					ratios = ratios (j > 1 ? " / " : "") (nr ? sprintf("%.2f×", median(q, nr)) : "–")
				}
				kern = (t in km) ? sprintf("%.1f MiB", km[t] / 1024) : "–"
				printf "| %s / %s | %s | %s | %.1f (%.1f–%.1f) | %s | %.1f MiB | %s | %.0f ms | %s ms |\n", P, G, N, ver[t], med, lo, hi,
					ratios, rss[t] / 1024, kern, smed, exact
			}
		}' "$RAW"
	done
	echo
	echo "Each tool in tmux 200x50 at a 1 s refresh, ${SECONDS_M} s after a ${WARMUP} s warm-up, $RUNS runs interleaved (order rotates) after an untimed start of each tool (warm caches); processes/groups are the extra load (half the processes in the groups); startup CPU = the median over runs of the first second's CPU in clock ticks (utime+stime, truncated to 10 ms), ns-exact = each run's from the tool's own cpuacct group; kernel memory = the most any run's own memory group held in kernel memory at the end of its window (v1 memory.kmem.usage_in_bytes: open files, their buffers, BPF maps; not in RSS). Command: bench/overhead.sh --scaling --tools \"$TOOLS\" --seconds $SECONDS_M --runs $RUNS$([ "$FLOOR" = 1 ] || echo ' --no-floor')"
fi
echo
echo "raw results: $RAW"
