/*
 * test_web.c: gridweb's pure parts — HTML escaping (a report's text never
 * gets out of it), durations as a dispatcher reads them, the case list's
 * filters and cursor, and the month's KPI rows summed up the tree, worst
 * on-time closure first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "web_html.h"
#include "web_model.h"

static char *esc(const char *s, size_t len)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "");
	html_text(&b, s, len);
	return buf_detach(&b);
}

static void test_escaping(void **state)
{
	char *s;

	(void)state;
	s = esc("<script>alert('x')</script>", 27);
	assert_string_equal(s, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
	free(s);
	s = esc("\"><img src=x onerror=alert(1)>", 30);
	assert_string_equal(s, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
	free(s);
	/* UTF-8 kept; a bad byte, a NUL and control characters become U+FFFD */
	s = esc("井盖\xff\x01&\0x", 11);
	assert_string_equal(s, "井盖\xef\xbf\xbd\xef\xbf\xbd&amp;\xef\xbf\xbdx");
	free(s);
	struct buf b;
	buf_init(&b);
	html_url(&b, "xifeng/beijie a&b");
	assert_string_equal(b.data, "xifeng%2Fbeijie%20a%26b");
	buf_free(&b);
}

static void test_durations(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	web_left(&b, 1000 + 2 * 3600000 + 5 * 60000 + 7000, 1000);
	assert_string_equal(b.data, "剩 2小时5分");
	buf_reset(&b);
	web_left(&b, 0, 15 * 60000);
	assert_string_equal(b.data, "超时 15分");
	buf_reset(&b);
	web_duration(&b, 3 * 86400000LL + 4 * 3600000 + 1);
	assert_string_equal(b.data, "3天4小时");
	buf_reset(&b);
	web_duration(&b, 0);
	assert_string_equal(b.data, "0秒");
	buf_free(&b);
	assert_string_equal(web_state_name("verifying"), "待核查");
	assert_string_equal(web_state_name("new-state"), "new-state");
}

static void test_filters_and_cursor(void **state)
{
	struct wm_filter f = {.unit = "xifeng/beijie", .state = "open"};
	int64_t ms;
	char id[32];

	(void)state;
	assert_true(wm_unit_under("xifeng/beijie/g03", "xifeng/beijie"));
	assert_true(wm_unit_under("xifeng/beijie", "xifeng/beijie"));
	assert_false(wm_unit_under("xifeng/beijie2", "xifeng/beijie"));
	assert_true(wm_unit_under("anything", ""));
	assert_true(wm_filter_match(&f, "open", "member", "xifeng/beijie/g03", "urban"));
	assert_false(wm_filter_match(&f, "acked", "member", "xifeng/beijie/g03", "urban"));
	assert_false(wm_filter_match(&f, "open", "member", NULL, "urban"));
	assert_int_equal(wm_cursor_parse("1700000000000~patrol-1-0", &ms, id, sizeof(id)), 0);
	assert_int_equal(ms, 1700000000000LL);
	assert_string_equal(id, "patrol-1-0");
	assert_int_equal(wm_cursor_parse("x~id", &ms, id, sizeof(id)), -1);
	assert_int_equal(wm_cursor_parse("12", &ms, id, sizeof(id)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_escaping),
	        cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_filters_and_cursor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
