"""What gridweb's system tests share: a redis-server loading the shipped
ACL file (with known passwords), the real daemon as its `gridrouted` user,
and the real gridweb as `viewer`, which can write nothing (SPEC §9, §12),
so that any write gridweb tried would fail the test: test_gridweb*.py
check Redis's ACL LOG for the viewer after each test."""
import ctypes
import ctypes.util
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, SLOW, free_port, wait_for
from test_acl import AclRedis, denied, password_file, start_daemon, write_test_acl

GRIDWEB = os.path.join(BUILD, "gridweb")
G03 = "xifeng/beijie/beidajie/g03"


class Gridweb:
    def __init__(self, tmp, redis_port, name="web", user="viewer", **web):
        self.tmp = tmp
        self.port = free_port()
        self.log_path = os.path.join(tmp, name + ".log")
        cfg = {
            "redis": {"host": "127.0.0.1", "port": redis_port, "username": user,
                      "password_file": password_file(tmp, user)},
            "rules": os.path.join(tmp, "d1-rules.yaml"),
            "log": {"format": "json", "level": "debug"},
            "web": dict({"listen": "127.0.0.1:%d" % self.port}, **web),
        }
        self.config = os.path.join(tmp, name + ".yaml")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.proc = None
        self.base = "http://127.0.0.1:%d" % self.port

    def start(self, wait_ready=True, auth=None):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([GRIDWEB, "-c", self.config], stderr=self.logf)
        if wait_ready:
            wait_for(lambda: self.status("/readyz", auth=auth) == 200, 10, "gridweb /readyz")
        return self

    def stop(self, timeout=10 * SLOW):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def log_lines(self):
        out = []
        with open(self.log_path, "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"raw": line.decode("utf-8", "replace")})
        return out

    def request(self, path, auth=None, method="GET"):
        req = urllib.request.Request(self.base + path, method=method)
        if auth is not None:
            import base64
            req.add_header("Authorization",
                           "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode("utf-8")
        except (urllib.error.URLError, ConnectionError):
            return None, {}, ""

    def status(self, path, auth=None):
        return self.request(path, auth=auth)[0]

    def get(self, path, auth=None):
        code, headers, body = self.request(path, auth=auth)
        assert code == 200, (path, code, body[:500])
        return body

    def api(self, path, auth=None):
        return json.loads(self.get("/api" + path, auth=auth))


def crypt_hash(pw, prefix):
    """A crypt(3) hash from libcrypt itself: "$y$" yescrypt, "$2b$" bcrypt, "$6$" SHA-512."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt"))
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    rounds = 4 if prefix == "$2b$" else 0  # the cheapest bcrypt: the tests need not wait
    setting = lib.crypt_gensalt(prefix.encode(), rounds, None, 0)
    assert setting, prefix
    h = lib.crypt(pw.encode(), setting)
    assert h and h.startswith(prefix.encode()), (prefix, h)
    return h.decode()


class Env:
    """Redis with the ACL users, the daemon and gridweb as viewer."""

    def __init__(self, tmp, server, admin, daemon, web):
        self.tmp, self.server, self.admin, self.daemon, self.web = tmp, server, admin, daemon, web

    def report(self, channel="patrol", **kw):
        doc = {"category": "urban_management", "unit": G03, "title": "井盖缺失",
               "attrs": {"speed": "slow"}}
        doc.update(kw)
        entry = self.admin.xadd("gr:in:" + channel,
                                {"incident": json.dumps(doc, ensure_ascii=False)})
        inc = doc.get("id", "%s-%s" % (channel, entry))
        wait_for(lambda: self.admin.zscore("gr:open", inc) is not None, 10, "incident " + inc)
        return inc

    def command(self, **cmd):
        return self.admin.xadd("gr:in:commands",
                               {"command": json.dumps(cmd, ensure_ascii=False)})


def viewer_clean(env):
    """gridweb asked Redis for nothing the viewer may not do, and logged no Redis error."""
    assert denied(env.admin, "viewer") == [], denied(env.admin, "viewer")
    bad = [l for l in env.web.log_lines()
           if l.get("event") in ("redis_error", "redis_handshake_failed", "fatal")]
    assert bad == [], bad


@pytest.fixture
def env(tmp):
    s = AclRedis(tmp, write_test_acl(tmp)).start()
    admin = s.client("admin")
    d = start_daemon(tmp, s)
    w = Gridweb(tmp, s.port).start()
    e = Env(tmp, s, admin, d, w)
    yield e
    rc = w.stop()
    assert rc == 0, open(w.log_path).read()[-3000:]
    viewer_clean(e)
    d.stop()
    s.stop()
