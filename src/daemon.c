/*
 * daemon.c: the event loop and its wiring — connections, signals,
 * reloads, shutdown. The work itself is in intake.c and escalate.c.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"

#define SHUTDOWN_GRACE_MS 4000

int daemon_main(struct config *cfg);

static void on_conn(struct rconn *c, bool up, void *arg)
{
	struct daemon *d = arg;

	if (c == d->wr) {
		if (up)
			store_on_up(d->store);
		else
			store_on_down(d->store);
	}
	if (!up)
		intake_on_down(d->intake);
}

static void on_hup(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if (!d->stopping) /* a reload started now would only be left unfinished */
		reloader_request(d->reloader);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if ((intake_idle(d->intake) && escalator_idle(d->esc)) ||
	    time_now_ms() - d->started_ms > SHUTDOWN_GRACE_MS)
		event_base_loopbreak(d->base);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = {0, 20000};

	(void)what;
	if (d->stopping)
		return;
	d->stopping = true;
	notify_stopping();
	d->started_ms = time_now_ms(); /* now: the start of the grace period */
	log_kv(LOG_INFO, "stopping", "signal", fd == SIGINT ? "SIGINT" : "SIGTERM", NULL);
	d->grace = event_new(d->base, -1, EV_PERSIST, on_grace, d);
	event_add(d->grace, &tv);
}

static void on_gauge(void *arg, redisReply *r)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		*(double *)arg = (double)r->integer;
}

/* The gauges that live in Redis, read once a second. */
static void poll_gauges(struct daemon *d)
{
	static int64_t last;
	int64_t now = time_now_ms();
	char snow[24];

	if (now - last < 1000 || !store_ready(d->store))
		return;
	last = now;
	snprintf(snow, sizeof(snow), "%lld", (long long)now);
	char *open = store_key(d->store, "open"), *due = store_key(d->store, "due");
	const char *a1[] = {"ZCARD", open};
	const char *a2[] = {"ZCOUNT", due, "-inf", snow};
	store_command(d->store, on_gauge, &metrics.open_incidents, 2, a1, NULL);
	store_command(d->store, on_gauge, &metrics.due_backlog, 4, a2, NULL);
	free(open);
	free(due);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	const char *wrong = store_wrong_schema(d->store);
	if (wrong != NULL && d->exit_code == 0) {
		/* nothing was written: stop before anything is */
		log_kv(LOG_ERROR, "store_schema_wrong", "error", wrong, NULL);
		d->exit_code = 1;
		d->stopping = true;
		event_base_loopbreak(d->base);
		return;
	}
	poll_gauges(d);
	store_tick(d->store);
	intake_kick(d->intake);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_watchdog(); /* the loop turns: that is what the watchdog asks */
}

/*
 * libevent's own messages. One that repeats on every turn of the loop
 * (a descriptor it cannot serve) is folded like the other repeated
 * errors: each of the last few distinct messages at most once a second,
 * with repeats_folded counting what was left out.
 */
static void libevent_log(int severity, const char *msg)
{
	static struct {
		char text[160];
		struct log_fold fold;
	} recent[8];
	static size_t next;
	size_t i;

	for (i = 0; i < GR_NELEM(recent); i++) {
		if (recent[i].text[0] != '\0' &&
		    strncmp(recent[i].text, msg, sizeof(recent[i].text) - 1) == 0)
			break;
	}
	if (i == GR_NELEM(recent)) {
		i = next++ % GR_NELEM(recent);
		snprintf(recent[i].text, sizeof(recent[i].text), "%s", msg);
		memset(&recent[i].fold, 0, sizeof(recent[i].fold));
	}
	log_folded(&recent[i].fold, severity >= EVENT_LOG_WARN ? LOG_WARN : LOG_DEBUG, "libevent",
	           msg);
}

