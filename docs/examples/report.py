#!/usr/bin/env python3
"""A reporting backend (docs/backends.md): report one incident to
gridrouted and learn what became of it.

    report.py --url redis://reporter:PW@127.0.0.1:6379 \\
              --read-url redis://viewer:PW@127.0.0.1:6379 patrol incident.json

It writes as the `reporter` ACL user, which may only XADD to the four
channel streams, and reads the outcome as `viewer`. It prints one line
and exits 0 when the report was routed, merged into an open case by its
dedup_key, or was there already from an earlier try of the same bytes; 1
when it was dead-lettered (the line says why) or nothing was heard in time.
"""
import argparse
import hashlib
import json
import sys
import time

import redis


def encode(incident):
    """The report's bytes. Keep them: a retry must send exactly these again."""
    return json.dumps(incident, ensure_ascii=False, separators=(",", ":")).encode()


def report(writer, reader, channel, body, timeout=10.0):
    """XADD the report, then wait for its outcome: (ok, sentence)."""
    source = "gr:in:" + channel
    explicit = json.loads(body).get("id")
    sha1 = hashlib.sha1(body).hexdigest()
    events = reader.pubsub(ignore_subscribe_messages=True)
    events.subscribe("gr:events")  # before the XADD, so that no event is missed
    try:
        entry = writer.xadd(source, {"incident": body})
        inc = explicit or "%s-%s" % (channel, entry)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = events.get_message(timeout=0.1)
            if msg is not None:
                ev = json.loads(msg["data"])
                if ev.get("source") == source and ev.get("entry") == entry:
                    if ev["type"] == "duplicate":
                        return True, "merged into the open case %s (%d reports)" % (
                            ev["incident"], ev["count"])
                    if ev["type"] in ("assigned", "skipped"):
                        return True, "routed as %s" % inc
            # a dead letter is written after the entry: its id is not older than the entry's
            for _, f in reader.xrange("gr:deadletter", min=entry.split("-")[0], count=1000):
                if f.get("source") == source and f.get("entry") == entry:
                    return False, "dead-lettered: %s: %s" % (f["reason"], f["error"])
            # the same bytes under an id that exists: created by this entry or an earlier try
            if explicit and reader.hget("gr:inc:" + inc, "report_sha1") == sha1:
                first = reader.lrange("gr:timeline:" + inc, 0, 0)
                if first and json.loads(first[0]).get("entry") == entry:
                    return True, "routed as %s" % inc
                if first:
                    return True, "already there: %s (a retry, nothing done again)" % inc
        return False, "no outcome in %gs (is gridrouted running?)" % timeout
    finally:
        events.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="Redis URL of the reporter user")
    p.add_argument("--read-url", required=True, help="Redis URL of a user that may read")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("channel", choices=["patrol", "feedback", "scheduled", "alert"])
    p.add_argument("file", help="the incident JSON ('-': standard input)")
    a = p.parse_args()
    with (sys.stdin if a.file == "-" else open(a.file, encoding="utf-8")) as f:
        body = encode(json.load(f))
    writer = redis.Redis.from_url(a.url, decode_responses=True)
    reader = redis.Redis.from_url(a.read_url, decode_responses=True)
    ok, sentence = report(writer, reader, a.channel, body, a.timeout)
    print(sentence)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
