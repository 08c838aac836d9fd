#!/usr/bin/python3
"""The end-to-end performance run behind `make bench` (tests/bench/README.md §5).

Every phase runs on a private redis-server and the real gridrouted, started
here on free loopback ports in a temporary directory; grbench (C, hiredis)
writes the load and reads the results. Prints one markdown table, and writes
it with everything measured to OUT/results.md and OUT/results.json, and the
latency sweep to OUT/sweep.dat (plotted by `make bench-plot`).

Phases, in order:
 1. ceiling   fresh Redis A: C incidents prefilled (500,000), then applied
              by `grbench ceiling` with the daemon's own commands: Redis alone.
 1b. minimal  fresh Redis M: the same C incidents, applied by a minimal
              router (`grbench ceiling --minimal`: one fixed script call per
              incident doing HSET, ZADD, two XADDs, PUBLISH and XACK).
 2. sustained fresh Redis B: N incidents (1,000,000, the first C the same as
              A's) prefilled, then the daemon started to drain them; its rate
              over the first C (the one compared) and over all N, CPU, peak
              RSS with N open, and Redis's used_memory per open incident.
 3. latency   on B with the daemon running: fixed offered rates from 10% to
              100% of the measured maximum (the 50% one for longer, the
              table's figure); grbench latency reads the assignments.
 4. reload    on B: a steady load; SIGHUP with a 100,000-unit rules file
              swapped in, then SIGHUP with one policy of it edited (the
              table's figure); reload times and the stall they cause.
 5. deadlines on B: daemon stopped, D open incidents made due at one instant
              T, daemon started; the time from T until none is due at T.
 6. districts three districts (hash-tagged prefixes), K incidents (300,000)
              over them, a daemon each: drained on one fresh Redis, then on
              a fresh 3-primary Redis Cluster with one district per primary;
              the total rates side by side, every incident checked assigned.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from conftest import Daemon, RedisCluster, RedisServer, free_port, wait_for  # noqa: E402

import redis  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The daemon's defaults (src/config.c, conf/gridrouted.yaml): the harness's
# Daemon helper would otherwise put its quick test settings in.
LIMITS = {"max_incident_bytes": 65536, "batch": 256, "block_ms": 1000, "claim_idle_ms": 30000,
          "max_deliveries": 5, "tick_ms": 200}
SWEEP = [0.10, 0.20, 0.30, 0.40, 0.50, 0.70, 1.00]
SEED = 1  # the sustained data set, the same for the ceiling and the daemon

TARGETS = {"ratio": 0.80, "minimal_ratio": 0.80, "p99_ms": 5.0, "deadlines_s": 3.0,
           "rss_mib": 32.0, "reload_ms": 500.0, "bytes_per_incident": 1536,
           "redis_us_per_incident": 15.0}


def log(msg):
    print("perf: " + msg, file=sys.stderr, flush=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def machine_busy():
    """Non-idle CPU seconds of all CPUs together (steal included)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


class CpuWindow:
    """How much CPU went to other work on the machine (other people's jobs)
    while a measurement ran: all non-idle time less that of Redis, the
    daemon, the bench's children waited for meanwhile, and this script."""

    def __init__(self, *pids):
        self.pids = [p for p in pids if p]

    def sample(self):
        ch, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(
            resource.RUSAGE_SELF)
        ours = sum(cpu_seconds(p) for p in self.pids) + ch.ru_utime + ch.ru_stime + \
            me.ru_utime + me.ru_stime
        return time.monotonic(), machine_busy(), ours

    def __enter__(self):
        self.t0, self.m0, self.o0 = self.sample()
        return self

    def __exit__(self, *exc):
        t1, m1, o1 = self.sample()
        self.seconds = t1 - self.t0
        self.other = max(0.0, (m1 - self.m0) - (o1 - self.o0))
        self.other_share = self.other / (self.seconds * os.cpu_count()) if self.seconds else 0
        return False


def id_ms(entry_id):
    return int(entry_id.split("-", 1)[0])


class BenchRedis(RedisServer):
    """A throw-away redis-server with Redis's default settings."""

    def __init__(self, tmp, name):
        path = os.path.join(tmp, name)
        os.makedirs(path)
        super().__init__(path)

    def used_memory(self):
        return int(self.client().info("memory")["used_memory"])

    def key_bytes(self, *keys):
        """MEMORY USAGE of keys, every element sampled."""
        r = self.client()
        return sum(r.memory_usage(k, samples=0) or 0 for k in keys)

    def stop(self):
        super().stop(timeout=60)


