/*
 * lineage OUTFILE
 *
 * Process-lineage workload for clawfence end-to-end tests.
 *   - The parent first runs a pthread that opens+closes /etc/hostname
 *     (thread activity must be attributed to the process), and joins it.
 *   - Then a double fork with setsid: parent -> child (setsid, fork, exit)
 *     -> grandchild (prctl PR_SET_NAME "renamed-gchild", writes "<pid>\n"
 *     to OUTFILE, then execs /bin/true).
 *   - The parent reaps the child, then polls (max 2 s) until OUTFILE holds
 *     the grandchild's pid followed by a newline, and exits 0.
 * The child hands the grandchild pid to the parent over a pipe so a stale
 * OUTFILE cannot satisfy the wait. Prints nothing to stdout.
 * Build: cc -O2 -Wall -Wextra -Werror -pthread -o lineage lineage.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *thread_fn(void *arg)
{
    int fd = open("/etc/hostname", O_RDONLY);
    (void)arg;
    if (fd < 0) {
        fprintf(stderr, "lineage: thread open(/etc/hostname): %s\n",
                strerror(errno));
        return (void *)1;
    }
    close(fd);
    return NULL;
}

static void grandchild(const char *outfile)
{
    char buf[32];
    int fd, n;

    if (prctl(PR_SET_NAME, "renamed-gchild", 0, 0, 0) != 0) {
        fprintf(stderr, "lineage: prctl: %s\n", strerror(errno));
        _exit(1);
    }
    fd = open(outfile, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "lineage: open(%s): %s\n", outfile, strerror(errno));
        _exit(1);
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (n <= 0 || write(fd, buf, (size_t)n) != n) {
        fprintf(stderr, "lineage: write(%s): %s\n", outfile, strerror(errno));
        _exit(1);
    }
    close(fd);
    execl("/bin/true", "true", (char *)NULL);
    fprintf(stderr, "lineage: exec /bin/true: %s\n", strerror(errno));
    _exit(127);
}

static void child(const char *outfile, int wfd)
{
    pid_t gc;

    if (setsid() < 0) {
        fprintf(stderr, "lineage: setsid: %s\n", strerror(errno));
        _exit(1);
    }
    gc = fork();
    if (gc < 0) {
        fprintf(stderr, "lineage: fork (child): %s\n", strerror(errno));
        _exit(1);
    }
    if (gc == 0) {
        close(wfd);
        grandchild(outfile);
    }
    if (write(wfd, &gc, sizeof(gc)) != (ssize_t)sizeof(gc))
        _exit(1);
    _exit(0);
}

/* 1 if OUTFILE currently contains exactly "<want>\n". */
static int file_has_pid(const char *path, pid_t want)
{
    char buf[64], expect[32];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    snprintf(expect, sizeof(expect), "%d\n", (int)want);
    return strcmp(buf, expect) == 0;
}

int main(int argc, char **argv)
{
    pthread_t th;
    void *tret = NULL;
    int pfd[2], status, i, rc;
    pid_t c, gc = 0;
    ssize_t n;

    if (argc != 2) {
        fprintf(stderr, "usage: lineage OUTFILE\n");
        return 1;
    }

    rc = pthread_create(&th, NULL, thread_fn, NULL);
    if (rc != 0) {
        fprintf(stderr, "lineage: pthread_create: %s\n", strerror(rc));
        return 1;
    }
    pthread_join(th, &tret);
    if (tret != NULL)
        return 1;

    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, "lineage: pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(NULL);
    c = fork();
    if (c < 0) {
        fprintf(stderr, "lineage: fork: %s\n", strerror(errno));
        return 1;
    }
    if (c == 0) {
        close(pfd[0]);
        child(argv[1], pfd[1]);
    }
    close(pfd[1]);

    do {
        n = read(pfd[0], &gc, sizeof(gc));
    } while (n < 0 && errno == EINTR);
    close(pfd[0]);

    while (waitpid(c, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "lineage: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        n != (ssize_t)sizeof(gc) || gc <= 0) {
        fprintf(stderr, "lineage: child failed\n");
        return 1;
    }

    /* Poll up to 2 s (200 x 10 ms) for the grandchild's line. */
    for (i = 0; i < 200; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        if (file_has_pid(argv[1], gc))
            return 0;
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "lineage: timed out waiting for %s\n", argv[1]);
    return 1;
}
