"""The backend kit: docs/schemas/ (JSON Schema 2020-12) against what the
real daemon writes through every kind of event and against the samples
of docs/backends.md, the documents the schemas must refuse, and the three
redis-py examples of docs/examples/ run against a real Redis with the
shipped ACL users and the real daemon."""
import copy
import json
import os
import re
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator, RefResolver

from conftest import ROOT, Daemon, assignments, notifications, timeline, wait_for
from test_acl import AclRedis, denied, password, start_daemon, write_test_acl
from workflow import G03, RULES, EVENT_TYPES, every_event

SCHEMAS = os.path.join(ROOT, "docs", "schemas")
EXAMPLES = os.path.join(ROOT, "docs", "examples")
BACKENDS_MD = os.path.join(ROOT, "docs", "backends.md")
BASE = "https://gridroute.invalid/schemas/v2/"


def load_store():
    store = {}
    for f in sorted(os.listdir(SCHEMAS)):
        with open(os.path.join(SCHEMAS, f), encoding="utf-8") as fp:
            s = json.load(fp)
        assert s["$id"] == BASE + f, f
        store[s["$id"]] = s
    return store


STORE = load_store()


def validator(name):
    schema = STORE[BASE + name + ".json"]
    return Draft202012Validator(schema, resolver=RefResolver.from_schema(schema, store=STORE))


def errors(name, doc):
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message)
            for e in validator(name).iter_errors(doc)]


def test_the_schemas_are_2020_12_schemas():
    assert {n[len(BASE):] for n in STORE} == {"common.json", "incident.json", "command.json",
                                              "assignment.json", "notification.json",
                                              "event.json"}
    for s in STORE.values():
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(s)


def stream_docs(r, key, field):
    return [json.loads(f[field]) for _, f in r.xrange(key)]


def test_what_the_daemon_writes_matches_the_schemas(tmp, server, r):
    d = Daemon(tmp, server.port, rules=RULES).start()
    live = r.pubsub()
    live.subscribe("gr:events")
    try:
        ids = every_event(r)
    finally:
        assert d.stop() == 0
    published = []
    while True:
        m = live.get_message(timeout=0.5)
        if m is None:
            break
        if m["type"] == "message":
            published.append(json.loads(m["data"]))
    checked = {}

    def check(name, docs):
        assert docs, name
        for doc in docs:
            assert errors(name, doc) == [], (name, doc)
        checked[name] = checked.get(name, 0) + len(docs)
    check("incident", [document for ch in ("patrol", "feedback", "alert")
                       for document in stream_docs(r, "gr:in:" + ch, "incident")])
    check("incident", [json.loads(r.get("gr:doc:" + i)) for i in ids])
    check("command", stream_docs(r, "gr:in:commands", "command"))
    check("assignment", assignments(r))
    check("notification", notifications(r))
    events = [e for i in ids for e in timeline(r, i)]
    check("event", events)
    check("event", published)
    assert {e["type"] for e in events} == EVENT_TYPES
    assert sorted(map(json.dumps, published)) == sorted(map(json.dumps, events))
    assert {a["event"] for a in assignments(r)} == set(
        STORE[BASE + "common.json"]["$defs"]["assignment_event"]["enum"])
    # skipped tells nobody; the park and unpark of a returned case only its dispatcher, the actor
    assert {n["type"] for n in notifications(r)} == EVENT_TYPES - {"skipped", "parked",
                                                                   "unparked"}


