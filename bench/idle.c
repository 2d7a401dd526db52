/* idle N [H]: H idle handles (default 1) whose callbacks count, together,
 * to N, then stop. One loop iteration runs H wrapped callbacks and one
 * epoll_wait(timeout 0): with H=100 the syscall is amortized and the row
 * shows the per-callback cost of the trampoline. Registered once each. */
#include <uv.h>
#include "common.h"

#define MAXH 1000

static unsigned long long n, nh, count;
static uv_idle_t h[MAXH];

static void on_idle(uv_idle_t *i)
{
	(void)i;
	if (++count >= n)
		for (unsigned long long j = 0; j < nh; j++)
			CHECK(uv_idle_stop(&h[j]));
}

int main(int argc, char **argv)
{
	n = bench_arg(argc, argv, 1, 5000000);
	nh = bench_arg(argc, argv, 2, 1);
	if (nh > MAXH)
		nh = MAXH;
	uv_loop_t loop;
	CHECK(uv_loop_init(&loop));
	for (unsigned long long i = 0; i < nh; i++) {
		CHECK(uv_idle_init(&loop, &h[i]));
		CHECK(uv_idle_start(&h[i], on_idle));
	}
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	for (unsigned long long i = 0; i < nh; i++)
		uv_close((uv_handle_t *)&h[i], NULL);
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	CHECK(uv_loop_close(&loop));
	bench_result(count);
	return count == n ? 0 : 1;
}
