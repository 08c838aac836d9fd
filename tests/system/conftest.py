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


def free_cluster_port():
    """A free port p whose cluster bus port, p + 10000, is free too (so p <= 55535)."""
    import random
    while True:
        p = random.randint(20000, 30000)
        try:
            for port in (p, p + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return p
        except OSError:
            continue


class RedisCluster:
    """A Redis Cluster on loopback: primaries x (1 + replicas) redis-servers
    with cluster-enabled, each in a directory of its own under tmp, joined
    by `redis-cli --cluster create`. A short cluster-node-timeout makes a
    failover take about two seconds."""

    def __init__(self, tmp, primaries=3, replicas=1, node_timeout_ms=1000, extra=()):
        self.nodes = []
        for i in range(primaries * (1 + replicas)):
            d = os.path.join(tmp, "node%d" % i)
            os.makedirs(d)
            n = RedisServer(d, extra=[
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms)] + list(extra))
            n.port = free_cluster_port()
            self.nodes.append(n)
        self.replicas = replicas

    def start(self):
        try:
            for n in self.nodes:
                n.start()
            p = subprocess.run(["redis-cli", "--cluster", "create"] +
                               ["127.0.0.1:%d" % n.port for n in self.nodes] +
                               ["--cluster-replicas", str(self.replicas), "--cluster-yes"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            assert p.returncode == 0, p.stdout.decode()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for n in self.nodes:
            n.stop(signal.SIGKILL)

    def seeds(self):
        return ["127.0.0.1:%d" % n.port for n in self.nodes]

    def live(self):
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def node(self, port):
        return next(n for n in self.nodes if n.port == port)

    def shards(self):
        """CLUSTER SHARDS of a live node that answers, as redis-py parses it."""
        for n in self.live():
            try:
                return n.client().execute_command("CLUSTER", "SHARDS")
            except redis.RedisError:
                continue
        return []

    @staticmethod
    def _map(flat):
        it = iter(flat)
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in zip(it, it)}

    def owner(self, slot):
        """The node serving slot as an online primary, or None (none yet)."""
        for shard in self.shards():
            sh = self._map(shard)
            ranges = sh["slots"]
            if not any(ranges[i] <= slot <= ranges[i + 1] for i in range(0, len(ranges), 2)):
                continue
            for node in sh["nodes"]:
                nd = self._map(node)
                if nd["role"] == "master" and nd["health"] == "online":
                    return self.node(nd["port"])
        return None

    def replica_of(self, primary):
        for n in self.live():
            info = n.client().info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == primary.port:
                return n
        return None

    def keyslot(self, key):
        return self.live()[0].client().execute_command("CLUSTER", "KEYSLOT", key)

    def wait_healthy(self, timeout=30):
        """Every live node sees the cluster ok and every replica is in sync."""
        def healthy():
            for n in self.live():
                try:
                    c = n.client()
                    if "cluster_state:ok" not in c.execute_command("CLUSTER", "INFO"):
                        return False
                    info = c.info("replication")
                    if info["role"] == "slave" and info.get("master_link_status") != "up":
                        return False
                except redis.RedisError:
                    return False
            return True
        wait_for(healthy, timeout, "the cluster to be healthy")

    def tags_on_distinct_primaries(self, count, candidates=None):
        """Hash tags whose slots are served by count different primaries."""
        names = candidates or ["xifeng", "beilin", "dongcheng", "nanshan", "xihu", "jinniu",
                               "baiyun", "haidian", "tianhe", "wuhou", "yuelu", "jiangbei"]
        chosen, owners = [], set()
        for t in names:
            o = self.owner(self.keyslot("{%s}" % t))
            if o is not None and o.port not in owners:
                chosen.append(t)
                owners.add(o.port)
            if len(chosen) == count:
                return chosen
        raise AssertionError("no %d hash tags on distinct primaries" % count)

    def migrate_slot(self, slot, dst, batch=10, between=None):
        """Move slot from its owner to dst as redis-cli --cluster reshard
        does, key batch by key batch (between() runs after each batch),
        then tell every primary the new owner."""
        src = self.owner(slot)
        s, d = src.client(), dst.client()
        sid = s.execute_command("CLUSTER", "MYID")
        did = d.execute_command("CLUSTER", "MYID")
        d.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", sid)
        s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", did)
        moved = 0
        while True:
            keys = s.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                break
            s.execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
            if between is not None:
                between()
        for n in [dst, src] + [x for x in self.live() if x not in (src, dst)]:
            if n.client().info("replication")["role"] == "master":
                n.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", did)
        return moved


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
