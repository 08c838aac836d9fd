/*
 * main.c: gridrouted's command line. Thin wiring: read the config and
 * the rules, then either report on them (--check) or run the daemon.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "rules.h"
#include "version.h"

#define DEFAULT_CONFIG "/etc/gridroute/gridrouted.yaml"

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: gridrouted [-c FILE] [--check] [--foreground] [--log-format logfmt|json]\n"
	        "                  [--log-level debug|info|warn|error] [--version]\n"
	        "  -c, --config FILE   daemon config (default " DEFAULT_CONFIG ")\n"
	        "      --check         validate the config and the rules file, then exit\n"
	        "      --foreground    stay in the foreground (gridrouted always does)\n"
	        "      --log-format F  logfmt (default) or json; overrides log.format\n"
	        "      --log-level L   debug, info (default), warn or error; overrides log.level\n"
	        "      --version       print the version and exit\n");
}

/* Prints diagnostics; on success the rules' OK line. Exit code per SPEC §9. */
static int check(const struct config *cfg)
{
	struct diags d;
	struct rules *r;
	char summary[256];

	diags_init(&d, cfg->rules);
	r = rules_load(cfg->rules, &d);
	diags_print(&d, stderr);
	diags_free(&d);
	if (r == NULL)
		return 1;
	char err[512];
	if (config_check_notify(cfg, tz_name(r->tz), err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		rules_free(r);
		return 1;
	}
	rules_summary(r, summary, sizeof(summary));
	printf("%s: OK: %s\n", cfg->rules, summary);
	rules_free(r);
	return 0;
}

int daemon_main(struct config *cfg);

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check", no_argument, NULL, 'C'},
	        {"foreground", no_argument, NULL, 'f'},
	        {"log-format", required_argument, NULL, 'F'},
	        {"log-level", required_argument, NULL, 'L'},
	        {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONFIG, *fmt = NULL, *lvl = NULL;
	bool do_check = false;
	enum log_format lf;
	enum log_level ll;
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
		case 'f':
			break;
		case 'F':
			fmt = optarg;
			if (log_option_format("gridrouted", fmt, &lf) < 0)
				return 2;
			break;
		case 'L':
			lvl = optarg;
			if (log_option_level("gridrouted", lvl, &ll) < 0)
				return 2;
			break;
		case 'V':
			printf("gridrouted %s\n", GRIDROUTE_VERSION);
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
		fprintf(stderr, "gridrouted: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	diags_init(&d, path);
	if (config_load(path, &cfg, &d) < 0) {
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

	int rc = do_check ? check(&cfg) : daemon_main(&cfg);
	config_free(&cfg);
	return rc;
}
