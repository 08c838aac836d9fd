/*
 * test_message.c: the sentence of every event type of SPEC v2 §6, in
 * Chinese and in English, whole; and its parts: times in the zone (and the
 * year when it is another), offices in brackets after a level, quoted and
 * shortened notes, text a peer wrote made one line, the clause without a
 * deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "message.h"
#include "timeutil.h"

#define NOW   1796270400000LL /* 2026-12-03T04:00Z: 12:00 in Shanghai */
#define T2030 1796301000000LL /* 2026-12-03T12:30Z: 20:30 */
#define T1130 1796268600000LL /* 2026-12-03T03:30Z: 11:30 */
#define TDEC4 1796376600000LL /* 2026-12-04T09:30Z: Dec 4 17:30 */
#define TDEC5 1796463000000LL /* 2026-12-05T09:30Z: Dec 5 17:30 */
#define T2027 1799022600000LL /* 2027-01-04T00:30Z: Jan 4 2027 08:30 */

/* A case at unit u and level l; an until of 0 in the table stands for TIME_NONE. */
#define AT(u, l)                                                                                   \
	.unit_name = u, .category_name = "城市管理", .title = "井盖缺失", .level_name = l,         \
	.now = NOW
#define BASE AT("北大街社区第三网格", "网格员")

struct tcase {
	struct msg m;
	const char *zh, *en;
};

