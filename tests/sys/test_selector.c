/* The selector layer (issue 5): loops seen only at their epoll/poll/select
 * calls, blocking calls on a loop thread, and where a slow callback was
 * stuck.
 *
 * tests/sys/fixtures/epoll_loop.c is a C program with its own epoll loop; each
 * mode has the bug in plain sight or is its twin without it. uv_blocking.c
 * makes blocking calls inside libuv callbacks. Real programs: Python's
 * asyncio on its default selector loop, and Node.js. */
#include <dirent.h>

#include "tests/harness.h"

LS_SUITE(selector);

#ifndef PYTHON
#define PYTHON "/usr/bin/python3"
#endif
#ifndef NODE
#define NODE "/usr/bin/node"
#endif

static json_t *epoll_report(const char *mode, const char *options)
{
	return ls_fixture_report("epoll_loop", mode, options, NULL);
}

/* Does stack `which` of f have a frame of function fn (line > 0: at that line)? */
static bool has_frame(json_t *f, const char *which, const char *fn, int line)
{
	json_t *st = json_object_get(f, which), *fr;
	size_t i;
	json_array_foreach(st, i, fr) {
		const char *name = json_string_value(json_object_get(fr, "function"));
		if (name && !strcmp(name, fn) &&
		    (line <= 0 || json_integer_value(json_object_get(fr, "line")) == line))
			return true;
	}
	return false;
}

