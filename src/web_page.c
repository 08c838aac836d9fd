/*
 * web_page.c: the HTML of gridweb's pages. Everything from Redis is text
 * to html_text; the only markup is written here. No inline script or
 * style (the Content-Security-Policy forbids both): the look is
 * /static/gridweb.css, the live updates /static/gridweb.js.
 */
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"
#include "web_html.h"
#include "web_page.h"

#define PAYLOAD_SHOWN 4096 /* bytes of a dead letter's payload on the page (the API has all) */

static const struct {
	const char *page, *href, *name;
} nav[] = {
        {"overview", "/", "总览"},
        {"incidents", "/incidents", "案件"},
        {"report", "/report", "月度考核"},
        {"deadletters", "/deadletters", "异常消息"},
};

static const char *district(const struct rules *r)
{
	for (size_t u = 0; u < r->nunits; u++) {
		if (r->units[u].parent < 0)
			return r->units[u].name;
	}
	return "";
}

static void head(struct buf *b, const struct wp_view *v, const char *title)
{
	buf_puts(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
	            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	            "<title>");
	html_puts(b, title);
	buf_puts(b, " · ");
	html_puts(b, district(v->r));
	buf_puts(b, "网格化服务管理指挥中心</title>"
	            "<link rel=\"stylesheet\" href=\"/static/gridweb.css\">"
	            "<link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">"
	            "<script src=\"/static/gridweb.js\" defer></script>"
	            /* without the script, the page reloads itself instead */
	            "<noscript><meta http-equiv=\"refresh\" content=\"30\"></noscript>"
	            "</head>\n<body data-page=\"");
	html_puts(b, v->page);
	buf_puts(b, "\"><header class=\"top\"><a class=\"brand\" href=\"/\">");
	html_puts(b, district(v->r));
	buf_puts(b, "网格化服务管理指挥中心</a><nav>");
	for (size_t i = 0; i < GR_NELEM(nav); i++)
		buf_printf(b, "<a href=\"%s\"%s>%s</a>", nav[i].href,
		           strcmp(nav[i].page, v->page) == 0 ? " class=\"on\" aria-current=\"page\""
		                                             : "",
		           nav[i].name);
	buf_puts(b, "</nav><div class=\"status\"><span id=\"live\" class=\"live off\">"
	            "自动刷新</span><time id=\"clock\" data-tz=\"");
	html_puts(b, tz_name(v->r->tz));
	buf_puts(b, "\">");
	web_local_time(b, v->r->tz, v->now, v->now);
	buf_puts(b, "</time></div></header>\n<main>");
}

static void foot(struct buf *b, const struct wp_view *v)
{
	buf_puts(b, "</main>\n<footer id=\"updated\" data-live>数据更新于 ");
	web_local_time(b, v->r->tz, v->now, v->now);
	buf_puts(b, " · 时间为");
	html_puts(b, tz_name(v->r->tz));
	buf_puts(b, "</footer></body></html>\n");
}

static int64_t jtime(const json_t *v)
{
	int64_t ms;
	const char *s = json_string_value(v);

	if (s == NULL || time_parse_rfc3339(s, strlen(s), &ms) < 0)
		return TIME_NONE;
	return ms;
}

static void put_time(struct buf *b, const struct wp_view *v, const json_t *t)
{
	int64_t ms = jtime(t);

	if (ms == TIME_NONE) {
		buf_putc(b, '-');
		return;
	}
	buf_puts(b, "<time datetime=\"");
	html_jstr(b, t);
	buf_puts(b, "\">");
	web_local_time(b, v->r->tz, ms, v->now);
	buf_puts(b, "</time>");
}

/* The name, else the key; a small grey key after a name. */
static void put_named(struct buf *b, const json_t *o, bool with_key)
{
	const json_t *name = json_object_get(o, "name"), *key = json_object_get(o, "key");

	if (json_is_string(name)) {
		html_jstr(b, name);
		if (with_key && json_is_string(key)) {
			buf_puts(b, " <small>");
			html_jstr(b, key);
			buf_puts(b, "</small>");
		}
	} else {
		html_jstr(b, key);
	}
}

