/* Recording modes and `loopsan stats`: the default summary mode counts
 * every callback in per-site slots whose size does not depend on run time;
 * mode=timeline also records each callback in 16 bytes. */
#include <sys/stat.h>

#include "tests/harness.h"

LS_SUITE(modes);

/* Runs `counter n [kill]` under the shim with options in a new dir and
 * returns the path of its trace. */
static char *count_to(long n, int kill_it, const char *options)
{
	const char *dir = ls_tmpdir();
	char *bin = ls_fixture_bin("counter");
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	free(shim);
	char *opt = ls_fmt("LOOPSAN_OPTIONS=%s", options ? options : "");
	char *num = ls_fmt("%ld", n);
	const char *env[] = {pre, opt, NULL};
	const char *argv[] = {bin, num, kill_it ? "kill" : NULL, NULL};
	struct ls_run r;

	ls_run(&r, dir, env, argv);
	if (kill_it)
		cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL,
			  "counter was to kill itself; status %d\n%s", r.status, r.err);
	else
		cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	free(bin);
	free(pre);
	free(opt);
	free(num);
	return ls_single_trace(dir);
}

static off_t size_of(const char *path)
{
	struct stat st;
	cr_assert(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	return st.st_size;
}

Test(modes, summary_trace_does_not_grow_with_callbacks)
{
	char *small = count_to(1000, 0, NULL);
	char *big = count_to(300000, 0, NULL);

	cr_assert_eq(size_of(small), size_of(big),
		     "1000 callbacks: %ld bytes, 300000 callbacks: %ld bytes",
		     (long)size_of(small), (long)size_of(big));
	free(small);
	free(big);
}

Test(modes, stats_count_every_callback_of_a_site)
{
	char *trace = count_to(300000, 0, NULL);
	json_t *doc = ls_stats_json(trace);
	json_t *s = ls_stats_site(doc, "on_idle");

	cr_assert_eq(ls_int(s, "count"), 300000);
	cr_assert_str_eq(ls_str(s, "api"), "uv_idle_start");
	cr_assert_eq(ls_int(s, "threads"), 1);
	cr_assert_geq(ls_num(s, "max_ms"), ls_num(s, "p99_ms"));
	cr_assert_geq(ls_num(s, "p99_ms"), ls_num(s, "p50_ms"));
	cr_assert_gt(ls_num(s, "total_ms"), 0.0);
	json_t *at = json_object_get(s, "registered_at");
	cr_assert_str_eq(ls_str(at, "function"), "start_counting");
	cr_assert_eq(ls_int(at, "line"), ls_marker_line("counter", "idle_start"));
	json_decref(doc);
	free(trace);
}

Test(modes, stats_after_sigkill_count_every_finished_callback)
{
	char *trace = count_to(50000, 1, NULL);
	json_t *doc = ls_stats_json(trace);

	cr_assert_eq(ls_int(ls_stats_site(doc, "on_idle"), "count"), 50000,
		     "the 50001st run was killed; 50000 finished");
	json_t *proc = json_array_get(json_object_get(doc, "processes"), 0);
	cr_assert_not(ls_bool(proc, "complete"), "a killed process leaves an incomplete trace");
	json_decref(doc);
	free(trace);
}

Test(modes, timeline_records_each_callback_in_16_bytes)
{
	char *small = count_to(20000, 0, "mode=timeline");
	char *big = count_to(300000, 0, "mode=timeline");
	double per = (double)(size_of(big) - size_of(small)) / 280000.0;

	cr_assert(per >= 15.5 && per <= 17.0, "%.2f bytes per callback", per);
	json_t *doc = ls_stats_json(big);
	cr_assert_eq(ls_int(ls_stats_site(doc, "on_idle"), "count"), 300000);
	json_decref(doc);
	free(small);
	free(big);
}

Test(modes, timeline_and_summary_report_the_same_findings)
{
	const char *modes[] = {"mode=summary", "mode=timeline"};
	size_t slow[2], open[2];

	for (int m = 0; m < 2; m++) {
		struct ls_run r;
		const char *dir = ls_tmpdir();
		ls_run_fixture(&r, "slow_timer", dir, modes[m]);
		cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
		ls_run_free(&r);
		char *trace = ls_single_trace(dir);
		json_t *rep = ls_report_json(trace);
		slow[m] = ls_count(rep, "slow-callback", NULL);
		open[m] = ls_count(rep, "pending-at-close", NULL);
		cr_assert_eq(ls_int(ls_only_finding(rep, "slow-callback", "on_tick"), "count"), 3,
			     "%s", modes[m]);
		json_decref(rep);
		free(trace);
	}
	cr_assert_eq(slow[0], slow[1]);
	cr_assert_eq(open[0], open[1]);
}

Test(modes, stats_text_lists_sites_by_total_time)
{
	char *trace = count_to(1000, 0, NULL);
	struct ls_run r;
	const char *args[] = {"stats", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.out, "1 callback site, 1000 callbacks"), "%s", r.out);
	cr_assert(strstr(r.out, "on_idle (uv_idle_start) start_counting counter.c:"), "%s", r.out);
	ls_run_free(&r);
	free(trace);
}

Test(modes, stats_rejects_an_unknown_format_in_one_line)
{
	char *trace = count_to(10, 0, NULL);
	struct ls_run r;
	const char *args[] = {"stats", "--format", "xml", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2);
	ls_assert_one_line(&r, "xml");
	ls_run_free(&r);
	free(trace);
}
