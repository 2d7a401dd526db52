/* `loopsan check`: the CI gate. Exit 0 when no unsuppressed finding of a
 * --fail-on kind remains, 1 when one does (a FAIL line each and a verdict
 * line), 2 on a usage error; `run --fail` applies the same rules. */
#include "tests/harness.h"

LS_SUITE(check);

/* The trace of fixture run under the shim in a fresh dir. */
static char *trace_of(const char *fixture)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, fixture, dir, NULL);
	ls_exit_code(&r);
	ls_run_free(&r);
	return ls_single_trace(dir);
}

/* loopsan check [args...] trace; returns the exit status, output in r. */
static int check(struct ls_run *r, const char *trace, const char *const *args)
{
	const char *argv[16];
	size_t n = 0;

	argv[n++] = "check";
	for (size_t i = 0; args && args[i]; i++)
		argv[n++] = args[i];
	argv[n++] = trace;
	argv[n] = NULL;
	ls_run_viewer(r, NULL, argv);
	return ls_exit_code(r);
}

static int count_lines_starting(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		n += strncmp(p, prefix, strlen(prefix)) == 0;
	return n;
}

Test(check, slow_callbacks_fail_with_exit_1_a_line_each_and_a_verdict)
{
	char *trace = trace_of("slow_timer");
	struct ls_run r;

	cr_assert_eq(check(&r, trace, NULL), 1, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
	char *once = ls_fmt("FAIL slow-callback on_slow_once 15");
	char *site = ls_fmt("(pid %ld) created at start_slow_once slow_timer.c:%d\n",
			    ls_trace_pid(trace), ls_marker_line("slow_timer", "slow_once_start"));
	cr_assert(strstr(r.out, once), "no \"%s\" line:\n%s", once, r.out);
	cr_assert(strstr(r.out, site), "no \"%s\" in:\n%s", site, r.out);
	cr_assert(strstr(r.out, "FAIL slow-callback on_tick "), "%s", r.out);
	cr_assert_eq(count_lines_starting(r.out, "FAIL "), 2, "one FAIL line per finding:\n%s",
		     r.out);
	cr_assert(strstr(r.out, "loopsan check: FAIL (2 findings: slow-callback: 2"), "%s", r.out);
	cr_assert_null(strstr(r.out, "\033["), "no colors off a terminal:\n%s", r.out);
	ls_run_free(&r);
	free(once);
	free(site);
	free(trace);
}

Test(check, trace_without_findings_passes_with_exit_0)
{
	char *trace = trace_of("transparent");
	struct ls_run r;

	cr_assert_eq(check(&r, trace, NULL), 0, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
	cr_assert_str_eq(r.out,
			 "loopsan check: PASS (1 process, 0 failing findings, 0 suppressed)\n");
	ls_run_free(&r);
	free(trace);
}

Test(check, unknown_fail_on_kind_is_a_usage_error_naming_it)
{
	char *trace = trace_of("slow_timer");
	struct ls_run r;
	const char *const args[] = {"--fail-on", "slow-callback,slow-frobs", NULL};

	cr_assert_eq(check(&r, trace, args), 2, "stderr:\n%s", r.err);
	ls_assert_one_line(&r, "'slow-frobs'");
	cr_assert_eq(r.out_len, 0, "%s", r.out);
	ls_run_free(&r);
	free(trace);
}

Test(check, fail_on_accepts_every_kind_of_the_design)
{
	char *trace = trace_of("slow_timer");
	struct ls_run r;
	const char *const args[] = {"--fail-on",
				    "slow-callback,slow-selector,blocking-call,wrong-thread,"
				    "pending-at-close,unclosed-handle,dropped-error,never-awaited,"
				    "lost-wakeup,crash-in-callback,handle-misuse",
				    NULL};

	cr_assert_eq(check(&r, trace, args), 1, "stderr:\n%s", r.err);
	ls_run_free(&r);
	free(trace);
}

Test(check, fail_on_list_without_the_present_kinds_passes)
{
	char *slow = trace_of("slow_timer"), *open = trace_of("open_handle");
	struct ls_run r;
	const char *const pending[] = {"--fail-on", "pending-at-close,blocking-call", NULL};
	const char *const slow_only[] = {"--fail-on=slow-callback", NULL};

	cr_assert_eq(check(&r, slow, pending), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "loopsan check: PASS (1 process, 0 failing findings"), "%s",
		  r.out);
	ls_run_free(&r);
	cr_assert_eq(check(&r, open, slow_only), 0, "%s%s", r.out, r.err);
	ls_run_free(&r);
	cr_assert_eq(check(&r, open, pending), 1, "%s%s", r.out, r.err);
	cr_assert_eq(count_lines_starting(r.out, "FAIL pending-at-close "), 3, "%s", r.out);
	cr_assert(strstr(r.out, "created at init_heartbeat open_handle.c:"), "%s", r.out);
	ls_run_free(&r);
	free(slow);
	free(open);
}

Test(check, slow_ms_above_the_150ms_runs_passes_and_below_fails)
{
	char *trace = trace_of("slow_timer");
	struct ls_run r;
	const char *const high[] = {"--slow-ms", "200", NULL};
	const char *const mid[] = {"--slow-ms=120", NULL};

	cr_assert_eq(check(&r, trace, high), 0, "%s%s", r.out, r.err);
	cr_assert_eq(r.err_len, 0, "raising the threshold is exact, no note:\n%s", r.err);
	ls_run_free(&r);
	cr_assert_eq(check(&r, trace, mid), 1, "%s%s", r.out, r.err);
	ls_run_free(&r);

	const char *rep[] = {"report", "--format", "json", "--slow-ms", "200", trace, NULL};
	ls_run_viewer(&r, NULL, rep);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	json_t *doc = ls_parse_report(&r);
	cr_assert_eq(ls_count(doc, "slow-callback", NULL), 0, "report --slow-ms 200");
	json_decref(doc);
	ls_run_free(&r);
	free(trace);
}

Test(check, slow_ms_below_the_recording_threshold_is_noted_on_stderr)
{
	char *trace = trace_of("slow_timer");
	struct ls_run r;
	const char *const low[] = {"--slow-ms", "50", NULL};

	cr_assert_eq(check(&r, trace, low), 1, "%s%s", r.out, r.err);
	ls_assert_one_line(&r, "--slow-ms 50");
	cr_assert(strstr(r.err, "100 ms"), "names the recording threshold: %s", r.err);
	ls_run_free(&r);
	free(trace);
}

Test(check, bad_slow_ms_is_a_usage_error)
{
	char *trace = trace_of("slow_timer");
	struct ls_run r;
	const char *const bad[] = {"--slow-ms", "soon", NULL};

	cr_assert_eq(check(&r, trace, bad), 2, "%s", r.err);
	ls_assert_one_line(&r, "soon");
	ls_run_free(&r);
	free(trace);
}

Test(check, directory_of_two_processes_is_judged_as_one_run)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture(&r, "slow_timer", dir, NULL);
	ls_run_free(&r);
	ls_run_fixture(&r, "open_handle", dir, NULL);
	ls_run_free(&r);
	cr_assert_eq(check(&r, dir, NULL), 1, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "loopsan check: FAIL (5 findings: slow-callback: 2, "
				"pending-at-close: 3; 2 processes, 0 suppressed)\n"),
		  "%s", r.out);
	ls_run_free(&r);
}

