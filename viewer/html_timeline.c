/* The HTML report's timeline: one row per thread of each process, its
 * callbacks as spans. A mode=timeline trace holds every callback
 * (ls_trace_each_callback), a mode=summary one only the slow records
 * (t->callbacks). The page must stay small for any trace (5 MB for a
 * 1 GB one), so past SPAN_BUDGET callbacks the timeline is decimated:
 * every row is cut into time bins (count, busy time, longest), and only
 * the slow callbacks are still drawn one by one, the SLOW_CAP longest of
 * them. The page says so, with the numbers. */
#include "viewer/html.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "viewer/sites.h"

#define SPAN_BUDGET 20000   /* callbacks drawn one by one, when that is all */
#define SLOW_CAP 5000       /* slow callbacks drawn one by one when decimated */
#define BIN_BUDGET 100000   /* time bins over all rows when decimated */
#define BINS_PER_ROW 1500   /* about a bin per pixel of a wide screen */
#define ROW_CAP 4096        /* threads shown; the callbacks of others counted */

struct tl_row {
	size_t trace;
	uint32_t tid;
	uint64_t count;
};

struct tl_span {
	uint32_t row;
	uint32_t site;       /* index in sites, + 1; 0: unknown */
	int slow;
	double begin_ns, dur_ns;
};

struct tl_bin {
	uint64_t count;
	double busy_ns, max_ns;
};

struct tl_site {
	size_t trace;
	uint32_t id;
};

struct ls_html_tl {
	const struct ls_report *r;
	struct ls_vec rows, spans, sites;
	uint32_t **site_index; /* per trace, per index in its sites: index in sites + 1 */
	double *last_ns;       /* per trace */
	uint64_t total;        /* callbacks walked */
	uint64_t unshown;      /* callbacks of threads past ROW_CAP */
	uint64_t slow_total;   /* slow callbacks, when decimated */
	double t0, t1;
	int decimated;
	size_t nbins;
	double bin_ns;
	struct tl_bin *bins;   /* rows.len * nbins */
	/* while walking */
	size_t trace;
	size_t last_row;
	uint32_t last_unshown; /* a thread past ROW_CAP, of this trace; 0: none */
	int pass;
};

/* ---- walking the callbacks ---- */

/* The row of thread tid of the trace being walked; a thread's callbacks
 * come together, so the last row found is tried first. SIZE_MAX past
 * ROW_CAP. */
static size_t row_of(struct ls_html_tl *tl, uint32_t tid)
{
	struct tl_row *rows = tl->rows.items;
	if (tl->last_row < tl->rows.len && rows[tl->last_row].tid == tid &&
	    rows[tl->last_row].trace == tl->trace)
		return tl->last_row;
	if (tid != 0 && tid == tl->last_unshown)
		return SIZE_MAX;
	for (size_t i = 0; i < tl->rows.len; i++)
		if (rows[i].tid == tid && rows[i].trace == tl->trace)
			return tl->last_row = i;
	if (tl->pass > 0 || tl->rows.len >= ROW_CAP) {
		tl->last_unshown = tid;
		return SIZE_MAX;
	}
	struct tl_row *row = ls_vec_push(&tl->rows);
	row->trace = tl->trace;
	row->tid = tid;
	return tl->last_row = tl->rows.len - 1;
}

static int count_one(void *arg, const struct ls_callback *c)
{
	struct ls_html_tl *tl = arg;
	double end = c->begin_ns + c->dur_ns;
	size_t row = row_of(tl, c->tid);
	tl->total++;
	if (row == SIZE_MAX) {
		tl->unshown++;
		return 0;
	}
	LS_VEC_AT(&tl->rows, struct tl_row, row)->count++;
	if (tl->total == 1 || c->begin_ns < tl->t0)
		tl->t0 = c->begin_ns;
	if (tl->total == 1 || end > tl->t1)
		tl->t1 = end;
	if (end > tl->last_ns[tl->trace])
		tl->last_ns[tl->trace] = end;
	return 0;
}

