/*
 * fileops DIR
 *
 * Deterministic file-operation workload for clawfence end-to-end tests.
 * DIR must be an existing, empty directory given as an absolute path.
 * Performs, in order: mkdir, create+write, relative open after chdir,
 * open through a symlink, open through "..", openat with a dir fd,
 * a failing open (ENOENT), rename, and two unlinks.
 * Prints nothing to stdout; errors go to stderr and exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "fileops: %s(%s): %s\n", what, arg, strerror(errno));
    exit(1);
}

static void mkpath(char *buf, size_t len, const char *dir, const char *rel)
{
    int n = snprintf(buf, len, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "fileops: path too long: %s/%s\n", dir, rel);
        exit(1);
    }
}

static void open_close(const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    if (fd < 0)
        die("open", path);
    if (close(fd) != 0)
        die("close", path);
}

int main(int argc, char **argv)
{
    char sub[PATH_MAX], target[PATH_MAX], link_path[PATH_MAX];
    char dotdot[PATH_MAX], missing[PATH_MAX], renamed[PATH_MAX];
    const char *dir;
    int fd, dirfd;

    if (argc != 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: fileops /ABSOLUTE/DIR\n");
        return 1;
    }
    dir = argv[1];

    mkpath(sub, sizeof(sub), dir, "sub");
    mkpath(target, sizeof(target), dir, "sub/target.txt");
    mkpath(link_path, sizeof(link_path), dir, "link.txt");
    mkpath(dotdot, sizeof(dotdot), dir, "sub/../sub/target.txt");
    mkpath(missing, sizeof(missing), dir, "does-not-exist");
    mkpath(renamed, sizeof(renamed), dir, "sub/renamed.txt");

    /* a. mkdir + create/write */
    if (mkdir(sub, 0755) != 0)
        die("mkdir", sub);
    fd = open(target, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0)
        die("open", target);
    if (write(fd, "hello\n", 6) != 6)
        die("write", target);
    if (close(fd) != 0)
        die("close", target);

    /* b. relative open after chdir */
    if (chdir(sub) != 0)
        die("chdir", sub);
    open_close("target.txt", O_RDONLY);

    /* c. symlink, then open through it */
    if (symlink("sub/target.txt", link_path) != 0)
        die("symlink", link_path);
    open_close(link_path, O_RDONLY);

    /* d. open through ".." */
    open_close(dotdot, O_RDONLY);

    /* e. openat with a directory fd */
    dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dirfd < 0)
        die("open", dir);
    fd = openat(dirfd, "sub/target.txt", O_RDONLY);
    if (fd < 0)
        die("openat", "sub/target.txt");
    close(fd);
    close(dirfd);

    /* f. failing open: must be ENOENT */
    fd = open(missing, O_RDONLY);
    if (fd >= 0) {
        fprintf(stderr, "fileops: open(%s) unexpectedly succeeded\n", missing);
        close(fd);
        return 1;
    }
    if (errno != ENOENT)
        die("open (expected ENOENT)", missing);

    /* g. rename */
    if (rename(target, renamed) != 0)
        die("rename", target);

    /* h. unlinks */
    if (unlink(renamed) != 0)
        die("unlink", renamed);
    if (unlink(link_path) != 0)
        die("unlink", link_path);

    return 0;
}
