/* One-shot requests and the calls around them: async uv_fs_*, uv_getaddrinfo,
 * uv_getnameinfo, uv_random, uv_spawn's exit callback and uv_walk. A slow
 * callback is reported with the API that registered it and the line of that
 * call; fast ones are only counted; synchronous calls (NULL callback) and
 * every output of the program are as without the shim. */
#include "tests/harness.h"

LS_SUITE(requests);

/* Runs fixture under the shim in a fresh dir, expects exit status 0 and an
 * empty stdout diff against a run without the shim; returns the trace. */
static char *traced_run(const char *fixture, struct ls_run *traced)
{
	struct ls_run bare;
	const char *d1 = ls_tmpdir(), *d2 = ls_tmpdir();

	ls_run_fixture_ex(&bare, fixture, d1, false, NULL);
	ls_run_fixture_ex(traced, fixture, d2, true, NULL);
	cr_assert_eq(ls_exit_code(&bare), 0, "%s exited %d without the shim\n%s", fixture,
		     ls_exit_code(&bare), bare.err);
	cr_assert_eq(ls_exit_code(traced), 0, "%s exited %d under the shim\n%s", fixture,
		     ls_exit_code(traced), traced->err);
	cr_assert(traced->out_len == bare.out_len && !memcmp(traced->out, bare.out, bare.out_len),
		  "%s: stdout changed under the shim:\n--- bare\n%s--- traced\n%s", fixture,
		  bare.out, traced->out);
	cr_assert_eq(ls_count_traces(d1), 0);
	ls_run_free(&bare);
	return ls_single_trace(d2);
}

/* Site of callback: registered by api, count runs, at function:marker of fixture. */
static void assert_site(json_t *stats, const char *callback, const char *api, long count,
			const char *fixture, const char *function, const char *marker)
{
	json_t *s = ls_stats_site(stats, callback);
	json_t *at = json_object_get(s, "registered_at");

	cr_assert_str_eq(ls_str(s, "api"), api, "%s: api", callback);
	cr_assert_eq(ls_int(s, "count"), count, "%s ran %lld times, not %ld", callback,
		     (long long)ls_int(s, "count"), count);
	char *file = ls_fmt("%s.c", fixture);

	cr_assert(json_is_object(at), "%s has no registered_at", callback);
	cr_assert_str_eq(ls_str(at, "function"), function, "%s: registered_at.function", callback);
	cr_assert_str_eq(ls_basename(ls_str(at, "file")), file);
	free(file);
	cr_assert_eq(ls_int(at, "line"), ls_marker_line(fixture, marker),
		     "%s: registered at line %lld", callback, (long long)ls_int(at, "line"));
}

/* The single slow-callback finding of callback: api, 150 ms, and created_at[0]. */
static void assert_slow(json_t *rep, const char *fixture, const char *callback, const char *api,
			const char *function, const char *marker)
{
	json_t *f = ls_only_finding(rep, "slow-callback", callback);
	char *file = ls_fmt("%s.c", fixture), *call = ls_fmt("call_%s", function);

	cr_assert_str_eq(ls_str(f, "api"), api);
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_geq(ls_num(f, "max_ms"), 149.5, "a 150 ms sleep took %f ms?", ls_num(f, "max_ms"));
	cr_assert_lt(ls_num(f, "max_ms"), 5000.0);
	ls_assert_frame(f, "created_at", 0, function, file, ls_marker_line(fixture, marker));
	ls_assert_frame(f, "created_at", 1, "main", file, ls_marker_line(fixture, call));
	free(file);
	free(call);
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1, "only %s is slow:\n%s", callback,
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	cr_assert_eq(ls_count(rep, "pending-at-close", NULL), 0, "the loop closes cleanly");
}

/* ---- (a) file system ------------------------------------------------------- */

