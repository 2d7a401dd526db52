/* slow-callback: a callback that runs longer than slow_callback_ms (100 ms by
 * default) on a loop thread is reported once per (callback site, thread),
 * with its creation site; fast callbacks and pool-thread work are not. */
#include "tests/harness.h"

LS_SUITE(slow_callback);

/* Runs fixture under the shim in a fresh dir, expects exit status 0 and
 * returns its report; *pid is the traced process's pid. */
static json_t *report_of(const char *fixture, const char *options, long *pid)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, fixture, dir, options);
	cr_assert_eq(ls_exit_code(&r), 0, "%s exited %d\nstderr:\n%s", fixture,
		     ls_exit_code(&r), r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *report = ls_report_json(trace);
	json_t *proc = ls_process(report);
	*pid = ls_trace_pid(trace);
	cr_assert_eq(ls_int(proc, "pid"), *pid, "processes[0].pid vs trace name");
	cr_assert(ls_bool(proc, "complete"), "a clean exit leaves a complete trace");
	cr_assert_str_eq(ls_basename(ls_str(proc, "exe")), fixture);
	free(trace);
	return report;
}

Test(slow_callback, slow_timer_is_reported_with_creation_site)
{
	long pid;
	json_t *rep = report_of("slow_timer", NULL, &pid);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow_once");

	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_start");
	cr_assert_eq(ls_int(f, "pid"), pid);
	ls_assert_thread(f, pid, "slow_timer");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_geq(ls_num(f, "max_ms"), 149.5, "usleep(150 ms) took %f ms?", ls_num(f, "max_ms"));
	cr_assert_lt(ls_num(f, "max_ms"), 5000.0);
	cr_assert_geq(ls_num(f, "total_ms"), ls_num(f, "max_ms") - 0.01);
	cr_assert_eq(ls_num(f, "threshold_ms"), 100.0);
	ls_assert_frame(f, "created_at", 0, "start_slow_once", "slow_timer.c",
			ls_marker_line("slow_timer", "slow_once_start"));
	ls_assert_frame(f, "created_at", 1, "main", "slow_timer.c",
			ls_marker_line("slow_timer", "call_start_slow_once"));
	json_decref(rep);
}

Test(slow_callback, repeating_timer_slow_runs_are_counted_against_one_start)
{
	long pid;
	json_t *rep = report_of("slow_timer", NULL, &pid);
	/* libuv restarts a repeating timer itself after each run; those restarts
	 * must not split the site, so exactly one finding counts all 3 slow runs. */
	json_t *f = ls_only_finding(rep, "slow-callback", "on_tick");

	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_start");
	ls_assert_thread(f, pid, "slow_timer");
	cr_assert_eq(ls_int(f, "count"), 3, "3 of on_tick's 8 runs are slow");
	cr_assert_geq(ls_num(f, "max_ms"), 149.5);
	cr_assert_geq(ls_num(f, "total_ms"), 3 * 149.5);
	cr_assert_lt(ls_num(f, "total_ms"), 3 * 5000.0);
	ls_assert_frame(f, "created_at", 0, "start_ticker", "slow_timer.c",
			ls_marker_line("slow_timer", "tick_start"));
	json_decref(rep);
}

Test(slow_callback, fast_callbacks_are_not_reported)
{
	long pid;
	json_t *rep = report_of("slow_timer", NULL, &pid);
	static const char *const fast[] = {"on_fast", "on_idle", "on_prepare", "on_check",
					   "on_closed"};

	for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++)
		cr_assert_eq(ls_count(rep, NULL, fast[i]), 0, "%s is fast but was reported",
			     fast[i]);
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 2,
		     "only on_slow_once and on_tick are slow:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	cr_assert_eq(ls_count(rep, "pending-at-close", NULL), 0, "every handle was closed");
	json_decref(rep);
}

Test(slow_callback, slow_after_work_callback_is_reported_but_slow_work_is_not)
{
	long pid;
	json_t *rep = report_of("slow_work", NULL, &pid);
	json_t *f = ls_only_finding(rep, "slow-callback", "after_slow");

	cr_assert_str_eq(ls_str(f, "api"), "uv_queue_work(after_work_cb)");
	ls_assert_thread(f, pid, "slow_work");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_geq(ls_num(f, "max_ms"), 149.5);
	ls_assert_frame(f, "created_at", 0, "queue_jobs", "slow_work.c",
			ls_marker_line("slow_work", "queue_slow"));
	/* work_sleepy blocks a pool thread for 200 ms: that is not a bug. */
	cr_assert_eq(ls_count(rep, NULL, "work_sleepy"), 0, "pool-thread work was reported");
	cr_assert_eq(ls_count(rep, NULL, "work_fast"), 0);
	cr_assert_eq(ls_count(rep, NULL, "after_fast"), 0);
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1);
	json_decref(rep);
}

