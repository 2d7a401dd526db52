/* idle N: an idle callback counting to N, then stopping itself. One wrapped
 * callback per loop iteration, registered once. */
#include <uv.h>
#include "common.h"

static unsigned long long n, count;

static void on_idle(uv_idle_t *h)
{
	if (++count >= n)
		CHECK(uv_idle_stop(h));
}

int main(int argc, char **argv)
{
	n = bench_arg(argc, argv, 1, 5000000);
	uv_loop_t loop;
	uv_idle_t h;
	CHECK(uv_loop_init(&loop));
	CHECK(uv_idle_init(&loop, &h));
	CHECK(uv_idle_start(&h, on_idle));
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	uv_close((uv_handle_t *)&h, NULL);
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	CHECK(uv_loop_close(&loop));
	bench_result(count);
	return count == n ? 0 : 1;
}
