/* asyncio's own checks, made from inside the interpreter (preload/py/
 * asyncio.c): real Python programs (the tests/py fixtures) run by Debian's
 * /usr/bin/python3 under the real shim, on asyncio's own loop and on
 * uvloop, their traces read by the real viewer. Each finding must name the
 * Python line the program's mistake is on (a `# @marker` comment). */
#include <criterion/criterion.h>

#include "../harness.h"
#include "../py_harness.h"

#define PY LS_PY_DEBIAN
#define PY312 LS_PY312
#define PY313 LS_PY313

LS_SUITE(asyncio_checks);

static char *script(const char *name)
{
	return ls_py_file("py", name);
}

/* The report (JSON) of tests/py/NAME run with LOOP ("asyncio", "uvloop")
 * under the shim; its standard output must be EXPECT. */
static json_t *run_report_with(const char *python, const char *name, const char *loop,
			       const char *expect)
{
	char *path = script(name);
	char *trace = ls_py_run(python, path, loop, NULL, expect);
	json_t *rep = ls_report_json(trace);
	free(trace);
	free(path);
	return rep;
}

static const char *interp = PY;   /* the tests' interpreter: set by each test */

static json_t *run_report(const char *name, const char *loop, const char *expect)
{
	return run_report_with(interp, name, loop, expect);
}