int daemon_main(struct config *cfg)
{
	struct daemon d;
	struct diags dg;
	char *password = NULL;
	char summary[256];

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	log_init(cfg->log_format, cfg->log_level);
	event_set_log_callback(libevent_log);
	signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
	/*
	 * One malloc arena for the loop and the reload threads: a reload then
	 * builds the new rules in the memory the rules before last left free,
	 * instead of in a fresh arena whose every page the kernel must fault in
	 * and zero first (a 100,000-unit reload: about 0.9 s -> 0.6 s here).
	 * The threads rarely allocate at the same time.
	 */
	mallopt(M_ARENA_MAX, 1);
#endif

	diags_init(&dg, cfg->rules);
	d.rules = rules_load(cfg->rules, &dg);
	log_diags(&dg);
	diags_free(&dg);
	if (d.rules == NULL) {
		log_kv(LOG_ERROR, "rules_invalid", "rules", cfg->rules, NULL);
		return 1;
	}
	char err[512];
	if (config_check_notify(cfg, tz_name(d.rules->tz), err, sizeof(err)) < 0) {
		log_kv(LOG_ERROR, "config_invalid", "diagnostic", err, NULL);
		rules_free(d.rules);
		return 1;
	}
	d.lconf.lang = cfg->notify_lang;
	d.lconf.kpi_retention_ms = cfg->kpi_ms;
	if (strcmp(cfg->notify_timezone, "UTC") == 0) {
		d.utc = tz_fixed("UTC", 0);
		d.lconf.tz = d.utc; /* else NULL: the rules' zone, whatever a reload makes it */
	}
	password = rconn_read_password(cfg);

	d.base = event_base_new();
	if (d.base == NULL)
		fatalx("cannot create the event loop");
	d.rd = rconn_new(d.base, cfg, password, "read", on_conn, &d);
	d.wr = rconn_new(d.base, cfg, password, "write", on_conn, &d);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	d.store = store_new(d.base, d.wr, cfg);
	d.intake = intake_new(&d);
	d.esc = escalator_new(&d);
	struct http *http = http_start(&d);
	d.reloader = reloader_new(&d);
	metrics.last_reload_success = (double)time_now_ms() / 1000.0;
	metrics_rules_loaded(d.rules);

	struct event *hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	struct event *term = evsignal_new(d.base, SIGTERM, on_term, &d);
	struct event *intr = evsignal_new(d.base, SIGINT, on_term, &d);
	/* the intake starts (and restarts) as soon as both connections and the scripts are ready */
	struct event *kick = event_new(d.base, -1, EV_PERSIST, on_kick, &d);
	struct timeval kick_tv = {0, 100000};
	evsignal_add(hup, NULL);
	evsignal_add(term, NULL);
	evsignal_add(intr, NULL);
	evtimer_add(kick, &kick_tv);

	rules_summary(d.rules, summary, sizeof(summary));
	uint64_t wd = notify_watchdog_usec();
	struct event *watchdog = NULL;
	if (wd > 0) {
		/* half the period, as sd_watchdog_enabled(3) advises */
		struct timeval wtv = {(time_t)(wd / 2 / 1000000), (suseconds_t)(wd / 2 % 1000000)};
		watchdog = event_new(d.base, -1, EV_PERSIST, on_watchdog, NULL);
		evtimer_add(watchdog, &wtv);
	}
	notify_ready();
	log_kv(LOG_INFO, "started", "rules", cfg->rules, "summary", summary, "consumer",
	       cfg->consumer, "group", cfg->group, "prefix", cfg->prefix, NULL);
	rconn_start(d.rd);
	rconn_start(d.wr);

	event_base_dispatch(d.base);

	log_kv(LOG_INFO, "stopped", NULL);
	http_free(http);
	bool reload_done = reloader_free(d.reloader);
	if (watchdog != NULL)
		event_free(watchdog);
	/* the connections first: hiredis calls what is pending with no reply, and
	 * those callbacks still reach the intake, the escalator and the store */
	rconn_free(d.rd);
	d.rd = NULL;
	rconn_free(d.wr);
	d.wr = NULL;
	intake_free(d.intake);
	escalator_free(d.esc);
	store_free(d.store);
	event_free(hup);
	event_free(term);
	event_free(intr);
	event_free(kick);
	if (d.grace != NULL)
		event_free(d.grace);
	event_base_free(d.base);
	if (reload_done)
		rules_free(d.rules);
	tz_free(d.utc);
	return d.exit_code;
}
