/* loopsan report --format html: one self-contained page (its style and
 * script inline, nothing fetched) to open offline or attach to a CI run:
 * a summary, the findings as the text report words them, a duration
 * histogram per callback site drawn as SVG here (so it is there without
 * JavaScript), and a per-thread timeline drawn by the page's script from
 * JSON (html_timeline.c). Every string from a trace is hostile: it goes
 * through ls_html_text or, in the JSON, ls_html_utf8 and
 * JSON_ESCAPE_SLASH. docs/HTML-REPORT.md describes the page. */
#include "viewer/html.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "viewer/sites.h"

/* Findings and sites past these are counted, not shown: the page's size
 * must not grow with a hostile trace's. */
#define HTML_MAX_FINDINGS 500
#define HTML_MAX_SITES 60

/* The histogram's drawing area, in SVG user units. */
#define HIST_W 640
#define HIST_H 124
#define HIST_LEFT 48
#define HIST_RIGHT 24
#define HIST_TOP 38
#define HIST_BOTTOM 22

/* ---- escaping ---- */

/* The bytes that stand for one character of s at u: 0 when it is to be
 * replaced (not UTF-8, or a control character HTML has no use for). */
static size_t char_len(const unsigned char *u, const unsigned char *end)
{
	size_t len = ls_utf8_len(u, (size_t)(end - u));
	if (len == 1 && ((*u < 0x20 && *u != '\n' && *u != '\t') || *u == 0x7f))
		return 0;
	return len;
}

void ls_html_text(FILE *out, const char *s)
{
	const unsigned char *u = (const unsigned char *)s, *end = u + strlen(s);
	while (u < end) {
		size_t len = char_len(u, end);
		if (len == 0) {
			fputs("\xef\xbf\xbd", out);
			u++;
			continue;
		}
		if (*u == '<')
			fputs("&lt;", out);
		else if (*u == '>')
			fputs("&gt;", out);
		else if (*u == '&')
			fputs("&amp;", out);
		else if (*u == '"')
			fputs("&quot;", out);
		else if (*u == '\'')
			fputs("&#39;", out);
		else
			fwrite(u, 1, len, out);
		u += len;
	}
}

char *ls_html_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s, *end = u + strlen(s);
	char *o = ls_xmalloc((size_t)(end - u) * 3 + 1), *p = o;
	while (u < end) {
		size_t len = char_len(u, end);
		if (len == 0) {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3, u++;
		} else {
			memcpy(p, u, len);
			p += len, u += len;
		}
	}
	*p = '\0';
	return o;
}

/* What fn prints of (r, fi) without color, escaped; from the first line
 * on (skip 0) or after it (skip 1). The text report's own words, so that
 * both say the same. */
static void finding_text(FILE *out, const struct ls_report *r, const struct ls_finding *fi,
			 void (*fn)(FILE *, const struct ls_report *, const struct ls_finding *),
			 int skip)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (m == NULL)
		return;
	int color = ls_color_on();
	ls_color_set(0);
	fn(m, r, fi);
	ls_color_set(color);
	fclose(m);
	const char *text = buf;
	if (skip && (text = strchr(buf, '\n')) != NULL)
		text++;
	ls_html_text(out, text ? text : "");
	free(buf);
}

/* ---- the page ---- */

static void page_head(FILE *out, const struct ls_report *r)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"loopsan " LOOPSAN_VERSION "\">\n<title>loopsan report", out);
	if (r->ntraces > 0) {
		fputs(": ", out);
		ls_html_text(out, ls_basename(r->traces[0]->exe));
		fprintf(out, " (pid %" PRIu64 "%s)", r->traces[0]->pid, r->ntraces > 1 ? ", ..." : "");
	}
	fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n"
		"<header><h1>loopsan report</h1></header>\n", ls_html_css);
}

static void duration(FILE *out, double ns)
{
	char buf[32];
	ls_human_ns(buf, sizeof(buf), ns, 0);
	fputs(buf, out);
}

/* How long the process ran: to its clean exit (the file's header), else
 * to the end of the last callback it recorded. */
static void ran_for(FILE *out, const struct ls_trace *t, double last_ns)
{
	struct ls_file_header h;
	memcpy(&h, t->map, sizeof(h)); /* the reader checked the header is there */
	if (t->exited && h.end_mono_ns > h.start_mono_ns) {
		duration(out, (double)(h.end_mono_ns - h.start_mono_ns));
	} else if (last_ns > (double)t->start_ns) {
		fputs("at least ", out);
		duration(out, last_ns - (double)t->start_ns);
	} else {
		fputs("unknown", out);
	}
}

