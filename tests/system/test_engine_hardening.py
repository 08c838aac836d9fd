"""What a careless backend or a hand edit broke in the engine (issue 11):
per-incident order of commands, one bad input stream stopping only itself,
and an unreadable incident never holding up the other deadlines."""
import json
import urllib.error
import urllib.request

from conftest import (Daemon, command, free_port, incident, submit, timeline, wait_for)

G03 = "xifeng/beijie/beidajie/g03"


def slow(**kw):
    doc = {"category": "urban_management", "unit": G03, "title": "井盖缺失",
           "attrs": {"speed": "slow"}}
    doc.update(kw)
    return doc


def readyz(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2) as f:
            return f.status, f.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_commands_on_one_incident_apply_in_stream_order(r, daemon):
    ids = ["order-%02d" % i for i in range(30)]
    for inc in ids:
        submit(r, "patrol", slow(id=inc))
    wait_for(lambda: all(r.exists("gr:inc:" + i) for i in ids), 10, "30 incidents")
    pipe = r.pipeline(transaction=False)
    for inc in ids:
        for k in range(8):
            pipe.xadd("gr:in:commands", {"command": json.dumps(
                {"op": "comment", "incident": inc, "by": "liuyang", "note": "c%d" % k})})
        pipe.xadd("gr:in:commands", {"command": json.dumps(
            {"op": "escalate", "incident": inc, "by": "liuyang"})})
        # the new level's assignee: valid only after the escalation
        pipe.xadd("gr:in:commands", {"command": json.dumps(
            {"op": "ack", "incident": inc, "by": "chenjing"})})
    pipe.execute()
    wait_for(lambda: r.xpending("gr:in:commands", "gridrouted")["pending"] == 0 and
             r.xlen("gr:in:commands") == 300, 20, "every command handled")
    for inc in ids:
        types = [e["type"] for e in timeline(r, inc)]
        assert types == ["assigned"] + ["comment"] * 8 + ["escalated", "acked"], (inc, types)
        notes = [e["note"] for e in timeline(r, inc) if e["type"] == "comment"]
        assert notes == ["c%d" % k for k in range(8)], inc
        h = incident(r, inc)
        assert h["state"] == "acked" and h["level_key"] == "leader", (inc, h)
    assert r.xlen("gr:deadletter") == 0


def test_one_unreadable_input_stream_stops_only_itself(r, tmp, server):
    port = free_port()
    r.set("gr:in:scheduled", "oops")
    d = Daemon(tmp, server.port, http={"listen": "127.0.0.1:%d" % port}).start()
    try:
        # the other four streams flow
        p = submit(r, "patrol", slow())
        wait_for(lambda: r.exists("gr:inc:patrol-" + p), 10, "a patrol report routed")
        command(r, op="ack", incident="patrol-" + p, by="liuyang")
        wait_for(lambda: incident(r, "patrol-" + p).get("state") == "acked", 10,
                 "a command applied")
        code, body = readyz(port)
        assert code == 503 and "gr:in:scheduled cannot be read" in body and "WRONGTYPE" in body
        lines = d.events("stream_unreadable")
        assert len(lines) == 1 and lines[0]["stream"] == "gr:in:scheduled"
        # no storm of retries in the log
        assert len(d.events("read_failed")) <= 3

        # put right: read again, its own pending entries too
        r.delete("gr:in:scheduled")
        wait_for(lambda: d.events("stream_readable"), 10, "the stream readable again")
        s = submit(r, "scheduled", slow())
        wait_for(lambda: r.exists("gr:inc:scheduled-" + s), 10, "a scheduled report routed")
        assert readyz(port)[0] == 200
    finally:
        assert d.stop() == 0


def test_an_unreadable_incident_never_holds_up_the_others(r, tmp, server):
    # 1,100 incidents in gr:due that cannot be read, first in line
    r.hset("gr:meta", "schema", "2")
    pipe = r.pipeline(transaction=False)
    for i in range(1100):
        inc = "bad-%04d" % i
        pipe.hset("gr:inc:" + inc, mapping={"state": "open", "version": "1"})
        pipe.zadd("gr:due", {inc: 1})
    pipe.execute()
    d = Daemon(tmp, server.port).start()
    try:
        # a normal incident escalates on time all the same (300 ms to ack)
        e = submit(r, "patrol", {"category": "urban_management", "unit": G03, "title": "x"})
        inc = "patrol-" + e
        wait_for(lambda: any(ev["type"] == "escalated" for ev in timeline(r, inc)), 10,
                 "the normal incident escalated")
        wait_for(lambda: r.zcard("gr:unreadable") == 1100, 10, "the bad ones set aside")
        assert r.zscore("gr:due", "bad-0000") is None
        aside = d.events("incident_set_aside")
        assert len(aside) == 1100 and len({a["incident"] for a in aside}) == 1100
        assert "missing" in aside[0]["error"]
    finally:
        assert d.stop() == 0
