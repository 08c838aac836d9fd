"""Redis Cluster (SPEC v2 §2, §9 redis.cluster, §10 gridctl --cluster) on a
real local cluster: six redis-servers with cluster-enabled on loopback,
three primaries with a replica each, joined by `redis-cli --cluster
create`, with a cluster-node-timeout of 1 s. Districts whose hash tags
land on different primaries are routed side by side. The primary that
serves one district is SIGKILLed in the middle of a 2,000-report burst
written with WAIT 1 after each report, and its replica promoted; then a
district's slot is migrated to another primary during a burst. After each:
every report is in its stream once and ends as exactly one incident or one
dead letter, no step is half-applied (hash, document, timeline, assignment
and KPI count all there) or applied twice (one assignment, version 1,
one creation count), commands sent with gridctl --cluster are applied
once, and deadlines escalate through every level once. The figures the
tests print (outage, steps Redis lost and the daemon applied again) are
the ones docs/scaling.md quotes."""
import collections
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
import redis

from conftest import GRIDCTL, GRIDROUTED, Daemon, RedisCluster, free_port, wait_for
from gridweb_harness import GRIDWEB

CHANNELS = ["patrol", "feedback", "scheduled", "alert"]
STREAMS = ["in:" + c for c in CHANNELS] + ["in:commands"]
G03 = "xifeng/beijie/beidajie/g03"
BURST = 2000


@pytest.fixture
def cluster(tmp):
    c = RedisCluster(tmp).start()
    yield c
    c.stop()


def district(tmp, cluster, prefix, name, seeds=None):
    return Daemon(tmp, 0, name=name, prefix=prefix,
                  redis={"cluster": seeds or cluster.seeds()},
                  log={"format": "json", "level": "info"})


def kind_of(i):
    """Report i: every 50th is invalid (a dead letter), every 40th escalates fast."""
    if i % 50 == 7:
        return "invalid"
    return "fast" if i % 40 == 3 else "slow"


def body_of(i, tag):
    k = kind_of(i)
    doc = {"category": "nope" if k == "invalid" else "urban_management", "unit": G03,
           "title": "%s %d" % (tag, i), "attrs": {} if k == "fast" else {"speed": "slow"}}
    return json.dumps(doc, ensure_ascii=False)


RETRY_WORDS = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "LOADING")


class Reporter:
    """A backend that must not lose a report (SPEC §2: it uses WAIT 1).
    Each entry gets an id of the reporter's own, "<t0>-<n>", and is written
    to the slot's owner with XADD, then WAIT 1. On a redirection, a lost
    connection or a WAIT that no replica acknowledged in time, it finds the
    owner again and writes the same entry again: an id the stream has
    already is refused ("equal or smaller than the target stream top item"),
    which says it is there; then WAIT 1 again. So every entry is in its
    stream once, and on a replica before the next is written. During a slot
    migration it follows ASK as a cluster client does (ASKING, then the
    command, on the node it names)."""

    def __init__(self, cluster, prefix):
        self.cluster, self.prefix = cluster, prefix
        self.slot = cluster.keyslot(prefix)
        self.t0 = int(time.time() * 1000)
        self.n = 0
        self.r = None
        self.sent = []  # (stream, entry id, kind)
        self.rewritten = 0  # entries written, then lost in a failover, and written again
        self.stalls = []  # (start, end) of each write that needed retries
        self.stop = None  # burst(): a threading.Event that ends it (after n at least)

    def client(self):
        if self.r is None:
            own = wait_for(lambda: self.cluster.owner(self.slot), 30, "an owner")
            self.r = redis.Redis(port=own.port, decode_responses=True, socket_timeout=5)
        return self.r

    def write(self, stream, field, body, kind):
        self.n += 1
        eid = "%d-%d" % (self.t0, self.n)
        start = time.monotonic()
        tries, written = 0, False
        while True:
            tries += 1
            try:
                r = self.client()
                try:
                    try:
                        r.xadd(self.prefix + stream, {field: body}, id=eid)
                    except redis.ResponseError as e:
                        if not str(e).startswith("ASK "):
                            raise
                        r = redis.Redis(port=int(str(e).rsplit(":", 1)[1]),
                                        decode_responses=True, socket_timeout=5)
                        p = r.pipeline(transaction=False)
                        p.execute_command("ASKING")
                        p.xadd(self.prefix + stream, {field: body}, id=eid)
                        p.execute()
                    if written:
                        self.rewritten += 1  # it had been written, and the stream lost it
                    written = True
                except redis.ResponseError as e:
                    if "equal or smaller" not in str(e):
                        raise
                if r.execute_command("WAIT", 1, 1000) >= 1:
                    break
                raise redis.ConnectionError("WAIT 1: no replica has it yet")
            except redis.RedisError as e:
                if isinstance(e, redis.ResponseError) and not str(e).startswith(RETRY_WORDS):
                    raise
                assert time.monotonic() - start < 60, "a report not written in 60 s: %s" % e
                self.r = None
                time.sleep(0.05)
        if tries > 1:
            self.stalls.append((start, time.monotonic()))
        self.sent.append((stream, eid, kind))
        return eid

    def burst(self, n, tag, hook=None):
        i = 0
        while i < n or (self.stop is not None and not self.stop.is_set()):
            if hook is not None:
                hook(i)
            self.write(STREAMS[i % 4], "incident", body_of(i, tag), kind_of(i))
            i += 1

    def longest_stall(self):
        return max((b - a for a, b in self.stalls), default=0.0)


