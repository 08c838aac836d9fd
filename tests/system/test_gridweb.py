"""gridweb (SPEC §12) against a real redis-server with the shipped ACL
users, the real daemon, and gridweb as the read-only `viewer` (a write
would be refused and show in Redis's ACL LOG, which every test checks):
text from a report is escaped everywhere, the headers, basic auth with
yescrypt, bcrypt and SHA-512 hashes, the JSON API against what the daemon
wrote, the case list's filters and pages, server-sent events, --check,
SIGTERM with a listener connected."""
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest

from conftest import wait_for
from gridweb_harness import GRIDWEB, G03, Gridweb, crypt_hash, env  # noqa: F401 (fixture)

XSS = ["<script>alert('x')</script>", "\"><img src=x onerror=alert(1)>"]


def test_report_text_is_escaped_on_every_page(env):
    ids = [env.report(title=t, detail=t, attrs={"speed": "slow", "note": t}) for t in XSS]
    env.command(op="comment", incident=ids[0], by="liuyang", note=XSS[1])
    env.admin.xadd("gr:in:patrol", {"incident": '{"title": "' + XSS[0] + '"'})  # a dead letter
    wait_for(lambda: env.admin.xlen("gr:deadletter") == 1, 10, "the dead letter")
    wait_for(lambda: len(env.admin.lrange("gr:timeline:" + ids[0], 0, -1)) == 2, 10, "comment")
    pages = ["/", "/incidents", "/incidents?unit=" + G03, "/deadletters", "/report"]
    pages += ["/incidents/" + i for i in ids]
    for p in pages:
        code, headers, body = env.web.request(p)
        assert code == 200, (p, code)
        assert headers["Content-Security-Policy"].startswith("default-src 'self'"), headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<script>alert" not in body and "<img src=x" not in body, p
        # the only script is the page's own, from the binary; no inline one
        assert re.findall(r"<script[^>]*>", body) == [
            '<script src="/static/gridweb.js" defer>'], p
        assert " style=" not in body, p
    case = env.web.get("/incidents/" + ids[0])
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in case
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in case  # the comment's note
    # the timeline's items are coloured by type as the feed's are; only the feed links
    assert re.search(r'<li class="ev-assigned"><time [^>]*>[^<]*</time> <span class="type">', case)
    assert re.search(r'<li class="ev-comment">.*?<q>&quot;&gt;&lt;img', case), case
    assert "&lt;script&gt;" in env.web.get("/deadletters")
    # the JSON has them as they were written
    got = env.web.api("/incidents/" + ids[1])
    assert got["incident"]["title"] == XSS[1]


def test_static_files_and_methods(env):
    for path, ctype in (("/static/gridweb.css", "text/css"), ("/static/gridweb.js",
                                                              "text/javascript"),
                        ("/static/icon.svg", "image/svg+xml")):
        code, headers, body = env.web.request(path)
        assert code == 200 and headers["Content-Type"].startswith(ctype) and len(body) > 100
    with open(os.path.join(os.path.dirname(GRIDWEB), "..", "src", "gridweb.js")) as f:
        assert env.web.get("/static/gridweb.js") == f.read()
    assert env.web.status("/nowhere") == 404
    assert env.web.status("/api/incidents/bad%20id") == 404
    assert env.web.status("/api/incidents/no-such-case") == 404
    assert env.web.request("/", method="POST")[0] == 405
    assert env.web.status("/incidents?state=resolvedd") == 400
    assert env.web.status("/incidents?level=nope") == 400
    assert env.web.status("/report?month=2026-13") == 400
    assert env.web.get("/healthz") == "ok\n"


def ms_rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(ms) // 1000)) + \
        ".%03dZ" % (int(ms) % 1000)


