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
