/* `loopsan run [--dir DIR] [--fail[=CODE]] [-O k=v]... -- CMD ARGS`: runs CMD
 * under the shim, prints the text report on stderr, exits with CMD's status
 * (with --fail, 66 or CODE when CMD succeeded and there are findings); a bad
 * -O pair is a usage error before CMD starts. */
#include "tests/harness.h"

LS_SUITE(run);

/* loopsan run [opts...] -- build/fixtures/fixture, in a fresh dir whose
 * traces go to tracedir. */
static void loopsan_run(struct ls_run *r, const char *fixture, const char *tracedir,
			const char *const *opts)
{
	char *bin = ls_fixture_bin(fixture);
	const char *args[16];
	size_t n = 0;

	args[n++] = "run";
	args[n++] = "--dir";
	args[n++] = tracedir;
	for (size_t i = 0; opts && opts[i] && n < 12; i++)
		args[n++] = opts[i];
	args[n++] = "--";
	args[n++] = bin;
	args[n] = NULL;
	ls_run_viewer(r, ls_tmpdir(), args);
	free(bin);
}

Test(run, exit_status_and_stdout_of_the_command_pass_through)
{
	struct ls_run bare, r;
	const char *dir = ls_tmpdir();

	ls_run_fixture_ex(&bare, "transparent", ls_tmpdir(), false, NULL);
	loopsan_run(&r, "transparent", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 3, "CMD's status is loopsan run's:\n%s", r.err);
	cr_assert_str_eq(r.out, bare.out, "CMD's stdout passes through");
	cr_assert_eq(ls_count_traces(dir), 1, "the trace goes to --dir");
	cr_assert_null(strstr(r.err, "SUMMARY: loopsan:"), "no findings, no report:\n%s", r.err);
	ls_run_free(&bare);
	ls_run_free(&r);
}

Test(run, fail_with_no_findings_keeps_the_command_status)
{
	struct ls_run r;

	const char *const opts[] = {"--fail", NULL};

	loopsan_run(&r, "transparent", ls_tmpdir(), opts);
	cr_assert_eq(ls_exit_code(&r), 3, "%s", r.err);
	ls_run_free(&r);
}

Test(run, text_report_goes_to_stderr_and_status_is_the_command_s)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	loopsan_run(&r, "slow_timer", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	char *trace = ls_single_trace(dir);
	char *head = ls_fmt("==%ld== slow-callback", ls_trace_pid(trace));
	cr_assert(strstr(r.err, head), "no \"%s\" block on stderr:\n%s", head, r.err);
	cr_assert(strstr(r.err, "on_slow_once"), "%s", r.err);
	cr_assert(strstr(r.err, "SUMMARY: loopsan:"), "%s", r.err);
	cr_assert_eq(r.out_len, 0, "the report is not on stdout:\n%s", r.out);
	ls_run_free(&r);
	free(head);
	free(trace);
}

Test(run, fail_exits_66_when_there_are_findings)
{
	struct ls_run r;

	const char *const opts[] = {"--fail", NULL};

	loopsan_run(&r, "slow_timer", ls_tmpdir(), opts);
	cr_assert_eq(ls_exit_code(&r), 66, "%s", r.err);
	ls_run_free(&r);
}

Test(run, O_option_reaches_the_shim)
{
	struct ls_run r;
	const char *const plain[] = {"-O", "slow_callback_ms=1000", NULL};
	const char *const fail[] = {"--fail", "-O", "slow_callback_ms=1000", NULL};

	loopsan_run(&r, "slow_timer", ls_tmpdir(), plain);
	/* no --fail: status 0 either way; check the report instead */
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_null(strstr(r.err, "slow-callback"), "150 ms is under 1000 ms:\n%s", r.err);
	ls_run_free(&r);

	loopsan_run(&r, "slow_timer", ls_tmpdir(), fail);
	cr_assert_eq(ls_exit_code(&r), 0, "no findings with -O slow_callback_ms=1000:\n%s", r.err);
	ls_run_free(&r);
}

/* A daemon started as root that switches to nobody before its first loop
 * call (memcached -u nobody): the trace is made before the switch, in a
 * directory only root may write, root's and 0600. */
Test(run, a_program_that_drops_root_before_its_loop_leaves_root_s_trace)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	struct ls_run r;
	const char *dir = ls_tmpdir(); /* mkdtemp: 0700, root's */

	loopsan_run(&r, "drop_root", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_null(strstr(r.err, "cannot create trace"), "%s", r.err);
	char *trace = ls_single_trace(dir);
	struct stat st;
	cr_assert_eq(stat(trace, &st), 0);
	cr_assert_eq(st.st_uid, 0, "owned by the user who started it, not %d", (int)st.st_uid);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", (unsigned)(st.st_mode & 07777));
	cr_assert(strstr(r.err, "slow-callback"), "%s", r.err);
	cr_assert(strstr(r.err, "on_slow_after_drop"), "%s", r.err);
	ls_run_free(&r);
	free(trace);
}

