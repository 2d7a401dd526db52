/* wrong-thread: a call on a running loop's handle from another thread is a
 * finding with the calling stack and both threads; uv_async_send and
 * running a loop on another thread than the one that set it up are not. */
#include "tests/harness.h"

LS_SUITE(wrong_thread);

static json_t *report_of(const char *arg, const char *options, struct ls_run *keep)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture_arg(&r, "wrong_thread", dir, true, options ? options : "", arg);
	if (keep)
		*keep = r;
	else {
		cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
		ls_run_free(&r);
	}
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	free(trace);
	return rep;
}

Test(wrong_thread, timer_started_from_another_thread_is_reported_with_both_threads)
{
	json_t *rep = report_of(NULL, NULL, NULL);
	json_t *f = ls_only_finding(rep, "wrong-thread", NULL);
	json_t *proc = ls_process(rep);
	long pid = ls_int(proc, "pid");

	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_start");
	cr_assert_eq(ls_int(f, "count"), 1);
	json_t *caller = json_object_get(f, "thread");
	json_t *loop = json_object_get(f, "loop_thread");
	cr_assert_str_eq(ls_str(caller, "name"), "worker");
	cr_assert_neq(ls_int(caller, "tid"), pid);
	cr_assert_eq(ls_int(loop, "tid"), pid, "the main thread runs the loop");
	ls_assert_frame(f, "called_at", 0, "schedule_reminder", "wrong_thread.c",
			ls_marker_line("wrong_thread", "wrong_call"));
	cr_assert_null(json_object_get(f, "created_at"));
	json_decref(rep);
}

/* The calling thread runs a loop of its own, and calls from inside it: it
 * is still not the thread that runs the timer's loop. */
Test(wrong_thread, a_thread_running_its_own_loop_is_still_the_wrong_thread_for_another)
{
	json_t *rep = report_of("fromloop", NULL, NULL);
	json_t *f = ls_only_finding(rep, "wrong-thread", NULL);
	long pid = ls_int(ls_process(rep), "pid");
	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_start");
	cr_assert_str_eq(ls_str(json_object_get(f, "thread"), "name"), "worker");
	cr_assert_eq(ls_int(json_object_get(f, "loop_thread"), "tid"), pid);
	ls_assert_frame(f, "called_at", 0, "schedule_reminder", "wrong_thread.c",
			ls_marker_line("wrong_thread", "wrong_call"));
	ls_assert_frame(f, "called_at", 1, "on_own_timer", "wrong_thread.c",
			ls_marker_line("wrong_thread", "own_loop_call"));
	json_decref(rep);
}

Test(wrong_thread, async_send_from_another_thread_is_fine)
{
	json_t *rep = report_of("fixed", NULL, NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

Test(wrong_thread, setting_a_loop_up_on_one_thread_and_running_it_on_another_is_fine)
{
	json_t *rep = report_of("handoff", NULL, NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

Test(wrong_thread, halt_on_wrong_thread_aborts_at_the_call_with_a_complete_trace)
{
	struct ls_run r;
	json_t *rep = report_of(NULL, "halt_on_wrong_thread=1", &r);

	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT,
		  "status %d\n%s", r.status, r.err);
	cr_assert(strstr(r.err, "wrong-thread: uv_timer_start called from thread"), "%s", r.err);
	cr_assert(strstr(r.err, "halt_on_wrong_thread=1"), "%s", r.err);
	cr_assert_null(strstr(r.out, "reminder"), "halted before the timer ran:\n%s", r.out);
	cr_assert(ls_bool(ls_process(rep), "complete"), "the shim finished the trace first");
	cr_assert_eq(ls_count(rep, "wrong-thread", NULL), 1);
	ls_run_free(&r);
	json_decref(rep);

	/* With log_path, the halting line goes there like the shim's others. */
	char *log = ls_fmt("%s/shim.log", ls_tmpdir());
	char *opt = ls_fmt("halt_on_wrong_thread=1:log_path=%s", log);
	rep = report_of(NULL, opt, &r);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT, "status %d", r.status);
	cr_assert_null(strstr(r.err, "halt_on_wrong_thread"), "%s", r.err);
	size_t len;
	char *text = ls_read_file(log, &len);
	cr_assert(strstr(text, "wrong-thread: uv_timer_start called from thread"), "%s", text);
	free(text);
	free(opt);
	free(log);
	ls_run_free(&r);
	json_decref(rep);
}
