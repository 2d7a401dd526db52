/* loopsan report: the findings of one or more traces, as sanitizer-style
 * text or as the JSON document described in DESIGN.md. */
#include "viewer/commands.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The shim's own frames are never the user's business. */
#define SHIM_MODULE "libloopsan.so"

enum format { FORMAT_TEXT, FORMAT_JSON };

struct report_args {
	enum format format;
	char **paths;
	size_t npaths;
};

void ls_report_usage(FILE *out)
{
	fputs("usage: loopsan report [--format text|json] TRACE|DIR...\n"
	      "\n"
	      "Prints the findings of the traces: slow callbacks and handles still\n"
	      "open when their loop was closed, worst first, with the stacks where\n"
	      "they were created. A DIR stands for every *.trace file in it.\n"
	      "\n"
	      "options:\n"
	      "  --format FORMAT  text (the default) or json\n"
	      "  -h, --help       show this help\n",
	      out);
}

static struct ls_symbolizer *sym_for(const struct ls_report *r,
				     const struct ls_trace *t)
{
	for (size_t i = 0; i < r->ntraces; i++)
		if (r->traces[i] == t)
			return r->syms[i];
	return NULL;
}

/* Index of the first frame that is not the shim's own. */
static uint32_t first_user_frame(struct ls_symbolizer *s,
				 const struct ls_stack *st)
{
	uint32_t i = 0;
	while (i < st->depth) {
		const struct ls_frame *f = ls_symbolize(s, st->pcs[i], 0);
		if (!f->module || strcmp(f->module, SHIM_MODULE) != 0)
			break;
		i++;
	}
	return i;
}

static const struct ls_frame *stack_frame(struct ls_symbolizer *s,
					  const struct ls_stack *st, uint32_t i)
{
#ifdef LS_STACK_EXACT_PC0
	int exact = i == 0 && (st->flags & LS_STACK_EXACT_PC0);
#else
	int exact = 0;
#endif
	return ls_symbolize(s, st->pcs[i], exact);
}

static void format_callback(char *buf, size_t n, struct ls_symbolizer *s,
			    const struct ls_finding *fi)
{
	const struct ls_frame *f = ls_symbolize(s, fi->callback, 1);
	if (f->function)
		snprintf(buf, n, "%s", f->function);
	else
		snprintf(buf, n, "0x%" PRIx64, fi->callback);
}

/* ---- text ---- */

static void text_frame(FILE *out, unsigned n, const struct ls_frame *f)
{
	fprintf(out, "    #%u ", n);
	if (f->function)
		fputs(f->function, out);
	else
		fprintf(out, "0x%" PRIx64, f->pc);
	if (f->file && f->function) {
		fprintf(out, " %s:%d", ls_basename(f->file), f->line);
		if (f->module)
			fprintf(out, " (%s)", f->module);
	} else if (f->module) {
		fprintf(out, " (%s+0x%" PRIx64 ")", f->module, f->offset);
	}
	fputc('\n', out);
}

static void text_stack(FILE *out, const char *title, struct ls_symbolizer *s,
		       const struct ls_stack *st)
{
	if (!st) {
		fprintf(out, "  %s: unknown (no stack recorded)\n", title);
		return;
	}
	fprintf(out, "  %s:\n", title);
	uint32_t first = first_user_frame(s, st);
	if (first == st->depth)
		fputs("    (no frames)\n", out);
	for (uint32_t i = first; i < st->depth; i++)
		text_frame(out, i - first, stack_frame(s, st, i));
}

static void text_where(FILE *out, const struct ls_finding *fi)
{
	const struct ls_thread *th = ls_trace_thread(fi->trace, fi->tid);
	fputs("  ", out);
	if (fi->has_api)
		fprintf(out, "api %s, ", ls_api_name(fi->api));
	fprintf(out, "thread %" PRIu32, fi->tid);
	if (th && th->name[0])
		fprintf(out, " \"%s\"", th->name);
	fputc('\n', out);
}

static void text_slow(FILE *out, struct ls_symbolizer *s,
		      const struct ls_finding *fi)
{
	char cb[256] = "unknown callback";
	if (fi->has_callback)
		format_callback(cb, sizeof(cb), s, fi);
	fprintf(out, "==%" PRIu64 "== slow-callback: %s took %.1f ms ",
		fi->trace->pid, cb, fi->max_ms);
	if (fi->count == 1)
		fprintf(out, "(over %g ms)\n", fi->threshold_ms);
	else
		fprintf(out, "(%" PRIu64 " times over %g ms, %.1f ms in all)\n",
			fi->count, fi->threshold_ms, fi->total_ms);
	text_where(out, fi);
	text_stack(out, "created at", s, fi->created_at);
}

