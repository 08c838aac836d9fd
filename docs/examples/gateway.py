#!/usr/bin/env python3
"""A notification gateway (docs/backends.md): consume gr:out:notifications
through a consumer group of its own and "send" each notification to every
address of every person in its "to".

    gateway.py --url redis://gateway:PW@127.0.0.1:6379 [--group sms-gateway]
               [--consumer NAME] [--count N] [--claim-idle-ms MS]

It runs as the `gateway` ACL user. Each notification is acknowledged
(XACK) only once it is sent, so a gateway that crashes re-reads its own
pending entries when it comes back, and another consumer of the group
takes over what one that is gone left pending for longer than
--claim-idle-ms. Sending is a print here: put the SMS or WeChat call in
send().
"""
import argparse
import json
import socket
import sys

import redis

STREAM = "gr:out:notifications"


def send(address, text):
    print("%s\t%s" % (address, text), flush=True)


def deliver(r, group, entry_id, fields):
    n = json.loads(fields["notification"])
    for person in n["to"]:
        for address in person["notify"]:
            send(address, n["text"])
    r.xack(STREAM, group, entry_id)


def run(r, group, consumer, count=None, claim_idle_ms=60000, block_ms=5000):
    try:
        # "0": from the stream's start; "$" would take only notifications from now on
        r.xgroup_create(STREAM, group, id="0", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise
    done = 0
    # first what this consumer read before and did not acknowledge (a crash)
    for _, entries in r.xreadgroup(group, consumer, {STREAM: "0"}):
        for entry_id, fields in entries:
            deliver(r, group, entry_id, fields)
            done += 1
    while count is None or done < count:
        # then what a consumer of the group that is gone left pending
        _, claimed, *_ = r.xautoclaim(STREAM, group, consumer, claim_idle_ms, "0-0", count=100)
        batches = [(STREAM, claimed)] if claimed else \
            r.xreadgroup(group, consumer, {STREAM: ">"}, count=100, block=block_ms)
        for _, entries in batches or []:
            for entry_id, fields in entries:
                deliver(r, group, entry_id, fields)
                done += 1
    return done


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="Redis URL of the gateway user")
    p.add_argument("--group", default="sms-gateway")
    p.add_argument("--consumer", default=socket.gethostname())
    p.add_argument("--count", type=int, help="stop after this many notifications")
    p.add_argument("--claim-idle-ms", type=int, default=60000)
    a = p.parse_args()
    r = redis.Redis.from_url(a.url, decode_responses=True)
    run(r, a.group, a.consumer, a.count, a.claim_idle_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
