/*
 * gridweb.c: gridweb's command line (SPEC §12). Thin wiring: read the
 * config (gridrouted's format, gridweb's keys), the rules and the users
 * file, then either report on them (--check) or serve.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "rules.h"
#include "version.h"
#include "web.h"

#define DEFAULT_CONFIG "/etc/gridroute/gridweb.yaml"

static void usage(FILE *fp)
{
	fprintf(fp, "usage: gridweb [-c FILE] [--check] [--log-format logfmt|json]\n"
	            "               [--log-level debug|info|warn|error] [--version]\n"
	            "  -c, --config FILE   config (default " DEFAULT_CONFIG ")\n"
	            "      --check         validate the config, the rules and the users file, "
	            "then exit\n"
	            "      --log-format F  logfmt (default) or json; overrides log.format\n"
	            "      --log-level L   debug, info (default), warn or error; overrides "
	            "log.level\n"
	            "      --version       print the version and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check", no_argument, NULL, 'C'},
	        {"log-format", required_argument, NULL, 'F'},
	        {"log-level", required_argument, NULL, 'L'},
	        {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONFIG, *fmt = NULL, *lvl = NULL;
	bool do_check = false;
	enum log_format lf = LOG_FORMAT_LOGFMT;
	enum log_level ll = LOG_INFO;
	struct config cfg;
	struct diags d;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			do_check = true;
			break;
		case 'F':
			fmt = optarg;
			if (log_option_format("gridweb", fmt, &lf) < 0)
				return 2;
			break;
		case 'L':
			lvl = optarg;
			if (log_option_level("gridweb", lvl, &ll) < 0)
				return 2;
			break;
		case 'V':
			printf("gridweb %s\n", GRIDROUTE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "gridweb: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	diags_init(&d, path);
	if (config_load_as(CONFIG_WEB, path, &cfg, &d) < 0) {
		diags_print(&d, stderr);
		diags_free(&d);
		return 1;
	}
	diags_print(&d, stderr);
	diags_free(&d);
	if (fmt != NULL)
		cfg.log_format = lf;
	if (lvl != NULL)
		cfg.log_level = ll;
	log_init(cfg.log_format, cfg.log_level);

	/* the rules: on --check their diagnostics as gridctl check prints them */
	diags_init(&d, cfg.rules);
	struct rules *r = rules_load(cfg.rules, &d);
	if (do_check)
		diags_print(&d, stderr);
	else
		log_diags(&d);
	diags_free(&d);
	if (r == NULL) {
		if (!do_check)
			log_kv(LOG_ERROR, "rules_invalid", "rules", cfg.rules, NULL);
		config_free(&cfg);
		return 1;
	}
	struct web_auth *auth = NULL;
	if (cfg.web_auth_file[0] != '\0') {
		char err[512];
		auth = web_auth_load(cfg.web_auth_file, err, sizeof(err));
		if (auth == NULL) {
			if (do_check)
				fprintf(stderr, "%s\n", err);
			else
				log_kv(LOG_ERROR, "auth_file_invalid", "diagnostic", err, NULL);
			rules_free(r);
			config_free(&cfg);
			return 1;
		}
	}
	int rc = 0;
	if (do_check) {
		char summary[256];
		rules_summary(r, summary, sizeof(summary));
		printf("%s: OK: %s\n", cfg.rules, summary);
		if (auth != NULL)
			printf("%s: OK: %zu user(s)\n", cfg.web_auth_file, web_auth_users(auth));
	} else {
		rc = web_main(&cfg, r, auth);
	}
	web_auth_free(auth);
	rules_free(r);
	config_free(&cfg);
	return rc;
}
