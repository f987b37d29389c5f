#!/usr/bin/env python3
"""dnsconnect.py [--tcp] [--resolve-each] SERVER NAME PORT [COUNT]

Resolves NAME (type A) by asking the DNS server SERVER:53 directly (over UDP, or TCP), follows the CNAME
chain in the answer, then opens COUNT (default 1) TCP connections to the address on PORT and
prints the address and the number of failed connects (with --resolve-each, NAME is resolved again
before every connect, which is then the first use of that answer). Refuses any address outside 127.0.0.0/8: the tests
only ever talk to loopback."""
import ipaddress
import socket
import struct
import sys


def read_name(msg, off):
    labels, jumped, end = [], False, off
    for _ in range(64):
        n = msg[off]
        if n == 0:
            return ".".join(labels), (end if jumped else off + 1)
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            jumped, off = True, ((n & 0x3F) << 8) | msg[off + 1]
            continue
        labels.append(msg[off + 1:off + 1 + n].decode().lower())
        off += 1 + n
    raise ValueError("name too long")


def resolve(server, name, tcp):
    query = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    if tcp:
        s = socket.create_connection((server, 53), timeout=3)
        s.sendall(struct.pack(">H", len(query)) + query)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        msg = data[2:]
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.connect((server, 53))
        s.send(query)
        msg = s.recv(4096)
    s.close()
    qd, an = struct.unpack(">HH", msg[4:8])
    off = 12
    for _ in range(qd):
        _, off = read_name(msg, off)
        off += 4
    records = []
    for _ in range(an):
        owner, off = read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            records.append((owner, "A", socket.inet_ntoa(msg[off:off + 4])))
        elif rtype == 5:
            records.append((owner, "CNAME", read_name(msg, off)[0]))
        off += rdlen
    want = name.lower()
    for _ in range(16):
        nxt = None
        for owner, rtype, value in records:
            if owner == want and rtype == "A":
                return value
            if owner == want and rtype == "CNAME":
                nxt = value
        if nxt is None:
            return None
        want = nxt
    return None


def main():
    args = sys.argv[1:]
    tcp = "--tcp" in args
    each = "--resolve-each" in args
    args = [a for a in args if a not in ("--tcp", "--resolve-each")]
    server, name, port = args[0], args[1], int(args[2])
    count = int(args[3]) if len(args) > 3 else 1
    addr = None
    failures = 0
    errors = {}
    for i in range(count):
        if addr is None or each:
            addr = resolve(server, name, tcp)
            if addr is None or ipaddress.ip_address(addr) not in ipaddress.ip_network("127.0.0.0/8"):
                print("no loopback address for", name, file=sys.stderr)
                return 2
        c = socket.socket()
        c.settimeout(2)
        rc = c.connect_ex((addr, port))
        if rc != 0:
            failures += 1
            errors[rc] = errors.get(rc, 0) + 1
        c.close()
    print(addr, "failures", failures, "errnos", errors, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