def test_the_api_says_what_the_daemon_wrote(env):
    a = env.report()
    b = env.report(category="political_legal", attrs={"speed": "slow"})
    env.command(op="ack", incident=a, by="liuyang")
    wait_for(lambda: env.admin.hget("gr:inc:" + a, "state") == "acked", 10, "ack")
    env.admin.xadd("gr:in:patrol", {"incident": "not json"})
    wait_for(lambda: env.admin.xlen("gr:deadletter") == 1, 10, "dead letter")

    for inc in (a, b):
        h = env.admin.hgetall("gr:inc:" + inc)
        got = env.web.api("/incidents/" + inc)
        c = got["incident"]
        assert c["state"] == h["state"] and c["level_key"] == h["level_key"]
        assert c["level"] == int(h["level"]) and c["policy"] == h["policy"]
        assert [p["id"] for p in c["assignees"]] == json.loads(h["assignees"])
        assert c["unit"]["key"] == h["unit"] and c["category"]["key"] == h["category"]
        for f in ("ack_deadline", "resolve_deadline", "created_at", "updated_at"):
            assert c[f] == ms_rfc3339(h[f]), f
        assert c["version"] == int(h["version"])
        tl = [json.loads(e) for e in env.admin.lrange("gr:timeline:" + inc, 0, -1)]
        assert [{k: v for k, v in e.items() if k not in ("type_name", "text")}
                for e in got["timeline"]] == tl
        chain = got["chain"]
        assert [l["level_key"] for l in chain] == ["member", "leader", "community", "street",
                                                   "district"]
        assert [l["level_key"] for l in chain if l["current"]] == [h["level_key"]]
    assert env.web.api("/incidents/" + a)["chain"][0]["assignees"] == [
        {"id": "liuyang", "name": "刘洋"}]

    s = env.web.api("/summary")
    stats = env.admin.hgetall("gr:stats")
    assert s["open"] == 2 == env.admin.zcard("gr:open")
    assert {x["state"]: x["count"] for x in s["by_state"]} == {
        "open": int(stats.get("state:open", 0)), "acked": int(stats.get("state:acked", 0)),
        "verifying": 0, "returned": 0, "parked": 0}
    assert s["by_state"][0]["name"] == "待签收"
    assert {x["level_key"]: x["count"] for x in s["by_level"]}["member"] == \
        int(stats["level:member"])
    assert s["overdue"] == len(overdue_ids(env.admin))
    assert [(x["unit"], x["open"]) for x in s["streets"]] == [("xifeng/beijie", 2)]
    assert {e["incident"] for e in s["feed"]} >= {a, b}

    dl = env.web.api("/deadletters")["deadletters"]
    (entry_id, fields), = env.admin.xrange("gr:deadletter")
    assert dl == [{"id": entry_id, "at": ms_rfc3339(entry_id.split("-")[0]),
                   "source": fields["source"], "entry": fields["entry"],
                   "reason": "invalid_json", "error": fields["error"],
                   "payload": "not json", "reason_name": "JSON 格式错误"}]

    rep = env.web.api("/report")
    month = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))
    assert rep["month"] == month
    rows = {r["unit"]: r for r in rep["rows"]}
    kpi = env.admin.hgetall("gr:kpi:%s:%s" % (month, G03))
    assert rows[G03]["created"] == sum(int(v) for k, v in kpi.items()
                                       if k.endswith(":created")) == 2
    assert rows["xifeng"]["created"] == 2 and rows["xifeng"]["name"] == "西峰区"
    assert rows[G03]["acked"] == 1


def test_filters_and_pages_oldest_first(env):
    ids = [env.report(attrs={"speed": "slow", "n": str(i)}) for i in range(7)]
    other = env.report(unit="xifeng/beijie/beidajie", category="political_legal",
                       attrs={"speed": "slow"})
    env.command(op="ack", incident=ids[2], by="liuyang")
    wait_for(lambda: env.admin.hget("gr:inc:" + ids[2], "state") == "acked", 10, "ack")
    created = env.admin.zrange("gr:open", 0, -1)  # by score, then id: the order promised

    seen, cursor = [], None
    while True:
        page = env.web.api("/incidents?limit=3" + ("&after=" + cursor if cursor else ""))
        seen += [c["id"] for c in page["incidents"]]
        assert len(page["incidents"]) <= 3
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == created

    def ids_of(q):
        return [c["id"] for c in env.web.api("/incidents?" + q)["incidents"]]
    assert ids_of("state=acked") == [ids[2]]
    assert ids_of("unit=" + G03) == [i for i in created if i != other]
    assert ids_of("unit=xifeng/beijie") == created
    assert ids_of("unit=xifeng/nanjie") == []
    assert ids_of("category=political_legal") == [other]
    assert ids_of("level=member&state=open") == [i for i in created if i not in (other,
                                                                                 ids[2])]
    assert ids_of("overdue=1") == []
    # the HTML page's next link carries the filters
    body = env.web.get("/incidents?limit=2&unit=" + G03)
    assert re.search(r'href="/incidents\?unit=xifeng%2Fbeijie%2Fbeidajie%2Fg03&amp;after='
                     r'[0-9]+~patrol-', body), body


def overdue_ids(r):
    """The overdue cases as spec-deviations.md reads them: gr:deadlines' members
    up to now, and gr:due's up to now that gr:deadlines does not hold."""
    now = int(time.time() * 1000)
    ids = set(r.zrangebyscore("gr:deadlines", "-inf", now))
    return ids | {m for m in r.zrangebyscore("gr:due", "-inf", now)
                  if r.zscore("gr:deadlines", m) is None}