/* The one finding of `kind`. */
static json_t *only(json_t *rep, const char *kind)
{
	json_t *all = ls_findings(rep, kind, NULL);
	cr_assert_eq(json_array_size(all), 1, "%zu %s findings:\n%s", json_array_size(all), kind,
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_t *f = json_array_get(all, 0);
	json_incref(f);
	json_decref(all);
	return f;
}

/* Stack `which` of f holds the Python frame `function` at NAME's line
 * marked `# @marker`. */
static void assert_at(json_t *f, const char *which, const char *function, const char *name,
		      const char *marker)
{
	int line = ls_marked_line(script(name), ls_fmt("# @%s", marker));
	json_t *fr;
	size_t i;
	json_array_foreach(json_object_get(f, which), i, fr)
		if (json_is_string(json_object_get(fr, "lang")) &&
		    strcmp(ls_str(fr, "function"), function) == 0 && ls_int(fr, "line") == line &&
		    strcmp(ls_basename(ls_str(fr, "file")), name) == 0)
			return;
	cr_assert_fail("no %s %s:%d in %s:\n%s", function, name, line, which,
		       json_dumps(f, JSON_INDENT(1)));
}

static void never_awaited(const char *loop)
{
	json_t *rep = run_report("never_awaited.py", loop, "never_awaited ok\n");
	json_t *f = only(rep, "never-awaited");
	cr_assert_str_eq(ls_str(f, "coroutine"), "test");
	/* Made (and dropped) in main, at the call that is not awaited. */
	assert_at(f, "collected_at", "main", "never_awaited.py", "never");
	json_decref(f);
	json_decref(rep);
}

Test(asyncio_checks, never_awaited_coroutine_on_asyncio) { never_awaited("asyncio"); }
Test(asyncio_checks, never_awaited_coroutine_on_uvloop) { never_awaited("uvloop"); }

static void dropped_error(const char *loop)
{
	json_t *rep = run_report("dropped_error.py", loop, "dropped_error ok\n");
	json_t *f = only(rep, "dropped-error");
	cr_assert_str_eq(ls_str(f, "task"), "Task bug()");
	cr_assert_str_eq(ls_str(f, "error"), "Exception: not consumed");
	assert_at(f, "created_at", "main", "dropped_error.py", "create");
	assert_at(f, "raised_at", "bug", "dropped_error.py", "raise");
	json_decref(f);
	json_decref(rep);
}

Test(asyncio_checks, task_exception_never_retrieved_on_asyncio) { dropped_error("asyncio"); }
Test(asyncio_checks, task_exception_never_retrieved_on_uvloop) { dropped_error("uvloop"); }

static void wrong_thread(const char *loop)
{
	json_t *rep = run_report("wrong_thread.py", loop, "wrong_thread ok\n");
	/* One mistake, one finding: not also uvloop's uv_idle_start under it. */
	json_t *f = only(rep, "wrong-thread");
	cr_assert_str_eq(ls_str(f, "api"), "call_soon");
	assert_at(f, "called_at", "from_thread", "wrong_thread.py", "call_soon");
	json_decref(f);
	json_decref(rep);
}

Test(asyncio_checks, call_soon_from_another_thread_on_asyncio) { wrong_thread("asyncio"); }
Test(asyncio_checks, call_soon_from_another_thread_on_uvloop) { wrong_thread("uvloop"); }

static void unclosed(const char *loop)
{
	json_t *rep = run_report("unclosed.py", loop, "unclosed ok\n");
	json_t *f = only(rep, "unclosed-handle");
	cr_assert(strstr(ls_str(f, "message"), "unclosed") != NULL, "%s", ls_str(f, "message"));
	/* asyncio's transports say where they were made; uvloop's are made
	 * in C, and the finding then says where the loop let it go. */
	if (strcmp(loop, "asyncio") == 0)
		assert_at(f, "created_at", "leak", "unclosed.py", "open");
	json_decref(f);
	json_decref(rep);
}

Test(asyncio_checks, unclosed_transport_on_asyncio) { unclosed("asyncio"); }
Test(asyncio_checks, unclosed_transport_on_uvloop) { unclosed("uvloop"); }

static void sleep_on_loop(const char *loop)
{
	json_t *rep = run_report("sleep_on_loop.py", loop, "sleep_on_loop ok\n");
	json_t *f = only(rep, "blocking-call");
	cr_assert_str_eq(ls_str(f, "api"), "clock_nanosleep");
	assert_at(f, "called_at", "refresh", "sleep_on_loop.py", "sleep");
	json_decref(f);
	json_decref(rep);
}

Test(asyncio_checks, time_sleep_on_the_loop_on_asyncio) { sleep_on_loop("asyncio"); }
Test(asyncio_checks, time_sleep_on_the_loop_on_uvloop) { sleep_on_loop("uvloop"); }

/* A slow call_later callback on asyncio's own loop: named by its Python
 * function, scheduled at the call_later line, stuck where it spins (the
 * fixture has a second thread, so that the watchdog runs from the start). */
static void slow_call_later(void)
{
	json_t *rep = run_report("slow_asyncio.py", NULL, "slow_asyncio ok\n");
	json_t *f = only(rep, "slow-callback");
	cr_assert_str_eq(ls_str(f, "callback"), "refresh_token");
	cr_assert_str_eq(ls_str(f, "api"), "call_later");
	assert_at(f, "created_at", "main", "slow_asyncio.py", "call_later");
	assert_at(f, "stuck_at", "refresh_token", "slow_asyncio.py", "busy");
	json_decref(f);
	json_decref(rep);
}

Test(asyncio_checks, slow_call_later_callback_is_named_and_scheduled_in_python)
{
	slow_call_later();
}

/* The same on uvloop: its timer's libuv callback, named by the Python
 * function it ran, scheduled where Python called call_later. */
Test(asyncio_checks, uvloop_slow_call_later_callback_is_named_and_scheduled_in_python)
{
	json_t *rep = run_report("slow_call_later.py", NULL, "slow_call_later ok\n");
	json_t *f = only(rep, "slow-callback");
	cr_assert_str_eq(ls_str(f, "callback"), "refresh_token");
	assert_at(f, "created_at", "schedule", "slow_call_later.py", "call_later");
	assert_at(f, "stuck_at", "refresh_token", "slow_call_later.py", "busy");
	json_decref(f);
	json_decref(rep);
}

/* The same checks on CPython 3.12 and 3.13 (asyncio's own loop). */
#define LS_ON(ver, path)                                                               \
	Test(asyncio_checks, never_awaited_coroutine_on_##ver)                         \
	{ interp = path; never_awaited("asyncio"); }                                   \
	Test(asyncio_checks, task_exception_never_retrieved_on_##ver)                  \
	{ interp = path; dropped_error("asyncio"); }                                   \
	Test(asyncio_checks, call_soon_from_another_thread_on_##ver)                   \
	{ interp = path; wrong_thread("asyncio"); }                                    \
	Test(asyncio_checks, unclosed_transport_on_##ver)                              \
	{ interp = path; unclosed("asyncio"); }                                        \
	Test(asyncio_checks, time_sleep_on_the_loop_on_##ver)                          \
	{ interp = path; sleep_on_loop("asyncio"); }                                   \
	Test(asyncio_checks, slow_call_later_callback_is_named_and_scheduled_on_##ver) \
	{ interp = path; slow_call_later(); }                                          \
	Test(asyncio_checks, dev_mode_exits_cleanly_on_##ver)                          \
	{ interp = path; dev_mode(); }

/* Under -X dev the runtime frees the audit hook's entry with its debug
 * allocator: the shim's entry, made before, must not be among them. */
static void dev_mode(void)
{
	const char *dir = ls_tmpdir();
	char *pre = ls_preload_env();
	const char *env[] = {pre, NULL};
	const char *argv[] = {interp, "-X", "dev", "-c", "import asyncio; print('ok')", NULL};
	struct ls_run r;
	ls_run(&r, dir, env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "%s -X dev under the shim:\n%s", interp, r.err);
	cr_assert_str_eq(r.out, "ok\n");
	ls_run_free(&r);
	free(pre);
}

Test(asyncio_checks, dev_mode_python_exits_cleanly)
{
	dev_mode();
}

LS_ON(python312, PY312)
LS_ON(python313, PY313)

/* halt_on_wrong_thread=1: a call_soon from another thread aborts there,
 * as asyncio's debug mode raises, with the trace written. */
Test(asyncio_checks, halt_on_wrong_thread_aborts_at_call_soon)
{
	const char *dir = ls_tmpdir();
	char *path = script("wrong_thread.py");
	char *pre = ls_preload_env();
	const char *env[] = {pre, "LOOPSAN_OPTIONS=halt_on_wrong_thread=1", NULL};
	const char *argv[] = {PY, path, "asyncio", NULL};
	struct ls_run r;
	ls_run(&r, dir, env, argv);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT, "status %d:\n%s",
		  r.status, r.err);
	cr_assert(strstr(r.err, "call_soon called from thread"), "%s", r.err);
	ls_run_free(&r);
	free(pre);
	free(path);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = only(rep, "wrong-thread");
	assert_at(f, "called_at", "from_thread", "wrong_thread.py", "call_soon");
	json_decref(f);
	json_decref(rep);
	free(trace);
}

/* Every step of 3000 tasks alive at once counts under its task's site
 * (Task worker()), also those of a task whose entry in the shim's table
 * another task took. */
Test(asyncio_checks, every_task_step_is_counted_under_its_task)
{
	char *path = script("many_tasks.py");
	char *trace = ls_py_run(PY, path, "asyncio", NULL, "many_tasks ok\n");
	free(path);
	json_t *stats = ls_stats_json(trace), *site;
	json_int_t steps = 0;
	size_t i;
	/* Its create_task call's site, and (an entry taken) one that says
	 * only which coroutine. */
	json_array_foreach(json_object_get(stats, "sites"), i, site)
		if (strcmp(ls_str(site, "callback"), "Task worker()") == 0)
			steps += ls_int(site, "count");
	cr_assert_eq(steps, 3000 * 4, "%lld steps", (long long)steps);
	json_decref(stats);
	free(trace);
}
