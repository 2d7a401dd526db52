/* Transparency: a program behaves the same with and without the shim. */
#include "tests/harness.h"

LS_SUITE(transparency);

Test(transparency, stdout_and_exit_status_are_unchanged_by_the_shim)
{
	struct ls_run bare, traced;
	const char *d1 = ls_tmpdir(), *d2 = ls_tmpdir();

	ls_run_fixture_ex(&bare, "transparent", d1, false, NULL);
	ls_run_fixture_ex(&traced, "transparent", d2, true, NULL);
	cr_assert_eq(ls_exit_code(&bare), 3, "the fixture itself exits 3");
	cr_assert_eq(ls_exit_code(&traced), 3, "exit status changed under the shim");
	cr_assert_eq(traced.out_len, bare.out_len, "stdout length changed under the shim");
	cr_assert(!memcmp(traced.out, bare.out, bare.out_len),
		  "stdout changed under the shim:\n--- bare\n%s--- traced\n%s", bare.out,
		  traced.out);
	cr_assert(strstr(bare.out, "transparent: exit 3\n"), "fixture output:\n%s", bare.out);
	cr_assert_eq(ls_count_traces(d1), 0, "no trace without the shim");
	cr_assert_eq(ls_count_traces(d2), 1, "one trace in the working directory");
	ls_run_free(&bare);
	ls_run_free(&traced);
}

Test(transparency, stderr_is_empty_when_there_are_no_findings)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "transparent", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 3);
	cr_assert_eq(r.err_len, 0, "the shim wrote on stderr:\n%s", r.err);
	ls_run_free(&r);

	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(json_array_size(json_object_get(rep, "findings")), 0,
		     "a correct program has no findings:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	cr_assert(ls_bool(ls_process(rep), "complete"));
	json_decref(rep);
	free(trace);
}

Test(transparency, shim_prints_one_line_naming_the_report_command_when_there_are_findings)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_timer", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0);
	char *trace = ls_single_trace(dir);
	ls_assert_one_line(&r, "loopsan report");
	cr_assert(strstr(r.err, ls_basename(trace)), "the line must name the trace: %s", r.err);
	cr_assert_eq(r.out_len, 0, "slow_timer prints nothing on stdout");
	ls_run_free(&r);
	free(trace);
}

Test(transparency, trace_is_named_after_the_pid_in_the_working_directory)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_work", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *proc = ls_process(rep);
	cr_assert_eq(ls_int(proc, "pid"), ls_trace_pid(trace));
	cr_assert_str_eq(ls_basename(ls_str(proc, "trace")), ls_basename(trace));
	json_decref(rep);
	free(trace);
}

Test(transparency, refused_calls_return_and_set_errno_as_without_the_shim)
{
	const char *dir = ls_tmpdir();
	struct ls_run plain, traced;

	ls_run_fixture_ex(&plain, "bad_input", dir, false, NULL);
	ls_run_fixture_ex(&traced, "bad_input", dir, true, NULL);
	cr_assert_eq(ls_exit_code(&plain), 0, "%s", plain.err);
	cr_assert_eq(ls_exit_code(&traced), 0, "%s", traced.err);
	cr_assert_str_eq(traced.out, plain.out);
	cr_assert(strstr(plain.out, "timer_start: ok errno=1234"), "%s", plain.out);
	cr_assert(strstr(plain.out, "fs_stat NULL req: EINVAL errno=1234"), "%s", plain.out);
	cr_assert(strstr(plain.out, "read_start NULL stream: EINVAL"), "%s", plain.out);
	cr_assert(strstr(plain.out, "failed execv: -1 errno=2"), "%s", plain.out);
	cr_assert(strstr(plain.out, "idle1 ran"), "libuv keeps an active idle's callback:\n%s", plain.out);
	cr_assert(strstr(plain.out, "sig1 ran"), "a refused start keeps the callback:\n%s", plain.out);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

Test(transparency, tcp_close_reset_closes_through_the_shim)
{
	const char *dir = ls_tmpdir();
	struct ls_run plain, traced;

	ls_run_fixture_ex(&plain, "close_reset", dir, false, NULL);
	ls_run_fixture_ex(&traced, "close_reset", dir, true, NULL);
	cr_assert_eq(ls_exit_code(&traced), ls_exit_code(&plain));
	cr_assert_str_eq(traced.out, plain.out);
	cr_assert(strstr(plain.out, "closed\nloop close: 0"), "%s", plain.out);
	ls_run_free(&plain);
	ls_run_free(&traced);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "the handle was closed: nothing left at exit");
	json_decref(rep);
	free(trace);
}
