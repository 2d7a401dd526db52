/* Per callback site, the stats slots merged, and what is said of a site:
 * shared by loopsan stats, top and the HTML report (sites.h). */
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

double ls_hist_quantile_ns(const uint64_t *hist, double ns_per_tick, double max_ns, double q)
{
	uint64_t total = 0;
	for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++)
		total += hist[b];
	if (total == 0)
		return 0;
	uint64_t want = (uint64_t)ceil(q * (double)total), seen = 0;
	if (want == 0)
		want = 1;
	for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++) {
		seen += hist[b];
		if (seen < want)
			continue;
		double lo = (double)ls_hist_lower(b);
		double hi = b + 1 < LS_HIST_BUCKETS ? (double)ls_hist_lower(b + 1) : lo;
		double ns = (lo + hi) / 2 * ns_per_tick;
		return ns < max_ns ? ns : max_ns;
	}
	return max_ns;
}

double ls_site_row_quantile_ns(const struct ls_site_row *row, double q)
{
	return ls_hist_quantile_ns(row->hist, row->trace->ns_per_tick, row->max_ns, q);
}

void ls_human_ns(char *buf, size_t n, double ns, int compact)
{
	const char *sp = compact ? "" : " ";
	if (ns < 1e3)
		snprintf(buf, n, "%.0f%sns", ns, sp);
	else if (ns < 1e6)
		snprintf(buf, n, "%.1f%sus", ns / 1e3, sp);
	else if (ns < 1e9)
		snprintf(buf, n, "%.1f%sms", ns / 1e6, sp);
	else
		snprintf(buf, n, "%.2f%ss", ns / 1e9, sp);
}

/* A Python callback by its function (ls_site_callback_name), never by an
 * address. */
const char *ls_site_name(struct ls_symbolizer *sym, const struct ls_site *s,
			 struct ls_callback_name *cn)
{
	memset(cn, 0, sizeof(*cn));
	if (s != NULL && ls_api_is_selector(s->api))
		return "loop iteration";
	if (s != NULL && ls_api_is_blocking(s->api))
		return "blocking call";
	if (s == NULL || (s->callback == 0 && !ls_api_is_python(s->api)))
		return "?";
	ls_site_callback_name(cn, sym, s);
	return cn->name;
}

const char *ls_site_row_callback(const struct ls_site_row *row, const struct ls_site *s,
				 struct ls_callback_name *cn)
{
	return ls_site_name(row->sym, s, cn);
}
