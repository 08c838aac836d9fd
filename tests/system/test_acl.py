"""conf/redis-acl.conf against a real redis-server (--aclfile) and the real
daemon: gridrouted routes, escalates, dedups, dead-letters and applies
commands with exactly the commands and keys its ACL user grants (a missing
grant shows up in Redis's ACL LOG and as NOPERM in the daemon's log); the
reporter may only add entries to the input streams; the viewer may read and
not write; the operator may also write input and drop dead letters. The
test copy of the ACL file differs from the shipped one only in the
password hashes."""
import hashlib
import json
import os
import re
import subprocess
import threading
import urllib.request

import pytest
import redis

from conftest import (GRIDCTL, ROOT, Daemon, RedisServer, assignments, deadletters, free_port,
                      timeline, wait_for)

ACL = os.path.join(ROOT, "conf", "redis-acl.conf")
PLACEHOLDER = "#" + "0" * 64
G03 = "xifeng/beijie/beidajie/g03"


def password(user):
    return "test-%s-pw" % user


def acl_users(text):
    return [l.split()[1] for l in text.splitlines() if l.startswith("user ")]


def write_test_acl(tmp):
    """The shipped file with a known password for each user instead of the placeholder."""
    out = []
    with open(ACL) as f:
        for line in f.read().splitlines():
            m = re.match(r"user (\S+) ", line)
            if m and PLACEHOLDER in line.split():
                digest = hashlib.sha256(password(m.group(1)).encode()).hexdigest()
                line = line.replace(PLACEHOLDER, "#" + digest)
            out.append(line)
    path = os.path.join(tmp, "users.acl")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def password_file(tmp, user):
    path = os.path.join(tmp, user + ".pw")
    with open(path, "w") as f:
        f.write(password(user) + "\n")
    os.chmod(path, 0o600)
    return path


class AclRedis(RedisServer):
    """A private redis-server whose users come from an ACL file."""

    def __init__(self, tmp, aclfile):
        super().__init__(tmp)
        self.aclfile = aclfile

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--appendonly", "no",
                "--aclfile", self.aclfile, "--logfile", os.path.join(self.dir, "redis.log")]
        self.proc = subprocess.Popen(args)
        anon = redis.Redis(port=self.port)

        def up():
            assert self.proc.poll() is None, "redis-server exited: %s" % self.log()
            try:
                return anon.ping()
            except redis.AuthenticationError:
                return True  # NOAUTH: it answers, and the default user is off
            except redis.ConnectionError:
                return False
        wait_for(up, 10, "redis-server to answer")
        return self

    def log(self):
        with open(os.path.join(self.dir, "redis.log")) as f:
            return f.read()[-2000:]

    def client(self, user="admin"):
        return redis.Redis(port=self.port, username=user, password=password(user),
                           decode_responses=True)


@pytest.fixture
def acl_server(tmp):
    s = AclRedis(tmp, write_test_acl(tmp)).start()
    yield s
    s.stop()


@pytest.fixture
def admin(acl_server):
    return acl_server.client("admin")


@pytest.fixture
def reporter(acl_server):
    return acl_server.client("reporter")


@pytest.fixture
def viewer(acl_server):
    return acl_server.client("viewer")


def denied(admin, user):
    """Redis's own record of what it refused this user."""
    out = []
    for e in admin.execute_command("ACL", "LOG"):
        # redis-py returns a dict per entry (or a flat list with older versions)
        if isinstance(e, list):
            e = dict(zip(e[::2], e[1::2]))
        if e.get("username") == user:
            out.append(e)
    return out


def start_daemon(tmp, server, **kw):
    http = "127.0.0.1:%d" % free_port()
    d = Daemon(tmp, server.port,
               redis={"host": "127.0.0.1", "port": server.port, "username": "gridrouted",
                      "password_file": password_file(tmp, "gridrouted")},
               http={"listen": http}, **kw)
    d.http = http
    return d.start()


def check_daemon_clean(d, admin):
    """Stop the daemon; nothing it asked for was refused."""
    rc = d.stop()
    log = open(d.log_path).read()
    assert rc == 0, "gridrouted exited with %s; log:\n%s" % (rc, log[-3000:])
    assert "NOPERM" not in log, [l for l in log.splitlines() if "NOPERM" in l][:5]
    assert denied(admin, "gridrouted") == []
    for ev in ("redis_handshake_failed", "script_load_failed", "redis_error", "read_failed",
               "group_create_failed"):
        assert not d.events(ev), d.events(ev)
    assert password("gridrouted") not in log


@pytest.fixture
def daemon(tmp, acl_server, admin):
    d = start_daemon(tmp, acl_server)
    yield d
    check_daemon_clean(d, admin)


