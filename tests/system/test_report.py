"""gridctl report (SPEC §11) against a real Redis: a scripted month of
cases on the sample rules (conf/rules.yaml) driven through the real
daemon, every output form (text, --json, --csv) checked against a
reference computed here from the KPI hashes, --unit, --by-kind,
--category, the current month, the viewer ACL user, and the usage errors."""
import csv
import datetime
import io
import json
import os
import random
import re
import shutil
import subprocess
import unicodedata
from collections import Counter
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from conftest import GRIDCTL, ROOT, Daemon, submit, timeline, wait_for
from test_acl import AclRedis, denied, password_file, write_test_acl

CONF_RULES = os.path.join(ROOT, "conf", "rules.yaml")
SHANGHAI = ZoneInfo("Asia/Shanghai")
COUNTERS = ["created", "acked", "acked_on_time", "closed", "closed_on_time", "escalated",
            "breached", "reworked", "returned", "redispatched", "extended", "parked",
            "cancelled", "reopened", "urged"]
RATES = [("on_time_closure", "closed_on_time", "closed"), ("on_time_ack", "acked_on_time", "acked"),
         ("rework", "reworked", "closed"), ("extension", "extended", "closed"),
         ("return", "returned", "created"), ("reopen", "reopened", "closed")]
G03 = "xifeng/beijie/beidajie/g03"
DONG_G01 = "xifeng/beijie/dongdajie/g01"
NAN_G01 = "xifeng/nanjie/nandajie/g01"


def ctl(port, *args, user=None, tmp=None):
    cmd = [GRIDCTL, "--redis", "127.0.0.1:%d" % port]
    if user:
        cmd += ["--user", user, "--password-file", password_file(tmp, user)]
    p = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=30)
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


def columns(line):
    """(start, end) of each space-separated cell, in terminal columns (CJK: two)."""
    out, col, start = [], 0, None
    for ch in line + " ":
        if ch == " ":
            if start is not None:
                out.append((start, col))
                start = None
            col += 1
            continue
        if start is None:
            start = col
        col += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return out


def month_of(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, SHANGHAI).strftime("%Y-%m")


def now_month():
    return datetime.datetime.now(SHANGHAI).strftime("%Y-%m")


# ---- the reference: SPEC §11 computed from the hashes -----------------------

def read_hashes(r, month):
    return {u: r.hgetall("gr:kpi:%s:%s" % (month, u)) for u in r.smembers("gr:kpiunits:" + month)}


def reference(hashes, names=None, unit=None, category=None, kind_of=None):
    """Rows as gridctl report --json gives them. kind_of: unit -> its row unit (by-kind)."""
    rows = {}
    for u, h in hashes.items():
        counts, counted = Counter(), False
        for f, v in h.items():
            cat, _, ctr = f.partition(":")
            if ctr in COUNTERS and (category is None or cat == category):
                counts[ctr] += int(v)
                counted = True
        if not counted:
            continue
        if kind_of is not None:
            targets = [kind_of(u)] if kind_of(u) else []
        else:
            parts = u.split("/")
            targets = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        for t in targets:
            if unit is None or t == unit or t.startswith(unit + "/"):
                rows.setdefault(t, Counter()).update(counts)

    def key(u):
        c = rows[u]
        if c["closed"] == 0:
            return (1, 0, u)
        return (0, Fraction(c["closed_on_time"], c["closed"]), u)
    out = []
    for u in sorted(rows, key=key):
        c = rows[u]
        row = {"unit": u, "name": (names or {}).get(u)}
        row.update({k: c[k] for k in COUNTERS})
        row["rates"] = {n: (c[a] / c[b] if c[b] else None) for n, a, b in RATES}
        out.append(row)
    return out


def assert_rows_equal(got, want):
    assert [g["unit"] for g in got] == [w["unit"] for w in want]
    for g, w in zip(got, want):
        assert list(g) == ["unit", "name"] + COUNTERS + ["rates"], list(g)
        assert {k: g[k] for k in g if k != "rates"} == {k: w[k] for k in w if k != "rates"}
        assert list(g["rates"]) == [n for n, _, _ in RATES]
        for n in g["rates"]:
            if w["rates"][n] is None:
                assert g["rates"][n] is None, (g["unit"], n)
            else:
                assert g["rates"][n] == pytest.approx(w["rates"][n], rel=1e-12), (g["unit"], n)


