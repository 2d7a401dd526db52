/* LOOPSAN_OPTIONS: key=value pairs separated by ':', ',' or white space; a
 * bad key or value is named once on stderr (key, value, range, default) and
 * the program still runs with the defaults; help=1 lists the options;
 * log_path takes the shim's stderr lines. */
#include "tests/harness.h"

LS_SUITE(options);

Test(options, unknown_key_is_named_once_on_stderr_and_the_program_still_runs)
{
	struct ls_run bare, r;
	const char *d1 = ls_tmpdir(), *d2 = ls_tmpdir();

	ls_run_fixture_ex(&bare, "transparent", d1, false, NULL);
	ls_run_fixture(&r, "transparent", d2, "bogus_key=1");
	cr_assert_eq(ls_exit_code(&r), 3);
	ls_assert_one_line(&r, "bogus_key");
	cr_assert_str_eq(r.out, bare.out, "stdout changed");
	cr_assert_eq(ls_count_traces(d2), 1, "the program is still traced");
	ls_run_free(&bare);
	ls_run_free(&r);
}

Test(options, bad_value_is_named_on_stderr_and_the_default_threshold_is_used)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_timer", dir, "slow_callback_ms=soon");
	cr_assert_eq(ls_exit_code(&r), 0);
	/* stderr: the line about the option, then the shim's summary line. */
	char *first = strndup(r.err, strcspn(r.err, "\n"));
	cr_assert(strstr(first, "slow_callback_ms"), "bad value not named first:\n%s", r.err);
	free(first);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow_once");
	cr_assert_eq(ls_num(f, "threshold_ms"), 100.0, "default threshold");
	json_decref(rep);
	free(trace);
}

Test(options, high_slow_callback_ms_suppresses_the_150ms_finding)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_timer", dir, "slow_callback_ms=1000");
	cr_assert_eq(ls_exit_code(&r), 0);
	cr_assert_eq(r.err_len, 0, "no findings, so nothing on stderr:\n%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 0,
		     "150 ms is under a 1000 ms threshold:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);
	free(trace);
}

Test(options, low_slow_callback_ms_is_the_reported_threshold)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_work", dir, "slow_callback_ms=50");
	cr_assert_eq(ls_exit_code(&r), 0);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "after_slow");
	cr_assert_eq(ls_num(f, "threshold_ms"), 50.0);
	json_decref(rep);
	free(trace);
}

Test(options, dir_option_puts_the_trace_there_not_in_the_working_directory)
{
	struct ls_run r;
	const char *cwd = ls_tmpdir(), *out = ls_tmpdir();
	char *opt = ls_fmt("dir=%s:slow_callback_ms=100", out);

	ls_run_fixture(&r, "slow_work", cwd, opt);
	cr_assert_eq(ls_exit_code(&r), 0);
	cr_assert_eq(ls_count_traces(cwd), 0, "trace written to the working directory");
	char *trace = ls_single_trace(out);
	json_t *rep = ls_report_json(trace);
	ls_only_finding(rep, "slow-callback", "after_slow");
	json_decref(rep);
	ls_run_free(&r);
	free(trace);
	free(opt);
}

Test(options, stack_cache_off_gives_the_same_creation_sites)
{
	const char *modes[] = {"stack_cache=1", "stack_cache=0"};
	int lines[2];

	for (int m = 0; m < 2; m++) {
		struct ls_run r;
		const char *dir = ls_tmpdir();
		ls_run_fixture(&r, "slow_timer", dir, modes[m]);
		cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
		cr_assert_null(strstr(r.err, "LOOPSAN_OPTIONS"), "%s accepted:\n%s", modes[m], r.err);
		ls_run_free(&r);
		char *trace = ls_single_trace(dir);
		json_t *rep = ls_report_json(trace);
		json_t *f = ls_only_finding(rep, "slow-callback", "on_tick");
		json_t *frame = json_array_get(json_object_get(f, "created_at"), 0);
		lines[m] = (int)ls_int(frame, "line");
		cr_assert_eq(lines[m], ls_marker_line("slow_timer", "tick_start"), "%s", modes[m]);
		json_decref(rep);
		free(trace);
	}
}

