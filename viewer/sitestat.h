/* What `loopsan stats` and `loopsan top` both say of a callback site:
 * its name, percentiles from its histogram, durations for people. */
#ifndef LOOPSAN_VIEWER_SITESTAT_H
#define LOOPSAN_VIEWER_SITESTAT_H

#include <stddef.h>
#include <stdint.h>

#include "viewer/commands.h"

/* The q-quantile in ns of a duration histogram (LS_HIST_BUCKETS counts,
 * bucket b from ls_hist_lower(b) ticks): the middle of the bucket that
 * holds it, never past max_ns. 0 when the histogram is empty. */
double ls_hist_quantile_ns(const uint64_t *hist, double ns_per_tick, double max_ns, double q);

/* "834 ns", "30.8 us", "150.0 ms", "2.00 s"; without the space when
 * compact ("150.0ms"). */
void ls_human_ns(char *buf, size_t n, double ns, int compact);

/* What a site's callbacks are called: "loop iteration", "blocking call",
 * the callback (a Python one by its function: ls_site_callback_name), or
 * "?". The name may live in cn. */
const char *ls_site_name(struct ls_symbolizer *sym, const struct ls_site *s,
			 struct ls_callback_name *cn);

#endif
