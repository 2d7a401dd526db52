/* `report --format sarif|junit` and colors: the SARIF and JUnit documents
 * other tools read, and escape sequences only on a terminal or when asked. */
#include "tests/harness.h"

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

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

Test(formats, junit_has_a_testcase_per_process_and_a_failure_per_finding)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture(&r, "slow_timer", dir, NULL);
	ls_run_free(&r);
	ls_run_fixture(&r, "open_handle", dir, NULL);
	ls_run_free(&r);
	report_as(&r, "junit", dir);
	cr_assert(!strncmp(r.out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39), "%s", r.out);
	cr_assert(strstr(r.out, "<testsuites name=\"loopsan\" tests=\"2\" failures=\"5\">"), "%s",
		  r.out);
	cr_assert(strstr(r.out, "<testsuite name=\"loopsan\" tests=\"2\" failures=\"5\""), "%s",
		  r.out);
	cr_assert_eq(count(r.out, "<testcase "), 2, "%s", r.out);
	cr_assert_eq(count(r.out, "</testcase>"), 2, "%s", r.out);
	cr_assert_eq(count(r.out, "<failure "), 5, "%s", r.out);
	cr_assert_eq(count(r.out, "</failure>"), 5, "%s", r.out);
	cr_assert_eq(count(r.out, "<failure type=\"slow-callback\" message=\"slow-callback: "), 2);
	cr_assert_eq(count(r.out, "<failure type=\"pending-at-close\""), 3);
	cr_assert(strstr(r.out, "<testcase classname=\"loopsan\" name=\"slow_timer["), "%s", r.out);
	/* the body is the text block, quotes of the thread name escaped */
	cr_assert(strstr(r.out, "created at:\n    #0 start_slow_once slow_timer.c:"), "%s", r.out);
	cr_assert(strstr(r.out, "&quot;slow_timer&quot;"), "%s", r.out);
	cr_assert_null(strstr(r.out, "\"slow_timer\""), "unescaped quotes:\n%s", r.out);
	const char *tail = "  </testsuite>\n</testsuites>\n";
	cr_assert(r.out_len > strlen(tail));
	cr_assert_str_eq(r.out + r.out_len - strlen(tail), tail);
	ls_run_free(&r);
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
	report_as(&r, "junit", trace);
	cr_assert(strstr(r.out, "name=\"a&lt;b&amp;c&quot;d["), "testcase name:\n%s", r.out);
	cr_assert(strstr(r.out, "(a&lt;b&amp;c&quot;d)"), "module in the body:\n%s", r.out);
	cr_assert_null(strstr(r.out, "a<b"), "raw markup:\n%s", r.out);
	ls_run_free(&r);
	free(trace);
	free(pre);
	free(shim);
	free(bin);
	free(src);
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

/* Runs `loopsan report trace` with stdout on a pseudo-terminal and
 * no_color as NO_COLOR (NULL: unset); returns what it printed. */
static char *report_on_tty(const char *trace, const char *no_color)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	cr_assert(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
	char *slave_name = strdup(ptsname(master));
	char *viewer = ls_viewer();
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		int slave = open(slave_name, O_RDWR | O_NOCTTY);
		if (slave < 0 || dup2(slave, 1) < 0)
			_exit(126);
		setenv("TERM", "xterm", 1); /* TERM=dumb would mean no color */
		if (no_color)
			setenv("NO_COLOR", no_color, 1);
		else
			unsetenv("NO_COLOR");
		execl(viewer, viewer, "report", trace, (char *)NULL);
		_exit(127);
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int status;
	for (;;) {
		ssize_t k = read(master, buf + n, cap - n - 1);
		if (k > 0) {
			n += (size_t)k;
			cr_assert(n < cap - 1, "too much output");
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		break; /* EIO: the child closed the terminal */
	}
	buf[n] = '\0';
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d:\n%s", status, buf);
	close(master);
	free(slave_name);
	free(viewer);
	return buf;
}

Test(formats, auto_colors_on_a_terminal_unless_NO_COLOR_is_set)
{
	char *trace = trace_of("slow_timer", NULL);
	char *tty = report_on_tty(trace, NULL);
	char *no = report_on_tty(trace, "1");
	char *empty = report_on_tty(trace, "");

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
