#!/usr/bin/python3
"""Where Redis's time goes in a drain: N generated reports written to a
fresh redis-server (default settings), the daemon started on them, and
Redis's INFO commandstats of the drain printed per routed incident, with
the memory per open incident and the sizes of one incident's keys.

    /usr/bin/python3 tests/bench/drain_commandstats.py [N]     # default 100000

Run from the top of a built tree after `make bench-build` (it uses
tests/bench/out/grbench and the 10,000-unit rules make bench generates).
docs/performance.md quotes its figures."""
import os
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "system"))
os.environ.setdefault("GRIDROUTE_BUILD", os.path.join(TOP, "build"))

from conftest import Daemon, RedisServer, wait_for  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    out = os.path.join(TOP, "tests", "bench", "out")
    rules, grbench = os.path.join(out, "units-10000.yaml"), os.path.join(out, "grbench")
    for f in (rules, grbench):
        if not os.path.exists(f):
            sys.exit("%s: missing; run make bench (or make -C tests/bench data build) first" % f)
    tmp = tempfile.mkdtemp(prefix="gr-cmdstats-")
    srv = RedisServer(tmp).start()
    d = None
    try:
        r = srv.client()
        subprocess.run([grbench, "load", "--port", str(srv.port), "--rules", rules, "--seed",
                        "1", "--count", str(n), "--window", "2048"], check=True,
                       capture_output=True)
        r.config_resetstat()
        m0 = r.info("memory")["used_memory"]
        d = Daemon(tmp, srv.port, name="p", rules=rules,
                   log={"format": "logfmt", "level": "warn"})
        t = time.monotonic()
        d.start(wait_ready=False)
        wait_for(lambda: r.zcard("gr:open") >= n, 600, "the drain")
        elapsed = time.monotonic() - t
        st = r.info("commandstats")
        total = sum(v["usec"] for v in st.values())
        print("%d incidents drained in %.1f s; commands' time %.1f us per incident" %
              (n, elapsed, total / n))
        for k, v in sorted(st.items(), key=lambda kv: -kv[1]["usec"]):
            if v["usec"] / n >= 0.01:
                print("  %-26s %9d calls  %6.2f us/incident  %7.2f us/call" %
                      (k[len("cmdstat_"):], v["calls"], v["usec"] / n, v["usec_per_call"]))
        mem = r.info("memory")["used_memory"] - m0
        streams = sum(r.memory_usage("gr:out:" + s) or 0 for s in ("assignments", "notifications"))
        print("used_memory per open incident: %.0f bytes (%.0f without the output streams)" %
              (mem / n, (mem - streams) / n))
        inc = r.zrange("gr:open", 0, 0)[0]
        for k in ("inc", "doc", "timeline"):
            print("  MEMORY USAGE gr:%s:<id>: %s bytes" % (k, r.memory_usage("gr:%s:%s" % (k, inc))))
    finally:
        if d is not None:
            d.stop()
        srv.stop()


if __name__ == "__main__":
    main()
