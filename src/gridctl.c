/*
 * gridctl.c: the operators' and admins' tool (SPEC §10). One table of
 * commands; each parses its own arguments. The commands that need no Redis
 * (check, explain, diff) live here; the others are in the ctl_*.c modules.
 * Exit 0 on success, 1 on failure with a one-line reason, 2 on usage
 * errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_calendar.h"
#include "ctl_cli.h"
#include "ctl_deadletter.h"
#include "ctl_diff.h"
#include "ctl_migrate.h"
#include "ctl_redis.h"
#include "ctl_report.h"
#include "ctl_stats.h"
#include "ctl_submit.h"
#include "ctl_view.h"
#include "explain.h"
#include "rules.h"
#include "version.h"

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

static int cmd_check(struct ctl *c, int argc, char **argv)
{
	struct rules *r;
	char summary[256];

	/* no options of its own: anything ctl_getopt returns has been reported */
	if (ctl_getopt(c, argc, argv, NULL) != -1)
		return CTL_EXIT_USAGE;
	if (argc - optind != 1)
		return ctl_usage(c, "expected one rules file");
	r = ctl_load_rules(argv[optind], true);
	if (r == NULL)
		return CTL_EXIT_FAIL;
	rules_summary(r, summary, sizeof(summary));
	printf("%s: OK: %s\n", argv[optind], summary);
	rules_free(r);
	return 0;
}

static int cmd_explain(struct ctl *c, int argc, char **argv)
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

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 'c':
			if (channel_parse(optarg, &o.channel) < 0)
				return ctl_usage(
				        c,
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
				return ctl_usage(c,
				                 "--at: expected an RFC 3339 time such as "
				                 "2026-11-26T12:00:00+08:00, got \"%s\"",
				                 optarg);
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return ctl_usage(c, "expected a rules file and an incident file");
	buf_init(&in);
	if (ctl_read_file(argv[optind + 1], &in) < 0) {
		rc = ctl_fail(c, "%s: %s", argv[optind + 1], strerror(errno));
		buf_free(&in);
		return rc;
	}
	r = ctl_load_rules(argv[optind], true);
	if (r == NULL) {
		buf_free(&in);
		return CTL_EXIT_FAIL;
	}
	buf_init(&out);
	rc = explain_incident(r, in.data != NULL ? in.data : "", in.len, &o, &out, &rj);
	if (rc == 0)
		ctl_write(&out);
	else
		ctl_fail(c, "%s: %s: %s", argv[optind + 1], reason_code(rj.reason), rj.msg);
	buf_free(&out);
	buf_free(&in);
	rules_free(r);
	return rc == 0 ? 0 : CTL_EXIT_FAIL;
}

static int cmd_diff(struct ctl *c, int argc, char **argv)
{
	struct rules *before, *after;
	struct ctl_diff d;
	struct buf out;

	/* no options of its own: anything ctl_getopt returns has been reported */
	if (ctl_getopt(c, argc, argv, NULL) != -1)
		return CTL_EXIT_USAGE;
	if (argc - optind != 2)
		return ctl_usage(c, "expected two rules files, OLD and NEW");
	/* both are loaded, so that the mistakes of both are reported at once */
	before = ctl_load_rules(argv[optind], false);
	after = ctl_load_rules(argv[optind + 1], false);
	if (before == NULL || after == NULL) {
		ctl_fail(c, "%s is not valid; nothing compared",
		         before == NULL ? argv[optind] : argv[optind + 1]);
		rules_free(before);
		rules_free(after);
		return CTL_EXIT_FAIL;
	}
	buf_init(&out);
	ctl_diff_rules(before, after, &d, &out);
	ctl_diff_summary(&d, &out);
	buf_putc(&out, '\n');
	ctl_write(&out);
	buf_free(&out);
	rules_free(before);
	rules_free(after);
	return 0;
}

static int cmd_help(struct ctl *c, int argc, char **argv);

#define OP_DETAIL                                                                                  \
	"  --by PERSON       who acts (a people id of the rules; required)\n"                      \
	"  --note TEXT       a note kept with the event\n"                                         \
	"  --wait[=SECONDS]  wait (default 10 s) for the event or the dead letter:\n"              \
	"                    exit 0 on the event, 1 on a dead letter or timeout\n"

