"""The daemon against a real Redis: routing, dead letters, commands,
escalation, dedup and redelivery."""
import datetime
import json
import signal

import pytest

from conftest import (Daemon, assignments, command, deadletters, incident, notifications, submit,
                      timeline, wait_for)

G03 = "xifeng/beijie/beidajie/g03"


def base(**kw):
    doc = {"category": "urban_management", "unit": G03, "title": "井盖缺失", "attrs": {"speed": "slow"}}
    doc.update(kw)
    return doc


@pytest.mark.parametrize("channel", ["patrol", "feedback", "scheduled", "alert"])
def test_each_channel_routes_to_the_grid_member(r, daemon, channel):
    entry = submit(r, channel, base())
    inc = "%s-%s" % (channel, entry)
    a = wait_for(lambda: [x for x in assignments(r) if x["incident"] == inc], 10, "assignment")[0]
    assert a["assignees"] == ["liuyang"]
    assert a["level"] == 1 and a["level_key"] == "member" and a["reason"] == "new"
    assert a["channel"] == channel and a["policy"] == "slow"
    h = incident(r, inc)
    assert h["state"] == "open" and h["version"] == "1" and h["count"] == "1"
    assert r.zscore("gr:open", inc) is not None and r.zscore("gr:due", inc) is not None
    n = [x for x in notifications(r) if x["incident"] == inc]
    assert n[0]["to"][0]["id"] == "liuyang" and n[0]["to"][0]["notify"] == ["sms:+8613800000001"]
    assert r.xpending("gr:in:" + channel, "gridrouted")["pending"] == 0


def test_camera_alert_starts_at_leader_with_co_assignee(r, daemon):
    entry = submit(r, "alert", base(attrs={"source": "camera"}))
    a = wait_for(lambda: assignments(r), 10, "assignment")[0]
    assert a["incident"] == "alert-" + entry
    assert a["level_key"] == "leader" and a["assignees"] == ["chenjing"]
    assert a["co_assignees"] == ["wuye"]


@pytest.mark.parametrize("payload,reason", [
    ('{"category":"nope","unit":"%s","title":"x"}' % G03, "unknown_category"),
    ('{"category":"urban_management","unit":"nowhere/x","title":"x"}', "unknown_unit"),
    ('{"category":"urban_management","unit":"%s"' % G03, "invalid_json"),
    ('{"category":"urban_management","unit":"%s"}' % G03, "missing_field"),
    ('{"category":"urban_management","unit":"%s","title":"x","severity":"huge"}' % G03,
     "invalid_field"),
    ('{"category":"urban_management","unit":"%s","title":"x","channel":"alert"}' % G03,
     "channel_mismatch"),
    ('{"category":"urban_management","unit":"%s","title":"%s"}' % (G03, "x" * 70000), "too_large"),
])
def test_bad_incidents_are_dead_lettered_whole(r, daemon, payload, reason):
    entry = submit(r, "patrol", payload)
    dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
    assert dl["reason"] == reason
    assert dl["source"] == "gr:in:patrol" and dl["entry"] == entry
    assert dl["payload"] == payload
    assert dl["error"]
    assert r.xpending("gr:in:patrol", "gridrouted")["pending"] == 0
    assert not r.exists("gr:inc:patrol-" + entry)


def test_entry_without_incident_field(r, daemon):
    entry = r.xadd("gr:in:feedback", {"foo": "bar"})
    dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
    assert dl["reason"] == "missing_payload" and dl["entry"] == entry
    assert json.loads(dl["payload"]) == {"foo": "bar"}


def test_good_input_keeps_flowing_between_bad(r, daemon):
    for i in range(20):
        submit(r, "patrol", base(title="ok %d" % i))
        submit(r, "patrol", "{broken %d" % i)
    wait_for(lambda: len(assignments(r)) == 20 and len(deadletters(r)) == 20, 15, "40 outcomes")


