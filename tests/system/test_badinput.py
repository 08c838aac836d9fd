"""The bad-input corpus: every entry ends in the dead-letter stream with the
right reason and its whole payload, and good input interleaved with it is
routed as usual."""
import json

import pytest

from conftest import Daemon, assignments, deadletters, wait_for

G03 = "xifeng/beijie/beidajie/g03"
GOOD = {"category": "urban_management", "unit": G03, "title": "ok", "attrs": {"speed": "slow"}}


def inc(**kw):
    doc = dict(GOOD)
    doc.update(kw)
    return json.dumps(doc, ensure_ascii=False)


def drop(key):
    doc = dict(GOOD)
    del doc[key]
    return json.dumps(doc)


WRONG_TYPES = [(f, v) for f in ("id", "category", "unit", "title", "detail", "severity",
                                "reported_at", "due_at", "dedup_key", "channel")
               for v in (5, None, True, [], {})] + \
              [(f, v) for f in ("reporter", "location", "attrs") for v in (5, "x", [], True)]

CORPUS = [
    # (payload bytes, reason)
    (b'{"category": "urban_management", "unit": "x/y", "ti', "invalid_json"),
    (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    (b'{"category": "a", "unit": "b", "title": "\xff\xfe"}', "invalid_json"),
    (b'{"category": "a", "unit": "b", "title": "a\\u0000b"}', "invalid_json"),
    (b'{"category": "a", "unit": "b", "title": "a\x00b"}', "invalid_json"),
    (b"", "invalid_json"),
    (b"null", "invalid_json"),
    (b'"just a string"', "invalid_json"),
    (b"42", "invalid_json"),
    (b"{}", "missing_field"),
    (drop("category").encode(), "missing_field"),
    (drop("unit").encode(), "missing_field"),
    (drop("title").encode(), "missing_field"),
    (inc(title="").encode(), "invalid_field"),
    (inc(title="x" * 513).encode(), "invalid_field"),
    (inc(id="has space").encode(), "invalid_field"),
    (inc(id="a" * 129).encode(), "invalid_field"),
    (inc(id="gr:inc:x{y}").encode(), "invalid_field"),
    (inc(unit="Upper/Case").encode(), "invalid_field"),
    (inc(unit="/".join(["a"] * 17)).encode(), "invalid_field"),
    (inc(dedup_key="").encode(), "invalid_field"),
    (inc(dedup_key="k" * 257).encode(), "invalid_field"),
    (inc(reported_at="2026-13-01T00:00:00Z").encode(), "invalid_field"),
    (inc(reported_at="2023-02-29T00:00:00Z").encode(), "invalid_field"),
    (inc(due_at="2026-11-26T24:00:00Z").encode(), "invalid_field"),
    (inc(due_at="tomorrow").encode(), "invalid_field"),
    (inc(attrs={"source": 5}).encode(), "invalid_field"),
    (inc(severity="extreme").encode(), "invalid_field"),
    (inc(title="长" * 30000).encode(), "too_large"),
    (b'{"category":"urban_management","unit":"%s","title":"t","x":"%s"}' % (
        G03.encode(), b"a" * (10 * 1024 * 1024)), "too_large"),
] + [(inc(**{f: v}).encode(), "invalid_field") for f, v in WRONG_TYPES]


def test_bad_incidents_interleaved_with_good(r, server, daemon):
    import redis
    rb = redis.Redis(port=server.port)  # bytes: some payloads are not UTF-8
    entries = []
    for i, (payload, reason) in enumerate(CORPUS):
        r.xadd("gr:in:patrol", {"incident": inc(title="good %d" % i)})
        entries.append((rb.xadd("gr:in:patrol", {"incident": payload}).decode(), payload, reason))
    wait_for(lambda: rb.xlen("gr:deadletter") == len(CORPUS) and
             len(assignments(r)) == len(CORPUS), 30, "every entry settled")
    stored = {f[b"entry"].decode(): f for _, f in rb.xrange("gr:deadletter")}
    for entry, payload, reason in entries:
        dl = stored[entry]
        assert dl[b"reason"].decode() == reason, (payload[:80], dl[b"error"])
        assert dl[b"error"] and dl[b"source"] == b"gr:in:patrol"
        assert dl[b"payload"] == payload  # whole, byte for byte
    assert r.xpending("gr:in:patrol", "gridrouted")["pending"] == 0


def test_ten_thousand_fields_over_the_default_limit(r, daemon):
    doc = dict(GOOD)
    doc.update({"f%d" % i: i for i in range(10000)})
    body = json.dumps(doc)
    assert len(body) > 65536
    e = r.xadd("gr:in:patrol", {"incident": body})
    dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
    assert dl["reason"] == "too_large" and dl["entry"] == e and dl["payload"] == body


def test_ten_thousand_fields_within_a_bigger_limit(r, tmp, server):
    d = Daemon(tmp, server.port, name="big", limits={"max_incident_bytes": 1 << 20}).start()
    try:
        doc = dict(GOOD)
        doc.update({"f%d" % i: i for i in range(10000)})
        e = r.xadd("gr:in:patrol", {"incident": json.dumps(doc)})
        wait_for(lambda: r.exists("gr:inc:patrol-" + e), 10, "routed, unknown fields kept")
        stored = json.loads(r.get("gr:doc:patrol-" + e))
        assert stored["f9999"] == 9999
    finally:
        assert d.stop() == 0


BAD_COMMANDS = [
    (b"", "invalid_json"),
    (b"{", "invalid_json"),
    (b"[]", "invalid_json"),
    (b'{"incident": "x", "by": "y"}', "missing_field"),
    (b'{"op": "ack", "by": "y"}', "missing_field"),
    (b'{"op": "ack", "incident": "x"}', "missing_field"),
    (b'{"op": "reassign", "incident": "x", "by": "y"}', "missing_field"),
    (b'{"op": "ack", "incident": "gr:inc:x y", "by": "y"}', "invalid_field"),
    (b'{"op": "ack", "incident": "x*", "by": "y"}', "invalid_field"),
    (b'{"op": "ack", "incident": "a{b}", "by": "y"}', "invalid_field"),
    (b'{"op": "ack", "incident": "x", "by": "no body"}', "invalid_field"),
    (b'{"op": "ack", "incident": 5, "by": "y"}', "invalid_field"),
    (b'{"op": "reassign", "incident": "x", "by": "cc", "level": "nope"}', "invalid_field"),
    (b'{"op": "delete", "incident": "x", "by": "y"}', "unknown_op"),
    (b'{"op": "ack", "incident": "nope-1-0", "by": "cc"}', "unknown_incident"),
]


def test_bad_commands(r, daemon):
    entries = [(r.xadd("gr:in:commands", {"command": p}), reason) for p, reason in BAD_COMMANDS]
    wait_for(lambda: len(deadletters(r)) == len(BAD_COMMANDS), 15, "every command settled")
    by_entry = {f["entry"]: f["reason"] for f in deadletters(r)}
    assert {e: by_entry[e] for e, _ in entries} == {e: reason for e, reason in entries}


def test_entry_without_the_field_keeps_all_fields(r, daemon):
    e = r.xadd("gr:in:commands", {"cmd": "ack", "x": "1"})
    dl = wait_for(lambda: deadletters(r), 10, "dead letter")[0]
    assert dl["entry"] == e and dl["reason"] == "missing_payload"
    assert json.loads(dl["payload"]) == {"cmd": "ack", "x": "1"}


@pytest.mark.parametrize("field", ["incident", "command"])
def test_empty_payload(r, daemon, field):
    stream = "gr:in:commands" if field == "command" else "gr:in:alert"
    r.xadd(stream, {field: ""})
    assert wait_for(lambda: deadletters(r), 10, "dead letter")[0]["reason"] == "invalid_json"
