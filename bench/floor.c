/*
 * floor: the naive cost of watching this machine once a second.
 *
 * Every tick it lists /proc, then opens, reads and closes /proc/PID/stat for
 * every pid, and walks each given cgroup hierarchy, opening, reading and
 * closing one stat file per group (v1: cpuacct.usage and
 * memory.usage_in_bytes).  Nothing is kept between ticks, nothing is drawn,
 * nothing is parsed beyond what is needed to stay honest (a sum of the bytes
 * read, so the compiler cannot drop the reads).
 *
 *   floor [-p] [-i MS] [-n TICKS] ROOT:FILE [ROOT:FILE ...]
 *   e.g. floor /sys/fs/cgroup/cpuacct:cpuacct.usage \
 *              /sys/fs/cgroup/memory:memory.usage_in_bytes
 *
 * A monitor that does less I/O than this is reading less, not parsing faster.
 *
 * -p: the "kept open" variant — /proc/PID/stat and the group files stay
 * open and are re-read with pread(); /proc is still listed every tick (new
 * pids), the cgroup trees are re-walked every 10th tick.  What is left is the
 * kernel's cost of producing the text, i.e. the floor of any tool that
 * reads every pid and group each tick.
 * Built by bench/overhead.sh with: gcc -O2 -o floor floor.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

static char buf[4096];
static unsigned long long checksum;
static unsigned long files_read;

static void read_file(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* a pid that exited, a group that went away */
	ssize_t n = read(fd, buf, sizeof buf);
	if (n > 0) {
		checksum += (unsigned char)buf[0] + (unsigned long long)n;
		files_read++;
	}
	close(fd);
}

static void scan_proc(void)
{
	DIR *d = opendir("/proc");
	if (!d)
		return;
	struct dirent *e;
	char path[300];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "%s/stat", e->d_name);
		read_file(dirfd(d), path);
	}
	closedir(d);
}

/* Depth-first walk of one cgroup hierarchy, reading FILE in every group. */
static void walk(int dirfd_parent, const char *name, const char *file, int depth)
{
	if (depth > 64)
		return;
	int fd = openat(dirfd_parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	read_file(fd, file);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		walk(dirfd(d), e->d_name, file, depth + 1);
	}
	closedir(d);
}

/* ---- -p: files kept open, pread() each tick ---- */
static int *pidfd;              /* pid -> fd of /proc/PID/stat, -1 if none */
static long pid_limit;
static int *open_pids;          /* pids with an open fd */
static long n_open, cap_open;
static unsigned *seen;          /* pid -> tick it was last listed */
static int *group_fds;
static long n_groups, cap_groups;

static int pread_fd(int fd)
{
	ssize_t n = pread(fd, buf, sizeof buf, 0);
	if (n <= 0)
		return -1;
	checksum += (unsigned char)buf[0] + (unsigned long long)n;
	files_read++;
	return 0;
}

static void scan_proc_kept(unsigned tick)
{
	DIR *d = opendir("/proc");
	if (!d)
		return;
	struct dirent *e;
	char path[300];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		long pid = strtol(e->d_name, NULL, 10);
		snprintf(path, sizeof path, "%s/stat", e->d_name);
		if (pid <= 0 || pid >= pid_limit) {
			read_file(dirfd(d), path);
			continue;
		}
		seen[pid] = tick;
		int fd = pidfd[pid];
		if (fd >= 0 && pread_fd(fd) == 0)
			continue;
		if (fd >= 0) { /* gone, or pid reused: reopen */
			close(fd);
			pidfd[pid] = -1;
		}
		fd = openat(dirfd(d), path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) { /* EMFILE: fall back to open/read/close */
			read_file(dirfd(d), path);
			continue;
		}
		if (n_open == cap_open) {
			cap_open = cap_open ? 2 * cap_open : 1024;
			open_pids = realloc(open_pids, cap_open * sizeof *open_pids);
		}
		open_pids[n_open++] = (int)pid;
		pidfd[pid] = fd;
		pread_fd(fd);
	}
	closedir(d);
	/* close the fds of pids no longer listed */
	long k = 0;
	for (long i = 0; i < n_open; i++) {
		int pid = open_pids[i];
		if (pidfd[pid] < 0)
			continue;
		if (seen[pid] != tick) {
			close(pidfd[pid]);
			pidfd[pid] = -1;
			continue;
		}
		open_pids[k++] = pid;
	}
	n_open = k;
}

