/* Python frames in native stacks: real Python programs under the real
 * shim, their traces read by the real viewer.
 *
 * - tests/py/slow_call_later.py on uvloop, run by Debian's /usr/bin/python3
 *   (CPython 3.11, the runtime in the executable): the slow call_later
 *   callback's created_at (uv_timer_start's stack) shows the Python line
 *   of loop.call_later;
 * - tests/py/slow_asyncio.py on asyncio's own loop, run by pyenv's 3.11
 *   (the runtime in libpython3.11.so), 3.12 and 3.13, and by 3.10 (whose
 *   frames loopsan does not read: the report says so).
 *
 * - tests/py/stuck_busy.py, stuck_sleep.py and stuck_lock.py: a slow
 *   call_later callback (busy in Python, in time.sleep, waiting for a lock)
 *   on asyncio's loop and on uvloop: its stuck_at shows the Python line;
 *   stuck_sleep.py's blocking call, its called_at.
 *
 * A 3.11 test is skipped, saying what is missing, when its interpreter or
 * uvloop is not installed (scripts/deps.sh installs python3-uvloop). The
 * pyenv 3.10, 3.12 and 3.13 (LOOPSAN_TEST_PY310, _PY312, _PY313 name
 * others) are this project's machine's: a missing one fails its tests,
 * lest the versions loopsan claims go untested unnoticed. */
#include <criterion/criterion.h>

#include "../harness.h"
#include "../py_harness.h"

#define PY_DEBIAN LS_PY_DEBIAN
#define PY_PYENV_311 LS_PY311
#define PY_PYENV_310 LS_PY310
#define PY_PYENV_312 LS_PY312
#define PY_PYENV_313 LS_PY313

LS_SUITE(python);

static char *py_script(const char *name)
{
	return ls_py_file("py", name);
}

/* The line of tests/py/NAME marked with the comment `# @marker`. */
static int py_marker_line(const char *name, const char *marker)
{
	return ls_marked_line(py_script(name), ls_fmt("# @%s", marker));
}

#define need_python ls_need_python

/* Runs tests/py/SCRIPT [ARG] with python under the shim in a new
 * directory; its one trace. */
static char *py_trace_arg(const char *python, const char *script, const char *arg,
			  const char *expect_out)
{
	char *path = py_script(script);
	char *trace = ls_py_run(python, path, arg, NULL, expect_out);
	free(path);
	return trace;
}

static char *py_trace(const char *python, const char *script, const char *expect_out)
{
	return py_trace_arg(python, script, NULL, expect_out);
}

/* The slow-callback finding of at least 190 ms (the 0.2 s busy loop, or
 * longer). */
static json_t *slow_finding(json_t *rep)
{
	json_t *slow = ls_findings(rep, "slow-callback", NULL), *f, *found = NULL;
	size_t i;
	json_array_foreach(slow, i, f)
		if (ls_num(f, "max_ms") >= 190.0)
			found = f;
	cr_assert_not_null(found, "no slow callback of >= 190 ms; findings:\n%s",
			   json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_incref(found);
	json_decref(slow);
	return found;
}

/* The index of the Python frame `function` at file:line (0: any line) in
 * stack `which`, asserting it is there and carries only what a Python frame
 * has. */
static size_t assert_python_frame(json_t *finding, const char *which, const char *function,
				  const char *file, int line)
{
	json_t *stack = json_object_get(finding, which), *fr;
	size_t i;
	json_array_foreach(stack, i, fr) {
		if (strcmp(ls_str(fr, "function"), function) != 0)
			continue;
		cr_assert_str_eq(ls_str(fr, "lang"), "python", "%s[%zu]: %s", which, i,
				 json_dumps(fr, JSON_COMPACT));
		cr_assert_str_eq(ls_basename(ls_str(fr, "file")), file);
		if (line == 0)
			cr_assert_gt(ls_int(fr, "line"), 0, "%s[%zu] has no line", which, i);
		else
			cr_assert_eq(ls_int(fr, "line"), line, "%s[%zu].line: expected %d: %s",
				     which, i, line, json_dumps(fr, JSON_COMPACT));
		cr_assert_null(json_object_get(fr, "pc"), "a Python frame has no pc");
		cr_assert_null(json_object_get(fr, "module"), "a Python frame has no module");
		return i;
	}
	cr_assert_fail("no Python frame %s in %s:\n%s", function, which,
		       json_dumps(stack, JSON_INDENT(1)));
	return 0;
}

static char *text_report(const char *trace)
{
	struct ls_run r;
	const char *args[] = {"report", trace, NULL};
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "report failed:\n%s", r.err);
	char *out = ls_fmt("%s", r.out);
	ls_run_free(&r);
	return out;
}