static void put_people(struct buf *b, const json_t *a)
{
	size_t i;
	json_t *p;

	if (json_array_size(a) == 0)
		buf_putc(b, '-');
	json_array_foreach(a, i, p)
	{
		if (i > 0)
			buf_puts(b, "、");
		const json_t *name = json_object_get(p, "name");
		html_jstr(b, json_is_string(name) ? name : json_object_get(p, "id"));
	}
}

/* "签收时限 剩 25分" with the class that colours it. */
static void put_deadline(struct buf *b, const struct wp_view *v, const json_t *d)
{
	int64_t at = jtime(json_object_get(d, "at"));

	if (!json_is_object(d) || at == TIME_NONE) {
		buf_putc(b, '-');
		return;
	}
	buf_printf(b, "<span class=\"%s\">",
	           json_is_true(json_object_get(d, "overdue")) ? "late"
	           : at - v->now < 3600000                     ? "soon"
	                                                       : "ok");
	html_jstr(b, json_object_get(d, "name"));
	buf_putc(b, ' ');
	web_left(b, at, v->now);
	buf_puts(b, "</span>");
}

static void put_int(struct buf *b, const json_t *o, const char *key)
{
	buf_printf(b, "%lld", (long long)json_integer_value(json_object_get(o, key)));
}

/* ---- the overview ------------------------------------------------------------ */

static void card(struct buf *b, const char *cls, const char *label, const char *href,
                 const char *num, const char *sub)
{
	buf_printf(b,
	           "<a class=\"card %s\" href=\"%s\"><span class=\"label\">%s</span>"
	           "<span class=\"num\">",
	           cls, href, label);
	html_puts(b, num);
	buf_puts(b, "</span>");
	if (sub != NULL) {
		buf_puts(b, "<span class=\"sub\">");
		html_puts(b, sub);
		buf_puts(b, "</span>");
	}
	buf_puts(b, "</a>");
}

/* Horizontal bars as SVG, each a link to the cases it counts. */
static void bars(struct buf *b, const char *id, const char *title, const json_t *rows,
                 const char *name_key, const char *code_key, const char *param)
{
	size_t i, n = json_array_size(rows);
	json_int_t max = 1;
	json_t *row;

	json_array_foreach(rows, i, row)
	{
		json_int_t c = json_integer_value(json_object_get(row, "count"));
		if (c > max)
			max = c;
	}
	buf_printf(b, "<section class=\"panel\" id=\"%s\" data-live><h2>%s</h2>", id, title);
	buf_printf(b, "<svg class=\"bars\" viewBox=\"0 0 600 %zu\" role=\"img\" aria-label=\"%s\">",
	           n * 44 + 4, title);
	json_array_foreach(rows, i, row)
	{
		json_int_t c = json_integer_value(json_object_get(row, "count"));
		double w = 380.0 * (double)c / (double)max;
		size_t y = i * 44 + 4;
		buf_printf(b, "<a href=\"/incidents?%s=", param);
		html_url(b, json_string_value(json_object_get(row, code_key)));
		buf_printf(b, "\"><text class=\"name\" x=\"0\" y=\"%zu\">", y + 27);
		html_jstr(b, json_object_get(row, name_key));
		buf_printf(b,
		           "</text><rect class=\"bar b-%zu\" x=\"130\" y=\"%zu\" width=\"%.1f\" "
		           "height=\"32\" rx=\"3\"/><text class=\"val\" x=\"%.1f\" y=\"%zu\">%lld"
		           "</text></a>",
		           i % 6, y, w < 2 ? 2.0 : w, 130 + (w < 2 ? 2.0 : w) + 10, y + 27,
		           (long long)c);
	}
	buf_puts(b, "</svg></section>");
}

/*
 * One event as a list item, coloured by its type: the live feed's links to
 * its case (link), a case's own timeline does not.
 */
