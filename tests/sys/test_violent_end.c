/* Nothing lost under violent ends (issue 8): _exit() and abort() inside a
 * callback, exit() from another thread while the loop thread is inside a
 * callback, SIGKILL at random points. The fixture (rel_violent) counts its
 * callbacks in a file mapped MAP_SHARED, which outlives it however it dies;
 * the trace must count exactly the callbacks that finished (give or take
 * the one the kill cut between the program's count and the shim's), and
 * the viewer must read every trace.
 */
#include <poll.h>
#include <sys/inotify.h>

#include "tests/harness.h"

LS_SUITE(violent_end);

struct counts {
	long started, finished;
};

/* What rel_violent wrote in dir/ticks.count; {0, 0} when it died before
 * making the file. */
static struct counts read_counts(const char *dir)
{
	struct counts c = {0, 0};
	char *path = ls_fmt("%s/ticks.count", dir);
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		ssize_t n = read(fd, &c, sizeof(c));
		if (n != (ssize_t)sizeof(c))
			memset(&c, 0, sizeof(c));
		close(fd);
	}
	free(path);
	return c;
}

/* on_tick's count in the trace's stats (0 when it has no on_tick site). */
static long long tick_count(json_t *stats)
{
	json_t *s;
	size_t i;
	long long n = 0;

	json_array_foreach(json_object_get(stats, "sites"), i, s)
		if (strcmp(ls_str(s, "callback"), "on_tick") == 0)
			n += ls_int(s, "count");
	return n;
}

/* `loopsan report TRACE` (text) must exit 0. */
static void report_reads(const char *trace, const char *what)
{
	struct ls_run r;
	const char *args[] = {"report", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s: loopsan report %s exited %d:\n%s", what, trace,
		     ls_exit_code(&r), r.err);
	ls_run_free(&r);
}

/* Runs rel_violent MODE with and without the shim; checks that the end is
 * the same (status, stdout), that "finished N" is what the counter file
 * says, and that the trace counts exactly N on_tick callbacks. Returns the
 * JSON report of the trace. */
static json_t *violent(const char *mode, int *status)
{
	const char *plain_dir = ls_tmpdir(), *dir = ls_tmpdir();
	struct ls_run plain, traced;

	ls_run_fixture_arg(&plain, "rel_violent", plain_dir, false, NULL, mode);
	ls_run_fixture_arg(&traced, "rel_violent", dir, true, NULL, mode);
	cr_assert_eq(traced.status, plain.status, "%s: wait status 0x%x under the shim, 0x%x without",
		     mode, traced.status, plain.status);
	cr_assert_str_eq(traced.out, plain.out, "%s: stdout changed under the shim", mode);
	*status = traced.status;

	struct counts c = read_counts(dir);
	long said;
	cr_assert_eq(sscanf(traced.out, "finished %ld", &said), 1, "%s: fixture says:\n%s", mode,
		     traced.out);
	cr_assert_eq(said, 999, "%s: the 1000th on_tick ends the program", mode);
	cr_assert_eq(c.finished, said, "%s: counter file says %ld finished", mode, c.finished);
	cr_assert_eq(c.started, said + 1, "%s: counter file says %ld started", mode, c.started);

	char *trace = ls_single_trace(dir);
	report_reads(trace, mode);
	json_t *stats = ls_stats_json(trace);
	cr_assert_eq(tick_count(stats), said,
		     "%s: the trace counts %lld on_tick callbacks; %ld finished before the end",
		     mode, tick_count(stats), said);
	json_decref(stats);
	json_t *rep = ls_report_json(trace);
	free(trace);
	ls_run_free(&plain);
	ls_run_free(&traced);
	return rep;
}

Test(violent_end, _exit_in_a_callback_keeps_every_finished_callback)
{
	int status;
	json_t *rep = violent("_exit", &status);

	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 7, "status 0x%x", status);
	/* _exit runs no destructor, but the shim's _exit finishes the
	 * trace: complete, and saying how the process ended. */
	cr_assert(ls_bool(ls_process(rep), "complete"));
	cr_assert(ls_bool(ls_process(rep), "quick_exit"));
	json_decref(rep);
}

Test(violent_end, abort_in_a_callback_keeps_every_finished_callback_and_the_crash)
{
	int status;
	json_t *rep = violent("abort", &status);

	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status 0x%x", status);
	json_t *f = ls_only_finding(rep, "crash-in-callback", "on_tick");
	cr_assert_str_eq(ls_str(f, "signal"), "SIGABRT");
	ls_assert_frame(f, "created_at", 0, "main", "rel_violent.c",
			ls_marker_line("rel_violent", "tick_start"));
	json_decref(rep);
}

Test(violent_end, exit_from_another_thread_while_the_loop_is_in_a_callback)
{
	int status;
	json_t *rep = violent("exit-thread", &status);

	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 5, "status 0x%x", status);
	cr_assert(ls_bool(ls_process(rep), "complete"), "exit() ran the shim's destructor");
	json_decref(rep);
}

/* exit() while the loop thread runs on: it may finish callbacks while the
 * exit handlers and the shim's destructor run, and they count. */
