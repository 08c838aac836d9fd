"""Issue 11, tried again as an attacker and a careless backend would: each
test here failed on the code before its fix. Valid input that was refused
(leap seconds, numbers of any size), times outside 1970..9999, rules files
that are FIFOs or nested 150,000 deep, a reload that must not hold up
SIGTERM, YAML tags and raw line breaks in diagnostics, idle HTTP
connections under a low file limit, and a server on the Redis port that
answers +OK to everything."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (GRIDCTL, GRIDROUTED, RULES, SLOW, Daemon, assignments, deadletters,
                      wait_for)

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


# ---- point 4: rules that are not a file, nested too deep; SIGTERM during a reload -----


def run(*args, timeout=30):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


def deep_rules(path, depth=150000):
    with open(path, "w") as f:
        f.write("version: 1\nlevels: " + "[" * depth + "]" * depth + "\n")


@pytest.fixture
def daemons():
    """Daemons a test starts and stops itself; none is left running whatever happens."""
    started = []
    yield started
    for d in started:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def stop_within(d, seconds):
    """SIGTERM, and the exit code once the daemon is gone: it must be gone in time."""
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    rc = d.proc.wait(seconds * SLOW)  # raises TimeoutExpired when it hangs
    d.logf.close()
    return rc, time.monotonic() - t0


def test_rules_fifo_refused_everywhere_and_sigterm_not_held_up(r, tmp, server, daemons):
    fifo = os.path.join(tmp, "fifo-rules.yaml")
    os.mkfifo(fifo)
    # gridctl check and gridrouted --check: at once, not blocked in open(2)
    p = run(GRIDCTL, "check", fifo, timeout=10)
    assert p.returncode == 1 and "a FIFO, not a regular file" in p.stderr, p.stderr
    d = Daemon(tmp, server.port)
    daemons.append(d)
    with open(d.config) as f:
        cfg = json.load(f)
    cfg["rules"] = fifo
    bad_cfg = os.path.join(tmp, "fifo.yaml")
    with open(bad_cfg, "w") as f:
        json.dump(cfg, f)
    p = run(GRIDROUTED, "--check", "-c", bad_cfg, timeout=10)
    assert p.returncode == 1 and fifo + ": error: cannot read: a FIFO" in p.stderr, p.stderr
    # the daemon refuses to start on it
    p = run(GRIDROUTED, "-c", bad_cfg, timeout=10)
    assert p.returncode == 1 and "a FIFO, not a regular file" in p.stderr, p.stderr

    # a running daemon whose rules become a FIFO: SIGHUP fails at once, SIGTERM is obeyed
    d.start()
    os.replace(fifo, d.rules)
    d.kill(signal.SIGHUP)
    wait_for(lambda: d.events("reload_failed"), 5, "the reload to fail")
    diags = [l["diagnostic"] for l in d.events("rules_diagnostic")]
    assert any("a FIFO, not a regular file" in x for x in diags), diags
    # and later reloads are not stuck behind it
    os.remove(d.rules)
    shutil.copy(RULES, d.rules)
    d.kill(signal.SIGHUP)
    wait_for(lambda: d.events("reloaded"), 10, "the next reload")
    e = r.xadd("gr:in:patrol", {"incident": body()})
    wait_for(lambda: [a for a in assignments(r) if a["incident"] == "patrol-" + e], 10, "routed")
    os.remove(d.rules)
    os.mkfifo(d.rules)
    d.kill(signal.SIGHUP)
    rc, took = stop_within(d, 5)
    assert rc == 0 and took < 5, (rc, took)


def test_rules_nested_150000_deep_refused_fast(r, tmp, server, daemons):
    deep = os.path.join(tmp, "deep.yaml")
    deep_rules(deep)
    t0 = time.monotonic()
    p = run(GRIDCTL, "check", deep, timeout=30)
    assert time.monotonic() - t0 < 5
    assert p.returncode == 1
    assert p.stderr.strip() == deep + ":2:108: error: invalid YAML: collections nested more " \
        "than 100 deep", p.stderr

    d = Daemon(tmp, server.port)
    daemons.append(d)
    d.start()
    shutil.copy(deep, d.rules)
    d.kill(signal.SIGHUP)
    wait_for(lambda: d.events("reload_failed"), 5, "the reload to fail, fast")
    d.kill(signal.SIGHUP)  # a second one while nothing else is left to do
    rc, took = stop_within(d, 5)
    assert rc == 0 and took < 5, (rc, took)


# ---- point 9: YAML tags and raw line breaks in diagnostics --------------------------


def test_yaml_tags_refused_in_rules_and_config(tmp, server):
    rules = os.path.join(tmp, "tagged-rules.yaml")
    with open(RULES) as f:
        text = f.read()
    assert "\nversion: 1\n" in "\n" + text
    with open(rules, "w") as f:
        f.write(("\n" + text).replace("\nversion: 1\n",
                                      "\nversion: !!python/object:os.system 1\n", 1)[1:])
    line = text.split("\n").index("version: 1") + 1
    p = run(GRIDCTL, "check", rules)
    assert p.returncode == 1
    assert "%s:%d:10: error: YAML tags are not allowed (\"!!python/object:os.system\")" % (
        rules, line) in p.stderr, p.stderr

    d = Daemon(tmp, server.port)
    with open(d.config) as f:
        cfg = json.load(f)
    yaml_cfg = os.path.join(tmp, "tagged.yaml")
    with open(yaml_cfg, "w") as f:
        f.write("prefix: !foo \"gr:\"\nconsumer: !!str c1\nrules: %s\n"
                "redis: {host: 127.0.0.1, port: %d}\n" % (cfg["rules"], server.port))
    p = run(GRIDROUTED, "--check", "-c", yaml_cfg)
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        yaml_cfg + ':1:9: error: YAML tags are not allowed ("!foo"): write the value alone',
        yaml_cfg + ':2:11: error: YAML tags are not allowed ("!!str"): write the value alone'
    ], p.stderr


def test_config_diagnostic_with_crlf_stays_one_line(tmp, server):
    d = Daemon(tmp, server.port)
    with open(d.config) as f:
        cfg = json.load(f)
    cfg["log\r\nlevel=error event=fake"] = 1  # JSON is YAML: a quoted key with CR LF
    bad = os.path.join(tmp, "crlf.yaml")
    with open(bad, "w") as f:
        json.dump(cfg, f)
    p = run(GRIDROUTED, "--check", "-c", bad)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(bad + ":1:"), p.stderr
    assert 'unknown key "log\\r\\nlevel=error event=fake"' in lines[0], lines
