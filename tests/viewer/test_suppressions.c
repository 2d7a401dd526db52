/* Suppressions files (`kind:pattern` lines, `#` comments): a finding whose
 * callback, or a frame's function, file or module, matches is left out of
 * report, check and run, and each rule's count is told. */
#include "tests/harness.h"
#include "tests/py_harness.h"

LS_SUITE(suppressions);

static char *trace_of(const char *fixture)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, fixture, dir, NULL);
	ls_exit_code(&r);
	ls_run_free(&r);
	return ls_single_trace(dir);
}

/* A suppressions file holding text, in a fresh dir. */
static char *supp_file(const char *text)
{
	char *path = ls_fmt("%s/loopsan.supp", ls_tmpdir());
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
	return path;
}

/* `report --format json --suppressions supp trace`, which must succeed. */
static json_t *report_with(const char *trace, const char *supp)
{
	struct ls_run r;
	const char *args[] = {"report", "--format", "json", "--suppressions", supp, trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "stderr:\n%s", r.err);
	json_t *doc = ls_parse_report(&r);
	ls_run_free(&r);
	return doc;
}

/* suppressed[i] of the JSON report is {rule, file, line, count}. */
static void assert_rule(json_t *doc, size_t i, const char *rule, const char *file, int line,
			int count)
{
	json_t *s = json_array_get(json_object_get(doc, "suppressed"), i);

	cr_assert(json_is_object(s), "no suppressed[%zu] in %s", i,
		  json_dumps(doc, JSON_INDENT(1)));
	cr_assert_str_eq(ls_str(s, "rule"), rule);
	cr_assert_str_eq(ls_str(s, "file"), file);
	cr_assert_eq(ls_int(s, "line"), line, "suppressed[%zu].line", i);
	cr_assert_eq(ls_int(s, "count"), count, "suppressed[%zu].count of %s", i, rule);
}

Test(suppressions, creation_function_silences_only_its_finding)
{
	char *trace = trace_of("slow_timer");
	char *supp = supp_file("# slow on purpose\nslow-callback:start_slow_once\n");
	json_t *doc = report_with(trace, supp);

	cr_assert_eq(ls_count(doc, "slow-callback", "on_slow_once"), 0, "suppressed");
	ls_only_finding(doc, "slow-callback", "on_tick");
	assert_rule(doc, 0, "slow-callback:start_slow_once", supp, 2, 1);
	json_decref(doc);
	free(supp);
	free(trace);
}

Test(suppressions, callback_name_and_wildcards_match)
{
	char *trace = trace_of("slow_timer");
	char *supp = supp_file("slow-callback:on_tick\n\n  slow-callback : *_once  \n"
			       "slow-callback:on_*\n");
	json_t *doc = report_with(trace, supp);

	cr_assert_eq(json_array_size(json_object_get(doc, "findings")), 0);
	assert_rule(doc, 0, "slow-callback:on_tick", supp, 1, 1);
	assert_rule(doc, 1, "slow-callback:*_once", supp, 3, 1);
	assert_rule(doc, 2, "slow-callback:on_*", supp, 4, 0);
	json_decref(doc);
	free(supp);
	free(trace);
}

Test(suppressions, file_basename_and_full_path_match)
{
	char *trace = trace_of("slow_timer");
	char *supp = supp_file("slow-callback:slow_timer.c\n");
	json_t *doc = report_with(trace, supp);

	cr_assert_eq(ls_count(doc, "slow-callback", NULL), 0);
	assert_rule(doc, 0, "slow-callback:slow_timer.c", supp, 1, 2);
	json_decref(doc);
	free(supp);

	supp = supp_file("slow-callback:*/fixtures/slow_timer.c\n");
	doc = report_with(trace, supp);
	assert_rule(doc, 0, "slow-callback:*/fixtures/slow_timer.c", supp, 1, 2);
	json_decref(doc);
	free(supp);
	free(trace);
}

Test(suppressions, module_matches_and_the_kind_must_match_too)
{
	char *trace = trace_of("open_handle");
	char *supp = supp_file("slow-callback:open_handle\npending-at-close:open_handle\n");
	json_t *doc = report_with(trace, supp);

	cr_assert_eq(ls_count(doc, "pending-at-close", NULL), 0);
	assert_rule(doc, 0, "slow-callback:open_handle", supp, 1, 0);
	assert_rule(doc, 1, "pending-at-close:open_handle", supp, 2, 3);
	json_decref(doc);
	free(supp);
	free(trace);
}