def test_a_case_past_a_deadline_not_yet_handled_is_overdue(env):
    """A new case has no member in gr:deadlines (its deadline is its gr:due
    score): once that passes, before the daemon escalates it (stopped here),
    gridweb counts and lists it overdue from gr:due."""
    inc = env.report(attrs={})  # 300 ms a level
    os.kill(env.daemon.proc.pid, signal.SIGSTOP)
    try:
        assert env.admin.zscore("gr:deadlines", inc) is None
        due = env.admin.zscore("gr:due", inc)
        wait_for(lambda: time.time() * 1000 > due + 50, 5, "its deadline passed")
        s = env.web.api("/summary")
        assert s["overdue"] == 1 and s["streets"][0]["overdue"] == 1
        assert [c["id"] for c in env.web.api("/incidents?overdue=1")["incidents"]] == [inc]
        assert overdue_ids(env.admin) == {inc}
    finally:
        os.kill(env.daemon.proc.pid, signal.SIGCONT)
    wait_for(lambda: env.admin.zscore("gr:due", inc) > due, 10, "escalated")
    assert env.web.api("/summary")["overdue"] == len(overdue_ids(env.admin))


def test_overdue_cases_by_street(env):
    """A case past its ack deadline at the last level (300 ms a level in the test rules)
    stays overdue once breached."""
    inc = env.report(attrs={})
    wait_for(lambda: any(json.loads(e)["type"] == "breached"
                         for e in env.admin.lrange("gr:timeline:" + inc, 0, -1)), 10, "breach")
    assert env.web.api("/summary")["breaches_today"] == 1
    # gr:daily:<date> (the rules' zone: Asia/Shanghai) is kept 40 days after its day
    (key,) = env.admin.keys("gr:daily:*")
    day = datetime.date.fromisoformat(key.rsplit(":", 1)[1])
    end = datetime.datetime.combine(day + datetime.timedelta(days=41), datetime.time(),
                                    ZoneInfo("Asia/Shanghai"))
    assert env.admin.execute_command("PEXPIRETIME", key) == int(end.timestamp() * 1000)
    s = env.web.api("/summary")
    assert s["streets"][0]["overdue"] == s["overdue"] == len(overdue_ids(env.admin)) == 1
    assert env.admin.zscore("gr:deadlines", inc) is not None  # its passed deadline kept
    assert [c["id"] for c in env.web.api("/incidents?overdue=1")["incidents"]] == [inc]
    assert env.web.api("/incidents?overdue=1")["incidents"][0]["overdue"] is True
    assert "超时" in env.web.get("/incidents?overdue=1")


def read_event(sock_file, deadline):
    while time.monotonic() < deadline:
        line = sock_file.readline()
        if not line:
            return None
        line = line.decode("utf-8").rstrip("\r\n")
        if line.startswith("data: "):
            return json.loads(line[6:])
    return None


def open_events(web, auth_header=""):
    s = socket.create_connection(("127.0.0.1", web.port), timeout=5)
    s.sendall(("GET /api/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n%s\r\n"
               % auth_header).encode())
    f = s.makefile("rb")
    status = f.readline().decode()
    headers = {}
    while True:
        line = f.readline().decode().rstrip("\r\n")
        if not line:
            break
        k, v = line.split(":", 1)
        headers[k.lower()] = v.strip()
    return s, f, status, headers


def test_server_sent_events_and_sigterm_with_a_listener(env):
    s, f, status, headers = open_events(env.web)
    assert status.startswith("HTTP/1.1 200"), status
    assert headers["content-type"].startswith("text/event-stream")
    inc = env.report()
    ev = read_event(f, time.monotonic() + 5)
    assert ev is not None and ev["type"] == "assigned" and ev["incident"] == inc
    assert json.loads(env.admin.lrange("gr:timeline:" + inc, 0, 0)[0]) == ev
    # evhttp's 10 s read timeout does not end a stream whose browser sends nothing
    s.settimeout(20)
    deadline = time.monotonic() + 11
    while time.monotonic() < deadline:
        assert f.readline() != b"", "the stream ended"
    other = env.report()
    ev = read_event(f, time.monotonic() + 5)
    assert ev is not None and ev["incident"] == other
    start = time.monotonic()
    env.web.proc.send_signal(signal.SIGTERM)
    assert env.web.proc.wait(5) == 0
    assert time.monotonic() - start < 5
    s.close()
    env.web.start()  # for the fixture's checks


