"""/healthz, /readyz and /metrics, scraped while the daemon works."""
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import GRIDROUTED, Daemon, RedisServer, command, free_port, submit, wait_for

G03 = "xifeng/beijie/beidajie/g03"
FAMILIES = [
    "gridroute_incidents_received_total", "gridroute_incidents_routed_total",
    "gridroute_deadletters_total", "gridroute_escalations_total", "gridroute_commands_total",
    "gridroute_duplicates_total", "gridroute_breaches_total", "gridroute_route_latency_seconds",
    "gridroute_redis_up", "gridroute_redis_reconnects_total", "gridroute_rules_reloads_total",
    "gridroute_rules_last_reload_success_timestamp_seconds", "gridroute_open_incidents",
    "gridroute_due_backlog", "gridroute_build_info", "gridroute_time_to_ack_seconds",
    "gridroute_time_to_resolve_seconds", "gridroute_reports_existing_total",
    "gridroute_calendar_covered_until_timestamp_seconds",
]
CASE_BOUNDS = ["60", "300", "900", "1800", "3600", "7200", "14400", "28800", "86400", "172800",
               "604800", "+Inf"]


def get(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(port):
    code, text = get(port, "/metrics")
    assert code == 200
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return text, values


@pytest.fixture
def hd(tmp, server):
    port = free_port()
    d = Daemon(tmp, server.port, name="h1", http={"listen": "127.0.0.1:%d" % port}).start()
    d.port = port
    yield d
    assert d.stop() == 0


def test_health_and_readiness(hd):
    assert get(hd.port, "/healthz") == (200, "ok\n")
    assert get(hd.port, "/readyz")[0] == 200


def test_only_get_on_known_paths(hd):
    assert get(hd.port, "/nope")[0] == 404
    assert get(hd.port, "/metrics", method="POST")[0] == 405
    assert get(hd.port, "/healthz", method="DELETE")[0] == 405
    assert get(hd.port, "/healthz?x=1")[0] == 200


def test_every_family_is_exposed(hd):
    text, _ = scrape(hd.port)
    for f in FAMILIES:
        assert re.search(r"^# TYPE %s " % f, text, re.M), f


def test_counters_move(r, hd):
    _, before = scrape(hd.port)
    submit(r, "patrol", {"category": "urban_management", "unit": G03, "title": "x",
                         "attrs": {"speed": "slow"}})
    submit(r, "patrol", "{broken")
    r.xadd("gr:in:commands", {"command": json.dumps({"op": "fly", "incident": "a", "by": "b"})})

    def moved():
        _, v = scrape(hd.port)
        return v if (v['gridroute_incidents_routed_total{channel="patrol"}'] == 1 and
                     v['gridroute_deadletters_total{reason="invalid_json"}'] == 1 and
                     v['gridroute_commands_total{op="invalid",result="rejected"}'] == 1) else None
    v = wait_for(moved, 10, "counters to move")
    assert v['gridroute_incidents_received_total{channel="patrol"}'] == 2
    assert v["gridroute_route_latency_seconds_count"] == 1
    assert v['gridroute_deadletters_total{reason="unknown_op"}'] == 1
    assert v['gridroute_deadletters_total{reason="too_large"}'] == 0
    assert v["gridroute_redis_up"] == 1
    wait_for(lambda: scrape(hd.port)[1]["gridroute_open_incidents"] == 1, 10, "open gauge")


def test_escalations_and_breaches_counted(r, hd):
    submit(r, "patrol", {"category": "urban_management", "unit": G03, "title": "x"})
    v = wait_for(lambda: (lambda v: v if v["gridroute_breaches_total"] == 1 else None)(
        scrape(hd.port)[1]), 15, "a breach")
    assert v['gridroute_escalations_total{reason="ack_timeout"}'] == 4


def test_reloads_counted(hd):
    import signal
    hd.kill(signal.SIGHUP)
    wait_for(lambda: scrape(hd.port)[1]['gridroute_rules_reloads_total{result="success"}'] == 1,
             10, "a reload")
    with open(hd.rules, "a") as f:
        f.write("\nbogus: 1\n")
    hd.kill(signal.SIGHUP)
    wait_for(lambda: scrape(hd.port)[1]['gridroute_rules_reloads_total{result="failure"}'] == 1,
             10, "a failed reload")


def test_readyz_503_while_redis_is_down(tmp):
    server = RedisServer(tmp).start()
    port = free_port()
    d = Daemon(tmp, server.port, name="h2", http={"listen": "127.0.0.1:%d" % port}).start()
    try:
        server.stop()
        wait_for(lambda: get(port, "/readyz")[0] == 503, 10, "not ready")
        assert get(port, "/healthz")[0] == 200
        assert scrape(port)[1]["gridroute_redis_up"] == 0
        server.start()
        wait_for(lambda: get(port, "/readyz")[0] == 200, 15, "ready again")
        assert scrape(port)[1]["gridroute_redis_reconnects_total"] >= 1
    finally:
        assert d.stop() == 0
        server.stop()


def test_build_info_names_the_version(hd):
    version = subprocess.run([GRIDROUTED, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.split()[-1]
    _, v = scrape(hd.port)
    assert v['gridroute_build_info{version="%s"}' % version] == 1
    assert [k for k in v if k.startswith("gridroute_build_info")] == \
        ['gridroute_build_info{version="%s"}' % version]


def ack_and_resolve(r, hd):
    """One case acknowledged and resolved at once (the slow policy: nothing escalates)."""
    submit(r, "patrol", {"id": "h-1", "category": "urban_management", "unit": G03, "title": "x",
                         "attrs": {"speed": "slow"}})
    wait_for(lambda: r.hget("gr:inc:h-1", "state") == "open", 10, "routed")
    command(r, op="ack", incident="h-1", by="liuyang")
    wait_for(lambda: r.hget("gr:inc:h-1", "state") == "acked", 10, "acked")
    command(r, op="resolve", incident="h-1", by="liuyang", note="done")
    wait_for(lambda: r.hget("gr:inc:h-1", "state") == "resolved", 10, "resolved")
    return wait_for(lambda: (lambda v: v if v["gridroute_time_to_resolve_seconds_count"] == 1
                             else None)(scrape(hd.port)[1]), 10, "the histograms")


def test_time_to_ack_and_resolve_histograms(r, hd):
    text, v = scrape(hd.port)
    for h in ("gridroute_time_to_ack_seconds", "gridroute_time_to_resolve_seconds"):
        assert re.search(r"^# TYPE %s histogram$" % h, text, re.M), h
        assert re.findall(r'^%s_bucket\{le="([^"]+)"\}' % h, text, re.M) == CASE_BOUNDS
        assert v[h + "_count"] == 0 and v[h + "_sum"] == 0
    v = ack_and_resolve(r, hd)
    created = int(r.hget("gr:inc:h-1", "created_at"))
    resolved = int(r.hget("gr:inc:h-1", "resolved_at"))
    for h in ("gridroute_time_to_ack_seconds", "gridroute_time_to_resolve_seconds"):
        assert v[h + "_count"] == 1
        # seconds from creation, in the first bucket and in every one above it
        assert all(v['%s_bucket{le="%s"}' % (h, b)] == 1 for b in CASE_BOUNDS)
        assert 0 <= v[h + "_sum"] <= (resolved - created) / 1000.0 + 0.001
    assert v["gridroute_time_to_ack_seconds_sum"] <= v["gridroute_time_to_resolve_seconds_sum"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_lints_the_output(r, hd):
    ack_and_resolve(r, hd)
    text, _ = scrape(hd.port)
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
