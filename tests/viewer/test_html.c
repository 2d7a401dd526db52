/* `loopsan report --format html`: real fixtures under the real shim, the
 * real CLI, and the page opened in Debian's chromium (headless, without
 * network: unshare -n) whose DOM, after the page's script ran, is read
 * back. The expected findings come from the JSON and text reports of the
 * same traces, the expected counts from `loopsan stats`. */
#include "tests/harness.h"

LS_SUITE(html);

#define CHROMIUM "/usr/bin/chromium"
#define SIZE_BOUND (5u << 20) /* docs/HTML-REPORT.md: 5 MB, whatever the trace */

/* Runs fixture (with argument arg, may be NULL) under the shim with
 * options in a new dir; returns its trace. */
static char *trace_of(const char *fixture, const char *arg, const char *options)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture_arg(&r, fixture, dir, true, options ? options : "", arg);
	cr_assert_eq(ls_exit_code(&r), 0, "%s: %s", fixture, r.err);
	ls_run_free(&r);
	return ls_single_trace(dir);
}

/* `loopsan report --format html -o OUT traces...` (NULL-terminated), which
 * must succeed and print nothing; returns the page, its path in *out. */
static char *html_of(char **out, const char *const *traces)
{
	const char *args[24] = {"report", "--format", "html", "-o"};
	size_t n = 4, len;
	struct ls_run r;

	*out = ls_fmt("%s/report.html", ls_tmpdir());
	args[n++] = *out;
	for (size_t i = 0; traces[i]; i++)
		args[n++] = traces[i];
	args[n] = NULL;
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "report --format html: %s", r.err);
	cr_assert_eq(r.out_len, 0, "-o FILE prints nothing on stdout:\n%s", r.out);
	ls_run_free(&r);
	return ls_read_file(*out, &len);
}

/* No console message in chromium's log (lines "...:CONSOLE(N)] "text",
 * source: URL (N)"), but those of chromium's own pages (chrome://, e.g. a
 * network warning of the new-tab page's code), which are not the
 * report's. */
static void assert_no_console(char *log, const char *path)
{
	for (char *line = log, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		char *end = nl ? nl : line + strlen(line);
		char *c = memmem(line, (size_t)(end - line), ":CONSOLE", 8);
		if (c == NULL || memmem(c, (size_t)(end - c), "source: chrome://", 17))
			continue;
		cr_assert_fail("console message on %s:\n%.*s", path, (int)(end - line), line);
	}
}

/* The page at path in chromium, headless and without network; returns
 * the DOM after its scripts ran. No console message at all may be
 * logged (an uncaught error, a blocked fetch, a log line). */
static char *dom_of(const char *path)
{
	char *url = ls_fmt("file://%s", path);
	char *profile = ls_fmt("--user-data-dir=%s", ls_tmpdir());
	const char *argv[] = {"/usr/bin/unshare", "-n", CHROMIUM, "--headless=new", "--no-sandbox",
			      "--disable-gpu", "--no-first-run", "--disable-extensions",
			      "--enable-logging=stderr", "--v=0",
			      "--allow-file-access-from-files", profile, "--dump-dom", url, NULL};
	struct ls_run r;

	cr_assert(access(CHROMIUM, X_OK) == 0, "%s missing: scripts/deps.sh installs chromium",
		  CHROMIUM);
	ls_run(&r, NULL, NULL, argv);
	cr_assert(!r.timed_out, "chromium timed out on %s", path);
	cr_assert_eq(ls_exit_code(&r), 0, "chromium on %s:\n%s", path, r.err);
	assert_no_console(r.err, path);
	cr_assert(strstr(r.out, "</html>"), "no DOM dumped for %s:\n%s", path, r.err);
	char *dom = r.out;
	r.out = NULL;
	ls_run_free(&r);
	free(url);
	free(profile);
	return dom;
}