Test(requests, slow_fs_callback_is_reported_with_the_uv_fs_call)
{
	struct ls_run r;
	char *trace = traced_run("fs_requests", &r);
	json_t *rep = ls_report_json(trace);

	assert_slow(rep, "fs_requests", "on_stat_slow", "uv_fs_stat", "start_requests", "fs_stat");
	ls_assert_thread(ls_only_finding(rep, "slow-callback", NULL), ls_trace_pid(trace),
			 "fs_requests");
	json_decref(rep);
	ls_run_free(&r);
	free(trace);
}

Test(requests, fast_fs_callbacks_are_counted_not_reported)
{
	struct ls_run r;
	char *trace = traced_run("fs_requests", &r);
	json_t *rep = ls_report_json(trace);
	static const char *const fast[] = {"on_open", "on_read", "on_close", "on_missing"};

	for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++)
		cr_assert_eq(ls_count(rep, NULL, fast[i]), 0, "%s is fast but was reported",
			     fast[i]);
	json_decref(rep);

	/* One request reused along open -> read -> close: each call is its own
	 * site, timed once. */
	json_t *st = ls_stats_json(trace);
	assert_site(st, "on_open", "uv_fs_open", 1, "fs_requests", "on_stat_slow", "fs_open");
	assert_site(st, "on_read", "uv_fs_read", 1, "fs_requests", "on_open", "fs_read");
	assert_site(st, "on_close", "uv_fs_close", 1, "fs_requests", "on_read", "fs_close");
	assert_site(st, "on_missing", "uv_fs_open", 1, "fs_requests", "on_close", "fs_missing");
	json_decref(st);
	ls_run_free(&r);
	free(trace);
}

Test(requests, synchronous_and_refused_fs_calls_return_what_libuv_returns)
{
	struct ls_run r;
	char *trace = traced_run("fs_requests", &r);

	/* traced_run compared the whole stdout with a run without the shim;
	 * these are the lines that show the results. */
	cr_assert(strstr(r.out, "sync stat: 0, size matches 1\n"), "%s", r.out);
	cr_assert(strstr(r.out, "sync stat missing: ENOENT, result ENOENT\n"), "%s", r.out);
	cr_assert(strstr(r.out, "sync access: 0\n"), "%s", r.out);
	cr_assert(strstr(r.out, "refused read: EINVAL\n"), "%s", r.out);
	cr_assert(strstr(r.out, "async open missing: ENOENT\n"), "%s", r.out);
	cr_assert(strstr(r.out, "loop close: 0\n"), "%s", r.out);
	/* The refused read never calls back: on_read ran once, for the chain. */
	json_t *st = ls_stats_json(trace);
	cr_assert_eq(ls_int(ls_stats_site(st, "on_read"), "count"), 1);
	json_decref(st);
	ls_run_free(&r);
	free(trace);
}

/* ---- (b) name resolution and random bytes ----------------------------------- */

Test(requests, slow_getaddrinfo_callback_is_reported)
{
	struct ls_run r;
	char *trace = traced_run("dns_requests", &r);
	json_t *rep = ls_report_json(trace);

	cr_assert(strstr(r.out, "async getaddrinfo: 0 127.0.0.1\n"), "%s", r.out);
	assert_slow(rep, "dns_requests", "on_resolved", "uv_getaddrinfo", "resolve", "getaddrinfo");
	cr_assert_eq(ls_count(rep, NULL, "on_named"), 0);
	cr_assert_eq(ls_count(rep, NULL, "on_random"), 0);
	json_decref(rep);

	json_t *st = ls_stats_json(trace);
	assert_site(st, "on_named", "uv_getnameinfo", 1, "dns_requests", "on_resolved",
		    "getnameinfo");
	assert_site(st, "on_random", "uv_random", 1, "dns_requests", "on_named", "random");
	json_decref(st);
	cr_assert(strstr(r.out, "sync getaddrinfo: 0, family 2\n"), "%s", r.out);
	cr_assert(strstr(r.out, "sync getnameinfo: 0 127.0.0.1 8080\n"), "%s", r.out);
	cr_assert(strstr(r.out, "random with bad flags: EINVAL\n"), "%s", r.out);
	ls_run_free(&r);
	free(trace);
}