def report(client, channel, **kw):
    doc = {"category": "urban_management", "unit": G03, "title": "井盖缺失",
           "attrs": {"speed": "slow"}}
    doc.update(kw)
    return client.xadd("gr:in:" + channel, {"incident": json.dumps(doc, ensure_ascii=False)})


def assigned(admin, inc):
    return [a for a in assignments(admin) if a["incident"] == inc]


def events_of(admin, inc, type_):
    return [e for e in timeline(admin, inc) if e["type"] == type_]


def metric(d, name):
    body = urllib.request.urlopen("http://%s/metrics" % d.http, timeout=5).read().decode()
    for line in body.splitlines():
        if line.split(" ")[0] == name:
            return float(line.split(" ")[1])
    return None


def test_shipped_file_loads_and_lets_nobody_in(tmp):
    """As shipped, every user's hash is a placeholder no password matches,
    and the default user is off: Redis starts and nobody gets in."""
    text = open(ACL).read()
    assert set(acl_users(text)) == {"default", "admin", "gridrouted", "reporter", "viewer",
                                    "operator"}
    s = AclRedis(tmp, ACL).start()
    try:
        with pytest.raises(redis.RedisError, match="NOAUTH|[Aa]uthentication required"):
            redis.Redis(port=s.port).ping()
        for user in acl_users(text):
            for pw in ("", "CHANGE-ME", user, "0" * 64):
                with pytest.raises(redis.RedisError, match="WRONGPASS"):
                    redis.Redis(port=s.port, username=user, password=pw).ping()
    finally:
        s.stop()


def test_daemon_works_with_exactly_its_grants(tmp, acl_server, admin, reporter):
    """Every code path that talks to Redis, as the gridrouted user: start-up
    (SELECT, SCRIPT LOAD, XGROUP CREATE), routing, dedup, dead letters,
    commands, escalation and breach (timers), XAUTOCLAIM of another
    consumer's entry, the gauges, and the EVAL fallback after SCRIPT FLUSH."""
    # an entry another consumer took and left: claimed once idle for claim_idle_ms
    admin.xgroup_create("gr:in:patrol", "gridrouted", id="0", mkstream=True)
    ghost = report(reporter, "patrol", title="left by a dead daemon")
    admin.xreadgroup("gridrouted", "ghost", {"gr:in:patrol": ">"}, count=1)
    assert admin.xpending("gr:in:patrol", "gridrouted")["pending"] == 1

    d = start_daemon(tmp, acl_server)
    try:
        slow = {ch: report(reporter, ch) for ch in ("patrol", "feedback", "scheduled", "alert")}
        climbing = report(reporter, "patrol", attrs={})  # default policy: 300 ms per level
        first = report(reporter, "feedback", dedup_key="lamp-7")
        second = report(reporter, "feedback", dedup_key="lamp-7")
        bad = reporter.xadd("gr:in:alert", {"incident": "{not json"})

        for ch, entry in slow.items():
            inc = "%s-%s" % (ch, entry)
            wait_for(lambda: assigned(admin, inc), 10, "%s routed" % inc)
        wait_for(lambda: assigned(admin, "patrol-" + ghost), 15, "the ghost entry claimed")
        assert d.events("claimed")
        dl = wait_for(lambda: deadletters(admin), 10, "the dead letter")[0]
        assert dl["entry"] == bad and dl["reason"] == "invalid_json"
        dup = wait_for(lambda: events_of(admin, "feedback-" + first, "duplicate"), 10,
                       "the duplicate")
        assert dup[0]["entry"] == second
        wait_for(lambda: events_of(admin, "patrol-" + climbing, "breached"), 15,
                 "escalation to the last level and a breach")
        assert events_of(admin, "patrol-" + climbing, "escalated")

        # commands: ack then resolve (EXPIRE, the dedup key released)
        inc = "feedback-" + first
        for op in ("ack", "resolve"):
            reporter.xadd("gr:in:commands", {"command": json.dumps(
                {"op": op, "incident": inc, "by": "liuyang"})})
        wait_for(lambda: events_of(admin, inc, "resolved"), 10, "the resolve applied")
        assert admin.hget("gr:inc:" + inc, "state") == "resolved"
        assert admin.ttl("gr:inc:" + inc) > 0
        assert not admin.exists("gr:dedup:lamp-7")

        # the script cache flushed under the daemon: EVAL sends the script again
        admin.script_flush()
        after = report(reporter, "patrol")
        wait_for(lambda: assigned(admin, "patrol-" + after), 10, "routed after SCRIPT FLUSH")

        wait_for(lambda: metric(d, "gridroute_open_incidents") == admin.zcard("gr:open"), 10,
                 "the open-incidents gauge (ZCARD as gridrouted)")
        assert metric(d, "gridroute_redis_up") == 1
        for s in ("patrol", "feedback", "scheduled", "alert", "commands"):
            assert admin.xpending("gr:in:" + s, "gridrouted")["pending"] == 0, s
    finally:
        check_daemon_clean(d, admin)


