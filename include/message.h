/*
 * message.h: the one short sentence of a notification (SPEC §6 `text`),
 * in Chinese by default or in English (notify.language), with its times in
 * the notification's zone. Pure: the lifecycle fills a struct msg with the
 * names and times of the event, and gets the sentence.
 */
#ifndef GR_MESSAGE_H
#define GR_MESSAGE_H

#include "tz.h"
#include "util.h"

enum msg_lang { MSG_ZH_CN, MSG_EN };

/* The deadline a notification names: what the people told must do by when. */
enum msg_deadline { MSG_DL_NONE, MSG_DL_ACK, MSG_DL_RESOLVE, MSG_DL_VERIFY, MSG_DL_REVIEW };

struct msg {
	const char *type;   /* the event type */
	const char *reason; /* the event's reason, or NULL */
	const char *unit_name, *category_name, *title;
	const char *level_name; /* the level the case is at (after the step) */
	const char *names;   /* the people it is handed to, joined ("刘洋、陈静"); or NULL */
	const char *by_name; /* the actor, or NULL */
	const char *other_name;  /* resolved after verification: the handler */
	const char *note;        /* or NULL */
	const char *target_unit; /* redispatched: the new unit's name */
	int64_t count;           /* duplicate */
	int64_t until;           /* extension, park: ms or TIME_NONE */
	enum msg_deadline dl;    /* the earliest pending deadline after the step */
	int64_t dl_at;
	enum msg_deadline breached; /* breached: which deadline passed */
	int64_t breached_at;
	int64_t now; /* for the year: a time in another year names it */
};

/* The sentence into out (appended). tz: the zone its times are written in. */
void msg_text(struct buf *out, enum msg_lang lang, const struct tz *tz, const struct msg *m);

/* The separator of a list of names: "、" or ", ". */
const char *msg_name_sep(enum msg_lang lang);

/* Text on one line: control characters (and U+2028/9) become spaces; at most max bytes. */
void msg_put_clean(struct buf *b, const char *s, size_t max);

#endif
