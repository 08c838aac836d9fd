/*
 * web_page.h: gridweb's HTML pages, rendered from the documents of
 * web_model.h. Every page is whole without JavaScript; the elements the
 * script refreshes on a live event carry an id and data-live. Pure.
 */
#ifndef GR_WEB_PAGE_H
#define GR_WEB_PAGE_H

#include <jansson.h>

#include "rules.h"
#include "web_model.h"

struct wp_view {
	const struct rules *r;
	int64_t now;
	const char *page; /* the nav entry: overview, incidents, report, deadletters */
};

void wp_overview(struct buf *b, const struct wp_view *v, const json_t *summary);
/* list: {"incidents": [...], "next": cursor or null} */
void wp_incidents(struct buf *b, const struct wp_view *v, const json_t *list,
                  const struct wm_filter *f);
/* c: {"incident": wm_case, "chain": wm_chain, "timeline": [wm_event]} */
void wp_incident(struct buf *b, const struct wp_view *v, const json_t *c);
void wp_report(struct buf *b, const struct wp_view *v, const json_t *report);
/* dl: {"deadletters": [...], "next": id or null} */
void wp_deadletters(struct buf *b, const struct wp_view *v, const json_t *dl);
/* A page saying what went wrong, in one sentence. */
void wp_error(struct buf *b, const struct wp_view *v, const char *title, const char *msg);

#endif
