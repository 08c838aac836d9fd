/*
 * message.c: a notification's sentence, as a grid worker reads it on the
 * phone: where and what first (【北大街社区第三网格·城市管理】井盖缺失),
 * then what happened and who has it now, then what to do by when
 * (请于12月3日 20:30前签收). Times are local to the notification's zone;
 * a time in another year than now names its year.
 */
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "timeutil.h"

#define NOTE_MAX 200 /* bytes of a note quoted in a sentence */
#define DAY_MS   86400000LL

void msg_put_clean(struct buf *b, const char *s, size_t max)
{
	size_t len = strlen(s);
	bool cut = len > max;

	if (cut) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			buf_putc(b, ' ');
		} else if (c == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
		           ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
			buf_putc(b, ' ');
			i += 2;
		} else {
			buf_putc(b, (char)c);
		}
	}
	if (cut)
		buf_puts(b, "\xe2\x80\xa6");
}

const char *msg_name_sep(enum msg_lang lang)
{
	return lang == MSG_ZH_CN ? "\xe3\x80\x81" : ", ";
}

static void clean(struct buf *b, const char *s)
{
	msg_put_clean(b, s != NULL ? s : "", SIZE_MAX);
}

/* The local date and time of t in zone z. */
static void local_parts(const struct tz *z, int64_t t, int64_t *y, int *mo, int *d, int *h, int *mi)
{
	int64_t l = tz_local(z, t);
	int64_t days = l >= 0 ? l / DAY_MS : -((-l + DAY_MS - 1) / DAY_MS);
	int64_t ms = l - days * DAY_MS;

	time_civil_from_days(days, y, mo, d);
	*h = (int)(ms / 3600000);
	*mi = (int)(ms / 60000 % 60);
}

/* "12月3日 20:30", or "2027年1月4日 08:30" in another year than now. */
static void put_time(struct buf *b, enum msg_lang lang, const struct tz *z, int64_t t, int64_t now)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t y, ny;
	int mo, d, h, mi, nmo, nd, nh, nmi;

	local_parts(z, t, &y, &mo, &d, &h, &mi);
	local_parts(z, now, &ny, &nmo, &nd, &nh, &nmi);
	if (lang == MSG_ZH_CN) {
		if (y != ny)
			buf_printf(b, "%lld年", (long long)y);
		buf_printf(b, "%d月%d日 %02d:%02d", mo, d, h, mi);
	} else {
		buf_printf(b, "%s %d", months[mo - 1], d);
		if (y != ny)
			buf_printf(b, " %lld", (long long)y);
		buf_printf(b, " %02d:%02d", h, mi);
	}
}

/* The deadline clause: "，请于12月3日 20:30前签收。" */
static void put_deadline(struct buf *b, enum msg_lang lang, const struct tz *z, const struct msg *m)
{
	static const char *const zh[] = {"", "签收", "处置完成", "核查", "审核"};
	static const char *const en[] = {"", "acknowledge", "resolve", "verify", "review"};

	if (m->dl == MSG_DL_NONE) {
		buf_puts(b, lang == MSG_ZH_CN ? "。" : ".");
		return;
	}
	if (lang == MSG_ZH_CN) {
		buf_puts(b, "，请于");
		put_time(b, lang, z, m->dl_at, m->now);
		buf_printf(b, "前%s。", zh[m->dl]);
	} else {
		buf_printf(b, "; %s by ", en[m->dl]);
		put_time(b, lang, z, m->dl_at, m->now);
		buf_putc(b, '.');
	}
}

static bool is(const struct msg *m, const char *type)
{
	return strcmp(m->type, type) == 0;
}

static bool reason_is(const struct msg *m, const char *reason)
{
	return m->reason != NULL && strcmp(m->reason, reason) == 0;
}

/* "网格员刘洋" / "grid member 刘洋": a level and its people. */
static void put_level_names(struct buf *b, enum msg_lang lang, const struct msg *m)
{
	clean(b, m->level_name);
	if (m->names != NULL && m->names[0] != '\0') {
		if (lang == MSG_EN)
			buf_putc(b, ' ');
		clean(b, m->names);
	}
}

static void put_note(struct buf *b, const struct msg *m, const char *before)
{
	if (m->note != NULL && m->note[0] != '\0') {
		buf_puts(b, before);
		msg_put_clean(b, m->note, NOTE_MAX);
	}
}

