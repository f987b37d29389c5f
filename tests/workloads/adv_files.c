/*
 * adv_files SUBCOMMAND ARGS...
 *
 * The file, exec and process attacks of the adversarial suite (tests/adversarial/files_test.cpp),
 * one per sub-command, each a way to reach a secret (or the network) that a naive path or comm
 * check would miss. A read prints "read=N" (bytes read, never the bytes themselves); a failure
 * prints "errno=E". Exit 0 when the attack ran (whatever it got), 2 on bad usage, 3 when the
 * kernel lacks what the attack needs.
 *
 *   read PATH                    open PATH as given (a "..", a /proc/self/root/... path) and read it
 *   relative DIR NAME            chdir(DIR), then open NAME relative to it
 *   symlink TARGET LINK          symlink(TARGET, LINK), then open LINK
 *   hardlink TARGET LINK         link(TARGET, LINK), then open LINK
 *   openat2 DIR NAME MODE        openat2(dirfd of DIR, NAME) with MODE: beneath (RESOLVE_BENEATH),
 *                                in_root (RESOLVE_IN_ROOT), no_symlinks (RESOLVE_NO_SYMLINKS)
 *   thread-connect ADDR PORT     TCP connect to ADDR:PORT (IPv4) from a second thread: "connect=0|-E"
 *   double-fork PATH             fork; the child calls setsid and forks; the grandchild prints
 *                                "gchild=PID" and then reads PATH; the parent relays what it printed
 *   rename NAME PATH             prctl(PR_SET_NAME, NAME), then open PATH
 *   memfd-exec PATH              copy this program into a memfd and fexecve it as "read PATH"
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread -o adv_files adv_files.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* linux/openat2.h, spelled out so the workload builds against older headers */
struct adv_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define ADV_RESOLVE_NO_SYMLINKS 0x04
#define ADV_RESOLVE_BENEATH 0x08
#define ADV_RESOLVE_IN_ROOT 0x10

/* Reads what fd holds, prints how many bytes (never the bytes), closes it. */
static int report_read(int fd)
{
    char buf[4096];
    ssize_t n, total = 0;

    if (fd < 0) {
        printf("errno=%d\n", errno);
        return 0;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        total += n;
    close(fd);
    printf("read=%zd\n", total);
    return 0;
}

static int read_path(const char *path)
{
    return report_read(open(path, O_RDONLY));
}

static int do_openat2(const char *dir, const char *name, const char *mode)
{
    struct adv_open_how how = {.flags = O_RDONLY};
    int dfd, fd;

    if (strcmp(mode, "beneath") == 0)
        how.resolve = ADV_RESOLVE_BENEATH;
    else if (strcmp(mode, "in_root") == 0)
        how.resolve = ADV_RESOLVE_IN_ROOT;
    else if (strcmp(mode, "no_symlinks") == 0)
        how.resolve = ADV_RESOLVE_NO_SYMLINKS;
    else
        return 2;
    dfd = open(dir, O_PATH | O_DIRECTORY);
    if (dfd < 0) {
        fprintf(stderr, "adv_files: open(%s): %s\n", dir, strerror(errno));
        return 1;
    }
    fd = (int)syscall(SYS_openat2, dfd, name, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) {
        printf("enosys\n");
        return 3;
    }
    return report_read(fd);
}

struct connect_arg {
    const char *addr;
    int port;
    int result;
};

static void *connect_thread(void *p)
{
    struct connect_arg *a = p;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->port)};
    int s = socket(AF_INET, SOCK_STREAM, 0);

    if (s < 0 || inet_pton(AF_INET, a->addr, &sa.sin_addr) != 1) {
        a->result = -EINVAL;
        return NULL;
    }
    a->result = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
    close(s);
    return NULL;
}

static int thread_connect(const char *addr, const char *port)
{
    struct connect_arg a = {.addr = addr, .port = atoi(port), .result = 1};
    pthread_t t;

    if (pthread_create(&t, NULL, connect_thread, &a) != 0 || pthread_join(t, NULL) != 0) {
        fprintf(stderr, "adv_files: pthread failed\n");
        return 1;
    }
    printf("connect=%d\n", a.result);
    return 0;
}