/* ---- (c) processes ------------------------------------------------------------ */

Test(requests, slow_exit_callback_is_reported_and_sees_the_real_status)
{
	struct ls_run r;
	char *trace = traced_run("spawn", &r);
	json_t *rep = ls_report_json(trace);

	assert_slow(rep, "spawn", "on_true_exit", "uv_spawn", "start_children", "spawn_true");
	cr_assert_eq(ls_count(rep, NULL, "on_false_exit"), 0);
	json_decref(rep);
	/* Same stdout as without the shim (traced_run), and the real values. */
	cr_assert(strstr(r.out, "true exited 0, signal 0\n"), "%s", r.out);
	cr_assert(strstr(r.out, "false exited 1, signal 0\n"), "%s", r.out);
	cr_assert(strstr(r.out, "spawn true: 0, options unchanged 1\n"), "%s", r.out);
	cr_assert(strstr(r.out, "spawn missing: ENOENT, options unchanged 1\n"), "%s", r.out);
	cr_assert(strstr(r.out, "closed 4, loop close: 0\n"), "%s", r.out);

	json_t *st = ls_stats_json(trace);
	assert_site(st, "on_false_exit", "uv_spawn", 1, "spawn", "on_true_exit", "spawn_false");
	json_decref(st);
	ls_run_free(&r);
	free(trace);
}

/* ---- (d) uv_walk ------------------------------------------------------------------ */

