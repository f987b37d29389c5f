// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The syscall loops of `make bench`: the per-iteration cost of open+close or connect+close,
 * timed with CLOCK_MONOTONIC around the loop, after a warm-up of a tenth of the iterations
 * (page cache, dentry cache, socket slabs, and whatever the agent allocates on first sight).
 *
 *   loop open N PATH      open(PATH, O_RDONLY) + close
 *   loop connect N PORT   socket(AF_INET, SOCK_STREAM) + connect(127.0.0.1:PORT) + close
 *
 * connect goes to a port with no listener and is refused: the SYN is answered by a RST within
 * the same call, so every iteration does the same work and leaves no state behind (a real
 * handshake would need an accepting peer on the other core and would fill TIME_WAIT). PORT 0
 * reserves a free port by binding a socket without listening on it, so no one can start a
 * listener there during the run.
 *
 * Output, one line on stdout: "<op> n=<N> ns_per_iter=<float> <detail>".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int open_loop(long n, const char *path)
{
	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);

		if (fd < 0) {
			fprintf(stderr, "loop: open %s: %s\n", path, strerror(errno));
			return -1;
		}
		close(fd);
	}
	return 0;
}

static int connect_loop(long n, const struct sockaddr_in *addr)
{
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int rc;

		if (fd < 0) {
			fprintf(stderr, "loop: socket: %s\n", strerror(errno));
			return -1;
		}
		rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
		if (rc == 0 || errno != ECONNREFUSED) {
			fprintf(stderr, "loop: connect to 127.0.0.1:%u: %s (expected ECONNREFUSED)\n",
				ntohs(addr->sin_port), rc == 0 ? "connected" : strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

/* A bound, never-listening socket: connects to its port are refused, and nobody else can take it. */
static int reserve_port(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) ||
	    getsockname(fd, (struct sockaddr *)addr, &len)) {
		fprintf(stderr, "loop: reserving a port: %s\n", strerror(errno));
		return -1;
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: loop open N PATH | loop connect N PORT (0: reserve a free port)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	long n, warm;
	double t0, t1;
	int rc;

	if (argc != 4)
		usage();
	n = strtol(argv[2], NULL, 10);
	if (n <= 0)
		usage();
	warm = n / 10 > 1000 ? n / 10 : 1000;

	if (strcmp(argv[1], "open") == 0) {
		if (open_loop(warm, argv[3]))
			return 1;
		t0 = now_ns();
		rc = open_loop(n, argv[3]);
		t1 = now_ns();
		if (rc)
			return 1;
		printf("open n=%ld ns_per_iter=%.1f path=%s\n", n, (t1 - t0) / n, argv[3]);
		return 0;
	}
	if (strcmp(argv[1], "connect") == 0) {
		long port = strtol(argv[3], NULL, 10);

		if (port < 0 || port > 65535)
			usage();
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addr.sin_port = htons((unsigned short)port);
		if (port == 0 && reserve_port(&addr) < 0)
			return 1;
		if (connect_loop(warm, &addr))
			return 1;
		t0 = now_ns();
		rc = connect_loop(n, &addr);
		t1 = now_ns();
		if (rc)
			return 1;
		printf("connect n=%ld ns_per_iter=%.1f target=127.0.0.1:%u refused\n", n, (t1 - t0) / n,
		       ntohs(addr.sin_port));
		return 0;
	}
	usage();
	return 2;
}