def owner_client(cluster, prefix):
    return cluster.owner(cluster.keyslot(prefix)).client()


def settled(cluster, prefix):
    """Every entry of the district's streams delivered and acknowledged."""
    try:
        r = owner_client(cluster, prefix)
        for s in STREAMS:
            for g in r.xinfo_groups(prefix + s):
                if g["pending"] != 0 or g.get("lag") not in (0, None):
                    return False
        return True
    except (redis.RedisError, AttributeError):
        return False


def scan(r, pattern):
    return list(r.scan_iter(match=pattern, count=1000))


def check_district(r, prefix, reports):
    """Every report in its stream once, exactly one incident or one dead
    letter, each step whole and once. Returns the incident ids by kind."""
    for ch in CHANNELS:
        want = sorted(e for s, e, _ in reports if s == "in:" + ch)
        got = sorted(e for e, _ in r.xrange(prefix + "in:" + ch))
        assert got == want, "%s: %d entries in the stream, %d reported" % (ch, len(got),
                                                                         len(want))
    dead = collections.Counter((f["source"], f["entry"])
                               for _, f in r.xrange(prefix + "deadletter"))
    assigned = collections.defaultdict(list)
    for _, f in r.xrange(prefix + "out:assignments"):
        a = json.loads(f["assignment"])
        assigned[a["incident"]].append(a)
    ids = collections.defaultdict(list)
    for stream, eid, kind in reports:
        if stream == "in:commands":
            continue
        inc = "%s-%s" % (stream[3:], eid)
        if kind == "invalid":
            assert dead[(prefix + stream, eid)] == 1, (stream, eid)
            assert not r.exists(prefix + "inc:" + inc)
            continue
        assert dead[(prefix + stream, eid)] == 0, (stream, eid, [
            f for _, f in r.xrange(prefix + "deadletter") if f["entry"] == eid])
        new = [a for a in assigned[inc] if a["event"] == "assigned"]
        assert len(new) == 1, "%s assigned %d times" % (inc, len(new))
        assert r.exists(prefix + "inc:" + inc, prefix + "doc:" + inc,
                        prefix + "timeline:" + inc) == 3, inc
        assert r.zscore(prefix + "open", inc) is not None, inc
        ids[kind].append(inc)
    n_valid = sum(len(v) for v in ids.values())
    assert sum(dead.values()) == sum(1 for _, _, k in reports if k == "invalid")
    assert len(scan(r, prefix + "inc:*")) == n_valid
    created = sum(int(r.hget(k, "urban_management:created") or 0)
                  for k in scan(r, prefix + "kpi:*"))
    assert created == n_valid, "KPI created %d for %d incidents" % (created, n_valid)
    # the slow ones nobody acted on: created once, nothing since
    shapes = collections.Counter()
    for inc in ids["slow"]:
        h = r.hgetall(prefix + "inc:" + inc)
        if h.get("state") != "open":
            continue
        assert h["version"] == "1", (inc, h["version"])
        shapes[tuple(json.loads(e)["type"]
                     for e in r.lrange(prefix + "timeline:" + inc, 0, -1))] += 1
    assert len(shapes) == 1, shapes
    return ids


