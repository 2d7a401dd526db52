/* At process exit: handles never closed are unclosed-handle findings and
 * requests still pending are pending-at-close, each with its creation site;
 * a tidy twin has none. */
#include "tests/harness.h"

LS_SUITE(exit);

Test(exit, handle_never_closed_is_an_unclosed_handle_with_its_init_site)
{
	json_t *rep = ls_fixture_report("leftover", NULL, NULL, NULL);
	json_t *f = ls_only_finding(rep, "unclosed-handle", "on_retry");

	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_init");
	cr_assert_str_eq(ls_str(f, "handle"), "timer");
	cr_assert(ls_bool(f, "at_exit"));
	ls_assert_frame(f, "created_at", 0, "start_retry", "leftover.c",
			ls_marker_line("leftover", "retry_init"));
	json_decref(rep);
}

Test(exit, request_still_running_at_exit_is_pending_at_close)
{
	json_t *rep = ls_fixture_report("leftover", NULL, NULL, NULL);
	json_t *f = ls_only_finding(rep, "pending-at-close", "do_flush");

	cr_assert_str_eq(ls_str(f, "api"), "uv_queue_work");
	cr_assert_str_eq(ls_str(f, "handle"), "request");
	cr_assert(ls_bool(f, "at_exit"));
	ls_assert_frame(f, "created_at", 0, "start_flush", "leftover.c",
			ls_marker_line("leftover", "flush_queue"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 2);
	json_decref(rep);
}

Test(exit, tidy_program_leaves_nothing_at_exit)
{
	json_t *rep = ls_fixture_report("leftover", "tidy", NULL, NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

Test(exit, handles_reported_at_loop_close_are_not_reported_again_at_exit)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "open_handle", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_gt(ls_count(rep, "pending-at-close", NULL), 0);
	cr_assert_eq(ls_count(rep, "unclosed-handle", NULL), 0);
	json_decref(rep);
	free(trace);
}

/* exit() from a SIGTERM handler that interrupted the loop thread inside the
 * shim (holding its table lock, say): the shim's at-exit work never waits
 * for it. 30 runs, the signal landing at a different moment of the loop's
 * churn each time: each exits 0 (a hang is killed by SIGALRM after 3 s),
 * with a complete trace. */
Test(exit, exit_from_a_signal_handler_never_hangs_in_the_shim)
{
	const char *top = ls_tmpdir();
	for (int i = 0; i < 30; i++) {
		char *dir = ls_fmt("%s/run%d", top, i);
		cr_assert(mkdir(dir, 0700) == 0, "%s: %s", dir, strerror(errno));
		char arg[16];
		snprintf(arg, sizeof(arg), "%d", 10000 + 997 * i);
		struct ls_run r;
		ls_run_fixture_arg(&r, "exit_in_handler", dir, true, NULL, arg);
		cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
			  "run %d (signal after %s us): %s %d\n%s", i, arg,
			  WIFSIGNALED(r.status) ? "killed by signal" : "exit",
			  WIFSIGNALED(r.status) ? WTERMSIG(r.status) : WEXITSTATUS(r.status), r.err);
		ls_run_free(&r);
		char *trace = ls_single_trace(dir);
		json_t *rep = ls_report_json(trace);
		cr_assert(ls_bool(ls_process(rep), "complete"), "run %d: trace not complete", i);
		json_decref(rep);
		free(trace);
		free(dir);
	}
}

/* _exit runs no destructor, yet every record is in: the trace is complete,
 * and says the exit-time checks did not run. */
Test(exit, a_process_that_ends_with__exit_leaves_a_complete_trace_that_says_so)
{
	int status;
	struct ls_run r;
	json_t *rep = ls_fixture_report("leftover", "quick", NULL, &status);
	json_t *proc = ls_process(rep);

	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3, "status %#x", status);
	cr_assert(ls_bool(proc, "complete"), "an _exit is no killed process");
	cr_assert(ls_bool(proc, "quick_exit"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "the exit-time checks did not run");
	const char *trace = ls_str(proc, "trace");
	const char *args[] = { "report", trace, NULL };
	ls_run_viewer(&r, NULL, args);
	cr_assert(strstr(r.out, "the process ended with _exit: handles left open at exit were "
			 "not checked"), "%s", r.out);
	cr_assert_null(strstr(r.out, "did not exit cleanly"), "%s", r.out);
	ls_run_free(&r);
	json_decref(rep);
}

/* A vfork child shares the parent's memory, trace header included, and a
 * fork child has the header mapped until it makes a trace of its own: their
 * _exit is not the parent's. */
Test(exit, a_child_s__exit_leaves_the_parent_s_trace_alone)
{
	json_t *rep = ls_fixture_report("leftover", "children", NULL, NULL);
	json_t *proc = ls_process(rep);

	cr_assert_null(json_object_get(proc, "quick_exit"), "%s",
		       json_dumps(proc, JSON_COMPACT));
	cr_assert_eq(ls_count(rep, NULL, NULL), 2, "the parent's exit-time checks ran");
	json_decref(rep);
}
