// SPDX-License-Identifier: (MIT OR Apache-2.0) AND GPL-2.0-only
/* cgdash's eBPF process sampler (issue 18): which processes ran.
 *
 * `tasks` is a task iterator (iter/task) that user space runs once per
 * tick. It visits every task (thread) and writes a record — the task's
 * process id, why, and for a process leader its network namespace's
 * number — only for tasks that changed since the last pass:
 * their run time moved (se.sum_exec_runtime: the task ran, which is how
 * CPU time, state, threads, exec and exit change), they are new (or their
 * pid was reused: another start time), they moved to another cgroup (the
 * css_set pointer changed: a move does not run the task), their parent
 * changed (reparenting does not run the child either). The last values
 * are kept per task in `last`.
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
 * process. (The iterator compared that sum per leader until session 16:
 * loading `t->signal` from a task cost the verifier ~1 ms at every load on
 * 6.18, a search of the kernel's BTF by name; this costs nothing per pass.)
 *
 * Rebuilt by bpf/build.sh into src/bpf/tasks.bpf.o (committed; CI checks
 * the rebuilt object is byte-identical). */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define F_NEW 1     /* first seen, or the pid was reused */
#define F_RAN 2     /* run time moved */
#define F_MOVED 4   /* another cgroup (css_set) */
#define F_PARENT 8  /* another parent */
#define F_DEAD 16   /* a thread of it exited (user space, from `exits`) */
#define F_NOROOM 32 /* `last` is full: reported every pass */

struct last {
	__u64 start;    /* start_boottime, ns */
	__u64 runtime;  /* se.sum_exec_runtime, ns */
	__u64 cgroups;  /* the css_set pointer, compared only */
	__u32 ppid;
	__u32 pad;
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
};

/* A process's exit (16 bytes) in `exits`. */
struct exit_rec {
	__u32 tgid;
	__u32 parent; /* its parent's tgid if it had its parent's cgroups, else 0 */
	__u64 start; /* start_boottime, ns: a reused pid is another process */
};

/* A thread's exit (8 bytes, which is how user space tells them apart). */
struct thread_rec {
	__u32 tgid;
	__u32 tid;
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

SEC("iter/task")
int tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct last now = {}, *old;
	struct rec r = {};
	__u32 tid;

	if (!t)
		return 0;
	tid = t->pid;
	now.start = t->start_boottime;
	now.runtime = t->se.sum_exec_runtime;
	/* Loaded, not probe-read: each pointer loaded from a task costs the
	 * verifier ~1 ms at load on 6.18 (linear searches of the kernel's BTF
	 * by name), but probe reads here cost every pass ~1.4 ms at 10,000
	 * tasks (6.6 -> 8.0 ms, measured): this runs every tick. */
	now.cgroups = (__u64)t->cgroups;
	now.ppid = t->real_parent->tgid;
	r.tgid = t->tgid;
	old = bpf_map_lookup_elem(&last, &tid);
	if (!old || old->start != now.start) {
		r.flags = F_NEW;
	} else {
		if (old->runtime != now.runtime)
			r.flags |= F_RAN;
		if (old->cgroups != now.cgroups)
			r.flags |= F_MOVED;
		if (old->ppid != now.ppid)
			r.flags |= F_PARENT;
		if (!r.flags)
			return 0;
	}
	if (bpf_map_update_elem(&last, &tid, &now, BPF_ANY))
		r.flags |= F_NOROOM;
	/* Probe reads, only for the tasks reported (nsproxy is NULL once a
	 * task has exited: the read fails, 0). */
	if (t->pid == t->tgid)
		r.netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	bpf_seq_write(seq, &r, sizeof(r));
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

/* Fires in do_exit, while the thread is still its process's (in /proc, its
 * run time still its own): a pass from here on names the process, and its
 * `stat` then counts this thread's time wherever it is. What the thread
 * runs after this point, on its way out, is microseconds. */
SEC("raw_tp/sched_process_exit")
int thread_exit(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	struct thread_rec r = {};

	r.tid = BPF_CORE_READ(t, pid);
	r.tgid = BPF_CORE_READ(t, tgid);
	if (r.tid == r.tgid)
		return 0; /* the leader: the process's exit is `freed`'s */
	if (bpf_ringbuf_output(&exits, &r, sizeof(r), 0))
		__sync_fetch_and_add(&lost_exits, 1);
	return 0;
}
