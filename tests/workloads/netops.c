/*
 * netops TCP4PORT TCP6PORT UDPPORT
 *
 * Deterministic loopback network workload for clawfence end-to-end tests.
 * In order:
 *   1. TCP  connect() to 127.0.0.1:TCP4PORT
 *   2. TCP  connect() to [::1]:TCP6PORT
 *   3. TCP  connect() from an AF_INET6 socket to [::ffff:127.0.0.1]:TCP4PORT
 *   4. UDP  connect() to 127.0.0.1:UDPPORT
 *   5. UDP  sendto() "x" (unconnected AF_INET socket) to 127.0.0.1:UDPPORT
 *   6. UDP  sendto() "x" (unconnected AF_INET6 socket) to [::1]:UDPPORT
 * A refused/failed connect or sendto is reported on stderr and is not
 * an error. Exit status is 1 only for bad usage or if socket() fails.
 * Prints nothing to stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static unsigned short parse_port(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < 1 || v > 65535) {
        fprintf(stderr, "netops: bad port: %s\n", s);
        exit(1);
    }
    return (unsigned short)v;
}

static int new_socket(int family, int type)
{
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "netops: socket(%s, %s): %s\n",
                family == AF_INET ? "AF_INET" : "AF_INET6",
                type == SOCK_STREAM ? "SOCK_STREAM" : "SOCK_DGRAM",
                strerror(errno));
        exit(1);
    }
    return fd;
}

static void sa4(struct sockaddr_in *sa, const char *ip, unsigned short port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
        fprintf(stderr, "netops: inet_pton(%s) failed\n", ip);
        exit(1);
    }
}

static void sa6(struct sockaddr_in6 *sa, const char *ip, unsigned short port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    if (inet_pton(AF_INET6, ip, &sa->sin6_addr) != 1) {
        fprintf(stderr, "netops: inet_pton(%s) failed\n", ip);
        exit(1);
    }
}

static void do_connect(int family, int type, const struct sockaddr *sa,
                       socklen_t len, const char *label)
{
    int fd = new_socket(family, type);
    if (connect(fd, sa, len) != 0)
        fprintf(stderr, "netops: connect %s: %s\n", label, strerror(errno));
    close(fd);
}

static void do_sendto(int family, const struct sockaddr *sa, socklen_t len,
                      const char *label)
{
    int fd = new_socket(family, SOCK_DGRAM);
    if (sendto(fd, "x", 1, 0, sa, len) != 1)
        fprintf(stderr, "netops: sendto %s: %s\n", label, strerror(errno));
    close(fd);
}

int main(int argc, char **argv)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    unsigned short tcp4, tcp6, udp;

    if (argc != 4) {
        fprintf(stderr, "usage: netops TCP4PORT TCP6PORT UDPPORT\n");
        return 1;
    }
    tcp4 = parse_port(argv[1]);
    tcp6 = parse_port(argv[2]);
    udp = parse_port(argv[3]);

    sa4(&v4, "127.0.0.1", tcp4);
    do_connect(AF_INET, SOCK_STREAM, (struct sockaddr *)&v4, sizeof(v4),
               "tcp 127.0.0.1");

    sa6(&v6, "::1", tcp6);
    do_connect(AF_INET6, SOCK_STREAM, (struct sockaddr *)&v6, sizeof(v6),
               "tcp [::1]");

    sa6(&v6, "::ffff:127.0.0.1", tcp4);
    do_connect(AF_INET6, SOCK_STREAM, (struct sockaddr *)&v6, sizeof(v6),
               "tcp [::ffff:127.0.0.1]");

    sa4(&v4, "127.0.0.1", udp);
    do_connect(AF_INET, SOCK_DGRAM, (struct sockaddr *)&v4, sizeof(v4),
               "udp 127.0.0.1");

    do_sendto(AF_INET, (struct sockaddr *)&v4, sizeof(v4), "udp 127.0.0.1");

    sa6(&v6, "::1", udp);
    do_sendto(AF_INET6, (struct sockaddr *)&v6, sizeof(v6), "udp [::1]");

    return 0;
}