class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="gridroute-perf-")
        self.res = {}
        self.next_first = args.incidents  # incident numbers after the sustained set

    # -- grbench -----------------------------------------------------------
    def grbench(self, sub, port, *extra, timeout=900):
        cmd = [self.a.grbench, sub, "--port", str(port)] + [str(x) for x in extra]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=timeout)
        out = p.stdout.decode().strip().splitlines()
        if p.returncode != 0 or not out:
            raise SystemExit("perf: %s failed (exit %d): %s" % (" ".join(cmd), p.returncode,
                                                               "\n".join(out[-3:])))
        return json.loads(out[-1])

    def spawn(self, sub, port, *extra):
        cmd = [self.a.grbench, sub, "--port", str(port)] + [str(x) for x in extra]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE)

    @staticmethod
    def collect(p, timeout, what):
        out, _ = p.communicate(timeout=timeout)
        lines = out.decode().strip().splitlines()
        if not lines:
            raise SystemExit("perf: %s printed nothing (exit %s)" % (what, p.returncode))
        return json.loads(lines[-1])

    def prefill(self, srv, count):
        t = time.monotonic()
        res = self.grbench("load", srv.port, "--rules", self.a.rules, "--seed", SEED,
                           "--count", count, "--window", 2048)
        if res["errors"]:
            raise SystemExit("perf: prefill: %d XADD errors" % res["errors"])
        log("prefilled %d incidents in %.1fs (%.0f/s)" % (res["sent"], time.monotonic() - t,
                                                          res["rate"]))
        return res

    def numbers(self, count):
        """A fresh range of incident numbers: new dedup keys every run."""
        first = self.next_first
        self.next_first += count
        return first

    # -- the daemon ----------------------------------------------------------
    def daemon(self, srv):
        self.http = free_port()
        d = Daemon(self.tmp, srv.port, name="bench", rules=self.a.rules,
                   log={"format": "logfmt", "level": "warn"},
                   http={"listen": "127.0.0.1:%d" % self.http}, limits=dict(LIMITS))
        return d

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http, timeout=5) as f:
            text = f.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.http,
                                        timeout=1) as f:
                return f.status == 200
        except OSError:
            return False

    # -- phases ----------------------------------------------------------------
    def phase_ceiling(self):
        log("== 1. Redis-only ceiling: %d incidents" % self.a.ceiling_incidents)
        srv = BenchRedis(self.tmp, "redis-a").start()
        try:
            self.prefill(srv, self.a.ceiling_incidents)
            res = self.grbench("ceiling", srv.port, "--rules", self.a.rules)
            if res["ok"] != res["entries"] or res["errors"]:
                raise SystemExit("perf: ceiling: not every apply answered ok: %s" % res)
            cpu = res["cpu"]
            res["redis_cpu_per_1000"] = cpu["redis"] / res["entries"] * 1000
            res["client_cpu_per_1000"] = cpu["client"] / res["entries"] * 1000
            res["other_share"] = max(0.0, cpu["machine"] - cpu["redis"] - cpu["client"]) / (
                res["seconds"] * os.cpu_count())
            res["redis_used_memory"] = srv.used_memory()
            log("ceiling %.0f incidents/s (plan %.1fs, timed %.1fs; other load %.0f%%)" % (
                res["rate"], res["plan_seconds"], res["seconds"], res["other_share"] * 100))
            self.res["ceiling"] = res
        finally:
            srv.stop()

    def phase_minimal(self):
        log("== 1b. a minimal router: %d incidents" % self.a.ceiling_incidents)
        srv = BenchRedis(self.tmp, "redis-m").start()
        try:
            self.prefill(srv, self.a.ceiling_incidents)
            res = self.grbench("ceiling", srv.port, "--rules", self.a.rules, "--minimal")
            if res["ok"] != res["entries"] or res["errors"]:
                raise SystemExit("perf: minimal: not every call answered ok: %s" % res)
            res["redis_cpu_per_1000"] = res["cpu"]["redis"] / res["entries"] * 1000
            res["other_share"] = max(0.0, res["cpu"]["machine"] - res["cpu"]["redis"] -
                                     res["cpu"]["client"]) / (res["seconds"] * os.cpu_count())
            log("minimal router %.0f incidents/s (Redis %.1f us per incident; other load "
                "%.0f%%)" % (res["rate"], res["redis_cpu_per_1000"] * 1000,
                             res["other_share"] * 100))
            self.res["minimal"] = res
        finally:
            srv.stop()

    def phase_sustained(self):
        n = self.a.incidents
        log("== 2. daemon, backlog drain: %d incidents" % n)
        self.srv = BenchRedis(self.tmp, "redis-b").start()
        r = self.r = self.srv.client()
        self.prefill(self.srv, n)
        mem_prefilled = self.srv.used_memory()
        self.d = self.daemon(self.srv)
        t_start = time.monotonic()
        self.d.start(wait_ready=False)
        pid = self.d.proc.pid

        def added():
            try:
                return int(r.xinfo_stream("gr:out:assignments")["entries-added"])
            except redis.ResponseError:
                return 0
        wait_for(lambda: added() > 0, 30, "the first assignment")
        win = CpuWindow(pid, self.srv.proc.pid).__enter__()
        n0, c0, rc0 = added(), cpu_seconds(pid), cpu_seconds(self.srv.proc.pid)
        first = r.xrange("gr:out:assignments", count=1)[0][0]
        # the first ceiling_incidents of the backlog: the part compared with the ceiling,
        # which had just those (XINFO gives the count and the last id at one instant)
        part = {}
        win_part = CpuWindow(pid, self.srv.proc.pid).__enter__()

        def progress():
            if self.d.proc.poll() is not None:
                return True
            info = r.xinfo_stream("gr:out:assignments")
            if not part and int(info["entries-added"]) >= self.a.ceiling_incidents:
                win_part.__exit__()
                part.update(added=int(info["entries-added"]), last=info["last-generated-id"])
            return int(info["entries-added"]) >= n
        wait_for(progress, 1800, "%d assignments" % n)
        win.__exit__()
        if self.d.proc.poll() is not None:
            raise SystemExit("perf: the daemon exited with %s" % self.d.proc.returncode)
        n1, c1, rc1 = added(), cpu_seconds(pid), cpu_seconds(self.srv.proc.pid)
        wall = time.monotonic() - t_start
        last = r.xrevrange("gr:out:assignments", count=1)[0][0]
        span_ms = max(1, id_ms(last) - id_ms(first))
        m = self.metrics()
        deadletters = sum(v for k, v in m.items() if k.startswith("gridroute_deadletters_total"))
        part_ms = max(1, id_ms(part["last"]) - id_ms(first))
        mem_after = self.srv.used_memory()
        out_bytes = self.srv.key_bytes("gr:out:assignments", "gr:out:notifications")
        res = {
            "incidents": n, "rate": (n - 1) / span_ms * 1000.0, "drain_ms": span_ms,
            "bytes_per_incident": (mem_after - mem_prefilled - out_bytes) / n,
            "bytes_per_incident_with_out": (mem_after - mem_prefilled) / n,
            "part_incidents": part["added"], "part_rate": (part["added"] - 1) / part_ms * 1000.0,
            "part_other_share": win_part.other_share,
            "wall_from_start_s": wall,
            "cpu_per_1000": (c1 - c0) / (n1 - n0) * 1000.0,
            "redis_cpu_per_1000": (rc1 - rc0) / (n1 - n0) * 1000.0,
            "vmhwm_kib": proc_status_kib(pid, "VmHWM"), "vmrss_kib": proc_status_kib(pid, "VmRSS"),
            "open_incidents": r.zcard("gr:open"), "due": r.zcard("gr:due"),
            "deadletters": deadletters, "redis_used_memory": self.srv.used_memory(),
            "other_share": win.other_share,
        }
        if deadletters:
            log("WARNING: %d dead letters in the sustained run" % deadletters)
        log("daemon %.0f incidents/s over %.1fs (%.0f/s over the first %d, other load %.0f%%), "
            "%.3f CPU s per 1000, VmHWM %d KiB, %d open; other load %.0f%%" % (
                res["rate"], span_ms / 1000, res["part_rate"], res["part_incidents"],
                res["part_other_share"] * 100, res["cpu_per_1000"], res["vmhwm_kib"],
                res["open_incidents"], win.other_share * 100))
        log("Redis: %.1f us of CPU per incident; %.0f bytes per open incident (%.0f with the "
            "output streams)" % (res["redis_cpu_per_1000"] * 1000, res["bytes_per_incident"],
                                 res["bytes_per_incident_with_out"]))
        self.res["sustained"] = res
        wait_for(self.ready, 10, "/readyz")

    def last_assignment(self):
        last = self.r.xrevrange("gr:out:assignments", count=1)
        return last[0][0] if last else "0-0"

    def paced_run(self, rate, seconds):
        """Load at a fixed rate, then the reader: the latencies of that load.

        The latency is taken from stream ids (Redis's clock), so when the
        reader reads does not change it; reading once the load is sent
        spares Redis a blocked XREAD woken by nearly every assignment
        (--live-reader reads along instead)."""
        after = self.last_assignment()
        count = max(1, int(round(rate * seconds)))
        timeout = max(60, 4 * seconds)
        c0 = cpu_seconds(self.d.proc.pid), cpu_seconds(self.srv.proc.pid)
        with CpuWindow(self.d.proc.pid, self.srv.proc.pid) as win:
            reader = None
            if self.a.live_reader:
                reader = self.spawn("latency", self.srv.port, "--after", after, "--count", count,
                                    "--timeout", timeout)
            load = self.grbench("load", self.srv.port, "--rules", self.a.rules, "--seed", SEED,
                                "--first", self.numbers(count), "--rate", "%.1f" % rate,
                                "--count", count)
        if reader is None:
            reader = self.spawn("latency", self.srv.port, "--after", after, "--count", count,
                                "--timeout", timeout)
        lat = self.collect(reader, timeout + 30, "grbench latency")
        load["other_share"] = win.other_share
        # CPU per incident until the last is assigned: the steady state's cost
        load["daemon_us"] = (cpu_seconds(self.d.proc.pid) - c0[0]) / count * 1e6
        load["redis_us"] = (cpu_seconds(self.srv.proc.pid) - c0[1]) / count * 1e6
        if not lat["complete"]:
            raise SystemExit("perf: at %.0f/s not every incident was assigned within %ds" % (
                rate, timeout))
        return load, lat["all"]

    def phase_latency(self):
        top = self.res["sustained"]["rate"]
        log("== 3. latency against offered load (max %.0f/s)" % top)
        sweep = []
        for f in SWEEP:
            secs = self.a.latency_seconds if f == 0.5 else self.a.sweep_seconds
            load, st = self.paced_run(top * f, secs)
            row = {"fraction": f, "offered": top * f, "achieved": load["rate"],
                   "seconds": secs, "max_lag_ms": load["max_lag_ms"],
                   "other_share": load["other_share"], "daemon_us": load["daemon_us"],
                   "redis_us": load["redis_us"], **st}
            sweep.append(row)
            log("%3.0f%% %6.0f/s for %ss: p50 %s p99 %s p99.9 %s max %s ms; CPU/incident "
                "daemon %.0f us, Redis %.0f us (generator lag %.1f ms; other load %.0f%%)" % (
                    f * 100, top * f, secs, st["p50"], st["p99"], st["p999"], st["max"],
                    load["daemon_us"], load["redis_us"], load["max_lag_ms"],
                    load["other_share"] * 100))
            if f == 0.5:
                self.res["latency50"] = row
        self.res["sweep"] = sweep

    def hup(self, path, others):
        """Swap path in as the daemon's rules, SIGHUP, wait for the swap.
        Returns (time of the kill, time of the swap by the daemon's clock,
        the CpuWindow between them)."""
        pid = self.d.proc.pid
        staged = self.d.rules + ".new"
        shutil.copy(path, staged)
        before = self.metrics()
        ok0 = before.get('gridroute_rules_reloads_total{result="success"}', 0)
        bad0 = before.get('gridroute_rules_reloads_total{result="failure"}', 0)
        os.replace(staged, self.d.rules)
        win = CpuWindow(pid, self.srv.proc.pid, *others).__enter__()
        t_hup = time.time()
        os.kill(pid, signal.SIGHUP)

        def reloaded():
            m = self.metrics()
            if m.get('gridroute_rules_reloads_total{result="failure"}', 0) > bad0:
                raise SystemExit("perf: the reload failed: see %s" % self.d.log_path)
            return m if m.get('gridroute_rules_reloads_total{result="success"}', 0) > ok0 else None
        m = wait_for(reloaded, 120, "the reload to finish")
        win.__exit__()
        return t_hup, m["gridroute_rules_last_reload_success_timestamp_seconds"], win

    def phase_reload(self):
        """Two reloads under a steady load: the bench's rules grow to the
        big file (everything changes), then, the baseline taken on the big
        rules, the big file with one policy's ack_within edited, the way an
        admin reloads: that second one is the table's figure."""
        rate = self.a.reload_rate
        log("== 4. SIGHUP reloads of %s under %d/s" % (os.path.basename(self.a.reload_rules), rate))
        pid = self.d.proc.pid
        edited = os.path.join(self.tmp, "edited-rules.yaml")
        with open(self.a.reload_rules, encoding="utf-8") as f:
            text = f.read()
        text, n = re.subn(r"(?m)^    ack_within: .*$", "    ack_within: 20m", text, count=1)
        if n != 1:
            raise SystemExit("perf: %s: no policy to edit" % self.a.reload_rules)
        with open(edited, "w", encoding="utf-8") as f:
            f.write(text)
        after = self.last_assignment()
        load = self.spawn("load", self.srv.port, "--rules", self.a.rules, "--seed", SEED,
                          "--first", self.numbers(int(rate * 600)), "--rate", rate,
                          "--seconds", 600)
        base_s = self.a.reload_baseline
        # measuring periods below, not waits for a condition
        time.sleep(1)
        g_hup, g_done, g_win = self.hup(self.a.reload_rules, [load.pid])
        hwm_grow = proc_status_kib(pid, "VmHWM")
        t_base = time.time() + 0.5
        time.sleep(base_s + 0.5)
        t_hup, t_done, win = self.hup(edited, [load.pid])
        logged = self.logged_reload_ms()
        hwm = proc_status_kib(pid, "VmHWM")
        time.sleep(base_s)
        load.send_signal(signal.SIGTERM)
        ld = self.collect(load, 120, "grbench load")
        # the windows, in input entry times (Redis's clock, ms)
        def ms(t):
            return int(t * 1000)
        lat = self.grbench("latency", self.srv.port, "--after", after, "--count", ld["sent"],
                           "--timeout", 120,
                           "--span", "grow:%d:%d" % (ms(g_hup), ms(g_done) + 1),
                           "--span", "baseline:%d:%d" % (ms(t_base), ms(t_hup) - 1),
                           "--span", "reload:%d:%d" % (ms(t_hup), ms(t_done) + 1),
                           "--span", "after:%d:%d" % (ms(t_done) + 2, ms(time.time())))
        res = {"units": self.a.reload_units, "rate": rate,
               "reload_ms": (t_done - t_hup) * 1000.0, "logged_ms": logged,
               "grow_ms": (g_done - g_hup) * 1000.0, "grow": lat["grow"],
               "grow_other_share": g_win.other_share,
               "vmhwm_kib_after_grow": hwm_grow, "vmhwm_kib_after_reload": hwm,
               "sent": ld["sent"], "max_lag_ms": ld["max_lag_ms"],
               "baseline": lat["baseline"], "reload": lat["reload"], "after": lat["after"],
               "other_share": win.other_share}
        self.res["reload"] = res
        log("reload 10k -> 100k units %.0f ms (gap %s ms, worst latency %s ms); "
            "100k -> 100k, one policy edited: %.0f ms" % (
                res["grow_ms"], res["grow"].get("max_gap"), res["grow"].get("max"),
                res["reload_ms"]))
        log("during the second: longest gap between assignments %s ms (baseline %s ms), "
            "worst latency %s ms (baseline p99 %s, max %s ms)" % (
                res["reload"].get("max_gap"), res["baseline"].get("max_gap"),
                res["reload"].get("max"), res["baseline"].get("p99"), res["baseline"].get("max")))

    def logged_reload_ms(self):
        """ms= of the event=reloaded line, when the log level lets it through."""
        try:
            with open(self.d.log_path, errors="replace") as f:
                found = [l for l in f if "event=reloaded" in l]
        except OSError:
            return None
        mt = re.search(r"\bms=(\d+)", found[-1]) if found else None
        return int(mt.group(1)) if mt else None

    def phase_deadlines(self):
        n = min(self.a.deadlines, self.r.zcard("gr:open"))
        log("== 5. %d deadlines due at one instant" % n)
        shutil.copy(self.a.rules, self.d.rules)  # back to the bench's rules for the restart
        rc = self.d.stop()
        if rc != 0:
            raise SystemExit("perf: the daemon exited with %s on SIGTERM" % rc)
        lead_ms = self.a.deadline_lead_ms
        t = int(time.time() * 1000) + lead_ms
        script = """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, id in ipairs(ids) do
  redis.call('HSET', ARGV[3] .. id, 'ack_deadline', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], id)
end
return #ids"""
        got = self.r.eval(script, 2, "gr:open", "gr:due", n, t, "gr:inc:")
        self.d.start(wait_ready=False)
        wait_for(self.ready, 30, "/readyz after the restart")
        ready_at = time.time() * 1000
        if ready_at > t:
            log("WARNING: the daemon was ready %.0f ms after T; raise --deadline-lead-ms" %
                (ready_at - t))
        hwm_ready = proc_status_kib(self.d.proc.pid, "VmHWM")
        c0, rc0 = cpu_seconds(self.d.proc.pid), cpu_seconds(self.srv.proc.pid)
        wait_for(lambda: time.time() * 1000 >= t, lead_ms / 1000 + 5, "T")
        wait_for(lambda: self.r.zcount("gr:due", "-inf", t) == 0 or self.d.proc.poll() is not None,
                 600, "every deadline due at T to be handled")
        took_ms = time.time() * 1000 - t
        if self.d.proc.poll() is not None:
            raise SystemExit("perf: the daemon exited with %s" % self.d.proc.returncode)
        m = self.metrics()
        esc = sum(v for k, v in m.items() if k.startswith("gridroute_escalations_total"))
        redis_cpu = cpu_seconds(self.srv.proc.pid) - rc0
        res = {"deadlines": got, "seconds": took_ms / 1000.0, "escalated": esc,
               "redis_us_per_deadline": redis_cpu / max(1, got) * 1e6,
               "breached": m.get("gridroute_breaches_total", 0),
               "cpu_s": cpu_seconds(self.d.proc.pid) - c0,
               "redis_cpu_s": cpu_seconds(self.srv.proc.pid) - rc0,
               "vmhwm_kib_at_ready": hwm_ready,
               "vmhwm_kib": proc_status_kib(self.d.proc.pid, "VmHWM"),
               "ready_before_t_ms": t - ready_at}
        self.res["deadlines"] = res
        log("%d deadlines handled in %.2fs: %d escalated, %d breached; CPU daemon %.2fs, "
            "Redis %.2fs" % (got, res["seconds"], esc, res["breached"], res["cpu_s"],
                             res["redis_cpu_s"]))

    # -- 6. districts: one Redis, then a Redis Cluster ----------------------------
    def drain_districts(self, label, nodes, seeds=None):
        """nodes: (prefix, redis-server) per district, where its backlog is
        prefilled; one daemon per district (with seeds: on the cluster), all
        started together. The total rate: every incident over the time from
        the first assignment of any district to the last of all."""
        per = self.a.cluster_incidents // len(nodes)
        for k, (prefix, srv) in enumerate(nodes):
            self.grbench("load", srv.port, "--rules", self.a.rules, "--seed", SEED, "--first",
                         k * per, "--count", per, "--prefix", prefix, "--window", 2048)
        daemons = []
        for k, (prefix, srv) in enumerate(nodes):
            extra = {"redis": {"cluster": seeds}} if seeds else {}
            daemons.append(Daemon(self.tmp, srv.port, name="%s-%d" % (label, k),
                                  rules=self.a.rules, prefix=prefix,
                                  log={"format": "logfmt", "level": "warn"},
                                  http={"listen": ""}, limits=dict(LIMITS), **extra))
        pids = [srv.proc.pid for _, srv in nodes]
        try:
            for d in daemons:
                d.start(wait_ready=False)

            def added(prefix, srv):
                try:
                    return int(srv.client().xinfo_stream(prefix + "out:assignments")[
                        "entries-added"])
                except redis.ResponseError:
                    return 0
            with CpuWindow(*pids, *[d.proc.pid for d in daemons]) as win:
                wait_for(lambda: all(added(p, srv) >= per or d.proc.poll() is not None
                                     for (p, srv), d in zip(nodes, daemons)),
                         1800, "%d assignments in every district" % per)
            for d in daemons:
                if d.proc.poll() is not None:
                    raise SystemExit("perf: %s exited with %s" % (d.name, d.proc.returncode))
            first, last, rates, dead = [], [], [], 0
            for prefix, srv in nodes:
                r = srv.client()
                a = id_ms(r.xrange(prefix + "out:assignments", count=1)[0][0])
                b = id_ms(r.xrevrange(prefix + "out:assignments", count=1)[0][0])
                first.append(a)
                last.append(b)
                rates.append(per / max(1, b - a) * 1000.0)
                dead += r.xlen(prefix + "deadletter")
                if r.xlen(prefix + "out:assignments") != per or r.zcard(prefix + "open") != per:
                    raise SystemExit("perf: %s: %s assignments and %s open, %d expected" % (
                        prefix, r.xlen(prefix + "out:assignments"), r.zcard(prefix + "open"),
                        per))
        finally:
            for d in daemons:
                d.stop()
        span = max(1, max(last) - min(first))
        res = {"incidents": per * len(nodes), "districts": len(nodes),
               "rate": per * len(nodes) / span * 1000.0, "span_ms": span,
               "district_rates": rates, "deadletters": dead, "other_share": win.other_share}
        log("%s: %d districts, %d incidents drained at %.0f/s in all (%s per district; "
            "other load %.0f%%)" % (label, len(nodes), res["incidents"], res["rate"],
                                    ", ".join("%.0f/s" % x for x in rates),
                                    win.other_share * 100))
        return res

    def phase_districts(self):
        log("== 6. three districts: one Redis, then a 3-primary Redis Cluster, %d incidents" %
            self.a.cluster_incidents)
        one = BenchRedis(self.tmp, "redis-d").start()
        try:
            prefixes = ["gr:{%s}:" % t for t in ("xifeng", "beilin", "xihu")]
            self.res["one_redis"] = self.drain_districts("one", [(p, one) for p in prefixes])
        finally:
            one.stop()
        path = os.path.join(self.tmp, "cluster")
        os.makedirs(path)
        # no replicas: this measures the drain, not a failover; a long node timeout,
        # so that a node the busy machine starves for a moment is not taken for dead
        cl = RedisCluster(path, primaries=3, replicas=0, node_timeout_ms=15000).start()
        try:
            tags = cl.tags_on_distinct_primaries(3)
            nodes = [("gr:{%s}:" % t, cl.owner(cl.keyslot("{%s}" % t))) for t in tags]
            self.res["cluster"] = self.drain_districts("cluster", nodes, seeds=cl.seeds())
        finally:
            cl.stop()

    def run(self):
        t0 = time.monotonic()
        self.res["started"] = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC")
        try:
            if not self.a.districts_only:
                self.phase_ceiling()
                self.phase_minimal()
                self.phase_sustained()
                self.phase_latency()
                self.phase_reload()
                self.phase_deadlines()
                self.d.stop()
                self.srv.stop()
                self.d = self.srv = None
            self.phase_districts()
        finally:
            if getattr(self, "d", None) is not None:
                self.d.stop()
            if getattr(self, "srv", None) is not None:
                self.srv.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.res["wall_s"] = time.monotonic() - t0
        self.res["machine"] = machine()
        self.res["config"] = {"incidents": self.a.incidents, "units": self.a.units,
                              "ceiling_incidents": self.a.ceiling_incidents,
                              "cluster_incidents": self.a.cluster_incidents,
                              "limits": LIMITS, "redis": "default settings"}


