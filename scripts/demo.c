/* demo: a small libuv "server" with three real bugs for loopsan to find.
 *
 *   LD_PRELOAD=build/libloopsan.so build/demo && build/loopsan report loopsan.*.trace
 */
#include <stdio.h>
#include <unistd.h>
#include <uv.h>

static uv_timer_t ticker, stats_timer;
static uv_work_t job;

/* Bug 1: a timer callback that blocks the loop for 250 ms. */
static void on_tick(uv_timer_t *t)
{
	usleep(250 * 1000); /* "just a quick sync flush" */
	uv_close((uv_handle_t *)t, NULL);
}

static void resize_image(uv_work_t *req)
{
	(void)req;
	usleep(100 * 1000); /* fine: this runs on the thread pool */
}

/* Bug 2: the after-work callback redoes heavy work on the loop thread (~150 ms). */
static void on_resized(uv_work_t *req, int status)
{
	(void)req;
	(void)status;
	usleep(150 * 1000);
}

static void start_ticker(uv_loop_t *loop)
{
	uv_timer_init(loop, &ticker);
	uv_timer_start(&ticker, on_tick, 10, 0);
}

static void queue_resize(uv_loop_t *loop)
{
	uv_queue_work(loop, &job, resize_image, on_resized);
}

/* Bug 3: the stats timer is initialized but never closed, so uv_loop_close fails. */
static void init_stats(uv_loop_t *loop)
{
	uv_timer_init(loop, &stats_timer);
}

int main(void)
{
	uv_loop_t loop;

	uv_loop_init(&loop);
	start_ticker(&loop);
	queue_resize(&loop);
	init_stats(&loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(&loop);
	printf("demo: uv_loop_close returned %s\n", rc ? uv_err_name(rc) : "0");
	return 0;
}
