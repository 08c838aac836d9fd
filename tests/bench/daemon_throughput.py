#!/usr/bin/python3
"""End-to-end throughput of one daemon: a private redis-server and the real
gridrouted on the sample rules; N incidents written (pipelined) over the
four channels; the time until every one has its assignment.

    /usr/bin/python3 tests/bench/daemon_throughput.py [--incidents 100000]

Prints incidents/s and the CPU seconds the daemon and Redis used."""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
from conftest import Daemon, RedisServer, wait_for  # noqa: E402

ROOT = os.path.join(HERE, "..", "..")
CHANNELS = ["patrol", "feedback", "scheduled", "alert"]
UNITS = ["xifeng/beijie/beidajie/g0%d" % i for i in (1, 2, 3)] + \
        ["xifeng/beijie/dongdajie/g0%d" % i for i in (1, 2, 3)]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gridroute-bench-")
    server = RedisServer(tmp).start()
    r = server.client()
    d = Daemon(tmp, server.port, name="bench", rules=os.path.join(ROOT, "conf", "rules.yaml"),
               log={"format": "logfmt", "level": "warn"},
               limits={"batch": args.batch, "block_ms": 100, "tick_ms": 200}).start(
        wait_ready=False)
    wait_for(lambda: r.exists("gr:in:commands"), 10, "the daemon's consumer groups")
    d0, r0 = cpu_seconds(d.proc.pid), cpu_seconds(server.proc.pid)
    n = args.incidents
    t0 = time.monotonic()
    p = r.pipeline(transaction=False)
    for i in range(n):
        doc = {"category": "urban_management", "unit": UNITS[i % len(UNITS)],
               "title": "井盖缺失 %d" % i, "severity": "normal",
               "location": {"lat": 35.72, "lon": 107.64}}
        p.xadd("gr:in:" + CHANNELS[i % 4], {"incident": json.dumps(doc, ensure_ascii=False)})
        if i % 1000 == 999:
            p.execute()
    p.execute()
    t1 = time.monotonic()
    wait_for(lambda: r.xlen("gr:out:assignments") >= n, 600, "every assignment")
    t2 = time.monotonic()
    dcpu, rcpu = cpu_seconds(d.proc.pid) - d0, cpu_seconds(server.proc.pid) - r0
    d.stop()
    server.stop()
    print("incidents        %d (written in %.2fs)" % (n, t1 - t0))
    print("end to end       %.2fs  = %.0f incidents/s" % (t2 - t0, n / (t2 - t0)))
    print("daemon CPU       %.2fs  = %.1f us/incident" % (dcpu, dcpu / n * 1e6))
    print("redis CPU        %.2fs  = %.1f us/incident" % (rcpu, rcpu / n * 1e6))


if __name__ == "__main__":
    main()
