/* Descriptors the program closes and reuses (issue point 2): a daemon that
 * closes every descriptor once its loop has run (close_range), opens its
 * data files and starts a loop on a new thread (fixture fd_daemon). The
 * shim never grows, maps, reads, writes or closes a file that took the
 * number of one of its own descriptors: not the trace writer (a new chunk),
 * not libunwind (its validation pipe), not the fork child; and its exit line
 * goes only to the stderr the process started with.
 */
#include "tests/harness.h"

#define OPTS "mode=timeline:slow_callback_ms=10"
#define IDLE_RUNS 20000

LS_SUITE(fds);

static void run_daemon(struct ls_run *r, const char *dir, const char *arg)
{
	ls_run_fixture_arg(r, "fd_daemon", dir, true, OPTS, arg);
}

/* dir/name holds exactly its 16 bytes: the name, padded, a newline. */
static void assert_file_unchanged(const char *dir, const char *name)
{
	char *path = ls_fmt("%s/%s", dir, name);
	char want[17];
	size_t len;
	char *got = ls_read_file(path, &len);

	snprintf(want, sizeof(want), "%-15.15s\n", name);
	cr_assert_eq(len, 16, "%s is %zu bytes, not 16", name, len);
	cr_assert(memcmp(got, want, 16) == 0, "%s changed: \"%s\"", name, got);
	free(got);
	free(path);
}

static void assert_files_unchanged(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	cr_assert(d);
	while ((e = readdir(d)))
		if (!strcmp(e->d_name, "data") || !strncmp(e->d_name, "fill.", 5))
			assert_file_unchanged(dir, e->d_name);
	closedir(d);
}

/* (a) and (b): the trace's old number and libunwind's pipe numbers are
 * the program's files now; none of them grows or changes. */
Test(fds, close_range_daemon_data_files_unchanged)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_daemon(&r, dir, NULL);
	assert_files_unchanged(dir);
	cr_assert_eq(ls_exit_code(&r), 0, "fd_daemon exited %d\nstdout:\n%s\nstderr:\n%s",
		     ls_exit_code(&r), r.out, r.err);
	ls_run_free(&r);
}

/* (b): the new loop's epoll descriptor took the number of libunwind's pipe;
 * libunwind unwinding on the new thread must not close it (libuv aborts). */
Test(fds, close_range_daemon_new_loop_runs_to_the_end)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_daemon(&r, dir, NULL);
	cr_assert(WIFEXITED(r.status), "fd_daemon killed by signal %d (libuv aborted?)\n%s",
		  WTERMSIG(r.status), r.err);
	cr_assert(strstr(r.out, "idle 20000\n"), "stdout:\n%s\nstderr:\n%s", r.out, r.err);
	ls_run_free(&r);
}

/* (c): the fork child keeps the program's descriptor that took the
 * trace's old number ("moved": the trace is not opened again, so the
 * shim's last descriptor number is a file of the program's at the fork). */
Test(fds, close_range_daemon_fork_child_keeps_descriptors)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_daemon(&r, dir, "moved");
	cr_assert(strstr(r.out, "child ok\n"), "stdout:\n%s\nstderr:\n%s", r.out, r.err);
	ls_run_free(&r);
}

/* The trace goes on after the close (opened again by its path): every
 * callback of the new thread's loop is in it, and stderr has the exit line
 * only. */
Test(fds, close_range_daemon_trace_complete)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_daemon(&r, dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "stderr:\n%s", r.err);
	/* on_first's 30 ms; on a loaded machine an idle callback may pass
	 * the 10 ms too. */
	ls_assert_one_line(&r, "slow callback");
	cr_assert(strstr(r.err, "see: loopsan report") != NULL, "%s", r.err);
	char *trace = ls_single_trace(dir);
	json_t *stats = ls_stats_json(trace);
	cr_assert_eq(ls_int(ls_stats_site(stats, "on_idle"), "count"), IDLE_RUNS);
	json_decref(stats);
	free(trace);
	ls_run_free(&r);
}

/* The trace cannot be opened again (renamed away): recording stops, said
 * in one line, the program's files are untouched, and what was written
 * stays readable. */
Test(fds, close_range_daemon_trace_moved_stops_with_one_note)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_daemon(&r, dir, "moved");
	assert_files_unchanged(dir);
	cr_assert_eq(ls_exit_code(&r), 0, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
	cr_assert_eq(ls_count_lines(r.err), 2, "stderr:\n%s", r.err);
	cr_assert(strstr(r.err, "the program closed the descriptor of trace") &&
		  strstr(r.err, "recording stops here\n"), "stderr:\n%s", r.err);
	char *trace = ls_fmt("%s/moved.trace", dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, "slow-callback", "on_first"), 1);
	json_decref(rep);
	free(trace);
	ls_run_free(&r);
}

/* (d): 0-2 closed too and files opened into them: the exit line must not
 * land in the file that took fd 2 (nor anything else of the shim's). */
Test(fds, stdio_closed_exit_line_not_in_program_file)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_daemon(&r, dir, "stdio");
	cr_assert_eq(ls_exit_code(&r), 0, "fd_daemon exited %d", ls_exit_code(&r));
	assert_file_unchanged(dir, "err");
	assert_file_unchanged(dir, "in");
	assert_files_unchanged(dir);
	cr_assert_eq(r.err_len, 0, "stderr:\n%s", r.err);
	char *out = ls_fmt("%s/out", dir);
	size_t len;
	char *text = ls_read_file(out, &len);
	cr_assert(strstr(text, "child ok\n"), "out:\n%s", text);
	free(text);
	free(out);
	ls_run_free(&r);
}
