"""`make install` into a temporary DESTDIR: the tree it lays out, that it
never overwrites a config, `make uninstall`; the systemd unit (verify,
the security score), the sysusers.d and tmpfiles.d entries; and that the
installed documentation is complete and well-formed: man pages render
without warnings and name every config key, metric, log event, gridctl
command and dead-letter reason; the rules example is valid. (The alerting
rules, conf/alerts.yml, are test_alerts.py's.)"""
import os
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import ROOT

UNIT = "usr/lib/systemd/system/gridrouted.service"
TEMPLATE = "usr/lib/systemd/system/gridrouted@.service"
MAN = {"gridrouted.8": "usr/share/man/man8/gridrouted.8",
       "gridctl.1": "usr/share/man/man1/gridctl.1",
       "gridroute-rules.5": "usr/share/man/man5/gridroute-rules.5"}


def read(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return f.read()


def make(*args):
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    env.pop("PREFIX", None)
    return subprocess.run(["make", "-C", ROOT, "--no-print-directory"] + list(args),
                          capture_output=True, text=True, timeout=600, env=env)


def install(dest, *extra):
    p = make("install", "DESTDIR=" + dest, *extra)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope="module")
def dest():
    d = tempfile.mkdtemp(prefix="gridroute-install-")
    install(d, "PREFIX=/usr")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_the_tree(dest):
    expect = {
        "usr/sbin/gridrouted": 0o755,
        "usr/bin/gridctl": 0o755,
        UNIT: 0o644,
        TEMPLATE: 0o644,
        "usr/lib/sysusers.d/gridroute.conf": 0o644,
        "usr/lib/tmpfiles.d/gridroute.conf": 0o644,
        "etc/gridroute/gridrouted.yaml": 0o644,
        "etc/gridroute/rules.yaml": 0o644,
        "etc/gridroute/redis-acl.conf": 0o600,
        "etc/gridroute/redis-password": 0o600,
        "etc/gridroute/holidays/cn-2026.yaml": 0o644,
        "usr/share/doc/gridroute/README.md": 0o644,
        "usr/share/doc/gridroute/operations.md": 0o644,
        "usr/share/doc/gridroute/spec-deviations.md": 0o644,
        "usr/share/doc/gridroute/examples/gridrouted.yaml": 0o644,
        "usr/share/doc/gridroute/examples/rules.yaml": 0o644,
        "usr/share/doc/gridroute/examples/redis-acl.conf": 0o644,
        "usr/share/doc/gridroute/examples/alerts.yml": 0o644,
        "usr/share/doc/gridroute/backends.md": 0o644,
        "usr/share/doc/gridroute/schemas/event.json": 0o644,
        "usr/share/doc/gridroute/examples/gateway.py": 0o644,
        "usr/share/doc/gridroute/examples/holidays/cn-2026.yaml": 0o644,
    }
    for name in MAN.values():
        expect[name] = 0o644
    for rel, m in expect.items():
        path = os.path.join(dest, rel)
        assert os.path.isfile(path), rel
        assert mode(path) == m, "%s: %o" % (rel, mode(path))
    assert os.path.getsize(os.path.join(dest, "etc/gridroute/redis-password")) == 0
    for rel in ("etc/gridroute/gridrouted.yaml", "etc/gridroute/rules.yaml",
                "etc/gridroute/redis-acl.conf", "etc/gridroute/holidays/cn-2026.yaml"):
        assert read(dest, rel) == read(ROOT, "conf", os.path.relpath(rel, "etc/gridroute"))
    for man, rel in MAN.items():
        assert read(dest, rel) == read(ROOT, "docs", man)
    # PREFIX=/usr: the units as written in the repository
    assert read(dest, UNIT) == read(ROOT, "systemd", "gridrouted.service")
    assert read(dest, TEMPLATE) == read(ROOT, "systemd", "gridrouted@.service")
    for rel in ("usr/sbin/gridrouted", "usr/bin/gridctl"):
        out = subprocess.run([os.path.join(dest, rel), "--version"], capture_output=True,
                             text=True, timeout=10)
        assert out.returncode == 0 and "0." in out.stdout, out