@pytest.mark.parametrize("args", [
    ("DEL", "gr:in:patrol"),
    ("XADD", "gr:out:assignments", "*", "assignment", "{}"),
    ("XADD", "gr:deadletter", "*", "reason", "x"),
    ("XADD", "other:stream", "*", "incident", "{}"),
    ("XRANGE", "gr:in:patrol", "-", "+"),
    ("XLEN", "gr:in:patrol"),
    ("XACK", "gr:in:patrol", "gridrouted", "1-1"),
    ("XGROUP", "CREATE", "gr:in:patrol", "mine", "0"),
    ("HGETALL", "gr:inc:x"),
    ("SET", "gr:in:x", "1"),
    ("PUBLISH", "gr:events", "{}"),
    ("SUBSCRIBE", "gr:events"),
    ("EVAL", "return 1", "0"),
    ("KEYS", "*"),
    ("FLUSHALL",),
])
def test_reporter_is_refused_anything_but_xadd_to_input(acl_server, admin, reporter, args):
    with pytest.raises(redis.exceptions.NoPermissionError):
        reporter.execute_command(*args)
    assert denied(admin, "reporter")


def test_reporter_may_add_to_every_input_stream(admin, reporter):
    assert reporter.ping()
    for s in ("patrol", "feedback", "scheduled", "alert", "commands"):
        reporter.xadd("gr:in:" + s, {"incident": "{}"})
        assert admin.xlen("gr:in:" + s) == 1
    assert denied(admin, "reporter") == []


def test_viewer_reads_and_cannot_write(acl_server, admin, reporter, viewer, daemon):
    entry = report(reporter, "patrol")
    inc = "patrol-" + entry
    wait_for(lambda: assigned(admin, inc), 10, "routed")

    rows = viewer.xrange("gr:out:assignments")
    assert json.loads(rows[0][1]["assignment"])["incident"] == inc
    assert viewer.hgetall("gr:inc:" + inc)["state"] == "open"
    assert viewer.hmget("gr:inc:" + inc, ["state", "level_key"]) == ["open", "member"]
    assert viewer.zrangebyscore("gr:open", "-inf", "+inf") == [inc]
    assert viewer.zcard("gr:due") == 1 and viewer.zcount("gr:due", "-inf", "+inf") == 1
    assert viewer.xlen("gr:out:notifications") == 1
    assert viewer.lrange("gr:timeline:" + inc, 0, -1)
    assert viewer.get("gr:doc:" + inc)
    assert viewer.xinfo_groups("gr:in:patrol")[0]["name"] == "gridrouted"
    assert viewer.xinfo_consumers("gr:in:patrol", "gridrouted")
    assert viewer.xpending("gr:in:patrol", "gridrouted")["pending"] == 0
    assert viewer.xread({"gr:deadletter": "0"}) == []

    p = viewer.pubsub()
    p.subscribe("gr:events")
    wait_for(lambda: p.get_message(timeout=0.1), 5, "the subscribe confirmation")
    second = report(reporter, "patrol")

    def next_event():
        m = p.get_message(timeout=0.1)
        return m and m["type"] == "message" and json.loads(m["data"])
    ev = wait_for(next_event, 10, "an event on gr:events")
    assert ev["incident"] == "patrol-" + second
    p.close()
    assert denied(admin, "viewer") == []

    for args in [("XADD", "gr:in:patrol", "*", "incident", "{}"),
                 ("XADD", "gr:in:commands", "*", "command", "{}"),
                 ("DEL", "gr:inc:" + inc),
                 ("HSET", "gr:inc:" + inc, "state", "resolved"),
                 ("ZADD", "gr:due", "0", inc),
                 ("XACK", "gr:in:patrol", "gridrouted", entry),
                 ("XGROUP", "CREATE", "gr:in:patrol", "mine", "0"),
                 ("XREADGROUP", "GROUP", "gridrouted", "v", "STREAMS", "gr:in:patrol", ">"),
                 ("PUBLISH", "gr:events", "{}"),
                 ("SUBSCRIBE", "gr:other"),
                 ("GET", "other:key"),
                 ("EVAL", "return 1", "0"),
                 ("CONFIG", "GET", "*"),
                 ("FLUSHALL",)]:
        with pytest.raises(redis.exceptions.NoPermissionError):
            viewer.execute_command(*args)
    assert viewer.hget("gr:inc:" + inc, "state") == "open"


