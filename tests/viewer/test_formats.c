/* `report --format sarif|junit` and colors: the SARIF and JUnit documents
 * other tools read, valid against their schemas (tests/schemas/: Jenkins'
 * and Ant's JUnit XSDs with xmllint, OASIS's SARIF schema with Debian's
 * python3-jsonschema); the notes on incomplete traces; and escape sequences
 * only on a terminal or when asked. */
#include "tests/harness.h"
#include "tests/py_harness.h"
#include "tracer/format.h"

#include <termios.h>

LS_SUITE(formats);

static char *trace_of(const char *fixture, const char **dir_out)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, fixture, dir, NULL);
	ls_exit_code(&r);
	ls_run_free(&r);
	if (dir_out)
		*dir_out = dir;
	return ls_single_trace(dir);
}

static void report_as(struct ls_run *r, const char *format, const char *trace)
{
	const char *args[] = {"report", "--format", format, trace, NULL};

	ls_run_viewer(r, NULL, args);
	cr_assert_eq(ls_exit_code(r), 0, "report --format %s:\n%s", format, r->err);
}

static json_t *sarif_of(const char *trace)
{
	struct ls_run r;
	json_error_t jerr;

	report_as(&r, "sarif", trace);
	json_t *doc = json_loadb(r.out, r.out_len, 0, &jerr);
	cr_assert(doc, "SARIF is not JSON (%s, line %d):\n%s", jerr.text, jerr.line, r.out);
	ls_run_free(&r);
	return doc;
}

/* The result of rule kind whose message names word. */
static json_t *sarif_result(json_t *run, const char *kind, const char *word)
{
	size_t i;
	json_t *res;

	json_array_foreach(json_object_get(run, "results"), i, res) {
		const char *text = ls_str(json_object_get(res, "message"), "text");
		if (!strcmp(ls_str(res, "ruleId"), kind) && strstr(text, word))
			return res;
	}
	cr_assert_fail("no %s result naming %s in %s", kind, word, json_dumps(run, JSON_INDENT(1)));
	return NULL;
}

static void assert_location(json_t *res, const char *file, int line)
{
	json_t *phys = json_object_get(json_array_get(json_object_get(res, "locations"), 0),
				       "physicalLocation");
	const char *uri = ls_str(json_object_get(phys, "artifactLocation"), "uri");
	size_t n = strlen(uri), k = strlen(file);

	cr_assert(n >= k && !strcmp(uri + n - k, file), "uri %s does not end with %s", uri, file);
	cr_assert(n == k || uri[n - k - 1] == '/', "uri %s names another file than %s", uri, file);
	cr_assert_eq(ls_int(json_object_get(phys, "region"), "startLine"), line, "startLine in %s",
		     json_dumps(res, JSON_COMPACT));
}

Test(formats, sarif_has_schema_version_one_rule_per_kind_and_located_results)
{
	char *trace = trace_of("slow_timer", NULL);
	json_t *doc = sarif_of(trace);

	cr_assert_str_eq(ls_str(doc, "version"), "2.1.0");
	cr_assert_str_eq(ls_str(doc, "$schema"), "https://json.schemastore.org/sarif-2.1.0.json");
	json_t *run = json_array_get(json_object_get(doc, "runs"), 0);
	json_t *driver = json_object_get(json_object_get(run, "tool"), "driver");
	cr_assert_str_eq(ls_str(driver, "name"), "loopsan");
	cr_assert(!strncmp(ls_str(driver, "informationUri"), "https://", 8));
	const char *kinds[] = {"slow-callback", "slow-selector", "blocking-call", "wrong-thread",
			       "pending-at-close", "unclosed-handle", "dropped-error",
			       "never-awaited", "lost-wakeup", "crash-in-callback",
			       "handle-misuse"};
	json_t *rules = json_object_get(driver, "rules");
	cr_assert_eq(json_array_size(rules), 11, "one rule per kind");
	for (size_t i = 0; i < 11; i++) {
		json_t *rule = json_array_get(rules, i);
		cr_assert_str_eq(ls_str(rule, "id"), kinds[i]);
		ls_str(json_object_get(rule, "shortDescription"), "text");
		ls_str(json_object_get(rule, "fullDescription"), "text");
		ls_str(json_object_get(rule, "help"), "text");
	}
	cr_assert_eq(json_array_size(json_object_get(run, "results")), 2, "two slow callbacks");
	json_t *res = sarif_result(run, "slow-callback", "on_slow_once");
	cr_assert_str_eq(ls_str(res, "level"), "warning");
	assert_location(res, "slow_timer.c", ls_marker_line("slow_timer", "slow_once_start"));
	res = sarif_result(run, "slow-callback", "on_tick");
	assert_location(res, "slow_timer.c", ls_marker_line("slow_timer", "tick_start"));
	json_decref(doc);
	free(trace);
}

