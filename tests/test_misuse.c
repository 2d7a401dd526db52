/* lost-wakeup and handle-misuse, each with a fixture that has the bug in
 * plain sight and a twin without it. */
#include "harness.h"

LS_SUITE(misuse);

/* Runs fixture [arg] under the shim; its report. *status gets the wait
 * status when not NULL (else the fixture must exit 0). */
static json_t *report_of(const char *fixture, const char *arg, int *status)
{
	const char *dir = ls_tmpdir();
	char *bin = ls_fixture_bin(fixture);
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	const char *env[] = {pre, NULL};
	const char *argv[] = {bin, arg, NULL};
	struct ls_run r;

	ls_run(&r, dir, env, argv);
	if (status)
		*status = r.status;
	else
		cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	free(bin);
	free(shim);
	free(pre);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	free(trace);
	return rep;
}

Test(misuse, async_send_answered_by_no_callback_is_a_lost_wakeup)
{
	json_t *rep = report_of("lost_wakeup", NULL, NULL);
	json_t *f = ls_only_finding(rep, "lost-wakeup", "on_done");

	cr_assert_str_eq(ls_str(f, "api"), "uv_async_send");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_str_eq(ls_str(f, "lost_at"), "close");
	ls_assert_frame(f, "created_at", 0, "main", "lost_wakeup.c",
			ls_marker_line("lost_wakeup", "async_init"));
	ls_assert_frame(f, "called_at", 0, "worker", "lost_wakeup.c",
			ls_marker_line("lost_wakeup", "send"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 1);
	json_decref(rep);
}

Test(misuse, async_send_answered_by_its_callback_is_fine)
{
	json_t *rep = report_of("lost_wakeup", "fixed", NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

Test(misuse, restarting_a_closing_timer_is_a_handle_misuse)
{
	json_t *rep = report_of("misuse", NULL, NULL);
	json_t *f = ls_only_finding(rep, "handle-misuse", NULL);

	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_start");
	cr_assert_str_eq(ls_str(f, "misuse"), "started a handle that is closing or closed");
	ls_assert_frame(f, "called_at", 0, "shut_down", "misuse.c",
			ls_marker_line("misuse", "restart"));
	ls_assert_frame(f, "created_at", 0, "main", "misuse.c",
			ls_marker_line("misuse", "timer_init"));
	json_decref(rep);
}

Test(misuse, closing_twice_is_recorded_before_libuv_aborts)
{
	int status;
	json_t *rep = report_of("misuse", "double", &status);

	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		  "libuv asserts on a double close, as without the shim (status %d)", status);
	json_t *f = ls_only_finding(rep, "handle-misuse", NULL);
	cr_assert_str_eq(ls_str(f, "api"), "uv_close");
	cr_assert_str_eq(ls_str(f, "misuse"), "closed a handle that is already closing");
	ls_assert_frame(f, "called_at", 0, "shut_down", "misuse.c",
			ls_marker_line("misuse", "double_close"));
	cr_assert_not(ls_bool(ls_process(rep), "complete"));
	json_decref(rep);
}

Test(misuse, a_tidy_life_cycle_is_fine)
{
	json_t *rep = report_of("misuse", "fixed", NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}