static json_t *only_api(json_t *rep, const char *kind, const char *api)
{
	json_t *all = ls_findings(rep, kind, NULL), *f, *found = NULL;
	size_t i, n = 0;
	json_array_foreach(all, i, f) {
		if (!strcmp(ls_str(f, "api"), api)) {
			found = f;
			n++;
		}
	}
	cr_assert_eq(n, 1, "expected one %s finding with api %s, got %zu:\n%s", kind, api, n,
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(all);
	return found;
}

static void assert_no_findings(json_t *rep, const char *what)
{
	cr_assert_eq(json_array_size(json_object_get(rep, "findings")), 0,
		     "%s: expected no finding, got:\n%s", what,
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
}

/* ---- slow iterations -------------------------------------------------------- */

Test(selector, spinning_iteration_is_a_slow_callback_of_epoll_wait_stuck_where_it_runs)
{
	json_t *rep = epoll_report("spin", NULL);
	json_t *f = ls_only_finding(rep, "slow-callback", NULL);
	long pid = ls_int(ls_process(rep), "pid");

	cr_assert_str_eq(ls_str(f, "api"), "epoll_wait");
	cr_assert_geq(ls_num(f, "max_ms"), 290.0);
	cr_assert_eq(ls_int(f, "count"), 2);
	ls_assert_thread(f, pid, "epoll_loop");
	/* An iteration has no callback; its stack is where the loop polls. */
	cr_assert_null(json_object_get(f, "callback"));
	ls_assert_frame(f, "called_at", 0, "run", "epoll_loop.c", ls_marker_line("epoll_loop", "poll"));
	/* The watchdog signalled the running thread: stuck in spin_step. */
	cr_assert_str_eq(ls_str(f, "stuck_how"), "running");
	cr_assert(has_frame(f, "stuck_at", "spin_step", 0), "no spin_step in stuck_at:\n%s",
		  json_dumps(f, JSON_INDENT(1)));
	cr_assert_eq(ls_count(rep, "blocking-call", NULL), 0);
	json_decref(rep);
}

Test(selector, short_iterations_are_no_finding)
{
	json_t *rep = epoll_report("ok", NULL);
	assert_no_findings(rep, "30 short steps");
	json_decref(rep);
}

Test(selector, idle_loop_waiting_2s_in_epoll_wait_is_no_finding)
{
	json_t *rep = epoll_report("idle", NULL);
	assert_no_findings(rep, "an idle loop");
	json_decref(rep);
}

Test(selector, watchdog_off_leaves_out_stuck_at)
{
	json_t *rep = epoll_report("spin", "watchdog=0");
	json_t *f = ls_only_finding(rep, "slow-callback", NULL);
	cr_assert_null(json_object_get(f, "stuck_at"));
	json_decref(rep);
}

Test(selector, a_program_handling_the_sampling_signal_keeps_it_to_itself)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	ls_run_fixture_arg(&r, "epoll_loop", dir, true, NULL, "ownsig");
	cr_assert_eq(ls_exit_code(&r), 0);
	cr_assert_null(strstr(r.out, "own handler ran"), "the program's handler ran: %s", r.out);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", NULL);
	cr_assert_null(json_object_get(f, "stuck_at"), "sampled by a signal the program owns");
	json_decref(rep);
	free(trace);
}

/* ---- blocking calls ----------------------------------------------------------- */

Test(selector, usleep_in_an_iteration_is_a_blocking_call_and_the_stuck_place)
{
	json_t *rep = epoll_report("sleep", NULL);
	int line = ls_marker_line("epoll_loop", "sleep");
	json_t *b = ls_only_finding(rep, "blocking-call", NULL);

	cr_assert_str_eq(ls_str(b, "api"), "usleep");
	cr_assert_eq(ls_int(b, "count"), 1);
	cr_assert_geq(ls_num(b, "max_ms"), 290.0);
	ls_assert_frame(b, "called_at", 0, "sleep_step", "epoll_loop.c", line);

	json_t *s = ls_only_finding(rep, "slow-callback", NULL);
	cr_assert_str_eq(ls_str(s, "api"), "epoll_wait");
	/* Blocked in a system call: never signalled; the interposed usleep's
	 * own stack says where. */
	cr_assert_str_eq(ls_str(s, "stuck_how"), "in a blocking call");
	cr_assert(has_frame(s, "stuck_at", "sleep_step", line), "stuck_at:\n%s",
		  json_dumps(s, JSON_INDENT(1)));
	json_decref(rep);
}

Test(selector, blocking_read_of_a_pipe_is_a_blocking_call)
{
	json_t *rep = epoll_report("read", NULL);
	json_t *b = ls_only_finding(rep, "blocking-call", NULL);
	cr_assert_str_eq(ls_str(b, "api"), "read");
	cr_assert_geq(ls_num(b, "max_ms"), 50.0);
	ls_assert_frame(b, "called_at", 0, "read_step", "epoll_loop.c",
			ls_marker_line("epoll_loop", "read"));
	json_decref(rep);
}

Test(selector, non_blocking_read_is_no_blocking_call)
{
	json_t *rep = epoll_report("nbread", NULL);
	cr_assert_eq(ls_count(rep, "blocking-call", NULL), 0, "findings:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);
}

Test(selector, a_short_join_is_below_blocking_min_ms)
{
	json_t *rep = epoll_report("join", NULL);
	assert_no_findings(rep, "a 3 ms pthread_join in an iteration");
	json_decref(rep);
	rep = epoll_report("join", "blocking_min_ms=1");
	json_t *b = ls_only_finding(rep, "blocking-call", NULL);
	cr_assert_str_eq(ls_str(b, "api"), "pthread_join");
	ls_assert_frame(b, "called_at", 0, "join_step", "epoll_loop.c",
			ls_marker_line("epoll_loop", "join"));
	json_decref(rep);
}

Test(selector, sleeping_after_the_loop_ended_is_no_blocking_call)
{
	json_t *rep = epoll_report("after", NULL);
	assert_no_findings(rep, "usleep after the last epoll_wait");
	json_decref(rep);
}

Test(selector, select_as_a_timed_wait_is_no_loop)
{
	json_t *rep = ls_fixture_report("timed_select", NULL, NULL, NULL);
	assert_no_findings(rep, "select once per round, then join, read and waitpid");
	json_decref(rep);
}

Test(selector, blocking_after_uv_run_returned_is_no_finding)
{
	json_t *rep = ls_fixture_report("after_run", NULL, NULL, NULL);
	assert_no_findings(rep, "a 250 ms sleep and a waitpid after uv_run returned");
	json_decref(rep);
}

Test(selector, blocking_allow_names_the_function)
{
	json_t *rep = epoll_report("sleep", "blocking_allow=fsync,usleep");
	cr_assert_eq(ls_count(rep, "blocking-call", NULL), 0);
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1, "the slow iteration stays");
	json_decref(rep);
}

Test(selector, blocking_call_suppression_by_calling_function)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	ls_run_fixture_arg(&r, "epoll_loop", dir, true, NULL, "sleep");
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	char *supp = ls_fmt("%s/supp", dir);
	FILE *fp = fopen(supp, "w");
	cr_assert(fp);
	fputs("blocking-call:sleep_step\n", fp);
	fclose(fp);
	const char *args[] = {"report", "--format", "json", "--suppressions", supp, trace, NULL};
	ls_run_viewer(&r, NULL, args);
	json_t *rep = ls_parse_report(&r);
	cr_assert_eq(ls_count(rep, "blocking-call", NULL), 0);
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1);
	json_decref(rep);
	ls_run_free(&r);
	free(supp);
	free(trace);
}

