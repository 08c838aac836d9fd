/*
 * web_html.h: what gridweb's pages are written with — HTML escaping that
 * no text from a report can get out of, the Chinese words for the codes
 * of SPEC §5-§8, and times as a dispatcher reads them (local, and how
 * long is left). Pure: no I/O.
 */
#ifndef GR_WEB_HTML_H
#define GR_WEB_HTML_H

#include <jansson.h>

#include "tz.h"
#include "util.h"

/*
 * s[0..len) as HTML text or attribute value: & < > " ' escaped, control
 * characters (but tab and newline) and bytes that are not UTF-8 as U+FFFD.
 */
void html_text(struct buf *b, const char *s, size_t len);
void html_puts(struct buf *b, const char *s);
/* A JSON string's value escaped; "-" for anything else. */
void html_jstr(struct buf *b, const json_t *v);
/* s as a component of a URL (query value or path segment), escaped for an attribute. */
void html_url(struct buf *b, const char *s);

/* The Chinese word of a code; the code itself when it has none. */
const char *web_state_name(const char *state);
const char *web_channel_name(const char *channel);
const char *web_severity_name(const char *severity);
const char *web_event_name(const char *type);
const char *web_reason_name(const char *reason);
const char *web_deadline_name(const char *kind);

/* "12月3日 20:30", or "今天 20:30" on the day of now, in zone z. */
void web_local_time(struct buf *b, const struct tz *z, int64_t ms, int64_t now);
/* "2小时5分", "3天4小时", "45秒": the two largest units. */
void web_duration(struct buf *b, int64_t ms);
/* "剩 2小时5分" before deadline, "超时 15分" after. */
void web_left(struct buf *b, int64_t deadline, int64_t now);
/* A rate as "87.5%", "-" when rate is NULL or not a number. */
void web_rate(struct buf *b, const json_t *rate);

#endif