Test(suppressions, text_report_tells_how_many_each_rule_silenced)
{
	char *trace = trace_of("slow_timer");
	char *supp = supp_file("# two rules\nslow-callback:on_tick\nslow-callback:on_slow_once\n");
	struct ls_run r;
	const char *args[] = {"report", "--suppressions", supp, trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	char *line = ls_fmt("loopsan: suppressed 2 findings: 1 by 'slow-callback:on_tick' (%s:2), "
			    "1 by 'slow-callback:on_slow_once' (%s:3)\n", supp, supp);
	cr_assert(strstr(r.out, line), "no \"%s\" in:\n%s", line, r.out);
	cr_assert(strstr(r.out, "loopsan: no findings in 1 process"), "%s", r.out);
	ls_run_free(&r);
	free(line);
	free(supp);
	free(trace);
}

Test(suppressions, check_passes_when_every_finding_is_suppressed_and_files_repeat)
{
	char *trace = trace_of("slow_timer");
	char *a = supp_file("slow-callback:on_tick\n");
	char *b = supp_file("slow-callback:on_slow_once\n");
	struct ls_run r;
	const char *args[] = {"check", "--suppressions", a, "--suppressions", b, trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "loopsan check: PASS (1 process, 0 failing findings, 2 suppressed)"),
		  "%s", r.out);
	ls_run_free(&r);

	const char *one[] = {"check", "--suppressions", a, trace, NULL};
	ls_run_viewer(&r, NULL, one);
	cr_assert_eq(ls_exit_code(&r), 1, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "1 suppressed)"), "%s", r.out);
	ls_run_free(&r);
	free(a);
	free(b);
	free(trace);
}

static void assert_bad_file(const char *text, const char *cmd, const char *needle_fmt)
{
	char *trace = trace_of("slow_timer");
	char *supp = supp_file(text);
	char *needle = ls_fmt(needle_fmt, supp);
	struct ls_run r;
	const char *args[] = {cmd, "--suppressions", supp, trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2, "%s: stdout:\n%s\nstderr:\n%s", cmd, r.out, r.err);
	ls_assert_one_line(&r, needle);
	cr_assert_eq(r.out_len, 0, "%s", r.out);
	ls_run_free(&r);
	free(needle);
	free(supp);
	free(trace);
}

Test(suppressions, unknown_kind_is_exit_2_naming_file_and_line)
{
	assert_bad_file("# ok\nslow-callback:on_tick\nslow-callbacks:on_tick\n", "report",
			"%s:3: unknown kind 'slow-callbacks'");
	assert_bad_file("\nslow-callbacks:on_tick\n", "check", "%s:2: unknown kind 'slow-callbacks'");
}

Test(suppressions, malformed_line_is_exit_2_naming_file_and_line)
{
	assert_bad_file("slow-callback:on_tick\non_slow_once\n", "check", "%s:2:");
	assert_bad_file("slow-callback:\n", "report", "%s:1:");
}

Test(suppressions, missing_file_is_exit_2_naming_it)
{
	char *trace = trace_of("slow_timer");
	char *supp = ls_fmt("%s/none.supp", ls_tmpdir());
	struct ls_run r;
	const char *args[] = {"check", "--suppressions", supp, trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2, "%s", r.err);
	ls_assert_one_line(&r, supp);
	ls_run_free(&r);
	free(supp);
	free(trace);
}

Test(suppressions, json_report_without_suppressions_has_an_empty_list)
{
	char *trace = trace_of("slow_timer");
	json_t *doc = ls_report_json(trace);
	json_t *s = json_object_get(doc, "suppressed");

	cr_assert(json_is_array(s) && json_array_size(s) == 0, "suppressed: %s",
		  json_dumps(doc, JSON_COMPACT));
	json_decref(doc);
	free(trace);
}

/* run --fail: 66 while a finding is left, the command's status when the
 * suppressions silence everything. */
Test(suppressions, run_fail_with_everything_suppressed_exits_with_the_command_status)
{
	char *bin = ls_fixture_bin("slow_timer");
	char *all = supp_file("slow-callback:slow_timer\n");
	char *some = supp_file("slow-callback:on_tick\n");
	struct ls_run r;
	const char *args[] = {"run", "--dir", ls_tmpdir(), "--fail", "--suppressions", all,
			      "--", bin, NULL};

	ls_run_viewer(&r, ls_tmpdir(), args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.err, "loopsan: suppressed 2 findings: 2 by 'slow-callback:slow_timer'"),
		  "%s", r.err);
	ls_run_free(&r);

	args[5] = some;
	ls_run_viewer(&r, ls_tmpdir(), args);
	cr_assert_eq(ls_exit_code(&r), 66, "%s", r.err);
	ls_run_free(&r);

	args[5] = "/nonexistent/loopsan.supp";
	ls_run_viewer(&r, ls_tmpdir(), args);
	cr_assert_eq(ls_exit_code(&r), 2, "a bad suppressions file stops run before CMD:\n%s",
		     r.err);
	ls_run_free(&r);
	free(all);
	free(some);
	free(bin);
}

