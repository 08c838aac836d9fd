#!/usr/bin/env python3
"""A case app (docs/backends.md): send one command to gridrouted and wait
for the events it caused, or for its dead letter.

    case_app.py --url redis://commander:PW@127.0.0.1:6379 ack case-1 --by liuyang
    case_app.py --url ... extend case-1 --by liuyang --note 等待配件 --field for=1wd

It runs as the `commander` ACL user (XADD to gr:in:commands; reading the
timelines, the dead letters and gr:events). It prints the events as JSON
lines and exits 0, or prints the dead letter's reason and exits 1.
"""
import argparse
import json
import sys
import time

import redis

SOURCE = "gr:in:commands"


def command(r, cmd, timeout=10.0):
    """XADD the command; (events, None) once applied, or (None, dead letter fields)."""
    events = r.pubsub(ignore_subscribe_messages=True)
    events.subscribe("gr:events")  # before the XADD, so that no event is missed
    try:
        entry = r.xadd(SOURCE, {"command": json.dumps(cmd, ensure_ascii=False)})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = events.get_message(timeout=0.1)
            # one step writes all its events at once: the first one says it was applied
            ev = json.loads(msg["data"]) if msg is not None else {}
            if ev.get("source") == SOURCE and ev.get("entry") == entry:
                timeline = r.lrange("gr:timeline:" + cmd["incident"], 0, -1)
                return [e for e in map(json.loads, timeline) if e.get("entry") == entry], None
            # a dead letter is written after the entry: its id is not older than the entry's
            for _, f in r.xrange("gr:deadletter", min=entry.split("-")[0], count=1000):
                if f.get("source") == SOURCE and f.get("entry") == entry:
                    return None, f
        return None, {"reason": "timeout", "error": "no outcome in %gs" % timeout}
    finally:
        events.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="Redis URL of the commander user")
    p.add_argument("op")
    p.add_argument("incident")
    p.add_argument("--by", required=True)
    p.add_argument("--note")
    p.add_argument("--field", action="append", default=[], metavar="KEY=VALUE",
                   help="another field of the command (level=leader, for=1wd, passed=true)")
    a = p.parse_args()
    cmd = {"op": a.op, "incident": a.incident, "by": a.by}
    if a.note is not None:
        cmd["note"] = a.note
    for kv in a.field:
        k, _, v = kv.partition("=")
        cmd[k] = {"true": True, "false": False}.get(v, v)
    r = redis.Redis.from_url(a.url, decode_responses=True)
    events, dead = command(r, cmd)
    if dead is not None:
        print("dead-lettered: %s: %s" % (dead["reason"], dead["error"]))
        return 1
    for e in events:
        print(json.dumps(e, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
