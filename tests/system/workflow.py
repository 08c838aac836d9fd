"""A run of the real daemon that produces every kind of event of SPEC v2
§6, on rules_workflow.yaml: one case through the whole workflow (dedup,
comment, ack, an extension requested and denied, another requested and
approved, urge, verification failed and passed, reopen, return, park,
unpark, redispatch, reassign, escalate, cancel), and one that escalates
by itself past a vacant level up to a breach. Shared by test_logs.py and
test_backends.py; each step waits for its event."""
import json
import os

from conftest import submit, timeline, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, "rules_workflow.yaml")
G03 = "xifeng/beijie/beidajie/g03"
G04 = "xifeng/beijie/beidajie/g04"
EVENT_TYPES = {"assigned", "escalated", "reassigned", "skipped", "acked", "resolved", "breached",
               "duplicate", "comment", "verify_requested", "reworked", "returned", "redispatched",
               "cancelled", "extension_requested", "extended", "extension_denied", "parked",
               "unparked", "reopened", "urged"}


def events_of(r, inc):
    return [e["type"] for e in timeline(r, inc)]


def act(r, inc, event, **cmd):
    """A command; waits until its event is on the timeline. Returns the entry id."""
    before = len(timeline(r, inc))
    cmd["incident"] = inc
    entry = r.xadd("gr:in:commands", {"command": json.dumps(cmd, ensure_ascii=False)})

    def done():
        assert not r.xrange("gr:deadletter", "-", "+"), r.xrange("gr:deadletter")
        return event in events_of(r, inc)[before:]
    wait_for(done, 10, "%s on %s to give %s" % (cmd["op"], inc, event))
    return entry


def every_event(r):
    """Drive the daemon through every event type; the incidents' ids."""
    case = {"id": "case-1", "category": "urban_management", "unit": G03, "title": "井盖缺失",
            "detail": "北大街12号门前", "severity": "high", "dedup_key": "manhole-12",
            "reporter": {"name": "张先生", "phone": "13900000000"},
            "location": {"lat": 35.73, "lng": 107.64}, "attrs": {"flow": "case"}}
    submit(r, "patrol", case)
    wait_for(lambda: "assigned" in events_of(r, "case-1"), 10, "case-1 assigned")
    again = dict(case, id="case-1-again")
    submit(r, "feedback", dict(again, title="井盖又被报了"))
    wait_for(lambda: "duplicate" in events_of(r, "case-1"), 10, "the duplicate")
    inc = "case-1"
    act(r, inc, "comment", op="comment", by="liuyang", note="马上到")
    act(r, inc, "acked", op="ack", by="liuyang")
    act(r, inc, "extension_requested", op="extend", by="liuyang", note="等待配件",
        **{"for": "1h"})
    act(r, inc, "extension_denied", op="deny", by="chenjing", note="今天必须完成")
    act(r, inc, "extension_requested", op="extend", by="liuyang", note="配件明天到",
        until="2099-01-01T00:00:00Z")
    act(r, inc, "extended", op="approve", by="chenjing", note="同意")
    act(r, inc, "urged", op="urge", by="paiqian", note="居民催问")
    act(r, inc, "verify_requested", op="resolve", by="liuyang", note="已更换")
    act(r, inc, "reworked", op="verify", by="jiancha", passed=False, note="盖板不平")
    act(r, inc, "verify_requested", op="resolve", by="liuyang", note="已重新安装")
    act(r, inc, "resolved", op="verify", by="jiancha", passed=True, note="合格")
    act(r, inc, "reopened", op="reopen", by="paiqian", note="居民反映又松了")
    act(r, inc, "returned", op="return", by="liuyang", note="属于燃气井")
    act(r, inc, "parked", op="park", by="paiqian", note="等燃气公司")
    act(r, inc, "unparked", op="unpark", by="paiqian")
    act(r, inc, "redispatched", op="redispatch", by="paiqian", unit=G04,
        category="urban_management")
    act(r, inc, "reassigned", op="reassign", by="cc", level="community", note="社区统筹")
    act(r, inc, "escalated", op="escalate", by="cc", note="督办")
    act(r, inc, "cancelled", op="cancel", by="paiqian", note="燃气公司已处理")

    # by itself: member, leader (vacant: skipped), community, street, district, breach
    submit(r, "alert", {"id": "fast-1", "category": "political_legal", "unit": G04,
                        "title": "聚集", "attrs": {"flow": "fast"}})
    wait_for(lambda: "breached" in events_of(r, "fast-1"), 20, "fast-1 breached")
    seen = set()
    for i in ("case-1", "fast-1"):
        seen |= set(events_of(r, i))
    assert seen == EVENT_TYPES, EVENT_TYPES - seen
    return ["case-1", "fast-1"]