Test(python, uvloop_call_later_site_shows_the_python_line_that_scheduled_it)
{
	need_python(PY_DEBIAN, "uvloop");
	char *trace = py_trace(PY_DEBIAN, "slow_call_later.py", "slow_call_later ok\n");
	json_t *rep = ls_report_json(trace);
	json_t *slow = slow_finding(rep);
	int line = py_marker_line("slow_call_later.py", "call_later");

	cr_assert_str_eq(ls_str(slow, "api"), "uv_timer_start");
	/* uv_timer_start <- uvloop's C <- schedule (the call_later line)
	 * <- main, innermost first: the eval loop's frame is gone. */
	size_t at = assert_python_frame(slow, "created_at", "schedule", "slow_call_later.py", line);
	size_t main_at = assert_python_frame(slow, "created_at", "main", "slow_call_later.py",
					     py_marker_line("slow_call_later.py", "schedule"));
	cr_assert_eq(main_at, at + 1, "main is not schedule's caller");
	json_t *fr;
	size_t i;
	json_array_foreach(json_object_get(slow, "created_at"), i, fr)
		cr_assert_str_neq(ls_str(fr, "function"), "_PyEval_EvalFrameDefault",
				  "created_at[%zu] is the eval loop's frame", i);

	char *text = text_report(trace);
	char *want = ls_fmt(" schedule slow_call_later.py:%d (python)\n", line);
	cr_assert(strstr(text, want), "no \"%s\" in the text report:\n%s", want, text);
	free(want);
	free(text);
	json_decref(slow);
	json_decref(rep);
	free(trace);
}

/* asyncio's own loop run by python: the slow call_later callback is the
 * handle itself (asyncio's checks from inside the interpreter), scheduled
 * by call_later from main, stuck in refresh_token (the fixture has a
 * second thread: a single-threaded program's watchdog starts only after
 * its first slow callback). */
static void assert_selector_stack_in_python(const char *python)
{
	char *trace = py_trace(python, "slow_asyncio.py", "slow_asyncio ok\n");
	json_t *rep = ls_report_json(trace);
	json_t *slow = slow_finding(rep);

	cr_assert_str_eq(ls_str(slow, "api"), "call_later");
	assert_python_frame(slow, "created_at", "main", "slow_asyncio.py",
			    py_marker_line("slow_asyncio.py", "call_later"));
	assert_python_frame(slow, "stuck_at", "refresh_token", "slow_asyncio.py",
			    py_marker_line("slow_asyncio.py", "busy"));
	json_decref(slow);
	json_decref(rep);
	free(trace);
}

/* With asyncio's checks off (python=0), the slow iteration's selector
 * call, with the Python frames that made it. */
static void assert_selector_layer_in_python(const char *python)
{
	char *path = py_script("slow_asyncio.py");
	char *trace = ls_py_run(python, path, NULL, "python=0", "slow_asyncio ok\n");
	free(path);
	json_t *rep = ls_report_json(trace);
	json_t *slow = slow_finding(rep);
	size_t sel = assert_python_frame(slow, "called_at", "EpollSelector.select",
					 "selectors.py", 0);
	json_t *called = json_object_get(slow, "called_at");
	cr_assert_str_eq(ls_str(json_array_get(called, sel + 1), "function"),
			 "BaseEventLoop._run_once");
	assert_python_frame(slow, "called_at", "<module>", "slow_asyncio.py",
			    py_marker_line("slow_asyncio.py", "run"));
	json_decref(slow);
	json_decref(rep);
	free(trace);
}

