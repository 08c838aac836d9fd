"""Working time on the holiday calendar and duty rosters (SPEC §3.1, §3.2)
against the real daemon and gridctl: the stored deadlines and the
assignment of a report counted in working time (checked against a
reference of our own, from the daemon's own creation time), the roster
that hands the case to whoever is on duty at creation, gridctl explain --at
before, inside and after lunch, on a weekend, in a holiday range, on a
make-up workday and across a rota handoff, gridctl calendar and schedule,
and a reload that changes the calendar (and the metric with it)."""
import datetime as dt
import json
import os
import signal
import subprocess
import urllib.request
from zoneinfo import ZoneInfo

import pytest

from conftest import GRIDCTL, ROOT, Daemon, assignments, free_port, incident, submit, wait_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLIDAYS_2026 = os.path.join(ROOT, "conf", "holidays", "cn-2026.yaml")
HOUR = 3600000

PEOPLE = """
people:
  ann: {name: 安, notify: ["sms:1"]}
  bob: {name: 鲍, notify: ["sms:2"]}
  cat: {name: 柴, notify: ["sms:3"]}
  dan: {name: 丹, notify: ["sms:4"]}
  eve: {name: 伊, notify: ["sms:5"]}
  boss: {name: 领导, notify: ["sms:6"], admin: true}
"""

HEAD = """version: 1
levels:
  - {key: member, name: 网格员, unit: grid, role: member}
  - {key: street, name: 街道, unit: street, role: duty}
categories:
  - {key: urban_management, name: 城市管理}
  - {key: rota, name: 值班}
""" + PEOPLE


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def run(*args, input=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([GRIDCTL] + [str(a) for a in args], input=input, capture_output=True,
                       text=True, timeout=30, env=e)
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


def ms(t):
    return int(t.timestamp() * 1000)


def rfc3339(ms_):
    t = dt.datetime.fromtimestamp(ms_ / 1000, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms_ % 1000)


def local(s):
    """'2026-10-08 07:00' in Shanghai time, as ms."""
    return ms(dt.datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI))


# ---- a reference of working time, written apart from the daemon's ----------

class Calendar:
    def __init__(self, hours, holidays=(), workdays=(), weekdays=(0, 1, 2, 3, 4), tz=SHANGHAI):
        self.hours = [tuple(self._minutes(x) for x in h.split("-")) for h in hours]
        self.holidays = set(holidays)
        self.workdays = set(workdays)
        self.weekdays = set(weekdays)  # Monday = 0
        self.tz = tz

    @staticmethod
    def _minutes(hhmm):
        h, m = hhmm.split(":")
        return int(h) * 60 + int(m)

    def works(self, day):
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def add(self, t, work):
        """t + work ms of working time, as SPEC §3.1 says."""
        day = dt.datetime.fromtimestamp(t / 1000, self.tz).date() - dt.timedelta(days=1)
        rem = work
        while True:
            if self.works(day):
                midnight = dt.datetime.combine(day, dt.time(0), self.tz)
                for a, b in self.hours:
                    s = ms(midnight + dt.timedelta(minutes=a))
                    e = ms(midnight + dt.timedelta(minutes=b))
                    if e <= t:
                        continue
                    s = max(s, t)
                    if rem <= e - s:
                        return s + rem
                    rem -= e - s
            day += dt.timedelta(days=1)


def today_local():
    return dt.datetime.now(SHANGHAI).date()


# ---- the daemon assigns with working-time deadlines ----------------------

def calendar_rules(tmp, hours, holidays, workdays, extra=""):
    """Rules with a calendar; its holidays in a file beside them."""
    os.makedirs(os.path.join(tmp, "holidays"), exist_ok=True)
    write(os.path.join(tmp, "holidays", "h.yaml"),
          "holidays: [%s]\nworkdays: [%s]\ncovered_until: 2099-12-31\n"
          % (", ".join(d.isoformat() for d in holidays),
             ", ".join(d.isoformat() for d in workdays)))
    return write(os.path.join(tmp, "src-rules.yaml"), HEAD + """
calendar:
  timezone: Asia/Shanghai
  hours: [%s]
  holidays_file: holidays/h.yaml
units:
  - {id: s, kind: street, name: 街道, roles: {duty: {default: [boss]}}}
  - {id: s/g, kind: grid, name: 网格, roles: {member: {default: [ann]}}}
policies:
  - {name: urban, match: {}, start_level: member, ack_within: 1wh, resolve_within: 2wd}
""" % ", ".join('"%s"' % h for h in hours) + extra)


