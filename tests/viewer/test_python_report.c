/* Reports of Python programs: real programs (tests/viewer/fixtures/NAME.py)
 * under the real shim, their traces read by the real viewer in every
 * format.
 *
 * - refresh.py uvloop, run by Debian's /usr/bin/python3: the slow
 *   call_later callback is uvloop's C timer callback, named by the Python
 *   function it ran (refresh_token, from stuck_at) in text, JSON, SARIF,
 *   check and JUnit, with where that function is defined;
 * - the text report leaves out the interpreter's own C frames of a stack
 *   that ran Python and says how many; JSON keeps them;
 * - SARIF puts a finding at its first Python frame in the user's code,
 *   before a C extension's frame with debug information
 *   (select_in_callback.py, run by pyenv's 3.11, whose select module has
 *   it);
 * - a suppression names the Python function;
 * - asyncio_checks.py: asyncio's own checks (never-awaited, a task's
 *   exception never retrieved, an unclosed transport, call_soon from
 *   another thread) in text, JSON, SARIF and check, and suppressed by the
 *   coroutine's and the task's name.
 *
 * A test is skipped, saying what is missing, when its interpreter or
 * uvloop is not installed. */
#include <criterion/criterion.h>

#include "../harness.h"
#include "../py_harness.h"

#define PY_DEBIAN LS_PY_DEBIAN
#define PY_PYENV_311 LS_PY311

LS_SUITE(python_report);

static char *fixture_py(const char *name)
{
	return ls_py_file("viewer/fixtures", name);
}

/* The line of refresh.py marked `# @marker`. */
static int refresh_line(const char *marker)
{
	return ls_marked_line(fixture_py("refresh.py"), ls_fmt("# @%s", marker));
}

#define need_python ls_need_python

/* Runs tests/viewer/fixtures/SCRIPT [ARG] with python under the shim in a
 * new directory, which must print expect_out; its one trace. */
static char *py_trace(const char *python, const char *script, const char *arg,
		      const char *expect_out)
{
	char *path = fixture_py(script);
	char *trace = ls_py_run(python, path, arg, NULL, expect_out);
	free(path);
	return trace;
}

/* refresh.py LOOP's trace. */
static char *refresh_trace(const char *python, const char *loop)
{
	return py_trace(python, "refresh.py", loop, "refresh ok\n");
}

/* `loopsan ARGS...`: its stdout; its exit code must be `code`. */
static char *viewer_out(int code, const char *const *args)
{
	struct ls_run r;
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), code, "loopsan %s exited %d:\n%s%s", args[0],
		     ls_exit_code(&r), r.out, r.err);
	char *out = ls_fmt("%s", r.out);
	ls_run_free(&r);
	return out;
}

#define VIEWER(code, ...) viewer_out(code, (const char *[]){__VA_ARGS__, NULL})

