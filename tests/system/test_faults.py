"""Faults under load: the daemon killed mid-burst, Redis restarted, two
daemons on one Redis. After each, every input entry is exactly one
incident or one dead letter, and nothing was assigned or escalated twice."""
import collections
import json
import signal

from conftest import Daemon, RedisServer, assignments, deadletters, timeline, wait_for

CHANNELS = ["patrol", "feedback", "scheduled", "alert"]
G03 = "xifeng/beijie/beidajie/g03"


def burst(r, n, start=0, bad_every=20, attrs=None):
    """n entries over the four channels, every bad_every-th one invalid."""
    p = r.pipeline(transaction=False)
    for i in range(start, start + n):
        if bad_every and i % bad_every == 0:
            body = '{"category": "urban_management", "unit": "%s"' % G03  # truncated
        else:
            body = json.dumps({"category": "urban_management", "unit": G03,
                               "title": "burst %d" % i,
                               "attrs": attrs if attrs is not None else {"speed": "slow"}})
        p.xadd("gr:in:" + CHANNELS[i % 4], {"incident": body})
        if i % 500 == 499:
            p.execute()
    p.execute()


def inputs(r):
    return {(ch, e) for ch in CHANNELS for e, _ in r.xrange("gr:in:" + ch)}


def settled(r, n):
    return r.xlen("gr:out:assignments") + r.xlen("gr:deadletter") >= n and all(
        r.xpending("gr:in:" + ch, "gridrouted")["pending"] == 0 for ch in CHANNELS)


def check_accounting(r):
    """Every input is exactly one incident or one dead letter; no double assignment."""
    ins = inputs(r)
    dead = collections.Counter((f["source"][len("gr:in:"):], f["entry"]) for f in deadletters(r))
    assigned = collections.Counter(a["incident"] for a in assignments(r)
                                   if a["event"] == "assigned")
    assert max(dead.values(), default=1) == 1, "an entry dead-lettered twice"
    assert max(assigned.values(), default=1) == 1, "an incident assigned twice"
    for ch, e in ins:
        inc = "%s-%s" % (ch, e)
        is_inc = r.exists("gr:inc:" + inc) == 1
        assert is_inc != ((ch, e) in dead), "entry %s/%s: incident=%s dead=%s" % (
            ch, e, is_inc, (ch, e) in dead)
        if is_inc:
            assert assigned[inc] == 1
    assert len(assigned) + len(dead) == len(ins)


def test_sigkill_mid_burst_then_restart(r, tmp, server):
    d = Daemon(tmp, server.port, name="d1", log={"format": "json", "level": "warn"}).start(
        wait_ready=False)
    burst(r, 10000)
    wait_for(lambda: r.xlen("gr:out:assignments") >= 1500, 30, "part of the burst routed")
    d.stop(signal.SIGKILL)
    done_at_kill = r.xlen("gr:out:assignments") + r.xlen("gr:deadletter")
    assert done_at_kill < 10000, "the burst finished before the kill: nothing was tested"
    d2 = Daemon(tmp, server.port, name="d1", log={"format": "json", "level": "warn"}).start(
        wait_ready=False)
    try:
        wait_for(lambda: settled(r, 10000), 60, "the whole burst after the restart")
        check_accounting(r)
        assert r.xlen("gr:deadletter") == 500
    finally:
        assert d2.stop() == 0


def test_redis_restarted_under_load(tmp):
    server = RedisServer(tmp, appendonly=True).start()
    r = server.client()
    d = Daemon(tmp, server.port, name="d1", log={"format": "json", "level": "info"}).start()
    try:
        burst(r, 4000)
        wait_for(lambda: r.xlen("gr:out:assignments") >= 500, 30, "part of the burst routed")
        server.stop()  # SIGTERM: Redis writes its append-only file and exits
        wait_for(lambda: d.events("redis_down"), 10, "the daemon to notice")
        server.start()
        r = server.client()
        burst(r, 4000, start=4000)
        wait_for(lambda: settled(r, 8000), 60, "everything routed once Redis is back")
        check_accounting(r)
        assert len(d.events("redis_up")) >= 4  # two connections, twice
        assert d.proc.poll() is None
    finally:
        assert d.stop() == 0
        server.stop()