/* The threads that ran a loop, each once. */
static size_t loop_threads(const struct ls_trace *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->loop_runs.len; i++) {
		uint32_t tid = LS_VEC_AT(&t->loop_runs, struct ls_loop_run, i)->tid;
		size_t k = 0;
		while (k < i && LS_VEC_AT(&t->loop_runs, struct ls_loop_run, k)->tid != tid)
			k++;
		n += k == i;
	}
	return n;
}

static uint64_t callbacks_counted(const struct ls_trace *t)
{
	uint64_t n = 0;
	for (size_t i = 0; i < t->stats.len; i++)
		n += LS_VEC_AT(&t->stats, struct ls_stat, i)->count;
	return n;
}

static void process_row(FILE *out, const struct ls_trace *t, double last_ns)
{
	fputs("<tr><td class=\"exe\">", out);
	ls_html_text(out, t->exe);
	fprintf(out, "</td><td>%" PRIu64 "</td><td class=\"path\">", t->pid);
	ls_html_text(out, t->path);
	fprintf(out, "</td><td>%s</td><td>", t->mode == LS_MODE_TIMELINE ? "timeline" : "summary");
	ran_for(out, t, last_ns);
	fprintf(out, "</td><td>%zu</td><td>%zu</td><td>%" PRIu64 "</td><td>%s</td></tr>\n",
		loop_threads(t), t->threads.len, callbacks_counted(t),
		ls_trace_complete(t) ? "yes" : "<b>no</b>");
}

static void kind_counts(FILE *out, const struct ls_report *r)
{
	size_t per_kind[LS_FINDING_KIND_COUNT] = { 0 }, n = ls_findings_count(&r->findings);
	for (size_t i = 0; i < n; i++)
		per_kind[ls_finding_at(&r->findings, i)->kind]++;
	fprintf(out, "<p class=\"total\" id=\"finding-total\" data-findings=\"%zu\">%zu finding%s "
		"in %zu process%s</p>\n", n, n, n == 1 ? "" : "s", r->ntraces,
		r->ntraces == 1 ? "" : "es");
	if (n == 0)
		return;
	fputs("<table class=\"kinds\"><tr><th>kind</th><th>findings</th><th>what</th></tr>\n", out);
	for (int k = 0; k < LS_FINDING_KIND_COUNT; k++) {
		if (per_kind[k] == 0)
			continue;
		fprintf(out, "<tr class=\"kind-%s\"><td>%s</td><td data-kind=\"%s\">%zu</td><td>",
			ls_finding_kind_name(k), ls_finding_kind_name(k), ls_finding_kind_name(k),
			per_kind[k]);
		ls_html_text(out, ls_finding_kind_info(k)->title);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* The notes the text report puts first (incomplete traces, ...), one
 * <li> per line, and what the page leaves out. */
static void notes(FILE *out, const struct ls_report *r, const struct ls_html_tl *tl)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (m == NULL)
		return;
	for (size_t i = 0; i < r->ntraces; i++)
		ls_report_print_notes(m, r->traces[i]);
	ls_report_print_suppressed(m, r);
	fclose(m);
	fputs("<ul class=\"notes\">\n", out);
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		fputs("<li>", out);
		ls_html_text(out, line);
		fputs("</li>\n", out);
	}
	free(buf);
	for (size_t i = 0; i < r->ntraces; i++) {
		const struct ls_trace *t = r->traces[i];
		if (t->mode != LS_MODE_SUMMARY)
			continue;
		fprintf(out, "<li class=\"summary-mode\">pid %" PRIu64 " was recorded in mode=summary: "
			"its timeline holds only the callbacks slower than %" PRIu32 " ms; record with "
			"LOOPSAN_OPTIONS=mode=timeline to see every callback</li>\n", t->pid,
			t->slow_callback_ms);
	}
	ls_html_tl_notes(out, tl);
	if (ls_findings_count(&r->findings) > HTML_MAX_FINDINGS)
		fprintf(out, "<li>the first %d of %zu findings are shown; loopsan report --format "
			"text lists them all</li>\n", HTML_MAX_FINDINGS, ls_findings_count(&r->findings));
	fputs("</ul>\n", out);
}

