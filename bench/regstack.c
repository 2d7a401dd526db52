/* regstack N [sites]: the cost of registering a callback. Calls
 * uv_timer_start + uv_timer_stop on one timer N times without running the
 * loop. Default: all from one call site. With "sites": from 1000 distinct
 * call sites (1000 different return addresses), N/1000 times each. */
#include <string.h>
#include <uv.h>
#include "common.h"

static unsigned long long calls;

static void on_timer(uv_timer_t *t) { (void)t; }

#define REG                                                                    \
	do {                                                                   \
		CHECK(uv_timer_start(&t, on_timer, 1000000, 0));               \
		CHECK(uv_timer_stop(&t));                                      \
		calls++;                                                       \
	} while (0);
#define REG10 REG REG REG REG REG REG REG REG REG REG
#define REG100 REG10 REG10 REG10 REG10 REG10 REG10 REG10 REG10 REG10 REG10
#define REG1000 REG100 REG100 REG100 REG100 REG100 REG100 REG100 REG100 REG100 REG100

int main(int argc, char **argv)
{
	unsigned long long n = bench_arg(argc, argv, 1, 2000000);
	int sites = argc > 2 && strcmp(argv[2], "sites") == 0;
	uv_loop_t loop;
	uv_timer_t t;
	CHECK(uv_loop_init(&loop));
	CHECK(uv_timer_init(&loop, &t));
	if (sites) {
		for (unsigned long long i = 0; i < n / 1000; i++) {
			REG1000
		}
	} else {
		for (unsigned long long i = 0; i < n; i++) {
			REG
		}
	}
	uv_close((uv_handle_t *)&t, NULL);
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	CHECK(uv_loop_close(&loop));
	/* "callbacks" here are registrations (start+stop pairs). */
	bench_result(calls);
	return 0;
}
