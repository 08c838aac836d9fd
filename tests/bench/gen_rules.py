#!/usr/bin/python3
"""Generate a large gridroute rules file (SPEC §3) and sample incidents.

The rules describe one district split into street offices, communities and
grids, with the standard five levels, the nine work categories, one person
per grid member and leader, duty people for every community and street,
"3+X" partners on the communities, and N policies spread over channel,
severity, category and unit prefix, ending with a catch-all. The file
validates with no errors and no warnings, so `gridctl check` times the
loader and validator alone.

    gen_rules.py --units 100000 --policies 1000 --seed 1 > big.yaml
    gen_rules.py --units 100000 --policies 1000 --seed 1 \\
        --incidents 200000 --incidents-out big.jsonl > big.yaml

Incidents (one JSON object per line, with its "channel") name grids of the
generated tree; a share of them (--fallback, default 10%) name grids that
are not configured, under a configured community, to exercise the fallback
to the deepest configured prefix. Half of the alerts carry a dedup_key, and
about 5% of all lines repeat a recent one of those (a device re-firing), to
exercise dedup. With --incidents-format resp the file is
instead a Redis protocol stream of XADD commands for `redis-cli --pipe`.

The same arguments always give the same output (python3 stdlib only).
"""

import argparse
import collections
import datetime
import json
import random
import sys

LEVELS = [
    ("member", "网格员", "grid", "member"),
    ("leader", "网格长", "grid", "leader"),
    ("community", "社区", "community", "duty"),
    ("street", "街道", "street", "duty"),
    ("district", "区", "district", "duty"),
]

CATEGORIES = [
    ("party_building", "城市党建"),
    ("political_legal", "政法综治"),
    ("urban_management", "城市管理"),
    ("epidemic_control", "疫情防控"),
    ("dispute_mediation", "矛盾纠纷调解"),
    ("civil_affairs", "民政服务"),
    ("elderly_care", "养老服务"),
    ("work_safety", "安全生产"),
    ("sanitation", "环境卫生"),
]
CATEGORY_KEYS = [c[0] for c in CATEGORIES]
# How often each category is reported (urban management and sanitation
# dominate what grids see day to day).
CATEGORY_WEIGHTS = [3, 6, 25, 6, 10, 8, 7, 10, 25]

CHANNELS = ["patrol", "feedback", "scheduled", "alert"]
SEVERITIES = ["low", "normal", "high", "critical"]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国玉梅晓燕红志海波宁慧颖倩婷浩宇鹏飞俊峰欣怡佳琪雪梅文博子涵嘉怡立新永红春梅"
PLACE = "安宁兴华新民建设友谊和平光明幸福长庆文化育才东升西湖南苑北苑朝阳锦绣阳光祥瑞温泉彭原董志肖金显胜什社后官寨巴家咀陇东庆华"
TITLES = {
    "party_building": ["党员报到服务活动安排", "流动党员信息登记", "党群服务站点巡查"],
    "political_legal": ["可疑人员徘徊", "出租屋人员信息未登记", "重点人员动态核查", "治安隐患排查"],
    "urban_management": ["井盖缺失", "占道经营", "违规停车堵塞消防通道", "路灯损坏", "私搭乱建", "广告牌松动"],
    "epidemic_control": ["外地返回人员登记", "重点人员健康监测", "核酸检测点秩序维护"],
    "dispute_mediation": ["邻里噪音纠纷", "供暖费用纠纷", "物业费纠纷", "婚姻家庭纠纷", "楼上漏水纠纷"],
    "civil_affairs": ["低保申请咨询", "临时救助申请", "残疾人补贴核查"],
    "elderly_care": ["独居老人多日未出门", "空巢老人上门探访", "失能老人照料需求"],
    "work_safety": ["楼道堆放杂物", "电动车楼内充电", "燃气泄漏报警", "烟感报警", "电线私拉乱接"],
    "sanitation": ["垃圾未及时清运", "小区化粪池外溢", "绿化带垃圾堆积", "楼道卫生脏乱"],
}
ALERT_SOURCES = ["camera", "iot", "smoke_detector", "manhole_sensor", "platform_rule"]
FEEDBACK_VIA = ["wechat_group", "app", "hotline_12345", "visit"]


def name_of(rng):
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def place_name(rng):
    return "".join(rng.sample(PLACE, 2))


def q(s):
    """A YAML double-quoted scalar (JSON's escaping is a subset of YAML's)."""
    return json.dumps(s, ensure_ascii=False)