static void event_item(struct buf *b, const struct wp_view *v, const json_t *ev, bool link)
{
	const json_t *inc = json_object_get(ev, "incident");

	buf_puts(b, "<li class=\"ev-");
	html_jstr(b, json_object_get(ev, "type"));
	buf_puts(b, "\">");
	put_time(b, v, json_object_get(ev, "at"));
	buf_puts(b, " <span class=\"type\">");
	html_jstr(b, json_object_get(ev, "type_name"));
	buf_puts(b, "</span> ");
	if (link && json_is_string(inc)) {
		buf_puts(b, "<a href=\"/incidents/");
		html_url(b, json_string_value(inc));
		buf_puts(b, "\">");
		html_jstr(b, inc);
		buf_puts(b, "</a> ");
	}
	html_jstr(b, json_object_get(ev, "text"));
	const json_t *note = json_object_get(ev, "note");
	if (json_is_string(note) && json_string_length(note) > 0) {
		buf_puts(b, " <q>");
		html_jstr(b, note);
		buf_puts(b, "</q>");
	}
	buf_puts(b, "</li>");
}

void wp_overview(struct buf *b, const struct wp_view *v, const json_t *s)
{
	char num[64], sub[128];
	struct buf rate;
	size_t i;
	json_t *row;

	head(b, v, "总览");
	buf_puts(b, "<section class=\"cards\" id=\"cards\" data-live>");
	snprintf(num, sizeof(num), "%lld",
	         (long long)json_integer_value(json_object_get(s, "open")));
	card(b, "", "在办案件", "/incidents", num, NULL);
	snprintf(num, sizeof(num), "%lld",
	         (long long)json_integer_value(json_object_get(s, "overdue")));
	card(b, json_integer_value(json_object_get(s, "overdue")) > 0 ? "alert" : "", "当前超时",
	     "/incidents?overdue=1", num, "已过应办时限，尚未办结");
	snprintf(num, sizeof(num), "%lld",
	         (long long)json_integer_value(json_object_get(s, "breaches_today")));
	card(b, json_integer_value(json_object_get(s, "breaches_today")) > 0 ? "warn" : "",
	     "今日超期", "/incidents?overdue=1", num, "末级仍未按时办理");
	buf_init(&rate);
	web_rate(&rate, json_object_get(s, "on_time_closure"));
	snprintf(sub, sizeof(sub), "本月结案 %lld 件，按期 %lld 件",
	         (long long)json_integer_value(json_object_get(s, "closed")),
	         (long long)json_integer_value(json_object_get(s, "closed_on_time")));
	card(b, "", "本月按期结案率", "/report", rate.data, sub);
	buf_free(&rate);
	buf_puts(b, "</section><div class=\"row\">");
	bars(b, "by-state", "在办案件 · 按状态", json_object_get(s, "by_state"), "name", "state",
	     "state");
	bars(b, "by-level", "在办案件 · 按层级", json_object_get(s, "by_level"), "level_name",
	     "level_key", "level");
	buf_puts(b, "</div><div class=\"row\"><section class=\"panel\" id=\"streets\" data-live>"
	            "<h2>各街道</h2><table><thead><tr><th>街道</th><th class=\"n\">在办</th>"
	            "<th class=\"n\">超时</th><th class=\"n\">本月结案</th>"
	            "<th class=\"n\">按期结案率</th></tr></thead><tbody>");
	json_array_foreach(json_object_get(s, "streets"), i, row)
	{
		const char *unit = json_string_value(json_object_get(row, "unit"));
		json_int_t overdue = json_integer_value(json_object_get(row, "overdue"));
		buf_puts(b, "<tr><td><a href=\"/incidents?unit=");
		html_url(b, unit != NULL ? unit : "");
		buf_puts(b, "\">");
		html_jstr(b, json_object_get(row, "name"));
		if (json_is_true(json_object_get(row, "direct")))
			buf_puts(b, "（直属）");
		buf_puts(b, "</a></td><td class=\"n\">");
		put_int(b, row, "open");
		buf_printf(b, "</td><td class=\"n%s\"><a href=\"/incidents?overdue=1&amp;unit=",
		           overdue > 0 ? " late" : "");
		html_url(b, unit != NULL ? unit : "");
		buf_printf(b, "\">%lld</a></td><td class=\"n\">", (long long)overdue);
		put_int(b, row, "closed");
		buf_puts(b, "</td><td class=\"n\">");
		web_rate(b, json_object_get(row, "on_time_closure"));
		buf_puts(b, "</td></tr>");
	}
	buf_puts(b, "</tbody></table></section><section class=\"panel\" id=\"feed\" data-live>"
	            "<h2>实时动态</h2>");
	if (json_array_size(json_object_get(s, "feed")) == 0)
		buf_puts(b, "<p class=\"empty\">本服务启动以来暂无新动态。</p>");
	buf_puts(b, "<ol class=\"feed\">");
	json_array_foreach(json_object_get(s, "feed"), i, row) event_item(b, v, row, true);
	buf_puts(b, "</ol></section></div>");
	foot(b, v);
}

