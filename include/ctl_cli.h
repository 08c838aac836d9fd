/*
 * ctl_cli.h: what every gridctl command shares — the global options (where
 * Redis is, which key prefix, how to log in), the command being run (so
 * that every message names it), the one-line failure and usage reports,
 * option parsing that also accepts the global options after the command,
 * and a few argument and output helpers.
 */
#ifndef GR_CTL_CLI_H
#define GR_CTL_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "util.h"

#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2

#define CTL_DEFAULT_HOST   "127.0.0.1"
#define CTL_DEFAULT_PORT   6379
#define CTL_DEFAULT_PREFIX "gr:"
#define CTL_HOST_MAX       256

struct ctl;
struct redisContext;

struct ctl_cmd {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv); /* argv[0] is the command name */
	const char *args;                                 /* the synopsis after the name */
	const char *help;                                 /* one line */
	const char *detail; /* the options, one per line; may be NULL */
};

struct ctl {
	/* global options */
	char host[CTL_HOST_MAX];
	int port;
	const char *socket; /* NULL: TCP */
	const char *prefix;
	const char *user;          /* NULL: AUTH without a user name */
	const char *password_file; /* NULL: no AUTH */
	int64_t db;
	char **cluster; /* --cluster: the seed nodes "host:port"; host and port: the owner */
	size_t ncluster;

	const struct ctl_cmd *cmd;  /* the command being run, for messages */
	struct redisContext *rc;    /* owned by ctl_redis.c; NULL until connected */
	char **getopt_argv;         /* the argv ctl_getopt last parsed */
	int64_t default_timeout_ms; /* for ordinary commands */
};

void ctl_init(struct ctl *c);

/*
 * "gridctl CMD: <message>" on stderr; returns CTL_EXIT_FAIL so that a
 * command can "return ctl_fail(...)".
 */
int ctl_fail(const struct ctl *c, const char *fmt, ...) GR_PRINTF(2, 3);
/* "gridctl CMD: <message>" and the command's synopsis; returns CTL_EXIT_USAGE. */
int ctl_usage(const struct ctl *c, const char *fmt, ...) GR_PRINTF(2, 3);
/* "gridctl CMD: warning: <message>" on stderr. */
void ctl_warn(const struct ctl *c, const char *fmt, ...) GR_PRINTF(2, 3);

/*
 * getopt_long over the command's options and the global ones. Global
 * options are applied here and not returned. Returns the option's val,
 * -1 at the end of the options, or '?' after reporting a usage error
 * (unknown option, missing argument, bad global option value).
 */
int ctl_getopt(struct ctl *c, int argc, char **argv, const struct option *opts);

/*
 * Parse the global options before the command; *i is then the command's
 * index. --help and --version stop the parse with *special 'h' or 'V'.
 * Returns 0, or CTL_EXIT_USAGE after reporting.
 */
int ctl_global_options(struct ctl *c, int argc, char **argv, int *i, int *special);
/* The global options, as the usage text lists them. */
extern const char ctl_global_help[];

/* "127.0.0.1:6379", "[::1]:6379" or the socket path, for messages (with --cluster: the node). */
const char *ctl_where(const struct ctl *c, char *out, size_t outsz);

/* prefix + the formatted suffix; caller frees. */
char *ctl_key(const struct ctl *c, const char *fmt, ...) GR_PRINTF(2, 3);

/*
 * --wait[=SECONDS], called when ctl_getopt returned it: the value after
 * "=", else a plain number in the next argument ("--wait 30", which is
 * taken from argv), else the default of 10 s. SECONDS may have a fraction
 * or be a duration ("2m"). Returns 0, or CTL_EXIT_USAGE after reporting.
 */
#define CTL_WAIT_DEFAULT_MS 10000
int ctl_wait_option(struct ctl *c, int argc, char **argv, int64_t *ms);
/* --limit N: 1 .. 10^9; 0 or -1. */
int ctl_parse_limit(const char *arg, int64_t *n);

/* b to stdout (nothing for an empty buffer). */
void ctl_write(const struct buf *b);

/* A rules file; its diagnostics go to stderr (warnings too, if loud). NULL on error. */
struct rules;
struct rules *ctl_load_rules(const char *path, bool loud);

/* The whole of path, or stdin for "-"; 0, or -1 with errno. */
int ctl_read_file(const char *path, struct buf *b);

/*
 * Text a peer wrote, made safe for a terminal: C0 and C1 controls and DEL
 * become escapes ("\n", "\x1b"), so that nobody can move the cursor or set
 * colours with an incident title. Invalid UTF-8 bytes are escaped too.
 */
void ctl_put_clean(struct buf *b, const char *s, size_t len);

/*
 * Terminal columns of clean UTF-8 text (as ctl_put_clean leaves it): the
 * East Asian wide and fullwidth characters (汉字, 全角 punctuation, Hangul,
 * kana) count two, the others one.
 */
size_t ctl_columns(const char *s, size_t len);

/* "3m", "2h5m", "4d3h": the two largest units; negative as "-3m". */
#define CTL_AGE_BUFSZ 48
void ctl_age(int64_t ms, char out[CTL_AGE_BUFSZ]);

/* Colours only for a terminal, not for TERM=dumb, and not when NO_COLOR is set at all. */
bool ctl_use_colour(FILE *fp);

#endif
