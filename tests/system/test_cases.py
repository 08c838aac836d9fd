"""The case workflow of SPEC v2 §3.3, §5 and §6 against the real daemon and a
real redis-server: every op's happy path and its refusals, each deadline kind
passing, parking across a restart, two daemons racing a command against a
deadline, and the whole worked example of docs/cases.md through gridctl."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import (GRIDCTL, Daemon, command, deadletters, document, incident, notifications,
                      submit, timeline, wait_for)

RULES = os.path.join(os.path.dirname(__file__), "rules_cases.yaml")
G01 = "xifeng/beijie/beidajie/g01"
G03 = "xifeng/beijie/beidajie/g03"
HOUR = 3600 * 1000
DISPATCHERS = ["hanxue", "tianye"]


@pytest.fixture
def daemon(tmp, server):
    d = Daemon(tmp, server.port, rules=RULES).start()
    yield d
    rc = d.stop()
    assert rc == 0, "gridrouted exited with %s; log:\n%s" % (rc, open(d.log_path).read()[-3000:])


_seq = [0]


def new_case(r, **kw):
    """Submit a report and wait for its first assignment; returns its id."""
    _seq[0] += 1
    doc = {"id": "case-%d-%d" % (os.getpid(), _seq[0]), "category": "urban_management",
           "unit": G03, "title": "井盖缺失"}
    doc.update(kw)
    submit(r, "patrol", doc)
    wait_for(lambda: incident(r, doc["id"]).get("state"), 5, "case %s created" % doc["id"])
    return doc["id"]


def outcome(r, inc, entry):
    """The events a command entry caused, or its dead letter; None while pending."""
    evs = [e for e in timeline(r, inc)
           if e.get("entry") == entry and e.get("source") == "gr:in:commands"]
    if evs:
        return ("applied", evs)
    for f in deadletters(r):
        if f.get("entry") == entry and f.get("source") == "gr:in:commands":
            return ("refused", f)
    return None


def act(r, **cmd):
    entry = command(r, **cmd)
    return wait_for(lambda: outcome(r, cmd["incident"], entry), 5,
                    "the outcome of %s %s" % (cmd["op"], cmd["incident"]))


def applied(r, **cmd):
    """Apply a command; returns (its events, the hash after)."""
    kind, got = act(r, **cmd)
    assert kind == "applied", "%s refused: %s: %s" % (cmd["op"], got.get("reason"),
                                                    got.get("error"))
    return got, incident(r, cmd["incident"])


def refused(r, reason, **cmd):
    before = incident(r, cmd["incident"])
    kind, got = act(r, **cmd)
    assert kind == "refused", "%s applied: %s" % (cmd["op"], got)
    assert got["reason"] == reason, got
    after = incident(r, cmd["incident"])
    assert after.get("version") == before.get("version")  # nothing changed
    return got


def types(r, inc):
    return [e["type"] for e in timeline(r, inc)]


def ms(t):
    """RFC 3339 UTC with milliseconds -> ms since epoch."""
    import datetime
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(round(d.timestamp() * 1000))


def rfc3339(t_ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ms // 1000)) + \
        ".%03dZ" % (t_ms % 1000)


def notified(r, inc, typ):
    """The ids told of the last notification of that type on that incident."""
    ns = [n for n in notifications(r) if n["incident"] == inc and n["type"] == typ]
    assert ns, "no %s notification for %s" % (typ, inc)
    return sorted(t["id"] for t in ns[-1]["to"])


def out_assignment(r, inc, event):
    got = [a for a in (json.loads(f["assignment"]) for _, f in r.xrange("gr:out:assignments"))
           if a["incident"] == inc and a["event"] == event]
    assert got, "no %s assignment for %s" % (event, inc)
    return got[-1]


def verifying(r, by="liuyang", **kw):
    inc = new_case(r, **kw)
    applied(r, op="resolve", incident=inc, by=by, note="已处置")
    return inc


def returned(r, **kw):
    inc = new_case(r, **kw)
    applied(r, op="return", incident=inc, by="liuyang", note="不属于本网格")
    return inc


def parked(r, **kw):
    inc = new_case(r, **kw)
    applied(r, op="park", incident=inc, by="hanxue", note="等待施工")
    return inc


def resolved(r):
    inc = verifying(r)
    applied(r, op="verify", incident=inc, by="zhenghua", passed=True)
    return inc


# ---- the worked example (docs/cases.md), by gridctl alone ------------------

def gridctl(server, *args):
    p = subprocess.run([GRIDCTL, "--redis", "127.0.0.1:%d" % server.port, *args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout


def test_worked_example(r, server, daemon, tmp):
    report = os.path.join(tmp, "report.json")
    with open(report, "w") as f:
        json.dump({"id": "wo-20261203-001", "category": "urban_management", "unit": G03,
                   "title": "井盖缺失", "detail": "北大街与南环路口东南角"}, f,
                  ensure_ascii=False)
    inc = "wo-20261203-001"
    # 派遣: the report is routed to the grid member of g03, the property co-assigned
    out = gridctl(server, "submit", "patrol", report, "--wait")
    assert "assigned %s: level 1 member" % inc in out and "-> liuyang" in out
    h = incident(r, inc)
    created = int(h["created_at"])
    assert int(h["case_deadline"]) == created + 3 * 24 * HOUR  # close_within: 3d
    # 回退: not this grid's manhole; the dispatchers have review_within (1h)
    gridctl(server, "return", inc, "--by", "liuyang", "--note", "不属于本网格", "--wait")
    h = incident(r, inc)
    assert (h["state"], json.loads(h["assignees"]), h["co_assignees"]) == \
        ("returned", DISPATCHERS, "[]")
    t_return = ms([e for e in timeline(r, inc) if e["type"] == "returned"][0]["at"])
    assert int(h["review_deadline"]) == t_return + HOUR
    assert h["ack_deadline"] == "" and h["resolve_deadline"] == ""
    # 改派: to grid g01, routed again from the policy's first level
    gridctl(server, "redispatch", inc, "--by", "hanxue", "--unit", G01, "--wait")
    h = incident(r, inc)
    ev = [e for e in timeline(r, inc) if e["type"] == "redispatched"][0]
    t_redispatch = ms(ev["at"])
    assert (h["state"], h["unit"], json.loads(h["assignees"])) == ("open", G01, ["wangfang"])
    assert ev["reason"] == "redispatch" and ev["by"] == "hanxue" and ev["unit"] == G01
    assert int(h["resolve_deadline"]) == t_redispatch + 2 * HOUR
    assert h["review_deadline"] == "" and document(r, inc)["unit"] == G01
    # 延期: the member asks for two more hours, the leader (above) grants them
    gridctl(server, "extend", inc, "--by", "wangfang", "--for", "2h", "--note", "需协调物业",
            "--wait")
    h = incident(r, inc)
    pending = json.loads(h["pending_extension"])
    assert pending["by"] == "wangfang" and ms(pending["until"]) == t_redispatch + 4 * HOUR
    assert int(h["resolve_deadline"]) == t_redispatch + 2 * HOUR  # a request changes nothing
    assert notified(r, inc, "extension_requested") == sorted(["liqiang"] + DISPATCHERS)
    gridctl(server, "approve", inc, "--by", "liqiang", "--wait")
    h = incident(r, inc)
    assert int(h["resolve_deadline"]) == t_redispatch + 4 * HOUR
    assert (h["extensions"], h["pending_extension"]) == ("1", "")
    assert int(h["case_deadline"]) == created + 3 * 24 * HOUR  # later than until: kept
    # 处置 -> 核查 failed -> 返工 at the same level
    gridctl(server, "resolve", inc, "--by", "wangfang", "--note", "已补装井盖", "--wait")
    h = incident(r, inc)
    t_resolve = ms([e for e in timeline(r, inc) if e["type"] == "verify_requested"][0]["at"])
    assert (h["state"], json.loads(h["verifiers"])) == ("verifying", ["zhenghua"])
    assert int(h["verify_deadline"]) == t_resolve + HOUR
    assert json.loads(h["assignees"]) == ["wangfang"]  # the handlers stay
    gridctl(server, "verify", inc, "--by", "zhenghua", "--failed", "--note", "井盖未固定",
            "--wait")
    h = incident(r, inc)
    ev = [e for e in timeline(r, inc) if e["type"] == "reworked"][0]
    assert ev["reason"] == "verify_failed" and ev["level_key"] == "member"
    assert (h["state"], h["level"], h["reworks"], h["verifiers"]) == ("open", "1", "1", "[]")
    assert int(h["resolve_deadline"]) == ms(ev["at"]) + 2 * HOUR  # the grant was the old level's
    # 处置 -> 核查 passed -> 结案
    gridctl(server, "resolve", inc, "--by", "wangfang", "--note", "已固定", "--wait")
    gridctl(server, "verify", inc, "--by", "zhenghua", "--passed", "--wait")
    h = incident(r, inc)
    assert (h["state"], h["resolved_by"], h["handled_by"], h["late"]) == \
        ("resolved", "zhenghua", "wangfang", "0")
    resolved_at = int(h["resolved_at"])
    assert resolved_at <= int(h["case_deadline"])  # closed on time
    assert r.zscore("gr:open", inc) is None and r.zscore("gr:due", inc) is None
    assert r.pttl("gr:inc:" + inc) > 0
    assert notified(r, inc, "resolved") == ["wangfang", "wuye"]
    # show: a closed case's last verify and case deadlines are history, not "in 59m"
    shown = dict(line.split(None, 1) for line in
                 gridctl(server, "show", inc).split("timeline")[0].splitlines())
    for k in ("verify_deadline", "case_deadline"):
        assert shown[k].endswith("Z"), (k, shown[k])
    assert shown["resolved_at"].endswith(" ago)")
    # 重办: a resident calls again; back to the first level, a new case deadline
    gridctl(server, "reopen", inc, "--by", "hanxue", "--note", "居民再次反映", "--wait")
    h = incident(r, inc)
    ev = [e for e in timeline(r, inc) if e["type"] == "reopened"][0]
    assert ev["reason"] == "reopen" and ev["assignees"] == ["wangfang"]
    assert (h["state"], h["level_key"], h["reopens"], h["resolved_at"], h["resolved_by"],
            h["handled_by"]) == ("open", "member", "1", "", "", "")
    assert int(h["case_deadline"]) == ms(ev["at"]) + 3 * 24 * HOUR
    assert r.zscore("gr:open", inc) == created and r.pttl("gr:inc:" + inc) == -1
    assert (h["extensions"], h["reworks"], h["urges"]) == ("1", "1", "0")
    assert types(r, inc) == [
        "assigned", "returned", "redispatched", "extension_requested", "extended",
        "verify_requested", "reworked", "verify_requested", "resolved", "reopened"]
    handed = [a["event"] for a in (json.loads(f["assignment"])
                                   for _, f in r.xrange("gr:out:assignments"))
              if a["incident"] == inc]
    assert handed == ["assigned", "returned", "redispatched", "verify_requested", "reworked",
                      "verify_requested", "reopened"]
    shown = json.loads(gridctl(server, "show", inc, "--json"))
    assert shown["incident"]["reopens"] == 1 and len(shown["timeline"]) == 10


# ---- each op's happy path ------------------------------------------------

def test_escalate_and_reassign_record_by_and_note(r, daemon):
    inc = new_case(r)
    evs, h = applied(r, op="escalate", incident=inc, by="cc", note="群众反映强烈")
    ev = [e for e in evs if e["type"] == "escalated"][0]
    assert (ev["by"], ev["note"], ev["reason"], h["level_key"]) == \
        ("cc", "群众反映强烈", "manual", "leader")
    evs, h = applied(r, op="reassign", incident=inc, by="chenjing", level="member",
                     note="交回网格员")
    assert (evs[0]["type"], evs[0]["by"], evs[0]["note"]) == ("reassigned", "chenjing", "交回网格员")


def test_return_hands_the_case_to_the_dispatchers(r, daemon):
    inc = returned(r)
    h = incident(r, inc)
    assert (h["state"], h["level"], json.loads(h["assignees"]), h["co_assignees"]) == \
        ("returned", "1", DISPATCHERS, "[]")
    assert r.zscore("gr:due", inc) == int(h["review_deadline"])
    a = out_assignment(r, inc, "returned")
    assert (a["reason"], a["assignees"], a["deadline"]) == \
        ("return", DISPATCHERS, a["review_deadline"])
    assert notified(r, inc, "returned") == DISPATCHERS
    # in returned the stored dispatchers are the current assignees: the member no longer is
    refused(r, "not_authorized", op="comment", incident=inc, by="liuyang", note="?")
    applied(r, op="comment", incident=inc, by="tianye", note="核实中")


def test_redispatch_to_another_category_matches_the_policy_again(r, daemon):
    inc = returned(r)
    case_deadline = incident(r, inc)["case_deadline"]
    evs, h = applied(r, op="redispatch", incident=inc, by="tianye", category="sanitation",
                     note="属环境卫生")
    ev = evs[-1]
    assert (ev["type"], ev["category"], ev["unit"], ev["note"]) == \
        ("redispatched", "sanitation", G03, "属环境卫生")
    assert (h["policy"], h["category"], h["state"], h["level_key"]) == \
        ("sanitation", "sanitation", "open", "member")
    assert h["case_deadline"] == case_deadline and h["late"] == "0"
    assert document(r, inc)["category"] == "sanitation"
    assert notified(r, inc, "redispatched") == ["liuyang"]  # sanitation co-assigns nobody


def test_redispatch_of_an_open_case_by_a_dispatcher(r, daemon):
    inc = new_case(r)
    evs, h = applied(r, op="redispatch", incident=inc, by="hanxue", unit=G01)
    assert (h["unit"], json.loads(h["assignees"]), h["state"]) == (G01, ["wangfang"], "open")
    assert document(r, inc)["unit"] == G01


def test_cancel_closes_the_case_and_frees_its_dedup_key(r, daemon):
    inc = new_case(r, dedup_key="cam-7")
    assert r.get("gr:dedup:cam-7") == inc
    evs, h = applied(r, op="cancel", incident=inc, by="hanxue", note="重复上报")
    assert (evs[0]["type"], evs[0]["note"], h["state"]) == ("cancelled", "重复上报", "cancelled")
    assert r.zscore("gr:open", inc) is None and r.zscore("gr:due", inc) is None
    assert r.get("gr:dedup:cam-7") is None and r.pttl("gr:inc:" + inc) > 0
    assert notified(r, inc, "cancelled") == ["liuyang", "wuye"]
    refused(r, "invalid_transition", op="comment", incident=inc, by="cc", note="x")


def test_extend_by_a_dispatcher_is_granted_at_once(r, daemon):
    inc = new_case(r)
    rd = int(incident(r, inc)["resolve_deadline"])
    evs, h = applied(r, op="extend", incident=inc, by="hanxue", **{"for": "3h"}, note="材料未到")
    assert evs[0]["type"] == "extended" and ms(evs[0]["until"]) == rd + 3 * HOUR
    assert (int(h["resolve_deadline"]), h["extensions"]) == (rd + 3 * HOUR, "1")
    assert r.zscore("gr:due", inc) == int(h["ack_deadline"])  # the ack deadline is earlier
    # max_extensions: 1 — a second grant, even by an admin, is refused
    refused(r, "invalid_transition", op="extend", incident=inc, by="cc", **{"for": "1h"},
            note="再延")


def test_extend_request_denied(r, daemon):
    inc = new_case(r)
    rd = incident(r, inc)["resolve_deadline"]
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(rd) / 1000 + 86400))
    evs, h = applied(r, op="extend", incident=inc, by="liuyang", until=until, note="需要材料")
    assert evs[0]["type"] == "extension_requested" and h["resolve_deadline"] == rd
    refused(r, "invalid_transition", op="extend", incident=inc, by="liuyang", until=until,
            note="again")  # one request at a time
    evs, h = applied(r, op="deny", incident=inc, by="chenjing", note="不予延期")
    assert (evs[0]["type"], h["pending_extension"], h["extensions"]) == \
        ("extension_denied", "", "0")
    assert h["resolve_deadline"] == rd
    assert notified(r, inc, "extension_denied") == ["liuyang", "wuye"]


def test_a_pending_request_is_cleared_when_the_case_leaves_open(r, daemon):
    inc = new_case(r)
    applied(r, op="extend", incident=inc, by="liuyang", **{"for": "1h"}, note="需要材料")
    _, h = applied(r, op="return", incident=inc, by="liuyang", note="不属于本网格")
    assert h["pending_extension"] == ""


def test_park_for_a_while_then_the_clock_runs_on(r, daemon):
    inc = new_case(r)
    h0 = incident(r, inc)
    evs, h = applied(r, op="park", incident=inc, by="hanxue", note="等待管线施工",
                     **{"for": "700ms"})
    assert (h["state"], h["ack_deadline"], h["resolve_deadline"]) == ("parked", "", "")
    parked_at, until = int(h["parked_at"]), int(h["parked_until"])
    assert until == parked_at + 700 and ms(evs[0]["until"]) == until
    assert r.zscore("gr:due", inc) == until
    assert notified(r, inc, "parked") == ["liuyang", "tianye", "wuye"]  # less the actor
    wait_for(lambda: incident(r, inc)["state"] == "open", 5, "the automatic unpark")
    h = incident(r, inc)
    ev = [e for e in timeline(r, inc) if e["type"] == "unparked"][0]
    assert (ev["reason"], ev["level_key"], h["parked_at"], h["parked_until"]) == \
        ("park_expired", "member", "", "")
    t = ms(ev["at"])
    assert t >= until
    # the case deadline moved later by the time parked (close_within is clock time here)
    assert int(h["case_deadline"]) == int(h0["case_deadline"]) + (t - parked_at)
    assert int(h["ack_deadline"]) == t + HOUR
    out_assignment(r, inc, "unparked")


def test_park_until_unparked(r, daemon):
    inc = parked(r)
    h = incident(r, inc)
    assert h["parked_until"] == "" and r.zscore("gr:due", inc) is None
    refused(r, "not_authorized", op="unpark", incident=inc, by="liuyang")
    evs, h = applied(r, op="unpark", incident=inc, by="tianye", note="施工结束")
    assert (evs[0]["type"], evs[0]["reason"], h["state"]) == ("unparked", "unpark", "open")


def test_a_returned_case_parked_goes_back_to_returned(r, daemon):
    inc = returned(r)
    applied(r, op="park", incident=inc, by="hanxue", note="待区里研究")
    evs, h = applied(r, op="unpark", incident=inc, by="hanxue")
    assert (h["state"], json.loads(h["assignees"])) == ("returned", DISPATCHERS)
    assert int(h["review_deadline"]) == ms(evs[0]["at"]) + HOUR
    assert evs[0]["assignees"] == DISPATCHERS
    assert out_assignment(r, inc, "unparked")["assignees"] == DISPATCHERS


def test_verifiers_are_never_the_resolver(r, daemon):
    inc = verifying(r, by="cc")  # an admin resolves; the street's 监督员 verifies
    assert json.loads(incident(r, inc)["verifiers"]) == ["zhenghua"]
    assert notified(r, inc, "verify_requested") == ["zhenghua"]
    a = out_assignment(r, inc, "verify_requested")
    assert (a["reason"], a["assignees"], a["deadline"]) == \
        ("resolve", ["zhenghua"], a["verify_deadline"])
    # the resolver may not verify, even when he could otherwise act
    refused(r, "not_authorized", op="verify", incident=inc, by="liuyang", passed=True)
    # a comment in verifying also tells the verifiers
    applied(r, op="comment", incident=inc, by="liuyang", note="已拍照")
    assert notified(r, inc, "comment") == ["wuye", "zhenghua"]


def test_when_only_the_resolver_could_verify_the_admins_do(r, daemon):
    # political_legal cases are verified by the grid leader (rules_cases.yaml, "legal")
    inc = new_case(r, category="political_legal")
    _, h = applied(r, op="resolve", incident=inc, by="liuyang", note="已调解")
    assert json.loads(h["verifiers"]) == ["chenjing"]
    inc = new_case(r, category="political_legal")
    _, h = applied(r, op="resolve", incident=inc, by="chenjing", note="已调解")  # above
    assert json.loads(h["verifiers"]) == ["cc"]
    refused(r, "not_authorized", op="verify", incident=inc, by="chenjing", passed=True)
    _, h = applied(r, op="verify", incident=inc, by="cc", passed=True)
    assert (h["resolved_by"], h["handled_by"]) == ("cc", "chenjing")


def test_reopen_takes_the_dedup_key_again(r, daemon):
    inc = new_case(r, dedup_key="manhole-9")
    applied(r, op="resolve", incident=inc, by="liuyang")
    applied(r, op="verify", incident=inc, by="zhenghua", passed=True)
    assert r.get("gr:dedup:manhole-9") is None
    applied(r, op="reopen", incident=inc, by="cc", note="复发")
    assert r.get("gr:dedup:manhole-9") == inc


def test_urge_notifies_and_counts(r, daemon):
    inc = new_case(r)
    evs, h = applied(r, op="urge", incident=inc, by="hanxue", note="请尽快处理")
    assert (evs[0]["type"], h["urges"], h["state"]) == ("urged", "1", "open")
    assert notified(r, inc, "urged") == ["chenjing", "liuyang", "wuye"]  # and the level above
    inc = returned(r)
    applied(r, op="urge", incident=inc, by="cc")
    assert notified(r, inc, "urged") == DISPATCHERS  # in returned: the dispatchers only


# ---- refusals: not_authorized first, then invalid_transition ---------------

REFUSALS = [
    # (the case's state, the command, the reason)
    ("open", dict(op="return", by="wuye", note="x"), "not_authorized"),  # a co-assignee
    ("open", dict(op="return", by="liuyang"), "missing_field"),
    ("open", dict(op="return", by="liuyang", note=""), "missing_field"),
    ("returned", dict(op="return", by="hanxue", note="x"), "invalid_transition"),
    ("open", dict(op="redispatch", by="liuyang", unit=G01), "not_authorized"),
    ("open", dict(op="redispatch", by="hanxue", unit="hangzhou/xihu"), "unknown_unit"),
    ("open", dict(op="redispatch", by="hanxue", unit="lonely"), "no_assignee"),
    ("open", dict(op="redispatch", by="hanxue", category="elderly_care"), "unknown_category"),
    ("open", dict(op="redispatch", by="hanxue", unit="a//b"), "invalid_field"),
    ("parked", dict(op="redispatch", by="hanxue", unit=G01), "invalid_transition"),
    ("open", dict(op="cancel", by="chenjing", note="x"), "not_authorized"),
    ("open", dict(op="cancel", by="hanxue"), "missing_field"),
    ("resolved", dict(op="cancel", by="hanxue", note="x"), "invalid_transition"),
    ("open", dict(op="extend", by="liuyang", note="x"), "missing_field"),
    ("open", dict(op="extend", by="liuyang", **{"for": "1h"}), "missing_field"),
    ("open", dict(op="extend", by="liuyang", note="x", **{"for": "soon"}), "invalid_field"),
    ("open", dict(op="extend", by="liuyang", note="x", until="2030-01-01T00:00:00Z",
                  **{"for": "1h"}), "invalid_field"),
    ("open", dict(op="extend", by="liuyang", note="x", until="tomorrow"), "invalid_field"),
    ("open", dict(op="extend", by="liuyang", note="x", until="2020-01-01T00:00:00Z"),
     "invalid_transition"),  # not later than the resolve deadline
    ("open", dict(op="extend", by="wuye", note="x", **{"for": "1h"}), "not_authorized"),
    ("verifying", dict(op="extend", by="cc", note="x", **{"for": "1h"}), "invalid_transition"),
    ("open", dict(op="approve", by="chenjing"), "invalid_transition"),  # nothing pending
    ("open", dict(op="approve", by="liuyang"), "not_authorized"),
    ("open", dict(op="deny", by="wuye"), "not_authorized"),
    ("open", dict(op="park", by="liuyang", note="x"), "not_authorized"),
    ("open", dict(op="park", by="hanxue"), "missing_field"),
    ("open", dict(op="park", by="hanxue", note="x", until="2020-01-01T00:00:00Z"),
     "invalid_transition"),  # not later than now
    ("verifying", dict(op="park", by="hanxue", note="x"), "invalid_transition"),
    ("open", dict(op="unpark", by="hanxue"), "invalid_transition"),
    ("open", dict(op="verify", by="zhenghua", passed=True), "not_authorized"),  # not verifying
    ("open", dict(op="verify", by="cc", passed=True), "invalid_transition"),
    ("verifying", dict(op="verify", by="zhenghua"), "missing_field"),
    ("verifying", dict(op="verify", by="zhenghua", passed="yes"), "invalid_field"),
    ("verifying", dict(op="verify", by="chenjing", passed=True), "not_authorized"),
    ("open", dict(op="reopen", by="hanxue", note="x"), "invalid_transition"),
    ("resolved", dict(op="reopen", by="liuyang", note="x"), "not_authorized"),
    ("resolved", dict(op="reopen", by="hanxue"), "missing_field"),
    ("open", dict(op="urge", by="liuyang"), "not_authorized"),  # not above himself
    ("parked", dict(op="urge", by="hanxue"), "invalid_transition"),
    ("open", dict(op="resolve", by="zhenghua"), "not_authorized"),
    ("verifying", dict(op="resolve", by="liuyang"), "invalid_transition"),
    ("returned", dict(op="ack", by="hanxue"), "invalid_transition"),
    ("returned", dict(op="escalate", by="cc"), "invalid_transition"),
    ("open", dict(op="sign", by="liuyang"), "unknown_op"),
]

SETUP = {"open": new_case, "returned": returned, "parked": parked, "verifying": verifying,
         "resolved": resolved}


@pytest.mark.parametrize("state,cmd,reason", REFUSALS,
                         ids=["%s-%s-%d" % (s, c["op"], i) for i, (s, c, _) in
                              enumerate(REFUSALS)])
def test_refused(r, daemon, state, cmd, reason):
    inc = SETUP[state](r)
    assert incident(r, inc)["state"] == state
    dl = refused(r, reason, incident=inc, **cmd)
    assert dl["source"] == "gr:in:commands" and dl["error"]


def test_unknown_incident(r, daemon):
    refused(r, "unknown_incident", op="urge", incident="no-such-case", by="cc")


def test_the_errors_say_what_to_change(r, daemon):
    inc = new_case(r)
    dl = refused(r, "invalid_field", op="extend", incident=inc, by="liuyang", note="x",
                 until="2030-01-01T00:00:00Z", **{"for": "1h"})
    assert "until" in dl["error"] and "for" in dl["error"]
    dl = refused(r, "not_authorized", op="return", incident=inc, by="wuye", note="x")
    assert "wuye" in dl["error"]


# ---- each deadline kind passing -------------------------------------------

def test_verify_deadline_passing_breaches_once(r, daemon):
    inc = verifying(r, attrs={"speed": "verify"})
    vd = int(incident(r, inc)["verify_deadline"])
    wait_for(lambda: "breached" in types(r, inc), 5, "the verify_timeout breach")
    ev = [e for e in timeline(r, inc) if e["type"] == "breached"]
    assert [e["reason"] for e in ev] == ["verify_timeout"] and ms(ev[0]["at"]) >= vd
    h = incident(r, inc)
    assert h["state"] == "verifying" and r.zscore("gr:due", inc) is None
    assert notified(r, inc, "breached") == ["cc", "zhenghua"]
    # the case still waits for its verifier
    applied(r, op="verify", incident=inc, by="zhenghua", passed=True)
    assert types(r, inc).count("breached") == 1


def test_review_deadline_passing_breaches_once(r, daemon):
    inc = returned(r, attrs={"speed": "review"})
    wait_for(lambda: "breached" in types(r, inc), 5, "the review_timeout breach")
    assert [e["reason"] for e in timeline(r, inc) if e["type"] == "breached"] == \
        ["review_timeout"]
    assert notified(r, inc, "breached") == sorted(["cc"] + DISPATCHERS)
    assert incident(r, inc)["state"] == "returned" and r.zscore("gr:due", inc) is None


def test_ack_deadline_passing_escalates(r, daemon):
    inc = new_case(r, attrs={"speed": "ack"})
    wait_for(lambda: incident(r, inc)["level_key"] == "leader", 5, "the ack_timeout escalation")
    assert [e["reason"] for e in timeline(r, inc) if e["type"] == "escalated"] == ["ack_timeout"]


# ---- parking across a restart ----------------------------------------------

def test_parking_survives_a_restart(r, tmp, server):
    d = Daemon(tmp, server.port, rules=RULES).start()
    a = new_case(r)
    applied(r, op="park", incident=a, by="hanxue", note="等待", **{"for": "1500ms"})
    b = parked(r)  # until unparked
    until = int(incident(r, a)["parked_until"])
    assert d.stop() == 0
    # the daemon is down when parked_until passes
    wait_for(lambda: time.time() * 1000 > until + 200, 5, "parked_until to pass")
    assert incident(r, a)["state"] == "parked"
    d = Daemon(tmp, server.port, name="d2", rules=RULES).start()
    try:
        wait_for(lambda: incident(r, a)["state"] == "open", 5, "the unpark after the restart")
        assert [e["reason"] for e in timeline(r, a) if e["type"] == "unparked"] == \
            ["park_expired"]
        assert incident(r, b)["state"] == "parked"
        applied(r, op="unpark", incident=b, by="hanxue")
    finally:
        assert d.stop() == 0


# ---- two daemons racing a command against a deadline -------------------------

def test_unpark_command_racing_parked_until(r, tmp, server):
    d1 = Daemon(tmp, server.port, name="d1", rules=RULES).start()
    d2 = Daemon(tmp, server.port, name="d2", rules=RULES).start()
    try:
        cases = []
        start = time.time() * 1000
        for i in range(24):
            inc = new_case(r)
            until = int(start) + 3000 + 20 * i
            applied(r, op="park", incident=inc, by="hanxue", note="等待", until=rfc3339(until))
            assert int(incident(r, inc)["parked_until"]) == until
            cases.append((inc, until))
        entries = {}
        for i, (inc, until) in enumerate(cases):
            # write the command about when the timer falls due (the daemons look every
            # tick_ms, 50 ms here): from 20 ms before to 95 ms after, so both win at times
            while time.time() * 1000 < until - 20 + 5 * i:
                time.sleep(0.001)
            entries[inc] = command(r, op="unpark", incident=inc, by="tianye")
        for inc, _ in cases:
            wait_for(lambda: outcome(r, inc, entries[inc]) and incident(r, inc)["state"] == "open",
                     5, "the race on %s settled" % inc)
        reasons = []
        for inc, _ in cases:
            unparked = [e for e in timeline(r, inc) if e["type"] == "unparked"]
            kind, got = outcome(r, inc, entries[inc])
            assert len(unparked) == 1, timeline(r, inc)  # exactly one effect
            if kind == "applied":
                assert unparked[0]["reason"] == "unpark" and unparked[0]["entry"] == entries[inc]
            else:
                assert unparked[0]["reason"] == "park_expired"
                assert got["reason"] == "invalid_transition"
            reasons.append(unparked[0]["reason"])
            assert incident(r, inc)["version"] == "3"
        print("winners:", {x: reasons.count(x) for x in set(reasons)})
    finally:
        assert d1.stop() == 0 and d2.stop() == 0


def test_ack_racing_the_ack_deadline(r, tmp, server):
    d1 = Daemon(tmp, server.port, name="d1", rules=RULES).start()
    d2 = Daemon(tmp, server.port, name="d2", rules=RULES).start()
    try:
        cases = [new_case(r, attrs={"speed": "ack"}) for _ in range(16)]
        won = []
        entries = {}
        for i, inc in enumerate(cases):
            ad = int(incident(r, inc)["ack_deadline"])
            while time.time() * 1000 < ad - 20 + 6 * i:
                time.sleep(0.001)
            entries[inc] = command(r, op="ack", incident=inc, by="liuyang")
        for inc in cases:
            wait_for(lambda: outcome(r, inc, entries[inc]), 5, "the ack of %s" % inc)
            kind, got = outcome(r, inc, entries[inc])
            won.append(kind)
            t = types(r, inc)
            if kind == "applied":  # acked at the member's level: no ack_timeout afterwards
                assert t == ["assigned", "acked"] and incident(r, inc)["level_key"] == "member"
            else:  # escalated first: the member is below the case now
                assert got["reason"] == "not_authorized"
                assert t[:2] == ["assigned", "escalated"] and "acked" not in t
        print("ack applied:", won.count("applied"), "refused:", won.count("refused"))
    finally:
        assert d1.stop() == 0 and d2.stop() == 0


# ---- ls over the new states ------------------------------------------------

def test_ls_states_category_and_overdue(r, server, daemon):
    a = returned(r)
    b = parked(r)
    c = verifying(r)
    d = new_case(r, category="sanitation")
    e = new_case(r)
    applied(r, op="cancel", incident=e, by="hanxue", note="重复")
    f = resolved(r)

    def ls(*args):
        return [line.split()[0] for line in gridctl(server, "ls", *args).splitlines()]
    assert ls("--state", "returned") == [a]
    assert ls("--state", "parked") == [b]
    assert ls("--state", "verifying") == [c]
    assert ls("--category", "sanitation") == [d]
    assert ls("--state", "cancelled") == [e]
    assert ls("--state", "resolved") == [f]
    assert ls("--overdue") == []
    # a past case deadline (as a report's due_at sets it) is overdue without being a timer
    g = new_case(r, due_at="2020-01-01T00:00:00Z")
    wait_for(lambda: ls("--overdue") == [g] or None, 5, "the overdue case listed")


# ---- the rules change under open cases --------------------------------------

def reload_rules(daemon, text):
    with open(daemon.rules, "w") as f:
        f.write(text)
    n = len(daemon.events("reloaded"))
    daemon.kill(signal.SIGHUP)
    wait_for(lambda: len(daemon.events("reloaded")) > n, 10, "the rules reloaded")


def rules_text(*edits):
    text = open(RULES).read()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_a_rules_edit_hands_the_case_to_the_new_member(r, daemon):
    inc = new_case(r)
    reload_rules(daemon, rules_text(("member: {default: [liuyang]}", "member: {default: [zhangwei]}"),
                                    ("  liuyang:   {name: 刘洋", "  zhangwei:  {name: 张伟, notify: []}\n"
                                     "  liuyang:   {name: 刘洋")))
    # the stored assignee is still one, and so is whoever the chain holds now
    evs, h = applied(r, op="ack", incident=inc, by="zhangwei")
    assert json.loads(h["assignees"]) == ["liuyang", "zhangwei"] and h["state"] == "acked"


VACANT = [  # nobody at any level of g03's chain for sanitation
    ("member: {default: [liuyang]}, leader: {default: [chenjing]}",
     "member: {default: [liuyang], sanitation: []}, leader: {default: [chenjing], sanitation: []}"),
    ("duty: {default: [zhangqian]}", "duty: {default: [zhangqian], sanitation: []}"),
    ("duty: {default: [street1]}", "duty: {default: [street1], sanitation: []}"),
    ("duty: {default: [cc]}", "duty: {default: [cc], sanitation: []}"),
]


def test_unpark_to_a_vacant_chain(r, daemon):
    a = new_case(r, category="sanitation")
    applied(r, op="park", incident=a, by="cc", note="等待", **{"for": "1500ms"})
    b = new_case(r, category="sanitation")
    applied(r, op="park", incident=b, by="cc", note="等待")
    reload_rules(daemon, rules_text(*VACANT))
    # a command finds nobody to hand the case to: dead-lettered, the case stays parked
    dl = refused(r, "no_assignee", op="unpark", incident=b, by="cc")
    assert "nobody is on duty at its level or above" in dl["error"]
    # the timer's unpark breaches once and leaves the case as it was
    wait_for(lambda: "breached" in types(r, a), 5, "the no_assignee breach")
    ev = [e for e in timeline(r, a) if e["type"] == "breached"]
    assert [e["reason"] for e in ev] == ["no_assignee"]
    assert incident(r, a)["state"] == "parked" and r.zscore("gr:due", a) is None


def test_a_moved_deadline_can_breach_again(r, daemon):
    inc = new_case(r, attrs={"speed": "ack"})
    applied(r, op="reassign", incident=inc, by="cc", level="district")
    wait_for(lambda: types(r, inc).count("breached") == 1, 5, "the first breach")
    applied(r, op="reassign", incident=inc, by="cc", level="district", note="再次督办")
    wait_for(lambda: types(r, inc).count("breached") == 2, 5, "the second breach")
    assert [e["reason"] for e in timeline(r, inc) if e["type"] == "breached"] == \
        ["ack_timeout", "ack_timeout"]


def test_a_grant_later_than_the_case_deadline_moves_it(r, daemon):
    inc = new_case(r)
    h = incident(r, inc)
    until = int(h["case_deadline"]) + 2 * 24 * HOUR
    _, h = applied(r, op="extend", incident=inc, by="cc", until=rfc3339(until), note="大修")
    assert int(h["resolve_deadline"]) == until and int(h["case_deadline"]) == until


def test_working_time_without_a_calendar_is_an_invalid_field(r, daemon):
    inc = new_case(r)
    dl = refused(r, "invalid_field", op="extend", incident=inc, by="cc", note="x",
                 **{"for": "2wh"})
    assert "calendar" in dl["error"]