def test_two_daemons_share_the_load_and_escalate_once(r, tmp, server):
    log = {"format": "json", "level": "info"}
    d1 = Daemon(tmp, server.port, name="d1", log=log).start()
    d2 = Daemon(tmp, server.port, name="d2", log=log).start()
    try:
        burst(r, 6000)
        # fast ack deadlines: escalated through every level while both daemons tick
        burst(r, 40, start=6000, bad_every=0, attrs={})
        wait_for(lambda: settled(r, 6040), 60, "the burst")
        check_accounting(r)
        assert len(d1.events("assigned")) > 0 and len(d2.events("assigned")) > 0
        fast = ["%s-%s" % (ch, e) for ch in CHANNELS for e, f in r.xrange("gr:in:" + ch)
                if '"attrs": {}' in f["incident"]]
        assert len(fast) == 40

        def all_breached():
            return all(any(e["type"] == "breached" for e in timeline(r, i)) for i in fast)
        wait_for(all_breached, 30, "every fast incident to breach")
        per = collections.Counter(a["incident"] for a in assignments(r))
        for inc in fast:
            tl = timeline(r, inc)
            esc = [e["level_key"] for e in tl if e["type"] == "escalated"]
            assert esc == ["leader", "community", "street", "district"], (inc, tl)
            assert [e["type"] for e in tl].count("breached") == 1
            assert per[inc] == 5
        esc_logs = len(d1.events("escalated")) + len(d2.events("escalated"))
        assert esc_logs == 4 * 40
    finally:
        assert d1.stop() == 0
        assert d2.stop() == 0


def test_sigterm_during_a_burst_finishes_in_flight_and_exits_zero(r, tmp, server):
    import time
    d = Daemon(tmp, server.port, name="d1", log={"format": "json", "level": "warn"}).start(
        wait_ready=False)
    burst(r, 6000)
    wait_for(lambda: r.xlen("gr:out:assignments") >= 500, 30, "part of the burst routed")
    t0 = time.monotonic()
    assert d.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - t0 < 5
    d2 = Daemon(tmp, server.port, name="d1", log={"format": "json", "level": "warn"}).start(
        wait_ready=False)
    try:
        wait_for(lambda: settled(r, 6000), 60, "the rest of the burst after the restart")
        check_accounting(r)
    finally:
        assert d2.stop() == 0


def test_auth_with_user_and_password_file(tmp):
    import os
    server = RedisServer(tmp).start()
    admin = server.client()
    admin.execute_command("ACL", "SETUSER", "router", "on", ">s3cret-pw", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "default", "off")
    pw = os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write("s3cret-pw\n")
    d = Daemon(tmp, server.port, name="d1",
               redis={"host": "127.0.0.1", "port": server.port, "username": "router",
                      "password_file": pw}).start()
    import redis as redislib
    r = redislib.Redis(port=server.port, username="router", password="s3cret-pw",
                       decode_responses=True)
    try:
        burst(r, 8, bad_every=0)
        wait_for(lambda: r.xlen("gr:out:assignments") == 8, 10, "routed with AUTH")
    finally:
        assert d.stop() == 0
        server.stop()
    assert "s3cret-pw" not in open(d.log_path).read()


def test_wrong_password_is_logged_without_the_password(tmp):
    import os
    server = RedisServer(tmp).start()
    server.client().execute_command("CONFIG", "SET", "requirepass", "right-pw")
    pw = os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write("wrong-pw\n")
    d = Daemon(tmp, server.port, name="d1",
               redis={"host": "127.0.0.1", "port": server.port, "password_file": pw}).start(
        wait_ready=False)
    try:
        wait_for(lambda: d.events("redis_handshake_failed"), 10, "the refusal logged")
    finally:
        assert d.stop() == 0
        server.stop()
    assert "wrong-pw" not in open(d.log_path).read()


def test_sigkill_ten_times_during_a_50k_burst(r, tmp, server):
    import random
    import time
    rnd = random.Random(7)
    log = {"format": "json", "level": "warn"}
    d = Daemon(tmp, server.port, name="d1", log=log).start(wait_ready=False)
    burst(r, 50000)
    kills = 0
    while kills < 10 and not settled(r, 50000):
        time.sleep(rnd.uniform(0.2, 0.8))  # a random moment, not a wait for a condition
        d.stop(signal.SIGKILL)
        kills += 1
        d = Daemon(tmp, server.port, name="d1", log=log).start(wait_ready=False)
    try:
        wait_for(lambda: settled(r, 50000), 120, "the whole burst")
        assert kills >= 3, "the burst ended before the daemon was killed often enough"
        check_accounting(r)
        assert r.xlen("gr:deadletter") == 2500
    finally:
        assert d.stop() == 0