Test(check, missing_trace_is_exit_2_naming_it)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	char *path = ls_fmt("%s/loopsan.1.trace", dir);

	cr_assert_eq(check(&r, path, NULL), 2, "%s", r.err);
	ls_assert_one_line(&r, path);
	ls_run_free(&r);
	free(path);
}

/* ---- a FAIL line as telling as the report's headline, for every kind ---- */

/* `check --fail-on kind` of fixture [arg] run under the shim: exit 1 and
 * one FAIL line, holding each of want (NULL-terminated), "(pid " and a
 * location, never "unknown". */
static void assert_fail_line(const char *fixture, const char *arg, const char *kind,
			     const char *const *want)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	ls_run_fixture_arg(&r, fixture, dir, true, NULL, arg);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	const char *const args[] = {"--fail-on", kind, NULL};
	char *lead = ls_fmt("FAIL %s ", kind);

	cr_assert_eq(check(&r, trace, args), 1, "%s %s:\n%s%s", fixture, kind, r.out, r.err);
	/* The line of want[0] among the kind's lines (findings of one kind
	 * and one weight come in no set order). */
	const char *line = strstr(r.out, lead);
	cr_assert(line, "no %s line:\n%s", lead, r.out);
	for (const char *l = line; l != NULL; l = strstr(l + 1, lead)) {
		if (strstr(l, want[0]) == l || (strstr(l, want[0]) != NULL &&
						 strstr(l, want[0]) < l + strcspn(l, "\n"))) {
			line = l;
			break;
		}
	}
	char *one = strndup(line, strcspn(line, "\n"));
	for (size_t i = 0; want[i]; i++)
		cr_assert(strstr(one, want[i]), "%s: no \"%s\" in\n%s", fixture, want[i], one);
	cr_assert(strstr(one, " (pid "), "%s", one);
	cr_assert(strstr(one, " at "), "a location: %s", one);
	cr_assert(strstr(one, " at ") > strstr(one, " (pid "), "the first \" at \" starts the "
		  "location: %s", one);
	cr_assert_null(strstr(one, "unknown"), "%s", one);
	free(one);
	free(lead);
	free(trace);
	ls_run_free(&r);
}