def test_ack_then_resolve(r, daemon):
    entry = submit(r, "patrol", base())
    inc = "patrol-" + entry
    wait_for(lambda: assignments(r), 10, "assignment")
    command(r, op="ack", incident=inc, by="liuyang")
    wait_for(lambda: incident(r, inc).get("state") == "acked", 10, "acked")
    command(r, op="resolve", incident=inc, by="liuyang", note="fixed")
    wait_for(lambda: incident(r, inc).get("state") == "resolved", 10, "resolved")
    assert r.zscore("gr:open", inc) is None and r.zscore("gr:due", inc) is None
    assert r.ttl("gr:inc:" + inc) > 0
    types = [e["type"] for e in timeline(r, inc)]
    assert types == ["assigned", "acked", "resolved"]


@pytest.mark.parametrize("cmd,reason", [
    ({"op": "resolve", "by": "nobody"}, "not_authorized"),
    ({"op": "escalate", "by": "wuye"}, "not_authorized"),
    ({"op": "fly", "by": "liuyang"}, "unknown_op"),
    ({"op": "ack"}, "missing_field"),
    ({"op": "reassign", "by": "cc", "level": "nope"}, "invalid_field"),
])
def test_bad_commands(r, daemon, cmd, reason):
    entry = submit(r, "patrol", base())
    inc = "patrol-" + entry
    wait_for(lambda: assignments(r), 10, "assignment")
    cmd["incident"] = inc
    command(r, **cmd)
    dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
    assert dl["reason"] == reason and dl["source"] == "gr:in:commands"


def test_command_on_unknown_incident(r, daemon):
    command(r, op="ack", incident="patrol-0-0", by="liuyang")
    assert wait_for(lambda: deadletters(r), 10, "dead letter")[0]["reason"] == "unknown_incident"


def test_ack_of_acked_is_invalid_transition(r, daemon):
    inc = "patrol-" + submit(r, "patrol", base())
    wait_for(lambda: assignments(r), 10, "assignment")
    command(r, op="ack", incident=inc, by="liuyang")
    wait_for(lambda: incident(r, inc).get("state") == "acked", 10, "acked")
    command(r, op="ack", incident=inc, by="liuyang")
    assert wait_for(lambda: deadletters(r), 10, "dead letter")[0]["reason"] == "invalid_transition"


def test_escalation_through_all_levels_by_ack_timeout(r, daemon):
    inc = "patrol-" + submit(r, "patrol", base(attrs={}))
    wait_for(lambda: any(e["type"] == "breached" for e in timeline(r, inc)), 15, "breach")
    tl = timeline(r, inc)
    esc = [(e["level_key"], e["reason"]) for e in tl if e["type"] == "escalated"]
    assert esc == [("leader", "ack_timeout"), ("community", "ack_timeout"),
                   ("street", "ack_timeout"), ("district", "ack_timeout")]
    breached = [e for e in tl if e["type"] == "breached"]
    assert len(breached) == 1 and breached[0]["level_key"] == "district"
    levels = [a["level"] for a in assignments(r) if a["incident"] == inc]
    assert levels == [1, 2, 3, 4, 5]


def test_a_deadline_between_ticks_is_met_on_time(r, tmp, server):
    # with a 5 s tick, a deadline is still acted on within milliseconds:
    # each round looks up the next deadline and sets a timer for it
    d = Daemon(tmp, server.port, name="d1", limits={"tick_ms": 5000}).start()
    try:
        inc = "patrol-" + submit(r, "patrol", base(attrs={"speed": "slow"}))
        wait_for(lambda: incident(r, inc).get("state") == "open", 10, "assigned")
        # a round surely runs between now and the deadline
        t = int(r.time()[0]) * 1000 + int(r.time()[1]) // 1000 + 5300
        r.hset("gr:inc:" + inc, "ack_deadline", t)
        r.zadd("gr:due", {inc: t})
        esc = wait_for(lambda: [a for a in assignments(r)
                                if a["incident"] == inc and a["event"] == "escalated"],
                       15, "escalation")[0]
        at = datetime.datetime.fromisoformat(esc["at"].replace("Z", "+00:00")).timestamp()
        late = at * 1000 - t
        assert 0 <= late < 250, late
    finally:
        assert d.stop() == 0