/* The one slow-callback of at least 290 ms (the 0.3 s busy loop). */
static json_t *slow_finding(json_t *rep)
{
	json_t *slow = ls_findings(rep, "slow-callback", NULL), *f, *found = NULL;
	size_t i;
	json_array_foreach(slow, i, f)
		if (json_real_value(json_object_get(f, "max_ms")) >= 290.0)
			found = f;
	cr_assert_not_null(found, "no slow callback of >= 290 ms; findings:\n%s",
			   json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_incref(found);
	json_decref(slow);
	return found;
}

static void assert_has(const char *text, const char *want)
{
	cr_assert(strstr(text, want), "no \"%s\" in:\n%s", want, text);
}

/* The one result of SARIF output (doc holds it), and its location. */
static json_t *sarif_result(const char *sarif, const char **uri, int *line, json_t **doc)
{
	json_error_t jerr;
	*doc = json_loads(sarif, 0, &jerr);
	cr_assert_not_null(*doc, "SARIF is not JSON: %s", jerr.text);
	json_t *runs = json_object_get(*doc, "runs");
	json_t *results = json_object_get(json_array_get(runs, 0), "results");
	cr_assert_eq(json_array_size(results), 1, "%s", sarif);
	json_t *res = json_array_get(results, 0);
	json_t *loc = json_array_get(json_object_get(res, "locations"), 0);
	json_t *phys = json_object_get(loc, "physicalLocation");
	*uri = ls_str(json_object_get(phys, "artifactLocation"), "uri");
	*line = (int)ls_int(json_object_get(phys, "region"), "startLine");
	return res;
}

Test(python_report, uvloop_slow_call_later_is_named_by_the_python_function_it_ran)
{
	need_python(PY_DEBIAN, "uvloop");
	char *trace = refresh_trace(PY_DEBIAN, "uvloop");
	json_t *rep = ls_report_json(trace);
	json_t *slow = slow_finding(rep);
	int def = refresh_line("def");

	/* uv_timer_start's callback is uvloop's C function: named by the
	 * Python function stuck_at shows it running, never by an address. */
	cr_assert_str_eq(ls_str(slow, "api"), "uv_timer_start");
	cr_assert_str_eq(ls_str(slow, "callback"), "refresh_token",
			 "%s", json_dumps(slow, JSON_INDENT(1)));
	json_t *at = json_object_get(slow, "callback_at");
	cr_assert_str_eq(ls_str(at, "function"), "refresh_token");
	cr_assert_str_eq(ls_basename(ls_str(at, "file")), "refresh.py");
	cr_assert_eq(ls_int(at, "line"), def);
	cr_assert_str_eq(ls_str(at, "lang"), "python");
	const char *run_by = ls_str(slow, "run_by");
	cr_assert(!strncmp(run_by, "loop.cpython-311-x86_64-linux-gnu.so+0x", 39),
		  "run_by is not uvloop's C function: %s", run_by);

	char *text = VIEWER(0, "report", trace);
	assert_has(text, "slow-callback: refresh_token took ");
	char *want = ls_fmt("\n  callback refresh_token refresh.py:%d (python), run by loop.cpython-311-x86_64-linux-gnu.so+0x", def);
	assert_has(text, want);

	char *check = VIEWER(1, "check", trace);
	assert_has(check, "FAIL slow-callback refresh_token ");
	char *created = ls_fmt(" created at main refresh.py:%d\n", refresh_line("call_later"));
	assert_has(check, created);

	char *junit = VIEWER(0, "report", "--format", "junit", trace);
	assert_has(junit, "message=\"slow-callback: refresh_token took ");
	ls_assert_junit_valid(junit, strlen(junit));

	char *sarif = VIEWER(0, "report", "--format", "sarif", trace);
	const char *uri;
	int line;
	json_t *doc, *res = sarif_result(sarif, &uri, &line, &doc);
	cr_assert_str_eq(ls_str(json_object_get(json_object_get(res, "properties"), "callback"),
				"text"), "refresh_token");
	json_decref(doc);
	free(sarif);
	free(junit);
	free(created);
	free(check);
	free(want);
	free(text);
	json_decref(slow);
	json_decref(rep);
	free(trace);
}

Test(python_report, text_report_hides_the_interpreter_frames_and_says_how_many)
{
	need_python(PY_DEBIAN, "uvloop");
	char *trace = refresh_trace(PY_DEBIAN, "uvloop");
	char *text = VIEWER(0, "report", trace);

	/* The interpreter's C frames are left out, and counted... */
	cr_assert_null(strstr(text, "(python3.11+"), "an interpreter frame in:\n%s", text);
	cr_assert_null(strstr(text, " python3.11+0x"), "an interpreter frame in:\n%s", text);
	cr_assert_null(strstr(text, "PyObject_Vectorcall"), "an interpreter frame in:\n%s", text);
	assert_has(text, " interpreter frames hidden)\n");
	/* ... the other native frames (uvloop's, libuv's) and the Python
	 * ones kept. */
	assert_has(text, " loop.cpython-311-x86_64-linux-gnu.so+0x");
	assert_has(text, "uv_run (libuv.so.1+0x");
	char *busy = ls_fmt(" refresh_token refresh.py:%d (python)\n", refresh_line("busy"));
	assert_has(text, busy);

	/* JSON keeps every frame. */
	json_t *rep = ls_report_json(trace);
	json_t *slow = slow_finding(rep), *fr;
	size_t i, interp = 0;
	json_array_foreach(json_object_get(slow, "stuck_at"), i, fr) {
		const char *m = json_string_value(json_object_get(fr, "module"));
		interp += m && strcmp(m, "python3.11") == 0;
	}
	cr_assert_gt(interp, 0, "JSON's stuck_at lost the interpreter's frames: %s",
		     json_dumps(json_object_get(slow, "stuck_at"), JSON_INDENT(1)));
	json_decref(slow);
	json_decref(rep);
	free(busy);
	free(text);
	free(trace);
}

Test(python_report, json_python_frames_carry_lang_function_file_and_line)
{
	need_python(PY_DEBIAN, "uvloop");
	char *trace = refresh_trace(PY_DEBIAN, "uvloop");
	json_t *rep = ls_report_json(trace);
	json_t *slow = slow_finding(rep), *fr;
	const char *stacks[] = {"stuck_at", "created_at"};
	int seen_busy = 0, seen_main = 0;

	for (size_t k = 0; k < 2; k++) {
		size_t i;
		json_array_foreach(json_object_get(slow, stacks[k]), i, fr) {
			if (json_object_get(fr, "lang") == NULL)
				continue;
			cr_assert_str_eq(ls_str(fr, "lang"), "python");
			cr_assert_gt(strlen(ls_str(fr, "function")), 0);
			cr_assert_gt(strlen(ls_str(fr, "file")), 0);
			cr_assert_null(json_object_get(fr, "pc"), "a Python frame has a pc");
			cr_assert_null(json_object_get(fr, "module"), "a Python frame has a module");
			if (strcmp(ls_basename(ls_str(fr, "file")), "refresh.py") != 0)
				continue;
			if (strcmp(ls_str(fr, "function"), "refresh_token") == 0)
				seen_busy |= ls_int(fr, "line") == refresh_line("busy");
			if (strcmp(ls_str(fr, "function"), "main") == 0)
				seen_main |= ls_int(fr, "line") == refresh_line("call_later");
		}
	}
	cr_assert(seen_busy, "no refresh_token at its busy line in stuck_at: %s",
		  json_dumps(slow, JSON_INDENT(1)));
	cr_assert(seen_main, "no main at its call_later line in created_at: %s",
		  json_dumps(slow, JSON_INDENT(1)));
	json_decref(slow);
	json_decref(rep);
	free(trace);
}

Test(python_report, sarif_location_is_the_users_python_line_not_a_c_extension)
{
	/* select.select in a call_soon callback: a blocking-call whose
	 * called_at begins in select_select_impl selectmodule.c (a C
	 * extension that pyenv builds with debug information), then the
	 * Python line that called it. */
	need_python(PY_PYENV_311, NULL);
	char *trace = py_trace(PY_PYENV_311, "select_in_callback.py", NULL,
			       "select_in_callback ok\n");
	int line = ls_marked_line(fixture_py("select_in_callback.py"), ls_fmt("# @select"));

	json_t *rep = ls_report_json(trace);
	json_t *bc = ls_only_finding(rep, "blocking-call", "poll_token");
	const char *fn0 = ls_str(json_array_get(json_object_get(bc, "called_at"), 0), "function");
	if (strncmp(fn0, "select_select_impl", 18) != 0)
		cr_skip_test("no debug information for pyenv's select module (frame 0: %s)", fn0);

	char *sarif = VIEWER(0, "report", "--format", "sarif", trace);
	json_error_t jerr;
	json_t *doc = json_loads(sarif, 0, &jerr), *res;
	size_t i;
	int seen = 0;
	cr_assert_not_null(doc, "SARIF is not JSON: %s", jerr.text);
	json_array_foreach(json_object_get(json_array_get(json_object_get(doc, "runs"), 0),
					   "results"), i, res) {
		if (strcmp(ls_str(res, "ruleId"), "blocking-call") != 0)
			continue;
		json_t *loc = json_array_get(json_object_get(res, "locations"), 0);
		json_t *phys = json_object_get(loc, "physicalLocation");
		const char *uri = ls_str(json_object_get(phys, "artifactLocation"), "uri");
		cr_assert_str_eq(ls_basename(uri), "select_in_callback.py", "location at %s", uri);
		cr_assert_eq(uri[0], '/', "not the script's path as Python has it: %s", uri);
		cr_assert_eq(ls_int(json_object_get(phys, "region"), "startLine"), line);
		seen = 1;
	}
	cr_assert(seen, "no blocking-call result in %s", sarif);

	char *check = VIEWER(1, "check", trace);
	char *want = ls_fmt("FAIL blocking-call select 2");
	assert_has(check, want);
	free(want);
	want = ls_fmt(" in poll_token (pid %ld) called at poll_token select_in_callback.py:%d\n",
		      ls_trace_pid(trace), line);
	assert_has(check, want);
	free(want);
	free(check);
	json_decref(doc);
	json_decref(rep);
	free(sarif);
	free(trace);
}

Test(python_report, sarif_location_of_a_uvloop_callback_is_where_python_scheduled_it)
{
	need_python(PY_DEBIAN, "uvloop");
	char *trace = refresh_trace(PY_DEBIAN, "uvloop");
	char *sarif = VIEWER(0, "report", "--format", "sarif", trace);
	const char *uri;
	int line;
	json_t *doc;
	sarif_result(sarif, &uri, &line, &doc);
	cr_assert_str_eq(ls_basename(uri), "refresh.py", "location at %s:%d", uri, line);
	cr_assert_eq(line, refresh_line("call_later"));
	json_decref(doc);
	free(sarif);
	free(trace);
}

Test(python_report, suppression_by_python_function_name_silences_the_finding)
{
	need_python(PY_DEBIAN, "uvloop");
	char *trace = refresh_trace(PY_DEBIAN, "uvloop");
	char *supp = ls_fmt("%s/refresh.supp", ls_tmpdir());
	FILE *f = fopen(supp, "w");
	cr_assert_not_null(f);
	/* refresh_token is only the callback's name: no registration frame
	 * names it (main scheduled it). */
	fputs("# the token refresh is slow on purpose\nslow-callback:refresh_*\n", f);
	fclose(f);

	char *check = VIEWER(0, "check", "--suppressions", supp, trace);
	assert_has(check, "loopsan check: PASS (1 process, 0 failing findings, 1 suppressed)");
	assert_has(check, "1 by 'slow-callback:refresh_*'");
	free(check);
	free(supp);
	free(trace);
}

/* ---- asyncio's own checks (PY_EVENT) ---- */

/* The line of asyncio_checks.py marked `# @marker`. */
static int checks_line(const char *marker)
{
	return ls_marked_line(fixture_py("asyncio_checks.py"), ls_fmt("# @%s", marker));
}

/* asyncio_checks.py LOOP's trace, with Debian's python. */
static char *checks_trace(const char *loop)
{
	return py_trace(PY_DEBIAN, "asyncio_checks.py", loop, "asyncio_checks ok\n");
}

/* The Python frame `function` of asyncio_checks.py at the line marked
 * `marker` is in stack `which` of finding f. */
static void assert_py_at(json_t *f, const char *which, const char *function, const char *marker)
{
	json_t *fr;
	size_t i;
	int line = checks_line(marker);
	json_array_foreach(json_object_get(f, which), i, fr) {
		const char *fn = json_string_value(json_object_get(fr, "function"));
		const char *lang = json_string_value(json_object_get(fr, "lang"));
		if (fn && lang && strcmp(fn, function) == 0 && strcmp(lang, "python") == 0 &&
		    strcmp(ls_basename(ls_str(fr, "file")), "asyncio_checks.py") == 0 &&
		    ls_int(fr, "line") == line)
			return;
	}
	cr_assert_fail("no %s asyncio_checks.py:%d in %s: %s", function, line, which,
		       json_dumps(f, JSON_INDENT(1)));
}

Test(python_report, asyncio_checks_in_json)
{
	need_python(PY_DEBIAN, NULL);
	char *trace = checks_trace("asyncio");
	json_t *rep = ls_report_json(trace);
	long pid = ls_trace_pid(trace);

	json_t *na = ls_only_finding(rep, "never-awaited", NULL);
	cr_assert_str_eq(ls_str(na, "coroutine"), "refresh");
	cr_assert_eq(ls_int(na, "count"), 2, "both coroutines of one line are one finding");
	json_t *def = json_object_get(na, "defined_at");
	cr_assert_str_eq(ls_basename(ls_str(def, "file")), "asyncio_checks.py");
	cr_assert_eq(ls_int(def, "line"), checks_line("refresh_def"));
	assert_py_at(na, "collected_at", "forget", "never");

	json_t *de = ls_only_finding(rep, "dropped-error", NULL);
	cr_assert_str_eq(ls_str(de, "task"), "Task fail()");
	cr_assert_str_eq(ls_str(de, "error"), "ValueError: token expired");
	assert_py_at(de, "created_at", "main", "create_task");
	cr_assert(json_array_size(json_object_get(de, "collected_at")) > 0, "%s",
		  json_dumps(de, JSON_INDENT(1)));
	/* The traceback: a stack of Python frames only. */
	cr_assert_eq(json_array_size(json_object_get(de, "raised_at")), 1, "%s",
		     json_dumps(de, JSON_INDENT(1)));
	assert_py_at(de, "raised_at", "fail", "raise");

	json_t *uh = ls_only_finding(rep, "unclosed-handle", NULL);
	cr_assert_str_eq(ls_str(uh, "handle"), "transport");
	cr_assert(strncmp(ls_str(uh, "message"), "unclosed transport <", 20) == 0, "%s",
		  json_dumps(uh, JSON_INDENT(1)));
	assert_py_at(uh, "created_at", "leak", "open");

	json_t *wt = ls_only_finding(rep, "wrong-thread", NULL);
	cr_assert_str_eq(ls_str(wt, "api"), "call_soon");
	cr_assert_eq(ls_int(json_object_get(wt, "loop_thread"), "tid"), pid);
	cr_assert_neq(ls_int(json_object_get(wt, "thread"), "tid"), pid);
	assert_py_at(wt, "called_at", "from_thread", "call_soon");
	json_decref(rep);
	free(trace);
}

Test(python_report, asyncio_checks_in_text_and_check)
{
	need_python(PY_DEBIAN, NULL);
	char *trace = checks_trace("asyncio");
	char *text = VIEWER(0, "report", trace);
	char *want[] = {
		ls_fmt("never-awaited: coroutine 'refresh' was never awaited, 2 times\n"),
		ls_fmt("\n  coroutine refresh asyncio_checks.py:%d (python)\n"
		       "  last reference dropped at (where it was made, if it was never stored):\n",
		       checks_line("refresh_def")),
		ls_fmt(" forget asyncio_checks.py:%d (python)\n", checks_line("never")),
		ls_fmt("dropped-error: Task fail() exception was never retrieved: "
		       "ValueError: token expired\n"),
		ls_fmt("  task created at:\n"),
		ls_fmt("\n  raised at:\n    #0 fail asyncio_checks.py:%d (python)\n  collected at:\n",
		       checks_line("raise")),
		ls_fmt("unclosed-handle: transport collected unclosed: unclosed transport <"),
		ls_fmt("wrong-thread: call_soon called from thread "),
		ls_fmt("SUMMARY: loopsan: 4 findings in 1 process (wrong-thread: 1, "
		       "unclosed-handle: 1, dropped-error: 1, never-awaited: 1)\n"),
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_has(text, want[i]);
		free(want[i]);
	}

	char *check = VIEWER(1, "check", trace);
	char *lines[] = {
		ls_fmt("FAIL never-awaited coroutine refresh was never awaited, 2 times (pid %ld) "
		       "dropped at forget asyncio_checks.py:%d\n", ls_trace_pid(trace),
		       checks_line("never")),
		ls_fmt("FAIL dropped-error Task fail() exception never retrieved: ValueError: "
		       "token expired (pid %ld) created at main asyncio_checks.py:%d\n",
		       ls_trace_pid(trace), checks_line("create_task")),
		ls_fmt("FAIL unclosed-handle transport collected unclosed (pid %ld) created at "
		       "leak asyncio_checks.py:%d\n", ls_trace_pid(trace), checks_line("open")),
		ls_fmt(" (pid %ld) called at from_thread asyncio_checks.py:%d\n",
		       ls_trace_pid(trace), checks_line("call_soon")),
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_has(check, lines[i]);
		free(lines[i]);
	}
	free(check);
	free(text);
	free(trace);
}

/* The SARIF result of rule `kind`: at asyncio_checks.py's line `marker`. */
static void assert_sarif_at(json_t *results, const char *kind, const char *level,
			    const char *marker)
{
	json_t *res;
	size_t i;
	json_array_foreach(results, i, res) {
		if (strcmp(ls_str(res, "ruleId"), kind) != 0)
			continue;
		cr_assert_str_eq(ls_str(res, "level"), level);
		json_t *loc = json_array_get(json_object_get(res, "locations"), 0);
		json_t *phys = json_object_get(loc, "physicalLocation");
		const char *uri = ls_str(json_object_get(phys, "artifactLocation"), "uri");
		cr_assert_str_eq(ls_basename(uri), "asyncio_checks.py", "%s at %s", kind, uri);
		cr_assert_eq(ls_int(json_object_get(phys, "region"), "startLine"),
			     checks_line(marker), "%s", kind);
		return;
	}
	cr_assert_fail("no SARIF result %s", kind);
}

Test(python_report, asyncio_checks_in_sarif_at_the_python_lines)
{
	need_python(PY_DEBIAN, NULL);
	char *trace = checks_trace("asyncio");
	char *sarif = VIEWER(0, "report", "--format", "sarif", trace);
	json_error_t jerr;
	json_t *doc = json_loads(sarif, 0, &jerr);
	cr_assert_not_null(doc, "SARIF is not JSON: %s", jerr.text);
	json_t *run = json_array_get(json_object_get(doc, "runs"), 0);
	json_t *results = json_object_get(run, "results");
	cr_assert_eq(json_array_size(results), 4, "%s", sarif);
	assert_sarif_at(results, "never-awaited", "error", "never");
	assert_sarif_at(results, "dropped-error", "error", "create_task");
	assert_sarif_at(results, "unclosed-handle", "error", "open");
	assert_sarif_at(results, "wrong-thread", "error", "call_soon");
	json_decref(doc);
	free(sarif);
	free(trace);
}

Test(python_report, uvloop_asyncio_checks_and_suppressions_by_coroutine_and_task)
{
	need_python(PY_DEBIAN, "uvloop");
	char *trace = checks_trace("uvloop");
	char *supp = ls_fmt("%s/checks.supp", ls_tmpdir());
	FILE *f = fopen(supp, "w");
	cr_assert_not_null(f);
	fputs("never-awaited:refresh\ndropped-error:Task fail()\n", f);
	fclose(f);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_int(ls_only_finding(rep, "never-awaited", NULL), "count"), 2);
	cr_assert_str_eq(ls_str(ls_only_finding(rep, "dropped-error", NULL), "task"), "Task fail()");

	char *check = VIEWER(1, "check", "--suppressions", supp, trace);
	assert_has(check, "by 'never-awaited:refresh'");
	assert_has(check, "by 'dropped-error:Task fail()'");
	cr_assert_null(strstr(check, "FAIL never-awaited"), "%s", check);
	cr_assert_null(strstr(check, "FAIL dropped-error"), "%s", check);
	free(check);
	json_decref(rep);
	free(supp);
	free(trace);
}
