# gridroute: a plain GNU Makefile. `make help` lists the targets.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DESTDIR    ?=

CC         ?= cc
PKG_CONFIG ?= pkg-config
PYTHON     ?= /usr/bin/python3
PKGS       := libevent hiredis jansson yaml-0.1

# The Debian 12 packages that building, testing and running need.
DEB_PKGS := gcc make pkg-config libevent-dev libhiredis-dev libjansson-dev \
	libyaml-dev libcmocka-dev redis-server python3 python3-pytest python3-redis \
	clang-format prometheus libsystemd-dev valgrind binutils clang libclang-rt-dev \
	systemd groff-base man-db tzdata libcrypt-dev chromium chromium-driver python3-selenium \
	fonts-noto-cjk python3-yaml python3-jsonschema

WARN := -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wcast-qual -Wpointer-arith
ifneq ($(CI),)
WARN += -Werror
endif

BUILD := build
OPT   := -O2 -g -D_FORTIFY_SOURCE=2
ifneq ($(SANITIZE),)
comma := ,
BUILD := build/san-$(subst $(comma),-,$(SANITIZE))
OPT   := -O1 -g -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
SANLD := -fsanitize=$(SANITIZE)
endif

DEPCFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEPLIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# sd_notify when libsystemd is there at build time (SYSTEMD=no to build without)
ifneq ($(SYSTEMD),no)
ifeq ($(shell $(PKG_CONFIG) --exists libsystemd 2>/dev/null && echo yes),yes)
DEPCFLAGS += -DHAVE_SYSTEMD $(shell $(PKG_CONFIG) --cflags libsystemd)
DEPLIBS   += $(shell $(PKG_CONFIG) --libs libsystemd)
endif
endif

ALL_CFLAGS  = $(WARN) $(OPT) -D_DEFAULT_SOURCE -fstack-protector-strong -fPIE \
	-Iinclude -I$(BUILD)/gen $(DEPCFLAGS) -MMD -MP $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SANLD) $(LDFLAGS)

# The pure modules: no libevent, no hiredis; unit tests and fuzzers drive them.
CORE := util log timeutil tz calendar diag reason htab yamldoc yamlfast config schedule rules jscan incident route explain message lifecycle \
	apply ctl_diff sha1 kpi cluster
# gridweb's pure parts: its pages and their documents (the KPI rows are kpi's)
CORE += web_html web_model web_page
CORE_OBJS := $(CORE:%=$(BUILD)/%.o)
DAEMON_OBJS := $(BUILD)/main.o $(BUILD)/daemon.o $(BUILD)/intake.o $(BUILD)/escalate.o \
	$(BUILD)/store.o $(BUILD)/rconn.o $(BUILD)/cluster_seed.o $(BUILD)/metrics.o $(BUILD)/http.o \
	$(BUILD)/httpd.o $(BUILD)/notify.o $(BUILD)/reload.o
GRIDCTL_OBJS := $(BUILD)/gridctl.o $(BUILD)/ctl_cli.o $(BUILD)/ctl_redis.o $(BUILD)/cluster_seed.o \
	$(BUILD)/ctl_submit.o $(BUILD)/ctl_view.o $(BUILD)/ctl_deadletter.o $(BUILD)/ctl_stats.o \
	$(BUILD)/ctl_migrate.o $(BUILD)/ctl_calendar.o $(BUILD)/ctl_report.o

GRIDWEB_OBJS := $(BUILD)/gridweb.o $(BUILD)/web.o $(BUILD)/web_auth.o $(BUILD)/httpd.o \
	$(BUILD)/rconn.o $(BUILD)/cluster_seed.o $(BUILD)/metrics.o $(BUILD)/notify.o

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_TESTS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

BINS := $(BUILD)/gridrouted $(BUILD)/gridctl $(BUILD)/gridweb

.PHONY: all deps check unit system valgrind fuzz install clean format format-check help bench run \
	bench-route bench-calendar bench-plot bench-doc bench-web bench-build bench-cluster
.DEFAULT_GOAL := all