/* The index + 1 of the callback's site in the page's list of sites,
 * added at first use: only the sites drawn are named. */
static uint32_t site_of(struct ls_html_tl *tl, uint32_t id)
{
	const struct ls_trace *t = tl->r->traces[tl->trace];
	const struct ls_site *s = ls_trace_site(t, id);
	if (s == NULL)
		return 0;
	uint32_t *index = &tl->site_index[tl->trace][s - (const struct ls_site *)t->sites.items];
	if (*index == 0) {
		struct tl_site *ts = ls_vec_push(&tl->sites);
		ts->trace = tl->trace;
		ts->id = id;
		*index = (uint32_t)tl->sites.len;
	}
	return *index;
}

static int is_slow(const struct ls_html_tl *tl, const struct ls_callback *c)
{
	const struct ls_trace *t = tl->r->traces[tl->trace];
	return c->slow || (t->slow_callback_ms > 0 && c->dur_ns >= t->slow_callback_ms * 1e6);
}

static int by_longest(const void *a, const void *b)
{
	const struct tl_span *x = a, *y = b;
	return x->dur_ns != y->dur_ns ? (x->dur_ns > y->dur_ns ? -1 : 1) : 0;
}

/* Keeps the SLOW_CAP longest slow spans, sorting only now and then. */
static void trim_slow(struct ls_html_tl *tl)
{
	if (tl->spans.len <= SLOW_CAP)
		return;
	qsort(tl->spans.items, tl->spans.len, sizeof(struct tl_span), by_longest);
	tl->spans.len = SLOW_CAP;
}

static void add_span(struct ls_html_tl *tl, size_t row, const struct ls_callback *c, int slow)
{
	struct tl_span *s = ls_vec_push(&tl->spans);
	s->row = (uint32_t)row;
	s->site = site_of(tl, c->site);
	s->slow = slow;
	s->begin_ns = c->begin_ns;
	s->dur_ns = c->dur_ns;
}

/* Adds c to the bins of its row: its count to the bin it starts in, its
 * time to every bin it overlaps. */
static void add_to_bins(struct ls_html_tl *tl, size_t row, const struct ls_callback *c)
{
	struct tl_bin *bins = tl->bins + row * tl->nbins;
	double b = c->begin_ns - tl->t0, e = b + c->dur_ns;
	size_t first = (size_t)(b / tl->bin_ns), last = (size_t)(e / tl->bin_ns);
	if (first >= tl->nbins)
		first = tl->nbins - 1;
	if (last >= tl->nbins)
		last = tl->nbins - 1;
	bins[first].count++;
	if (c->dur_ns > bins[first].max_ns)
		bins[first].max_ns = c->dur_ns;
	for (size_t i = first; i <= last; i++) {
		double lo = (double)i * tl->bin_ns, hi = lo + tl->bin_ns;
		double busy = (e < hi ? e : hi) - (b > lo ? b : lo);
		if (busy > 0)
			bins[i].busy_ns += busy;
	}
}

static int draw_one(void *arg, const struct ls_callback *c)
{
	struct ls_html_tl *tl = arg;
	size_t row = row_of(tl, c->tid);
	if (row == SIZE_MAX)
		return 0;
	int slow = is_slow(tl, c);
	if (!tl->decimated) {
		add_span(tl, row, c, slow);
		return 0;
	}
	add_to_bins(tl, row, c);
	if (slow) {
		tl->slow_total++;
		add_span(tl, row, c, 1);
		if (tl->spans.len >= 2 * SLOW_CAP)
			trim_slow(tl);
	}
	return 0;
}

/* Every callback the trace holds: all of them in mode=timeline, the slow
 * ones kept in memory in mode=summary. */