def check_escalated_once(r, prefix, fast):
    """Each fast incident climbed every level once, by its ack deadlines."""
    def all_breached():
        return all(any(json.loads(e)["type"] == "breached"
                       for e in r.lrange(prefix + "timeline:" + inc, 0, -1)) for inc in fast)
    wait_for(all_breached, 30, "the fast incidents to reach the top and breach")
    levels = collections.defaultdict(list)
    for _, f in r.xrange(prefix + "out:assignments"):
        a = json.loads(f["assignment"])
        levels[a["incident"]].append(a["level"])
    for inc in fast:
        tl = [json.loads(e) for e in r.lrange(prefix + "timeline:" + inc, 0, -1)]
        esc = [(e["level_key"], e["reason"]) for e in tl if e["type"] == "escalated"]
        assert esc == [("leader", "ack_timeout"), ("community", "ack_timeout"),
                       ("street", "ack_timeout"), ("district", "ack_timeout")], (inc, esc)
        br = [e["reason"] for e in tl if e["type"] == "breached"]
        assert len(br) == len(set(br)), (inc, br)
        assert levels[inc] == [1, 2, 3, 4, 5], (inc, levels[inc])


def gridctl(cluster, prefix, *args, input=None):
    return subprocess.run([GRIDCTL, "--cluster", ",".join(cluster.seeds()), "--prefix", prefix]
                          + list(args), capture_output=True, text=True, timeout=60, input=input)


def ack_all(cluster, prefix, incs):
    for inc in incs:
        p = gridctl(cluster, prefix, "ack", inc, "--by", "liuyang")
        assert p.returncode == 0, p.stderr


def check_acked_once(r, prefix, incs):
    def acked():
        return all(r.hget(prefix + "inc:" + i, "state") == "acked" for i in incs)
    wait_for(acked, 30, "the acks to be applied")
    for inc in incs:
        tl = [json.loads(e)["type"] for e in r.lrange(prefix + "timeline:" + inc, 0, -1)]
        assert tl.count("acked") == 1, (inc, tl)
        assert r.hget(prefix + "inc:" + inc, "version") == "2", inc


def reapplied(daemons):
    """Incidents whose creation the daemons logged twice: steps a failover lost
    (applied on the old primary, not yet replicated) and that were applied again."""
    n = collections.Counter()
    for d in daemons:
        for l in d.events("assigned"):
            n[l["incident"]] += 1
    return sum(1 for v in n.values() if v > 1)


def stop_all(*daemons):
    """Stop every daemon, then say which did not exit 0 (SPEC §9)."""
    rcs = [(d, d.stop()) for d in daemons]
    for d, rc in rcs:
        assert rc == 0, "%s exited with %s:\n%s%s" % (d.name, rc, open(d.log_path).read()[-3000:],
                                                     d.valgrind_report())