Test(python, python312_selector_layer_shows_the_asyncio_python_frames)
{
	assert_selector_layer_in_python(PY_PYENV_312);
}

Test(python, python313_selector_layer_shows_the_asyncio_python_frames)
{
	assert_selector_layer_in_python(PY_PYENV_313);
}

Test(python, libpython_slow_call_later_is_a_slow_callback_scheduled_in_python)
{
	need_python(PY_PYENV_311, NULL);
	assert_selector_stack_in_python(PY_PYENV_311);
}

Test(python, python312_slow_call_later_is_a_slow_callback_scheduled_in_python)
{
	assert_selector_stack_in_python(PY_PYENV_312);
}

Test(python, python313_slow_call_later_is_a_slow_callback_scheduled_in_python)
{
	assert_selector_stack_in_python(PY_PYENV_313);
}

Test(python, another_python_version_is_said_to_have_no_python_frames)
{
	char *trace = py_trace(PY_PYENV_310, "slow_asyncio.py", "slow_asyncio ok\n");
	json_t *rep = ls_report_json(trace);
	json_t *proc = ls_process(rep);
	cr_assert(json_is_false(json_object_get(proc, "python_frames")),
		  "3.10's trace does not say that Python frames are missing: %s",
		  json_dumps(proc, JSON_COMPACT));
	json_t *slow = slow_finding(rep), *fr;
	size_t i;
	json_array_foreach(json_object_get(slow, "called_at"), i, fr)
		cr_assert_null(json_object_get(fr, "lang"), "a Python frame from 3.10: %s",
			       json_dumps(fr, JSON_COMPACT));
	char *text = text_report(trace);
	cr_assert(strstr(text, "Python frames are not available for this Python version"),
		  "no note in:\n%s", text);
	free(text);
	json_decref(slow);
	json_decref(rep);
	free(trace);
}

/* stuck_at: where the watchdog found the loop thread during the 0.3 s
 * call_later callback of tests/py/SCRIPT on LOOP: in refresh_token, at the
 * line marked `# @MARKER`, a Python frame merged like created_at's. */
static void assert_stuck_in_python(const char *python, const char *script, const char *loop,
				   const char *marker, const char *how)
{
	char *ok = ls_fmt("%.*s ok\n", (int)(strlen(script) - 3), script);
	char *trace = py_trace_arg(python, script, loop, ok);
	json_t *rep = ls_report_json(trace);
	json_t *slow = slow_finding(rep);
	int line = py_marker_line(script, marker);

	json_t *stuck = json_object_get(slow, "stuck_at");
	cr_assert(json_array_size(stuck) > 0, "no stuck_at in %s",
		  json_dumps(slow, JSON_INDENT(1)));
	cr_assert_str_eq(ls_str(slow, "stuck_how"), how, "%s", json_dumps(slow, JSON_INDENT(1)));
	size_t at = assert_python_frame(slow, "stuck_at", "refresh_token", script, line);
	json_t *fr;
	size_t i;
	json_array_foreach(stuck, i, fr)
		cr_assert_str_neq(ls_str(fr, "function"), "_PyEval_EvalFrameDefault",
				  "stuck_at[%zu] is the eval loop's frame", i);
	/* Its caller: the loop that ran it (asyncio's Handle._run, in Python;
	 * uvloop's, in C). */
	if (strcmp(loop, "asyncio") == 0)
		assert_python_frame(slow, "stuck_at", "Handle._run", "events.py", 0);
	cr_assert_gt(json_array_size(stuck), at + 1, "nothing below refresh_token");

	char *text = text_report(trace);
	char *want = ls_fmt(" refresh_token %s:%d (python)\n", script, line);
	cr_assert(strstr(text, want), "no \"%s\" in the text report:\n%s", want, text);
	free(want);
	free(text);
	json_decref(slow);
	json_decref(rep);
	free(trace);
	free(ok);
}

