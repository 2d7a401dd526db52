/* LOOPSAN_OPTIONS: ':'-separated key=value pairs; a bad key or value is named
 * once on stderr and the program still runs with the defaults. */
#include "tests/harness.h"

LS_SUITE(options);

Test(options, unknown_key_is_named_once_on_stderr_and_the_program_still_runs)
{
	struct ls_run bare, r;
	const char *d1 = ls_tmpdir(), *d2 = ls_tmpdir();

	ls_run_fixture_ex(&bare, "transparent", d1, false, NULL);
	ls_run_fixture(&r, "transparent", d2, "bogus_key=1");
	cr_assert_eq(ls_exit_code(&r), 3);
	ls_assert_one_line(&r, "bogus_key");
	cr_assert_str_eq(r.out, bare.out, "stdout changed");
	cr_assert_eq(ls_count_traces(d2), 1, "the program is still traced");
	ls_run_free(&bare);
	ls_run_free(&r);
}

Test(options, bad_value_is_named_on_stderr_and_the_default_threshold_is_used)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_timer", dir, "slow_callback_ms=soon");
	cr_assert_eq(ls_exit_code(&r), 0);
	/* stderr: the line about the option, then the shim's summary line. */
	char *first = strndup(r.err, strcspn(r.err, "\n"));
	cr_assert(strstr(first, "slow_callback_ms"), "bad value not named first:\n%s", r.err);
	free(first);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow_once");
	cr_assert_eq(ls_num(f, "threshold_ms"), 100.0, "default threshold");
	json_decref(rep);
	free(trace);
}

Test(options, high_slow_callback_ms_suppresses_the_150ms_finding)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_timer", dir, "slow_callback_ms=1000");
	cr_assert_eq(ls_exit_code(&r), 0);
	cr_assert_eq(r.err_len, 0, "no findings, so nothing on stderr:\n%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 0,
		     "150 ms is under a 1000 ms threshold:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);
	free(trace);
}

Test(options, low_slow_callback_ms_is_the_reported_threshold)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_work", dir, "slow_callback_ms=50");
	cr_assert_eq(ls_exit_code(&r), 0);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "after_slow");
	cr_assert_eq(ls_num(f, "threshold_ms"), 50.0);
	json_decref(rep);
	free(trace);
}

Test(options, dir_option_puts_the_trace_there_not_in_the_working_directory)
{
	struct ls_run r;
	const char *cwd = ls_tmpdir(), *out = ls_tmpdir();
	char *opt = ls_fmt("dir=%s:slow_callback_ms=100", out);

	ls_run_fixture(&r, "slow_work", cwd, opt);
	cr_assert_eq(ls_exit_code(&r), 0);
	cr_assert_eq(ls_count_traces(cwd), 0, "trace written to the working directory");
	char *trace = ls_single_trace(out);
	json_t *rep = ls_report_json(trace);
	ls_only_finding(rep, "slow-callback", "after_slow");
	json_decref(rep);
	ls_run_free(&r);
	free(trace);
	free(opt);
}

Test(options, stack_cache_off_gives_the_same_creation_sites)
{
	const char *modes[] = {"stack_cache=1", "stack_cache=0"};
	int lines[2];

	for (int m = 0; m < 2; m++) {
		struct ls_run r;
		const char *dir = ls_tmpdir();
		ls_run_fixture(&r, "slow_timer", dir, modes[m]);
		cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
		cr_assert_null(strstr(r.err, "LOOPSAN_OPTIONS"), "%s accepted:\n%s", modes[m], r.err);
		ls_run_free(&r);
		char *trace = ls_single_trace(dir);
		json_t *rep = ls_report_json(trace);
		json_t *f = ls_only_finding(rep, "slow-callback", "on_tick");
		json_t *frame = json_array_get(json_object_get(f, "created_at"), 0);
		lines[m] = (int)ls_int(frame, "line");
		cr_assert_eq(lines[m], ls_marker_line("slow_timer", "tick_start"), "%s", modes[m]);
		json_decref(rep);
		free(trace);
	}
}
