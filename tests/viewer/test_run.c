/* `loopsan run [--dir DIR] [--fail] [-O k=v]... -- CMD ARGS`: runs CMD under
 * the shim, prints the text report on stderr, exits with CMD's status (66 with
 * --fail when there are findings). */
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