/* Running: the watchdog's signal handler reads the thread's own frames. */
Test(python, asyncio_busy_callback_is_stuck_at_its_python_line)
{
	need_python(PY_DEBIAN, NULL);
	assert_stuck_in_python(PY_DEBIAN, "stuck_busy.py", "asyncio", "busy", "running");
}

Test(python, uvloop_busy_callback_is_stuck_at_its_python_line)
{
	need_python(PY_DEBIAN, "uvloop");
	assert_stuck_in_python(PY_DEBIAN, "stuck_busy.py", "uvloop", "busy", "running");
}

Test(python, libpython_busy_callback_is_stuck_at_its_python_line)
{
	need_python(PY_PYENV_311, NULL);
	assert_stuck_in_python(PY_PYENV_311, "stuck_busy.py", "asyncio", "busy", "running");
}

/* Blocked in time.sleep: the blocking call's stack, Python frames and all. */
Test(python, asyncio_sleeping_callback_is_stuck_at_its_python_line)
{
	need_python(PY_DEBIAN, NULL);
	assert_stuck_in_python(PY_DEBIAN, "stuck_sleep.py", "asyncio", "sleep", "in a blocking call");
}

Test(python, uvloop_sleeping_callback_is_stuck_at_its_python_line)
{
	need_python(PY_DEBIAN, "uvloop");
	assert_stuck_in_python(PY_DEBIAN, "stuck_sleep.py", "uvloop", "sleep", "in a blocking call");
}

Test(python, libpython_sleeping_callback_is_stuck_at_its_python_line)
{
	need_python(PY_PYENV_311, NULL);
	assert_stuck_in_python(PY_PYENV_311, "stuck_sleep.py", "asyncio", "sleep", "in a blocking call");
}

/* Blocked in a system call loopsan does not interpose (a lock's futex
 * wait): the watchdog reads the thread's Python frames itself. */
Test(python, asyncio_callback_waiting_for_a_lock_is_stuck_at_its_python_line)
{
	need_python(PY_DEBIAN, NULL);
	assert_stuck_in_python(PY_DEBIAN, "stuck_lock.py", "asyncio", "acquire",
			       "in a system call");
}

Test(python, uvloop_callback_waiting_for_a_lock_is_stuck_at_its_python_line)
{
	need_python(PY_DEBIAN, "uvloop");
	assert_stuck_in_python(PY_DEBIAN, "stuck_lock.py", "uvloop", "acquire",
			       "in a system call");
}

Test(python, libpython_callback_waiting_for_a_lock_is_stuck_at_its_python_line)
{
	need_python(PY_PYENV_311, NULL);
	assert_stuck_in_python(PY_PYENV_311, "stuck_lock.py", "asyncio", "acquire",
			       "in a system call");
}

/* 3.12 and 3.13: the same three ways to be stuck, on asyncio's loop. */
Test(python, python312_busy_callback_is_stuck_at_its_python_line)
{
	assert_stuck_in_python(PY_PYENV_312, "stuck_busy.py", "asyncio", "busy", "running");
}

Test(python, python313_busy_callback_is_stuck_at_its_python_line)
{
	assert_stuck_in_python(PY_PYENV_313, "stuck_busy.py", "asyncio", "busy", "running");
}

Test(python, python312_sleeping_callback_is_stuck_at_its_python_line)
{
	assert_stuck_in_python(PY_PYENV_312, "stuck_sleep.py", "asyncio", "sleep",
			       "in a blocking call");
}

Test(python, python313_sleeping_callback_is_stuck_at_its_python_line)
{
	assert_stuck_in_python(PY_PYENV_313, "stuck_sleep.py", "asyncio", "sleep",
			       "in a blocking call");
}

Test(python, python312_callback_waiting_for_a_lock_is_stuck_at_its_python_line)
{
	assert_stuck_in_python(PY_PYENV_312, "stuck_lock.py", "asyncio", "acquire",
			       "in a system call");
}

Test(python, python313_callback_waiting_for_a_lock_is_stuck_at_its_python_line)
{
	assert_stuck_in_python(PY_PYENV_313, "stuck_lock.py", "asyncio", "acquire",
			       "in a system call");
}

