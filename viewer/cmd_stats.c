/* loopsan stats: per callback site, how often it ran and how long it took:
 * count, p50, p99, max and total time, sorted by total. Read from the
 * per-thread stats slots every trace holds, in every mode, so a killed
 * process's counts are there too. */
#include "viewer/commands.h"
#include "viewer/sites.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


struct stats_args {
	int json;
	char **paths;
	size_t npaths;
};

void ls_stats_usage(FILE *out)
{
	fputs("usage: loopsan stats [--format text|json] TRACE|DIR...\n"
	      "\n"
	      "Per callback site (one registering call, one callback, one\n"
	      "registration stack): how many callbacks ran, their median (p50),\n"
	      "99th percentile (p99), longest (max) and total time, sorted by\n"
	      "total. Percentiles come from a histogram with buckets at most 25 %\n"
	      "wide; count, max and total are exact. A DIR stands for every\n"
	      "*.trace file in it.\n"
	      "\n"
	      "options:\n"
	      "  --format FORMAT  text (the default) or json\n"
	      "  -h, --help       show this help\n",
	      out);
}

static void print_text(FILE *out, struct ls_vec *rows, const struct ls_report *r)
{
	uint64_t calls = 0;
	double total = 0;
	for (size_t i = 0; i < rows->len; i++) {
		calls += LS_VEC_AT(rows, struct ls_site_row, i)->count;
		total += LS_VEC_AT(rows, struct ls_site_row, i)->total_ns;
	}
	char tbuf[32];
	ls_human_ns(tbuf, sizeof(tbuf), total, 0);
	fprintf(out, "loopsan stats: %zu callback site%s, %" PRIu64 " callbacks, %s in callbacks, "
		"%zu process%s\n\n", rows->len, rows->len == 1 ? "" : "s", calls, tbuf,
		r->ntraces, r->ntraces == 1 ? "" : "es");
	fprintf(out, "%10s %9s %9s %9s %9s  %s\n", "count", "p50", "p99", "max", "total",
		"callback (api) registered at");
	for (size_t i = 0; i < rows->len; i++) {
		const struct ls_site_row *row = LS_VEC_AT(rows, struct ls_site_row, i);
		const struct ls_site *s = ls_trace_site(row->trace, row->site);
		char p50[32], p99[32], max[32], tot[32];
		struct ls_callback_name cn;
		ls_human_ns(p50, sizeof(p50), ls_site_row_quantile_ns(row, 0.50), 0);
		ls_human_ns(p99, sizeof(p99), ls_site_row_quantile_ns(row, 0.99), 0);
		ls_human_ns(max, sizeof(max), row->max_ns, 0);
		ls_human_ns(tot, sizeof(tot), row->total_ns, 0);
		fprintf(out, "%10" PRIu64 " %9s %9s %9s %9s  %s (%s)", row->count, p50, p99, max,
			tot, ls_site_row_callback(row, s, &cn),
			s ? ls_api_name(s->api) : "unknown");
		const struct ls_frame *f = ls_site_frame(row->sym, row->trace, s);
		if (f && f->function && f->file)
			fprintf(out, " %s %s:%d", f->function, ls_basename(f->file), f->line);
		else if (f && f->function)
			fprintf(out, " %s", f->function);
		if (r->ntraces > 1)
			fprintf(out, " [pid %" PRIu64 "]", row->trace->pid);
		fputc('\n', out);
	}
}

static json_t *ms(double ns)
{
	return json_real(round(ns) / 1e6);
}

/* JSON strings must be UTF-8; a trace (its exe, the files it names) may
 * hold anything, and a NULL would drop the whole object. */
static json_t *str(const char *s)
{
	json_t *j = json_string(s);
	return j ? j : json_string("?");
}