def start(tmp, server, rules, name="d1", **kw):
    # the daemon reads its copy of the rules, beside them: holidays/ is found the same
    return Daemon(tmp, server.port, name=name, rules=rules, **kw).start()


def test_assignment_deadlines_in_working_time(r, tmp, server):
    # today is a holiday and the coming Saturday a make-up workday: the
    # deadlines can never be plain clock time
    today = today_local()
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    hours = ["08:30-12:00", "14:00-17:30"]
    cal = Calendar(hours, holidays=[today], workdays=[saturday])
    d = start(tmp, server, calendar_rules(tmp, hours, [today], [saturday]))
    try:
        entry = submit(r, "patrol", {"category": "urban_management", "unit": "s/g",
                                     "title": "暴露垃圾"})
        inc = "patrol-" + entry
        a = wait_for(lambda: [x for x in assignments(r) if x["incident"] == inc], 10,
                     "the assignment")[0]
        h = incident(r, inc)
        t = int(h["created_at"])
        ack, res = cal.add(t, HOUR), cal.add(t, 2 * 7 * HOUR)
        assert int(h["ack_deadline"]) == ack
        assert int(h["resolve_deadline"]) == res
        assert ack > t + HOUR  # not clock time: today is a holiday
        assert a["ack_deadline"] == rfc3339(ack) and a["resolve_deadline"] == rfc3339(res)
        assert a["assignees"] == ["ann"]
        assert int(r.zscore("gr:due", inc)) == ack
    finally:
        assert d.stop() == 0


