/*
 * log.h: one line per event on stderr, logfmt or JSON. Every line carries
 * ts, level and event; further fields are key/value string pairs. Values
 * are escaped, so anything a peer sent may be logged safely. In JSON the
 * values of counts, milliseconds, ports and versions (log.c's number_keys)
 * are numbers. A key is written once per line: a repeated one (ts, level
 * and event included) is dropped. When stderr is the journal's stream
 * (JOURNAL_STREAM names it), each line starts with its priority ("<4>").
 */
#ifndef GR_LOG_H
#define GR_LOG_H

#include <stdnoreturn.h>

#include "util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

void log_init(enum log_format format, enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);
/* A --log-format or --log-level value on prog's command line: 0, or -1 after a line on stderr. */
int log_option_format(const char *prog, const char *arg, enum log_format *out);
int log_option_level(const char *prog, const char *arg, enum log_level *out);
const char *log_level_name(enum log_level level);
bool log_enabled(enum log_level level);

/* Key/value pairs of strings, terminated by NULL. A NULL value is skipped. */
void log_kv(enum log_level level, const char *event, ...) __attribute__((sentinel));
void log_kvv(enum log_level level, const char *event, va_list ap);

/*
 * A line that repeats with every retry (an error reply that lasts, a
 * refused read): at most one a second per fold, with "repeats_folded"
 * saying how many were left out since the last one.
 */
struct log_fold {
	int64_t last;
	unsigned long folded;
};

void log_folded(struct log_fold *f, enum log_level level, const char *event, const char *error);

/* A free-text "msg" field after the event. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...) GR_PRINTF(3, 4);

/* Each configuration diagnostic as a log line (event rules_diagnostic). */
struct diags;
void log_diags(const struct diags *d);

/* Start-up failures and broken invariants only; never for peer input. */
noreturn void fatalx(const char *fmt, ...) GR_PRINTF(1, 2);
noreturn void fatal(const char *fmt, ...) GR_PRINTF(1, 2); /* appends strerror(errno) */

#endif
