/*
 * test_config.c: the daemon config (SPEC §9): every default, the sample
 * file, every key set, each kind of mistake with its exact diagnostic
 * line, paths relative to the config's directory, and host:port parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define NAME   "/etc/gridroute/gridrouted.yaml"
#define SAMPLE "conf/gridrouted.yaml"
#define ERRORS "tests/unit/data/config_errors.yaml"

static char *format_all(const struct diags *d)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(d, &d->v[i]);
		buf_puts(&b, s);
		buf_putc(&b, '\n');
		free(s);
	}
	return buf_detach(&b);
}

/* Load yaml as name, failing on any diagnostic. Caller frees c. */
static void load_clean(const char *name, const char *yaml, struct config *c)
{
	struct diags d;
	int rc;

	diags_init(&d, name);
	rc = config_load_buf(name, yaml, strlen(yaml), c, &d);
	if (rc != 0 || d.n > 0) {
		diags_print(&d, stderr);
		if (rc == 0)
			config_free(c);
		diags_free(&d);
		fail_msg("expected a clean load, got rc %d", rc);
	}
	diags_free(&d);
}

/*
 * Load yaml as NAME: it must fail with exactly the expected diagnostics,
 * given one per line without the leading "NAME:". Everything is freed
 * before a failure is reported (no leak on failure).
 */
static void check_err(const char *yaml, const char *lines)
{
	struct diags d;
	struct config c;
	struct buf want;
	char *got, *expected;
	int rc;
	bool ok;

	buf_init(&want);
	for (const char *l = lines; *l != '\0';) {
		const char *nl = strchr(l, '\n');
		size_t n = nl != NULL ? (size_t)(nl - l) + 1 : strlen(l);
		buf_printf(&want, "%s:%.*s", NAME, (int)n, l);
		l += n;
	}
	expected = buf_detach(&want);
	diags_init(&d, NAME);
	rc = config_load_buf(NAME, yaml, strlen(yaml), &c, &d);
	got = format_all(&d);
	ok = strcmp(got, expected) == 0;
	if (!ok)
		print_error("diagnostics differ\n--- got:\n%s--- expected:\n%s", got, expected);
	if (rc != -1) {
		print_error("config_load_buf returned %d, expected -1\n", rc);
		config_free(&c);
		ok = false;
	}
	free(got);
	free(expected);
	diags_free(&d);
	if (!ok)
		fail();
}

static void assert_defaults_except_paths(const struct config *c)
{
	assert_string_equal(c->redis_host, "127.0.0.1");
	assert_int_equal(c->redis_port, 6379);
	assert_string_equal(c->redis_socket, "");
	assert_int_equal(c->redis_db, 0);
	assert_string_equal(c->redis_username, "");
	assert_string_equal(c->redis_password_file, "");
	assert_int_equal(c->redis_nsentinels, 0);
	assert_string_equal(c->redis_master_name, "");
	assert_int_equal(c->redis_ncluster, 0);
	assert_string_equal(c->prefix, "gr:");
	assert_string_equal(c->group, "gridrouted");
	assert_string_equal(c->http_listen, "127.0.0.1:9464");
	assert_int_equal(c->log_format, LOG_FORMAT_LOGFMT);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->max_incident_bytes, 65536);
	assert_int_equal(c->batch, 256);
	assert_int_equal(c->block_ms, 1000);
	assert_int_equal(c->claim_idle_ms, 30000);
	assert_int_equal(c->max_deliveries, 5);
	assert_int_equal(c->tick_ms, 200);
	assert_int_equal(c->out_maxlen, 1000000);
	assert_int_equal(c->resolved_ms, 2592000000LL); /* 30d */
}

static void assert_hostname(const char *consumer)
{
	char host[256];

	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	host[sizeof(host) - 1] = '\0';
	assert_string_equal(consumer, host[0] != '\0' ? host : "gridrouted");
}

/* ---- defaults ---- */