Test(formats, sarif_pending_at_close_is_an_error_at_the_init_line)
{
	char *trace = trace_of("open_handle", NULL);
	json_t *doc = sarif_of(trace);
	json_t *run = json_array_get(json_object_get(doc, "runs"), 0);
	json_t *res = sarif_result(run, "pending-at-close", "timer handle");

	cr_assert_str_eq(ls_str(res, "level"), "error");
	assert_location(res, "open_handle.c", ls_marker_line("open_handle", "heartbeat_init"));
	res = sarif_result(run, "pending-at-close", "on_poll");
	assert_location(res, "open_handle.c", ls_marker_line("open_handle", "poller_init"));
	json_decref(doc);
	free(trace);
}

/* ---- JUnit, valid against Jenkins' and Ant's schemas ---- */

/* `report --format junit path`, validated against both schemas. */
static void junit_of(struct ls_run *r, const char *path)
{
	report_as(r, "junit", path);
	ls_assert_junit_valid(r->out, r->out_len);
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* The testcase element named by the format fmt (its text up to
 * </testcase> or />). */
__attribute__((format(printf, 3, 4)))
static char *junit_case(const char *doc, const char *classname, const char *fmt, ...)
{
	va_list ap;
	char *name;
	va_start(ap, fmt);
	cr_assert(vasprintf(&name, fmt, ap) >= 0);
	va_end(ap);
	char *open = ls_fmt("<testcase classname=\"%s\" name=\"%s\"", classname, name);
	free(name);
	const char *p = strstr(doc, open);

	cr_assert(p, "no %s> in:\n%s", open, doc);
	cr_assert_null(strstr(p + 1, open), "%s> twice in:\n%s", open, doc);
	const char *end = strstr(p, ">");
	if (end[-1] != '/')
		end = strstr(p, "</testcase>") + strlen("</testcase>") - 1;
	free(open);
	return ls_fmt("%.*s", (int)(end + 1 - p), p);
}

Test(formats, junit_has_a_testcase_per_finding_site_and_a_passing_one_per_process)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture(&r, "slow_timer", dir, NULL);
	ls_run_free(&r);
	ls_run_fixture(&r, "open_handle", dir, NULL);
	ls_run_free(&r);
	junit_of(&r, dir);
	cr_assert(!strncmp(r.out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", 51),
		  "%s", r.out);
	/* 2 slow callbacks, 3 pending handles: 5 failing sites; 2 processes */
	cr_assert(strstr(r.out, "<testsuite name=\"loopsan\" package=\"loopsan\" id=\"0\" tests=\"7\" "
			 "failures=\"5\" errors=\"0\" skipped=\"0\" time=\""), "%s", r.out);
	cr_assert_eq(count(r.out, "<testcase "), 7, "%s", r.out);
	cr_assert_eq(count(r.out, "<failure "), 5, "%s", r.out);
	cr_assert_eq(count(r.out, "</failure>"), 5, "%s", r.out);
	char *tick = junit_case(r.out, "loopsan.slow_timer",
				"slow-callback: on_tick (created at slow_timer.c:%d)",
				ls_marker_line("slow_timer", "tick_start"));
	cr_assert_eq(count(tick, "<failure "), 1, "one failure per site:\n%s", tick);
	cr_assert(strstr(tick, "<failure type=\"slow-callback\" message=\"slow-callback: on_tick took "),
		  "the message is the headline:\n%s", tick);
	/* the text is the block with its stacks, quotes of the thread name escaped */
	cr_assert(strstr(tick, "stuck at (running):\n") && strstr(tick, "created at:\n    #0 "
		  "start_ticker slow_timer.c:"), "%s", tick);
	cr_assert(strstr(tick, "&quot;slow_timer&quot;"), "%s", tick);
	free(tick);
	free(junit_case(r.out, "loopsan.slow_timer",
			"slow-callback: on_slow_once (created at slow_timer.c:%d)",
		   ls_marker_line("slow_timer", "slow_once_start")));
	free(junit_case(r.out, "loopsan.open_handle",
		   "pending-at-close: uv_timer_init (created at open_handle.c:%d)",
		   ls_marker_line("open_handle", "heartbeat_init")));
	free(junit_case(r.out, "loopsan.open_handle",
		   "pending-at-close: on_poll (created at open_handle.c:%d)",
		   ls_marker_line("open_handle", "poller_init")));
	char *pass = junit_case(r.out, "loopsan.slow_timer", "traced");
	cr_assert(strstr(pass, "/>") && !strstr(pass, "<failure"), "%s", pass);
	free(pass);
	free(junit_case(r.out, "loopsan.open_handle", "traced"));
	cr_assert_null(strstr(r.out, "name=\"slow_timer["), "no pid in a name:\n%s", r.out);
	const char *tail = "  </testsuite>\n</testsuites>\n";
	cr_assert(r.out_len > strlen(tail));
	cr_assert_str_eq(r.out + r.out_len - strlen(tail), tail);
	ls_run_free(&r);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every classname and name, sorted: what a CI system keeps history by. */
static char *junit_names(const char *doc)
{
	char *lines[64], *names = ls_fmt("%s", "");
	size_t n = 0;

	for (const char *p = strstr(doc, "<testcase "); p; p = strstr(p + 1, "<testcase ")) {
		cr_assert(n < 64);
		lines[n++] = ls_fmt("%.*s\n", (int)(strstr(p, "\" time=") - p), p);
	}
	qsort(lines, n, sizeof(*lines), by_string);
	for (size_t i = 0; i < n; i++) {
		char *more = ls_fmt("%s%s", names, lines[i]);
		free(names);
		free(lines[i]);
		names = more;
	}
	return names;
}

Test(formats, junit_names_are_the_same_in_every_run_and_hold_no_pid)
{
	struct ls_run r;
	char *names[2];
	long pids[2];

	for (int i = 0; i < 2; i++) {
		const char *dir = ls_tmpdir();
		ls_run_fixture(&r, "open_handle", dir, NULL);
		ls_run_free(&r);
		char *trace = ls_single_trace(dir);
		pids[i] = ls_trace_pid(trace);
		junit_of(&r, trace);
		names[i] = junit_names(r.out);
		ls_run_free(&r);
		free(trace);
	}
	cr_assert_neq(pids[0], pids[1]);
	cr_assert_str_eq(names[0], names[1], "another run, other names");
	for (int i = 0; i < 2; i++) {
		char *pid = ls_fmt("%ld", pids[i]);
		cr_assert_null(strstr(names[i], pid), "pid %s in the names:\n%s", pid, names[i]);
		free(pid);
	}
	cr_assert_eq(count(names[0], "\n"), 4, "3 sites and the process:\n%s", names[0]);
	free(names[0]);
	free(names[1]);
}

Test(formats, junit_one_site_in_two_processes_is_one_case_with_one_failure)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	for (int i = 0; i < 2; i++) {
		ls_run_fixture(&r, "open_handle", dir, NULL);
		ls_run_free(&r);
	}
	junit_of(&r, dir);
	cr_assert(strstr(r.out, " tests=\"5\" failures=\"3\" "), "%s", r.out);
	char *poll = junit_case(r.out, "loopsan.open_handle",
				"pending-at-close: on_poll (created at open_handle.c:%d)",
				ls_marker_line("open_handle", "poller_init"));
	cr_assert_eq(count(poll, "<failure "), 1, "%s", poll);
	cr_assert_eq(count(poll, "pending-at-close: idle handle still open"), 3,
		     "the headline, then each process's block:\n%s", poll);
	free(poll);
	free(junit_case(r.out, "loopsan.open_handle", "traced"));
	free(junit_case(r.out, "loopsan.open_handle", "traced (process 2)"));
	ls_run_free(&r);
}

Test(formats, junit_of_a_clean_run_is_a_suite_of_one_passed_case)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture(&r, "counter", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	junit_of(&r, dir);
	cr_assert(strstr(r.out, " tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\" "), "%s",
		  r.out);
	free(junit_case(r.out, "loopsan.counter", "traced"));
	cr_assert_eq(count(r.out, "<testcase "), 1, "%s", r.out);
	ls_run_free(&r);
}

Test(formats, junit_of_python_findings_names_the_script_and_validates)
{
	char *repo = ls_repo();
	char *script = ls_fmt("%s/tests/viewer/fixtures/asyncio_checks.py", repo);
	char *trace = ls_py_run(LS_PY_DEBIAN, script, "asyncio", NULL, "asyncio_checks ok\n");
	struct ls_run r;

	junit_of(&r, trace);
	cr_assert(strstr(r.out, "<testcase classname=\"loopsan.asyncio_checks_py\" name=\""
			 "never-awaited: "), "%s", r.out);
	free(junit_case(r.out, "loopsan.asyncio_checks_py", "traced"));
	ls_run_free(&r);
	free(trace);
	free(script);
	free(repo);
}

Test(formats, junit_escapes_markup_in_names_from_the_trace)
{
	const char *dir = ls_tmpdir();
	char *src = ls_fixture_bin("slow_timer");
	char *bin = ls_fmt("%s/a<b&c\"d", dir);
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	const char *env[] = {pre, NULL};
	const char *argv[] = {bin, NULL};
	struct ls_run r;

	ls_copy_file(src, bin, -1);
	cr_assert_eq(chmod(bin, 0755), 0);
	ls_run(&r, dir, env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	junit_of(&r, trace);
	cr_assert(strstr(r.out, "classname=\"loopsan.a&lt;b&amp;c&quot;d\""), "classname:\n%s",
		  r.out);
	cr_assert(strstr(r.out, "(a&lt;b&amp;c&quot;d)"), "module in the body:\n%s", r.out);
	cr_assert_null(strstr(r.out, "a<b"), "raw markup:\n%s", r.out);
	ls_run_free(&r);
	free(trace);
	free(pre);
	free(shim);
	free(bin);
	free(src);
}

/* ---- SARIF, valid against OASIS's schema ---- */

/* Validates SARIF doc against tests/schemas/sarif-schema-2.1.0.json with
 * Debian's python3-jsonschema (draft 4, as the schema says). */
static void assert_sarif_valid(const char *doc, size_t len)
{
	static const char check[] =
		"import json, sys, jsonschema\n"
		"schema = json.load(open(sys.argv[1]))\n"
		"doc = json.load(open(sys.argv[2]))\n"
		"v = jsonschema.Draft4Validator(schema,\n"
		"    format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)\n"
		"errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))\n"
		"for e in errors[:10]:\n"
		"    print('/'.join(map(str, e.absolute_path)) + ': ' + e.message[:300])\n"
		"sys.exit(1 if errors else 0)\n";
	char *repo = ls_repo();
	char *schema = ls_fmt("%s/tests/schemas/sarif-schema-2.1.0.json", repo);
	char *path = ls_fmt("%s/report.sarif", ls_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	const char *argv[] = {LS_PY_DEBIAN, "-c", check, schema, path, NULL};
	struct ls_run r;

	cr_assert(fd >= 0 && write(fd, doc, len) == (ssize_t)len, "%s: %s", path, strerror(errno));
	close(fd);
	ls_run(&r, NULL, NULL, (const char *const *)argv);
	if (strstr(r.err, "No module named 'jsonschema'"))
		cr_assert_fail("%s has no jsonschema: apt-get install python3-jsonschema "
			       "(scripts/deps.sh)", LS_PY_DEBIAN);
	cr_assert_eq(ls_exit_code(&r), 0, "SARIF output invalid against the OASIS schema:\n%s%s\n%s",
		     r.out, r.err, doc);
	ls_run_free(&r);
	free(path);
	free(schema);
	free(repo);
}

static void sarif_valid(const char *path)
{
	struct ls_run r;

	report_as(&r, "sarif", path);
	assert_sarif_valid(r.out, r.out_len);
	ls_run_free(&r);
}

Test(formats, sarif_of_c_findings_validates_against_the_oasis_schema)
{
	const char *dir = ls_tmpdir();
	const char *fixtures[][2] = {{"slow_timer", NULL}, {"open_handle", NULL},
				     {"wrong_thread", NULL}, {"misuse", NULL},
				     {"dropped_write", NULL}, {"lost_wakeup", NULL},
				     {"uv_blocking", NULL}, {"counter", "5"}};
	struct ls_run r;

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		ls_run_fixture_arg(&r, fixtures[i][0], dir, true, NULL, fixtures[i][1]);
		ls_run_free(&r);
	}
	cr_assert_eq(ls_count_traces(dir), 8);
	sarif_valid(dir);
	char *clean = ls_fmt("%s/clean", dir);
	cr_assert_eq(mkdir(clean, 0755), 0);
	ls_run_fixture_arg(&r, "counter", clean, true, NULL, "5");
	ls_run_free(&r);
	sarif_valid(clean);
	free(clean);
}

Test(formats, sarif_of_python_findings_validates_against_the_oasis_schema)
{
	char *repo = ls_repo();
	char *script = ls_fmt("%s/tests/viewer/fixtures/asyncio_checks.py", repo);
	char *trace = ls_py_run(LS_PY_DEBIAN, script, "asyncio", NULL, "asyncio_checks ok\n");

	sarif_valid(trace);
	free(trace);
	free(script);
	free(repo);
}

Test(formats, the_sarif_validation_rejects_a_document_against_the_schema)
{
	/* The check can fail: a result whose level is no SARIF level. */
	static const char bad[] = "{\"version\": \"2.1.0\", \"runs\": [{\"tool\": {\"driver\": "
		"{\"name\": \"loopsan\"}}, \"results\": [{\"message\": {\"text\": \"x\"}, "
		"\"level\": \"fatal\"}]}]}";
	static const char good[] = "{\"version\": \"2.1.0\", \"runs\": [{\"tool\": {\"driver\": "
		"{\"name\": \"loopsan\"}}, \"results\": [{\"message\": {\"text\": \"x\"}, "
		"\"level\": \"error\"}]}]}";
	char *repo = ls_repo();
	char *schema = ls_fmt("%s/tests/schemas/sarif-schema-2.1.0.json", repo);
	const char *dir = ls_tmpdir();
	const char *docs[] = {bad, good};

	for (int i = 0; i < 2; i++) {
		char *path = ls_fmt("%s/%d.sarif", dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		cr_assert(fd >= 0 && write(fd, docs[i], strlen(docs[i])) > 0);
		close(fd);
		const char *argv[] = {LS_PY_DEBIAN, "-c",
			"import json, sys, jsonschema\n"
			"jsonschema.Draft4Validator(json.load(open(sys.argv[1]))).validate("
			"json.load(open(sys.argv[2])))\n", schema, path, NULL};
		struct ls_run r;
		ls_run(&r, NULL, NULL, argv);
		cr_assert_eq(ls_exit_code(&r), i == 0 ? 1 : 0, "%s:\n%s", docs[i], r.err);
		ls_run_free(&r);
		free(path);
	}
	free(schema);
	free(repo);
}

/* ---- notes on incomplete traces, and the trace version ---- */

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert(fd >= 0 && write(fd, buf, len) == (ssize_t)len, "%s: %s", path, strerror(errno));
	close(fd);
}

/* What `loopsan report trace` prints (exit 0), notes included. */
static char *report_err(const char *trace)
{
	struct ls_run r;
	const char *args[] = {"report", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	char *err = ls_fmt("%s%s", r.out, r.err);
	ls_run_free(&r);
	return err;
}

/* Starts kill_target under the shim in dir and returns its pid once its
 * loop runs callbacks (it said 'R'); it ends by itself after 5 s. */
static pid_t start_kill_target(const char *dir)
{
	char *bin = ls_fixture_bin("kill_target");
	char *pre = ls_preload_env();
	const char *env[] = {pre, NULL};
	const char *argv[] = {bin, NULL};
	int fds[2];
	char c = 0;

	cr_assert(pipe(fds) == 0);
	pid_t pid = ls_start(dir, env, argv, fds[1]);
	close(fds[1]);
	while (read(fds[0], &c, 1) == 1 && c != 'R')
		;
	close(fds[0]);
	cr_assert_eq(c, 'R', "kill_target did not start its loop");
	free(pre);
	free(bin);
	return pid;
}

static void kill_wait(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void set_trace_pid(const char *trace, uint64_t pid)
{
	size_t len;
	char *buf = ls_read_file(trace, &len);

	((struct ls_file_header *)(void *)buf)->pid = pid;
	write_file(trace, buf, len);
	free(buf);
}

Test(formats, a_live_process_trace_reads_still_running_a_dead_one_did_not_exit_cleanly)
{
	const char *dir = ls_tmpdir();
	pid_t pid = start_kill_target(dir);
	char *trace = ls_single_trace(dir);
	char *err = report_err(trace);
	char *running = ls_fmt("%s is incomplete (process %d is still running)", trace, (int)pid);

	cr_assert(strstr(err, running), "a live process:\n%s", err);
	cr_assert_null(strstr(err, "did not exit cleanly"), "%s", err);
	free(err);
	kill_wait(pid);
	err = report_err(trace);
	cr_assert(strstr(err, "is incomplete (the process did not exit cleanly)"), "%s", err);
	cr_assert_null(strstr(err, "still running"), "a dead process:\n%s", err);
	free(err);
	free(running);
	free(trace);
}

Test(formats, a_reused_pid_is_not_taken_for_the_traced_process)
{
	const char *dir = ls_tmpdir();
	pid_t first = start_kill_target(dir);
	char *trace = ls_single_trace(dir);
	char *copy = ls_fmt("%s/copy.trace", ls_tmpdir());

	kill_wait(first);
	sleep(2); /* past the second the comparison of start times allows */
	/* The same program, started after the trace was made, under its pid. */
	pid_t later = start_kill_target(ls_tmpdir());
	ls_copy_file(trace, copy, -1);
	set_trace_pid(copy, (uint64_t)later);
	char *err = report_err(copy);
	cr_assert(strstr(err, "did not exit cleanly") && !strstr(err, "still running"),
		  "a process started after the trace:\n%s", err);
	free(err);
	kill_wait(later);
	/* Another program, started before the trace: this test's process. */
	set_trace_pid(copy, (uint64_t)getpid());
	err = report_err(copy);
	cr_assert(strstr(err, "did not exit cleanly") && !strstr(err, "still running"),
		  "another program under the pid:\n%s", err);
	free(err);
	free(copy);
	free(trace);
}

Test(formats, a_trace_cut_by_one_byte_lacks_1_byte)
{
	char *trace = trace_of("slow_timer", NULL);
	size_t len;
	char *buf = ls_read_file(trace, &len);
	const struct ls_file_header *h = (const void *)buf;
	char *cut = ls_fmt("%s/loopsan.1.trace", ls_tmpdir());

	cr_assert_eq((len - LS_HEADER_SIZE) % h->chunk_size, 0, "whole chunks");
	write_file(cut, buf, len - 1);
	char *err = report_err(cut);
	cr_assert(strstr(err, "(its last chunk lacks 1 byte)"), "%s", err);
	free(err);
	write_file(cut, buf, len - 2);
	err = report_err(cut);
	cr_assert(strstr(err, "(its last chunk lacks 2 bytes)"), "%s", err);
	free(err);
	free(cut);
	free(buf);
	free(trace);
}

Test(formats, an_unsupported_version_names_the_versions_this_viewer_reads)
{
	char *trace = trace_of("slow_timer", NULL);
	size_t len;
	char *buf = ls_read_file(trace, &len);
	struct ls_run r;
	const char *args[] = {"report", trace, NULL};

	((struct ls_file_header *)(void *)buf)->version = 99;
	write_file(trace, buf, len);
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2, "%s", r.err);
	ls_assert_one_line(&r, trace);
	cr_assert(strstr(r.err, "unsupported trace version 99 (a newer loopsan wrote it; this "
			 "one reads trace version 1)"), "%s", r.err);
	ls_run_free(&r);
	free(buf);
	free(trace);
}

/* ---- colors ---- */

Test(formats, color_always_emits_escapes_never_and_default_off_a_terminal_do_not)
{
	char *trace = trace_of("slow_timer", NULL);
	struct ls_run r;
	const char *always[] = {"report", "--color=always", trace, NULL};
	const char *never[] = {"report", "--color", "never", trace, NULL};
	const char *plain[] = {"report", trace, NULL};
	const char *check[] = {"check", "--color=always", trace, NULL};

	ls_run_viewer(&r, NULL, always);
	cr_assert(strstr(r.out, "\033[1;33mslow-callback\033[0m"), "%s", r.out);
	cr_assert(strstr(r.out, "\033[1mon_slow_once\033[0m"), "%s", r.out);
	cr_assert(strstr(r.out, "\033[36mslow_timer.c:"), "%s", r.out);
	ls_run_free(&r);
	ls_run_viewer(&r, NULL, never);
	cr_assert_null(strstr(r.out, "\033["), "%s", r.out);
	ls_run_free(&r);
	ls_run_viewer(&r, NULL, plain);
	cr_assert_null(strstr(r.out, "\033["), "%s", r.out);
	ls_run_free(&r);
	ls_run_viewer(&r, NULL, check);
	cr_assert_eq(ls_exit_code(&r), 1);
	cr_assert(strstr(r.out, "FAIL \033[1;33mslow-callback\033[0m"), "%s", r.out);
	ls_run_free(&r);
	free(trace);
}

Test(formats, bad_color_value_is_a_usage_error)
{
	char *trace = trace_of("slow_timer", NULL);
	struct ls_run r;
	const char *args[] = {"report", "--color=sometimes", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2, "%s", r.err);
	ls_assert_one_line(&r, "sometimes");
	ls_run_free(&r);
	free(trace);
}

Test(formats, auto_colors_on_a_terminal_unless_NO_COLOR_is_set)
{
	char *trace = trace_of("slow_timer", NULL);
	char *tty = ls_report_on_tty(trace, "xterm", NULL);
	char *no = ls_report_on_tty(trace, "xterm", "1");
	char *empty = ls_report_on_tty(trace, "xterm", "");

	cr_assert(strstr(tty, "\033["), "auto on a terminal colors:\n%s", tty);
	cr_assert(strstr(no, "slow-callback") && !strstr(no, "\033["),
		  "NO_COLOR=1 turns auto off:\n%s", no);
	cr_assert(strstr(empty, "\033["), "an empty NO_COLOR does not:\n%s", empty);
	free(tty);
	free(no);
	free(empty);
	free(trace);
}

Test(formats, run_colors_its_stderr_report_only_when_asked)
{
	char *bin = ls_fixture_bin("slow_timer");
	struct ls_run r;
	const char *args[] = {"run", "--dir", ls_tmpdir(), "--color=always", "--", bin, NULL};

	ls_run_viewer(&r, ls_tmpdir(), args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.err, "\033[1;33mslow-callback"), "%s", r.err);
	ls_run_free(&r);
	args[3] = "--color=auto";
	ls_run_viewer(&r, ls_tmpdir(), args);
	cr_assert(strstr(r.err, "slow-callback") && !strstr(r.err, "\033["), "%s", r.err);
	ls_run_free(&r);
	free(bin);
}