/* ---- the cases ------------------------------------------------------------------- */

static void option(struct buf *b, const char *value, const char *label, const char *selected)
{
	buf_puts(b, "<option value=\"");
	html_puts(b, value);
	buf_putc(b, '"');
	if (strcmp(value, selected) == 0)
		buf_puts(b, " selected");
	buf_putc(b, '>');
	html_puts(b, label);
	buf_puts(b, "</option>");
}

static void filter_form(struct buf *b, const struct wp_view *v, const struct wm_filter *f)
{
	static const char *const states[] = {"open", "acked", "verifying", "returned", "parked"};
	const struct rules *r = v->r;

	buf_puts(b, "<form class=\"filters\" method=\"get\" action=\"/incidents\">"
	            "<label>状态 <select name=\"state\">");
	option(b, "", "全部", f->state);
	for (size_t i = 0; i < GR_NELEM(states); i++)
		option(b, states[i], web_state_name(states[i]), f->state);
	buf_puts(b, "</select></label><label>层级 <select name=\"level\">");
	option(b, "", "全部", f->level);
	for (size_t i = 0; i < r->nlevels; i++)
		option(b, r->levels[i].key, r->levels[i].name, f->level);
	buf_puts(b, "</select></label><label>类别 <select name=\"category\">");
	option(b, "", "全部", f->category);
	for (size_t i = 0; i < r->ncategories; i++)
		option(b, r->categories[i].key, r->categories[i].name, f->category);
	buf_puts(b, "</select></label><label>单元 <input name=\"unit\" list=\"units\" size=\"28\" "
	            "placeholder=\"编号前缀，如 ");
	for (size_t u = 0; u < r->nunits; u++) {
		if (r->units[u].parent >= 0 && r->units[r->units[u].parent].parent < 0) {
			html_puts(b, r->units[u].id);
			break;
		}
	}
	buf_puts(b, "\" value=\"");
	html_puts(b, f->unit);
	buf_puts(b, "\"></label><datalist id=\"units\">");
	/* the streets and communities: a datalist of every grid would be too long */
	size_t shown = 0;
	for (size_t u = 0; u < r->nunits && shown < 300; u++) {
		if (r->units[u].depth > 3)
			continue;
		buf_puts(b, "<option value=\"");
		html_puts(b, r->units[u].id);
		buf_puts(b, "\">");
		html_puts(b, r->units[u].name);
		buf_puts(b, "</option>");
		shown++;
	}
	buf_printf(b,
	           "</datalist><label class=\"check\"><input type=\"checkbox\" name=\"overdue\" "
	           "value=\"1\"%s> 只看超时</label><button type=\"submit\">筛选</button>"
	           "<a class=\"reset\" href=\"/incidents\">清除</a></form>",
	           f->overdue ? " checked" : "");
}

/* The query of the filters (escaped for an attribute), for the next page's link. */
static void filter_query(struct buf *b, const struct wm_filter *f)
{
	const struct {
		const char *name, *value;
	} q[] = {{"state", f->state},
	         {"level", f->level},
	         {"unit", f->unit},
	         {"category", f->category},
	         {"overdue", f->overdue ? "1" : ""}};

	for (size_t i = 0; i < GR_NELEM(q); i++) {
		if (q[i].value[0] == '\0')
			continue;
		buf_printf(b, "%s=", q[i].name);
		html_url(b, q[i].value);
		buf_puts(b, "&amp;");
	}
}

