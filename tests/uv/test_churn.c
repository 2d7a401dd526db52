/* Hundreds of thousands of short-lived handles and requests: every callback
 * still runs, none is lost, and the shim's memory does not grow with their
 * number (the side table shrinks back as handles close). */
#include "tests/harness.h"

LS_SUITE(churn);

/* Runs `churn n` with or without the shim; returns its peak RSS in KiB and
 * checks its callback count. */
static long churn_mode(long n, bool preload, const char *dir, const char *mode)
{
	char *num = mode ? ls_fmt("%ld,%s", n, mode) : ls_fmt("%ld", n);
	struct ls_run r;
	long callbacks = -1, rss = -1;

	ls_run_fixture_arg(&r, "churn", dir, preload, NULL, num);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(sscanf(r.out, "callbacks=%ld maxrss_kb=%ld", &callbacks, &rss), 2, "%s", r.out);
	cr_assert_eq(callbacks, n * 2 + n / 10 * 2, "every callback ran (n=%ld)", n);
	ls_run_free(&r);
	free(num);
	return rss;
}

static long churn(long n, bool preload, const char *dir)
{
	return churn_mode(n, preload, dir, NULL);
}

Test(churn, shim_memory_does_not_grow_with_the_number_of_short_lived_handles)
{
	/* Under `make sanitize` the shim carries UBSan's runtime, whose own
	 * memory grows with the thread pool's work here: nothing to measure. */
	if (getenv("LOOPSAN_SANITIZED"))
		cr_skip_test("peak RSS is not the shim's own under UBSan's runtime");
	long small = churn(1000, true, ls_tmpdir());
	long big = churn(300000, true, ls_tmpdir());

	/* 300 000 entries that were never released would take 30 MB or more. */
	cr_assert_lt(big - small, 8 * 1024, "peak RSS %ld KiB for 1000 rounds, %ld KiB for 300000",
		     small, big);
}

Test(churn, shim_memory_does_not_grow_when_every_handle_has_a_new_address)
{
	if (getenv("LOOPSAN_SANITIZED"))
		cr_skip_test("peak RSS is not the shim's own under UBSan's runtime");
	/* Every handle and request at an address never used before: 360 000
	 * distinct keys come and go through the side table. Tombstones that
	 * piled up made it rebuild again and again, each time leaving the
	 * replaced array behind (70 MB here). */
	long small = churn_mode(1000, true, ls_tmpdir(), "fresh");
	long big = churn_mode(300000, true, ls_tmpdir(), "fresh");
	cr_assert_lt(big - small, 8 * 1024, "peak RSS %ld KiB for 1000 rounds, %ld KiB for 300000",
		     small, big);
}

Test(churn, every_short_lived_callback_is_counted)
{
	const char *dir = ls_tmpdir();
	churn(100000, true, dir);
	char *trace = ls_single_trace(dir);
	struct ls_run r;
	const char *args[] = {"stats", "--format", "json", trace, NULL};
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	json_error_t err;
	json_t *doc = json_loads(r.out, 0, &err);
	cr_assert(doc, "%s", err.text);
	json_t *s;
	size_t i;
	long timers = 0, closes = 0, works = 0, stats = 0;
	json_array_foreach(json_object_get(doc, "sites"), i, s) {
		const char *cb = ls_str(s, "callback");
		long count = (long)ls_int(s, "count");
		if (strcmp(cb, "on_timer") == 0)
			timers += count;
		else if (strcmp(cb, "on_closed") == 0)
			closes += count;
		else if (strcmp(cb, "after") == 0)
			works += count;
		else if (strcmp(cb, "on_stat") == 0)
			stats += count;
	}
	cr_assert_eq(timers, 100000);
	cr_assert_eq(closes, 100000);
	cr_assert_eq(works, 10000);
	cr_assert_eq(stats, 10000);
	json_decref(doc);
	ls_run_free(&r);
	free(trace);
}