static void text_pending(FILE *out, struct ls_symbolizer *s,
			 const struct ls_finding *fi)
{
	char cb[256] = "";
	if (fi->has_callback)
		format_callback(cb, sizeof(cb), s, fi);
	fprintf(out, "==%" PRIu64 "== pending-at-close: %s handle still open at "
		"uv_loop_close", fi->trace->pid,
		fi->handle[0] ? fi->handle : "unknown");
	if (fi->closing || fi->has_callback)
		fprintf(out, " (%s%s%s%s)", fi->closing ? "closing" : "",
			fi->closing && fi->has_callback ? ", " : "",
			fi->has_callback ? "callback " : "", cb);
	fputc('\n', out);
	text_where(out, fi);
	text_stack(out, "created at", s, fi->created_at);
	if (fi->registered_at)
		text_stack(out, "callback registered at", s, fi->registered_at);
}

static void text_notes(FILE *out, const struct ls_trace *t)
{
	if (!t->exited)
		fprintf(out, "loopsan: note: %s is incomplete (the process did not "
			"exit cleanly); reporting what it recorded\n", t->path);
	if (t->cut_bytes)
		fprintf(out, "loopsan: note: %s is cut short (its last chunk lacks "
			"%" PRIu64 " bytes); reporting what it holds\n", t->path,
			t->cut_bytes);
	if (t->dropped)
		fprintf(out, "loopsan: note: %s: the shim could not record %" PRIu64
			" records\n", t->path, t->dropped);
}

static void text_summary(FILE *out, const struct ls_report *r)
{
	size_t n = ls_findings_count(&r->findings);
	size_t per_kind[LS_FINDING_KIND_COUNT] = { 0 };
	const char *procs = r->ntraces == 1 ? "process" : "processes";
	if (n == 0) {
		fprintf(out, "loopsan: no findings in %zu %s\n", r->ntraces, procs);
		return;
	}
	for (size_t i = 0; i < n; i++)
		per_kind[ls_finding_at(&r->findings, i)->kind]++;
	fprintf(out, "SUMMARY: loopsan: %zu finding%s in %zu %s (", n,
		n == 1 ? "" : "s", r->ntraces, procs);
	const char *sep = "";
	for (int k = 0; k < LS_FINDING_KIND_COUNT; k++) {
		if (!per_kind[k])
			continue;
		fprintf(out, "%s%s: %zu", sep, ls_finding_kind_name(k), per_kind[k]);
		sep = ", ";
	}
	fputs(")\n", out);
}

void ls_report_print_text(FILE *out, const struct ls_report *r)
{
	int noted = 0;
	for (size_t i = 0; i < r->ntraces; i++) {
		text_notes(out, r->traces[i]);
		noted |= !ls_trace_complete(r->traces[i]) || r->traces[i]->dropped;
	}
	if (noted)
		fputc('\n', out);
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++) {
		const struct ls_finding *fi = ls_finding_at(&r->findings, i);
		struct ls_symbolizer *s = sym_for(r, fi->trace);
		if (fi->kind == LS_FINDING_SLOW_CALLBACK)
			text_slow(out, s, fi);
		else
			text_pending(out, s, fi);
		fputc('\n', out);
	}
	text_summary(out, r);
}

/* ---- json ---- */

static json_t *hex(uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

/* JSON strings must be UTF-8; a hostile trace may hold anything. */
static json_t *str(const char *s)
{
	json_t *j = json_string(s);
	return j ? j : json_stringn("?", 1);
}

static json_t *ms(double v)
{
	return json_real((double)(int64_t)(v * 1000.0 + 0.5) / 1000.0);
}

static json_t *json_frame(const struct ls_frame *f)
{
	json_t *o = json_object();
	json_object_set_new(o, "function", f->function ? str(f->function) : hex(f->pc));
	if (f->file && f->line > 0) {
		json_object_set_new(o, "file", str(f->file));
		json_object_set_new(o, "line", json_integer(f->line));
	}
	if (f->module)
		json_object_set_new(o, "module", str(f->module));
	json_object_set_new(o, "pc", hex(f->pc));
	return o;
}

static json_t *json_stack(struct ls_symbolizer *s, const struct ls_stack *st)
{
	json_t *a = json_array();
	for (uint32_t i = first_user_frame(s, st); i < st->depth; i++)
		json_array_append_new(a, json_frame(stack_frame(s, st, i)));
	return a;
}

static json_t *json_thread(const struct ls_finding *fi)
{
	const struct ls_thread *th = ls_trace_thread(fi->trace, fi->tid);
	json_t *o = json_object();
	json_object_set_new(o, "tid", json_integer(fi->tid));
	if (th && th->name[0])
		json_object_set_new(o, "name", str(th->name));
	return o;
}

static void json_common(json_t *o, struct ls_symbolizer *s,
			const struct ls_finding *fi)
{
	char cb[256];
	json_object_set_new(o, "kind", json_string(ls_finding_kind_name(fi->kind)));
	json_object_set_new(o, "pid", json_integer((json_int_t)fi->trace->pid));
	json_object_set_new(o, "thread", json_thread(fi));
	if (fi->has_api)
		json_object_set_new(o, "api", json_string(ls_api_name(fi->api)));
	if (fi->kind == LS_FINDING_PENDING_AT_CLOSE)
		json_object_set_new(o, "handle", str(fi->handle));
	if (fi->has_callback) {
		format_callback(cb, sizeof(cb), s, fi);
		json_object_set_new(o, "callback", str(cb));
	}
}

static json_t *json_finding(struct ls_symbolizer *s, const struct ls_finding *fi)
{
	json_t *o = json_object();
	json_common(o, s, fi);
	if (fi->kind == LS_FINDING_SLOW_CALLBACK) {
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
		json_object_set_new(o, "max_ms", ms(fi->max_ms));
		json_object_set_new(o, "total_ms", ms(fi->total_ms));
		json_object_set_new(o, "threshold_ms", ms(fi->threshold_ms));
	} else {
		json_object_set_new(o, "closing", json_boolean(fi->closing));
	}
	if (fi->created_at)
		json_object_set_new(o, "created_at", json_stack(s, fi->created_at));
	if (fi->registered_at)
		json_object_set_new(o, "registered_at",
				    json_stack(s, fi->registered_at));
	return o;
}

static json_t *json_process(const struct ls_trace *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "pid", json_integer((json_int_t)t->pid));
	json_object_set_new(o, "exe", str(ls_basename(t->exe)));
	json_object_set_new(o, "trace", str(t->path));
	json_object_set_new(o, "complete", json_boolean(ls_trace_complete(t)));
	return o;
}

