/*
 * message.c: a notification's sentence, as a grid worker reads it on the
 * phone: where and what first (【北大街社区第三网格·城市管理】井盖缺失),
 * then what happened and who has it now, then what to do by when
 * (请于12月3日 20:30前签收). One clause per step, no word twice: the
 * deadline clause names the action, so the event clause does not ask for
 * it again. A note is quoted (“等待配件”). Times are local to the
 * notification's zone; a time in another year than now names its year.
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

static bool is(const struct msg *m, const char *type)
{
	return strcmp(m->type, type) == 0;
}

static bool reason_is(const struct msg *m, const char *reason)
{
	return m->reason != NULL && strcmp(m->reason, reason) == 0;
}

/* The action a deadline asks for: the step's own (approving a request), else the deadline's. */
static const char *action(enum msg_lang lang, const struct msg *m)
{
	static const char *const zh[] = {"", "签收", "处置完成", "核查", "审核"};
	static const char *const en[] = {"", "acknowledge", "resolve", "verify", "review"};

	if (is(m, "extension_requested"))
		return lang == MSG_ZH_CN ? "审批" : "decide";
	return lang == MSG_ZH_CN ? zh[m->dl] : en[m->dl];
}

/*
 * The deadline clause: "，请于12月3日 20:30前签收。" A breach asks the
 * people told to follow it up too: "，请督办并于…前处置完成。"
 */
static void put_deadline(struct buf *b, enum msg_lang lang, const struct tz *z, const struct msg *m)
{
	bool breach = is(m, "breached");

	if (m->dl == MSG_DL_NONE) {
		if (lang == MSG_ZH_CN)
			buf_puts(b, breach ? "，请督办。" : "。");
		else
			buf_puts(b, breach ? "; please follow up." : ".");
		return;
	}
	if (lang == MSG_ZH_CN) {
		buf_puts(b, breach ? "，请督办并于" : "，请于");
		put_time(b, lang, z, m->dl_at, m->now);
		buf_printf(b, "前%s。", action(lang, m));
	} else {
		buf_printf(b, breach ? "; please follow up: %s by " : "; %s by ", action(lang, m));
		put_time(b, lang, z, m->dl_at, m->now);
		buf_putc(b, '.');
	}
}

/* A name longer than a person's (three characters): an office, such as 区指挥中心. */
static bool names_an_office(const char *names)
{
	size_t chars = 0;

	for (const unsigned char *p = (const unsigned char *)names; *p != '\0'; p++) {
		if (strncmp((const char *)p, "\xe3\x80\x81", 3) == 0) { /* 、 */
			chars = 0;
			p += 2;
		} else if ((*p & 0xc0) != 0x80 && ++chars > 3) {
			return true;
		}
	}
	return false;
}

/*
 * "网格员刘洋" / "grid member 刘洋": a level and its people. An office
 * after a level's name would run into it (区区指挥中心): it goes in
 * brackets, 区（区指挥中心）.
 */
static void put_level_names(struct buf *b, enum msg_lang lang, const struct msg *m)
{
	bool has = m->names != NULL && m->names[0] != '\0';

	clean(b, m->level_name);
	if (!has)
		return;
	if (lang == MSG_EN) {
		buf_putc(b, ' ');
		clean(b, m->names);
	} else if (names_an_office(m->names)) {
		buf_puts(b, "（");
		clean(b, m->names);
		buf_puts(b, "）");
	} else {
		clean(b, m->names);
	}
}

/* A note, quoted, after before: "：“马上到”", ": \"on my way\"". Nothing without a note. */
static void put_note(struct buf *b, enum msg_lang lang, const struct msg *m, const char *before)
{
	if (m->note == NULL || m->note[0] == '\0')
		return;
	buf_puts(b, before);
	buf_puts(b, lang == MSG_ZH_CN ? "“" : "\"");
	msg_put_clean(b, m->note, NOTE_MAX);
	buf_puts(b, lang == MSG_ZH_CN ? "”" : "\"");
}

/* The actor's name, cleaned; nothing when the step had none (a deadline's). */
static void by(struct buf *b, const struct msg *m)
{
	clean(b, m->by_name);
}

/* "至12月5日 17:30" / " to Dec 5 17:30", unless it is the deadline the sentence ends with. */
static void put_until(struct buf *b, enum msg_lang lang, const struct tz *z, const struct msg *m)
{
	if (m->until == TIME_NONE || (m->dl != MSG_DL_NONE && m->dl_at == m->until))
		return;
	buf_puts(b, lang == MSG_ZH_CN ? "至" : " to ");
	put_time(b, lang, z, m->until, m->now);
}

/* The events of a level assignment: the case goes to people (SPEC §6). */
static bool hands_over(const struct msg *m)
{
	static const char *const types[] = {"assigned", "escalated", "reassigned", "redispatched",
	                                    "reworked", "unparked",  "reopened"};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (is(m, types[i]))
			return true;
	}
	return false;
}

