"""The Redis layout of SPEC v2 §2 against a real Redis: every incident key
under a name of its own, the document out of the hash, the timeline a
list, no creation member in the seen set, steps that are all or nothing
whatever a key's type, the store's schema version, and `gridctl migrate`
from a store of gridroute 1."""
import json
import os
import subprocess

import pytest

from conftest import (GRIDCTL, RULES, Daemon, assignments, command, deadletters, document,
                      incident, submit, timeline, wait_for)

G03 = "xifeng/beijie/beidajie/g03"


def base(**kw):
    doc = {"category": "urban_management", "unit": G03, "title": "井盖缺失",
           "attrs": {"speed": "slow"}}
    doc.update(kw)
    return doc


def routed(r, inc):
    return [a for a in assignments(r) if a["incident"] == inc]


def ctl(server, *args, timeout=30):
    return subprocess.run([GRIDCTL, "--redis", "127.0.0.1:%d" % server.port] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def test_keys_of_one_incident(r, daemon):
    entry = submit(r, "patrol", base(dedup_key="cover-1"))
    inc = "patrol-" + entry
    wait_for(lambda: routed(r, inc), 10, "routed")
    assert r.type("gr:inc:" + inc) == "hash"
    assert r.object("encoding", "gr:inc:" + inc) == "listpack"  # no value over 64 bytes
    assert "doc" not in incident(r, inc)
    h = incident(r, inc)
    assert h["unit"] == G03 and h["category"] == "urban_management"
    assert "created_by" not in h and "breached" not in h
    assert len(h["report_sha1"]) == 40
    assert r.type("gr:doc:" + inc) == "string"
    assert document(r, inc)["title"] == "井盖缺失"
    assert r.type("gr:timeline:" + inc) == "list"
    assert [e["type"] for e in timeline(r, inc)] == ["assigned"]
    # the creating entry is recognized by the incident itself: no seen set yet
    assert not r.exists("gr:seen:" + inc)
    assert r.get("gr:dedup:cover-1") == inc
    # nothing under the v1 names
    assert r.keys("gr:inc:%s:*" % inc) == []

    entry2 = command(r, op="ack", incident=inc, by="liuyang")
    wait_for(lambda: incident(r, inc).get("state") == "acked", 10, "acked")
    assert r.smembers("gr:seen:" + inc) == {"gr:in:commands/" + entry2}
    command(r, op="resolve", incident=inc, by="liuyang")
    wait_for(lambda: incident(r, inc).get("state") == "resolved", 10, "resolved")
    for k in ("inc", "doc", "timeline", "seen"):
        assert 0 < r.ttl("gr:%s:%s" % (k, inc)) <= 30 * 86400, k
    assert not r.exists("gr:dedup:cover-1")
    assert r.hget("gr:meta", "schema") == "2"


def test_replayed_creation_is_only_acknowledged(r, daemon):
    entry = submit(r, "patrol", base())
    inc = "patrol-" + entry
    wait_for(lambda: routed(r, inc), 10, "routed")
    # the stream read again from the start, as after XGROUP SETID
    r.xgroup_setid("gr:in:patrol", "gridrouted", "0")
    marker = submit(r, "patrol", base(title="after the replay"))
    wait_for(lambda: routed(r, "patrol-" + marker), 10, "the replay read past")
    assert len(routed(r, inc)) == 1
    assert incident(r, inc)["version"] == "1" and len(timeline(r, inc)) == 1
    assert r.xpending("gr:in:patrol", "gridrouted")["pending"] == 0


@pytest.mark.parametrize("suffix", [":timeline", ":seen", ":doc", ":inc"])
def test_ids_that_look_like_other_keys(r, daemon, suffix):
    """An id may hold ':'; under v1 `victim:timeline` was victim's timeline."""
    victim = submit(r, "patrol", base(id="victim"))
    wait_for(lambda: routed(r, "victim"), 10, "victim routed")
    other = "victim" + suffix
    submit(r, "patrol", base(id=other, title="an id with a colon"))
    wait_for(lambda: routed(r, other), 10, "%s routed as an incident of its own" % other)
    assert incident(r, other)["state"] == "open"
    # the victim is untouched and still takes commands
    assert [e["type"] for e in timeline(r, "victim")] == ["assigned"]
    command(r, op="ack", incident="victim", by="liuyang")
    command(r, op="ack", incident=other, by="liuyang")
    wait_for(lambda: incident(r, "victim").get("state") == "acked" and
             incident(r, other).get("state") == "acked", 10, "both acked")
    assert deadletters(r) == []
    assert victim


def test_same_report_again_and_an_id_conflict(r, daemon):
    body = json.dumps(base(id="wo-1001"), ensure_ascii=False)
    first = r.xadd("gr:in:patrol", {"incident": body})
    wait_for(lambda: routed(r, "wo-1001"), 10, "routed")
    again = r.xadd("gr:in:patrol", {"incident": body})  # a backend's retry
    other = r.xadd("gr:in:patrol", {"incident": json.dumps(base(id="wo-1001", title="别的"))})
    dl = wait_for(lambda: deadletters(r), 10, "the conflict dead-lettered")
    assert [(d["reason"], d["entry"]) for d in dl] == [("id_conflict", other)]
    assert "wo-1001" in dl[0]["error"]
    wait_for(lambda: r.xpending("gr:in:patrol", "gridrouted")["pending"] == 0, 10, "all acked")
    assert len(routed(r, "wo-1001")) == 1 and incident(r, "wo-1001")["version"] == "1"
    assert first and again


# Each key a step writes, made another type: nothing is applied, nothing
# twice, and everything is applied once the key is put right.
WRONG = [
    ("gr:out:notifications", "comments"),
    ("gr:out:assignments", "report"),
    ("gr:due", "report"),
    ("gr:open", "report"),
    ("gr:timeline:wt-1", "report"),
    ("gr:inc:wt-1", "report"),
    ("gr:seen:wt-1", "comments"),
    ("gr:dedup:wt-key", "dedup"),
    ("gr:deadletter", "bad"),
]


@pytest.mark.parametrize("key,what", WRONG)
def test_a_key_of_the_wrong_type_applies_nothing(r, daemon, key, what):
    if what in ("comments", "dedup"):
        submit(r, "patrol", base(id="wt-1", dedup_key="wt-key"))
        wait_for(lambda: routed(r, "wt-1"), 10, "routed")
        command(r, op="ack", incident="wt-1", by="liuyang")  # the seen set exists after this
        wait_for(lambda: incident(r, "wt-1").get("state") == "acked", 10, "acked")
    # (gr:defaults, the hash a creation copies, is the script's own: written
    # whenever it is not exactly the defaults, by a step or not)
    before = {k: r.dump(k) for k in r.keys("gr:*")
              if not k.startswith("gr:in:") and k != "gr:defaults"}
    r.delete(key)
    if key.startswith("gr:dedup:"):
        r.rpush(key, "oops")  # a string would be read as the id of the incident holding it
    else:
        r.set(key, "oops")
    n = 5
    if what == "comments":
        for i in range(n):
            command(r, op="comment", incident="wt-1", by="cc", note="c%d" % i)  # liuyang told
    elif what == "report":
        submit(r, "patrol", base(id="wt-1"))
    elif what == "dedup":
        submit(r, "patrol", base(dedup_key="wt-key", title="again"))
    else:
        submit(r, "patrol", "{not json")
    wait_for(lambda: any("WRONGTYPE" in (l.get("error") or "") and key in l["error"]
                         for l in daemon.events("redis_error")), 10, "the refusal logged")
    # nothing of any step was written while the key was wrong
    after = {k: r.dump(k) for k in r.keys("gr:*")
             if not k.startswith("gr:in:") and k not in (key, "gr:defaults")}
    assert after == {k: v for k, v in before.items() if k != key}
    r.delete(key)
    if what == "comments":
        wait_for(lambda: len([e for e in timeline(r, "wt-1") if e["type"] == "comment"]) == n,
                 10, "every comment once")
        notes = [e["note"] for e in timeline(r, "wt-1") if e["type"] == "comment"]
        assert notes == ["c%d" % i for i in range(n)]  # once each, in order
        assert incident(r, "wt-1")["version"] == str(2 + n)
    elif what == "report":
        wait_for(lambda: routed(r, "wt-1"), 10, "created once the key is right")
        assert len(routed(r, "wt-1")) == 1 and r.zscore("gr:due", "wt-1") is not None
        assert r.zscore("gr:open", "wt-1") is not None
    elif what == "dedup":
        wait_for(lambda: incident(r, "wt-1").get("count") == "2" or
                 len(assignments(r)) == 2, 10, "the report applied")
    else:
        wait_for(lambda: len(deadletters(r)) == 1, 10, "dead-lettered once")
    wait_for(lambda: all(r.xpending("gr:in:" + s, "gridrouted")["pending"] == 0
                         for s in ("patrol", "commands")), 10, "every entry acknowledged")


# ---- the schema version and migrate ----------------------------------------

# The 14 fields a creation writes over gr:defaults' first values, and the
# fields of §7 that start at one (lc_create_written, lc_create_defaults).
WRITTEN = ("channel", "created_at", "level_key", "assignees", "policy", "ack_deadline",
           "resolve_deadline", "last_seen_at", "unit", "category", "updated_at")
DEFAULTS = {"co_assignees": "[]", "case_deadline": "", "verify_deadline": "",
            "review_deadline": "", "parked_until": "", "resolved_at": "", "verifiers": "[]",
            "resolved_by": "", "handled_by": "", "pending_extension": "", "extensions": "0",
            "reworks": "0", "reopens": "0", "urges": "0", "late": "0", "parked_at": "",
            "version": "1", "state": "open", "level": "1", "count": "1"}


def test_a_new_incident_is_a_copy_of_the_defaults_put_right(r, daemon):
    """A creation copies gr:defaults and writes its own fields over it; a
    gr:defaults someone changed, gave an expiry or made another type is put
    right before it is copied, so that no new incident inherits it."""
    def created(title):
        entry = submit(r, "patrol", base(title=title))
        inc = "patrol-" + entry
        wait_for(lambda: routed(r, inc), 10, "routed")
        return inc, incident(r, inc)

    inc, h = created("一")
    assert set(h) == set(WRITTEN) | set(DEFAULTS) | {"report_sha1"}
    assert all(h[f] != "" for f in WRITTEN)  # no first value left
    # each value under its own name (the daemon sends them by position)
    assert h["unit"] == G03 and h["channel"] == "patrol" and h["category"] == "urban_management"
    assert h["created_at"] == h["updated_at"] == h["last_seen_at"]
    assert h["created_at"] == "%d" % r.zscore("gr:open", inc)
    assert h["ack_deadline"] == "%d" % r.zscore("gr:due", inc)
    assert int(h["resolve_deadline"]) > int(h["ack_deadline"]) > int(h["created_at"])
    assert h["level_key"] == "member" and json.loads(h["assignees"]) == ["liuyang"]
    assert h["policy"] and not h["policy"].isdigit() and h["policy"] != h["level_key"]
    assert {f: h[f] for f in DEFAULTS} == DEFAULTS
    assert r.pttl("gr:inc:" + inc) == -1
    for spoil in (lambda: r.hset("gr:defaults", mapping={"late": "1", "extra": "x"}),
                  lambda: r.pexpire("gr:defaults", 3600000),
                  lambda: r.hdel("gr:defaults", "version"),
                  lambda: (r.delete("gr:defaults"), r.set("gr:defaults", "oops")),
                  lambda: r.delete("gr:defaults")):
        spoil()
        inc2, h2 = created("二")
        assert set(h2) == set(h) and {f: h2[f] for f in DEFAULTS} == DEFAULTS
        assert r.pttl("gr:inc:" + inc2) == -1
        assert r.type("gr:defaults") == "hash" and r.pttl("gr:defaults") == -1
        assert "extra" not in r.hgetall("gr:defaults")


def test_a_refused_step_counts_nothing_and_its_batch_counts_the_rest(r, tmp, server):
    """The counters of a batch are summed and written once; a step refused
    (here: its unit's KPI hash made a string) has its share taken out, the
    others of the same batch are counted, and it is counted once when
    applied later."""
    import datetime
    import zoneinfo
    month = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    g01 = "xifeng/beijie/dongdajie/g01"
    bad = "gr:kpi:%s:%s" % (month, G03)
    r.set(bad, "oops")
    # both written before the daemon starts: its first read takes them together
    a = "patrol-" + submit(r, "patrol", base(title="甲"))
    b = "patrol-" + submit(r, "patrol", base(title="乙", unit=g01))
    d = Daemon(tmp, server.port).start()
    try:
        wait_for(lambda: routed(r, b), 10, "the other report routed")
        wait_for(lambda: any(bad in (l.get("error") or "") for l in d.events("redis_error")),
                 10, "the refusal logged")
        assert not r.exists("gr:inc:" + a)
        ub = incident(r, b)["unit"]  # the unit it resolved to
        stats = r.hgetall("gr:stats")
        assert stats.get("state:open") == "1" and stats.get("unit:xifeng/beijie") == "1"
        assert sum(int(v) for f, v in stats.items() if f.startswith("level:")) == 1
        assert r.smembers("gr:kpiunits:" + month) == {ub}
        assert r.hgetall("gr:kpi:%s:%s" % (month, ub)) == {"urban_management:created": "1"}
        r.delete(bad)
        wait_for(lambda: routed(r, a), 10, "routed once the key is right")
        wait_for(lambda: r.hget("gr:stats", "state:open") == "2", 10, "counted")
        assert r.hget("gr:stats", "unit:xifeng/beijie") == "2"
        assert r.smembers("gr:kpiunits:" + month) == {ub, G03}
        assert r.hgetall(bad) == {"urban_management:created": "1"}
        assert r.hgetall("gr:kpi:%s:%s" % (month, ub)) == {"urban_management:created": "1"}
        assert r.pttl(bad) > 0  # the expiry of a key the batch created
    finally:
        d.stop()


def v1_store(r):
    """A store as the previous version's daemon left it: an open incident that
    was acked, a resolved one, a dedup key, the sorted sets, and no gr:meta."""
    doc = {"id": "patrol-1700000000000-0", "category": "urban_management",
           "unit": G03 + "/x9", "title": "井盖缺失", "dedup_key": "lamp-1", "channel": "patrol",
           "severity": "normal", "reported_at": "2023-11-14T22:13:20.000Z"}
    inc = doc["id"]
    r.hset("gr:inc:" + inc, mapping={
        "doc": json.dumps(doc, ensure_ascii=False, separators=(",", ":")),
        "channel": "patrol", "state": "acked", "level": "1", "level_key": "member",
        "assignees": '["liuyang"]', "co_assignees": "[]", "policy": "slow",
        "ack_deadline": "4102444800000", "resolve_deadline": "4102444800000",
        "created_at": "1700000000001", "updated_at": "1700000000002",
        "last_seen_at": "1700000000001", "count": "1", "version": "2", "breached": ""})
    r.xadd("gr:inc:%s:timeline" % inc, {"event": json.dumps(
        {"type": "assigned", "incident": inc, "at": "2023-11-14T22:13:20.001Z",
         "source": "gr:in:patrol", "entry": "1700000000000-0", "level": 1,
         "level_key": "member", "reason": "new", "assignees": ["liuyang"],
         "co_assignees": []})})
    r.xadd("gr:inc:%s:timeline" % inc, {"event": json.dumps(
        {"type": "acked", "incident": inc, "at": "2023-11-14T22:13:20.002Z",
         "source": "gr:in:commands", "entry": "1700000000002-0", "by": "liuyang",
         "note": None})})
    r.sadd("gr:inc:%s:seen" % inc, "gr:in:patrol/1700000000000-0",
           "gr:in:commands/1700000000002-0")
    r.zadd("gr:due", {inc: 4102444800000})
    r.zadd("gr:open", {inc: 1700000000001})
    r.set("gr:dedup:lamp-1", inc)
    # a resolved one, expiring
    done = "feedback-1700000000005-0"
    ddoc = dict(doc, id=done, channel="feedback", dedup_key=None)
    del ddoc["dedup_key"]
    r.hset("gr:inc:" + done, mapping={
        "doc": json.dumps(ddoc), "channel": "feedback", "state": "resolved", "level": "1",
        "level_key": "member", "assignees": '["liuyang"]', "co_assignees": "[]",
        "policy": "slow", "ack_deadline": "1", "resolve_deadline": "2",
        "created_at": "1700000000005", "updated_at": "1700000000006",
        "last_seen_at": "1700000000005", "count": "1", "version": "2"})
    r.xadd("gr:inc:%s:timeline" % done, {"event": json.dumps(
        {"type": "assigned", "incident": done, "at": "x", "source": "gr:in:feedback",
         "entry": "1700000000005-0"})})
    r.sadd("gr:inc:%s:seen" % done, "gr:in:feedback/1700000000005-0")
    for k in ("gr:inc:" + done, "gr:inc:%s:timeline" % done, "gr:inc:%s:seen" % done):
        r.expire(k, 3600)
    return inc, done


def snapshot(r):
    return {k: r.dump(k) for k in r.keys("*")}


def test_a_v1_store_stops_the_daemon_before_it_writes(r, tmp, server):
    v1_store(r)
    before = snapshot(r)
    d = Daemon(tmp, server.port).start(wait_ready=False)
    rc = d.proc.wait(20)
    assert rc == 1
    lines = d.events("store_schema_wrong")
    assert len(lines) == 1 and "gridctl migrate" in lines[0]["error"]
    assert snapshot(r) == before  # no group, no meta, nothing
    # gridctl refuses to read or write it too
    p = ctl(server, "ls")
    assert p.returncode == 1 and "gridctl migrate" in p.stderr
    p = ctl(server, "ack", "patrol-1700000000000-0", "--by", "liuyang")
    assert p.returncode == 1 and "gridctl migrate" in p.stderr
    assert snapshot(r) == before


def test_another_schema_stops_the_daemon(r, tmp, server):
    r.hset("gr:meta", "schema", "3")
    d = Daemon(tmp, server.port).start(wait_ready=False)
    assert d.proc.wait(20) == 1
    assert "schema 3" in d.events("store_schema_wrong")[0]["error"]
    assert not r.exists("gr:in:patrol")


def test_migrate_a_v1_store(r, tmp, server):
    inc, done = v1_store(r)
    # refused while a daemon's consumer reads
    r.xgroup_create("gr:in:commands", "gridrouted", id="0", mkstream=True)
    r.xadd("gr:in:commands", {"command": "{}"})
    r.xreadgroup("gridrouted", "old-daemon", {"gr:in:commands": ">"}, count=1)
    before = snapshot(r)
    p = ctl(server, "migrate", "--rules", RULES)
    assert p.returncode == 1 and "old-daemon" in p.stderr, p.stderr
    assert snapshot(r) == before
    r.xgroup_delconsumer("gr:in:commands", "gridrouted", "old-daemon")
    r.delete("gr:in:commands")

    p = ctl(server, "migrate", "--rules", RULES)
    assert p.returncode == 0, p.stderr
    assert "migrated 2 incidents" in p.stdout and "2 timelines (3 events)" in p.stdout
    assert "1 seen sets" in p.stdout and "2 creating entries left out" in p.stdout
    h = incident(r, inc)
    assert "doc" not in h and h["unit"] == G03  # as the rules resolve .../x9
    assert h["category"] == "urban_management"
    assert document(r, inc)["title"] == "井盖缺失"
    assert [e["type"] for e in timeline(r, inc)] == ["assigned", "acked"]
    assert r.smembers("gr:seen:" + inc) == {"gr:in:commands/1700000000002-0"}
    assert r.keys("gr:inc:*:*") == []
    assert not r.exists("gr:seen:" + done)
    for k in ("gr:inc:", "gr:doc:", "gr:timeline:"):
        assert 0 < r.ttl(k + done) <= 3600, k
    assert r.hget("gr:meta", "schema") == "2"
    # the live counters of the screen count the case left open, not the resolved one
    assert r.hgetall("gr:stats") == {"state:acked": "1", "level:member": "1", "unit:xifeng/beijie": "1"}
    assert r.zrange("gr:deadlines", 0, -1, withscores=True) == [(inc, 4102444800000)]
    # again: nothing to do, nothing changed
    after = snapshot(r)
    p = ctl(server, "migrate", "--rules", RULES)
    assert p.returncode == 0 and "nothing to migrate" in p.stdout, p.stdout
    assert {k: v for k, v in snapshot(r).items()} == after

    # the daemon routes on it: commands on the migrated incident, a replay recognized
    d = Daemon(tmp, server.port).start()
    try:
        command(r, op="comment", incident=inc, by="liuyang", note="迁移后")
        wait_for(lambda: [e for e in timeline(r, inc) if e["type"] == "comment"], 10,
                 "a command on the migrated incident")
        # its creating entry, read again
        r.xadd("gr:in:patrol", {"incident": json.dumps(
            {"category": "urban_management", "unit": G03 + "/x9", "title": "井盖缺失",
             "dedup_key": "lamp-1"}, ensure_ascii=False)}, id="1700000000000-0")
        dup = submit(r, "patrol", base(dedup_key="lamp-1"))
        wait_for(lambda: incident(r, inc).get("count") == "2", 10, "merged by its dedup key")
        assert [e["type"] for e in timeline(r, inc)][-1] == "duplicate"
        wait_for(lambda: r.xpending("gr:in:patrol", "gridrouted")["pending"] == 0, 10, "acked")
        # the replayed creating entry created nothing and was not dead-lettered as a
        # conflict: the incident is recognized by its first event's source and entry
        assert [d_["entry"] for d_ in deadletters(r)] == []
        new = submit(r, "patrol", base())
        wait_for(lambda: routed(r, "patrol-" + new), 10, "a new report routed")
        assert dup
        command(r, op="resolve", incident=inc, by="liuyang")
        wait_for(lambda: incident(r, inc)["state"] == "resolved", 10, "the migrated case closed")
        stats = {k: v for k, v in r.hgetall("gr:stats").items() if v != "0"}
        assert stats == {"state:open": "1", "level:member": "1", "unit:xifeng/beijie": "1"}  # new
        assert r.zscore("gr:deadlines", inc) is None
    finally:
        assert d.stop() == 0


def test_meta_written_on_a_fresh_store(r, tmp, server):
    assert not r.exists("gr:meta")
    d = Daemon(tmp, server.port).start()
    try:
        assert r.hgetall("gr:meta") == {"schema": "2"}
    finally:
        assert d.stop() == 0
    assert os.path.exists(d.log_path)
