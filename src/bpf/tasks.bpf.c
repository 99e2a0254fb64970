// SPDX-License-Identifier: (MIT OR Apache-2.0) AND GPL-2.0-only
/* cgdash's eBPF process sampler (issue 18): which processes ran.
 *
 * `tasks` is a task iterator (iter/task) that user space runs once per
 * tick. It visits every task (thread) and writes a record — the task's
 * process id, why, and for a process leader its network namespace's
 * number — only for tasks that changed since the last pass:
 * their run time moved (se.sum_exec_runtime: the task ran, which is how
 * CPU time, state, threads, exec and exit change) or they are new (or
 * their pid was reused: another start time), and for a leader that did
 * not change on its periodic pass (F_DUE, below). The last values are
 * kept per task in `last`.
 *
 * Two changes don't run the task, and are reported as they happen
 * instead, in the `exits` ring buffer (8-byte records: a process and why):
 * a move to another cgroup (`moved`, on the cgroup_attach_task and
 * cgroup_transfer_tasks tracepoints) and a parent's exit, which reparents
 * its children (`thread_exit`, below). The iterator compared each task's
 * css_set and parent pointers until session 17: each pointer loaded from
 * a task costs the verifier ~1 ms at every load on 6.18 (it searches the
 * kernel's BTF by name for the field's trust), ~2 ms of a ~25 ms start at
 * 200 processes; these programs probe-read, once per event.
 *
 * A leader's record also carries what its /proc/PID/stat would say (state,
 * flags, parent, threads, name, euid, start, run times, RSS counters:
 * probe-read, once per reported leader), so that user space opens no
 * `stat` for it where that is all the file would say (process::ebpf's
 * Fields::stat; issue 18, startup: ~14 µs a process for the file, ~0.5 µs
 * here).
 *
 * `freed` (raw_tp/sched_process_free, after the task is gone from /proc)
 * forgets a task's entry and, for a process leader, reports the exit in
 * the `exits` ring buffer (with its parent when it had its parent's
 * cgroups: user space then knows its groups even if no pass saw it).
 *
 * `thread_exit` (raw_tp/sched_process_exit) reports a thread other than
 * the leader as it exits, in the same ring buffer: a thread that ran and
 * died between two passes is not visited again, and its run time goes to
 * its process's (signal->sum_sched_runtime), so user space re-reads that
 * process. (The iterator compared that sum per leader until session 16,
 * for the same verifier cost as above.) It also reports the last thread
 * of a process going: that process's children are about to be reparented.
 *
 * Rebuilt by bpf/build.sh into src/bpf/tasks.bpf.o (committed; CI checks
 * the rebuilt object is byte-identical). */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define F_NEW 1     /* first seen, or the pid was reused */
#define F_RAN 2     /* run time moved */
#define F_MOVED 4   /* moved to another cgroup (`moved`, in `exits`) */
#define F_DEAD 16   /* a thread of it exited (`thread_exit`, in `exits`) */
/* 32 was F_NOROOM ("`last` is full"): a task with no room has no entry,
 * so every pass reports it as F_NEW, which says as much. */
#define F_ORPHANS 64 /* its last thread exits: its children get new parents */
#define F_LONG 128   /* a leader's record: all of `struct rec`, not its first 12 bytes */
#define F_DUE 256    /* not changed, but its `stat` is due (see IDLE_EVERY) */

/* A process that did not run has its `stat` re-read by user space every
 * this many passes, staggered by pid (its RSS can shrink while it sleeps:
 * process::IDLE_EVERY, the same number). The pass names a leader on its
 * pass, `(pid + pass) % IDLE_EVERY == 0`, with its whole record: user space
 * then takes its fields instead of opening its `stat` (~170 files a tick
 * at 10,000 processes; issue 18). */
#define IDLE_EVERY 60

struct last {
	__u64 start;    /* start_boottime, ns */
	__u64 runtime;  /* se.sum_exec_runtime, ns */
};