static void test_defaults_empty_mapping(void **state)
{
	struct config c;

	(void)state;
	load_clean(NAME, "{}\n", &c);
	assert_string_equal(c.path, NAME);
	assert_defaults_except_paths(&c);
	assert_string_equal(c.rules, "/etc/gridroute/rules.yaml");
	assert_hostname(c.consumer);
	config_free(&c);

	/* an explicitly empty consumer is the hostname too */
	load_clean(NAME, "consumer: \"\"\n", &c);
	assert_hostname(c.consumer);
	config_free(&c);
}

static void test_config_defaults(void **state)
{
	struct config c;

	(void)state;
	memset(&c, 0, sizeof(c));
	config_defaults(&c);
	assert_defaults_except_paths(&c);
	assert_string_equal(c.rules, "rules.yaml");
	assert_string_equal(c.consumer, "");
	config_free(&c);
}

/* The sample sets every key to its default: it loads like an empty file. */
static void test_sample_config(void **state)
{
	struct diags d;
	struct config c;

	(void)state;
	diags_init(&d, SAMPLE);
	assert_int_equal(config_load(SAMPLE, &c, &d), 0);
	if (d.n > 0)
		diags_print(&d, stderr);
	assert_int_equal(d.n, 0);
	assert_string_equal(c.path, SAMPLE);
	assert_defaults_except_paths(&c);
	assert_string_equal(c.rules, "conf/rules.yaml");
	assert_hostname(c.consumer);
	config_free(&c);
	diags_free(&d);
}

static void test_every_key(void **state)
{
	struct config c;

	(void)state;
	load_clean(
	        NAME,
	        "redis:\n"
	        "  host: redis.example\n"
	        "  port: 6380\n"
	        "  socket: run/redis.sock\n"
	        "  db: 3\n"
	        "  username: gridroute\n"
	        "  password_file: secret/redis.pw\n"
	        "  sentinels: [\"10.0.0.11:26379\", \"[fd00::12]:26379\"]\n"
	        "  master_name: xifeng\n"
	        "prefix: \"gr:{xifeng}:\"\n"
	        "group: routers\n"
	        "consumer: node-1\n"
	        "rules: /srv/gridroute/rules.yaml\n"
	        "http: {listen: \"[::1]:9500\"}\n"
	        "log: {format: json, level: debug}\n"
	        "limits: {max_incident_bytes: 1024, batch: 10, block_ms: 50, claim_idle_ms: 100,\n"
	        "         max_deliveries: 1, tick_ms: 10}\n"
	        "retention: {out_maxlen: 5000, resolved: 1h30m}\n",
	        &c);
	assert_string_equal(c.redis_host, "redis.example");
	assert_int_equal(c.redis_port, 6380);
	assert_string_equal(c.redis_socket, "/etc/gridroute/run/redis.sock");
	assert_int_equal(c.redis_db, 3);
	assert_string_equal(c.redis_username, "gridroute");
	assert_string_equal(c.redis_password_file, "/etc/gridroute/secret/redis.pw");
	assert_int_equal(c.redis_nsentinels, 2);
	assert_string_equal(c.redis_sentinels[0], "10.0.0.11:26379");
	assert_string_equal(c.redis_sentinels[1], "[fd00::12]:26379");
	assert_string_equal(c.redis_master_name, "xifeng");
	assert_string_equal(c.prefix, "gr:{xifeng}:");
	assert_string_equal(c.group, "routers");
	assert_string_equal(c.consumer, "node-1");
	assert_string_equal(c.rules, "/srv/gridroute/rules.yaml");
	assert_string_equal(c.http_listen, "[::1]:9500");
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.max_incident_bytes, 1024);
	assert_int_equal(c.batch, 10);
	assert_int_equal(c.block_ms, 50);
	assert_int_equal(c.claim_idle_ms, 100);
	assert_int_equal(c.max_deliveries, 1);
	assert_int_equal(c.tick_ms, 10);
	assert_int_equal(c.out_maxlen, 5000);
	assert_int_equal(c.resolved_ms, 5400000);
	config_free(&c);

	/* "" disables the HTTP listener */
	load_clean(NAME, "http: {listen: \"\"}\n", &c);
	assert_string_equal(c.http_listen, "");
	config_free(&c);
}

