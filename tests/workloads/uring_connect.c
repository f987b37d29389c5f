/*
 * uring_connect ADDR PORT
 * uring_connect unix PATH [linked]
 *
 * One TCP connect to ADDR:PORT submitted through io_uring (IORING_OP_CONNECT), so that the
 * kernel runs it without the connect syscall: the syscall tracepoints never see it, the cgroup
 * connect4/connect6 hooks still do. ADDR is an IPv4 or IPv6 literal and must be loopback
 * (127.0.0.0/8, ::1 or ::ffff:127.x.y.z). With `unix PATH`, a unix stream socket connects to
 * PATH the same way and, connected, sends `GET /info` (9 bytes) with write(2). With `linked`, the
 * connect follows a NOP linked to it (IOSQE_IO_LINK): it is issued only after the NOP completes. No liburing: raw io_uring_setup / io_uring_enter and
 * the rings mapped by hand, so the workload builds wherever the uapi header is.
 *
 * Prints one line to stdout, `setup=<fd or -errno> connect=<cqe res>`, and exits
 *   0  the connect ran (whatever its result: 0, -EPERM, -ECONNREFUSED, ...)
 *   1  something else failed (socket, mmap, io_uring_enter)
 *   2  bad usage (not a loopback literal, bad port)
 *   3  io_uring is not available here (setup failed with ENOSYS or EPERM;
 *      `connect=none` is printed)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* The same number on every architecture (the unified syscall table). */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif

static void usage(const char *why)
{
    fprintf(stderr, "uring_connect: %s\nusage: uring_connect ADDR PORT (ADDR: a loopback literal) | unix PATH\n", why);
    exit(2);
}

static unsigned short parse_port(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < 1 || v > 65535)
        usage("bad port");
    return (unsigned short)v;
}

/* Fills `ss` from a loopback literal; anything else is a usage error. */
static socklen_t parse_addr(const char *s, unsigned short port, struct sockaddr_storage *ss)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
            usage("not a loopback address (127.0.0.0/8)");
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        return sizeof(*a4);
    }
    if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) &&
            !(IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) && a6->sin6_addr.s6_addr[12] == 127))
            usage("not a loopback address (::1, ::ffff:127.0.0.0/104)");
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        return sizeof(*a6);
    }
    usage("not an IPv4 or IPv6 literal");
    return 0;
}

static void *map_ring(int ring_fd, size_t len, off_t what)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, what);

    if (p == MAP_FAILED) {
        fprintf(stderr, "uring_connect: mmap: %s\n", strerror(errno));
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    struct io_uring_params p;
    struct sockaddr_storage ss;
    struct io_uring_sqe *sqes, *sqe;
    struct io_uring_cqe *cqe;
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    unsigned tail, head;
    size_t sq_len, cq_len;
    char *sq_ring, *cq_ring;
    socklen_t addr_len;
    int ring_fd, fd, res;
    long n;

    int linked = argc == 4 && strcmp(argv[3], "linked") == 0;

    if (argc != 3 && !linked)
        usage("wrong number of arguments");
    if (strcmp(argv[1], "unix") == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;

        memset(&ss, 0, sizeof(ss));
        if (strlen(argv[2]) >= sizeof(un->sun_path))
            usage("unix path too long");
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, argv[2]);
        addr_len = sizeof(*un);
    } else {
        addr_len = parse_addr(argv[1], parse_port(argv[2]), &ss);
    }

    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "uring_connect: socket: %s\n", strerror(errno));
        return 1;
    }

    memset(&p, 0, sizeof(p));
    ring_fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (ring_fd < 0) {
        int err = errno;

        printf("setup=%d connect=none\n", -err);
        fprintf(stderr, "uring_connect: io_uring_setup: %s\n", strerror(err));
        return err == ENOSYS || err == EPERM ? 3 : 1;
    }

    /* With IORING_FEAT_SINGLE_MMAP (5.4+) the CQ ring lives in the SQ ring's mapping. */
    sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (cq_len > sq_len)
            sq_len = cq_len;
        sq_ring = map_ring(ring_fd, sq_len, IORING_OFF_SQ_RING);
        cq_ring = sq_ring;
    } else {
        sq_ring = map_ring(ring_fd, sq_len, IORING_OFF_SQ_RING);
        cq_ring = map_ring(ring_fd, cq_len, IORING_OFF_CQ_RING);
    }
    sqes = map_ring(ring_fd, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);

    sq_tail = (unsigned *)(sq_ring + p.sq_off.tail);
    sq_mask = (unsigned *)(sq_ring + p.sq_off.ring_mask);
    sq_array = (unsigned *)(sq_ring + p.sq_off.array);
    cq_head = (unsigned *)(cq_ring + p.cq_off.head);
    cq_tail = (unsigned *)(cq_ring + p.cq_off.tail);
    cq_mask = (unsigned *)(cq_ring + p.cq_off.ring_mask);

    tail = *sq_tail;
    if (linked) {
        sqe = &sqes[tail & *sq_mask];
        memset(sqe, 0, sizeof(*sqe));
        sqe->opcode = IORING_OP_NOP;
        sqe->flags = IOSQE_IO_LINK;
        sqe->user_data = 1;
        sq_array[tail & *sq_mask] = tail & *sq_mask;
        tail++;
    }
    /* As io_uring_prep_connect: the address in `addr`, its length in `off` (addr2). */
    sqe = &sqes[tail & *sq_mask];
    memset(sqe, 0, sizeof(*sqe));
    sqe->opcode = IORING_OP_CONNECT;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)&ss;
    sqe->off = addr_len;
    sqe->user_data = 0xc0ffee;
    sq_array[tail & *sq_mask] = tail & *sq_mask;
    /* the kernel reads the tail with acquire semantics: the SQE must be visible first */
    __atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);

    do
        n = syscall(__NR_io_uring_enter, ring_fd, 1 + linked, 1 + linked, IORING_ENTER_GETEVENTS, NULL, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        fprintf(stderr, "uring_connect: io_uring_enter: %s\n", strerror(errno));
        return 1;
    }

    head = *cq_head;
    if (linked && head != __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) /* the NOP's completion */
        head++;
    if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
        fprintf(stderr, "uring_connect: io_uring_enter returned with no completion\n");
        return 1;
    }
    cqe = (struct io_uring_cqe *)(cq_ring + p.cq_off.cqes) + (head & *cq_mask);
    if (cqe->user_data != 0xc0ffee) {
        fprintf(stderr, "uring_connect: unexpected completion %llu\n", (unsigned long long)cqe->user_data);
        return 1;
    }
    res = cqe->res;
    __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);

    printf("setup=%d connect=%d\n", ring_fd, res);
    fflush(stdout);
    if (ss.ss_family == AF_UNIX && res == 0)
        printf("sent=%zd\n", write(fd, "GET /info", 9));
    close(fd);
    close(ring_fd);
    return 0;
}
