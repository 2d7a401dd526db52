/* async_pummel K M: K threads each call uv_async_send M times on one async
 * handle; the loop thread's callback counts. After each send a sender waits
 * (yielding) until the callback has run once more, so the loop wakes up for
 * nearly every send; sends of different threads still coalesce, so the
 * callback count varies from run to run (it is printed). Each sender
 * announces that it is done, then sends once more, so the loop sees the
 * last announcement, closes the handle and returns; the threads are joined. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <uv.h>
#include "common.h"

static unsigned long long k, m;
static atomic_ullong done, count;
static uv_async_t async;

static void on_async(uv_async_t *h)
{
	count++;
	if (atomic_load(&done) == k)
		uv_close((uv_handle_t *)h, NULL);
}

static void *sender(void *arg)
{
	(void)arg;
	for (unsigned long long i = 0; i < m; i++) {
		unsigned long long seen = atomic_load(&count);
		CHECK(uv_async_send(&async));
		while (atomic_load(&count) == seen)
			sched_yield();
	}
	atomic_fetch_add(&done, 1);
	CHECK(uv_async_send(&async));
	return NULL;
}

int main(int argc, char **argv)
{
	k = bench_arg(argc, argv, 1, 2);
	m = bench_arg(argc, argv, 2, 100000);
	uv_loop_t loop;
	CHECK(uv_loop_init(&loop));
	CHECK(uv_async_init(&loop, &async, on_async));
	pthread_t th[64];
	if (k > 64)
		k = 64;
	for (unsigned long long i = 0; i < k; i++)
		if (pthread_create(&th[i], NULL, sender, NULL) != 0)
			return 1;
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	for (unsigned long long i = 0; i < k; i++)
		pthread_join(th[i], NULL);
	CHECK(uv_loop_close(&loop));
	bench_result(atomic_load(&count));
	return 0;
}