def machine():
    def cmd(*c):
        try:
            return subprocess.run(c, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  cwd=ROOT).stdout.decode().strip()
        except OSError:
            return ""
    model = ""
    for line in cmd("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    dirty = cmd("git", "status", "--porcelain", "--untracked-files=no", "--", "src", "include")
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "redis": cmd("redis-server", "--version").split(" ")[2].replace("v=", ""),
            "commit": (cmd("git", "rev-parse", "--short", "HEAD") or "(no git)") +
            ("+dirty" if dirty else "")}


def fmt_int(v):
    return "{:,}".format(int(round(v)))


def verdict(ok):
    return "yes" if ok else "**no**"


def districts_rows(res):
    one, cl = res["one_redis"], res["cluster"]
    return [
        ("drain of %s incidents over 3 districts, a daemon each, one Redis" % fmt_int(
            one["incidents"]), "%s incidents/s" % fmt_int(one["rate"]), "", ""),
        ("the same on a 3-primary Redis Cluster, one district per primary",
         "%s incidents/s" % fmt_int(cl["rate"]), "", ""),
        ("cluster ÷ one Redis (on 2 shared cores: see the note)", "%.2f" % (
            cl["rate"] / one["rate"]), "", ""),
    ]


DISTRICTS_NOTE = ("The district rows: on this 2-core machine one Redis runs all three "
                  "districts' steps on one core while the daemons take the other; the "
                  "cluster's three primaries share the same two cores with the three daemons "
                  "and the load generator, so the cluster gains only what is left of the "
                  "second core. They show three districts draining correctly side by side on "
                  "a cluster (every incident assigned once, no dead letter), not how a "
                  "cluster of three machines scales.")