struct rec {
	__u32 tgid;
	__u32 flags;
	/* A process leader's network namespace (its nsfs inode number, what
	 * /proc/PID/ns/net's stat says), 0 for other threads and where it
	 * can't be read (an exiting task has no nsproxy). A namespace is
	 * changed only by the task itself (setns, unshare), which runs it,
	 * so each leader's record carries its current one: user space stats
	 * no /proc/PID/net for the processes a pass names. */
	__u32 netns;
	/* A process leader's `/proc/PID/stat` fields as the kernel's
	 * do_task_stat finds them (F_FIELDS; only leaders, and only in records:
	 * a pass reports a process that ran, which is how they change, or is
	 * new). User space takes them instead of reading `stat` where they say
	 * all it would (see process::fields); else it reads the file. */
	__u32 state;      /* __state, raw */
	__u32 exit_state;
	__u32 kflags;     /* task flags (PF_KTHREAD: user space reads `stat`) */
	__u32 ppid;       /* real_parent's tgid */
	__s32 nr_threads; /* signal->nr_threads */
	__u32 has;        /* F_FIELDS, F_RSS */
	char comm[16];
	__u32 euid;       /* the owner of /proc/PID */
	__u64 start;      /* start_boottime, ns */
	__u64 runtime;    /* the leader's se.sum_exec_runtime, ns */
	__u64 dead_rt;    /* signal->sum_sched_runtime: its dead threads', ns */
	__s64 rss[3];     /* mm->rss_stat: file, anon and shmem pages */
};

#define SHORT_REC 12 /* tgid, flags, netns */
#define F_FIELDS 1 /* state … dead_rt are filled */
#define F_RSS 2    /* rss is filled (6.2+: percpu counters) */

/* A process's exit (16 bytes) in `exits`. */
struct exit_rec {
	__u32 tgid;
	__u32 parent; /* its parent's tgid if it had its parent's cgroups, else 0 */
	__u64 start; /* start_boottime, ns: a reused pid is another process */
};

/* A process that changed without running (8 bytes, which is how user
 * space tells it from an exit): F_MOVED, F_DEAD, F_ORPHANS. */
struct why_rec {
	__u32 tgid;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144); /* the loader sets it: 4x the tasks */
	__type(key, __u32);
	__type(value, struct last);
} last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 262144);
} exits SEC(".maps");

/* Records the ring buffer had no room for (user space then re-reads every
 * process and re-lists /proc). */
__u64 lost_exits = 0;
/* Passes run: the iterator's first task of each bumps it (one pass runs at
 * a time). User space reads it with `lost_exits` after each pass, for the
 * same stagger as IDLE_EVERY's. */
__u64 pass = 0;

SEC("iter/task")
int tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct last now = {}, *old;
	struct rec r = {};
	__u32 tid, len = SHORT_REC;

	if (!t)
		return 0;
	if (ctx->meta->seq_num == 0)
		pass++;
	tid = t->pid;
	now.start = t->start_boottime;
	now.runtime = t->se.sum_exec_runtime;
	/* Only scalars are loaded from the task: no pointer for the verifier
	 * to search the kernel's BTF for (see the top), and no probe read,
	 * which would cost every pass ~0.7 ms per field at 10,000 tasks. */
	r.tgid = t->tgid;
	old = bpf_map_lookup_elem(&last, &tid);
	if (!old || old->start != now.start)
		r.flags = F_NEW;
	else if (old->runtime != now.runtime)
		r.flags = F_RAN;
	else if (t->pid == t->tgid && (tid + pass) % IDLE_EVERY == 0)
		r.flags = F_DUE;
	else
		return 0;
	/* Probe reads, only for the tasks reported (nsproxy is NULL once a
	 * task has exited: the read fails, 0). */
	if (t->pid == t->tgid) {
		struct mm_struct *mm;

		r.netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
		r.state = t->__state;
		r.exit_state = t->exit_state;
		r.kflags = t->flags;
		r.start = now.start;
		r.runtime = now.runtime;
		bpf_probe_read_kernel(&r.comm, sizeof(r.comm), &t->comm);
		r.ppid = BPF_CORE_READ(t, real_parent, tgid);
		r.euid = BPF_CORE_READ(t, cred, euid.val);
		r.nr_threads = BPF_CORE_READ(t, signal, nr_threads);
		r.dead_rt = BPF_CORE_READ(t, signal, sum_sched_runtime);
		r.has = F_FIELDS;
		r.flags |= F_LONG;
		len = sizeof(r);
		/* What get_mm_rss adds up (percpu_counter_read_positive of each:
		 * user space clamps). Before 6.2 rss_stat is a struct of atomics:
		 * this relocation then says "no such field" and user space reads
		 * `stat` for RSS. A kernel thread's is not read (/proc says 0). */
		if (bpf_core_field_exists(((struct mm_struct *)0)->rss_stat[0].count)) {
			mm = BPF_CORE_READ(t, mm);
			if (mm) {
				bpf_core_read(&r.rss[0], sizeof(r.rss[0]), &mm->rss_stat[0].count);
				bpf_core_read(&r.rss[1], sizeof(r.rss[1]), &mm->rss_stat[1].count);
				bpf_core_read(&r.rss[2], sizeof(r.rss[2]), &mm->rss_stat[3].count);
			}
			r.has |= F_RSS;
		}
	}
	/* Another thread's record is its first 12 bytes (tgid, flags, netns):
	 * the first pass writes one per task, ~1 MB at 10,000 had each been
	 * whole, read by user space at once. */
	/* `last` is updated only once the record is written. The kernel's
	 * buffer for one read (32 KB) full, the record is dropped, and this
	 * task is shown again at the start of the next read, which must see
	 * the change again. (Updated before the write, one task in ~300 went
	 * unreported by a pass that named more: the first pass, or a busy
	 * tick.) After the write, nothing depends on the pointer `old` or on
	 * which branch set the flags: the verifier checks the leader's long
	 * branch once, not once per way in (224 instructions processed, not
	 * 467; ~0.35 ms less of each start's load, issue 18). No room in
	 * `last`: no entry, so the task is new to every pass. */
	if (bpf_seq_write(seq, &r, len))
		return 0;
	bpf_map_update_elem(&last, &tid, &now, BPF_ANY);
	return 0;
}

