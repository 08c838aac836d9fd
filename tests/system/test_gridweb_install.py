"""gridweb as installed: `make install` puts the binary, its man page,
its unit and the sample config in place; the unit is hardened (systemd-
analyze security) and verifies; the man page renders and names every
config key of gridweb's table and every log event gridweb's code can
write, and the sample names every key; the sample config checks."""
import os
import re
import shutil
import subprocess

import pytest

from test_install import (config_keys, dest, install, man_source, man_text, mode,  # noqa: F401
                          read, unit_settings, ROOT, UNIT)

WEB_UNIT = "usr/lib/systemd/system/gridweb.service"
# the modules gridweb links besides its own (their events are gridweb's too)
SHARED = ("rconn.c", "httpd.c", "log.c")


def test_installed_tree(dest):  # noqa: F811
    for rel, m in (("usr/sbin/gridweb", 0o755), ("usr/share/man/man8/gridweb.8", 0o644),
                   (WEB_UNIT, 0o644), ("etc/gridroute/gridweb.yaml", 0o644),
                   ("etc/gridroute/gridweb-redis-password", 0o600),
                   ("etc/gridroute/gridweb-users", 0o600),
                   ("usr/share/doc/gridroute/examples/gridweb.yaml", 0o644)):
        path = os.path.join(dest, rel)
        assert os.path.isfile(path), rel
        assert mode(path) == m, "%s: %o" % (rel, mode(path))
    assert read(dest, WEB_UNIT) == read(ROOT, "systemd", "gridweb.service")
    p = subprocess.run([os.path.join(dest, "usr/sbin/gridweb"), "--check", "-c",
                        os.path.join(dest, "etc/gridroute/gridweb.yaml")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert re.match(r".*/etc/gridroute/rules\.yaml: OK: 5 levels", p.stdout), p.stdout


def test_another_prefix_rewrites_the_unit(tmp):
    install(tmp, "PREFIX=/usr/local")
    unit = read(tmp, "usr/local/lib/systemd/system/gridweb.service")
    assert "ExecStart=/usr/local/sbin/gridweb -c /usr/local/etc/gridroute/gridweb.yaml" in unit
    assert "/usr/sbin/" not in unit and "=/etc/" not in unit


def test_the_unit_is_hardened():
    s = unit_settings(read(ROOT, "systemd", "gridweb.service"))
    for k, v in {"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                 "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
                 "MemoryDenyWriteExecute": "yes",
                 "ExecStartPre": "/usr/sbin/gridweb --check -c /etc/gridroute/gridweb.yaml",
                 "ExecStart": "/usr/sbin/gridweb -c /etc/gridroute/gridweb.yaml"}.items():
        assert s.get(k, [None])[0] == v, (k, s.get(k))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze(dest, tmp):  # noqa: F811
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20",
                        os.path.join(ROOT, "systemd", "gridweb.service")],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for gridweb.service: ([0-9.]+)", p.stdout)
    assert m and p.returncode == 0 and float(m.group(1)) <= 2.0, p.stdout + p.stderr
    unit = read(dest, WEB_UNIT).replace("/usr/sbin/gridweb",
                                        os.path.join(dest, "usr/sbin/gridweb"))
    path = os.path.join(tmp, "gridweb.service")
    with open(path, "w") as f:
        f.write(unit)
    env = dict(os.environ, MANPATH=os.path.join(dest, "usr/share/man"), SYSTEMD_LOG_COLOR="0")
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
def test_man_page_renders():
    path = os.path.join(ROOT, "docs", "gridweb.8")
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    man_source("gridweb.8").encode("ascii")


def test_every_key_is_in_the_man_page_and_the_sample():
    src, sample = man_source("gridweb.8"), read(ROOT, "conf", "gridweb.yaml")
    keys = config_keys("web_table")
    assert ("web", "listen") in keys and ("web", "auth_file") in keys
    shared = [k for k in config_keys() if k[0] in ("redis", "log") or k[1] in ("prefix",
                                                                               "rules")]
    for section, key in keys + shared:
        if section:
            assert re.search(r"^\.SS %s$" % section, src, re.M), section
        assert re.search(r'^\.BR %s " \(default' % key, src, re.M), key
        assert re.search(r"^\s*%s:" % key, sample, re.M), key


def test_every_log_event_is_in_the_man_page():
    events = {"fatal"}
    for f in os.listdir(os.path.join(ROOT, "src")):
        if f.startswith(("web", "gridweb")) and f.endswith(".c") or f in SHARED:
            src = read(ROOT, "src", f)
            events |= set(re.findall(r'log_(?:kv|msg)\([^,"]*,\s*"([a-z_]+)"', src))
            events |= set(re.findall(r'log_conn\([^,"]*,[^,"]*,\s*"([a-z_]+)"', src))
            events |= set(re.findall(r'log_folded\([^,"]*,[^,"]*,\s*"([a-z_]+)"', src))
    assert {"started", "subscribed", "auth_failed", "redis_down", "http_listening"} <= events
    man = man_text("gridweb.8")
    for e in sorted(events):
        assert re.search(r"\b%s\b" % e, man), e