static void case_row(struct buf *b, const struct wp_view *v, const json_t *c)
{
	const char *id = json_string_value(json_object_get(c, "id"));

	buf_printf(b, "<tr%s><td><a href=\"/incidents/",
	           json_is_true(json_object_get(c, "overdue")) ? " class=\"overdue\"" : "");
	html_url(b, id != NULL ? id : "");
	buf_puts(b, "\">");
	html_jstr(b, json_object_get(c, "title"));
	buf_puts(b, "</a><small>");
	html_jstr(b, json_object_get(c, "id"));
	buf_puts(b, "</small></td><td>");
	put_named(b, json_object_get(c, "category"), false);
	buf_puts(b, "</td><td>");
	put_named(b, json_object_get(c, "unit"), false);
	buf_puts(b, "</td><td><span class=\"st st-");
	html_jstr(b, json_object_get(c, "state"));
	buf_puts(b, "\">");
	html_jstr(b, json_object_get(c, "state_name"));
	buf_puts(b, "</span></td><td>");
	html_jstr(b, json_object_get(c, "level_name"));
	buf_puts(b, "</td><td>");
	put_people(b, json_object_get(c, "assignees"));
	buf_puts(b, "</td><td>");
	put_deadline(b, v, json_object_get(c, "deadline"));
	buf_puts(b, "</td><td>");
	put_time(b, v, json_object_get(c, "created_at"));
	buf_puts(b, "</td></tr>");
}

void wp_incidents(struct buf *b, const struct wp_view *v, const json_t *list,
                  const struct wm_filter *f)
{
	const json_t *rows = json_object_get(list, "incidents"),
	             *next = json_object_get(list, "next");
	size_t i;
	json_t *c;

	head(b, v, "案件");
	buf_puts(b, "<h1>在办案件 <small>按上报时间，最早的在前</small></h1>");
	filter_form(b, v, f);
	buf_puts(b, "<section id=\"cases\" data-live>");
	if (json_array_size(rows) == 0) {
		buf_puts(b, "<p class=\"empty\">没有符合条件的在办案件。</p>");
	} else {
		buf_puts(b, "<table class=\"cases\"><thead><tr><th>案件</th><th>类别</th>"
		            "<th>网格单元</th><th>状态</th><th>层级</th><th>责任人</th>"
		            "<th>时限</th><th>上报时间</th></tr></thead><tbody>");
		json_array_foreach(rows, i, c) case_row(b, v, c);
		buf_puts(b, "</tbody></table>");
	}
	buf_printf(b, "<p class=\"pager\">本页 %zu 件", json_array_size(rows));
	if (json_is_string(next)) {
		buf_puts(b, " · <a rel=\"next\" href=\"/incidents?");
		filter_query(b, f);
		buf_puts(b, "after=");
		html_url(b, json_string_value(next));
		buf_puts(b, "\">下一页</a>");
	}
	buf_puts(b, "</p></section>");
	foot(b, v);
}

/* ---- one case ----------------------------------------------------------------------- */

static void dt(struct buf *b, const char *term)
{
	buf_printf(b, "<dt>%s</dt><dd>", term);
}

static void dd_text(struct buf *b, const char *term, const json_t *v)
{
	dt(b, term);
	html_jstr(b, v);
	buf_puts(b, "</dd>");
}

static void dd_json(struct buf *b, const char *term, const json_t *v)
{
	if (v == NULL || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0))
		return;
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	dt(b, term);
	if (s != NULL)
		html_puts(b, s);
	free(s);
	buf_puts(b, "</dd>");
}