/* A raw tracepoint, not tp_btf: attaching it by name needs no type id of
 * the kernel's BTF (the loader looks up only the iterator's), and its task
 * pointer is untrusted, so every field is probe-read (once per exit; no
 * pointer loaded from a task for the verifier to search the BTF for). */
SEC("raw_tp/sched_process_free")
int freed(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	struct exit_rec e = {};
	struct task_struct *p;
	struct last *old;
	__u32 tid = BPF_CORE_READ(t, pid);
	__u32 tgid = BPF_CORE_READ(t, tgid);
	__u64 start = BPF_CORE_READ(t, start_boottime);

	old = bpf_map_lookup_elem(&last, &tid);
	/* The pid may already be another task's (pids are freed before this
	 * runs, after an RCU grace period): only its own entry goes. */
	if (old && old->start == start)
		bpf_map_delete_elem(&last, &tid);
	if (tid != tgid)
		return 0;
	e.tgid = tgid;
	e.start = start;
	/* A process born and gone between two passes was never seen, so user
	 * space doesn't know which groups its run time went to. If it had its
	 * parent's css_set (a fork that never moved: the usual short-lived
	 * command), they are its parent's; else (moved, or reparented to a
	 * parent elsewhere) 0, unknown. */
	p = BPF_CORE_READ(t, real_parent);
	if (p && BPF_CORE_READ(p, cgroups) == BPF_CORE_READ(t, cgroups))
		e.parent = BPF_CORE_READ(p, tgid);
	if (bpf_ringbuf_output(&exits, &e, sizeof(e), 0))
		__sync_fetch_and_add(&lost_exits, 1);
	return 0;
}

static void report(__u32 tgid, __u32 flags)
{
	struct why_rec r = { .tgid = tgid, .flags = flags };

	if (bpf_ringbuf_output(&exits, &r, sizeof(r), 0))
		__sync_fetch_and_add(&lost_exits, 1);
}

/* Fires in do_exit, while the thread is still its process's (in /proc, its
 * run time still its own): a pass from here on names the process, and its
 * `stat` then counts this thread's time wherever it is. What the thread
 * runs after this point, on its way out, is microseconds.
 *
 * When it is the process's last thread (`signal->live` is down to 0 by
 * now), the process's children are reparented a moment later, in the same
 * do_exit (exit_notify: to a subreaper or the namespace's init; a child of
 * a thread whose process lives on goes to a sibling thread, the same
 * process). F_ORPHANS tells user space to re-read the processes whose
 * parent it was, on this pass and the next (the record can be read before
 * the reparenting), and again when the process is freed. */
SEC("raw_tp/sched_process_exit")
int thread_exit(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	__u32 tid = BPF_CORE_READ(t, pid);
	__u32 tgid = BPF_CORE_READ(t, tgid);
	__u32 flags = 0;

	if (tid != tgid)
		flags |= F_DEAD; /* the leader's exit is `freed`'s */
	if (BPF_CORE_READ(t, signal, live.counter) == 0)
		flags |= F_ORPHANS;
	if (flags)
		report(tgid, flags);
	return 0;
}

/* A move to another cgroup (a write to cgroup.procs or tasks, v1 or v2;
 * the whole thread group when `threadgroup`), after it is done: the task
 * did not run for it, so no pass would see it. Attached to both
 * tracepoints with the same arguments (dst_cgrp, path, task, threadgroup):
 * cgroup_attach_task and cgroup_transfer_tasks (v1 cpuset moving the
 * tasks of a group whose CPUs went offline). A css_set that changes
 * without a move (v2 controllers enabled under a group) moves nobody
 * between groups. */
SEC("raw_tp/cgroup_attach_task")
int moved(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[2];

	report(BPF_CORE_READ(t, tgid), F_MOVED);
	return 0;
}