static void zh_body(struct buf *b, const struct tz *z, const struct msg *m)
{
	const char *by = m->by_name != NULL ? m->by_name : "";

	if (is(m, "assigned")) {
		buf_puts(b, "已派给");
		put_level_names(b, MSG_ZH_CN, m);
	} else if (is(m, "escalated")) {
		if (reason_is(m, "ack_timeout"))
			buf_puts(b, "超时未签收，已升级至");
		else if (reason_is(m, "resolve_timeout"))
			buf_puts(b, "超时未处置，已升级至");
		else {
			clean(b, by);
			buf_puts(b, "督办，已上报至");
		}
		put_level_names(b, MSG_ZH_CN, m);
	} else if (is(m, "reassigned")) {
		clean(b, by);
		buf_puts(b, "已改派至");
		put_level_names(b, MSG_ZH_CN, m);
	} else if (is(m, "redispatched")) {
		clean(b, by);
		buf_puts(b, "已改派，现派给");
		clean(b, m->target_unit);
		put_level_names(b, MSG_ZH_CN, m);
	} else if (is(m, "reworked")) {
		buf_puts(b, "核查未通过");
		if (m->by_name != NULL) {
			buf_puts(b, "（");
			clean(b, by);
			buf_puts(b, "）");
		}
		buf_puts(b, "，请");
		put_level_names(b, MSG_ZH_CN, m);
		buf_puts(b, "返工");
	} else if (is(m, "unparked")) {
		buf_puts(b, reason_is(m, "park_expired") ? "挂账到期，已派给" : "已解除挂账，派给");
		put_level_names(b, MSG_ZH_CN, m);
	} else if (is(m, "reopened")) {
		clean(b, by);
		buf_puts(b, "要求重办，已派给");
		put_level_names(b, MSG_ZH_CN, m);
	} else if (is(m, "acked")) {
		clean(b, by);
		buf_puts(b, "已签收");
		put_note(b, m, "：");
	} else if (is(m, "resolved")) {
		if (m->other_name != NULL) {
			clean(b, m->other_name);
			buf_puts(b, "处置完成，经");
			clean(b, by);
			buf_puts(b, "核查通过，已结案");
		} else {
			clean(b, by);
			buf_puts(b, "已处置完成，已结案");
		}
		put_note(b, m, "：");
	} else if (is(m, "comment")) {
		clean(b, by);
		buf_puts(b, "备注");
		put_note(b, m, "：");
	} else if (is(m, "extended")) {
		buf_puts(b, "处置时限已延至");
		put_time(b, MSG_ZH_CN, z, m->until, m->now);
		buf_puts(b, "（");
		clean(b, by);
		buf_puts(b, "批准）");
	} else if (is(m, "extension_denied")) {
		clean(b, by);
		buf_puts(b, "驳回了延期申请");
		put_note(b, m, "：");
	} else if (is(m, "cancelled")) {
		clean(b, by);
		buf_puts(b, "已注销此案");
		put_note(b, m, "：");
	} else if (is(m, "breached")) {
		if (reason_is(m, "verify_timeout"))
			buf_puts(b, "核查已超时");
		else if (reason_is(m, "review_timeout"))
			buf_puts(b, "回退后审核已超时");
		else if (reason_is(m, "no_assignee"))
			buf_puts(b, "挂账到期，但各级均无人值守，无法派遣");
		else {
			clean(b, m->level_name);
			buf_puts(b, m->breached == MSG_DL_ACK ? "超时未签收" : "超时未处置");
		}
		if (m->breached != MSG_DL_NONE && !reason_is(m, "no_assignee")) {
			buf_puts(b, "（时限");
			put_time(b, MSG_ZH_CN, z, m->breached_at, m->now);
			buf_puts(b, "）");
		}
		buf_puts(b, "，请督办");
	} else if (is(m, "duplicate")) {
		buf_printf(b, "再次被上报，共%lld次，现由", (long long)m->count);
		put_level_names(b, MSG_ZH_CN, m);
		buf_puts(b, "办理");
	} else if (is(m, "verify_requested")) {
		clean(b, by);
		buf_puts(b, "已处置完成，请核查");
	} else if (is(m, "returned")) {
		clean(b, by);
		buf_puts(b, "回退此案");
		put_note(b, m, "：");
	} else if (is(m, "extension_requested")) {
		clean(b, by);
		buf_puts(b, "申请延期至");
		put_time(b, MSG_ZH_CN, z, m->until, m->now);
		put_note(b, m, "：");
		buf_puts(b, "，请审批");
	} else if (is(m, "parked")) {
		clean(b, by);
		buf_puts(b, "已将此案挂账");
		if (m->until != TIME_NONE) {
			buf_puts(b, "至");
			put_time(b, MSG_ZH_CN, z, m->until, m->now);
		}
		put_note(b, m, "：");
	} else if (is(m, "urged")) {
		clean(b, by);
		buf_puts(b, "催办");
		put_note(b, m, "：");
	} else {
		clean(b, m->type);
	}
}