/* The grandchild writes to the pipe; the parent relays until every writer is gone (at most 5 s). */
static int double_fork(const char *path)
{
    int p[2], status;
    pid_t child;
    char buf[256];
    size_t got = 0;

    if (pipe(p) != 0)
        return 1;
    child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        close(p[0]);
        if (setsid() < 0)
            _exit(1);
        pid_t g = fork();
        if (g < 0)
            _exit(1);
        if (g == 0) {
            /* stdout is the pipe: what it prints reaches the parent even if it is killed later */
            dup2(p[1], STDOUT_FILENO);
            close(p[1]);
            setvbuf(stdout, NULL, _IONBF, 0);
            printf("gchild=%d\n", (int)getpid());
            read_path(path);
            _exit(0);
        }
        _exit(0);
    }
    close(p[1]);
    waitpid(child, &status, 0);
    for (int i = 0; i < 50 && got < sizeof(buf) - 1; i++) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read(p[0], buf + got, sizeof(buf) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
    fputs(buf, stdout);
    return 0;
}

static int memfd_exec(const char *path)
{
    char buf[65536];
    ssize_t n;
    int in = open("/proc/self/exe", O_RDONLY);
    int fd = memfd_create("adv-payload", MFD_CLOEXEC);
    char *argv[] = {"payload", "read", (char *)path, NULL};
    extern char **environ;

    if (in < 0 || fd < 0) {
        fprintf(stderr, "adv_files: memfd_create: %s\n", strerror(errno));
        return fd < 0 && errno == ENOSYS ? 3 : 1;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) != n)
            return 1;
    close(in);
    fflush(stdout);
    fexecve(fd, argv, environ);
    /* vm.memfd_noexec, or a kernel without execveat */
    fprintf(stderr, "adv_files: fexecve: %s\n", strerror(errno));
    printf("fexecve errno=%d\n", errno);
    return errno == EACCES || errno == ENOSYS ? 3 : 1;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(cmd, "read") == 0 && argc == 3)
        return read_path(argv[2]);
    if (strcmp(cmd, "relative") == 0 && argc == 4) {
        if (chdir(argv[2]) != 0) {
            fprintf(stderr, "adv_files: chdir(%s): %s\n", argv[2], strerror(errno));
            return 1;
        }
        return read_path(argv[3]);
    }
    if (strcmp(cmd, "symlink") == 0 && argc == 4) {
        if (symlink(argv[2], argv[3]) != 0) {
            fprintf(stderr, "adv_files: symlink: %s\n", strerror(errno));
            return 1;
        }
        return read_path(argv[3]);
    }
    if (strcmp(cmd, "hardlink") == 0 && argc == 4) {
        if (link(argv[2], argv[3]) != 0) {
            fprintf(stderr, "adv_files: link: %s\n", strerror(errno));
            return 1;
        }
        return read_path(argv[3]);
    }
    if (strcmp(cmd, "openat2") == 0 && argc == 5)
        return do_openat2(argv[2], argv[3], argv[4]);
    if (strcmp(cmd, "thread-connect") == 0 && argc == 4)
        return thread_connect(argv[2], argv[3]);
    if (strcmp(cmd, "double-fork") == 0 && argc == 3)
        return double_fork(argv[2]);
    if (strcmp(cmd, "rename") == 0 && argc == 4) {
        if (prctl(PR_SET_NAME, argv[2], 0, 0, 0) != 0) {
            fprintf(stderr, "adv_files: prctl: %s\n", strerror(errno));
            return 1;
        }
        return read_path(argv[3]);
    }
    if (strcmp(cmd, "memfd-exec") == 0 && argc == 3)
        return memfd_exec(argv[2]);
    fprintf(stderr, "usage: adv_files read|relative|symlink|hardlink|openat2|thread-connect|double-fork|rename|"
                    "memfd-exec ARGS...\n");
    return 2;
}
