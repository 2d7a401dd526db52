/* pending-at-close: every handle still open when uv_loop_close is called is
 * reported once, with the stack of its uv_*_init call. */
#include "tests/harness.h"

LS_SUITE(pending_at_close);

static json_t *open_handle_report(long *pid)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "open_handle", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "open_handle must still exit 0:\n%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	*pid = ls_trace_pid(trace);
	free(trace);
	return rep;
}

/* The pending-at-close finding whose api is init_api; exactly one. */
static json_t *pending(json_t *rep, const char *init_api)
{
	json_t *all = ls_findings(rep, "pending-at-close", NULL), *f, *hit = NULL;
	size_t i, n = 0;

	json_array_foreach(all, i, f) {
		if (!strcmp(ls_str(f, "api"), init_api)) {
			hit = f;
			n++;
		}
	}
	cr_assert_eq(n, 1, "expected one pending-at-close for %s, got %zu:\n%s", init_api, n,
		     json_dumps(all, JSON_INDENT(1)));
	json_decref(all);
	return hit;
}

Test(pending_at_close, unclosed_timer_is_reported_with_its_init_site)
{
	long pid;
	json_t *rep = open_handle_report(&pid);
	json_t *f = pending(rep, "uv_timer_init");

	cr_assert_str_eq(ls_str(f, "handle"), "timer");
	cr_assert_eq(ls_int(f, "pid"), pid);
	ls_assert_thread(f, pid, "open_handle");
	cr_assert_not(ls_bool(f, "closing"));
	cr_assert_null(json_object_get(f, "callback"), "the heartbeat timer was never started");
	ls_assert_frame(f, "created_at", 0, "init_heartbeat", "open_handle.c",
			ls_marker_line("open_handle", "heartbeat_init"));
	json_decref(rep);
}

Test(pending_at_close, unclosed_active_idle_is_reported_with_its_callback)
{
	long pid;
	json_t *rep = open_handle_report(&pid);
	json_t *f = pending(rep, "uv_idle_init");

	cr_assert_str_eq(ls_str(f, "handle"), "idle");
	cr_assert_str_eq(ls_str(f, "callback"), "on_poll");
	cr_assert_not(ls_bool(f, "closing"));
	ls_assert_frame(f, "created_at", 0, "start_poller", "open_handle.c",
			ls_marker_line("open_handle", "poller_init"));
	json_decref(rep);
}

Test(pending_at_close, handle_whose_close_never_finished_is_reported_as_closing)
{
	long pid;
	json_t *rep = open_handle_report(&pid);
	json_t *f = pending(rep, "uv_prepare_init");

	cr_assert_str_eq(ls_str(f, "handle"), "prepare");
	cr_assert(ls_bool(f, "closing"), "uv_close was called on the flusher");
	ls_assert_frame(f, "created_at", 0, "start_flusher", "open_handle.c",
			ls_marker_line("open_handle", "flusher_init"));
	json_decref(rep);
}

Test(pending_at_close, closed_handles_are_not_reported)
{
	long pid;
	json_t *rep = open_handle_report(&pid);
	json_t *all = ls_findings(rep, "pending-at-close", NULL), *f;
	int tidy = ls_marker_line("open_handle", "tidy_init");
	size_t i;

	cr_assert_eq(json_array_size(all), 3, "heartbeat, poller and flusher only:\n%s",
		     json_dumps(all, JSON_INDENT(1)));
	json_array_foreach(all, i, f) {
		json_t *fr = json_array_get(json_object_get(f, "created_at"), 0);
		cr_assert_neq(json_integer_value(json_object_get(fr, "line")), tidy,
			      "the tidy timer was closed");
	}
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 0);
	json_decref(all);
	json_decref(rep);
}

Test(pending_at_close, loop_closed_cleanly_reports_nothing_pending)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_work", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, "pending-at-close", NULL), 0);
	json_decref(rep);
	free(trace);
}

Test(pending_at_close, handles_left_open_alike_are_one_finding_with_a_count)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "many_open", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.out, "loop close: EBUSY"), "%s", r.out);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "pending-at-close", NULL);
	cr_assert_eq(ls_int(f, "count"), 5);
	cr_assert_str_eq(ls_str(f, "handle"), "tcp");
	cr_assert_str_eq(ls_str(f, "api"), "uv_tcp_init");
	ls_assert_frame(f, "created_at", 0, "open_clients", "many_open.c",
			ls_marker_line("many_open", "client_init"));
	cr_assert_eq(ls_count(rep, "unclosed-handle", NULL), 0, "reported once, at the close");
	json_decref(rep);
	free(trace);
}