def test_the_installed_config_checks(dest):
    """The sample config finds the sample rules next to it, as under systemd."""
    p = subprocess.run([os.path.join(dest, "usr/sbin/gridrouted"), "--check", "-c",
                        os.path.join(dest, "etc/gridroute/gridrouted.yaml")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert re.match(r".*/etc/gridroute/rules\.yaml: OK: 5 levels", p.stdout), p.stdout


def test_an_existing_config_is_kept(tmp):
    install(tmp, "PREFIX=/usr")
    conf = os.path.join(tmp, "etc/gridroute")
    for name in ("gridrouted.yaml", "rules.yaml", "redis-acl.conf", "redis-password"):
        with open(os.path.join(conf, name), "w") as f:
            f.write("# edited by the admin\n")
    p = install(tmp, "PREFIX=/usr")
    for name in ("gridrouted.yaml", "rules.yaml", "redis-acl.conf", "redis-password"):
        assert read(conf, name) == "# edited by the admin\n", name
    for name in ("gridrouted.yaml", "rules.yaml", "redis-acl.conf"):
        assert "kept %s/%s" % (conf, name) in p.stdout, p.stdout
    # the new samples are there to compare with
    assert read(tmp, "usr/share/doc/gridroute/examples/rules.yaml") == read(ROOT, "conf",
                                                                           "rules.yaml")


def test_uninstall_leaves_only_the_config(tmp):
    install(tmp, "PREFIX=/usr")
    p = make("uninstall", "DESTDIR=" + tmp, "PREFIX=/usr")
    assert p.returncode == 0, p.stdout + p.stderr
    left = sorted(os.path.relpath(os.path.join(d, f), tmp)
                  for d, _, fs in os.walk(tmp) for f in fs)
    assert left == ["etc/gridroute/" + n for n in
                    ("gridrouted.yaml", "gridweb-redis-password", "gridweb-users",
                     "gridweb.yaml", "holidays/cn-2026.yaml", "redis-acl.conf",
                     "redis-password", "rules.yaml")]


def test_another_prefix_rewrites_the_unit(tmp):
    install(tmp, "PREFIX=/usr/local")
    unit = read(tmp, "usr/local/lib/systemd/system/gridrouted.service")
    assert "ExecStart=/usr/local/sbin/gridrouted -c /usr/local/etc/gridroute/gridrouted.yaml" \
        in unit
    assert "ExecStartPre=/usr/local/sbin/gridrouted --check -c " \
        "/usr/local/etc/gridroute/gridrouted.yaml" in unit
    assert "LoadCredential=redis-password:/usr/local/etc/gridroute/redis-password" in unit
    assert "file:/usr/local/share/doc/gridroute/operations.md" in unit
    assert "/usr/sbin/" not in unit and "=/etc/" not in unit
    template = read(tmp, "usr/local/lib/systemd/system/gridrouted@.service")
    assert "ExecStart=/usr/local/sbin/gridrouted -c /usr/local/etc/gridroute/%i.yaml" in template
    assert "/usr/sbin/" not in template and "=/etc/" not in template
    tmpfiles = read(tmp, "usr/local/lib/tmpfiles.d/gridroute.conf")
    assert "f /usr/local/etc/gridroute/redis-password 0600 root root -" in tmpfiles
    for rel in ("usr/local/sbin/gridrouted", "usr/local/bin/gridctl",
                "usr/local/share/man/man8/gridrouted.8",
                "usr/local/etc/gridroute/gridrouted.yaml",
                "usr/local/lib/sysusers.d/gridroute.conf"):
        assert os.path.isfile(os.path.join(tmp, rel)), rel


def unit_settings(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_the_unit_says_what_the_spec_asks():
    s = unit_settings(read(ROOT, "systemd", "gridrouted.service"))
    want = {
        "Type": "notify", "User": "gridroute",
        "ExecStartPre": "/usr/sbin/gridrouted --check -c /etc/gridroute/gridrouted.yaml",
        "ExecStart": "/usr/sbin/gridrouted -c /etc/gridroute/gridrouted.yaml",
        "ExecReload": "/bin/kill -HUP $MAINPID", "WatchdogSec": "30s",
        "Restart": "on-failure", "TimeoutStopSec": "10", "UMask": "0077",
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "NoNewPrivileges": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "SystemCallArchitectures": "native", "MemoryDenyWriteExecute": "yes",
        "LockPersonality": "yes", "RestrictRealtime": "yes", "RestrictNamespaces": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "ProtectClock": "yes",
        "ProtectHostname": "yes", "CapabilityBoundingSet": "",
        "LoadCredential": "redis-password:/etc/gridroute/redis-password",
    }
    for k, v in want.items():
        assert s.get(k, [None])[0] == v, (k, s.get(k))
    assert "@system-service" in s["SystemCallFilter"]
    assert re.search(r"^u gridroute ", read(ROOT, "systemd", "gridroute.sysusers"), re.M)


def test_the_district_template_is_the_unit_per_district():
    """gridrouted@.service: the instance names the district's config; every
    other setting is gridrouted.service's, line for line."""
    def settings(name):
        return [l for l in read(ROOT, "systemd", name).splitlines() if l and not l.startswith("#")]
    unit, template = settings("gridrouted.service"), settings("gridrouted@.service")
    expect = [l.replace("/etc/gridroute/gridrouted.yaml", "/etc/gridroute/%i.yaml")
              .replace("Description=gridroute incident routing daemon",
                       "Description=gridroute incident routing daemon, district %i")
              for l in unit]
    assert template == expect


needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze not installed (Debian: systemd)")


@needs_systemd
def test_systemd_analyze_verify(dest, tmp):
    """verify wants the Exec binaries to exist: a copy of the installed unit
    points at the binaries in DESTDIR; MANPATH finds the man pages that
    Documentation= names."""
    unit = read(dest, UNIT).replace("/usr/sbin/gridrouted",
                                    os.path.join(dest, "usr/sbin/gridrouted"))
    path = os.path.join(tmp, "gridrouted.service")
    with open(path, "w") as f:
        f.write(unit)
    env = dict(os.environ, MANPATH=os.path.join(dest, "usr/share/man"), SYSTEMD_LOG_COLOR="0")
    man = shutil.which("man") is not None
    p = subprocess.run(["systemd-analyze", "verify", "--man=%s" % ("yes" if man else "no"),
                        path], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr
    # an instance of the district template, the same way
    instance = os.path.join(tmp, "gridrouted@xifeng.service")
    with open(instance, "w") as f:
        f.write(read(dest, TEMPLATE).replace("/usr/sbin/gridrouted",
                                             os.path.join(dest, "usr/sbin/gridrouted")))
    p = subprocess.run(["systemd-analyze", "verify", "--man=%s" % ("yes" if man else "no"),
                        instance], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr


@needs_systemd
def test_systemd_analyze_security_score():
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20",
                        os.path.join(ROOT, "systemd", "gridrouted.service")],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for gridrouted.service: ([0-9.]+)", p.stdout)
    assert m, p.stdout + p.stderr
    assert p.returncode == 0 and float(m.group(1)) <= 2.0, m.group(0)


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None or
                    shutil.which("systemd-tmpfiles") is None, reason="systemd not installed")
def test_sysusers_and_tmpfiles_entries(dest, tmp):
    root = os.path.join(tmp, "root")
    for rel in ("usr/lib/sysusers.d/gridroute.conf", "usr/lib/tmpfiles.d/gridroute.conf"):
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        shutil.copy(os.path.join(dest, rel), os.path.join(root, rel))
    os.makedirs(os.path.join(root, "etc"))
    p = subprocess.run(["systemd-sysusers", "--root=" + root, "gridroute.conf"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^gridroute:x:\d+:\d+:.*:/usr/sbin/nologin$",
                     read(root, "etc/passwd"), re.M)
    p = subprocess.run(["systemd-tmpfiles", "--root=" + root, "--create", "gridroute.conf"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    pw = os.path.join(root, "etc/gridroute/redis-password")
    assert os.path.getsize(pw) == 0 and mode(pw) == 0o600
    # an existing password is left alone
    with open(pw, "w") as f:
        f.write("s3cret\n")
    subprocess.run(["systemd-tmpfiles", "--root=" + root, "--create", "gridroute.conf"],
                   check=True, capture_output=True, timeout=60)
    assert read(pw) == "s3cret\n"


# ---- the documentation ----

def man_source(name):
    return read(ROOT, "docs", name)


def man_text(name):
    """The page's text with troff escapes undone enough to search it."""
    s = man_source(name)
    s = re.sub(r"\\\[u([0-9A-F]{4,5})\]", lambda m: chr(int(m.group(1), 16)), s)
    return s.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
@pytest.mark.parametrize("name", sorted(MAN))
def test_man_page_renders_without_warnings(name):
    path = os.path.join(ROOT, "docs", name)
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", path], capture_output=True,
                       timeout=60)
    assert p.returncode == 0 and len(p.stdout) > 2000


@pytest.mark.parametrize("name", sorted(MAN))
def test_man_page_is_ascii_with_a_header(name):
    src = man_source(name)
    src.encode("ascii")  # non-ASCII as \[uXXXX], so that every troff reads it alike
    section = name.rsplit(".", 1)[1]
    assert re.search(r'^\.TH %s %s ' % (re.escape(name.rsplit(".", 1)[0].upper()
                                                  .replace("-", "\\-")), section),
                     src, re.M), name
    for sh in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert re.search(r"^\.SH %s$" % sh, src, re.M), (name, sh)


def config_keys(table="table"):
    """(section, key) from a table of config.c (the daemon's, or gridweb's
    web_table): the loader's own list."""
    src = read(ROOT, "src", "config.c")
    src = src[src.index("static const struct ckey %s[] = {" % table):]
    src = src[:src.index("\n};")]
    return re.findall(r'\{(?:"([a-z_]+)"|NULL), "([a-z_]+)", C_[A-Z]+,', src)


def test_every_config_key_is_in_the_man_page_and_the_sample():
    keys = config_keys()
    assert len(keys) >= 20
    src = man_source("gridrouted.8")
    sample = read(ROOT, "conf", "gridrouted.yaml")
    for section, key in keys:
        if section:
            assert re.search(r"^\.SS %s$" % section, src, re.M), section
        assert re.search(r'^\.BR %s " \(default' % key, src, re.M), key
        assert re.search(r"^\s*%s:" % key, sample, re.M), key


def metric_names():
    src = read(ROOT, "src", "metrics.c")
    return sorted(set(re.findall(r'"(gridroute_[a-z_]+)"', src)))


def test_every_metric_is_documented():
    names = metric_names()
    assert "gridroute_route_latency_seconds" in names and len(names) >= 14
    man, ops = man_text("gridrouted.8"), read(ROOT, "docs", "operations.md")
    for n in names:
        assert n in man, n
        assert n in ops, n


def log_events():
    events = {"fatal", "assigned", "escalated", "reassigned", "skipped", "acked", "resolved",
              "breached", "duplicate", "comment"}
    for f in os.listdir(os.path.join(ROOT, "src")):
        if not f.endswith(".c") or f.startswith(("ctl_", "gridctl", "gridweb", "web")):
            continue
        src = read(ROOT, "src", f)
        events |= set(re.findall(r'log_(?:kv|msg)\([^,"]*,\s*"([a-z_]+)"', src))
        events |= set(re.findall(r'log_conn\([^,"]*,[^,"]*,\s*"([a-z_]+)"', src))
        events |= set(re.findall(r'log_folded\([^,"]*,[^,"]*,\s*"([a-z_]+)"', src))
    return events


def test_every_log_event_is_documented():
    events = log_events()
    assert {"started", "reloaded", "reload_failed", "redis_down", "deadletter",
            "rules_diagnostic", "libevent"} <= events
    man, ops = man_text("gridrouted.8"), read(ROOT, "docs", "operations.md")
    for e in sorted(events):
        assert re.search(r"\b%s\b" % e, man), e
        assert "`%s`" % e in ops, e


def test_every_gridctl_command_and_reason_is_in_its_man_page():
    from conftest import GRIDCTL
    out = subprocess.run([GRIDCTL, "--help"], capture_output=True, text=True, timeout=10).stdout
    commands = re.findall(r"^  ([a-z]+) ", out, re.M)
    assert {"submit", "ack", "show", "ls", "tail", "deadletter", "stats", "explain", "check",
            "diff"} <= set(commands)
    text = man_text("gridctl.1")
    for c in commands:
        assert re.search(r"^\.B(?:I|R)? \"?%s\b" % c, man_source("gridctl.1"), re.M) or \
            re.search(r"\bgridctl %s\b" % c, text), c
    for opt in re.findall(r"(--[a-z-]+)", out):
        assert opt in text, opt
    reasons = re.findall(r'X\([A-Z_]+, "([a-z_]+)"\)', read(ROOT, "include", "reason.h"))
    assert len(reasons) == 16
    for r in reasons:
        assert r in text, r


def test_the_rules_example_is_valid(tmp):
    from conftest import GRIDCTL
    src = man_text("gridroute-rules.5")
    example = src.split(".SH EXAMPLE\n.EX\n")[1].split("\n.EE")[0]
    path = os.path.join(tmp, "example.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(example + "\n")
    p = subprocess.run([GRIDCTL, "check", path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "OK: 5 levels, 2 categories, 4 units, 7 people, 2 policies" in p.stdout


def test_readme_links_the_docs():
    readme = read(ROOT, "README.md")
    for doc in ("docs/operations.md", "docs/spec-deviations.md", "docs/gridrouted.8",
                "docs/gridctl.1", "docs/gridroute-rules.5"):
        assert "(%s)" % doc in readme, doc
        assert os.path.isfile(os.path.join(ROOT, doc)), doc
