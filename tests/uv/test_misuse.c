/* lost-wakeup and handle-misuse, each with a fixture that has the bug in
 * plain sight and a twin without it. */
#include "tests/harness.h"

LS_SUITE(misuse);

Test(misuse, async_send_answered_by_no_callback_is_a_lost_wakeup)
{
	json_t *rep = ls_fixture_report("lost_wakeup", NULL, NULL, NULL);
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
	json_t *rep = ls_fixture_report("lost_wakeup", "fixed", NULL, NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

/* The loop thread ends its loop (uv_stop) while a worker still sends, then
 * runs the rest of its queue itself and closes the handle: libisc. The
 * spin in the callback may take a while on a busy machine. */
Test(misuse, async_send_to_a_running_loop_its_thread_ends_and_drains_is_fine)
{
	json_t *rep = ls_fixture_report("lost_wakeup_drained", NULL, "slow_callback_ms=60000",
					NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

/* BIND 9.18's shutdown: the callback closes its own handle, then sends to
 * it again, other threads too, and the thread drains after uv_run. */
Test(misuse, async_send_to_a_handle_its_loop_thread_closed_from_the_callback_is_fine)
{
	json_t *rep = ls_fixture_report("lost_wakeup_drained", "close", "slow_callback_ms=60000",
					NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

Test(misuse, async_send_after_the_loop_ended_and_no_run_before_close_is_a_lost_wakeup)
{
	json_t *rep = ls_fixture_report("lost_wakeup_late", NULL, NULL, NULL);
	json_t *f = ls_only_finding(rep, "lost-wakeup", "on_done");

	cr_assert_str_eq(ls_str(f, "lost_at"), "close");
	ls_assert_frame(f, "called_at", 0, "late_worker", "lost_wakeup_late.c",
			ls_marker_line("lost_wakeup_late", "late_send"));
	ls_assert_frame(f, "created_at", 0, "main", "lost_wakeup_late.c",
			ls_marker_line("lost_wakeup_late", "async_init"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 1);
	json_decref(rep);
}

Test(misuse, async_send_after_the_loop_ended_answered_by_a_later_run_is_fine)
{
	json_t *rep = ls_fixture_report("lost_wakeup_late", "fixed", NULL, NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

Test(misuse, restarting_a_closing_timer_is_a_handle_misuse)
{
	json_t *rep = ls_fixture_report("misuse", NULL, NULL, NULL);
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
	json_t *rep = ls_fixture_report("misuse", "double", NULL, &status);

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
	json_t *rep = ls_fixture_report("misuse", "fixed", NULL, NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}