def fresh():
    """One valid document of each kind, to break in one place at a time."""
    t = "2026-12-03T01:12:00.356Z"
    return {
        "incident": {"category": "urban_management", "unit": G03, "title": "井盖缺失"},
        "command": {"op": "ack", "incident": "case-1", "by": "liuyang"},
        "assignment": {"incident": "case-1", "event": "assigned", "reason": "new", "level": 1,
                       "level_key": "member", "level_name": "网格员", "assignees": ["liuyang"],
                       "co_assignees": [], "unit": G03, "unit_name": "第三网格",
                       "reported_unit": G03, "category": "urban_management", "channel": "patrol",
                       "severity": "normal", "title": "x", "policy": "default", "at": t,
                       "ack_deadline": t, "resolve_deadline": t, "verify_deadline": None,
                       "review_deadline": None, "case_deadline": None, "deadline": t},
        "notification": {"type": "acked", "incident": "case-1",
                         "to": [{"id": "liuyang", "name": "刘洋", "notify": ["sms:+86138"]}],
                         "level_key": "member", "text": "x", "at": t, "title": "x", "unit": G03,
                         "unit_name": "第三网格", "category": "urban_management",
                         "category_name": "城市管理", "level_name": "网格员",
                         "ack_deadline": None, "resolve_deadline": t, "verify_deadline": None,
                         "review_deadline": None, "deadline": t},
        "event": {"type": "breached", "incident": "case-1", "at": t, "level_key": "district",
                  "reason": "ack_timeout"},
    }


def broken(kind, change):
    doc = copy.deepcopy(fresh()[kind])
    change(doc)
    return doc


REFUSED = [
    ("incident", lambda d: d.pop("title"), "title required"),
    ("incident", lambda d: d.update(title=""), "empty title"),
    ("incident", lambda d: d.update(unit="Xifeng/Beijie"), "unit id form"),
    ("incident", lambda d: d.update(unit="/".join(["a"] * 17)), "17 segments"),
    ("incident", lambda d: d.update(severity="urgent"), "severity enum"),
    ("incident", lambda d: d.update(reported_at="2026-12-03 09:12"), "no seconds, no offset"),
    ("incident", lambda d: d.update(due_at="2026-13-01T00:00:00Z"), "month 13"),
    ("incident", lambda d: d.update(attrs={"n": 1}), "attrs of strings"),
    ("incident", lambda d: d.update(id="a b"), "id form"),
    ("incident", lambda d: d.update(channel="email"), "channel enum"),
    ("command", lambda d: d.update(op="fly"), "op enum"),
    ("command", lambda d: d.pop("by"), "by required"),
    ("command", lambda d: d.update(op="return"), "return needs a note"),
    ("command", lambda d: d.update(op="cancel", note=""), "an empty note is missing"),
    ("command", lambda d: d.update(op="extend", note="x"), "extend needs until or for"),
    ("command", lambda d: d.update(op="extend", note="x", until="2026-12-04T00:00:00Z",
                                   **{"for": "1h"}), "until and for"),
    ("command", lambda d: d.update(op="extend", note="x", **{"for": "1h30wm"}), "mixed units"),
    ("command", lambda d: d.update(op="reassign"), "reassign needs level"),
    ("command", lambda d: d.update(op="verify"), "verify needs passed"),
    ("command", lambda d: d.update(op="verify", passed="yes"), "passed is a boolean"),
    ("assignment", lambda d: d.pop("deadline"), "deadline required"),
    ("assignment", lambda d: d.update(event="acked"), "not an assignment event"),
    ("assignment", lambda d: d.update(reason="timeout"), "reason enum"),
    ("assignment", lambda d: d.update(level=0), "levels are 1-based"),
    ("assignment", lambda d: d.update(at="2026-12-03T01:12:00Z"), "milliseconds, always"),
    ("assignment", lambda d: d.update(ack_deadline="2026-12-03T09:12:00.356+08:00"), "UTC"),
    ("assignment", lambda d: d.update(extra=1), "no undocumented field"),
    ("notification", lambda d: d.update(to=[]), "somebody to tell"),
    ("notification", lambda d: d["to"][0].pop("notify"), "addresses"),
    ("notification", lambda d: d.pop("category_name"), "v2 fields required"),
    ("notification", lambda d: d.update(type="fixed"), "type enum"),
    ("event", lambda d: d.pop("reason"), "breached needs a reason"),
    ("event", lambda d: d.update(reason="new"), "not a breach reason"),
    ("event", lambda d: d.update(source="gr:in:patrol"), "source without entry"),
    ("event", lambda d: d.update(type="acked"), "acked needs by and note"),
    ("event", lambda d: d.update(type="duplicate", count=1), "duplicate needs count >= 2"),
    ("event", lambda d: d.update(type="extended", by="cc", note=None, until=None),
     "extended needs an until"),
    ("event", lambda d: d.update(type="assigned", level=1, reason="new", assignees=[],
                                 co_assignees=[]), "assigned reason ok, but ..."),
]