static const struct tcase cases[] = {
        {{.type = "assigned",
          .reason = "new",
          .names = "刘洋",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：已派给网格员刘洋，请于12月3日 20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: assigned to 网格员 刘洋; acknowledge by Dec 3 "
         "20:30."},
        {{.type = "escalated",
          .reason = "ack_timeout",
          .names = "陈静",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          AT("北大街社区第三网格", "网格长")},
         "【北大街社区第三网格·城市管理】井盖缺失：超时未签收，已升级至网格长陈静，请于12月3日 "
         "20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: not acknowledged in time, escalated to 网格长 "
         "陈静; acknowledge by Dec 3 20:30."},
        {{.type = "escalated",
          .reason = "resolve_timeout",
          .names = "区指挥中心",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          AT("北大街社区第三网格", "区")},
         "【北大街社区第三网格·城市管理】井盖缺失：超时未处置完成，已升级至区（区指挥中心），请于"
         "12月3日 20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: not resolved in time, escalated to 区 "
         "区指挥中心; acknowledge by Dec 3 20:30."},
        {{.type = "escalated",
          .reason = "manual",
          .names = "张倩",
          .by_name = "区指挥中心",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          AT("北大街社区第三网格", "社区")},
         "【北大街社区第三网格·城市管理】井盖缺失：区指挥中心督办，已上报至社区张倩，请于12月3日 "
         "20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: escalated by 区指挥中心 to 社区 张倩; "
         "acknowledge by Dec 3 20:30."},
        {{.type = "reassigned",
          .reason = "reassign",
          .names = "北街街道网格化服务管理中心、赵磊",
          .by_name = "区指挥中心",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          AT("北大街社区第三网格", "街道")},
         "【北大街社区第三网格·城市管理】井盖缺失：区指挥中心将此案转交街道（北街街道网格化服务管"
         "理中心、赵磊），请于12月3日 20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: handed by 区指挥中心 to 街道 "
         "北街街道网格化服务管理中心、赵磊; acknowledge by Dec 3 20:30."},
        {{.type = "redispatched",
          .reason = "redispatch",
          .names = "王芳",
          .by_name = "区指挥中心",
          .target_unit = "北大街社区第一网格",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          AT("北大街社区第一网格", "网格员")},
         "【北大街社区第一网格·城市管理】井盖缺失：区指挥中心将此案改派至北大街社区第一网格网格员"
         "王芳，请于12月3日 20:30前签收。",
         "[北大街社区第一网格 · 城市管理] 井盖缺失: redispatched by 区指挥中心 to "
         "北大街社区第一网格 网格员 王芳; acknowledge by Dec 3 20:30."},
        {{.type = "reworked",
          .reason = "verify_failed",
          .names = "刘洋",
          .by_name = "马秀英",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：马秀英核查未通过，退回网格员刘洋返工，请于12月3"
         "日 20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: failed verification by 马秀英, back for rework "
         "with 网格员 刘洋; acknowledge by Dec 3 20:30."},
        {{.type = "unparked",
          .reason = "park_expired",
          .names = "刘洋",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：挂账到期，重新派给网格员刘洋，请于12月3日 "
         "20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: parking ended, assigned again to 网格员 刘洋; "
         "acknowledge by Dec 3 20:30."},
        {{.type = "unparked",
          .reason = "unpark",
          .names = "区指挥中心",
          .by_name = "张倩",
          .dl = MSG_DL_REVIEW,
          .dl_at = T2030,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：张倩解除挂账（回退待审），请于12月3日 "
         "20:30前审核。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: unparked by 张倩, back to review as returned; "
         "review by Dec 3 20:30."},
        {{.type = "reopened",
          .reason = "reopen",
          .names = "刘洋",
          .by_name = "区指挥中心",
          .note = "居民反映仍有异味",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：区指挥中心要求重办：“居民反映仍有异味”，已派给"
         "网格员刘洋，请于12月3日 20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: reopened by 区指挥中心: \"居民反映仍有异味\", "
         "assigned to 网格员 刘洋; acknowledge by Dec 3 20:30."},
        {{.type = "skipped", BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：skipped。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: skipped."},
        {{.type = "acked",
          .by_name = "刘洋",
          .note = "马上到",
          .dl = MSG_DL_RESOLVE,
          .dl_at = TDEC4,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：刘洋已签收：“马上到”，请于12月4日 "
         "17:30前处置完成。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: acknowledged by 刘洋: \"马上到\"; resolve by "
         "Dec 4 17:30."},
        {{.type = "resolved", .by_name = "刘洋", BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：刘洋已处置完毕，已结案。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: closed: resolved by 刘洋."},
        {{.type = "resolved", .by_name = "马秀英", .other_name = "刘洋", .note = "合格", BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：刘洋已处置完毕，经马秀英核查通过，已结案：“合格"
         "”。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: closed: resolved by 刘洋, verified by 马秀英: "
         "\"合格\"."},
        {{.type = "breached",
          .reason = "ack_timeout",
          .breached = MSG_DL_ACK,
          .breached_at = T1130,
          .dl = MSG_DL_RESOLVE,
          .dl_at = TDEC4,
          AT("北大街社区第三网格", "区")},
         "【北大街社区第三网格·城市管理】井盖缺失：已到最高一级（区）仍超时未签收（时限12月3日 "
         "11:30），请督办并于12月4日 17:30前处置完成。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: not acknowledged by Dec 3 11:30 even at the "
         "last level, 区; please follow up: resolve by Dec 4 17:30."},
        {{.type = "breached",
          .reason = "resolve_timeout",
          .breached = MSG_DL_RESOLVE,
          .breached_at = T1130,
          AT("北大街社区第三网格", "区")},
         "【北大街社区第三网格·城市管理】井盖缺失：已到最高一级（区）仍超时未处置完成（时限12月3日 "
         "11:30），请督办。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: not resolved by Dec 3 11:30 even at the last "
         "level, 区; please follow up."},
        {{.type = "breached",
          .reason = "verify_timeout",
          .breached = MSG_DL_VERIFY,
          .breached_at = T1130,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：核查超时（时限12月3日 11:30），请督办。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: not verified by Dec 3 11:30; please follow "
         "up."},
        {{.type = "breached",
          .reason = "review_timeout",
          .breached = MSG_DL_REVIEW,
          .breached_at = T1130,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：回退后审核超时（时限12月3日 11:30），请督办。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: returned, not reviewed by Dec 3 11:30; please "
         "follow up."},
        {{.type = "breached", .reason = "no_assignee", BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：挂账到期，但各级均无人值守，无法派遣，请督办。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: parking ended, but nobody is on duty at any "
         "level to take it; please follow up."},
        {{.type = "duplicate", .count = 3, .names = "刘洋", .dl = MSG_DL_ACK, .dl_at = T2030, BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：再次有人上报（累计3次），现由网格员刘洋办理，请"
         "于12月3日 20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: reported again (3 reports), with 网格员 刘洋; "
         "acknowledge by Dec 3 20:30."},
        {{.type = "comment",
          .by_name = "陈静",
          .note = "已联系物业",
          .dl = MSG_DL_RESOLVE,
          .dl_at = TDEC4,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：陈静备注：“已联系物业”，请于12月4日 "
         "17:30前处置完成。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: comment by 陈静: \"已联系物业\"; resolve by "
         "Dec 4 17:30."},
        {{.type = "verify_requested", .by_name = "刘洋", .dl = MSG_DL_VERIFY, .dl_at = T2030, BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：刘洋报告已处置完毕，请于12月3日 20:30前核查。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: 刘洋 reports it resolved; verify by Dec 3 "
         "20:30."},
        {{.type = "returned",
          .by_name = "刘洋",
          .note = "属燃气公司管辖",
          .dl = MSG_DL_REVIEW,
          .dl_at = T2030,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：刘洋回退此案：“属燃气公司管辖”，请于12月3日 "
         "20:30前审核。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: returned by 刘洋: \"属燃气公司管辖\"; review "
         "by Dec 3 20:30."},
        {{.type = "cancelled", .by_name = "区指挥中心", .note = "重复上报", BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：区指挥中心已注销此案：“重复上报”。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: cancelled by 区指挥中心: \"重复上报\"."},
        {{.type = "extension_requested",
          .by_name = "刘洋",
          .note = "等待配件",
          .until = TDEC5,
          .dl = MSG_DL_RESOLVE,
          .dl_at = TDEC4,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：刘洋申请延期至12月5日 17:30：“等待配件”，请于12"
         "月4日 17:30前审批。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: 刘洋 asks for an extension to Dec 5 17:30: "
         "\"等待配件\"; decide by Dec 4 17:30."},
        {{.type = "extended",
          .by_name = "陈静",
          .dl = MSG_DL_RESOLVE,
          .dl_at = TDEC5,
          BASE,
          .until = TDEC5},
         "【北大街社区第三网格·城市管理】井盖缺失：陈静已批准延期，请于12月5日 17:30前处置完成。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: extension granted by 陈静; resolve by Dec 5 "
         "17:30."},
        /* an ack still pending ends the sentence: the new resolve deadline is named */
        {{.type = "extended",
          .by_name = "陈静",
          .dl = MSG_DL_ACK,
          .dl_at = T2030,
          BASE,
          .until = TDEC5},
         "【北大街社区第三网格·城市管理】井盖缺失：陈静已批准延期至12月5日 17:30，请于12月3日 "
         "20:30前签收。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: extension granted by 陈静 to Dec 5 17:30; "
         "acknowledge by Dec 3 20:30."},
        {{.type = "extension_denied",
          .by_name = "陈静",
          .note = "今天必须完成",
          .dl = MSG_DL_RESOLVE,
          .dl_at = TDEC4,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：陈静驳回了延期申请：“今天必须完成”，请于12月4日"
         " 17:30前处置完成。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: extension denied by 陈静: \"今天必须完成\"; "
         "resolve by Dec 4 17:30."},
        {{.type = "parked",
          .by_name = "区指挥中心",
          .note = "待燃气公司施工",
          BASE,
          .until = T2027},
         "【北大街社区第三网格·城市管理】井盖缺失：区指挥中心将此案挂账至2027年1月4日 08:30：“待燃"
         "气公司施工”。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: parked by 区指挥中心 until Jan 4 2027 08:30: "
         "\"待燃气公司施工\"."},
        {{.type = "parked", .by_name = "区指挥中心", .note = "待定", BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：区指挥中心将此案挂账：“待定”。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: parked by 区指挥中心: \"待定\"."},
        {{.type = "urged",
          .by_name = "区指挥中心",
          .note = "居民再次来电",
          .dl = MSG_DL_RESOLVE,
          .dl_at = TDEC4,
          BASE},
         "【北大街社区第三网格·城市管理】井盖缺失：区指挥中心催办：“居民再次来电”，请于12月4日 "
         "17:30前处置完成。",
         "[北大街社区第三网格 · 城市管理] 井盖缺失: urged by 区指挥中心: \"居民再次来电\"; resolve "
         "by Dec 4 17:30."},
};

static const char *const v2_types[] = {
        "assigned", "escalated",        "reassigned",   "skipped",   "acked",
        "resolved", "breached",         "duplicate",    "comment",   "verify_requested",
        "reworked", "returned",         "redispatched", "cancelled", "extension_requested",
        "extended", "extension_denied", "parked",       "unparked",  "reopened",
        "urged",
};

static struct tz *shanghai(void)
{
	char err[128];
	struct tz *z = tz_load("Asia/Shanghai", err, sizeof(err));

	assert_non_null(z);
	return z;
}

static char *text(enum msg_lang lang, const struct tz *z, const struct msg *in)
{
	struct msg m = *in;
	struct buf b;

	if (m.until == 0)
		m.until = TIME_NONE;
	buf_init(&b);
	msg_text(&b, lang, z, &m);
	return buf_detach(&b);
}

static void test_every_event_type_in_both_languages(void **state)
{
	struct tz *z = shanghai();

	(void)state;
	for (size_t t = 0; t < sizeof(v2_types) / sizeof(v2_types[0]); t++) {
		bool found = false;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			found = found || strcmp(cases[i].m.type, v2_types[t]) == 0;
		if (!found)
			fail_msg("no case of %s", v2_types[t]);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *zh = text(MSG_ZH_CN, z, &cases[i].m), *en = text(MSG_EN, z, &cases[i].m);
		if (strcmp(zh, cases[i].zh) != 0 || strcmp(en, cases[i].en) != 0)
			fprintf(stderr, "case %zu (%s):\n  %s\n  %s\n", i, cases[i].m.type, zh, en);
		assert_string_equal(zh, cases[i].zh);
		assert_string_equal(en, cases[i].en);
		free(zh);
		free(en);
	}
	tz_free(z);
}

static void test_times_in_the_zone_given(void **state)
{
	char err[128];
	struct tz *utc = tz_load("UTC", err, sizeof(err));
	struct msg m = {
	        .type = "assigned", .names = "刘洋", .dl = MSG_DL_ACK, .dl_at = T2030, BASE};
	char *s;

	(void)state;
	assert_non_null(utc);
	s = text(MSG_ZH_CN, utc, &m);
	assert_non_null(strstr(s, "请于12月3日 12:30前签收。"));
	free(s);
	/* the next year is named, in both languages */
	m.dl_at = T2027;
	s = text(MSG_ZH_CN, utc, &m);
	assert_non_null(strstr(s, "请于2027年1月4日 00:30前签收。"));
	free(s);
	s = text(MSG_EN, utc, &m);
	assert_non_null(strstr(s, "; acknowledge by Jan 4 2027 00:30."));
	free(s);
	tz_free(utc);
}

static void test_peer_text_on_one_line_and_long_notes_cut(void **state)
{
	struct tz *z = shanghai();
	char note[600];
	struct msg m = {.type = "comment", .by_name = "刘洋", BASE};

	(void)state;
	/* 300 × 一 is 900 bytes: cut at 200 bytes, on a character's boundary, with an ellipsis */
	note[0] = '\0';
	for (int i = 0; i < 199; i++)
		strcat(note, "\xe4\xb8\x80");
	m.note = note;
	m.title = "井盖\n缺失\xe2\x80\xa8了";
	char *s = text(MSG_ZH_CN, z, &m);
	assert_non_null(strstr(s, "】井盖 缺失 了："));
	const char *q = strstr(s, "“");
	assert_non_null(q);
	size_t ones = 0;
	for (const char *p = q + 3; strncmp(p, "\xe4\xb8\x80", 3) == 0; p += 3)
		ones++;
	assert_int_equal(ones, 66); /* 198 bytes; the 67th would pass 200 */
	assert_non_null(strstr(s, "\xe4\xb8\x80\xe2\x80\xa6”。"));
	assert_null(strchr(s, '\n'));
	free(s);
	tz_free(z);
}

static void test_offices_in_brackets_people_not(void **state)
{
	struct tz *z = shanghai();
	static const struct {
		const char *names, *want;
	} cases2[] = {
	        {"刘洋", "已派给网格员刘洋，"},
	        {"刘洋、陈静", "已派给网格员刘洋、陈静，"},
	        {"欧阳晓", "已派给网格员欧阳晓，"},
	        {"刘洋、某物业公司", "已派给网格员（刘洋、某物业公司），"},
	        {"", "已派给网格员，"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases2) / sizeof(cases2[0]); i++) {
		struct msg m = {.type = "assigned",
		                .names = cases2[i].names,
		                .dl = MSG_DL_ACK,
		                .dl_at = T2030,
		                BASE};
		char *s = text(MSG_ZH_CN, z, &m);
		if (strstr(s, cases2[i].want) == NULL)
			fail_msg("%s: %s", cases2[i].names, s);
		free(s);
	}
	assert_string_equal(msg_name_sep(MSG_ZH_CN), "、");
	assert_string_equal(msg_name_sep(MSG_EN), ", ");
	tz_free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_event_type_in_both_languages),
	        cmocka_unit_test(test_times_in_the_zone_given),
	        cmocka_unit_test(test_peer_text_on_one_line_and_long_notes_cut),
	        cmocka_unit_test(test_offices_in_brackets_people_not),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
