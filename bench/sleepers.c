/*
 * sleepers: start N idle processes for the overhead benchmark.
 *
 *   sleepers N DEADLINE_SECONDS PIDFILE
 *
 * Forks N children that sleep in pause() and writes their pids, one a line,
 * to PIDFILE (then a last line "done").  Every child dies by itself at the
 * deadline (alarm) and when this parent dies (PR_SET_PDEATHSIG), so nothing
 * outlives a crashed benchmark.  The parent stays, reaping, until all of its
 * children are gone or the deadline passes.  The benchmark ends them all by
 * killing this parent by pid (its own unreaped child, so the pid cannot have
 * been reused): the kernel then sends every child SIGKILL.  Forking from a small C process is ~50x
 * faster and much lighter than starting 10,000 `sleep` commands from bash.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: sleepers N DEADLINE_SECONDS PIDFILE\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	unsigned deadline = (unsigned)strtoul(argv[2], NULL, 10);
	FILE *out = fopen(argv[3], "w");
	if (!out || n < 0 || deadline == 0) {
		perror("sleepers");
		return 2;
	}
	pid_t parent = getpid();
	alarm(deadline + 5);
	prctl(PR_SET_NAME, "bench-sleepers");
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("sleepers: fork");
			fprintf(out, "failed\n");
			fclose(out);
			return 1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			prctl(PR_SET_NAME, "bench-sleeper");
			alarm(deadline);
			for (;;)
				pause();
		}
		fprintf(out, "%d\n", (int)pid);
	}
	fprintf(out, "done\n");
	fclose(out);
	/* Reap until no child is left (or SIGALRM/SIGTERM ends us). */
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