Test(check, blocking_call_line_names_the_blocking_function_its_time_and_callback)
{
	const char *const want[] = {"FAIL blocking-call usleep 2", " ms in on_timer (pid ",
				    "called at on_timer uv_blocking.c:", NULL};
	assert_fail_line("uv_blocking", NULL, "blocking-call", want);
}

Test(check, slow_loop_iteration_line_says_a_loop_iteration_and_how_long)
{
	const char *const want[] = {"FAIL slow-callback a loop iteration took 3",
				    " ms (2 times over 100 ms, ", "called at run epoll_loop.c:", NULL};
	assert_fail_line("epoll_loop", "spin", "slow-callback", want);
}

Test(check, slow_selector_line_says_how_late_its_timeout_and_how_long)
{
	const char *const want[] = {"FAIL slow-selector epoll_wait came back ",
				    " ms late (timeout 10 ms, took ", NULL};
	assert_fail_line("epoll_loop", "starve", "slow-selector", want);
}

Test(check, handle_lines_say_where_the_handle_was_left_open)
{
	const char *const pending[] = {
		"FAIL pending-at-close idle handle still open when uv_loop_close ran (callback on_poll) "
		"(pid ",
		NULL};
	const char *const unclosed[] = {"FAIL unclosed-handle timer handle never closed (still "
					"open when the process exited) (callback on_retry) (pid ",
					"created at start_retry leftover.c:", NULL};
	const char *const request[] = {"FAIL pending-at-close uv_queue_work request still pending "
				       "when the process exited (callback do_flush)", NULL};

	assert_fail_line("open_handle", NULL, "pending-at-close", pending);
	assert_fail_line("leftover", NULL, "unclosed-handle", unclosed);
	assert_fail_line("leftover", NULL, "pending-at-close", request);
}

Test(check, other_kinds_lines_match_their_report_headlines)
{
	const char *const lost[] = {"FAIL lost-wakeup 1 uv_async_send to on_done never answered "
				    "(the handle was closed first) (pid ", NULL};
	const char *const dropped[] = {"FAIL dropped-error EPIPE of uv_write went to nobody "
				       "(no callback) (pid ", NULL};
	const char *const crash[] = {"FAIL crash-in-callback SIGSEGV in on_tick (address 0x0) (pid ",
				     NULL};
	const char *const misuse[] = {"FAIL handle-misuse uv_timer_start started a handle that "
				      "is closing or closed (pid ", NULL};
	const char *const wrong[] = {"FAIL wrong-thread uv_timer_start from thread ",
				     "called at schedule_reminder wrong_thread.c:", NULL};

	assert_fail_line("lost_wakeup", NULL, "lost-wakeup", lost);
	assert_fail_line("dropped_write", NULL, "dropped-error", dropped);
	assert_fail_line("crash", NULL, "crash-in-callback", crash);
	assert_fail_line("misuse", NULL, "handle-misuse", misuse);
	assert_fail_line("wrong_thread", NULL, "wrong-thread", wrong);
}