def report_json(port, *args, **kw):
    p = ctl(port, "report", "--json", *args, **kw)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return json.loads(p.stdout)


def rules_names():
    """unit id -> name of conf/rules.yaml, read the simple way (its units list)."""
    names, uid = {}, None
    for line in open(CONF_RULES, encoding="utf-8"):
        m = re.match(r"\s+- id: (\S+)", line)
        if m:
            uid = m.group(1)
        m = re.match(r"\s+name: (\S+)", line)
        if m and uid:
            names[uid] = m.group(1)
            uid = None
    return names


# ---- a month of cases on the sample rules ----------------------------------

class Month:
    """Drives the daemon through cases as the people of the sample rules would."""

    def __init__(self, r):
        self.r = r
        self.n = 0

    def report(self, unit, title, **kw):
        self.n += 1
        doc = {"id": "case-%02d" % self.n, "category": "urban_management", "unit": unit,
               "title": title}
        doc.update(kw)
        submit(self.r, "patrol", doc)
        wait_for(lambda: self.r.hget("gr:inc:" + doc["id"], "state"), 10, "case routed")
        return doc["id"]

    def act(self, inc, op, by, event, entry="*", **fields):
        before = len(timeline(self.r, inc))
        cmd = {"op": op, "incident": inc, "by": by}
        cmd.update(fields)
        self.r.xadd("gr:in:commands", {"command": json.dumps(cmd, ensure_ascii=False)}, id=entry)

        def applied():
            evs = timeline(self.r, inc)[before:]
            dl = self.r.xrange("gr:deadletter")
            assert not dl, dl
            return any(e["type"] == event for e in evs)
        wait_for(applied, 10, "%s %s -> %s" % (op, inc, event))

    def close(self, inc, by, entry="*", note=None):
        """处置, then 核查 passed by the street's 监督员: the sample verifies urban cases."""
        self.act(inc, "resolve", by, "verify_requested", entry=entry, note=note)
        unit = self.r.hget("gr:inc:" + inc, "unit")
        supervisor = "qianwei" if unit.startswith("xifeng/nanjie") else "zhenghua"
        self.act(inc, "verify", supervisor, "resolved", passed=True)

    def field(self, inc, name):
        return int(self.r.hget("gr:inc:" + inc, name))


def script_month(r):
    """The cases; returns what the test checks, by case."""
    m = Month(r)
    cc = "command-center"
    # 北大街社区第三网格 (liuyang, leader chenjing)
    a = m.report(G03, "井盖缺失")
    m.act(a, "ack", "liuyang", "acked")
    m.close(a, "liuyang", note="已更换井盖")
    b = m.report(G03, "占道经营")
    m.act(b, "ack", "liuyang", "acked")
    m.close(b, "liuyang", note="已劝离")
    # a due date already past: escalated at once (resolve_timeout), so late
    c = m.report(G03, "垃圾满溢", due_at="2026-01-01T00:00:00Z")
    wait_for(lambda: any(e["type"] == "escalated" for e in timeline(r, c)), 10, "escalated")
    m.act(c, "ack", "chenjing", "acked")
    m.close(c, "chenjing", note="已清运")
    d = m.report(G03, "路灯不亮")
    m.act(d, "return", "liuyang", "returned", note="不属于本网格")
    m.act(d, "redispatch", cc, "redispatched", unit="xifeng/beijie/beidajie/g01")
    # 东大街社区第一网格 (yangfan)
    f = m.report(DONG_G01, "违章搭建")
    m.act(f, "ack", "yangfan", "acked")
    m.act(f, "extend", cc, "extended", note="需协调执法中队", **{"for": "1wd"})
    m.close(f, "yangfan", note="已拆除")
    g = m.report(DONG_G01, "广告牌松动")
    m.act(g, "park", cc, "parked", note="等待产权单位")
    m.act(g, "unpark", cc, "unparked")
    m.act(g, "ack", "yangfan", "acked")
    # 南大街社区第一网格 (zhujianhua)
    h = m.report(NAN_G01, "重复上报的积水")
    m.act(h, "cancel", cc, "cancelled", note="与另一案重复")
    i = m.report(NAN_G01, "绿化带损毁")
    m.act(i, "ack", "zhujianhua", "acked")
    m.close(i, "zhujianhua", note="已补种")
    m.act(i, "reopen", cc, "reopened", note="居民反映仍未修复")
    m.close(i, "zhujianhua", note="已补种完毕")
    j = m.report(NAN_G01, "井盖破损")
    m.act(j, "urge", cc, "urged", note="请尽快处置")
    # last, at explicit entry times after the others': an ack after its deadline
    e = m.report(DONG_G01, "道路破损")
    late = m.field(e, "ack_deadline") + 60000
    m.act(e, "ack", "yangfan", "acked", entry="%d-0" % late)
    m.close(e, "yangfan", entry="%d-0" % (late + 60000), note="已修补")
    return {"late_ack": late, "created_at": m.field(a, "created_at")}


