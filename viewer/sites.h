/* Per callback site, the stats slots of a trace merged (loopsan stats and
 * the HTML report's histograms): count, total, max and the log-scale
 * histogram, with its quantiles. */
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
/* The q-quantile in ns: the middle of the bucket that holds it, never past
 * the exact maximum; 0 when the histogram is empty. */
double ls_site_row_quantile_ns(const struct ls_site_row *row, double q);
/* What the row's callbacks are called ("loop iteration", "blocking call",
 * "?", or ls_site_callback_name's, with cn filled); s may be NULL. */
const char *ls_site_row_callback(const struct ls_site_row *row, const struct ls_site *s,
				 struct ls_callback_name *cn);
/* A duration for people: "840 ns", "12.5 us", "3.2 ms", "1.25 s". */
void ls_human_ns(char *buf, size_t n, double ns);

#endif