def districts_table(res):
    out = ["| measure | result | target | met |", "|---|---:|---|---|"]
    out += ["| %s | %s | %s | %s |" % r for r in districts_rows(res)]
    m = res["machine"]
    out.append("")
    out.append("%s, commit %s; %d × %s; Redis %s; other load: one Redis %.0f%%, cluster "
               "%.0f%%. %s" % (res["started"], m["commit"], m["cpus"], m["cpu"], m["redis"],
                               res["one_redis"]["other_share"] * 100,
                               res["cluster"]["other_share"] * 100, DISTRICTS_NOTE))
    return "\n".join(out) + "\n"


def table(res):
    if "sustained" not in res:
        return districts_table(res)
    s, c, l50 = res["sustained"], res["ceiling"], res["latency50"]
    rl, dl, mn = res["reload"], res["deadlines"], res["minimal"]
    ratio = s["part_rate"] / c["rate"]
    mratio = s["part_rate"] / mn["rate"]
    redis_us = s["redis_cpu_per_1000"] * 1000
    rss_mib = s["vmhwm_kib"] / 1024.0
    stall = rl["reload"].get("max_gap", 0)
    rows = [
        ("sustained throughput, daemon (backlog of %s)" % fmt_int(s["incidents"]),
         "%s incidents/s" % fmt_int(s["rate"]), "", ""),
        ("daemon over the first %s of them" % fmt_int(c["entries"]),
         "%s incidents/s" % fmt_int(s["part_rate"]), "", ""),
        ("Redis-only ceiling, the same %s (same commands, no daemon)" % fmt_int(c["entries"]),
         "%s incidents/s" % fmt_int(c["rate"]), "", ""),
        ("daemon ÷ ceiling", "%.0f%%" % (ratio * 100), "≥ 80%",
         verdict(ratio >= TARGETS["ratio"])),
        ("minimal router, the same %s (HSET, ZADD, 2 XADD, PUBLISH, XACK per incident)" %
         fmt_int(mn["entries"]), "%s incidents/s" % fmt_int(mn["rate"]), "", ""),
        ("daemon ÷ minimal router", "%.2f" % mratio, "≥ 0.8",
         verdict(mratio >= TARGETS["minimal_ratio"])),
        ("Redis CPU per routed incident (backlog drain)", "%.1f µs" % redis_us, "≤ 15 µs",
         verdict(redis_us <= TARGETS["redis_us_per_incident"])),
        ("Redis CPU per incident: ceiling / minimal router",
         "%.1f / %.1f µs" % (c["redis_cpu_per_1000"] * 1000, mn["redis_cpu_per_1000"] * 1000),
         "", ""),
        ("Redis memory per open incident, output streams left out (used_memory)",
         "%s bytes" % fmt_int(s["bytes_per_incident"]), "≤ 1,536 bytes",
         verdict(s["bytes_per_incident"] <= TARGETS["bytes_per_incident"])),
        ("Redis memory per open incident with the output streams",
         "%s bytes" % fmt_int(s["bytes_per_incident_with_out"]), "", ""),
        ("latency at 50%% of max (%s/s for %ss): p50 / p99 / p99.9" % (
            fmt_int(l50["offered"]), fmt_int(l50["seconds"])),
         "%d / %d / %d ms" % (l50["p50"], l50["p99"], l50["p999"]), "p99 ≤ 5 ms",
         verdict(l50["p99"] <= TARGETS["p99_ms"])),
        ("%s deadlines due at once: all handled in" % fmt_int(dl["deadlines"]),
         "%.2f s" % dl["seconds"], "≤ 3 s", verdict(dl["seconds"] <= TARGETS["deadlines_s"])),
        ("Redis CPU per escalation (those deadlines)", "%.1f µs" % dl["redis_us_per_deadline"],
         "", ""),
        ("daemon CPU per 1,000 incidents (sustained run)", "%.3f s" % s["cpu_per_1000"], "", ""),
        ("daemon peak RSS (VmHWM) with %s open incidents" % fmt_int(s["open_incidents"]),
         "%.1f MiB" % rss_mib, "≤ 32 MiB", verdict(rss_mib <= TARGETS["rss_mib"])),
        ("SIGHUP reload, %s-unit rules (one policy edited)" % fmt_int(rl["units"]),
         "%s ms" % fmt_int(rl["reload_ms"]),
         "≤ 500 ms", verdict(rl["reload_ms"] <= TARGETS["reload_ms"])),
        ("longest intake stall during it (at %s/s; baseline %s ms)" % (
            fmt_int(rl["rate"]), rl["baseline"].get("max_gap", "-")),
         "%s ms" % stall, "≤ reload", verdict(stall <= rl["reload_ms"])),
        ("worst latency during the reload (baseline p99 / max)",
         "%s ms (%s / %s ms)" % (rl["reload"].get("max", "-"), rl["baseline"].get("p99", "-"),
                                 rl["baseline"].get("max", "-")), "", ""),
        ("before it, from %s to %s units (all changed): reload; stall; worst latency" % (
            fmt_int(res["config"]["units"]), fmt_int(rl["units"])),
         "%s ms; %s ms; %s ms" % (fmt_int(rl["grow_ms"]), rl["grow"].get("max_gap", "-"),
                                  rl["grow"].get("max", "-")), "", ""),
    ]
    ok = [w for w in res["sweep"] if w["p99"] <= TARGETS["p99_ms"]]
    best = max(ok, key=lambda w: w["offered"]) if ok else None
    rows.insert(11, ("highest offered rate of the sweep with p99 ≤ 5 ms",
                    "%s/s (%.0f%% of max)" % (fmt_int(best["offered"]), best["fraction"] * 100)
                    if best else "none", "", ""))
    rows += districts_rows(res)
    m = res["machine"]
    out = ["| measure | result | target | met |", "|---|---:|---|---|"]
    out += ["| %s | %s | %s | %s |" % r for r in rows]
    out.append("")
    out.append("%s, commit %s; %d × %s, %d GiB, Linux %s; Redis %s; whole run %.0f s." % (
        res["started"], m["commit"], m["cpus"], m["cpu"], m["mem_gib"], m["kernel"], m["redis"],
        res["wall_s"]))
    out.append("Other load on the machine (CPU not used by Redis, the daemon or the bench), "
               "in %% of all CPUs: ceiling %.0f%%, minimal router %.0f%%, daemon %.0f%% "
               "(first %s: %.0f%%), latency at 50%% %.0f%%, reload %.0f%%." % (
                   c["other_share"] * 100, mn["other_share"] * 100, s["other_share"] * 100,
                   fmt_int(c["entries"]),
                   s["part_other_share"] * 100, l50["other_share"] * 100,
                   rl["other_share"] * 100))
    out.append(DISTRICTS_NOTE)
    return "\n".join(out) + "\n"


