/* Per callback site, the stats slots merged: shared by loopsan stats and
 * the HTML report. */
#include "viewer/sites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Merges the slots of each site. A slot counts the threads it holds the
 * runs of (threads that held its chunk in turn), so `threads` is the
 * number of threads that ran the site. */
void ls_site_rows_collect(struct ls_vec *rows, const struct ls_trace *t,
			  struct ls_symbolizer *sym)
{
	size_t first = rows->len;
	for (size_t i = 0; i < t->stats.len; i++) {
		const struct ls_stat *st = LS_VEC_AT(&t->stats, struct ls_stat, i);
		struct ls_site_row *row = NULL;
		for (size_t j = first; j < rows->len && row == NULL; j++)
			if (LS_VEC_AT(rows, struct ls_site_row, j)->site == st->site)
				row = LS_VEC_AT(rows, struct ls_site_row, j);
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
	const struct ls_site_row *x = a, *y = b;
	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	return x->site < y->site ? -1 : x->site > y->site;
}

void ls_site_rows_sort(struct ls_vec *rows)
{
	if (rows->len > 1) /* no sites at all: items is NULL, which qsort must not get */
		qsort(rows->items, rows->len, sizeof(struct ls_site_row), by_total);
}

double ls_site_row_quantile_ns(const struct ls_site_row *row, double q)
{
	uint64_t total = 0;
	for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++)
		total += row->hist[b];
	if (total == 0)
		return 0;
	uint64_t want = (uint64_t)ceil(q * (double)total), seen = 0;
	if (want == 0)
		want = 1;
	for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++) {
		seen += row->hist[b];
		if (seen < want)
			continue;
		double lo = (double)ls_hist_lower(b);
		double hi = b + 1 < LS_HIST_BUCKETS ? (double)ls_hist_lower(b + 1) : lo;
		double ns = (lo + hi) / 2 * row->trace->ns_per_tick;
		return ns < row->max_ns ? ns : row->max_ns;
	}
	return row->max_ns;
}

void ls_human_ns(char *buf, size_t n, double ns)
{
	if (ns < 1e3)
		snprintf(buf, n, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, n, "%.1f us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, n, "%.1f ms", ns / 1e6);
	else
		snprintf(buf, n, "%.2f s", ns / 1e9);
}

/* A Python callback by its function (ls_site_callback_name), never by an
 * address. */
const char *ls_site_row_callback(const struct ls_site_row *row, const struct ls_site *s,
				 struct ls_callback_name *cn)
{
	memset(cn, 0, sizeof(*cn));
	if (s != NULL && ls_api_is_selector(s->api))
		return "loop iteration";
	if (s != NULL && ls_api_is_blocking(s->api))
		return "blocking call";
	if (s == NULL || (s->callback == 0 && !ls_api_is_python(s->api)))
		return "?";
	ls_site_callback_name(cn, row->sym, s);
	return cn->name;
}
