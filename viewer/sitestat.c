/* Shared by loopsan stats and loopsan top (sitestat.h). */
#include "viewer/sitestat.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