/* ---- paths ---- */

static void test_relative_paths(void **state)
{
	struct config c;

	(void)state;
	load_clean(NAME, "redis: {password_file: pw}\nrules: ../rules/r.yaml\n", &c);
	assert_string_equal(c.redis_password_file, "/etc/gridroute/pw");
	assert_string_equal(c.rules, "/etc/gridroute/../rules/r.yaml");
	config_free(&c);

	load_clean(NAME, "redis: {password_file: /run/credentials/gridrouted/pw}\n", &c);
	assert_string_equal(c.redis_password_file, "/run/credentials/gridrouted/pw");
	config_free(&c);

	load_clean("conf/gridrouted.yaml", "redis: {password_file: \"\"}\n", &c);
	assert_string_equal(c.redis_password_file, "");
	assert_string_equal(c.rules, "conf/rules.yaml");
	config_free(&c);

	/* a config named without a directory: relative to the current one */
	load_clean("gridrouted.yaml", "redis: {password_file: pw}\n", &c);
	assert_string_equal(c.redis_password_file, "pw");
	assert_string_equal(c.rules, "rules.yaml");
	config_free(&c);
}

/* ---- mistakes ---- */

static void test_yaml_errors(void **state)
{
	(void)state;
	check_err("redis: {host: [a\n", "2:1: error: invalid YAML: did not find expected ',' "
	                                "or ']' while parsing a flow sequence\n");
	check_err("", "1:1: error: the file is empty: expected a mapping\n");
	check_err("- redis\n", "1:1: error: expected a mapping, got a list\n");
	check_err("prefix: a\n---\nprefix: b\n",
	          "3:1: error: a second YAML document: the file must hold one\n");
	check_err("prefix: a\nprefix: b\n", "2:1: error: duplicate key \"prefix\" (prefix)\n");
}

/* SPEC v2 §3, §9: no YAML tags in the daemon config either, on either reading path. */
static void test_yaml_tags(void **state)
{
	(void)state;
	check_err("prefix: !!str \"gr:\"\n", "1:9: error: YAML tags are not allowed (\"!!str\"): "
	                                     "write the value alone\n");
	check_err("redis: !!python/object:os.system {host: x}\n"
	          "log: {level: !foo info}\n",
	          "1:8: error: YAML tags are not allowed (\"!!python/object:os.system\"): write "
	          "the value alone\n"
	          "2:14: error: YAML tags are not allowed (\"!foo\"): write the value alone\n");
}

/* A diagnostic stays one line: the CR and LF of a quoted key are escaped. */
static void test_diagnostic_one_line(void **state)
{
	(void)state;
	check_err("\"pre\\r\\nfix\": x\n",
	          "1:1: error: unknown key \"pre\\r\\nfix\" (pre\\r\\nfix)\n");
	check_err("log: {\"level\\n\": debug}\n",
	          "1:7: error: unknown key \"level\\n\" (log.level\\n)\n");
}

static void test_unknown_keys(void **state)
{
	(void)state;
	check_err("redis: {host: localhost, prot: 6379}\n"
	          "colour: red\n"
	          "limits:\n"
	          "  batch: 10\n"
	          "  batchsize: 10\n",
	          "1:26: error: unknown key \"prot\" (redis.prot)\n"
	          "2:1: error: unknown key \"colour\" (colour)\n"
	          "5:3: error: unknown key \"batchsize\" (limits.batchsize)\n");
	/* a section's key at the top level, and the reverse */
	check_err("port: 6379\nredis: {prefix: x}\n",
	          "1:1: error: unknown key \"port\" (port)\n"
	          "2:9: error: unknown key \"prefix\" (redis.prefix)\n");
}

