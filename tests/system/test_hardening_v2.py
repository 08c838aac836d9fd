"""Issue 11, tried again as an attacker and a careless backend would: each
test here failed on the code before its fix. Valid input that was refused
(leap seconds, numbers of any size), times outside 1970..9999, rules files
that are FIFOs or nested 150,000 deep, a reload that must not hold up
SIGTERM, YAML tags and raw line breaks in diagnostics, idle HTTP
connections under a low file limit, and a server on the Redis port that
answers +OK to everything."""
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (GRIDCTL, GRIDROUTED, RULES, SLOW, VALGRIND, Daemon, RedisServer,
                      assignments, deadletters, free_port, wait_for)

G03 = "xifeng/beijie/beidajie/g03"
GOOD = {"category": "urban_management", "unit": G03, "title": "井盖缺失",
        "attrs": {"speed": "slow"}}


def doc_of(r, inc):
    """The stored document: gr:doc:<id> (v2 layout) or the hash field doc (v1)."""
    return r.get("gr:doc:" + inc) if r.type("gr:doc:" + inc) == "string" else \
        r.hget("gr:inc:" + inc, "doc")


def body(**fields):
    doc = dict(GOOD)
    doc.update(fields)
    return json.dumps(doc, ensure_ascii=False)


# ---- point 7: valid input refused, and times outside 1970..9999 ----------------


def test_leap_second_and_big_numbers_are_routed_and_kept_as_written(r, daemon):
    raw = body(reported_at="2016-12-31T23:59:60Z", due_at="2099-06-30T23:59:60.5Z")
    raw = raw[:-1] + (',"serial":123456789012345678901234567890,"reading":1e999,'
                      '"nested":{"n":[-1E+400,18446744073709551616]}}')
    e = r.xadd("gr:in:patrol", {"incident": raw})
    inc = "patrol-" + e
    wait_for(lambda: [a for a in assignments(r) if a["incident"] == inc], 10, "routed")
    assert deadletters(r) == []
    doc = doc_of(r, inc)
    for kept in ('"serial":123456789012345678901234567890', '"reading":1e999',
                 '"nested":{"n":[-1E+400,18446744073709551616]}',
                 '"reported_at":"2016-12-31T23:59:59.999Z"',
                 '"due_at":"2099-06-30T23:59:59.999Z"'):
        assert kept in doc, (kept, doc)


@pytest.mark.parametrize("field,value", [
    ("due_at", "0001-01-01T00:00:00Z"),
    ("due_at", "1969-12-31T23:59:59.999Z"),
    ("reported_at", "1970-01-01T07:59:59+08:00"),
    ("due_at", "9999-12-31T23:59:59-01:00"),
    ("reported_at", "2026-11-26T12:00:60Z"),
])
def test_times_outside_the_range_are_invalid_field(r, daemon, field, value):
    e = r.xadd("gr:in:patrol", {"incident": body(**{field: value})})
    dl = wait_for(lambda: deadletters(r), 10, "the dead letter")[0]
    assert dl["entry"] == e and dl["reason"] == "invalid_field", dl
    assert field in dl["error"] and "1970-01-01T00:00:00Z" in dl["error"], dl["error"]
    assert not r.exists("gr:inc:patrol-" + e) and r.zcard("gr:due") == 0