@pytest.fixture
def month(tmp, server, r):
    shutil.copytree(os.path.join(ROOT, "conf", "holidays"), os.path.join(tmp, "holidays"))
    d = Daemon(tmp, server.port, rules=CONF_RULES).start()
    try:
        facts = script_month(r)
    finally:
        assert d.stop() == 0
    return facts


def test_a_scripted_month_on_the_sample_rules(month, server, r):
    mo = month_of(month["created_at"])
    names = rules_names()
    hashes = read_hashes(r, mo)
    assert set(hashes) >= {G03, DONG_G01, NAN_G01}
    doc = report_json(server.port, "--rules", CONF_RULES, "--month", mo)
    assert doc["month"] == mo
    assert_rows_equal(doc["rows"], reference(hashes, names))
    rows = {row["unit"]: row for row in doc["rows"]}
    g03 = rows[G03]
    assert g03["name"] == "北大街社区第三网格"
    assert (g03["created"], g03["acked"], g03["acked_on_time"], g03["closed"],
            g03["closed_on_time"], g03["escalated"], g03["returned"],
            g03["redispatched"]) == (4, 3, 3, 3, 2, 1, 1, 1)
    assert g03["rates"]["on_time_closure"] == pytest.approx(2 / 3)
    assert g03["rates"]["return"] == 0.25
    nan = rows[NAN_G01]
    assert (nan["created"], nan["cancelled"], nan["closed"], nan["closed_on_time"],
            nan["reopened"], nan["urged"]) == (3, 1, 2, 2, 1, 1)
    assert nan["rates"]["reopen"] == 0.5
    dong = rows[DONG_G01]
    assert (dong["extended"], dong["parked"]) == (1, 1)
    late_month = month_of(month["late_ack"])
    late_row = {row["unit"]: row for row in report_json(server.port, "--month", late_month)
                ["rows"]}[DONG_G01]
    assert late_row["acked"] - late_row["acked_on_time"] == 1
    # the street holds its communities and grids; the district everything
    street = rows["xifeng/beijie"]
    assert street["created"] == g03["created"] + rows["xifeng/beijie/dongdajie"]["created"]
    assert rows["xifeng"]["created"] == sum(
        rows[u]["created"] for u in ("xifeng/beijie", "xifeng/nanjie"))
    # the redispatched case's new unit counts nothing of it
    assert "xifeng/beijie/beidajie/g01" not in rows

    # the text table: the same rows in the same order, rates as percentages
    p = ctl(server.port, "report", "--rules", CONF_RULES, "--month", mo)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    print("\n" + p.stdout)
    lines = p.stdout.splitlines()
    assert lines[0] == mo
    assert lines[1].split()[:8] == ["单位", "名称", "按期结案率", "及时签收率", "返工率", "延期率",
                                    "回退率", "重办率"]
    assert [l.split()[0] for l in lines[2:]] == [row["unit"] for row in doc["rows"]]
    cells = lines[2 + [row["unit"] for row in doc["rows"]].index(G03)].split()
    assert cells[:8] == [G03, "北大街社区第三网格", "66.7%", "100.0%", "0.0%", "0.0%", "25.0%",
                         "0.0%"]
    assert [int(x) for x in cells[8:]] == [g03[k] for k in COUNTERS]
    # the columns line up: unit and name left-aligned, the numbers right-aligned
    cells = [columns(line) for line in lines[1:]]
    for c in cells[1:]:
        assert [x[0] for x in c[:2]] == [x[0] for x in cells[0][:2]]
        assert [x[1] for x in c[2:]] == [x[1] for x in cells[0][2:]]

    # --csv: the header and the same columns, rates as fractions, empty for none
    p = ctl(server.port, "report", "--rules", CONF_RULES, "--month", mo, "--csv")
    assert p.returncode == 0, p.stderr
    table = list(csv.reader(io.StringIO(p.stdout)))
    assert table[0] == ["unit", "name"] + COUNTERS + [n for n, _, _ in RATES]
    assert len(table) == len(doc["rows"]) + 1
    for line, row in zip(table[1:], doc["rows"]):
        assert line[0] == row["unit"] and line[1] == (row["name"] or "")
        assert [int(x) for x in line[2:2 + len(COUNTERS)]] == [row[k] for k in COUNTERS]
        for x, (n, _, _) in zip(line[2 + len(COUNTERS):], RATES):
            assert (x == "") == (row["rates"][n] is None)
            if x:
                assert float(x) == pytest.approx(row["rates"][n], rel=1e-14)

    # --by-kind: one row per street, with the names
    streets = report_json(server.port, "--rules", CONF_RULES, "--month", mo, "--by-kind",
                          "street")["rows"]
    assert_rows_equal(streets, reference(
        hashes, names, kind_of=lambda u: "/".join(u.split("/")[:2]) if u.count("/") else None))
    assert {s["unit"]: s["name"] for s in streets} == {"xifeng/beijie": "北街街道",
                                                        "xifeng/nanjie": "南街街道"}
    # --unit: one street's subtree; --category: a category nobody reported in
    sub = report_json(server.port, "--month", mo, "--unit", "xifeng/nanjie")["rows"]
    assert_rows_equal(sub, reference(hashes, unit="xifeng/nanjie"))
    assert report_json(server.port, "--month", mo, "--category", "sanitation")["rows"] == []
    # without --month: the current month in the rules' zone
    assert report_json(server.port, "--rules", CONF_RULES)["month"] == now_month()
    assert report_json(server.port)["month"] == now_month()


