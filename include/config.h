/*
 * config.h: the daemon config (SPEC §9), and gridweb's (§12) in the same
 * format, described by tables of keys (name, type, bounds, default) and
 * read as strictly as the rules file.
 */
#ifndef GR_CONFIG_H
#define GR_CONFIG_H

#include "diag.h"
#include "log.h"
#include "message.h"

/* Which program's keys a file may have: gridweb shares redis, prefix, rules and log. */
enum config_prog { CONFIG_DAEMON, CONFIG_WEB };

struct config {
	char *path; /* the config file as named */
	enum config_prog prog;

	char *redis_host;
	int64_t redis_port;
	char *redis_socket; /* "" for TCP */
	int64_t redis_db;
	char *redis_username;
	char *redis_password_file; /* resolved against the config's directory; "" for none */
	char **redis_sentinels;    /* "host:port" */
	size_t redis_nsentinels;
	char *redis_master_name;
	char **redis_cluster; /* Redis Cluster seed nodes "host:port"; none: not a cluster */
	size_t redis_ncluster;

	char *prefix;
	char *group;
	char *consumer; /* default: the hostname */
	char *rules;    /* resolved against the config's directory */
	char *http_listen;
	enum log_format log_format;
	enum log_level log_level;

	int64_t max_incident_bytes;
	int64_t batch;
	int64_t block_ms;
	int64_t claim_idle_ms;
	int64_t max_deliveries;
	int64_t tick_ms;

	int64_t out_maxlen;
	int64_t resolved_ms;
	int64_t kpi_ms; /* retention.kpi */

	enum msg_lang notify_lang; /* notify.language */
	char *notify_timezone;     /* notify.timezone: "", "UTC" or the rules' zone */

	char *web_listen;    /* gridweb: web.listen */
	char *web_auth_file; /* gridweb: web.auth_file, resolved; "" for no authentication */
};

/* Defaults only (no file): what a missing key means. */
void config_defaults(struct config *c);

/*
 * Load path into c: defaults, then the file. Every mistake is reported to
 * d as file:line:col. Returns 0, or -1 if there was an error (c is then
 * freed and must not be used).
 */
int config_load(const char *path, struct config *c, struct diags *d);
int config_load_buf(const char *name, const char *buf, size_t len, struct config *c,
                    struct diags *d);
/* The same for another program's keys (config_load is CONFIG_DAEMON). */
int config_load_as(enum config_prog prog, const char *path, struct config *c, struct diags *d);
int config_load_buf_as(enum config_prog prog, const char *name, const char *buf, size_t len,
                       struct config *c, struct diags *d);
void config_free(struct config *c);

/*
 * notify.timezone against the rules' zone (SPEC §3.1): "", "UTC" or that
 * zone by name. 0, or -1 with a sentence naming the file and the key.
 */
int config_check_notify(const struct config *c, const char *rules_zone, char *err, size_t errsz);

/* Split "host:port" or "[v6]:port"; host may be empty. 0 or -1. */
int config_split_hostport(const char *s, char *host, size_t hostsz, int *port);

#endif