/* loopsan run [opts...] -- argv... in a fresh dir, traces to tracedir. */
static void loopsan_run_argv(struct ls_run *r, const char *tracedir, const char *const *opts,
			     const char *const *argv)
{
	const char *args[24];
	size_t n = 0;

	args[n++] = "run";
	args[n++] = "--dir";
	args[n++] = tracedir;
	for (size_t i = 0; opts && opts[i]; i++)
		args[n++] = opts[i];
	args[n++] = "--";
	for (size_t i = 0; argv[i] && n < 23; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	ls_run_viewer(r, ls_tmpdir(), args);
}

Test(run, a_static_program_is_said_to_be_out_of_the_shim_s_reach)
{
	struct ls_run r;

	loopsan_run(&r, "static_hello", ls_tmpdir(), NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "the status is the program's:\n%s", r.err);
	cr_assert(strstr(r.out, "hello from a static program"), "%s", r.out);
	cr_assert(strstr(r.err, "the shim was not loaded"), "%s", r.err);
	cr_assert(strstr(r.err, "static executable"), "%s", r.err);
	cr_assert_null(strstr(r.err, "no loop calls"), "%s", r.err);
	ls_run_free(&r);
}

Test(run, a_program_killed_by_a_signal_is_said_to_be_killed_by_it)
{
	static const struct { const char *sig; int num; } cases[] = {
		{ "KILL", SIGKILL }, { "SEGV", SIGSEGV },
	};
	for (size_t i = 0; i < 2; i++) {
		struct ls_run r;
		char *script = ls_fmt("kill -%s $$", cases[i].sig);
		const char *const argv[] = { "/bin/sh", "-c", script, NULL };
		char *said = ls_fmt("killed by SIG%s", cases[i].sig);

		loopsan_run_argv(&r, ls_tmpdir(), NULL, argv);
		cr_assert_eq(ls_exit_code(&r), 128 + cases[i].num, "%s", r.err);
		cr_assert(strstr(r.err, said), "no \"%s\":\n%s", said, r.err);
		cr_assert_null(strstr(r.err, "no loop calls"), "%s", r.err);
		ls_run_free(&r);
		free(said);
		free(script);
	}
}

/* gcc's ASan runtime is a DT_NEEDED library that refuses to run unless it
 * is loaded first: run puts it before the shim. */
Test(run, an_asan_build_runs_and_is_reported)
{
	struct ls_run r;

	loopsan_run(&r, "asan_slow", ls_tmpdir(), NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_null(strstr(r.err, "ASan runtime does not come first"), "%s", r.err);
	cr_assert(strstr(r.err, "slow-callback"), "%s", r.err);
	cr_assert(strstr(r.err, "on_slow_under_asan"), "%s", r.err);
	ls_run_free(&r);
}

/* The parent exits at once; run waits for the daemon it left (run is its
 * subreaper) and reports the daemon's trace. */
Test(run, a_daemonizing_program_s_child_is_waited_for_and_reported)
{
	struct ls_run r;

	loopsan_run(&r, "daemonize", ls_tmpdir(), NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.err, "slow-callback"), "%s", r.err);
	cr_assert(strstr(r.err, "on_slow_in_daemon"), "%s", r.err);
	cr_assert_null(strstr(r.err, "no loop calls"), "%s", r.err);
	ls_run_free(&r);
}

Test(run, a_daemon_still_running_at_the_bound_is_named_with_its_trace)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	const char *const opts[] = { "--wait", "0", NULL };

	loopsan_run(&r, "daemonize", dir, opts);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	const char *at = strstr(r.err, "still running after 0 s: pid ");
	cr_assert(at, "%s", r.err);
	long pid = strtol(at + strlen("still running after 0 s: pid "), NULL, 10);
	char *trace = ls_fmt("its trace: %s/loopsan.%ld.trace", dir, pid);
	cr_assert(strstr(r.err, trace), "no \"%s\":\n%s", trace, r.err);
	cr_assert(strstr(r.err, "(daemonize)"), "%s", r.err);
	kill((pid_t)pid, SIGKILL);
	ls_run_free(&r);
	free(trace);
}

