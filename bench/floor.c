// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loader for bench/floor.bpf.c: open, load, attach, print "floor attached", then wait until
 * SIGINT or SIGTERM, stdin reaching end of file (the benchmark script died), or MAX_SECONDS
 * (default 600) pass; detach on the way out.
 *
 *   floor [MAX_SECONDS]
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "floor.skel.h"

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* Returns why the wait ended, for the log. */
static const char *wait_for_stop(int max_seconds)
{
	struct pollfd fds[2];
	sigset_t set;
	char buf[256];
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) || (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		return "signal setup failed";
	fds[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	for (;;) {
		int n = poll(fds, 2, max_seconds * 1000);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return "poll failed";
		if (n == 0)
			return "time limit";
		if (fds[0].revents)
			return "signal";
		if (fds[1].revents) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r <= 0 && !(r < 0 && errno == EINTR))
				return "stdin closed";
		}
	}
}

int main(int argc, char **argv)
{
	int max_seconds = argc > 1 ? atoi(argv[1]) : 600;
	struct floor_bpf *skel;
	const char *why;
	int err;

	if (max_seconds <= 0) {
		fprintf(stderr, "usage: floor [MAX_SECONDS]\n");
		return 2;
	}
	libbpf_set_print(print_libbpf);

	skel = floor_bpf__open();
	if (!skel) {
		fprintf(stderr, "floor: open: %s\n", strerror(errno));
		return 1;
	}
	err = floor_bpf__load(skel);
	if (err) {
		fprintf(stderr, "floor: load: %s\n", strerror(-err));
		goto out;
	}
	err = floor_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "floor: attach: %s\n", strerror(-err));
		goto out;
	}
	printf("floor attached\n");
	fflush(stdout);

	why = wait_for_stop(max_seconds);
	fprintf(stderr, "floor: detaching (%s)\n", why);
out:
	floor_bpf__destroy(skel);
	return err ? 1 : 0;
}