static void walk(struct ls_html_tl *tl, int (*fn)(void *, const struct ls_callback *))
{
	for (size_t i = 0; i < tl->r->ntraces; i++) {
		const struct ls_trace *t = tl->r->traces[i];
		tl->trace = i;
		tl->last_row = SIZE_MAX;
		tl->last_unshown = 0;
		if (t->mode == LS_MODE_TIMELINE) {
			ls_trace_each_callback(t, fn, tl);
			continue;
		}
		for (size_t k = 0; k < t->callbacks.len; k++)
			fn(tl, LS_VEC_AT(&t->callbacks, struct ls_callback, k));
	}
}

static int by_row_then_begin(const void *a, const void *b)
{
	const struct tl_span *x = a, *y = b;
	if (x->row != y->row)
		return x->row < y->row ? -1 : 1;
	if (x->begin_ns != y->begin_ns)
		return x->begin_ns < y->begin_ns ? -1 : 1;
	return 0;
}

/* Cuts [t0, t1] into bins: as many per row as a screen has pixels, fewer
 * when there are many rows. */
static void setup_bins(struct ls_html_tl *tl)
{
	size_t rows = tl->rows.len ? tl->rows.len : 1;
	tl->nbins = BIN_BUDGET / rows;
	if (tl->nbins > BINS_PER_ROW)
		tl->nbins = BINS_PER_ROW;
	if (tl->nbins == 0)
		tl->nbins = 1;
	tl->bin_ns = (tl->t1 - tl->t0) / (double)tl->nbins;
	if (!(tl->bin_ns > 0))
		tl->bin_ns = 1;
	tl->bins = ls_xcalloc(rows * tl->nbins, sizeof(struct tl_bin));
}

struct ls_html_tl *ls_html_tl_build(const struct ls_report *r)
{
	struct ls_html_tl *tl = ls_xcalloc(1, sizeof(*tl));
	tl->r = r;
	tl->rows.item_size = sizeof(struct tl_row);
	tl->spans.item_size = sizeof(struct tl_span);
	tl->sites.item_size = sizeof(struct tl_site);
	tl->last_ns = ls_xcalloc(r->ntraces, sizeof(double));
	tl->site_index = ls_xcalloc(r->ntraces, sizeof(uint32_t *));
	for (size_t i = 0; i < r->ntraces; i++)
		tl->site_index[i] = ls_xcalloc(r->traces[i]->sites.len, sizeof(uint32_t));
	walk(tl, count_one);
	tl->decimated = tl->total - tl->unshown > SPAN_BUDGET;
	if (tl->decimated)
		setup_bins(tl);
	tl->pass = 1;
	walk(tl, draw_one);
	trim_slow(tl);
	if (tl->spans.len > 1)
		qsort(tl->spans.items, tl->spans.len, sizeof(struct tl_span), by_row_then_begin);
	return tl;
}

void ls_html_tl_free(struct ls_html_tl *tl)
{
	if (tl == NULL)
		return;
	for (size_t i = 0; i < tl->r->ntraces; i++)
		free(tl->site_index[i]);
	free(tl->site_index);
	free(tl->last_ns);
	free(tl->bins);
	ls_vec_free(&tl->rows);
	ls_vec_free(&tl->spans);
	ls_vec_free(&tl->sites);
	free(tl);
}

double ls_html_tl_last_ns(const struct ls_html_tl *tl, size_t i)
{
	return i < tl->r->ntraces ? tl->last_ns[i] : 0;
}

