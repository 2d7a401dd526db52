/* loopsan export --format chrome: a Chrome trace-event JSON file that
 * Perfetto UI and chrome://tracing open. One track per thread, named; each
 * callback a complete event named by its callback's symbol, with the API
 * and the registration site in its args; findings as instant events.
 * Callbacks are streamed from the trace, never all held in memory; the
 * filters (--pid, --tid, --since/--until, --min-ms) keep a big timeline's
 * JSON to the part one looks at. */
#include "viewer/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct export_filter {
	uint64_t pid;        /* 0: every process */
	uint32_t tid;        /* 0: every thread */
	double since_ms, until_ms; /* from ts 0; until < 0: no end */
	double min_ms;       /* callbacks shorter than this are left out */
};

struct export_args {
	const char *out;
	int have_format;
	struct export_filter f;
	char **paths;
	size_t npaths;
};

struct site_names {
	uint32_t site;
	char *callback;   /* JSON-escaped */
	char *api;
	char *where;      /* "function file:line", escaped, or NULL */
};

struct emitter {
	FILE *out;
	const struct ls_trace *trace;
	struct ls_symbolizer *sym;
	double base_ns;      /* ts 0 */
	int first;           /* no event written yet */
	struct site_names *names; /* by index of the trace's sites */
	uint64_t events;
	const struct export_filter *f;
};

void ls_export_usage(FILE *out)
{
	fputs("usage: loopsan export --format chrome -o FILE [--pid PID] [--tid TID]\n"
	      "                      [--since MS] [--until MS] [--min-ms MS] TRACE|DIR...\n"
	      "\n"
	      "Writes the traces as Chrome trace-event JSON, which Perfetto UI\n"
	      "(ui.perfetto.dev) and chrome://tracing open: one track per thread,\n"
	      "each callback a slice named by its function (with the registering\n"
	      "API and site in its arguments), findings as instant events. In the\n"
	      "default mode=summary a trace holds only the slow callbacks; record\n"
	      "with LOOPSAN_OPTIONS=mode=timeline to see every callback.\n"
	      "\n"
	      "options:\n"
	      "  --format chrome  the output format (the only one so far)\n"
	      "  -o FILE          where to write; - for stdout\n"
	      "  --pid PID        only the process PID (one of the traces given)\n"
	      "  --tid TID        only the thread TID (its callbacks and findings)\n"
	      "  --since MS       only what ends at or after MS milliseconds from the\n"
	      "                   start of the earliest trace given (ts 0 of the output)\n"
	      "  --until MS       only what begins at or before MS milliseconds from then\n"
	      "  --min-ms MS      only callbacks that ran at least MS milliseconds\n"
	      "  -h, --help       show this help\n",
	      out);
}

/* A JSON string body (no quotes), newly allocated. Symbols, paths and
 * thread names are bytes: valid UTF-8 is kept as it is, any other byte
 * becomes U+FFFD (JSON text must be UTF-8). */
static char *json_escape(const char *s)
{
	size_t n = strlen(s);
	char *o = ls_xmalloc(n * 6 + 1), *p = o;
	const unsigned char *u = (const unsigned char *)s, *end = u + n;
	while (u < end) {
		unsigned char c = *u;
		size_t len = ls_utf8_len(u, (size_t)(end - u));
		if (len == 0) {
			p += sprintf(p, "\\ufffd");
			u++;
		} else if (len > 1) {
			memcpy(p, u, len);
			p += len, u += len;
		} else if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
			u++;
		} else if (c < 0x20 || c == 0x7f) {
			p += sprintf(p, "\\u%04x", c);
			u++;
		} else {
			*p++ = (char)c;
			u++;
		}
	}
	*p = '\0';
	return o;
}

static void site_names_init(struct emitter *e)
{
	const struct ls_trace *t = e->trace;
	e->names = ls_xcalloc(t->sites.len + 1, sizeof(*e->names));
	for (size_t i = 0; i < t->sites.len; i++) {
		const struct ls_site *s = LS_VEC_AT(&t->sites, struct ls_site, i);
		struct site_names *n = &e->names[i];
		struct ls_callback_name cn;
		ls_site_callback_name(&cn, e->sym, s);
		if (ls_api_is_selector(s->api))
			n->callback = ls_xstrdup("loop iteration");
		else if (cn.name[0] == '\0')
			n->callback = ls_xstrdup("?");
		else
			n->callback = json_escape(cn.name);
		n->site = s->id;
		n->api = json_escape(ls_api_name(s->api));
		const struct ls_frame *fr = ls_site_frame(e->sym, t, s);
		char where[1024];
		if (fr && fr->function && fr->file)
			snprintf(where, sizeof(where), "%s %s:%d", fr->function,
				 ls_basename(fr->file), fr->line);
		else if (fr && fr->function)
			snprintf(where, sizeof(where), "%s", fr->function);
		else if (fr)
			snprintf(where, sizeof(where), "0x%" PRIx64, fr->pc);
		if (fr)
			n->where = json_escape(where);
	}
}

