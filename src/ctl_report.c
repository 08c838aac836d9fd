/*
 * ctl_report.c: `gridctl report`. Reads the month's units from
 * gr:kpiunits:<YYYY-MM> and their hashes in one pipeline, hands them to
 * kpi.c for the table, and prints it as text, JSON or CSV. Only reads:
 * the viewer user may run it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_redis.h"
#include "ctl_report.h"
#include "kpi.h"
#include "rules.h"
#include "tz.h"

#define DEFAULT_ZONE "Asia/Shanghai"
#define RATE_DIGITS  15 /* significant digits of a fraction, in JSON and CSV alike */

enum out_format { OUT_TEXT, OUT_JSON, OUT_CSV };

struct report_opts {
	const char *rules, *month;
	struct kpi_opts kpi;
	enum out_format format;
};

/* The columns of the text table: unit, name, the rates (the ranking), the counters. */
#define NCOLS (2 + KPI__RATES + KPI__COUNTERS)

/* Row i's text in column col (i == nrows: the header). */
static void cell_text(const struct kpi_report *rep, size_t i, size_t col, struct buf *b)
{
	const struct kpi_row *row = i < rep->nrows ? &rep->rows[i] : NULL;
	char pc[KPI_PERCENT_BUFSZ];

	if (col == 0) {
		buf_puts(b, row != NULL ? row->unit : "单位");
	} else if (col == 1) {
		const char *name = row != NULL ? row->name : "名称";
		ctl_put_clean(b, name != NULL ? name : "-", name != NULL ? strlen(name) : 1);
	} else if (col < 2 + KPI__RATES) {
		enum kpi_rate k = (enum kpi_rate)(col - 2);
		if (row == NULL) {
			buf_puts(b, kpi_rate_label(k));
		} else {
			kpi_percent(row->rate[k], pc);
			buf_puts(b, pc);
		}
	} else {
		enum kpi_counter k = (enum kpi_counter)(col - 2 - KPI__RATES);
		if (row == NULL)
			buf_puts(b, kpi_counter_label(k));
		else
			buf_printf(b, "%lld", (long long)row->n[k]);
	}
}

static void render_text(const struct kpi_report *rep, struct buf *out)
{
	size_t width[NCOLS] = {0};
	struct buf cell;

	buf_init(&cell);
	for (size_t i = 0; i <= rep->nrows; i++) {
		for (size_t col = 0; col < NCOLS; col++) {
			buf_reset(&cell);
			cell_text(rep, i, col, &cell);
			size_t w = ctl_columns(cell.data != NULL ? cell.data : "", cell.len);
			if (w > width[col])
				width[col] = w;
		}
	}
	buf_printf(out, "%s\n", rep->month);
	/* the header first, then the rows */
	for (size_t n = 0; n <= rep->nrows; n++) {
		size_t i = n == 0 ? rep->nrows : n - 1;
		for (size_t col = 0; col < NCOLS; col++) {
			buf_reset(&cell);
			cell_text(rep, i, col, &cell);
			size_t w = ctl_columns(cell.data != NULL ? cell.data : "", cell.len);
			if (col > 0)
				buf_puts(out, "  ");
			if (col >= 2)
				for (; w < width[col]; w++)
					buf_putc(out, ' ');
			buf_append(out, cell.data != NULL ? cell.data : "", cell.len);
			if (col < 2)
				for (; w < width[col]; w++)
					buf_putc(out, ' ');
		}
		buf_putc(out, '\n');
	}
	if (rep->nrows == 0)
		buf_printf(out, "(no KPI counts for %s)\n", rep->month);
	buf_free(&cell);
}

