/*
 * gridctl.c: the operators' and admins' tool (SPEC §10). One table of
 * commands; each parses its own arguments. Exit 0 on success, 1 on
 * failure with a one-line reason, 2 on usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "rules.h"
#include "version.h"

#define EXIT_USAGE 2

struct cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *args;
	const char *help;
};

static const struct cmd *current;

static int usage_error(const char *fmt, ...) GR_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gridctl %s: ", current->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: gridctl %s %s\n", current->name, current->args);
	return EXIT_USAGE;
}

static int fail(const char *fmt, ...) GR_PRINTF(1, 2);

static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gridctl %s: ", current->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

/* Loads a rules file, printing every diagnostic to stderr; NULL on error. */
static struct rules *load_rules(const char *path)
{
	struct diags d;
	struct rules *r;

	diags_init(&d, path);
	r = rules_load(path, &d);
	diags_print(&d, stderr);
	diags_free(&d);
	return r;
}

static int read_all(const char *path, struct buf *b)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[8192];
	size_t n;

	if (fp == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(b, chunk, n);
	int err = ferror(fp);
	if (fp != stdin)
		fclose(fp);
	return err ? -1 : 0;
}

static int cmd_check(int argc, char **argv)
{
	struct rules *r;
	char summary[256];

	if (argc != 2)
		return usage_error("expected one rules file");
	r = load_rules(argv[1]);
	if (r == NULL)
		return 1;
	rules_summary(r, summary, sizeof(summary));
	printf("%s: OK: %s\n", argv[1], summary);
	rules_free(r);
	return 0;
}

static int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"channel", required_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},
	        {"at", required_argument, NULL, 'a'},
	        {NULL, 0, NULL, 0},
	};
	struct explain_opts o = {.channel = CH_PATROL, .now = time_now_ms()};
	struct rejection rj;
	struct buf in, out;
	struct rules *r;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (channel_parse(optarg, &o.channel) < 0)
				return usage_error(
				        "--channel: expected patrol, feedback, scheduled or "
				        "alert, got \"%s\"",
				        optarg);
			o.channel_given = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'a':
			if (time_parse_rfc3339(optarg, strlen(optarg), &o.now) < 0)
				return usage_error("--at: expected an RFC 3339 time such as "
				                   "2026-11-26T12:00:00+08:00, got \"%s\"",
				                   optarg);
			break;
		default:
			return usage_error("unknown option");
		}
	}
	if (argc - optind != 2)
		return usage_error("expected a rules file and an incident file");
	buf_init(&in);
	if (read_all(argv[optind + 1], &in) < 0) {
		buf_free(&in);
		return fail("%s: %s", argv[optind + 1], strerror(errno));
	}
	r = load_rules(argv[optind]);
	if (r == NULL) {
		buf_free(&in);
		return 1;
	}
	buf_init(&out);
	rc = explain_incident(r, in.data != NULL ? in.data : "", in.len, &o, &out, &rj);
	if (rc == 0)
		fwrite(out.data, 1, out.len, stdout);
	else
		fail("%s: %s: %s", argv[optind + 1], reason_code(rj.reason), rj.msg);
	buf_free(&out);
	buf_free(&in);
	rules_free(r);
	return rc == 0 ? 0 : 1;
}

static const struct cmd cmds[] = {
        {"check", cmd_check, "RULES", "validate a rules file (as gridrouted --check does)"},
        {"explain", cmd_explain, "RULES INCIDENT.json [--channel C] [--at TIME] [--json]",
         "what the daemon would do with an incident: policy, unit, chain, deadlines"},
};

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: gridctl [--redis HOST:PORT|--socket PATH] [--prefix P] COMMAND [ARGS]\n\n"
	        "commands:\n");
	for (size_t i = 0; i < GR_NELEM(cmds); i++)
		fprintf(fp, "  %-9s %s\n            %s\n", cmds[i].name, cmds[i].args,
		        cmds[i].help);
	fprintf(fp, "\n'gridctl COMMAND --help' describes one command.\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("gridctl %s\n", GRIDROUTE_VERSION);
			return 0;
		}
		fprintf(stderr, "gridctl: unknown option \"%s\"\n", argv[i]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (i == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < GR_NELEM(cmds); k++) {
		if (strcmp(argv[i], cmds[k].name) != 0)
			continue;
		current = &cmds[k];
		if (wants_help(argc - i, argv + i)) {
			printf("usage: gridctl %s %s\n  %s\n", cmds[k].name, cmds[k].args,
			       cmds[k].help);
			return 0;
		}
		return cmds[k].run(argc - i, argv + i);
	}
	fprintf(stderr, "gridctl: unknown command \"%s\"\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