/* The fixture is only worth testing if close_each really ends in `jmp uv_close`. */
static void assert_tail_call(const char *fixture, const char *function)
{
	char *bin = ls_fixture_bin(fixture);
	const char *argv[] = {"/usr/bin/objdump", "-d", "--no-show-raw-insn", bin, NULL};
	struct ls_run r;
	char *head = ls_fmt("<%s>:\n", function);

	if (access(argv[0], X_OK) != 0)
		cr_skip_test("no objdump");
	ls_run(&r, NULL, NULL, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	char *body = strstr(r.out, head);
	cr_assert(body, "no %s in objdump -d %s", function, bin);
	char *end = strstr(body, "\n\n");
	if (end)
		*end = '\0';
	char *jmp = strstr(body, "jmp");
	if (!(jmp && strstr(jmp, "<uv_close@plt>"))) {
		/* clang has no optimize("O2") attribute for the fixture's
		 * function: built -O0 by clang, it has no tail call to test. */
		size_t len;
		char *exe = ls_read_file(bin, &len);
		int clang = memmem(exe, len, "clang version", 13) != NULL;
		free(exe);
		if (clang)
			cr_skip_test("%s built by clang: no tail call to test", fixture);
	}
	cr_assert(jmp && strstr(jmp, "<uv_close@plt>"),
		  "%s does not end in a tail call to uv_close:\n%s", function, body);
	ls_run_free(&r);
	free(bin);
	free(head);
}

Test(requests, walk_callbacks_closing_every_handle_are_the_users_calls)
{
	struct ls_run r;

	assert_tail_call("walk_close", "close_each");
	char *trace = traced_run("walk_close", &r);
	cr_assert(strstr(r.out, "walked 4 and 4, closed 4, loop close: 0\n"), "%s", r.out);
	cr_assert_eq(r.err_len, 0, "no findings, nothing on stderr:\n%s", r.err);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(json_array_size(json_object_get(rep, "findings")), 0,
		     "the loop closes cleanly:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);

	json_t *st = ls_stats_json(trace);
	/* Walk callbacks are timed, one site per uv_walk call. */
	assert_site(st, "close_timers", "uv_walk", 4, "walk_close", "close_all", "walk_timers");
	assert_site(st, "close_each", "uv_walk", 4, "walk_close", "close_all", "walk");
	/* uv_close from a walk callback that is still on the stack: registered
	 * at the walk callback's line. */
	assert_site(st, "on_timer_closed", "uv_close", 1, "walk_close", "close_timers",
		    "walk_close_timer");
	/* uv_close tail-called from close_each: registered, and all three
	 * closes ran through the shim. close_each's frame no longer exists when
	 * uv_close runs (the jmp replaced it), so the innermost frame of the
	 * registration is libuv's uv_walk, which called it. */
	json_t *s = ls_stats_site(st, "on_closed");
	cr_assert_str_eq(ls_str(s, "api"), "uv_close");
	cr_assert_eq(ls_int(s, "count"), 3);
	cr_assert_str_eq(ls_str(json_object_get(s, "registered_at"), "function"), "uv_walk");
	json_decref(st);
	ls_run_free(&r);
	free(trace);
}

/* ---- (e) transparency ---------------------------------------------------------- */

Test(requests, request_fixtures_print_nothing_else_under_the_shim)
{
	static const char *const fixtures[] = {"fs_requests", "dns_requests", "spawn",
					       "walk_close"};

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct ls_run r;
		/* stdout and exit status compared with a run without the shim */
		char *trace = traced_run(fixtures[i], &r);
		/* stderr: nothing, or the one line naming the report command */
		if (strcmp(fixtures[i], "walk_close") == 0)
			cr_assert_eq(r.err_len, 0, "%s: %s", fixtures[i], r.err);
		else
			ls_assert_one_line(&r, "1 slow callback");
		ls_run_free(&r);
		free(trace);
		ls_cleanup();
	}
}

/* ---- many requests in flight ----------------------------------------------- */

/* Runs `many_writes arg` under the shim, which must print want, and
 * checks that on_even and on_odd ran each half of total times, under
 * uv_write. Returns the trace's path. */
static char *many_writes(const char *arg, const char *want, long total)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture_arg(&r, "many_writes", dir, true, NULL, arg);
	cr_assert_eq(ls_exit_code(&r), 0, "many_writes %s exited %d under the shim\n%s%s", arg,
		     ls_exit_code(&r), r.out, r.err);
	cr_assert_str_eq(r.out, want);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *st = ls_stats_json(trace);

	cr_assert_eq(ls_int(ls_stats_site(st, "on_even"), "count"), total / 2);
	cr_assert_eq(ls_int(ls_stats_site(st, "on_odd"), "count"), total / 2);
	cr_assert_str_eq(ls_str(ls_stats_site(st, "on_odd"), "api"), "uv_write");
	json_decref(st);
	return trace;
}

/* 40 000 writes in flight are more than the lock-free request table holds
 * (32 Ki slots): the rest wait in the side table. Every callback must still
 * get its own request (the fixture checks parity and once-only), and each
 * is counted under the callback it was started with. */
Test(requests, requests_beyond_the_request_table_call_back_their_own_callbacks)
{
	char *trace = many_writes("40000", "written 40000\n", 40000);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);
	free(trace);
}

/* The same on 4 threads at once, each with a loop of its own: 80 000
 * writes in flight, puts and takes of the request table racing, and the
 * threads falling back to the side table together. */
Test(requests, requests_of_four_threads_at_once_call_back_their_own_callbacks)
{
	free(many_writes("20000,4", "written 80000\n", 80000));
}

/* A write still in flight when the process exits is pending-at-close,
 * created where uv_write was called. */
Test(requests, write_still_pending_at_exit_is_pending_at_close)
{
	json_t *rep = ls_fixture_report("many_writes", "exit", NULL, NULL);
	json_t *f = ls_only_finding(rep, "pending-at-close", "on_pending_write");

	cr_assert_str_eq(ls_str(f, "api"), "uv_write");
	cr_assert_str_eq(ls_str(f, "handle"), "request");
	cr_assert(ls_bool(f, "at_exit"));
	ls_assert_frame(f, "created_at", 0, "write_pending", "many_writes.c",
			ls_marker_line("many_writes", "pending_write"));
	json_decref(rep);
}
