"""conf/alerts.yml, the Prometheus alerting rules: promtool check rules
accepts them, every alert has its summary and description in Chinese and
in English, and promtool test rules shows each one firing on the series
that should fire it, with its annotations rendered, and staying quiet on a
healthy daemon."""
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT

ALERTS = os.path.join(ROOT, "conf", "alerts.yml")
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool not installed (Debian: prometheus)")
CJK = re.compile(r"[\u4e00-\u9fff]")


def rules():
    with open(ALERTS, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def test_every_alert_speaks_chinese_and_english():
    rs = rules()
    assert {"GridrouteRedisDown", "GridrouteDeadLettersRising", "GridrouteBreaches",
            "GridrouteEscalationsLate", "GridrouteReloadFailed",
            "GridrouteCalendarRunningOut"} <= set(rs)
    for name, r in rs.items():
        a = r["annotations"]
        assert set(a) == {"summary", "description", "summary_en", "description_en"}, name
        assert CJK.search(a["summary"]) and CJK.search(a["description"]), name
        assert not CJK.search(a["summary_en"]) and not CJK.search(a["description_en"]), name
        assert r["labels"]["severity"] in ("critical", "warning"), name


def render(text, labels, value):
    """The annotation as Prometheus renders it for these labels and value."""
    text = text.replace("{{ $value }}", value)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)


def expect(name, labels, value):
    r = rules()[name]
    every = dict(labels, severity=r["labels"]["severity"])
    return {"exp_labels": every,
            "exp_annotations": {k: render(v, every, value) for k, v in r["annotations"].items()}}


# (alert, when, the alerts expected: [(labels, $value)]); instance b is healthy throughout
SERIES = [
    ('up{job="gridroute",instance="a"}', "1 1 0 0 0 0 0 0 0 0 0 0"),
    ('up{job="gridroute",instance="b"}', "1x11"),
    ('gridroute_redis_up{instance="a"}', "1 1 0 0 0 0 0 0 0 0 0 0"),
    ('gridroute_redis_up{instance="b"}', "1x11"),
    ('gridroute_redis_reconnects_total{instance="a"}', "0 2 4 6 8 10 12 14 16 18 20 22"),
    ('gridroute_redis_reconnects_total{instance="b"}', "0x11"),
    ('gridroute_deadletters_total{instance="a",reason="invalid_json"}', "0 0 0 3 3 3 3 3 3 3 3 3"),
    ('gridroute_deadletters_total{instance="b",reason="invalid_json"}', "5x11"),
    ('gridroute_breaches_total{instance="a"}', "0 0 0 2 2 2 2 2 2 2 2 2"),
    ('gridroute_breaches_total{instance="b"}', "1x11"),
    ('gridroute_rules_reloads_total{instance="a",result="failure"}', "0 0 0 1 1 1 1 1 1 1 1 1"),
    ('gridroute_rules_reloads_total{instance="b",result="failure"}', "0x11"),
    ('gridroute_due_backlog{instance="a"}', "0 2 2 2 2 2 2 2 2 2 2 2"),
    ('gridroute_due_backlog{instance="b"}', "0 2 2 2 2 2 2 2 2 2 2 2"),
    # a: every report in the (2.5 s, 5 s] bucket; b: all within 10 ms
    ('gridroute_route_latency_seconds_bucket{instance="a",le="2.5"}', "0x11"),
    ('gridroute_route_latency_seconds_bucket{instance="a",le="5"}', "0+60x11"),
    ('gridroute_route_latency_seconds_bucket{instance="a",le="+Inf"}', "0+60x11"),
    ('gridroute_route_latency_seconds_bucket{instance="b",le="0.01"}', "0+60x11"),
    ('gridroute_route_latency_seconds_bucket{instance="b",le="2.5"}', "0+60x11"),
    ('gridroute_route_latency_seconds_bucket{instance="b",le="5"}', "0+60x11"),
    ('gridroute_route_latency_seconds_bucket{instance="b",le="+Inf"}', "0+60x11"),
]
CASES = [
    ("GridrouteDown", "5m", [({"job": "gridroute", "instance": "a"}, "0")]),
    ("GridrouteDown", "3m", []),  # down for a minute only
    ("GridrouteRedisDown", "5m", [({"instance": "a"}, "0")]),
    ("GridrouteRedisFlapping", "5m", [({"instance": "a"}, "10")]),
    ("GridrouteDeadLettersRising", "5m", [({"instance": "a", "reason": "invalid_json"}, "3")]),
    ("GridrouteBreaches", "5m", [({"instance": "a"}, "2")]),
    ("GridrouteBreaches", "2m", []),
    ("GridrouteReloadFailed", "5m", [({"instance": "a"}, "1")]),
    ("GridrouteEscalationsLate", "4m", []),  # not yet 5 minutes
    ("GridrouteEscalationsLate", "7m", [({}, "2")]),
    ("GridrouteSlowRouting", "11m", [({"instance": "a"}, "4.975")]),
    ("GridrouteSlowRouting", "8m", []),
]
CALENDAR = [  # covered_until 23 days after the start (a), no calendar (b), a year away (c)
    ('gridroute_calendar_covered_until_timestamp_seconds{instance="a"}', "2000000x180"),
    ('gridroute_calendar_covered_until_timestamp_seconds{instance="b"}', "0x180"),
    ('gridroute_calendar_covered_until_timestamp_seconds{instance="c"}', "31536000x180"),
]


def write_tests(path, rules_path):
    tests = [{"interval": "1m",
              "input_series": [{"series": s, "values": v} for s, v in SERIES],
              "alert_rule_test": [dict(eval_time=t, alertname=name,
                                       exp_alerts=[expect(name, l, v) for l, v in alerts])
                                  for name, t, alerts in CASES]},
             {"interval": "1m",
              "input_series": [{"series": s, "values": v} for s, v in CALENDAR],
              "alert_rule_test": [
                  {"eval_time": "30m", "alertname": "GridrouteCalendarRunningOut",
                   "exp_alerts": []},  # not yet an hour
                  {"eval_time": "2h", "alertname": "GridrouteCalendarRunningOut",
                   "exp_alerts": [expect("GridrouteCalendarRunningOut", {"instance": "a"},
                                         "2e+06")]}]}]
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"rule_files": [rules_path], "evaluation_interval": "1m",
                        "tests": tests}, f, allow_unicode=True)


@needs_promtool
def test_promtool_checks_the_rules():
    p = subprocess.run(["promtool", "check", "rules", ALERTS], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: %d rules found" % len(rules()) in p.stdout, p.stdout


@needs_promtool
def test_each_alert_fires_when_it_should_and_only_then(tmp):
    tests = os.path.join(tmp, "tests.yml")
    write_tests(tests, ALERTS)
    assert {name for name, _, _ in CASES} | {"GridrouteCalendarRunningOut"} == set(rules())
    p = subprocess.run(["promtool", "test", "rules", tests], capture_output=True, text=True,
                       timeout=60, cwd=tmp)
    assert p.returncode == 0, p.stdout + p.stderr