static void site_names_free(struct emitter *e)
{
	for (size_t i = 0; e->names && i < e->trace->sites.len; i++) {
		free(e->names[i].callback);
		free(e->names[i].api);
		free(e->names[i].where);
	}
	free(e->names);
	e->names = NULL;
}

static const struct site_names *names_of(const struct emitter *e, uint32_t site)
{
	const struct ls_site *s = ls_trace_site(e->trace, site);
	if (s == NULL)
		return NULL;
	return &e->names[s - (const struct ls_site *)e->trace->sites.items];
}

static void sep(struct emitter *e)
{
	fputs(e->first ? "\n" : ",\n", e->out);
	e->first = 0;
	e->events++;
}

static double ts_us(const struct emitter *e, double ns)
{
	return (ns - e->base_ns) / 1e3;
}

/* Is [begin_ns, begin_ns + dur_ns] of thread tid in the filters' window? */
static int wanted(const struct emitter *e, uint32_t tid, double begin_ns, double dur_ns)
{
	const struct export_filter *f = e->f;
	double begin_ms = (begin_ns - e->base_ns) / 1e6, end_ms = begin_ms + dur_ns / 1e6;
	return (f->tid == 0 || tid == f->tid) && end_ms >= f->since_ms &&
	       (f->until_ms < 0 || begin_ms <= f->until_ms);
}

static int emit_callback(void *arg, const struct ls_callback *c)
{
	struct emitter *e = arg;
	if (!wanted(e, c->tid, c->begin_ns, c->dur_ns) || c->dur_ns / 1e6 < e->f->min_ms)
		return 0;
	const struct site_names *n = names_of(e, c->site);
	sep(e);
	fprintf(e->out, "{\"name\":\"%s\",\"cat\":\"callback\",\"ph\":\"X\",\"ts\":%.3f,"
		"\"dur\":%.3f,\"pid\":%" PRIu64 ",\"tid\":%" PRIu32 ",\"args\":{\"api\":\"%s\"",
		n ? n->callback : "unknown", ts_us(e, c->begin_ns), c->dur_ns / 1e3,
		e->trace->pid, c->tid, n ? n->api : "unknown");
	if (n && n->where)
		fprintf(e->out, ",\"created_at\":\"%s\"", n->where);
	fputs("}}", e->out);
	return ferror(e->out) ? -1 : 0;
}

static void emit_metadata(struct emitter *e)
{
	const struct ls_trace *t = e->trace;
	char label[1200];
	snprintf(label, sizeof(label), "%s (pid %" PRIu64 ")", ls_basename(t->exe), t->pid);
	char *esc = json_escape(label);
	sep(e);
	fprintf(e->out, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%" PRIu64
		",\"args\":{\"name\":\"%s\"}}", t->pid, esc);
	free(esc);
	for (size_t i = 0; i < t->threads.len; i++) {
		const struct ls_thread *th = LS_VEC_AT(&t->threads, struct ls_thread, i);
		if (e->f->tid != 0 && th->tid != e->f->tid)
			continue;
		esc = json_escape(th->name);
		sep(e);
		fprintf(e->out, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRIu64
			",\"tid\":%" PRIu32 ",\"args\":{\"name\":\"%s\"}}", t->pid, th->tid, esc);
		free(esc);
	}
}

