#!/usr/bin/env python3
"""netsteps.py STEP...

Runs network steps in order, in one process, and prints one line per step: the step as given,
a space, its result. The adversarial tests run it as the watched attacker, so that what one
process learned (a DNS answer) and did (a connect) stay together. Only loopback is accepted.

Steps (fields separated by commas; an address with ':' is IPv6, IPv4-mapped included):
  tcp,ADDR,PORT          TCP connect (2 s timeout): 0 or the errno
  sendto,ADDR,PORT       one UDP datagram with sendto() on an unconnected socket: 0 or the errno
  sendmsg,ADDR,PORT      the same with sendmsg() and the address in msg_name
  resolve,SERVER,NAME    type A query to SERVER:53 over UDP: the address (CNAMEs followed) or none
  resolve-tcp,SERVER,NAME  the same over TCP
  until-refused,ADDR,PORT,FILE  TCP connects every millisecond while FILE does not exist (at most
                         10 s): `refused` at the first EPERM, else `never`
  burst,N,FILE           a child process opens and closes /etc/hostname N times, then writes FILE
  wait-burst             waits for the burst's child: its exit status
  touch,FILE             creates FILE: ok
  wait,FILE              waits (at most 15 s) until FILE exists: ok or timeout
  sleep,SECONDS          sleeps: ok
  fork ... exit          the steps up to `exit` run in a child (which prints `child PID` first); the
                         parent waits for it, prints `fork STATUS`, then goes on after `exit`
  pid                    prints this process's pid
"""
import errno
import ipaddress
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsconnect import resolve  # noqa: E402  (the same DNS client as dnsconnect.py)

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"),
            ipaddress.ip_network("::ffff:127.0.0.0/104")]


def target(addr, port):
    if not any(ipaddress.ip_address(addr) in n for n in LOOPBACK):
        raise SystemExit("netsteps: not a loopback address: " + addr)
    return (socket.AF_INET6 if ":" in addr else socket.AF_INET), (addr, int(port))


def tcp(addr, port):
    fam, dst = target(addr, port)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        return s.connect_ex(dst)
    finally:
        s.close()


def udp(addr, port, with_sendmsg):
    fam, dst = target(addr, port)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        if with_sendmsg:
            s.sendmsg([b"x"], [], 0, dst)
        else:
            s.sendto(b"x", dst)
        return 0
    except OSError as e:
        return e.errno
    finally:
        s.close()


def run(steps, out):
    burst = None
    i = 0
    while i < len(steps):
        step = steps[i]
        f = step.split(",")
        op = f[0]
        if op == "tcp":
            res = tcp(f[1], f[2])
        elif op in ("sendto", "sendmsg"):
            res = udp(f[1], f[2], op == "sendmsg")
        elif op in ("resolve", "resolve-tcp"):
            target(f[1], 53)
            res = resolve(f[1], f[2], op == "resolve-tcp") or "none"
        elif op == "until-refused":
            res = "never"
            deadline = time.monotonic() + 10
            while not os.path.exists(f[3]) and time.monotonic() < deadline:
                if tcp(f[1], f[2]) == errno.EPERM:
                    res = "refused"
                    break
                time.sleep(0.001)
        elif op == "burst":
            burst = os.fork()
            if burst == 0:
                for _ in range(int(f[1])):
                    os.close(os.open("/etc/hostname", os.O_RDONLY))
                open(f[2], "w").close()
                os._exit(0)
            res = "started"
        elif op == "wait-burst":
            res = os.waitstatus_to_exitcode(os.waitpid(burst, 0)[1])
        elif op == "touch":
            open(f[1], "w").close()
            res = "ok"
        elif op == "wait":
            res = "timeout"
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if os.path.exists(f[1]):
                    res = "ok"
                    break
                time.sleep(0.01)
        elif op == "sleep":
            time.sleep(float(f[1]))
            res = "ok"
        elif op == "fork":
            end = steps.index("exit", i)
            out.flush()
            child = os.fork()
            if child == 0:
                print("child", os.getpid(), file=out, flush=True)
                run(steps[i + 1:end], out)
                out.flush()
                os._exit(0)
            res = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
            i = end
        elif op == "pid":
            res = os.getpid()
        else:
            raise SystemExit("netsteps: unknown step " + step)
        print(step, res, file=out, flush=True)
        i += 1


if __name__ == "__main__":
    run(sys.argv[1:], sys.stdout)