Test(check, slow_ms_out_of_range_states_the_limit)
{
	char *trace = trace_of("slow_timer");
	struct ls_run r;
	const char *const big[] = {"--slow-ms", "4000000", NULL};

	cr_assert_eq(check(&r, trace, big), 2, "%s", r.err);
	ls_assert_one_line(&r, "at most 3600000");
	ls_run_free(&r);
	free(trace);
}

/* ---- one bad trace among several ---- */

/* dir holding slow_timer's trace and a corrupt loopsan.1.trace. */
static const char *dir_with_a_bad_trace(char **bad)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture(&r, "slow_timer", dir, NULL);
	ls_run_free(&r);
	*bad = ls_fmt("%s/loopsan.1.trace", dir);
	FILE *f = fopen(*bad, "w");
	cr_assert(f);
	fputs("not a trace at all, but long enough to have a header's size......\n", f);
	fclose(f);
	return dir;
}

Test(check, bad_trace_in_a_directory_judges_the_others_then_exits_2)
{
	char *bad;
	const char *dir = dir_with_a_bad_trace(&bad);
	struct ls_run r;

	cr_assert_eq(check(&r, dir, NULL), 2, "%s%s", r.out, r.err);
	ls_assert_one_line(&r, bad);
	cr_assert_eq(count_lines_starting(r.out, "FAIL slow-callback "), 2, "%s", r.out);
	cr_assert(strstr(r.out, "loopsan check: FAIL (2 findings"), "%s", r.out);
	ls_run_free(&r);

	const char *rep[] = {"report", dir, NULL};
	ls_run_viewer(&r, NULL, rep);
	cr_assert_eq(ls_exit_code(&r), 2, "%s", r.err);
	ls_assert_one_line(&r, bad);
	cr_assert(strstr(r.out, "slow-callback: on_slow_once took "), "%s", r.out);
	ls_run_free(&r);
	free(bad);
}

/* stats and export go on past a bad trace like report and check. */
Test(check, stats_and_export_count_the_others_past_a_bad_trace_then_exit_2)
{
	char *bad;
	const char *dir = dir_with_a_bad_trace(&bad);
	struct ls_run r;

	const char *stats[] = {"stats", "--format", "json", dir, NULL};
	ls_run_viewer(&r, NULL, stats);
	cr_assert_eq(ls_exit_code(&r), 2, "%s%s", r.out, r.err);
	ls_assert_one_line(&r, bad);
	cr_assert(strstr(r.out, "on_slow_once"), "slow_timer's sites are counted:\n%s", r.out);
	ls_run_free(&r);

	char *json = ls_fmt("%s/out.json", ls_tmpdir());
	const char *exp[] = {"export", "--format", "chrome", "-o", json, dir, NULL};
	ls_run_viewer(&r, NULL, exp);
	cr_assert_eq(ls_exit_code(&r), 2, "%s%s", r.out, r.err);
	char *named = ls_fmt("loopsan: %s: not a loopsan trace", bad);
	cr_assert(strncmp(r.err, named, strlen(named)) == 0, "%s", r.err); /* then summary mode's note */
	free(named);
	size_t len;
	char *text = ls_read_file(json, &len);
	cr_assert(text && strstr(text, "on_slow_once"), "slow_timer is exported:\n%s", text);
	free(text);
	free(json);
	ls_run_free(&r);
	free(bad);
}

Test(check, missing_path_among_several_reports_the_others_then_exits_2)
{
	char *trace = trace_of("slow_timer");
	char *missing = ls_fmt("%s/loopsan.2.trace", ls_tmpdir());
	struct ls_run r;
	const char *rep[] = {"report", "--format", "json", missing, trace, NULL};

	ls_run_viewer(&r, NULL, rep);
	cr_assert_eq(ls_exit_code(&r), 2, "%s", r.err);
	ls_assert_one_line(&r, missing);
	json_t *doc = ls_parse_report(&r);
	cr_assert_eq(ls_count(doc, "slow-callback", NULL), 2);
	json_decref(doc);
	ls_run_free(&r);
	free(missing);
	free(trace);
}