/* Findings as instant events on the thread they belong to. */
static void emit_findings(struct emitter *e, const struct ls_report *r)
{
	const struct ls_trace *t = e->trace;
	for (size_t i = 0; i < t->callbacks.len; i++) {
		const struct ls_callback *c = LS_VEC_AT(&t->callbacks, struct ls_callback, i);
		const struct ls_site *s = ls_trace_site(t, c->site);
		if (!c->slow || (s && s->api == LS_API_UV_QUEUE_WORK) ||
		    !wanted(e, c->tid, c->begin_ns, c->dur_ns) || c->dur_ns / 1e6 < e->f->min_ms)
			continue;
		const struct site_names *n = names_of(e, c->site);
		sep(e);
		fprintf(e->out, "{\"name\":\"slow-callback\",\"cat\":\"finding\",\"ph\":\"i\",\"s\":\"t\","
			"\"ts\":%.3f,\"pid\":%" PRIu64 ",\"tid\":%" PRIu32 ",\"args\":{\"callback\":\"%s\","
			"\"ms\":%.3f}}", ts_us(e, c->begin_ns + c->dur_ns), t->pid, c->tid,
			n ? n->callback : "unknown", c->dur_ns / 1e6);
	}
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++) {
		const struct ls_finding *f = ls_finding_at(&r->findings, i);
		if (f->trace != t || f->kind != LS_FINDING_PENDING_AT_CLOSE)
			continue;
		double at = e->base_ns;
		for (size_t k = 0; k < t->closes.len; k++) {
			const struct ls_loop_close *lc = LS_VEC_AT(&t->closes, struct ls_loop_close, k);
			if (lc->tid == f->tid)
				at = (double)lc->time_ns;
		}
		if (!wanted(e, f->tid, at, 0))
			continue;
		char *handle = json_escape(f->handle ? f->handle : "?");
		sep(e);
		fprintf(e->out, "{\"name\":\"pending-at-close\",\"cat\":\"finding\",\"ph\":\"i\","
			"\"s\":\"t\",\"ts\":%.3f,\"pid\":%" PRIu64 ",\"tid\":%" PRIu32
			",\"args\":{\"handle\":\"%s\"}}", ts_us(e, at), t->pid, f->tid, handle);
		free(handle);
	}
}

/* A --since/--until/--min-ms value: milliseconds, 0 or more. */
static int parse_ms(const char *name, const char *v, double *ms)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (end == v || *end != '\0' || errno != 0 || !isfinite(d) || d < 0 || d > 1e12) {
		ls_error("export: bad %s '%s' (milliseconds, 0 or more)", name, v);
		return -1;
	}
	*ms = d;
	return 0;
}

/* A --pid/--tid value: a whole number from 1 to max. */
static int parse_id(const char *name, const char *v, uint64_t max, uint64_t *id)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (end == v || *end != '\0' || errno != 0 || v[0] == '-' || v[0] == '+' ||
	    n == 0 || n > max) {
		ls_error("export: bad %s '%s' (a number from 1 to %" PRIu64 ")", name, v, max);
		return -1;
	}
	*id = n;
	return 0;
}

static int parse_filter(int argc, char **argv, int *i, struct export_filter *f, int *bad)
{
	const char *v;
	uint64_t id;
	if ((v = ls_option_value("export", argc, argv, i, "--pid", bad))) {
		if (parse_id("--pid", v, INT32_MAX, &id))
			return -1;
		f->pid = id;
		return 0;
	}
	if (!*bad && (v = ls_option_value("export", argc, argv, i, "--tid", bad))) {
		if (parse_id("--tid", v, INT32_MAX, &id))
			return -1;
		f->tid = (uint32_t)id;
		return 0;
	}
	if (!*bad && (v = ls_option_value("export", argc, argv, i, "--since", bad)))
		return parse_ms("--since", v, &f->since_ms);
	if (!*bad && (v = ls_option_value("export", argc, argv, i, "--until", bad)))
		return parse_ms("--until", v, &f->until_ms);
	if (!*bad && (v = ls_option_value("export", argc, argv, i, "--min-ms", bad)))
		return parse_ms("--min-ms", v, &f->min_ms);
	return 1;
}

static int parse_option(int argc, char **argv, int *i, void *arg)
{
	struct export_args *a = arg;
	const char *arg0 = argv[*i], *v;
	int bad = 0;
	if (strcmp(arg0, "-h") == 0 || strcmp(arg0, "--help") == 0)
		return 1;
	if ((v = ls_option_value("export", argc, argv, i, "--format", &bad))) {
		if (strcmp(v, "chrome") == 0) {
			a->have_format = 1;
			return 0;
		}
		ls_error("export: unknown format '%s' (chrome)", v);
		return -1;
	}
	int rc = bad ? -1 : parse_filter(argc, argv, i, &a->f, &bad);
	if (rc <= 0)
		return rc;
	if (!bad && ((v = ls_option_value("export", argc, argv, i, "--output", &bad)) ||
		     (!bad && (v = ls_option_value("export", argc, argv, i, "-o", &bad))))) {
		a->out = v;
		return 0;
	}
	if (!bad)
		ls_error("export: unknown option '%s' (see loopsan export --help)", arg0);
	return -1;
}

