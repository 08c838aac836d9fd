/*
 * reload.c: SIGHUP reloads the rules off the event loop. A big rules file
 * takes long to read; a thread builds the new rules object whole, then
 * wakes the loop through a pipe ('L'), and the loop swaps it in at once.
 * The thread then compares the two for the log line and wakes the loop
 * again ('D'): the loop logs the reload (or, when the file had errors,
 * every diagnostic, keeping the old rules), and the old rules are freed
 * in a thread of their own. The loop itself never waits on the file, so
 * intake goes on during a reload. Signals arriving during a reload are
 * folded into one more reload after it. Shutdown never waits for a reload
 * either (SPEC v2 §9): a thread still reading is left to the exit, with
 * what it uses (SPEC: a reload never delays SIGTERM).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_diff.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"

struct reloader {
	struct daemon *d;
	char *path; /* the thread's own copy of the rules path */
	pthread_t th;
	int pipe[2];
	struct event *ev;
	bool running;
	bool again;
	int64_t started;
	int64_t active_ms; /* from the signal until the new rules were in use */
	/* written by the thread, read by the loop after the wake-up */
	struct rules *result;
	struct rules *old; /* what the new rules replaced, freed after 'D' */
	struct diags dg;
	struct ctl_diff diff; /* what the new rules change, for the log line */
	/* the rules a reload replaced are freed by a thread of their own, too */
	pthread_t freer;
	bool freeing;
};

static void *free_thread(void *arg)
{
	rules_free(arg);
	return NULL;
}

/* Wait for the rules replaced last time to be freed (at once, nearly always). */
static void join_freer(struct reloader *rl)
{
	if (rl->freeing) {
		pthread_join(rl->freer, NULL);
		rl->freeing = false;
	}
}

static void wake(struct reloader *rl, char c)
{
	while (write(rl->pipe[1], &c, 1) < 0 && errno == EINTR)
		;
}

static void *load_thread(void *arg)
{
	struct reloader *rl = arg;
	/* the loop swaps the rules only after 'L': these are the running ones */
	const struct rules *old = rl->d->rules;

	rl->result = rules_load(rl->path, &rl->dg);
	wake(rl, 'L');
	/*
	 * Both rules objects are only read, here and on the loop, and the old
	 * one is freed only after 'D': no lock needed.
	 */
	if (rl->result != NULL)
		ctl_diff_rules(old, rl->result, &rl->diff, NULL);
	wake(rl, 'D');
	return NULL;
}

static void start(struct reloader *rl)
{
	join_freer(rl);
	notify_reloading();
	rl->running = true;
	rl->again = false;
	rl->started = time_now_ms();
	rl->result = NULL;
	rl->old = NULL;
	free(rl->path);
	rl->path = xstrdup(rl->d->cfg->rules);
	diags_init(&rl->dg, rl->path);
	if (pthread_create(&rl->th, NULL, load_thread, rl) != 0)
		fatal("cannot start the reload thread");
}

/* 'L': the new rules are ready; no work in flight keeps a pointer into the rules. */
static void swap(struct reloader *rl)
{
	rl->active_ms = time_now_ms() - rl->started;
	if (rl->result != NULL) {
		rl->old = rl->d->rules;
		rl->d->rules = rl->result;
	}
}

static void finish(struct reloader *rl)
{
	struct daemon *d = rl->d;
	struct rules *r = rl->result;
	char summary[256], ms[24];

	pthread_join(rl->th, NULL);
	rl->running = false;
	log_diags(&rl->dg);
	diags_free(&rl->dg);
	snprintf(ms, sizeof(ms), "%lld", (long long)rl->active_ms);
	if (r == NULL) {
		metrics.reloads[RELOAD_FAILURE]++;
		log_kv(LOG_ERROR, "reload_failed", "rules", d->cfg->rules, "ms", ms, "msg",
		       "the rules file has errors; the running rules are kept", NULL);
	} else {
		struct rules *old = rl->old;
		struct buf changes;
		buf_init(&changes);
		ctl_diff_summary(&rl->diff, &changes);
		rules_summary(r, summary, sizeof(summary));
		metrics.reloads[RELOAD_SUCCESS]++;
		metrics.last_reload_success = (double)time_now_ms() / 1000.0;
		metrics_rules_loaded(r);
		log_kv(LOG_INFO, "reloaded", "rules", d->cfg->rules, "summary", summary, "changes",
		       changes.data != NULL ? changes.data : "", "ms", ms, NULL);
		buf_free(&changes);
		/* freeing a big rules object takes long too: not on the loop */
		if (pthread_create(&rl->freer, NULL, free_thread, old) == 0)
			rl->freeing = true;
		else
			rules_free(old);
	}
	notify_ready();
	if (rl->again)
		start(rl);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[16];
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == 'L')
				swap(arg);
			else
				finish(arg);
		}
	}
}

struct reloader *reloader_new(struct daemon *d)
{
	struct reloader *rl = xcalloc(1, sizeof(*rl));

	rl->d = d;
	if (pipe(rl->pipe) < 0)
		fatal("pipe");
	for (int i = 0; i < 2; i++) {
		fcntl(rl->pipe[i], F_SETFL, fcntl(rl->pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(rl->pipe[i], F_SETFD, FD_CLOEXEC);
	}
	rl->ev = event_new(d->base, rl->pipe[0], EV_READ | EV_PERSIST, on_wake, rl);
	event_add(rl->ev, NULL);
	return rl;
}

void reloader_request(struct reloader *rl)
{
	if (rl->running)
		rl->again = true;
	else
		start(rl);
}

bool reloader_free(struct reloader *rl)
{
	if (rl == NULL)
		return true;
	event_free(rl->ev);
	if (rl->running) {
		char buf[16];
		ssize_t n;
		bool done = false;

		/* a reload that has just finished: its wake-ups are in the pipe */
		while ((n = read(rl->pipe[0], buf, sizeof(buf))) > 0) {
			for (ssize_t i = 0; i < n; i++) {
				if (buf[i] == 'L')
					swap(rl);
				else
					done = true;
			}
		}
		if (!done) {
			/*
			 * Not joined: the file may be slow to read (or hang, on a
			 * dead network mount), and the exit must not wait. The
			 * thread keeps what it uses, rl and its pipe and both rules
			 * objects, until the process is gone.
			 */
			log_kv(LOG_WARN, "reload_abandoned", "rules", rl->path, "msg",
			       "a reload was still reading the rules file: left unfinished", NULL);
			return false;
		}
		pthread_join(rl->th, NULL);
		/* swapped in (its 'L' read): the old rules are the ones to free */
		rules_free(rl->old != NULL ? rl->old : rl->result);
		diags_free(&rl->dg);
	}
	join_freer(rl);
	close(rl->pipe[0]);
	close(rl->pipe[1]);
	free(rl->path);
	free(rl);
	return true;
}