def test_a_roster_hands_the_case_to_whoever_is_on_duty(r, tmp, server):
    now = dt.datetime.now(dt.timezone.utc)
    # a daily rota from ten days ago, and a second schedule with an override around now
    extra = """
schedules:
  rota:
    handoff: "08:00"
    start: %s
    slots: [[ann], [bob], [cat]]
  cover:
    start: 2026-01-01
    slots: [[eve]]
    overrides:
      - {from: "%s", to: "%s", people: [dan], note: 顶班}
""" % ((today_local() - dt.timedelta(days=10)).isoformat(),
       (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
       (now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    rules = write(os.path.join(tmp, "src-rules.yaml"), HEAD + """
units:
  - {id: s, kind: street, name: 街道, roles: {duty: {default: ["schedule:rota"], urban_management: ["schedule:cover"]}}}
  - {id: s/g, kind: grid, name: 网格, roles: {member: {default: [boss]}}}
policies:
  - {name: duty, match: {}, start_level: street, ack_within: 1h, resolve_within: 1d}
""" + extra)
    d = start(tmp, server, rules)
    try:
        e1 = submit(r, "patrol", {"category": "rota", "unit": "s/g", "title": "值班"})
        e2 = submit(r, "patrol", {"category": "urban_management", "unit": "s/g", "title": "顶班"})
        got = wait_for(lambda: {x["incident"]: x for x in assignments(r)}
                       if len(assignments(r)) == 2 else None, 10, "two assignments")
        # who the rota has at the creation time, by our own count of local days
        t = int(incident(r, "patrol-" + e1)["created_at"])
        local_t = dt.datetime.fromtimestamp(t / 1000, SHANGHAI) - dt.timedelta(hours=8)
        n = (local_t.date() - (today_local() - dt.timedelta(days=10))).days
        assert got["patrol-" + e1]["assignees"] == [["ann", "bob", "cat"][n % 3]]
        assert got["patrol-" + e1]["level_key"] == "street"
        assert got["patrol-" + e2]["assignees"] == ["dan"]
        assert json.loads(incident(r, "patrol-" + e2)["assignees"]) == ["dan"]
    finally:
        assert d.stop() == 0


# ---- gridctl explain --at, calendar, schedule -----------------------------

EXPLAIN_RULES = HEAD + """
calendar:
  timezone: Asia/Shanghai
  hours: ["08:30-12:00", "14:00-17:30"]
  holidays_file: %s
schedules:
  rota:
    handoff: "08:00"
    start: 2026-10-05
    slots: [[bob], [cat]]
    overrides:
      - {from: "2026-10-01T08:00", to: "2026-10-08T08:00", people: [dan], note: 国庆带班}
units:
  - {id: s, kind: street, name: 街道, roles: {duty: {default: ["schedule:rota"]}, property: {default: [eve]}}}
  - {id: s/g, kind: grid, name: 网格, roles: {member: {default: [ann]}}}
policies:
  - {name: urban, match: {}, start_level: member, ack_within: 1wh, resolve_within: 4wh}
""" % HOLIDAYS_2026


def explain(rules, at):
    p = run("explain", rules, "-", "--json", "--at", at,
            input='{"category":"urban_management","unit":"s/g","title":"t"}',
            env={"GRIDROUTE_TODAY": "2026-06-01"})
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    return json.loads(p.stdout)


@pytest.mark.parametrize("at,ack,resolve", [
    # before work: from 08:30
    ("2026-10-08T07:00:00+08:00", "2026-10-08 09:30", "2026-10-08 14:30"),
    # inside the morning
    ("2026-10-08T09:00:00+08:00", "2026-10-08 10:00", "2026-10-08 15:00"),
    # an hour before lunch: 1wh lands on 12:00 itself
    ("2026-10-08T11:00:00+08:00", "2026-10-08 12:00", "2026-10-08 17:00"),
    # during lunch: from 14:00
    ("2026-10-08T12:30:00+08:00", "2026-10-08 15:00", "2026-10-09 09:00"),
    # after work: the next morning
    ("2026-10-08T18:00:00+08:00", "2026-10-09 09:30", "2026-10-09 14:30"),
    # a weekend: Saturday 10-17 to Monday 10-19
    ("2026-10-17T10:00:00+08:00", "2026-10-19 09:30", "2026-10-19 14:30"),
    # in the National Day holidays (10-01 .. 10-07)
    ("2026-10-03T10:00:00+08:00", "2026-10-08 09:30", "2026-10-08 14:30"),
    # SPEC §3.1: 16:50 on the eve of the holidays, 4wh: 11:50 on 10-08
    ("2026-09-30T16:50:00+08:00", "2026-10-08 08:50", "2026-10-08 11:50"),
    # Saturday 10-10 is a make-up workday (调休)
    ("2026-10-10T10:00:00+08:00", "2026-10-10 11:00", "2026-10-10 16:00"),
    ("2026-10-09T17:00:00+08:00", "2026-10-10 09:00", "2026-10-10 12:00"),
])
def test_explain_at_counts_working_time(tmp, at, ack, resolve):
    rules = write(os.path.join(tmp, "rules.yaml"), EXPLAIN_RULES)
    j = explain(rules, at)
    first = j["chain"][0]
    assert first["level_key"] == "member" and first["assignees"][0]["id"] == "ann"
    assert first["ack_within"] == "1wh" and first["resolve_within"] == "4wh"
    assert first["ack_deadline"] == rfc3339(local(ack))
    assert first["resolve_deadline"] == rfc3339(local(resolve))
    # the clock length of the deadline from the assignment time
    t = ms(dt.datetime.fromisoformat(at))
    assert first["ack_within_ms"] == local(ack) - t
    assert first["resolve_within_ms"] == local(resolve) - t
    assert j["case_deadline"] is None


def test_explain_reads_the_rota_at_each_level_s_assignment_time(tmp):
    # the rota: 10-05 08:00 bob, 10-06 cat, 10-07 bob, 10-08 cat, 10-09 bob, ...
    rules = write(os.path.join(tmp, "rules.yaml"), EXPLAIN_RULES)
    # 10-09 07:00: the member until 09:30, then the street, after the 08:00 handoff: bob's
    j = explain(rules, "2026-10-09T07:00:00+08:00")
    assert j["chain"][0]["ack_deadline"] == rfc3339(local("2026-10-09 09:30"))
    street = j["chain"][1]
    assert street["level_key"] == "street" and not street["vacant"]
    assert [p["id"] for p in street["assignees"]] == ["bob"]
    assert street["ack_deadline"] == rfc3339(local("2026-10-09 10:30"))
    assert street["ack_within_ms"] == HOUR
    # 10-08 06:00, before work: the street would get it at 09:30 10-08, cat's day
    j = explain(rules, "2026-10-08T06:00:00+08:00")
    assert [p["id"] for p in j["chain"][1]["assignees"]] == ["cat"]
    # 10-07 in the holidays: the member's ack deadline is 09:30 10-08, after the
    # holiday override (to 10-08 08:00): cat again, not dan
    j = explain(rules, "2026-10-07T10:00:00+08:00")
    assert j["chain"][0]["ack_deadline"] == rfc3339(local("2026-10-08 09:30"))
    assert [p["id"] for p in j["chain"][1]["assignees"]] == ["cat"]


def test_explain_at_a_rota_handoff(tmp):
    rules = write(os.path.join(tmp, "rules.yaml"),
                  EXPLAIN_RULES.replace("start_level: member", "start_level: street"))
    before = explain(rules, "2026-10-09T07:59:59+08:00")["chain"][0]
    at = explain(rules, "2026-10-09T08:00:00+08:00")["chain"][0]
    holiday = explain(rules, "2026-10-02T10:00:00+08:00")["chain"][0]
    assert before["level_key"] == "street"
    assert [p["id"] for p in before["assignees"]] == ["cat"]
    assert [p["id"] for p in at["assignees"]] == ["bob"]
    assert [p["id"] for p in holiday["assignees"]] == ["dan"]
    # before the rota's start nobody is on duty: the level is vacant, and the report is refused
    p = run("explain", rules, "-", "--at", "2026-09-01T10:00:00+08:00",
            input='{"category":"urban_management","unit":"s/g","title":"t"}')
    assert p.returncode == 1 and "no_assignee" in p.stderr


def test_gridctl_calendar(tmp):
    rules = write(os.path.join(tmp, "rules.yaml"), EXPLAIN_RULES)
    p = run("calendar", rules, "--from", "2026-09-30", "--days", "12",
            env={"GRIDROUTE_TODAY": "2026-06-01"})
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "2026-09-30 Wed  08:30-12:00 14:00-17:30\n"
        "2026-10-01 Thu  not a working day  holiday\n"
        "2026-10-02 Fri  not a working day  holiday\n"
        "2026-10-03 Sat  not a working day  holiday\n"
        "2026-10-04 Sun  not a working day  holiday\n"
        "2026-10-05 Mon  not a working day  holiday\n"
        "2026-10-06 Tue  not a working day  holiday\n"
        "2026-10-07 Wed  not a working day  holiday\n"
        "2026-10-08 Thu  08:30-12:00 14:00-17:30\n"
        "2026-10-09 Fri  08:30-12:00 14:00-17:30\n"
        "2026-10-10 Sat  08:30-12:00 14:00-17:30  workday\n"
        "2026-10-11 Sun  not a working day\n")
    assert p.stderr == ""
    # past covered_until (2026-12-31): a warning, the weekdays alone
    p = run("calendar", rules, "--from", "2026-12-31", "--days", "2",
            env={"GRIDROUTE_TODAY": "2026-06-01"})
    assert p.stdout == ("2026-12-31 Thu  08:30-12:00 14:00-17:30\n"
                        "2027-01-01 Fri  08:30-12:00 14:00-17:30\n")
    assert "warning" in p.stderr and "2026-12-31" in p.stderr
    # usage and failures
    assert run("calendar", rules, "--from", "2026-13-01").returncode == 2
    assert run("calendar", rules, "--days", "0").returncode == 2
    plain = write(os.path.join(tmp, "plain.yaml"), HEAD + """
units: [{id: s, kind: street, name: S, roles: {duty: {default: [boss]}}}, {id: s/g, kind: grid, name: G, roles: {member: {default: [ann]}}}]
policies: [{name: p, match: {}, ack_within: 1h, resolve_within: 1d}]
""")
    p = run("calendar", plain)
    assert p.returncode == 1 and "has no calendar" in p.stderr


def test_gridctl_schedule(tmp):
    rules = write(os.path.join(tmp, "rules.yaml"), EXPLAIN_RULES)
    p = run("schedule", rules, "rota", "--at", "2026-09-30T12:00:00+08:00", "--days", "12",
            env={"GRIDROUTE_TODAY": "2026-06-01"})
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "2026-09-30 12:00  nobody  (before the start)\n"
        "2026-10-01 08:00  丹 (dan)  国庆带班\n"
        "2026-10-08 08:00  柴 (cat)\n"
        "2026-10-09 08:00  鲍 (bob)\n"
        "2026-10-10 08:00  柴 (cat)\n"
        "2026-10-11 08:00  鲍 (bob)\n"
        "2026-10-12 08:00  柴 (cat)\n")
    # every schedule, under its name
    p = run("schedule", rules, "--at", "2026-10-09T07:00:00Z", "--days", "1",
            env={"GRIDROUTE_TODAY": "2026-06-01"})
    assert p.stdout == "rota:\n2026-10-09 15:00  鲍 (bob)\n2026-10-10 08:00  柴 (cat)\n"
    p = run("schedule", rules, "nope")
    assert p.returncode == 1 and 'no schedule "nope"' in p.stderr


# ---- a reload that changes the calendar ----------------------------------

def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as f:
        for line in f.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_a_reload_changes_the_calendar(r, tmp, server):
    today = today_local()
    hours = ["08:30-12:00", "14:00-17:30"]
    rules = calendar_rules(tmp, hours, [today], [])
    port = free_port()
    d = start(tmp, server, rules, http={"listen": "127.0.0.1:%d" % port})
    try:
        covered = ms(dt.datetime(2099, 12, 31, tzinfo=SHANGHAI)) / 1000
        assert wait_for(lambda: metric(port, "gridroute_calendar_covered_until_timestamp_seconds")
                        == covered, 10, "the metric")
        e1 = submit(r, "patrol", {"category": "urban_management", "unit": "s/g", "title": "a"})
        wait_for(lambda: incident(r, "patrol-" + e1).get("ack_deadline"), 10, "the first")
        h1 = incident(r, "patrol-" + e1)
        assert int(h1["ack_deadline"]) == Calendar(hours, [today]).add(int(h1["created_at"]),
                                                                        HOUR)
        # the new calendar: every day, all day, covered to 2030-06-30; no holidays
        write(d.rules, open(rules).read().replace(
            'hours: ["08:30-12:00", "14:00-17:30"]',
            'hours: ["00:00-24:00"]\n  weekdays: [mon, tue, wed, thu, fri, sat, sun]\n'
            '  covered_until: 2030-06-30').replace("  holidays_file: holidays/h.yaml\n", ""))
        d.kill(signal.SIGHUP)
        wait_for(lambda: d.events("reloaded") or d.events("reload_failed"), 10, "the reload")
        assert d.events("reloaded"), [x["diagnostic"] for x in d.events("rules_diagnostic")]
        assert "1 calendar changed" in d.events("reloaded")[-1]["changes"]
        e2 = submit(r, "patrol", {"category": "urban_management", "unit": "s/g", "title": "b"})
        wait_for(lambda: incident(r, "patrol-" + e2).get("ack_deadline"), 10, "the second")
        h2 = incident(r, "patrol-" + e2)
        # all time is working time now: one working hour is one hour
        assert int(h2["ack_deadline"]) == int(h2["created_at"]) + HOUR
        assert int(h2["resolve_deadline"]) == int(h2["created_at"]) + 2 * 24 * HOUR
        # the first keeps the deadlines it was given
        assert incident(r, "patrol-" + e1)["ack_deadline"] == h1["ack_deadline"]
        assert metric(port, "gridroute_calendar_covered_until_timestamp_seconds") == \
            ms(dt.datetime(2030, 6, 30, tzinfo=SHANGHAI)) / 1000
    finally:
        assert d.stop() == 0


def test_a_reload_with_a_bad_holidays_file_keeps_the_calendar(r, tmp, server):
    today = today_local()
    rules = calendar_rules(tmp, ["08:30-12:00", "14:00-17:30"], [today], [])
    d = start(tmp, server, rules)
    try:
        write(os.path.join(os.path.dirname(d.rules), "holidays", "h.yaml"),
              "holidays: [2026-02-30]\n")
        d.kill(signal.SIGHUP)
        wait_for(lambda: d.events("reload_failed"), 10, "the refused reload")
        diag = d.events("rules_diagnostic")
        lines = [x["diagnostic"] for x in diag]
        assert any(l.endswith("holidays/h.yaml:1:12: error: invalid date \"2026-02-30\": "
                              "expected YYYY-MM-DD from 1970 to 9999, or a range "
                              "YYYY-MM-DD..YYYY-MM-DD (holidays[0])") for l in lines), lines
        e = submit(r, "patrol", {"category": "urban_management", "unit": "s/g", "title": "c"})
        wait_for(lambda: incident(r, "patrol-" + e).get("ack_deadline"), 10, "the report")
        h = incident(r, "patrol-" + e)
        assert int(h["ack_deadline"]) == Calendar(["08:30-12:00", "14:00-17:30"],
                                                  [today]).add(int(h["created_at"]), HOUR)
    finally:
        assert d.stop() == 0


def test_check_of_the_sample_warns_of_coverage_only(tmp):
    p = run("check", os.path.join(ROOT, "conf", "rules.yaml"),
            env={"GRIDROUTE_TODAY": "2026-12-03"})
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(os.path.join(ROOT, "conf", "rules.yaml") + ": OK: ")
    warnings = p.stderr.splitlines()
    assert len(warnings) == 1 and "warning: covered_until 2026-12-31 is only 28 days" in \
        warnings[0], p.stderr
    assert warnings[0].startswith(os.path.join(ROOT, "conf", "holidays", "cn-2026.yaml") +
                                  ":33:16: warning:")