def test_escalation_by_resolve_timeout_after_ack(r, daemon):
    inc = "patrol-" + submit(r, "patrol", base(attrs={"speed": "resolve"}))
    wait_for(lambda: assignments(r), 10, "assignment")
    command(r, op="ack", incident=inc, by="liuyang")
    wait_for(lambda: any(e["type"] == "escalated" for e in timeline(r, inc)), 10, "escalation")
    esc = [e for e in timeline(r, inc) if e["type"] == "escalated"][0]
    assert esc["reason"] == "resolve_timeout" and esc["level_key"] == "leader"


def test_dedup_counts_duplicates(r, daemon):
    first = "patrol-" + submit(r, "patrol", base(dedup_key="manhole-17"))
    wait_for(lambda: assignments(r), 10, "assignment")
    submit(r, "feedback", base(dedup_key="manhole-17"))
    submit(r, "feedback", base(dedup_key="manhole-17"))
    wait_for(lambda: incident(r, first).get("count") == "3", 10, "count 3")
    assert len(assignments(r)) == 1
    assert r.get("gr:dedup:manhole-17") == first
    assert [e["count"] for e in timeline(r, first) if e["type"] == "duplicate"] == [2, 3]


def test_dedup_burst_of_one_new_key_makes_one_incident(r, daemon):
    # all in one pipeline: several creations race for the new key, one wins
    p = r.pipeline(transaction=False)
    for i in range(20):
        p.xadd("gr:in:" + ("patrol", "feedback")[i % 2],
               {"incident": json.dumps(base(dedup_key="pipe-burst-1"))})
    ids = p.execute()
    holder = wait_for(lambda: r.get("gr:dedup:pipe-burst-1"), 10, "the dedup key")
    wait_for(lambda: incident(r, holder).get("count") == "20", 10, "count 20")
    assert len(assignments(r)) == 1
    assert holder.split("-", 1)[1] in ids
    assert [e["count"] for e in timeline(r, holder) if e["type"] == "duplicate"] == \
        list(range(2, 21))
    wait_for(lambda: all(r.xpending(s, "gridrouted")["pending"] == 0
                         for s in ("gr:in:patrol", "gr:in:feedback")), 10, "all acked")
    assert not deadletters(r)


def test_own_pending_entries_are_routed_at_start(r, server, tmp):
    # entries read by this consumer before a crash, never acknowledged
    r.xgroup_create("gr:in:patrol", "gridrouted", id="0", mkstream=True)
    entry = submit(r, "patrol", base())
    r.xreadgroup("gridrouted", "d1", {"gr:in:patrol": ">"}, count=10)
    d = Daemon(tmp, server.port, name="d1").start()
    try:
        inc = "patrol-" + entry
        wait_for(lambda: incident(r, inc).get("state") == "open", 10, "incident from pending")
        wait_for(lambda: r.xpending("gr:in:patrol", "gridrouted")["pending"] == 0, 10, "ack")
        assert len(assignments(r)) == 1
    finally:
        assert d.stop() == 0


def test_replayed_stream_has_no_second_effect(r, daemon):
    first = "patrol-" + submit(r, "patrol", base())
    dup = "patrol-" + submit(r, "patrol", base(dedup_key="k1"))
    again = submit(r, "patrol", base(dedup_key="k1"))
    wait_for(lambda: incident(r, dup).get("count") == "2", 10, "duplicate counted")
    inc = "patrol-" + submit(r, "patrol", base())
    wait_for(lambda: incident(r, inc), 10, "third incident")
    command(r, op="ack", incident=first, by="liuyang")
    wait_for(lambda: incident(r, first).get("state") == "acked", 10, "acked")
    before = {i: incident(r, i)["version"] for i in (first, dup, inc)}
    # every entry of both streams is delivered again
    r.xgroup_setid("gr:in:patrol", "gridrouted", "0")
    r.xgroup_setid("gr:in:commands", "gridrouted", "0")
    marker = "patrol-" + submit(r, "patrol", base(title="marker"))
    wait_for(lambda: incident(r, marker), 10, "marker routed after the replay")
    wait_for(lambda: r.xpending("gr:in:patrol", "gridrouted")["pending"] == 0, 10, "acks")
    assert {i: incident(r, i)["version"] for i in (first, dup, inc)} == before, timeline(r, first)
    assert incident(r, dup)["count"] == "2"
    assert len(assignments(r)) == 4
    assert not r.exists("gr:inc:patrol-" + again)
    assert deadletters(r) == []