def test_operator_writes_input_and_drops_dead_letters(acl_server, admin):
    op = acl_server.client("operator")
    op.xadd("gr:in:commands", {"command": "{}"})
    dl = admin.xadd("gr:deadletter", {"source": "gr:in:patrol", "entry": "1-1",
                                      "reason": "invalid_json", "error": "x", "payload": "{"})
    assert op.xrange("gr:deadletter") and op.xdel("gr:deadletter", dl) == 1
    for args in [("DEL", "gr:deadletter"),
                 ("XADD", "gr:out:assignments", "*", "assignment", "{}"),
                 ("HSET", "gr:inc:x", "state", "resolved"),
                 ("XACK", "gr:in:commands", "gridrouted", "1-1"),
                 ("PUBLISH", "gr:events", "{}")]:
        with pytest.raises(redis.exceptions.NoPermissionError):
            op.execute_command(*args)
    assert len(denied(admin, "operator")) == 5


def gridctl_has_user_option():
    try:
        out = subprocess.run([GRIDCTL, "--help"], capture_output=True, text=True, timeout=10)
    except OSError:
        return False
    return "--password-file" in out.stdout


needs_gridctl_auth = pytest.mark.skipif(not gridctl_has_user_option(),
                                        reason="gridctl has no --user/--password-file yet")


def gridctl(server, tmp, user, *args, stdin=None):
    cmd = [GRIDCTL, "--redis", "127.0.0.1:%d" % server.port, "--user", user,
           "--password-file", password_file(tmp, user)] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, input=stdin)


@needs_gridctl_auth
def test_gridctl_as_viewer_and_operator(tmp, acl_server, admin, reporter, daemon):
    entry = report(reporter, "patrol")
    inc = "patrol-" + entry
    wait_for(lambda: assigned(admin, inc), 10, "routed")
    reporter.xadd("gr:in:alert", {"incident": "{not json"})
    dl = wait_for(lambda: admin.xrange("gr:deadletter"), 10, "the dead letter")[0][0]

    # the viewer: every read-only command
    r = gridctl(acl_server, tmp, "viewer", "show", inc)
    assert r.returncode == 0, r.stderr
    assert inc in r.stdout
    r = gridctl(acl_server, tmp, "viewer", "show", inc, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["incident"]["state"] == "open"
    r = gridctl(acl_server, tmp, "viewer", "ls", "--json")
    assert r.returncode == 0, r.stderr
    assert inc in json.dumps(json.loads(r.stdout))
    r = gridctl(acl_server, tmp, "viewer", "ls")
    assert r.returncode == 0 and inc in r.stdout, r.stderr
    for args in (["stats"], ["stats", "--json"], ["deadletter", "ls"],
                 ["deadletter", "show", dl]):
        r = gridctl(acl_server, tmp, "viewer", *args)
        assert r.returncode == 0, (args, r.stderr)
    assert denied(admin, "viewer") == []

    # tail: live events through SUBSCRIBE as the viewer
    tail = subprocess.Popen([GRIDCTL, "--redis", "127.0.0.1:%d" % acl_server.port, "--user",
                             "viewer", "--password-file", password_file(tmp, "viewer"), "tail"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(tail.stdout), daemon=True)
    reader.start()
    try:
        def tailed():
            # keep reporting until tail, which subscribes on its own time, shows one
            e = report(reporter, "scheduled")
            return wait_for_quiet(lambda: any("scheduled-" + e in l for l in lines), 1.0)
        wait_for(tailed, 15, "gridctl tail to print an event")
    finally:
        tail.terminate()
        tail.wait(10)
    assert denied(admin, "viewer") == []

    # the viewer cannot act; the refusal is one line and exit 1
    r = gridctl(acl_server, tmp, "viewer", "ack", inc, "--by", "liuyang")
    assert r.returncode == 1 and "NOPERM" in r.stderr, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1

    # the operator acts, submits and replays
    r = gridctl(acl_server, tmp, "operator", "ack", inc, "--by", "liuyang", "--wait")
    assert r.returncode == 0, r.stderr
    doc = json.dumps({"category": "urban_management", "unit": G03, "title": "路灯不亮"})
    r = gridctl(acl_server, tmp, "operator", "submit", "feedback", "-", "--wait", stdin=doc)
    assert r.returncode == 0, r.stderr
    r = gridctl(acl_server, tmp, "operator", "deadletter", "replay", dl)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(admin.xrange("gr:deadletter")) == 1 and
             admin.xrange("gr:deadletter")[0][0] != dl, 10, "the replay dead-lettered again")
    r = gridctl(acl_server, tmp, "operator", "deadletter", "drop",
                admin.xrange("gr:deadletter")[0][0])
    assert r.returncode == 0, r.stderr
    assert admin.xlen("gr:deadletter") == 0
    assert denied(admin, "operator") == []


def wait_for_quiet(cond, timeout):
    """wait_for that answers False instead of failing at the deadline."""
    try:
        return wait_for(cond, timeout, "")
    except AssertionError:
        return False