/* time.sleep in a call_later callback on asyncio's loop: the blocking
 * call's called_at names the Python line of the call, and the Python
 * frames of the two C calls of the eval loop stay apart (refresh_token,
 * then the C frames of Context.run, then Handle._run): in 3.12 and 3.13
 * the eval loop's entry frame, which is no Python frame, tells them apart. */
static void assert_blocking_call_in_python(const char *python)
{
	char *trace = py_trace_arg(python, "stuck_sleep.py", "asyncio", "stuck_sleep ok\n");
	json_t *rep = ls_report_json(trace);
	json_t *calls = ls_findings(rep, "blocking-call", NULL);
	cr_assert_eq(json_array_size(calls), 1, "blocking-call findings:\n%s",
		     json_dumps(calls, JSON_INDENT(1)));
	json_t *call = json_array_get(calls, 0), *called = json_object_get(call, "called_at"), *fr;
	size_t at = assert_python_frame(call, "called_at", "refresh_token", "stuck_sleep.py",
					py_marker_line("stuck_sleep.py", "sleep"));
	size_t run = assert_python_frame(call, "called_at", "Handle._run", "events.py", 0);
	cr_assert_gt(run, at + 1, "no C frame between refresh_token and Handle._run:\n%s",
		     json_dumps(called, JSON_INDENT(1)));
	for (size_t i = at + 1; i < run; i++)
		cr_assert_null(json_object_get(json_array_get(called, i), "lang"),
			       "called_at[%zu] is a Python frame between refresh_token and "
			       "Handle._run:\n%s", i, json_dumps(called, JSON_INDENT(1)));
	size_t i;
	json_array_foreach(called, i, fr)
		cr_assert_str_neq(ls_str(fr, "function"), "_PyEval_EvalFrameDefault",
				  "called_at[%zu] is the eval loop's frame", i);
	json_decref(calls);
	json_decref(rep);
	free(trace);
}

Test(python, libpython_blocking_call_is_called_at_its_python_line)
{
	need_python(PY_PYENV_311, NULL);
	assert_blocking_call_in_python(PY_PYENV_311);
}

Test(python, python312_blocking_call_is_called_at_its_python_line)
{
	assert_blocking_call_in_python(PY_PYENV_312);
}

Test(python, python313_blocking_call_is_called_at_its_python_line)
{
	assert_blocking_call_in_python(PY_PYENV_313);
}

/* Names that are not ASCII: str objects the shim reads past the ASCII
 * header (their cached UTF-8, or their 1- and 2-byte characters), whose
 * layout 3.12 changed. */
static void assert_unicode_names(const char *python)
{
	char *trace = py_trace(python, "blocking_unicode.py", "blocking_unicode ok\n");
	json_t *rep = ls_report_json(trace);
	json_t *calls = ls_findings(rep, "blocking-call", NULL);
	cr_assert_eq(json_array_size(calls), 1, "blocking-call findings:\n%s",
		     json_dumps(calls, JSON_INDENT(1)));
	json_t *call = json_array_get(calls, 0);
	size_t at = assert_python_frame(call, "called_at", "Jeton.更新", "blocking_unicode.py",
					py_marker_line("blocking_unicode.py", "sleep"));
	size_t caller = assert_python_frame(call, "called_at", "rafraîchir", "blocking_unicode.py",
					    py_marker_line("blocking_unicode.py", "call"));
	cr_assert_eq(caller, at + 1, "rafraîchir is not Jeton.更新's caller");
	json_decref(calls);
	json_decref(rep);
	free(trace);
}

Test(python, libpython_names_that_are_not_ascii_are_read)
{
	need_python(PY_PYENV_311, NULL);
	assert_unicode_names(PY_PYENV_311);
}

Test(python, python312_names_that_are_not_ascii_are_read)
{
	assert_unicode_names(PY_PYENV_312);
}

Test(python, python313_names_that_are_not_ascii_are_read)
{
	assert_unicode_names(PY_PYENV_313);
}