static void test_wrong_types(void **state)
{
	(void)state;
	check_err("redis: {port: [1], host: {a: 1}, db: ~}\n"
	          "prefix: ~\n"
	          "group: [a]\n"
	          "limits: {batch: x}\n"
	          "http: 5\n"
	          "log: ~\n"
	          "retention: {resolved: [30d]}\n"
	          "redis_extra: 1\n",
	          "1:15: error: expected an integer, got a list (redis.port)\n"
	          "1:26: error: expected a string, got a mapping (redis.host)\n"
	          "1:38: error: expected an integer, got null (redis.db)\n"
	          "2:9: error: expected a string, got null (prefix)\n"
	          "3:8: error: expected a string, got a list (group)\n"
	          "4:17: error: expected an integer from 1 to 10000, got \"x\" (limits.batch)\n"
	          "5:7: error: expected a mapping, got a scalar (http)\n"
	          "6:6: error: expected a mapping, got null (log)\n"
	          "7:23: error: expected a string, got a list (retention.resolved)\n"
	          "8:1: error: unknown key \"redis_extra\" (redis_extra)\n");
}

static void test_out_of_range(void **state)
{
	struct config c;

	(void)state;
	check_err("redis: {port: 0}\n",
	          "1:15: error: expected an integer from 1 to 65535, got \"0\" (redis.port)\n");
	check_err("redis: {port: 70000}\n",
	          "1:15: error: expected an integer from 1 to 65535, got \"70000\" (redis.port)\n");
	check_err("redis: {port: -1}\n",
	          "1:15: error: expected an integer from 1 to 65535, got \"-1\" (redis.port)\n");
	check_err(
	        "redis: {port: 6379.5}\n",
	        "1:15: error: expected an integer from 1 to 65535, got \"6379.5\" (redis.port)\n");
	check_err("limits: {max_incident_bytes: 63, batch: 0, tick_ms: 70000}\n"
	          "retention: {out_maxlen: 0}\n",
	          "1:30: error: expected an integer from 64 to 536870912, got \"63\" "
	          "(limits.max_incident_bytes)\n"
	          "1:41: error: expected an integer from 1 to 10000, got \"0\" (limits.batch)\n"
	          "1:53: error: expected an integer from 10 to 60000, got \"70000\" "
	          "(limits.tick_ms)\n"
	          "2:25: error: expected an integer from 1 to 1099511627776, got \"0\" "
	          "(retention.out_maxlen)\n");
	/* the bounds themselves are fine */
	load_clean(NAME, "redis: {port: 1}\n", &c);
	assert_int_equal(c.redis_port, 1);
	config_free(&c);
	load_clean(NAME, "redis: {port: 65535}\n", &c);
	assert_int_equal(c.redis_port, 65535);
	config_free(&c);
}

static void test_durations(void **state)
{
	(void)state;
	check_err("retention: {resolved: 0s}\n",
	          "1:23: error: duration \"0s\" must be greater than zero (retention.resolved)\n");
	check_err("retention: {resolved: 30 days}\n",
	          "1:23: error: invalid duration \"30 days\": expected a number and a unit "
	          "(ms, s, m, h, d), e.g. 500ms, 90s or 1h30m (retention.resolved)\n");
}

static void test_log(void **state)
{
	(void)state;
	check_err("log: {format: xml, level: trace}\n",
	          "1:15: error: expected logfmt or json, got \"xml\" (log.format)\n"
	          "1:27: error: expected debug, info, warn or error, got \"trace\" (log.level)\n");
}

