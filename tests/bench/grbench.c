/*
 * grbench.c: the end-to-end benchmark tool's entry point, what its
 * subcommands share (options, pipelined hiredis on a blocking socket),
 * and the incident generator: realistic reports over a rules file's
 * units and categories, each one a pure function of (seed, number), so
 * that the daemon's run and the Redis-only ceiling see the same data.
 *
 * Not part of `make check`; `make bench` drives it (tests/bench/perf.py).
 */
#define _GNU_SOURCE /* ppoll */

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "grbench.h"

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fputs("grbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t bench_int(const char *opt, const char *s, int64_t min, int64_t max)
{
	int64_t v;

	if (parse_int64(s, min, max, &v) < 0)
		bench_die("%s: expected an integer from %lld to %lld, got \"%s\"", opt,
		          (long long)min, (long long)max, s);
	return v;
}

double bench_double(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(v >= min && v <= max))
		bench_die("%s: expected a number from %g to %g, got \"%s\"", opt, min, max, s);
	return v;
}

redisContext *bench_connect(const struct bench_opts *o)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout(o->host, o->port, tv);

	if (c == NULL || c->err)
		bench_die("redis %s:%d: %s", o->host, o->port, c != NULL ? c->errstr : "no memory");
	/* the connect timeout stays as the socket timeout: a hung Redis is an error */
	redisSetTimeout(c, (struct timeval){60, 0});
	return c;
}

struct rules *bench_rules(const char *path)
{
	struct diags d;
	struct rules *r;

	if (path == NULL)
		bench_die("--rules FILE is required");
	diags_init(&d, path);
	r = rules_load(path, &d);
	if (r == NULL) {
		diags_print(&d, stderr);
		bench_die("%s: %zu error(s)", path, d.nerrors);
	}
	diags_free(&d);
	return r;
}

void bench_flush(redisContext *c)
{
	int done = 0;

	while (!done) {
		if (redisBufferWrite(c, &done) != REDIS_OK)
			bench_die("redis write: %s", c->errstr);
	}
}

redisReply *bench_reply(redisContext *c, int timeout_ms)
{
	double deadline = bench_now() + timeout_ms / 1e3;
	void *r = NULL;

	for (;;) {
		if (redisGetReplyFromReader(c, &r) != REDIS_OK)
			bench_die("redis protocol: %s", c->errstr);
		if (r != NULL)
			return r;
		int wait = -1;
		if (timeout_ms >= 0) {
			double left = deadline - bench_now();
			wait = left > 0 ? (int)ceil(left * 1e3) : 0;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int n = poll(&p, 1, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			bench_die("poll: %s", strerror(errno));
		if (n == 0)
			return NULL;
		if (redisBufferRead(c) != REDIS_OK)
			bench_die("redis read: %s", c->errstr);
	}
}

redisReply *bench_cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r == NULL)
		bench_die("redis: %s", c->errstr);
	return r;
}

int bench_redis_pid(redisContext *c)
{
	redisReply *r = bench_cmd(c, "INFO server");
	const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "process_id:") : NULL;
	int64_t pid = -1;

	if (p != NULL) {
		const char *end = strpbrk(p + 11, "\r\n");
		char num[24];
		size_t len = end != NULL ? (size_t)(end - p - 11) : strlen(p + 11);
		snprintf(num, sizeof(num), "%.*s",
		         (int)(len < sizeof(num) - 1 ? len : sizeof(num) - 1), p + 11);
		if (parse_int64(num, 1, INT32_MAX, &pid) < 0)
			pid = -1;
	}

	freeReplyObject(r);
	return (int)pid;
}