all: $(BINS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Files built into the programs as C string literals (the Lua script), one
# source line a literal line: $(BUILD)/gen/NAME_EXT.h from src/NAME.EXT.
TO_C_STRING := sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/'
$(BUILD)/gen/apply_lua.h: src/apply.lua
	@mkdir -p $(dir $@)
	$(TO_C_STRING) $< > $@
$(BUILD)/apply.o: $(BUILD)/gen/apply_lua.h
# gridweb's stylesheet, script and icon: src/gridweb.{css,js,svg}
$(BUILD)/gen/gridweb_%.h: src/gridweb.%
	@mkdir -p $(dir $@)
	$(TO_C_STRING) $< > $@
$(BUILD)/web.o: $(BUILD)/gen/gridweb_css.h $(BUILD)/gen/gridweb_js.h $(BUILD)/gen/gridweb_svg.h

$(BUILD)/libgridroute.a: $(CORE_OBJS) Makefile
	rm -f $@
	ar rcs $@ $(filter %.o,$^)

$(BUILD)/gridrouted: $(DAEMON_OBJS) $(BUILD)/libgridroute.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(DEPLIBS) -lpthread -lm

$(BUILD)/gridctl: $(GRIDCTL_OBJS) $(BUILD)/libgridroute.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(DEPLIBS) -lm

$(BUILD)/gridweb: $(GRIDWEB_OBJS) $(BUILD)/libgridroute.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(DEPLIBS) -lcrypt -lm

$(BUILD)/tests/%.o: tests/unit/%.c | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libgridroute.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(DEPLIBS) -lcmocka -lm

# cluster_seed.c talks to Redis (hiredis), so it is not in the pure library
$(BUILD)/tests/test_cluster: $(BUILD)/tests/test_cluster.o $(BUILD)/cluster_seed.o $(BUILD)/libgridroute.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(DEPLIBS) -lcmocka -lm

$(BUILD) $(BUILD)/tests:
	mkdir -p $@

# Install what is missing (Debian 12); a no-op when everything is there.
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing" $$missing; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Unit tests of this build (SANITIZE=... builds and runs them sanitized).
unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

# System tests: a real redis-server and the real daemon.
system: all
	@if ls tests/system/test_*.py >/dev/null 2>&1; then \
		GRIDROUTE_BUILD=$(BUILD) $(PYTHON) -m pytest -q tests/system; \
	fi

# The system tests (or VALGRIND_TESTS, pytest -k words) with the daemon under
# valgrind: a memory error or a definite leak fails the test.
VALGRIND_TESTS ?=
CHECK_FUZZ_SECONDS ?= 15
# the short subset `make check` runs under valgrind
CHECK_VALGRIND := ack_then_resolve or bad_incidents or sighup or escalation_through_all_levels_by_ack or replayed or dedup or manual_escalate
valgrind: all
	GRIDROUTE_VALGRIND=1 GRIDROUTE_BUILD=$(BUILD) $(PYTHON) -m pytest -q tests/system \
		$(if $(VALGRIND_TESTS),-k "$(VALGRIND_TESTS)")

# Every test tier: the normal build, the sanitizer build, the system tests,
# and a subset of them with the daemon under valgrind.
check: deps
	$(MAKE) all unit bench-build
	$(MAKE) SANITIZE=address,undefined unit
	$(MAKE) system
	$(MAKE) valgrind VALGRIND_TESTS="$(CHECK_VALGRIND)"
	$(MAKE) fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)

# Fuzzing (libFuzzer, Debian's clang): every tests/fuzz/fuzz_NAME.c starts
# from tests/fuzz/seeds/NAME/ (the regression corpus: a crash found goes
# there) in a scratch copy; findings land in build/fuzz/crashes/.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_FLAGS   := -std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -D_DEFAULT_SOURCE -Iinclude -I$(BUILD)/gen $(DEPCFLAGS)
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIBS    := $(shell $(PKG_CONFIG) --libs jansson yaml-0.1 2>/dev/null)

$(FUZZ_BUILD)/lib/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(CORE:%=$(FUZZ_BUILD)/lib/%.o)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS) -lm