@pytest.mark.parametrize("kind", sorted(fresh()))
def test_the_valid_documents_pass(kind):
    assert errors(kind, fresh()[kind]) == []


@pytest.mark.parametrize("kind, change, why", REFUSED[:-1], ids=[w for _, _, w in REFUSED[:-1]])
def test_the_schemas_refuse_what_the_spec_refuses(kind, change, why):
    assert errors(kind, broken(kind, change)) != [], why


def test_an_assigned_event_with_its_fields_passes():
    kind, change, _ = REFUSED[-1]
    assert errors(kind, broken(kind, change)) == []


def doc_blocks(marker, lang):
    with open(BACKENDS_MD, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"<!-- %s: ([\w.]+) -->\n```%s\n(.*?)```" % (marker, lang), text, re.S)


def test_the_samples_in_the_docs_match_the_schemas():
    samples = doc_blocks("schema", "json")
    assert {k for k, _ in samples} == {"incident", "command", "assignment", "notification",
                                       "event"}
    with open(BACKENDS_MD, encoding="utf-8") as f:
        assert f.read().count("```json") == len(samples), "a JSON block without a schema marker"
    for kind, text in samples:
        assert errors(kind, json.loads(text)) == [], (kind, text)


def test_backends_md_quotes_the_examples_as_they_are():
    quoted = doc_blocks("example", "python")
    assert sorted(name for name, _ in quoted) == ["case_app.py", "gateway.py", "report.py"]
    for name, text in quoted:
        with open(os.path.join(EXAMPLES, name), encoding="utf-8") as f:
            assert text in f.read(), name


# ---- the examples, as the shipped ACL users, against the real daemon --------

@pytest.fixture
def kit(tmp):
    s = AclRedis(tmp, write_test_acl(tmp)).start()
    d = start_daemon(tmp, s, rules=RULES)
    admin = s.client("admin")
    yield s, admin
    assert d.stop() == 0
    for user in ("gridrouted", "reporter", "viewer", "gateway", "commander"):
        assert denied(admin, user) == [], user
    s.stop()


def url(server, user):
    return "redis://%s:%s@127.0.0.1:%d/0" % (user, password(user), server.port)


def example(name, *args, stdin=None):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args),
                       capture_output=True, text=True, timeout=60, input=stdin)
    assert p.stderr == "", p.stderr
    return p


def reporting(server, doc, channel="patrol"):
    body = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False)
    return example("report.py", "--url", url(server, "reporter"), "--read-url",
                   url(server, "viewer"), channel, "-", stdin=body)


def test_the_reporting_backend_example(kit):
    server, admin = kit
    doc = {"id": "bj-0007", "category": "urban_management", "unit": G03, "title": "井盖缺失"}
    p = reporting(server, doc)
    assert (p.returncode, p.stdout) == (0, "routed as bj-0007\n")
    assert admin.hget("gr:inc:bj-0007", "state") == "open"
    # the same bytes again: a retry, acknowledged and nothing else
    p = reporting(server, doc)
    assert (p.returncode, p.stdout) == (0, "already there: bj-0007 (a retry, nothing done "
                                           "again)\n")
    wait_for(lambda: admin.xpending("gr:in:patrol", "gridrouted")["pending"] == 0, 10, "acked")
    assert [e["type"] for e in timeline(admin, "bj-0007")] == ["assigned"]
    # other bytes under the same id
    p = reporting(server, dict(doc, title="井盖破损"))
    assert p.returncode == 1
    assert p.stdout.startswith("dead-lettered: id_conflict: "), p.stdout
    # a default id, and a merge by dedup_key
    p = reporting(server, {"category": "urban_management", "unit": G03, "title": "积水",
                           "dedup_key": "water-1"}, channel="feedback")
    m = re.fullmatch(r"routed as (feedback-\d+-\d+)\n", p.stdout)
    assert p.returncode == 0 and m, p.stdout
    p = reporting(server, {"category": "urban_management", "unit": G03, "title": "积水again",
                           "dedup_key": "water-1"}, channel="alert")
    assert (p.returncode, p.stdout) == (0, "merged into the open case %s (2 reports)\n"
                                        % m.group(1))
    p = reporting(server, {"category": "urban_management", "unit": G03})
    assert p.returncode == 1 and p.stdout.startswith("dead-lettered: missing_field: "), p.stdout