def test_sighup_with_broken_rules_keeps_old_rules(r, daemon):
    with open(daemon.rules, "a") as f:
        f.write("\nbogus: [\n")
    daemon.kill(signal.SIGHUP)
    wait_for(lambda: daemon.events("reload_failed"), 10, "reload failure logged")
    inc = "patrol-" + submit(r, "patrol", base())
    wait_for(lambda: incident(r, inc).get("state") == "open", 10, "routing on the old rules")


def test_sigterm_exits_zero(r, tmp, server):
    d = Daemon(tmp, server.port, name="d2").start()
    assert d.stop(signal.SIGTERM, timeout=5) == 0
    assert d.events("stopped")


def test_no_assignee(r, daemon):
    entry = submit(r, "patrol", base(unit="lonely"))
    dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
    assert dl["reason"] == "no_assignee" and dl["entry"] == entry


def test_no_policy(r, tmp, server):
    d = Daemon(tmp, server.port, name="np",
               rules=__import__("os").path.join(__import__("os").path.dirname(__file__),
                                                "rules_nopolicy.yaml")).start()
    try:
        entry = submit(r, "patrol", {"category": "urban_management", "unit": "g03", "title": "x"})
        dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
        assert dl["reason"] == "no_policy" and dl["entry"] == entry
        inc = "alert-" + submit(r, "alert", {"category": "urban_management", "unit": "g03",
                                             "title": "y"})
        wait_for(lambda: incident(r, inc), 10, "the alert routed")
    finally:
        assert d.stop() == 0


def test_manual_escalate_reassign_and_comment(r, daemon):
    inc = "patrol-" + submit(r, "patrol", base())
    wait_for(lambda: assignments(r), 10, "assignment")
    command(r, op="escalate", incident=inc, by="liuyang", note="督办")
    wait_for(lambda: incident(r, inc).get("level_key") == "leader", 10, "escalated")
    command(r, op="reassign", incident=inc, by="cc", level="street")
    wait_for(lambda: incident(r, inc).get("level_key") == "street", 10, "reassigned")
    command(r, op="comment", incident=inc, by="street1", note="已派人")
    wait_for(lambda: any(e["type"] == "comment" for e in timeline(r, inc)), 10, "comment")
    tl = timeline(r, inc)
    assert [e["type"] for e in tl] == ["assigned", "escalated", "reassigned", "comment"]
    assert tl[1]["reason"] == "manual" and tl[2]["reason"] == "reassign"
    assert tl[3]["by"] == "street1" and tl[3]["note"] == "已派人"
    a = [x for x in assignments(r) if x["incident"] == inc]
    assert [(x["event"], x["level_key"]) for x in a] == [
        ("assigned", "member"), ("escalated", "leader"), ("reassigned", "street")]
    assert json.loads(incident(r, inc)["assignees"]) == ["street1"]
    # the comment tells the current assignees but not the actor
    n = [x for x in notifications(r) if x["incident"] == inc and x["type"] == "comment"]
    assert n == [] or all(t["id"] != "street1" for t in n[0]["to"])


def test_escalate_at_last_level_is_invalid_transition(r, daemon):
    inc = "patrol-" + submit(r, "patrol", base())
    wait_for(lambda: assignments(r), 10, "assignment")
    command(r, op="reassign", incident=inc, by="cc", level="district")
    wait_for(lambda: incident(r, inc).get("level_key") == "district", 10, "at district")
    command(r, op="escalate", incident=inc, by="cc")
    assert wait_for(lambda: deadletters(r), 10, "dead letter")[0]["reason"] == "invalid_transition"


