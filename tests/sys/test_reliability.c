/* Nothing lost (issue 8): many threads each running a loop, fork() from a
 * callback of a multi-threaded process, exec() from a callback, SIGKILL at
 * points of a running loop. Every callback is counted once, on the thread
 * that ran it; every process gets its own trace holding its own findings; a
 * killed process's trace stays readable.
 */
#include <poll.h>

#include "tests/harness.h"

LS_SUITE(reliability);

/* ---- helpers ---------------------------------------------------------------- */

/* Runs build/fixtures/NAME with args (NULL-terminated, may be NULL) under the
 * shim with LOOPSAN_OPTIONS=options (NULL: none) in dir; exit status 0. */
static void run_in(struct ls_run *r, const char *dir, const char *name, const char *const *args,
		   const char *options)
{
	char *bin = ls_fixture_bin(name);
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	char *opt = ls_fmt("LOOPSAN_OPTIONS=%s", options ? options : "");
	const char *env[] = {pre, opt, NULL};
	const char *argv[16] = {bin};
	size_t n = 1;

	cr_assert(access(bin, X_OK) == 0, "fixture %s not built", bin);
	for (size_t i = 0; args && args[i]; i++) {
		cr_assert(n < 15);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	ls_run(r, dir, env, argv);
	cr_assert_eq(ls_exit_code(r), 0, "%s exited %d\nstdout:\n%s\nstderr:\n%s", name,
		     ls_exit_code(r), r->out, r->err);
	free(bin);
	free(shim);
	free(pre);
	free(opt);
}

/* Sum of count (and of threads, when threads is not NULL) over the sites
 * of callback; *nsites gets how many sites that is. */
static long long stats_count(json_t *stats, const char *callback, long long *threads,
			     size_t *nsites)
{
	json_t *s;
	size_t i, n = 0;
	long long count = 0, th = 0;

	json_array_foreach(json_object_get(stats, "sites"), i, s) {
		if (strcmp(ls_str(s, "callback"), callback) != 0)
			continue;
		n++;
		count += ls_int(s, "count");
		th += ls_int(s, "threads");
	}
	if (threads)
		*threads = th;
	if (nsites)
		*nsites = n;
	return count;
}

static json_t *export_chrome(const char *trace)
{
	char *out = ls_fmt("%s/out.json", ls_tmpdir());
	struct ls_run r;
	const char *args[] = {"export", "--format", "chrome", "-o", out, trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "loopsan export %s:\n%s", trace, r.err);
	ls_run_free(&r);
	json_error_t err;
	json_t *doc = json_load_file(out, 0, &err);
	cr_assert(doc, "%s does not parse: %s (line %d)", out, err.text, err.line);
	cr_assert(json_is_array(json_object_get(doc, "traceEvents")), "no traceEvents[]");
	free(out);
	return doc;
}

static char *trace_path(const char *dir, long pid, int n)
{
	char *p = n ? ls_fmt("%s/loopsan.%ld.%d.trace", dir, pid, n)
		    : ls_fmt("%s/loopsan.%ld.trace", dir, pid);
	cr_assert(access(p, R_OK) == 0, "no trace %s", p);
	return p;
}

/* Entries of dir other than . and .. (ls_count_traces counts
 * loopsan.<pid>.trace only, not loopsan.<pid>.<n>.trace). */
static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* ---- threads: every callback counted once, on its own thread ---------------- */

#define STRESS_THREADS 16

/* The "thread TID RUNS" lines stress printed, into tids/runs; returns how many. */
static int stress_threads(const char *out, long *tids, long *runs, int max)
{
	int n = 0;

	for (const char *p = out; (p = strstr(p, "thread ")) != NULL; p++) {
		cr_assert(n < max, "more thread lines than threads:\n%s", out);
		cr_assert_eq(sscanf(p, "thread %ld %ld", &tids[n], &runs[n]), 2, "%s", p);
		n++;
	}
	return n;
}

Test(reliability, threads_each_loop_every_callback_counted)
{
	const long m = 50000;
	const char *dir = ls_tmpdir();
	char *nthreads = ls_fmt("%d", STRESS_THREADS), *ncalls = ls_fmt("%ld", m);
	const char *args[] = {nthreads, ncalls, NULL};
	struct ls_run r;

	run_in(&r, dir, "stress", args, NULL);
	char *want = ls_fmt("total %ld\n", STRESS_THREADS * m);
	cr_assert(strstr(r.out, want), "stress says:\n%s", r.out);
	ls_run_free(&r);

	char *trace = ls_single_trace(dir);
	json_t *doc = ls_stats_json(trace);
	json_t *proc = json_array_get(json_object_get(doc, "processes"), 0);
	cr_assert(ls_bool(proc, "complete"));
	long long threads;
	size_t nsites;
	long long count = stats_count(doc, "on_idle", &threads, &nsites);
	cr_assert_eq(count, STRESS_THREADS * m, "on_idle ran %lld times, %d threads x %ld", count,
		     STRESS_THREADS, m);
	cr_assert_eq(threads, STRESS_THREADS, "on_idle ran on %lld threads (%zu sites)", threads,
		     nsites);
	json_t *s;
	size_t i;
	int line = ls_marker_line("stress", "idle_start");
	json_array_foreach(json_object_get(doc, "sites"), i, s) {
		cr_assert_str_eq(ls_str(s, "callback"), "on_idle", "no other callback runs");
		cr_assert_str_eq(ls_str(s, "api"), "uv_idle_start");
		json_t *at = json_object_get(s, "registered_at");
		cr_assert_str_eq(ls_str(at, "function"), "start_idle");
		cr_assert_eq(ls_int(at, "line"), line);
	}
	json_decref(doc);
	free(trace);
	free(want);
	free(nthreads);
	free(ncalls);
}

/* Stats merge the threads of a site; a timeline export has one slice per
 * callback with its thread: each thread ran exactly its own m callbacks. */
Test(reliability, threads_each_callback_on_the_thread_that_ran_it)
{
	const long m = 5000;
	const char *dir = ls_tmpdir();
	char *nthreads = ls_fmt("%d", STRESS_THREADS), *ncalls = ls_fmt("%ld", m);
	const char *args[] = {nthreads, ncalls, NULL};
	struct ls_run r;
	long tids[STRESS_THREADS], runs[STRESS_THREADS], seen[STRESS_THREADS] = {0};

	run_in(&r, dir, "stress", args, "mode=timeline");
	cr_assert_eq(stress_threads(r.out, tids, runs, STRESS_THREADS), STRESS_THREADS, "%s", r.out);
	for (int k = 0; k < STRESS_THREADS; k++)
		cr_assert_eq(runs[k], m, "thread %ld ran %ld callbacks", tids[k], runs[k]);
	ls_run_free(&r);

	char *trace = ls_single_trace(dir);
	long pid = ls_trace_pid(trace);
	json_t *doc = export_chrome(trace);
	json_t *ev;
	size_t i;
	long slices = 0;
	json_array_foreach(json_object_get(doc, "traceEvents"), i, ev) {
		if (strcmp(ls_str(ev, "ph"), "X") != 0)
			continue;
		/* A loop iteration slow with no slow callback in it (a thread
		 * the machine left without a core for a while) is no callback. */
		if (strcmp(ls_str(ev, "name"), "loop iteration") == 0)
			continue;
		cr_assert_str_eq(ls_str(ev, "name"), "on_idle");
		cr_assert_eq(ls_int(ev, "pid"), pid);
		long tid = (long)ls_int(ev, "tid");
		int k = 0;
		while (k < STRESS_THREADS && tids[k] != tid)
			k++;
		cr_assert(k < STRESS_THREADS, "a callback on tid %ld, which is none of the loop threads",
			  tid);
		seen[k]++;
		slices++;
	}
	for (int k = 0; k < STRESS_THREADS; k++)
		cr_assert_eq(seen[k], m, "thread %ld: %ld callbacks in the trace, ran %ld", tids[k],
			     seen[k], m);
	cr_assert_eq(slices, STRESS_THREADS * m);
	json_decref(doc);

	json_t *stats = ls_stats_json(trace);
	cr_assert_eq(stats_count(stats, "on_idle", NULL, NULL), STRESS_THREADS * m);
	json_decref(stats);
	free(trace);
	free(nthreads);
	free(ncalls);
}

/* ---- fork() from a callback of a multi-threaded process --------------------- */

Test(reliability, fork_in_callback_child_and_parent_each_their_own_trace)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	long parent, child;
	int status;

	run_in(&r, dir, "forker", NULL, NULL);
	cr_assert_eq(sscanf(r.out, "parent %ld child %ld status %d", &parent, &child, &status), 3,
		     "forker says:\n%s", r.out);
	cr_assert_eq(status, 0);
	ls_run_free(&r);
	cr_assert_eq(ls_count_traces(dir), 2, "one trace per process");

	/* The parent: its slow callback, all 3 runs (the one that forked too),
	 * nothing of the child's. */
	char *pt = trace_path(dir, parent, 0);
	json_t *rep = ls_report_json(pt);
	json_t *proc = ls_process(rep);
	cr_assert_eq(ls_int(proc, "pid"), parent);
	cr_assert(ls_bool(proc, "complete"), "the parent exited normally");
	json_t *f = ls_only_finding(rep, "slow-callback", "on_parent_slow");
	cr_assert_eq(ls_int(f, "count"), 3, "3 slow runs in the parent");
	ls_assert_frame(f, "created_at", 0, "main", "forker.c",
			ls_marker_line("forker", "parent_start"));
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1, "no slow callback but its own");
	cr_assert_eq(ls_count(rep, NULL, "on_child_slow"), 0);
	json_decref(rep);
	json_t *st = ls_stats_json(pt);
	cr_assert_eq(stats_count(st, "on_parent_slow", NULL, NULL), 3);
	cr_assert_gt(stats_count(st, "on_helper_tick", NULL, NULL), 0, "the helper thread's loop ran");
	cr_assert_eq(stats_count(st, "on_child_slow", NULL, NULL), 0);
	json_decref(st);

	/* The child: its own slow callback only; it exit()ed, so it is complete. */
	char *ct = trace_path(dir, child, 0);
	rep = ls_report_json(ct);
	proc = ls_process(rep);
	cr_assert_eq(ls_int(proc, "pid"), child);
	cr_assert(ls_bool(proc, "complete"), "the child exited with exit(0)");
	f = ls_only_finding(rep, "slow-callback", "on_child_slow");
	cr_assert_eq(ls_int(f, "count"), 1);
	ls_assert_frame(f, "created_at", 0, "child_main", "forker.c",
			ls_marker_line("forker", "child_start"));
	ls_assert_thread(f, child, "forker");
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1, "no slow callback but its own");
	/* The helper thread's loop does not go on in the child: its handles
	 * are the parent's, not handles the child left open. */
	cr_assert_eq(ls_count(rep, "unclosed-handle", "on_helper_tick"), 0);
	cr_assert_eq(ls_count(rep, "unclosed-handle", "on_helper_stop"), 0);
	json_decref(rep);
	st = ls_stats_json(ct);
	cr_assert_eq(stats_count(st, "on_child_slow", NULL, NULL), 1);
	cr_assert_eq(stats_count(st, "on_parent_slow", NULL, NULL), 0,
		     "the parent's callbacks are not counted in the child");
	cr_assert_eq(stats_count(st, "on_helper_tick", NULL, NULL), 0,
		     "the helper thread does not exist in the child");
	json_decref(st);
	free(pt);
	free(ct);
}