Test(selector, blocking_calls_in_libuv_callbacks_name_the_callback_but_not_the_thread_pool)
{
	json_t *rep = ls_fixture_report("uv_blocking", NULL, NULL, NULL);
	json_t *u = only_api(rep, "blocking-call", "usleep");
	json_t *fs = only_api(rep, "blocking-call", "fsync");

	cr_assert_str_eq(ls_str(u, "callback"), "on_timer");
	ls_assert_frame(u, "called_at", 0, "on_timer", "uv_blocking.c",
			ls_marker_line("uv_blocking", "usleep"));
	ls_assert_frame(u, "created_at", 0, "main", "uv_blocking.c",
			ls_marker_line("uv_blocking", "start"));
	cr_assert_geq(ls_num(u, "max_ms"), 190.0);
	ls_assert_frame(fs, "called_at", 0, "on_timer", "uv_blocking.c",
			ls_marker_line("uv_blocking", "fsync"));
	/* on_work's usleep ran on the thread pool. */
	cr_assert_eq(ls_count(rep, "blocking-call", NULL), 2);

	/* One slow callback, the libuv one: the selector layer does not
	 * report the same stall again as a slow iteration. */
	json_t *s = ls_only_finding(rep, "slow-callback", NULL);
	cr_assert_str_eq(ls_str(s, "api"), "uv_timer_start");
	cr_assert_str_eq(ls_str(s, "callback"), "on_timer");
	cr_assert(has_frame(s, "stuck_at", "on_timer", ls_marker_line("uv_blocking", "usleep")),
		  "stuck_at:\n%s", json_dumps(s, JSON_INDENT(1)));
	json_decref(rep);
}

Test(selector, libuv_twin_without_blocking_calls_has_no_finding)
{
	json_t *rep = ls_fixture_report("uv_blocking", "clean", NULL, NULL);
	assert_no_findings(rep, "uv_blocking clean");
	json_decref(rep);
}

Test(selector, libuv_spinning_callback_is_stuck_running_in_it)
{
	json_t *rep = ls_fixture_report("slow_timer", NULL, NULL, NULL);
	/* A single-threaded program: the watchdog starts at the first slow
	 * run; on_tick is slow three times. */
	json_t *f = ls_only_finding(rep, "slow-callback", "on_tick");
	cr_assert_str_eq(ls_str(f, "stuck_how"), "running");
	cr_assert(has_frame(f, "stuck_at", "on_tick", 0), "stuck_at:\n%s",
		  json_dumps(f, JSON_INDENT(1)));
	/* The shim's trampolines are not in it. */
	json_t *st = json_object_get(f, "stuck_at"), *fr;
	size_t i;
	json_array_foreach(st, i, fr) {
		const char *m = json_string_value(json_object_get(fr, "module"));
		cr_assert(!m || strcmp(m, "libloopsan.so"), "shim frame in stuck_at");
	}
	cr_assert_eq(ls_count(rep, "blocking-call", NULL), 0);
	json_decref(rep);
}