static int print_json(FILE *out, struct ls_vec *rows, const struct ls_report *r)
{
	json_t *doc = json_object(), *procs = json_array(), *sites = json_array();
	json_object_set_new(doc, "loopsan_stats", json_integer(1));
	for (size_t i = 0; i < r->ntraces; i++) {
		const struct ls_trace *t = r->traces[i];
		json_array_append_new(procs, json_pack("{s:I,s:o,s:o,s:b}", "pid", (json_int_t)t->pid,
						       "exe", str(ls_basename(t->exe)), "trace", str(t->path),
						       "complete", ls_trace_complete(t)));
	}
	for (size_t i = 0; i < rows->len; i++) {
		const struct ls_site_row *row = LS_VEC_AT(rows, struct ls_site_row, i);
		const struct ls_site *s = ls_trace_site(row->trace, row->site);
		struct ls_callback_name cn;
		json_t *o = json_object();
		json_object_set_new(o, "pid", json_integer((json_int_t)row->trace->pid));
		json_object_set_new(o, "api", json_string(s ? ls_api_name(s->api) : "unknown"));
		json_object_set_new(o, "callback", str(ls_site_row_callback(row, s, &cn)));
		if (cn.py)
			json_object_set_new(o, "callback_at", ls_json_python_def(cn.py));
		json_object_set_new(o, "threads", json_integer(row->threads));
		json_object_set_new(o, "count", json_integer((json_int_t)row->count));
		json_object_set_new(o, "p50_ms", ms(ls_site_row_quantile_ns(row, 0.50)));
		json_object_set_new(o, "p99_ms", ms(ls_site_row_quantile_ns(row, 0.99)));
		json_object_set_new(o, "max_ms", ms(row->max_ns));
		json_object_set_new(o, "total_ms", ms(row->total_ns));
		const struct ls_frame *f = ls_site_frame(row->sym, row->trace, s);
		if (f && f->function) {
			json_t *at = json_object();
			json_object_set_new(at, "function", str(f->function));
			if (f->file) {
				json_object_set_new(at, "file", str(f->file));
				json_object_set_new(at, "line", json_integer(f->line));
			}
			if (f->python)
				json_object_set_new(at, "lang", str("python"));
			json_object_set_new(o, "registered_at", at);
		}
		json_array_append_new(sites, o);
	}
	json_object_set_new(doc, "processes", procs);
	json_object_set_new(doc, "sites", sites);
	int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	fputc('\n', out);
	json_decref(doc);
	return rc;
}

static int parse_option(int argc, char **argv, int *i, void *arg)
{
	struct stats_args *a = arg;
	const char *arg0 = argv[*i], *fmt;
	int bad = 0;
	if (strcmp(arg0, "-h") == 0 || strcmp(arg0, "--help") == 0)
		return 1;
	if ((fmt = ls_option_value("stats", argc, argv, i, "--format", &bad))) {
		if (strcmp(fmt, "json") == 0 || strcmp(fmt, "text") == 0) {
			a->json = strcmp(fmt, "json") == 0;
			return 0;
		}
		ls_error("stats: unknown format '%s' (text or json)", fmt);
		return -1;
	}
	if (!bad)
		ls_error("stats: unknown option '%s' (see loopsan stats --help)", arg0);
	return -1;
}

static int parse_args(int argc, char **argv, struct stats_args *a)
{
	return ls_parse_command_line("stats", argc, argv, parse_option, a, &a->paths, &a->npaths);
}

int ls_cmd_stats(int argc, char **argv)
{
	struct stats_args a = { 0 };
	int rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		free(a.paths);
		if (rc > 0)
			ls_stats_usage(stdout);
		return rc > 0 ? LS_EXIT_OK : LS_EXIT_USAGE;
	}
	struct ls_report r;
	struct ls_findings_options opt = { .slow_ms = -1 };
	/* A bad trace among several: the others are counted, then exit 2. */
	if (ls_report_load_all(&r, a.paths, a.npaths, &opt)) {
		ls_report_free(&r);
		free(a.paths);
		return LS_EXIT_USAGE;
	}
	struct ls_vec rows = { .item_size = sizeof(struct ls_site_row) };
	for (size_t i = 0; i < r.ntraces; i++)
		ls_site_rows_collect(&rows, r.traces[i], r.syms[i]);
	ls_site_rows_sort(&rows);
	if (a.json)
		print_json(stdout, &rows, &r);
	else
		print_text(stdout, &rows, &r);
	ls_vec_free(&rows);
	rc = r.nbad ? LS_EXIT_USAGE : LS_EXIT_OK;
	ls_report_free(&r);
	free(a.paths);
	return rc;
}