static int parse_args(int argc, char **argv, struct export_args *a)
{
	a->f.until_ms = -1;
	int rc = ls_parse_command_line("export", argc, argv, parse_option, a, &a->paths,
				       &a->npaths);
	if (rc != 0)
		return rc;
	if (!a->have_format) {
		ls_error("export: --format chrome is required (see loopsan export --help)");
		return -1;
	}
	if (a->out == NULL || a->out[0] == '\0') {
		ls_error("export: -o FILE is required (see loopsan export --help)");
		return -1;
	}
	if (a->f.until_ms >= 0 && a->f.until_ms < a->f.since_ms) {
		ls_error("export: --until %g is before --since %g", a->f.until_ms, a->f.since_ms);
		return -1;
	}
	return 0;
}

/* One line when a trace recorded in mode=summary is exported: it holds
 * only the callbacks over its threshold, so its timeline is sparse. */
static void note_summary(const struct ls_report *r, const struct export_filter *f)
{
	const struct ls_trace *first = NULL;
	size_t n = 0;
	for (size_t i = 0; i < r->ntraces; i++) {
		const struct ls_trace *t = r->traces[i];
		if (t->mode != LS_MODE_SUMMARY || (f->pid != 0 && t->pid != f->pid))
			continue;
		if (n++ == 0)
			first = t;
	}
	if (first == NULL)
		return;
	if (n == 1)
		fprintf(stderr, "loopsan: export: note: %s was recorded in mode=summary: it holds "
			"only callbacks slower than %u ms; record with LOOPSAN_OPTIONS=mode=timeline "
			"for every callback\n", first->path, first->slow_callback_ms);
	else
		fprintf(stderr, "loopsan: export: note: %zu traces (%s, ...) were recorded in "
			"mode=summary: they hold only slow callbacks; record with "
			"LOOPSAN_OPTIONS=mode=timeline for every callback\n", n, first->path);
}

static int write_all(FILE *out, const struct ls_report *r, const struct export_filter *f)
{
	struct emitter e = { .out = out, .first = 1, .f = f };
	e.base_ns = -1;
	for (size_t i = 0; i < r->ntraces; i++)
		if (e.base_ns < 0 || (double)r->traces[i]->start_ns < e.base_ns)
			e.base_ns = (double)r->traces[i]->start_ns;
	fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"loopsan\"},"
	      "\"traceEvents\":[", out);
	for (size_t i = 0; i < r->ntraces; i++) {
		if (f->pid != 0 && r->traces[i]->pid != f->pid)
			continue;
		e.trace = r->traces[i];
		e.sym = r->syms[i];
		site_names_init(&e);
		emit_metadata(&e);
		int rc = ls_trace_each_callback(e.trace, emit_callback, &e);
		if (rc == 0)
			emit_findings(&e, r);
		site_names_free(&e);
		if (rc)
			return -1;
	}
	fputs("\n]}\n", out);
	return ferror(out) ? -1 : 0;
}

/* Is a trace of r of process pid (0: no --pid)? */
static int has_pid(const struct ls_report *r, uint64_t pid)
{
	for (size_t i = 0; pid != 0 && i < r->ntraces; i++)
		if (r->traces[i]->pid == pid)
			return 1;
	return pid == 0;
}

int ls_cmd_export(int argc, char **argv)
{
	struct export_args a = { 0 };
	int rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		free(a.paths);
		if (rc > 0)
			ls_export_usage(stdout);
		return rc > 0 ? LS_EXIT_OK : LS_EXIT_USAGE;
	}
	struct ls_report r;
	struct ls_findings_options opt = { .slow_ms = -1 };
	/* A bad trace among several: the others are exported, then exit 2. */
	if (ls_report_load_all(&r, a.paths, a.npaths, &opt)) {
		ls_report_free(&r);
		free(a.paths);
		return LS_EXIT_USAGE;
	}
	if (!has_pid(&r, a.f.pid)) {
		ls_error("export: --pid %" PRIu64 ": no trace given is of that process", a.f.pid);
		ls_report_free(&r);
		free(a.paths);
		return LS_EXIT_USAGE;
	}
	int to_stdout = strcmp(a.out, "-") == 0;
	FILE *out = to_stdout ? stdout : fopen(a.out, "w");
	if (out == NULL) {
		ls_error("%s: %s", a.out, strerror(errno));
		ls_report_free(&r);
		free(a.paths);
		return LS_EXIT_USAGE;
	}
	note_summary(&r, &a.f);
	rc = write_all(out, &r, &a.f);
	if ((!to_stdout && fclose(out) != 0) || (to_stdout && fflush(out) != 0))
		rc = -1;
	if (rc)
		ls_error("%s: write failed: %s", a.out, strerror(errno));
	if (r.nbad)
		rc = -1;
	ls_report_free(&r);
	free(a.paths);
	return rc ? LS_EXIT_USAGE : LS_EXIT_OK;
}