static void test_http_listen(void **state)
{
	static const char *const bad[] = {"nohost",          "::1:9464",  "127.0.0.1:0",
	                                  "127.0.0.1:99999", "[::1]9464", "127.0.0.1:http"};
	char yaml[128], expected[512];

	(void)state;
	for (size_t i = 0; i < GR_NELEM(bad); i++) {
		snprintf(yaml, sizeof(yaml), "http: {listen: \"%s\"}\n", bad[i]);
		snprintf(expected, sizeof(expected),
		         "1:16: error: expected \"host:port\" (e.g. 127.0.0.1:9464 or [::1]:9464) "
		         "or \"\" to disable, got \"%s\" (http.listen)\n",
		         bad[i]);
		check_err(yaml, expected);
	}
}

static void test_sentinels(void **state)
{
	(void)state;
	check_err("redis: {sentinels: [\"10.0.0.11:26379\"]}\n",
	          "1:1: error: redis.sentinels needs redis.master_name: the name the "
	          "sentinels know the primary by\n");
	check_err("redis:\n"
	          "  master_name: xifeng\n"
	          "  sentinels: [\"a:1\", \"b\", \":26379\", 26379, \"c:0\", [\"d:1\"]]\n",
	          "3:22: error: expected \"host:port\", got \"b\" (redis.sentinels[1])\n"
	          "3:27: error: expected \"host:port\", got \":26379\" (redis.sentinels[2])\n"
	          "3:37: error: expected \"host:port\", got \"26379\" (redis.sentinels[3])\n"
	          "3:44: error: expected \"host:port\", got \"c:0\" (redis.sentinels[4])\n"
	          "3:51: error: expected a string, got a list (redis.sentinels[5])\n");
	check_err("redis: {sentinels: \"a:1\", master_name: m}\n",
	          "1:20: error: expected a list, got a scalar (redis.sentinels)\n");
}

/* SPEC §2 and §9: Redis Cluster seed nodes instead of a node of its own. */
static void test_cluster(void **state)
{
	struct config c;

	(void)state;
	load_clean(NAME,
	           "redis: {cluster: [\"127.0.0.1:7000\", \"[::1]:7001\", \"redis-3:7002\"], "
	           "socket: \"\"}\n"
	           "prefix: \"gr:{xifeng}:\"\n",
	           &c);
	assert_int_equal(c.redis_ncluster, 3);
	assert_string_equal(c.redis_cluster[0], "127.0.0.1:7000");
	assert_string_equal(c.redis_cluster[1], "[::1]:7001");
	assert_string_equal(c.redis_cluster[2], "redis-3:7002");
	assert_int_equal(c.redis_nsentinels, 0);
	config_free(&c);
	/* an empty list is no cluster: any prefix will do */
	load_clean(NAME, "redis: {cluster: []}\n", &c);
	assert_int_equal(c.redis_ncluster, 0);
	config_free(&c);

	check_err("redis:\n"
	          "  host: 127.0.0.1\n"
	          "  port: 6379\n"
	          "  socket: /run/redis.sock\n"
	          "  db: 2\n"
	          "  sentinels: [\"a:1\"]\n"
	          "  master_name: m\n"
	          "  cluster: [\"127.0.0.1:7000\", \"b\", \":7000\"]\n"
	          "prefix: \"gr:\"\n",
	          "2:9: error: redis.host cannot be given with redis.cluster: the node that "
	          "serves the prefix is found through the cluster's seed nodes (redis.host)\n"
	          "3:9: error: redis.port cannot be given with redis.cluster: the node that "
	          "serves the prefix is found through the cluster's seed nodes (redis.port)\n"
	          "4:11: error: redis.socket cannot be given with redis.cluster: the node that "
	          "serves the prefix is found through the cluster's seed nodes (redis.socket)\n"
	          "5:7: error: redis.db must be 0 with redis.cluster: Redis Cluster has only "
	          "database 0 (redis.db)\n"
	          "6:14: error: redis.sentinels cannot be given with redis.cluster: a cluster "
	          "fails over by itself (redis.sentinels)\n"
	          "8:31: error: expected \"host:port\", got \"b\" (redis.cluster[1])\n"
	          "8:36: error: expected \"host:port\", got \":7000\" (redis.cluster[2])\n"
	          "9:9: error: with redis.cluster the prefix needs a hash tag, such as "
	          "\"gr:{xifeng}:\", so that all its keys are in one slot; \"gr:\" has none "
	          "(prefix)\n");
	/* the default prefix has no hash tag either; a tag must be closed and not empty */
	check_err("redis: {cluster: [\"127.0.0.1:7000\"]}\n",
	          "1:18: error: with redis.cluster the prefix needs a hash tag, such as "
	          "\"gr:{xifeng}:\", so that all its keys are in one slot; the default \"gr:\" "
	          "has none (redis.cluster)\n");
	check_err("redis: {cluster: [\"127.0.0.1:7000\"]}\nprefix: \"gr:{}:\"\n",
	          "2:9: error: with redis.cluster the prefix needs a hash tag, such as "
	          "\"gr:{xifeng}:\", so that all its keys are in one slot; \"gr:{}:\" has none "
	          "(prefix)\n");
	check_err("redis: {cluster: \"127.0.0.1:7000\"}\nprefix: \"gr:{x}:\"\n",
	          "1:18: error: expected a list, got a scalar (redis.cluster)\n");
}