def random_month(r, rnd, month="2026-05", nunits=40):
    """KPI hashes as the daemon writes them, for units of a random tree."""
    units = set()
    while len(units) < nunits:
        depth = rnd.randint(1, 4)
        units.add("/".join("u%d" % rnd.randint(0, 3) for _ in range(depth)))
    for u in units:
        for cat in rnd.sample(["urban_management", "sanitation", "political_legal"],
                              rnd.randint(1, 3)):
            for ctr in rnd.sample(COUNTERS, rnd.randint(1, len(COUNTERS))):
                r.hincrby("gr:kpi:%s:%s" % (month, u), "%s:%s" % (cat, ctr), rnd.randint(0, 9))
        r.sadd("gr:kpiunits:" + month, u)
    return read_hashes(r, month)


def month_end_ms(month):
    """The first instant after month (YYYY-MM) in Asia/Shanghai, in ms."""
    y, m = map(int, month.split("-"))
    nxt = datetime.datetime(y + m // 12, m % 12 + 1, 1, tzinfo=SHANGHAI)
    return int(nxt.timestamp() * 1000)


def test_kpi_keys_expire_retention_after_their_month(month, server, r):
    """retention.kpi (default 400d) from the month's end (SPEC §2): set when a
    step creates the key, the same instant for every unit's hash and the
    month's set, whichever step and batch created each."""
    mo = month_of(month["created_at"])
    want = month_end_ms(mo) + 400 * 86400000
    keys = ["gr:kpiunits:" + mo] + ["gr:kpi:%s:%s" % (mo, u) for u in (G03, DONG_G01, NAN_G01)]
    assert {k: r.execute_command("PEXPIRETIME", k) for k in keys} == {k: want for k in keys}


def test_retention_kpi_is_the_expiry_of_a_new_month_key(tmp, server, r):
    shutil.copytree(os.path.join(ROOT, "conf", "holidays"), os.path.join(tmp, "holidays"))
    d = Daemon(tmp, server.port, rules=CONF_RULES, retention={"kpi": "10d"}).start()
    try:
        inc = submit(r, "patrol", {"category": "urban_management", "unit": G03, "title": "井盖缺失"})
        key = wait_for(lambda: [k for k in r.keys("gr:kpi:*:" + G03)], 10, "the KPI hash")[0]
        mo = key.split(":")[2]
        want = month_end_ms(mo) + 10 * 86400000
        assert r.execute_command("PEXPIRETIME", key) == want, inc
        assert r.execute_command("PEXPIRETIME", "gr:kpiunits:" + mo) == want
    finally:
        assert d.stop() == 0


def test_random_months_match_the_reference(server, r):
    rnd = random.Random(14)
    for i in range(5):
        month = "2025-%02d" % (i + 1)
        hashes = random_month(r, rnd, month)
        assert_rows_equal(report_json(server.port, "--month", month)["rows"], reference(hashes))
        assert_rows_equal(report_json(server.port, "--month", month, "--category", "sanitation")
                          ["rows"], reference(hashes, category="sanitation"))
        assert_rows_equal(report_json(server.port, "--month", month, "--unit", "u1")["rows"],
                          reference(hashes, unit="u1"))


def test_what_the_hashes_cannot_say_is_left_out_with_a_warning(server, r):
    r.sadd("gr:kpiunits:2026-03", G03, "Not/A Unit", "gone")
    r.hset("gr:kpi:2026-03:" + G03, mapping={"urban_management:created": "2",
                                              "urban_management:closed": "x",
                                              "urban_management:later_counter": "1"})
    r.hset("gr:kpi:2026-03:Not/A Unit", "urban_management:created", "1")
    p = ctl(server.port, "report", "--month", "2026-03", "--json")
    assert p.returncode == 0
    assert p.stderr == ("gridctl report: warning: 2 unit ids, fields or values of the KPI hashes "
                        "of 2026-03 could not be read: left out\n")
    rows = json.loads(p.stdout)["rows"]
    assert [row["unit"] for row in rows] == ["xifeng", "xifeng/beijie", "xifeng/beijie/beidajie",
                                             G03]
    assert all(row["created"] == 2 and row["closed"] == 0 for row in rows)
    # a month with nothing: the header and a note, exit 0
    p = ctl(server.port, "report", "--month", "2026-02")
    assert p.returncode == 0
    assert p.stdout.splitlines()[0] == "2026-02"
    assert p.stdout.splitlines()[-1] == "(no KPI counts for 2026-02)"
    assert ctl(server.port, "report", "--month", "2026-02", "--csv").stdout.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["--by-kind", "street"], "--by-kind needs --rules (which unit is of which kind)"),
    (["--month", "2026-13"], '--month: expected YYYY-MM, got "2026-13"'),
    (["--month", "26-11"], '--month: expected YYYY-MM, got "26-11"'),
    (["--unit", "Xifeng"], '--unit: "Xifeng" is not a unit id'),
    (["--category", "a-b"], '--category: "a-b" is not a category key'),
    (["--json", "--csv"], "--json and --csv exclude each other"),
    (["extra"], 'unexpected argument "extra"'),
])
def test_usage_errors(args, message):
    p = subprocess.run([GRIDCTL, "--redis", "127.0.0.1:1", "report"] + args,
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert p.stderr.splitlines()[0] == "gridctl report: " + message


def test_an_unknown_kind_fails(server):
    p = ctl(server.port, "report", "--rules", CONF_RULES, "--by-kind", "province")
    assert p.returncode == 1
    assert p.stderr == 'gridctl report: the rules have no unit of kind "province"\n'


def test_the_viewer_may_report(tmp):
    s = AclRedis(tmp, write_test_acl(tmp)).start()
    try:
        admin = s.client("admin")
        admin.sadd("gr:kpiunits:2026-04", G03)
        admin.hset("gr:kpi:2026-04:" + G03, mapping={"urban_management:closed": "4",
                                                      "urban_management:closed_on_time": "3"})
        p = ctl(s.port, "report", "--month", "2026-04", "--json", user="viewer", tmp=tmp)
        assert p.returncode == 0, p.stderr
        rows = json.loads(p.stdout)["rows"]
        assert rows[-1]["unit"] == G03 and rows[-1]["rates"]["on_time_closure"] == 0.75
        assert denied(admin, "viewer") == []
    finally:
        s.stop()