/* A child that keeps running the loop it inherited: its slow callback is
 * one the parent armed, named with the parent's creation site, and its
 * stats count the child's runs of the parent's sites. */
Test(reliability, fork_child_running_the_inherited_loop_names_its_callbacks)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	long parent, child;
	int status;

	run_in(&r, dir, "fork_keep", NULL, NULL);
	cr_assert_eq(sscanf(r.out, "parent %ld child %ld status %d", &parent, &child, &status), 3,
		     "fork_keep says:\n%s", r.out);
	cr_assert_eq(status, 0);
	ls_run_free(&r);

	char *ct = trace_path(dir, child, 0);
	json_t *rep = ls_report_json(ct);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_tick");
	cr_assert_eq(ls_int(f, "count"), 1);
	ls_assert_frame(f, "created_at", 0, "main", "fork_keep.c",
			ls_marker_line("fork_keep", "tick_start"));
	json_decref(rep);
	json_t *st = ls_stats_json(ct);
	cr_assert_eq(stats_count(st, "on_tick", NULL, NULL), 3,
		     "the child ran the second (forking) tick's end, the third and the fourth");
	json_decref(st);
	char *pt = trace_path(dir, parent, 0);
	st = ls_stats_json(pt);
	cr_assert_eq(stats_count(st, "on_tick", NULL, NULL), 4);
	json_decref(st);
	free(ct);
	free(pt);
}