/* A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
static void csv_field(struct buf *b, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		buf_puts(b, s);
		return;
	}
	buf_putc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"')
			buf_putc(b, '"');
		buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

static void render_csv(const struct kpi_report *rep, struct buf *out)
{
	buf_puts(out, "unit,name");
	for (size_t k = 0; k < KPI__COUNTERS; k++)
		buf_printf(out, ",%s", kpi_counter_name((enum kpi_counter)k));
	for (size_t k = 0; k < KPI__RATES; k++)
		buf_printf(out, ",%s", kpi_rate_name((enum kpi_rate)k));
	buf_puts(out, "\r\n");
	for (size_t i = 0; i < rep->nrows; i++) {
		const struct kpi_row *row = &rep->rows[i];
		csv_field(out, row->unit);
		buf_putc(out, ',');
		csv_field(out, row->name != NULL ? row->name : "");
		for (size_t k = 0; k < KPI__COUNTERS; k++)
			buf_printf(out, ",%lld", (long long)row->n[k]);
		for (size_t k = 0; k < KPI__RATES; k++) {
			buf_putc(out, ',');
			if (row->rate[k] >= 0)
				buf_printf(out, "%.*g", RATE_DIGITS, row->rate[k]);
		}
		buf_puts(out, "\r\n");
	}
}

static int parse_options(struct ctl *c, int argc, char **argv, struct report_opts *o)
{
	static const struct option opts[] = {
	        {"rules", required_argument, NULL, 'r'},
	        {"month", required_argument, NULL, 'm'},
	        {"unit", required_argument, NULL, 'u'},
	        {"by-kind", required_argument, NULL, 'k'},
	        {"category", required_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},
	        {"csv", no_argument, NULL, 'v'},
	        {NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 'r':
			o->rules = optarg;
			break;
		case 'm':
			if (!kpi_month_valid(optarg))
				return ctl_usage(c, "--month: expected YYYY-MM, got \"%s\"",
				                 optarg);
			o->month = optarg;
			break;
		case 'u':
			if (!unit_id_valid(optarg, strlen(optarg)))
				return ctl_usage(c, "--unit: \"%s\" is not a unit id", optarg);
			o->kpi.unit = optarg;
			break;
		case 'k':
		case 'c':
			if (!key_valid(optarg, strlen(optarg)))
				return ctl_usage(c, "--%s: \"%s\" is not a %s key",
				                 ch == 'k' ? "by-kind" : "category", optarg,
				                 ch == 'k' ? "kind" : "category");
			*(ch == 'k' ? &o->kpi.by_kind : &o->kpi.category) = optarg;
			break;
		case 'j':
		case 'v':
			if (o->format != OUT_TEXT)
				return ctl_usage(c, "--json and --csv exclude each other");
			o->format = ch == 'j' ? OUT_JSON : OUT_CSV;
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return ctl_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (o->kpi.by_kind != NULL && o->rules == NULL)
		return ctl_usage(c, "--by-kind needs --rules (which unit is of which kind)");
	return 0;
}

/*
 * The month's hashes as read: the replies own the strings that hs borrows
 * through strs (every hash's fields, then its values).
 */
struct month_data {
	redisReply *units;
	redisReply **replies;
	struct kpi_hash *hs;
	size_t n;
	const char **strs;
};

