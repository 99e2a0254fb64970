#!/bin/busybox sh
# /init of the cgdash test VM (busybox sh, pid 1), packed by vm/run-tests.sh.
#
# Mounts a pure cgroup v2 system, runs every test binary listed in
# /vm-tests.list with --test-threads=1, $VM_JOBS binaries at a time (and the
# libtest args from /vm-test-args), prints one `VM-RESULT <binary>: PASS|FAIL` line per binary
# and a `VM-SUMMARY`, then powers off through isa-debug-exit:
#   byte 42 (QEMU status 85) all passed, 1 (status 3) a test failed,
#   2 (status 5) the guest could not be set up.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

fatal() {
	echo "VM-INIT: FATAL: $*"
	/bin/vm-exit 2
	exit 1
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

echo  # past the firmware's escape codes on the same line

# Stage 1: the initramfs is the kernel's rootfs, which pivot_root(2) refuses
# (EINVAL: the root mount has no parent) — and `cgdash run --rootfs` pivots.
# Bind-mount the rootfs onto itself and chroot into that mount: / is then a
# real mount as on any installed system, without copying anything.
if [ "$$" = 1 ] && [ "${1:-}" != stage2 ]; then
	mkdir -p /newroot
	mount --bind / /newroot || fatal "bind-mount the root"
	cd /newroot || fatal "cd /newroot"
	mount --move . / || fatal "move the root bind mount to /"
	exec chroot . /init stage2
	fatal "chroot failed"
fi

mount -t proc -o nosuid,nodev,noexec proc /proc || fatal "mount /proc"
echo "VM-INIT: up after $(uptime_s)s (kernel $(uname -r))"
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || fatal "mount /sys"
# A guest kernel that hangs says where, and ends the run at once: on a soft
# lockup (a CPU stuck in the kernel for 20 s) every CPU's stack goes to the
# console (printed at the default message level, which `quiet` hides: hence
# `dmesg -n 5`), then the kernel panics, and `panic=-1` ends the VM. One
# `.ci/run` (session 24) hung so for 450 s, both CPUs stuck (cgdash's
# sampler thread on one, a tmux server on the other), with no stack to say
# where, until the VM timeout.
dmesg -n 5
echo 1 >/proc/sys/kernel/softlockup_all_cpu_backtrace
echo 1 >/proc/sys/kernel/softlockup_panic
mount -t devtmpfs -o nosuid devtmpfs /dev || fatal "mount /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o nosuid,noexec devpts /dev/pts || fatal "mount /dev/pts"
mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm || fatal "mount /dev/shm"
# /tmp stays on the root tmpfs (no tmpfs mounted over it): the repo or the
# target dir may live under /tmp on the host, and must stay visible here.
chmod 1777 /tmp
mount -t tmpfs -o nosuid,nodev tmpfs /run || fatal "mount /run"
# Like systemd mounts it on a pure v2 host.
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
	mount -t cgroup2 cgroup2 /sys/fs/cgroup || fatal "mount cgroup2"
for c in cpu memory pids io cpuset; do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || fatal "enable +$c in the root's cgroup.subtree_control"
done
# Lay the tree out like systemd does on a v2 host: pid 1 in init.scope, the
# tests in a service under system.slice (a leaf), the root holding no
# processes, so the tests see child groups and run outside the root.
cg=/sys/fs/cgroup
svc=$cg/system.slice/cgdash-vm-tests.service
mkdir -p $cg/init.scope $cg/system.slice $svc || fatal "create init.scope/system.slice"
echo 1 >$cg/init.scope/cgroup.procs || fatal "move pid 1 into init.scope"
echo "+cpu +memory +pids +io" >$cg/system.slice/cgroup.subtree_control || fatal "system.slice subtree_control"
hostname cgdash-vm
# The scratch disk (vm/run-tests.sh): ext2 on it at /mnt/scratch for the io
# tests (CGDASH_IO_DIR). The NVMe namespace is probed asynchronously: wait.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ -b /dev/nvme0n1 ] && break
	sleep 0.5
done
if [ -b /dev/nvme0n1 ]; then
	# One partition: the io tests then check that a path on it is limited
	# on the whole disk (the kernel refuses a partition's MAJ:MIN).
	printf 'o\nn\np\n1\n\n\nw\n' | fdisk /dev/nvme0n1 >/dev/null 2>&1
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -b /dev/nvme0n1p1 ] && break
		sleep 0.2
	done
	part=/dev/nvme0n1p1
	[ -b $part ] || part=/dev/nvme0n1
	mkdir -p /mnt/scratch
	mke2fs -q $part >/dev/null 2>&1 && mount -t ext4 $part /mnt/scratch ||
		fatal "scratch disk: mke2fs or mount of $part failed"
	export CGDASH_IO_DIR=/mnt/scratch
	echo "VM-INIT: scratch disk $part ($(cat /sys/class/block/${part#/dev/}/dev)) on /mnt/scratch"
