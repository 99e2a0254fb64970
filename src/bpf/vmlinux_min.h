/* The few kernel types tasks.bpf.c reads, written by hand (not generated
 * from a kernel's BTF) so the object does not depend on the build machine's
 * kernel. `preserve_access_index` makes every field access a CO-RE
 * relocation: the loader (aya) resolves the offsets against the running
 * kernel's /sys/kernel/btf/vmlinux, so only the names and types matter here,
 * not the layout. */
#ifndef CGDASH_VMLINUX_MIN_H
#define CGDASH_VMLINUX_MIN_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_F_NO_PREALLOC = 1,
};

enum {
	BPF_ANY = 0,
};

struct sched_entity {
	__u64 sum_exec_runtime;
} __attribute__((preserve_access_index));

typedef struct {
	int counter;
} atomic_t;

struct signal_struct {
	atomic_t live;
	int nr_threads;
	__u64 sum_sched_runtime;
} __attribute__((preserve_access_index));

/* 6.2+: mm->rss_stat is an array of these (NR_MM_COUNTERS). Before, a
 * `struct mm_rss_stat` of atomics, which the iterator does not read (user
 * space then reads `stat`, as before). */
struct percpu_counter {
	__s64 count;
} __attribute__((preserve_access_index));

struct mm_struct {
	struct percpu_counter rss_stat[4];
} __attribute__((preserve_access_index));

struct css_set;

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct net *net_ns;
} __attribute__((preserve_access_index));

typedef struct {
	unsigned int val;
} kuid_t;

struct cred {
	kuid_t euid;
} __attribute__((preserve_access_index));

struct task_struct {
	const struct cred *cred;
	unsigned int __state;
	unsigned int flags;
	int exit_state;
	char comm[16];
	struct mm_struct *mm;
	int pid;
	int tgid;
	struct sched_entity se;
	__u64 start_boottime;
	struct task_struct *real_parent;
	struct css_set *cgroups;
	struct signal_struct *signal;
	struct nsproxy *nsproxy;
} __attribute__((preserve_access_index));

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

#endif