def test_escalation_through_all_levels_by_resolve_timeout(r, daemon):
    inc = "patrol-" + submit(r, "patrol", base(attrs={"speed": "resolve"}))
    wait_for(lambda: any(e["type"] == "breached" for e in timeline(r, inc)), 15, "breach")
    tl = timeline(r, inc)
    esc = [(e["level_key"], e["reason"]) for e in tl if e["type"] == "escalated"]
    assert esc == [("leader", "resolve_timeout"), ("community", "resolve_timeout"),
                   ("street", "resolve_timeout"), ("district", "resolve_timeout")]
    br = [e for e in tl if e["type"] == "breached"]
    assert len(br) == 1 and br[0]["reason"] == "resolve_timeout"
    # the breach tells the last level and every admin
    n = [x for x in notifications(r) if x["incident"] == inc and x["type"] == "breached"]
    assert {t["id"] for t in n[0]["to"]} == {"cc"}
    # it waits on its remaining (ack) deadline, and stays open
    h = incident(r, inc)
    assert h["breached"] == "resolve" and h["state"] == "open"
    assert r.zscore("gr:due", inc) == int(h["ack_deadline"])
    assert r.zscore("gr:open", inc) is not None


def test_after_an_ack_breach_the_resolve_deadline_is_still_watched(r, daemon):
    inc = "patrol-" + submit(r, "patrol", base(attrs={}))
    wait_for(lambda: any(e["type"] == "breached" for e in timeline(r, inc)), 15, "ack breach")
    command(r, op="ack", incident=inc, by="cc")
    wait_for(lambda: incident(r, inc).get("state") == "acked", 10, "acked")
    # the ack deadline is spent; the district's resolve deadline is what is left
    assert r.zscore("gr:due", inc) == int(incident(r, inc)["resolve_deadline"])


def test_max_deliveries(r, tmp, server):
    r.xgroup_create("gr:in:patrol", "gridrouted", id="0", mkstream=True)
    entry = submit(r, "patrol", base())
    for _ in range(5):  # five deliveries that never finished
        r.xreadgroup("gridrouted", "d1", {"gr:in:patrol": "0" if _ else ">"}, count=10)
    d = Daemon(tmp, server.port, name="d1").start()
    try:
        dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
        assert dl["reason"] == "max_deliveries" and dl["entry"] == entry
        assert not r.exists("gr:inc:patrol-" + entry)
    finally:
        assert d.stop() == 0


def test_an_entry_without_payload_says_so_even_when_redelivered_too_often(r, tmp, server):
    r.xgroup_create("gr:in:patrol", "gridrouted", id="0", mkstream=True)
    entry = r.xadd("gr:in:patrol", {"report": "{}"})
    for _ in range(5):
        r.xreadgroup("gridrouted", "d1", {"gr:in:patrol": "0" if _ else ">"}, count=10)
    d = Daemon(tmp, server.port, name="d1").start()
    try:
        dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
        assert dl["reason"] == "missing_payload" and dl["entry"] == entry
        assert json.loads(dl["payload"]) == {"report": "{}"}
    finally:
        assert d.stop() == 0


def test_idle_entries_of_another_consumer_are_claimed(r, tmp, server):
    # a consumer that read an entry and died before acknowledging it
    r.xgroup_create("gr:in:feedback", "gridrouted", id="0", mkstream=True)
    entry = r.xadd("gr:in:feedback", {"incident": json.dumps(base())})
    assert r.xreadgroup("gridrouted", "ghost", {"gr:in:feedback": ">"}, count=1)[0][1]
    d = Daemon(tmp, server.port, name="d1").start()
    try:
        inc = "feedback-" + entry
        wait_for(lambda: incident(r, inc), 15, "the daemon to claim and route it")
        wait_for(lambda: r.xpending("gr:in:feedback", "gridrouted")["pending"] == 0, 10, "ack")
        assert d.events("claimed")
    finally:
        assert d.stop() == 0


