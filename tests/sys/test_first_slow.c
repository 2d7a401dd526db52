/* Issue 17, point 4: the simplest programs get their stuck_at. A
 * single-threaded program has no watchdog thread until its first slow run
 * (a second thread costs every cancellable system call of the program,
 * BENCHMARKS.md); its loop thread's CPU-time timer samples that first run.
 * And a hand-written epoll loop is timed from its first iteration.
 *
 * tests/sys/fixtures/first_slow.c: one slow timer callback on libuv's or
 * libevent's main loop, or a slow first iteration of an epoll loop, and a
 * quick twin; it prints how many threads it ended with. */
#include "tests/harness.h"

LS_SUITE(first_slow);

/* Runs first_slow MODE under the shim: its report; its stdout in *out. */
static json_t *first_slow(const char *mode, const char *options, char **out)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture_arg(&r, "first_slow", dir, true, options, mode);
	cr_assert_eq(ls_exit_code(&r), 0, "first_slow %s exited %d\n%s", mode, ls_exit_code(&r),
		     r.err);
	*out = strdup(r.out);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	free(trace);
	return rep;
}

/* Does stack `which` of f have a frame of function fn? */
static bool has_frame(json_t *f, const char *which, const char *fn)
{
	json_t *st = json_object_get(f, which), *fr;
	size_t i;
	json_array_foreach(st, i, fr) {
		const char *name = json_string_value(json_object_get(fr, "function"));
		if (name && !strcmp(name, fn))
			return true;
	}
	return false;
}

static void assert_stuck_computing(json_t *f, const char *caller)
{
	cr_assert_str_eq(ls_str(f, "stuck_how"), "running", "%s", json_dumps(f, JSON_INDENT(1)));
	/* Anywhere in its loop: a clock read, the sum, the compare. */
	cr_assert(has_frame(f, "stuck_at", "compute_300ms"), "no compute_300ms in stuck_at:\n%s",
		  json_dumps(f, JSON_INDENT(1)));
	cr_assert(has_frame(f, "stuck_at", caller), "no %s in stuck_at:\n%s", caller,
		  json_dumps(f, JSON_INDENT(1)));
}

Test(first_slow, one_slow_libuv_timer_on_the_main_thread_has_its_stuck_at)
{
	char *out;
	json_t *rep = first_slow("uv", NULL, &out);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_uv_timer");

	cr_assert_geq(ls_num(f, "max_ms"), 290.0);
	assert_stuck_computing(f, "on_uv_timer");
	cr_assert_eq(ls_count(rep, NULL, NULL), 1);
	cr_assert(strstr(out, "uv done: 0") != NULL, "%s", out);
	free(out);
	json_decref(rep);
}

Test(first_slow, one_slow_libevent_timer_on_the_main_thread_has_its_stuck_at)
{
	char *out;
	json_t *rep = first_slow("ev", NULL, &out);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_ev_timer");

	assert_stuck_computing(f, "on_ev_timer");
	cr_assert_eq(ls_count(rep, NULL, NULL), 1);
	free(out);
	json_decref(rep);
}

Test(first_slow, slow_first_iteration_of_an_epoll_loop_is_reported_stuck_where_it_runs)
{
	char *out;
	json_t *rep = first_slow("epoll", NULL, &out);
	json_t *f = ls_only_finding(rep, "slow-callback", NULL);

	cr_assert_str_eq(ls_str(f, "api"), "epoll_wait");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_geq(ls_num(f, "max_ms"), 290.0);
	ls_assert_frame(f, "called_at", 0, "run_fd_loop", "first_slow.c",
			ls_marker_line("first_slow", "epoll"));
	assert_stuck_computing(f, "run_fd_loop");
	cr_assert_eq(ls_count(rep, NULL, NULL), 1);
	free(out);
	json_decref(rep);
}

Test(first_slow, a_quick_program_gets_no_thread_of_the_shims_and_no_finding)
{
	char *out;
	json_t *rep = first_slow("quick", NULL, &out);

	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	cr_assert(strstr(out, "quick done: 0, threads: 1\n") != NULL, "%s", out);
	free(out);
	json_decref(rep);
}

Test(first_slow, watchdog_off_leaves_out_stuck_at_of_the_first_run)
{
	char *out;
	json_t *rep = first_slow("uv", "watchdog=0", &out);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_uv_timer");

	cr_assert_null(json_object_get(f, "stuck_at"));
	free(out);
	json_decref(rep);
}