static const struct ctl_cmd cmds[] = {
        {"submit", ctl_cmd_submit, "CHANNEL [FILE|-] [--wait[=SECONDS]]",
         "report an incident (JSON from FILE or stdin) on a channel's stream",
         "  CHANNEL           patrol, feedback, scheduled or alert\n"
         "  --wait[=SECONDS]  wait (default 10 s) for the first assignment or the dead\n"
         "                    letter: exit 0 on the assignment, 1 on a dead letter or\n"
         "                    timeout\n"
         "prints the entry id and the incident id (the document's \"id\", else\n"
         "CHANNEL-ENTRY)\n"},
        {"ack", ctl_cmd_op, "ID --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "acknowledge an incident (签收)", OP_DETAIL},
        {"resolve", ctl_cmd_op, "ID --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "report the work done (处置完成): closed, or verified first when the policy says so",
         OP_DETAIL},
        {"escalate", ctl_cmd_op, "ID --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "escalate an incident to the next level now (督办)", OP_DETAIL},
        {"reassign", ctl_cmd_op, "ID --level KEY --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "assign an incident to another level (改级)",
         "  --level KEY       the level key to assign to (required)\n" OP_DETAIL},
        {"comment", ctl_cmd_op, "ID --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "add a comment to an incident's timeline (备注)", OP_DETAIL},
        {"return", ctl_cmd_op, "ID --by PERSON --note TEXT [--wait[=SECONDS]]",
         "return a case to the dispatchers (回退), with the reason",
         "  (a current assignee; from open or acked)\n" OP_DETAIL},
        {"redispatch", ctl_cmd_op,
         "ID --by PERSON [--unit U] [--category C] [--note TEXT] [--wait[=SECONDS]]",
         "send a case to another unit or category (改派), routed again like a new report",
         "  --unit U          the new unit (a unit id of the rules)\n"
         "  --category C      the new category\n"
         "  (a dispatcher; from open, acked or returned)\n" OP_DETAIL},
        {"cancel", ctl_cmd_op, "ID --by PERSON --note TEXT [--wait[=SECONDS]]",
         "cancel a case (注销), with the reason",
         "  (a dispatcher; from open, acked, returned or parked)\n" OP_DETAIL},
        {"extend", ctl_cmd_op,
         "ID --by PERSON (--until TIME|--for DURATION) --note TEXT [--wait[=SECONDS]]",
         "extend the resolve deadline (延期): asked by an assignee, granted by someone above "
         "or a dispatcher",
         "  --until TIME      the new deadline (RFC 3339, e.g. 2026-12-05T17:30:00+08:00)\n"
         "  --for DURATION    the resolve deadline plus this (2h, 1d, 2wd: working time)\n"
         "  (from open or acked)\n" OP_DETAIL},
        {"approve", ctl_cmd_op, "ID --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "grant the pending extension request (批准延期)",
         "  (someone above on the chain, or a dispatcher)\n" OP_DETAIL},
        {"deny", ctl_cmd_op, "ID --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "refuse the pending extension request (驳回延期)",
         "  (someone above on the chain, or a dispatcher)\n" OP_DETAIL},
        {"park", ctl_cmd_op,
         "ID --by PERSON --note TEXT [--until TIME|--for DURATION] [--wait[=SECONDS]]",
         "park a case (挂账): its clock stops until unparked or until the time given",
         "  --until TIME      unpark by itself then (RFC 3339)\n"
         "  --for DURATION    unpark by itself after this (2h, 3d, 2wd)\n"
         "  (a dispatcher; from open, acked or returned)\n" OP_DETAIL},
        {"unpark", ctl_cmd_op, "ID --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "take a case off parking (解除挂账): back to its level, or to returned",
         "  (a dispatcher)\n" OP_DETAIL},
        {"verify", ctl_cmd_op,
         "ID --by PERSON (--passed|--failed) [--note TEXT] [--wait[=SECONDS]]",
         "verify a resolved case (核查): passed closes it (结案), failed sends it back (返工)",
         "  --passed          the work is done: the case is closed\n"
         "  --failed          it is not: rework at the same level\n"
         "  (a current verifier; from verifying)\n" OP_DETAIL},
        {"reopen", ctl_cmd_op, "ID --by PERSON --note TEXT [--wait[=SECONDS]]",
         "reopen a closed case (重办), back to its policy's first level",
         "  (a dispatcher; from resolved)\n" OP_DETAIL},
        {"urge", ctl_cmd_op, "ID --by PERSON [--note TEXT] [--wait[=SECONDS]]",
         "urge the people on a case (催办)",
         "  (someone above on the chain, or a dispatcher)\n" OP_DETAIL},
        {"show", ctl_cmd_show, "ID [--json]", "an incident's state and timeline",
         "  --json            {\"incident\": {...}, \"timeline\": [...]}\n"},
        {"ls", ctl_cmd_ls,
         "[--state S] [--unit PREFIX] [--level KEY] [--category C] [--overdue] [--limit N] "
         "[--json]",
         "open cases, oldest first (closed ones with --state)",
         "  --state S         open, acked, verifying, returned, parked (from gr:open), or\n"
         "                    resolved, cancelled (found by SCAN of every incident key)\n"
         "  --unit PREFIX     resolved unit under PREFIX (segment-wise)\n"
         "  --level KEY       current level\n"
         "  --category C      category\n"
         "  --overdue         the state's ack, resolve, verify or review deadline, or the\n"
         "                    case deadline, is past (breached or not)\n"
         "  --limit N         at most N incidents\n"
         "  --json            a JSON array\n"},
        {"tail", ctl_cmd_tail, "[--json]", "live events, one line each, until interrupted",
         "  --json            the event JSON, one per line\n"},
        {"deadletter", ctl_cmd_deadletter,
         "ls [--limit N] [--json] | show ENTRY [--json] | replay ENTRY | drop ENTRY",
         "dead letters: list, show, send back to the source stream, drop",
         "  ENTRY             the dead letter's id in the dead-letter stream\n"
         "  replay            writes the payload as a new entry of its source stream,\n"
         "                    prints the new id, then deletes the dead letter\n"},
        {"migrate", ctl_cmd_migrate, "--rules FILE [--group G]",
         "convert a store of gridroute 1 to this version's layout, in place",
         "  --rules FILE      the rules: they resolve each incident's unit\n"
         "  --group G         the daemons' consumer group (default gridrouted): migrate\n"
         "                    refuses while one of its consumers read in the last 10 s\n"
         "converts every incident whole (a run cut short is finished by the next),\n"
         "prints what it did, and writes schema 2 to the prefix's meta key\n"},
        {"report", ctl_cmd_report,
         "[--rules FILE] [--month YYYY-MM] [--unit PREFIX] [--by-kind KIND] [--category C] "
         "[--json|--csv]",
         "every unit's KPIs of a month (按期结案率 ...), worst first",
         "  --rules FILE      the rules: units' names, --by-kind, and the time zone of the\n"
         "                    current month\n"
         "  --month YYYY-MM   the month (default: the current one in the rules' zone,\n"
         "                    else Asia/Shanghai)\n"
         "  --unit PREFIX     only this unit and those below it (segment-wise)\n"
         "  --by-kind KIND    one row per unit of this kind (street, community ...)\n"
         "                    holding the units below it; needs --rules\n"
         "  --category C      count one category only\n"
         "  --json            {\"month\", \"rows\": [{\"unit\", \"name\", counters...,\n"
         "                    \"rates\": {...}}]}\n"
         "  --csv             a header line and one line per row: counters, then rates\n"
         "                    as fractions (empty for none)\n"
         "one row per unit with counts and per ancestor of one, its descendants summed\n"
         "in; rates are \"-\" where nothing was there to count; the worst on-time closure\n"
         "first, rows without closures last\n"},
        {"stats", ctl_cmd_stats, "[--json]",
         "stream lengths, consumer groups, open incidents, due backlog, dead letters", NULL},
        {"explain", cmd_explain, "RULES INCIDENT.json [--channel C] [--at TIME] [--json]",
         "which policy, unit, chain and deadlines an incident would get (no Redis)",
         "  --channel C       the channel it arrives on (default: its \"channel\", else\n"
         "                    patrol)\n"
         "  --at TIME         assign it at this RFC 3339 time (default: now)\n"
         "  --json            {\"policy\", \"unit\", ..., \"chain\": [...]}\n"
         "each level is assigned at its predecessor's ack deadline: its people are those\n"
         "on duty then (schedules), its deadlines in working time where the policy says\n"
         "so, counted from then\n"},
        {"check", cmd_check, "RULES", "validate a rules file, as gridrouted --check does", NULL},
        {"calendar", ctl_cmd_calendar, "RULES [--from DATE] [--days N]",
         "the working days and hours of the rules' calendar, date by date (no Redis)",
         "  --from DATE       the first date, YYYY-MM-DD (default: today in the calendar's\n"
         "                    zone)\n"
         "  --days N          how many dates (default 14)\n"
         "one line per date: the date, its weekday (Mon .. Sun), its working hours or\n"
         "\"not a working day\", and \"holiday\" or \"workday\" (调休) where the lists make it\n"
         "so\n"},
        {"schedule", ctl_cmd_schedule, "RULES [NAME] [--at TIME] [--days N]",
         "who is on duty when, by the rules' duty rosters (no Redis)",
         "  NAME              one schedule (default: every one, each under its name)\n"
         "  --at TIME         from this RFC 3339 time (default: now)\n"
         "  --days N          how many days on (default 7)\n"
         "one line per change, \"YYYY-MM-DD HH:MM\" in the rules' time zone: the people\n"
         "on duty from then, and an override's note (or \"override\")\n"},
        {"diff", cmd_diff, "OLD NEW",
         "what a rules edit changes: assignees, policies, people (no Redis)", NULL},
        {"help", cmd_help, "[COMMAND]", "this text, or one command's", NULL},
};

static void usage(FILE *fp)
{
	fprintf(fp, "usage: gridctl [--redis HOST:PORT|--socket PATH|--cluster HOST:PORT,...]\n"
	            "               [--prefix P] [--user U] [--password-file F] [--db N]\n"
	            "               COMMAND [ARGS]\n\n"
	            "commands:\n");
	for (size_t i = 0; i < GR_NELEM(cmds); i++)
		fprintf(fp, "  %-10s %s\n             %s\n", cmds[i].name, cmds[i].args,
		        cmds[i].help);
	fprintf(fp, "\n%s", ctl_global_help);
	fprintf(fp, "\nexit status: 0 success, 1 failure (one line on stderr says why), 2 usage "
	            "error.\n'gridctl COMMAND --help' describes one command.\n");
}

static void command_help(const struct ctl_cmd *cmd)
{
	printf("usage: gridctl [GLOBAL OPTIONS] %s %s\n  %s\n", cmd->name, cmd->args, cmd->help);
	if (cmd->detail != NULL)
		printf("\n%s", cmd->detail);
	printf("\n%s", ctl_global_help);
}

static const struct ctl_cmd *find_cmd(const char *name)
{
	for (size_t k = 0; k < GR_NELEM(cmds); k++) {
		if (strcmp(name, cmds[k].name) == 0)
			return &cmds[k];
	}
	return NULL;
}

static int cmd_help(struct ctl *c, int argc, char **argv)
{
	const struct ctl_cmd *cmd;

	if (argc == 1) {
		usage(stdout);
		return 0;
	}
	if (argc > 2)
		return ctl_usage(c, "expected at most one command");
	if ((cmd = find_cmd(argv[1])) == NULL)
		return ctl_usage(c, "unknown command \"%s\"", argv[1]);
	command_help(cmd);
	return 0;
}

int main(int argc, char **argv)
{
	const struct ctl_cmd *cmd;
	struct ctl c;
	int i, rc, special;

	ctl_init(&c);
	if ((rc = ctl_global_options(&c, argc, argv, &i, &special)) != 0)
		return rc;
	if (special == 'h') {
		usage(stdout);
		return 0;
	}
	if (special == 'V') {
		printf("gridctl %s\n", GRIDROUTE_VERSION);
		return 0;
	}
	if (i == argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if ((cmd = find_cmd(argv[i])) == NULL) {
		fprintf(stderr, "gridctl: unknown command \"%s\"\n", argv[i]);
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	c.cmd = cmd;
	if (cmd->run != cmd_help && wants_help(argc - i, argv + i)) {
		command_help(cmd);
		return 0;
	}
	rc = cmd->run(&c, argc - i, argv + i);
	ctl_redis_close(&c);
	if (fflush(stdout) != 0 && rc == 0)
		rc = ctl_fail(&c, "cannot write the output: %s", strerror(errno));
	return rc;
}
