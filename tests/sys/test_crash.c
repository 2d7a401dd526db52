/* crash-in-callback: a fatal signal inside a callback is recorded with the
 * callback and its creation site, and the program dies (or handles it)
 * exactly as without the shim. */
#include "tests/harness.h"

LS_SUITE(crash);

/* Runs `crash arg` with or without the shim in dir; its run. */
static void run_crash(struct ls_run *r, const char *dir, const char *arg, bool preload)
{
	ls_run_fixture_arg(r, "crash", dir, preload, NULL, arg);
}

Test(crash, segfault_in_a_callback_is_reported_and_the_process_dies_the_same)
{
	const char *dir = ls_tmpdir();
	struct ls_run plain, traced;

	run_crash(&plain, dir, NULL, false);
	run_crash(&traced, dir, NULL, true);
	cr_assert(WIFSIGNALED(plain.status) && WTERMSIG(plain.status) == SIGSEGV);
	cr_assert_eq(traced.status, plain.status, "same death with the shim");
	cr_assert_str_eq(traced.out, plain.out);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "crash-in-callback", "on_tick");
	cr_assert_str_eq(ls_str(f, "signal"), "SIGSEGV");
	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_start");
	cr_assert_str_eq(ls_str(f, "address"), "0x0");
	ls_assert_frame(f, "created_at", 0, "start_ticking", "crash.c",
			ls_marker_line("crash", "tick_start"));
	cr_assert(ls_bool(ls_process(rep), "complete"), "the shim finished the trace");
	json_decref(rep);
	free(trace);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

Test(crash, the_programs_own_handler_still_runs)
{
	const char *dir = ls_tmpdir();
	struct ls_run plain, traced;

	run_crash(&plain, dir, "handler", false);
	run_crash(&traced, dir, "handler", true);
	cr_assert_eq(ls_exit_code(&plain), 3);
	cr_assert_eq(ls_exit_code(&traced), 3);
	cr_assert_str_eq(traced.out, "caught SIGSEGV\n");
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, "crash-in-callback", "on_tick"), 1);
	json_decref(rep);
	free(trace);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

Test(crash, no_crash_no_finding)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_crash(&r, dir, "fixed", true);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
	free(trace);
}
