/* timer0 N: a zero-delay timer re-armed from its own callback
 * (uv_timer_start(t, cb, 0, 0)) N times. Each iteration is one wrapped
 * callback plus one registration (uv_timer_start) on the same site. */
#include <uv.h>
#include "common.h"

static unsigned long long n, count;

static void on_timer(uv_timer_t *t)
{
	if (++count < n)
		CHECK(uv_timer_start(t, on_timer, 0, 0));
}

int main(int argc, char **argv)
{
	n = bench_arg(argc, argv, 1, 2000000);
	uv_loop_t loop;
	uv_timer_t t;
	CHECK(uv_loop_init(&loop));
	CHECK(uv_timer_init(&loop, &t));
	CHECK(uv_timer_start(&t, on_timer, 0, 0));
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	uv_close((uv_handle_t *)&t, NULL);
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	CHECK(uv_loop_close(&loop));
	bench_result(count);
	return count == n ? 0 : 1;
}
