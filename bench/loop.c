// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The syscall workloads of `make bench`: the per-iteration cost of one operation in a loop,
 * timed with CLOCK_MONOTONIC around the loop, after a warm-up of a tenth of the iterations
 * (page cache, dentry cache, socket slabs, and whatever a monitor allocates on first sight).
 *
 *   loop open N PATH       open(PATH, O_RDONLY) + close
 *   loop stat N PATH       stat(PATH)
 *   loop connect N PORT    socket(AF_INET, SOCK_STREAM) + connect(127.0.0.1:PORT) + close
 *   loop udp N PORT        sendto(127.0.0.1:PORT) of one byte on one unconnected UDP socket
 *   loop exec N            fork + execve("/bin/true") + waitpid
 *   loop mixed N DIR       an OpenClaw-like mix per iteration: open+read+close of one of 16
 *                          files in DIR, stat of another; every 8th a connect, every 64th a
 *                          fork+exec of /bin/true
 *
 * connect goes to a port with no listener and is refused: the SYN is answered by a RST within
 * the same call, so every iteration does the same work and leaves no state behind (a real
 * handshake would need an accepting peer on the other core and would fill TIME_WAIT). PORT 0
 * reserves a free port by binding a socket without listening on it, so no one can start a
 * listener there during the run. udp PORT 0 binds a receiver that never reads: once its buffer
 * is full the kernel drops the datagrams, and sendto still succeeds.
 *
 * Two modes feed the throughput and latency figures instead of timing a loop:
 *
 *   loop rate R SECONDS PATH    open+close of PATH paced at R per second (0: as fast as it
 *                               can) for SECONDS; prints the opens done and the rate reached
 *   loop spawn N PATH USEC      N children one after another, USEC apart, each opening PATH
 *                               once and exiting (one first-hit alert each)
 *
 * Output, one line on stdout: "<op> n=<N> ns_per_iter=<float> <detail>" (rate and spawn:
 * "<op> n=<N> rate=<per second> ...").
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int fail(const char *what, const char *arg)
{
	fprintf(stderr, "loop: %s %s: %s\n", what, arg, strerror(errno));
	return -1;
}

/* What one iteration of a workload needs. */
struct work {
	const char *path;
	struct sockaddr_in addr;
	int udp_fd;
	char files[16][4096];
};

static int do_open(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return fail("open", path);
	close(fd);
	return 0;
}

static int do_connect(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int rc;

	if (fd < 0)
		return fail("socket", "");
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (rc == 0 || errno != ECONNREFUSED) {
		fprintf(stderr, "loop: connect to 127.0.0.1:%u: %s (expected ECONNREFUSED)\n", ntohs(addr->sin_port),
			rc == 0 ? "connected" : strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int do_exec(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return fail("fork", "");
	if (pid == 0) {
		char *const argv[] = { "true", NULL };

		execv("/bin/true", argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "loop: /bin/true did not exit 0 (status %#x)\n", status);
		return -1;
	}
	return 0;
}

static int do_mixed(struct work *w, long i)
{
	char buf[256];
	struct stat st;
	int fd = open(w->files[i % 16], O_RDONLY);

	if (fd < 0)
		return fail("open", w->files[i % 16]);
	if (read(fd, buf, sizeof(buf)) < 0) {
		close(fd);
		return fail("read", w->files[i % 16]);
	}
	close(fd);
	if (stat(w->files[(i + 7) % 16], &st))
		return fail("stat", w->files[(i + 7) % 16]);
	if (i % 8 == 0 && do_connect(&w->addr))
		return -1;
	if (i % 64 == 0 && do_exec())
		return -1;
	return 0;
}

typedef int (*step_fn)(struct work *w, long i);

static int step_open(struct work *w, long i)
{
	(void)i;
	return do_open(w->path);
}

static int step_stat(struct work *w, long i)
{
	struct stat st;

	(void)i;
	return stat(w->path, &st) ? fail("stat", w->path) : 0;
}

static int step_connect(struct work *w, long i)
{
	(void)i;
	return do_connect(&w->addr);
}

static int step_udp(struct work *w, long i)
{
	(void)i;
	if (sendto(w->udp_fd, "x", 1, 0, (const struct sockaddr *)&w->addr, sizeof(w->addr)) != 1)
		return fail("sendto", "127.0.0.1");
	return 0;
}

static int step_exec(struct work *w, long i)
{
	(void)w;
	(void)i;
	return do_exec();
}

static int run_steps(step_fn step, struct work *w, long n)
{
	for (long i = 0; i < n; i++)
		if (step(w, i))
			return -1;
	return 0;
}

/* A bound socket of `type` that never listens or reads: nobody else can take its port. */
static int reserve_port(struct sockaddr_in *addr, int type)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, type, 0);

	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) ||
	    getsockname(fd, (struct sockaddr *)addr, &len))
		return fail("reserving a port", "");
	return fd;
}

