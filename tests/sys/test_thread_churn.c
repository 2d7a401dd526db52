/* Short-lived loop threads (issue point 7): a thread's chunks pass to the
 * next thread when it exits, so the trace is bounded by the threads alive
 * at once, not every thread ever started; and still nothing is lost: every
 * callback counted, each thread's records its own, a killed process's trace
 * readable, a forked child's trace its own.
 */
#include <stdint.h>

#include "tests/harness.h"

LS_SUITE(thread_churn);

#define CALLBACKS 5  /* on_idle runs per thread; then one on_closed */

/* The trace's chunk size (its header). */
static long chunk_size_of(const char *trace)
{
	int fd = open(trace, O_RDONLY);
	uint32_t cs = 0;
	cr_assert(fd >= 0 && pread(fd, &cs, sizeof(cs), 16) == (ssize_t)sizeof(cs), "%s", trace);
	close(fd);
	return cs;
}

static long file_size(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	return (long)st.st_size;
}

/* What the design allows n threads, k alive at a time: two chunks (records,
 * stats) for each thread alive, the main and the watchdog thread included,
 * and the records every thread leaves behind (a THREAD, LOOP_RUN and
 * LOOP_CLOSE record, some 150 bytes in summary mode, 300 in timeline mode:
 * 512 is generous) in chunks passed on until a sixteenth of them is left;
 * plus the stacks, sites and modules, written once. Without passing chunks
 * on, it is two chunks per thread ever started. */
static long size_bound(long n, long k, long cs)
{
	long record_chunks = (n * 512 + cs * 15 / 16 - 1) / (cs * 15 / 16);
	return 4096 + cs * (2 * (k + 2) + record_chunks + 2);
}

static char *run_churn(const char *dir, const char *options, long n, long k, const char *how)
{
	char *arg = ls_fmt("%ld,%ld,%d%s%s", n, k, CALLBACKS, how ? "," : "", how ? how : "");
	struct ls_run r;
	long callbacks = -1;
	ls_run_fixture_arg(&r, "thread_churn", dir, true, options, arg);
	cr_assert_eq(ls_exit_code(&r), 0, "thread_churn %s: %s", arg, r.err);
	cr_assert_eq(sscanf(r.out, "callbacks=%ld", &callbacks), 1, "%s", r.out);
	cr_assert_eq(callbacks, n * (CALLBACKS + 1), "every callback ran");
	ls_run_free(&r);
	free(arg);
	return ls_single_trace(dir);
}

/* The stats of on_idle and on_closed: n threads ran each, every callback
 * counted. */
static void assert_counted(const char *trace, long n)
{
	json_t *stats = ls_stats_json(trace);
	json_t *idle = ls_stats_site(stats, "on_idle"), *closed = ls_stats_site(stats, "on_closed");
	cr_assert_eq(ls_int(idle, "count"), n * CALLBACKS);
	cr_assert_eq(ls_int(idle, "threads"), n);
	cr_assert_eq(ls_int(closed, "count"), n);
	cr_assert_eq(ls_int(closed, "threads"), n);
	cr_assert(ls_num(idle, "total_ms") > 0);
	cr_assert(ls_num(idle, "max_ms") >= ls_num(idle, "p99_ms") &&
		  ls_num(idle, "p99_ms") >= ls_num(idle, "p50_ms"), "%s",
		  json_dumps(idle, JSON_INDENT(1)));
	json_decref(stats);
}

Test(thread_churn, the_trace_is_bounded_by_the_threads_alive_at_once)
{
	const long n = 2000, k = 100;
	char *trace = run_churn(ls_tmpdir(), NULL, n, k, NULL);
	long size = file_size(trace), bound = size_bound(n, k, chunk_size_of(trace));
	cr_assert_leq(size, bound, "%ld threads, %ld at a time: a trace of %ld bytes (at most %ld)",
		      n, k, size, bound);
	assert_counted(trace, n);
	free(trace);
}

/* In mode=timeline every callback is a record: each thread's six, in
 * chunks threads that exited before it wrote in first, must be its own,
 * in order, at the right time (a chunk's time base restarts at each new
 * owner). */