def test_basic_auth(tmp, env):
    users = {"zhangqian": ("pw-yes", "$y$"), "duty": ("pw-bcrypt", "$2b$"),
             "cc": ("pw-sha", "$6$")}
    path = os.path.join(tmp, "users")
    with open(path, "w") as f:
        f.write("# the command centre\n")
        for u, (pw, kind) in users.items():
            f.write("%s:%s\n" % (u, crypt_hash(pw, kind)))
    w = Gridweb(tmp, env.server.port, name="authweb", auth_file=path)
    p = subprocess.run([GRIDWEB, "-c", w.config, "--check"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and "OK: 3 user(s)" in p.stdout, p.stdout + p.stderr
    w.start(auth=("cc", "pw-sha"))
    try:
        for path_ in ("/", "/api/summary", "/incidents", "/static/gridweb.js", "/readyz"):
            code, headers, _ = w.request(path_)
            assert code == 401 and headers["WWW-Authenticate"].startswith("Basic "), path_
            assert w.request(path_, auth=("cc", "wrong"))[0] == 401
            assert w.request(path_, auth=("nobody", "pw-sha"))[0] == 401
        for u, (pw, _) in users.items():
            assert w.status("/api/summary", auth=(u, pw)) == 200, u
            assert w.status("/api/summary", auth=(u, pw + "x")) == 401, u
        s, f, status, _ = open_events(w)
        assert status.startswith("HTTP/1.1 401"), status
        s.close()
        import base64
        good = "Authorization: Basic %s\r\n" % base64.b64encode(b"duty:pw-bcrypt").decode()
        s, f, status, _ = open_events(w, good)
        assert status.startswith("HTTP/1.1 200"), status
        s.close()
        assert w.status("/healthz") == 200  # for the orchestrator, as gridrouted's
        log = open(w.log_path).read()
        for pw, _ in users.values():
            assert pw not in log
        assert any(l.get("event") == "auth_failed" for l in w.log_lines())
    finally:
        assert w.stop() == 0


def test_password_guessing_is_throttled(tmp, env):
    """At most 10 password checks a second (20 at once) for all clients: a
    flood of wrong passwords gets 429 with Retry-After instead of taking the
    event loop with crypt; a login remembered before the flood still works
    during it, and a new one again once the flood stops."""
    path = os.path.join(tmp, "users")
    with open(path, "w") as f:
        f.write("cc:%s\nduty:%s\n" % (crypt_hash("pw-cc", "$6$"), crypt_hash("pw-duty", "$6$")))
    w = Gridweb(tmp, env.server.port, name="throttleweb", auth_file=path)
    w.start(auth=("cc", "pw-cc"))  # remembered from here on
    try:
        codes = [w.request("/api/summary", auth=("cc", "guess%d" % i)) for i in range(80)]
        statuses = [c for c, _, _ in codes]
        assert statuses[0] == 401 and set(statuses) <= {401, 429}, statuses
        assert 429 in statuses and statuses.count(401) < 60, statuses
        refused = next(h for c, h, _ in codes if c == 429)
        assert refused["Retry-After"] == "1"
        assert w.status("/api/summary", auth=("cc", "pw-cc")) == 200  # remembered: no check
        wait_for(lambda: w.status("/api/summary", auth=("duty", "pw-duty")) == 200, 5,
                 "a new login once the bucket refills")
        events = [l.get("event") for l in w.log_lines()]
        assert "auth_throttled" in events and "auth_failed" in events
    finally:
        assert w.stop() == 0


def test_the_viewer_can_write_nothing(env):
    """The user gridweb runs as is refused every write: so it cannot have written."""
    import redis
    v = env.server.client("viewer")
    for args in (("SET", "gr:x", "1"), ("HSET", "gr:stats", "state:open", "9"),
                 ("XADD", "gr:in:patrol", "*", "incident", "{}"), ("PUBLISH", "gr:events", "x"),
                 ("DEL", "gr:open")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            v.execute_command(*args)
    env.admin.execute_command("ACL", "LOG", "RESET")
    env.report()
    for p in ("/", "/incidents", "/incidents?overdue=1&unit=xifeng", "/report", "/deadletters"):
        env.web.get(p)


def test_check_and_config_errors(tmp, env):
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("rules: %s\nhttp: {listen: x}\nweb: {listen: nope}\n" % env.web.config)
    p = subprocess.run([GRIDWEB, "-c", bad, "--check"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    assert "bad.yaml:2:1: error: unknown key \"http\"" in p.stderr, p.stderr
    assert "bad.yaml:3:15: error: expected \"host:port\"" in p.stderr, p.stderr
    p = subprocess.run([GRIDWEB, "-c", env.web.config, "--check"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and "OK: 5 levels" in p.stdout, p.stderr
    p = subprocess.run([GRIDWEB, "--version"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and p.stdout.startswith("gridweb 0.")