static void summary(FILE *out, const struct ls_report *r, const struct ls_html_tl *tl)
{
	fputs("<section id=\"summary\"><h2>Summary</h2>\n<table class=\"procs\"><tr><th>program</th>"
	      "<th>pid</th><th>trace</th><th>mode</th><th>ran</th><th>loop threads</th>"
	      "<th>threads</th><th>callbacks</th><th>complete</th></tr>\n", out);
	for (size_t i = 0; i < r->ntraces; i++)
		process_row(out, r->traces[i], ls_html_tl_last_ns(tl, i));
	fputs("</table>\n", out);
	kind_counts(out, r);
	notes(out, r, tl);
	fputs("</section>\n", out);
}

/* One finding: its headline, then (folded) the rest of the text
 * report's block: threads, suppress with:, stacks. */
static void finding(FILE *out, const struct ls_report *r, const struct ls_finding *fi,
		    int open)
{
	fprintf(out, "<details class=\"finding kind-%s\"%s><summary><span class=\"headline\">",
		ls_finding_kind_name(fi->kind), open ? " open" : "");
	finding_text(out, r, fi, ls_report_print_headline, 0);
	fprintf(out, "</span> <span class=\"pid\">pid %" PRIu64 "</span></summary>\n<pre>",
		fi->trace->pid);
	finding_text(out, r, fi, ls_report_print_finding, 1);
	fputs("</pre></details>\n", out);
}

static void findings(FILE *out, const struct ls_report *r)
{
	size_t n = ls_findings_count(&r->findings);
	fputs("<section id=\"findings\"><h2>Findings</h2>\n", out);
	if (n == 0)
		fputs("<p>No findings.</p>\n", out);
	for (size_t i = 0; i < n && i < HTML_MAX_FINDINGS; i++)
		finding(out, r, ls_finding_at(&r->findings, i), i == 0); /* the worst, unfolded */
	fputs("</section>\n", out);
}

/* ---- per site: the histogram ---- */

struct hist_axis {
	double lo, hi;       /* log10 of ns at the left and right edges */
	uint32_t first, last; /* the buckets drawn */
	uint64_t top;        /* the highest count */
};

static double bucket_ns(const struct ls_site_row *row, uint32_t b)
{
	if (b >= LS_HIST_BUCKETS)
		return (double)ls_hist_lower(LS_HIST_BUCKETS - 1) * 1.25 * row->trace->ns_per_tick;
	return (double)ls_hist_lower(b) * row->trace->ns_per_tick;
}

/* The buckets that hold runs, widened to whole decades of ns at least
 * one wide so the axis has ticks to read. */
static int hist_axis(const struct ls_site_row *row, struct hist_axis *ax)
{
	int any = 0;
	ax->top = 0;
	for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++) {
		if (row->hist[b] == 0)
			continue;
		if (!any)
			ax->first = b;
		ax->last = b;
		any = 1;
		if (row->hist[b] > ax->top)
			ax->top = row->hist[b];
	}
	if (!any)
		return -1;
	double lo_ns = bucket_ns(row, ax->first), hi_ns = bucket_ns(row, ax->last + 1);
	ax->lo = floor(log10(lo_ns > 1 ? lo_ns : 1));
	ax->hi = ceil(log10(hi_ns > 10 ? hi_ns : 10));
	if (row->max_ns > 0 && log10(row->max_ns) > ax->hi)
		ax->hi = ceil(log10(row->max_ns));
	if (ax->hi <= ax->lo)
		ax->hi = ax->lo + 1;
	/* A hostile clock (ns per tick) must not make a tick per decade for
	 * ever: 1 ns to 10^30 ns is more than any trace spans. */
	if (!isfinite(ax->hi) || ax->hi > ax->lo + 30)
		ax->hi = ax->lo + 30;
	return 0;
}

static double hist_x(const struct hist_axis *ax, double ns)
{
	double l = log10(ns > 1 ? ns : 1);
	if (l < ax->lo)
		l = ax->lo;
	if (l > ax->hi)
		l = ax->hi;
	return HIST_LEFT + (l - ax->lo) / (ax->hi - ax->lo) * (HIST_W - HIST_LEFT - HIST_RIGHT);
}