def write_outputs(res, out):
    os.makedirs(out, exist_ok=True)
    md = table(res)
    if "sustained" not in res:
        # --districts-only: beside the last whole run's results, not over them
        with open(os.path.join(out, "districts.md"), "w") as f:
            f.write(md)
        with open(os.path.join(out, "districts.json"), "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
            f.write("\n")
        return md
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out, "sweep.dat"), "w") as f:
        f.write("# offered/s achieved/s fraction p50_ms p99_ms p99.9_ms max_ms seconds "
                "daemon_us redis_us\n")
        for w in res["sweep"]:
            f.write("%.0f %.0f %.2f %d %d %d %d %s %.0f %.0f\n" % (
                w["offered"], w["achieved"], w["fraction"], w["p50"], w["p99"], w["p999"],
                w["max"], w["seconds"], w["daemon_us"], w["redis_us"]))
        f.write("# target_p99_ms %s commit %s started %s\n" % (
            TARGETS["p99_ms"], res["machine"]["commit"], res["started"].replace(" ", "_")))
    return md


BEGIN, END = "<!-- bench-results: begin -->", "<!-- bench-results: end -->"


def update_doc(doc, results):
    """Put results (the table of the last run) between the markers in doc."""
    with open(results, encoding="utf-8") as f:
        table_md = f.read()
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    a, b = text.find(BEGIN), text.find(END)
    if a < 0 or b < a:
        raise SystemExit("perf: %s has no %s ... %s markers" % (doc, BEGIN, END))
    text = text[:a + len(BEGIN)] + "\n" + table_md + text[b:]
    with open(doc, "w", encoding="utf-8") as f:
        f.write(text)
    print("perf: %s: the table of %s put in" % (doc, results))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--update-doc":
        return update_doc(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="perf.py --update-doc DOC RESULTS_MD: put the table "
                                 "of a run into DOC, between its bench-results markers")
    ap.add_argument("--grbench", default=os.path.join(HERE, "out", "grbench"))
    ap.add_argument("--rules", required=True, help="the bench's rules (10,000 units)")
    ap.add_argument("--reload-rules", required=True, help="the rules for the reload (100,000 units)")
    ap.add_argument("--incidents", type=int, default=1000000,
                    help="the daemon's backlog: also the open incidents afterwards")
    ap.add_argument("--ceiling-incidents", type=int, default=500000,
                    help="the ceiling's incidents: the first so many of the daemon's, and "
                    "the daemon's rate over those is the one compared")
    ap.add_argument("--deadlines", type=int, default=100000)
    ap.add_argument("--latency-seconds", type=float, default=10)
    ap.add_argument("--sweep-seconds", type=float, default=3)
    ap.add_argument("--reload-rate", type=int, default=2000)
    ap.add_argument("--reload-baseline", type=float, default=3,
                    help="seconds of steady load before the HUP and after the reload")
    ap.add_argument("--deadline-lead-ms", type=int, default=2500,
                    help="T is this far after the rewrite (the daemon restarts meanwhile)")
    ap.add_argument("--live-reader", action="store_true",
                    help="read the assignments during the latency runs, not after them")
    ap.add_argument("--cluster-incidents", type=int, default=300000,
                    help="phase 6: the incidents over the three districts")
    ap.add_argument("--districts-only", action="store_true",
                    help="phase 6 alone: three districts on one Redis and on a Redis Cluster")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    args.units = units_of(args.rules)
    args.reload_units = units_of(args.reload_rules)
    if args.incidents < 1000:
        ap.error("--incidents: at least 1000")
    args.ceiling_incidents = max(1000, min(args.ceiling_incidents, args.incidents))

    b = Bench(args)
    b.run()
    md = write_outputs(b.res, args.out)
    print()
    print(md, end="")
    if args.districts_only:
        print("\n(written to %s and districts.json)" % os.path.join(args.out, "districts.md"))
    else:
        print("\n(written to %s and results.json; the sweep to sweep.dat)" % (
            os.path.join(args.out, "results.md")))


def units_of(path):
    """The unit count from gen_rules.py's header comment, for the table."""
    with open(path, encoding="utf-8") as f:
        head = f.readline() + f.readline()
    mt = re.search(r"--units (\d+)", head)
    return int(mt.group(1)) if mt else None


if __name__ == "__main__":
    main()
