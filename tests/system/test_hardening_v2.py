"""Issue 11, tried again as an attacker and a careless backend would: each
test here failed on the code before its fix. Valid input that was refused
(leap seconds, numbers of any size), times outside 1970..9999, rules files
that are FIFOs or nested 150,000 deep, a reload that must not hold up
SIGTERM, YAML tags and raw line breaks in diagnostics, idle HTTP
connections under a low file limit, and a server on the Redis port that
answers +OK to everything."""
import json
import os
import subprocess

import pytest

from conftest import GRIDCTL, Daemon, assignments, deadletters, wait_for

G03 = "xifeng/beijie/beidajie/g03"
GOOD = {"category": "urban_management", "unit": G03, "title": "井盖缺失",
        "attrs": {"speed": "slow"}}


def doc_of(r, inc):
    """The stored document: gr:doc:<id> (v2 layout) or the hash field doc (v1)."""
    return r.get("gr:doc:" + inc) if r.type("gr:doc:" + inc) == "string" else \
        r.hget("gr:inc:" + inc, "doc")


def body(**fields):
    doc = dict(GOOD)
    doc.update(fields)
    return json.dumps(doc, ensure_ascii=False)


# ---- point 7: valid input refused, and times outside 1970..9999 ----------------


def test_leap_second_and_big_numbers_are_routed_and_kept_as_written(r, daemon):
    raw = body(reported_at="2016-12-31T23:59:60Z", due_at="2099-06-30T23:59:60.5Z")
    raw = raw[:-1] + (',"serial":123456789012345678901234567890,"reading":1e999,'
                      '"nested":{"n":[-1E+400,18446744073709551616]}}')
    e = r.xadd("gr:in:patrol", {"incident": raw})
    inc = "patrol-" + e
    wait_for(lambda: [a for a in assignments(r) if a["incident"] == inc], 10, "routed")
    assert deadletters(r) == []
    doc = doc_of(r, inc)
    for kept in ('"serial":123456789012345678901234567890', '"reading":1e999',
                 '"nested":{"n":[-1E+400,18446744073709551616]}',
                 '"reported_at":"2016-12-31T23:59:59.999Z"',
                 '"due_at":"2099-06-30T23:59:59.999Z"'):
        assert kept in doc, (kept, doc)


@pytest.mark.parametrize("field,value", [
    ("due_at", "0001-01-01T00:00:00Z"),
    ("due_at", "1969-12-31T23:59:59.999Z"),
    ("reported_at", "1970-01-01T07:59:59+08:00"),
    ("due_at", "9999-12-31T23:59:59-01:00"),
    ("reported_at", "2026-11-26T12:00:60Z"),
])
def test_times_outside_the_range_are_invalid_field(r, daemon, field, value):
    e = r.xadd("gr:in:patrol", {"incident": body(**{field: value})})
    dl = wait_for(lambda: deadletters(r), 10, "the dead letter")[0]
    assert dl["entry"] == e and dl["reason"] == "invalid_field", dl
    assert field in dl["error"] and "1970-01-01T00:00:00Z" in dl["error"], dl["error"]
    assert not r.exists("gr:inc:patrol-" + e) and r.zcard("gr:due") == 0


def test_gridctl_submit_takes_big_numbers_without_a_warning(r, server, tmp):
    path = os.path.join(tmp, "big.json")
    with open(path, "w") as f:
        f.write(body(id="big-1", dedup_key="k-1")[:-1] + ',"n":1e999}')
    p = subprocess.run([GRIDCTL, "--redis", "127.0.0.1:%d" % server.port, "submit", "patrol",
                        path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr  # not "is not valid JSON; the daemon will dead-letter it"
    assert "incident big-1" in p.stdout