/* The handing over of a case: who gave it to whom, and why. */
static void zh_handover(struct buf *b, const struct msg *m)
{
	if (is(m, "assigned")) {
		buf_puts(b, "已派给");
	} else if (is(m, "escalated")) {
		if (reason_is(m, "ack_timeout") || reason_is(m, "resolve_timeout")) {
			buf_puts(b, reason_is(m, "ack_timeout") ? "超时未签收" : "超时未处置完成");
			buf_puts(b, "，已升级至");
		} else {
			by(b, m);
			buf_puts(b, "督办，已上报至");
		}
	} else if (is(m, "reassigned")) {
		by(b, m);
		buf_puts(b, "将此案转交");
	} else if (is(m, "redispatched")) {
		by(b, m);
		buf_puts(b, "将此案改派至");
		clean(b, m->target_unit);
	} else if (is(m, "reworked")) {
		by(b, m);
		buf_puts(b, "核查未通过");
		put_note(b, MSG_ZH_CN, m, "：");
		buf_puts(b, "，退回");
	} else if (is(m, "unparked")) {
		if (reason_is(m, "park_expired")) {
			buf_puts(b, "挂账到期");
		} else {
			by(b, m);
			buf_puts(b, "解除挂账");
		}
		if (m->dl == MSG_DL_REVIEW) {
			buf_puts(b, "（回退待审）"); /* back to the dispatchers, not to a level */
			return;
		}
		buf_puts(b, "，重新派给");
	} else { /* reopened */
		by(b, m);
		buf_puts(b, "要求重办");
		put_note(b, MSG_ZH_CN, m, "：");
		buf_puts(b, "，已派给");
	}
	put_level_names(b, MSG_ZH_CN, m);
	if (is(m, "reworked"))
		buf_puts(b, "返工");
}

static void zh_breach(struct buf *b, const struct tz *z, const struct msg *m)
{
	if (reason_is(m, "no_assignee")) {
		buf_puts(b, "挂账到期，但各级均无人值守，无法派遣");
		return;
	}
	if (reason_is(m, "verify_timeout")) {
		buf_puts(b, "核查超时");
	} else if (reason_is(m, "review_timeout")) {
		buf_puts(b, "回退后审核超时");
	} else {
		buf_puts(b, "已到最高一级（");
		clean(b, m->level_name);
		buf_puts(b, m->breached == MSG_DL_ACK ? "）仍超时未签收" : "）仍超时未处置完成");
	}
	if (m->breached != MSG_DL_NONE) {
		buf_puts(b, "（时限");
		put_time(b, MSG_ZH_CN, z, m->breached_at, m->now);
		buf_puts(b, "）");
	}
}

static void zh_body(struct buf *b, const struct tz *z, const struct msg *m)
{
	if (hands_over(m)) {
		zh_handover(b, m);
	} else if (is(m, "acked")) {
		by(b, m);
		buf_puts(b, "已签收");
		put_note(b, MSG_ZH_CN, m, "：");
	} else if (is(m, "resolved")) {
		if (m->other_name != NULL) {
			clean(b, m->other_name);
			buf_puts(b, "已处置完毕，经");
			by(b, m);
			buf_puts(b, "核查通过，已结案");
		} else {
			by(b, m);
			buf_puts(b, "已处置完毕，已结案");
		}
		put_note(b, MSG_ZH_CN, m, "：");
	} else if (is(m, "comment")) {
		by(b, m);
		buf_puts(b, "备注");
		put_note(b, MSG_ZH_CN, m, "：");
	} else if (is(m, "extended")) {
		by(b, m);
		buf_puts(b, "已批准延期");
		put_until(b, MSG_ZH_CN, z, m);
	} else if (is(m, "extension_denied")) {
		by(b, m);
		buf_puts(b, "驳回了延期申请");
		put_note(b, MSG_ZH_CN, m, "：");
	} else if (is(m, "cancelled")) {
		by(b, m);
		buf_puts(b, "已注销此案");
		put_note(b, MSG_ZH_CN, m, "：");
	} else if (is(m, "breached")) {
		zh_breach(b, z, m);
	} else if (is(m, "duplicate")) {
		buf_printf(b, "再次有人上报（累计%lld次），现由", (long long)m->count);
		put_level_names(b, MSG_ZH_CN, m);
		buf_puts(b, "办理");
	} else if (is(m, "verify_requested")) {
		by(b, m);
		buf_puts(b, "报告已处置完毕");
	} else if (is(m, "returned")) {
		by(b, m);
		buf_puts(b, "回退此案");
		put_note(b, MSG_ZH_CN, m, "：");
	} else if (is(m, "extension_requested")) {
		by(b, m);
		buf_puts(b, "申请延期至");
		put_time(b, MSG_ZH_CN, z, m->until, m->now);
		put_note(b, MSG_ZH_CN, m, "：");
	} else if (is(m, "parked")) {
		by(b, m);
		buf_puts(b, "将此案挂账");
		if (m->until != TIME_NONE) {
			buf_puts(b, "至");
			put_time(b, MSG_ZH_CN, z, m->until, m->now);
		}
		put_note(b, MSG_ZH_CN, m, "：");
	} else if (is(m, "urged")) {
		by(b, m);
		buf_puts(b, "催办");
		put_note(b, MSG_ZH_CN, m, "：");
	} else {
		clean(b, m->type);
	}
}