/* ---- the rule each finding carries ---- */

/* report --format json [--suppressions supp] trace: exit status want,
 * the document, stderr in *err (the caller frees it). */
static json_t *report_err(const char *trace, const char *supp, int want, char **err)
{
	struct ls_run r;
	const char *args[] = {"report", "--format", "json", "--suppressions", supp, trace, NULL};

	if (!supp)
		args[3] = trace, args[4] = NULL;
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), want, "stderr:\n%s", r.err);
	json_t *doc = ls_parse_report(&r);
	*err = strdup(r.err);
	ls_run_free(&r);
	return doc;
}

/* Every finding of trace has a suppression, shown in the text report as
 * "suppress with: RULE"; a file of that rule alone silences that finding
 * and no other, and is not noted as matching nothing. Returns how many
 * findings there were. */
static size_t assert_rules_silence_exactly_their_finding(const char *trace)
{
	const char *dir = ls_tmpdir();
	char *err;
	json_t *doc = report_err(trace, NULL, 0, &err);
	json_t *all = json_object_get(doc, "findings");
	size_t n = json_array_size(all);
	struct ls_run r;
	const char *text_args[] = {"report", trace, NULL};

	ls_run_viewer(&r, NULL, text_args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	for (size_t i = 0; i < n; i++) {
		json_t *fi = json_array_get(all, i);
		const char *rule = ls_str(fi, "suppression");
		char *line = ls_fmt("\n  suppress with: %s\n", rule);
		cr_assert(strstr(r.out, line), "no \"%s\" in the text report:\n%s", line, r.out);
		free(line);

		char *text = ls_fmt("# from loopsan's report\n%s\n", rule);
		char *supp = ls_fmt("%s/%zu.supp", dir, i);
		FILE *f = fopen(supp, "w");
		cr_assert(f, "%s: %s", supp, strerror(errno));
		fputs(text, f);
		fclose(f);
		char *err2;
		json_t *left = report_err(trace, supp, 0, &err2);
		json_t *rest = json_object_get(left, "findings");
		cr_assert_eq(json_array_size(rest), n - 1, "'%s' silences exactly one of %zu: %s",
			     rule, n, json_dumps(rest, JSON_COMPACT));
		for (size_t j = 0; j < json_array_size(rest); j++)
			cr_assert_str_neq(ls_str(json_array_get(rest, j), "suppression"), rule,
					  "'%s' left its own finding", rule);
		assert_rule(left, 0, rule, supp, 2, 1);
		cr_assert_eq(err2[0], '\0', "'%s': nothing on stderr:\n%s", rule, err2);
		json_decref(left);
		free(err2);
		free(supp);
		free(text);
	}
	ls_run_free(&r);
	json_decref(doc);
	free(err);
	return n;
}

Test(suppressions, each_rule_a_report_gives_silences_exactly_its_finding)
{
	char *blocking = trace_of("uv_blocking"), *open = trace_of("open_handle");
	const char *dir = ls_tmpdir();
	struct ls_run r;

	cr_assert_eq(assert_rules_silence_exactly_their_finding(blocking), 3);
	cr_assert_eq(assert_rules_silence_exactly_their_finding(open), 3);
	/* a slow loop iteration (no callback) and a blocking call in it */
	ls_run_fixture_arg(&r, "epoll_loop", dir, true, NULL, "sleep");
	ls_run_free(&r);
	char *loop = ls_single_trace(dir);
	cr_assert_geq(assert_rules_silence_exactly_their_finding(loop), 2);
	free(loop);
	free(blocking);
	free(open);
}

Test(suppressions, each_rule_of_asyncio_checks_silences_exactly_its_finding)
{
	ls_need_python(LS_PY_DEBIAN, NULL);
	char *script = ls_py_file("viewer/fixtures", "asyncio_checks.py");
	char *trace = ls_py_run(LS_PY_DEBIAN, script, "asyncio", NULL, "asyncio_checks ok\n");

	cr_assert_eq(assert_rules_silence_exactly_their_finding(trace), 4);
	free(trace);
	free(script);
}

/* The report says "usleep blocked the loop thread": blocking-call:usleep
 * is the rule, and blocking_allow=usleep means the same call. */
Test(suppressions, blocking_call_matches_by_the_blocking_function_as_blocking_allow_does)
{
	char *trace = trace_of("uv_blocking");
	char *supp = supp_file("blocking-call:usleep\n");
	json_t *doc = report_with(trace, supp);

	assert_rule(doc, 0, "blocking-call:usleep", supp, 1, 1);
	json_t *left = ls_only_finding(doc, "blocking-call", NULL);
	cr_assert_str_eq(ls_str(left, "api"), "fsync");
	cr_assert_str_eq(ls_str(left, "suppression"), "blocking-call:fsync");
	json_decref(doc);

	json_t *allowed = ls_fixture_report("uv_blocking", NULL, "blocking_allow=usleep", NULL);
	left = ls_only_finding(allowed, "blocking-call", NULL);
	cr_assert_str_eq(ls_str(left, "api"), "fsync", "blocking_allow=usleep left the same one");
	json_decref(allowed);
	free(supp);
	free(trace);
}

Test(suppressions, rules_that_matched_nothing_are_noted_with_file_and_line)
{
	char *trace = trace_of("slow_timer");
	char *supp = supp_file("slow-callback:on_tick\n# later\nslow-callback:on_nothing\n"
			       "blocking-call:on_tick\n");
	char *err;
	json_t *doc = report_err(trace, supp, 0, &err);
	char *a = ls_fmt("loopsan: %s:3: note: rule 'slow-callback:on_nothing' matched no finding\n",
			 supp);
	char *b = ls_fmt("loopsan: %s:4: note: rule 'blocking-call:on_tick' matched no finding\n",
			 supp);

	cr_assert(strstr(err, a), "no \"%s\" in:\n%s", a, err);
	cr_assert(strstr(err, b), "no \"%s\" in:\n%s", b, err);
	cr_assert_eq(ls_count_lines(err), 2, "only the two:\n%s", err);
	json_decref(doc);
	free(err), free(a), free(b), free(supp), free(trace);
}

Test(suppressions, comment_after_a_rule_and_unclosed_bracket_are_malformed)
{
	assert_bad_file("slow-callback:on_tick # comment\n", "report",
			"%s:1: malformed line 'slow-callback:on_tick # comment' (a '#'");
	assert_bad_file("\n\nslow-callback:[\n", "check",
			"%s:3: malformed line 'slow-callback:[' (a '[' without its ']'");
	assert_bad_file("slow-callback:on_tick\\\n", "check", "%s:1: malformed line");
	assert_bad_file("slow-callback:  \n", "check",
			"%s:1: malformed line 'slow-callback:' (empty pattern)");
}

Test(suppressions, malformed_line_is_shown_escaped)
{
	assert_bad_file("slow-callback\x01on_tick\xff\n", "report",
			"%s:1: malformed line 'slow-callback\\x01on_tick\\xff' (want kind:pattern)");
	assert_bad_file("slow\x1b[31m-callback:on_tick\n", "check",
			"%s:1: unknown kind 'slow\\x1b[31m-callback' in ");
	assert_bad_file("slow-callback:on_\ttick\x7f\n", "check", "malformed line 'slow-callback:on_\\x09tick\\x7f' (a control character");
}

Test(suppressions, escaped_wildcards_and_hash_match_themselves)
{
	char *trace = trace_of("slow_timer");
	char *supp = supp_file("slow-callback:on\\_tick\nslow-callback:on_slow_once\\*\n"
			       "slow-callback:on_slow_onc[e]\n");
	json_t *doc = report_with(trace, supp);

	assert_rule(doc, 0, "slow-callback:on\\_tick", supp, 1, 1);
	assert_rule(doc, 1, "slow-callback:on_slow_once\\*", supp, 2, 0);
	assert_rule(doc, 2, "slow-callback:on_slow_onc[e]", supp, 3, 1);
	json_decref(doc);
	free(supp);
	free(trace);
}

Test(suppressions, rules_matching_every_stack_are_warned_of_one_line_each)
{
	char *trace = trace_of("slow_timer");
	char *supp = supp_file("slow-callback:libc.so.6\nslow-callback:_start\n"
			       "pending-at-close:main\nslow-callback:on_tick\nslow-callback:*\n");
	char *err;
	json_t *doc = report_err(trace, supp, 0, &err);
	const char *names[] = {"libc.so.6", "_start", "main", NULL, "_start"};

	for (int i = 0; i < 5; i++) {
		if (!names[i])
			continue;
		char *w = ls_fmt("loopsan: %s:%d: warning: rule '", supp, i + 1);
		char *m = ls_fmt("' matches '%s', which is on nearly every stack", names[i]);
		char *at = strstr(err, w);
		cr_assert(at, "no \"%s\" in:\n%s", w, err);
		cr_assert(strstr(at, m) && strstr(at, m) < strchr(at, '\n'), "%s: %s", m, err);
		free(w), free(m);
	}
	cr_assert_null(strstr(err, ":4: warning"), "%s", err);
	json_decref(doc);
	free(err), free(supp), free(trace);
}