static int port_arg(const char *s, struct sockaddr_in *addr, int type)
{
	long port = strtol(s, NULL, 10);

	if (port < 0 || port > 65535)
		return -1;
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr->sin_port = htons((unsigned short)port);
	return port == 0 && reserve_port(addr, type) < 0 ? -1 : 0;
}

/* `loop rate`: opens paced in 1 ms slices against an absolute schedule. */
static int rate_mode(long rate, long seconds, const char *path)
{
	double t0 = now_ns(), end = t0 + (double)seconds * 1e9;
	long done = 0;

	while (now_ns() < end) {
		long due = rate ? (long)((now_ns() - t0) * 1e-9 * (double)rate) + 1 : done + 1000;

		while (done < due) {
			if (do_open(path))
				return 1;
			done++;
		}
		if (rate) {
			struct timespec ts = { 0, 200000 }; /* the next slice */

			nanosleep(&ts, NULL);
		}
	}
	printf("rate n=%ld rate=%.0f asked=%ld seconds=%.3f\n", done, done / ((now_ns() - t0) * 1e-9), rate,
	       (now_ns() - t0) * 1e-9);
	return 0;
}

/* `loop spawn`: one child per alert, each a new process that the first-hit rule reports. */
static int spawn_mode(long n, const char *path, long usec)
{
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return fail("fork", "");
		if (pid == 0)
			_exit(do_open(path) ? 1 : 0);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return 1;
		if (usec > 0) {
			struct timespec ts = { usec / 1000000, (usec % 1000000) * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	printf("spawn n=%ld rate=%.0f\n", n, n / ((now_ns() - t0) * 1e-9));
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: loop open|stat N PATH | loop connect|udp N PORT (0: reserve a free port) |\n"
			"       loop exec N | loop mixed N DIR | loop rate R SECONDS PATH | loop spawn N PATH USEC\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct work w;
	const char *op, *detail = "";
	step_fn step;
	long n, warm;
	double t0, t1;
	int rc;

	if (argc < 3)
		usage();
	op = argv[1];
	n = strtol(argv[2], NULL, 10);
	if (strcmp(op, "rate") == 0)
		return argc == 5 && n >= 0 ? rate_mode(n, strtol(argv[3], NULL, 10), argv[4]) : (usage(), 2);
	if (n <= 0)
		usage();
	if (strcmp(op, "spawn") == 0)
		return argc == 5 ? spawn_mode(n, argv[3], strtol(argv[4], NULL, 10)) : (usage(), 2);

	w.udp_fd = -1;
	if (strcmp(op, "exec") == 0) {
		if (argc != 3)
			usage();
		step = step_exec;
	} else {
		if (argc != 4)
			usage();
		w.path = argv[3];
		detail = argv[3];
		if (strcmp(op, "open") == 0) {
			step = step_open;
		} else if (strcmp(op, "stat") == 0) {
			step = step_stat;
		} else if (strcmp(op, "connect") == 0) {
			if (port_arg(argv[3], &w.addr, SOCK_STREAM))
				usage();
			step = step_connect;
			detail = "127.0.0.1, refused";
		} else if (strcmp(op, "udp") == 0) {
			if (port_arg(argv[3], &w.addr, SOCK_DGRAM))
				usage();
			w.udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
			if (w.udp_fd < 0) {
				fail("socket", "udp");
				return 1;
			}
			step = step_udp;
			detail = "127.0.0.1";
		} else if (strcmp(op, "mixed") == 0) {
			for (int i = 0; i < 16; i++) {
				int fd;

				snprintf(w.files[i], sizeof(w.files[i]), "%s/module-%02d.js", argv[3], i);
				fd = open(w.files[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (fd < 0 || write(fd, "module.exports = {};\n", 21) != 21) {
					fail("create", w.files[i]);
					return 1;
				}
				close(fd);
			}
			if (reserve_port(&w.addr, SOCK_STREAM) < 0)
				return 1;
			step = do_mixed;
		} else {
			usage();
		}
	}

	warm = n / 10 > 100 ? n / 10 : 100;
	if (run_steps(step, &w, warm))
		return 1;
	t0 = now_ns();
	rc = run_steps(step, &w, n);
	t1 = now_ns();
	if (rc)
		return 1;
	printf("%s n=%ld ns_per_iter=%.1f %s\n", op, n, (t1 - t0) / n, detail);
	return 0;
}