static double hist_y(const struct hist_axis *ax, uint64_t count)
{
	double h = HIST_H - HIST_TOP - HIST_BOTTOM;
	return HIST_H - HIST_BOTTOM - (double)count / (double)ax->top * h;
}

/* A round duration, short: "1 ms", "20 us", "500 ns". */
static void tick_label(char *buf, size_t n, double ns)
{
	static const char *const units[] = { "ns", "us", "ms", "s" };
	int u = 0;
	while (u < 3 && ns >= 1000 * 0.999) {
		ns /= 1000;
		u++;
	}
	snprintf(buf, n, "%.3g %s", ns, units[u]);
}

/* A count in the few characters left of the y axis: 950, 12.3k, 60.5M. */
static void count_label(char *buf, size_t n, uint64_t count)
{
	if (count < 10000)
		snprintf(buf, n, "%" PRIu64, count);
	else if (count < 1000000)
		snprintf(buf, n, "%.3gk", (double)count / 1e3);
	else if (count < 1000000000)
		snprintf(buf, n, "%.3gM", (double)count / 1e6);
	else
		snprintf(buf, n, "%.3gG", (double)count / 1e9);
}

/* Ticks at each power of ten, and at 2 and 5 times it when the axis
 * spans few decades. */
static void hist_ticks(FILE *out, const struct hist_axis *ax)
{
	static const int steps[] = { 1, 2, 5 };
	int nsteps = ax->hi - ax->lo <= 2 ? 3 : 1;
	for (double d = ax->lo; d <= ax->hi; d++) {
		for (int s = 0; s < nsteps; s++) {
			double ns = steps[s] * pow(10, d);
			if (log10(ns) > ax->hi + 1e-9)
				break;
			double x = hist_x(ax, ns);
			char label[32];
			tick_label(label, sizeof(label), ns);
			fprintf(out, "<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
				"<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
				x, HIST_H - HIST_BOTTOM, x, HIST_H - HIST_BOTTOM + 4, x, HIST_H - 6, label);
		}
	}
}

static void hist_bars(FILE *out, const struct ls_site_row *row, const struct hist_axis *ax)
{
	for (uint32_t b = ax->first; b <= ax->last; b++) {
		if (row->hist[b] == 0)
			continue;
		double x0 = hist_x(ax, bucket_ns(row, b)), x1 = hist_x(ax, bucket_ns(row, b + 1));
		double y = hist_y(ax, row->hist[b]);
		char lo[32], hi[32];
		ls_human_ns(lo, sizeof(lo), bucket_ns(row, b), 0);
		ls_human_ns(hi, sizeof(hi), bucket_ns(row, b + 1), 0);
		fprintf(out, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
			"<title>%s to %s: %" PRIu64 "</title></rect>\n", x0, y,
			x1 - x0 > 1 ? x1 - x0 : 1, HIST_H - HIST_BOTTOM - y, lo, hi, row->hist[b]);
	}
}

/* A marked value: a line across the plot, its name and value on top,
 * each marker on its own line so that close ones stay readable. */
static void hist_marker(FILE *out, const struct hist_axis *ax, const char *name, double ns,
			int level)
{
	char v[32];
	double x = hist_x(ax, ns);
	ls_human_ns(v, sizeof(v), ns, 0);
	int y = 11 + 12 * level;
	fprintf(out, "<line class=\"mark mark-%s\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
		"<text class=\"mark mark-%s\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s %s</text>\n",
		name, x, y + 2, x, HIST_H - HIST_BOTTOM, name, x, y,
		x > HIST_W - 100 ? "end" : "start", name, v);
}

static void histogram(FILE *out, const struct ls_site_row *row)
{
	struct hist_axis ax;
	fprintf(out, "<svg class=\"hist\" viewBox=\"0 0 %d %d\" "
		"width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"durations\">\n",
		HIST_W, HIST_H, HIST_W, HIST_H);
	if (hist_axis(row, &ax) != 0) {
		fprintf(out, "<text x=\"%d\" y=\"%d\">no runs counted</text>\n</svg>\n", HIST_LEFT,
			HIST_H / 2);
		return;
	}
	char top[32];
	count_label(top, sizeof(top), ax.top);
	fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
		"<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n"
		"<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
		"<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n",
		HIST_LEFT, HIST_H - HIST_BOTTOM, HIST_W - HIST_RIGHT, HIST_H - HIST_BOTTOM,
		HIST_LEFT, HIST_TOP, HIST_LEFT, HIST_H - HIST_BOTTOM,
		HIST_LEFT - 4, HIST_TOP + 4, top, HIST_LEFT - 4, HIST_H - HIST_BOTTOM);
	hist_ticks(out, &ax);
	hist_bars(out, row, &ax);
	hist_marker(out, &ax, "p50", ls_site_row_quantile_ns(row, 0.50), 0);
	hist_marker(out, &ax, "p99", ls_site_row_quantile_ns(row, 0.99), 1);
	hist_marker(out, &ax, "max", row->max_ns, 2);
	fputs("</svg>\n", out);
}