/* ---- exec() from a callback, same pid ---------------------------------------- */

Test(reliability, exec_in_callback_starts_a_second_trace_of_the_same_pid)
{
	const char *dir = ls_tmpdir();
	char *bin = ls_fixture_bin("reexec");
	const char *args[] = {"run", "--dir", dir, "--", bin, NULL};
	struct ls_run r;
	long pid;

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "loopsan run reexec:\n%s", r.err);
	cr_assert_eq(sscanf(r.out, "exec from pid %ld", &pid), 1, "reexec says:\n%s", r.out);
	char *second = ls_fmt("second image, pid %ld\n", pid);
	cr_assert(strstr(r.out, second), "the second image ran in the same pid:\n%s", r.out);
	cr_assert(strstr(r.err, "on_first_slow") && strstr(r.err, "on_second_slow"),
		  "loopsan run reports both images:\n%s", r.err);
	ls_run_free(&r);
	cr_assert_eq(files_in(dir), 2, "the two traces and nothing else");

	/* The first image runs no destructors (exec does not): the shim
	 * finishes its trace just before the exec. */
	char *first_trace = trace_path(dir, pid, 0), *second_trace = trace_path(dir, pid, 1);
	json_t *rep = ls_report_json(first_trace);
	free(first_trace);
	cr_assert_eq(ls_int(ls_process(rep), "pid"), pid);
	cr_assert(ls_bool(ls_process(rep), "complete"), "finished before the exec");
	json_t *f = ls_only_finding(rep, "slow-callback", "on_first_slow");
	cr_assert_eq(ls_int(f, "count"), 1);
	ls_assert_frame(f, "created_at", 0, "first", "reexec.c",
			ls_marker_line("reexec", "first_start"));
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1);
	json_decref(rep);

	rep = ls_report_json(second_trace);
	free(second_trace);
	cr_assert_eq(ls_int(ls_process(rep), "pid"), pid);
	cr_assert(ls_bool(ls_process(rep), "complete"), "the second image exited normally");
	f = ls_only_finding(rep, "slow-callback", "on_second_slow");
	cr_assert_eq(ls_int(f, "count"), 1);
	ls_assert_frame(f, "created_at", 0, "second", "reexec.c",
			ls_marker_line("reexec", "second_start"));
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1);
	json_decref(rep);

	/* `loopsan report DIR`: both images, one process each. */
	rep = ls_report_json(dir);
	json_t *procs = json_object_get(rep, "processes"), *p;
	size_t i;
	cr_assert_eq(json_array_size(procs), 2, "%s", json_dumps(procs, JSON_COMPACT));
	json_array_foreach(procs, i, p)
		cr_assert_eq(ls_int(p, "pid"), pid);
	cr_assert_eq(ls_count(rep, "slow-callback", "on_first_slow"), 1);
	cr_assert_eq(ls_count(rep, "slow-callback", "on_second_slow"), 1);
	json_decref(rep);
	free(second);
	free(bin);
}

