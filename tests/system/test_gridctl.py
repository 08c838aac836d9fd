"""gridctl against a real Redis and the real daemon: every command's output
and exit codes (0 success, 1 failure with one line on stderr, 2 usage),
--wait on assignments, events and dead letters, the read-only views, dead
letter replay, stats, rules diff, and the global connection options."""
import json
import os
import pty
import selectors
import signal
import subprocess
import time

import pytest
import redis

from conftest import (GRIDCTL, RULES, Daemon, assignments, command, deadletters, free_port,
                      incident, submit, timeline, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
G03 = "xifeng/beijie/beidajie/g03"


def base(**kw):
    # the "slow" policy: an hour to ack, so nothing escalates while a test runs
    doc = {"category": "urban_management", "unit": G03, "title": "井盖缺失",
           "attrs": {"speed": "slow"}}
    doc.update(kw)
    return doc


def run(*args, input=None, timeout=30, env=None):
    if isinstance(input, dict):
        input = json.dumps(input, ensure_ascii=False)
    p = subprocess.run([GRIDCTL] + [str(a) for a in args], input=input, capture_output=True,
                       text=True, timeout=timeout, env=env)
    # a sanitized build (GRIDROUTE_BUILD=build/san-...) reports here, whatever the exit code
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


def ctl(server, *args, **kw):
    return run("--redis", "127.0.0.1:%d" % server.port, *args, **kw)


def one_line(p):
    """The failure report: exactly one line on stderr."""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def submitted(p):
    """The entry and incident ids submit printed."""
    out = dict(line.split(" ", 1) for line in p.stdout.splitlines()[:2])
    return out["entry"], out["incident"]


def routed(r, server, doc, channel="patrol"):
    """Submit through gridctl and wait for the assignment; the incident id."""
    p = ctl(server, "submit", channel, "--wait", input=doc)
    assert p.returncode == 0, p.stderr
    return submitted(p)[1]


# ---- help and usage ------------------------------------------------------

COMMANDS = ["submit", "ack", "resolve", "escalate", "reassign", "comment", "show", "ls", "tail",
            "deadletter", "stats", "explain", "check", "calendar", "schedule", "diff"]


def test_help_lists_every_command():
    p = run("--help")
    assert p.returncode == 0
    for c in COMMANDS:
        assert "\n  %s " % c in p.stdout, c
    for opt in ("--redis", "--socket", "--prefix", "--user", "--password-file", "--db"):
        assert opt in p.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_has_help(cmd):
    p = run(cmd, "--help")
    assert p.returncode == 0
    assert p.stdout.startswith("usage: gridctl") and cmd in p.stdout.splitlines()[0]


def test_help_command_and_version():
    assert run("help", "ls").stdout.startswith("usage: gridctl [GLOBAL OPTIONS] ls")
    assert run("help", "nope").returncode == 2
    p = run("--version")
    assert p.returncode == 0 and p.stdout.startswith("gridctl ")


@pytest.mark.parametrize("args,what", [
    ([], "usage"),
    (["frobnicate"], "unknown command"),
    (["--bogus", "ls"], "unknown option"),
    (["ls", "--bogus"], "unknown option \"--bogus\""),
    (["ls", "--json=yes"], "takes no value"),
    (["ls", "--state"], "needs an argument"),
    (["ls", "--state", "sleeping"], "--state"),
    (["ls", "--limit", "0"], "--limit"),
    (["ls", "--unit", "Bad Unit"], "--unit"),
    (["ls", "extra"], "unexpected argument"),
    (["submit"], "expected a channel"),
    (["submit", "radio", "-"], "bad channel \"radio\""),
    (["submit", "patrol", "-", "--wait=soon"], "--wait"),
    (["submit", "patrol", "-", "--wait=0"], "--wait"),
    (["ack", "x", "--by", "cc", "--wait=25h"], "--wait"),
    (["submit", "patrol", "a", "b"], "expected a channel"),
    (["ack", "patrol-1-0"], "--by PERSON is required"),
    (["ack", "--by", "liuyang"], "expected one incident id"),
    (["ack", "bad id", "--by", "liuyang"], "bad incident id"),
    (["ack", "x", "--by", "no body"], "--by"),
    (["ack", "x", "--by", "liuyang", "--level", "leader"], "not an option of ack"),
    (["reassign", "x", "--by", "cc"], "--level KEY is required"),
    (["reassign", "x", "--by", "cc", "--level", "Leader!"], "--level"),
    (["show"], "expected one incident id"),
    (["deadletter"], "expected ls, show, replay or drop"),
    (["deadletter", "purge"], "unknown subcommand"),
    (["deadletter", "show"], "needs one dead-letter id"),
    (["deadletter", "show", "yesterday"], "bad dead-letter id"),
    (["deadletter", "drop", "1-0", "--limit", "3"], "--limit"),
    (["stats", "now"], "unexpected argument"),
    (["--redis", "nohost:notaport", "ls"], "--redis"),
    (["--db", "-1", "ls"], "--db"),
    (["--user", "ops", "ls"], "--user needs --password-file"),
    (["extend", "x", "--by", "cc", "--note", "n", "--for", "1h30wm"], "mixes clock and working"),
    (["extend", "x", "--by", "cc", "--note", "n", "--for", "soon"], "--for: expected a duration"),
    (["extend", "x", "--by", "cc", "--note", "n"], "--until TIME or --for"),
    (["park", "x", "--by", "cc", "--note", "n", "--until", "tomorrow"], "--until: expected"),
    (["verify", "x", "--by", "cc", "--passed", "--failed"], "give one of them"),
    (["return", "x", "--by", "cc"], "--note"),
    (["diff", "only-one.yaml"], "expected two rules files"),
    (["check"], "expected one rules file"),
])
def test_usage_errors_exit_2(args, what):
    # port 1: nothing listens, so a usage error must be found before connecting
    p = run("--redis", "127.0.0.1:1", *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert what in p.stderr
    assert "usage" in p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("d", ["4wh", "30wm", "1wd4wh", "2wd", "90m"])
def test_working_durations_pass_gridctl(d):
    # the form is gridctl's to check, the calendar the daemon's: past the usage check,
    # the command fails only for want of a Redis on port 1
    p = run("--redis", "127.0.0.1:1", "extend", "x", "--by", "cc", "--note", "n", "--for", d)
    assert p.returncode == 1 and "cannot connect" in p.stderr, p.stderr


# ---- Redis that cannot be reached ----------------------------------------

@pytest.mark.parametrize("args", [
    ["submit", "patrol", "-"],
    ["ack", "patrol-1-0", "--by", "liuyang"],
    ["reassign", "patrol-1-0", "--by", "cc", "--level", "leader", "--wait"],
    ["show", "patrol-1-0"],
    ["ls"],
    ["tail"],
    ["deadletter", "ls"],
    ["deadletter", "replay", "1-0"],
    ["stats", "--json"],
])
def test_unreachable_redis_exits_1(args):
    port = free_port()
    p = run("--redis", "127.0.0.1:%d" % port, *args, input="{}")
    assert p.returncode == 1
    assert one_line(p) == "gridctl %s: cannot connect to Redis at 127.0.0.1:%d: Connection refused" % (
        args[0], port)
    assert p.stdout == ""


def test_missing_socket_exits_1(tmp):
    path = os.path.join(tmp, "nope.sock")
    p = run("ls", "--socket", path)
    assert p.returncode == 1
    assert one_line(p).startswith("gridctl ls: cannot connect to Redis at %s: " % path)


# ---- submit ----------------------------------------------------------------

def test_submit_prints_entry_and_incident_ids(r, server, tmp):
    path = os.path.join(tmp, "inc.json")
    with open(path, "w") as f:
        json.dump(base(), f)
    p = ctl(server, "submit", "feedback", path)
    assert p.returncode == 0, p.stderr
    entry, inc = submitted(p)
    assert inc == "feedback-" + entry
    stored = r.xrange("gr:in:feedback")
    assert [e for e, _ in stored] == [entry]
    assert json.loads(stored[0][1]["incident"]) == base()

    # the document's own id wins; stdin works as "-" and as no file at all
    for args in (["-"], []):
        p = ctl(server, "submit", "alert", *args, input=base(id="cam-%d" % len(args)))
        assert p.returncode == 0
        assert submitted(p)[1] == "cam-%d" % len(args)


def test_submit_unreadable_file_exits_1(server, tmp):
    missing = os.path.join(tmp, "missing.json")
    p = ctl(server, "submit", "patrol", missing)
    assert p.returncode == 1
    assert one_line(p) == "gridctl submit: cannot read %s: No such file or directory" % missing
    assert ctl(server, "submit", "patrol", tmp).returncode == 1  # a directory


def test_submit_wait_until_assigned(r, server, daemon):
    p = ctl(server, "submit", "patrol", "--wait", input=base())
    assert p.returncode == 0, p.stderr
    entry, inc = submitted(p)
    summary = p.stdout.splitlines()[2]
    assert summary.startswith("assigned %s: level 1 member (网格员) -> liuyang" % inc)
    assert "policy slow" in summary
    assert incident(r, inc)["state"] == "open"


def test_submit_wait_shows_co_assignees(server, daemon):
    p = ctl(server, "submit", "alert", "--wait=5", input=base(attrs={"source": "camera"}))
    assert p.returncode == 0, p.stderr
    assert "level 2 leader (网格长) -> chenjing; co-assignees wuye" in p.stdout


@pytest.mark.parametrize("payload,reason", [
    (json.dumps({"category": "urban_management", "unit": "nowhere/x", "title": "x"}),
     "unknown_unit"),
    ('{"category": "urban_management", "unit": "%s"' % G03, "invalid_json"),
])
def test_submit_wait_dead_letter_exits_1(server, daemon, payload, reason):
    p = ctl(server, "submit", "patrol", "--wait", input=payload)
    assert p.returncode == 1
    entry, _ = submitted(p)
    last = p.stderr.splitlines()[-1]
    assert last.startswith("gridctl submit: dead-lettered as ")
    assert ": %s: " % reason in last


def test_submit_wait_times_out_without_daemon(server):
    t0 = time.monotonic()
    p = ctl(server, "submit", "patrol", "--wait=0.5", input=base())
    assert p.returncode == 1
    assert time.monotonic() - t0 < 10
    assert "timed out after 500ms" in one_line(p)
    assert submitted(p)[1].startswith("patrol-")


def test_submit_wait_duplicate_is_merged(r, server, daemon):
    first = routed(r, server, base(dedup_key="manhole-9"))
    p = ctl(server, "submit", "feedback", "--wait", input=base(dedup_key="manhole-9"))
    assert p.returncode == 0, p.stderr
    assert "merged into incident %s" % first in p.stdout
    assert incident(r, first)["count"] == "2"


def test_submit_existing_id_is_ignored(r, server, daemon):
    routed(r, server, base(id="fixed-1"))
    p = ctl(server, "submit", "patrol", "--wait", input=base(id="fixed-1"))
    assert p.returncode == 1
    assert "fixed-1 exists already" in p.stderr
    p = ctl(server, "submit", "patrol", input=base(id="fixed-1"))
    assert p.returncode == 0 and "warning: incident fixed-1 exists already" in p.stderr


# ---- commands --------------------------------------------------------------

def test_commands_with_wait(r, server, daemon):
    inc = routed(r, server, base())

    p = ctl(server, "ack", inc, "--by", "liuyang", "--wait")
    assert p.returncode == 0, p.stderr
    entry, line = p.stdout.splitlines()
    assert r.xrange("gr:in:commands")[-1][0] == entry
    assert " acked " in line and inc in line and "by=liuyang" in line
    assert incident(r, inc)["state"] == "acked"

    p = ctl(server, "comment", inc, "--by", "liuyang", "--note", "路面已围挡 \"safe\"", "--wait")
    assert p.returncode == 0, p.stderr
    assert 'note="路面已围挡 \\"safe\\""' in p.stdout

    p = ctl(server, "escalate", inc, "--by", "liuyang", "--note", "需要网格长", "--wait=5")
    assert p.returncode == 0, p.stderr
    assert "escalated" in p.stdout and "level_key=leader" in p.stdout
    assert "reason=manual" in p.stdout and "assignees=chenjing" in p.stdout

    p = ctl(server, "reassign", inc, "--level", "community", "--by", "cc", "--wait")
    assert p.returncode == 0, p.stderr
    assert "reassigned" in p.stdout and "level_key=community" in p.stdout

    p = ctl(server, "resolve", inc, "--by", "zhangqian", "--note", "fixed", "--wait")
    assert p.returncode == 0, p.stderr
    assert "resolved" in p.stdout
    assert incident(r, inc)["state"] == "resolved"
    types = [e["type"] for e in timeline(r, inc)]
    assert types == ["assigned", "acked", "comment", "escalated", "reassigned", "resolved"]
    cmds = [json.loads(f["command"]) for _, f in r.xrange("gr:in:commands")]
    assert cmds[1] == {"op": "comment", "incident": inc, "by": "liuyang",
                       "note": "路面已围挡 \"safe\""}
    assert cmds[3] == {"op": "reassign", "incident": inc, "by": "cc", "level": "community"}


def test_command_without_wait_prints_entry_id(r, server):
    p = ctl(server, "ack", "patrol-1-0", "--by", "liuyang")
    assert p.returncode == 0
    (entry,) = p.stdout.split()
    assert json.loads(r.xrange("gr:in:commands")[0][1]["command"]) == {
        "op": "ack", "incident": "patrol-1-0", "by": "liuyang"}
    assert r.xrange("gr:in:commands")[0][0] == entry


@pytest.mark.parametrize("args,reason", [
    (["ack", "{inc}", "--by", "wuye"], "not_authorized"),
    (["ack", "patrol-404-0", "--by", "liuyang"], "unknown_incident"),
    (["reassign", "{inc}", "--by", "cc", "--level", "galaxy"], "invalid_field"),
])
def test_command_wait_dead_letter_exits_1(r, server, daemon, args, reason):
    inc = routed(r, server, base())
    p = ctl(server, *[a.format(inc=inc) for a in args], "--wait")
    assert p.returncode == 1
    assert p.stdout.strip() == deadletters(r)[0]["entry"]
    assert ": %s: " % reason in one_line(p)


def test_command_wait_times_out_without_daemon(server):
    p = ctl(server, "resolve", "patrol-1-0", "--by", "cc", "--wait", "0.3")
    assert p.returncode == 1
    assert "timed out after 300ms: no resolved or verify_requested event" in one_line(p)


# ---- show --------------------------------------------------------------------

def test_show_text_and_json(r, server, daemon):
    inc = routed(r, server, base(title="路灯不亮", detail="第二根"))
    assert ctl(server, "ack", inc, "--by", "liuyang", "--note", "收到", "--wait").returncode == 0

    p = ctl(server, "show", inc)
    assert p.returncode == 0, p.stderr
    fields = {}
    for line in p.stdout.split("timeline")[0].splitlines():
        k, v = line.split(None, 1)
        fields[k] = v
    assert fields["incident"] == inc and fields["title"] == "路灯不亮"
    assert fields["state"] == "acked" and fields["level"] == "1 member"
    assert fields["assignees"] == "liuyang" and fields["unit"] == G03
    assert fields["count"] == "1" and fields["version"] == "2"
    # acked: the ack deadline is history, the resolve deadline is ahead
    assert fields["ack_deadline"].endswith("Z")
    assert fields["resolve_deadline"].endswith(")") and " (in " in fields["resolve_deadline"]
    events = p.stdout.split("timeline (2 events):\n")[1].splitlines()
    assert " assigned " in events[0] and "reason=new" in events[0]
    assert " acked " in events[1] and "by=liuyang" in events[1] and "note=收到" in events[1]

    p = ctl(server, "show", inc, "--json")
    assert p.returncode == 0
    out = json.loads(p.stdout)
    h = out["incident"]
    assert h["id"] == inc and h["state"] == "acked" and h["level"] == 1
    assert h["level_key"] == "member" and h["assignees"] == ["liuyang"]
    assert h["doc"]["title"] == "路灯不亮" and h["doc"]["detail"] == "第二根"
    assert h["count"] == 1 and h["version"] == 2
    assert h["ack_deadline"].endswith("Z") and h["created_at"].endswith("Z")
    assert [e["type"] for e in out["timeline"]] == ["assigned", "acked"]
    assert out["timeline"] == timeline(r, inc)


def test_show_unknown_incident_exits_1(server):
    p = ctl(server, "show", "patrol-1-0")
    assert p.returncode == 1
    assert one_line(p) == "gridctl show: no incident patrol-1-0"
    assert ctl(server, "show", "patrol-1-0", "--json").returncode == 1


def test_show_escapes_terminal_controls(r, server, daemon):
    inc = routed(r, server, base(title="evil\x1b[2J\x07title"))
    p = ctl(server, "show", inc)
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout
    assert "evil\\x1b[2J\\x07title" in p.stdout


# ---- ls ------------------------------------------------------------------

def ids(p):
    return [line.split()[0] for line in p.stdout.splitlines()]


def test_ls_filters(r, server, daemon):
    a = routed(r, server, base(title="A"))
    b = routed(r, server, base(title="B", unit=G03 + "/sub1"))
    c = routed(r, server, base(title="C"))
    d = routed(r, server, base(title="D"))
    assert ctl(server, "ack", c, "--by", "liuyang", "--wait").returncode == 0
    assert ctl(server, "reassign", d, "--by", "cc", "--level", "leader", "--wait").returncode == 0

    p = ctl(server, "ls")
    assert p.returncode == 0, p.stderr
    assert ids(p) == [a, b, c, d]  # oldest first, no header when not a terminal
    line = p.stdout.splitlines()[0].split()
    assert line[1:5] == ["open", "member", "liuyang", G03] and line[-1] == "A"

    assert ids(ctl(server, "ls", "--state", "acked")) == [c]
    assert ids(ctl(server, "ls", "--state", "open")) == [a, b, d]
    assert ids(ctl(server, "ls", "--level", "leader")) == [d]
    # --unit matches the resolved unit (SPEC §10): sub1 has no rules of its own, so b is g03's
    assert ids(ctl(server, "ls", "--unit", G03 + "/sub1")) == []
    assert ids(ctl(server, "ls", "--unit", G03)) == [a, b, c, d]
    assert ids(ctl(server, "ls", "--unit", "xifeng/beijie/")) == [a, b, c, d]
    assert ids(ctl(server, "ls", "--unit", "xifeng/bei")) == []  # segment-wise, not by bytes
    assert ids(ctl(server, "ls", "--state", "open", "--level", "member")) == [a, b]
    assert ids(ctl(server, "ls", "--limit", "2")) == [a, b]

    p = ctl(server, "ls", "--json")
    rows = json.loads(p.stdout)
    assert [x["id"] for x in rows] == [a, b, c, d]
    assert rows[1]["unit"] == G03 and rows[1]["reported_unit"] == G03 + "/sub1"
    assert rows[1]["title"] == "B"
    assert rows[2]["state"] == "acked" and rows[3]["level_key"] == "leader"
    assert rows[3]["assignees"] == ["chenjing"] and rows[3]["level"] == 2
    assert json.loads(ctl(server, "ls", "--json", "--state", "resolved").stdout) == []

    assert ctl(server, "resolve", a, "--by", "liuyang", "--wait").returncode == 0
    assert ids(ctl(server, "ls")) == [b, c, d]


def test_ls_pages_through_many_incidents(r, server):
    # more than one page of the open set, equal scores included, no daemon needed
    r.hset("gr:meta", "schema", "2")
    pipe = r.pipeline()
    for i in range(1203):
        inc = "bulk-%04d" % i
        pipe.zadd("gr:open", {inc: 1000 + i // 7})
        pipe.hset("gr:inc:" + inc, mapping={
            "state": "open", "level": "1", "level_key": "member", "assignees": '["liuyang"]',
            "co_assignees": "[]", "channel": "patrol", "created_at": str(1000 + i // 7)})
        pipe.set("gr:doc:" + inc, json.dumps({"unit": G03, "title": "t%d" % i}))
    pipe.execute()
    p = ctl(server, "ls")
    assert p.returncode == 0
    assert ids(p) == ["bulk-%04d" % i for i in range(1203)]
    assert len(json.loads(ctl(server, "ls", "--json", "--limit", "600").stdout)) == 600


# ---- tail ----------------------------------------------------------------

def read_line(fd, deadline):
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    data = b""
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no line from gridctl tail; got %r" % data)
            if sel.select(left):
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError("gridctl tail closed its output; got %r" % data)
                data += chunk
    finally:
        sel.close()
    return data.split(b"\n")[0].decode()


def start_tail(r, server, *args, **kw):
    proc = subprocess.Popen([GRIDCTL, "--redis", "127.0.0.1:%d" % server.port, "tail"] +
                            list(args), stderr=subprocess.PIPE, **kw)
    wait_for(lambda: r.pubsub_numsub("gr:events")[0][1] >= 1, 10, "tail to subscribe")
    return proc


def stop_tail(proc):
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(10)
    err = proc.stderr.read()
    assert rc == 0 and b"Sanitizer" not in err, err


def test_tail_prints_one_line_per_event(r, server, daemon):
    proc = start_tail(r, server, stdout=subprocess.PIPE)
    try:
        entry = submit(r, "patrol", base())
        line = read_line(proc.stdout.fileno(), time.monotonic() + 10)
        inc = "patrol-" + entry
        assert line.split()[1:3] == ["assigned", inc]
        assert "level_key=member" in line and "assignees=liuyang" in line
        assert "\x1b" not in line  # not a terminal: no colour
        command(r, op="ack", incident=inc, by="liuyang", note="到")
        line = read_line(proc.stdout.fileno(), time.monotonic() + 10)
        assert line.split()[1:4] == ["acked", inc, "by=liuyang"]
    finally:
        stop_tail(proc)


def test_tail_json_prints_the_event(r, server, daemon):
    proc = start_tail(r, server, "--json", stdout=subprocess.PIPE)
    try:
        entry = submit(r, "feedback", base())
        ev = json.loads(read_line(proc.stdout.fileno(), time.monotonic() + 10))
        assert ev == timeline(r, "feedback-" + entry)[0]
    finally:
        stop_tail(proc)


@pytest.mark.parametrize("no_color", [False, True])
def test_tail_colours_only_a_terminal(r, server, daemon, no_color):
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    if no_color:
        env["NO_COLOR"] = "1"
    proc = start_tail(r, server, stdout=slave, env=env)
    os.close(slave)
    try:
        submit(r, "patrol", base())
        line = read_line(master, time.monotonic() + 10)
        assert ("\x1b[" in line) != no_color
        assert "assigned" in line
    finally:
        stop_tail(proc)
        os.close(master)


def test_tail_exits_1_when_redis_goes_away(r, server):
    proc = start_tail(r, server, stdout=subprocess.PIPE)
    r.client_kill_filter(_type="pubsub")
    assert proc.wait(10) == 1
    err = proc.stderr.read()
    assert b"lost the connection to Redis" in err and b"Sanitizer" not in err


# ---- dead letters ----------------------------------------------------------

def test_deadletter_ls_show_drop(r, server, daemon):
    bad = {"category": "urban_management", "unit": "nowhere", "title": "x"}
    assert ctl(server, "submit", "patrol", "--wait", input=bad).returncode == 1
    assert ctl(server, "submit", "alert", "--wait", input="[1, 2]").returncode == 1
    dls = r.xrange("gr:deadletter")
    (id1, f1), (id2, f2) = dls

    p = ctl(server, "deadletter", "ls")
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert [l.split()[:4] for l in lines] == [
        [id1, "unknown_unit", "gr:in:patrol", f1["entry"]],
        [id2, "invalid_json", "gr:in:alert", f2["entry"]]]
    assert ids(ctl(server, "deadletter", "ls", "--limit", "1")) == [id1]
    rows = json.loads(ctl(server, "deadletter", "ls", "--json").stdout)
    assert [x["id"] for x in rows] == [id1, id2]
    assert rows[0]["payload"] == json.dumps(bad) and rows[1]["reason"] == "invalid_json"

    p = ctl(server, "deadletter", "show", id1)
    assert p.returncode == 0
    shown = dict(line.split(None, 1) for line in p.stdout.splitlines())
    assert shown["id"] == id1 and shown["reason"] == "unknown_unit"
    assert shown["source"] == "gr:in:patrol" and shown["payload"] == json.dumps(bad)
    assert json.loads(ctl(server, "deadletter", "show", id2, "--json").stdout)["payload"] == "[1, 2]"

    p = ctl(server, "deadletter", "drop", id1)
    assert p.returncode == 0
    assert [i for i, _ in r.xrange("gr:deadletter")] == [id2]
    p = ctl(server, "deadletter", "drop", id1)
    assert p.returncode == 1 and one_line(p) == "gridctl deadletter: no dead letter %s" % id1
    p = ctl(server, "deadletter", "show", id1)
    assert p.returncode == 1 and one_line(p) == "gridctl deadletter: no dead letter %s" % id1


def test_deadletter_replay_routes_the_incident(r, server, daemon):
    # as max_deliveries leaves it: a good report that failed for reasons now gone
    payload = json.dumps(base(title="重放"), ensure_ascii=False)
    dl = r.xadd("gr:deadletter", {"source": "gr:in:patrol", "entry": "1-1",
                                  "reason": "max_deliveries", "error": "delivered 6 times",
                                  "payload": payload})
    p = ctl(server, "deadletter", "replay", dl)
    assert p.returncode == 0, p.stderr
    (new,) = p.stdout.split()
    assert r.xrange("gr:in:patrol")[-1] == (new, {"incident": payload})
    assert r.xlen("gr:deadletter") == 0
    inc = "patrol-" + new
    wait_for(lambda: [a for a in assignments(r) if a["incident"] == inc], 10, "replay routed")
    p = ctl(server, "deadletter", "replay", dl)
    assert p.returncode == 1 and "no dead letter" in p.stderr


def test_deadletter_replay_of_a_command(r, server, daemon):
    # a command that came before its incident: unknown_incident, then fine on replay
    p = ctl(server, "ack", "early-1", "--by", "liuyang", "--wait")
    assert p.returncode == 1 and "unknown_incident" in p.stderr
    (dl, fields), = r.xrange("gr:deadletter")
    routed(r, server, base(id="early-1"))
    p = ctl(server, "deadletter", "replay", dl)
    assert p.returncode == 0, p.stderr
    (new,) = p.stdout.split()
    assert r.xrange("gr:in:commands")[-1] == (new, {"command": fields["payload"]})
    wait_for(lambda: incident(r, "early-1").get("state") == "acked", 10, "replayed ack")
    assert [e["entry"] for e in timeline(r, "early-1") if e["type"] == "acked"] == [new]


def test_deadletter_replay_of_missing_payload_replays_the_fields(r, server, daemon):
    r.xadd("gr:in:feedback", {"incidnet": "typo", "x": "1"})
    dl = wait_for(lambda: r.xrange("gr:deadletter"), 10, "dead letter")[0][0]
    p = ctl(server, "deadletter", "replay", dl)
    assert p.returncode == 0, p.stderr
    (new,) = p.stdout.split()
    assert r.xrange("gr:in:feedback")[-1] == (new, {"incidnet": "typo", "x": "1"})
    again = wait_for(lambda: [f for _, f in r.xrange("gr:deadletter") if f["entry"] == new], 10,
                     "the replayed entry dead-lettered again")
    assert again[0]["reason"] == "missing_payload"
    assert dl not in [i for i, _ in r.xrange("gr:deadletter")]


def test_deadletter_replay_refuses_an_unknown_source(r, server):
    dl = r.xadd("gr:deadletter", {"source": "elsewhere", "entry": "1-1", "reason": "x",
                                  "error": "x", "payload": "{}"})
    p = ctl(server, "deadletter", "replay", dl)
    assert p.returncode == 1 and "not an input stream" in one_line(p)
    assert r.xlen("gr:deadletter") == 1


# ---- stats ---------------------------------------------------------------

def test_stats_numbers_move(r, server, daemon):
    before = json.loads(ctl(server, "stats", "--json").stdout)
    assert before["open_incidents"] == 0 and before["deadletters"]["total"] == 0
    assert before["streams"]["gr:in:patrol"]["length"] == 0

    inc = routed(r, server, base())
    routed(r, server, base(), channel="alert")
    assert ctl(server, "submit", "patrol", "--wait", input="nope").returncode == 1
    assert ctl(server, "ack", inc, "--by", "nobody", "--wait").returncode == 1

    p = ctl(server, "stats", "--json")
    assert p.returncode == 0
    s = json.loads(p.stdout)
    st = s["streams"]
    assert st["gr:in:patrol"]["length"] == 2 and st["gr:in:alert"]["length"] == 1
    assert st["gr:in:commands"]["length"] == 1
    assert st["gr:out:assignments"]["length"] == 2 and st["gr:deadletter"]["length"] == 2
    (g,) = st["gr:in:patrol"]["groups"]
    assert g["name"] == "gridrouted" and g["pending"] == 0
    assert [c["name"] for c in g["consumers"]] == ["d1"]
    assert s["open_incidents"] == 2
    assert s["deadletters"] == {"total": 2, "by_reason": {"invalid_json": 1,
                                                          "not_authorized": 1}}

    text = ctl(server, "stats").stdout
    assert "open incidents: 2\n" in text and "dead letters: 2\n" in text
    assert "group gridrouted: 0 pending" in text and "consumer d1: 0 pending" in text


def test_stats_on_an_empty_redis_and_due_backlog(r, server):
    r.zadd("gr:due", {"a": 1, "b": int(time.time() * 1000) + 3600_000})
    s = json.loads(ctl(server, "stats", "--json").stdout)
    assert s["due_backlog"] == 1 and s["due_scheduled"] == 2
    assert all(v == {"length": 0, "groups": []} for v in s["streams"].values())
    assert "due backlog: 1 (of 2 with a deadline)" in ctl(server, "stats").stdout


# ---- diff, check, explain (no Redis) -------------------------------------

def fixture(name):
    return os.path.join(HERE, name)


def test_diff_of_two_rules_files():
    p = run("diff", fixture("gridctl_diff_old.yaml"), fixture("gridctl_diff_new.yaml"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert set(lines[:4]) == {
        "beidajie/political_legal/community: [xinyi] -> [zhangqian]",
        "beidajie/g03/political_legal/community: [xinyi] -> [zhangqian]",
        "beidajie/g03/urban_management/member: [liuyang] -> [liuyang, wangwu]",
        "beidajie/g03/political_legal/member: [liuyang] -> [liuyang, wangwu]",
    }
    assert "policy added: critical (position 2)" in lines
    assert "policy changed: camera: ack_within: 5m -> 10m" in lines
    assert "person added: wangwu (王五)" in lines
    assert "person removed: xinyi (心怡调解中心)" in lines
    assert ("person changed: chenjing: notify: [wechat:chenjing] -> "
            "[wechat:chenjing, sms:+8613800000009]") in lines
    assert lines[-1] == ("4 assignments changed, 1 policy added, 0 policies removed, "
                         "1 policy changed, 1 person added, 1 person removed, 1 person changed")
    assert len(lines) == 10


def test_diff_of_a_file_with_itself():
    p = run("diff", RULES, RULES)
    assert p.returncode == 0
    assert p.stdout == ("0 assignments changed, 0 policies added, 0 policies removed, "
                        "0 policies changed, 0 people added, 0 people removed, "
                        "0 people changed\n")


def test_diff_removed_unit_falls_back_to_its_parent(tmp):
    new = os.path.join(tmp, "rules.yaml")
    with open(RULES) as f:
        text = f.read()
    start = text.index("  - id: xifeng/beijie/beidajie/g03")
    end = text.index("  # a grid on its own")
    with open(new, "w") as f:
        f.write(text[:start] + text[end:])
    p = run("diff", RULES, new)
    assert p.returncode == 0, p.stderr
    assert ("xifeng/beijie/beidajie/g03/urban_management/member: [liuyang] -> []"
            in p.stdout.splitlines())
    assert "unit removed: xifeng/beijie/beidajie/g03 (第三网格)" in p.stdout.splitlines()


def test_diff_of_an_invalid_file_exits_1():
    bad = fixture("gridctl_diff_bad.yaml")
    p = run("diff", fixture("gridctl_diff_old.yaml"), bad)
    assert p.returncode == 1
    assert p.stdout == ""
    err = p.stderr.splitlines()
    assert err[0].startswith(bad + ":14:")
    assert 'error: unknown level "leaderr"' in err[0]
    assert err[-1] == "gridctl diff: %s is not valid; nothing compared" % bad
    assert run("diff", fixture("nope.yaml"), bad).returncode == 1


def test_check_and_explain_still_work(tmp):
    p = run("check", RULES)
    assert p.returncode == 0 and ": OK: 5 levels" in p.stdout
    inc = os.path.join(tmp, "inc.json")
    with open(inc, "w") as f:
        json.dump(base(), f)
    p = run("explain", RULES, inc, "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["policy"] == "slow"
    assert run("explain", RULES, inc, "--channel", "radio").returncode == 2


# ---- global options: prefix, AUTH, SELECT, unix socket -------------------

def test_prefix(r, server, tmp):
    d = Daemon(tmp, server.port, name="dp", prefix="t:{x}:").start()
    try:
        p = ctl(server, "--prefix", "t:{x}:", "submit", "patrol", "--wait", input=base())
        assert p.returncode == 0, p.stderr
        inc = submitted(p)[1]
        assert r.exists("t:{x}:inc:" + inc) and not r.exists("gr:inc:" + inc)
        assert ids(ctl(server, "ls", "--prefix", "t:{x}:")) == [inc]
        assert ids(ctl(server, "ls")) == []
    finally:
        assert d.stop() == 0


@pytest.fixture
def secure(tmp):
    """A redis-server that wants a password, on TCP and on a unix socket."""
    port = free_port()
    sock = os.path.join(tmp, "secure.sock")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--unixsocket", sock, "--dir", tmp, "--save", "",
                             "--requirepass", "s3cret-pw", "--logfile",
                             os.path.join(tmp, "secure.log")])
    cli = redis.Redis(port=port, password="s3cret-pw", decode_responses=True)

    def up():
        try:
            return cli.ping()
        except redis.ConnectionError:
            return False
    wait_for(up, 10, "the secure redis-server")
    cli.acl_setuser("ops", enabled=True, passwords=["+ops-pw"], keys=["*"], channels=["*"],
                    categories=["+@all"])
    yield port, sock, cli
    proc.terminate()
    proc.wait(10)


def test_auth_select_and_socket(secure, tmp):
    port, sock, cli = secure
    pw = os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write("s3cret-pw\n")
    ops = os.path.join(tmp, "ops-pw")
    with open(ops, "w") as f:
        f.write("ops-pw")
    where = ["--redis", "127.0.0.1:%d" % port]

    p = run(*where, "--password-file", pw, "--db", "3", "submit", "patrol", "-", input=base())
    assert p.returncode == 0, p.stderr
    db3 = redis.Redis(port=port, password="s3cret-pw", db=3, decode_responses=True)
    assert db3.xlen("gr:in:patrol") == 1 and cli.xlen("gr:in:patrol") == 0

    p = run("--socket", sock, "--user", "ops", "--password-file", ops, "stats", "--json")
    assert p.returncode == 0, p.stderr

    p = run(*where, "ls")
    assert p.returncode == 1 and "NOAUTH" in one_line(p)

    wrong = os.path.join(tmp, "wrong")
    with open(wrong, "w") as f:
        f.write("not-the-pw-xyzzy\n")
    p = run(*where, "--password-file", wrong, "ls")
    assert p.returncode == 1
    assert one_line(p).startswith("gridctl ls: Redis at 127.0.0.1:%d refused AUTH: " % port)
    assert "xyzzy" not in p.stderr and "xyzzy" not in p.stdout

    p = run(*where, "--password-file", os.path.join(tmp, "missing"), "ls")
    assert p.returncode == 1 and "cannot read the password file" in one_line(p)
