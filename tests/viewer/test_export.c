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