/* ---- SIGKILL at points of a running loop ------------------------------------- */

/* Reads one byte from fd within timeout_ms; returns it, or -1. */
static int read_byte(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	return read(fd, &c, 1) == 1 ? c : -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Runs kill_target under the shim in dir, waits for its byte `mark` ('R':
 * the loop runs callbacks, 'S': the slow callback returned), sleeps ms and
 * SIGKILLs it. */
static void kill_at(const char *dir, char mark, long ms)
{
	char *bin = ls_fixture_bin("kill_target");
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	const char *env[] = {pre, NULL};
	const char *argv[] = {bin, NULL};
	int fds[2];

	cr_assert(pipe(fds) == 0);
	pid_t pid = ls_start(dir, env, argv, fds[1]);
	close(fds[1]);
	int c;
	while ((c = read_byte(fds[0], 10000)) != mark && c != -1)
		;
	if (c == mark)
		sleep_ms(ms);
	kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(fds[0]);
	cr_assert_eq(c, mark, "kill_target never said '%c'", mark);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "kill_target was not killed: status 0x%x", status);
	free(bin);
	free(shim);
	free(pre);
}

/* Kills kill_target at mark + ms (+ up to 20 ms at random) and checks its
 * trace; returns the report for more checks. */
static json_t *killed_trace(char mark, long ms)
{
	const char *dir = ls_tmpdir();
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	long jitter = (long)(now.tv_nsec / 1000 % 21);
	kill_at(dir, mark, ms + jitter);
	char *trace = ls_single_trace(dir);

	struct ls_run r;
	const char *text[] = {"report", trace, NULL};
	ls_run_viewer(&r, NULL, text);
	cr_assert_eq(ls_exit_code(&r), 0, "killed %ld ms after '%c': loopsan report:\n%s",
		     ms + jitter, mark, r.err);
	ls_run_free(&r);

	json_t *rep = ls_report_json(trace);
	cr_assert_not(ls_bool(ls_process(rep), "complete"),
		      "killed %ld ms after '%c': the trace must be incomplete", ms + jitter, mark);
	json_t *st = ls_stats_json(trace);
	cr_assert_not(ls_bool(json_array_get(json_object_get(st, "processes"), 0), "complete"));
	long long spins = stats_count(st, "on_spin", NULL, NULL);
	cr_assert_gt(spins, 0, "killed %ld ms after '%c': no on_spin counted", ms + jitter, mark);
	json_decref(st);
	free(trace);
	return rep;
}

Test(reliability, sigkill_while_spinning_before_the_slow_timer)
{
	json_t *rep = killed_trace('R', 50);
	json_decref(rep);
}

Test(reliability, sigkill_while_the_slow_callback_runs)
{
	/* The timer is due 100 ms after the loop starts and blocks 150 ms. */
	json_t *rep = killed_trace('R', 150);
	json_decref(rep);
}

Test(reliability, sigkill_after_the_slow_callback_keeps_its_finding)
{
	json_t *rep = killed_trace('S', 30);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow");
	cr_assert_eq(ls_int(f, "count"), 1);
	ls_assert_frame(f, "created_at", 0, "main", "kill_target.c",
			ls_marker_line("kill_target", "slow_start"));
	json_decref(rep);
}