void ls_html_tl_notes(FILE *out, const struct ls_html_tl *tl)
{
	if (tl->decimated) {
		char bin[32];
		ls_human_ns(bin, sizeof(bin), tl->bin_ns, 0);
		fprintf(out, "<li class=\"decimated\" id=\"decimated\">The timeline is aggregated: "
			"%" PRIu64 " callbacks are more than the %d it draws one by one, so each "
			"thread's row shows %zu time bins of %s (callbacks, busy fraction, longest), "
			"and the slow callbacks one by one: ", tl->total - tl->unshown, SPAN_BUDGET,
			tl->nbins, bin);
		if (tl->slow_total == 0)
			fputs("none was slow.</li>\n", out);
		else
			fprintf(out, "%zu of %" PRIu64 "%s.</li>\n", tl->spans.len, tl->slow_total,
				tl->spans.len < tl->slow_total ? ", the longest" : "");
	}
	if (tl->unshown)
		fprintf(out, "<li>The timeline shows the first %d threads; the %" PRIu64
			" callbacks of the others are left out of it.</li>\n", ROW_CAP, tl->unshown);
}

/* ---- the data, as JSON ---- */

static json_t *utf8(const char *s)
{
	char *u = ls_html_utf8(s);
	json_t *j = json_string(u);
	free(u);
	return j ? j : json_string("?");
}

static json_t *json_row(const struct ls_html_tl *tl, const struct tl_row *row)
{
	const struct ls_trace *t = tl->r->traces[row->trace];
	const struct ls_thread *th = ls_trace_thread(t, row->tid);
	json_t *o = json_object();
	json_object_set_new(o, "pid", json_integer((json_int_t)t->pid));
	json_object_set_new(o, "tid", json_integer(row->tid));
	json_object_set_new(o, "name", utf8(th ? th->name : ""));
	json_object_set_new(o, "count", json_integer((json_int_t)row->count));
	json_object_set_new(o, "spans", json_array());
	json_object_set_new(o, "bins", json_array());
	return o;
}

static json_t *json_site(const struct ls_html_tl *tl, const struct tl_site *ts)
{
	const struct ls_trace *t = tl->r->traces[ts->trace];
	struct ls_site_row row = { .trace = t, .sym = tl->r->syms[ts->trace], .site = ts->id };
	const struct ls_site *s = ls_trace_site(t, ts->id);
	struct ls_callback_name cn;
	json_t *o = json_object();
	json_object_set_new(o, "name", utf8(ls_site_row_callback(&row, s, &cn)));
	json_object_set_new(o, "api", utf8(s ? ls_api_name(s->api) : "unknown"));
	const struct ls_frame *f = ls_site_frame(row.sym, t, s);
	if (f && f->function) {
		char at[1024];
		snprintf(at, sizeof(at), "%s%s%s", f->function, f->file ? " " : "",
			 f->file ? ls_basename(f->file) : "");
		if (f->file)
			snprintf(at + strlen(at), sizeof(at) - strlen(at), ":%d", f->line);
		json_object_set_new(o, "at", utf8(at));
	}
	return o;
}

/* Times are whole ns from the first callback: exact in a JavaScript
 * number for 104 days. */
static json_int_t rel_ns(const struct ls_html_tl *tl, double ns)
{
	return (json_int_t)(ns - tl->t0 + 0.5);
}

static void add_spans(json_t *rows, const struct ls_html_tl *tl)
{
	for (size_t i = 0; i < tl->spans.len; i++) {
		const struct tl_span *s = LS_VEC_AT(&tl->spans, struct tl_span, i);
		json_t *a = json_object_get(json_array_get(rows, s->row), "spans");
		json_array_append_new(a, json_pack("[I,I,i,b]", rel_ns(tl, s->begin_ns),
						   (json_int_t)(s->dur_ns + 0.5), (int)s->site - 1,
						   s->slow));
	}
}

/* Each row's bins that hold something: [bin, callbacks, busy per mille,
 * longest ns]. */
static void add_bins(json_t *rows, const struct ls_html_tl *tl)
{
	for (size_t r = 0; tl->decimated && r < tl->rows.len; r++) {
		json_t *a = json_object_get(json_array_get(rows, r), "bins");
		for (size_t i = 0; i < tl->nbins; i++) {
			const struct tl_bin *b = &tl->bins[r * tl->nbins + i];
			if (b->count == 0 && b->busy_ns <= 0)
				continue;
			int busy = (int)(b->busy_ns / tl->bin_ns * 1000 + 0.5);
			json_array_append_new(a, json_pack("[I,I,i,I]", (json_int_t)i,
							   (json_int_t)b->count, busy > 1000 ? 1000 : busy,
							   (json_int_t)(b->max_ns + 0.5)));
		}
	}
}