def test_the_gateway_example(kit):
    server, admin = kit
    for i in range(3):
        reporting(server, {"id": "gw-%d" % i, "category": "urban_management", "unit": G03,
                           "title": "井盖缺失%d" % i})
    wait_for(lambda: admin.xlen("gr:out:notifications") == 3, 10, "three notifications")
    # a gateway process that read one and died before sending it
    gw = server.client("gateway")
    gw.xgroup_create("gr:out:notifications", "sms-gateway", id="0")
    crashed = gw.xreadgroup("sms-gateway", "gw-0", {"gr:out:notifications": ">"}, count=1)
    assert len(crashed[0][1]) == 1
    p = example("gateway.py", "--url", url(server, "gateway"), "--consumer", "gw-1",
                "--count", "3", "--claim-idle-ms", "0")
    assert p.returncode == 0
    want = []
    for n in notifications(admin):
        want += ["%s\t%s" % (a, n["text"]) for t in n["to"] for a in t["notify"]]
    assert sorted(p.stdout.splitlines()) == sorted(want)
    assert admin.xpending("gr:out:notifications", "sms-gateway")["pending"] == 0
    # another run of the same consumer finds nothing left: it waits for new ones
    reporting(server, {"id": "gw-3", "category": "urban_management", "unit": G03, "title": "新"})
    p = example("gateway.py", "--url", url(server, "gateway"), "--consumer", "gw-1",
                "--count", "1")
    assert p.returncode == 0 and "新" in p.stdout and len(p.stdout.splitlines()) == 1


def test_the_case_app_example(kit):
    server, admin = kit
    reporting(server, {"id": "app-1", "category": "urban_management", "unit": G03,
                       "title": "井盖缺失", "attrs": {"flow": "case"}})
    app = ["case_app.py", "--url", url(server, "commander")]
    p = example(*app, "ack", "app-1", "--by", "liuyang")
    assert p.returncode == 0, p.stdout
    evs = [json.loads(l) for l in p.stdout.splitlines()]
    assert [e["type"] for e in evs] == ["acked"] and evs[0]["by"] == "liuyang"
    p = example(*app, "extend", "app-1", "--by", "liuyang", "--note", "等待配件",
                "--field", "for=1h")
    assert p.returncode == 0
    assert [json.loads(l)["type"] for l in p.stdout.splitlines()] == ["extension_requested"]
    p = example(*app, "resolve", "app-1", "--by", "liuyang", "--note", "已更换")
    assert [json.loads(l)["type"] for l in p.stdout.splitlines()] == ["verify_requested"]
    p = example(*app, "verify", "app-1", "--by", "jiancha", "--field", "passed=true")
    assert [json.loads(l)["type"] for l in p.stdout.splitlines()] == ["resolved"]
    assert admin.hget("gr:inc:app-1", "state") == "resolved"
    # refused: a dead letter, exit 1
    p = example(*app, "ack", "app-1", "--by", "chenjing")
    assert p.returncode == 1 and p.stdout.startswith("dead-lettered: "), p.stdout
    p = example(*app, "ack", "nope", "--by", "liuyang")
    assert p.returncode == 1 and p.stdout.startswith("dead-lettered: unknown_incident: ")