/* ---- slow-selector ---------------------------------------------------------- */

Test(selector, stopped_process_makes_epoll_wait_late)
{
	json_t *rep = epoll_report("starve", NULL);
	json_t *f = ls_only_finding(rep, "slow-selector", NULL);
	cr_assert_str_eq(ls_str(f, "api"), "epoll_wait");
	cr_assert_geq(ls_num(f, "late_ms"), 150.0);
	cr_assert_eq(ls_num(f, "timeout_ms"), 10.0);
	cr_assert_geq(ls_int(f, "count"), 1);
	ls_assert_frame(f, "called_at", 0, "run", "epoll_loop.c", ls_marker_line("epoll_loop", "poll"));
	json_decref(rep);
}

Test(selector, slow_selector_ms_raises_the_bar)
{
	json_t *rep = epoll_report("starve", "slow_selector_ms=2000");
	cr_assert_eq(ls_count(rep, "slow-selector", NULL), 0);
	json_decref(rep);
}

/* ---- the watchdog thread ------------------------------------------------------ */

Test(selector, watchdog_does_not_keep_a_process_alive_after_pthread_exit)
{
	struct ls_run r;
	ls_run_fixture_arg(&r, "epoll_loop", ls_tmpdir(), true, NULL, "thread");
	cr_assert_eq(ls_exit_code(&r), 0);
	cr_assert(strstr(r.out, "steps 30"), "stdout: %s", r.out);
	ls_run_free(&r);
}

Test(selector, program_output_is_the_same_with_and_without_the_shim)
{
	const char *modes[] = {"spin", "sleep", "read", "ok"};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct ls_run a, b;
		ls_run_fixture_arg(&a, "epoll_loop", ls_tmpdir(), false, NULL, modes[i]);
		ls_run_fixture_arg(&b, "epoll_loop", ls_tmpdir(), true, NULL, modes[i]);
		cr_assert_str_eq(a.out, b.out, "%s: stdout differs", modes[i]);
		cr_assert_eq(a.status, b.status, "%s: status differs", modes[i]);
		ls_run_free(&a);
		ls_run_free(&b);
	}
}

/* ---- real programs ------------------------------------------------------------ */

/* LOOPSAN_OPTIONS opts (NULL: none). */
static json_t *real_report_opts(const char *interp, const char *script, const char *mode,
				const char *expect_out, const char *opts)
{
	char *repo = ls_repo();
	char *path = ls_fmt("%s/tests/real/%s", repo, script);
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	char *o = ls_fmt("LOOPSAN_OPTIONS=%s", opts ? opts : "");
	const char *env[] = {pre, "PYTHONDONTWRITEBYTECODE=1", o, NULL};
	const char *argv[] = {interp, path, mode, NULL};
	const char *dir = ls_tmpdir();
	struct ls_run r;
	ls_run(&r, dir, env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "%s %s: exit %d\n%s", script, mode, ls_exit_code(&r), r.err);
	cr_assert(strstr(r.out, expect_out), "%s %s: stdout %s", script, mode, r.out);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	free(trace);
	free(o);
	free(pre);
	free(shim);
	free(path);
	free(repo);
	return rep;
}

static json_t *real_report(const char *interp, const char *script, const char *mode,
			   const char *expect_out)
{
	return real_report_opts(interp, script, mode, expect_out, NULL);
}

/* The selector layer alone (python=0: not asyncio's checks from inside the
 * interpreter, which name the handle instead: tests/py/test_asyncio.c). */