void wp_incident(struct buf *b, const struct wp_view *v, const json_t *all)
{
	const json_t *c = json_object_get(all, "incident"), *doc = json_object_get(c, "doc");
	size_t i;
	json_t *x;
	char n[128];

	head(b, v, "案件详情");
	buf_puts(b, "<div id=\"case\" data-live><h1>");
	html_jstr(b, json_object_get(c, "title"));
	buf_puts(b, " <span class=\"st\">");
	html_jstr(b, json_object_get(c, "state_name"));
	buf_puts(b,
	         "</span></h1><div class=\"row\"><section class=\"panel\"><h2>基本信息</h2><dl>");
	dd_text(b, "编号", json_object_get(c, "id"));
	dt(b, "类别");
	put_named(b, json_object_get(c, "category"), true);
	buf_puts(b, "</dd>");
	dt(b, "网格单元");
	put_named(b, json_object_get(c, "unit"), true);
	const json_t *ru = json_object_get(c, "reported_unit");
	const json_t *uk = json_object_get(json_object_get(c, "unit"), "key");
	if (json_is_string(ru) && json_is_string(uk) && !json_equal(ru, uk)) {
		buf_puts(b, "（上报为 ");
		html_jstr(b, ru);
		buf_puts(b, "）");
	}
	buf_puts(b, "</dd>");
	dd_text(b, "来源渠道", json_object_get(c, "channel_name"));
	dd_text(b, "紧急程度", json_object_get(c, "severity_name"));
	dt(b, "当前层级");
	html_jstr(b, json_object_get(c, "level_name"));
	buf_puts(b, "</dd>");
	dt(b, "责任人");
	put_people(b, json_object_get(c, "assignees"));
	buf_puts(b, "</dd>");
	if (json_array_size(json_object_get(c, "co_assignees")) > 0) {
		dt(b, "协办");
		put_people(b, json_object_get(c, "co_assignees"));
		buf_puts(b, "</dd>");
	}
	if (json_array_size(json_object_get(c, "verifiers")) > 0) {
		dt(b, "核查人");
		put_people(b, json_object_get(c, "verifiers"));
		buf_puts(b, "</dd>");
	}
	dd_text(b, "策略", json_object_get(c, "policy"));
	dt(b, "上报时间");
	put_time(b, v, json_object_get(c, "created_at"));
	buf_puts(b, "</dd>");
	dt(b, "最近更新");
	put_time(b, v, json_object_get(c, "updated_at"));
	buf_puts(b, "</dd>");
	snprintf(n, sizeof(n), "合并上报 %lld 次 · 延期 %lld · 返工 %lld · 重办 %lld · 催办 %lld",
	         (long long)json_integer_value(json_object_get(c, "count")),
	         (long long)json_integer_value(json_object_get(c, "extensions")),
	         (long long)json_integer_value(json_object_get(c, "reworks")),
	         (long long)json_integer_value(json_object_get(c, "reopens")),
	         (long long)json_integer_value(json_object_get(c, "urges")));
	dt(b, "办理次数");
	buf_puts(b, n);
	if (json_is_true(json_object_get(c, "late")))
		buf_puts(b, " · <span class=\"late\">已逾期</span>");
	buf_puts(b, "</dd>");
	if (json_is_string(json_object_get(c, "resolved_at"))) {
		dt(b, "结案");
		put_time(b, v, json_object_get(c, "resolved_at"));
		buf_puts(b, " ");
		html_jstr(b, json_object_get(json_object_get(c, "resolved_by"), "name"));
		buf_puts(b, "</dd>");
	}
	const json_t *pe = json_object_get(c, "pending_extension");
	if (json_is_object(pe)) {
		dt(b, "待批延期");
		html_jstr(b, json_object_get(pe, "by"));
		buf_puts(b, " 申请至 ");
		put_time(b, v, json_object_get(pe, "until"));
		buf_puts(b, "：");
		html_jstr(b, json_object_get(pe, "note"));
		buf_puts(b, "</dd>");
	}
	if (json_is_string(json_object_get(doc, "detail")))
		dd_text(b, "详情", json_object_get(doc, "detail"));
	dd_json(b, "地点", json_object_get(doc, "location"));
	dd_json(b, "上报人", json_object_get(doc, "reporter"));
	dd_json(b, "附加属性", json_object_get(doc, "attrs"));
	buf_puts(b, "</dl></section><section class=\"panel\"><h2>时限</h2><table><tbody>");
	json_array_foreach(json_object_get(c, "deadlines"), i, x)
	{
		int64_t at = jtime(json_object_get(x, "at"));
		buf_puts(b, "<tr><th>");
		html_jstr(b, json_object_get(x, "name"));
		buf_puts(b, "</th><td>");
		put_time(b, v, json_object_get(x, "at"));
		buf_puts(b, "</td><td>");
		if (!json_is_true(json_object_get(x, "pending")))
			buf_puts(b, "<span class=\"muted\">不计</span>");
		else if (json_is_true(json_object_get(x, "overdue")))
			put_deadline(b, v, x);
		else if (at != TIME_NONE)
			put_deadline(b, v, x);
		buf_puts(b, "</td></tr>");
	}
	buf_puts(b, "</tbody></table><h2>责任链</h2><table class=\"chain\"><tbody>");
	json_array_foreach(json_object_get(all, "chain"), i, x)
	{
		bool cur = json_is_true(json_object_get(x, "current"));
		bool next = json_is_true(json_object_get(x, "next"));
		buf_printf(b, "<tr%s><th>%lld ", cur ? " class=\"current\"" : "",
		           (long long)json_integer_value(json_object_get(x, "level")));
		html_jstr(b, json_object_get(x, "level_name"));
		buf_puts(b, "</th><td>");
		if (json_is_true(json_object_get(x, "vacant")))
			buf_puts(b, "<span class=\"muted\">空缺（跳过）</span>");
		else
			put_people(b, json_object_get(x, "assignees"));
		buf_puts(b, "</td><td>");
		if (cur)
			buf_puts(b, "当前");
		else if (next)
			buf_puts(b, "<strong>下一级</strong>");
		if (json_is_string(json_object_get(x, "reached_at"))) {
			buf_puts(b, " 无人办理时 ");
			put_time(b, v, json_object_get(x, "reached_at"));
			buf_puts(b, " 升级至此");
		}
		buf_puts(b, "</td></tr>");
	}
	buf_puts(b, "</tbody></table></section></div><section class=\"panel\" id=\"timeline\">"
	            "<h2>处置记录</h2><ol class=\"feed timeline\">");
	json_array_foreach(json_object_get(all, "timeline"), i, x) event_item(b, v, x, false);
	buf_puts(b, "</ol></section></div>");
	foot(b, v);
}

