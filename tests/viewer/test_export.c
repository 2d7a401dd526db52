/* `loopsan export --format chrome`: Chrome trace-event JSON that Perfetto UI
 * and chrome://tracing open, read back and counted. */
#include "tests/harness.h"

LS_SUITE(export);

/* Runs fixture (with argument arg, may be NULL) under the shim with
 * options in a new dir; returns its trace. */
static char *trace_of(const char *fixture, const char *arg, const char *options)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture_arg(&r, fixture, dir, true, options ? options : "", arg);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	return ls_single_trace(dir);
}

/* Exports trace and returns the parsed document. */
static json_t *export_of(const char *trace)
{
	char *out = ls_fmt("%s/out.json", ls_tmpdir());
	struct ls_run r;
	const char *args[] = {"export", "--format", "chrome", "-o", out, trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(r.out_len, 0, "export -o FILE prints nothing on stdout:\n%s", r.out);
	ls_run_free(&r);
	json_error_t err;
	json_t *doc = json_load_file(out, 0, &err);
	cr_assert(doc, "%s does not parse: %s (line %d)", out, err.text, err.line);
	cr_assert(json_is_array(json_object_get(doc, "traceEvents")), "no traceEvents[]");
	free(out);
	return doc;
}

/* Events with this ph and name (NULL: any name). */
static size_t count_events(json_t *doc, const char *ph, const char *name)
{
	json_t *ev;
	size_t i, n = 0;
	json_array_foreach(json_object_get(doc, "traceEvents"), i, ev) {
		if (strcmp(ls_str(ev, "ph"), ph) == 0 &&
		    (!name || strcmp(ls_str(ev, "name"), name) == 0))
			n++;
	}
	return n;
}

Test(export, timeline_trace_exports_every_callback_as_a_slice)
{
	char *trace = trace_of("counter", "1000", "mode=timeline");
	long pid = ls_trace_pid(trace);
	json_t *doc = export_of(trace);
	char *site = ls_fmt("start_counting counter.c:%d", ls_marker_line("counter", "idle_start"));
	json_t *ev, *thread_name = NULL;
	size_t i;
	double last = -1;

	cr_assert_eq(count_events(doc, "X", "on_idle"), 1000);
	json_array_foreach(json_object_get(doc, "traceEvents"), i, ev) {
		if (strcmp(ls_str(ev, "ph"), "M") == 0 &&
		    strcmp(ls_str(ev, "name"), "thread_name") == 0 && ls_int(ev, "tid") == pid)
			thread_name = ev;
		if (strcmp(ls_str(ev, "ph"), "X") != 0)
			continue;
		json_t *args = json_object_get(ev, "args");
		cr_assert_eq(ls_int(ev, "pid"), pid);
		cr_assert_eq(ls_int(ev, "tid"), pid, "the loop runs on the main thread");
		cr_assert_str_eq(ls_str(args, "api"), "uv_idle_start");
		cr_assert_str_eq(ls_str(args, "created_at"), site);
		cr_assert_geq(ls_num(ev, "dur"), 0.0);
		cr_assert_geq(ls_num(ev, "ts"), last, "one thread's slices come in time order");
		last = ls_num(ev, "ts");
	}
	cr_assert(thread_name, "no thread_name metadata for the loop thread");
	cr_assert_str_eq(ls_str(json_object_get(thread_name, "args"), "name"), "counter");
	cr_assert_eq(count_events(doc, "M", "process_name"), 1);
	json_decref(doc);
	free(site);
	free(trace);
}

Test(export, findings_are_instant_events)
{
	char *slow = trace_of("slow_timer", NULL, NULL);
	json_t *doc = export_of(slow);

	/* Summary mode keeps the slow runs only: on_slow_once once, on_tick 3 times. */
	cr_assert_eq(count_events(doc, "i", "slow-callback"), 4);
	cr_assert_eq(count_events(doc, "X", "on_tick"), 3);
	cr_assert_eq(count_events(doc, "X", "on_slow_once"), 1);
	cr_assert_eq(count_events(doc, "X", "on_idle"), 0, "fast callbacks are not in a summary trace");
	json_decref(doc);
	free(slow);

	char *open = trace_of("open_handle", NULL, NULL);
	json_t *rep = ls_report_json(open);
	doc = export_of(open);
	cr_assert_eq(count_events(doc, "i", "pending-at-close"),
		     ls_count(rep, "pending-at-close", NULL));
	cr_assert_gt(count_events(doc, "i", "pending-at-close"), 0);
	json_decref(doc);
	json_decref(rep);
	free(open);
}

Test(export, usage_errors_are_one_line_and_exit_2)
{
	char *trace = trace_of("counter", "10", NULL);
	const char *no_out[] = {"export", "--format", "chrome", trace, NULL};
	const char *bad_format[] = {"export", "--format", "svg", "-o", "x.json", trace, NULL};
	const char *bad_dir[] = {"export", "--format", "chrome", "-o",
				 "/nonexistent/loopsan/out.json", trace, NULL};
	const char *const *cases[] = {no_out, bad_format, bad_dir};
	const char *needles[] = {"-o FILE", "svg", "/nonexistent/loopsan/out.json"};

	for (size_t i = 0; i < 3; i++) {
		struct ls_run r;
		ls_run_viewer(&r, ls_tmpdir(), cases[i]);
		cr_assert_eq(ls_exit_code(&r), 2, "case %zu", i);
		ls_assert_one_line(&r, needles[i]);
		ls_run_free(&r);
	}
	free(trace);
}

/* Exports into dir with extra arguments (NULL-terminated, then the
 * traces); returns the parsed document, its stderr in *err when err. */
static json_t *export_in(const char *dir, const char *const *extra, char **err)
{
	char *out = ls_fmt("%s/filtered.json", dir);
	const char *args[24] = {"export", "--format", "chrome", "-o", out};
	size_t n = 5;
	for (size_t i = 0; extra[i]; i++) {
		cr_assert(n < 23);
		args[n++] = extra[i];
	}
	args[n] = NULL;
	struct ls_run r;
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	if (err)
		*err = strdup(r.err);
	ls_run_free(&r);
	json_error_t e;
	json_t *doc = json_load_file(out, 0, &e);
	cr_assert(doc, "%s does not parse: %s (line %d)", out, e.text, e.line);
	free(out);
	return doc;
}

/* The X events of doc whose tid is tid (0: any), in time order. */
static size_t slices(json_t *doc, long tid, json_t **out, size_t max)
{
	json_t *ev;
	size_t i, n = 0;
	json_array_foreach(json_object_get(doc, "traceEvents"), i, ev) {
		if (strcmp(ls_str(ev, "ph"), "X") == 0 && (tid == 0 || ls_int(ev, "tid") == tid)) {
			cr_assert(n < max);
			out[n++] = ev;
		}
	}
	return n;
}

static double end_ms(json_t *ev)
{
	return (ls_num(ev, "ts") + ls_num(ev, "dur")) / 1e3;
}

/* The thread_name metadata event of tid, or NULL. */
static json_t *thread_named(json_t *doc, long tid)
{
	json_t *ev;
	size_t i;
	json_array_foreach(json_object_get(doc, "traceEvents"), i, ev) {
		if (strcmp(ls_str(ev, "ph"), "M") == 0 &&
		    strcmp(ls_str(ev, "name"), "thread_name") == 0 && ls_int(ev, "tid") == tid)
			return ev;
	}
	return NULL;
}

Test(export, a_non_ascii_thread_name_is_utf8_in_the_json)
{
	char *trace = trace_of("export_utf8", NULL, "mode=timeline");
	const char *dir = ls_tmpdir();
	long pid = ls_trace_pid(trace);
	json_t *doc = export_in(dir, (const char *[]){trace, NULL}, NULL);
	json_t *m = thread_named(doc, pid);
	cr_assert(m, "no thread_name for the main thread");
	cr_assert_str_eq(ls_str(json_object_get(m, "args"), "name"), "l\xc3\xb6\xc3\xb6p");
	char *path = ls_fmt("%s/filtered.json", dir);
	size_t len;
	char *raw = ls_read_file(path, &len);
	cr_assert(strstr(raw, "\"l\xc3\xb6\xc3\xb6p\""), "not written as UTF-8 text");
	/* The worker's name is not UTF-8: its byte 0xff becomes U+FFFD. */
	json_t *ev;
	size_t i;
	int worker = 0;
	json_array_foreach(json_object_get(doc, "traceEvents"), i, ev) {
		if (strcmp(ls_str(ev, "name"), "thread_name") == 0 && ls_int(ev, "tid") != pid) {
			cr_assert_str_eq(ls_str(json_object_get(ev, "args"), "name"),
					 "work\xef\xbf\xbd");
			worker = 1;
		}
	}
	cr_assert(worker, "no thread_name for the worker");
	free(raw);
	free(path);
	json_decref(doc);
	free(trace);
}

Test(export, filters_keep_the_events_asked_for)
{
	char *trace = trace_of("export_utf8", NULL, "mode=timeline");
	char *other = trace_of("export_utf8", NULL, "mode=timeline");
	const char *dir = ls_tmpdir();
	long pid = ls_trace_pid(trace);
	json_t *all = export_in(dir, (const char *[]){trace, NULL}, NULL);
	json_t *ev[400], *main_ev[400], *slow = NULL;
	size_t n = slices(all, 0, ev, 400), nmain = slices(all, pid, main_ev, 400);
	long worker = 0;
	cr_assert_eq(n, 301, "200 + 100 idle callbacks and one slow one");
	for (size_t i = 0; i < n; i++) {
		if (ls_int(ev[i], "tid") != pid)
			worker = (long)ls_int(ev[i], "tid");
		if (strcmp(ls_str(ev[i], "name"), "on_slow") == 0)
			slow = ev[i];
	}
	cr_assert(worker && slow && nmain == 201);
	/* Between the main thread's last idle callback and on_slow. */
	char *gap = ls_fmt("%.6f", (end_ms(main_ev[199]) + ls_num(slow, "ts") / 1e3) / 2);
	char *tid = ls_fmt("%ld", worker), *pidarg = ls_fmt("%ld", pid);
	json_t *buf[400], *doc;

	doc = export_in(dir, (const char *[]){"--tid", tid, trace, NULL}, NULL);
	cr_assert_eq(slices(doc, 0, buf, 400), 100, "--tid: the worker's callbacks only");
	cr_assert_eq(slices(doc, worker, buf, 400), 100);
	cr_assert(thread_named(doc, worker) && !thread_named(doc, pid), "--tid: its track only");
	json_decref(doc);

	doc = export_in(dir, (const char *[]){"--min-ms", "20", trace, NULL}, NULL);
	cr_assert_eq(slices(doc, 0, buf, 400), 1, "--min-ms 20: on_slow only");
	cr_assert_str_eq(ls_str(buf[0], "name"), "on_slow");
	json_decref(doc);

	doc = export_in(dir, (const char *[]){"--since", gap, trace, NULL}, NULL);
	cr_assert_eq(slices(doc, 0, buf, 400), 1, "--since %s: on_slow only", gap);
	json_decref(doc);

	doc = export_in(dir, (const char *[]){"--until", gap, trace, NULL}, NULL);
	cr_assert_eq(slices(doc, 0, buf, 400), 300, "--until %s: all but on_slow", gap);
	json_decref(doc);

	doc = export_in(dir, (const char *[]){"--since", "0", "--until", gap, "--tid", pidarg,
					   trace, NULL}, NULL);
	cr_assert_eq(slices(doc, 0, buf, 400), 200, "the main thread's idle callbacks");
	json_decref(doc);

	doc = export_in(dir, (const char *[]){"--pid", pidarg, trace, other, NULL}, NULL);
	size_t k = slices(doc, 0, buf, 400);
	cr_assert_eq(k, 301, "--pid: one of the two processes");
	for (size_t i = 0; i < k; i++)
		cr_assert_eq(ls_int(buf[i], "pid"), pid);
	cr_assert_eq(count_events(doc, "M", "process_name"), 1);
	json_decref(doc);

	free(gap);
	free(tid);
	free(pidarg);
	json_decref(all);
	free(trace);
	free(other);
}

Test(export, bad_filter_values_are_one_line_and_exit_2)
{
	char *trace = trace_of("counter", "10", NULL);
	const char *dir = ls_tmpdir();
	const char *cases[][3] = {
		{"--pid", "0", "--pid"},      {"--pid", "abc", "--pid"},
		{"--tid", "-1", "--tid"},     {"--tid", "99999999999", "--tid"},
		{"--since", "-5", "--since"}, {"--until", "soon", "--until"},
		{"--min-ms", "nan", "--min-ms"}, {"--min-ms", "", "--min-ms"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = {"export", "--format", "chrome", "-o", "x.json",
				      cases[i][0], cases[i][1], trace, NULL};
		struct ls_run r;
		ls_run_viewer(&r, dir, args);
		cr_assert_eq(ls_exit_code(&r), 2, "%s '%s'", cases[i][0], cases[i][1]);
		ls_assert_one_line(&r, cases[i][2]);
		ls_run_free(&r);
	}
	const char *backwards[] = {"export", "--format", "chrome", "-o", "x.json",
				   "--since", "20", "--until", "10", trace, NULL};
	struct ls_run r;
	ls_run_viewer(&r, dir, backwards);
	cr_assert_eq(ls_exit_code(&r), 2);
	ls_assert_one_line(&r, "--until");
	ls_run_free(&r);
	char *other = ls_fmt("%ld", ls_trace_pid(trace) + 1);
	const char *no_such[] = {"export", "--format", "chrome", "-o", "x.json",
				 "--pid", other, trace, NULL};
	ls_run_viewer(&r, dir, no_such);
	cr_assert_eq(ls_exit_code(&r), 2);
	ls_assert_one_line(&r, "--pid");
	ls_run_free(&r);
	free(other);
	free(trace);
}

Test(export, a_summary_mode_trace_gets_one_note_that_its_timeline_is_sparse)
{
	char *summary = trace_of("counter", "10", NULL);
	char *timeline = trace_of("counter", "10", "mode=timeline");
	const char *dir = ls_tmpdir();
	char *err;
	json_t *doc = export_in(dir, (const char *[]){summary, NULL}, &err);
	cr_assert_eq(ls_count_lines(err), 1, "one line:\n%s", err);
	cr_assert(strstr(err, "mode=summary") && strstr(err, "mode=timeline"), "%s", err);
	json_decref(doc);
	free(err);
	doc = export_in(dir, (const char *[]){timeline, NULL}, &err);
	cr_assert_str_eq(err, "", "no note for a timeline trace");
	json_decref(doc);
	free(err);
	free(summary);
	free(timeline);
}
