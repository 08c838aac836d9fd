/*
 * web_html.c: escaping, words and times for gridweb's pages. Every text
 * that came from a report or a command goes through html_text, so a title
 * "<script>" is shown as those eight characters.
 */
#include <string.h>

#include "calendar.h"
#include "timeutil.h"
#include "web_html.h"

/* The length of the UTF-8 sequence at s[0..left), or 0 when it is not one. */
static size_t utf8_seq(const char *s, size_t left)
{
	unsigned char c = (unsigned char)s[0];
	size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;

	if (n == 0 || n > left || (n > 1 && !utf8_valid(s, n)))
		return 0;
	return n;
}

void html_text(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n = utf8_seq(s + i, len - i);

		if (n == 0) {
			buf_puts(b, "\xef\xbf\xbd");
			i++;
			continue;
		}
		if (n > 1) {
			buf_append(b, s + i, n);
		} else if (c == '&') {
			buf_puts(b, "&amp;");
		} else if (c == '<') {
			buf_puts(b, "&lt;");
		} else if (c == '>') {
			buf_puts(b, "&gt;");
		} else if (c == '"') {
			buf_puts(b, "&quot;");
		} else if (c == '\'') {
			buf_puts(b, "&#39;");
		} else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
			buf_puts(b, "\xef\xbf\xbd");
		} else {
			buf_putc(b, (char)c);
		}
		i += n;
	}
}

void html_puts(struct buf *b, const char *s)
{
	html_text(b, s, strlen(s));
}

void html_jstr(struct buf *b, const json_t *v)
{
	if (json_is_string(v) && json_string_length(v) > 0)
		html_text(b, json_string_value(v), json_string_length(v));
	else
		buf_putc(b, '-');
}

void html_url(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
			buf_putc(b, (char)c);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		}
	}
}

struct word {
	const char *code;
	const char *zh;
};

static const char *lookup(const struct word *w, size_t n, const char *code)
{
	if (code == NULL)
		return "-";
	for (size_t i = 0; i < n; i++) {
		if (strcmp(w[i].code, code) == 0)
			return w[i].zh;
	}
	return code;
}

static const struct word states[] = {
        {"open", "待签收"}, {"acked", "处置中"},    {"verifying", "待核查"}, {"returned", "已回退"},
        {"parked", "挂账"}, {"resolved", "已结案"}, {"cancelled", "已注销"},
};

static const struct word channels[] = {
        {"patrol", "巡查发现"},
        {"feedback", "居民反馈"},
        {"scheduled", "网上定排"},
        {"alert", "平台预警"},
};

static const struct word severities[] = {
        {"low", "低"},
        {"normal", "一般"},
        {"high", "高"},
        {"critical", "紧急"},
};

static const struct word events[] = {
        {"assigned", "派单"},
        {"escalated", "升级"},
        {"reassigned", "改级"},
        {"skipped", "跳过空缺层级"},
        {"acked", "签收"},
        {"resolved", "结案"},
        {"breached", "超期"},
        {"duplicate", "重复上报"},
        {"comment", "备注"},
        {"verify_requested", "提请核查"},
        {"reworked", "返工"},
        {"returned", "回退"},
        {"redispatched", "改派"},
        {"cancelled", "注销"},
        {"extension_requested", "申请延期"},
        {"extended", "延期"},
        {"extension_denied", "驳回延期"},
        {"parked", "挂账"},
        {"unparked", "解除挂账"},
        {"reopened", "重办"},
        {"urged", "催办"},
};

static const struct word reasons[] = {
        /* why a case moved (SPEC §6) */
        {"new", "新派单"},
        {"ack_timeout", "签收超时"},
        {"resolve_timeout", "处置超时"},
        {"manual", "督办上报"},
        {"reassign", "改级"},
        {"redispatch", "改派"},
        {"verify_failed", "核查未通过"},
        {"verify_timeout", "核查超时"},
        {"review_timeout", "回退审核超时"},
        {"park_expired", "挂账到期"},
        {"unpark", "解除挂账"},
        {"reopen", "重办"},
        {"return", "回退"},
        {"resolve", "处置完成"},
        /* why an entry was dead-lettered (SPEC §8) */
        {"too_large", "内容过大"},
        {"missing_payload", "缺少内容"},
        {"invalid_json", "JSON 格式错误"},
        {"invalid_field", "字段无效"},
        {"missing_field", "缺少必填字段"},
        {"unknown_category", "未知类别"},
        {"unknown_unit", "未知网格单元"},
        {"channel_mismatch", "渠道不符"},
        {"no_policy", "无匹配策略"},
        {"no_assignee", "无人可派"},
        {"unknown_incident", "未知案件"},
        {"not_authorized", "无权操作"},
        {"invalid_transition", "当前状态不允许"},
        {"unknown_op", "未知操作"},
        {"max_deliveries", "多次投递仍失败"},
        {"id_conflict", "编号冲突"},
};

static const struct word deadlines[] = {
        {"ack", "签收时限"},        {"resolve", "处置时限"}, {"verify", "核查时限"},
        {"review", "回退审核时限"}, {"case", "结案时限"},    {"parked_until", "挂账至"},
};

const char *web_state_name(const char *s)
{
	return lookup(states, GR_NELEM(states), s);
}

const char *web_channel_name(const char *s)
{
	return lookup(channels, GR_NELEM(channels), s);
}

const char *web_severity_name(const char *s)
{
	return lookup(severities, GR_NELEM(severities), s);
}

const char *web_event_name(const char *s)
{
	return lookup(events, GR_NELEM(events), s);
}

const char *web_reason_name(const char *s)
{
	return lookup(reasons, GR_NELEM(reasons), s);
}

const char *web_deadline_name(const char *s)
{
	return lookup(deadlines, GR_NELEM(deadlines), s);
}

void web_local_time(struct buf *b, const struct tz *z, int64_t ms, int64_t now)
{
	int64_t local = tz_local(z, ms), day = calendar_day_of(z, ms),
	        today = calendar_day_of(z, now);
	int64_t in_day = local - day * DAY_MS, y, ny;
	int mo, d, nmo, nd;

	time_civil_from_days(day, &y, &mo, &d);
	time_civil_from_days(today, &ny, &nmo, &nd);
	if (day == today)
		buf_puts(b, "今天 ");
	else if (y != ny)
		buf_printf(b, "%lld年%d月%d日 ", (long long)y, mo, d);
	else
		buf_printf(b, "%d月%d日 ", mo, d);
	buf_printf(b, "%02d:%02d", (int)(in_day / 3600000), (int)(in_day / 60000 % 60));
}

void web_duration(struct buf *b, int64_t ms)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{DAY_MS, "天"}, {3600000, "小时"}, {60000, "分"}, {1000, "秒"}};
	int shown = 0;

	if (ms < 0)
		ms = -ms;
	for (size_t i = 0; i < GR_NELEM(units) && shown < 2; i++) {
		int64_t n = ms / units[i].ms;
		if (n == 0 && shown == 0)
			continue;
		if (n > 0)
			buf_printf(b, "%lld%s", (long long)n, units[i].unit);
		ms -= n * units[i].ms;
		shown++;
	}
	if (shown == 0)
		buf_puts(b, "0秒");
}

void web_left(struct buf *b, int64_t deadline, int64_t now)
{
	buf_puts(b, deadline >= now ? "剩 " : "超时 ");
	web_duration(b, deadline - now);
}

void web_rate(struct buf *b, const json_t *rate)
{
	if (!json_is_number(rate)) {
		buf_putc(b, '-');
		return;
	}
	buf_printf(b, "%.1f%%", json_number_value(rate) * 100.0);
}
