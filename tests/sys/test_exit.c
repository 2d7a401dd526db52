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