static void en_body(struct buf *b, const struct tz *z, const struct msg *m)
{
	const char *by = m->by_name != NULL ? m->by_name : "";

	if (is(m, "assigned") || is(m, "escalated") || is(m, "reassigned") ||
	    is(m, "redispatched") || is(m, "reworked") || is(m, "unparked") || is(m, "reopened")) {
		if (is(m, "escalated") && reason_is(m, "ack_timeout"))
			buf_puts(b, "not acknowledged in time, escalated to ");
		else if (is(m, "escalated") && reason_is(m, "resolve_timeout"))
			buf_puts(b, "not resolved in time, escalated to ");
		else if (is(m, "escalated"))
			buf_printf(b, "escalated by %s to ", by);
		else if (is(m, "reworked"))
			buf_puts(b, "failed verification, back for rework with ");
		else if (is(m, "unparked"))
			buf_puts(b, reason_is(m, "park_expired") ? "park expired, assigned to "
			                                         : "unparked, assigned to ");
		else if (is(m, "reopened"))
			buf_printf(b, "reopened by %s, assigned to ", by);
		else if (is(m, "redispatched")) {
			buf_printf(b, "redispatched by %s to ", by);
			clean(b, m->target_unit);
			buf_putc(b, ' ');
		} else if (is(m, "reassigned"))
			buf_printf(b, "reassigned by %s to ", by);
		else
			buf_puts(b, "assigned to ");
		put_level_names(b, MSG_EN, m);
	} else if (is(m, "acked")) {
		buf_printf(b, "acknowledged by %s", by);
		put_note(b, m, ": ");
	} else if (is(m, "resolved")) {
		if (m->other_name != NULL)
			buf_printf(b, "resolved by %s, verified by %s: closed", m->other_name, by);
		else
			buf_printf(b, "resolved by %s: closed", by);
		put_note(b, m, ": ");
	} else if (is(m, "comment")) {
		buf_printf(b, "comment by %s", by);
		put_note(b, m, ": ");
	} else if (is(m, "extended")) {
		buf_puts(b, "extended to ");
		put_time(b, MSG_EN, z, m->until, m->now);
		buf_printf(b, " by %s", by);
	} else if (is(m, "extension_denied")) {
		buf_printf(b, "extension denied by %s", by);
		put_note(b, m, ": ");
	} else if (is(m, "cancelled")) {
		buf_printf(b, "cancelled by %s", by);
		put_note(b, m, ": ");
	} else if (is(m, "breached")) {
		buf_printf(b, "%s deadline passed", m->reason != NULL ? m->reason : "a");
		if (m->breached != MSG_DL_NONE && !reason_is(m, "no_assignee")) {
			buf_puts(b, " (");
			put_time(b, MSG_EN, z, m->breached_at, m->now);
			buf_puts(b, ")");
		}
		buf_puts(b, " at ");
		clean(b, m->level_name);
	} else if (is(m, "duplicate")) {
		buf_printf(b, "reported again (%lld reports), with ", (long long)m->count);
		put_level_names(b, MSG_EN, m);
	} else if (is(m, "verify_requested")) {
		buf_printf(b, "resolved by %s, to verify", by);
	} else if (is(m, "returned")) {
		buf_printf(b, "returned by %s", by);
		put_note(b, m, ": ");
	} else if (is(m, "extension_requested")) {
		buf_printf(b, "%s asks for an extension to ", by);
		put_time(b, MSG_EN, z, m->until, m->now);
		put_note(b, m, ": ");
	} else if (is(m, "parked")) {
		buf_printf(b, "parked by %s", by);
		if (m->until != TIME_NONE) {
			buf_puts(b, " until ");
			put_time(b, MSG_EN, z, m->until, m->now);
		}
		put_note(b, m, ": ");
	} else if (is(m, "urged")) {
		buf_printf(b, "urged by %s", by);
		put_note(b, m, ": ");
	} else {
		clean(b, m->type);
	}
}

void msg_text(struct buf *out, enum msg_lang lang, const struct tz *tz, const struct msg *m)
{
	if (lang == MSG_ZH_CN) {
		buf_puts(out, "【");
		clean(out, m->unit_name);
		buf_puts(out, "·");
		clean(out, m->category_name);
		buf_puts(out, "】");
		clean(out, m->title);
		buf_puts(out, "：");
		zh_body(out, tz, m);
	} else {
		buf_putc(out, '[');
		clean(out, m->unit_name);
		buf_puts(out, " \xc2\xb7 ");
		clean(out, m->category_name);
		buf_puts(out, "] ");
		clean(out, m->title);
		buf_puts(out, ": ");
		en_body(out, tz, m);
	}
	put_deadline(out, lang, tz, m);
}
