/* Stream callbacks (read, alloc, connection, write, connect) are timed like
 * any other, and a failed request with no callback is a dropped-error. */
#include "tests/harness.h"

LS_SUITE(streams);

/* Runs fixture [arg] under the shim in a new dir: its report, and its
 * stdout in *out (caller frees) when out is not NULL. */
static json_t *report_of(const char *fixture, const char *arg, char **out)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture_arg(&r, fixture, dir, true, NULL, arg);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	if (out)
		*out = strdup(r.out);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	free(trace);
	return rep;
}

Test(streams, slow_read_callback_is_reported_with_the_read_start_site)
{
	json_t *rep = report_of("tcp_slow_read", NULL, NULL);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_server_read");

	cr_assert_str_eq(ls_str(f, "api"), "uv_read_start");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_geq(ls_num(f, "max_ms"), 149.5);
	ls_assert_frame(f, "created_at", 0, "on_connection", "tcp_slow_read.c",
			ls_marker_line("tcp_slow_read", "server_read"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 1, "only the slow read is a finding");
	json_decref(rep);
}

Test(streams, tcp_echo_output_is_the_same_with_and_without_the_shim)
{
	const char *dir = ls_tmpdir();
	struct ls_run plain, traced;

	ls_run_fixture_ex(&plain, "tcp_slow_read", dir, false, NULL);
	ls_run_fixture_ex(&traced, "tcp_slow_read", dir, true, NULL);
	cr_assert_eq(ls_exit_code(&plain), ls_exit_code(&traced));
	cr_assert_str_eq(plain.out, traced.out);
	cr_assert(strstr(plain.out, "client got 4 bytes"), "%s", plain.out);
	cr_assert(strstr(plain.out, "loop close: 0"), "%s", plain.out);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

Test(streams, write_error_without_callback_is_a_dropped_error)
{
	json_t *rep = report_of("dropped_write", NULL, NULL);
	json_t *f = ls_only_finding(rep, "dropped-error", NULL);

	cr_assert_str_eq(ls_str(f, "api"), "uv_write");
	cr_assert_str_eq(ls_str(f, "error"), "EPIPE");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_null(json_object_get(f, "callback"), "the bug is that there is none");
	ls_assert_frame(f, "created_at", 0, "send_report", "dropped_write.c",
			ls_marker_line("dropped_write", "dropped_write"));
	json_decref(rep);
}

Test(streams, write_error_with_a_callback_is_no_finding)
{
	char *out = NULL;
	json_t *rep = report_of("dropped_write", "handled", &out);

	cr_assert(strstr(out, "write: EPIPE"), "the callback gets the error:\n%s", out);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "the error was received");
	json_decref(rep);
	free(out);
}
