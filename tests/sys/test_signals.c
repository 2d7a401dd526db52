/* The watchdog's sampling signal (stuck_signal, SIGRTMAX - 3) is the
 * shim's business only: the program never gets an EINTR from it and never
 * sees it in its own disposition of that signal.
 *
 * tests/sys/fixtures/sig_eintr.c makes short sleeps and polls inside slow
 * callbacks, so that samples land as calls begin; sig_owner.c uses the
 * signal itself after the watchdog has. */
#include "tests/harness.h"

LS_SUITE(signals);

Test(signals, the_watchdogs_samples_never_make_a_call_fail_with_eintr)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	/* Every callback is slow: the watchdog samples it, by signal when
	 * it finds the thread running, thousands of times. */
	ls_run_fixture(&r, "sig_eintr", dir, "slow_callback_ms=1:watchdog=1:stuck_signal=1");
	cr_assert_eq(ls_exit_code(&r), 0, "stderr:\n%s", r.err);
	long runs = -1, calls = -1, eintr = -1;
	cr_assert_eq(sscanf(r.out, "runs %ld calls %ld eintr %ld", &runs, &calls, &eintr), 3,
		     "stdout: %s", r.out);
	cr_assert_eq(calls, 8 * runs);
	cr_assert_eq(eintr, 0, "%ld of %ld calls failed with EINTR under the shim", eintr, calls);
	ls_run_free(&r);

	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_tick");
	cr_assert_not_null(json_object_get(f, "stuck_at"), "never sampled");
	json_decref(rep);
	free(trace);
}

Test(signals, the_program_sees_and_owns_its_disposition_of_the_sampling_signal)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	ls_run_fixture(&r, "sig_owner", dir, "slow_callback_ms=20");
	/* Raised with SIG_DFL at the end: the default action, as without
	 * the shim. */
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGRTMAX - 3,
		  "status %#x, not killed by SIGRTMAX-3\nstdout:\n%s\nstderr:\n%s", r.status,
		  r.out, r.err);
	cr_assert(strstr(r.out, "disposition default, flags 0\n"),
		  "the shim's handler shows:\n%s", r.out);
	cr_assert(strstr(r.out, "own handler ran 1 times, shown yes\n"), "stdout:\n%s", r.out);
	cr_assert(strstr(r.out, "ignored, own handler ran 1 times\n"), "stdout:\n%s", r.out);
	cr_assert_null(strstr(r.out, "still alive"));
	ls_run_free(&r);

	/* The watchdog did sample with the signal before all this. */
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_tick");
	cr_assert_str_eq(ls_str(f, "stuck_how"), "running");
	json_decref(rep);
	free(trace);
}

Test(signals, a_thread_that_blocks_the_signal_is_never_sent_it)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	ls_run_fixture_arg(&r, "sig_owner", dir, true, "slow_callback_ms=20", "blocked");
	cr_assert_eq(ls_exit_code(&r), 0, "stderr:\n%s", r.err);
	cr_assert(strstr(r.out, "pending before raise: no\npending after raise: yes\n"),
		  "stdout:\n%s", r.out);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_tick");
	json_t *how = json_object_get(f, "stuck_how");
	cr_assert(how == NULL || strcmp(json_string_value(how), "running") != 0,
		  "sampled by a signal the thread blocks");
	json_decref(rep);
	free(trace);
}

Test(signals, signals_relatives_see_what_they_would_without_the_shim)
{
	struct ls_run a, b;
	ls_run_fixture_arg(&a, "sig_owner", ls_tmpdir(), false, NULL, "calls");
	ls_run_fixture_arg(&b, "sig_owner", ls_tmpdir(), true, "slow_callback_ms=20", "calls");
	cr_assert_eq(ls_exit_code(&a), 0);
	cr_assert_eq(ls_exit_code(&b), 0, "stderr:\n%s", b.err);
	cr_assert(strstr(a.out, "after siginterrupt"), "stdout:\n%s", a.out);
	cr_assert_str_eq(b.out, a.out);
	ls_run_free(&a);
	ls_run_free(&b);
}

Test(signals, the_fixtures_behave_the_same_without_the_shim)
{
	struct ls_run r;
	ls_run_fixture_ex(&r, "sig_eintr", ls_tmpdir(), false, NULL);
	cr_assert_eq(ls_exit_code(&r), 0);
	cr_assert(strstr(r.out, " eintr 0\n"), "stdout: %s", r.out);
	ls_run_free(&r);
	ls_run_fixture_ex(&r, "sig_owner", ls_tmpdir(), false, NULL);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGRTMAX - 3);
	cr_assert(strstr(r.out, "disposition default, flags 0\n"), "stdout:\n%s", r.out);
	cr_assert(strstr(r.out, "own handler ran 1 times, shown yes\n"), "stdout:\n%s", r.out);
	ls_run_free(&r);
}