static void walk_open(int dirfd_parent, const char *name, const char *file, int depth)
{
	if (depth > 64)
		return;
	int fd = openat(dirfd_parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	int ffd = openat(fd, file, O_RDONLY | O_CLOEXEC);
	if (ffd >= 0) {
		if (n_groups == cap_groups) {
			cap_groups = cap_groups ? 2 * cap_groups : 256;
			group_fds = realloc(group_fds, cap_groups * sizeof *group_fds);
		}
		group_fds[n_groups++] = ffd;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		walk_open(dirfd(d), e->d_name, file, depth + 1);
	}
	closedir(d);
}

static void groups_kept(unsigned tick, int nroots, char **roots, char **files)
{
	if (tick % 10 == 0) {
		for (long i = 0; i < n_groups; i++)
			close(group_fds[i]);
		n_groups = 0;
		for (int i = 0; i < nroots; i++)
			walk_open(AT_FDCWD, roots[i], files[i], 0);
	}
	for (long i = 0; i < n_groups; i++)
		pread_fd(group_fds[i]);
}

static void setup_kept(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pid_limit = 4194304;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	if (f) {
		if (fscanf(f, "%ld", &pid_limit) != 1)
			pid_limit = 4194304;
		fclose(f);
	}
	pidfd = malloc(pid_limit * sizeof *pidfd);
	seen = calloc(pid_limit, sizeof *seen);
	if (!pidfd || !seen) {
		perror("floor");
		exit(1);
	}
	memset(pidfd, 0xff, pid_limit * sizeof *pidfd);
}

int main(int argc, char **argv)
{
	long interval_ms = 1000, ticks = -1;
	int opt, kept = 0;
	while ((opt = getopt(argc, argv, "pi:n:")) != -1) {
		switch (opt) {
		case 'p': kept = 1; break;
		case 'i': interval_ms = strtol(optarg, NULL, 10); break;
		case 'n': ticks = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: floor [-p] [-i MS] [-n TICKS] ROOT:FILE...\n");
			return 2;
		}
	}
	int nroots = argc - optind;
	char **roots = calloc(nroots > 0 ? nroots : 1, sizeof *roots);
	char **files = calloc(nroots > 0 ? nroots : 1, sizeof *files);
	for (int i = 0; i < nroots; i++) {
		roots[i] = strdup(argv[optind + i]);
		char *colon = strrchr(roots[i], ':');
		if (!colon) {
			fprintf(stderr, "floor: expected ROOT:FILE, got %s\n", roots[i]);
			return 2;
		}
		*colon = '\0';
		files[i] = colon + 1;
	}

	if (kept)
		setup_kept();
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long t = 0; ticks < 0 || t < ticks; t++) {
		files_read = 0;
		if (kept) {
			scan_proc_kept((unsigned)t + 1);
			groups_kept((unsigned)t, nroots, roots, files);
		} else {
			scan_proc();
			for (int i = 0; i < nroots; i++)
				walk(AT_FDCWD, roots[i], files[i], 0);
		}
		if (isatty(1)) {
			/* one short status line, so a terminal shows it is alive */
			printf("\rfloor tick %ld: %lu files read", t, files_read);
			fflush(stdout);
		}
		next.tv_sec += interval_ms / 1000;
		next.tv_nsec += (interval_ms % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	return checksum == 42; /* use the sum */
}