int ls_report_print_json(FILE *out, const struct ls_report *r)
{
	json_t *doc = json_object(), *procs = json_array(), *finds = json_array();
	json_object_set_new(doc, "loopsan_report", json_integer(1));
	for (size_t i = 0; i < r->ntraces; i++) {
		json_array_append_new(procs, json_process(r->traces[i]));
		text_notes(stderr, r->traces[i]);
	}
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++) {
		const struct ls_finding *fi = ls_finding_at(&r->findings, i);
		json_array_append_new(finds, json_finding(sym_for(r, fi->trace), fi));
	}
	json_object_set_new(doc, "processes", procs);
	json_object_set_new(doc, "findings", finds);
	int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
				      JSON_REAL_PRECISION(15));
	fputc('\n', out);
	json_decref(doc);
	return rc;
}

/* ---- command ---- */

static int parse_format(const char *s, enum format *f)
{
	if (strcmp(s, "text") == 0) {
		*f = FORMAT_TEXT;
		return 0;
	}
	if (strcmp(s, "json") == 0) {
		*f = FORMAT_JSON;
		return 0;
	}
	if (strcmp(s, "sarif") == 0 || strcmp(s, "junit") == 0)
		ls_error("format '%s' is not supported yet", s);
	else
		ls_error("report: unknown format '%s' (text or json)", s);
	return -1;
}

/* Handles the option at argv[*i]; returns -1 on a usage error, 1 for
 * --help, 0 otherwise. */
static int parse_option(int argc, char **argv, int *i, struct report_args *a)
{
	const char *arg = argv[*i];
	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
		return 1;
	if (strncmp(arg, "--format=", 9) == 0)
		return parse_format(arg + 9, &a->format);
	if (strcmp(arg, "--format") == 0) {
		if (*i + 1 == argc) {
			ls_error("report: --format needs a value (text or json)");
			return -1;
		}
		return parse_format(argv[++*i], &a->format);
	}
	if (strncmp(arg, "--suppressions", 14) == 0)
		ls_error("report: option '--suppressions' is not supported yet");
	else
		ls_error("report: unknown option '%s' (see loopsan report --help)", arg);
	return -1;
}

/* Options may come before or after the traces; after "--" everything is a
 * trace. Returns -1 on a usage error, 1 for --help, 0 otherwise. */
static int parse_args(int argc, char **argv, struct report_args *a)
{
	int only_paths = 0;
	a->paths = ls_xcalloc((size_t)argc, sizeof(char *));
	for (int i = 1; i < argc; i++) {
		if (!only_paths && strcmp(argv[i], "--") == 0) {
			only_paths = 1;
		} else if (!only_paths && argv[i][0] == '-' && argv[i][1]) {
			int rc = parse_option(argc, argv, &i, a);
			if (rc)
				return rc;
		} else {
			a->paths[a->npaths++] = argv[i];
		}
	}
	if (a->npaths == 0) {
		ls_error("report: no trace given (see loopsan report --help)");
		return -1;
	}
	return 0;
}

int ls_cmd_report(int argc, char **argv)
{
	struct report_args a = { .format = FORMAT_TEXT };
	int rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		free(a.paths);
		if (rc > 0)
			ls_report_usage(stdout);
		return rc > 0 ? LS_EXIT_OK : LS_EXIT_USAGE;
	}
	struct ls_report r;
	struct ls_findings_options opt = { .slow_ms = -1 };
	if (ls_report_load(&r, a.paths, a.npaths, &opt)) {
		ls_report_free(&r);
		free(a.paths);
		return LS_EXIT_USAGE;
	}
	if (a.format == FORMAT_JSON)
		ls_report_print_json(stdout, &r);
	else
		ls_report_print_text(stdout, &r);
	ls_report_free(&r);
	free(a.paths);
	return LS_EXIT_OK;
}