/* ---- the month's report ------------------------------------------------------------------ */

void wp_report(struct buf *b, const struct wp_view *v, const json_t *rep)
{
	static const char *const rates[] = {"on_time_ack", "on_time_closure", "rework",
	                                    "extension",   "return",          "reopen"};
	const char *month = json_string_value(json_object_get(rep, "month"));
	size_t i;
	json_t *row;

	head(b, v, "月度考核");
	buf_puts(b, "<h1>月度考核 <small>按期结案率从低到高（红黑榜）</small></h1>"
	            "<form class=\"filters\" method=\"get\" action=\"/report\"><label>月份 "
	            "<input type=\"month\" name=\"month\" value=\"");
	html_puts(b, month != NULL ? month : "");
	buf_puts(b, "\"></label><button type=\"submit\">查看</button></form>"
	            "<section id=\"report\" data-live>");
	if (json_array_size(json_object_get(rep, "rows")) == 0) {
		buf_puts(b, "<p class=\"empty\">本月暂无考核数据。</p>");
	} else {
		buf_puts(b,
		         "<table class=\"report\"><thead><tr><th>单位</th><th class=\"n\">受理</th>"
		         "<th class=\"n\">签收</th><th class=\"n\">及时签收率</th>"
		         "<th class=\"n\">结案</th><th class=\"n\">按期结案</th>"
		         "<th class=\"n\">按期结案率</th><th class=\"n\">返工率</th>"
		         "<th class=\"n\">延期率</th><th class=\"n\">回退率</th>"
		         "<th class=\"n\">重办率</th><th class=\"n\">升级</th>"
		         "<th class=\"n\">超期</th></tr></thead><tbody>");
	}
	json_array_foreach(json_object_get(rep, "rows"), i, row)
	{
		const json_t *rt = json_object_get(row, "rates");
		buf_puts(b, "<tr><td>");
		const json_t *name = json_object_get(row, "name");
		html_jstr(b, json_is_string(name) ? name : json_object_get(row, "unit"));
		buf_puts(b, "<small>");
		html_jstr(b, json_object_get(row, "unit"));
		buf_puts(b, "</small></td><td class=\"n\">");
		put_int(b, row, "created");
		buf_puts(b, "</td><td class=\"n\">");
		put_int(b, row, "acked");
		buf_puts(b, "</td><td class=\"n\">");
		web_rate(b, json_object_get(rt, rates[0]));
		buf_puts(b, "</td><td class=\"n\">");
		put_int(b, row, "closed");
		buf_puts(b, "</td><td class=\"n\">");
		put_int(b, row, "closed_on_time");
		for (size_t k = 1; k < GR_NELEM(rates); k++) {
			buf_puts(b, "</td><td class=\"n\">");
			web_rate(b, json_object_get(rt, rates[k]));
		}
		buf_puts(b, "</td><td class=\"n\">");
		put_int(b, row, "escalated");
		buf_puts(b, "</td><td class=\"n\">");
		put_int(b, row, "breached");
		buf_puts(b, "</td></tr>");
	}
	if (json_array_size(json_object_get(rep, "rows")) > 0)
		buf_puts(b, "</tbody></table>");
	buf_puts(b, "</section>");
	foot(b, v);
}