Test(slow_callback, finding_names_the_loop_thread)
{
	long pid;
	json_t *rep = report_of("loop_thread", NULL, &pid);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow_tick");
	json_t *t = json_object_get(f, "thread");

	cr_assert_eq(ls_int(f, "pid"), pid);
	cr_assert(json_is_object(t), "finding has no thread");
	cr_assert_str_eq(ls_str(t, "name"), "worker-loop");
	cr_assert_neq(ls_int(t, "tid"), pid, "the loop ran on a thread, not the main one");
	cr_assert_gt(ls_int(t, "tid"), 0);
	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_start");
	cr_assert_eq(ls_int(f, "count"), 1);
	ls_assert_frame(f, "created_at", 0, "start_worker_timer", "loop_thread.c",
			ls_marker_line("loop_thread", "worker_timer_start"));
	json_decref(rep);
}

Test(slow_callback, slow_callback_before_sigkill_is_reported_from_incomplete_trace)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "killed", dir, NULL);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL,
		  "killed must die of SIGKILL, status 0x%x\nstderr:\n%s", r.status, r.err);
	ls_run_free(&r);

	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *proc = ls_process(rep);
	cr_assert_not(ls_bool(proc, "complete"), "a SIGKILLed process leaves an incomplete trace");
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_geq(ls_num(f, "max_ms"), 149.5);
	ls_assert_thread(f, ls_trace_pid(trace), "killed");
	ls_assert_frame(f, "created_at", 0, "start_timers", "killed.c",
			ls_marker_line("killed", "slow_start"));
	cr_assert_eq(ls_count(rep, NULL, "on_die"), 0, "on_die never returned");
	json_decref(rep);
	free(trace);
}

/* A timer re-armed from its own callbacks: with the callback and site it
 * already has (the shim writes nothing then, and takes no lock), from
 * another line, with another callback. Each run counts under the site that
 * armed it. */
Test(slow_callback, a_rearmed_timer_counts_each_run_under_the_site_that_armed_it)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	ls_run_fixture(&r, "rearm", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_str_eq(r.out, "a=3 b=50\n");
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *st = ls_stats_json(trace);
	const struct {
		const char *cb, *marker;
		long count;
	} want[] = {
		{ "on_a", "arm_main", 1 }, { "on_a", "a_again", 1 }, { "on_b", "a_to_b", 1 },
		{ "on_b", "b_again", 49 }, { "on_a", "b_to_a", 1 },
	};
	size_t nwant = sizeof(want) / sizeof(want[0]), i;
	long seen[sizeof(want) / sizeof(want[0])] = { 0 };
	json_t *s;
	json_array_foreach(json_object_get(st, "sites"), i, s) {
		if (strcmp(ls_str(s, "api"), "uv_timer_start") != 0)
			continue;
		long line = (long)ls_int(json_object_get(s, "registered_at"), "line");
		size_t k = 0;
		while (k < nwant && !(strcmp(ls_str(s, "callback"), want[k].cb) == 0 &&
				      line == ls_marker_line("rearm", want[k].marker)))
			k++;
		cr_assert_lt(k, nwant, "a site nobody armed: %s at line %ld", ls_str(s, "callback"),
			     line);
		seen[k] += (long)ls_int(s, "count");
	}
	for (size_t k = 0; k < nwant; k++)
		cr_assert_eq(seen[k], want[k].count, "%s armed at @%s ran %ld times, not %ld",
			     want[k].cb, want[k].marker, seen[k], want[k].count);
	json_decref(st);
	free(trace);
}

Test(slow_callback, the_same_slow_callback_on_three_loop_threads_is_one_finding_listing_them)
{
	json_t *rep = ls_fixture_report("three_loops", NULL, NULL, NULL);
	const char *kinds[] = {"slow-callback", "blocking-call"};
	for (size_t k = 0; k < 2; k++) {
		json_t *f = ls_only_finding(rep, kinds[k], NULL);
		json_t *threads = json_object_get(f, "threads");
		cr_assert_eq(json_array_size(threads), 3, "%s threads:\n%s", kinds[k],
			     json_dumps(f, JSON_INDENT(1)));
		json_t *first = json_array_get(threads, 0);
		cr_assert_eq(json_integer_value(json_object_get(first, "tid")),
			     json_integer_value(json_object_get(json_object_get(f, "thread"), "tid")));
		cr_assert_eq(ls_num(f, "count"), 3.0, "%s", json_dumps(f, JSON_INDENT(1)));
	}
	json_decref(rep);
}
