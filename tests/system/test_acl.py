"""conf/redis-acl.conf against a real redis-server (--aclfile) and the real
daemon: gridrouted routes, escalates, dedups, dead-letters and applies
commands with exactly the commands and keys its ACL user grants (a missing
grant shows up in Redis's ACL LOG and as NOPERM in the daemon's log). SPEC
v2 §9, user by user, each allowed operation tried and working and each
denied one refused with NOPERM: the reporter may only add reports to the
four channel streams; the commander may add commands and read incidents,
their documents and timelines, the dead letters and the events; the
gateway may consume gr:out:* through a group of its own; the viewer may
read everything and write nothing; the operator may list, replay (to the
source input stream) and drop dead letters, and never add one. Everybody
may read gr:meta. The test copy of the ACL file differs from the shipped
one only in the password hashes."""
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
    assert set(acl_users(text)) == {"default", "admin", "gridrouted", "reporter", "commander",
                                    "gateway", "viewer", "operator"}
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
        commander = acl_server.client("commander")
        for op in ("ack", "resolve"):
            commander.xadd("gr:in:commands", {"command": json.dumps(
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
    ("XADD", "gr:in:commands", "*", "command", '{"op":"resolve","incident":"x","by":"cc"}'),
    ("XADD", "gr:in:other", "*", "incident", "{}"),
    ("XDEL", "gr:in:patrol", "1-1"),
    ("HGET", "gr:inc:x", "state"),
    ("EXISTS", "gr:inc:x"),
    ("HSET", "gr:meta", "schema", "1"),
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


def test_reporter_may_add_to_every_channel_stream(admin, reporter):
    assert reporter.ping()
    for s in ("patrol", "feedback", "scheduled", "alert"):
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
def test_gridctl_as_viewer_commander_and_operator(tmp, acl_server, admin, reporter, daemon):
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

    # the commander acts and waits for the outcome
    r = gridctl(acl_server, tmp, "commander", "ack", inc, "--by", "liuyang", "--wait")
    assert r.returncode == 0, r.stderr
    r = gridctl(acl_server, tmp, "commander", "comment", inc, "--by", "liuyang", "--note",
                "到场", "--wait")
    assert r.returncode == 0, r.stderr
    assert denied(admin, "commander") == []
    # the operator lists, replays and drops dead letters
    for args in (["deadletter", "ls"], ["deadletter", "show", dl]):
        r = gridctl(acl_server, tmp, "operator", *args)
        assert r.returncode == 0, (args, r.stderr)
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


# ---- SPEC v2 §9, user by user: what each may do works, the rest is NOPERM ----------

CHANNELS = ("patrol", "feedback", "scheduled", "alert")
INPUTS = CHANNELS + ("commands",)


def populate(admin):
    """One key of every kind the v1 and v2 layouts have, written as the admin."""
    admin.xgroup_create("gr:in:patrol", "gridrouted", id="0", mkstream=True)
    ids = {"entry": admin.xadd("gr:in:patrol", {"incident": "{}"}),
           "cmd": admin.xadd("gr:in:commands", {"command": "{}"}),
           "out": admin.xadd("gr:out:assignments", {"assignment": "{}"}),
           "dl": admin.xadd("gr:deadletter", {"source": "gr:in:patrol", "entry": "1-1",
                                               "reason": "invalid_json", "error": "x",
                                               "payload": "{"})}
    admin.xadd("gr:out:notifications", {"notification": "{}"})
    admin.xgroup_create("gr:out:assignments", "gw", id="0")
    admin.hset("gr:inc:x", mapping={"state": "open", "level": "1"})
    admin.set("gr:doc:x", "{}")
    admin.rpush("gr:timeline:x", "{}")
    admin.sadd("gr:seen:x", "gr:in:patrol/1-1")
    admin.hset("gr:meta", "schema", "2")
    admin.hset("gr:kpi:2026-11:u", "roads:created", 1)
    admin.sadd("gr:kpiunits:2026-11", "u")
    admin.set("gr:dedup:k", "x")
    admin.zadd("gr:due", {"x": 1})
    admin.zadd("gr:open", {"x": 1})
    return ids


META = [("HGET", "gr:meta", "schema"), ("HGETALL", "gr:meta")]

ALLOWED = {
    "reporter": [("XADD", "gr:in:" + c, "*", "incident", "{}") for c in CHANNELS] + META,
    "commander": [
        ("XADD", "gr:in:commands", "*", "command", "{}"),
        ("HGETALL", "gr:inc:x"), ("HGET", "gr:inc:x", "state"), ("HMGET", "gr:inc:x", "level"),
        ("EXISTS", "gr:inc:x"), ("TYPE", "gr:inc:x"), ("GET", "gr:doc:x"),
        ("LRANGE", "gr:timeline:x", "0", "-1"), ("LLEN", "gr:timeline:x"),
        ("XREAD", "COUNT", "1", "STREAMS", "gr:deadletter", "0"),
        ("XRANGE", "gr:deadletter", "-", "+"), ("XREVRANGE", "gr:deadletter", "+", "-"),
    ] + META,
    "gateway": [
        ("XGROUP", "CREATE", "gr:out:notifications", "gw", "0"),
        ("XREADGROUP", "GROUP", "gw", "gw-1", "COUNT", "10", "STREAMS", "gr:out:assignments",
         ">"),
        ("XPENDING", "gr:out:assignments", "gw"),
        ("XACK", "gr:out:assignments", "gw", "{out}"),
        ("XAUTOCLAIM", "gr:out:assignments", "gw", "gw-2", "0", "0-0"),
    ] + META,
    "viewer": [
        ("SCAN", "0", "MATCH", "gr:*", "COUNT", "100"), ("HGETALL", "gr:inc:x"),
        ("GET", "gr:doc:x"), ("LRANGE", "gr:timeline:x", "0", "-1"),
        ("SMEMBERS", "gr:seen:x"), ("HGETALL", "gr:kpi:2026-11:u"),
        ("SMEMBERS", "gr:kpiunits:2026-11"), ("GET", "gr:dedup:k"),
        ("ZRANGE", "gr:open", "0", "-1"), ("ZCOUNT", "gr:due", "-inf", "+inf"),
        ("XRANGE", "gr:in:patrol", "-", "+"), ("XRANGE", "gr:out:assignments", "-", "+"),
        ("XRANGE", "gr:deadletter", "-", "+"), ("XINFO", "GROUPS", "gr:in:patrol"),
        ("XPENDING", "gr:in:patrol", "gridrouted"), ("TTL", "gr:inc:x"), ("TYPE", "gr:doc:x"),
    ] + META,
    "operator": [
        ("XRANGE", "gr:deadletter", "-", "+"), ("XREVRANGE", "gr:deadletter", "+", "-"),
        ("XLEN", "gr:deadletter"), ("XREAD", "STREAMS", "gr:deadletter", "0"),
        ("XDEL", "gr:deadletter", "{dl}"),
    ] + [("XADD", "gr:in:" + s, "*", "incident", "{}") for s in INPUTS] + META,
}

WRITES = [
    ("DEL", "gr:inc:x"), ("HSET", "gr:inc:x", "state", "resolved"), ("SET", "gr:doc:x", "{}"),
    ("RPUSH", "gr:timeline:x", "{}"), ("SADD", "gr:seen:x", "y"), ("HSET", "gr:meta", "schema", "1"),
    ("HINCRBY", "gr:kpi:2026-11:u", "roads:created", "1"), ("ZADD", "gr:due", "0", "x"),
    ("XADD", "gr:out:assignments", "*", "assignment", "{}"),
    ("XADD", "gr:deadletter", "*", "reason", "x"), ("PUBLISH", "gr:events", "{}"),
    ("EVAL", "return 1", "0"), ("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "*"),
]

DENIED = {
    "reporter": WRITES + [
        ("XADD", "gr:in:commands", "*", "command", "{}"), ("XADD", "gr:in:x", "*", "i", "{}"),
        ("XRANGE", "gr:in:patrol", "-", "+"), ("XDEL", "gr:in:patrol", "{entry}"),
        ("XTRIM", "gr:in:patrol", "MAXLEN", "0"), ("HGETALL", "gr:inc:x"), ("SCAN", "0"),
    ],
    "commander": WRITES + [
        ("XADD", "gr:in:patrol", "*", "incident", "{}"),
        ("XRANGE", "gr:in:commands", "-", "+"), ("XDEL", "gr:in:commands", "{cmd}"),
        ("XACK", "gr:in:commands", "gridrouted", "{cmd}"), ("XDEL", "gr:deadletter", "{dl}"),
        ("XRANGE", "gr:out:assignments", "-", "+"), ("GET", "gr:dedup:k"),
        ("SMEMBERS", "gr:seen:x"), ("HGETALL", "gr:kpi:2026-11:u"), ("SCAN", "0"),
    ],
    "gateway": WRITES + [
        ("XDEL", "gr:out:assignments", "{out}"), ("DEL", "gr:out:assignments"),
        ("XTRIM", "gr:out:assignments", "MAXLEN", "0"),
        ("XGROUP", "DESTROY", "gr:out:assignments", "gw"),
        ("XGROUP", "SETID", "gr:out:assignments", "gw", "0"),
        ("XRANGE", "gr:out:assignments", "-", "+"),
        ("XREADGROUP", "GROUP", "gridrouted", "g", "STREAMS", "gr:in:patrol", ">"),
        ("XGROUP", "CREATE", "gr:in:patrol", "mine", "0"), ("XRANGE", "gr:in:patrol", "-", "+"),
        ("XADD", "gr:in:patrol", "*", "incident", "{}"), ("HGETALL", "gr:inc:x"),
    ],
    "viewer": WRITES + [
        ("XADD", "gr:in:patrol", "*", "incident", "{}"),
        ("XADD", "gr:in:commands", "*", "command", "{}"), ("XDEL", "gr:deadletter", "{dl}"),
        ("XACK", "gr:in:patrol", "gridrouted", "{entry}"),
        ("XGROUP", "CREATE", "gr:in:patrol", "mine", "0"),
        ("XREADGROUP", "GROUP", "gridrouted", "v", "STREAMS", "gr:in:patrol", ">"),
        ("GET", "other:key"),
    ],
    "operator": WRITES + [
        ("XDEL", "gr:in:patrol", "{entry}"), ("XDEL", "gr:in:commands", "{cmd}"),
        ("DEL", "gr:deadletter"), ("XTRIM", "gr:deadletter", "MAXLEN", "0"),
        ("XRANGE", "gr:in:patrol", "-", "+"), ("HGETALL", "gr:inc:x"), ("GET", "gr:doc:x"),
        ("XACK", "gr:in:commands", "gridrouted", "{cmd}"), ("XADD", "gr:in:x", "*", "i", "{}"),
    ],
}


def cases(table):
    return [(user, args) for user, rows in table.items() for args in rows]


def fill(args, ids):
    return [a.format(**ids) if "{" in a and a.strip("{}") in ids else a for a in args]


@pytest.mark.parametrize("user,args", cases(ALLOWED), ids=lambda v: v if isinstance(v, str)
                         else " ".join(v)[:60])
def test_allowed(acl_server, admin, user, args):
    ids = populate(admin)
    acl_server.client(user).execute_command(*fill(args, ids))  # no error of any kind
    assert denied(admin, user) == []


@pytest.mark.parametrize("user,args", cases(DENIED), ids=lambda v: v if isinstance(v, str)
                         else " ".join(v)[:60])
def test_denied(acl_server, admin, user, args):
    ids = populate(admin)
    before = {k: admin.type(k) for k in admin.keys("*")}
    with pytest.raises(redis.exceptions.NoPermissionError):
        acl_server.client(user).execute_command(*fill(args, ids))
    assert denied(admin, user)
    assert {k: admin.type(k) for k in admin.keys("*")} == before
    assert admin.xlen("gr:deadletter") == 1 and admin.xlen("gr:in:patrol") == 1


@pytest.mark.parametrize("user", ["commander", "viewer"])
def test_subscribe_to_events(acl_server, admin, user):
    p = acl_server.client(user).pubsub()
    p.subscribe("gr:events")
    wait_for(lambda: p.get_message(timeout=0.1), 5, "the subscribe confirmation")
    admin.publish("gr:events", '{"type":"assigned"}')
    wait_for(lambda: (lambda m: m and m["type"] == "message")(p.get_message(timeout=0.1)), 5,
             "the event")
    p.close()
    with pytest.raises(redis.exceptions.NoPermissionError):
        acl_server.client(user).execute_command("PUBLISH", "gr:events", "{}")


@pytest.mark.parametrize("user", ["reporter", "gateway", "operator"])
def test_no_subscribe_to_events(acl_server, admin, user):
    p = acl_server.client(user).pubsub()
    with pytest.raises(redis.exceptions.NoPermissionError):
        p.subscribe("gr:events")
        wait_for(lambda: p.get_message(timeout=0.1), 5, "the refusal")
    p.close()


@needs_gridctl_auth
def test_gridctl_submit_as_reporter(tmp, acl_server, admin, daemon):
    """SPEC v2 §9: the reporter submits (a document with an id of its own
    too: gridctl's look for an existing incident is a read it may not do,
    and is skipped); with --wait, which needs reads it may not do, gridctl
    says so before it writes anything."""
    doc = json.dumps({"id": "rep-1", "category": "urban_management", "unit": G03,
                      "title": "路灯不亮"}, ensure_ascii=False)
    r = gridctl(acl_server, tmp, "reporter", "submit", "feedback", "-", stdin=doc)
    assert r.returncode == 0, r.stderr
    assert "incident rep-1" in r.stdout and r.stderr == ""
    r = gridctl(acl_server, tmp, "reporter", "submit", "patrol", "-",
                stdin=json.dumps({"category": "urban_management", "unit": G03, "title": "t"}))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: assigned(admin, "rep-1"), 10, "the reporter's incident routed")
    lens = {s: admin.xlen("gr:in:" + s) for s in INPUTS}
    for args in (["submit", "alert", "-", "--wait"], ["submit", "alert", "-", "--wait=3"]):
        r = gridctl(acl_server, tmp, "reporter", *args, stdin=doc.replace("rep-1", "rep-2"))
        assert r.returncode == 1, r.stderr
        assert "--wait needs to read gr:out:assignments" in r.stderr, r.stderr
        assert "nothing was written" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert r.stdout == ""
    assert {s: admin.xlen("gr:in:" + s) for s in INPUTS} == lens
    # a command: not the reporter's to write (NOPERM), nor to wait for
    r = gridctl(acl_server, tmp, "reporter", "ack", "rep-1", "--by", "liuyang")
    assert r.returncode == 1 and "NOPERM" in r.stderr, r.stderr
    r = gridctl(acl_server, tmp, "reporter", "ack", "rep-1", "--by", "liuyang", "--wait")
    assert r.returncode == 1 and "--wait needs to read gr:timeline:rep-1" in r.stderr
    assert {s: admin.xlen("gr:in:" + s) for s in INPUTS} == lens
    # the commander may not submit a report, the admin may, and wait
    r = gridctl(acl_server, tmp, "commander", "submit", "feedback", "-", stdin=doc)
    assert r.returncode == 1 and "NOPERM" in r.stderr, r.stderr
    r = gridctl(acl_server, tmp, "admin", "submit", "feedback", "-", "--wait",
                stdin=doc.replace("rep-1", "rep-3"))
    assert r.returncode == 0, r.stderr
    assert "assigned rep-3" in r.stdout