/* Text as the DOM holds it, the entities chromium writes undone. */
static char *unescape(const char *s, size_t n)
{
	static const char *const ents[][2] = {
		{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", "\""}, {"&#39;", "'"},
		{"&nbsp;", "\xc2\xa0"}};
	char *o = malloc(n + 1), *p = o;

	for (size_t i = 0; i < n;) {
		size_t k = 0;
		while (k < 6 && strncmp(s + i, ents[k][0], strlen(ents[k][0])))
			k++;
		if (k < 6) {
			p = stpcpy(p, ents[k][1]);
			i += strlen(ents[k][0]);
		} else {
			*p++ = s[i++];
		}
	}
	*p = '\0';
	return o;
}

/* The contents of every element opened by `open` (up to the next
 * `close`), unescaped, as a JSON array of strings. */
static json_t *elements(const char *dom, const char *open, const char *close)
{
	json_t *a = json_array();

	for (const char *p = strstr(dom, open); p; p = strstr(p, open)) {
		p += strlen(open);
		const char *e = strstr(p, close);
		cr_assert(e, "%s is not closed", open);
		char *text = unescape(p, (size_t)(e - p));
		json_array_append_new(a, json_string(text));
		free(text);
		p = e;
	}
	return a;
}

static size_t occurrences(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* The timeline's data, from the page's <script type="application/json">. */
static json_t *timeline_data(const char *page)
{
	static const char open[] = "<script type=\"application/json\" id=\"tl-data\">";
	const char *p = strstr(page, open), *e;
	json_error_t err;

	cr_assert(p, "no timeline data in the page");
	p += sizeof(open) - 1;
	e = strstr(p, "</script>");
	cr_assert(e);
	json_t *doc = json_loadb(p, (size_t)(e - p), 0, &err);
	cr_assert(doc, "timeline data does not parse: %s", err.text);
	return doc;
}

static size_t spans_in(json_t *data)
{
	json_t *row;
	size_t i, n = 0;

	json_array_foreach(json_object_get(data, "rows"), i, row)
		n += json_array_size(json_object_get(row, "spans"));
	return n;
}

/* The canvas's data-drawn, which the script sets after drawing. */
static long drawn_in(const char *dom)
{
	const char *p = strstr(dom, "data-drawn=\"");

	cr_assert(p, "the timeline was not drawn (no data-drawn on the canvas)");
	return strtol(p + 12, NULL, 10);
}

/* Callbacks the stats slots count, over every site of the traces. */
static long long counted(const char *const *traces)
{
	long long n = 0;

	for (size_t t = 0; traces[t]; t++) {
		json_t *stats = ls_stats_json(traces[t]), *s;
		size_t i;
		json_array_foreach(json_object_get(stats, "sites"), i, s)
			n += ls_int(s, "count");
		json_decref(stats);
	}
	return n;
}

static size_t sites_in(const char *const *traces)
{
	size_t n = 0;

	for (size_t t = 0; traces[t]; t++) {
		json_t *stats = ls_stats_json(traces[t]);
		n += json_array_size(json_object_get(stats, "sites"));
		json_decref(stats);
	}
	return n;
}

/* The headlines of `loopsan report --color never` (text): each finding's
 * "==PID== " line, without that prefix. */
static json_t *text_headlines(const char *const *traces)
{
	const char *args[16] = {"report", "--color", "never"};
	size_t n = 3;
	struct ls_run r;
	json_t *a = json_array();

	for (size_t i = 0; traces[i]; i++)
		args[n++] = traces[i];
	args[n] = NULL;
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	for (char *line = r.out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		char *sp = strstr(line, "== ");
		if (strncmp(line, "==", 2) == 0 && sp)
			json_array_append_new(a, json_string(sp + 3));
	}
	ls_run_free(&r);
	return a;
}

/* The JSON report of several traces at once. */
static json_t *json_report(const char *const *traces)
{
	const char *args[16] = {"report", "--format", "json"};
	size_t n = 3;
	struct ls_run r;

	for (size_t i = 0; traces[i]; i++)
		args[n++] = traces[i];
	args[n] = NULL;
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	json_t *rep = ls_parse_report(&r);
	ls_run_free(&r);
	return rep;
}

Test(html, findings_of_several_kinds_show_with_their_histograms_and_timeline)
{
	char *slow = trace_of("slow_timer", NULL, NULL);
	char *wrong = trace_of("wrong_thread", NULL, NULL);
	char *open = trace_of("open_handle", NULL, NULL);
	const char *traces[] = {slow, wrong, open, NULL};
	json_t *rep = json_report(traces), *want = text_headlines(traces), *f;
	char *path, *page = html_of(&path, traces);
	char *dom = dom_of(path);
	json_t *got = elements(dom, "<span class=\"headline\">", "</span>");
	size_t i, nsites = sites_in(traces);

	size_t nfind = json_array_size(json_object_get(rep, "findings"));
	cr_assert_geq(nfind, 3, "the fixtures have findings of three kinds");
	cr_assert_eq(json_array_size(want), nfind, "text and JSON reports disagree");
	cr_assert_eq(json_array_size(got), nfind, "%zu findings in the page, %zu in the report",
		     json_array_size(got), nfind);
	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const char *h = json_string_value(json_array_get(got, i));
		cr_assert_str_eq(h, json_string_value(json_array_get(want, i)), "finding %zu", i);
		char *kind = ls_fmt("%s: ", ls_str(f, "kind"));
		cr_assert(strncmp(h, kind, strlen(kind)) == 0, "finding %zu is not a %s: %s", i,
			  kind, h);
		char *count = ls_fmt("data-kind=\"%s\">%zu<", ls_str(f, "kind"),
				     ls_count(rep, ls_str(f, "kind"), NULL));
		cr_assert(strstr(dom, count), "the summary does not count %s", count);
		free(kind);
		free(count);
	}
	cr_assert_eq(occurrences(dom, "<svg class=\"hist\""), nsites < 60 ? nsites : 60);
	cr_assert_eq(occurrences(dom, "<details class=\"finding"), nfind);
	cr_assert(strstr(dom, "suppress with: "), "no suppress with: line");

	json_t *data = timeline_data(page);
	cr_assert_gt(spans_in(data), 0);
	cr_assert_eq(drawn_in(dom), (long)spans_in(data), "drawn %ld of %zu spans", drawn_in(dom),
		     spans_in(data));
	cr_assert(!json_is_true(json_object_get(data, "decimated")));
	json_decref(data);
	json_decref(got);
	json_decref(want);
	json_decref(rep);
	free(page);
	free(dom);
	free(path);
	free(slow);
	free(wrong);
	free(open);
}