/* The shim could not create the trace (a directory the program may not
 * write): run passes on the shim's own reason, naming the error and the
 * directory, and leaves nothing of its side channel behind. As root the
 * program is made nobody's by setpriv (which the shim does not see switch
 * users), in a directory only root may write. */
Test(run, the_shim_s_reason_is_passed_on_when_it_cannot_create_the_trace)
{
	const char *dir = ls_tmpdir(), *tmp = ls_tmpdir();
	char *bin = ls_fixture_bin("slow_timer"), *viewer = ls_viewer();
	char *tmpdir = ls_fmt("TMPDIR=%s", tmp);
	const char *env[] = { tmpdir, NULL };
	struct ls_run r;

	cr_assert_eq(chmod(tmp, 0755), 0);  /* reachable by nobody */
	if (geteuid() == 0) {
		if (access("/usr/bin/setpriv", X_OK) != 0)
			cr_skip_test("/usr/bin/setpriv missing (util-linux)");
		cr_assert_eq(chmod(dir, 0755), 0);
		const char *argv[] = { viewer, "run", "--dir", dir, "--", "/usr/bin/setpriv",
				       "--reuid=65534", "--regid=65534", "--clear-groups", bin,
				       NULL };
		ls_run(&r, ls_tmpdir(), env, argv);
	} else {
		cr_assert_eq(chmod(dir, 0555), 0);
		const char *argv[] = { viewer, "run", "--dir", dir, "--", bin, NULL };
		ls_run(&r, ls_tmpdir(), env, argv);
	}
	cr_assert_eq(ls_exit_code(&r), 0, "the status is the program's:\n%s", r.err);
	cr_assert_eq(ls_count_traces(dir), 0);
	char *where = ls_fmt("cannot create trace %s/loopsan.", dir);
	/* run's own line, not only the shim's (which it cannot see) */
	const char *line = strstr(r.err, "loopsan: slow_timer produced no trace: pid ");
	if (geteuid() == 0)
		line = strstr(r.err, "loopsan: /usr/bin/setpriv produced no trace: pid ");
	cr_assert(line, "%s", r.err);
	cr_assert(strstr(line, where), "run names the directory:\n%s", r.err);
	cr_assert(strstr(line, "Permission denied"), "run names the error:\n%s", r.err);
	cr_assert_null(strstr(r.err, "no loop calls"), "%s", r.err);
	DIR *d = opendir(tmp);
	struct dirent *e;
	int left = 0;
	while (d && (e = readdir(d)))
		left += e->d_name[0] != '.';
	closedir(d);
	cr_assert_eq(left, 0, "run's notes directory was left in %s", tmp);
	ls_run_free(&r);
	free(where);
	free(tmpdir);
	free(bin);
	free(viewer);
}

/* A -O pair the shim would refuse: exit 2, one line naming it, and the
 * command never starts (it would leave a file behind). */
