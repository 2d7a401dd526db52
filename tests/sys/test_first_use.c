/* The shim's first-use work does not move the program's clock: libuv
 * caches the loop's time in uv_loop_init, so the trace file and the
 * unwinder are made ready before the real uv_loop_init runs, not in the
 * first handle's init after it (where, 0.5 ms late, it made a 1 ms timer
 * of libuv's own tcp_close_while_connecting test due before its connect
 * failed). What it costs is measured in BENCHMARKS.md; here, the order. */
#include <stdint.h>
#include <sys/stat.h>

#include "tests/harness.h"

LS_SUITE(first_use);

Test(first_use, the_trace_is_open_before_libuv_reads_the_loop_clock)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();
	ls_run_fixture(&r, "first_use", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	char *trace = ls_single_trace(dir);
	struct stat st;
	cr_assert_eq(stat(trace, &st), 0, "%s", trace);
	char key[64];
	snprintf(key, sizeof(key), "%ju:%ju\n", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	cr_assert(strstr(r.out, key) != NULL,
		  "the trace %s (%s) is not open below the loop's epoll descriptor: "
		  "made ready after uv_loop_init read the clock; open files there:\n%s",
		  trace, key, r.out);
	free(trace);
	ls_run_free(&r);
}