/* Is s valid UTF-8 throughout? */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t len = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3
			   : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
		if (len == 0 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/* export_utf8 run as ".../<script>alert(1)</script>" (a directory and a
 * file), in mode=timeline: its program path is markup, one thread's name
 * is not UTF-8 ("work\xff"). */
Test(html, hostile_names_are_escaped_and_a_timeline_trace_draws_every_callback)
{
	const char *dir = ls_tmpdir();
	char *sub = ls_fmt("%s/<script>alert(1)<", dir);
	char *exe = ls_fmt("%s/script>", sub);
	char *bin = ls_fixture_bin("export_utf8");
	char *pre = ls_preload_env();
	const char *env[] = {pre, "LOOPSAN_OPTIONS=mode=timeline", NULL};
	const char *argv[] = {exe, NULL};
	struct ls_run r;
	size_t len;

	cr_assert_eq(mkdir(sub, 0755), 0);
	ls_copy_file(bin, exe, -1);
	cr_assert_eq(chmod(exe, 0755), 0);
	ls_run(&r, dir, env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	const char *traces[] = {trace, NULL};
	char *path, *page = html_of(&path, traces);
	char *dom = dom_of(path);
	len = strlen(page);

	cr_assert(utf8_valid((const unsigned char *)page, len), "the page is not UTF-8 throughout");
	cr_assert_null(strstr(page, "<script>alert"), "the program's path came out as markup");
	cr_assert(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;"), "no escaped path");
	cr_assert(strstr(page, "\\u003cscript>alert(1)\\u003c\\/script>"),
		  "the path in the JSON is not escaped ('<' as \\u003c, '/' as \\/)");
	cr_assert_eq(occurrences(dom, "<script"), 2, "only the page's own two scripts");
	cr_assert(strstr(dom, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	json_t *data = timeline_data(page), *row;
	size_t i;
	bool bad_name = false;
	json_array_foreach(json_object_get(data, "rows"), i, row)
		bad_name |= strcmp(ls_str(row, "name"), "work\xef\xbf\xbd") == 0;
	cr_assert(bad_name, "the thread \"work\\xff\" is not named work + U+FFFD");

	long long all = counted(traces);
	cr_assert_geq(all, 301, "200 + 100 idle callbacks and a timer");
	cr_assert_eq((long long)ls_int(data, "total"), all);
	cr_assert_eq((long long)spans_in(data), all, "every callback is a span");
	cr_assert_eq(drawn_in(dom), all, "drawn %ld of %lld callbacks", drawn_in(dom), all);
	json_decref(data);
	free(page);
	free(dom);
	free(path);
	free(trace);
	free(pre);
	free(bin);
	free(exe);
	free(sub);
}

Test(html, a_trace_past_the_span_budget_is_aggregated_and_stays_small)
{
	char *trace = trace_of("counter", "50000", "mode=timeline");
	const char *traces[] = {trace, NULL};
	char *path, *page = html_of(&path, traces);
	size_t len = strlen(page);
	json_t *data = timeline_data(page), *row;
	long long all = counted(traces);
	size_t i, bins = 0;

	cr_assert_geq(all, 50000, "the stats count every callback");
	cr_assert_lt(len, SIZE_BOUND, "%zu bytes", len);
	cr_assert(json_is_true(json_object_get(data, "decimated")));
	cr_assert_eq((long long)ls_int(data, "total"), all);
	char *said = ls_fmt("The timeline is aggregated: %lld callbacks are more than the %d", all,
			    20000);
	cr_assert(strstr(page, said), "the page does not say it aggregated: %s", said);
	json_array_foreach(json_object_get(data, "rows"), i, row) {
		json_t *b;
		size_t k;
		json_array_foreach(json_object_get(row, "bins"), k, b)
			bins += (size_t)json_integer_value(json_array_get(b, 1));
	}
	cr_assert_eq((long long)bins, all, "the bins count every callback once");
	cr_assert_lt(spans_in(data), 20000);
	char *dom = dom_of(path);
	cr_assert_eq(drawn_in(dom), (long)spans_in(data));
	char *range = ls_fmt("(aggregated: %lld callbacks)", all);
	cr_assert(strstr(dom, range), "the range line does not say %s", range);
	free(range);
	json_decref(data);
	free(dom);
	free(said);
	free(page);
	free(path);
	free(trace);
}

/* The held traces of the fixtures (tests/fuzz/corpus), and one that is
 * not a trace: each renders, or gets one line and exit 2; then one page
 * holds them all in iframes, and reads each one's data-drawn once they
 * loaded (--allow-file-access-from-files: one origin). */
Test(html, every_held_trace_renders_and_loads_without_console_errors)
{
	char *repo = ls_repo(), *pattern = ls_fmt("%s/tests/fuzz/corpus/*.trace", repo);
	const char *dir = ls_tmpdir();
	char *bad = ls_fmt("%s/bad.trace", dir), *index = ls_fmt("%s/index.html", dir);
	FILE *f = fopen(bad, "w");
	glob_t g;

	cr_assert(f && fputs("not a trace\n", f) >= 0 && fclose(f) == 0);
	cr_assert_eq(glob(pattern, 0, NULL, &g), 0);
	cr_assert_geq(g.gl_pathc, 10);
	FILE *idx = fopen(index, "w");
	cr_assert(idx);
	fputs("<!DOCTYPE html><html><body><ol id=\"frames\">\n", idx);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *out = ls_fmt("%s/%zu.html", dir, i);
		const char *args[] = {"report", "--format", "html", "-o", out, g.gl_pathv[i], NULL};
		struct ls_run r;
		ls_run_viewer(&r, NULL, args);
		cr_assert_eq(ls_exit_code(&r), 0, "%s: %s", g.gl_pathv[i], r.err);
		ls_run_free(&r);
		fprintf(idx, "<li><iframe src=\"%zu.html\" width=\"1000\" height=\"300\"></iframe>\n", i);
		free(out);
	}
	fputs("</ol><div id=\"read\"></div><script>\n"
	      "window.addEventListener('load', function () {\n"
	      "  var fs = document.getElementsByTagName('iframe'), out = [];\n"
	      "  for (var i = 0; i < fs.length; i++) {\n"
	      "    var c = fs[i].contentDocument.getElementById('tl');\n"
	      "    out.push(c.getAttribute('data-drawn') + '/' + c.getAttribute('data-spans'));\n"
	      "  }\n"
	      "  document.getElementById('read').setAttribute('data-frames', out.join(' '));\n"
	      "});\n</script></body></html>\n", idx);
	cr_assert_eq(fclose(idx), 0);

	const char *args[] = {"report", "--format", "html", "-o", index, bad, NULL};
	struct ls_run r;
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2);
	ls_assert_one_line(&r, "bad.trace");
	cr_assert(strncmp(r.err, "loopsan: ", 9) == 0, "%s", r.err);
	ls_run_free(&r);

	char *dom = dom_of(index);
	const char *p = strstr(dom, "data-frames=\"");
	cr_assert(p, "the frames were not read:\n%s", dom);
	p += 13;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		long drawn, spans;
		cr_assert_eq(sscanf(p, "%ld/%ld", &drawn, &spans), 2, "frame %zu: %.40s", i, p);
		cr_assert_eq(drawn, spans, "%s: drawn %ld of %ld", g.gl_pathv[i], drawn, spans);
		p = strchr(p, ' ');
		p = p ? p + 1 : "";
	}
	globfree(&g);
	free(dom);
	free(bad);
	free(index);
	free(pattern);
	free(repo);
}

Test(html, the_page_names_no_external_url)
{
	char *trace = trace_of("slow_timer", NULL, NULL);
	const char *traces[] = {trace, NULL};
	char *path, *page = html_of(&path, traces);
	const char *refs[] = {"src=", "href=", "url(", "@import", "http:", "https:", "//cdn", NULL};

	for (size_t i = 0; refs[i]; i++)
		cr_assert_null(strstr(page, refs[i]), "the page holds %s", refs[i]);
	free(page);
	free(path);
	free(trace);
}

Test(html, bad_output_paths_and_formats_are_one_line_and_exit_2)
{
	char *trace = trace_of("slow_timer", NULL, NULL);
	const char *dir = ls_tmpdir();
	char *file = ls_fmt("%s/file", dir), *under_file = ls_fmt("%s/file/x.html", dir);
	char *good = ls_fmt("%s/ok.txt", dir);
	struct {
		const char *args[8];
		const char *needle;
	} cases[] = {
		{{"report", "--format", "html", "-o", "/nonexistent/loopsan/r.html", trace, NULL},
		 "/nonexistent/loopsan/r.html"},
		{{"report", "--format", "html", "-o", under_file, trace, NULL}, under_file},
		{{"report", "-o", "/proc/loopsan-report.html", trace, NULL}, "/proc/loopsan-report.html"},
		{{"report", "--format", "htm", trace, NULL}, "'htm'"},
		{{"report", "--format", "html", "-o", NULL}, "-o"},
		{{"report", "--format", "html", "-o", "", trace, NULL}, "-o needs a file name"},
	};
	struct ls_run r;
	size_t len;

	ls_copy_file(trace, file, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ls_run_viewer(&r, NULL, cases[i].args);
		cr_assert_eq(ls_exit_code(&r), 2, "case %zu: %s", i, r.err);
		ls_assert_one_line(&r, cases[i].needle);
		cr_assert(strncmp(r.err, "loopsan: ", 9) == 0, "%s", r.err);
		cr_assert_eq(r.out_len, 0);
		ls_run_free(&r);
	}

	/* -o works for every format, and leaves the file alone, no temporary. */
	const char *text[] = {"report", "--output", good, trace, NULL};
	ls_run_viewer(&r, NULL, text);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(r.out_len, 0);
	ls_run_free(&r);
	char *got = ls_read_file(good, &len);
	cr_assert(strstr(got, "slow-callback: "), "%s", got);
	cr_assert_null(strstr(got, "\033["), "--color auto colors no file");
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)))
		files += e->d_name[0] != '.';
	closedir(d);
	cr_assert_eq(files, 2, "only file and ok.txt are in the directory");
	free(got);
	free(good);
	free(file);
	free(under_file);
	free(trace);
}