Test(violent_end, exit_from_another_thread_while_the_loop_runs_on)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	long said;

	ls_run_fixture_arg(&r, "rel_violent", dir, true, NULL, "exit-thread-spin");
	cr_assert_eq(ls_exit_code(&r), 5, "%s", r.err);
	cr_assert_eq(sscanf(r.out, "finished %ld", &said), 1, "%s", r.out);
	struct counts c = read_counts(dir);
	char *trace = ls_single_trace(dir);
	report_reads(trace, "exit-thread-spin");
	json_t *stats = ls_stats_json(trace);
	long long n = tick_count(stats);
	cr_assert_geq(n, said - 1, "%lld on_tick counted, %ld had finished at exit()", n, said);
	cr_assert_leq(n, c.finished, "%lld on_tick counted, only %ld finished", n, c.finished);
	json_decref(stats);
	json_t *rep = ls_report_json(trace);
	cr_assert(ls_bool(ls_process(rep), "complete"), "exit() ran the shim's destructor");
	json_decref(rep);
	free(trace);
	ls_run_free(&r);
}

/* ---- SIGKILL at random points ------------------------------------------------ */

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, us % 1000000 * 1000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Starts rel_violent spin under the shim in dir, SIGKILLs it after us
 * microseconds, reaps it. */
static void spawn_and_kill(const char *dir, const char *options, long us)
{
	char *bin = ls_fixture_bin("rel_violent");
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	char *opt = ls_fmt("LOOPSAN_OPTIONS=%s", options);
	const char *env[] = {pre, opt, NULL};
	const char *argv[] = {bin, "spin", NULL};
	pid_t pid = ls_start(dir, env, argv, -1);
	sleep_us(us);
	kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "rel_violent was not killed after %ld us: status 0x%x", us, status);
	free(bin);
	free(shim);
	free(pre);
	free(opt);
}

/* runs kills after 0..200 ms at random (seeded from the clock; each
 * message names the delay): a trace, when there is one, is read by
 * `report` and `stats`, and counts no more on_tick callbacks than finished
 * and at most one fewer (the kill may fall between the program's count and
 * the shim's). Returns how many runs left a trace with callbacks in it. */
static int kill_many(const char *options, int runs)
{
	struct timespec now;
	int with_ticks = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	unsigned seed = (unsigned)(now.tv_nsec ^ now.tv_sec ^ getpid());
	for (int i = 0; i < runs; i++) {
		long us = (long)(rand_r(&seed) % 200001);
		const char *dir = ls_tmpdir();
		spawn_and_kill(dir, options, us);
		struct counts c = read_counts(dir);
		int ntraces = ls_count_traces(dir);
		cr_assert_leq(ntraces, 1, "run %d, killed after %ld us: %d traces", i, us, ntraces);
		if (ntraces == 0) {
			/* Killed before the first callback made the trace. */
			cr_assert_eq(c.finished, 0, "run %d, killed after %ld us: %ld callbacks finished "
				     "and no trace", i, us, c.finished);
			ls_cleanup();
			continue;
		}
		char *trace = ls_single_trace(dir);
		char *what = ls_fmt("%s, run %d, killed after %ld us", options, i, us);
		report_reads(trace, what);
		json_t *stats = ls_stats_json(trace);
		long long n = tick_count(stats);
		cr_assert_leq(n, c.finished, "%s: the trace counts %lld on_tick, only %ld finished",
			      what, n, c.finished);
		cr_assert_geq(n, c.finished - 1, "%s: the trace counts %lld on_tick, %ld finished",
			      what, n, c.finished);
		with_ticks += n > 0;
		json_decref(stats);
		free(trace);
		free(what);
		ls_cleanup(); /* at most LS_MAX_TMPDIRS at a time */
	}
	return with_ticks;
}

Test(violent_end, sigkill_at_random_points_summary_mode)
{
	int n = kill_many("mode=summary", 10);
	cr_assert_gt(n, 0, "no run lived long enough to count a callback");
}

Test(violent_end, sigkill_at_random_points_timeline_mode)
{
	int n = kill_many("mode=timeline", 10);
	cr_assert_gt(n, 0, "no run lived long enough to count a callback");
}

Test(violent_end, sigkill_at_random_points_timeline_mode_every_registration_stacked)
{
	int n = kill_many("mode=timeline:stack_cache=0:slow_callback_ms=1", 10);
	cr_assert_gt(n, 0, "no run lived long enough to count a callback");
}

/* The moment the trace's name appears, the process is killed: the file
 * under that name is already a trace the viewer reads (its header was
 * complete before it got the name), not an empty or half-made file. */
Test(violent_end, sigkill_the_moment_the_trace_appears_leaves_a_readable_trace)
{
	char *bin = ls_fixture_bin("rel_writer");
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);

	for (int i = 0; i < 5; i++) {
		const char *dir = ls_tmpdir();
		char *opt = ls_fmt("LOOPSAN_OPTIONS=dir=%s", dir);
		int in = inotify_init1(IN_CLOEXEC);
		cr_assert(in >= 0 && inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO) >= 0);

		fflush(NULL);
		pid_t pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR);
			if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
			    chdir(dir) != 0 || putenv(pre) != 0 || putenv(opt) != 0)
				_exit(126);
			char *argv[] = {bin, NULL};
			execv(bin, argv);
			_exit(127);
		}
		struct pollfd p = {.fd = in, .events = POLLIN};
		int ready = poll(&p, 1, 10000);
		kill(pid, SIGKILL);
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		close(in);
		free(opt);
		cr_assert_eq(ready, 1, "run %d: no trace appeared in 10 s", i);
		if (!WIFSIGNALED(status))
			continue; /* it finished first: nothing to see */
		char *trace = ls_single_trace(dir);
		char *what = ls_fmt("run %d, killed as %s appeared", i, trace);
		report_reads(trace, what);
		json_decref(ls_stats_json(trace));
		free(what);
		free(trace);
		ls_cleanup();
	}
	free(bin);
	free(shim);
	free(pre);
}
