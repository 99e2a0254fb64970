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
 *   floor [-i MS] [-n TICKS] ROOT:FILE [ROOT:FILE ...]
 *   e.g. floor /sys/fs/cgroup/cpuacct:cpuacct.usage \
 *              /sys/fs/cgroup/memory:memory.usage_in_bytes
 *
 * A monitor that does less I/O than this is reading less, not parsing faster.
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

int main(int argc, char **argv)
{
	long interval_ms = 1000, ticks = -1;
	int opt;
	while ((opt = getopt(argc, argv, "i:n:")) != -1) {
		switch (opt) {
		case 'i': interval_ms = strtol(optarg, NULL, 10); break;
		case 'n': ticks = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: floor [-i MS] [-n TICKS] ROOT:FILE...\n");
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

	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long t = 0; ticks < 0 || t < ticks; t++) {
		files_read = 0;
		scan_proc();
		for (int i = 0; i < nroots; i++)
			walk(AT_FDCWD, roots[i], files[i], 0);
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