Test(options, each_separator_divides_pairs)
{
	static const char *const seps[] = {":", ",", " ", "\t", " , "};

	for (size_t i = 0; i < sizeof(seps) / sizeof(seps[0]); i++) {
		struct ls_run r;
		const char *cwd = ls_tmpdir(), *out = ls_tmpdir();
		char *opt = ls_fmt("slow_callback_ms=50%sdir=%s", seps[i], out);

		ls_run_fixture(&r, "slow_work", cwd, opt);
		cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
		cr_assert_null(strstr(r.err, "LOOPSAN_OPTIONS"), "separator '%s' refused:\n%s",
			       seps[i], r.err);
		cr_assert_eq(ls_count_traces(cwd), 0, "separator '%s': dir= lost", seps[i]);
		char *trace = ls_single_trace(out);
		json_t *rep = ls_report_json(trace);
		json_t *f = ls_only_finding(rep, "slow-callback", "after_slow");
		cr_assert_eq(ls_num(f, "threshold_ms"), 50.0, "separator '%s'", seps[i]);
		json_decref(rep);
		ls_run_free(&r);
		free(trace);
		free(opt);
		ls_cleanup();
	}
}

Test(options, a_comma_inside_a_list_value_stays_in_the_value)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	/* blocking_allow is itself ','-separated: a ',' not followed by key= is
	 * the value's, and a quoted value may hold any separator. */
	ls_run_fixture(&r, "transparent", dir,
		       "blocking_allow=fsync,fdatasync:mode='timeline':stacks=1");
	cr_assert_eq(ls_exit_code(&r), 3);
	cr_assert_eq(r.err_len, 0, "accepted without a word:\n%s", r.err);
	ls_run_free(&r);
}

Test(options, a_bad_value_names_key_value_range_and_default_in_one_line)
{
	struct ls_run bare, r;

	ls_run_fixture_ex(&bare, "transparent", ls_tmpdir(), false, NULL);
	ls_run_fixture(&r, "transparent", ls_tmpdir(), "stack_depth=999");
	cr_assert_eq(ls_exit_code(&r), 3, "the program runs on");
	ls_assert_one_line(&r, "stack_depth='999'");
	cr_assert(strstr(r.err, "1..64"), "no range: %s", r.err);
	cr_assert(strstr(r.err, "default 16"), "no default: %s", r.err);
	cr_assert_str_eq(r.out, bare.out, "stdout changed");
	ls_run_free(&r);

	ls_run_fixture(&r, "transparent", ls_tmpdir(), "mode=fast");
	ls_assert_one_line(&r, "mode='fast'");
	cr_assert(strstr(r.err, "summary or timeline") && strstr(r.err, "default summary"),
		  "%s", r.err);
	ls_run_free(&r);
	ls_run_free(&bare);
}

Test(options, an_unknown_key_given_twice_is_named_once)
{
	struct ls_run r;

	ls_run_fixture(&r, "transparent", ls_tmpdir(), "bogus_key=1:slow_callback_ms=100 bogus_key=2");
	cr_assert_eq(ls_exit_code(&r), 3);
	ls_assert_one_line(&r, "'bogus_key': unknown option");
	ls_run_free(&r);
}

Test(options, help_lists_every_option_on_stderr_and_the_program_runs_unchanged)
{
	static const char *const names[] = {
		"slow_callback_ms", "slow_selector_ms", "blocking_min_ms", "blocking_allow",
		"dir", "mode", "stacks", "stack_depth", "stack_cache", "watchdog",
		"stuck_signal", "halt_on_wrong_thread", "python", "log_path", "session", "help",
	};
	struct ls_run bare, r;

	ls_run_fixture_ex(&bare, "transparent", ls_tmpdir(), false, NULL);
	ls_run_fixture(&r, "transparent", ls_tmpdir(), "help=1");
	cr_assert_eq(ls_exit_code(&r), 3, "the program runs on");
	cr_assert_str_eq(r.out, bare.out, "stdout changed");
	cr_assert_eq(ls_count_lines(r.err), 1 + (int)(sizeof(names) / sizeof(names[0])),
		     "a heading and one line per option:\n%s", r.err);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *line = ls_fmt("loopsan:   %s ", names[i]);
		cr_assert(strstr(r.err, line), "%s not listed:\n%s", names[i], r.err);
		free(line);
	}
	cr_assert(strstr(r.err, "default 100               1..3600000: a callback that runs"),
		  "slow_callback_ms's default, range and meaning:\n%s", r.err);
	ls_run_free(&r);
	ls_run_free(&bare);
}

