/* loopsan export --format chrome: a Chrome trace-event JSON file that
 * Perfetto UI and chrome://tracing open. One track per thread, named; each
 * callback a complete event named by its callback's symbol, with the API
 * and the registration site in its args; findings as instant events.
 * Callbacks are streamed from the trace, never all held in memory. */
#include "viewer/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct export_args {
	const char *out;
	int have_format;
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
};

void ls_export_usage(FILE *out)
{
	fputs("usage: loopsan export --format chrome -o FILE TRACE|DIR...\n"
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
	      "  -h, --help       show this help\n",
	      out);
}

/* A JSON string body (no quotes), newly allocated. */
static char *json_escape(const char *s)
{
	size_t n = strlen(s);
	char *o = ls_xmalloc(n * 6 + 1), *p = o;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Symbols and paths are bytes: keep the output ASCII. */
			p += sprintf(p, "\\u%04x", c);
		} else {
			*p++ = (char)c;
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

static int emit_callback(void *arg, const struct ls_callback *c)
{
	struct emitter *e = arg;
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
		if (!c->slow || (s && s->api == LS_API_UV_QUEUE_WORK))
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
		char *handle = json_escape(f->handle ? f->handle : "?");
		sep(e);
		fprintf(e->out, "{\"name\":\"pending-at-close\",\"cat\":\"finding\",\"ph\":\"i\","
			"\"s\":\"t\",\"ts\":%.3f,\"pid\":%" PRIu64 ",\"tid\":%" PRIu32
			",\"args\":{\"handle\":\"%s\"}}", ts_us(e, at), t->pid, f->tid, handle);
		free(handle);
	}
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
	return 0;
}

static int write_all(FILE *out, const struct ls_report *r)
{
	struct emitter e = { .out = out, .first = 1 };
	e.base_ns = -1;
	for (size_t i = 0; i < r->ntraces; i++)
		if (e.base_ns < 0 || (double)r->traces[i]->start_ns < e.base_ns)
			e.base_ns = (double)r->traces[i]->start_ns;
	fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"loopsan\"},"
	      "\"traceEvents\":[", out);
	for (size_t i = 0; i < r->ntraces; i++) {
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
	if (ls_report_load(&r, a.paths, a.npaths, &opt)) {
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
	rc = write_all(out, &r);
	if ((!to_stdout && fclose(out) != 0) || (to_stdout && fflush(out) != 0))
		rc = -1;
	if (rc)
		ls_error("%s: write failed: %s", a.out, strerror(errno));
	ls_report_free(&r);
	free(a.paths);
	return rc ? LS_EXIT_USAGE : LS_EXIT_OK;
}