/* ---- dead letters ------------------------------------------------------------------------ */

void wp_deadletters(struct buf *b, const struct wp_view *v, const json_t *dl)
{
	const json_t *rows = json_object_get(dl, "deadletters"),
	             *next = json_object_get(dl, "next");
	size_t i;
	json_t *d;

	head(b, v, "异常消息");
	buf_puts(b, "<h1>异常消息 <small>未能受理的上报和指令，最新的在前；处理见 gridctl "
	            "deadletter</small></h1><section id=\"deadletters\" data-live>");
	if (json_array_size(rows) == 0)
		buf_puts(b, "<p class=\"empty\">没有异常消息。</p>");
	else
		buf_puts(b, "<table class=\"dl\"><thead><tr><th>时间</th><th>原因</th><th>来源</th>"
		            "<th>说明</th><th>内容</th></tr></thead><tbody>");
	json_array_foreach(rows, i, d)
	{
		const json_t *payload = json_object_get(d, "payload");
		buf_puts(b, "<tr><td>");
		put_time(b, v, json_object_get(d, "at"));
		buf_puts(b, "<small>");
		html_jstr(b, json_object_get(d, "id"));
		buf_puts(b, "</small></td><td>");
		html_jstr(b, json_object_get(d, "reason_name"));
		buf_puts(b, "<small>");
		html_jstr(b, json_object_get(d, "reason"));
		buf_puts(b, "</small></td><td>");
		html_jstr(b, json_object_get(d, "source"));
		buf_puts(b, "<small>");
		html_jstr(b, json_object_get(d, "entry"));
		buf_puts(b, "</small></td><td>");
		html_jstr(b, json_object_get(d, "error"));
		buf_puts(b, "</td><td><pre>");
		size_t len = json_string_length(payload);
		if (json_is_string(payload)) {
			html_text(b, json_string_value(payload),
			          len < PAYLOAD_SHOWN ? len : PAYLOAD_SHOWN);
			if (len > PAYLOAD_SHOWN)
				buf_printf(b, "…（共 %zu 字节）", len);
		}
		buf_puts(b, "</pre></td></tr>");
	}
	if (json_array_size(rows) > 0)
		buf_puts(b, "</tbody></table>");
	if (json_is_string(next)) {
		buf_puts(b, "<p class=\"pager\"><a rel=\"next\" href=\"/deadletters?before=");
		html_url(b, json_string_value(next));
		buf_puts(b, "\">更早的</a></p>");
	}
	buf_puts(b, "</section>");
	foot(b, v);
}

void wp_error(struct buf *b, const struct wp_view *v, const char *title, const char *msg)
{
	head(b, v, title);
	buf_puts(b, "<section class=\"panel error\"><h1>");
	html_puts(b, title);
	buf_puts(b, "</h1><p>");
	html_puts(b, msg);
	buf_puts(b, "</p><p><a href=\"/\">返回总览</a></p></section>");
	foot(b, v);
}
