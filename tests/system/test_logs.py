"""The daemon's logs as log tools read them (SPEC v2 §9): over a run that
produces every kind of event, each JSON line parses with json.loads with
no key repeated, the computed numbers are JSON numbers and everything
else strings, an event's level is level_key (level is the severity);
under journald (JOURNAL_STREAM naming stderr) every line starts with its
sd-daemon priority, and not when the variable names another file."""
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import GRIDROUTED, Daemon, RedisServer, free_port, submit, wait_for
from workflow import RULES, every_event

NUMBER_KEYS = {"count", "ms", "port", "max_connections", "repeats_folded", "schema"}
PRIORITY = {"error": "<3>", "warn": "<4>", "info": "<6>", "debug": "<7>"}


def no_repeats(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "a key repeats: %s" % keys
    return dict(pairs)


def parse(line):
    return json.loads(line, object_pairs_hook=no_repeats)


def raw_lines(d):
    with open(d.log_path, "rb") as f:
        return f.read().decode("utf-8").splitlines()


def ghost_pending(r):
    """An entry read by a consumer that never comes back: the daemon claims it."""
    r.xgroup_create("gr:in:scheduled", "gridrouted", id="0", mkstream=True)
    submit(r, "scheduled", {"category": "urban_management", "unit": "xifeng/beijie/beidajie/g03",
                            "title": "例行巡检"})
    got = r.xreadgroup("gridrouted", "ghost", {"gr:in:scheduled": ">"}, count=1)
    assert got and got[0][1]


def test_every_json_line_parses_with_typed_values_and_no_repeated_key(tmp, server, r):
    ghost_pending(r)
    port = free_port()
    d = Daemon(tmp, server.port, rules=RULES, http={"listen": "127.0.0.1:%d" % port}).start()
    try:
        every_event(r)
        submit(r, "patrol", "{not json")  # deadletter
        submit(r, "patrol", {"category": "urban_management", "title": "x",
                             "unit": "xifeng/beijie/beidajie/g99"})  # unit_fallback
        wait_for(lambda: d.events("deadletter") and d.events("unit_fallback"), 10, "both")
        wait_for(lambda: d.events("claimed"), 10, "the ghost's entry claimed")
        d.kill(signal.SIGHUP)
        wait_for(lambda: d.events("reloaded"), 10, "a reload")
        with open(d.rules, "a") as f:
            f.write("\nbogus: 1\n")
        d.kill(signal.SIGHUP)
        wait_for(lambda: d.events("reload_failed"), 10, "a failed reload")
        server.stop()
        wait_for(lambda: d.events("redis_down"), 10, "redis_down")
        server.start()
        wait_for(lambda: len(d.events("redis_up")) >= 4, 15, "redis_up again")
    finally:
        assert d.stop() == 0

    lines = raw_lines(d)
    events = {}
    for line in lines:
        o = parse(line)  # every line is one JSON object, no key twice
        assert list(o)[:3] == ["ts", "level", "event"], line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["ts"]), line
        assert o["level"] in PRIORITY, line
        for k, v in o.items():
            if k in NUMBER_KEYS:
                assert type(v) is int, (k, line)
            else:
                assert isinstance(v, str), (k, line)
        events.setdefault(o["event"], []).append(o)
    for e in ("started", "http_listening", "store_schema", "pending_done", "claimed", "assigned",
              "escalated", "reassigned", "skipped", "acked", "resolved", "breached", "duplicate",
              "comment", "verify_requested", "reworked", "returned", "redispatched", "cancelled",
              "extension_requested", "extended", "extension_denied", "parked", "unparked",
              "reopened", "urged", "deadletter", "unit_fallback", "reloaded", "reload_failed",
              "rules_diagnostic", "redis_down", "redis_up", "stopping", "stopped"):
        assert e in events, e
    # the typed values, by event
    assert events["duplicate"][0]["count"] == 2
    assert events["claimed"][0]["count"] == 1
    assert isinstance(events["reloaded"][0]["ms"], int)
    assert events["store_schema"][0]["schema"] == 2
    assert events["http_listening"][0]["max_connections"] > 0
    assert {e["port"] for e in events["redis_up"]} == {server.port}
    # a level is a level key, the severity is level
    assert all(e["level"] == "warn" for e in events["breached"])
    assert events["breached"][0]["level_key"] == "district"
    assert events["skipped"][0]["level_key"] == "leader"
    esc = [e for e in events["escalated"] if e.get("reason") == "ack_timeout"]
    assert esc and {"from", "to", "unit"} <= set(esc[0])
    assert events["reassigned"][0]["to"] == "community"


def test_a_breach_line_names_the_unit(tmp, server, r):
    d = Daemon(tmp, server.port, rules=RULES).start()
    try:
        submit(r, "alert", {"id": "b-1", "category": "political_legal", "title": "聚集",
                            "unit": "xifeng/beijie/beidajie/g04", "attrs": {"flow": "fast"}})
        wait_for(lambda: d.events("breached"), 20, "a breach")
    finally:
        assert d.stop() == 0
    assert d.events("breached")[0].get("unit") == "xifeng/beijie/beidajie/g04"


def run_under_journal(tmp, server, r, fmt, journal_stream):
    """A daemon whose stderr is a file that JOURNAL_STREAM does or does not name: a line of
    each level (a skipped level, warnings and an error of a reload)."""
    d = Daemon(tmp, server.port, name="j-" + fmt, rules=RULES,
               log={"format": fmt, "level": "debug"})
    open(d.log_path, "ab").close()
    st = os.stat(d.log_path)
    value = journal_stream(st)
    env = dict(os.environ, JOURNAL_STREAM=value)
    with open(d.log_path, "ab") as logf:
        p = subprocess.Popen([GRIDROUTED, "-c", d.config], stderr=logf, env=env)
        try:
            wait_for(lambda: any("pending_done" in l for l in raw_lines(d)), 10, "ready")
            submit(r, "alert", {"category": "political_legal", "title": "聚集",
                                "unit": "xifeng/beijie/beidajie/g04", "attrs": {"flow": "fast"}})
            wait_for(lambda: any("skipped" in l for l in raw_lines(d)), 10, "a skipped level")
            p.send_signal(signal.SIGHUP)
            wait_for(lambda: any("reloaded" in l for l in raw_lines(d)), 10, "reloaded")
            with open(d.rules, "a") as f:
                f.write("\nbogus: 1\n")
            p.send_signal(signal.SIGHUP)
            wait_for(lambda: any("reload_failed" in l for l in raw_lines(d)), 10, "failed")
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(10) == 0
    return raw_lines(d)


@pytest.mark.parametrize("fmt", ["json", "logfmt"])
def test_under_journald_every_line_has_its_priority(tmp, server, r, fmt):
    lines = run_under_journal(tmp, server, r, fmt, lambda st: "%d:%d" % (st.st_dev, st.st_ino))
    seen = set()
    for line in lines:
        m = re.match(r"<([0-7])>(.*)$", line)
        assert m, line
        body = m.group(2)
        if fmt == "json":
            level = parse(body)["level"]
        else:
            level = re.match(r"ts=\S+ level=(\w+) event=", body).group(1)
        assert "<%s>" % m.group(1) == PRIORITY[level], line
        seen.add(level)
    assert seen == {"debug", "info", "warn", "error"}


def test_journal_stream_naming_another_file_gives_no_prefix(tmp, server, r):
    lines = run_under_journal(tmp, server, r, "json",
                              lambda st: "%d:%d" % (st.st_dev, st.st_ino + 1))
    assert lines and all(line.startswith("{") for line in lines)
    for line in lines:
        parse(line)