def test_sigstop_one_of_two_daemons(r, tmp, server):
    log = {"format": "json", "level": "info"}
    d1 = Daemon(tmp, server.port, name="d1", log=log).start()
    d2 = Daemon(tmp, server.port, name="d2", log=log).start()
    try:
        burst(r, 6000)
        wait_for(lambda: r.xlen("gr:out:assignments") >= 300, 30, "both at work")
        d1.kill(signal.SIGSTOP)
        # d2 finishes the burst, claiming what d1 had read (idle > claim_idle_ms)
        wait_for(lambda: settled(r, 6000), 60, "the burst finished by d2 alone")
        d1.kill(signal.SIGCONT)
        marker = "patrol-" + r.xadd("gr:in:patrol", {"incident": json.dumps(
            {"category": "urban_management", "unit": G03, "title": "after",
             "attrs": {"speed": "slow"}})})
        wait_for(lambda: r.exists("gr:inc:" + marker), 20, "routing after SIGCONT")
        wait_for(lambda: settled(r, 6001), 20, "everything settled")
        check_accounting(r)
    finally:
        assert d1.stop() == 0
        assert d2.stop() == 0


def test_redis_unreachable_for_ten_seconds(tmp):
    import time
    server = RedisServer(tmp, appendonly=True).start()
    r = server.client()
    d = Daemon(tmp, server.port, name="d1", log={"format": "json", "level": "info"}).start()
    try:
        burst(r, 2000)
        wait_for(lambda: r.xlen("gr:out:assignments") >= 200, 30, "part of the burst")
        server.stop()
        down_at = time.monotonic()
        wait_for(lambda: d.events("redis_down"), 10, "the outage noticed")
        # ten seconds without Redis: the daemon keeps trying with backoff
        wait_for(lambda: time.monotonic() - down_at >= 10, 15, "ten seconds")
        assert d.proc.poll() is None
        server.start()
        r = server.client()
        wait_for(lambda: settled(r, 2000), 60, "everything routed after the outage")
        check_accounting(r)
        downs = [e for e in d.events("redis_down")]
        assert len(downs) == 2  # one line per connection, not one per retry
    finally:
        assert d.stop() == 0
        server.stop()


def test_redis_out_of_memory_backs_off_without_losing_input(r, tmp, server):
    d = Daemon(tmp, server.port, name="d1", log={"format": "json", "level": "info"}).start()
    try:
        d.kill(signal.SIGSTOP)  # the burst goes in first, then memory runs out
        burst(r, 3000, bad_every=0)
        used = int(r.info("memory")["used_memory"])
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("maxmemory", str(used + 256 * 1024))
        d.kill(signal.SIGCONT)
        wait_for(lambda: d.events("redis_error"), 20, "OOM replies")
        assert r.xlen("gr:deadletter") == 0
        stuck = r.xlen("gr:out:assignments")
        assert stuck < 3000
        r.config_set("maxmemory", "0")
        wait_for(lambda: settled(r, 3000), 60, "everything routed once memory frees")
        check_accounting(r)
        assert r.xlen("gr:deadletter") == 0
    finally:
        r.config_set("maxmemory", "0")
        assert d.stop() == 0


def test_rules_reloaded_every_100ms_during_a_burst(r, tmp, server):
    import threading
    import time
    d = Daemon(tmp, server.port, name="d1", log={"format": "json", "level": "info"}).start()
    stop = threading.Event()

    def hup():
        while not stop.is_set():
            d.kill(signal.SIGHUP)
            time.sleep(0.1)  # the reload cadence under test
    t = threading.Thread(target=hup)
    t.start()
    try:
        burst(r, 8000)
        wait_for(lambda: settled(r, 8000), 60, "the burst during reloads")
    finally:
        stop.set()
        t.join()
    check_accounting(r)
    assert d.proc.poll() is None
    assert len(d.events("reloaded")) >= 3  # the burst may settle in under a second
    assert d.stop() == 0