Test(options, log_path_receives_the_exit_line_and_stderr_has_none)
{
	struct ls_run bare, r;
	const char *dir = ls_tmpdir();
	char *log = ls_fmt("%s/loopsan.log", dir);
	char *opt = ls_fmt("log_path=%s", log);

	/* appended: what the file held stays */
	int fd = open(log, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0 && write(fd, "before\n", 7) == 7);
	close(fd);
	ls_run_fixture_ex(&bare, "slow_timer", ls_tmpdir(), false, NULL);
	ls_run_fixture(&r, "slow_timer", dir, opt);
	cr_assert_eq(ls_exit_code(&r), 0);
	cr_assert_eq(r.err_len, 0, "stderr is not the shim's:\n%s", r.err);
	cr_assert_str_eq(r.out, bare.out, "stdout changed");
	size_t len;
	char *text = ls_read_file(log, &len);
	cr_assert(!strncmp(text, "before\n", 7), "not appended:\n%s", text);
	cr_assert(strstr(text, " slow callback") && strstr(text, "see: loopsan report"),
		  "no exit line in the log:\n%s", text);
	free(text);
	ls_run_free(&r);
	ls_run_free(&bare);
	free(opt);
	free(log);
}

Test(options, a_relative_log_path_is_created_0600_where_the_program_started)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	char *log = ls_fmt("%s/rel.log", dir);

	/* bogus_key's line goes to the log too, though log_path comes after it */
	ls_run_fixture(&r, "transparent", dir, "bogus_key=1:log_path=rel.log");
	cr_assert_eq(ls_exit_code(&r), 3);
	cr_assert_eq(r.err_len, 0, "%s", r.err);
	struct stat st;
	cr_assert_eq(stat(log, &st), 0, "%s not created", log);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", (unsigned)(st.st_mode & 07777));
	size_t len;
	char *text = ls_read_file(log, &len);
	cr_assert(strstr(text, "'bogus_key': unknown option"), "%s", text);
	free(text);
	ls_run_free(&r);
	free(log);
}

Test(options, an_unwritable_log_path_is_said_once_and_the_lines_go_to_stderr)
{
	struct ls_run bare, r;
	const char *dir = ls_tmpdir();
	char *log = ls_fmt("%s/no/such/dir/loopsan.log", dir);
	char *opt = ls_fmt("log_path=%s", log);

	ls_run_fixture_ex(&bare, "slow_timer", ls_tmpdir(), false, NULL);
	ls_run_fixture(&r, "slow_timer", dir, opt);
	cr_assert_eq(ls_exit_code(&r), 0, "the program runs on");
	cr_assert_str_eq(r.out, bare.out, "stdout changed");
	char *said = ls_fmt("loopsan: cannot open log_path %s: No such file or directory", log);
	cr_assert(!strncmp(r.err, said, strlen(said)), "first line:\n%s", r.err);
	cr_assert_eq(ls_count_lines(r.err), 2, "that line and the exit line:\n%s", r.err);
	cr_assert(strstr(r.err, " slow callback"), "%s", r.err);
	ls_run_free(&r);
	ls_run_free(&bare);
	free(said);
	free(opt);
	free(log);
}

Test(options, log_path_does_not_follow_a_symlink)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	char *target = ls_fmt("%s/target", dir), *link = ls_fmt("%s/link", dir);
	char *opt = ls_fmt("log_path=%s:bogus_key=1", link);

	cr_assert_eq(symlink(target, link), 0);
	ls_run_fixture(&r, "transparent", dir, opt);
	cr_assert_eq(ls_exit_code(&r), 3);
	cr_assert_eq(access(target, F_OK), -1, "written through the symlink");
	cr_assert(strstr(r.err, "cannot open log_path") && strstr(r.err, "bogus_key"), "%s",
		  r.err);
	ls_run_free(&r);
	free(opt);
	free(target);
	free(link);
}