def test_gridctl_submit_takes_big_numbers_without_a_warning(r, server, tmp):
    path = os.path.join(tmp, "big.json")
    with open(path, "w") as f:
        f.write(body(id="big-1", dedup_key="k-1")[:-1] + ',"n":1e999}')
    p = subprocess.run([GRIDCTL, "--redis", "127.0.0.1:%d" % server.port, "submit", "patrol",
                        path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr  # not "is not valid JSON; the daemon will dead-letter it"
    assert "incident big-1" in p.stdout


# ---- point 4: rules that are not a file, nested too deep; SIGTERM during a reload -----


def run(*args, timeout=30):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


def deep_rules(path, depth=150000):
    with open(path, "w") as f:
        f.write("version: 1\nlevels: " + "[" * depth + "]" * depth + "\n")


@pytest.fixture
def daemons():
    """Daemons a test starts and stops itself; none is left running whatever happens."""
    started = []
    yield started
    for d in started:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def stop_within(d, seconds):
    """SIGTERM, and the exit code once the daemon is gone: it must be gone in time."""
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    rc = d.proc.wait(seconds * SLOW)  # raises TimeoutExpired when it hangs
    d.logf.close()
    return rc, time.monotonic() - t0


def test_rules_fifo_refused_everywhere_and_sigterm_not_held_up(r, tmp, server, daemons):
    fifo = os.path.join(tmp, "fifo-rules.yaml")
    os.mkfifo(fifo)
    # gridctl check and gridrouted --check: at once, not blocked in open(2)
    p = run(GRIDCTL, "check", fifo, timeout=10)
    assert p.returncode == 1 and "a FIFO, not a regular file" in p.stderr, p.stderr
    d = Daemon(tmp, server.port)
    daemons.append(d)
    with open(d.config) as f:
        cfg = json.load(f)
    cfg["rules"] = fifo
    bad_cfg = os.path.join(tmp, "fifo.yaml")
    with open(bad_cfg, "w") as f:
        json.dump(cfg, f)
    p = run(GRIDROUTED, "--check", "-c", bad_cfg, timeout=10)
    assert p.returncode == 1 and fifo + ": error: cannot read: a FIFO" in p.stderr, p.stderr
    # the daemon refuses to start on it
    p = run(GRIDROUTED, "-c", bad_cfg, timeout=10)
    assert p.returncode == 1 and "a FIFO, not a regular file" in p.stderr, p.stderr

    # a running daemon whose rules become a FIFO: SIGHUP fails at once, SIGTERM is obeyed
    d.start()
    os.replace(fifo, d.rules)
    d.kill(signal.SIGHUP)
    wait_for(lambda: d.events("reload_failed"), 5, "the reload to fail")
    diags = [l["diagnostic"] for l in d.events("rules_diagnostic")]
    assert any("a FIFO, not a regular file" in x for x in diags), diags
    # and later reloads are not stuck behind it
    os.remove(d.rules)
    shutil.copy(RULES, d.rules)
    d.kill(signal.SIGHUP)
    wait_for(lambda: d.events("reloaded"), 10, "the next reload")
    e = r.xadd("gr:in:patrol", {"incident": body()})
    wait_for(lambda: [a for a in assignments(r) if a["incident"] == "patrol-" + e], 10, "routed")
    os.remove(d.rules)
    os.mkfifo(d.rules)
    d.kill(signal.SIGHUP)
    rc, took = stop_within(d, 5)
    assert rc == 0 and took < 5, (rc, took)


def test_rules_nested_150000_deep_refused_fast(r, tmp, server, daemons):
    deep = os.path.join(tmp, "deep.yaml")
    deep_rules(deep)
    t0 = time.monotonic()
    p = run(GRIDCTL, "check", deep, timeout=30)
    assert time.monotonic() - t0 < 5
    assert p.returncode == 1
    assert p.stderr.strip() == deep + ":2:108: error: invalid YAML: collections nested more " \
        "than 100 deep", p.stderr

    d = Daemon(tmp, server.port)
    daemons.append(d)
    d.start()
    shutil.copy(deep, d.rules)
    d.kill(signal.SIGHUP)
    wait_for(lambda: d.events("reload_failed"), 5, "the reload to fail, fast")
    d.kill(signal.SIGHUP)  # a second one while nothing else is left to do
    rc, took = stop_within(d, 5)
    assert rc == 0 and took < 5, (rc, took)


# ---- point 9: YAML tags and raw line breaks in diagnostics --------------------------


def test_yaml_tags_refused_in_rules_and_config(tmp, server):
    rules = os.path.join(tmp, "tagged-rules.yaml")
    with open(RULES) as f:
        text = f.read()
    assert "\nversion: 1\n" in "\n" + text
    with open(rules, "w") as f:
        f.write(("\n" + text).replace("\nversion: 1\n",
                                      "\nversion: !!python/object:os.system 1\n", 1)[1:])
    line = text.split("\n").index("version: 1") + 1
    p = run(GRIDCTL, "check", rules)
    assert p.returncode == 1
    assert "%s:%d:10: error: YAML tags are not allowed (\"!!python/object:os.system\")" % (
        rules, line) in p.stderr, p.stderr

    d = Daemon(tmp, server.port)
    with open(d.config) as f:
        cfg = json.load(f)
    yaml_cfg = os.path.join(tmp, "tagged.yaml")
    with open(yaml_cfg, "w") as f:
        f.write("prefix: !foo \"gr:\"\nconsumer: !!str c1\nrules: %s\n"
                "redis: {host: 127.0.0.1, port: %d}\n" % (cfg["rules"], server.port))
    p = run(GRIDROUTED, "--check", "-c", yaml_cfg)
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        yaml_cfg + ':1:9: error: YAML tags are not allowed ("!foo"): write the value alone',
        yaml_cfg + ':2:11: error: YAML tags are not allowed ("!!str"): write the value alone'
    ], p.stderr


def test_config_diagnostic_with_crlf_stays_one_line(tmp, server):
    d = Daemon(tmp, server.port)
    with open(d.config) as f:
        cfg = json.load(f)
    cfg["log\r\nlevel=error event=fake"] = 1  # JSON is YAML: a quoted key with CR LF
    bad = os.path.join(tmp, "crlf.yaml")
    with open(bad, "w") as f:
        json.dump(cfg, f)
    p = run(GRIDROUTED, "--check", "-c", bad)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(bad + ":1:"), p.stderr
    assert 'unknown key "log\\r\\nlevel=error event=fake"' in lines[0], lines


# ---- point 5: file descriptors ------------------------------------------------------


def cpu_seconds(pid):
    """User and system CPU time of a process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_get(addr, path, timeout=2):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data.decode("latin-1")
            data += chunk


def healthy(addr):
    try:
        return http_get(addr, "/healthz").startswith("HTTP/1.0 200")
    except OSError:
        return False


def small_log_events(d, event, limit=4 << 20):
    """d.events(event), failing if the log has grown past limit bytes: a flooding
    daemon writes gigabytes, faster than they could be read."""
    with open(d.log_path, "rb") as f:
        data = f.read(limit + 1)
    assert len(data) <= limit, "the log is over %d bytes: flooded" % limit
    out = []
    for line in data.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == event:
            out.append(rec)
    return out


@pytest.mark.skipif(VALGRIND, reason="valgrind needs descriptors of its own")
def test_idle_http_connections_under_a_low_file_limit(r, tmp, server, daemons):
    """1,100 idle keep-alive connections at ulimit -n 1024 were 10 million log
    lines at 100% CPU and no Redis reconnection; here 400 at 64."""
    nofile, nconn = 64, 400
    addr = "127.0.0.1:%d" % free_port()
    d = Daemon(tmp, server.port, http={"listen": addr}, log={"format": "json", "level": "info"})
    daemons.append(d)
    limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))  # noqa: E731
    d.logf = open(d.log_path, "ab")
    d.proc = subprocess.Popen([GRIDROUTED, "-c", d.config], stderr=d.logf, preexec_fn=limit)
    wait_for(lambda: small_log_events(d, "pending_done"), 10, "the daemon to be ready")
    wait_for(lambda: healthy(addr), 10, "/healthz")

    fds = lambda: len(os.listdir("/proc/%d/fd" % d.proc.pid))  # noqa: E731
    base, socks, stop = fds(), [], threading.Event()
    host, port = addr.rsplit(":", 1)
    for _ in range(nconn):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, int(port)))
        socks.append(s)
    request = b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 1000

    def drip():  # a byte a second (here: every 0.3 s) keeps evhttp's timeout from firing
        i = 0
        while not stop.wait(0.3):
            for s in socks:
                try:
                    s.send(request[i % len(request):i % len(request) + 1])
                except OSError:
                    pass
            i += 1
    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        # the connections pile up against the limit (a quarter of it: 16)
        wait_for(lambda: fds() >= base + nofile // 4 - 1, 10, "the daemon to hold its share")
        size0, cpu0, t0 = os.path.getsize(d.log_path), cpu_seconds(d.proc.pid), time.monotonic()
        # Redis restarts meanwhile: the daemon must find descriptors to reconnect
        ups = len(small_log_events(d, "redis_up"))
        server.stop()
        wait_for(lambda: small_log_events(d, "redis_down"), 10, "redis_down")
        server.start()
        wait_for(lambda: len(small_log_events(d, "redis_up")) >= ups + 2, 20,
                 "both connections back")
        e = r.xadd("gr:in:patrol", {"incident": body()})
        wait_for(lambda: [a for a in assignments(r) if a["incident"] == "patrol-" + e], 10,
                 "routed after the restart")
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(d.proc.pid) - cpu0
        grown = os.path.getsize(d.log_path) - size0
        assert cpu < 0.5 * elapsed, "%.2fs CPU in %.2fs: spinning" % (cpu, elapsed)
        assert grown < 8192, "%d bytes of log in %.2fs" % (grown, elapsed)
        assert d.proc.poll() is None
    finally:
        stop.set()
        dripper.join(5)
        for s in socks:
            s.close()
    # the peers gone, the endpoint serves again
    wait_for(lambda: healthy(addr), 10, "/healthz once the idle peers are gone")
    started = [l for l in d.log_lines() if l.get("event") == "http_listening"]
    assert started and int(started[0]["max_connections"]) == nofile // 4
    assert d.stop() == 0


# ---- point 6: a server on the Redis port that is not Redis --------------------------


class FakeRedis:
    """A TCP server that answers +OK to everything: to every line ("lines"),
    to every read ("reads"), or once on connect and then to every line
    ("greeting"). It counts the connections it got."""

    def __init__(self, mode, port=None):
        self.mode, self.connections = mode, 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port or 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.stopping = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        with conn:
            try:
                if self.mode == "greeting":
                    conn.sendall(b"+OK\r\n")
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    n = 1 if self.mode == "reads" else data.count(b"\r\n")
                    conn.sendall(b"+OK\r\n" * n)
            except OSError:
                return

    def close(self):
        """Stop listening, at once: shutdown(2) wakes the accept(2) that close(2) would not."""
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.mark.parametrize("mode", ["lines", "reads", "greeting"])
def test_a_server_answering_ok_to_everything_does_not_crash_the_daemon(tmp, mode, daemons):
    fake = FakeRedis(mode)
    http = "127.0.0.1:%d" % free_port()
    d = Daemon(tmp, fake.port, http={"listen": http})
    daemons.append(d)
    try:
        d.start(wait_ready=False)
        # several tries each (100 ms, 200 ms, 400 ms ... of backoff): hiredis asserted on the
        # first; one +OK for SELECT and PING together leaves the handshake to its 5 s deadline
        tries = 4 if mode == "reads" else 6
        wait_for(lambda: fake.connections >= tries or d.proc.poll() is not None, 15,
                 "the daemon to try again and again")
        assert d.proc.poll() is None, "gridrouted exited with %s" % d.proc.returncode
        assert not healthy(http) or "503" in http_get(http, "/readyz")[:20]
        down = [l for l in d.log_lines() if l.get("event") in
                ("redis_down", "redis_handshake_failed", "redis_up")]
        # one line per connection (read, write) for the whole outage, none "up"
        assert sorted(l["conn"] for l in down) == ["read", "write"], down
        assert all(l["event"] != "redis_up" for l in down), down
    finally:
        fake.close()
    # a real Redis on that port: the daemon comes up and routes
    real = RedisServer(tmp)
    real.port = fake.port
    real.start()
    try:
        wait_for(lambda: len(d.events("redis_up")) >= 2, 15, "both connections up on Redis")
        rr = real.client()
        e = rr.xadd("gr:in:patrol", {"incident": body()})
        wait_for(lambda: [a for a in assignments(rr) if a["incident"] == "patrol-" + e], 10,
                 "routed")
        assert d.stop() == 0
    finally:
        real.stop()
