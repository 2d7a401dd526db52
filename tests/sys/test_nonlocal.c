/* Signals and non-local exits (issue 8): a SA_ONSTACK handler calling
 * uv_async_send while callbacks run, a stack overflow in a callback caught
 * on the program's alternate signal stack, longjmp out of a callback (and
 * out of uv_run) back into the program, pthread_cancel of a thread inside a
 * callback of its own loop. No deadlock, the program ends as it does
 * without the shim, later callbacks are counted, and no finding is made up
 * from the shim's state of before the jump (a stale "current callback" or
 * "thread running this loop").
 */
#include "tests/harness.h"

LS_SUITE(nonlocal);

/* Runs rel_nonlocal MODE without and with the shim in fresh dirs; the two
 * must end the same way with the same stdout. Returns the traced run (the
 * caller frees it) and its trace path in *trace. */
static void run_both(const char *mode, struct ls_run *traced, char **trace)
{
	const char *plain_dir = ls_tmpdir(), *dir = ls_tmpdir();
	struct ls_run plain;

	ls_run_fixture_arg(&plain, "rel_nonlocal", plain_dir, false, NULL, mode);
	ls_run_fixture_arg(traced, "rel_nonlocal", dir, true, NULL, mode);
	cr_assert_eq(traced->status, plain.status, "%s: wait status 0x%x with the shim, 0x%x without",
		     mode, traced->status, plain.status);
	if (strcmp(mode, "signals") != 0) /* how many signals land varies */
		cr_assert_str_eq(traced->out, plain.out, "%s: stdout changed under the shim", mode);
	ls_run_free(&plain);
	*trace = ls_single_trace(dir);
}

static long long count_of(json_t *stats, const char *callback)
{
	return ls_int(ls_stats_site(stats, callback), "count");
}

static void assert_no_site(json_t *stats, const char *callback)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(stats, "sites"), i, s)
		cr_assert_str_neq(ls_str(s, "callback"), callback, "%s never returned, yet counted",
				  callback);
}

Test(nonlocal, sa_onstack_handler_sending_to_the_loop_while_callbacks_run)
{
	struct ls_run r;
	char *trace;
	long ticks, wakeups, signals;

	run_both("signals", &r, &trace);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(sscanf(r.out, "ticks %ld wakeups %ld signals %ld", &ticks, &wakeups, &signals), 3,
		     "%s", r.out);
	cr_assert_geq(signals, 5, "the handler ran during the run");
	cr_assert_eq(r.err_len, 0, "nothing on stderr:\n%s", r.err);
	json_t *st = ls_stats_json(trace);
	cr_assert_eq(count_of(st, "on_tick"), ticks);
	cr_assert_eq(count_of(st, "on_wake"), wakeups);
	json_decref(st);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "no findings:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	cr_assert(ls_bool(ls_process(rep), "complete"));
	json_decref(rep);
	ls_run_free(&r);
	free(trace);
}

Test(nonlocal, stack_overflow_in_a_callback_is_recorded_on_the_alternate_stack)
{
	struct ls_run r;
	char *trace;

	run_both("overflow", &r, &trace);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV, "status 0x%x", r.status);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "crash-in-callback", "on_recurse");
	cr_assert_str_eq(ls_str(f, "signal"), "SIGSEGV");
	ls_assert_frame(f, "created_at", 0, "run_overflow", "rel_nonlocal.c",
			ls_marker_line("rel_nonlocal", "recurse_start"));
	cr_assert(ls_bool(ls_process(rep), "complete"), "the crash handler finished the trace");
	json_decref(rep);
	ls_run_free(&r);
	free(trace);
}

/* on_escape longjmp()s out of uv_run into main, which runs the loop on,
 * hands it to another thread, and at last raises SIGSEGV outside any
 * callback. */
Test(nonlocal, longjmp_out_of_a_callback_later_callbacks_counted_nothing_misattributed)
{
	struct ls_run r;
	char *trace;

	run_both("longjmp", &r, &trace);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV, "status 0x%x", r.status);
	cr_assert_str_eq(r.out, "escaped\nafter 5 other 1\n");
	json_t *st = ls_stats_json(trace);
	cr_assert_eq(count_of(st, "on_after"), 5);
	cr_assert_eq(count_of(st, "on_slow_after"), 1);
	cr_assert_eq(count_of(st, "on_other"), 1);
	assert_no_site(st, "on_escape");
	json_decref(st);

	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow_after");
	ls_assert_frame(f, "created_at", 0, "run_longjmp", "rel_nonlocal.c",
			ls_marker_line("rel_nonlocal", "slow_after_start"));
	/* The SIGSEGV came from main, not from on_escape, which was left long
	 * before. */
	cr_assert_eq(ls_count(rep, "crash-in-callback", NULL), 0,
		     "a crash outside callbacks attributed to one:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	/* main left uv_run by longjmp and ran it again: after that it no
	 * longer runs the loop, so the thread it hands the loop to is fine. */
	cr_assert_eq(ls_count(rep, "wrong-thread", NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	cr_assert_eq(ls_count(rep, NULL, NULL), 1, "only the slow callback:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);
	ls_run_free(&r);
	free(trace);
}

/* A thread blocked in read() inside on_work_tick is cancelled (or calls
 * pthread_exit there); main then closes that thread's loop and runs one of
 * its own. */
static void thread_dies_in_a_callback(const char *mode, const char *out)
{
	struct ls_run r;
	char *trace;

	run_both(mode, &r, &trace);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_str_eq(r.out, out);
	cr_assert_eq(r.err_len, 0, "nothing on stderr:\n%s", r.err);
	json_t *st = ls_stats_json(trace);
	cr_assert_eq(count_of(st, "on_work_tick"), 19, "the cancelled run is not counted");
	cr_assert_eq(count_of(st, "on_main_tick"), 10);
	json_decref(st);
	/* The cancelled thread no longer runs its loop: main closing it is not
	 * a wrong-thread call. */
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "no findings:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);
	ls_run_free(&r);
	free(trace);
}

Test(nonlocal, pthread_cancel_inside_a_callback_no_deadlock_nothing_made_up)
{
	thread_dies_in_a_callback("cancel", "cancelled 1 work ticks 19 main ticks 10 close 0\n");
}

Test(nonlocal, pthread_exit_inside_a_callback_no_deadlock_nothing_made_up)
{
	thread_dies_in_a_callback("thread-exit", "cancelled 0 work ticks 19 main ticks 10 close 0\n");
}
