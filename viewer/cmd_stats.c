/* loopsan stats: per callback site, how often it ran and how long it took:
 * count, p50, p99, max and total time, sorted by total. Read from the
 * per-thread stats slots every trace holds, in every mode, so a killed
 * process's counts are there too. */
#include "viewer/commands.h"
#include "viewer/sitestat.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct site_row {
	const struct ls_trace *trace;
	struct ls_symbolizer *sym;
	uint32_t site;
	uint32_t threads;
	uint64_t count;
	double total_ns, max_ns;
	uint64_t hist[LS_HIST_BUCKETS];
};

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

/* Merges the slots of each site. A slot counts the threads it holds the
 * runs of (threads that held its chunk in turn), so `threads` is the
 * number of threads that ran the site. */
static void collect(struct ls_vec *rows, const struct ls_trace *t, struct ls_symbolizer *sym)
{
	size_t first = rows->len;
	for (size_t i = 0; i < t->stats.len; i++) {
		const struct ls_stat *st = LS_VEC_AT(&t->stats, struct ls_stat, i);
		struct site_row *row = NULL;
		for (size_t j = first; j < rows->len && row == NULL; j++)
			if (LS_VEC_AT(rows, struct site_row, j)->site == st->site)
				row = LS_VEC_AT(rows, struct site_row, j);
		if (row == NULL) {
			row = ls_vec_push(rows);
			memset(row, 0, sizeof(*row));
			row->trace = t;
			row->sym = sym;
			row->site = st->site;
		}
		row->threads += st->threads;
		row->count += st->count;
		row->total_ns += st->total_ns;
		if (st->max_ns > row->max_ns)
			row->max_ns = st->max_ns;
		for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++)
			row->hist[b] += st->hist[b];
	}
}

static int by_total(const void *a, const void *b)
{
	const struct site_row *x = a, *y = b;
	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	return x->site < y->site ? -1 : x->site > y->site;
}

static double quantile_ns(const struct site_row *row, double q)
{
	return ls_hist_quantile_ns(row->hist, row->trace->ns_per_tick, row->max_ns, q);
}

static void human(char *buf, size_t n, double ns)
{
	ls_human_ns(buf, n, ns, 0);
}

static const char *callback_name(const struct site_row *row, const struct ls_site *s,
				 struct ls_callback_name *cn)
{
	return ls_site_name(row->sym, s, cn);
}

static void print_text(FILE *out, struct ls_vec *rows, const struct ls_report *r)
{
	uint64_t calls = 0;
	double total = 0;
	for (size_t i = 0; i < rows->len; i++) {
		calls += LS_VEC_AT(rows, struct site_row, i)->count;
		total += LS_VEC_AT(rows, struct site_row, i)->total_ns;
	}
	char tbuf[32];
	human(tbuf, sizeof(tbuf), total);
	fprintf(out, "loopsan stats: %zu callback site%s, %" PRIu64 " callbacks, %s in callbacks, "
		"%zu process%s\n\n", rows->len, rows->len == 1 ? "" : "s", calls, tbuf,
		r->ntraces, r->ntraces == 1 ? "" : "es");
	fprintf(out, "%10s %9s %9s %9s %9s  %s\n", "count", "p50", "p99", "max", "total",
		"callback (api) registered at");
	for (size_t i = 0; i < rows->len; i++) {
		const struct site_row *row = LS_VEC_AT(rows, struct site_row, i);
		const struct ls_site *s = ls_trace_site(row->trace, row->site);
		char p50[32], p99[32], max[32], tot[32];
		struct ls_callback_name cn;
		human(p50, sizeof(p50), quantile_ns(row, 0.50));
		human(p99, sizeof(p99), quantile_ns(row, 0.99));
		human(max, sizeof(max), row->max_ns);
		human(tot, sizeof(tot), row->total_ns);
		fprintf(out, "%10" PRIu64 " %9s %9s %9s %9s  %s (%s)", row->count, p50, p99, max,
			tot, callback_name(row, s, &cn),
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
		const struct site_row *row = LS_VEC_AT(rows, struct site_row, i);
		const struct ls_site *s = ls_trace_site(row->trace, row->site);
		struct ls_callback_name cn;
		json_t *o = json_object();
		json_object_set_new(o, "pid", json_integer((json_int_t)row->trace->pid));
		json_object_set_new(o, "api", json_string(s ? ls_api_name(s->api) : "unknown"));
		json_object_set_new(o, "callback", str(callback_name(row, s, &cn)));
		if (cn.py)
			json_object_set_new(o, "callback_at", ls_json_python_def(cn.py));
		json_object_set_new(o, "threads", json_integer(row->threads));
		json_object_set_new(o, "count", json_integer((json_int_t)row->count));
		json_object_set_new(o, "p50_ms", ms(quantile_ns(row, 0.50)));
		json_object_set_new(o, "p99_ms", ms(quantile_ns(row, 0.99)));
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
	struct ls_vec rows = { .item_size = sizeof(struct site_row) };
	for (size_t i = 0; i < r.ntraces; i++)
		collect(&rows, r.traces[i], r.syms[i]);
	if (rows.len > 1) /* no sites at all: items is NULL, which qsort must not get */
		qsort(rows.items, rows.len, sizeof(struct site_row), by_total);
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