/* 0, or the exit code after reporting. */
static int read_month(struct ctl *c, const char *month, struct month_data *m)
{
	char *key = ctl_key(c, "kpiunits:%s", month);
	redisReply *units = ctl_redis(c, "SMEMBERS", key, NULL);
	size_t total = 0, used = 0;

	free(key);
	if (units == NULL)
		return CTL_EXIT_FAIL;
	m->units = units;
	if (!ctl_reply_array(units))
		return ctl_fail(c, "unexpected reply to SMEMBERS %s", month);
	m->replies = xcalloc(units->elements + 1, sizeof(*m->replies));
	m->hs = xcalloc(units->elements + 1, sizeof(*m->hs));
	for (size_t i = 0; i < units->elements; i++) {
		if (!ctl_reply_string(units->element[i]))
			continue;
		char *hkey = ctl_key(c, "kpi:%s:%s", month, units->element[i]->str);
		const char *argv[] = {"HGETALL", hkey};
		ctl_redis_append(c, 2, argv, NULL);
		free(hkey);
		m->hs[m->n++].unit = units->element[i]->str;
	}
	for (size_t i = 0; i < m->n; i++) {
		redisReply *h = ctl_redis_next(c);
		if (h == NULL)
			return CTL_EXIT_FAIL;
		m->replies[i] = h;
		if (ctl_reply_error(h))
			return ctl_fail(c, "Redis: %s (HGETALL)", h->str);
		if (ctl_reply_array(h))
			total += h->elements;
	}
	m->strs = xcalloc(total + 1, sizeof(*m->strs));
	for (size_t i = 0; i < m->n; i++) {
		const redisReply *h = m->replies[i];
		struct kpi_hash *kh = &m->hs[i];
		size_t pairs = ctl_reply_array(h) ? h->elements / 2 : 0;
		const char **f = m->strs + used, **v = f + pairs;

		used += 2 * pairs;
		for (size_t j = 0; j < pairs; j++) {
			if (!ctl_reply_string(h->element[2 * j]) ||
			    !ctl_reply_string(h->element[2 * j + 1]))
				continue;
			f[kh->n] = h->element[2 * j]->str;
			v[kh->n++] = h->element[2 * j + 1]->str;
		}
		kh->fields = f;
		kh->values = v;
	}
	return 0;
}

static void month_data_free(struct month_data *m)
{
	for (size_t i = 0; m->replies != NULL && i < m->n; i++) {
		if (m->replies[i] != NULL)
			freeReplyObject(m->replies[i]);
	}
	free(m->strs);
	free(m->hs);
	free(m->replies);
	if (m->units != NULL)
		freeReplyObject(m->units);
}

int ctl_cmd_report(struct ctl *c, int argc, char **argv)
{
	struct report_opts o = {0};
	struct rules *r = NULL;
	struct month_data m = {0};
	struct kpi_report rep = {0};
	char month[8], err[256];
	int rc;

	if ((rc = parse_options(c, argc, argv, &o)) != 0)
		return rc;
	if (o.rules != NULL && (r = ctl_load_rules(o.rules, false)) == NULL)
		return CTL_EXIT_FAIL;
	if (o.month != NULL) {
		snprintf(month, sizeof(month), "%s", o.month);
	} else if (r != NULL) {
		kpi_month_of(r->tz, time_now_ms(), month);
	} else {
		struct tz *z = tz_load(DEFAULT_ZONE, err, sizeof(err));
		if (z == NULL) {
			rc = ctl_fail(c, "%s (give --month or --rules)", err);
			goto out;
		}
		kpi_month_of(z, time_now_ms(), month);
		tz_free(z);
	}
	if ((rc = ctl_redis_connect(c)) != 0 || (rc = ctl_store_check(c)) != 0)
		goto out;
	if ((rc = read_month(c, month, &m)) != 0)
		goto out;
	if (kpi_report_build(month, m.hs, m.n, r, &o.kpi, &rep, err, sizeof(err)) < 0) {
		rc = ctl_fail(c, "%s", err);
		goto out;
	}
	if (rep.malformed > 0)
		ctl_warn(
		        c,
		        "%zu unit ids, fields or values of the KPI hashes of %s could not be read: "
		        "left out",
		        rep.malformed, month);
	if (rep.outside > 0)
		ctl_warn(
		        c,
		        "%zu units counted in %s have no unit of kind \"%s\" above them: in no row",
		        rep.outside, month, o.kpi.by_kind);
	if (o.format == OUT_JSON) {
		json_t *doc = kpi_report_json(&rep);
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(RATE_DIGITS));
		fputc('\n', stdout);
		json_decref(doc);
	} else {
		struct buf out;
		buf_init(&out);
		if (o.format == OUT_CSV)
			render_csv(&rep, &out);
		else
			render_text(&rep, &out);
		ctl_write(&out);
		buf_free(&out);
	}
out:
	kpi_report_free(&rep);
	month_data_free(&m);
	rules_free(r);
	return rc;
}