Test(selector, asyncio_time_sleep_is_a_slow_iteration_and_a_blocking_call)
{
	if (access(PYTHON, X_OK) != 0)
		cr_skip_test("%s is not installed", PYTHON);
	json_t *rep = real_report_opts(PYTHON, "asyncio_sleep.py", "sleep", "asyncio sleep ok",
				       "python=0");
	long pid = ls_int(ls_process(rep), "pid");
	json_t *s = ls_only_finding(rep, "slow-callback", NULL);
	cr_assert_str_eq(ls_str(s, "api"), "epoll_wait");
	cr_assert_geq(ls_num(s, "max_ms"), 290.0);
	ls_assert_thread(s, pid, "python3");
	cr_assert_str_eq(ls_str(s, "stuck_how"), "in a blocking call");
	/* Python 3.11's time.sleep is clock_nanosleep. */
	json_t *b = ls_only_finding(rep, "blocking-call", NULL);
	cr_assert(!strcmp(ls_str(b, "api"), "clock_nanosleep") || !strcmp(ls_str(b, "api"), "select"),
		  "time.sleep seen as %s", ls_str(b, "api"));
	cr_assert_geq(ls_num(b, "max_ms"), 290.0);
	json_decref(rep);
}

Test(selector, asyncio_idle_for_2s_is_no_finding)
{
	if (access(PYTHON, X_OK) != 0)
		cr_skip_test("%s is not installed", PYTHON);
	json_t *rep = real_report(PYTHON, "asyncio_sleep.py", "idle", "asyncio idle ok");
	assert_no_findings(rep, "asyncio.sleep(2)");
	json_decref(rep);
}

/* Python's subprocess polls a child's stdout and stderr, two pipes, with
 * no timeout, then the script does other things: no loop, whatever it
 * does between its runs. */
Test(selector, reading_a_child_s_two_pipes_is_no_loop)
{
	if (access(PYTHON, X_OK) != 0)
		cr_skip_test("%s is not installed", PYTHON);
	char *repo = ls_repo();
	char *path = ls_fmt("%s/tests/real/subprocess_work.py", repo);
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	const char *env[] = {pre, "PYTHONDONTWRITEBYTECODE=1", NULL};
	const char *argv[] = {PYTHON, path, NULL};
	const char *dir = ls_tmpdir();
	struct ls_run r;
	ls_run(&r, dir, env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "exit %d\n%s", ls_exit_code(&r), r.err);
	cr_assert(strstr(r.out, "subprocess ok"), "stdout %s", r.out);
	/* No trace (no loop call), or one without a finding. */
	DIR *d = opendir(dir);
	struct dirent *e;
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		if (!strstr(e->d_name, ".trace"))
			continue;
		char *trace = ls_fmt("%s/%s", dir, e->d_name);
		json_t *rep = ls_report_json(trace);
		assert_no_findings(rep, e->d_name);
		json_decref(rep);
		free(trace);
	}
	closedir(d);
	ls_run_free(&r);
	free(pre);
	free(shim);
	free(path);
	free(repo);
}

Test(selector, node_spinning_timer_is_a_slow_callback_on_the_main_thread)
{
	if (access(NODE, X_OK) != 0)
		cr_skip_test("%s is not installed", NODE);
	json_t *rep = real_report(NODE, "node_spin.js", "spin", "node spin ok");
	long pid = ls_int(ls_process(rep), "pid");
	json_t *s = ls_only_finding(rep, "slow-callback", NULL);
	/* Node.js with its libuv inside is seen at the selector (epoll_pwait);
	 * a node linking the shared libuv (Debian's) at uv_timer_start. */
	const char *api = ls_str(s, "api");
	cr_assert(!strncmp(api, "epoll_", 6) || !strcmp(api, "uv_timer_start"), "api %s", api);
	cr_assert_geq(ls_num(s, "max_ms"), 290.0);
	ls_assert_thread(s, pid, "node");
	cr_assert_not_null(json_object_get(s, "stuck_at"));
	cr_assert_eq(ls_count(rep, "blocking-call", NULL), 0, "findings:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);
}

Test(selector, node_idle_for_2s_is_no_finding)
{
	if (access(NODE, X_OK) != 0)
		cr_skip_test("%s is not installed", NODE);
	json_t *rep = real_report(NODE, "node_spin.js", "idle", "node idle ok");
	assert_no_findings(rep, "setTimeout 2 s");
	json_decref(rep);
}