static void test_names(void **state)
{
	(void)state;
	check_err("prefix: \"gr: x\"\ngroup: \"\"\nconsumer: \"node 1\"\n",
	          "1:9: error: expected a non-empty name without spaces, got \"gr: x\" "
	          "(prefix)\n"
	          "2:8: error: expected a non-empty name without spaces, got \"\" (group)\n"
	          "3:11: error: expected a non-empty name without spaces, got \"node 1\" "
	          "(consumer)\n");
	check_err("rules: \"\"\n", "1:1: error: rules must name the rules file\n");
	check_err("redis: {master_name: \"my primary\"}\n",
	          "1:22: error: expected a non-empty name without spaces, got \"my primary\" "
	          "(redis.master_name)\n");
}

/* ---- the file ---- */

static void test_load_missing_file(void **state)
{
	struct diags d;
	struct config c;
	char *got;

	(void)state;
	diags_init(&d, "tests/unit/data/config_nonexistent.yaml");
	assert_int_equal(config_load("tests/unit/data/config_nonexistent.yaml", &c, &d), -1);
	got = format_all(&d);
	assert_string_equal(got, "tests/unit/data/config_nonexistent.yaml: error: cannot open: "
	                         "No such file or directory\n");
	free(got);
	diags_free(&d);
}

/* SPEC v2 §9: the config must be a regular file (a FIFO: test_yamlfast.c, ydoc_read_file). */
static void test_load_device(void **state)
{
	struct diags d;
	struct config c;
	char *got;

	(void)state;
	diags_init(&d, "/dev/null");
	assert_int_equal(config_load("/dev/null", &c, &d), -1);
	got = format_all(&d);
	assert_string_equal(got, "/dev/null: error: cannot read: a character device, not a regular "
	                         "file\n");
	free(got);
	diags_free(&d);
}

/* Every mistake in a file is reported, in line order. */
static void test_many_errors(void **state)
{
	struct diags d;
	struct config c;
	char *got;

	(void)state;
	diags_init(&d, ERRORS);
	assert_int_equal(config_load(ERRORS, &c, &d), -1);
	got = format_all(&d);
	assert_string_equal(
	        got,
	        ERRORS ":2:1: error: redis.sentinels needs redis.master_name: the name the "
	               "sentinels know the primary by\n" ERRORS
	               ":4:9: error: expected an integer from 1 to 65535, got \"0\" "
	               "(redis.port)\n" ERRORS
	               ":6:3: error: unknown key \"pasword_file\" (redis.pasword_file)\n" ERRORS
	               ":9:11: error: expected logfmt or json, got \"xml\" (log.format)\n" ERRORS
	               ":11:31: error: expected an integer from 10 to 60000, got \"fast\" "
	               "(limits.tick_ms)\n" ERRORS
	               ":12:23: error: duration \"0s\" must be greater than zero "
	               "(retention.resolved)\n");
	assert_int_equal(d.nerrors, 6);
	free(got);
	diags_free(&d);
}

