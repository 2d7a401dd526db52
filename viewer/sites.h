/* Per callback site, the stats slots of a trace merged (loopsan stats and
 * the HTML report's histograms): count, total, max and the log-scale
 * histogram, with its quantiles; and what loopsan stats, top and the HTML
 * report say of a site: its name, durations for people. */
#ifndef LOOPSAN_VIEWER_SITES_H
#define LOOPSAN_VIEWER_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "viewer/commands.h"

struct ls_site_row {
	const struct ls_trace *trace;
	struct ls_symbolizer *sym;
	uint32_t site;
	uint32_t threads;
	uint64_t count;
	double total_ns, max_ns;
	uint64_t hist[LS_HIST_BUCKETS];
};

/* Appends to rows (items struct ls_site_row) one row per site of t, each
 * the sum of the site's stats slots. */
void ls_site_rows_collect(struct ls_vec *rows, const struct ls_trace *t,
			  struct ls_symbolizer *sym);
/* Sorts rows by total time, longest first. */
void ls_site_rows_sort(struct ls_vec *rows);
/* The q-quantile in ns of a duration histogram (LS_HIST_BUCKETS counts,
 * bucket b from ls_hist_lower(b) ticks): the middle of the bucket that
 * holds it, never past max_ns; 0 when the histogram is empty. */
double ls_hist_quantile_ns(const uint64_t *hist, double ns_per_tick, double max_ns, double q);
/* The same of a row's histogram, never past its exact maximum. */
double ls_site_row_quantile_ns(const struct ls_site_row *row, double q);
/* What a site's callbacks are called: "loop iteration", "blocking call",
 * the callback (a Python one by its function: ls_site_callback_name, with
 * cn filled), or "?" (s may be NULL). The name may live in cn. */
const char *ls_site_name(struct ls_symbolizer *sym, const struct ls_site *s,
			 struct ls_callback_name *cn);
/* ls_site_name with the row's symbolizer. */
const char *ls_site_row_callback(const struct ls_site_row *row, const struct ls_site *s,
				 struct ls_callback_name *cn);
/* A duration for people: "840 ns", "12.5 us", "3.2 ms", "1.25 s"; without
 * the space when compact ("3.2ms"). */
void ls_human_ns(char *buf, size_t n, double ns, int compact);

#endif