def test_sighup_with_a_good_edit_routes_on_the_new_rules(r, daemon):
    text = open(daemon.rules).read()
    with open(daemon.rules, "w") as f:
        f.write(text.replace("member: {default: [liuyang]}", "member: {default: [zhangqian]}"))
    daemon.kill(signal.SIGHUP)
    wait_for(lambda: daemon.events("reloaded"), 10, "the reload")
    inc = "patrol-" + submit(r, "patrol", base())
    a = wait_for(lambda: [x for x in assignments(r) if x["incident"] == inc], 10, "assignment")
    assert a[0]["assignees"] == ["zhangqian"]


def test_logfmt_lines_have_ts_level_event_and_escape_peer_values(r, tmp, server):
    d = Daemon(tmp, server.port, name="lf", log={"format": "logfmt", "level": "info"})
    d.start(wait_ready=False)
    try:
        wait_for(lambda: "event=pending_done" in open(d.log_path).read(), 10, "ready")
        submit(r, "patrol", '{"category":"a b\\nevent=fake","unit":"x","title":"t"}')
        wait_for(lambda: "event=deadletter" in open(d.log_path).read(), 10, "dead letter logged")
    finally:
        assert d.stop() == 0
    lines = open(d.log_path, encoding="utf-8").read().splitlines()
    for line in lines:
        assert line.startswith("ts="), line
        assert " level=" in line and " event=" in line, line
    dl = [l for l in lines if "event=deadletter" in l][0]
    keys = [k for k, _ in logfmt_pairs(dl)]
    assert keys.count("event") == 1, dl  # the peer's "event=fake" stays inside a quoted value
    assert "\n" not in dl


def logfmt_pairs(line):
    """key=value pairs of a logfmt line; values may be quoted with \\ escapes."""
    out, i = [], 0
    while i < len(line):
        j = line.index("=", i)
        key, i = line[i:j], j + 1
        if i < len(line) and line[i] == '"':
            i += 1
            val = ""
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                val += line[i]
                i += 1
            i += 1
        else:
            j = line.find(" ", i)
            j = len(line) if j < 0 else j
            val, i = line[i:j], j
        out.append((key, val))
        while i < len(line) and line[i] == " ":
            i += 1
    return out


def test_unix_socket(tmp):
    import os
    import subprocess
    import redis as redislib
    sock = os.path.join(tmp, "redis.sock")
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                             "--dir", tmp, "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    try:
        r = redislib.Redis(unix_socket_path=sock, decode_responses=True)

        def up():
            try:
                return r.ping()
            except (redislib.ConnectionError, FileNotFoundError):
                return False
        wait_for(up, 10, "redis on its socket")
        d = Daemon(tmp, 0, name="sock", redis={"socket": sock}).start()
        try:
            inc = "patrol-" + submit(r, "patrol", base())
            wait_for(lambda: incident(r, inc), 10, "routed over the unix socket")
        finally:
            assert d.stop() == 0
    finally:
        proc.terminate()
        proc.wait(10)


def test_events_are_published(r, daemon):
    ps = r.pubsub()
    ps.subscribe("gr:events")
    wait_for(lambda: ps.get_message(timeout=0.1), 5, "the subscription")
    inc = "patrol-" + submit(r, "patrol", base())

    def got():
        m = ps.get_message(timeout=0.1)
        return json.loads(m["data"]) if m and m["type"] == "message" else None
    ev = wait_for(got, 10, "an event on gr:events")
    assert ev["type"] == "assigned" and ev["incident"] == inc
    assert ev["source"] == "gr:in:patrol" and ev["level_key"] == "member"
    ps.close()


def test_unit_fallback_is_routed_and_logged(r, daemon):
    inc = "patrol-" + submit(r, "patrol", base(unit="xifeng/beijie/beidajie/g99"))
    a = wait_for(lambda: [x for x in assignments(r) if x["incident"] == inc], 10, "assignment")[0]
    assert a["unit"] == "xifeng/beijie/beidajie"
    assert a["reported_unit"] == "xifeng/beijie/beidajie/g99"
    assert a["level_key"] == "community"  # the grid levels are vacant: skipped
    ev = wait_for(lambda: daemon.events("unit_fallback"), 10, "the fallback logged")[0]
    assert ev["reported_unit"] == "xifeng/beijie/beidajie/g99"
    assert ev["unit"] == "xifeng/beijie/beidajie"