else
	echo "VM-INIT: WARNING: no scratch disk (/dev/nvme0n1): the io tests will fail"
fi
ip link set lo up 2>/dev/null
# The kernel modules vm/run-tests.sh packed (VM_MODULES there: veth, bridge,
# sch_tbf, nf_tables' nat and masquerade, and what they depend on), in
# dependency order. With them the network tests take the real `--net veth`
# (and `veth,nat`) path, and must
# (CGDASH_EXPECT_VETH=1: a kernel without them is a failure, not a skip).
if [ -f /vm-modules/order ]; then
	loaded=""
	while IFS= read -r m; do
		[ -n "$m" ] || continue
		insmod "/vm-modules/$m.ko" || fatal "insmod /vm-modules/$m.ko failed"
		loaded="$loaded $m"
	done </vm-modules/order
	echo "VM-INIT: modules loaded:$loaded"
	export CGDASH_EXPECT_VETH=1
fi
echo "VM-INIT: cgroup2: $(cat /sys/fs/cgroup/cgroup.subtree_control); $(nproc) CPU(s), $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"

. /vm-env
export CGDASH_LIVE_TESTS=required CGDASH_EXPECT_V2=1
export LANG=C.UTF-8 RUST_BACKTRACE=1 INSTA_UPDATE=no INSTA_WORKSPACE_ROOT="$VM_REPO" CI=true
cd "$VM_REPO" || fatal "no $VM_REPO"

[ -s /vm-pre.sh ] && . /vm-pre.sh

set --
while IFS= read -r a; do set -- "$@" "$a"; done </vm-test-args

# Test binaries run in $VM_JOBS lanes at once (each binary with
# --test-threads=1): most of a live test is waiting (sleeps, throttled
# burners, tmux polls), so lanes overlap the waits. Each lane takes the next
# unclaimed binary from /vm-tests.list (longest first), claiming it with an
# atomic mkdir. A binary's output goes to its own file and is printed whole
# when it ends, so the console isn't interleaved.
Q=/run/vm-queue
mkdir -p $Q/claim $Q/out $Q/rc
run_one() { # index path [libtest args]
	i=$1
	t=$2
	shift 2
	name=$(basename "$t")
	name=${name%-*}
	t0=$(uptime_s)
	(echo 0 >"$svc/cgroup.procs" && exec timeout -s KILL "$VM_BIN_TIMEOUT" "$t" --test-threads=1 --color never "$@") \
		>"$Q/out/$i" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
	if [ $rc -eq 0 ]; then
		result="VM-RESULT $name: PASS (${secs}s)"
	else
		[ $rc -eq 137 ] && rc="$rc, killed after ${VM_BIN_TIMEOUT}s?"
		result="VM-RESULT $name: FAIL (exit $rc, ${secs}s)"
		echo "$name" >"$Q/rc/$i"
	fi
	while ! mkdir $Q/print.lock 2>/dev/null; do sleep 0.1; done
	echo "===== VM test binary: $name ($t) ====="
	cat "$Q/out/$i"
	echo "$result"
	rmdir $Q/print.lock
}
lane() {
	i=0
	while IFS= read -r t; do
		[ -n "$t" ] || continue
		i=$((i + 1))
		mkdir "$Q/claim/$i" 2>/dev/null || continue
		run_one "$i" "$t" "$@"
	done </vm-tests.list
}
start=$(uptime_s)
total=$(grep -c . /vm-tests.list)
jobs=${VM_JOBS:-1}
echo "VM-INIT: $total test binaries in $jobs lane(s)"
n=0
while [ $n -lt "$jobs" ]; do
	lane "$@" &
	n=$((n + 1))
done
wait
failed=0
failed_names=""
for f in $Q/rc/*; do
	[ -f "$f" ] || continue
	failed=$((failed + 1))
	failed_names="$failed_names $(cat "$f")"
done
secs=$(awk -v a="$start" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')

# Nothing a test made may be left behind.
left=$(find $cg -mindepth 1 -maxdepth 1 -type d -name 'cgdash*' 2>/dev/null)
[ -n "$left" ] && echo "VM-INIT: WARNING: groups left behind: $left"

echo "VM-SUMMARY: $((total - failed))/$total test binaries passed${failed_names:+ (failed:$failed_names)} in ${secs}s"
sync
if [ $failed -eq 0 ] && [ $total -gt 0 ]; then
	/bin/vm-exit 42
else
	/bin/vm-exit 1
fi
fatal "vm-exit returned"