/* The site's name, API and registration, and its numbers in words. */
static void site_head(FILE *out, const struct ls_report *r, const struct ls_site_row *row)
{
	const struct ls_site *s = ls_trace_site(row->trace, row->site);
	struct ls_callback_name cn;
	fputs("<h3><span class=\"cb\">", out);
	ls_html_text(out, ls_site_row_callback(row, s, &cn));
	fprintf(out, "</span> <small>(%s)</small>", s ? ls_api_name(s->api) : "unknown");
	if (r->ntraces > 1)
		fprintf(out, " <small>pid %" PRIu64 "</small>", row->trace->pid);
	fputs("</h3>\n<p class=\"where\">registered at ", out);
	const struct ls_frame *f = ls_site_frame(row->sym, row->trace, s);
	if (f && f->function) {
		ls_html_text(out, f->function);
		if (f->file) {
			fputc(' ', out);
			ls_html_text(out, ls_basename(f->file));
			fprintf(out, ":%d", f->line);
		}
	} else {
		fputs("(unknown)", out);
	}
	fprintf(out, "</p>\n<p class=\"nums\">%" PRIu64 " call%s on %" PRIu32 " thread%s &middot; ",
		row->count, row->count == 1 ? "" : "s", row->threads, row->threads == 1 ? "" : "s");
	fputs("p50 ", out);
	duration(out, ls_site_row_quantile_ns(row, 0.50));
	fputs(" &middot; p99 ", out);
	duration(out, ls_site_row_quantile_ns(row, 0.99));
	fputs(" &middot; max ", out);
	duration(out, row->max_ns);
	fputs(" &middot; total ", out);
	duration(out, row->total_ns);
	fputs("</p>\n", out);
}

static void sites(FILE *out, const struct ls_report *r)
{
	struct ls_vec rows = { .item_size = sizeof(struct ls_site_row) };
	for (size_t i = 0; i < r->ntraces; i++)
		ls_site_rows_collect(&rows, r->traces[i], r->syms[i]);
	ls_site_rows_sort(&rows);
	fputs("<section id=\"sites\"><h2>Callback sites</h2>\n<p class=\"help\">Per callback site, "
	      "sorted by total time: how long its callbacks ran (x: duration, log scale; y: "
	      "callbacks), from the trace's histograms (buckets at most 25 % wide).</p>\n", out);
	if (rows.len > HTML_MAX_SITES)
		fprintf(out, "<p class=\"note\" id=\"sites-left-out\">The %d sites with the most time "
			"are shown; %zu more are left out (loopsan stats lists them all).</p>\n",
			HTML_MAX_SITES, rows.len - HTML_MAX_SITES);
	if (rows.len == 0)
		fputs("<p>No callbacks counted.</p>\n", out);
	for (size_t i = 0; i < rows.len && i < HTML_MAX_SITES; i++) {
		const struct ls_site_row *row = LS_VEC_AT(&rows, struct ls_site_row, i);
		fputs("<div class=\"site\">\n", out);
		site_head(out, r, row);
		histogram(out, row);
		fputs("</div>\n", out);
	}
	fputs("</section>\n", out);
	ls_vec_free(&rows);
}

int ls_report_print_html(FILE *out, const struct ls_report *r)
{
	struct ls_html_tl *tl = ls_html_tl_build(r);
	page_head(out, r);
	summary(out, r, tl);
	findings(out, r);
	sites(out, r);
	ls_html_tl_write(out, tl);
	fprintf(out, "<footer>loopsan %s</footer>\n</body>\n</html>\n", LOOPSAN_VERSION);
	ls_html_tl_free(tl);
	return ferror(out) ? -1 : 0;
}
