#!/usr/bin/env python3
"""The mixed load of `make soak` (scripts/soak.sh), run inside the watched cgroup.

Every tick (10 ms) it opens and closes OPENS files, makes CONNECTS TCP connects (one to its own
listener on 127.0.0.50, the rest refused by 127.0.0.51-59 on that port) and one UDP datagram;
every EXEC_EVERY ticks it fork+execs /bin/true; every ALERT_SECONDS a fresh `cat` reads the next
file SECRETS/key-N (a rule at PagerDuty severity: one alert per process, never folded; the files
are made before the agent starts, so that only the reads alert); every
second it opens a file under NOTES (a warning rule, below PagerDuty's threshold: folded).
Ticks it falls behind on are skipped, not caught up, so the rate stays at or below the target.

At the end it prints one JSON object: what it did, and the evidence path of every alert it
caused, for the soak to find in the audit log and at the fake PagerDuty.

  soak_load.py SECONDS WORKDIR SECRETS NOTES [OPENS CONNECTS EXEC_EVERY ALERT_SECONDS]
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

TICK = 0.01
LOOPBACK = [f"127.0.0.{n}" for n in range(50, 60)]


def serve(listener):
    """Accepts and closes: the connects to .50 complete instead of queueing in the backlog."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.close()


def main():
    seconds = float(sys.argv[1])
    workdir, secrets, notes = sys.argv[2:5]
    opens = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    connects = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    exec_every = int(sys.argv[7]) if len(sys.argv) > 7 else 5
    alert_seconds = float(sys.argv[8]) if len(sys.argv) > 8 else 2.0

    files = []
    for i in range(50):
        path = os.path.join(workdir, f"file-{i}.txt")
        with open(path, "w") as f:
            f.write("soak\n")
        files.append(path)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK[0], 0))  # the kernel picks the port
    listener.listen(128)
    port = listener.getsockname()[1]
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    done = {"opens": 0, "connects": 0, "udp": 0, "execs": 0, "alerts": 0, "notes": 0, "ticks": 0}
    markers = []
    start = time.monotonic()
    next_alert = start + alert_seconds
    next_note = start
    tick = 0
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        for k in range(opens):
            with open(files[(tick * opens + k) % len(files)], "rb"):
                pass
        done["opens"] += opens
        for k in range(connects):
            addr = LOOPBACK[(tick * connects + k) % len(LOOPBACK)]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect_ex((addr, port))
        done["connects"] += connects
        udp.sendto(b"soak", (LOOPBACK[tick % len(LOOPBACK)], port))
        done["udp"] += 1
        if tick % exec_every == 0:
            subprocess.run(["/bin/true"], check=True, timeout=10)
            done["execs"] += 1
        if now >= next_alert:
            marker = os.path.join(secrets, f"key-{done['alerts']}")
            if not os.path.exists(marker):
                sys.exit(f"soak_load: {marker} was not made in advance")
            subprocess.run(["cat", marker], check=True, timeout=10, stdout=subprocess.DEVNULL)
            markers.append(marker)
            done["alerts"] += 1
            next_alert += alert_seconds
        if now >= next_note:
            with open(os.path.join(notes, "notes.md"), "a") as f:
                f.write("x")
            done["notes"] += 1
            next_note += 1.0
        tick += 1
        done["ticks"] += 1
        # Sleep to the next tick boundary; if behind, skip to the one after now.
        target = start + tick * TICK
        behind = time.monotonic() - target
        if behind > 0:
            tick += int(behind / TICK) + 1
            target = start + tick * TICK
        time.sleep(max(0.0, target - time.monotonic()))

    listener.close()
    done["seconds"] = round(time.monotonic() - start, 1)
    done["markers"] = markers
    print(json.dumps(done))


if __name__ == "__main__":
    main()
