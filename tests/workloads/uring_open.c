/*
 * uring_open PATH
 *
 * One open of PATH submitted through io_uring (IORING_OP_OPENAT), so that the kernel runs it
 * without the open syscall: the syscall tracepoints never see it. Then the descriptor is read
 * with read(2), as a program reading a secret would. No liburing: raw io_uring_setup /
 * io_uring_enter and the rings mapped by hand, as uring_connect.c does.
 *
 * Prints one line to stdout, `setup=<fd or -errno> open=<cqe res> read=<bytes>` (never the
 * content), and exits
 *   0  the open ran (whatever its result)
 *   1  something else failed (mmap, io_uring_enter)
 *   2  bad usage
 *   3  io_uring is not available here (setup failed with ENOSYS or EPERM)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The same number on every architecture (the unified syscall table). */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif

static void *map_ring(int ring_fd, size_t len, off_t what)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, what);

    if (p == MAP_FAILED) {
        fprintf(stderr, "uring_open: mmap: %s\n", strerror(errno));
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    struct io_uring_params p;
    struct io_uring_sqe *sqes, *sqe;
    struct io_uring_cqe *cqe;
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    unsigned tail, head;
    size_t sq_len, cq_len;
    char *sq_ring, *cq_ring, buf[4096];
    int ring_fd, res;
    long n, total = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: uring_open PATH\n");
        return 2;
    }
    memset(&p, 0, sizeof(p));
    ring_fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (ring_fd < 0) {
        int err = errno;

        printf("setup=%d open=none read=0\n", -err);
        return err == ENOSYS || err == EPERM ? 3 : 1;
    }
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

    /* As io_uring_prep_openat: the directory in `fd`, the name in `addr`, the flags in open_flags. */
    tail = *sq_tail;
    sqe = &sqes[tail & *sq_mask];
    memset(sqe, 0, sizeof(*sqe));
    sqe->opcode = IORING_OP_OPENAT;
    sqe->fd = AT_FDCWD;
    sqe->addr = (uint64_t)(uintptr_t)argv[1];
    sqe->open_flags = O_RDONLY | O_CLOEXEC;
    sqe->user_data = 0x0be7;
    sq_array[tail & *sq_mask] = tail & *sq_mask;
    __atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
    do
        n = syscall(__NR_io_uring_enter, ring_fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        fprintf(stderr, "uring_open: io_uring_enter: %s\n", strerror(errno));
        return 1;
    }
    head = *cq_head;
    if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
        fprintf(stderr, "uring_open: io_uring_enter returned with no completion\n");
        return 1;
    }
    cqe = (struct io_uring_cqe *)(cq_ring + p.cq_off.cqes) + (head & *cq_mask);
    res = cqe->res;
    __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
    if (res >= 0)
        while ((n = read(res, buf, sizeof(buf))) > 0)
            total += n;
    printf("setup=%d open=%d read=%ld\n", ring_fd, res, total);
    return 0;
}