def test_two_districts_side_by_side(tmp, cluster):
    a_tag, b_tag = cluster.tags_on_distinct_primaries(2)
    A, B = "gr:{%s}:" % a_tag, "gr:{%s}:" % b_tag
    # the first seed is nobody: the next one answers
    da = district(tmp, cluster, A, "a1", seeds=["127.0.0.1:1"] + cluster.seeds()).start()
    db = district(tmp, cluster, B, "b1").start()
    try:
        ra, rb = Reporter(cluster, A), Reporter(cluster, B)
        ra.burst(200, "A")
        rb.burst(200, "B")
        wait_for(lambda: settled(cluster, A) and settled(cluster, B), 30, "both routed")
        oa, ob = owner_client(cluster, A), owner_client(cluster, B)
        ids_a = check_district(oa, A, ra.sent)
        ids_b = check_district(ob, B, rb.sent)
        # each district's keys live on its own primary only
        assert scan(ob, A + "*") == [] and scan(oa, B + "*") == []
        # one line per change of owner for the daemon, not one per connection
        for d, p in ((da, A), (db, B)):
            owners = d.events("redis_owner")
            assert len(owners) == 1, owners
            assert int(owners[0]["port"]) == cluster.owner(cluster.keyslot(p)).port
            assert owners[0]["slot"] == str(cluster.keyslot(p))
        # gridctl --cluster: each prefix finds its own node
        p = gridctl(cluster, A, "ls", "--json")
        assert p.returncode == 0, p.stderr
        listed = {x["id"] for x in json.loads(p.stdout)}
        assert listed == set(ids_a["slow"] + ids_a["fast"])
        p = gridctl(cluster, B, "show", ids_b["slow"][0])
        assert p.returncode == 0 and ids_b["slow"][0] in p.stdout, p.stderr
        ack_all(cluster, B, ids_b["slow"][:3])
        check_acked_once(ob, B, ids_b["slow"][:3])
        body = body_of(1, "ctl")
        p = gridctl(cluster, A, "submit", "patrol", "-", input=body)
        assert p.returncode == 0, p.stderr
        entry = p.stdout.split()[1]
        wait_for(lambda: oa.exists(A + "inc:patrol-" + entry), 10, "the submitted report")
        check_escalated_once(oa, A, ids_a["fast"])
    finally:
        stop_all(da, db)
    # a prefix without a hash tag is refused, by gridctl and by the daemon
    p = subprocess.run([GRIDCTL, "--cluster", cluster.seeds()[0], "ls"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2 and "--cluster needs a --prefix with a hash tag" in p.stderr
    bad = district(tmp, cluster, "gr:", "bad")
    p = subprocess.run([GRIDROUTED, "--check", "-c", bad.config], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert "error: with redis.cluster the prefix needs a hash tag" in p.stdout + p.stderr


def test_own_pending_entries_are_read_again_after_a_change_of_owner(tmp, cluster):
    """Entries delivered to this consumer but never applied (pending with it,
    as after a step lost in a failover) are read again from id 0 once the
    daemon has found a new owner: here a graceful CLUSTER FAILOVER, no claim
    (claim_idle_ms 60 s) and no restart that would read them otherwise."""
    (tag,) = cluster.tags_on_distinct_primaries(1)
    A = "gr:{%s}:" % tag
    slot = cluster.keyslot(A)
    old = cluster.owner(slot)
    d = Daemon(tmp, 0, name="a1", prefix=A, redis={"cluster": cluster.seeds()},
               log={"format": "json", "level": "info"}, limits={"claim_idle_ms": 60000}).start()
    try:
        r = old.client()
        # written and delivered to consumer a1 in one transaction: pending with it,
        # and never seen by the daemon a1, whose blocked read finds nothing new
        p = r.pipeline(transaction=True)
        for i in range(50):
            if kind_of(i) == "slow":
                p.xadd(A + "in:patrol", {"incident": body_of(i, "p")})
        p.xreadgroup("gridrouted", "a1", {A + "in:patrol": ">"}, count=100)
        out = p.execute()
        ids, got = out[:-1], out[-1][0][1]
        assert [e for e, _ in got] == ids
        assert r.execute_command("WAIT", 1, 5000) == 1
        assert r.xpending(A + "in:patrol", "gridrouted")["pending"] == len(ids)
        replica = cluster.replica_of(old)
        replica.client().execute_command("CLUSTER", "FAILOVER")
        wait_for(lambda: cluster.owner(slot) is replica, 30, "the manual failover")
        nr = replica.client()
        wait_for(lambda: all(nr.exists(A + "inc:patrol-" + e) for e in ids), 20,
                 "the pending entries applied on the new owner")
        wait_for(lambda: settled(cluster, A), 20, "nothing pending")
        assert int(d.events("redis_owner")[-1]["port"]) == replica.port
        new = [json.loads(f["assignment"])["incident"]
               for _, f in nr.xrange(A + "out:assignments")]
        assert sorted(new) == sorted("patrol-" + e for e in ids)
    finally:
        stop_all(d)


@pytest.mark.parametrize("lagging", [False, True], ids=["replica-in-sync", "replica-lagging"])
def test_primary_killed_mid_burst(tmp, cluster, lagging):
    """The owning primary SIGKILLed after half of a 2,000-report burst. With
    the replica lagging (SIGSTOPped while the daemons apply a backlog, as a
    replica far behind would be), the steps of the last few hundred
    reports exist only on the primary that dies: Redis loses them, and the
    daemons must apply them again from their entries, still pending or
    undelivered on the new primary."""
    a_tag, b_tag = cluster.tags_on_distinct_primaries(2)
    A, B = "gr:{%s}:" % a_tag, "gr:{%s}:" % b_tag
    slot = cluster.keyslot(A)
    old = cluster.owner(slot)
    replica = cluster.replica_of(old)
    # two daemons for the district that fails over, as a city runs them; one for the other
    a1, a2 = district(tmp, cluster, A, "a1").start(), district(tmp, cluster, A, "a2").start()
    b1 = district(tmp, cluster, B, "b1").start()
    ra, rb = Reporter(cluster, A), Reporter(cluster, B)
    rb.stop = threading.Event()  # the other district writes all along
    killed = {}
    r = old.client()

    def restart_old_primary():
        # as systemd would: the old primary comes back, as a replica of the new one
        wait_for(lambda: cluster.owner(slot) not in (None, old), 30, "the replica promoted")
        killed["promoted"] = time.time()
        old.start()

    def kill():
        if lagging:
            wait_for(lambda: r.xlen(A + "out:assignments") >= 300, 20, "steps on the primary")
            killed["unreplicated"] = r.xlen(A + "out:assignments")
        killed["at"] = time.time()
        old.stop(signal.SIGKILL)
        if lagging:
            replica.proc.send_signal(signal.SIGCONT)
        restart_old_primary()

    def hook(i):
        if lagging and i == 0:
            for d in (a1, a2):
                d.kill(signal.SIGSTOP)  # a backlog builds up, replicated (WAIT 1)
        if i != BURST // 2:
            return
        if not lagging:
            killed["thread"] = threading.Thread(target=kill)
            killed["thread"].start()
            killed["thread"].join(0.2)  # the next write finds the primary dead
            return
        replica.proc.send_signal(signal.SIGSTOP)
        # 32 MB in the district's slot first: the replication stream backs up in the
        # primary behind it (the kernel's socket buffers alone would take a few MB of
        # steps to the stopped replica, which would then have them after all)
        r.set("{%s}:ballast" % a_tag, "x" * (32 << 20))
        for d in (a1, a2):
            d.kill(signal.SIGCONT)
        # the primary dies while the daemons apply the backlog and this report waits
        # for WAIT 1, which the stopped replica cannot answer
        killed["thread"] = threading.Thread(target=kill)
        killed["thread"].start()

    try:
        tb = threading.Thread(target=rb.burst, args=(BURST, "B"))
        tb.start()
        try:
            ra.burst(BURST, "A", hook=hook)
        finally:
            rb.stop.set()
            tb.join()
        killed["thread"].join()
        wait_for(lambda: settled(cluster, A) and settled(cluster, B), 60, "both settled")
        new = cluster.owner(slot)
        assert new is replica
        oa, ob = new.client(), owner_client(cluster, B)
        ids_a = check_district(oa, A, ra.sent)
        ids_b = check_district(ob, B, rb.sent)
        again = reapplied([a1, a2])
        if lagging:
            # Redis lost steps the daemons had applied, and they applied them again; and
            # the report that was written but not replicated, which the reporter wrote again
            assert again > 0 and ra.rewritten == 1
        # commands and deadlines after the failover
        acks = ids_a["slow"][-5:] + ids_a["slow"][:5]
        ack_all(cluster, A, acks)
        check_acked_once(oa, A, acks)
        check_escalated_once(oa, A, ids_a["fast"])
        check_escalated_once(ob, B, ids_b["fast"])
        # the daemons followed the new owner
        for d in (a1, a2):
            assert int(d.events("redis_owner")[-1]["port"]) == new.port
        # the outage as the district saw it: the first assignment written after the kill
        kill_ms = killed["at"] * 1000
        after = [int(e.split("-")[0]) for e, _ in oa.xrange(A + "out:assignments")
                 if int(e.split("-")[0]) > kill_ms]
        b_ms = [int(e.split("-")[0]) for e, _ in ob.xrange(B + "out:assignments")]
        b_gap = max((y - x for x, y in zip(b_ms, b_ms[1:])), default=0) / 1000
        print("\nfailover (%s): %d + %d reports; replica promoted %.1f s after the kill; "
              "district A's first assignment %.1f s after it; steps Redis lost and the "
              "daemons applied again: %d (of %s applied on the old primary after the replica "
              "stopped); reports the reporter wrote again: %d, its longest stall %.1f s; "
              "district B: longest gap between assignments %.1f s, reporter stall %.1f s; "
              "reports lost 0, duplicated 0" % (
                  "replica lagging" if lagging else "replica in sync", len(ra.sent),
                  len(rb.sent), killed["promoted"] - killed["at"], (after[0] - kill_ms) / 1000,
                  again, killed.get("unreplicated", "-"), ra.rewritten, ra.longest_stall(),
                  b_gap, rb.longest_stall()))
    finally:
        for d in (a1, a2):
            d.kill(signal.SIGCONT)
        stop_all(a1, a2, b1)


def test_slot_migrated_mid_burst(tmp, cluster):
    a_tag, b_tag = cluster.tags_on_distinct_primaries(2)
    A, B = "gr:{%s}:" % a_tag, "gr:{%s}:" % b_tag
    slot = cluster.keyslot(A)
    src = cluster.owner(slot)
    dst = cluster.owner(cluster.keyslot(B))  # to the other district's primary
    a1, a2 = district(tmp, cluster, A, "a1").start(), district(tmp, cluster, A, "a2").start()
    ra = Reporter(cluster, A)
    ra.burst(BURST // 2, "A")  # the first half, then the rest during the migration
    wait_for(lambda: settled(cluster, A), 60, "the first half routed")
    earlier = check_district(src.client(), A, ra.sent)["slow"]
    moved = {}
    acks = earlier[:20]
    ctl_errors = []

    def migrate():
        t = time.time()
        # paced, so that the burst and the commands meet a slot half moved
        moved["keys"] = cluster.migrate_slot(slot, dst, batch=10, between=lambda: time.sleep(0.02))
        moved["seconds"] = time.time() - t
        moved["done"] = time.time()

    def commands_during():
        # gridctl --cluster while the keys move: it follows ASK, then MOVED
        for inc in acks:
            p = gridctl(cluster, A, "ack", inc, "--by", "liuyang")
            if p.returncode != 0:
                ctl_errors.append(p.stderr)
            time.sleep(0.2)

    try:
        tm = threading.Thread(target=migrate)
        tc = threading.Thread(target=commands_during)
        t0 = time.time()
        tm.start()
        tc.start()
        rest = Reporter(cluster, A)
        rest.t0, rest.n = ra.t0, ra.n  # the same streams, the ids go on
        rest.burst(BURST // 2, "A2")
        tm.join()
        tc.join()
        assert ctl_errors == []
        assert cluster.owner(slot) is dst
        wait_for(lambda: settled(cluster, A), 60, "everything routed on the new owner")
        od = dst.client()
        assert scan(src.client(), A + "*") == []
        ids = check_district(od, A, ra.sent + rest.sent)
        check_acked_once(od, A, acks)
        check_escalated_once(od, A, ids["fast"])
        redirected = [l for d in (a1, a2) for l in d.log_lines()
                      if str(l.get("error", "")).startswith(("TRYAGAIN", "ASK"))]
        assert redirected, "the daemons never met the migration"
        for d in (a1, a2):
            assert int(d.events("redis_owner")[-1]["port"]) == dst.port
        out = [int(e.split("-")[0]) for e, _ in od.xrange(A + "out:assignments")]
        during = [t0 * 1000] + [x for x in out if x >= t0 * 1000]
        gap = max((y - x for x, y in zip(during, during[1:])), default=0) / 1000
        print("\nmigration: %d keys moved in %.1f s during a burst of %d reports; longest gap "
              "between assignments %.1f s; reporter stalled %.1f s at most; %d acks by gridctl "
              "meanwhile; steps applied again: %d; reports lost 0, duplicated 0" % (
                  moved["keys"], moved["seconds"], len(rest.sent), gap, rest.longest_stall(),
                  len(acks), reapplied([a1, a2])))
    finally:
        stop_all(a1, a2)


def test_gridweb_on_the_cluster_follows_a_failover(tmp, cluster):
    """gridweb with redis.cluster (SPEC v2 §12 shares §9's redis section):
    it reads the district's counts from the primary that serves its slot,
    and after a CLUSTER FAILOVER it finds the new primary and shows the
    same figures; a prefix without a hash tag is refused by --check."""
    (tag,) = cluster.tags_on_distinct_primaries(1)
    A = "gr:{%s}:" % tag
    slot = cluster.keyslot(A)
    d = district(tmp, cluster, A, "a1").start()
    port = free_port()
    cfg = os.path.join(tmp, "web.yaml")
    with open(cfg, "w") as f:
        json.dump({"redis": {"cluster": cluster.seeds()}, "prefix": A, "rules": d.rules,
                   "log": {"format": "json", "level": "info"},
                   "web": {"listen": "127.0.0.1:%d" % port}}, f)
    log = open(os.path.join(tmp, "web.log"), "wb")
    web = subprocess.Popen([GRIDWEB, "-c", cfg], stderr=log)

    def summary():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/summary" % port,
                                        timeout=5) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    try:
        rep = Reporter(cluster, A)
        rep.burst(100, "W")
        wait_for(lambda: settled(cluster, A), 30, "the district routed")
        valid = sum(1 for i in range(100) if kind_of(i) != "invalid")
        wait_for(lambda: (summary() or {}).get("open") == valid, 20, "gridweb's open count")
        old = cluster.owner(slot)
        replica = cluster.replica_of(old)
        replica.client().execute_command("CLUSTER", "FAILOVER")
        wait_for(lambda: cluster.owner(slot) is replica, 30, "the manual failover")
        # the figures come from the new primary now: a report routed after
        # the failover is counted
        rep.burst(1, "after")
        wait_for(lambda: settled(cluster, A), 30, "the report after the failover")
        wait_for(lambda: (summary() or {}).get("open") == valid + 1, 30,
                 "gridweb's count from the new primary")
        owners = [json.loads(x) for x in open(os.path.join(tmp, "web.log"))
                  if '"redis_owner"' in x]
        assert owners and int(owners[-1]["port"]) == replica.port, owners
    finally:
        web.terminate()
        assert web.wait(10) == 0
        log.close()
        stop_all(d)
    with open(cfg, "w") as f:
        json.dump({"redis": {"cluster": cluster.seeds()}, "prefix": "gr:", "rules": d.rules}, f)
    p = subprocess.run([GRIDWEB, "--check", "-c", cfg], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    assert "with redis.cluster the prefix needs a hash tag" in p.stdout + p.stderr