class Tree:
    """The generated units and people, in the order they are written."""

    def __init__(self):
        self.people = []  # (id, name, [notify], admin)
        self.units = []  # (id, kind, name, {role: {cat|default: [ids]}})
        self.streets = []  # unit ids
        self.communities = []  # (unit id, number of grids)
        self.grids = []  # unit ids
        self._phone = 0

    def person(self, pid, name, group=None, admin=False, wechat=False):
        notify = []
        if group:
            notify.append("wechat-group:" + group)
        else:
            self._phone += 1
            notify.append("sms:+86138%08d" % self._phone)
            if wechat:
                notify.append("wechat:" + pid)
        self.people.append((pid, name, notify, admin))
        return pid


def sizes(nunits):
    """Streets, communities per street and grids per community for nunits."""
    if nunits < 4:
        sys.exit("gen_rules.py: --units must be at least 4 (district, street, community, grid)")
    streets = min(20, max(1, round(nunits / 5000)))
    per_street = min(50, max(1, (nunits - 1 - streets) // (streets * 20)))
    while True:
        ncomm = streets * per_street
        ngrids = nunits - 1 - streets - ncomm
        if ngrids >= ncomm or per_street == 1:
            break
        per_street -= 1
    if ngrids < ncomm:  # fewer grids than communities: fewer streets
        streets = max(1, (nunits - 1) // 3)
        per_street = 1
        ncomm = streets
        ngrids = nunits - 1 - streets - ncomm
    return streets, per_street, ngrids


def build_tree(rng, nunits):
    t = Tree()
    nstreets, per_street, ngrids = sizes(nunits)
    ncomm = nstreets * per_street

    cc = t.person("command-center", "西峰区网格化服务管理指挥中心", group="xifeng-cc", admin=True)
    zf = t.person("xifeng-zhengfa", "西峰区委政法委值班室", group="xifeng-zhengfa")
    yq = t.person("xifeng-yiqing", "西峰区疫情防控指挥部办公室", group="xifeng-yiqing")
    yj = t.person("xifeng-yingji", "西峰区应急管理局值班室", group="xifeng-yingji")
    t.units.append(("xifeng", "district", "西峰区", {
        "duty": {"default": [cc], "political_legal": [zf, cc],
                 "epidemic_control": [yq, cc], "work_safety": [yj, cc]}}))

    grid_no = 0
    comm_no = 0
    for s in range(nstreets):
        sid = "xifeng/jd%02d" % (s + 1)
        sname = place_name(rng) + "街道"
        office = t.person("jd%02d-office" % (s + 1), sname + "网格化服务管理中心", group="jd%02d" % (s + 1))
        head = t.person("jd%02d-head" % (s + 1), name_of(rng), wechat=True)
        sifa = t.person("jd%02d-sifasuo" % (s + 1), sname + "司法所", group="jd%02d-sifasuo" % (s + 1))
        cg = t.person("jd%02d-chengguan" % (s + 1), sname + "城管执法中队", group="jd%02d-chengguan" % (s + 1))
        t.units.append((sid, "street", sname, {"duty": {"default": [office, head]}}))
        t.streets.append(sid)
        for c in range(per_street):
            # grids spread evenly over all communities of the district
            n = ngrids // ncomm + (1 if comm_no < ngrids % ncomm else 0)
            comm_no += 1
            cid = "%s/sq%03d" % (sid, c + 1)
            cname = place_name(rng) + "社区"
            tag = "jd%02d-sq%03d" % (s + 1, c + 1)
            sec = t.person(tag + "-shuji", name_of(rng), wechat=True)
            wuye = t.person(tag + "-wuye", place_name(rng) + "物业服务有限公司", group=tag + "-wuye")
            duty = {"default": [sec]}
            if rng.random() < 0.2:
                # a social organisation takes disputes, as 心怡 does at 北大街社区
                org = t.person(tag + "-tiaojie", cname + "调解服务中心", group=tag + "-tiaojie")
                duty["dispute_mediation"] = [org, sec]
            roles = {
                "duty": duty,
                "property": {"default": [wuye]},
                "departments": {"default": [cg], "dispute_mediation": [sifa],
                                "political_legal": [sifa], "work_safety": [yj]},
            }
            if comm_no == 1 or rng.random() < 0.6:  # not every estate has one
                roles["owners_committee"] = {"default": [t.person(tag + "-yzw", name_of(rng))]}
            t.units.append((cid, "community", cname, roles))
            t.communities.append((cid, n))
            for g in range(n):
                grid_no += 1
                gid = "%s/g%03d" % (cid, g + 1)
                m = t.person("w%06d" % grid_no, name_of(rng), wechat=rng.random() < 0.5)
                lead = t.person("z%06d" % grid_no, name_of(rng), wechat=True)
                member = {"default": [m]}
                if rng.random() < 0.05:
                    member["epidemic_control"] = [m, lead]
                t.units.append((gid, "grid", "%s第%d网格" % (cname, g + 1),
                                {"member": member, "leader": {"default": [lead]}}))
                t.grids.append(gid)
    return t


def pick(rng, items, weights):
    return rng.choices(items, weights=weights, k=1)[0]


def build_policies(rng, t, npolicies):
    """npolicies policies, the most specific first, the catch-all last."""
    if npolicies < 1:
        sys.exit("gen_rules.py: --policies must be at least 1 (the catch-all)")
    comm_ids = [c[0] for c in t.communities]
    drafts = []
    for _ in range(npolicies - 1):
        m = {}
        chan = pick(rng, [["alert"], ["feedback"], ["patrol"], ["scheduled"],
                          ["patrol", "feedback"], None], [35, 25, 15, 8, 7, 10])
        if chan:
            m["channel"] = chan
        sev = pick(rng, [None, ["high", "critical"], ["critical"], ["low", "normal"]], [40, 30, 15, 15])
        if sev:
            m["severity"] = sev
        if rng.random() < 0.5:
            m["category"] = rng.sample(CATEGORY_KEYS, rng.choice([1, 1, 2, 3]))
        scope = pick(rng, ["none", "street", "community"], [20, 35, 45])
        if scope == "street" or (scope == "none" and not m):
            m["unit"] = rng.choice(t.streets)
        elif scope == "community":
            m["unit"] = rng.choice(comm_ids)
        if chan == ["alert"] and rng.random() < 0.3:
            m["attrs"] = {"source": rng.choice(ALERT_SOURCES)}
        elif chan == ["feedback"] and rng.random() < 0.2:
            m["attrs"] = {"via": rng.choice(FEEDBACK_VIA)}

        urgent = sev in (["high", "critical"], ["critical"])
        if urgent:
            start = pick(rng, ["member", "leader", "community"], [20, 60, 20])
            ack = rng.choice(["5m", "10m", "15m"])
            resolve = rng.choice([["30m", "1h", "2h", "4h"], ["1h", "2h", "4h", "8h"], ["2h", "4h", "8h"]])
        elif chan == ["scheduled"]:
            start = "member"
            ack = rng.choice(["4h", "8h", "1d"])
            resolve = rng.choice([["30d", "2d", "1d"], ["14d", "1d"], ["7d", "2d", "1d", "1d"]])
        else:
            start = pick(rng, ["member", "leader"], [85, 15])
            ack = rng.choice(["15m", "30m", "1h", ["30m", "1h", "2h"]])
            resolve = rng.choice([["1d", "2d", "3d"], ["8h", "1d", "2d", "3d", "5d"], "1d", ["4h", "8h", "1d"]])
        co = None
        cats = m.get("category", [])
        if "dispute_mediation" in cats and rng.random() < 0.7:
            co = ["owners_committee", "property", "departments"]
        elif chan == ["alert"] and rng.random() < 0.3:
            co = ["property"]
        elif "work_safety" in cats and rng.random() < 0.5:
            co = ["departments"]
        drafts.append((m, start, ack, resolve, co))

    # Admins list the narrow policies first: community prefixes, then
    # street prefixes, then district-wide ones.
    def rank(d):
        u = d[0].get("unit")
        return 2 if u is None else (0 if u.count("/") == 2 else 1)

    drafts.sort(key=rank)
    out = []
    for i, (m, start, ack, resolve, co) in enumerate(drafts):
        tag = "-".join([(m.get("channel") or ["any"])[0],
                        (m.get("unit") or "xifeng").split("/", 1)[-1].replace("/", "-")])
        out.append(("p%04d-%s" % (i + 1, tag), m, start, ack, resolve, co))
    out.append(("default", {}, "member", "30m", ["1d", "2d", "3d"], None))
    return out


def flow(v):
    """A value in YAML flow style."""
    if isinstance(v, list):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (k, flow(x)) for k, x in v.items()) + "}"
    return str(v)


def write_rules(out, args, t, policies):
    w = out.write
    w("# Generated by tests/bench/gen_rules.py --units %d --policies %d --seed %d\n"
      % (args.units, args.policies, args.seed))
    w("# %d streets, %d communities, %d grids; %d people; %d policies. Do not edit.\n"
      % (len(t.streets), len(t.communities), len(t.grids), len(t.people), len(policies)))
    w("version: 1\nlevels:\n")
    for key, name, kind, role in LEVELS:
        w("  - {key: %s, name: %s, unit: %s, role: %s}\n" % (key, name, kind, role))
    w("categories:\n")
    for key, name in CATEGORIES:
        w("  - {key: %s, name: %s}\n" % (key, name))
    w("people:\n")
    buf = []
    for pid, name, notify, admin in t.people:
        buf.append("  %s: {name: %s, notify: [%s]%s}\n"
                   % (pid, q(name), ", ".join(q(n) for n in notify), ", admin: true" if admin else ""))
    w("".join(buf))
    w("units:\n")
    buf = []
    for uid, kind, name, roles in t.units:
        buf.append("  - {id: %s, kind: %s, name: %s, roles: %s}\n" % (uid, kind, q(name), flow(roles)))
    w("".join(buf))
    w("policies:\n")
    for name, m, start, ack, resolve, co in policies:
        w("  - name: %s\n" % name)
        w("    match: %s\n" % flow(m))
        w("    start_level: %s\n" % start)
        w("    ack_within: %s\n" % flow(ack))
        w("    resolve_within: %s\n" % flow(resolve))
        if co:
            w("    co_assign: %s\n" % flow(co))


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def gen_incident(rng, t, fallback, now, recent):
    if recent and rng.random() < 0.05:
        # a device re-firing while its first alert is still open: a duplicate
        return dict(rng.choice(recent))
    if rng.random() < fallback:
        cid, n = rng.choice(t.communities)
        unit = "%s/g%03d" % (cid, n + 1 + rng.randrange(900))
    else:
        unit = rng.choice(t.grids)
    channel = pick(rng, CHANNELS, [30, 30, 10, 30])
    category = pick(rng, CATEGORY_KEYS, CATEGORY_WEIGHTS)
    severity = pick(rng, SEVERITIES, [15, 55, 22, 8])
    inc = {"channel": channel, "category": category, "unit": unit,
           "title": rng.choice(TITLES[category]), "severity": severity}
    attrs = {}
    if channel == "alert":
        attrs["source"] = pick(rng, ALERT_SOURCES, [45, 25, 10, 10, 10])
        attrs["device"] = "%s-%05d" % (attrs["source"], rng.randrange(100000))
        if rng.random() < 0.5:
            inc["dedup_key"] = "%s:%s" % (unit, attrs["device"])
    elif channel == "feedback":
        attrs["via"] = pick(rng, FEEDBACK_VIA, [40, 25, 25, 10])
        inc["reporter"] = {"name": name_of(rng), "phone": "139%08d" % rng.randrange(10 ** 8)}
    elif channel == "patrol":
        inc["reporter"] = {"id": "w%06d" % (1 + rng.randrange(max(1, len(t.grids))))}
    else:
        inc["due_at"] = rfc3339(now + rng.randrange(3600, 14 * 86400))
    if attrs:
        inc["attrs"] = attrs
    if rng.random() < 0.5:
        inc["location"] = {"lat": round(35.70 + rng.random() * 0.08, 6),
                           "lng": round(107.60 + rng.random() * 0.08, 6)}
    if rng.random() < 0.3:
        inc["detail"] = "%s，请尽快处理。" % inc["title"]
    if "dedup_key" in inc:
        recent.append(inc)
    return inc


def resp(*parts):
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        b = p.encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def write_incidents(args, t):
    rng = random.Random("incidents-%d" % args.seed)
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    recent = collections.deque(maxlen=64)
    with open(args.incidents_out, "wb") as f:
        for _ in range(args.incidents):
            inc = gen_incident(rng, t, args.fallback, now, recent)
            line = json.dumps(inc, ensure_ascii=False, separators=(",", ":"))
            if args.incidents_format == "resp":
                f.write(resp("XADD", args.prefix + "in:" + inc["channel"], "*", "incident", line))
            else:
                f.write(line.encode("utf-8") + b"\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=100000, help="units in the tree (default 100000)")
    ap.add_argument("--policies", type=int, default=1000, help="policies, catch-all included (default 1000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", help="rules file (default: standard output)")
    ap.add_argument("--incidents", type=int, default=0, help="sample incidents to write")
    ap.add_argument("--incidents-out", help="file for the incidents")
    ap.add_argument("--incidents-format", choices=["jsonl", "resp"], default="jsonl",
                    help="jsonl: one incident per line; resp: XADD commands for redis-cli --pipe")
    ap.add_argument("--prefix", default="gr:", help="key prefix for --incidents-format resp")
    ap.add_argument("--fallback", type=float, default=0.1,
                    help="share of incidents naming unconfigured grids (default 0.1)")
    args = ap.parse_args()
    if args.incidents and not args.incidents_out:
        ap.error("--incidents needs --incidents-out")

    rng = random.Random(args.seed)
    t = build_tree(rng, args.units)
    policies = build_policies(rng, t, args.policies)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            write_rules(f, args, t, policies)
    else:
        sys.stdout.reconfigure(encoding="utf-8")
        write_rules(sys.stdout, args, t, policies)
    if args.incidents:
        write_incidents(args, t)


if __name__ == "__main__":
    main()