.SECONDARY: $(CORE:%=$(FUZZ_BUILD)/lib/%.o)
$(FUZZ_BUILD)/lib/apply.o: $(BUILD)/gen/apply_lua.h

fuzz: $(FUZZ_BINS)
	@mkdir -p $(FUZZ_BUILD)/crashes
	@set -e; for bin in $(FUZZ_BINS); do \
		name=$${bin##*/fuzz_}; work=$$(mktemp -d); \
		cp tests/fuzz/seeds/$$name/* $$work/ 2>/dev/null || true; \
		echo "== fuzz $$name for $(FUZZ_SECONDS)s"; \
		rc=0; $$bin -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crashes/$$name- $$work \
			> $(FUZZ_BUILD)/$$name.log 2>&1 || rc=$$?; rm -rf $$work; \
		grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|SUMMARY)' $(FUZZ_BUILD)/$$name.log || true; \
		if [ $$rc -ne 0 ]; then tail -40 $(FUZZ_BUILD)/$$name.log; \
			echo "fuzz $$name: failed; inputs in $(FUZZ_BUILD)/crashes/"; exit 1; fi; \
	done

FORMAT_FILES = $(wildcard src/*.c include/*.h tests/unit/*.c tests/unit/*.h tests/bench/*.c \
	tests/bench/*.h tests/fuzz/*.c)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# The end-to-end benchmark (tests/bench/README.md §5): one table, the p99
# plot in docs/; BENCH_INCIDENTS=100000 (and the other BENCH_ variables of
# tests/bench/Makefile) for a quick run. The routing micro-benchmark alone
# is bench-route; bench-plot redraws the plot from the last run, bench-doc
# copies its table into docs/performance.md.
BENCH_DEB_PKGS := gnuplot-nox fonts-dejavu-core
bench:
	$(MAKE) deps DEB_PKGS="$(DEB_PKGS) $(BENCH_DEB_PKGS)"
	$(MAKE) all
	$(MAKE) -C tests/bench perf
	$(MAKE) -C tests/bench web

# gridweb alone: the overview and pages of 100 cases with 100,000 open incidents
bench-web:
	$(MAKE) all
	$(MAKE) -C tests/bench web

# The benchmarks' programs, built and not run (make check: they must keep compiling).
bench-build:
	$(MAKE) -C tests/bench build

bench-route:
	$(MAKE) -C tests/bench

# The last phase of `make bench` alone: three districts on one Redis, then on
# a 3-primary Redis Cluster (BENCH_CLUSTER_INCIDENTS, default 300000).
bench-cluster:
	$(MAKE) deps
	$(MAKE) all
	$(MAKE) -C tests/bench perf-districts

bench-calendar:
	$(MAKE) -C tests/bench calendar

bench-plot:
	$(MAKE) -C tests/bench plot

# Copy the table of the last `make bench` into docs/performance.md.
bench-doc:
	$(MAKE) -C tests/bench doc

# Where `make install` puts the systemd files and the documentation. The units
# (gridrouted.service, and gridrouted@.service: one daemon per district) and
# the tmpfiles entry are rewritten for SBINDIR, SYSCONFDIR and DOCDIR, so
# PREFIX=/usr/local gives a unit that runs /usr/local/sbin/gridrouted. An
# existing config under SYSCONFDIR is never overwritten: the new samples are
# in DOCDIR/examples to compare with.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR      ?= $(PREFIX)/share/doc/gridroute
INSTALL_SED := sed -e 's|/usr/sbin/gridrouted|$(SBINDIR)/gridrouted|g' \
	-e 's|/usr/sbin/gridweb|$(SBINDIR)/gridweb|g' \
	-e 's|/etc/gridroute|$(SYSCONFDIR)/gridroute|g' -e 's|/usr/share/doc/gridroute|$(DOCDIR)|g'
CONFDIR := $(DESTDIR)$(SYSCONFDIR)/gridroute

.PHONY: uninstall
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(CONFDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR)/examples/holidays $(CONFDIR)/holidays \
		$(DESTDIR)$(DOCDIR)/schemas
	install -m 0755 $(BUILD)/gridrouted $(DESTDIR)$(SBINDIR)/gridrouted
	install -m 0755 $(BUILD)/gridctl $(DESTDIR)$(BINDIR)/gridctl
	install -m 0755 $(BUILD)/gridweb $(DESTDIR)$(SBINDIR)/gridweb
	install -m 0644 docs/gridweb.8 $(DESTDIR)$(MANDIR)/man8/gridweb.8
	$(INSTALL_SED) systemd/gridweb.service > $(DESTDIR)$(UNITDIR)/gridweb.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gridweb.service
	install -m 0644 docs/gridctl.1 $(DESTDIR)$(MANDIR)/man1/gridctl.1
	install -m 0644 docs/gridroute-rules.5 $(DESTDIR)$(MANDIR)/man5/gridroute-rules.5
	install -m 0644 docs/gridrouted.8 $(DESTDIR)$(MANDIR)/man8/gridrouted.8
	$(INSTALL_SED) systemd/gridrouted.service > $(DESTDIR)$(UNITDIR)/gridrouted.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gridrouted.service
	$(INSTALL_SED) systemd/gridrouted@.service > $(DESTDIR)$(UNITDIR)/gridrouted@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gridrouted@.service
	install -m 0644 systemd/gridroute.sysusers $(DESTDIR)$(SYSUSERSDIR)/gridroute.conf
	$(INSTALL_SED) systemd/gridroute.tmpfiles > $(DESTDIR)$(TMPFILESDIR)/gridroute.conf
	chmod 0644 $(DESTDIR)$(TMPFILESDIR)/gridroute.conf
	install -m 0644 README.md $(wildcard docs/*.md docs/*.svg docs/*.png) $(DESTDIR)$(DOCDIR)/
	install -m 0644 conf/gridrouted.yaml conf/gridweb.yaml conf/rules.yaml conf/redis-acl.conf \
		conf/alerts.yml \
		$(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 $(wildcard conf/holidays/*.yaml) $(DESTDIR)$(DOCDIR)/examples/holidays/
	install -m 0644 $(wildcard docs/schemas/*.json) $(DESTDIR)$(DOCDIR)/schemas/
	install -m 0644 $(wildcard docs/examples/*.py) $(DESTDIR)$(DOCDIR)/examples/
	@# the holidays files beside the rules (rules.yaml names holidays/cn-2026.yaml)
	@for f in gridrouted.yaml:0644 gridweb.yaml:0644 rules.yaml:0644 redis-acl.conf:0600 \
		$(patsubst conf/%,%:0644,$(wildcard conf/holidays/*.yaml)); do \
		name=$${f%:*}; mode=$${f#*:}; \
		if [ -e "$(CONFDIR)/$$name" ]; then \
			echo "make install: kept $(CONFDIR)/$$name (the new sample: $(DOCDIR)/examples/$$name)"; \
		else \
			echo "install -m $$mode conf/$$name $(CONFDIR)/$$name"; \
			install -m $$mode conf/$$name "$(CONFDIR)/$$name" || exit 1; \
		fi; \
	done
	@# the Redis password credential (LoadCredential=); empty: no password
	@[ -e "$(CONFDIR)/redis-password" ] || install -m 0600 /dev/null "$(CONFDIR)/redis-password"
	@# gridweb.service's credentials: the viewer's Redis password and the users file
	@for f in gridweb-redis-password gridweb-users; do \
		[ -e "$(CONFDIR)/$$f" ] || install -m 0600 /dev/null "$(CONFDIR)/$$f"; \
	done

# Removes what install put there, except the config under SYSCONFDIR/gridroute.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/gridweb $(DESTDIR)$(MANDIR)/man8/gridweb.8 \
		$(DESTDIR)$(UNITDIR)/gridweb.service
	rm -f $(DESTDIR)$(SBINDIR)/gridrouted $(DESTDIR)$(BINDIR)/gridctl \
		$(DESTDIR)$(MANDIR)/man1/gridctl.1 $(DESTDIR)$(MANDIR)/man5/gridroute-rules.5 \
		$(DESTDIR)$(MANDIR)/man8/gridrouted.8 $(DESTDIR)$(UNITDIR)/gridrouted.service \
		$(DESTDIR)$(UNITDIR)/gridrouted@.service \
		$(DESTDIR)$(SYSUSERSDIR)/gridroute.conf $(DESTDIR)$(TMPFILESDIR)/gridroute.conf
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build

help:
	@echo "make            build build/gridrouted, build/gridctl and build/gridweb"
	@echo "make deps       install the Debian packages that are missing"
	@echo "make check      deps, build, unit tests (plain and sanitized), system tests"
	@echo "make unit       unit tests only (SANITIZE=address,undefined for sanitized)"
	@echo "make bench      end-to-end benchmark: one table, docs/perf-p99.png (not part of check)"
	@echo "make bench-route the routing micro-benchmark (tests/bench/bench_route)"
	@echo "make bench-web  gridweb with 100,000 open incidents (also a phase of make bench)"
	@echo "make bench-cluster  3 districts drained on one Redis and on a 3-primary Redis Cluster"
	@echo "make bench-calendar  the working-time micro-benchmark (>= 2 million additions/s)"
	@echo "make bench-plot / bench-doc  redraw the plot / copy the table of the last make bench"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=..."
	@echo "make format-check"

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d $(FUZZ_BUILD)/lib/*.d)

# A private Redis on a unix socket under ./run/, gridweb in the background
# (its URL printed) and the daemon on conf/ in the foreground; Ctrl-C
# stops all three.
RUNDIR := $(CURDIR)/run
run: deps all
	@mkdir -p $(RUNDIR)
	@printf 'port 0\nunixsocket %s/redis.sock\nunixsocketperm 700\ndir %s\nappendonly yes\nsave ""\n' \
		"$(RUNDIR)" "$(RUNDIR)" > $(RUNDIR)/redis.conf
	@sed -e 's|^rules:.*|rules: $(CURDIR)/conf/rules.yaml|' \
	     -e 's|^\(  *socket:\).*|\1 "$(RUNDIR)/redis.sock"|' conf/gridrouted.yaml > $(RUNDIR)/gridrouted.yaml
	@$(BUILD)/gridrouted --check -c $(RUNDIR)/gridrouted.yaml
	@echo "== try, in another terminal:"
	@echo "   redis-cli -s $(RUNDIR)/redis.sock XADD gr:in:patrol '*' incident '{\"category\":\"urban_management\",\"unit\":\"xifeng/beijie/beidajie/g03\",\"title\":\"井盖缺失\"}'"
	@echo "   redis-cli -s $(RUNDIR)/redis.sock SUBSCRIBE gr:events"
	@echo "   redis-cli -s $(RUNDIR)/redis.sock XRANGE gr:out:assignments - +"
	@sed -e 's|^rules:.*|rules: $(CURDIR)/conf/rules.yaml|' \
	     -e 's|^\(  *socket:\).*|\1 "$(RUNDIR)/redis.sock"|' \
	     -e 's|^\(  *username:\).*|\1 ""|' -e 's|^\(  *password_file:\).*|\1 ""|' \
	     conf/gridweb.yaml > $(RUNDIR)/gridweb.yaml
	@$(BUILD)/gridweb --check -c $(RUNDIR)/gridweb.yaml >/dev/null
	@redis-server $(RUNDIR)/redis.conf --daemonize yes --pidfile $(RUNDIR)/redis.pid --logfile $(RUNDIR)/redis.log
	@$(BUILD)/gridweb -c $(RUNDIR)/gridweb.yaml 2> $(RUNDIR)/gridweb.log & echo $$! > $(RUNDIR)/gridweb.pid
	@echo "== gridweb, the dashboard: http://$$(sed -n 's/^  listen: "\(.*\)"/\1/p' $(RUNDIR)/gridweb.yaml)/ (log: $(RUNDIR)/gridweb.log)"
	@trap 'kill $$(cat $(RUNDIR)/gridweb.pid) $$(cat $(RUNDIR)/redis.pid) 2>/dev/null' EXIT INT TERM; \
		$(BUILD)/gridrouted -c $(RUNDIR)/gridrouted.yaml