Test(run, a_bad_O_pair_is_a_usage_error_and_the_command_does_not_run)
{
	static const struct { const char *pair, *said; } cases[] = {
		{ "slow_callback_ms=soon", "slow_callback_ms='soon': bad value, want 1..3600000 (default 100)" },
		{ "stacks=2", "stacks='2': bad value, want 0 or 1 (default 1)" },
		{ "bogus_key=1", "'bogus_key': unknown option" },
		{ "no_equals", "'-O no_equals'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ls_run r;
		const char *dir = ls_tmpdir();
		char *marker = ls_fmt("%s/ran", dir);
		char *script = ls_fmt("touch %s", marker);
		const char *const opts[] = { "-O", cases[i].pair, NULL };
		const char *const argv[] = { "/bin/sh", "-c", script, NULL };

		loopsan_run_argv(&r, dir, opts, argv);
		cr_assert_eq(ls_exit_code(&r), 2, "-O %s:\n%s", cases[i].pair, r.err);
		ls_assert_one_line(&r, cases[i].said);
		cr_assert_eq(access(marker, F_OK), -1, "-O %s: the command ran", cases[i].pair);
		ls_run_free(&r);
		free(script);
		free(marker);
		ls_cleanup();
	}
}

/* LOOPSAN_OPTIONS from the environment is checked like -O: each bad pair
 * one line, exit 2, the command not run; good pairs run as before. */
Test(run, a_bad_pair_in_the_environment_s_options_is_a_usage_error)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	char *viewer = ls_viewer();
	char *marker = ls_fmt("%s/ran", dir);
	char *script = ls_fmt("touch %s", marker);
	const char *const argv[] = { viewer, "run", "--dir", dir, "--", "/bin/sh", "-c", script, NULL };
	const char *const bad[] = { "LOOPSAN_OPTIONS=slow_callback_ms=soon:bogus_key=1", NULL };

	ls_run(&r, dir, bad, argv);
	cr_assert_eq(ls_exit_code(&r), 2, "%s", r.err);
	cr_assert_str_eq(r.err,
			 "loopsan: run: LOOPSAN_OPTIONS: slow_callback_ms='soon': bad value, want "
			 "1..3600000 (default 100)\n"
			 "loopsan: run: LOOPSAN_OPTIONS: 'bogus_key': unknown option (help=1 lists them)\n");
	cr_assert_eq(access(marker, F_OK), -1, "the command ran");
	ls_run_free(&r);

	const char *const good[] = { "LOOPSAN_OPTIONS=stacks=0, slow_callback_ms=50", NULL };
	ls_run(&r, dir, good, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(access(marker, F_OK), 0, "the command did not run:\n%s", r.err);
	cr_assert_null(strstr(r.err, "LOOPSAN_OPTIONS"), "the shim took them all:\n%s", r.err);
	ls_run_free(&r);
	free(script);
	free(marker);
	free(viewer);
}

Test(run, an_O_value_with_separators_reaches_the_shim_whole)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	char *sub = ls_fmt("%s/traces: a, b", dir);
	char *pair = ls_fmt("dir=%s", sub);
	const char *const opts[] = { "-O", "slow_callback_ms=50,stacks=1", NULL };

	/* run's own --dir from -O dir=, quoted for the shim */
	cr_assert_eq(mkdir(sub, 0755), 0);
	char *bin = ls_fixture_bin("slow_work");
	const char *args[] = { "run", "-O", pair, "-O", "blocking_allow=fsync,sync", "--", bin, NULL };
	ls_run_viewer(&r, ls_tmpdir(), args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_null(strstr(r.err, "LOOPSAN_OPTIONS"), "%s", r.err);
	cr_assert_eq(ls_count_traces(sub), 1, "the trace goes to \"%s\":\n%s", sub, r.err);
	ls_run_free(&r);
	/* a value of -O may hold the pairs of a list itself */
	loopsan_run(&r, "slow_work", ls_tmpdir(), opts);
	cr_assert_eq(ls_exit_code(&r), 2, "'50,stacks=1' is no number:\n%s", r.err);
	ls_run_free(&r);
	free(bin);
	free(pair);
	free(sub);
}

/* The crash fixture dies of SIGSEGV in a callback (a crash-in-callback
 * finding): --fail keeps 139, the program's own failure. */
Test(run, fail_keeps_a_crashed_program_s_status)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	const char *const opts[] = { "--fail", NULL };

	loopsan_run(&r, "crash", dir, opts);
	cr_assert_eq(ls_exit_code(&r), 128 + SIGSEGV, "%s", r.err);
	cr_assert(strstr(r.err, "crash-in-callback"), "the crash is a finding:\n%s", r.err);
	ls_run_free(&r);
}

Test(run, fail_keeps_a_failing_program_s_own_status_with_findings)
{
	struct ls_run r;
	char *bin = ls_fixture_bin("slow_timer");
	char *script = ls_fmt("%s; exit 5", bin);
	const char *const opts[] = { "--fail", NULL };
	const char *const argv[] = { "/bin/sh", "-c", script, NULL };

	loopsan_run_argv(&r, ls_tmpdir(), opts, argv);
	cr_assert_eq(ls_exit_code(&r), 5, "%s", r.err);
	cr_assert(strstr(r.err, "on_slow_once"), "there are findings:\n%s", r.err);
	ls_run_free(&r);
	free(script);
	free(bin);
}

Test(run, fail_with_a_code_exits_with_it_when_the_program_succeeded)
{
	struct ls_run r;
	const char *const nine[] = { "--fail=9", NULL };

	loopsan_run(&r, "slow_timer", ls_tmpdir(), nine);
	cr_assert_eq(ls_exit_code(&r), 9, "%s", r.err);
	ls_run_free(&r);

	loopsan_run(&r, "transparent", ls_tmpdir(), nine);
	cr_assert_eq(ls_exit_code(&r), 3, "no findings: the program's status\n%s", r.err);
	ls_run_free(&r);

	static const char *const bad[] = { "--fail=0", "--fail=256", "--fail=x", "--fail=" };
	for (size_t i = 0; i < 4; i++) {
		const char *const opts[] = { bad[i], NULL };
		loopsan_run(&r, "transparent", ls_tmpdir(), opts);
		cr_assert_eq(ls_exit_code(&r), 2, "%s:\n%s", bad[i], r.err);
		ls_assert_one_line(&r, "--fail=CODE");
		ls_run_free(&r);
		ls_cleanup();
	}
}