Test(thread_churn, timeline_records_stay_with_the_thread_that_wrote_them)
{
	const long n = 500, k = 50;
	const char *dir = ls_tmpdir();
	char *trace = run_churn(dir, "mode=timeline", n, k, NULL);
	long size = file_size(trace), bound = size_bound(n, k, chunk_size_of(trace));
	cr_assert_leq(size, bound, "a trace of %ld bytes (at most %ld)", size, bound);
	assert_counted(trace, n);

	char *out = ls_fmt("%s/chrome.json", dir);
	struct ls_run r;
	const char *args[] = {"export", "--format", "chrome", "-o", out, trace, NULL};
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	json_error_t err;
	json_t *doc = json_load_file(out, 0, &err);
	cr_assert(doc, "%s", err.text);
	json_t *events = json_is_array(doc) ? doc : json_object_get(doc, "traceEvents");
	/* tid -> its callbacks so far, and the end of the last one */
	json_t *seen = json_object();
	json_t *e;
	size_t i;
	long total = 0;
	json_array_foreach(events, i, e) {
		if (strcmp(ls_str(e, "ph"), "X") != 0)
			continue;
		char *tid = ls_fmt("%lld", (long long)ls_int(e, "tid"));
		double ts = ls_num(e, "ts"), dur = ls_num(e, "dur");
		/* A time base taken from the wrong owner puts a callback
		 * anywhere: before the trace began, or hours after. */
		cr_assert(ts >= 0 && ts + dur < 600e6, "callback at %f us", ts);
		json_t *prev = json_object_get(seen, tid);
		long runs = prev ? (long)json_integer_value(json_array_get(prev, 0)) : 0;
		double end = prev ? json_real_value(json_array_get(prev, 1)) : 0;
		cr_assert_geq(ts + 0.001, end, "thread %s: a callback at %f before the last one ended (%f)",
			      tid, ts, end);
		const char *want = runs < CALLBACKS ? "on_idle" : "on_closed";
		cr_assert_str_eq(ls_str(e, "name"), want, "thread %s, callback %ld", tid, runs + 1);
		json_object_set_new(seen, tid, json_pack("[I,f]", (json_int_t)runs + 1, ts + dur));
		total++;
		free(tid);
	}
	cr_assert_eq(json_object_size(seen), (size_t)n, "threads with callbacks");
	cr_assert_eq(total, n * (CALLBACKS + 1));
	const char *tid;
	json_t *v;
	json_object_foreach(seen, tid, v)
		cr_assert_eq(json_integer_value(json_array_get(v, 0)), CALLBACKS + 1, "thread %s", tid);
	json_decref(seen);
	json_decref(doc);
	free(out);
	free(trace);
}

/* The parent's exited threads left chunks of its trace, mapped: the
 * child's thread must take none of them (they are the parent's file). */
Test(thread_churn, a_forked_child_takes_no_chunk_of_the_parents_trace)
{
	const long n = 50, k = 10;
	const char *dir = ls_tmpdir();
	char *arg = ls_fmt("%ld,%ld,%d,fork", n, k, CALLBACKS);
	struct ls_run r;
	ls_run_fixture_arg(&r, "thread_churn", dir, true, NULL, arg);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(ls_count_traces(dir), 2, "the parent's trace and the child's");
	glob_t g;
	char *pattern = ls_fmt("%s/loopsan.*.trace", dir);
	cr_assert_eq(glob(pattern, 0, NULL, &g), 0);
	long parent = 0, child = 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		json_t *stats = ls_stats_json(g.gl_pathv[i]);
		json_t *idle = ls_stats_site(stats, "on_idle");
		long threads = (long)ls_int(idle, "threads");
		cr_assert(threads == n || threads == 1, "%s: on_idle on %ld threads", g.gl_pathv[i],
			  threads);
		if (threads == n) {
			parent++;
			assert_counted(g.gl_pathv[i], n);
		} else {
			child++;
			assert_counted(g.gl_pathv[i], 1);
		}
		json_decref(stats);
	}
	cr_assert(parent == 1 && child == 1);
	globfree(&g);
	free(pattern);
	free(arg);
	ls_run_free(&r);
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, us % 1000000 * 1000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Starts thread_churn ARG under the shim in dir; SIGKILLs it after us. */
static void spawn_and_kill(const char *dir, const char *arg, long us)
{
	char *bin = ls_fixture_bin("thread_churn");
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	const char *env[] = {pre, NULL};
	const char *argv[] = {bin, arg, NULL};
	pid_t pid = ls_start(dir, env, argv, -1);
	sleep_us(us);
	kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status 0x%x", status);
	free(pre);
	free(shim);
	free(bin);
}

/* Killed while threads come and go, chunks passing between them: the
 * trace reads, and counts what finished: each thread a slot counts ran
 * on_idle one to five times (but for a thread killed between taking its
 * slot and counting its first run). Cut anywhere (a copy), it still reads. */
Test(thread_churn, killed_while_threads_come_and_go_the_trace_still_reads)
{
	static const long after_us[] = {30000, 120000, 300000};
	for (size_t i = 0; i < sizeof(after_us) / sizeof(after_us[0]); i++) {
		const char *dir = ls_tmpdir();
		spawn_and_kill(dir, "1000000,50,5", after_us[i]);
		if (ls_count_traces(dir) == 0)
			continue;  /* killed before its first callback */
		char *trace = ls_single_trace(dir);
		json_t *stats = ls_stats_json(trace);
		json_t *s;
		size_t j;
		long idle = 0, threads = 0, closed = 0;
		json_array_foreach(json_object_get(stats, "sites"), j, s) {
			if (strcmp(ls_str(s, "callback"), "on_idle") == 0) {
				idle = (long)ls_int(s, "count");
				threads = (long)ls_int(s, "threads");
			} else if (strcmp(ls_str(s, "callback"), "on_closed") == 0) {
				closed = (long)ls_int(s, "count");
			}
		}
		cr_assert_leq(idle, CALLBACKS * threads, "%ld on_idle on %ld threads", idle, threads);
		cr_assert_geq(idle + 1, threads, "%ld on_idle on %ld threads", idle, threads);
		cr_assert_leq(closed, threads);
		json_decref(stats);
		long size = file_size(trace);
		for (int cut = 1; cut < 8; cut++) {
			char *copy = ls_fmt("%s/cut%d.trace", dir, cut);
			ls_copy_file(trace, copy, 4096 + (size - 4096) * cut / 8 + cut * 40);
			json_decref(ls_stats_json(copy));
			free(copy);
		}
		free(trace);
	}
}
