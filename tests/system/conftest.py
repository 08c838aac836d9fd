"""System-test harness: a private redis-server on a free port in a temp
dir and the real gridrouted, driven through Redis as a backend would.
Every wait is on a condition with a deadline; nothing sleeps and hopes."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("GRIDROUTE_BUILD", "build"))
GRIDROUTED = os.path.join(BUILD, "gridrouted")
GRIDCTL = os.path.join(BUILD, "gridctl")
RULES = os.path.join(os.path.dirname(__file__), "rules.yaml")
VALGRIND = os.environ.get("GRIDROUTE_VALGRIND") == "1"
SLOW = 10 if VALGRIND else 1  # valgrind runs the daemon about ten times slower


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=10.0, what="condition"):
    """Poll cond() until it returns something truthy; fail after timeout."""
    timeout *= SLOW
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(0.02)


class RedisServer:
    def __init__(self, tmp, appendonly=False, extra=()):
        self.dir = tmp
        self.port = free_port()
        self.appendonly = appendonly
        self.extra = list(extra)  # more redis-server options
        self.proc = None

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--appendonly",
                "yes" if self.appendonly else "no", "--logfile", os.path.join(self.dir, "redis.log")]
        args += self.extra
        self.proc = subprocess.Popen(args)
        r = redis.Redis(port=self.port, decode_responses=True)

        def up():
            try:
                return r.ping()
            except redis.ConnectionError:
                return False
        wait_for(up, 10, "redis-server to answer PING")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)

    def client(self):
        return redis.Redis(port=self.port, decode_responses=True)


class Daemon:
    def __init__(self, tmp, redis_port, name="d1", rules=RULES, **overrides):
        self.tmp = tmp
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        self.rules = os.path.join(tmp, name + "-rules.yaml")
        shutil.copy(rules, self.rules)
        limits = {"batch": 64, "block_ms": 100, "claim_idle_ms": 1000, "max_deliveries": 5,
                  "tick_ms": 50, "max_incident_bytes": 65536}
        limits.update(overrides.pop("limits", {}))
        cfg = {
            "redis": {"host": "127.0.0.1", "port": redis_port},
            "consumer": name,
            "rules": self.rules,
            "http": {"listen": ""},
            "log": {"format": "json", "level": "debug"},
            "limits": limits,
        }
        cfg.update(overrides)
        self.config = os.path.join(tmp, name + ".yaml")
        with open(self.config, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.proc = None

    def start(self, wait_ready=True):
        self.logf = open(self.log_path, "ab")
        cmd = [GRIDROUTED, "-c", self.config]
        if VALGRIND:
            # make valgrind: memory errors and definite leaks make the exit code 1
            cmd = ["valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite",
                   "--error-exitcode=1", "--log-file=%s.valgrind.%%p" % self.log_path] + cmd
        self.proc = subprocess.Popen(cmd, stderr=self.logf)
        if wait_ready:
            wait_for(lambda: self.events("pending_done"), 10 * SLOW, "the daemon to be ready")
        return self

    def valgrind_report(self):
        import glob
        out = ""
        for p in glob.glob(self.log_path + ".valgrind.*"):
            out += open(p).read()
        return out

    def log_lines(self):
        out = []
        with open(self.log_path, "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"raw": line.decode("utf-8", "replace")})
        return out

    def events(self, event):
        return [l for l in self.log_lines() if l.get("event") == event]

    def kill(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10 * SLOW):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="gridroute-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def server(tmp):
    s = RedisServer(tmp).start()
    yield s
    s.stop()


@pytest.fixture
def r(server):
    return server.client()


@pytest.fixture
def daemon(tmp, server):
    d = Daemon(tmp, server.port).start()
    yield d
    rc = d.stop()
    assert rc == 0, "gridrouted exited with %s; log:\n%s%s" % (
        rc, open(d.log_path).read()[-3000:], d.valgrind_report())


def submit(r, channel, incident):
    body = incident if isinstance(incident, str) else json.dumps(incident, ensure_ascii=False)
    return r.xadd("gr:in:" + channel, {"incident": body})


def command(r, **cmd):
    return r.xadd("gr:in:commands", {"command": json.dumps(cmd, ensure_ascii=False)})


def assignments(r):
    return [json.loads(f["assignment"]) for _, f in r.xrange("gr:out:assignments")]


def notifications(r):
    return [json.loads(f["notification"]) for _, f in r.xrange("gr:out:notifications")]


def deadletters(r):
    return [f for _, f in r.xrange("gr:deadletter")]


def timeline(r, inc):
    return [json.loads(e) for e in r.lrange("gr:timeline:" + inc, 0, -1)]


def document(r, inc):
    """The stored normalized incident document (gr:doc:<id>), parsed; None if absent."""
    doc = r.get("gr:doc:" + inc)
    return json.loads(doc) if doc is not None else None


def incident(r, inc):
    return r.hgetall("gr:inc:" + inc)