static void en_handover(struct buf *b, const struct msg *m)
{
	if (is(m, "assigned")) {
		buf_puts(b, "assigned to ");
	} else if (is(m, "escalated")) {
		if (reason_is(m, "ack_timeout"))
			buf_puts(b, "not acknowledged in time, escalated to ");
		else if (reason_is(m, "resolve_timeout"))
			buf_puts(b, "not resolved in time, escalated to ");
		else {
			buf_puts(b, "escalated by ");
			by(b, m);
			buf_puts(b, " to ");
		}
	} else if (is(m, "reassigned")) {
		buf_puts(b, "handed by ");
		by(b, m);
		buf_puts(b, " to ");
	} else if (is(m, "redispatched")) {
		buf_puts(b, "redispatched by ");
		by(b, m);
		buf_puts(b, " to ");
		clean(b, m->target_unit);
		buf_putc(b, ' ');
	} else if (is(m, "reworked")) {
		buf_puts(b, "failed verification by ");
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
		buf_puts(b, ", back for rework with ");
	} else if (is(m, "unparked")) {
		if (reason_is(m, "park_expired")) {
			buf_puts(b, "parking ended");
		} else {
			buf_puts(b, "unparked by ");
			by(b, m);
		}
		if (m->dl == MSG_DL_REVIEW) {
			buf_puts(b, ", back to review as returned");
			return;
		}
		buf_puts(b, ", assigned again to ");
	} else { /* reopened */
		buf_puts(b, "reopened by ");
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
		buf_puts(b, ", assigned to ");
	}
	put_level_names(b, MSG_EN, m);
}

static void en_breach(struct buf *b, const struct tz *z, const struct msg *m)
{
	static const char *const what[] = {"", "acknowledged", "resolved", "verified", "reviewed"};

	if (reason_is(m, "no_assignee")) {
		buf_puts(b, "parking ended, but nobody is on duty at any level to take it");
		return;
	}
	buf_printf(b, "%snot %s", reason_is(m, "review_timeout") ? "returned, " : "",
	           what[m->breached]);
	if (m->breached != MSG_DL_NONE) {
		buf_puts(b, " by ");
		put_time(b, MSG_EN, z, m->breached_at, m->now);
	}
	if (m->breached == MSG_DL_ACK || m->breached == MSG_DL_RESOLVE) {
		buf_puts(b, " even at the last level, ");
		clean(b, m->level_name);
	}
}

static void en_body(struct buf *b, const struct tz *z, const struct msg *m)
{
	if (hands_over(m)) {
		en_handover(b, m);
	} else if (is(m, "acked")) {
		buf_puts(b, "acknowledged by ");
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
	} else if (is(m, "resolved")) {
		buf_puts(b, "closed: resolved by ");
		if (m->other_name != NULL) {
			clean(b, m->other_name);
			buf_puts(b, ", verified by ");
		}
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
	} else if (is(m, "comment")) {
		buf_puts(b, "comment by ");
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
	} else if (is(m, "extended")) {
		buf_puts(b, "extension granted by ");
		by(b, m);
		put_until(b, MSG_EN, z, m);
	} else if (is(m, "extension_denied")) {
		buf_puts(b, "extension denied by ");
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
	} else if (is(m, "cancelled")) {
		buf_puts(b, "cancelled by ");
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
	} else if (is(m, "breached")) {
		en_breach(b, z, m);
	} else if (is(m, "duplicate")) {
		buf_printf(b, "reported again (%lld reports), with ", (long long)m->count);
		put_level_names(b, MSG_EN, m);
	} else if (is(m, "verify_requested")) {
		by(b, m);
		buf_puts(b, " reports it resolved");
	} else if (is(m, "returned")) {
		buf_puts(b, "returned by ");
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
	} else if (is(m, "extension_requested")) {
		by(b, m);
		buf_puts(b, " asks for an extension to ");
		put_time(b, MSG_EN, z, m->until, m->now);
		put_note(b, MSG_EN, m, ": ");
	} else if (is(m, "parked")) {
		buf_puts(b, "parked by ");
		by(b, m);
		if (m->until != TIME_NONE) {
			buf_puts(b, " until ");
			put_time(b, MSG_EN, z, m->until, m->now);
		}
		put_note(b, MSG_EN, m, ": ");
	} else if (is(m, "urged")) {
		buf_puts(b, "urged by ");
		by(b, m);
		put_note(b, MSG_EN, m, ": ");
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
