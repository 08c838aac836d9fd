/*
 * test_webconfig.c: gridweb's config (SPEC §12): the daemon's format and
 * loader with gridweb's keys — the shared redis, prefix, rules and log,
 * its own web section — and every other key of the daemon refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define NAME   "/etc/gridroute/gridweb.yaml"
#define SAMPLE "conf/gridweb.yaml"

/* Loads yaml as gridweb's NAME; the diagnostics, one a line, into *out (caller frees). */
static int load(const char *yaml, struct config *c, char **out)
{
	struct diags d;
	struct buf b;

	diags_init(&d, NAME);
	int rc = config_load_buf_as(CONFIG_WEB, NAME, yaml, strlen(yaml), c, &d);
	buf_init(&b);
	buf_puts(&b, "");
	for (size_t i = 0; i < d.n; i++) {
		char *s = diag_format(&d, &d.v[i]);
		buf_printf(&b, "%s\n", s);
		free(s);
	}
	diags_free(&d);
	*out = buf_detach(&b);
	return rc;
}

static void test_defaults(void **state)
{
	struct config c;
	char *diag;

	(void)state;
	assert_int_equal(load("{}", &c, &diag), 0);
	assert_string_equal(diag, "");
	assert_int_equal(c.prog, CONFIG_WEB);
	assert_string_equal(c.web_listen, "127.0.0.1:9465");
	assert_string_equal(c.web_auth_file, "");
	assert_string_equal(c.redis_host, "127.0.0.1");
	assert_int_equal(c.redis_port, 6379);
	assert_string_equal(c.prefix, "gr:");
	assert_string_equal(c.rules, "/etc/gridroute/rules.yaml");
	assert_int_equal(c.log_format, LOG_FORMAT_LOGFMT);
	free(diag);
	config_free(&c);
}

static void test_every_key(void **state)
{
	struct config c;
	char *diag;

	(void)state;
	assert_int_equal(load("redis: {host: r.example, port: 6380, username: viewer,\n"
	                      "        password_file: viewer.pw, db: 2}\n"
	                      "prefix: \"gr:{xifeng}:\"\n"
	                      "rules: /srv/rules.yaml\n"
	                      "log: {format: json, level: debug}\n"
	                      "web: {listen: \"[::1]:8080\", auth_file: users}\n",
	                      &c, &diag),
	                 0);
	assert_string_equal(diag, "");
	assert_string_equal(c.redis_host, "r.example");
	assert_int_equal(c.redis_port, 6380);
	assert_string_equal(c.redis_username, "viewer");
	assert_string_equal(c.redis_password_file, "/etc/gridroute/viewer.pw");
	assert_int_equal(c.redis_db, 2);
	assert_string_equal(c.prefix, "gr:{xifeng}:");
	assert_string_equal(c.rules, "/srv/rules.yaml");
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_string_equal(c.web_listen, "[::1]:8080");
	/* relative to the config's folder, as every path of the format */
	assert_string_equal(c.web_auth_file, "/etc/gridroute/users");
	free(diag);
	config_free(&c);
}

/* The daemon's own keys are unknown here, and gridweb's are unknown to the daemon. */
static void test_other_programs_keys(void **state)
{
	struct config c;
	char *diag;

	(void)state;
	assert_int_equal(
	        load("http: {listen: \"\"}\ngroup: g\nweb: {listen: x, port: 1}\n", &c, &diag), -1);
	assert_non_null(strstr(diag, NAME ":1:1: error: unknown key \"http\""));
	assert_non_null(strstr(diag, NAME ":2:1: error: unknown key \"group\""));
	assert_non_null(strstr(diag, NAME ":3:15: error: expected \"host:port\""));
	assert_non_null(strstr(diag, NAME ":3:18: error: unknown key \"port\""));
	free(diag);

	struct diags d;
	const char *yaml = "web: {listen: \"127.0.0.1:1\"}\n";
	diags_init(&d, NAME);
	assert_int_equal(config_load_buf(NAME, yaml, strlen(yaml), &c, &d), -1);
	assert_int_equal(d.nerrors, 1);
	diags_free(&d);
}

static void test_sample(void **state)
{
	struct config c;
	struct diags d;

	(void)state;
	diags_init(&d, SAMPLE);
	assert_int_equal(config_load_as(CONFIG_WEB, SAMPLE, &c, &d), 0);
	assert_int_equal(d.n, 0);
	diags_free(&d);
	/* as shipped, the sample says what an empty file means */
	assert_string_equal(c.web_listen, "127.0.0.1:9465");
	assert_string_equal(c.web_auth_file, "");
	assert_string_equal(c.redis_username, "viewer");
	assert_string_equal(c.rules, "conf/rules.yaml");
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_other_programs_keys),
	        cmocka_unit_test(test_sample),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