void bench_cpu_sample(struct bench_cpu *s, int redis_pid)
{
	unsigned long long v[8] = {0};
	double tck = (double)sysconf(_SC_CLK_TCK);
	struct rusage ru;
	char path[64];
	FILE *f;

	memset(s, 0, sizeof(*s));
	if ((f = fopen("/proc/stat", "r")) != NULL) {
		/* cpu user nice system idle iowait irq softirq steal */
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		           &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
			s->machine = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tck;
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", redis_pid);
	if (redis_pid > 0 && (f = fopen(path, "r")) != NULL) {
		unsigned long long ut, st;
		/* after the ")" that ends the command name: fields 3 on; utime and stime are 14, 15
		 */
		if (fscanf(f, "%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		           &st) == 2)
			s->redis = (double)(ut + st) / tck;
		fclose(f);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		s->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		          (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int bench_parse_id(const char *s, size_t len, uint64_t *ms, uint64_t *seq)
{
	uint64_t v[2] = {0, 0};
	int part = 0;
	size_t digits = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '-' && part == 0 && digits > 0) {
			part = 1;
			digits = 0;
		} else if (s[i] >= '0' && s[i] <= '9' && digits < 19) {
			v[part] = v[part] * 10 + (uint64_t)(s[i] - '0');
			digits++;
		} else {
			return -1;
		}
	}
	if (part != 1 || digits == 0)
		return -1;
	*ms = v[0];
	*seq = v[1];
	return 0;
}

/* ---- the incident generator ------------------------------------------- */

/* How often each category is reported (gen_rules.py's shares). */
static const struct {
	const char *key;
	int weight;
	const char *titles[6];
} cat_info[] = {
        {"party_building", 3, {"党员报到服务活动安排", "流动党员信息登记", "党群服务站点巡查"}},
        {"political_legal",
         6,
         {"可疑人员徘徊", "出租屋人员信息未登记", "重点人员动态核查", "治安隐患排查"}},
        {"urban_management",
         25,
         {"井盖缺失", "占道经营", "违规停车堵塞消防通道", "路灯损坏", "私搭乱建", "广告牌松动"}},
        {"epidemic_control", 6, {"外地返回人员登记", "重点人员健康监测", "核酸检测点秩序维护"}},
        {"dispute_mediation",
         10,
         {"邻里噪音纠纷", "供暖费用纠纷", "物业费纠纷", "婚姻家庭纠纷", "楼上漏水纠纷"}},
        {"civil_affairs", 8, {"低保申请咨询", "临时救助申请", "残疾人补贴核查"}},
        {"elderly_care", 7, {"独居老人多日未出门", "空巢老人上门探访", "失能老人照料需求"}},
        {"work_safety",
         10,
         {"楼道堆放杂物", "电动车楼内充电", "燃气泄漏报警", "烟感报警", "电线私拉乱接"}},
        {"sanitation", 25, {"垃圾未及时清运", "小区化粪池外溢", "绿化带垃圾堆积", "楼道卫生脏乱"}},
};

/* Channels in enum channel order, and their shares of the reports. */
static const int channel_weight[CH__COUNT] = {30, 30, 10, 30};
static const int severity_weight[SEV__COUNT] = {15, 55, 22, 8};
static const char *const alert_sources[] = {"camera", "iot", "smoke_detector", "manhole_sensor",
                                            "platform_rule"};
static const int alert_source_weight[] = {45, 25, 10, 10, 10};
static const char *const feedback_via[] = {"wechat_group", "app", "hotline_12345", "visit"};
static const int feedback_via_weight[] = {40, 25, 25, 10};
/* Every character three bytes of UTF-8. */
static const char surnames[] = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧"
                               "程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜";
static const char given[] = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉梅晓燕红"
                            "志海波宁慧颖倩婷浩宇鹏飞俊峰欣怡佳琪雪文博子涵嘉立新永春";

struct rng {
	uint64_t s;
};

/* splitmix64: good enough, and seekable by seeding with (seed, i). */
static uint64_t rng_next(struct rng *g)
{
	uint64_t z = (g->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *g, uint64_t n)
{
	return rng_next(g) % n;
}

static double rng_unit(struct rng *g)
{
	return (double)(rng_next(g) >> 11) / 9007199254740992.0;
}

static int rng_pick(struct rng *g, const int *weights, size_t n)
{
	int total = 0;

	for (size_t i = 0; i < n; i++)
		total += weights[i];
	int x = (int)rng_below(g, (uint64_t)total);
	for (size_t i = 0; i < n; i++) {
		if (x < weights[i])
			return (int)i;
		x -= weights[i];
	}
	return (int)n - 1;
}

static void put_utf8_char(struct buf *b, struct rng *g, const char *set, size_t setlen)
{
	buf_append(b, set + 3 * rng_below(g, setlen / 3), 3);
}

/* A JSON string: the generated text needs escaping only of " and \ and controls. */
static void put_json_str(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			buf_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			buf_printf(b, "\\u%04x", ch);
		else
			buf_putc(b, (char)ch);
	}
	buf_putc(b, '"');
}

void gen_init(struct gen *g, const struct rules *r, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->r = r;
	g->seed = seed;
	g->now_s = time_now_ms() / 1000;
	g->leaves = xreallocarray(NULL, r->nunits, sizeof(*g->leaves));
	for (size_t u = 0; u < r->nunits; u++) {
		if (r->units[u].nchildren == 0)
			g->leaves[g->nleaves++] = (int)u;
	}
	if (g->nleaves == 0)
		bench_die("%s: no units to report incidents on", r->path);
	g->ncats =
	        r->ncategories < GR_NELEM(g->cat_weight) ? r->ncategories : GR_NELEM(g->cat_weight);
	for (size_t c = 0; c < g->ncats; c++) {
		g->cat_weight[c] = 5; /* a category this generator does not know */
		for (size_t k = 0; k < GR_NELEM(cat_info); k++) {
			if (strcmp(cat_info[k].key, r->categories[c].key) == 0)
				g->cat_weight[c] = cat_info[k].weight;
		}
	}
}

void gen_free(struct gen *g)
{
	free(g->leaves);
}

static const char *title_of(const char *category, struct rng *g)
{
	for (size_t k = 0; k < GR_NELEM(cat_info); k++) {
		if (strcmp(cat_info[k].key, category) != 0)
			continue;
		size_t n = 0;
		while (n < GR_NELEM(cat_info[k].titles) && cat_info[k].titles[n] != NULL)
			n++;
		return cat_info[k].titles[rng_below(g, n)];
	}
	return "网格事件上报";
}

enum channel gen_incident(const struct gen *g, int64_t i, struct buf *out)
{
	struct rng rg = {g->seed * UINT64_C(0x2545f4914f6cdd1d) ^ (uint64_t)i};
	const struct rules *r = g->r;
	char device[48], ts[TIME_BUFSZ];

	rng_next(&rg);
	enum channel ch = (enum channel)rng_pick(&rg, channel_weight, CH__COUNT);
	const struct rules_unit *u = &r->units[g->leaves[rng_below(&rg, g->nleaves)]];
	const char *cat = r->categories[rng_pick(&rg, g->cat_weight, g->ncats)].key;
	const char *title = title_of(cat, &rg);
	enum severity sev = (enum severity)rng_pick(&rg, severity_weight, SEV__COUNT);

	buf_puts(out, "{\"category\":");
	put_json_str(out, cat);
	buf_puts(out, ",\"unit\":");
	put_json_str(out, u->id);
	buf_puts(out, ",\"title\":");
	put_json_str(out, title);
	buf_printf(out, ",\"severity\":\"%s\"", severity_name(sev));
	switch (ch) {
	case CH_ALERT: {
		int s = rng_pick(&rg, alert_source_weight, GR_NELEM(alert_sources));
		snprintf(device, sizeof(device), "%s-%05u", alert_sources[s],
		         (unsigned)rng_below(&rg, 100000));
		/* unique: a re-firing device would be a duplicate, not a new incident */
		if (rng_below(&rg, 2) == 0)
			buf_printf(out, ",\"dedup_key\":\"%s:%s:%llu-%lld\"", u->id, device,
			           (unsigned long long)g->seed, (long long)i);
		buf_printf(out, ",\"attrs\":{\"source\":\"%s\",\"device\":\"%s\"}",
		           alert_sources[s], device);
		break;
	}
	case CH_FEEDBACK:
		buf_puts(out, ",\"reporter\":{\"name\":\"");
		put_utf8_char(out, &rg, surnames, sizeof(surnames) - 1);
		put_utf8_char(out, &rg, given, sizeof(given) - 1);
		if (rng_unit(&rg) < 0.7)
			put_utf8_char(out, &rg, given, sizeof(given) - 1);
		buf_printf(
		        out, "\",\"phone\":\"139%08u\"},\"attrs\":{\"via\":\"%s\"}",
		        (unsigned)rng_below(&rg, 100000000),
		        feedback_via[rng_pick(&rg, feedback_via_weight, GR_NELEM(feedback_via))]);
		break;
	case CH_PATROL:
		buf_printf(out, ",\"reporter\":{\"id\":\"w%06u\"}",
		           (unsigned)(1 + rng_below(&rg, g->nleaves)));
		break;
	default: /* scheduled: a task with a date, one hour to two weeks ahead */
		time_format((g->now_s + 3600 + (int64_t)rng_below(&rg, 13 * 86400)) * 1000, ts);
		buf_printf(out, ",\"due_at\":\"%s\"", ts);
		break;
	}
	if (rng_below(&rg, 2) == 0) {
		buf_printf(out, ",\"location\":{\"lat\":%.6f,\"lng\":%.6f,\"address\":",
		           35.70 + rng_unit(&rg) * 0.08, 107.60 + rng_unit(&rg) * 0.08);
		put_json_str(out, u->name);
		buf_putc(out, '}');
	}
	if (rng_unit(&rg) < 0.3) {
		buf_puts(out, ",\"detail\":\"");
		buf_puts(out, title);
		buf_puts(out, "，请尽快处理。\"");
	}
	buf_putc(out, '}');
	return ch;
}

/* ---- main -------------------------------------------------------------- */

static void usage(void) __attribute__((noreturn));

static void usage(void)
{
	fputs("usage: grbench load    --rules FILE [--count N | --seconds S] [--rate R]\n"
	      "                       [--seed N] [--first I] [--window W] [redis options]\n"
	      "       grbench latency [--after ID] [--count N] [--timeout S] [--dump FILE]\n"
	      "                       [--span NAME:FROM_MS:TO_MS ...] [redis options]\n"
	      "       grbench ceiling --rules FILE [--minimal] [--window W] [--read-count N]\n"
	      "                       [redis options]\n"
	      "redis options: [--host H] [--port P] [--prefix P]\n"
	      "See tests/bench/README.md §5.\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench_opts o = {.host = "127.0.0.1",
	                       .port = 6379,
	                       .prefix = "gr:",
	                       .seed = 1,
	                       .window = BENCH_WINDOW,
	                       .read_count = 1000};
	char **rest = xcalloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0;
	bool minimal = false;

	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;
		if (strcmp(a, "--host") == 0 && has)
			o.host = argv[++i];
		else if (strcmp(a, "--port") == 0 && has)
			o.port = (int)bench_int(a, argv[++i], 1, 65535);
		else if (strcmp(a, "--prefix") == 0 && has)
			o.prefix = argv[++i];
		else if (strcmp(a, "--rules") == 0 && has)
			o.rules = argv[++i];
		else if (strcmp(a, "--seed") == 0 && has)
			o.seed = (uint64_t)bench_int(a, argv[++i], 0, INT64_MAX);
		else if (strcmp(a, "--first") == 0 && has)
			o.first = bench_int(a, argv[++i], 0, INT64_MAX / 2);
		else if (strcmp(a, "--count") == 0 && has)
			o.count = bench_int(a, argv[++i], 0, INT64_MAX / 2);
		else if (strcmp(a, "--rate") == 0 && has)
			o.rate = bench_double(a, argv[++i], 0, 1e8);
		else if (strcmp(a, "--seconds") == 0 && has)
			o.seconds = bench_double(a, argv[++i], 0, 86400);
		else if (strcmp(a, "--window") == 0 && has)
			o.window = (int)bench_int(a, argv[++i], 1, 1000000);
		else if (strcmp(a, "--read-count") == 0 && has)
			o.read_count = (int)bench_int(a, argv[++i], 1, 100000);
		else if (strcmp(a, "--minimal") == 0)
			minimal = true;
		else if (strncmp(a, "--", 2) == 0 && has) {
			rest[nrest++] = argv[i];
			rest[nrest++] = argv[++i];
		} else
			usage();
	}
	if (strcmp(argv[1], "load") == 0 && nrest == 0)
		return cmd_load(&o);
	if (strcmp(argv[1], "latency") == 0)
		return cmd_latency(&o, nrest, rest);
	if (strcmp(argv[1], "ceiling") == 0 && nrest == 0)
		return cmd_ceiling(&o, minimal);
	usage();
}