/*
 * A file over the reader's buffer (1 MiB) must not be cut silently: a
 * mistake after the cut must still fail the load (or the size must).
 */
static void test_load_large_file(void **state)
{
	char path[] = "/tmp/gridroute-test-config-XXXXXX";
	struct diags d;
	struct config c;
	char line[1024];
	FILE *fp;
	int fd, rc;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	memset(line, 'x', sizeof(line));
	line[0] = '#';
	line[sizeof(line) - 1] = '\n';
	fputs("prefix: \"gr:\"\n", fp);
	for (int i = 0; i < 1100; i++)
		fwrite(line, 1, sizeof(line), fp);
	fputs("bogus: 1\n", fp);
	assert_int_equal(fclose(fp), 0);

	diags_init(&d, path);
	rc = config_load(path, &c, &d);
	unlink(path);
	if (rc == 0)
		config_free(&c);
	diags_free(&d);
	assert_int_equal(rc, -1);
}

/* ---- host:port ---- */

static void test_split_hostport(void **state)
{
	char host[64];
	int port;

	(void)state;
	assert_int_equal(config_split_hostport("127.0.0.1:9464", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9464);
	assert_int_equal(config_split_hostport("redis.example:6379", host, sizeof(host), &port), 0);
	assert_string_equal(host, "redis.example");
	assert_int_equal(port, 6379);
	assert_int_equal(config_split_hostport("[::1]:9464", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 9464);
	assert_int_equal(config_split_hostport("[fd00::12]:1", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fd00::12");
	assert_int_equal(port, 1);
	/* an empty host is allowed: the caller decides what it means */
	assert_int_equal(config_split_hostport(":65535", host, sizeof(host), &port), 0);
	assert_string_equal(host, "");
	assert_int_equal(port, 65535);
	assert_int_equal(config_split_hostport("[]:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "");

	/* missing or bad port */
	assert_int_equal(config_split_hostport("127.0.0.1", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("127.0.0.1:", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("h:0", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("h:65536", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("h:-1", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("h:80x", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("h:http", host, sizeof(host), &port), -1);
	/* IPv6 needs brackets, closed, then ':' */
	assert_int_equal(config_split_hostport("::1:80", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("[::1]80", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("[::1:80", host, sizeof(host), &port), -1);
	assert_int_equal(config_split_hostport("", host, sizeof(host), &port), -1);
	/* the host must fit, with its NUL */
	assert_int_equal(config_split_hostport("abcdefgh:80", host, 8, &port), -1);
	assert_int_equal(config_split_hostport("abcdefg:80", host, 8, &port), 0);
	assert_string_equal(host, "abcdefg");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults_empty_mapping),
	        cmocka_unit_test(test_config_defaults),
	        cmocka_unit_test(test_sample_config),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_relative_paths),
	        cmocka_unit_test(test_yaml_errors),
	        cmocka_unit_test(test_yaml_tags),
	        cmocka_unit_test(test_diagnostic_one_line),
	        cmocka_unit_test(test_unknown_keys),
	        cmocka_unit_test(test_wrong_types),
	        cmocka_unit_test(test_out_of_range),
	        cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_log),
	        cmocka_unit_test(test_http_listen),
	        cmocka_unit_test(test_sentinels),
	        cmocka_unit_test(test_cluster),
	        cmocka_unit_test(test_names),
	        cmocka_unit_test(test_load_missing_file),
	        cmocka_unit_test(test_load_device),
	        cmocka_unit_test(test_many_errors),
	        cmocka_unit_test(test_load_large_file),
	        cmocka_unit_test(test_split_hostport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