static json_t *json_data(const struct ls_html_tl *tl)
{
	json_t *rows = json_array(), *sites = json_array(), *procs = json_array();
	for (size_t i = 0; i < tl->rows.len; i++)
		json_array_append_new(rows, json_row(tl, LS_VEC_AT(&tl->rows, struct tl_row, i)));
	for (size_t i = 0; i < tl->sites.len; i++)
		json_array_append_new(sites, json_site(tl, LS_VEC_AT(&tl->sites, struct tl_site, i)));
	for (size_t i = 0; i < tl->r->ntraces; i++)
		json_array_append_new(procs, json_pack("{s:I,s:o}", "pid",
						       (json_int_t)tl->r->traces[i]->pid, "exe",
						       utf8(tl->r->traces[i]->exe)));
	add_spans(rows, tl);
	add_bins(rows, tl);
	return json_pack("{s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:o,s:o,s:o}",
			 "end_ns", rel_ns(tl, tl->t1), "total", (json_int_t)tl->total,
			 "decimated", tl->decimated, "spans", (json_int_t)tl->spans.len,
			 "slow_total", (json_int_t)tl->slow_total,
			 "bins", (json_int_t)(tl->decimated ? tl->nbins : 0),
			 "bin_ns", (json_int_t)(tl->decimated ? tl->bin_ns + 0.5 : 0),
			 "procs", procs, "rows", rows, "sites", sites);
}

/* doc inside a <script> element. JSON_ESCAPE_SLASH: "</script>" in a
 * name cannot end the element; and every '<' (only ever inside a
 * string) as \u003c, since "<!--" and "<script" change how HTML reads
 * on to the end of the element. */
static void write_json(FILE *out, const json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_ESCAPE_SLASH);
	for (char *p = text, *lt; p && *p; p = lt + 1) {
		if ((lt = strchr(p, '<')) == NULL) {
			fputs(p, out);
			break;
		}
		fwrite(p, 1, (size_t)(lt - p), out);
		fputs("\\u003c", out);
	}
	free(text);
}

void ls_html_tl_write(FILE *out, const struct ls_html_tl *tl)
{
	fprintf(out, "<section id=\"timeline\"><h2>Timeline</h2>\n<p class=\"help\">One row per "
		"thread (pid/tid name); callbacks in blue, slow ones in red%s. Wheel or the buttons "
		"zoom, dragging pans, hovering names a callback.</p>\n",
		tl->decimated ? ", shaded bins: how busy the thread was" : "");
	fputs("<div class=\"tl-tools\"><button type=\"button\" id=\"tl-in\">zoom in</button>"
	      "<button type=\"button\" id=\"tl-out\">zoom out</button>"
	      "<button type=\"button\" id=\"tl-reset\">whole run</button> "
	      "<span id=\"tl-range\"></span></div>\n", out);
	fprintf(out, "<div class=\"tl-wrap\" id=\"tl-wrap\"><canvas id=\"tl\" data-spans=\"%zu\" "
		"data-total=\"%" PRIu64 "\" data-decimated=\"%d\"></canvas>"
		"<div id=\"tl-tip\" hidden></div></div>\n"
		"<noscript><p>The timeline is drawn by JavaScript.</p></noscript>\n",
		tl->spans.len, tl->total, tl->decimated);
	fputs("<script type=\"application/json\" id=\"tl-data\">", out);
	json_t *doc = json_data(tl);
	write_json(out, doc);
	json_decref(doc);
	fprintf(out, "</script>\n<script>\n%s</script>\n</section>\n", ls_html_js);
}
